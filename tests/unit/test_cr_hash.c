/*
 * Unit tests for crypto/cr_hash: tagged BLAKE2b-256 and the constant-time compare.
 * Known answers were computed independently (Python hashlib.blake2b) from the documented framing.
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

#include "crypto/cr_hash.h"
#include "crypto/cr_sign.h"

static void hex_to(uint8_t *out, size_t n, const char *hex)
{
	size_t got = 0;

	assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL), 0);
	assert_int_equal(got, n);
}

/* Runs fn in a child process and reports whether it aborted (SIGABRT). sodium_misuse() cannot be
 * caught in-process: it holds libsodium's lock while calling its handler, so jumping out of the
 * handler would deadlock the next libsodium call that takes the lock. */
static int aborts_in_child(void (*fn)(void))
{
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		/* Silence the child, and let a fault kill it rather than be reported by
		 * cmocka's handler as a failed test inside the child. */
		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void test_blake2b_256_is_the_underlying_function(void **state)
{
	uint8_t want[32], got[32];

	(void)state;
	/* BLAKE2b-256("abc"): pins the primitive and output length the framing builds on. */
	hex_to(want, 32, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
	crypto_generichash(got, sizeof(got), (const uint8_t *)"abc", 3, NULL, 0);
	assert_memory_equal(got, want, 32);
}

static void test_digest_matches_known_answer(void **state)
{
	uint8_t want[32], got[32];

	(void)state;
	/* BLAKE2b-256(0x08 || "bft.test" || "abc") */
	hex_to(want, 32, "9aa015e4f5dc18648a044afc5cc855aaa67a3707e93da5ba277e8f58c1cf09e0");
	cr_digest(got, "bft.test", "abc", 3);
	assert_memory_equal(got, want, 32);
}

static void test_digest_is_blake2b_of_length_prefixed_tag_then_data(void **state)
{
	uint8_t framed[1 + 5 + 4] = { 5, 'm', 'y', 't', 'a', 'g', 'd', 'a', 't', 'a' };
	uint8_t want[32], got[32];

	(void)state;
	crypto_generichash(want, sizeof(want), framed, sizeof(framed), NULL, 0);
	cr_digest(got, "mytag", "data", 4);
	assert_memory_equal(got, want, 32);
}

static void test_streaming_in_pieces_equals_one_shot(void **state)
{
	uint8_t msg[1000], one[32], many[32];
	struct cr_hash h;

	(void)state;
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	cr_digest(one, "bft.stream", msg, sizeof(msg));
	cr_hash_init(&h, "bft.stream");
	cr_hash_update(&h, msg, 1);
	cr_hash_update(&h, msg + 1, 0);
	cr_hash_update(&h, msg + 1, 499);
	cr_hash_update(&h, msg + 500, 500);
	cr_hash_final(&h, many);
	assert_memory_equal(one, many, 32);
}

static void test_different_tags_give_different_digests(void **state)
{
	uint8_t a[32], b[32];

	(void)state;
	cr_digest(a, "merkle.leaf", "x", 1);
	cr_digest(b, "merkle.node", "x", 1);
	assert_memory_not_equal(a, b, 32);
}

static void test_tag_and_data_boundary_cannot_be_shifted(void **state)
{
	uint8_t a[32], b[32];

	(void)state;
	/* Without the length prefix both would hash "abc". */
	cr_digest(a, "ab", "c", 1);
	cr_digest(b, "a", "bc", 2);
	assert_memory_not_equal(a, b, 32);
}

static void test_empty_tag_and_empty_data_are_allowed(void **state)
{
	uint8_t zero = 0, want[32], got[32];

	(void)state;
	crypto_generichash(want, sizeof(want), &zero, 1, NULL, 0);
	cr_digest(got, "", NULL, 0);
	assert_memory_equal(got, want, 32);
}

static void test_update_u64_appends_eight_little_endian_bytes(void **state)
{
	const uint8_t le[8] = { 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01 };
	uint8_t a[32], b[32];
	struct cr_hash h;

	(void)state;
	cr_hash_init(&h, "bft.u64");
	cr_hash_update_u64(&h, 0x0102030405060708ull);
	cr_hash_final(&h, a);
	cr_digest(b, "bft.u64", le, sizeof(le));
	assert_memory_equal(a, b, 32);
}

static void test_final_wipes_the_state(void **state)
{
	static const uint8_t zeros[sizeof(struct cr_hash)];
	uint8_t out[32];
	struct cr_hash h;

	(void)state;
	cr_hash_init(&h, "bft.secret");
	cr_hash_update(&h, "secret material", 15);
	cr_hash_final(&h, out);
	assert_memory_equal(&h, zeros, sizeof(h));
}

static void test_tag_of_255_bytes_is_accepted(void **state)
{
	char tag[256];
	uint8_t out[32];

	(void)state;
	memset(tag, 't', 255);
	tag[255] = '\0';
	cr_digest(out, tag, "x", 1);
}

static void digest_with_256_byte_tag(void)
{
	char tag[257];
	uint8_t out[32];

	memset(tag, 't', 256);
	tag[256] = '\0';
	cr_digest(out, tag, "x", 1);
}

static void test_tag_over_255_bytes_aborts_instead_of_colliding(void **state)
{
	(void)state;
	assert_true(aborts_in_child(digest_with_256_byte_tag));
}

static void test_equal_is_true_for_identical_bytes(void **state)
{
	uint8_t a[32], b[32];

	(void)state;
	randombytes_buf(a, sizeof(a));
	memcpy(b, a, sizeof(a));
	assert_int_equal(cr_equal(a, b, sizeof(a)), 1);
}

static void test_equal_is_false_for_a_difference_at_any_position(void **state)
{
	uint8_t a[64], b[64];

	(void)state;
	randombytes_buf(a, sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(b, a, sizeof(a));
			b[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(cr_equal(a, b, sizeof(a)), 0);
		}
	}
}

static void test_equal_compares_only_the_given_length(void **state)
{
	const uint8_t a[4] = { 1, 2, 3, 4 }, b[4] = { 1, 2, 3, 5 };

	(void)state;
	assert_int_equal(cr_equal(a, b, 3), 1);
	assert_int_equal(cr_equal(a, b, 4), 0);
	assert_int_equal(cr_equal(a, b, 0), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blake2b_256_is_the_underlying_function),
		cmocka_unit_test(test_digest_matches_known_answer),
		cmocka_unit_test(test_digest_is_blake2b_of_length_prefixed_tag_then_data),
		cmocka_unit_test(test_streaming_in_pieces_equals_one_shot),
		cmocka_unit_test(test_different_tags_give_different_digests),
		cmocka_unit_test(test_tag_and_data_boundary_cannot_be_shifted),
		cmocka_unit_test(test_empty_tag_and_empty_data_are_allowed),
		cmocka_unit_test(test_update_u64_appends_eight_little_endian_bytes),
		cmocka_unit_test(test_final_wipes_the_state),
		cmocka_unit_test(test_tag_of_255_bytes_is_accepted),
		cmocka_unit_test(test_tag_over_255_bytes_aborts_instead_of_colliding),
		cmocka_unit_test(test_equal_is_true_for_identical_bytes),
		cmocka_unit_test(test_equal_is_false_for_a_difference_at_any_position),
		cmocka_unit_test(test_equal_compares_only_the_given_length),
	};

	if (cr_init() != 0)
		return 1;
	return cmocka_run_group_tests_name("cr_hash", tests, NULL, NULL);
}
