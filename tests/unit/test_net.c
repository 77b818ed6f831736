/*
 * Unit tests for the transport (net/): the replica mesh, the client endpoint, stream framing and
 * what a hostile sender can put on a connection, limits, reconnection, the fault shim and the
 * bounded map behind the tables. Everything runs on 127.0.0.1 with ports derived from the pid (so
 * parallel runs of the suite do not collide) and moved on when a port is taken. Every wait is
 * bounded in time; a test that times out fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/net_internal.h"
#include "crypto/cr_mac.h"

#define MAXN 4
#define FRAME_MAX 4096u
#define WAIT_MS 10000       /* upper bound of any wait for the network */
#define OPEN_ATTEMPTS 20    /* port ranges tried before giving up */

struct cluster {
	uint32_t n;
	unsigned base;
	char peer[MAXN][64];
	char client[MAXN][64];
	const char *peer_ptr[MAXN];
	const char *client_ptr[MAXN];
	struct net *net[MAXN];
	struct net_replica_config cfg[MAXN];
};

static unsigned port_cursor;

/* Ports below the Linux ephemeral range (32768+), so our listeners do not race the kernel's
 * choice of source ports; the pid spreads concurrent runs of the suite apart. */
static unsigned next_port_base(void)
{
	unsigned b;

	/* Each run takes about 160 ports; neighbouring pids start 160 apart. */
	if (port_cursor == 0)
		port_cursor = 20000 + (unsigned)(getpid() % 75) * 160;
	b = port_cursor;
	port_cursor += 2 * MAXN + 4;
	if (port_cursor > 32000)
		port_cursor = 20000;
	return b;
}

static uint64_t now_ms(void)
{
	return net_now_ms();
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void cluster_addresses(struct cluster *cl)
{
	for (uint32_t i = 0; i < cl->n; i++) {
		snprintf(cl->peer[i], sizeof(cl->peer[i]), "tcp://127.0.0.1:%u", cl->base + i);
		snprintf(cl->client[i], sizeof(cl->client[i]), "tcp://127.0.0.1:%u",
			 cl->base + MAXN + i);
		cl->peer_ptr[i] = cl->peer[i];
		cl->client_ptr[i] = cl->client[i];
	}
}

/* Link keys: keys_out[i][j] is K(i->j), keys_in[j][i] the same key seen from j. Random per run;
 * each replica gets its row of keys_out and of keys_in. */
static uint8_t keys_out[MAXN][MAXN][NET_LINK_KEY_BYTES];
static uint8_t keys_in[MAXN][MAXN][NET_LINK_KEY_BYTES];

static void make_link_keys(void)
{
	static bool done;

	if (done)
		return;
	for (uint32_t i = 0; i < MAXN; i++)
		for (uint32_t j = 0; j < MAXN; j++) {
			for (uint32_t b = 0; b < NET_LINK_KEY_BYTES; b++)
				keys_out[i][j][b] = (uint8_t)rand();
			memcpy(keys_in[j][i], keys_out[i][j], NET_LINK_KEY_BYTES);
		}
	done = true;
}

static uint32_t cfg_conns_max; /* conns_max for the next cluster_open (0: default) */
static uint32_t cfg_frame_max; /* frame_max for the next cluster_open (0: FRAME_MAX) */
static uint32_t cfg_client_frame_max; /* client_frame_max for the next cluster_open */
static uint32_t cfg_client_queue_bytes, cfg_client_queue_total; /* likewise */

static void cluster_config(struct cluster *cl, uint32_t i, uint32_t send_queue, bool clients)
{
	struct net_replica_config *c = &cl->cfg[i];

	memset(c, 0, sizeof(*c));
	c->self = i;
	c->n = cl->n;
	c->peer_addrs = cl->peer_ptr;
	make_link_keys();
	c->link_keys_out = &keys_out[i][0][0];
	c->link_keys_in = &keys_in[i][0][0];
	c->client_addr = clients ? cl->client_ptr[i] : NULL;
	c->frame_max = cfg_frame_max != 0 ? cfg_frame_max : FRAME_MAX;
	c->client_frame_max = cfg_client_frame_max;
	c->client_queue_bytes = cfg_client_queue_bytes;
	c->client_queue_total = cfg_client_queue_total;
	c->send_queue = send_queue;
	c->reconnect_min_ms = 10;
	c->reconnect_max_ms = 100;
	c->conns_max = cfg_conns_max;
}

static void cluster_close(struct cluster *cl)
{
	for (uint32_t i = 0; i < cl->n; i++) {
		net_close(cl->net[i]);
		cl->net[i] = NULL;
	}
}

/* Opens the replicas in up_mask; moves to another port range when a port is taken. */
static void cluster_open(struct cluster *cl, uint32_t n, uint32_t up_mask, uint32_t send_queue,
			 bool clients)
{
	char err[256];

	memset(cl, 0, sizeof(*cl));
	cl->n = n;
	for (int attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
		enum bft_err e = BFT_OK;

		cl->base = next_port_base();
		cluster_addresses(cl);
		for (uint32_t i = 0; i < n && e == BFT_OK; i++) {
			cluster_config(cl, i, send_queue, clients);
			if (up_mask & (1u << i))
				e = net_replica_open(&cl->net[i], &cl->cfg[i], err, sizeof(err));
		}
		if (e == BFT_OK)
			return;
		cluster_close(cl);
		if (e != BFT_ESTATE)
			fail_msg("net_replica_open: %s (%s)", bft_strerror(e), err);
	}
	fail_msg("no free port range after %d attempts", OPEN_ATTEMPTS);
}

/* Client transports that pump() drives too (they make progress only when driven). */
static struct net_client *pumped[4];

static void pumped_set(struct net_client *a, struct net_client *b)
{
	memset(pumped, 0, sizeof(pumped));
	pumped[0] = a;
	pumped[1] = b;
}

/* Polls every open replica's descriptors, flushes delayed frames, and hands each received frame
 * to fn; stops when fn returns true or after timeout_ms. Returns whether fn asked to stop. */
typedef bool (*on_frame_fn)(void *ctx, uint32_t at, struct net_rx *rx);

static bool pump(struct cluster *cl, int timeout_ms, on_frame_fn fn, void *ctx)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd fds[MAXN * NET_POLL_FDS_MAX];
		size_t k = 0;
		int wait;
		uint64_t now;

		for (size_t i = 0; i < sizeof(pumped) / sizeof(pumped[0]); i++)
			if (pumped[i] != NULL)
				net_client_service(pumped[i]);
		for (uint32_t i = 0; i < cl->n; i++) {
			struct net_rx rx;
			if (cl->net[i] == NULL)
				continue;
			net_fault_flush(cl->net[i]);
			/* A budget per pass, as an event loop would use. */
			for (int b = 0; b < 64 && net_recv(cl->net[i], &rx); b++) {
				bool stop = fn(ctx, i, &rx);
				net_rx_release(&rx);
				if (stop)
					return true;
			}
		}
		now = now_ms();
		if (now >= deadline)
			return false;
		wait = (int)(deadline - now);
		if (wait > 20)
			wait = 20;
		for (uint32_t i = 0; i < cl->n; i++) {
			if (cl->net[i] == NULL)
				continue;
			int ft = net_timeout_ms(cl->net[i]);
			if (ft >= 0 && ft < wait)
				wait = ft;
			k += net_poll_fds(cl->net[i], fds + k, NET_POLL_FDS_MAX);
		}
		(void)poll(fds, (nfds_t)k, wait);
	}
}

/* Frames in these tests: "f<from>t<to>n<seq>" so the receiver can check what it got. */
static size_t frame_make(char *buf, size_t cap, uint32_t from, uint32_t to, uint32_t seq)
{
	int k = snprintf(buf, cap, "f%ut%un%u", from, to, seq);

	return (size_t)k;
}

static bool frame_parse(const struct net_rx *rx, uint32_t *from, uint32_t *to, uint32_t *seq)
{
	char tmp[64];

	if (rx->len == 0 || rx->len >= sizeof(tmp))
		return false;
	memcpy(tmp, rx->bytes, rx->len);
	tmp[rx->len] = '\0';
	return sscanf(tmp, "f%ut%un%u", from, to, seq) == 3;
}

/* ------------------------------------------------------------------------------------------- */

struct tally {
	uint32_t n;
	uint32_t expect;            /* frames each (receiver, sender) pair should see */
	uint32_t got[MAXN][MAXN];   /* [receiver][sender] */
	uint32_t total, want_total;
	struct cluster *cl;
	bool bad;
};

static bool tally_frame(void *ctx, uint32_t at, struct net_rx *rx)
{
	struct tally *t = ctx;
	uint32_t from, to, seq;

	if (rx->from != NET_FROM_REPLICA || !frame_parse(rx, &from, &to, &seq) || to != at ||
	    from >= t->n) {
		t->bad = true;
		return true;
	}
	/* As the node does after verifying the sender: attribute the connection. */
	assert_int_equal(net_peer_bind(t->cl->net[at], rx->pipe, from), BFT_OK);
	t->got[at][from]++;
	t->total++;
	return t->total >= t->want_total;
}

static void test_net_four_replicas_exchange_all_to_all(void **state)
{
	struct cluster cl;
	struct tally t;
	char buf[64];
	const uint32_t k = 20;

	(void)state;
	cluster_open(&cl, 4, 0xf, 0, false);
	memset(&t, 0, sizeof(t));
	t.n = 4;
	t.cl = &cl;
	t.want_total = 4 * 3 * k;
	/* Sent before any connection exists: push sockets queue them until the dials succeed. */
	for (uint32_t s = 0; s < k; s++) {
		for (uint32_t i = 0; i < 4; i++) {
			for (uint32_t j = 0; j < 4; j++) {
				if (j == i)
					continue;
				size_t len = frame_make(buf, sizeof(buf), i, j, s);
				assert_int_equal(net_send_replica(cl.net[i], j, (const uint8_t *)buf,
								  len), BFT_OK);
			}
		}
	}
	assert_true(pump(&cl, WAIT_MS, tally_frame, &t));
	assert_false(t.bad);
	for (uint32_t i = 0; i < 4; i++) {
		struct net_stats st;
		uint64_t bound = 0;

		for (uint32_t j = 0; j < 4; j++) {
			struct net_peer_stats ps;
			if (i == j)
				continue;
			assert_int_equal(t.got[i][j], k);
			net_peer_stats(cl.net[i], j, &ps);
			assert_int_equal(ps.sent, k);
			assert_int_equal(ps.dropped_full, 0);
			bound += ps.received;
		}
		net_stats(cl.net[i], &st);
		assert_int_equal(st.replica_received, 3 * k);
		/* Only the first frame on each connection arrived before its binding. */
		assert_int_equal(st.replica_received_unbound + bound, 3 * k);
		assert_true(st.replica_received_unbound <= 3);
	}
	cluster_close(&cl);
}

static void wait_connected(struct cluster *cl, uint32_t from, uint32_t to);

/* Corked sends travel as bundles and come out as the frames that went in, in order, with the
 * same statistics as unbundled ones. */
static void test_net_corked_frames_arrive_one_by_one_in_order(void **state)
{
	struct cluster cl;
	struct tally t;
	char buf[64];
	const uint32_t k = 40;

	(void)state;
	cluster_open(&cl, 3, 0x7, 0, false);
	wait_connected(&cl, 0, 1);
	wait_connected(&cl, 0, 2);
	memset(&t, 0, sizeof(t));
	t.n = 3;
	t.cl = &cl;
	t.want_total = 2 * k;
	net_cork(cl.net[0]);
	for (uint32_t s = 0; s < k; s++)
		for (uint32_t j = 1; j < 3; j++) {
			size_t len = frame_make(buf, sizeof(buf), 0, j, s);
			assert_int_equal(net_send_replica(cl.net[0], j, (const uint8_t *)buf, len),
					 BFT_OK);
		}
	net_uncork(cl.net[0]);
	assert_true(pump(&cl, WAIT_MS, tally_frame, &t));
	assert_false(t.bad);
	for (uint32_t j = 1; j < 3; j++) {
		struct net_peer_stats ps;
		struct net_stats st;
		assert_int_equal(t.got[j][0], k);
		net_peer_stats(cl.net[0], j, &ps);
		assert_int_equal(ps.sent, k);
		net_stats(cl.net[j], &st);
		assert_int_equal(st.replica_received, k);
	}
	cluster_close(&cl);
}

/* A raw TCP connection to 127.0.0.1:port (blocking), as a hostile sender would open. */
static int raw_connect(unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void raw_write(int fd, const void *p, size_t len)
{
	assert_int_equal(send(fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* A fresh, valid mesh hello from replica `from` to replica 0, as that replica would send it
 * (NET_MESH_HELLO_BYTES into out). Each call is newer than the last (1 ms apart). */
static const uint8_t *mesh_hello_from(uint32_t from)
{
	static struct net_conn tmp;

	sleep_ms(1);
	make_link_keys();
	net_hello_build(&tmp, NET_KIND_MESH, from, 0, keys_out[from][0]);
	return tmp.hello;
}

/* Writes into out a mesh frame as replica `from` sends it to replica 0 on the connection whose
 * hello is `hello`: length (payload + tag), payload, tag for sequence number seq. Returns its
 * size. */
static size_t tagged(const uint8_t *hello, uint64_t seq, const void *payload, size_t len,
		     uint8_t *out)
{
	uint32_t from = net_le32(hello + 8);
	uint64_t epoch = net_le64(hello + 16);
	uint8_t prefix[CR_MAC_PREFIX_BYTES];
	size_t l = len + NET_TAG_BYTES;

	for (int i = 0; i < 8; i++) {
		prefix[i] = (uint8_t)(epoch >> (8 * i));
		prefix[8 + i] = (uint8_t)(seq >> (8 * i));
	}
	for (int i = 0; i < 4; i++)
		out[i] = (uint8_t)(l >> (8 * i));
	if (len > 0)
		memcpy(out + NET_LEN_BYTES, payload, len);
	cr_mac_short_prefixed(out + NET_LEN_BYTES + len, keys_out[from][0], prefix, payload, len);
	return NET_LEN_BYTES + l;
}

/* Receives from replica 0 of cl until `want` frames came or the deadline; appends their bytes
 * to seen (each frame at most 8 bytes here). */
static uint32_t collect(struct cluster *cl, uint32_t want, char *seen, size_t cap)
{
	uint64_t deadline = now_ms() + WAIT_MS;
	uint32_t got = 0;
	struct net_rx rx;

	while (got < want && now_ms() < deadline) {
		if (!net_recv(cl->net[0], &rx)) {
			sleep_ms(2);
			continue;
		}
		assert_true(rx.len <= 8);
		assert_true(strlen(seen) + rx.len < cap);
		memcpy(seen + strlen(seen), rx.bytes, rx.len);
		got++;
		net_rx_release(&rx);
	}
	return got;
}

/* Waits, driving the receiver, until it has closed raw connection fd (read sees the end or a
 * reset). */
static void wait_closed_by_peer(struct net *net, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t deadline = now_ms() + WAIT_MS;
	char b[64];

	while (now_ms() < deadline) {
		ssize_t r;
		net_service(net);
		(void)poll(&p, 1, 20);
		r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return;
		assert_true(r < 0); /* the mesh never sends on an accepted connection */
	}
	fail_msg("the receiver did not close the connection");
}

/* What a hostile sender can put on a mesh connection: a wrong hello closes the connection
 * (counted, nothing delivered); empty frames are skipped and counted; a frame split across
 * writes is reassembled; a length over frame_max closes the connection before its bytes are
 * read (counted), after the frames before it came out; a fresh connection still works. */
static void test_net_hostile_stream_is_refused_and_counted(void **state)
{
	struct cluster cl;
	struct net_stats st;
	char seen[32] = {0};
	int fd;
	const uint8_t client_hello[8] = {'B', 'F', 'T', 'N', 1, 2, 0, 0};
	const uint8_t junk_hello[8] = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T'};
	const uint8_t part1[] = {4, 0, 0, 0, 'c'};
	const uint32_t over = FRAME_MAX + 1 + NET_TAG_BYTES;
	const uint8_t over_hdr[] = {(uint8_t)over, (uint8_t)(over >> 8), 0, 0, 'x', 'y', 'z'};
	uint8_t hello[NET_MESH_HELLO_BYTES], buf[256];
	size_t n;

	(void)state;
	cluster_open(&cl, 2, 0x1, 0, false);

	/* A client's hello, and an HTTP request, on the mesh listener. */
	fd = raw_connect(cl.base);
	raw_write(fd, client_hello, sizeof(client_hello));
	raw_write(fd, part1, sizeof(part1));
	assert_int_equal(collect(&cl, 1, seen, sizeof(seen)), 0);
	wait_closed_by_peer(cl.net[0], fd);
	close(fd);
	fd = raw_connect(cl.base);
	raw_write(fd, junk_hello, sizeof(junk_hello));
	wait_closed_by_peer(cl.net[0], fd);
	close(fd);
	net_stats(cl.net[0], &st);
	assert_int_equal(st.hello_refused, 2);
	assert_int_equal(st.replica_received, 0);

	/* "ab", an empty frame, "q", then a length of frame_max + 1 (+ tag) and three bytes. */
	memcpy(hello, mesh_hello_from(1), sizeof(hello));
	n = tagged(hello, 0, "ab", 2, buf);
	n += tagged(hello, 1, NULL, 0, buf + n);
	n += tagged(hello, 2, "q", 1, buf + n);
	memcpy(buf + n, over_hdr, sizeof(over_hdr));
	n += sizeof(over_hdr);
	fd = raw_connect(cl.base);
	raw_write(fd, hello, sizeof(hello));
	raw_write(fd, buf, n);
	assert_int_equal(collect(&cl, 2, seen, sizeof(seen)), 2);
	assert_string_equal(seen, "abq");
	wait_closed_by_peer(cl.net[0], fd);
	close(fd);
	net_stats(cl.net[0], &st);
	assert_int_equal(st.size_dropped, 2); /* the empty frame and the oversized length */
	assert_int_equal(st.replica_received, 2);

	/* A frame split across writes is reassembled. */
	memcpy(hello, mesh_hello_from(1), sizeof(hello));
	n = tagged(hello, 0, "cdef", 4, buf);
	fd = raw_connect(cl.base);
	raw_write(fd, hello, sizeof(hello));
	raw_write(fd, buf, 5);
	assert_int_equal(collect(&cl, 1, seen, sizeof(seen)), 0);
	raw_write(fd, buf + 5, n - 5);
	assert_int_equal(collect(&cl, 1, seen, sizeof(seen)), 1);
	assert_string_equal(seen, "abqcdef");

	/* A frame whose tag is wrong (here: sent out of its place, sequence 5 for 1) ends it. */
	n = tagged(hello, 5, "zz", 2, buf);
	raw_write(fd, buf, n);
	wait_closed_by_peer(cl.net[0], fd);
	close(fd);
	net_stats(cl.net[0], &st);
	assert_int_equal(st.size_dropped, 2);
	assert_int_equal(st.tag_refused, 1);
	assert_int_equal(st.hello_refused, 2);
	assert_int_equal(st.replica_received, 3);
	cluster_close(&cl);
}

/* Sends hello[0..NET_MESH_HELLO_BYTES) and one frame "hi" on a new raw connection to replica 0. */
static int raw_hello_and_frame(struct cluster *cl, const uint8_t *hello)
{
	uint8_t hi[64];
	size_t n = tagged(hello, 0, "hi", 2, hi);
	int fd = raw_connect(cl->base);

	raw_write(fd, hello, NET_MESH_HELLO_BYTES);
	raw_write(fd, hi, n);
	return fd;
}

/* The mesh hello proves which replica dials (net.h): a hello under the wrong key, addressed to
 * another replica, naming ourselves, or replayed is refused; an accepted one makes the connection
 * that replica's (rx.replica), and a newer one from the same replica replaces it. */
static void test_net_mesh_hello_authenticates_the_replica(void **state)
{
	struct cluster cl;
	struct net_stats st;
	struct net_rx rx;
	struct net_conn forged = {0};
	uint8_t hello[NET_MESH_HELLO_BYTES], replay[NET_MESH_HELLO_BYTES];
	char seen[32] = {0};
	int fd, fd2;

	(void)state;
	cluster_open(&cl, 4, 0x1, 0, false);
	/* Wrong key (replica 2's key to 0, claiming to be 1). */
	net_hello_build(&forged, NET_KIND_MESH, 1, 0, keys_out[2][0]);
	fd = raw_hello_and_frame(&cl, forged.hello);
	wait_closed_by_peer(cl.net[0], fd);
	close(fd);
	/* Right key, but addressed to replica 3. */
	sleep_ms(1);
	net_hello_build(&forged, NET_KIND_MESH, 1, 3, keys_out[1][3]);
	fd = raw_hello_and_frame(&cl, forged.hello);
	wait_closed_by_peer(cl.net[0], fd);
	close(fd);
	/* Claiming to be replica 0 itself (with 0's own key pair entry, all zero here). */
	sleep_ms(1);
	net_hello_build(&forged, NET_KIND_MESH, 0, 0, keys_out[0][0]);
	fd = raw_hello_and_frame(&cl, forged.hello);
	wait_closed_by_peer(cl.net[0], fd);
	close(fd);
	net_stats(cl.net[0], &st);
	assert_int_equal(st.hello_refused, 3);
	assert_int_equal(st.replica_received, 0);

	/* A valid hello from 1: its frame comes out as replica 1's. */
	memcpy(hello, mesh_hello_from(1), sizeof(hello));
	memcpy(replay, hello, sizeof(replay));
	fd = raw_hello_and_frame(&cl, hello);
	assert_int_equal(collect(&cl, 1, seen, sizeof(seen)), 1);
	assert_string_equal(seen, "hi");
	/* (collect released the frame; check the attribution on the next one) */
	{
		uint8_t x[64];
		raw_write(fd, x, tagged(hello, 1, "x", 1, x));
	}
	{
		uint64_t deadline = now_ms() + WAIT_MS;
		while (!net_recv(cl.net[0], &rx) && now_ms() < deadline)
			sleep_ms(1);
	}
	assert_int_equal(rx.len, 1);
	assert_int_equal(rx.replica, 1);
	assert_int_equal(net_peer_bind(cl.net[0], rx.pipe, 1), BFT_OK);
	assert_int_equal(net_peer_bind(cl.net[0], rx.pipe, 2), BFT_EINVAL);
	net_rx_release(&rx);

	/* The same hello again (a recording of it): refused, and replica 1's connection stays. */
	fd2 = raw_hello_and_frame(&cl, replay);
	wait_closed_by_peer(cl.net[0], fd2);
	close(fd2);
	net_stats(cl.net[0], &st);
	assert_int_equal(st.hello_refused, 4);
	assert_int_equal(st.peer_conns, 1);

	/* A newer hello from 1 on a new connection replaces the old one. */
	fd2 = raw_hello_and_frame(&cl, mesh_hello_from(1));
	wait_closed_by_peer(cl.net[0], fd);
	close(fd);
	memset(seen, 0, sizeof(seen));
	assert_int_equal(collect(&cl, 1, seen, sizeof(seen)), 1);
	assert_string_equal(seen, "hi");
	net_stats(cl.net[0], &st);
	assert_int_equal(st.peer_replaced, 1);
	assert_int_equal(st.peer_conns, 1);
	close(fd2);
	cluster_close(&cl);
}

/* A mesh listener full of connections that never say hello still admits a replica: the oldest
 * silent connection gives up its place. */
static void test_net_silent_connections_cannot_keep_a_replica_out(void **state)
{
	enum { SLOTS = 4 };
	struct cluster cl;
	struct net_stats st;
	char seen[32] = {0};
	int silent[SLOTS], fd;

	(void)state;
	cfg_conns_max = SLOTS;
	cluster_open(&cl, 4, 0x1, 0, false);
	cfg_conns_max = 0;
	for (int i = 0; i < SLOTS; i++) {
		silent[i] = raw_connect(cl.base);
		sleep_ms(2);
		net_service(cl.net[0]);
	}
	net_stats(cl.net[0], &st);
	assert_int_equal(st.peer_conns, SLOTS);
	fd = raw_hello_and_frame(&cl, mesh_hello_from(2));
	assert_int_equal(collect(&cl, 1, seen, sizeof(seen)), 1);
	assert_string_equal(seen, "hi");
	net_stats(cl.net[0], &st);
	assert_int_equal(st.peer_conns, SLOTS);
	assert_true(st.conns_rejected >= 1);
	wait_closed_by_peer(cl.net[0], silent[0]); /* the oldest went */
	for (int i = 0; i < SLOTS; i++)
		close(silent[i]);
	close(fd);
	cluster_close(&cl);
}

/* A frame many times a receive chunk, from a replica and from a raw sender that trickles it in
 * pieces, comes out whole and intact; frames queued behind it follow in order. */
static void test_net_long_frame_arrives_whole_across_reads(void **state)
{
	enum { BIG = 700 * 1000 };
	struct cluster cl;
	struct net_rx rx;
	uint8_t *big = malloc(BIG + 4 + NET_TAG_BYTES), *payload = malloc(BIG);
	uint8_t hello[NET_MESH_HELLO_BYTES];
	size_t total;
	uint64_t deadline;
	uint32_t got = 0;
	int fd;

	(void)state;
	assert_non_null(big);
	assert_non_null(payload);
	for (size_t i = 0; i < BIG; i++)
		payload[i] = (uint8_t)(i * 2654435761u >> 13);
	cfg_frame_max = 1u << 20;
	cluster_open(&cl, 3, 0x3, 0, false); /* the raw sender says it is replica 2 */
	cfg_frame_max = 0;
	assert_int_equal(net_send_replica(cl.net[1], 0, payload, BIG), BFT_OK);
	assert_int_equal(net_send_replica(cl.net[1], 0, (const uint8_t *)"after", 5), BFT_OK);

	memcpy(hello, mesh_hello_from(2), sizeof(hello));
	total = tagged(hello, 0, payload, BIG, big);
	fd = raw_connect(cl.base);
	raw_write(fd, hello, sizeof(hello));
	deadline = now_ms() + WAIT_MS;
	for (size_t off = 0; off < total; off += 50000) {
		size_t k = total - off < 50000 ? total - off : 50000;
		raw_write(fd, big + off, k);
		net_service(cl.net[0]); /* the receiver sees it a piece at a time */
		net_service(cl.net[1]);
	}
	/* Two long frames (one per sender) and "after", in order behind the first. */
	while (got < 3 && now_ms() < deadline) {
		net_service(cl.net[1]);
		if (!net_recv(cl.net[0], &rx)) {
			sleep_ms(2);
			continue;
		}
		if (rx.len == 5) {
			assert_memory_equal(rx.bytes, "after", 5);
		} else {
			assert_int_equal(rx.len, BIG);
			assert_memory_equal(rx.bytes, payload, BIG);
		}
		got++;
		net_rx_release(&rx);
	}
	assert_int_equal(got, 3);
	close(fd);
	free(big);
	free(payload);
	cluster_close(&cl);
}

/* Many frames of random sizes (1 byte to several receive chunks), corked and uncorked, while
 * the receiver holds up to 16 of them at a time and releases them in random order: every frame
 * arrives once, in order, intact (the chunk references keep handed-out bytes alive while the
 * connection reads on into new chunks). */
static void test_net_random_frames_survive_chunking_and_out_of_order_release(void **state)
{
	enum { COUNT = 3000, HOLD = 16, MAXLEN = 150000 };
	struct cluster cl;
	struct net_rx held[HOLD];
	uint8_t *buf = malloc(MAXLEN);
	uint64_t rng = 0x5eed, deadline;
	uint32_t sent = 0, got = 0, nheld = 0;

	(void)state;
	assert_non_null(buf);
	memset(held, 0, sizeof(held));
	cfg_frame_max = 1u << 18;
	cluster_open(&cl, 2, 0x3, 4096, false);
	cfg_frame_max = 0;
	deadline = now_ms() + 4 * WAIT_MS;
	while (got < COUNT && now_ms() < deadline) {
		/* Send a few (sometimes corked together) while the queue has room. */
		if (sent < COUNT) {
			bool cork = (rng & 1) != 0;
			if (cork)
				net_cork(cl.net[1]);
			for (int k = 0; k < 4 && sent < COUNT; k++) {
				size_t len;
				rng = rng * 6364136223846793005ull + 1442695040888963407ull;
				len = (rng >> 33) % 16 == 0 ? 1 + (rng >> 20) % MAXLEN
							   : 1 + (rng >> 20) % 300;
				for (size_t i = 0; i < len; i++)
					buf[i] = (uint8_t)(sent * 31u + i);
				memcpy(buf, &sent, len < 4 ? len : 4);
				if (net_send_replica(cl.net[1], 0, buf, len) != BFT_OK)
					break; /* queue full: try again after the receiver caught up */
				sent++;
			}
			if (cork)
				net_uncork(cl.net[1]);
		}
		net_service(cl.net[1]);
		for (int k = 0; k < 8; k++) {
			struct net_rx rx;
			uint32_t seq = 0;
			if (!net_recv(cl.net[0], &rx))
				break;
			memcpy(&seq, rx.bytes, rx.len < 4 ? rx.len : 4);
			if (rx.len >= 4)
				assert_int_equal(seq, got);
			for (size_t i = 4; i < rx.len; i++)
				if (rx.bytes[i] != (uint8_t)(got * 31u + i))
					fail_msg("frame %u byte %zu", got, i);
			got++;
			if (nheld == HOLD) {
				/* Release a random one of the held frames. */
				uint32_t v = (uint32_t)(rng >> 40) % HOLD;
				net_rx_release(&held[v]);
				held[v] = held[--nheld];
			}
			held[nheld++] = rx;
		}
	}
	for (uint32_t i = 0; i < nheld; i++)
		net_rx_release(&held[i]);
	assert_int_equal(got, COUNT);
	free(buf);
	cluster_close(&cl);
}

static void test_net_send_all_reaches_every_other_replica(void **state)
{
	struct cluster cl;
	uint32_t seen[MAXN] = {0};
	uint32_t total = 0;
	uint64_t deadline;
	char buf[64];
	size_t len;

	(void)state;
	cluster_open(&cl, 4, 0xf, 0, false);
	len = frame_make(buf, sizeof(buf), 0, 9, 0); /* "to" is not checked here */
	assert_int_equal(net_send_all(cl.net[0], (const uint8_t *)buf, len), BFT_OK);
	assert_int_equal(net_send_replica(cl.net[0], 0, (const uint8_t *)buf, len), BFT_EINVAL);
	assert_int_equal(net_send_replica(cl.net[0], 4, (const uint8_t *)buf, len), BFT_EINVAL);
	deadline = now_ms() + WAIT_MS;
	while (total < 3 && now_ms() < deadline) {
		for (uint32_t i = 0; i < 4; i++) {
			struct net_rx rx;
			while (net_recv(cl.net[i], &rx)) {
				uint32_t f, to, s;
				assert_true(frame_parse(&rx, &f, &to, &s));
				assert_int_equal(f, 0);
				seen[i]++;
				total++;
				net_rx_release(&rx);
			}
		}
		sleep_ms(5);
	}
	/* A short grace period shows there is no second copy anywhere, nor one to ourselves. */
	sleep_ms(50);
	for (uint32_t i = 0; i < 4; i++) {
		struct net_rx rx;
		while (net_recv(cl.net[i], &rx)) {
			seen[i]++;
			net_rx_release(&rx);
		}
	}
	assert_int_equal(seen[0], 0);
	for (uint32_t i = 1; i < 4; i++)
		assert_int_equal(seen[i], 1);
	cluster_close(&cl);
}

/* ------------------------------------------------------------------------------------------- */

struct want_small {
	uint32_t got, sent;
	uint32_t stop_at; /* 0: stop at the first small frame */
	bool saw_big;
};

static bool small_frame(void *ctx, uint32_t at, struct net_rx *rx)
{
	struct want_small *w = ctx;

	(void)at;
	if (rx->len > 16)
		w->saw_big = true;
	else
		w->got++;
	return w->got > 0 && w->got >= w->stop_at;
}

static void test_net_oversized_frame_is_dropped_and_receiver_keeps_working(void **state)
{
	struct cluster cl;
	struct want_small w = {0};
	struct net_rx rx;
	struct net_stats st;
	uint8_t big[FRAME_MAX + 1];
	uint8_t hdr[4] = {(uint8_t)(sizeof(big) + NET_TAG_BYTES),
			  (uint8_t)((sizeof(big) + NET_TAG_BYTES) >> 8), 0, 0};
	uint8_t hello[NET_MESH_HELLO_BYTES], frame[64];
	uint32_t first_pipe;
	uint64_t deadline;
	int fd;

	(void)state;
	cluster_open(&cl, 2, 0x1, 0, false);
	memset(big, 'x', sizeof(big));
	/* Our own sender refuses it outright. */
	assert_int_equal(net_send_replica(cl.net[0], 1, big, sizeof(big)), BFT_ETOOBIG);
	assert_int_equal(net_send_replica(cl.net[0], 1, big, 0), BFT_ETOOBIG);

	/* A foreign sender's frame one byte over the limit never surfaces and its connection is
	 * closed; the sender's next connection works. */
	memcpy(hello, mesh_hello_from(1), sizeof(hello));
	fd = raw_connect(cl.base);
	raw_write(fd, hello, sizeof(hello));
	raw_write(fd, frame, tagged(hello, 0, "hello", 5, frame));
	deadline = now_ms() + WAIT_MS;
	while (!net_recv(cl.net[0], &rx) && now_ms() < deadline)
		sleep_ms(2);
	assert_int_equal(rx.len, 5);
	first_pipe = rx.pipe;
	net_rx_release(&rx);
	raw_write(fd, hdr, sizeof(hdr));
	(void)send(fd, big, sizeof(big), MSG_NOSIGNAL | MSG_DONTWAIT); /* may be cut short */
	deadline = now_ms() + WAIT_MS;
	while (net_peer_bind(cl.net[0], first_pipe, 1) == BFT_OK && now_ms() < deadline) {
		(void)net_recv(cl.net[0], &rx);
		sleep_ms(2);
	}
	assert_int_equal(net_peer_bind(cl.net[0], first_pipe, 1), BFT_ESTALE);
	wait_closed_by_peer(cl.net[0], fd);
	close(fd);
	net_stats(cl.net[0], &st);
	assert_int_equal(st.size_dropped, 1);
	assert_int_equal(st.peer_conns, 0);

	memcpy(hello, mesh_hello_from(1), sizeof(hello));
	fd = raw_connect(cl.base);
	raw_write(fd, hello, sizeof(hello));
	raw_write(fd, frame, tagged(hello, 0, "small", 5, frame));
	w.stop_at = 1;
	assert_true(pump(&cl, WAIT_MS, small_frame, &w));
	assert_false(w.saw_big);
	assert_int_equal(w.got, 1);
	close(fd);
	cluster_close(&cl);
}

/* ------------------------------------------------------------------------------------------- */

static void wait_connected(struct cluster *cl, uint32_t from, uint32_t to);

static void test_net_dead_peer_neither_blocks_nor_starves_the_others(void **state)
{
	struct cluster cl;
	struct tally t;
	struct net_peer_stats ps;
	char buf[64];
	const uint32_t k = 50, depth = 8;
	uint32_t full = 0;
	uint64_t t0;

	(void)state;
	cluster_open(&cl, 4, 0x7, depth, false); /* replica 3 is never started */
	memset(&t, 0, sizeof(t));
	t.n = 4;
	t.cl = &cl;
	t.want_total = 2 * k;
	t0 = now_ms();
	for (uint32_t s = 0; s < k; s++) {
		for (uint32_t j = 1; j < 4; j++) {
			size_t len = frame_make(buf, sizeof(buf), 0, j, s);
			enum bft_err e = net_send_replica(cl.net[0], j, (const uint8_t *)buf, len);
			if (j == 3) {
				assert_true(e == BFT_OK || e == BFT_EFULL);
				full += e == BFT_EFULL;
			} else if (e != BFT_OK) {
				/* A live peer may lag at start-up; it must not lag by the whole run. */
				assert_int_equal(e, BFT_EFULL);
			}
		}
	}
	/* Non-blocking: 150 sends take nowhere near a connect timeout. */
	assert_true(now_ms() - t0 < 1000);
	net_peer_stats(cl.net[0], 3, &ps);
	assert_int_equal(ps.sent, depth);
	assert_int_equal(ps.dropped_full, k - depth);
	assert_int_equal(full, k - depth);
	assert_false(ps.connected);

	/* The live peers got what their queues took: with depth 8 and no reader yet, at least the
	 * first 8 each; pump until the tally stops growing, and check nothing was misrouted. */
	t.want_total = UINT32_MAX;
	(void)pump(&cl, 1000, tally_frame, &t);
	assert_false(t.bad);
	for (uint32_t j = 1; j < 3; j++) {
		net_peer_stats(cl.net[0], j, &ps);
		assert_true(t.got[j][0] >= depth);
		assert_int_equal(t.got[j][0], ps.sent);
		assert_int_equal(ps.sent + ps.dropped_full, k);
	}
	/* Once connected, the live peers take a steady stream with no drops at all, while every
	 * frame for the dead one keeps being refused at once. */
	wait_connected(&cl, 0, 1);
	wait_connected(&cl, 0, 2);
	memset(&t.got, 0, sizeof(t.got));
	t.total = 0;
	t.want_total = 0;
	/* In rounds of depth / 2 frames, each drained before the next: a live peer's queue never
	 * holds more than half its depth, so any drop there would be a real fault. */
	for (uint32_t s = 0; s < k; s++) {
		for (uint32_t j = 1; j < 4; j++) {
			size_t len = frame_make(buf, sizeof(buf), 0, j, 1000 + s);
			enum bft_err e = net_send_replica(cl.net[0], j, (const uint8_t *)buf, len);
			assert_int_equal(e, j == 3 ? BFT_EFULL : BFT_OK);
		}
		if ((s + 1) % (depth / 2) == 0 || s + 1 == k) {
			t.want_total = 2 * (s + 1);
			assert_true(pump(&cl, WAIT_MS, tally_frame, &t));
		}
	}
	assert_false(t.bad);
	assert_int_equal(t.got[1][0], k);
	assert_int_equal(t.got[2][0], k);
	net_peer_stats(cl.net[0], 3, &ps);
	assert_int_equal(ps.dropped_full, 2 * k - depth);
	cluster_close(&cl);
}

/* ------------------------------------------------------------------------------------------- */

struct want_from {
	uint32_t at, from;
	bool got;
};

static bool frame_from(void *ctx, uint32_t at, struct net_rx *rx)
{
	struct want_from *w = ctx;
	uint32_t f, to, s;

	if (at == w->at && frame_parse(rx, &f, &to, &s) && f == w->from)
		w->got = true;
	return w->got;
}

/* Sends from -> to every 20 ms until to receives one; bounded by WAIT_MS. */
static bool deliver_eventually(struct cluster *cl, uint32_t from, uint32_t to)
{
	struct want_from w = { to, from, false };
	uint64_t deadline = now_ms() + WAIT_MS;
	char buf[64];
	uint32_t s = 0;

	while (!w.got && now_ms() < deadline) {
		size_t len = frame_make(buf, sizeof(buf), from, to, s++);
		(void)net_send_replica(cl->net[from], to, (const uint8_t *)buf, len);
		(void)pump(cl, 20, frame_from, &w);
	}
	return w.got;
}

static void test_net_restarted_replica_is_reconnected(void **state)
{
	struct cluster cl;
	char err[256];
	enum bft_err e = BFT_ESTATE;

	(void)state;
	cluster_open(&cl, 4, 0xf, 0, false);
	assert_true(deliver_eventually(&cl, 0, 2));
	assert_true(deliver_eventually(&cl, 2, 1));

	net_close(cl.net[2]);
	cl.net[2] = NULL;
	/* Frames sent while it is down go to its queue or are lost; neither blocks us. */
	assert_int_equal(net_send_replica(cl.net[0], 2, (const uint8_t *)"f0t2n999", 8), BFT_OK);
	/* Reopen on the same ports; the kernel may hold them for a moment after the close. */
	for (int i = 0; i < 100 && e == BFT_ESTATE; i++) {
		e = net_replica_open(&cl.net[2], &cl.cfg[2], err, sizeof(err));
		if (e == BFT_ESTATE)
			sleep_ms(50);
	}
	assert_int_equal(e, BFT_OK);
	assert_true(deliver_eventually(&cl, 0, 2));
	assert_true(deliver_eventually(&cl, 3, 2));
	assert_true(deliver_eventually(&cl, 2, 0));
	assert_true(deliver_eventually(&cl, 2, 3));
	cluster_close(&cl);
}

/* ------------------------------------------------------------------------------------------- */

struct client_ctx {
	struct cluster *cl;
	uint32_t requests;
	uint32_t pipes[2][MAXN]; /* [client][replica] */
};

/* The replica's side: a request "req<id>" is "verified" as client id, bound, and answered. */
static bool answer_request(void *ctx, uint32_t at, struct net_rx *rx)
{
	struct client_ctx *c = ctx;
	char tmp[32], reply[64];
	unsigned id;

	assert_int_equal(rx->from, NET_FROM_CLIENT);
	assert_true(rx->len < sizeof(tmp));
	memcpy(tmp, rx->bytes, rx->len);
	tmp[rx->len] = '\0';
	assert_int_equal(sscanf(tmp, "req%u", &id), 1);
	assert_int_equal(net_client_bind(c->cl->net[at], rx->pipe, id), BFT_OK);
	c->pipes[id == 7 ? 0 : 1][at] = rx->pipe;
	snprintf(reply, sizeof(reply), "rep%u from %u", id, at);
	assert_int_equal(net_send_client(c->cl->net[at], id, (const uint8_t *)reply,
					 strlen(reply)), BFT_OK);
	c->requests++;
	return c->requests == 4;
}

static void expect_replies(struct net_client *nc, unsigned id)
{
	bool seen[2] = { false, false };

	for (int i = 0; i < 2; i++) {
		struct net_rx rx;
		char tmp[64], want[64];

		assert_true(net_client_recv(nc, WAIT_MS, &rx));
		assert_int_equal(rx.from, NET_FROM_REPLICA);
		assert_true(rx.replica < 2);
		assert_false(seen[rx.replica]);
		seen[rx.replica] = true;
		assert_true(rx.len < sizeof(tmp));
		memcpy(tmp, rx.bytes, rx.len);
		tmp[rx.len] = '\0';
		snprintf(want, sizeof(want), "rep%u from %u", id, rx.replica);
		assert_string_equal(tmp, want);
		net_rx_release(&rx);
	}
}

static void test_net_client_reply_goes_to_the_right_client(void **state)
{
	struct cluster cl;
	struct client_ctx ctx;
	struct net_client *a = NULL, *b = NULL;
	struct net_rx rx;
	struct net_stats st;
	uint64_t deadline;

	(void)state;
	cluster_open(&cl, 4, 0x3, 0, true); /* replicas 0 and 1 serve clients */
	memset(&ctx, 0, sizeof(ctx));
	ctx.cl = &cl;
	assert_int_equal(net_client_open(&a, 2, cl.client_ptr, FRAME_MAX), BFT_OK);
	assert_int_equal(net_client_open(&b, 2, cl.client_ptr, FRAME_MAX), BFT_OK);
	pumped_set(a, b);
	/* Queued until connected. */
	assert_int_equal(net_client_send_all(a, (const uint8_t *)"req7", 4), BFT_OK);
	assert_int_equal(net_client_send_all(b, (const uint8_t *)"req9", 4), BFT_OK);
	assert_true(pump(&cl, WAIT_MS, answer_request, &ctx));
	expect_replies(a, 7);
	expect_replies(b, 9);
	assert_int_equal(net_client_connected(a), 2);
	assert_false(net_client_recv(a, 0, &rx));

	/* Nobody is bound as client 8; and a connection that never existed cannot be bound. */
	assert_int_equal(net_send_client(cl.net[0], 8, (const uint8_t *)"x", 1), BFT_ESTALE);
	assert_int_equal(net_client_bind(cl.net[0], 0x7ffffff0u, 8), BFT_ESTALE);
	net_stats(cl.net[0], &st);
	assert_int_equal(st.client_received, 2);
	assert_int_equal(st.client_sent, 2);
	assert_int_equal(st.client_dropped_unknown, 1);
	assert_int_equal(st.clients_bound, 2);
	assert_int_equal(st.client_conns, 2);

	/* When a client goes away, its binding goes with its connection. */
	pumped_set(NULL, b);
	net_client_close(a);
	deadline = now_ms() + WAIT_MS;
	while (net_send_client(cl.net[0], 7, (const uint8_t *)"x", 1) == BFT_OK &&
	       now_ms() < deadline)
		sleep_ms(10);
	assert_int_equal(net_send_client(cl.net[0], 7, (const uint8_t *)"x", 1), BFT_ESTALE);
	assert_int_equal(net_client_bind(cl.net[0], ctx.pipes[0][0], 7), BFT_ESTALE);
	net_stats(cl.net[0], &st);
	assert_int_equal(st.clients_bound, 1);
	/* b is unaffected. */
	assert_int_equal(net_send_client(cl.net[0], 9, (const uint8_t *)"rep9 from 0", 11), BFT_OK);
	assert_true(net_client_recv(b, WAIT_MS, &rx));
	assert_int_equal(rx.replica, 0);
	net_rx_release(&rx);
	pumped_set(NULL, NULL);
	net_client_close(b);
	cluster_close(&cl);
}

/* Corked replies to one client travel as one bundle (nng's poly pair1 keeps only a couple of
 * messages per connection and drops the rest) and come out at the client one by one, in order;
 * a single reply goes unbundled. */
static void test_net_corked_replies_reach_the_client_in_order(void **state)
{
	struct cluster cl;
	struct client_ctx ctx;
	struct net_client *a = NULL;
	struct net_rx rx;
	struct net_stats st;
	char buf[32];

	(void)state;
	cluster_open(&cl, 4, 0x1, 0, true);
	memset(&ctx, 0, sizeof(ctx));
	ctx.cl = &cl;
	assert_int_equal(net_client_open(&a, 1, cl.client_ptr, FRAME_MAX), BFT_OK);
	pumped_set(a, NULL);
	assert_int_equal(net_client_send(a, 0, (const uint8_t *)"req7", 4), BFT_OK);
	ctx.requests = 3; /* answer_request stops at the fourth: this one */
	assert_true(pump(&cl, WAIT_MS, answer_request, &ctx));
	assert_true(net_client_recv(a, WAIT_MS, &rx));
	assert_int_equal(rx.len, strlen("rep7 from 0"));
	net_rx_release(&rx);
	net_cork(cl.net[0]);
	for (int i = 0; i < 20; i++) {
		int len = snprintf(buf, sizeof(buf), "r%d", i);
		assert_int_equal(net_send_client(cl.net[0], 7, (const uint8_t *)buf, (size_t)len),
				 BFT_OK);
	}
	net_uncork(cl.net[0]);
	for (int i = 0; i < 20; i++) {
		int len = snprintf(buf, sizeof(buf), "r%d", i);
		assert_true(net_client_recv(a, WAIT_MS, &rx));
		assert_int_equal(rx.len, (size_t)len);
		assert_memory_equal(rx.bytes, buf, (size_t)len);
		net_rx_release(&rx);
	}
	net_cork(cl.net[0]);
	assert_int_equal(net_send_client(cl.net[0], 7, (const uint8_t *)"single", 6), BFT_OK);
	net_uncork(cl.net[0]);
	assert_true(net_client_recv(a, WAIT_MS, &rx));
	assert_int_equal(rx.len, 6);
	assert_memory_equal(rx.bytes, "single", 6);
	net_rx_release(&rx);
	assert_false(net_client_recv(a, 0, &rx));
	net_stats(cl.net[0], &st);
	assert_int_equal(st.client_sent, 1 + 20 + 1);
	assert_int_equal(st.client_dropped_full, 0);
	pumped_set(NULL, NULL);
	net_client_close(a);
	cluster_close(&cl);
}

static void test_net_client_endpoint_limits_connections(void **state)
{
	struct cluster cl;
	struct net_client *c[3] = { NULL, NULL, NULL };
	struct net_stats st;
	uint64_t deadline;

	(void)state;
	cfg_conns_max = 2;
	cluster_open(&cl, 2, 0x1, 0, true);
	cfg_conns_max = 0;
	for (int i = 0; i < 3; i++)
		assert_int_equal(net_client_open(&c[i], 1, cl.client_ptr, FRAME_MAX), BFT_OK);
	deadline = now_ms() + WAIT_MS;
	do {
		sleep_ms(10);
		for (int i = 0; i < 3; i++)
			net_client_service(c[i]);
		net_service(cl.net[0]);
		net_stats(cl.net[0], &st);
	} while ((st.conns_rejected == 0 || st.client_conns < 2) && now_ms() < deadline);
	assert_int_equal(st.client_conns, 2);
	assert_true(st.conns_rejected >= 1);
	for (int i = 0; i < 3; i++)
		net_client_close(c[i]);
	cluster_close(&cl);
}

/* A client's frame over client_frame_max (far below frame_max) closes its connection, counted,
 * before the replica buffers it; the client's next connection carries frames up to the limit. */
static void test_net_client_frames_have_their_own_limit(void **state)
{
	struct cluster cl;
	struct net_client *a = NULL;
	struct net_rx rx;
	struct net_stats st;
	uint8_t buf[100];
	uint64_t deadline;
	bool got = false;

	(void)state;
	memset(buf, 'r', sizeof(buf));
	cfg_client_frame_max = 64;
	cluster_open(&cl, 2, 0x1, 0, true);
	cfg_client_frame_max = 0;
	assert_int_equal(net_client_open(&a, 1, cl.client_ptr, FRAME_MAX), BFT_OK);
	assert_int_equal(net_client_send(a, 0, buf, 65), BFT_OK); /* fine for the client's limit */
	deadline = now_ms() + WAIT_MS;
	do {
		net_client_service(a);
		assert_false(net_recv(cl.net[0], &rx));
		net_stats(cl.net[0], &st);
		sleep_ms(2);
	} while (st.size_dropped == 0 && now_ms() < deadline);
	assert_int_equal(st.size_dropped, 1);
	assert_int_equal(st.client_received, 0);
	/* The client redials; a frame of exactly the limit arrives. */
	deadline = now_ms() + WAIT_MS;
	while (net_client_connected(a) == 0 || st.client_conns == 0) {
		assert_true(now_ms() < deadline);
		net_client_service(a);
		net_service(cl.net[0]);
		net_stats(cl.net[0], &st);
		sleep_ms(2);
	}
	assert_int_equal(net_client_send(a, 0, buf, 64), BFT_OK);
	while (!got && now_ms() < deadline) {
		net_client_service(a);
		got = net_recv(cl.net[0], &rx);
		sleep_ms(2);
	}
	assert_true(got);
	assert_int_equal(rx.len, 64);
	assert_int_equal(rx.from, NET_FROM_CLIENT);
	net_rx_release(&rx);
	net_client_close(a);
	cluster_close(&cl);
}

/* Out of file descriptors, a listener would stay readable and spin the event loop; it rests
 * out of epoll instead (counted, with net_timeout_ms saying when it wakes) and then accepts the
 * connections that waited in the kernel's backlog. */
static void test_net_listener_rests_when_out_of_descriptors(void **state)
{
	enum { K = 3 };
	struct cluster cl;
	struct net_stats st;
	struct rlimit saved, low;
	int fds[K], probe, t;
	uint64_t deadline;

	(void)state;
	cluster_open(&cl, 2, 0x1, 0, true);
	for (int i = 0; i < K; i++)
		fds[i] = raw_connect(cl.base + MAXN); /* replica 0's client address */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	probe = dup(0);
	assert_true(probe >= 0);
	close(probe);
	low = saved;
	low.rlim_cur = (rlim_t)probe; /* no descriptor number is left below the limit */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	net_service(cl.net[0]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	net_stats(cl.net[0], &st);
	assert_int_equal(st.accept_paused, 1);
	assert_int_equal(st.client_conns, 0);
	t = net_timeout_ms(cl.net[0]);
	assert_true(t >= 0 && t <= 100);
	net_service(cl.net[0]); /* still resting: nothing accepted, no second pause */
	net_stats(cl.net[0], &st);
	assert_int_equal(st.accept_paused, 1);
	deadline = now_ms() + WAIT_MS;
	do {
		sleep_ms(20);
		net_service(cl.net[0]);
		net_stats(cl.net[0], &st);
	} while (st.client_conns < K && now_ms() < deadline);
	assert_int_equal(st.client_conns, K);
	assert_int_equal(st.accept_paused, 1);
	for (int i = 0; i < K; i++)
		close(fds[i]);
	cluster_close(&cl);
}

/* Binds client `id` on replica 0 from a request it sends over its own connection. */
static void bind_client(struct cluster *cl, struct net_client *c, uint64_t id)
{
	uint64_t deadline = now_ms() + WAIT_MS;
	struct net_rx rx;

	assert_int_equal(net_client_send(c, 0, (const uint8_t *)"req", 3), BFT_OK);
	for (;;) {
		assert_true(now_ms() < deadline);
		net_client_service(c);
		if (net_recv(cl->net[0], &rx))
			break;
		sleep_ms(1);
	}
	assert_int_equal(net_client_bind(cl->net[0], rx.pipe, id), BFT_OK);
	net_rx_release(&rx);
}

/* Replies to clients that stop reading pile up only to client_queue_bytes per connection and
 * client_queue_total in all, then are dropped and counted; a closed connection gives its share
 * back. (Kernel socket buffers take the first few megabytes, so this sends until it drops.) */
static void test_net_replies_to_clients_that_do_not_read_are_bounded(void **state)
{
	enum { REPLY = 4000, PER_CONN = 64 * 1024, TOTAL = 96 * 1024 };
	struct cluster cl;
	struct net_client *a = NULL, *b = NULL;
	struct net_stats st;
	uint8_t reply[REPLY];
	uint32_t k;

	(void)state;
	memset(reply, 'r', sizeof(reply));
	cfg_client_queue_bytes = PER_CONN;
	cfg_client_queue_total = TOTAL;
	cluster_open(&cl, 2, 0x1, 8192, true);
	cfg_client_queue_bytes = cfg_client_queue_total = 0;
	assert_int_equal(net_client_open(&a, 1, cl.client_ptr, FRAME_MAX), BFT_OK);
	assert_int_equal(net_client_open(&b, 1, cl.client_ptr, FRAME_MAX), BFT_OK);
	bind_client(&cl, a, 1);
	bind_client(&cl, b, 2);
	/* a never reads: until its share is full. */
	for (k = 0; k < 20000; k++) {
		if (net_send_client(cl.net[0], 1, reply, sizeof(reply)) == BFT_EFULL)
			break;
		net_service(cl.net[0]);
	}
	assert_true(k < 20000);
	assert_true(cl.net[0]->client_queued <= PER_CONN);
	assert_true(cl.net[0]->client_queued > PER_CONN - 2 * (REPLY + 4));
	/* b gets what is left of the total, then its replies drop too. */
	for (k = 0; k < 20000; k++) {
		if (net_send_client(cl.net[0], 2, reply, sizeof(reply)) == BFT_EFULL)
			break;
		net_service(cl.net[0]);
	}
	assert_true(k < 20000);
	assert_true(cl.net[0]->client_queued <= TOTAL);
	net_stats(cl.net[0], &st);
	assert_int_equal(st.client_dropped_full, 2);
	/* a goes away: its queued bytes are released. */
	net_client_close(a);
	for (int i = 0; i < 500 && cl.net[0]->client_queued > TOTAL - PER_CONN + REPLY; i++) {
		(void)net_send_client(cl.net[0], 1, reply, 1); /* fails once its connection closed */
		net_service(cl.net[0]);
		sleep_ms(2);
	}
	assert_true(cl.net[0]->client_queued <= TOTAL - PER_CONN + 2 * (REPLY + 4));
	net_client_close(b);
	for (int i = 0; i < 500 && cl.net[0]->client_queued > 0; i++) {
		(void)net_send_client(cl.net[0], 2, reply, 1);
		net_service(cl.net[0]);
		sleep_ms(2);
	}
	assert_int_equal(cl.net[0]->client_queued, 0);
	cluster_close(&cl);
}

/* A client that floods its connection cannot keep the mesh waiting: with 2,000 client frames
 * buffered ahead of them, a peer's 100 frames still come out within the first few hundred (the
 * endpoints alternate frame by frame, and the mesh is read again after at most 32 frames). */
static void test_net_flooding_client_does_not_starve_the_mesh(void **state)
{
	enum { FLOOD = 2000, MESH = 100 };
	struct cluster cl;
	struct net_client *a = NULL;
	struct net_stats st;
	uint8_t junk[200];
	char buf[64];
	uint32_t pos = 0, mesh_seen = 0, last_mesh_pos = 0;
	uint64_t deadline;

	(void)state;
	memset(junk, 'j', sizeof(junk));
	cluster_open(&cl, 2, 0x3, 256, true);
	wait_connected(&cl, 1, 0);
	assert_int_equal(net_client_open(&a, 1, cl.client_ptr, FRAME_MAX), BFT_OK);
	deadline = now_ms() + WAIT_MS;
	while (net_client_connected(a) == 0 && now_ms() < deadline) {
		net_client_service(a);
		sleep_ms(2);
	}
	for (uint32_t i = 0; i < FLOOD; i++) {
		/* The client's queue is 64 frames: drive it until each frame is taken. */
		while (net_client_send(a, 0, junk, sizeof(junk)) == BFT_EFULL && now_ms() < deadline) {
			net_client_service(a);
			sleep_ms(1);
		}
		net_client_service(a);
	}
	for (uint32_t i = 0; i < MESH; i++) {
		size_t len = frame_make(buf, sizeof(buf), 1, 0, i);
		assert_int_equal(net_send_replica(cl.net[1], 0, (const uint8_t *)buf, len), BFT_OK);
	}
	/* Let both senders' bytes reach replica 0's sockets before it reads anything. */
	for (int k = 0; k < 50; k++) {
		net_client_service(a);
		net_service(cl.net[1]);
		sleep_ms(2);
	}
	while (mesh_seen < MESH && now_ms() < deadline) {
		struct net_rx rx;
		if (!net_recv(cl.net[0], &rx)) {
			sleep_ms(1);
			continue;
		}
		pos++;
		if (rx.from == NET_FROM_REPLICA) {
			mesh_seen++;
			last_mesh_pos = pos;
		}
		net_rx_release(&rx);
	}
	assert_int_equal(mesh_seen, MESH);
	/* Alternating, the 100th mesh frame is the 199th or 200th overall (measured: 199); 64 of
	 * slack for whichever socket is read first. Served client-first, a chunk of ~320 client
	 * frames would come before it. */
	assert_true(last_mesh_pos <= 2 * MESH + 64);
	net_stats(cl.net[0], &st);
	assert_true(st.client_received < FLOOD);
	net_client_close(a);
	cluster_close(&cl);
}

/* ------------------------------------------------------------------------------------------- */

struct count_ctx {
	uint32_t got;
	uint32_t seq_seen[64];
};

static bool count_frame(void *ctx, uint32_t at, struct net_rx *rx)
{
	struct count_ctx *c = ctx;
	uint32_t f, to, s;

	(void)at;
	assert_true(frame_parse(rx, &f, &to, &s));
	if (s < 64)
		c->seq_seen[s]++;
	c->got++;
	return false;
}

static void wait_connected(struct cluster *cl, uint32_t from, uint32_t to)
{
	struct net_peer_stats ps;
	uint64_t deadline = now_ms() + WAIT_MS;

	do {
		net_service(cl->net[from]);
		net_peer_stats(cl->net[from], to, &ps);
		if (!ps.connected)
			sleep_ms(5);
	} while (!ps.connected && now_ms() < deadline);
	assert_true(ps.connected);
}

static void send_seqs(struct cluster *cl, uint32_t from, uint32_t to, uint32_t count)
{
	char buf[64];

	for (uint32_t s = 0; s < count; s++) {
		size_t len = frame_make(buf, sizeof(buf), from, to, s);
		assert_int_equal(net_send_replica(cl->net[from], to, (const uint8_t *)buf, len),
				 BFT_OK);
	}
}

static void test_net_fault_shim_drops_duplicates_and_delays(void **state)
{
	struct cluster cl;
	struct count_ctx c;
	struct net_peer_stats ps;
	struct net_fault f;

	(void)state;
	cluster_open(&cl, 2, 0x3, 0, false);
	wait_connected(&cl, 0, 1);

	/* Drop everything. */
	memset(&f, 0, sizeof(f));
	f.drop_ppm = 1000000;
	assert_int_equal(net_fault_set(cl.net[0], 1, &f, 42), BFT_OK);
	send_seqs(&cl, 0, 1, 10);
	memset(&c, 0, sizeof(c));
	(void)pump(&cl, 200, count_frame, &c);
	assert_int_equal(c.got, 0);
	net_peer_stats(cl.net[0], 1, &ps);
	assert_int_equal(ps.fault_dropped, 10);
	assert_int_equal(ps.sent, 0);

	/* Duplicate everything. */
	memset(&f, 0, sizeof(f));
	f.dup_ppm = 1000000;
	assert_int_equal(net_fault_set(cl.net[0], 1, &f, 42), BFT_OK);
	send_seqs(&cl, 0, 1, 5);
	memset(&c, 0, sizeof(c));
	(void)pump(&cl, 500, count_frame, &c);
	assert_int_equal(c.got, 10);
	for (uint32_t s = 0; s < 5; s++)
		assert_int_equal(c.seq_seen[s], 2);

	/* Hold everything for 150 ms: nothing before that, everything after a flush. */
	memset(&f, 0, sizeof(f));
	f.delay_ms_min = 150;
	f.delay_ms_max = 150;
	assert_int_equal(net_fault_set(cl.net[0], 1, &f, 42), BFT_OK);
	send_seqs(&cl, 0, 1, 3);
	{
		int t = net_fault_timeout_ms(cl.net[0]);
		struct net_stats st;
		assert_true(t > 0 && t <= 150);
		net_stats(cl.net[0], &st);
		assert_int_equal(st.held, 3);
	}
	memset(&c, 0, sizeof(c));
	(void)pump(&cl, 50, count_frame, &c);
	assert_int_equal(c.got, 0);
	(void)pump(&cl, 1000, count_frame, &c);
	assert_int_equal(c.got, 3);
	assert_int_equal(net_fault_timeout_ms(cl.net[0]), -1);

	/* Random delays reorder, but everything arrives exactly once. */
	f.delay_ms_min = 0;
	f.delay_ms_max = 40;
	assert_int_equal(net_fault_set(cl.net[0], 1, &f, 7), BFT_OK);
	send_seqs(&cl, 0, 1, 40);
	memset(&c, 0, sizeof(c));
	(void)pump(&cl, 1000, count_frame, &c);
	assert_int_equal(c.got, 40);
	for (uint32_t s = 0; s < 40; s++)
		assert_int_equal(c.seq_seen[s], 1);

	/* Bad settings are refused; all zero switches the shim off. */
	f.delay_ms_min = 50;
	f.delay_ms_max = 10;
	assert_int_equal(net_fault_set(cl.net[0], 1, &f, 1), BFT_EINVAL);
	memset(&f, 0, sizeof(f));
	f.drop_ppm = 1000001;
	assert_int_equal(net_fault_set(cl.net[0], 1, &f, 1), BFT_EINVAL);
	assert_int_equal(net_fault_set(cl.net[0], 0, &f, 1), BFT_EINVAL);
	assert_int_equal(net_fault_set(cl.net[0], 1, NULL, 1), BFT_OK);
	cluster_close(&cl);
}

static void test_net_fault_shim_is_reproducible_from_its_seed(void **state)
{
	struct cluster cl;
	struct net_fault f;
	struct net_peer_stats ps;
	uint64_t dropped[3];

	(void)state;
	/* The peer is never started: sends only exercise the shim's choices. */
	cluster_open(&cl, 2, 0x1, 0, false);
	memset(&f, 0, sizeof(f));
	f.drop_ppm = 500000;
	for (int run = 0; run < 3; run++) {
		uint64_t before;
		net_peer_stats(cl.net[0], 1, &ps);
		before = ps.fault_dropped;
		assert_int_equal(net_fault_set(cl.net[0], 1, &f, run == 2 ? 1234 : 99), BFT_OK);
		for (int i = 0; i < 200; i++)
			(void)net_send_replica(cl.net[0], 1, (const uint8_t *)"x", 1);
		net_peer_stats(cl.net[0], 1, &ps);
		dropped[run] = ps.fault_dropped - before;
	}
	assert_int_equal(dropped[0], dropped[1]);
	assert_true(dropped[0] > 50 && dropped[0] < 150);
	assert_true(dropped[2] > 50 && dropped[2] < 150);
	cluster_close(&cl);
}

/* ------------------------------------------------------------------------------------------- */

static void test_net_open_rejects_bad_config_and_busy_port(void **state)
{
	struct cluster cl;
	struct net *net = NULL;
	struct net_replica_config c;
	char err[256];
	const char *bad[2] = { "nope://x", "tcp://127.0.0.1:1" };

	(void)state;
	cluster_open(&cl, 2, 0x1, 0, false);
	c = cl.cfg[1];
	c.self = 2;
	assert_int_equal(net_replica_open(&net, &c, err, sizeof(err)), BFT_EINVAL);
	c = cl.cfg[1];
	c.frame_max = 0;
	assert_int_equal(net_replica_open(&net, &c, err, sizeof(err)), BFT_EINVAL);
	c = cl.cfg[1];
	c.send_queue = NET_QUEUE_MAX + 1;
	assert_int_equal(net_replica_open(&net, &c, err, sizeof(err)), BFT_EINVAL);
	c = cl.cfg[1];
	c.n = 1;
	c.self = 0;
	assert_int_equal(net_replica_open(&net, &c, err, sizeof(err)), BFT_EINVAL);
	c = cl.cfg[1];
	c.peer_addrs = bad;
	c.self = 0;
	assert_int_equal(net_replica_open(&net, &c, err, sizeof(err)), BFT_EINVAL);
	assert_non_null(strstr(err, "nope://x"));
	/* Replica 0's port is taken by replica 0 itself. */
	c = cl.cfg[0];
	assert_int_equal(net_replica_open(&net, &c, err, sizeof(err)), BFT_ESTATE);
	assert_non_null(strstr(err, cl.peer[0]));
	assert_null(net);
	assert_int_equal(net_client_open(NULL, 1, cl.client_ptr, 10), BFT_EINVAL);
	cluster_close(&cl);
}

/* ------------------------------------------------------------------------------------------- */

static uint64_t lcg(uint64_t *s)
{
	*s = *s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	return *s >> 33;
}

/* The tables behind connections and clients against a plain array, under random churn. */
static void test_net_map_matches_a_reference_under_churn(void **state)
{
	enum { KEYS = 300, LIMIT = 100 };
	struct net_map m;
	int32_t ref[KEYS]; /* -1: absent, else the value */
	uint32_t count = 0;
	uint64_t s = 1;

	(void)state;
	assert_int_equal(net_map_init(&m, LIMIT), BFT_OK);
	for (int i = 0; i < KEYS; i++)
		ref[i] = -1;
	for (int step = 0; step < 200000; step++) {
		uint32_t key = (uint32_t)(lcg(&s) % KEYS);
		uint32_t op = (uint32_t)(lcg(&s) % 10);
		uint32_t val = (uint32_t)(lcg(&s) % 8);
		uint32_t got;

		if (op < 5) {
			enum bft_err e = net_map_put(&m, key * UINT64_C(0x100000001), val);
			if (ref[key] < 0 && count == LIMIT) {
				assert_int_equal(e, BFT_EFULL);
			} else {
				assert_int_equal(e, BFT_OK);
				count += ref[key] < 0;
				ref[key] = (int32_t)val;
			}
		} else if (op < 9) {
			bool had = net_map_del(&m, key * UINT64_C(0x100000001));
			assert_int_equal(had, ref[key] >= 0);
			count -= ref[key] >= 0;
			ref[key] = -1;
		} else {
			uint32_t want = 0;
			for (int i = 0; i < KEYS; i++) {
				if (ref[i] == (int32_t)val) {
					ref[i] = -1;
					want++;
				}
			}
			assert_int_equal(net_map_del_val(&m, val), want);
			count -= want;
		}
		assert_int_equal(m.count, count);
		if (step % 1000 == 0) {
			for (uint32_t i = 0; i < KEYS; i++) {
				bool has = net_map_get(&m, i * UINT64_C(0x100000001), &got);
				assert_int_equal(has, ref[i] >= 0);
				if (has)
					assert_int_equal(got, (uint32_t)ref[i]);
			}
		}
	}
	net_map_free(&m);
	assert_int_equal(net_map_init(&m, 0), BFT_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_map_matches_a_reference_under_churn),
		cmocka_unit_test(test_net_open_rejects_bad_config_and_busy_port),
		cmocka_unit_test(test_net_four_replicas_exchange_all_to_all),
		cmocka_unit_test(test_net_send_all_reaches_every_other_replica),
		cmocka_unit_test(test_net_corked_frames_arrive_one_by_one_in_order),
		cmocka_unit_test(test_net_hostile_stream_is_refused_and_counted),
		cmocka_unit_test(test_net_mesh_hello_authenticates_the_replica),
		cmocka_unit_test(test_net_silent_connections_cannot_keep_a_replica_out),
		cmocka_unit_test(test_net_long_frame_arrives_whole_across_reads),
		cmocka_unit_test(test_net_random_frames_survive_chunking_and_out_of_order_release),
		cmocka_unit_test(test_net_oversized_frame_is_dropped_and_receiver_keeps_working),
		cmocka_unit_test(test_net_dead_peer_neither_blocks_nor_starves_the_others),
		cmocka_unit_test(test_net_restarted_replica_is_reconnected),
		cmocka_unit_test(test_net_client_reply_goes_to_the_right_client),
		cmocka_unit_test(test_net_corked_replies_reach_the_client_in_order),
		cmocka_unit_test(test_net_client_endpoint_limits_connections),
		cmocka_unit_test(test_net_client_frames_have_their_own_limit),
		cmocka_unit_test(test_net_flooding_client_does_not_starve_the_mesh),
		cmocka_unit_test(test_net_replies_to_clients_that_do_not_read_are_bounded),
		cmocka_unit_test(test_net_listener_rests_when_out_of_descriptors),
		cmocka_unit_test(test_net_fault_shim_drops_duplicates_and_delays),
		cmocka_unit_test(test_net_fault_shim_is_reproducible_from_its_seed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
