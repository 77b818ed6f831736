/*
 * cr_hash: BLAKE2b-256 digests with domain separation.
 *
 * Every digest in the system is taken under a tag naming what is hashed ("bft.req", "merkle.leaf",
 * ...), so that bytes meant as one kind of object can never be passed off as another. The tag is
 * absorbed first, length-prefixed, so no tag is a prefix-collision of another.
 */
#ifndef CR_HASH_H
#define CR_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

#define CR_DIGEST_BYTES 32u

struct cr_hash {
	crypto_generichash_blake2b_state st;
};

/** Starts a tagged digest. tag is a NUL-terminated ASCII name of at most 255 bytes. */
void cr_hash_init(struct cr_hash *h, const char *tag);
void cr_hash_update(struct cr_hash *h, const void *data, size_t len);
/** Appends v as 8 little-endian bytes (for lengths and integers inside digests). */
void cr_hash_update_u64(struct cr_hash *h, uint64_t v);
void cr_hash_final(struct cr_hash *h, uint8_t out[CR_DIGEST_BYTES]);

/** One-shot: out = BLAKE2b-256(len(tag) || tag || data). */
void cr_digest(uint8_t out[CR_DIGEST_BYTES], const char *tag, const void *data, size_t len);

/** Constant-time equality of two digests (or any equal-length byte strings): 1 if equal. */
int cr_equal(const void *a, const void *b, size_t len);

#endif
