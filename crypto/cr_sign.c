#include "crypto/cr_sign.h"

#include <string.h>
#include <sodium.h>

int cr_init(void)
{
	/* sodium_init() returns 1 when already initialised; it is idempotent and thread-safe. */
	return sodium_init() < 0 ? -1 : 0;
}

static int identity_alloc(struct cr_identity *id)
{
	memset(id, 0, sizeof(*id));
	if (cr_init() != 0)
		return -1;
	id->sk = sodium_malloc(CR_SK_BYTES);
	return id->sk == NULL ? -1 : 0;
}

/* A finished identity's secret key never changes, so it is made read-only: a stray write through
 * a bad pointer then faults rather than silently turning every later signature invalid. The
 * protection is defence in depth; if the system refuses it the key still works. */
static void identity_seal(struct cr_identity *id)
{
	(void)sodium_mprotect_readonly(id->sk);
}

int cr_identity_generate(struct cr_identity *id)
{
	if (identity_alloc(id) != 0)
		return -1;
	crypto_sign_keypair(id->pk, id->sk);
	identity_seal(id);
	return 0;
}

int cr_identity_from_seed(struct cr_identity *id, const uint8_t seed[CR_SEED_BYTES])
{
	if (identity_alloc(id) != 0)
		return -1;
	crypto_sign_seed_keypair(id->pk, id->sk, seed);
	identity_seal(id);
	return 0;
}

int cr_identity_from_sk(struct cr_identity *id, const uint8_t sk[CR_SK_BYTES])
{
	uint8_t seed[CR_SEED_BYTES];

	if (identity_alloc(id) != 0)
		return -1;
	/* Re-derive from the seed half so that a key file whose halves disagree is refused rather
	 * than producing signatures that verify under no published key. */
	crypto_sign_ed25519_sk_to_seed(seed, sk);
	crypto_sign_seed_keypair(id->pk, id->sk, seed);
	sodium_memzero(seed, sizeof(seed));
	if (sodium_memcmp(id->pk, sk + CR_SEED_BYTES, CR_PK_BYTES) != 0) {
		cr_identity_free(id);
		return -1;
	}
	identity_seal(id);
	return 0;
}

void cr_identity_free(struct cr_identity *id)
{
	if (id->sk != NULL)
		sodium_free(id->sk); /* sodium_free makes it writable, wipes, then releases */
	memset(id, 0, sizeof(*id));
}

void cr_sign(const struct cr_identity *id, const uint8_t *msg, size_t len,
	     uint8_t sig[CR_SIG_BYTES])
{
	/* Signing with no key is our bug, never peer input: fail loudly, as libsodium does. */
	if (id->sk == NULL)
		sodium_misuse();
	crypto_sign_detached(sig, NULL, msg, len, id->sk);
}

int cr_verify(const uint8_t pk[CR_PK_BYTES], const uint8_t *msg, size_t len,
	      const uint8_t sig[CR_SIG_BYTES])
{
	/* libsodium >= 1.0.16 rejects small-order and non-canonical public keys and R, and a
	 * non-canonical S, so a verified signature is non-malleable. */
	return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : -1;
}
