/*
 * test_kv.c: the KV store (node/kv.h) and its op and result codecs (node/kv_op.h).
 *
 * Every op's success and failure paths, limits, malformed ops of every kind (including every
 * truncation of valid ops), LIST paging, TXN atomicity (also when an allocation fails half-way),
 * versions and revisions, snapshot canonicity and restore checks, and a seeded model check
 * against a sorted-array reference. The randomized tests print their seed when they fail and
 * take SEED=<n> from the environment to replay one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "node/kv.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 */

/* A result and the bytes it borrows from. */
struct out {
	struct wire_buf b;
	struct kv_result r;
};

static void out_free(struct out *o)
{
	kv_result_free(&o->r);
	wire_buf_free(&o->b);
}

static struct kv *new_kv(const struct kv_limits *l)
{
	struct kv_limits d;
	struct kv *kv = NULL;

	if (l == NULL) {
		kv_limits_default(&d);
		l = &d;
	}
	assert_int_equal(kv_new(l, &kv), BFT_OK);
	return kv;
}

static struct bft_bytes B(const char *s)
{
	struct bft_bytes b = {.p = (const uint8_t *)s, .len = (uint32_t)strlen(s)};

	return b;
}

static struct out run_bytes(struct kv *kv, const uint8_t *op, size_t len, bool query)
{
	struct out o;

	memset(&o, 0, sizeof(o));
	if (query)
		kv_query(kv, op, len, &o.b);
	else
		kv_execute(kv, op, len, 1000, &o.b);
	assert_true(o.b.len > 0);
	assert_int_equal(kv_result_decode(o.b.p, o.b.len, &o.r), BFT_OK);
	return o;
}

static struct out run_op(struct kv *kv, struct wire_buf *op, bool query)
{
	struct out o = run_bytes(kv, op->p, op->len, query);

	wire_buf_free(op);
	return o;
}

static struct out put(struct kv *kv, const char *k, const char *v)
{
	struct wire_buf op = {0};

	assert_int_equal(kv_op_encode_put(&op, (const uint8_t *)k, strlen(k), (const uint8_t *)v,
					  strlen(v)),
			 BFT_OK);
	return run_op(kv, &op, false);
}

static struct out get(struct kv *kv, const char *k, bool query)
{
	struct wire_buf op = {0};

	assert_int_equal(kv_op_encode_get(&op, (const uint8_t *)k, strlen(k)), BFT_OK);
	return run_op(kv, &op, query);
}

static struct out del(struct kv *kv, const char *k)
{
	struct wire_buf op = {0};

	assert_int_equal(kv_op_encode_del(&op, (const uint8_t *)k, strlen(k)), BFT_OK);
	return run_op(kv, &op, false);
}

static struct out cas(struct kv *kv, const char *k, uint64_t ver, const char *v)
{
	struct wire_buf op = {0};

	assert_int_equal(kv_op_encode_cas(&op, (const uint8_t *)k, strlen(k), ver,
					  (const uint8_t *)v, strlen(v)),
			 BFT_OK);
	return run_op(kv, &op, false);
}

static struct out list(struct kv *kv, const char *prefix, const char *start, uint32_t limit,
		       uint32_t flags, bool query)
{
	struct wire_buf op = {0};

	assert_int_equal(kv_op_encode_list(&op, (const uint8_t *)prefix, strlen(prefix),
					   (const uint8_t *)start, strlen(start), limit, flags),
			 BFT_OK);
	return run_op(kv, &op, query);
}

static struct out txn(struct kv *kv, const struct kv_cmp *c, uint32_t nc, const struct kv_req *t,
		      uint32_t nt, const struct kv_req *e, uint32_t ne, bool query)
{
	struct wire_buf op = {0};

	assert_int_equal(kv_op_encode_txn(&op, c, nc, t, nt, e, ne), BFT_OK);
	return run_op(kv, &op, query);
}

/* Puts and checks OK, for setting up. */
static void put_ok(struct kv *kv, const char *k, const char *v)
{
	struct out o = put(kv, k, v);

	assert_int_equal(o.r.status, KV_OK);
	out_free(&o);
}

static int status_of(struct out o)
{
	int s = (int)o.r.status;

	out_free(&o);
	return s;
}

static void assert_value(struct out o, const char *v)
{
	assert_int_equal(o.r.status, KV_OK);
	assert_int_equal(o.r.value.len, strlen(v));
	if (o.r.value.len > 0)
		assert_memory_equal(o.r.value.p, v, strlen(v));
	out_free(&o);
}

static struct wire_buf snap(const struct kv *kv)
{
	struct wire_buf b = {0};

	assert_int_equal(kv_snapshot(kv, &b), BFT_OK);
	return b;
}

/* The store's state is exactly the one `before` serialized. */
static void assert_state(const struct kv *kv, const struct wire_buf *before)
{
	struct wire_buf now = snap(kv);

	assert_int_equal(now.len, before->len);
	assert_memory_equal(now.p, before->p, now.len);
	assert_int_equal(kv_test_check(kv), 0);
	wire_buf_free(&now);
}

static uint64_t seed_from_env(uint64_t dflt)
{
	const char *s = getenv("SEED");

	return s != NULL ? strtoull(s, NULL, 0) : dflt;
}

/* xorshift64*: the tests' only randomness, from a printed seed. */
static uint64_t rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static uint32_t rnd(uint64_t *s, uint32_t n)
{
	return (uint32_t)(rng(s) % n);
}

/* ---------------------------------------------------------------------------------------------
 * Single ops, versions and revisions
 */

static void test_kv_put_then_get_returns_value_version_and_revisions(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct out o;

	(void)state;
	assert_int_equal(kv_revision(kv), 0);
	o = put(kv, "a", "one");
	assert_int_equal(o.r.code, KV_OP_PUT);
	assert_int_equal(o.r.status, KV_OK);
	assert_int_equal(o.r.revision, 1);
	assert_int_equal(o.r.version, 1);
	assert_int_equal(o.r.create_rev, 1);
	assert_int_equal(o.r.mod_rev, 1);
	out_free(&o);
	put_ok(kv, "b", "x");
	o = put(kv, "a", "two");
	assert_int_equal(o.r.revision, 3);
	assert_int_equal(o.r.version, 2);
	assert_int_equal(o.r.create_rev, 1);
	assert_int_equal(o.r.mod_rev, 3);
	out_free(&o);
	o = get(kv, "a", false);
	assert_int_equal(o.r.code, KV_OP_GET);
	assert_int_equal(o.r.revision, 3);
	assert_int_equal(o.r.version, 2);
	assert_int_equal(o.r.create_rev, 1);
	assert_int_equal(o.r.mod_rev, 3);
	assert_value(o, "two");
	assert_value(get(kv, "b", true), "x");
	assert_int_equal(kv_revision(kv), 3);
	assert_int_equal(kv_count(kv), 2);
	assert_int_equal(kv_bytes(kv), 1 + 3 + 1 + 1);
	kv_free(kv);
}

static void test_kv_empty_value_is_a_value(void **state)
{
	struct kv *kv = new_kv(NULL);

	(void)state;
	put_ok(kv, "k", "");
	assert_value(get(kv, "k", false), "");
	kv_free(kv);
}

static void test_kv_get_of_missing_key_is_not_found_and_changes_nothing(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct out o;

	(void)state;
	put_ok(kv, "a", "1");
	o = get(kv, "b", false);
	assert_int_equal(o.r.status, KV_NOT_FOUND);
	assert_int_equal(o.r.revision, 1);
	out_free(&o);
	/* A prefix or an extension of an existing key is another key. */
	assert_int_equal(status_of(get(kv, "aa", false)), KV_NOT_FOUND);
	assert_int_equal(kv_revision(kv), 1);
	kv_free(kv);
}

static void test_kv_delete_removes_and_recreate_starts_a_new_life(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct out o;

	(void)state;
	put_ok(kv, "a", "1");
	put_ok(kv, "a", "2");
	o = del(kv, "a");
	assert_int_equal(o.r.status, KV_OK);
	assert_int_equal(o.r.revision, 3);
	out_free(&o);
	assert_int_equal(status_of(get(kv, "a", false)), KV_NOT_FOUND);
	o = del(kv, "a");
	assert_int_equal(o.r.status, KV_NOT_FOUND);
	assert_int_equal(o.r.revision, 3); /* deleting nothing is not a write */
	out_free(&o);
	o = put(kv, "a", "3");
	assert_int_equal(o.r.version, 1);
	assert_int_equal(o.r.create_rev, 4);
	assert_int_equal(o.r.mod_rev, 4);
	out_free(&o);
	assert_int_equal(kv_count(kv), 1);
	kv_free(kv);
}

static void test_kv_cas_succeeds_only_on_the_expected_version(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct out o;

	(void)state;
	/* Version 0: create only if absent. */
	o = cas(kv, "a", 0, "v1");
	assert_int_equal(o.r.code, KV_OP_CAS);
	assert_int_equal(o.r.status, KV_OK);
	assert_int_equal(o.r.version, 1);
	assert_int_equal(o.r.revision, 1);
	out_free(&o);
	o = cas(kv, "a", 0, "again");
	assert_int_equal(o.r.status, KV_COMPARE_FAILED);
	assert_int_equal(o.r.version, 1);
	assert_int_equal(o.r.revision, 1);
	out_free(&o);
	o = cas(kv, "a", 7, "wrong");
	assert_int_equal(o.r.status, KV_COMPARE_FAILED);
	assert_int_equal(o.r.version, 1);
	out_free(&o);
	assert_value(get(kv, "a", false), "v1");
	o = cas(kv, "a", 1, "v2");
	assert_int_equal(o.r.status, KV_OK);
	assert_int_equal(o.r.version, 2);
	assert_int_equal(o.r.create_rev, 1);
	assert_int_equal(o.r.mod_rev, 2);
	out_free(&o);
	assert_value(get(kv, "a", false), "v2");
	/* A missing key has version 0. */
	o = cas(kv, "zz", 1, "x");
	assert_int_equal(o.r.status, KV_COMPARE_FAILED);
	assert_int_equal(o.r.version, 0);
	out_free(&o);
	assert_int_equal(kv_revision(kv), 2);
	kv_free(kv);
}

/* ---------------------------------------------------------------------------------------------
 * Limits
 */

static void test_kv_keys_and_values_at_their_limits_pass_and_over_are_too_big(void **state)
{
	struct kv_limits l;
	struct kv *kv;
	char key[66], value[130];
	struct wire_buf before;

	(void)state;
	kv_limits_default(&l);
	l.key_max = 64;
	l.value_max = 128;
	kv = new_kv(&l);
	memset(key, 'k', sizeof(key));
	memset(value, 'v', sizeof(value));
	key[64] = '\0';
	value[128] = '\0';
	assert_int_equal(status_of(put(kv, key, value)), KV_OK);
	before = snap(kv);
	key[64] = 'k';
	key[65] = '\0';
	assert_int_equal(status_of(put(kv, key, "x")), KV_TOO_BIG);
	assert_int_equal(status_of(get(kv, key, false)), KV_TOO_BIG);
	assert_int_equal(status_of(del(kv, key)), KV_TOO_BIG);
	assert_int_equal(status_of(cas(kv, key, 0, "x")), KV_TOO_BIG);
	assert_int_equal(status_of(list(kv, key, "", 0, 0, false)), KV_TOO_BIG);
	assert_int_equal(status_of(list(kv, "", key, 0, 0, false)), KV_TOO_BIG);
	value[128] = 'v';
	value[129] = '\0';
	assert_int_equal(status_of(put(kv, "a", value)), KV_TOO_BIG);
	assert_int_equal(status_of(cas(kv, "a", 0, value)), KV_TOO_BIG);
	assert_state(kv, &before);
	wire_buf_free(&before);
	kv_free(kv);
}

static void test_kv_large_values_live_outside_the_slabs_and_round_trip(void **state)
{
	struct kv *kv = new_kv(NULL), *copy = new_kv(NULL);
	uint8_t *v = malloc(65536);
	struct wire_buf op = {0}, s;
	struct out o;

	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < 65536; i++)
		v[i] = (uint8_t)(i * 31 + 7);
	/* Sizes around the slab boundary (records up to 1 KiB come from slabs) and the largest. */
	const size_t sizes[] = {1010, 1017, 1018, 1019, 1024, 1025, 4096, 65536};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char k[8];

		snprintf(k, sizeof(k), "big%zu", i);
		assert_int_equal(kv_op_encode_put(&op, (const uint8_t *)k, strlen(k), v, sizes[i]),
				 BFT_OK);
		assert_int_equal(status_of(run_op(kv, &op, false)), KV_OK);
		assert_int_equal(kv_op_encode_get(&op, (const uint8_t *)k, strlen(k)), BFT_OK);
		o = run_op(kv, &op, false);
		assert_int_equal(o.r.value.len, sizes[i]);
		assert_memory_equal(o.r.value.p, v, sizes[i]);
		out_free(&o);
	}
	/* Overwrite one large value with a small one and the other way round, delete one. */
	assert_int_equal(kv_op_encode_put(&op, (const uint8_t *)"big7", 4, v, 3), BFT_OK);
	assert_int_equal(status_of(run_op(kv, &op, false)), KV_OK);
	assert_int_equal(kv_op_encode_put(&op, (const uint8_t *)"big0", 4, v, 30000), BFT_OK);
	assert_int_equal(status_of(run_op(kv, &op, false)), KV_OK);
	assert_int_equal(status_of(del(kv, "big6")), KV_OK);
	s = snap(kv);
	assert_int_equal(kv_restore(copy, s.p, s.len), BFT_OK);
	assert_state(copy, &s);
	assert_int_equal(kv_test_check(kv), 0);
	wire_buf_free(&s);
	free(v);
	kv_free(kv);
	kv_free(copy);
}

static void test_kv_empty_key_is_malformed(void **state)
{
	struct kv *kv = new_kv(NULL);

	(void)state;
	assert_int_equal(status_of(put(kv, "", "v")), KV_MALFORMED);
	assert_int_equal(status_of(get(kv, "", false)), KV_MALFORMED);
	assert_int_equal(status_of(del(kv, "")), KV_MALFORMED);
	assert_int_equal(kv_revision(kv), 0);
	kv_free(kv);
}

static void test_kv_full_store_refuses_new_keys_but_not_overwrites(void **state)
{
	struct kv_limits l;
	struct kv *kv;
	struct out o;

	(void)state;
	kv_limits_default(&l);
	l.keys_max = 3;
	kv = new_kv(&l);
	put_ok(kv, "a", "1");
	put_ok(kv, "b", "1");
	put_ok(kv, "c", "1");
	o = put(kv, "d", "1");
	assert_int_equal(o.r.status, KV_FULL);
	assert_int_equal(o.r.revision, 3);
	out_free(&o);
	assert_int_equal(status_of(cas(kv, "d", 0, "1")), KV_FULL);
	assert_int_equal(status_of(get(kv, "d", false)), KV_NOT_FOUND);
	put_ok(kv, "a", "2");
	assert_int_equal(status_of(del(kv, "b")), KV_OK);
	put_ok(kv, "d", "1");
	assert_int_equal(kv_count(kv), 3);
	kv_free(kv);
}

static void test_kv_bytes_max_bounds_keys_plus_values(void **state)
{
	struct kv_limits l;
	struct kv *kv;

	(void)state;
	kv_limits_default(&l);
	l.bytes_max = 10;
	kv = new_kv(&l);
	put_ok(kv, "ab", "cdef");                                /* 6 */
	assert_int_equal(status_of(put(kv, "x", "1234")), KV_FULL); /* 11 */
	put_ok(kv, "x", "123");                                  /* 10 */
	/* An overwrite counts its new size against what the old one frees. */
	assert_int_equal(status_of(put(kv, "ab", "cdefg")), KV_FULL);
	put_ok(kv, "ab", "cd");
	put_ok(kv, "x", "12345");
	assert_int_equal(kv_bytes(kv), 10);
	kv_free(kv);
}

static void test_kv_new_rejects_limits_that_cannot_work(void **state)
{
	struct kv_limits l;
	struct kv *kv = NULL;

	(void)state;
	kv_limits_default(&l);
	l.key_max = 0;
	assert_int_equal(kv_new(&l, &kv), BFT_EINVAL);
	kv_limits_default(&l);
	l.list_max = 0;
	assert_int_equal(kv_new(&l, &kv), BFT_EINVAL);
	kv_limits_default(&l);
	l.txn_max = 0;
	assert_int_equal(kv_new(&l, &kv), BFT_EINVAL);
	kv_limits_default(&l);
	l.keys_max = 0;
	assert_int_equal(kv_new(&l, &kv), BFT_EINVAL);
	kv_limits_default(&l);
	l.result_max = l.value_max + 63;
	assert_int_equal(kv_new(&l, &kv), BFT_EINVAL);
	kv_limits_default(&l);
	l.value_max = 100;
	l.key_max = 1000;
	l.result_max = 2000;
	assert_int_equal(kv_new(&l, &kv), BFT_EINVAL);
	assert_null(kv);
	assert_int_equal(kv_new(NULL, &kv), BFT_EINVAL);
	kv_limits_default(&l);
	l.result_max = l.value_max + 64;
	assert_int_equal(kv_new(&l, &kv), BFT_OK);
	kv_free(kv);
	kv_free(NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Malformed ops
 */

/* Runs raw op bytes and checks the result is `want` and the state did not change. */
static void expect_raw(struct kv *kv, const uint8_t *op, size_t len, enum kv_status want,
		       enum kv_op_code code)
{
	struct wire_buf before = snap(kv);
	struct out o = run_bytes(kv, op, len, false);

	assert_int_equal(o.r.status, want);
	assert_int_equal(o.r.code, code);
	assert_int_equal(o.r.revision, kv_revision(kv));
	out_free(&o);
	assert_state(kv, &before);
	wire_buf_free(&before);
}

#define RAW(kv, want, code, ...)                                                                   \
	do {                                                                                       \
		static const uint8_t raw_[] = {__VA_ARGS__};                                       \
		expect_raw(kv, raw_, sizeof(raw_), want, code);                                    \
	} while (0)

static void test_kv_malformed_ops_of_every_kind_get_a_malformed_result(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct out o;

	(void)state;
	put_ok(kv, "a", "1");
	/* Control: a hand-made GET of "a" is accepted. */
	RAW(kv, KV_OK, KV_OP_GET, 0x92, 0x01, 0xc4, 0x01, 'a');
	/* Empty input and NULL. */
	o = run_bytes(kv, NULL, 0, false);
	assert_int_equal(o.r.status, KV_MALFORMED);
	assert_int_equal(o.r.code, KV_OP_NONE);
	out_free(&o);
	/* Not an array; an empty array; a code that is not a uint. */
	RAW(kv, KV_MALFORMED, KV_OP_NONE, 0x01);
	RAW(kv, KV_MALFORMED, KV_OP_NONE, 0x90);
	RAW(kv, KV_MALFORMED, KV_OP_NONE, 0x92, 0xff, 0xc4, 0x01, 'a');
	RAW(kv, KV_MALFORMED, KV_OP_NONE, 0x92, 0xc0, 0xc4, 0x01, 'a');
	/* Unknown codes: 0, 10, 99, a 64-bit one. */
	RAW(kv, KV_MALFORMED, KV_OP_NONE, 0x92, 0x00, 0xc4, 0x01, 'a');
	RAW(kv, KV_MALFORMED, KV_OP_NONE, 0x92, 0x0a, 0xc4, 0x01, 'a');
	RAW(kv, KV_MALFORMED, KV_OP_NONE, 0x92, 0x63, 0xc4, 0x01, 'a');
	RAW(kv, KV_MALFORMED, KV_OP_NONE, 0x92, 0xcf, 0, 0, 0, 1, 0, 0, 0, 1, 0xc4, 0x01, 'a');
	/* Wrong arity for each code. */
	RAW(kv, KV_MALFORMED, KV_OP_GET, 0x91, 0x01);
	RAW(kv, KV_MALFORMED, KV_OP_GET, 0x93, 0x01, 0xc4, 0x01, 'a', 0x00);
	RAW(kv, KV_MALFORMED, KV_OP_PUT, 0x92, 0x02, 0xc4, 0x01, 'a');
	RAW(kv, KV_MALFORMED, KV_OP_DEL, 0x93, 0x03, 0xc4, 0x01, 'a', 0xc4, 0x00);
	RAW(kv, KV_MALFORMED, KV_OP_CAS, 0x93, 0x04, 0xc4, 0x01, 'a', 0x00);
	RAW(kv, KV_MALFORMED, KV_OP_LIST, 0x94, 0x05, 0xc4, 0x00, 0xc4, 0x00, 0x00);
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x93, 0x06, 0x90, 0x90);
	/* A str where a bin belongs, a nil, an int. */
	RAW(kv, KV_MALFORMED, KV_OP_GET, 0x92, 0x01, 0xa1, 'a');
	RAW(kv, KV_MALFORMED, KV_OP_GET, 0x92, 0x01, 0xc0);
	RAW(kv, KV_MALFORMED, KV_OP_PUT, 0x93, 0x02, 0xc4, 0x01, 'a', 0x05);
	/* A negative integer where a uint belongs (CAS version, LIST limit). */
	RAW(kv, KV_MALFORMED, KV_OP_CAS, 0x94, 0x04, 0xc4, 0x01, 'a', 0xff, 0xc4, 0x00);
	RAW(kv, KV_MALFORMED, KV_OP_LIST, 0x95, 0x05, 0xc4, 0x00, 0xc4, 0x00, 0xd0, 0x80, 0x00);
	/* Unknown LIST flags. */
	RAW(kv, KV_MALFORMED, KV_OP_LIST, 0x95, 0x05, 0xc4, 0x00, 0xc4, 0x00, 0x00, 0x02);
	/* Trailing bytes after a complete op. */
	RAW(kv, KV_MALFORMED, KV_OP_GET, 0x92, 0x01, 0xc4, 0x01, 'a', 0x00);
	/* A bin length past the end; an array count past the end. */
	RAW(kv, KV_MALFORMED, KV_OP_GET, 0x92, 0x01, 0xc4, 0x05, 'a');
	RAW(kv, KV_MALFORMED, KV_OP_NONE, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01);
	/* The reserved byte 0xc1. */
	RAW(kv, KV_MALFORMED, KV_OP_NONE, 0xc1);
	kv_free(kv);
}

static void test_kv_malformed_txns_get_a_malformed_result(void **state)
{
	struct kv_limits l;
	struct kv *kv;

	(void)state;
	kv_limits_default(&l);
	l.txn_max = 2;
	kv = new_kv(&l);
	put_ok(kv, "a", "1");
	/* Control: [TXN, [[VERSION, "a", EQ, 1]], [[GET, "a"]], []] succeeds. */
	RAW(kv, KV_OK, KV_OP_TXN, 0x94, 0x06, 0x91, 0x94, 0x01, 0xc4, 0x01, 'a', 0x00, 0x01, 0x91,
	    0x92, 0x01, 0xc4, 0x01, 'a', 0x90);
	/* Unknown target (0, 6), unknown relation (6), wrong comparison arity. */
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x91, 0x94, 0x00, 0xc4, 0x01, 'a', 0x00, 0x01,
	    0x90, 0x90);
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x91, 0x94, 0x06, 0xc4, 0x01, 'a', 0x00, 0x01,
	    0x90, 0x90);
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x91, 0x94, 0x01, 0xc4, 0x01, 'a', 0x06, 0x01,
	    0x90, 0x90);
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x91, 0x93, 0x01, 0xc4, 0x01, 'a', 0x00, 0x90,
	    0x90);
	/* A uint operand for VALUE, a bin operand for VERSION, EXISTS operand 2, an empty key. */
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x91, 0x94, 0x04, 0xc4, 0x01, 'a', 0x00, 0x01,
	    0x90, 0x90);
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x91, 0x94, 0x01, 0xc4, 0x01, 'a', 0x00, 0xc4,
	    0x00, 0x90, 0x90);
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x91, 0x94, 0x05, 0xc4, 0x01, 'a', 0x00, 0x02,
	    0x90, 0x90);
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x91, 0x94, 0x05, 0xc4, 0x00, 0x00, 0x01, 0x90,
	    0x90);
	/* A CAS or a TXN inside a branch. */
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x90,
	    0x91, 0x94, 0x04, 0xc4, 0x01, 'a', 0x00, 0xc4, 0x00, 0x90);
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x90, 0x90,
	    0x91, 0x94, 0x06, 0x90, 0x90, 0x90);
	/* Lists that are not arrays; more than txn_max entries in a list. */
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0xc0, 0x90, 0x90);
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x90, 0x90,
	    0x93, 0x92, 0x01, 0xc4, 0x01, 'a', 0x92, 0x01, 0xc4, 0x01, 'a', 0x92, 0x01, 0xc4, 0x01, 'a');
	/* A malformed op in the else branch, even though the then branch would run. */
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x90, 0x90, 0x91, 0x92, 0x01, 0xa1, 'a');
	/* Malformed wins over too big: an over-limit value followed by a truncation. */
	kv_free(kv);
}

/* Valid ops of every kind, for the truncation and mutation sweeps. */
static void build_sample_ops(struct wire_buf ops[], size_t *n)
{
	static const uint8_t big[300] = {1};
	struct kv_cmp c[] = {
		{.target = KV_CMP_VERSION, .rel = KV_GE, .key = B("a"), .num = 1},
		{.target = KV_CMP_VALUE, .rel = KV_EQ, .key = B("b"), .value = B("vb")},
		{.target = KV_CMP_EXISTS, .rel = KV_NE, .key = B("zz"), .num = 1},
	};
	struct kv_req t[] = {
		{.code = KV_OP_PUT, .key = B("c"), .value = B("vc")},
		{.code = KV_OP_GET, .key = B("a")},
		{.code = KV_OP_DEL, .key = B("b")},
		{.code = KV_OP_LIST, .key = B(""), .start = B("b"), .limit = 3},
	};
	struct kv_req e[] = {{.code = KV_OP_PUT, .key = B("e"), .value = B("ve")}};
	size_t i = 0;

	memset(ops, 0, 8 * sizeof(ops[0]));
	assert_int_equal(kv_op_encode_get(&ops[i++], (const uint8_t *)"a", 1), BFT_OK);
	assert_int_equal(kv_op_encode_put(&ops[i++], (const uint8_t *)"a", 1, big, sizeof(big)),
			 BFT_OK);
	assert_int_equal(kv_op_encode_del(&ops[i++], (const uint8_t *)"b", 1), BFT_OK);
	assert_int_equal(kv_op_encode_cas(&ops[i++], (const uint8_t *)"a", 1, 70000,
					  (const uint8_t *)"x", 1),
			 BFT_OK);
	assert_int_equal(kv_op_encode_list(&ops[i++], (const uint8_t *)"a", 1, (const uint8_t *)"ab",
					   2, 300, KV_LIST_KEYS_ONLY),
			 BFT_OK);
	assert_int_equal(kv_op_encode_txn(&ops[i++], c, 3, t, 4, e, 1), BFT_OK);
	assert_int_equal(kv_op_encode_put_lease(&ops[i++], (const uint8_t *)"a", 1,
						(const uint8_t *)"x", 1, 1),
			 BFT_OK);
	assert_int_equal(kv_op_encode_lease_keepalive(&ops[i++], 1), BFT_OK);
	*n = i;
}

static void test_kv_every_truncation_of_a_valid_op_is_malformed(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct wire_buf ops[8];
	size_t n;

	(void)state;
	put_ok(kv, "a", "va");
	put_ok(kv, "b", "vb");
	build_sample_ops(ops, &n);
	for (size_t i = 0; i < n; i++) {
		struct wire_buf before = snap(kv);

		for (size_t cut = 0; cut < ops[i].len; cut++) {
			struct out o = run_bytes(kv, ops[i].p, cut, false);

			assert_int_equal(o.r.status, KV_MALFORMED);
			out_free(&o);
		}
		assert_state(kv, &before);
		wire_buf_free(&before);
		wire_buf_free(&ops[i]);
	}
	kv_free(kv);
}

/* Flipping each bit of each valid op must never crash nor produce an undecodable result, and a
 * rejected op must leave the state as it was. */
static void test_kv_bit_flips_of_valid_ops_never_break_the_store(void **state)
{
	struct wire_buf ops[8];
	size_t n;

	(void)state;
	build_sample_ops(ops, &n);
	for (size_t i = 0; i < n; i++) {
		for (size_t off = 0; off < ops[i].len; off++) {
			for (int bit = 0; bit < 8; bit++) {
				struct kv *kv = new_kv(NULL);
				struct wire_buf before;
				struct out o;

				put_ok(kv, "a", "va");
				put_ok(kv, "b", "vb");
				before = snap(kv);
				ops[i].p[off] ^= (uint8_t)(1u << bit);
				o = run_bytes(kv, ops[i].p, ops[i].len, false);
				ops[i].p[off] ^= (uint8_t)(1u << bit);
				if (o.r.status == KV_MALFORMED || o.r.status == KV_TOO_BIG)
					assert_state(kv, &before);
				assert_int_equal(kv_test_check(kv), 0);
				out_free(&o);
				wire_buf_free(&before);
				kv_free(kv);
			}
		}
		wire_buf_free(&ops[i]);
	}
}

static void test_kv_encoders_reject_bad_arguments(void **state)
{
	struct wire_buf b = {0};
	struct kv_req bad_then = {.code = KV_OP_CAS, .key = B("a")};
	struct kv_req nested = {.code = KV_OP_TXN};
	struct kv_cmp bad_cmp = {.target = 9, .key = B("a")};
	struct kv_cmp null_value = {.target = KV_CMP_VALUE, .key = B("a"), .value = {NULL, 3}};

	(void)state;
	assert_int_equal(kv_op_encode_get(&b, NULL, 1), BFT_EINVAL);
	assert_int_equal(kv_op_encode_put(&b, (const uint8_t *)"a", 1, NULL, 2), BFT_EINVAL);
	assert_int_equal(kv_op_encode_txn(&b, NULL, 1, NULL, 0, NULL, 0), BFT_EINVAL);
	assert_int_equal(kv_op_encode_txn(&b, NULL, 0, &bad_then, 1, NULL, 0), BFT_EINVAL);
	assert_int_equal(kv_op_encode_txn(&b, NULL, 0, NULL, 0, &nested, 1), BFT_EINVAL);
	assert_int_equal(kv_op_encode_txn(&b, &bad_cmp, 1, NULL, 0, NULL, 0), BFT_EINVAL);
	assert_int_equal(kv_op_encode_txn(&b, &null_value, 1, NULL, 0, NULL, 0), BFT_EINVAL);
	assert_int_equal(kv_op_encode_req(&b, &nested), BFT_EINVAL);
	assert_int_equal(b.len, 0);
	/* Appending keeps what the buffer held. */
	assert_int_equal(kv_op_encode_get(&b, (const uint8_t *)"a", 1), BFT_OK);
	assert_int_equal(kv_op_encode_get(&b, (const uint8_t *)"a", 1), BFT_OK);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.p, b.p + 5, 5);
	wire_buf_free(&b);
}

/* ---------------------------------------------------------------------------------------------
 * The read-only path
 */

static void test_kv_query_runs_reads_and_refuses_writes(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct wire_buf before;
	struct out o;
	struct kv_req r = {.code = KV_OP_GET, .key = B("a")};
	struct kv_req w = {.code = KV_OP_PUT, .key = B("b"), .value = B("x")};
	struct kv_req d = {.code = KV_OP_DEL, .key = B("zz")};

	(void)state;
	put_ok(kv, "a", "1");
	before = snap(kv);
	assert_value(get(kv, "a", true), "1");
	o = list(kv, "", "", 0, 0, true);
	assert_int_equal(o.r.status, KV_OK);
	assert_int_equal(o.r.nentries, 1);
	out_free(&o);
	o = txn(kv, NULL, 0, &r, 1, &r, 1, true);
	assert_int_equal(o.r.status, KV_OK);
	assert_int_equal(o.r.nresults, 1);
	out_free(&o);
	o = put(kv, "b", "x");
	out_free(&o);
	/* That put changed the state: compare against a fresh one for the refusals. */
	wire_buf_free(&before);
	before = snap(kv);
	{
		struct wire_buf op = {0};

		assert_int_equal(kv_op_encode_put(&op, (const uint8_t *)"c", 1, NULL, 0), BFT_OK);
		o = run_op(kv, &op, true);
		assert_int_equal(o.r.code, KV_OP_PUT);
		assert_int_equal(o.r.status, KV_NOT_READ_ONLY);
		out_free(&o);
		assert_int_equal(kv_op_encode_del(&op, (const uint8_t *)"a", 1), BFT_OK);
		assert_int_equal(status_of(run_op(kv, &op, true)), KV_NOT_READ_ONLY);
		assert_int_equal(kv_op_encode_cas(&op, (const uint8_t *)"a", 1, 1, NULL, 0), BFT_OK);
		assert_int_equal(status_of(run_op(kv, &op, true)), KV_NOT_READ_ONLY);
	}
	/* A TXN is read-only only if both branches are, whichever would run. */
	assert_int_equal(status_of(txn(kv, NULL, 0, &r, 1, &w, 1, true)), KV_NOT_READ_ONLY);
	assert_int_equal(status_of(txn(kv, NULL, 0, &d, 1, NULL, 0, true)), KV_NOT_READ_ONLY);
	/* A malformed op through query is malformed, not "not read-only". */
	RAW(kv, KV_MALFORMED, KV_OP_NONE, 0x90);
	assert_state(kv, &before);
	wire_buf_free(&before);
	kv_free(kv);
}

/* ---------------------------------------------------------------------------------------------
 * LIST
 */

/* Checks a LIST result's keys, in order, against a space-separated list. */
static void assert_keys(const struct kv_result *r, const char *want)
{
	char buf[512];
	size_t len = 0;

	assert_int_equal(r->status, KV_OK);
	for (uint32_t i = 0; i < r->nentries; i++) {
		if (i > 0)
			buf[len++] = ' ';
		memcpy(buf + len, r->entries[i].key.p, r->entries[i].key.len);
		len += r->entries[i].key.len;
	}
	buf[len] = '\0';
	assert_string_equal(buf, want);
}

static void test_kv_list_returns_exactly_the_keys_with_the_prefix_in_order(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct out o;
	const char *keys[] = {"b", "a/2", "a", "a/1", "a/10", "a0", "a/", "ab", "c"};

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		put_ok(kv, keys[i], keys[i]);
	o = list(kv, "a/", "", 0, 0, false);
	assert_keys(&o.r, "a/ a/1 a/10 a/2");
	assert_false(o.r.more);
	assert_int_equal(o.r.next.len, 0);
	assert_int_equal(o.r.revision, 9);
	assert_true(o.r.entries[1].has_value);
	assert_int_equal(o.r.entries[1].value.len, 3);
	assert_memory_equal(o.r.entries[1].value.p, "a/1", 3);
	assert_int_equal(o.r.entries[1].version, 1);
	assert_int_equal(o.r.entries[1].create_rev, 4);
	assert_int_equal(o.r.entries[1].mod_rev, 4);
	out_free(&o);
	o = list(kv, "a", "", 0, 0, false);
	assert_keys(&o.r, "a a/ a/1 a/10 a/2 a0 ab");
	out_free(&o);
	o = list(kv, "", "", 0, 0, false);
	assert_keys(&o.r, "a a/ a/1 a/10 a/2 a0 ab b c");
	out_free(&o);
	o = list(kv, "zz", "", 0, 0, false);
	assert_keys(&o.r, "");
	assert_false(o.r.more);
	out_free(&o);
	o = list(kv, "a/10/", "", 0, 0, false);
	assert_keys(&o.r, "");
	out_free(&o);
	kv_free(kv);
}

static void test_kv_list_start_below_inside_and_above_the_prefix(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct out o;

	(void)state;
	put_ok(kv, "a", "");
	put_ok(kv, "p1", "");
	put_ok(kv, "p2", "");
	put_ok(kv, "p3", "");
	put_ok(kv, "q", "");
	o = list(kv, "p", "a", 0, 0, false); /* below: from the prefix */
	assert_keys(&o.r, "p1 p2 p3");
	out_free(&o);
	o = list(kv, "p", "p2", 0, 0, false); /* inside: from start, inclusive */
	assert_keys(&o.r, "p2 p3");
	out_free(&o);
	o = list(kv, "p", "p15", 0, 0, false); /* between keys */
	assert_keys(&o.r, "p2 p3");
	out_free(&o);
	o = list(kv, "p", "q", 0, 0, false); /* above the range: nothing */
	assert_keys(&o.r, "");
	assert_false(o.r.more);
	out_free(&o);
	o = list(kv, "", "p3", 0, 0, false);
	assert_keys(&o.r, "p3 q");
	out_free(&o);
	kv_free(kv);
}

static void test_kv_list_prefixes_with_ff_and_zero_bytes(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct out o;
	static const uint8_t k1[] = {0xff}, k2[] = {0xff, 0xff}, k3[] = {0xff, 0x00},
			     k4[] = {0xfe, 0xff}, k5[] = {0x00}, k6[] = {0x00, 0x00};
	const struct {
		const uint8_t *p;
		size_t len;
	} keys[] = {{k1, 1}, {k2, 2}, {k3, 2}, {k4, 2}, {k5, 1}, {k6, 2}};
	struct wire_buf op = {0};

	(void)state;
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(kv_op_encode_put(&op, keys[i].p, keys[i].len, k1, 1), BFT_OK);
		assert_int_equal(status_of(run_op(kv, &op, false)), KV_OK);
	}
	assert_int_equal(kv_op_encode_list(&op, k1, 1, NULL, 0, 0, 0), BFT_OK);
	o = run_op(kv, &op, false);
	assert_int_equal(o.r.nentries, 3);
	assert_int_equal(o.r.entries[0].key.len, 1);
	assert_memory_equal(o.r.entries[1].key.p, k3, 2);
	assert_memory_equal(o.r.entries[2].key.p, k2, 2);
	out_free(&o);
	assert_int_equal(kv_op_encode_list(&op, k5, 1, NULL, 0, 0, 0), BFT_OK);
	o = run_op(kv, &op, false);
	assert_int_equal(o.r.nentries, 2);
	out_free(&o);
	assert_int_equal(kv_op_encode_list(&op, k2, 2, NULL, 0, 0, 0), BFT_OK);
	o = run_op(kv, &op, false);
	assert_int_equal(o.r.nentries, 1);
	out_free(&o);
	kv_free(kv);
}

static void test_kv_list_limit_hard_cap_and_continuation_cover_every_key_once(void **state)
{
	struct kv_limits l;
	struct kv *kv;
	struct out o;
	char k[16], start[16] = "";
	uint32_t seen = 0;

	(void)state;
	kv_limits_default(&l);
	l.list_max = 7;
	kv = new_kv(&l);
	for (int i = 0; i < 50; i++) {
		snprintf(k, sizeof(k), "k%02d", i);
		put_ok(kv, k, "v");
	}
	put_ok(kv, "l", "v");
	o = list(kv, "k", "", 3, 0, false);
	assert_keys(&o.r, "k00 k01 k02");
	assert_true(o.r.more);
	assert_int_equal(o.r.next.len, 3);
	assert_memory_equal(o.r.next.p, "k03", 3);
	out_free(&o);
	/* 0 and anything over list_max mean list_max. */
	o = list(kv, "k", "", 0, 0, false);
	assert_int_equal(o.r.nentries, 7);
	out_free(&o);
	o = list(kv, "k", "", 1000000, 0, false);
	assert_int_equal(o.r.nentries, 7);
	assert_true(o.r.more);
	out_free(&o);
	/* Exactly the remaining count: no "more". */
	o = list(kv, "k", "k47", 3, 0, false);
	assert_keys(&o.r, "k47 k48 k49");
	assert_false(o.r.more);
	out_free(&o);
	/* Paging with next visits every key once, in order. */
	for (;;) {
		o = list(kv, "k", start, 4, 0, false);
		for (uint32_t i = 0; i < o.r.nentries; i++) {
			snprintf(k, sizeof(k), "k%02u", seen++);
			assert_memory_equal(o.r.entries[i].key.p, k, 3);
		}
		if (!o.r.more) {
			out_free(&o);
			break;
		}
		memcpy(start, o.r.next.p, o.r.next.len);
		start[o.r.next.len] = '\0';
		out_free(&o);
	}
	assert_int_equal(seen, 50);
	kv_free(kv);
}

static void test_kv_list_keys_only_carries_no_values(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct out o;

	(void)state;
	put_ok(kv, "a", "value");
	put_ok(kv, "b", "value");
	o = list(kv, "", "", 0, KV_LIST_KEYS_ONLY, false);
	assert_keys(&o.r, "a b");
	assert_false(o.r.entries[0].has_value);
	assert_false(o.r.entries[1].has_value);
	assert_int_equal(o.r.entries[1].version, 1);
	assert_int_equal(o.r.entries[1].mod_rev, 2);
	out_free(&o);
	kv_free(kv);
}

static void test_kv_list_pages_by_result_bytes_and_never_exceeds_result_max(void **state)
{
	struct kv_limits l;
	struct kv *kv;
	struct out o;
	char k[8], v[1001], start[8] = "";
	uint32_t seen = 0, pages = 0;

	(void)state;
	kv_limits_default(&l);
	l.key_max = 200;
	l.value_max = 1000;
	l.result_max = 2500;
	kv = new_kv(&l);
	memset(v, 'v', 1000);
	v[1000] = '\0';
	for (int i = 0; i < 10; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		put_ok(kv, k, v);
	}
	for (;;) {
		o = list(kv, "", start, 0, 0, false);
		assert_true(o.b.len <= l.result_max);
		assert_true(o.r.nentries >= 1);
		for (uint32_t i = 0; i < o.r.nentries; i++) {
			assert_true(o.r.entries[i].has_value);
			assert_int_equal(o.r.entries[i].value.len, 1000);
		}
		seen += o.r.nentries;
		pages++;
		if (!o.r.more) {
			out_free(&o);
			break;
		}
		memcpy(start, o.r.next.p, o.r.next.len);
		start[o.r.next.len] = '\0';
		out_free(&o);
	}
	assert_int_equal(seen, 10);
	assert_int_equal(pages, 5);
	kv_free(kv);
}

static void test_kv_list_returns_an_entry_too_big_for_a_page_without_its_value(void **state)
{
	struct kv_limits l;
	struct kv *kv;
	struct out o;
	char k[201], v[1001];

	(void)state;
	kv_limits_default(&l);
	l.key_max = 200;
	l.value_max = 1000;
	l.result_max = 1064; /* the smallest kv_new allows: a GET of a full value fits */
	kv = new_kv(&l);
	memset(k, 'k', 200);
	k[200] = '\0';
	memset(v, 'v', 1000);
	v[1000] = '\0';
	put_ok(kv, k, v);
	put_ok(kv, "z", "small");
	put_ok(kv, "zz", v);
	/* The first entry alone is over the page: it comes without its value, and the small one
	 * after it still fits; the next big one waits for the next page. */
	o = list(kv, "", "", 0, 0, false);
	assert_true(o.b.len <= l.result_max);
	assert_int_equal(o.r.nentries, 2);
	assert_false(o.r.entries[0].has_value);
	assert_true(o.r.entries[1].has_value);
	assert_int_equal(o.r.entries[1].value.len, 5);
	assert_true(o.r.more);
	assert_int_equal(o.r.next.len, 2);
	assert_memory_equal(o.r.next.p, "zz", 2);
	out_free(&o);
	o = list(kv, "", "zz", 0, 0, false);
	assert_true(o.b.len <= l.result_max);
	assert_int_equal(o.r.nentries, 1);
	assert_false(o.r.entries[0].has_value);
	assert_false(o.r.more);
	out_free(&o);
	/* Keys only: no value is ever omitted, so nothing is bare for size. */
	o = list(kv, "", "", 0, KV_LIST_KEYS_ONLY, false);
	assert_int_equal(o.r.nentries, 3);
	out_free(&o);
	/* GET returns it whole. */
	o = get(kv, k, false);
	assert_int_equal(o.r.value.len, 1000);
	assert_true(o.b.len <= l.result_max);
	out_free(&o);
	kv_free(kv);
}

/* ---------------------------------------------------------------------------------------------
 * TXN
 */

static void test_kv_txn_runs_then_when_all_comparisons_hold(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct out o;
	struct kv_cmp c[] = {
		{.target = KV_CMP_VERSION, .rel = KV_EQ, .key = B("a"), .num = 1},
		{.target = KV_CMP_VALUE, .rel = KV_EQ, .key = B("a"), .value = B("1")},
		{.target = KV_CMP_EXISTS, .rel = KV_EQ, .key = B("new"), .num = 0},
	};
	struct kv_req t[] = {
		{.code = KV_OP_PUT, .key = B("new"), .value = B("n")},
		{.code = KV_OP_PUT, .key = B("a"), .value = B("2")},
		{.code = KV_OP_GET, .key = B("a")},
		{.code = KV_OP_DEL, .key = B("b")},
		{.code = KV_OP_DEL, .key = B("missing")},
		{.code = KV_OP_LIST, .key = B(""), .limit = 0},
	};
	struct kv_req e[] = {{.code = KV_OP_PUT, .key = B("else"), .value = B("e")}};

	(void)state;
	put_ok(kv, "a", "1");
	put_ok(kv, "b", "1");
	o = txn(kv, c, 3, t, 6, e, 1, false);
	assert_int_equal(o.r.code, KV_OP_TXN);
	assert_int_equal(o.r.status, KV_OK);
	assert_true(o.r.succeeded);
	/* One TXN is one revision, however many keys it writes. */
	assert_int_equal(o.r.revision, 3);
	assert_int_equal(o.r.nresults, 6);
	assert_int_equal(o.r.results[0].code, KV_OP_PUT);
	assert_int_equal(o.r.results[0].version, 1);
	assert_int_equal(o.r.results[0].create_rev, 3);
	assert_int_equal(o.r.results[1].version, 2);
	assert_int_equal(o.r.results[1].create_rev, 1);
	assert_int_equal(o.r.results[1].mod_rev, 3);
	/* A read after a write in the same TXN sees it. */
	assert_int_equal(o.r.results[2].code, KV_OP_GET);
	assert_int_equal(o.r.results[2].value.len, 1);
	assert_memory_equal(o.r.results[2].value.p, "2", 1);
	assert_int_equal(o.r.results[2].revision, 3);
	assert_int_equal(o.r.results[3].status, KV_OK);
	assert_int_equal(o.r.results[4].status, KV_NOT_FOUND);
	assert_keys(&o.r.results[5], "a new");
	out_free(&o);
	assert_int_equal(status_of(get(kv, "b", false)), KV_NOT_FOUND);
	assert_int_equal(status_of(get(kv, "else", false)), KV_NOT_FOUND);
	assert_int_equal(kv_revision(kv), 3);
	kv_free(kv);
}

static void test_kv_txn_runs_else_when_any_comparison_fails(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct out o;
	struct kv_cmp c[] = {
		{.target = KV_CMP_VERSION, .rel = KV_EQ, .key = B("a"), .num = 1},
		{.target = KV_CMP_MOD, .rel = KV_GT, .key = B("a"), .num = 5},
	};
	struct kv_req t[] = {{.code = KV_OP_PUT, .key = B("then"), .value = B("t")}};
	struct kv_req e[] = {{.code = KV_OP_GET, .key = B("a")}};

	(void)state;
	put_ok(kv, "a", "1");
	o = txn(kv, c, 2, t, 1, e, 1, false);
	assert_int_equal(o.r.status, KV_OK);
	assert_false(o.r.succeeded);
	assert_int_equal(o.r.nresults, 1);
	assert_int_equal(o.r.results[0].status, KV_OK);
	/* A TXN that wrote nothing is no revision. */
	assert_int_equal(o.r.revision, 1);
	out_free(&o);
	assert_int_equal(status_of(get(kv, "then", false)), KV_NOT_FOUND);
	/* An empty TXN: no comparisons hold vacuously, no ops. */
	o = txn(kv, NULL, 0, NULL, 0, NULL, 0, false);
	assert_true(o.r.succeeded);
	assert_int_equal(o.r.nresults, 0);
	out_free(&o);
	kv_free(kv);
}

/* One comparison against the state {a: "m", version 2, create 1, mod 3}. */
static bool holds(struct kv *kv, enum kv_cmp_target t, enum kv_cmp_rel rel, const char *key,
		  uint64_t num, const char *value)
{
	struct kv_cmp c = {.target = t, .rel = rel, .key = B(key), .num = num,
			   .value = value ? B(value) : B("")};
	struct out o = txn(kv, &c, 1, NULL, 0, NULL, 0, false);
	bool ok;

	assert_int_equal(o.r.status, KV_OK);
	ok = o.r.succeeded;
	out_free(&o);
	return ok;
}

static void test_kv_txn_comparisons_every_target_and_relation(void **state)
{
	struct kv *kv = new_kv(NULL);

	(void)state;
	put_ok(kv, "a", "x");
	put_ok(kv, "b", "x");
	put_ok(kv, "a", "m");
	assert_true(holds(kv, KV_CMP_VERSION, KV_EQ, "a", 2, NULL));
	assert_false(holds(kv, KV_CMP_VERSION, KV_NE, "a", 2, NULL));
	assert_true(holds(kv, KV_CMP_VERSION, KV_LT, "a", 3, NULL));
	assert_false(holds(kv, KV_CMP_VERSION, KV_LT, "a", 2, NULL));
	assert_true(holds(kv, KV_CMP_VERSION, KV_LE, "a", 2, NULL));
	assert_true(holds(kv, KV_CMP_VERSION, KV_GT, "a", 1, NULL));
	assert_false(holds(kv, KV_CMP_VERSION, KV_GT, "a", 2, NULL));
	assert_true(holds(kv, KV_CMP_VERSION, KV_GE, "a", 2, NULL));
	assert_false(holds(kv, KV_CMP_VERSION, KV_GE, "a", 3, NULL));
	assert_true(holds(kv, KV_CMP_CREATE, KV_EQ, "a", 1, NULL));
	assert_true(holds(kv, KV_CMP_CREATE, KV_EQ, "b", 2, NULL));
	assert_true(holds(kv, KV_CMP_MOD, KV_EQ, "a", 3, NULL));
	assert_true(holds(kv, KV_CMP_MOD, KV_GT, "b", 1, NULL));
	assert_true(holds(kv, KV_CMP_VALUE, KV_EQ, "a", 0, "m"));
	assert_true(holds(kv, KV_CMP_VALUE, KV_LT, "a", 0, "n"));
	assert_true(holds(kv, KV_CMP_VALUE, KV_GT, "a", 0, "l"));
	assert_true(holds(kv, KV_CMP_VALUE, KV_LT, "a", 0, "mm")); /* shorter is less */
	assert_true(holds(kv, KV_CMP_VALUE, KV_GT, "a", 0, ""));
	assert_true(holds(kv, KV_CMP_VALUE, KV_NE, "a", 0, "x"));
	assert_true(holds(kv, KV_CMP_EXISTS, KV_EQ, "a", 1, NULL));
	assert_false(holds(kv, KV_CMP_EXISTS, KV_EQ, "nope", 1, NULL));
	assert_true(holds(kv, KV_CMP_EXISTS, KV_EQ, "nope", 0, NULL));
	/* A missing key: numbers are 0, and no value comparison holds, not even NE. */
	assert_true(holds(kv, KV_CMP_VERSION, KV_EQ, "nope", 0, NULL));
	assert_true(holds(kv, KV_CMP_MOD, KV_EQ, "nope", 0, NULL));
	assert_true(holds(kv, KV_CMP_CREATE, KV_LT, "nope", 1, NULL));
	assert_false(holds(kv, KV_CMP_VALUE, KV_NE, "nope", 0, "x"));
	assert_false(holds(kv, KV_CMP_VALUE, KV_EQ, "nope", 0, ""));
	assert_false(holds(kv, KV_CMP_VALUE, KV_LT, "nope", 0, "zzz"));
	assert_int_equal(kv_revision(kv), 3);
	kv_free(kv);
}

static void test_kv_txn_that_fills_the_store_half_way_changes_nothing(void **state)
{
	struct kv_limits l;
	struct kv *kv;
	struct wire_buf before;
	struct out o;
	struct kv_req t[] = {
		{.code = KV_OP_PUT, .key = B("a"), .value = B("changed")},
		{.code = KV_OP_DEL, .key = B("b")},
		{.code = KV_OP_PUT, .key = B("n1"), .value = B("1")},
		{.code = KV_OP_PUT, .key = B("n2"), .value = B("2")},
		{.code = KV_OP_PUT, .key = B("n3"), .value = B("3")},
	};

	(void)state;
	kv_limits_default(&l);
	l.keys_max = 4;
	kv = new_kv(&l);
	put_ok(kv, "a", "1");
	put_ok(kv, "b", "1");
	before = snap(kv);
	/* a, n1, n2 and n3 would be 4 keys: fine; without the DEL, 5: full. */
	o = txn(kv, NULL, 0, t, 5, NULL, 0, false);
	assert_int_equal(o.r.status, KV_OK);
	out_free(&o);
	assert_int_equal(kv_count(kv), 4);
	assert_int_equal(kv_revision(kv), 3);
	assert_int_equal(kv_restore(kv, before.p, before.len), BFT_OK);
	t[1].key = B("zz");
	o = txn(kv, NULL, 0, t, 5, NULL, 0, false);
	assert_int_equal(o.r.code, KV_OP_TXN);
	assert_int_equal(o.r.status, KV_FULL);
	assert_int_equal(o.r.revision, 2);
	assert_int_equal(o.r.nresults, 0);
	out_free(&o);
	assert_state(kv, &before);
	assert_value(get(kv, "a", false), "1");
	wire_buf_free(&before);
	kv_free(kv);
}

static void test_kv_txn_writes_of_one_key_in_sequence(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct out o;
	struct kv_req t[] = {
		{.code = KV_OP_DEL, .key = B("a")},
		{.code = KV_OP_GET, .key = B("a")},
		{.code = KV_OP_PUT, .key = B("a"), .value = B("re")},
		{.code = KV_OP_PUT, .key = B("a"), .value = B("re2")},
		{.code = KV_OP_PUT, .key = B("b"), .value = B("b")},
		{.code = KV_OP_DEL, .key = B("b")},
		{.code = KV_OP_DEL, .key = B("b")},
	};

	(void)state;
	put_ok(kv, "a", "1");
	put_ok(kv, "a", "2");
	o = txn(kv, NULL, 0, t, 7, NULL, 0, false);
	assert_int_equal(o.r.status, KV_OK);
	assert_int_equal(o.r.results[0].status, KV_OK);
	assert_int_equal(o.r.results[1].status, KV_NOT_FOUND);
	/* Deleted then written again: a new life, created by this TXN. */
	assert_int_equal(o.r.results[2].version, 1);
	assert_int_equal(o.r.results[2].create_rev, 3);
	assert_int_equal(o.r.results[3].version, 2);
	assert_int_equal(o.r.results[3].mod_rev, 3);
	assert_int_equal(o.r.results[5].status, KV_OK);
	assert_int_equal(o.r.results[6].status, KV_NOT_FOUND);
	out_free(&o);
	o = get(kv, "a", false);
	assert_int_equal(o.r.version, 2);
	assert_int_equal(o.r.create_rev, 3);
	assert_value(o, "re2");
	assert_int_equal(status_of(get(kv, "b", false)), KV_NOT_FOUND);
	assert_int_equal(kv_count(kv), 1);
	assert_int_equal(kv_test_check(kv), 0);
	kv_free(kv);
}

static void test_kv_txn_whose_results_exceed_result_max_is_too_big_and_undone(void **state)
{
	struct kv_limits l;
	struct kv *kv;
	struct wire_buf before;
	struct out o;
	char v[1001];
	struct kv_req t[] = {
		{.code = KV_OP_PUT, .key = B("w"), .value = B("x")},
		{.code = KV_OP_GET, .key = B("a")},
		{.code = KV_OP_GET, .key = B("a")},
		{.code = KV_OP_GET, .key = B("a")},
	};
	struct kv_req lt[] = {
		{.code = KV_OP_GET, .key = B("a")},
		{.code = KV_OP_LIST, .key = B(""), .limit = 0},
	};

	(void)state;
	kv_limits_default(&l);
	l.value_max = 1000;
	l.result_max = 2500;
	kv = new_kv(&l);
	memset(v, 'v', 1000);
	v[1000] = '\0';
	put_ok(kv, "a", v);
	put_ok(kv, "b", v);
	before = snap(kv);
	o = txn(kv, NULL, 0, t, 2, NULL, 0, false);
	assert_int_equal(o.r.status, KV_OK);
	out_free(&o);
	assert_int_equal(kv_restore(kv, before.p, before.len), BFT_OK);
	o = txn(kv, NULL, 0, t, 4, NULL, 0, false);
	assert_int_equal(o.r.status, KV_TOO_BIG);
	out_free(&o);
	assert_state(kv, &before);
	/* A LIST after a GET gets what room is left: a page, not a failure. */
	o = txn(kv, NULL, 0, lt, 2, NULL, 0, false);
	assert_int_equal(o.r.status, KV_OK);
	assert_true(o.b.len <= l.result_max);
	assert_int_equal(o.r.results[1].nentries, 1);
	assert_true(o.r.results[1].more);
	out_free(&o);
	wire_buf_free(&before);
	kv_free(kv);
}

/* ---------------------------------------------------------------------------------------------
 * Allocation failures
 */

static void test_kv_a_write_that_runs_out_of_memory_anywhere_changes_nothing(void **state)
{
	struct kv_req t[40];
	char keys[40][8];
	int completed = 0;

	(void)state;
	memset(t, 0, sizeof(t));
	for (int i = 0; i < 40; i++) {
		snprintf(keys[i], sizeof(keys[i]), "t%02d", i);
		t[i].code = (i % 5 == 4) ? KV_OP_DEL : KV_OP_PUT;
		t[i].key = B(keys[i % 5 == 4 ? i - 4 : i]);
		t[i].value = B(i % 3 ? "small" : "a value a bit longer than the others");
		/* Half the puts attach their key to lease 1: the lease index must roll back too. */
		t[i].lease = (t[i].code == KV_OP_PUT && i % 2) ? 1 : 0;
	}
	for (int64_t n = 0; n < 200 && completed < 3; n++) {
		struct kv *kv = new_kv(NULL);
		struct wire_buf before;
		struct out o;
		char k[8];

		/* Enough keys for a tree of several levels, so that splits allocate. */
		for (int i = 0; i < 2000; i++) {
			snprintf(k, sizeof(k), "k%04d", i * 7 % 2000);
			put_ok(kv, k, "v");
		}
		{
			struct wire_buf g = {0};

			assert_int_equal(kv_op_encode_lease_grant(&g, 100000), BFT_OK);
			assert_int_equal(status_of(run_op(kv, &g, false)), KV_OK);
			assert_int_equal(kv_op_encode_put_lease(&g, (const uint8_t *)"t01", 3,
							       (const uint8_t *)"x", 1, 1),
					 BFT_OK);
			assert_int_equal(status_of(run_op(kv, &g, false)), KV_OK);
		}
		put_ok(kv, "t00", "old");
		before = snap(kv);
		kv_test_fail_alloc_after(kv, n);
		o = txn(kv, NULL, 0, t, 40, NULL, 0, false);
		kv_test_fail_alloc_after(kv, -1);
		if (o.r.status == KV_NOMEM) {
			assert_state(kv, &before);
		} else {
			assert_int_equal(o.r.status, KV_OK);
			completed++;
		}
		out_free(&o);
		/* Single ops too. */
		kv_test_fail_alloc_after(kv, n % 3);
		o = put(kv, "zzz-new", "v");
		kv_test_fail_alloc_after(kv, -1);
		assert_true(o.r.status == KV_OK || o.r.status == KV_NOMEM);
		assert_int_equal(kv_test_check(kv), 0);
		out_free(&o);
		wire_buf_free(&before);
		kv_free(kv);
	}
	assert_true(completed > 0);
}

static void test_kv_restore_that_runs_out_of_memory_changes_nothing(void **state)
{
	struct kv *src = new_kv(NULL), *dst = new_kv(NULL);
	struct wire_buf s, before;
	char k[8];
	bool done = false;

	(void)state;
	for (int i = 0; i < 500; i++) {
		snprintf(k, sizeof(k), "k%03d", i);
		put_ok(src, k, "v");
	}
	put_ok(dst, "mine", "1");
	s = snap(src);
	before = snap(dst);
	for (int64_t n = 0; !done; n++) {
		enum bft_err e;

		kv_test_fail_alloc_after(dst, n);
		e = kv_restore(dst, s.p, s.len);
		kv_test_fail_alloc_after(dst, -1);
		if (e == BFT_OK) {
			assert_state(dst, &s);
			done = true;
		} else {
			assert_int_equal(e, BFT_ENOMEM);
			assert_state(dst, &before);
		}
	}
	wire_buf_free(&s);
	wire_buf_free(&before);
	kv_free(src);
	kv_free(dst);
}

/* ---------------------------------------------------------------------------------------------
 * The tree under load
 */

static void tree_churn(uint32_t n, int order, uint64_t seed)
{
	struct kv *kv = new_kv(NULL);
	uint32_t *perm = malloc(n * sizeof(*perm));
	char k[16];

	assert_non_null(perm);
	for (uint32_t i = 0; i < n; i++)
		perm[i] = order == 1 ? n - 1 - i : i;
	if (order == 2)
		for (uint32_t i = n - 1; i > 0; i--) {
			uint32_t j = rnd(&seed, i + 1), t = perm[i];

			perm[i] = perm[j];
			perm[j] = t;
		}
	for (uint32_t i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "%08u", perm[i]);
		put_ok(kv, k, k);
		if (i % 997 == 0)
			assert_int_equal(kv_test_check(kv), 0);
	}
	assert_int_equal(kv_test_check(kv), 0);
	assert_int_equal(kv_count(kv), n);
	/* Delete in another order, checking the tree as it shrinks through every shape. */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t j = i + rnd(&seed, n - i), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
		snprintf(k, sizeof(k), "%08u", perm[i]);
		assert_int_equal(status_of(del(kv, k)), KV_OK);
		if (i % 499 == 0 || n - i < 40)
			assert_int_equal(kv_test_check(kv), 0);
	}
	assert_int_equal(kv_count(kv), 0);
	assert_int_equal(kv_test_check(kv), 0);
	free(perm);
	kv_free(kv);
}

static void test_kv_tree_stays_ordered_and_balanced_under_inserts_and_deletes(void **state)
{
	(void)state;
	tree_churn(20000, 0, 1);
	tree_churn(20000, 1, 2);
	tree_churn(20000, 2, 3);
	tree_churn(31, 2, 4);
	tree_churn(1, 0, 5);
}

/* ---------------------------------------------------------------------------------------------
 * Leases
 */

/* Runs an op at batch time time_ms. */
static struct out run_at(struct kv *kv, struct wire_buf *op, uint64_t time_ms)
{
	struct out o;

	memset(&o, 0, sizeof(o));
	kv_execute(kv, op->p, op->len, time_ms, &o.b);
	wire_buf_free(op);
	assert_int_equal(kv_result_decode(o.b.p, o.b.len, &o.r), BFT_OK);
	assert_int_equal(kv_test_check(kv), 0);
	return o;
}

static uint64_t grant_at(struct kv *kv, uint64_t ttl, uint64_t time_ms)
{
	struct wire_buf op = {0};
	struct out o;
	uint64_t id;

	assert_int_equal(kv_op_encode_lease_grant(&op, ttl), BFT_OK);
	o = run_at(kv, &op, time_ms);
	assert_int_equal(o.r.code, KV_OP_LEASE_GRANT);
	assert_int_equal(o.r.status, KV_OK);
	assert_int_equal(o.r.ttl_ms, ttl);
	id = o.r.lease;
	out_free(&o);
	return id;
}

static int put_lease_at(struct kv *kv, const char *k, const char *v, uint64_t lease, uint64_t t)
{
	struct wire_buf op = {0};

	assert_int_equal(kv_op_encode_put_lease(&op, (const uint8_t *)k, strlen(k),
						(const uint8_t *)v, strlen(v), lease),
			 BFT_OK);
	return status_of(run_at(kv, &op, t));
}

static int lease_op_at(struct kv *kv, enum kv_op_code code, uint64_t lease, uint64_t t)
{
	struct wire_buf op = {0};

	if (code == KV_OP_LEASE_REVOKE)
		assert_int_equal(kv_op_encode_lease_revoke(&op, lease), BFT_OK);
	else
		assert_int_equal(kv_op_encode_lease_keepalive(&op, lease), BFT_OK);
	return status_of(run_at(kv, &op, t));
}

/* A GET at batch time t: the op that lets the store see the time. */
static int get_at(struct kv *kv, const char *k, uint64_t t)
{
	struct wire_buf op = {0};

	assert_int_equal(kv_op_encode_get(&op, (const uint8_t *)k, strlen(k)), BFT_OK);
	return status_of(run_at(kv, &op, t));
}

static void test_kv_leased_keys_expire_at_the_batch_time_past_their_ttl(void **state)
{
	struct kv *kv = new_kv(NULL);
	uint64_t id;

	(void)state;
	id = grant_at(kv, 1000, 5000);
	assert_int_equal(id, 1);
	assert_int_equal(kv_revision(kv), 0); /* a grant is not a key change */
	assert_int_equal(put_lease_at(kv, "a", "1", id, 5000), KV_OK);
	assert_int_equal(put_lease_at(kv, "b", "1", id, 5000), KV_OK);
	assert_int_equal(put_lease_at(kv, "c", "1", 0, 5000), KV_OK);
	assert_int_equal(kv_revision(kv), 3);
	assert_int_equal(get_at(kv, "a", 5999), KV_OK);
	/* At the deadline both keys go, in one revision, before the op runs. */
	assert_int_equal(get_at(kv, "a", 6000), KV_NOT_FOUND);
	assert_int_equal(kv_revision(kv), 4);
	assert_int_equal(get_at(kv, "b", 6000), KV_NOT_FOUND);
	assert_int_equal(get_at(kv, "c", 6000), KV_OK);
	assert_int_equal(kv_leases(kv), 0);
	assert_int_equal(lease_op_at(kv, KV_OP_LEASE_KEEPALIVE, id, 6000), KV_NOT_FOUND);
	assert_int_equal(put_lease_at(kv, "a", "1", id, 6000), KV_NO_LEASE);
	/* Ids are never reused. */
	assert_int_equal(grant_at(kv, 10, 6000), 2);
	kv_free(kv);
}

static void test_kv_keepalive_restarts_the_ttl_and_time_never_goes_back(void **state)
{
	struct kv *kv = new_kv(NULL);
	uint64_t id;
	struct wire_buf op = {0};
	struct out o;

	(void)state;
	id = grant_at(kv, 1000, 1000);
	assert_int_equal(put_lease_at(kv, "a", "1", id, 1000), KV_OK);
	assert_int_equal(kv_op_encode_lease_keepalive(&op, id), BFT_OK);
	o = run_at(kv, &op, 1500);
	assert_int_equal(o.r.code, KV_OP_LEASE_KEEPALIVE);
	assert_int_equal(o.r.status, KV_OK);
	assert_int_equal(o.r.ttl_ms, 1000);
	out_free(&o);
	assert_int_equal(get_at(kv, "a", 2400), KV_OK);
	/* A batch time from the past counts as the latest seen. */
	assert_int_equal(get_at(kv, "a", 100), KV_OK);
	assert_int_equal(lease_op_at(kv, KV_OP_LEASE_KEEPALIVE, id, 200), KV_OK); /* from 2400 */
	assert_int_equal(get_at(kv, "a", 3399), KV_OK);
	assert_int_equal(get_at(kv, "a", 3400), KV_NOT_FOUND);
	/* The read-only path never expires anything, and refuses lease ops. */
	id = grant_at(kv, 10, 3400);
	assert_int_equal(put_lease_at(kv, "q", "1", id, 3400), KV_OK);
	assert_int_equal(status_of(get(kv, "q", true)), KV_OK);
	assert_int_equal(kv_op_encode_lease_keepalive(&op, id), BFT_OK);
	assert_int_equal(status_of(run_op(kv, &op, true)), KV_NOT_READ_ONLY);
	assert_int_equal(kv_op_encode_lease_grant(&op, 5), BFT_OK);
	assert_int_equal(status_of(run_op(kv, &op, true)), KV_NOT_READ_ONLY);
	assert_int_equal(kv_leases(kv), 1);
	kv_free(kv);
}

static void test_kv_revoke_deletes_exactly_the_attached_keys(void **state)
{
	struct kv *kv = new_kv(NULL);
	uint64_t l1, l2, l3;

	(void)state;
	l1 = grant_at(kv, 100000, 0);
	l2 = grant_at(kv, 100000, 0);
	l3 = grant_at(kv, 100000, 0);
	assert_int_equal(put_lease_at(kv, "a", "1", l1, 0), KV_OK);
	assert_int_equal(put_lease_at(kv, "b", "1", l2, 0), KV_OK);
	assert_int_equal(put_lease_at(kv, "c", "1", l1, 0), KV_OK);
	/* Moved to another lease, detached by a plain PUT, detached by a CAS. */
	assert_int_equal(put_lease_at(kv, "d", "1", l1, 0), KV_OK);
	assert_int_equal(put_lease_at(kv, "d", "2", l2, 0), KV_OK);
	assert_int_equal(put_lease_at(kv, "e", "1", l1, 0), KV_OK);
	put_ok(kv, "e", "2");
	assert_int_equal(put_lease_at(kv, "f", "1", l1, 0), KV_OK);
	assert_int_equal(status_of(cas(kv, "f", 1, "2")), KV_OK);
	assert_int_equal(put_lease_at(kv, "g", "1", l1, 0), KV_OK);
	assert_int_equal(status_of(del(kv, "g")), KV_OK);
	assert_int_equal(kv_test_check(kv), 0);
	assert_int_equal(kv_revision(kv), 11);
	assert_int_equal(lease_op_at(kv, KV_OP_LEASE_REVOKE, l1, 0), KV_OK);
	assert_int_equal(kv_revision(kv), 12);
	assert_int_equal(get_at(kv, "a", 0), KV_NOT_FOUND);
	assert_int_equal(get_at(kv, "c", 0), KV_NOT_FOUND);
	assert_int_equal(get_at(kv, "b", 0), KV_OK);
	assert_int_equal(get_at(kv, "d", 0), KV_OK);
	assert_int_equal(get_at(kv, "e", 0), KV_OK);
	assert_int_equal(get_at(kv, "f", 0), KV_OK);
	assert_int_equal(lease_op_at(kv, KV_OP_LEASE_REVOKE, l1, 0), KV_NOT_FOUND);
	/* A lease without keys goes without a revision. */
	assert_int_equal(lease_op_at(kv, KV_OP_LEASE_REVOKE, l3, 0), KV_OK);
	assert_int_equal(kv_revision(kv), 12);
	assert_int_equal(lease_op_at(kv, KV_OP_LEASE_REVOKE, l2, 0), KV_OK);
	assert_int_equal(kv_count(kv), 2);
	assert_int_equal(kv_leases(kv), 0);
	kv_free(kv);
}

static void test_kv_leases_expire_earliest_first_each_in_its_own_revision(void **state)
{
	struct kv *kv = new_kv(NULL);
	uint64_t l1, l2, l3;
	struct out o;

	(void)state;
	l1 = grant_at(kv, 300, 0);
	l2 = grant_at(kv, 100, 0);
	l3 = grant_at(kv, 200, 0);
	assert_int_equal(put_lease_at(kv, "one", "1", l1, 0), KV_OK);
	assert_int_equal(put_lease_at(kv, "two", "1", l2, 0), KV_OK);
	assert_int_equal(put_lease_at(kv, "three", "1", l3, 0), KV_OK);
	/* All three are due at 1000: two (rev 4), three (rev 5), one (rev 6). */
	o = get(kv, "x", false);
	out_free(&o);
	{
		struct wire_buf op = {0};

		assert_int_equal(kv_op_encode_list(&op, NULL, 0, NULL, 0, 0, 0), BFT_OK);
		o = run_at(kv, &op, 1000);
	}
	assert_int_equal(o.r.revision, 6);
	assert_int_equal(o.r.nentries, 0);
	out_free(&o);
	kv_free(kv);
}

static void test_kv_lease_limits_and_malformed_lease_ops(void **state)
{
	struct kv_limits l;
	struct kv *kv;
	struct wire_buf op = {0};
	struct kv_req in_txn = {.code = KV_OP_LEASE_GRANT, .ttl_ms = 5};

	(void)state;
	kv_limits_default(&l);
	l.leases_max = 2;
	l.ttl_max_ms = 1000;
	kv = new_kv(&l);
	/* (The RAW checks below run at batch time 1000: the state must not move with time.) */
	grant_at(kv, 1000, 1000);
	grant_at(kv, 1, 1000);
	assert_int_equal(kv_op_encode_lease_grant(&op, 10), BFT_OK);
	assert_int_equal(status_of(run_at(kv, &op, 1000)), KV_FULL);
	/* At time 1001 the second one expires, making room. */
	assert_int_equal(kv_op_encode_lease_grant(&op, 10), BFT_OK);
	assert_int_equal(status_of(run_at(kv, &op, 1001)), KV_OK);
	assert_int_equal(kv_leases(kv), 2);
	/* TTL 0 is malformed, over ttl_max_ms too big; lease 0 in a lease op or a leased PUT is
	 * malformed; lease ops never go in a TXN. */
	RAW(kv, KV_MALFORMED, KV_OP_LEASE_GRANT, 0x92, 0x07, 0x00);
	RAW(kv, KV_TOO_BIG, KV_OP_LEASE_GRANT, 0x92, 0x07, 0xcd, 0x03, 0xe9);
	RAW(kv, KV_MALFORMED, KV_OP_LEASE_REVOKE, 0x92, 0x08, 0x00);
	RAW(kv, KV_MALFORMED, KV_OP_LEASE_KEEPALIVE, 0x92, 0x09, 0x00);
	RAW(kv, KV_MALFORMED, KV_OP_LEASE_KEEPALIVE, 0x93, 0x09, 0x01, 0x01);
	RAW(kv, KV_MALFORMED, KV_OP_PUT, 0x94, 0x02, 0xc4, 0x01, 'a', 0xc4, 0x00, 0x00);
	RAW(kv, KV_MALFORMED, KV_OP_PUT, 0x95, 0x02, 0xc4, 0x01, 'a', 0xc4, 0x00, 0x01, 0x01);
	RAW(kv, KV_MALFORMED, KV_OP_TXN, 0x94, 0x06, 0x90, 0x91, 0x92, 0x07, 0x05, 0x90);
	assert_int_equal(kv_op_encode_txn(&op, NULL, 0, &in_txn, 1, NULL, 0), BFT_EINVAL);
	/* Control: a leased PUT of a missing lease, and one of an existing lease. */
	RAW(kv, KV_NO_LEASE, KV_OP_PUT, 0x94, 0x02, 0xc4, 0x01, 'a', 0xc4, 0x00, 0x09);
	assert_int_equal(put_lease_at(kv, "a", "", 1, 1), KV_OK);
	wire_buf_free(&op);
	kv_free(kv);
}

static void test_kv_txn_with_leased_puts_is_atomic_for_the_lease_index_too(void **state)
{
	struct kv_limits l;
	struct kv *kv;
	struct wire_buf before;
	struct out o;
	uint64_t id;
	struct kv_req t[] = {
		{.code = KV_OP_PUT, .key = B("a"), .value = B("x"), .lease = 1},
		{.code = KV_OP_DEL, .key = B("b")},
		{.code = KV_OP_PUT, .key = B("b"), .value = B("x"), .lease = 1},
		{.code = KV_OP_PUT, .key = B("c"), .value = B("x")},
		{.code = KV_OP_PUT, .key = B("n"), .value = B("x"), .lease = 1},
	};

	(void)state;
	kv_limits_default(&l);
	l.keys_max = 3;
	kv = new_kv(&l);
	/* At batch time 1000, the time txn() runs its ops at. */
	id = grant_at(kv, 100000, 1000);
	assert_int_equal(put_lease_at(kv, "b", "1", id, 1000), KV_OK);
	assert_int_equal(put_lease_at(kv, "c", "1", id, 1000), KV_OK);
	before = snap(kv);
	/* Four keys: full at the last PUT; everything, leases included, is undone. */
	o = txn(kv, NULL, 0, t, 5, NULL, 0, false);
	assert_int_equal(o.r.status, KV_FULL);
	out_free(&o);
	assert_state(kv, &before);
	/* Without the last PUT it goes through: a and b on the lease, c detached. */
	o = txn(kv, NULL, 0, t, 4, NULL, 0, false);
	assert_int_equal(o.r.status, KV_OK);
	out_free(&o);
	assert_int_equal(kv_test_check(kv), 0);
	assert_int_equal(lease_op_at(kv, KV_OP_LEASE_REVOKE, id, 0), KV_OK);
	assert_int_equal(get_at(kv, "a", 0), KV_NOT_FOUND);
	assert_int_equal(get_at(kv, "b", 0), KV_NOT_FOUND);
	assert_int_equal(get_at(kv, "c", 0), KV_OK);
	wire_buf_free(&before);
	kv_free(kv);
}

static void test_kv_snapshot_carries_leases_and_the_restored_store_expires_alike(void **state)
{
	struct kv *a = new_kv(NULL), *b = new_kv(NULL);
	struct wire_buf s, sa, sb;
	uint64_t l1, l2;

	(void)state;
	l1 = grant_at(a, 100, 1000);
	l2 = grant_at(a, 500, 1000);
	assert_int_equal(put_lease_at(a, "x", "1", l1, 1000), KV_OK);
	assert_int_equal(put_lease_at(a, "y", "1", l2, 1000), KV_OK);
	put_ok(a, "z", "1");
	s = snap(a);
	assert_int_equal(kv_restore(b, s.p, s.len), BFT_OK);
	assert_state(b, &s);
	assert_int_equal(kv_leases(b), 2);
	assert_int_equal(get_at(a, "x", 1100), KV_NOT_FOUND);
	assert_int_equal(get_at(b, "x", 1100), KV_NOT_FOUND);
	assert_int_equal(get_at(a, "y", 1100), KV_OK);
	assert_int_equal(get_at(b, "y", 1100), KV_OK);
	assert_int_equal(grant_at(a, 7, 1100), 3);
	assert_int_equal(grant_at(b, 7, 1100), 3);
	sa = snap(a);
	sb = snap(b);
	assert_int_equal(sa.len, sb.len);
	assert_memory_equal(sa.p, sb.p, sa.len);
	wire_buf_free(&s);
	wire_buf_free(&sa);
	wire_buf_free(&sb);
	kv_free(a);
	kv_free(b);
}

/* ---------------------------------------------------------------------------------------------
 * Snapshots and determinism
 */

/* A random op from a small key space, so that ops collide. */
static void random_op(uint64_t *s, struct wire_buf *op)
{
	static const char *const keys[] = {"a", "ab", "abc", "b", "ba", "c", "k/1", "k/2", "k/10",
					   "z", "\xff", "\xff\xff", "m"};
	const uint32_t nk = sizeof(keys) / sizeof(keys[0]);
	const char *k = keys[rnd(s, nk)];
	char v[24];
	uint32_t vl = rnd(s, sizeof(v));

	memset(v, 'a' + (int)rnd(s, 26), vl);
	op->len = 0;
	switch (rnd(s, 9)) {
	case 7:
		switch (rnd(s, 3)) {
		case 0:
			assert_int_equal(kv_op_encode_lease_grant(op, 1 + rnd(s, 50)), BFT_OK);
			break;
		case 1:
			assert_int_equal(kv_op_encode_lease_keepalive(op, 1 + rnd(s, 8)), BFT_OK);
			break;
		default:
			assert_int_equal(kv_op_encode_lease_revoke(op, 1 + rnd(s, 8)), BFT_OK);
			break;
		}
		break;
	case 8:
		assert_int_equal(kv_op_encode_put_lease(op, (const uint8_t *)k, strlen(k),
							(const uint8_t *)v, vl, 1 + rnd(s, 8)),
				 BFT_OK);
		break;
	case 0:
	case 1:
		assert_int_equal(kv_op_encode_put(op, (const uint8_t *)k, strlen(k),
						  (const uint8_t *)v, vl),
				 BFT_OK);
		break;
	case 2:
		assert_int_equal(kv_op_encode_get(op, (const uint8_t *)k, strlen(k)), BFT_OK);
		break;
	case 3:
		assert_int_equal(kv_op_encode_del(op, (const uint8_t *)k, strlen(k)), BFT_OK);
		break;
	case 4:
		assert_int_equal(kv_op_encode_cas(op, (const uint8_t *)k, strlen(k), rnd(s, 3),
						  (const uint8_t *)v, vl),
				 BFT_OK);
		break;
	case 5:
		assert_int_equal(kv_op_encode_list(op, (const uint8_t *)k, rnd(s, 2), NULL, 0,
						   rnd(s, 5), rnd(s, 2)),
				 BFT_OK);
		break;
	default: {
		struct kv_cmp c = {.target = KV_CMP_VERSION, .rel = (enum kv_cmp_rel)rnd(s, 6),
				   .key = B(k), .num = rnd(s, 3)};
		struct kv_req t[2] = {
			{.code = KV_OP_PUT, .key = B(keys[rnd(s, nk)]), .value = B("t")},
			{.code = KV_OP_DEL, .key = B(keys[rnd(s, nk)])},
		};
		struct kv_req e = {.code = KV_OP_GET, .key = B(k)};

		assert_int_equal(kv_op_encode_txn(op, &c, 1, t, 2, &e, 1), BFT_OK);
		break;
	}
	}
}

static void test_kv_two_stores_fed_the_same_ops_agree_byte_for_byte(void **state)
{
	uint64_t seed = seed_from_env(0x5eed0001), s = seed;
	struct kv *a = new_kv(NULL), *b = new_kv(NULL);
	struct wire_buf op = {0}, ra = {0}, rb = {0}, sa, sb;

	(void)state;
	for (int i = 0; i < 5000; i++) {
		random_op(&s, &op);
		ra.len = rb.len = 0;
		kv_execute(a, op.p, op.len, (uint64_t)i, &ra);
		kv_execute(b, op.p, op.len, (uint64_t)i, &rb);
		if (ra.len != rb.len || memcmp(ra.p, rb.p, ra.len) != 0) {
			fprintf(stderr, "results differ at op %d, SEED=%llu\n", i,
				(unsigned long long)seed);
			fail();
		}
	}
	sa = snap(a);
	sb = snap(b);
	assert_int_equal(sa.len, sb.len);
	assert_memory_equal(sa.p, sb.p, sa.len);
	wire_buf_free(&op);
	wire_buf_free(&ra);
	wire_buf_free(&rb);
	wire_buf_free(&sa);
	wire_buf_free(&sb);
	kv_free(a);
	kv_free(b);
}

static void test_kv_equal_states_reached_differently_have_equal_snapshots(void **state)
{
	struct kv *a = new_kv(NULL), *b = new_kv(NULL);
	struct wire_buf sa, sb;

	(void)state;
	/* Same keys, values and numbers, different histories and tree shapes. */
	put_ok(a, "x", "1");
	put_ok(a, "y", "2");
	put_ok(a, "z", "3");
	put_ok(b, "x", "1");
	put_ok(b, "y", "2");
	put_ok(b, "z", "3");
	put_ok(b, "w", "0");
	assert_int_equal(status_of(del(b, "w")), KV_OK);
	put_ok(a, "w", "0");
	assert_int_equal(status_of(del(a, "w")), KV_OK);
	sa = snap(a);
	sb = snap(b);
	assert_int_equal(sa.len, sb.len);
	assert_memory_equal(sa.p, sb.p, sa.len);
	wire_buf_free(&sa);
	wire_buf_free(&sb);
	kv_free(a);
	kv_free(b);
}

static void test_kv_snapshot_restore_snapshot_is_the_identity(void **state)
{
	uint64_t s = seed_from_env(0x5eed0002);
	struct kv *a = new_kv(NULL), *b = new_kv(NULL);
	struct wire_buf op = {0}, r = {0}, sa, sb, empty;

	(void)state;
	empty = snap(a);
	/* An empty store round-trips too. */
	assert_int_equal(kv_restore(b, empty.p, empty.len), BFT_OK);
	assert_state(b, &empty);
	for (int i = 0; i < 3000; i++) {
		random_op(&s, &op);
		r.len = 0;
		kv_execute(a, op.p, op.len, (uint64_t)i, &r);
	}
	sa = snap(a);
	assert_int_equal(kv_restore(b, sa.p, sa.len), BFT_OK);
	sb = snap(b);
	assert_int_equal(sa.len, sb.len);
	assert_memory_equal(sa.p, sb.p, sa.len);
	assert_int_equal(kv_revision(b), kv_revision(a));
	assert_int_equal(kv_count(b), kv_count(a));
	assert_int_equal(kv_test_check(b), 0);
	/* The restored store then behaves as the original. */
	for (int i = 0; i < 500; i++) {
		struct wire_buf r2 = {0};

		random_op(&s, &op);
		r.len = 0;
		/* Both expire the same leases at the same ops. */
		kv_execute(a, op.p, op.len, 3000 + (uint64_t)i, &r);
		kv_execute(b, op.p, op.len, 3000 + (uint64_t)i, &r2);
		assert_int_equal(r.len, r2.len);
		assert_memory_equal(r.p, r2.p, r.len);
		wire_buf_free(&r2);
	}
	wire_buf_free(&sb);
	sb = snap(b);
	wire_buf_free(&sa);
	sa = snap(a);
	assert_memory_equal(sa.p, sb.p, sa.len);
	wire_buf_free(&op);
	wire_buf_free(&r);
	wire_buf_free(&sa);
	wire_buf_free(&sb);
	wire_buf_free(&empty);
	kv_free(a);
	kv_free(b);
}

static void test_kv_snapshot_layout_is_as_documented(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct wire_buf s;
	static const uint8_t want[] = {
		'b', 'f', 't', 'k', 'v', 0, 0, 2,
		3, 0, 0, 0, 0, 0, 0, 0,               /* revision 3 */
		0xe8, 3, 0, 0, 0, 0, 0, 0,            /* now_ms 1000 */
		2, 0, 0, 0, 0, 0, 0, 0,               /* next lease id 2 */
		1, 0, 0, 0, 0, 0, 0, 0,               /* 1 lease */
		1, 0, 0, 0, 0, 0, 0, 0,               /* id 1 */
		0x10, 0x27, 0, 0, 0, 0, 0, 0,         /* ttl 10000 */
		0xf8, 0x2a, 0, 0, 0, 0, 0, 0,         /* deadline 11000 */
		2, 0, 0, 0, 0, 0, 0, 0,               /* 2 keys */
		1, 0, 0, 0, 'a', 2, 0, 0, 0, 'v', '2',
		2, 0, 0, 0, 0, 0, 0, 0,               /* version 2 */
		1, 0, 0, 0, 0, 0, 0, 0,               /* create_rev 1 */
		3, 0, 0, 0, 0, 0, 0, 0,               /* mod_rev 3 */
		0, 0, 0, 0, 0, 0, 0, 0,               /* no lease */
		1, 0, 0, 0, 'b', 0, 0, 0, 0,
		1, 0, 0, 0, 0, 0, 0, 0,
		2, 0, 0, 0, 0, 0, 0, 0,
		2, 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0, 0, 0, 0, 0, 0,               /* lease 1 */
	};
	struct wire_buf op = {0};

	(void)state;
	assert_int_equal(kv_op_encode_lease_grant(&op, 10000), BFT_OK);
	assert_int_equal(status_of(run_op(kv, &op, false)), KV_OK);
	put_ok(kv, "a", "v1");
	assert_int_equal(kv_op_encode_put_lease(&op, (const uint8_t *)"b", 1, NULL, 0, 1), BFT_OK);
	assert_int_equal(status_of(run_op(kv, &op, false)), KV_OK);
	put_ok(kv, "a", "v2");
	s = snap(kv);
	assert_int_equal(s.len, sizeof(want));
	assert_memory_equal(s.p, want, sizeof(want));
	wire_buf_free(&s);
	kv_free(kv);
}

static void test_kv_restore_refuses_corrupt_snapshots_and_keeps_the_old_state(void **state)
{
	struct kv *src = new_kv(NULL), *kv = new_kv(NULL);
	struct wire_buf s, before, after;
	uint32_t refused = 0, accepted = 0;

	(void)state;
	put_ok(src, "a", "v1");
	put_ok(src, "b", "");
	put_ok(src, "a", "v2");
	put_ok(src, "c", "vc");
	s = snap(src);
	put_ok(kv, "mine", "1");
	before = snap(kv);
	/* Every truncation fails. */
	for (size_t cut = 0; cut < s.len; cut++) {
		assert_int_equal(kv_restore(kv, s.p, cut), BFT_EMALFORMED);
		assert_state(kv, &before);
	}
	/* Trailing bytes fail. */
	assert_int_equal(kv_buf_reserve(&s, 1), 0);
	s.p[s.len] = 0;
	assert_int_equal(kv_restore(kv, s.p, s.len + 1), BFT_EMALFORMED);
	assert_state(kv, &before);
	/* Each byte changed: refused with the state intact, or (a byte of a key or value that
	 * keeps everything valid) accepted as exactly what the bytes say. */
	for (size_t off = 0; off < s.len; off++) {
		for (int bit = 0; bit < 8; bit++) {
			enum bft_err e;

			s.p[off] ^= (uint8_t)(1u << bit);
			e = kv_restore(kv, s.p, s.len);
			if (e == BFT_OK) {
				accepted++;
				after = snap(kv);
				assert_int_equal(after.len, s.len);
				assert_memory_equal(after.p, s.p, s.len);
				wire_buf_free(&after);
				assert_int_equal(kv_restore(kv, before.p, before.len), BFT_OK);
			} else {
				refused++;
				assert_int_equal(e, BFT_EMALFORMED);
			}
			assert_state(kv, &before);
			s.p[off] ^= (uint8_t)(1u << bit);
		}
	}
	/* The magic, counts, lengths and numbers make most flips fatal. */
	assert_true(refused > accepted);
	assert_int_equal(kv_restore(kv, s.p, s.len), BFT_OK);
	assert_state(kv, &s);
	assert_int_equal(kv_restore(kv, NULL, 0), BFT_EMALFORMED);
	assert_int_equal(kv_restore(kv, NULL, 1), BFT_EINVAL);
	wire_buf_free(&s);
	wire_buf_free(&before);
	kv_free(src);
	kv_free(kv);
}

/* Builds a snapshot by hand: count entries of (key, value, version, create, mod, lease), with
 * the leases 1 and 2 (TTL 100000, deadline 100050) at time 100. */
struct snap_entry {
	const char *k, *v;
	uint64_t version, create, mod, lease;
};

static void put_le(struct wire_buf *b, uint64_t v, unsigned n)
{
	assert_int_equal(kv_buf_reserve(b, n), 0);
	for (unsigned i = 0; i < n; i++)
		b->p[b->len++] = (uint8_t)(v >> (8 * i));
}

static void put_raw(struct wire_buf *b, const void *p, size_t n)
{
	assert_int_equal(kv_buf_reserve(b, n), 0);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static enum bft_err restore_hand(struct kv *kv, uint64_t rev, uint64_t count,
				 const struct snap_entry *e, size_t n)
{
	struct wire_buf b = {0};
	enum bft_err err;

	put_raw(&b, "bftkv\0\0\2", 8);
	put_le(&b, rev, 8);
	put_le(&b, 100, 8);
	put_le(&b, 3, 8);
	put_le(&b, 2, 8);
	for (uint64_t id = 1; id <= 2; id++) {
		put_le(&b, id, 8);
		put_le(&b, 100000, 8);
		put_le(&b, 100050, 8);
	}
	put_le(&b, count, 8);
	for (size_t i = 0; i < n; i++) {
		put_le(&b, strlen(e[i].k), 4);
		put_raw(&b, e[i].k, strlen(e[i].k));
		put_le(&b, strlen(e[i].v), 4);
		put_raw(&b, e[i].v, strlen(e[i].v));
		put_le(&b, e[i].version, 8);
		put_le(&b, e[i].create, 8);
		put_le(&b, e[i].mod, 8);
		put_le(&b, e[i].lease, 8);
	}
	err = kv_restore(kv, b.p, b.len);
	wire_buf_free(&b);
	return err;
}

static void test_kv_restore_refuses_what_no_history_could_produce(void **state)
{
	struct kv_limits l;
	struct kv *kv;
	struct wire_buf before;
	const struct snap_entry ok[] = {{"a", "1", 1, 1, 1, 2}, {"b", "2", 3, 2, 5, 0}};
	const struct snap_entry no_lease[] = {{"a", "1", 1, 1, 1, 3}};
	const struct snap_entry unsorted[] = {{"b", "1", 1, 1, 1, 0}, {"a", "2", 1, 2, 2, 0}};
	const struct snap_entry dup[] = {{"a", "1", 1, 1, 1, 0}, {"a", "2", 1, 2, 2, 0}};
	const struct snap_entry v0[] = {{"a", "1", 0, 1, 1, 0}};
	const struct snap_entry c0[] = {{"a", "1", 1, 0, 1, 0}};
	const struct snap_entry cgtm[] = {{"a", "1", 1, 3, 2, 0}};
	const struct snap_entry mgtr[] = {{"a", "1", 1, 1, 9, 0}};
	const struct snap_entry empty_key[] = {{"", "1", 1, 1, 1, 0}};
	const struct snap_entry long_key[] = {{"abcdefghi", "1", 1, 1, 1, 0}};
	const struct snap_entry long_value[] = {{"a", "12345678901234567", 1, 1, 1, 0}};
	const struct snap_entry three[] = {{"a", "1", 1, 1, 1, 0}, {"b", "1", 1, 1, 1, 0},
					   {"c", "1", 1, 1, 1, 0}};
	const struct snap_entry heavy[] = {{"abcd", "1234567890123456", 1, 1, 1, 0},
					   {"b", "1234567890123456", 1, 1, 1, 0}};

	(void)state;
	kv_limits_default(&l);
	l.key_max = 8;
	l.value_max = 16;
	l.keys_max = 2;
	l.bytes_max = 30;
	l.result_max = 200;
	kv = new_kv(&l);
	put_ok(kv, "x", "y");
	before = snap(kv);
	assert_int_equal(restore_hand(kv, 5, 3, ok, 2), BFT_EMALFORMED); /* count too high */
	assert_int_equal(restore_hand(kv, 5, 1, ok, 2), BFT_EMALFORMED); /* trailing entry */
	assert_int_equal(restore_hand(kv, 5, 2, unsorted, 2), BFT_EMALFORMED);
	assert_int_equal(restore_hand(kv, 5, 2, dup, 2), BFT_EMALFORMED);
	assert_int_equal(restore_hand(kv, 5, 1, v0, 1), BFT_EMALFORMED);
	assert_int_equal(restore_hand(kv, 5, 1, c0, 1), BFT_EMALFORMED);
	assert_int_equal(restore_hand(kv, 5, 1, cgtm, 1), BFT_EMALFORMED);
	assert_int_equal(restore_hand(kv, 5, 1, mgtr, 1), BFT_EMALFORMED);
	assert_int_equal(restore_hand(kv, 5, 1, empty_key, 1), BFT_EMALFORMED);
	assert_int_equal(restore_hand(kv, 5, 1, long_key, 1), BFT_EMALFORMED);
	assert_int_equal(restore_hand(kv, 5, 1, long_value, 1), BFT_EMALFORMED);
	assert_int_equal(restore_hand(kv, 5, 3, three, 3), BFT_EMALFORMED); /* over keys_max */
	assert_int_equal(restore_hand(kv, 5, 2, heavy, 2), BFT_EMALFORMED); /* over bytes_max */
	assert_int_equal(restore_hand(kv, 5, UINT64_MAX, ok, 2), BFT_EMALFORMED);
	assert_int_equal(restore_hand(kv, 5, 1, no_lease, 1), BFT_EMALFORMED);
	assert_state(kv, &before);
	assert_int_equal(restore_hand(kv, 5, 2, ok, 2), BFT_OK);
	assert_int_equal(kv_revision(kv), 5);
	assert_int_equal(kv_count(kv), 2);
	assert_int_equal(status_of(get(kv, "x", false)), KV_NOT_FOUND);
	{
		struct out o = get(kv, "b", false);

		assert_int_equal(o.r.version, 3);
		assert_int_equal(o.r.create_rev, 2);
		assert_int_equal(o.r.mod_rev, 5);
		assert_value(o, "2");
	}
	/* The next write continues from the restored revision. */
	{
		struct out o = put(kv, "a", "new");

		assert_int_equal(o.r.revision, 6);
		assert_int_equal(o.r.version, 2);
		out_free(&o);
	}
	wire_buf_free(&before);
	kv_free(kv);
}

/* ---------------------------------------------------------------------------------------------
 * Results
 */

static void test_kv_result_decoder_rejects_truncations_and_trailing_bytes(void **state)
{
	struct kv *kv = new_kv(NULL);
	struct wire_buf ops[8];
	size_t n;

	(void)state;
	put_ok(kv, "a", "va");
	put_ok(kv, "b", "vb");
	build_sample_ops(ops, &n);
	for (size_t i = 0; i < n; i++) {
		struct wire_buf res = {0};
		struct kv_result r;

		kv_execute(kv, ops[i].p, ops[i].len, 0, &res);
		assert_int_equal(kv_result_decode(res.p, res.len, &r), BFT_OK);
		kv_result_free(&r);
		for (size_t cut = 0; cut < res.len; cut++) {
			assert_int_equal(kv_result_decode(res.p, cut, &r), BFT_EMALFORMED);
			assert_null(r.entries);
			assert_null(r.results);
		}
		assert_int_equal(kv_buf_reserve(&res, 1), 0);
		res.p[res.len] = 0xc0;
		assert_int_equal(kv_result_decode(res.p, res.len + 1, &r), BFT_EMALFORMED);
		wire_buf_free(&res);
		wire_buf_free(&ops[i]);
	}
	kv_free(kv);
}

static void test_kv_result_decoder_rejects_bad_shapes(void **state)
{
	struct kv_result r;
	/* [GET, OK, 1] without its body; [CAS, COMPARE_FAILED, 1] without the version; an unknown
	 * status; an unknown code; LIST with more but no next; a TXN inside a TXN. */
	static const uint8_t get_short[] = {0x93, 0x01, 0x00, 0x01};
	static const uint8_t cas_short[] = {0x93, 0x04, 0x02, 0x01};
	static const uint8_t bad_status[] = {0x93, 0x01, 0x09, 0x01};
	static const uint8_t bad_code[] = {0x93, 0x0a, 0x01, 0x01};
	static const uint8_t more_no_next[] = {0x96, 0x05, 0x00, 0x01, 0x90, 0xc3, 0xc4, 0x00};
	static const uint8_t nested[] = {0x95, 0x06, 0x00, 0x01, 0xc3, 0x91,
					 0x95, 0x06, 0x00, 0x01, 0xc3, 0x90};
	static const uint8_t not_found[] = {0x93, 0x01, 0x01, 0x01};
	static const uint8_t huge_count[] = {0x96, 0x05, 0x00, 0x01, 0xdd, 0x7f, 0xff, 0xff, 0xff};

	(void)state;
	assert_int_equal(kv_result_decode(get_short, sizeof(get_short), &r), BFT_EMALFORMED);
	assert_int_equal(kv_result_decode(cas_short, sizeof(cas_short), &r), BFT_EMALFORMED);
	assert_int_equal(kv_result_decode(bad_status, sizeof(bad_status), &r), BFT_EMALFORMED);
	assert_int_equal(kv_result_decode(bad_code, sizeof(bad_code), &r), BFT_EMALFORMED);
	assert_int_equal(kv_result_decode(more_no_next, sizeof(more_no_next), &r), BFT_EMALFORMED);
	assert_int_equal(kv_result_decode(nested, sizeof(nested), &r), BFT_EMALFORMED);
	assert_int_equal(kv_result_decode(huge_count, sizeof(huge_count), &r), BFT_EMALFORMED);
	assert_int_equal(kv_result_decode(NULL, 0, &r), BFT_EMALFORMED);
	assert_int_equal(kv_result_decode(not_found, sizeof(not_found), &r), BFT_OK);
	assert_int_equal(r.status, KV_NOT_FOUND);
	kv_result_free(&r);
	assert_string_equal(kv_status_name(KV_OK), "ok");
	assert_string_equal(kv_status_name(KV_STATUS_COUNT), "unknown status");
}

static void test_kv_app_binding_drives_the_store(void **state)
{
	struct kv *kv = new_kv(NULL), *other = new_kv(NULL);
	struct bft_app app, app2;
	struct wire_buf op = {0}, res = {0}, s = {0};
	struct bft_bytes b;
	struct kv_result r;

	(void)state;
	kv_app(kv, &app);
	kv_app(other, &app2);
	assert_ptr_equal(app.ctx, kv);
	assert_int_equal(kv_op_encode_put(&op, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1),
			 BFT_OK);
	b.p = op.p;
	b.len = (uint32_t)op.len;
	app.execute(app.ctx, 3, &b, 77, &res);
	assert_int_equal(kv_result_decode(res.p, res.len, &r), BFT_OK);
	assert_int_equal(r.status, KV_OK);
	kv_result_free(&r);
	op.len = res.len = 0;
	assert_int_equal(kv_op_encode_get(&op, (const uint8_t *)"k", 1), BFT_OK);
	b.p = op.p;
	b.len = (uint32_t)op.len;
	app.query(app.ctx, 3, &b, &res);
	assert_int_equal(kv_result_decode(res.p, res.len, &r), BFT_OK);
	assert_int_equal(r.status, KV_OK);
	kv_result_free(&r);
	assert_int_equal(app.snapshot(app.ctx, &s), BFT_OK);
	assert_int_equal(app2.restore(app2.ctx, s.p, s.len), BFT_OK);
	assert_state(other, &s);
	wire_buf_free(&op);
	wire_buf_free(&res);
	wire_buf_free(&s);
	kv_free(kv);
	kv_free(other);
}

/* ---------------------------------------------------------------------------------------------
 * The model check: a sorted array of entries as the reference, 10,000 random ops.
 */

struct m_ent {
	char k[4];
	uint32_t klen;
	char v[8];
	uint32_t vlen;
	uint64_t version, create, mod;
};

struct model {
	struct m_ent e[64];
	uint32_t n;
	uint64_t rev;
};

#define M_KEYS_MAX 24u

static int m_cmp(const char *a, uint32_t al, const char *b, uint32_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c != 0 ? c : (al < bl ? -1 : al > bl);
}

/* The index of key, or -1; *at gets where it would go. */
static int m_find(const struct model *m, const struct bft_bytes *k, uint32_t *at)
{
	uint32_t i = 0;

	while (i < m->n && m_cmp(m->e[i].k, m->e[i].klen, (const char *)k->p, k->len) < 0)
		i++;
	*at = i;
	if (i < m->n && m_cmp(m->e[i].k, m->e[i].klen, (const char *)k->p, k->len) == 0)
		return (int)i;
	return -1;
}

/* PUT into the model at revision rev; returns the status. */
static enum kv_status m_put(struct model *m, const struct bft_bytes *k, const struct bft_bytes *v,
			    uint64_t rev, struct m_ent *out)
{
	uint32_t at;
	int i = m_find(m, k, &at);
	struct m_ent *e;

	if (i < 0) {
		if (m->n >= M_KEYS_MAX)
			return KV_FULL;
		memmove(&m->e[at + 1], &m->e[at], (m->n - at) * sizeof(m->e[0]));
		m->n++;
		e = &m->e[at];
		memcpy(e->k, k->p, k->len);
		e->klen = k->len;
		e->version = 0;
		e->create = rev;
	} else {
		e = &m->e[i];
	}
	memcpy(e->v, v->p, v->len);
	e->vlen = v->len;
	e->version++;
	e->mod = rev;
	*out = *e;
	return KV_OK;
}

static bool m_del(struct model *m, const struct bft_bytes *k)
{
	uint32_t at;
	int i = m_find(m, k, &at);

	if (i < 0)
		return false;
	memmove(&m->e[i], &m->e[i + 1], (m->n - (uint32_t)i - 1) * sizeof(m->e[0]));
	m->n--;
	return true;
}

static void check_numbers(const struct kv_result *r, const struct m_ent *e)
{
	assert_int_equal(r->version, e->version);
	assert_int_equal(r->create_rev, e->create);
	assert_int_equal(r->mod_rev, e->mod);
}

static void m_check_get(const struct model *m, const struct kv_req *q, const struct kv_result *r,
			uint64_t rev)
{
	uint32_t at;
	int i = m_find(m, &q->key, &at);

	assert_int_equal(r->code, KV_OP_GET);
	assert_int_equal(r->revision, rev);
	if (i < 0) {
		assert_int_equal(r->status, KV_NOT_FOUND);
		return;
	}
	assert_int_equal(r->status, KV_OK);
	assert_int_equal(r->value.len, m->e[i].vlen);
	assert_memory_equal(r->value.p, m->e[i].v, m->e[i].vlen);
	check_numbers(r, &m->e[i]);
}

static void m_check_list(const struct model *m, const struct kv_req *q, const struct kv_result *r,
			 uint64_t rev, uint32_t list_max)
{
	uint32_t limit = q->limit == 0 || q->limit > list_max ? list_max : q->limit, got = 0;
	bool more = false;
	const struct m_ent *next = NULL;

	assert_int_equal(r->code, KV_OP_LIST);
	assert_int_equal(r->status, KV_OK);
	assert_int_equal(r->revision, rev);
	for (uint32_t i = 0; i < m->n; i++) {
		const struct m_ent *e = &m->e[i];

		if (e->klen < q->key.len || memcmp(e->k, q->key.p, q->key.len) != 0)
			continue;
		if (m_cmp(e->k, e->klen, (const char *)q->start.p, q->start.len) < 0)
			continue;
		if (got == limit) {
			more = true;
			next = e;
			break;
		}
		assert_true(got < r->nentries);
		assert_int_equal(r->entries[got].key.len, e->klen);
		assert_memory_equal(r->entries[got].key.p, e->k, e->klen);
		assert_int_equal(r->entries[got].has_value, !(q->flags & KV_LIST_KEYS_ONLY));
		if (r->entries[got].has_value) {
			assert_int_equal(r->entries[got].value.len, e->vlen);
			assert_memory_equal(r->entries[got].value.p, e->v, e->vlen);
		}
		assert_int_equal(r->entries[got].version, e->version);
		assert_int_equal(r->entries[got].create_rev, e->create);
		assert_int_equal(r->entries[got].mod_rev, e->mod);
		got++;
	}
	assert_int_equal(r->nentries, got);
	assert_int_equal(r->more, more);
	if (more) {
		assert_int_equal(r->next.len, next->klen);
		assert_memory_equal(r->next.p, next->k, next->klen);
	}
}

static bool m_cmp_holds(const struct model *m, const struct kv_cmp *c)
{
	uint32_t at;
	int i = m_find(m, &c->key, &at);
	uint64_t a = 0;
	int d;

	switch (c->target) {
	case KV_CMP_VERSION:
		a = i < 0 ? 0 : m->e[i].version;
		break;
	case KV_CMP_CREATE:
		a = i < 0 ? 0 : m->e[i].create;
		break;
	case KV_CMP_MOD:
		a = i < 0 ? 0 : m->e[i].mod;
		break;
	case KV_CMP_EXISTS:
		a = i >= 0;
		break;
	case KV_CMP_VALUE:
		if (i < 0)
			return false;
		break;
	}
	if (c->target == KV_CMP_VALUE)
		d = m_cmp(m->e[i].v, m->e[i].vlen, (const char *)c->value.p, c->value.len);
	else
		d = a < c->num ? -1 : a > c->num;
	switch (c->rel) {
	case KV_EQ:
		return d == 0;
	case KV_NE:
		return d != 0;
	case KV_LT:
		return d < 0;
	case KV_GT:
		return d > 0;
	case KV_LE:
		return d <= 0;
	case KV_GE:
		return d >= 0;
	}
	return false;
}

static const char *const m_keys[] = {"a", "ab", "abc", "b", "ba", "bb", "c", "ca", "d", "da",
				     "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p",
				     "q", "r", "s", "t", "u", "v", "w", "x"};
#define M_NKEYS (sizeof(m_keys) / sizeof(m_keys[0]))

static struct kv_req m_random_req(uint64_t *s, bool in_txn, char *vbuf)
{
	struct kv_req q;
	uint32_t vl = rnd(s, 8);

	memset(&q, 0, sizeof(q));
	memset(vbuf, 'a' + (int)rnd(s, 4), vl);
	q.key = B(m_keys[rnd(s, M_NKEYS)]);
	q.value.p = (const uint8_t *)vbuf;
	q.value.len = vl;
	switch (rnd(s, in_txn ? 4 : 6)) {
	case 0:
		q.code = KV_OP_GET;
		break;
	case 1:
		q.code = KV_OP_PUT;
		break;
	case 2:
		q.code = KV_OP_DEL;
		break;
	case 3:
		q.code = KV_OP_LIST;
		q.key.len = rnd(s, 2) ? q.key.len : rnd(s, 2);
		q.start = B(rnd(s, 3) == 0 ? m_keys[rnd(s, M_NKEYS)] : "");
		q.limit = rnd(s, 6);
		q.flags = rnd(s, 2);
		break;
	case 4:
		q.code = KV_OP_CAS;
		q.version = rnd(s, 3);
		break;
	default:
		q.code = KV_OP_TXN;
		break;
	}
	return q;
}

static void m_check_txn(struct model *m, uint64_t *s, struct kv *kv, uint32_t list_max)
{
	struct kv_cmp c[3];
	struct kv_req br[2][4];
	char vb[2][4][8], cv[3][8];
	uint32_t nc = rnd(s, 4), nb[2] = {rnd(s, 5), rnd(s, 5)};
	struct wire_buf op = {0};
	struct out o;
	struct model saved = *m;
	bool ok = true, wrote = false;
	uint32_t which;
	enum kv_status st = KV_OK;

	for (uint32_t i = 0; i < nc; i++) {
		uint32_t vl = rnd(s, 4);

		memset(&c[i], 0, sizeof(c[i]));
		c[i].target = (enum kv_cmp_target)(1 + rnd(s, 5));
		c[i].rel = (enum kv_cmp_rel)rnd(s, 6);
		c[i].key = B(m_keys[rnd(s, M_NKEYS)]);
		c[i].num = c[i].target == KV_CMP_EXISTS ? rnd(s, 2) : rnd(s, 4);
		memset(cv[i], 'a' + (int)rnd(s, 4), vl);
		c[i].value.p = (const uint8_t *)cv[i];
		c[i].value.len = vl;
	}
	for (int b = 0; b < 2; b++)
		for (uint32_t i = 0; i < nb[b]; i++)
			br[b][i] = m_random_req(s, true, vb[b][i]);
	assert_int_equal(kv_op_encode_txn(&op, c, nc, br[0], nb[0], br[1], nb[1]), BFT_OK);
	o = run_op(kv, &op, false);
	for (uint32_t i = 0; i < nc; i++)
		ok = m_cmp_holds(m, &c[i]) && ok;
	which = ok ? 0 : 1;
	assert_int_equal(o.r.code, KV_OP_TXN);
	/* Replay the branch on the model, checking each result as it goes. */
	for (uint32_t i = 0; i < nb[which] && st == KV_OK; i++) {
		const struct kv_req *q = &br[which][i];
		uint64_t cur = m->rev + (wrote ? 1 : 0);
		struct m_ent e;

		switch (q->code) {
		case KV_OP_PUT:
			st = m_put(m, &q->key, &q->value, m->rev + 1, &e);
			if (st == KV_OK) {
				wrote = true;
				assert_true(i < o.r.nresults);
				assert_int_equal(o.r.results[i].revision, m->rev + 1);
				check_numbers(&o.r.results[i], &e);
			}
			break;
		case KV_OP_DEL:
			if (m_del(m, &q->key)) {
				wrote = true;
				assert_int_equal(o.r.results[i].status, KV_OK);
			} else {
				assert_int_equal(o.r.results[i].status, KV_NOT_FOUND);
			}
			assert_int_equal(o.r.results[i].revision, m->rev + (wrote ? 1 : 0));
			break;
		case KV_OP_GET:
			m_check_get(m, q, &o.r.results[i], cur);
			break;
		case KV_OP_LIST:
			m_check_list(m, q, &o.r.results[i], cur, list_max);
			break;
		default:
			fail();
		}
	}
	if (st != KV_OK) {
		*m = saved;
		assert_int_equal(o.r.status, st);
		assert_int_equal(o.r.revision, m->rev);
	} else {
		if (wrote)
			m->rev++;
		assert_int_equal(o.r.status, KV_OK);
		assert_int_equal(o.r.succeeded, ok);
		assert_int_equal(o.r.nresults, nb[which]);
		assert_int_equal(o.r.revision, m->rev);
	}
	out_free(&o);
}

static void test_kv_matches_a_sorted_array_model_over_10000_random_ops(void **state)
{
	uint64_t seed = seed_from_env(0x5eed0003), s = seed;
	struct kv_limits l;
	struct kv *kv;
	struct model *m = calloc(1, sizeof(*m));
	char vbuf[8];

	(void)state;
	assert_non_null(m);
	kv_limits_default(&l);
	l.keys_max = M_KEYS_MAX;
	l.list_max = 5;
	kv = new_kv(&l);
	fprintf(stderr, "model check SEED=%llu\n", (unsigned long long)seed);
	for (int i = 0; i < 10000; i++) {
		struct kv_req q = m_random_req(&s, false, vbuf);
		struct wire_buf op = {0};
		struct out o;
		struct m_ent e;
		uint32_t at;
		int idx;

		if (q.code == KV_OP_TXN) {
			m_check_txn(m, &s, kv, l.list_max);
		} else {
			assert_int_equal(kv_op_encode_req(&op, &q), BFT_OK);
			o = run_op(kv, &op, rnd(&s, 4) == 0 &&
						    (q.code == KV_OP_GET || q.code == KV_OP_LIST));
			assert_int_equal(o.r.code, q.code);
			switch (q.code) {
			case KV_OP_GET:
				m_check_get(m, &q, &o.r, m->rev);
				break;
			case KV_OP_LIST:
				m_check_list(m, &q, &o.r, m->rev, l.list_max);
				break;
			case KV_OP_PUT:
				if (m_put(m, &q.key, &q.value, m->rev + 1, &e) == KV_OK) {
					m->rev++;
					assert_int_equal(o.r.status, KV_OK);
					check_numbers(&o.r, &e);
				} else {
					assert_int_equal(o.r.status, KV_FULL);
				}
				break;
			case KV_OP_DEL:
				assert_int_equal(o.r.status, m_del(m, &q.key) ? KV_OK : KV_NOT_FOUND);
				if (o.r.status == KV_OK)
					m->rev++;
				break;
			case KV_OP_CAS:
				idx = m_find(m, &q.key, &at);
				if ((idx < 0 ? 0 : m->e[idx].version) != q.version) {
					assert_int_equal(o.r.status, KV_COMPARE_FAILED);
					assert_int_equal(o.r.version, idx < 0 ? 0 : m->e[idx].version);
				} else if (m_put(m, &q.key, &q.value, m->rev + 1, &e) == KV_OK) {
					m->rev++;
					assert_int_equal(o.r.status, KV_OK);
					check_numbers(&o.r, &e);
				} else {
					assert_int_equal(o.r.status, KV_FULL);
				}
				break;
			default:
				fail();
			}
			assert_int_equal(o.r.revision, m->rev);
			out_free(&o);
		}
		assert_int_equal(kv_revision(kv), m->rev);
		assert_int_equal(kv_count(kv), m->n);
		if (i % 500 == 0)
			assert_int_equal(kv_test_check(kv), 0);
	}
	assert_int_equal(kv_test_check(kv), 0);
	kv_free(kv);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv_put_then_get_returns_value_version_and_revisions),
		cmocka_unit_test(test_kv_empty_value_is_a_value),
		cmocka_unit_test(test_kv_get_of_missing_key_is_not_found_and_changes_nothing),
		cmocka_unit_test(test_kv_delete_removes_and_recreate_starts_a_new_life),
		cmocka_unit_test(test_kv_cas_succeeds_only_on_the_expected_version),
		cmocka_unit_test(test_kv_keys_and_values_at_their_limits_pass_and_over_are_too_big),
		cmocka_unit_test(test_kv_large_values_live_outside_the_slabs_and_round_trip),
		cmocka_unit_test(test_kv_empty_key_is_malformed),
		cmocka_unit_test(test_kv_full_store_refuses_new_keys_but_not_overwrites),
		cmocka_unit_test(test_kv_bytes_max_bounds_keys_plus_values),
		cmocka_unit_test(test_kv_new_rejects_limits_that_cannot_work),
		cmocka_unit_test(test_kv_malformed_ops_of_every_kind_get_a_malformed_result),
		cmocka_unit_test(test_kv_malformed_txns_get_a_malformed_result),
		cmocka_unit_test(test_kv_every_truncation_of_a_valid_op_is_malformed),
		cmocka_unit_test(test_kv_bit_flips_of_valid_ops_never_break_the_store),
		cmocka_unit_test(test_kv_encoders_reject_bad_arguments),
		cmocka_unit_test(test_kv_query_runs_reads_and_refuses_writes),
		cmocka_unit_test(test_kv_list_returns_exactly_the_keys_with_the_prefix_in_order),
		cmocka_unit_test(test_kv_list_start_below_inside_and_above_the_prefix),
		cmocka_unit_test(test_kv_list_prefixes_with_ff_and_zero_bytes),
		cmocka_unit_test(test_kv_list_limit_hard_cap_and_continuation_cover_every_key_once),
		cmocka_unit_test(test_kv_list_keys_only_carries_no_values),
		cmocka_unit_test(test_kv_list_pages_by_result_bytes_and_never_exceeds_result_max),
		cmocka_unit_test(test_kv_list_returns_an_entry_too_big_for_a_page_without_its_value),
		cmocka_unit_test(test_kv_txn_runs_then_when_all_comparisons_hold),
		cmocka_unit_test(test_kv_txn_runs_else_when_any_comparison_fails),
		cmocka_unit_test(test_kv_txn_comparisons_every_target_and_relation),
		cmocka_unit_test(test_kv_txn_that_fills_the_store_half_way_changes_nothing),
		cmocka_unit_test(test_kv_txn_writes_of_one_key_in_sequence),
		cmocka_unit_test(test_kv_txn_whose_results_exceed_result_max_is_too_big_and_undone),
		cmocka_unit_test(test_kv_a_write_that_runs_out_of_memory_anywhere_changes_nothing),
		cmocka_unit_test(test_kv_restore_that_runs_out_of_memory_changes_nothing),
		cmocka_unit_test(test_kv_tree_stays_ordered_and_balanced_under_inserts_and_deletes),
		cmocka_unit_test(test_kv_leased_keys_expire_at_the_batch_time_past_their_ttl),
		cmocka_unit_test(test_kv_keepalive_restarts_the_ttl_and_time_never_goes_back),
		cmocka_unit_test(test_kv_revoke_deletes_exactly_the_attached_keys),
		cmocka_unit_test(test_kv_leases_expire_earliest_first_each_in_its_own_revision),
		cmocka_unit_test(test_kv_lease_limits_and_malformed_lease_ops),
		cmocka_unit_test(test_kv_txn_with_leased_puts_is_atomic_for_the_lease_index_too),
		cmocka_unit_test(test_kv_snapshot_carries_leases_and_the_restored_store_expires_alike),
		cmocka_unit_test(test_kv_two_stores_fed_the_same_ops_agree_byte_for_byte),
		cmocka_unit_test(test_kv_equal_states_reached_differently_have_equal_snapshots),
		cmocka_unit_test(test_kv_snapshot_restore_snapshot_is_the_identity),
		cmocka_unit_test(test_kv_snapshot_layout_is_as_documented),
		cmocka_unit_test(test_kv_restore_refuses_corrupt_snapshots_and_keeps_the_old_state),
		cmocka_unit_test(test_kv_restore_refuses_what_no_history_could_produce),
		cmocka_unit_test(test_kv_result_decoder_rejects_truncations_and_trailing_bytes),
		cmocka_unit_test(test_kv_result_decoder_rejects_bad_shapes),
		cmocka_unit_test(test_kv_app_binding_drives_the_store),
		cmocka_unit_test(test_kv_matches_a_sorted_array_model_over_10000_random_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
