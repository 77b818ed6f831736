/*
 * Unit tests for node/hist: the bucket layout covers every uint64_t exactly once, each bucket's
 * width stays within the documented relative error, and percentiles on known data come out as
 * the nearest-rank definition says (exactly below 2^P, within the bound above).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "node/hist.h"

/* The bound hist.h promises: a bucket's width is at most 2^-(P-1) of its lower bound. */
static const double REL_ERR = 1.0 / (double)(1u << (LAT_HIST_PRECISION_BITS - 1u));

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void test_buckets_tile_the_whole_range_without_gaps_or_overlaps(void **state)
{
	(void)state;
	assert_int_equal(lat_hist_bucket_low(0), 0);
	for (size_t i = 0; i + 1 < LAT_HIST_BUCKETS; i++) {
		assert_true(lat_hist_bucket_low(i) <= lat_hist_bucket_high(i));
		assert_true(lat_hist_bucket_high(i) + 1 == lat_hist_bucket_low(i + 1));
		assert_int_equal(lat_hist_index(lat_hist_bucket_low(i)), i);
		assert_int_equal(lat_hist_index(lat_hist_bucket_high(i)), i);
	}
	assert_true(lat_hist_bucket_high(LAT_HIST_BUCKETS - 1) == UINT64_MAX);
	assert_int_equal(lat_hist_index(UINT64_MAX), LAT_HIST_BUCKETS - 1);
}

static void test_small_values_have_exact_buckets(void **state)
{
	(void)state;
	for (uint64_t v = 0; v < (1u << LAT_HIST_PRECISION_BITS); v++) {
		size_t i = lat_hist_index(v);
		assert_int_equal(lat_hist_bucket_low(i), v);
		assert_int_equal(lat_hist_bucket_high(i), v);
	}
	/* The first inexact bucket is two wide. */
	assert_int_equal(lat_hist_bucket_high(lat_hist_index(1u << LAT_HIST_PRECISION_BITS)) -
				 lat_hist_bucket_low(lat_hist_index(1u << LAT_HIST_PRECISION_BITS)),
			 1);
}

static void test_every_bucket_width_is_within_the_relative_error_bound(void **state)
{
	(void)state;
	/* Below 2^P every bucket holds one value: no error at all. */
	for (size_t i = 0; i < (1u << LAT_HIST_PRECISION_BITS); i++)
		assert_true(lat_hist_bucket_high(i) == lat_hist_bucket_low(i));
	for (size_t i = 1u << LAT_HIST_PRECISION_BITS; i < LAT_HIST_BUCKETS; i++) {
		double lo = (double)lat_hist_bucket_low(i);
		double width = (double)(lat_hist_bucket_high(i) - lat_hist_bucket_low(i)) + 1.0;
		assert_true(width / lo <= REL_ERR + 1e-12);
	}
}

static void test_reported_value_of_random_values_is_within_the_bound(void **state)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (int k = 0; k < 200000; k++) {
		/* Spread over every magnitude: a random value shifted right by a random amount. */
		uint64_t v = rng_next(&s) >> (rng_next(&s) % 64);
		uint64_t hi = lat_hist_bucket_high(lat_hist_index(v));
		assert_true(hi >= v);
		assert_true((double)(hi - v) <= (double)v * REL_ERR);
	}
}

static void test_empty_histogram_reports_zero(void **state)
{
	struct lat_hist *h = malloc(sizeof(*h));

	(void)state;
	assert_non_null(h);
	lat_hist_init(h);
	assert_int_equal(lat_hist_value_at(h, 50), 0);
	assert_int_equal(lat_hist_value_at(h, 100), 0);
	assert_true(lat_hist_mean(h) == 0.0);
	free(h);
}

static void test_percentiles_of_one_to_hundred_are_exact_nearest_rank(void **state)
{
	struct lat_hist *h = malloc(sizeof(*h));

	(void)state;
	assert_non_null(h);
	lat_hist_init(h);
	/* Recorded out of order: the result cannot depend on the order. */
	for (uint64_t v = 100; v >= 1; v--)
		lat_hist_record(h, v);
	assert_int_equal(h->count, 100);
	assert_int_equal(lat_hist_value_at(h, 0), 1);
	assert_int_equal(lat_hist_value_at(h, 1), 1);
	assert_int_equal(lat_hist_value_at(h, 50), 50);
	assert_int_equal(lat_hist_value_at(h, 50.5), 51);  /* rank ceil(50.5) = 51 */
	assert_int_equal(lat_hist_value_at(h, 90), 90);
	assert_int_equal(lat_hist_value_at(h, 99), 99);
	assert_int_equal(lat_hist_value_at(h, 99.9), 100);
	assert_int_equal(lat_hist_value_at(h, 100), 100);
	assert_int_equal(lat_hist_value_at(h, 250), 100); /* clamped */
	assert_true(lat_hist_mean(h) == 50.5);
	free(h);
}

static void test_percentiles_of_a_large_uniform_range_are_within_the_bound(void **state)
{
	struct lat_hist *h = malloc(sizeof(*h));
	const double ps[] = {10, 50, 90, 99, 99.9};

	(void)state;
	assert_non_null(h);
	lat_hist_init(h);
	for (uint64_t v = 1; v <= 1000000; v++)
		lat_hist_record(h, v);
	for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		double want = ps[k] / 100.0 * 1e6; /* the true nearest-rank value */
		uint64_t got = lat_hist_value_at(h, ps[k]);
		assert_true((double)got >= want);
		assert_true((double)got - want <= want * REL_ERR);
	}
	assert_int_equal(lat_hist_value_at(h, 0), 1);
	assert_int_equal(lat_hist_value_at(h, 100), 1000000);
	free(h);
}

static void test_tail_percentiles_see_a_rare_slow_mode(void **state)
{
	struct lat_hist *h = malloc(sizeof(*h));
	uint64_t p999;

	(void)state;
	assert_non_null(h);
	lat_hist_init(h);
	/* 990 fast answers of 100 us and 10 slow ones of about 1 s (the last 1,234,567 exact). */
	for (int i = 0; i < 990; i++)
		lat_hist_record(h, 100);
	for (int i = 0; i < 9; i++)
		lat_hist_record(h, 1000000);
	lat_hist_record(h, 1234567);
	assert_int_equal(lat_hist_value_at(h, 50), 100);
	assert_int_equal(lat_hist_value_at(h, 99), 100);   /* rank 990 */
	p999 = lat_hist_value_at(h, 99.9);                 /* rank 999: one of the 1 s ones */
	assert_true(p999 >= 1000000 && (double)(p999 - 1000000) <= 1e6 * REL_ERR);
	assert_int_equal(lat_hist_value_at(h, 100), 1234567);
	assert_int_equal(h->min, 100);
	free(h);
}

static void test_merge_equals_recording_everything_in_one(void **state)
{
	struct lat_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)), *all = malloc(sizeof(*all));
	uint64_t s = 12345;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(all);
	lat_hist_init(a);
	lat_hist_init(b);
	lat_hist_init(all);
	for (int i = 0; i < 5000; i++) {
		uint64_t v = rng_next(&s) % 100000;
		lat_hist_record(i % 3 ? a : b, v);
		lat_hist_record(all, v);
	}
	lat_hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, all->max);
	assert_memory_equal(a->buckets, all->buckets, sizeof(a->buckets));
	assert_int_equal(lat_hist_value_at(a, 99), lat_hist_value_at(all, 99));
	free(a);
	free(b);
	free(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_tile_the_whole_range_without_gaps_or_overlaps),
		cmocka_unit_test(test_small_values_have_exact_buckets),
		cmocka_unit_test(test_every_bucket_width_is_within_the_relative_error_bound),
		cmocka_unit_test(test_reported_value_of_random_values_is_within_the_bound),
		cmocka_unit_test(test_empty_histogram_reports_zero),
		cmocka_unit_test(test_percentiles_of_one_to_hundred_are_exact_nearest_rank),
		cmocka_unit_test(test_percentiles_of_a_large_uniform_range_are_within_the_bound),
		cmocka_unit_test(test_tail_percentiles_see_a_rare_slow_mode),
		cmocka_unit_test(test_merge_equals_recording_everything_in_one),
	};

	return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}
