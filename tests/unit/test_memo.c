/*
 * Unit tests for the verification memo (bft/memo.h): an entry answers only the exact key it was
 * stored under, verdicts and values are kept apart, a collision in the index evicts rather than
 * answers wrongly, and a NULL memo is "compute every time".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bft/memo.h"

static void key_of(const char *tag, uint64_t v, uint8_t key[CR_DIGEST_BYTES])
{
	struct cr_hash h;

	bft_memo_key_init(&h, tag);
	cr_hash_update_u64(&h, v);
	bft_memo_key_final(&h, key);
}

static void test_memo_answers_only_the_stored_key(void **state)
{
	struct bft_memo *m = bft_memo_new(8);
	uint8_t k1[CR_DIGEST_BYTES], k2[CR_DIGEST_BYTES], k3[CR_DIGEST_BYTES], v[32], got[32];
	uint64_t hits, stores;

	(void)state;
	assert_non_null(m);
	key_of("a", 1, k1);
	key_of("a", 2, k2);
	key_of("b", 1, k3); /* another tag, same data: another key */
	assert_memory_not_equal(k1, k3, CR_DIGEST_BYTES);
	assert_int_equal(bft_memo_verdict(m, k1), -1);
	bft_memo_put_verdict(m, k1, true);
	bft_memo_put_verdict(m, k2, false);
	assert_int_equal(bft_memo_verdict(m, k1), 1);
	assert_int_equal(bft_memo_verdict(m, k2), 0);
	assert_int_equal(bft_memo_verdict(m, k3), -1);
	/* A verdict is not a value and a value is not a verdict. */
	assert_false(bft_memo_value(m, k1, got));
	memset(v, 0x5a, sizeof(v));
	bft_memo_put_value(m, k3, v);
	assert_true(bft_memo_value(m, k3, got));
	assert_memory_equal(got, v, sizeof(v));
	assert_int_equal(bft_memo_verdict(m, k3), -1);
	bft_memo_counts(m, &hits, &stores);
	assert_int_equal(hits, 3);
	assert_int_equal(stores, 3);
	bft_memo_free(m);
}

/* Two keys with the same index: the second evicts the first, which then reads as unknown. */
static void test_memo_collision_evicts_never_lies(void **state)
{
	struct bft_memo *m = bft_memo_new(8);
	uint8_t k1[CR_DIGEST_BYTES], k2[CR_DIGEST_BYTES];
	uint64_t i = 2;

	(void)state;
	assert_non_null(m);
	key_of("c", 1, k1);
	do
		key_of("c", i++, k2);
	while (k2[0] != k1[0] && i < 100000);
	assert_int_equal(k2[0], k1[0]); /* 2^8 slots: the low byte picks the slot */
	bft_memo_put_verdict(m, k1, true);
	bft_memo_put_verdict(m, k2, false);
	assert_int_equal(bft_memo_verdict(m, k1), -1);
	assert_int_equal(bft_memo_verdict(m, k2), 0);
	bft_memo_free(m);
}

static void test_memo_null_and_bad_sizes(void **state)
{
	uint8_t k[CR_DIGEST_BYTES] = {0}, v[32] = {0};
	uint64_t hits = 1, stores = 1;

	(void)state;
	assert_null(bft_memo_new(7));
	assert_null(bft_memo_new(25));
	bft_memo_put_verdict(NULL, k, true);
	bft_memo_put_value(NULL, k, v);
	assert_int_equal(bft_memo_verdict(NULL, k), -1);
	assert_false(bft_memo_value(NULL, k, v));
	bft_memo_counts(NULL, &hits, &stores);
	assert_int_equal(hits, 0);
	assert_int_equal(stores, 0);
	bft_memo_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memo_answers_only_the_stored_key),
		cmocka_unit_test(test_memo_collision_evicts_never_lies),
		cmocka_unit_test(test_memo_null_and_bad_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
