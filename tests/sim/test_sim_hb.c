/*
 * Honey Badger BFT under the deterministic simulator (bft/sim/sim.h, binding bft/sim/sim_hb.c).
 *
 * The network is asynchronous: no timing guarantee at all — each delivery takes 1 ms up to a
 * bound drawn per seed (up to 400 ms), independently, so messages are reordered arbitrarily, and
 * some are duplicated — but every message is eventually delivered (the model of HB §2). After
 * every step the simulator checks agreement and validity, exactly-once and the clients' results;
 * at the end, liveness: every request (each sent to all replicas) committed. Every Byzantine
 * behaviour Honey Badger implements (bft/byz.h, BFT_BYZ_HB_MODES, but flood, which only the node
 * carries out) gets a sweep of 200 seeds at n = 4 with one faulty replica and at n = 7 with two.
 * For the detectable behaviours the run checks that a correct replica's fault log names each
 * faulty replica (a bad share counts as detectable only once some correct replica checked one of
 * its shares: shares are verified only while a coin or a decryption still needs them); and in
 * every run, that no correct replica logs a fault against a correct one or against a faulty one
 * whose behaviour sends nothing wrong (silent, crash-after, censor, replay, wrong-reply).
 *
 * The coin-aware sweeps put an adversarial scheduler in front of every replica (an engine
 * wrapper holding back outgoing messages): it reads every coin share on the wire, so it knows
 * each coin as soon as f+1 shares of it exist, and it knows the fixed coins of aba.h's schedule
 * from the start; it orders messages against termination — TERM and coin shares last, value-0
 * messages first to even replicas and value-1 first to odd ones, in a fixed-coin round the
 * messages carrying that coin's value last, and once a round's coin is known the next round's
 * messages carrying its value last. Holding is bounded (eventual delivery). With the coin share
 * released only after the CONF quorum (aba.h) the values are fixed before a threshold coin is
 * known, and every run terminates. The lossy sweeps go beyond the model: drops and a partition
 * that heals, which the engine's retransmission must repair.
 *
 * Seeds are made cheap rather than few: the engines of a process share a verification memo
 * (bft/memo.h; a test below checks it changes no outcome), ABA's fixed-coin schedule leaves most
 * agreements without any threshold coin, and the runs are small (one or two clients with one
 * request each; SIM_LONG=1 has three each and ten times the seeds).
 *
 *   build/tests/sim/test_sim_hb                     the default sweeps
 *   SEED=123 build/tests/sim/test_sim_hb            one seed in every sweep, with its report
 *   SEEDS=100..199                                  a range instead
 *   SIM_N=7                                         only the sweeps with that many replicas
 *   SIM_ONLY=censor                                 only the sweeps whose name contains it
 *   SIM_JOBS=k                                      worker processes (default 2)
 *   SIM_TRACE=1                                     print every event (with SEED)
 *   SIM_LONG=1                                      ten times as many seeds per sweep
 * Under AddressSanitizer (make asan) each sweep runs a fifth of its seeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "bft/aba.h"
#include "bft/sim/sim_hb.h"
#include "crypto/cr_coin.h"
#include "crypto/cr_dealer.h"

#define JOBS_MAX 16

/* Built with AddressSanitizer (make asan): every run costs about three times as much. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

struct hb_sweep {
	const char *name;
	uint32_t n;
	uint64_t first, count;
	uint32_t modes;       /* behaviours for the faulty replicas (each gets one, by seed) */
	uint32_t nfaulty;     /* how many faulty replicas (<= f) */
	bool adversary;       /* coin-aware scheduling */
	bool lossy;           /* beyond the model: drops and a partition until they heal */
	bool threshold_coins; /* odd seeds: the threshold coin in every ABA round (no fixed coins) */
	uint32_t clients;     /* clients with one request each (0: 2) */
	/* Loaded runs (0: the defaults above): requests per client, requests each keeps in
	 * flight, and B, so that epochs carry several requests of every owner's share. */
	uint32_t requests, outstanding, batch;
};

/* Modes a correct replica can attribute to their sender (silent, crash and censorship send
 * nothing wrong). */
#define DETECTABLE (BFT_BYZ_BAD_RBC_SHARDS | BFT_BYZ_RBC_EQUIVOCATE | BFT_BYZ_ABA_EQUIVOCATE | \
		    BFT_BYZ_BAD_COIN_SHARE | BFT_BYZ_BAD_DEC_SHARE | BFT_BYZ_BAD_CIPHERTEXT)

/* Modes whose misbehaviour is a share, found only when a replica checks that share. */
#define SHARE_MODES (BFT_BYZ_BAD_COIN_SHARE | BFT_BYZ_BAD_DEC_SHARE)

struct tally {
	uint64_t runs, failed, detectable, detected, epochs, events, end_ms_max, rounds_max;
	uint64_t first_failed[4];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool flag(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The coin-aware adversary: a wrapper around the HB engine of every replica. */

#define ADV_HOLD_MAX_MS 300u  /* a message is held at most this long: eventual delivery */
#define ADV_COINS 512u

struct adv_held {
	uint64_t at;
	uint32_t to;
	enum bft_msg_type type;
	uint8_t *bytes;
	size_t len;
};

struct adv_coin {
	bool used, known;
	uint64_t epoch;
	uint32_t instance, round;
	uint8_t bit;
	uint64_t have;                           /* senders whose share we hold */
	struct cr_coin_share shares[CR_THRESH_N_MAX];
	uint32_t count;
};

/* Shared by the wrappers of one run (runs in one process are sequential). */
static struct {
	uint32_t n, f;
	struct cr_thresh_pubkey pk;
	struct adv_coin coins[ADV_COINS];
	struct wire_limits limits;
	uint64_t coins_seen;
} adv;

struct adv_engine {
	void *inner;
	uint32_t self;
	struct adv_held *held;
	size_t nheld, cap;
};

static struct adv_coin *adv_coin_slot(uint64_t epoch, uint32_t instance, uint32_t round,
				      bool claim)
{
	uint64_t hsh = (epoch * 1000003u + instance) * 1000003u + round;
	struct adv_coin *c = &adv.coins[hsh % ADV_COINS];

	if (c->used && c->epoch == epoch && c->instance == instance && c->round == round)
		return c;
	if (!claim)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->epoch = epoch;
	c->instance = instance;
	c->round = round;
	return c;
}

/* The adversary reads a coin share off the wire; with f+1 of them it knows the coin. */
static void adv_see_coin(const struct bft_msg *m)
{
	struct adv_coin *c = adv_coin_slot(m->u.hb_coin.epoch, m->u.hb_coin.instance,
					   m->u.hb_coin.round, true);
	struct cr_coin_share sh;
	uint8_t name[ABA_COIN_NAME_BYTES];
	struct cr_coin_value v;

	if (c->known || (c->have >> m->sender) & 1u ||
	    cr_coin_share_decode(&sh, m->u.hb_coin.share, CR_COIN_SHARE_BYTES) != 0)
		return;
	/* Not verified: no sweep with this adversary sends bad coin shares, so every share it
	 * reads is valid (were one not, the adversary would merely compute a wrong coin and
	 * schedule less cleverly). Verifying would double the cost of every threshold coin. */
	aba_coin_name(c->epoch, c->instance, c->round, name);
	c->have |= 1ull << m->sender;
	c->shares[c->count++] = sh;
	if (c->count >= adv.f + 1 &&
	    cr_coin_combine(&v, &adv.pk, name, sizeof(name), c->shares, c->count, NULL) == 0) {
		c->known = true;
		c->bit = v.bit;
		adv.coins_seen++;
	}
}

/* How long to hold message m on its way to replica `to` (0: not at all). */
static uint64_t adv_delay(const struct bft_msg *m, uint32_t to)
{
	const struct adv_coin *prev;
	uint32_t v;

	switch (m->type) {
	case BFT_MSG_HB_TERM:
	case BFT_MSG_HB_COIN:
		return ADV_HOLD_MAX_MS; /* keep coins unknown and deciders unheard as long as allowed */
	case BFT_MSG_HB_BVAL:
	case BFT_MSG_HB_AUX:
		v = m->u.hb_aba.value;
		break;
	case BFT_MSG_HB_CONF:
		v = m->u.hb_aba.value == 1u ? 0 : m->u.hb_aba.value == 2u ? 1 : 2;
		break;
	default:
		return 0;
	}
	/* A round whose coin is fixed (aba.h "Coin schedule"): the adversary knows it from the
	 * start and holds back the messages carrying that value, so that replicas see the other
	 * one first and do not decide. */
	if (m->u.hb_aba.round % 3 != 2 && v == (m->u.hb_aba.round % 3 == 0 ? 1u : 0u))
		return ADV_HOLD_MAX_MS;
	/* Once round r's coin is known, round r+1's messages for that value come last. */
	if (m->u.hb_aba.round > 0) {
		prev = adv_coin_slot(m->u.hb_aba.epoch, m->u.hb_aba.instance, m->u.hb_aba.round - 1,
				     false);
		if (prev != NULL && prev->known && v == prev->bit)
			return ADV_HOLD_MAX_MS;
	}
	/* Otherwise split the replicas: value 0 first for the even ones, 1 for the odd ones. */
	if (v < 2 && v != to % 2)
		return ADV_HOLD_MAX_MS / 2;
	return 0;
}

static enum bft_err adv_hold(struct adv_engine *a, uint64_t at, uint32_t to,
			     enum bft_msg_type type, const uint8_t *p, size_t len)
{
	struct adv_held *h;

	if (a->nheld == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 256;
		struct adv_held *v = realloc(a->held, ncap * sizeof(*v));

		if (v == NULL)
			return BFT_ENOMEM;
		a->held = v;
		a->cap = ncap;
	}
	h = &a->held[a->nheld];
	h->bytes = malloc(len);
	if (h->bytes == NULL)
		return BFT_ENOMEM;
	memcpy(h->bytes, p, len);
	h->len = len;
	h->at = at;
	h->to = to;
	h->type = type;
	a->nheld++;
	return BFT_OK;
}

static enum bft_err adv_create(void **engine, const struct sim_node_config *cfg)
{
	struct adv_engine *a = calloc(1, sizeof(*a));
	enum bft_err e;

	if (a == NULL)
		return BFT_ENOMEM;
	if (cfg->self == 0) {
		memset(&adv, 0, sizeof(adv));
		adv.n = cfg->n;
		adv.f = bft_f(cfg->n);
		adv.limits = cfg->limits;
	}
	a->self = cfg->self;
	e = sim_engine_hb.create(&a->inner, cfg);
	if (e != BFT_OK) {
		free(a);
		return e;
	}
	/* The adversary needs only the public half of the coin keys, to check and combine the
	 * shares it reads off the wire. */
	if (cfg->self == 0)
		adv.pk = *sim_hb_coin_pk(a->inner);
	*engine = a;
	return BFT_OK;
}

static enum bft_err adv_step(void *engine, const struct bft_event *ev, struct bft_out *out)
{
	struct adv_engine *a = engine;
	enum bft_err e = sim_engine_hb.step(a->inner, ev, out);
	size_t n0 = out->nmsgs, k = 0;
	uint64_t next = 0;

	/* Split every replica message per destination and hold what the strategy says. */
	for (size_t i = 0; i < n0; i++) {
		struct bft_out_msg om = out->msgs[i];
		struct bft_msg m;
		bool split = false;

		if (om.dest != BFT_TO_CLIENT &&
		    wire_decode(&adv.limits, om.bytes, om.len, &m) == BFT_OK) {
			if (m.type == BFT_MSG_HB_COIN)
				adv_see_coin(&m);
			for (uint32_t to = 0; to < adv.n; to++) {
				uint64_t d;

				if (to == a->self || (om.dest == BFT_TO_REPLICA && om.to != to))
					continue;
				d = adv_delay(&m, to);
				if (d == 0)
					continue;
				split = true;
			}
			if (split) {
				for (uint32_t to = 0; to < adv.n; to++) {
					if (to == a->self || (om.dest == BFT_TO_REPLICA && om.to != to))
						continue;
					/* A held message leaves at a later step of this replica. */
					if (adv_hold(a, ev->now_ms + adv_delay(&m, to), to, om.type,
						     om.bytes, om.len) != BFT_OK)
						e = BFT_ENOMEM;
				}
			}
			wire_msg_free(&m);
		}
		if (split)
			free(om.bytes);
		else
			out->msgs[k++] = om;
	}
	out->nmsgs = k;
	/* Release what is due, in the order it was held. */
	for (size_t i = 0; i < a->nheld;) {
		struct adv_held *h = &a->held[i];

		if (h->at <= ev->now_ms) {
			if (bft_out_msg(out, BFT_TO_REPLICA, h->to, h->type, h->bytes, h->len) !=
			    BFT_OK)
				e = BFT_ENOMEM;
			a->held[i] = a->held[--a->nheld];
			continue;
		}
		if (next == 0 || h->at < next)
			next = h->at;
		i++;
	}
	if (next != 0)
		bft_out_timer(out, next);
	return e;
}

static void adv_status(const void *engine, struct sim_engine_status *st)
{
	sim_engine_hb.status(((const struct adv_engine *)engine)->inner, st);
}

static void adv_free(void *engine)
{
	struct adv_engine *a = engine;

	for (size_t i = 0; i < a->nheld; i++)
		free(a->held[i].bytes);
	free(a->held);
	sim_engine_hb.free(a->inner);
	free(a);
}

static const struct sim_engine_ops adv_engine_ops = {
	.name = "honeybadger+coin-aware-adversary", .client_send = BFT_SEND_CHECKERS,
	.create = adv_create, .step = adv_step, .status = adv_status, .free = adv_free,
};

static struct hb *hb_of(const struct hb_sweep *sw, void *engine)
{
	return sim_hb_engine(sw->adversary ? ((struct adv_engine *)engine)->inner : engine);
}

/* ------------------------------------------------------------------------------------------ */
/* Sweeps */

static uint32_t nth_mode(uint32_t modes, uint64_t k)
{
	uint32_t count = 0;

	for (uint32_t m = modes; m != 0; m &= m - 1)
		count++;
	k %= count;
	for (uint32_t m = modes; m != 0; m &= m - 1)
		if (k-- == 0)
			return m & (0u - m);
	return 0;
}

static void seed_config(const struct hb_sweep *sw, uint64_t seed, struct sim_config *c)
{
	struct sim_rng r;

	sim_config_default(c, sw->adversary ? &adv_engine_ops : &sim_engine_hb, sw->n);
	c->seed = seed;
	sim_rng_seed(&r, sim_seed_derive(seed, 'H', 0));
	/* Small runs, since the threshold cryptography dominates the run time (about 10 ms of
	 * CPU per epoch at n = 4, 40 ms at n = 7, with the shared verification memo): one or two
	 * clients with one request each, one or two epochs. SIM_LONG=1 runs ten times the seeds
	 * with three requests per client. */
	c->nclients = sw->clients != 0 ? sw->clients : 2;
	c->requests_per_client = flag("SIM_LONG") ? 3 : 1;
	c->client_outstanding = 1;
	c->readonly_rate = 0.1;
	c->batch_max_requests = 4;
	if (sw->requests != 0) {
		c->requests_per_client = sw->requests * (flag("SIM_LONG") ? 3 : 1);
		c->client_outstanding = sw->outstanding;
		c->batch_max_requests = sw->batch;
	}
	c->latency_min_ms = 1;
	c->latency_max_ms = (uint32_t)sim_rng_range(&r, 5, 400);
	c->drop_rate = 0; /* asynchronous, but every message arrives */
	c->dup_rate = (double)sim_rng_below(&r, 101) / 1000.0;
	c->faults_until_ms = 5000;
	c->client_retransmit_ms = 2000;
	c->client_retransmit_max_ms = 8000;
	c->time_limit_ms = 300000;
	if (sw->lossy) {
		/* Links that lose messages and a partition (sim_config_random_faults): the
		 * asynchronous model has none, and Honey Badger recovers through its
		 * retransmission and FETCH(LOG) (hb.h) once the network heals. */
		c->requests_per_client = flag("SIM_LONG") ? 3 : 1;
		sim_config_random_faults(c);
	}
	for (uint32_t k = 0; k < sw->nfaulty; k++) {
		uint32_t victim;

		do
			victim = (uint32_t)sim_rng_below(&r, sw->n);
		while (c->byz[victim].modes != 0);
		c->byz[victim].modes = nth_mode(sw->modes, seed * sw->nfaulty + k);
		c->byz[victim].crash_after = sim_rng_range(&r, 5, 200);
		c->byz[victim].seed = sim_rng_next(&r);
	}
	if (flag("SIM_TRACE"))
		c->trace_out = stdout;
}

/* One run; true when every invariant held and, for detectable behaviours, *detected says
 * whether some correct replica logged a fault of every faulty replica. */
static bool run_seed(const struct hb_sweep *sw, uint64_t seed, bool verbose, struct tally *t)
{
	struct sim_config c;
	struct sim *s;
	struct sim_stats st;
	bool ok, detectable = false, detected = true;

	seed_config(sw, seed, &c);
	/* Coin behaviours: odd seeds with the threshold coin in every round, even seeds with the
	 * fixed-coin schedule the engine ships with. */
	sim_hb_set_fixed_coins(!(sw->threshold_coins && seed % 2 == 1));
	if (sim_new(&s, &c) != BFT_OK) {
		printf("=== sim FAILURE: seed=%llu: setup failed\n", (unsigned long long)seed);
		return false;
	}
	ok = sim_run(s);
	if (!ok || verbose)
		sim_print_report(s, stdout);
	sim_get_stats(s, &st);
	for (uint32_t b = 0; b < sw->n; b++) {
		uint64_t against = 0, checked = 0;

		if (c.byz[b].modes & BFT_BYZ_BAD_SIGNATURE) {
			/* Found before any engine sees it: the receiving node's signature check
			 * (here the simulator's, as bftnode's) rejects the frame and counts it
			 * against the sender it claims. Only faulty replicas corrupt signatures. */
			detectable = true;
			if (st.verify_failed == 0)
				detected = false;
			continue;
		}
		if (!(c.byz[b].modes & DETECTABLE))
			continue;
		for (uint32_t i = 0; i < sw->n; i++) {
			struct hb_status hs;

			if (c.byz[i].modes != 0)
				continue;
			hb_status(hb_of(sw, sim_engine(s, i)), &hs);
			against += hs.sender_faults[b];
			if (c.byz[b].modes & BFT_BYZ_BAD_COIN_SHARE)
				checked += hs.coin_checked[b];
			if (c.byz[b].modes & BFT_BYZ_BAD_DEC_SHARE)
				checked += hs.dec_checked[b];
		}
		/* A bad share is found when it is checked, and shares are checked only as long
		 * as a coin or a decryption still needs them (f+1 valid ones): a run in which no
		 * correct replica needed one of b's shares had nothing to detect. */
		if ((c.byz[b].modes & ~SHARE_MODES) == 0 && checked == 0)
			continue;
		detectable = true;
		if (against == 0)
			detected = false;
		if (flag("SIM_DEBUG_DETECT"))
			printf("seed %llu: replica %u %s: %llu faults, %llu shares checked\n",
			       (unsigned long long)seed, b, bft_byz_mode_name(c.byz[b].modes),
			       (unsigned long long)against, (unsigned long long)checked);
	}
	for (uint32_t i = 0; i < sw->n; i++) {
		struct hb_status hs;

		if (c.byz[i].modes != 0)
			continue;
		hb_status(hb_of(sw, sim_engine(s, i)), &hs);
		/* No false accusation: a correct replica never logs a fault against a correct
		 * one, nor against a faulty one whose behaviour sends nothing wrong. */
		for (uint32_t j = 0; j < sw->n && ok; j++)
			if (hs.sender_faults[j] != 0 && (c.byz[j].modes & DETECTABLE) == 0) {
				printf("=== sim FAILURE: seed=%llu: replica %u logged %llu faults against "
				       "replica %u (%s)\n", (unsigned long long)seed, i,
				       (unsigned long long)hs.sender_faults[j], j,
				       c.byz[j].modes ? bft_byz_mode_name(c.byz[j].modes & -c.byz[j].modes)
						      : "correct");
				ok = false;
			}
		if (hs.epochs_done > t->epochs)
			t->epochs = hs.epochs_done;
		if (hs.aba_rounds_max > t->rounds_max)
			t->rounds_max = hs.aba_rounds_max;
	}
	sim_free(s);
	t->runs++;
	t->events += st.events;
	if (st.end_ms > t->end_ms_max)
		t->end_ms_max = st.end_ms;
	if (detectable) {
		t->detectable++;
		t->detected += detected;
	}
	if (!ok) {
		if (t->failed < 4)
			t->first_failed[t->failed] = seed;
		t->failed++;
	}
	return ok;
}

static void run_range(const struct hb_sweep *sw, uint64_t lo, uint64_t hi, uint64_t stride,
		      bool verbose, struct tally *t)
{
	memset(t, 0, sizeof(*t));
	for (uint64_t seed = lo; seed <= hi; seed += stride) {
		(void)run_seed(sw, seed, verbose, t);
		fflush(stdout);
		if (hi - seed < stride)
			break;
	}
}

static void tally_add(struct tally *t, const struct tally *w)
{
	for (uint64_t i = 0; i < w->failed && i < 4 && t->failed + i < 4; i++)
		t->first_failed[t->failed + i] = w->first_failed[i];
	t->runs += w->runs;
	t->failed += w->failed;
	t->detectable += w->detectable;
	t->detected += w->detected;
	t->events += w->events;
	if (w->epochs > t->epochs)
		t->epochs = w->epochs;
	if (w->end_ms_max > t->end_ms_max)
		t->end_ms_max = w->end_ms_max;
	if (w->rounds_max > t->rounds_max)
		t->rounds_max = w->rounds_max;
}

static void run_sweep(const struct hb_sweep *sw)
{
	uint64_t lo = sw->first, hi = sw->first + sw->count - 1;
	const char *one = getenv("SEED"), *range = getenv("SEEDS"), *want = getenv("SIM_N");
	const char *jv = getenv("SIM_JOBS"), *only = getenv("SIM_ONLY");
	long jobs = jv != NULL && *jv ? strtol(jv, NULL, 10) : 2;
	bool verbose = false;
	struct tally t;
	pid_t pid[JOBS_MAX];
	int fd[JOBS_MAX];
	double t0 = now_s();

	if ((want != NULL && *want != '\0' && strtoul(want, NULL, 10) != sw->n) ||
	    (only != NULL && *only != '\0' && strstr(sw->name, only) == NULL)) {
		skip();
		return;
	}
	if (flag("SIM_LONG"))
		hi = sw->first + 10 * sw->count - 1;
	else if (SANITIZED)
		hi = sw->first + (sw->count + 4) / 5 - 1; /* make asan: a fifth, at 3x the cost */
	if (one != NULL && *one != '\0') {
		lo = hi = strtoull(one, NULL, 0);
		verbose = true;
	} else if (range != NULL && *range != '\0') {
		char *end;

		lo = strtoull(range, &end, 0);
		hi = (end[0] == '.' && end[1] == '.') ? strtoull(end + 2, NULL, 0) : lo;
	}
	if (jobs < 1)
		jobs = 1;
	if (jobs > JOBS_MAX)
		jobs = JOBS_MAX;
	if ((uint64_t)jobs > hi - lo + 1)
		jobs = (long)(hi - lo + 1);
	memset(&t, 0, sizeof(t));
	fflush(stdout);
	for (long j = 0; j < jobs; j++) {
		int p[2];

		assert_int_equal(pipe(p), 0);
		pid[j] = fork();
		assert_true(pid[j] >= 0);
		if (pid[j] == 0) {
			struct tally w;

			close(p[0]);
			run_range(sw, lo + (uint64_t)j, hi, (uint64_t)jobs, verbose, &w);
			_exit(write(p[1], &w, sizeof(w)) == (ssize_t)sizeof(w) ? 0 : 1);
		}
		close(p[1]);
		fd[j] = p[0];
	}
	for (long j = 0; j < jobs; j++) {
		struct tally w;
		int status = 0;
		ssize_t got = read(fd[j], &w, sizeof(w));

		close(fd[j]);
		assert_int_equal(waitpid(pid[j], &status, 0), pid[j]);
		if (got != (ssize_t)sizeof(w) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			printf("=== sim FAILURE: worker %ld died (seeds %llu + k*%ld); rerun with "
			       "SIM_JOBS=1\n", j, (unsigned long long)(lo + (uint64_t)j), jobs);
			memset(&w, 0, sizeof(w));
			w.runs = w.failed = 1;
		}
		tally_add(&t, &w);
	}
	printf("[ SIM      ] %s: %llu seeds (%llu..%llu), %llu failed, %.1f s; %llu events, "
	       "max epochs %llu, max ABA round %llu, latest end %llu ms; faulty sender detected "
	       "in %llu of %llu runs\n", sw->name, (unsigned long long)t.runs,
	       (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)t.failed,
	       now_s() - t0, (unsigned long long)t.events, (unsigned long long)t.epochs,
	       (unsigned long long)t.rounds_max, (unsigned long long)t.end_ms_max,
	       (unsigned long long)t.detected, (unsigned long long)t.detectable);
	if (t.failed != 0) {
		printf("[ SIM      ] %s: failing seeds:", sw->name);
		for (uint64_t i = 0; i < t.failed && i < 4; i++)
			printf(" %llu", (unsigned long long)t.first_failed[i]);
		printf(" (replay: SEED=<seed> SIM_N=%u build/tests/sim/test_sim_hb)\n", sw->n);
	}
	fflush(stdout);
	assert_int_equal(t.failed, 0);
	/* Each faulty sender of a detectable behaviour is named in some correct replica's fault
	 * log — in most runs, not all: a faulty replica whose misbehaviour reached no correct one
	 * in time escapes in that run (its proposal left out of the subset, its coin shares not
	 * needed, its second AUX arriving after the witness decided or left the round). */
	assert_true(t.detected * 5 >= t.detectable * 4);
}

#define SWEEP_TEST(fn, ...)                                                                        \
	static void fn(void **state)                                                               \
	{                                                                                          \
		const struct hb_sweep sw = {__VA_ARGS__};                                          \
		(void)state;                                                                       \
		run_sweep(&sw);                                                                    \
	}

/* Every behaviour at n = 4 with one faulty replica and at n = 7 with two (f), 200 seeds each
 * (SIM_LONG=1: 2000). The coin behaviours run every other seed with the threshold coin in every
 * ABA round, since with the fixed-coin schedule (aba.h) an uncontested agreement needs no coin
 * at all. n = 7
 * runs have one client (one epoch, mostly): the threshold cryptography grows with n^2; at n = 4
 * the async, lossy and censor sweeps have two (requests of both parities, several per epoch). */
#define HB_SWEEPS(N, F, CL)                                                                        \
	SWEEP_TEST(test_sim_hb_n##N##_async, .name = "hb n=" #N " async", .n = N, .first = 1,     \
		   .count = 200, .clients = CL)                                                    \
	SWEEP_TEST(test_sim_hb_n##N##_lossy_network, .name = "hb n=" #N " lossy links and "      \
		   "partition", .n = N, .first = 1, .count = 200, .lossy = true, .clients = CL)    \
	SWEEP_TEST(test_sim_hb_n##N##_silent, .name = "hb n=" #N " silent", .n = N, .first = 1,   \
		   .count = 200, .modes = BFT_BYZ_SILENT, .nfaulty = F, .clients = 1)              \
	SWEEP_TEST(test_sim_hb_n##N##_crash_after, .name = "hb n=" #N " crash-after", .n = N,     \
		   .first = 1, .count = 200, .modes = BFT_BYZ_CRASH_AFTER, .nfaulty = F,           \
		   .clients = 1)                                                                   \
	SWEEP_TEST(test_sim_hb_n##N##_bad_rbc_shards, .name = "hb n=" #N " bad-rbc-shards",      \
		   .n = N, .first = 1, .count = 200, .modes = BFT_BYZ_BAD_RBC_SHARDS, .nfaulty = F, \
		   .clients = 1)                                                                   \
	SWEEP_TEST(test_sim_hb_n##N##_rbc_equivocate, .name = "hb n=" #N " rbc-equivocate",      \
		   .n = N, .first = 1, .count = 200, .modes = BFT_BYZ_RBC_EQUIVOCATE, .nfaulty = F, \
		   .clients = 1)                                                                   \
	SWEEP_TEST(test_sim_hb_n##N##_aba_equivocate, .name = "hb n=" #N " aba-equivocate",      \
		   .n = N, .first = 1, .count = 200, .modes = BFT_BYZ_ABA_EQUIVOCATE, .nfaulty = F, \
		   .clients = 1)                                                                   \
	SWEEP_TEST(test_sim_hb_n##N##_bad_coin_share, .name = "hb n=" #N " bad-coin-share",      \
		   .n = N, .first = 1, .count = 200, .modes = BFT_BYZ_BAD_COIN_SHARE, .nfaulty = F, \
		   .threshold_coins = true, .clients = 1)                                          \
	SWEEP_TEST(test_sim_hb_n##N##_bad_dec_share, .name = "hb n=" #N " bad-decryption-share", \
		   .n = N, .first = 1, .count = 200, .modes = BFT_BYZ_BAD_DEC_SHARE, .nfaulty = F,  \
		   .clients = 1)                                                                   \
	SWEEP_TEST(test_sim_hb_n##N##_bad_ciphertext, .name = "hb n=" #N " bad-ciphertext",      \
		   .n = N, .first = 1, .count = 200, .modes = BFT_BYZ_BAD_CIPHERTEXT, .nfaulty = F, \
		   .clients = 1)                                                                   \
	SWEEP_TEST(test_sim_hb_n##N##_censor, .name = "hb n=" #N " censor", .n = N, .first = 1,   \
		   .count = 200, .modes = BFT_BYZ_CENSOR, .nfaulty = F, .clients = CL)             \
	SWEEP_TEST(test_sim_hb_n##N##_replay, .name = "hb n=" #N " replay", .n = N, .first = 1,   \
		   .count = 200, .modes = BFT_BYZ_REPLAY, .nfaulty = F, .clients = 1)              \
	SWEEP_TEST(test_sim_hb_n##N##_bad_signature, .name = "hb n=" #N " bad-signature", .n = N, \
		   .first = 1, .count = 200, .modes = BFT_BYZ_BAD_SIGNATURE, .nfaulty = F,         \
		   .clients = 1)                                                                   \
	SWEEP_TEST(test_sim_hb_n##N##_wrong_reply, .name = "hb n=" #N " wrong-reply", .n = N,     \
		   .first = 1, .count = 200, .modes = BFT_BYZ_WRONG_REPLY, .nfaulty = F,           \
		   .clients = 1)                                                                   \
	SWEEP_TEST(test_sim_hb_n##N##_coin_aware_adversary, .name = "hb n=" #N " coin-aware "    \
		   "scheduler", .n = N, .first = 1, .count = 200, .adversary = true,               \
		   .threshold_coins = true, .modes = BFT_BYZ_ABA_EQUIVOCATE | BFT_BYZ_SILENT,      \
		   .nfaulty = F, .clients = 1)

HB_SWEEPS(4, 1, 2)
HB_SWEEPS(7, 2, 1)

/* Many requests in flight (hb.h "Selection"): each replica proposes its own share, never what
 * its proposal of the running epoch carries, and the share of a silent, crashed or censoring
 * owner is drawn by everybody once it was held back; every request must still commit once. */
SWEEP_TEST(test_sim_hb_n4_loaded, .name = "hb n=4 loaded", .n = 4, .first = 1, .count = 100,
	   .clients = 8, .requests = 6, .outstanding = 3, .batch = 16)
SWEEP_TEST(test_sim_hb_n4_loaded_faulty_owner, .name = "hb n=4 loaded, faulty owner", .n = 4,
	   .first = 1, .count = 100, .modes = BFT_BYZ_SILENT | BFT_BYZ_CRASH_AFTER | BFT_BYZ_CENSOR,
	   .nfaulty = 1, .clients = 8, .requests = 6, .outstanding = 3, .batch = 16)
SWEEP_TEST(test_sim_hb_n7_loaded_faulty_owners, .name = "hb n=7 loaded, faulty owners", .n = 7,
	   .first = 1, .count = 40, .modes = BFT_BYZ_SILENT | BFT_BYZ_CENSOR | BFT_BYZ_CRASH_AFTER,
	   .nfaulty = 2, .clients = 8, .requests = 4, .outstanding = 3, .batch = 28)

/* n = 7: two faulty replicas with different behaviours, colluding. */
#define ALL_HB_MODES (BFT_BYZ_SILENT | BFT_BYZ_CRASH_AFTER | DETECTABLE | BFT_BYZ_CENSOR |     \
		      BFT_BYZ_REPLAY | BFT_BYZ_BAD_SIGNATURE | BFT_BYZ_WRONG_REPLY)
SWEEP_TEST(test_sim_hb_n7_two_byzantine, .name = "hb n=7 two byzantine (mixed)", .n = 7,
	   .first = 1, .count = 100, .modes = ALL_HB_MODES, .nfaulty = 2, .clients = 1)

/* The shared verification memo (sim_hb.c, bft/memo.h) must change no outcome: the same seeds
 * with and without it give bit-identical traces, for behaviours that send bad shares. */
static void test_sim_hb_memo_changes_no_outcome(void **state)
{
	const uint32_t modes[] = {BFT_BYZ_BAD_DEC_SHARE, BFT_BYZ_BAD_COIN_SHARE, BFT_BYZ_BAD_CIPHERTEXT,
				  0};

	(void)state;
	for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
		struct hb_sweep sw = {.name = "memo", .n = 4, .modes = modes[k],
				      .nfaulty = modes[k] != 0, .threshold_coins = true};

		for (uint64_t seed = 1; seed <= 3; seed++) {
			struct sim_config c;
			struct sim_stats with, without;

			seed_config(&sw, seed, &c);
			c.trace_out = NULL;
			sim_hb_set_fixed_coins(false);
			sim_hb_set_memo(false);
			assert_true(sim_run_one(&c, &without, stdout, false));
			sim_hb_set_memo(true);
			assert_true(sim_run_one(&c, &with, stdout, false));
			assert_int_equal(with.trace_hash, without.trace_hash);
			assert_int_equal(with.events, without.events);
			assert_int_equal(with.completed, without.completed);
		}
	}
	sim_hb_set_fixed_coins(true);
}

/* MAC-authenticated client sessions (bft/log.h): Honey Badger decides request validity at
 * every replica on its own after decryption, so it uses signatures only, and replies by MAC.
 * Two session clients, one of them a "big MAC" liar (authenticators bad for every replica but
 * replica 0): agreement, validity and liveness must hold, no batch request may ever be accepted
 * by MAC, and the clients must accept MAC'd replies. */
static void test_sim_hb_n4_session_clients(void **state)
{
	const struct hb_sweep sw = {.name = "hb n=4 sessions", .n = 4};
	uint64_t lo = 1, hi = 20, failures = 0, client_mac = 0, mac_ok = 0, installed = 0;

	(void)state;
	if (getenv("SEED") != NULL && *getenv("SEED") != '\0')
		lo = hi = strtoull(getenv("SEED"), NULL, 0);
	for (uint64_t seed = lo; seed <= hi; seed++) {
		struct sim_config c;
		struct sim_stats st;

		seed_config(&sw, seed, &c);
		c.requests_per_client = 3;
		c.session_clients = c.nclients;
		c.mac_liar_clients = 1;
		if (!sim_run_one(&c, &st, stdout, false)) {
			printf("hb n=4 sessions: seed %llu failed\n", (unsigned long long)seed);
			failures++;
		}
		client_mac += st.client_replies_mac;
		mac_ok += st.mac_ok;
		installed += st.sessions_installed;
	}
	printf("[ SIM      ] hb n=4 sessions: %llu seeds, %llu failed; sessions installed %llu, MAC'd "
	       "replies accepted %llu, batch requests accepted by MAC %llu\n",
	       (unsigned long long)(hi - lo + 1), (unsigned long long)failures,
	       (unsigned long long)installed, (unsigned long long)client_mac,
	       (unsigned long long)mac_ok);
	assert_int_equal(failures, 0);
	assert_true(installed > 0);
	assert_true(client_mac > 0);
	assert_int_equal(mac_ok, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_hb_n4_session_clients),
		cmocka_unit_test(test_sim_hb_memo_changes_no_outcome),
		cmocka_unit_test(test_sim_hb_n4_async),
		cmocka_unit_test(test_sim_hb_n4_lossy_network),
		cmocka_unit_test(test_sim_hb_n4_silent),
		cmocka_unit_test(test_sim_hb_n4_crash_after),
		cmocka_unit_test(test_sim_hb_n4_bad_rbc_shards),
		cmocka_unit_test(test_sim_hb_n4_rbc_equivocate),
		cmocka_unit_test(test_sim_hb_n4_aba_equivocate),
		cmocka_unit_test(test_sim_hb_n4_bad_coin_share),
		cmocka_unit_test(test_sim_hb_n4_bad_dec_share),
		cmocka_unit_test(test_sim_hb_n4_bad_ciphertext),
		cmocka_unit_test(test_sim_hb_n4_censor),
		cmocka_unit_test(test_sim_hb_n4_replay),
		cmocka_unit_test(test_sim_hb_n4_bad_signature),
		cmocka_unit_test(test_sim_hb_n4_wrong_reply),
		cmocka_unit_test(test_sim_hb_n4_coin_aware_adversary),
		cmocka_unit_test(test_sim_hb_n7_async),
		cmocka_unit_test(test_sim_hb_n7_lossy_network),
		cmocka_unit_test(test_sim_hb_n7_silent),
		cmocka_unit_test(test_sim_hb_n7_crash_after),
		cmocka_unit_test(test_sim_hb_n7_bad_rbc_shards),
		cmocka_unit_test(test_sim_hb_n7_rbc_equivocate),
		cmocka_unit_test(test_sim_hb_n7_aba_equivocate),
		cmocka_unit_test(test_sim_hb_n7_bad_coin_share),
		cmocka_unit_test(test_sim_hb_n7_bad_dec_share),
		cmocka_unit_test(test_sim_hb_n7_bad_ciphertext),
		cmocka_unit_test(test_sim_hb_n7_censor),
		cmocka_unit_test(test_sim_hb_n7_replay),
		cmocka_unit_test(test_sim_hb_n7_bad_signature),
		cmocka_unit_test(test_sim_hb_n7_wrong_reply),
		cmocka_unit_test(test_sim_hb_n7_coin_aware_adversary),
		cmocka_unit_test(test_sim_hb_n7_two_byzantine),
		cmocka_unit_test(test_sim_hb_n4_loaded),
		cmocka_unit_test(test_sim_hb_n4_loaded_faulty_owner),
		cmocka_unit_test(test_sim_hb_n7_loaded_faulty_owners),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
