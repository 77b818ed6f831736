/*
 * cr_dealer: threshold key sets on ristretto255, made by a trusted dealer (bftkeygen).
 *
 * The dealer picks a secret x and a random polynomial p of degree f with p(0) = x (Shamir, "How
 * to share a secret", CACM 1979). Party i (1-based) gets the share x_i = p(i); everybody gets the
 * verification keys vk_i = g^{x_i} and the public key h = g^x. Any f+1 shares determine x; f
 * reveal nothing about it. A key set has a purpose, so that the common-coin keys (cr_coin) and the
 * encryption keys (cr_tdh2) are always separate secrets and cannot be swapped by mistake: each
 * scheme refuses a key set of the other purpose.
 *
 * The dealer and the checks here are pure: the polynomial comes from a 32-byte seed the caller
 * supplies (cr_dealer_deal), or from libsodium's RNG in the convenience wrapper for the key
 * generator (cr_dealer_deal_random).
 *
 * Encodings (all integers little-endian; the key file writer stores these bytes verbatim):
 *   public key set, CR_THRESH_PUBKEY_BYTES(n) = 8 + 32 (n + 1) bytes:
 *     version (1 byte, = 1) || purpose (1) || n (2) || f (2) || 0 0 || h (32) || vk_1 .. vk_n
 *   one share, CR_THRESH_SHARE_BYTES = 40 bytes:
 *     version (1 byte, = 1) || purpose (1) || index (2) || 0 0 0 0 || x_i (32)
 */
#ifndef CR_DEALER_H
#define CR_DEALER_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/cr_group.h"

#define CR_THRESH_N_MAX CR_GROUP_N_MAX /* 64 parties: share indices 1..64 */
#define CR_THRESH_SEED_BYTES 32u
#define CR_THRESH_VERSION 1u
#define CR_THRESH_PUBKEY_BYTES(n) (8u + CR_POINT_BYTES * ((size_t)(n) + 1u))
#define CR_THRESH_PUBKEY_BYTES_MAX CR_THRESH_PUBKEY_BYTES(CR_THRESH_N_MAX)
#define CR_THRESH_SHARE_BYTES (8u + CR_SCALAR_BYTES)

/** What a key set is for; part of the encoding, checked by every scheme. */
enum cr_thresh_purpose {
	CR_THRESH_COIN = 1, /* Cachin-Kursawe-Shoup common coin (cr_coin) */
	CR_THRESH_ENC = 2,  /* Shoup-Gennaro TDH2 threshold encryption (cr_tdh2) */
};

/** The public half of a key set, known to everyone. Plain data (about 2 KiB): copy it freely. */
struct cr_thresh_pubkey {
	uint32_t purpose;                               /* enum cr_thresh_purpose */
	uint32_t n;                                     /* parties, 1..CR_THRESH_N_MAX */
	uint32_t f;                                     /* threshold: any f+1 shares, f+1 <= n */
	uint8_t h[CR_POINT_BYTES];                      /* g^x */
	uint8_t vk[CR_THRESH_N_MAX][CR_POINT_BYTES];    /* vk[i-1] = g^{x_i}; unused slots zero */
};

/** One party's secret share. It holds secret material: keep it in cr_secret memory (for example
 *  cr_secret_alloc(&s, sizeof(struct cr_thresh_share))) and wipe it with cr_thresh_share_wipe. */
struct cr_thresh_share {
	uint32_t purpose;            /* enum cr_thresh_purpose */
	uint32_t index;              /* i, 1-based */
	uint8_t x[CR_SCALAR_BYTES];  /* x_i = p(i), canonical, non-zero */
};

/** Deals a key set for n parties with threshold f+1, deterministically from seed (the polynomial
 *  coefficients are hashes of the seed, the purpose, n, f and the coefficient number, so one seed
 *  gives independent coin and encryption keys). Writes *pk and shares[0..n) (caller-owned array
 *  of n; share i goes to shares[i-1]). The seed is borrowed and is as secret as the key set.
 *  0 on success; -1 when n is 0 or over CR_THRESH_N_MAX, f+1 > n, purpose is unknown (then *pk
 *  is zeroed and shares is not touched, since n cannot be trusted to size it), or (with
 *  negligible probability) a share or key came out zero (then *pk and shares[0..n) are
 *  zeroed). */
int cr_dealer_deal(struct cr_thresh_pubkey *pk, struct cr_thresh_share *shares, uint32_t n,
		   uint32_t f, enum cr_thresh_purpose purpose,
		   const uint8_t seed[CR_THRESH_SEED_BYTES]) CR_WUR;

/** cr_dealer_deal with a seed drawn from libsodium's RNG (randombytes_buf) and wiped afterwards.
 *  For the key generator only: the protocol core must never call this. Same contract, and -1 also
 *  when libsodium cannot be initialised. */
int cr_dealer_deal_random(struct cr_thresh_pubkey *pk, struct cr_thresh_share *shares,
			  uint32_t n, uint32_t f, enum cr_thresh_purpose purpose) CR_WUR;

/** Checks a public key set: known purpose, 1 <= n <= CR_THRESH_N_MAX, f+1 <= n, h and vk_1..vk_n
 *  valid non-identity points, unused vk slots zero, and the keys consistent: the vk_i and h lie
 *  in the exponent on one polynomial of degree <= f (each of h, vk_{f+2}..vk_n is interpolated
 *  from vk_1..vk_{f+1}). Without that, different sets of f+1 valid shares would combine to
 *  different coins. Costs about (n - f)(f + 1) scalar multiplications (~50 ms at n = 64): call
 *  it once, when loading keys. 0 when valid, -1 otherwise. */
int cr_thresh_pubkey_check(const struct cr_thresh_pubkey *pk) CR_WUR;

/** 0 when *share belongs to *pk: same purpose, 1 <= index <= n, x canonical and non-zero, and
 *  g^x = vk_index. -1 otherwise. (One base multiplication: call it when loading keys.) */
int cr_thresh_share_check(const struct cr_thresh_pubkey *pk,
			  const struct cr_thresh_share *share) CR_WUR;

/** Builds a public key set from its parts (for key stores that keep one 32-byte point per
 *  file, as cr_keyfile does): h = g^x and vk[0..n) = g^{x_1} .. g^{x_n}, all borrowed; then runs
 *  cr_thresh_pubkey_check. 0 and *pk written, or -1 and *pk untouched. */
int cr_thresh_pubkey_from_parts(struct cr_thresh_pubkey *pk, enum cr_thresh_purpose purpose,
				uint32_t n, uint32_t f, const uint8_t h[CR_POINT_BYTES],
				const uint8_t (*vk)[CR_POINT_BYTES]) CR_WUR;

/** Builds a share from its parts (a 32-byte scalar read from a key file, and the 1-based index
 *  of its holder). x is borrowed; *share then holds the secret. 0, or -1 (and *share untouched)
 *  for an unknown purpose, an index outside 1..CR_THRESH_N_MAX, or x not canonical and non-zero.
 *  Check it against the public key set with cr_thresh_share_check. */
int cr_thresh_share_from_parts(struct cr_thresh_share *share, enum cr_thresh_purpose purpose,
			       uint32_t index, const uint8_t x[CR_SCALAR_BYTES]) CR_WUR;

/** Encodes *pk (which must pass cr_thresh_pubkey_check's structural part) into out[0..out_len),
 *  out_len exactly CR_THRESH_PUBKEY_BYTES(pk->n). 0, or -1 on a wrong out_len or n out of range
 *  (out is then zeroed). */
int cr_thresh_pubkey_encode(uint8_t *out, size_t out_len,
			    const struct cr_thresh_pubkey *pk) CR_WUR;

/** Decodes and fully checks (cr_thresh_pubkey_check) a public key set from in[0..len): version 1,
 *  reserved bytes zero, len exactly CR_THRESH_PUBKEY_BYTES(n). 0 and *pk written, or -1 and *pk
 *  untouched. */
int cr_thresh_pubkey_decode(struct cr_thresh_pubkey *pk, const uint8_t *in, size_t len) CR_WUR;

/** Encodes *share into out (CR_THRESH_SHARE_BYTES). out then holds the secret: wipe it. */
void cr_thresh_share_encode(uint8_t out[CR_THRESH_SHARE_BYTES],
			    const struct cr_thresh_share *share);

/** Decodes one share from in[0..len): len exactly CR_THRESH_SHARE_BYTES, version 1, known
 *  purpose, 1 <= index <= CR_THRESH_N_MAX, reserved bytes zero, x canonical and non-zero.
 *  0 and *share written, or -1 and *share untouched. Check it against the public key set with
 *  cr_thresh_share_check. */
int cr_thresh_share_decode(struct cr_thresh_share *share, const uint8_t *in, size_t len) CR_WUR;

/** Wipes *share (sodium_memzero). */
void cr_thresh_share_wipe(struct cr_thresh_share *share);

#endif
