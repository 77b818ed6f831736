/*
 * cr_tdh2: threshold encryption with labels, the TDH2 scheme of Shoup and Gennaro, "Securing
 * Threshold Cryptosystems against Chosen Ciphertext Attack" (EUROCRYPT'98, JoC 2002), §5, on
 * ristretto255, and a hybrid seal of arbitrary payloads under it (XChaCha20-Poly1305).
 *
 * Honey Badger BFT (Miller et al., CCS'16, §4.4) encrypts each proposal so that the adversary
 * cannot choose which transactions to censor before the set is fixed; after agreement, f+1
 * decryption shares reveal it.
 *
 * The scheme. Key set of purpose CR_THRESH_ENC (cr_dealer.h): h = g^x, vk_i = g^{x_i}, and the
 * second generator gbar (cr_group.h). To encrypt a 32-byte m under label L: pick r, s;
 * u = g^r, ubar = gbar^r, c = m XOR H1(h^r), w = g^s, wbar = gbar^s, e = H2(c, L, u, w, ubar,
 * wbar), f = s + r e. The ciphertext is (c, L, u, ubar, e, f). Anyone can check it (recompute
 * w = g^f / u^e, wbar = gbar^f / ubar^e and e): the check is a proof that whoever made it knew r,
 * which is what makes TDH2 secure against chosen-ciphertext attacks. Party i's decryption share
 * is u_i = u^{x_i} with a DLEQ proof (log_g vk_i = log_u u_i); f+1 valid shares interpolate to
 * h^r and give m.
 *
 * The label L is not part of the encoding: every party supplies it from its own context (the
 * epoch and proposer, say). A ciphertext moved to another context then fails the check, instead
 * of being decrypted there under the label it carried.
 *
 * NEVER COMBINE SHARES BEFORE VERIFYING THEM, and never decrypt a ciphertext that fails the check
 * (cr_tdh2_share_make and cr_tdh2_share_verify refuse one). It is tempting to skip the proofs,
 * combine any f+1 shares, and "if the payload does not open, try another subset". That is unsafe
 * here: Poly1305 is a MAC, not a commitment to its key, so a faulty proposer can make one sealed
 * payload that opens correctly under two different keys with two different plaintexts
 * (a "partitioning" or "invisible salamander" attack on non-committing AEADs). With a faulty
 * share-sender supplying a share that steers some replicas' combination to the second key,
 * honest replicas would accept different plaintexts for the same agreed ciphertext, and the
 * replicated log would fork. With only verified shares, every subset of f+1 yields the same
 * h^r, hence the same key, hence the same plaintext (or the same failure) everywhere.
 *
 * Encodings:
 *   ciphertext, CR_TDH2_CT_BYTES = 160: c (32) || u (32) || ubar (32) || e (32) || f (32)
 *   decryption share, CR_TDH2_SHARE_BYTES = 98: index (2, little-endian) || u_i (32) || proof (64)
 *   sealed payload, payload length + CR_TDH2_SEAL_OVERHEAD (176):
 *     TDH2 ciphertext (160) || XChaCha20-Poly1305 ciphertext of the payload with its tag (len + 16)
 */
#ifndef CR_TDH2_H
#define CR_TDH2_H

#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

#include "crypto/cr_dealer.h"
#include "crypto/cr_dleq.h"
#include "crypto/cr_group.h"

#define CR_TDH2_KEY_BYTES   32u /* the plaintext m of TDH2: a symmetric key */
#define CR_TDH2_RAND_BYTES  32u
#define CR_TDH2_CT_BYTES    (CR_TDH2_KEY_BYTES + 2u * CR_POINT_BYTES + 2u * CR_SCALAR_BYTES)
#define CR_TDH2_SHARE_BYTES (2u + CR_POINT_BYTES + CR_DLEQ_BYTES)
#define CR_TDH2_SEAL_OVERHEAD (CR_TDH2_CT_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)

/** A TDH2 ciphertext (without its label). Plain public data. */
struct cr_tdh2_ct {
	uint8_t c[CR_TDH2_KEY_BYTES];  /* m XOR H1(h^r) */
	uint8_t u[CR_POINT_BYTES];     /* g^r */
	uint8_t ubar[CR_POINT_BYTES];  /* gbar^r */
	uint8_t e[CR_SCALAR_BYTES];    /* H2(c, L, u, w, ubar, wbar) */
	uint8_t f[CR_SCALAR_BYTES];    /* s + r e */
};

/** One party's decryption share of one ciphertext. Plain public data. */
struct cr_tdh2_share {
	uint32_t index;              /* the sender's share index, 1-based */
	uint8_t ui[CR_POINT_BYTES];  /* u^{x_i} */
	struct cr_dleq proof;        /* log_g vk_i = log_u u_i */
};

/** Encrypts the 32-byte m under label[0..label_len) and the public key set *pk (purpose
 *  CR_THRESH_ENC). r and s are hashes of rand (32 fresh random bytes the caller supplies), h, m
 *  and the label, so a repeated rand with a different message still gives fresh r and s. All
 *  inputs are borrowed. 0 and *ct written; -1 and *ct zeroed when *pk is not an encryption key
 *  set with a valid h, or (negligibly) a degenerate r or s came up. */
int cr_tdh2_encrypt(struct cr_tdh2_ct *ct, const uint8_t m[CR_TDH2_KEY_BYTES],
		    const uint8_t *label, size_t label_len, const struct cr_thresh_pubkey *pk,
		    const uint8_t rand[CR_TDH2_RAND_BYTES]) CR_WUR;

/** Checks a ciphertext under label[0..label_len) (Shoup-Gennaro's validity test): u and ubar
 *  valid non-identity points, e and f canonical, and e = H2(c, L, u, g^f/u^e, ubar,
 *  gbar^f/ubar^e). 0 when valid, -1 otherwise. Pure, thread-safe; four scalar multiplications. */
int cr_tdh2_ct_check(const struct cr_tdh2_ct *ct, const uint8_t *label, size_t label_len) CR_WUR;

/** Makes this party's decryption share of *ct with its key share *sk (purpose CR_THRESH_ENC),
 *  after checking *ct under the label: a party must never decrypt an invalid ciphertext (that is
 *  where chosen-ciphertext security comes from). rand: 32 bytes for the proof nonce (hedged, see
 *  cr_dleq.h). 0 and *out written; -1 and *out zeroed when the ciphertext fails the check or *sk
 *  is not a valid encryption key share. */
int cr_tdh2_share_make(struct cr_tdh2_share *out, const struct cr_thresh_share *sk,
		       const struct cr_tdh2_ct *ct, const uint8_t *label, size_t label_len,
		       const uint8_t rand[CR_TDH2_RAND_BYTES]) CR_WUR;

/** Verifies a decryption share of *ct (which must itself check under the label) against the
 *  verification key of the index the share claims. 0 when valid; -1 when pk is not an
 *  encryption key set, the ciphertext fails the check, the index is outside 1..pk->n, u_i is
 *  not a valid non-identity point, or the proof does not verify. Pure, thread-safe; about eight
 *  scalar multiplications (the ciphertext check is repeated on every call). */
int cr_tdh2_share_verify(const struct cr_thresh_pubkey *pk, const struct cr_tdh2_ct *ct,
			 const uint8_t *label, size_t label_len,
			 const struct cr_tdh2_share *share) CR_WUR;

/** cr_tdh2_share_make without the ciphertext check, for a caller that ran cr_tdh2_ct_check on
 *  exactly this *ct and label and got 0 (Honey Badger checks each agreed ciphertext once, then
 *  makes its share and verifies everybody's). Calling it on an unchecked ciphertext is the
 *  decryption oracle that cr_tdh2_share_make's check exists to prevent. */
int cr_tdh2_share_make_checked(struct cr_tdh2_share *out, const struct cr_thresh_share *sk,
			       const struct cr_tdh2_ct *ct, const uint8_t *label, size_t label_len,
			       const uint8_t rand[CR_TDH2_RAND_BYTES]) CR_WUR;

/** cr_tdh2_share_verify without repeating the ciphertext check (about half its cost), under the
 *  same precondition as cr_tdh2_share_make_checked: *ct passed cr_tdh2_ct_check under label. */
int cr_tdh2_share_verify_checked(const struct cr_thresh_pubkey *pk, const struct cr_tdh2_ct *ct,
				 const uint8_t *label, size_t label_len,
				 const struct cr_tdh2_share *share) CR_WUR;

/** Combines count >= f+1 verified shares of *ct (each accepted by cr_tdh2_share_verify: see the
 *  warning above) into the plaintext m. The first f+1 shares are used; their indices must be
 *  distinct and in 1..pk->n. cache (caller-owned, may be NULL) memoises Lagrange coefficients.
 *  0 and m written; -1 and m zeroed when pk is not an encryption key set, fewer than f+1 shares
 *  are given, an index is out of range or repeated, or a point is invalid. m is secret until
 *  the protocol releases it; the caller wipes it. */
int cr_tdh2_combine(uint8_t m[CR_TDH2_KEY_BYTES], const struct cr_thresh_pubkey *pk,
		    const struct cr_tdh2_ct *ct, const struct cr_tdh2_share *shares, size_t count,
		    struct cr_lagrange_cache *cache) CR_WUR;

/** Encodes *ct into out (CR_TDH2_CT_BYTES). */
void cr_tdh2_ct_encode(uint8_t out[CR_TDH2_CT_BYTES], const struct cr_tdh2_ct *ct);

/** Decodes a ciphertext from in[0..len): len exactly CR_TDH2_CT_BYTES, u and ubar valid
 *  non-identity points, e and f canonical. 0 and *ct written, or -1 and *ct untouched. Decoding
 *  does not run the check (it needs the label): call cr_tdh2_ct_check. */
int cr_tdh2_ct_decode(struct cr_tdh2_ct *ct, const uint8_t *in, size_t len) CR_WUR;

/** Encodes *share into out (CR_TDH2_SHARE_BYTES). */
void cr_tdh2_share_encode(uint8_t out[CR_TDH2_SHARE_BYTES], const struct cr_tdh2_share *share);

/** Decodes a share from in[0..len): len exactly CR_TDH2_SHARE_BYTES, index in
 *  1..CR_THRESH_N_MAX, u_i a valid non-identity point, proof scalars canonical. 0 and *share
 *  written, or -1 and *share untouched. Decoding does not verify the proof. */
int cr_tdh2_share_decode(struct cr_tdh2_share *share, const uint8_t *in, size_t len) CR_WUR;

/* ---------------------------------------------------------------------------------------------
 * Hybrid sealing: TDH2 carries a fresh 32-byte key m; the payload is encrypted under
 * (key, nonce) = BLAKE2b-512("cr.tdh2.seal.aead", m)[0..32), [32..56) with XChaCha20-Poly1305 and
 * the label as associated data. m is a hash of rand, the label and the payload, so even a
 * repeated rand never reuses a (key, nonce) pair for two different payloads. */

/** The sealed size of a payload of payload_len bytes, or 0 when it would overflow or exceed
 *  what XChaCha20-Poly1305 can encrypt. */
size_t cr_tdh2_sealed_len(size_t payload_len);

/** Seals payload[0..payload_len) under label[0..label_len) and *pk into out[0..out_len), out_len
 *  exactly cr_tdh2_sealed_len(payload_len). rand: 32 fresh random bytes from the caller. out may
 *  not overlap the payload. 0 on success; -1 (out zeroed) on a wrong out_len or any
 *  cr_tdh2_encrypt error. */
int cr_tdh2_seal(uint8_t *out, size_t out_len, const uint8_t *payload, size_t payload_len,
		 const uint8_t *label, size_t label_len, const struct cr_thresh_pubkey *pk,
		 const uint8_t rand[CR_TDH2_RAND_BYTES]) CR_WUR;

/** Decodes the TDH2 ciphertext at the front of a sealed payload (strict, as cr_tdh2_ct_decode;
 *  sealed_len must be at least CR_TDH2_SEAL_OVERHEAD). The parties then check it, exchange
 *  verified shares and combine them to the key for cr_tdh2_open. 0, or -1 and *ct untouched. */
int cr_tdh2_sealed_ct(struct cr_tdh2_ct *ct, const uint8_t *sealed, size_t sealed_len) CR_WUR;

/** Opens sealed[0..sealed_len) with the key m that cr_tdh2_combine recovered, under
 *  label[0..label_len), into payload[0..payload_len), payload_len exactly sealed_len -
 *  CR_TDH2_SEAL_OVERHEAD (payload may be NULL when that is 0). 0 on success; -1 (payload zeroed)
 *  on a wrong length, a malformed header, or when the authentication fails (wrong key, label or
 *  a tampered body). */
int cr_tdh2_open(uint8_t *payload, size_t payload_len, const uint8_t *sealed, size_t sealed_len,
		 const uint8_t *label, size_t label_len,
		 const uint8_t m[CR_TDH2_KEY_BYTES]) CR_WUR;

#endif
