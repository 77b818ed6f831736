/*
 * cr_tdh2: Shoup-Gennaro TDH2 (EUROCRYPT'98 / JoC 15(2) 2002, §5) on ristretto255, and a hybrid
 * seal under it. Paper notation: G of prime order q with generators g and gbar, key h = g^x,
 * shares x_i with h_i = g^{x_i}; H1: G -> {0,1}^l (here a tagged BLAKE2b-256, l = 256),
 * H2 and H4 hash to Z_q (here BLAKE2b-512 reduced mod l; H4 is cr_dleq's challenge).
 *
 * E(m, L):   r, s random; u = g^r, ubar = gbar^r, c = H1(h^r) XOR m, w = g^s, wbar = gbar^s,
 *            e = H2(c, L, u, w, ubar, wbar), f = s + r e.
 * Check:     e = H2(c, L, u, g^f / u^e, ubar, gbar^f / ubar^e).
 * Share i:   u_i = u^{x_i} and a proof of log_g h_i = log_u u_i (the paper's (e_i, f_i),
 *            a Chaum-Pedersen proof: here cr_dleq, bound to the ciphertext and label).
 * Combine:   h^r = prod_{i in S} u_i^{lambda_i} for |S| = f+1, m = c XOR H1(h^r).
 */
#include "crypto/cr_tdh2.h"

#include <stdbool.h>
#include <string.h>

#include "crypto/cr_hash.h"

#define TDH2_TAG_R     "cr.tdh2.r"
#define TDH2_TAG_S     "cr.tdh2.s"
#define TDH2_TAG_H1    "cr.tdh2.h1"
#define TDH2_TAG_H2    "cr.tdh2.h2"
#define TDH2_TAG_CTX   "cr.tdh2.share"
#define TDH2_TAG_SEED  "cr.tdh2.seal.seed"
#define TDH2_TAG_AEAD  "cr.tdh2.seal.aead"

#define AEAD_KEY_BYTES   crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define AEAD_NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

/* H1: the one-time pad for m, from the Diffie-Hellman value h^r. */
static void tdh2_h1(uint8_t pad[CR_TDH2_KEY_BYTES], const uint8_t hr[CR_POINT_BYTES])
{
	cr_digest(pad, TDH2_TAG_H1, hr, CR_POINT_BYTES);
}

/* H2(c, L, u, w, ubar, wbar). Only L has a variable length: it is length-prefixed. */
static void tdh2_h2(uint8_t e[CR_SCALAR_BYTES], const uint8_t *c, const uint8_t *label,
		    size_t label_len, const uint8_t *u, const uint8_t *w, const uint8_t *ubar,
		    const uint8_t *wbar)
{
	struct cr_group_hash h;

	cr_group_hash_init(&h, TDH2_TAG_H2);
	cr_group_hash_update(&h, c, CR_TDH2_KEY_BYTES);
	cr_group_hash_update_u64(&h, label_len);
	cr_group_hash_update(&h, label, label_len);
	cr_group_hash_update(&h, u, CR_POINT_BYTES);
	cr_group_hash_update(&h, w, CR_POINT_BYTES);
	cr_group_hash_update(&h, ubar, CR_POINT_BYTES);
	cr_group_hash_update(&h, wbar, CR_POINT_BYTES);
	cr_group_hash_to_scalar(&h, e);
}

/* The context a decryption share's proof is bound to: this ciphertext under this label. */
static void tdh2_share_ctx(uint8_t ctx[CR_DIGEST_BYTES], const struct cr_tdh2_ct *ct,
			   const uint8_t *label, size_t label_len)
{
	uint8_t enc[CR_TDH2_CT_BYTES];
	struct cr_hash h;

	cr_tdh2_ct_encode(enc, ct);
	cr_hash_init(&h, TDH2_TAG_CTX);
	cr_hash_update(&h, enc, sizeof(enc));
	cr_hash_update_u64(&h, label_len);
	cr_hash_update(&h, label, label_len);
	cr_hash_final(&h, ctx);
}

static void tdh2_derive(uint8_t out[CR_SCALAR_BYTES], const char *tag,
			const uint8_t rand[CR_TDH2_RAND_BYTES], const uint8_t *pkh,
			const uint8_t *m, const uint8_t *label, size_t label_len)
{
	struct cr_group_hash h;

	cr_group_hash_init(&h, tag);
	cr_group_hash_update(&h, rand, CR_TDH2_RAND_BYTES);
	cr_group_hash_update(&h, pkh, CR_POINT_BYTES);
	cr_group_hash_update(&h, m, CR_TDH2_KEY_BYTES);
	cr_group_hash_update_u64(&h, label_len);
	cr_group_hash_update(&h, label, label_len);
	cr_group_hash_to_scalar(&h, out);
}

int cr_tdh2_encrypt(struct cr_tdh2_ct *ct, const uint8_t m[CR_TDH2_KEY_BYTES],
		    const uint8_t *label, size_t label_len, const struct cr_thresh_pubkey *pk,
		    const uint8_t rand[CR_TDH2_RAND_BYTES])
{
	struct cr_tdh2_ct tmp;
	uint8_t r[CR_SCALAR_BYTES];
	uint8_t s[CR_SCALAR_BYTES];
	uint8_t hr[CR_POINT_BYTES];
	uint8_t pad[CR_TDH2_KEY_BYTES];
	uint8_t w[CR_POINT_BYTES];
	uint8_t wbar[CR_POINT_BYTES];
	uint8_t re[CR_SCALAR_BYTES];
	int rc = -1;

	memset(&tmp, 0, sizeof(tmp));
	if (pk->purpose != CR_THRESH_ENC || cr_point_check(pk->h) != 0)
		goto out;
	/* The paper draws r and s uniformly; hashing fresh randomness with the message and the
	 * context keeps them uniform and also independent across messages if rand ever repeats. */
	tdh2_derive(r, TDH2_TAG_R, rand, pk->h, m, label, label_len);
	tdh2_derive(s, TDH2_TAG_S, rand, pk->h, m, label, label_len);
	if (cr_point_mul_base(tmp.u, r) != 0 || cr_point_mul(tmp.ubar, r, cr_group_gbar) != 0)
		goto out;
	if (cr_point_mul(hr, r, pk->h) != 0)
		goto out;
	tdh2_h1(pad, hr);
	for (unsigned i = 0; i < CR_TDH2_KEY_BYTES; i++)
		tmp.c[i] = m[i] ^ pad[i];
	if (cr_point_mul_base(w, s) != 0 || cr_point_mul(wbar, s, cr_group_gbar) != 0)
		goto out;
	tdh2_h2(tmp.e, tmp.c, label, label_len, tmp.u, w, tmp.ubar, wbar);
	crypto_core_ristretto255_scalar_mul(re, r, tmp.e);
	crypto_core_ristretto255_scalar_add(tmp.f, s, re);
	*ct = tmp;
	rc = 0;
out:
	if (rc != 0)
		memset(ct, 0, sizeof(*ct));
	sodium_memzero(r, sizeof(r));
	sodium_memzero(s, sizeof(s));
	sodium_memzero(re, sizeof(re));
	sodium_memzero(hr, sizeof(hr));
	sodium_memzero(pad, sizeof(pad));
	return rc;
}

int cr_tdh2_ct_check(const struct cr_tdh2_ct *ct, const uint8_t *label, size_t label_len)
{
	uint8_t nege[CR_SCALAR_BYTES];
	uint8_t w[CR_POINT_BYTES];
	uint8_t wbar[CR_POINT_BYTES];
	uint8_t e[CR_SCALAR_BYTES];

	if (cr_point_check(ct->u) != 0 || cr_point_check(ct->ubar) != 0)
		return -1;
	if (cr_scalar_check(ct->e) != 0 || cr_scalar_check(ct->f) != 0)
		return -1;
	/* Shoup-Gennaro §5: w = g^f / u^e and wbar = gbar^f / ubar^e, then e must equal
	 * H2(c, L, u, w, ubar, wbar). This is a proof that log_g u = log_gbar ubar made by someone
	 * who knew r, so a valid ciphertext cannot be a mauled copy of another one. */
	crypto_core_ristretto255_scalar_negate(nege, ct->e);
	if (cr_point_mul2(w, ct->f, cr_group_g, nege, ct->u) != 0)
		return -1;
	if (cr_point_mul2(wbar, ct->f, cr_group_gbar, nege, ct->ubar) != 0)
		return -1;
	tdh2_h2(e, ct->c, label, label_len, ct->u, w, ct->ubar, wbar);
	return sodium_memcmp(e, ct->e, CR_SCALAR_BYTES) == 0 ? 0 : -1;
}

/* The share itself, for a ciphertext already checked under the label (the callers check). */
static int share_make(struct cr_tdh2_share *out, const struct cr_thresh_share *sk,
		      const struct cr_tdh2_ct *ct, const uint8_t *label, size_t label_len,
		      const uint8_t rand[CR_TDH2_RAND_BYTES], bool check)
{
	struct cr_tdh2_share tmp;
	uint8_t vk[CR_POINT_BYTES];
	uint8_t ctx[CR_DIGEST_BYTES];

	memset(&tmp, 0, sizeof(tmp));
	if (sk->purpose != CR_THRESH_ENC || sk->index < 1 || sk->index > CR_THRESH_N_MAX)
		goto fail;
	if (cr_scalar_check_nonzero(sk->x) != 0)
		goto fail;
	/* Shoup-Gennaro §5, decryption: a server first checks the ciphertext and refuses an
	 * invalid one. Releasing u^{x_i} for an unchecked u would hand an attacker a decryption
	 * oracle for any u it likes (a mauled copy of someone else's ciphertext). */
	if (check && cr_tdh2_ct_check(ct, label, label_len) != 0)
		goto fail;
	if (cr_point_mul_base(vk, sk->x) != 0 || cr_point_mul(tmp.ui, sk->x, ct->u) != 0)
		goto fail;
	tdh2_share_ctx(ctx, ct, label, label_len);
	if (cr_dleq_prove(&tmp.proof, sk->x, cr_group_g, vk, ct->u, tmp.ui, ctx, sizeof(ctx),
			  rand) != 0)
		goto fail;
	tmp.index = sk->index;
	*out = tmp;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

int cr_tdh2_share_make(struct cr_tdh2_share *out, const struct cr_thresh_share *sk,
		       const struct cr_tdh2_ct *ct, const uint8_t *label, size_t label_len,
		       const uint8_t rand[CR_TDH2_RAND_BYTES])
{
	return share_make(out, sk, ct, label, label_len, rand, true);
}

int cr_tdh2_share_make_checked(struct cr_tdh2_share *out, const struct cr_thresh_share *sk,
			       const struct cr_tdh2_ct *ct, const uint8_t *label, size_t label_len,
			       const uint8_t rand[CR_TDH2_RAND_BYTES])
{
	return share_make(out, sk, ct, label, label_len, rand, false);
}

static int share_verify(const struct cr_thresh_pubkey *pk, const struct cr_tdh2_ct *ct,
			const uint8_t *label, size_t label_len, const struct cr_tdh2_share *share,
			bool check)
{
	uint8_t ctx[CR_DIGEST_BYTES];

	if (pk->purpose != CR_THRESH_ENC || pk->n > CR_THRESH_N_MAX)
		return -1;
	if (share->index < 1 || share->index > pk->n || cr_point_check(share->ui) != 0)
		return -1;
	/* A share of an invalid ciphertext is never valid: honest parties refuse to make one. */
	if (check && cr_tdh2_ct_check(ct, label, label_len) != 0)
		return -1;
	tdh2_share_ctx(ctx, ct, label, label_len);
	return cr_dleq_verify(&share->proof, cr_group_g, pk->vk[share->index - 1], ct->u,
			      share->ui, ctx, sizeof(ctx));
}

int cr_tdh2_share_verify(const struct cr_thresh_pubkey *pk, const struct cr_tdh2_ct *ct,
			 const uint8_t *label, size_t label_len, const struct cr_tdh2_share *share)
{
	return share_verify(pk, ct, label, label_len, share, true);
}

int cr_tdh2_share_verify_checked(const struct cr_thresh_pubkey *pk, const struct cr_tdh2_ct *ct,
				 const uint8_t *label, size_t label_len,
				 const struct cr_tdh2_share *share)
{
	return share_verify(pk, ct, label, label_len, share, false);
}

int cr_tdh2_combine(uint8_t m[CR_TDH2_KEY_BYTES], const struct cr_thresh_pubkey *pk,
		    const struct cr_tdh2_ct *ct, const struct cr_tdh2_share *shares, size_t count,
		    struct cr_lagrange_cache *cache)
{
	struct cr_lagrange_set local;
	const struct cr_lagrange_set *set;
	const uint8_t *sp[CR_THRESH_N_MAX];
	const uint8_t *pp[CR_THRESH_N_MAX];
	uint8_t hr[CR_POINT_BYTES];
	uint8_t pad[CR_TDH2_KEY_BYTES];
	uint64_t mask = 0;
	uint32_t t;

	if (pk->purpose != CR_THRESH_ENC || pk->n < 1 || pk->n > CR_THRESH_N_MAX || pk->f >= pk->n)
		goto fail;
	/* f shares are independent of h^r: fewer than f+1 can never decrypt. */
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
	/* h^r = prod_j u_j^{lambda_j} = u^{sum_j lambda_j x_j} = u^x = g^{rx}. */
	for (uint32_t j = 0; j < t; j++) {
		sp[j] = set->coef[shares[j].index - 1];
		pp[j] = shares[j].ui;
	}
	if (cr_point_msm(hr, sp, pp, t) != 0)
		goto fail;
	tdh2_h1(pad, hr);
	for (unsigned i = 0; i < CR_TDH2_KEY_BYTES; i++)
		m[i] = ct->c[i] ^ pad[i];
	sodium_memzero(hr, sizeof(hr));
	sodium_memzero(pad, sizeof(pad));
	return 0;
fail:
	memset(m, 0, CR_TDH2_KEY_BYTES);
	return -1;
}

void cr_tdh2_ct_encode(uint8_t out[CR_TDH2_CT_BYTES], const struct cr_tdh2_ct *ct)
{
	memcpy(out, ct->c, CR_TDH2_KEY_BYTES);
	memcpy(out + 32, ct->u, CR_POINT_BYTES);
	memcpy(out + 64, ct->ubar, CR_POINT_BYTES);
	memcpy(out + 96, ct->e, CR_SCALAR_BYTES);
	memcpy(out + 128, ct->f, CR_SCALAR_BYTES);
}

int cr_tdh2_ct_decode(struct cr_tdh2_ct *ct, const uint8_t *in, size_t len)
{
	if (len != CR_TDH2_CT_BYTES)
		return -1;
	if (cr_point_check(in + 32) != 0 || cr_point_check(in + 64) != 0)
		return -1;
	if (cr_scalar_check(in + 96) != 0 || cr_scalar_check(in + 128) != 0)
		return -1;
	memcpy(ct->c, in, CR_TDH2_KEY_BYTES);
	memcpy(ct->u, in + 32, CR_POINT_BYTES);
	memcpy(ct->ubar, in + 64, CR_POINT_BYTES);
	memcpy(ct->e, in + 96, CR_SCALAR_BYTES);
	memcpy(ct->f, in + 128, CR_SCALAR_BYTES);
	return 0;
}

void cr_tdh2_share_encode(uint8_t out[CR_TDH2_SHARE_BYTES], const struct cr_tdh2_share *share)
{
	out[0] = (uint8_t)share->index;
	out[1] = (uint8_t)(share->index >> 8);
	memcpy(out + 2, share->ui, CR_POINT_BYTES);
	cr_dleq_encode(out + 2 + CR_POINT_BYTES, &share->proof);
}

int cr_tdh2_share_decode(struct cr_tdh2_share *share, const uint8_t *in, size_t len)
{
	struct cr_tdh2_share tmp;

	if (len != CR_TDH2_SHARE_BYTES)
		return -1;
	tmp.index = (uint32_t)in[0] | (uint32_t)in[1] << 8;
	if (tmp.index < 1 || tmp.index > CR_THRESH_N_MAX)
		return -1;
	if (cr_point_check(in + 2) != 0)
		return -1;
	memcpy(tmp.ui, in + 2, CR_POINT_BYTES);
	if (cr_dleq_decode(&tmp.proof, in + 2 + CR_POINT_BYTES) != 0)
		return -1;
	*share = tmp;
	return 0;
}

/* ------------------------------------------------------------------------------------------- */

size_t cr_tdh2_sealed_len(size_t payload_len)
{
	if (payload_len > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX ||
	    payload_len > SIZE_MAX - CR_TDH2_SEAL_OVERHEAD)
		return 0;
	return payload_len + CR_TDH2_SEAL_OVERHEAD;
}

/* The AEAD key and nonce for one sealed payload, from the TDH2 plaintext m. Each m is used for
 * one payload only, so a nonce derived from it (rather than sent) is never reused with a key. */
static void seal_aead_keys(uint8_t key[AEAD_KEY_BYTES], uint8_t nonce[AEAD_NONCE_BYTES],
			   const uint8_t m[CR_TDH2_KEY_BYTES])
{
	struct cr_group_hash h;
	uint8_t wide[CR_HASH64_BYTES];

	cr_group_hash_init(&h, TDH2_TAG_AEAD);
	cr_group_hash_update(&h, m, CR_TDH2_KEY_BYTES);
	cr_group_hash_to_wide(&h, wide);
	memcpy(key, wide, AEAD_KEY_BYTES);
	memcpy(nonce, wide + AEAD_KEY_BYTES, AEAD_NONCE_BYTES);
	sodium_memzero(wide, sizeof(wide));
}

int cr_tdh2_seal(uint8_t *out, size_t out_len, const uint8_t *payload, size_t payload_len,
		 const uint8_t *label, size_t label_len, const struct cr_thresh_pubkey *pk,
		 const uint8_t rand[CR_TDH2_RAND_BYTES])
{
	struct cr_group_hash h;
	struct cr_tdh2_ct ct;
	uint8_t seed[CR_HASH64_BYTES];
	uint8_t key[AEAD_KEY_BYTES];
	uint8_t nonce[AEAD_NONCE_BYTES];
	unsigned long long clen = 0;
	size_t want = cr_tdh2_sealed_len(payload_len);
	int rc = -1;

	if (want == 0 || out_len != want)
		goto out;
	/* seed[0..32) is the fresh key m, seed[32..64) the randomness of its TDH2 encryption.
	 * Hashing the payload and label in as well is a hedge: a caller that repeats rand by
	 * mistake still gets a different key for a different payload. */
	cr_group_hash_init(&h, TDH2_TAG_SEED);
	cr_group_hash_update(&h, rand, CR_TDH2_RAND_BYTES);
	cr_group_hash_update_u64(&h, label_len);
	cr_group_hash_update(&h, label, label_len);
	cr_group_hash_update_u64(&h, payload_len);
	cr_group_hash_update(&h, payload, payload_len);
	cr_group_hash_to_wide(&h, seed);
	if (cr_tdh2_encrypt(&ct, seed, label, label_len, pk, seed + CR_TDH2_KEY_BYTES) != 0)
		goto out;
	seal_aead_keys(key, nonce, seed);
	cr_tdh2_ct_encode(out, &ct);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + CR_TDH2_CT_BYTES, &clen, payload,
						   payload_len, label, label_len, NULL, nonce, key);
	if (clen != payload_len + crypto_aead_xchacha20poly1305_ietf_ABYTES)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		memset(out, 0, out_len);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(key, sizeof(key));
	return rc;
}

int cr_tdh2_sealed_ct(struct cr_tdh2_ct *ct, const uint8_t *sealed, size_t sealed_len)
{
	if (sealed_len < CR_TDH2_SEAL_OVERHEAD)
		return -1;
	return cr_tdh2_ct_decode(ct, sealed, CR_TDH2_CT_BYTES);
}

int cr_tdh2_open(uint8_t *payload, size_t payload_len, const uint8_t *sealed, size_t sealed_len,
		 const uint8_t *label, size_t label_len, const uint8_t m[CR_TDH2_KEY_BYTES])
{
	struct cr_tdh2_ct ct;
	uint8_t key[AEAD_KEY_BYTES];
	uint8_t nonce[AEAD_NONCE_BYTES];
	unsigned long long mlen = 0;
	int rc = -1;

	if (sealed_len < CR_TDH2_SEAL_OVERHEAD || payload_len != sealed_len - CR_TDH2_SEAL_OVERHEAD)
		goto out;
	/* The header is decoded only to hold the sealed bytes to the same strict format as the
	 * ciphertext the shares were made for. */
	if (cr_tdh2_sealed_ct(&ct, sealed, sealed_len) != 0)
		goto out;
	seal_aead_keys(key, nonce, m);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(payload, &mlen, NULL,
						       sealed + CR_TDH2_CT_BYTES,
						       sealed_len - CR_TDH2_CT_BYTES, label,
						       label_len, nonce, key) != 0)
		goto out;
	if (mlen != payload_len)
		goto out;
	rc = 0;
out:
	if (rc != 0 && payload_len > 0 && payload != NULL)
		memset(payload, 0, payload_len);
	sodium_memzero(key, sizeof(key));
	return rc;
}
