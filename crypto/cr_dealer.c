/*
 * cr_dealer: Shamir sharing of a ristretto255 secret and the public key set that goes with it.
 *
 * Shamir, "How to share a secret" (CACM 22(11), 1979): a random polynomial p of degree f over
 * Z_l with p(0) = x; share i is p(i). The verification keys g^{p(i)} are what the threshold
 * schemes check share proofs against (Cachin-Kursawe-Shoup 2000, §3, "the dealer ... publishes
 * the verification keys"; Shoup-Gennaro 1998, §4, the same for TDH2).
 */
#include "crypto/cr_dealer.h"

#include <string.h>

#include "crypto/cr_sign.h"

#define DEALER_TAG_COEF "cr.dealer.coef"

static int dealer_params_ok(uint32_t n, uint32_t f, uint32_t purpose)
{
	if (purpose != CR_THRESH_COIN && purpose != CR_THRESH_ENC)
		return 0;
	if (n < 1 || n > CR_THRESH_N_MAX)
		return 0;
	return f < n; /* f + 1 <= n, without overflow */
}

int cr_dealer_deal(struct cr_thresh_pubkey *pk, struct cr_thresh_share *shares, uint32_t n,
		   uint32_t f, enum cr_thresh_purpose purpose,
		   const uint8_t seed[CR_THRESH_SEED_BYTES])
{
	uint8_t coef[CR_THRESH_N_MAX][CR_SCALAR_BYTES];
	uint8_t xs[CR_SCALAR_BYTES];
	uint8_t acc[CR_SCALAR_BYTES];
	int rc = -1;

	if (!dealer_params_ok(n, f, (uint32_t)purpose)) {
		memset(pk, 0, sizeof(*pk));
		return -1;
	}
	memset(pk, 0, sizeof(*pk));
	/* Coefficient k is a hash of the seed and of everything that names this key set, so one
	 * seed never yields related polynomials for two purposes or two (n, f). Reducing 512 bits
	 * makes each coefficient uniform in Z_l up to 2^-260. */
	for (uint32_t k = 0; k <= f; k++) {
		struct cr_group_hash h;

		cr_group_hash_init(&h, DEALER_TAG_COEF);
		cr_group_hash_update(&h, seed, CR_THRESH_SEED_BYTES);
		cr_group_hash_update_u64(&h, (uint64_t)purpose);
		cr_group_hash_update_u64(&h, n);
		cr_group_hash_update_u64(&h, f);
		cr_group_hash_update_u64(&h, k);
		cr_group_hash_to_scalar(&h, coef[k]);
	}
	if (cr_scalar_check_nonzero(coef[0]) != 0 || cr_point_mul_base(pk->h, coef[0]) != 0)
		goto out;
	for (uint32_t i = 1; i <= n; i++) {
		struct cr_thresh_share *sh = &shares[i - 1];

		/* Horner's rule: p(i) = a_0 + i (a_1 + i (a_2 + ...)). */
		cr_scalar_from_u64(xs, i);
		memcpy(acc, coef[f], CR_SCALAR_BYTES);
		for (uint32_t k = f; k-- > 0;) {
			crypto_core_ristretto255_scalar_mul(acc, acc, xs);
			crypto_core_ristretto255_scalar_add(acc, acc, coef[k]);
		}
		if (cr_scalar_check_nonzero(acc) != 0 || cr_point_mul_base(pk->vk[i - 1], acc) != 0)
			goto out;
		sh->purpose = (uint32_t)purpose;
		sh->index = i;
		memcpy(sh->x, acc, CR_SCALAR_BYTES);
	}
	pk->purpose = (uint32_t)purpose;
	pk->n = n;
	pk->f = f;
	rc = 0;
out:
	if (rc != 0) {
		memset(pk, 0, sizeof(*pk));
		sodium_memzero(shares, (size_t)n * sizeof(*shares));
	}
	sodium_memzero(coef, sizeof(coef));
	sodium_memzero(acc, sizeof(acc));
	return rc;
}

int cr_dealer_deal_random(struct cr_thresh_pubkey *pk, struct cr_thresh_share *shares,
			  uint32_t n, uint32_t f, enum cr_thresh_purpose purpose)
{
	uint8_t seed[CR_THRESH_SEED_BYTES];
	int rc;

	if (cr_init() != 0) {
		memset(pk, 0, sizeof(*pk));
		return -1;
	}
	randombytes_buf(seed, sizeof(seed));
	rc = cr_dealer_deal(pk, shares, n, f, purpose, seed);
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

/* Lagrange coefficients at point x for the base set {1..t}: lambda_b(x) = prod_{m != b}
 * (x - m) / (b - m). dinv[b-1] holds the inverted denominators, which do not depend on x; the
 * numerators are prefix and suffix products, so each x costs O(t) multiplications. */
static void lagrange_at(uint8_t out[][CR_SCALAR_BYTES], uint32_t t, uint32_t x,
			const uint8_t dinv[][CR_SCALAR_BYTES])
{
	uint8_t pre[CR_THRESH_N_MAX + 1][CR_SCALAR_BYTES];
	uint8_t suf[CR_SCALAR_BYTES];
	uint8_t sx[CR_SCALAR_BYTES];
	uint8_t sm[CR_SCALAR_BYTES];
	uint8_t diff[CR_SCALAR_BYTES];

	cr_scalar_from_u64(sx, x);
	cr_scalar_from_u64(pre[0], 1);
	for (uint32_t m = 1; m <= t; m++) {
		cr_scalar_from_u64(sm, m);
		crypto_core_ristretto255_scalar_sub(diff, sx, sm);
		crypto_core_ristretto255_scalar_mul(pre[m], pre[m - 1], diff);
	}
	cr_scalar_from_u64(suf, 1);
	for (uint32_t b = t; b >= 1; b--) {
		/* pre[b-1] = prod_{m < b} (x - m), suf = prod_{m > b} (x - m). */
		crypto_core_ristretto255_scalar_mul(out[b - 1], pre[b - 1], suf);
		crypto_core_ristretto255_scalar_mul(out[b - 1], out[b - 1], dinv[b - 1]);
		cr_scalar_from_u64(sm, b);
		crypto_core_ristretto255_scalar_sub(diff, sx, sm);
		crypto_core_ristretto255_scalar_mul(suf, suf, diff);
	}
}

int cr_thresh_pubkey_check(const struct cr_thresh_pubkey *pk)
{
	uint8_t dinv[CR_THRESH_N_MAX][CR_SCALAR_BYTES];
	uint8_t lam[CR_THRESH_N_MAX][CR_SCALAR_BYTES];
	const uint8_t *sp[CR_THRESH_N_MAX];
	const uint8_t *pp[CR_THRESH_N_MAX];
	uint8_t got[CR_POINT_BYTES];
	uint32_t t;

	if (!dealer_params_ok(pk->n, pk->f, pk->purpose))
		return -1;
	if (cr_point_check(pk->h) != 0)
		return -1;
	for (uint32_t i = 0; i < CR_THRESH_N_MAX; i++) {
		if (i < pk->n ? cr_point_check(pk->vk[i]) != 0
			      : !sodium_is_zero(pk->vk[i], CR_POINT_BYTES))
			return -1;
	}
	/* Feldman-style consistency (Feldman, FOCS'87, checks shares against coefficient
	 * commitments; we have evaluations instead): vk_1..vk_t with t = f+1 fix the polynomial
	 * in the exponent, so h and every other vk_j must be its interpolation at 0 and at j. */
	t = pk->f + 1;
	for (uint32_t b = 1; b <= t; b++) {
		uint8_t d[CR_SCALAR_BYTES];
		uint8_t sb[CR_SCALAR_BYTES];
		uint8_t sm[CR_SCALAR_BYTES];
		uint8_t diff[CR_SCALAR_BYTES];

		cr_scalar_from_u64(d, 1);
		cr_scalar_from_u64(sb, b);
		for (uint32_t m = 1; m <= t; m++) {
			if (m == b)
				continue;
			cr_scalar_from_u64(sm, m);
			crypto_core_ristretto255_scalar_sub(diff, sb, sm);
			crypto_core_ristretto255_scalar_mul(d, d, diff);
		}
		if (crypto_core_ristretto255_scalar_invert(dinv[b - 1], d) != 0)
			return -1;
		sp[b - 1] = lam[b - 1];
		pp[b - 1] = pk->vk[b - 1];
	}
	for (uint32_t x = 0; x <= pk->n; x++) {
		const uint8_t *want;

		if (x >= 1 && x <= t)
			continue;
		want = x == 0 ? pk->h : pk->vk[x - 1];
		lagrange_at(lam, t, x, dinv);
		if (cr_point_msm(got, sp, pp, t) != 0)
			return -1;
		if (memcmp(got, want, CR_POINT_BYTES) != 0)
			return -1;
	}
	return 0;
}

int cr_thresh_share_check(const struct cr_thresh_pubkey *pk, const struct cr_thresh_share *share)
{
	uint8_t vk[CR_POINT_BYTES];

	if (share->purpose != pk->purpose || share->index < 1 || share->index > pk->n ||
	    pk->n > CR_THRESH_N_MAX)
		return -1;
	if (cr_scalar_check_nonzero(share->x) != 0 || cr_point_mul_base(vk, share->x) != 0)
		return -1;
	return sodium_memcmp(vk, pk->vk[share->index - 1], CR_POINT_BYTES) == 0 ? 0 : -1;
}

int cr_thresh_pubkey_from_parts(struct cr_thresh_pubkey *pk, enum cr_thresh_purpose purpose,
				uint32_t n, uint32_t f, const uint8_t h[CR_POINT_BYTES],
				const uint8_t (*vk)[CR_POINT_BYTES])
{
	struct cr_thresh_pubkey tmp;

	if (!dealer_params_ok(n, f, (uint32_t)purpose))
		return -1;
	memset(&tmp, 0, sizeof(tmp));
	tmp.purpose = (uint32_t)purpose;
	tmp.n = n;
	tmp.f = f;
	memcpy(tmp.h, h, CR_POINT_BYTES);
	memcpy(tmp.vk, vk, (size_t)n * CR_POINT_BYTES);
	if (cr_thresh_pubkey_check(&tmp) != 0)
		return -1;
	*pk = tmp;
	return 0;
}

int cr_thresh_share_from_parts(struct cr_thresh_share *share, enum cr_thresh_purpose purpose,
			       uint32_t index, const uint8_t x[CR_SCALAR_BYTES])
{
	if (purpose != CR_THRESH_COIN && purpose != CR_THRESH_ENC)
		return -1;
	if (index < 1 || index > CR_THRESH_N_MAX || cr_scalar_check_nonzero(x) != 0)
		return -1;
	share->purpose = (uint32_t)purpose;
	share->index = index;
	memcpy(share->x, x, CR_SCALAR_BYTES);
	return 0;
}

static void put_u16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint32_t get_u16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

int cr_thresh_pubkey_encode(uint8_t *out, size_t out_len, const struct cr_thresh_pubkey *pk)
{
	if (!dealer_params_ok(pk->n, pk->f, pk->purpose) || out_len != CR_THRESH_PUBKEY_BYTES(pk->n)) {
		memset(out, 0, out_len);
		return -1;
	}
	out[0] = CR_THRESH_VERSION;
	out[1] = (uint8_t)pk->purpose;
	put_u16(out + 2, pk->n);
	put_u16(out + 4, pk->f);
	out[6] = 0;
	out[7] = 0;
	memcpy(out + 8, pk->h, CR_POINT_BYTES);
	memcpy(out + 8 + CR_POINT_BYTES, pk->vk, (size_t)pk->n * CR_POINT_BYTES);
	return 0;
}

int cr_thresh_pubkey_decode(struct cr_thresh_pubkey *pk, const uint8_t *in, size_t len)
{
	struct cr_thresh_pubkey tmp;

	/* Every length is checked before it is used, and the header before the body. */
	if (len < 8 || in[0] != CR_THRESH_VERSION || in[6] != 0 || in[7] != 0)
		return -1;
	memset(&tmp, 0, sizeof(tmp));
	tmp.purpose = in[1];
	tmp.n = get_u16(in + 2);
	tmp.f = get_u16(in + 4);
	if (!dealer_params_ok(tmp.n, tmp.f, tmp.purpose) || len != CR_THRESH_PUBKEY_BYTES(tmp.n))
		return -1;
	memcpy(tmp.h, in + 8, CR_POINT_BYTES);
	memcpy(tmp.vk, in + 8 + CR_POINT_BYTES, (size_t)tmp.n * CR_POINT_BYTES);
	if (cr_thresh_pubkey_check(&tmp) != 0)
		return -1;
	*pk = tmp;
	return 0;
}

void cr_thresh_share_encode(uint8_t out[CR_THRESH_SHARE_BYTES], const struct cr_thresh_share *share)
{
	memset(out, 0, 8);
	out[0] = CR_THRESH_VERSION;
	out[1] = (uint8_t)share->purpose;
	put_u16(out + 2, share->index);
	memcpy(out + 8, share->x, CR_SCALAR_BYTES);
}

int cr_thresh_share_decode(struct cr_thresh_share *share, const uint8_t *in, size_t len)
{
	uint32_t index;

	if (len != CR_THRESH_SHARE_BYTES || in[0] != CR_THRESH_VERSION)
		return -1;
	if (in[1] != CR_THRESH_COIN && in[1] != CR_THRESH_ENC)
		return -1;
	if (!sodium_is_zero(in + 4, 4))
		return -1;
	index = get_u16(in + 2);
	if (index < 1 || index > CR_THRESH_N_MAX)
		return -1;
	if (cr_scalar_check_nonzero(in + 8) != 0)
		return -1;
	share->purpose = in[1];
	share->index = index;
	memcpy(share->x, in + 8, CR_SCALAR_BYTES);
	return 0;
}

void cr_thresh_share_wipe(struct cr_thresh_share *share)
{
	sodium_memzero(share, sizeof(*share));
}
