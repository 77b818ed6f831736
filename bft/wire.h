/*
 * wire: the strict, bounded codec for message envelopes (msg.h describes every payload).
 *
 * Encoding uses msgpack-c's packer, which always writes the shortest form of each value; that is
 * the canonical encoding. Decoding uses our own cursor reader rather than msgpack-c's unpacker:
 * the unpacker allocates an array's storage from the count in its header before reading any
 * element, so a ten-byte frame could ask for gigabytes. Our reader rejects a count that the
 * remaining bytes cannot hold, every length over a configured limit, every non-shortest encoding,
 * and trailing bytes, each with its own error code; it never allocates more than the limits allow.
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

/** Fills *l with the defaults for a cluster of n replicas and nclients clients. */
void wire_limits_default(struct wire_limits *l, uint32_t n, uint64_t nclients);

/** A growable output buffer owned by the caller; wire_buf_free releases it. */
struct wire_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};
void wire_buf_free(struct wire_buf *b);

/**
 * Decodes one envelope from buf[0..len).
 * On BFT_OK *out is filled; its byte fields borrow from buf (which must outlive it) and its
 * arrays must be released with wire_msg_free(). On any error *out is left zeroed and nothing
 * needs freeing. The signature is NOT checked here (see wire_verify). Checks sender ranges:
 * REQUEST senders against l->n_clients, every other type against l->n_replicas.
 */
enum bft_err wire_decode(const struct wire_limits *l, const uint8_t *buf, size_t len,
			 struct bft_msg *out) BFT_WUR;

/** Releases the arrays a successful wire_decode allocated; safe on a zeroed message. */
void wire_msg_free(struct bft_msg *m);

/**
 * Encodes m (version, type, sender and the payload for type) as an envelope appended to out
 * (out->len grows). With id non-NULL the envelope is signed with id and m->sig is ignored;
 * with id NULL m->sig is written as it is (Byzantine modes and tests use this).
 * Errors: BFT_EINVAL for an unknown type, BFT_ENOMEM.
 */
enum bft_err wire_encode(const struct bft_msg *m, const struct cr_identity *id,
			 struct wire_buf *out) BFT_WUR;

/** Checks m's signature under pk: BFT_OK or BFT_EBADSIG. */
enum bft_err wire_verify(const struct bft_msg *m, const uint8_t pk[CR_PK_BYTES]) BFT_WUR;

/** The digest identifying a request: BLAKE2b-256 under tag "bft.req" of its whole envelope. */
void bft_request_digest(const struct bft_bytes *envelope, uint8_t out[CR_DIGEST_BYTES]);

/** The digest of a batch (PRE-PREPARE digest): tag "bft.batch", time_ms, the count, then each
 *  request's digest in order. The null request (count 0) has a digest like any other batch. */
void bft_batch_digest(uint64_t time_ms, const struct bft_bytes *requests, uint32_t n,
		      uint8_t out[CR_DIGEST_BYTES]);

#endif
