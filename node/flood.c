#include "node/flood.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

#include "bft/msg.h"
#include "net/net.h"

#define FLOOD_RATE_DEFAULT 200u
#define FLOOD_OVERSIZED_MS_DEFAULT 5000u
#define FLOOD_BURST_MS 250u        /* at most this much time's worth of frames in one tick */
#define FLOOD_JUNK_MAX 320u        /* bytes of the small junk frames */
#define FLOOD_SIDE_QUEUE 16        /* frames queued per second connection */

struct node_flood {
	struct node_flood_config cfg;
	nng_socket *side;         /* n push sockets (side[self] unused), dialing the peers */
	bool *side_open;
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
	int rv;

	if (fl == NULL)
		goto oom;
	fl->cfg = *cfg;
	if (fl->cfg.rate_per_s == 0)
		fl->cfg.rate_per_s = FLOOD_RATE_DEFAULT;
	if (fl->cfg.oversized_every_ms == 0)
		fl->cfg.oversized_every_ms = FLOOD_OVERSIZED_MS_DEFAULT;
	fl->rng = cfg->seed;
	fl->side = calloc(cfg->n, sizeof(*fl->side));
	fl->side_open = calloc(cfg->n, sizeof(*fl->side_open));
	fl->next_oversized = calloc(cfg->n, sizeof(*fl->next_oversized));
	if (fl->side == NULL || fl->side_open == NULL || fl->next_oversized == NULL)
		goto oom;
	for (uint32_t i = 0; i < cfg->n; i++) {
		nng_dialer d;

		if (i == cfg->self)
			continue;
		if ((rv = nng_push0_open(&fl->side[i])) != 0)
			goto nng_fail;
		fl->side_open[i] = true;
		(void)nng_socket_set_int(fl->side[i], NNG_OPT_SENDBUF, FLOOD_SIDE_QUEUE);
		(void)nng_socket_set_ms(fl->side[i], NNG_OPT_RECONNMINT, 100);
		(void)nng_socket_set_ms(fl->side[i], NNG_OPT_RECONNMAXT, 1000);
		if ((rv = nng_dialer_create(&d, fl->side[i], cfg->peer_addrs[i])) != 0 ||
		    (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0)
			goto nng_fail;
	}
	*out = fl;
	return 0;
nng_fail:
	snprintf(err, errlen, "flood: cannot open a side connection: %s", nng_strerror(rv));
	node_flood_close(fl);
	return -1;
oom:
	snprintf(err, errlen, "flood: out of memory");
	node_flood_close(fl);
	return -1;
}

/* Hands a copy of bytes to the side connection to peer without blocking. */
static bool side_send(struct node_flood *fl, uint32_t peer, const uint8_t *bytes, size_t len)
{
	nng_msg *m;

	if (!fl->side_open[peer] || nng_msg_alloc(&m, len) != 0)
		return false;
	if (len > 0)
		memcpy(nng_msg_body(m), bytes, len);
	if (nng_sendmsg(fl->side[peer], m, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(m);
		return false;
	}
	return true;
}

/* An oversized frame to peer over its side connection: frame_max + 1 bytes, which the
 * receiver's transport refuses before reading them (nng's receive limit closes that connection;
 * our own link to the peer is untouched). */
static void send_oversized(struct node_flood *fl, uint32_t peer)
{
	nng_msg *m;
	size_t len = (size_t)fl->cfg.frame_max + 1;

	if (!fl->side_open[peer] || nng_msg_alloc(&m, len) != 0) {
		fl->st.refused++;
		return;
	}
	memset(nng_msg_body(m), 0xa5, len);
	if (nng_sendmsg(fl->side[peer], m, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(m);
		fl->st.refused++;
		return;
	}
	fl->st.oversized++;
}

void node_flood_tick(struct node_flood *fl, struct net *net, uint64_t now_ms)
{
	uint8_t buf[FLOOD_JUNK_MAX + 8];
	uint64_t elapsed, due;

	if (fl == NULL || fl->cfg.n < 2)
		return;
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
	for (uint32_t i = 0; fl->side != NULL && fl->side_open != NULL && i < fl->cfg.n; i++)
		if (fl->side_open[i])
			nng_close(fl->side[i]);
	free(fl->side);
	free(fl->side_open);
	free(fl->next_oversized);
	free(fl);
}
