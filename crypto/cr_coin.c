/*
 * cr_coin: Cachin-Kursawe-Shoup threshold coin (PODC 2000 / JoC 2005, §4) on ristretto255.
 *
 * The paper's coin: G of prime order q, a hash H' to G; share x_i of x; for coin name C,
 * g~ = H'(C), the share is g~^{x_i} with a proof of equality of discrete logarithms
 * (log_g vk_i = log_{g~} share) in the random-oracle model (Chaum-Pedersen via Fiat-Shamir,
 * here cr_dleq); any k = f+1 valid shares give g~^x = prod sigma_j^{lambda_j} by Lagrange
 * interpolation in the exponent; the coin value is H''(g~^x).
 */
#include "crypto/cr_coin.h"

#include <string.h>

#include "crypto/cr_hash.h"

#define COIN_TAG_BASE  "cr.coin.base"
#define COIN_TAG_CTX   "cr.coin.ctx"
#define COIN_TAG_VALUE "cr.coin.value"

/* H'(C): the coin's base point, whose discrete logarithm nobody knows. */
static void coin_base(uint8_t base[CR_POINT_BYTES], const uint8_t *name, size_t name_len)
{
	cr_point_hash(base, COIN_TAG_BASE, name, name_len);
}

/* The proof's context: the coin domain and name, so that a coin proof is never mistaken for a
 * proof in another scheme over the same key. */
static void coin_ctx(uint8_t ctx[CR_DIGEST_BYTES], const uint8_t *name, size_t name_len)
{
	struct cr_hash h;

	cr_hash_init(&h, COIN_TAG_CTX);
	cr_hash_update_u64(&h, name_len);
	cr_hash_update(&h, name, name_len);
	cr_hash_final(&h, ctx);
}

int cr_coin_share_make(struct cr_coin_share *out, const struct cr_thresh_share *sk,
		       const uint8_t *name, size_t name_len, const uint8_t rand[CR_COIN_RAND_BYTES])
{
	uint8_t vk[CR_POINT_BYTES];
	uint8_t base[CR_POINT_BYTES];
	uint8_t ctx[CR_DIGEST_BYTES];
	struct cr_coin_share tmp;

	memset(&tmp, 0, sizeof(tmp));
	if (sk->purpose != CR_THRESH_COIN || sk->index < 1 || sk->index > CR_THRESH_N_MAX)
		goto fail;
	/* vk_i is recomputed rather than looked up, so the proof is always about the key that
	 * made the share; a mismatched key file then shows up as shares that fail to verify. */
	if (cr_scalar_check_nonzero(sk->x) != 0 || cr_point_mul_base(vk, sk->x) != 0)
		goto fail;
	coin_base(base, name, name_len);
	if (cr_point_mul(tmp.sigma, sk->x, base) != 0)
		goto fail;
	coin_ctx(ctx, name, name_len);
	if (cr_dleq_prove(&tmp.proof, sk->x, cr_group_g, vk, base, tmp.sigma, ctx, sizeof(ctx),
			  rand) != 0)
		goto fail;
	tmp.index = sk->index;
	*out = tmp;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

int cr_coin_share_verify(const struct cr_thresh_pubkey *pk, const uint8_t *name, size_t name_len,
			 const struct cr_coin_share *share)
{
	uint8_t base[CR_POINT_BYTES];
	uint8_t ctx[CR_DIGEST_BYTES];

	if (pk->purpose != CR_THRESH_COIN || pk->n > CR_THRESH_N_MAX)
		return -1;
	if (share->index < 1 || share->index > pk->n)
		return -1;
	if (cr_point_check(share->sigma) != 0)
		return -1;
	coin_base(base, name, name_len);
	coin_ctx(ctx, name, name_len);
	/* CKS §4: the share is valid iff the proof shows log_g vk_i = log_{H'(C)} sigma_i, with
	 * vk_i the verification key of the index the share claims. */
	return cr_dleq_verify(&share->proof, cr_group_g, pk->vk[share->index - 1], base,
			      share->sigma, ctx, sizeof(ctx));
}

int cr_coin_combine(struct cr_coin_value *out, const struct cr_thresh_pubkey *pk,
		    const uint8_t *name, size_t name_len, const struct cr_coin_share *shares,
		    size_t count, struct cr_lagrange_cache *cache)
{
	struct cr_lagrange_set local;
	const struct cr_lagrange_set *set;
	const uint8_t *sp[CR_THRESH_N_MAX];
	const uint8_t *pp[CR_THRESH_N_MAX];
	uint8_t sigma[CR_POINT_BYTES];
	struct cr_hash h;
	uint64_t mask = 0;
	uint32_t t;

	if (pk->purpose != CR_THRESH_COIN || pk->n < 1 || pk->n > CR_THRESH_N_MAX || pk->f >= pk->n)
		goto fail;
	/* f shares reveal nothing about H(C)^x, so fewer than f+1 can never make a coin. */
	t = pk->f + 1;
	if (count < t)
		goto fail;
	for (uint32_t j = 0; j < t; j++) {
		uint32_t i = shares[j].index;

		if (i < 1 || i > pk->n || (mask & ((uint64_t)1 << (i - 1))) != 0)
			goto fail;
		mask |= (uint64_t)1 << (i - 1);
	}
	if (cache != NULL) {
		if (cr_lagrange_lookup(cache, mask, &set) != 0)
			goto fail;
	} else {
		if (cr_lagrange_compute(&local, mask) != 0)
			goto fail;
		set = &local;
	}
	/* sigma = prod_j sigma_j^{lambda_j} = H(C)^{sum_j lambda_j x_j} = H(C)^x. */
	for (uint32_t j = 0; j < t; j++) {
		sp[j] = set->coef[shares[j].index - 1];
		pp[j] = shares[j].sigma;
	}
	if (cr_point_msm(sigma, sp, pp, t) != 0)
		goto fail;
	cr_hash_init(&h, COIN_TAG_VALUE);
	cr_hash_update_u64(&h, name_len);
	cr_hash_update(&h, name, name_len);
	cr_hash_update(&h, sigma, sizeof(sigma));
	cr_hash_final(&h, out->value);
	out->bit = out->value[0] & 1;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

void cr_coin_share_encode(uint8_t out[CR_COIN_SHARE_BYTES], const struct cr_coin_share *share)
{
	out[0] = (uint8_t)share->index;
	out[1] = (uint8_t)(share->index >> 8);
	memcpy(out + 2, share->sigma, CR_POINT_BYTES);
	cr_dleq_encode(out + 2 + CR_POINT_BYTES, &share->proof);
}

int cr_coin_share_decode(struct cr_coin_share *share, const uint8_t *in, size_t len)
{
	struct cr_coin_share tmp;

	if (len != CR_COIN_SHARE_BYTES)
		return -1;
	tmp.index = (uint32_t)in[0] | (uint32_t)in[1] << 8;
	if (tmp.index < 1 || tmp.index > CR_THRESH_N_MAX)
		return -1;
	if (cr_point_check(in + 2) != 0)
		return -1;
	memcpy(tmp.sigma, in + 2, CR_POINT_BYTES);
	if (cr_dleq_decode(&tmp.proof, in + 2 + CR_POINT_BYTES) != 0)
		return -1;
	*share = tmp;
	return 0;
}
