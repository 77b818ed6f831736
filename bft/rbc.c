/*
 * Reliable broadcast with erasure codes (rbc.h; Honey Badger BFT §4.2, Figure 2).
 */
#include "bft/rbc.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/cr_merkle.h"

_Static_assert(BFT_HB_BRANCH_MAX == CR_MERKLE_BRANCH_MAX, "msg.h branch bound is cr_merkle's");

/* What one sender told us: the first VAL/ECHO (root and shard) or READY (root). */
struct rbc_vote {
	bool have;
	uint8_t root[CR_DIGEST_BYTES];
	uint8_t *shard;
	uint32_t len;
};

struct rbc {
	struct rbc_config cfg;
	uint32_t k;           /* data shards: n - 2f */
	size_t shard_max;     /* the longest shard a value of payload_max bytes has */

	/* Proposer side: all n shards and their tree. */
	uint8_t *shards;
	size_t shard_len;
	struct cr_merkle tree;
	bool proposed;

	/* Our own VAL: what we echo. */
	bool have_val;
	uint8_t val_root[CR_DIGEST_BYTES];
	uint8_t *val_shard;
	uint32_t val_len;
	uint8_t val_branch[BFT_HB_BRANCH_MAX][CR_DIGEST_BYTES];
	uint32_t val_nbranch;

	struct rbc_vote *echo;   /* n entries: each sender's first valid ECHO */
	struct rbc_vote *ready;  /* n entries: each sender's first READY */

	bool sent_echo, sent_ready;
	uint8_t ready_root[CR_DIGEST_BYTES];

	bool delivered, valid;
	uint8_t *value;
	size_t value_len;
};

enum bft_err rbc_new(struct rbc **out, const struct rbc_config *cfg)
{
	struct rbc *r;

	if (cfg->rs == NULL || cfg->n == 0 || cfg->n > CR_RS_N_MAX || 2 * cfg->f >= cfg->n ||
	    cfg->self >= cfg->n || cfg->proposer >= cfg->n || cfg->rs->n != cfg->n ||
	    cfg->rs->k != cfg->n - 2 * cfg->f || cfg->payload_max > CR_RS_PAYLOAD_MAX)
		return BFT_EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return BFT_ENOMEM;
	r->cfg = *cfg;
	r->k = cfg->n - 2 * cfg->f;
	r->shard_max = cr_rs_shard_len(cfg->rs, cfg->payload_max);
	r->echo = calloc(cfg->n, sizeof(*r->echo));
	r->ready = calloc(cfg->n, sizeof(*r->ready));
	if (r->echo == NULL || r->ready == NULL) {
		rbc_free(r);
		return BFT_ENOMEM;
	}
	*out = r;
	return BFT_OK;
}

void rbc_free(struct rbc *r)
{
	if (r == NULL)
		return;
	if (r->echo != NULL)
		for (uint32_t i = 0; i < r->cfg.n; i++)
			free(r->echo[i].shard);
	free(r->echo);
	free(r->ready);
	free(r->shards);
	cr_merkle_free(&r->tree);
	free(r->val_shard);
	free(r->value);
	free(r);
}

enum bft_err rbc_encode(struct cr_rs *rs, const uint8_t *value, size_t len, uint8_t **shards,
			size_t *shard_len)
{
	size_t sl = cr_rs_shard_len(rs, len);
	uint8_t *s;

	if (sl == 0)
		return BFT_ETOOBIG;
	s = malloc(sl * rs->n);
	if (s == NULL)
		return BFT_ENOMEM;
	if (cr_rs_encode(rs, value, len, s, sl * rs->n) != 0) {
		free(s);
		return BFT_EINVAL;
	}
	*shards = s;
	*shard_len = sl;
	return BFT_OK;
}

/* Builds the Merkle tree over n shards of sl bytes each into *t. */
static enum bft_err build_tree(uint32_t n, const uint8_t *shards, size_t sl, struct cr_merkle *t)
{
	struct cr_bytes_view *leaves = calloc(n, sizeof(*leaves));
	int rc;

	if (leaves == NULL)
		return BFT_ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		leaves[i] = (struct cr_bytes_view){.p = shards + (size_t)i * sl, .len = sl};
	rc = cr_merkle_build(t, leaves, n);
	free(leaves);
	return rc == 0 ? BFT_OK : BFT_ENOMEM;
}

static enum bft_err take_val(struct rbc *r, const struct bft_hb_rbc *m, struct rbc_out *o);

enum bft_err rbc_propose_shards(struct rbc *r, uint8_t *shards, size_t shard_len,
				struct rbc_out *o)
{
	struct bft_hb_rbc m;
	enum bft_err e;

	if (r->cfg.self != r->cfg.proposer || r->proposed) {
		free(shards);
		return BFT_ESTATE;
	}
	if (shard_len == 0 || shard_len > UINT32_MAX) {
		free(shards);
		return BFT_EINVAL;
	}
	e = build_tree(r->cfg.n, shards, shard_len, &r->tree);
	if (e != BFT_OK) {
		free(shards);
		return e;
	}
	r->shards = shards;
	r->shard_len = shard_len;
	r->proposed = true;
	/* HB Figure 2: the proposer is one of the n replicas and takes its own VAL like any
	 * other, echoing its shard. */
	e = rbc_val_msg(r, r->cfg.self, &m);
	if (e == BFT_OK)
		e = take_val(r, &m, o);
	return e;
}

enum bft_err rbc_propose(struct rbc *r, const uint8_t *value, size_t len, struct rbc_out *o)
{
	uint8_t *shards;
	size_t sl;
	enum bft_err e;

	if (r->cfg.self != r->cfg.proposer || r->proposed)
		return BFT_ESTATE;
	if (len > r->cfg.payload_max)
		return BFT_ETOOBIG;
	e = rbc_encode(r->cfg.rs, value, len, &shards, &sl);
	if (e != BFT_OK)
		return e;
	return rbc_propose_shards(r, shards, sl, o);
}

enum bft_err rbc_val_msg(const struct rbc *r, bft_replica_id j, struct bft_hb_rbc *m)
{
	if (!r->proposed || j >= r->cfg.n)
		return BFT_ESTATE;
	memcpy(m->root, cr_merkle_root(&r->tree), CR_DIGEST_BYTES);
	m->index = j;
	m->shard = (struct bft_bytes){.p = r->shards + (size_t)j * r->shard_len,
				      .len = (uint32_t)r->shard_len};
	if (cr_merkle_branch(&r->tree, j, m->branch, BFT_HB_BRANCH_MAX, &m->nbranch) != 0)
		return BFT_ESTATE;
	return BFT_OK;
}

void rbc_echo_msg(const struct rbc *r, struct bft_hb_rbc *m)
{
	memcpy(m->root, r->val_root, CR_DIGEST_BYTES);
	m->index = r->cfg.self;
	m->shard = (struct bft_bytes){.p = r->val_shard, .len = r->val_len};
	memcpy(m->branch, r->val_branch, sizeof(m->branch));
	m->nbranch = r->val_nbranch;
}

const uint8_t *rbc_ready_root(const struct rbc *r)
{
	return r->ready_root;
}

bool rbc_has_val(const struct rbc *r)
{
	return r->have_val;
}

bool rbc_delivered(const struct rbc *r, bool *valid, const uint8_t **value, size_t *len)
{
	if (!r->delivered)
		return false;
	*valid = r->valid;
	*value = r->value;
	*len = r->value_len;
	return true;
}

/* A shard proves itself against its root: the branch must lead from leaf `index` of an n-leaf
 * tree to root (HB Figure 2, "check that b_j is a valid Merkle branch for root h and leaf s_j").
 * The leaf hash binds the index and the tree size (cr_merkle.h), so a shard cannot be replayed
 * under another index. */
static enum bft_err check_shard(const struct rbc *r, const struct bft_hb_rbc *m)
{
	if (m->shard.len > r->shard_max)
		return BFT_ETOOBIG;
	if (cr_merkle_verify(m->root, r->cfg.n, m->index, m->shard.p, m->shard.len,
			     (const uint8_t (*)[CR_DIGEST_BYTES])m->branch, m->nbranch) != 0)
		return BFT_EBADCERT;
	return BFT_OK;
}

/* Compares a second message from one sender with the first: the same is a duplicate, anything
 * else equivocation (the first stands). */
static enum bft_err same_or_conflict(const struct rbc_vote *v, const uint8_t root[CR_DIGEST_BYTES],
				     const struct bft_bytes *shard)
{
	bool same = cr_equal(v->root, root, CR_DIGEST_BYTES);

	if (same && shard != NULL)
		same = v->len == shard->len && memcmp(v->shard, shard->p, v->len) == 0;
	return same ? BFT_EDUP : BFT_ECONFLICT;
}

static uint32_t count_root(const struct rbc_vote *v, uint32_t n, const uint8_t root[CR_DIGEST_BYTES])
{
	uint32_t c = 0;

	for (uint32_t i = 0; i < n; i++)
		if (v[i].have && cr_equal(v[i].root, root, CR_DIGEST_BYTES))
			c++;
	return c;
}

/* The root that at least `need` senders voted for in v, if any. */
static const uint8_t *root_with(const struct rbc_vote *v, uint32_t n, uint32_t need)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i].have && count_root(v, n, v[i].root) >= need)
			return v[i].root;
	return NULL;
}

/* Decodes the value from k ECHOs for root, re-encodes it and compares the Merkle root
 * (HB Figure 2, "upon receiving 2f+1 READY(h) messages, wait for N-2f ECHO messages, then
 * decode v"; the re-encoding check is what makes a faulty proposer's shards deliver the same
 * outcome everywhere). Returns false while fewer than k ECHOs for root are in. */
static bool try_decode(struct rbc *r, const uint8_t root[CR_DIGEST_BYTES])
{
	struct cr_rs_shard in[CR_RS_N_MAX];
	uint32_t got = 0;
	size_t sl = 0, len = 0, cap;
	uint8_t *buf, *shards = NULL, *copy;
	struct cr_merkle t = {0};
	bool ok = false;

	for (uint32_t i = 0; i < r->cfg.n && got < r->k; i++) {
		const struct rbc_vote *v = &r->echo[i];

		if (!v->have || !cr_equal(v->root, root, CR_DIGEST_BYTES))
			continue;
		in[got++] = (struct cr_rs_shard){.index = i, .p = v->shard, .len = v->len};
		if (v->len > sl)
			sl = v->len;
	}
	if (got < r->k)
		return false;
	r->delivered = true;
	r->valid = false;
	cap = sl * r->k;
	buf = malloc(cap ? cap : 1);
	if (buf == NULL) {
		/* Out of memory is ours, not the proposer's: stay undelivered and retry on the
		 * next message rather than deliver a wrong "invalid". */
		r->delivered = false;
		return false;
	}
	/* Shards of different lengths, a bad length prefix or padding: not a codeword. */
	if (cr_rs_decode(r->cfg.rs, in, got, buf, cap, &len) == 0 && len <= r->cfg.payload_max) {
		size_t sl2;

		if (rbc_encode(r->cfg.rs, buf, len, &shards, &sl2) == BFT_OK &&
		    build_tree(r->cfg.n, shards, sl2, &t) == BFT_OK)
			ok = cr_equal(cr_merkle_root(&t), root, CR_DIGEST_BYTES);
		cr_merkle_free(&t);
		free(shards);
	}
	if (ok) {
		copy = realloc(buf, len ? len : 1);
		r->value = copy != NULL ? copy : buf;
		r->value_len = len;
		r->valid = true;
	} else {
		free(buf);
	}
	return true;
}

/* Runs the thresholds after any change (HB Figure 2). */
static void progress(struct rbc *r, struct rbc_out *o)
{
	uint32_t n = r->cfg.n, f = r->cfg.f;
	const uint8_t *root;

	if (!r->sent_ready) {
		/* Bracha's amplification: n - f ECHOs, or f+1 READYs (one of them from a correct
		 * replica), for one root. */
		root = root_with(r->echo, n, n - f);
		if (root == NULL)
			root = root_with(r->ready, n, f + 1);
		if (root != NULL) {
			r->sent_ready = true;
			memcpy(r->ready_root, root, CR_DIGEST_BYTES);
			r->ready[r->cfg.self].have = true;
			memcpy(r->ready[r->cfg.self].root, root, CR_DIGEST_BYTES);
			o->ready = true;
		}
	}
	if (!r->delivered) {
		root = root_with(r->ready, n, 2 * f + 1);
		if (root != NULL && try_decode(r, root))
			o->delivered = true;
	}
}

static enum bft_err take_val(struct rbc *r, const struct bft_hb_rbc *m, struct rbc_out *o)
{
	struct rbc_vote *mine = &r->echo[r->cfg.self];

	r->val_shard = malloc(m->shard.len ? m->shard.len : 1);
	if (r->val_shard == NULL)
		return BFT_ENOMEM;
	mine->shard = malloc(m->shard.len ? m->shard.len : 1);
	if (mine->shard == NULL) {
		free(r->val_shard);
		r->val_shard = NULL;
		return BFT_ENOMEM;
	}
	memcpy(r->val_shard, m->shard.p, m->shard.len);
	memcpy(mine->shard, m->shard.p, m->shard.len);
	r->val_len = mine->len = m->shard.len;
	memcpy(r->val_root, m->root, CR_DIGEST_BYTES);
	memcpy(mine->root, m->root, CR_DIGEST_BYTES);
	memcpy(r->val_branch, m->branch, sizeof(r->val_branch));
	r->val_nbranch = m->nbranch;
	r->have_val = true;
	mine->have = true;
	/* HB Figure 2: "upon receiving VAL(h, b_i, s_i) from P_Sender, multicast ECHO(h, b_i,
	 * s_i)"; our own ECHO counts towards our thresholds. */
	r->sent_echo = true;
	o->echo = true;
	progress(r, o);
	return BFT_OK;
}

enum bft_err rbc_on_val(struct rbc *r, bft_replica_id from, const struct bft_hb_rbc *m,
			struct rbc_out *o)
{
	enum bft_err e;

	if (from != r->cfg.proposer)
		return BFT_ENOTPRIMARY;
	if (m->index != r->cfg.self)
		return BFT_EINVAL;
	e = check_shard(r, m);
	if (e != BFT_OK)
		return e;
	if (r->have_val) {
		struct rbc_vote v = {.have = true, .shard = r->val_shard, .len = r->val_len};

		memcpy(v.root, r->val_root, CR_DIGEST_BYTES);
		return same_or_conflict(&v, m->root, &m->shard);
	}
	if (r->echo[r->cfg.self].have) {
		/* We never echo twice. (Only our own VAL fills our echo slot, so this does not
		 * happen; the check keeps the invariant local.) */
		return BFT_ESTATE;
	}
	return take_val(r, m, o);
}

enum bft_err rbc_on_echo(struct rbc *r, bft_replica_id from, const struct bft_hb_rbc *m,
			 struct rbc_out *o)
{
	struct rbc_vote *v;
	enum bft_err e;

	if (from >= r->cfg.n || from == r->cfg.self)
		return BFT_ESENDER;
	if (m->index != from)
		return BFT_EINVAL;
	e = check_shard(r, m);
	if (e != BFT_OK)
		return e;
	v = &r->echo[from];
	if (v->have)
		return same_or_conflict(v, m->root, &m->shard);
	v->shard = malloc(m->shard.len ? m->shard.len : 1);
	if (v->shard == NULL)
		return BFT_ENOMEM;
	memcpy(v->shard, m->shard.p, m->shard.len);
	v->len = m->shard.len;
	memcpy(v->root, m->root, CR_DIGEST_BYTES);
	v->have = true;
	progress(r, o);
	return BFT_OK;
}

enum bft_err rbc_on_ready(struct rbc *r, bft_replica_id from,
			  const uint8_t root[CR_DIGEST_BYTES], struct rbc_out *o)
{
	struct rbc_vote *v;

	if (from >= r->cfg.n || from == r->cfg.self)
		return BFT_ESENDER;
	v = &r->ready[from];
	if (v->have)
		return same_or_conflict(v, root, NULL);
	memcpy(v->root, root, CR_DIGEST_BYTES);
	v->have = true;
	progress(r, o);
	return BFT_OK;
}
