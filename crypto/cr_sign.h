/*
 * cr_sign: Ed25519 identities (libsodium crypto_sign_*).
 *
 * A replica or client identity is a public key and a secret key; the secret half lives in
 * sodium_malloc memory (guard pages, mlock where allowed) and is wiped by cr_identity_free().
 * Signing is deterministic (RFC 8032), so the pure core may sign without a source of randomness.
 */
#ifndef CR_SIGN_H
#define CR_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define CR_WUR __attribute__((warn_unused_result))

#define CR_PK_BYTES   32u
#define CR_SK_BYTES   64u
#define CR_SEED_BYTES 32u
#define CR_SIG_BYTES  64u

struct cr_identity {
	uint8_t pk[CR_PK_BYTES];
	uint8_t *sk; /* CR_SK_BYTES in sodium_malloc memory; NULL when empty */
};

/** Initialises libsodium once; every cr_ entry point that needs it calls this. 0 or -1. */
int cr_init(void) CR_WUR;

/** Generates a fresh identity from the system RNG. 0, or -1 when secure memory is exhausted
 *  (then *id is left empty). The caller frees with cr_identity_free(). */
int cr_identity_generate(struct cr_identity *id) CR_WUR;

/** Derives an identity from a 32-byte seed (deterministic; used by tests and the simulator). */
int cr_identity_from_seed(struct cr_identity *id, const uint8_t seed[CR_SEED_BYTES]) CR_WUR;

/** Builds an identity from a stored 64-byte libsodium secret key; the public key is its second
 *  half and must match it. 0, or -1 when the key is inconsistent (*id left empty). */
int cr_identity_from_sk(struct cr_identity *id, const uint8_t sk[CR_SK_BYTES]) CR_WUR;

/** Wipes and releases the secret half; safe on an empty or already-freed identity. */
void cr_identity_free(struct cr_identity *id);

/** Signs msg[0..len) with id's secret key into sig. id must hold a secret key. */
void cr_sign(const struct cr_identity *id, const uint8_t *msg, size_t len,
	     uint8_t sig[CR_SIG_BYTES]);

/** Verifies sig over msg under pk: 0 when valid, -1 otherwise (fails closed, including on a
 *  small-order or non-canonical public key). */
int cr_verify(const uint8_t pk[CR_PK_BYTES], const uint8_t *msg, size_t len,
	      const uint8_t sig[CR_SIG_BYTES]) CR_WUR;

#endif
