/*
 * net.c: the replica side of the transport (net.h explains the patterns and the threading).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/net_internal.h" /* before the protocol headers: it brings <nng/nng.h> */

#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#define DEF_SEND_QUEUE 128u
#define DEF_RECV_QUEUE 1024u
#define DEF_RECONNECT_MIN_MS 50u
#define DEF_RECONNECT_MAX_MS 2000u
#define DEF_CLIENTS_MAX 4096u
#define DEF_HELD_MAX 4096u

/* ------------------------------------------------------------------------------------------- */
/* Helpers shared with net_client.c and net_fault.c */

void net_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

enum bft_err net_err_from_nng(int rv)
{
	switch (rv) {
	case 0:
		return BFT_OK;
	case NNG_ENOMEM:
		return BFT_ENOMEM;
	case NNG_EAGAIN:
		return BFT_EFULL;
	case NNG_EMSGSIZE:
		return BFT_ETOOBIG;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP:
	case NNG_EBADTYPE:
		return BFT_EINVAL;
	default:
		/* Address in use, permission denied, closed, ...: the call is impossible now. */
		return BFT_ESTATE;
	}
}

uint64_t net_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

enum bft_err net_msg_copy(nng_msg **out, const uint8_t *bytes, size_t len)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, len) != 0)
		return BFT_ENOMEM;
	if (len > 0)
		memcpy(nng_msg_body(m), bytes, len);
	*out = m;
	return BFT_OK;
}

enum bft_err net_aio_new(nng_aio **out)
{
	if (nng_aio_alloc(out, NULL, NULL) != 0)
		return BFT_ENOMEM;
	nng_aio_set_timeout(*out, NNG_DURATION_ZERO);
	return BFT_OK;
}

int net_aio_sendmsg(nng_socket s, nng_aio *aio, nng_msg *m)
{
	int rv;

	nng_aio_set_msg(aio, m);
	nng_send_aio(s, aio);
	nng_aio_wait(aio);
	rv = nng_aio_result(aio);
	/* A zero timeout reports a full queue as a timeout; nng_sendmsg said EAGAIN. */
	return rv == NNG_ETIMEDOUT ? NNG_EAGAIN : rv;
}

int net_aio_recvmsg(nng_socket s, nng_aio *aio, nng_msg **m)
{
	int rv;

	nng_recv_aio(s, aio);
	nng_aio_wait(aio);
	rv = nng_aio_result(aio);
	if (rv == 0)
		*m = nng_aio_get_msg(aio);
	return rv;
}

enum bft_err net_bundle_append(nng_msg **m, const uint8_t *bytes, size_t len)
{
	uint8_t hdr[NET_BUNDLE_HDR] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
				       (uint8_t)(len >> 24)};

	if (*m == NULL) {
		uint8_t magic = NET_BUNDLE_MAGIC;
		if (nng_msg_alloc(m, 0) != 0) {
			*m = NULL;
			return BFT_ENOMEM;
		}
		if (nng_msg_append(*m, &magic, 1) != 0)
			goto fail;
	}
	if (nng_msg_append(*m, hdr, sizeof(hdr)) != 0 || nng_msg_append(*m, bytes, len) != 0)
		goto fail;
	return BFT_OK;
fail:
	nng_msg_free(*m);
	*m = NULL;
	return BFT_ENOMEM;
}

void net_bundle_unwrap(nng_msg *m)
{
	(void)nng_msg_trim(m, 1 + NET_BUNDLE_HDR);
}

bool net_bundle_next(nng_msg *b, size_t *off, uint32_t frame_max, const uint8_t **p,
		     size_t *len, bool *bad)
{
	const uint8_t *body = nng_msg_body(b);
	size_t total = nng_msg_len(b), o = *off;
	uint32_t l;

	*bad = false;
	if (o == total)
		return false;
	if (total - o < NET_BUNDLE_HDR) {
		*bad = true;
		return false;
	}
	l = (uint32_t)body[o] | (uint32_t)body[o + 1] << 8 | (uint32_t)body[o + 2] << 16 |
	    (uint32_t)body[o + 3] << 24;
	o += NET_BUNDLE_HDR;
	if (l == 0 || l > frame_max || l > total - o) {
		*bad = true;
		return false;
	}
	*p = body + o;
	*len = l;
	*off = o + l;
	return true;
}

void net_bundle_release(struct net_bundle **bp)
{
	if (*bp != NULL && --(*bp)->refs == 0) {
		nng_msg_free((*bp)->msg);
		free(*bp);
	}
	*bp = NULL;
}

bool net_bundle_take(struct net_bundle **bp, size_t *off, uint32_t frame_max, struct net_rx *rx,
		     bool *bad)
{
	struct net_bundle *b = *bp;
	const uint8_t *p;
	size_t len;

	if (!net_bundle_next(b->msg, off, frame_max, &p, &len, bad)) {
		net_bundle_release(bp);
		return false;
	}
	memset(rx, 0, sizeof(*rx));
	rx->bytes = p;
	rx->len = len;
	rx->from = NET_FROM_REPLICA;
	rx->pipe = b->pipe;
	rx->replica = b->replica;
	rx->bundle = b;
	b->refs++;
	return true;
}

static nng_pipe pipe_of(uint32_t id)
{
	nng_pipe p = NNG_PIPE_INITIALIZER;

	p.id = id;
	return p;
}

/* ------------------------------------------------------------------------------------------- */
/* Pipe notifications (run on nng threads: net.h "Threading model") */

/* Admits a new connection on a listener if it is under its limit. A rejected pipe is closed in
 * ADD_PRE, before the socket ever reads from it, so a flood of connections costs us one accept
 * each and no protocol state. */
static void listener_add(struct net *net, struct net_map *live, nng_pipe p)
{
	enum bft_err e;

	pthread_mutex_lock(&net->lock);
	e = net_map_put(live, (uint64_t)nng_pipe_id(p), NET_NO_REPLICA);
	if (e != BFT_OK)
		net->conns_rejected++;
	pthread_mutex_unlock(&net->lock);
	/* Outside the lock: never hold ours across a call into nng. */
	if (e != BFT_OK)
		nng_pipe_close(p);
}

static void peer_listener_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct net *net = arg;

	if (ev == NNG_PIPE_EV_ADD_PRE) {
		listener_add(net, &net->peer_pipes, p);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		pthread_mutex_lock(&net->lock);
		net_map_del(&net->peer_pipes, (uint64_t)nng_pipe_id(p));
		pthread_mutex_unlock(&net->lock);
	}
}

static void client_listener_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct net *net = arg;

	if (ev == NNG_PIPE_EV_ADD_PRE) {
		listener_add(net, &net->cli_pipes, p);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		uint32_t id = nng_pipe_id(p);
		/* Forget the connection and every client bound to it, under one lock, so a
		 * concurrent net_client_bind either sees the pipe live (and its entry is removed
		 * here) or sees it gone (and refuses): no binding to a dead pipe survives. */
		pthread_mutex_lock(&net->lock);
		if (net_map_del(&net->cli_pipes, (uint64_t)id))
			net_map_del_val(&net->clients, id);
		pthread_mutex_unlock(&net->lock);
	}
}

static void peer_dialer_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct net_peer *peer = arg;

	(void)p;
	if (ev == NNG_PIPE_EV_ADD_POST)
		atomic_fetch_add(&peer->conns, 1u);
	else if (ev == NNG_PIPE_EV_REM_POST)
		atomic_fetch_sub(&peer->conns, 1u);
}

/* ------------------------------------------------------------------------------------------- */
/* Opening and closing */

static enum bft_err check_config(const struct net_replica_config *cfg, char *err, size_t errlen)
{
	if (cfg == NULL || cfg->peer_addrs == NULL) {
		net_errf(err, errlen, "net: no configuration or no peer addresses");
		return BFT_EINVAL;
	}
	if (cfg->n < 2 || cfg->n > NET_REPLICAS_MAX || cfg->self >= cfg->n) {
		net_errf(err, errlen, "net: bad replica count %u or id %u", cfg->n, cfg->self);
		return BFT_EINVAL;
	}
	for (uint32_t i = 0; i < cfg->n; i++) {
		if (cfg->peer_addrs[i] == NULL) {
			net_errf(err, errlen, "net: no address for replica %u", i);
			return BFT_EINVAL;
		}
	}
	if (cfg->frame_max == 0 || cfg->frame_max > UINT32_MAX - NET_HEADER_SLACK) {
		net_errf(err, errlen, "net: bad frame_max %u", cfg->frame_max);
		return BFT_EINVAL;
	}
	if (cfg->send_queue > NET_QUEUE_MAX || cfg->recv_queue > NET_QUEUE_MAX) {
		net_errf(err, errlen, "net: queues are limited to %u frames", NET_QUEUE_MAX);
		return BFT_EINVAL;
	}
	if (cfg->reconnect_max_ms != 0 && cfg->reconnect_min_ms > cfg->reconnect_max_ms) {
		net_errf(err, errlen, "net: reconnect_min_ms > reconnect_max_ms");
		return BFT_EINVAL;
	}
	return BFT_OK;
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
	return v != 0 ? v : def;
}

/* Starts a listener on sock at url with a receive size limit. The limit is set on the socket
 * (inherited by its endpoints) and again on the listener, so it holds whichever way this nng
 * version propagates it. */
static enum bft_err listen_on(nng_socket sock, const char *url, size_t recv_max, char *err,
			      size_t errlen)
{
	nng_listener l;
	int rv;

	rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, recv_max);
	if (rv == 0)
		rv = nng_listener_create(&l, sock, url);
	if (rv != 0) {
		net_errf(err, errlen, "net: listen on %s: %s", url, nng_strerror(rv));
		return net_err_from_nng(rv);
	}
	rv = nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, recv_max);
	if (rv == 0)
		(void)nng_listener_set_bool(l, NNG_OPT_TCP_KEEPALIVE, true); /* non-TCP URLs: n/a */
	if (rv == 0)
		rv = nng_listener_start(l, 0);
	if (rv != 0) {
		net_errf(err, errlen, "net: listen on %s: %s", url, nng_strerror(rv));
		nng_listener_close(l);
		return net_err_from_nng(rv);
	}
	return BFT_OK;
}

/* Opens the push socket for peer i and starts dialing it in the background. */
static enum bft_err open_peer(struct net *net, const struct net_replica_config *cfg, uint32_t i,
			      char *err, size_t errlen)
{
	struct net_peer *peer = &net->peers[i];
	nng_dialer d;
	int rv;

	if (net_aio_new(&peer->saio) != BFT_OK) {
		net_errf(err, errlen, "net: out of memory");
		return BFT_ENOMEM;
	}
	rv = nng_push0_open(&peer->sock);
	if (rv != 0) {
		net_errf(err, errlen, "net: push socket: %s", nng_strerror(rv));
		return net_err_from_nng(rv);
	}
	peer->open = true;
	rv = nng_socket_set_int(peer->sock, NNG_OPT_SENDBUF,
				(int)or_default(cfg->send_queue, DEF_SEND_QUEUE));
	if (rv == 0)
		rv = nng_socket_set_ms(peer->sock, NNG_OPT_RECONNMINT,
				       (nng_duration)or_default(cfg->reconnect_min_ms,
								DEF_RECONNECT_MIN_MS));
	if (rv == 0)
		rv = nng_socket_set_ms(peer->sock, NNG_OPT_RECONNMAXT,
				       (nng_duration)or_default(cfg->reconnect_max_ms,
								DEF_RECONNECT_MAX_MS));
	if (rv == 0)
		rv = nng_pipe_notify(peer->sock, NNG_PIPE_EV_ADD_POST, peer_dialer_cb, peer);
	if (rv == 0)
		rv = nng_pipe_notify(peer->sock, NNG_PIPE_EV_REM_POST, peer_dialer_cb, peer);
	if (rv == 0)
		rv = nng_dialer_create(&d, peer->sock, cfg->peer_addrs[i]);
	if (rv == 0) {
		/* Keepalive finds a peer that vanished without a FIN (power loss, partition),
		 * so its connection is torn down and redialed instead of silently queueing. */
		(void)nng_dialer_set_bool(d, NNG_OPT_TCP_KEEPALIVE, true);
		/* Non-blocking: the peer may not be up yet; nng keeps redialing with back-off. */
		rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	}
	if (rv != 0) {
		net_errf(err, errlen, "net: dial replica %u at %s: %s", i, cfg->peer_addrs[i],
			 nng_strerror(rv));
		return net_err_from_nng(rv);
	}
	return BFT_OK;
}

static enum bft_err open_pull(struct net *net, const struct net_replica_config *cfg, char *err,
			      size_t errlen)
{
	const char *url = cfg->listen_addr != NULL ? cfg->listen_addr : cfg->peer_addrs[cfg->self];
	int rv;

	if (net_aio_new(&net->pull_raio) != BFT_OK) {
		net_errf(err, errlen, "net: out of memory");
		return BFT_ENOMEM;
	}
	rv = nng_pull0_open(&net->pull);
	if (rv != 0) {
		net_errf(err, errlen, "net: pull socket: %s", nng_strerror(rv));
		return net_err_from_nng(rv);
	}
	net->pull_open = true;
	rv = nng_socket_set_int(net->pull, NNG_OPT_RECVBUF,
				(int)or_default(cfg->recv_queue, DEF_RECV_QUEUE));
	/* The callbacks go in before the listener starts, so no connection escapes the limit. */
	if (rv == 0)
		rv = nng_pipe_notify(net->pull, NNG_PIPE_EV_ADD_PRE, peer_listener_cb, net);
	if (rv == 0)
		rv = nng_pipe_notify(net->pull, NNG_PIPE_EV_REM_POST, peer_listener_cb, net);
	if (rv != 0) {
		net_errf(err, errlen, "net: pull socket options: %s", nng_strerror(rv));
		return net_err_from_nng(rv);
	}
	/* pipeline0 adds no header: the limit is exactly frame_max. */
	return listen_on(net->pull, url, cfg->frame_max, err, errlen);
}

static enum bft_err open_client_endpoint(struct net *net, const struct net_replica_config *cfg,
					 char *err, size_t errlen)
{
	int rv;

	if (net_aio_new(&net->cli_raio) != BFT_OK || net_aio_new(&net->cli_saio) != BFT_OK) {
		net_errf(err, errlen, "net: out of memory");
		return BFT_ENOMEM;
	}
	rv = nng_pair1_open_poly(&net->cli);
	if (rv != 0) {
		net_errf(err, errlen, "net: client socket: %s", nng_strerror(rv));
		return net_err_from_nng(rv);
	}
	net->cli_open = true;
	rv = nng_socket_set_int(net->cli, NNG_OPT_RECVBUF,
				(int)or_default(cfg->recv_queue, DEF_RECV_QUEUE));
	if (rv == 0)
		rv = nng_socket_set_int(net->cli, NNG_OPT_SENDBUF,
					(int)or_default(cfg->send_queue, DEF_SEND_QUEUE));
	if (rv == 0)
		rv = nng_pipe_notify(net->cli, NNG_PIPE_EV_ADD_PRE, client_listener_cb, net);
	if (rv == 0)
		rv = nng_pipe_notify(net->cli, NNG_PIPE_EV_REM_POST, client_listener_cb, net);
	if (rv != 0) {
		net_errf(err, errlen, "net: client socket options: %s", nng_strerror(rv));
		return net_err_from_nng(rv);
	}
	return listen_on(net->cli, cfg->client_addr, (size_t)cfg->frame_max + NET_HEADER_SLACK,
			 err, errlen);
}

enum bft_err net_replica_open(struct net **out, const struct net_replica_config *cfg, char *err,
			      size_t errlen)
{
	struct net *net;
	enum bft_err e;
	uint32_t clients_max, peer_conns, cli_conns;

	if (out == NULL)
		return BFT_EINVAL;
	e = check_config(cfg, err, errlen);
	if (e != BFT_OK)
		return e;
	net = calloc(1, sizeof(*net));
	if (net == NULL)
		return BFT_ENOMEM;
	net->self = cfg->self;
	net->n = cfg->n;
	net->frame_max = cfg->frame_max;
	pthread_mutex_init(&net->lock, NULL);
	clients_max = or_default(cfg->clients_max, DEF_CLIENTS_MAX);
	peer_conns = or_default(cfg->conns_max, 4 * cfg->n + 64);
	cli_conns = or_default(cfg->conns_max, clients_max);
	net->held_max = or_default(cfg->held_max, DEF_HELD_MAX);

	net->peers = calloc(cfg->n, sizeof(*net->peers));
	net->held = calloc(net->held_max, sizeof(*net->held));
	if (net->peers == NULL || net->held == NULL) {
		e = BFT_ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < cfg->n; i++) {
		net->peers[i].net = net;
		net->peers[i].id = i;
		atomic_init(&net->peers[i].conns, 0u);
	}
	if ((e = net_map_init(&net->peer_pipes, peer_conns)) != BFT_OK ||
	    (e = net_map_init(&net->cli_pipes, cli_conns)) != BFT_OK ||
	    (e = net_map_init(&net->clients, clients_max)) != BFT_OK ||
	    (e = net_map_init(&net->cb_index, clients_max)) != BFT_OK) {
		net_errf(err, errlen, "net: tables: %s", bft_strerror(e));
		goto fail;
	}
	/* Listen first: if our port is taken we fail before dialing anybody. */
	if ((e = open_pull(net, cfg, err, errlen)) != BFT_OK)
		goto fail;
	if (cfg->client_addr != NULL && (e = open_client_endpoint(net, cfg, err, errlen)) != BFT_OK)
		goto fail;
	for (uint32_t i = 0; i < cfg->n; i++) {
		if (i == cfg->self)
			continue;
		if ((e = open_peer(net, cfg, i, err, errlen)) != BFT_OK)
			goto fail;
	}
	*out = net;
	return BFT_OK;
fail:
	net_close(net);
	return e;
}

void net_close(struct net *net)
{
	if (net == NULL)
		return;
	/* nng_close returns after the socket's pipes are gone, and nng runs a pipe's REM_POST
	 * callback before removing it: once every socket is closed, no callback can touch net. */
	if (net->pull_open)
		nng_close(net->pull);
	if (net->cli_open)
		nng_close(net->cli);
	for (uint32_t i = 0; net->peers != NULL && i < net->n; i++)
		if (net->peers[i].open)
			nng_close(net->peers[i].sock);
	for (uint32_t i = 0; net->peers != NULL && i < net->n; i++)
		if (net->peers[i].bundle != NULL)
			nng_msg_free(net->peers[i].bundle);
	net_bundle_release(&net->rxb);
	/* The sockets are closed, so no operation is pending on these (nng_aio_free is NULL-safe). */
	for (uint32_t i = 0; net->peers != NULL && i < net->n; i++)
		nng_aio_free(net->peers[i].saio);
	nng_aio_free(net->pull_raio);
	nng_aio_free(net->cli_raio);
	nng_aio_free(net->cli_saio);
	if (net->held != NULL)
		net_fault_clear(net);
	free(net->held);
	free(net->peers);
	net_map_free(&net->peer_pipes);
	net_map_free(&net->cli_pipes);
	net_map_free(&net->clients);
	for (uint32_t i = 0; i < net->ncb; i++)
		if (net->cb[i].msg != NULL)
			nng_msg_free(net->cb[i].msg);
	free(net->cb);
	net_map_free(&net->cb_index);
	pthread_mutex_destroy(&net->lock);
	free(net);
}

/* ------------------------------------------------------------------------------------------- */
/* Sending */

enum bft_err net_peer_push(struct net *net, uint32_t to, nng_msg *m)
{
	struct net_peer *peer = &net->peers[to];
	int rv;

	/* Non-blocking: a full queue means the peer is slow, dead or partitioned; dropping the
	 * frame is what an asynchronous network does, and the protocols are built for it. */
	rv = net_aio_sendmsg(peer->sock, peer->saio, m);
	if (rv == 0) {
		peer->st.sent++;
		return BFT_OK;
	}
	nng_msg_free(m);
	peer->st.dropped_full++;
	return rv == NNG_EAGAIN ? BFT_EFULL : net_err_from_nng(rv);
}

/* Sends peer `to`'s bundle: as a bundle, or as its one frame without the framing. */
static void bundle_send(struct net *net, uint32_t to)
{
	struct net_peer *peer = &net->peers[to];
	nng_msg *m = peer->bundle;
	uint32_t frames = peer->bundle_frames;

	peer->bundle = NULL;
	peer->bundle_frames = 0;
	if (frames == 1)
		net_bundle_unwrap(m); /* the receiver sees a plain frame */
	if (net_peer_push(net, to, m) != BFT_OK && frames > 1) {
		/* net_peer_push counted one drop; the bundle held `frames` of them. */
		peer->st.dropped_full += frames - 1;
	} else if (frames > 1) {
		peer->st.sent += frames - 1;
	}
}

/* Appends a frame to peer `to`'s bundle, sending the bundle first if it would not fit. */
static enum bft_err bundle_add(struct net *net, uint32_t to, const uint8_t *bytes, size_t len)
{
	struct net_peer *peer = &net->peers[to];

	if (len + 1 + NET_BUNDLE_HDR > net->frame_max) {
		/* Too big to bundle at all: after what is waiting, on its own. */
		nng_msg *m;
		enum bft_err e;
		if (peer->bundle != NULL)
			bundle_send(net, to);
		e = net_msg_copy(&m, bytes, len);
		return e != BFT_OK ? e : net_peer_push(net, to, m);
	}
	if (peer->bundle != NULL && nng_msg_len(peer->bundle) + NET_BUNDLE_HDR + len > net->frame_max)
		bundle_send(net, to);
	if (net_bundle_append(&peer->bundle, bytes, len) != BFT_OK) {
		/* net_bundle_append dropped the bundle whole (it could end in a partial frame). */
		peer->st.dropped_full += peer->bundle_frames;
		peer->bundle_frames = 0;
		return BFT_ENOMEM;
	}
	peer->bundle_frames++;
	return BFT_OK;
}

enum bft_err net_send_replica(struct net *net, uint32_t to, const uint8_t *bytes, size_t len)
{
	nng_msg *m;
	enum bft_err e;

	if (to >= net->n || to == net->self)
		return BFT_EINVAL;
	if (len == 0 || len > net->frame_max || bytes == NULL)
		return BFT_ETOOBIG;
	if (net->peers[to].faulty)
		return net_fault_send(net, to, bytes, len);
	if (net->corked)
		return bundle_add(net, to, bytes, len);
	e = net_msg_copy(&m, bytes, len);
	if (e != BFT_OK)
		return e;
	return net_peer_push(net, to, m);
}

void net_cork(struct net *net)
{
	net->corked = true;
}

void net_uncork(struct net *net)
{
	net->corked = false;
	for (uint32_t i = 0; i < net->n; i++)
		if (net->peers[i].bundle != NULL)
			bundle_send(net, i);
	for (uint32_t i = 0; i < net->ncb; i++) {
		struct net_cbundle *c = &net->cb[i];
		int rv;
		if (c->msg == NULL)
			continue;
		if (c->frames == 1)
			net_bundle_unwrap(c->msg);
		nng_msg_set_pipe(c->msg, pipe_of(c->pipe));
		rv = net_aio_sendmsg(net->cli, net->cli_saio, c->msg);
		if (rv != 0) {
			nng_msg_free(c->msg);
			net->st.client_dropped_full += c->frames;
		} else {
			net->st.client_sent += c->frames;
		}
		c->msg = NULL;
		(void)net_map_del(&net->cb_index, c->client);
	}
	net->ncb = 0;
}

/* Corked: appends a reply for client_id (whose connection is pipe) to its bundle. */
static enum bft_err cbundle_add(struct net *net, bft_client_id client_id, uint32_t pipe,
				const uint8_t *bytes, size_t len)
{
	struct net_cbundle *c;
	uint32_t idx;

	if (!net_map_get(&net->cb_index, client_id, &idx) || net->cb[idx].pipe != pipe ||
	    (net->cb[idx].msg != NULL &&
	     nng_msg_len(net->cb[idx].msg) + NET_BUNDLE_HDR + len > net->frame_max)) {
		/* A new bundle: the first for this client, after a change of connection, or when
		 * the current one is full (the old one still goes out, in order, at uncork). */
		if (net->ncb == net->cb_cap) {
			uint32_t cap = net->cb_cap ? 2 * net->cb_cap : 64;
			struct net_cbundle *nb = realloc(net->cb, cap * sizeof(*nb));
			if (nb == NULL)
				return BFT_ENOMEM;
			net->cb = nb;
			net->cb_cap = cap;
		}
		idx = net->ncb++;
		net->cb[idx] = (struct net_cbundle){.client = client_id, .pipe = pipe};
		if (net_map_put(&net->cb_index, client_id, idx) != BFT_OK) {
			net->ncb--;
			return BFT_EFULL;
		}
	}
	c = &net->cb[idx];
	if (net_bundle_append(&c->msg, bytes, len) != BFT_OK) {
		net->st.client_dropped_full += c->frames;
		c->frames = 0;
		return BFT_ENOMEM;
	}
	c->frames++;
	return BFT_OK;
}

enum bft_err net_send_all(struct net *net, const uint8_t *bytes, size_t len)
{
	enum bft_err first = BFT_OK;

	for (uint32_t i = 0; i < net->n; i++) {
		if (i == net->self)
			continue;
		enum bft_err e = net_send_replica(net, i, bytes, len);
		if (e != BFT_OK && first == BFT_OK)
			first = e;
	}
	return first;
}

enum bft_err net_send_client(struct net *net, bft_client_id client_id, const uint8_t *bytes,
			     size_t len)
{
	uint32_t pipe = 0;
	bool found;
	nng_msg *m;
	enum bft_err e;
	int rv;

	if (!net->cli_open)
		return BFT_ESTATE;
	if (len == 0 || len > net->frame_max || bytes == NULL)
		return BFT_ETOOBIG;
	pthread_mutex_lock(&net->lock);
	found = net_map_get(&net->clients, client_id, &pipe);
	pthread_mutex_unlock(&net->lock);
	if (!found) {
		net->st.client_dropped_unknown++;
		return BFT_ESTALE;
	}
	/* A bundle never holds a frame that leaves less than its framing under frame_max. */
	if (net->corked && len + 1 + NET_BUNDLE_HDR <= net->frame_max)
		return cbundle_add(net, client_id, pipe, bytes, len);
	e = net_msg_copy(&m, bytes, len);
	if (e != BFT_OK)
		return e;
	/* If the pipe closes between the lookup and the send, poly pair1 drops the frame: the
	 * same outcome as a reply lost in flight, which the client's retransmission covers. */
	nng_msg_set_pipe(m, pipe_of(pipe));
	rv = net_aio_sendmsg(net->cli, net->cli_saio, m);
	if (rv != 0) {
		nng_msg_free(m);
		net->st.client_dropped_full++;
		return rv == NNG_EAGAIN ? BFT_EFULL : net_err_from_nng(rv);
	}
	net->st.client_sent++;
	return BFT_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Bindings */

enum bft_err net_client_bind(struct net *net, uint32_t pipe, bft_client_id client_id)
{
	enum bft_err e;

	if (!net->cli_open)
		return BFT_ESTATE;
	pthread_mutex_lock(&net->lock);
	if (!net_map_get(&net->cli_pipes, pipe, NULL))
		e = BFT_ESTALE;
	else
		e = net_map_put(&net->clients, client_id, pipe);
	pthread_mutex_unlock(&net->lock);
	if (e == BFT_EFULL)
		net->st.client_bind_full++;
	return e;
}

void net_client_unbind(struct net *net, bft_client_id client_id)
{
	if (!net->cli_open)
		return;
	pthread_mutex_lock(&net->lock);
	(void)net_map_del(&net->clients, client_id);
	pthread_mutex_unlock(&net->lock);
}

enum bft_err net_peer_bind(struct net *net, uint32_t pipe, uint32_t r)
{
	enum bft_err e = BFT_OK;

	if (r >= net->n)
		return BFT_EINVAL;
	pthread_mutex_lock(&net->lock);
	if (!net_map_get(&net->peer_pipes, pipe, NULL))
		e = BFT_ESTALE;
	else
		(void)net_map_put(&net->peer_pipes, pipe, r); /* present: cannot be full */
	pthread_mutex_unlock(&net->lock);
	return e;
}

/* ------------------------------------------------------------------------------------------- */
/* Receiving */

size_t net_poll_fds(struct net *net, struct pollfd *fds, size_t max)
{
	size_t k = 0;
	int fd;

	if (k < max && net->pull_open && nng_socket_get_int(net->pull, NNG_OPT_RECVFD, &fd) == 0) {
		fds[k].fd = fd;
		fds[k].events = POLLIN;
		fds[k].revents = 0;
		k++;
	}
	if (k < max && net->cli_open && nng_socket_get_int(net->cli, NNG_OPT_RECVFD, &fd) == 0) {
		fds[k].fd = fd;
		fds[k].events = POLLIN;
		fds[k].revents = 0;
		k++;
	}
	return k;
}

/* Takes one well-sized frame from sock without blocking, discarding (and counting) at most a
 * budget of bad ones. */
static nng_msg *recv_one(struct net *net, nng_socket sock, nng_aio *aio)
{
	nng_msg *m;

	for (uint32_t i = 0; i < NET_DISCARD_BUDGET; i++) {
		if (net_aio_recvmsg(sock, aio, &m) != 0)
			return NULL;
		size_t len = nng_msg_len(m);
		if (len > 0 && len <= net->frame_max)
			return m;
		nng_msg_free(m);
		net->st.size_dropped++;
	}
	return NULL;
}

/* The next frame of the bundle being split, if any. A length that runs past the end, or is
 * zero or over frame_max, ends the bundle (counted). */
static bool rxb_next(struct net *net, struct net_rx *rx)
{
	uint32_t replica = net->rxb->replica;
	bool first = net->rxb_off == 1, bad;

	if (!net_bundle_take(&net->rxb, &net->rxb_off, net->frame_max, rx, &bad)) {
		if (bad)
			net->st.size_dropped++;
		return false;
	}
	/* The bundle itself was counted as one frame when it arrived: count the others. */
	if (!first) {
		net->st.replica_received++;
		if (replica < net->n)
			net->peers[replica].st.received++;
		else
			net->st.replica_received_unbound++;
	}
	return true;
}

bool net_recv(struct net *net, struct net_rx *rx)
{
	if (net->rxb != NULL && rxb_next(net, rx))
		return true;
	for (unsigned k = 0; k < 2; k++) {
		bool mesh = ((net->turn + k) & 1u) == 0;
		nng_msg *m;

		if (mesh ? !net->pull_open : !net->cli_open)
			continue;
		m = recv_one(net, mesh ? net->pull : net->cli, mesh ? net->pull_raio : net->cli_raio);
		if (m == NULL)
			continue;
		/* Start with the other endpoint next time, so a flood on one cannot starve the
		 * other: each gets at least every second frame while both have work. */
		net->turn += k + 1;
		memset(rx, 0, sizeof(*rx));
		rx->msg = m;
		rx->bytes = nng_msg_body(m);
		rx->len = nng_msg_len(m);
		rx->pipe = nng_pipe_id(nng_msg_get_pipe(m));
		rx->replica = NET_NO_REPLICA;
		if (mesh) {
			uint32_t tag = NET_NO_REPLICA;
			rx->from = NET_FROM_REPLICA;
			pthread_mutex_lock(&net->lock);
			(void)net_map_get(&net->peer_pipes, rx->pipe, &tag);
			pthread_mutex_unlock(&net->lock);
			net->st.replica_received++;
			if (tag < net->n) {
				rx->replica = tag;
				net->peers[tag].st.received++;
			} else {
				net->st.replica_received_unbound++;
			}
			if (rx->bytes[0] == NET_BUNDLE_MAGIC) {
				struct net_bundle *b = malloc(sizeof(*b));
				if (b == NULL) {
					nng_msg_free(m);
					memset(rx, 0, sizeof(*rx));
					return false;
				}
				*b = (struct net_bundle){.msg = m, .refs = 1, .pipe = rx->pipe,
							 .replica = rx->replica};
				net->rxb = b;
				net->rxb_off = 1;
				if (rxb_next(net, rx))
					return true;
				memset(rx, 0, sizeof(*rx));
				continue; /* an empty or broken bundle: try the other endpoint */
			}
		} else {
			rx->from = NET_FROM_CLIENT;
			net->st.client_received++;
		}
		return true;
	}
	return false;
}

void net_rx_release(struct net_rx *rx)
{
	if (rx == NULL)
		return;
	net_bundle_release(&rx->bundle);
	if (rx->msg != NULL)
		nng_msg_free(rx->msg);
	memset(rx, 0, sizeof(*rx));
}

/* ------------------------------------------------------------------------------------------- */
/* Statistics */

void net_stats(struct net *net, struct net_stats *out)
{
	*out = net->st;
	pthread_mutex_lock(&net->lock);
	out->conns_rejected = net->conns_rejected;
	out->peer_conns = net->peer_pipes.count;
	out->client_conns = net->cli_pipes.count;
	out->clients_bound = net->clients.count;
	pthread_mutex_unlock(&net->lock);
	out->held = net->held_len;
}

void net_peer_stats(struct net *net, uint32_t peer, struct net_peer_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (peer >= net->n || peer == net->self)
		return;
	*out = net->peers[peer].st;
	out->connected = atomic_load(&net->peers[peer].conns) > 0;
}
