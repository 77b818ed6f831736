/*
 * Honey Badger BFT epochs on the shared log (hb.h). Miller, Xia, Croman, Shi, Song, "The Honey
 * Badger of BFT Protocols", CCS 2016 (cited as HB §x). The parts: rbc.c (§4.2), aba.c and acs.c
 * (§4.4); this file proposes, encrypts, routes messages, decrypts and hands each epoch's batch to
 * the shared log, which executes, replies, checkpoints and transfers state as it does for PBFT.
 */
#include "bft/hb.h"

#include <stdlib.h>
#include <string.h>

#include "bft/acs.h"
#include "bft/memo.h"
#include "crypto/cr_coin.h"
#include "crypto/cr_merkle.h"
#include "crypto/cr_tdh2.h"

_Static_assert(BFT_HB_SHARE_BYTES == CR_TDH2_SHARE_BYTES, "msg.h share size is cr_tdh2's");
_Static_assert(HB_N_MAX == CR_THRESH_N_MAX, "one sender counter per threshold party");

#define HB_ACTIVE 2u          /* epochs running at once: the lowest unexecuted one and the next */
#define KEEP_SENT 4u          /* executed epochs whose sent messages are kept for FETCH(LOG) */
#define ROUNDS_AHEAD 16u      /* ABA rounds buffered above the current one */
#define PROPOSAL_HEADER 12u   /* time_ms (8) and count (4) */
#define FETCH_TIMEOUT_MS 500u
#define DEC_AUDIT_EPOCHS 8u   /* late decryption shares are checked in every 8th epoch */
#define ALONE_MIN 64u         /* epochs checked alone after a shared-check wait expired ... */
#define ALONE_MAX 4096u       /* ... doubling with each consecutive expiry, up to this */

/* Decryption share states. */
enum { SH_NONE = 0, SH_STORED, SH_VALID, SH_INVALID, SH_SEEN };

struct sent_msg {
	uint8_t *bytes;
	uint32_t len;
	enum bft_dest dest;
	uint32_t to;
	enum bft_msg_type type;
};

/* What this replica sent in one epoch, kept to retransmit and to answer FETCH(LOG, epoch). */
struct sent_list {
	bool used;
	uint64_t epoch;
	struct sent_msg *v;
	size_t n, cap;
};

/* The decryption of one proposer's ciphertext in an epoch (HB §4.4, "TPKE.DecShare"). */
struct dec_slot {
	bool resolved;            /* revealed (ok) or dropped */
	bool ok;
	bool ct_valid;            /* the ciphertext is known and passed its check */
	struct cr_tdh2_ct ct;
	const uint8_t *sealed;    /* borrowed from the RBC's delivered value */
	size_t sealed_len;
	uint8_t *st;              /* n: SH_* */
	struct cr_tdh2_share *sh; /* n */
	uint32_t valid;
	uint8_t *plain;
	size_t plain_len;
};

struct own_req {
	bft_client_id client;
	uint64_t reqid;
};

/* Another replica's HB_CHECK for an epoch (hb.h "Shared checks"), kept until the epoch runs. */
struct vote {
	bool have;
	bool faulted;             /* already counted as a fault (a wrong verdict or list) */
	uint8_t list[CR_DIGEST_BYTES];
	uint32_t count;
	uint8_t *bits;            /* ceil(count / 8) bytes of known, then as many of valid */
};

struct cand;

struct epoch {
	uint64_t e;
	struct acs *acs;
	bool proposed, acs_done, finished;
	uint32_t nproposed;       /* requests in our own proposal */
	struct own_req *own;      /* ... their (client, request id), sorted; NULL if restored */
	uint32_t nown;
	uint8_t *in_set;          /* n */
	struct dec_slot *dec;     /* n */
	/* Shared checks: the candidate list, built once the epoch is the lowest unexecuted one
	 * and every included proposal is resolved; entries still undecided; the wait's end. */
	bool built;
	struct cand *cand;
	uint32_t ncand, unknown;
	uint8_t list[CR_DIGEST_BYTES];
	uint64_t check_deadline;
	struct vote *votes;       /* n */
};

struct buffered {
	uint64_t epoch;
	uint32_t from;
	uint8_t *frame;
	uint32_t len;
};

struct hb {
	struct hb_config cfg;
	uint32_t n, f;
	bft_replica_id self;
	uint32_t per_prop;        /* ceil(B / n) */
	size_t payload_max;       /* the longest sealed proposal */
	struct bft_log *log;
	struct cr_rs rs;
	struct cr_lagrange_cache *coin_cache, *enc_cache;

	uint8_t seed[32];
	uint64_t ctr;
	bool have_random;

	/* Selection (hb.h): at each of our last two fresh proposals ([0] the latest), the
	 * requests at the head of every other replica's share — those its owner was due to
	 * propose in the same epoch — sorted. One still queued two proposals later was held
	 * back, and becomes everybody's to propose. */
	struct own_req *due[2];
	uint32_t ndue[2];

	struct epoch *ep[HB_ACTIVE];
	struct sent_list sent[HB_ACTIVE + KEEP_SENT];
	struct aba_out *aba_outs; /* n, reused */

	struct buffered *buf;
	size_t nbuf, buf_cap;
	uint32_t *buf_count;      /* n: buffered messages per sender */
	uint32_t buf_per_sender;

	uint64_t progress_ms;
	uint64_t retransmit_at;
	uint64_t fetch_deadline;
	uint32_t fetch_peer;

	/* Proposals read back by hb_restore, by epoch (at most the two that can be active). */
	struct restored {
		bool used;
		uint64_t epoch;
		uint32_t nreq;
		uint8_t *sealed;
		size_t len;
	} restored[HB_ACTIVE];

	/* Shared checks: every epoch below alone_until is checked by this replica alone; the
	 * length of the last such stretch. */
	uint64_t alone_until;
	uint32_t alone_stretch;

	uint64_t byz_sent;
	struct bft_byz_replay replay;
	struct hb_status st;
};

static bool byz_witness(const struct hb *h, uint32_t j);
static enum bft_err on_check(struct hb *h, struct epoch *ep, uint32_t from,
			     const struct bft_hb_check *c);

void hb_config_default(struct hb_config *c)
{
	memset(c, 0, sizeof(*c));
	bft_log_config_default(&c->log);
	c->batch_size = 64;
	c->epochs_ahead_max = 4;
	c->retransmit_ms = 1000;
	c->fixed_coins = true;
	c->owner_shares = true;
	c->check_wait_ms = 100;
}

void hb_label(uint64_t epoch, uint32_t proposer, uint8_t out[HB_LABEL_BYTES])
{
	memcpy(out, "hb.prop", 7);
	for (int i = 0; i < 8; i++)
		out[7 + i] = (uint8_t)(epoch >> (8 * i));
	for (int i = 0; i < 4; i++)
		out[15 + i] = (uint8_t)(proposer >> (8 * i));
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* ---------------------------------------------------------------------------------------- */
/* Randomness: a hash DRBG over the bytes received in BFT_EV_RANDOM events (DESIGN.md: the core
 * uses no randomness it did not receive). */

static void drbg(struct hb *h, uint8_t out[32])
{
	struct cr_hash c;

	cr_hash_init(&c, "hb.drbg");
	cr_hash_update(&c, h->seed, sizeof(h->seed));
	cr_hash_update_u64(&c, h->ctr++);
	cr_hash_final(&c, out);
}

static void drbg_cb(void *ctx, uint8_t out[32])
{
	drbg(ctx, out);
}

static uint64_t drbg_u64(struct hb *h)
{
	uint8_t b[32];

	drbg(h, b);
	return get_u64(b);
}

static void mix_random(struct hb *h, const uint8_t *p, size_t len)
{
	struct cr_hash c;

	cr_hash_init(&c, "hb.seed");
	cr_hash_update(&c, h->seed, sizeof(h->seed));
	cr_hash_update(&c, p, len);
	cr_hash_final(&c, h->seed);
}

/* ---------------------------------------------------------------------------------------- */
/* Faults */

static bool is_fault(enum bft_err e)
{
	return e == BFT_ECONFLICT || e == BFT_ENOTPRIMARY || e == BFT_EBADCERT ||
	       e == BFT_EBADSHARE || e == BFT_EINVAL || e == BFT_EDIGEST || e == BFT_ETOOBIG;
}

static void fault(struct hb *h, uint32_t who, enum bft_err e)
{
	h->st.faults[e]++;
	if (who < HB_N_MAX)
		h->st.sender_faults[who]++;
}

/* ---------------------------------------------------------------------------------------- */
/* Construction */

static void epoch_free(struct hb *h, struct epoch *ep)
{
	if (ep == NULL)
		return;
	acs_free(ep->acs);
	if (ep->dec != NULL)
		for (uint32_t j = 0; j < h->n; j++) {
			free(ep->dec[j].st);
			free(ep->dec[j].sh);
			free(ep->dec[j].plain);
		}
	free(ep->dec);
	free(ep->in_set);
	free(ep->own);
	free(ep->cand);
	if (ep->votes != NULL)
		for (uint32_t j = 0; j < h->n; j++)
			free(ep->votes[j].bits);
	free(ep->votes);
	free(ep);
}

static void sent_clear(struct sent_list *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].bytes);
	s->n = 0;
	s->used = false;
}

static bool keys_ok(const struct hb_config *c)
{
	uint32_t n = c->log.n, f = bft_f(n);

	return c->coin_pk != NULL && c->enc_pk != NULL && c->coin_sk != NULL && c->enc_sk != NULL &&
	       c->coin_pk->purpose == CR_THRESH_COIN && c->enc_pk->purpose == CR_THRESH_ENC &&
	       c->coin_sk->purpose == CR_THRESH_COIN && c->enc_sk->purpose == CR_THRESH_ENC &&
	       c->coin_pk->n == n && c->enc_pk->n == n && c->coin_pk->f == f &&
	       c->enc_pk->f == f && c->coin_sk->index == c->log.self + 1 &&
	       c->enc_sk->index == c->log.self + 1;
}

enum bft_err hb_new(struct hb **out, const struct hb_config *cfg)
{
	struct hb *h;
	enum bft_err e;
	uint32_t n = cfg->log.n;

	if (n == 0 || n > HB_N_MAX || cfg->log.self >= n || cfg->batch_size == 0 ||
	    cfg->epochs_ahead_max == 0 || cfg->epochs_ahead_max > 1024 || !keys_ok(cfg) ||
	    cr_thresh_share_check(cfg->coin_pk, cfg->coin_sk) != 0 ||
	    cr_thresh_share_check(cfg->enc_pk, cfg->enc_sk) != 0)
		return BFT_EINVAL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return BFT_ENOMEM;
	h->cfg = *cfg;
	h->n = n;
	h->f = bft_f(n);
	h->self = cfg->log.self;
	h->per_prop = (cfg->batch_size + n - 1) / n;
	h->payload_max = cr_tdh2_sealed_len(PROPOSAL_HEADER + (size_t)h->per_prop *
					    (4u + (size_t)wire_request_max(&cfg->log.limits)));
	if (h->payload_max == 0 || h->payload_max > CR_RS_PAYLOAD_MAX) {
		free(h);
		return BFT_EINVAL;
	}
	e = bft_log_new(&h->log, &cfg->log);
	if (e != BFT_OK) {
		free(h);
		return e;
	}
	if (cr_rs_init(&h->rs, n, n - 2 * h->f) != 0) {
		bft_log_free(h->log);
		free(h);
		return BFT_ENOMEM;
	}
	h->coin_cache = malloc(sizeof(*h->coin_cache));
	h->enc_cache = malloc(sizeof(*h->enc_cache));
	h->aba_outs = calloc(n, sizeof(*h->aba_outs));
	h->buf_count = calloc(n, sizeof(*h->buf_count));
	if (h->coin_cache == NULL || h->enc_cache == NULL || h->aba_outs == NULL ||
	    h->buf_count == NULL) {
		hb_free(h);
		return BFT_ENOMEM;
	}
	cr_lagrange_cache_init(h->coin_cache);
	cr_lagrange_cache_init(h->enc_cache);
	/* A correct replica sends about 1 + n (2 + 5 r) messages per epoch for r ABA rounds; the
	 * bound leaves room for several rounds in every buffered epoch. */
	h->buf_per_sender = cfg->epochs_ahead_max * (32u * n + 64u);
	h->fetch_peer = (h->self + 1) % n;
	bft_byz_replay_init(&h->replay, cfg->byz != NULL ? cfg->byz->seed : 0);
	*out = h;
	return BFT_OK;
}

void hb_free(struct hb *h)
{
	if (h == NULL)
		return;
	for (uint32_t i = 0; i < HB_ACTIVE; i++)
		epoch_free(h, h->ep[i]);
	for (uint32_t i = 0; i < HB_ACTIVE + KEEP_SENT; i++) {
		sent_clear(&h->sent[i]);
		free(h->sent[i].v);
	}
	if (h->aba_outs != NULL)
		for (uint32_t j = 0; j < h->n; j++)
			aba_out_free(&h->aba_outs[j]);
	free(h->aba_outs);
	for (size_t i = 0; i < h->nbuf; i++)
		free(h->buf[i].frame);
	free(h->buf);
	free(h->buf_count);
	free(h->coin_cache);
	free(h->enc_cache);
	bft_byz_replay_free(&h->replay);
	for (uint32_t i = 0; i < HB_ACTIVE; i++)
		free(h->restored[i].sealed);
	free(h->due[0]);
	free(h->due[1]);
	cr_rs_free(&h->rs);
	bft_log_free(h->log);
	free(h);
}

struct bft_log *hb_log(struct hb *h)
{
	return h->log;
}

void hb_status(const struct hb *h, struct hb_status *st)
{
	*st = h->st;
	st->epoch = bft_log_last_executed(h->log);
	st->active = (h->ep[0] != NULL) + (h->ep[1] != NULL);
	st->have_random = h->have_random;
	st->last_executed = bft_log_last_executed(h->log);
	st->low = bft_log_low(h->log);
	st->high = bft_log_high(h->log);
	st->pending = bft_log_pending(h->log);
	st->byz_replayed = h->replay.replayed;
}

/* ---------------------------------------------------------------------------------------- */
/* Sending */

static struct sent_list *sent_for(struct hb *h, uint64_t epoch)
{
	struct sent_list *victim = NULL;

	for (uint32_t i = 0; i < HB_ACTIVE + KEEP_SENT; i++) {
		struct sent_list *s = &h->sent[i];

		if (s->used && s->epoch == epoch)
			return s;
		if (victim == NULL || !s->used || (victim->used && s->epoch < victim->epoch))
			victim = s;
	}
	sent_clear(victim);
	victim->used = true;
	victim->epoch = epoch;
	return victim;
}

static const struct sent_list *sent_find(const struct hb *h, uint64_t epoch)
{
	for (uint32_t i = 0; i < HB_ACTIVE + KEEP_SENT; i++)
		if (h->sent[i].used && h->sent[i].epoch == epoch)
			return &h->sent[i];
	return NULL;
}

static uint8_t *dup_bytes(const void *p, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);

	if (d != NULL && len)
		memcpy(d, p, len);
	return d;
}

/* Signs m, keeps a copy for retransmission under epoch (unless keep is false) and queues it. */
static enum bft_err send_msg(struct hb *h, struct bft_msg *m, bool keep, uint64_t epoch,
			     enum bft_dest dest, uint32_t to, struct bft_out *out)
{
	struct wire_buf env = {0};
	enum bft_err e;

	m->version = BFT_WIRE_VERSION;
	m->sender = h->self;
	e = wire_encode(m, h->cfg.log.id, &env);
	if (e != BFT_OK) {
		wire_buf_free(&env);
		return e;
	}
	if (keep) {
		struct sent_list *s = sent_for(h, epoch);

		if (s->n == s->cap) {
			size_t ncap = s->cap ? s->cap * 2 : 64;
			struct sent_msg *v = realloc(s->v, ncap * sizeof(*v));

			if (v == NULL) {
				wire_buf_free(&env);
				return BFT_ENOMEM;
			}
			s->v = v;
			s->cap = ncap;
		}
		s->v[s->n].bytes = dup_bytes(env.p, env.len);
		if (s->v[s->n].bytes == NULL) {
			wire_buf_free(&env);
			return BFT_ENOMEM;
		}
		s->v[s->n].len = (uint32_t)env.len;
		s->v[s->n].dest = dest;
		s->v[s->n].to = to;
		s->v[s->n].type = m->type;
		s->n++;
	}
	return bft_out_msg(out, dest, to, m->type, env.p, env.len);
}

static enum bft_err send_aba_outs(struct hb *h, struct epoch *ep, struct bft_out *out)
{
	enum bft_err e = BFT_OK;

	for (uint32_t j = 0; j < h->n && e == BFT_OK; j++) {
		struct aba_out *o = &h->aba_outs[j];

		for (size_t i = 0; i < o->n && e == BFT_OK; i++) {
			const struct aba_msg *am = &o->msgs[i];
			struct bft_msg m = {.type = am->type};

			if (am->round > h->st.aba_rounds_max)
				h->st.aba_rounds_max = am->round;
			if (am->type == BFT_MSG_HB_COIN) {
				h->st.coins_threshold++;
				m.u.hb_coin.epoch = ep->e;
				m.u.hb_coin.instance = j;
				m.u.hb_coin.round = am->round;
				memcpy(m.u.hb_coin.share, am->share, BFT_HB_SHARE_BYTES);
			} else {
				m.u.hb_aba.epoch = ep->e;
				m.u.hb_aba.instance = j;
				m.u.hb_aba.round = am->round;
				m.u.hb_aba.value = am->value;
			}
			e = send_msg(h, &m, true, ep->e, BFT_TO_ALL, 0, out);
		}
		o->n = 0;
		o->decided = false;
	}
	return e;
}

/* ---------------------------------------------------------------------------------------- */
/* Decryption (HB §4.4: after ACS, every replica sends its decryption share of every included
 * ciphertext; f+1 verified shares reveal it) */

static void drop_proposal(struct hb *h, struct epoch *ep, uint32_t j, enum bft_err why)
{
	struct dec_slot *d = &ep->dec[j];

	d->resolved = true;
	d->ok = false;
	h->st.proposals_dropped++;
	fault(h, j, why);
}

/* Parses a revealed proposal: [time_ms u64][count u32] count x [len u32][bytes]. Exact length,
 * at most per_prop entries, each a plausible envelope size. 0 when well formed. */
static int parse_proposal(const struct hb *h, const uint8_t *p, size_t len, uint64_t *time_ms,
			  uint32_t *count)
{
	size_t off = PROPOSAL_HEADER;
	uint32_t c;

	if (len < PROPOSAL_HEADER)
		return -1;
	c = get_u32(p + 8);
	if (c > h->per_prop)
		return -1;
	for (uint32_t i = 0; i < c; i++) {
		uint32_t l;

		if (len - off < 4)
			return -1;
		l = get_u32(p + off);
		off += 4;
		if (l == 0 || l > wire_request_max(&h->cfg.log.limits) || len - off < l)
			return -1;
		off += l;
	}
	if (off != len)
		return -1;
	*time_ms = get_u64(p);
	*count = c;
	return 0;
}

static void check_finished(struct epoch *ep, uint32_t n)
{
	if (!ep->acs_done || ep->finished)
		return;
	for (uint32_t j = 0; j < n; j++)
		if (ep->in_set[j] && !ep->dec[j].resolved)
			return;
	ep->finished = true;
}

/* The memo key (memo.h) of a question about ciphertext ct under label: the key set's g^x and
 * threshold, the label and the ciphertext, plus what the caller adds. */
static void ct_key_init(const struct hb *h, struct cr_hash *c, const char *tag,
			const struct cr_tdh2_ct *ct, const uint8_t label[HB_LABEL_BYTES])
{
	uint8_t enc[CR_TDH2_CT_BYTES];

	cr_tdh2_ct_encode(enc, ct);
	bft_memo_key_init(c, tag);
	cr_hash_update(c, h->cfg.enc_pk->h, CR_POINT_BYTES);
	cr_hash_update_u64(c, h->cfg.enc_pk->f);
	cr_hash_update(c, label, HB_LABEL_BYTES);
	cr_hash_update(c, enc, sizeof(enc));
}

/* cr_tdh2_ct_check through the memo. 0 when the ciphertext is valid. */
static int ct_check(struct hb *h, const struct cr_tdh2_ct *ct,
		    const uint8_t label[HB_LABEL_BYTES])
{
	uint8_t key[CR_DIGEST_BYTES];
	struct cr_hash c;
	int rc;

	if (h->cfg.memo == NULL)
		return cr_tdh2_ct_check(ct, label, HB_LABEL_BYTES);
	ct_key_init(h, &c, "hb.ct.check", ct, label);
	bft_memo_key_final(&c, key);
	rc = bft_memo_verdict(h->cfg.memo, key);
	if (rc >= 0)
		return rc == 1 ? 0 : -1;
	rc = cr_tdh2_ct_check(ct, label, HB_LABEL_BYTES);
	bft_memo_put_verdict(h->cfg.memo, key, rc == 0);
	return rc;
}

/* cr_tdh2_share_verify_checked (the ciphertext passed ct_check when it became known, so the
 * check is not repeated for every share) through the memo. 0 when the share is valid. */
static void dec_memo_key(struct hb *h, const struct cr_tdh2_ct *ct,
			 const uint8_t label[HB_LABEL_BYTES], const struct cr_tdh2_share *sh,
			 uint8_t key[CR_DIGEST_BYTES])
{
	uint8_t enc[CR_TDH2_SHARE_BYTES];
	struct cr_hash c;

	cr_tdh2_share_encode(enc, sh);
	ct_key_init(h, &c, "hb.dec.verify", ct, label);
	cr_hash_update(&c, h->cfg.enc_pk->vk[sh->index - 1], CR_POINT_BYTES);
	cr_hash_update(&c, enc, sizeof(enc));
	bft_memo_key_final(&c, key);
}

/* True when the memo already holds the verdict on this share (so checking it costs nothing). */
static bool dec_share_memoized(struct hb *h, const struct cr_tdh2_ct *ct,
			       const uint8_t label[HB_LABEL_BYTES], const struct cr_tdh2_share *sh)
{
	uint8_t key[CR_DIGEST_BYTES];

	if (h->cfg.memo == NULL || sh->index < 1 || sh->index > h->cfg.enc_pk->n)
		return false;
	dec_memo_key(h, ct, label, sh, key);
	return bft_memo_verdict(h->cfg.memo, key) >= 0;
}

static int dec_share_verify(struct hb *h, const struct cr_tdh2_ct *ct,
			    const uint8_t label[HB_LABEL_BYTES], const struct cr_tdh2_share *sh)
{
	const struct cr_thresh_pubkey *pk = h->cfg.enc_pk;
	uint8_t key[CR_DIGEST_BYTES];
	int rc;

	if (sh->index >= 1 && sh->index <= pk->n && sh->index <= HB_N_MAX)
		h->st.dec_checked[sh->index - 1]++;
	if (h->cfg.memo == NULL || sh->index < 1 || sh->index > pk->n)
		return cr_tdh2_share_verify_checked(pk, ct, label, HB_LABEL_BYTES, sh);
	dec_memo_key(h, ct, label, sh, key);
	rc = bft_memo_verdict(h->cfg.memo, key);
	if (rc >= 0)
		return rc == 1 ? 0 : -1;
	rc = cr_tdh2_share_verify_checked(pk, ct, label, HB_LABEL_BYTES, sh);
	bft_memo_put_verdict(h->cfg.memo, key, rc == 0);
	return rc;
}

/* cr_tdh2_combine of k >= f+1 verified shares. Every f+1 verified shares of one ciphertext give
 * the same key (cr_tdh2.h), so the memo may answer with the key another engine combined. */
static int combine(struct hb *h, const struct dec_slot *d, const uint8_t label[HB_LABEL_BYTES],
		   const struct cr_tdh2_share *use, size_t k, uint8_t key[CR_TDH2_KEY_BYTES])
{
	uint8_t mk[CR_DIGEST_BYTES];
	struct cr_hash c;

	if (h->cfg.memo == NULL)
		return cr_tdh2_combine(key, h->cfg.enc_pk, &d->ct, use, k, h->enc_cache);
	ct_key_init(h, &c, "hb.dec.key", &d->ct, label);
	bft_memo_key_final(&c, mk);
	if (bft_memo_value(h->cfg.memo, mk, key))
		return 0;
	if (cr_tdh2_combine(key, h->cfg.enc_pk, &d->ct, use, k, h->enc_cache) != 0)
		return -1;
	bft_memo_put_value(h->cfg.memo, mk, key);
	return 0;
}

/* Combines f+1 verified shares and opens the proposal (cr_tdh2.h: never combine unverified
 * shares — with a non-committing AEAD a faulty share could steer replicas to different keys). */
static void try_open(struct hb *h, struct epoch *ep, uint32_t j)
{
	struct dec_slot *d = &ep->dec[j];
	struct cr_tdh2_share use[CR_THRESH_N_MAX];
	uint8_t key[CR_TDH2_KEY_BYTES], label[HB_LABEL_BYTES];
	uint64_t t;
	uint32_t c;
	size_t k = 0;

	if (d->resolved || !d->ct_valid || d->valid < h->f + 1)
		return;
	for (uint32_t i = 0; i < h->n && k < h->f + 1; i++)
		if (d->st[i] == SH_VALID)
			use[k++] = d->sh[i];
	hb_label(ep->e, j, label);
	d->plain_len = d->sealed_len - CR_TDH2_SEAL_OVERHEAD;
	d->plain = malloc(d->plain_len ? d->plain_len : 1);
	if (d->plain == NULL)
		return; /* ours; retried on the next share */
	if (combine(h, d, label, use, k, key) != 0 ||
	    cr_tdh2_open(d->plain, d->plain_len, d->sealed, d->sealed_len, label, sizeof(label),
			 key) != 0 ||
	    parse_proposal(h, d->plain, d->plain_len, &t, &c) != 0) {
		/* Every f+1 verified shares give the same key, so this outcome is the same at
		 * every correct replica: the proposer sealed something that does not open. */
		sodium_memzero(key, sizeof(key));
		free(d->plain);
		d->plain = NULL;
		drop_proposal(h, ep, j, BFT_EBADCERT);
		check_finished(ep, h->n);
		return;
	}
	sodium_memzero(key, sizeof(key));
	d->resolved = true;
	d->ok = true;
	h->st.proposals_in++;
	check_finished(ep, h->n);
}

/* Verifies a share of a known, valid ciphertext; the share's sender is `from`. */
static enum bft_err verify_share(struct hb *h, struct epoch *ep, uint32_t j, uint32_t from)
{
	struct dec_slot *d = &ep->dec[j];
	uint8_t label[HB_LABEL_BYTES];

	hb_label(ep->e, j, label);
	if (dec_share_verify(h, &d->ct, label, &d->sh[from]) != 0) {
		d->st[from] = SH_INVALID;
		return BFT_EBADSHARE;
	}
	d->st[from] = SH_VALID;
	d->valid++;
	return BFT_OK;
}

/* The common subset is decided: check every included ciphertext and send our shares. */
static enum bft_err begin_decrypt(struct hb *h, struct epoch *ep, struct bft_out *out)
{
	enum bft_err e = BFT_OK;

	for (uint32_t j = 0; j < h->n && e == BFT_OK; j++) {
		struct dec_slot *d = &ep->dec[j];
		uint8_t label[HB_LABEL_BYTES], rnd[32], enc[CR_TDH2_SHARE_BYTES];
		const uint8_t *v;
		size_t len;
		bool valid;
		struct cr_tdh2_share mine;

		if (!ep->in_set[j])
			continue;
		(void)rbc_delivered(acs_rbc(ep->acs, j), &valid, &v, &len);
		if (!valid) {
			/* rbc.h: shards that were not one codeword, "invalid" everywhere. */
			drop_proposal(h, ep, j, BFT_EDIGEST);
			continue;
		}
		if (len == PROPOSAL_HEADER) {
			/* An empty proposal in the clear (seal_proposal): nothing to decrypt. A
			 * header this short that counts requests is invalid everywhere. */
			if (get_u32(v + 8) != 0) {
				drop_proposal(h, ep, j, BFT_EINVAL);
				continue;
			}
			d->plain = dup_bytes(v, len);
			if (d->plain == NULL) {
				e = BFT_ENOMEM;
				break;
			}
			d->plain_len = len;
			d->resolved = true;
			d->ok = true;
			h->st.proposals_in++;
			h->st.proposals_clear++;
			continue;
		}
		hb_label(ep->e, j, label);
		drbg(h, rnd);
		/* Shoup-Gennaro: an invalid ciphertext is never decrypted, so it is checked before
		 * our share is made (once: the share verifications below rely on it); our key
		 * share was checked against the key set in hb_new. The check is a function of the
		 * agreed bytes: it fails at every correct replica. */
		if (len < CR_TDH2_SEAL_OVERHEAD || cr_tdh2_sealed_ct(&d->ct, v, len) != 0 ||
		    ct_check(h, &d->ct, label) != 0 ||
		    cr_tdh2_share_make_checked(&mine, h->cfg.enc_sk, &d->ct, label, sizeof(label),
					       rnd) != 0) {
			drop_proposal(h, ep, j, BFT_EBADCERT);
			continue;
		}
		d->ct_valid = true;
		d->sealed = v;
		d->sealed_len = len;
		if (d->st[h->self] == SH_NONE) {
			d->sh[h->self] = mine;
			d->st[h->self] = SH_VALID;
			d->valid++;
		}
		cr_tdh2_share_encode(enc, &mine);
		{
			struct bft_msg m = {.type = BFT_MSG_HB_DEC};

			m.u.hb_dec.epoch = ep->e;
			m.u.hb_dec.proposer = j;
			memcpy(m.u.hb_dec.share, enc, sizeof(enc));
			e = send_msg(h, &m, true, ep->e, BFT_TO_ALL, 0, out);
		}
		/* Shares that came before the ciphertext was known are verified now, as many as it
		 * takes; a bad one is a fault of its sender, found late. Those whose verdict the
		 * memo holds go first (free; no outcome depends on which f+1 are used). */
		for (int pass = 0; pass < 2; pass++)
			for (uint32_t i = 0; i < h->n && d->valid < h->f + 1; i++)
				if (d->st[i] == SH_STORED &&
				    (pass == 1 || dec_share_memoized(h, &d->ct, label, &d->sh[i])) &&
				    verify_share(h, ep, j, i) != BFT_OK)
					fault(h, i, BFT_EBADSHARE);
		try_open(h, ep, j);
	}
	check_finished(ep, h->n);
	return e;
}

static enum bft_err on_dec(struct hb *h, struct epoch *ep, uint32_t from,
			   const struct bft_hb_dec *m)
{
	struct dec_slot *d = &ep->dec[m->proposer];
	struct cr_tdh2_share sh;
	enum bft_err e;

	if (from == h->self)
		return BFT_EDUP;
	if (cr_tdh2_share_decode(&sh, m->share, BFT_HB_SHARE_BYTES) != 0 || sh.index != from + 1)
		return BFT_EBADSHARE;
	if (d->st[from] != SH_NONE)
		return BFT_EDUP;
	if (ep->acs_done && !ep->in_set[m->proposer])
		return BFT_EINVAL; /* no correct replica decrypts a proposal outside the subset */
	if (d->resolved) {
		/* A share that comes after the proposal opened is not needed and, to save its
		 * check, not checked: except in every DEC_AUDIT_EPOCHS-th epoch, so that a replica
		 * whose bad shares always lose the race to the good ones is still caught and
		 * counted, at (n - f - 1) checks per proposal in one epoch of eight. */
		if (d->ok && d->ct_valid && ep->e % DEC_AUDIT_EPOCHS == 0) {
			d->sh[from] = sh;
			return verify_share(h, ep, m->proposer, from);
		}
		d->st[from] = SH_SEEN;
		return BFT_OK;
	}
	d->sh[from] = sh;
	if (!d->ct_valid) {
		/* Before the common subset is known the ciphertext is not: keep the share (one per
		 * sender and proposal, so at most n^2 per epoch) and verify it later. */
		d->st[from] = SH_STORED;
		return BFT_OK;
	}
	e = verify_share(h, ep, m->proposer, from);
	if (e == BFT_OK)
		try_open(h, ep, m->proposer);
	return e;
}

/* ---------------------------------------------------------------------------------------- */
/* Common subset */

static enum bft_err acs_advance(struct hb *h, struct epoch *ep, struct bft_out *out)
{
	enum bft_err e = acs_step(ep->acs, h->aba_outs);

	if (e == BFT_OK)
		e = send_aba_outs(h, ep, out);
	if (e == BFT_OK && !ep->acs_done && acs_output(ep->acs, ep->in_set)) {
		ep->acs_done = true;
		e = begin_decrypt(h, ep, out);
	}
	return e;
}

static enum bft_err send_rbc_out(struct hb *h, struct epoch *ep, uint32_t proposer,
				 const struct rbc_out *ro, struct bft_out *out)
{
	struct rbc *r = acs_rbc(ep->acs, proposer);
	enum bft_err e = BFT_OK;

	if (ro->echo) {
		struct bft_msg m = {.type = BFT_MSG_HB_ECHO};

		rbc_echo_msg(r, &m.u.hb_rbc);
		m.u.hb_rbc.epoch = ep->e;
		m.u.hb_rbc.proposer = proposer;
		e = send_msg(h, &m, true, ep->e, BFT_TO_ALL, 0, out);
	}
	if (ro->ready && e == BFT_OK) {
		struct bft_msg m = {.type = BFT_MSG_HB_READY};

		m.u.hb_ready.epoch = ep->e;
		m.u.hb_ready.proposer = proposer;
		memcpy(m.u.hb_ready.root, rbc_ready_root(r), CR_DIGEST_BYTES);
		e = send_msg(h, &m, true, ep->e, BFT_TO_ALL, 0, out);
	}
	return e;
}

/* ---------------------------------------------------------------------------------------- */
/* Proposing (HB §4.3 and §4.4) */

/* Seals a proposal of the given requests under this epoch's label. */
static enum bft_err seal_proposal(struct hb *h, uint64_t epoch, uint64_t now,
				  const struct bft_bytes *reqs, uint32_t k, bool clear_if_empty,
				  uint8_t **sealed, size_t *sealed_len)
{
	size_t len = PROPOSAL_HEADER, off, slen;
	uint8_t *plain, *s, label[HB_LABEL_BYTES], rnd[32];

	for (uint32_t i = 0; i < k; i++)
		len += 4u + reqs[i].len;
	plain = malloc(len);
	if (plain == NULL)
		return BFT_ENOMEM;
	put_u64(plain, now);
	put_u32(plain + 8, k);
	if (k == 0 && clear_if_empty) {
		/* An empty proposal hides nothing (HB §4.4 encrypts so that requests cannot be
		 * picked out before the subset is fixed), so it goes in the clear: its bare
		 * header, shorter than any ciphertext, which every replica then takes without a
		 * ciphertext check, decryption shares or a combination (begin_decrypt). */
		*sealed = plain;
		*sealed_len = len;
		return BFT_OK;
	}
	off = PROPOSAL_HEADER;
	for (uint32_t i = 0; i < k; i++) {
		put_u32(plain + off, reqs[i].len);
		memcpy(plain + off + 4, reqs[i].p, reqs[i].len);
		off += 4u + reqs[i].len;
	}
	slen = cr_tdh2_sealed_len(len);
	s = slen ? malloc(slen) : NULL;
	hb_label(epoch, h->self, label);
	drbg(h, rnd);
	if (s == NULL || cr_tdh2_seal(s, slen, plain, len, label, sizeof(label), h->cfg.enc_pk,
				      rnd) != 0) {
		free(plain);
		free(s);
		return s == NULL ? BFT_ENOMEM : BFT_EINVAL;
	}
	free(plain);
	*sealed = s;
	*sealed_len = slen;
	return BFT_OK;
}

/* True when a censoring replica leaves this request out (even-numbered clients). */
static bool censored(const struct hb *h, const struct bft_bytes *req)
{
	struct bft_msg m;
	bool drop;

	if (h->cfg.byz == NULL || !(h->cfg.byz->modes & BFT_BYZ_CENSOR))
		return false;
	if (wire_decode(&h->cfg.log.limits, req->p, req->len, &m) != BFT_OK)
		return false;
	drop = m.sender % 2 == 0;
	wire_msg_free(&m);
	return drop;
}

/* ---------------------------------------------------------------------------------------- */
/* Choosing what to propose (hb.h "Selection") */

static int own_cmp(const void *a, const void *b)
{
	const struct own_req *x = a, *y = b;

	if (x->client != y->client)
		return x->client < y->client ? -1 : 1;
	return x->reqid < y->reqid ? -1 : x->reqid > y->reqid;
}

/* The replica whose share of the queue a request is. */
static uint32_t owner_of(const struct hb *h, bft_client_id client, uint64_t reqid)
{
	return bft_hb_owner(h->n, client, reqid);
}

/* The other active epoch than ep, if our proposal in it is on its way into the log: proposed,
 * and either its subset is undecided or it includes ours (a correct replica's included
 * proposal is revealed and executed). Its requests need not be proposed again. */
static const struct epoch *inflight_other(const struct hb *h, const struct epoch *ep)
{
	for (uint32_t i = 0; i < HB_ACTIVE; i++) {
		const struct epoch *o = h->ep[i];

		if (o != NULL && o != ep && o->proposed && o->own != NULL &&
		    (!o->acs_done || o->in_set[h->self]))
			return o;
	}
	return NULL;
}

/* PICK_NO: on its way already (our proposal of the other active epoch) or censored;
 * PICK_LATER: another replica's share that has not waited for it long. */
enum pick { PICK_NO, PICK_LATER, PICK_MINE, PICK_ANY };

static enum pick classify(const struct hb *h, const struct epoch *other,
			  const struct bft_log_peeked *q)
{
	struct own_req key = {.client = q->client, .reqid = q->reqid};

	if (other != NULL && other->nown > 0 &&
	    bsearch(&key, other->own, other->nown, sizeof(key), own_cmp) != NULL)
		return PICK_NO;
	if (!h->cfg.owner_shares ||
	    (h->ndue[1] > 0 && bsearch(&key, h->due[1], h->ndue[1], sizeof(key), own_cmp) != NULL))
		return PICK_ANY;
	return owner_of(h, q->client, q->reqid) == h->self ? PICK_MINE : PICK_LATER;
}

/* True when this replica has something to propose in epoch ep's place (hb.h "Scheduling"). */
static bool has_eligible(const struct hb *h, const struct epoch *other)
{
	struct bft_log_peeked *q = NULL;
	uint32_t nq = 0;
	bool any = false;

	if (bft_log_pending(h->log) == 0)
		return false;
	if (bft_log_peek_meta(h->log, h->cfg.batch_size, &q, &nq) != BFT_OK)
		return true; /* out of memory: let propose() find out */
	for (uint32_t i = 0; i < nq && !any; i++)
		any = classify(h, other, &q[i]) >= PICK_MINE;
	free(q);
	return any;
}

/* Appends queued request p to the proposal being built (out, and ep->own for Selection). */
static void take(struct bft_bytes *out, struct epoch *ep, uint32_t *k,
		 const struct bft_log_peeked *p)
{
	out[*k] = p->req;
	ep->own[*k] = (struct own_req){p->client, p->reqid};
	(*k)++;
}

/*
 * Picks this replica's proposal for ep from the first B requests of its queue (hb.h
 * "Selection"): at most half of ceil(B/n) at random among the requests anyone may propose,
 * then its own share in queue order, then more of the former at random. *reqs is a malloc'd
 * array of borrowed envelopes (NULL when none); the picks are kept, sorted, in ep->own.
 */
static enum bft_err select_requests(struct hb *h, struct epoch *ep, struct bft_bytes **reqs,
				    uint32_t *nreq)
{
	const struct epoch *other = inflight_other(h, ep);
	struct bft_log_peeked *q = NULL;
	struct bft_bytes *out = NULL;
	uint32_t nq = 0, nany = 0, nmine = 0, nlater = 0, k = 0, *any = NULL, *mine = NULL;
	uint32_t half = (h->per_prop + 1) / 2;
	enum bft_err e = bft_log_peek_meta(h->log, h->cfg.batch_size, &q, &nq);

	if (e != BFT_OK)
		return e;
	/* A retry after a failed seal_proposal picks again: the earlier picks go. */
	free(ep->own);
	ep->own = NULL;
	ep->nown = 0;
	if (nq > 0) {
		any = malloc(nq * sizeof(*any));
		mine = malloc(nq * sizeof(*mine));
		out = malloc((h->per_prop ? h->per_prop : 1) * sizeof(*out));
		ep->own = malloc((h->per_prop ? h->per_prop : 1) * sizeof(*ep->own));
		if (any == NULL || mine == NULL || out == NULL || ep->own == NULL)
			goto nomem;
	}
	for (uint32_t i = 0; i < nq; i++) {
		enum pick c = censored(h, &q[i].req) ? PICK_NO : classify(h, other, &q[i]);

		if (c == PICK_ANY)
			any[nany++] = i;
		else if (c == PICK_MINE)
			mine[nmine++] = i;
		else if (c == PICK_LATER)
			mine[nq - 1 - nlater++] = i; /* from the end: mine[] has room for both */
	}
	/* The heads of the other shares now: what their owners are due to propose in this
	 * epoch. Two proposals from now, whatever of it is still queued was held back. */
	if (h->cfg.owner_shares && nq > 0) {
		uint32_t cnt[HB_N_MAX] = {0}, nd = 0;
		struct own_req *d = malloc(nq * sizeof(*d));

		if (d == NULL)
			goto nomem;
		for (uint32_t i = 0; i < nq; i++) {
			uint32_t o = owner_of(h, q[i].client, q[i].reqid);

			if (o != h->self && cnt[o] < h->per_prop) {
				cnt[o]++;
				d[nd++] = (struct own_req){q[i].client, q[i].reqid};
			}
		}
		if (nd > 1)
			qsort(d, nd, sizeof(*d), own_cmp);
		free(h->due[1]);
		h->due[1] = h->due[0];
		h->ndue[1] = h->ndue[0];
		h->due[0] = d;
		h->ndue[0] = nd;
	}
	/* HB §4.3 draws ceil(B/n) at random from the first B so that proposals mostly differ and
	 * a request reaches the log through any correct proposer. Here each request has one owner
	 * (its share), so that the proposals of correct replicas do not overlap at all when they
	 * keep up; a request that was at the head of its owner's share two of our proposals ago
	 * and is still queued is drawn at random by everybody, which is the paper's rule again for
	 * exactly the requests a faulty owner, or an adversary that keeps the owner's proposal
	 * out of the subset, holds back. */
	for (uint32_t pass = 0; pass < 3; pass++) {
		if (pass == 1) {
			for (uint32_t i = 0; i < nmine && k < h->per_prop; i++) {
				take(out, ep, &k, &q[mine[i]]);
			}
			continue;
		}
		while (nany > 0 && k < (pass == 0 ? half : h->per_prop)) {
			uint32_t pick = (uint32_t)(drbg_u64(h) % nany), i = any[pick];

			any[pick] = any[--nany];
			take(out, ep, &k, &q[i]);
		}
	}
	/* Nothing of ours and nothing overdue in the only epoch running — the first after an
	 * idle spell, which every replica with a queued request runs (can_start), or a request
	 * that reached only this replica: the paper's rule, at random from all of them, rather
	 * than an empty proposal and a wait of two epochs for a share whose owner may be gone.
	 * (With another epoch running the others keep to their shares, and so do we.) */
	if (k == 0 && (h->ep[0] == NULL || h->ep[0] == ep) && (h->ep[1] == NULL || h->ep[1] == ep)) {
		uint32_t *later = mine + (nq - nlater);

		while (nlater > 0 && k < h->per_prop) {
			uint32_t pick = (uint32_t)(drbg_u64(h) % nlater), i = later[pick];

			later[pick] = later[--nlater];
			take(out, ep, &k, &q[i]);
		}
	}
	ep->nown = k;
	if (k > 1)
		qsort(ep->own, k, sizeof(*ep->own), own_cmp);
	free(any);
	free(mine);
	free(q);
	if (k == 0) {
		free(out);
		out = NULL;
	}
	*reqs = out;
	*nreq = k;
	return BFT_OK;
nomem:
	free(any);
	free(mine);
	free(out);
	free(ep->own);
	ep->own = NULL;
	free(q);
	return BFT_ENOMEM;
}

static enum bft_err send_vals(struct hb *h, struct epoch *ep, struct rbc *r, uint32_t j,
			      struct bft_out *out)
{
	struct bft_msg m = {.type = BFT_MSG_HB_VAL};
	enum bft_err e = rbc_val_msg(r, j, &m.u.hb_rbc);

	if (e != BFT_OK)
		return e;
	m.u.hb_rbc.epoch = ep->e;
	m.u.hb_rbc.proposer = h->self;
	return send_msg(h, &m, true, ep->e, BFT_TO_REPLICA, j, out);
}

/* BFT_REC_HB_PROPOSAL (hb.h): [epoch u64][requests u32][sealed]. */
static enum bft_err proposal_record(const struct epoch *ep, const uint8_t *sealed, size_t slen,
				    struct bft_out *out)
{
	uint8_t *rec = malloc(12 + slen);

	if (rec == NULL)
		return BFT_ENOMEM;
	put_u64(rec, ep->e);
	put_u32(rec + 8, ep->nproposed);
	memcpy(rec + 12, sealed, slen);
	return bft_out_record(out, BFT_REC_HB_PROPOSAL, ep->e + 1, rec, 12 + slen);
}

static struct restored *restored_for(struct hb *h, uint64_t epoch)
{
	for (uint32_t i = 0; i < HB_ACTIVE; i++)
		if (h->restored[i].used && h->restored[i].epoch == epoch)
			return &h->restored[i];
	return NULL;
}

/* Forgets restored proposals of epochs below `below` (executed, or skipped by a transfer). */
static void restored_gc(struct hb *h, uint64_t below)
{
	for (uint32_t i = 0; i < HB_ACTIVE; i++)
		if (h->restored[i].used && h->restored[i].epoch < below) {
			free(h->restored[i].sealed);
			h->restored[i] = (struct restored){0};
		}
}

enum bft_err hb_restore(struct hb *h, const struct bft_record *rec)
{
	struct restored *slot = NULL;
	uint64_t epoch;
	uint8_t *copy;
	enum bft_err e;

	switch (rec->kind) {
	case BFT_REC_CHECKPOINT:
		e = bft_log_restore_checkpoint(h->log, rec->bytes, rec->len);
		if (e == BFT_OK)
			restored_gc(h, bft_log_last_executed(h->log));
		return e;
	case BFT_REC_COMMIT:
		e = bft_log_restore_commit(h->log, rec->bytes, rec->len);
		if (e == BFT_EDUP)
			e = BFT_OK;
		if (e == BFT_OK)
			restored_gc(h, bft_log_last_executed(h->log));
		return e;
	case BFT_REC_HB_PROPOSAL:
		break;
	default:
		return BFT_OK; /* PBFT's records have no meaning here */
	}
	if (rec->len == 12 + PROPOSAL_HEADER ? get_u32(rec->bytes + 8) != 0 ||
					       get_u32(rec->bytes + 12 + 8) != 0
	    : rec->len < 12 + CR_TDH2_SEAL_OVERHEAD || rec->len - 12 > h->payload_max ||
		      get_u32(rec->bytes + 8) > h->per_prop)
		return BFT_EMALFORMED; /* (12 + PROPOSAL_HEADER: an empty one, in the clear) */
	epoch = get_u64(rec->bytes);
	if (epoch < bft_log_last_executed(h->log))
		return BFT_OK; /* that epoch is over */
	/* A later record for the same epoch cannot exist (one proposal per epoch); keep the
	 * two highest epochs, the most that can be active at once. */
	slot = restored_for(h, epoch);
	for (uint32_t i = 0; slot == NULL && i < HB_ACTIVE; i++)
		if (!h->restored[i].used)
			slot = &h->restored[i];
	for (uint32_t i = 0; slot == NULL && i < HB_ACTIVE; i++)
		if (h->restored[i].epoch < epoch &&
		    (slot == NULL || h->restored[i].epoch < slot->epoch))
			slot = &h->restored[i];
	if (slot == NULL)
		return BFT_OK; /* older than both kept ones */
	copy = dup_bytes(rec->bytes + 12, rec->len - 12);
	if (copy == NULL)
		return BFT_ENOMEM;
	free(slot->sealed);
	*slot = (struct restored){.used = true, .epoch = epoch, .nreq = get_u32(rec->bytes + 8),
				  .sealed = copy, .len = rec->len - 12};
	return BFT_OK;
}

static enum bft_err propose(struct hb *h, struct epoch *ep, uint64_t now, struct bft_out *out)
{
	const struct bft_byz *bz = h->cfg.byz;
	struct bft_bytes *reqs = NULL;
	uint32_t nreq = 0, k = 0;
	uint8_t *sealed = NULL, *shards = NULL;
	size_t slen = 0, shard_len;
	struct rbc_out ro = {0};
	struct rbc *r = acs_rbc(ep->acs, h->self);
	struct restored *rs;
	enum bft_err e;

	if (ep->proposed || ep->acs_done)
		return BFT_OK;
	rs = restored_for(h, ep->e);
	if (rs != NULL) {
		/* Proposed before a restart: the very same bytes again (hb_restore). */
		sealed = rs->sealed;
		slen = rs->len;
		ep->nproposed = rs->nreq;
		rs->sealed = NULL;
		rs->used = false;
		h->st.proposals_restored++;
		ep->proposed = true;
		goto broadcast;
	}
	if (!h->have_random)
		return BFT_OK;
	e = select_requests(h, ep, &reqs, &nreq);
	if (e != BFT_OK)
		return e;
	k = nreq;
	ep->nproposed = k;
	e = seal_proposal(h, ep->e, now, reqs, k,
			  bz == NULL || !(bz->modes & BFT_BYZ_BAD_CIPHERTEXT), &sealed, &slen);
	free(reqs);
	if (e != BFT_OK)
		return e;
	ep->proposed = true;

	if (bz != NULL && (bz->modes & BFT_BYZ_BAD_CIPHERTEXT))
		sealed[0] ^= 0x01; /* c no longer matches e = H2(c, L, ...): the check fails */
	/* The proposal is durable before any VAL leaves (engine.h: records first), so that a
	 * restarted replica proposes it again rather than a different value for this epoch. */
	e = proposal_record(ep, sealed, slen, out);
	if (e != BFT_OK) {
		free(sealed);
		return e;
	}
broadcast:
	if (bz != NULL && (bz->modes & BFT_BYZ_BAD_RBC_SHARDS)) {
		e = rbc_encode(&h->rs, sealed, slen, &shards, &shard_len);
		if (e == BFT_OK) {
			/* One parity shard changed after encoding: the tree commits to shards that
			 * are not one codeword, and every branch still verifies. */
			shards[(size_t)(h->n - 1) * shard_len] ^= 0x5a;
			e = rbc_propose_shards(r, shards, shard_len, &ro);
		}
	} else {
		e = rbc_propose(r, sealed, slen, &ro);
	}
	if (e == BFT_OK)
		for (uint32_t j = 0; j < h->n && e == BFT_OK; j++)
			if (j != h->self)
				e = send_vals(h, ep, r, j, out);
	if (e == BFT_OK && bz != NULL && (bz->modes & BFT_BYZ_RBC_EQUIVOCATE)) {
		/* A second value with its own root: its VALs go to the odd-numbered replicas
		 * and to our f successors, which thus hold two different VALs from us. */
		struct rbc_config rc = {.n = h->n, .f = h->f, .self = h->self, .proposer = h->self,
					.rs = &h->rs, .payload_max = h->payload_max};
		struct rbc *alt = NULL;
		struct rbc_out ao = {0};

		sealed[slen - 1] ^= 0x01;
		if (rbc_new(&alt, &rc) == BFT_OK && rbc_propose(alt, sealed, slen, &ao) == BFT_OK)
			for (uint32_t j = 0; j < h->n; j++)
				if (j != h->self && (j % 2 == 1 || byz_witness(h, j)))
					(void)send_vals(h, ep, alt, j, out);
		rbc_free(alt);
	}
	free(sealed);
	if (e == BFT_OK)
		e = send_rbc_out(h, ep, h->self, &ro, out);
	if (e == BFT_OK && ro.delivered)
		e = acs_advance(h, ep, out);
	return e;
}

/* ---------------------------------------------------------------------------------------- */
/* Messages of a running epoch */

static enum bft_err dispatch(struct hb *h, struct epoch *ep, const struct bft_msg *m,
			     struct bft_out *out)
{
	uint32_t from = (uint32_t)m->sender;
	struct rbc_out ro = {0};
	enum bft_err e;

	switch (m->type) {
	case BFT_MSG_HB_VAL:
		e = rbc_on_val(acs_rbc(ep->acs, m->u.hb_rbc.proposer), from, &m->u.hb_rbc, &ro);
		break;
	case BFT_MSG_HB_ECHO:
		e = rbc_on_echo(acs_rbc(ep->acs, m->u.hb_rbc.proposer), from, &m->u.hb_rbc, &ro);
		break;
	case BFT_MSG_HB_READY:
		e = rbc_on_ready(acs_rbc(ep->acs, m->u.hb_ready.proposer), from, m->u.hb_ready.root,
				 &ro);
		break;
	case BFT_MSG_HB_BVAL:
	case BFT_MSG_HB_AUX:
	case BFT_MSG_HB_CONF:
	case BFT_MSG_HB_TERM: {
		uint32_t j = m->u.hb_aba.instance;

		e = aba_on_msg(acs_aba(ep->acs, j), from, m->type, &m->u.hb_aba, &h->aba_outs[j]);
		break;
	}
	case BFT_MSG_HB_COIN: {
		uint32_t j = m->u.hb_coin.instance;

		e = aba_on_coin(acs_aba(ep->acs, j), from, m->u.hb_coin.round, m->u.hb_coin.share,
				&h->aba_outs[j]);
		break;
	}
	case BFT_MSG_HB_DEC:
		return on_dec(h, ep, from, &m->u.hb_dec);
	case BFT_MSG_HB_CHECK:
		return on_check(h, ep, from, &m->u.hb_check);
	default:
		return BFT_ETYPE;
	}
	if (m->type == BFT_MSG_HB_VAL || m->type == BFT_MSG_HB_ECHO || m->type == BFT_MSG_HB_READY) {
		uint32_t p = m->type == BFT_MSG_HB_READY ? m->u.hb_ready.proposer
							  : m->u.hb_rbc.proposer;
		enum bft_err e2 = send_rbc_out(h, ep, p, &ro, out);

		if (e2 != BFT_OK)
			return e2;
	}
	/* Whatever the verdict, ABA instances may have queued messages (a duplicate never does;
	 * a valid message may have decided), and ACS may move. */
	{
		enum bft_err e2 = acs_advance(h, ep, out);

		if (e2 != BFT_OK && e == BFT_OK)
			e = e2;
	}
	/* Coin shares kept unverified and found bad when they were needed are faults of their
	 * senders (aba_take_late_faults). */
	for (uint32_t j = 0; j < h->n; j++) {
		uint64_t late = aba_take_late_faults(acs_aba(ep->acs, j));
		uint64_t checked = aba_take_checked(acs_aba(ep->acs, j));

		for (uint32_t i = 0; checked != 0 && i < h->n; i++)
			if ((checked >> i) & 1u)
				h->st.coin_checked[i]++;
		for (uint32_t i = 0; late != 0 && i < h->n; i++)
			if ((late >> i) & 1u)
				fault(h, i, BFT_EBADSHARE);
	}
	return e;
}

static uint64_t msg_epoch(const struct bft_msg *m)
{
	switch (m->type) {
	case BFT_MSG_HB_VAL:
	case BFT_MSG_HB_ECHO:
		return m->u.hb_rbc.epoch;
	case BFT_MSG_HB_READY:
		return m->u.hb_ready.epoch;
	case BFT_MSG_HB_COIN:
		return m->u.hb_coin.epoch;
	case BFT_MSG_HB_DEC:
		return m->u.hb_dec.epoch;
	case BFT_MSG_HB_CHECK:
		return m->u.hb_check.epoch;
	default:
		return m->u.hb_aba.epoch;
	}
}

static struct epoch *ep_for(struct hb *h, uint64_t e)
{
	for (uint32_t i = 0; i < HB_ACTIVE; i++)
		if (h->ep[i] != NULL && h->ep[i]->e == e)
			return h->ep[i];
	return NULL;
}

/* Keeps a copy of a message for an epoch that has not started. */
static enum bft_err buffer_msg(struct hb *h, const struct bft_msg *m, uint64_t epoch)
{
	uint32_t from = (uint32_t)m->sender;
	uint8_t *copy;

	if (h->buf_count[from] >= h->buf_per_sender) {
		h->st.dropped_ahead++;
		return BFT_EFULL;
	}
	if (h->nbuf == h->buf_cap) {
		size_t ncap = h->buf_cap ? h->buf_cap * 2 : 64;
		struct buffered *v = realloc(h->buf, ncap * sizeof(*v));

		if (v == NULL)
			return BFT_ENOMEM;
		h->buf = v;
		h->buf_cap = ncap;
	}
	copy = dup_bytes(m->frame.p, m->frame.len);
	if (copy == NULL)
		return BFT_ENOMEM;
	h->buf[h->nbuf++] = (struct buffered){.epoch = epoch, .from = from, .frame = copy,
					      .len = m->frame.len};
	h->buf_count[from]++;
	h->st.buffered++;
	return BFT_OK;
}

static bool has_buffered(const struct hb *h, uint64_t epoch)
{
	for (size_t i = 0; i < h->nbuf; i++)
		if (h->buf[i].epoch == epoch)
			return true;
	return false;
}

/* Drops buffered messages of epochs below `below` (executed or skipped by a state transfer). */
static void buffer_gc(struct hb *h, uint64_t below)
{
	size_t k = 0;

	for (size_t i = 0; i < h->nbuf; i++) {
		if (h->buf[i].epoch < below) {
			h->buf_count[h->buf[i].from]--;
			free(h->buf[i].frame);
		} else {
			h->buf[k++] = h->buf[i];
		}
	}
	h->nbuf = k;
}

/* Replays the buffered messages of a started epoch, in arrival order. */
static enum bft_err replay(struct hb *h, struct epoch *ep, struct bft_out *out)
{
	size_t k = 0, m = 0;
	struct buffered *mine;
	enum bft_err e = BFT_OK;

	for (size_t i = 0; i < h->nbuf; i++)
		if (h->buf[i].epoch == ep->e)
			m++;
	if (m == 0)
		return BFT_OK;
	mine = malloc(m * sizeof(*mine));
	if (mine == NULL)
		return BFT_ENOMEM;
	m = 0;
	for (size_t i = 0; i < h->nbuf; i++) {
		if (h->buf[i].epoch == ep->e) {
			mine[m++] = h->buf[i];
			h->buf_count[h->buf[i].from]--;
		} else {
			h->buf[k++] = h->buf[i];
		}
	}
	h->nbuf = k;
	for (size_t i = 0; i < m; i++) {
		struct bft_msg dm;

		if (e == BFT_OK && wire_decode(&h->cfg.log.limits, mine[i].frame, mine[i].len,
					       &dm) == BFT_OK) {
			enum bft_err r = dispatch(h, ep, &dm, out);

			if (r != BFT_OK && r < BFT_ERR_COUNT) {
				h->st.rejected[r]++;
				if (is_fault(r))
					fault(h, mine[i].from, r);
			}
			if (r == BFT_ENOMEM)
				e = r;
			wire_msg_free(&dm);
		}
		free(mine[i].frame);
	}
	free(mine);
	return e;
}

/* ---------------------------------------------------------------------------------------- */
/* Epochs */

static enum bft_err epoch_new(struct hb *h, uint64_t e, struct epoch **out)
{
	struct epoch *ep = calloc(1, sizeof(*ep));
	struct acs_config ac = {.n = h->n, .f = h->f, .self = h->self, .epoch = e, .rs = &h->rs,
				.payload_max = h->payload_max, .coin_pk = h->cfg.coin_pk,
				.coin_sk = h->cfg.coin_sk, .cache = h->coin_cache,
				.rounds_ahead = ROUNDS_AHEAD, .rand = drbg_cb, .rand_ctx = h,
				.fixed_coins = h->cfg.fixed_coins, .memo = h->cfg.memo};
	enum bft_err err;

	if (ep == NULL)
		return BFT_ENOMEM;
	ep->e = e;
	ep->in_set = calloc(h->n, 1);
	ep->dec = calloc(h->n, sizeof(*ep->dec));
	ep->votes = calloc(h->n, sizeof(*ep->votes));
	if (ep->in_set == NULL || ep->dec == NULL || ep->votes == NULL) {
		epoch_free(h, ep);
		return BFT_ENOMEM;
	}
	for (uint32_t j = 0; j < h->n; j++) {
		ep->dec[j].st = calloc(h->n, 1);
		ep->dec[j].sh = calloc(h->n, sizeof(*ep->dec[j].sh));
		if (ep->dec[j].st == NULL || ep->dec[j].sh == NULL) {
			epoch_free(h, ep);
			return BFT_ENOMEM;
		}
	}
	err = acs_new(&ep->acs, &ac);
	if (err != BFT_OK) {
		epoch_free(h, ep);
		return err;
	}
	*out = ep;
	return BFT_OK;
}

struct req_entry {
	uint8_t digest[CR_DIGEST_BYTES];
	bft_client_id client;
	uint64_t reqid;
	uint32_t rank;            /* position in digest order among the valid ones */
	struct bft_bytes b;
};

/* Digest order; equal digests (the same envelope proposed twice, barring a BLAKE2b collision)
 * fall back to the bytes, so that the order never depends on qsort's. */
static int req_cmp(const void *a, const void *b)
{
	const struct req_entry *x = a, *y = b;
	int c = memcmp(x->digest, y->digest, CR_DIGEST_BYTES);

	if (c != 0)
		return c;
	if (x->b.len != y->b.len)
		return x->b.len < y->b.len ? -1 : 1;
	return memcmp(x->b.p, y->b.p, x->b.len);
}

/* (client, request id), then digest order: the first of each pair is the one that enters. */
static int req_id_cmp(const void *a, const void *b)
{
	const struct req_entry *x = a, *y = b;

	if (x->client != y->client)
		return x->client < y->client ? -1 : 1;
	if (x->reqid != y->reqid)
		return x->reqid < y->reqid ? -1 : 1;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int rank_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct req_entry *)a)->rank, y = ((const struct req_entry *)b)->rank;

	return x < y ? -1 : x > y;
}

/* ---------------------------------------------------------------------------------------- */
/* The batch of an epoch, and shared checks (hb.h) */

enum { CV_UNKNOWN = 0, CV_VALID, CV_INVALID };

/* A candidate entry: a request envelope of a revealed proposal that may enter the batch. */
struct cand {
	struct req_entry r;
	uint8_t verdict;          /* CV_* */
};

static bool bit_get(const uint8_t *bits, uint32_t i)
{
	return (bits[i / 8u] >> (i % 8u)) & 1u;
}

/* True for the owner of a request and the f replicas after it (hb.h "Shared checks"). */
static bool designated(const struct hb *h, bft_client_id client, uint64_t reqid)
{
	uint32_t o = bft_hb_owner(h->n, client, reqid);

	return (h->self + h->n - o) % h->n <= h->f;
}

static bool checks_alone(const struct hb *h, uint64_t epoch)
{
	return h->cfg.check_wait_ms == 0 || epoch < h->alone_until;
}

static uint8_t verify_entry(struct hb *h, const struct req_entry *r)
{
	h->st.checks_self++;
	return bft_log_check_batch(h->log, &r->b, 1) == BFT_OK ? CV_VALID : CV_INVALID;
}

static bool vote_matches(const struct epoch *ep, const struct vote *vt)
{
	return vt->count == ep->ncand && cr_equal(vt->list, ep->list, CR_DIGEST_BYTES);
}

/* A vote for another list than ours: only a faulty sender's can be (the list is a function of
 * the agreed proposals and the executed prefix). Counted once per vote. */
static void vote_other_list(struct hb *h, struct vote *vt, uint32_t from)
{
	if (vt->faulted)
		return;
	vt->faulted = true;
	h->st.check_votes_other_list++;
	fault(h, from, BFT_EDIGEST);
}

/* True when vt gives a verdict that contradicts one this replica knows (a faulty sender's). */
static bool vote_contradicts(const struct epoch *ep, const struct vote *vt)
{
	uint32_t bytes = (ep->ncand + 7u) / 8u;

	for (uint32_t i = 0; i < ep->ncand; i++)
		if (ep->cand[i].verdict != CV_UNKNOWN && bit_get(vt->bits, i) &&
		    bit_get(vt->bits + bytes, i) != (ep->cand[i].verdict == CV_VALID))
			return true;
	return false;
}

/*
 * Decides what the votes allow: f+1 matching verdicts include a correct replica's, which is the
 * truth (the signature is a fact about the bytes), so they decide an entry; an entry two senders
 * disagree on is verified here. Then every vote that contradicts a verdict we know is counted
 * as its sender's fault, once.
 */
static void decide_by_votes(struct hb *h, struct epoch *ep)
{
	for (uint32_t i = 0; i < ep->ncand && ep->unknown > 0; i++) {
		struct cand *c = &ep->cand[i];
		uint32_t yes = 0, no = 0, bytes = (ep->ncand + 7u) / 8u;

		if (c->verdict != CV_UNKNOWN)
			continue;
		for (uint32_t j = 0; j < h->n; j++) {
			const struct vote *vt = &ep->votes[j];

			if (!vt->have || !vote_matches(ep, vt) || !bit_get(vt->bits, i))
				continue;
			if (bit_get(vt->bits + bytes, i))
				yes++;
			else
				no++;
		}
		if (yes > h->f || no > h->f) {
			c->verdict = yes > h->f ? CV_VALID : CV_INVALID;
			h->st.checks_shared++;
		} else if (yes > 0 && no > 0) {
			c->verdict = verify_entry(h, &c->r);
			h->st.checks_disputed++;
		} else {
			continue;
		}
		ep->unknown--;
	}
	for (uint32_t j = 0; j < h->n; j++) {
		struct vote *vt = &ep->votes[j];

		if (vt->have && !vt->faulted && vote_matches(ep, vt) && vote_contradicts(ep, vt)) {
			vt->faulted = true;
			fault(h, j, BFT_ECONFLICT);
		}
	}
}

/* HB_CHECK: our verdicts on the candidate list, to every replica (kept for retransmission). */
static enum bft_err send_check(struct hb *h, struct epoch *ep, struct bft_out *out)
{
	uint32_t bytes = (ep->ncand + 7u) / 8u;
	uint8_t *bits = calloc(bytes ? 2u * bytes : 1u, 1);
	struct bft_msg m = {.type = BFT_MSG_HB_CHECK};
	enum bft_err e;

	if (bits == NULL)
		return BFT_ENOMEM;
	for (uint32_t i = 0; i < ep->ncand; i++) {
		if (ep->cand[i].verdict == CV_UNKNOWN)
			continue;
		bits[i / 8u] |= (uint8_t)(1u << (i % 8u));
		if (ep->cand[i].verdict == CV_VALID)
			bits[bytes + i / 8u] |= (uint8_t)(1u << (i % 8u));
	}
	m.u.hb_check.epoch = ep->e;
	memcpy(m.u.hb_check.list, ep->list, CR_DIGEST_BYTES);
	m.u.hb_check.count = ep->ncand;
	m.u.hb_check.known = (struct bft_bytes){.p = bits, .len = bytes};
	m.u.hb_check.valid = (struct bft_bytes){.p = bits + bytes, .len = bytes};
	e = send_msg(h, &m, true, ep->e, BFT_TO_ALL, 0, out);
	free(bits);
	return e;
}

/*
 * Builds the candidate list of a finished epoch, the lowest unexecuted one. The batch is a
 * function of the agreed proposals and of the executed prefix of the log, so every correct
 * replica computes the same one:
 *   1. every entry of every revealed proposal, in digest order; an envelope proposed by several
 *      replicas (each picks at random from its own queue, HB §4.3, so proposals overlap) is
 *      looked at once;
 *   2. a request the log would skip anyway as already executed (bft_log_executed: typically one
 *      that was proposed again in this epoch while the previous one was being decrypted) is
 *      left out before its signature is checked: whatever the check said, it would not run;
 *   3. a request that does not decode, or whose client signature fails, is dropped the same way
 *      everywhere (bft_log_precheck; the signature is decided here, by f+1 matching HB_CHECKs
 *      or by this replica itself: hb.h "Shared checks");
 *   4. of two envelopes of one (client, request id), the first in digest order enters
 *      (execute_epoch).
 * The entries left after steps 1-2 and the decoding part of 3 are the candidate list, and its
 * digest names it in HB_CHECK. Each step is linear or n log n in the entries.
 */
static enum bft_err build_candidates(struct hb *h, struct epoch *ep, uint64_t now,
				     struct bft_out *out)
{
	struct cand *v = NULL;
	struct req_entry prev = {0};
	uint32_t nv = 0, cap = 0, nc = 0;
	bool alone = checks_alone(h, ep->e);
	struct cr_hash hs;
	uint8_t tmp[8];

	for (uint32_t j = 0; j < h->n; j++)
		if (ep->in_set[j] && ep->dec[j].ok)
			cap += h->per_prop;
	if (cap > 0) {
		v = calloc(cap, sizeof(*v));
		if (v == NULL)
			return BFT_ENOMEM;
	}
	for (uint32_t j = 0; j < h->n; j++) {
		const struct dec_slot *d = &ep->dec[j];
		uint64_t t;
		uint32_t c;
		size_t off = PROPOSAL_HEADER;

		if (!ep->in_set[j] || !d->ok || parse_proposal(h, d->plain, d->plain_len, &t, &c))
			continue;
		for (uint32_t i = 0; i < c && nv < cap; i++) {
			struct bft_bytes b = {.p = d->plain + off + 4, .len = get_u32(d->plain + off)};

			off += 4u + b.len;
			v[nv].r.b = b;
			bft_request_digest(&b, v[nv].r.digest);
			nv++;
		}
	}
	h->st.requests_revealed += nv;
	if (nv > 1)
		qsort(v, nv, sizeof(*v), req_cmp); /* struct cand begins with its req_entry */
	for (uint32_t i = 0; i < nv; i++) {
		struct cand cur = v[i];
		struct bft_msg m;
		bool stale, bad, need_sig;

		/* Equal envelopes are adjacent; each gets the verdict of the first (kept or not). */
		if (i > 0 && req_cmp(&cur.r, &prev) == 0) {
			h->st.requests_repeated++;
			continue;
		}
		prev = cur.r;
		if (wire_decode(&h->cfg.log.limits, cur.r.b.p, cur.r.b.len, &m) != BFT_OK) {
			h->st.requests_dropped++;
			continue;
		}
		cur.r.client = m.sender;
		cur.r.reqid = m.u.request.reqid;
		stale = m.type == BFT_MSG_REQUEST && bft_log_executed(h->log, cur.r.client,
								      cur.r.reqid);
		bad = !stale && bft_log_precheck(h->log, &m, &need_sig) != BFT_OK;
		wire_msg_free(&m);
		if (stale) {
			h->st.requests_stale++;
			continue;
		}
		if (bad) {
			h->st.requests_dropped++;
			continue;
		}
		if (!need_sig)
			cur.verdict = CV_VALID;
		else if (alone || designated(h, cur.r.client, cur.r.reqid))
			cur.verdict = verify_entry(h, &cur.r);
		else
			cur.verdict = CV_UNKNOWN;
		if (cur.verdict == CV_UNKNOWN)
			ep->unknown++;
		v[nc++] = cur; /* nc <= i: only entries already looked at are overwritten */
	}
	ep->cand = v;
	ep->ncand = nc;
	ep->built = true;
	ep->check_deadline = now + h->cfg.check_wait_ms;
	cr_hash_init(&hs, "hb.check");
	put_u64(tmp, ep->e);
	cr_hash_update(&hs, tmp, 8);
	put_u32(tmp, nc);
	cr_hash_update(&hs, tmp, 4);
	for (uint32_t i = 0; i < nc; i++)
		cr_hash_update(&hs, v[i].r.digest, CR_DIGEST_BYTES);
	cr_hash_final(&hs, ep->list);
	for (uint32_t j = 0; j < h->n; j++)
		if (ep->votes[j].have && !vote_matches(ep, &ep->votes[j]))
			vote_other_list(h, &ep->votes[j], j);
	decide_by_votes(h, ep); /* and counts the votes that contradict what we know */
	return h->cfg.check_wait_ms != 0 ? send_check(h, ep, out) : BFT_OK;
}

/* The wait for votes expired with entries undecided: this replica verifies them, and checks
 * alone for a stretch of epochs that doubles with each consecutive expiry (hb.h). */
static void checks_expired(struct hb *h, struct epoch *ep)
{
	bool consecutive = h->alone_until != 0 && ep->e < h->alone_until + h->alone_stretch;

	h->st.check_waits_expired++;
	for (uint32_t i = 0; i < ep->ncand; i++)
		if (ep->cand[i].verdict == CV_UNKNOWN)
			ep->cand[i].verdict = verify_entry(h, &ep->cand[i].r);
	ep->unknown = 0;
	h->alone_stretch = !consecutive ? ALONE_MIN
			   : h->alone_stretch >= ALONE_MAX / 2 ? ALONE_MAX
							       : h->alone_stretch * 2u;
	h->alone_until = ep->e + 1 + h->alone_stretch;
}

/* HB_CHECK from another replica: kept (one per sender and epoch, its size bounded by the
 * largest candidate list an epoch can have) and used at once if our list is built. */
static enum bft_err on_check(struct hb *h, struct epoch *ep, uint32_t from,
			     const struct bft_hb_check *c)
{
	struct vote *vt = &ep->votes[from];
	uint32_t bytes = c->known.len;

	if (h->cfg.check_wait_ms == 0)
		return BFT_OK; /* sharing is off here: our own checks decide */
	if (vt->have)
		return BFT_EDUP;
	if (c->count > h->n * h->per_prop)
		return BFT_ETOOBIG;
	vt->bits = malloc(bytes ? 2u * bytes : 1u);
	if (vt->bits == NULL)
		return BFT_ENOMEM;
	if (bytes != 0) {
		memcpy(vt->bits, c->known.p, bytes);
		memcpy(vt->bits + bytes, c->valid.p, bytes);
	}
	vt->have = true;
	vt->count = c->count;
	memcpy(vt->list, c->list, CR_DIGEST_BYTES);
	if (ep->built) {
		bool lie;

		if (!vote_matches(ep, vt)) {
			vote_other_list(h, vt, from);
			return BFT_OK; /* counted as a fault already */
		}
		/* A verdict against one we know is refused at once (and counted by the caller); the
		 * vote stays, since f+1 matching ones decide regardless of a liar's. */
		lie = vote_contradicts(ep, vt);
		vt->faulted = lie;
		decide_by_votes(h, ep);
		if (lie)
			return BFT_ECONFLICT;
	}
	return BFT_OK;
}

/* Executes a finished epoch whose candidates are all decided: steps 3-4 above. */
static enum bft_err execute_epoch(struct hb *h, struct epoch *ep, struct bft_out *out)
{
	struct req_entry *v = NULL;
	struct bft_bytes *reqs = NULL;
	uint64_t times[HB_N_MAX], time_ms = 0;
	uint32_t nt = 0, nreq = 0, nk = 0;
	enum bft_err e;

	if (ep->ncand > 0) {
		v = calloc(ep->ncand, sizeof(*v));
		reqs = calloc(ep->ncand, sizeof(*reqs));
		if (v == NULL || reqs == NULL) {
			free(v);
			free(reqs);
			return BFT_ENOMEM;
		}
	}
	for (uint32_t j = 0; j < h->n; j++) {
		const struct dec_slot *d = &ep->dec[j];
		uint64_t t;
		uint32_t c;

		if (ep->in_set[j] && d->ok && !parse_proposal(h, d->plain, d->plain_len, &t, &c))
			times[nt++] = t;
	}
	for (uint32_t i = 0; i < ep->ncand; i++) {
		if (ep->cand[i].verdict != CV_VALID) {
			h->st.requests_dropped++;
			continue;
		}
		v[nk] = ep->cand[i].r;
		v[nk].rank = nk;
		nk++;
	}
	/* Step 4: group by (client, request id), keep the lowest rank of each, back in digest
	 * order. */
	if (nk > 1) {
		uint32_t w = 0;

		qsort(v, nk, sizeof(*v), req_id_cmp);
		for (uint32_t i = 0; i < nk; i++)
			if (w == 0 || v[i].client != v[w - 1].client || v[i].reqid != v[w - 1].reqid)
				v[w++] = v[i];
		nk = w;
		qsort(v, nk, sizeof(*v), rank_cmp);
	}
	for (uint32_t i = 0; i < nk; i++)
		reqs[nreq++] = v[i].b;
	/* The batch time: the median of the revealed proposals' timestamps. With at most f faulty
	 * proposers among at least 2f+1 included ones, the median lies between correct clocks. */
	if (nt > 0) {
		qsort(times, nt, sizeof(times[0]), u64_cmp);
		time_ms = times[(nt - 1) / 2];
	}
	e = bft_log_execute(h->log, ep->e + 1, ep->e, time_ms, reqs, nreq, out);
	free(v);
	free(reqs);
	if (e == BFT_OK)
		h->st.epochs_done++;
	return e;
}

/* Epoch e may start: inside the window, not waiting for a state transfer, and work to do: a
 * message of epoch e from another replica, or queued requests — any, for the first epoch with
 * none running; for the next one while the first runs, a request this replica would propose
 * there (not one on its way into the log in our proposal of the running epoch, nor one of
 * another replica's share that has not waited for it long: hb.h "Selection"), so that a replica
 * does not start an epoch only to propose nothing. */
static bool can_start(const struct hb *h, uint64_t e, bool first)
{
	bft_seq tmp;

	return bft_log_in_window(h->log, e + 1) && !bft_log_behind(h->log, &tmp) &&
	       (has_buffered(h, e) ||
		(first ? bft_log_pending(h->log) > 0
		       : has_eligible(h, inflight_other(h, NULL))));
}

static enum bft_err start_epoch(struct hb *h, uint32_t slot, uint64_t e, uint64_t now,
				struct bft_out *out)
{
	struct epoch *ep;
	enum bft_err err = epoch_new(h, e, &ep);

	if (err != BFT_OK)
		return err;
	h->ep[slot] = ep;
	h->progress_ms = now;
	err = propose(h, ep, now, out);
	if (err == BFT_OK)
		err = replay(h, ep, out);
	return err;
}

/* Executes finished epochs in order and starts the next ones (hb.h "Scheduling"). */
static enum bft_err drive(struct hb *h, uint64_t now, struct bft_out *out)
{
	enum bft_err e = BFT_OK;

	for (;;) {
		uint64_t le = bft_log_last_executed(h->log);
		bool moved = false;

		/* Epochs a state transfer jumped over are gone. */
		for (uint32_t i = 0; i < HB_ACTIVE; i++)
			if (h->ep[i] != NULL && h->ep[i]->e < le) {
				epoch_free(h, h->ep[i]);
				h->ep[i] = NULL;
			}
		if (h->ep[0] == NULL && h->ep[1] != NULL) {
			h->ep[0] = h->ep[1];
			h->ep[1] = NULL;
		}
		buffer_gc(h, le);
		restored_gc(h, le);
		if (h->ep[0] != NULL && h->ep[0]->finished && !h->ep[0]->built) {
			e = build_candidates(h, h->ep[0], now, out);
			if (e != BFT_OK)
				return e;
		}
		if (h->ep[0] != NULL && h->ep[0]->built && h->ep[0]->unknown == 0) {
			e = execute_epoch(h, h->ep[0], out);
			if (e != BFT_OK)
				return e;
			epoch_free(h, h->ep[0]);
			h->ep[0] = h->ep[1];
			h->ep[1] = NULL;
			h->progress_ms = now;
			continue;
		}
		if (h->ep[0] == NULL && can_start(h, le, true)) {
			e = start_epoch(h, 0, le, now, out);
			moved = true;
		} else if (h->ep[0] != NULL && h->ep[0]->acs_done && h->ep[1] == NULL &&
			   can_start(h, le + 1, false)) {
			/* HB: the next epoch starts as soon as this one's subset is decided. */
			e = start_epoch(h, 1, le + 1, now, out);
			moved = true;
		}
		if (e != BFT_OK || !moved)
			return e;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Retransmission, FETCH and state transfer */

static enum bft_err resend(const struct sent_list *s, bool to_one, uint32_t who,
			   struct bft_out *out)
{
	enum bft_err e = BFT_OK;

	for (size_t i = 0; i < s->n && e == BFT_OK; i++) {
		const struct sent_msg *sm = &s->v[i];
		uint8_t *c;

		if (to_one && sm->dest == BFT_TO_REPLICA && sm->to != who)
			continue;
		c = dup_bytes(sm->bytes, sm->len);
		if (c == NULL)
			return BFT_ENOMEM;
		e = bft_out_msg(out, to_one ? BFT_TO_REPLICA : sm->dest, to_one ? who : sm->to,
				sm->type, c, sm->len);
	}
	return e;
}

static enum bft_err send_fetch(struct hb *h, enum bft_dest dest, uint32_t to, uint32_t kind,
			       bft_seq seq, uint32_t index, struct bft_out *out)
{
	struct bft_msg m = {.type = BFT_MSG_FETCH};

	m.u.fetch.kind = kind;
	m.u.fetch.seq = seq;
	m.u.fetch.index = index;
	return send_msg(h, &m, false, 0, dest, to, out);
}

/* FETCH(LOG, e) from a replica that made no progress in epoch e: what we sent in e, and our
 * stable checkpoint's proof if e lies below it (the requester then transfers state). */
static enum bft_err serve_log(struct hb *h, uint32_t to, bft_seq e, struct bft_out *out)
{
	const struct sent_list *s = sent_find(h, e);
	const struct bft_bytes *proof;
	uint32_t nproof;
	bft_seq stable;
	uint8_t d[CR_DIGEST_BYTES];
	enum bft_err err = BFT_OK;

	bft_log_stable(h->log, &stable, d, &proof, &nproof);
	if (e < stable)
		for (uint32_t i = 0; i < nproof && err == BFT_OK; i++) {
			uint8_t *c = dup_bytes(proof[i].p, proof[i].len);

			if (c == NULL)
				return BFT_ENOMEM;
			err = bft_out_msg(out, BFT_TO_REPLICA, to, BFT_MSG_CHECKPOINT, c,
					  proof[i].len);
		}
	if (s != NULL && err == BFT_OK) {
		h->st.retransmissions++;
		err = resend(s, true, to, out);
	}
	return err;
}

static enum bft_err fetch_state(struct hb *h, uint64_t now, struct bft_out *out)
{
	bft_seq target;
	int64_t idx;

	if (!bft_log_behind(h->log, &target))
		return BFT_OK;
	idx = bft_log_next_missing_chunk(h->log);
	if (idx < 0)
		return BFT_OK;
	if (h->fetch_peer == h->self)
		h->fetch_peer = (h->fetch_peer + 1) % h->n;
	h->fetch_deadline = now + FETCH_TIMEOUT_MS;
	return send_fetch(h, BFT_TO_REPLICA, h->fetch_peer, BFT_FETCH_STATE, target, (uint32_t)idx,
			  out);
}

static void next_fetch_peer(struct hb *h)
{
	h->fetch_peer = (h->fetch_peer + 1) % h->n;
	if (h->fetch_peer == h->self)
		h->fetch_peer = (h->fetch_peer + 1) % h->n;
}

static enum bft_err on_state(struct hb *h, const struct bft_msg *m, uint64_t now,
			     struct bft_out *out)
{
	bool done = false;
	enum bft_err e = bft_log_on_chunk(h->log, m, out, &done);

	if (e == BFT_EBADCERT) {
		fault(h, (uint32_t)m->sender, e);
		if (m->sender == h->fetch_peer) {
			next_fetch_peer(h);
			(void)fetch_state(h, now, out);
		}
		return e;
	}
	if (e != BFT_OK)
		return e;
	if (done) {
		h->st.state_transfers++;
		h->fetch_deadline = 0;
		h->progress_ms = now;
		return BFT_OK;
	}
	return fetch_state(h, now, out);
}

static bool has_work(const struct hb *h)
{
	bft_seq tmp;

	return h->ep[0] != NULL || bft_log_pending(h->log) > 0 || bft_log_behind(h->log, &tmp);
}

static enum bft_err on_timer(struct hb *h, uint64_t now, struct bft_out *out)
{
	enum bft_err e = BFT_OK;

	if (h->fetch_deadline != 0 && now >= h->fetch_deadline) {
		next_fetch_peer(h);
		h->fetch_deadline = 0;
		e = fetch_state(h, now, out);
	}
	if (h->ep[0] != NULL && h->ep[0]->built && h->ep[0]->unknown > 0 &&
	    now >= h->ep[0]->check_deadline)
		checks_expired(h, h->ep[0]); /* drive() executes it */
	if (e == BFT_OK && h->cfg.retransmit_ms != 0 && has_work(h) &&
	    now >= h->progress_ms + h->cfg.retransmit_ms) {
		uint64_t le = bft_log_last_executed(h->log);

		/* Links may have lost messages (the asynchronous model assumes they do not; a
		 * reconnecting transport can): re-send ours, ask for everybody else's. */
		for (uint32_t i = 0; i < HB_ACTIVE && e == BFT_OK; i++) {
			const struct sent_list *s;

			if (h->ep[i] != NULL && (s = sent_find(h, h->ep[i]->e)) != NULL) {
				h->st.retransmissions++;
				e = resend(s, false, 0, out);
			}
		}
		if (e == BFT_OK)
			e = send_fetch(h, BFT_TO_ALL, 0, BFT_FETCH_LOG, le, 0, out);
		/* Our CHECKPOINTs went out once: one lost keeps a checkpoint short of 2f+1. */
		if (e == BFT_OK)
			e = bft_log_resend_checkpoints(h->log, out);
		h->progress_ms = now;
	}
	return e;
}

static void arm_timer(struct hb *h, uint64_t now, struct bft_out *out)
{
	if (h->fetch_deadline != 0)
		bft_out_timer(out, h->fetch_deadline);
	if (h->ep[0] != NULL && h->ep[0]->built && h->ep[0]->unknown > 0)
		bft_out_timer(out, h->ep[0]->check_deadline > now ? h->ep[0]->check_deadline
								  : now + 1);
	if (h->cfg.retransmit_ms != 0 && has_work(h)) {
		uint64_t t = h->progress_ms + h->cfg.retransmit_ms;

		bft_out_timer(out, t > now ? t : now + 1);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Byzantine behaviours (byz.h): transformations of what this faulty replica sends. The ones
 * that change a proposal happen in propose(); these rewrite the outgoing messages. */

static void byz_reseal(struct hb *h, struct bft_out_msg *om, struct bft_msg *m)
{
	struct wire_buf env = {0};

	m->sender = h->self;
	if (wire_encode(m, h->cfg.log.id, &env) != BFT_OK) {
		wire_buf_free(&env);
		return;
	}
	free(om->bytes);
	om->bytes = env.p;
	om->len = env.len;
}

/* The f replicas after us, which an equivocating replica lets see both versions: with at most
 * f - 1 other faulty replicas, one of them is correct and records the conflict. */
static bool byz_witness(const struct hb *h, uint32_t j)
{
	uint32_t d = (j + h->n - h->self) % h->n;

	return d >= 1 && d <= (h->f > 0 ? h->f : 1);
}

/* Queues a resealed variant of m for replica `to`. */
static void byz_extra(struct hb *h, struct bft_msg *m, uint32_t to, struct bft_out *out)
{
	struct wire_buf env = {0};

	m->sender = h->self;
	if (wire_encode(m, h->cfg.log.id, &env) != BFT_OK) {
		wire_buf_free(&env);
		return;
	}
	if (bft_out_msg(out, BFT_TO_REPLICA, to, m->type, env.p, env.len) != BFT_OK)
		return; /* out of memory: the variant is not sent, which is allowed */
}

/* The equivocating variant of an outgoing message, or false when there is none. For an ECHO:
 * a shard under another root, with a valid branch (a tree of n copies of the changed shard). */
static bool byz_variant(struct hb *h, struct bft_msg *m, uint8_t **scratch)
{
	switch (m->type) {
	case BFT_MSG_HB_BVAL:
	case BFT_MSG_HB_AUX:
		m->u.hb_aba.value ^= 1u;
		return true;
	case BFT_MSG_HB_READY:
		m->u.hb_ready.root[0] ^= 0xff;
		return true;
	case BFT_MSG_HB_ECHO: {
		struct bft_hb_rbc *r = &m->u.hb_rbc;
		struct cr_bytes_view *leaves = calloc(h->n, sizeof(*leaves));
		struct cr_merkle t = {0};
		uint8_t *s = dup_bytes(r->shard.p, r->shard.len);
		bool ok = false;

		if (leaves != NULL && s != NULL) {
			s[0] ^= 0x01;
			for (uint32_t i = 0; i < h->n; i++)
				leaves[i] = (struct cr_bytes_view){.p = s, .len = r->shard.len};
			if (cr_merkle_build(&t, leaves, h->n) == 0 &&
			    cr_merkle_branch(&t, r->index, r->branch, BFT_HB_BRANCH_MAX,
					     &r->nbranch) == 0) {
				memcpy(r->root, cr_merkle_root(&t), CR_DIGEST_BYTES);
				r->shard.p = s;
				ok = true;
			}
		}
		cr_merkle_free(&t);
		free(leaves);
		if (!ok) {
			free(s);
			s = NULL;
		}
		*scratch = s;
		return ok;
	}
	default:
		return false;
	}
}

/* Every entry known, every verdict inverted (an unknown one called invalid): whoever takes a
 * verdict from f+1 matching ones is not fooled, since the liar's fellow checkers say otherwise. */
static void byz_lie_in_check(struct hb *h, struct bft_out_msg *om, struct bft_msg *m)
{
	struct bft_hb_check *c = &m->u.hb_check;
	uint32_t bytes = c->known.len;
	uint8_t *bits = malloc(bytes ? 2u * bytes : 1u);

	if (bits == NULL)
		return; /* sent as it was, which is allowed */
	for (uint32_t i = 0; i < bytes; i++) {
		uint8_t mask = i + 1 < bytes || c->count % 8u == 0
				       ? 0xff : (uint8_t)((1u << (c->count % 8u)) - 1u);

		bits[i] = mask;
		bits[bytes + i] = (uint8_t)(~(c->known.p[i] & c->valid.p[i]) & c->known.p[i] & mask);
	}
	c->known = (struct bft_bytes){.p = bits, .len = bytes};
	c->valid = (struct bft_bytes){.p = bits + bytes, .len = bytes};
	byz_reseal(h, om, m);
	free(bits);
}

static void byz_apply(struct hb *h, uint64_t now, struct bft_out *out)
{
	const struct bft_byz *bz = h->cfg.byz;
	/* Only these modes rewrite Honey Badger messages; the others need no decoding. */
	size_t n0 = (bz->modes & (BFT_BYZ_BAD_COIN_SHARE | BFT_BYZ_BAD_DEC_SHARE |
				  BFT_BYZ_ABA_EQUIVOCATE | BFT_BYZ_RBC_EQUIVOCATE |
				  BFT_BYZ_LYING_CHECKS)) ? out->nmsgs : 0;

	for (size_t i = 0; i < n0; i++) {
		struct bft_msg m;
		uint8_t *orig, *scratch = NULL;
		size_t len = out->msgs[i].len;
		bool equiv;

		orig = dup_bytes(out->msgs[i].bytes, len);
		if (orig == NULL || wire_decode(&h->cfg.log.limits, orig, len, &m) != BFT_OK) {
			free(orig);
			continue;
		}
		if ((bz->modes & BFT_BYZ_BAD_COIN_SHARE) && m.type == BFT_MSG_HB_COIN) {
			/* sigma := g, a valid point whose proof cannot verify. */
			memcpy(m.u.hb_coin.share + 2, cr_group_g, CR_POINT_BYTES);
			byz_reseal(h, &out->msgs[i], &m);
		}
		if ((bz->modes & BFT_BYZ_BAD_DEC_SHARE) && m.type == BFT_MSG_HB_DEC) {
			memcpy(m.u.hb_dec.share + 2, cr_group_g, CR_POINT_BYTES);
			byz_reseal(h, &out->msgs[i], &m);
		}
		if ((bz->modes & BFT_BYZ_LYING_CHECKS) && m.type == BFT_MSG_HB_CHECK)
			byz_lie_in_check(h, &out->msgs[i], &m);
		equiv = ((bz->modes & BFT_BYZ_ABA_EQUIVOCATE) &&
			 (m.type == BFT_MSG_HB_BVAL || m.type == BFT_MSG_HB_AUX)) ||
			((bz->modes & BFT_BYZ_RBC_EQUIVOCATE) &&
			 (m.type == BFT_MSG_HB_ECHO || m.type == BFT_MSG_HB_READY));
		if (equiv && out->msgs[i].dest == BFT_TO_ALL) {
			struct bft_msg mv = m;

			if (byz_variant(h, &mv, &scratch)) {
				/* The original goes to the even-numbered replicas, the variant to the
				 * odd ones, and our f successors get both (so that a correct one of
				 * them can tell). */
				for (uint32_t j = 0; j < h->n; j++) {
					if (j == h->self)
						continue;
					if (j % 2 == 0 || byz_witness(h, j))
						byz_extra(h, &m, j, out);
					if (j % 2 == 1 || byz_witness(h, j))
						byz_extra(h, &mv, j, out);
				}
				out->msgs[i].len = 0;
			}
		}
		free(scratch);
		wire_msg_free(&m);
		free(orig);
	}
	/* The behaviours both engines share (byz.h): wrong results to clients; old messages of
	 * earlier epochs re-sent (harmless: each is stale or a duplicate where it arrives, and
	 * not a fault, since a retransmission looks the same); then bad signatures, crash,
	 * silence. */
	if (bz->modes & BFT_BYZ_WRONG_REPLY)
		bft_byz_wrong_replies(&h->cfg.log.limits, h->cfg.log.id, out, 0);
	if (bz->modes & BFT_BYZ_REPLAY)
		bft_byz_replay_step(&h->replay, now, out);
	bft_byz_finish(bz, &h->byz_sent, out);
}

/* ---------------------------------------------------------------------------------------- */
/* Entry point */

static enum bft_err on_hb_msg(struct hb *h, const struct bft_msg *m, uint64_t now,
			      struct bft_out *out)
{
	uint64_t e = msg_epoch(m), le = bft_log_last_executed(h->log);
	struct epoch *ep;

	if (m->sender == h->self)
		return BFT_EDUP;
	/* The codec bounds proposer and instance by its n_replicas; a node configured with a
	 * larger limit than the cluster must still never index past our n. */
	if ((m->type == BFT_MSG_HB_VAL || m->type == BFT_MSG_HB_ECHO ? m->u.hb_rbc.proposer
	     : m->type == BFT_MSG_HB_READY ? m->u.hb_ready.proposer
	     : m->type == BFT_MSG_HB_COIN  ? m->u.hb_coin.instance
	     : m->type == BFT_MSG_HB_DEC   ? m->u.hb_dec.proposer
	     : m->type == BFT_MSG_HB_CHECK ? 0
					   : m->u.hb_aba.instance) >= h->n)
		return BFT_EINVAL;
	if (e < le)
		return BFT_ESTALE; /* finished here; a laggard asks with FETCH(LOG) */
	ep = ep_for(h, e);
	if (ep != NULL) {
		enum bft_err r = dispatch(h, ep, m, out);

		if (r == BFT_OK)
			h->progress_ms = now;
		return r;
	}
	if (e - le > h->cfg.epochs_ahead_max) {
		h->st.dropped_ahead++;
		return BFT_ESEQ;
	}
	return buffer_msg(h, m, e);
}

enum bft_err hb_step(struct hb *h, const struct bft_event *ev, struct bft_out *out)
{
	uint64_t now = ev->now_ms;
	bft_seq low_before = bft_log_low(h->log);
	enum bft_err e = BFT_OK, e2;

	switch (ev->type) {
	case BFT_EV_MESSAGE: {
		const struct bft_msg *m = ev->msg;

		if (m->type != BFT_MSG_REQUEST && m->sender >= h->n) {
			e = BFT_ESENDER;
			break;
		}
		switch (m->type) {
		case BFT_MSG_REQUEST:
			/* Clients send to f+1 replicas, at least one correct (client.h
			 * BFT_SEND_CHECKERS; to all when they retransmit), so a request is never
			 * relayed. */
			e = bft_log_submit(h->log, m, now, out);
			break;
		case BFT_MSG_CHECKPOINT:
			e = bft_log_on_checkpoint(h->log, m, out);
			break;
		case BFT_MSG_FETCH:
			if (m->sender == h->self)
				e = BFT_ESENDER;
			else if (m->u.fetch.kind == BFT_FETCH_STATE)
				e = bft_log_serve_chunk(h->log, (bft_replica_id)m->sender,
							m->u.fetch.seq, m->u.fetch.index, out);
			else
				e = serve_log(h, (uint32_t)m->sender, m->u.fetch.seq, out);
			break;
		case BFT_MSG_STATE:
			e = on_state(h, m, now, out);
			break;
		default:
			if (m->type >= BFT_MSG_HB_VAL && m->type <= BFT_MSG_HB_CHECK)
				e = on_hb_msg(h, m, now, out);
			else
				e = BFT_ETYPE; /* PBFT messages have no meaning here */
			break;
		}
		if (e != BFT_OK && is_fault(e) && m->type != BFT_MSG_REQUEST &&
		    m->type != BFT_MSG_STATE)
			fault(h, (uint32_t)m->sender, e);
		break;
	}
	case BFT_EV_RANDOM:
		if (ev->random == NULL || ev->random_len < 32) {
			e = BFT_EINVAL;
			break;
		}
		mix_random(h, ev->random, ev->random_len);
		h->have_random = true;
		/* Proposals held back for want of randomness go out now. */
		for (uint32_t i = 0; i < HB_ACTIVE && e == BFT_OK; i++)
			if (h->ep[i] != NULL)
				e = propose(h, h->ep[i], now, out);
		break;
	case BFT_EV_TIMER:
		e = on_timer(h, now, out);
		break;
	case BFT_EV_TICK:
		break;
	}
	if (e != BFT_OK && e < BFT_ERR_COUNT)
		h->st.rejected[e]++;
	e2 = BFT_OK;
	{
		bft_seq target;

		if ((bft_log_low(h->log) != low_before || bft_log_behind(h->log, &target)) &&
		    h->fetch_deadline == 0 && bft_log_behind(h->log, &target))
			e2 = fetch_state(h, now, out);
	}
	if (e2 == BFT_OK)
		e2 = drive(h, now, out);
	arm_timer(h, now, out);
	if (h->cfg.byz != NULL)
		byz_apply(h, now, out);
	return e != BFT_OK ? e : e2;
}
