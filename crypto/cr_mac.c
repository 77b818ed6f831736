#include "crypto/cr_mac.h"

#include <string.h>
#include <sodium.h>

#include "crypto/cr_hash.h"

#define TAG_DERIVE "mac.derive"

/* Allocates the key buffer; the caller fills it and then seals it. */
static int key_alloc(struct cr_mac_key *key)
{
	return cr_secret_alloc(&key->s, CR_MAC_KEY_BYTES);
}

/* Makes the filled key read-only. Refusal by the system only loses the hardening, so the result
 * is deliberately not acted on. */
static void key_seal(struct cr_mac_key *key)
{
	int rc = cr_secret_readonly(&key->s);

	(void)rc;
}

int cr_mac_key_generate(struct cr_mac_key *key)
{
	if (key_alloc(key) != 0)
		return -1;
	randombytes_buf(key->s.p, CR_MAC_KEY_BYTES);
	key_seal(key);
	return 0;
}

int cr_mac_key_from_bytes(struct cr_mac_key *key, const uint8_t raw[CR_MAC_KEY_BYTES])
{
	if (key_alloc(key) != 0)
		return -1;
	memcpy(key->s.p, raw, CR_MAC_KEY_BYTES);
	key_seal(key);
	return 0;
}

int cr_mac_key_derive(struct cr_mac_key *key, const uint8_t *secret, size_t secret_len,
		      const char *label)
{
	crypto_generichash_blake2b_state st;
	size_t label_len;
	uint8_t len8;

	memset(key, 0, sizeof(*key));
	if (secret == NULL || label == NULL)
		return -1;
	if (secret_len < CR_MAC_SECRET_MIN || secret_len > CR_MAC_SECRET_MAX)
		return -1;
	label_len = strlen(label);
	if (label_len > CR_MAC_LABEL_MAX)
		return -1;
	if (key_alloc(key) != 0)
		return -1;
	/* The same framing as cr_hash (length-prefixed tag), then the length-prefixed label, under
	 * the secret as BLAKE2b key: a PRF of the label, so distinct labels give independent keys
	 * and no label is a prefix of another's input. */
	len8 = (uint8_t)strlen(TAG_DERIVE);
	crypto_generichash_blake2b_init(&st, secret, secret_len, CR_MAC_KEY_BYTES);
	crypto_generichash_blake2b_update(&st, &len8, 1);
	crypto_generichash_blake2b_update(&st, (const uint8_t *)TAG_DERIVE, len8);
	len8 = (uint8_t)label_len;
	crypto_generichash_blake2b_update(&st, &len8, 1);
	crypto_generichash_blake2b_update(&st, (const uint8_t *)label, label_len);
	crypto_generichash_blake2b_final(&st, key->s.p, CR_MAC_KEY_BYTES);
	sodium_memzero(&st, sizeof(st));
	key_seal(key);
	return 0;
}

void cr_mac_key_free(struct cr_mac_key *key)
{
	cr_secret_free(&key->s);
}

int cr_mac_compute(uint8_t mac[CR_MAC_BYTES], const struct cr_mac_key *key, const void *msg,
		   size_t len)
{
	if (key->s.p == NULL || key->s.len != CR_MAC_KEY_BYTES || (msg == NULL && len > 0)) {
		memset(mac, 0, CR_MAC_BYTES);
		return -1;
	}
	crypto_generichash_blake2b(mac, CR_MAC_BYTES, msg, len, key->s.p, CR_MAC_KEY_BYTES);
	return 0;
}

int cr_mac_verify(const uint8_t mac[CR_MAC_BYTES], const struct cr_mac_key *key, const void *msg,
		  size_t len)
{
	uint8_t want[CR_MAC_BYTES];
	int ok;

	if (cr_mac_compute(want, key, msg, len) != 0)
		return -1;
	/* crypto_verify_32 takes the same time wherever the first difference is. */
	ok = crypto_verify_32(want, mac) == 0;
	sodium_memzero(want, sizeof(want));
	return ok ? 0 : -1;
}

void cr_mac_short(uint8_t tag[CR_MAC_SHORT_BYTES], const uint8_t key[CR_MAC_KEY_BYTES],
		  const void *msg, size_t len)
{
	crypto_generichash_blake2b(tag, CR_MAC_SHORT_BYTES, msg, len, key, CR_MAC_KEY_BYTES);
}

int cr_mac_short_verify(const uint8_t tag[CR_MAC_SHORT_BYTES],
			const uint8_t key[CR_MAC_KEY_BYTES], const void *msg, size_t len)
{
	uint8_t want[CR_MAC_SHORT_BYTES];
	int ok;

	if (msg == NULL && len > 0)
		return -1;
	cr_mac_short(want, key, msg, len);
	ok = crypto_verify_16(want, tag) == 0;
	sodium_memzero(want, sizeof(want));
	return ok ? 0 : -1;
}

void cr_mac_short_prefixed(uint8_t tag[CR_MAC_SHORT_BYTES], const uint8_t key[CR_MAC_KEY_BYTES],
			   const uint8_t prefix[CR_MAC_PREFIX_BYTES], const void *msg, size_t len)
{
	crypto_generichash_blake2b_state st;

	crypto_generichash_blake2b_init(&st, key, CR_MAC_KEY_BYTES, CR_MAC_SHORT_BYTES);
	crypto_generichash_blake2b_update(&st, prefix, CR_MAC_PREFIX_BYTES);
	if (len > 0)
		crypto_generichash_blake2b_update(&st, msg, len);
	crypto_generichash_blake2b_final(&st, tag, CR_MAC_SHORT_BYTES);
	sodium_memzero(&st, sizeof(st));
}

int cr_mac_short_prefixed_verify(const uint8_t tag[CR_MAC_SHORT_BYTES],
				 const uint8_t key[CR_MAC_KEY_BYTES],
				 const uint8_t prefix[CR_MAC_PREFIX_BYTES], const void *msg,
				 size_t len)
{
	uint8_t want[CR_MAC_SHORT_BYTES];
	int ok;

	if (msg == NULL && len > 0)
		return -1;
	cr_mac_short_prefixed(want, key, prefix, msg, len);
	ok = crypto_verify_16(want, tag) == 0;
	sodium_memzero(want, sizeof(want));
	return ok ? 0 : -1;
}
