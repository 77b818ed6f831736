/*
 * Unit tests for reliable broadcast (bft/rbc.h): the normal case, the thresholds, every
 * rejection with its exact code, and the "not one codeword" outcome at every replica.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bft/rbc.h"
#include "crypto/cr_merkle.h"

#define N 4u
#define F 1u
#define K (N - 2 * F)

static struct cr_rs rs;

static int setup(void **state)
{
	(void)state;
	return cr_rs_init(&rs, N, K);
}

static int teardown(void **state)
{
	(void)state;
	cr_rs_free(&rs);
	return 0;
}

static struct rbc *mk(uint32_t self, uint32_t proposer)
{
	struct rbc_config c = {.n = N, .f = F, .self = self, .proposer = proposer, .rs = &rs,
			       .payload_max = 4096};
	struct rbc *r = NULL;

	assert_int_equal(rbc_new(&r, &c), BFT_OK);
	return r;
}

static const uint8_t value[] = "a proposal of some bytes, longer than one shard";

/* A proposer (replica 0) that has proposed `value`; its VAL for replica j into *m. */
static struct rbc *proposer_with(struct rbc_out *o)
{
	struct rbc *p = mk(0, 0);

	memset(o, 0, sizeof(*o));
	assert_int_equal(rbc_propose(p, value, sizeof(value), o), BFT_OK);
	assert_true(o->echo);
	return p;
}

/* Runs a whole broadcast among N instances: every message to everybody, in a FIFO order. */
struct q_item {
	int kind; /* 0 VAL, 1 ECHO, 2 READY */
	uint32_t from, to;
	struct bft_hb_rbc m;
	uint8_t root[CR_DIGEST_BYTES];
};

static void broadcast_all(struct rbc **r, struct rbc *p, const uint32_t *silent_mask_ptr)
{
	static struct q_item q[4096];
	size_t head = 0, tail = 0;
	uint32_t silent = silent_mask_ptr ? *silent_mask_ptr : 0;

	for (uint32_t j = 1; j < N; j++) {
		q[tail].kind = 0;
		q[tail].from = 0;
		q[tail].to = j;
		assert_int_equal(rbc_val_msg(p, j, &q[tail].m), BFT_OK);
		tail++;
	}
	/* The proposer's own echo. */
	for (uint32_t j = 1; j < N; j++) {
		q[tail].kind = 1;
		q[tail].from = 0;
		q[tail].to = j;
		rbc_echo_msg(r[0], &q[tail].m);
		tail++;
	}
	while (head < tail) {
		struct q_item it = q[head++];
		struct rbc_out o = {0};
		enum bft_err e;

		if ((silent >> it.to) & 1u)
			continue;
		if (it.kind == 0)
			e = rbc_on_val(r[it.to], it.from, &it.m, &o);
		else if (it.kind == 1)
			e = rbc_on_echo(r[it.to], it.from, &it.m, &o);
		else
			e = rbc_on_ready(r[it.to], it.from, it.root, &o);
		assert_int_equal(e, BFT_OK);
		for (uint32_t k = 0; k < N; k++) {
			if (k == it.to)
				continue;
			if (o.echo) {
				q[tail].kind = 1;
				q[tail].from = it.to;
				q[tail].to = k;
				rbc_echo_msg(r[it.to], &q[tail].m);
				tail++;
			}
			if (o.ready) {
				q[tail].kind = 2;
				q[tail].from = it.to;
				q[tail].to = k;
				memcpy(q[tail].root, rbc_ready_root(r[it.to]), CR_DIGEST_BYTES);
				tail++;
			}
		}
		assert_true(tail < 4000);
	}
}

static void test_rbc_every_replica_delivers_the_proposed_value(void **state)
{
	struct rbc *r[N];
	struct rbc_out o;
	bool valid;
	const uint8_t *v;
	size_t len;

	(void)state;
	r[0] = proposer_with(&o);
	for (uint32_t j = 1; j < N; j++)
		r[j] = mk(j, 0);
	broadcast_all(r, r[0], NULL);
	for (uint32_t j = 0; j < N; j++) {
		assert_true(rbc_delivered(r[j], &valid, &v, &len));
		assert_true(valid);
		assert_int_equal(len, sizeof(value));
		assert_memory_equal(v, value, sizeof(value));
	}
	for (uint32_t j = 0; j < N; j++)
		rbc_free(r[j]);
}

static void test_rbc_delivers_with_one_replica_silent(void **state)
{
	struct rbc *r[N];
	struct rbc_out o;
	uint32_t silent = 1u << 3;
	bool valid;
	const uint8_t *v;
	size_t len;

	(void)state;
	r[0] = proposer_with(&o);
	for (uint32_t j = 1; j < N; j++)
		r[j] = mk(j, 0);
	broadcast_all(r, r[0], &silent);
	for (uint32_t j = 0; j < 3; j++) {
		assert_true(rbc_delivered(r[j], &valid, &v, &len));
		assert_true(valid);
	}
	assert_false(rbc_delivered(r[3], &valid, &v, &len));
	for (uint32_t j = 0; j < N; j++)
		rbc_free(r[j]);
}

static void test_rbc_rejects_val_from_a_non_proposer(void **state)
{
	struct rbc_out o, o2 = {0};
	struct rbc *p = proposer_with(&o), *r = mk(1, 0);
	struct bft_hb_rbc m;

	(void)state;
	assert_int_equal(rbc_val_msg(p, 1, &m), BFT_OK);
	assert_int_equal(rbc_on_val(r, 2, &m, &o2), BFT_ENOTPRIMARY);
	assert_false(o2.echo);
	assert_false(rbc_has_val(r));
	/* The real one is still accepted afterwards. */
	assert_int_equal(rbc_on_val(r, 0, &m, &o2), BFT_OK);
	assert_true(o2.echo);
	rbc_free(p);
	rbc_free(r);
}

static void test_rbc_rejects_val_for_another_index(void **state)
{
	struct rbc_out o, o2 = {0};
	struct rbc *p = proposer_with(&o), *r = mk(1, 0);
	struct bft_hb_rbc m;

	(void)state;
	assert_int_equal(rbc_val_msg(p, 2, &m), BFT_OK);
	assert_int_equal(rbc_on_val(r, 0, &m, &o2), BFT_EINVAL);
	assert_false(rbc_has_val(r));
	rbc_free(p);
	rbc_free(r);
}

static void test_rbc_rejects_val_with_an_invalid_branch(void **state)
{
	struct rbc_out o, o2 = {0};
	struct rbc *p = proposer_with(&o), *r = mk(1, 0);
	struct bft_hb_rbc m;
	uint8_t shard[256];

	(void)state;
	assert_int_equal(rbc_val_msg(p, 1, &m), BFT_OK);
	m.branch[0][3] ^= 1;
	assert_int_equal(rbc_on_val(r, 0, &m, &o2), BFT_EBADCERT);
	m.branch[0][3] ^= 1;
	m.nbranch--;
	assert_int_equal(rbc_on_val(r, 0, &m, &o2), BFT_EBADCERT);
	m.nbranch++;
	memcpy(shard, m.shard.p, m.shard.len);
	shard[0] ^= 1;
	m.shard.p = shard;
	assert_int_equal(rbc_on_val(r, 0, &m, &o2), BFT_EBADCERT);
	assert_false(rbc_has_val(r));
	assert_false(o2.echo);
	rbc_free(p);
	rbc_free(r);
}

static void test_rbc_second_different_val_is_a_conflict_and_the_first_stands(void **state)
{
	struct rbc_out o, o2 = {0}, oa = {0};
	struct rbc *p = proposer_with(&o), *r = mk(1, 0);
	struct rbc_config ac = {.n = N, .f = F, .self = 0, .proposer = 0, .rs = &rs,
				.payload_max = 4096};
	struct rbc *alt = NULL;
	struct bft_hb_rbc m, m2, mine;
	static const uint8_t other[] = "another value";

	(void)state;
	assert_int_equal(rbc_new(&alt, &ac), BFT_OK);
	assert_int_equal(rbc_propose(alt, other, sizeof(other), &oa), BFT_OK);
	assert_int_equal(rbc_val_msg(p, 1, &m), BFT_OK);
	assert_int_equal(rbc_val_msg(alt, 1, &m2), BFT_OK);
	assert_int_equal(rbc_on_val(r, 0, &m, &o2), BFT_OK);
	memset(&o2, 0, sizeof(o2));
	assert_int_equal(rbc_on_val(r, 0, &m, &o2), BFT_EDUP);
	assert_int_equal(rbc_on_val(r, 0, &m2, &o2), BFT_ECONFLICT);
	assert_false(o2.echo);
	rbc_echo_msg(r, &mine);
	assert_memory_equal(mine.root, m.root, CR_DIGEST_BYTES);
	rbc_free(alt);
	rbc_free(p);
	rbc_free(r);
}

static void test_rbc_rejects_echo_whose_index_is_not_the_sender(void **state)
{
	struct rbc_out o, o2 = {0};
	struct rbc *p = proposer_with(&o), *r = mk(1, 0);
	struct bft_hb_rbc m;

	(void)state;
	assert_int_equal(rbc_val_msg(p, 2, &m), BFT_OK);
	assert_int_equal(rbc_on_echo(r, 3, &m, &o2), BFT_EINVAL);
	assert_int_equal(rbc_on_echo(r, 2, &m, &o2), BFT_OK);
	rbc_free(p);
	rbc_free(r);
}

static void test_rbc_rejects_echo_with_an_invalid_branch(void **state)
{
	struct rbc_out o, o2 = {0};
	struct rbc *p = proposer_with(&o), *r = mk(1, 0);
	struct bft_hb_rbc m;

	(void)state;
	assert_int_equal(rbc_val_msg(p, 2, &m), BFT_OK);
	m.root[0] ^= 1;
	assert_int_equal(rbc_on_echo(r, 2, &m, &o2), BFT_EBADCERT);
	m.root[0] ^= 1;
	assert_int_equal(rbc_on_echo(r, 2, &m, &o2), BFT_OK);
	rbc_free(p);
	rbc_free(r);
}

static void test_rbc_rejects_an_oversized_shard(void **state)
{
	struct rbc_config c = {.n = N, .f = F, .self = 1, .proposer = 0, .rs = &rs,
			       .payload_max = 8};
	struct rbc_out o, o2 = {0};
	struct rbc *p = proposer_with(&o), *r = NULL;
	struct bft_hb_rbc m;

	(void)state;
	assert_int_equal(rbc_new(&r, &c), BFT_OK);
	assert_int_equal(rbc_val_msg(p, 1, &m), BFT_OK);
	assert_int_equal(rbc_on_val(r, 0, &m, &o2), BFT_ETOOBIG);
	assert_int_equal(rbc_val_msg(p, 2, &m), BFT_OK);
	assert_int_equal(rbc_on_echo(r, 2, &m, &o2), BFT_ETOOBIG);
	rbc_free(p);
	rbc_free(r);
}

static void test_rbc_second_different_echo_is_a_conflict(void **state)
{
	struct rbc_out o, o2 = {0}, oa = {0};
	struct rbc *p = proposer_with(&o), *r = mk(1, 0), *alt = NULL;
	struct rbc_config ac = {.n = N, .f = F, .self = 0, .proposer = 0, .rs = &rs,
				.payload_max = 4096};
	struct bft_hb_rbc m, m2;
	static const uint8_t other[] = "another value";

	(void)state;
	assert_int_equal(rbc_new(&alt, &ac), BFT_OK);
	assert_int_equal(rbc_propose(alt, other, sizeof(other), &oa), BFT_OK);
	assert_int_equal(rbc_val_msg(p, 2, &m), BFT_OK);
	assert_int_equal(rbc_val_msg(alt, 2, &m2), BFT_OK);
	assert_int_equal(rbc_on_echo(r, 2, &m, &o2), BFT_OK);
	assert_int_equal(rbc_on_echo(r, 2, &m, &o2), BFT_EDUP);
	assert_int_equal(rbc_on_echo(r, 2, &m2, &o2), BFT_ECONFLICT);
	rbc_free(alt);
	rbc_free(p);
	rbc_free(r);
}

static void test_rbc_second_different_ready_is_a_conflict(void **state)
{
	struct rbc_out o = {0};
	struct rbc *r = mk(1, 0);
	uint8_t a[CR_DIGEST_BYTES] = {1}, b[CR_DIGEST_BYTES] = {2};

	(void)state;
	assert_int_equal(rbc_on_ready(r, 2, a, &o), BFT_OK);
	assert_int_equal(rbc_on_ready(r, 2, a, &o), BFT_EDUP);
	assert_int_equal(rbc_on_ready(r, 2, b, &o), BFT_ECONFLICT);
	assert_int_equal(rbc_on_ready(r, 1, a, &o), BFT_ESENDER); /* our own: never from outside */
	assert_false(o.ready);
	rbc_free(r);
}

static void test_rbc_sends_ready_on_f_plus_1_readys(void **state)
{
	struct rbc_out o = {0};
	struct rbc *r = mk(1, 0);
	uint8_t a[CR_DIGEST_BYTES] = {7};

	(void)state;
	assert_int_equal(rbc_on_ready(r, 2, a, &o), BFT_OK);
	assert_false(o.ready);
	assert_int_equal(rbc_on_ready(r, 3, a, &o), BFT_OK);
	assert_true(o.ready);
	assert_memory_equal(rbc_ready_root(r), a, CR_DIGEST_BYTES);
	rbc_free(r);
}

static void test_rbc_sends_ready_on_n_minus_f_echoes_and_delivers_on_2f1_readys(void **state)
{
	struct rbc_out o, o2 = {0};
	struct rbc *p = proposer_with(&o), *r = mk(1, 0);
	struct bft_hb_rbc m;
	bool valid;
	const uint8_t *v;
	size_t len;

	(void)state;
	assert_int_equal(rbc_val_msg(p, 1, &m), BFT_OK);
	assert_int_equal(rbc_on_val(r, 0, &m, &o2), BFT_OK);
	assert_true(o2.echo);
	assert_false(o2.ready);
	memset(&o2, 0, sizeof(o2));
	assert_int_equal(rbc_val_msg(p, 2, &m), BFT_OK);
	assert_int_equal(rbc_on_echo(r, 2, &m, &o2), BFT_OK);
	assert_false(o2.ready); /* two echoes, ours included */
	assert_int_equal(rbc_val_msg(p, 0, &m), BFT_OK);
	assert_int_equal(rbc_on_echo(r, 0, &m, &o2), BFT_OK);
	assert_true(o2.ready); /* three = n - f */
	assert_false(o2.delivered);
	assert_int_equal(rbc_on_ready(r, 2, m.root, &o2), BFT_OK);
	assert_false(rbc_delivered(r, &valid, &v, &len));
	assert_int_equal(rbc_on_ready(r, 3, m.root, &o2), BFT_OK);
	assert_true(o2.delivered);
	assert_true(rbc_delivered(r, &valid, &v, &len));
	assert_true(valid);
	assert_memory_equal(v, value, sizeof(value));
	rbc_free(p);
	rbc_free(r);
}

/* Shards that are not one codeword: whichever k of them a replica decodes from, the re-encoding
 * does not give the committed root, so every correct replica delivers "invalid". */
static void test_rbc_shards_of_no_codeword_are_invalid_for_every_subset(void **state)
{
	uint8_t *shards;
	size_t sl;
	struct rbc_out o = {0};
	struct rbc *p = mk(0, 0);

	(void)state;
	assert_int_equal(rbc_encode(&rs, value, sizeof(value), &shards, &sl), BFT_OK);
	shards[3 * sl] ^= 0x5a;
	assert_int_equal(rbc_propose_shards(p, shards, sl, &o), BFT_OK);
	/* Every pair of echo senders (k = 2) at replica 1. */
	for (uint32_t a = 0; a < N; a++)
		for (uint32_t b = a + 1; b < N; b++) {
			struct rbc *r = mk(1, 0);
			struct rbc_out o2 = {0};
			struct bft_hb_rbc m;
			bool valid = true;
			const uint8_t *v;
			size_t len;
			uint32_t senders[2] = {a, b};

			assert_int_equal(rbc_val_msg(p, 1, &m), BFT_OK);
			/* Readies first, so the first k echoes for the root decide. */
			assert_int_equal(rbc_on_ready(r, 0, m.root, &o2), BFT_OK);
			assert_int_equal(rbc_on_ready(r, 2, m.root, &o2), BFT_OK);
			assert_int_equal(rbc_on_ready(r, 3, m.root, &o2), BFT_OK);
			for (int i = 0; i < 2; i++) {
				uint32_t s = senders[i];

				assert_int_equal(rbc_val_msg(p, s, &m), BFT_OK);
				if (s == 1)
					assert_int_equal(rbc_on_val(r, 0, &m, &o2), BFT_OK);
				else
					assert_int_equal(rbc_on_echo(r, s, &m, &o2), BFT_OK);
			}
			assert_true(rbc_delivered(r, &valid, &v, &len));
			assert_false(valid);
			rbc_free(r);
		}
	rbc_free(p);
}

static void test_rbc_refuses_bad_parameters_and_proposals(void **state)
{
	struct rbc_config c = {.n = N, .f = F, .self = 1, .proposer = 0, .rs = &rs,
			       .payload_max = 4096};
	struct rbc *r = NULL;
	struct rbc_out o = {0};
	struct bft_hb_rbc m;

	(void)state;
	c.f = 2;
	assert_int_equal(rbc_new(&r, &c), BFT_EINVAL);
	c.f = F;
	c.proposer = N;
	assert_int_equal(rbc_new(&r, &c), BFT_EINVAL);
	c.proposer = 0;
	assert_int_equal(rbc_new(&r, &c), BFT_OK);
	assert_int_equal(rbc_propose(r, value, sizeof(value), &o), BFT_ESTATE); /* not ours */
	assert_int_equal(rbc_val_msg(r, 0, &m), BFT_ESTATE);
	rbc_free(r);
	r = mk(0, 0);
	assert_int_equal(rbc_propose(r, value, 5000, &o), BFT_ETOOBIG);
	assert_int_equal(rbc_propose(r, value, sizeof(value), &o), BFT_OK);
	assert_int_equal(rbc_propose(r, value, sizeof(value), &o), BFT_ESTATE);
	rbc_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rbc_every_replica_delivers_the_proposed_value),
		cmocka_unit_test(test_rbc_delivers_with_one_replica_silent),
		cmocka_unit_test(test_rbc_rejects_val_from_a_non_proposer),
		cmocka_unit_test(test_rbc_rejects_val_for_another_index),
		cmocka_unit_test(test_rbc_rejects_val_with_an_invalid_branch),
		cmocka_unit_test(test_rbc_second_different_val_is_a_conflict_and_the_first_stands),
		cmocka_unit_test(test_rbc_rejects_echo_whose_index_is_not_the_sender),
		cmocka_unit_test(test_rbc_rejects_echo_with_an_invalid_branch),
		cmocka_unit_test(test_rbc_rejects_an_oversized_shard),
		cmocka_unit_test(test_rbc_second_different_echo_is_a_conflict),
		cmocka_unit_test(test_rbc_second_different_ready_is_a_conflict),
		cmocka_unit_test(test_rbc_sends_ready_on_f_plus_1_readys),
		cmocka_unit_test(test_rbc_sends_ready_on_n_minus_f_echoes_and_delivers_on_2f1_readys),
		cmocka_unit_test(test_rbc_shards_of_no_codeword_are_invalid_for_every_subset),
		cmocka_unit_test(test_rbc_refuses_bad_parameters_and_proposals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
