/*
 * cr_dleq: Chaum-Pedersen proofs of discrete-log equality, Fiat-Shamir style.
 *
 * Chaum and Pedersen, "Wallet databases with observers" (CRYPTO'92), §3.2: to show
 * h1 = g1^x and h2 = g2^x the prover commits a1 = g1^k, a2 = g2^k, receives a challenge c and
 * answers z = k + c x; the verifier checks g1^z = a1 h1^c and g2^z = a2 h2^c. Fiat and Shamir
 * (CRYPTO'86) replace the verifier by a hash of everything the prover has said; following the
 * "strong" Fiat-Shamir advice (Bernhard, Pereira, Warinschi, ASIACRYPT'12) the challenge hashes
 * the whole statement (both bases, both public values), both commitments and the context, so a
 * proof cannot be transplanted to another statement. The proof is sent as (c, z) and the
 * verifier recomputes a1 = g1^z h1^{-c}, a2 = g2^z h2^{-c} and then c.
 */
#include "crypto/cr_dleq.h"

#include <string.h>

#define DLEQ_TAG_NONCE     "cr.dleq.nonce"
#define DLEQ_TAG_CHALLENGE "cr.dleq.challenge"

static void dleq_absorb_statement(struct cr_group_hash *h, const uint8_t *g1, const uint8_t *h1,
				  const uint8_t *g2, const uint8_t *h2)
{
	cr_group_hash_update(h, g1, CR_POINT_BYTES);
	cr_group_hash_update(h, h1, CR_POINT_BYTES);
	cr_group_hash_update(h, g2, CR_POINT_BYTES);
	cr_group_hash_update(h, h2, CR_POINT_BYTES);
}

static void dleq_challenge(uint8_t c[CR_SCALAR_BYTES], const uint8_t *g1, const uint8_t *h1,
			   const uint8_t *g2, const uint8_t *h2, const uint8_t *a1,
			   const uint8_t *a2, const uint8_t *ctx, size_t ctx_len)
{
	struct cr_group_hash h;

	/* Every input has a fixed length except ctx, which comes last and length-prefixed, so the
	 * encoding is injective. */
	cr_group_hash_init(&h, DLEQ_TAG_CHALLENGE);
	dleq_absorb_statement(&h, g1, h1, g2, h2);
	cr_group_hash_update(&h, a1, CR_POINT_BYTES);
	cr_group_hash_update(&h, a2, CR_POINT_BYTES);
	cr_group_hash_update_u64(&h, ctx_len);
	cr_group_hash_update(&h, ctx, ctx_len);
	cr_group_hash_to_scalar(&h, c);
}

static int dleq_points_check(const uint8_t *g1, const uint8_t *h1, const uint8_t *g2,
			     const uint8_t *h2)
{
	if (cr_point_check(g1) != 0 || cr_point_check(h1) != 0)
		return -1;
	if (cr_point_check(g2) != 0 || cr_point_check(h2) != 0)
		return -1;
	return 0;
}

int cr_dleq_prove(struct cr_dleq *proof, const uint8_t x[CR_SCALAR_BYTES],
		  const uint8_t g1[CR_POINT_BYTES], const uint8_t h1[CR_POINT_BYTES],
		  const uint8_t g2[CR_POINT_BYTES], const uint8_t h2[CR_POINT_BYTES],
		  const uint8_t *ctx, size_t ctx_len, const uint8_t rand[CR_DLEQ_RAND_BYTES])
{
	struct cr_group_hash h;
	uint8_t k[CR_SCALAR_BYTES];
	uint8_t a1[CR_POINT_BYTES];
	uint8_t a2[CR_POINT_BYTES];
	uint8_t c[CR_SCALAR_BYTES];
	uint8_t cx[CR_SCALAR_BYTES];
	int rc = -1;

	if (cr_scalar_check_nonzero(x) != 0 || dleq_points_check(g1, h1, g2, h2) != 0)
		goto out;

	/* Hedged nonce (as in RFC 6979 and the "hedged" signatures of Bellare-Tackmann, and
	 * libsodium's own deterministic Ed25519 nonces): k = H(x, rand, statement, ctx). A
	 * repeated rand can only repeat k for the very same statement, in which case the whole
	 * proof repeats and reveals nothing new; a k reused across two challenges would reveal x. */
	cr_group_hash_init(&h, DLEQ_TAG_NONCE);
	cr_group_hash_update(&h, x, CR_SCALAR_BYTES);
	cr_group_hash_update(&h, rand, CR_DLEQ_RAND_BYTES);
	dleq_absorb_statement(&h, g1, h1, g2, h2);
	cr_group_hash_update_u64(&h, ctx_len);
	cr_group_hash_update(&h, ctx, ctx_len);
	cr_group_hash_to_scalar(&h, k);

	/* cr_point_mul fails on k = 0 (an identity commitment), probability 2^-252. */
	if (cr_point_mul(a1, k, g1) != 0 || cr_point_mul(a2, k, g2) != 0)
		goto out;
	dleq_challenge(c, g1, h1, g2, h2, a1, a2, ctx, ctx_len);
	crypto_core_ristretto255_scalar_mul(cx, c, x);
	crypto_core_ristretto255_scalar_add(proof->z, k, cx);
	memcpy(proof->c, c, CR_SCALAR_BYTES);
	rc = 0;
out:
	if (rc != 0)
		memset(proof, 0, sizeof(*proof));
	sodium_memzero(k, sizeof(k));
	sodium_memzero(cx, sizeof(cx));
	return rc;
}

int cr_dleq_verify(const struct cr_dleq *proof,
		   const uint8_t g1[CR_POINT_BYTES], const uint8_t h1[CR_POINT_BYTES],
		   const uint8_t g2[CR_POINT_BYTES], const uint8_t h2[CR_POINT_BYTES],
		   const uint8_t *ctx, size_t ctx_len)
{
	uint8_t negc[CR_SCALAR_BYTES];
	uint8_t a1[CR_POINT_BYTES];
	uint8_t a2[CR_POINT_BYTES];
	uint8_t c[CR_SCALAR_BYTES];

	/* Non-canonical scalars would give one proof several encodings (malleability), and
	 * libsodium would silently use z mod 2^255 rather than z mod l. */
	if (cr_scalar_check(proof->c) != 0 || cr_scalar_check(proof->z) != 0)
		return -1;
	if (dleq_points_check(g1, h1, g2, h2) != 0)
		return -1;
	crypto_core_ristretto255_scalar_negate(negc, proof->c);
	/* a = g^z h^{-c}. A zero c or z, or an identity commitment, makes a multiplication fail
	 * and the proof is rejected: an honest prover produces one with probability 2^-251. */
	if (cr_point_mul2(a1, proof->z, g1, negc, h1) != 0)
		return -1;
	if (cr_point_mul2(a2, proof->z, g2, negc, h2) != 0)
		return -1;
	dleq_challenge(c, g1, h1, g2, h2, a1, a2, ctx, ctx_len);
	return sodium_memcmp(c, proof->c, CR_SCALAR_BYTES) == 0 ? 0 : -1;
}

void cr_dleq_encode(uint8_t out[CR_DLEQ_BYTES], const struct cr_dleq *proof)
{
	memcpy(out, proof->c, CR_SCALAR_BYTES);
	memcpy(out + CR_SCALAR_BYTES, proof->z, CR_SCALAR_BYTES);
}

int cr_dleq_decode(struct cr_dleq *proof, const uint8_t in[CR_DLEQ_BYTES])
{
	if (cr_scalar_check(in) != 0 || cr_scalar_check(in + CR_SCALAR_BYTES) != 0)
		return -1;
	memcpy(proof->c, in, CR_SCALAR_BYTES);
	memcpy(proof->z, in + CR_SCALAR_BYTES, CR_SCALAR_BYTES);
	return 0;
}
