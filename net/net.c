/*
 * net.c: the replica side of the transport (net.h explains the model and the limits).
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "net/net_internal.h"

#include "crypto/cr_mac.h"

#define DEF_SEND_QUEUE 128u
#define DEF_RECONNECT_MIN_MS 50u
#define DEF_RECONNECT_MAX_MS 2000u
#define DEF_CLIENTS_MAX 4096u
#define DEF_HELD_MAX 4096u
#define DEF_CLIENT_QUEUE_BYTES (1u << 20)
#define DEF_CLIENT_QUEUE_TOTAL (64u << 20)
/* Connections one listener event may accept before the loop moves on. */
#define ACCEPT_BUDGET 64u
/* How long a listener rests when accept() finds no descriptor left. */
#define ACCEPT_PAUSE_MS 100u
/* Frames handed out from buffers before net_recv looks at the sockets again when one of the
 * two endpoints has nothing buffered (so a busy client endpoint cannot keep the mesh unread). */
#define SERVE_BEFORE_POLL 32u

static uint32_t or_default(uint32_t v, uint32_t def)
{
	return v != 0 ? v : def;
}

static uint32_t new_id(struct net *net)
{
	if (++net->next_id == 0)
		net->next_id = 1;
	return net->next_id;
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
	if (cfg->link_keys_out == NULL || cfg->link_keys_in == NULL) {
		net_errf(err, errlen, "net: no link keys");
		return BFT_EINVAL;
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

/* Prepares the connection to peer i; the first dial happens at once. */
static enum bft_err open_peer(struct net *net, const struct net_replica_config *cfg, uint32_t i,
			      char *err, size_t errlen)
{
	struct net_conn *c = &net->peers[i].conn;
	enum bft_err e;

	e = net_conn_init(c, NET_CONN_PEER_OUT, net->send_queue);
	if (e != BFT_OK) {
		net_errf(err, errlen, "net: out of memory");
		return e;
	}
	c->tag = i;
	c->id = new_id(net);
	c->tagged = true;
	c->mac_key = cfg->link_keys_out + (size_t)i * NET_LINK_KEY_BYTES;
	e = net_addr_parse(cfg->peer_addrs[i], false, &c->addr, &c->addrlen, err, errlen);
	if (e != BFT_OK)
		return e;
	c->retry_ms = 0; /* due now */
	return BFT_OK;
}

enum bft_err net_replica_open(struct net **out, const struct net_replica_config *cfg, char *err,
			      size_t errlen)
{
	struct net *net;
	enum bft_err e;
	uint32_t clients_max;

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
	net->client_frame_max = cfg->client_frame_max != 0 && cfg->client_frame_max < cfg->frame_max
					? cfg->client_frame_max : cfg->frame_max;
	net->send_queue = or_default(cfg->send_queue, DEF_SEND_QUEUE);
	net->client_queue_bytes = or_default(cfg->client_queue_bytes, DEF_CLIENT_QUEUE_BYTES);
	net->client_queue_total = or_default(cfg->client_queue_total, DEF_CLIENT_QUEUE_TOTAL);
	net->reconnect_min_ms = or_default(cfg->reconnect_min_ms, DEF_RECONNECT_MIN_MS);
	net->reconnect_max_ms = or_default(cfg->reconnect_max_ms, DEF_RECONNECT_MAX_MS);
	net->mesh_l.fd = net->cli_l.fd = -1;
	net->ep = epoll_create1(EPOLL_CLOEXEC);
	clients_max = or_default(cfg->clients_max, DEF_CLIENTS_MAX);
	net->mesh_conns_max = or_default(cfg->conns_max, 4 * cfg->n + 64);
	net->cli_conns_max = cfg->client_addr != NULL ? or_default(cfg->conns_max, clients_max) : 0;
	net->held_max = or_default(cfg->held_max, DEF_HELD_MAX);
	net->conns_cap = net->mesh_conns_max + net->cli_conns_max;
	net->pool = net_pool_new();
	net->link_out = cfg->link_keys_out;
	net->link_in = cfg->link_keys_in;
	net->hello_last_us = calloc(cfg->n, sizeof(*net->hello_last_us));
	net->peers = calloc(cfg->n, sizeof(*net->peers));
	net->held = calloc(net->held_max, sizeof(*net->held));
	net->conns = calloc(net->conns_cap, sizeof(*net->conns));
	net->free_slots = calloc(net->conns_cap, sizeof(*net->free_slots));
	/* Every connection alive during one batch can be buried in it, plus all it accepts. */
	net->grave_cap = net->conns_cap + NET_EVENTS_MAX * ACCEPT_BUDGET;
	net->grave = calloc(net->grave_cap, sizeof(*net->grave));
	if (net->ep < 0 || net->pool == NULL || net->peers == NULL || net->held == NULL ||
	    net->conns == NULL || net->free_slots == NULL || net->grave == NULL ||
	    net->hello_last_us == NULL) {
		net_errf(err, errlen, "net: out of memory or descriptors");
		e = BFT_ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < net->conns_cap; i++)
		net->free_slots[net->nfree++] = net->conns_cap - 1 - i;
	for (uint32_t i = 0; i < cfg->n; i++)
		net->peers[i].conn.fd = -1;
	if ((e = net_map_init(&net->peer_pipes, net->mesh_conns_max)) != BFT_OK ||
	    (e = net_map_init(&net->cli_pipes, net->cli_conns_max ? net->cli_conns_max : 1)) != BFT_OK ||
	    (e = net_map_init(&net->clients, clients_max)) != BFT_OK) {
		net_errf(err, errlen, "net: tables: %s", bft_strerror(e));
		goto fail;
	}
	/* Listen first: if our port is taken we fail before dialing anybody. */
	e = net_listen(&net->mesh_l, NET_KIND_MESH,
		       cfg->listen_addr != NULL ? cfg->listen_addr : cfg->peer_addrs[cfg->self],
		       net->ep, err, errlen);
	if (e != BFT_OK)
		goto fail;
	if (cfg->client_addr != NULL) {
		e = net_listen(&net->cli_l, NET_KIND_CLIENT, cfg->client_addr, net->ep, err, errlen);
		if (e != BFT_OK)
			goto fail;
		net->cli_open = true;
	}
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

static void close_accepted(struct net *net, struct net_conn *c);
static void free_graves(struct net *net);

void net_close(struct net *net)
{
	if (net == NULL)
		return;
	if (net->grave != NULL)
		free_graves(net);
	net_listener_close(&net->mesh_l);
	net_listener_close(&net->cli_l);
	for (uint32_t i = 0; net->conns != NULL && i < net->conns_cap; i++)
		if (net->conns[i] != NULL)
			close_accepted(net, net->conns[i]);
	for (uint32_t i = 0; net->peers != NULL && i < net->n; i++)
		net_conn_free(&net->peers[i].conn);
	if (net->held != NULL)
		net_fault_clear(net);
	free(net->held);
	free(net->peers);
	free(net->conns);
	free(net->free_slots);
	free(net->grave);
	free(net->hello_last_us);
	free(net->dirty);
	net_map_free(&net->peer_pipes);
	net_map_free(&net->cli_pipes);
	net_map_free(&net->clients);
	net_pool_release(net->pool);
	if (net->ep >= 0)
		close(net->ep);
	free(net);
}

/* ------------------------------------------------------------------------------------------- */
/* Connections: dialing, accepting, closing */

static void peer_lost(struct net *net, struct net_conn *c)
{
	net_ready_remove(&net->ready[0], c);
	net_conn_schedule(c, net_now_ms(), net->reconnect_min_ms, net->reconnect_max_ms);
}

/* Dials every peer whose reconnect time has come, and wakes rested listeners. */
static void dial_due(struct net *net, uint64_t now)
{
	struct net_listener *ls[2] = {&net->mesh_l, &net->cli_l};

	for (int i = 0; i < 2; i++) {
		struct net_listener *l = ls[i];
		if (l->fd >= 0 && l->paused_until_ms != 0 && now >= l->paused_until_ms &&
		    net_ep_add(net->ep, l->fd, l, false) == 0)
			l->paused_until_ms = 0;
	}
	for (uint32_t i = 0; i < net->n; i++) {
		struct net_conn *c = &net->peers[i].conn;
		if (i == net->self || c->fd >= 0 || c->retry_ms > now)
			continue;
		net_hello_build(c, NET_KIND_MESH, net->self, i, net->link_out + (size_t)i * NET_LINK_KEY_BYTES);
		if (net_conn_dial(c, net->ep) != 0)
			net_conn_schedule(c, now, net->reconnect_min_ms, net->reconnect_max_ms);
	}
}

/* Takes an accepted connection out of every table and list and closes its socket. */
static void unlink_accepted(struct net *net, struct net_conn *c)
{
	struct net_map *live = c->kind == NET_CONN_MESH_IN ? &net->peer_pipes : &net->cli_pipes;

	net_ready_remove(&net->ready[c->kind == NET_CONN_MESH_IN ? 0 : 1], c);
	/* A closed client connection takes every binding to it along: replies to those clients
	 * wait for their next verified request. */
	if (net_map_del(live, c->id) && c->kind == NET_CONN_CLIENT_IN)
		net_map_del_val(&net->clients, c->id);
	if (c->dirty) {
		for (uint32_t i = 0; i < net->ndirty; i++)
			if (net->dirty[i] == c)
				net->dirty[i] = NULL;
	}
	net->conns[c->slot] = NULL;
	net->free_slots[net->nfree++] = c->slot;
	net_conn_free(c); /* closes the socket, which also leaves the epoll set */
}

static void close_accepted(struct net *net, struct net_conn *c)
{
	unlink_accepted(net, c);
	free(c);
}

/* Closes another connection than the one whose event is being handled: the current epoll batch
 * may still name it, so its memory lives until the batch is done (free_graves). false (nothing
 * done) in the unreachable case that the grave is full. */
static bool bury_accepted(struct net *net, struct net_conn *c)
{
	if (net->ngrave == net->grave_cap)
		return false;
	unlink_accepted(net, c);
	c->dead = true;
	net->grave[net->ngrave++] = c;
	return true;
}

static void free_graves(struct net *net)
{
	for (uint32_t i = 0; i < net->ngrave; i++)
		free(net->grave[i]);
	net->ngrave = 0;
}

/* The oldest mesh connection that has not authenticated yet, or NULL. */
static struct net_conn *oldest_unauthenticated(struct net *net)
{
	struct net_conn *old = NULL;

	for (uint32_t i = 0; i < net->conns_cap; i++) {
		struct net_conn *c = net->conns[i];
		if (c != NULL && c->kind == NET_CONN_MESH_IN && !c->hello_ok &&
		    (old == NULL || c->id - old->id > UINT32_MAX / 2))
			old = c;
	}
	return old;
}

/* Accepts what is waiting on listener l. A connection over the listener's limit is closed at
 * once, before we read a byte of it: a flood of connections costs one accept each. */
static void accept_some(struct net *net, struct net_listener *l)
{
	bool mesh = l->kind == NET_KIND_MESH;

	for (uint32_t i = 0; i < ACCEPT_BUDGET; i++) {
		struct net_map *live = mesh ? &net->peer_pipes : &net->cli_pipes;
		uint32_t limit = mesh ? net->mesh_conns_max : net->cli_conns_max;
		struct net_conn *c;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			/* Out of descriptors (a flood of connections under a low RLIMIT_NOFILE): the
			 * listener would stay readable and spin the loop, so it rests out of epoll
			 * for a moment (the kernel's backlog holds the callers meanwhile). Anything
			 * else (EAGAIN, an aborted connection) ends this round. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				(void)epoll_ctl(net->ep, EPOLL_CTL_DEL, l->fd, NULL);
				l->paused_until_ms = net_now_ms() + ACCEPT_PAUSE_MS;
				net->st.accept_paused++;
			}
			return;
		}
		if (mesh && live->count >= limit) {
			/* Full: a connection that has not proved to be a replica's yields its place
			 * (the oldest first), so connections that never say hello cannot keep a
			 * restarted replica out. Authenticated ones are one per peer (mesh_hello). */
			struct net_conn *old = oldest_unauthenticated(net);
			if (old != NULL && bury_accepted(net, old))
				net->st.conns_rejected++;
		}
		if (live->count >= limit || net->nfree == 0) {
			close(fd);
			net->st.conns_rejected++;
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL || net_conn_init(c, mesh ? NET_CONN_MESH_IN : NET_CONN_CLIENT_IN,
					       net->send_queue) != BFT_OK) {
			if (c != NULL)
				net_conn_free(c);
			free(c);
			close(fd);
			net->st.conns_rejected++;
			continue;
		}
		net_sock_tune(fd);
		c->fd = fd;
		c->up = true;
		c->hello_sent = NET_HELLO_BYTES; /* the accepting side sends no hello */
		c->id = new_id(net);
		c->tag = NET_NO_REPLICA;
		c->slot = net->free_slots[--net->nfree];
		if (!mesh)
			c->acct = &net->client_queued;
		net->conns[c->slot] = c;
		if (net_map_put(live, c->id, c->slot) != BFT_OK || net_ep_add(net->ep, fd, c, false) != 0) {
			(void)net_map_del(live, c->id);
			net->st.conns_rejected++;
			close_accepted(net, c);
		}
	}
}

/* Drops connection c after a failure (a dialed one is redialed later). */
static void conn_failed(struct net *net, struct net_conn *c)
{
	if (c->kind == NET_CONN_PEER_OUT)
		peer_lost(net, c);
	else
		close_accepted(net, c);
}

/* The longest frame we read from c. */
static uint32_t read_max(const struct net *net, const struct net_conn *c)
{
	return c->kind == NET_CONN_CLIENT_IN ? net->client_frame_max : net->frame_max;
}

/*
 * A mesh connection's hello (net_internal.h): the dialer names itself and us, with the time, under
 * the link key K(from->us). Accepted only if newer than the last hello accepted from that peer
 * (a recorded hello cannot be replayed). The connection is then that replica's (rx.replica), and
 * any older connection of the same replica is closed: one per peer, whatever it reconnects.
 */
static enum net_peek mesh_hello(struct net *net, struct net_conn *c)
{
	const uint8_t *h;
	uint32_t from, to;
	uint64_t t;

	if (c->rc == NULL || c->rlen - c->roff < NET_HELLO_BYTES)
		return NET_PEEK_MORE;
	h = c->rc->data + c->roff;
	if (!net_hello_header_ok(h, NET_KIND_MESH))
		return NET_PEEK_BAD; /* not a replica's hello at all: no need to wait for more */
	if (c->rlen - c->roff < NET_MESH_HELLO_BYTES)
		return NET_PEEK_MORE;
	from = net_le32(h + 8);
	to = net_le32(h + 12);
	t = net_le64(h + 16);
	if (to != net->self || from >= net->n ||
	    from == net->self ||
	    cr_mac_short_verify(h + 24, net->link_in + (size_t)from * NET_LINK_KEY_BYTES, h, 24) != 0 ||
	    t <= net->hello_last_us[from])
		return NET_PEEK_BAD;
	net->hello_last_us[from] = t;
	c->hello_ok = true;
	c->tag = from;
	c->roff += NET_MESH_HELLO_BYTES;
	c->tagged = true;
	c->mac_key = net->link_in + (size_t)from * NET_LINK_KEY_BYTES;
	c->mac_epoch = t;
	c->mac_seq = 0;
	for (uint32_t i = 0; i < net->conns_cap; i++) {
		struct net_conn *o = net->conns[i];
		if (o != NULL && o != c && o->kind == NET_CONN_MESH_IN && o->hello_ok &&
		    o->tag == from && bury_accepted(net, o))
			net->st.peer_replaced++;
	}
	return NET_PEEK_FRAME;
}

/* Puts c on its ready list if it holds a whole frame; drops it if its input is broken. */
static void conn_check(struct net *net, struct net_conn *c)
{
	uint64_t empty = 0;
	enum net_peek pk;

	if (c->kind == NET_CONN_MESH_IN && !c->hello_ok) {
		pk = mesh_hello(net, c);
		if (pk == NET_PEEK_MORE)
			return;
		if (pk == NET_PEEK_BAD) {
			net->st.hello_refused++;
			conn_failed(net, c);
			return;
		}
	}
	pk = net_conn_peek(c, read_max(net, c), &empty);

	net->st.size_dropped += empty;
	if (pk == NET_PEEK_FRAME) {
		if (!c->queued)
			net_ready_push(&net->ready[c->kind == NET_CONN_MESH_IN ? 0 : 1], c);
	} else if (pk == NET_PEEK_BAD || pk == NET_PEEK_BADTAG) {
		/* A bad hello, a length over frame_max or a frame that is not the link's: nothing
		 * after it can be trusted to be a frame boundary, or to come from the replica. */
		if (pk == NET_PEEK_BADTAG)
			net->st.tag_refused++;
		else if (c->hello_ok)
			net->st.size_dropped++;
		else
			net->st.hello_refused++;
		conn_failed(net, c);
	}
}

static void on_conn_event(struct net *net, struct net_conn *c, uint32_t events)
{
	if (c->dead)
		return; /* closed earlier in this batch (bury_accepted) */
	if (c->kind == NET_CONN_PEER_OUT && c->connecting) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (net_conn_dial_done(c, net->ep) != 0) {
			peer_lost(net, c);
			return;
		}
		c->backoff_ms = 0;
		return;
	}
	if (events & EPOLLOUT) {
		if (net_conn_flush(c, net->ep) != 0) {
			conn_failed(net, c);
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		ssize_t r;
		if (c->queued)
			return; /* read more once what it holds has been handed out */
		r = net_conn_read(c, net->pool, read_max(net, c));
		if (r == 0 || r == -1) {
			/* End of stream or error. Our connections to peers only ever send, so
			 * anything they read is a peer closing (or misbehaving): redial. */
			conn_failed(net, c);
			return;
		}
		if (r > 0 && c->kind == NET_CONN_PEER_OUT) {
			conn_failed(net, c);
			return;
		}
		if (r > 0)
			conn_check(net, c);
	}
}

/* One non-blocking look at the sockets: accepts, reads, writes, finished dials. */
static bool poll_sockets(struct net *net)
{
	struct epoll_event evs[NET_EVENTS_MAX];
	int k;

	net->served = 0;
	dial_due(net, net_now_ms());
	do {
		k = epoll_wait(net->ep, evs, NET_EVENTS_MAX, 0);
	} while (k < 0 && errno == EINTR);
	for (int i = 0; i < k; i++) {
		uint8_t obj = *(uint8_t *)evs[i].data.ptr;
		if (obj == NET_OBJ_LISTENER)
			accept_some(net, evs[i].data.ptr);
		else
			on_conn_event(net, evs[i].data.ptr, evs[i].events);
	}
	free_graves(net);
	return k > 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Sending */

static void mark_dirty(struct net *net, struct net_conn *c)
{
	if (c->dirty)
		return;
	if (net->ndirty == net->dirty_cap) {
		uint32_t cap = net->dirty_cap ? 2 * net->dirty_cap : 64;
		struct net_conn **nd = realloc(net->dirty, cap * sizeof(*nd));
		if (nd == NULL) {
			/* Cannot defer: send now. */
			if (net_conn_flush(c, net->ep) != 0)
				conn_failed(net, c);
			return;
		}
		net->dirty = nd;
		net->dirty_cap = cap;
	}
	net->dirty[net->ndirty++] = c;
	c->dirty = true;
}

/* Queued on c: flush now, or at net_uncork. */
static void conn_kick(struct net *net, struct net_conn *c)
{
	if (net->corked) {
		mark_dirty(net, c);
		return;
	}
	if (net_conn_flush(c, net->ep) != 0)
		conn_failed(net, c);
}

enum bft_err net_peer_push(struct net *net, uint32_t to, const uint8_t *bytes, size_t len)
{
	struct net_peer *peer = &net->peers[to];
	enum bft_err e = net_conn_queue(&peer->conn, bytes, len);

	/* A full queue means the peer is slow, dead or partitioned; dropping the frame is what an
	 * asynchronous network does, and the protocols are built for it (PBFT retransmits, Honey
	 * Badger tolerates asynchrony). An unbounded queue would not be safe. */
	if (e != BFT_OK) {
		peer->st.dropped_full++;
		return e;
	}
	peer->st.sent++;
	conn_kick(net, &peer->conn);
	return BFT_OK;
}

enum bft_err net_send_replica(struct net *net, uint32_t to, const uint8_t *bytes, size_t len)
{
	if (to >= net->n || to == net->self)
		return BFT_EINVAL;
	if (len == 0 || len > net->frame_max || bytes == NULL)
		return BFT_ETOOBIG;
	if (net->peers[to].faulty)
		return net_fault_send(net, to, bytes, len);
	return net_peer_push(net, to, bytes, len);
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

void net_cork(struct net *net)
{
	net->corked = true;
}

void net_uncork(struct net *net)
{
	net->corked = false;
	for (uint32_t i = 0; i < net->ndirty; i++) {
		struct net_conn *c = net->dirty[i];
		if (c == NULL)
			continue;
		c->dirty = false;
		if (net_conn_flush(c, net->ep) != 0)
			conn_failed(net, c);
	}
	net->ndirty = 0;
}

static struct net_conn *client_conn(struct net *net, uint32_t pipe)
{
	uint32_t slot;

	if (!net_map_get(&net->cli_pipes, pipe, &slot))
		return NULL;
	return net->conns[slot];
}

enum bft_err net_send_client(struct net *net, bft_client_id client_id, const uint8_t *bytes,
			     size_t len)
{
	uint32_t pipe = 0;
	struct net_conn *c;
	enum bft_err e;

	if (!net->cli_open)
		return BFT_ESTATE;
	if (len == 0 || len > net->frame_max || bytes == NULL)
		return BFT_ETOOBIG;
	if (!net_map_get(&net->clients, client_id, &pipe) || (c = client_conn(net, pipe)) == NULL) {
		net->st.client_dropped_unknown++;
		return BFT_ESTALE;
	}
	/* A client that does not read its replies loses them (it retransmits): past its own
	 * share of bytes, or past what all client connections together may hold. */
	if ((c->wlen > c->woff &&
	     c->wlen - c->woff + len + NET_LEN_BYTES > net->client_queue_bytes) ||
	    net->client_queued + len + NET_LEN_BYTES > net->client_queue_total)
		e = BFT_EFULL;
	else
		e = net_conn_queue(c, bytes, len);
	if (e != BFT_OK) {
		net->st.client_dropped_full++;
		return e;
	}
	net->st.client_sent++;
	conn_kick(net, c);
	return BFT_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Bindings */

enum bft_err net_client_bind(struct net *net, uint32_t pipe, bft_client_id client_id)
{
	enum bft_err e;

	if (!net->cli_open)
		return BFT_ESTATE;
	if (!net_map_get(&net->cli_pipes, pipe, NULL))
		return BFT_ESTALE;
	e = net_map_put(&net->clients, client_id, pipe);
	if (e == BFT_EFULL)
		net->st.client_bind_full++;
	return e;
}

void net_client_unbind(struct net *net, bft_client_id client_id)
{
	if (net->cli_open)
		(void)net_map_del(&net->clients, client_id);
}

enum bft_err net_peer_bind(struct net *net, uint32_t pipe, uint32_t r)
{
	uint32_t slot;

	if (r >= net->n)
		return BFT_EINVAL;
	if (!net_map_get(&net->peer_pipes, pipe, &slot))
		return BFT_ESTALE;
	/* Mesh connections are bound by their authenticated hello; this only confirms it. */
	return net->conns[slot]->tag == r ? BFT_OK : BFT_EINVAL;
}

/* ------------------------------------------------------------------------------------------- */
/* Receiving */

size_t net_poll_fds(struct net *net, struct pollfd *fds, size_t max)
{
	dial_due(net, net_now_ms());
	if (max == 0)
		return 0;
	fds[0].fd = net->ep;
	fds[0].events = POLLIN;
	fds[0].revents = 0;
	return 1;
}

int net_timeout_ms(const struct net *net)
{
	uint64_t now = net_now_ms(), due = UINT64_MAX;
	int ft;

	if (net->ready[0].head != NULL || net->ready[1].head != NULL)
		return 0;
	if (net->mesh_l.paused_until_ms != 0)
		due = net->mesh_l.paused_until_ms;
	if (net->cli_l.paused_until_ms != 0 && net->cli_l.paused_until_ms < due)
		due = net->cli_l.paused_until_ms;
	for (uint32_t i = 0; i < net->n; i++) {
		const struct net_conn *c = &net->peers[i].conn;
		if (i != net->self && c->fd < 0 && c->retry_ms < due)
			due = c->retry_ms;
	}
	ft = net_fault_timeout_ms(net);
	if (due != UINT64_MAX) {
		int dt = due <= now ? 0 : (due - now > (uint64_t)INT_MAX ? INT_MAX : (int)(due - now));
		if (ft < 0 || dt < ft)
			ft = dt;
	}
	return ft;
}

/* Hands out the next frame of the first connection on list q, then sends that connection to
 * the back of the list if it holds another whole frame (round robin across connections). */
static bool serve(struct net *net, unsigned which, struct net_rx *rx)
{
	struct net_ready *q = &net->ready[which];
	struct net_conn *c = q->head;

	if (c == NULL)
		return false;
	net_ready_remove(q, c);
	net_conn_take(c, rx);
	if (which == 0) {
		rx->from = NET_FROM_REPLICA;
		rx->replica = c->tag;
		net->st.replica_received++;
		if (c->tag < net->n)
			net->peers[c->tag].st.received++;
		else
			net->st.replica_received_unbound++;
	} else {
		rx->from = NET_FROM_CLIENT;
		rx->replica = NET_NO_REPLICA;
		net->st.client_received++;
	}
	net->served++;
	conn_check(net, c); /* may close c: rx holds its own reference to the bytes */
	return true;
}

void net_service(struct net *net)
{
	(void)poll_sockets(net);
}

bool net_recv(struct net *net, struct net_rx *rx)
{
	for (int pass = 0; pass < 2; pass++) {
		bool mesh_empty = net->ready[0].head == NULL, cli_empty = net->ready[1].head == NULL;
		if ((mesh_empty && cli_empty) ||
		    ((mesh_empty || cli_empty) && net->served >= SERVE_BEFORE_POLL)) {
			if (!poll_sockets(net) && mesh_empty && cli_empty)
				return false;
		}
		for (unsigned k = 0; k < 2; k++) {
			unsigned which = (net->turn + k) & 1u;
			if (serve(net, which, rx)) {
				/* The other endpoint goes first next time, so a flood on one cannot
				 * starve the other: each gets every second frame while both have work. */
				net->turn = which + 1;
				return true;
			}
		}
	}
	return false;
}

/* ------------------------------------------------------------------------------------------- */
/* Statistics */

void net_stats(struct net *net, struct net_stats *out)
{
	*out = net->st;
	out->peer_conns = net->peer_pipes.count;
	out->client_conns = net->cli_pipes.count;
	out->clients_bound = net->clients.count;
	out->held = net->held_len;
}

void net_peer_stats(struct net *net, uint32_t peer, struct net_peer_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (peer >= net->n || peer == net->self)
		return;
	*out = net->peers[peer].st;
	out->connected = net->peers[peer].conn.up;
}
