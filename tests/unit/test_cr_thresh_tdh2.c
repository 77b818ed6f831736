/*
 * Unit tests for crypto/cr_tdh2: Shoup-Gennaro TDH2 threshold encryption with labels and the
 * hybrid XChaCha20-Poly1305 seal. Its known-answer vectors are checked in test_cr_thresh.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "crypto/cr_dealer.h"
#include "crypto/cr_group.h"
#include "crypto/cr_hash.h"
#include "crypto/cr_sign.h"
#include "crypto/cr_tdh2.h"

static const char *const L_HEX = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
static const char *const L_PLUS_1_HEX =
	"eed3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

static const uint32_t SIZES[] = { 4, 7, 10 };

#define LABEL ((const uint8_t *)"hb/epoch=3/proposer=1")
#define LABEL_LEN 21u

static void hex_to(uint8_t *out, size_t n, const char *hex)
{
	size_t got = 0;

	assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL), 0);
	assert_int_equal(got, n);
}

static void rand_of(uint8_t r[32], uint32_t v)
{
	cr_digest(r, "test.rand", &v, sizeof(v));
}

static uint32_t f_of(uint32_t n)
{
	return (n - 1) / 3;
}

static void deal(struct cr_thresh_pubkey *pk, struct cr_thresh_share *sh, uint32_t n,
		 enum cr_thresh_purpose purpose, uint32_t seedv)
{
	uint8_t seed[CR_THRESH_SEED_BYTES];

	cr_digest(seed, "test.seed", &seedv, sizeof(seedv));
	assert_int_equal(cr_dealer_deal(pk, sh, n, f_of(n), purpose, seed), 0);
}

static void bad_scalar(uint8_t s[32], int which)
{
	memset(s, 0, 32);
	if (which == 0)
		hex_to(s, 32, L_HEX);
	else if (which == 1)
		hex_to(s, 32, L_PLUS_1_HEX);
	else {
		s[0] = 1;
		s[31] = 0x80;
	}
}

static void key_of(uint8_t m[32], uint32_t v)
{
	cr_digest(m, "test.key", &v, sizeof(v));
}

static void encrypt(struct cr_tdh2_ct *ct, const uint8_t m[32], const struct cr_thresh_pubkey *pk,
		    uint32_t v)
{
	uint8_t rnd[32];

	rand_of(rnd, v);
	assert_int_equal(cr_tdh2_encrypt(ct, m, LABEL, LABEL_LEN, pk, rnd), 0);
}

static void make_shares(struct cr_tdh2_share *out, const struct cr_thresh_share *sh, uint32_t n,
			const struct cr_tdh2_ct *ct)
{
	uint8_t rnd[32];

	for (uint32_t i = 0; i < n; i++) {
		rand_of(rnd, 5000 + i);
		assert_int_equal(cr_tdh2_share_make(&out[i], &sh[i], ct, LABEL, LABEL_LEN, rnd), 0);
	}
}

/* ---------------------------------------------------------------------------------------------
 * TDH2 */

static void test_tdh2_round_trip_at_4_7_10(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[CR_THRESH_N_MAX];
	struct cr_tdh2_share ds[CR_THRESH_N_MAX];
	struct cr_tdh2_ct ct;
	uint8_t m[32], got[32];

	(void)state;
	for (size_t s = 0; s < sizeof(SIZES) / sizeof(SIZES[0]); s++) {
		uint32_t n = SIZES[s];

		deal(&pk, sh, n, CR_THRESH_ENC, n);
		key_of(m, n);
		encrypt(&ct, m, &pk, n);
		assert_int_equal(cr_tdh2_ct_check(&ct, LABEL, LABEL_LEN), 0);
		assert_memory_not_equal(ct.c, m, 32);
		make_shares(ds, sh, n, &ct);
		for (uint32_t i = 0; i < n; i++)
			assert_int_equal(cr_tdh2_share_verify(&pk, &ct, LABEL, LABEL_LEN, &ds[i]), 0);
		assert_int_equal(cr_tdh2_combine(got, &pk, &ct, ds, n, NULL), 0);
		assert_memory_equal(got, m, 32);
	}
}

static void test_tdh2_every_f_plus_1_subset_recovers_the_same_key(void **state)
{
	static const uint32_t ns[] = { 4, 7 };
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[CR_THRESH_N_MAX];
	struct cr_tdh2_share ds[CR_THRESH_N_MAX], sel[CR_THRESH_N_MAX];
	struct cr_tdh2_ct ct;
	struct cr_lagrange_cache cache;
	uint8_t m[32], got[32];

	(void)state;
	cr_lagrange_cache_init(&cache);
	for (size_t s = 0; s < 2; s++) {
		uint32_t n = ns[s];
		uint32_t t = f_of(n) + 1;
		unsigned subsets = 0;

		deal(&pk, sh, n, CR_THRESH_ENC, 10 + n);
		key_of(m, 10 + n);
		encrypt(&ct, m, &pk, 10 + n);
		make_shares(ds, sh, n, &ct);
		for (uint64_t mask = 1; mask < ((uint64_t)1 << n); mask++) {
			size_t k = 0;

			if ((uint32_t)__builtin_popcountll(mask) < t)
				continue;
			/* Selected shares, highest index first. */
			for (uint32_t b = n; b-- > 0;)
				if (mask & ((uint64_t)1 << b))
					sel[k++] = ds[b];
			memset(got, 0, 32);
			assert_int_equal(cr_tdh2_combine(got, &pk, &ct, sel, k, &cache), 0);
			assert_memory_equal(got, m, 32);
			if (k == t)
				subsets++;
		}
		assert_int_equal(subsets, n == 4 ? 6 : 35);
	}
}

static void test_tdh2_combine_refuses_f_shares_duplicates_and_bad_indices(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[7];
	struct cr_tdh2_share ds[7], sel[3];
	struct cr_tdh2_ct ct;
	uint8_t m[32], got[32];

	(void)state;
	deal(&pk, sh, 7, CR_THRESH_ENC, 20);
	key_of(m, 20);
	encrypt(&ct, m, &pk, 20);
	make_shares(ds, sh, 7, &ct);
	memset(got, 0xaa, 32);
	assert_int_equal(cr_tdh2_combine(got, &pk, &ct, ds, 2, NULL), -1);
	assert_true(sodium_is_zero(got, 32));
	sel[0] = ds[4];
	sel[1] = ds[5];
	sel[2] = ds[4];
	assert_int_equal(cr_tdh2_combine(got, &pk, &ct, sel, 3, NULL), -1);
	sel[2] = ds[6];
	sel[2].index = 8;
	assert_int_equal(cr_tdh2_combine(got, &pk, &ct, sel, 3, NULL), -1);
	sel[2].index = 0;
	assert_int_equal(cr_tdh2_combine(got, &pk, &ct, sel, 3, NULL), -1);
	sel[2] = ds[6];
	assert_int_equal(cr_tdh2_combine(got, &pk, &ct, sel, 3, NULL), 0);
	assert_memory_equal(got, m, 32);
}

static void test_tdh2_check_rejects_every_tampered_field_and_the_wrong_label(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4];
	struct cr_tdh2_ct ct, t, other;
	uint8_t m[32];

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_ENC, 30);
	key_of(m, 30);
	encrypt(&ct, m, &pk, 30);
	encrypt(&other, m, &pk, 31);
	assert_int_equal(cr_tdh2_ct_check(&ct, LABEL, LABEL_LEN), 0);
	assert_int_equal(cr_tdh2_ct_check(&ct, LABEL, LABEL_LEN - 1), -1);
	assert_int_equal(cr_tdh2_ct_check(&ct, (const uint8_t *)"hb/epoch=3/proposer=2", LABEL_LEN), -1);
	assert_int_equal(cr_tdh2_ct_check(&ct, NULL, 0), -1);
	for (int i = 0; i < 32; i++) {
		t = ct;
		t.c[i] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
		t = ct;
		t.e[i] ^= 1;
		assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
		t = ct;
		t.f[i] ^= 1;
		assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
		t = ct;
		t.u[i] ^= 1;
		assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
		t = ct;
		t.ubar[i] ^= 1;
		assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
	}
	/* Valid points, but from another ciphertext (the classic mauling). */
	t = ct;
	memcpy(t.u, other.u, 32);
	assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
	t = ct;
	memcpy(t.ubar, other.ubar, 32);
	assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
	t = ct;
	memcpy(t.c, other.c, 32);
	assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
	/* Identity points and non-canonical scalars. */
	t = ct;
	memset(t.u, 0, 32);
	assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
	t = ct;
	memset(t.ubar, 0, 32);
	assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
	t = ct;
	t.e[31] |= 0x80;
	assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
	t = ct;
	t.f[31] |= 0x80;
	assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
	t = ct;
	t.u[31] |= 0x80;
	assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
	/* f + l: the same value mod l, not canonical. */
	t = ct;
	{
		uint8_t l[32];
		unsigned carry = 0;

		hex_to(l, 32, L_HEX);
		for (int i = 0; i < 32; i++) {
			unsigned v = (unsigned)t.f[i] + l[i] + carry;

			t.f[i] = (uint8_t)v;
			carry = v >> 8;
		}
	}
	assert_int_equal(cr_tdh2_ct_check(&t, LABEL, LABEL_LEN), -1);
}

static void test_tdh2_share_make_refuses_an_invalid_ciphertext(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4];
	struct cr_tdh2_share ds;
	struct cr_tdh2_ct ct, t;
	uint8_t m[32], rnd[32] = { 0 };

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_ENC, 40);
	key_of(m, 40);
	encrypt(&ct, m, &pk, 40);
	t = ct;
	t.c[0] ^= 1;
	memset(&ds, 0xaa, sizeof(ds));
	assert_int_equal(cr_tdh2_share_make(&ds, &sh[0], &t, LABEL, LABEL_LEN, rnd), -1);
	assert_true(sodium_is_zero((const uint8_t *)&ds, sizeof(ds)));
	assert_int_equal(cr_tdh2_share_make(&ds, &sh[0], &ct, LABEL, LABEL_LEN - 1, rnd), -1);
	assert_int_equal(cr_tdh2_share_make(&ds, &sh[0], &ct, LABEL, LABEL_LEN, rnd), 0);
}

static void test_tdh2_share_verify_rejects_wrong_index_tampering_and_other_contexts(void **state)
{
	struct cr_thresh_pubkey pk, other;
	struct cr_thresh_share sh[4], osh[4];
	struct cr_tdh2_share ds[4], t;
	struct cr_tdh2_ct ct, ct2, bad;
	uint8_t m[32];

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_ENC, 50);
	deal(&other, osh, 4, CR_THRESH_ENC, 51);
	key_of(m, 50);
	encrypt(&ct, m, &pk, 50);
	encrypt(&ct2, m, &pk, 52);
	make_shares(ds, sh, 4, &ct);
	for (uint32_t claim = 0; claim <= 5; claim++) {
		t = ds[2];
		t.index = claim;
		assert_int_equal(cr_tdh2_share_verify(&pk, &ct, LABEL, LABEL_LEN, &t),
				 claim == 3 ? 0 : -1);
	}
	/* Another ciphertext, another label, another key set. */
	assert_int_equal(cr_tdh2_share_verify(&pk, &ct2, LABEL, LABEL_LEN, &ds[0]), -1);
	assert_int_equal(cr_tdh2_share_verify(&pk, &ct, LABEL, LABEL_LEN - 1, &ds[0]), -1);
	assert_int_equal(cr_tdh2_share_verify(&other, &ct, LABEL, LABEL_LEN, &ds[0]), -1);
	/* The share is fine but the ciphertext fails its check: the share is refused too. */
	bad = ct;
	bad.e[3] ^= 1;
	assert_int_equal(cr_tdh2_share_verify(&pk, &bad, LABEL, LABEL_LEN, &ds[0]), -1);
	/* Tampered share fields. */
	t = ds[0];
	memcpy(t.ui, ds[1].ui, 32);
	assert_int_equal(cr_tdh2_share_verify(&pk, &ct, LABEL, LABEL_LEN, &t), -1);
	t = ds[0];
	memset(t.ui, 0, 32);
	assert_int_equal(cr_tdh2_share_verify(&pk, &ct, LABEL, LABEL_LEN, &t), -1);
	t = ds[0];
	t.ui[31] |= 0x80;
	assert_int_equal(cr_tdh2_share_verify(&pk, &ct, LABEL, LABEL_LEN, &t), -1);
	t = ds[0];
	t.proof.c[7] ^= 2;
	assert_int_equal(cr_tdh2_share_verify(&pk, &ct, LABEL, LABEL_LEN, &t), -1);
	t = ds[0];
	t.proof.z[7] ^= 2;
	assert_int_equal(cr_tdh2_share_verify(&pk, &ct, LABEL, LABEL_LEN, &t), -1);
	t = ds[0];
	t.proof = ds[1].proof;
	assert_int_equal(cr_tdh2_share_verify(&pk, &ct, LABEL, LABEL_LEN, &t), -1);
}

static void test_combining_an_unverified_bad_share_gives_a_wrong_key(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4];
	struct cr_tdh2_share ds[4];
	struct cr_tdh2_ct ct;
	uint8_t m[32], got[32];

	(void)state;
	/* Why the header insists on verifying first: combine cannot tell, and returns garbage. */
	deal(&pk, sh, 4, CR_THRESH_ENC, 55);
	key_of(m, 55);
	encrypt(&ct, m, &pk, 55);
	make_shares(ds, sh, 4, &ct);
	memcpy(ds[1].ui, cr_group_gbar, 32);
	assert_int_equal(cr_tdh2_share_verify(&pk, &ct, LABEL, LABEL_LEN, &ds[1]), -1);
	assert_int_equal(cr_tdh2_combine(got, &pk, &ct, ds, 2, NULL), 0);
	assert_memory_not_equal(got, m, 32);
}

static void test_tdh2_is_deterministic_for_fixed_rand_and_hedged_otherwise(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4];
	struct cr_tdh2_ct a, b, c;
	struct cr_tdh2_share da[4], db[4];
	uint8_t m[32], m2[32], rnd[32];

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_ENC, 60);
	key_of(m, 60);
	key_of(m2, 61);
	encrypt(&a, m, &pk, 60);
	encrypt(&b, m, &pk, 60);
	assert_memory_equal(&a, &b, sizeof(a));
	make_shares(da, sh, 4, &a);
	make_shares(db, sh, 4, &b);
	assert_memory_equal(da, db, sizeof(da));
	/* Another rand: another r. The same rand with another message: still another r. */
	encrypt(&c, m, &pk, 61);
	assert_memory_not_equal(c.u, a.u, 32);
	encrypt(&c, m2, &pk, 60);
	assert_memory_not_equal(c.u, a.u, 32);
	/* ... and under another label. */
	rand_of(rnd, 60);
	assert_int_equal(cr_tdh2_encrypt(&c, m, LABEL, LABEL_LEN - 1, &pk, rnd), 0);
	assert_memory_not_equal(c.u, a.u, 32);
	assert_int_equal(cr_tdh2_ct_check(&c, LABEL, LABEL_LEN - 1), 0);
}

static void test_tdh2_refuses_coin_keys(void **state)
{
	struct cr_thresh_pubkey cpk, epk;
	struct cr_thresh_share csh[4], esh[4];
	struct cr_tdh2_share ds[4], t;
	struct cr_tdh2_ct ct;
	uint8_t m[32], rnd[32] = { 0 };
	uint8_t sealed[CR_TDH2_SEAL_OVERHEAD + 3];

	(void)state;
	deal(&cpk, csh, 4, CR_THRESH_COIN, 70);
	deal(&epk, esh, 4, CR_THRESH_ENC, 70);
	key_of(m, 70);
	memset(&ct, 0xaa, sizeof(ct));
	assert_int_equal(cr_tdh2_encrypt(&ct, m, LABEL, LABEL_LEN, &cpk, rnd), -1);
	assert_true(sodium_is_zero((const uint8_t *)&ct, sizeof(ct)));
	assert_int_equal(cr_tdh2_seal(sealed, sizeof(sealed), m, 3, LABEL, LABEL_LEN, &cpk, rnd), -1);
	encrypt(&ct, m, &epk, 70);
	assert_int_equal(cr_tdh2_share_make(&t, &csh[0], &ct, LABEL, LABEL_LEN, rnd), -1);
	make_shares(ds, esh, 4, &ct);
	epk.purpose = CR_THRESH_COIN;
	assert_int_equal(cr_tdh2_share_verify(&epk, &ct, LABEL, LABEL_LEN, &ds[0]), -1);
	assert_int_equal(cr_tdh2_combine(m, &epk, &ct, ds, 4, NULL), -1);
}

static void test_tdh2_ciphertext_encoding_round_trips_and_decode_is_strict(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4];
	struct cr_tdh2_ct ct, got;
	uint8_t m[32];
	uint8_t good[CR_TDH2_CT_BYTES], buf[CR_TDH2_CT_BYTES + 1];

	(void)state;
	assert_int_equal(CR_TDH2_CT_BYTES, 160);
	deal(&pk, sh, 4, CR_THRESH_ENC, 80);
	key_of(m, 80);
	encrypt(&ct, m, &pk, 80);
	cr_tdh2_ct_encode(good, &ct);
	assert_int_equal(cr_tdh2_ct_decode(&got, good, sizeof(good)), 0);
	assert_memory_equal(&got, &ct, sizeof(ct));
	memset(&got, 0x5a, sizeof(got));
	memcpy(buf, good, sizeof(good));
	buf[sizeof(good)] = 0;
	assert_int_equal(cr_tdh2_ct_decode(&got, buf, sizeof(good) + 1), -1);
	assert_int_equal(cr_tdh2_ct_decode(&got, buf, sizeof(good) - 1), -1);
	assert_int_equal(cr_tdh2_ct_decode(&got, buf, 0), -1);
#define BAD(stmt)                                                             \
	do {                                                                  \
		memcpy(buf, good, sizeof(good));                              \
		stmt;                                                         \
		assert_int_equal(cr_tdh2_ct_decode(&got, buf, sizeof(good)), -1); \
	} while (0)
	BAD(memset(buf + 32, 0, 32));    /* u = identity */
	BAD(memset(buf + 64, 0, 32));    /* ubar = identity */
	BAD(memset(buf + 32, 0xff, 32)); /* u not a point */
	BAD(buf[64] ^= 1);               /* ubar negative */
	BAD(buf[32 + 31] |= 0x80);       /* u with bit 255 */
	BAD(buf[64 + 31] |= 0x80);
	for (int w = 0; w < 3; w++) {
		BAD(bad_scalar(buf + 96, w));  /* e */
		BAD(bad_scalar(buf + 128, w)); /* f */
	}
#undef BAD
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(((const uint8_t *)&got)[i], 0x5a);
}

static void test_tdh2_share_encoding_round_trips_and_decode_is_strict(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4];
	struct cr_tdh2_share ds[4], got;
	struct cr_tdh2_ct ct;
	uint8_t m[32];
	uint8_t good[CR_TDH2_SHARE_BYTES], buf[CR_TDH2_SHARE_BYTES + 1];

	(void)state;
	assert_int_equal(CR_TDH2_SHARE_BYTES, 98);
	deal(&pk, sh, 4, CR_THRESH_ENC, 90);
	key_of(m, 90);
	encrypt(&ct, m, &pk, 90);
	make_shares(ds, sh, 4, &ct);
	cr_tdh2_share_encode(good, &ds[1]);
	assert_int_equal(cr_tdh2_share_decode(&got, good, sizeof(good)), 0);
	assert_memory_equal(&got, &ds[1], sizeof(got));
	assert_int_equal(cr_tdh2_share_verify(&pk, &ct, LABEL, LABEL_LEN, &got), 0);
	memset(&got, 0x5a, sizeof(got));
	memcpy(buf, good, sizeof(good));
	buf[sizeof(good)] = 0;
	assert_int_equal(cr_tdh2_share_decode(&got, buf, sizeof(good) + 1), -1);
	assert_int_equal(cr_tdh2_share_decode(&got, buf, sizeof(good) - 1), -1);
#define BAD(stmt)                                                                \
	do {                                                                     \
		memcpy(buf, good, sizeof(good));                                 \
		stmt;                                                            \
		assert_int_equal(cr_tdh2_share_decode(&got, buf, sizeof(good)), -1); \
	} while (0)
	BAD(buf[0] = 0; buf[1] = 0);
	BAD(buf[0] = 65);
	BAD(buf[1] = 1);
	BAD(memset(buf + 2, 0, 32));
	BAD(memset(buf + 2, 0xff, 32));
	BAD(buf[2 + 31] |= 0x80);
	for (int w = 0; w < 3; w++) {
		BAD(bad_scalar(buf + 34, w));
		BAD(bad_scalar(buf + 66, w));
	}
#undef BAD
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(((const uint8_t *)&got)[i], 0x5a);
}

/* ---------------------------------------------------------------------------------------------
 * Hybrid sealing */

/* The whole Honey Badger decryption path: seal, every party checks the header and makes a share,
 * shares are verified, f+1 combined, payload opened. */
static void seal_and_open(const struct cr_thresh_pubkey *pk, const struct cr_thresh_share *sh,
			  const uint8_t *payload, size_t len, uint32_t v)
{
	struct cr_tdh2_share ds[CR_THRESH_N_MAX];
	struct cr_tdh2_ct ct;
	size_t sealed_len = cr_tdh2_sealed_len(len);
	uint8_t *sealed = malloc(sealed_len);
	uint8_t *opened = malloc(len + 1);
	uint8_t rnd[32], key[32];

	assert_non_null(sealed);
	assert_non_null(opened);
	assert_int_equal(sealed_len, len + 176);
	rand_of(rnd, v);
	assert_int_equal(cr_tdh2_seal(sealed, sealed_len, payload, len, LABEL, LABEL_LEN, pk, rnd), 0);
	assert_int_equal(cr_tdh2_sealed_ct(&ct, sealed, sealed_len), 0);
	make_shares(ds, sh, pk->n, &ct);
	for (uint32_t i = 0; i < pk->n; i++)
		assert_int_equal(cr_tdh2_share_verify(pk, &ct, LABEL, LABEL_LEN, &ds[i]), 0);
	assert_int_equal(cr_tdh2_combine(key, pk, &ct, ds + pk->n - pk->f - 1, pk->f + 1, NULL), 0);
	assert_int_equal(cr_tdh2_open(len > 0 ? opened : NULL, len, sealed, sealed_len, LABEL,
				      LABEL_LEN, key), 0);
	if (len > 0)
		assert_memory_equal(opened, payload, len);
	free(sealed);
	free(opened);
}

static void test_seal_and_open_round_trip_at_4_7_10(void **state)
{
	static const size_t lens[] = { 0, 1, 31, 1000, 70000 };
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[CR_THRESH_N_MAX];
	uint8_t *payload = malloc(70000);

	(void)state;
	assert_non_null(payload);
	for (size_t i = 0; i < 70000; i++)
		payload[i] = (uint8_t)(i * 31 + 7);
	for (size_t s = 0; s < sizeof(SIZES) / sizeof(SIZES[0]); s++) {
		deal(&pk, sh, SIZES[s], CR_THRESH_ENC, 100 + SIZES[s]);
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++)
			seal_and_open(&pk, sh, payload, lens[j], (uint32_t)(s * 10 + j));
	}
	free(payload);
}

static void test_open_rejects_wrong_key_label_length_and_any_tampering(void **state)
{
	static const uint8_t payload[] = "a batch of client requests";
	const size_t plen = sizeof(payload) - 1;
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4];
	struct cr_tdh2_share ds[4];
	struct cr_tdh2_ct ct;
	uint8_t sealed[sizeof(payload) - 1 + CR_TDH2_SEAL_OVERHEAD];
	uint8_t t[sizeof(sealed)];
	uint8_t out[sizeof(payload)];
	uint8_t rnd[32], key[32], wrong[32];

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_ENC, 110);
	rand_of(rnd, 110);
	assert_int_equal(cr_tdh2_seal(sealed, sizeof(sealed), payload, plen, LABEL, LABEL_LEN, &pk, rnd), 0);
	assert_int_equal(cr_tdh2_sealed_ct(&ct, sealed, sizeof(sealed)), 0);
	make_shares(ds, sh, 4, &ct);
	assert_int_equal(cr_tdh2_combine(key, &pk, &ct, ds, 2, NULL), 0);
	assert_int_equal(cr_tdh2_open(out, plen, sealed, sizeof(sealed), LABEL, LABEL_LEN, key), 0);
	assert_memory_equal(out, payload, plen);

	memcpy(wrong, key, 32);
	wrong[0] ^= 1;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(cr_tdh2_open(out, plen, sealed, sizeof(sealed), LABEL, LABEL_LEN, wrong), -1);
	assert_true(sodium_is_zero(out, plen));
	assert_int_equal(cr_tdh2_open(out, plen, sealed, sizeof(sealed), LABEL, LABEL_LEN - 1, key), -1);
	assert_int_equal(cr_tdh2_open(out, plen - 1, sealed, sizeof(sealed), LABEL, LABEL_LEN, key), -1);
	assert_int_equal(cr_tdh2_open(out, plen, sealed, sizeof(sealed) - 1, LABEL, LABEL_LEN, key), -1);
	assert_int_equal(cr_tdh2_open(out, 0, sealed, CR_TDH2_SEAL_OVERHEAD - 1, LABEL, LABEL_LEN, key), -1);
	/* Every byte of the AEAD part (body and tag) is authenticated. */
	for (size_t i = CR_TDH2_CT_BYTES; i < sizeof(sealed); i++) {
		memcpy(t, sealed, sizeof(sealed));
		t[i] ^= 0x10;
		assert_int_equal(cr_tdh2_open(out, plen, t, sizeof(t), LABEL, LABEL_LEN, key), -1);
	}
	/* A tampered TDH2 header fails its check (or its decoding), so no share is ever made. */
	for (size_t i = 0; i < CR_TDH2_CT_BYTES; i += 5) {
		struct cr_tdh2_ct tc;

		memcpy(t, sealed, sizeof(sealed));
		t[i] ^= 0x01;
		if (cr_tdh2_sealed_ct(&tc, t, sizeof(t)) == 0)
			assert_int_equal(cr_tdh2_ct_check(&tc, LABEL, LABEL_LEN), -1);
	}
	assert_int_equal(cr_tdh2_sealed_ct(&ct, sealed, CR_TDH2_SEAL_OVERHEAD - 1), -1);
}

static void test_seal_is_deterministic_for_fixed_rand_and_hedged_by_payload(void **state)
{
	static const uint8_t p1[] = "payload one";
	static const uint8_t p2[] = "payload two";
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4];
	uint8_t a[sizeof(p1) - 1 + CR_TDH2_SEAL_OVERHEAD];
	uint8_t b[sizeof(a)], c[sizeof(a)];
	uint8_t rnd[32];

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_ENC, 120);
	rand_of(rnd, 120);
	assert_int_equal(cr_tdh2_seal(a, sizeof(a), p1, sizeof(p1) - 1, LABEL, LABEL_LEN, &pk, rnd), 0);
	assert_int_equal(cr_tdh2_seal(b, sizeof(b), p1, sizeof(p1) - 1, LABEL, LABEL_LEN, &pk, rnd), 0);
	assert_memory_equal(a, b, sizeof(a));
	/* The same rand for another payload: a different key (the TDH2 header differs), so no
	 * XChaCha20 key and nonce pair is ever reused. */
	assert_int_equal(cr_tdh2_seal(c, sizeof(c), p2, sizeof(p2) - 1, LABEL, LABEL_LEN, &pk, rnd), 0);
	assert_memory_not_equal(a, c, CR_TDH2_CT_BYTES);
	/* A wrong output length is refused, and the output zeroed. */
	memset(c, 0xaa, sizeof(c));
	assert_int_equal(cr_tdh2_seal(c, sizeof(c) - 1, p1, sizeof(p1) - 1, LABEL, LABEL_LEN, &pk, rnd), -1);
	assert_true(sodium_is_zero(c, sizeof(c) - 1));
	assert_int_equal(cr_tdh2_sealed_len(SIZE_MAX), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tdh2_round_trip_at_4_7_10),
		cmocka_unit_test(test_tdh2_every_f_plus_1_subset_recovers_the_same_key),
		cmocka_unit_test(test_tdh2_combine_refuses_f_shares_duplicates_and_bad_indices),
		cmocka_unit_test(test_tdh2_check_rejects_every_tampered_field_and_the_wrong_label),
		cmocka_unit_test(test_tdh2_share_make_refuses_an_invalid_ciphertext),
		cmocka_unit_test(test_tdh2_share_verify_rejects_wrong_index_tampering_and_other_contexts),
		cmocka_unit_test(test_combining_an_unverified_bad_share_gives_a_wrong_key),
		cmocka_unit_test(test_tdh2_is_deterministic_for_fixed_rand_and_hedged_otherwise),
		cmocka_unit_test(test_tdh2_refuses_coin_keys),
		cmocka_unit_test(test_tdh2_ciphertext_encoding_round_trips_and_decode_is_strict),
		cmocka_unit_test(test_tdh2_share_encoding_round_trips_and_decode_is_strict),
		cmocka_unit_test(test_seal_and_open_round_trip_at_4_7_10),
		cmocka_unit_test(test_open_rejects_wrong_key_label_length_and_any_tampering),
		cmocka_unit_test(test_seal_is_deterministic_for_fixed_rand_and_hedged_by_payload),
	};

	if (cr_init() != 0)
		return 1;
	return cmocka_run_group_tests_name("cr_tdh2", tests, NULL, NULL);
}
