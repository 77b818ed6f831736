#include "crypto/cr_seal.h"

#include <string.h>
#include <sodium.h>

int cr_seal(uint8_t *box, const uint8_t pk[CR_PK_BYTES], const uint8_t *msg, size_t len)
{
	uint8_t xpk[crypto_box_PUBLICKEYBYTES];

	if (cr_init() != 0 || crypto_sign_ed25519_pk_to_curve25519(xpk, pk) != 0)
		return -1;
	return crypto_box_seal(box, msg, len, xpk) == 0 ? 0 : -1;
}

int cr_seal_open(uint8_t *out, const struct cr_identity *id, const uint8_t *box, size_t box_len)
{
	uint8_t xpk[crypto_box_PUBLICKEYBYTES];
	struct cr_secret xsk = {0};
	int rc = -1;

	if (box_len < CR_SEAL_OVERHEAD || id == NULL || id->sk == NULL)
		return -1;
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, id->pk) != 0)
		goto out;
	if (cr_secret_alloc(&xsk, crypto_box_SECRETKEYBYTES) != 0)
		goto out;
	if (crypto_sign_ed25519_sk_to_curve25519(xsk.p, id->sk) != 0)
		goto out;
	rc = crypto_box_seal_open(out, box, box_len, xpk, xsk.p) == 0 ? 0 : -1;
out:
	cr_secret_free(&xsk);
	if (rc != 0 && box_len >= CR_SEAL_OVERHEAD)
		sodium_memzero(out, box_len - CR_SEAL_OVERHEAD);
	return rc;
}

int cr_link_key(uint8_t key[CR_LINK_KEY_BYTES], const struct cr_identity *id,
		const uint8_t peer_pk[CR_PK_BYTES], uint32_t from, uint32_t to)
{
	static const char label[] = "bft.link.v1";
	uint8_t xpk[crypto_scalarmult_BYTES], ctx[sizeof(label) - 1 + 8];
	struct cr_secret xsk = {0}, shared = {0};
	int rc = -1;

	if (id == NULL || id->sk == NULL || cr_init() != 0)
		goto out;
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, peer_pk) != 0 ||
	    cr_secret_alloc(&xsk, crypto_scalarmult_SCALARBYTES) != 0 ||
	    cr_secret_alloc(&shared, crypto_scalarmult_BYTES) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(xsk.p, id->sk) != 0 ||
	    crypto_scalarmult(shared.p, xsk.p, xpk) != 0) /* -1 on an all-zero result */
		goto out;
	memcpy(ctx, label, sizeof(label) - 1);
	for (int i = 0; i < 4; i++) {
		ctx[sizeof(label) - 1 + i] = (uint8_t)(from >> (8 * i));
		ctx[sizeof(label) + 3 + i] = (uint8_t)(to >> (8 * i));
	}
	rc = crypto_generichash(key, CR_LINK_KEY_BYTES, ctx, sizeof(ctx), shared.p,
				crypto_scalarmult_BYTES) == 0 ? 0 : -1;
out:
	cr_secret_free(&xsk);
	cr_secret_free(&shared);
	if (rc != 0)
		sodium_memzero(key, CR_LINK_KEY_BYTES);
	return rc;
}
