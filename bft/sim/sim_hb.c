/*
 * sim_hb: Honey Badger BFT (bft/hb.h) behind the simulator's engine vtable.
 *
 * The simulator hands an engine its identity and everybody's public keys but no threshold keys
 * and no random event, so the binding supplies both, deterministically: the coin and encryption
 * key sets are dealt (cr_dealer_deal) from a seed hashed from all the replicas' public keys —
 * the same at every replica of a run, different between seeds — and the engine's first
 * BFT_EV_RANDOM is a hash of its own public key. Every replica of a run thus derives the same
 * keys and a seed replays bit for bit.
 *
 * The engines of a process share one verification memo (bft/memo.h): a coin or decryption share
 * broadcast to n replicas is then checked once, not n - 1 times, like the simulator's signature
 * memo. The memo changes no outcome (a run with and without it has the same trace, which the
 * simulation tests check); sim_hb_set_memo(false) turns it off.
 */
#include "bft/sim/sim_hb.h"

#include <stdlib.h>
#include <string.h>

#include "bft/hb.h"
#include "bft/memo.h"
#include "crypto/cr_dealer.h"

#define MEMO_BITS 13u /* 8192 entries: a run needs a few hundred */

/* The memo shared by the engines of this process, created with the first and kept for the
 * process's lifetime: an entry answers only the exact question it was computed for (its key
 * covers every input), so entries of an earlier run are never wrong, merely unused. */
static struct bft_memo *memo;
static bool memo_off;
static bool threshold_coins; /* sim_hb_set_fixed_coins(false) */

void sim_hb_set_fixed_coins(bool on)
{
	threshold_coins = !on;
}

void sim_hb_set_memo(bool on)
{
	memo_off = !on;
	if (!on) {
		bft_memo_free(memo);
		memo = NULL;
	}
}


struct sim_hb {
	struct hb *h;
	struct cr_thresh_pubkey coin_pk, enc_pk;
	struct cr_thresh_share coin_sk, enc_sk;
};

/* The key sets of the last deal, kept because every replica of a run asks for the same ones
 * (dealing costs 2n scalar multiplications per key set). Test-harness memory: the simulator's
 * threshold keys are not secrets. */
static struct {
	bool valid;
	uint8_t seed[CR_THRESH_SEED_BYTES];
	uint32_t n;
	struct cr_thresh_pubkey coin_pk, enc_pk;
	struct cr_thresh_share coin[CR_THRESH_N_MAX], enc[CR_THRESH_N_MAX];
} dealt;

static enum bft_err deal(struct sim_hb *s, const struct sim_node_config *nc)
{
	uint8_t seed[CR_THRESH_SEED_BYTES];
	struct cr_hash hs;
	int rc = 0;

	if (nc->n == 0 || nc->n > CR_THRESH_N_MAX)
		return BFT_EINVAL;
	cr_hash_init(&hs, "sim.hb.keys");
	for (uint32_t i = 0; i < nc->n; i++)
		cr_hash_update(&hs, nc->replica_pks[i], CR_PK_BYTES);
	cr_hash_final(&hs, seed);
	if (!dealt.valid || dealt.n != nc->n || memcmp(dealt.seed, seed, sizeof(seed)) != 0) {
		dealt.valid = false;
		rc = cr_dealer_deal(&dealt.coin_pk, dealt.coin, nc->n, bft_f(nc->n), CR_THRESH_COIN,
				    seed);
		if (rc == 0)
			rc = cr_dealer_deal(&dealt.enc_pk, dealt.enc, nc->n, bft_f(nc->n),
					    CR_THRESH_ENC, seed);
		if (rc != 0)
			return BFT_EINVAL;
		dealt.valid = true;
		dealt.n = nc->n;
		memcpy(dealt.seed, seed, sizeof(seed));
	}
	s->coin_pk = dealt.coin_pk;
	s->enc_pk = dealt.enc_pk;
	s->coin_sk = dealt.coin[nc->self];
	s->enc_sk = dealt.enc[nc->self];
	return BFT_OK;
}

static enum bft_err hb_sim_create(void **engine, const struct sim_node_config *nc)
{
	struct sim_hb *s = calloc(1, sizeof(*s));
	struct hb_config hc;
	struct bft_event ev = {0};
	struct bft_out out = {0};
	uint8_t rnd[32];
	enum bft_err e;

	if (s == NULL)
		return BFT_ENOMEM;
	e = deal(s, nc);
	if (e != BFT_OK) {
		free(s);
		return e;
	}
	hb_config_default(&hc);
	hc.log.n = nc->n;
	hc.log.self = nc->self;
	hc.log.id = nc->id;
	hc.log.replica_pks = nc->replica_pks;
	hc.log.client_pks = nc->client_pks;
	hc.log.limits = nc->limits;
	hc.log.app = nc->app;
	if (nc->checkpoint_interval != 0)
		hc.log.checkpoint_interval = nc->checkpoint_interval;
	if (nc->window != 0)
		hc.log.window = nc->window;
	if (nc->batch_max_requests != 0) {
		hc.log.batch_max_requests = nc->batch_max_requests;
		hc.batch_size = nc->batch_max_requests;
	}
	hc.log.batch_delay_ms = nc->batch_delay_ms;
	hc.coin_pk = &s->coin_pk;
	hc.enc_pk = &s->enc_pk;
	hc.coin_sk = &s->coin_sk;
	hc.enc_sk = &s->enc_sk;
	hc.byz = nc->byz;
	if (threshold_coins)
		hc.fixed_coins = false;
	if (!memo_off && memo == NULL)
		memo = bft_memo_new(MEMO_BITS); /* NULL when out of memory: computed every time */
	if (!memo_off && memo != NULL)
		hc.memo = memo;
	e = hb_new(&s->h, &hc);
	if (e != BFT_OK) {
		cr_thresh_share_wipe(&s->coin_sk);
		cr_thresh_share_wipe(&s->enc_sk);
		free(s);
		return e;
	}
	cr_digest(rnd, "sim.hb.random", nc->id->pk, CR_PK_BYTES);
	ev.type = BFT_EV_RANDOM;
	ev.random = rnd;
	ev.random_len = sizeof(rnd);
	(void)hb_step(s->h, &ev, &out); /* nothing runs yet: there is nothing to send */
	bft_out_free(&out);
	*engine = s;
	return BFT_OK;
}

static enum bft_err hb_sim_step(void *engine, const struct bft_event *ev, struct bft_out *out)
{
	return hb_step(((struct sim_hb *)engine)->h, ev, out);
}

static void hb_sim_status(const void *engine, struct sim_engine_status *st)
{
	struct hb_status hs;

	hb_status(((const struct sim_hb *)engine)->h, &hs);
	st->view = hs.epoch;
	st->view_active = true;
	st->last_executed = hs.last_executed;
	st->low = hs.low;
	st->high = hs.high;
	st->view_changes = 0;
	st->state_transfers = hs.state_transfers;
}

static void hb_sim_free(void *engine)
{
	struct sim_hb *s = engine;

	if (s == NULL)
		return;
	hb_free(s->h);
	cr_thresh_share_wipe(&s->coin_sk);
	cr_thresh_share_wipe(&s->enc_sk);
	free(s);
}

const struct cr_thresh_pubkey *sim_hb_coin_pk(void *engine)
{
	return &((struct sim_hb *)engine)->coin_pk;
}

struct hb *sim_hb_engine(void *engine)
{
	return ((struct sim_hb *)engine)->h;
}

static struct bft_log *hb_sim_log(void *engine)
{
	return hb_log(((struct sim_hb *)engine)->h);
}

const struct sim_engine_ops sim_engine_hb = {
	.name = "honeybadger",
	.client_send = BFT_SEND_CHECKERS,
	.ordered_reads_only = true,
	.create = hb_sim_create,
	.step = hb_sim_step,
	.status = hb_sim_status,
	.free = hb_sim_free,
	.log = hb_sim_log,
};
