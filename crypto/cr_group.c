/*
 * cr_group: ristretto255 helpers for the threshold schemes. See cr_group.h for the contract.
 *
 * References: ristretto255 is specified in RFC 9496; libsodium 1.0.18 implements it as
 * crypto_core_ristretto255_* and crypto_scalarmult_ristretto255*.
 */
#include "crypto/cr_group.h"

#include <string.h>

/* The ristretto255 base point, as crypto_scalarmult_ristretto255_base(1) encodes it
 * (RFC 9496 §4.4, "the generator"). */
const uint8_t cr_group_g[CR_POINT_BYTES] = {
	0xe2, 0xf2, 0xae, 0x0a, 0x6a, 0xbc, 0x4e, 0x71,
	0xa8, 0x84, 0xa9, 0x61, 0xc5, 0x00, 0x51, 0x5f,
	0x58, 0xe3, 0x0b, 0x6a, 0xa5, 0x82, 0xdd, 0x8d,
	0xb6, 0xa6, 0x59, 0x45, 0xe0, 0x8d, 0x2d, 0x76,
};

/* gbar = cr_point_hash("cr.group.gbar", "", 0). TDH2 (Shoup-Gennaro 1998, §4) needs a second
 * generator whose discrete logarithm to g is unknown to everyone, including the dealer; deriving
 * it by hashing a fixed string makes that checkable (test_cr_group recomputes it). It is kept
 * as a constant so that the hot paths need no lazy, lock-protected initialisation. */
const uint8_t cr_group_gbar[CR_POINT_BYTES] = {
	0x00, 0x18, 0x50, 0x25, 0xc5, 0x8f, 0x71, 0x81,
	0xc9, 0xa6, 0x13, 0x77, 0x1c, 0xb2, 0x58, 0x06,
	0x14, 0x04, 0xbf, 0x64, 0x49, 0xf1, 0x59, 0x22,
	0xce, 0x9c, 0xa0, 0x06, 0xbf, 0xf1, 0x61, 0x40,
};

/* The group order l = 2^252 + 27742317777372353535851937790883648493, little-endian. */
static const uint8_t group_order[CR_SCALAR_BYTES] = {
	0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
	0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

/* ------------------------------------------------------------------------------------------- */

void cr_group_hash_init(struct cr_group_hash *h, const char *tag)
{
	size_t n = strlen(tag);
	uint8_t len8;

	/* Same framing as cr_hash (one length byte, then the tag) so that no tag is a prefix of
	 * another; truncating a long tag would merge two domains, so it is refused. */
	if (n > 255)
		sodium_misuse();
	len8 = (uint8_t)n;
	crypto_generichash_blake2b_init(&h->st, NULL, 0, CR_HASH64_BYTES);
	crypto_generichash_blake2b_update(&h->st, &len8, 1);
	crypto_generichash_blake2b_update(&h->st, (const unsigned char *)tag, len8);
}

void cr_group_hash_update(struct cr_group_hash *h, const void *data, size_t len)
{
	if (len > 0)
		crypto_generichash_blake2b_update(&h->st, data, len);
}

void cr_group_hash_update_u64(struct cr_group_hash *h, uint64_t v)
{
	uint8_t b[8];

	for (unsigned i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	crypto_generichash_blake2b_update(&h->st, b, sizeof(b));
}

void cr_group_hash_to_scalar(struct cr_group_hash *h, uint8_t s[CR_SCALAR_BYTES])
{
	uint8_t wide[CR_HASH64_BYTES];

	/* Reducing 512 uniform bits mod l leaves a statistical distance of about 2^-260 from
	 * uniform, which is what the Fiat-Shamir and key-derivation uses below assume. */
	crypto_generichash_blake2b_final(&h->st, wide, sizeof(wide));
	crypto_core_ristretto255_scalar_reduce(s, wide);
	sodium_memzero(wide, sizeof(wide));
	sodium_memzero(h, sizeof(*h));
}

void cr_group_hash_to_point(struct cr_group_hash *h, uint8_t p[CR_POINT_BYTES])
{
	uint8_t wide[CR_HASH64_BYTES];

	/* from_hash applies the Elligator map to each 32-byte half and adds the results, which
	 * makes the output indistinguishable from a uniform point (RFC 9496, one-way map); the
	 * discrete logarithm of the result is then unknown to anyone (random-oracle model). */
	crypto_generichash_blake2b_final(&h->st, wide, sizeof(wide));
	crypto_core_ristretto255_from_hash(p, wide);
	sodium_memzero(wide, sizeof(wide));
	sodium_memzero(h, sizeof(*h));
}

void cr_group_hash_to_wide(struct cr_group_hash *h, uint8_t out[CR_HASH64_BYTES])
{
	crypto_generichash_blake2b_final(&h->st, out, CR_HASH64_BYTES);
	sodium_memzero(h, sizeof(*h));
}

void cr_scalar_hash(uint8_t s[CR_SCALAR_BYTES], const char *tag, const void *data, size_t len)
{
	struct cr_group_hash h;

	cr_group_hash_init(&h, tag);
	cr_group_hash_update(&h, data, len);
	cr_group_hash_to_scalar(&h, s);
}

void cr_point_hash(uint8_t p[CR_POINT_BYTES], const char *tag, const void *data, size_t len)
{
	struct cr_group_hash h;

	cr_group_hash_init(&h, tag);
	cr_group_hash_update(&h, data, len);
	cr_group_hash_to_point(&h, p);
}

/* ------------------------------------------------------------------------------------------- */

int cr_scalar_check(const uint8_t s[CR_SCALAR_BYTES])
{
	/* Constant-time s < l: walk from the most significant byte down, remembering whether all
	 * bytes so far were equal (eq) and whether a byte of s was found below l's while they
	 * were (lt). (x - y) >> 8 is 0xff...f when x < y for bytes widened to unsigned. */
	unsigned lt = 0;
	unsigned eq = 1;

	for (int i = CR_SCALAR_BYTES - 1; i >= 0; i--) {
		unsigned a = s[i];
		unsigned b = group_order[i];

		lt |= ((a - b) >> 8) & eq;
		eq &= ((a ^ b) - 1) >> 8;
	}
	return (lt & 1) ? 0 : -1;
}

int cr_scalar_check_nonzero(const uint8_t s[CR_SCALAR_BYTES])
{
	int canon = cr_scalar_check(s);
	int zero = sodium_is_zero(s, CR_SCALAR_BYTES);

	return ((canon == 0) & (zero == 0)) ? 0 : -1;
}

int cr_point_check(const uint8_t p[CR_POINT_BYTES])
{
	/* RFC 9496 §4.3.1 decoding rejects any encoding that is not a canonical, non-negative
	 * field element. libsodium 1.0.18's is_valid_point checks that on the low 255 bits only
	 * and ignores bit 255 (as the field decoding does), so g with its top bit set would pass as
	 * a second encoding of g: refuse it here. It also accepts the identity, which is all zeros
	 * in its unique canonical encoding. */
	if ((p[CR_POINT_BYTES - 1] & 0x80) != 0)
		return -1;
	if (crypto_core_ristretto255_is_valid_point(p) != 1)
		return -1;
	if (sodium_is_zero(p, CR_POINT_BYTES))
		return -1;
	return 0;
}

/* ------------------------------------------------------------------------------------------- */

int cr_point_mul(uint8_t q[CR_POINT_BYTES], const uint8_t s[CR_SCALAR_BYTES],
		 const uint8_t p[CR_POINT_BYTES])
{
	uint8_t t[CR_POINT_BYTES];

	/* The fixed-base table makes g^s several times faster than a variable-base
	 * multiplication, and g is the first base of every equation in the papers we implement. */
	if (memcmp(p, cr_group_g, CR_POINT_BYTES) == 0)
		return cr_point_mul_base(q, s);
	/* libsodium returns -1 both for an undecodable p and for an identity result; in both
	 * cases nothing useful can follow, so the output is zeroed. */
	if (crypto_scalarmult_ristretto255(t, s, p) != 0) {
		memset(q, 0, CR_POINT_BYTES);
		return -1;
	}
	memcpy(q, t, CR_POINT_BYTES);
	return 0;
}

int cr_point_mul_base(uint8_t q[CR_POINT_BYTES], const uint8_t s[CR_SCALAR_BYTES])
{
	uint8_t t[CR_POINT_BYTES];

	if (crypto_scalarmult_ristretto255_base(t, s) != 0) {
		memset(q, 0, CR_POINT_BYTES);
		return -1;
	}
	memcpy(q, t, CR_POINT_BYTES);
	return 0;
}

int cr_point_add(uint8_t r[CR_POINT_BYTES], const uint8_t p[CR_POINT_BYTES],
		 const uint8_t q[CR_POINT_BYTES])
{
	uint8_t t[CR_POINT_BYTES];

	if (crypto_core_ristretto255_add(t, p, q) != 0 || sodium_is_zero(t, sizeof(t))) {
		memset(r, 0, CR_POINT_BYTES);
		return -1;
	}
	memcpy(r, t, CR_POINT_BYTES);
	return 0;
}

int cr_point_sub(uint8_t r[CR_POINT_BYTES], const uint8_t p[CR_POINT_BYTES],
		 const uint8_t q[CR_POINT_BYTES])
{
	uint8_t t[CR_POINT_BYTES];

	if (crypto_core_ristretto255_sub(t, p, q) != 0 || sodium_is_zero(t, sizeof(t))) {
		memset(r, 0, CR_POINT_BYTES);
		return -1;
	}
	memcpy(r, t, CR_POINT_BYTES);
	return 0;
}

int cr_point_mul2(uint8_t r[CR_POINT_BYTES], const uint8_t s[CR_SCALAR_BYTES],
		  const uint8_t a[CR_POINT_BYTES], const uint8_t t[CR_SCALAR_BYTES],
		  const uint8_t b[CR_POINT_BYTES])
{
	uint8_t x[CR_POINT_BYTES];
	uint8_t y[CR_POINT_BYTES];

	if (cr_point_mul(x, s, a) != 0 || cr_point_mul(y, t, b) != 0 || cr_point_add(r, x, y) != 0) {
		memset(r, 0, CR_POINT_BYTES);
		return -1;
	}
	return 0;
}

int cr_point_msm(uint8_t r[CR_POINT_BYTES], const uint8_t *const *s, const uint8_t *const *p,
		 size_t count)
{
	uint8_t acc[CR_POINT_BYTES] = { 0 }; /* the identity's canonical encoding */
	uint8_t term[CR_POINT_BYTES];

	if (count == 0)
		goto fail;
	for (size_t i = 0; i < count; i++) {
		if (cr_point_check(p[i]) != 0 || cr_point_mul(term, s[i], p[i]) != 0)
			goto fail;
		/* crypto_core_ristretto255_add accepts and returns the identity, so an accumulator
		 * that passes through it (possible for adversarial inputs) is not an error. */
		if (crypto_core_ristretto255_add(acc, acc, term) != 0)
			goto fail;
	}
	if (sodium_is_zero(acc, sizeof(acc)))
		goto fail;
	memcpy(r, acc, CR_POINT_BYTES);
	return 0;
fail:
	memset(r, 0, CR_POINT_BYTES);
	return -1;
}

void cr_scalar_from_u64(uint8_t s[CR_SCALAR_BYTES], uint64_t v)
{
	memset(s, 0, CR_SCALAR_BYTES);
	for (unsigned i = 0; i < 8; i++)
		s[i] = (uint8_t)(v >> (8 * i));
}

/* ------------------------------------------------------------------------------------------- */

int cr_lagrange_compute(struct cr_lagrange_set *out, uint64_t mask)
{
	/* Shamir (1979) reconstruction at x = 0: lambda_j = prod_{m != j} m / (m - j). Rewrite it
	 * as lambda_j = T / (j * D_j) with T = prod_{m in S} m and D_j = prod_{m != j} (m - j), so
	 * that only the |S| denominators E_j = j * D_j need inverting, and invert them all with a
	 * single field inversion (Montgomery, "Speeding the Pollard and elliptic curve methods of
	 * factorization", 1987, §10.3.1): with prefix products P_k = E_0 ... E_k, one inversion of
	 * P_last yields every E_k^{-1} by walking back. The coefficients depend only on public
	 * indices, so none of this needs to be constant time. */
	uint32_t idx[CR_GROUP_N_MAX];
	uint8_t e[CR_GROUP_N_MAX][CR_SCALAR_BYTES];
	uint8_t prefix[CR_GROUP_N_MAX][CR_SCALAR_BYTES];
	uint8_t total[CR_SCALAR_BYTES];
	uint8_t inv[CR_SCALAR_BYTES];
	uint8_t sm[CR_SCALAR_BYTES];
	uint8_t sj[CR_SCALAR_BYTES];
	uint8_t diff[CR_SCALAR_BYTES];
	uint8_t einv[CR_SCALAR_BYTES];
	uint32_t count = 0;

	memset(out, 0, sizeof(*out));
	if (mask == 0)
		return -1;
	for (uint32_t b = 0; b < CR_GROUP_N_MAX; b++)
		if (mask & ((uint64_t)1 << b))
			idx[count++] = b + 1;
	/* The compiler cannot see that a non-zero mask has a set bit; starting the prefix
	 * products at one keeps every read initialised regardless. */
	cr_scalar_from_u64(prefix[0], 1);

	cr_scalar_from_u64(total, 1);
	for (uint32_t a = 0; a < count; a++) {
		cr_scalar_from_u64(sm, idx[a]);
		crypto_core_ristretto255_scalar_mul(total, total, sm);
	}
	for (uint32_t a = 0; a < count; a++) {
		cr_scalar_from_u64(sj, idx[a]);
		memcpy(e[a], sj, CR_SCALAR_BYTES);
		for (uint32_t c = 0; c < count; c++) {
			if (c == a)
				continue;
			cr_scalar_from_u64(sm, idx[c]);
			crypto_core_ristretto255_scalar_sub(diff, sm, sj);
			crypto_core_ristretto255_scalar_mul(e[a], e[a], diff);
		}
		if (a == 0)
			memcpy(prefix[0], e[0], CR_SCALAR_BYTES);
		else
			crypto_core_ristretto255_scalar_mul(prefix[a], prefix[a - 1], e[a]);
	}
	/* Distinct indices in 1..64 < l make every E_j non-zero, so the inversion cannot fail. */
	if (crypto_core_ristretto255_scalar_invert(inv, prefix[count - 1]) != 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	for (uint32_t a = count; a-- > 0;) {
		/* Here inv = (E_0 ... E_a)^{-1}. */
		if (a > 0)
			crypto_core_ristretto255_scalar_mul(einv, inv, prefix[a - 1]);
		else
			memcpy(einv, inv, CR_SCALAR_BYTES);
		crypto_core_ristretto255_scalar_mul(out->coef[idx[a] - 1], total, einv);
		crypto_core_ristretto255_scalar_mul(inv, inv, e[a]);
	}
	out->mask = mask;
	return 0;
}

void cr_lagrange_cache_init(struct cr_lagrange_cache *c)
{
	memset(c, 0, sizeof(*c));
}

int cr_lagrange_lookup(struct cr_lagrange_cache *c, uint64_t mask,
		       const struct cr_lagrange_set **out)
{
	struct cr_lagrange_set *slot;

	if (mask == 0)
		return -1;
	for (uint32_t i = 0; i < CR_LAGRANGE_CACHE_SLOTS; i++) {
		if (c->slot[i].mask == mask) {
			c->hits++;
			*out = &c->slot[i];
			return 0;
		}
	}
	c->misses++;
	slot = &c->slot[c->next];
	c->next = (c->next + 1) % CR_LAGRANGE_CACHE_SLOTS;
	if (cr_lagrange_compute(slot, mask) != 0)
		return -1;
	*out = slot;
	return 0;
}
