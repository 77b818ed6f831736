#include "node/replica.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "bft/hb.h"
#include "bft/pbft.h"
#include "bft/wire.h"
#include "crypto/cr_seal.h"
#include "net/net.h"
#include "node/flood.h"
#include "node/http.h"
#include "node/kv.h"
#include "node/metrics.h"
#include "node/nlog.h"
#include "node/wal.h"

#define DRAIN_MAX 256          /* frames handled per loop iteration before flushing */
#define PUBLISH_MS 250         /* status documents refresh period */
#define LAZY_SYNC_MS 50        /* PBFT commit records wait at most this long for an fdatasync */
#define DATA_PATH_MAX 4096

struct node_replica {
	struct node_replica_opts opts;
	struct node_config cfg;
	struct node_replica_keys keys;
	struct wire_limits limits;
	struct kv *kv;
	struct pbft *pbft;       /* exactly one of pbft and hb */
	struct hb *hb;
	struct wal *wal;
	struct net *net;
	struct node_flood *flood;      /* the flood Byzantine mode's junk traffic, else NULL */
	uint64_t size_dropped_seen;    /* net_stats.size_dropped already counted in the metrics */
	uint64_t hello_refused_seen;   /* net_stats.hello_refused already counted */
	uint64_t tag_refused_seen;     /* net_stats.tag_refused already counted */
	uint64_t accept_paused_seen;   /* net_stats.accept_paused already logged */
	struct node_http *http;
	struct node_metrics m;
	struct bft_out out;      /* accumulated over one loop iteration */
	size_t synced_records;   /* records of `out` already in the log */
	bool must_sync;          /* a record written since the last fdatasync must be durable
	                          * before this iteration's messages leave */
	uint64_t lazy_since;     /* when the oldest record written since then was (0: none) */
	uint64_t timer_ms;       /* the engine's next deadline; 0 = none */
	uint64_t last_now;
	uint64_t next_publish;
	uint64_t *req_arrival;   /* per client: when its latest request arrived (0 = none) */
	uint64_t nclient_ids;    /* client id space (config.h node_config_client_ids) */
	bft_client_id registrar; /* open clients' registration id, UINT64_MAX when closed */
	char data_dir[DATA_PATH_MAX];
};

/* Wall-clock milliseconds, never going backwards: batch times reach the state machine, so they
 * follow real time, and the engine's timers need a clock that does not jump back. */
static uint64_t now_ms(struct node_replica *r)
{
	struct timespec ts;
	uint64_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	if (t < r->last_now)
		t = r->last_now;
	r->last_now = t;
	return t;
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* --------------------------------------------------------------------------------------------- */
/* Engine */

/* What the status page, the metrics and the logs need from either engine. */
struct engine_view {
	bft_view view;          /* PBFT view, Honey Badger epoch */
	bool active;
	uint32_t primary;       /* PBFT only; UINT32_MAX for Honey Badger */
	bft_seq last_executed, low, high;
	uint32_t pending;
	uint64_t view_changes;  /* PBFT view changes, Honey Badger epochs */
	uint64_t state_transfers;
};

static void engine_view(const struct node_replica *r, struct engine_view *v)
{
	if (r->pbft != NULL) {
		struct pbft_status st;
		pbft_status(r->pbft, &st);
		*v = (struct engine_view){st.view, st.view_active, st.primary, st.last_executed,
					  st.low, st.high, st.pending, st.view_changes,
					  st.state_transfers};
	} else {
		struct hb_status st;
		hb_status(r->hb, &st);
		*v = (struct engine_view){st.epoch, true, UINT32_MAX, st.last_executed, st.low,
					  st.high, st.pending, st.epochs_done, st.state_transfers};
	}
}

static enum bft_err engine_step(struct node_replica *r, const struct bft_event *ev)
{
	struct engine_view v;
	enum bft_err e;

	r->out.timer_ms = 0;
	e = r->pbft != NULL ? pbft_step(r->pbft, ev, &r->out) : hb_step(r->hb, ev, &r->out);
	r->timer_ms = r->out.timer_ms;
	engine_view(r, &v);
	nlog_context(v.view, v.last_executed);
	return e;
}

/* Replays one record of the write-ahead log into the engine: the shared log's records, and
 * Honey Badger's own proposal of an unfinished epoch (hb_restore), which it must send again
 * unchanged rather than propose anew. */
static enum bft_err engine_restore(struct node_replica *r, const struct bft_record *rec)
{
	if (r->pbft != NULL)
		return pbft_restore(r->pbft, rec);
	return hb_restore(r->hb, rec);
}

/*
 * Under PBFT with fsync = batch, a commit record (BFT_REC_COMMIT: a batch committed and
 * executed) need not be durable before the replies it produced leave. The reply follows 2f+1
 * COMMITs, and a correct replica sends its COMMIT only after its prepared certificate is durable
 * (below: that record is synced before the iteration's messages); so f+1 correct replicas hold
 * the batch's certificate on disk, and after any crash, of one replica or of all, the batch
 * commits again at the same sequence number with the same digest: re-sent COMMITs in the same
 * view (pbft.c resend_restored) or a view change, whose 2f+1 VIEW-CHANGEs include one of those
 * certificates (PBFT TOCS §4.2 invariant, §4.4). Re-executing it from the same state gives the
 * same results. Meanwhile the replica answers no read (pbft.c read_fence). Honey Badger's commit
 * record is the epoch's agreed output, which no other record can rebuild: it stays synced.
 *
 * Likewise a PRE-PREPARE's record (BFT_REC_PREPREPARE) need not be durable before the
 * PRE-PREPARE or PREPARE it backs leaves: a restarted replica abstains in every view it may have
 * voted in (bft/pbft.h pbft_restore), and what that rule rests on is synced before anything
 * depending on it leaves: view records (an iteration that enters or starts changing a view) and
 * prepared certificates (before their COMMITs). That takes two of a batch's three sequential
 * fdatasyncs (the primary's, then each backup's, before its PREPARE) off the critical path.
 */
static bool commits_may_wait(const struct node_replica *r)
{
	return r->pbft != NULL && r->cfg.fsync == NODE_FSYNC_BATCH;
}

enum persist_when {
	PERSIST_STEP,      /* after one step: only fsync = always syncs here */
	PERSIST_ITERATION, /* before the iteration's messages leave (group commit) */
	PERSIST_ALL,       /* at the end: everything durable */
};

/* Writes the records of the steps taken so far to the log, and makes them durable as the
 * policy says: under `always` after every step, under `batch` once per loop iteration (group
 * commit), under `never` not at all. Messages are sent only after this (engine.h order), except
 * replies under commits_may_wait, whose commit records may wait up to LAZY_SYNC_MS. */
static int persist(struct node_replica *r, enum persist_when when)
{
	bool wrote = false;
	char err[512];

	for (size_t i = r->synced_records; i < r->out.nrecords; i++) {
		const struct bft_record *rec = &r->out.records[i];
		int rc = rec->kind == BFT_REC_CHECKPOINT
				 ? wal_checkpoint(r->wal, rec->seq, rec->bytes, rec->len, err,
						  sizeof(err))
				 : wal_append(r->wal, (uint32_t)rec->kind, rec->seq, rec->bytes,
					      rec->len, err, sizeof(err));
		if (rc != 0) {
			nlog(NLOG_ERROR, "write-ahead log: %s", err);
			return -1;
		}
		if ((rec->kind != BFT_REC_COMMIT && rec->kind != BFT_REC_PREPREPARE) ||
		    !commits_may_wait(r))
			r->must_sync = true;
		else if (r->lazy_since == 0)
			r->lazy_since = r->last_now != 0 ? r->last_now : 1;
		wrote = true;
	}
	r->synced_records = r->out.nrecords;
	if (!wrote && when == PERSIST_STEP)
		return 0;
	if (r->cfg.fsync == NODE_FSYNC_NEVER) {
		if (when != PERSIST_STEP && wal_flush(r->wal, err, sizeof(err)) != 0) {
			nlog(NLOG_ERROR, "write-ahead log: %s", err);
			return -1;
		}
		return 0;
	}
	if (r->cfg.fsync == NODE_FSYNC_BATCH && when == PERSIST_STEP)
		return 0;
	if (when == PERSIST_ITERATION && !r->must_sync &&
	    (r->lazy_since == 0 || r->last_now - r->lazy_since < LAZY_SYNC_MS))
		return 0;
	if (wal_pending(r->wal)) {
		double t0 = mono_ms();
		if (wal_sync(r->wal, err, sizeof(err)) != 0) {
			nlog(NLOG_ERROR, "write-ahead log sync: %s", err);
			return -1;
		}
		node_hist_add(&r->m.fsync_ms, mono_ms() - t0);
	}
	r->must_sync = false;
	r->lazy_since = 0;
	return 0;
}

enum flush_which {
	FLUSH_CLIENTS, /* the messages to clients only, keeping the output */
	FLUSH_REST,    /* the others, then forget the output */
	FLUSH_ALL,     /* all of them, then forget the output */
};

/* Sends what the steps of this iteration produced, then forgets the output. */
static void flush_messages(struct node_replica *r, uint64_t now, enum flush_which which)
{
	/* Frames to one peer (or client) from this iteration leave in one send() (net.h
	 * "Corking"): a system call per message would cost more than the messages' bytes. */
	net_cork(r->net);
	for (size_t i = 0; i < r->out.nmsgs; i++) {
		const struct bft_out_msg *m = &r->out.msgs[i];
		enum bft_err e = BFT_OK;

		if ((which == FLUSH_CLIENTS && m->dest != BFT_TO_CLIENT) ||
		    (which == FLUSH_REST && m->dest == BFT_TO_CLIENT))
			continue;

		if ((unsigned)m->type < METRICS_TYPES)
			r->m.msgs_out[m->type]++;
		r->m.bytes_out += m->len;
		switch (m->dest) {
		case BFT_TO_ALL:
			e = net_send_all(r->net, m->bytes, m->len);
			break;
		case BFT_TO_REPLICA:
			e = net_send_replica(r->net, (uint32_t)m->to, m->bytes, m->len);
			break;
		case BFT_TO_CLIENT:
			e = net_send_client(r->net, m->to, m->bytes, m->len);
			/* A registration's route serves its one reply: forgotten once used, so that
			 * registrations cannot fill the table of reply connections (bft/log.h). */
			if ((m->to >> 63) != 0)
				net_client_unbind(r->net, m->to);
			if (m->to < r->nclient_ids && r->req_arrival[m->to] != 0) {
				node_hist_add(&r->m.request_ms, (double)(now - r->req_arrival[m->to]));
				r->req_arrival[m->to] = 0;
			}
			break;
		}
		if (e != BFT_OK)
			r->m.send_dropped++;
	}
	net_uncork(r->net);
	if (which == FLUSH_CLIENTS)
		return;
	for (size_t i = 0; i < r->out.ncommitted; i++) {
		r->m.commits++;
		r->m.requests_committed += r->out.committed[i].nrequests;
		node_hist_add(&r->m.batch_size, r->out.committed[i].nrequests);
	}
	bft_out_reset(&r->out);
	r->synced_records = 0;
}

/* --------------------------------------------------------------------------------------------- */
/* Input */

static void reject(struct node_replica *r, uint64_t now, enum bft_err why, uint64_t sender,
		   bool is_client, const char *what)
{
	node_metrics_reject(&r->m, why, sender, is_client);
	/* Duplicates and stale messages are routine (retransmissions): count them, do not log. */
	if (why == BFT_EDUP || why == BFT_ESTALE)
		return;
	nlog_limited(now, (uint32_t)why, sender, "dropped %s from %s %llu: %s", what,
		     is_client ? "client" : "replica", (unsigned long long)sender, bft_strerror(why));
}

/*
 * A client's SESSION (docs/PERFORMANCE.md "MAC-authenticated client sessions"): the log checks
 * who sent it, that its number is above the one held and its signature, before we spend an
 * X25519 operation opening our box; the key goes to the log in guarded memory and our copy is
 * wiped. A valid, fresh SESSION proves the client, so it also binds the connection for its
 * replies, which lets a restarted replica answer a client that only re-sent its SESSION.
 */
static void on_session(struct node_replica *r, const struct net_rx *rx, const struct bft_msg *m,
		       uint64_t now)
{
	struct bft_log *lg = r->pbft != NULL ? pbft_log(r->pbft) : hb_log(r->hb);
	struct cr_secret k = {0};
	enum bft_err e;

	if (!r->cfg.client_sessions) {
		reject(r, now, BFT_ESTATE, m->sender, true, "session (client_sessions = false)");
		return;
	}
	e = bft_log_session_check(lg, m);
	if (e != BFT_OK) {
		if (e == BFT_ESENDER)
			r->m.unknown_clients++;
		reject(r, now, e, m->sender, true, "session");
		return;
	}
	if (cr_secret_alloc(&k, BFT_SESSION_KEY_BYTES) != 0) {
		reject(r, now, BFT_ENOMEM, m->sender, true, "session");
		return;
	}
	if (cr_seal_open(k.p, &r->keys.ident,
			 m->u.session.boxes.p + (size_t)r->opts.id * BFT_SESSION_BOX_BYTES,
			 BFT_SESSION_BOX_BYTES) != 0) {
		/* Signed by the client, so the client made a box we cannot open: its fault. */
		r->m.session_bad_box++;
		bft_log_session_refused(lg, m->sender, m->u.session.session);
		reject(r, now, BFT_EBADSIG, m->sender, true, "session box");
		cr_secret_free(&k);
		return;
	}
	e = bft_log_session_install(lg, m->sender, m->u.session.session, k.p);
	cr_secret_free(&k);
	if (e != BFT_OK) {
		reject(r, now, e, m->sender, true, "session");
		return;
	}
	r->m.msgs_in[BFT_MSG_SESSION]++;
	(void)net_client_bind(r->net, rx->pipe, m->sender);
}

static void on_frame(struct node_replica *r, const struct net_rx *rx, uint64_t now)
{
	struct bft_msg m;
	enum bft_err e;
	const uint8_t *pk;
	char tb[16];
	bool from_client = rx->from == NET_FROM_CLIENT;

	r->m.bytes_in += rx->len;
	e = wire_decode(&r->limits, rx->bytes, rx->len, &m);
	if (e != BFT_OK) {
		/* The sender field cannot be trusted before decoding; attribute to the transport
		 * peer when the mesh knows it. */
		uint64_t who = rx->replica != NET_NO_REPLICA ? rx->replica : UINT64_MAX;
		if (e == BFT_ESENDER && from_client)
			r->m.unknown_clients++;
		reject(r, now, e, who, from_client, "undecodable frame");
		return;
	}
	if (from_client && m.type == BFT_MSG_SESSION) {
		on_session(r, rx, &m, now);
		goto out;
	}
	if (from_client && m.type != BFT_MSG_REQUEST) {
		reject(r, now, BFT_ETYPE, m.sender, true, node_msg_type_name(m.type, tb));
		goto out;
	}
	if (m.type == BFT_MSG_SESSION) {
		/* Sessions are between a client and each replica; no replica relays one. */
		reject(r, now, BFT_ETYPE, m.sender, false, "session");
		goto out;
	}
	if (m.type == BFT_MSG_REPLY) {
		reject(r, now, BFT_ETYPE, m.sender, false, "reply");
		goto out;
	}
	if (m.type == BFT_MSG_REQUEST) {
		/* Listed clients, registered open clients, and registrations (bft/log.h). */
		pk = bft_log_request_pk(r->pbft != NULL ? pbft_log(r->pbft) : hb_log(r->hb), &m);
		if (pk == NULL) {
			r->m.unknown_clients++;
			reject(r, now, BFT_ESENDER, m.sender, true, "request of an unknown client");
			goto out;
		}
	} else {
		pk = r->cfg.replica_pks[m.sender];
	}
	/* Honey Badger's own messages (RBC, ABA, coin and decryption shares) are never forwarded
	 * as evidence: the protocol assumes authenticated point-to-point channels (HB §2), which a
	 * mesh link is once its hello and every frame's tag verified under our link key (net.h).
	 * From the link's own replica, that tag stands in for the envelope's signature. The same
	 * holds for a PBFT COMMIT: certificates carry PRE-PREPAREs and PREPAREs (TOCS §4.4) and
	 * checkpoint proofs CHECKPOINTs, never COMMITs, and the COMMITs a replica relays when it
	 * answers a FETCH keep their signatures, checked by whoever receives them (the relayer is
	 * not their sender). A faulty replica's COMMIT with a bad signature then counts as its
	 * vote, which it could have cast with a good one. Checkpoints, state transfer and anything
	 * relayed keep their signatures. A PBFT read is answered by each replica on its own: its
	 * MAC entry suffices (log.h). */
	if (rx->authenticated && m.sender == rx->replica &&
	    ((r->hb != NULL && m.type >= BFT_MSG_HB_VAL && m.type <= BFT_MSG_HB_CHECK) ||
	     (r->pbft != NULL && m.type == BFT_MSG_COMMIT))) {
		r->m.link_authenticated++;
	} else if ((m.type == BFT_MSG_REQUEST && r->pbft != NULL &&
		    (m.u.request.flags & BFT_REQ_READONLY)
			    ? bft_log_auth_read(pbft_log(r->pbft), &m, pk)
			    : wire_verify(&m, pk)) != BFT_OK) {
		reject(r, now, BFT_EBADSIG, m.sender, m.type == BFT_MSG_REQUEST,
		       node_msg_type_name(m.type, tb));
		goto out;
	}
	if ((unsigned)m.type < METRICS_TYPES)
		r->m.msgs_in[m.type]++;
	/* (A mesh connection's replica is known from its authenticated hello: nothing to bind.) */
	if (from_client && r->req_arrival[m.sender] == 0)
		r->req_arrival[m.sender] = now;
	struct bft_event ev = {.now_ms = now, .type = BFT_EV_MESSAGE, .msg = &m};
	e = engine_step(r, &ev);
	/* Replies go to the connection a client's request or retransmission came on; a signature
	 * alone is not enough: anyone can replay an old signed request on their own connection.
	 * A stale replay (older than the client's window) binds nothing; a replay of a recent one
	 * diverts at most the cached reply, until the client's next request binds it back. */
	if (from_client && (e == BFT_OK || e == BFT_EDUP))
		(void)net_client_bind(r->net, rx->pipe,
				      m.sender == r->registrar ? bft_register_route(m.u.request.reqid)
							       : m.sender);
	if (e != BFT_OK)
		reject(r, now, e, m.sender, m.type == BFT_MSG_REQUEST, node_msg_type_name(m.type, tb));
out:
	wire_msg_free(&m);
}

/* --------------------------------------------------------------------------------------------- */
/* Status */

static void publish(struct node_replica *r)
{
	struct engine_view st;
	struct node_gauges g;
	char *metrics = NULL;
	size_t mlen = 0;
	char status[4096];
	int slen, off;
	bool pbft = r->pbft != NULL;

	engine_view(r, &st);
	/* Frames the transport dropped for their size (empty, or over frame_max) never reach
	 * on_frame: count them here, under "too_big" from an unknown sender (the transport drops
	 * them before anyone could tell who sent them). */
	{
		struct net_stats ns;
		net_stats(r->net, &ns);
		if (ns.size_dropped > r->size_dropped_seen) {
			r->m.rejected[BFT_ETOOBIG][METRICS_SENDERS_MAX + 1] +=
				ns.size_dropped - r->size_dropped_seen;
			r->size_dropped_seen = ns.size_dropped;
		}
		/* Connections closed for a wrong hello: malformed, from nobody we know. */
		if (ns.hello_refused > r->hello_refused_seen) {
			r->m.rejected[BFT_EMALFORMED][METRICS_SENDERS_MAX + 1] +=
				ns.hello_refused - r->hello_refused_seen;
			r->hello_refused_seen = ns.hello_refused;
		}
		/* Mesh frames whose link tag was wrong: not authentic, from nobody we can name. */
		if (ns.tag_refused > r->tag_refused_seen) {
			r->m.rejected[BFT_EBADSIG][METRICS_SENDERS_MAX + 1] +=
				ns.tag_refused - r->tag_refused_seen;
			r->tag_refused_seen = ns.tag_refused;
		}
		if (ns.accept_paused > r->accept_paused_seen) {
			nlog(NLOG_WARN, "out of file descriptors: stopped accepting connections %llu "
			     "time(s) for 100 ms (raise RLIMIT_NOFILE, or lower open_clients_max)",
			     (unsigned long long)(ns.accept_paused - r->accept_paused_seen));
			r->accept_paused_seen = ns.accept_paused;
		}
	}
	g = (struct node_gauges){.protocol = node_protocol_name(r->cfg.protocol),
				 .view = st.view,
				 .last_executed = st.last_executed,
				 .stable = st.low,
				 .view_changes = st.view_changes,
				 .state_transfers = st.state_transfers,
				 .pending = st.pending,
				 .replica = r->opts.id};
	{
		struct bft_log_session_stats ss;
		bft_log_session_stats(r->pbft != NULL ? pbft_log(r->pbft) : hb_log(r->hb), &ss);
		r->m.sessions_installed = ss.installed;
		r->m.mac_ok = ss.mac_ok;
		r->m.mac_fallback = ss.mac_fallback;
		r->m.mac_bad = ss.mac_bad;
		r->m.replies_mac = ss.replies_mac;
	}
	if (r->pbft != NULL) {
		struct pbft_status ps;
		pbft_status(r->pbft, &ps);
		r->m.batches_checked = ps.batches_checked;
		r->m.batches_vouched = ps.batches_vouched;
		r->m.check_waits_expired = ps.check_waits_expired;
	}
	if (node_metrics_render(&r->m, &g, &metrics, &mlen) != 0)
		return;
	const char *health = !st.active ? "view-change"
			     : st.last_executed < st.low ? "catching-up"
							  : "ok";
	char primary[16];
	if (pbft)
		snprintf(primary, sizeof(primary), "%u", st.primary);
	else
		snprintf(primary, sizeof(primary), "null");
	slen = snprintf(status, sizeof(status),
			"{\"replica\":%u,\"protocol\":\"%s\",\"%s\":%llu,\"view\":%llu,"
			"\"view_active\":%s,\"primary\":%s,\"last_executed\":%llu,"
			"\"stable_checkpoint\":%llu,\"high_watermark\":%llu,\"pending\":%u,"
			"\"view_changes\":%llu,\"state_transfers\":%llu,\"commits\":%llu,"
			"\"byzantine_modes\":%u,\"health\":\"%s\",",
			r->opts.id, node_protocol_name(r->cfg.protocol), pbft ? "pbft_view" : "epoch",
			(unsigned long long)st.view, (unsigned long long)st.view,
			st.active ? "true" : "false", primary, (unsigned long long)st.last_executed,
			(unsigned long long)st.low, (unsigned long long)st.high, st.pending,
			(unsigned long long)st.view_changes, (unsigned long long)st.state_transfers,
			(unsigned long long)r->m.commits, r->opts.byz.modes, health);
	/* Honey Badger's own counters (hb.h): how much of what the proposals carried was new. */
	if (!pbft) {
		struct hb_status hs;
		hb_status(r->hb, &hs);
		slen += snprintf(status + slen, sizeof(status) - (size_t)slen,
				 "\"hb\":{\"epochs_done\":%llu,\"proposals_in\":%llu,"
				 "\"requests_revealed\":%llu,\"requests_repeated\":%llu,"
				 "\"requests_stale\":%llu,\"requests_dropped\":%llu,"
				 "\"checks_self\":%llu,\"checks_shared\":%llu,"
				 "\"checks_disputed\":%llu,\"check_waits_expired\":%llu,"
				 "\"check_votes_other_list\":%llu},",
				 (unsigned long long)hs.epochs_done, (unsigned long long)hs.proposals_in,
				 (unsigned long long)hs.requests_revealed,
				 (unsigned long long)hs.requests_repeated,
				 (unsigned long long)hs.requests_stale,
				 (unsigned long long)hs.requests_dropped,
				 (unsigned long long)hs.checks_self, (unsigned long long)hs.checks_shared,
				 (unsigned long long)hs.checks_disputed,
				 (unsigned long long)hs.check_waits_expired,
				 (unsigned long long)hs.check_votes_other_list);
	}
	/* The stable checkpoint's digest: equal across correct replicas at equal positions, which
	 * is how tests and operators compare replicas' states. */
	{
		bft_seq sseq;
		uint8_t d[CR_DIGEST_BYTES];
		const struct bft_bytes *proof;
		uint32_t nproof;
		char hex[2 * CR_DIGEST_BYTES + 1];
		bft_log_stable(r->pbft != NULL ? pbft_log(r->pbft) : hb_log(r->hb), &sseq, d, &proof,
			       &nproof);
		sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
		slen += snprintf(status + slen, sizeof(status) - (size_t)slen,
				 "\"stable_digest\":\"%s\",\"peers\":[", hex);
	}
	off = slen;
	for (uint32_t i = 0; i < r->cfg.n && off < (int)sizeof(status) - 64; i++) {
		struct net_peer_stats ps;
		if (i == r->opts.id)
			continue;
		net_peer_stats(r->net, i, &ps);
		off += snprintf(status + off, sizeof(status) - (size_t)off,
				"%s{\"id\":%u,\"connected\":%s,\"sent\":%llu,\"dropped\":%llu}",
				off == slen ? "" : ",", i, ps.connected ? "true" : "false",
				(unsigned long long)ps.sent, (unsigned long long)ps.dropped_full);
	}
	off += snprintf(status + off, sizeof(status) - (size_t)off, "]}\n");
	if (r->http != NULL)
		node_http_publish(r->http, metrics, mlen, status, (size_t)off);
	free(metrics);
}

/* --------------------------------------------------------------------------------------------- */
/* Lifecycle */

static int mkdir_p(const char *path, char *err, size_t errlen)
{
	char tmp[DATA_PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp)) {
		snprintf(err, errlen, "data directory path is empty or too long");
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char c = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
			return -1;
		}
		tmp[i] = c;
	}
	return 0;
}

struct recover_ctx {
	struct node_replica *r;
	uint64_t records;
	char *err;
	size_t errlen;
};

static int recover_one(void *arg, uint32_t kind, uint64_t seq, const uint8_t *bytes, size_t len)
{
	struct recover_ctx *rc = arg;
	struct bft_record rec = {.kind = (enum bft_rec_kind)kind, .seq = seq,
				 .bytes = (uint8_t *)(uintptr_t)bytes, .len = len};
	enum bft_err e = engine_restore(rc->r, &rec);

	rc->records++;
	if (e != BFT_OK) {
		snprintf(rc->err, rc->errlen,
			 "%s: record %llu (kind %u, position %llu) cannot be replayed: %s; the log is "
			 "corrupt or from another cluster (move the data directory away to rejoin "
			 "empty and catch up from peers)",
			 rc->r->data_dir, (unsigned long long)rc->records, kind,
			 (unsigned long long)seq, bft_strerror(e));
		return -1;
	}
	return 0;
}

static int parse_fault(const char *spec, struct net_fault *f, char *err, size_t errlen)
{
	char buf[256];
	char *save = NULL;

	memset(f, 0, sizeof(*f));
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "--fault: specification too long");
		return -1;
	}
	strcpy(buf, spec);
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		unsigned a = 0, b = 0;
		if (sscanf(tok, "drop=%u", &a) == 1 && strchr(tok, '-') == NULL)
			f->drop_ppm = a;
		else if (sscanf(tok, "dup=%u", &a) == 1)
			f->dup_ppm = a;
		else if (sscanf(tok, "delay=%u-%u", &a, &b) == 2 && a <= b)
			f->delay_ms_min = a, f->delay_ms_max = b;
		else {
			snprintf(err, errlen,
				 "--fault: cannot parse '%s' (expected drop=PPM, dup=PPM, delay=MIN-MAX)",
				 tok);
			return -1;
		}
	}
	if (f->drop_ppm > 1000000 || f->dup_ppm > 1000000) {
		snprintf(err, errlen, "--fault: rates are parts per million, at most 1000000");
		return -1;
	}
	return 0;
}

static char *url_of(const struct node_endpoint *ep)
{
	char host[300];
	char *u = malloc(NODE_HOST_MAX + 32);

	if (u != NULL)
		snprintf(u, NODE_HOST_MAX + 32, "tcp://%s",
			 node_endpoint_format(ep, host, sizeof(host)));
	return u;
}

int node_replica_open(struct node_replica **out, const struct node_replica_opts *opts, char *err,
		      size_t errlen)
{
	struct node_replica *r = calloc(1, sizeof(*r));
	struct pbft_config pc;
	struct kv_limits kl;
	struct bft_app app;
	char **peers = NULL;
	char *client_url = NULL;
	struct recover_ctx rc;
	enum bft_err e;

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->opts = *opts;
	nlog_init((enum nlog_level)opts->log_level, (int32_t)opts->id);
	if (node_config_load(&r->cfg, opts->config_path, err, errlen) != 0)
		goto fail_cfg;
	if (opts->id >= r->cfg.n) {
		snprintf(err, errlen, "%s: there is no replica %u (the cluster has replicas 0..%u)",
			 opts->config_path, opts->id, r->cfg.n - 1);
		goto fail;
	}
	if (node_config_load_replica_keys(&r->cfg, opts->id, &r->keys, err, errlen) != 0)
		goto fail;
	node_config_wire_limits(&r->cfg, &r->limits);
	r->nclient_ids = node_config_client_ids(&r->cfg);
	r->req_arrival = calloc(r->nclient_ids ? r->nclient_ids : 1, sizeof(*r->req_arrival));
	if (r->req_arrival == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	/* The state machine. */
	kv_limits_default(&kl);
	kl.result_max = r->limits.result_max;
	if (kv_new(&kl, &r->kv) != BFT_OK) {
		snprintf(err, errlen, "out of memory creating the key-value store");
		goto fail;
	}
	kv_app(r->kv, &app);

	/* The engine. */
	pbft_config_default(&pc);
	pc.log.n = r->cfg.n;
	pc.log.self = opts->id;
	pc.log.id = &r->keys.ident;
	pc.log.replica_pks = (const uint8_t(*)[CR_PK_BYTES])r->cfg.replica_pks;
	pc.log.client_pks = (const uint8_t(*)[CR_PK_BYTES])r->cfg.client_pks;
	pc.log.open_clients = r->cfg.open_clients ? r->cfg.open_clients_max : 0;
	pc.log.limits = r->limits;
	pc.log.app = app;
	pc.log.checkpoint_interval = r->cfg.checkpoint_interval;
	pc.log.window = r->cfg.window;
	pc.log.batch_max_requests = r->cfg.batch_max_requests;
	pc.log.batch_max_bytes = r->cfg.batch_max_bytes;
	pc.log.batch_delay_ms = r->cfg.batch_delay_ms;
	pc.log.state_chunk_bytes = r->cfg.state_chunk_bytes;
	if (r->cfg.protocol == NODE_PROTOCOL_PBFT) {
		if (r->opts.byz.modes & ~BFT_BYZ_PBFT_MODES) {
			snprintf(err, errlen, "--byzantine: %s does not apply to PBFT clusters (%s "
				 "runs pbft; see --list-byzantine)",
				 bft_byz_mode_name(r->opts.byz.modes & ~BFT_BYZ_PBFT_MODES & -(r->opts.byz.modes & ~BFT_BYZ_PBFT_MODES)),
				 opts->config_path);
			goto fail;
		}
		pc.view_timeout_ms = r->cfg.view_timeout_ms;
		pc.preprepare_timeout_ms = r->cfg.view_timeout_ms / 2 ? r->cfg.view_timeout_ms / 2 : 1;
		pc.batch_inflight = r->cfg.batch_inflight;
		pc.check_wait_ms = r->cfg.check_wait_ms;
		pc.ordered_reads = !r->cfg.unordered_reads;
		pc.byz = r->opts.byz.modes != 0 ? &r->opts.byz : NULL;
		e = pbft_new(&r->pbft, &pc);
	} else {
		struct hb_config hc;
		if (r->opts.byz.modes & ~BFT_BYZ_HB_MODES) {
			snprintf(err, errlen, "--byzantine: %s does not apply to Honey Badger clusters "
				 "(%s runs hbbft; see --list-byzantine)",
				 bft_byz_mode_name(r->opts.byz.modes & ~BFT_BYZ_HB_MODES & -(r->opts.byz.modes & ~BFT_BYZ_HB_MODES)),
				 opts->config_path);
			goto fail;
		}
		hb_config_default(&hc);
		hc.log = pc.log;
		hc.coin_pk = &r->cfg.coin_pk;
		hc.enc_pk = &r->cfg.enc_pk;
		hc.coin_sk = node_replica_keys_coin(&r->keys);
		hc.enc_sk = node_replica_keys_enc(&r->keys);
		hc.batch_size = r->cfg.hb_batch_size;
		hc.check_wait_ms = r->cfg.check_wait_ms;
		hc.byz = r->opts.byz.modes != 0 ? &r->opts.byz : NULL;
		e = hb_new(&r->hb, &hc);
	}
	if (e != BFT_OK) {
		snprintf(err, errlen, "%s: invalid protocol parameters: %s", opts->config_path,
			 bft_strerror(e));
		goto fail;
	}
	r->registrar = bft_log_registrar(r->pbft != NULL ? pbft_log(r->pbft) : hb_log(r->hb));

	/* Durable state: recover, then keep logging. */
	if (opts->data_dir != NULL) {
		snprintf(r->data_dir, sizeof(r->data_dir), "%s", opts->data_dir);
	} else {
		char cdir[DATA_PATH_MAX];
		snprintf(cdir, sizeof(cdir), "%s", opts->config_path);
		char *slash = strrchr(cdir, '/');
		if (slash != NULL)
			*slash = '\0';
		else
			strcpy(cdir, ".");
		snprintf(r->data_dir, sizeof(r->data_dir), "%s/data/replica-%u", cdir, opts->id);
	}
	if (mkdir_p(r->data_dir, err, errlen) != 0)
		goto fail;
	rc = (struct recover_ctx){.r = r, .err = err, .errlen = errlen};
	struct wal_recovery wr;
	if (wal_open(&r->wal, r->data_dir, recover_one, &rc, &wr, err, errlen) != 0)
		goto fail;
	nlog(NLOG_INFO, "recovered %llu records from %s (%llu segment%s%s)",
	     (unsigned long long)wr.records, r->data_dir, (unsigned long long)wr.segments,
	     wr.segments == 1 ? "" : "s", wr.truncated_bytes ? ", torn tail truncated" : "");

	/* The network. */
	peers = calloc(r->cfg.n, sizeof(*peers));
	if (peers == NULL)
		goto fail_oom;
	for (uint32_t i = 0; i < r->cfg.n; i++)
		if ((peers[i] = url_of(&r->cfg.replicas[i].peer)) == NULL)
			goto fail_oom;
	client_url = url_of(&r->cfg.replicas[opts->id].client);
	if (client_url == NULL)
		goto fail_oom;
	struct net_replica_config nc = {
		.self = opts->id,
		.n = r->cfg.n,
		.peer_addrs = (const char *const *)peers,
		.client_addr = client_url,
		.link_keys_out = node_replica_keys_link_out(&r->keys),
		.link_keys_in = node_replica_keys_link_in(&r->keys, r->cfg.n),
		.frame_max = r->cfg.frame_max,
		/* A client sends requests (op_max and the envelope around it, with one MAC per
		 * replica) and sessions (a sealed key per replica): nothing near a state-transfer
		 * chunk, so a client cannot make us buffer frame_max bytes per connection. */
		.client_frame_max = r->cfg.op_max + NODE_CONFIG_FRAME_SLACK + 128u * r->cfg.n,
		.clients_max = r->nclient_ids + 256 < 65536 ? (uint32_t)r->nclient_ids + 256 : 65536,
	};
	if (net_replica_open(&r->net, &nc, err, errlen) != BFT_OK)
		goto fail;
	if (opts->fault_spec != NULL) {
		struct net_fault f;
		if (parse_fault(opts->fault_spec, &f, err, errlen) != 0)
			goto fail;
		for (uint32_t i = 0; i < r->cfg.n; i++)
			if (i != opts->id && net_fault_set(r->net, i, &f, 1000003u * opts->id + i) != BFT_OK) {
				snprintf(err, errlen, "--fault: cannot apply to peer %u", i);
				goto fail;
			}
	}
	if (opts->byz.modes & BFT_BYZ_FLOOD) {
		struct node_flood_config fc = {.self = opts->id, .n = r->cfg.n,
					       .peer_addrs = (const char *const *)peers,
					       .frame_max = r->cfg.frame_max,
					       .seed = opts->byz.seed};
		if (node_flood_open(&r->flood, &fc, err, errlen) != 0)
			goto fail;
	}
	if (r->cfg.replicas[opts->id].status.port != 0) {
		char hp[300];
		node_endpoint_format(&r->cfg.replicas[opts->id].status, hp, sizeof(hp));
		if (node_http_start(&r->http, hp, err, errlen) != 0)
			goto fail;
	}
	node_metrics_init(&r->m, r->cfg.n);
	for (uint32_t i = 0; i < r->cfg.n; i++)
		free(peers[i]);
	free(peers);
	free(client_url);
	*out = r;
	return 0;
fail_oom:
	snprintf(err, errlen, "out of memory");
fail:
	if (peers != NULL)
		for (uint32_t i = 0; i < r->cfg.n; i++)
			free(peers[i]);
	free(peers);
	free(client_url);
	node_replica_close(r);
	return -1;
fail_cfg:
	free(r);
	return -1;
}

int node_replica_run(struct node_replica *r, volatile sig_atomic_t *stop)
{
	struct pollfd fds[NET_POLL_FDS_MAX + 1];
	uint64_t now = now_ms(r);

	/* The first step: lets a recovered engine act (rejoin its view, arm its timers). Honey
	 * Badger draws its proposals' randomness from a generator seeded here: the engine itself
	 * may not read randomness it was not given. */
	{
		uint8_t seed[32];
		struct bft_event ev = {.now_ms = now, .type = BFT_EV_RANDOM, .random = seed,
				       .random_len = sizeof(seed)};
		randombytes_buf(seed, sizeof(seed));
		(void)engine_step(r, &ev);
		sodium_memzero(seed, sizeof(seed));
		if (persist(r, PERSIST_ITERATION) != 0)
			return -1;
		flush_messages(r, now, FLUSH_ALL);
	}
	nlog(NLOG_INFO, "replica %u serving (%s, n=%u, f=%u, fsync=%s)", r->opts.id,
	     node_protocol_name(r->cfg.protocol), r->cfg.n, r->cfg.f, node_fsync_name(r->cfg.fsync));
	while (!*stop) {
		size_t nfds = net_poll_fds(r->net, fds, NET_POLL_FDS_MAX);
		int timeout = PUBLISH_MS;
		struct net_rx rx;
		int net_to = net_timeout_ms(r->net);

		now = now_ms(r);
		if (r->timer_ms != 0)
			timeout = r->timer_ms <= now ? 0 : (int)(r->timer_ms - now < PUBLISH_MS ? r->timer_ms - now : PUBLISH_MS);
		if (net_to >= 0 && net_to < timeout)
			timeout = net_to;
		if (r->lazy_since != 0) {
			uint64_t due = r->lazy_since + LAZY_SYNC_MS;
			int left = due <= now ? 0 : (int)(due - now);
			if (left < timeout)
				timeout = left;
		}
		if (poll(fds, nfds, timeout) < 0 && errno != EINTR) {
			nlog(NLOG_ERROR, "poll: %s", strerror(errno));
			return -1;
		}
		net_fault_flush(r->net);
		now = now_ms(r);
		for (int i = 0; i < DRAIN_MAX && net_recv(r->net, &rx); i++) {
			on_frame(r, &rx, now);
			net_rx_release(&rx);
			if (r->cfg.fsync == NODE_FSYNC_ALWAYS && persist(r, PERSIST_STEP) != 0)
				return -1;
		}
		if (r->timer_ms != 0 && now >= r->timer_ms) {
			struct bft_event ev = {.now_ms = now, .type = BFT_EV_TIMER};
			r->timer_ms = 0;
			(void)engine_step(r, &ev);
		}
		/* Replies need no fdatasync under commits_may_wait: they leave first. */
		if (commits_may_wait(r))
			flush_messages(r, now, FLUSH_CLIENTS);
		if (persist(r, PERSIST_ITERATION) != 0)
			return -1;
		flush_messages(r, now, commits_may_wait(r) ? FLUSH_REST : FLUSH_ALL);
		node_flood_tick(r->flood, r->net, now);
		if (now >= r->next_publish) {
			publish(r);
			r->next_publish = now + PUBLISH_MS;
		}
	}
	nlog(NLOG_INFO, "stopping: flushing the log");
	return persist(r, PERSIST_ALL);
}

void node_replica_close(struct node_replica *r)
{
	char err[256];

	if (r == NULL)
		return;
	node_http_stop(r->http);
	if (r->flood != NULL) {
		struct node_flood_stats fs;
		node_flood_stats(r->flood, &fs);
		nlog(NLOG_INFO, "flood sent %llu junk frames on our links, %llu on side links, %llu "
		     "oversized, %llu empty (%llu refused by full queues)",
		     (unsigned long long)fs.junk_mesh, (unsigned long long)fs.junk_side,
		     (unsigned long long)fs.oversized, (unsigned long long)fs.empty,
		     (unsigned long long)fs.refused);
		node_flood_close(r->flood);
	}
	if (r->net != NULL)
		net_close(r->net);
	if (r->wal != NULL) {
		if (wal_sync(r->wal, err, sizeof(err)) != 0)
			nlog(NLOG_ERROR, "write-ahead log sync at close: %s", err);
		wal_close(r->wal);
	}
	bft_out_free(&r->out);
	pbft_free(r->pbft);
	hb_free(r->hb);
	kv_free(r->kv);
	node_replica_keys_free(&r->keys);
	node_config_free(&r->cfg);
	free(r->req_arrival);
	free(r);
}
