/*
 * cr_group: the ristretto255 prime-order group (libsodium crypto_core_ristretto255_*), as used by
 * the threshold schemes (cr_dleq, cr_coin, cr_tdh2).
 *
 * Notation: g is the standard generator, l = 2^252 + 27742317777372353535851937790883648493 its
 * order. Points and scalars travel as 32-byte canonical encodings. Group operations are written
 * multiplicatively in comments (g^x) to match the papers; the code calls libsodium's additive
 * names (scalarmult, add).
 *
 * What libsodium 1.0.18 does not check for us, and this module does:
 *  - A received scalar must be canonical (< l). crypto_scalarmult_ristretto255 silently masks
 *    the top bit and reduces nothing, so two encodings could otherwise denote one scalar (a
 *    malleable proof) or a scalar >= l could slip through. cr_scalar_check() compares with l.
 *  - A received point must be canonical: libsodium 1.0.18 ignores bit 255 of an encoding, so
 *    every point would otherwise have two encodings. cr_point_check() rejects bit 255 set.
 *  - A received point must not be the identity. crypto_core_ristretto255_is_valid_point accepts
 *    the identity encoding (32 zero bytes), and crypto_scalarmult_ristretto255 returns -1 when
 *    its result is the identity, so an identity verification key or share would make honest
 *    parties fail on it. cr_point_check() rejects it up front.
 *
 * Everything here is pure computation: no randomness, no I/O, no global mutable state. None of it
 * needs cr_init() (ristretto255 and BLAKE2b work before libsodium is initialised).
 */
#ifndef CR_GROUP_H
#define CR_GROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

#ifndef CR_WUR
#define CR_WUR __attribute__((warn_unused_result))
#endif

#define CR_SCALAR_BYTES 32u
#define CR_POINT_BYTES  32u
#define CR_HASH64_BYTES 64u /* BLAKE2b-512 output, the input of reduce / from_hash */

/* Threshold share indices are 1-based (share i is p(i); p(0) is the secret) and a set of them
 * is a 64-bit mask (bit i-1 for index i), so at most 64 parties. */
#define CR_GROUP_N_MAX 64u

/** The canonical encoding of the standard generator g (libsodium's ristretto255 base point). */
extern const uint8_t cr_group_g[CR_POINT_BYTES];

/** The second generator gbar (TDH2's \bar{g}): the hash to the group of the empty string under
 *  the tag "cr.group.gbar" (cr_point_hash), so nobody knows log_g(gbar). The constant is checked
 *  against that derivation by the unit tests. */
extern const uint8_t cr_group_gbar[CR_POINT_BYTES];

/* ---------------------------------------------------------------------------------------------
 * Hashing into the group: BLAKE2b-512 over (len(tag) as one byte || tag || data...), then
 * crypto_core_ristretto255_scalar_reduce (to a scalar, bias ~2^-259) or
 * crypto_core_ristretto255_from_hash (to a point: RFC 9496's one-way map, two Elligator
 * evaluations added).
 * Tags are NUL-terminated constants of at most 255 bytes; a longer one is a programming error
 * and aborts through sodium_misuse(). */

struct cr_group_hash {
	crypto_generichash_blake2b_state st;
};

/** Starts a tagged BLAKE2b-512 in *h (caller-owned; on the stack, or 64-byte aligned). */
void cr_group_hash_init(struct cr_group_hash *h, const char *tag);
/** Absorbs data[0..len) (data may be NULL when len is 0). */
void cr_group_hash_update(struct cr_group_hash *h, const void *data, size_t len);
/** Absorbs v as 8 little-endian bytes (lengths, indices). */
void cr_group_hash_update_u64(struct cr_group_hash *h, uint64_t v);
/** Finishes into a canonical scalar (possibly zero, with probability 2^-252) and wipes *h. */
void cr_group_hash_to_scalar(struct cr_group_hash *h, uint8_t s[CR_SCALAR_BYTES]);
/** Finishes into a valid point (the identity only with negligible probability) and wipes *h. */
void cr_group_hash_to_point(struct cr_group_hash *h, uint8_t p[CR_POINT_BYTES]);
/** Finishes into the raw 64-byte BLAKE2b-512 digest (key derivation) and wipes *h. For 32-byte
 *  digests use cr_hash (BLAKE2b-256, a different function, not a prefix of this one). */
void cr_group_hash_to_wide(struct cr_group_hash *h, uint8_t out[CR_HASH64_BYTES]);

/** One-shot hash of data[0..len) to a scalar under tag. */
void cr_scalar_hash(uint8_t s[CR_SCALAR_BYTES], const char *tag, const void *data, size_t len);
/** One-shot hash of data[0..len) to a point under tag. */
void cr_point_hash(uint8_t p[CR_POINT_BYTES], const char *tag, const void *data, size_t len);

/* ---------------------------------------------------------------------------------------------
 * Checks on received encodings. */

/** 0 when s is a canonical scalar (s < l as a 256-bit little-endian integer; zero allowed),
 *  -1 otherwise (s >= l, including any value with bit 255 set). Constant time. */
int cr_scalar_check(const uint8_t s[CR_SCALAR_BYTES]) CR_WUR;

/** 0 when s is canonical and not zero, -1 otherwise. Constant time. */
int cr_scalar_check_nonzero(const uint8_t s[CR_SCALAR_BYTES]) CR_WUR;

/** 0 when p is the canonical encoding of a ristretto255 point other than the identity,
 *  -1 otherwise (invalid or non-canonical encoding, bit 255 set, or the identity). */
int cr_point_check(const uint8_t p[CR_POINT_BYTES]) CR_WUR;

/* ---------------------------------------------------------------------------------------------
 * Group operations that fail closed. Each returns 0, or -1 (and writes zeros to the output)
 * when an input point is invalid or the result is the identity; for honest inputs the latter
 * happens only with negligible probability (a scalar that is 0 mod l). Outputs may alias
 * inputs. */

/** q = p^s (s is taken mod 2^255 by libsodium: pass canonical scalars). p equal to cr_group_g
 *  takes libsodium's faster fixed-base path. */
int cr_point_mul(uint8_t q[CR_POINT_BYTES], const uint8_t s[CR_SCALAR_BYTES],
		 const uint8_t p[CR_POINT_BYTES]) CR_WUR;
/** q = g^s, using libsodium's fixed-base table. */
int cr_point_mul_base(uint8_t q[CR_POINT_BYTES], const uint8_t s[CR_SCALAR_BYTES]) CR_WUR;
/** r = p * q (point addition). */
int cr_point_add(uint8_t r[CR_POINT_BYTES], const uint8_t p[CR_POINT_BYTES],
		 const uint8_t q[CR_POINT_BYTES]) CR_WUR;
/** r = p / q (point subtraction). */
int cr_point_sub(uint8_t r[CR_POINT_BYTES], const uint8_t p[CR_POINT_BYTES],
		 const uint8_t q[CR_POINT_BYTES]) CR_WUR;
/** r = a^s * b^t, the two-base product every verification equation here uses. */
int cr_point_mul2(uint8_t r[CR_POINT_BYTES], const uint8_t s[CR_SCALAR_BYTES],
		  const uint8_t a[CR_POINT_BYTES], const uint8_t t[CR_SCALAR_BYTES],
		  const uint8_t b[CR_POINT_BYTES]) CR_WUR;

/** r = prod_{i < count} p[i]^{s[i]} (a multi-exponentiation, done term by term). The partial
 *  products may pass through the identity; only the final result must not be it. 0, or -1 (and
 *  zeros in r) when count is 0, a point is invalid or the identity, a term or the result is the
 *  identity. */
int cr_point_msm(uint8_t r[CR_POINT_BYTES], const uint8_t *const *s, const uint8_t *const *p,
		 size_t count) CR_WUR;

/** s = v as a scalar (v < l always holds for a uint64_t). */
void cr_scalar_from_u64(uint8_t s[CR_SCALAR_BYTES], uint64_t v);

/* ---------------------------------------------------------------------------------------------
 * Lagrange coefficients at 0 (Shamir reconstruction in the exponent).
 *
 * For a set S of 1-based indices, lambda_j = prod_{m in S, m != j} m / (m - j) mod l, so that
 * p(0) = sum_{j in S} lambda_j p(j) for every polynomial p of degree < |S|. A set is a mask with
 * bit j-1 set for index j. Computing a set costs one scalar inversion (~32 us, shared by all
 * members through Montgomery's batch-inversion trick) and about 4|S| multiplications; the cache
 * keeps the last few sets, since a replica combines with the same f+1 senders again and again. */

struct cr_lagrange_set {
	uint64_t mask;                                     /* 0 when the slot is empty */
	uint8_t coef[CR_GROUP_N_MAX][CR_SCALAR_BYTES];     /* coef[j-1] = lambda_j for j in mask */
};

#define CR_LAGRANGE_CACHE_SLOTS 8u

/** A small cache of coefficient sets, owned by the caller (about 16 KiB; embed it in the engine
 *  or keep it on the heap). Not thread-safe: one cache per thread. */
struct cr_lagrange_cache {
	struct cr_lagrange_set slot[CR_LAGRANGE_CACHE_SLOTS];
	uint32_t next; /* round-robin replacement cursor */
	uint64_t hits, misses;
};

/** Empties *c. */
void cr_lagrange_cache_init(struct cr_lagrange_cache *c);

/** Computes lambda_j(0) for every j in mask into *out. 0, or -1 (and *out zeroed) when mask is
 *  0. */
int cr_lagrange_compute(struct cr_lagrange_set *out, uint64_t mask) CR_WUR;

/** Returns in *out a pointer to the coefficient set of mask, owned by the cache and valid until
 *  the next call on c, computing it on a miss. 0, or -1 (and *out untouched) when mask is 0. */
int cr_lagrange_lookup(struct cr_lagrange_cache *c, uint64_t mask,
		       const struct cr_lagrange_set **out) CR_WUR;

#endif
