/*
 * Unit tests for the threshold key sets (crypto/cr_dealer), the DLEQ proofs (crypto/cr_dleq) and
 * the common coin (crypto/cr_coin), plus the known-answer vectors of the whole threshold layer
 * (tests/vectors/thresh_kat.txt, TDH2 and sealing included).
 *
 * The vectors were generated once by this implementation (CR_KAT_WRITE=1 rewrites the file; do
 * that only for a deliberate, documented format change): they pin every encoding, hash and
 * derivation, so any change that would make two builds disagree fails here.
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

#include "crypto/cr_coin.h"
#include "crypto/cr_dealer.h"
#include "crypto/cr_dleq.h"
#include "crypto/cr_group.h"
#include "crypto/cr_hash.h"
#include "crypto/cr_sign.h"
#include "crypto/cr_tdh2.h"

static const char *const L_HEX = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
static const char *const L_PLUS_1_HEX =
	"eed3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

static const uint32_t SIZES[] = { 4, 7, 10 };

static void hex_to(uint8_t *out, size_t n, const char *hex)
{
	size_t got = 0;

	assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL), 0);
	assert_int_equal(got, n);
}

static void seed_of(uint8_t seed[CR_THRESH_SEED_BYTES], uint32_t v)
{
	cr_digest(seed, "test.seed", &v, sizeof(v));
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

	seed_of(seed, seedv);
	assert_int_equal(cr_dealer_deal(pk, sh, n, f_of(n), purpose, seed), 0);
}

/* Scalar bytes with a value set: l, l + 1, or 1 with bit 255 set. */
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

/* ---------------------------------------------------------------------------------------------
 * Dealer and key sets */

static void test_dealer_shares_match_verification_keys(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[CR_THRESH_N_MAX];

	(void)state;
	for (size_t s = 0; s < sizeof(SIZES) / sizeof(SIZES[0]); s++) {
		uint32_t n = SIZES[s];

		deal(&pk, sh, n, CR_THRESH_COIN, n);
		assert_int_equal(pk.n, n);
		assert_int_equal(pk.f, f_of(n));
		assert_int_equal(cr_thresh_pubkey_check(&pk), 0);
		for (uint32_t i = 1; i <= n; i++) {
			assert_int_equal(sh[i - 1].index, i);
			assert_int_equal(cr_thresh_share_check(&pk, &sh[i - 1]), 0);
		}
	}
}

static void test_every_f_plus_1_shares_reconstruct_the_secret_behind_h(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[CR_THRESH_N_MAX];
	struct cr_lagrange_set set;
	uint8_t x[32], term[32], gx[32];

	(void)state;
	deal(&pk, sh, 7, CR_THRESH_ENC, 1);
	for (uint64_t mask = 1; mask < (1u << 7); mask++) {
		int bits = __builtin_popcountll(mask);

		if (bits != 3 && bits != 2)
			continue;
		assert_int_equal(cr_lagrange_compute(&set, mask), 0);
		memset(x, 0, 32);
		for (uint32_t b = 0; b < 7; b++) {
			if (!(mask & (1u << b)))
				continue;
			crypto_core_ristretto255_scalar_mul(term, set.coef[b], sh[b].x);
			crypto_core_ristretto255_scalar_add(x, x, term);
		}
		assert_int_equal(cr_point_mul_base(gx, x), 0);
		/* f+1 = 3 shares give x; f = 2 do not. */
		if (bits == 3)
			assert_memory_equal(gx, pk.h, 32);
		else
			assert_memory_not_equal(gx, pk.h, 32);
	}
}

static void test_dealer_is_deterministic_and_separates_purposes_and_seeds(void **state)
{
	struct cr_thresh_pubkey a, b, c, d;
	struct cr_thresh_share sa[4], sb[4], sc[4], sd[4];

	(void)state;
	deal(&a, sa, 4, CR_THRESH_COIN, 9);
	deal(&b, sb, 4, CR_THRESH_COIN, 9);
	deal(&c, sc, 4, CR_THRESH_ENC, 9);
	deal(&d, sd, 4, CR_THRESH_COIN, 10);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_memory_equal(sa, sb, sizeof(sa));
	assert_memory_not_equal(a.h, c.h, 32);
	assert_memory_not_equal(sa[0].x, sc[0].x, 32);
	assert_memory_not_equal(a.h, d.h, 32);
}

static void test_dealer_rejects_bad_parameters_and_zeroes_outputs(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[CR_THRESH_N_MAX + 1];
	uint8_t seed[32] = { 1 };

	(void)state;
	memset(&pk, 0xaa, sizeof(pk));
	assert_int_equal(cr_dealer_deal(&pk, sh, 0, 0, CR_THRESH_COIN, seed), -1);
	assert_true(sodium_is_zero((const uint8_t *)&pk, sizeof(pk)));
	assert_int_equal(cr_dealer_deal(&pk, sh, CR_THRESH_N_MAX + 1, 1, CR_THRESH_COIN, seed), -1);
	assert_int_equal(cr_dealer_deal(&pk, sh, 4, 4, CR_THRESH_COIN, seed), -1);
	assert_int_equal(cr_dealer_deal(&pk, sh, 4, 1, (enum cr_thresh_purpose)3, seed), -1);
	/* The extremes are allowed: f = 0, f + 1 = n, n = 64. */
	assert_int_equal(cr_dealer_deal(&pk, sh, 1, 0, CR_THRESH_COIN, seed), 0);
	assert_int_equal(cr_dealer_deal(&pk, sh, 5, 4, CR_THRESH_COIN, seed), 0);
	assert_int_equal(cr_thresh_pubkey_check(&pk), 0);
	assert_int_equal(cr_dealer_deal(&pk, sh, 64, 21, CR_THRESH_ENC, seed), 0);
	assert_int_equal(cr_thresh_pubkey_check(&pk), 0);
}

static void test_dealer_random_wrapper_gives_valid_fresh_keys(void **state)
{
	struct cr_thresh_pubkey a, b;
	struct cr_thresh_share sa[4], sb[4];

	(void)state;
	assert_int_equal(cr_dealer_deal_random(&a, sa, 4, 1, CR_THRESH_COIN), 0);
	assert_int_equal(cr_dealer_deal_random(&b, sb, 4, 1, CR_THRESH_COIN), 0);
	assert_int_equal(cr_thresh_share_check(&a, &sa[3]), 0);
	assert_memory_not_equal(a.h, b.h, 32);
}

static void test_pubkey_round_trips_through_its_encoding(void **state)
{
	static const uint32_t ns[] = { 4, 7, 10, 64 };
	struct cr_thresh_pubkey pk, got;
	struct cr_thresh_share sh[CR_THRESH_N_MAX];
	uint8_t buf[CR_THRESH_PUBKEY_BYTES_MAX + 1];

	(void)state;
	for (size_t s = 0; s < sizeof(ns) / sizeof(ns[0]); s++) {
		size_t len = CR_THRESH_PUBKEY_BYTES(ns[s]);

		deal(&pk, sh, ns[s], CR_THRESH_ENC, 20 + ns[s]);
		assert_int_equal(cr_thresh_pubkey_encode(buf, len, &pk), 0);
		assert_int_equal(cr_thresh_pubkey_decode(&got, buf, len), 0);
		assert_memory_equal(&got, &pk, sizeof(pk));
		/* A wrong output length is refused. */
		assert_int_equal(cr_thresh_pubkey_encode(buf, len + 1, &pk), -1);
	}
	assert_int_equal(CR_THRESH_PUBKEY_BYTES(4), 168);
}

static void expect_pubkey_decode_fails(const uint8_t *buf, size_t len)
{
	struct cr_thresh_pubkey got;

	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(cr_thresh_pubkey_decode(&got, buf, len), -1);
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(((const uint8_t *)&got)[i], 0x5a); /* untouched */
}

static void test_pubkey_decode_rejects_every_malformation(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[7];
	uint8_t good[CR_THRESH_PUBKEY_BYTES(7)];
	uint8_t buf[CR_THRESH_PUBKEY_BYTES(7) + 1];
	const size_t len = sizeof(good);

	(void)state;
	deal(&pk, sh, 7, CR_THRESH_COIN, 3);
	assert_int_equal(cr_thresh_pubkey_encode(good, len, &pk), 0);
#define MUTATE(stmt)                            \
	do {                                    \
		memcpy(buf, good, len);         \
		stmt;                           \
		expect_pubkey_decode_fails(buf, len); \
	} while (0)
	expect_pubkey_decode_fails(good, len - 1);
	memcpy(buf, good, len);
	buf[len] = 0;
	expect_pubkey_decode_fails(buf, len + 1);
	expect_pubkey_decode_fails(good, 0);
	MUTATE(buf[0] = 2);                 /* version */
	MUTATE(buf[1] = 0);                 /* purpose */
	MUTATE(buf[1] = 3);
	MUTATE(buf[2] = 6);                 /* n disagrees with the length */
	MUTATE(buf[2] = 0);                 /* n = 0 */
	MUTATE(buf[4] = 7);                 /* f = n */
	MUTATE(buf[6] = 1);                 /* reserved */
	MUTATE(buf[7] = 1);
	MUTATE(memset(buf + 8, 0, 32));     /* h is the identity */
	MUTATE(memset(buf + 40, 0, 32));    /* vk_1 is the identity */
	MUTATE(memset(buf + 8 + 32 * 7, 0xff, 32)); /* vk_7 is not a point */
	MUTATE(buf[8 + 31] |= 0x80);        /* h with bit 255 set */
	MUTATE(memcpy(buf + 8, cr_group_g, 32));              /* h off the polynomial */
	MUTATE(memcpy(buf + 8 + 32 * 7, cr_group_gbar, 32));  /* vk_7 off the polynomial */
	/* Two verification keys swapped: each is valid, the set is not consistent. */
	MUTATE(memcpy(buf + 40, good + 72, 32); memcpy(buf + 72, good + 40, 32));
#undef MUTATE
	assert_int_equal(cr_thresh_pubkey_decode(&pk, good, len), 0);
}

static void test_pubkey_from_parts_checks_consistency(void **state)
{
	struct cr_thresh_pubkey pk, got;
	struct cr_thresh_share sh[4];
	uint8_t vk[4][32];

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_ENC, 4);
	memcpy(vk, pk.vk, sizeof(vk));
	assert_int_equal(cr_thresh_pubkey_from_parts(&got, CR_THRESH_ENC, 4, 1, pk.h, vk), 0);
	assert_memory_equal(&got, &pk, sizeof(pk));
	memcpy(vk[3], cr_group_gbar, 32);
	assert_int_equal(cr_thresh_pubkey_from_parts(&got, CR_THRESH_ENC, 4, 1, pk.h, vk), -1);
	assert_int_equal(cr_thresh_pubkey_from_parts(&got, CR_THRESH_ENC, 4, 4, pk.h, vk), -1);
}

static void test_share_round_trips_and_decode_is_strict(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4], got;
	uint8_t good[CR_THRESH_SHARE_BYTES], buf[CR_THRESH_SHARE_BYTES + 1];

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_COIN, 5);
	cr_thresh_share_encode(good, &sh[2]);
	assert_int_equal(cr_thresh_share_decode(&got, good, sizeof(good)), 0);
	assert_memory_equal(&got, &sh[2], sizeof(got));
	assert_int_equal(cr_thresh_share_check(&pk, &got), 0);
	assert_int_equal(CR_THRESH_SHARE_BYTES, 40);

	memset(&got, 0x5a, sizeof(got));
	memcpy(buf, good, sizeof(good));
	buf[40] = 0;
	assert_int_equal(cr_thresh_share_decode(&got, buf, 41), -1);
	assert_int_equal(cr_thresh_share_decode(&got, buf, 39), -1);
#define BAD(stmt)                                                              \
	do {                                                                   \
		memcpy(buf, good, sizeof(good));                               \
		stmt;                                                          \
		assert_int_equal(cr_thresh_share_decode(&got, buf, sizeof(good)), -1); \
	} while (0)
	BAD(buf[0] = 0);                         /* version */
	BAD(buf[1] = 9);                         /* purpose */
	BAD(buf[2] = 0; buf[3] = 0);             /* index 0 */
	BAD(buf[2] = 65; buf[3] = 0);            /* index 65 */
	BAD(buf[3] = 1);                         /* index 259 */
	BAD(buf[5] = 1);                         /* reserved */
	BAD(memset(buf + 8, 0, 32));             /* x = 0 */
	BAD(bad_scalar(buf + 8, 0));             /* x = l */
	BAD(bad_scalar(buf + 8, 1));             /* x = l + 1 */
	BAD(bad_scalar(buf + 8, 2));             /* x with bit 255 set */
#undef BAD
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(((const uint8_t *)&got)[i], 0x5a);
	cr_thresh_share_wipe(&got);
	assert_true(sodium_is_zero((const uint8_t *)&got, sizeof(got)));
}

static void test_share_check_rejects_other_index_purpose_or_key_set(void **state)
{
	struct cr_thresh_pubkey pk, other;
	struct cr_thresh_share sh[4], osh[4], s;

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_COIN, 6);
	deal(&other, osh, 4, CR_THRESH_COIN, 7);
	s = sh[1];
	s.index = 3; /* claims to be share 3 */
	assert_int_equal(cr_thresh_share_check(&pk, &s), -1);
	s = sh[1];
	s.purpose = CR_THRESH_ENC;
	assert_int_equal(cr_thresh_share_check(&pk, &s), -1);
	assert_int_equal(cr_thresh_share_check(&other, &sh[1]), -1);
	s = sh[1];
	s.index = 5;
	assert_int_equal(cr_thresh_share_check(&pk, &s), -1);
	assert_int_equal(cr_thresh_share_from_parts(&s, CR_THRESH_COIN, 2, sh[1].x), 0);
	assert_int_equal(cr_thresh_share_check(&pk, &s), 0);
	assert_int_equal(cr_thresh_share_from_parts(&s, CR_THRESH_COIN, 0, sh[1].x), -1);
	assert_int_equal(cr_thresh_share_from_parts(&s, CR_THRESH_COIN, 65, sh[1].x), -1);
}

/* ---------------------------------------------------------------------------------------------
 * DLEQ */

struct dleq_case {
	uint8_t x[32], h1[32], g2[32], h2[32];
};

static void dleq_setup(struct dleq_case *c, uint32_t v)
{
	cr_scalar_hash(c->x, "test.x", &v, sizeof(v));
	cr_point_hash(c->g2, "test.g2", &v, sizeof(v));
	assert_int_equal(cr_point_mul_base(c->h1, c->x), 0);
	assert_int_equal(cr_point_mul(c->h2, c->x, c->g2), 0);
}

static void test_dleq_proof_verifies_and_is_deterministic_for_fixed_rand(void **state)
{
	struct dleq_case c;
	struct cr_dleq p, q, r;
	uint8_t rnd[32], rnd2[32];

	(void)state;
	dleq_setup(&c, 1);
	rand_of(rnd, 1);
	rand_of(rnd2, 2);
	assert_int_equal(cr_dleq_prove(&p, c.x, cr_group_g, c.h1, c.g2, c.h2, (const uint8_t *)"ctx", 3, rnd), 0);
	assert_int_equal(cr_dleq_verify(&p, cr_group_g, c.h1, c.g2, c.h2, (const uint8_t *)"ctx", 3), 0);
	assert_int_equal(cr_dleq_prove(&q, c.x, cr_group_g, c.h1, c.g2, c.h2, (const uint8_t *)"ctx", 3, rnd), 0);
	assert_memory_equal(&p, &q, sizeof(p));
	/* Another rand: another nonce, another (equally valid) proof. */
	assert_int_equal(cr_dleq_prove(&r, c.x, cr_group_g, c.h1, c.g2, c.h2, (const uint8_t *)"ctx", 3, rnd2), 0);
	assert_memory_not_equal(&p, &r, sizeof(p));
	assert_int_equal(cr_dleq_verify(&r, cr_group_g, c.h1, c.g2, c.h2, (const uint8_t *)"ctx", 3), 0);
	/* The same rand for another statement still gives a fresh nonce: the commitments, hence
	 * z - c x, differ (checked through the differing responses). */
	assert_int_equal(cr_dleq_prove(&q, c.x, cr_group_g, c.h1, c.g2, c.h2, (const uint8_t *)"ctx2", 4, rnd), 0);
	assert_memory_not_equal(q.z, p.z, 32);
	/* An empty context is allowed. */
	assert_int_equal(cr_dleq_prove(&q, c.x, cr_group_g, c.h1, c.g2, c.h2, NULL, 0, rnd), 0);
	assert_int_equal(cr_dleq_verify(&q, cr_group_g, c.h1, c.g2, c.h2, NULL, 0), 0);
}

static void test_dleq_rejects_wrong_statement_or_context(void **state)
{
	struct dleq_case c, d;
	struct cr_dleq p;
	uint8_t rnd[32];
	const uint8_t *ctx = (const uint8_t *)"ctx";

	(void)state;
	dleq_setup(&c, 3);
	dleq_setup(&d, 4);
	rand_of(rnd, 3);
	assert_int_equal(cr_dleq_prove(&p, c.x, cr_group_g, c.h1, c.g2, c.h2, ctx, 3, rnd), 0);
	assert_int_equal(cr_dleq_verify(&p, cr_group_g, c.h1, c.g2, c.h2, (const uint8_t *)"ctX", 3), -1);
	assert_int_equal(cr_dleq_verify(&p, cr_group_g, c.h1, c.g2, c.h2, ctx, 2), -1);
	assert_int_equal(cr_dleq_verify(&p, cr_group_g, d.h1, c.g2, c.h2, ctx, 3), -1);
	assert_int_equal(cr_dleq_verify(&p, cr_group_g, c.h1, c.g2, d.h2, ctx, 3), -1);
	assert_int_equal(cr_dleq_verify(&p, cr_group_g, c.h1, d.g2, c.h2, ctx, 3), -1);
	assert_int_equal(cr_dleq_verify(&p, cr_group_gbar, c.h1, c.g2, c.h2, ctx, 3), -1);
	/* Bases and values swapped. */
	assert_int_equal(cr_dleq_verify(&p, c.g2, c.h2, cr_group_g, c.h1, ctx, 3), -1);
	/* A "proof" for unequal logarithms: h2 made with another secret. */
	assert_int_equal(cr_dleq_prove(&p, c.x, cr_group_g, c.h1, c.g2, d.h2, ctx, 3, rnd), 0);
	assert_int_equal(cr_dleq_verify(&p, cr_group_g, c.h1, c.g2, d.h2, ctx, 3), -1);
}

static void test_dleq_rejects_tampered_and_non_canonical_proofs(void **state)
{
	struct dleq_case c;
	struct cr_dleq p, t;
	uint8_t enc[CR_DLEQ_BYTES], bad[CR_DLEQ_BYTES];
	uint8_t rnd[32];
	const uint8_t *ctx = (const uint8_t *)"ctx";

	(void)state;
	dleq_setup(&c, 5);
	rand_of(rnd, 5);
	assert_int_equal(cr_dleq_prove(&p, c.x, cr_group_g, c.h1, c.g2, c.h2, ctx, 3, rnd), 0);
	for (int i = 0; i < 32; i += 7) {
		t = p;
		t.c[i] ^= 1;
		assert_int_equal(cr_dleq_verify(&t, cr_group_g, c.h1, c.g2, c.h2, ctx, 3), -1);
		t = p;
		t.z[i] ^= 1;
		assert_int_equal(cr_dleq_verify(&t, cr_group_g, c.h1, c.g2, c.h2, ctx, 3), -1);
	}
	/* z with bit 255 set: libsodium would use z itself, the check refuses the encoding. */
	t = p;
	t.z[31] |= 0x80;
	assert_int_equal(cr_dleq_verify(&t, cr_group_g, c.h1, c.g2, c.h2, ctx, 3), -1);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cr_dleq_verify(&t, cr_group_g, c.h1, c.g2, c.h2, ctx, 3), -1);
	/* Identity or invalid points in the statement. */
	assert_int_equal(cr_dleq_verify(&p, cr_group_g, c.h1, c.g2, (const uint8_t[32]){ 0 }, ctx, 3), -1);

	cr_dleq_encode(enc, &p);
	assert_int_equal(cr_dleq_decode(&t, enc), 0);
	assert_memory_equal(&t, &p, sizeof(p));
	for (int w = 0; w < 3; w++) {
		memcpy(bad, enc, sizeof(enc));
		bad_scalar(bad, w);
		assert_int_equal(cr_dleq_decode(&t, bad), -1);
		memcpy(bad, enc, sizeof(enc));
		bad_scalar(bad + 32, w);
		assert_int_equal(cr_dleq_decode(&t, bad), -1);
	}
}

static void test_dleq_prove_refuses_bad_secret_or_points(void **state)
{
	struct dleq_case c;
	struct cr_dleq p;
	uint8_t rnd[32], x[32];
	uint8_t ident[32] = { 0 };

	(void)state;
	dleq_setup(&c, 6);
	rand_of(rnd, 6);
	memset(x, 0, 32);
	memset(&p, 0xaa, sizeof(p));
	assert_int_equal(cr_dleq_prove(&p, x, cr_group_g, c.h1, c.g2, c.h2, NULL, 0, rnd), -1);
	assert_true(sodium_is_zero((const uint8_t *)&p, sizeof(p)));
	bad_scalar(x, 0);
	assert_int_equal(cr_dleq_prove(&p, x, cr_group_g, c.h1, c.g2, c.h2, NULL, 0, rnd), -1);
	assert_int_equal(cr_dleq_prove(&p, c.x, cr_group_g, c.h1, ident, c.h2, NULL, 0, rnd), -1);
	assert_int_equal(cr_dleq_prove(&p, c.x, cr_group_g, ident, c.g2, c.h2, NULL, 0, rnd), -1);
}

/* ---------------------------------------------------------------------------------------------
 * Common coin */

#define NAME ((const uint8_t *)"hb/epoch=7/aba=2/round=1")
#define NAME_LEN 24u

static void coin_shares(struct cr_coin_share *out, const struct cr_thresh_share *sh, uint32_t n,
			const uint8_t *name, size_t name_len)
{
	uint8_t rnd[32];

	for (uint32_t i = 0; i < n; i++) {
		rand_of(rnd, 1000 + i);
		assert_int_equal(cr_coin_share_make(&out[i], &sh[i], name, name_len, rnd), 0);
	}
}

static void test_coin_round_trip_at_4_7_10(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[CR_THRESH_N_MAX];
	struct cr_coin_share cs[CR_THRESH_N_MAX];
	struct cr_coin_value v;

	(void)state;
	for (size_t s = 0; s < sizeof(SIZES) / sizeof(SIZES[0]); s++) {
		uint32_t n = SIZES[s];

		deal(&pk, sh, n, CR_THRESH_COIN, 100 + n);
		coin_shares(cs, sh, n, NAME, NAME_LEN);
		for (uint32_t i = 0; i < n; i++) {
			assert_int_equal(cs[i].index, i + 1);
			assert_int_equal(cr_coin_share_verify(&pk, NAME, NAME_LEN, &cs[i]), 0);
		}
		assert_int_equal(cr_coin_combine(&v, &pk, NAME, NAME_LEN, cs, n, NULL), 0);
		assert_int_equal(v.bit, v.value[0] & 1);
	}
}

/* Combines the shares selected by mask (in index order, or reversed) and checks the value. */
static void combine_mask(const struct cr_thresh_pubkey *pk, const struct cr_coin_share *cs,
			 uint64_t mask, int reverse, struct cr_lagrange_cache *cache,
			 const struct cr_coin_value *want)
{
	struct cr_coin_share sel[CR_THRESH_N_MAX];
	struct cr_coin_value v;
	size_t k = 0;

	for (uint32_t b = 0; b < pk->n; b++)
		if (mask & ((uint64_t)1 << b))
			sel[k++] = cs[b];
	if (reverse)
		for (size_t i = 0; i < k / 2; i++) {
			struct cr_coin_share t = sel[i];

			sel[i] = sel[k - 1 - i];
			sel[k - 1 - i] = t;
		}
	assert_int_equal(cr_coin_combine(&v, pk, NAME, NAME_LEN, sel, k, cache), 0);
	assert_memory_equal(&v, want, sizeof(v));
}

static void test_coin_every_f_plus_1_subset_gives_the_same_coin(void **state)
{
	static const uint32_t ns[] = { 4, 7 };
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[CR_THRESH_N_MAX];
	struct cr_coin_share cs[CR_THRESH_N_MAX];
	struct cr_coin_value want;
	struct cr_lagrange_cache cache;

	(void)state;
	cr_lagrange_cache_init(&cache);
	for (size_t s = 0; s < 2; s++) {
		uint32_t n = ns[s];
		uint32_t t = f_of(n) + 1;
		unsigned subsets = 0;

		deal(&pk, sh, n, CR_THRESH_COIN, 200 + n);
		coin_shares(cs, sh, n, NAME, NAME_LEN);
		assert_int_equal(cr_coin_combine(&want, &pk, NAME, NAME_LEN, cs, n, NULL), 0);
		for (uint64_t mask = 1; mask < ((uint64_t)1 << n); mask++) {
			int bits = __builtin_popcountll(mask);

			if ((uint32_t)bits < t)
				continue;
			combine_mask(&pk, cs, mask, 0, bits == (int)t ? NULL : &cache, &want);
			if ((uint32_t)bits == t) {
				combine_mask(&pk, cs, mask, 1, &cache, &want);
				subsets++;
			}
		}
		assert_int_equal(subsets, n == 4 ? 6 : 35);
	}
}

static void test_coin_combine_refuses_f_shares_duplicates_and_bad_indices(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[7];
	struct cr_coin_share cs[7], sel[3];
	struct cr_coin_value v;

	(void)state;
	deal(&pk, sh, 7, CR_THRESH_COIN, 300);
	coin_shares(cs, sh, 7, NAME, NAME_LEN);
	memset(&v, 0xaa, sizeof(v));
	assert_int_equal(cr_coin_combine(&v, &pk, NAME, NAME_LEN, cs, 2, NULL), -1);
	assert_true(sodium_is_zero((const uint8_t *)&v, sizeof(v)));
	assert_int_equal(cr_coin_combine(&v, &pk, NAME, NAME_LEN, cs, 0, NULL), -1);
	sel[0] = cs[0];
	sel[1] = cs[1];
	sel[2] = cs[1]; /* the same share twice is not f+1 shares */
	assert_int_equal(cr_coin_combine(&v, &pk, NAME, NAME_LEN, sel, 3, NULL), -1);
	sel[2] = cs[2];
	sel[2].index = 8;
	assert_int_equal(cr_coin_combine(&v, &pk, NAME, NAME_LEN, sel, 3, NULL), -1);
	sel[2].index = 0;
	assert_int_equal(cr_coin_combine(&v, &pk, NAME, NAME_LEN, sel, 3, NULL), -1);
	sel[2] = cs[2];
	memset(sel[2].sigma, 0, 32);
	assert_int_equal(cr_coin_combine(&v, &pk, NAME, NAME_LEN, sel, 3, NULL), -1);
	sel[2] = cs[2];
	assert_int_equal(cr_coin_combine(&v, &pk, NAME, NAME_LEN, sel, 3, NULL), 0);
}

static void test_coin_share_claiming_another_index_is_rejected(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4];
	struct cr_coin_share cs[4], t;

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_COIN, 400);
	coin_shares(cs, sh, 4, NAME, NAME_LEN);
	for (uint32_t claim = 0; claim <= 5; claim++) {
		t = cs[1];
		t.index = claim;
		assert_int_equal(cr_coin_share_verify(&pk, NAME, NAME_LEN, &t), claim == 2 ? 0 : -1);
	}
}

static void test_coin_share_for_another_name_or_key_set_is_rejected(void **state)
{
	struct cr_thresh_pubkey pk, other;
	struct cr_thresh_share sh[4], osh[4];
	struct cr_coin_share cs[4];

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_COIN, 500);
	deal(&other, osh, 4, CR_THRESH_COIN, 501);
	coin_shares(cs, sh, 4, NAME, NAME_LEN);
	assert_int_equal(cr_coin_share_verify(&pk, NAME, NAME_LEN - 1, &cs[0]), -1);
	assert_int_equal(cr_coin_share_verify(&pk, (const uint8_t *)"other", 5, &cs[0]), -1);
	assert_int_equal(cr_coin_share_verify(&other, NAME, NAME_LEN, &cs[0]), -1);
}

static void test_coin_tampered_share_is_rejected(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4];
	struct cr_coin_share cs[4], t;

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_COIN, 600);
	coin_shares(cs, sh, 4, NAME, NAME_LEN);
	/* sigma replaced by another valid point (another party's share, the generator). */
	t = cs[0];
	memcpy(t.sigma, cs[1].sigma, 32);
	assert_int_equal(cr_coin_share_verify(&pk, NAME, NAME_LEN, &t), -1);
	memcpy(t.sigma, cr_group_g, 32);
	assert_int_equal(cr_coin_share_verify(&pk, NAME, NAME_LEN, &t), -1);
	memset(t.sigma, 0, 32);
	assert_int_equal(cr_coin_share_verify(&pk, NAME, NAME_LEN, &t), -1);
	t = cs[0];
	t.sigma[31] |= 0x80;
	assert_int_equal(cr_coin_share_verify(&pk, NAME, NAME_LEN, &t), -1);
	t = cs[0];
	t.proof = cs[1].proof;
	assert_int_equal(cr_coin_share_verify(&pk, NAME, NAME_LEN, &t), -1);
	t = cs[0];
	t.proof.c[0] ^= 1;
	assert_int_equal(cr_coin_share_verify(&pk, NAME, NAME_LEN, &t), -1);
	t = cs[0];
	t.proof.z[5] ^= 4;
	assert_int_equal(cr_coin_share_verify(&pk, NAME, NAME_LEN, &t), -1);
}

static void test_coin_refuses_encryption_keys(void **state)
{
	struct cr_thresh_pubkey cpk, epk;
	struct cr_thresh_share csh[4], esh[4];
	struct cr_coin_share cs[4], t;
	struct cr_coin_value v;
	uint8_t rnd[32] = { 0 };

	(void)state;
	deal(&cpk, csh, 4, CR_THRESH_COIN, 700);
	deal(&epk, esh, 4, CR_THRESH_ENC, 700);
	assert_int_equal(cr_coin_share_make(&t, &esh[0], NAME, NAME_LEN, rnd), -1);
	coin_shares(cs, csh, 4, NAME, NAME_LEN);
	/* Same key material relabelled: still refused by purpose. */
	epk = cpk;
	epk.purpose = CR_THRESH_ENC;
	assert_int_equal(cr_coin_share_verify(&epk, NAME, NAME_LEN, &cs[0]), -1);
	assert_int_equal(cr_coin_combine(&v, &epk, NAME, NAME_LEN, cs, 4, NULL), -1);
}

static void test_coin_share_encoding_round_trips_and_decode_is_strict(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4];
	struct cr_coin_share cs[4], got;
	uint8_t good[CR_COIN_SHARE_BYTES], buf[CR_COIN_SHARE_BYTES + 1];

	(void)state;
	assert_int_equal(CR_COIN_SHARE_BYTES, 98);
	deal(&pk, sh, 4, CR_THRESH_COIN, 800);
	coin_shares(cs, sh, 4, NAME, NAME_LEN);
	cr_coin_share_encode(good, &cs[3]);
	assert_int_equal(cr_coin_share_decode(&got, good, sizeof(good)), 0);
	assert_memory_equal(&got, &cs[3], sizeof(got));
	assert_int_equal(cr_coin_share_verify(&pk, NAME, NAME_LEN, &got), 0);
	memset(&got, 0x5a, sizeof(got));
	memcpy(buf, good, sizeof(good));
	buf[sizeof(good)] = 0;
	assert_int_equal(cr_coin_share_decode(&got, buf, sizeof(good) + 1), -1);
	assert_int_equal(cr_coin_share_decode(&got, buf, sizeof(good) - 1), -1);
#define BAD(stmt)                                                              \
	do {                                                                   \
		memcpy(buf, good, sizeof(good));                               \
		stmt;                                                          \
		assert_int_equal(cr_coin_share_decode(&got, buf, sizeof(good)), -1); \
	} while (0)
	BAD(buf[0] = 0; buf[1] = 0);
	BAD(buf[0] = 65; buf[1] = 0);
	BAD(buf[1] = 1);
	BAD(memset(buf + 2, 0, 32));          /* identity */
	BAD(memset(buf + 2, 0xff, 32));       /* not a point */
	BAD(buf[2 + 31] |= 0x80);             /* bit 255 */
	BAD(buf[2] ^= 1);                     /* negative field element */
	for (int w = 0; w < 3; w++) {
		BAD(bad_scalar(buf + 34, w)); /* c */
		BAD(bad_scalar(buf + 66, w)); /* z */
	}
#undef BAD
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(((const uint8_t *)&got)[i], 0x5a);
}

static void test_coin_is_deterministic_and_names_give_independent_coins(void **state)
{
	struct cr_thresh_pubkey pk;
	struct cr_thresh_share sh[4];
	struct cr_coin_share a[4], b[4];
	struct cr_coin_value va, vb;
	unsigned ones = 0;
	uint8_t rnd[32];

	(void)state;
	deal(&pk, sh, 4, CR_THRESH_COIN, 900);
	coin_shares(a, sh, 4, NAME, NAME_LEN);
	coin_shares(b, sh, 4, NAME, NAME_LEN);
	assert_memory_equal(a, b, sizeof(a));
	/* Other proof randomness: other proofs, the same sigma and the same coin. */
	rand_of(rnd, 77);
	assert_int_equal(cr_coin_share_make(&b[0], &sh[0], NAME, NAME_LEN, rnd), 0);
	assert_memory_not_equal(&b[0].proof, &a[0].proof, sizeof(a[0].proof));
	assert_memory_equal(b[0].sigma, a[0].sigma, 32);
	assert_int_equal(cr_coin_combine(&va, &pk, NAME, NAME_LEN, a, 2, NULL), 0);
	assert_int_equal(cr_coin_combine(&vb, &pk, NAME, NAME_LEN, b, 2, NULL), 0);
	assert_memory_equal(&va, &vb, sizeof(va));
	/* 64 names: the bits are not all equal (probability 2^-63 otherwise). */
	for (uint32_t r = 0; r < 64; r++) {
		uint8_t name[8];

		memcpy(name, "round", 5);
		name[5] = (uint8_t)r;
		name[6] = name[7] = 0;
		coin_shares(b, sh, 2, name, sizeof(name));
		assert_int_equal(cr_coin_combine(&vb, &pk, name, sizeof(name), b, 2, NULL), 0);
		ones += vb.bit;
	}
	assert_true(ones > 0 && ones < 64);
}

/* ---------------------------------------------------------------------------------------------
 * Known-answer vectors: tests/vectors/thresh_kat.txt, "name hex" per line, '#' comments. */

#define KAT_MAX 64
#define KAT_NAME_MAX 48
#define KAT_HEX_MAX 4096

struct kat {
	char name[KAT_MAX][KAT_NAME_MAX];
	char *hex[KAT_MAX];
	size_t count;
	FILE *out; /* non-NULL in write mode */
};

static const char *kat_path(void)
{
	const char *p = getenv("CR_THRESH_KAT");

	return p != NULL ? p : "tests/vectors/thresh_kat.txt";
}

static void kat_load(struct kat *k)
{
	char line[KAT_NAME_MAX + KAT_HEX_MAX + 8];
	FILE *fp;

	memset(k, 0, sizeof(*k));
	if (getenv("CR_KAT_WRITE") != NULL) {
		k->out = fopen(kat_path(), "w");
		assert_non_null(k->out);
		fprintf(k->out, "# Known answers for crypto/cr_group, cr_dealer, cr_dleq, cr_coin and "
				"cr_tdh2.\n# Generated by tests/unit/test_cr_thresh.c with "
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

/* Compares (or in write mode, records) one vector. */
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

static void kat_done(struct kat *k)
{
	if (k->out != NULL)
		assert_int_equal(fclose(k->out), 0);
	for (size_t i = 0; i < k->count; i++)
		free(k->hex[i]);
}

static void test_threshold_layer_matches_known_answer_vectors(void **state)
{
	static const uint8_t label[] = "hb/epoch=1/proposer=2";
	static const uint8_t payload[] = "batch: put k1=v1; put k2=v2; del k3";
	struct kat k;
	struct cr_thresh_pubkey cpk, epk;
	struct cr_thresh_share csh[4], esh[4];
	struct cr_coin_share cs[4];
	struct cr_coin_value cv;
	struct cr_tdh2_ct ct;
	struct cr_tdh2_share ds[4];
	struct cr_dleq proof;
	uint8_t seed[32], rnd[32], m[32], got_m[32], buf[512], gx[32];
	char name[KAT_NAME_MAX];
	size_t sealed_len = cr_tdh2_sealed_len(sizeof(payload) - 1);
	uint8_t *sealed;

	(void)state;
	kat_load(&k);
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)i;

	cr_scalar_hash(buf, "cr.kat", "abc", 3);
	kat_check(&k, "group.hash_to_scalar", buf, 32);
	cr_point_hash(buf, "cr.kat", "abc", 3);
	kat_check(&k, "group.hash_to_point", buf, 32);
	kat_check(&k, "group.gbar", cr_group_gbar, 32);

	assert_int_equal(cr_dealer_deal(&cpk, csh, 4, 1, CR_THRESH_COIN, seed), 0);
	assert_int_equal(cr_thresh_pubkey_encode(buf, CR_THRESH_PUBKEY_BYTES(4), &cpk), 0);
	kat_check(&k, "coin.pubkey", buf, CR_THRESH_PUBKEY_BYTES(4));
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "coin.keyshare.%d", i + 1);
		cr_thresh_share_encode(buf, &csh[i]);
		kat_check(&k, name, buf, CR_THRESH_SHARE_BYTES);
	}

	memset(rnd, 0x42, 32);
	assert_int_equal(cr_point_mul(gx, csh[0].x, cr_group_gbar), 0);
	assert_int_equal(cr_dleq_prove(&proof, csh[0].x, cr_group_g, cpk.vk[0], cr_group_gbar, gx,
				       (const uint8_t *)"kat", 3, rnd), 0);
	cr_dleq_encode(buf, &proof);
	kat_check(&k, "dleq.proof", buf, CR_DLEQ_BYTES);

	for (int i = 0; i < 4; i++) {
		memset(rnd, 0x10 + i, 32);
		assert_int_equal(cr_coin_share_make(&cs[i], &csh[i], NAME, NAME_LEN, rnd), 0);
		cr_coin_share_encode(buf, &cs[i]);
		snprintf(name, sizeof(name), "coin.share.%d", i + 1);
		kat_check(&k, name, buf, CR_COIN_SHARE_BYTES);
	}
	assert_int_equal(cr_coin_combine(&cv, &cpk, NAME, NAME_LEN, cs + 2, 2, NULL), 0);
	kat_check(&k, "coin.value", cv.value, 32);
	kat_check(&k, "coin.bit", &cv.bit, 1);

	assert_int_equal(cr_dealer_deal(&epk, esh, 4, 1, CR_THRESH_ENC, seed), 0);
	assert_int_equal(cr_thresh_pubkey_encode(buf, CR_THRESH_PUBKEY_BYTES(4), &epk), 0);
	kat_check(&k, "enc.pubkey", buf, CR_THRESH_PUBKEY_BYTES(4));
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "enc.keyshare.%d", i + 1);
		cr_thresh_share_encode(buf, &esh[i]);
		kat_check(&k, name, buf, CR_THRESH_SHARE_BYTES);
	}
	for (int i = 0; i < 32; i++)
		m[i] = (uint8_t)(0xa0 + i);
	memset(rnd, 0x77, 32);
	assert_int_equal(cr_tdh2_encrypt(&ct, m, label, sizeof(label) - 1, &epk, rnd), 0);
	cr_tdh2_ct_encode(buf, &ct);
	kat_check(&k, "tdh2.ct", buf, CR_TDH2_CT_BYTES);
	for (int i = 0; i < 4; i++) {
		memset(rnd, 0x20 + i, 32);
		assert_int_equal(cr_tdh2_share_make(&ds[i], &esh[i], &ct, label, sizeof(label) - 1, rnd), 0);
		cr_tdh2_share_encode(buf, &ds[i]);
		snprintf(name, sizeof(name), "tdh2.share.%d", i + 1);
		kat_check(&k, name, buf, CR_TDH2_SHARE_BYTES);
	}
	assert_int_equal(cr_tdh2_combine(got_m, &epk, &ct, ds + 1, 2, NULL), 0);
	assert_memory_equal(got_m, m, 32);

	sealed = malloc(sealed_len);
	assert_non_null(sealed);
	memset(rnd, 0x99, 32);
	assert_int_equal(cr_tdh2_seal(sealed, sealed_len, payload, sizeof(payload) - 1, label,
				      sizeof(label) - 1, &epk, rnd), 0);
	kat_check(&k, "seal.sealed", sealed, sealed_len);
	free(sealed);
	kat_done(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dealer_shares_match_verification_keys),
		cmocka_unit_test(test_every_f_plus_1_shares_reconstruct_the_secret_behind_h),
		cmocka_unit_test(test_dealer_is_deterministic_and_separates_purposes_and_seeds),
		cmocka_unit_test(test_dealer_rejects_bad_parameters_and_zeroes_outputs),
		cmocka_unit_test(test_dealer_random_wrapper_gives_valid_fresh_keys),
		cmocka_unit_test(test_pubkey_round_trips_through_its_encoding),
		cmocka_unit_test(test_pubkey_decode_rejects_every_malformation),
		cmocka_unit_test(test_pubkey_from_parts_checks_consistency),
		cmocka_unit_test(test_share_round_trips_and_decode_is_strict),
		cmocka_unit_test(test_share_check_rejects_other_index_purpose_or_key_set),
		cmocka_unit_test(test_dleq_proof_verifies_and_is_deterministic_for_fixed_rand),
		cmocka_unit_test(test_dleq_rejects_wrong_statement_or_context),
		cmocka_unit_test(test_dleq_rejects_tampered_and_non_canonical_proofs),
		cmocka_unit_test(test_dleq_prove_refuses_bad_secret_or_points),
		cmocka_unit_test(test_coin_round_trip_at_4_7_10),
		cmocka_unit_test(test_coin_every_f_plus_1_subset_gives_the_same_coin),
		cmocka_unit_test(test_coin_combine_refuses_f_shares_duplicates_and_bad_indices),
		cmocka_unit_test(test_coin_share_claiming_another_index_is_rejected),
		cmocka_unit_test(test_coin_share_for_another_name_or_key_set_is_rejected),
		cmocka_unit_test(test_coin_tampered_share_is_rejected),
		cmocka_unit_test(test_coin_refuses_encryption_keys),
		cmocka_unit_test(test_coin_share_encoding_round_trips_and_decode_is_strict),
		cmocka_unit_test(test_coin_is_deterministic_and_names_give_independent_coins),
		cmocka_unit_test(test_threshold_layer_matches_known_answer_vectors),
	};

	if (cr_init() != 0)
		return 1;
	return cmocka_run_group_tests_name("cr_thresh", tests, NULL, NULL);
}
