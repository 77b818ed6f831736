/*
 * Unit tests for the common subset (bft/acs.h): n broadcasts and n agreements wired together
 * in memory; every correct replica outputs the same set, of at least n - f proposers, and a
 * silent proposer is left out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bft/acs.h"

#define N 4u
#define F 1u

static struct cr_rs rs;
static struct cr_thresh_pubkey pk;
static struct cr_thresh_share sk[N];
static uint64_t ctr;

static int setup(void **state)
{
	uint8_t seed[CR_THRESH_SEED_BYTES] = {7};

	(void)state;
	if (cr_rs_init(&rs, N, N - 2 * F) != 0)
		return -1;
	return cr_dealer_deal(&pk, sk, N, F, CR_THRESH_COIN, seed);
}

static int teardown(void **state)
{
	(void)state;
	cr_rs_free(&rs);
	return 0;
}

static void rnd(void *c, uint8_t out[32])
{
	(void)c;
	memset(out, 0, 32);
	memcpy(out, &ctr, sizeof(ctr));
	ctr++;
}

enum kind { K_VAL, K_ECHO, K_READY, K_ABA };

struct item {
	enum kind k;
	uint32_t from, to, inst;
	struct bft_hb_rbc r;         /* VAL, ECHO (shard borrowed from the sender's instance) */
	uint8_t root[CR_DIGEST_BYTES];
	struct aba_msg a;
};

static struct item q[1 << 17];
static size_t qh, qt;
static uint32_t silent;

static void put(const struct item *it)
{
	if ((silent >> it->from) & 1u || (silent >> it->to) & 1u)
		return;
	assert_true(qt < sizeof(q) / sizeof(q[0]));
	q[qt++] = *it;
}

static void out_rbc(struct acs **a, uint32_t self, uint32_t p, const struct rbc_out *o)
{
	for (uint32_t to = 0; to < N; to++) {
		struct item it = {.from = self, .to = to, .inst = p};

		if (to == self)
			continue;
		if (o->echo) {
			it.k = K_ECHO;
			rbc_echo_msg(acs_rbc(a[self], p), &it.r);
			put(&it);
		}
		if (o->ready) {
			it.k = K_READY;
			memcpy(it.root, rbc_ready_root(acs_rbc(a[self], p)), CR_DIGEST_BYTES);
			put(&it);
		}
	}
}

static void out_aba(uint32_t self, struct aba_out *outs)
{
	for (uint32_t j = 0; j < N; j++) {
		for (size_t i = 0; i < outs[j].n; i++)
			for (uint32_t to = 0; to < N; to++) {
				struct item it = {.k = K_ABA, .from = self, .to = to, .inst = j,
						  .a = outs[j].msgs[i]};

				if (to != self)
					put(&it);
			}
		outs[j].n = 0;
	}
}

/* Runs one epoch; proposers in `proposing` broadcast; returns each replica's set. */
static void run(uint32_t proposing, uint64_t order, uint8_t sets[N][N], bool *done)
{
	struct acs *a[N];
	struct aba_out outs[N][N];

	memset(outs, 0, sizeof(outs));
	qh = qt = 0;
	for (uint32_t i = 0; i < N; i++) {
		struct acs_config c = {.n = N, .f = F, .self = i, .epoch = 0, .rs = &rs,
				       .payload_max = 1024, .coin_pk = &pk, .coin_sk = &sk[i],
				       .rounds_ahead = 8, .rand = rnd};

		assert_int_equal(acs_new(&a[i], &c), BFT_OK);
	}
	for (uint32_t i = 0; i < N; i++) {
		uint8_t v[40];
		struct rbc_out o = {0};

		if (!((proposing >> i) & 1u) || (silent >> i) & 1u)
			continue;
		memset(v, (int)i, sizeof(v));
		assert_int_equal(rbc_propose(acs_rbc(a[i], i), v, sizeof(v), &o), BFT_OK);
		for (uint32_t to = 0; to < N; to++) {
			struct item it = {.k = K_VAL, .from = i, .to = to, .inst = i};

			if (to == i)
				continue;
			assert_int_equal(rbc_val_msg(acs_rbc(a[i], i), to, &it.r), BFT_OK);
			put(&it);
		}
		out_rbc(a, i, i, &o);
	}
	while (qh < qt) {
		struct item it;
		enum bft_err e;
		struct rbc_out o = {0};

		if (order != 0 && qt - qh > 1) {
			order = order * 6364136223846793005ull + 1442695040888963407ull;
			size_t k = qh + (size_t)((order >> 33) % (qt - qh));
			struct item t = q[qh];

			q[qh] = q[k];
			q[k] = t;
		}
		it = q[qh++];
		switch (it.k) {
		case K_VAL:
			e = rbc_on_val(acs_rbc(a[it.to], it.inst), it.from, &it.r, &o);
			break;
		case K_ECHO:
			e = rbc_on_echo(acs_rbc(a[it.to], it.inst), it.from, &it.r, &o);
			break;
		case K_READY:
			e = rbc_on_ready(acs_rbc(a[it.to], it.inst), it.from, it.root, &o);
			break;
		default:
			if (it.a.type == BFT_MSG_HB_COIN) {
				e = aba_on_coin(acs_aba(a[it.to], it.inst), it.from, it.a.round,
						it.a.share, &outs[it.to][it.inst]);
			} else {
				struct bft_hb_aba m = {.epoch = 0, .instance = it.inst,
						       .round = it.a.round, .value = it.a.value};

				e = aba_on_msg(acs_aba(a[it.to], it.inst), it.from, it.a.type, &m,
					       &outs[it.to][it.inst]);
			}
			break;
		}
		assert_true(e == BFT_OK || e == BFT_EDUP || e == BFT_ESTALE);
		if (it.k != K_ABA)
			out_rbc(a, it.to, it.inst, &o);
		assert_int_equal(acs_step(a[it.to], outs[it.to]), BFT_OK);
		out_aba(it.to, outs[it.to]);
	}
	for (uint32_t i = 0; i < N; i++) {
		done[i] = acs_output(a[i], sets[i]);
		for (uint32_t j = 0; j < N; j++)
			aba_out_free(&outs[i][j]);
		acs_free(a[i]);
	}
}

static void check_agree(uint8_t sets[N][N], const bool *done, uint32_t correct)
{
	int first = -1;

	for (uint32_t i = 0; i < N; i++) {
		uint32_t members = 0;

		if (!((correct >> i) & 1u))
			continue;
		assert_true(done[i]);
		for (uint32_t j = 0; j < N; j++)
			members += sets[i][j];
		assert_true(members >= N - F);
		if (first < 0)
			first = (int)i;
		else
			assert_memory_equal(sets[i], sets[first], N);
	}
}

static void test_acs_every_replica_outputs_the_same_set_of_at_least_n_minus_f(void **state)
{
	uint8_t sets[N][N];
	bool done[N];

	(void)state;
	silent = 0;
	for (uint64_t order = 0; order < 12; order++) {
		run(0xf, order, sets, done);
		check_agree(sets, done, 0xf);
	}
}

static void test_acs_leaves_a_silent_proposer_out(void **state)
{
	uint8_t sets[N][N];
	bool done[N];

	(void)state;
	silent = 1u << 2;
	for (uint64_t order = 0; order < 12; order++) {
		run(0xf, order, sets, done);
		check_agree(sets, done, 0xb);
		assert_int_equal(sets[0][2], 0);
		assert_int_equal(sets[0][0] + sets[0][1] + sets[0][3], 3);
	}
	silent = 0;
}

/* A replica that takes part but proposes nothing: its broadcast never delivers, its agreement
 * decides 0 once n - f others decided 1. */
static void test_acs_a_replica_without_a_proposal_is_left_out(void **state)
{
	uint8_t sets[N][N];
	bool done[N];

	(void)state;
	silent = 0;
	run(0x7, 3, sets, done);
	check_agree(sets, done, 0xf);
	assert_int_equal(sets[1][3], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acs_every_replica_outputs_the_same_set_of_at_least_n_minus_f),
		cmocka_unit_test(test_acs_leaves_a_silent_proposer_out),
		cmocka_unit_test(test_acs_a_replica_without_a_proposal_is_left_out),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
