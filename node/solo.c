/*
 * solo.c: the no-consensus benchmark baseline (solo.h says what it is and what it is not).
 */
#include "node/solo.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bft/wire.h"
#include "net/net.h"
#include "node/config.h"
#include "node/kv.h"
#include "node/wal.h"

#define SOLO_DRAIN_MAX 256   /* frames handled per loop iteration before the group commit */
#define SOLO_POLL_MS 250

/* A reply waiting for the group commit that makes its request durable. */
struct solo_reply {
	bft_client_id client;
	uint8_t *bytes;
	size_t len;
};

struct solo {
	struct node_config cfg;
	struct node_replica_keys keys;
	struct wire_limits limits;
	struct kv *kv;
	struct bft_app app;
	struct wal *wal;
	struct net *net;
	uint64_t *last;           /* per client: the last request id executed */
	uint64_t seq;             /* records appended */
	struct solo_reply pend[SOLO_DRAIN_MAX];
	size_t npend;
	uint64_t served, rejected;
};

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The baseline never replays its log: it measures the cost of serving, not of recovering. */
static int ignore_record(void *arg, uint32_t kind, uint64_t seq, const uint8_t *bytes, size_t len)
{
	(void)arg, (void)kind, (void)seq, (void)bytes, (void)len;
	return 0;
}

/* Signs and queues the reply to req (result in res). */
static void solo_reply(struct solo *s, const struct bft_msg *req, const struct wire_buf *res)
{
	struct bft_msg m;
	struct wire_buf env = {0};

	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_REPLY;
	m.sender = 0;
	m.u.reply.view = 0;
	m.u.reply.client = req->sender;
	m.u.reply.reqid = req->u.request.reqid;
	m.u.reply.result.p = res->p;
	m.u.reply.result.len = (uint32_t)res->len;
	if (wire_encode(&m, &s->keys.ident, &env) != BFT_OK) {
		wire_buf_free(&env);
		return;
	}
	s->pend[s->npend++] = (struct solo_reply){req->sender, env.p, env.len};
}

static void solo_frame(struct solo *s, const struct net_rx *rx, uint64_t now)
{
	struct bft_msg m;
	struct wire_buf res = {0};
	const struct bft_request *rq;
	char err[256];

	if (rx->from != NET_FROM_CLIENT || wire_decode(&s->limits, rx->bytes, rx->len, &m) != BFT_OK) {
		s->rejected++;
		return;
	}
	rq = &m.u.request;
	/* Listed clients only: the id space of an open cluster is larger than its key list. */
	if (m.type != BFT_MSG_REQUEST || m.sender >= s->cfg.nclients ||
	    wire_verify(&m, s->cfg.client_pks[m.sender]) != BFT_OK) {
		s->rejected++;
		goto out;
	}
	(void)net_client_bind(s->net, rx->pipe, m.sender);
	if ((rq->flags & BFT_REQ_READONLY) != 0) {
		s->app.query(s->app.ctx, m.sender, &rq->op, &res);
	} else {
		if (rq->reqid <= s->last[m.sender]) {
			s->rejected++;
			goto out;
		}
		s->last[m.sender] = rq->reqid;
		s->app.execute(s->app.ctx, m.sender, &rq->op, now, &res);
		if (wal_append(s->wal, BFT_REC_COMMIT, ++s->seq, rx->bytes, rx->len, err,
			       sizeof(err)) != BFT_OK)
			fprintf(stderr, "bftnode --solo: write-ahead log: %s\n", err);
	}
	solo_reply(s, &m, &res);
	s->served++;
out:
	wire_buf_free(&res);
	wire_msg_free(&m);
}

/* The group commit, then the replies that waited for it. */
static int solo_flush(struct solo *s)
{
	char err[256];
	int rc = 0;

	if (wal_pending(s->wal) &&
	    (s->cfg.fsync == NODE_FSYNC_NEVER ? wal_flush(s->wal, err, sizeof(err))
					      : wal_sync(s->wal, err, sizeof(err))) != BFT_OK) {
		fprintf(stderr, "bftnode --solo: write-ahead log sync: %s\n", err);
		rc = -1;
	}
	/* Replies to one client leave as one transport message, as a replica's do (net.h). */
	net_cork(s->net);
	for (size_t i = 0; i < s->npend; i++) {
		if (rc == 0)
			(void)net_send_client(s->net, s->pend[i].client, s->pend[i].bytes,
					      s->pend[i].len);
		free(s->pend[i].bytes);
	}
	net_uncork(s->net);
	s->npend = 0;
	return rc;
}

static int solo_open(struct solo *s, const char *config_path, const char *data_dir)
{
	char err[1024], dir[4096], host[300];
	char **peers = NULL;
	char client_url[400];
	struct kv_limits kl;
	int rc = -1;

	if (node_config_load(&s->cfg, config_path, err, sizeof(err)) != 0 ||
	    node_config_load_replica_keys(&s->cfg, 0, &s->keys, err, sizeof(err)) != 0) {
		fprintf(stderr, "bftnode --solo: %s\n", err);
		return -1;
	}
	node_config_wire_limits(&s->cfg, &s->limits);
	kv_limits_default(&kl);
	kl.result_max = s->limits.result_max;
	s->last = calloc(s->cfg.nclients ? s->cfg.nclients : 1, sizeof(*s->last));
	if (s->last == NULL || kv_new(&kl, &s->kv) != BFT_OK) {
		fprintf(stderr, "bftnode --solo: out of memory\n");
		return -1;
	}
	kv_app(s->kv, &s->app);
	if (data_dir != NULL) {
		snprintf(dir, sizeof(dir), "%s", data_dir);
	} else {
		char *slash;
		snprintf(dir, sizeof(dir), "%s", config_path);
		slash = strrchr(dir, '/');
		if (slash != NULL)
			snprintf(slash, sizeof(dir) - (size_t)(slash - dir), "/data/solo");
		else
			snprintf(dir, sizeof(dir), "data/solo");
	}
	/* The log creates its own directory, one level: make the ones above it. */
	for (char *p = strchr(dir + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "bftnode --solo: cannot create %s: %s\n", dir, strerror(errno));
			return -1;
		}
		*p = '/';
	}
	if (wal_open(&s->wal, dir, ignore_record, NULL, NULL, err, sizeof(err)) != BFT_OK) {
		fprintf(stderr, "bftnode --solo: %s\n", err);
		return -1;
	}
	/* The transport wants the whole mesh; the other replicas of the config are never started,
	 * so its dialers just back off in the background. */
	peers = calloc(s->cfg.n, sizeof(*peers));
	if (peers == NULL)
		return -1;
	for (uint32_t i = 0; i < s->cfg.n; i++) {
		peers[i] = malloc(400);
		if (peers[i] == NULL)
			goto out;
		snprintf(peers[i], 400, "tcp://%s",
			 node_endpoint_format(&s->cfg.replicas[i].peer, host, sizeof(host)));
	}
	snprintf(client_url, sizeof(client_url), "tcp://%s",
		 node_endpoint_format(&s->cfg.replicas[0].client, host, sizeof(host)));
	struct net_replica_config nc = {
		.self = 0,
		.n = s->cfg.n,
		.peer_addrs = (const char *const *)peers,
		.client_addr = client_url,
		.link_keys_out = node_replica_keys_link_out(&s->keys),
		.link_keys_in = node_replica_keys_link_in(&s->keys, s->cfg.n),
		.frame_max = s->cfg.frame_max,
		.client_frame_max = s->cfg.op_max + NODE_CONFIG_FRAME_SLACK + 128u * s->cfg.n,
		.clients_max = s->cfg.nclients + 64,
	};
	if (net_replica_open(&s->net, &nc, err, sizeof(err)) != BFT_OK) {
		fprintf(stderr, "bftnode --solo: %s\n", err);
		goto out;
	}
	rc = 0;
out:
	for (uint32_t i = 0; i < s->cfg.n; i++)
		free(peers[i]);
	free(peers);
	return rc;
}

static void solo_close(struct solo *s)
{
	char err[256];

	if (s->net != NULL)
		net_close(s->net);
	for (size_t i = 0; i < s->npend; i++)
		free(s->pend[i].bytes);
	if (s->wal != NULL) {
		if (wal_sync(s->wal, err, sizeof(err)) != BFT_OK)
			fprintf(stderr, "bftnode --solo: write-ahead log sync at close: %s\n", err);
		wal_close(s->wal);
	}
	kv_free(s->kv);
	free(s->last);
	node_replica_keys_free(&s->keys);
	node_config_free(&s->cfg);
}

int node_solo_run(const char *config_path, const char *data_dir, volatile sig_atomic_t *stop)
{
	struct solo *s = calloc(1, sizeof(*s));
	int rc = -1;

	if (s == NULL)
		return -1;
	if (solo_open(s, config_path, data_dir) != 0)
		goto out;
	fprintf(stderr, "bftnode --solo: serving alone as replica 0 (NO fault tolerance: a "
			"benchmark baseline), fsync=%s\n", node_fsync_name(s->cfg.fsync));
	while (!*stop) {
		struct pollfd fds[NET_POLL_FDS_MAX];
		size_t nfds = net_poll_fds(s->net, fds, NET_POLL_FDS_MAX);
		struct net_rx rx;
		uint64_t now;
		int timeout = net_timeout_ms(s->net);

		if (timeout < 0 || timeout > SOLO_POLL_MS)
			timeout = SOLO_POLL_MS;
		if (poll(fds, nfds, timeout) < 0 && errno != EINTR) {
			fprintf(stderr, "bftnode --solo: poll: %s\n", strerror(errno));
			goto out;
		}
		now = wall_ms();
		for (int i = 0; i < SOLO_DRAIN_MAX && net_recv(s->net, &rx); i++) {
			solo_frame(s, &rx, now);
			net_rx_release(&rx);
		}
		if (solo_flush(s) != 0)
			goto out;
	}
	fprintf(stderr, "bftnode --solo: stopping after %llu requests (%llu rejected)\n",
		(unsigned long long)s->served, (unsigned long long)s->rejected);
	rc = 0;
out:
	solo_close(s);
	free(s);
	return rc;
}
