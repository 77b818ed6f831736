/*
 * Unit tests for crypto/cr_keyfile: the bft-key v1 format (keys/README.md), its file rules
 * (modes, no overwrite, atomic replacement) and every way a file can be wrong. Files live in a
 * fresh mkdtemp directory under /tmp that the group teardown removes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "crypto/cr_hash.h"
#include "crypto/cr_keyfile.h"
#include "crypto/cr_sign.h"

static char dir[64];

/* A path in the test directory; four rotating buffers, so a few can be live at once. */
static const char *path_of(const char *name)
{
	static char bufs[4][256];
	static unsigned next;
	char *b = bufs[next++ % 4];
	int n = snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < sizeof(bufs[0]));
	return b;
}

/* Removes every file in the test directory (the suite creates no subdirectories except where a
 * test removes its own). */
static void dir_empty(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[512];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) != 0)
			rmdir(p);
	}
	closedir(d);
}

static int dir_count(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_cr_keyfile.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	return cr_init();
}

static int group_teardown(void **state)
{
	(void)state;
	dir_empty();
	return rmdir(dir);
}

static int test_teardown(void **state)
{
	(void)state;
	dir_empty();
	return 0;
}

static void file_put(const char *path, const void *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static size_t file_get(const char *path, char *buf, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, max);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Builds a file's text from its first four lines' values, with a correct check line, so that
 * tests can produce files that are well-checksummed but wrong in one field. */
static size_t text_make(char *out, size_t max, const char *header, const char *kind,
			const char *id, const char *keyhex)
{
	uint8_t d[32];
	char hex[33];
	int n, m;

	n = snprintf(out, max, "%s\nkind: %s\nid: %s\nkey: %s\n", header, kind, id, keyhex);
	assert_true(n > 0 && (size_t)n < max);
	cr_digest(d, "keyfile.check", out, (size_t)n);
	sodium_bin2hex(hex, sizeof(hex), d, 16);
	m = snprintf(out + n, max - (size_t)n, "check: %s\n", hex);
	assert_true(m > 0 && (size_t)(n + m) < max);
	return (size_t)(n + m);
}

/* A message must say something, and never contain 8 consecutive hex digits of the key. */
static void assert_err_clean(const char *err, const char *keyhex)
{
	size_t n = strlen(keyhex);

	assert_true(strlen(err) > 0);
	for (size_t i = 0; i + 8 <= n; i++) {
		char window[9];

		memcpy(window, keyhex + i, 8);
		window[8] = '\0';
		if (strstr(err, window) != NULL)
			fail_msg("error message leaks key material: %s", err);
	}
}

static void assert_err_has(const char *err, const char *want)
{
	if (strstr(err, want) == NULL)
		fail_msg("expected '%s' in error message: %s", want, err);
}

static void key_bytes(uint8_t *k, size_t n, uint8_t salt)
{
	for (size_t i = 0; i < n; i++)
		k[i] = (uint8_t)(i * 13 + salt);
}

static const struct cr_key_id replica2 = { CR_KEY_REPLICA, 2 };

/* Writes a valid coin-share file for replica 2 at path; returns its key hex in keyhex[65]. */
static void valid_secret_file(const char *path, char keyhex[65])
{
	char err[CR_KEYFILE_ERR_BYTES];
	uint8_t key[32];

	key_bytes(key, sizeof(key), 0x5c);
	sodium_bin2hex(keyhex, 65, key, sizeof(key));
	assert_int_equal(cr_keyfile_write_secret(path, CR_KEY_COIN_SHARE, &replica2, key, 32, 0, err,
						 sizeof(err)), 0);
}

/* ---------------------------------------------------------------------------------------------
 * The pure layer. */

static void test_keyfile_kind_table_names_lengths_and_secrecy(void **state)
{
	(void)state;
	assert_string_equal(cr_key_kind_name(CR_KEY_ED25519_SECRET), "ed25519-secret");
	assert_string_equal(cr_key_kind_name(CR_KEY_ED25519_PUBLIC), "ed25519-public");
	assert_string_equal(cr_key_kind_name(CR_KEY_COIN_SHARE), "coin-share");
	assert_string_equal(cr_key_kind_name(CR_KEY_ENC_SHARE), "enc-share");
	assert_string_equal(cr_key_kind_name(CR_KEY_COIN_PUBLIC), "coin-public");
	assert_string_equal(cr_key_kind_name(CR_KEY_ENC_PUBLIC), "enc-public");
	assert_string_equal(cr_key_kind_name(CR_KEY_MAC), "mac-key");
	assert_null(cr_key_kind_name((enum cr_key_kind)0));
	assert_null(cr_key_kind_name((enum cr_key_kind)99));
	assert_int_equal(cr_key_kind_len(CR_KEY_ED25519_SECRET), 64);
	assert_int_equal(cr_key_kind_len(CR_KEY_COIN_SHARE), 32);
	assert_int_equal(cr_key_kind_len((enum cr_key_kind)99), 0);
	assert_true(cr_key_kind_is_secret(CR_KEY_ED25519_SECRET));
	assert_true(cr_key_kind_is_secret(CR_KEY_COIN_SHARE));
	assert_true(cr_key_kind_is_secret(CR_KEY_ENC_SHARE));
	assert_true(cr_key_kind_is_secret(CR_KEY_MAC));
	assert_false(cr_key_kind_is_secret(CR_KEY_ED25519_PUBLIC));
	assert_false(cr_key_kind_is_secret(CR_KEY_COIN_PUBLIC));
	assert_false(cr_key_kind_is_secret(CR_KEY_ENC_PUBLIC));
	assert_false(cr_key_kind_is_secret((enum cr_key_kind)99));
}

static void test_keyfile_id_format_covers_every_role(void **state)
{
	const struct cr_key_id r = { CR_KEY_REPLICA, 4294967295u }, c = { CR_KEY_CLIENT, UINT64_MAX },
			       g = { CR_KEY_GROUP, 0 }, bad_g = { CR_KEY_GROUP, 1 },
			       bad_r = { CR_KEY_REPLICA, 4294967296u };
	char buf[32];

	(void)state;
	assert_string_equal(cr_key_id_format(&r, buf, sizeof(buf)), "replica 4294967295");
	assert_string_equal(cr_key_id_format(&c, buf, sizeof(buf)), "client 18446744073709551615");
	assert_string_equal(cr_key_id_format(&g, buf, sizeof(buf)), "group");
	assert_string_equal(cr_key_id_format(&bad_g, buf, sizeof(buf)), "invalid id");
	assert_string_equal(cr_key_id_format(&bad_r, buf, sizeof(buf)), "invalid id");
	assert_string_equal(cr_key_id_format(NULL, buf, sizeof(buf)), "invalid id");
	assert_string_equal(cr_key_id_format(&r, buf, 8), "replica");
}

static void test_keyfile_encode_produces_the_documented_format(void **state)
{
	static const char want[] =
		"bft-key v1\n"
		"kind: coin-share\n"
		"id: replica 2\n"
		"key: 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
		/* First 16 bytes of BLAKE2b-256(0x0d "keyfile.check" || the lines above),
		 * computed independently with Python's hashlib. */
		"check: 3d00e5696640af2572d8a36abf644352\n";
	char out[CR_KEYFILE_MAX], err[CR_KEYFILE_ERR_BYTES];
	uint8_t key[32];
	size_t len = 0;

	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	assert_int_equal(cr_keyfile_encode("mem", out, sizeof(out), &len, CR_KEY_COIN_SHARE,
					   &replica2, key, 32, err, sizeof(err)), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
}

static void test_keyfile_decodes_the_example_in_keys_readme(void **state)
{
	static const char text[] =
		"bft-key v1\n"
		"kind: ed25519-secret\n"
		"id: replica 2\n"
		"key: 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
		"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n"
		"check: 60712dde3a097571b09b2a24be40d9de\n";
	char err[CR_KEYFILE_ERR_BYTES];
	struct cr_secret key = { NULL, 0 };
	struct cr_identity ident;
	enum cr_key_kind kind;
	struct cr_key_id id;

	(void)state;
	assert_int_equal(cr_keyfile_decode("README", text, strlen(text), &kind, &id, &key, err,
					   sizeof(err)), 0);
	assert_int_equal(kind, CR_KEY_ED25519_SECRET);
	assert_int_equal(id.role, CR_KEY_REPLICA);
	assert_true(id.num == 2);
	assert_int_equal(cr_identity_from_sk(&ident, key.p), 0);
	cr_identity_free(&ident);
	cr_secret_free(&key);
}

static void test_keyfile_decode_round_trips_every_kind_and_role(void **state)
{
	static const enum cr_key_kind all[] = { CR_KEY_ED25519_SECRET, CR_KEY_ED25519_PUBLIC,
						CR_KEY_COIN_SHARE, CR_KEY_ENC_SHARE,
						CR_KEY_COIN_PUBLIC, CR_KEY_ENC_PUBLIC, CR_KEY_MAC };
	static const struct cr_key_id ids[] = { { CR_KEY_REPLICA, 0 }, { CR_KEY_REPLICA, 4294967295u },
						{ CR_KEY_CLIENT, 7 }, { CR_KEY_CLIENT, UINT64_MAX },
						{ CR_KEY_GROUP, 0 } };
	char out[CR_KEYFILE_MAX], err[CR_KEYFILE_ERR_BYTES];

	(void)state;
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
		for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
			uint8_t key[CR_KEYFILE_KEY_MAX];
			size_t klen = cr_key_kind_len(all[k]), len = 0;
			enum cr_key_kind kind;
			struct cr_key_id id;
			struct cr_secret got = { NULL, 0 };

			key_bytes(key, klen, (uint8_t)(k * 7 + i));
			assert_int_equal(cr_keyfile_encode("mem", out, sizeof(out), &len, all[k],
							   &ids[i], key, klen, err, sizeof(err)), 0);
			assert_int_equal(cr_keyfile_decode("mem", out, len, &kind, &id, &got, err,
							   sizeof(err)), 0);
			assert_string_equal(err, "");
			assert_int_equal(kind, all[k]);
			assert_int_equal(id.role, ids[i].role);
			assert_true(id.num == ids[i].num);
			assert_int_equal(got.len, klen);
			assert_memory_equal(got.p, key, klen);
			cr_secret_free(&got);
		}
	}
}

static void test_keyfile_encode_rejects_bad_arguments_and_zeroes_output(void **state)
{
	const struct cr_key_id bad_r = { CR_KEY_REPLICA, 4294967296u }, bad_g = { CR_KEY_GROUP, 3 },
			       bad_role = { (enum cr_key_role)0, 1 };
	char out[CR_KEYFILE_MAX], err[CR_KEYFILE_ERR_BYTES];
	uint8_t key[64] = { 1 };
	size_t len = 12345;

	(void)state;
	memset(out, 'x', sizeof(out));
	assert_int_equal(cr_keyfile_encode("f", out, sizeof(out), &len, (enum cr_key_kind)42,
					   &replica2, key, 32, err, sizeof(err)), -1);
	assert_err_has(err, "unknown key kind");
	assert_int_equal(out[0], 0);
	assert_int_equal(cr_keyfile_encode("f", out, sizeof(out), &len, CR_KEY_COIN_SHARE,
					   &replica2, key, 31, err, sizeof(err)), -1);
	assert_err_has(err, "32 bytes");
	assert_int_equal(cr_keyfile_encode("f", out, sizeof(out), &len, CR_KEY_ED25519_SECRET,
					   &replica2, key, 32, err, sizeof(err)), -1);
	assert_int_equal(cr_keyfile_encode("f", out, sizeof(out), &len, CR_KEY_COIN_SHARE,
					   &replica2, NULL, 32, err, sizeof(err)), -1);
	assert_int_equal(cr_keyfile_encode("f", out, sizeof(out), &len, CR_KEY_COIN_SHARE, &bad_r,
					   key, 32, err, sizeof(err)), -1);
	assert_err_has(err, "invalid key owner");
	assert_int_equal(cr_keyfile_encode("f", out, sizeof(out), &len, CR_KEY_COIN_SHARE, &bad_g,
					   key, 32, err, sizeof(err)), -1);
	assert_int_equal(cr_keyfile_encode("f", out, sizeof(out), &len, CR_KEY_COIN_SHARE,
					   &bad_role, key, 32, err, sizeof(err)), -1);
	assert_int_equal(cr_keyfile_encode("f", out, sizeof(out), &len, CR_KEY_COIN_SHARE, NULL,
					   key, 32, err, sizeof(err)), -1);
	assert_int_equal(len, 12345);
	/* One byte short of the room needed (152 bytes for this file), then exactly enough. */
	assert_int_equal(cr_keyfile_encode("f", out, 151, &len, CR_KEY_COIN_SHARE, &replica2, key,
					   32, err, sizeof(err)), -1);
	assert_err_has(err, "too small");
	assert_int_equal(len, 12345);
	assert_int_equal(cr_keyfile_encode("f", out, 152, &len, CR_KEY_COIN_SHARE, &replica2, key,
					   32, err, sizeof(err)), 0);
	assert_int_equal(len, 152);
}

static void test_keyfile_decode_survives_random_and_mutated_input(void **state)
{
	uint8_t seed[randombytes_SEEDBYTES] = { 42 }, rnd[CR_KEYFILE_MAX + 8];
	char valid[CR_KEYFILE_MAX], buf[CR_KEYFILE_MAX + 8], err[CR_KEYFILE_ERR_BYTES];
	uint8_t key[32];
	size_t vlen = 0;

	(void)state;
	key_bytes(key, 32, 1);
	assert_int_equal(cr_keyfile_encode("mem", valid, sizeof(valid), &vlen, CR_KEY_ENC_SHARE,
					   &replica2, key, 32, err, sizeof(err)), 0);
	for (int round = 0; round < 20000; round++) {
		enum cr_key_kind kind = (enum cr_key_kind)0;
		struct cr_key_id id = { (enum cr_key_role)0, 0 };
		struct cr_secret got = { NULL, 0 };
		size_t len;

		seed[1] = (uint8_t)round;
		seed[2] = (uint8_t)(round >> 8);
		randombytes_buf_deterministic(rnd, sizeof(rnd), seed);
		if (round % 2 == 0) {
			/* Pure noise of random length. */
			len = (size_t)(rnd[0] | rnd[1] << 8) % (CR_KEYFILE_MAX + 1);
			memcpy(buf, rnd + 8, len);
		} else {
			/* A valid file with 1 to 3 random bytes overwritten, or cut short. */
			len = vlen;
			memcpy(buf, valid, vlen);
			for (int m = 0; m <= rnd[0] % 3; m++)
				buf[rnd[1 + m] % vlen] = (char)rnd[4 + m];
			if (rnd[7] & 1)
				len = rnd[5] % vlen;
			if (len == vlen && memcmp(buf, valid, vlen) == 0)
				continue; /* the mutation happened to restore the file */
		}
		assert_int_equal(cr_keyfile_decode("mem", buf, len, &kind, &id, &got, err,
						   sizeof(err)), -1);
		assert_null(got.p);
		assert_int_equal(kind, 0);
		assert_true(strlen(err) > 0);
	}
}

static void test_keyfile_decode_rejects_oversized_and_null_input(void **state)
{
	static char big[CR_KEYFILE_MAX + 1];
	char err[CR_KEYFILE_ERR_BYTES];
	enum cr_key_kind kind;
	struct cr_key_id id;
	struct cr_secret got = { NULL, 0 };

	(void)state;
	memset(big, 'a', sizeof(big));
	assert_int_equal(cr_keyfile_decode("mem", big, sizeof(big), &kind, &id, &got, err,
					   sizeof(err)), -1);
	assert_err_has(err, "too large");
	assert_int_equal(cr_keyfile_decode("mem", NULL, 10, &kind, &id, &got, err, sizeof(err)), -1);
	assert_int_equal(cr_keyfile_decode("mem", "x", 1, NULL, &id, &got, err, sizeof(err)), -1);
	assert_int_equal(cr_keyfile_decode("mem", "x", 1, &kind, NULL, &got, err, sizeof(err)), -1);
	assert_int_equal(cr_keyfile_decode("mem", "x", 1, &kind, &id, NULL, err, sizeof(err)), -1);
	assert_int_equal(cr_keyfile_decode("mem", NULL, 0, &kind, &id, &got, err, sizeof(err)), -1);
	assert_err_has(err, "empty");
}

/* ---------------------------------------------------------------------------------------------
 * Writing files. */

static void test_keyfile_secret_round_trip_through_file_for_every_secret_kind(void **state)
{
	static const enum cr_key_kind secret[] = { CR_KEY_ED25519_SECRET, CR_KEY_COIN_SHARE,
						   CR_KEY_ENC_SHARE, CR_KEY_MAC };
	const struct cr_key_id client = { CR_KEY_CLIENT, 7 };
	char err[CR_KEYFILE_ERR_BYTES];

	(void)state;
	for (size_t k = 0; k < sizeof(secret) / sizeof(secret[0]); k++) {
		size_t klen = cr_key_kind_len(secret[k]);
		struct cr_secret got = { NULL, 0 };
		struct cr_key_id id;
		uint8_t key[64];
		char name[32];

		snprintf(name, sizeof(name), "s%zu.key", k);
		key_bytes(key, klen, (uint8_t)k);
		assert_int_equal(cr_keyfile_write_secret(path_of(name), secret[k], &client, key, klen,
							 0, err, sizeof(err)), 0);
		assert_string_equal(err, "");
		assert_int_equal(cr_keyfile_read_secret(path_of(name), secret[k], &id, &got, err,
							sizeof(err)), 0);
		assert_int_equal(id.role, CR_KEY_CLIENT);
		assert_true(id.num == 7);
		assert_int_equal(got.len, klen);
		assert_memory_equal(got.p, key, klen);
		cr_secret_free(&got);
		/* The owner is optional. */
		assert_int_equal(cr_keyfile_read_secret(path_of(name), secret[k], NULL, &got, err,
							sizeof(err)), 0);
		cr_secret_free(&got);
	}
}

static void test_keyfile_public_round_trip_through_file_for_every_public_kind(void **state)
{
	static const enum cr_key_kind pub[] = { CR_KEY_ED25519_PUBLIC, CR_KEY_COIN_PUBLIC,
						CR_KEY_ENC_PUBLIC };
	const struct cr_key_id group = { CR_KEY_GROUP, 0 };
	char err[CR_KEYFILE_ERR_BYTES];

	(void)state;
	for (size_t k = 0; k < sizeof(pub) / sizeof(pub[0]); k++) {
		uint8_t key[32], got[32];
		struct cr_key_id id;
		char name[32];

		snprintf(name, sizeof(name), "p%zu.pub", k);
		key_bytes(key, 32, (uint8_t)(k + 100));
		assert_int_equal(cr_keyfile_write_public(path_of(name), pub[k], &group, key, 32, 0,
							 err, sizeof(err)), 0);
		assert_int_equal(cr_keyfile_read_public(path_of(name), pub[k], &id, got, 32, err,
							sizeof(err)), 0);
		assert_int_equal(id.role, CR_KEY_GROUP);
		assert_memory_equal(got, key, 32);
	}
}

static void test_keyfile_modes_are_0600_secret_and_0644_public_whatever_the_umask(void **state)
{
	static const mode_t masks[] = { 0, 022, 077, 0777 };
	char err[CR_KEYFILE_ERR_BYTES];
	uint8_t key[32] = { 9 };

	(void)state;
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		mode_t old = umask(masks[i]);

		assert_int_equal(cr_keyfile_write_secret(path_of("m.key"), CR_KEY_MAC, &replica2, key,
							 32, 0, err, sizeof(err)), 0);
		assert_int_equal(cr_keyfile_write_public(path_of("m.pub"), CR_KEY_ED25519_PUBLIC,
							 &replica2, key, 32, 0, err, sizeof(err)),
				 0);
		umask(old);
		assert_int_equal(file_mode(path_of("m.key")), 0600);
		assert_int_equal(file_mode(path_of("m.pub")), 0644);
		dir_empty();
	}
}

static void test_keyfile_write_refuses_to_overwrite_without_force(void **state)
{
	char err[CR_KEYFILE_ERR_BYTES], before[CR_KEYFILE_MAX], after[CR_KEYFILE_MAX];
	uint8_t key[32] = { 1 }, other[32] = { 2 };
	size_t n1, n2;

	(void)state;
	assert_int_equal(cr_keyfile_write_secret(path_of("o.key"), CR_KEY_MAC, &replica2, key, 32, 0,
						 err, sizeof(err)), 0);
	n1 = file_get(path_of("o.key"), before, sizeof(before));
	assert_int_equal(cr_keyfile_write_secret(path_of("o.key"), CR_KEY_MAC, &replica2, other, 32,
						 0, err, sizeof(err)), -1);
	assert_err_has(err, path_of("o.key"));
	assert_err_has(err, "already exists");
	n2 = file_get(path_of("o.key"), after, sizeof(after));
	assert_int_equal(n1, n2);
	assert_memory_equal(before, after, n1);
	/* A public key file follows the same rule. */
	assert_int_equal(cr_keyfile_write_public(path_of("o.key"), CR_KEY_ED25519_PUBLIC, &replica2,
						 other, 32, 0, err, sizeof(err)), -1);
	assert_err_has(err, "already exists");
	/* Nothing but the original file remains (no temporary files). */
	assert_int_equal(dir_count(), 1);
}

static void test_keyfile_write_with_force_replaces_the_file(void **state)
{
	char err[CR_KEYFILE_ERR_BYTES];
	uint8_t key[32] = { 1 }, other[32] = { 2 };
	struct cr_secret got = { NULL, 0 };

	(void)state;
	assert_int_equal(cr_keyfile_write_secret(path_of("f.key"), CR_KEY_MAC, &replica2, key, 32, 0,
						 err, sizeof(err)), 0);
	assert_int_equal(cr_keyfile_write_secret(path_of("f.key"), CR_KEY_MAC, &replica2, other, 32,
						 CR_KEYFILE_FORCE, err, sizeof(err)), 0);
	assert_int_equal(cr_keyfile_read_secret(path_of("f.key"), CR_KEY_MAC, NULL, &got, err,
						sizeof(err)), 0);
	assert_memory_equal(got.p, other, 32);
	cr_secret_free(&got);
	assert_int_equal(file_mode(path_of("f.key")), 0600);
	assert_int_equal(dir_count(), 1);
	/* Force also creates a file that did not exist. */
	assert_int_equal(cr_keyfile_write_secret(path_of("g.key"), CR_KEY_MAC, &replica2, other, 32,
						 CR_KEYFILE_FORCE, err, sizeof(err)), 0);
	assert_int_equal(dir_count(), 2);
}

static void test_keyfile_write_rejects_bad_arguments_and_creates_nothing(void **state)
{
	const struct cr_key_id bad_r = { CR_KEY_REPLICA, 4294967296u }, bad_g = { CR_KEY_GROUP, 1 };
	char err[CR_KEYFILE_ERR_BYTES];
	const char *p;
	uint8_t key[64] = { 3 };

	(void)state;
	p = path_of("bad.key");
	assert_int_equal(cr_keyfile_write_secret(p, CR_KEY_ED25519_PUBLIC, &replica2, key, 32, 0, err,
						 sizeof(err)), -1);
	assert_err_has(err, "not a secret kind");
	assert_int_equal(cr_keyfile_write_public(p, CR_KEY_COIN_SHARE, &replica2, key, 32, 0, err,
						 sizeof(err)), -1);
	assert_err_has(err, "not a public kind");
	assert_int_equal(cr_keyfile_write_secret(p, (enum cr_key_kind)0, &replica2, key, 32, 0, err,
						 sizeof(err)), -1);
	assert_int_equal(cr_keyfile_write_secret(p, CR_KEY_ED25519_SECRET, &replica2, key, 32, 0, err,
						 sizeof(err)), -1);
	assert_err_has(err, "64 bytes");
	assert_int_equal(cr_keyfile_write_secret(p, CR_KEY_MAC, &replica2, NULL, 32, 0, err,
						 sizeof(err)), -1);
	assert_int_equal(cr_keyfile_write_secret(p, CR_KEY_MAC, &bad_r, key, 32, 0, err, sizeof(err)),
			 -1);
	assert_int_equal(cr_keyfile_write_secret(p, CR_KEY_MAC, &bad_g, key, 32, 0, err, sizeof(err)),
			 -1);
	assert_int_equal(cr_keyfile_write_secret(p, CR_KEY_MAC, NULL, key, 32, 0, err, sizeof(err)),
			 -1);
	assert_int_equal(cr_keyfile_write_secret(p, CR_KEY_MAC, &replica2, key, 32, 0x10, err,
						 sizeof(err)), -1);
	assert_err_has(err, "unknown flags");
	assert_int_equal(cr_keyfile_write_secret(NULL, CR_KEY_MAC, &replica2, key, 32, 0, err,
						 sizeof(err)), -1);
	assert_int_equal(cr_keyfile_write_secret("", CR_KEY_MAC, &replica2, key, 32, 0, err,
						 sizeof(err)), -1);
	assert_int_equal(dir_count(), 0);
}

static void test_keyfile_write_into_missing_directory_fails_cleanly(void **state)
{
	char err[CR_KEYFILE_ERR_BYTES];
	uint8_t key[32] = { 3 };

	(void)state;
	assert_int_equal(cr_keyfile_write_secret(path_of("nodir/x.key"), CR_KEY_MAC, &replica2, key,
						 32, 0, err, sizeof(err)), -1);
	assert_err_has(err, "nodir/x.key");
	assert_err_has(err, "No such file or directory");
	assert_int_equal(dir_count(), 0);
}

/* ---------------------------------------------------------------------------------------------
 * Reading files: permissions. */

static void test_keyfile_read_rejects_group_or_world_accessible_secret(void **state)
{
	static const mode_t open_modes[] = { 0644, 0640, 0604, 0660, 0666, 0620, 0602, 0610, 0601,
					     0700 | 0040, 0440, 0404 };
	char err[CR_KEYFILE_ERR_BYTES], want[CR_KEYFILE_ERR_BYTES], keyhex[65];
	const char *p;

	(void)state;
	p = path_of("perm.key");
	valid_secret_file(p, keyhex);
	for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
		struct cr_secret got = { NULL, 0 };
		struct cr_key_id id = { (enum cr_key_role)0, 77 };

		assert_int_equal(chmod(p, open_modes[i]), 0);
		assert_int_equal(cr_keyfile_read_secret(p, CR_KEY_COIN_SHARE, &id, &got, err,
							sizeof(err)), -1);
		snprintf(want, sizeof(want), "%s: permissions %04o are too open; secret keys must not "
			 "be accessible by group or others: run chmod 600 %s", p,
			 (unsigned)open_modes[i], p);
		assert_string_equal(err, want);
		assert_null(got.p);
		assert_true(id.num == 77);
		assert_err_clean(err, keyhex);
	}
}

static void test_keyfile_read_accepts_0600_and_0400(void **state)
{
	static const mode_t ok_modes[] = { 0600, 0400, 0700 };
	char err[CR_KEYFILE_ERR_BYTES], keyhex[65];
	const char *p;

	(void)state;
	p = path_of("ok.key");
	valid_secret_file(p, keyhex);
	for (size_t i = 0; i < sizeof(ok_modes) / sizeof(ok_modes[0]); i++) {
		struct cr_secret got = { NULL, 0 };

		assert_int_equal(chmod(p, ok_modes[i]), 0);
		assert_int_equal(cr_keyfile_read_secret(p, CR_KEY_COIN_SHARE, NULL, &got, err,
							sizeof(err)), 0);
		cr_secret_free(&got);
	}
}

static void test_keyfile_read_public_does_not_care_about_mode(void **state)
{
	char err[CR_KEYFILE_ERR_BYTES];
	uint8_t key[32] = { 4 }, got[32];
	const char *p;

	(void)state;
	p = path_of("any.pub");
	assert_int_equal(cr_keyfile_write_public(p, CR_KEY_ED25519_PUBLIC, &replica2, key, 32, 0, err,
						 sizeof(err)), 0);
	assert_int_equal(chmod(p, 0666), 0);
	assert_int_equal(cr_keyfile_read_public(p, CR_KEY_ED25519_PUBLIC, NULL, got, 32, err,
						sizeof(err)), 0);
	assert_int_equal(chmod(p, 0400), 0);
	assert_int_equal(cr_keyfile_read_public(p, CR_KEY_ED25519_PUBLIC, NULL, got, 32, err,
						sizeof(err)), 0);
	assert_memory_equal(got, key, 32);
}

/* ---------------------------------------------------------------------------------------------
 * Reading files: damage. */

/* Reads p as a coin-share secret, expecting failure with a clean message and untouched outputs. */
static void expect_read_fails(const char *p, const char *keyhex, const char *want_in_err)
{
	char err[CR_KEYFILE_ERR_BYTES];
	struct cr_secret got = { NULL, 0 };
	struct cr_key_id id = { (enum cr_key_role)0, 77 };

	assert_int_equal(cr_keyfile_read_secret(p, CR_KEY_COIN_SHARE, &id, &got, err, sizeof(err)),
			 -1);
	assert_null(got.p);
	assert_int_equal(id.role, 0);
	assert_true(id.num == 77);
	assert_err_has(err, p);
	assert_err_clean(err, keyhex);
	if (want_in_err != NULL)
		assert_err_has(err, want_in_err);
}

static void test_keyfile_read_rejects_every_single_character_change(void **state)
{
	char valid[CR_KEYFILE_MAX], buf[CR_KEYFILE_MAX], keyhex[65];
	const char *p;
	size_t len;

	(void)state;
	p = path_of("flip.key");
	valid_secret_file(p, keyhex);
	len = file_get(p, valid, sizeof(valid));
	for (size_t i = 0; i < len; i++) {
		static const unsigned char subs[] = { 0x01, 0x20, 0x02, 0x80 };

		for (size_t s = 0; s < sizeof(subs); s++) {
			memcpy(buf, valid, len);
			buf[i] = (char)(buf[i] ^ subs[s]);
			file_put(p, buf, len, 0600);
			expect_read_fails(p, keyhex, NULL);
		}
	}
}

static void test_keyfile_read_rejects_truncation_at_every_length(void **state)
{
	char valid[CR_KEYFILE_MAX], keyhex[65];
	const char *p;
	size_t len;

	(void)state;
	p = path_of("trunc.key");
	valid_secret_file(p, keyhex);
	len = file_get(p, valid, sizeof(valid));
	for (size_t n = 0; n < len; n++) {
		file_put(p, valid, n, 0600);
		expect_read_fails(p, keyhex, n == 0 ? "empty" : NULL);
	}
	file_put(p, valid, len - 1, 0600);
	expect_read_fails(p, keyhex, "truncated");
}

static void test_keyfile_read_rejects_trailing_content(void **state)
{
	char buf[CR_KEYFILE_MAX + 16], keyhex[65];
	const char *p;
	size_t len;

	(void)state;
	p = path_of("trail.key");
	valid_secret_file(p, keyhex);
	len = file_get(p, buf, sizeof(buf));
	memcpy(buf + len, "\n", 1);
	file_put(p, buf, len + 1, 0600);
	expect_read_fails(p, keyhex, "after line 5");
	memcpy(buf + len, "extra: 1\n", 9);
	file_put(p, buf, len + 9, 0600);
	expect_read_fails(p, keyhex, "after line 5");
}

static void test_keyfile_read_reports_missing_file(void **state)
{
	(void)state;
	expect_read_fails(path_of("nonexistent.key"), "", "no such file");
}

static void test_keyfile_read_rejects_directory_and_fifo(void **state)
{
	const char *p;

	(void)state;
	p = path_of("adir");
	assert_int_equal(mkdir(p, 0700), 0);
	expect_read_fails(p, "", "not a regular file");
	assert_int_equal(rmdir(p), 0);
	/* A FIFO must be refused, not block the reader waiting for a writer. */
	p = path_of("afifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	expect_read_fails(p, "", "not a regular file");
}

static void test_keyfile_read_rejects_oversized_file(void **state)
{
	static char big[CR_KEYFILE_MAX + 1];
	const char *p;

	(void)state;
	memset(big, '#', sizeof(big));
	p = path_of("big.key");
	file_put(p, big, sizeof(big), 0600);
	expect_read_fails(p, "", "too large");
}

static void test_keyfile_read_rejects_wrong_kind(void **state)
{
	char err[CR_KEYFILE_ERR_BYTES], keyhex[65];
	struct cr_secret got = { NULL, 0 };
	uint8_t pub[32];
	const char *p;

	(void)state;
	p = path_of("kind.key");
	valid_secret_file(p, keyhex);
	assert_int_equal(cr_keyfile_read_secret(p, CR_KEY_ENC_SHARE, NULL, &got, err, sizeof(err)),
			 -1);
	assert_string_equal(err + strlen(p), ": holds a coin-share key, expected enc-share");
	assert_null(got.p);
	/* Public readers refuse it too, and a public reader cannot be asked for a secret kind. */
	assert_int_equal(cr_keyfile_read_public(p, CR_KEY_COIN_PUBLIC, NULL, pub, 32, err,
						sizeof(err)), -1);
	assert_err_has(err, "holds a coin-share key, expected coin-public");
	assert_int_equal(cr_keyfile_read_public(p, CR_KEY_COIN_SHARE, NULL, pub, 32, err,
						sizeof(err)), -1);
	assert_err_has(err, "not a public kind");
	assert_int_equal(cr_keyfile_read_secret(p, CR_KEY_COIN_PUBLIC, NULL, &got, err,
						sizeof(err)), -1);
	assert_err_has(err, "not a secret kind");
	assert_int_equal(cr_keyfile_read_public(p, CR_KEY_COIN_PUBLIC, NULL, pub, 31, err,
						sizeof(err)), -1);
	assert_err_clean(err, keyhex);
}

static void test_keyfile_read_rejects_other_version(void **state)
{
	static const char hex[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char text[CR_KEYFILE_MAX];
	const char *p;
	size_t len;

	(void)state;
	p = path_of("v2.key");
	len = text_make(text, sizeof(text), "bft-key v2", "coin-share", "replica 2", hex);
	file_put(p, text, len, 0600);
	expect_read_fails(p, hex, "unsupported key file version v2");
	len = text_make(text, sizeof(text), "bft-key v0", "coin-share", "replica 2", hex);
	file_put(p, text, len, 0600);
	expect_read_fails(p, hex, "unsupported key file version v0");
	len = text_make(text, sizeof(text), "bft-key v1.1", "coin-share", "replica 2", hex);
	file_put(p, text, len, 0600);
	expect_read_fails(p, hex, "not a bft key file");
	len = text_make(text, sizeof(text), "bft-key v99999999999999999999999", "coin-share",
			"replica 2", hex);
	file_put(p, text, len, 0600);
	expect_read_fails(p, hex, "not a bft key file");
}

static void test_keyfile_read_rejects_bad_checksum(void **state)
{
	static const char hex[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char text[CR_KEYFILE_MAX], *key;
	const char *p;
	size_t len;

	(void)state;
	p = path_of("sum.key");
	len = text_make(text, sizeof(text), "bft-key v1", "coin-share", "replica 2", hex);
	/* A valid hex digit changed to another valid one: only the checksum can tell. */
	key = strstr(text, "key: ") + 5;
	key[10] = key[10] == 'a' ? 'b' : 'a';
	file_put(p, text, len, 0600);
	expect_read_fails(p, hex, "checksum mismatch");
	/* And a change in the check line itself. */
	len = text_make(text, sizeof(text), "bft-key v1", "coin-share", "replica 2", hex);
	text[len - 2] = text[len - 2] == '0' ? '1' : '0';
	file_put(p, text, len, 0600);
	expect_read_fails(p, hex, "checksum mismatch");
	/* An uppercase check digit decodes to the same value, but is not the canonical spelling. */
	len = text_make(text, sizeof(text), "bft-key v1", "coin-share", "replica 2", hex);
	for (size_t i = len - 33; i < len - 1; i++)
		if (text[i] >= 'a' && text[i] <= 'f')
			text[i] = (char)(text[i] - 'a' + 'A');
	file_put(p, text, len, 0600);
	expect_read_fails(p, hex, "line 5");
	/* A malformed check line. */
	len = text_make(text, sizeof(text), "bft-key v1", "coin-share", "replica 2", hex);
	memcpy(text + len - 34, "XYZ", 3);
	file_put(p, text, len, 0600);
	expect_read_fails(p, hex, "line 5");
}

static void test_keyfile_read_rejects_bad_key_length(void **state)
{
	static const char h31[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddee";
	static const char h33[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00";
	static const char odd[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeef";
	char text[CR_KEYFILE_MAX];
	const char *p;
	size_t len;

	(void)state;
	p = path_of("len.key");
	len = text_make(text, sizeof(text), "bft-key v1", "coin-share", "replica 2", h31);
	file_put(p, text, len, 0600);
	expect_read_fails(p, h31, "the key has 62 hex digits; a coin-share key has 64");
	len = text_make(text, sizeof(text), "bft-key v1", "coin-share", "replica 2", h33);
	file_put(p, text, len, 0600);
	expect_read_fails(p, h33, "the key has 66 hex digits");
	len = text_make(text, sizeof(text), "bft-key v1", "coin-share", "replica 2", odd);
	file_put(p, text, len, 0600);
	expect_read_fails(p, odd, "the key has 63 hex digits");
	len = text_make(text, sizeof(text), "bft-key v1", "coin-share", "replica 2", "");
	file_put(p, text, len, 0600);
	expect_read_fails(p, "", "the key has 0 hex digits");
}

static void test_keyfile_read_rejects_non_hex_key(void **state)
{
	static const char bad[] = "0011223344556677889gaabbccddeeff00112233445566778899aabbccddeeff";
	static const char sp[] = "00112233445566778899aabbccddeeff 0112233445566778899aabbccddeeff";
	static const char up[] = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";
	char text[CR_KEYFILE_MAX];
	const char *p;
	size_t len;

	(void)state;
	p = path_of("hex.key");
	len = text_make(text, sizeof(text), "bft-key v1", "coin-share", "replica 2", bad);
	file_put(p, text, len, 0600);
	expect_read_fails(p, bad, "not lowercase hexadecimal");
	len = text_make(text, sizeof(text), "bft-key v1", "coin-share", "replica 2", sp);
	file_put(p, text, len, 0600);
	expect_read_fails(p, sp, "not lowercase hexadecimal");
	/* Uppercase digits would decode to the same key: only one spelling is valid. */
	len = text_make(text, sizeof(text), "bft-key v1", "coin-share", "replica 2", up);
	file_put(p, text, len, 0600);
	expect_read_fails(p, up, "not lowercase hexadecimal");
}

static void test_keyfile_read_rejects_unknown_or_malformed_kind(void **state)
{
	static const char hex[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	static const char *const kinds[] = { "coin-shares", "Coin-share", "coin-share ", "",
					     "rsa-secret" };
	char text[CR_KEYFILE_MAX];
	const char *p;
	size_t len;

	(void)state;
	p = path_of("k.key");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		len = text_make(text, sizeof(text), "bft-key v1", kinds[i], "replica 2", hex);
		file_put(p, text, len, 0600);
		expect_read_fails(p, hex, "line 2: unknown key kind");
	}
}

static void test_keyfile_read_rejects_malformed_ids_and_accepts_boundaries(void **state)
{
	static const char hex[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	static const char *const bad[] = {
		"replica", "replica ", "replica 01", "replica -1", "replica +1", "replica 1x",
		"replica 4294967296", "client 18446744073709551616", "client 99999999999999999999",
		"group 0", "group ", "Replica 1", "server 1", "replica  1", " replica 1", "",
	};
	static const char *const good[] = { "replica 0", "replica 4294967295",
					     "client 18446744073709551615", "client 0", "group" };
	char text[CR_KEYFILE_MAX], err[CR_KEYFILE_ERR_BYTES];
	const char *p;
	size_t len;

	(void)state;
	p = path_of("id.key");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = text_make(text, sizeof(text), "bft-key v1", "coin-share", bad[i], hex);
		file_put(p, text, len, 0600);
		expect_read_fails(p, hex, "line 3");
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct cr_secret got = { NULL, 0 };

		len = text_make(text, sizeof(text), "bft-key v1", "coin-share", good[i], hex);
		file_put(p, text, len, 0600);
		assert_int_equal(cr_keyfile_read_secret(p, CR_KEY_COIN_SHARE, NULL, &got, err,
							sizeof(err)), 0);
		cr_secret_free(&got);
	}
}

static void test_keyfile_read_rejects_crlf_line_endings(void **state)
{
	char valid[CR_KEYFILE_MAX], crlf[2 * CR_KEYFILE_MAX], keyhex[65];
	size_t len, n = 0;
	const char *p;

	(void)state;
	p = path_of("dos.key");
	valid_secret_file(p, keyhex);
	len = file_get(p, valid, sizeof(valid));
	for (size_t i = 0; i < len; i++) {
		if (valid[i] == '\n')
			crlf[n++] = '\r';
		crlf[n++] = valid[i];
	}
	file_put(p, crlf, n, 0600);
	expect_read_fails(p, keyhex, "carriage return");
}

static void test_keyfile_read_rejects_non_key_files(void **state)
{
	const char *p;

	(void)state;
	p = path_of("other.key");
	file_put(p, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36, 0600);
	expect_read_fails(p, "", "not a bft key file");
	file_put(p, "\n", 1, 0600);
	expect_read_fails(p, "", "not a bft key file");
	file_put(p, "bft-key\n", 8, 0600);
	expect_read_fails(p, "", "not a bft key file");
	file_put(p, "bft-key v1\0\n", 12, 0600);
	expect_read_fails(p, "", "not a bft key file");
	file_put(p, "bft-key v1\n\x01", 12, 0600);
	expect_read_fails(p, "", "not printable");
}

/* ---------------------------------------------------------------------------------------------
 * Error buffers and identities. */

static void test_keyfile_small_or_absent_error_buffer_is_safe(void **state)
{
	char small[8];
	struct cr_secret got = { NULL, 0 };

	(void)state;
	/* A short buffer receives a truncated, NUL-terminated message. */
	memset(small, 'z', sizeof(small));
	assert_int_equal(cr_keyfile_read_secret(path_of("none.key"), CR_KEY_COIN_SHARE, NULL, &got,
						small, sizeof(small)), -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	/* No buffer, or a zero-length one, is never written. */
	assert_int_equal(cr_keyfile_read_secret(path_of("none.key"), CR_KEY_COIN_SHARE, NULL, &got,
						NULL, 0), -1);
	memset(small, 'q', sizeof(small));
	assert_int_equal(cr_keyfile_read_secret(path_of("none.key"), CR_KEY_COIN_SHARE, NULL, &got,
						small, 0), -1);
	assert_int_equal(small[0], 'q');
	assert_null(got.p);
}

static void test_keyfile_identity_round_trip(void **state)
{
	char err[CR_KEYFILE_ERR_BYTES];
	struct cr_identity a, b;
	struct cr_key_id id;
	uint8_t sig[64];
	const char *p;

	(void)state;
	p = path_of("replica-2.key");
	assert_int_equal(cr_identity_generate(&a), 0);
	assert_int_equal(cr_keyfile_write_identity(p, &replica2, &a, 0, err, sizeof(err)), 0);
	assert_int_equal(file_mode(p), 0600);
	assert_int_equal(cr_keyfile_read_identity(p, &id, &b, err, sizeof(err)), 0);
	assert_int_equal(id.role, CR_KEY_REPLICA);
	assert_true(id.num == 2);
	assert_memory_equal(a.pk, b.pk, 32);
	cr_sign(&b, (const uint8_t *)"m", 1, sig);
	assert_int_equal(cr_verify(a.pk, (const uint8_t *)"m", 1, sig), 0);
	/* The public half round-trips as an ed25519-public file. */
	assert_int_equal(cr_keyfile_write_public(path_of("replica-2.pub"), CR_KEY_ED25519_PUBLIC,
						 &replica2, a.pk, 32, 0, err, sizeof(err)), 0);
	cr_identity_free(&a);
	cr_identity_free(&b);
}

static void test_keyfile_read_identity_refuses_inconsistent_key(void **state)
{
	char err[CR_KEYFILE_ERR_BYTES], keyhex[129];
	struct cr_identity a, b;
	uint8_t sk[64];
	const char *p;

	(void)state;
	p = path_of("bad-identity.key");
	assert_int_equal(cr_identity_generate(&a), 0);
	memcpy(sk, a.sk, 64);
	sk[40] ^= 1; /* the public half no longer matches the seed */
	sodium_bin2hex(keyhex, sizeof(keyhex), sk, 64);
	assert_int_equal(cr_keyfile_write_secret(p, CR_KEY_ED25519_SECRET, &replica2, sk, 64, 0, err,
						 sizeof(err)), 0);
	memset(&b, 0xa5, sizeof(b));
	assert_int_equal(cr_keyfile_read_identity(p, NULL, &b, err, sizeof(err)), -1);
	assert_err_has(err, p);
	assert_err_has(err, "inconsistent");
	assert_err_clean(err, keyhex);
	assert_null(b.sk);
	sodium_memzero(sk, sizeof(sk));
	cr_identity_free(&a);
}

static void test_keyfile_read_identity_refuses_open_permissions_and_wrong_kind(void **state)
{
	char err[CR_KEYFILE_ERR_BYTES], keyhex[65];
	struct cr_identity a, b;
	const char *p;

	(void)state;
	p = path_of("open-identity.key");
	assert_int_equal(cr_identity_generate(&a), 0);
	assert_int_equal(cr_keyfile_write_identity(p, &replica2, &a, 0, err, sizeof(err)), 0);
	assert_int_equal(chmod(p, 0644), 0);
	memset(&b, 0xa5, sizeof(b));
	assert_int_equal(cr_keyfile_read_identity(p, NULL, &b, err, sizeof(err)), -1);
	assert_err_has(err, "run chmod 600");
	assert_null(b.sk);
	valid_secret_file(path_of("coin.key"), keyhex);
	assert_int_equal(cr_keyfile_read_identity(path_of("coin.key"), NULL, &b, err, sizeof(err)),
			 -1);
	assert_err_has(err, "holds a coin-share key, expected ed25519-secret");
	assert_null(b.sk);
	/* An empty identity cannot be written. */
	memset(&b, 0, sizeof(b));
	assert_int_equal(cr_keyfile_write_identity(path_of("empty.key"), &replica2, &b, 0, err,
						   sizeof(err)), -1);
	assert_int_equal(cr_keyfile_read_identity(p, NULL, NULL, err, sizeof(err)), -1);
	cr_identity_free(&a);
}

int main(void)
{
#define T(fn) cmocka_unit_test_teardown(fn, test_teardown)
	const struct CMUnitTest tests[] = {
		T(test_keyfile_kind_table_names_lengths_and_secrecy),
		T(test_keyfile_id_format_covers_every_role),
		T(test_keyfile_encode_produces_the_documented_format),
		T(test_keyfile_decodes_the_example_in_keys_readme),
		T(test_keyfile_decode_round_trips_every_kind_and_role),
		T(test_keyfile_encode_rejects_bad_arguments_and_zeroes_output),
		T(test_keyfile_decode_survives_random_and_mutated_input),
		T(test_keyfile_decode_rejects_oversized_and_null_input),
		T(test_keyfile_secret_round_trip_through_file_for_every_secret_kind),
		T(test_keyfile_public_round_trip_through_file_for_every_public_kind),
		T(test_keyfile_modes_are_0600_secret_and_0644_public_whatever_the_umask),
		T(test_keyfile_write_refuses_to_overwrite_without_force),
		T(test_keyfile_write_with_force_replaces_the_file),
		T(test_keyfile_write_rejects_bad_arguments_and_creates_nothing),
		T(test_keyfile_write_into_missing_directory_fails_cleanly),
		T(test_keyfile_read_rejects_group_or_world_accessible_secret),
		T(test_keyfile_read_accepts_0600_and_0400),
		T(test_keyfile_read_public_does_not_care_about_mode),
		T(test_keyfile_read_rejects_every_single_character_change),
		T(test_keyfile_read_rejects_truncation_at_every_length),
		T(test_keyfile_read_rejects_trailing_content),
		T(test_keyfile_read_reports_missing_file),
		T(test_keyfile_read_rejects_directory_and_fifo),
		T(test_keyfile_read_rejects_oversized_file),
		T(test_keyfile_read_rejects_wrong_kind),
		T(test_keyfile_read_rejects_other_version),
		T(test_keyfile_read_rejects_bad_checksum),
		T(test_keyfile_read_rejects_bad_key_length),
		T(test_keyfile_read_rejects_non_hex_key),
		T(test_keyfile_read_rejects_unknown_or_malformed_kind),
		T(test_keyfile_read_rejects_malformed_ids_and_accepts_boundaries),
		T(test_keyfile_read_rejects_crlf_line_endings),
		T(test_keyfile_read_rejects_non_key_files),
		T(test_keyfile_small_or_absent_error_buffer_is_safe),
		T(test_keyfile_identity_round_trip),
		T(test_keyfile_read_identity_refuses_inconsistent_key),
		T(test_keyfile_read_identity_refuses_open_permissions_and_wrong_kind),
	};
#undef T

	return cmocka_run_group_tests_name("cr_keyfile", tests, group_setup, group_teardown);
}
