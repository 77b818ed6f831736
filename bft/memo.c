/* A direct-mapped memo of verification results (memo.h). */
#include "bft/memo.h"

#include <stdlib.h>
#include <string.h>

enum { M_EMPTY = 0, M_VALID, M_INVALID, M_VALUE };

struct memo_entry {
	uint8_t key[CR_DIGEST_BYTES];
	uint8_t val[32];
	uint8_t state;
};

struct bft_memo {
	struct memo_entry *e;
	size_t mask;
	uint64_t hits, stores;
};

struct bft_memo *bft_memo_new(unsigned bits)
{
	struct bft_memo *m;

	if (bits < 8 || bits > 24)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->e = calloc((size_t)1 << bits, sizeof(*m->e));
	if (m->e == NULL) {
		free(m);
		return NULL;
	}
	m->mask = ((size_t)1 << bits) - 1;
	return m;
}

void bft_memo_free(struct bft_memo *m)
{
	if (m == NULL)
		return;
	free(m->e);
	free(m);
}

void bft_memo_key_init(struct cr_hash *h, const char *tag)
{
	cr_hash_init(h, "bft.memo");
	cr_hash_update(h, tag, strlen(tag) + 1);
}

void bft_memo_key_final(struct cr_hash *h, uint8_t key[CR_DIGEST_BYTES])
{
	cr_hash_final(h, key);
}

static struct memo_entry *slot(const struct bft_memo *m, const uint8_t key[CR_DIGEST_BYTES])
{
	size_t i = (size_t)key[0] | (size_t)key[1] << 8 | (size_t)key[2] << 16 |
		   (size_t)key[3] << 24;

	return &m->e[i & m->mask];
}

static const struct memo_entry *find(const struct bft_memo *m, const uint8_t key[CR_DIGEST_BYTES])
{
	const struct memo_entry *e;

	if (m == NULL)
		return NULL;
	e = slot(m, key);
	if (e->state == M_EMPTY || memcmp(e->key, key, CR_DIGEST_BYTES) != 0)
		return NULL;
	return e;
}

int bft_memo_verdict(struct bft_memo *m, const uint8_t key[CR_DIGEST_BYTES])
{
	const struct memo_entry *e = find(m, key);

	if (e == NULL || (e->state != M_VALID && e->state != M_INVALID))
		return -1;
	m->hits++;
	return e->state == M_VALID;
}

void bft_memo_put_verdict(struct bft_memo *m, const uint8_t key[CR_DIGEST_BYTES], bool valid)
{
	struct memo_entry *e;

	if (m == NULL)
		return;
	e = slot(m, key);
	memcpy(e->key, key, CR_DIGEST_BYTES);
	memset(e->val, 0, sizeof(e->val));
	e->state = valid ? M_VALID : M_INVALID;
	m->stores++;
}

bool bft_memo_value(struct bft_memo *m, const uint8_t key[CR_DIGEST_BYTES], uint8_t out[32])
{
	const struct memo_entry *e = find(m, key);

	if (e == NULL || e->state != M_VALUE)
		return false;
	m->hits++;
	memcpy(out, e->val, 32);
	return true;
}

void bft_memo_put_value(struct bft_memo *m, const uint8_t key[CR_DIGEST_BYTES], const uint8_t v[32])
{
	struct memo_entry *e;

	if (m == NULL)
		return;
	e = slot(m, key);
	memcpy(e->key, key, CR_DIGEST_BYTES);
	memcpy(e->val, v, 32);
	e->state = M_VALUE;
	m->stores++;
}

void bft_memo_counts(const struct bft_memo *m, uint64_t *hits, uint64_t *stores)
{
	*hits = m != NULL ? m->hits : 0;
	*stores = m != NULL ? m->stores : 0;
}
