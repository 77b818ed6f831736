#include "node/ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "bft/log.h"
#include "crypto/cr_keyfile.h"
#include "crypto/cr_seal.h"
#include "net/net.h"

struct ctl {
	struct node_config cfg;
	struct cr_identity id;
	struct bft_client *client;
	struct net_client *net;
	struct bft_out out;
	uint64_t timer_ms;
	uint64_t ignored;  /* frames the client core refused (counted in its stats by reason) */
	bft_client_id client_id;
};

uint64_t ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ctl_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void ctl_flush(struct ctl *c)
{
	for (size_t i = 0; i < c->out.nmsgs; i++) {
		const struct bft_out_msg *m = &c->out.msgs[i];
		if (m->dest == BFT_TO_ALL)
			(void)net_client_send_all(c->net, m->bytes, m->len);
		else if (m->dest == BFT_TO_REPLICA)
			(void)net_client_send(c->net, (uint32_t)m->to, m->bytes, m->len);
	}
	if (c->out.timer_ms != 0)
		c->timer_ms = c->out.timer_ms;
	bft_out_reset(&c->out);
}

/* The listed client whose key is pk, or UINT64_MAX. */
static uint64_t listed_id(const struct node_config *cfg, const uint8_t *pk)
{
	for (uint32_t i = 0; i < cfg->nclients; i++)
		if (memcmp(cfg->client_pks[i], pk, CR_PK_BYTES) == 0)
			return i;
	return UINT64_MAX;
}

#define REGISTER_TIMEOUT_MS 15000u

/* An open cluster's client registers its key (bft/log.h "Open clients"): one request from the
 * registrar id, sent to every replica, whose result f+1 replicas vouch for is our client id.
 * Registering again returns the same id, so a client may do this on every start. */
static int register_key(struct ctl *c, const struct ctl_opts *opts, uint32_t nrep, char *err,
			size_t errlen)
{
	struct bft_client_config rc = {0};
	uint8_t *res = NULL;
	size_t res_len = 0;
	double ms;
	uint64_t id = 0;
	int ok;

	rc.id = node_config_client_ids(&c->cfg) - 1;
	rc.n = nrep;
	rc.replica_pks = (const uint8_t(*)[CR_PK_BYTES])c->cfg.replica_pks;
	rc.key = &c->id;
	node_config_wire_limits(&c->cfg, &rc.limits);
	rc.send = BFT_SEND_ALL;
	rc.retransmit_ms = opts->retransmit_ms ? opts->retransmit_ms : 500;
	rc.outstanding_max = 1;
	rc.first_reqid = bft_register_reqid(c->id.pk);
	if (bft_client_new(&c->client, &rc) != BFT_OK) {
		snprintf(err, errlen, "invalid client configuration");
		return -1;
	}
	ok = ctl_call(c, c->id.pk, CR_PK_BYTES, 0, REGISTER_TIMEOUT_MS, &res, &res_len, &ms, err,
		      errlen);
	bft_client_free(c->client);
	c->client = NULL;
	if (ok != 0) {
		char why[128];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "registering this client's key with the cluster: %s", why);
		return -1;
	}
	if (res_len != BFT_REGISTER_RESULT_BYTES || res[0] != BFT_REGISTER_OK) {
		snprintf(err, errlen, "%s",
			 res_len == BFT_REGISTER_RESULT_BYTES && res[0] == BFT_REGISTER_FULL
				 ? "the cluster has no free slot for another client (open_clients_max)"
				 : "the cluster answered the registration with a malformed result");
		free(res);
		return -1;
	}
	for (int i = 8; i >= 1; i--)
		id = (id << 8) | res[i];
	free(res);
	c->client_id = id;
	return 0;
}

/* Starts a MAC session (bft/client.h bft_client_session_start): n fresh keys in guarded
 * memory, each sealed to its replica, and a session number that grows across runs of this
 * client (wall-clock microseconds, as the request ids). */
static int start_session(struct ctl *c, uint32_t nrep, char *err, size_t errlen)
{
	struct cr_secret keys = {0};
	uint8_t *boxes = calloc(nrep, BFT_SESSION_BOX_BYTES);
	int rc = -1;

	if (boxes == NULL || cr_secret_alloc(&keys, (size_t)nrep * BFT_SESSION_KEY_BYTES) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	randombytes_buf(keys.p, keys.len);
	for (uint32_t i = 0; i < nrep; i++)
		if (cr_seal(boxes + (size_t)i * BFT_SESSION_BOX_BYTES, c->cfg.replica_pks[i],
			    keys.p + (size_t)i * BFT_SESSION_KEY_BYTES, BFT_SESSION_KEY_BYTES) != 0) {
			snprintf(err, errlen, "replica %u's key cannot take a sealed box", i);
			goto out;
		}
	if (bft_client_session_start(c->client, ctl_now_ms(), ctl_wall_us(), keys.p, boxes,
				     &c->out) != BFT_OK) {
		snprintf(err, errlen, "cannot start the MAC session");
		goto out;
	}
	ctl_flush(c);
	rc = 0;
out:
	cr_secret_free(&keys);
	free(boxes);
	return rc;
}

bft_client_id ctl_client_id(const struct ctl *c)
{
	return c->client_id;
}

int ctl_open(struct ctl **out, const struct ctl_opts *opts, char *err, size_t errlen)
{
	struct ctl *c = calloc(1, sizeof(*c));
	struct bft_client_config cc = {0};
	char **addrs = NULL;
	uint32_t nrep;
	uint64_t listed;
	bool must_register = false;
	int rc = -1;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (node_config_load(&c->cfg, opts->config_path, err, errlen) != 0) {
		free(c);
		return -1;
	}
	c->client_id = opts->client_id;
	if (opts->key_file != NULL) {
		struct cr_key_id kid;
		if (cr_keyfile_read_identity(opts->key_file, &kid, &c->id, err, errlen) != 0)
			goto out;
		listed = listed_id(&c->cfg, c->id.pk);
		if (listed == UINT64_MAX && !c->cfg.open_clients) {
			snprintf(err, errlen,
				 "%s is not the key of a client of %s, and the cluster does not accept "
				 "other clients (open_clients = false)",
				 opts->key_file, opts->config_path);
			goto out;
		}
		if (listed != UINT64_MAX && opts->client_id != listed) {
			snprintf(err, errlen, "%s is the key of client %llu in %s, not of client %llu",
				 opts->key_file, (unsigned long long)listed, opts->config_path,
				 (unsigned long long)opts->client_id);
			goto out;
		}
		must_register = listed == UINT64_MAX;
	} else if (opts->client_id >= c->cfg.nclients) {
		snprintf(err, errlen, "%s: there is no client %llu (the cluster has %u clients)",
			 opts->config_path, (unsigned long long)opts->client_id, c->cfg.nclients);
		goto out;
	} else if (node_config_load_client_identity(&c->cfg, opts->client_id, &c->id, err, errlen) !=
		   0) {
		goto out;
	}
	if (opts->replicas > 1) {
		snprintf(err, errlen, "replicas: 0 (all) or 1 (the no-consensus baseline)");
		goto out;
	}
	nrep = opts->replicas == 1 ? 1 : c->cfg.n;
	addrs = calloc(c->cfg.n, sizeof(*addrs));
	if (addrs == NULL)
		goto oom;
	for (uint32_t i = 0; i < c->cfg.n; i++) {
		char hp[300];
		addrs[i] = malloc(320);
		if (addrs[i] == NULL)
			goto oom;
		snprintf(addrs[i], 320, "tcp://%s",
			 node_endpoint_format(&c->cfg.replicas[i].client, hp, sizeof(hp)));
	}
	if (net_client_open(&c->net, nrep, (const char *const *)addrs, c->cfg.frame_max) !=
	    BFT_OK) {
		snprintf(err, errlen, "cannot open client sockets");
		goto out;
	}
	if (must_register && register_key(c, opts, nrep, err, errlen) != 0)
		goto out;
	cc.id = c->client_id;
	cc.n = nrep;
	cc.replica_pks = (const uint8_t(*)[CR_PK_BYTES])c->cfg.replica_pks;
	cc.key = &c->id;
	node_config_wire_limits(&c->cfg, &cc.limits);
	/* Honey Badger has no primary: a request goes to the f+1 replicas that check it (its
	 * owner and the f after it, bft/hb.h "Shared checks"), at least one of them correct, so a
	 * censoring replica cannot hold it back (HB §4.3 with the owner rule of hb.h "Selection").
	 * PBFT sends to the primary. Both send the first request to all (bft/client.c: replies
	 * return over the connection a request came on, so each replica must have seen one). */
	cc.send = c->cfg.protocol == NODE_PROTOCOL_HBBFT ? BFT_SEND_CHECKERS : BFT_SEND_PRIMARY;
	/* Honey Badger orders reads too; PBFT answers them unordered (client.h) unless the
	 * cluster says otherwise. */
	cc.ordered_reads_only = c->cfg.protocol == NODE_PROTOCOL_HBBFT || !c->cfg.unordered_reads;
	cc.retransmit_ms = opts->retransmit_ms ? opts->retransmit_ms : 500;
	cc.outstanding_max = opts->outstanding_max ? opts->outstanding_max : 1;
	/* Request ids must grow across runs of the same client key: microseconds of wall time
	 * do, as long as the clock is not set back. */
	cc.first_reqid = ctl_wall_us();
	/* Honey Badger decides a request's validity by its signature (bft/hb.h "Shared checks": a
	 * verdict must be one every replica can check), so request MACs would only cost there:
	 * --mac opens the replies-only session. */
	cc.session_replies_only = !opts->mac || c->cfg.protocol == NODE_PROTOCOL_HBBFT;
	if (bft_client_new(&c->client, &cc) != BFT_OK) {
		snprintf(err, errlen, "invalid client configuration");
		goto out;
	}
	if (opts->mac) {
		if (!c->cfg.client_sessions || nrep != c->cfg.n) {
			snprintf(err, errlen, "--mac: %s", nrep != c->cfg.n
				 ? "the no-consensus baseline has no sessions"
				 : "the cluster does not allow MAC sessions (client_sessions = false)");
			goto out;
		}
		if (start_session(c, nrep, err, errlen) != 0)
			goto out;
	} else if (!opts->no_session && c->cfg.client_sessions && nrep == c->cfg.n) {
		if (start_session(c, nrep, err, errlen) != 0)
			goto out;
	}
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	if (addrs != NULL)
		for (uint32_t i = 0; i < c->cfg.n; i++)
			free(addrs[i]);
	free(addrs);
	if (rc != 0) {
		ctl_close(c);
		return -1;
	}
	*out = c;
	return 0;
}

void ctl_close(struct ctl *c)
{
	if (c == NULL)
		return;
	bft_client_free(c->client);
	if (c->net != NULL)
		net_client_close(c->net);
	bft_out_free(&c->out);
	cr_identity_free(&c->id);
	node_config_free(&c->cfg);
	free(c);
}

const struct node_config *ctl_config(const struct ctl *c)
{
	return &c->cfg;
}

enum bft_err ctl_submit(struct ctl *c, const uint8_t *op, size_t len, uint32_t flags,
			uint64_t *reqid)
{
	enum bft_err e;

	/* A cluster that orders reads (unordered_reads = false) answers no read-only request,
	 * and a read ordered like a write completes on f+1 replies. */
	if (!c->cfg.unordered_reads)
		flags &= ~(uint32_t)BFT_REQ_READONLY;
	e = bft_client_submit(c->client, ctl_now_ms(), op, len, flags, reqid, &c->out);

	ctl_flush(c);
	return e;
}

bool ctl_poll(struct ctl *c, int wait_ms, struct bft_client_result *res)
{
	struct net_rx rx;
	uint64_t now;

	if (bft_client_poll(c->client, res))
		return true;
	now = ctl_now_ms();
	c->timer_ms = bft_client_next_timer(c->client);
	if (c->timer_ms != 0 && c->timer_ms > now && (int)(c->timer_ms - now) < wait_ms)
		wait_ms = (int)(c->timer_ms - now);
	if (c->timer_ms != 0 && c->timer_ms <= now)
		wait_ms = 0;
	if (net_client_recv(c->net, wait_ms, &rx)) {
		if (bft_client_on_frame(c->client, ctl_now_ms(), rx.replica, rx.bytes, rx.len) != BFT_OK)
			c->ignored++;
		net_rx_release(&rx);
		/* Drain what else is there without waiting. */
		while (net_client_recv(c->net, 0, &rx)) {
			if (bft_client_on_frame(c->client, ctl_now_ms(), rx.replica, rx.bytes,
						rx.len) != BFT_OK)
				c->ignored++;
			net_rx_release(&rx);
		}
	}
	now = ctl_now_ms();
	c->timer_ms = bft_client_next_timer(c->client);
	if (c->timer_ms != 0 && now >= c->timer_ms) {
		bft_client_on_timer(c->client, now, &c->out);
		ctl_flush(c);
	}
	return bft_client_poll(c->client, res);
}

uint32_t ctl_outstanding(const struct ctl *c)
{
	return bft_client_outstanding(c->client);
}

size_t ctl_poll_fds(struct ctl *c, struct pollfd *fds, size_t max)
{
	return net_client_poll_fds(c->net, fds, max);
}

void ctl_stats(const struct ctl *c, struct bft_client_stats *st)
{
	bft_client_stats(c->client, st);
}

int ctl_call(struct ctl *c, const uint8_t *op, size_t len, uint32_t flags, uint32_t timeout_ms,
	     uint8_t **result, size_t *result_len, double *latency_ms, char *err, size_t errlen)
{
	uint64_t reqid, start = ctl_now_ms();
	struct bft_client_result res;
	enum bft_err e = ctl_submit(c, op, len, flags, &reqid);

	if (e != BFT_OK) {
		snprintf(err, errlen, "cannot submit: %s", bft_strerror(e));
		return -1;
	}
	while (ctl_now_ms() - start < timeout_ms) {
		uint64_t left = timeout_ms - (ctl_now_ms() - start);
		if (!ctl_poll(c, (int)(left < 50 ? left : 50), &res))
			continue;
		if (res.reqid != reqid)
			continue;
		*result = malloc(res.result.len ? res.result.len : 1);
		if (*result == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(*result, res.result.p, res.result.len);
		*result_len = res.result.len;
		*latency_ms = (double)(res.completed_ms - res.submitted_ms);
		return 0;
	}
	snprintf(err, errlen, "timeout");
	return -1;
}

enum bft_err ctl_send_raw(struct ctl *c, uint32_t r, const uint8_t *bytes, size_t len)
{
	return net_client_send(c->net, r, bytes, len);
}

const struct cr_identity *ctl_identity(const struct ctl *c)
{
	return &c->id;
}
