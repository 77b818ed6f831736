/*
 * cr_dleq: non-interactive proofs of equality of discrete logarithms on ristretto255.
 *
 * A proof shows that log_{g1}(h1) = log_{g2}(h2) without revealing it: the Chaum-Pedersen
 * protocol ("Wallet databases with observers", CRYPTO'92, §3.2) made non-interactive with the
 * Fiat-Shamir transform. The threshold coin (cr_coin) and the TDH2 decryption shares (cr_tdh2)
 * use it to show that a share was made with the secret behind a published verification key.
 *
 * A proof is (c, z): 64 bytes, two canonical scalars.
 */
#ifndef CR_DLEQ_H
#define CR_DLEQ_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/cr_group.h"

#define CR_DLEQ_BYTES 64u /* encoded proof: c (32) || z (32) */
#define CR_DLEQ_RAND_BYTES 32u

struct cr_dleq {
	uint8_t c[CR_SCALAR_BYTES]; /* challenge */
	uint8_t z[CR_SCALAR_BYTES]; /* response k + c x */
};

/** Proves log_{g1}(h1) = log_{g2}(h2) = x, binding the context ctx[0..ctx_len) (a label naming
 *  what the proof is for: the caller's domain tag and object digest). The nonce k is derived by
 *  hashing x, the statement, ctx and the 32 supplied random bytes ("hedged"): with fresh rand it
 *  is random; with a repeated or weak rand it is still never reused across two statements, and a
 *  repeat of the same statement and rand just repeats the same proof. rand, x and the points are
 *  borrowed. The caller must pass h1 = g1^x and h2 = g2^x (the proof does not verify otherwise).
 *  0 and *proof written; -1 (and *proof zeroed) when x is not a canonical non-zero scalar, a point
 *  is invalid or the identity, or a negligible-probability degenerate value came up. */
int cr_dleq_prove(struct cr_dleq *proof, const uint8_t x[CR_SCALAR_BYTES],
		  const uint8_t g1[CR_POINT_BYTES], const uint8_t h1[CR_POINT_BYTES],
		  const uint8_t g2[CR_POINT_BYTES], const uint8_t h2[CR_POINT_BYTES],
		  const uint8_t *ctx, size_t ctx_len,
		  const uint8_t rand[CR_DLEQ_RAND_BYTES]) CR_WUR;

/** Verifies *proof for the statement (g1, h1, g2, h2) and context ctx. 0 when valid; -1 when
 *  not, or when a scalar of the proof is not canonical, or a point is invalid or the identity.
 *  Pure and thread-safe. */
int cr_dleq_verify(const struct cr_dleq *proof,
		   const uint8_t g1[CR_POINT_BYTES], const uint8_t h1[CR_POINT_BYTES],
		   const uint8_t g2[CR_POINT_BYTES], const uint8_t h2[CR_POINT_BYTES],
		   const uint8_t *ctx, size_t ctx_len) CR_WUR;

/** Encodes *proof as c || z into out. */
void cr_dleq_encode(uint8_t out[CR_DLEQ_BYTES], const struct cr_dleq *proof);

/** Decodes exactly CR_DLEQ_BYTES bytes. 0 and *proof written; -1 (and *proof untouched) when a
 *  scalar is not canonical (>= l). */
int cr_dleq_decode(struct cr_dleq *proof, const uint8_t in[CR_DLEQ_BYTES]) CR_WUR;

#endif
