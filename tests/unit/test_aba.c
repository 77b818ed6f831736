/*
 * Unit tests for binary agreement (bft/aba.h): agreement and termination in small clusters,
 * the late coin release, TERM, and every rejection with its exact code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bft/aba.h"

#define N 4u
#define F 1u

static struct cr_thresh_pubkey pk;
static struct cr_thresh_share sk[N];
static uint64_t rand_ctr;
static bool fixed;          /* mk(): the fixed-coin schedule (aba.h "Coin schedule") */
static uint64_t coins_sent; /* COIN messages enqueued by run() */
static uint64_t confs_sent; /* CONF messages enqueued by run() */

static int setup(void **state)
{
	uint8_t seed[CR_THRESH_SEED_BYTES] = {42};

	(void)state;
	return cr_dealer_deal(&pk, sk, N, F, CR_THRESH_COIN, seed);
}

static void test_rand(void *ctx, uint8_t out[32])
{
	(void)ctx;
	memset(out, 0, 32);
	memcpy(out, &rand_ctr, sizeof(rand_ctr));
	rand_ctr++;
}

static struct aba *mk(uint32_t self, uint64_t epoch)
{
	struct aba_config c = {.n = N, .f = F, .self = self, .epoch = epoch, .instance = 2,
			       .coin_pk = &pk, .coin_sk = &sk[self], .rounds_ahead = 4,
			       .rand = test_rand, .fixed_coins = fixed};
	struct aba *a = NULL;

	assert_int_equal(aba_new(&a, &c), BFT_OK);
	return a;
}

struct item {
	uint32_t from, to;
	struct aba_msg m;
};

static struct item q[1 << 16];
static size_t qh, qt;

static void enqueue(uint32_t from, struct aba_out *o, uint32_t silent)
{
	for (size_t i = 0; i < o->n; i++) {
		coins_sent += o->msgs[i].type == BFT_MSG_HB_COIN;
		confs_sent += o->msgs[i].type == BFT_MSG_HB_CONF;
		for (uint32_t to = 0; to < N; to++)
			if (to != from && !((silent >> to) & 1u)) {
				assert_true(qt < sizeof(q) / sizeof(q[0]));
				q[qt].from = from;
				q[qt].to = to;
				q[qt].m = o->msgs[i];
				qt++;
			}
	}
	o->n = 0;
}

static enum bft_err deliver(struct aba *a, const struct item *it, struct aba_out *o)
{
	struct bft_hb_aba m = {.epoch = 0, .instance = 2, .round = it->m.round,
			       .value = it->m.value};

	if (it->m.type == BFT_MSG_HB_COIN)
		return aba_on_coin(a, it->from, it->m.round, it->m.share, o);
	return aba_on_msg(a, it->from, it->m.type, &m, o);
}

/* Runs instances with the given inputs (silent replicas take no part). `order` permutes the
 * queue: 0 FIFO, otherwise a deterministic shuffle of what is pending. */
static void run(const bool *inputs, uint32_t silent, uint64_t order, bool *decisions)
{
	struct aba *a[N];
	struct aba_out o = {0};

	qh = qt = 0;
	for (uint32_t i = 0; i < N; i++)
		a[i] = mk(i, 0);
	for (uint32_t i = 0; i < N; i++) {
		if ((silent >> i) & 1u)
			continue;
		assert_int_equal(aba_input(a[i], inputs[i], &o), BFT_OK);
		enqueue(i, &o, silent);
	}
	while (qh < qt) {
		if (order != 0 && qt - qh > 1) {
			/* Swap the head with a pseudo-random pending message: reordering. */
			order = order * 6364136223846793005ull + 1442695040888963407ull;
			size_t k = qh + (size_t)((order >> 33) % (qt - qh));
			struct item t = q[qh];

			q[qh] = q[k];
			q[k] = t;
		}
		struct item it = q[qh++];
		enum bft_err e = deliver(a[it.to], &it, &o);

		assert_true(e == BFT_OK || e == BFT_EDUP || e == BFT_ESTALE);
		enqueue(it.to, &o, silent);
	}
	for (uint32_t i = 0; i < N; i++) {
		if (!((silent >> i) & 1u))
			assert_true(aba_decided(a[i], &decisions[i]));
		aba_free(a[i]);
	}
	aba_out_free(&o);
}

static void test_aba_all_ones_decide_one(void **state)
{
	const bool in[N] = {true, true, true, true};
	bool d[N];

	(void)state;
	for (uint64_t order = 0; order < 20; order++) {
		run(in, 0, order, d);
		for (uint32_t i = 0; i < N; i++)
			assert_true(d[i]);
	}
}

static void test_aba_all_zeros_decide_zero(void **state)
{
	const bool in[N] = {false, false, false, false};
	bool d[N];

	(void)state;
	run(in, 0, 7, d);
	for (uint32_t i = 0; i < N; i++)
		assert_false(d[i]);
}

static void test_aba_mixed_inputs_agree_under_reordering(void **state)
{
	const bool in[N] = {true, false, true, false};
	bool d[N];

	(void)state;
	for (uint64_t order = 1; order < 40; order++) {
		run(in, 0, order, d);
		for (uint32_t i = 1; i < N; i++)
			assert_int_equal(d[i], d[0]);
	}
}

static void test_aba_terminates_with_one_replica_silent(void **state)
{
	const bool in[N] = {true, false, true, true};
	bool d[N];

	(void)state;
	for (uint64_t order = 0; order < 20; order++) {
		run(in, 1u << 3, order, d);
		assert_int_equal(d[1], d[0]);
		assert_int_equal(d[2], d[0]);
	}
}

static void input(struct aba *a, bool v)
{
	struct aba_out o = {0};

	assert_int_equal(aba_input(a, v, &o), BFT_OK);
	assert_int_equal(aba_input(a, v, &o), BFT_ESTATE);
	aba_out_free(&o);
}

static enum bft_err msg(struct aba *a, uint32_t from, enum bft_msg_type t, uint32_t round,
			uint32_t v, struct aba_out *o)
{
	struct bft_hb_aba m = {.epoch = 0, .instance = 2, .round = round, .value = v};

	return aba_on_msg(a, from, t, &m, o);
}

static bool has(const struct aba_out *o, enum bft_msg_type t)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->msgs[i].type == t)
			return true;
	return false;
}

static void test_aba_duplicate_bval_is_dup_and_second_value_is_a_relay(void **state)
{
	struct aba *a = mk(0, 0);
	struct aba_out o = {0};

	(void)state;
	input(a, true);
	assert_int_equal(msg(a, 1, BFT_MSG_HB_BVAL, 0, 1, &o), BFT_OK);
	assert_int_equal(msg(a, 1, BFT_MSG_HB_BVAL, 0, 1, &o), BFT_EDUP);
	/* MMR step 1: a correct replica relays the other value on f+1 BVALs of it, so a second,
	 * different BVAL from one sender is legitimate. */
	assert_int_equal(msg(a, 1, BFT_MSG_HB_BVAL, 0, 0, &o), BFT_OK);
	assert_int_equal(msg(a, 1, BFT_MSG_HB_BVAL, 0, 0, &o), BFT_EDUP);
	aba_out_free(&o);
	aba_free(a);
}

static void test_aba_second_different_aux_conf_or_term_is_a_conflict(void **state)
{
	struct aba *a = mk(0, 0);
	struct aba_out o = {0};

	(void)state;
	input(a, true);
	assert_int_equal(msg(a, 1, BFT_MSG_HB_AUX, 0, 1, &o), BFT_OK);
	assert_int_equal(msg(a, 1, BFT_MSG_HB_AUX, 0, 1, &o), BFT_EDUP);
	assert_int_equal(msg(a, 1, BFT_MSG_HB_AUX, 0, 0, &o), BFT_ECONFLICT);
	assert_int_equal(msg(a, 2, BFT_MSG_HB_CONF, 0, 2, &o), BFT_OK);
	assert_int_equal(msg(a, 2, BFT_MSG_HB_CONF, 0, 2, &o), BFT_EDUP);
	assert_int_equal(msg(a, 2, BFT_MSG_HB_CONF, 0, 3, &o), BFT_ECONFLICT);
	assert_int_equal(msg(a, 3, BFT_MSG_HB_TERM, 0, 1, &o), BFT_OK);
	assert_int_equal(msg(a, 3, BFT_MSG_HB_TERM, 0, 1, &o), BFT_EDUP);
	assert_int_equal(msg(a, 3, BFT_MSG_HB_TERM, 0, 0, &o), BFT_ECONFLICT);
	aba_out_free(&o);
	aba_free(a);
}

static void test_aba_rejects_values_rounds_and_senders_out_of_range(void **state)
{
	struct aba *a = mk(0, 0);
	struct aba_out o = {0};

	(void)state;
	input(a, true);
	assert_int_equal(msg(a, 1, BFT_MSG_HB_BVAL, 0, 2, &o), BFT_EINVAL);
	assert_int_equal(msg(a, 1, BFT_MSG_HB_CONF, 0, 0, &o), BFT_EINVAL);
	assert_int_equal(msg(a, 1, BFT_MSG_HB_CONF, 0, 4, &o), BFT_EINVAL);
	assert_int_equal(msg(a, 1, BFT_MSG_HB_BVAL, 5, 1, &o), BFT_ESEQ); /* > rounds_ahead */
	assert_int_equal(msg(a, 1, BFT_MSG_HB_BVAL, 4, 1, &o), BFT_OK);   /* buffered */
	assert_int_equal(msg(a, N, BFT_MSG_HB_BVAL, 0, 1, &o), BFT_ESENDER);
	assert_int_equal(msg(a, 0, BFT_MSG_HB_BVAL, 0, 1, &o), BFT_ESENDER);
	assert_int_equal(msg(a, 1, BFT_MSG_HB_COIN, 0, 1, &o), BFT_ETYPE);
	aba_out_free(&o);
	aba_free(a);
}

/* Drives replica 0 through round 0 with the others' messages; returns whether a COIN left at
 * each stage. */
static void test_aba_coin_share_released_only_after_the_conf_quorum(void **state)
{
	struct aba *a = mk(0, 0);
	struct aba_out o = {0};

	(void)state;
	assert_int_equal(aba_input(a, true, &o), BFT_OK);
	assert_int_equal(msg(a, 1, BFT_MSG_HB_BVAL, 0, 1, &o), BFT_OK);
	assert_int_equal(msg(a, 2, BFT_MSG_HB_BVAL, 0, 1, &o), BFT_OK);
	assert_true(has(&o, BFT_MSG_HB_AUX));
	assert_false(has(&o, BFT_MSG_HB_CONF));
	assert_int_equal(msg(a, 1, BFT_MSG_HB_AUX, 0, 1, &o), BFT_OK);
	assert_int_equal(msg(a, 2, BFT_MSG_HB_AUX, 0, 1, &o), BFT_OK);
	assert_true(has(&o, BFT_MSG_HB_CONF));
	/* AUX quorum reached: still no coin share (the HoneyBadgerBFT#59 fix). */
	assert_false(has(&o, BFT_MSG_HB_COIN));
	assert_int_equal(msg(a, 1, BFT_MSG_HB_CONF, 0, 2, &o), BFT_OK);
	assert_false(has(&o, BFT_MSG_HB_COIN));
	assert_int_equal(msg(a, 2, BFT_MSG_HB_CONF, 0, 2, &o), BFT_OK);
	assert_true(has(&o, BFT_MSG_HB_COIN));
	assert_int_equal(aba_coin(a, 0), -1); /* one share of the f+1 */
	aba_out_free(&o);
	aba_free(a);
}

/* A valid share from replica j for round r of this instance. */
static void share_for(uint32_t j, uint64_t epoch, uint32_t round, uint8_t out[CR_COIN_SHARE_BYTES])
{
	uint8_t name[ABA_COIN_NAME_BYTES], rnd[32] = {9};
	struct cr_coin_share s;

	aba_coin_name(epoch, 2, round, name);
	assert_int_equal(cr_coin_share_make(&s, &sk[j], name, sizeof(name), rnd), 0);
	cr_coin_share_encode(out, &s);
}

static void test_aba_rejects_invalid_coin_shares(void **state)
{
	struct aba *a = mk(0, 0);
	struct aba_out o = {0};
	uint8_t sh[CR_COIN_SHARE_BYTES];

	(void)state;
	input(a, true);
	/* A share of another round's coin: a valid point, a proof that does not verify. */
	share_for(1, 0, 1, sh);
	assert_int_equal(aba_on_coin(a, 1, 0, sh, &o), BFT_EBADSHARE);
	/* Once judged, the sender's share for that round is settled. */
	share_for(1, 0, 0, sh);
	assert_int_equal(aba_on_coin(a, 1, 0, sh, &o), BFT_EDUP);
	/* Another replica's share, sent by replica 2: the index is not the sender's. */
	assert_int_equal(aba_on_coin(a, 2, 0, sh, &o), BFT_EBADSHARE);
	/* A share of another epoch's coin. */
	share_for(3, 1, 0, sh);
	assert_int_equal(aba_on_coin(a, 3, 0, sh, &o), BFT_EBADSHARE);
	/* Bytes that are no share at all. */
	memset(sh, 0xff, sizeof(sh));
	assert_int_equal(aba_on_coin(a, 3, 1, sh, &o), BFT_EBADSHARE);
	/* A valid one, then its duplicate. */
	share_for(3, 0, 2, sh);
	assert_int_equal(aba_on_coin(a, 3, 2, sh, &o), BFT_OK);
	assert_int_equal(aba_on_coin(a, 3, 2, sh, &o), BFT_EDUP);
	aba_out_free(&o);
	aba_free(a);
}

/* Once f+1 valid shares are certain (ours is reserved), more are kept without verification. */
static void test_aba_shares_beyond_the_needed_ones_are_kept_unverified(void **state)
{
	struct aba *a = mk(0, 0);
	struct aba_out o = {0};
	uint8_t good[CR_COIN_SHARE_BYTES], bad[CR_COIN_SHARE_BYTES];

	(void)state;
	assert_int_equal(aba_input(a, true, &o), BFT_OK);
	share_for(1, 0, 0, good);
	share_for(2, 0, 1, bad);
	assert_int_equal(aba_on_coin(a, 2, 0, bad, &o), BFT_EBADSHARE); /* verified at once */
	assert_int_equal(aba_on_coin(a, 1, 0, good, &o), BFT_OK);
	share_for(3, 0, 5, bad);
	assert_int_equal(aba_on_coin(a, 3, 0, bad, &o), BFT_OK); /* kept: f+1 reachable already */
	assert_int_equal(aba_take_late_faults(a), 0);
	aba_out_free(&o);
	aba_free(a);
}

static void test_aba_f_plus_1_terms_decide_without_input(void **state)
{
	struct aba *a = mk(0, 0);
	struct aba_out o = {0};
	bool v = false;

	(void)state;
	assert_int_equal(msg(a, 1, BFT_MSG_HB_TERM, 3, 1, &o), BFT_OK);
	assert_false(aba_decided(a, &v));
	assert_int_equal(msg(a, 2, BFT_MSG_HB_TERM, 0, 1, &o), BFT_OK);
	assert_true(o.decided);
	assert_true(aba_decided(a, &v));
	assert_true(v);
	assert_true(has(&o, BFT_MSG_HB_TERM));
	/* Decided: round messages are ignored (our TERM speaks for us), input is still taken. */
	assert_int_equal(msg(a, 3, BFT_MSG_HB_BVAL, 0, 0, &o), BFT_OK);
	o.n = 0;
	assert_int_equal(aba_input(a, false, &o), BFT_OK);
	assert_int_equal(o.n, 0);
	aba_out_free(&o);
	aba_free(a);
}

/* aba.h "Coin schedule": with unanimous inputs nobody needs a coin share — all ones decide in
 * round 0 (fixed coin 1), all zeros in round 1 (fixed coin 0) — under any order, and rounds
 * with a fixed coin send no CONF. */
static void test_aba_fixed_coins_decide_unanimous_inputs_without_shares(void **state)
{
	const bool ones[N] = {true, true, true, true}, zeros[N] = {false, false, false, false};
	bool d[N];

	(void)state;
	fixed = true;
	for (uint64_t order = 0; order < 10; order++) {
		coins_sent = confs_sent = 0;
		run(ones, 0, order, d);
		for (uint32_t i = 0; i < N; i++)
			assert_true(d[i]);
		assert_int_equal(coins_sent, 0);
		assert_int_equal(confs_sent, 0);
		coins_sent = confs_sent = 0;
		run(zeros, 0, order, d);
		for (uint32_t i = 0; i < N; i++)
			assert_false(d[i]);
		assert_int_equal(coins_sent, 0);
		assert_int_equal(confs_sent, 0);
	}
	/* Without the schedule the same runs need CONF and the threshold coin. */
	fixed = false;
	coins_sent = confs_sent = 0;
	run(ones, 0, 3, d);
	assert_true(coins_sent > 0);
	assert_true(confs_sent > 0);
}

/* Mixed inputs with fixed coins still agree, through the threshold coin of rounds 2 mod 3 when
 * the fixed ones do not settle it; one replica silent as well. */
static void test_aba_fixed_coins_agree_on_mixed_inputs(void **state)
{
	const bool in[N] = {true, false, true, false};
	bool d[N];

	(void)state;
	fixed = true;
	for (uint64_t order = 1; order < 40; order++) {
		uint32_t silent = order % 5 == 0 ? 1u << (order % N) : 0, k = N;

		run(in, silent, order, d);
		for (uint32_t i = 0; i < N; i++) {
			if ((silent >> i) & 1u)
				continue;
			if (k == N)
				k = i;
			assert_true(d[i] == d[k]);
		}
	}
	fixed = false;
}

/* A coin share for a round whose coin is fixed is something no correct replica sends. */
static void test_aba_fixed_coin_rounds_reject_coin_shares(void **state)
{
	struct aba *a, *b;
	struct aba_out o = {0};
	struct cr_coin_share sh;
	uint8_t name[ABA_COIN_NAME_BYTES], enc[CR_COIN_SHARE_BYTES], r[32] = {7};

	(void)state;
	fixed = true;
	a = mk(0, 0);
	b = mk(1, 0);
	fixed = false;
	for (uint32_t round = 0; round < 3; round++) {
		aba_coin_name(0, 2, round, name);
		assert_int_equal(cr_coin_share_make(&sh, &sk[1], name, sizeof(name), r), 0);
		cr_coin_share_encode(enc, &sh);
		assert_int_equal(aba_on_coin(a, 1, round, enc, &o),
				 round == 2 ? BFT_OK : BFT_EINVAL);
	}
	aba_free(a);
	aba_free(b);
	aba_out_free(&o);
}

static void test_aba_coin_name_layout(void **state)
{
	uint8_t name[ABA_COIN_NAME_BYTES];
	static const uint8_t want[ABA_COIN_NAME_BYTES] = {
		'h', 'b', '.', 'c', 'o', 'i', 'n', 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		0x03, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00, 0x00};

	(void)state;
	aba_coin_name(0x0102030405060708ull, 3, 0x102, name);
	assert_memory_equal(name, want, sizeof(want));
}

static void test_aba_refuses_bad_configurations(void **state)
{
	struct aba_config c = {.n = N, .f = F, .self = 0, .coin_pk = &pk, .coin_sk = &sk[0],
			       .rounds_ahead = 4, .rand = test_rand};
	struct aba *a = NULL;

	(void)state;
	c.f = 2;
	assert_int_equal(aba_new(&a, &c), BFT_EINVAL);
	c.f = F;
	c.rounds_ahead = 0;
	assert_int_equal(aba_new(&a, &c), BFT_EINVAL);
	c.rounds_ahead = 4;
	c.rand = NULL;
	assert_int_equal(aba_new(&a, &c), BFT_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aba_all_ones_decide_one),
		cmocka_unit_test(test_aba_all_zeros_decide_zero),
		cmocka_unit_test(test_aba_mixed_inputs_agree_under_reordering),
		cmocka_unit_test(test_aba_terminates_with_one_replica_silent),
		cmocka_unit_test(test_aba_duplicate_bval_is_dup_and_second_value_is_a_relay),
		cmocka_unit_test(test_aba_second_different_aux_conf_or_term_is_a_conflict),
		cmocka_unit_test(test_aba_rejects_values_rounds_and_senders_out_of_range),
		cmocka_unit_test(test_aba_coin_share_released_only_after_the_conf_quorum),
		cmocka_unit_test(test_aba_rejects_invalid_coin_shares),
		cmocka_unit_test(test_aba_shares_beyond_the_needed_ones_are_kept_unverified),
		cmocka_unit_test(test_aba_f_plus_1_terms_decide_without_input),
		cmocka_unit_test(test_aba_fixed_coins_decide_unanimous_inputs_without_shares),
		cmocka_unit_test(test_aba_fixed_coins_agree_on_mixed_inputs),
		cmocka_unit_test(test_aba_fixed_coin_rounds_reject_coin_shares),
		cmocka_unit_test(test_aba_coin_name_layout),
		cmocka_unit_test(test_aba_refuses_bad_configurations),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
