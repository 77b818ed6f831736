/*
 * wire: the strict, bounded codec for message envelopes (msg.h describes every payload).
 *
 * Encoding uses msgpack-c's packer, which always writes the shortest form of each value; that is
 * the canonical encoding. Decoding uses our own cursor reader rather than msgpack-c's unpacker:
 * the unpacker allocates an array's storage from the count in its header before reading any
 * element, so a ten-byte frame could ask for gigabytes. Our reader rejects a count that the
 * remaining bytes cannot hold, every length over a configured limit, every non-shortest encoding,
 * and trailing bytes, each with its own error code; it never allocates more than the limits allow.
 *
 * Signatures. The Ed25519 signature of an envelope signs the 32-byte digest
 *     cr_digest("bft.env.v1", signed_part) = BLAKE2b-256(0x0a || "bft.env.v1" || signed_part)
 * where signed_part is the encodings of version, type, sender and payload exactly as they stand
 * in the frame (everything after the one-byte envelope array header, up to the signature field).
 * Signing the digest rather than tag || signed_part lets wire_verify work on the frame in place,
 * without copying a frame of up to frame_max bytes to put the tag in front of it; the digest is
 * collision resistant at the same 128-bit level as Ed25519 itself.
 *
 * Errors from wire_decode, the first problem in wire order deciding (docs/WIRE.md has the table):
 *   BFT_ETOOBIG     the frame is over frame_max; a length or count over its limit
 *   BFT_EMALFORMED  truncation (a value, a length or a count the rest of the frame cannot hold);
 *                   the reserved byte 0xc1
 *   BFT_EVERSION    version is not BFT_WIRE_VERSION
 *   BFT_ETYPE       type is not one of msg.h's
 *   BFT_EARITY      the envelope, a payload, a certificate or an o entry of the wrong size
 *   BFT_EFIELD      a value of the wrong msgpack family (str for bin, nil, a negative integer, ...);
 *                   a uint over the range of its field (> UINT32_MAX for a 32-bit field); a digest
 *                   or Merkle node that is not exactly 32 bytes, a signature not exactly 64;
 *                   request flags outside BFT_REQ_FLAGS_ALL; a FETCH kind other than 0 or 1; an
 *                   embedded envelope shorter than the emptiest possible envelope; a Honey Badger
 *                   proposer, index or instance >= n_replicas, an ABA value outside its set, an
 *                   empty RBC shard, a share not exactly BFT_HB_SHARE_BYTES
 *   BFT_ESENDER     a REQUEST sender >= n_clients, any other sender >= n_replicas
 *   BFT_ENONCANON   an integer, bin or array header not in its shortest form; a non-negative
 *                   integer in a signed family
 *   BFT_ETRAILING   bytes after the signature
 *   BFT_ENOMEM      an allocation failed
 * Embedded envelopes are bounded, not decoded: a request in a PRE-PREPARE is at most op_max + 128
 * bytes, a CHECKPOINT or PREPARE in a VIEW-CHANGE at most 160, every one at least 71.
 */
#ifndef BFT_WIRE_H
#define BFT_WIRE_H

#include "bft/msg.h"

struct wire_limits {
	uint32_t frame_max;   /* bytes in one envelope */
	uint32_t batch_max;   /* requests in one PRE-PREPARE */
	uint32_t op_max;      /* bytes of a request's op */
	uint32_t result_max;  /* bytes of a reply's result */
	uint32_t list_max;    /* entries in a proof, certificate list, NEW-VIEW list or branch */
	uint32_t chunk_max;   /* bytes of one state-transfer chunk */
	uint32_t n_replicas;  /* replica senders are 0..n_replicas-1 */
	uint64_t n_clients;   /* client senders are 0..n_clients-1 */
};

/** Fills *l with the defaults for a cluster of n replicas and nclients clients: frame_max 16 MiB,
 *  batch_max 1024, op_max and result_max 64 KiB + 256, list_max 4096, chunk_max 1 MiB. */
void wire_limits_default(struct wire_limits *l, uint32_t n, uint64_t nclients);

/** A growable output buffer owned by the caller; wire_buf_free releases it. */
struct wire_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};
void wire_buf_free(struct wire_buf *b);
/** Appends len bytes to *b, growing it (amortised O(1)). BFT_OK or BFT_ENOMEM (b unchanged). */
enum bft_err wire_buf_append(struct wire_buf *b, const void *data, size_t len) BFT_WUR;

/**
 * Decodes one envelope from buf[0..len).
 * On BFT_OK *out is filled; its byte fields borrow from buf (which must outlive it) and its
 * arrays must be released with wire_msg_free(). On any error *out is left zeroed and nothing
 * needs freeing. The signature is NOT checked here (see wire_verify). Checks sender ranges:
 * REQUEST senders against l->n_clients, every other type against l->n_replicas.
 */
enum bft_err wire_decode(const struct wire_limits *l, const uint8_t *buf, size_t len,
			 struct bft_msg *out) BFT_WUR;

/** Releases the arrays a successful wire_decode allocated and zeroes *m; safe on a zeroed
 *  message. Only for messages wire_decode filled: it frees the arrays it finds. */
void wire_msg_free(struct bft_msg *m);

/**
 * Encodes m (version, type, sender and the payload for type) as an envelope appended to out
 * (out->len grows). With id non-NULL the envelope is signed with id and m->sig is ignored;
 * with id NULL m->sig is written as it is (Byzantine modes and tests use this).
 * Errors: BFT_EINVAL for an unknown type, BFT_ENOMEM.
 */
enum bft_err wire_encode(const struct bft_msg *m, const struct cr_identity *id,
			 struct wire_buf *out) BFT_WUR;

/**
 * Encodes m with an authenticator made here, over the digest its signature signs, with the
 * session keys keys[0..nkeys) (32 bytes each, borrowed; keep them in cr_secret memory).
 * m->has_auth must be set and m->auth_session names the session; m->auth_macs is ignored.
 *   REQUEST: signed with id (required) and given the sixth element [session, macs] with one
 *            MAC per key, keys[i] being replica i's (nkeys = n_replicas);
 *   REPLY:   the MAC form, [session, mac] in place of the signature (id NULL, nkeys 1).
 * Errors: BFT_EINVAL for any other type or a missing argument, BFT_ENOMEM.
 */
enum bft_err wire_encode_auth(const struct bft_msg *m, const struct cr_identity *id,
			      const uint8_t *keys, uint32_t nkeys, struct wire_buf *out) BFT_WUR;

/** The 32-byte digest a decoded message's signature and MACs cover (cr_digest("bft.env.v1",
 *  signed_part)). */
void wire_msg_digest(const struct bft_msg *m, uint8_t out[CR_DIGEST_BYTES]);

/** One authenticator MAC: BLAKE2b-128 under key of (len-prefixed "bft.mac.v1", session as u64
 *  LE, digest). */
void wire_mac(uint8_t out[BFT_MAC_BYTES], const uint8_t key[BFT_SESSION_KEY_BYTES],
	      uint64_t session, const uint8_t digest[CR_DIGEST_BYTES]);
/** 0 when mac is wire_mac(key, session, digest), compared in constant time; -1 otherwise. */
int wire_mac_check(const uint8_t mac[BFT_MAC_BYTES], const uint8_t key[BFT_SESSION_KEY_BYTES],
		   uint64_t session, const uint8_t digest[CR_DIGEST_BYTES]) BFT_WUR;

/** The longest REQUEST envelope these limits allow: op_max plus the fixed overhead and a full
 *  authenticator (n_replicas MACs). Bounds a request inside a PRE-PREPARE or a proposal. */
uint32_t wire_request_max(const struct wire_limits *l);

/** Checks m's signature under pk: BFT_OK or BFT_EBADSIG (also for a REPLY in MAC form). */
enum bft_err wire_verify(const struct bft_msg *m, const uint8_t pk[CR_PK_BYTES]) BFT_WUR;

/** The digest identifying a request: BLAKE2b-256 under tag "bft.req" of its whole envelope. */
void bft_request_digest(const struct bft_bytes *envelope, uint8_t out[CR_DIGEST_BYTES]);

/** The digest of a batch (PRE-PREPARE digest): tag "bft.batch", time_ms, the count, then each
 *  request's digest in order. The null request (count 0) has a digest like any other batch. */
void bft_batch_digest(uint64_t time_ms, const struct bft_bytes *requests, uint32_t n,
		      uint8_t out[CR_DIGEST_BYTES]);

#endif
