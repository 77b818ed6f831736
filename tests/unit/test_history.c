/*
 * test_history.c: the history recorder, its text format and the linearizability checker
 * (node/history.h).
 *
 * Hand-made linearizable histories must pass; hand-made violations must each be caught with the
 * exact report. A seeded simulation of concurrent clients against the real store (node/kv.h)
 * produces linearizable histories, which must all pass, and mutations of them (one read value
 * altered), which must all be caught. SEED=<n> replays one simulation seed; SEEDS=<n> runs n
 * of them instead of the usual 300.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "node/history.h"
#include "node/kv.h"

/* ---------------------------------------------------------------------------------------------
 * Building histories by hand
 */

/* Borrowed bytes of a string: hist_add copies everything, so the cast never leads to a write. */
static struct hist_bytes S(const char *s)
{
	return (struct hist_bytes){.p = (uint8_t *)(uintptr_t)s, .len = strlen(s)};
}

static size_t add(struct hist *h, const struct hist_op *op)
{
	assert_int_equal(hist_add(h, op), BFT_OK);
	return h->n - 1;
}

static size_t put(struct hist *h, uint64_t c, const char *k, const char *v, uint64_t call,
		  uint64_t ret, uint64_t rev, uint64_t ver, uint64_t crev)
{
	struct hist_op op = {.client = c, .kind = HIST_PUT, .key = S(k), .value = S(v),
			     .call_us = call, .ret_us = ret, .outcome = HIST_OK, .has_rev = true,
			     .rev = rev, .version = ver, .create_rev = crev, .mod_rev = rev};
	return add(h, &op);
}

static size_t put_unknown(struct hist *h, uint64_t c, const char *k, const char *v, uint64_t call)
{
	struct hist_op op = {.client = c, .kind = HIST_PUT, .key = S(k), .value = S(v),
			     .call_us = call, .outcome = HIST_UNKNOWN};
	return add(h, &op);
}

static size_t get(struct hist *h, uint64_t c, const char *k, uint64_t call, uint64_t ret,
		  uint64_t rev, const char *v, uint64_t ver, uint64_t crev, uint64_t mrev)
{
	struct hist_op op = {.client = c, .kind = HIST_GET, .key = S(k), .call_us = call,
			     .ret_us = ret, .outcome = HIST_OK, .has_rev = true, .rev = rev,
			     .read = S(v), .version = ver, .create_rev = crev, .mod_rev = mrev};
	return add(h, &op);
}

static size_t get_nf(struct hist *h, uint64_t c, const char *k, uint64_t call, uint64_t ret,
		     uint64_t rev)
{
	struct hist_op op = {.client = c, .kind = HIST_GET, .key = S(k), .call_us = call,
			     .ret_us = ret, .outcome = HIST_NOT_FOUND, .has_rev = true, .rev = rev};
	return add(h, &op);
}

static size_t del(struct hist *h, uint64_t c, const char *k, uint64_t call, uint64_t ret,
		  uint64_t rev)
{
	struct hist_op op = {.client = c, .kind = HIST_DEL, .key = S(k), .call_us = call,
			     .ret_us = ret, .outcome = HIST_OK, .has_rev = true, .rev = rev};
	return add(h, &op);
}

static size_t del_unknown(struct hist *h, uint64_t c, const char *k, uint64_t call)
{
	struct hist_op op = {.client = c, .kind = HIST_DEL, .key = S(k), .call_us = call,
			     .outcome = HIST_UNKNOWN};
	return add(h, &op);
}

static size_t cas(struct hist *h, uint64_t c, const char *k, uint64_t exp, const char *v,
		  uint64_t call, uint64_t ret, uint64_t rev, uint64_t crev)
{
	struct hist_op op = {.client = c, .kind = HIST_CAS, .key = S(k), .expected = exp,
			     .value = S(v), .call_us = call, .ret_us = ret, .outcome = HIST_OK,
			     .has_rev = true, .rev = rev, .version = exp + 1, .create_rev = crev,
			     .mod_rev = rev};
	return add(h, &op);
}

static size_t cas_failed(struct hist *h, uint64_t c, const char *k, uint64_t exp, const char *v,
			 uint64_t call, uint64_t ret, uint64_t rev, uint64_t current)
{
	struct hist_op op = {.client = c, .kind = HIST_CAS, .key = S(k), .expected = exp,
			     .value = S(v), .call_us = call, .ret_us = ret,
			     .outcome = HIST_COMPARE_FAILED, .has_rev = true, .rev = rev,
			     .version = current};
	return add(h, &op);
}

static struct hist_report check(const struct hist *h)
{
	struct hist_report rep;

	assert_int_equal(hist_check(h, &rep), BFT_OK);
	return rep;
}

static void expect_linearizable(const struct hist *h)
{
	struct hist_report rep = check(h);

	if (rep.violations != 0)
		fprintf(stderr, "unexpected violation:\n%s", rep.first);
	assert_int_equal(rep.violations, 0);
	assert_string_equal(rep.first, "");
}

static void expect_violation(const struct hist *h, const char *text)
{
	struct hist_report rep = check(h);

	if (rep.violations == 0 || strcmp(rep.first, text) != 0)
		fprintf(stderr, "violations %zu, first:\n%s---\nexpected:\n%s", rep.violations,
			rep.first, text);
	assert_int_equal(rep.violations, 1);
	assert_string_equal(rep.first, text);
}

/* ---------------------------------------------------------------------------------------------
 * Linearizable histories pass
 */

static void test_history_empty_and_sequential_histories_pass(void **state)
{
	struct hist h;
	struct hist_report rep;

	(void)state;
	hist_init(&h, false);
	expect_linearizable(&h);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	get(&h, 0, "x", 30, 40, 1, "a", 1, 1, 1);
	cas(&h, 0, "x", 1, "b", 50, 60, 2, 1);
	cas_failed(&h, 0, "x", 1, "c", 70, 80, 2, 2);
	get_nf(&h, 0, "y", 90, 100, 2);
	del(&h, 0, "x", 110, 120, 3);
	get_nf(&h, 0, "x", 130, 140, 3);
	put(&h, 0, "x", "d", 150, 160, 4, 1, 4);
	get(&h, 0, "x", 170, 180, 4, "d", 1, 4, 4);
	rep = check(&h);
	assert_int_equal(rep.violations, 0);
	assert_int_equal(rep.ops, 9);
	assert_int_equal(rep.writes, 5);
	assert_int_equal(rep.reads, 4);
	assert_int_equal(rep.unknown, 0);
	hist_free(&h);
}

static void test_history_revisions_other_clients_took_are_gaps(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	/* Revisions 2..9 and 11.. belong to writes of keys this history does not touch. */
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	get(&h, 1, "x", 30, 40, 7, "a", 1, 1, 1);
	put(&h, 0, "x", "b", 50, 60, 10, 2, 1);
	get(&h, 1, "x", 70, 80, 15, "b", 2, 1, 10);
	expect_linearizable(&h);
	hist_free(&h);
}

static void test_history_concurrent_overlapping_writes_pass_in_either_order(void **state)
{
	(void)state;
	for (int order = 0; order < 2; order++) {
		struct hist h;

		hist_init(&h, false);
		/* #0 and #1 overlap: the store may order them either way, and a read after both
		 * sees whichever came last. */
		put(&h, 0, "x", "a", 10, 50, order ? 2 : 1, order ? 2 : 1, 1);
		put(&h, 1, "x", "b", 20, 40, order ? 1 : 2, order ? 1 : 2, 1);
		get(&h, 2, "x", 60, 70, 2, order ? "a" : "b", 2, 1, 2);
		expect_linearizable(&h);
		hist_free(&h);
	}
}

static void test_history_reads_during_a_write_may_see_old_or_new(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 0, 5, 1, 1, 1);
	put(&h, 0, "x", "b", 10, 100, 2, 2, 1);
	get(&h, 1, "x", 20, 30, 1, "a", 1, 1, 1);  /* before the write took effect */
	get(&h, 2, "x", 25, 90, 2, "b", 2, 1, 2);  /* after */
	get(&h, 1, "x", 40, 50, 1, "a", 1, 1, 1);  /* concurrent with #3: old is still fine */
	get(&h, 1, "x", 95, 99, 2, "b", 2, 1, 2);  /* #3 returned: new only */
	expect_linearizable(&h);
	hist_free(&h);
}

static void test_history_unknown_write_that_took_effect_is_placed_where_read(void **state)
{
	struct hist h;
	struct hist_report rep;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	put_unknown(&h, 1, "x", "b", 30);
	get(&h, 2, "x", 100, 110, 2, "b", 2, 1, 2);
	put(&h, 0, "x", "c", 120, 130, 3, 3, 1);
	get(&h, 2, "x", 140, 150, 3, "c", 3, 1, 3);
	rep = check(&h);
	assert_int_equal(rep.violations, 0);
	assert_int_equal(rep.unknown, 1);
	assert_int_equal(rep.unknown_applied, 1);
	hist_free(&h);
}

static void test_history_unknown_write_that_did_not_take_effect_is_ignored(void **state)
{
	struct hist h;
	struct hist_report rep;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	put_unknown(&h, 1, "x", "b", 30);
	get(&h, 2, "x", 100, 110, 1, "a", 1, 1, 1);
	put(&h, 0, "x", "c", 120, 130, 2, 2, 1);
	get(&h, 2, "x", 140, 150, 2, "c", 2, 1, 2);
	rep = check(&h);
	assert_int_equal(rep.violations, 0);
	assert_int_equal(rep.unknown_applied, 0);
	hist_free(&h);
}

static void test_history_unknown_write_seen_only_through_a_later_version_passes(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	/* Nobody read "b", but #2's version 3 says a write came between: #1 may be it. */
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	put_unknown(&h, 1, "x", "b", 30);
	put(&h, 0, "x", "c", 120, 130, 3, 3, 1);
	cas_failed(&h, 0, "x", 2, "d", 140, 150, 3, 3);
	expect_linearizable(&h);
	hist_free(&h);
}

static void test_history_unknown_delete_that_took_effect_explains_an_absent_read(void **state)
{
	struct hist h;
	struct hist_report rep;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	get(&h, 2, "x", 40, 50, 1, "a", 1, 1, 1);
	del_unknown(&h, 1, "x", 30);
	get_nf(&h, 2, "x", 60, 70, 2);
	put(&h, 0, "x", "b", 80, 90, 3, 1, 3);
	rep = check(&h);
	assert_int_equal(rep.violations, 0);
	assert_int_equal(rep.unknown_applied, 1);
	hist_free(&h);
}

static void test_history_failed_cas_consistent_with_the_history_passes(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	cas_failed(&h, 0, "x", 1, "a", 0, 5, 0, 0);      /* absent: version 0 */
	cas(&h, 0, "x", 0, "a", 10, 20, 1, 1);
	cas_failed(&h, 1, "x", 0, "b", 15, 25, 1, 1);    /* lost the race to #1 */
	cas(&h, 1, "x", 1, "b", 30, 40, 2, 1);
	cas_failed(&h, 0, "x", 1, "c", 50, 60, 2, 2);
	expect_linearizable(&h);
	hist_free(&h);
}

static void test_history_txn_and_list_are_checked_coarsely(void **state)
{
	struct hist h;
	struct hist_sub subs[3] = {
		{.kind = HIST_PUT, .key = S("x"), .value = S("b"), .state = HIST_SUB_OK, .version = 2,
		 .create_rev = 1, .mod_rev = 2},
		{.kind = HIST_GET, .key = S("y"), .state = HIST_SUB_NOT_FOUND},
		{.in_else = true, .kind = HIST_GET, .key = S("x")},
	};
	struct hist_op txn = {.client = 1, .kind = HIST_TXN, .call_us = 30, .ret_us = 40,
			      .outcome = HIST_OK, .has_rev = true, .rev = 2, .succeeded = true,
			      .subs = subs, .nsubs = 3};
	struct hist_entry ents[1] = {{.key = S("x"), .value = S("b"), .has_value = true,
				      .version = 2, .create_rev = 1, .mod_rev = 2}};
	struct hist_op list = {.client = 2, .kind = HIST_LIST, .call_us = 50, .ret_us = 60,
			       .outcome = HIST_OK, .has_rev = true, .rev = 2, .entries = ents,
			       .nentries = 1};
	struct hist_report rep;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	add(&h, &txn);
	add(&h, &list);
	get(&h, 0, "x", 70, 80, 2, "b", 2, 1, 2);
	rep = check(&h);
	assert_int_equal(rep.violations, 0);
	assert_int_equal(rep.writes, 2);
	assert_int_equal(rep.reads, 2);
	/* The same LIST at revision 2 returning the value of revision 1 missed the TXN's write. */
	ents[0].value = S("a");
	ents[0].version = 1;
	ents[0].mod_rev = 1;
	hist_free(&h);
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	add(&h, &txn);
	add(&h, &list);
	expect_violation(&h, "missed write: #2 read \"x\" at revision 2 and got the value of "
			     "revision 1, but #1 wrote \"x\" at revision 2, in between\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=1 ver=1 crev=1 mrev=1"
			     "   <- observed\n"
			     "  #1 c=1 txn call=30 ret=40 ok rev=2 succeeded=1 subs=3 "
			     "t:put:\"x\":\"b\":ok:2:1:2 t:get:\"y\":not-found e:get:\"x\""
			     "   <- should have been observed\n"
			     "  #2 c=2 list k=\"\" call=50 ret=60 ok rev=2 entries=1 \"x\":\"a\":1:1:1\n");
	hist_free(&h);
}

/* ---------------------------------------------------------------------------------------------
 * Violations are caught, with the smallest slice that shows them
 */

static void test_history_catches_a_stale_read(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	put(&h, 0, "x", "b", 30, 40, 2, 2, 1);
	get(&h, 1, "x", 50, 60, 1, "a", 1, 1, 1);
	expect_violation(&h, "stale read: #2 was called after #1 returned, but saw revision 1, "
			     "older than revision 2 that #1 created\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=1 ver=1 crev=1 mrev=1"
			     "   <- observed\n"
			     "  #1 c=0 put k=\"x\" v=\"b\" call=30 ret=40 ok rev=2 ver=2 crev=1 mrev=2"
			     "   <- should have been observed\n"
			     "  #2 c=1 get k=\"x\" call=50 ret=60 ok rev=1 val=\"a\" ver=1 crev=1 "
			     "mrev=1\n");
	hist_free(&h);
}

static void test_history_catches_a_read_older_than_an_earlier_read(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 0, 5, 1, 1, 1);
	put(&h, 0, "x", "b", 10, 100, 2, 2, 1);
	get(&h, 1, "x", 20, 30, 2, "b", 2, 1, 2);
	get(&h, 2, "x", 40, 50, 1, "a", 1, 1, 1);
	expect_violation(&h, "stale read: #3 was called after #2 returned, but saw revision 1, "
			     "older than revision 2 that #2 saw\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=0 ret=5 ok rev=1 ver=1 crev=1 mrev=1"
			     "   <- observed\n"
			     "  #1 c=0 put k=\"x\" v=\"b\" call=10 ret=100 ok rev=2 ver=2 crev=1 mrev=2"
			     "   <- should have been observed\n"
			     "  #2 c=1 get k=\"x\" call=20 ret=30 ok rev=2 val=\"b\" ver=2 crev=1 mrev=2\n"
			     "  #3 c=2 get k=\"x\" call=40 ret=50 ok rev=1 val=\"a\" ver=1 crev=1 "
			     "mrev=1\n");
	hist_free(&h);
}

static void test_history_catches_a_read_of_a_value_never_written(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	get(&h, 1, "x", 30, 40, 1, "zz", 1, 1, 1);
	expect_violation(&h, "read of a value never written: #1 read \"x\" = \"zz\" (mod_rev 1), "
			     "which no op in the history wrote; #0 wrote \"x\" = \"a\" at revision 1\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=1 ver=1 crev=1 mrev=1"
			     "   <- created that revision\n"
			     "  #1 c=1 get k=\"x\" call=30 ret=40 ok rev=1 val=\"zz\" ver=1 crev=1 "
			     "mrev=1\n");
	hist_free(&h);
	/* The same with a mod revision no op created. */
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	get(&h, 1, "x", 30, 40, 2, "zz", 1, 2, 2);
	expect_violation(&h, "read of a value never written: #1 read \"x\" = \"zz\" (mod_rev 2), "
			     "which no op in the history wrote\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=1 ver=1 crev=1 mrev=1"
			     "   <- should have been observed\n"
			     "  #1 c=1 get k=\"x\" call=30 ret=40 ok rev=2 val=\"zz\" ver=1 crev=2 "
			     "mrev=2\n");
	hist_free(&h);
}

static void test_history_catches_a_real_time_reversal_of_two_writes(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 2, 1, 2);
	put(&h, 1, "y", "b", 30, 40, 1, 1, 1);
	expect_violation(&h, "real-time reversal: #0 returned before #1 was called, but created "
			     "revision 2, after #1's revision 1\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=2 ver=1 crev=2 mrev=2\n"
			     "  #1 c=1 put k=\"y\" v=\"b\" call=30 ret=40 ok rev=1 ver=1 crev=1 "
			     "mrev=1\n");
	hist_free(&h);
}

static void test_history_catches_a_read_that_saw_a_later_write(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	get(&h, 0, "y", 10, 20, 1, "a", 1, 1, 1);
	put(&h, 1, "y", "a", 30, 40, 1, 1, 1);
	expect_violation(&h, "real-time reversal: #0 returned before #1 was called, but saw "
			     "revision 1, which already holds #1's write (revision 1)\n"
			     "  #0 c=0 get k=\"y\" call=10 ret=20 ok rev=1 val=\"a\" ver=1 crev=1 "
			     "mrev=1\n"
			     "  #1 c=1 put k=\"y\" v=\"a\" call=30 ret=40 ok rev=1 ver=1 crev=1 mrev=1\n");
	hist_free(&h);
}

static void test_history_catches_a_duplicate_revision(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 50, 1, 1, 1);
	put(&h, 1, "y", "b", 20, 40, 1, 1, 1);
	expect_violation(&h, "duplicate revision: #0 and #1 both created revision 1\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=50 ok rev=1 ver=1 crev=1 mrev=1\n"
			     "  #1 c=1 put k=\"y\" v=\"b\" call=20 ret=40 ok rev=1 ver=1 crev=1 "
			     "mrev=1\n");
	hist_free(&h);
}

static void test_history_catches_a_lost_write(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	/* #1 was acknowledged at revision 2, but a read at revision 3 sees #0's older value. */
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	put(&h, 0, "x", "b", 30, 40, 2, 2, 1);
	put(&h, 0, "y", "c", 45, 48, 3, 1, 3);
	get(&h, 1, "x", 50, 60, 3, "a", 1, 1, 1);
	expect_violation(&h, "missed write: #3 read \"x\" at revision 3 and got the value of "
			     "revision 1, but #1 wrote \"x\" at revision 2, in between\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=1 ver=1 crev=1 mrev=1"
			     "   <- observed\n"
			     "  #1 c=0 put k=\"x\" v=\"b\" call=30 ret=40 ok rev=2 ver=2 crev=1 mrev=2"
			     "   <- should have been observed\n"
			     "  #3 c=1 get k=\"x\" call=50 ret=60 ok rev=3 val=\"a\" ver=1 crev=1 "
			     "mrev=1\n");
	hist_free(&h);
	/* A lost delete: the key reads as present after an acknowledged DEL. */
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	del(&h, 0, "x", 30, 40, 2);
	get(&h, 1, "x", 50, 60, 2, "a", 1, 1, 1);
	expect_violation(&h, "missed write: #2 read \"x\" at revision 2 and got the value of "
			     "revision 1, but #1 deleted \"x\" at revision 2, in between\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=1 ver=1 crev=1 mrev=1"
			     "   <- observed\n"
			     "  #1 c=0 del k=\"x\" call=30 ret=40 ok rev=2   <- should have been "
			     "observed\n"
			     "  #2 c=1 get k=\"x\" call=50 ret=60 ok rev=2 val=\"a\" ver=1 crev=1 "
			     "mrev=1\n");
	hist_free(&h);
	/* And a key found absent after an acknowledged PUT. */
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	get_nf(&h, 1, "x", 30, 40, 1);
	expect_violation(&h, "missed write: #1 found \"x\" absent at revision 1, but #0 wrote it at "
			     "revision 1 and nothing deleted it since\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=1 ver=1 crev=1 mrev=1"
			     "   <- should have been observed\n"
			     "  #1 c=1 get k=\"x\" call=30 ret=40 not-found rev=1\n");
	hist_free(&h);
}

static void test_history_catches_a_failed_cas_inconsistent_with_the_history(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	cas_failed(&h, 1, "x", 1, "b", 30, 40, 1, 2);
	expect_violation(&h, "failed cas inconsistent: #1 expected version 1 of \"x\" and failed at "
			     "revision 1 (reporting version 2), but \"x\" had version 1 there\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=1 ver=1 crev=1 mrev=1"
			     "   <- last write before it\n"
			     "  #1 c=1 cas k=\"x\" exp=1 v=\"b\" call=30 ret=40 compare-failed rev=1 "
			     "ver=2\n");
	hist_free(&h);
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	cas_failed(&h, 1, "x", 3, "b", 30, 40, 1, 0);
	expect_violation(&h, "failed cas inconsistent: #1 reported version 0 of \"x\" at revision "
			     "1, but \"x\" had version 1 there\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=1 ver=1 crev=1 mrev=1"
			     "   <- last write before it\n"
			     "  #1 c=1 cas k=\"x\" exp=3 v=\"b\" call=30 ret=40 compare-failed rev=1 "
			     "ver=0\n");
	hist_free(&h);
}

static void test_history_catches_a_cas_that_succeeded_on_a_wrong_version(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	cas(&h, 1, "x", 2, "b", 30, 40, 2, 1);
	expect_violation(&h, "cas on a wrong version: #1 expected version 2 of \"x\" and succeeded "
			     "at revision 2, but #0 left version 1 (create_rev 1) at revision 1\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=1 ver=1 crev=1 mrev=1\n"
			     "  #1 c=1 cas k=\"x\" exp=2 v=\"b\" call=30 ret=40 ok rev=2 ver=3 crev=1 "
			     "mrev=2\n");
	hist_free(&h);
}

static void test_history_catches_a_version_gap_and_a_delete_of_a_missing_key(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	put(&h, 0, "x", "b", 30, 40, 2, 3, 1);
	expect_violation(&h, "version gap: #1 wrote \"x\" at revision 2 as version 3 (create_rev 1), "
			     "but #0 left version 1 (create_rev 1) at revision 1, so it must be "
			     "version 2 (create_rev 1)\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=1 ver=1 crev=1 mrev=1\n"
			     "  #1 c=0 put k=\"x\" v=\"b\" call=30 ret=40 ok rev=2 ver=3 crev=1 "
			     "mrev=2\n");
	hist_free(&h);
	hist_init(&h, false);
	del(&h, 0, "x", 10, 20, 1);
	expect_violation(&h, "delete of a missing key: #0 deleted \"x\" at revision 1, but no "
			     "earlier write to \"x\" is in the history\n"
			     "  #0 c=0 del k=\"x\" call=10 ret=20 ok rev=1\n");
	hist_free(&h);
}

static void test_history_catches_unknown_writes_placed_against_real_time(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	/* #1 can only have taken effect after #0 returned (revision 5), yet #2 saw it at 3. */
	put(&h, 0, "y", "q", 10, 20, 5, 1, 5);
	put_unknown(&h, 1, "x", "b", 30);
	get(&h, 2, "x", 40, 50, 6, "b", 1, 3, 3);
	expect_violation(&h, "real-time reversal: #0 returned before #1 was called, but #1 took "
			     "effect at revision 3 (#2 read its value), before #0's revision 5\n"
			     "  #0 c=0 put k=\"y\" v=\"q\" call=10 ret=20 ok rev=5 ver=1 crev=5 mrev=5\n"
			     "  #1 c=1 put k=\"x\" v=\"b\" call=30 ret=- unknown   <- outcome unknown, "
			     "took effect\n"
			     "  #2 c=2 get k=\"x\" call=40 ret=50 ok rev=6 val=\"b\" ver=1 crev=3 "
			     "mrev=3\n");
	hist_free(&h);
	/* A read cannot return what an op called after it returned wrote. */
	hist_init(&h, false);
	get(&h, 0, "x", 10, 20, 1, "b", 1, 1, 1);
	put_unknown(&h, 1, "x", "b", 30);
	expect_violation(&h, "read from the future: #0 returned \"x\" = \"b\" before #1, the only op "
			     "that writes it, was called\n"
			     "  #0 c=0 get k=\"x\" call=10 ret=20 ok rev=1 val=\"b\" ver=1 crev=1 "
			     "mrev=1\n"
			     "  #1 c=1 put k=\"x\" v=\"b\" call=30 ret=- unknown\n");
	hist_free(&h);
}

static void test_history_catches_results_inconsistent_in_themselves(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 2, 1);
	expect_violation(&h, "inconsistent result: #0: version and create_rev disagree (version 1 "
			     "exactly when create_rev = mod_rev)\n"
			     "  #0 c=0 put k=\"x\" v=\"a\" call=10 ret=20 ok rev=1 ver=2 crev=1 "
			     "mrev=1\n");
	hist_free(&h);
	hist_init(&h, false);
	get(&h, 0, "x", 10, 20, 1, "a", 1, 2, 2);
	expect_violation(&h, "inconsistent result: #0: mod_rev after the revision of the result\n"
			     "  #0 c=0 get k=\"x\" call=10 ret=20 ok rev=1 val=\"a\" ver=1 crev=2 "
			     "mrev=2\n");
	hist_free(&h);
}

static void test_history_counts_every_violation_and_reports_the_first(void **state)
{
	struct hist h;
	struct hist_report rep;

	(void)state;
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	put(&h, 0, "x", "b", 30, 40, 2, 2, 1);
	get(&h, 1, "x", 50, 60, 1, "a", 1, 1, 1);
	get(&h, 1, "x", 70, 80, 2, "zz", 2, 1, 2);
	rep = check(&h);
	assert_int_equal(rep.violations, 2);
	assert_non_null(strstr(rep.first, "stale read: #2"));
	hist_free(&h);
}

/* ---------------------------------------------------------------------------------------------
 * Recording from the store's own ops and results
 */

static struct kv *new_kv(void)
{
	struct kv_limits l;
	struct kv *kv = NULL;

	kv_limits_default(&l);
	assert_int_equal(kv_new(&l, &kv), BFT_OK);
	return kv;
}

/* Records op as called at call, runs it on the store, records its result at ret. */
static size_t run(struct hist *h, struct kv *kv, uint64_t client, struct wire_buf *op,
		  uint64_t call, uint64_t ret)
{
	struct wire_buf res = {0};
	size_t idx;

	assert_int_equal(hist_call(h, client, op->p, op->len, call, &idx), BFT_OK);
	kv_execute(kv, op->p, op->len, 0, &res);
	assert_int_equal(hist_return(h, idx, res.p, res.len, ret), BFT_OK);
	wire_buf_free(&res);
	wire_buf_free(op);
	return idx;
}

static const uint8_t *U(const char *s)
{
	return (const uint8_t *)s;
}

static void test_history_records_the_stores_ops_and_results(void **state)
{
	struct kv *kv = new_kv();
	struct hist h;
	struct wire_buf op = {0};
	struct kv_req thens[2] = {{.code = KV_OP_PUT, .key = {U("x"), 1}, .value = {U("t"), 1}},
				  {.code = KV_OP_GET, .key = {U("y"), 1}}};
	struct kv_req elses[1] = {{.code = KV_OP_DEL, .key = {U("x"), 1}}};
	struct kv_cmp cmp = {.target = KV_CMP_VERSION, .rel = KV_EQ, .key = {U("x"), 1}, .num = 2};
	const struct hist_op *o;

	(void)state;
	hist_init(&h, false);
	assert_int_equal(kv_op_encode_put(&op, U("x"), 1, U("a"), 1), BFT_OK);
	run(&h, kv, 1, &op, 10, 20);
	assert_int_equal(kv_op_encode_get(&op, U("x"), 1), BFT_OK);
	run(&h, kv, 1, &op, 30, 40);
	assert_int_equal(kv_op_encode_cas(&op, U("x"), 1, 1, U("b"), 1), BFT_OK);
	run(&h, kv, 1, &op, 50, 60);
	assert_int_equal(kv_op_encode_cas(&op, U("x"), 1, 1, U("c"), 1), BFT_OK);
	run(&h, kv, 1, &op, 70, 80);
	assert_int_equal(kv_op_encode_list(&op, U(""), 0, NULL, 0, 10, 0), BFT_OK);
	run(&h, kv, 1, &op, 90, 100);
	assert_int_equal(kv_op_encode_txn(&op, &cmp, 1, thens, 2, elses, 1), BFT_OK);
	run(&h, kv, 1, &op, 110, 120);
	assert_int_equal(kv_op_encode_del(&op, U("x"), 1), BFT_OK);
	run(&h, kv, 1, &op, 130, 140);
	assert_int_equal(kv_op_encode_del(&op, U("x"), 1), BFT_OK);
	run(&h, kv, 1, &op, 150, 160);
	assert_int_equal(kv_op_encode_get(&op, U("x"), 1), BFT_OK);
	run(&h, kv, 1, &op, 170, 180);
	assert_int_equal(h.n, 9);

	o = &h.ops[0];
	assert_int_equal(o->kind, HIST_PUT);
	assert_int_equal(o->outcome, HIST_OK);
	assert_int_equal(o->rev, 1);
	assert_int_equal(o->version, 1);
	assert_int_equal(o->mod_rev, 1);
	o = &h.ops[1];
	assert_int_equal(o->kind, HIST_GET);
	assert_int_equal(o->read.len, 1);
	assert_memory_equal(o->read.p, "a", 1);
	o = &h.ops[2];
	assert_int_equal(o->kind, HIST_CAS);
	assert_int_equal(o->expected, 1);
	assert_int_equal(o->rev, 2);
	assert_int_equal(o->version, 2);
	o = &h.ops[3];
	assert_int_equal(o->outcome, HIST_COMPARE_FAILED);
	assert_int_equal(o->rev, 2); /* a failed CAS changes nothing: the revision stays */
	assert_int_equal(o->version, 2);
	o = &h.ops[4];
	assert_int_equal(o->kind, HIST_LIST);
	assert_int_equal(o->nentries, 1);
	assert_true(o->entries[0].has_value);
	assert_int_equal(o->entries[0].mod_rev, 2);
	o = &h.ops[5];
	assert_int_equal(o->kind, HIST_TXN);
	assert_true(o->succeeded);
	assert_int_equal(o->nsubs, 3);
	assert_int_equal(o->rev, 3);
	assert_int_equal(o->subs[0].state, HIST_SUB_OK);
	assert_int_equal(o->subs[0].version, 3);
	assert_int_equal(o->subs[1].state, HIST_SUB_NOT_FOUND);
	assert_true(o->subs[2].in_else);
	assert_int_equal(o->subs[2].state, HIST_SUB_NOT_RUN);
	o = &h.ops[6];
	assert_int_equal(o->outcome, HIST_OK);
	assert_int_equal(o->rev, 4);
	o = &h.ops[7];
	assert_int_equal(o->outcome, HIST_NOT_FOUND); /* a DEL of nothing: a read of absence */
	assert_int_equal(o->rev, 4);
	assert_int_equal(h.ops[8].outcome, HIST_NOT_FOUND);
	expect_linearizable(&h);
	hist_free(&h);
	kv_free(kv);
}

static void test_history_recorder_refuses_what_it_cannot_record(void **state)
{
	struct kv *kv = new_kv();
	struct hist h;
	struct wire_buf op = {0}, res = {0};
	uint8_t junk[3] = {0x93, 0x01, 0xc1};
	size_t idx, other;

	(void)state;
	hist_init(&h, false);
	assert_int_equal(hist_call(&h, 0, junk, sizeof(junk), 1, &idx), BFT_EMALFORMED);
	assert_int_equal(kv_op_encode_lease_grant(&op, 1000), BFT_OK);
	assert_int_equal(hist_call(&h, 0, op.p, op.len, 1, &idx), BFT_EINVAL);
	wire_buf_free(&op);
	assert_int_equal(kv_op_encode_put_lease(&op, U("x"), 1, U("a"), 1, 7), BFT_OK);
	assert_int_equal(hist_call(&h, 0, op.p, op.len, 1, &idx), BFT_EINVAL);
	wire_buf_free(&op);
	assert_int_equal(h.n, 0);

	/* A result for another kind of op leaves the record unknown. */
	assert_int_equal(kv_op_encode_put(&op, U("x"), 1, U("a"), 1), BFT_OK);
	assert_int_equal(hist_call(&h, 0, op.p, op.len, 100, &idx), BFT_OK);
	wire_buf_free(&op);
	assert_int_equal(kv_op_encode_get(&op, U("x"), 1), BFT_OK);
	kv_execute(kv, op.p, op.len, 0, &res);
	wire_buf_free(&op);
	assert_int_equal(hist_return(&h, idx, res.p, res.len, 200), BFT_EMALFORMED);
	assert_int_equal(hist_return(&h, idx, res.p, 1, 200), BFT_EMALFORMED);
	assert_int_equal(h.ops[idx].outcome, HIST_UNKNOWN);
	assert_int_equal(hist_return(&h, idx + 1, res.p, res.len, 200), BFT_EINVAL);
	wire_buf_free(&res);
	/* Times must not run backwards; a completed record is not completed again. */
	assert_int_equal(kv_op_encode_put(&op, U("x"), 1, U("a"), 1), BFT_OK);
	kv_execute(kv, op.p, op.len, 0, &res);
	wire_buf_free(&op);
	assert_int_equal(hist_return(&h, idx, res.p, res.len, 99), BFT_EINVAL);
	assert_int_equal(hist_return(&h, idx, res.p, res.len, 200), BFT_OK);
	assert_int_equal(hist_return(&h, idx, res.p, res.len, 300), BFT_EINVAL);
	assert_int_equal(hist_refuse(&h, idx, 300), BFT_EINVAL);
	wire_buf_free(&res);
	/* Refused before sending: no revision, no place in the order. */
	assert_int_equal(kv_op_encode_get(&op, U("x"), 1), BFT_OK);
	assert_int_equal(hist_call(&h, 0, op.p, op.len, 400, &other), BFT_OK);
	wire_buf_free(&op);
	assert_int_equal(hist_refuse(&h, other, 399), BFT_EINVAL);
	assert_int_equal(hist_refuse(&h, other, 410), BFT_OK);
	assert_int_equal(h.ops[other].outcome, HIST_REFUSED);
	assert_false(h.ops[other].has_rev);
	expect_linearizable(&h);
	hist_free(&h);
	kv_free(kv);
}

static void test_history_add_refuses_inconsistent_records(void **state)
{
	struct hist h;
	struct hist_op ok = {.kind = HIST_PUT, .key = S("x"), .value = S("a"), .call_us = 5,
			     .ret_us = 9, .outcome = HIST_OK, .has_rev = true, .rev = 1,
			     .version = 1, .create_rev = 1, .mod_rev = 1};
	struct hist_op bad;

	(void)state;
	hist_init(&h, false);
	assert_null(hist_op_check(&ok));
	bad = ok, bad.ret_us = 4;
	assert_int_equal(hist_add(&h, &bad), BFT_EINVAL);
	bad = ok, bad.key = S("");
	assert_int_equal(hist_add(&h, &bad), BFT_EINVAL);
	bad = ok, bad.outcome = HIST_NOT_FOUND;
	assert_int_equal(hist_add(&h, &bad), BFT_EINVAL);
	bad = ok, bad.outcome = HIST_UNKNOWN;
	assert_int_equal(hist_add(&h, &bad), BFT_EINVAL);
	bad = ok, bad.has_rev = false;
	assert_int_equal(hist_add(&h, &bad), BFT_EINVAL);
	bad = ok, bad.rev = HIST_REV_LIMIT;
	assert_int_equal(hist_add(&h, &bad), BFT_EINVAL);
	bad = ok, bad.kind = HIST_DEL, bad.value = S("");
	assert_int_equal(hist_add(&h, &bad), BFT_EINVAL); /* a DEL result has no numbers */
	bad = ok, bad.expected = 3;
	assert_int_equal(hist_add(&h, &bad), BFT_EINVAL);
	assert_int_equal(h.n, 0);
	assert_int_equal(hist_add(&h, &ok), BFT_OK);
	hist_free(&h);
}

/* ---------------------------------------------------------------------------------------------
 * Text format
 */

static char *to_text(const struct hist *h)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(hist_write(h, f), BFT_OK);
	fclose(f);
	return text;
}

static enum bft_err from_text(const char *text, struct hist *h, char *err, size_t errlen)
{
	FILE *f = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
	enum bft_err e;

	assert_non_null(f);
	e = hist_parse(h, f, err, errlen);
	fclose(f);
	return e;
}

static void round_trip(const struct hist *h)
{
	char *text = to_text(h), *again;
	struct hist back;
	char err[256];

	enum bft_err e = from_text(text, &back, err, sizeof(err));

	if (e != BFT_OK)
		fprintf(stderr, "%s\n%s", err, text);
	assert_int_equal(e, BFT_OK);
	assert_true(hist_equal(h, &back));
	again = to_text(&back);
	assert_string_equal(text, again);
	free(again);
	free(text);
	hist_free(&back);
}

static void test_history_text_round_trips_every_kind_of_record(void **state)
{
	struct hist h;
	static const uint8_t odd[] = {0, ' ', '"', '\\', '\n', 0xff, 'a', ':', '=', '-'};
	struct hist_bytes ob = {.p = (uint8_t *)(uintptr_t)odd, .len = sizeof(odd)};
	struct hist_sub subs[4] = {
		{.kind = HIST_PUT, .key = ob, .value = S(""), .state = HIST_SUB_OK, .version = 1,
		 .create_rev = 4, .mod_rev = 4},
		{.kind = HIST_GET, .key = S("y"), .state = HIST_SUB_OK, .read = ob, .version = 2,
		 .create_rev = 1, .mod_rev = 3},
		{.kind = HIST_DEL, .key = S("z"), .state = HIST_SUB_NOT_FOUND},
		{.in_else = true, .kind = HIST_LIST, .key = S("")},
	};
	struct hist_entry ents[2] = {
		{.key = ob, .value = ob, .has_value = true, .version = 1, .create_rev = 2, .mod_rev = 2},
		{.key = S("k"), .version = 3, .create_rev = 1, .mod_rev = 9},
	};
	struct hist_op txn = {.client = 7, .kind = HIST_TXN, .call_us = 1, .ret_us = 2,
			      .outcome = HIST_OK, .has_rev = true, .rev = 4, .succeeded = true,
			      .subs = subs, .nsubs = 4};
	struct hist_op txn_unknown = {.client = 7, .kind = HIST_TXN, .call_us = 3,
				      .outcome = HIST_UNKNOWN, .subs = subs + 3, .nsubs = 1};
	struct hist_op list = {.client = 8, .kind = HIST_LIST, .key = ob, .call_us = 4, .ret_us = 4,
			       .outcome = HIST_OK, .has_rev = true, .rev = 9, .entries = ents,
			       .nentries = 2};
	struct hist_op refused = {.client = UINT64_MAX, .kind = HIST_CAS, .key = S("x"),
				  .expected = 5, .value = ob, .call_us = UINT64_MAX - 1,
				  .ret_us = UINT64_MAX, .outcome = HIST_REFUSED};
	struct hist_op refused_rev = {.kind = HIST_GET, .key = S("x"), .call_us = 0, .ret_us = 0,
				      .outcome = HIST_REFUSED, .has_rev = true,
				      .rev = HIST_REV_LIMIT - 1};
	struct hist_op empty_txn = {.kind = HIST_TXN, .call_us = 5, .ret_us = 6,
				    .outcome = HIST_OK, .has_rev = true, .rev = 0};
	char *text;

	(void)state;
	for (int clock = 0; clock < 2; clock++) {
		hist_init(&h, clock == 1);
		round_trip(&h);
		put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
		put_unknown(&h, 1, "x", "b", 30);
		get(&h, 2, "x", 40, 50, 2, "", 2, 1, 2);
		get_nf(&h, 2, "y", 40, 50, 2);
		del(&h, 0, "x", 60, 70, 3);
		del_unknown(&h, 0, "x", 80);
		cas(&h, 0, "x", 0, "c", 90, 100, 4, 4);
		cas_failed(&h, 0, "x", 0, "c", 90, 100, 4, 1);
		add(&h, &txn);
		add(&h, &txn_unknown);
		add(&h, &list);
		add(&h, &refused);
		add(&h, &refused_rev);
		add(&h, &empty_txn);
		round_trip(&h);
		hist_free(&h);
	}
	/* The documented example lines are what the writer produces. */
	hist_init(&h, false);
	put(&h, 1, "x", "a", 100, 250, 5, 1, 5);
	text = to_text(&h);
	assert_string_equal(text, "bfthist 1 clock=monotonic\n"
				  "c=1 put k=\"x\" v=\"a\" call=100 ret=250 ok rev=5 ver=1 crev=5 "
				  "mrev=5\n");
	free(text);
	hist_free(&h);
	hist_init(&h, true);
	add(&h, &list);
	text = to_text(&h);
	assert_string_equal(text, "bfthist 1 clock=realtime\n"
				  "c=8 list k=\"\\x00\\x20\\\"\\\\\\x0a\\xffa:=-\" call=4 ret=4 ok "
				  "rev=9 entries=2 \"\\x00\\x20\\\"\\\\\\x0a\\xffa:=-\":\"\\x00\\x20\\\""
				  "\\\\\\x0a\\xffa:=-\":1:2:2 \"k\":-:3:1:9\n");
	free(text);
	hist_free(&h);
}

static void test_history_parser_is_strict(void **state)
{
	static const char *const bad[] = {
		"c=01 put k=\"x\" v=\"a\" call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 put k=\"x\" v=\"a\" call=1 ret=2 ok rev=1 ver=1 crev=1",
		"c=1 put k=\"x\" v=\"a\" call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1 ",
		"c=1 put k=\"x\" v=\"a\"  call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 put k=\"x y\" v=\"a\" call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 put k=\"\\x61\" v=\"a\" call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 put k=\"\\x0A\" v=\"a\" call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 put k=\"\\x22\" v=\"a\" call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 put k=\"\\n\" v=\"a\" call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 put k=\"x v=\"a\" call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 put k=x v=\"a\" call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 put k=\"\" v=\"a\" call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 put k=\"x\" v=\"a\" call=3 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 put k=\"x\" v=\"a\" call=1 ret=- ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 put k=\"x\" v=\"a\" call=1 ret=2 unknown",
		"c=1 put k=\"x\" v=\"a\" call=1 ret=- unknown rev=1",
		"c=1 put k=\"x\" v=\"a\" call=1 ret=2 not-found rev=1",
		"c=1 put k=\"x\" v=\"a\" call=1 ret=2 ok rev=- ver=1 crev=1 mrev=1",
		"c=1 get k=\"x\" call=1 ret=2 compare-failed rev=1 ver=0",
		"c=1 get k=\"x\" call=1 ret=2 ok rev=18446744073709551616 val=\"a\" ver=1 crev=1 mrev=1",
		"c=1 get k=\"x\" call=1 ret=2 ok rev=4611686018427387904 val=\"a\" ver=1 crev=1 mrev=1",
		"c=1 putt k=\"x\" v=\"a\" call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 del k=\"x\" call=1 ret=2 ok rev=1 ver=1 crev=1 mrev=1",
		"c=1 cas k=\"x\" v=\"a\" exp=1 call=1 ret=2 refused rev=-",
		"c=1 list k=\"x\" call=1 ret=2 ok rev=1 entries=2 \"x\":\"a\":1:1:1",
		"c=1 list k=\"x\" call=1 ret=2 ok rev=1 entries=99999999999 \"x\":\"a\":1:1:1",
		"c=1 list k=\"x\" call=1 ret=2 ok rev=1 entries=1 \"\":\"a\":1:1:1",
		"c=1 txn call=1 ret=2 ok rev=1 succeeded=2 subs=0",
		"c=1 txn call=1 ret=2 ok rev=1 succeeded=1 subs=1 e:get:\"x\":not-found",
		"c=1 txn call=1 ret=2 ok rev=1 succeeded=1 subs=1 t:get:\"x\"",
		"c=1 txn call=1 ret=2 ok rev=1 succeeded=1 subs=1 t:cas:\"x\":ok",
		"c=1 txn call=1 ret=2 ok rev=1 succeeded=1 subs=1 t:put:\"x\":not-found",
		"c=1 txn k=\"x\" call=1 ret=2 ok rev=1 succeeded=1 subs=0",
		"",
		"c=1 get k=\"x\" call=1 ret=2 ok rev=1 val=\"a\" ver=1 crev=1 mrev=1\r",
	};
	static const char *const good = "c=1 get k=\"x\" call=1 ret=2 ok rev=1 val=\"a\" ver=1 "
					"crev=1 mrev=1";
	char text[512], err[256];
	struct hist h;

	(void)state;
	snprintf(text, sizeof(text), "bfthist 1 clock=monotonic\n# a comment\n%s\n", good);
	assert_int_equal(from_text(text, &h, err, sizeof(err)), BFT_OK);
	assert_int_equal(h.n, 1);
	hist_free(&h);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "bfthist 1 clock=monotonic\n%s\n%s\n", good, bad[i]);
		if (from_text(text, &h, err, sizeof(err)) != BFT_EMALFORMED)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		assert_int_equal(from_text(text, &h, err, sizeof(err)), BFT_EMALFORMED);
		assert_int_equal(h.n, 0);
		assert_non_null(strstr(err, "line 3"));
	}
	assert_int_equal(from_text("", &h, err, sizeof(err)), BFT_EMALFORMED);
	assert_int_equal(from_text("bfthist 2 clock=monotonic\n", &h, err, sizeof(err)),
			 BFT_EMALFORMED);
	assert_int_equal(from_text("bfthist 1 clock=monotonic\n", &h, err, sizeof(err)), BFT_OK);
	assert_int_equal(h.n, 0);
	hist_free(&h);
	/* A last line without its newline is still whole. */
	snprintf(text, sizeof(text), "bfthist 1 clock=monotonic\n%s", good);
	assert_int_equal(from_text(text, &h, err, sizeof(err)), BFT_OK);
	assert_int_equal(h.n, 1);
	hist_free(&h);
}

static void test_history_check_file_reports_summary_and_violation(void **state)
{
	char path[] = "/tmp/test_history_XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	struct hist h;
	char *out = NULL;
	size_t len = 0;
	FILE *o;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	hist_init(&h, false);
	put(&h, 0, "x", "a", 10, 20, 1, 1, 1);
	put_unknown(&h, 1, "x", "b", 30);
	get(&h, 1, "x", 50, 60, 1, "a", 1, 1, 1);
	assert_int_equal(hist_write(&h, f), BFT_OK);
	fclose(f);
	o = open_memstream(&out, &len);
	assert_int_equal(hist_check_file(path, o), 0);
	fclose(o);
	assert_non_null(strstr(out, ": 3 ops (2 writes, 1 reads), 1 unknown (0 took effect): "
				    "linearizable\n"));
	free(out);

	f = fopen(path, "w");
	put(&h, 0, "x", "c", 70, 80, 2, 2, 1);
	get(&h, 1, "x", 90, 95, 1, "a", 1, 1, 1);
	assert_int_equal(hist_write(&h, f), BFT_OK);
	fclose(f);
	o = open_memstream(&out, &len);
	assert_int_equal(hist_check_file(path, o), 1);
	fclose(o);
	assert_non_null(strstr(out, "1 violation, the first:\nstale read: #4 was called after #3"));
	free(out);

	f = fopen(path, "w");
	fputs("bfthist 1 clock=monotonic\nc=1 get\n", f);
	fclose(f);
	o = open_memstream(&out, &len);
	assert_int_equal(hist_check_file(path, o), 2);
	fclose(o);
	assert_non_null(strstr(out, "line 2, column 8: k=KEY expected"));
	free(out);
	unlink(path);
	o = open_memstream(&out, &len);
	assert_int_equal(hist_check_file(path, o), 2);
	fclose(o);
	assert_non_null(strstr(out, "cannot open"));
	free(out);
	hist_free(&h);
}

/* ---------------------------------------------------------------------------------------------
 * Randomized: concurrent clients against the real store, with random delays and timeouts
 */

#define SIM_CLIENTS 5
#define SIM_KEYS 3
#define SIM_OPS 40  /* per client */

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

struct sim_client {
	int phase;            /* 0 idle, 1 sent (not executed yet), 2 executed (answer on its way) */
	uint64_t at;          /* time of its next event */
	size_t idx;           /* the record of the op in flight */
	struct wire_buf op, res;
	uint32_t done;
	uint64_t seen[SIM_KEYS]; /* the version it last saw of each key, for its CAS */
};

/* An op whose client gave up on it (a timeout) but which still executes later. */
struct sim_orphan {
	struct wire_buf op;
	uint64_t at;
};

static void sim_encode(uint64_t *s, uint32_t client, uint32_t n, struct sim_client *cl,
		       struct wire_buf *op)
{
	char key[8], other[8], val[32];
	uint32_t k = (uint32_t)(rnd(s) % SIM_KEYS), pick = (uint32_t)(rnd(s) % 100);
	size_t kl, vl;

	snprintf(key, sizeof(key), "k%u", k);
	snprintf(other, sizeof(other), "k%u", (k + 1) % SIM_KEYS);
	snprintf(val, sizeof(val), "c%u-%u", client, n);
	kl = strlen(key);
	vl = strlen(val);
	if (pick < 30) {
		assert_int_equal(kv_op_encode_put(op, U(key), kl, U(val), vl), BFT_OK);
	} else if (pick < 58) {
		assert_int_equal(kv_op_encode_get(op, U(key), kl), BFT_OK);
	} else if (pick < 68) {
		assert_int_equal(kv_op_encode_del(op, U(key), kl), BFT_OK);
	} else if (pick < 86) {
		uint64_t exp = rnd(s) % 4 == 0 ? rnd(s) % 3 : cl->seen[k];

		assert_int_equal(kv_op_encode_cas(op, U(key), kl, exp, U(val), vl), BFT_OK);
	} else if (pick < 93) {
		assert_int_equal(kv_op_encode_list(op, U("k"), 1, NULL, 0, 0, 0), BFT_OK);
	} else {
		struct kv_cmp cmp = {.target = KV_CMP_VERSION, .rel = KV_EQ,
				     .key = {U(key), (uint32_t)kl}, .num = cl->seen[k]};
		struct kv_req thens[2] = {
			{.code = KV_OP_PUT, .key = {U(key), (uint32_t)kl},
			 .value = {U(val), (uint32_t)vl}},
			{.code = KV_OP_GET, .key = {U(other), (uint32_t)strlen(other)}}};
		struct kv_req elses[2] = {
			{.code = KV_OP_GET, .key = {U(key), (uint32_t)kl}},
			{.code = KV_OP_DEL, .key = {U(other), (uint32_t)strlen(other)}}};

		assert_int_equal(kv_op_encode_txn(op, &cmp, 1, thens, 2, elses, 2), BFT_OK);
	}
}

/* What a completed op tells its client about the versions of keys. */
static void sim_learn(struct sim_client *cl, const struct hist_op *o)
{
	int k;

	if (o->kind == HIST_LIST || o->kind == HIST_TXN || o->outcome == HIST_REFUSED)
		return;
	k = o->key.p[1] - '0';
	if (o->kind == HIST_DEL || o->outcome == HIST_NOT_FOUND)
		cl->seen[k] = 0;
	else
		cl->seen[k] = o->version;
}

/* One run: SIM_CLIENTS clients, each calling SIM_OPS ops one after another with random think
 * times; each op executes (the store's linearization point) at a random time after its call
 * and returns a random time later; one in twelve times out, and half of those execute anyway,
 * possibly long after their client moved on. */
static void sim_run(uint64_t seed, struct hist *h)
{
	struct kv *kv = new_kv();
	struct sim_client cl[SIM_CLIENTS];
	struct sim_orphan orph[SIM_CLIENTS * SIM_OPS];
	size_t norph = 0;
	uint64_t s = seed * 2654435761u + 1;

	memset(cl, 0, sizeof(cl));
	memset(orph, 0, sizeof(orph));
	hist_init(h, false);
	for (int i = 0; i < SIM_CLIENTS; i++)
		cl[i].at = rnd(&s) % 50;
	for (;;) {
		int who = -1;
		size_t orphan = SIZE_MAX;
		uint64_t now = UINT64_MAX;

		for (int i = 0; i < SIM_CLIENTS; i++)
			if ((cl[i].phase != 0 || cl[i].done < SIM_OPS) && cl[i].at < now) {
				now = cl[i].at;
				who = i;
			}
		for (size_t i = 0; i < norph; i++)
			if (orph[i].op.p != NULL && orph[i].at < now) {
				now = orph[i].at;
				orphan = i;
				who = -1;
			}
		if (who < 0 && orphan == SIZE_MAX)
			break;
		if (orphan != SIZE_MAX) {
			struct wire_buf res = {0};

			kv_execute(kv, orph[orphan].op.p, orph[orphan].op.len, 0, &res);
			wire_buf_free(&res);
			wire_buf_free(&orph[orphan].op);
			continue;
		}
		struct sim_client *c = &cl[who];
		if (c->phase == 0) {
			sim_encode(&s, (uint32_t)who, c->done, c, &c->op);
			assert_int_equal(hist_call(h, (uint64_t)who, c->op.p, c->op.len, now, &c->idx),
					 BFT_OK);
			c->done++;
			if (rnd(&s) % 12 == 0) {
				/* Timed out: recorded as unknown; maybe it executes later anyway. */
				if (rnd(&s) % 2 == 0) {
					orph[norph].op = c->op;
					orph[norph++].at = now + 1 + rnd(&s) % 400;
				} else {
					wire_buf_free(&c->op);
				}
				memset(&c->op, 0, sizeof(c->op));
				c->at = now + 200 + rnd(&s) % 50;
				continue;
			}
			c->phase = 1;
			c->at = now + 1 + rnd(&s) % 60;
		} else if (c->phase == 1) {
			kv_execute(kv, c->op.p, c->op.len, 0, &c->res);
			wire_buf_free(&c->op);
			c->phase = 2;
			c->at = now + rnd(&s) % 60;
		} else {
			assert_int_equal(hist_return(h, c->idx, c->res.p, c->res.len, now), BFT_OK);
			wire_buf_free(&c->res);
			sim_learn(c, &h->ops[c->idx]);
			c->phase = 0;
			c->at = now + rnd(&s) % 40;
		}
	}
	kv_free(kv);
}

/* Whether write w wrote the key read r read, with another value. */
static bool other_value_of_key(const struct hist_op *w, const struct hist_op *r)
{
	return w->key.len == r->key.len && memcmp(w->key.p, r->key.p, r->key.len) == 0 &&
	       !(w->value.len == r->read.len && memcmp(w->value.p, r->read.p, r->read.len) == 0);
}

/* A copy of h with the value read by GET number `which` (of those that found a value) changed:
 * to one no op wrote, or to one another completed write of that key wrote. */
static bool mutate(const struct hist *h, uint64_t *s, struct hist *out)
{
	size_t gets[SIM_CLIENTS * SIM_OPS], n = 0, victim, other = SIZE_MAX;
	char changed[64];

	for (size_t i = 0; i < h->n; i++)
		if (h->ops[i].kind == HIST_GET && h->ops[i].outcome == HIST_OK)
			gets[n++] = i;
	if (n == 0)
		return false;
	victim = gets[rnd(s) % n];
	if (rnd(s) % 2 == 0) {
		for (size_t i = 0; i < h->n && other == SIZE_MAX; i++) {
			const struct hist_op *o = &h->ops[i];

			if ((o->kind == HIST_PUT || o->kind == HIST_CAS) && o->outcome == HIST_OK &&
			    other_value_of_key(o, &h->ops[victim]))
				other = i;
		}
	}
	hist_init(out, h->realtime);
	for (size_t i = 0; i < h->n; i++) {
		struct hist_op o = h->ops[i];

		if (i == victim) {
			if (other != SIZE_MAX) {
				o.read = h->ops[other].value;
			} else {
				snprintf(changed, sizeof(changed), "%.*s'", (int)o.read.len,
					 (const char *)o.read.p);
				o.read = S(changed);
			}
		}
		assert_int_equal(hist_add(out, &o), BFT_OK);
	}
	return true;
}

static void test_history_simulated_concurrent_clients_pass_and_mutations_are_caught(void **state)
{
	const char *env = getenv("SEED"), *many = getenv("SEEDS");
	uint64_t first = env ? strtoull(env, NULL, 10) : 1, count = env ? 1 : 300;

	/* SEEDS=<n> runs n seeds instead of 300, for a longer search. */
	if (env == NULL && many != NULL)
		count = strtoull(many, NULL, 10);
	size_t applied = 0, unknown = 0, caught = 0, mutated = 0, ops = 0;

	(void)state;
	for (uint64_t seed = first; seed < first + count; seed++) {
		struct hist h, m;
		struct hist_report rep;
		uint64_t s = seed + 99;

		sim_run(seed, &h);
		rep = check(&h);
		if (getenv("HIST_DUMP") != NULL)
			assert_int_equal(hist_write(&h, stdout), BFT_OK);
		if (rep.violations != 0)
			fprintf(stderr, "SEED=%llu: linearizable history rejected:\n%s",
				(unsigned long long)seed, rep.first);
		assert_int_equal(rep.violations, 0);
		ops += rep.ops;
		unknown += rep.unknown;
		applied += rep.unknown_applied;
		round_trip(&h);
		if (mutate(&h, &s, &m)) {
			mutated++;
			rep = check(&m);
			if (rep.violations == 0)
				fprintf(stderr, "SEED=%llu: mutated history passed\n",
					(unsigned long long)seed);
			assert_true(rep.violations > 0);
			caught++;
			hist_free(&m);
		}
		hist_free(&h);
	}
	/* The runs exercised what they are for. */
	if (env == NULL) {
		assert_true(ops > 50000);
		assert_true(unknown > 1000);
		assert_true(applied > 100);
		assert_true(mutated > 250);
	}
	assert_int_equal(caught, mutated);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_empty_and_sequential_histories_pass),
		cmocka_unit_test(test_history_revisions_other_clients_took_are_gaps),
		cmocka_unit_test(test_history_concurrent_overlapping_writes_pass_in_either_order),
		cmocka_unit_test(test_history_reads_during_a_write_may_see_old_or_new),
		cmocka_unit_test(test_history_unknown_write_that_took_effect_is_placed_where_read),
		cmocka_unit_test(test_history_unknown_write_that_did_not_take_effect_is_ignored),
		cmocka_unit_test(test_history_unknown_write_seen_only_through_a_later_version_passes),
		cmocka_unit_test(test_history_unknown_delete_that_took_effect_explains_an_absent_read),
		cmocka_unit_test(test_history_failed_cas_consistent_with_the_history_passes),
		cmocka_unit_test(test_history_txn_and_list_are_checked_coarsely),
		cmocka_unit_test(test_history_catches_a_stale_read),
		cmocka_unit_test(test_history_catches_a_read_older_than_an_earlier_read),
		cmocka_unit_test(test_history_catches_a_read_of_a_value_never_written),
		cmocka_unit_test(test_history_catches_a_real_time_reversal_of_two_writes),
		cmocka_unit_test(test_history_catches_a_read_that_saw_a_later_write),
		cmocka_unit_test(test_history_catches_a_duplicate_revision),
		cmocka_unit_test(test_history_catches_a_lost_write),
		cmocka_unit_test(test_history_catches_a_failed_cas_inconsistent_with_the_history),
		cmocka_unit_test(test_history_catches_a_cas_that_succeeded_on_a_wrong_version),
		cmocka_unit_test(test_history_catches_a_version_gap_and_a_delete_of_a_missing_key),
		cmocka_unit_test(test_history_catches_unknown_writes_placed_against_real_time),
		cmocka_unit_test(test_history_catches_results_inconsistent_in_themselves),
		cmocka_unit_test(test_history_counts_every_violation_and_reports_the_first),
		cmocka_unit_test(test_history_records_the_stores_ops_and_results),
		cmocka_unit_test(test_history_recorder_refuses_what_it_cannot_record),
		cmocka_unit_test(test_history_add_refuses_inconsistent_records),
		cmocka_unit_test(test_history_text_round_trips_every_kind_of_record),
		cmocka_unit_test(test_history_parser_is_strict),
		cmocka_unit_test(test_history_check_file_reports_summary_and_violation),
		cmocka_unit_test(test_history_simulated_concurrent_clients_pass_and_mutations_are_caught),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
