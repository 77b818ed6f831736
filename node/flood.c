#include "node/flood.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bft/msg.h"
#include "net/net.h"

#define FLOOD_RATE_DEFAULT 200u
#define FLOOD_OVERSIZED_MS_DEFAULT 5000u
#define FLOOD_BURST_MS 250u        /* at most this much time's worth of frames in one tick */
#define FLOOD_JUNK_MAX 320u        /* bytes of the small junk frames */

struct node_flood {
	struct node_flood_config cfg;
	struct net_client *side;  /* second connections to every replica's mesh listener (the one
	                           * to ourselves is never used) */
	uint64_t rng;
	uint64_t last_ms;         /* time up to which frames were sent */
	uint64_t credit_mframes;  /* frames owed, in thousandths */
	uint32_t next_peer;
	uint64_t *next_oversized; /* per peer: when the next oversized frame may go */
	struct node_flood_stats st;
};

static uint64_t flood_rand(struct node_flood *fl)
{
	/* splitmix64: reproducible from the seed, no state beyond one word. */
	uint64_t z = (fl->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill_random(struct node_flood *fl, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)flood_rand(fl);
}

/* A well-formed PREPARE envelope ([1, 5, sender, [view, seq, digest], sig]) with a junk
 * signature: it decodes, names us as its sender, and must fail wire_verify. Returns its length
 * (at most 1 + 1 + 1 + 2 + 1 + 9 + 9 + 34 + 66 bytes). */
static size_t junk_prepare(struct node_flood *fl, uint8_t *p)
{
	size_t k = 0;

	p[k++] = 0x95;                       /* fixarray 5: the envelope */
	p[k++] = BFT_WIRE_VERSION;           /* positive fixint */
	p[k++] = BFT_MSG_PREPARE;
	if (fl->cfg.self < 128) {
		p[k++] = (uint8_t)fl->cfg.self;
	} else {
		p[k++] = 0xcc;
		p[k++] = (uint8_t)fl->cfg.self;
	}
	p[k++] = 0x93;                       /* payload: [view, seq, digest] */
	p[k++] = (uint8_t)(flood_rand(fl) & 0x3f);
	p[k++] = (uint8_t)(1 + (flood_rand(fl) & 0x3f));
	p[k++] = 0xc4;                       /* bin8, 32 bytes */
	p[k++] = 32;
	fill_random(fl, p + k, 32);
	k += 32;
	p[k++] = 0xc4;                       /* the signature: bin8, 64 junk bytes */
	p[k++] = 64;
	fill_random(fl, p + k, 64);
	k += 64;
	return k;
}

/* One small junk frame in buf[FLOOD_JUNK_MAX]; returns its length (> 0). The kinds cover the
 * decoder's rejection paths one by one: malformed, unknown version, unknown type, bad
 * signature, truncated, trailing bytes, a count over its limit. */
static size_t junk_frame(struct node_flood *fl, uint8_t *buf)
{
	size_t len;

	switch (flood_rand(fl) % 7) {
	case 0: /* random bytes */
		len = 1 + flood_rand(fl) % FLOOD_JUNK_MAX;
		fill_random(fl, buf, len);
		return len;
	case 1: /* an envelope of a version nobody speaks */
		len = junk_prepare(fl, buf);
		buf[1] = 0x7f;
		return len;
	case 2: /* a message type nobody knows */
		len = junk_prepare(fl, buf);
		buf[2] = 0x7e;
		return len;
	case 3: /* well-formed, junk signature */
		return junk_prepare(fl, buf);
	case 4: /* truncated */
		len = junk_prepare(fl, buf);
		return 1 + flood_rand(fl) % (len - 1);
	case 5: /* trailing bytes */
		len = junk_prepare(fl, buf);
		buf[len] = (uint8_t)flood_rand(fl);
		return len + 1;
	default: { /* a PRE-PREPARE claiming more requests than any batch may hold */
		size_t k = 0;
		uint32_t count = 0x7fffffffu;
		buf[k++] = 0x95;
		buf[k++] = BFT_WIRE_VERSION;
		buf[k++] = BFT_MSG_PREPREPARE;
		buf[k++] = (uint8_t)(fl->cfg.self & 0x7f);
		buf[k++] = 0x95;     /* [view, seq, digest, time, requests] */
		buf[k++] = 0;
		buf[k++] = 1;
		buf[k++] = 0xc4;
		buf[k++] = 32;
		fill_random(fl, buf + k, 32);
		k += 32;
		buf[k++] = 0;
		buf[k++] = 0xdd;     /* array32 header, then nothing */
		buf[k++] = (uint8_t)(count >> 24);
		buf[k++] = (uint8_t)(count >> 16);
		buf[k++] = (uint8_t)(count >> 8);
		buf[k++] = (uint8_t)count;
		return k;
	}
	}
}

int node_flood_open(struct node_flood **out, const struct node_flood_config *cfg, char *err,
		    size_t errlen)
{
	struct node_flood *fl = calloc(1, sizeof(*fl));
	enum bft_err e;

	if (fl == NULL)
		goto oom;
	fl->cfg = *cfg;
	if (fl->cfg.rate_per_s == 0)
		fl->cfg.rate_per_s = FLOOD_RATE_DEFAULT;
	if (fl->cfg.oversized_every_ms == 0)
		fl->cfg.oversized_every_ms = FLOOD_OVERSIZED_MS_DEFAULT;
	fl->rng = cfg->seed;
	fl->next_oversized = calloc(cfg->n, sizeof(*fl->next_oversized));
	if (fl->next_oversized == NULL)
		goto oom;
	e = net_client_open_mesh(&fl->side, cfg->n, cfg->peer_addrs, cfg->frame_max);
	if (e != BFT_OK) {
		snprintf(err, errlen, "flood: cannot open the side connections: %s",
			 bft_strerror(e));
		node_flood_close(fl);
		return -1;
	}
	*out = fl;
	return 0;
oom:
	snprintf(err, errlen, "flood: out of memory");
	node_flood_close(fl);
	return -1;
}

/* Queues a copy of bytes for peer on its side connection without blocking. */
static bool side_send(struct node_flood *fl, uint32_t peer, const uint8_t *bytes, size_t len)
{
	return net_client_send_raw(fl->side, peer, bytes, len) == BFT_OK;
}

/* An oversized frame to peer over its side connection: its length says frame_max + 1, which
 * the receiver's transport refuses before reading the bytes (it closes that connection and
 * counts the frame; our own link to the peer is untouched). */
static void send_oversized(struct node_flood *fl, uint32_t peer)
{
	size_t len = (size_t)fl->cfg.frame_max + 1;
	uint8_t *junk = malloc(len);

	if (junk == NULL) {
		fl->st.refused++;
		return;
	}
	memset(junk, 0xa5, len);
	if (side_send(fl, peer, junk, len))
		fl->st.oversized++;
	else
		fl->st.refused++;
	free(junk);
}

void node_flood_tick(struct node_flood *fl, struct net *net, uint64_t now_ms)
{
	uint8_t buf[FLOOD_JUNK_MAX + 8];
	uint64_t elapsed, due;

	if (fl == NULL || fl->cfg.n < 2)
		return;
	{
		/* Let the side connections make progress (dials, writes); nobody sends on them. */
		struct net_rx rx;
		while (net_client_recv(fl->side, 0, &rx))
			net_rx_release(&rx);
	}
	if (fl->last_ms == 0 || now_ms < fl->last_ms)
		fl->last_ms = now_ms;
	elapsed = now_ms - fl->last_ms;
	if (elapsed > FLOOD_BURST_MS)
		elapsed = FLOOD_BURST_MS;
	fl->last_ms = now_ms;
	fl->credit_mframes += elapsed * fl->cfg.rate_per_s;
	due = fl->credit_mframes / 1000u;
	fl->credit_mframes %= 1000u;
	for (uint64_t i = 0; i < due; i++) {
		uint32_t peer = fl->next_peer;
		size_t len;

		fl->next_peer = (fl->next_peer + 1) % fl->cfg.n;
		if (peer == fl->cfg.self) {
			peer = fl->next_peer;
			fl->next_peer = (fl->next_peer + 1) % fl->cfg.n;
		}
		if (now_ms >= fl->next_oversized[peer]) {
			/* The first one after a second of warming up: the side link dials first. */
			if (fl->next_oversized[peer] != 0)
				send_oversized(fl, peer);
			fl->next_oversized[peer] = now_ms + (fl->next_oversized[peer] != 0
							     ? fl->cfg.oversized_every_ms : 1000u);
		}
		len = junk_frame(fl, buf);
		switch (flood_rand(fl) % 4) {
		case 0: /* over the side connection: unattributable */
			if (side_send(fl, peer, buf, len))
				fl->st.junk_side++;
			else
				fl->st.refused++;
			break;
		case 1: /* an empty frame over the side connection */
			if (flood_rand(fl) % 8 == 0) {
				if (side_send(fl, peer, buf, 0))
					fl->st.empty++;
				else
					fl->st.refused++;
				break;
			}
			/* fall through */
		default: /* over our own link to peer: attributed to us */
			if (net_send_replica(net, peer, buf, len) == BFT_OK)
				fl->st.junk_mesh++;
			else
				fl->st.refused++;
			break;
		}
	}
}

void node_flood_stats(const struct node_flood *fl, struct node_flood_stats *out)
{
	*out = fl->st;
}

void node_flood_close(struct node_flood *fl)
{
	if (fl == NULL)
		return;
	net_client_close(fl->side);
	free(fl->next_oversized);
	free(fl);
}
