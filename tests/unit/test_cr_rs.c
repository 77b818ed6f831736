/*
 * Unit tests for crypto/cr_rs: systematic Cauchy Reed-Solomon over GF(2^8) (ISA-L).
 *
 * Known answers: tests/vectors/rs_kat.txt, "name hex" per line, generated once by this
 * implementation (CR_KAT_WRITE=1 rewrites it; only for a deliberate, documented change of the
 * code's definition, which would split a cluster running mixed versions).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <isa-l/erasure_code.h>
#include <sodium.h>

#include "crypto/cr_rs.h"

static void fill(uint8_t *p, size_t len, uint32_t v)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 131u + v * 17u + (i >> 8)) & 0xff);
}

struct encoded {
	uint8_t *buf;
	size_t shard_len;
};

static void encode(const struct cr_rs *rs, const uint8_t *payload, size_t len, struct encoded *e)
{
	e->shard_len = cr_rs_shard_len(rs, len);
	assert_true(e->shard_len > 0);
	e->buf = malloc(rs->n * e->shard_len);
	assert_non_null(e->buf);
	assert_int_equal(cr_rs_encode(rs, payload, len, e->buf, rs->n * e->shard_len), 0);
}

static struct cr_rs_shard shard_of(const struct encoded *e, uint32_t i)
{
	struct cr_rs_shard s = { i, e->buf + (size_t)i * e->shard_len, e->shard_len };

	return s;
}

/* Decodes from the shards in idx[0..count) and checks the payload comes back exactly. */
static void expect_decodes(struct cr_rs *rs, const struct encoded *e, const uint32_t *idx,
			   size_t count, const uint8_t *payload, size_t len)
{
	struct cr_rs_shard sh[CR_RS_N_MAX];
	size_t cap = rs->k * e->shard_len;
	uint8_t *out = malloc(cap);
	size_t got = 0;

	assert_non_null(out);
	for (size_t i = 0; i < count; i++)
		sh[i] = shard_of(e, idx[i]);
	assert_int_equal(cr_rs_decode(rs, sh, count, out, cap, &got), 0);
	assert_int_equal(got, len);
	if (len > 0)
		assert_memory_equal(out, payload, len);
	free(out);
}

static int expect_decode_fails(struct cr_rs *rs, const struct cr_rs_shard *sh, size_t count,
			       size_t cap)
{
	uint8_t *out = malloc(cap + 1);
	size_t got = 12345;
	int rc;

	assert_non_null(out);
	memset(out, 0xaa, cap + 1);
	rc = cr_rs_decode(rs, sh, count, out, cap, &got);
	if (rc != 0) {
		assert_int_equal(got, 12345);
		for (size_t i = 0; i < cap; i++)
			assert_int_equal(out[i], 0);
	}
	free(out);
	return rc;
}

/* ------------------------------------------------------------------------------------------- */

static void test_rs_any_k_shards_decode_at_4_7_10(void **state)
{
	static const uint32_t ns[] = { 4, 7, 10 };
	static const size_t lens[] = { 0, 1, 5, 100, 4093 };
	uint8_t payload[4093];

	(void)state;
	fill(payload, sizeof(payload), 1);
	for (size_t s = 0; s < 3; s++) {
		uint32_t n = ns[s];
		uint32_t k = n - 2 * ((n - 1) / 3);
		struct cr_rs rs;

		assert_int_equal(cr_rs_init(&rs, n, k), 0);
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			struct encoded e;
			unsigned subsets = 0;

			encode(&rs, payload, lens[j], &e);
			/* Every k-subset, in increasing and in decreasing index order. */
			for (uint32_t mask = 1; mask < (1u << n); mask++) {
				uint32_t idx[16], rev[16];
				size_t c = 0;

				if ((uint32_t)__builtin_popcount(mask) != k)
					continue;
				for (uint32_t b = 0; b < n; b++)
					if (mask & (1u << b))
						idx[c++] = b;
				for (size_t i = 0; i < c; i++)
					rev[i] = idx[c - 1 - i];
				expect_decodes(&rs, &e, idx, c, payload, lens[j]);
				expect_decodes(&rs, &e, rev, c, payload, lens[j]);
				subsets++;
			}
			assert_int_equal(subsets, n == 4 ? 6 : n == 7 ? 35 : 210);
			free(e.buf);
		}
		cr_rs_free(&rs);
	}
}

static void test_rs_data_shards_are_the_length_prefixed_zero_padded_payload(void **state)
{
	struct cr_rs rs;
	struct encoded e;
	uint8_t payload[10];

	(void)state;
	fill(payload, sizeof(payload), 2);
	assert_int_equal(cr_rs_init(&rs, 7, 3), 0);
	/* 4 + 10 = 14 bytes over 3 shards: 5 bytes each, one byte of padding. */
	assert_int_equal(cr_rs_shard_len(&rs, 10), 5);
	assert_int_equal(cr_rs_shard_len(&rs, 0), 2);
	assert_int_equal(cr_rs_shard_len(&rs, 11), 5);
	assert_int_equal(cr_rs_shard_len(&rs, 12), 6);
	encode(&rs, payload, sizeof(payload), &e);
	assert_int_equal(e.buf[0], 10);
	assert_int_equal(e.buf[1] | e.buf[2] | e.buf[3], 0);
	assert_memory_equal(e.buf + 4, payload, 10);
	assert_int_equal(e.buf[14], 0);
	free(e.buf);
	cr_rs_free(&rs);
}

static void test_rs_matrix_is_the_documented_systematic_cauchy_matrix(void **state)
{
	struct cr_rs rs;

	(void)state;
	assert_int_equal(cr_rs_init(&rs, 255, 85), 0);
	for (uint32_t i = 0; i < 255; i++) {
		for (uint32_t j = 0; j < 85; j++) {
			uint8_t want = i < 85 ? (i == j) : gf_inv((uint8_t)(i ^ j));

			assert_int_equal(rs.matrix[i * 85 + j], want);
		}
	}
	/* And 1/(i XOR j) really is the inverse in GF(2^8)/0x11d. */
	assert_int_equal(gf_mul(gf_inv(0x53), 0x53), 1);
	assert_int_equal(gf_mul(0x80, 0x02), 0x1d);
	cr_rs_free(&rs);
}

static void test_rs_decodes_at_64_and_255_shards_from_mostly_parity(void **state)
{
	static const uint32_t ns[] = { 64, 255 };
	uint8_t payload[20000];

	(void)state;
	fill(payload, sizeof(payload), 3);
	for (size_t s = 0; s < 2; s++) {
		uint32_t n = ns[s];
		uint32_t f = (n - 1) / 3;
		uint32_t k = n - 2 * f;
		uint32_t idx[CR_RS_N_MAX];
		struct cr_rs rs;
		struct encoded e;

		assert_int_equal(cr_rs_init(&rs, n, k), 0);
		encode(&rs, payload, sizeof(payload), &e);
		/* The last k shards: all parity when k <= n - k. */
		for (uint32_t i = 0; i < k; i++)
			idx[i] = n - 1 - i;
		expect_decodes(&rs, &e, idx, k, payload, sizeof(payload));
		/* Every other shard, then the rest: k of them, mixing data and parity. */
		for (uint32_t i = 0; i < k; i++)
			idx[i] = (2 * i) % n;
		expect_decodes(&rs, &e, idx, k, payload, sizeof(payload));
		/* All n shards given: the first k are used. */
		for (uint32_t i = 0; i < n; i++)
			idx[i] = (i * 7 + 3) % n;
		expect_decodes(&rs, &e, idx, n, payload, sizeof(payload));
		free(e.buf);
		cr_rs_free(&rs);
	}
}

static void test_rs_init_rejects_bad_parameters(void **state)
{
	struct cr_rs rs;

	(void)state;
	assert_int_equal(cr_rs_init(&rs, 4, 0), -1);
	assert_null(rs.matrix);
	assert_int_equal(cr_rs_init(&rs, 256, 10), -1);
	assert_int_equal(cr_rs_init(&rs, 3, 4), -1);
	assert_int_equal(cr_rs_init(&rs, 0, 0), -1);
	/* The extremes are allowed: k = n (no parity), k = 1, n = 255. */
	assert_int_equal(cr_rs_init(&rs, 5, 5), 0);
	cr_rs_free(&rs);
	assert_int_equal(cr_rs_init(&rs, 255, 1), 0);
	cr_rs_free(&rs);
	cr_rs_free(&rs); /* freeing twice is safe */
}

static void test_rs_no_parity_and_single_data_shard_round_trip(void **state)
{
	uint8_t payload[33];
	uint32_t idx[5] = { 4, 2, 0, 1, 3 };
	struct cr_rs rs;
	struct encoded e;

	(void)state;
	fill(payload, sizeof(payload), 4);
	assert_int_equal(cr_rs_init(&rs, 5, 5), 0);
	encode(&rs, payload, sizeof(payload), &e);
	expect_decodes(&rs, &e, idx, 5, payload, sizeof(payload));
	free(e.buf);
	cr_rs_free(&rs);
	/* k = 1: every shard is a full copy (the Cauchy row is a nonzero multiple). */
	assert_int_equal(cr_rs_init(&rs, 4, 1), 0);
	encode(&rs, payload, sizeof(payload), &e);
	for (uint32_t i = 0; i < 4; i++)
		expect_decodes(&rs, &e, &i, 1, payload, sizeof(payload));
	free(e.buf);
	cr_rs_free(&rs);
}

static void test_rs_decode_rejects_malformed_shard_sets(void **state)
{
	uint8_t payload[50];
	struct cr_rs_shard sh[8];
	struct cr_rs rs;
	struct encoded e;
	size_t cap;

	(void)state;
	fill(payload, sizeof(payload), 5);
	assert_int_equal(cr_rs_init(&rs, 7, 3), 0);
	encode(&rs, payload, sizeof(payload), &e);
	cap = 3 * e.shard_len;
	for (uint32_t i = 0; i < 7; i++)
		sh[i] = shard_of(&e, i);
	assert_int_equal(expect_decode_fails(&rs, sh + 4, 3, cap), 0); /* baseline: decodes */
	/* Fewer than k. */
	assert_int_equal(expect_decode_fails(&rs, sh + 4, 2, cap), -1);
	assert_int_equal(expect_decode_fails(&rs, sh, 0, cap), -1);
	/* A duplicate index, among the first k or only among the extras. */
	sh[7] = sh[5];
	assert_int_equal(expect_decode_fails(&rs, sh + 5, 3, cap), -1);
	{
		struct cr_rs_shard d[4] = { sh[4], sh[5], sh[6], sh[5] };

		assert_int_equal(expect_decode_fails(&rs, d, 4, cap), -1);
	}
	/* An index >= n. */
	{
		struct cr_rs_shard d[3] = { sh[0], sh[1], sh[2] };

		d[2].index = 7;
		assert_int_equal(expect_decode_fails(&rs, d, 3, cap), -1);
		/* Mismatched and zero lengths. */
		d[2] = sh[2];
		d[1].len = e.shard_len - 1;
		assert_int_equal(expect_decode_fails(&rs, d, 3, cap), -1);
		d[1] = sh[1];
		d[0].len = e.shard_len + 1;
		assert_int_equal(expect_decode_fails(&rs, d, 3, cap), -1);
		for (int i = 0; i < 3; i++)
			d[i].len = 0;
		assert_int_equal(expect_decode_fails(&rs, d, 3, cap), -1);
		/* No room for the working space. */
		d[0] = sh[0];
		d[1] = sh[1];
		d[2] = sh[2];
		assert_int_equal(expect_decode_fails(&rs, d, 3, cap - 1), -1);
		assert_int_equal(expect_decode_fails(&rs, d, 3, cap), 0);
	}
	free(e.buf);
	cr_rs_free(&rs);
}

/* Builds n shards from raw data shards (any content), bypassing cr_rs_encode's layout. */
static void encode_raw(const struct cr_rs *rs, uint8_t *buf, size_t len)
{
	unsigned char *data[CR_RS_N_MAX], *par[CR_RS_N_MAX];
	unsigned char *tables = malloc(32 * rs->k * (rs->n - rs->k));

	assert_non_null(tables);
	for (uint32_t i = 0; i < rs->k; i++)
		data[i] = buf + i * len;
	for (uint32_t i = rs->k; i < rs->n; i++)
		par[i - rs->k] = buf + i * len;
	ec_init_tables((int)rs->k, (int)(rs->n - rs->k), rs->matrix + rs->k * rs->k, tables);
	ec_encode_data((int)len, (int)rs->k, (int)(rs->n - rs->k), tables, data, par);
	free(tables);
}

static void test_rs_decode_rejects_a_layout_encode_would_not_produce(void **state)
{
	struct cr_rs rs;
	struct cr_rs_shard sh[3];
	uint8_t buf[7 * 8];
	const size_t len = 8;

	(void)state;
	assert_int_equal(cr_rs_init(&rs, 7, 3), 0);
	/* A length prefix larger than the data. */
	memset(buf, 0, sizeof(buf));
	buf[0] = 21;
	encode_raw(&rs, buf, len);
	for (uint32_t i = 0; i < 3; i++)
		sh[i] = (struct cr_rs_shard){ 4 + i, buf + (4 + i) * len, len };
	assert_int_equal(expect_decode_fails(&rs, sh, 3, 3 * len), -1);
	/* Shards longer than the length needs (20 bytes of payload fit in 3 x 8, but the
	 * canonical shard length for 10 bytes is 5). */
	memset(buf, 0, sizeof(buf));
	buf[0] = 10;
	encode_raw(&rs, buf, len);
	assert_int_equal(expect_decode_fails(&rs, sh, 3, 3 * len), -1);
	/* Canonical length, but a non-zero byte in the padding. */
	memset(buf, 0, sizeof(buf));
	buf[0] = 19;
	buf[3 * len - 1] = 1;
	encode_raw(&rs, buf, len);
	assert_int_equal(expect_decode_fails(&rs, sh, 3, 3 * len), -1);
	/* The same with zero padding is exactly what encode produces, and decodes. */
	buf[3 * len - 1] = 0;
	encode_raw(&rs, buf, len);
	assert_int_equal(expect_decode_fails(&rs, sh, 3, 3 * len), 0);
	/* A prefix with a high byte set (over CR_RS_PAYLOAD_MAX). */
	memset(buf, 0, sizeof(buf));
	buf[3] = 0x80;
	encode_raw(&rs, buf, len);
	assert_int_equal(expect_decode_fails(&rs, sh, 3, 3 * len), -1);
	cr_rs_free(&rs);
}

static void test_rs_tampered_shard_is_caught_by_re_encoding(void **state)
{
	uint8_t payload[300];
	struct cr_rs rs;
	struct encoded e, again;
	uint32_t caught = 0;

	(void)state;
	fill(payload, sizeof(payload), 6);
	assert_int_equal(cr_rs_init(&rs, 10, 4), 0);
	encode(&rs, payload, sizeof(payload), &e);
	/* Corrupt one byte of one shard at a time; decode from a set that includes it. The
	 * result either fails the strict layout checks or re-encodes to shards that disagree with
	 * the honest ones: the reliable broadcast's Merkle-root comparison rejects it. */
	for (uint32_t bad = 0; bad < 10; bad++) {
		for (size_t pos = 0; pos < e.shard_len; pos += 13) {
			struct cr_rs_shard sh[4];
			uint8_t *copy = malloc(e.shard_len);
			uint8_t out[4 * 80];
			size_t got = 0;

			assert_non_null(copy);
			assert_true(sizeof(out) >= 4 * e.shard_len);
			memcpy(copy, e.buf + bad * e.shard_len, e.shard_len);
			copy[pos] ^= 0x5a;
			sh[0] = (struct cr_rs_shard){ bad, copy, e.shard_len };
			for (uint32_t i = 1; i < 4; i++)
				sh[i] = shard_of(&e, (bad + 2 * i) % 10);
			if (cr_rs_decode(&rs, sh, 4, out, sizeof(out), &got) == 0) {
				/* Decoded to something: not the payload, and its shards are not
				 * the honest ones. */
				assert_true(got != sizeof(payload) || memcmp(out, payload, got) != 0);
				encode(&rs, out, got, &again);
				assert_true(again.shard_len != e.shard_len ||
					    memcmp(again.buf, e.buf, 10 * e.shard_len) != 0);
				free(again.buf);
			}
			caught++;
			free(copy);
		}
	}
	assert_int_equal(caught, 10 * ((e.shard_len + 12) / 13));
	free(e.buf);
	cr_rs_free(&rs);
}

static void test_rs_encode_rejects_wrong_output_length_and_oversized_payload(void **state)
{
	uint8_t payload[10] = { 0 };
	uint8_t out[7 * 5 + 1];
	struct cr_rs rs;

	(void)state;
	assert_int_equal(cr_rs_init(&rs, 7, 3), 0);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(cr_rs_encode(&rs, payload, 10, out, 7 * 5 + 1), -1);
	assert_true(sodium_is_zero(out, sizeof(out)));
	assert_int_equal(cr_rs_encode(&rs, payload, 10, out, 7 * 5 - 1), -1);
	assert_int_equal(cr_rs_encode(&rs, payload, 10, out, 7 * 5), 0);
	assert_int_equal(cr_rs_shard_len(&rs, (size_t)CR_RS_PAYLOAD_MAX + 1), 0);
	assert_int_equal(cr_rs_encode(&rs, payload, (size_t)CR_RS_PAYLOAD_MAX + 1, out, 7), -1);
	cr_rs_free(&rs);
}

/* ------------------------------------------------------------------------------------------- */

#define KAT_MAX 512
#define KAT_NAME_MAX 64
#define KAT_HEX_MAX 2048

struct kat {
	char name[KAT_MAX][KAT_NAME_MAX];
	char *hex[KAT_MAX];
	size_t count;
	FILE *out;
};

static const char *kat_path(void)
{
	const char *p = getenv("CR_RS_KAT");

	return p != NULL ? p : "tests/vectors/rs_kat.txt";
}

static void kat_load(struct kat *k)
{
	char line[KAT_NAME_MAX + KAT_HEX_MAX + 8];
	FILE *fp;

	memset(k, 0, sizeof(*k));
	if (getenv("CR_KAT_WRITE") != NULL) {
		k->out = fopen(kat_path(), "w");
		assert_non_null(k->out);
		fprintf(k->out, "# Known answers for crypto/cr_rs (systematic Cauchy Reed-Solomon, "
				"GF(2^8)/0x11d).\n# Generated by tests/unit/test_cr_rs.c with "
				"CR_KAT_WRITE=1; each line is \"name hex\".\n");
		return;
	}
	fp = fopen(kat_path(), "r");
	if (fp == NULL)
		fail_msg("cannot open %s (run the tests from the repository root)", kat_path());
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *sp;
		size_t len = strlen(line);

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		sp = strchr(line, ' ');
		assert_non_null(sp);
		*sp = '\0';
		assert_true(strlen(line) < KAT_NAME_MAX);
		assert_true(k->count < KAT_MAX);
		strcpy(k->name[k->count], line);
		k->hex[k->count] = strdup(sp + 1);
		assert_non_null(k->hex[k->count]);
		k->count++;
	}
	fclose(fp);
	assert_true(k->count > 0);
}

static void kat_check(struct kat *k, const char *name, const uint8_t *bytes, size_t len)
{
	char hex[KAT_HEX_MAX + 1];

	assert_true(len * 2 <= KAT_HEX_MAX);
	sodium_bin2hex(hex, sizeof(hex), bytes, len);
	if (k->out != NULL) {
		fprintf(k->out, "%s %s\n", name, hex);
		return;
	}
	for (size_t i = 0; i < k->count; i++) {
		if (strcmp(k->name[i], name) == 0) {
			if (strcmp(k->hex[i], hex) != 0)
				fail_msg("vector %s differs:\n  want %s\n  got  %s", name, k->hex[i], hex);
			return;
		}
	}
	fail_msg("vector %s missing from %s", name, kat_path());
}

static void test_rs_matches_known_answer_vectors(void **state)
{
	static const uint32_t cases[][3] = {
		/* n, k, payload length */
		{ 4, 2, 37 }, { 7, 3, 100 }, { 10, 4, 0 }, { 10, 4, 61 }, { 64, 22, 300 },
	};
	struct kat k;
	uint8_t payload[300];
	char name[KAT_NAME_MAX];

	(void)state;
	kat_load(&k);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint32_t n = cases[c][0], kk = cases[c][1];
		size_t len = cases[c][2];
		struct cr_rs rs;
		struct encoded e;

		fill(payload, len, (uint32_t)c);
		assert_int_equal(cr_rs_init(&rs, n, kk), 0);
		encode(&rs, payload, len, &e);
		snprintf(name, sizeof(name), "n%uk%ul%zu.payload", n, kk, len);
		kat_check(&k, name, len > 0 ? payload : (const uint8_t *)"", len);
		for (uint32_t i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "n%uk%ul%zu.shard.%u", n, kk, len, i);
			kat_check(&k, name, e.buf + i * e.shard_len, e.shard_len);
		}
		free(e.buf);
		cr_rs_free(&rs);
	}
	if (k.out != NULL)
		assert_int_equal(fclose(k.out), 0);
	for (size_t i = 0; i < k.count; i++)
		free(k.hex[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rs_any_k_shards_decode_at_4_7_10),
		cmocka_unit_test(test_rs_data_shards_are_the_length_prefixed_zero_padded_payload),
		cmocka_unit_test(test_rs_matrix_is_the_documented_systematic_cauchy_matrix),
		cmocka_unit_test(test_rs_decodes_at_64_and_255_shards_from_mostly_parity),
		cmocka_unit_test(test_rs_init_rejects_bad_parameters),
		cmocka_unit_test(test_rs_no_parity_and_single_data_shard_round_trip),
		cmocka_unit_test(test_rs_decode_rejects_malformed_shard_sets),
		cmocka_unit_test(test_rs_decode_rejects_a_layout_encode_would_not_produce),
		cmocka_unit_test(test_rs_tampered_shard_is_caught_by_re_encoding),
		cmocka_unit_test(test_rs_encode_rejects_wrong_output_length_and_oversized_payload),
		cmocka_unit_test(test_rs_matches_known_answer_vectors),
	};

	return cmocka_run_group_tests_name("cr_rs", tests, NULL, NULL);
}
