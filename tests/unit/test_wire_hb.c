/*
 * The Honey Badger messages as the engine really produces them, through the codec.
 *
 * tests/unit/test_wire.c (the codec's own suite) covers types 32..40 field by field: round
 * trips of fixed samples, every rejection with its code, golden vectors (tests/vectors/
 * wire_hb_*.hex) and fuzz seeds (tests/fuzz/corpus/valid_hb_*). This suite adds what only a
 * running engine gives: frames with real Reed-Solomon shards and Merkle branches, real coin and
 * decryption shares, produced by a four-replica Honey Badger cluster. Every frame must decode,
 * re-encode to the same bytes (one message, one encoding), carry the sender's valid signature,
 * and its cryptographic payload must survive the trip: the branch still proves the shard, the
 * shares still decode with cr_coin / cr_tdh2. The frames of one epoch also seed the fuzzer:
 *   HB_CORPUS_REGEN=1 build/tests/unit/test_wire_hb   writes tests/fuzz/corpus/hb_engine_<type>
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bft/aba.h"
#include "bft/hb.h"
#include "crypto/cr_coin.h"
#include "crypto/cr_merkle.h"
#include "crypto/cr_tdh2.h"

#define N 4u

static struct cr_identity ids[N], client;
static uint8_t pks[N][CR_PK_BYTES], cpk[1][CR_PK_BYTES];
static struct cr_thresh_pubkey coin_pk, enc_pk;
static struct cr_thresh_share coin_sk[N], enc_sk[N];
static struct wire_limits L;
static uint64_t counter[N];

static void app_execute(void *ctx, bft_client_id c, const struct bft_bytes *op, uint64_t t,
			struct wire_buf *result)
{
	(void)ctx;
	(void)c;
	(void)op;
	(void)t;
	result->len = 0;
}

static enum bft_err app_snapshot(void *ctx, struct wire_buf *out)
{
	(void)ctx;
	(void)out;
	return BFT_OK;
}

static enum bft_err app_restore(void *ctx, const uint8_t *p, size_t len)
{
	(void)ctx;
	(void)p;
	(void)len;
	return BFT_OK;
}

/* Every frame the cluster sent, in order. */
static struct {
	uint8_t *p;
	size_t len;
	uint32_t to;
} frames[20000];
static size_t nframes;

static void keep(struct bft_out *out, uint32_t from)
{
	for (size_t i = 0; i < out->nmsgs; i++) {
		if (out->msgs[i].dest == BFT_TO_CLIENT)
			continue;
		for (uint32_t to = 0; to < N; to++) {
			if (to == from || (out->msgs[i].dest == BFT_TO_REPLICA && out->msgs[i].to != to))
				continue;
			assert_true(nframes < sizeof(frames) / sizeof(frames[0]));
			frames[nframes].p = malloc(out->msgs[i].len);
			assert_non_null(frames[nframes].p);
			memcpy(frames[nframes].p, out->msgs[i].bytes, out->msgs[i].len);
			frames[nframes].len = out->msgs[i].len;
			frames[nframes].to = to;
			nframes++;
		}
	}
	bft_out_reset(out);
}

/* Runs one epoch of a correct cluster, keeping every replica-to-replica frame. */
static int setup(void **state)
{
	struct hb *h[N];
	struct bft_out out = {0};
	uint8_t seed[32] = {0};
	struct cr_thresh_share sh[N];
	struct bft_msg req = {.version = BFT_WIRE_VERSION, .type = BFT_MSG_REQUEST, .sender = 0};
	struct wire_buf rb = {0};
	static const uint8_t op[] = "x";

	(void)state;
	wire_limits_default(&L, N, 1);
	for (uint32_t i = 0; i < N; i++) {
		seed[0] = (uint8_t)i;
		if (cr_identity_from_seed(&ids[i], seed) != 0)
			return -1;
		memcpy(pks[i], ids[i].pk, CR_PK_BYTES);
	}
	seed[0] = 99;
	if (cr_identity_from_seed(&client, seed) != 0)
		return -1;
	memcpy(cpk[0], client.pk, CR_PK_BYTES);
	if (cr_dealer_deal(&coin_pk, sh, N, 1, CR_THRESH_COIN, seed) != 0)
		return -1;
	memcpy(coin_sk, sh, sizeof(sh));
	if (cr_dealer_deal(&enc_pk, sh, N, 1, CR_THRESH_ENC, seed) != 0)
		return -1;
	memcpy(enc_sk, sh, sizeof(sh));
	req.u.request.reqid = 1;
	req.u.request.op = (struct bft_bytes){.p = op, .len = sizeof(op)};
	if (wire_encode(&req, &client, &rb) != BFT_OK)
		return -1;
	for (uint32_t i = 0; i < N; i++) {
		struct hb_config c;
		struct bft_event ev = {.type = BFT_EV_RANDOM, .random = seed, .random_len = 32};

		hb_config_default(&c);
		c.log.n = N;
		c.log.self = i;
		c.log.id = &ids[i];
		c.log.replica_pks = (const uint8_t (*)[CR_PK_BYTES])pks;
		c.log.client_pks = (const uint8_t (*)[CR_PK_BYTES])cpk;
		c.log.limits = L;
		c.log.app = (struct bft_app){.ctx = &counter[i], .execute = app_execute,
					     .snapshot = app_snapshot, .restore = app_restore};
		c.coin_pk = &coin_pk;
		c.enc_pk = &enc_pk;
		c.coin_sk = &coin_sk[i];
		c.enc_sk = &enc_sk[i];
		/* The threshold coin in every round, so the epoch's ABAs send CONF and COIN too. */
		c.fixed_coins = false;
		if (hb_new(&h[i], &c) != BFT_OK)
			return -1;
		seed[1] = (uint8_t)i;
		(void)hb_step(h[i], &ev, &out);
		keep(&out, i);
	}
	for (uint32_t i = 0; i < N; i++) {
		struct bft_msg m;
		struct bft_event ev = {.type = BFT_EV_MESSAGE, .msg = &m};

		if (wire_decode(&L, rb.p, rb.len, &m) != BFT_OK)
			return -1;
		(void)hb_step(h[i], &ev, &out);
		wire_msg_free(&m);
		keep(&out, i);
	}
	for (size_t k = 0; k < nframes; k++) {
		struct bft_msg m;
		struct bft_event ev = {.type = BFT_EV_MESSAGE, .msg = &m};

		if (wire_decode(&L, frames[k].p, frames[k].len, &m) != BFT_OK)
			return -1;
		(void)hb_step(h[frames[k].to], &ev, &out);
		wire_msg_free(&m);
		keep(&out, frames[k].to);
	}
	for (uint32_t i = 0; i < N; i++) {
		if (bft_log_last_executed(hb_log(h[i])) != 1)
			return -1;
		hb_free(h[i]);
	}
	bft_out_free(&out);
	wire_buf_free(&rb);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t k = 0; k < nframes; k++)
		free(frames[k].p);
	for (uint32_t i = 0; i < N; i++)
		cr_identity_free(&ids[i]);
	cr_identity_free(&client);
	return 0;
}

static void test_wire_hb_engine_frames_decode_reencode_and_verify(void **state)
{
	uint32_t seen[64] = {0};

	(void)state;
	for (size_t k = 0; k < nframes; k++) {
		struct bft_msg m;
		struct wire_buf b = {0};

		assert_int_equal(wire_decode(&L, frames[k].p, frames[k].len, &m), BFT_OK);
		assert_int_equal(wire_verify(&m, pks[m.sender]), BFT_OK);
		assert_int_equal(wire_encode(&m, NULL, &b), BFT_OK);
		assert_int_equal(b.len, frames[k].len);
		assert_memory_equal(b.p, frames[k].p, b.len);
		seen[m.type]++;
		wire_buf_free(&b);
		wire_msg_free(&m);
	}
	/* One epoch uses every Honey Badger type but TERM-only paths: all of them appear. */
	for (unsigned t = BFT_MSG_HB_VAL; t <= BFT_MSG_HB_CHECK; t++)
		assert_true(seen[t] > 0);
}

static void test_wire_hb_branches_and_shares_survive_the_codec(void **state)
{
	(void)state;
	for (size_t k = 0; k < nframes; k++) {
		struct bft_msg m;

		assert_int_equal(wire_decode(&L, frames[k].p, frames[k].len, &m), BFT_OK);
		switch (m.type) {
		case BFT_MSG_HB_VAL:
		case BFT_MSG_HB_ECHO:
			assert_int_equal(cr_merkle_verify(m.u.hb_rbc.root, N, m.u.hb_rbc.index,
							  m.u.hb_rbc.shard.p, m.u.hb_rbc.shard.len,
							  (const uint8_t (*)[CR_DIGEST_BYTES])
								  m.u.hb_rbc.branch,
							  m.u.hb_rbc.nbranch),
					 0);
			if (m.type == BFT_MSG_HB_ECHO)
				assert_int_equal(m.u.hb_rbc.index, m.sender);
			else
				assert_int_equal(m.u.hb_rbc.proposer, m.sender);
			break;
		case BFT_MSG_HB_COIN: {
			struct cr_coin_share s;
			uint8_t name[ABA_COIN_NAME_BYTES];

			assert_int_equal(cr_coin_share_decode(&s, m.u.hb_coin.share,
							      BFT_HB_SHARE_BYTES), 0);
			assert_int_equal(s.index, m.sender + 1);
			aba_coin_name(m.u.hb_coin.epoch, m.u.hb_coin.instance, m.u.hb_coin.round,
				      name);
			assert_int_equal(cr_coin_share_verify(&coin_pk, name, sizeof(name), &s), 0);
			break;
		}
		case BFT_MSG_HB_DEC: {
			struct cr_tdh2_share s;

			assert_int_equal(cr_tdh2_share_decode(&s, m.u.hb_dec.share,
							      BFT_HB_SHARE_BYTES), 0);
			assert_int_equal(s.index, m.sender + 1);
			break;
		}
		default:
			break;
		}
		wire_msg_free(&m);
	}
}

/* A frame cut anywhere, or with one byte changed anywhere, never crashes the decoder, and a
 * changed byte that still decodes fails the signature. */
static void test_wire_hb_engine_frames_mutated_are_refused_or_unsigned(void **state)
{
	(void)state;
	for (size_t k = 0; k < nframes; k += 7) {
		uint8_t *p = malloc(frames[k].len);
		size_t len = frames[k].len;

		assert_non_null(p);
		for (size_t cut = 0; cut < len; cut += 5) {
			struct bft_msg m;

			assert_int_not_equal(wire_decode(&L, frames[k].p, cut, &m), BFT_OK);
		}
		for (size_t i = 0; i < len; i += 3) {
			struct bft_msg m;
			const uint8_t *pk;

			memcpy(p, frames[k].p, len);
			p[i] ^= 0x40;
			if (wire_decode(&L, p, len, &m) != BFT_OK)
				continue;
			pk = m.sender < N ? pks[m.sender] : pks[0];
			/* Flipping a bit of the signature itself, or of a value the signature
			 * covers, must not leave a valid signed frame. */
			assert_int_equal(wire_verify(&m, pk), BFT_EBADSIG);
			wire_msg_free(&m);
		}
		free(p);
	}
}

static void regen_corpus(void)
{
	bool done[64] = {false};

	for (size_t k = 0; k < nframes; k++) {
		struct bft_msg m;
		char path[256];
		FILE *fp;

		if (wire_decode(&L, frames[k].p, frames[k].len, &m) != BFT_OK)
			continue;
		if (!done[m.type] && m.type >= BFT_MSG_HB_VAL) {
			static const char *const names[] = {"val", "echo", "ready", "bval", "aux",
							    "conf", "term", "coin", "dec"};

			done[m.type] = true;
			snprintf(path, sizeof(path), "tests/fuzz/corpus/hb_engine_%s",
				 names[m.type - BFT_MSG_HB_VAL]);
			fp = fopen(path, "wb");
			if (fp != NULL) {
				fwrite(frames[k].p, 1, frames[k].len, fp);
				fclose(fp);
			}
		}
		wire_msg_free(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_hb_engine_frames_decode_reencode_and_verify),
		cmocka_unit_test(test_wire_hb_branches_and_shares_survive_the_codec),
		cmocka_unit_test(test_wire_hb_engine_frames_mutated_are_refused_or_unsigned),
	};
	int rc;

	if (setup(NULL) != 0) {
		fprintf(stderr, "test_wire_hb: the cluster did not run an epoch\n");
		return 1;
	}
	if (getenv("HB_CORPUS_REGEN") != NULL)
		regen_corpus();
	rc = cmocka_run_group_tests(tests, NULL, teardown);
	return rc;
}
