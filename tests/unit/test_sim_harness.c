/*
 * Tests of the simulator itself (bft/sim), independent of any real protocol: the PRNG, the
 * scheduler's determinism and fault rates, timers, partitions, the toy application and the
 * invariant checker. The engine here is a fake: every replica orders the requests it receives
 * in arrival order, executes them at once and replies. With one replica that is a correct
 * (if trivial) replicated state machine; with several it is a broken one, which the checker
 * must catch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bft/pbft.h"
#include "bft/sim/sim.h"
#include "bft/wire.h"

/* ------------------------------------------------------------------------------------------ */
/* The fake engine. */

#define SOLO_TICK_MS 97u    /* heartbeat timer period */
#define SOLO_MSG_TIMER 37u  /* after a message, the timer is moved to now + this */

struct solo {
	struct sim_node_config cfg;
	bft_seq seq;
	uint64_t *last;             /* per client: last executed reqid */
	struct wire_buf *cached;    /* per client: the last REPLY envelope */
	uint64_t want_ms;           /* the timer deadline last asked for */
	uint64_t fires, early, stale;
};

static enum bft_err solo_create(void **engine, const struct sim_node_config *cfg)
{
	struct solo *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return BFT_ENOMEM;
	s->cfg = *cfg;
	s->last = calloc(cfg->limits.n_clients, sizeof(*s->last));
	s->cached = calloc(cfg->limits.n_clients, sizeof(*s->cached));
	if (s->last == NULL || s->cached == NULL) {
		free(s->last);
		free(s->cached);
		free(s);
		return BFT_ENOMEM;
	}
	*engine = s;
	return BFT_OK;
}

static void solo_free(void *engine)
{
	struct solo *s = engine;

	for (uint64_t c = 0; c < s->cfg.limits.n_clients; c++)
		wire_buf_free(&s->cached[c]);
	free(s->cached);
	free(s->last);
	free(s);
}

static enum bft_err solo_send_copy(struct bft_out *out, uint64_t client,
				   const struct wire_buf *b)
{
	uint8_t *copy = malloc(b->len);

	if (copy == NULL)
		return BFT_ENOMEM;
	memcpy(copy, b->p, b->len);
	return bft_out_msg(out, BFT_TO_CLIENT, client, BFT_MSG_REPLY, copy, b->len);
}

static enum bft_err solo_request(struct solo *s, const struct bft_msg *m, struct bft_out *out)
{
	const struct bft_request *rq = &m->u.request;
	uint64_t c = m->sender;
	struct wire_buf result = {0};
	struct bft_msg rep;
	uint8_t digest[CR_DIGEST_BYTES];
	enum bft_err e;

	if (rq->reqid < s->last[c])
		return BFT_ESTALE;
	if (rq->reqid == s->last[c])
		return solo_send_copy(out, c, &s->cached[c]) == BFT_OK ? BFT_EDUP : BFT_ENOMEM;
	if ((rq->flags & BFT_REQ_READONLY) != 0) {
		s->cfg.app.query(s->cfg.app.ctx, c, &rq->op, &result);
	} else {
		s->seq++;
		s->cfg.app.execute(s->cfg.app.ctx, c, &rq->op, 0, &result);
		/* The batch time is 0 for everyone, so only the order can make digests differ. */
		bft_batch_digest(0, &m->frame, 1, digest);
		if (bft_out_committed(out, s->seq, 1, 0, digest) != BFT_OK)
			return BFT_ENOMEM;
		s->last[c] = rq->reqid;
	}
	memset(&rep, 0, sizeof(rep));
	rep.version = BFT_WIRE_VERSION;
	rep.type = BFT_MSG_REPLY;
	rep.sender = s->cfg.self;
	rep.u.reply.client = c;
	rep.u.reply.reqid = rq->reqid;
	rep.u.reply.result.p = result.p;
	rep.u.reply.result.len = (uint32_t)result.len;
	if ((rq->flags & BFT_REQ_READONLY) != 0) {
		struct wire_buf b = {0};

		e = wire_encode(&rep, s->cfg.id, &b);
		if (e == BFT_OK)
			e = solo_send_copy(out, c, &b);
		wire_buf_free(&b);
	} else {
		wire_buf_free(&s->cached[c]);
		e = wire_encode(&rep, s->cfg.id, &s->cached[c]);
		if (e == BFT_OK)
			e = solo_send_copy(out, c, &s->cached[c]);
	}
	wire_buf_free(&result);
	return e;
}

static enum bft_err solo_step(void *engine, const struct bft_event *ev, struct bft_out *out)
{
	struct solo *s = engine;
	enum bft_err e = BFT_OK;

	if (ev->type == BFT_EV_TIMER) {
		/* The simulator must deliver exactly the latest deadline asked for, never early;
		 * anything else is counted and the test looks at the counters. */
		s->fires++;
		if (ev->now_ms < s->want_ms)
			s->early++;
		if (ev->now_ms != s->want_ms)
			s->stale++;
		s->want_ms = ev->now_ms + SOLO_TICK_MS;
	} else {
		if (ev->msg->type == BFT_MSG_REQUEST)
			e = solo_request(s, ev->msg, out);
		else
			e = BFT_ETYPE;
		s->want_ms = ev->now_ms + SOLO_MSG_TIMER;
	}
	out->timer_ms = s->want_ms;
	return e;
}

static void solo_status(const void *engine, struct sim_engine_status *st)
{
	const struct solo *s = engine;

	st->view_active = true;
	st->last_executed = s->seq;
}

static const struct sim_engine_ops solo_ops = {
	.name = "solo",
	.client_send = BFT_SEND_ALL,
	.create = solo_create,
	.step = solo_step,
	.status = solo_status,
	.free = solo_free,
};

static void solo_config(struct sim_config *c, uint32_t n, uint64_t seed)
{
	sim_config_default(c, &solo_ops, n);
	c->seed = seed;
	c->time_limit_ms = 600000;
}

/* ------------------------------------------------------------------------------------------ */
/* PRNG. */

static void test_sim_rng_is_splitmix64(void **state)
{
	struct sim_rng r;

	(void)state;
	sim_rng_seed(&r, 0);
	assert_true(sim_rng_next(&r) == 0xe220a8397b1dcdafull);
	assert_true(sim_rng_next(&r) == 0x6e789e6aa1b965f4ull);
	assert_true(sim_rng_next(&r) == 0x06c45d188009454full);
}

static void test_sim_rng_below_is_in_range_and_even(void **state)
{
	struct sim_rng r;
	unsigned counts[7] = {0};
	unsigned hits = 0;

	(void)state;
	sim_rng_seed(&r, 42);
	for (int i = 0; i < 70000; i++)
		counts[sim_rng_below(&r, 7)]++;
	for (int k = 0; k < 7; k++)
		assert_in_range(counts[k], 9400, 10600);
	for (int i = 0; i < 1000; i++) {
		uint64_t x = sim_rng_range(&r, 5, 9);

		assert_in_range(x, 5, 9);
	}
	for (int i = 0; i < 100000; i++)
		hits += sim_rng_chance(&r, 0.25);
	assert_in_range(hits, 24000, 26000);
	assert_false(sim_rng_chance(&r, 0.0));
	assert_true(sim_rng_chance(&r, 1.0));
	assert_true(sim_seed_derive(1, 2, 3) != sim_seed_derive(1, 2, 4));
	assert_true(sim_seed_derive(1, 2, 3) == sim_seed_derive(1, 2, 3));
}

/* ------------------------------------------------------------------------------------------ */
/* Scheduler. */

static void test_sim_same_seed_same_trace_different_seed_different_trace(void **state)
{
	struct sim_config c;
	struct sim_stats a, b;
	uint64_t hashes[6];

	(void)state;
	solo_config(&c, 1, 7);
	sim_config_random_faults(&c);
	assert_true(sim_run_one(&c, &a, stdout, false));
	assert_true(sim_run_one(&c, &b, stdout, false));
	assert_true(a.trace_hash == b.trace_hash);
	assert_true(a.events == b.events && a.dropped == b.dropped && a.end_ms == b.end_ms);
	assert_int_equal(a.completed, 90);

	for (uint64_t seed = 1; seed <= 6; seed++) {
		solo_config(&c, 1, seed);
		sim_config_random_faults(&c);
		assert_true(sim_run_one(&c, &a, stdout, false));
		hashes[seed - 1] = a.trace_hash;
		for (uint64_t k = 1; k < seed; k++)
			assert_true(hashes[k - 1] != a.trace_hash);
	}
}

static void test_sim_drop_and_duplicate_rates_match_configuration(void **state)
{
	struct sim_config c;
	struct sim_stats st;
	double drop, dup, delay;

	(void)state;
	solo_config(&c, 1, 3);
	/* One request in flight per client: the fake engine keeps only each client's last
	 * reqid, so it would refuse a request overtaken by its successor. */
	c.nclients = 8;
	c.requests_per_client = 250;
	c.drop_rate = 0.2;
	c.dup_rate = 0.1;
	c.delay_rate = 0.05;
	c.delay_max_ms = 300;
	c.faults_until_ms = UINT64_MAX;
	c.client_retransmit_ms = 50;
	assert_true(sim_run_one(&c, &st, stdout, false));
	assert_true(st.sent > 3000);
	drop = (double)st.dropped / (double)st.sent;
	dup = (double)st.duplicated / (double)(st.sent - st.dropped);
	assert_true(drop > 0.18 && drop < 0.22);
	assert_true(dup > 0.085 && dup < 0.115);
	delay = (double)st.delayed / (double)(st.sent - st.dropped + st.duplicated);
	assert_true(delay > 0.04 && delay < 0.06);
	/* Every duplicate is delivered once more (some may still be in flight at the end). */
	assert_true(st.delivered <= st.sent - st.dropped + st.duplicated);

	/* After faults_until_ms the network is reliable. */
	c.faults_until_ms = 0;
	assert_true(sim_run_one(&c, &st, stdout, false));
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.duplicated, 0);
	assert_int_equal(st.delayed, 0);
	assert_true(st.delivered <= st.sent);
}

static void test_sim_single_replica_is_live_under_faults(void **state)
{
	struct sim_config c;
	struct sim_stats st;

	(void)state;
	for (uint64_t seed = 100; seed < 140; seed++) {
		solo_config(&c, 1, seed);
		sim_config_random_faults(&c);
		c.readonly_rate = 0.3;
		assert_true(sim_run_one(&c, &st, stdout, false));
		assert_int_equal(st.completed, 90);
	}
}

static void test_sim_partition_cuts_then_heals(void **state)
{
	struct sim_config c;
	struct sim_stats st;

	(void)state;
	solo_config(&c, 1, 11);
	c.partition_mask = 1;
	c.partition_start_ms = 100;
	c.partition_end_ms = 1500;
	assert_true(sim_run_one(&c, &st, stdout, false));
	assert_true(st.partitioned > 0);
	assert_true(st.end_ms > 1500);
	assert_int_equal(st.completed, 90);
}

/* A partition schedule cuts exactly the pairs in different groups, and a twin (a second
 * instance of a replica's key) hears what is sent to its replica and speaks under its id. */
static void test_sim_twin_instances_run_under_one_key_behind_a_partition_schedule(void **state)
{
	struct sim_config c;
	struct sim_stats st;
	struct pbft_status a, b;
	struct sim *s;

	(void)state;
	sim_config_default(&c, &sim_engine_pbft, 4);
	c.seed = 5;
	c.nclients = 1;
	c.requests_per_client = 20;
	c.ntwins = 1;
	c.twin_of[0] = 2;
	c.nphases = 2;
	/* Phase 0: the twin (instance 4) alone; phase 1 (from 100 ms): everyone together. */
	c.phases[0].group[4] = 1;
	c.phases[1].start_ms = 100;
	c.safety_only = true;
	c.time_limit_ms = 5000;
	assert_int_equal(sim_new(&s, &c), BFT_OK);
	assert_true(sim_run(s));
	sim_get_stats(s, &st);
	assert_true(st.partitioned > 0);
	pbft_status(sim_engine(s, 2), &a);
	pbft_status(sim_engine(s, 4), &b);
	assert_true(a.last_executed > 0);
	assert_true(b.last_executed > 0); /* the twin took part once connected */
	assert_null(sim_engine(s, 5));
	sim_free(s);
	/* A twin of a replica that does not exist is refused. */
	c.twin_of[0] = 4;
	assert_int_equal(sim_new(&s, &c), BFT_EINVAL);
	/* So are phases out of order. */
	c.twin_of[0] = 2;
	c.phases[0].start_ms = 500;
	assert_int_equal(sim_new(&s, &c), BFT_EINVAL);
}

/* The catch-up check: a replica cut off for good while the others go past stable checkpoints
 * is reported once the clients are done; one whose partition heals catches up (by state
 * transfer: the others collected the log it missed). */
static void test_sim_catch_up_reports_a_replica_left_behind_for_good(void **state)
{
	struct sim_config c;
	struct sim_stats st;
	struct sim *s;

	(void)state;
	sim_config_default(&c, &sim_engine_pbft, 4);
	c.seed = 9;
	c.shared_keys = true;
	c.nphases = 1;
	c.phases[0].group[3] = 1;
	c.catch_up_ms = 3000;
	assert_int_equal(sim_new(&s, &c), BFT_OK);
	assert_false(sim_run(s));
	assert_non_null(strstr(sim_violation(s), "catch-up: replica 3"));
	sim_free(s);

	c.nphases = 2;
	c.phases[1].start_ms = 1500;
	assert_true(sim_run_one(&c, &st, stdout, false));
	assert_true(st.fell_behind >= 1);
	assert_true(st.transferred >= 1);
	assert_int_equal(st.behind_untransferred, 0);
}

/* shared_keys: the same seed replays identically, run after run in one process. */
static void test_sim_shared_keys_replay_identically(void **state)
{
	struct sim_config c;
	struct sim_stats a, b;

	(void)state;
	sim_config_default(&c, &sim_engine_pbft, 4);
	c.seed = 3;
	c.shared_keys = true;
	c.requests_per_client = 5;
	assert_true(sim_run_one(&c, &a, stdout, false));
	assert_true(sim_run_one(&c, &b, stdout, false));
	assert_true(a.trace_hash == b.trace_hash);
	assert_true(a.verify_fast > 0); /* signatures of known signers checked by re-signing */
}

static void test_sim_timers_fire_at_the_latest_deadline_only(void **state)
{
	struct sim_config c;
	struct sim *s;
	const struct solo *e;

	(void)state;
	solo_config(&c, 1, 5);
	sim_config_random_faults(&c);
	assert_int_equal(sim_new(&s, &c), BFT_OK);
	assert_true(sim_run(s));
	e = sim_engine(s, 0);
	assert_true(e->fires > 0);
	assert_int_equal(e->early, 0);
	assert_int_equal(e->stale, 0);
	sim_free(s);
}

static void test_sim_records_and_rejects_are_counted(void **state)
{
	struct sim_config c;
	struct sim_stats st;

	(void)state;
	solo_config(&c, 1, 9);
	assert_true(sim_run_one(&c, &st, stdout, false));
	assert_int_equal(st.decode_failed, 0);
	assert_int_equal(st.verify_failed, 0);
	/* Writes are ordered; reads are answered by query (one reply is a quorum for n = 1). */
	assert_int_equal(st.readonly_fallbacks, 0);
	assert_int_equal(st.max_committed, 90 - st.readonly_completed);
}

static void test_sim_detects_engine_that_orders_differently(void **state)
{
	struct sim_config c;
	struct sim *s;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	/* Four replicas each ordering in their own arrival order: they disagree. */
	solo_config(&c, 4, 1);
	c.readonly_rate = 0;
	assert_int_equal(sim_new(&s, &c), BFT_OK);
	assert_false(sim_run(s));
	assert_non_null(sim_violation(s));
	assert_true(strncmp(sim_violation(s), "agreement:", 10) == 0);
	f = open_memstream(&text, &len);
	assert_non_null(f);
	sim_print_report(s, f);
	fclose(f);
	assert_non_null(strstr(text, "seed=1 "));
	assert_non_null(strstr(text, "violation: agreement"));
	assert_non_null(strstr(text, "trace lines"));
	assert_non_null(strstr(text, "deliver"));
	free(text);
	sim_free(s);

}

static void test_sim_liveness_bound_is_enforced(void **state)
{
	struct sim_config c;
	struct sim *s;

	(void)state;
	/* A partition that never heals within the time limit. */
	solo_config(&c, 1, 2);
	c.partition_mask = 1;
	c.partition_start_ms = 0;
	c.partition_end_ms = UINT64_MAX;
	c.time_limit_ms = 5000;
	assert_int_equal(sim_new(&s, &c), BFT_OK);
	assert_false(sim_run(s));
	assert_true(strncmp(sim_violation(s), "liveness:", 9) == 0);
	sim_free(s);
}

static void test_sim_new_rejects_bad_config(void **state)
{
	struct sim_config c;
	struct sim *s = NULL;

	(void)state;
	solo_config(&c, 0, 1);
	assert_int_equal(sim_new(&s, &c), BFT_EINVAL);
	solo_config(&c, 4, 1);
	c.partition_mask = 1u << 4;
	assert_int_equal(sim_new(&s, &c), BFT_EINVAL);
	solo_config(&c, 4, 1);
	c.latency_min_ms = 10;
	c.latency_max_ms = 5;
	assert_int_equal(sim_new(&s, &c), BFT_EINVAL);
	assert_null(s);
}

/* ------------------------------------------------------------------------------------------ */
/* The checker, fed violations on purpose. */

static void test_sim_check_detects_two_digests_at_one_seq(void **state)
{
	struct sim_check *ck = sim_check_new(4, 1, 4);
	uint8_t d1[CR_DIGEST_BYTES] = {1}, d2[CR_DIGEST_BYTES] = {2};

	(void)state;
	assert_true(sim_check_commit(ck, 0, 5, d1));
	assert_true(sim_check_commit(ck, 1, 5, d1));
	assert_null(sim_check_violation(ck));
	/* A Byzantine replica's divergence is not a violation... */
	sim_check_set_faulty(ck, 3);
	assert_true(sim_check_commit(ck, 3, 5, d2));
	assert_null(sim_check_violation(ck));
	/* ...a correct one's is. */
	assert_false(sim_check_commit(ck, 2, 5, d2));
	assert_non_null(sim_check_violation(ck));
	assert_non_null(strstr(sim_check_violation(ck), "agreement: seq 5"));
	/* The first violation is kept. */
	assert_false(sim_check_fail(ck, "something else"));
	assert_true(strncmp(sim_check_violation(ck), "agreement", 9) == 0);
	sim_check_free(ck);
}

static void test_sim_check_detects_double_execution(void **state)
{
	struct sim_check *ck = sim_check_new(4, 2, 4);
	uint8_t op[SIM_OP_BYTES];

	(void)state;
	sim_check_submitted(ck, 1, 1, 0);
	sim_op_encode(op, 1, 1, 0);
	assert_true(sim_check_execute(ck, 0, 1, op, sizeof(op), 1, false));
	assert_false(sim_check_execute(ck, 0, 1, op, sizeof(op), 2, true));
	assert_non_null(strstr(sim_check_violation(ck), "exactly-once"));
	sim_check_free(ck);
}

static void test_sim_check_detects_invalid_ops(void **state)
{
	uint8_t op[SIM_OP_BYTES];
	struct sim_check *ck;

	(void)state;
	/* Never submitted. */
	ck = sim_check_new(4, 2, 4);
	sim_op_encode(op, 1, 3, 0);
	assert_false(sim_check_execute(ck, 0, 1, op, sizeof(op), 1, false));
	assert_non_null(strstr(sim_check_violation(ck), "validity"));
	sim_check_free(ck);
	/* Submitted by client 1 but executed as signed by client 0. */
	ck = sim_check_new(4, 2, 4);
	sim_check_submitted(ck, 1, 1, 0);
	sim_op_encode(op, 1, 1, 0);
	assert_false(sim_check_execute(ck, 0, 0, op, sizeof(op), 1, false));
	assert_non_null(strstr(sim_check_violation(ck), "validity"));
	sim_check_free(ck);
	/* Not an op at all. */
	ck = sim_check_new(4, 2, 4);
	assert_false(sim_check_execute(ck, 0, 0, op, 3, 1, false));
	assert_non_null(strstr(sim_check_violation(ck), "validity"));
	sim_check_free(ck);
	/* A Byzantine replica may execute anything. */
	ck = sim_check_new(4, 2, 4);
	sim_check_set_faulty(ck, 2);
	assert_true(sim_check_execute(ck, 2, 0, op, 3, 1, false));
	assert_null(sim_check_violation(ck));
	sim_check_free(ck);
}

static void test_sim_check_detects_order_disagreement_and_wrong_results(void **state)
{
	struct sim_check *ck = sim_check_new(4, 2, 4);
	uint8_t a[SIM_OP_BYTES], b[SIM_OP_BYTES];
	struct sim_app *app = sim_app_new(NULL, 0, 2, 4);
	struct bft_app cb = sim_app_callbacks(app);
	struct wire_buf res = {0};
	struct bft_bytes opb;

	(void)state;
	sim_check_submitted(ck, 0, 1, 0);
	sim_check_submitted(ck, 1, 1, 0);
	sim_op_encode(a, 0, 1, 0);
	sim_op_encode(b, 1, 1, 0);
	assert_true(sim_check_execute(ck, 0, 0, a, sizeof(a), 1, false));
	assert_true(sim_check_execute(ck, 1, 0, a, sizeof(a), 1, false));
	/* The app's result for op a at position 1 is accepted; a result claiming another
	 * position is not. */
	opb.p = a;
	opb.len = sizeof(a);
	cb.execute(cb.ctx, 0, &opb, 0, &res);
	assert_true(sim_check_result(ck, 0, 1, res.p, res.len));
	assert_false(sim_check_all_completed(ck));
	assert_non_null(strstr(sim_check_violation(ck), "liveness"));
	sim_check_free(ck);

	ck = sim_check_new(4, 2, 4);
	sim_check_submitted(ck, 0, 1, 0);
	sim_check_submitted(ck, 1, 1, 0);
	assert_true(sim_check_execute(ck, 0, 0, a, sizeof(a), 1, false));
	assert_false(sim_check_execute(ck, 1, 1, b, sizeof(b), 1, false));
	assert_non_null(strstr(sim_check_violation(ck), "agreement: position 1"));
	sim_check_free(ck);

	ck = sim_check_new(4, 2, 4);
	sim_check_submitted(ck, 0, 1, 0);
	sim_check_submitted(ck, 1, 1, 0);
	assert_true(sim_check_execute(ck, 0, 1, b, sizeof(b), 1, false));
	assert_true(sim_check_execute(ck, 0, 0, a, sizeof(a), 2, false));
	/* res says position 1, but correct replicas executed op a at 2. */
	assert_false(sim_check_result(ck, 0, 1, res.p, res.len));
	assert_non_null(strstr(sim_check_violation(ck), "result"));
	sim_check_free(ck);
	wire_buf_free(&res);
	sim_app_free(app);
}

/* ------------------------------------------------------------------------------------------ */
/* The toy application. */

static void app_run(struct bft_app *cb, uint64_t client, uint32_t counter, uint8_t kind,
		    struct wire_buf *res)
{
	uint8_t op[SIM_OP_BYTES];
	struct bft_bytes b = {op, sizeof(op)};

	sim_op_encode(op, client, counter, kind);
	res->len = 0;
	cb->execute(cb->ctx, client, &b, 1234, res);
}

static void test_sim_app_snapshot_is_canonical_and_restore_validates(void **state)
{
	struct sim_app *a = sim_app_new(NULL, 0, 3, 10), *b = sim_app_new(NULL, 1, 3, 10);
	struct bft_app ca = sim_app_callbacks(a), cb = sim_app_callbacks(b);
	struct wire_buf sa = {0}, sb = {0}, res = {0}, bad = {0};
	uint64_t client, position;
	uint32_t counter;
	uint8_t how;

	(void)state;
	app_run(&ca, 0, 1, 0, &res);
	app_run(&ca, 2, 1, 0, &res);
	app_run(&ca, 0, 2, 1, &res); /* a read changes nothing */
	assert_int_equal(sim_app_position(a), 2);
	app_run(&ca, 0, 3, 0, &res);
	assert_int_equal(sim_result_decode(res.p, res.len, &client, &counter, &how, &position), 0);
	assert_true(client == 0 && counter == 3 && how == 0 && position == 3);

	assert_int_equal(ca.snapshot(ca.ctx, &sa), BFT_OK);
	assert_int_equal(cb.restore(cb.ctx, sa.p, sa.len), BFT_OK);
	assert_int_equal(cb.snapshot(cb.ctx, &sb), BFT_OK);
	assert_int_equal(sa.len, sb.len);
	assert_memory_equal(sa.p, sb.p, sa.len);
	assert_int_equal(sim_app_position(b), 3);

	/* Both go on identically. */
	app_run(&ca, 1, 1, 0, &res);
	app_run(&cb, 1, 1, 0, &res);
	sa.len = sb.len = 0;
	assert_int_equal(ca.snapshot(ca.ctx, &sa), BFT_OK);
	assert_int_equal(cb.snapshot(cb.ctx, &sb), BFT_OK);
	assert_memory_equal(sa.p, sb.p, sa.len);

	/* Corruptions are refused and leave the state as it was. */
	bad.p = malloc(sa.len + 1);
	assert_non_null(bad.p);
	memcpy(bad.p, sa.p, sa.len);
	assert_int_equal(cb.restore(cb.ctx, bad.p, sa.len - 1), BFT_EMALFORMED);
	assert_int_equal(cb.restore(cb.ctx, bad.p, sa.len + 1), BFT_EMALFORMED);
	bad.p[0] ^= 1; /* magic */
	assert_int_equal(cb.restore(cb.ctx, bad.p, sa.len), BFT_EMALFORMED);
	bad.p[0] ^= 1;
	bad.p[sa.len - 1] ^= 0x80; /* a bit past the last counter */
	assert_int_equal(cb.restore(cb.ctx, bad.p, sa.len), BFT_EMALFORMED);
	bad.p[sa.len - 1] ^= 0x80;
	bad.p[7 + 8] ^= 1; /* position disagrees with the bits set */
	assert_int_equal(cb.restore(cb.ctx, bad.p, sa.len), BFT_EMALFORMED);
	bad.p[7 + 8] ^= 1;
	bad.p[7 + 8 + 8 + 32] |= 1; /* counter 0 of client 0 */
	assert_int_equal(cb.restore(cb.ctx, bad.p, sa.len), BFT_EMALFORMED);
	assert_int_equal(cb.restore(cb.ctx, NULL, 0), BFT_EMALFORMED);
	sb.len = 0;
	assert_int_equal(cb.snapshot(cb.ctx, &sb), BFT_OK);
	assert_memory_equal(sa.p, sb.p, sa.len);
	assert_int_equal(sim_app_position(b), 4);

	free(bad.p);
	wire_buf_free(&sa);
	wire_buf_free(&sb);
	wire_buf_free(&res);
	sim_app_free(a);
	sim_app_free(b);
}

static void test_sim_op_and_result_codecs_reject_garbage(void **state)
{
	uint8_t op[SIM_OP_BYTES];
	uint64_t client;
	uint32_t counter;
	uint8_t kind;

	(void)state;
	sim_op_encode(op, 77, 9, 1);
	assert_int_equal(sim_op_decode(op, sizeof(op), &client, &counter, &kind), 0);
	assert_true(client == 77 && counter == 9 && kind == 1);
	assert_int_equal(sim_op_decode(op, sizeof(op) - 1, &client, &counter, &kind), -1);
	op[14] = 2;
	assert_int_equal(sim_op_decode(op, sizeof(op), &client, &counter, &kind), -1);
	op[14] = 0;
	op[0] = 'x';
	assert_int_equal(sim_op_decode(op, sizeof(op), &client, &counter, &kind), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_rng_is_splitmix64),
		cmocka_unit_test(test_sim_rng_below_is_in_range_and_even),
		cmocka_unit_test(test_sim_same_seed_same_trace_different_seed_different_trace),
		cmocka_unit_test(test_sim_drop_and_duplicate_rates_match_configuration),
		cmocka_unit_test(test_sim_single_replica_is_live_under_faults),
		cmocka_unit_test(test_sim_partition_cuts_then_heals),
		cmocka_unit_test(test_sim_timers_fire_at_the_latest_deadline_only),
		cmocka_unit_test(test_sim_records_and_rejects_are_counted),
		cmocka_unit_test(test_sim_detects_engine_that_orders_differently),
		cmocka_unit_test(test_sim_liveness_bound_is_enforced),
		cmocka_unit_test(test_sim_new_rejects_bad_config),
		cmocka_unit_test(test_sim_check_detects_two_digests_at_one_seq),
		cmocka_unit_test(test_sim_check_detects_double_execution),
		cmocka_unit_test(test_sim_check_detects_invalid_ops),
		cmocka_unit_test(test_sim_check_detects_order_disagreement_and_wrong_results),
		cmocka_unit_test(test_sim_app_snapshot_is_canonical_and_restore_validates),
		cmocka_unit_test(test_sim_op_and_result_codecs_reject_garbage),
		cmocka_unit_test(test_sim_twin_instances_run_under_one_key_behind_a_partition_schedule),
		cmocka_unit_test(test_sim_catch_up_reports_a_replica_left_behind_for_good),
		cmocka_unit_test(test_sim_shared_keys_replay_identically),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
