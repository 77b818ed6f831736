/*
 * net_fault.c: the fault shim (net.h "Fault shim"). It sits between net_send_replica and the
 * peer's connection, only for peers it was switched on for, and is for tests and chaos runs.
 *
 * Every choice comes from a per-peer splitmix64 stream seeded by the caller, drawn in a fixed
 * order per frame (drop, duplicate, then one delay per copy), so the same seed and the same
 * sends make the same choices. Delayed frames wait in a bounded binary heap ordered by
 * (due time, arrival order); net_fault_flush, called from the event loop, sends those that are
 * due. Reordering is the natural result of independent delays; the heap's arrival-order tie
 * break keeps frames with equal delays in order, as TCP would.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"

#define PPM 1000000u

static uint64_t fault_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static bool fault_chance(uint64_t *s, uint32_t ppm)
{
	/* Always draw, so the stream position does not depend on the settings' branches. */
	uint64_t r = fault_next(s) % PPM;

	return r < ppm;
}

enum bft_err net_fault_set(struct net *net, uint32_t peer, const struct net_fault *f,
			   uint64_t seed)
{
	struct net_peer *p;

	if (peer >= net->n || peer == net->self)
		return BFT_EINVAL;
	p = &net->peers[peer];
	if (f == NULL || (f->drop_ppm == 0 && f->dup_ppm == 0 && f->delay_ms_max == 0)) {
		p->faulty = false;
		memset(&p->fault, 0, sizeof(p->fault));
		return BFT_OK;
	}
	if (f->drop_ppm > PPM || f->dup_ppm > PPM || f->delay_ms_min > f->delay_ms_max)
		return BFT_EINVAL;
	p->fault = *f;
	/* Distinct streams per peer from one seed: mix the peer id in. */
	p->rng = seed ^ ((uint64_t)(peer + 1) * UINT64_C(0xd1b54a32d192ed03));
	p->faulty = true;
	return BFT_OK;
}

static bool held_less(const struct net_held *a, const struct net_held *b)
{
	return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->order < b->order);
}

static void held_swap(struct net_held *a, struct net_held *b)
{
	struct net_held t = *a;

	*a = *b;
	*b = t;
}

/* Holds a copy of bytes for peer until due_ms; drops it (counted) when the heap is full. */
static enum bft_err held_push(struct net *net, uint32_t peer, uint64_t due_ms,
			      const uint8_t *bytes, size_t len)
{
	uint32_t i;
	uint8_t *copy;

	if (net->held_len >= net->held_max) {
		net->peers[peer].st.fault_dropped++;
		return BFT_OK;
	}
	copy = malloc(len);
	if (copy == NULL)
		return BFT_ENOMEM;
	memcpy(copy, bytes, len);
	i = net->held_len++;
	net->held[i] = (struct net_held){ due_ms, net->held_order++, peer, (uint32_t)len, copy };
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!held_less(&net->held[i], &net->held[parent]))
			break;
		held_swap(&net->held[i], &net->held[parent]);
		i = parent;
	}
	net->peers[peer].st.fault_delayed++;
	return BFT_OK;
}

static struct net_held held_pop(struct net *net)
{
	struct net_held top = net->held[0];
	uint32_t i = 0;

	net->held[0] = net->held[--net->held_len];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, min = i;
		if (l < net->held_len && held_less(&net->held[l], &net->held[min]))
			min = l;
		if (r < net->held_len && held_less(&net->held[r], &net->held[min]))
			min = r;
		if (min == i)
			break;
		held_swap(&net->held[i], &net->held[min]);
		i = min;
	}
	return top;
}

enum bft_err net_fault_send(struct net *net, uint32_t to, const uint8_t *bytes, size_t len)
{
	struct net_peer *p = &net->peers[to];
	const struct net_fault *f = &p->fault;
	bool drop = fault_chance(&p->rng, f->drop_ppm);
	bool dup = fault_chance(&p->rng, f->dup_ppm);
	uint32_t copies = dup ? 2 : 1;
	enum bft_err first = BFT_OK;
	uint64_t now = net_now_ms();

	if (drop) {
		/* Reported as sent: a frame lost on the wire is invisible to the sender. */
		p->st.fault_dropped++;
		return BFT_OK;
	}
	if (dup)
		p->st.fault_duplicated++;
	for (uint32_t c = 0; c < copies; c++) {
		uint32_t span = f->delay_ms_max - f->delay_ms_min;
		uint32_t delay = f->delay_ms_min +
				 (uint32_t)(fault_next(&p->rng) % ((uint64_t)span + 1));
		enum bft_err e = delay == 0 ? net_peer_push(net, to, bytes, len)
					    : held_push(net, to, now + delay, bytes, len);

		if (e != BFT_OK && first == BFT_OK)
			first = e;
	}
	return first;
}

int net_fault_timeout_ms(const struct net *net)
{
	uint64_t now;

	if (net->held_len == 0)
		return -1;
	now = net_now_ms();
	if (net->held[0].due_ms <= now)
		return 0;
	if (net->held[0].due_ms - now > (uint64_t)INT_MAX)
		return INT_MAX;
	return (int)(net->held[0].due_ms - now);
}

size_t net_fault_flush(struct net *net)
{
	uint64_t now = net_now_ms();
	size_t sent = 0;

	while (net->held_len > 0 && net->held[0].due_ms <= now) {
		struct net_held h = held_pop(net);
		if (net_peer_push(net, h.peer, h.bytes, h.len) == BFT_OK)
			sent++;
		free(h.bytes);
	}
	return sent;
}

void net_fault_clear(struct net *net)
{
	for (uint32_t i = 0; i < net->held_len; i++)
		free(net->held[i].bytes);
	net->held_len = 0;
}
