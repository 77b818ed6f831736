/*
 * net_client.c: the client side of the transport (net.h "Client side").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h" /* before the protocol header: it brings <nng/nng.h> */

#include <nng/protocol/pair1/pair.h>

#define CLIENT_SEND_QUEUE 64
#define CLIENT_RECV_QUEUE 256
#define CLIENT_RECONNECT_MIN_MS 50
#define CLIENT_RECONNECT_MAX_MS 2000

struct net_client_conn {
	bool open;
	nng_socket sock;   /* pair1, dialing one replica's client address */
	nng_aio *saio, *raio; /* reused for every send and receive (net_aio_sendmsg) */
	atomic_uint conns; /* live pipes: written by nng threads */
};

struct net_client {
	uint32_t n;
	uint32_t frame_max;
	uint32_t turn;     /* replica net_client_recv tries first */
	uint64_t dropped_full;
	uint64_t size_dropped;
	struct net_client_conn *conn;
	/* A bundle of replies being handed out (net.h "Bundles"), and from which replica. */
	struct net_bundle *rxb;
	size_t rxb_off;
};

/* The next frame of the bundle being split; false at its end or at a bad length (counted). */
static bool rxb_next(struct net_client *c, struct net_rx *rx)
{
	bool bad;

	if (net_bundle_take(&c->rxb, &c->rxb_off, c->frame_max, rx, &bad))
		return true;
	if (bad)
		c->size_dropped++;
	return false;
}

static void client_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct net_client_conn *c = arg;

	(void)p;
	if (ev == NNG_PIPE_EV_ADD_POST)
		atomic_fetch_add(&c->conns, 1u);
	else if (ev == NNG_PIPE_EV_REM_POST)
		atomic_fetch_sub(&c->conns, 1u);
}

static int open_conn(struct net_client_conn *c, const char *url, uint32_t frame_max)
{
	nng_dialer d;
	int rv;

	if (net_aio_new(&c->saio) != BFT_OK || net_aio_new(&c->raio) != BFT_OK)
		return NNG_ENOMEM;
	rv = nng_pair1_open(&c->sock);
	if (rv != 0)
		return rv;
	c->open = true;
	/* A send queue lets the first request wait for the connection instead of being dropped
	 * while the dial is still in progress. */
	rv = nng_socket_set_int(c->sock, NNG_OPT_SENDBUF, CLIENT_SEND_QUEUE);
	if (rv == 0)
		rv = nng_socket_set_int(c->sock, NNG_OPT_RECVBUF, CLIENT_RECV_QUEUE);
	if (rv == 0)
		rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
					 (size_t)frame_max + NET_HEADER_SLACK);
	if (rv == 0)
		rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, CLIENT_RECONNECT_MIN_MS);
	if (rv == 0)
		rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, CLIENT_RECONNECT_MAX_MS);
	if (rv == 0)
		rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, client_pipe_cb, c);
	if (rv == 0)
		rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, client_pipe_cb, c);
	if (rv == 0)
		rv = nng_dialer_create(&d, c->sock, url);
	if (rv == 0) {
		(void)nng_dialer_set_size(d, NNG_OPT_RECVMAXSZ, (size_t)frame_max + NET_HEADER_SLACK);
		(void)nng_dialer_set_bool(d, NNG_OPT_TCP_KEEPALIVE, true);
		rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	}
	return rv;
}

enum bft_err net_client_open(struct net_client **out, uint32_t n, const char *const *addrs,
			     uint32_t frame_max)
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
	c->conn = calloc(n, sizeof(*c->conn));
	if (c->conn == NULL) {
		free(c);
		return BFT_ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		atomic_init(&c->conn[i].conns, 0u);
	for (uint32_t i = 0; i < n && e == BFT_OK; i++) {
		int rv = open_conn(&c->conn[i], addrs[i], frame_max);
		if (rv != 0)
			e = net_err_from_nng(rv);
	}
	if (e != BFT_OK) {
		net_client_close(c);
		return e;
	}
	*out = c;
	return BFT_OK;
}

void net_client_close(struct net_client *c)
{
	if (c == NULL)
		return;
	/* After nng_close no pipe callback runs any more (net.c, net_close). */
	for (uint32_t i = 0; i < c->n; i++)
		if (c->conn[i].open)
			nng_close(c->conn[i].sock);
	for (uint32_t i = 0; i < c->n; i++) {
		nng_aio_free(c->conn[i].saio);
		nng_aio_free(c->conn[i].raio);
	}
	net_bundle_release(&c->rxb);
	free(c->conn);
	free(c);
}

enum bft_err net_client_send(struct net_client *c, uint32_t r, const uint8_t *bytes, size_t len)
{
	nng_msg *m;
	enum bft_err e;
	int rv;

	if (r >= c->n)
		return BFT_EINVAL;
	if (len == 0 || len > c->frame_max || bytes == NULL)
		return BFT_ETOOBIG;
	e = net_msg_copy(&m, bytes, len);
	if (e != BFT_OK)
		return e;
	rv = net_aio_sendmsg(c->conn[r].sock, c->conn[r].saio, m);
	if (rv != 0) {
		nng_msg_free(m);
		c->dropped_full++;
		return rv == NNG_EAGAIN ? BFT_EFULL : net_err_from_nng(rv);
	}
	return BFT_OK;
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

/* One pass over the replicas, starting after the one served last, without blocking. */
static bool client_try_recv(struct net_client *c, struct net_rx *rx)
{
	if (c->rxb != NULL && rxb_next(c, rx))
		return true;
	for (uint32_t k = 0; k < c->n; k++) {
		uint32_t r = (c->turn + k) % c->n;
		nng_msg *m;

		if (net_aio_recvmsg(c->conn[r].sock, c->conn[r].raio, &m) != 0)
			continue;
		if (nng_msg_len(m) == 0 || nng_msg_len(m) > c->frame_max) {
			nng_msg_free(m);
			c->size_dropped++;
			continue;
		}
		c->turn = r + 1;
		if (((const uint8_t *)nng_msg_body(m))[0] == NET_BUNDLE_MAGIC) {
			struct net_bundle *b = malloc(sizeof(*b));
			if (b == NULL) {
				nng_msg_free(m);
				continue;
			}
			*b = (struct net_bundle){.msg = m, .refs = 1,
						 .pipe = nng_pipe_id(nng_msg_get_pipe(m)),
						 .replica = r};
			c->rxb = b;
			c->rxb_off = 1;
			if (rxb_next(c, rx))
				return true;
			continue; /* empty or broken: try the next replica */
		}
		memset(rx, 0, sizeof(*rx));
		rx->msg = m;
		rx->bytes = nng_msg_body(m);
		rx->len = nng_msg_len(m);
		rx->from = NET_FROM_REPLICA;
		rx->pipe = nng_pipe_id(nng_msg_get_pipe(m));
		rx->replica = r;
		return true;
	}
	return false;
}

size_t net_client_poll_fds(struct net_client *c, struct pollfd *fds, size_t max)
{
	size_t k = 0;
	int fd;

	for (uint32_t i = 0; i < c->n && k < max; i++) {
		if (nng_socket_get_int(c->conn[i].sock, NNG_OPT_RECVFD, &fd) != 0)
			continue;
		fds[k].fd = fd;
		fds[k].events = POLLIN;
		fds[k].revents = 0;
		k++;
	}
	return k;
}

bool net_client_recv(struct net_client *c, int timeout_ms, struct net_rx *rx)
{
	struct pollfd fds[NET_REPLICAS_MAX];
	uint64_t deadline = net_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	size_t nfds;

	if (client_try_recv(c, rx))
		return true;
	if (timeout_ms <= 0)
		return false;
	nfds = net_client_poll_fds(c, fds, NET_REPLICAS_MAX);
	/* Each pass either returns a frame or sleeps in poll(); the deadline bounds the loop. */
	for (;;) {
		uint64_t now = net_now_ms();
		if (now >= deadline)
			return false;
		int rv = poll(fds, (nfds_t)nfds, (int)(deadline - now));
		if (rv < 0 && errno != EINTR)
			return false;
		if (client_try_recv(c, rx))
			return true;
	}
}

uint32_t net_client_connected(const struct net_client *c)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < c->n; i++)
		if (atomic_load(&c->conn[i].conns) > 0)
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
