/*
 * history.c: recording, the text format, and the linearizability checker (node/history.h).
 *
 * The checker does not search for a linearization: the store already chose one and numbered it
 * (the revision in every result). It places each op where its result says it ran and checks
 * that this placement respects real time and the sequential specification of each key. That is
 * O(n log n) for n ops, where a general checker (Wing & Gong, Knossos) is exponential.
 */
#include "node/history.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/kv_op.h"

static const char *const kind_names[HIST_KIND_COUNT] = {"put", "get", "del", "cas", "txn", "list"};
static const char *const outcome_names[HIST_OUTCOME_COUNT] = {"ok", "not-found", "compare-failed",
							      "refused", "unknown"};

/* ---------------------------------------------------------------------------------------------
 * Records
 */

static int bytes_set(struct hist_bytes *b, const uint8_t *p, size_t len)
{
	b->p = NULL;
	b->len = 0;
	if (len == 0)
		return 0;
	b->p = malloc(len);
	if (b->p == NULL)
		return -1;
	memcpy(b->p, p, len);
	b->len = len;
	return 0;
}

static void bytes_free(struct hist_bytes *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
}

static bool bytes_eq(const struct hist_bytes *a, const struct hist_bytes *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static bool raw_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void sub_free(struct hist_sub *s)
{
	bytes_free(&s->key);
	bytes_free(&s->value);
	bytes_free(&s->read);
}

static void entry_free(struct hist_entry *e)
{
	bytes_free(&e->key);
	bytes_free(&e->value);
}

/* The results of a record, so that hist_return can build them aside and swap them in whole. */
static void op_free_results(struct hist_op *op)
{
	bytes_free(&op->read);
	for (uint32_t i = 0; i < op->nentries; i++)
		entry_free(&op->entries[i]);
	free(op->entries);
	op->entries = NULL;
	op->nentries = 0;
}

static void op_free(struct hist_op *op)
{
	bytes_free(&op->key);
	bytes_free(&op->value);
	op_free_results(op);
	for (uint32_t i = 0; i < op->nsubs; i++)
		sub_free(&op->subs[i]);
	free(op->subs);
	memset(op, 0, sizeof(*op));
}

static int op_copy(struct hist_op *dst, const struct hist_op *src)
{
	*dst = *src;
	dst->key = dst->value = dst->read = (struct hist_bytes){0};
	dst->subs = NULL;
	dst->entries = NULL;
	dst->nsubs = dst->nentries = 0;
	if (bytes_set(&dst->key, src->key.p, src->key.len) != 0 ||
	    bytes_set(&dst->value, src->value.p, src->value.len) != 0 ||
	    bytes_set(&dst->read, src->read.p, src->read.len) != 0)
		goto fail;
	if (src->nsubs > 0) {
		dst->subs = calloc(src->nsubs, sizeof(*dst->subs));
		if (dst->subs == NULL)
			goto fail;
		for (uint32_t i = 0; i < src->nsubs; i++) {
			const struct hist_sub *s = &src->subs[i];
			struct hist_sub *d = &dst->subs[i];

			*d = *s;
			d->key = d->value = d->read = (struct hist_bytes){0};
			dst->nsubs = i + 1;
			if (bytes_set(&d->key, s->key.p, s->key.len) != 0 ||
			    bytes_set(&d->value, s->value.p, s->value.len) != 0 ||
			    bytes_set(&d->read, s->read.p, s->read.len) != 0)
				goto fail;
		}
	}
	if (src->nentries > 0) {
		dst->entries = calloc(src->nentries, sizeof(*dst->entries));
		if (dst->entries == NULL)
			goto fail;
		for (uint32_t i = 0; i < src->nentries; i++) {
			const struct hist_entry *s = &src->entries[i];
			struct hist_entry *d = &dst->entries[i];

			*d = *s;
			d->key = d->value = (struct hist_bytes){0};
			dst->nentries = i + 1;
			if (bytes_set(&d->key, s->key.p, s->key.len) != 0 ||
			    bytes_set(&d->value, s->value.p, s->value.len) != 0)
				goto fail;
		}
	}
	return 0;
fail:
	op_free(dst);
	return -1;
}

void hist_init(struct hist *h, bool realtime)
{
	memset(h, 0, sizeof(*h));
	h->realtime = realtime;
}

void hist_free(struct hist *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++)
		op_free(&h->ops[i]);
	free(h->ops);
	h->ops = NULL;
	h->n = h->cap = 0;
}

uint64_t hist_now_us(const struct hist *h)
{
	struct timespec ts;

	clock_gettime(h->realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Room for one more record; the new slot is zeroed. */
static struct hist_op *hist_slot(struct hist *h)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct hist_op *ops = realloc(h->ops, cap * sizeof(*ops));

		if (ops == NULL)
			return NULL;
		h->ops = ops;
		h->cap = cap;
	}
	memset(&h->ops[h->n], 0, sizeof(h->ops[h->n]));
	return &h->ops[h->n];
}

static bool numbers_zero(uint64_t a, uint64_t b, uint64_t c)
{
	return a == 0 && b == 0 && c == 0;
}

static bool numbers_in_range(uint64_t a, uint64_t b, uint64_t c)
{
	return a < HIST_REV_LIMIT && b < HIST_REV_LIMIT && c < HIST_REV_LIMIT;
}

static const char *sub_check(const struct hist_op *op, const struct hist_sub *s)
{
	bool ran = op->outcome == HIST_OK && s->in_else == !op->succeeded;

	if (s->kind != HIST_PUT && s->kind != HIST_GET && s->kind != HIST_DEL &&
	    s->kind != HIST_LIST)
		return "a txn op is not put, get, del or list";
	if (s->key.len == 0 && s->kind != HIST_LIST)
		return "a txn op has an empty key";
	if (s->value.len != 0 && s->kind != HIST_PUT)
		return "a txn op other than put carries a value";
	if (ran != (s->state != HIST_SUB_NOT_RUN))
		return ran ? "an op of the txn branch that ran has no result"
			   : "an op of a txn branch that did not run has a result";
	if (s->state > HIST_SUB_NOT_FOUND ||
	    (s->state == HIST_SUB_NOT_FOUND && s->kind != HIST_GET && s->kind != HIST_DEL))
		return "a txn op has a result its kind cannot have";
	if (!numbers_in_range(s->version, s->create_rev, s->mod_rev))
		return "a txn op's numbers are out of range";
	if (s->read.len != 0 && !(s->kind == HIST_GET && s->state == HIST_SUB_OK))
		return "a txn op other than a found get carries a value read";
	if (!(s->state == HIST_SUB_OK && (s->kind == HIST_PUT || s->kind == HIST_GET)) &&
	    !numbers_zero(s->version, s->create_rev, s->mod_rev))
		return "a txn op carries numbers its result does not have";
	return NULL;
}

const char *hist_op_check(const struct hist_op *op)
{
	bool unknown = op->outcome == HIST_UNKNOWN;
	bool ok = op->outcome == HIST_OK;
	bool numbers = false;

	if (op->kind >= HIST_KIND_COUNT || op->outcome >= HIST_OUTCOME_COUNT)
		return "unknown kind or outcome";
	if (op->key.len == 0 && op->kind != HIST_LIST && op->kind != HIST_TXN)
		return "empty key";
	if (op->key.len != 0 && op->kind == HIST_TXN)
		return "a txn has no key of its own";
	if (op->value.len != 0 && op->kind != HIST_PUT && op->kind != HIST_CAS)
		return "a value written by an op that writes none";
	if (op->expected != 0 && op->kind != HIST_CAS)
		return "an expected version on an op other than cas";
	if (unknown ? op->ret_us != 0 || op->has_rev : op->ret_us < op->call_us)
		return unknown ? "an unknown outcome with a return time or a revision"
			       : "returned before it was called";
	if (!unknown && op->outcome != HIST_REFUSED && !op->has_rev)
		return "a result without a revision";
	if (!op->has_rev && op->rev != 0)
		return "a revision marked absent is not 0";
	if (op->rev >= HIST_REV_LIMIT || op->expected >= HIST_REV_LIMIT)
		return "a revision or version out of range";
	if (op->outcome == HIST_NOT_FOUND && op->kind != HIST_GET && op->kind != HIST_DEL)
		return "not-found for an op other than get or del";
	if (op->outcome == HIST_COMPARE_FAILED && op->kind != HIST_CAS)
		return "compare-failed for an op other than cas";
	if (ok && (op->kind == HIST_PUT || op->kind == HIST_CAS || op->kind == HIST_GET))
		numbers = true;
	if (!numbers_in_range(op->version, op->create_rev, op->mod_rev))
		return "numbers out of range";
	if (op->outcome == HIST_COMPARE_FAILED) {
		if (op->create_rev != 0 || op->mod_rev != 0)
			return "a failed cas carries numbers other than the version";
	} else if (!numbers && !numbers_zero(op->version, op->create_rev, op->mod_rev)) {
		return "numbers on a result that has none";
	}
	if (op->read.len != 0 && !(ok && op->kind == HIST_GET))
		return "a value read on a result that has none";
	if (op->succeeded && !(ok && op->kind == HIST_TXN))
		return "succeeded on a result other than an ok txn";
	if (op->nsubs != 0 && op->kind != HIST_TXN)
		return "txn ops on an op other than txn";
	if (op->nentries != 0 && !(ok && op->kind == HIST_LIST))
		return "list entries on a result other than an ok list";
	for (uint32_t i = 0; i < op->nsubs; i++) {
		const char *why = sub_check(op, &op->subs[i]);

		if (why != NULL)
			return why;
	}
	for (uint32_t i = 0; i < op->nentries; i++) {
		const struct hist_entry *e = &op->entries[i];

		if (e->key.len == 0)
			return "a list entry with an empty key";
		if (!e->has_value && e->value.len != 0)
			return "a list entry without a value carries one";
		if (!numbers_in_range(e->version, e->create_rev, e->mod_rev))
			return "a list entry's numbers are out of range";
	}
	return NULL;
}

enum bft_err hist_add(struct hist *h, const struct hist_op *op)
{
	struct hist_op *slot;

	if (hist_op_check(op) != NULL)
		return BFT_EINVAL;
	slot = hist_slot(h);
	if (slot == NULL || op_copy(slot, op) != 0)
		return BFT_ENOMEM;
	h->n++;
	return BFT_OK;
}

static enum hist_kind kind_of(enum kv_op_code code)
{
	switch (code) {
	case KV_OP_PUT:
		return HIST_PUT;
	case KV_OP_GET:
		return HIST_GET;
	case KV_OP_DEL:
		return HIST_DEL;
	case KV_OP_CAS:
		return HIST_CAS;
	case KV_OP_LIST:
		return HIST_LIST;
	default:
		return HIST_TXN;
	}
}

/* Limits that let the decoder accept every well-formed op: which ops are too big is for the
 * store to say, and its answer (refused) is what gets recorded. */
static void decode_limits(struct kv_limits *l)
{
	kv_limits_default(l);
	l->key_max = UINT32_MAX;
	l->value_max = UINT32_MAX;
	l->list_max = UINT32_MAX;
	l->txn_max = UINT32_MAX;
	l->result_max = UINT32_MAX;
}

/* Leases are outside what the checker models: a leased key vanishes when its lease expires or
 * is revoked, at a revision no recorded op created, so such ops are not recorded at all. */
static bool recordable(const struct kv_limits *lim, const struct kv_op *o)
{
	struct kv_cursor c;

	switch (o->req.code) {
	case KV_OP_GET:
	case KV_OP_DEL:
	case KV_OP_CAS:
	case KV_OP_LIST:
		return true;
	case KV_OP_PUT:
		return o->req.lease == 0;
	case KV_OP_TXN:
		kv_cursor_init(&c, &o->then_ops);
		for (uint32_t i = 0; i < o->nthen + o->nelse; i++) {
			struct kv_req q;

			if (i == o->nthen)
				kv_cursor_init(&c, &o->else_ops);
			kv_txn_next_req(lim, &c, &q);
			if (q.code == KV_OP_PUT && q.lease != 0)
				return false;
		}
		return true;
	default:
		return false;
	}
}

static int sub_from_req(struct hist_sub *s, const struct kv_req *q, bool in_else)
{
	s->in_else = in_else;
	s->kind = kind_of(q->code);
	if (bytes_set(&s->key, q->key.p, q->key.len) != 0)
		return -1;
	if (q->code == KV_OP_PUT && bytes_set(&s->value, q->value.p, q->value.len) != 0)
		return -1;
	return 0;
}

enum bft_err hist_call(struct hist *h, uint64_t client, const uint8_t *op, size_t len,
		       uint64_t call_us, size_t *idx)
{
	struct kv_limits lim;
	struct kv_op o;
	struct hist_op *rec;

	decode_limits(&lim);
	if (kv_op_decode(&lim, op, len, &o) != KV_OK)
		return BFT_EMALFORMED;
	if (!recordable(&lim, &o))
		return BFT_EINVAL;
	rec = hist_slot(h);
	if (rec == NULL)
		return BFT_ENOMEM;
	rec->client = client;
	rec->kind = kind_of(o.req.code);
	rec->call_us = call_us;
	rec->outcome = HIST_UNKNOWN;
	if (rec->kind == HIST_TXN) {
		uint32_t n = o.nthen + o.nelse;
		struct kv_cursor c;

		if (n > 0) {
			rec->subs = calloc(n, sizeof(*rec->subs));
			if (rec->subs == NULL)
				goto nomem;
		}
		kv_cursor_init(&c, &o.then_ops);
		for (uint32_t i = 0; i < o.nthen; i++) {
			struct kv_req q;

			kv_txn_next_req(&lim, &c, &q);
			rec->nsubs++;
			if (sub_from_req(&rec->subs[i], &q, false) != 0)
				goto nomem;
		}
		kv_cursor_init(&c, &o.else_ops);
		for (uint32_t i = 0; i < o.nelse; i++) {
			struct kv_req q;

			kv_txn_next_req(&lim, &c, &q);
			rec->nsubs++;
			if (sub_from_req(&rec->subs[o.nthen + i], &q, true) != 0)
				goto nomem;
		}
	} else {
		if (bytes_set(&rec->key, o.req.key.p, o.req.key.len) != 0)
			goto nomem;
		if ((rec->kind == HIST_PUT || rec->kind == HIST_CAS) &&
		    bytes_set(&rec->value, o.req.value.p, o.req.value.len) != 0)
			goto nomem;
		if (rec->kind == HIST_CAS)
			rec->expected = o.req.version;
	}
	if (hist_op_check(rec) != NULL) {
		/* Only a CAS expecting a version no store reaches gets here. */
		op_free(rec);
		return BFT_EMALFORMED;
	}
	*idx = h->n++;
	return BFT_OK;
nomem:
	op_free(rec);
	return BFT_ENOMEM;
}

/* The result of one TXN op into its record; -1 for a result that op cannot have. */
static int sub_result(struct hist_sub *s, const struct kv_result *r, bool *nomem)
{
	if (r->code != (s->kind == HIST_PUT   ? KV_OP_PUT
			: s->kind == HIST_GET ? KV_OP_GET
			: s->kind == HIST_DEL ? KV_OP_DEL
					      : KV_OP_LIST))
		return -1;
	if (r->status == KV_NOT_FOUND && (s->kind == HIST_GET || s->kind == HIST_DEL)) {
		s->state = HIST_SUB_NOT_FOUND;
		return 0;
	}
	if (r->status != KV_OK)
		return -1;
	s->state = HIST_SUB_OK;
	if (s->kind == HIST_PUT || s->kind == HIST_GET) {
		s->version = r->version;
		s->create_rev = r->create_rev;
		s->mod_rev = r->mod_rev;
	}
	if (s->kind == HIST_GET && bytes_set(&s->read, r->value.p, r->value.len) != 0) {
		*nomem = true;
		return -1;
	}
	return 0;
}

enum bft_err hist_return(struct hist *h, size_t idx, const uint8_t *result, size_t len,
			 uint64_t ret_us)
{
	struct hist_op *rec, tmp;
	struct kv_result r;
	enum bft_err e = BFT_EMALFORMED;
	bool nomem = false;

	if (idx >= h->n)
		return BFT_EINVAL;
	rec = &h->ops[idx];
	if (rec->outcome != HIST_UNKNOWN || ret_us < rec->call_us)
		return BFT_EINVAL;
	e = kv_result_decode(result, len, &r);
	if (e != BFT_OK)
		return e;
	/* Built in a copy and swapped in whole, so that a bad result leaves the record as it was. */
	if (op_copy(&tmp, rec) != 0) {
		kv_result_free(&r);
		return BFT_ENOMEM;
	}
	e = BFT_EMALFORMED;
	if (r.code != (rec->kind == HIST_PUT   ? KV_OP_PUT
		       : rec->kind == HIST_GET ? KV_OP_GET
		       : rec->kind == HIST_DEL ? KV_OP_DEL
		       : rec->kind == HIST_CAS ? KV_OP_CAS
		       : rec->kind == HIST_LIST ? KV_OP_LIST
						: KV_OP_TXN))
		goto out;
	tmp.ret_us = ret_us;
	tmp.has_rev = true;
	tmp.rev = r.revision;
	switch (r.status) {
	case KV_OK:
		tmp.outcome = HIST_OK;
		break;
	case KV_NOT_FOUND:
		tmp.outcome = HIST_NOT_FOUND;
		break;
	case KV_COMPARE_FAILED:
		tmp.outcome = HIST_COMPARE_FAILED;
		tmp.version = r.version;
		break;
	default:
		tmp.outcome = HIST_REFUSED;
		break;
	}
	if (tmp.outcome == HIST_OK) {
		if (tmp.kind == HIST_GET && bytes_set(&tmp.read, r.value.p, r.value.len) != 0) {
			nomem = true;
			goto out;
		}
		switch (tmp.kind) {
		case HIST_GET:
		case HIST_PUT:
		case HIST_CAS:
			tmp.version = r.version;
			tmp.create_rev = r.create_rev;
			tmp.mod_rev = r.mod_rev;
			break;
		case HIST_LIST:
			if (r.nentries > 0) {
				tmp.entries = calloc(r.nentries, sizeof(*tmp.entries));
				if (tmp.entries == NULL) {
					nomem = true;
					goto out;
				}
			}
			for (uint32_t i = 0; i < r.nentries; i++) {
				const struct kv_entry *s = &r.entries[i];
				struct hist_entry *d = &tmp.entries[i];

				tmp.nentries = i + 1;
				d->has_value = s->has_value;
				d->version = s->version;
				d->create_rev = s->create_rev;
				d->mod_rev = s->mod_rev;
				if (bytes_set(&d->key, s->key.p, s->key.len) != 0 ||
				    bytes_set(&d->value, s->value.p, s->value.len) != 0) {
					nomem = true;
					goto out;
				}
			}
			break;
		case HIST_TXN: {
			uint32_t k = 0;

			tmp.succeeded = r.succeeded;
			for (uint32_t i = 0; i < tmp.nsubs; i++) {
				struct hist_sub *s = &tmp.subs[i];

				if (s->in_else == r.succeeded)
					continue;
				if (k >= r.nresults || sub_result(s, &r.results[k++], &nomem) != 0)
					goto out;
			}
			if (k != r.nresults)
				goto out;
			break;
		}
		case HIST_DEL:
		default:
			break;
		}
	}
	if (hist_op_check(&tmp) != NULL)
		goto out;
	op_free(rec);
	*rec = tmp;
	kv_result_free(&r);
	return BFT_OK;
out:
	op_free(&tmp);
	kv_result_free(&r);
	return nomem ? BFT_ENOMEM : e;
}

enum bft_err hist_refuse(struct hist *h, size_t idx, uint64_t ret_us)
{
	struct hist_op *rec;

	if (idx >= h->n)
		return BFT_EINVAL;
	rec = &h->ops[idx];
	if (rec->outcome != HIST_UNKNOWN || ret_us < rec->call_us)
		return BFT_EINVAL;
	rec->outcome = HIST_REFUSED;
	rec->ret_us = ret_us;
	return BFT_OK;
}

static bool sub_equal(const struct hist_sub *a, const struct hist_sub *b)
{
	return a->in_else == b->in_else && a->kind == b->kind && bytes_eq(&a->key, &b->key) &&
	       bytes_eq(&a->value, &b->value) && a->state == b->state &&
	       bytes_eq(&a->read, &b->read) && a->version == b->version &&
	       a->create_rev == b->create_rev && a->mod_rev == b->mod_rev;
}

static bool entry_equal(const struct hist_entry *a, const struct hist_entry *b)
{
	return bytes_eq(&a->key, &b->key) && bytes_eq(&a->value, &b->value) &&
	       a->has_value == b->has_value && a->version == b->version &&
	       a->create_rev == b->create_rev && a->mod_rev == b->mod_rev;
}

static bool op_equal(const struct hist_op *a, const struct hist_op *b)
{
	if (a->client != b->client || a->kind != b->kind || !bytes_eq(&a->key, &b->key) ||
	    !bytes_eq(&a->value, &b->value) || a->expected != b->expected ||
	    a->call_us != b->call_us || a->ret_us != b->ret_us || a->outcome != b->outcome ||
	    a->has_rev != b->has_rev || a->rev != b->rev || !bytes_eq(&a->read, &b->read) ||
	    a->version != b->version || a->create_rev != b->create_rev ||
	    a->mod_rev != b->mod_rev || a->succeeded != b->succeeded || a->nsubs != b->nsubs ||
	    a->nentries != b->nentries)
		return false;
	for (uint32_t i = 0; i < a->nsubs; i++)
		if (!sub_equal(&a->subs[i], &b->subs[i]))
			return false;
	for (uint32_t i = 0; i < a->nentries; i++)
		if (!entry_equal(&a->entries[i], &b->entries[i]))
			return false;
	return true;
}

bool hist_equal(const struct hist *a, const struct hist *b)
{
	if (a->n != b->n || a->realtime != b->realtime)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!op_equal(&a->ops[i], &b->ops[i]))
			return false;
	return true;
}

/* ---------------------------------------------------------------------------------------------
 * Text: a growable string for lines and reports, the writer and the strict parser.
 */

struct sb {
	char *p;
	size_t len, cap;
	bool nomem; /* the first allocation failure; everything after it is dropped */
};

static bool sb_room(struct sb *b, size_t n)
{
	if (b->nomem)
		return false;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL) {
			b->nomem = true;
			return false;
		}
		b->p = p;
		b->cap = cap;
	}
	return true;
}

static void sb_putc(struct sb *b, char c)
{
	if (!sb_room(b, 1))
		return;
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
	size_t n = strlen(s);

	if (!sb_room(b, n))
		return;
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

static void sb_vprintf(struct sb *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void sb_vprintf(struct sb *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0 || !sb_room(b, (size_t)n))
		return;
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb_vprintf(b, fmt, ap);
	va_end(ap);
}

static void sb_u64(struct sb *b, uint64_t v)
{
	sb_printf(b, "%llu", (unsigned long long)v);
}

/* Bytes written raw in a quoted string: printable ASCII but space, the quote and backslash. */
static bool raw_byte(uint8_t c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* A quoted string. max > 0 shortens it for reports (not parseable then): the first max bytes
 * and the full length. */
static void sb_str(struct sb *b, const uint8_t *p, size_t len, size_t max)
{
	size_t n = max > 0 && len > max ? max : len;

	sb_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (raw_byte(p[i]))
			sb_putc(b, (char)p[i]);
		else if (p[i] == '"' || p[i] == '\\')
			sb_printf(b, "\\%c", p[i]);
		else
			sb_printf(b, "\\x%02x", p[i]);
	}
	sb_putc(b, '"');
	if (n < len)
		sb_printf(b, "...(%zu bytes)", len);
}

static void sb_bytes(struct sb *b, const struct hist_bytes *v, size_t max)
{
	sb_str(b, v->p, v->len, max);
}

static void sb_sub(struct sb *b, const struct hist_sub *s, size_t max)
{
	sb_printf(b, " %c:%s:", s->in_else ? 'e' : 't', kind_names[s->kind]);
	sb_bytes(b, &s->key, max);
	if (s->kind == HIST_PUT) {
		sb_putc(b, ':');
		sb_bytes(b, &s->value, max);
	}
	if (s->state == HIST_SUB_NOT_FOUND) {
		sb_puts(b, ":not-found");
	} else if (s->state == HIST_SUB_OK) {
		sb_puts(b, ":ok");
		if (s->kind == HIST_GET) {
			sb_putc(b, ':');
			sb_bytes(b, &s->read, max);
		}
		if (s->kind == HIST_PUT || s->kind == HIST_GET)
			sb_printf(b, ":%llu:%llu:%llu", (unsigned long long)s->version,
				  (unsigned long long)s->create_rev, (unsigned long long)s->mod_rev);
	}
}

/* One record in the text format, without the newline. max > 0 shortens values (reports). */
static void sb_op(struct sb *b, const struct hist_op *op, size_t max)
{
	sb_printf(b, "c=%llu %s", (unsigned long long)op->client, kind_names[op->kind]);
	if (op->kind != HIST_TXN) {
		sb_puts(b, " k=");
		sb_bytes(b, &op->key, max);
	}
	if (op->kind == HIST_CAS)
		sb_printf(b, " exp=%llu", (unsigned long long)op->expected);
	if (op->kind == HIST_PUT || op->kind == HIST_CAS) {
		sb_puts(b, " v=");
		sb_bytes(b, &op->value, max);
	}
	sb_printf(b, " call=%llu ret=", (unsigned long long)op->call_us);
	if (op->outcome == HIST_UNKNOWN)
		sb_putc(b, '-');
	else
		sb_u64(b, op->ret_us);
	sb_printf(b, " %s", outcome_names[op->outcome]);
	if (op->outcome != HIST_UNKNOWN) {
		sb_puts(b, " rev=");
		if (op->has_rev)
			sb_u64(b, op->rev);
		else
			sb_putc(b, '-');
	}
	if (op->outcome == HIST_COMPARE_FAILED)
		sb_printf(b, " ver=%llu", (unsigned long long)op->version);
	if (op->outcome == HIST_OK) {
		if (op->kind == HIST_GET) {
			sb_puts(b, " val=");
			sb_bytes(b, &op->read, max);
		}
		if (op->kind == HIST_GET || op->kind == HIST_PUT || op->kind == HIST_CAS)
			sb_printf(b, " ver=%llu crev=%llu mrev=%llu", (unsigned long long)op->version,
				  (unsigned long long)op->create_rev,
				  (unsigned long long)op->mod_rev);
		if (op->kind == HIST_LIST) {
			sb_printf(b, " entries=%u", op->nentries);
			for (uint32_t i = 0; i < op->nentries; i++) {
				const struct hist_entry *e = &op->entries[i];

				sb_putc(b, ' ');
				sb_bytes(b, &e->key, max);
				sb_putc(b, ':');
				if (e->has_value)
					sb_bytes(b, &e->value, max);
				else
					sb_putc(b, '-');
				sb_printf(b, ":%llu:%llu:%llu", (unsigned long long)e->version,
					  (unsigned long long)e->create_rev,
					  (unsigned long long)e->mod_rev);
			}
		}
		if (op->kind == HIST_TXN)
			sb_printf(b, " succeeded=%d", op->succeeded ? 1 : 0);
	}
	if (op->kind == HIST_TXN) {
		sb_printf(b, " subs=%u", op->nsubs);
		for (uint32_t i = 0; i < op->nsubs; i++)
			sb_sub(b, &op->subs[i], max);
	}
}

enum bft_err hist_write(const struct hist *h, FILE *f)
{
	struct sb b = {0};
	enum bft_err e = BFT_OK;

	if (fprintf(f, "bfthist 1 clock=%s\n", h->realtime ? "realtime" : "monotonic") < 0)
		return BFT_EINVAL;
	for (size_t i = 0; i < h->n; i++) {
		b.len = 0;
		sb_op(&b, &h->ops[i], 0);
		sb_putc(&b, '\n');
		if (b.nomem) {
			e = BFT_ENOMEM;
			break;
		}
		if (fwrite(b.p, 1, b.len, f) != b.len) {
			e = BFT_EINVAL;
			break;
		}
	}
	free(b.p);
	if (e == BFT_OK && fflush(f) != 0)
		e = BFT_EINVAL;
	return e;
}

/* The parser: a cursor over one line; every step either consumes exactly the canonical text
 * or fails with a reason. */
struct pc {
	const char *s;
	size_t len, off;
	const char *why;
	bool nomem;
};

static int pc_fail(struct pc *c, const char *why)
{
	if (c->why == NULL)
		c->why = why;
	return -1;
}

static bool pc_peek(const struct pc *c, const char *lit)
{
	size_t n = strlen(lit);

	return c->len - c->off >= n && memcmp(c->s + c->off, lit, n) == 0;
}

static int pc_lit(struct pc *c, const char *lit, const char *why)
{
	if (!pc_peek(c, lit))
		return pc_fail(c, why);
	c->off += strlen(lit);
	return 0;
}

static int pc_u64(struct pc *c, uint64_t *v)
{
	uint64_t x = 0;
	size_t start = c->off;

	while (c->off < c->len && c->s[c->off] >= '0' && c->s[c->off] <= '9') {
		uint64_t d = (uint64_t)(c->s[c->off] - '0');

		if (x > (UINT64_MAX - d) / 10)
			return pc_fail(c, "a number out of range");
		x = x * 10 + d;
		c->off++;
	}
	if (c->off == start)
		return pc_fail(c, "a number expected");
	if (c->s[start] == '0' && c->off - start > 1)
		return pc_fail(c, "a number with a leading zero");
	*v = x;
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* A quoted string in its canonical form: raw_byte bytes as themselves, \" and \\, and \xNN
 * (lowercase) for exactly the other bytes. */
static int pc_str(struct pc *c, struct hist_bytes *out)
{
	size_t n = 0, i;
	uint8_t *p;

	if (c->off >= c->len || c->s[c->off] != '"')
		return pc_fail(c, "a quoted string expected");
	/* First pass: check it and count the bytes. */
	for (i = c->off + 1;; n++) {
		if (i >= c->len)
			return pc_fail(c, "an unterminated string");
		uint8_t ch = (uint8_t)c->s[i];
		if (ch == '"')
			break;
		if (ch != '\\') {
			if (!raw_byte(ch))
				return pc_fail(c, "a byte that must be escaped appears raw in a string");
			i++;
			continue;
		}
		if (i + 1 < c->len && (c->s[i + 1] == '"' || c->s[i + 1] == '\\')) {
			i += 2;
			continue;
		}
		if (i + 3 < c->len && c->s[i + 1] == 'x' && hexval(c->s[i + 2]) >= 0 &&
		    hexval(c->s[i + 3]) >= 0) {
			uint8_t v = (uint8_t)(hexval(c->s[i + 2]) * 16 + hexval(c->s[i + 3]));

			if (raw_byte(v) || v == '"' || v == '\\')
				return pc_fail(c, "a byte escaped that is written raw (or as \\\" \\\\)");
			i += 4;
			continue;
		}
		return pc_fail(c, "a bad escape in a string (\\\" \\\\ \\xNN, lowercase)");
	}
	p = n ? malloc(n) : NULL;
	if (n && p == NULL) {
		c->nomem = true;
		return pc_fail(c, "out of memory");
	}
	n = 0;
	for (i = c->off + 1; c->s[i] != '"'; n++) {
		if (c->s[i] != '\\') {
			p[n] = (uint8_t)c->s[i++];
		} else if (c->s[i + 1] != 'x') {
			p[n] = (uint8_t)c->s[i + 1];
			i += 2;
		} else {
			p[n] = (uint8_t)(hexval(c->s[i + 2]) * 16 + hexval(c->s[i + 3]));
			i += 4;
		}
	}
	c->off = i + 1;
	out->p = p;
	out->len = n;
	return 0;
}

/* One of names, which must be followed by a space, a colon or the end of the line. */
static int pc_word(struct pc *c, const char *const *names, int count, int *idx, const char *why)
{
	for (int i = 0; i < count; i++) {
		size_t n = strlen(names[i]);

		if (c->len - c->off >= n && memcmp(c->s + c->off, names[i], n) == 0 &&
		    (c->off + n == c->len || c->s[c->off + n] == ' ' || c->s[c->off + n] == ':')) {
			c->off += n;
			*idx = i;
			return 0;
		}
	}
	return pc_fail(c, why);
}

static int pc_field_u64(struct pc *c, const char *lit, uint64_t *v, const char *why)
{
	if (pc_lit(c, lit, why) != 0 || pc_u64(c, v) != 0)
		return -1;
	return 0;
}

static int pc_numbers(struct pc *c, uint64_t *ver, uint64_t *crev, uint64_t *mrev)
{
	if (pc_lit(c, ":", "':' expected") != 0 || pc_u64(c, ver) != 0 ||
	    pc_lit(c, ":", "':' expected") != 0 || pc_u64(c, crev) != 0 ||
	    pc_lit(c, ":", "':' expected") != 0 || pc_u64(c, mrev) != 0)
		return -1;
	return 0;
}

/* A count of items that follow, each at least min_len characters with its space: bounded by
 * what is left of the line, so that no count allocates more than the line could fill. */
static int pc_count(struct pc *c, const char *lit, size_t min_len, uint32_t *n)
{
	uint64_t v;

	if (pc_field_u64(c, lit, &v, "the item count expected") != 0)
		return -1;
	if (v > (c->len - c->off) / min_len)
		return pc_fail(c, "more items announced than the line holds");
	*n = (uint32_t)v;
	return 0;
}

static int pc_entry(struct pc *c, struct hist_entry *e)
{
	if (pc_lit(c, " ", "a list entry expected") != 0 || pc_str(c, &e->key) != 0 ||
	    pc_lit(c, ":", "':' expected") != 0)
		return -1;
	if (pc_peek(c, "-")) {
		c->off++;
		e->has_value = false;
	} else {
		if (pc_str(c, &e->value) != 0)
			return -1;
		e->has_value = true;
	}
	return pc_numbers(c, &e->version, &e->create_rev, &e->mod_rev);
}

static int pc_sub(struct pc *c, struct hist_sub *s)
{
	int k;

	if (pc_lit(c, " ", "a txn op expected") != 0)
		return -1;
	if (pc_peek(c, "t:") || pc_peek(c, "e:")) {
		s->in_else = c->s[c->off] == 'e';
		c->off += 2;
	} else {
		return pc_fail(c, "a txn op starts with its branch, t: or e:");
	}
	if (pc_word(c, kind_names, HIST_KIND_COUNT, &k, "a txn op's kind expected") != 0 ||
	    pc_lit(c, ":", "':' expected") != 0 || pc_str(c, &s->key) != 0)
		return -1;
	s->kind = (enum hist_kind)k;
	if (s->kind == HIST_PUT &&
	    (pc_lit(c, ":", "a put's value expected") != 0 || pc_str(c, &s->value) != 0))
		return -1;
	if (pc_peek(c, ":not-found")) {
		c->off += strlen(":not-found");
		s->state = HIST_SUB_NOT_FOUND;
		return 0;
	}
	if (!pc_peek(c, ":ok"))
		return 0;
	c->off += 3;
	s->state = HIST_SUB_OK;
	if (s->kind == HIST_GET &&
	    (pc_lit(c, ":", "the value read expected") != 0 || pc_str(c, &s->read) != 0))
		return -1;
	if (s->kind == HIST_GET || s->kind == HIST_PUT)
		return pc_numbers(c, &s->version, &s->create_rev, &s->mod_rev);
	return 0;
}

static int parse_op(struct pc *c, struct hist_op *op)
{
	int k, o;
	const char *why;

	if (pc_field_u64(c, "c=", &op->client, "a record starts with c=CLIENT") != 0 ||
	    pc_lit(c, " ", "a space expected") != 0 ||
	    pc_word(c, kind_names, HIST_KIND_COUNT, &k, "an op kind expected") != 0)
		return -1;
	op->kind = (enum hist_kind)k;
	if (op->kind != HIST_TXN && (pc_lit(c, " k=", "k=KEY expected") != 0 ||
				     pc_str(c, &op->key) != 0))
		return -1;
	if (op->kind == HIST_CAS && pc_field_u64(c, " exp=", &op->expected, "exp=N expected") != 0)
		return -1;
	if ((op->kind == HIST_PUT || op->kind == HIST_CAS) &&
	    (pc_lit(c, " v=", "v=VALUE expected") != 0 || pc_str(c, &op->value) != 0))
		return -1;
	if (pc_field_u64(c, " call=", &op->call_us, "call=TIME expected") != 0 ||
	    pc_lit(c, " ret=", "ret=TIME expected") != 0)
		return -1;
	bool no_ret = pc_peek(c, "-");
	if (no_ret)
		c->off++;
	else if (pc_u64(c, &op->ret_us) != 0)
		return -1;
	if (pc_lit(c, " ", "a space expected") != 0 ||
	    pc_word(c, outcome_names, HIST_OUTCOME_COUNT, &o, "an outcome expected") != 0)
		return -1;
	op->outcome = (enum hist_outcome)o;
	if (no_ret != (op->outcome == HIST_UNKNOWN))
		return pc_fail(c, "ret=- exactly when the outcome is unknown");
	if (op->outcome != HIST_UNKNOWN) {
		if (pc_lit(c, " rev=", "rev=N expected") != 0)
			return -1;
		if (pc_peek(c, "-")) {
			c->off++;
		} else {
			if (pc_u64(c, &op->rev) != 0)
				return -1;
			op->has_rev = true;
		}
	}
	if (op->outcome == HIST_COMPARE_FAILED &&
	    pc_field_u64(c, " ver=", &op->version, "ver=N expected") != 0)
		return -1;
	if (op->outcome == HIST_OK) {
		if (op->kind == HIST_GET && (pc_lit(c, " val=", "val=VALUE expected") != 0 ||
					     pc_str(c, &op->read) != 0))
			return -1;
		if ((op->kind == HIST_GET || op->kind == HIST_PUT || op->kind == HIST_CAS) &&
		    (pc_field_u64(c, " ver=", &op->version, "ver=N expected") != 0 ||
		     pc_field_u64(c, " crev=", &op->create_rev, "crev=N expected") != 0 ||
		     pc_field_u64(c, " mrev=", &op->mod_rev, "mrev=N expected") != 0))
			return -1;
		if (op->kind == HIST_LIST) {
			uint32_t n;

			if (pc_count(c, " entries=", 10, &n) != 0)
				return -1;
			if (n > 0) {
				op->entries = calloc(n, sizeof(*op->entries));
				if (op->entries == NULL) {
					c->nomem = true;
					return pc_fail(c, "out of memory");
				}
			}
			for (uint32_t i = 0; i < n; i++) {
				op->nentries = i + 1;
				if (pc_entry(c, &op->entries[i]) != 0)
					return -1;
			}
		}
		if (op->kind == HIST_TXN) {
			if (pc_lit(c, " succeeded=", "succeeded=0|1 expected") != 0)
				return -1;
			if (pc_peek(c, "0") || pc_peek(c, "1"))
				op->succeeded = c->s[c->off++] == '1';
			else
				return pc_fail(c, "succeeded=0|1 expected");
		}
	}
	if (op->kind == HIST_TXN) {
		uint32_t n;

		if (pc_count(c, " subs=", 10, &n) != 0)
			return -1;
		if (n > 0) {
			op->subs = calloc(n, sizeof(*op->subs));
			if (op->subs == NULL) {
				c->nomem = true;
				return pc_fail(c, "out of memory");
			}
		}
		for (uint32_t i = 0; i < n; i++) {
			op->nsubs = i + 1;
			if (pc_sub(c, &op->subs[i]) != 0)
				return -1;
		}
	}
	if (c->off != c->len)
		return pc_fail(c, "unexpected text after the record");
	why = hist_op_check(op);
	if (why != NULL)
		return pc_fail(c, why);
	return 0;
}

enum bft_err hist_parse(struct hist *h, FILE *f, char *err, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t got;
	enum bft_err e = BFT_OK;
	bool header = false;

	hist_init(h, false);
	snprintf(err, errlen, "ok");
	while ((got = getline(&line, &cap, f)) >= 0) {
		size_t len = (size_t)got;
		struct pc c = {.s = line, .len = len};
		struct hist_op *op;

		lineno++;
		if (len > 0 && line[len - 1] == '\n') {
			line[--len] = '\0';
			c.len = len;
		}
		if (memchr(line, '\0', len) != NULL) {
			snprintf(err, errlen, "line %zu: a NUL byte", lineno);
			e = BFT_EMALFORMED;
			break;
		}
		if (!header) {
			if (strcmp(line, "bfthist 1 clock=monotonic") == 0 ||
			    strcmp(line, "bfthist 1 clock=realtime") == 0) {
				h->realtime = strcmp(line, "bfthist 1 clock=realtime") == 0;
				header = true;
				continue;
			}
			snprintf(err, errlen, "line %zu: not a history (the first line must be "
					      "'bfthist 1 clock=monotonic|realtime')", lineno);
			e = BFT_EMALFORMED;
			break;
		}
		if (len > 0 && line[0] == '#')
			continue;
		op = hist_slot(h);
		if (op == NULL) {
			e = BFT_ENOMEM;
			snprintf(err, errlen, "line %zu: out of memory", lineno);
			break;
		}
		if (parse_op(&c, op) != 0) {
			e = c.nomem ? BFT_ENOMEM : BFT_EMALFORMED;
			snprintf(err, errlen, "line %zu, column %zu: %s", lineno, c.off + 1, c.why);
			op_free(op);
			break;
		}
		h->n++;
	}
	if (e == BFT_OK && ferror(f)) {
		e = BFT_EINVAL;
		snprintf(err, errlen, "read error after line %zu", lineno);
	}
	if (e == BFT_OK && !header) {
		e = BFT_EMALFORMED;
		snprintf(err, errlen, "empty: no 'bfthist 1' header");
	}
	free(line);
	if (e != BFT_OK)
		hist_free(h);
	return e;
}

/* ---------------------------------------------------------------------------------------------
 * The checker
 *
 * Places in the committed order: a write that created revision r sits at 2r, an op that ran on
 * the state of revision r and changed nothing sits at 2r + 1, after that write and before the
 * next. "A returned before B was called" requires place(A) <= place(B); two writes never share
 * a place, so between writes that is strict, as linearizability asks.
 */

#define NONE SIZE_MAX

static uint64_t place_write(uint64_t rev)
{
	return 2 * rev;
}

static uint64_t place_read(uint64_t rev)
{
	return 2 * rev + 1;
}

/* qsort, which must not be handed the NULL of an empty array. */
static void sort_n(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* What the checker knows of one op. */
struct ck_op {
	bool bad;          /* its result contradicts itself or another's revision (reported):
			    * left out of everything after */
	bool wrote;        /* completed as a write that changed the store */
	bool has_place;
	uint64_t place;
	bool has_lb;       /* some completed op returned before it was called ... */
	uint64_t lb;       /* ... and the latest place among those */
	size_t lb_op;
	bool applied;      /* an UNKNOWN op that, a read showed, took effect ... */
	uint64_t at;       /* ... creating this revision */
};

/* A write event: from revision rev on, key holds this (until the next event of the key). */
struct ck_wr {
	const uint8_t *key;
	size_t klen;
	uint64_t rev;
	size_t op;
	bool del;
	bool has_val;      /* false only for an inferred write seen through a keys-only LIST */
	const uint8_t *val;
	size_t vlen;
	bool ver_known;
	uint64_t ver, crev;
};

enum ck_rd_kind {
	RD_VALUE,   /* a value (and its numbers) at rev */
	RD_ABSENT,  /* the key was absent at rev */
	RD_VERSION, /* a failed CAS: the key's version at rev was ver, not expected */
};

/* A read event: what one op saw of one key in the state of revision rev. */
struct ck_rd {
	const uint8_t *key;
	size_t klen;
	uint64_t rev;
	size_t op;
	enum ck_rd_kind kind;
	bool has_val;
	const uint8_t *val;
	size_t vlen;
	uint64_t ver, crev, mrev;
	uint64_t expected;
	bool bad;          /* reported already: checked no further */
};

/* A write an UNKNOWN op would have made, had it taken effect. */
struct ck_unk {
	const uint8_t *key;
	size_t klen;
	size_t op;
	uint64_t call_us;
	bool del;
	const uint8_t *val;
	size_t vlen;
};

struct ck_rev {
	uint64_t rev;
	size_t op;
};

struct ck_t {
	uint64_t t;
	size_t op;
};

/* A read that found a key absent (at r->rev) after a put (at put_rev): a delete must fit in
 * [lo, r->rev]. */
struct ck_demand {
	const struct ck_rd *r;
	uint64_t lo;
	size_t put_op;
	uint64_t put_rev, put_ver;
};

struct ck_slice {
	size_t op;
	const char *tag;
};

struct ck {
	const struct hist *h;
	struct hist_report *rep;
	struct ck_op *o;
	struct ck_rev *revs;   /* known writes by revision, sorted, one per revision */
	size_t nrevs, cap_revs;
	struct ck_rev *extra;  /* UNKNOWN ops placed by the checker */
	size_t nextra, cap_extra;
	struct ck_wr *wr;      /* write events, sorted by key and revision once built */
	size_t nwr, cap_wr;
	struct ck_wr *iwr;     /* write events of UNKNOWN ops, until merged into wr */
	size_t niwr, cap_iwr;
	struct ck_rd *rd;
	size_t nrd, cap_rd;
	struct ck_unk *unk;    /* sorted by key, then call time */
	size_t nunk, cap_unk;
	struct ck_demand *dem; /* deletes that reads showed must have happened */
	size_t ndem, cap_dem;
	char show[3][200];     /* short quoted keys and values for messages */
	bool nomem;
};

/* Growth of the checker's arrays, one function per type to stay clear of aliasing games. */
#define CK_PUSH(name, type, arr, n, cap)                                                         \
	static type *name(struct ck *c)                                                          \
	{                                                                                        \
		if (c->n == c->cap) {                                                            \
			size_t ncap = c->cap ? c->cap * 2 : 64;                                  \
			type *p = realloc(c->arr, ncap * sizeof(*p));                            \
			if (p == NULL) {                                                         \
				c->nomem = true;                                                 \
				return NULL;                                                     \
			}                                                                        \
			c->arr = p;                                                              \
			c->cap = ncap;                                                           \
		}                                                                                \
		memset(&c->arr[c->n], 0, sizeof(c->arr[c->n]));                                 \
		return &c->arr[c->n++];                                                          \
	}
CK_PUSH(push_rev, struct ck_rev, revs, nrevs, cap_revs)
CK_PUSH(push_extra, struct ck_rev, extra, nextra, cap_extra)
CK_PUSH(push_wr, struct ck_wr, wr, nwr, cap_wr)
CK_PUSH(push_iwr, struct ck_wr, iwr, niwr, cap_iwr)
CK_PUSH(push_rd, struct ck_rd, rd, nrd, cap_rd)
CK_PUSH(push_unk, struct ck_unk, unk, nunk, cap_unk)
CK_PUSH(push_dem, struct ck_demand, dem, ndem, cap_dem)
#undef CK_PUSH

static uint64_t op_ret(const struct ck *c, size_t i)
{
	const struct hist_op *op = &c->h->ops[i];

	return op->outcome == HIST_UNKNOWN ? UINT64_MAX : op->ret_us;
}

/* A short quoted form of bytes for a message, in one of three slots: as sb_str writes it, but
 * without allocating (it runs for every op checked, violation or not). */
static const char *show(struct ck *c, int slot, const uint8_t *p, size_t len)
{
	char *o = c->show[slot];
	size_t n = len > 40 ? 40 : len, k = 0;

	/* 40 bytes of at most 4 characters each, the quotes and the length fit in the slot. */
	o[k++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (raw_byte(p[i])) {
			o[k++] = (char)p[i];
		} else if (p[i] == '"' || p[i] == '\\') {
			o[k++] = '\\';
			o[k++] = (char)p[i];
		} else {
			snprintf(o + k, 5, "\\x%02x", p[i]);
			k += 4;
		}
	}
	o[k++] = '"';
	o[k] = '\0';
	if (n < len)
		snprintf(o + k, sizeof(c->show[slot]) - k, "...(%zu bytes)", len);
	return o;
}

static bool is_first(const struct ck *c)
{
	return c->rep->violations == 0;
}

/*
 * Counts a violation; the first one's text is kept: the message, then the ops of the slice in
 * history order, each once, with its tag.
 */
static void violation(struct ck *c, const struct ck_slice *slice, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void violation(struct ck *c, const struct ck_slice *slice, size_t n, const char *fmt, ...)
{
	struct ck_slice s[8];
	size_t m = 0;
	struct sb b = {0};
	va_list ap;

	c->rep->violations++;
	if (c->rep->violations > 1)
		return;
	va_start(ap, fmt);
	sb_vprintf(&b, fmt, ap);
	va_end(ap);
	sb_putc(&b, '\n');
	for (size_t i = 0; i < n && m < 8; i++) {
		size_t j = m;
		bool dup = false;

		if (slice[i].op == NONE)
			continue;
		for (size_t k = 0; k < m; k++) {
			if (s[k].op != slice[i].op)
				continue;
			/* The same op in two roles: keep the tag that says something. */
			if (s[k].tag == NULL)
				s[k].tag = slice[i].tag;
			dup = true;
		}
		if (dup)
			continue;
		while (j > 0 && s[j - 1].op > slice[i].op) {
			s[j] = s[j - 1];
			j--;
		}
		s[j] = slice[i];
		m++;
	}
	for (size_t i = 0; i < m; i++) {
		sb_printf(&b, "  #%zu ", s[i].op);
		sb_op(&b, &c->h->ops[s[i].op], 40);
		if (s[i].tag != NULL)
			sb_printf(&b, "   <- %s", s[i].tag);
		sb_putc(&b, '\n');
	}
	snprintf(c->rep->first, sizeof(c->rep->first), "%s",
		 b.nomem ? "(out of memory formatting the violation)\n" : b.p);
	free(b.p);
}

/* The op that created revision rev (known or placed by the checker), or NONE. */
static size_t op_at(const struct ck *c, uint64_t rev)
{
	size_t lo = 0, hi = c->nrevs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->revs[mid].rev < rev)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->nrevs && c->revs[lo].rev == rev)
		return c->revs[lo].op;
	lo = 0;
	hi = c->nextra;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->extra[mid].rev < rev)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->nextra && c->extra[lo].rev == rev)
		return c->extra[lo].op;
	return NONE;
}

/* Records that UNKNOWN op took effect, creating revision rev (free: op_at said so). The placed
 * ops are kept sorted by revision for op_at. */
static bool place_unknown(struct ck *c, size_t op, uint64_t rev)
{
	size_t i;

	if (push_extra(c) == NULL)
		return false;
	for (i = c->nextra - 1; i > 0 && c->extra[i - 1].rev > rev; i--)
		c->extra[i] = c->extra[i - 1];
	c->extra[i].rev = rev;
	c->extra[i].op = op;
	c->o[op].applied = true;
	c->o[op].at = rev;
	c->rep->unknown_applied++;
	return true;
}

/* Index of the first event in the sorted wr at or after (key, rev). */
static size_t wr_lower(const struct ck *c, const uint8_t *key, size_t klen, uint64_t rev)
{
	size_t lo = 0, hi = c->nwr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int k = key_cmp(c->wr[mid].key, c->wr[mid].klen, key, klen);

		if (k < 0 || (k == 0 && c->wr[mid].rev < rev))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The write event of key at exactly rev, or NULL. */
static const struct ck_wr *wr_find(const struct ck *c, const uint8_t *key, size_t klen,
				   uint64_t rev)
{
	size_t i = wr_lower(c, key, klen, rev);

	if (i < c->nwr && c->wr[i].rev == rev && key_cmp(c->wr[i].key, c->wr[i].klen, key, klen) == 0)
		return &c->wr[i];
	for (size_t j = 0; j < c->niwr; j++)
		if (c->iwr[j].rev == rev && key_cmp(c->iwr[j].key, c->iwr[j].klen, key, klen) == 0)
			return &c->iwr[j];
	return NULL;
}

/* The last known write of key in (after, upto], or NONE: for reports only. */
static size_t wr_last_op(const struct ck *c, const uint8_t *key, size_t klen, uint64_t after,
			 uint64_t upto)
{
	size_t i = wr_lower(c, key, klen, upto == UINT64_MAX ? upto : upto + 1);

	if (i == 0)
		return NONE;
	i--;
	if (key_cmp(c->wr[i].key, c->wr[i].klen, key, klen) != 0 || c->wr[i].rev <= after ||
	    c->wr[i].rev > upto)
		return NONE;
	return c->wr[i].op;
}

/* A known op that wrote value to key, or NONE: for reports only. */
static size_t wr_value_op(const struct ck *c, const uint8_t *key, size_t klen, const uint8_t *val,
			  size_t vlen)
{
	for (size_t i = wr_lower(c, key, klen, 0);
	     i < c->nwr && key_cmp(c->wr[i].key, c->wr[i].klen, key, klen) == 0; i++)
		if (!c->wr[i].del && c->wr[i].has_val && raw_eq(c->wr[i].val, c->wr[i].vlen, val, vlen))
			return c->wr[i].op;
	return NONE;
}

static size_t unk_lower(const struct ck *c, const uint8_t *key, size_t klen)
{
	size_t lo = 0, hi = c->nunk;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(c->unk[mid].key, c->unk[mid].klen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether an UNKNOWN op may have written key unseen: one the checker has not placed, or a
 * TXN it placed through another of its writes (only the writes reads showed become events).
 * A version that does not follow from the writes we know is then no proof of a violation. */
static bool unk_free(const struct ck *c, size_t op)
{
	return !c->o[op].applied || c->h->ops[op].kind == HIST_TXN;
}

/* Whether such an op was called before op b returned, so it may have taken effect first. */
static bool could_intervene(const struct ck *c, const uint8_t *key, size_t klen, size_t b)
{
	uint64_t until = op_ret(c, b);

	for (size_t i = unk_lower(c, key, klen);
	     i < c->nunk && key_cmp(c->unk[i].key, c->unk[i].klen, key, klen) == 0; i++)
		if (unk_free(c, c->unk[i].op) && c->unk[i].op != b && c->unk[i].call_us < until)
			return true;
	return false;
}

/* --- 1. each result against itself ------------------------------------------------------- */

static const char *numbers_bad(uint64_t rev, uint64_t ver, uint64_t crev, uint64_t mrev,
			       bool written)
{
	if (ver == 0)
		return "version 0 on a key that exists";
	if (crev == 0 || crev > mrev)
		return "create_rev 0 or after mod_rev";
	if ((ver == 1) != (crev == mrev))
		return "version and create_rev disagree (version 1 exactly when create_rev = mod_rev)";
	if (mrev > rev)
		return "mod_rev after the revision of the result";
	if (written && mrev != rev)
		return "a write's mod_rev is not the revision it created";
	return NULL;
}

static const char *self_check(const struct hist_op *op)
{
	const char *why = NULL;

	if (op->outcome == HIST_COMPARE_FAILED && op->version == op->expected)
		return "a failed cas reports the version it expected";
	if (op->outcome != HIST_OK)
		return NULL;
	switch (op->kind) {
	case HIST_PUT:
	case HIST_CAS:
		if (op->rev == 0)
			return "a write created revision 0";
		why = numbers_bad(op->rev, op->version, op->create_rev, op->mod_rev, true);
		if (why == NULL && op->kind == HIST_CAS && op->version != op->expected + 1)
			why = "a successful cas's new version is not the expected one + 1";
		return why;
	case HIST_GET:
		return numbers_bad(op->rev, op->version, op->create_rev, op->mod_rev, false);
	case HIST_DEL:
		return op->rev == 0 ? "a write created revision 0" : NULL;
	case HIST_LIST:
		for (uint32_t i = 0; i < op->nentries && why == NULL; i++) {
			const struct hist_entry *e = &op->entries[i];

			why = numbers_bad(op->rev, e->version, e->create_rev, e->mod_rev, false);
		}
		return why;
	case HIST_TXN:
		for (uint32_t i = 0; i < op->nsubs && why == NULL; i++) {
			const struct hist_sub *s = &op->subs[i];

			if (s->state == HIST_SUB_OK && s->kind == HIST_PUT)
				why = op->rev == 0 ? "a write created revision 0"
						   : numbers_bad(op->rev, s->version, s->create_rev,
								 s->mod_rev, true);
			else if (s->state == HIST_SUB_OK && s->kind == HIST_GET)
				why = numbers_bad(op->rev, s->version, s->create_rev, s->mod_rev,
						  false);
			else if (s->state == HIST_SUB_OK && s->kind == HIST_DEL && op->rev == 0)
				why = "a write created revision 0";
		}
		return why;
	default:
		return NULL;
	}
}

static bool txn_wrote(const struct hist_op *op)
{
	if (op->kind != HIST_TXN || op->outcome != HIST_OK)
		return false;
	for (uint32_t i = 0; i < op->nsubs; i++)
		if (op->subs[i].state == HIST_SUB_OK &&
		    (op->subs[i].kind == HIST_PUT || op->subs[i].kind == HIST_DEL))
			return true;
	return false;
}

static bool writes_by_kind(const struct hist_op *op)
{
	if (op->kind == HIST_PUT || op->kind == HIST_DEL || op->kind == HIST_CAS)
		return true;
	for (uint32_t i = 0; op->kind == HIST_TXN && i < op->nsubs; i++)
		if (op->subs[i].kind == HIST_PUT || op->subs[i].kind == HIST_DEL)
			return true;
	return false;
}

/* --- 2. places and revisions --------------------------------------------------------------- */

static int cmp_rev(const void *a, const void *b)
{
	const struct ck_rev *x = a, *y = b;

	if (x->rev != y->rev)
		return x->rev < y->rev ? -1 : 1;
	return x->op < y->op ? -1 : x->op > y->op;
}

static void ck_places(struct ck *c)
{
	const struct hist *h = c->h;
	size_t keep = 0;

	for (size_t i = 0; i < h->n; i++) {
		const struct hist_op *op = &h->ops[i];
		struct ck_op *o = &c->o[i];
		const char *why = self_check(op);
		struct ck_rev *r;

		if (why != NULL) {
			struct ck_slice s = {i, NULL};

			violation(c, &s, 1, "inconsistent result: #%zu: %s", i, why);
			o->bad = true;
			continue;
		}
		if (!op->has_rev)
			continue;
		o->wrote = op->outcome == HIST_OK &&
			   (op->kind == HIST_PUT || op->kind == HIST_CAS || op->kind == HIST_DEL ||
			    txn_wrote(op));
		o->has_place = true;
		o->place = o->wrote ? place_write(op->rev) : place_read(op->rev);
		if (!o->wrote)
			continue;
		r = push_rev(c);
		if (r == NULL)
			return;
		r->rev = op->rev;
		r->op = i;
	}
	sort_n(c->revs, c->nrevs, sizeof(*c->revs), cmp_rev);
	/* One write per revision: a second claim is a violation, and the later op is set aside so
	 * that it does not cascade into reports about every read of that revision. */
	for (size_t i = 0; i < c->nrevs; i++) {
		if (keep > 0 && c->revs[keep - 1].rev == c->revs[i].rev) {
			size_t a = c->revs[keep - 1].op, b = c->revs[i].op;
			struct ck_slice s[2] = {{a, NULL}, {b, NULL}};

			violation(c, s, 2, "duplicate revision: #%zu and #%zu both created revision %llu",
				  a, b, (unsigned long long)c->revs[i].rev);
			c->o[b].bad = true;
			c->o[b].wrote = c->o[b].has_place = false;
			continue;
		}
		c->revs[keep++] = c->revs[i];
	}
	c->nrevs = keep;
}

/* --- 3. events ----------------------------------------------------------------------------- */

static struct ck_wr *add_wr(struct ck *c, size_t op, const struct hist_bytes *key, uint64_t rev)
{
	struct ck_wr *w;

	/* A TXN that writes one key twice leaves the last write: update the earlier event. */
	for (size_t j = c->nwr; j > 0 && c->wr[j - 1].op == op; j--)
		if (key_cmp(c->wr[j - 1].key, c->wr[j - 1].klen, key->p, key->len) == 0)
			return &c->wr[j - 1];
	w = push_wr(c);
	if (w == NULL)
		return NULL;
	w->key = key->p;
	w->klen = key->len;
	w->rev = rev;
	w->op = op;
	return w;
}

static void set_put(struct ck_wr *w, const struct hist_bytes *val, uint64_t ver, uint64_t crev)
{
	w->del = false;
	w->has_val = true;
	w->val = val->p;
	w->vlen = val->len;
	w->ver_known = true;
	w->ver = ver;
	w->crev = crev;
}

static void set_del(struct ck_wr *w)
{
	w->del = true;
	w->has_val = w->ver_known = false;
	w->val = NULL;
	w->vlen = 0;
	w->ver = w->crev = 0;
}

static struct ck_rd *add_rd(struct ck *c, size_t op, const struct hist_bytes *key, uint64_t rev,
			    enum ck_rd_kind kind)
{
	struct ck_rd *r = push_rd(c);

	if (r == NULL)
		return NULL;
	r->key = key->p;
	r->klen = key->len;
	r->rev = rev;
	r->op = op;
	r->kind = kind;
	return r;
}

static void set_value(struct ck_rd *r, bool has_val, const struct hist_bytes *val, uint64_t ver,
		      uint64_t crev, uint64_t mrev)
{
	r->has_val = has_val;
	r->val = val->p;
	r->vlen = val->len;
	r->ver = ver;
	r->crev = crev;
	r->mrev = mrev;
}

static void add_unk(struct ck *c, size_t op, const struct hist_bytes *key, bool del,
		    const struct hist_bytes *val)
{
	struct ck_unk *u = push_unk(c);

	if (u == NULL)
		return;
	u->key = key->p;
	u->klen = key->len;
	u->op = op;
	u->call_us = c->h->ops[op].call_us;
	u->del = del;
	u->val = del ? NULL : val->p;
	u->vlen = del ? 0 : val->len;
}

/* The TXN ops of the branch that ran: writes at its revision, and the reads that came before
 * any write of their key in the branch as reads of the state before it. */
static void txn_events(struct ck *c, size_t i)
{
	const struct hist_op *op = &c->h->ops[i];
	uint64_t before = c->o[i].wrote ? op->rev - 1 : op->rev;

	for (uint32_t k = 0; k < op->nsubs && !c->nomem; k++) {
		const struct hist_sub *s = &op->subs[k];
		bool written = false;
		struct ck_wr *w;
		struct ck_rd *r;

		if (s->state == HIST_SUB_NOT_RUN)
			continue;
		for (uint32_t j = 0; j < k; j++)
			written = written ||
				  (op->subs[j].state == HIST_SUB_OK &&
				   (op->subs[j].kind == HIST_PUT || op->subs[j].kind == HIST_DEL) &&
				   bytes_eq(&op->subs[j].key, &s->key));
		if (s->kind == HIST_PUT || (s->kind == HIST_DEL && s->state == HIST_SUB_OK)) {
			w = add_wr(c, i, &s->key, op->rev);
			if (w == NULL)
				return;
			if (s->kind == HIST_PUT)
				set_put(w, &s->value, s->version, s->create_rev);
			else
				set_del(w);
			continue;
		}
		if (written || s->kind == HIST_LIST)
			continue;
		if (s->kind == HIST_GET && s->state == HIST_SUB_OK) {
			r = add_rd(c, i, &s->key, before, RD_VALUE);
			if (r != NULL)
				set_value(r, true, &s->read, s->version, s->create_rev, s->mod_rev);
		} else {
			(void)add_rd(c, i, &s->key, before, RD_ABSENT);
		}
	}
}

static void ck_events(struct ck *c)
{
	for (size_t i = 0; i < c->h->n && !c->nomem; i++) {
		const struct hist_op *op = &c->h->ops[i];
		struct ck_wr *w;
		struct ck_rd *r;

		if (c->o[i].bad)
			continue;
		if (op->outcome == HIST_UNKNOWN) {
			if (op->kind == HIST_PUT || op->kind == HIST_CAS || op->kind == HIST_DEL)
				add_unk(c, i, &op->key, op->kind == HIST_DEL, &op->value);
			for (uint32_t k = 0; op->kind == HIST_TXN && k < op->nsubs; k++)
				if (op->subs[k].kind == HIST_PUT || op->subs[k].kind == HIST_DEL)
					add_unk(c, i, &op->subs[k].key, op->subs[k].kind == HIST_DEL,
						&op->subs[k].value);
			continue;
		}
		if (!c->o[i].has_place)
			continue;
		switch (op->outcome == HIST_OK ? op->kind : HIST_KIND_COUNT) {
		case HIST_PUT:
		case HIST_CAS:
			w = add_wr(c, i, &op->key, op->rev);
			if (w != NULL)
				set_put(w, &op->value, op->version, op->create_rev);
			break;
		case HIST_DEL:
			w = add_wr(c, i, &op->key, op->rev);
			if (w != NULL)
				set_del(w);
			break;
		case HIST_GET:
			r = add_rd(c, i, &op->key, op->rev, RD_VALUE);
			if (r != NULL)
				set_value(r, true, &op->read, op->version, op->create_rev, op->mod_rev);
			break;
		case HIST_LIST:
			for (uint32_t k = 0; k < op->nentries; k++) {
				const struct hist_entry *e = &op->entries[k];

				r = add_rd(c, i, &e->key, op->rev, RD_VALUE);
				if (r != NULL)
					set_value(r, e->has_value, &e->value, e->version,
						  e->create_rev, e->mod_rev);
			}
			break;
		case HIST_TXN:
			txn_events(c, i);
			break;
		default:
			if (op->outcome == HIST_NOT_FOUND) {
				(void)add_rd(c, i, &op->key, op->rev, RD_ABSENT);
			} else if (op->outcome == HIST_COMPARE_FAILED) {
				r = add_rd(c, i, &op->key, op->rev, RD_VERSION);
				if (r != NULL) {
					r->ver = op->version;
					r->expected = op->expected;
				}
			}
			break;
		}
	}
}

static int cmp_wr(const void *a, const void *b)
{
	const struct ck_wr *x = a, *y = b;
	int k = key_cmp(x->key, x->klen, y->key, y->klen);

	if (k != 0)
		return k;
	if (x->rev != y->rev)
		return x->rev < y->rev ? -1 : 1;
	return x->op < y->op ? -1 : x->op > y->op;
}

static int cmp_rd(const void *a, const void *b)
{
	const struct ck_rd *x = a, *y = b;
	int k = key_cmp(x->key, x->klen, y->key, y->klen);

	if (k != 0)
		return k;
	if (x->rev != y->rev)
		return x->rev < y->rev ? -1 : 1;
	if (x->op != y->op)
		return x->op < y->op ? -1 : 1;
	return x->kind < y->kind ? -1 : x->kind > y->kind;
}

static int cmp_unk(const void *a, const void *b)
{
	const struct ck_unk *x = a, *y = b;
	int k = key_cmp(x->key, x->klen, y->key, y->klen);

	if (k != 0)
		return k;
	if (x->call_us != y->call_us)
		return x->call_us < y->call_us ? -1 : 1;
	return x->op < y->op ? -1 : x->op > y->op;
}

/* --- 4. real time -------------------------------------------------------------------------- */

static int cmp_t(const void *a, const void *b)
{
	const struct ck_t *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->op < y->op ? -1 : x->op > y->op;
}

/* The key an op is about, for reports (NULL for LIST and TXN). */
static const struct hist_bytes *op_key(const struct hist_op *op)
{
	return op->kind == HIST_LIST || op->kind == HIST_TXN ? NULL : &op->key;
}

static void realtime_violation(struct ck *c, size_t a, size_t b)
{
	const struct hist_op *ob = &c->h->ops[b];
	uint64_t pa = c->o[a].place, pb = c->o[b].place;
	unsigned long long ra = pa / 2, rb = pb / 2;
	const struct hist_bytes *kb = op_key(ob);
	struct ck_slice s[4] = {{a, NULL}, {b, NULL}, {NONE, NULL}, {NONE, NULL}};

	if (pa % 2 == 0 && pb % 2 == 0) {
		violation(c, s, 2, "real-time reversal: #%zu returned before #%zu was called, but "
				   "created revision %llu, after #%zu's revision %llu",
			  a, b, ra, b, rb);
		return;
	}
	if (pa % 2 == 1 && pb % 2 == 0) {
		violation(c, s, 2, "real-time reversal: #%zu returned before #%zu was called, but "
				   "saw revision %llu, which already holds #%zu's write (revision %llu)",
			  a, b, ra, b, rb);
		return;
	}
	/* b saw an older state than a left behind. Show what b should have seen and what it saw. */
	if (is_first(c) && kb != NULL) {
		s[2].op = wr_last_op(c, kb->p, kb->len, rb, ra);
		s[2].tag = "should have been observed";
		if (ob->kind == HIST_GET && ob->outcome == HIST_OK) {
			s[3].op = op_at(c, ob->mod_rev);
			s[3].tag = "observed";
		}
	}
	violation(c, s, 4, "stale read: #%zu was called after #%zu returned, but saw revision %llu, "
			   "older than revision %llu that #%zu %s",
		  b, a, rb, ra, a, pa % 2 == 0 ? "created" : "saw");
}

static bool ck_realtime(struct ck *c)
{
	const struct hist *h = c->h;
	struct ck_t *by_ret = calloc(h->n ? h->n : 1, sizeof(*by_ret));
	struct ck_t *by_call = calloc(h->n ? h->n : 1, sizeof(*by_call));
	size_t nret = 0, ncall = 0, j = 0, best_op = NONE;
	uint64_t best = 0;

	if (by_ret == NULL || by_call == NULL) {
		free(by_ret);
		free(by_call);
		c->nomem = true;
		return false;
	}
	for (size_t i = 0; i < h->n; i++) {
		if (c->o[i].bad)
			continue;
		by_call[ncall++] = (struct ck_t){h->ops[i].call_us, i};
		if (c->o[i].has_place)
			by_ret[nret++] = (struct ck_t){h->ops[i].ret_us, i};
	}
	sort_n(by_ret, nret, sizeof(*by_ret), cmp_t);
	sort_n(by_call, ncall, sizeof(*by_call), cmp_t);
	/* Sweep the calls in time order, keeping the latest place among the ops that returned
	 * before: every op must be placed at or after it. */
	for (size_t i = 0; i < ncall; i++) {
		size_t b = by_call[i].op;

		for (; j < nret && by_ret[j].t < by_call[i].t; j++) {
			size_t a = by_ret[j].op;

			if (best_op == NONE || c->o[a].place > best) {
				best = c->o[a].place;
				best_op = a;
			}
		}
		c->o[b].has_lb = best_op != NONE;
		c->o[b].lb = best;
		c->o[b].lb_op = best_op;
		if (c->o[b].has_place && best_op != NONE && best > c->o[b].place)
			realtime_violation(c, best_op, b);
	}
	free(by_ret);
	free(by_call);
	return true;
}

/* --- 5. values read: which write made them ------------------------------------------------- */

static bool unk_writes(const struct ck *c, size_t op, const struct ck_rd *r)
{
	for (size_t i = unk_lower(c, r->key, r->klen);
	     i < c->nunk && key_cmp(c->unk[i].key, c->unk[i].klen, r->key, r->klen) == 0; i++)
		if (c->unk[i].op == op && !c->unk[i].del &&
		    (!r->has_val || raw_eq(c->unk[i].val, c->unk[i].vlen, r->val, r->vlen)))
			return true;
	return false;
}

static void add_inferred(struct ck *c, size_t op, const struct ck_rd *r)
{
	struct ck_wr *w = push_iwr(c);

	if (w == NULL)
		return;
	w->key = r->key;
	w->klen = r->klen;
	w->rev = r->mrev;
	w->op = op;
	w->has_val = r->has_val;
	w->val = r->val;
	w->vlen = r->vlen;
	w->ver_known = true;
	w->ver = r->ver;
	w->crev = r->crev;
}

/* A read whose mod revision no known write holds: the earliest-called UNKNOWN op that wrote
 * its value took effect there (the earliest has the weakest real-time bound: every op that
 * returned before a later call returned before it too). */
static void infer_from_read(struct ck *c, struct ck_rd *r)
{
	const char *k = show(c, 0, r->key, r->klen);
	const char *v = r->has_val ? show(c, 1, r->val, r->vlen) : "(a value)";
	uint64_t ret = op_ret(c, r->op);
	size_t cand = NONE, late = NONE, w;

	for (size_t i = unk_lower(c, r->key, r->klen);
	     i < c->nunk && key_cmp(c->unk[i].key, c->unk[i].klen, r->key, r->klen) == 0; i++) {
		const struct ck_unk *u = &c->unk[i];

		if (u->del || c->o[u->op].applied ||
		    (r->has_val && !raw_eq(u->val, u->vlen, r->val, r->vlen)))
			continue;
		if (u->call_us < ret) {
			cand = u->op;
			break;
		}
		if (late == NONE)
			late = u->op;
	}
	r->bad = true;
	if (cand != NONE) {
		const struct ck_op *o = &c->o[cand];

		if (o->has_lb && o->lb > place_write(r->mrev)) {
			struct ck_slice s[3] = {{o->lb_op, NULL},
						{cand, "outcome unknown, took effect"},
						{r->op, NULL}};

			violation(c, s, 3, "real-time reversal: #%zu returned before #%zu was called, "
					   "but #%zu took effect at revision %llu (#%zu read its "
					   "value), before #%zu's revision %llu",
				  o->lb_op, cand, cand, (unsigned long long)r->mrev, r->op, o->lb_op,
				  (unsigned long long)(o->lb / 2));
			return;
		}
		if (!place_unknown(c, cand, r->mrev))
			return;
		add_inferred(c, cand, r);
		r->bad = false;
		return;
	}
	if (late != NONE) {
		struct ck_slice s[2] = {{late, NULL}, {r->op, NULL}};

		violation(c, s, 2, "read from the future: #%zu returned %s = %s before #%zu, the only "
				   "op that writes it, was called",
			  r->op, k, v, late);
		return;
	}
	w = r->has_val && is_first(c) ? wr_value_op(c, r->key, r->klen, r->val, r->vlen) : NONE;
	if (w != NONE) {
		struct ck_slice s[2] = {{w, NULL}, {r->op, NULL}};

		violation(c, s, 2, "wrong revision: #%zu read %s = %s with mod_rev %llu, but #%zu wrote "
				   "that value at revision %llu, and no op created revision %llu",
			  r->op, k, v, (unsigned long long)r->mrev, w,
			  (unsigned long long)c->h->ops[w].rev, (unsigned long long)r->mrev);
		return;
	}
	{
		struct ck_slice s[2] = {{r->op, NULL}, {NONE, "should have been observed"}};

		if (is_first(c))
			s[1].op = wr_last_op(c, r->key, r->klen, 0, r->rev);
		violation(c, s, 2, "read of a value never written: #%zu read %s = %s (mod_rev %llu), "
				   "which no op in the history wrote",
			  r->op, k, v, (unsigned long long)r->mrev);
	}
}

static void ck_values(struct ck *c)
{
	for (size_t i = 0; i < c->nrd && !c->nomem; i++) {
		struct ck_rd *r = &c->rd[i];
		const char *k, *v;
		const struct ck_wr *e;
		size_t j;

		if (r->kind != RD_VALUE)
			continue;
		k = show(c, 0, r->key, r->klen);
		v = r->has_val ? show(c, 1, r->val, r->vlen) : "(a value)";
		if (r->mrev > r->rev) {
			struct ck_slice s = {r->op, NULL};

			violation(c, &s, 1, "inconsistent result: #%zu read %s with mod_rev %llu, after "
					    "the revision %llu it read",
				  r->op, k, (unsigned long long)r->mrev, (unsigned long long)r->rev);
			r->bad = true;
			continue;
		}
		j = op_at(c, r->mrev);
		if (j == NONE) {
			infer_from_read(c, r);
			continue;
		}
		e = wr_find(c, r->key, r->klen, r->mrev);
		if (e == NULL && c->o[j].applied && unk_writes(c, j, r)) {
			add_inferred(c, j, r);
			continue;
		}
		struct ck_slice s[3] = {{j, "created that revision"}, {r->op, NULL}, {NONE, NULL}};
		if (e == NULL) {
			violation(c, s, 2, "wrong revision: #%zu read %s with mod_rev %llu, but #%zu, "
					   "which created revision %llu, did not write %s",
				  r->op, k, (unsigned long long)r->mrev, j,
				  (unsigned long long)r->mrev, k);
		} else if (e->del) {
			violation(c, s, 2, "wrong revision: #%zu read %s with mod_rev %llu, but #%zu "
					   "deleted %s at revision %llu",
				  r->op, k, (unsigned long long)r->mrev, j, k,
				  (unsigned long long)r->mrev);
		} else if (r->has_val && e->has_val && !raw_eq(e->val, e->vlen, r->val, r->vlen)) {
			size_t w = is_first(c) ? wr_value_op(c, r->key, r->klen, r->val, r->vlen)
					       : NONE;

			s[2].op = w;
			s[2].tag = "wrote the value read";
			if (w == NONE)
				violation(c, s, 2, "read of a value never written: #%zu read %s = %s "
						   "(mod_rev %llu), which no op in the history wrote; "
						   "#%zu wrote %s = %s at revision %llu",
					  r->op, k, v, (unsigned long long)r->mrev, j, k,
					  show(c, 2, e->val, e->vlen), (unsigned long long)r->mrev);
			else
				violation(c, s, 3, "wrong value: #%zu read %s = %s with mod_rev %llu, "
						   "but #%zu wrote %s = %s at revision %llu",
					  r->op, k, v, (unsigned long long)r->mrev, j, k,
					  show(c, 2, e->val, e->vlen), (unsigned long long)r->mrev);
		} else if (e->ver_known && (e->ver != r->ver || e->crev != r->crev)) {
			violation(c, s, 2, "wrong version: #%zu read %s as version %llu (create_rev "
					   "%llu), but #%zu wrote version %llu (create_rev %llu) at "
					   "revision %llu",
				  r->op, k, (unsigned long long)r->ver, (unsigned long long)r->crev, j,
				  (unsigned long long)e->ver, (unsigned long long)e->crev,
				  (unsigned long long)r->mrev);
		} else {
			continue;
		}
		r->bad = true;
	}
}

/* --- 6. per key, in revision order ---------------------------------------------------------- */

/* What the write before another left of its key, for messages. */
static void describe_prev(const struct ck_wr *prev, const char *k, char *buf, size_t len)
{
	if (prev == NULL)
		snprintf(buf, len, "no earlier write to %s is in the history", k);
	else if (prev->del)
		snprintf(buf, len, "#%zu deleted %s at revision %llu", prev->op, k,
			 (unsigned long long)prev->rev);
	else
		snprintf(buf, len, "#%zu left version %llu (create_rev %llu) at revision %llu",
			 prev->op, (unsigned long long)prev->ver, (unsigned long long)prev->crev,
			 (unsigned long long)prev->rev);
}

/* The write e against the one before it (prev, NULL when none): versions count writes since
 * the key was created, a DEL needs a key to delete. */
static void check_write(struct ck *c, const struct ck_wr *prev, const struct ck_wr *e)
{
	const struct hist_op *op = &c->h->ops[e->op];
	struct ck_slice s[2] = {{prev ? prev->op : NONE, NULL}, {e->op, NULL}};
	uint64_t ver, crev;
	char before[512];
	const char *k;

	if (e->del) {
		if ((prev != NULL && !prev->del) || could_intervene(c, e->key, e->klen, e->op))
			return;
		k = show(c, 0, e->key, e->klen);
		describe_prev(prev, k, before, sizeof(before));
		violation(c, s, 2, "delete of a missing key: #%zu deleted %s at revision %llu, but "
				   "%s",
			  e->op, k, (unsigned long long)e->rev, before);
		return;
	}
	if (!e->ver_known)
		return;
	if (prev == NULL || prev->del) {
		ver = 1;
		crev = e->rev;
	} else if (prev->ver_known) {
		ver = prev->ver + 1;
		crev = prev->crev;
	} else {
		return;
	}
	if ((e->ver == ver && e->crev == crev) || could_intervene(c, e->key, e->klen, e->op))
		return;
	k = show(c, 0, e->key, e->klen);
	describe_prev(prev, k, before, sizeof(before));
	if (op->kind == HIST_CAS && op->outcome == HIST_OK)
		violation(c, s, 2, "cas on a wrong version: #%zu expected version %llu of %s and "
				   "succeeded at revision %llu, but %s",
			  e->op, (unsigned long long)op->expected, k, (unsigned long long)e->rev,
			  before);
	else
		violation(c, s, 2, "version gap: #%zu wrote %s at revision %llu as version %llu "
				   "(create_rev %llu), but %s, so it must be version %llu "
				   "(create_rev %llu)",
			  e->op, k, (unsigned long long)e->rev, (unsigned long long)e->ver,
			  (unsigned long long)e->crev, before, (unsigned long long)ver,
			  (unsigned long long)crev);
}

/* A read found the key absent although the last write put it: only a delete of the key explains
 * that, at a revision after the put and after every read that still saw the put, and at or
 * before the read's. An UNKNOWN delete called before the read returned may be it. The demand is
 * recorded here and assign_deletes matches every demand to a delete and a free revision at the
 * end: where in its window a delete lands changes nothing else the sweep checks, but several
 * deletes may compete for few free revisions, which only a global matching gets right. */
static bool demand_delete(struct ck *c, const struct ck_wr *cur, uint64_t seen,
			  const struct ck_rd *r, struct ck_wr *syn)
{
	uint64_t ret = op_ret(c, r->op);
	size_t cand = NONE;
	struct ck_demand *d;

	for (size_t i = unk_lower(c, r->key, r->klen);
	     i < c->nunk && key_cmp(c->unk[i].key, c->unk[i].klen, r->key, r->klen) == 0; i++) {
		if (c->unk[i].del && c->unk[i].call_us < ret) {
			cand = c->unk[i].op;
			break;
		}
	}
	if (cand == NONE)
		return false;
	d = push_dem(c);
	if (d == NULL)
		return false;
	d->r = r;
	d->lo = (cur->rev > seen ? cur->rev : seen) + 1;
	d->put_op = cur->op;
	d->put_rev = cur->rev;
	d->put_ver = cur->ver;
	memset(syn, 0, sizeof(*syn));
	syn->key = r->key;
	syn->klen = r->klen;
	syn->rev = r->rev;
	syn->op = cand;
	syn->del = true;
	return true;
}

/* The report for a key found absent (a read, or a CAS that saw version 0) when nothing can have
 * deleted it since the put at put_rev. */
static void absent_violation(struct ck *c, const struct ck_rd *r, size_t put_op, uint64_t put_rev,
			     uint64_t put_ver)
{
	const char *k = show(c, 0, r->key, r->klen);

	if (r->kind == RD_ABSENT) {
		struct ck_slice s[2] = {{put_op, "should have been observed"}, {r->op, NULL}};

		violation(c, s, 2, "missed write: #%zu found %s absent at revision %llu, but #%zu "
				   "wrote it at revision %llu and nothing deleted it since",
			  r->op, k, (unsigned long long)r->rev, put_op, (unsigned long long)put_rev);
	} else {
		struct ck_slice s[2] = {{put_op, "last write before it"}, {r->op, NULL}};

		violation(c, s, 2, "failed cas inconsistent: #%zu reported version 0 of %s at "
				   "revision %llu, but %s had version %llu there",
			  r->op, k, (unsigned long long)r->rev, k, (unsigned long long)put_ver);
	}
}

static int cmp_dem(const void *a, const void *b)
{
	const struct ck_demand *x = a, *y = b;

	if (x->r->rev != y->r->rev)
		return x->r->rev < y->r->rev ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->r->op < y->r->op ? -1 : x->r->op > y->r->op;
}

/*
 * Matches the demands for deletes to UNKNOWN deletes and free revisions: windows by increasing
 * upper end, each taking the lowest free revision its delete's real-time bound allows (the
 * classic greedy that never strands a later window), deletes in call order (an earlier call
 * has the weaker real-time bound). A TXN placed already serves if its revision is in the window.
 */
static void assign_deletes(struct ck *c)
{
	sort_n(c->dem, c->ndem, sizeof(*c->dem), cmp_dem);
	for (size_t k = 0; k < c->ndem && !c->nomem; k++) {
		const struct ck_demand *dm = &c->dem[k];
		const struct ck_rd *r = dm->r;
		uint64_t ret = op_ret(c, r->op);
		bool done = false;

		for (size_t i = unk_lower(c, r->key, r->klen);
		     !done && i < c->nunk &&
		     key_cmp(c->unk[i].key, c->unk[i].klen, r->key, r->klen) == 0;
		     i++) {
			struct ck_op *o = &c->o[c->unk[i].op];
			uint64_t lo = dm->lo, d;

			if (!c->unk[i].del || c->unk[i].call_us >= ret)
				continue;
			if (o->has_lb && o->lb / 2 + 1 > lo)
				lo = o->lb / 2 + 1;
			if (o->applied) {
				done = c->h->ops[c->unk[i].op].kind == HIST_TXN && o->at >= lo &&
				       o->at <= r->rev;
				continue;
			}
			for (d = lo; d <= r->rev && op_at(c, d) != NONE; d++)
				;
			if (d > r->rev)
				continue;
			if (!place_unknown(c, c->unk[i].op, d))
				return;
			done = true;
		}
		if (!done)
			absent_violation(c, r, dm->put_op, dm->put_rev, dm->put_ver);
	}
}

static void check_read(struct ck *c, const struct ck_wr **curp, struct ck_wr *syn, uint64_t *seen,
		       const struct ck_rd *r)
{
	const struct ck_wr *cur = *curp;
	const char *k = show(c, 0, r->key, r->klen);
	struct ck_slice s[3] = {{cur ? cur->op : NONE, "should have been observed"},
				{r->op, NULL},
				{NONE, NULL}};
	uint64_t sv;

	switch (r->kind) {
	case RD_VALUE:
		/* ck_values placed the write the value came from, so cur is it or a later one. */
		if (cur == NULL || cur->rev < r->mrev)
			return;
		if (cur->rev > r->mrev) {
			s[2].op = op_at(c, r->mrev);
			s[2].tag = "observed";
			violation(c, s, 3, "missed write: #%zu read %s at revision %llu and got the "
					   "value of revision %llu, but #%zu %s %s at revision %llu, "
					   "in between",
				  r->op, k, (unsigned long long)r->rev, (unsigned long long)r->mrev,
				  cur->op, cur->del ? "deleted" : "wrote", k,
				  (unsigned long long)cur->rev);
			return;
		}
		if (r->rev > *seen)
			*seen = r->rev;
		return;
	case RD_ABSENT:
		if (cur == NULL || cur->del)
			return;
		if (demand_delete(c, cur, *seen, r, syn))
			*curp = syn;
		else
			absent_violation(c, r, cur->op, cur->rev, cur->ver);
		return;
	case RD_VERSION:
		if (cur == NULL || cur->del)
			sv = 0;
		else if (cur->ver_known)
			sv = cur->ver;
		else
			return;
		if (sv == r->ver) {
			if (sv != 0 && r->rev > *seen)
				*seen = r->rev;
			return;
		}
		/* Version 0 is a key found absent: only a delete explains it, as for a read. */
		if (r->ver == 0) {
			if (demand_delete(c, cur, *seen, r, syn))
				*curp = syn;
			else
				absent_violation(c, r, cur->op, cur->rev, cur->ver);
			return;
		}
		if (could_intervene(c, r->key, r->klen, r->op))
			return;
		s[0].tag = "last write before it";
		if (sv == r->expected)
			violation(c, s, 2, "failed cas inconsistent: #%zu expected version %llu of %s and "
					   "failed at revision %llu (reporting version %llu), but %s "
					   "had version %llu there",
				  r->op, (unsigned long long)r->expected, k, (unsigned long long)r->rev,
				  (unsigned long long)r->ver, k, (unsigned long long)sv);
		else
			violation(c, s, 2, "failed cas inconsistent: #%zu reported version %llu of %s "
					   "at revision %llu, but %s had version %llu there",
				  r->op, (unsigned long long)r->ver, k, (unsigned long long)r->rev, k,
				  (unsigned long long)sv);
		return;
	}
}

static void check_key(struct ck *c, size_t wi, size_t wend, size_t ri, size_t rend)
{
	const struct ck_wr *cur = NULL;
	struct ck_wr syn;
	uint64_t seen = 0;

	while (wi < wend || ri < rend) {
		if (wi < wend && (ri == rend || c->wr[wi].rev <= c->rd[ri].rev)) {
			check_write(c, cur, &c->wr[wi]);
			cur = &c->wr[wi++];
			seen = cur->rev;
			continue;
		}
		if (!c->rd[ri].bad)
			check_read(c, &cur, &syn, &seen, &c->rd[ri]);
		ri++;
	}
}

static void ck_keys(struct ck *c)
{
	size_t wi = 0, ri = 0;

	while (wi < c->nwr || ri < c->nrd) {
		const uint8_t *key;
		size_t klen, wend = wi, rend = ri;

		if (ri == c->nrd || (wi < c->nwr && key_cmp(c->wr[wi].key, c->wr[wi].klen,
							       c->rd[ri].key, c->rd[ri].klen) <= 0)) {
			key = c->wr[wi].key;
			klen = c->wr[wi].klen;
		} else {
			key = c->rd[ri].key;
			klen = c->rd[ri].klen;
		}
		while (wend < c->nwr && key_cmp(c->wr[wend].key, c->wr[wend].klen, key, klen) == 0)
			wend++;
		while (rend < c->nrd && key_cmp(c->rd[rend].key, c->rd[rend].klen, key, klen) == 0)
			rend++;
		check_key(c, wi, wend, ri, rend);
		wi = wend;
		ri = rend;
	}
}

static void ck_free(struct ck *c)
{
	free(c->o);
	free(c->revs);
	free(c->extra);
	free(c->wr);
	free(c->iwr);
	free(c->rd);
	free(c->unk);
	free(c->dem);
}

enum bft_err hist_check(const struct hist *h, struct hist_report *rep)
{
	struct ck c = {.h = h, .rep = rep};

	memset(rep, 0, sizeof(*rep));
	rep->ops = h->n;
	for (size_t i = 0; i < h->n; i++) {
		const struct hist_op *op = &h->ops[i];

		if (writes_by_kind(op))
			rep->writes++;
		else
			rep->reads++;
		if (op->outcome == HIST_UNKNOWN)
			rep->unknown++;
	}
	c.o = calloc(h->n ? h->n : 1, sizeof(*c.o));
	if (c.o == NULL)
		goto nomem;
	ck_places(&c);
	if (c.nomem)
		goto nomem;
	ck_events(&c);
	if (c.nomem)
		goto nomem;
	sort_n(c.wr, c.nwr, sizeof(*c.wr), cmp_wr);
	sort_n(c.unk, c.nunk, sizeof(*c.unk), cmp_unk);
	if (!ck_realtime(&c))
		goto nomem;
	ck_values(&c);
	if (c.nomem)
		goto nomem;
	/* The writes found to have taken effect join the known ones. */
	for (size_t i = 0; i < c.niwr; i++) {
		struct ck_wr *w = push_wr(&c);

		if (w == NULL)
			goto nomem;
		*w = c.iwr[i];
	}
	c.niwr = 0;
	sort_n(c.wr, c.nwr, sizeof(*c.wr), cmp_wr);
	sort_n(c.rd, c.nrd, sizeof(*c.rd), cmp_rd);
	ck_keys(&c);
	assign_deletes(&c);
	if (c.nomem)
		goto nomem;
	ck_free(&c);
	return BFT_OK;
nomem:
	ck_free(&c);
	memset(rep, 0, sizeof(*rep));
	return BFT_ENOMEM;
}

int hist_check_file(const char *path, FILE *out)
{
	FILE *f = fopen(path, "r");
	struct hist h;
	struct hist_report rep;
	char err[256];
	enum bft_err e;

	if (f == NULL) {
		fprintf(out, "%s: cannot open: %s\n", path, strerror(errno));
		return 2;
	}
	e = hist_parse(&h, f, err, sizeof(err));
	fclose(f);
	if (e != BFT_OK) {
		fprintf(out, "%s: %s\n", path, err);
		return 2;
	}
	e = hist_check(&h, &rep);
	hist_free(&h);
	if (e != BFT_OK) {
		fprintf(out, "%s: out of memory checking the history\n", path);
		return 2;
	}
	fprintf(out, "%s: %zu ops (%zu writes, %zu reads), %zu unknown (%zu took effect): ", path,
		rep.ops, rep.writes, rep.reads, rep.unknown, rep.unknown_applied);
	if (rep.violations == 0) {
		fprintf(out, "linearizable\n");
		return 0;
	}
	fprintf(out, "%zu violation%s, the first:\n%s", rep.violations,
		rep.violations == 1 ? "" : "s", rep.first);
	return 1;
}
