/*
 * Unit tests for the Honey Badger engine (bft/hb.h): a four-replica cluster wired in memory
 * (every frame decoded as a node would, delivered in FIFO order or held back on purpose), the
 * normal case, and every rejection path of an epoch with its exact outcome: a VAL from a
 * non-proposer, epochs beyond the buffer, shares before their ciphertext, invalid decryption
 * shares, invalid ciphertexts, shards of no codeword, censorship.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bft/hb.h"
#include "bft/rbc.h"
#include "crypto/cr_rs.h"
#include "crypto/cr_tdh2.h"

#define N 4u
#define NCLIENTS 4u
#define QMAX 200000u

/* ------------------------------------------------------------------------------------------ */
/* A counting application: each op executed bumps a counter; the result is the counter. */

struct app {
	uint64_t count;
};

static void app_execute(void *ctx, bft_client_id client, const struct bft_bytes *op,
			uint64_t time_ms, struct wire_buf *result)
{
	struct app *a = ctx;

	(void)client;
	(void)op;
	(void)time_ms;
	a->count++;
	if (result->cap < 8) {
		uint8_t *p = realloc(result->p, 8);
		if (p == NULL)
			return;
		result->p = p;
		result->cap = 8;
	}
	memcpy(result->p, &a->count, 8);
	result->len = 8;
}

static enum bft_err app_snapshot(void *ctx, struct wire_buf *out)
{
	struct app *a = ctx;
	uint8_t *p = realloc(out->p, out->len + 8);

	if (p == NULL)
		return BFT_ENOMEM;
	out->p = p;
	memcpy(out->p + out->len, &a->count, 8);
	out->len += 8;
	out->cap = out->len;
	return BFT_OK;
}

static enum bft_err app_restore(void *ctx, const uint8_t *p, size_t len)
{
	struct app *a = ctx;

	if (len != 8)
		return BFT_EMALFORMED;
	memcpy(&a->count, p, 8);
	return BFT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The cluster */

struct frame {
	uint32_t from, to;
	uint8_t *p;
	size_t len;
};

struct cluster {
	struct hb *h[N];
	struct cr_identity id[N], cid[NCLIENTS];
	uint8_t pks[N][CR_PK_BYTES], cpks[NCLIENTS][CR_PK_BYTES];
	struct cr_thresh_pubkey coin_pk, enc_pk;
	struct cr_thresh_share coin_sk[N], enc_sk[N];
	struct app app[N];
	struct bft_byz byz[N];
	struct wire_limits limits;
	struct frame *q;
	size_t qh, qt;
	uint32_t hold;            /* replicas whose inbound frames wait (bit i) */
	uint64_t now;
	uint8_t digest[N][64][CR_DIGEST_BYTES]; /* committed digests by seq (1..63) */
	uint32_t replies[NCLIENTS];
	/* per (to, type): the last step result and how many times each non-OK came */
	uint64_t results[N][64][BFT_ERR_COUNT];
	uint64_t reqid[NCLIENTS];
	uint64_t lies[N];         /* replies with BFT_BYZ_LIE, by replica */
	uint64_t bad_sigs[N];     /* frames whose signature failed (dropped, as a node would) */
};

static struct cluster *C;

static void seed_bytes(uint8_t out[32], uint8_t tag, uint32_t i)
{
	memset(out, 0, 32);
	out[0] = tag;
	out[1] = (uint8_t)i;
}

static void push(struct cluster *c, uint32_t from, uint32_t to, const uint8_t *p, size_t len)
{
	assert_true(c->qt < QMAX);
	c->q[c->qt].from = from;
	c->q[c->qt].to = to;
	c->q[c->qt].p = malloc(len);
	assert_non_null(c->q[c->qt].p);
	memcpy(c->q[c->qt].p, p, len);
	c->q[c->qt].len = len;
	c->qt++;
}

static void route(struct cluster *c, uint32_t from, struct bft_out *out)
{
	for (size_t i = 0; i < out->ncommitted; i++) {
		const struct bft_committed *cm = &out->committed[i];

		assert_true(cm->seq < 64);
		memcpy(c->digest[from][cm->seq], cm->digest, CR_DIGEST_BYTES);
	}
	for (size_t i = 0; i < out->nmsgs; i++) {
		const struct bft_out_msg *m = &out->msgs[i];

		if (m->dest == BFT_TO_CLIENT) {
			struct bft_msg r;

			if (m->to < NCLIENTS)
				c->replies[m->to]++;
			if (wire_decode(&c->limits, m->bytes, m->len, &r) == BFT_OK) {
				if (r.type == BFT_MSG_REPLY &&
				    r.u.reply.result.len == sizeof(BFT_BYZ_LIE) - 1 &&
				    memcmp(r.u.reply.result.p, BFT_BYZ_LIE, r.u.reply.result.len) == 0)
					c->lies[from]++;
				wire_msg_free(&r);
			}
			continue;
		}
		{
			/* What a node does first: check the sender's signature, drop a bad one. */
			struct bft_msg v;
			bool ok = false;

			if (wire_decode(&c->limits, m->bytes, m->len, &v) == BFT_OK) {
				ok = wire_verify(&v, c->pks[from]) == BFT_OK;
				wire_msg_free(&v);
			}
			if (!ok) {
				c->bad_sigs[from]++;
				continue;
			}
		}
		for (uint32_t to = 0; to < N; to++)
			if (to != from && (m->dest == BFT_TO_ALL || m->to == to))
				push(c, from, to, m->bytes, m->len);
	}
	bft_out_reset(out);
}

static enum bft_err step(struct cluster *c, uint32_t i, const struct bft_event *ev)
{
	struct bft_out out = {0};
	enum bft_err e = hb_step(c->h[i], ev, &out);

	route(c, i, &out);
	bft_out_free(&out);
	return e;
}

static enum bft_err deliver_frame(struct cluster *c, uint32_t to, const uint8_t *p, size_t len)
{
	struct bft_msg m;
	struct bft_event ev = {.type = BFT_EV_MESSAGE, .msg = &m};
	enum bft_err e;

	assert_int_equal(wire_decode(&c->limits, p, len, &m), BFT_OK);
	ev.now_ms = c->now;
	e = step(c, to, &ev);
	c->results[to][m.type][e]++;
	wire_msg_free(&m);
	return e;
}

static void drop_queue(struct cluster *c)
{
	for (size_t i = c->qh; i < c->qt; i++)
		free(c->q[i].p);
	c->qh = c->qt = 0;
}

/* Delivers queued frames in FIFO order (held ones stay queued) until none can move. */
static void run(struct cluster *c)
{
	for (;;) {
		bool moved = false;
		size_t k = c->qh;

		for (size_t i = c->qh; i < c->qt; i++) {
			struct frame f = c->q[i];

			if ((c->hold >> f.to) & 1u) {
				c->q[k++] = f;
				continue;
			}
			c->now++;
			(void)deliver_frame(c, f.to, f.p, f.len);
			free(f.p);
			moved = true;
			/* Frames pushed meanwhile went to the tail: keep scanning to it. */
		}
		c->qt = k;
		if (!moved)
			break;
	}
}

static void random_event(struct cluster *c, uint32_t i)
{
	uint8_t r[32];
	struct bft_event ev = {.type = BFT_EV_RANDOM, .random = r, .random_len = sizeof(r)};

	seed_bytes(r, 'r', i);
	ev.now_ms = c->now;
	assert_int_equal(step(c, i, &ev), BFT_OK);
}

/* cluster_new: ABA's fixed-coin schedule (the default) or the threshold coin in every round. */
static bool fixed_coins = true;

/* Replica i's engine configuration in cluster c. */
static void config_for(struct cluster *c, uint32_t i, struct hb_config *out)
{
	struct hb_config hc;

	hb_config_default(&hc);
	hc.log.n = N;
	hc.log.self = i;
	hc.log.id = &c->id[i];
	hc.log.replica_pks = (const uint8_t (*)[CR_PK_BYTES])c->pks;
	hc.log.client_pks = (const uint8_t (*)[CR_PK_BYTES])c->cpks;
	hc.log.limits = c->limits;
	hc.log.app = (struct bft_app){.ctx = &c->app[i], .execute = app_execute,
				      .snapshot = app_snapshot, .restore = app_restore};
	hc.log.checkpoint_interval = 4;
	hc.log.window = 16;
	hc.coin_pk = &c->coin_pk;
	hc.enc_pk = &c->enc_pk;
	hc.coin_sk = &c->coin_sk[i];
	hc.enc_sk = &c->enc_sk[i];
	hc.batch_size = 8;
	hc.epochs_ahead_max = 2;
	hc.fixed_coins = fixed_coins;
	if (c->byz[i].modes != 0)
		hc.byz = &c->byz[i];
	*out = hc;
}

static struct cluster *cluster_new(const uint32_t *byz_modes, bool randomness)
{
	struct cluster *c = calloc(1, sizeof(*c));
	uint8_t s[32];
	struct cr_thresh_share sh[N];

	assert_non_null(c);
	c->q = calloc(QMAX, sizeof(*c->q));
	assert_non_null(c->q);
	wire_limits_default(&c->limits, N, NCLIENTS);
	for (uint32_t i = 0; i < N; i++) {
		seed_bytes(s, 'R', i);
		assert_int_equal(cr_identity_from_seed(&c->id[i], s), 0);
		memcpy(c->pks[i], c->id[i].pk, CR_PK_BYTES);
	}
	for (uint32_t j = 0; j < NCLIENTS; j++) {
		seed_bytes(s, 'C', j);
		assert_int_equal(cr_identity_from_seed(&c->cid[j], s), 0);
		memcpy(c->cpks[j], c->cid[j].pk, CR_PK_BYTES);
	}
	seed_bytes(s, 'K', 0);
	assert_int_equal(cr_dealer_deal(&c->coin_pk, sh, N, 1, CR_THRESH_COIN, s), 0);
	memcpy(c->coin_sk, sh, sizeof(sh));
	assert_int_equal(cr_dealer_deal(&c->enc_pk, sh, N, 1, CR_THRESH_ENC, s), 0);
	memcpy(c->enc_sk, sh, sizeof(sh));
	for (uint32_t i = 0; i < N; i++) {
		struct hb_config hc;

		if (byz_modes != NULL && byz_modes[i] != 0)
			c->byz[i].modes = byz_modes[i];
		config_for(c, i, &hc);
		assert_int_equal(hb_new(&c->h[i], &hc), BFT_OK);
		if (randomness)
			random_event(c, i);
	}
	C = c;
	return c;
}

static void cluster_free(struct cluster *c)
{
	for (size_t i = c->qh; i < c->qt; i++)
		free(c->q[i].p);
	free(c->q);
	for (uint32_t i = 0; i < N; i++) {
		hb_free(c->h[i]);
		cr_identity_free(&c->id[i]);
	}
	for (uint32_t j = 0; j < NCLIENTS; j++)
		cr_identity_free(&c->cid[j]);
	free(c);
	C = NULL;
}

/* Client j's request numbered reqid into *out (caller frees), signed by `signer`'s key (another
 * client's: forged). */
static void make_signed_by(struct cluster *c, uint32_t j, uint64_t reqid, uint32_t signer,
			   struct wire_buf *out)
{
	struct bft_msg m = {.version = BFT_WIRE_VERSION, .type = BFT_MSG_REQUEST, .sender = j};
	static const uint8_t op[] = "op";

	m.u.request.reqid = reqid;
	m.u.request.op = (struct bft_bytes){.p = op, .len = sizeof(op)};
	memset(out, 0, sizeof(*out));
	assert_int_equal(wire_encode(&m, &c->cid[signer], out), BFT_OK);
}

/* Client j's next request, signed by j, into *out (caller frees). */
static void make_request(struct cluster *c, uint32_t j, struct wire_buf *out)
{
	make_signed_by(c, j, ++c->reqid[j], j, out);
}

/* Client j sends a new request to every replica in `to` (a mask). */
static void submit(struct cluster *c, uint32_t j, uint32_t to)
{
	struct wire_buf b;

	make_request(c, j, &b);
	for (uint32_t i = 0; i < N; i++)
		if ((to >> i) & 1u)
			assert_int_equal(deliver_frame(c, i, b.p, b.len), BFT_OK);
	wire_buf_free(&b);
}

static void assert_agree(struct cluster *c, uint32_t correct, bft_seq upto)
{
	for (bft_seq s = 1; s <= upto; s++) {
		int first = -1;

		for (uint32_t i = 0; i < N; i++) {
			if (!((correct >> i) & 1u))
				continue;
			assert_true(bft_log_last_executed(hb_log(c->h[i])) >= s);
			if (first < 0)
				first = (int)i;
			else
				assert_memory_equal(c->digest[i][s], c->digest[first][s],
						    CR_DIGEST_BYTES);
		}
	}
}

/* ------------------------------------------------------------------------------------------ */

static void test_hb_cluster_commits_requests_in_one_log_position(void **state)
{
	struct cluster *c = cluster_new(NULL, true);
	struct hb_status st;

	(void)state;
	submit(c, 0, 0xf);
	submit(c, 1, 0xf);
	run(c);
	assert_agree(c, 0xf, 1);
	/* The second request reached each replica after it had proposed the first: it goes into
	 * the same position if another replica proposed it, else into the next epoch, which
	 * starts as soon as the first one's subset is decided. Either way each runs once. */
	hb_status(c->h[0], &st);
	assert_true(st.last_executed == 1 || st.last_executed == 2);
	assert_agree(c, 0xf, st.last_executed);
	for (uint32_t i = 0; i < N; i++) {
		hb_status(c->h[i], &st);
		assert_int_equal(st.epochs_done, st.last_executed);
		assert_int_equal(st.pending, 0);
		assert_int_equal(st.active, 0); /* nothing pending: nothing runs */
		assert_int_equal(c->app[i].count, 2);
	}
	/* Every replica answered both clients. */
	assert_int_equal(c->replies[0], N);
	assert_int_equal(c->replies[1], N);
	/* More work: the next epoch is the next position. */
	submit(c, 2, 0xf);
	run(c);
	assert_agree(c, 0xf, st.last_executed + 1);
	assert_int_equal(c->app[0].count, 3);
	cluster_free(c);
}

/* hb.h "Selection": with every request at every replica, each replica proposes its own share
 * (owner (client + reqid) mod n), so proposals drawn from the shares never overlap and the next
 * epoch never carries what the running one does. Copies come only from a lone epoch (none other
 * running) in which a replica has nothing of its own and draws at random: the first one here,
 * where every replica has just the first request (at most n - 1 copies of it), and, when the
 * subset of epoch 1 leaves a proposal out, the epoch that orders that share again (at most
 * n - 1 replicas drawing ceil(B/n) = 2 each). */
static void test_hb_proposals_of_correct_replicas_do_not_overlap(void **state)
{
	struct cluster *c = cluster_new(NULL, true);
	struct hb_status st;

	(void)state;
	submit(c, 0, 0xf); /* epoch 0 starts everywhere with this one request */
	/* While epoch 0 runs: client 0's requests 2..5 and client 1's 1..4, two per owner. */
	for (uint32_t k = 0; k < 4; k++) {
		submit(c, 0, 0xf);
		submit(c, 1, 0xf);
	}
	run(c);
	for (uint32_t i = 0; i < N; i++) {
		hb_status(c->h[i], &st);
		assert_agree(c, 0xf, st.last_executed);
		assert_true(st.last_executed == 2 || st.last_executed == 3);
		assert_int_equal(c->app[i].count, 9); /* each request once */
		assert_int_equal(st.requests_stale, 0);
		assert_int_equal(st.requests_dropped, 0);
		assert_int_equal(st.requests_revealed - st.requests_repeated, 9);
		assert_true(st.requests_repeated <= (N - 1) + (st.last_executed - 2) * (N - 1) * 2);
		assert_int_equal(st.pending, 0);
	}
	cluster_free(c);
}

static void test_hb_does_not_propose_before_randomness_arrives(void **state)
{
	struct cluster *c = cluster_new(NULL, false);
	struct hb_status st;

	(void)state;
	submit(c, 0, 0x1);
	hb_status(c->h[0], &st);
	assert_false(st.have_random);
	assert_int_equal(st.active, 1);
	assert_int_equal(c->qt - c->qh, 0); /* the epoch runs, but no VAL went out */
	random_event(c, 0);
	assert_int_equal(c->qt - c->qh, 2 * (N - 1)); /* VALs and our ECHO */
	for (uint32_t i = 1; i < N; i++)
		random_event(c, i);
	run(c);
	assert_agree(c, 0xf, 1);
	cluster_free(c);
}

static void test_hb_rejects_a_val_from_a_non_proposer(void **state)
{
	struct cluster *c = cluster_new(NULL, true);
	struct bft_msg m = {.version = BFT_WIRE_VERSION, .type = BFT_MSG_HB_VAL, .sender = 2};
	struct wire_buf b = {0};
	static const uint8_t shard[8] = {1};
	struct hb_status st;

	(void)state;
	submit(c, 0, 0x2); /* replica 1 runs epoch 0 */
	drop_queue(c);
	m.u.hb_rbc.epoch = 0;
	m.u.hb_rbc.proposer = 0;
	m.u.hb_rbc.index = 1;
	m.u.hb_rbc.shard = (struct bft_bytes){.p = shard, .len = sizeof(shard)};
	m.u.hb_rbc.nbranch = 2;
	assert_int_equal(wire_encode(&m, &c->id[2], &b), BFT_OK);
	assert_int_equal(deliver_frame(c, 1, b.p, b.len), BFT_ENOTPRIMARY);
	hb_status(c->h[1], &st);
	assert_int_equal(st.sender_faults[2], 1);
	assert_int_equal(st.faults[BFT_ENOTPRIMARY], 1);
	/* The same VAL as an ECHO from replica 2: index 1 is not 2's shard. */
	wire_buf_free(&b);
	m.type = BFT_MSG_HB_ECHO;
	assert_int_equal(wire_encode(&m, &c->id[2], &b), BFT_OK);
	assert_int_equal(deliver_frame(c, 1, b.p, b.len), BFT_EINVAL);
	wire_buf_free(&b);
	/* A shard index right for the sender, but a branch to nowhere. */
	m.u.hb_rbc.index = 2;
	assert_int_equal(wire_encode(&m, &c->id[2], &b), BFT_OK);
	assert_int_equal(deliver_frame(c, 1, b.p, b.len), BFT_EBADCERT);
	hb_status(c->h[1], &st);
	assert_int_equal(st.sender_faults[2], 3);
	wire_buf_free(&b);
	cluster_free(c);
}

static void send_aba(struct cluster *c, uint32_t from, uint32_t to, uint64_t epoch,
		     enum bft_err want)
{
	struct bft_msg m = {.version = BFT_WIRE_VERSION, .type = BFT_MSG_HB_BVAL, .sender = from};
	struct wire_buf b = {0};

	m.u.hb_aba.epoch = epoch;
	m.u.hb_aba.instance = 0;
	m.u.hb_aba.value = 1;
	assert_int_equal(wire_encode(&m, &c->id[from], &b), BFT_OK);
	assert_int_equal(deliver_frame(c, to, b.p, b.len), want);
	wire_buf_free(&b);
}

static void test_hb_buffers_near_epochs_and_drops_far_ones(void **state)
{
	struct cluster *c = cluster_new(NULL, true);
	struct hb_status st;

	(void)state;
	/* epochs_ahead_max = 2: epochs 1 and 2 are kept for later, 3 is beyond the bound. */
	send_aba(c, 1, 0, 1, BFT_OK);
	send_aba(c, 1, 0, 2, BFT_OK);
	send_aba(c, 1, 0, 3, BFT_ESEQ);
	hb_status(c->h[0], &st);
	assert_int_equal(st.buffered, 2);
	assert_int_equal(st.dropped_ahead, 1);
	assert_int_equal(st.rejected[BFT_ESEQ], 1);
	assert_int_equal(st.sender_faults[1], 0); /* not a fault: the sender may just be ahead */
	/* An epoch-0 message from another replica starts epoch 0 here, without requests. */
	send_aba(c, 2, 0, 0, BFT_OK);
	hb_status(c->h[0], &st);
	assert_int_equal(st.active, 1);
	cluster_free(c);
}

static void test_hb_a_finished_epoch_is_stale(void **state)
{
	struct cluster *c = cluster_new(NULL, true);

	(void)state;
	submit(c, 0, 0xf);
	run(c);
	assert_agree(c, 0xf, 1);
	send_aba(c, 1, 0, 0, BFT_ESTALE);
	cluster_free(c);
}

/* Replica 3 hears nothing until the others finished; then it gets the decryption shares
 * first, before it could know any ciphertext, keeps them, and uses them once ACS is done. */
static void test_hb_keeps_decryption_shares_that_arrive_before_the_ciphertext(void **state)
{
	struct cluster *c = cluster_new(NULL, true);
	struct hb_status st;
	size_t k;

	(void)state;
	c->hold = 1u << 3;
	submit(c, 0, 0x7);
	run(c);
	assert_agree(c, 0x7, 1);
	/* Move every DEC frame for replica 3 to the front. */
	k = c->qh;
	for (size_t i = c->qh; i < c->qt; i++) {
		struct bft_msg m;

		assert_int_equal(wire_decode(&c->limits, c->q[i].p, c->q[i].len, &m), BFT_OK);
		if (m.type == BFT_MSG_HB_DEC) {
			struct frame t = c->q[k];

			c->q[k++] = c->q[i];
			c->q[i] = t;
		}
		wire_msg_free(&m);
	}
	assert_true(k > c->qh);
	c->hold = 0;
	/* The shares first: kept (BFT_OK), since no ciphertext is known yet. */
	for (size_t i = c->qh; i < k; i++) {
		assert_int_equal(deliver_frame(c, c->q[i].to, c->q[i].p, c->q[i].len), BFT_OK);
		free(c->q[i].p);
	}
	c->qh = k;
	hb_status(c->h[3], &st);
	assert_int_equal(st.last_executed, 0);
	run(c);
	assert_agree(c, 0xf, 1);
	hb_status(c->h[3], &st);
	assert_int_equal(st.sender_faults[0] + st.sender_faults[1] + st.sender_faults[2], 0);
	cluster_free(c);
}

static uint64_t faults_against(struct cluster *c, uint32_t bad, enum bft_err why)
{
	uint64_t k = 0;

	for (uint32_t i = 0; i < N; i++) {
		struct hb_status st;

		if (i == bad)
			continue;
		hb_status(c->h[i], &st);
		if (st.faults[why] > 0)
			k += st.sender_faults[bad];
	}
	return k;
}

/* Delivers, in queue order, the frames for which sel() holds (the others stay queued). */
static void deliver_selected(struct cluster *c, bool (*sel)(const struct bft_msg *m))
{
	size_t end = c->qt, k = c->qh;

	for (size_t i = c->qh; i < end; i++) {
		struct frame f = c->q[i];
		struct bft_msg m;
		bool yes;

		assert_int_equal(wire_decode(&c->limits, f.p, f.len, &m), BFT_OK);
		yes = sel(&m);
		wire_msg_free(&m);
		if (!yes) {
			c->q[k++] = f;
			continue;
		}
		c->now++;
		(void)deliver_frame(c, f.to, f.p, f.len);
		free(f.p);
	}
	/* Frames the deliveries queued (for the others) follow the ones left. */
	memmove(&c->q[k], &c->q[end], (c->qt - end) * sizeof(c->q[0]));
	c->qt = k + (c->qt - end);
}

static bool sel_not_dec(const struct bft_msg *m)
{
	return m->type != BFT_MSG_HB_DEC;
}

static bool sel_dec_from_1(const struct bft_msg *m)
{
	return m->type == BFT_MSG_HB_DEC && m->sender == 1;
}

/* Replica 1 sends bad decryption shares; replica 2 hears nothing while the others run the
 * first epoch to its end, and everything it missed is still queued for it. */
static struct cluster *bad_shares_and_a_late_replica_2(void)
{
	const uint32_t modes[N] = {0, BFT_BYZ_BAD_DEC_SHARE, 0, 0};
	struct cluster *c = cluster_new(modes, true);

	c->hold = 1u << 2;
	submit(c, 0, 0xf);
	run(c);
	return c;
}

/* Replica 2 hears nothing until the others finished. Then it gets everything but the
 * decryption shares (so its common subset is decided and it knows every ciphertext), then the
 * faulty replica 1's shares (one per included proposal, all four): each is verified on
 * arrival and refused. */
static void test_hb_rejects_invalid_decryption_shares(void **state)
{
	struct cluster *c = bad_shares_and_a_late_replica_2();
	struct hb_status st;

	(void)state;
	assert_agree(c, 0x9, 1);
	c->hold = 0;
	deliver_selected(c, sel_not_dec);
	hb_status(c->h[2], &st);
	assert_int_equal(st.last_executed, 0);
	deliver_selected(c, sel_dec_from_1);
	assert_int_equal(c->results[2][BFT_MSG_HB_DEC][BFT_EBADSHARE], N);
	hb_status(c->h[2], &st);
	assert_int_equal(st.faults[BFT_EBADSHARE], N);
	assert_int_equal(st.sender_faults[1], N);
	run(c);
	assert_agree(c, 0xd, 1);
	cluster_free(c);
}

/* Shares that came before the ciphertext and turn out bad are found when it is known. */
static void test_hb_finds_bad_kept_shares_when_the_ciphertext_is_known(void **state)
{
	struct cluster *c = bad_shares_and_a_late_replica_2();
	struct hb_status st;

	(void)state;
	c->hold = 0;
	deliver_selected(c, sel_dec_from_1); /* kept: no ciphertext yet */
	assert_int_equal(c->results[2][BFT_MSG_HB_DEC][BFT_OK], N);
	hb_status(c->h[2], &st);
	assert_int_equal(st.sender_faults[1], 0);
	run(c);
	assert_agree(c, 0xd, 1);
	hb_status(c->h[2], &st);
	assert_true(st.faults[BFT_EBADSHARE] >= 1);
	assert_true(st.sender_faults[1] >= 1);
	cluster_free(c);
}

/* Decryption shares of proposal 3 (any sender) and of replica 1 (any proposal) are held. */
static bool sel_opens_all_but_3(const struct bft_msg *m)
{
	return m->type != BFT_MSG_HB_DEC || (m->sender != 1 && m->u.hb_dec.proposer != 3);
}

static bool sel_late_dec_from_1(const struct bft_msg *m)
{
	return sel_dec_from_1(m) && m->u.hb_dec.proposer != 3;
}

/* A share that comes after its proposal opened (and before the epoch ends) is not needed and
 * normally not checked; in every 8th epoch (epoch 0 here) it is, so a replica whose bad shares
 * always arrive too late to matter is still caught. Replica 2 opens proposals 0-2 with the
 * shares of 0 and 3 and its own while proposal 3's shares are held (the epoch cannot end),
 * then gets the faulty replica 1's shares of 0-2: each is checked and refused. */
static void test_hb_audits_late_decryption_shares(void **state)
{
	struct cluster *c = bad_shares_and_a_late_replica_2();
	struct hb_status st;

	(void)state;
	c->hold = 0;
	deliver_selected(c, sel_opens_all_but_3);
	hb_status(c->h[2], &st);
	assert_int_equal(st.last_executed, 0);
	assert_int_equal(st.faults[BFT_EBADSHARE], 0);
	deliver_selected(c, sel_late_dec_from_1);
	assert_int_equal(c->results[2][BFT_MSG_HB_DEC][BFT_EBADSHARE], N - 1);
	hb_status(c->h[2], &st);
	assert_int_equal(st.faults[BFT_EBADSHARE], N - 1);
	assert_int_equal(st.sender_faults[1], N - 1);
	run(c);
	assert_agree(c, 0xd, 1);
	cluster_free(c);
}

static void test_hb_rejects_invalid_coin_shares(void **state)
{
	const uint32_t modes[N] = {0, 0, BFT_BYZ_BAD_COIN_SHARE, 0};
	struct cluster *c;
	uint64_t rejected = 0;

	(void)state;
	/* Every round with the threshold coin, so that coin shares are needed at all. */
	fixed_coins = false;
	c = cluster_new(modes, true);
	fixed_coins = true;
	submit(c, 0, 0xf);
	run(c);
	assert_agree(c, 0xb, 1);
	for (uint32_t i = 0; i < N; i++)
		if (i != 2)
			rejected += c->results[i][BFT_MSG_HB_COIN][BFT_EBADSHARE];
	assert_true(rejected > 0);
	assert_true(faults_against(c, 2, BFT_EBADSHARE) > 0);
	cluster_free(c);
}

/* In FIFO order every broadcast delivers before any agreement ends, so all four proposals are
 * in the subset: a faulty one is dropped by every correct replica, the same way. */
static void check_dropped_everywhere(uint32_t mode, enum bft_err why)
{
	const uint32_t modes[N] = {0, mode, 0, 0};
	struct cluster *c = cluster_new(modes, true);

	submit(c, 0, 0xf);
	run(c);
	assert_agree(c, 0xd, 1);
	for (uint32_t i = 0; i < N; i++) {
		struct hb_status st;

		if (i == 1)
			continue;
		hb_status(c->h[i], &st);
		assert_int_equal(st.proposals_dropped, 1);
		assert_int_equal(st.faults[why], 1);
		assert_int_equal(st.sender_faults[1], 1);
		assert_int_equal(st.proposals_in, 3);
		assert_int_equal(st.last_executed, 1);
		assert_int_equal(c->app[i].count, 1);
	}
	cluster_free(c);
}

static void test_hb_drops_an_invalid_ciphertext_everywhere(void **state)
{
	(void)state;
	check_dropped_everywhere(BFT_BYZ_BAD_CIPHERTEXT, BFT_EBADCERT);
}

static void test_hb_drops_shards_of_no_codeword_everywhere(void **state)
{
	(void)state;
	check_dropped_everywhere(BFT_BYZ_BAD_RBC_SHARDS, BFT_EDIGEST);
}

static void test_hb_equivocating_proposer_is_detected_and_harmless(void **state)
{
	const uint32_t modes[N] = {0, BFT_BYZ_RBC_EQUIVOCATE | BFT_BYZ_ABA_EQUIVOCATE, 0, 0};
	struct cluster *c = cluster_new(modes, true);

	(void)state;
	submit(c, 0, 0xf);
	run(c);
	assert_agree(c, 0xd, 1);
	/* Its successor (replica 2) received two different VALs, ECHOs, READYs and AUXs. */
	assert_true(c->results[2][BFT_MSG_HB_VAL][BFT_ECONFLICT] > 0);
	assert_true(c->results[2][BFT_MSG_HB_ECHO][BFT_ECONFLICT] > 0);
	assert_true(c->results[2][BFT_MSG_HB_READY][BFT_ECONFLICT] > 0);
	assert_true(faults_against(c, 1, BFT_ECONFLICT) > 0);
	cluster_free(c);
}

static void test_hb_a_censoring_replica_cannot_hold_a_request_back(void **state)
{
	const uint32_t modes[N] = {0, 0, 0, BFT_BYZ_CENSOR};
	struct cluster *c = cluster_new(modes, true);

	(void)state;
	/* Client 0 (censored by replica 3) sends to everybody, as Honey Badger clients do. */
	submit(c, 0, 0xf);
	run(c);
	assert_agree(c, 0x7, 1);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(c->app[i].count, 1);
	cluster_free(c);
}

static void test_hb_silent_replica_does_not_stop_the_others(void **state)
{
	const uint32_t modes[N] = {BFT_BYZ_SILENT, 0, 0, 0};
	struct cluster *c = cluster_new(modes, true);

	(void)state;
	submit(c, 1, 0xf);
	run(c);
	assert_agree(c, 0xe, 1);
	submit(c, 2, 0xf);
	run(c);
	assert_agree(c, 0xe, 2);
	cluster_free(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Shared checks (hb.h): a revealed request's signature is verified by its f+1 designated
 * checkers, owner (client + reqid) mod n and the next f; the others take f+1 matching HB_CHECKs. */

static enum bft_err step_into(struct cluster *c, struct hb *h, const struct wire_buf *b,
			      struct bft_out *out);

static struct hb_status status_of(struct cluster *c, uint32_t i)
{
	struct hb_status st;

	hb_status(c->h[i], &st);
	return st;
}

/* Advances every replica's clock by ms and delivers what that sets off. */
static void advance(struct cluster *c, uint64_t ms)
{
	c->now += ms;
	for (uint32_t i = 0; i < N; i++) {
		struct bft_event ev = {.type = BFT_EV_TIMER, .now_ms = c->now};

		(void)step(c, i, &ev);
	}
	run(c);
}

/* Client 0's first request has owner (0 + 1) mod 4 = 1, so replicas 1 and 2 check it and
 * receive it (as a BFT_SEND_CHECKERS client sends it); 0 and 3 never see it before it is
 * revealed, take the two matching verdicts and verify nothing themselves. */
static void test_hb_shared_checks_spare_the_others_the_signature(void **state)
{
	struct cluster *c = cluster_new(NULL, true);

	(void)state;
	assert_int_equal(bft_hb_owner(N, 0, 1), 1);
	submit(c, 0, 0x6);
	run(c);
	assert_agree(c, 0xf, 1);
	for (uint32_t i = 0; i < N; i++) {
		struct hb_status st = status_of(c, i);

		assert_int_equal(c->app[i].count, 1);
		assert_int_equal(st.checks_self, 0); /* 1 and 2 verified it on arrival */
		assert_int_equal(st.checks_shared, i == 0 || i == 3 ? 1 : 0);
		assert_int_equal(st.check_waits_expired, 0);
		assert_int_equal(st.requests_dropped, 0);
	}
	/* 0 and 3 had nothing to propose: their empty proposals went in the clear, so the
	 * decryption shares are those of 1's and 2's proposals only (from 3 senders each). */
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(status_of(c, i).proposals_clear, 2);
	{
		uint64_t decs = 0;

		for (int e = 0; e < BFT_ERR_COUNT; e++)
			decs += c->results[0][BFT_MSG_HB_DEC][e];
		assert_true(decs <= 3 * 2);
	}
	/* Replica 0 executed on the first two verdicts; the third came after (stale). */
	assert_int_equal(c->results[0][BFT_MSG_HB_CHECK][BFT_OK], 2);
	assert_int_equal(c->results[0][BFT_MSG_HB_CHECK][BFT_ESTALE], 1);
	cluster_free(c);
}

/* A request with a forged signature reaches replica 1's queue unverified (as if replica 1 were
 * faulty: a node verifies on arrival) and replica 1 proposes it and vouches for it. Its fellow
 * checker 2 verifies it and says invalid; 0 and 3 see the two verdicts disagree, verify it
 * themselves, drop it and count replica 1's verdict as a fault. No correct replica executes it. */
static void test_hb_disputed_verdicts_are_checked_and_the_liar_counted(void **state)
{
	struct cluster *c = cluster_new(NULL, true);
	struct wire_buf b;

	(void)state;
	make_signed_by(c, 0, 1, 3, &b);
	assert_int_equal(deliver_frame(c, 1, b.p, b.len), BFT_OK);
	wire_buf_free(&b);
	run(c);
	assert_agree(c, 0xd, 1);
	for (uint32_t i = 0; i < N; i++) {
		struct hb_status st = status_of(c, i);

		if (i == 1)
			continue;
		assert_int_equal(c->app[i].count, 0);
		assert_int_equal(st.requests_dropped, 1);
		assert_int_equal(st.checks_self, 1);
		assert_int_equal(st.checks_disputed, i == 2 ? 0 : 1);
		assert_int_equal(st.checks_shared, 0);
	}
	assert_int_equal(faults_against(c, 1, BFT_ECONFLICT), 2); /* at 0 and 3 */
	cluster_free(c);
}

/* Replica 2, a designated checker of client 0's first request, is silent: 0 and 3 have one
 * verdict, wait for check_wait_ms (100; the harness's clock also ticks once per delivered
 * frame, so the test only shows they wait, then go on), verify it themselves, and check alone for the next 64
 * epochs, so client 1's request (owner 2) executes there without another wait. */
static void test_hb_a_silent_checker_costs_one_wait(void **state)
{
	const uint32_t modes[N] = {0, 0, BFT_BYZ_SILENT, 0};
	struct cluster *c = cluster_new(modes, true);
	struct hb_status st;

	(void)state;
	submit(c, 0, 0x6);
	run(c);
	assert_int_equal(bft_log_last_executed(hb_log(c->h[1])), 1);
	assert_int_equal(bft_log_last_executed(hb_log(c->h[0])), 0); /* waiting for a verdict */
	assert_int_equal(bft_log_last_executed(hb_log(c->h[3])), 0);
	advance(c, 100);
	assert_agree(c, 0xb, 1);
	st = status_of(c, 0);
	assert_int_equal(st.check_waits_expired, 1);
	assert_int_equal(st.checks_self, 1);
	assert_int_equal(c->app[0].count, 1);
	assert_int_equal(c->app[3].count, 1);
	/* Client 1's first request: owner 2 (silent) and 3. */
	submit(c, 1, 0xc);
	run(c);
	assert_agree(c, 0xb, 2);
	st = status_of(c, 0);
	assert_int_equal(st.check_waits_expired, 1);
	assert_int_equal(st.checks_self, 2);
	assert_int_equal(c->app[0].count, 2);
	cluster_free(c);
}

/* Replica 1 runs BFT_BYZ_LYING_CHECKS: it claims a verdict on every entry and inverts each.
 * Client 0's first request (checkers 1 and 2): 2 says valid, 1 says invalid, so 0 and 3 verify
 * it themselves and execute it; its second (checkers 2 and 3) is decided by their two
 * matching verdicts whatever 1 claims. The replicas that needed verdicts count the liar. */
static void test_hb_a_lying_checker_changes_nothing(void **state)
{
	const uint32_t modes[N] = {0, BFT_BYZ_LYING_CHECKS, 0, 0};
	struct cluster *c = cluster_new(modes, true);

	(void)state;
	submit(c, 0, 0x6);
	run(c);
	submit(c, 0, 0xc);
	run(c);
	assert_agree(c, 0xd, 2);
	for (uint32_t i = 0; i < N; i++) {
		struct hb_status st = status_of(c, i);

		if (i == 1)
			continue;
		assert_int_equal(c->app[i].count, 2);
		assert_int_equal(st.requests_dropped, 0);
		/* 0 decides the second request by 2's and 3's verdicts, or verifies it if the
		 * liar's came between them: either way once. */
		assert_int_equal(st.checks_disputed + st.checks_shared, i == 0 ? 2 : i == 3 ? 1 : 0);
		assert_int_equal(st.checks_disputed, i == 2 ? 0 : i == 3 ? 1 : st.checks_disputed);
		assert_true(i != 0 || st.checks_disputed >= 1);
		assert_int_equal(st.checks_self, st.checks_disputed);
		/* 2 knew both verdicts itself and executed before the liar's came (stale). */
		assert_true(i == 2 || st.sender_faults[1] >= 1);
		assert_int_equal(st.sender_faults[0] + st.sender_faults[2] + st.sender_faults[3], 0);
	}
	assert_true(faults_against(c, 1, BFT_ECONFLICT) >= 2);
	cluster_free(c);
}

/* A value in the clear (no ciphertext) is only ever an empty proposal: a silent replica 3's
 * reliable broadcast carries a bare header that counts one request, and every correct replica
 * drops that proposal (BFT_EINVAL, counted against 3) and agrees on the rest. */
static void test_hb_drops_a_proposal_in_the_clear_that_is_not_empty(void **state)
{
	const uint32_t modes[N] = {0, 0, 0, BFT_BYZ_SILENT};
	struct cluster *c = cluster_new(modes, true);
	uint8_t value[12] = {0};
	struct cr_rs rs;
	struct rbc *r = NULL;
	struct rbc_out ro = {0};
	struct rbc_config rc = {.n = N, .f = 1, .self = 3, .proposer = 3, .rs = &rs,
				.payload_max = 1u << 20};

	(void)state;
	value[8] = 1; /* count 1, and nothing after the header */
	assert_int_equal(cr_rs_init(&rs, N, N - 2), 0);
	assert_int_equal(rbc_new(&r, &rc), BFT_OK);
	assert_int_equal(rbc_propose(r, value, sizeof(value), &ro), BFT_OK);
	for (uint32_t j = 0; j < 3; j++) {
		struct bft_msg m = {.version = BFT_WIRE_VERSION, .type = BFT_MSG_HB_VAL, .sender = 3};
		struct wire_buf b = {0};

		assert_int_equal(rbc_val_msg(r, j, &m.u.hb_rbc), BFT_OK);
		m.u.hb_rbc.epoch = 0;
		m.u.hb_rbc.proposer = 3;
		assert_int_equal(wire_encode(&m, &c->id[3], &b), BFT_OK);
		push(c, 3, j, b.p, b.len);
		wire_buf_free(&b);
	}
	rbc_free(r);
	cr_rs_free(&rs);
	submit(c, 0, 0x7);
	run(c);
	assert_agree(c, 0x7, 1);
	for (uint32_t i = 0; i < 3; i++) {
		struct hb_status st = status_of(c, i);

		assert_int_equal(st.proposals_dropped, 1);
		assert_int_equal(st.faults[BFT_EINVAL], 1);
		assert_int_equal(st.sender_faults[3], 1);
		assert_int_equal(c->app[i].count, 1);
	}
	cluster_free(c);
}

/* An HB_CHECK from replica `from` for epoch 0 with `count` entries and a made-up list digest. */
static void make_check(struct cluster *c, uint32_t from, uint32_t count, struct wire_buf *out)
{
	static const uint8_t bits[2] = {0x03, 0x00};
	struct bft_msg m = {.version = BFT_WIRE_VERSION, .type = BFT_MSG_HB_CHECK, .sender = from};

	m.u.hb_check.epoch = 0;
	memset(m.u.hb_check.list, 0x5a, CR_DIGEST_BYTES);
	m.u.hb_check.count = count;
	m.u.hb_check.known = (struct bft_bytes){.p = bits, .len = (count + 7) / 8};
	m.u.hb_check.valid = m.u.hb_check.known;
	memset(out, 0, sizeof(*out));
	assert_int_equal(wire_encode(&m, &c->id[from], out), BFT_OK);
}

/* HB_CHECK's rejection paths at replica 0 while its epoch 0 runs: one per sender (a second is
 * BFT_EDUP), at most n * ceil(B / n) entries (BFT_ETOOBIG), and one for another list than
 * ours, set aside when the list is built and counted against its sender (BFT_EDIGEST). */
static void test_hb_rejects_bad_checks(void **state)
{
	struct cluster *c = cluster_new(NULL, true);
	struct bft_out out = {0};
	struct wire_buf b;
	struct hb_status st;

	(void)state;
	c->hold = 0xe; /* the others hear nothing yet */
	submit(c, 0, 0x1);
	make_check(c, 1, 3, &b);
	assert_int_equal(step_into(c, c->h[0], &b, &out), BFT_OK);
	assert_int_equal(step_into(c, c->h[0], &b, &out), BFT_EDUP);
	wire_buf_free(&b);
	make_check(c, 2, N * 2 + 1, &b); /* B = 8: at most 4 proposals of 2 */
	assert_int_equal(step_into(c, c->h[0], &b, &out), BFT_ETOOBIG);
	wire_buf_free(&b);
	bft_out_free(&out);
	c->hold = 0;
	run(c);
	assert_agree(c, 0xf, 1);
	st = status_of(c, 0);
	assert_int_equal(st.check_votes_other_list, 1);
	assert_int_equal(st.faults[BFT_EDIGEST], 1);
	assert_int_equal(st.sender_faults[1], 1);
	assert_int_equal(st.faults[BFT_ETOOBIG], 1);
	assert_int_equal(st.sender_faults[2], 1);
	assert_int_equal(c->app[0].count, 1);
	cluster_free(c);
}

static void test_hb_checkpoints_through_the_shared_log(void **state)
{
	struct cluster *c = cluster_new(NULL, true);
	struct hb_status st;

	(void)state;
	for (uint32_t k = 0; k < 5; k++) {
		submit(c, k % NCLIENTS, 0xf);
		run(c);
	}
	assert_agree(c, 0xf, 5);
	for (uint32_t i = 0; i < N; i++) {
		hb_status(c->h[i], &st);
		assert_int_equal(st.low, 4); /* K = 4: the checkpoint at 4 is stable */
	}
	cluster_free(c);
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Byzantine input never crashes: thousands of well-formed, validly signed but random Honey
 * Badger messages (any type, epoch, proposer, round, value, shard, branch, share) from every
 * other replica, into a replica in the middle of an epoch; each is refused or absorbed. */
static void test_hb_survives_random_messages(void **state)
{
	struct cluster *c = cluster_new(NULL, true);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t shard[64];
	struct hb_status st;

	(void)state;
	submit(c, 0, 0x1); /* replica 0 runs epoch 0 */
	drop_queue(c);
	for (int k = 0; k < 3000; k++) {
		uint32_t from = 1 + (uint32_t)(xorshift(&x) % (N - 1));
		struct bft_msg m = {.version = BFT_WIRE_VERSION, .sender = from};
		struct wire_buf b = {0};
		uint64_t epoch = xorshift(&x) % 4;
		enum bft_err e;

		m.type = (enum bft_msg_type)(BFT_MSG_HB_VAL + xorshift(&x) % 9);
		for (size_t i = 0; i < sizeof(shard); i++)
			shard[i] = (uint8_t)xorshift(&x);
		switch (m.type) {
		case BFT_MSG_HB_VAL:
		case BFT_MSG_HB_ECHO:
			m.u.hb_rbc.epoch = epoch;
			m.u.hb_rbc.proposer = (uint32_t)(xorshift(&x) % N);
			m.u.hb_rbc.index = xorshift(&x) % 2 ? from : (uint32_t)(xorshift(&x) % N);
			m.u.hb_rbc.shard = (struct bft_bytes){.p = shard,
							      .len = 1 + (uint32_t)(xorshift(&x) % 64)};
			m.u.hb_rbc.nbranch = (uint32_t)(xorshift(&x) % 4);
			memcpy(m.u.hb_rbc.root, shard, 32);
			break;
		case BFT_MSG_HB_READY:
			m.u.hb_ready.epoch = epoch;
			m.u.hb_ready.proposer = (uint32_t)(xorshift(&x) % N);
			memcpy(m.u.hb_ready.root, shard, 32);
			break;
		case BFT_MSG_HB_COIN:
			m.u.hb_coin.epoch = epoch;
			m.u.hb_coin.instance = (uint32_t)(xorshift(&x) % N);
			m.u.hb_coin.round = (uint32_t)(xorshift(&x) % 40);
			memcpy(m.u.hb_coin.share, shard, sizeof(shard));
			m.u.hb_coin.share[0] = (uint8_t)(from + 1);
			m.u.hb_coin.share[1] = 0;
			break;
		case BFT_MSG_HB_DEC:
			m.u.hb_dec.epoch = epoch;
			m.u.hb_dec.proposer = (uint32_t)(xorshift(&x) % N);
			memcpy(m.u.hb_dec.share, shard, sizeof(shard));
			m.u.hb_dec.share[0] = (uint8_t)(from + 1);
			m.u.hb_dec.share[1] = 0;
			break;
		default:
			m.u.hb_aba.epoch = epoch;
			m.u.hb_aba.instance = (uint32_t)(xorshift(&x) % N);
			m.u.hb_aba.round = (uint32_t)(xorshift(&x) % 40);
			m.u.hb_aba.value = m.type == BFT_MSG_HB_CONF ? 1 + (uint32_t)(xorshift(&x) % 3)
								     : (uint32_t)(xorshift(&x) % 2);
			break;
		}
		assert_int_equal(wire_encode(&m, &c->id[from], &b), BFT_OK);
		e = deliver_frame(c, 0, b.p, b.len);
		assert_true(e < BFT_ERR_COUNT);
		wire_buf_free(&b);
		drop_queue(c);
	}
	hb_status(c->h[0], &st);
	assert_int_equal(st.last_executed, 0); /* nothing random can commit */
	/* The cluster still works afterwards (the others never saw the noise). */
	cluster_free(c);
}

static void test_hb_refuses_mismatched_keys(void **state)
{
	struct cluster *c = cluster_new(NULL, true);
	struct hb_config hc;
	struct hb *h = NULL;

	(void)state;
	hb_config_default(&hc);
	hc.log.n = N;
	hc.log.self = 0;
	hc.log.id = &c->id[0];
	hc.log.replica_pks = (const uint8_t (*)[CR_PK_BYTES])c->pks;
	hc.log.client_pks = (const uint8_t (*)[CR_PK_BYTES])c->cpks;
	hc.log.limits = c->limits;
	hc.log.app = (struct bft_app){.ctx = &c->app[0], .execute = app_execute,
				      .snapshot = app_snapshot, .restore = app_restore};
	hc.coin_pk = &c->coin_pk;
	hc.enc_pk = &c->enc_pk;
	hc.coin_sk = &c->coin_sk[1]; /* another replica's share */
	hc.enc_sk = &c->enc_sk[0];
	assert_int_equal(hb_new(&h, &hc), BFT_EINVAL);
	hc.coin_sk = &c->coin_sk[0];
	hc.enc_pk = &c->coin_pk; /* the coin keys for encryption */
	assert_int_equal(hb_new(&h, &hc), BFT_EINVAL);
	hc.enc_pk = &c->enc_pk;
	hc.batch_size = 0;
	assert_int_equal(hb_new(&h, &hc), BFT_EINVAL);
	hc.batch_size = 8;
	assert_int_equal(hb_new(&h, &hc), BFT_OK);
	hb_free(h);
	cluster_free(c);
}

/* Feeds frame b to engine h directly, its output into *out (not routed). */
static enum bft_err step_into(struct cluster *c, struct hb *h, const struct wire_buf *b,
			      struct bft_out *out)
{
	struct bft_msg m;
	struct bft_event ev = {.type = BFT_EV_MESSAGE, .msg = &m, .now_ms = c->now};
	enum bft_err e;

	assert_int_equal(wire_decode(&c->limits, b->p, b->len, &m), BFT_OK);
	e = hb_step(h, &ev, out);
	wire_msg_free(&m);
	return e;
}

static void random_into(struct hb *h, uint8_t tag)
{
	uint8_t r[32];
	struct bft_event ev = {.type = BFT_EV_RANDOM, .random = r, .random_len = sizeof(r)};
	struct bft_out out = {0};

	seed_bytes(r, tag, 0);
	assert_int_equal(hb_step(h, &ev, &out), BFT_OK);
	bft_out_free(&out);
}

/* The VAL frame for replica `to` in *out, or NULL. */
static const struct bft_out_msg *val_for(const struct bft_out *out, uint32_t to)
{
	for (size_t i = 0; i < out->nmsgs; i++)
		if (out->msgs[i].type == BFT_MSG_HB_VAL && out->msgs[i].dest == BFT_TO_REPLICA &&
		    out->msgs[i].to == to)
			return &out->msgs[i];
	return NULL;
}

/* A replica records its sealed proposal before its VALs leave; restarted from that record
 * mid-epoch, with other randomness, it sends the identical VALs again (never a second value),
 * and the epoch commits. A replica that lost the record would propose something else. */
static void test_hb_restart_mid_epoch_sends_the_identical_vals(void **state)
{
	struct cluster *c = cluster_new(NULL, true);
	struct bft_out before = {0}, after = {0}, control = {0};
	struct wire_buf req;
	struct hb_config hc;
	struct hb *lost;
	struct hb_status st;
	size_t nprop = 0;

	(void)state;
	make_request(c, 0, &req);
	assert_int_equal(step_into(c, c->h[0], &req, &before), BFT_OK);
	for (size_t i = 0; i < before.nrecords; i++)
		if (before.records[i].kind == BFT_REC_HB_PROPOSAL) {
			nprop++;
			assert_int_equal(before.records[i].seq, 1); /* epoch 0 is position 1 */
		}
	assert_int_equal(nprop, 1);
	for (uint32_t j = 1; j < N; j++)
		assert_non_null(val_for(&before, j));

	/* Crash: only what was persisted survives. */
	hb_free(c->h[0]);
	config_for(c, 0, &hc);
	assert_int_equal(hb_new(&c->h[0], &hc), BFT_OK);
	for (size_t i = 0; i < before.nrecords; i++)
		assert_int_equal(hb_restore(c->h[0], &before.records[i]), BFT_OK);
	random_into(c->h[0], 'x');
	/* The client retransmits; epoch 0 runs again. */
	assert_int_equal(step_into(c, c->h[0], &req, &after), BFT_OK);
	for (uint32_t j = 1; j < N; j++) {
		const struct bft_out_msg *a = val_for(&before, j), *b = val_for(&after, j);

		assert_non_null(b);
		assert_int_equal(a->len, b->len);
		assert_memory_equal(a->bytes, b->bytes, a->len);
	}
	hb_status(c->h[0], &st);
	assert_int_equal(st.proposals_restored, 1);
	for (size_t i = 0; i < after.nrecords; i++)
		assert_int_not_equal(after.records[i].kind, BFT_REC_HB_PROPOSAL);

	/* Without the record the same restart proposes a different value. */
	assert_int_equal(hb_new(&lost, &hc), BFT_OK);
	random_into(lost, 'x');
	assert_int_equal(step_into(c, lost, &req, &control), BFT_OK);
	assert_non_null(val_for(&control, 1));
	assert_true(val_for(&control, 1)->len != val_for(&before, 1)->len ||
		    memcmp(val_for(&control, 1)->bytes, val_for(&before, 1)->bytes,
			   val_for(&before, 1)->len) != 0);
	hb_free(lost);
	bft_out_free(&control);

	/* The re-sent proposal is the one the epoch commits with. */
	route(c, 0, &after);
	for (uint32_t i = 1; i < N; i++)
		assert_int_equal(deliver_frame(c, i, req.p, req.len), BFT_OK);
	run(c);
	assert_agree(c, 0xf, 1);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(c->app[i].count, 1);
	wire_buf_free(&req);
	bft_out_free(&before);
	bft_out_free(&after);
	cluster_free(c);
}

/* hb_restore: a proposal record that does not parse is refused; PBFT's records and proposals
 * of finished epochs are ignored. */
static void test_hb_restore_rejects_malformed_proposal_records(void **state)
{
	struct cluster *c = cluster_new(NULL, true);
	uint8_t buf[12 + CR_TDH2_SEAL_OVERHEAD + 8] = {0};
	struct bft_record rec = {.kind = BFT_REC_HB_PROPOSAL, .seq = 1, .bytes = buf};
	struct hb_status st;

	(void)state;
	rec.len = 11;
	assert_int_equal(hb_restore(c->h[0], &rec), BFT_EMALFORMED);
	rec.len = 12 + CR_TDH2_SEAL_OVERHEAD - 1;
	assert_int_equal(hb_restore(c->h[0], &rec), BFT_EMALFORMED);
	rec.len = sizeof(buf);
	buf[8] = 200; /* more requests than one proposal may hold */
	assert_int_equal(hb_restore(c->h[0], &rec), BFT_EMALFORMED);
	buf[8] = 1;
	assert_int_equal(hb_restore(c->h[0], &rec), BFT_OK);
	rec.kind = BFT_REC_VIEW;
	rec.len = 9;
	assert_int_equal(hb_restore(c->h[0], &rec), BFT_OK);
	hb_status(c->h[0], &st);
	assert_int_equal(st.proposals_restored, 0);
	cluster_free(c);
}

/* The behaviours both engines share (byz.h), on Honey Badger: a wrong-reply replica answers with
 * a validly signed lie (the others' f+1 matching replies carry the truth); a bad-signature
 * replica's frames are all refused by the receivers' signature check, and the others commit
 * without it; a replaying replica's old messages of finished epochs are stale where they arrive,
 * never a fault and never a second commit. */
static void test_hb_generic_byzantine_modes(void **state)
{
	struct cluster *c;
	struct hb_status st;
	uint32_t modes[N] = {0, BFT_BYZ_WRONG_REPLY, 0, 0};

	(void)state;
	c = cluster_new(modes, true);
	submit(c, 0, 0xf);
	run(c);
	assert_agree(c, 0xf, 1);
	assert_int_equal(c->lies[1], 1);
	assert_int_equal(c->lies[0] + c->lies[2] + c->lies[3], 0);
	assert_int_equal(c->replies[0], N);
	cluster_free(c);

	modes[1] = BFT_BYZ_BAD_SIGNATURE;
	c = cluster_new(modes, true);
	submit(c, 0, 0xf);
	run(c);
	assert_agree(c, 0xd, 1);
	assert_true(c->bad_sigs[1] > 0);
	assert_int_equal(c->bad_sigs[0] + c->bad_sigs[2] + c->bad_sigs[3], 0);
	cluster_free(c);

	modes[1] = BFT_BYZ_REPLAY;
	c = cluster_new(modes, true);
	submit(c, 0, 0xf);
	run(c);
	for (int k = 0; k < 3; k++) {
		c->now += 1000; /* replays go out at a bounded rate, with its later steps */
		submit(c, (uint32_t)k + 1, 0xf);
		run(c);
	}
	assert_agree(c, 0xf, 4);
	for (uint32_t i = 0; i < N; i++) {
		if (i == 1)
			continue;
		hb_status(c->h[i], &st);
		assert_int_equal(st.sender_faults[1], 0);
		assert_int_equal(c->app[i].count, 4);
	}
	/* Replica 1 did re-send old frames (harmlessly, as checked above). */
	hb_status(c->h[1], &st);
	assert_true(st.byz_replayed > 0);
	cluster_free(c);
}

static void test_hb_label_layout(void **state)
{
	uint8_t l[HB_LABEL_BYTES];
	static const uint8_t want[HB_LABEL_BYTES] = {'h', 'b', '.', 'p', 'r', 'o', 'p', 5, 0, 0,
						      0, 0, 0, 0, 1, 3, 0, 0, 0};

	(void)state;
	hb_label(0x0100000000000005ull, 3, l);
	assert_memory_equal(l, want, sizeof(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hb_cluster_commits_requests_in_one_log_position),
		cmocka_unit_test(test_hb_proposals_of_correct_replicas_do_not_overlap),
		cmocka_unit_test(test_hb_does_not_propose_before_randomness_arrives),
		cmocka_unit_test(test_hb_rejects_a_val_from_a_non_proposer),
		cmocka_unit_test(test_hb_buffers_near_epochs_and_drops_far_ones),
		cmocka_unit_test(test_hb_a_finished_epoch_is_stale),
		cmocka_unit_test(test_hb_keeps_decryption_shares_that_arrive_before_the_ciphertext),
		cmocka_unit_test(test_hb_rejects_invalid_decryption_shares),
		cmocka_unit_test(test_hb_finds_bad_kept_shares_when_the_ciphertext_is_known),
		cmocka_unit_test(test_hb_audits_late_decryption_shares),
		cmocka_unit_test(test_hb_rejects_invalid_coin_shares),
		cmocka_unit_test(test_hb_drops_an_invalid_ciphertext_everywhere),
		cmocka_unit_test(test_hb_drops_shards_of_no_codeword_everywhere),
		cmocka_unit_test(test_hb_equivocating_proposer_is_detected_and_harmless),
		cmocka_unit_test(test_hb_a_censoring_replica_cannot_hold_a_request_back),
		cmocka_unit_test(test_hb_silent_replica_does_not_stop_the_others),
		cmocka_unit_test(test_hb_shared_checks_spare_the_others_the_signature),
		cmocka_unit_test(test_hb_disputed_verdicts_are_checked_and_the_liar_counted),
		cmocka_unit_test(test_hb_a_silent_checker_costs_one_wait),
		cmocka_unit_test(test_hb_rejects_bad_checks),
		cmocka_unit_test(test_hb_a_lying_checker_changes_nothing),
		cmocka_unit_test(test_hb_drops_a_proposal_in_the_clear_that_is_not_empty),
		cmocka_unit_test(test_hb_checkpoints_through_the_shared_log),
		cmocka_unit_test(test_hb_survives_random_messages),
		cmocka_unit_test(test_hb_refuses_mismatched_keys),
		cmocka_unit_test(test_hb_restart_mid_epoch_sends_the_identical_vals),
		cmocka_unit_test(test_hb_restore_rejects_malformed_proposal_records),
		cmocka_unit_test(test_hb_generic_byzantine_modes),
		cmocka_unit_test(test_hb_label_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
