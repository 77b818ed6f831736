#include "crypto/cr_secret.h"

#include <string.h>
#include <sodium.h>

#include "crypto/cr_sign.h"

int cr_secret_alloc(struct cr_secret *s, size_t len)
{
	uint8_t *p;

	memset(s, 0, sizeof(*s));
	if (len == 0 || len > CR_SECRET_MAX)
		return -1;
	if (cr_init() != 0)
		return -1;
	p = sodium_malloc(len);
	if (p == NULL)
		return -1;
	/* sodium_malloc fills with 0xdb to expose use of uninitialised memory; a secret starts at
	 * zero so that a partially written key is at least deterministic. */
	sodium_memzero(p, len);
	s->p = p;
	s->len = len;
	return 0;
}

int cr_secret_from_bytes(struct cr_secret *s, const void *src, size_t len)
{
	if (cr_secret_alloc(s, len) != 0)
		return -1;
	memcpy(s->p, src, len);
	return 0;
}

void cr_secret_free(struct cr_secret *s)
{
	/* sodium_free makes the region writable again, wipes it and checks the canary. */
	if (s->p != NULL)
		sodium_free(s->p);
	s->p = NULL;
	s->len = 0;
}

int cr_secret_readonly(struct cr_secret *s)
{
	if (s->p == NULL)
		return -1;
	return sodium_mprotect_readonly(s->p) == 0 ? 0 : -1;
}

int cr_secret_readwrite(struct cr_secret *s)
{
	if (s->p == NULL)
		return -1;
	return sodium_mprotect_readwrite(s->p) == 0 ? 0 : -1;
}
