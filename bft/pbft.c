/*
 * PBFT with signatures: Castro & Liskov, "Practical Byzantine Fault Tolerance and Proactive
 * Recovery", TOCS 20(4), 2002 (cited as TOCS §x), and the OSDI'99 paper. The shared log (log.c)
 * executes, replies, checkpoints and transfers state; this file decides the order.
 *
 * Per sequence number n in the window (low, low + W] a slot holds the accepted PRE-PREPARE, the
 * latest PREPARE and COMMIT of each replica, and the highest-view prepared certificate this
 * replica ever formed for n (it outlives view changes: it is what VIEW-CHANGE messages carry).
 *
 * Liveness under message loss: PBFT's own implementation retransmits on a status exchange. Here a
 * replica that has work outstanding and has made no progress for retransmit_ms multicasts
 * FETCH(LOG, last_executed); a peer answers with the signed messages it holds above that point
 * (the primary's PRE-PREPAREs, PREPAREs and COMMITs it received or sent, and its stable checkpoint
 * proof). Everything forwarded is signed by its origin, so forwarding adds no trust. Such
 * retransmissions back off while they bring nothing, and a replica also pushes the same answer,
 * unasked and with back-off, to a peer that has shown it less than it executed (push_progress:
 * an idle replica that was cut off learns nothing otherwise). A replica that has left a view
 * still executes a batch of it on a commit certificate (on_old_commit).
 *
 * View-change traffic is capped (supported_view): VIEW-CHANGEs and NEW-VIEWs more than VC_AHEAD
 * views ahead are refused unvalidated unless f+1 replicas have shown they are there.
 */
#include "bft/pbft.h"

#include <stdlib.h>
#include <string.h>

#define RETRANSMIT_MS_DEFAULT 100u
#define TIME_SKEW_MS 10000u /* a PRE-PREPARE's batch time may lead our clock by this much */
#define REPLAY_KEEP 32u
#define BYZ_PERIOD_MS 20u     /* a faulty replica's replay and spam, at most this often */
#define CHUNKS_PER_PERIOD 16u /* state chunks served to one peer per retransmit period */
#define PUSH_BACKOFF_MAX 32u  /* proof pushes to a lagging peer back off to this many periods */
#define RETRANSMIT_BACKOFF_MAX 4u /* a stuck replica's FETCHes back off to this many periods */
#define VC_AHEAD 2u           /* VIEW-CHANGEs / NEW-VIEWs validated up to view + VC_AHEAD */
#define CHECK_ALL_SEQS 64u    /* after a wait for vouchers ran out: check every batch for this
                               * many sequence numbers, doubled per consecutive expiry ... */
#define CHECK_BACKOFF_MAX 6u  /* ... up to 64 << 6 */
#define CHECKER_LAG 4u        /* a checker silent about this many sequence numbers is absent */

struct vote {
	bool have;
	bft_view view;
	uint8_t digest[CR_DIGEST_BYTES];
	uint8_t *env;
	uint32_t len;
};

struct slot {
	bft_seq seq; /* 0: unused */

	/* The PRE-PREPARE accepted in view `view` (TOCS §4.2). */
	bool has_pp;
	bft_view view;
	uint8_t digest[CR_DIGEST_BYTES];
	uint8_t *pp;
	uint32_t pp_len;
	struct bft_msg ppm; /* decoded from pp; its byte fields point into pp */

	/* A digest fixed by the NEW-VIEW of view `fixed_view` (TOCS §4.4): in that view only a
	 * PRE-PREPARE with this digest is acceptable for this slot. */
	bool fixed;
	bft_view fixed_view;
	uint8_t fixed_digest[CR_DIGEST_BYTES];

	struct vote *prep;   /* n entries: the latest PREPARE of each replica */
	struct vote *commit; /* n entries: the latest COMMIT of each replica */
	struct vote *ocommit; /* n entries: a COMMIT of an older view than that one, which a
	                       * commit certificate of that view may need (on_old_commit) */
	bft_view commit_view; /* when committed: the view of the 2f+1 COMMITs that did it */

	/* The commit certificate of a slot committed in a view we have since left: that view's
	 * PRE-PREPARE and its 2f+1 matching COMMITs, moved here when the view state is cleared
	 * and kept until the checkpoint collects the slot, so that a replica still short of it
	 * can be handed the proof (serve_log, on_old_commit). */
	bool has_cc;
	bft_view cc_view;
	uint8_t *cc_pp;
	uint32_t cc_pp_len;
	struct vote *cc_commit; /* n entries */

	bool sent_prepare, sent_commit, prepared, committed;

	/* A new batch's PRE-PREPARE held unchecked while this backup waits for f matching
	 * PREPAREs ("Shared batch checks"); its digest and size were checked. NULL: none. */
	uint8_t *held;
	uint32_t held_len;
	bft_view held_view;
	uint8_t held_digest[CR_DIGEST_BYTES];
	uint64_t held_deadline;

	/* The prepared certificate of the highest view (TOCS §4.4 "P"). */
	bool has_pc;
	bft_view pc_view;
	uint8_t pc_digest[CR_DIGEST_BYTES];
	uint8_t *pc_pp;
	uint32_t pc_pp_len;
	struct bft_bytes *pc_prep; /* 2f copies */
	uint32_t pc_nprep;
};

struct pbft {
	struct pbft_config cfg;
	uint32_t n, f, q;
	bft_replica_id self;
	struct bft_log *log;

	bft_view view;
	bool active;            /* false during a view change to `view` */
	bft_seq next_seq;       /* the primary's next sequence number */
	uint64_t last_batch_ms; /* batch times never go backwards */

	struct slot *slots;     /* window entries, indexed by seq % window */
	uint32_t nslots;

	/* view change state */
	uint8_t **vc;           /* latest VIEW-CHANGE envelope from each replica (validated) */
	uint32_t *vc_len;
	bft_view *vc_view;
	uint8_t *nv;            /* the NEW-VIEW of the current view, for retransmission */
	uint32_t nv_len;
	uint32_t vc_attempts;   /* successive view changes without progress (timeout doubling) */
	uint64_t vc_deadline;   /* while inactive: when to move on to view + 1; 0 = not armed */

	/* timers */
	uint64_t progress_ms;   /* last execution, view entry or start of waiting */
	bft_seq progress_seq;
	uint64_t retransmit_ms; /* next retransmission check */
	uint32_t retransmit_periods; /* back-off while retransmissions bring nothing */
	bft_view retransmit_view;
	uint64_t fetch_deadline;
	uint32_t fetch_peer;
	bft_seq *seen_seq;      /* highest sequence number each replica sent us in any message */
	bft_seq *seen_prepare;  /* ... in a PREPARE (a checker that abstains sends none) */
	bft_view *seen_view;    /* highest view of each replica's signed PRE-PREPARE, PREPARE,
	                         * COMMIT, VIEW-CHANGE or NEW-VIEW that reached us */

	/* Byzantine behaviour (NULL for a correct replica) */
	uint64_t byz_sent;
	uint8_t *replay[REPLAY_KEEP];
	uint32_t replay_len[REPLAY_KEEP];
	uint32_t nreplay;
	uint64_t byz_rng;
	bft_view byz_spam_view;
	uint64_t byz_replay_ms, byz_spam_ms; /* the unsolicited sends run at a bounded rate */
	uint64_t *served_ms;     /* per peer: when we last answered its FETCH(LOG) */
	uint64_t *push_ms;       /* per peer: when to push it our stable checkpoint proof (0: no) */
	uint32_t *push_periods;  /* per peer: the current back-off, in retransmit periods */
	uint64_t *chunk_ms;      /* per peer: start of its current state-chunk allowance */
	uint32_t *chunks;        /* per peer: chunks served in that allowance */

	bool restarted_inactive; /* recovered into a view we must rejoin by VIEW-CHANGE */
	bool restored;           /* recovered from records: re-send our votes at the first step */
	bool booted;             /* the first step was taken */
	bool abstain;            /* restarted: no new PRE-PREPARE or PREPARE in views <= ... */
	bft_view abstain_view;   /* ... this one (pbft.h pbft_restore) */
	bft_seq read_fence;      /* the highest prepared certificate recovered from records: no
	                          * read-only answers until it is executed (on_request) */
	bft_seq highest_pp;      /* the highest sequence number pre-prepared in this view */

	/* Shared batch checks: slots holding a PRE-PREPARE, and the stretch of sequence numbers
	 * this backup checks itself after waits ran out (check_backoff consecutive ones). */
	uint32_t nheld;
	bft_seq check_all_until;
	uint32_t check_backoff;

	/* PRE-PREPAREs, PREPAREs and COMMITs of a view we have not installed yet: the new primary
	 * sends NEW-VIEW and then the O set's PRE-PREPAREs, and the network may deliver those
	 * first. They are kept (verified, bounded) and replayed when the view is installed. Each
	 * sender has an equal share of the buffer (early_max / n), so a faulty replica flooding it
	 * with messages of the next view evicts only its own, never the new primary's. */
	struct early {
		uint8_t *frame;
		uint32_t len;
		bft_view view;
		bft_replica_id sender;
	} *early;
	uint32_t nearly, early_max;
	uint32_t *early_count;   /* n entries: messages kept per sender */
	uint64_t early_evicted;  /* kept messages pushed out by a newer one of the same sender */

	/* Adaptive throughput (Aardvark §4.3; see "Adaptive throughput" below). */
	struct tput_view {
		uint32_t best;      /* the view's best period with demand, in requests */
		uint64_t end_ms;    /* when the view was left */
		bool failed;        /* left because its primary failed the throughput test */
	} tput_hist[PBFT_TPUT_VIEWS_MAX];
	uint32_t tput_nhist;        /* entries used, the newest at tput_hist[0] */
	bool tput_started;          /* the first step set the clock below */
	uint64_t tput_view_ms;      /* when the current view became active */
	uint64_t tput_period_ms;    /* start of the current period */
	uint64_t tput_last_ms;      /* the previous step, for busy time */
	uint64_t tput_busy_ms;      /* time in this period with work outstanding */
	bool tput_busy;             /* work was outstanding after the previous step */
	uint32_t tput_count;        /* requests executed in this period */
	uint32_t tput_best;         /* best period with demand in this view */
	bool tput_demand_seen;      /* this view had a period with demand */
	uint32_t tput_required;     /* 0: not computed yet in this view */
	uint32_t tput_ceiling;      /* the required count's upper bound in this view */
	uint32_t tput_step;         /* its raise per period met */
	bool tput_suspect;          /* the primary failed the test: change view */

	struct pbft_status st;
};

void pbft_config_default(struct pbft_config *c)
{
	memset(c, 0, sizeof(*c));
	bft_log_config_default(&c->log);
	c->view_timeout_ms = 1000;
	c->view_timeout_max_ms = 30000;
	c->fetch_timeout_ms = 500;
	c->retransmit_ms = RETRANSMIT_MS_DEFAULT;
	c->preprepare_timeout_ms = 250;
	c->batch_inflight = 1;
	c->check_wait_ms = 100;
	c->tput_period_ms = 1000;
	c->tput_grace_ms = 2000;
	c->tput_fraction_pct = 90;
	c->tput_fraction_max_pct = 95;
	c->tput_raise_pct = 1;
	c->tput_views = 8;
	c->tput_decay_ms = 60000;
	c->tput_demand_pct = 50;
	c->tput_min_requests = 4;
}

/* For sends whose failure (out of memory) leaves nothing to undo: the peer retransmits. */
static void ignore_err(enum bft_err e)
{
	(void)e;
}

static bool is_primary(const struct pbft *p)
{
	return pbft_primary(p->view, p->n) == p->self;
}

static struct slot *slot_get(struct pbft *p, bft_seq seq)
{
	struct slot *s = &p->slots[seq % p->nslots];
	return s->seq == seq ? s : NULL;
}

static void votes_clear(struct vote *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		free(v[i].env);
		memset(&v[i], 0, sizeof(v[i]));
	}
}

/* Forgets the slot's PRE-PREPARE (its bytes and decoded form). */
static void slot_drop_preprepare(struct slot *s)
{
	if (s->has_pp) {
		wire_msg_free(&s->ppm);
		free(s->pp);
	}
	s->has_pp = false;
	s->pp = NULL;
	s->pp_len = 0;
	memset(&s->ppm, 0, sizeof(s->ppm));
}

/* Forgets a PRE-PREPARE held for vouchers. */
static void slot_drop_held(struct pbft *p, struct slot *s)
{
	if (s->held == NULL)
		return;
	free(s->held);
	s->held = NULL;
	s->held_len = 0;
	p->nheld--;
}

static void slot_drop_cc(struct pbft *p, struct slot *s)
{
	free(s->cc_pp);
	s->cc_pp = NULL;
	s->cc_pp_len = 0;
	votes_clear(s->cc_commit, p->n);
	s->has_cc = false;
}

/* Before a committed slot's view state goes: its PRE-PREPARE and matching COMMITs become the
 * slot's commit certificate (moved, not copied). */
static void slot_keep_cc(struct pbft *p, struct slot *s)
{
	if (!s->committed || !s->has_pp)
		return;
	slot_drop_cc(p, s);
	s->has_cc = true;
	s->cc_view = s->view;
	s->cc_pp = s->pp;
	s->cc_pp_len = s->pp_len;
	wire_msg_free(&s->ppm);
	memset(&s->ppm, 0, sizeof(s->ppm));
	s->has_pp = false;
	s->pp = NULL;
	s->pp_len = 0;
	for (uint32_t i = 0; i < p->n; i++) {
		struct vote *v = &s->commit[i];
		if (!(v->have && v->view == s->commit_view &&
		      cr_equal(v->digest, s->digest, CR_DIGEST_BYTES)))
			v = &s->ocommit[i];
		if (v->have && v->view == s->commit_view &&
		    cr_equal(v->digest, s->digest, CR_DIGEST_BYTES)) {
			s->cc_commit[i] = *v;
			memset(v, 0, sizeof(*v));
		}
	}
}

static void slot_clear_view_state(struct pbft *p, struct slot *s)
{
	slot_keep_cc(p, s);
	slot_drop_preprepare(s);
	slot_drop_held(p, s);
	votes_clear(s->prep, p->n);
	votes_clear(s->commit, p->n);
	votes_clear(s->ocommit, p->n);
	s->sent_prepare = s->sent_commit = s->prepared = s->committed = false;
}

/* Before a PRE-PREPARE of view v is accepted into a slot: drops what the slot held of older
 * views (their PRE-PREPARE, votes and flags) but keeps the PREPAREs and COMMITs of view v that
 * arrived before the PRE-PREPARE did. The network reorders: throwing those away would leave
 * the slot short of a quorum that was in fact reached (TOCS §4.2 logs messages as they come,
 * whatever their order). */
static void slot_clear_before(struct pbft *p, struct slot *s, bft_view v)
{
	slot_keep_cc(p, s);
	slot_drop_preprepare(s);
	slot_drop_held(p, s);
	for (uint32_t i = 0; i < p->n; i++) {
		if (s->prep[i].have && s->prep[i].view < v)
			votes_clear(&s->prep[i], 1);
		if (s->commit[i].have && s->commit[i].view < v)
			votes_clear(&s->commit[i], 1);
	}
	s->sent_prepare = s->sent_commit = s->prepared = s->committed = false;
}

static void slot_clear_pc(struct slot *s)
{
	for (uint32_t i = 0; i < s->pc_nprep; i++)
		free((void *)(uintptr_t)s->pc_prep[i].p);
	free(s->pc_prep);
	free(s->pc_pp);
	s->has_pc = false;
	s->pc_pp = NULL;
	s->pc_prep = NULL;
	s->pc_nprep = 0;
	s->pc_pp_len = 0;
}

static void slot_clear(struct pbft *p, struct slot *s)
{
	slot_clear_view_state(p, s);
	slot_drop_cc(p, s);
	slot_clear_pc(s);
	s->fixed = false;
	s->seq = 0;
}

/* The slot for seq, claimed if free or holding a collected older sequence number. NULL when seq
 * is outside the window. */
static struct slot *slot_claim(struct pbft *p, bft_seq seq)
{
	struct slot *s;

	if (!bft_log_in_window(p->log, seq))
		return NULL;
	s = &p->slots[seq % p->nslots];
	if (s->seq != seq) {
		/* The window is exactly nslots wide, so whatever sits here is below the low
		 * watermark now and was garbage-collected in spirit (TOCS §4.3). */
		slot_clear(p, s);
		s->seq = seq;
	}
	return s;
}

enum bft_err pbft_new(struct pbft **out, const struct pbft_config *cfg)
{
	struct pbft *p;
	enum bft_err e;

	if (cfg->view_timeout_ms == 0 || cfg->retransmit_ms == 0 || cfg->fetch_timeout_ms == 0 ||
	    cfg->preprepare_timeout_ms == 0)
		return BFT_EINVAL;
	if (cfg->tput_period_ms != 0 &&
	    (cfg->tput_fraction_pct > cfg->tput_fraction_max_pct || cfg->tput_fraction_max_pct > 100 ||
	     cfg->tput_views == 0 || cfg->tput_views > PBFT_TPUT_VIEWS_MAX ||
	     cfg->tput_decay_ms == 0 || cfg->tput_demand_pct > 100))
		return BFT_EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return BFT_ENOMEM;
	p->cfg = *cfg;
	p->n = cfg->log.n;
	p->f = bft_f(p->n);
	p->q = bft_quorum(p->n);
	p->self = cfg->log.self;
	e = bft_log_new(&p->log, &cfg->log);
	if (e != BFT_OK) {
		free(p);
		return e;
	}
	p->nslots = cfg->log.window;
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	p->vc = calloc(p->n, sizeof(*p->vc));
	p->vc_len = calloc(p->n, sizeof(*p->vc_len));
	p->vc_view = calloc(p->n, sizeof(*p->vc_view));
	p->seen_seq = calloc(p->n, sizeof(*p->seen_seq));
	p->seen_prepare = calloc(p->n, sizeof(*p->seen_prepare));
	p->seen_view = calloc(p->n, sizeof(*p->seen_view));
	p->served_ms = calloc(p->n, sizeof(*p->served_ms));
	p->chunk_ms = calloc(p->n, sizeof(*p->chunk_ms));
	p->chunks = calloc(p->n, sizeof(*p->chunks));
	p->push_ms = calloc(p->n, sizeof(*p->push_ms));
	p->push_periods = calloc(p->n, sizeof(*p->push_periods));
	if (p->slots == NULL || p->vc == NULL || p->vc_len == NULL || p->vc_view == NULL ||
	    p->seen_seq == NULL || p->served_ms == NULL || p->chunk_ms == NULL || p->chunks == NULL ||
	    p->push_ms == NULL || p->push_periods == NULL || p->seen_view == NULL ||
	    p->seen_prepare == NULL) {
		pbft_free(p);
		return BFT_ENOMEM;
	}
	for (uint32_t i = 0; i < p->nslots; i++) {
		p->slots[i].prep = calloc(p->n, sizeof(struct vote));
		p->slots[i].commit = calloc(p->n, sizeof(struct vote));
		p->slots[i].cc_commit = calloc(p->n, sizeof(struct vote));
		p->slots[i].ocommit = calloc(p->n, sizeof(struct vote));
		if (p->slots[i].prep == NULL || p->slots[i].commit == NULL ||
		    p->slots[i].cc_commit == NULL || p->slots[i].ocommit == NULL) {
			pbft_free(p);
			return BFT_ENOMEM;
		}
	}
	/* Each sender's share (early_share) holds what a correct replica may send for the next
	 * view before its NEW-VIEW arrives: a PRE-PREPARE, or a PREPARE and a COMMIT, for every
	 * slot of the window. */
	p->early_max = p->n * (2 * p->nslots + 2);
	p->early = calloc(p->early_max, sizeof(*p->early));
	p->early_count = calloc(p->n, sizeof(*p->early_count));
	if (p->early == NULL || p->early_count == NULL) {
		pbft_free(p);
		return BFT_ENOMEM;
	}
	p->active = true;
	p->next_seq = 1;
	p->byz_rng = cfg->byz ? cfg->byz->seed | 1u : 1u;
	*out = p;
	return BFT_OK;
}

void pbft_free(struct pbft *p)
{
	if (p == NULL)
		return;
	if (p->slots != NULL)
		for (uint32_t i = 0; i < p->nslots; i++) {
			if (p->slots[i].prep != NULL && p->slots[i].commit != NULL &&
			    p->slots[i].cc_commit != NULL && p->slots[i].ocommit != NULL)
				slot_clear(p, &p->slots[i]);
			free(p->slots[i].prep);
			free(p->slots[i].commit);
			free(p->slots[i].cc_commit);
			free(p->slots[i].ocommit);
		}
	free(p->slots);
	if (p->vc != NULL)
		for (uint32_t i = 0; i < p->n; i++)
			free(p->vc[i]);
	free(p->vc);
	free(p->vc_len);
	free(p->vc_view);
	if (p->early != NULL)
		for (uint32_t i = 0; i < p->nearly; i++)
			free(p->early[i].frame);
	free(p->early);
	free(p->early_count);
	free(p->seen_seq);
	free(p->seen_prepare);
	free(p->seen_view);
	free(p->served_ms);
	free(p->chunk_ms);
	free(p->chunks);
	free(p->push_ms);
	free(p->push_periods);
	free(p->nv);
	for (uint32_t i = 0; i < p->nreplay; i++)
		free(p->replay[i]);
	bft_log_free(p->log);
	free(p);
}

struct bft_log *pbft_log(struct pbft *p)
{
	return p->log;
}

void pbft_status(const struct pbft *p, struct pbft_status *st)
{
	*st = p->st;
	st->view = p->view;
	st->view_active = p->active;
	st->primary = pbft_primary(p->view, p->n);
	st->last_executed = bft_log_last_executed(p->log);
	st->low = bft_log_low(p->log);
	st->high = bft_log_high(p->log);
	st->next_seq = p->next_seq;
	st->pending = bft_log_pending(p->log);
	st->early_kept = p->nearly;
	st->early_evicted = p->early_evicted;
	st->behind = bft_log_behind(p->log, &(bft_seq){0});
	st->tput_required = p->tput_required;
}

/* ---------------------------------------------------------------------------------------- */
/* Sending */

static uint8_t *dup_bytes(const void *src, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);
	if (d != NULL && len)
		memcpy(d, src, len);
	return d;
}

/* Signs and encodes m; on success *env owns the envelope. */
static enum bft_err seal(struct pbft *p, struct bft_msg *m, struct wire_buf *env)
{
	m->version = BFT_WIRE_VERSION;
	m->sender = p->self;
	memset(env, 0, sizeof(*env));
	enum bft_err e = wire_encode(m, p->cfg.log.id, env);
	if (e != BFT_OK)
		wire_buf_free(env);
	return e;
}

/* ---------------------------------------------------------------------------------------- */
/* Normal case (TOCS §4.2) */

static enum bft_err try_progress(struct pbft *p, uint64_t now, struct bft_out *out);

static uint32_t count_votes(const struct vote *v, uint32_t n, bft_view view,
			    const uint8_t digest[CR_DIGEST_BYTES], bft_replica_id skip)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++)
		if (i != skip && v[i].have && v[i].view == view &&
		    cr_equal(v[i].digest, digest, CR_DIGEST_BYTES))
			k++;
	return k;
}

/* Stores a PREPARE or COMMIT envelope as sender's latest vote for the slot. */
static enum bft_err vote_store(struct vote *v, const struct bft_msg *m)
{
	uint8_t *c;

	if (v->have && v->view == m->u.phase.view) {
		if (!cr_equal(v->digest, m->u.phase.digest, CR_DIGEST_BYTES))
			return BFT_ECONFLICT;
		return BFT_EDUP;
	}
	if (v->have && v->view > m->u.phase.view)
		return BFT_ESTALE;
	c = dup_bytes(m->frame.p, m->frame.len);
	if (c == NULL)
		return BFT_ENOMEM;
	free(v->env);
	v->env = c;
	v->len = m->frame.len;
	v->have = true;
	v->view = m->u.phase.view;
	memcpy(v->digest, m->u.phase.digest, CR_DIGEST_BYTES);
	return BFT_OK;
}

/* False in a view a restarted replica may have voted in before its crash (pbft.h pbft_restore):
 * there it sends no new PRE-PREPARE or PREPARE. */
static bool may_vote(const struct pbft *p, bft_view view)
{
	return !p->abstain || view > p->abstain_view;
}

static enum bft_err send_phase(struct pbft *p, struct slot *s, enum bft_msg_type type,
			       struct bft_out *out)
{
	struct bft_msg m = {.type = type};
	struct wire_buf env;
	struct vote *mine = type == BFT_MSG_PREPARE ? &s->prep[p->self] : &s->commit[p->self];
	enum bft_err e;

	m.u.phase.view = s->view;
	m.u.phase.seq = s->seq;
	memcpy(m.u.phase.digest, s->digest, CR_DIGEST_BYTES);
	e = seal(p, &m, &env);
	if (e != BFT_OK)
		return e;
	/* Our own vote counts towards our quorums and is what we retransmit. */
	free(mine->env);
	mine->env = dup_bytes(env.p, env.len);
	mine->len = mine->env ? (uint32_t)env.len : 0;
	mine->have = mine->env != NULL;
	mine->view = s->view;
	memcpy(mine->digest, s->digest, CR_DIGEST_BYTES);
	return bft_out_msg(out, BFT_TO_ALL, 0, type, env.p, env.len);
}

/* Keeps the prepared certificate (the PRE-PREPARE and 2f matching PREPAREs from backups) when it
 * is of a higher view than the one held (TOCS §4.4: P carries the highest-view certificate). */
static enum bft_err keep_certificate(struct pbft *p, struct slot *s)
{
	bft_replica_id primary = pbft_primary(s->view, p->n);
	struct bft_bytes *prep;
	uint32_t k = 0;

	if (s->has_pc && s->pc_view >= s->view)
		return BFT_OK;
	prep = calloc(2 * p->f, sizeof(*prep));
	if (prep == NULL)
		return BFT_ENOMEM;
	for (uint32_t i = 0; i < p->n && k < 2 * p->f; i++) {
		const struct vote *v = &s->prep[i];
		if (i == primary || !v->have || v->view != s->view ||
		    !cr_equal(v->digest, s->digest, CR_DIGEST_BYTES))
			continue;
		prep[k].p = dup_bytes(v->env, v->len);
		prep[k].len = v->len;
		if (prep[k].p == NULL)
			break;
		k++;
	}
	uint8_t *pp = dup_bytes(s->pp, s->pp_len);
	if (k < 2 * p->f || pp == NULL) {
		for (uint32_t i = 0; i < k; i++)
			free((void *)(uintptr_t)prep[i].p);
		free(prep);
		free(pp);
		return BFT_ENOMEM;
	}
	slot_clear_pc(s);
	s->has_pc = true;
	s->pc_view = s->view;
	memcpy(s->pc_digest, s->digest, CR_DIGEST_BYTES);
	s->pc_pp = pp;
	s->pc_pp_len = s->pp_len;
	s->pc_prep = prep;
	s->pc_nprep = k;
	return BFT_OK;
}

/* Persists a slot's prepared certificate (BFT_REC_PREPARED) before the COMMIT that depends on it
 * leaves: a replica that restarts must still carry its certificates into view changes, or a
 * request committed at others could be lost in the next view (TOCS §4.4 safety argument). The
 * record is a VIEW-CHANGE-shaped envelope holding just this certificate, unsigned. */
static enum bft_err record_certificate(struct pbft *p, struct slot *s, struct bft_out *out)
{
	struct bft_msg m = {.version = BFT_WIRE_VERSION, .type = BFT_MSG_VIEWCHANGE,
			    .sender = p->self};
	struct bft_pcert pc = {.preprepare = {.p = s->pc_pp, .len = s->pc_pp_len},
			       .prepares = s->pc_prep, .nprepares = s->pc_nprep};
	struct wire_buf b = {0};
	enum bft_err e;

	m.u.viewchange.view = s->pc_view;
	m.u.viewchange.prepared = &pc;
	m.u.viewchange.nprepared = 1;
	e = wire_encode(&m, NULL, &b);
	if (e != BFT_OK) {
		wire_buf_free(&b);
		return e;
	}
	return bft_out_record(out, BFT_REC_PREPARED, s->seq, b.p, b.len);
}

/* Re-evaluates the prepared and committed-local predicates of a slot (TOCS §4.2) and sends the
 * COMMIT when it becomes prepared. */
static enum bft_err slot_update(struct pbft *p, struct slot *s, struct bft_out *out)
{
	enum bft_err e = BFT_OK;

	if (!s->has_pp || s->view != p->view || !p->active)
		return BFT_OK;
	/* prepared(m, v, n, i): the pre-prepare and 2f matching PREPAREs from distinct backups (the
	 * primary's PRE-PREPARE stands for its prepare). */
	if (!s->prepared && count_votes(s->prep, p->n, s->view, s->digest,
					pbft_primary(s->view, p->n)) >= 2 * p->f) {
		s->prepared = true;
		e = keep_certificate(p, s);
		if (e == BFT_OK)
			e = record_certificate(p, s, out);
		if (e != BFT_OK)
			return e;
	}
	if (s->prepared && !s->sent_commit) {
		s->sent_commit = true;
		e = send_phase(p, s, BFT_MSG_COMMIT, out);
		if (e != BFT_OK)
			return e;
	}
	/* committed-local(m, v, n, i): 2f+1 matching COMMITs. Prepared here or not (PREPAREs may
	 * have been lost on the way): f+1 correct replicas are prepared, so committed(m, v, n)
	 * holds (TOCS §4.2) and, holding the batch, we may execute it, as on_old_commit does for a
	 * view we left. A replica not prepared sends no COMMIT of its own. */
	if (!s->committed &&
	    count_votes(s->commit, p->n, s->view, s->digest, UINT32_MAX) >= p->q) {
		s->committed = true;
		s->commit_view = s->view;
	}
	return e;
}

/* Executes committed slots in sequence order (TOCS §4.2: "executes the operation after all
 * requests with lower sequence numbers have been executed"). */
static enum bft_err execute_ready(struct pbft *p, uint64_t now, struct bft_out *out)
{
	for (;;) {
		bft_seq next = bft_log_last_executed(p->log) + 1;
		struct slot *s = slot_get(p, next);
		enum bft_err e;

		struct bft_msg cm;
		const struct bft_preprepare *pp;
		bool from_cc = false;

		if (s == NULL)
			return BFT_OK;
		if (s->committed && s->has_pp) {
			pp = &s->ppm.u.preprepare;
		} else if (s->has_cc) {
			/* Committed in a view left before an earlier slot let it execute. */
			if (wire_decode(&p->cfg.log.limits, s->cc_pp, s->cc_pp_len, &cm) != BFT_OK)
				return BFT_EMALFORMED;
			pp = &cm.u.preprepare;
			from_cc = true;
		} else {
			return BFT_OK;
		}
		e = bft_log_execute(p->log, next, p->view, pp->time_ms, pp->requests,
				    pp->nrequests, out);
		if (e == BFT_OK && !from_cc) {
			if (p->active)
				p->tput_count += pp->nrequests;
			p->vc_attempts = 0; /* progress in this view: timeouts reset (TOCS §4.5.2) */
		}
		if (from_cc)
			wire_msg_free(&cm);
		if (e != BFT_OK)
			return e;
		p->progress_ms = now;
	}
}

/* Validates the batch of a PRE-PREPARE (digest and client authentication). `how` is
 * BFT_CHECK_MAC for a new proposal (log.h: a backup may accept a request by its MAC; the primary
 * verified the signature of every request it orders when it arrived), and BFT_CHECK_CERTIFIED
 * when a quorum has vouched for this very batch already: a digest a NEW-VIEW fixed came from a
 * prepared certificate (TOCS §4.4), and a PRE-PREPARE of an older view executes only with 2f+1
 * COMMITs of its view; either way at least f+1 correct replicas authenticated the requests. A
 * request accepted by MAC may carry a bad signature (its client is faulty, and so was the
 * primary that ordered it), and the client can make every MAC stale by opening a new session:
 * re-checking such a batch by signature would leave it unorderable in every later view. */
static enum bft_err check_preprepare_shape(const struct pbft *p, const struct bft_msg *m)
{
	const struct bft_preprepare *pp = &m->u.preprepare;
	uint8_t d[CR_DIGEST_BYTES];

	bft_batch_digest(pp->time_ms, pp->requests, pp->nrequests, d);
	if (!cr_equal(d, pp->digest, CR_DIGEST_BYTES))
		return BFT_EDIGEST;
	if (pp->nrequests > p->cfg.log.batch_max_requests)
		return BFT_ETOOBIG;
	return BFT_OK;
}

static enum bft_err check_preprepare_body(struct pbft *p, const struct bft_msg *m,
					  enum bft_check_auth how)
{
	enum bft_err e = check_preprepare_shape(p, m);

	if (e != BFT_OK)
		return e;
	return bft_log_check_requests(p->log, m->u.preprepare.requests, m->u.preprepare.nrequests,
				      how);
}

static enum bft_err accept_preprepare(struct pbft *p, struct slot *s, const struct bft_msg *m,
				      struct bft_out *out)
{
	uint8_t *copy = dup_bytes(m->frame.p, m->frame.len);
	struct bft_msg dm;
	enum bft_err e;

	if (copy == NULL)
		return BFT_ENOMEM;
	e = wire_decode(&p->cfg.log.limits, copy, m->frame.len, &dm);
	if (e != BFT_OK) {
		free(copy);
		return e;
	}
	slot_clear_before(p, s, m->u.preprepare.view);
	s->has_pp = true;
	s->view = m->u.preprepare.view;
	memcpy(s->digest, m->u.preprepare.digest, CR_DIGEST_BYTES);
	s->pp = copy;
	s->pp_len = m->frame.len;
	s->ppm = dm;
	/* Persist what we accepted before the PREPARE that depends on it leaves, so a restarted
	 * replica never prepares a second digest for this (view, seq). */
	uint8_t *rec = dup_bytes(copy, m->frame.len);
	if (rec == NULL)
		return BFT_ENOMEM;
	e = bft_out_record(out, BFT_REC_PREPREPARE, s->seq, rec, m->frame.len);
	if (e != BFT_OK)
		return e;
	bft_log_mark_proposed(p->log, dm.u.preprepare.requests, dm.u.preprepare.nrequests);
	if (s->seq > p->highest_pp)
		p->highest_pp = s->seq;
	if (pbft_primary(s->view, p->n) != p->self && may_vote(p, s->view)) {
		s->sent_prepare = true;
		e = send_phase(p, s, BFT_MSG_PREPARE, out);
	}
	return e;
}

/* Keeps a verified message of a view not installed yet (see struct early). Only the next few
 * views are worth keeping; a full buffer drops the oldest, so a faulty replica flooding future
 * views costs bounded memory and can only delay, through retransmission, what it pushes out. */
/* Each sender's share of the early-message buffer (pbft_new sizes it). */
static uint32_t early_share(const struct pbft *p)
{
	return p->early_max / p->n;
}

static enum bft_err keep_early(struct pbft *p, const struct bft_msg *m, bft_view view)
{
	uint8_t *c;

	if (view > p->view + 2)
		return BFT_EVIEW;
	c = dup_bytes(m->frame.p, m->frame.len);
	if (c == NULL)
		return BFT_ENOMEM;
	if (p->early_count[m->sender] >= early_share(p) || p->nearly == p->early_max) {
		/* The sender's oldest kept message makes room (the whole buffer's oldest only if
		 * the shares did not add up, which early_share rules out). */
		uint32_t k = 0;
		while (k < p->nearly && p->early[k].sender != m->sender)
			k++;
		if (k == p->nearly)
			k = 0;
		p->early_count[p->early[k].sender]--;
		free(p->early[k].frame);
		memmove(p->early + k, p->early + k + 1, (p->nearly - k - 1) * sizeof(*p->early));
		p->nearly--;
		p->early_evicted++;
	}
	p->early[p->nearly++] = (struct early){.frame = c, .len = m->frame.len, .view = view,
					       .sender = (bft_replica_id)m->sender};
	p->early_count[m->sender]++;
	return BFT_OK;
}

static enum bft_err on_phase(struct pbft *p, const struct bft_msg *m, uint64_t now,
			     struct bft_out *out);
static enum bft_err on_preprepare(struct pbft *p, const struct bft_msg *m, uint64_t now,
				  struct bft_out *out);

/* Replays the kept messages of the view just installed, drops those of older views. */
static enum bft_err replay_early(struct pbft *p, uint64_t now, struct bft_out *out)
{
	struct early *list = p->early;
	uint32_t n = p->nearly, keep = 0;
	enum bft_err e = BFT_OK;

	p->early = calloc(p->early_max, sizeof(*p->early));
	p->nearly = 0;
	if (p->early == NULL) {
		p->early = list;
		p->nearly = n;
		return BFT_ENOMEM;
	}
	memset(p->early_count, 0, p->n * sizeof(*p->early_count));
	for (uint32_t i = 0; i < n; i++) {
		struct bft_msg m;
		if (list[i].view == p->view &&
		    wire_decode(&p->cfg.log.limits, list[i].frame, list[i].len, &m) == BFT_OK) {
			/* Rejections here were counted when the message first came; ignore them. */
			if (m.type == BFT_MSG_PREPREPARE)
				(void)on_preprepare(p, &m, now, out);
			else
				(void)on_phase(p, &m, now, out);
			wire_msg_free(&m);
		} else if (list[i].view > p->view && keep < p->early_max && p->nearly < p->early_max) {
			p->early_count[list[i].sender]++;
			p->early[p->nearly++] = list[i];
			list[i].frame = NULL;
			keep++;
		}
		free(list[i].frame);
	}
	free(list);
	return e;
}

/* The batch half of on_old_commit's commit certificate: a PRE-PREPARE of a view we have left,
 * from that view's primary, for a slot above what we executed that holds nothing of that view
 * or later. It is kept only so that 2f+1 COMMITs of its view can execute it; no PREPARE is
 * sent for it (we are not in its view), and enter_view drops it like any older view's state. */
static uint32_t count_commits(const struct pbft *p, const struct slot *s, bft_view view,
			      const uint8_t digest[CR_DIGEST_BYTES]);

static enum bft_err on_old_preprepare(struct pbft *p, const struct bft_msg *m, uint64_t now,
				      struct bft_out *out)
{
	const struct bft_preprepare *pp = &m->u.preprepare;
	struct slot *s;
	enum bft_err e;

	if (!bft_log_in_window(p->log, pp->seq) || pp->seq <= bft_log_last_executed(p->log))
		return BFT_EVIEW;
	s = slot_get(p, pp->seq);
	/* A slot committed in its view executes as it is: a primary of a view between that one
	 * and ours must not be able to replace it (and cost us the batch check) for nothing. */
	if (s != NULL && s->has_pp && (s->view >= pp->view || s->committed))
		return BFT_EVIEW;
	if (pp->time_ms > now + TIME_SKEW_MS)
		return BFT_EINVAL;
	e = check_preprepare_body(p, m, BFT_CHECK_CERTIFIED);
	if (e != BFT_OK)
		return e;
	s = slot_claim(p, pp->seq);
	if (s == NULL)
		return BFT_ESEQ;
	uint8_t *copy = dup_bytes(m->frame.p, m->frame.len);
	struct bft_msg dm;
	if (copy == NULL)
		return BFT_ENOMEM;
	if (wire_decode(&p->cfg.log.limits, copy, m->frame.len, &dm) != BFT_OK) {
		free(copy);
		return BFT_EMALFORMED;
	}
	slot_clear_before(p, s, pp->view);
	s->has_pp = true;
	s->view = pp->view;
	memcpy(s->digest, pp->digest, CR_DIGEST_BYTES);
	s->pp = copy;
	s->pp_len = m->frame.len;
	s->ppm = dm;
	/* The COMMITs may have come first (the network reorders): a certificate among them for
	 * this digest commits the slot now. */
	for (uint32_t i = 0; i < p->n; i++) {
		const struct vote *v[2] = {&s->commit[i], &s->ocommit[i]};
		for (int k = 0; k < 2; k++)
			if (v[k]->have && cr_equal(v[k]->digest, s->digest, CR_DIGEST_BYTES) &&
			    count_commits(p, s, v[k]->view, s->digest) >= p->q) {
				s->committed = true;
				s->commit_view = v[k]->view;
				return execute_ready(p, now, out);
			}
	}
	return BFT_OK;
}

/*
 * Shared batch checks. A correct backup prepares only a valid batch: every request
 * authenticated by its client, none twice (TOCS §4.2, §4.1 for requests). Checking it is a
 * backup's dominant cost, one Ed25519 verification per signed request, but it need not be paid
 * by every backup. f+1 distinct replicas vouching for (view, seq, digest) — the primary by its
 * PRE-PREPARE, backups by matching PREPAREs — include a correct one, and a correct replica
 * vouches only for a valid batch: it checked the batch, or it saw f+1 vouchers itself, and
 * by induction on the time of sending the first correct voucher checked. (Validity is a
 * deterministic function of the batch bytes, so one correct checker speaks for all; with MAC
 * sessions a request is valid when a correct replica accepted it by its MAC, the same rule
 * as BFT_CHECK_CERTIFIED.) So for each new batch the f backups at offsets 1 + (seq + k) mod
 * (n - 1), k < f, after the primary check at once, and every other backup holds the
 * PRE-PREPARE until f matching PREPAREs from backups are in, then prepares it unchecked. The
 * prepared certificate (PRE-PREPARE + 2f PREPAREs) forms as before and means what it meant, so
 * view changes are untouched. At n = 4 two replicas check a batch instead of four.
 *
 * Liveness: a backup does not wait for a checker that has shown it nothing of the last
 * CHECKER_LAG sequence numbers, or nothing of this view (crashed, cut off or behind). A held PRE-PREPARE whose vouchers
 * are not in within check_wait_ms (a checker that withholds its PREPAREs, lost messages) is
 * checked by the holder, which then checks every batch
 * itself for the next CHECK_ALL_SEQS sequence numbers, doubled for each consecutive expiry: a
 * faulty checker costs at most one wait per stretch.
 */
static bool holds_for_vouchers(const struct pbft *p, bft_view v, bft_seq seq)
{
	bft_replica_id primary = pbft_primary(v, p->n);

	if (p->cfg.check_wait_ms == 0 || p->f == 0 || primary == p->self ||
	    seq <= p->check_all_until)
		return false;
	/* The checkers are the backups at offsets 1 + (seq + k) mod (n - 1), k < f, from the
	 * primary. We check ourselves if we are one of them, and also if one of them has sent us
	 * no PREPARE for the last CHECKER_LAG sequence numbers or nothing of this view (crashed,
	 * cut off, behind, restarted and abstaining in this view, pbft.h pbft_restore, or the
	 * primary just replaced): waiting for it would only run out. */
	for (uint32_t k = 0; k < p->f; k++) {
		bft_replica_id r = (bft_replica_id)((primary + 1 + (seq + k) % (p->n - 1)) % p->n);
		if (r == p->self || p->seen_prepare[r] == 0 ||
		    p->seen_prepare[r] + CHECKER_LAG < seq || p->seen_view[r] < v)
			return false;
	}
	return true;
}

static uint32_t vouchers(const struct pbft *p, const struct slot *s, bft_view v,
			 const uint8_t digest[CR_DIGEST_BYTES])
{
	return count_votes(s->prep, p->n, v, digest, pbft_primary(v, p->n));
}

static enum bft_err hold_preprepare(struct pbft *p, struct slot *s, const struct bft_msg *m,
				    uint64_t now)
{
	uint8_t *copy = dup_bytes(m->frame.p, m->frame.len);

	if (copy == NULL)
		return BFT_ENOMEM;
	slot_drop_held(p, s);
	s->held = copy;
	s->held_len = m->frame.len;
	s->held_view = m->u.preprepare.view;
	memcpy(s->held_digest, m->u.preprepare.digest, CR_DIGEST_BYTES);
	s->held_deadline = now + p->cfg.check_wait_ms;
	p->nheld++;
	return BFT_OK;
}

/* Accepts a new batch of the current view that passed its checks (or its vouchers), as
 * on_preprepare would, and moves the slot on. */
static enum bft_err accept_new(struct pbft *p, struct slot *s, const struct bft_msg *m,
			       uint64_t now, struct bft_out *out)
{
	enum bft_err e;

	/* Sequence numbers the primary uses are taken: a new primary of a later view resumes
	 * after the highest it has seen. */
	if (m->u.preprepare.seq >= p->next_seq)
		p->next_seq = m->u.preprepare.seq + 1;
	e = accept_preprepare(p, s, m, out);
	if (e != BFT_OK)
		return e;
	e = slot_update(p, s, out);
	if (e != BFT_OK)
		return e;
	return execute_ready(p, now, out);
}

/* Releases the slot's held PRE-PREPARE: unchecked when vouched, else after checking it. */
static enum bft_err release_held(struct pbft *p, struct slot *s, bool vouched, uint64_t now,
				 struct bft_out *out)
{
	uint8_t *frame = s->held;
	struct bft_msg m;
	enum bft_err e;

	s->held = NULL;
	p->nheld--;
	e = wire_decode(&p->cfg.log.limits, frame, s->held_len, &m);
	s->held_len = 0;
	if (e != BFT_OK) {
		free(frame);
		return e;
	}
	if (vouched) {
		p->st.batches_vouched++;
		p->check_backoff = 0;
	} else {
		p->st.batches_checked++;
		e = bft_log_check_requests(p->log, m.u.preprepare.requests,
					   m.u.preprepare.nrequests, BFT_CHECK_MAC);
	}
	if (e == BFT_OK)
		e = accept_new(p, s, &m, now, out);
	wire_msg_free(&m);
	free(frame);
	return e;
}

/* Timer: held PRE-PREPAREs whose wait ran out are checked here (or dropped if their view is
 * no longer the active one); each expiry widens the stretch checked without waiting. */
static enum bft_err release_expired(struct pbft *p, uint64_t now, struct bft_out *out)
{
	for (uint32_t i = 0; i < p->nslots && p->nheld > 0; i++) {
		struct slot *s = &p->slots[i];
		enum bft_err e;

		if (s->held == NULL || s->held_deadline > now)
			continue;
		if (!p->active || s->held_view != p->view) {
			slot_drop_held(p, s);
			continue;
		}
		p->st.check_waits_expired++;
		uint64_t stretch = (uint64_t)CHECK_ALL_SEQS << p->check_backoff;
		if (s->seq + stretch > p->check_all_until)
			p->check_all_until = s->seq + stretch;
		if (p->check_backoff < CHECK_BACKOFF_MAX)
			p->check_backoff++;
		e = release_held(p, s, false, now, out);
		/* A batch that fails its check is refused as on arrival, counted here since no
		 * message is being answered; running out of memory is the caller's. */
		if (e == BFT_ENOMEM)
			return e;
		if (e != BFT_OK && e < BFT_ERR_COUNT)
			p->st.faults[e]++;
	}
	return BFT_OK;
}

/* The earliest deadline of a held PRE-PREPARE, 0 when none. */
static uint64_t held_deadline(const struct pbft *p)
{
	uint64_t t = 0;

	for (uint32_t i = 0; i < p->nslots && p->nheld > 0; i++) {
		const struct slot *s = &p->slots[i];
		if (s->held != NULL && (t == 0 || s->held_deadline < t))
			t = s->held_deadline;
	}
	return t;
}

/* The slot for a checked PRE-PREPARE of the current view, and the PRE-PREPARE accepted there. */
static enum bft_err claim_and_accept(struct pbft *p, const struct bft_msg *m, uint64_t now,
				     struct bft_out *out)
{
	struct slot *s = slot_claim(p, m->u.preprepare.seq);

	return s != NULL ? accept_new(p, s, m, now, out) : BFT_ESEQ;
}

static enum bft_err on_preprepare(struct pbft *p, const struct bft_msg *m, uint64_t now,
				  struct bft_out *out)
{
	const struct bft_preprepare *pp = &m->u.preprepare;
	struct slot *s;
	enum bft_err e;

	/* TOCS §4.2: a backup accepts a pre-prepare if it is in view v, the signature is right
	 * (checked by the caller), it has not accepted one for (v, n) with another digest, n is
	 * between the watermarks, and the digest is that of the batch. */
	if (m->sender != pbft_primary(pp->view, p->n))
		return BFT_ENOTPRIMARY;
	if (pp->view > p->view || (pp->view == p->view && !p->active))
		return keep_early(p, m, pp->view);
	if (pp->view < p->view)
		return on_old_preprepare(p, m, now, out);
	if (!bft_log_in_window(p->log, pp->seq))
		return BFT_ESEQ;
	if (pp->seq <= bft_log_last_executed(p->log) && slot_get(p, pp->seq) == NULL)
		return BFT_ESTALE;
	s = slot_get(p, pp->seq);
	if (s != NULL && s->has_pp && s->view == pp->view)
		return cr_equal(s->digest, pp->digest, CR_DIGEST_BYTES) ? BFT_EDUP : BFT_ECONFLICT;
	if (s != NULL && s->held != NULL && s->held_view == pp->view)
		return cr_equal(s->held_digest, pp->digest, CR_DIGEST_BYTES) ? BFT_EDUP
									       : BFT_ECONFLICT;
	bool fixed = s != NULL && s->fixed && s->fixed_view == pp->view;
	if (fixed && !cr_equal(s->fixed_digest, pp->digest, CR_DIGEST_BYTES))
		return BFT_ECONFLICT; /* contradicts the NEW-VIEW's O set (TOCS §4.4) */
	if (pp->time_ms > now + TIME_SKEW_MS)
		return BFT_EINVAL;
	if (!fixed && holds_for_vouchers(p, pp->view, pp->seq)) {
		/* Shared batch checks (above): the f designated backups check this batch. One
		 * this backup can check without a signature (every request by its MAC entry, or
		 * verified when it arrived here) it checks at once: waiting would cost a message
		 * delay and save nothing. */
		e = check_preprepare_body(p, m, BFT_CHECK_MAC_ONLY);
		if (e != BFT_ESTATE) {
			p->st.batches_checked++;
			return e != BFT_OK ? e : claim_and_accept(p, m, now, out);
		}
		s = slot_claim(p, pp->seq);
		if (s == NULL)
			return BFT_ESEQ;
		if (vouchers(p, s, pp->view, pp->digest) < p->f)
			return hold_preprepare(p, s, m, now);
		p->st.batches_vouched++;
		p->check_backoff = 0;
		return accept_new(p, s, m, now, out);
	}
	if (!fixed)
		p->st.batches_checked++;
	e = check_preprepare_body(p, m, fixed ? BFT_CHECK_CERTIFIED : BFT_CHECK_MAC);
	return e != BFT_OK ? e : claim_and_accept(p, m, now, out);
}

/*
 * A COMMIT of a view we have left, for a slot that holds a PRE-PREPARE with the same digest (of
 * that view, or of another: the digest fixes the batch). 2f+1 matching COMMITs of one view make
 * the request committed-local there (TOCS §4.2), and the view-change protocol carries a request
 * committed in view v into every later view at the same sequence number (§4.4, the invariant
 * the NEW-VIEW's O set keeps): executing it is safe whatever view we are in now. Without this a
 * replica whose timer fired just before the last COMMITs reached it stays short of them for
 * good: the others answer its retransmissions with messages of the old view, and it refuses
 * them, while they have no reason to change view. The COMMITs may come relayed in a commit
 * certificate (serve_log), our own among them.
 */
/* COMMITs for (view, digest) among each replica's latest and older kept one. */
static uint32_t count_commits(const struct pbft *p, const struct slot *s, bft_view view,
			      const uint8_t digest[CR_DIGEST_BYTES])
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < p->n; i++)
		if ((s->commit[i].have && s->commit[i].view == view &&
		     cr_equal(s->commit[i].digest, digest, CR_DIGEST_BYTES)) ||
		    (s->ocommit[i].have && s->ocommit[i].view == view &&
		     cr_equal(s->ocommit[i].digest, digest, CR_DIGEST_BYTES)))
			k++;
	return k;
}

/* A replica's COMMIT older than its latest: kept beside it (one per replica) unless the one
 * kept already belongs to a certificate with more votes. A faulty replica can only displace
 * its own older vote this way. */
static enum bft_err old_vote_store(struct pbft *p, struct slot *s, const struct bft_msg *m)
{
	struct vote *v = &s->ocommit[m->sender];
	const struct bft_phase *ph = &m->u.phase;

	if (v->have && v->view == ph->view)
		return cr_equal(v->digest, ph->digest, CR_DIGEST_BYTES) ? BFT_EDUP : BFT_ECONFLICT;
	if (v->have && count_commits(p, s, v->view, v->digest) >
			       count_commits(p, s, ph->view, ph->digest))
		return BFT_ESTALE;
	free(v->env);
	memset(v, 0, sizeof(*v));
	return vote_store(v, m);
}

static enum bft_err on_old_commit(struct pbft *p, const struct bft_msg *m, uint64_t now,
				  struct bft_out *out)
{
	const struct bft_phase *ph = &m->u.phase;
	struct slot *s = slot_get(p, ph->seq);
	enum bft_err e;

	if (!bft_log_in_window(p->log, ph->seq))
		return BFT_ESEQ;
	if (s == NULL || !s->has_pp || s->committed ||
	    !cr_equal(s->digest, ph->digest, CR_DIGEST_BYTES))
		return BFT_EVIEW;
	e = vote_store(&s->commit[m->sender], m);
	if (e == BFT_ESTALE)
		e = old_vote_store(p, s, m);
	if (e != BFT_OK)
		return e;
	if (count_commits(p, s, ph->view, ph->digest) >= p->q) {
		s->committed = true;
		s->commit_view = ph->view;
		return execute_ready(p, now, out);
	}
	return BFT_OK;
}

static enum bft_err on_phase(struct pbft *p, const struct bft_msg *m, uint64_t now,
			     struct bft_out *out)
{
	const struct bft_phase *ph = &m->u.phase;
	struct slot *s;
	enum bft_err e;

	if (ph->view > p->view || (ph->view == p->view && !p->active))
		return keep_early(p, m, ph->view);
	if (m->type == BFT_MSG_COMMIT && ph->view < p->view)
		return on_old_commit(p, m, now, out);
	if (!p->active || ph->view != p->view)
		return BFT_EVIEW;
	if (!bft_log_in_window(p->log, ph->seq))
		return BFT_ESEQ;
	/* TOCS §4.2: the primary does not send PREPAREs; one claiming to come from it is bogus. */
	if (m->type == BFT_MSG_PREPARE && m->sender == pbft_primary(ph->view, p->n))
		return BFT_ENOTPRIMARY;
	s = slot_get(p, ph->seq);
	if (s == NULL) {
		if (ph->seq <= bft_log_last_executed(p->log))
			return BFT_ESTALE;
		s = slot_claim(p, ph->seq);
		if (s == NULL)
			return BFT_ESEQ;
	}
	e = vote_store(m->type == BFT_MSG_PREPARE ? &s->prep[m->sender] : &s->commit[m->sender], m);
	if (e != BFT_OK)
		return e;
	if (m->type == BFT_MSG_PREPARE && s->held != NULL && s->held_view == ph->view &&
	    vouchers(p, s, s->held_view, s->held_digest) >= p->f)
		return release_held(p, s, true, now, out);
	e = slot_update(p, s, out);
	if (e != BFT_OK)
		return e;
	return execute_ready(p, now, out);
}

/* Whether the primary cuts a batch now: at once while fewer than batch_inflight batches are
 * pre-prepared and not yet executed (pbft.h), otherwise by the log's rule (full, or the oldest
 * request waited batch_delay_ms). After a view change the new primary's re-proposed slots count
 * as in flight too, so it does not pile fresh batches on top of a backlog. */
static bool batch_ready(const struct pbft *p, uint64_t now)
{
	uint64_t at;
	bft_seq done = bft_log_last_executed(p->log);
	bft_seq inflight = p->next_seq > done + 1 ? p->next_seq - 1 - done : 0;

	if (p->cfg.batch_inflight > 0 && inflight < p->cfg.batch_inflight &&
	    bft_log_oldest_unproposed(p->log, &at))
		return true;
	return bft_log_batch_ready(p->log, now);
}

/* The primary cuts batches while the batching rule says so and the window has room (TOCS §5.1:
 * batching; the window bounds how many sequence numbers are in flight). */
static enum bft_err propose(struct pbft *p, uint64_t now, struct bft_out *out)
{
	const struct bft_byz *bz = p->cfg.byz;

	if (!p->active || !is_primary(p) || !may_vote(p, p->view))
		return BFT_OK;
	while (bft_log_pending(p->log) > 0 && bft_log_in_window(p->log, p->next_seq)) {
		struct bft_bytes *reqs;
		uint32_t nreq;
		struct bft_msg m = {.type = BFT_MSG_PREPREPARE};
		struct wire_buf env;
		struct slot *s;
		enum bft_err e;

		if (!batch_ready(p, now))
			return BFT_OK;
		/* A slow primary (Byzantine) holds every batch until just before the backups'
		 * timers would fire. */
		uint64_t oldest;
		if (bz && (bz->modes & BFT_BYZ_SLOW_PRIMARY) && bft_log_oldest_pending(p->log, &oldest) &&
		    now < oldest + p->cfg.view_timeout_ms * 9 / 10)
			return BFT_OK;
		e = bft_log_batch_take(p->log, &reqs, &nreq);
		if (e != BFT_OK)
			return e;
		if (nreq == 0) {
			free(reqs);
			return BFT_OK;
		}
		p->last_batch_ms = now > p->last_batch_ms ? now : p->last_batch_ms;
		m.u.preprepare.view = p->view;
		m.u.preprepare.seq = p->next_seq;
		m.u.preprepare.time_ms = p->last_batch_ms;
		m.u.preprepare.requests = reqs;
		m.u.preprepare.nrequests = nreq;
		bft_batch_digest(m.u.preprepare.time_ms, reqs, nreq, m.u.preprepare.digest);
		e = seal(p, &m, &env);
		free(reqs);
		if (e != BFT_OK)
			return e;
		struct bft_msg dm;
		e = wire_decode(&p->cfg.log.limits, env.p, env.len, &dm);
		if (e == BFT_OK) {
			s = slot_claim(p, p->next_seq);
			BFT_ASSERT(s != NULL);
			e = accept_preprepare(p, s, &dm, out);
			wire_msg_free(&dm);
		}
		if (e != BFT_OK) {
			wire_buf_free(&env);
			return e;
		}
		p->next_seq++;
		e = bft_out_msg(out, BFT_TO_ALL, 0, BFT_MSG_PREPREPARE, env.p, env.len);
		if (e != BFT_OK)
			return e;
	}
	return BFT_OK;
}

static enum bft_err on_request(struct pbft *p, const struct bft_msg *m, uint64_t now,
			       bool from_client, struct bft_out *out)
{
	bool was_idle = bft_log_pending(p->log) == 0;
	enum bft_err e;

	if (m->u.request.flags & BFT_REQ_READONLY) {
		if (p->cfg.ordered_reads)
			return BFT_EINVAL;
		/* The node may answer a batch before its commit record is durable (node/replica.c
		 * "persist"): the batch survives a crash in the prepared certificates that 2f+1
		 * COMMITs imply, f+1 of them at correct replicas, but this replica's executed state
		 * may be from before it until the batch commits again. A read answered from that
		 * state could be one of 2f+1 matching stale answers (client.h), so none is given
		 * until every certificate recovered from the log is executed; the client's read
		 * falls back to an ordered request meanwhile. */
		if (bft_log_last_executed(p->log) < p->read_fence)
			return BFT_ESTATE;
		return bft_log_query(p->log, m, p->view, out);
	}
	e = bft_log_submit(p->log, m, now, out);

	if (e != BFT_OK)
		return e;
	if (was_idle)
		p->progress_ms = now; /* the request timer starts now (TOCS §4.4) */
	/* TOCS §4.1: a backup relays a request to the primary (a client that timed out sent it
	 * to all replicas). Relays from other replicas are not relayed again. */
	if (from_client && !is_primary(p) && p->active)
		e = bft_out_msg_copy(out, BFT_TO_REPLICA, pbft_primary(p->view, p->n), BFT_MSG_REQUEST,
			      m->frame.p, m->frame.len);
	return e;
}

/* ---------------------------------------------------------------------------------------- */
/*
 * Adaptive throughput: Clement et al., "Making Byzantine Fault Tolerant Systems Tolerate
 * Byzantine Faults" (Aardvark, NSDI'09), §4.3. The pre-prepare deadline (on_timer) bounds the
 * delay of one request; a primary can stay inside it and still serve far fewer requests than
 * it could. So each backup also measures the primary's throughput: the requests executed per
 * period of tput_period_ms. After a grace period at the start of a view (tput_grace_ms), a
 * period in which the primary executed fewer than the required count while there was demand
 * makes the backup start a view change. As in Aardvark, the required count is a fraction
 * (tput_fraction_pct) of the best throughput of the last few views (tput_views), is raised
 * (tput_raise_pct of it) after every period the primary meets it, and starts again at that
 * fraction in each new view.
 *
 * Demand. Aardvark's clients send each request to every replica, so its backups know what is
 * waiting. A PBFT client sends to the primary first and to everyone only when it retransmits,
 * so a backup learns of demand late. It counts two signs of it: requests it holds that are not
 * yet ordered (a client's retransmission, or a relay), and slots pre-prepared in this view
 * that it has not executed (the primary has shown it admitted those requests). A period counts
 * only if that work was outstanding for tput_demand_pct of it and still is at its end: a
 * correct primary in a lightly loaded cluster, whose requests commit as soon as they come, is
 * never judged, because its backups hold nothing for long. A backup that is behind (fetching
 * state) judges nothing: its own execution stalls, not the primary.
 *
 * What keeps the test from changing views for ever in a correct cluster whose load fell:
 * - no demand, no judgement (above), and no judgement while the required count is below
 *   tput_min_requests per period (too few requests to tell slowness from chance);
 * - the yardstick decays: each view's best halves for every tput_decay_ms since it ended, and
 *   only the last tput_views views with demand count at all;
 * - the raise stops at tput_fraction_max_pct of the yardstick, so a correct primary serving as
 *   well as the best recent view is never replaced;
 * - when the last f+1 views this replica left all failed the test, at least one of their
 *   primaries was correct: the yardstick is then the best of those views alone (the load, not
 *   the primaries, must have changed), which their successors can meet.
 * Everything here runs on the now_ms of the events this engine is given; no clock is read.
 */

static bool tput_on(const struct pbft *p)
{
	return p->cfg.tput_period_ms != 0;
}

/* Known work outstanding: requests not yet ordered, or slots pre-prepared in this view and not
 * yet executed. */
static bool tput_work(const struct pbft *p)
{
	return bft_log_pending(p->log) > 0 || p->highest_pp > bft_log_last_executed(p->log);
}

/* The yardstick: the best period of the recent views, decayed with age (see above). */
static uint32_t tput_history_max(const struct pbft *p, uint64_t now)
{
	uint32_t k = p->tput_nhist < p->cfg.tput_views ? p->tput_nhist : p->cfg.tput_views;
	uint32_t failed = 0, best = 0;

	while (failed < k && p->tput_hist[failed].failed)
		failed++;
	if (failed >= p->f + 1)
		k = failed;
	for (uint32_t i = 0; i < k; i++) {
		const struct tput_view *h = &p->tput_hist[i];
		uint64_t halvings = (now > h->end_ms ? now - h->end_ms : 0) / p->cfg.tput_decay_ms;
		uint32_t v = halvings >= 32 ? 0 : h->best >> halvings;
		if (v > best)
			best = v;
	}
	return best;
}

/* A view became active (or the engine took its first step): the measurement starts again. */
static void tput_view_start(struct pbft *p, uint64_t now)
{
	p->tput_started = true;
	p->tput_view_ms = p->tput_period_ms = p->tput_last_ms = now;
	p->tput_busy_ms = 0;
	p->tput_count = 0;
	p->tput_best = 0;
	p->tput_demand_seen = false;
	p->tput_required = p->tput_ceiling = p->tput_step = 0;
	p->tput_suspect = false;
}

/* The active view is left: its best period with demand joins the history (newest first). */
static void tput_view_end(struct pbft *p, uint64_t now)
{
	if (tput_on(p) && p->tput_demand_seen) {
		memmove(&p->tput_hist[1], &p->tput_hist[0],
			(PBFT_TPUT_VIEWS_MAX - 1) * sizeof(p->tput_hist[0]));
		p->tput_hist[0] = (struct tput_view){.best = p->tput_best, .end_ms = now,
						     .failed = p->tput_suspect};
		if (p->tput_nhist < PBFT_TPUT_VIEWS_MAX)
			p->tput_nhist++;
	}
	p->tput_demand_seen = false;
	p->tput_suspect = false;
	p->tput_required = 0;
}

/* Closes the period ending at `end`: the judgement itself. */
static void tput_close(struct pbft *p, uint64_t end)
{
	const struct pbft_config *c = &p->cfg;
	bool demand = p->tput_busy &&
		      p->tput_busy_ms * 100 >= (uint64_t)c->tput_period_ms * c->tput_demand_pct;

	if (p->active && demand && !bft_log_behind(p->log, &(bft_seq){0})) {
		p->tput_demand_seen = true;
		if (p->tput_count > p->tput_best)
			p->tput_best = p->tput_count;
		if (!is_primary(p) && !p->tput_suspect && end >= p->tput_view_ms + c->tput_grace_ms) {
			if (p->tput_required == 0) {
				uint64_t h = tput_history_max(p, end);
				p->tput_required = (uint32_t)(h * c->tput_fraction_pct / 100);
				p->tput_ceiling = (uint32_t)(h * c->tput_fraction_max_pct / 100);
				p->tput_step = (uint32_t)((h * c->tput_raise_pct + 99) / 100);
			}
			if (p->tput_required >= c->tput_min_requests) {
				if (p->tput_count < p->tput_required)
					p->tput_suspect = true;
				else if (p->tput_required + p->tput_step <= p->tput_ceiling)
					p->tput_required += p->tput_step;
				else if (p->tput_ceiling > p->tput_required)
					p->tput_required = p->tput_ceiling;
			}
		}
	}
	p->tput_count = 0;
	p->tput_busy_ms = 0;
}

/* At the start of every step: accounts the time since the previous step and closes the
 * periods that ended. A gap of several periods without a step (nothing was outstanding, so no
 * timer was armed) is not judged. */
static void tput_tick(struct pbft *p, uint64_t now)
{
	uint64_t len = p->cfg.tput_period_ms;

	if (!tput_on(p))
		return;
	if (!p->tput_started) {
		tput_view_start(p, now);
		return;
	}
	if (now < p->tput_last_ms)
		return; /* the caller's clock went back: account nothing */
	if (now >= p->tput_period_ms + 4 * len) {
		p->tput_period_ms = p->tput_last_ms = now;
		p->tput_count = 0;
		p->tput_busy_ms = 0;
		return;
	}
	while (now >= p->tput_period_ms + len) {
		uint64_t end = p->tput_period_ms + len;
		if (p->tput_busy)
			p->tput_busy_ms += end - p->tput_last_ms;
		p->tput_last_ms = end;
		tput_close(p, end);
		p->tput_period_ms = end;
	}
	if (p->tput_busy)
		p->tput_busy_ms += now - p->tput_last_ms;
	p->tput_last_ms = now;
}

/* ---------------------------------------------------------------------------------------- */
/* View changes (TOCS §4.4, §4.5.2) */

static uint64_t view_timeout(const struct pbft *p)
{
	uint64_t t = p->cfg.view_timeout_ms;
	for (uint32_t i = 0; i < p->vc_attempts && t < p->cfg.view_timeout_max_ms; i++)
		t *= 2;
	return t < p->cfg.view_timeout_max_ms ? t : p->cfg.view_timeout_max_ms;
}

/* Checks a prepared certificate for its claims: a PRE-PREPARE for (view < vc_view, seq) signed
 * by that view's primary whose digest is its batch's, and 2f PREPAREs from distinct backups of
 * that view matching it, all signatures valid. On success *view, *seq and digest are set. */
/* True when m's envelope is byte for byte one this replica already holds, and so checked on
 * arrival: the PRE-PREPARE or a PREPARE of a slot, or of its kept certificate. Certificates in
 * VIEW-CHANGEs mostly repeat messages we saw; skipping their second Ed25519 verification is what
 * keeps a view change cheap. */
static bool already_verified(const struct pbft *p, const struct bft_msg *m)
{
	bft_seq seq;
	const struct slot *s;

	if (m->type == BFT_MSG_PREPREPARE)
		seq = m->u.preprepare.seq;
	else if (m->type == BFT_MSG_PREPARE)
		seq = m->u.phase.seq;
	else
		return false;
	s = &p->slots[seq % p->nslots];
	if (s->seq != seq)
		return false;
	if (m->type == BFT_MSG_PREPREPARE)
		return (s->has_pp && s->pp_len == m->frame.len &&
			memcmp(s->pp, m->frame.p, m->frame.len) == 0) ||
		       (s->has_pc && s->pc_pp_len == m->frame.len &&
			memcmp(s->pc_pp, m->frame.p, m->frame.len) == 0);
	if (m->sender < p->n && s->prep[m->sender].have && s->prep[m->sender].len == m->frame.len &&
	    memcmp(s->prep[m->sender].env, m->frame.p, m->frame.len) == 0)
		return true;
	for (uint32_t i = 0; i < s->pc_nprep; i++)
		if (s->pc_prep[i].len == m->frame.len &&
		    memcmp(s->pc_prep[i].p, m->frame.p, m->frame.len) == 0)
			return true;
	return false;
}

static enum bft_err check_pcert(const struct pbft *p, const struct bft_pcert *pc, bft_view vc_view,
				bft_view *view, bft_seq *seq, uint8_t digest[CR_DIGEST_BYTES])
{
	const struct wire_limits *l = &p->cfg.log.limits;
	struct bft_msg pp;
	uint64_t seen[4] = {0};
	uint32_t k = 0;
	enum bft_err e;

	if (pc->nprepares < 2 * p->f || pc->nprepares > p->n)
		return BFT_EBADCERT;
	if (wire_decode(l, pc->preprepare.p, pc->preprepare.len, &pp) != BFT_OK)
		return BFT_EBADCERT;
	e = BFT_OK;
	if (pp.type != BFT_MSG_PREPREPARE || pp.u.preprepare.view >= vc_view ||
	    pp.sender != pbft_primary(pp.u.preprepare.view, p->n))
		e = BFT_EBADCERT;
	else if (!already_verified(p, &pp) &&
		 wire_verify(&pp, p->cfg.log.replica_pks[pp.sender]) != BFT_OK)
		e = BFT_EBADSIG;
	else {
		uint8_t d[CR_DIGEST_BYTES];
		bft_batch_digest(pp.u.preprepare.time_ms, pp.u.preprepare.requests,
				 pp.u.preprepare.nrequests, d);
		if (!cr_equal(d, pp.u.preprepare.digest, CR_DIGEST_BYTES))
			e = BFT_EBADCERT;
	}
	for (uint32_t i = 0; i < pc->nprepares && e == BFT_OK; i++) {
		struct bft_msg pr;
		if (wire_decode(l, pc->prepares[i].p, pc->prepares[i].len, &pr) != BFT_OK) {
			e = BFT_EBADCERT;
			break;
		}
		if (pr.type != BFT_MSG_PREPARE || pr.u.phase.view != pp.u.preprepare.view ||
		    pr.u.phase.seq != pp.u.preprepare.seq ||
		    !cr_equal(pr.u.phase.digest, pp.u.preprepare.digest, CR_DIGEST_BYTES) ||
		    pr.sender == pp.sender || ((seen[pr.sender / 64] >> (pr.sender % 64)) & 1u))
			e = BFT_EBADCERT;
		else if (!already_verified(p, &pr) &&
			 wire_verify(&pr, p->cfg.log.replica_pks[pr.sender]) != BFT_OK)
			e = BFT_EBADSIG;
		else {
			seen[pr.sender / 64] |= (uint64_t)1 << (pr.sender % 64);
			k++;
		}
		wire_msg_free(&pr);
	}
	if (e == BFT_OK && k < 2 * p->f)
		e = BFT_EBADCERT;
	if (e == BFT_OK) {
		*view = pp.u.preprepare.view;
		*seq = pp.u.preprepare.seq;
		memcpy(digest, pp.u.preprepare.digest, CR_DIGEST_BYTES);
	}
	wire_msg_free(&pp);
	return e;
}

/* The checkpoint proof of a VIEW-CHANGE. Most carry the very proof we hold for our own stable
 * checkpoint (the same CHECKPOINT envelopes, perhaps in another order): envelopes byte for
 * byte equal to ones we verified need no second Ed25519 verification. Anything else gets the
 * full check. */
static enum bft_err check_vc_proof(const struct pbft *p, const struct bft_viewchange *vc)
{
	const struct bft_bytes *mine;
	uint32_t nmine;
	bft_seq stable;
	uint8_t d[CR_DIGEST_BYTES];
	bool known;

	bft_log_stable(p->log, &stable, d, &mine, &nmine);
	known = stable != 0 && vc->stable_seq == stable && vc->nproof >= p->q &&
		vc->nproof <= nmine && cr_equal(d, vc->stable_digest, CR_DIGEST_BYTES);
	for (uint32_t i = 0; known && i < vc->nproof; i++) {
		bool found = false;
		for (uint32_t j = 0; j < nmine && !found; j++)
			found = mine[j].len == vc->proof[i].len &&
				memcmp(mine[j].p, vc->proof[i].p, mine[j].len) == 0;
		/* The same envelope twice is one signer twice: let the full check refuse it. */
		for (uint32_t j = 0; j < i && found; j++)
			found = !(vc->proof[j].len == vc->proof[i].len &&
				  memcmp(vc->proof[j].p, vc->proof[i].p, vc->proof[i].len) == 0);
		known = found;
	}
	if (known)
		return BFT_OK;
	return bft_log_check_proof(p->log, vc->stable_seq, vc->stable_digest, vc->proof, vc->nproof);
}

/* Validates a VIEW-CHANGE completely: the checkpoint proof, and every prepared certificate
 * for a distinct sequence number in (stable, stable + W]. */
static enum bft_err check_viewchange(const struct pbft *p, const struct bft_msg *m)
{
	const struct bft_viewchange *vc = &m->u.viewchange;
	enum bft_err e;

	if (vc->stable_seq % p->cfg.log.checkpoint_interval != 0)
		return BFT_EBADCERT;
	e = check_vc_proof(p, vc);
	if (e != BFT_OK)
		return e;
	if (vc->nprepared > p->cfg.log.window)
		return BFT_EBADCERT;
	for (uint32_t i = 0; i < vc->nprepared; i++) {
		bft_view v;
		bft_seq seq;
		uint8_t d[CR_DIGEST_BYTES];

		e = check_pcert(p, &vc->prepared[i], vc->view, &v, &seq, d);
		if (e != BFT_OK)
			return e;
		if (seq <= vc->stable_seq || seq > vc->stable_seq + p->cfg.log.window)
			return BFT_EBADCERT;
		/* One certificate per sequence number, in increasing order. */
		if (i > 0) {
			struct bft_msg prev;
			if (wire_decode(&p->cfg.log.limits, vc->prepared[i - 1].preprepare.p,
					vc->prepared[i - 1].preprepare.len, &prev) != BFT_OK)
				return BFT_EBADCERT;
			bft_seq ps = prev.u.preprepare.seq;
			wire_msg_free(&prev);
			if (ps >= seq)
				return BFT_EBADCERT;
		}
	}
	return BFT_OK;
}

/* The O set of a NEW-VIEW computed from 2f+1 VIEW-CHANGEs (TOCS §4.4): min-s is the highest
 * stable checkpoint among them, max-s the highest prepared sequence number; each n in
 * (min-s, max-s] gets the digest of the certificate of the highest view for n, or the null
 * request's. `src[i]` points at the PRE-PREPARE the batch of entry i comes from (NULL: null). */
struct nv_plan {
	bft_seq min_s, max_s;
	uint32_t min_s_vc;          /* index of a VIEW-CHANGE carrying min-s and its proof */
	struct bft_nv_entry *o;
	struct bft_bytes *src;
	uint32_t no;
};

static void nv_plan_free(struct nv_plan *pl)
{
	free(pl->o);
	free(pl->src);
	memset(pl, 0, sizeof(*pl));
}

static void null_digest(uint8_t d[CR_DIGEST_BYTES])
{
	bft_batch_digest(0, NULL, 0, d);
}

static enum bft_err nv_compute(const struct pbft *p, const struct bft_msg *vcs, uint32_t nvc,
			       struct nv_plan *pl)
{
	bft_view *best_view;

	memset(pl, 0, sizeof(*pl));
	for (uint32_t i = 0; i < nvc; i++)
		if (vcs[i].u.viewchange.stable_seq >= pl->min_s) {
			if (vcs[i].u.viewchange.stable_seq > pl->min_s || i == 0)
				pl->min_s_vc = i;
			pl->min_s = vcs[i].u.viewchange.stable_seq;
		}
	pl->max_s = pl->min_s;
	for (uint32_t i = 0; i < nvc; i++) {
		const struct bft_viewchange *vc = &vcs[i].u.viewchange;
		for (uint32_t j = 0; j < vc->nprepared; j++) {
			struct bft_msg pp;
			if (wire_decode(&p->cfg.log.limits, vc->prepared[j].preprepare.p,
					vc->prepared[j].preprepare.len, &pp) != BFT_OK)
				continue;
			if (pp.u.preprepare.seq > pl->max_s)
				pl->max_s = pp.u.preprepare.seq;
			wire_msg_free(&pp);
		}
	}
	if (pl->max_s - pl->min_s > p->cfg.log.window)
		return BFT_EBADCERT;
	pl->no = (uint32_t)(pl->max_s - pl->min_s);
	pl->o = calloc(pl->no ? pl->no : 1, sizeof(*pl->o));
	pl->src = calloc(pl->no ? pl->no : 1, sizeof(*pl->src));
	best_view = calloc(pl->no ? pl->no : 1, sizeof(*best_view));
	if (pl->o == NULL || pl->src == NULL || best_view == NULL) {
		free(best_view);
		nv_plan_free(pl);
		return BFT_ENOMEM;
	}
	for (uint32_t k = 0; k < pl->no; k++) {
		pl->o[k].seq = pl->min_s + 1 + k;
		null_digest(pl->o[k].digest);
	}
	for (uint32_t i = 0; i < nvc; i++) {
		const struct bft_viewchange *vc = &vcs[i].u.viewchange;
		for (uint32_t j = 0; j < vc->nprepared; j++) {
			struct bft_msg pp;
			if (wire_decode(&p->cfg.log.limits, vc->prepared[j].preprepare.p,
					vc->prepared[j].preprepare.len, &pp) != BFT_OK)
				continue;
			bft_seq seq = pp.u.preprepare.seq;
			if (seq > pl->min_s) {
				uint32_t k = (uint32_t)(seq - pl->min_s - 1);
				/* Highest view wins; equal views carry equal digests (quorum
				 * intersection), so the first seen is as good as any. */
				if (pl->src[k].p == NULL || pp.u.preprepare.view > best_view[k]) {
					best_view[k] = pp.u.preprepare.view;
					memcpy(pl->o[k].digest, pp.u.preprepare.digest, CR_DIGEST_BYTES);
					pl->src[k] = vc->prepared[j].preprepare;
				}
			}
			wire_msg_free(&pp);
		}
	}
	free(best_view);
	return BFT_OK;
}

static enum bft_err send_viewchange(struct pbft *p, struct bft_out *out)
{
	struct bft_msg m = {.type = BFT_MSG_VIEWCHANGE};
	struct bft_viewchange *vc = &m.u.viewchange;
	const struct bft_bytes *proof;
	struct wire_buf env;
	uint32_t k = 0;
	enum bft_err e;

	vc->view = p->view;
	bft_log_stable(p->log, &vc->stable_seq, vc->stable_digest, &proof, &vc->nproof);
	vc->proof = (struct bft_bytes *)(uintptr_t)proof;
	vc->prepared = calloc(p->nslots, sizeof(*vc->prepared));
	if (vc->prepared == NULL)
		return BFT_ENOMEM;
	/* P: the highest-view prepared certificate of every sequence number above the stable
	 * checkpoint, in increasing order. */
	for (bft_seq seq = vc->stable_seq + 1; seq <= vc->stable_seq + p->nslots; seq++) {
		struct slot *s = slot_get(p, seq);
		if (s == NULL || !s->has_pc)
			continue;
		vc->prepared[k].preprepare = (struct bft_bytes){.p = s->pc_pp, .len = s->pc_pp_len};
		vc->prepared[k].prepares = s->pc_prep;
		vc->prepared[k].nprepares = s->pc_nprep;
		k++;
	}
	vc->nprepared = k;
	e = seal(p, &m, &env);
	free(vc->prepared);
	if (e != BFT_OK)
		return e;
	free(p->vc[p->self]);
	p->vc[p->self] = dup_bytes(env.p, env.len);
	p->vc_len[p->self] = p->vc[p->self] ? (uint32_t)env.len : 0;
	p->vc_view[p->self] = p->vc[p->self] ? p->view : 0;
	return bft_out_msg(out, BFT_TO_ALL, 0, BFT_MSG_VIEWCHANGE, env.p, env.len);
}

static enum bft_err try_newview(struct pbft *p, uint64_t now, struct bft_out *out);

/* Moves to view v (> current) and multicasts VIEW-CHANGE (TOCS §4.4). */
static enum bft_err view_record(struct pbft *p, struct bft_out *out);

static enum bft_err start_viewchange(struct pbft *p, bft_view v, uint64_t now, struct bft_out *out)
{
	enum bft_err e;

	BFT_ASSERT(v > p->view || (v == p->view && p->active));
	if (p->active)
		tput_view_end(p, now);
	p->view = v;
	p->active = false;
	p->vc_deadline = 0;
	p->st.view_changes++;
	free(p->nv);
	p->nv = NULL;
	p->nv_len = 0;
	e = view_record(p, out);
	if (e != BFT_OK)
		return e;
	e = send_viewchange(p, out);
	if (e != BFT_OK)
		return e;
	return try_newview(p, now, out);
}

/* Collects the stored VIEW-CHANGEs for view v, decoded. Returns how many. */
static uint32_t vcs_for(struct pbft *p, bft_view v, struct bft_msg *vcs)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < p->n; i++) {
		if (p->vc[i] == NULL || p->vc_view[i] != v)
			continue;
		if (wire_decode(&p->cfg.log.limits, p->vc[i], p->vc_len[i], &vcs[k]) == BFT_OK)
			k++;
	}
	return k;
}

static void vcs_free(struct bft_msg *vcs, uint32_t k)
{
	for (uint32_t i = 0; i < k; i++)
		wire_msg_free(&vcs[i]);
}

static enum bft_err enter_view(struct pbft *p, const struct bft_msg *vcs, uint32_t nvc,
			       const struct nv_plan *pl, uint64_t now, struct bft_out *out);

/* The new primary, once it holds 2f+1 valid VIEW-CHANGEs for its view, sends NEW-VIEW. A backup
 * holding 2f+1 arms the timer that moves it on if no NEW-VIEW comes (TOCS §4.5.2). */
static enum bft_err try_newview(struct pbft *p, uint64_t now, struct bft_out *out)
{
	struct bft_msg *vcs;
	struct nv_plan pl;
	uint32_t k;
	enum bft_err e;

	if (p->active)
		return BFT_OK;
	/* TOCS §4.5.2 starts the timer for view v+1 once 2f+1 VIEW-CHANGEs for v are in. We count
	 * those for v or a later view: a replica that has gone on to a later view will not send one
	 * for v any more, so waiting for exactly v could wait for ever (two correct replicas in v,
	 * one in v+1, the faulty one silent), while 2f+1 replicas at v or beyond still show that no
	 * minority is dragging us along. */
	uint32_t at_least = 0;
	for (uint32_t i = 0; i < p->n; i++)
		if (p->vc[i] != NULL && p->vc_view[i] >= p->view)
			at_least++;
	if (at_least >= p->q && p->vc_deadline == 0)
		p->vc_deadline = now + view_timeout(p);
	vcs = calloc(p->n, sizeof(*vcs));
	if (vcs == NULL)
		return BFT_ENOMEM;
	k = vcs_for(p, p->view, vcs);
	if (k < p->q) {
		vcs_free(vcs, k);
		free(vcs);
		return BFT_OK;
	}
	if (!is_primary(p)) {
		vcs_free(vcs, k);
		free(vcs);
		return BFT_OK;
	}
	/* Use exactly 2f+1, our own among them. */
	if (k > p->q) {
		for (uint32_t i = 0; i < k; i++)
			if (vcs[i].sender == p->self && i >= p->q) {
				struct bft_msg t = vcs[0];
				vcs[0] = vcs[i];
				vcs[i] = t;
			}
		for (uint32_t i = p->q; i < k; i++)
			wire_msg_free(&vcs[i]);
		k = p->q;
	}
	e = nv_compute(p, vcs, k, &pl);
	if (e == BFT_OK) {
		struct bft_msg m = {.type = BFT_MSG_NEWVIEW};
		struct bft_bytes vb[256];
		struct wire_buf env;

		for (uint32_t i = 0; i < k; i++)
			vb[i] = vcs[i].frame;
		m.u.newview.view = p->view;
		m.u.newview.viewchanges = vb;
		m.u.newview.nviewchanges = k;
		m.u.newview.o = pl.o;
		m.u.newview.no = pl.no;
		/* A bogus NEW-VIEW (Byzantine): the O set sent out drops the highest prepared
		 * request (its digest becomes the null request's) or, when nothing was prepared,
		 * invents a certificate for the next sequence number. We ourselves install the true
		 * plan; the backups recompute O and must refuse ours (TOCS §4.4). */
		struct bft_nv_entry *bogus = NULL;
		if (p->cfg.byz && (p->cfg.byz->modes & BFT_BYZ_BOGUS_NEWVIEW) &&
		    (bogus = calloc(pl.no + 1, sizeof(*bogus))) != NULL) {
			uint8_t nd[CR_DIGEST_BYTES];
			uint32_t i = pl.no;

			null_digest(nd);
			memcpy(bogus, pl.o, pl.no * sizeof(*bogus));
			while (i > 0 && cr_equal(bogus[i - 1].digest, nd, CR_DIGEST_BYTES))
				i--;
			if (i > 0) {
				null_digest(bogus[i - 1].digest);
			} else {
				bogus[pl.no].seq = pl.min_s + pl.no + 1;
				cr_digest(bogus[pl.no].digest, "pbft.byz.invented", &p->view,
					  sizeof(p->view));
				m.u.newview.no = pl.no + 1;
			}
			m.u.newview.o = bogus;
		}
		e = seal(p, &m, &env);
		free(bogus);
		if (e == BFT_OK) {
			free(p->nv);
			p->nv = dup_bytes(env.p, env.len);
			p->nv_len = p->nv ? (uint32_t)env.len : 0;
			e = bft_out_msg(out, BFT_TO_ALL, 0, BFT_MSG_NEWVIEW, env.p, env.len);
		}
		if (e == BFT_OK)
			e = enter_view(p, vcs, k, &pl, now, out);
		nv_plan_free(&pl);
	}
	vcs_free(vcs, k);
	free(vcs);
	return e;
}

/* Sends the PRE-PREPARE for entry k of the plan (the new primary, TOCS §4.4). */
static enum bft_err send_o_preprepare(struct pbft *p, const struct nv_plan *pl, uint32_t k,
				      struct bft_out *out)
{
	struct bft_msg m = {.type = BFT_MSG_PREPREPARE};
	struct bft_msg src;
	struct wire_buf env;
	bool have_src = false;
	enum bft_err e;

	m.u.preprepare.view = p->view;
	m.u.preprepare.seq = pl->o[k].seq;
	if (pl->src[k].p != NULL &&
	    wire_decode(&p->cfg.log.limits, pl->src[k].p, pl->src[k].len, &src) == BFT_OK) {
		have_src = true;
		m.u.preprepare.time_ms = src.u.preprepare.time_ms;
		m.u.preprepare.requests = src.u.preprepare.requests;
		m.u.preprepare.nrequests = src.u.preprepare.nrequests;
	}
	memcpy(m.u.preprepare.digest, pl->o[k].digest, CR_DIGEST_BYTES);
	e = seal(p, &m, &env);
	if (have_src)
		wire_msg_free(&src);
	if (e != BFT_OK)
		return e;
	struct slot *s = slot_claim(p, pl->o[k].seq);
	if (s != NULL) {
		struct bft_msg dm;
		e = wire_decode(&p->cfg.log.limits, env.p, env.len, &dm);
		if (e == BFT_OK) {
			e = accept_preprepare(p, s, &dm, out);
			wire_msg_free(&dm);
		}
	}
	if (e != BFT_OK) {
		wire_buf_free(&env);
		return e;
	}
	return bft_out_msg(out, BFT_TO_ALL, 0, BFT_MSG_PREPREPARE, env.p, env.len);
}

/* Installs view p->view from a NEW-VIEW's plan (TOCS §4.4): adopt the stable checkpoint
 * min-s, fix each slot in (min-s, max-s] to its O digest, and resume. */
static enum bft_err enter_view(struct pbft *p, const struct bft_msg *vcs, uint32_t nvc,
			       const struct nv_plan *pl, uint64_t now, struct bft_out *out)
{
	const struct bft_viewchange *best = &vcs[pl->min_s_vc].u.viewchange;
	enum bft_err e;

	(void)nvc;
	e = bft_log_adopt_stable(p->log, best->stable_seq, best->stable_digest, best->proof,
				 best->nproof, out);
	if (e != BFT_OK)
		return e;
	p->active = true;
	p->vc_deadline = 0;
	p->progress_ms = now;
	p->highest_pp = 0;
	tput_view_start(p, now);
	e = view_record(p, out);
	if (e != BFT_OK)
		return e;
	bft_log_unmark_all(p->log);
	/* Slots of older views lose their view state; their certificates stay for later view
	 * changes. Slots above max-s are empty in this view. */
	for (uint32_t i = 0; i < p->nslots; i++) {
		struct slot *s = &p->slots[i];
		if (s->seq == 0)
			continue;
		if (!bft_log_in_window(p->log, s->seq)) {
			slot_clear(p, s);
			continue;
		}
		if (s->has_pp && s->view < p->view)
			slot_clear_view_state(p, s);
		if (s->held != NULL && s->held_view < p->view)
			slot_drop_held(p, s);
		s->fixed = false;
	}
	for (uint32_t k = 0; k < pl->no; k++) {
		struct slot *s = slot_claim(p, pl->o[k].seq);
		if (s == NULL)
			continue;
		s->fixed = true;
		s->fixed_view = p->view;
		memcpy(s->fixed_digest, pl->o[k].digest, CR_DIGEST_BYTES);
	}
	p->next_seq = pl->max_s + 1;
	if (p->next_seq <= bft_log_low(p->log))
		p->next_seq = bft_log_low(p->log) + 1;
	if (is_primary(p))
		for (uint32_t k = 0; k < pl->no; k++) {
			e = send_o_preprepare(p, pl, k, out);
			if (e != BFT_OK)
				return e;
		}
	e = replay_early(p, now, out);
	if (e != BFT_OK)
		return e;
	return propose(p, now, out);
}

/*
 * The cost cap on view-change traffic. Validating a VIEW-CHANGE costs up to W prepared
 * certificates of 2f+1 signatures each plus a checkpoint proof, and a NEW-VIEW 2f+1 of those; a
 * faulty replica that sends them for ever higher views (each new view passes the "newer than
 * what you hold from me" test) could make us pay that per message. TOCS §4.5.2's liveness rules
 * say why we need not: a view change happens only when f+1 replicas ask for it, so a faulty
 * replica alone never moves a correct one, and a correct one in a later view shows itself in
 * what it signs. So a VIEW-CHANGE or NEW-VIEW for a view beyond view + VC_AHEAD is refused
 * unvalidated (BFT_EVIEW) unless f+1 distinct replicas have signed messages of that view or a
 * later one (supported_view); and once f+1 have, we join the view they support (the rule of
 * §4.5.2 that moves a replica to the smallest view among f+1 VIEW-CHANGEs above its own, with
 * the f+1 counted from any signed message of those views, each of which a correct replica
 * sends only in its view). Views up to view + VC_AHEAD keep the paper's rules unchanged: a
 * spammer costs us at most VC_AHEAD validations per view we pass through.
 */
static bft_view supported_view(const struct pbft *p)
{
	/* The (f+1)-th highest seen view among the other replicas. */
	bft_view best = 0;

	for (uint32_t i = 0; i < p->n; i++) {
		uint32_t at_least = 0;
		if (i == p->self)
			continue;
		for (uint32_t j = 0; j < p->n; j++)
			if (j != p->self && p->seen_view[j] >= p->seen_view[i])
				at_least++;
		if (at_least >= p->f + 1 && p->seen_view[i] > best)
			best = p->seen_view[i];
	}
	return best;
}

static bool view_too_far(const struct pbft *p, bft_view v)
{
	return v > p->view + VC_AHEAD && v > supported_view(p);
}

static enum bft_err on_viewchange(struct pbft *p, const struct bft_msg *m, uint64_t now,
				  struct bft_out *out)
{
	const struct bft_viewchange *vc = &m->u.viewchange;
	bft_view mine = p->view;
	enum bft_err e;

	if (m->sender == p->self)
		return BFT_EDUP;
	if (vc->view < p->view || (vc->view == p->view && p->active)) {
		/* A replica still asking for the view we are in missed the NEW-VIEW: resend it. */
		if (vc->view == p->view && p->active && p->nv != NULL)
			ignore_err(bft_out_msg_copy(out, BFT_TO_REPLICA, m->sender, BFT_MSG_NEWVIEW, p->nv,
					p->nv_len));
		return BFT_ESTALE;
	}
	if (p->vc[m->sender] != NULL && p->vc_view[m->sender] >= vc->view)
		return p->vc_view[m->sender] == vc->view ? BFT_EDUP : BFT_ESTALE;
	if (view_too_far(p, vc->view))
		return BFT_EVIEW;
	e = check_viewchange(p, m);
	if (e != BFT_OK)
		return e;
	free(p->vc[m->sender]);
	p->vc[m->sender] = dup_bytes(m->frame.p, m->frame.len);
	p->vc_len[m->sender] = p->vc[m->sender] ? m->frame.len : 0;
	p->vc_view[m->sender] = p->vc[m->sender] ? vc->view : 0;

	/* TOCS §4.5.2: f+1 VIEW-CHANGEs for views above ours mean at least one correct replica
	 * timed out: join the smallest of those views without waiting for our own timer. */
	uint32_t above = 0;
	bft_view smallest = 0;
	for (uint32_t i = 0; i < p->n; i++) {
		if (i == p->self || p->vc[i] == NULL)
			continue;
		if (p->vc_view[i] > mine) {
			if (above == 0 || p->vc_view[i] < smallest)
				smallest = p->vc_view[i];
			above++;
		}
	}
	if (above >= p->f + 1)
		return start_viewchange(p, smallest, now, out);
	return try_newview(p, now, out);
}

static enum bft_err on_newview(struct pbft *p, const struct bft_msg *m, uint64_t now,
			       struct bft_out *out)
{
	const struct bft_newview *nv = &m->u.newview;
	struct bft_msg *vcs;
	struct nv_plan pl;
	uint64_t seen[4] = {0};
	uint32_t k = 0;
	enum bft_err e = BFT_OK;

	if (nv->view < p->view || (nv->view == p->view && p->active))
		return BFT_ESTALE;
	if (m->sender != pbft_primary(nv->view, p->n))
		return BFT_ENOTPRIMARY;
	if (view_too_far(p, nv->view))
		return BFT_EVIEW;
	if (nv->nviewchanges < p->q || nv->nviewchanges > p->n)
		return BFT_EBADCERT;
	vcs = calloc(nv->nviewchanges, sizeof(*vcs));
	if (vcs == NULL)
		return BFT_ENOMEM;
	/* TOCS §4.4: a backup accepts NEW-VIEW if its VIEW-CHANGEs are valid, for this view, from
	 * 2f+1 distinct replicas, and O is what they imply. */
	for (uint32_t i = 0; i < nv->nviewchanges && e == BFT_OK; i++) {
		if (wire_decode(&p->cfg.log.limits, nv->viewchanges[i].p, nv->viewchanges[i].len,
				&vcs[k]) != BFT_OK) {
			e = BFT_EBADCERT;
			break;
		}
		k++;
		const struct bft_msg *v = &vcs[k - 1];
		if (v->type != BFT_MSG_VIEWCHANGE || v->u.viewchange.view != nv->view ||
		    ((seen[v->sender / 64] >> (v->sender % 64)) & 1u))
			e = BFT_EBADCERT;
		else if (p->vc[v->sender] != NULL && p->vc_len[v->sender] == v->frame.len &&
			 memcmp(p->vc[v->sender], v->frame.p, v->frame.len) == 0)
			e = BFT_OK; /* the very VIEW-CHANGE we validated when it reached us */
		else if (wire_verify(v, p->cfg.log.replica_pks[v->sender]) != BFT_OK)
			e = BFT_EBADSIG;
		else
			e = check_viewchange(p, v);
		seen[v->sender / 64] |= (uint64_t)1 << (v->sender % 64);
	}
	if (e == BFT_OK)
		e = nv_compute(p, vcs, k, &pl);
	if (e == BFT_OK) {
		bool same = pl.no == nv->no;
		for (uint32_t i = 0; same && i < pl.no; i++)
			same = pl.o[i].seq == nv->o[i].seq &&
			       cr_equal(pl.o[i].digest, nv->o[i].digest, CR_DIGEST_BYTES);
		if (!same) {
			e = BFT_EBADCERT;
		} else {
			if (nv->view > p->view) {
				/* Joining a view we had not started changing to (enter_view
				 * records it). */
				p->view = nv->view;
				p->st.view_changes++;
			}
			if (e == BFT_OK) {
				free(p->nv);
				p->nv = dup_bytes(m->frame.p, m->frame.len);
				p->nv_len = p->nv ? m->frame.len : 0;
				e = enter_view(p, vcs, k, &pl, now, out);
			}
		}
		nv_plan_free(&pl);
	}
	vcs_free(vcs, k);
	free(vcs);
	return e;
}

/* ---------------------------------------------------------------------------------------- */
/* Retransmission, checkpoints and state transfer */

static enum bft_err send_fetch(struct pbft *p, enum bft_dest dest, uint64_t to, uint32_t kind,
			       bft_seq seq, uint32_t index, struct bft_out *out)
{
	struct bft_msg m = {.type = BFT_MSG_FETCH};
	struct wire_buf env;
	enum bft_err e;

	m.u.fetch.kind = kind;
	m.u.fetch.seq = seq;
	m.u.fetch.index = index;
	e = seal(p, &m, &env);
	if (e != BFT_OK)
		return e;
	return bft_out_msg(out, dest, to, BFT_MSG_FETCH, env.p, env.len);
}

/* Answers FETCH(LOG, seq): everything we hold above seq that could help the requester finish:
 * the stable checkpoint's proof if it is behind it, the NEW-VIEW of our view, and per slot the
 * PRE-PREPARE and the PREPAREs and COMMITs of this view. */
static enum bft_err serve_log(struct pbft *p, bft_replica_id to, bft_seq seq, struct bft_out *out)
{
	const struct bft_bytes *proof;
	uint32_t nproof;
	bft_seq stable;
	uint8_t d[CR_DIGEST_BYTES];
	enum bft_err e = BFT_OK;

	bft_log_stable(p->log, &stable, d, &proof, &nproof);
	if (seq < stable)
		for (uint32_t i = 0; i < nproof && e == BFT_OK; i++)
			e = bft_out_msg_copy(out, BFT_TO_REPLICA, to, BFT_MSG_CHECKPOINT, proof[i].p,
				      proof[i].len);
	if (!p->active)
		return e;
	if (p->nv != NULL && e == BFT_OK)
		e = bft_out_msg_copy(out, BFT_TO_REPLICA, to, BFT_MSG_NEWVIEW, p->nv, p->nv_len);
	for (bft_seq s = (seq > stable ? seq : stable) + 1; e == BFT_OK && s <= bft_log_high(p->log); s++) {
		struct slot *sl = slot_get(p, s);
		if (sl != NULL && sl->has_cc) {
			/* Committed in a view since left: the proof, for a replica that missed it
			 * and can no longer finish the slot in that view (on_old_commit). */
			e = bft_out_msg_copy(out, BFT_TO_REPLICA, to, BFT_MSG_PREPREPARE, sl->cc_pp,
					     sl->cc_pp_len);
			for (uint32_t i = 0; i < p->n && e == BFT_OK; i++)
				if (sl->cc_commit[i].have)
					e = bft_out_msg_copy(out, BFT_TO_REPLICA, to, BFT_MSG_COMMIT,
							     sl->cc_commit[i].env,
							     sl->cc_commit[i].len);
		}
		if (sl == NULL || !sl->has_pp || sl->view != p->view)
			continue;
		e = bft_out_msg_copy(out, BFT_TO_REPLICA, to, BFT_MSG_PREPREPARE, sl->pp, sl->pp_len);
		for (uint32_t i = 0; i < p->n && e == BFT_OK; i++) {
			if (sl->prep[i].have && sl->prep[i].view == p->view)
				e = bft_out_msg_copy(out, BFT_TO_REPLICA, to, BFT_MSG_PREPARE, sl->prep[i].env,
					      sl->prep[i].len);
			if (e == BFT_OK && sl->commit[i].have && sl->commit[i].view == p->view)
				e = bft_out_msg_copy(out, BFT_TO_REPLICA, to, BFT_MSG_COMMIT,
					      sl->commit[i].env, sl->commit[i].len);
		}
	}
	return e;
}

static enum bft_err after_stable(struct pbft *p, uint64_t now, struct bft_out *out);

/* Answers FETCH. Answers cost far more than requests (a window of messages, a state chunk), so
 * each peer gets at most one log answer per retransmission period and CHUNKS_PER_PERIOD chunks:
 * a faulty replica cannot turn its requests into an amplified flood. A correct one never asks
 * faster than that. */
static enum bft_err on_fetch(struct pbft *p, const struct bft_msg *m, uint64_t now,
			     struct bft_out *out)
{
	uint32_t r = (uint32_t)m->sender;

	if (r == p->self)
		return BFT_ESENDER;
	if (m->u.fetch.kind == BFT_FETCH_STATE) {
		if (now >= p->chunk_ms[r] + p->cfg.retransmit_ms) {
			p->chunk_ms[r] = now;
			p->chunks[r] = 0;
		}
		if (p->chunks[r] >= CHUNKS_PER_PERIOD)
			return BFT_EFULL;
		p->chunks[r]++;
		return bft_log_serve_chunk(p->log, r, m->u.fetch.seq, m->u.fetch.index, out);
	}
	if (p->served_ms[r] != 0 && now < p->served_ms[r] + p->cfg.retransmit_ms / 2)
		return BFT_EFULL;
	p->served_ms[r] = now ? now : 1;
	return serve_log(p, r, m->u.fetch.seq, out);
}

static void next_fetch_peer(struct pbft *p);

/* Asks the current peer for the next missing chunk of the state we are behind on. */
static enum bft_err fetch_state(struct pbft *p, uint64_t now, struct bft_out *out)
{
	bft_seq target;
	int64_t idx;

	if (!bft_log_behind(p->log, &target))
		return BFT_OK;
	idx = bft_log_next_missing_chunk(p->log);
	if (idx < 0)
		return BFT_OK;
	if (p->fetch_peer == p->self)
		next_fetch_peer(p);
	p->fetch_deadline = now + p->cfg.fetch_timeout_ms;
	/* A peer serves only a state it holds as stable (log.h); one that executed that far but
	 * missed some CHECKPOINTs (they are sent once) would refuse us for good. With the first
	 * request of a round we hand it the 2f+1 signed CHECKPOINTs that made it stable for us. */
	if (idx == 0) {
		const struct bft_bytes *proof;
		uint32_t nproof;
		bft_seq stable;
		uint8_t d[CR_DIGEST_BYTES];
		enum bft_err e = BFT_OK;

		bft_log_stable(p->log, &stable, d, &proof, &nproof);
		for (uint32_t i = 0; stable == target && i < nproof && e == BFT_OK; i++)
			e = bft_out_msg_copy(out, BFT_TO_REPLICA, p->fetch_peer, BFT_MSG_CHECKPOINT,
				      proof[i].p, proof[i].len);
		if (e != BFT_OK)
			return e;
	}
	return send_fetch(p, BFT_TO_REPLICA, p->fetch_peer, BFT_FETCH_STATE, target,
			  (uint32_t)idx, out);
}

static void next_fetch_peer(struct pbft *p)
{
	p->fetch_peer = (p->fetch_peer + 1) % p->n;
	if (p->fetch_peer == p->self)
		p->fetch_peer = (p->fetch_peer + 1) % p->n;
}

/* After the stable checkpoint moved: drop slots below it, fetch state if we are behind it. */
static enum bft_err after_stable(struct pbft *p, uint64_t now, struct bft_out *out)
{
	bft_seq target;

	for (uint32_t i = 0; i < p->nslots; i++)
		if (p->slots[i].seq != 0 && p->slots[i].seq <= bft_log_low(p->log))
			slot_clear(p, &p->slots[i]);
	if (p->next_seq <= bft_log_low(p->log))
		p->next_seq = bft_log_low(p->log) + 1;
	if (!bft_log_behind(p->log, &target))
		return BFT_OK;
	if (p->fetch_deadline == 0)
		return fetch_state(p, now, out);
	if (now >= p->fetch_deadline) {
		/* The peer asked did not deliver in time: ask the next (TOCS §6.2). Asking the same
		 * one again would pin us to a faulty or lagging peer for as long as messages keep
		 * arriving before the timer does. */
		next_fetch_peer(p);
		return fetch_state(p, now, out);
	}
	return BFT_OK;
}

static enum bft_err on_state(struct pbft *p, const struct bft_msg *m, uint64_t now,
			     struct bft_out *out)
{
	bool done = false;
	enum bft_err e = bft_log_on_chunk(p->log, m, out, &done);

	if (e == BFT_EBADCERT && m->sender == p->fetch_peer) {
		/* TOCS §6.2: a state that does not match the proof came from a faulty replica;
		 * ask another one. */
		next_fetch_peer(p);
		ignore_err(fetch_state(p, now, out));
		return e;
	}
	if (e != BFT_OK)
		return e;
	if (done) {
		p->st.state_transfers++;
		p->fetch_deadline = 0;
		p->progress_ms = now;
		/* Slots at or below the installed state are history now. */
		for (uint32_t i = 0; i < p->nslots; i++)
			if (p->slots[i].seq != 0 && p->slots[i].seq <= bft_log_last_executed(p->log) &&
			    p->slots[i].seq <= bft_log_low(p->log))
				slot_clear(p, &p->slots[i]);
		e = execute_ready(p, now, out);
		if (e == BFT_OK)
			e = after_stable(p, now, out);
		return e;
	}
	return fetch_state(p, now, out);
}

/* The highest sequence number that f+1 replicas (so at least one correct one) have shown us:
 * above what we executed, it means we missed messages and must fetch (our window may not even
 * reach it any more). One replica alone cannot make us fetch forever. */
static bft_seq ahead_of_us(const struct pbft *p)
{
	bft_seq best = 0;

	for (uint32_t i = 0; i < p->n; i++) {
		uint32_t at_least = 0;
		for (uint32_t j = 0; j < p->n; j++)
			if (p->seen_seq[j] >= p->seen_seq[i])
				at_least++;
		if (at_least >= p->f + 1 && p->seen_seq[i] > best)
			best = p->seen_seq[i];
	}
	return best;
}

/* True when this replica waits for something: queued requests or slots not yet executed. */
static bool has_work(struct pbft *p)
{
	bft_seq tmp;

	if (bft_log_pending(p->log) > 0 || !p->active || bft_log_behind(p->log, &tmp))
		return true;
	for (uint32_t i = 0; i < p->nslots; i++)
		if (p->slots[i].seq > bft_log_last_executed(p->log))
			return true;
	return ahead_of_us(p) > bft_log_last_executed(p->log);
}

static uint64_t preprepare_deadline(const struct pbft *p)
{
	uint64_t oldest;

	if (!bft_log_oldest_unproposed(p->log, &oldest) ||
	    !bft_log_in_window(p->log, p->highest_pp + 1))
		return 0;
	return (oldest > p->progress_ms ? oldest : p->progress_ms) + p->cfg.preprepare_timeout_ms;
}

static bool slow_primary_suspected(const struct pbft *p, uint64_t now)
{
	uint64_t d = preprepare_deadline(p);
	return d != 0 && now >= d;
}

/*
 * A replica that was cut off while the others went on, and has no request of its own pending,
 * hears nothing that tells it so: the PRE-PREPAREs, COMMITs and CHECKPOINTs went out once,
 * while it could not receive them. PBFT's implementation has replicas exchange status messages
 * for this (TOCS §5.2, retransmission). Here a replica that executed further than a peer has
 * shown it (seen_seq: the highest sequence number in anything the peer sent) pushes to that
 * peer what a FETCH(LOG) from it would get: the stable checkpoint's 2f+1 signed CHECKPOINTs
 * when the peer is below it (which starts its state transfer, TOCS §6.2), the NEW-VIEW, and
 * the signed messages of the slots above. The first push waits one retransmission period (the
 * peer's own messages are usually on their way), later ones back off, doubling up to
 * PUSH_BACKOFF_MAX periods, so a dead or faulty peer costs a bounded trickle; a peer that was
 * only quiet treats what it gets as duplicates.
 */
static enum bft_err push_progress(struct pbft *p, uint64_t now, struct bft_out *out)
{
	enum bft_err e = BFT_OK;

	for (uint32_t r = 0; r < p->n && e == BFT_OK; r++) {
		if (p->push_ms[r] == 0 || now < p->push_ms[r])
			continue;
		e = serve_log(p, r, p->seen_seq[r], out);
		if (p->push_periods[r] < PUSH_BACKOFF_MAX)
			p->push_periods[r] *= 2;
		p->push_ms[r] = now + (uint64_t)p->push_periods[r] * p->cfg.retransmit_ms;
	}
	return e;
}

static enum bft_err on_timer(struct pbft *p, uint64_t now, struct bft_out *out)
{
	bool behind = bft_log_behind(p->log, &(bft_seq){0});
	enum bft_err e = BFT_OK;

	/* State transfer first: a replica behind the stable checkpoint can neither execute nor
	 * judge the primary until it has the state, so its own timers must not preempt fetching. */
	if (p->fetch_deadline != 0 && now >= p->fetch_deadline) {
		next_fetch_peer(p);
		e = fetch_state(p, now, out);
		if (e != BFT_OK)
			return e;
	}
	if (now >= p->retransmit_ms) {
		bft_seq le = bft_log_last_executed(p->log);
		/* Each retransmission that brought no progress doubles the wait for the next, up to
		 * RETRANSMIT_BACKOFF_MAX periods: every answer is a window of messages from every
		 * peer, and while no quorum can form (a partition) more of them help no one. */
		if (le != p->progress_seq || p->view != p->retransmit_view || p->retransmit_periods == 0)
			p->retransmit_periods = 1;
		else if (p->retransmit_periods < RETRANSMIT_BACKOFF_MAX)
			p->retransmit_periods *= 2;
		p->retransmit_view = p->view;
		p->retransmit_ms = now + (uint64_t)p->retransmit_periods * p->cfg.retransmit_ms;
		if (has_work(p) && le == p->progress_seq) {
			/* During a view change, our VIEW-CHANGE again (it may have been lost), and
			 * in any case a FETCH: peers already in the view answer with its NEW-VIEW,
			 * and peers ahead of us with the checkpoint proof that starts a transfer. */
			if (!p->active && p->vc[p->self] != NULL)
				e = bft_out_msg_copy(out, BFT_TO_ALL, 0, BFT_MSG_VIEWCHANGE, p->vc[p->self],
					      p->vc_len[p->self]);
			if (e == BFT_OK)
				e = send_fetch(p, BFT_TO_ALL, 0, BFT_FETCH_LOG, le, 0, out);
			if (e == BFT_OK)
				e = bft_log_resend_checkpoints(p->log, out);
			if (e != BFT_OK)
				return e;
		}
		p->progress_seq = le;
	}
	e = push_progress(p, now, out);
	if (e != BFT_OK)
		return e;
	if (p->nheld > 0) {
		e = release_expired(p, now, out);
		if (e != BFT_OK)
			return e;
	}
	if (behind)
		return BFT_OK;
	/* TOCS §4.4: a backup waiting for a request too long suspects the primary. */
	if (p->active && bft_log_pending(p->log) > 0 && now >= p->progress_ms + view_timeout(p)) {
		p->vc_attempts++;
		return start_viewchange(p, p->view + 1, now, out);
	}
	/* Aardvark (Clement et al., NSDI'09, §4.3): a primary must keep proposing. A backup whose
	 * oldest queued request has waited preprepare_timeout_ms for a PRE-PREPARE, while the
	 * primary had room in the window, replaces the primary. This bounds what a slow primary
	 * (one that delays every PRE-PREPARE to just under the view-change timeout) can cost. */
	if (p->active && !is_primary(p) && slow_primary_suspected(p, now)) {
		p->st.slow_primary_suspicions++;
		p->vc_attempts++;
		return start_viewchange(p, p->view + 1, now, out);
	}
	/* Aardvark §4.3, adaptive throughput: the primary served less than the required count
	 * in a period with demand (tput_close). */
	if (p->active && !is_primary(p) && p->tput_suspect) {
		p->st.throughput_suspicions++;
		p->vc_attempts++;
		return start_viewchange(p, p->view + 1, now, out);
	}
	/* §4.5.2: a view change that did not complete in time moves on to the next view. */
	if (!p->active && p->vc_deadline != 0 && now >= p->vc_deadline) {
		p->vc_attempts++;
		return start_viewchange(p, p->view + 1, now, out);
	}
	return BFT_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Byzantine behaviours: transformations of what this (faulty) replica sends. */

static uint64_t byz_next(struct pbft *p)
{
	uint64_t x = p->byz_rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	p->byz_rng = x;
	return x;
}

/* Re-signs a decoded message after a change, replacing msg i's bytes. */
static void byz_reseal(struct pbft *p, struct bft_out_msg *om, struct bft_msg *m)
{
	struct wire_buf env;

	if (seal(p, m, &env) != BFT_OK)
		return;
	free(om->bytes);
	om->bytes = env.p;
	om->len = env.len;
}

static void byz_apply(struct pbft *p, uint64_t now, struct bft_out *out)
{
	const struct bft_byz *bz = p->cfg.byz;
	size_t n0 = out->nmsgs;

	for (size_t i = 0; i < n0; i++) {
		struct bft_out_msg *om = &out->msgs[i];
		struct bft_msg m;

		if (wire_decode(&p->cfg.log.limits, om->bytes, om->len, &m) != BFT_OK)
			continue;
		/* Work on a private copy of the frame so re-encoding can borrow from it. */
		uint8_t *orig = dup_bytes(om->bytes, om->len);
		wire_msg_free(&m);
		if (orig == NULL || wire_decode(&p->cfg.log.limits, orig, om->len, &m) != BFT_OK) {
			free(orig);
			continue;
		}
		if (m.sender == p->self) {
			if ((bz->modes & BFT_BYZ_WRONG_DIGEST) &&
			    (m.type == BFT_MSG_PREPREPARE || m.type == BFT_MSG_PREPARE ||
			     m.type == BFT_MSG_COMMIT)) {
				uint8_t *d = m.type == BFT_MSG_PREPREPARE ? m.u.preprepare.digest
									  : m.u.phase.digest;
				d[0] ^= 0x5a;
				byz_reseal(p, om, &m);
			}
			if ((bz->modes & BFT_BYZ_BAD_CHECKPOINT) && m.type == BFT_MSG_CHECKPOINT) {
				m.u.checkpoint.digest[0] ^= 0xa5;
				byz_reseal(p, om, &m);
			}
			if ((bz->modes & BFT_BYZ_EQUIVOCATE) && m.type == BFT_MSG_PREPREPARE &&
			    om->dest == BFT_TO_ALL) {
				/* A different, validly signed batch (another batch time) for every
				 * other backup: same (v, n), different digests. */
				om->dest = BFT_TO_REPLICA;
				om->to = (p->self + 1) % p->n;
				for (uint32_t r = 0; r < p->n; r++) {
					struct wire_buf env;
					if (r == p->self || r == om->to)
						continue;
					m.u.preprepare.time_ms += 1 + r;
					bft_batch_digest(m.u.preprepare.time_ms, m.u.preprepare.requests,
							 m.u.preprepare.nrequests, m.u.preprepare.digest);
					if (seal(p, &m, &env) == BFT_OK &&
					    bft_out_msg(out, BFT_TO_REPLICA, r, BFT_MSG_PREPREPARE, env.p,
							env.len) != BFT_OK)
						break;
					om = &out->msgs[i]; /* the array may have moved */
				}
			}
		}
		wire_msg_free(&m);
		free(orig);
	}
	if (bz->modes & BFT_BYZ_WRONG_REPLY)
		bft_byz_wrong_replies(&p->cfg.log.limits, p->cfg.log.id, out, 0);
	if (bz->modes & BFT_BYZ_REPLAY) {
		/* Remember some of what we sent; re-send old messages now and then. */
		for (size_t i = 0; i < out->nmsgs && i < 4; i++) {
			uint32_t slot = (uint32_t)(byz_next(p) % REPLAY_KEEP);
			free(p->replay[slot]);
			p->replay[slot] = dup_bytes(out->msgs[i].bytes, out->msgs[i].len);
			p->replay_len[slot] = p->replay[slot] ? (uint32_t)out->msgs[i].len : 0;
			if (p->nreplay < REPLAY_KEEP)
				p->nreplay++;
		}
		uint32_t slot = (uint32_t)(byz_next(p) % REPLAY_KEEP);
		if (p->replay[slot] != NULL && now >= p->byz_replay_ms + BYZ_PERIOD_MS) {
			p->byz_replay_ms = now;
			ignore_err(bft_out_msg_copy(out, BFT_TO_ALL, 0, BFT_MSG_REPLY, p->replay[slot],
					p->replay_len[slot]));
		}
	}
	if ((bz->modes & BFT_BYZ_VC_SPAM) && now >= p->byz_spam_ms + BYZ_PERIOD_MS) {
		p->byz_spam_ms = now;
		/* A VIEW-CHANGE for a view far ahead, alone: without f+1 others it moves no one. */
		struct bft_msg m = {.type = BFT_MSG_VIEWCHANGE};
		struct wire_buf env;
		p->byz_spam_view = (p->byz_spam_view > p->view ? p->byz_spam_view : p->view) + 1;
		m.u.viewchange.view = p->byz_spam_view;
		if (seal(p, &m, &env) == BFT_OK)
			ignore_err(bft_out_msg(out, BFT_TO_ALL, 0, BFT_MSG_VIEWCHANGE, env.p, env.len));
	}
	/* bad-signature, crash-after, silent, as Honey Badger does them (byz.h). */
	bft_byz_finish(bz, &p->byz_sent, out);
}

/* ---------------------------------------------------------------------------------------- */
/* Durability: re-emission after a stable checkpoint, and recovery */

/* BFT_REC_VIEW: [view u64 LE, active u8]. Written when a view change starts (active 0) and when
 * a NEW-VIEW installs the view (active 1): a restarted replica must know which, because a
 * replica that was active in v holds certificates of v and rejoins v as it was, while one that
 * was changing to v holds none of v and rejoins by its VIEW-CHANGE for v. */
static enum bft_err view_record(struct pbft *p, struct bft_out *out)
{
	uint8_t rec[9];

	for (int i = 0; i < 8; i++)
		rec[i] = (uint8_t)(p->view >> (8 * i));
	rec[8] = p->active ? 1 : 0;
	return bft_out_record(out, BFT_REC_VIEW, 0, dup_bytes(rec, 9), 9);
}

/* A BFT_REC_CHECKPOINT lets the node start a fresh log segment and drop the older ones. For that
 * segment to be complete, everything still relevant above the checkpoint is written again after
 * it: the log re-emits the executed batches (log.c emit_checkpoint_record), and here the view,
 * accepted PRE-PREPAREs and prepared certificates follow. */
static enum bft_err reemit_after_checkpoint(struct pbft *p, size_t first_record, struct bft_out *out)
{
	bool found = false;
	enum bft_err e;

	for (size_t i = first_record; i < out->nrecords; i++)
		if (out->records[i].kind == BFT_REC_CHECKPOINT)
			found = true;
	if (!found)
		return BFT_OK;
	e = view_record(p, out);
	for (bft_seq seq = bft_log_low(p->log) + 1; e == BFT_OK && seq <= bft_log_high(p->log); seq++) {
		struct slot *s = slot_get(p, seq);
		if (s == NULL)
			continue;
		if (e == BFT_OK && s->has_pp) {
			uint8_t *c = dup_bytes(s->pp, s->pp_len);
			e = c ? bft_out_record(out, BFT_REC_PREPREPARE, seq, c, s->pp_len) : BFT_ENOMEM;
		}
		if (e == BFT_OK && s->has_pc)
			e = record_certificate(p, s, out);
	}
	return e;
}

static enum bft_err restore_preprepare(struct pbft *p, const struct bft_record *rec)
{
	struct bft_msg m;
	struct slot *s;
	uint8_t *copy;
	enum bft_err e;

	if (wire_decode(&p->cfg.log.limits, rec->bytes, rec->len, &m) != BFT_OK)
		return BFT_EMALFORMED;
	e = BFT_OK;
	if (m.type != BFT_MSG_PREPREPARE)
		e = BFT_EMALFORMED;
	else if (m.u.preprepare.view != p->view || !bft_log_in_window(p->log, m.u.preprepare.seq))
		e = BFT_ESTALE; /* of an older view, or collected: nothing to restore */
	wire_msg_free(&m);
	if (e != BFT_OK)
		return e;
	copy = dup_bytes(rec->bytes, rec->len);
	if (copy == NULL)
		return BFT_ENOMEM;
	if (wire_decode(&p->cfg.log.limits, copy, rec->len, &m) != BFT_OK) {
		free(copy);
		return BFT_EMALFORMED;
	}
	s = slot_claim(p, m.u.preprepare.seq);
	BFT_ASSERT(s != NULL);
	slot_clear_view_state(p, s);
	s->has_pp = true;
	s->view = m.u.preprepare.view;
	memcpy(s->digest, m.u.preprepare.digest, CR_DIGEST_BYTES);
	s->pp = copy;
	s->pp_len = (uint32_t)rec->len;
	s->ppm = m;
	/* We sent our PREPARE before crashing (or were the primary); the same one is re-sent on
	 * retransmission requests, never another. */
	s->sent_prepare = pbft_primary(s->view, p->n) != p->self;
	if (m.u.preprepare.seq >= p->next_seq)
		p->next_seq = m.u.preprepare.seq + 1;
	return BFT_OK;
}

static enum bft_err restore_certificate(struct pbft *p, const struct bft_record *rec)
{
	struct bft_msg m;
	struct slot *s;
	enum bft_err e = BFT_OK;

	if (wire_decode(&p->cfg.log.limits, rec->bytes, rec->len, &m) != BFT_OK)
		return BFT_EMALFORMED;
	if (m.type != BFT_MSG_VIEWCHANGE || m.u.viewchange.nprepared != 1) {
		wire_msg_free(&m);
		return BFT_EMALFORMED;
	}
	const struct bft_pcert *pc = &m.u.viewchange.prepared[0];
	bft_view v;
	bft_seq seq;
	uint8_t d[CR_DIGEST_BYTES];
	/* Our own disk, but checked like a peer's: a certificate we cannot prove is worthless. */
	e = check_pcert(p, pc, m.u.viewchange.view + 1, &v, &seq, d);
	if (e == BFT_OK && !bft_log_in_window(p->log, seq))
		e = BFT_ESTALE;
	if (e == BFT_OK) {
		s = slot_claim(p, seq);
		BFT_ASSERT(s != NULL);
		if (!s->has_pc || s->pc_view < v) {
			struct bft_bytes *prep = calloc(pc->nprepares, sizeof(*prep));
			uint8_t *pp = dup_bytes(pc->preprepare.p, pc->preprepare.len);
			uint32_t k = 0;
			if (prep == NULL || pp == NULL) {
				free(prep);
				free(pp);
				e = BFT_ENOMEM;
			} else {
				for (; k < pc->nprepares; k++) {
					prep[k].p = dup_bytes(pc->prepares[k].p, pc->prepares[k].len);
					prep[k].len = pc->prepares[k].len;
					if (prep[k].p == NULL)
						break;
				}
				slot_clear_pc(s);
				s->has_pc = true;
				if (seq > p->read_fence)
					p->read_fence = seq;
				s->pc_view = v;
				memcpy(s->pc_digest, d, CR_DIGEST_BYTES);
				s->pc_pp = pp;
				s->pc_pp_len = pc->preprepare.len;
				s->pc_prep = prep;
				s->pc_nprep = k;
			}
		}
	}
	wire_msg_free(&m);
	return e;
}

/* After recovery, the PREPAREs and COMMITs this replica had sent for the slots it restored are
 * gone from memory (only the PRE-PREPAREs and certificates were logged). Sending them again is
 * not equivocation: they are for the very (view, seq, digest) we logged, and the peers need them
 * to finish those slots. */
static enum bft_err resend_restored(struct pbft *p, struct bft_out *out)
{
	enum bft_err e = BFT_OK;

	if (!p->active)
		return BFT_OK;
	for (bft_seq seq = bft_log_low(p->log) + 1; e == BFT_OK && seq <= bft_log_high(p->log); seq++) {
		struct slot *s = slot_get(p, seq);
		if (s == NULL || !s->has_pp || s->view != p->view)
			continue;
		if (pbft_primary(s->view, p->n) != p->self)
			e = send_phase(p, s, BFT_MSG_PREPARE, out);
		if (e == BFT_OK && s->has_pc && s->pc_view == s->view &&
		    cr_equal(s->pc_digest, s->digest, CR_DIGEST_BYTES)) {
			s->prepared = true;
			s->sent_commit = true;
			e = send_phase(p, s, BFT_MSG_COMMIT, out);
		}
	}
	return e;
}

enum bft_err pbft_restore(struct pbft *p, const struct bft_record *rec)
{
	enum bft_err e;

	p->restored = true;

	switch (rec->kind) {
	case BFT_REC_VIEW: {
		bft_view v = 0;
		if (rec->len != 9 || rec->bytes[8] > 1)
			return BFT_EMALFORMED;
		for (int i = 7; i >= 0; i--)
			v = (v << 8) | rec->bytes[i];
		if (v < p->view)
			return BFT_OK;
		p->view = v;
		p->active = rec->bytes[8] == 1;
		/* Changing to v when we stopped: rejoin through a VIEW-CHANGE for v, which the
		 * primary of v answers with its NEW-VIEW (or builds one from 2f+1 of them). */
		p->restarted_inactive = !p->active;
		return BFT_OK;
	}
	case BFT_REC_CHECKPOINT:
		e = bft_log_restore_checkpoint(p->log, rec->bytes, rec->len);
		if (e == BFT_OK) {
			for (uint32_t i = 0; i < p->nslots; i++)
				if (p->slots[i].seq != 0 && p->slots[i].seq <= bft_log_low(p->log))
					slot_clear(p, &p->slots[i]);
			if (p->next_seq <= bft_log_low(p->log))
				p->next_seq = bft_log_low(p->log) + 1;
		}
		return e;
	case BFT_REC_COMMIT:
		e = bft_log_restore_commit(p->log, rec->bytes, rec->len);
		return e == BFT_EDUP ? BFT_OK : e;
	case BFT_REC_PREPREPARE:
		e = restore_preprepare(p, rec);
		return e == BFT_ESTALE ? BFT_OK : e;
	case BFT_REC_PREPARED:
		e = restore_certificate(p, rec);
		return e == BFT_ESTALE ? BFT_OK : e;
	case BFT_REC_HB_PROPOSAL:
		return BFT_OK; /* Honey Badger's record (hb_restore): no meaning here */
	}
	return BFT_EMALFORMED;
}

/* ---------------------------------------------------------------------------------------- */
/* Entry point */

/* Remembers the highest sequence number a replica's own message spoke of (ahead_of_us), and
 * the highest view it signed a message of (supported_view). */
static void note_seq(struct pbft *p, const struct bft_msg *m)
{
	bft_seq seq = 0;
	bft_view view = 0;

	switch (m->type) {
	case BFT_MSG_PREPREPARE:
		seq = m->u.preprepare.seq;
		view = m->u.preprepare.view;
		break;
	case BFT_MSG_PREPARE:
	case BFT_MSG_COMMIT:
		seq = m->u.phase.seq;
		view = m->u.phase.view;
		break;
	case BFT_MSG_CHECKPOINT:
		seq = m->u.checkpoint.seq;
		break;
	case BFT_MSG_VIEWCHANGE:
		view = m->u.viewchange.view;
		break;
	case BFT_MSG_NEWVIEW:
		view = m->u.newview.view;
		break;
	default:
		return;
	}
	if (seq > p->seen_seq[m->sender])
		p->seen_seq[m->sender] = seq;
	if (m->type == BFT_MSG_PREPARE && seq > p->seen_prepare[m->sender])
		p->seen_prepare[m->sender] = seq;
	if (view > p->seen_view[m->sender])
		p->seen_view[m->sender] = view;
}

static enum bft_err try_progress(struct pbft *p, uint64_t now, struct bft_out *out)
{
	enum bft_err e = execute_ready(p, now, out);
	if (e == BFT_OK)
		e = propose(p, now, out);
	return e;
}

static void arm_timer(struct pbft *p, uint64_t now, struct bft_out *out)
{
	bool behind = bft_log_behind(p->log, &(bft_seq){0});

	/* While behind, on_timer judges no primary (see there): no view-change deadlines, which
	 * would only fire in the past over and over. */
	if (p->active && bft_log_pending(p->log) > 0 && !behind) {
		bft_out_timer(out, p->progress_ms + view_timeout(p));
		if (!is_primary(p))
			bft_out_timer(out, preprepare_deadline(p));
		uint64_t d;
		if (is_primary(p) && bft_log_batch_deadline(p->log, &d))
			bft_out_timer(out, d > now ? d : now + 1);
	}
	if (!p->active && p->vc_deadline != 0)
		bft_out_timer(out, p->vc_deadline);
	/* The throughput test: the end of the period while there is work to judge by and a
	 * yardstick to judge with, or at once when a message step closed a period the primary
	 * failed. Without a yardstick (no recent view with demand) periods still close, at the
	 * next step, and no wake-up is spent on them. */
	if (tput_on(p) && p->active && !is_primary(p) && !behind) {
		if (p->tput_suspect)
			bft_out_timer(out, now + 1);
		else if (p->tput_busy && (uint64_t)tput_history_max(p, now) *
						 p->cfg.tput_fraction_max_pct / 100 >=
					 p->cfg.tput_min_requests)
			bft_out_timer(out, p->tput_period_ms + p->cfg.tput_period_ms);
	}
	/* push_progress's deadlines: a peer newly seen lagging is given one period to send its
	 * own messages first; one that caught up is struck off. */
	bft_seq done = bft_log_last_executed(p->log);
	for (uint32_t r = 0; r < p->n; r++) {
		if (r == p->self || p->seen_seq[r] >= done) {
			p->push_ms[r] = 0;
			p->push_periods[r] = 0;
			continue;
		}
		if (p->push_ms[r] == 0) {
			p->push_periods[r] = 1;
			p->push_ms[r] = now + p->cfg.retransmit_ms;
		}
		bft_out_timer(out, p->push_ms[r]);
	}
	if (p->fetch_deadline != 0)
		bft_out_timer(out, p->fetch_deadline);
	if (p->nheld > 0)
		bft_out_timer(out, held_deadline(p));
	if (has_work(p)) {
		if (p->retransmit_ms <= now)
			p->retransmit_ms = now + p->cfg.retransmit_ms;
		bft_out_timer(out, p->retransmit_ms);
	}
	uint64_t oldest;
	if (p->cfg.byz && (p->cfg.byz->modes & BFT_BYZ_SLOW_PRIMARY) && is_primary(p) &&
	    bft_log_oldest_pending(p->log, &oldest))
		bft_out_timer(out, oldest + p->cfg.view_timeout_ms * 9 / 10);
}

enum bft_err pbft_step(struct pbft *p, const struct bft_event *ev, struct bft_out *out)
{
	uint64_t now = ev->now_ms;
	bft_seq low_before = bft_log_low(p->log);
	size_t first_record = out->nrecords;
	enum bft_err e = BFT_OK;

	tput_tick(p, now);
	if (!p->booted) {
		/* pbft.h pbft_restore: a replica restarted from records abstains in the views it
		 * may have voted in; a fresh one records its view first, so that a crash before its
		 * first durable vote still leaves a record saying it may have voted. */
		p->booted = true;
		if (p->restored) {
			p->abstain = p->active || p->view > 0;
			p->abstain_view = p->active ? p->view : p->view - 1;
		} else {
			e = view_record(p, out);
			if (e != BFT_OK)
				return e;
		}
	}
	if (p->restarted_inactive) {
		p->restarted_inactive = false;
		e = send_viewchange(p, out);
		if (e != BFT_OK)
			return e;
	}
	if (p->restored) {
		p->restored = false;
		e = resend_restored(p, out);
		if (e != BFT_OK)
			return e;
	}

	switch (ev->type) {
	case BFT_EV_MESSAGE: {
		const struct bft_msg *m = ev->msg;
		if (m->type != BFT_MSG_REQUEST && m->sender >= p->n) {
			e = BFT_ESENDER;
			break;
		}
		note_seq(p, m);
		switch (m->type) {
		case BFT_MSG_REQUEST:
			/* A request relayed by a replica arrives like one from the client; the
			 * caller tells them apart only by transport, which we do not need. */
			e = on_request(p, m, now, true, out);
			break;
		case BFT_MSG_PREPREPARE:
			e = on_preprepare(p, m, now, out);
			break;
		case BFT_MSG_PREPARE:
		case BFT_MSG_COMMIT:
			/* Our own messages come back only relayed; an old COMMIT of ours may be
			 * part of a commit certificate we lack (on_old_commit). */
			if (m->sender == p->self &&
			    !(m->type == BFT_MSG_COMMIT && m->u.phase.view < p->view)) {
				e = BFT_EDUP;
				break;
			}
			e = on_phase(p, m, now, out);
			break;
		case BFT_MSG_CHECKPOINT:
			e = bft_log_on_checkpoint(p->log, m, out);
			break;
		case BFT_MSG_VIEWCHANGE:
			e = on_viewchange(p, m, now, out);
			break;
		case BFT_MSG_NEWVIEW:
			e = on_newview(p, m, now, out);
			break;
		case BFT_MSG_FETCH:
			e = on_fetch(p, m, now, out);
			break;
		case BFT_MSG_STATE:
			e = on_state(p, m, now, out);
			break;
		default:
			e = BFT_ETYPE;
			break;
		}
		break;
	}
	case BFT_EV_TIMER:
		e = on_timer(p, now, out);
		break;
	case BFT_EV_RANDOM:
	case BFT_EV_TICK:
		break;
	}
	if (e < BFT_ERR_COUNT)
		p->st.faults[e]++;
	enum bft_err e2 = BFT_OK;
	/* supported_view: f+1 replicas are in a view beyond the cap: join it. */
	bft_view sv = supported_view(p);
	if (sv > p->view + VC_AHEAD)
		e2 = start_viewchange(p, sv, now, out);
	if (e2 == BFT_OK &&
	    (bft_log_low(p->log) != low_before || bft_log_behind(p->log, &(bft_seq){0})))
		e2 = after_stable(p, now, out);
	if (e2 == BFT_OK)
		e2 = try_progress(p, now, out);
	if (e2 == BFT_OK)
		e2 = reemit_after_checkpoint(p, first_record, out);
	p->tput_busy = tput_work(p);
	arm_timer(p, now, out);
	if (p->cfg.byz != NULL)
		byz_apply(p, now, out);
	return e != BFT_OK ? e : e2;
}
