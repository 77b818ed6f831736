/*
 * Unit tests for crypto/cr_group: hashing into ristretto255, the two generators, the checks on
 * received scalars and points, fail-closed group operations, and Lagrange coefficients.
 * The hash-to-scalar known answer was computed independently (Python hashlib.blake2b and integer
 * reduction mod l) from the documented framing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>

#include "crypto/cr_group.h"
#include "crypto/cr_sign.h"

static void hex_to(uint8_t *out, size_t n, const char *hex)
{
	size_t got = 0;

	assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL), 0);
	assert_int_equal(got, n);
}

/* l, l - 1 and l + 1, little-endian. */
static const char *const L_HEX = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
static const char *const L_MINUS_1_HEX =
	"ecd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
static const char *const L_PLUS_1_HEX =
	"eed3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

/* sodium_misuse() aborts while holding libsodium's lock, so it cannot be caught in-process:
 * the test runs the call in a child and expects SIGABRT. */
static int aborts_in_child(void (*fn)(void))
{
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		if (devnull >= 0)
			dup2(devnull, 2);
		signal(SIGSEGV, SIG_DFL);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void hash_with_tag_of(size_t len)
{
	char tag[300];
	struct cr_group_hash h;
	uint8_t out[64];

	memset(tag, 'x', len);
	tag[len] = '\0';
	cr_group_hash_init(&h, tag);
	cr_group_hash_to_wide(&h, out);
}

static void hash_with_tag_of_256(void)
{
	hash_with_tag_of(256);
}

static void hash_with_tag_of_255(void)
{
	hash_with_tag_of(255);
}

static void random_scalar(uint8_t s[CR_SCALAR_BYTES], uint32_t seed)
{
	cr_scalar_hash(s, "test.scalar", &seed, sizeof(seed));
}

/* ------------------------------------------------------------------------------------------- */

static void test_g_is_libsodium_base_point(void **state)
{
	uint8_t one[CR_SCALAR_BYTES];
	uint8_t p[CR_POINT_BYTES];

	(void)state;
	cr_scalar_from_u64(one, 1);
	assert_int_equal(crypto_scalarmult_ristretto255_base(p, one), 0);
	assert_memory_equal(p, cr_group_g, CR_POINT_BYTES);
}

static void test_gbar_is_the_hash_of_its_documented_tag(void **state)
{
	uint8_t p[CR_POINT_BYTES];

	(void)state;
	cr_point_hash(p, "cr.group.gbar", "", 0);
	assert_memory_equal(p, cr_group_gbar, CR_POINT_BYTES);
	assert_int_equal(cr_point_check(cr_group_gbar), 0);
	assert_memory_not_equal(cr_group_gbar, cr_group_g, CR_POINT_BYTES);
}

static void test_hash_to_scalar_matches_known_answer(void **state)
{
	uint8_t want[CR_SCALAR_BYTES];
	uint8_t got[CR_SCALAR_BYTES];

	(void)state;
	/* BLAKE2b-512(0x07 || "cr.test" || "abc") as a little-endian integer, mod l. */
	hex_to(want, 32, "b95dc3e10ca4562cba68f1671f3473425f1695a9d657412dda05e11a94920c00");
	cr_scalar_hash(got, "cr.test", "abc", 3);
	assert_memory_equal(got, want, 32);
}

static void test_hash_streaming_equals_one_shot(void **state)
{
	struct cr_group_hash h;
	uint8_t a[CR_SCALAR_BYTES], b[CR_SCALAR_BYTES];
	uint8_t p[CR_POINT_BYTES], q[CR_POINT_BYTES];

	(void)state;
	cr_group_hash_init(&h, "cr.test");
	cr_group_hash_update(&h, "a", 1);
	cr_group_hash_update(&h, NULL, 0);
	cr_group_hash_update(&h, "bc", 2);
	cr_group_hash_to_scalar(&h, a);
	cr_scalar_hash(b, "cr.test", "abc", 3);
	assert_memory_equal(a, b, 32);
	cr_group_hash_init(&h, "cr.test");
	cr_group_hash_update(&h, "ab", 2);
	cr_group_hash_update(&h, "c", 1);
	cr_group_hash_to_point(&h, p);
	cr_point_hash(q, "cr.test", "abc", 3);
	assert_memory_equal(p, q, 32);
}

static void test_hash_to_scalar_is_canonical_and_domain_separated(void **state)
{
	uint8_t a[CR_SCALAR_BYTES], b[CR_SCALAR_BYTES];

	(void)state;
	for (uint32_t i = 0; i < 200; i++) {
		cr_scalar_hash(a, "cr.test.a", &i, sizeof(i));
		cr_scalar_hash(b, "cr.test.b", &i, sizeof(i));
		assert_int_equal(cr_scalar_check(a), 0);
		assert_int_equal(cr_scalar_check(b), 0);
		assert_memory_not_equal(a, b, 32);
	}
	/* The tag boundary cannot be shifted into the data. */
	cr_scalar_hash(a, "cr.tes", "tabc", 4);
	cr_scalar_hash(b, "cr.test", "abc", 3);
	assert_memory_not_equal(a, b, 32);
}

static void test_hash_to_point_is_valid_and_domain_separated(void **state)
{
	uint8_t a[CR_POINT_BYTES], b[CR_POINT_BYTES], c[CR_POINT_BYTES];

	(void)state;
	for (uint32_t i = 0; i < 50; i++) {
		cr_point_hash(a, "cr.test.a", &i, sizeof(i));
		cr_point_hash(b, "cr.test.b", &i, sizeof(i));
		cr_point_hash(c, "cr.test.a", &i, sizeof(i));
		assert_int_equal(cr_point_check(a), 0);
		assert_int_equal(cr_point_check(b), 0);
		assert_memory_not_equal(a, b, 32);
		assert_memory_equal(a, c, 32);
	}
}

static void test_wide_hash_is_blake2b_512_of_framed_input(void **state)
{
	struct cr_group_hash h;
	uint8_t framed[1 + 7 + 3] = { 7, 'c', 'r', '.', 't', 'e', 's', 't', 'a', 'b', 'c' };
	uint8_t want[64], got[64];

	(void)state;
	crypto_generichash_blake2b(want, 64, framed, sizeof(framed), NULL, 0);
	cr_group_hash_init(&h, "cr.test");
	cr_group_hash_update(&h, "abc", 3);
	cr_group_hash_to_wide(&h, got);
	assert_memory_equal(got, want, 64);
}

static void test_tag_over_255_bytes_aborts(void **state)
{
	(void)state;
	assert_true(aborts_in_child(hash_with_tag_of_256));
	assert_false(aborts_in_child(hash_with_tag_of_255));
}

/* ------------------------------------------------------------------------------------------- */

static void test_scalar_check_accepts_zero_small_and_l_minus_one(void **state)
{
	uint8_t s[CR_SCALAR_BYTES] = { 0 };

	(void)state;
	assert_int_equal(cr_scalar_check(s), 0);
	s[0] = 1;
	assert_int_equal(cr_scalar_check(s), 0);
	hex_to(s, 32, L_MINUS_1_HEX);
	assert_int_equal(cr_scalar_check(s), 0);
	/* Just below l in a high byte, above it in a low one. */
	hex_to(s, 32, L_HEX);
	s[31] = 0x0f;
	s[0] = 0xff;
	assert_int_equal(cr_scalar_check(s), 0);
}

static void test_scalar_check_rejects_l_l_plus_one_and_top_bit_set(void **state)
{
	uint8_t s[CR_SCALAR_BYTES];

	(void)state;
	hex_to(s, 32, L_HEX);
	assert_int_equal(cr_scalar_check(s), -1);
	hex_to(s, 32, L_PLUS_1_HEX);
	assert_int_equal(cr_scalar_check(s), -1);
	/* 1 with bit 255 set: libsodium would silently use it as 1. */
	memset(s, 0, 32);
	s[0] = 1;
	s[31] = 0x80;
	assert_int_equal(cr_scalar_check(s), -1);
	memset(s, 0xff, 32);
	assert_int_equal(cr_scalar_check(s), -1);
	/* 2^253: above l, below 2^255. */
	memset(s, 0, 32);
	s[31] = 0x20;
	assert_int_equal(cr_scalar_check(s), -1);
	/* l with only a low byte raised. */
	hex_to(s, 32, L_HEX);
	s[1] = 0xd4;
	assert_int_equal(cr_scalar_check(s), -1);
}

/* Plain (variable-time) s < l, most significant byte first: the reference the constant-time
 * check must agree with. */
static int below_l_reference(const uint8_t s[32], const uint8_t l[32])
{
	for (int i = 31; i >= 0; i--)
		if (s[i] != l[i])
			return s[i] < l[i];
	return 0;
}

static void test_scalar_check_agrees_with_a_plain_comparison_near_l(void **state)
{
	uint8_t l[32], s[32], r[32];

	(void)state;
	hex_to(l, 32, L_HEX);
	for (uint32_t i = 0; i < 20000; i++) {
		/* l with one to three bytes nudged up or down: values on both sides of l. */
		cr_scalar_hash(r, "test.nudge", &i, sizeof(i));
		memcpy(s, l, 32);
		for (int j = 0; j < 1 + (r[0] % 3); j++)
			s[r[1 + 2 * j] % 32] += (uint8_t)((r[2 + 2 * j] % 5) - 2);
		assert_int_equal(cr_scalar_check(s) == 0, below_l_reference(s, l));
	}
}

static void test_scalar_check_nonzero_rejects_zero_and_non_canonical(void **state)
{
	uint8_t s[CR_SCALAR_BYTES] = { 0 };

	(void)state;
	assert_int_equal(cr_scalar_check_nonzero(s), -1);
	s[5] = 1;
	assert_int_equal(cr_scalar_check_nonzero(s), 0);
	hex_to(s, 32, L_HEX);
	assert_int_equal(cr_scalar_check_nonzero(s), -1);
}

static void test_point_check_rejects_identity_and_invalid_encodings(void **state)
{
	uint8_t p[CR_POINT_BYTES] = { 0 };

	(void)state;
	/* libsodium itself accepts the identity: that is the gap the check closes. */
	assert_int_equal(crypto_core_ristretto255_is_valid_point(p), 1);
	assert_int_equal(cr_point_check(p), -1);
	memset(p, 0xff, 32);
	assert_int_equal(cr_point_check(p), -1);
	/* The field prime p = 2^255 - 19 itself: a non-canonical encoding of 0. */
	hex_to(p, 32, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
	assert_int_equal(cr_point_check(p), -1);
	/* A "negative" (odd) field element is never a canonical encoding. */
	memcpy(p, cr_group_g, 32);
	p[0] ^= 1;
	assert_int_equal(cr_point_check(p), -1);
	/* The top bit must be clear. */
	memcpy(p, cr_group_g, 32);
	p[31] |= 0x80;
	assert_int_equal(cr_point_check(p), -1);
}

static void test_point_check_accepts_generators_and_multiples(void **state)
{
	uint8_t s[CR_SCALAR_BYTES];
	uint8_t p[CR_POINT_BYTES];

	(void)state;
	assert_int_equal(cr_point_check(cr_group_g), 0);
	assert_int_equal(cr_point_check(cr_group_gbar), 0);
	for (uint32_t i = 0; i < 20; i++) {
		random_scalar(s, i);
		assert_int_equal(cr_point_mul_base(p, s), 0);
		assert_int_equal(cr_point_check(p), 0);
	}
}

/* ------------------------------------------------------------------------------------------- */

static void test_point_mul_fails_closed_on_zero_scalar_and_bad_point(void **state)
{
	uint8_t zero[CR_SCALAR_BYTES] = { 0 };
	uint8_t s[CR_SCALAR_BYTES];
	uint8_t bad[CR_POINT_BYTES];
	uint8_t q[CR_POINT_BYTES];

	(void)state;
	memset(q, 0xaa, 32);
	assert_int_equal(cr_point_mul_base(q, zero), -1);
	assert_true(sodium_is_zero(q, 32));
	memset(q, 0xaa, 32);
	assert_int_equal(cr_point_mul(q, zero, cr_group_gbar), -1);
	assert_true(sodium_is_zero(q, 32));
	memset(bad, 0xff, 32);
	random_scalar(s, 1);
	memset(q, 0xaa, 32);
	assert_int_equal(cr_point_mul(q, s, bad), -1);
	assert_true(sodium_is_zero(q, 32));
	/* l itself is 0 mod l once libsodium reduces it: the result is the identity. */
	hex_to(s, 32, L_HEX);
	assert_int_equal(cr_point_mul(q, s, cr_group_gbar), -1);
}

static void test_point_mul_of_g_equals_fixed_base_path(void **state)
{
	uint8_t s[CR_SCALAR_BYTES];
	uint8_t a[CR_POINT_BYTES], b[CR_POINT_BYTES];

	(void)state;
	random_scalar(s, 7);
	assert_int_equal(cr_point_mul(a, s, cr_group_g), 0);
	assert_int_equal(crypto_scalarmult_ristretto255(b, s, cr_group_g), 0);
	assert_memory_equal(a, b, 32);
}

static void test_add_sub_and_mul2_agree_with_scalar_arithmetic(void **state)
{
	uint8_t s[CR_SCALAR_BYTES], t[CR_SCALAR_BYTES], st[CR_SCALAR_BYTES];
	uint8_t a[CR_POINT_BYTES], b[CR_POINT_BYTES], c[CR_POINT_BYTES], d[CR_POINT_BYTES];

	(void)state;
	random_scalar(s, 11);
	random_scalar(t, 12);
	/* g^s * g^t = g^{s+t}, and g^{s+t} / g^t = g^s. */
	assert_int_equal(cr_point_mul_base(a, s), 0);
	assert_int_equal(cr_point_mul_base(b, t), 0);
	crypto_core_ristretto255_scalar_add(st, s, t);
	assert_int_equal(cr_point_mul_base(c, st), 0);
	assert_int_equal(cr_point_add(d, a, b), 0);
	assert_memory_equal(c, d, 32);
	assert_int_equal(cr_point_sub(d, c, b), 0);
	assert_memory_equal(d, a, 32);
	assert_int_equal(cr_point_mul2(d, s, cr_group_g, t, cr_group_g), 0);
	assert_memory_equal(d, c, 32);
	/* p / p is the identity: refused. */
	memset(d, 0xaa, 32);
	assert_int_equal(cr_point_sub(d, a, a), -1);
	assert_true(sodium_is_zero(d, 32));
}

static void test_msm_tolerates_identity_partial_products_but_not_result(void **state)
{
	uint8_t one[CR_SCALAR_BYTES], neg[CR_SCALAR_BYTES], two[CR_SCALAR_BYTES];
	uint8_t r[CR_POINT_BYTES], want[CR_POINT_BYTES];
	const uint8_t *sp[3];
	const uint8_t *pp[3] = { cr_group_g, cr_group_g, cr_group_gbar };

	(void)state;
	cr_scalar_from_u64(one, 1);
	cr_scalar_from_u64(two, 2);
	crypto_core_ristretto255_scalar_negate(neg, one);
	/* g^1 * g^-1 passes through the identity, then * gbar^2. */
	sp[0] = one;
	sp[1] = neg;
	sp[2] = two;
	assert_int_equal(cr_point_msm(r, sp, pp, 3), 0);
	assert_int_equal(cr_point_mul(want, two, cr_group_gbar), 0);
	assert_memory_equal(r, want, 32);
	/* g^1 * g^-1 alone is the identity: refused. */
	memset(r, 0xaa, 32);
	assert_int_equal(cr_point_msm(r, sp, pp, 2), -1);
	assert_true(sodium_is_zero(r, 32));
	assert_int_equal(cr_point_msm(r, sp, pp, 0), -1);
}

/* ------------------------------------------------------------------------------------------- */

static void test_lagrange_of_one_and_two_is_two_and_minus_one(void **state)
{
	struct cr_lagrange_set set;
	uint8_t two[CR_SCALAR_BYTES], one[CR_SCALAR_BYTES], minus1[CR_SCALAR_BYTES];

	(void)state;
	/* lambda_1 = 2 / (2 - 1) = 2, lambda_2 = 1 / (1 - 2) = -1. */
	cr_scalar_from_u64(two, 2);
	cr_scalar_from_u64(one, 1);
	crypto_core_ristretto255_scalar_negate(minus1, one);
	assert_int_equal(cr_lagrange_compute(&set, 0x3), 0);
	assert_int_equal(set.mask, 0x3);
	assert_memory_equal(set.coef[0], two, 32);
	assert_memory_equal(set.coef[1], minus1, 32);
	/* A single index interpolates a constant: lambda = 1. */
	assert_int_equal(cr_lagrange_compute(&set, (uint64_t)1 << 40), 0);
	assert_memory_equal(set.coef[40], one, 32);
}

/* p(0) from the values p(i), i in mask, through the coefficients. */
static void interpolate(uint8_t out[CR_SCALAR_BYTES], const struct cr_lagrange_set *set,
			uint8_t vals[][CR_SCALAR_BYTES])
{
	uint8_t term[CR_SCALAR_BYTES];

	memset(out, 0, CR_SCALAR_BYTES);
	for (uint32_t b = 0; b < CR_GROUP_N_MAX; b++) {
		if (!(set->mask & ((uint64_t)1 << b)))
			continue;
		crypto_core_ristretto255_scalar_mul(term, set->coef[b], vals[b]);
		crypto_core_ristretto255_scalar_add(out, out, term);
	}
}

/* vals[i-1] = p(i) for p(x) = a_0 + a_1 x + ... + a_deg x^deg. */
static void eval_poly(uint8_t vals[][CR_SCALAR_BYTES], uint32_t n, uint8_t coef[][CR_SCALAR_BYTES],
		      uint32_t deg)
{
	uint8_t xs[CR_SCALAR_BYTES];

	for (uint32_t i = 1; i <= n; i++) {
		cr_scalar_from_u64(xs, i);
		memcpy(vals[i - 1], coef[deg], 32);
		for (uint32_t k = deg; k-- > 0;) {
			crypto_core_ristretto255_scalar_mul(vals[i - 1], vals[i - 1], xs);
			crypto_core_ristretto255_scalar_add(vals[i - 1], vals[i - 1], coef[k]);
		}
	}
}

static void test_lagrange_interpolates_every_subset_of_seven(void **state)
{
	uint8_t coef[3][CR_SCALAR_BYTES];
	uint8_t vals[CR_GROUP_N_MAX][CR_SCALAR_BYTES];
	uint8_t got[CR_SCALAR_BYTES];
	struct cr_lagrange_set set;
	unsigned tested = 0;

	(void)state;
	for (uint32_t k = 0; k < 3; k++)
		random_scalar(coef[k], 100 + k);
	eval_poly(vals, 7, coef, 2);
	/* Every subset of {1..7} of size >= 3 recovers p(0) for a degree-2 polynomial;
	 * subsets of size 2 do not. */
	for (uint64_t mask = 1; mask < (1u << 7); mask++) {
		int bits = __builtin_popcountll(mask);

		assert_int_equal(cr_lagrange_compute(&set, mask), 0);
		interpolate(got, &set, vals);
		if (bits >= 3) {
			assert_memory_equal(got, coef[0], 32);
			tested++;
		} else if (bits == 2) {
			assert_memory_not_equal(got, coef[0], 32);
		}
	}
	assert_int_equal(tested, 99); /* C(7,3) + ... + C(7,7) */
}

static void test_lagrange_handles_all_64_indices(void **state)
{
	uint8_t coef[64][CR_SCALAR_BYTES];
	uint8_t vals[CR_GROUP_N_MAX][CR_SCALAR_BYTES];
	uint8_t got[CR_SCALAR_BYTES];
	struct cr_lagrange_set set;

	(void)state;
	for (uint32_t k = 0; k < 64; k++)
		random_scalar(coef[k], 200 + k);
	eval_poly(vals, 64, coef, 63);
	assert_int_equal(cr_lagrange_compute(&set, UINT64_MAX), 0);
	interpolate(got, &set, vals);
	assert_memory_equal(got, coef[0], 32);
	/* The top index alone with the bottom one: a degree-1 polynomial. */
	eval_poly(vals, 64, coef, 1);
	assert_int_equal(cr_lagrange_compute(&set, 1 | (uint64_t)1 << 63), 0);
	interpolate(got, &set, vals);
	assert_memory_equal(got, coef[0], 32);
}

static void test_lagrange_rejects_empty_set(void **state)
{
	struct cr_lagrange_set set;
	struct cr_lagrange_cache cache;
	const struct cr_lagrange_set *out = NULL;

	(void)state;
	memset(&set, 0xaa, sizeof(set));
	assert_int_equal(cr_lagrange_compute(&set, 0), -1);
	assert_int_equal(set.mask, 0);
	cr_lagrange_cache_init(&cache);
	assert_int_equal(cr_lagrange_lookup(&cache, 0, &out), -1);
	assert_null(out);
}

static void test_lagrange_cache_hits_evicts_and_matches_direct_computation(void **state)
{
	struct cr_lagrange_cache cache;
	struct cr_lagrange_set direct;
	const struct cr_lagrange_set *got;

	(void)state;
	cr_lagrange_cache_init(&cache);
	assert_int_equal(cr_lagrange_lookup(&cache, 0x7, &got), 0);
	assert_int_equal(cache.misses, 1);
	assert_int_equal(cr_lagrange_lookup(&cache, 0x7, &got), 0);
	assert_int_equal(cache.hits, 1);
	assert_int_equal(cr_lagrange_compute(&direct, 0x7), 0);
	assert_memory_equal(got, &direct, sizeof(direct));
	/* Fill every slot with other sets: 0x7 is evicted, then recomputed identically. */
	for (uint64_t m = 0x10; m < 0x10 + CR_LAGRANGE_CACHE_SLOTS; m++)
		assert_int_equal(cr_lagrange_lookup(&cache, m, &got), 0);
	assert_int_equal(cache.misses, 1 + CR_LAGRANGE_CACHE_SLOTS);
	assert_int_equal(cr_lagrange_lookup(&cache, 0x7, &got), 0);
	assert_int_equal(cache.misses, 2 + CR_LAGRANGE_CACHE_SLOTS);
	assert_memory_equal(got, &direct, sizeof(direct));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_g_is_libsodium_base_point),
		cmocka_unit_test(test_gbar_is_the_hash_of_its_documented_tag),
		cmocka_unit_test(test_hash_to_scalar_matches_known_answer),
		cmocka_unit_test(test_hash_streaming_equals_one_shot),
		cmocka_unit_test(test_hash_to_scalar_is_canonical_and_domain_separated),
		cmocka_unit_test(test_hash_to_point_is_valid_and_domain_separated),
		cmocka_unit_test(test_wide_hash_is_blake2b_512_of_framed_input),
		cmocka_unit_test(test_tag_over_255_bytes_aborts),
		cmocka_unit_test(test_scalar_check_accepts_zero_small_and_l_minus_one),
		cmocka_unit_test(test_scalar_check_rejects_l_l_plus_one_and_top_bit_set),
		cmocka_unit_test(test_scalar_check_agrees_with_a_plain_comparison_near_l),
		cmocka_unit_test(test_scalar_check_nonzero_rejects_zero_and_non_canonical),
		cmocka_unit_test(test_point_check_rejects_identity_and_invalid_encodings),
		cmocka_unit_test(test_point_check_accepts_generators_and_multiples),
		cmocka_unit_test(test_point_mul_fails_closed_on_zero_scalar_and_bad_point),
		cmocka_unit_test(test_point_mul_of_g_equals_fixed_base_path),
		cmocka_unit_test(test_add_sub_and_mul2_agree_with_scalar_arithmetic),
		cmocka_unit_test(test_msm_tolerates_identity_partial_products_but_not_result),
		cmocka_unit_test(test_lagrange_of_one_and_two_is_two_and_minus_one),
		cmocka_unit_test(test_lagrange_interpolates_every_subset_of_seven),
		cmocka_unit_test(test_lagrange_handles_all_64_indices),
		cmocka_unit_test(test_lagrange_rejects_empty_set),
		cmocka_unit_test(test_lagrange_cache_hits_evicts_and_matches_direct_computation),
	};

	if (cr_init() != 0)
		return 1;
	return cmocka_run_group_tests_name("cr_group", tests, NULL, NULL);
}
