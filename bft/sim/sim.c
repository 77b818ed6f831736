/*
 * sim: the scheduler, the virtual network and the run loop (sim.h describes the model).
 *
 * Node numbering: replicas are nodes 0..n-1, clients are nodes n..n+nclients-1, and the twins
 * (second instances of a replica's key, sim.h) nodes n+nclients..; a replica *instance* index
 * is 0..n-1 for the replicas and n+k for twin k. An event is a
 * delivery (bytes from one node to another), a timer, or a client's next submission; the queue
 * is a binary heap ordered by (time, insertion counter), which makes equal-time events come
 * out in the order they were scheduled and the whole run a function of the seed.
 */
#include "bft/sim/sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bft/log.h"
#include "crypto/cr_hash.h"

#define TRACE_RING 1024u      /* entries kept for the failure report */
#define TRACE_PRINT 30u       /* entries printed */
#define VCACHE_BITS 14u       /* signature-verification memo: 16384 entries */
#define SIM_RECORD_BYTES_MAX (64u << 20) /* persisted bytes kept per replica */

/* A refcounted byte string: one message sent to all replicas is one allocation. */
struct sim_buf {
	uint32_t refs;
	uint32_t len;
	uint8_t p[];
};

enum ev_kind { EV_DELIVER = 1, EV_TIMER, EV_SUBMIT };

struct sim_event {
	uint64_t at, order;
	uint64_t timer_at;        /* EV_TIMER: the deadline asked for (stale if it changed) */
	uint32_t from, to;
	uint8_t kind;
	struct sim_buf *buf;      /* EV_DELIVER */
};

enum trace_what {
	TR_DELIVER = 1, TR_DROP, TR_CUT, TR_DUP, TR_TIMER, TR_SUBMIT, TR_DONE, TR_BADFRAME,
	TR_BADSIG, TR_COMMIT, TR_CLIENT_TIMER
};

struct trace_entry {
	uint64_t at;
	uint64_t arg;             /* seq (COMMIT), reqid (SUBMIT, DONE), deadline (TIMER) */
	uint64_t m1, m2;          /* a delivered message's view/seq/... (see trace_args) */
	uint32_t m3;
	bool has_m;
	uint32_t from, to, len;
	uint8_t what, type;
	int16_t verdict;          /* step / on_frame result */
};

struct vcache_entry {
	uint8_t key[CR_DIGEST_BYTES];
	uint8_t state;            /* 0 empty, 1 valid, 2 invalid */
};

struct sim_replica {
	void *engine;
	struct cr_identity id;    /* owned; empty for a twin and with shared_keys */
	const struct cr_identity *key; /* the key it signs with: &id, its replica's, or shared */
	struct sim_app *app;
	uint32_t rid;             /* the replica id it runs as */
	bool faulty;
	bool fell_behind;         /* status said "behind" after some step */
	uint64_t timer_at;
	struct bft_record *recs;
	size_t nrecs, recs_cap, rec_bytes;
};

struct sim_pending {
	bool used;
	uint64_t reqid;
	uint32_t counter;
};

struct sim_client {
	struct bft_client *c;
	struct cr_identity id;    /* owned; empty with shared_keys */
	const struct cr_identity *key;
	uint32_t submitted, completed;
	uint64_t timer_at;
	bool submit_scheduled;
	struct sim_pending *pend;
	bool session_started;
};

struct sim {
	struct sim_config cfg;
	struct sim_rng rng;
	struct sim_check *ck;
	uint64_t now, order;
	struct sim_event *heap;
	size_t nheap, heap_cap;
	uint8_t (*replica_pks)[CR_PK_BYTES];
	uint8_t (*client_pks)[CR_PK_BYTES];
	struct wire_limits limits;
	struct sim_replica *rep;  /* n + ntwins instances */
	uint32_t ninst;
	struct sim_client *cli;
	struct bft_out out;
	struct vcache_entry *vcache;
	struct trace_entry trace[TRACE_RING];
	uint64_t ntrace;
	uint32_t clients_done;
	bool catching_up;         /* the clients are done; waiting for replicas to converge */
	struct sim_stats st;
};

/* ------------------------------------------------------------------------------------------ */
/* Configuration. */

/** See sim.h. */
void sim_config_default(struct sim_config *c, const struct sim_engine_ops *engine, uint32_t n)
{
	memset(c, 0, sizeof(*c));
	c->engine = engine;
	c->n = n;
	c->nclients = 3;
	c->requests_per_client = 30;
	c->client_outstanding = 1;
	c->think_max_ms = 5;
	c->readonly_rate = 0.1;
	c->client_retransmit_ms = 200;
	c->client_retransmit_max_ms = 2000;
	c->latency_min_ms = 1;
	c->latency_max_ms = 20;
	c->checkpoint_interval = 8;
	c->window = 32;
	c->batch_max_requests = 8;
	c->batch_delay_ms = 2;
	c->view_timeout_ms = 300;
	c->time_limit_ms = 120000;
	c->max_events = 3000000;
}

/** See sim.h. */
void sim_config_random_faults(struct sim_config *c)
{
	struct sim_rng r;
	uint32_t k;

	sim_rng_seed(&r, sim_seed_derive(c->seed, 'F', 0));
	c->drop_rate = (double)sim_rng_below(&r, 101) / 1000.0;
	c->dup_rate = (double)sim_rng_below(&r, 101) / 1000.0;
	c->delay_rate = (double)sim_rng_below(&r, 51) / 1000.0;
	c->delay_max_ms = (uint32_t)sim_rng_range(&r, 50, 1000);
	c->faults_until_ms = sim_rng_range(&r, 1000, 3000);
	c->partition_mask = 0;
	/* Up to half the replicas are cut off: with n/2 on each side neither side has a quorum,
	 * which must stall progress but never safety, and must recover after the heal. */
	k = c->n >= 2 ? (uint32_t)sim_rng_range(&r, 1, c->n / 2) : 0;
	while (k > 0) {
		uint32_t i = (uint32_t)sim_rng_below(&r, c->n);

		if ((c->partition_mask & (1u << i)) == 0) {
			c->partition_mask |= 1u << i;
			k--;
		}
	}
	c->partition_start_ms = sim_rng_below(&r, 1000);
	c->partition_end_ms = c->partition_start_ms + sim_rng_range(&r, 200, 2000);
}

/* ------------------------------------------------------------------------------------------ */
/* Buffers, the event heap, the trace. */

static struct sim_buf *buf_new(const uint8_t *p, size_t len)
{
	struct sim_buf *b = malloc(sizeof(*b) + len);

	if (b == NULL)
		return NULL;
	b->refs = 1;
	b->len = (uint32_t)len;
	memcpy(b->p, p, len);
	return b;
}

static void buf_unref(struct sim_buf *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

static bool ev_less(const struct sim_event *a, const struct sim_event *b)
{
	return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static bool heap_push(struct sim *s, struct sim_event ev)
{
	size_t i;

	if (s->nheap == s->heap_cap) {
		size_t ncap = s->heap_cap == 0 ? 1024 : s->heap_cap * 2;
		struct sim_event *v = realloc(s->heap, ncap * sizeof(*v));

		if (v == NULL)
			return false;
		s->heap = v;
		s->heap_cap = ncap;
	}
	ev.order = s->order++;
	i = s->nheap++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!ev_less(&ev, &s->heap[parent]))
			break;
		s->heap[i] = s->heap[parent];
		i = parent;
	}
	s->heap[i] = ev;
	return true;
}

static struct sim_event heap_pop(struct sim *s)
{
	struct sim_event top = s->heap[0], last = s->heap[--s->nheap];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l >= s->nheap)
			break;
		m = l;
		if (l + 1 < s->nheap && ev_less(&s->heap[l + 1], &s->heap[l]))
			m = l + 1;
		if (!ev_less(&s->heap[m], &last))
			break;
		s->heap[i] = s->heap[m];
		i = m;
	}
	if (s->nheap > 0)
		s->heap[i] = last;
	return top;
}

/* FNV-1a, 64-bit, fed eight bytes at a time (then the tail byte by byte): cheap, and any
 * difference in any event changes it (with overwhelming probability). */
static void hash_bytes(uint64_t *h, const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w = 0;

		for (int k = 0; k < 8; k++)
			w |= (uint64_t)b[i + k] << (8 * k);
		*h ^= w;
		*h *= 0x100000001b3ull;
	}
	for (; i < len; i++) {
		*h ^= b[i];
		*h *= 0x100000001b3ull;
	}
}

static void hash_u64(uint64_t *h, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	hash_bytes(h, b, sizeof(b));
}

static const char *type_name(uint8_t t)
{
	static const char *const names[] = {
		[BFT_MSG_REQUEST] = "REQUEST", [BFT_MSG_REPLY] = "REPLY",
		[BFT_MSG_CHECKPOINT] = "CHECKPOINT", [BFT_MSG_PREPREPARE] = "PRE-PREPARE",
		[BFT_MSG_PREPARE] = "PREPARE", [BFT_MSG_COMMIT] = "COMMIT",
		[BFT_MSG_VIEWCHANGE] = "VIEW-CHANGE", [BFT_MSG_NEWVIEW] = "NEW-VIEW",
		[BFT_MSG_FETCH] = "FETCH", [BFT_MSG_STATE] = "STATE",
	};

	if (t < sizeof(names) / sizeof(names[0]) && names[t] != NULL)
		return names[t];
	return "?";
}

/* The message type of an envelope without decoding it: [version, type, ...] with small
 * positive fixints, which is what every frame our encoder writes starts with. */
static uint8_t peek_type(const struct sim_buf *b)
{
	return b != NULL && b->len >= 3 && b->p[2] < 0x80 ? b->p[2] : 0;
}

/* Node <-> replica instance (see the numbering at the top). */
static bool node_is_replica(const struct sim *s, uint32_t node)
{
	return node < s->cfg.n || node >= s->cfg.n + s->cfg.nclients;
}

static uint32_t inst_of_node(const struct sim *s, uint32_t node)
{
	return node < s->cfg.n ? node : node - s->cfg.nclients;
}

static uint32_t node_of_inst(const struct sim *s, uint32_t inst)
{
	return inst < s->cfg.n ? inst : inst + s->cfg.nclients;
}

static void node_name(const struct sim *s, uint32_t node, char out[16])
{
	if (node < s->cfg.n)
		snprintf(out, 16, "r%u", node);
	else if (node < s->cfg.n + s->cfg.nclients)
		snprintf(out, 16, "c%u", node - s->cfg.n);
	else
		snprintf(out, 16, "r%u'", s->rep[inst_of_node(s, node)].rid);
}

/* The fields of a decoded message worth seeing in a trace line. */
static void trace_args(struct trace_entry *t, const struct bft_msg *m)
{
	t->has_m = true;
	t->m1 = t->m2 = 0;
	t->m3 = 0;
	switch (m->type) {
	case BFT_MSG_REQUEST:
		t->m1 = m->sender;
		t->m2 = m->u.request.reqid;
		t->m3 = m->u.request.flags;
		break;
	case BFT_MSG_REPLY:
		t->m1 = m->u.reply.view;
		t->m2 = m->u.reply.reqid;
		break;
	case BFT_MSG_CHECKPOINT:
		t->m2 = m->u.checkpoint.seq;
		break;
	case BFT_MSG_PREPREPARE:
		t->m1 = m->u.preprepare.view;
		t->m2 = m->u.preprepare.seq;
		t->m3 = m->u.preprepare.nrequests;
		break;
	case BFT_MSG_PREPARE:
	case BFT_MSG_COMMIT:
		t->m1 = m->u.phase.view;
		t->m2 = m->u.phase.seq;
		break;
	case BFT_MSG_VIEWCHANGE:
		t->m1 = m->u.viewchange.view;
		t->m2 = m->u.viewchange.stable_seq;
		t->m3 = m->u.viewchange.nprepared;
		break;
	case BFT_MSG_NEWVIEW:
		t->m1 = m->u.newview.view;
		t->m3 = m->u.newview.no;
		break;
	case BFT_MSG_FETCH:
		t->m1 = m->u.fetch.kind;
		t->m2 = m->u.fetch.seq;
		t->m3 = m->u.fetch.index;
		break;
	case BFT_MSG_STATE:
		t->m2 = m->u.state.seq;
		t->m3 = m->u.state.index;
		break;
	default:
		t->has_m = false;
	}
}

static void trace_args_print(const struct trace_entry *t, char *out, size_t len)
{
	out[0] = '\0';
	if (!t->has_m)
		return;
	switch (t->type) {
	case BFT_MSG_REQUEST:
		snprintf(out, len, " c%" PRIu64 " #%" PRIu64 "%s", t->m1, t->m2,
			 (t->m3 & BFT_REQ_READONLY) != 0 ? " ro" : "");
		break;
	case BFT_MSG_REPLY:
		snprintf(out, len, " v%" PRIu64 " #%" PRIu64, t->m1, t->m2);
		break;
	case BFT_MSG_CHECKPOINT:
		snprintf(out, len, " s%" PRIu64, t->m2);
		break;
	case BFT_MSG_PREPREPARE:
		snprintf(out, len, " v%" PRIu64 " s%" PRIu64 " (%u req)", t->m1, t->m2, t->m3);
		break;
	case BFT_MSG_PREPARE:
	case BFT_MSG_COMMIT:
		snprintf(out, len, " v%" PRIu64 " s%" PRIu64, t->m1, t->m2);
		break;
	case BFT_MSG_VIEWCHANGE:
		snprintf(out, len, " v%" PRIu64 " stable s%" PRIu64 " (%u prepared)", t->m1, t->m2,
			 t->m3);
		break;
	case BFT_MSG_NEWVIEW:
		snprintf(out, len, " v%" PRIu64 " (%u in O)", t->m1, t->m3);
		break;
	case BFT_MSG_FETCH:
		snprintf(out, len, " %s s%" PRIu64 " i%u", t->m1 == BFT_FETCH_LOG ? "log" : "state",
			 t->m2, t->m3);
		break;
	case BFT_MSG_STATE:
		snprintf(out, len, " s%" PRIu64 " chunk %u", t->m2, t->m3);
		break;
	default:
		break;
	}
}

static void trace_print(const struct sim *s, const struct trace_entry *t, FILE *f)
{
	char a[16], b[16], args[96];

	node_name(s, t->from, a);
	node_name(s, t->to, b);
	trace_args_print(t, args, sizeof(args));
	fprintf(f, "  t=%7" PRIu64 " ", t->at);
	switch (t->what) {
	case TR_DELIVER:
		fprintf(f, "deliver %s -> %s %s%s (%u B): %s\n", a, b, type_name(t->type), args,
			t->len, t->verdict == 0 ? "ok" : bft_err_name((enum bft_err)t->verdict));
		break;
	case TR_DROP:
		fprintf(f, "drop    %s -> %s %s (%u B)\n", a, b, type_name(t->type), t->len);
		break;
	case TR_CUT:
		fprintf(f, "cut     %s -> %s %s (%u B) by the partition\n", a, b,
			type_name(t->type), t->len);
		break;
	case TR_DUP:
		fprintf(f, "dup     %s -> %s %s (%u B)\n", a, b, type_name(t->type), t->len);
		break;
	case TR_BADFRAME:
		fprintf(f, "reject  %s -> %s %s (%u B): %s\n", a, b, type_name(t->type), t->len,
			bft_err_name((enum bft_err)t->verdict));
		break;
	case TR_BADSIG:
		fprintf(f, "reject  %s -> %s %s (%u B): bad signature\n", a, b,
			type_name(t->type), t->len);
		break;
	case TR_TIMER:
		fprintf(f, "timer   %s: %s\n", b,
			t->verdict == 0 ? "ok" : bft_err_name((enum bft_err)t->verdict));
		break;
	case TR_CLIENT_TIMER:
		fprintf(f, "timer   %s (client)\n", b);
		break;
	case TR_SUBMIT:
		fprintf(f, "submit  %s reqid %" PRIu64 "\n", b, t->arg);
		break;
	case TR_DONE:
		fprintf(f, "done    %s reqid %" PRIu64 "\n", b, t->arg);
		break;
	case TR_COMMIT:
		fprintf(f, "commit  %s seq %" PRIu64 "\n", a, t->arg);
		break;
	default:
		fprintf(f, "?\n");
	}
}

static void trace(struct sim *s, uint8_t what, uint32_t from, uint32_t to,
		  const struct sim_buf *b, int verdict, uint64_t arg, const struct bft_msg *m)
{
	struct trace_entry *t = &s->trace[s->ntrace++ % TRACE_RING];

	t->has_m = false;
	if (m != NULL)
		trace_args(t, m);
	t->at = s->now;
	t->what = what;
	t->from = from;
	t->to = to;
	t->type = peek_type(b);
	t->len = b != NULL ? b->len : 0;
	t->verdict = (int16_t)verdict;
	t->arg = arg;
	if (s->cfg.trace_out != NULL)
		trace_print(s, t, s->cfg.trace_out);
}

static bool failed(const struct sim *s)
{
	return sim_check_violation(s->ck) != NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The network. */

static bool side(const struct sim *s, uint32_t node)
{
	return node < s->cfg.n && (s->cfg.partition_mask & (1u << node)) != 0;
}

/* The phase of the partition schedule in force now, or NULL before the first. */
static const struct sim_phase *phase_now(const struct sim *s)
{
	const struct sim_phase *ph = NULL;

	for (uint32_t k = 0; k < s->cfg.nphases && s->cfg.phases[k].start_ms <= s->now; k++)
		ph = &s->cfg.phases[k];
	return ph;
}

static bool cut(const struct sim *s, uint32_t from, uint32_t to)
{
	if (s->cfg.nphases > 0) {
		const struct sim_phase *ph;

		if (!node_is_replica(s, from) || !node_is_replica(s, to))
			return false;
		ph = phase_now(s);
		return ph != NULL && ph->group[inst_of_node(s, from)] != ph->group[inst_of_node(s, to)];
	}
	return s->cfg.partition_mask != 0 && s->now >= s->cfg.partition_start_ms &&
	       s->now < s->cfg.partition_end_ms && side(s, from) != side(s, to);
}

static void schedule_delivery(struct sim *s, uint32_t from, uint32_t to, struct sim_buf *b,
			      bool faults)
{
	struct sim_event ev = {0};

	ev.kind = EV_DELIVER;
	ev.from = from;
	ev.to = to;
	ev.at = s->now + sim_rng_range(&s->rng, s->cfg.latency_min_ms, s->cfg.latency_max_ms);
	/* A long tail: the odd message that turns up long after its peers, across a view
	 * change or a checkpoint. */
	if (faults && sim_rng_chance(&s->rng, s->cfg.delay_rate)) {
		ev.at += sim_rng_range(&s->rng, 0, s->cfg.delay_max_ms);
		s->st.delayed++;
	}
	ev.buf = b;
	b->refs++;
	if (!heap_push(s, ev)) {
		b->refs--;
		sim_check_fail(s->ck, "sim: out of memory for the event queue");
	}
}

/* Sends b from one node to another through the faulty network. */
static void net_send(struct sim *s, uint32_t from, uint32_t to, struct sim_buf *b)
{
	bool faults = s->now < s->cfg.faults_until_ms;

	s->st.sent++;
	if (cut(s, from, to)) {
		s->st.partitioned++;
		trace(s, TR_CUT, from, to, b, 0, 0, NULL);
		return;
	}
	if (faults && sim_rng_chance(&s->rng, s->cfg.drop_rate)) {
		s->st.dropped++;
		trace(s, TR_DROP, from, to, b, 0, 0, NULL);
		return;
	}
	schedule_delivery(s, from, to, b, faults);
	if (faults && sim_rng_chance(&s->rng, s->cfg.dup_rate)) {
		s->st.duplicated++;
		trace(s, TR_DUP, from, to, b, 0, 0, NULL);
		schedule_delivery(s, from, to, b, faults);
	}
}

/* Sends b to every instance of replica id j: the replica itself and its twins. */
static void send_to_replica(struct sim *s, uint32_t from, uint32_t j, struct sim_buf *b)
{
	net_send(s, from, j, b);
	for (uint32_t k = 0; k < s->cfg.ntwins; k++)
		if (s->cfg.twin_of[k] == j)
			net_send(s, from, node_of_inst(s, s->cfg.n + k), b);
}

/* A "big MAC" client (sim.h mac_liar_clients): the authenticator of its request, the last
 * n * 16 bytes of the frame, is flipped for every replica but replica 0. The signature is
 * untouched, so each backup's MAC check fails and it must fall back to the signature. */
static void big_mac(struct sim *s, uint8_t *p, size_t len)
{
	struct bft_msg m;

	if (wire_decode(&s->limits, p, len, &m) != BFT_OK)
		return;
	if (m.has_auth && m.auth_len == s->cfg.n * BFT_MAC_BYTES) {
		size_t at = (size_t)(m.auth_macs - p);

		for (uint32_t r = 1; r < s->cfg.n; r++)
			p[at + (size_t)r * BFT_MAC_BYTES] ^= 0x5a;
	}
	wire_msg_free(&m);
}

/* Sends everything in s->out from node `from`. Replicas may address replicas and clients;
 * clients only replicas. A destination out of range is a bug in a correct engine or a choice
 * of a faulty one: either way it is counted and goes nowhere. An instance never sends to its
 * own id, so twins do not talk to each other directly. */
static void send_out(struct sim *s, uint32_t from)
{
	uint32_t n = s->cfg.n;
	bool replica = node_is_replica(s, from);
	uint32_t self = replica ? s->rep[inst_of_node(s, from)].rid : UINT32_MAX;

	for (size_t i = 0; i < s->out.nmsgs; i++) {
		const struct bft_out_msg *m = &s->out.msgs[i];
		struct sim_buf *b;

		if (!replica && from - n < s->cfg.mac_liar_clients && m->type == BFT_MSG_REQUEST)
			big_mac(s, m->bytes, m->len);
		b = buf_new(m->bytes, m->len);

		if (b == NULL) {
			sim_check_fail(s->ck, "sim: out of memory for a message");
			return;
		}
		switch (m->dest) {
		case BFT_TO_ALL:
			for (uint32_t j = 0; j < n; j++)
				if (j != self)
					send_to_replica(s, from, j, b);
			break;
		case BFT_TO_REPLICA:
			if (m->to < n)
				send_to_replica(s, from, (uint32_t)m->to, b);
			else
				s->st.bad_destination++;
			break;
		case BFT_TO_CLIENT:
			if (replica && m->to < s->cfg.nclients)
				net_send(s, from, n + (uint32_t)m->to, b);
			else
				s->st.bad_destination++;
			break;
		default:
			s->st.bad_destination++;
		}
		buf_unref(b);
	}
}

/*
 * Signature verification, memoized. wire_verify is a pure function of the public key and the
 * frame (the frame contains the signature and everything it covers), so its result for a
 * given (pk, BLAKE2b(frame)) never changes; a broadcast frame is then verified once instead of
 * n-1 times, which is most of the run time. The memo is direct-mapped and keyed by the full
 * 32-byte digest, so a collision in the index only costs a re-verification, never a wrong
 * answer.
 */
/*
 * The simulator holds every signer's secret key, and Ed25519 signing is deterministic (RFC 8032
 * §5.1.6; our signers never randomise), so a signature equal to the one the claimed signer's
 * key gives over the same signed part is valid, and signing costs well under half a
 * verification. Anything else (a corrupted signature, a signature over other bytes, a signer
 * that randomised its nonce) falls back to the real wire_verify, so the answer is exactly
 * wire_verify's. The signed part's digest is recomputed here as wire.c does (tag "bft.env.v1",
 * wire_internal.h); were that to change, the fast path would only ever miss, never lie.
 */
static bool verify_by_resigning(struct sim *s, const struct bft_msg *m,
				const uint8_t pk[CR_PK_BYTES])
{
	const struct cr_identity *id = NULL;
	uint8_t d[CR_DIGEST_BYTES], sig[CR_SIG_BYTES];

	if (m->signed_part.p == NULL || m->signed_part.len == 0)
		return false;
	if (m->type == BFT_MSG_REQUEST && m->sender < s->cfg.nclients)
		id = s->cli[m->sender].key;
	else if (m->type != BFT_MSG_REQUEST && m->sender < s->cfg.n)
		id = s->rep[m->sender].key;
	if (id == NULL || id->sk == NULL || memcmp(id->pk, pk, CR_PK_BYTES) != 0)
		return false;
	cr_digest(d, "bft.env.v1", m->signed_part.p, m->signed_part.len);
	cr_sign(id, d, sizeof(d), sig);
	return memcmp(sig, m->sig, CR_SIG_BYTES) == 0;
}

static bool verify(struct sim *s, const struct bft_msg *m, const uint8_t pk[CR_PK_BYTES])
{
	struct cr_hash h;
	uint8_t key[CR_DIGEST_BYTES];
	struct vcache_entry *e;
	size_t idx;
	bool ok;

	cr_hash_init(&h, "sim.verify");
	cr_hash_update(&h, pk, CR_PK_BYTES);
	cr_hash_update(&h, m->frame.p, m->frame.len);
	cr_hash_final(&h, key);
	idx = ((size_t)key[0] | (size_t)key[1] << 8 | (size_t)key[2] << 16) &
	      ((1u << VCACHE_BITS) - 1);
	e = &s->vcache[idx];
	if (e->state != 0 && memcmp(e->key, key, sizeof(key)) == 0) {
		s->st.verify_cached++;
		return e->state == 1;
	}
	if (verify_by_resigning(s, m, pk)) {
		s->st.verify_fast++;
		ok = true;
	} else {
		ok = wire_verify(m, pk) == BFT_OK;
	}
	memcpy(e->key, key, sizeof(key));
	e->state = ok ? 1 : 2;
	return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* Replicas. */

static void keep_records(struct sim *s, struct sim_replica *r)
{
	for (size_t i = 0; i < s->out.nrecords; i++) {
		struct bft_record *rec = &s->out.records[i];
		uint8_t *copy;

		s->st.records++;
		/* A run that persists more than this is stuck in a loop; keeping it all would only
		 * turn a liveness failure into an out-of-memory kill. */
		if (r->rec_bytes + rec->len > SIM_RECORD_BYTES_MAX) {
			s->st.records_not_kept++;
			continue;
		}

		if (r->nrecs == r->recs_cap) {
			size_t ncap = r->recs_cap == 0 ? 64 : r->recs_cap * 2;
			struct bft_record *v = realloc(r->recs, ncap * sizeof(*v));

			if (v == NULL) {
				sim_check_fail(s->ck, "sim: out of memory for records");
				return;
			}
			r->recs = v;
			r->recs_cap = ncap;
		}
		copy = malloc(rec->len == 0 ? 1 : rec->len);
		if (copy == NULL) {
			sim_check_fail(s->ck, "sim: out of memory for records");
			return;
		}
		if (rec->len != 0)
			memcpy(copy, rec->bytes, rec->len);
		r->recs[r->nrecs++] = (struct bft_record){
			.kind = rec->kind, .seq = rec->seq, .bytes = copy, .len = rec->len};
		r->rec_bytes += rec->len;
	}
}

/* Feeds one event to replica i and carries out what its bft_out asks for, in the order
 * engine.h prescribes: records are durable first (in the sim, at once), then messages, then
 * the timer. */
static void replica_step(struct sim *s, uint32_t i, const struct bft_event *ev,
			 const struct sim_buf *in, uint32_t from)
{
	struct sim_replica *r = &s->rep[i];
	uint32_t node = node_of_inst(s, i);
	enum bft_err e;

	bft_out_reset(&s->out);
	e = s->cfg.engine->step(r->engine, ev, &s->out);
	s->st.steps++;
	if (e != BFT_OK && (unsigned)e < BFT_ERR_COUNT)
		s->st.engine_rejected[e]++;
	if (ev->type == BFT_EV_MESSAGE)
		trace(s, TR_DELIVER, from, node, in, (int)e, 0, ev->msg);
	else
		trace(s, TR_TIMER, node, node, NULL, (int)e, ev->now_ms, NULL);
	keep_records(s, r);
	if (!r->faulty && !r->fell_behind && s->cfg.engine->status != NULL) {
		struct sim_engine_status es;

		memset(&es, 0, sizeof(es));
		s->cfg.engine->status(r->engine, &es);
		r->fell_behind = es.behind;
	}
	for (size_t k = 0; k < s->out.ncommitted; k++) {
		const struct bft_committed *c = &s->out.committed[k];

		if (r->faulty)
			continue;
		trace(s, TR_COMMIT, node, node, NULL, 0, c->seq, NULL);
		if (c->seq > s->st.max_committed)
			s->st.max_committed = c->seq;
		(void)sim_check_commit(s->ck, r->rid, c->seq, c->digest);
	}
	send_out(s, node);
	/* The latest deadline asked for wins; 0 means "no new deadline", and the pending one is
	 * kept (a spurious timer event is harmless by contract, a lost one is not). A deadline
	 * already past fires 1 ms later: a real node's clock would have moved on too, and an
	 * engine that keeps asking for a past deadline cannot freeze virtual time. */
	if (s->out.timer_ms != 0 && s->out.timer_ms != r->timer_at) {
		struct sim_event tev = {0};

		r->timer_at = s->out.timer_ms;
		tev.kind = EV_TIMER;
		tev.to = node;
		tev.timer_at = s->out.timer_ms;
		tev.at = s->out.timer_ms > s->now ? s->out.timer_ms : s->now + 1;
		if (!heap_push(s, tev))
			sim_check_fail(s->ck, "sim: out of memory for the event queue");
	}
}

/* A SESSION reaches a replica: what node/replica.c on_session does, with the simulator's
 * stand-in box (sim.h session_clients). */
static void deliver_session(struct sim *s, uint32_t from, uint32_t i, const struct sim_buf *b,
			    const struct bft_msg *m)
{
	struct sim_replica *r = &s->rep[inst_of_node(s, i)];
	struct bft_log *lg = s->cfg.engine->log != NULL ? s->cfg.engine->log(r->engine) : NULL;
	const uint8_t *box;
	enum bft_err e = BFT_ESTATE;

	if (lg != NULL && node_is_replica(s, from) == false) {
		e = bft_log_session_check(lg, m);
		if (e == BFT_OK) {
			box = m->u.session.boxes.p + (size_t)r->rid * BFT_SESSION_BOX_BYTES;
			e = bft_log_session_install(lg, m->sender, m->u.session.session,
						    box + (BFT_SESSION_BOX_BYTES - BFT_SESSION_KEY_BYTES));
		}
	}
	if (e != BFT_OK && (unsigned)e < BFT_ERR_COUNT)
		s->st.engine_rejected[e]++;
	trace(s, TR_DELIVER, from, i, b, (int)e, 0, m);
}

/* A node receives a frame: exactly what bftnode does before the engine sees a message. */
static void deliver_to_replica(struct sim *s, uint32_t from, uint32_t i, struct sim_buf *b)
{
	struct bft_msg m;
	struct bft_event ev = {0};
	const uint8_t *pk;
	enum bft_err e;

	e = wire_decode(&s->limits, b->p, b->len, &m);
	if (e != BFT_OK) {
		s->st.decode_failed++;
		trace(s, TR_BADFRAME, from, i, b, (int)e, 0, NULL);
		return;
	}
	if (m.type == BFT_MSG_SESSION) {
		deliver_session(s, from, i, b, &m);
		wire_msg_free(&m);
		return;
	}
	/* The key is the claimed sender's: a client's for a REQUEST (which replicas also relay to
	 * each other), a replica's for everything else; wire_decode checked the id's range. */
	pk = m.type == BFT_MSG_REQUEST ? s->client_pks[m.sender] : s->replica_pks[m.sender];
	if (!verify(s, &m, pk)) {
		s->st.verify_failed++;
		trace(s, TR_BADSIG, from, i, b, 0, 0, NULL);
		wire_msg_free(&m);
		return;
	}
	ev.now_ms = s->now;
	ev.type = BFT_EV_MESSAGE;
	ev.msg = &m;
	replica_step(s, inst_of_node(s, i), &ev, b, from);
	wire_msg_free(&m);
}

/* ------------------------------------------------------------------------------------------ */
/* Clients. */

static void client_arm(struct sim *s, uint32_t j)
{
	struct sim_client *c = &s->cli[j];
	uint64_t t = bft_client_next_timer(c->c);

	if (t != 0 && t != c->timer_at) {
		struct sim_event ev = {0};

		c->timer_at = t;
		ev.kind = EV_TIMER;
		ev.to = s->cfg.n + j;
		ev.timer_at = t;
		ev.at = t > s->now ? t : s->now + 1;
		if (!heap_push(s, ev))
			sim_check_fail(s->ck, "sim: out of memory for the event queue");
	}
}

static void schedule_submit(struct sim *s, uint32_t j)
{
	struct sim_client *c = &s->cli[j];
	struct sim_event ev = {0};

	if (c->submit_scheduled || c->submitted >= s->cfg.requests_per_client)
		return;
	c->submit_scheduled = true;
	ev.kind = EV_SUBMIT;
	ev.to = s->cfg.n + j;
	ev.at = s->now + sim_rng_range(&s->rng, 0, s->cfg.think_max_ms);
	if (!heap_push(s, ev))
		sim_check_fail(s->ck, "sim: out of memory for the event queue");
}

/* Opens client j's MAC session (sim.h session_clients) with keys from the seed. */
static void client_session(struct sim *s, uint32_t j)
{
	struct sim_client *c = &s->cli[j];
	uint32_t n = s->cfg.n;
	uint8_t *keys = calloc(n, BFT_SESSION_KEY_BYTES), *boxes = calloc(n, BFT_SESSION_BOX_BYTES);
	struct sim_rng kr;
	enum bft_err e = BFT_ENOMEM;

	c->session_started = true;
	if (keys != NULL && boxes != NULL) {
		sim_rng_seed(&kr, sim_seed_derive(s->cfg.seed, 'S', j));
		for (size_t k = 0; k < (size_t)n * BFT_SESSION_KEY_BYTES; k++)
			keys[k] = (uint8_t)sim_rng_next(&kr);
		for (uint32_t r = 0; r < n; r++)
			memcpy(boxes + (size_t)r * BFT_SESSION_BOX_BYTES + BFT_SESSION_BOX_BYTES -
				       BFT_SESSION_KEY_BYTES,
			       keys + (size_t)r * BFT_SESSION_KEY_BYTES, BFT_SESSION_KEY_BYTES);
		bft_out_reset(&s->out);
		e = bft_client_session_start(c->c, s->now, 1, keys, boxes, &s->out);
		if (e == BFT_OK)
			send_out(s, s->cfg.n + j);
	}
	free(keys);
	free(boxes);
	if (e != BFT_OK)
		sim_check_fail(s->ck, "sim: client %u could not open a session: %s", j,
			       bft_strerror(e));
}

static void client_submit(struct sim *s, uint32_t j)
{
	struct sim_client *c = &s->cli[j];

	c->submit_scheduled = false;
	if (j < s->cfg.session_clients && !c->session_started)
		client_session(s, j);
	while (c->submitted < s->cfg.requests_per_client &&
	       bft_client_outstanding(c->c) < s->cfg.client_outstanding) {
		uint8_t op[SIM_OP_BYTES];
		uint32_t counter = c->submitted + 1, slot = 0;
		uint8_t kind = sim_rng_chance(&s->rng, s->cfg.readonly_rate) ? 1 : 0;
		uint64_t reqid;
		enum bft_err e;

		while (slot < s->cfg.client_outstanding && c->pend[slot].used)
			slot++;
		if (slot == s->cfg.client_outstanding)
			break; /* completed but not yet polled: wait for the poll */
		sim_op_encode(op, j, counter, kind);
		bft_out_reset(&s->out);
		e = bft_client_submit(c->c, s->now, op, sizeof(op), kind ? BFT_REQ_READONLY : 0,
				      &reqid, &s->out);
		/* The client holds back a request that would run past the replicas' exactly-once
		 * window (log.h): try again when an older one completes. */
		if (e == BFT_EFULL)
			break;
		/* Record the submission before anything can execute it (send_out, below). */
		if (e == BFT_OK)
			sim_check_submitted(s->ck, j, counter, kind);
		if (e != BFT_OK) {
			sim_check_fail(s->ck, "sim: client %u could not submit: %s", j,
				       bft_strerror(e));
			return;
		}
		c->pend[slot] = (struct sim_pending){.used = true, .reqid = reqid,
						     .counter = counter};
		c->submitted++;
		s->st.submitted++;
		trace(s, TR_SUBMIT, s->cfg.n + j, s->cfg.n + j, NULL, 0, reqid, NULL);
		send_out(s, s->cfg.n + j);
	}
	client_arm(s, j);
}

static void client_drain(struct sim *s, uint32_t j)
{
	struct sim_client *c = &s->cli[j];
	struct bft_client_result res;

	while (bft_client_poll(c->c, &res)) {
		uint32_t slot = 0;

		while (slot < s->cfg.client_outstanding &&
		       !(c->pend[slot].used && c->pend[slot].reqid == res.reqid))
			slot++;
		if (slot == s->cfg.client_outstanding) {
			sim_check_fail(s->ck, "sim: client %u completed unknown reqid %" PRIu64, j,
				       res.reqid);
			return;
		}
		trace(s, TR_DONE, s->cfg.n + j, s->cfg.n + j, NULL, 0, res.reqid, NULL);
		(void)sim_check_result(s->ck, j, c->pend[slot].counter, res.result.p,
				       res.result.len);
		c->pend[slot].used = false;
		c->completed++;
		s->st.completed++;
		if ((res.flags & BFT_REQ_READONLY) != 0)
			s->st.readonly_completed++;
		if (c->completed == s->cfg.requests_per_client)
			s->clients_done++;
		schedule_submit(s, j);
	}
}

static void deliver_to_client(struct sim *s, uint32_t from, uint32_t j, struct sim_buf *b)
{
	enum bft_err e;

	/* Only replicas answer clients; the client core checks the frame's sender is `from`. */
	e = bft_client_on_frame(s->cli[j].c, s->now, from, b->p, b->len);
	if (e != BFT_OK && (unsigned)e < BFT_ERR_COUNT)
		s->st.client_rejected[e]++;
	trace(s, TR_DELIVER, from, s->cfg.n + j, b, (int)e, 0, NULL);
	client_drain(s, j);
	client_arm(s, j);
}

static void client_timer(struct sim *s, uint32_t j)
{
	struct sim_client *c = &s->cli[j];

	trace(s, TR_CLIENT_TIMER, s->cfg.n + j, s->cfg.n + j, NULL, 0, s->now, NULL);
	bft_out_reset(&s->out);
	bft_client_on_timer(c->c, s->now, &s->out);
	send_out(s, s->cfg.n + j);
	client_arm(s, j);
}

/* ------------------------------------------------------------------------------------------ */
/* Setup and teardown. */

/* shared_keys: identities derived from (stream, index) alone, made once per process and kept
 * (never freed: they stay reachable from here). */
static struct cr_identity shared_rep[SIM_MAX_REPLICAS], shared_cli[SIM_MAX_CLIENTS];

static int identity_for(struct cr_identity *id, uint64_t seed, uint64_t stream, uint64_t index);

static const struct cr_identity *shared_identity(uint64_t stream, uint32_t index)
{
	struct cr_identity *id = stream == 'R' ? &shared_rep[index] : &shared_cli[index];

	if (id->sk == NULL && identity_for(id, 0x5348415245444b59ull, stream, index) != 0)
		return NULL;
	return id;
}

static int identity_for(struct cr_identity *id, uint64_t seed, uint64_t stream, uint64_t index)
{
	uint8_t bytes[CR_SEED_BYTES];
	struct sim_rng r;
	int rc;

	sim_rng_seed(&r, sim_seed_derive(seed, stream, index));
	for (size_t i = 0; i < sizeof(bytes); i += 8) {
		uint64_t x = sim_rng_next(&r);

		for (size_t k = 0; k < 8; k++)
			bytes[i + k] = (uint8_t)(x >> (8 * k));
	}
	rc = cr_identity_from_seed(id, bytes);
	memset(bytes, 0, sizeof(bytes));
	return rc;
}

static bool twins_ok(const struct sim_config *c)
{
	for (uint32_t k = 0; k < c->ntwins; k++)
		if (c->twin_of[k] >= c->n)
			return false;
	for (uint32_t k = 1; k < c->nphases; k++)
		if (c->phases[k].start_ms < c->phases[k - 1].start_ms)
			return false;
	return true;
}

static bool config_ok(const struct sim_config *c)
{
	return c->engine != NULL && c->engine->create != NULL && c->engine->step != NULL &&
	       c->engine->free != NULL && c->n >= 1 && c->n <= SIM_MAX_REPLICAS &&
	       c->nclients >= 1 && c->nclients <= SIM_MAX_CLIENTS &&
	       c->requests_per_client >= 1 && c->client_outstanding >= 1 &&
	       c->client_retransmit_ms >= 1 && c->latency_min_ms <= c->latency_max_ms &&
	       c->time_limit_ms > 0 && c->max_events > 0 &&
	       (c->n == SIM_MAX_REPLICAS || (c->partition_mask >> c->n) == 0) &&
	       c->ntwins <= SIM_MAX_TWINS && c->nphases <= SIM_MAX_PHASES && twins_ok(c);
}

/** See sim.h. */
enum bft_err sim_new(struct sim **out, const struct sim_config *cfg)
{
	struct sim *s;
	enum bft_err e = BFT_ENOMEM;
	uint32_t n, nc;

	if (out == NULL || cfg == NULL || !config_ok(cfg))
		return BFT_EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return BFT_ENOMEM;
	s->cfg = *cfg;
	n = cfg->n;
	nc = cfg->nclients;
	sim_rng_seed(&s->rng, sim_seed_derive(cfg->seed, 'N', 0));
	s->st.trace_hash = 0xcbf29ce484222325ull;
	wire_limits_default(&s->limits, n, nc);
	s->ck = sim_check_new(n, nc, cfg->requests_per_client);
	s->replica_pks = calloc(n, sizeof(*s->replica_pks));
	s->client_pks = calloc(nc, sizeof(*s->client_pks));
	s->ninst = n + cfg->ntwins;
	s->rep = calloc(s->ninst, sizeof(*s->rep));
	s->cli = calloc(nc, sizeof(*s->cli));
	s->vcache = calloc((size_t)1 << VCACHE_BITS, sizeof(*s->vcache));
	if (s->ck == NULL || s->replica_pks == NULL || s->client_pks == NULL || s->rep == NULL ||
	    s->cli == NULL || s->vcache == NULL)
		goto fail;

	/* Identities first: every engine and client needs all the public keys. */
	for (uint32_t i = 0; i < n; i++) {
		if (cfg->shared_keys)
			s->rep[i].key = shared_identity('R', i);
		else if (identity_for(&s->rep[i].id, cfg->seed, 'R', i) == 0)
			s->rep[i].key = &s->rep[i].id;
		if (s->rep[i].key == NULL)
			goto fail;
		memcpy(s->replica_pks[i], s->rep[i].key->pk, CR_PK_BYTES);
	}
	for (uint32_t j = 0; j < nc; j++) {
		if (cfg->shared_keys)
			s->cli[j].key = shared_identity('C', j);
		else if (identity_for(&s->cli[j].id, cfg->seed, 'C', j) == 0)
			s->cli[j].key = &s->cli[j].id;
		if (s->cli[j].key == NULL)
			goto fail;
		memcpy(s->client_pks[j], s->cli[j].key->pk, CR_PK_BYTES);
	}

	/* A twinned replica is Byzantine as far as the checks go: its key equivocates. */
	for (uint32_t k = 0; k < cfg->ntwins; k++)
		sim_check_set_faulty(s->ck, cfg->twin_of[k]);
	for (uint32_t i = 0; i < s->ninst; i++) {
		struct sim_replica *r = &s->rep[i];
		struct sim_node_config nc_cfg;
		uint32_t rid = i < n ? i : cfg->twin_of[i - n];

		r->rid = rid;
		r->faulty = cfg->byz[rid].modes != 0;
		for (uint32_t k = 0; k < cfg->ntwins; k++)
			r->faulty = r->faulty || cfg->twin_of[k] == rid;
		if (cfg->byz[rid].modes != 0)
			sim_check_set_faulty(s->ck, rid);
		r->app = sim_app_new(s->ck, rid, nc, cfg->requests_per_client);
		if (r->app == NULL)
			goto fail;
		memset(&nc_cfg, 0, sizeof(nc_cfg));
		nc_cfg.n = n;
		nc_cfg.self = rid;
		nc_cfg.id = s->rep[rid].key;
		r->key = s->rep[rid].key;
		nc_cfg.replica_pks = (const uint8_t (*)[CR_PK_BYTES])s->replica_pks;
		nc_cfg.client_pks = (const uint8_t (*)[CR_PK_BYTES])s->client_pks;
		nc_cfg.limits = s->limits;
		nc_cfg.app = sim_app_callbacks(r->app);
		nc_cfg.byz = s->cfg.byz[rid].modes != 0 ? &s->cfg.byz[rid] : NULL;
		nc_cfg.checkpoint_interval = cfg->checkpoint_interval;
		nc_cfg.window = cfg->window;
		nc_cfg.batch_max_requests = cfg->batch_max_requests;
		nc_cfg.batch_delay_ms = cfg->batch_delay_ms;
		nc_cfg.view_timeout_ms = cfg->view_timeout_ms;
		e = cfg->engine->create(&r->engine, &nc_cfg);
		if (e != BFT_OK) {
			r->engine = NULL;
			goto fail;
		}
	}
	for (uint32_t j = 0; j < nc; j++) {
		struct sim_client *c = &s->cli[j];
		struct bft_client_config cc;

		memset(&cc, 0, sizeof(cc));
		cc.id = j;
		cc.n = n;
		cc.replica_pks = (const uint8_t (*)[CR_PK_BYTES])s->replica_pks;
		cc.key = c->key;
		cc.limits = s->limits;
		cc.send = cfg->engine->client_send;
		cc.ordered_reads_only = cfg->engine->ordered_reads_only;
		cc.retransmit_ms = cfg->client_retransmit_ms;
		cc.retransmit_max_ms = cfg->client_retransmit_max_ms;
		cc.outstanding_max = cfg->client_outstanding;
		e = bft_client_new(&c->c, &cc);
		if (e != BFT_OK)
			goto fail;
		c->pend = calloc(cfg->client_outstanding, sizeof(*c->pend));
		if (c->pend == NULL) {
			e = BFT_ENOMEM;
			goto fail;
		}
		schedule_submit(s, j);
	}
	*out = s;
	return BFT_OK;
fail:
	sim_free(s);
	return e == BFT_OK ? BFT_ENOMEM : e;
}

/** See sim.h. */
void sim_free(struct sim *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nheap; i++)
		buf_unref(s->heap[i].buf);
	free(s->heap);
	if (s->rep != NULL) {
		for (uint32_t i = 0; i < s->ninst; i++) {
			struct sim_replica *r = &s->rep[i];

			if (r->engine != NULL)
				s->cfg.engine->free(r->engine);
			sim_app_free(r->app);
			cr_identity_free(&r->id);
			for (size_t k = 0; k < r->nrecs; k++)
				free(r->recs[k].bytes);
			free(r->recs);
		}
	}
	if (s->cli != NULL) {
		for (uint32_t j = 0; j < s->cfg.nclients; j++) {
			bft_client_free(s->cli[j].c);
			cr_identity_free(&s->cli[j].id);
			free(s->cli[j].pend);
		}
	}
	free(s->rep);
	free(s->cli);
	free(s->replica_pks);
	free(s->client_pks);
	free(s->vcache);
	bft_out_free(&s->out);
	sim_check_free(s->ck);
	free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* The run loop. */

static void hash_event(struct sim *s, const struct sim_event *ev)
{
	uint64_t *h = &s->st.trace_hash;

	hash_u64(h, ev->at);
	hash_u64(h, (uint64_t)ev->kind << 48 | (uint64_t)ev->from << 24 | ev->to);
	if (ev->buf != NULL)
		hash_bytes(h, ev->buf->p, ev->buf->len);
}

static void dispatch(struct sim *s, struct sim_event *ev)
{
	uint32_t n = s->cfg.n;

	switch (ev->kind) {
	case EV_DELIVER:
		/* A message in flight when the partition starts is lost as well. */
		if (cut(s, ev->from, ev->to)) {
			s->st.partitioned++;
			trace(s, TR_CUT, ev->from, ev->to, ev->buf, 0, 0, NULL);
			break;
		}
		s->st.delivered++;
		if (node_is_replica(s, ev->to))
			deliver_to_replica(s, ev->from, ev->to, ev->buf);
		else
			deliver_to_client(s, ev->from, ev->to - n, ev->buf);
		break;
	case EV_TIMER:
		if (node_is_replica(s, ev->to)) {
			struct bft_event tev = {0};
			uint32_t i = inst_of_node(s, ev->to);

			if (ev->timer_at != s->rep[i].timer_at)
				break; /* superseded by a later request */
			s->rep[i].timer_at = 0;
			tev.now_ms = s->now;
			tev.type = BFT_EV_TIMER;
			replica_step(s, i, &tev, NULL, ev->to);
		} else {
			if (ev->timer_at != s->cli[ev->to - n].timer_at)
				break;
			s->cli[ev->to - n].timer_at = 0;
			client_timer(s, ev->to - n);
		}
		break;
	case EV_SUBMIT:
		client_submit(s, ev->to - n);
		break;
	default:
		break;
	}
}

/* True when every correct replica instance has executed at least up to the highest stable
 * checkpoint (low watermark) any of them holds: a replica left behind must have caught up,
 * by state transfer where the log it missed was collected. (Positions above the checkpoint
 * may legitimately wait for new requests: a replica alone in a later view cannot join the
 * agreement on them, and the others have no reason to change view while idle, TOCS §4.5.2.)
 * On false, *lag, *at and *best say which one is short and by how much. */
static bool converged(const struct sim *s, uint32_t *lag, bft_seq *at, bft_seq *best)
{
	bft_seq lo = UINT64_MAX, hi = 0;

	if (s->cfg.engine->status == NULL)
		return true;
	for (uint32_t i = 0; i < s->ninst; i++) {
		struct sim_engine_status es;

		if (s->rep[i].faulty)
			continue;
		memset(&es, 0, sizeof(es));
		s->cfg.engine->status(s->rep[i].engine, &es);
		if (es.last_executed < lo) {
			lo = es.last_executed;
			*lag = i;
		}
		if (es.low > hi)
			hi = es.low;
	}
	*at = lo;
	*best = hi;
	return lo == UINT64_MAX || lo >= hi;
}

/** See sim.h. */
bool sim_run(struct sim *s)
{
	uint64_t catch_up_until = 0;

	while (!failed(s)) {
		struct sim_event ev;

		if (s->clients_done >= s->cfg.nclients) {
			uint32_t lag = 0;
			bft_seq at = 0, best = 0;

			if (s->st.done_ms == 0)
				s->st.done_ms = s->now;
			if (s->cfg.catch_up_ms == 0 || converged(s, &lag, &at, &best))
				break;
			if (!s->catching_up) {
				s->catching_up = true;
				catch_up_until = s->now + s->cfg.catch_up_ms;
			}
			if (s->nheap == 0 || s->heap[0].at > catch_up_until) {
				sim_check_fail(s->ck, "catch-up: replica %u executed %" PRIu64 ", below "
					       "the stable checkpoint %" PRIu64 ", %" PRIu64 " ms after the "
					       "last request completed%s", s->rep[lag].rid, at, best,
					       s->cfg.catch_up_ms, s->rep[lag].fell_behind ?
					       " (it fell behind a stable checkpoint)" : "");
				break;
			}
		} else if (s->nheap == 0) {
			if (!s->cfg.safety_only)
				sim_check_fail(s->ck, "liveness: nothing left to happen at t=%" PRIu64
					       " ms with requests outstanding", s->now);
			break;
		} else if (s->heap[0].at > s->cfg.time_limit_ms) {
			s->now = s->cfg.time_limit_ms;
			if (!s->cfg.safety_only)
				sim_check_fail(s->ck, "liveness: not every request completed within %"
					       PRIu64 " ms (%" PRIu64 " of %" PRIu64 " done)",
					       s->cfg.time_limit_ms, s->st.completed,
					       (uint64_t)s->cfg.nclients * s->cfg.requests_per_client);
			break;
		}
		if (s->st.events >= s->cfg.max_events) {
			sim_check_fail(s->ck, "liveness: %" PRIu64 " events without finishing "
				       "(livelock?)", s->st.events);
			break;
		}
		ev = heap_pop(s);
		s->now = ev.at;
		s->st.events++;
		hash_event(s, &ev);
		dispatch(s, &ev);
		buf_unref(ev.buf);
	}
	if (!failed(s) && !s->cfg.safety_only)
		(void)sim_check_all_completed(s->ck);
	s->st.end_ms = s->now;
	return !failed(s);
}

/** See sim.h. */
const char *sim_violation(const struct sim *s)
{
	return sim_check_violation(s->ck);
}

/** See sim.h. */
void sim_get_stats(const struct sim *s, struct sim_stats *st)
{
	*st = s->st;
	st->max_view = 0;
	st->view_changes = 0;
	st->sessions_installed = st->mac_ok = st->mac_bad = st->mac_fallback = 0;
	st->replies_mac = st->client_replies_mac = st->client_bad_mac = 0;
	for (uint32_t i = 0; i < s->cfg.n + s->cfg.ntwins && s->cfg.engine->log != NULL; i++) {
		struct bft_log_session_stats ls;

		if (s->rep[i].engine == NULL)
			continue;
		bft_log_session_stats(s->cfg.engine->log(s->rep[i].engine), &ls);
		st->sessions_installed += ls.installed;
		if (s->rep[i].faulty)
			continue;
		st->mac_ok += ls.mac_ok;
		st->mac_bad += ls.mac_bad;
		st->mac_fallback += ls.mac_fallback;
		st->replies_mac += ls.replies_mac;
	}
	for (uint32_t j = 0; j < s->cfg.nclients; j++) {
		struct bft_client_stats cs;

		if (s->cli[j].c == NULL)
			continue;
		bft_client_stats(s->cli[j].c, &cs);
		st->client_replies_mac += cs.replies_mac;
		st->client_bad_mac += cs.bad_mac;
	}
	st->state_transfers = 0;
	st->fell_behind = st->transferred = st->behind_untransferred = 0;
	for (uint32_t i = 0; i < s->ninst; i++) {
		struct sim_engine_status es;

		if (s->rep[i].faulty || s->cfg.engine->status == NULL)
			continue;
		memset(&es, 0, sizeof(es));
		s->cfg.engine->status(s->rep[i].engine, &es);
		if (es.view > st->max_view)
			st->max_view = es.view;
		st->view_changes += es.view_changes;
		st->state_transfers += es.state_transfers;
		if (es.state_transfers > 0)
			st->transferred++;
		if (s->rep[i].fell_behind)
			st->fell_behind++;
		if (s->rep[i].fell_behind && es.state_transfers == 0)
			st->behind_untransferred++;
	}
	for (uint32_t j = 0; j < s->cfg.nclients; j++) {
		struct bft_client_stats cs;

		bft_client_stats(s->cli[j].c, &cs);
		st->readonly_fallbacks += cs.readonly_fallbacks;
		st->retransmissions += cs.retransmissions;
	}
}

/** See sim.h. */
void *sim_engine(const struct sim *s, uint32_t i)
{
	return i < s->ninst ? s->rep[i].engine : NULL;
}

/** See sim.h. */
const struct bft_record *sim_records(const struct sim *s, uint32_t i, size_t *n)
{
	if (i >= s->ninst) {
		*n = 0;
		return NULL;
	}
	*n = s->rep[i].nrecs;
	return s->rep[i].recs;
}

/* Prints the last TRACE_PRINT lines of the trace, oldest first. Runs of timer events (an
 * engine that keeps asking for a deadline in the past fires every millisecond) are folded
 * into one line, so that they cannot push every delivery out of the report. */
static void trace_tail(const struct sim *s, FILE *f)
{
	uint64_t avail = s->ntrace < TRACE_RING ? s->ntrace : TRACE_RING;
	uint64_t idx[TRACE_PRINT], folded[TRACE_PRINT];
	uint32_t lines = 0;

	for (uint64_t k = 0; k < avail && lines < TRACE_PRINT; k++) {
		uint64_t at = s->ntrace - 1 - k;
		const struct trace_entry *t = &s->trace[at % TRACE_RING];

		if (lines > 0 && (t->what == TR_TIMER || t->what == TR_CLIENT_TIMER)) {
			const struct trace_entry *prev = &s->trace[idx[lines - 1] % TRACE_RING];

			if (prev->what == TR_TIMER || prev->what == TR_CLIENT_TIMER) {
				folded[lines - 1]++;
				idx[lines - 1] = at;
				continue;
			}
		}
		idx[lines] = at;
		folded[lines] = 0;
		lines++;
	}
	fprintf(f, "last %u trace lines (of %" PRIu64 " entries):\n", lines, s->ntrace);
	for (uint32_t i = lines; i-- > 0;) {
		trace_print(s, &s->trace[idx[i] % TRACE_RING], f);
		if (folded[i] != 0)
			fprintf(f, "            ... and %" PRIu64 " more timer events\n",
				folded[i]);
	}
}

/** See sim.h. */
void sim_print_report(const struct sim *s, FILE *f)
{
	const struct sim_config *c = &s->cfg;
	const char *v = sim_violation(s);
	struct sim_stats st;

	sim_get_stats(s, &st);
	fprintf(f, "=== sim %s: seed=%" PRIu64 " engine=%s n=%u clients=%u x %u requests\n",
		v != NULL ? "FAILURE" : "run", c->seed, c->engine->name, c->n, c->nclients,
		c->requests_per_client);
	if (v != NULL)
		fprintf(f, "violation: %s\nreplay:    SEED=%" PRIu64 " (same binary, same "
			"parameters)\n", v, c->seed);
	fprintf(f, "faults:    drop %.3f dup %.3f delay %.3f (+0..%u ms) until %" PRIu64
		" ms; latency %u..%u ms; partition 0x%x during [%" PRIu64 ", %" PRIu64 ") ms\n",
		c->drop_rate, c->dup_rate, c->delay_rate, c->delay_max_ms, c->faults_until_ms,
		c->latency_min_ms, c->latency_max_ms, c->partition_mask,
		c->partition_start_ms, c->partition_end_ms);
	for (uint32_t i = 0; i < c->n; i++) {
		if (c->byz[i].modes != 0)
			fprintf(f, "byzantine: replica %u modes 0x%x\n", i, c->byz[i].modes);
	}
	fprintf(f, "stats:     t=%" PRIu64 " ms, %" PRIu64 " events, %" PRIu64 " sent, %" PRIu64
		" delivered, %" PRIu64 " dropped, %" PRIu64 " duplicated, %" PRIu64
		" cut; %" PRIu64 "/%" PRIu64 " requests done; max seq %" PRIu64 ", max view %"
		PRIu64 "\n", st.end_ms, st.events, st.sent, st.delivered, st.dropped,
		st.duplicated, st.partitioned, st.completed,
		(uint64_t)c->nclients * c->requests_per_client, st.max_committed, st.max_view);
	fprintf(f, "           %u correct replicas fell behind, %u transferred state (%" PRIu64
		" transfers); last request done at %" PRIu64 " ms\n", st.fell_behind,
		st.transferred, st.state_transfers, st.done_ms);
	for (uint32_t k = 0; k < c->ntwins; k++)
		fprintf(f, "twin:      replica %u runs twice (instance %u)\n", c->twin_of[k], c->n + k);
	for (uint32_t k = 0; k < c->nphases; k++) {
		fprintf(f, "phase %u:   from %" PRIu64 " ms, groups", k, c->phases[k].start_ms);
		for (uint32_t i = 0; i < s->ninst; i++)
			fprintf(f, " %u", c->phases[k].group[i]);
		fprintf(f, "\n");
	}
	for (uint32_t i = 0; i < s->ninst; i++) {
		struct sim_engine_status es;

		memset(&es, 0, sizeof(es));
		if (c->engine->status != NULL)
			c->engine->status(s->rep[i].engine, &es);
		fprintf(f, "replica %u%s%s: view %" PRIu64 "%s, executed %" PRIu64 ", window (%"
			PRIu64 ", %" PRIu64 "], next seq %" PRIu64 ", %u pending, %" PRIu64
			" view changes, %" PRIu64 " state transfers, app position %" PRIu64
			", timer %" PRIu64 "\n", s->rep[i].rid, i >= c->n ? "'" : "",
			s->rep[i].faulty ? " (byzantine)" : "", es.view,
			es.view_active ? "" : " (changing)", es.last_executed, es.low, es.high,
			es.next_seq, es.pending, es.view_changes, es.state_transfers,
			sim_app_position(s->rep[i].app), s->rep[i].timer_at);
	}
	for (uint32_t j = 0; j < c->nclients; j++)
		fprintf(f, "client %u: %u submitted, %u completed, %u in flight, view %" PRIu64
			"\n", j, s->cli[j].submitted, s->cli[j].completed,
			bft_client_outstanding(s->cli[j].c), bft_client_view(s->cli[j].c));
	trace_tail(s, f);
}

/** See sim.h. */
bool sim_run_one(const struct sim_config *cfg, struct sim_stats *st, FILE *report,
		 bool verbose)
{
	struct sim *s;
	enum bft_err e;
	bool ok;

	e = sim_new(&s, cfg);
	if (e != BFT_OK) {
		if (report != NULL)
			fprintf(report, "=== sim FAILURE: seed=%" PRIu64 ": setup failed: %s\n",
				cfg->seed, bft_strerror(e));
		if (st != NULL)
			memset(st, 0, sizeof(*st));
		return false;
	}
	ok = sim_run(s);
	if (report != NULL && (!ok || verbose))
		sim_print_report(s, report);
	if (st != NULL)
		sim_get_stats(s, st);
	sim_free(s);
	return ok;
}
