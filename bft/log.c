/*
 * The shared log: request queue and batching, exactly-once execution, checkpoints, watermarks
 * and state transfer. See log.h for the contract; this file says why things are done as they are.
 */
#include "bft/log.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/cr_merkle.h"
#include "crypto/cr_secret.h"

/* Exactly-once bookkeeping keeps, per client, a bitmap of its last CLIENT_WINDOW request ids and
 * their results, so a client may have up to that many requests in flight, have each executed
 * once whatever their order, and get the reply of any of them again on retransmission. The
 * result cache must cover the whole window: a request executed inside the window but whose
 * result was evicted could never be answered again (its retransmissions are duplicates). */
#define CLIENT_WINDOW BFT_LOG_CLIENT_WINDOW
#define RESULT_CACHE CLIENT_WINDOW
/* A client may have at most this many requests queued; a client pipelining deeper than this
 * sees BFT_EFULL rather than crowding out the others. */
#define CLIENT_PENDING_MAX CLIENT_WINDOW
/* Registrations from different keys all come from the registrar id: they may queue more. */
#define REGISTRAR_PENDING_MAX 256u
/* Session keys live in guarded memory in blocks of this many clients (cr_secret's largest
 * allocation is 64 KiB), each block allocated when its first key is installed. */
#define SESS_BLOCK (CR_SECRET_MAX / BFT_SESSION_KEY_BYTES)
/* The checkpoint votes one replica may have outstanding above the stable checkpoint. */
#define VOTES_PER_REPLICA_EXTRA 2u

struct pend {
	struct pend *prev, *next;   /* the FIFO */
	struct pend *cnext;         /* the client's own list */
	bft_client_id client;
	uint64_t reqid;
	uint64_t arrival_ms;
	bool proposed;
	uint32_t len;
	uint8_t bytes[];
};

struct cached_result {
	uint64_t reqid;  /* 0 = empty */
	uint8_t *result;
	uint32_t len;
};

struct client_state {
	uint64_t last;   /* highest executed request id, 0 if none */
	uint64_t mask;   /* bit i set: request last - i was executed */
	struct cached_result cache[RESULT_CACHE];
	struct pend *pending;
	uint32_t npending;
};

struct vote {
	bft_seq seq;
	bft_replica_id replica;
	uint8_t digest[CR_DIGEST_BYTES];
	uint8_t *env;
	uint32_t env_len;
};

/* A checkpoint we took ourselves: the snapshot we would serve and its chunk tree. */
struct own_ckpt {
	bft_seq seq;           /* 0 = empty slot */
	uint8_t *snap;
	size_t snap_len;
	uint32_t chunk;        /* bytes per chunk */
	uint32_t nchunks;
	struct cr_merkle tree;
};

struct transfer {
	bool active;
	bft_seq seq;
	uint8_t digest[CR_DIGEST_BYTES];
	uint32_t nchunks;      /* 0 until the first verified chunk fixes it */
	uint8_t **chunks;
	uint32_t *lens;
	uint32_t have;
};

struct bft_log {
	struct bft_log_config cfg;
	uint32_t f;

	/* request queue */
	struct pend *head, *tail;
	uint32_t npending;
	uint32_t unproposed;
	uint64_t unproposed_bytes;

	struct client_state *clients;
	/* client keys: the listed ones, then the open slots as registrations execute (log.h) */
	uint8_t (*pks)[CR_PK_BYTES];
	uint64_t n_static;          /* listed clients: ids 0 .. n_static - 1 */
	bft_client_id registrar;    /* UINT64_MAX without open clients */
	uint32_t n_open;            /* open slots registered, ids n_static .. n_static + n_open - 1 */
	uint64_t *pk_index;         /* keys -> ids (registered_id), with open clients only */
	uint64_t pk_index_cap;      /* a power of two over twice the ids */

	bft_seq last_executed;

	/* stable checkpoint and its proof */
	bft_seq stable;
	uint8_t stable_digest[CR_DIGEST_BYTES];
	struct bft_bytes *proof;
	uint32_t nproof;

	/* checkpoint votes above the stable checkpoint */
	struct vote *votes;
	uint32_t nvotes, votes_cap;

	/* our own checkpoints, newest kept up to window/K + 1 */
	struct own_ckpt *own;
	uint32_t nown;

	/* The commit record of every position executed above the stable checkpoint (by seq %
	 * window; at most window of them): written again after each new checkpoint record, so
	 * that the log segment it starts holds every executed batch above it (emit_checkpoint_record). */
	struct kept_commit {
		bft_seq seq; /* 0 = empty */
		uint8_t *rec;
		size_t len;
	} *kept;

	/* the highest stable checkpoint proven above what we executed (state transfer target) */
	bool behind;
	bft_seq behind_seq;
	uint8_t behind_digest[CR_DIGEST_BYTES];

	struct transfer xfer;
	uint64_t diverged;   /* stable checkpoints whose digest differed from ours */

	/* MAC sessions (log.h "Sessions"): local, never persisted or replicated. */
	uint64_t *sess;              /* per client: the session number held, 0 = none */
	uint64_t *sess_seen;         /* per client: the highest session number whose SESSION was
	                              * signed by the client, installed or refused (a box that did
	                              * not open): nothing at or below it is looked at again */
	struct cr_secret *sess_keys; /* blocks of SESS_BLOCK keys */
	uint64_t sess_nblocks;
	struct bft_log_session_stats sst;
};

void bft_log_config_default(struct bft_log_config *c)
{
	memset(c, 0, sizeof(*c));
	c->checkpoint_interval = 64;
	c->window = 256;
	c->batch_max_requests = 256;
	c->batch_max_bytes = 256 * 1024;
	c->batch_delay_ms = 2;
	c->pending_max = 65536;
	c->state_chunk_bytes = 256 * 1024;
}

/* ---------------------------------------------------------------------------------------- */
/* Small helpers */

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* A bounds-checked reader over a snapshot or record. */
struct rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static const uint8_t *rd_take(struct rd *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t rd_u64(struct rd *r)
{
	const uint8_t *p = rd_take(r, 8);
	return p ? get_u64(p) : 0;
}

static uint32_t rd_u32(struct rd *r)
{
	const uint8_t *p = rd_take(r, 4);
	return p ? get_u32(p) : 0;
}

static enum bft_err buf_u64(struct wire_buf *b, uint64_t v)
{
	uint8_t t[8];
	put_u64(t, v);
	return wire_buf_append(b, t, 8);
}

static enum bft_err buf_u32(struct wire_buf *b, uint32_t v)
{
	uint8_t t[4];
	put_u32(t, v);
	return wire_buf_append(b, t, 4);
}

/* Signs and encodes m, then hands the bytes to *out as a message. */
static enum bft_err send_msg(struct bft_log *lg, struct bft_msg *m, enum bft_dest dest,
			     uint64_t to, struct bft_out *out)
{
	struct wire_buf b = {0};
	enum bft_err e;

	m->version = BFT_WIRE_VERSION;
	m->sender = lg->cfg.self;
	e = wire_encode(m, lg->cfg.id, &b);
	if (e != BFT_OK) {
		wire_buf_free(&b);
		return e;
	}
	return bft_out_msg(out, dest, to, m->type, b.p, b.len);
}

/* ---------------------------------------------------------------------------------------- */
/* Lifecycle */

static void pk_index_rebuild(struct bft_log *lg);

enum bft_err bft_log_new(struct bft_log **out, const struct bft_log_config *cfg)
{
	struct bft_log *lg;
	uint64_t n_static;

	if (cfg->n < 4 || cfg->self >= cfg->n || cfg->id == NULL || cfg->replica_pks == NULL ||
	    cfg->checkpoint_interval == 0 || cfg->window < cfg->checkpoint_interval ||
	    cfg->window % cfg->checkpoint_interval != 0 || cfg->batch_max_requests == 0 ||
	    cfg->batch_max_requests > cfg->limits.batch_max || cfg->state_chunk_bytes == 0 ||
	    cfg->state_chunk_bytes > cfg->limits.chunk_max || cfg->app.execute == NULL ||
	    cfg->app.snapshot == NULL || cfg->app.restore == NULL ||
	    (cfg->open_clients > 0 && cfg->limits.n_clients < (uint64_t)cfg->open_clients + 1))
		return BFT_EINVAL;
	n_static = cfg->open_clients > 0 ? cfg->limits.n_clients - cfg->open_clients - 1
					 : cfg->limits.n_clients;
	if (n_static > 0 && cfg->client_pks == NULL)
		return BFT_EINVAL;
	lg = calloc(1, sizeof(*lg));
	if (lg == NULL)
		return BFT_ENOMEM;
	lg->cfg = *cfg;
	lg->f = bft_f(cfg->n);
	lg->n_static = n_static;
	lg->registrar = cfg->open_clients > 0 ? cfg->limits.n_clients - 1 : UINT64_MAX;
	lg->clients = calloc(cfg->limits.n_clients ? cfg->limits.n_clients : 1,
			     sizeof(*lg->clients));
	lg->pks = calloc(cfg->limits.n_clients ? cfg->limits.n_clients : 1, sizeof(*lg->pks));
	lg->nown = cfg->window / cfg->checkpoint_interval + 1;
	lg->own = calloc(lg->nown, sizeof(*lg->own));
	lg->kept = calloc(cfg->window, sizeof(*lg->kept));
	lg->sess = calloc(cfg->limits.n_clients ? cfg->limits.n_clients : 1, sizeof(*lg->sess));
	lg->sess_seen = calloc(cfg->limits.n_clients ? cfg->limits.n_clients : 1,
			       sizeof(*lg->sess_seen));
	lg->sess_nblocks = (cfg->limits.n_clients + SESS_BLOCK - 1) / SESS_BLOCK;
	lg->sess_keys = calloc(lg->sess_nblocks ? lg->sess_nblocks : 1, sizeof(*lg->sess_keys));
	if (lg->clients == NULL || lg->pks == NULL || lg->own == NULL || lg->kept == NULL ||
	    lg->sess == NULL ||
	    lg->sess_seen == NULL || lg->sess_keys == NULL) {
		bft_log_free(lg);
		return BFT_ENOMEM;
	}
	if (n_static > 0)
		memcpy(lg->pks, cfg->client_pks, n_static * sizeof(*lg->pks));
	if (cfg->open_clients > 0) {
		lg->pk_index_cap = 2;
		while (lg->pk_index_cap < 2 * (n_static + cfg->open_clients))
			lg->pk_index_cap *= 2;
		lg->pk_index = calloc(lg->pk_index_cap, sizeof(*lg->pk_index));
		if (lg->pk_index == NULL) {
			bft_log_free(lg);
			return BFT_ENOMEM;
		}
		pk_index_rebuild(lg);
	}
	*out = lg;
	return BFT_OK;
}

static void proof_free(struct bft_bytes *proof, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free((void *)(uintptr_t)proof[i].p);
	free(proof);
}

static void own_clear(struct own_ckpt *o)
{
	free(o->snap);
	cr_merkle_free(&o->tree);
	memset(o, 0, sizeof(*o));
}

static void xfer_clear(struct transfer *x)
{
	if (x->chunks != NULL)
		for (uint32_t i = 0; i < x->nchunks; i++)
			free(x->chunks[i]);
	free(x->chunks);
	free(x->lens);
	memset(x, 0, sizeof(*x));
}

void bft_log_free(struct bft_log *lg)
{
	struct pend *p, *next;

	if (lg == NULL)
		return;
	for (p = lg->head; p != NULL; p = next) {
		next = p->next;
		free(p);
	}
	if (lg->clients != NULL)
		for (uint64_t c = 0; c < lg->cfg.limits.n_clients; c++)
			for (uint32_t i = 0; i < RESULT_CACHE; i++)
				free(lg->clients[c].cache[i].result);
	free(lg->clients);
	free(lg->pks);
	free(lg->pk_index);
	free(lg->sess);
	free(lg->sess_seen);
	if (lg->sess_keys != NULL)
		for (uint64_t b = 0; b < lg->sess_nblocks; b++)
			cr_secret_free(&lg->sess_keys[b]);
	free(lg->sess_keys);
	proof_free(lg->proof, lg->nproof);
	for (uint32_t i = 0; i < lg->nvotes; i++)
		free(lg->votes[i].env);
	free(lg->votes);
	if (lg->own != NULL)
		for (uint32_t i = 0; i < lg->nown; i++)
			own_clear(&lg->own[i]);
	free(lg->own);
	if (lg->kept != NULL)
		for (uint32_t i = 0; i < lg->cfg.window; i++)
			free(lg->kept[i].rec);
	free(lg->kept);
	xfer_clear(&lg->xfer);
	free(lg);
}

/* ---------------------------------------------------------------------------------------- */
/* Exactly-once bookkeeping */

/* True when request reqid of client cs must not be executed again: executed already, or so old
 * that we no longer remember (PBFT §4.1 discards requests with a timestamp at or below the last
 * one; a window of 64 lets a client pipeline). */
static bool already_executed(const struct client_state *cs, uint64_t reqid)
{
	uint64_t back;

	if (reqid > cs->last)
		return false;
	back = cs->last - reqid;
	if (back >= CLIENT_WINDOW)
		return true;
	return (cs->mask >> back) & 1u;
}

static void mark_executed(struct client_state *cs, uint64_t reqid)
{
	if (reqid > cs->last) {
		uint64_t shift = reqid - cs->last;
		cs->mask = shift >= CLIENT_WINDOW ? 0 : cs->mask << shift;
		cs->mask |= 1u;
		cs->last = reqid;
	} else {
		cs->mask |= (uint64_t)1 << (cs->last - reqid);
	}
}

static const struct cached_result *cached(const struct client_state *cs, uint64_t reqid)
{
	const struct cached_result *c = &cs->cache[reqid % RESULT_CACHE];
	return c->reqid == reqid && c->result != NULL ? c : NULL;
}

/* The session key held for client c (sess[c] != 0), in its guarded block. */
static const uint8_t *sess_key(const struct bft_log *lg, bft_client_id c)
{
	const struct cr_secret *b = &lg->sess_keys[c / SESS_BLOCK];

	BFT_ASSERT(b->p != NULL);
	return b->p + (size_t)(c % SESS_BLOCK) * BFT_SESSION_KEY_BYTES;
}

/* A REPLY to client for reqid, sent to destination `to` (the client, or a registration's
 * route). When the request named session `session` and that is the session this replica holds
 * for the client, the reply carries MAC(k, reply) instead of a signature: the key is shared
 * with this client only, so the MAC convinces it as a signature would (PBFT TOCS §3.3), at a
 * fraction of the cost. Otherwise it is signed, and a client in session mode takes a signed
 * reply as the sign that this replica lost its key (a restart) and sends its SESSION again. */
static enum bft_err send_reply_to(struct bft_log *lg, uint64_t to, bft_client_id client,
				  uint64_t reqid, bft_view view, const uint8_t *result, uint32_t len,
				  uint64_t session, struct bft_out *out)
{
	struct bft_msg m = {.type = BFT_MSG_REPLY};
	struct wire_buf b = {0};
	enum bft_err e;

	m.version = BFT_WIRE_VERSION;
	m.sender = lg->cfg.self;
	m.u.reply.view = view;
	m.u.reply.client = client;
	m.u.reply.reqid = reqid;
	m.u.reply.result = (struct bft_bytes){.p = result, .len = len};
	if (session == 0 || to != client || client >= lg->cfg.limits.n_clients ||
	    lg->sess[client] != session)
		return send_msg(lg, &m, BFT_TO_CLIENT, to, out);
	m.has_auth = true;
	m.auth_session = session;
	e = wire_encode_auth(&m, NULL, sess_key(lg, client), 1, &b);
	if (e != BFT_OK) {
		wire_buf_free(&b);
		return e;
	}
	lg->sst.replies_mac++;
	return bft_out_msg(out, BFT_TO_CLIENT, to, BFT_MSG_REPLY, b.p, b.len);
}

/* The session a request's authenticator names, 0 when it has none. */
static uint64_t req_session(const struct bft_msg *req)
{
	return req->has_auth ? req->auth_session : 0;
}

static enum bft_err send_reply(struct bft_log *lg, bft_client_id client, uint64_t reqid,
			       bft_view view, const uint8_t *result, uint32_t len,
			       uint64_t session, struct bft_out *out)
{
	return send_reply_to(lg, client, client, reqid, view, result, len, session, out);
}

/* ---------------------------------------------------------------------------------------- */
/* Open clients (log.h) */

uint64_t bft_register_reqid(const uint8_t pk[CR_PK_BYTES])
{
	uint8_t d[CR_DIGEST_BYTES];
	uint64_t v;

	cr_digest(d, "bft.client.register", pk, CR_PK_BYTES);
	v = get_u64(d) & (UINT64_MAX >> 1);
	return v != 0 ? v : 1;
}

/* True when client id c has a key now: a listed client or a registered open slot. */
static bool client_known(const struct bft_log *lg, bft_client_id c)
{
	if (c < lg->n_static)
		return true;
	return c != lg->registrar && c - lg->n_static < lg->n_open;
}

/* True for an id of the open slots, registered or not. */
static bool client_open(const struct bft_log *lg, bft_client_id c)
{
	return c >= lg->n_static && c < lg->cfg.limits.n_clients && c != lg->registrar;
}

/* The key a registration registers, when it is well formed: op is a key and reqid derives
 * from it (so retransmissions of one registration are one request, and registrations of
 * different keys do not collide in the queue). */
static const uint8_t *registration_pk(const struct bft_msg *req)
{
	if (req->u.request.op.len != CR_PK_BYTES || req->u.request.flags != 0 ||
	    req->u.request.reqid != bft_register_reqid(req->u.request.op.p))
		return NULL;
	return req->u.request.op.p;
}

/* The index from keys to the ids that hold them (listed and registered), so that a flood of
 * registrations costs a probe each, not a scan of up to open_clients keys. Open addressing,
 * entries id + 1 (0: empty), at most half full; only clusters with open clients have one. */
static uint64_t *pk_index_entry(const struct bft_log *lg, const uint8_t *pk)
{
	uint64_t mask = lg->pk_index_cap - 1, i = get_u64(pk) & mask;

	while (lg->pk_index[i] != 0 && memcmp(lg->pks[lg->pk_index[i] - 1], pk, CR_PK_BYTES) != 0)
		i = (i + 1) & mask;
	return &lg->pk_index[i];
}

static void pk_index_add(struct bft_log *lg, uint64_t id)
{
	uint64_t *e = pk_index_entry(lg, lg->pks[id]);

	if (*e == 0) /* a key listed twice keeps its first id */
		*e = id + 1;
}

static void pk_index_rebuild(struct bft_log *lg)
{
	memset(lg->pk_index, 0, lg->pk_index_cap * sizeof(*lg->pk_index));
	for (uint64_t c = 0; c < lg->n_static + lg->n_open; c++)
		pk_index_add(lg, c);
}

/* The id pk holds already, or UINT64_MAX. */
static uint64_t registered_id(const struct bft_log *lg, const uint8_t *pk)
{
	uint64_t e = *pk_index_entry(lg, pk);

	return e != 0 ? e - 1 : UINT64_MAX;
}

static enum bft_err send_registration(struct bft_log *lg, uint64_t reqid, bft_view view,
				      uint8_t status, uint64_t id, struct bft_out *out)
{
	uint8_t res[BFT_REGISTER_RESULT_BYTES];

	res[0] = status;
	put_u64(res + 1, id);
	return send_reply_to(lg, bft_register_route(reqid), lg->registrar, reqid, view, res,
			     sizeof(res), 0, out);
}

const uint8_t *bft_log_request_pk(const struct bft_log *lg, const struct bft_msg *req)
{
	if (req->type != BFT_MSG_REQUEST || req->sender >= lg->cfg.limits.n_clients)
		return NULL;
	if (req->sender == lg->registrar)
		return registration_pk(req);
	return client_known(lg, req->sender) ? lg->pks[req->sender] : NULL;
}

bft_client_id bft_log_registrar(const struct bft_log *lg)
{
	return lg->registrar;
}

uint32_t bft_log_open_registered(const struct bft_log *lg)
{
	return lg->n_open;
}

/* Executes registration m at its place in the log: every correct replica gives the same key
 * the same id. */
static enum bft_err execute_registration(struct bft_log *lg, const struct bft_msg *m,
					 bft_view view, struct bft_out *out)
{
	const uint8_t *pk = registration_pk(m);
	uint64_t id;

	if (pk == NULL)
		return BFT_OK; /* bft_log_check_batch let it through: cannot happen; skip it */
	id = registered_id(lg, pk);
	if (id == UINT64_MAX) {
		if (lg->n_open >= lg->cfg.open_clients)
			return send_registration(lg, m->u.request.reqid, view, BFT_REGISTER_FULL, 0,
						 out);
		id = lg->n_static + lg->n_open++;
		memcpy(lg->pks[id], pk, CR_PK_BYTES);
		pk_index_add(lg, id);
	}
	return send_registration(lg, m->u.request.reqid, view, BFT_REGISTER_OK, id, out);
}

/* ---------------------------------------------------------------------------------------- */
/* Request queue */

static struct pend *pending_find(const struct bft_log *lg, bft_client_id c, uint64_t reqid)
{
	for (struct pend *p = lg->clients[c].pending; p != NULL; p = p->cnext)
		if (p->reqid == reqid)
			return p;
	return NULL;
}

static void pending_remove(struct bft_log *lg, struct pend *p)
{
	struct client_state *cs = &lg->clients[p->client];
	struct pend **pp;

	for (pp = &cs->pending; *pp != NULL; pp = &(*pp)->cnext)
		if (*pp == p) {
			*pp = p->cnext;
			break;
		}
	cs->npending--;
	if (p->prev)
		p->prev->next = p->next;
	else
		lg->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		lg->tail = p->prev;
	if (!p->proposed) {
		lg->unproposed--;
		lg->unproposed_bytes -= p->len;
	}
	lg->npending--;
	free(p);
}

enum bft_err bft_log_submit(struct bft_log *lg, const struct bft_msg *req, uint64_t now_ms,
			    struct bft_out *out)
{
	struct client_state *cs;
	const struct cached_result *cr;
	struct pend *p;
	uint64_t reqid;

	if (req->type != BFT_MSG_REQUEST || req->sender >= lg->cfg.limits.n_clients)
		return BFT_ESENDER;
	cs = &lg->clients[req->sender];
	reqid = req->u.request.reqid;
	if (req->sender == lg->registrar) {
		const uint8_t *pk = registration_pk(req);
		uint64_t id;

		if (pk == NULL)
			return BFT_EMALFORMED;
		/* Registrations are permanent and slots never free up, so a key that holds an id,
		 * or a cluster out of slots, is answered from the state at once. */
		id = registered_id(lg, pk);
		if (id != UINT64_MAX || lg->n_open >= lg->cfg.open_clients) {
			(void)send_registration(lg, reqid, 0,
						id != UINT64_MAX ? BFT_REGISTER_OK : BFT_REGISTER_FULL,
						id != UINT64_MAX ? id : 0, out);
			return BFT_EDUP;
		}
	} else if (!client_known(lg, req->sender)) {
		return BFT_ESENDER;
	} else if (already_executed(cs, reqid)) {
		/* PBFT §4.1: a retransmission of an executed request gets the same reply again. */
		cr = cached(cs, reqid);
		if (cr == NULL)
			return BFT_ESTALE;
		(void)send_reply(lg, req->sender, reqid, 0, cr->result, cr->len, req_session(req),
				 out);
		return BFT_EDUP;
	}
	if (pending_find(lg, req->sender, reqid) != NULL)
		return BFT_EDUP;
	if (lg->npending >= lg->cfg.pending_max ||
	    cs->npending >= (req->sender == lg->registrar ? REGISTRAR_PENDING_MAX : CLIENT_PENDING_MAX))
		return BFT_EFULL;
	p = malloc(sizeof(*p) + req->frame.len);
	if (p == NULL)
		return BFT_ENOMEM;
	memset(p, 0, sizeof(*p));
	p->client = req->sender;
	p->reqid = reqid;
	p->arrival_ms = now_ms;
	p->len = req->frame.len;
	memcpy(p->bytes, req->frame.p, req->frame.len);
	p->prev = lg->tail;
	if (lg->tail)
		lg->tail->next = p;
	else
		lg->head = p;
	lg->tail = p;
	p->cnext = cs->pending;
	cs->pending = p;
	cs->npending++;
	lg->npending++;
	lg->unproposed++;
	lg->unproposed_bytes += p->len;
	return BFT_OK;
}

enum bft_err bft_log_query(struct bft_log *lg, const struct bft_msg *req, bft_view view,
			   struct bft_out *out)
{
	struct wire_buf result = {0};
	enum bft_err e;

	if (req->type != BFT_MSG_REQUEST || req->sender >= lg->cfg.limits.n_clients ||
	    !client_known(lg, req->sender))
		return BFT_ESENDER;
	if (!(req->u.request.flags & BFT_REQ_READONLY) || lg->cfg.app.query == NULL)
		return BFT_EINVAL;
	lg->cfg.app.query(lg->cfg.app.ctx, req->sender, &req->u.request.op, &result);
	if (result.len > lg->cfg.limits.result_max)
		result.len = lg->cfg.limits.result_max;
	e = send_reply(lg, req->sender, req->u.request.reqid, view, result.p, (uint32_t)result.len,
		       req_session(req), out);
	wire_buf_free(&result);
	return e;
}

uint32_t bft_log_pending(const struct bft_log *lg)
{
	return lg->npending;
}

static const struct pend *first_unproposed(const struct bft_log *lg)
{
	const struct pend *p;

	if (lg->unproposed == 0)
		return NULL;
	for (p = lg->head; p != NULL && p->proposed; p = p->next)
		;
	return p;
}

bool bft_log_batch_deadline(const struct bft_log *lg, uint64_t *deadline_ms)
{
	const struct pend *p = first_unproposed(lg);

	if (p == NULL)
		return false;
	*deadline_ms = p->arrival_ms + lg->cfg.batch_delay_ms;
	return true;
}

bool bft_log_batch_ready(const struct bft_log *lg, uint64_t now_ms)
{
	uint64_t deadline;

	if (lg->unproposed == 0)
		return false;
	if (lg->unproposed >= lg->cfg.batch_max_requests ||
	    lg->unproposed_bytes >= lg->cfg.batch_max_bytes)
		return true;
	return bft_log_batch_deadline(lg, &deadline) && now_ms >= deadline;
}

bool bft_log_oldest_pending(const struct bft_log *lg, uint64_t *arrival_ms)
{
	if (lg->head == NULL)
		return false;
	*arrival_ms = lg->head->arrival_ms;
	return true;
}

enum bft_err bft_log_batch_take(struct bft_log *lg, struct bft_bytes **reqs, uint32_t *n)
{
	struct bft_bytes *v;
	uint32_t k = 0;
	uint64_t bytes = 0;

	v = malloc(sizeof(*v) * (lg->cfg.batch_max_requests ? lg->cfg.batch_max_requests : 1));
	if (v == NULL)
		return BFT_ENOMEM;
	for (struct pend *p = lg->head; p != NULL && k < lg->cfg.batch_max_requests; p = p->next) {
		if (p->proposed)
			continue;
		/* Always take at least one request, so a request larger than the byte limit
		 * (but within the frame limits) still gets ordered. */
		if (k > 0 && bytes + p->len > lg->cfg.batch_max_bytes)
			break;
		p->proposed = true;
		lg->unproposed--;
		lg->unproposed_bytes -= p->len;
		bytes += p->len;
		v[k++] = (struct bft_bytes){.p = p->bytes, .len = p->len};
	}
	*reqs = v;
	*n = k;
	return BFT_OK;
}

void bft_log_mark_proposed(struct bft_log *lg, const struct bft_bytes *reqs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct bft_msg m;
		struct pend *p;

		if (wire_decode(&lg->cfg.limits, reqs[i].p, reqs[i].len, &m) != BFT_OK)
			continue;
		p = m.type == BFT_MSG_REQUEST && m.sender < lg->cfg.limits.n_clients
			    ? pending_find(lg, m.sender, m.u.request.reqid)
			    : NULL;
		if (p != NULL && !p->proposed) {
			p->proposed = true;
			lg->unproposed--;
			lg->unproposed_bytes -= p->len;
		}
		wire_msg_free(&m);
	}
}

bool bft_log_oldest_unproposed(const struct bft_log *lg, uint64_t *arrival_ms)
{
	const struct pend *p = first_unproposed(lg);

	if (p == NULL)
		return false;
	*arrival_ms = p->arrival_ms;
	return true;
}

void bft_log_unmark_all(struct bft_log *lg)
{
	for (struct pend *p = lg->head; p != NULL; p = p->next)
		if (p->proposed) {
			p->proposed = false;
			lg->unproposed++;
			lg->unproposed_bytes += p->len;
		}
}

/*
 * Authenticates request m of a proposed batch (log.h bft_log_check_requests). With `mac`, an
 * authenticator that names the session this replica holds for the client and whose entry for
 * this replica verifies is enough: only the client and this replica know k_i, and this replica
 * did not make the MAC, so the client sent exactly these signed bytes (PBFT TOCS §3.3). In
 * every other case the signature decides, as for a request without authenticator: a good
 * signature is accepted whatever the MACs say, so a client that lies in its MACs (Aardvark's
 * "big MAC" attack, Clement et al. NSDI'09 §3) cannot make correct backups refuse a request a
 * correct primary ordered, because that primary checked the signature before ordering it.
 * st, when not NULL, counts which way the decision went.
 */
static enum bft_err auth_request(const struct bft_log *lg, const struct bft_msg *m,
				 const uint8_t *pk, enum bft_check_auth how,
				 struct bft_log_session_stats *st)
{
	bool mac = how == BFT_CHECK_MAC || how == BFT_CHECK_MAC_ONLY;

	if (mac && m->has_auth && st != NULL) {
		uint64_t held = lg->sess[m->sender];

		if (held != 0 && m->auth_session == held &&
		    m->auth_len == lg->cfg.n * BFT_MAC_BYTES) {
			uint8_t d[CR_DIGEST_BYTES];

			wire_msg_digest(m, d);
			if (wire_mac_check(m->auth_macs + (size_t)lg->cfg.self * BFT_MAC_BYTES,
					   sess_key(lg, m->sender), held, d) == 0) {
				st->mac_ok++;
				return BFT_OK;
			}
			if (how == BFT_CHECK_MAC_ONLY)
				return BFT_ESTATE;
			st->mac_bad++;
		} else if (how != BFT_CHECK_MAC_ONLY) {
			st->mac_fallback++;
		}
	}
	if (how == BFT_CHECK_MAC_ONLY)
		return BFT_ESTATE;
	return wire_verify(m, pk);
}

enum bft_err bft_log_auth_read(struct bft_log *lg, const struct bft_msg *req,
			       const uint8_t pk[CR_PK_BYTES])
{
	if (req->type != BFT_MSG_REQUEST || !(req->u.request.flags & BFT_REQ_READONLY))
		return BFT_EINVAL;
	return auth_request(lg, req, pk, BFT_CHECK_MAC, &lg->sst);
}

/*
 * What authenticates REQUEST m, whose envelope is req, in a proposed batch: nothing more when we
 * queued exactly these bytes (verified on arrival: no second Ed25519 verification, the dominant
 * cost per request) or for an open slot not registered yet (checked at execution, log.h);
 * otherwise its client's key, returned in *pk. BFT_EMALFORMED for a registration without key.
 */
static enum bft_err request_key(const struct bft_log *lg, const struct bft_msg *m,
				const struct bft_bytes *req, const uint8_t **pk)
{
	const struct pend *p = pending_find(lg, m->sender, m->u.request.reqid);

	*pk = NULL;
	if (p != NULL && p->len == req->len && memcmp(p->bytes, req->p, p->len) == 0)
		return BFT_OK;
	*pk = bft_log_request_pk(lg, m);
	return *pk == NULL && m->sender == lg->registrar ? BFT_EMALFORMED : BFT_OK;
}

static enum bft_err check_requests(const struct bft_log *lg, const struct bft_bytes *reqs,
				   uint32_t n, enum bft_check_auth how,
				   struct bft_log_session_stats *st)
{
	struct req_key {
		bft_client_id client;
		uint64_t reqid;
	} *seen;
	enum bft_err e = BFT_OK;

	if (n > lg->cfg.limits.batch_max)
		return BFT_ETOOBIG;
	/* Each request is decoded once; the duplicate check compares the (client, reqid) pairs
	 * of the earlier ones (it decoded every earlier request again: quadratic in decodes). */
	seen = malloc(sizeof(*seen) * (n ? n : 1));
	if (seen == NULL)
		return BFT_ENOMEM;
	for (uint32_t i = 0; i < n && e == BFT_OK; i++) {
		struct bft_msg m;
		const uint8_t *pk;

		e = wire_decode(&lg->cfg.limits, reqs[i].p, reqs[i].len, &m);
		if (e != BFT_OK) {
			e = e == BFT_ESENDER ? BFT_ESENDER : BFT_EMALFORMED;
			break;
		}
		if (m.type != BFT_MSG_REQUEST) {
			wire_msg_free(&m);
			e = BFT_EMALFORMED;
			break;
		}
		e = request_key(lg, &m, &reqs[i], &pk);
		if (e == BFT_OK && pk != NULL && how != BFT_CHECK_CERTIFIED)
			e = auth_request(lg, &m, pk, how, st);
		for (uint32_t j = 0; j < i && e == BFT_OK; j++)
			if (seen[j].client == m.sender && seen[j].reqid == m.u.request.reqid)
				e = BFT_EDUP;
		seen[i] = (struct req_key){.client = m.sender, .reqid = m.u.request.reqid};
		wire_msg_free(&m);
	}
	free(seen);
	return e;
}

enum bft_err bft_log_precheck(const struct bft_log *lg, const struct bft_msg *req,
			      bool *need_sig)
{
	const uint8_t *pk;
	enum bft_err e;

	*need_sig = false;
	if (req->type != BFT_MSG_REQUEST)
		return BFT_EMALFORMED;
	e = request_key(lg, req, &req->frame, &pk);
	*need_sig = e == BFT_OK && pk != NULL;
	return e;
}

enum bft_err bft_log_check_batch(const struct bft_log *lg, const struct bft_bytes *reqs,
				 uint32_t n)
{
	/* Honey Badger decides validity at every replica on its own after decryption, so it must
	 * decide on what every replica can check alike: the signature, never a MAC. */
	return check_requests(lg, reqs, n, BFT_CHECK_SIGNATURE, NULL);
}

enum bft_err bft_log_check_requests(struct bft_log *lg, const struct bft_bytes *reqs, uint32_t n,
				    enum bft_check_auth how)
{
	return check_requests(lg, reqs, n, how, &lg->sst);
}

/* ---------------------------------------------------------------------------------------- */
/* MAC sessions (log.h) */

const uint8_t *bft_log_client_pk(const struct bft_log *lg, bft_client_id c)
{
	if (c >= lg->cfg.limits.n_clients || c == lg->registrar || !client_known(lg, c))
		return NULL;
	return lg->pks[c];
}

enum bft_err bft_log_session_check(const struct bft_log *lg, const struct bft_msg *m)
{
	const uint8_t *pk;

	if (m->type != BFT_MSG_SESSION)
		return BFT_ETYPE;
	pk = bft_log_client_pk(lg, m->sender);
	if (pk == NULL)
		return BFT_ESENDER;
	if (m->u.session.boxes.len != lg->cfg.n * BFT_SESSION_BOX_BYTES)
		return BFT_EFIELD;
	/* The cheap test first: a replayed SESSION costs a comparison, not a verification. A
	 * refused one (its box did not open) counts too, or its replays would cost the whole
	 * check and a box opening every time. */
	if (m->u.session.session <= lg->sess[m->sender] ||
	    m->u.session.session <= lg->sess_seen[m->sender])
		return BFT_ESTALE;
	return wire_verify(m, pk);
}

void bft_log_session_refused(struct bft_log *lg, bft_client_id client, uint64_t session)
{
	if (client < lg->cfg.limits.n_clients && session > lg->sess_seen[client])
		lg->sess_seen[client] = session;
}

enum bft_err bft_log_session_install(struct bft_log *lg, bft_client_id client, uint64_t session,
				     const uint8_t key[BFT_SESSION_KEY_BYTES])
{
	struct cr_secret *b;

	if (bft_log_client_pk(lg, client) == NULL)
		return BFT_ESENDER;
	if (session <= lg->sess[client])
		return BFT_ESTALE;
	b = &lg->sess_keys[client / SESS_BLOCK];
	if (b->p == NULL && cr_secret_alloc(b, SESS_BLOCK * BFT_SESSION_KEY_BYTES) != 0)
		return BFT_ENOMEM;
	memcpy(b->p + (size_t)(client % SESS_BLOCK) * BFT_SESSION_KEY_BYTES, key,
	       BFT_SESSION_KEY_BYTES);
	lg->sess[client] = session;
	if (session > lg->sess_seen[client])
		lg->sess_seen[client] = session;
	lg->sst.installed++;
	return BFT_OK;
}

uint64_t bft_log_session(const struct bft_log *lg, bft_client_id client)
{
	return client < lg->cfg.limits.n_clients ? lg->sess[client] : 0;
}

void bft_log_session_stats(const struct bft_log *lg, struct bft_log_session_stats *st)
{
	*st = lg->sst;
}

/* ---------------------------------------------------------------------------------------- */
/* Snapshots: [magic "BFTS", version u32, count u32, count client entries, app length u64, app]
 * With open clients, version 2 puts the registered keys first: after the version,
 * [registered u32, registered x key(32)] in id order, then the rest as in version 1.
 * client entry: [id u64, last u64, mask u64, ncached u32, ncached x (reqid u64, len u32, bytes)]
 * Entries appear in increasing client id and only for clients that executed something, cached
 * results in increasing request id, so equal states serialize to equal bytes. */

#define SNAP_MAGIC 0x53544642u /* "BFTS" little-endian */
#define SNAP_VERSION 1u
#define SNAP_VERSION_OPEN 2u

static enum bft_err snapshot_take(struct bft_log *lg, struct wire_buf *b)
{
	uint32_t count = 0;
	enum bft_err e = BFT_OK;
	size_t app_len_at;

	for (uint64_t c = 0; c < lg->cfg.limits.n_clients; c++)
		if (lg->clients[c].last > 0)
			count++;
	e = buf_u32(b, SNAP_MAGIC);
	if (e == BFT_OK)
		e = buf_u32(b, lg->cfg.open_clients > 0 ? SNAP_VERSION_OPEN : SNAP_VERSION);
	if (e == BFT_OK && lg->cfg.open_clients > 0) {
		e = buf_u32(b, lg->n_open);
		if (e == BFT_OK && lg->n_open > 0)
			e = wire_buf_append(b, lg->pks[lg->n_static],
					    (size_t)lg->n_open * CR_PK_BYTES);
	}
	if (e == BFT_OK)
		e = buf_u32(b, count);
	for (uint64_t c = 0; c < lg->cfg.limits.n_clients && e == BFT_OK; c++) {
		const struct client_state *cs = &lg->clients[c];
		const struct cached_result *order[RESULT_CACHE];
		uint32_t k = 0;

		if (cs->last == 0)
			continue;
		/* Only results the exactly-once window still covers are state; sort them. */
		for (uint32_t i = 0; i < RESULT_CACHE; i++) {
			const struct cached_result *r = &cs->cache[i];
			if (r->result == NULL || r->reqid == 0 || r->reqid > cs->last ||
			    cs->last - r->reqid >= RESULT_CACHE)
				continue;
			uint32_t j = k++;
			while (j > 0 && order[j - 1]->reqid > r->reqid) {
				order[j] = order[j - 1];
				j--;
			}
			order[j] = r;
		}
		e = buf_u64(b, c);
		if (e == BFT_OK)
			e = buf_u64(b, cs->last);
		if (e == BFT_OK)
			e = buf_u64(b, cs->mask);
		if (e == BFT_OK)
			e = buf_u32(b, k);
		for (uint32_t i = 0; i < k && e == BFT_OK; i++) {
			e = buf_u64(b, order[i]->reqid);
			if (e == BFT_OK)
				e = buf_u32(b, order[i]->len);
			if (e == BFT_OK)
				e = wire_buf_append(b, order[i]->result, order[i]->len);
		}
	}
	if (e != BFT_OK)
		return e;
	app_len_at = b->len;
	e = buf_u64(b, 0);
	if (e == BFT_OK)
		e = lg->cfg.app.snapshot(lg->cfg.app.ctx, b);
	if (e == BFT_OK)
		put_u64(b->p + app_len_at, b->len - app_len_at - 8);
	return e;
}

/* Parses a snapshot into a fresh client table, then restores the application. The table is
 * replaced only if both parse, so a bad snapshot leaves the state untouched. */
static enum bft_err snapshot_install(struct bft_log *lg, const uint8_t *p, size_t len)
{
	struct rd r = {.p = p, .len = len};
	struct client_state *nt;
	uint64_t nclients = lg->cfg.limits.n_clients;
	uint32_t count, n_open = 0;
	uint64_t prev = 0, app_len;
	const uint8_t *app, *open_pks = NULL;
	enum bft_err e = BFT_EMALFORMED;

	if (rd_u32(&r) != SNAP_MAGIC ||
	    rd_u32(&r) != (lg->cfg.open_clients > 0 ? SNAP_VERSION_OPEN : SNAP_VERSION))
		return BFT_EMALFORMED;
	if (lg->cfg.open_clients > 0) {
		n_open = rd_u32(&r);
		if (r.bad || n_open > lg->cfg.open_clients)
			return BFT_EMALFORMED;
		open_pks = rd_take(&r, (size_t)n_open * CR_PK_BYTES);
	}
	count = rd_u32(&r);
	if (r.bad || count > nclients)
		return BFT_EMALFORMED;
	nt = calloc(nclients ? nclients : 1, sizeof(*nt));
	if (nt == NULL)
		return BFT_ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t id = rd_u64(&r);
		struct client_state *cs;
		uint32_t k;

		if (r.bad || id >= nclients || (i > 0 && id <= prev) ||
		    (id >= lg->n_static && id - lg->n_static >= n_open))
			goto fail;
		prev = id;
		cs = &nt[id];
		cs->last = rd_u64(&r);
		cs->mask = rd_u64(&r);
		k = rd_u32(&r);
		if (r.bad || cs->last == 0 || k > RESULT_CACHE)
			goto fail;
		for (uint32_t j = 0; j < k; j++) {
			uint64_t reqid = rd_u64(&r);
			uint32_t rlen = rd_u32(&r);
			const uint8_t *res = rd_take(&r, rlen);
			struct cached_result *slot;

			if (r.bad || reqid == 0 || reqid > cs->last || rlen > lg->cfg.limits.result_max)
				goto fail;
			slot = &cs->cache[reqid % RESULT_CACHE];
			if (slot->result != NULL)
				goto fail;
			slot->result = malloc(rlen ? rlen : 1);
			if (slot->result == NULL) {
				e = BFT_ENOMEM;
				goto fail;
			}
			memcpy(slot->result, res, rlen);
			slot->len = rlen;
			slot->reqid = reqid;
		}
	}
	app_len = rd_u64(&r);
	app = rd_take(&r, app_len);
	if (r.bad || r.off != r.len)
		goto fail;
	e = lg->cfg.app.restore(lg->cfg.app.ctx, app, app_len);
	if (e != BFT_OK)
		goto fail;
	/* Swap tables, keeping the queued requests' per-client lists. */
	for (uint64_t c = 0; c < nclients; c++) {
		nt[c].pending = lg->clients[c].pending;
		nt[c].npending = lg->clients[c].npending;
		for (uint32_t i = 0; i < RESULT_CACHE; i++)
			free(lg->clients[c].cache[i].result);
	}
	free(lg->clients);
	lg->clients = nt;
	if (lg->cfg.open_clients > 0) {
		memset(lg->pks[lg->n_static], 0, (size_t)lg->cfg.open_clients * CR_PK_BYTES);
		if (n_open > 0)
			memcpy(lg->pks[lg->n_static], open_pks, (size_t)n_open * CR_PK_BYTES);
		lg->n_open = n_open;
		pk_index_rebuild(lg);
	}
	/* Requests the installed state already executed leave the queue. */
	for (struct pend *q = lg->head, *next; q != NULL; q = next) {
		next = q->next;
		if (already_executed(&lg->clients[q->client], q->reqid))
			pending_remove(lg, q);
	}
	return BFT_OK;
fail:
	for (uint64_t c = 0; c < nclients; c++)
		for (uint32_t i = 0; i < RESULT_CACHE; i++)
			free(nt[c].cache[i].result);
	free(nt);
	return e;
}

/* Chunk size for a snapshot of len bytes: the configured size, grown when the state would need
 * more chunks than a Merkle tree holds. Every replica computes the same value. */
static uint32_t chunk_size(const struct bft_log *lg, size_t len)
{
	uint64_t c = lg->cfg.state_chunk_bytes;

	if (len > c * CR_MERKLE_LEAVES_MAX)
		c = (len + CR_MERKLE_LEAVES_MAX - 1) / CR_MERKLE_LEAVES_MAX;
	return (uint32_t)c;
}

/* Builds the chunk tree of a snapshot; the root is the checkpoint's state digest. */
static enum bft_err snapshot_tree(const struct bft_log *lg, const uint8_t *snap, size_t len,
				  struct cr_merkle *tree, uint32_t *chunk_out, uint32_t *n_out)
{
	uint32_t chunk = chunk_size(lg, len);
	uint32_t n = len == 0 ? 1 : (uint32_t)((len + chunk - 1) / chunk);
	struct cr_bytes_view *leaves;
	int rc;

	if (n > CR_MERKLE_LEAVES_MAX)
		return BFT_ETOOBIG;
	leaves = calloc(n, sizeof(*leaves));
	if (leaves == NULL)
		return BFT_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		size_t off = (size_t)i * chunk;
		leaves[i].p = snap + off;
		leaves[i].len = len - off < chunk ? len - off : chunk;
	}
	rc = cr_merkle_build(tree, leaves, n);
	free(leaves);
	if (rc != 0)
		return BFT_ENOMEM;
	*chunk_out = chunk;
	*n_out = n;
	return BFT_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Checkpoint bookkeeping */

static struct own_ckpt *own_find(struct bft_log *lg, bft_seq seq)
{
	for (uint32_t i = 0; i < lg->nown; i++)
		if (lg->own[i].seq == seq && seq != 0)
			return &lg->own[i];
	return NULL;
}

/* A slot for a new own checkpoint: an empty one, else the oldest. */
static struct own_ckpt *own_slot(struct bft_log *lg)
{
	struct own_ckpt *best = &lg->own[0];

	for (uint32_t i = 0; i < lg->nown; i++) {
		if (lg->own[i].seq == 0)
			return &lg->own[i];
		if (lg->own[i].seq < best->seq)
			best = &lg->own[i];
	}
	own_clear(best);
	return best;
}

static enum bft_err record_vote(struct bft_log *lg, bft_seq seq, bft_replica_id r,
				const uint8_t digest[CR_DIGEST_BYTES], const struct bft_bytes *env)
{
	uint32_t mine = 0, lowest = UINT32_MAX;
	uint32_t cap = lg->cfg.window / lg->cfg.checkpoint_interval + VOTES_PER_REPLICA_EXTRA;
	struct vote *v;

	for (uint32_t i = 0; i < lg->nvotes; i++) {
		if (lg->votes[i].replica != r)
			continue;
		if (lg->votes[i].seq == seq) {
			if (!cr_equal(lg->votes[i].digest, digest, CR_DIGEST_BYTES))
				return BFT_ECONFLICT;
			return BFT_EDUP;
		}
		mine++;
		if (lowest == UINT32_MAX || lg->votes[i].seq < lg->votes[lowest].seq)
			lowest = i;
	}
	/* Bound what one replica can make us hold: past its quota its lowest vote is replaced
	 * (a correct replica's votes only move up). */
	if (mine >= cap) {
		if (lg->votes[lowest].seq > seq)
			return BFT_ESEQ;
		free(lg->votes[lowest].env);
		lg->votes[lowest] = lg->votes[--lg->nvotes];
	}
	if (lg->nvotes == lg->votes_cap) {
		uint32_t ncap = lg->votes_cap ? lg->votes_cap * 2 : 32;
		struct vote *nv = realloc(lg->votes, ncap * sizeof(*nv));
		if (nv == NULL)
			return BFT_ENOMEM;
		lg->votes = nv;
		lg->votes_cap = ncap;
	}
	v = &lg->votes[lg->nvotes];
	v->env = malloc(env->len);
	if (v->env == NULL)
		return BFT_ENOMEM;
	memcpy(v->env, env->p, env->len);
	v->env_len = env->len;
	v->seq = seq;
	v->replica = r;
	memcpy(v->digest, digest, CR_DIGEST_BYTES);
	lg->nvotes++;
	return BFT_OK;
}

static enum bft_err emit_checkpoint_record(struct bft_log *lg, struct bft_out *out);

/* Makes (seq, digest) with proof the stable checkpoint: PBFT §4.3 garbage collection. The proof
 * entries are copied. */
static enum bft_err make_stable(struct bft_log *lg, bft_seq seq, const uint8_t digest[CR_DIGEST_BYTES],
				const struct bft_bytes *proof, uint32_t nproof, struct bft_out *out)
{
	struct bft_bytes *np;
	uint32_t keep = 0;

	BFT_ASSERT(seq > lg->stable);
	np = calloc(nproof, sizeof(*np));
	if (np == NULL)
		return BFT_ENOMEM;
	for (uint32_t i = 0; i < nproof; i++) {
		uint8_t *c = malloc(proof[i].len);
		if (c == NULL) {
			proof_free(np, i);
			return BFT_ENOMEM;
		}
		memcpy(c, proof[i].p, proof[i].len);
		np[i] = (struct bft_bytes){.p = c, .len = proof[i].len};
	}
	proof_free(lg->proof, lg->nproof);
	lg->proof = np;
	lg->nproof = nproof;
	lg->stable = seq;
	memcpy(lg->stable_digest, digest, CR_DIGEST_BYTES);

	/* Votes at or below the stable checkpoint are of no further use. */
	for (uint32_t i = 0; i < lg->nvotes; i++) {
		if (lg->votes[i].seq <= seq)
			free(lg->votes[i].env);
		else
			lg->votes[keep++] = lg->votes[i];
	}
	lg->nvotes = keep;
	/* So are the commit records at or below it (a new segment starts after it). */
	for (uint32_t i = 0; i < lg->cfg.window; i++)
		if (lg->kept[i].seq != 0 && lg->kept[i].seq <= seq) {
			free(lg->kept[i].rec);
			lg->kept[i] = (struct kept_commit){0};
		}
	/* Our own snapshots below it are no longer needed by anyone. */
	for (uint32_t i = 0; i < lg->nown; i++)
		if (lg->own[i].seq != 0 && lg->own[i].seq < seq)
			own_clear(&lg->own[i]);

	if (seq > lg->last_executed) {
		/* Proven state we do not have: fetch it (PBFT TOCS §6.2). */
		if (!lg->behind || seq > lg->behind_seq) {
			lg->behind = true;
			lg->behind_seq = seq;
			memcpy(lg->behind_digest, digest, CR_DIGEST_BYTES);
		}
		return BFT_OK;
	}
	/* If our own checkpoint at seq disagrees with the 2f+1 digest, our state diverged, which
	 * only a fault of ours (a corrupt disk, a bug) can cause: we cannot roll back executed
	 * batches, so we say so in the status and keep serving nothing from that state. */
	struct own_ckpt *o = own_find(lg, seq);
	if (o != NULL && !cr_equal(cr_merkle_root(&o->tree), digest, CR_DIGEST_BYTES)) {
		lg->diverged++;
		own_clear(o);
		return BFT_OK;
	}
	return emit_checkpoint_record(lg, out);
}

/* BFT_REC_CHECKPOINT: [seq u64, digest 32, nproof u32, (len u32, envelope)..., snapshot length
 * u64, snapshot]. With it and the commits above it, a restarted replica recovers. */
static enum bft_err emit_checkpoint_record(struct bft_log *lg, struct bft_out *out)
{
	struct own_ckpt *o = own_find(lg, lg->stable);
	struct wire_buf b = {0};
	enum bft_err e;

	if (o == NULL)
		return BFT_OK;
	e = buf_u64(&b, lg->stable);
	if (e == BFT_OK)
		e = wire_buf_append(&b, lg->stable_digest, CR_DIGEST_BYTES);
	if (e == BFT_OK)
		e = buf_u32(&b, lg->nproof);
	for (uint32_t i = 0; i < lg->nproof && e == BFT_OK; i++) {
		e = buf_u32(&b, lg->proof[i].len);
		if (e == BFT_OK)
			e = wire_buf_append(&b, lg->proof[i].p, lg->proof[i].len);
	}
	if (e == BFT_OK)
		e = buf_u64(&b, o->snap_len);
	if (e == BFT_OK)
		e = wire_buf_append(&b, o->snap, o->snap_len);
	if (e != BFT_OK) {
		wire_buf_free(&b);
		return e;
	}
	e = bft_out_record(out, BFT_REC_CHECKPOINT, lg->stable, b.p, b.len);
	/* The node starts a new log segment at this record and drops the older ones, which may
	 * hold batches executed above the checkpoint already: they follow it again. Without them
	 * a restart would find the first of the later commit records after a gap. */
	for (bft_seq s = lg->stable + 1; e == BFT_OK && s <= lg->last_executed; s++) {
		const struct kept_commit *k = &lg->kept[s % lg->cfg.window];
		uint8_t *c;
		if (k->seq != s)
			return BFT_ESTATE; /* every execution keeps its record: cannot happen */
		c = malloc(k->len);
		if (c == NULL)
			return BFT_ENOMEM;
		memcpy(c, k->rec, k->len);
		e = bft_out_record(out, BFT_REC_COMMIT, s, c, k->len);
	}
	return e;
}

/* Counts votes for seq matching digest and, at 2f+1, makes it stable. */
static enum bft_err try_stable(struct bft_log *lg, bft_seq seq, const uint8_t digest[CR_DIGEST_BYTES],
			       struct bft_out *out)
{
	struct bft_bytes proof[64];
	uint32_t k = 0, q = bft_quorum(lg->cfg.n);
	struct bft_bytes *big = NULL, *pv = proof;

	if (seq <= lg->stable)
		return BFT_OK;
	if (q > 64) {
		big = calloc(q, sizeof(*big));
		if (big == NULL)
			return BFT_ENOMEM;
		pv = big;
	}
	for (uint32_t i = 0; i < lg->nvotes && k < q; i++)
		if (lg->votes[i].seq == seq && cr_equal(lg->votes[i].digest, digest, CR_DIGEST_BYTES))
			pv[k++] = (struct bft_bytes){.p = lg->votes[i].env, .len = lg->votes[i].env_len};
	enum bft_err e = BFT_OK;
	if (k >= q)
		e = make_stable(lg, seq, digest, pv, k, out);
	free(big);
	return e;
}

enum bft_err bft_log_on_checkpoint(struct bft_log *lg, const struct bft_msg *m,
				   struct bft_out *out)
{
	const struct bft_checkpoint *c = &m->u.checkpoint;
	enum bft_err e;

	if (m->type != BFT_MSG_CHECKPOINT || m->sender >= lg->cfg.n)
		return BFT_ESENDER;
	if (c->seq <= lg->stable)
		return BFT_ESTALE;
	if (c->seq % lg->cfg.checkpoint_interval != 0)
		return BFT_ESEQ;
	e = record_vote(lg, c->seq, (bft_replica_id)m->sender, c->digest, &m->frame);
	if (e != BFT_OK)
		return e;
	return try_stable(lg, c->seq, c->digest, out);
}

void bft_log_stable(const struct bft_log *lg, bft_seq *seq, uint8_t digest[CR_DIGEST_BYTES],
		    const struct bft_bytes **proof, uint32_t *nproof)
{
	*seq = lg->stable;
	memcpy(digest, lg->stable_digest, CR_DIGEST_BYTES);
	*proof = lg->proof;
	*nproof = lg->nproof;
}

enum bft_err bft_log_check_proof(const struct bft_log *lg, bft_seq seq,
				 const uint8_t digest[CR_DIGEST_BYTES],
				 const struct bft_bytes *proof, uint32_t nproof)
{
	uint64_t seen[4] = {0}; /* a bitmap of senders (n <= 256) */
	uint32_t distinct = 0;

	if (seq == 0) {
		/* The initial state needs no proof: every replica starts from it. */
		return nproof == 0 ? BFT_OK : BFT_EBADCERT;
	}
	if (lg->cfg.n > 256 || nproof < bft_quorum(lg->cfg.n) || nproof > lg->cfg.n)
		return BFT_EBADCERT;
	for (uint32_t i = 0; i < nproof; i++) {
		struct bft_msg m;
		enum bft_err e = wire_decode(&lg->cfg.limits, proof[i].p, proof[i].len, &m);

		if (e != BFT_OK)
			return BFT_EBADCERT;
		e = BFT_OK;
		if (m.type != BFT_MSG_CHECKPOINT || m.u.checkpoint.seq != seq ||
		    !cr_equal(m.u.checkpoint.digest, digest, CR_DIGEST_BYTES) ||
		    (seen[m.sender / 64] >> (m.sender % 64)) & 1u)
			e = BFT_EBADCERT;
		else if (wire_verify(&m, lg->cfg.replica_pks[m.sender]) != BFT_OK)
			e = BFT_EBADCERT;
		if (e == BFT_OK) {
			seen[m.sender / 64] |= (uint64_t)1 << (m.sender % 64);
			distinct++;
		}
		wire_msg_free(&m);
		if (e != BFT_OK)
			return e;
	}
	return distinct >= bft_quorum(lg->cfg.n) ? BFT_OK : BFT_EBADCERT;
}

enum bft_err bft_log_adopt_stable(struct bft_log *lg, bft_seq seq,
				  const uint8_t digest[CR_DIGEST_BYTES],
				  const struct bft_bytes *proof, uint32_t nproof,
				  struct bft_out *out)
{
	enum bft_err e;

	if (seq <= lg->stable)
		return BFT_OK;
	e = bft_log_check_proof(lg, seq, digest, proof, nproof);
	if (e != BFT_OK)
		return e;
	return make_stable(lg, seq, digest, proof, nproof, out);
}

/* ---------------------------------------------------------------------------------------- */
/* Execution */

static enum bft_err emit_commit_record(struct bft_log *lg, bft_seq seq, bft_view view,
				       uint64_t time_ms, const uint8_t digest[CR_DIGEST_BYTES],
				       const struct bft_bytes *reqs, uint32_t n, struct bft_out *out)
{
	/* The record is a PRE-PREPARE-shaped envelope (unsigned): the codec already knows how to
	 * write and strictly read it back at recovery. */
	struct bft_msg m = {.version = BFT_WIRE_VERSION, .type = BFT_MSG_PREPREPARE,
			    .sender = lg->cfg.self};
	struct wire_buf b = {0};
	enum bft_err e;

	m.u.preprepare.view = view;
	m.u.preprepare.seq = seq;
	memcpy(m.u.preprepare.digest, digest, CR_DIGEST_BYTES);
	m.u.preprepare.time_ms = time_ms;
	m.u.preprepare.requests = (struct bft_bytes *)(uintptr_t)reqs;
	m.u.preprepare.nrequests = n;
	e = wire_encode(&m, NULL, &b);
	if (e != BFT_OK) {
		wire_buf_free(&b);
		return e;
	}
	struct kept_commit *k = &lg->kept[seq % lg->cfg.window];
	uint8_t *c = malloc(b.len);
	if (c == NULL) {
		wire_buf_free(&b);
		return BFT_ENOMEM;
	}
	memcpy(c, b.p, b.len);
	free(k->rec);
	*k = (struct kept_commit){.seq = seq, .rec = c, .len = b.len};
	return bft_out_record(out, BFT_REC_COMMIT, seq, b.p, b.len);
}

static enum bft_err take_checkpoint(struct bft_log *lg, bft_seq seq, struct bft_out *out)
{
	struct own_ckpt *o = own_slot(lg);
	struct wire_buf b = {0};
	struct bft_msg m = {.type = BFT_MSG_CHECKPOINT};
	struct wire_buf env = {0};
	enum bft_err e;

	e = snapshot_take(lg, &b);
	if (e == BFT_OK)
		e = snapshot_tree(lg, b.p, b.len, &o->tree, &o->chunk, &o->nchunks);
	if (e != BFT_OK) {
		wire_buf_free(&b);
		return e;
	}
	o->seq = seq;
	o->snap = b.p;
	o->snap_len = b.len;

	/* PBFT §4.3: sign <CHECKPOINT, n, d, i> and multicast it; our own vote counts too. */
	m.version = BFT_WIRE_VERSION;
	m.sender = lg->cfg.self;
	m.u.checkpoint.seq = seq;
	memcpy(m.u.checkpoint.digest, cr_merkle_root(&o->tree), CR_DIGEST_BYTES);
	e = wire_encode(&m, lg->cfg.id, &env);
	if (e != BFT_OK) {
		wire_buf_free(&env);
		return e;
	}
	struct bft_bytes eb = {.p = env.p, .len = (uint32_t)env.len};
	e = record_vote(lg, seq, lg->cfg.self, m.u.checkpoint.digest, &eb);
	if (e == BFT_OK || e == BFT_EDUP)
		e = bft_out_msg(out, BFT_TO_ALL, 0, BFT_MSG_CHECKPOINT, env.p, env.len);
	else
		wire_buf_free(&env);
	if (e != BFT_OK)
		return e;
	/* Catching up by ordinary execution reached the state we were about to fetch. */
	if (lg->behind && lg->behind_seq == seq &&
	    cr_equal(lg->behind_digest, m.u.checkpoint.digest, CR_DIGEST_BYTES)) {
		lg->behind = false;
		xfer_clear(&lg->xfer);
	}
	return try_stable(lg, seq, m.u.checkpoint.digest, out);
}

enum bft_err bft_log_execute(struct bft_log *lg, bft_seq seq, bft_view view, uint64_t time_ms,
			     const struct bft_bytes *reqs, uint32_t n, struct bft_out *out)
{
	uint8_t digest[CR_DIGEST_BYTES];
	struct wire_buf result = {0};
	enum bft_err e;
	bool local;

	if (seq != lg->last_executed + 1)
		return BFT_ESTATE;
	bft_batch_digest(time_ms, reqs, n, digest);
	/* Persist the batch before any reply that depends on it leaves (engine.h order). */
	e = emit_commit_record(lg, seq, view, time_ms, digest, reqs, n, out);
	if (e != BFT_OK)
		return e;
	for (uint32_t i = 0; i < n; i++) {
		struct bft_msg m;
		struct client_state *cs;
		struct cached_result *slot;
		struct pend *p;

		if (wire_decode(&lg->cfg.limits, reqs[i].p, reqs[i].len, &m) != BFT_OK ||
		    m.type != BFT_MSG_REQUEST) {
			/* The engine checked the batch before agreeing on it; a request that no longer
			 * decodes means our own memory is corrupt. */
			BFT_ASSERT(!"committed request does not decode");
		}
		cs = &lg->clients[m.sender];
		p = pending_find(lg, m.sender, m.u.request.reqid);
		local = p != NULL && p->len == reqs[i].len && memcmp(p->bytes, reqs[i].p, p->len) == 0;
		if (p != NULL)
			pending_remove(lg, p);
		if (m.sender == lg->registrar) {
			e = execute_registration(lg, &m, view, out);
			wire_msg_free(&m);
			if (e != BFT_OK)
				break;
			continue;
		}
		/* An open client's signature is not checked at validation while its slot has no
		 * key yet; every replica decides it here, on the same registrations (log.h). A
		 * request we queued ourselves was checked against the registered key on arrival. */
		if (client_open(lg, m.sender) &&
		    (!client_known(lg, m.sender) ||
		     (!local && wire_verify(&m, lg->pks[m.sender]) != BFT_OK))) {
			wire_msg_free(&m);
			continue;
		}
		if (already_executed(cs, m.u.request.reqid)) {
			wire_msg_free(&m);
			continue;
		}
		result.len = 0;
		lg->cfg.app.execute(lg->cfg.app.ctx, m.sender, &m.u.request.op, time_ms, &result);
		if (result.len > lg->cfg.limits.result_max)
			result.len = lg->cfg.limits.result_max;
		mark_executed(cs, m.u.request.reqid);
		slot = &cs->cache[m.u.request.reqid % RESULT_CACHE];
		free(slot->result);
		slot->result = malloc(result.len ? result.len : 1);
		slot->reqid = slot->result ? m.u.request.reqid : 0;
		slot->len = slot->result ? (uint32_t)result.len : 0;
		if (slot->result != NULL && result.len > 0)
			memcpy(slot->result, result.p, result.len);
		e = send_reply(lg, m.sender, m.u.request.reqid, view, result.p, (uint32_t)result.len,
			       req_session(&m), out);
		wire_msg_free(&m);
		if (e != BFT_OK)
			break;
	}
	wire_buf_free(&result);
	if (e != BFT_OK)
		return e;
	lg->last_executed = seq;
	e = bft_out_committed(out, seq, n, time_ms, digest);
	if (e == BFT_OK && seq % lg->cfg.checkpoint_interval == 0)
		e = take_checkpoint(lg, seq, out);
	return e;
}

bft_seq bft_log_last_executed(const struct bft_log *lg)
{
	return lg->last_executed;
}

enum bft_err bft_log_resend_checkpoints(const struct bft_log *lg, struct bft_out *out)
{
	enum bft_err e = BFT_OK;

	for (uint32_t i = 0; i < lg->nvotes && e == BFT_OK; i++)
		if (lg->votes[i].replica == lg->cfg.self && lg->votes[i].seq > lg->stable)
			e = bft_out_msg_copy(out, BFT_TO_ALL, 0, BFT_MSG_CHECKPOINT, lg->votes[i].env,
					     lg->votes[i].env_len);
	return e;
}

bft_seq bft_log_low(const struct bft_log *lg)
{
	return lg->stable;
}

bft_seq bft_log_high(const struct bft_log *lg)
{
	return lg->stable + lg->cfg.window;
}

bool bft_log_in_window(const struct bft_log *lg, bft_seq seq)
{
	return seq > lg->stable && seq <= lg->stable + lg->cfg.window;
}

/* ---------------------------------------------------------------------------------------- */
/* State transfer */

uint64_t bft_log_diverged(const struct bft_log *lg)
{
	return lg->diverged;
}

bool bft_log_behind(const struct bft_log *lg, bft_seq *seq)
{
	if (!lg->behind)
		return false;
	*seq = lg->behind_seq;
	return true;
}

enum bft_err bft_log_serve_chunk(struct bft_log *lg, bft_replica_id to, bft_seq seq,
				 uint32_t index, struct bft_out *out)
{
	struct own_ckpt *o = own_find(lg, seq);
	uint8_t branch[CR_MERKLE_BRANCH_MAX][CR_DIGEST_BYTES];
	struct bft_bytes bb[CR_MERKLE_BRANCH_MAX];
	uint32_t nb;
	struct bft_msg m = {.type = BFT_MSG_STATE};
	size_t off, len;

	/* Serve only states that are stable: 2f+1 replicas vouch for them, so the requester can
	 * check every chunk against the proof. */
	if (o == NULL || seq != lg->stable || to >= lg->cfg.n)
		return BFT_ESTALE;
	if (index >= o->nchunks)
		return BFT_EINVAL;
	if (cr_merkle_branch(&o->tree, index, branch, CR_MERKLE_BRANCH_MAX, &nb) != 0)
		return BFT_EINVAL;
	for (uint32_t i = 0; i < nb; i++)
		bb[i] = (struct bft_bytes){.p = branch[i], .len = CR_DIGEST_BYTES};
	off = (size_t)index * o->chunk;
	len = o->snap_len - off < o->chunk ? o->snap_len - off : o->chunk;
	m.u.state.seq = seq;
	m.u.state.index = index;
	m.u.state.nchunks = o->nchunks;
	m.u.state.data = (struct bft_bytes){.p = o->snap + off, .len = (uint32_t)len};
	m.u.state.branch = bb;
	m.u.state.nbranch = nb;
	return send_msg(lg, &m, BFT_TO_REPLICA, to, out);
}

enum bft_err bft_log_on_chunk(struct bft_log *lg, const struct bft_msg *m, struct bft_out *out,
			      bool *done)
{
	const struct bft_state_chunk *c = &m->u.state;
	struct transfer *x = &lg->xfer;
	uint8_t branch[CR_MERKLE_BRANCH_MAX][CR_DIGEST_BYTES];
	uint8_t *snap;
	size_t total = 0, off = 0;
	enum bft_err e;

	*done = false;
	if (!lg->behind || c->seq != lg->behind_seq)
		return BFT_ESTALE;
	if (!x->active || x->seq != lg->behind_seq) {
		xfer_clear(x);
		x->active = true;
		x->seq = lg->behind_seq;
		memcpy(x->digest, lg->behind_digest, CR_DIGEST_BYTES);
	}
	if (c->nchunks == 0 || c->nchunks > CR_MERKLE_LEAVES_MAX || c->index >= c->nchunks ||
	    c->nbranch > CR_MERKLE_BRANCH_MAX || (x->nchunks != 0 && c->nchunks != x->nchunks))
		return BFT_EBADCERT;
	for (uint32_t i = 0; i < c->nbranch; i++) {
		if (c->branch[i].len != CR_DIGEST_BYTES)
			return BFT_EBADCERT;
		memcpy(branch[i], c->branch[i].p, CR_DIGEST_BYTES);
	}
	/* Each chunk is checked on arrival against the root the 2f+1 signed checkpoints commit to,
	 * so a faulty peer is caught at its first bad chunk and costs us no memory. */
	if (cr_merkle_verify(x->digest, c->nchunks, c->index, c->data.p, c->data.len,
			     (const uint8_t(*)[CR_DIGEST_BYTES])branch, c->nbranch) != 0)
		return BFT_EBADCERT;
	if (x->nchunks == 0) {
		x->chunks = calloc(c->nchunks, sizeof(*x->chunks));
		x->lens = calloc(c->nchunks, sizeof(*x->lens));
		if (x->chunks == NULL || x->lens == NULL) {
			xfer_clear(x);
			return BFT_ENOMEM;
		}
		x->nchunks = c->nchunks;
	}
	if (x->chunks[c->index] != NULL)
		return BFT_EDUP;
	x->chunks[c->index] = malloc(c->data.len ? c->data.len : 1);
	if (x->chunks[c->index] == NULL)
		return BFT_ENOMEM;
	memcpy(x->chunks[c->index], c->data.p, c->data.len);
	x->lens[c->index] = c->data.len;
	x->have++;
	if (x->have < x->nchunks)
		return BFT_OK;

	for (uint32_t i = 0; i < x->nchunks; i++)
		total += x->lens[i];
	snap = malloc(total ? total : 1);
	if (snap == NULL)
		return BFT_ENOMEM;
	for (uint32_t i = 0; i < x->nchunks; i++) {
		memcpy(snap + off, x->chunks[i], x->lens[i]);
		off += x->lens[i];
	}
	bft_seq seq = x->seq;
	xfer_clear(x);
	e = snapshot_install(lg, snap, total);
	if (e != BFT_OK) {
		/* Every chunk matched a 2f+1-signed root, so correct replicas produced these bytes;
		 * failing to parse them is our bug, not the peer's. Keep the transfer wanted. */
		free(snap);
		return e;
	}
	lg->last_executed = seq;
	lg->behind = false;
	/* Keep the installed state as our own checkpoint so we can serve it in turn. */
	struct own_ckpt *o = own_find(lg, seq);
	if (o != NULL)
		own_clear(o);
	o = own_slot(lg);
	o->seq = seq;
	o->snap = snap;
	o->snap_len = total;
	e = snapshot_tree(lg, snap, total, &o->tree, &o->chunk, &o->nchunks);
	if (e != BFT_OK) {
		own_clear(o);
		return e;
	}
	*done = true;
	if (seq == lg->stable)
		e = emit_checkpoint_record(lg, out);
	return e;
}

int64_t bft_log_next_missing_chunk(const struct bft_log *lg)
{
	const struct transfer *x = &lg->xfer;

	if (!lg->behind)
		return -1;
	if (!x->active || x->seq != lg->behind_seq || x->nchunks == 0)
		return 0;
	for (uint32_t i = 0; i < x->nchunks; i++)
		if (x->chunks[i] == NULL)
			return i;
	return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Recovery */

enum bft_err bft_log_restore_commit(struct bft_log *lg, const uint8_t *p, size_t len)
{
	struct bft_msg m;
	struct bft_out scratch = {0};
	enum bft_err e;

	if (wire_decode(&lg->cfg.limits, p, len, &m) != BFT_OK)
		return BFT_EMALFORMED;
	if (m.type != BFT_MSG_PREPREPARE) {
		wire_msg_free(&m);
		return BFT_EMALFORMED;
	}
	if (m.u.preprepare.seq <= lg->last_executed)
		e = BFT_EDUP;
	else if (m.u.preprepare.seq != lg->last_executed + 1)
		e = BFT_ESTATE;
	else
		/* A committed batch was validated by a quorum before it committed (PBFT §4.2:
		 * committed requests execute unconditionally); a request that a correct replica
		 * accepted by its MAC may carry a bad signature, and our session keys did not
		 * survive the restart, so checking signatures here could refuse our own log. */
		e = bft_log_check_requests(lg, m.u.preprepare.requests, m.u.preprepare.nrequests,
					   BFT_CHECK_CERTIFIED);
	if (e == BFT_OK)
		e = bft_log_execute(lg, m.u.preprepare.seq, m.u.preprepare.view,
				    m.u.preprepare.time_ms, m.u.preprepare.requests,
				    m.u.preprepare.nrequests, &scratch);
	bft_out_free(&scratch);
	wire_msg_free(&m);
	return e;
}

enum bft_err bft_log_restore_checkpoint(struct bft_log *lg, const uint8_t *p, size_t len)
{
	struct rd r = {.p = p, .len = len};
	uint8_t digest[CR_DIGEST_BYTES];
	struct bft_bytes *proof;
	const uint8_t *d, *snap;
	uint32_t nproof;
	uint64_t seq, snap_len;
	struct cr_merkle tree = {0};
	uint32_t chunk, nchunks;
	enum bft_err e;

	seq = rd_u64(&r);
	d = rd_take(&r, CR_DIGEST_BYTES);
	nproof = rd_u32(&r);
	if (r.bad || nproof > lg->cfg.n)
		return BFT_EMALFORMED;
	memcpy(digest, d, CR_DIGEST_BYTES);
	proof = calloc(nproof ? nproof : 1, sizeof(*proof));
	if (proof == NULL)
		return BFT_ENOMEM;
	for (uint32_t i = 0; i < nproof; i++) {
		uint32_t l = rd_u32(&r);
		const uint8_t *b = rd_take(&r, l);
		proof[i] = (struct bft_bytes){.p = b, .len = l};
	}
	snap_len = rd_u64(&r);
	snap = rd_take(&r, snap_len);
	if (r.bad || r.off != r.len) {
		free(proof);
		return BFT_EMALFORMED;
	}
	e = bft_log_check_proof(lg, seq, digest, proof, nproof);
	if (e == BFT_OK)
		e = snapshot_tree(lg, snap, snap_len, &tree, &chunk, &nchunks);
	if (e == BFT_OK && !cr_equal(cr_merkle_root(&tree), digest, CR_DIGEST_BYTES))
		e = BFT_EBADCERT;
	if (e == BFT_OK)
		e = snapshot_install(lg, snap, snap_len);
	if (e == BFT_OK) {
		struct own_ckpt *o = own_slot(lg);
		o->snap = malloc(snap_len ? snap_len : 1);
		if (o->snap == NULL) {
			e = BFT_ENOMEM;
		} else {
			memcpy(o->snap, snap, snap_len);
			o->snap_len = snap_len;
			o->seq = seq;
			o->tree = tree;
			o->chunk = chunk;
			o->nchunks = nchunks;
			memset(&tree, 0, sizeof(tree));
			lg->last_executed = seq;
			if (seq > lg->stable) {
				struct bft_out scratch = {0};
				e = make_stable(lg, seq, digest, proof, nproof, &scratch);
				bft_out_free(&scratch);
			}
		}
	}
	cr_merkle_free(&tree);
	free(proof);
	return e;
}

/* ---------------------------------------------------------------------------------------- */
/* Appended for Honey Badger (log.h) */

bool bft_log_executed(const struct bft_log *lg, bft_client_id client, uint64_t reqid)
{
	if (client >= lg->cfg.limits.n_clients || client == lg->registrar)
		return false;
	return already_executed(&lg->clients[client], reqid);
}

enum bft_err bft_log_peek_meta(const struct bft_log *lg, uint32_t max,
			       struct bft_log_peeked **reqs, uint32_t *n)
{
	struct bft_log_peeked *v = NULL;
	uint32_t k = 0, cap = max < lg->npending ? max : lg->npending;

	if (cap > 0) {
		v = malloc(sizeof(*v) * cap);
		if (v == NULL)
			return BFT_ENOMEM;
	}
	for (const struct pend *p = lg->head; p != NULL && k < cap; p = p->next) {
		if (already_executed(&lg->clients[p->client], p->reqid))
			continue;
		v[k++] = (struct bft_log_peeked){.req = {.p = p->bytes, .len = p->len},
						 .client = p->client, .reqid = p->reqid,
						 .arrival_ms = p->arrival_ms};
	}
	if (k == 0) {
		free(v);
		v = NULL;
	}
	*reqs = v;
	*n = k;
	return BFT_OK;
}
