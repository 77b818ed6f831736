/*
 * wire_internal.h: constants and helpers shared by the codec's encoder (wire.c) and decoder
 * (wire_decode.c). Nothing outside bft/wire*.c includes this file.
 */
#ifndef BFT_WIRE_INTERNAL_H
#define BFT_WIRE_INTERNAL_H

#include "bft/wire.h"

/* The domain tag of envelope signatures (wire.h "Signatures"). */
#define WIRE_SIG_TAG "bft.env.v1"

/* Elements of the envelope array: version, type, sender, payload, signature. */
#define WIRE_ENVELOPE_FIELDS 5u

/* A REQUEST with an authenticator has this sixth element (docs/WIRE.md "Authenticators"). */
#define WIRE_ENVELOPE_FIELDS_AUTH 6u

/* The domain tag of authenticator MACs. */
#define WIRE_MAC_TAG "bft.mac.v1"

/* An upper bound on an authenticator's encoding, other than its MACs: fixarray 1, session 9,
 * bin header 5 = 15, rounded up. */
#define WIRE_AUTH_OVERHEAD 16u

/* The shortest envelope any type can have: a fixarray header, version, type and sender in one
 * byte each, an empty payload array, and the signature (bin8 header, length byte, 64 bytes).
 * Embedded envelopes shorter than this cannot be envelopes at all, and the bound is what keeps
 * the decoder's allocations proportional to the frame: each embedded envelope costs the frame at
 * least 73 bytes (with its own bin8 header) and the decoder at most 16 bytes of struct bft_bytes. */
#define WIRE_ENVELOPE_MIN (1u + 1u + 1u + 1u + 1u + 2u + CR_SIG_BYTES)

/* An upper bound on the bytes of a canonical REQUEST envelope other than its op: header 1,
 * version 1, type 1, sender 9, payload header 1, reqid 9, flags 5, timestamp 9, op header 5,
 * signature 66 = 107, rounded up. A request inside a PRE-PREPARE may be at most op_max plus this. */
#define WIRE_REQUEST_OVERHEAD 128u

/* An upper bound on a canonical CHECKPOINT (122 bytes at most) or PREPARE (131 bytes at most)
 * envelope, the only kinds that travel inside a VIEW-CHANGE's proof and certificates. */
#define WIRE_SMALL_ENVELOPE_MAX 160u

/** 1 if t is one of the Honey Badger message types (msg.h, numbered from 32), 0 otherwise. */
static inline int wire_type_hb(uint64_t t)
{
	return t >= BFT_MSG_HB_VAL && t <= BFT_MSG_HB_CHECK;
}

/** 1 if t is a message type this codec knows, 0 otherwise. */
static inline int wire_type_known(uint64_t t)
{
	return (t >= BFT_MSG_REQUEST && t <= BFT_MSG_SESSION) || wire_type_hb(t);
}

/**
 * The 32-byte value an envelope's Ed25519 signature signs: BLAKE2b-256 under the tag
 * WIRE_SIG_TAG of the signed part (the encodings of version, type, sender and payload).
 */
void wire_signed_digest(const uint8_t *signed_part, size_t len, uint8_t out[CR_DIGEST_BYTES]);

#endif
