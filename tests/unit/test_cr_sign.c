/*
 * Unit tests for crypto/cr_sign: Ed25519 identities, signing and verification, including the
 * RFC 8032 known answers and every way a signature must fail to verify.
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

#include "crypto/cr_sign.h"

static void hex_to(uint8_t *out, size_t n, const char *hex)
{
	size_t got = 0;

	assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL), 0);
	assert_int_equal(got, n);
}

/* Runs fn in a child with stderr silenced; returns the wait status. Used for what must kill the
 * process: sodium_misuse() (which cannot be caught in-process: it calls its handler holding
 * libsodium's lock) and writes to read-only key memory. */
static int status_of_child(void (*fn)(void))
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
	return status;
}

/* RFC 8032 section 7.1, TEST 1 (the empty message) and TEST 2 (one byte, 0x72). */
#define RFC1_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define RFC1_PK   "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define RFC1_SIG  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155" \
		  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
#define RFC2_SEED "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
#define RFC2_PK   "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
#define RFC2_SIG  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da" \
		  "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"

static void test_init_succeeds_and_is_idempotent(void **state)
{
	(void)state;
	assert_int_equal(cr_init(), 0);
	assert_int_equal(cr_init(), 0);
}

static void test_sign_matches_rfc8032_test1_empty_message(void **state)
{
	uint8_t seed[32], pk[32], want[64], sig[64];
	struct cr_identity id;

	(void)state;
	hex_to(seed, 32, RFC1_SEED);
	hex_to(pk, 32, RFC1_PK);
	hex_to(want, 64, RFC1_SIG);
	assert_int_equal(cr_identity_from_seed(&id, seed), 0);
	assert_memory_equal(id.pk, pk, 32);
	cr_sign(&id, NULL, 0, sig);
	assert_memory_equal(sig, want, 64);
	assert_int_equal(cr_verify(pk, NULL, 0, sig), 0);
	cr_identity_free(&id);
}

static void test_sign_matches_rfc8032_test2_one_byte_message(void **state)
{
	const uint8_t msg[1] = { 0x72 };
	uint8_t seed[32], pk[32], want[64], sig[64];
	struct cr_identity id;

	(void)state;
	hex_to(seed, 32, RFC2_SEED);
	hex_to(pk, 32, RFC2_PK);
	hex_to(want, 64, RFC2_SIG);
	assert_int_equal(cr_identity_from_seed(&id, seed), 0);
	assert_memory_equal(id.pk, pk, 32);
	cr_sign(&id, msg, sizeof(msg), sig);
	assert_memory_equal(sig, want, 64);
	assert_int_equal(cr_verify(pk, msg, sizeof(msg), sig), 0);
	cr_identity_free(&id);
}

static void test_verify_accepts_rfc8032_test1_signature_without_the_secret(void **state)
{
	uint8_t pk[32], sig[64];

	(void)state;
	hex_to(pk, 32, RFC1_PK);
	hex_to(sig, 64, RFC1_SIG);
	assert_int_equal(cr_verify(pk, (const uint8_t *)"", 0, sig), 0);
}

static void test_generated_identity_signs_and_verifies(void **state)
{
	const uint8_t msg[] = "pre-prepare view 3 seq 17";
	struct cr_identity id;
	uint8_t sig[64];

	(void)state;
	assert_int_equal(cr_identity_generate(&id), 0);
	assert_non_null(id.sk);
	cr_sign(&id, msg, sizeof(msg), sig);
	assert_int_equal(cr_verify(id.pk, msg, sizeof(msg), sig), 0);
	cr_identity_free(&id);
}

static void test_generated_identities_differ(void **state)
{
	struct cr_identity a, b;

	(void)state;
	assert_int_equal(cr_identity_generate(&a), 0);
	assert_int_equal(cr_identity_generate(&b), 0);
	assert_memory_not_equal(a.pk, b.pk, 32);
	cr_identity_free(&a);
	cr_identity_free(&b);
}

static void test_identity_from_seed_is_deterministic(void **state)
{
	uint8_t seed[32], sa[64], sb[64];
	struct cr_identity a, b;

	(void)state;
	memset(seed, 0x42, sizeof(seed));
	assert_int_equal(cr_identity_from_seed(&a, seed), 0);
	assert_int_equal(cr_identity_from_seed(&b, seed), 0);
	assert_memory_equal(a.pk, b.pk, 32);
	cr_sign(&a, (const uint8_t *)"m", 1, sa);
	cr_sign(&b, (const uint8_t *)"m", 1, sb);
	assert_memory_equal(sa, sb, 64);
	cr_identity_free(&a);
	cr_identity_free(&b);
}

static void test_verify_rejects_tampered_message_at_every_byte(void **state)
{
	uint8_t msg[40], sig[64];
	struct cr_identity id;

	(void)state;
	randombytes_buf(msg, sizeof(msg));
	assert_int_equal(cr_identity_generate(&id), 0);
	cr_sign(&id, msg, sizeof(msg), sig);
	for (size_t i = 0; i < sizeof(msg); i++) {
		msg[i] ^= 0x01;
		assert_int_equal(cr_verify(id.pk, msg, sizeof(msg), sig), -1);
		msg[i] ^= 0x01;
	}
	assert_int_equal(cr_verify(id.pk, msg, sizeof(msg), sig), 0);
	cr_identity_free(&id);
}

static void test_verify_rejects_truncated_and_extended_message(void **state)
{
	uint8_t msg[41], sig[64];
	struct cr_identity id;

	(void)state;
	randombytes_buf(msg, sizeof(msg));
	assert_int_equal(cr_identity_generate(&id), 0);
	cr_sign(&id, msg, 40, sig);
	assert_int_equal(cr_verify(id.pk, msg, 40, sig), 0);
	assert_int_equal(cr_verify(id.pk, msg, 39, sig), -1);
	assert_int_equal(cr_verify(id.pk, msg, 41, sig), -1);
	assert_int_equal(cr_verify(id.pk, msg, 0, sig), -1);
	cr_identity_free(&id);
}

static void test_verify_rejects_tampered_signature_at_every_byte(void **state)
{
	const uint8_t msg[] = "commit";
	uint8_t sig[64];
	struct cr_identity id;

	(void)state;
	assert_int_equal(cr_identity_generate(&id), 0);
	cr_sign(&id, msg, sizeof(msg), sig);
	for (size_t i = 0; i < sizeof(sig); i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			sig[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(cr_verify(id.pk, msg, sizeof(msg), sig), -1);
			sig[i] ^= (uint8_t)(1u << bit);
		}
	}
	cr_identity_free(&id);
}

static void test_verify_rejects_signature_under_wrong_key(void **state)
{
	const uint8_t msg[] = "checkpoint 100";
	struct cr_identity a, b;
	uint8_t sig[64];

	(void)state;
	assert_int_equal(cr_identity_generate(&a), 0);
	assert_int_equal(cr_identity_generate(&b), 0);
	cr_sign(&a, msg, sizeof(msg), sig);
	assert_int_equal(cr_verify(b.pk, msg, sizeof(msg), sig), -1);
	cr_identity_free(&a);
	cr_identity_free(&b);
}

static void test_verify_rejects_all_zero_signature_and_key(void **state)
{
	uint8_t zeros_pk[32] = { 0 }, zeros_sig[64] = { 0 };
	struct cr_identity id;

	(void)state;
	assert_int_equal(cr_verify(zeros_pk, (const uint8_t *)"x", 1, zeros_sig), -1);
	assert_int_equal(cr_identity_generate(&id), 0);
	assert_int_equal(cr_verify(id.pk, (const uint8_t *)"x", 1, zeros_sig), -1);
	cr_identity_free(&id);
}

static void test_verify_rejects_small_order_public_key(void **state)
{
	/* The identity point (y = 1): with it, s*B == R would verify a forged signature for any
	 * message if small-order keys were accepted. */
	uint8_t pk[32] = { 1 }, sig[64] = { 1 };

	(void)state;
	assert_int_equal(cr_verify(pk, (const uint8_t *)"any message", 11, sig), -1);
}

static void test_verify_rejects_non_canonical_s(void **state)
{
	/* The group order L, little-endian: S + L is the same scalar mod L but a different
	 * encoding, so accepting it would make signatures malleable. */
	static const uint8_t order[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
		0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x10,
	};
	uint8_t pk[32], sig[64];
	unsigned carry = 0;

	(void)state;
	hex_to(pk, 32, RFC1_PK);
	hex_to(sig, 64, RFC1_SIG);
	for (size_t i = 0; i < 32; i++) {
		unsigned v = sig[32 + i] + order[i] + carry;

		sig[32 + i] = (uint8_t)v;
		carry = v >> 8;
	}
	assert_int_equal(carry, 0);
	assert_int_equal(cr_verify(pk, NULL, 0, sig), -1);
}

static void test_identity_from_sk_round_trips(void **state)
{
	struct cr_identity a, b;
	uint8_t sk[64], sig[64];

	(void)state;
	assert_int_equal(cr_identity_generate(&a), 0);
	memcpy(sk, a.sk, sizeof(sk));
	assert_int_equal(cr_identity_from_sk(&b, sk), 0);
	sodium_memzero(sk, sizeof(sk));
	assert_memory_equal(a.pk, b.pk, 32);
	cr_sign(&b, (const uint8_t *)"m", 1, sig);
	assert_int_equal(cr_verify(a.pk, (const uint8_t *)"m", 1, sig), 0);
	cr_identity_free(&a);
	cr_identity_free(&b);
}

static void test_identity_from_sk_refuses_inconsistent_key(void **state)
{
	struct cr_identity a, b;
	uint8_t sk[64];

	(void)state;
	assert_int_equal(cr_identity_generate(&a), 0);
	for (size_t i = 0; i < sizeof(sk); i++) {
		memcpy(sk, a.sk, sizeof(sk));
		sk[i] ^= 0x80;
		memset(&b, 0xa5, sizeof(b));
		assert_int_equal(cr_identity_from_sk(&b, sk), -1);
		/* Fail closed: the identity is left empty, not half built. */
		assert_null(b.sk);
		for (size_t j = 0; j < 32; j++)
			assert_int_equal(b.pk[j], 0);
	}
	sodium_memzero(sk, sizeof(sk));
	cr_identity_free(&a);
}

static void test_identity_from_sk_refuses_public_half_of_another_key(void **state)
{
	struct cr_identity a, b, c;
	uint8_t sk[64];

	(void)state;
	assert_int_equal(cr_identity_generate(&a), 0);
	assert_int_equal(cr_identity_generate(&b), 0);
	memcpy(sk, a.sk, 32);
	memcpy(sk + 32, b.pk, 32);
	assert_int_equal(cr_identity_from_sk(&c, sk), -1);
	assert_null(c.sk);
	sodium_memzero(sk, sizeof(sk));
	cr_identity_free(&a);
	cr_identity_free(&b);
}

static void test_identity_free_is_safe_twice_and_on_empty(void **state)
{
	struct cr_identity id;

	(void)state;
	memset(&id, 0, sizeof(id));
	cr_identity_free(&id);
	assert_int_equal(cr_identity_generate(&id), 0);
	cr_identity_free(&id);
	assert_null(id.sk);
	cr_identity_free(&id);
}

static void sign_with_empty_identity(void)
{
	struct cr_identity id;
	uint8_t sig[64];

	memset(&id, 0, sizeof(id));
	cr_sign(&id, (const uint8_t *)"m", 1, sig);
}

static void test_sign_with_empty_identity_aborts(void **state)
{
	int status;

	(void)state;
	status = status_of_child(sign_with_empty_identity);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

static struct cr_identity sealed_id;

static void write_into_sealed_key(void)
{
	((volatile uint8_t *)sealed_id.sk)[0] ^= 1;
}

static void test_identity_secret_key_is_read_only(void **state)
{
	int status;

	(void)state;
	assert_int_equal(cr_identity_generate(&sealed_id), 0);
	/* The write must kill the child (SIGSEGV; under ASan, its SEGV report and exit 1). */
	status = status_of_child(write_into_sealed_key);
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_identity_free(&sealed_id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_succeeds_and_is_idempotent),
		cmocka_unit_test(test_sign_matches_rfc8032_test1_empty_message),
		cmocka_unit_test(test_sign_matches_rfc8032_test2_one_byte_message),
		cmocka_unit_test(test_verify_accepts_rfc8032_test1_signature_without_the_secret),
		cmocka_unit_test(test_generated_identity_signs_and_verifies),
		cmocka_unit_test(test_generated_identities_differ),
		cmocka_unit_test(test_identity_from_seed_is_deterministic),
		cmocka_unit_test(test_verify_rejects_tampered_message_at_every_byte),
		cmocka_unit_test(test_verify_rejects_truncated_and_extended_message),
		cmocka_unit_test(test_verify_rejects_tampered_signature_at_every_byte),
		cmocka_unit_test(test_verify_rejects_signature_under_wrong_key),
		cmocka_unit_test(test_verify_rejects_all_zero_signature_and_key),
		cmocka_unit_test(test_verify_rejects_small_order_public_key),
		cmocka_unit_test(test_verify_rejects_non_canonical_s),
		cmocka_unit_test(test_identity_from_sk_round_trips),
		cmocka_unit_test(test_identity_from_sk_refuses_inconsistent_key),
		cmocka_unit_test(test_identity_from_sk_refuses_public_half_of_another_key),
		cmocka_unit_test(test_identity_free_is_safe_twice_and_on_empty),
		cmocka_unit_test(test_sign_with_empty_identity_aborts),
		cmocka_unit_test(test_identity_secret_key_is_read_only),
	};

	if (cr_init() != 0)
		return 1;
	return cmocka_run_group_tests_name("cr_sign", tests, NULL, NULL);
}
