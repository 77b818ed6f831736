/*
 * Unit tests for crypto/cr_mac (keyed BLAKE2b-256 MACs) and crypto/cr_secret (the guarded
 * buffers the keys live in). Known answers were computed independently with Python's
 * hashlib.blake2b from the constructions documented in cr_mac.h.
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

#include "crypto/cr_mac.h"
#include "crypto/cr_seal.h"
#include "crypto/cr_secret.h"
#include "crypto/cr_sign.h"

static void hex_to(uint8_t *out, size_t n, const char *hex)
{
	size_t got = 0;

	assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL), 0);
	assert_int_equal(got, n);
}

static void counting_bytes(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)i;
}

/* Runs fn in a silenced child and returns whether it died rather than exiting cleanly. */
static int dies_in_child(void (*fn)(void))
{
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		/* Let a fault kill the child instead of cmocka reporting it as a failed test. */
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
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---------------------------------------------------------------------------------------------
 * cr_mac */

static void test_mac_matches_known_answer(void **state)
{
	uint8_t raw[32], want[32], mac[32];
	struct cr_mac_key key;

	(void)state;
	counting_bytes(raw, sizeof(raw));
	/* BLAKE2b-256(key = 00 01 .. 1f, "abc") */
	hex_to(want, 32, "d63a32d3e44738d7907f964316c241adaba0abfeabc32349677578a15a203f7f");
	assert_int_equal(cr_mac_key_from_bytes(&key, raw), 0);
	assert_int_equal(cr_mac_compute(mac, &key, "abc", 3), 0);
	assert_memory_equal(mac, want, 32);
	assert_int_equal(cr_mac_verify(want, &key, "abc", 3), 0);
	cr_mac_key_free(&key);
}

static void test_mac_derived_key_matches_known_answer(void **state)
{
	uint8_t secret[32], want[32], mac[32];
	struct cr_mac_key key;

	(void)state;
	counting_bytes(secret, sizeof(secret));
	/* k = BLAKE2b-256(key = secret, 0x0a "mac.derive" 0x09 "pbft 1->2"); MAC of "abc". */
	hex_to(want, 32, "edd48022cbbcfdb106894bc3498b31e339dfd2957173c9ad8f12fb89024ebb02");
	assert_int_equal(cr_mac_key_derive(&key, secret, sizeof(secret), "pbft 1->2"), 0);
	assert_int_equal(cr_mac_compute(mac, &key, "abc", 3), 0);
	assert_memory_equal(mac, want, 32);
	cr_mac_key_free(&key);
}

static void test_mac_generated_key_computes_and_verifies(void **state)
{
	const char msg[] = "prepare view 1 seq 9";
	struct cr_mac_key key;
	uint8_t mac[32];

	(void)state;
	assert_int_equal(cr_mac_key_generate(&key), 0);
	assert_int_equal(cr_mac_compute(mac, &key, msg, sizeof(msg)), 0);
	assert_int_equal(cr_mac_verify(mac, &key, msg, sizeof(msg)), 0);
	cr_mac_key_free(&key);
}

static void test_mac_generated_keys_differ(void **state)
{
	struct cr_mac_key a, b;

	(void)state;
	assert_int_equal(cr_mac_key_generate(&a), 0);
	assert_int_equal(cr_mac_key_generate(&b), 0);
	assert_memory_not_equal(a.s.p, b.s.p, CR_MAC_KEY_BYTES);
	cr_mac_key_free(&a);
	cr_mac_key_free(&b);
}

static void test_mac_of_empty_message_verifies(void **state)
{
	struct cr_mac_key key;
	uint8_t mac[32];

	(void)state;
	assert_int_equal(cr_mac_key_generate(&key), 0);
	assert_int_equal(cr_mac_compute(mac, &key, NULL, 0), 0);
	assert_int_equal(cr_mac_verify(mac, &key, NULL, 0), 0);
	assert_int_equal(cr_mac_verify(mac, &key, "x", 1), -1);
	cr_mac_key_free(&key);
}

static void test_mac_verify_rejects_tampered_mac_at_every_bit(void **state)
{
	struct cr_mac_key key;
	uint8_t mac[32];

	(void)state;
	assert_int_equal(cr_mac_key_generate(&key), 0);
	assert_int_equal(cr_mac_compute(mac, &key, "m", 1), 0);
	for (size_t i = 0; i < sizeof(mac); i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			mac[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(cr_mac_verify(mac, &key, "m", 1), -1);
			mac[i] ^= (uint8_t)(1u << bit);
		}
	}
	cr_mac_key_free(&key);
}

static void test_mac_verify_rejects_tampered_truncated_and_extended_message(void **state)
{
	uint8_t msg[33], mac[32];
	struct cr_mac_key key;

	(void)state;
	randombytes_buf(msg, sizeof(msg));
	assert_int_equal(cr_mac_key_generate(&key), 0);
	assert_int_equal(cr_mac_compute(mac, &key, msg, 32), 0);
	for (size_t i = 0; i < 32; i++) {
		msg[i] ^= 0x04;
		assert_int_equal(cr_mac_verify(mac, &key, msg, 32), -1);
		msg[i] ^= 0x04;
	}
	assert_int_equal(cr_mac_verify(mac, &key, msg, 31), -1);
	assert_int_equal(cr_mac_verify(mac, &key, msg, 33), -1);
	assert_int_equal(cr_mac_verify(mac, &key, msg, 32), 0);
	cr_mac_key_free(&key);
}

static void test_mac_verify_rejects_wrong_key(void **state)
{
	struct cr_mac_key a, b;
	uint8_t mac[32];

	(void)state;
	assert_int_equal(cr_mac_key_generate(&a), 0);
	assert_int_equal(cr_mac_key_generate(&b), 0);
	assert_int_equal(cr_mac_compute(mac, &a, "m", 1), 0);
	assert_int_equal(cr_mac_verify(mac, &b, "m", 1), -1);
	cr_mac_key_free(&a);
	cr_mac_key_free(&b);
}

static void test_mac_with_empty_key_fails_closed(void **state)
{
	static const uint8_t zeros[32];
	struct cr_mac_key key;
	uint8_t mac[32];

	(void)state;
	memset(&key, 0, sizeof(key));
	memset(mac, 0xee, sizeof(mac));
	assert_int_equal(cr_mac_compute(mac, &key, "m", 1), -1);
	assert_memory_equal(mac, zeros, 32);
	/* An all-zero MAC from a failed compute must not verify either. */
	assert_int_equal(cr_mac_verify(mac, &key, "m", 1), -1);
}

static void test_mac_rejects_null_message_with_length(void **state)
{
	struct cr_mac_key key;
	uint8_t mac[32];

	(void)state;
	assert_int_equal(cr_mac_key_generate(&key), 0);
	assert_int_equal(cr_mac_compute(mac, &key, NULL, 5), -1);
	assert_int_equal(cr_mac_verify(mac, &key, NULL, 5), -1);
	cr_mac_key_free(&key);
}

static void test_mac_derive_is_deterministic(void **state)
{
	uint8_t secret[32], m1[32], m2[32];
	struct cr_mac_key a, b;

	(void)state;
	randombytes_buf(secret, sizeof(secret));
	assert_int_equal(cr_mac_key_derive(&a, secret, sizeof(secret), "ctx"), 0);
	assert_int_equal(cr_mac_key_derive(&b, secret, sizeof(secret), "ctx"), 0);
	assert_int_equal(cr_mac_compute(m1, &a, "m", 1), 0);
	assert_int_equal(cr_mac_compute(m2, &b, "m", 1), 0);
	assert_memory_equal(m1, m2, 32);
	assert_int_equal(cr_mac_verify(m1, &b, "m", 1), 0);
	cr_mac_key_free(&a);
	cr_mac_key_free(&b);
}

static void test_mac_derive_separates_labels_and_secrets(void **state)
{
	uint8_t secret[32], other[32];
	struct cr_mac_key a, b, c;

	(void)state;
	randombytes_buf(secret, sizeof(secret));
	memcpy(other, secret, sizeof(other));
	other[31] ^= 1;
	assert_int_equal(cr_mac_key_derive(&a, secret, sizeof(secret), "replica 1->2"), 0);
	assert_int_equal(cr_mac_key_derive(&b, secret, sizeof(secret), "replica 2->1"), 0);
	assert_int_equal(cr_mac_key_derive(&c, other, sizeof(other), "replica 1->2"), 0);
	assert_memory_not_equal(a.s.p, b.s.p, 32);
	assert_memory_not_equal(a.s.p, c.s.p, 32);
	/* The derived key is not the secret itself. */
	assert_memory_not_equal(a.s.p, secret, 32);
	cr_mac_key_free(&a);
	cr_mac_key_free(&b);
	cr_mac_key_free(&c);
}

static void test_mac_derive_accepts_secret_lengths_16_to_64(void **state)
{
	uint8_t secret[65];
	struct cr_mac_key key;

	(void)state;
	randombytes_buf(secret, sizeof(secret));
	assert_int_equal(cr_mac_key_derive(&key, secret, 16, "l"), 0);
	cr_mac_key_free(&key);
	assert_int_equal(cr_mac_key_derive(&key, secret, 64, "l"), 0);
	cr_mac_key_free(&key);
}

static void test_mac_derive_rejects_bad_input_and_leaves_key_empty(void **state)
{
	char label[CR_MAC_LABEL_MAX + 2];
	uint8_t secret[65];
	struct cr_mac_key key;

	(void)state;
	randombytes_buf(secret, sizeof(secret));
	memset(label, 'l', sizeof(label));
	label[CR_MAC_LABEL_MAX + 1] = '\0';

	memset(&key, 0xa5, sizeof(key));
	assert_int_equal(cr_mac_key_derive(&key, secret, 15, "l"), -1);
	assert_null(key.s.p);
	assert_int_equal(cr_mac_key_derive(&key, secret, 65, "l"), -1);
	assert_null(key.s.p);
	assert_int_equal(cr_mac_key_derive(&key, secret, 0, "l"), -1);
	assert_null(key.s.p);
	assert_int_equal(cr_mac_key_derive(&key, NULL, 32, "l"), -1);
	assert_null(key.s.p);
	assert_int_equal(cr_mac_key_derive(&key, secret, 32, NULL), -1);
	assert_null(key.s.p);
	assert_int_equal(cr_mac_key_derive(&key, secret, 32, label), -1); /* 256 bytes */
	assert_null(key.s.p);
	label[CR_MAC_LABEL_MAX] = '\0';
	assert_int_equal(cr_mac_key_derive(&key, secret, 32, label), 0); /* 255 bytes */
	cr_mac_key_free(&key);
}

static void test_mac_key_from_bytes_copies_the_key(void **state)
{
	uint8_t raw[32], mac1[32], mac2[32];
	struct cr_mac_key key;

	(void)state;
	randombytes_buf(raw, sizeof(raw));
	assert_int_equal(cr_mac_key_from_bytes(&key, raw), 0);
	assert_int_equal(cr_mac_compute(mac1, &key, "m", 1), 0);
	sodium_memzero(raw, sizeof(raw));
	assert_int_equal(cr_mac_compute(mac2, &key, "m", 1), 0);
	assert_memory_equal(mac1, mac2, 32);
	cr_mac_key_free(&key);
}

static void test_mac_key_free_is_safe_twice_and_on_empty(void **state)
{
	struct cr_mac_key key;

	(void)state;
	memset(&key, 0, sizeof(key));
	cr_mac_key_free(&key);
	assert_int_equal(cr_mac_key_generate(&key), 0);
	cr_mac_key_free(&key);
	assert_null(key.s.p);
	cr_mac_key_free(&key);
}

static struct cr_mac_key sealed_key;

static void write_into_sealed_mac_key(void)
{
	((volatile uint8_t *)sealed_key.s.p)[0] ^= 1;
}

static void test_mac_key_is_read_only(void **state)
{
	(void)state;
	assert_int_equal(cr_mac_key_generate(&sealed_key), 0);
	assert_true(dies_in_child(write_into_sealed_mac_key));
	cr_mac_key_free(&sealed_key);
}

/* ---------------------------------------------------------------------------------------------
 * cr_secret */

static void test_secret_alloc_gives_zeroed_writable_memory(void **state)
{
	static const uint8_t zeros[100];
	struct cr_secret s;

	(void)state;
	assert_int_equal(cr_secret_alloc(&s, 100), 0);
	assert_non_null(s.p);
	assert_int_equal(s.len, 100);
	assert_memory_equal(s.p, zeros, 100);
	memset(s.p, 0x11, 100);
	cr_secret_free(&s);
	assert_null(s.p);
	assert_int_equal(s.len, 0);
}

static void test_secret_alloc_rejects_zero_and_oversized_lengths(void **state)
{
	struct cr_secret s;

	(void)state;
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(cr_secret_alloc(&s, 0), -1);
	assert_null(s.p);
	assert_int_equal(s.len, 0);
	assert_int_equal(cr_secret_alloc(&s, CR_SECRET_MAX + 1), -1);
	assert_null(s.p);
	assert_int_equal(cr_secret_alloc(&s, SIZE_MAX), -1);
	assert_null(s.p);
	assert_int_equal(cr_secret_alloc(&s, CR_SECRET_MAX), 0);
	cr_secret_free(&s);
}

static void test_secret_from_bytes_copies(void **state)
{
	uint8_t src[48];
	struct cr_secret s;

	(void)state;
	randombytes_buf(src, sizeof(src));
	assert_int_equal(cr_secret_from_bytes(&s, src, sizeof(src)), 0);
	assert_int_equal(s.len, sizeof(src));
	assert_memory_equal(s.p, src, sizeof(src));
	cr_secret_free(&s);
	assert_int_equal(cr_secret_from_bytes(&s, src, 0), -1);
	assert_null(s.p);
}

static void test_secret_readonly_then_readwrite_allows_writing_again(void **state)
{
	struct cr_secret s;

	(void)state;
	assert_int_equal(cr_secret_alloc(&s, 32), 0);
	s.p[0] = 1;
	assert_int_equal(cr_secret_readonly(&s), 0);
	assert_int_equal(s.p[0], 1); /* still readable */
	assert_int_equal(cr_secret_readwrite(&s), 0);
	s.p[0] = 2;
	assert_int_equal(s.p[0], 2);
	/* Freeing a read-only secret is allowed (sodium_free unprotects it to wipe it). */
	assert_int_equal(cr_secret_readonly(&s), 0);
	cr_secret_free(&s);
}

static void test_secret_protection_changes_fail_on_empty_secret(void **state)
{
	struct cr_secret s = { NULL, 0 };

	(void)state;
	assert_int_equal(cr_secret_readonly(&s), -1);
	assert_int_equal(cr_secret_readwrite(&s), -1);
}

static void test_secret_free_is_safe_twice_and_on_empty(void **state)
{
	struct cr_secret s = { NULL, 0 };

	(void)state;
	cr_secret_free(&s);
	assert_int_equal(cr_secret_alloc(&s, 8), 0);
	cr_secret_free(&s);
	cr_secret_free(&s);
	assert_null(s.p);
}

static struct cr_secret sealed_secret;

static void write_into_readonly_secret(void)
{
	((volatile uint8_t *)sealed_secret.p)[0] = 1;
}

static void overrun_secret(void)
{
	/* One byte past the end: the guard page (or, when len is not page aligned, the canary that
	 * sodium_free checks) must catch it. */
	((volatile uint8_t *)sealed_secret.p)[sealed_secret.len] = 1;
	cr_secret_free(&sealed_secret);
}

static void test_secret_readonly_memory_faults_on_write(void **state)
{
	(void)state;
	assert_int_equal(cr_secret_alloc(&sealed_secret, 32), 0);
	assert_int_equal(cr_secret_readonly(&sealed_secret), 0);
	assert_true(dies_in_child(write_into_readonly_secret));
	cr_secret_free(&sealed_secret);
}

static void test_secret_overrun_is_caught(void **state)
{
	(void)state;
	assert_int_equal(cr_secret_alloc(&sealed_secret, 32), 0);
	assert_true(dies_in_child(overrun_secret));
	cr_secret_free(&sealed_secret);
}

/* Both ends of a pair derive the same key per direction, the two directions differ, another
 * pair differs, and a public key with no X25519 form is refused with a zeroed key. */
static void test_link_keys_agree_per_direction_and_pair(void **state)
{
	struct cr_identity a = {0}, b = {0}, c = {0};
	uint8_t ab_at_a[CR_LINK_KEY_BYTES], ab_at_b[CR_LINK_KEY_BYTES];
	uint8_t ba_at_a[CR_LINK_KEY_BYTES], ba_at_b[CR_LINK_KEY_BYTES];
	uint8_t ac[CR_LINK_KEY_BYTES], zero[CR_LINK_KEY_BYTES] = {0}, bad[CR_PK_BYTES] = {0};
	uint8_t out[CR_LINK_KEY_BYTES];

	(void)state;
	assert_int_equal(cr_identity_generate(&a), 0);
	assert_int_equal(cr_identity_generate(&b), 0);
	assert_int_equal(cr_identity_generate(&c), 0);
	assert_int_equal(cr_link_key(ab_at_a, &a, b.pk, 0, 1), 0);
	assert_int_equal(cr_link_key(ab_at_b, &b, a.pk, 0, 1), 0);
	assert_int_equal(cr_link_key(ba_at_a, &a, b.pk, 1, 0), 0);
	assert_int_equal(cr_link_key(ba_at_b, &b, a.pk, 1, 0), 0);
	assert_memory_equal(ab_at_a, ab_at_b, CR_LINK_KEY_BYTES);
	assert_memory_equal(ba_at_a, ba_at_b, CR_LINK_KEY_BYTES);
	assert_memory_not_equal(ab_at_a, ba_at_a, CR_LINK_KEY_BYTES);
	assert_int_equal(cr_link_key(ac, &a, c.pk, 0, 1), 0);
	assert_memory_not_equal(ab_at_a, ac, CR_LINK_KEY_BYTES);
	memset(out, 0xee, sizeof(out));
	assert_int_equal(cr_link_key(out, &a, bad, 0, 1), -1);
	assert_memory_equal(out, zero, CR_LINK_KEY_BYTES);
	cr_identity_free(&a);
	cr_identity_free(&b);
	cr_identity_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_matches_known_answer),
		cmocka_unit_test(test_link_keys_agree_per_direction_and_pair),
		cmocka_unit_test(test_mac_derived_key_matches_known_answer),
		cmocka_unit_test(test_mac_generated_key_computes_and_verifies),
		cmocka_unit_test(test_mac_generated_keys_differ),
		cmocka_unit_test(test_mac_of_empty_message_verifies),
		cmocka_unit_test(test_mac_verify_rejects_tampered_mac_at_every_bit),
		cmocka_unit_test(test_mac_verify_rejects_tampered_truncated_and_extended_message),
		cmocka_unit_test(test_mac_verify_rejects_wrong_key),
		cmocka_unit_test(test_mac_with_empty_key_fails_closed),
		cmocka_unit_test(test_mac_rejects_null_message_with_length),
		cmocka_unit_test(test_mac_derive_is_deterministic),
		cmocka_unit_test(test_mac_derive_separates_labels_and_secrets),
		cmocka_unit_test(test_mac_derive_accepts_secret_lengths_16_to_64),
		cmocka_unit_test(test_mac_derive_rejects_bad_input_and_leaves_key_empty),
		cmocka_unit_test(test_mac_key_from_bytes_copies_the_key),
		cmocka_unit_test(test_mac_key_free_is_safe_twice_and_on_empty),
		cmocka_unit_test(test_mac_key_is_read_only),
		cmocka_unit_test(test_secret_alloc_gives_zeroed_writable_memory),
		cmocka_unit_test(test_secret_alloc_rejects_zero_and_oversized_lengths),
		cmocka_unit_test(test_secret_from_bytes_copies),
		cmocka_unit_test(test_secret_readonly_then_readwrite_allows_writing_again),
		cmocka_unit_test(test_secret_protection_changes_fail_on_empty_secret),
		cmocka_unit_test(test_secret_free_is_safe_twice_and_on_empty),
		cmocka_unit_test(test_secret_readonly_memory_faults_on_write),
		cmocka_unit_test(test_secret_overrun_is_caught),
	};

	if (cr_init() != 0)
		return 1;
	return cmocka_run_group_tests_name("cr_mac and cr_secret", tests, NULL, NULL);
}
