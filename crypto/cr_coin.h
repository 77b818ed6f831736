/*
 * cr_coin: the threshold common coin of Cachin, Kursawe and Shoup, "Random Oracles in
 * Constantinople: Practical Asynchronous Byzantine Agreement using Cryptography" (PODC 2000,
 * JoC 2005), §4 ("the Diffie-Hellman based coin"), on ristretto255.
 *
 * For a coin name C (any byte string: the protocol instance, epoch and round), party i reveals
 * the share sigma_i = H(C)^{x_i} with a DLEQ proof that log_{H(C)} sigma_i = log_g vk_i. Any f+1
 * valid shares interpolate in the exponent to sigma = H(C)^x, the same point whichever f+1 are
 * used; the coin is a hash of sigma. Before f+1 parties have revealed their shares the value is
 * unpredictable (computational Diffie-Hellman in the random-oracle model).
 *
 * Use a key set of purpose CR_THRESH_COIN (cr_dealer.h); every function refuses the others.
 *
 * Combine only shares that cr_coin_share_verify accepted. cr_coin_combine cannot tell a bad share
 * from a good one (that is what the proofs are for), and one bad share among the f+1 yields a
 * wrong coin that differs between replicas using different subsets: agreement then fails.
 *
 * Encoded share, CR_COIN_SHARE_BYTES = 98 bytes:
 *   index (2 bytes, little-endian, 1-based) || sigma_i (32) || proof c (32) || proof z (32)
 */
#ifndef CR_COIN_H
#define CR_COIN_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/cr_dealer.h"
#include "crypto/cr_dleq.h"
#include "crypto/cr_group.h"

#define CR_COIN_SHARE_BYTES (2u + CR_POINT_BYTES + CR_DLEQ_BYTES)
#define CR_COIN_VALUE_BYTES 32u
#define CR_COIN_RAND_BYTES  CR_DLEQ_RAND_BYTES

/** One party's share of one coin. Plain public data. */
struct cr_coin_share {
	uint32_t index;                 /* the sender's share index, 1-based */
	uint8_t sigma[CR_POINT_BYTES];  /* H(C)^{x_i} */
	struct cr_dleq proof;           /* log_g vk_i = log_{H(C)} sigma_i */
};

/** A combined coin: 32 uniformly random bytes, and one bit taken from them. */
struct cr_coin_value {
	uint8_t value[CR_COIN_VALUE_BYTES]; /* BLAKE2b-256("cr.coin.value", len(C), C, sigma) */
	uint8_t bit;                        /* value[0] & 1 */
};

/** Makes this party's share of coin name[0..name_len) with its secret key share *sk (purpose
 *  CR_THRESH_COIN). rand: 32 bytes of randomness for the proof nonce (hedged, see cr_dleq.h; the
 *  core passes bytes it received in an event). All inputs are borrowed. 0 and *out written, or
 *  -1 and *out zeroed when *sk is not a valid coin key share. Costs three scalar
 *  multiplications and a hash to the group. */
int cr_coin_share_make(struct cr_coin_share *out, const struct cr_thresh_share *sk,
		       const uint8_t *name, size_t name_len,
		       const uint8_t rand[CR_COIN_RAND_BYTES]) CR_WUR;

/** Verifies a share of coin name[0..name_len) against the verification key of the index it
 *  claims. 0 when valid; -1 when pk is not a coin key set, the index is outside 1..pk->n, sigma
 *  is not a valid non-identity point, or the proof does not verify (a share made with another
 *  index's key fails here). Pure, thread-safe; about four scalar multiplications. */
int cr_coin_share_verify(const struct cr_thresh_pubkey *pk, const uint8_t *name, size_t name_len,
			 const struct cr_coin_share *share) CR_WUR;

/** Combines count >= f+1 verified shares (each accepted by cr_coin_share_verify for this pk and
 *  name: see the warning above) into the coin. The first f+1 shares are used; all must have
 *  distinct indices in 1..pk->n. cache (caller-owned, may be NULL) memoises the Lagrange
 *  coefficients. 0 and *out written; -1 and *out zeroed when pk is not a coin key set, fewer
 *  than f+1 shares are given, an index is out of range or repeated, or a point is invalid. */
int cr_coin_combine(struct cr_coin_value *out, const struct cr_thresh_pubkey *pk,
		    const uint8_t *name, size_t name_len, const struct cr_coin_share *shares,
		    size_t count, struct cr_lagrange_cache *cache) CR_WUR;

/** Encodes *share into out (CR_COIN_SHARE_BYTES). */
void cr_coin_share_encode(uint8_t out[CR_COIN_SHARE_BYTES], const struct cr_coin_share *share);

/** Decodes a share from in[0..len): len exactly CR_COIN_SHARE_BYTES, index in
 *  1..CR_THRESH_N_MAX, sigma a valid non-identity point, proof scalars canonical. 0 and *share
 *  written, or -1 and *share untouched. Decoding does not verify the proof. */
int cr_coin_share_decode(struct cr_coin_share *share, const uint8_t *in, size_t len) CR_WUR;

#endif
