/*
 * Unit tests for crypto/cr_merkle: every leaf of trees of many sizes proves, and every tampering
 * of a proof (leaf, index, sibling, count, length, root) fails without crashing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "crypto/cr_merkle.h"
#include "crypto/cr_sign.h"

static const uint32_t sizes[] = { 1, 2, 3, 5, 8, 13, 4096 };
#define SIZES_N (sizeof(sizes) / sizeof(sizes[0]))

/* Leaves of varying lengths (0 to 40 bytes) and contents, deterministic in the index. */
struct leaves {
	uint8_t (*data)[48];
	struct cr_bytes_view *views;
	uint32_t count;
};

static void leaves_make(struct leaves *l, uint32_t count)
{
	l->data = calloc(count, sizeof(*l->data));
	l->views = calloc(count, sizeof(*l->views));
	assert_non_null(l->data);
	assert_non_null(l->views);
	l->count = count;
	for (uint32_t i = 0; i < count; i++) {
		int n = snprintf((char *)l->data[i], sizeof(l->data[i]), "leaf %u of %u", i, count);

		assert_true(n > 0);
		l->views[i].p = l->data[i];
		l->views[i].len = i % 7 == 3 ? 0 : (size_t)n + i % 5;
	}
}

static void leaves_free(struct leaves *l)
{
	free(l->data);
	free(l->views);
}

static void hex_to(uint8_t *out, size_t n, const char *hex)
{
	size_t got = 0;

	assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL), 0);
	assert_int_equal(got, n);
}

static void test_merkle_branch_len_is_log2_of_padded_width(void **state)
{
	(void)state;
	assert_int_equal(cr_merkle_branch_len(1), 0);
	assert_int_equal(cr_merkle_branch_len(2), 1);
	assert_int_equal(cr_merkle_branch_len(3), 2);
	assert_int_equal(cr_merkle_branch_len(4), 2);
	assert_int_equal(cr_merkle_branch_len(5), 3);
	assert_int_equal(cr_merkle_branch_len(8), 3);
	assert_int_equal(cr_merkle_branch_len(13), 4);
	assert_int_equal(cr_merkle_branch_len(2049), 12);
	assert_int_equal(cr_merkle_branch_len(4096), CR_MERKLE_BRANCH_MAX);
	assert_int_equal(cr_merkle_branch_len(0), 0);
	assert_int_equal(cr_merkle_branch_len(4097), 0);
	assert_int_equal(cr_merkle_branch_len(UINT32_MAX), 0);
}

static void test_merkle_root_matches_known_answer_for_three_leaves(void **state)
{
	const struct cr_bytes_view v[3] = { { "a", 1 }, { "bc", 2 }, { NULL, 0 } };
	struct cr_merkle t;
	uint8_t want[32];

	(void)state;
	/* node(node(L0, L1), node(L2, pad)), computed independently with Python's hashlib from
	 * the framing in cr_merkle.h; pins the shape and the padding rule. */
	hex_to(want, 32, "8dd0562e66dc3c8a9022ea630f21ff6e1d04ca1da0f8e214f71a93d63c813032");
	assert_int_equal(cr_merkle_build(&t, v, 3), 0);
	assert_memory_equal(cr_merkle_root(&t), want, 32);
	cr_merkle_free(&t);
}

static void test_merkle_root_of_one_leaf_is_its_leaf_hash(void **state)
{
	const struct cr_bytes_view v = { "only", 4 };
	uint8_t lh[32], branch[1][32];
	uint32_t len = 99;
	struct cr_merkle t;

	(void)state;
	assert_int_equal(cr_merkle_build(&t, &v, 1), 0);
	assert_int_equal(cr_merkle_leaf_hash(lh, 1, 0, "only", 4), 0);
	assert_memory_equal(cr_merkle_root(&t), lh, 32);
	assert_int_equal(cr_merkle_branch(&t, 0, branch, 1, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), 1, 0, "only", 4, NULL, 0), 0);
	assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), 1, 0, "only", 3, NULL, 0), -1);
	cr_merkle_free(&t);
}

static void test_merkle_every_leaf_of_every_size_verifies(void **state)
{
	(void)state;
	for (size_t s = 0; s < SIZES_N; s++) {
		uint32_t n = sizes[s];
		struct leaves l;
		struct cr_merkle t;

		leaves_make(&l, n);
		assert_int_equal(cr_merkle_build(&t, l.views, n), 0);
		assert_int_equal(cr_merkle_count(&t), n);
		for (uint32_t i = 0; i < n; i++) {
			uint8_t branch[CR_MERKLE_BRANCH_MAX][32], lh[32];
			uint32_t len = 0;

			assert_int_equal(cr_merkle_branch(&t, i, branch, CR_MERKLE_BRANCH_MAX, &len), 0);
			assert_int_equal(len, cr_merkle_branch_len(n));
			assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), n, i, l.views[i].p,
							  l.views[i].len, branch, len), 0);
			assert_int_equal(cr_merkle_leaf_hash(lh, n, i, l.views[i].p, l.views[i].len), 0);
			assert_int_equal(cr_merkle_verify_hash(cr_merkle_root(&t), n, i, lh, branch, len),
					 0);
		}
		cr_merkle_free(&t);
		leaves_free(&l);
	}
}

static void test_merkle_build_from_hashes_gives_the_same_root(void **state)
{
	(void)state;
	for (size_t s = 0; s < SIZES_N; s++) {
		uint32_t n = sizes[s];
		uint8_t (*hashes)[32] = calloc(n, 32);
		struct cr_merkle a, b;
		struct leaves l;

		assert_non_null(hashes);
		leaves_make(&l, n);
		for (uint32_t i = 0; i < n; i++)
			assert_int_equal(cr_merkle_leaf_hash(hashes[i], n, i, l.views[i].p,
							     l.views[i].len), 0);
		assert_int_equal(cr_merkle_build(&a, l.views, n), 0);
		assert_int_equal(cr_merkle_build_from_hashes(&b, (const uint8_t (*)[32])hashes, n), 0);
		assert_memory_equal(cr_merkle_root(&a), cr_merkle_root(&b), 32);
		cr_merkle_free(&a);
		cr_merkle_free(&b);
		leaves_free(&l);
		free(hashes);
	}
}

static void test_merkle_build_is_deterministic_and_order_sensitive(void **state)
{
	const struct cr_bytes_view ab[2] = { { "a", 1 }, { "b", 1 } };
	const struct cr_bytes_view ba[2] = { { "b", 1 }, { "a", 1 } };
	struct cr_merkle t1, t2, t3;

	(void)state;
	assert_int_equal(cr_merkle_build(&t1, ab, 2), 0);
	assert_int_equal(cr_merkle_build(&t2, ab, 2), 0);
	assert_int_equal(cr_merkle_build(&t3, ba, 2), 0);
	assert_memory_equal(cr_merkle_root(&t1), cr_merkle_root(&t2), 32);
	assert_memory_not_equal(cr_merkle_root(&t1), cr_merkle_root(&t3), 32);
	cr_merkle_free(&t1);
	cr_merkle_free(&t2);
	cr_merkle_free(&t3);
}

static void test_merkle_root_binds_the_leaf_count(void **state)
{
	/* Three leaves and the same three plus a fourth whose hash is what padding would be cannot
	 * collide: padding is a hash no leaf can take, and the count is in every leaf hash. */
	const struct cr_bytes_view v[4] = { { "a", 1 }, { "b", 1 }, { "c", 1 }, { "", 0 } };
	struct cr_merkle t3, t4;

	(void)state;
	assert_int_equal(cr_merkle_build(&t3, v, 3), 0);
	assert_int_equal(cr_merkle_build(&t4, v, 4), 0);
	assert_memory_not_equal(cr_merkle_root(&t3), cr_merkle_root(&t4), 32);
	cr_merkle_free(&t3);
	cr_merkle_free(&t4);
}

/* Builds a tree of n leaves and hands back leaf i's branch. */
static void tree_with_branch(struct cr_merkle *t, struct leaves *l, uint32_t n, uint32_t i,
			     uint8_t branch[CR_MERKLE_BRANCH_MAX][32], uint32_t *len)
{
	leaves_make(l, n);
	assert_int_equal(cr_merkle_build(t, l->views, n), 0);
	assert_int_equal(cr_merkle_branch(t, i, branch, CR_MERKLE_BRANCH_MAX, len), 0);
}

static void test_merkle_rejects_tampered_leaf(void **state)
{
	uint8_t branch[CR_MERKLE_BRANCH_MAX][32], leaf[64];
	struct cr_merkle t;
	struct leaves l;
	uint32_t len;

	(void)state;
	tree_with_branch(&t, &l, 13, 6, branch, &len);
	memset(leaf, 'z', sizeof(leaf));
	memcpy(leaf, l.views[6].p, l.views[6].len);
	for (size_t b = 0; b < l.views[6].len; b++) {
		leaf[b] ^= 0x20;
		assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), 13, 6, leaf, l.views[6].len,
						  (const uint8_t (*)[32])branch, len), -1);
		leaf[b] ^= 0x20;
	}
	/* Truncated and extended leaves. */
	assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), 13, 6, leaf, l.views[6].len - 1,
					  (const uint8_t (*)[32])branch, len), -1);
	assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), 13, 6, leaf, l.views[6].len + 1,
					  (const uint8_t (*)[32])branch, len), -1);
	assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), 13, 6, leaf, l.views[6].len,
					  (const uint8_t (*)[32])branch, len), 0);
	cr_merkle_free(&t);
	leaves_free(&l);
}

static void test_merkle_rejects_tampered_index(void **state)
{
	(void)state;
	for (size_t s = 0; s < SIZES_N - 1; s++) {
		uint32_t n = sizes[s];
		struct cr_merkle t;
		struct leaves l;

		leaves_make(&l, n);
		assert_int_equal(cr_merkle_build(&t, l.views, n), 0);
		for (uint32_t i = 0; i < n; i++) {
			uint8_t branch[CR_MERKLE_BRANCH_MAX][32];
			uint32_t len;

			assert_int_equal(cr_merkle_branch(&t, i, branch, CR_MERKLE_BRANCH_MAX, &len), 0);
			for (uint32_t j = 0; j < n; j++)
				if (j != i)
					assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), n, j,
									  l.views[i].p, l.views[i].len,
									  (const uint8_t (*)[32])branch,
									  len), -1);
		}
		cr_merkle_free(&t);
		leaves_free(&l);
	}
}

static void test_merkle_branch_cannot_be_replayed_at_another_index_with_equal_leaves(void **state)
{
	/* With identical leaves, an index-blind tree would give leaves 0 and 1 the same branch;
	 * binding the index into the leaf hash is what makes this fail. */
	struct cr_bytes_view v[8];
	uint8_t b0[CR_MERKLE_BRANCH_MAX][32], b1[CR_MERKLE_BRANCH_MAX][32];
	uint32_t len0, len1;
	struct cr_merkle t;

	(void)state;
	for (int i = 0; i < 8; i++) {
		v[i].p = "same";
		v[i].len = 4;
	}
	assert_int_equal(cr_merkle_build(&t, v, 8), 0);
	assert_int_equal(cr_merkle_branch(&t, 0, b0, CR_MERKLE_BRANCH_MAX, &len0), 0);
	assert_int_equal(cr_merkle_branch(&t, 1, b1, CR_MERKLE_BRANCH_MAX, &len1), 0);
	assert_memory_not_equal(b0[0], b1[0], 32);
	for (uint32_t j = 1; j < 8; j++)
		assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), 8, j, "same", 4,
						  (const uint8_t (*)[32])b0, len0), -1);
	cr_merkle_free(&t);
}

static void test_merkle_rejects_tampered_sibling(void **state)
{
	(void)state;
	for (size_t s = 1; s < SIZES_N; s++) {
		uint32_t n = sizes[s], i = n / 2;
		uint8_t branch[CR_MERKLE_BRANCH_MAX][32];
		struct cr_merkle t;
		struct leaves l;
		uint32_t len;

		tree_with_branch(&t, &l, n, i, branch, &len);
		for (uint32_t k = 0; k < len; k++) {
			for (size_t b = 0; b < 32; b += 31) {
				branch[k][b] ^= 0x01;
				assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), n, i,
								  l.views[i].p, l.views[i].len,
								  (const uint8_t (*)[32])branch,
								  len), -1);
				branch[k][b] ^= 0x01;
			}
		}
		/* Swapping two levels is also a different proof. */
		if (len >= 2) {
			uint8_t tmp[32];

			memcpy(tmp, branch[0], 32);
			memcpy(branch[0], branch[1], 32);
			memcpy(branch[1], tmp, 32);
			assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), n, i, l.views[i].p,
							  l.views[i].len,
							  (const uint8_t (*)[32])branch, len), -1);
		}
		cr_merkle_free(&t);
		leaves_free(&l);
	}
}

static void test_merkle_rejects_wrong_count(void **state)
{
	uint8_t branch[CR_MERKLE_BRANCH_MAX][32];
	struct cr_merkle t;
	struct leaves l;
	uint32_t len;

	(void)state;
	tree_with_branch(&t, &l, 5, 2, branch, &len);
	/* 6, 7 and 8 leaves have the same branch length as 5: only the count binding stops it. */
	for (uint32_t n = 1; n <= 16; n++)
		if (n != 5)
			assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), n, 2, l.views[2].p,
							  l.views[2].len,
							  (const uint8_t (*)[32])branch, len), -1);
	cr_merkle_free(&t);
	leaves_free(&l);
}

static void test_merkle_rejects_truncated_or_extended_branch(void **state)
{
	uint8_t branch[CR_MERKLE_BRANCH_MAX + 1][32];
	struct cr_merkle t;
	struct leaves l;
	uint32_t len;

	(void)state;
	memset(branch, 0, sizeof(branch));
	tree_with_branch(&t, &l, 13, 12, branch, &len);
	assert_int_equal(len, 4);
	for (uint32_t k = 0; k <= CR_MERKLE_BRANCH_MAX + 1; k++)
		if (k != len)
			assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), 13, 12, l.views[12].p,
							  l.views[12].len,
							  (const uint8_t (*)[32])branch, k), -1);
	assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), 13, 12, l.views[12].p,
					  l.views[12].len, (const uint8_t (*)[32])branch,
					  UINT32_MAX), -1);
	cr_merkle_free(&t);
	leaves_free(&l);
}

static void test_merkle_rejects_wrong_root(void **state)
{
	uint8_t branch[CR_MERKLE_BRANCH_MAX][32], root[32];
	struct cr_merkle t;
	struct leaves l;
	uint32_t len;

	(void)state;
	tree_with_branch(&t, &l, 8, 3, branch, &len);
	for (size_t b = 0; b < 32; b++) {
		memcpy(root, cr_merkle_root(&t), 32);
		root[b] ^= 0x80;
		assert_int_equal(cr_merkle_verify(root, 8, 3, l.views[3].p, l.views[3].len,
						  (const uint8_t (*)[32])branch, len), -1);
	}
	cr_merkle_free(&t);
	leaves_free(&l);
}

static void test_merkle_verify_rejects_out_of_range_inputs(void **state)
{
	uint8_t branch[CR_MERKLE_BRANCH_MAX][32], root[32];
	struct cr_merkle t;
	struct leaves l;
	uint32_t len;

	(void)state;
	tree_with_branch(&t, &l, 3, 0, branch, &len);
	memcpy(root, cr_merkle_root(&t), 32);
	/* Index in the padding, and beyond. */
	assert_int_equal(cr_merkle_verify(root, 3, 3, "x", 1, (const uint8_t (*)[32])branch, len),
			 -1);
	assert_int_equal(cr_merkle_verify(root, 3, UINT32_MAX, "x", 1,
					  (const uint8_t (*)[32])branch, len), -1);
	/* Counts out of range. */
	assert_int_equal(cr_merkle_verify(root, 0, 0, "x", 1, NULL, 0), -1);
	assert_int_equal(cr_merkle_verify(root, 4097, 0, "x", 1, (const uint8_t (*)[32])branch,
					  CR_MERKLE_BRANCH_MAX), -1);
	assert_int_equal(cr_merkle_verify(root, UINT32_MAX, 0, "x", 1,
					  (const uint8_t (*)[32])branch, len), -1);
	/* Missing pointers. */
	assert_int_equal(cr_merkle_verify(NULL, 3, 0, l.views[0].p, l.views[0].len,
					  (const uint8_t (*)[32])branch, len), -1);
	assert_int_equal(cr_merkle_verify(root, 3, 0, NULL, 5, (const uint8_t (*)[32])branch, len),
			 -1);
	assert_int_equal(cr_merkle_verify(root, 3, 0, l.views[0].p, l.views[0].len, NULL, len), -1);
	assert_int_equal(cr_merkle_verify_hash(root, 3, 0, NULL, (const uint8_t (*)[32])branch,
					       len), -1);
	/* The genuine proof still holds. */
	assert_int_equal(cr_merkle_verify(root, 3, 0, l.views[0].p, l.views[0].len,
					  (const uint8_t (*)[32])branch, len), 0);
	cr_merkle_free(&t);
	leaves_free(&l);
}

static void test_merkle_leaf_hash_rejects_out_of_range_and_zeroes_output(void **state)
{
	static const uint8_t zeros[32];
	uint8_t out[32];

	(void)state;
	memset(out, 0xff, 32);
	assert_int_equal(cr_merkle_leaf_hash(out, 3, 3, "x", 1), -1);
	assert_memory_equal(out, zeros, 32);
	memset(out, 0xff, 32);
	assert_int_equal(cr_merkle_leaf_hash(out, 0, 0, "x", 1), -1);
	assert_memory_equal(out, zeros, 32);
	memset(out, 0xff, 32);
	assert_int_equal(cr_merkle_leaf_hash(out, 4097, 0, "x", 1), -1);
	assert_memory_equal(out, zeros, 32);
	memset(out, 0xff, 32);
	assert_int_equal(cr_merkle_leaf_hash(out, 3, 0, NULL, 1), -1);
	assert_memory_equal(out, zeros, 32);
	assert_int_equal(cr_merkle_leaf_hash(out, 3, 0, NULL, 0), 0);
}

static void test_merkle_leaf_hash_binds_index_and_count(void **state)
{
	uint8_t a[32], b[32], c[32];

	(void)state;
	assert_int_equal(cr_merkle_leaf_hash(a, 4, 1, "x", 1), 0);
	assert_int_equal(cr_merkle_leaf_hash(b, 4, 2, "x", 1), 0);
	assert_int_equal(cr_merkle_leaf_hash(c, 5, 1, "x", 1), 0);
	assert_memory_not_equal(a, b, 32);
	assert_memory_not_equal(a, c, 32);
}

static void test_merkle_build_rejects_bad_input_and_leaves_tree_empty(void **state)
{
	struct cr_bytes_view v[3] = { { "a", 1 }, { NULL, 2 }, { "c", 1 } };
	const uint8_t hashes[2][32] = { { 0 } };
	struct cr_merkle t;

	(void)state;
	memset(&t, 0xa5, sizeof(t));
	assert_int_equal(cr_merkle_build(&t, v, 0), -1);
	assert_null(t.nodes);
	assert_null(cr_merkle_root(&t));
	assert_int_equal(cr_merkle_count(&t), 0);
	assert_int_equal(cr_merkle_build(&t, v, 4097), -1);
	assert_null(t.nodes);
	assert_int_equal(cr_merkle_build(&t, NULL, 3), -1);
	assert_null(t.nodes);
	/* A NULL pointer with a non-zero length. */
	assert_int_equal(cr_merkle_build(&t, v, 3), -1);
	assert_null(t.nodes);
	assert_int_equal(cr_merkle_build_from_hashes(&t, hashes, 0), -1);
	assert_null(t.nodes);
	assert_int_equal(cr_merkle_build_from_hashes(&t, hashes, 4097), -1);
	assert_null(t.nodes);
	assert_int_equal(cr_merkle_build_from_hashes(&t, NULL, 2), -1);
	assert_null(t.nodes);
	cr_merkle_free(&t);
}

static void test_merkle_branch_rejects_bad_requests_and_leaves_outputs_alone(void **state)
{
	uint8_t branch[CR_MERKLE_BRANCH_MAX][32], before[CR_MERKLE_BRANCH_MAX][32];
	struct cr_merkle t, empty;
	struct leaves l;
	uint32_t len = 77;

	(void)state;
	leaves_make(&l, 13);
	assert_int_equal(cr_merkle_build(&t, l.views, 13), 0);
	memset(branch, 0x5a, sizeof(branch));
	memcpy(before, branch, sizeof(branch));
	assert_int_equal(cr_merkle_branch(&t, 13, branch, CR_MERKLE_BRANCH_MAX, &len), -1);
	assert_int_equal(cr_merkle_branch(&t, UINT32_MAX, branch, CR_MERKLE_BRANCH_MAX, &len), -1);
	assert_int_equal(cr_merkle_branch(&t, 0, branch, 3, &len), -1); /* needs 4 */
	assert_int_equal(cr_merkle_branch(&t, 0, NULL, CR_MERKLE_BRANCH_MAX, &len), -1);
	assert_int_equal(cr_merkle_branch(&t, 0, branch, CR_MERKLE_BRANCH_MAX, NULL), -1);
	memset(&empty, 0, sizeof(empty));
	assert_int_equal(cr_merkle_branch(&empty, 0, branch, CR_MERKLE_BRANCH_MAX, &len), -1);
	assert_memory_equal(branch, before, sizeof(branch));
	assert_int_equal(len, 77);
	/* Exactly enough room is enough. */
	assert_int_equal(cr_merkle_branch(&t, 0, branch, 4, &len), 0);
	assert_int_equal(len, 4);
	cr_merkle_free(&t);
	leaves_free(&l);
}

static void test_merkle_free_is_safe_twice(void **state)
{
	const struct cr_bytes_view v = { "x", 1 };
	struct cr_merkle t;

	(void)state;
	assert_int_equal(cr_merkle_build(&t, &v, 1), 0);
	cr_merkle_free(&t);
	assert_null(cr_merkle_root(&t));
	cr_merkle_free(&t);
}

static void test_merkle_random_garbage_proofs_never_verify(void **state)
{
	uint8_t seed[randombytes_SEEDBYTES] = { 7 }, buf[13 * 32 + 64];
	struct cr_merkle t;
	struct leaves l;

	(void)state;
	leaves_make(&l, 13);
	assert_int_equal(cr_merkle_build(&t, l.views, 13), 0);
	for (int round = 0; round < 2000; round++) {
		seed[1] = (uint8_t)round;
		seed[2] = (uint8_t)(round >> 8);
		randombytes_buf_deterministic(buf, sizeof(buf), seed);
		assert_int_equal(cr_merkle_verify(cr_merkle_root(&t), 13, buf[0] % 16, buf + 1,
						  buf[1] % 32, (const uint8_t (*)[32])(buf + 64),
						  buf[2] % 14), -1);
	}
	cr_merkle_free(&t);
	leaves_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merkle_branch_len_is_log2_of_padded_width),
		cmocka_unit_test(test_merkle_root_matches_known_answer_for_three_leaves),
		cmocka_unit_test(test_merkle_root_of_one_leaf_is_its_leaf_hash),
		cmocka_unit_test(test_merkle_every_leaf_of_every_size_verifies),
		cmocka_unit_test(test_merkle_build_from_hashes_gives_the_same_root),
		cmocka_unit_test(test_merkle_build_is_deterministic_and_order_sensitive),
		cmocka_unit_test(test_merkle_root_binds_the_leaf_count),
		cmocka_unit_test(test_merkle_rejects_tampered_leaf),
		cmocka_unit_test(test_merkle_rejects_tampered_index),
		cmocka_unit_test(test_merkle_branch_cannot_be_replayed_at_another_index_with_equal_leaves),
		cmocka_unit_test(test_merkle_rejects_tampered_sibling),
		cmocka_unit_test(test_merkle_rejects_wrong_count),
		cmocka_unit_test(test_merkle_rejects_truncated_or_extended_branch),
		cmocka_unit_test(test_merkle_rejects_wrong_root),
		cmocka_unit_test(test_merkle_verify_rejects_out_of_range_inputs),
		cmocka_unit_test(test_merkle_leaf_hash_rejects_out_of_range_and_zeroes_output),
		cmocka_unit_test(test_merkle_leaf_hash_binds_index_and_count),
		cmocka_unit_test(test_merkle_build_rejects_bad_input_and_leaves_tree_empty),
		cmocka_unit_test(test_merkle_branch_rejects_bad_requests_and_leaves_outputs_alone),
		cmocka_unit_test(test_merkle_free_is_safe_twice),
		cmocka_unit_test(test_merkle_random_garbage_proofs_never_verify),
	};

	if (cr_init() != 0)
		return 1;
	return cmocka_run_group_tests_name("cr_merkle", tests, NULL, NULL);
}
