/*
 * net_map.c: the bounded hash map behind the connection and client tables (net_internal.h).
 */
#include <stdlib.h>

#include "net/net_internal.h"

/* Fibonacci hashing: multiply by 2^64/phi and keep the high bits. Keys are pipe ids (nng hands
 * them out sequentially from a random start) and client ids (small integers): both spread well. */
static uint32_t map_home(const struct net_map *m, uint64_t key)
{
	return (uint32_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & m->mask;
}

enum bft_err net_map_init(struct net_map *m, uint32_t limit)
{
	uint32_t size = 8;

	if (limit == 0 || limit > (UINT32_C(1) << 28))
		return BFT_EINVAL;
	while (size < 2 * limit)
		size *= 2;
	m->slots = calloc(size, sizeof(*m->slots));
	if (m->slots == NULL)
		return BFT_ENOMEM;
	m->mask = size - 1;
	m->count = 0;
	m->limit = limit;
	return BFT_OK;
}

void net_map_free(struct net_map *m)
{
	free(m->slots);
	m->slots = NULL;
	m->count = 0;
}

/* The slot holding key, or the empty slot where it would go. The table is never full (at most
 * half the slots are used), so the probe always ends. */
static uint32_t map_probe(const struct net_map *m, uint64_t key)
{
	uint32_t i = map_home(m, key);

	while (m->slots[i].used && m->slots[i].key != key)
		i = (i + 1) & m->mask;
	return i;
}

bool net_map_get(const struct net_map *m, uint64_t key, uint32_t *val)
{
	uint32_t i = map_probe(m, key);

	if (!m->slots[i].used)
		return false;
	if (val != NULL)
		*val = m->slots[i].val;
	return true;
}

enum bft_err net_map_put(struct net_map *m, uint64_t key, uint32_t val)
{
	uint32_t i = map_probe(m, key);

	if (!m->slots[i].used) {
		if (m->count >= m->limit)
			return BFT_EFULL;
		m->slots[i].used = 1;
		m->slots[i].key = key;
		m->count++;
	}
	m->slots[i].val = val;
	return BFT_OK;
}

/* Empties slot i and moves later members of its probe run back so that every remaining key is
 * still reachable from its home slot without crossing an empty slot. */
static void map_remove_at(struct net_map *m, uint32_t i)
{
	uint32_t j = i;

	for (;;) {
		j = (j + 1) & m->mask;
		if (!m->slots[j].used)
			break;
		uint32_t k = map_home(m, m->slots[j].key);
		/* The entry at j may move to i only if its home k is not cyclically in (i, j]. */
		bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].used = 0;
	m->slots[i].key = 0;
	m->slots[i].val = 0;
	m->count--;
}

bool net_map_del(struct net_map *m, uint64_t key)
{
	uint32_t i = map_probe(m, key);

	if (!m->slots[i].used)
		return false;
	map_remove_at(m, i);
	return true;
}

uint32_t net_map_del_val(struct net_map *m, uint32_t val)
{
	uint32_t removed = 0;
	uint32_t i = 0;

	/* A removal may pull a later entry into slot i, so i is examined again before moving on.
	 * Entries pulled in from the wrapped-around start of the table were examined already and
	 * did not match, so nothing is missed and nothing is examined forever. */
	while (i <= m->mask) {
		if (m->slots[i].used && m->slots[i].val == val) {
			map_remove_at(m, i);
			removed++;
		} else {
			i++;
		}
	}
	return removed;
}
