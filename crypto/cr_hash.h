/*
 * cr_hash: BLAKE2b-256 digests with domain separation.
 *
 * Every digest in the system is taken under a tag naming what is hashed ("bft.req", "merkle.leaf",
 * ...), so that bytes meant as one kind of object can never be passed off as another. The tag is
 * absorbed first, length-prefixed, so no tag is a prefix-collision of another.
 *
 * Nothing here needs cr_init(): BLAKE2b works before libsodium is initialised (it then uses the
 * portable implementation; the digests are identical).
 */
#ifndef CR_HASH_H
#define CR_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

#ifndef CR_WUR
#define CR_WUR __attribute__((warn_unused_result))
#endif

#define CR_DIGEST_BYTES 32u
#define CR_TAG_MAX      255u /* longest tag, in bytes, not counting the NUL */

/** A borrowed byte string (crypto/ cannot use bft_bytes: arrows point bft -> crypto). */
struct cr_bytes_view {
	const void *p; /* may be NULL only when len == 0 */
	size_t len;
};

/* libsodium declares the BLAKE2b state 64-byte aligned: a struct cr_hash on the stack or in a
 * static is fine; one inside a heap object needs aligned_alloc(64, ...). */
struct cr_hash {
	crypto_generichash_blake2b_state st;
};

/** Starts a tagged digest in *h (caller-owned, no cleanup needed). tag is a NUL-terminated ASCII
 *  name of at most CR_TAG_MAX bytes; a longer tag is a programming error and aborts through
 *  sodium_misuse() rather than being silently truncated into a collision with another tag. */
void cr_hash_init(struct cr_hash *h, const char *tag);

/** Absorbs data[0..len) (data may be NULL when len is 0). */
void cr_hash_update(struct cr_hash *h, const void *data, size_t len);

/** Appends v as 8 little-endian bytes (for lengths and integers inside digests). */
void cr_hash_update_u64(struct cr_hash *h, uint64_t v);

/** Writes the 32-byte digest to out and wipes the state; *h must be re-initialised before reuse. */
void cr_hash_final(struct cr_hash *h, uint8_t out[CR_DIGEST_BYTES]);

/** One-shot: out = BLAKE2b-256(len(tag) || tag || data), len(tag) as one byte. */
void cr_digest(uint8_t out[CR_DIGEST_BYTES], const char *tag, const void *data, size_t len);

/** Constant-time equality of two equal-length byte strings (digests, MACs, keys): 1 if equal,
 *  0 if not. The time taken depends on len only, never on the contents. len 0 compares equal. */
int cr_equal(const void *a, const void *b, size_t len) CR_WUR;

#endif
