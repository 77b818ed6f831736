/*
 * Binary agreement (aba.h): Mostéfaoui–Moumen–Raynal with the CONF round and a late coin
 * release, as Honey Badger BFT uses it (CCS'16 §4.4, with the fix for HoneyBadgerBFT#59).
 */
#include "bft/aba.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(BFT_HB_SHARE_BYTES == CR_COIN_SHARE_BYTES, "msg.h share size is cr_coin's");

/* Coin share states. */
enum { SHARE_NONE = 0, SHARE_SEEN, SHARE_VALID, SHARE_INVALID };

/* One round's messages and this replica's progress in it. Value sets are bit masks:
 * bit 0 = value 0, bit 1 = value 1. */
struct aba_round {
	uint32_t round;
	bool used;
	uint8_t *bval;                 /* n: values each sender sent BVAL for */
	uint8_t *aux;                  /* n: 0 none, else 1 + value */
	uint8_t *conf;                 /* n: 0 none, else the set */
	uint8_t *share_state;          /* n: SHARE_* */
	struct cr_coin_share *shares;  /* n */
	uint32_t valid_shares;

	uint8_t sent_bval;             /* values we sent BVAL for */
	uint8_t bin_values;
	bool sent_aux, sent_conf, released;
	uint8_t vals;                  /* fixed when the coin share is released */
	bool coin_known;
	uint8_t coin;
};

struct aba {
	struct aba_config cfg;
	uint32_t nslots;               /* rounds_ahead + 1 */
	struct aba_round *slots;
	uint8_t *term;                 /* n: 0 none, else 1 + value */

	bool has_input;
	uint32_t round;
	uint8_t est;
	bool decided;
	uint8_t decision;
	uint64_t late_bad;             /* senders whose kept coin share failed later */
	uint64_t checked;              /* senders whose coin share was verified */
};

void aba_coin_name(uint64_t epoch, uint32_t instance, uint32_t round,
		   uint8_t out[ABA_COIN_NAME_BYTES])
{
	memcpy(out, "hb.coin", 7);
	for (int i = 0; i < 8; i++)
		out[7 + i] = (uint8_t)(epoch >> (8 * i));
	for (int i = 0; i < 4; i++) {
		out[15 + i] = (uint8_t)(instance >> (8 * i));
		out[19 + i] = (uint8_t)(round >> (8 * i));
	}
}

/* The fixed coin of round r (aba.h "Coin schedule"), or -1 for the threshold coin. */
static int fixed_coin(const struct aba *a, uint32_t r)
{
	if (!a->cfg.fixed_coins || r % 3 == 2)
		return -1;
	return r % 3 == 0 ? 1 : 0;
}

static void slot_reset(struct aba *a, struct aba_round *s, uint32_t round)
{
	uint32_t n = a->cfg.n;
	uint8_t *bval = s->bval, *aux = s->aux, *conf = s->conf, *st = s->share_state;
	struct cr_coin_share *sh = s->shares;

	memset(bval, 0, n);
	memset(aux, 0, n);
	memset(conf, 0, n);
	memset(st, 0, n);
	memset(sh, 0, n * sizeof(*sh));
	memset(s, 0, sizeof(*s));
	s->bval = bval;
	s->aux = aux;
	s->conf = conf;
	s->share_state = st;
	s->shares = sh;
	s->round = round;
	s->used = true;
}

/* The slot of round r, which must lie in [round, round + rounds_ahead]. */
static struct aba_round *slot(struct aba *a, uint32_t r)
{
	struct aba_round *s = &a->slots[r % a->nslots];

	if (!s->used || s->round != r)
		slot_reset(a, s, r);
	return s;
}

enum bft_err aba_new(struct aba **out, const struct aba_config *cfg)
{
	struct aba *a;

	if (cfg->n == 0 || cfg->n > CR_THRESH_N_MAX || 3 * cfg->f >= cfg->n ||
	    cfg->self >= cfg->n || cfg->rounds_ahead == 0 || cfg->rounds_ahead > 1024 ||
	    cfg->coin_pk == NULL || cfg->coin_sk == NULL || cfg->rand == NULL)
		return BFT_EINVAL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return BFT_ENOMEM;
	a->cfg = *cfg;
	a->nslots = cfg->rounds_ahead + 1;
	a->slots = calloc(a->nslots, sizeof(*a->slots));
	a->term = calloc(cfg->n, 1);
	if (a->slots == NULL || a->term == NULL) {
		aba_free(a);
		return BFT_ENOMEM;
	}
	for (uint32_t i = 0; i < a->nslots; i++) {
		struct aba_round *s = &a->slots[i];

		s->bval = calloc(cfg->n, 1);
		s->aux = calloc(cfg->n, 1);
		s->conf = calloc(cfg->n, 1);
		s->share_state = calloc(cfg->n, 1);
		s->shares = calloc(cfg->n, sizeof(*s->shares));
		if (s->bval == NULL || s->aux == NULL || s->conf == NULL || s->share_state == NULL ||
		    s->shares == NULL) {
			aba_free(a);
			return BFT_ENOMEM;
		}
	}
	*out = a;
	return BFT_OK;
}

void aba_free(struct aba *a)
{
	if (a == NULL)
		return;
	if (a->slots != NULL)
		for (uint32_t i = 0; i < a->nslots; i++) {
			free(a->slots[i].bval);
			free(a->slots[i].aux);
			free(a->slots[i].conf);
			free(a->slots[i].share_state);
			free(a->slots[i].shares);
		}
	free(a->slots);
	free(a->term);
	free(a);
}

void aba_out_free(struct aba_out *o)
{
	free(o->msgs);
	memset(o, 0, sizeof(*o));
}

bool aba_has_input(const struct aba *a)
{
	return a->has_input;
}

bool aba_decided(const struct aba *a, bool *v)
{
	if (a->decided && v != NULL)
		*v = a->decision != 0;
	return a->decided;
}

uint32_t aba_round(const struct aba *a)
{
	return a->round;
}

uint64_t aba_take_late_faults(struct aba *a)
{
	uint64_t m = a->late_bad;

	a->late_bad = 0;
	return m;
}

uint64_t aba_take_checked(struct aba *a)
{
	uint64_t m = a->checked;

	a->checked = 0;
	return m;
}

int aba_coin(const struct aba *a, uint32_t r)
{
	const struct aba_round *s = &a->slots[r % a->nslots];

	return s->used && s->round == r && s->coin_known ? s->coin : -1;
}

static enum bft_err emit(struct aba_out *o, enum bft_msg_type type, uint32_t round, uint32_t value,
			 const uint8_t *share)
{
	struct aba_msg *m;

	if (o->n == o->cap) {
		size_t ncap = o->cap ? o->cap * 2 : 8;
		struct aba_msg *v = realloc(o->msgs, ncap * sizeof(*v));

		if (v == NULL)
			return BFT_ENOMEM;
		o->msgs = v;
		o->cap = ncap;
	}
	m = &o->msgs[o->n++];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->round = round;
	m->value = value;
	if (share != NULL)
		memcpy(m->share, share, BFT_HB_SHARE_BYTES);
	return BFT_OK;
}

/* Sender j's AUX value in round s (real, else what its TERM stands for), or -1. */
static int aux_of(const struct aba *a, const struct aba_round *s, uint32_t j)
{
	if (s->aux[j] != 0)
		return s->aux[j] - 1;
	return a->term[j] != 0 ? a->term[j] - 1 : -1;
}

/* Sender j's CONF set in round s (real, else {v} for its TERM(v)), or 0. */
static uint8_t conf_of(const struct aba *a, const struct aba_round *s, uint32_t j)
{
	if (s->conf[j] != 0)
		return s->conf[j];
	return a->term[j] != 0 ? (uint8_t)(1u << (a->term[j] - 1)) : 0;
}

static uint32_t count_bval(const struct aba *a, const struct aba_round *s, uint32_t b)
{
	uint32_t c = 0;

	for (uint32_t j = 0; j < a->cfg.n; j++)
		if ((s->bval[j] >> b) & 1u || a->term[j] == 1 + b)
			c++;
	return c;
}

static enum bft_err send_bval(struct aba *a, struct aba_round *s, uint8_t b, struct aba_out *o)
{
	s->sent_bval |= (uint8_t)(1u << b);
	s->bval[a->cfg.self] |= (uint8_t)(1u << b);
	return emit(o, BFT_MSG_HB_BVAL, s->round, b, NULL);
}

/* The memo key of the coin named `name` under our key set: g^x identifies x. */
static void coin_key(const struct aba *a, const uint8_t name[ABA_COIN_NAME_BYTES],
		     uint8_t key[CR_DIGEST_BYTES])
{
	struct cr_hash h;

	bft_memo_key_init(&h, "aba.coin.value");
	cr_hash_update(&h, a->cfg.coin_pk->h, CR_POINT_BYTES);
	cr_hash_update_u64(&h, a->cfg.coin_pk->f);
	cr_hash_update(&h, name, ABA_COIN_NAME_BYTES);
	bft_memo_key_final(&h, key);
}

/* cr_coin_share_verify, through the memo when there is one: the key covers everything the
 * verification reads (the key set's purpose and size, the claimed index's verification key,
 * the name and the share). 0 when valid. */
static int share_verify(struct aba *a, const uint8_t name[ABA_COIN_NAME_BYTES],
			const struct cr_coin_share *sh)
{
	const struct cr_thresh_pubkey *pk = a->cfg.coin_pk;
	uint8_t key[CR_DIGEST_BYTES], enc[CR_COIN_SHARE_BYTES];
	struct cr_hash h;
	int rc;

	if (sh->index >= 1 && sh->index <= 64)
		a->checked |= 1ull << (sh->index - 1);
	if (a->cfg.memo == NULL || sh->index < 1 || sh->index > pk->n || pk->n > CR_THRESH_N_MAX)
		return cr_coin_share_verify(pk, name, ABA_COIN_NAME_BYTES, sh);
	cr_coin_share_encode(enc, sh);
	bft_memo_key_init(&h, "aba.coin.verify");
	cr_hash_update_u64(&h, pk->purpose);
	cr_hash_update_u64(&h, pk->n);
	cr_hash_update(&h, pk->vk[sh->index - 1], CR_POINT_BYTES);
	cr_hash_update(&h, name, ABA_COIN_NAME_BYTES);
	cr_hash_update(&h, enc, sizeof(enc));
	bft_memo_key_final(&h, key);
	rc = bft_memo_verdict(a->cfg.memo, key);
	if (rc >= 0)
		return rc == 1 ? 0 : -1;
	rc = cr_coin_share_verify(pk, name, ABA_COIN_NAME_BYTES, sh);
	bft_memo_put_verdict(a->cfg.memo, key, rc == 0);
	return rc;
}

/* Combines the coin once f+1 verified shares are in (ours among them or not). */
static void try_coin(struct aba *a, struct aba_round *s)
{
	struct cr_coin_share use[CR_THRESH_N_MAX];
	struct cr_coin_value v;
	uint8_t name[ABA_COIN_NAME_BYTES], vkey[CR_DIGEST_BYTES], val[32];
	size_t k = 0;

	if (s->coin_known || s->valid_shares < a->cfg.f + 1)
		return;
	for (uint32_t j = 0; j < a->cfg.n && k < a->cfg.f + 1; j++)
		if (s->share_state[j] == SHARE_VALID)
			use[k++] = s->shares[j];
	aba_coin_name(a->cfg.epoch, a->cfg.instance, s->round, name);
	/* Any f+1 verified shares give the same coin, H(C)^x for the key set's x (cr_coin.h), so
	 * a memo (memo.h) may hold the value another engine combined for the same name. */
	coin_key(a, name, vkey);
	if (bft_memo_value(a->cfg.memo, vkey, val)) {
		s->coin_known = true;
		s->coin = val[0] & 1u;
		return;
	}
	/* Only verified shares are combined (cr_coin.h): any f+1 of them give the same coin. */
	if (cr_coin_combine(&v, a->cfg.coin_pk, name, sizeof(name), use, k, a->cfg.cache) == 0) {
		s->coin_known = true;
		s->coin = v.bit;
		memset(val, 0, sizeof(val));
		val[0] = v.bit;
		bft_memo_put_value(a->cfg.memo, vkey, val);
	}
}

/* Verifies shares kept unverified until f+1 are valid. A bad one found here is counted in
 * a->late_bad (its sender is faulty; the message that carried it was accepted earlier). */
static void verify_seen(struct aba *a, struct aba_round *s)
{
	uint8_t name[ABA_COIN_NAME_BYTES];

	aba_coin_name(a->cfg.epoch, a->cfg.instance, s->round, name);
	for (uint32_t j = 0; j < a->cfg.n && s->valid_shares < a->cfg.f + 1; j++) {
		if (s->share_state[j] != SHARE_SEEN)
			continue;
		if (share_verify(a, name, &s->shares[j]) == 0) {
			s->share_state[j] = SHARE_VALID;
			s->valid_shares++;
		} else {
			s->share_state[j] = SHARE_INVALID;
			if (j < 64)
				a->late_bad |= 1ull << j;
		}
	}
}

/* Releases our coin share for round s (step 4). */
static enum bft_err release_coin(struct aba *a, struct aba_round *s, struct aba_out *o)
{
	uint8_t name[ABA_COIN_NAME_BYTES], rnd[32], enc[CR_COIN_SHARE_BYTES];
	struct cr_coin_share sh;
	uint32_t me = a->cfg.self;

	s->released = true;
	aba_coin_name(a->cfg.epoch, a->cfg.instance, s->round, name);
	a->cfg.rand(a->cfg.rand_ctx, rnd);
	if (cr_coin_share_make(&sh, a->cfg.coin_sk, name, sizeof(name), rnd) != 0)
		return BFT_EINVAL; /* our own key share is unusable: a configuration error */
	cr_coin_share_encode(enc, &sh);
	if (s->share_state[me] != SHARE_VALID) {
		s->shares[me] = sh;
		s->share_state[me] = SHARE_VALID;
		s->valid_shares++;
	}
	verify_seen(a, s);
	try_coin(a, s);
	return emit(o, BFT_MSG_HB_COIN, s->round, 0, enc);
}

static enum bft_err decide(struct aba *a, uint8_t v, struct aba_out *o)
{
	a->decided = true;
	a->decision = v;
	a->term[a->cfg.self] = (uint8_t)(1 + v);
	o->decided = true;
	return emit(o, BFT_MSG_HB_TERM, a->round, v, NULL);
}

/* Runs the round's thresholds until nothing changes (the steps of aba.h). */
static enum bft_err progress(struct aba *a, struct aba_out *o)
{
	uint32_t n = a->cfg.n, f = a->cfg.f, self = a->cfg.self;
	enum bft_err e = BFT_OK;

	while (e == BFT_OK && a->has_input && !a->decided) {
		struct aba_round *s = slot(a, a->round);
		bool changed = false;

		/* Step 1: relay a value f+1 replicas (one of them correct) sent. */
		for (uint8_t b = 0; b < 2 && e == BFT_OK; b++)
			if (!((s->sent_bval >> b) & 1u) && count_bval(a, s, b) >= f + 1) {
				e = send_bval(a, s, b, o);
				changed = true;
			}
		/* Step 2: 2f+1 BVAL(b) put b into bin_values; the first one is our AUX. */
		for (uint8_t b = 0; b < 2; b++)
			if (!((s->bin_values >> b) & 1u) && count_bval(a, s, b) >= 2 * f + 1) {
				s->bin_values |= (uint8_t)(1u << b);
				changed = true;
				if (!s->sent_aux && e == BFT_OK) {
					s->sent_aux = true;
					s->aux[self] = (uint8_t)(1 + b);
					e = emit(o, BFT_MSG_HB_AUX, s->round, b, NULL);
				}
			}
		/* Step 3: n - f AUX with values in bin_values: CONF(bin_values). */
		if (e == BFT_OK && s->sent_aux && !s->sent_conf) {
			uint32_t c = 0;
			uint8_t vals = 0;
			int fc = fixed_coin(a, s->round);

			for (uint32_t j = 0; j < n; j++) {
				int v = aux_of(a, s, j);
				if (v >= 0 && ((s->bin_values >> v) & 1u)) {
					c++;
					vals |= (uint8_t)(1u << v);
				}
			}
			if (c >= n - f && fc >= 0) {
				/* A fixed coin (aba.h "Coin schedule"): MMR's own rule, vals are the
				 * values of these n - f AUX. The CONF round only keeps a threshold
				 * coin unknown until vals are fixed; a fixed coin is known anyway. */
				s->sent_conf = true;
				s->vals = vals;
				s->released = true;
				s->coin_known = true;
				s->coin = (uint8_t)fc;
				changed = true;
			} else if (c >= n - f) {
				s->sent_conf = true;
				s->conf[self] = s->bin_values;
				e = emit(o, BFT_MSG_HB_CONF, s->round, s->bin_values, NULL);
				changed = true;
			}
		}
		/* Step 4: n - f CONF with sets inside bin_values fix vals; only then the coin. */
		if (e == BFT_OK && s->sent_conf && !s->released) {
			uint32_t c = 0;
			uint8_t vals = 0;

			for (uint32_t j = 0; j < n; j++) {
				uint8_t cs = conf_of(a, s, j);
				if (cs != 0 && (cs & ~s->bin_values) == 0) {
					c++;
					vals |= cs;
				}
			}
			if (c >= n - f) {
				s->vals = vals;
				e = release_coin(a, s, o);
				changed = true;
			}
		}
		/* Step 5: the coin decides or sets the next estimate. */
		if (e == BFT_OK && s->released && s->coin_known) {
			uint8_t coin = s->coin;

			if (s->vals == 1u || s->vals == 2u) {
				uint8_t b = s->vals == 1u ? 0 : 1;
				a->est = b;
				if (b == coin) {
					e = decide(a, b, o);
					break;
				}
			} else {
				a->est = coin;
			}
			/* The slot of the finished round becomes that of round + nslots. */
			s->used = false;
			a->round++;
			s = slot(a, a->round);
			if ((s->sent_bval >> a->est) & 1u) {
				/* Already relayed this value in the new round: nothing new to say. */
			} else {
				e = send_bval(a, s, a->est, o);
			}
			changed = true;
		}
		if (!changed)
			break;
	}
	return e;
}

enum bft_err aba_input(struct aba *a, bool v, struct aba_out *o)
{
	enum bft_err e;

	if (a->has_input)
		return BFT_ESTATE;
	a->has_input = true;
	if (a->decided)
		return BFT_OK;
	a->est = v ? 1 : 0;
	e = send_bval(a, slot(a, a->round), a->est, o);
	if (e == BFT_OK)
		e = progress(a, o);
	return e;
}

/* Where a message for round r goes: BFT_OK (current or buffered), BFT_ESTALE, BFT_ESEQ. */
static enum bft_err round_check(const struct aba *a, uint32_t r)
{
	if (r < a->round)
		return BFT_ESTALE;
	if (r - a->round > a->cfg.rounds_ahead)
		return BFT_ESEQ;
	return BFT_OK;
}

static enum bft_err on_term(struct aba *a, bft_replica_id from, uint32_t v, struct aba_out *o)
{
	uint32_t c = 0;

	if (a->term[from] != 0)
		return a->term[from] == 1 + v ? BFT_EDUP : BFT_ECONFLICT;
	a->term[from] = (uint8_t)(1 + v);
	if (a->decided)
		return BFT_OK;
	for (uint32_t j = 0; j < a->cfg.n; j++)
		if (a->term[j] == 1 + v)
			c++;
	/* f+1 TERM(v): a correct replica decided v, and agreement makes v everybody's decision. */
	if (c >= a->cfg.f + 1)
		return decide(a, (uint8_t)v, o);
	return progress(a, o);
}

enum bft_err aba_on_msg(struct aba *a, bft_replica_id from, enum bft_msg_type type,
			const struct bft_hb_aba *m, struct aba_out *o)
{
	struct aba_round *s;
	enum bft_err e;

	if (from >= a->cfg.n || from == a->cfg.self)
		return BFT_ESENDER;
	if (type == BFT_MSG_HB_CONF ? (m->value == 0 || m->value > BFT_HB_CONF_ALL) : m->value > 1)
		return BFT_EINVAL;
	if (type == BFT_MSG_HB_TERM)
		return on_term(a, from, m->value, o);
	if (a->decided)
		return BFT_OK; /* we stopped; our TERM speaks for us */
	e = round_check(a, m->round);
	if (e != BFT_OK)
		return e;
	s = slot(a, m->round);
	switch (type) {
	case BFT_MSG_HB_BVAL:
		if ((s->bval[from] >> m->value) & 1u)
			return BFT_EDUP;
		s->bval[from] |= (uint8_t)(1u << m->value);
		break;
	case BFT_MSG_HB_AUX:
		if (s->aux[from] != 0)
			return s->aux[from] == 1 + m->value ? BFT_EDUP : BFT_ECONFLICT;
		s->aux[from] = (uint8_t)(1 + m->value);
		break;
	case BFT_MSG_HB_CONF:
		if (s->conf[from] != 0)
			return s->conf[from] == m->value ? BFT_EDUP : BFT_ECONFLICT;
		s->conf[from] = (uint8_t)m->value;
		break;
	default:
		return BFT_ETYPE;
	}
	return progress(a, o);
}

enum bft_err aba_on_coin(struct aba *a, bft_replica_id from, uint32_t round,
			 const uint8_t share[BFT_HB_SHARE_BYTES], struct aba_out *o)
{
	struct aba_round *s;
	struct cr_coin_share sh;
	uint8_t name[ABA_COIN_NAME_BYTES];
	enum bft_err e;

	if (from >= a->cfg.n || from == a->cfg.self)
		return BFT_ESENDER;
	if (a->decided)
		return BFT_OK;
	e = round_check(a, round);
	if (e != BFT_OK)
		return e;
	if (fixed_coin(a, round) >= 0)
		return BFT_EINVAL; /* a round with a fixed coin has no shares */
	s = slot(a, round);
	if (s->share_state[from] != SHARE_NONE)
		return BFT_EDUP;
	if (cr_coin_share_decode(&sh, share, BFT_HB_SHARE_BYTES) != 0 || sh.index != from + 1) {
		s->share_state[from] = SHARE_INVALID;
		return BFT_EBADSHARE;
	}
	s->shares[from] = sh;
	/* Verification costs four scalar multiplications, and f+1 valid shares are all the coin
	 * needs, one of them our own once we release it: a share beyond that is kept unverified
	 * (SHARE_SEEN) and checked only if it turns out to be needed (verify_seen). */
	if (s->coin_known || s->valid_shares + (s->released ? 0u : 1u) >= a->cfg.f + 1) {
		s->share_state[from] = SHARE_SEEN;
		return BFT_OK;
	}
	aba_coin_name(a->cfg.epoch, a->cfg.instance, round, name);
	if (share_verify(a, name, &sh) != 0) {
		s->share_state[from] = SHARE_INVALID;
		return BFT_EBADSHARE;
	}
	s->share_state[from] = SHARE_VALID;
	s->valid_shares++;
	try_coin(a, s);
	return progress(a, o);
}
