#include "crypto/cr_hash.h"

#include <string.h>

void cr_hash_init(struct cr_hash *h, const char *tag)
{
	size_t n = strlen(tag);
	uint8_t len8;

	/* Truncating a long tag would make two distinct tags hash identically; tags are constants
	 * in our own code, so a long one is a bug, not input. */
	if (n > CR_TAG_MAX)
		sodium_misuse();
	len8 = (uint8_t)n;
	crypto_generichash_blake2b_init(&h->st, NULL, 0, CR_DIGEST_BYTES);
	crypto_generichash_blake2b_update(&h->st, &len8, 1);
	crypto_generichash_blake2b_update(&h->st, (const uint8_t *)tag, len8);
}

void cr_hash_update(struct cr_hash *h, const void *data, size_t len)
{
	if (len > 0)
		crypto_generichash_blake2b_update(&h->st, data, len);
}

void cr_hash_update_u64(struct cr_hash *h, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	crypto_generichash_blake2b_update(&h->st, b, sizeof(b));
}

void cr_hash_final(struct cr_hash *h, uint8_t out[CR_DIGEST_BYTES])
{
	crypto_generichash_blake2b_final(&h->st, out, CR_DIGEST_BYTES);
	/* The state of a digest over secret material (key file checksums, derived keys) would
	 * otherwise linger on the caller's stack. */
	sodium_memzero(h, sizeof(*h));
}

void cr_digest(uint8_t out[CR_DIGEST_BYTES], const char *tag, const void *data, size_t len)
{
	struct cr_hash h;

	cr_hash_init(&h, tag);
	cr_hash_update(&h, data, len);
	cr_hash_final(&h, out);
}

int cr_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}
