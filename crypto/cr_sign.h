/*
 * cr_sign: Ed25519 identities (libsodium crypto_sign_*).
 *
 * A replica or client identity is a public key and a secret key; the secret half lives in
 * sodium_malloc memory (guard pages, mlock where allowed) and is wiped by cr_identity_free().
 * Signing is deterministic (RFC 8032), so the pure core may sign without a source of randomness.
 * Once created, the secret half is read-only: a stray write to it faults instead of corrupting it.
 */
#ifndef CR_SIGN_H
#define CR_SIGN_H

#include <stddef.h>
#include <stdint.h>

#ifndef CR_WUR
#define CR_WUR __attribute__((warn_unused_result))
#endif

#define CR_PK_BYTES   32u
#define CR_SK_BYTES   64u
#define CR_SEED_BYTES 32u
#define CR_SIG_BYTES  64u

struct cr_identity {
	uint8_t pk[CR_PK_BYTES];
	uint8_t *sk; /* CR_SK_BYTES in sodium_malloc memory; NULL when empty */
};

/** Initialises libsodium; idempotent and thread-safe, and every cr_ entry point that needs it
 *  calls it. 0, or -1 when libsodium cannot be initialised (no usable random source). */
int cr_init(void) CR_WUR;

/** Generates a fresh identity from the system RNG into *id (empty or uninitialised). 0, or -1
 *  when libsodium cannot be initialised or secure memory is exhausted (then *id is left empty).
 *  The caller frees with cr_identity_free(). */
int cr_identity_generate(struct cr_identity *id) CR_WUR;

/** Derives an identity from a 32-byte seed (deterministic; used by tests and the simulator).
 *  The seed is borrowed (the caller wipes it). Same errors and ownership as
 *  cr_identity_generate(). */
int cr_identity_from_seed(struct cr_identity *id, const uint8_t seed[CR_SEED_BYTES]) CR_WUR;

/** Builds an identity from a stored 64-byte libsodium secret key (seed || public key); the public
 *  key half must be the one the seed half derives. sk is borrowed (the caller wipes it).
 *  0, or -1 when the key is inconsistent or memory is exhausted (*id left empty). */
int cr_identity_from_sk(struct cr_identity *id, const uint8_t sk[CR_SK_BYTES]) CR_WUR;

/** Wipes and releases the secret half; safe on an empty or already-freed identity. */
void cr_identity_free(struct cr_identity *id);

/** Signs msg[0..len) with id's secret key into sig (msg may be NULL when len is 0). id must hold
 *  a secret key: signing with an empty identity is a programming error and aborts through
 *  sodium_misuse(). */
void cr_sign(const struct cr_identity *id, const uint8_t *msg, size_t len,
	     uint8_t sig[CR_SIG_BYTES]);

/** Verifies sig over msg under pk: 0 when valid, -1 otherwise (fails closed, including on a
 *  small-order or non-canonical public key). */
int cr_verify(const uint8_t pk[CR_PK_BYTES], const uint8_t *msg, size_t len,
	      const uint8_t sig[CR_SIG_BYTES]) CR_WUR;

#endif
