/*
 * client: the client side of the request protocol (PBFT §4.1, §5.1.3).
 *
 * Memory is sized at creation: outstanding_max request slots, each with room for one reply per
 * replica (n), and each stored result is bounded by limits.result_max through the decoder. A
 * slot stays taken from submit until its result is polled, so a caller that never polls gets
 * BFT_EFULL rather than unbounded growth.
 */
#include "bft/client.h"
#include "bft/log.h"

#include <stdlib.h>
#include <string.h>

#include "bft/pbft.h"
#include "bft/wire.h"
#include "crypto/cr_secret.h"

/* The largest outstanding_max we accept: a sanity bound on a caller's configuration. */
#define CLIENT_OUTSTANDING_LIMIT 65536u

enum slot_state { SLOT_FREE = 0, SLOT_INFLIGHT, SLOT_DONE };

/* The latest reply one replica sent for one request. */
struct client_reply {
	bool present;
	bft_view view;
	uint8_t *result;  /* malloc'd copy (NULL when len is 0) */
	uint32_t len;
};

struct client_slot {
	enum slot_state state;
	uint64_t reqid;           /* the id on the wire now */
	uint64_t user_reqid;      /* the id bft_client_submit returned */
	uint32_t flags;           /* current flags: READONLY is cleared by the fallback */
	uint8_t *op;              /* kept so the read-only fallback can re-sign it */
	size_t op_len;
	struct wire_buf env;      /* the signed REQUEST, for retransmission */
	uint64_t submitted_ms, deadline_ms, completed_ms;
	uint32_t backoff_ms, retransmissions;
	uint64_t done_order;      /* completion order, so poll is first-completed first-out */
	struct client_reply *replies; /* n entries, indexed by replica id */
	uint8_t *result;          /* the accepted result (DONE) */
	uint32_t result_len;
};

struct bft_client {
	struct bft_client_config cfg;
	uint64_t next_reqid;
	bft_view view;
	uint64_t done_counter;
	bool introduced;          /* a request of ours went to every replica already */
	struct client_slot *slots;
	uint8_t *polled;          /* the last polled result, valid until the next call */
	bft_view *views;          /* n entries of scratch for slot_accept, sized at creation */
	struct bft_client_stats st;
	/* MAC session (client.h): 0 = none; the keys in guarded memory, the signed SESSION to
	 * re-send, and per replica when it was last sent and whether it should be sent again. */
	uint64_t session;
	struct cr_secret keys;
	struct wire_buf session_env;
	uint64_t *session_sent_ms;
	bool *session_due;
};

static void reply_clear(struct client_reply *r)
{
	free(r->result);
	memset(r, 0, sizeof(*r));
}

static void slot_clear(struct bft_client *c, struct client_slot *s)
{
	struct client_reply *replies = s->replies;

	for (uint32_t i = 0; i < c->cfg.n; i++)
		reply_clear(&replies[i]);
	free(s->op);
	wire_buf_free(&s->env);
	free(s->result);
	memset(s, 0, sizeof(*s));
	s->replies = replies;
}

/** Allocates a client; the keys and identity in cfg are borrowed and must outlive it. */
enum bft_err bft_client_new(struct bft_client **out, const struct bft_client_config *cfg)
{
	struct bft_client *c;

	if (out == NULL || cfg == NULL || cfg->n == 0 || cfg->replica_pks == NULL ||
	    cfg->key == NULL || cfg->outstanding_max == 0 ||
	    cfg->outstanding_max > CLIENT_OUTSTANDING_LIMIT || cfg->retransmit_ms == 0 ||
	    cfg->n > cfg->limits.n_replicas || cfg->id >= cfg->limits.n_clients ||
	    (cfg->send != BFT_SEND_PRIMARY && cfg->send != BFT_SEND_ALL &&
	     cfg->send != BFT_SEND_CHECKERS) ||
	    cfg->first_reqid == UINT64_MAX)
		return BFT_EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return BFT_ENOMEM;
	c->cfg = *cfg;
	if (c->cfg.retransmit_max_ms == 0)
		c->cfg.retransmit_max_ms = cfg->retransmit_ms > UINT32_MAX / 16 ?
			UINT32_MAX : cfg->retransmit_ms * 16;
	if (c->cfg.retransmit_max_ms < c->cfg.retransmit_ms)
		c->cfg.retransmit_max_ms = c->cfg.retransmit_ms;
	/* Request ids start at 1: replicas treat 0 as "nothing executed yet" for a client. */
	c->next_reqid = cfg->first_reqid == 0 ? 1 : cfg->first_reqid;
	c->views = calloc(cfg->n, sizeof(*c->views));
	c->slots = calloc(cfg->outstanding_max, sizeof(*c->slots));
	c->session_sent_ms = calloc(cfg->n, sizeof(*c->session_sent_ms));
	c->session_due = calloc(cfg->n, sizeof(*c->session_due));
	if (c->views == NULL || c->slots == NULL || c->session_sent_ms == NULL ||
	    c->session_due == NULL)
		goto fail;
	for (uint32_t i = 0; i < cfg->outstanding_max; i++) {
		c->slots[i].replies = calloc(cfg->n, sizeof(struct client_reply));
		if (c->slots[i].replies == NULL)
			goto fail;
	}
	*out = c;
	return BFT_OK;
fail:
	bft_client_free(c);
	return BFT_ENOMEM;
}

/** Releases the client and everything it holds; safe on NULL. */
void bft_client_free(struct bft_client *c)
{
	if (c == NULL)
		return;
	if (c->slots != NULL) {
		for (uint32_t i = 0; i < c->cfg.outstanding_max; i++) {
			if (c->slots[i].replies != NULL)
				slot_clear(c, &c->slots[i]);
			free(c->slots[i].replies);
		}
	}
	free(c->slots);
	free(c->views);
	free(c->polled);
	free(c->session_sent_ms);
	free(c->session_due);
	cr_secret_free(&c->keys);
	wire_buf_free(&c->session_env);
	free(c);
}

/* Signs a REQUEST for the slot's current reqid and flags into s->env (replacing it). */
static enum bft_err slot_sign(struct bft_client *c, struct client_slot *s, uint64_t now_ms)
{
	struct bft_msg m;
	struct wire_buf env = {0};
	enum bft_err e;

	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_REQUEST;
	m.sender = c->cfg.id;
	m.u.request.reqid = s->reqid;
	m.u.request.flags = s->flags;
	m.u.request.timestamp_ms = now_ms;
	m.u.request.op.p = s->op;
	m.u.request.op.len = (uint32_t)s->op_len;
	if (c->session != 0 && c->cfg.session_replies_only) {
		/* An authenticator with no MACs: it names the session the replies go under. */
		static const uint8_t none[1];

		m.has_auth = true;
		m.auth_session = c->session;
		m.auth_macs = none;
		m.auth_len = 0;
		e = wire_encode(&m, c->cfg.key, &env);
	} else if (c->session != 0) {
		/* The signed part is unchanged; the authenticator travels beside it (msg.h). */
		m.has_auth = true;
		m.auth_session = c->session;
		e = wire_encode_auth(&m, c->cfg.key, c->keys.p, c->cfg.n, &env);
	} else {
		e = wire_encode(&m, c->cfg.key, &env);
	}
	if (e != BFT_OK) {
		wire_buf_free(&env);
		return e;
	}
	/* A frame the replicas would refuse is useless to send: say so now. */
	if (env.len > c->cfg.limits.frame_max) {
		wire_buf_free(&env);
		return BFT_ETOOBIG;
	}
	wire_buf_free(&s->env);
	s->env = env;
	return BFT_OK;
}

/* Appends one copy of the slot's envelope to *out, to `to` or to all replicas. */
static enum bft_err slot_send(struct client_slot *s, enum bft_dest dest, uint64_t to,
			      struct bft_out *out)
{
	return bft_out_msg_copy(out, dest, to, BFT_MSG_REQUEST, s->env.p, s->env.len);
}

/* Honey Badger: a request goes to its owner and the f replicas after it, which check its
 * signature for everybody (hb.h "Shared checks"); at least one of them is correct and proposes
 * it (its owner, or the others once the owner held it back: hb.h "Selection"). */
static enum bft_err send_to_checkers(struct bft_client *c, struct client_slot *s,
				     struct bft_out *out)
{
	uint32_t n = c->cfg.n, o = bft_hb_owner(n, c->cfg.id, s->reqid);
	enum bft_err e = BFT_OK;

	for (uint32_t k = 0; k <= bft_f(n) && e == BFT_OK; k++)
		e = slot_send(s, BFT_TO_REPLICA, (o + k) % n, out);
	return e;
}

static void session_resend(struct bft_client *c, uint64_t now_ms, struct bft_out *out);

/* Replica `from` shows it lacks our current session: our SESSION goes to it again at the next
 * timer, at most once per retransmission period. */
static void mark_session_due(struct bft_client *c, bft_replica_id from, uint64_t now_ms)
{
	if (!c->session_due[from] && now_ms >= c->session_sent_ms[from] + c->cfg.retransmit_ms)
		c->session_due[from] = true;
}

/* Replicas answer retransmissions only within their per-client window of request ids
 * (log.h): a new id may not run that far ahead of the oldest one still in flight. */
static bool window_allows(const struct bft_client *c)
{
	for (uint32_t i = 0; i < c->cfg.outstanding_max; i++)
		if (c->slots[i].state != SLOT_FREE &&
		    c->next_reqid - c->slots[i].reqid >= BFT_LOG_CLIENT_WINDOW)
			return false;
	return true;
}

/** See client.h. */
enum bft_err bft_client_submit(struct bft_client *c, uint64_t now_ms, const uint8_t *op,
			       size_t op_len, uint32_t flags, uint64_t *reqid,
			       struct bft_out *out)
{
	struct client_slot *s = NULL;
	enum bft_err e;

	if (c == NULL || out == NULL || reqid == NULL || (op == NULL && op_len != 0) ||
	    (flags & ~BFT_REQ_FLAGS_ALL) != 0)
		return BFT_EINVAL;
	if (op_len > c->cfg.limits.op_max)
		return BFT_ETOOBIG;
	/* Ids must never repeat: a replica would take a new request for a retransmission of the
	 * old one and answer it from its reply cache. Running out of ids is a hard stop. */
	if (c->next_reqid == UINT64_MAX)
		return BFT_ESTATE;
	for (uint32_t i = 0; i < c->cfg.outstanding_max; i++) {
		if (c->slots[i].state == SLOT_FREE) {
			s = &c->slots[i];
			break;
		}
	}
	if (s == NULL)
		return BFT_EFULL;
	if (!window_allows(c))
		return BFT_EFULL;
	session_resend(c, now_ms, out);

	/* malloc(0) may return NULL, so an empty op is stored as a one-byte buffer. */
	s->op = malloc(op_len == 0 ? 1 : op_len);
	if (s->op == NULL)
		return BFT_ENOMEM;
	if (op_len != 0)
		memcpy(s->op, op, op_len);
	s->op_len = op_len;
	s->reqid = c->next_reqid;
	s->flags = flags;
	e = slot_sign(c, s, now_ms);
	if (e != BFT_OK)
		goto fail;
	/* PBFT §4.1: a request goes to the primary the client believes in; a read-only one goes to
	 * every replica, since each answers it on its own (§5.1.3); Honey Badger has no primary.
	 * The session's first request goes to every replica as well: a replica sends replies
	 * back over the connection it saw a request of ours on, so before that only the primary
	 * could answer and f+1 replies waited for the retransmission. */
	if (c->cfg.send == BFT_SEND_ALL || (flags & BFT_REQ_READONLY) != 0 || !c->introduced)
		e = slot_send(s, BFT_TO_ALL, 0, out);
	else if (c->cfg.send == BFT_SEND_CHECKERS)
		e = send_to_checkers(c, s, out);
	else
		e = slot_send(s, BFT_TO_REPLICA, pbft_primary(c->view, c->cfg.n), out);
	if (e != BFT_OK)
		goto fail;
	c->introduced = true;
	s->state = SLOT_INFLIGHT;
	s->user_reqid = s->reqid;
	s->submitted_ms = now_ms;
	s->backoff_ms = c->cfg.retransmit_ms;
	s->deadline_ms = now_ms + s->backoff_ms;
	c->next_reqid++;
	bft_out_timer(out, bft_client_next_timer(c));
	*reqid = s->user_reqid;
	return BFT_OK;
fail:
	slot_clear(c, s);
	return e;
}

/* The number of stored replies whose result is byte-equal to replica r's. */
static uint32_t slot_matching(const struct bft_client *c, const struct client_slot *s,
			      uint32_t r)
{
	const struct client_reply *a = &s->replies[r];
	uint32_t count = 0;

	for (uint32_t j = 0; j < c->cfg.n; j++) {
		const struct client_reply *b = &s->replies[j];

		if (b->present && b->len == a->len && (a->len == 0 ||
		    memcmp(a->result, b->result, a->len) == 0))
			count++;
	}
	return count;
}

static int view_desc(const void *a, const void *b)
{
	bft_view x = *(const bft_view *)a, y = *(const bft_view *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * A request completed with replica r's result. The client's view moves to the (f+1)-th highest
 * view among the replies that agreed: at least one correct replica is in that view or a later
 * one, so a lone faulty replica cannot lure the client to a view nobody is in. Views only grow.
 */
static void slot_accept(struct bft_client *c, struct client_slot *s, uint32_t r,
			uint64_t now_ms)
{
	const struct client_reply *a = &s->replies[r];
	uint32_t f = bft_f(c->cfg.n), nviews = 0;

	for (uint32_t j = 0; j < c->cfg.n; j++) {
		const struct client_reply *b = &s->replies[j];

		if (!b->present)
			continue;
		if (b->len == a->len && (a->len == 0 || memcmp(a->result, b->result, a->len) == 0))
			c->views[nviews++] = b->view;
		else
			c->st.mismatched++;
	}
	if (nviews > f) {
		qsort(c->views, nviews, sizeof(*c->views), view_desc);
		if (c->views[f] > c->view)
			c->view = c->views[f];
	}

	/* The accepted result moves out of the reply table; the rest is released now. */
	s->result = a->result;
	s->result_len = a->len;
	s->replies[r].result = NULL;
	for (uint32_t j = 0; j < c->cfg.n; j++)
		reply_clear(&s->replies[j]);
	free(s->op);
	s->op = NULL;
	wire_buf_free(&s->env);
	s->state = SLOT_DONE;
	s->completed_ms = now_ms;
	s->done_order = ++c->done_counter;
}

/** See client.h. Cheap checks come before the signature check, so that a flood of replies
 *  for requests we never made costs a lookup, not an Ed25519 verification. */
enum bft_err bft_client_on_frame(struct bft_client *c, uint64_t now_ms, bft_replica_id from,
				 const uint8_t *bytes, size_t len)
{
	struct bft_msg m;
	struct client_slot *s = NULL;
	struct client_reply *rep;
	const struct bft_reply *r;
	uint32_t need;
	enum bft_err e;

	if (c == NULL || (bytes == NULL && len != 0))
		return BFT_EINVAL;
	e = wire_decode(&c->cfg.limits, bytes, len, &m);
	if (e != BFT_OK) {
		c->st.malformed++;
		return e;
	}
	r = &m.u.reply;
	if (m.type != BFT_MSG_REPLY) {
		/* A replica has no business sending a client anything else. */
		c->st.malformed++;
		e = BFT_ETYPE;
		goto out;
	}
	if (from >= c->cfg.n || m.sender != from) {
		c->st.bad_sender++;
		e = BFT_ESENDER;
		goto out;
	}
	if (r->client != c->cfg.id) {
		c->st.other_client++;
		e = BFT_EINVAL;
		goto out;
	}
	for (uint32_t i = 0; i < c->cfg.outstanding_max; i++) {
		if (c->slots[i].state == SLOT_INFLIGHT && c->slots[i].reqid == r->reqid) {
			s = &c->slots[i];
			break;
		}
	}
	if (s == NULL) {
		/* Late replies for completed requests land here too: after f+1 (or 2f+1) the rest
		 * are expected, and harmless. */
		c->st.unknown_request++;
		e = BFT_ESTALE;
		goto out;
	}
	if (m.has_auth) {
		uint8_t d[CR_DIGEST_BYTES];

		/* A MAC under our key for `from` in the session we are in: only that replica and
		 * we hold the key, so it vouches for the reply as its signature would (PBFT TOCS
		 * §3.3). A MAC of another session (or none of ours) proves nothing. */
		wire_msg_digest(&m, d);
		if (c->session == 0 || m.auth_session != c->session ||
		    wire_mac_check(m.auth_macs,
				   c->keys.p + (size_t)from * BFT_SESSION_KEY_BYTES,
				   c->session, d) != 0) {
			c->st.bad_mac++;
			/* A MAC under an older session of ours: that replica missed our newer
			 * SESSION. The reply proves nothing, so nothing but the rate-limited
			 * re-send rides on it. */
			if (c->session != 0 && m.auth_session < c->session)
				mark_session_due(c, from, now_ms);
			e = BFT_EBADSIG;
			goto out;
		}
		c->st.replies_mac++;
	} else {
		if (wire_verify(&m, c->cfg.replica_pks[from]) != BFT_OK) {
			c->st.bad_signature++;
			e = BFT_EBADSIG;
			goto out;
		}
		/* A signed reply in session mode: that replica has no key for our session
		 * (restarted, or the SESSION was lost). Send it again, rate-limited. */
		if (c->session != 0)
			mark_session_due(c, from, now_ms);
	}

	/* One reply per replica: a replica's latest reply replaces its earlier one, so repeating
	 * itself never adds weight. Keeping the latest (not the first) lets a correct replica's
	 * answer to a re-sent read-only query supersede an answer from an older state. */
	rep = &s->replies[from];
	if (rep->present && rep->len == r->result.len &&
	    (r->result.len == 0 || memcmp(rep->result, r->result.p, r->result.len) == 0)) {
		if (r->view > rep->view)
			rep->view = r->view;
		c->st.duplicate++;
		e = BFT_EDUP;
		goto out;
	}
	reply_clear(rep);
	if (r->result.len != 0) {
		rep->result = malloc(r->result.len);
		if (rep->result == NULL) {
			e = BFT_ENOMEM;
			goto out;
		}
		memcpy(rep->result, r->result.p, r->result.len);
	}
	rep->len = r->result.len;
	rep->view = r->view;
	rep->present = true;
	c->st.replies_ok++;

	/* f+1 matching replies include one from a correct replica, so the result is the one the
	 * replicated state machine produced (PBFT §4.1). A read-only request was not ordered:
	 * only 2f+1 matching answers show it reflects a state a quorum holds (§5.1.3). Where
	 * reads are answered so, an ordered request waits for 2f+1 too: then 2f+1 replicas
	 * executed it, f+1 of them correct, and any 2f+1 answering a later read include one of
	 * those, so at most 2f can agree on a state from before it (linearizability, §5.1.3). */
	need = (s->flags & BFT_REQ_READONLY) != 0 || !c->cfg.ordered_reads_only
		       ? bft_quorum(c->cfg.n)
		       : bft_f(c->cfg.n) + 1;
	if (slot_matching(c, s, from) >= need)
		slot_accept(c, s, from, now_ms);
	e = BFT_OK;
out:
	wire_msg_free(&m);
	return e;
}

/* The read-only fallback: the same op, re-signed as an ordinary request under a fresh id, so
 * that replies to the query (which may still arrive) can never be counted towards it. */
static enum bft_err slot_fallback(struct bft_client *c, struct client_slot *s, uint64_t now_ms)
{
	uint64_t old_reqid = s->reqid;
	uint32_t old_flags = s->flags;
	enum bft_err e;

	if (c->next_reqid == UINT64_MAX)
		return BFT_ESTATE;
	/* The new id must stay within the replicas' window of the oldest request in flight, as
	 * for a submission; if not, the query is retransmitted as it is and falls back later. */
	if (!window_allows(c))
		return BFT_EFULL;
	s->reqid = c->next_reqid;
	s->flags &= ~BFT_REQ_READONLY;
	e = slot_sign(c, s, now_ms);
	if (e != BFT_OK) {
		s->reqid = old_reqid;
		s->flags = old_flags;
		return e;
	}
	c->next_reqid++;
	for (uint32_t j = 0; j < c->cfg.n; j++)
		reply_clear(&s->replies[j]);
	c->st.readonly_fallbacks++;
	return BFT_OK;
}

/* Sends the SESSION again to each replica that asked for it by signing a reply. */
static void session_resend(struct bft_client *c, uint64_t now_ms, struct bft_out *out)
{
	for (uint32_t i = 0; c->session != 0 && i < c->cfg.n; i++) {
		if (!c->session_due[i])
			continue;
		if (bft_out_msg_copy(out, BFT_TO_REPLICA, i, BFT_MSG_SESSION, c->session_env.p,
				     c->session_env.len) != BFT_OK)
			return;
		c->session_due[i] = false;
		c->session_sent_ms[i] = now_ms;
		c->st.session_resends++;
	}
}

/** See client.h. */
enum bft_err bft_client_session_start(struct bft_client *c, uint64_t now_ms, uint64_t session,
				      const uint8_t *keys, const uint8_t *boxes,
				      struct bft_out *out)
{
	struct bft_msg m;
	struct wire_buf env = {0};
	struct cr_secret k = {0};
	enum bft_err e;

	if (c == NULL || keys == NULL || boxes == NULL || out == NULL || session == 0 ||
	    session <= c->session)
		return BFT_EINVAL;
	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_SESSION;
	m.sender = c->cfg.id;
	m.u.session.session = session;
	m.u.session.boxes.p = boxes;
	m.u.session.boxes.len = c->cfg.n * BFT_SESSION_BOX_BYTES;
	e = wire_encode(&m, c->cfg.key, &env);
	if (e != BFT_OK)
		goto fail;
	if (cr_secret_from_bytes(&k, keys, (size_t)c->cfg.n * BFT_SESSION_KEY_BYTES) != 0) {
		e = BFT_ENOMEM;
		goto fail;
	}
	e = bft_out_msg_copy(out, BFT_TO_ALL, 0, BFT_MSG_SESSION, env.p, env.len);
	if (e != BFT_OK)
		goto fail;
	cr_secret_free(&c->keys);
	c->keys = k;
	wire_buf_free(&c->session_env);
	c->session_env = env;
	c->session = session;
	for (uint32_t i = 0; i < c->cfg.n; i++) {
		c->session_due[i] = false;
		c->session_sent_ms[i] = now_ms;
	}
	return BFT_OK;
fail:
	cr_secret_free(&k);
	wire_buf_free(&env);
	return e;
}

/** See client.h. */
uint64_t bft_client_session(const struct bft_client *c)
{
	return c->session;
}

/** See client.h. */
void bft_client_on_timer(struct bft_client *c, uint64_t now_ms, struct bft_out *out)
{
	if (c == NULL || out == NULL)
		return;
	session_resend(c, now_ms, out);
	for (uint32_t i = 0; i < c->cfg.outstanding_max; i++) {
		struct client_slot *s = &c->slots[i];

		if (s->state != SLOT_INFLIGHT || s->deadline_ms > now_ms)
			continue;
		/* If re-signing fails (memory) the read-only request is simply retransmitted as it
		 * is, and the fallback is tried again at the next timeout. */
		if ((s->flags & BFT_REQ_READONLY) != 0)
			(void)slot_fallback(c, s, now_ms);
		/* PBFT §4.1: a client that gets no answer in time broadcasts the request to all
		 * replicas; backups then forward it to the primary and start their view-change
		 * timers, which is what unseats a primary that ignores the client. */
		if (slot_send(s, BFT_TO_ALL, 0, out) == BFT_OK) {
			s->retransmissions++;
			c->st.retransmissions++;
		}
		/* Exponential back-off keeps a slow or partitioned cluster from being flooded. */
		s->backoff_ms = s->backoff_ms > c->cfg.retransmit_max_ms / 2 ?
			c->cfg.retransmit_max_ms : s->backoff_ms * 2;
		s->deadline_ms = now_ms + s->backoff_ms;
	}
	bft_out_timer(out, bft_client_next_timer(c));
}

/** See client.h. Results come out in the order requests completed. */
bool bft_client_poll(struct bft_client *c, struct bft_client_result *res)
{
	struct client_slot *best = NULL;

	if (c == NULL || res == NULL)
		return false;
	for (uint32_t i = 0; i < c->cfg.outstanding_max; i++) {
		struct client_slot *s = &c->slots[i];

		if (s->state == SLOT_DONE && (best == NULL || s->done_order < best->done_order))
			best = s;
	}
	if (best == NULL)
		return false;
	free(c->polled);
	c->polled = best->result;
	best->result = NULL;
	memset(res, 0, sizeof(*res));
	res->reqid = best->user_reqid;
	res->final_reqid = best->reqid;
	res->flags = best->flags;
	res->result.p = c->polled;
	res->result.len = best->result_len;
	res->submitted_ms = best->submitted_ms;
	res->completed_ms = best->completed_ms;
	res->retransmissions = best->retransmissions;
	slot_clear(c, best);
	return true;
}

/** See client.h. */
uint32_t bft_client_outstanding(const struct bft_client *c)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < c->cfg.outstanding_max; i++)
		k += c->slots[i].state == SLOT_INFLIGHT;
	return k;
}

/** See client.h. */
uint64_t bft_client_next_timer(const struct bft_client *c)
{
	uint64_t t = 0;

	for (uint32_t i = 0; i < c->cfg.outstanding_max; i++) {
		const struct client_slot *s = &c->slots[i];

		if (s->state == SLOT_INFLIGHT && (t == 0 || s->deadline_ms < t))
			t = s->deadline_ms;
	}
	/* A SESSION to re-send is due at once: the time it was found due is past. */
	for (uint32_t i = 0; c->session != 0 && i < c->cfg.n; i++)
		if (c->session_due[i] && (t == 0 || c->session_sent_ms[i] + c->cfg.retransmit_ms < t))
			t = c->session_sent_ms[i] + c->cfg.retransmit_ms;
	return t;
}

/** See client.h. */
bft_view bft_client_view(const struct bft_client *c)
{
	return c->view;
}

/** See client.h. */
uint64_t bft_client_next_reqid(const struct bft_client *c)
{
	return c->next_reqid;
}

/** See client.h. */
void bft_client_stats(const struct bft_client *c, struct bft_client_stats *st)
{
	*st = c->st;
}
