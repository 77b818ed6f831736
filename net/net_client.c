/*
 * net_client.c: the client side of the transport (net.h "Client side"): one connection per
 * replica, dialed and redialed in the background, all driven by the caller's thread through
 * one epoll instance.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "net/net_internal.h"

#define CLIENT_SEND_QUEUE 64u
#define CLIENT_RECONNECT_MIN_MS 50u
#define CLIENT_RECONNECT_MAX_MS 2000u

struct net_client {
	uint32_t n;
	uint32_t frame_max;
	uint8_t kind;             /* the hello we send: client, or the flood's unauthenticated mesh */
	int ep;
	uint64_t dropped_full;
	uint64_t size_dropped;
	struct net_conn *conn;    /* n dialed connections, conn[i].tag == i */
	struct net_ready ready;
	struct net_chunk_pool *pool;
};

static enum bft_err client_open(struct net_client **out, uint32_t n, const char *const *addrs,
				uint32_t frame_max, uint8_t kind)
{
	struct net_client *c;
	enum bft_err e = BFT_OK;

	if (out == NULL || addrs == NULL || n == 0 || n > NET_REPLICAS_MAX || frame_max == 0 ||
	    frame_max > UINT32_MAX - NET_HEADER_SLACK)
		return BFT_EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (addrs[i] == NULL)
			return BFT_EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return BFT_ENOMEM;
	c->n = n;
	c->frame_max = frame_max;
	c->kind = kind;
	c->ep = epoll_create1(EPOLL_CLOEXEC);
	c->conn = calloc(n, sizeof(*c->conn));
	c->pool = net_pool_new();
	if (c->ep < 0 || c->conn == NULL || c->pool == NULL) {
		e = BFT_ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < n; i++)
		c->conn[i].fd = -1;
	for (uint32_t i = 0; i < n && e == BFT_OK; i++) {
		struct net_conn *k = &c->conn[i];
		e = net_conn_init(k, NET_CONN_DIAL, CLIENT_SEND_QUEUE);
		if (e == BFT_OK)
			e = net_addr_parse(addrs[i], false, &k->addr, &k->addrlen, NULL, 0);
		k->tag = i;
		k->id = i + 1;
		/* Dial at once, without waiting: frames queue until the connection is made. */
		net_hello_build(k, kind, UINT32_MAX, i, NULL);
		if (e == BFT_OK && net_conn_dial(k, c->ep) != 0)
			net_conn_schedule(k, net_now_ms(), CLIENT_RECONNECT_MIN_MS,
					  CLIENT_RECONNECT_MAX_MS);
	}
	if (e != BFT_OK)
		goto fail;
	*out = c;
	return BFT_OK;
fail:
	net_client_close(c);
	return e;
}

enum bft_err net_client_open(struct net_client **out, uint32_t n, const char *const *addrs,
			     uint32_t frame_max)
{
	return client_open(out, n, addrs, frame_max, NET_KIND_CLIENT);
}

enum bft_err net_client_open_mesh(struct net_client **out, uint32_t n, const char *const *addrs,
				  uint32_t frame_max)
{
	return client_open(out, n, addrs, frame_max, NET_KIND_MESH);
}

void net_client_close(struct net_client *c)
{
	if (c == NULL)
		return;
	for (uint32_t i = 0; c->conn != NULL && i < c->n; i++) {
		/* Last chance for what is queued on a live connection (non-blocking). */
		if (c->conn[i].up)
			(void)net_conn_flush(&c->conn[i], c->ep);
		net_conn_free(&c->conn[i]);
	}
	free(c->conn);
	net_pool_release(c->pool);
	if (c->ep >= 0)
		close(c->ep);
	free(c);
}

static void conn_lost(struct net_client *c, struct net_conn *k)
{
	net_ready_remove(&c->ready, k);
	net_conn_schedule(k, net_now_ms(), CLIENT_RECONNECT_MIN_MS, CLIENT_RECONNECT_MAX_MS);
}

static void dial_due(struct net_client *c)
{
	uint64_t now = net_now_ms();

	for (uint32_t i = 0; i < c->n; i++) {
		struct net_conn *k = &c->conn[i];
		if (k->fd >= 0 || k->retry_ms > now)
			continue;
		net_hello_build(k, c->kind, UINT32_MAX, i, NULL);
		if (net_conn_dial(k, c->ep) != 0)
			net_conn_schedule(k, now, CLIENT_RECONNECT_MIN_MS, CLIENT_RECONNECT_MAX_MS);
	}
}

static enum bft_err client_queue(struct net_client *c, uint32_t r, const uint8_t *bytes,
				 size_t len)
{
	struct net_conn *k = &c->conn[r];
	enum bft_err e = net_conn_queue(k, bytes, len);

	if (e != BFT_OK) {
		c->dropped_full++;
		return e;
	}
	if (net_conn_flush(k, c->ep) != 0)
		conn_lost(c, k);
	return BFT_OK;
}

enum bft_err net_client_send(struct net_client *c, uint32_t r, const uint8_t *bytes, size_t len)
{
	if (r >= c->n)
		return BFT_EINVAL;
	if (len == 0 || len > c->frame_max || bytes == NULL)
		return BFT_ETOOBIG;
	return client_queue(c, r, bytes, len);
}

enum bft_err net_client_send_raw(struct net_client *c, uint32_t r, const uint8_t *bytes,
				 size_t len)
{
	if (r >= c->n || (len > 0 && bytes == NULL) || len > UINT32_MAX)
		return BFT_EINVAL;
	return client_queue(c, r, bytes, len);
}

enum bft_err net_client_send_all(struct net_client *c, const uint8_t *bytes, size_t len)
{
	enum bft_err first = BFT_OK;

	for (uint32_t i = 0; i < c->n; i++) {
		enum bft_err e = net_client_send(c, i, bytes, len);
		if (e != BFT_OK && first == BFT_OK)
			first = e;
	}
	return first;
}

/* Puts k on the ready list if it holds a whole frame; drops it (counted) if its input is
 * broken: a length over frame_max leaves no frame boundary to trust. */
static void conn_check(struct net_client *c, struct net_conn *k)
{
	uint64_t empty = 0;
	enum net_peek pk = net_conn_peek(k, c->frame_max, &empty);

	c->size_dropped += empty;
	if (pk == NET_PEEK_FRAME) {
		if (!k->queued)
			net_ready_push(&c->ready, k);
	} else if (pk != NET_PEEK_MORE) {
		c->size_dropped++;
		conn_lost(c, k);
	}
}

static void on_event(struct net_client *c, struct net_conn *k, uint32_t events)
{
	if (k->connecting) {
		if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && net_conn_dial_done(k, c->ep) != 0)
			conn_lost(c, k);
		else if (k->up)
			k->backoff_ms = 0;
		return;
	}
	if ((events & EPOLLOUT) && net_conn_flush(k, c->ep) != 0) {
		conn_lost(c, k);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		ssize_t r;

		if (k->queued)
			return;
		r = net_conn_read(k, c->pool, c->frame_max);
		if (r == 0 || r == -1) {
			conn_lost(c, k);
			return;
		}
		if (r > 0)
			conn_check(c, k);
	}
}

/* Waits up to timeout_ms for socket events and handles them; false when none came. */
static bool poll_sockets(struct net_client *c, int timeout_ms)
{
	struct epoll_event evs[NET_EVENTS_MAX];
	int k;

	dial_due(c);
	k = epoll_wait(c->ep, evs, NET_EVENTS_MAX, timeout_ms);
	for (int i = 0; i < k; i++)
		on_event(c, evs[i].data.ptr, evs[i].events);
	return k > 0;
}

/* Hands out the next frame of the first replica on the ready list (round robin). */
static bool serve(struct net_client *c, struct net_rx *rx)
{
	struct net_conn *k = c->ready.head;

	if (k == NULL)
		return false;
	net_ready_remove(&c->ready, k);
	net_conn_take(k, rx);
	rx->from = NET_FROM_REPLICA;
	rx->replica = k->tag;
	conn_check(c, k); /* may drop k: rx holds its own reference to the bytes */
	return true;
}

size_t net_client_poll_fds(struct net_client *c, struct pollfd *fds, size_t max)
{
	dial_due(c);
	if (max == 0)
		return 0;
	fds[0].fd = c->ep;
	fds[0].events = POLLIN;
	fds[0].revents = 0;
	return 1;
}

bool net_client_recv(struct net_client *c, int timeout_ms, struct net_rx *rx)
{
	uint64_t deadline = net_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	if (serve(c, rx))
		return true;
	/* Each pass either returns a frame or sleeps in epoll_wait; the deadline bounds the loop
	 * (a redial is due at most CLIENT_RECONNECT_MIN_MS.. later, so sleep in short slices). */
	for (;;) {
		uint64_t now = net_now_ms();
		int wait = now >= deadline ? 0 : (int)(deadline - now);
		if (wait > (int)CLIENT_RECONNECT_MIN_MS)
			wait = (int)CLIENT_RECONNECT_MIN_MS;
		(void)poll_sockets(c, wait);
		if (serve(c, rx))
			return true;
		if (net_now_ms() >= deadline)
			return false;
	}
}

void net_client_service(struct net_client *c)
{
	(void)poll_sockets(c, 0);
}

uint32_t net_client_connected(const struct net_client *c)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < c->n; i++)
		if (c->conn[i].up)
			k++;
	return k;
}

void net_client_counters(const struct net_client *c, uint64_t *dropped_full,
			 uint64_t *size_dropped)
{
	if (dropped_full != NULL)
		*dropped_full = c->dropped_full;
	if (size_dropped != NULL)
		*size_dropped = c->size_dropped;
}
