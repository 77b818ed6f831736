/*
 * net_io.c: sockets, stream framing and buffers shared by the replica and client sides of the
 * transport (net_internal.h has the wire form; net.h the model).
 *
 * Everything here is non-blocking and runs on the caller's (the event loop's) thread: a
 * connection is a TCP socket registered with the owner's epoll instance, a receive chunk that
 * one read() fills with as many frames as have arrived, and a send queue that one send() drains.
 * There are no threads and no hand-offs: the cost of a frame is its share of one read and one
 * write system call.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "net/net_internal.h"

#include "crypto/cr_mac.h"

static const uint8_t hello_magic[4] = {'B', 'F', 'T', 'N'};
#define HELLO_VERSION 1u

_Static_assert(NET_LINK_KEY_BYTES == CR_MAC_KEY_BYTES, "link keys are cr_mac_short keys");
_Static_assert(NET_MESH_HELLO_BYTES == NET_HELLO_BYTES + 16 + CR_MAC_SHORT_BYTES,
	       "mesh hello: header, from, to, time, tag");

uint32_t net_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t net_le64(const uint8_t *p)
{
	return (uint64_t)net_le32(p) | (uint64_t)net_le32(p + 4) << 32;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

bool net_hello_header_ok(const uint8_t *p, uint8_t kind)
{
	return memcmp(p, hello_magic, 4) == 0 && p[4] == HELLO_VERSION && p[5] == kind &&
	       p[6] == 0 && p[7] == 0;
}

void net_hello_build(struct net_conn *c, uint8_t kind, uint32_t from, uint32_t to,
		     const uint8_t *key)
{
	uint8_t *h = c->hello;
	struct timespec ts;

	memcpy(h, hello_magic, 4);
	h[4] = HELLO_VERSION;
	h[5] = kind;
	h[6] = h[7] = 0;
	c->hello_len = NET_HELLO_BYTES;
	c->hello_sent = 0;
	if (kind != NET_KIND_MESH)
		return;
	/* The time makes each hello fresh: the acceptor takes from a peer only hellos newer than
	 * the last it accepted, so a recorded hello cannot be replayed to take the peer's slot. */
	clock_gettime(CLOCK_REALTIME, &ts);
	put_le(h + 8, from, 4);
	put_le(h + 12, to, 4);
	put_le(h + 16, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u, 8);
	if (key != NULL)
		cr_mac_short(h + 24, key, h, 24);
	else
		memset(h + 24, 0, CR_MAC_SHORT_BYTES);
	c->hello_len = NET_MESH_HELLO_BYTES;
	c->mac_epoch = net_le64(h + 16);
}

/* Tags the frame f[0..flen) (length prefix, payload, room for the tag) with c's next sequence
 * number. */
static void tag_frame(struct net_conn *c, uint8_t *f, size_t flen)
{
	uint8_t prefix[CR_MAC_PREFIX_BYTES];

	put_le(prefix, c->mac_epoch, 8);
	put_le(prefix + 8, c->mac_seq++, 8);
	cr_mac_short_prefixed(f + flen - NET_TAG_BYTES, c->mac_key, prefix, f + NET_LEN_BYTES,
			      flen - NET_LEN_BYTES - NET_TAG_BYTES);
}

/* A new connection: the frames still queued (whole and unsent: net_conn_reset dropped the one
 * half written) are tagged afresh for it, from sequence number 0. */
static void retag_all(struct net_conn *c)
{
	size_t start = c->woff;

	c->mac_seq = 0;
	for (uint32_t i = 0, k = c->fhead; i < c->fcount; i++, k = (k + 1) % c->fcap) {
		tag_frame(c, c->wbuf + start, c->fend[k] - start);
		start = c->fend[k];
	}
}

void net_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

uint64_t net_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------------------------------------- */
/* Addresses and sockets */

enum bft_err net_addr_parse(const char *url, bool passive, struct sockaddr_storage *ss,
			    socklen_t *sslen, char *err, size_t errlen)
{
	char host[256], port[16];
	const char *p, *colon;
	size_t hl;
	struct addrinfo hints, *res = NULL;
	int rv;

	if (url == NULL || strncmp(url, "tcp://", 6) != 0) {
		net_errf(err, errlen, "net: '%s' is not a tcp://host:port address", url ? url : "");
		return BFT_EINVAL;
	}
	p = url + 6;
	if (*p == '[') {
		const char *close = strchr(p, ']');
		if (close == NULL || close[1] != ':')
			goto bad;
		hl = (size_t)(close - p - 1);
		p++;
		colon = close + 1;
	} else {
		colon = strrchr(p, ':');
		if (colon == NULL)
			goto bad;
		hl = (size_t)(colon - p);
	}
	if (hl >= sizeof(host) || strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port))
		goto bad;
	memcpy(host, p, hl);
	host[hl] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	for (const char *c = port; *c; c++)
		if (*c < '0' || *c > '9')
			goto bad;
	if (atoi(port) > 65535)
		goto bad;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	rv = getaddrinfo(hl == 0 || strcmp(host, "*") == 0 ? NULL : host, port, &hints, &res);
	if (rv != 0 || res == NULL) {
		net_errf(err, errlen, "net: cannot resolve '%s': %s", url, gai_strerror(rv));
		return BFT_EINVAL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return BFT_OK;
bad:
	net_errf(err, errlen, "net: '%s' is not a tcp://host:port address", url);
	return BFT_EINVAL;
}

/* Options every stream socket of ours gets: no Nagle delay (frames are small and latency is
 * what we sell), and keepalive so a peer that vanished without a FIN (power loss, partition) is
 * eventually noticed and redialed instead of silently queueing. */
void net_sock_tune(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

int net_ep_add(int ep, int fd, void *obj, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0u), .data.ptr = obj};

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int net_ep_mod(int ep, int fd, void *obj, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0u), .data.ptr = obj};

	return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

enum bft_err net_listen(struct net_listener *l, uint8_t kind, const char *url, int ep, char *err,
			size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	enum bft_err e;
	int fd, one = 1;

	l->obj = NET_OBJ_LISTENER;
	l->kind = kind;
	l->fd = -1;
	e = net_addr_parse(url, true, &ss, &sslen, err, errlen);
	if (e != BFT_OK)
		return e;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		net_errf(err, errlen, "net: socket: %s", strerror(errno));
		return BFT_ESTATE;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, 512) != 0) {
		net_errf(err, errlen, "net: listen on %s: %s", url, strerror(errno));
		close(fd);
		return BFT_ESTATE;
	}
	if (net_ep_add(ep, fd, l, false) != 0) {
		net_errf(err, errlen, "net: epoll: %s", strerror(errno));
		close(fd);
		return BFT_ESTATE;
	}
	l->fd = fd;
	return BFT_OK;
}

void net_listener_close(struct net_listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

/* ------------------------------------------------------------------------------------------- */
/* Chunks */

struct net_chunk_pool *net_pool_new(void)
{
	struct net_chunk_pool *p = calloc(1, sizeof(*p));

	if (p != NULL)
		p->users = 1;
	return p;
}

static void pool_drop(struct net_chunk_pool *p)
{
	if (--p->users > 0)
		return;
	for (uint32_t i = 0; i < p->nfree; i++)
		free(p->free[i]);
	free(p);
}

void net_pool_release(struct net_chunk_pool *pool)
{
	if (pool != NULL)
		pool_drop(pool);
}

static struct net_chunk *chunk_get(struct net_chunk_pool *pool, size_t need)
{
	struct net_chunk *ch;

	if (need <= NET_CHUNK_BYTES && pool->nfree > 0) {
		ch = pool->free[--pool->nfree];
	} else {
		size_t cap = need <= NET_CHUNK_BYTES ? NET_CHUNK_BYTES : need;
		ch = malloc(sizeof(*ch) + cap);
		if (ch == NULL)
			return NULL;
		ch->cap = (uint32_t)cap;
	}
	ch->refs = 1;
	ch->pool = pool;
	pool->users++;
	return ch;
}

void net_chunk_unref(struct net_chunk *ch)
{
	struct net_chunk_pool *pool;

	if (ch == NULL || --ch->refs > 0)
		return;
	pool = ch->pool;
	if (ch->cap == NET_CHUNK_BYTES && pool->nfree < NET_CHUNK_POOL && pool->users > 1)
		pool->free[pool->nfree++] = ch;
	else
		free(ch);
	pool_drop(pool);
}

/* ------------------------------------------------------------------------------------------- */
/* Connections */

/* Takes k written or dropped bytes off the connection's share of its owner's total. */
static void acct_sub(struct net_conn *c, size_t k)
{
	if (c->acct != NULL)
		*c->acct -= k;
}

enum bft_err net_conn_init(struct net_conn *c, uint8_t kind, uint32_t qmax)
{
	c->obj = NET_OBJ_CONN;
	c->kind = kind;
	c->fd = -1;
	c->fcap = qmax;
	c->fend = calloc(qmax, sizeof(*c->fend));
	return c->fend != NULL ? BFT_OK : BFT_ENOMEM;
}

void net_conn_free(struct net_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	net_chunk_unref(c->rc);
	c->rc = NULL;
	acct_sub(c, c->wlen - c->woff);
	c->woff = c->wlen = 0;
	free(c->wbuf);
	free(c->fend);
	c->wbuf = NULL;
	c->fend = NULL;
}

/* Pops the frames whose last byte has been written. */
static void pop_written(struct net_conn *c)
{
	while (c->fcount > 0 && c->fend[c->fhead] <= c->woff) {
		c->fhead = (c->fhead + 1) % c->fcap;
		c->fcount--;
	}
	if (c->fcount == 0)
		c->woff = c->wlen = 0;
}

void net_conn_reset(struct net_conn *c)
{
	if (c->fd >= 0)
		close(c->fd); /* also leaves the epoll set */
	c->fd = -1;
	c->up = c->connecting = c->want_out = c->hello_ok = false;
	c->hello_sent = 0;
	net_chunk_unref(c->rc);
	c->rc = NULL;
	c->roff = c->rlen = 0;
	/* The frame we were half-way through is lost with the connection (as a frame in flight
	 * is); the whole ones behind it go out on the next connection. */
	if (c->fcount > 0 && c->woff > 0) {
		acct_sub(c, c->fend[c->fhead] - c->woff);
		c->woff = c->fend[c->fhead];
		pop_written(c);
	}
}

enum bft_err net_conn_queue(struct net_conn *c, const uint8_t *bytes, size_t len)
{
	size_t tag = c->tagged ? NET_TAG_BYTES : 0u;
	size_t need = NET_LEN_BYTES + len + tag;
	uint8_t *p;

	if (c->fcount >= c->fcap)
		return BFT_EFULL;
	if (c->wcap - c->wlen < need) {
		/* Slide the unwritten bytes to the front before growing. */
		if (c->woff > 0) {
			memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
			for (uint32_t i = 0, k = c->fhead; i < c->fcount; i++, k = (k + 1) % c->fcap)
				c->fend[k] -= c->woff;
			c->wlen -= c->woff;
			c->woff = 0;
		}
		if (c->wcap - c->wlen < need) {
			size_t cap = c->wcap ? c->wcap : 4096;
			while (cap - c->wlen < need)
				cap *= 2;
			p = realloc(c->wbuf, cap);
			if (p == NULL)
				return BFT_ENOMEM;
			c->wbuf = p;
			c->wcap = cap;
		}
	}
	p = c->wbuf + c->wlen;
	put_le(p, len + tag, 4);
	if (len > 0)
		memcpy(p + NET_LEN_BYTES, bytes, len);
	/* Tagged now on a live connection, else when the next one comes up (retag_all). */
	if (tag != 0 && c->up)
		tag_frame(c, p, need);
	c->wlen += need;
	if (c->acct != NULL)
		*c->acct += need;
	c->fend[(c->fhead + c->fcount) % c->fcap] = c->wlen;
	c->fcount++;
	return BFT_OK;
}

int net_conn_flush(struct net_conn *c, int ep)
{
	bool want;

	if (c->fd < 0 || !c->up)
		return 0; /* sent once connected */
	while (c->hello_sent < c->hello_len || c->woff < c->wlen) {
		struct iovec iov[2];
		struct msghdr mh = {.msg_iov = iov};
		ssize_t w;

		if (c->hello_sent < c->hello_len) {
			iov[mh.msg_iovlen].iov_base = c->hello + c->hello_sent;
			iov[mh.msg_iovlen++].iov_len = (size_t)(c->hello_len - c->hello_sent);
		}
		if (c->woff < c->wlen) {
			iov[mh.msg_iovlen].iov_base = c->wbuf + c->woff;
			iov[mh.msg_iovlen++].iov_len = c->wlen - c->woff;
		}
		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		if (c->hello_sent < c->hello_len) {
			size_t h = (size_t)(c->hello_len - c->hello_sent);
			if ((size_t)w < h) {
				c->hello_sent = (uint8_t)(c->hello_sent + w);
				continue;
			}
			c->hello_sent = c->hello_len;
			w -= (ssize_t)h;
		}
		c->woff += (size_t)w;
		acct_sub(c, (size_t)w);
		pop_written(c);
	}
	want = c->hello_sent < c->hello_len || c->woff < c->wlen;
	if (want != c->want_out) {
		if (net_ep_mod(ep, c->fd, c, want) != 0)
			return -1;
		c->want_out = want;
	}
	return 0;
}

ssize_t net_conn_read(struct net_conn *c, struct net_chunk_pool *pool, uint32_t frame_max)
{
	size_t left, full = 0;
	ssize_t r;

	if (c->rc != NULL && c->roff == c->rlen && c->rc->refs == 1)
		c->roff = c->rlen = 0; /* nothing of it is in use: start over */
	left = c->rc != NULL ? c->rlen - c->roff : 0;
	/* The length of the frame in progress, when known and acceptable (with its prefix). */
	if (left >= NET_LEN_BYTES) {
		uint32_t l = net_le32(c->rc->data + c->roff);
		if (l <= frame_max + (c->tagged ? NET_TAG_BYTES : 0u))
			full = (size_t)l + NET_LEN_BYTES;
	}
	if (c->rc == NULL ||
	    (!(full != 0 && c->rc->cap - c->roff >= full) && c->rc->cap - c->rlen < NET_READ_MIN)) {
		/* Little room left, and the frame in progress (if its length is known) does not
		 * fit where it starts: move the unread bytes to the front, or to a fresh chunk when
		 * this one still backs frames that were handed out or is too small. A long frame's
		 * chunk at least doubles each time rather than being sized from its length, so
		 * what a sender makes us hold follows the bytes it has really sent. */
		size_t size = 2 * left + NET_READ_MIN;
		if (size < NET_CHUNK_BYTES)
			size = NET_CHUNK_BYTES;
		if (full != 0 && size > full && full >= NET_CHUNK_BYTES)
			size = full;
		if (c->rc != NULL && c->rc->refs == 1 && c->rc->cap >= size) {
			memmove(c->rc->data, c->rc->data + c->roff, left);
		} else {
			struct net_chunk *nc = chunk_get(pool, size);
			if (nc == NULL)
				return -1;
			if (left > 0)
				memcpy(nc->data, c->rc->data + c->roff, left);
			net_chunk_unref(c->rc);
			c->rc = nc;
		}
		c->roff = 0;
		c->rlen = (uint32_t)left;
	}
	do {
		r = read(c->fd, c->rc->data + c->rlen, c->rc->cap - c->rlen);
	} while (r < 0 && errno == EINTR);
	if (r > 0) {
		c->rlen += (uint32_t)r;
		return r;
	}
	if (r == 0)
		return 0;
	return errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1;
}

enum net_peek net_conn_peek(struct net_conn *c, uint32_t frame_max, uint64_t *empty)
{
	if (c->rc == NULL)
		return NET_PEEK_MORE;
	/* A client's hello is its 8-byte header (a mesh hello is net.c's: it needs the keys). */
	if (!c->hello_ok && c->kind == NET_CONN_CLIENT_IN) {
		if (c->rlen - c->roff < NET_HELLO_BYTES)
			return NET_PEEK_MORE;
		if (!net_hello_header_ok(c->rc->data + c->roff, NET_KIND_CLIENT))
			return NET_PEEK_BAD;
		c->hello_ok = true;
		c->roff += NET_HELLO_BYTES;
	}
	if (!c->hello_ok && c->kind == NET_CONN_MESH_IN)
		return NET_PEEK_MORE;
	for (uint32_t i = 0; i < NET_DISCARD_BUDGET; i++) {
		uint32_t l, tag = c->tagged ? NET_TAG_BYTES : 0u;
		const uint8_t *f;
		uint8_t prefix[CR_MAC_PREFIX_BYTES];
		if (c->rlen - c->roff < NET_LEN_BYTES)
			return NET_PEEK_MORE;
		f = c->rc->data + c->roff;
		l = net_le32(f);
		if (l > frame_max + tag || l < tag)
			return NET_PEEK_BAD;
		if (c->rlen - c->roff - NET_LEN_BYTES < l)
			return NET_PEEK_MORE;
		if (tag != 0 && !c->head_ok) {
			/* Every frame after the hello must carry our link's tag for its place. */
			put_le(prefix, c->mac_epoch, 8);
			put_le(prefix + 8, c->mac_seq, 8);
			if (cr_mac_short_prefixed_verify(f + NET_LEN_BYTES + l - tag, c->mac_key, prefix,
							 f + NET_LEN_BYTES, l - tag) != 0)
				return NET_PEEK_BADTAG;
			c->mac_seq++;
			c->head_ok = true;
		}
		if (l > tag)
			return NET_PEEK_FRAME;
		c->roff += NET_LEN_BYTES + l;
		c->head_ok = false;
		(*empty)++;
	}
	return NET_PEEK_MORE;
}

void net_conn_take(struct net_conn *c, struct net_rx *rx)
{
	uint32_t l = net_le32(c->rc->data + c->roff);

	memset(rx, 0, sizeof(*rx));
	rx->bytes = c->rc->data + c->roff + NET_LEN_BYTES;
	rx->len = c->tagged ? l - NET_TAG_BYTES : l;
	rx->authenticated = c->tagged && c->head_ok;
	c->head_ok = false;
	rx->pipe = c->id;
	rx->chunk = c->rc;
	c->rc->refs++;
	c->roff += NET_LEN_BYTES + l;
}

void net_rx_release(struct net_rx *rx)
{
	if (rx == NULL)
		return;
	net_chunk_unref(rx->chunk);
	memset(rx, 0, sizeof(*rx));
}

/* ------------------------------------------------------------------------------------------- */
/* Ready lists */

void net_ready_push(struct net_ready *q, struct net_conn *c)
{
	c->next = NULL;
	c->prev = q->tail;
	if (q->tail != NULL)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	c->queued = true;
}

void net_ready_remove(struct net_ready *q, struct net_conn *c)
{
	if (!c->queued)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		q->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		q->tail = c->prev;
	c->prev = c->next = NULL;
	c->queued = false;
}

/* ------------------------------------------------------------------------------------------- */
/* Dialing */

int net_conn_dial(struct net_conn *c, int ep)
{
	int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	net_sock_tune(fd);
	if (connect(fd, (struct sockaddr *)&c->addr, c->addrlen) != 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	if (net_ep_add(ep, fd, c, true) != 0) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->connecting = true;
	c->want_out = true;
	c->up = false;
	c->hello_sent = 0; /* the caller built c->hello for this connection */
	return 0;
}

int net_conn_dial_done(struct net_conn *c, int ep)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0)
		return -1;
	c->connecting = false;
	c->up = true;
	if (c->tagged)
		retag_all(c);
	return net_conn_flush(c, ep);
}

void net_conn_schedule(struct net_conn *c, uint64_t now_ms, uint32_t min_ms, uint32_t max_ms)
{
	net_conn_reset(c);
	c->backoff_ms = c->backoff_ms == 0 ? min_ms
			: (c->backoff_ms >= max_ms / 2 ? max_ms : 2 * c->backoff_ms);
	c->retry_ms = now_ms + c->backoff_ms;
}
