/*
 * wire_decode.c: the strict, bounded envelope decoder (wire.h, docs/WIRE.md).
 *
 * A small cursor reader walks the frame once. Each reader function consumes exactly one msgpack
 * value of the kind it expects or returns why it cannot, so the first problem in wire order
 * decides the error code. The rules, applied to every value:
 *   - the first byte decides the family: a value of another family is BFT_EFIELD (the reserved
 *     byte 0xc1 is no value at all: BFT_EMALFORMED);
 *   - a value that does not fit in the bytes left is BFT_EMALFORMED (truncation);
 *   - a value not in the form msgpack-c's packer would have chosen is BFT_ENONCANON, so that one
 *     message has exactly one encoding and re-encoding an accepted frame gives the same bytes;
 *   - a length or count over its limit is BFT_ETOOBIG, checked before the bytes are looked at, and
 *     a count the remaining bytes cannot hold is refused before anything is allocated.
 * Nothing is allocated except the decoded arrays, each at most as many entries as the frame has
 * room for, so a decode never allocates more than about the frame's own size.
 */
#include "bft/wire.h"
#include "bft/wire_internal.h"

#include <stdlib.h>
#include <string.h>

/* Returns from the enclosing function with the error of expr, if it has one. */
#define WIRE_TRY(expr)                                                                             \
	do {                                                                                       \
		enum bft_err wire_try_err_ = (expr);                                               \
		if (wire_try_err_ != BFT_OK)                                                       \
			return wire_try_err_;                                                      \
	} while (0)

/* msgpack first bytes (the specification's names). */
enum {
	MP_POSFIX_MAX = 0x7f,
	MP_FIXARRAY = 0x90,
	MP_FIXARRAY_MAX = 0x9f,
	MP_NEVER_USED = 0xc1,
	MP_BIN8 = 0xc4,
	MP_BIN16 = 0xc5,
	MP_BIN32 = 0xc6,
	MP_UINT8 = 0xcc,
	MP_UINT16 = 0xcd,
	MP_UINT32 = 0xce,
	MP_UINT64 = 0xcf,
	MP_INT8 = 0xd0,
	MP_INT16 = 0xd1,
	MP_INT32 = 0xd2,
	MP_INT64 = 0xd3,
	MP_ARRAY16 = 0xdc,
	MP_ARRAY32 = 0xdd,
};

/* The cursor: the next unread byte and the end of the frame. */
struct rd {
	const uint8_t *p;
	const uint8_t *end;
};

static size_t rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

/* A big-endian unsigned integer of n (1, 2, 4 or 8) bytes. */
static uint64_t rd_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* The error for a value whose first byte b is not of the family the field needs. */
static enum bft_err rd_wrong_family(uint8_t b)
{
	return b == MP_NEVER_USED ? BFT_EMALFORMED : BFT_EFIELD;
}

/*
 * Reads an unsigned integer in its shortest form. A non-negative value in a signed family is
 * non-canonical (the packer writes every non-negative value as unsigned); a negative one is not
 * a uint at all and so is the wrong field type.
 */
static enum bft_err rd_uint(struct rd *r, uint64_t *v)
{
	uint8_t b;
	unsigned n;
	uint64_t x, min;

	if (rd_left(r) < 1)
		return BFT_EMALFORMED;
	b = r->p[0];
	if (b <= MP_POSFIX_MAX) {
		*v = b;
		r->p++;
		return BFT_OK;
	}
	switch (b) {
	case MP_UINT8:
		n = 1, min = 0x80;
		break;
	case MP_UINT16:
		n = 2, min = 0x100;
		break;
	case MP_UINT32:
		n = 4, min = 0x10000;
		break;
	case MP_UINT64:
		n = 8, min = 0x100000000ull;
		break;
	case MP_INT8:
	case MP_INT16:
	case MP_INT32:
	case MP_INT64:
		n = 1u << (b - MP_INT8);
		if (rd_left(r) < 1 + (size_t)n)
			return BFT_EMALFORMED;
		return (r->p[1] & 0x80) ? BFT_EFIELD : BFT_ENONCANON;
	default:
		return rd_wrong_family(b);
	}
	if (rd_left(r) < 1 + (size_t)n)
		return BFT_EMALFORMED;
	x = rd_be(r->p + 1, n);
	if (x < min)
		return BFT_ENONCANON;
	r->p += 1 + n;
	*v = x;
	return BFT_OK;
}

/* Reads an unsigned integer for a 32-bit field: a larger value is out of the field's range. */
static enum bft_err rd_u32(struct rd *r, uint32_t *v)
{
	uint64_t x;

	WIRE_TRY(rd_uint(r, &x));
	if (x > UINT32_MAX)
		return BFT_EFIELD;
	*v = (uint32_t)x;
	return BFT_OK;
}

/* Reads an array header: fixarray below 16 entries, array16 below 65536, array32 above. */
static enum bft_err rd_array(struct rd *r, uint32_t *count)
{
	uint8_t b;
	uint32_t n;

	if (rd_left(r) < 1)
		return BFT_EMALFORMED;
	b = r->p[0];
	if (b >= MP_FIXARRAY && b <= MP_FIXARRAY_MAX) {
		*count = b & 0x0fu;
		r->p++;
		return BFT_OK;
	}
	if (b == MP_ARRAY16) {
		if (rd_left(r) < 3)
			return BFT_EMALFORMED;
		n = (uint32_t)rd_be(r->p + 1, 2);
		if (n < 16)
			return BFT_ENONCANON;
		r->p += 3;
	} else if (b == MP_ARRAY32) {
		if (rd_left(r) < 5)
			return BFT_EMALFORMED;
		n = (uint32_t)rd_be(r->p + 1, 4);
		if (n < 0x10000)
			return BFT_ENONCANON;
		r->p += 5;
	} else {
		return rd_wrong_family(b);
	}
	*count = n;
	return BFT_OK;
}

/* Reads the header of a fixed-shape array (the envelope, a payload, a certificate, an entry). */
static enum bft_err rd_tuple(struct rd *r, uint32_t arity)
{
	uint32_t n;

	WIRE_TRY(rd_array(r, &n));
	return n == arity ? BFT_OK : BFT_EARITY;
}

/*
 * Reads the header of a variable-length list of at most max entries, each taking at least
 * elem_min bytes of the frame. The second test is what keeps a short frame from asking for a
 * large allocation: a count the rest of the frame cannot hold is truncation, whatever follows.
 */
static enum bft_err rd_list(struct rd *r, uint32_t max, size_t elem_min, uint32_t *count)
{
	uint32_t n;

	WIRE_TRY(rd_array(r, &n));
	if (n > max)
		return BFT_ETOOBIG;
	if ((uint64_t)n * elem_min > rd_left(r))
		return BFT_EMALFORMED;
	*count = n;
	return BFT_OK;
}

/* Reads a bin header: bin8 for every length below 256 (msgpack has no fixbin), bin16 below
 * 65536, bin32 above. Strings are another family: an op or a digest is never text. */
static enum bft_err rd_bin_header(struct rd *r, uint32_t *len)
{
	uint8_t b;
	uint32_t n;

	if (rd_left(r) < 1)
		return BFT_EMALFORMED;
	b = r->p[0];
	if (b == MP_BIN8) {
		if (rd_left(r) < 2)
			return BFT_EMALFORMED;
		n = r->p[1];
		r->p += 2;
	} else if (b == MP_BIN16) {
		if (rd_left(r) < 3)
			return BFT_EMALFORMED;
		n = (uint32_t)rd_be(r->p + 1, 2);
		if (n < 0x100)
			return BFT_ENONCANON;
		r->p += 3;
	} else if (b == MP_BIN32) {
		if (rd_left(r) < 5)
			return BFT_EMALFORMED;
		n = (uint32_t)rd_be(r->p + 1, 4);
		if (n < 0x10000)
			return BFT_ENONCANON;
		r->p += 5;
	} else {
		return rd_wrong_family(b);
	}
	*len = n;
	return BFT_OK;
}

/*
 * Reads a byte string of min..max bytes, borrowed from the frame. Over max is BFT_ETOOBIG (the
 * limit is checked before the bytes are known to be there); under min is BFT_EFIELD (used for
 * embedded envelopes, which cannot be shorter than the emptiest envelope).
 */
static enum bft_err rd_bin(struct rd *r, uint32_t min, uint32_t max, struct bft_bytes *out)
{
	uint32_t n;

	WIRE_TRY(rd_bin_header(r, &n));
	if (n > max)
		return BFT_ETOOBIG;
	if (n < min)
		return BFT_EFIELD;
	if (n > rd_left(r))
		return BFT_EMALFORMED;
	out->p = r->p;
	out->len = n;
	r->p += n;
	return BFT_OK;
}

/* Reads a byte string of exactly n bytes (a digest, a signature, a Merkle branch node). Any
 * other length, however large, is the wrong field type: it is not a digest. */
static enum bft_err rd_fixed(struct rd *r, uint32_t n, const uint8_t **out)
{
	uint32_t len;

	WIRE_TRY(rd_bin_header(r, &len));
	if (len != n)
		return BFT_EFIELD;
	if (len > rd_left(r))
		return BFT_EMALFORMED;
	*out = r->p;
	r->p += len;
	return BFT_OK;
}

static enum bft_err rd_digest(struct rd *r, uint8_t out[CR_DIGEST_BYTES])
{
	const uint8_t *p;

	WIRE_TRY(rd_fixed(r, CR_DIGEST_BYTES, &p));
	memcpy(out, p, CR_DIGEST_BYTES);
	return BFT_OK;
}

/* Zero-filled storage for n entries of size bytes (NULL for an empty list) into *out, which is
 * set before anything can fail so that the caller's cleanup always sees it. Callers have already
 * bounded n by a limit and by the bytes left in the frame. */
#define RD_ALLOC(out, n)                                                                           \
	do {                                                                                       \
		(out) = (n) == 0 ? NULL : calloc((n), sizeof(*(out)));                             \
		if ((n) != 0 && (out) == NULL)                                                     \
			return BFT_ENOMEM;                                                         \
	} while (0)

/* The bytes one bin-wrapped embedded envelope takes in a list at least: bin8 header + length. */
#define EMBEDDED_MIN ((size_t)2 + WIRE_ENVELOPE_MIN)

/*
 * Reads a list of embedded envelopes, each min_len..max_len bytes, into a new array. The
 * envelopes are not decoded here: the consumer decodes (and verifies) each when it needs it.
 * The array is stored in *items before any entry is read, so that the caller's cleanup frees it
 * whatever happens next.
 */
static enum bft_err rd_env_list(struct rd *r, uint32_t list_max, uint32_t max_len,
				struct bft_bytes **items, uint32_t *n)
{
	uint32_t count;

	WIRE_TRY(rd_list(r, list_max, EMBEDDED_MIN, &count));
	RD_ALLOC(*items, count);
	*n = count;
	for (uint32_t i = 0; i < count; i++)
		WIRE_TRY(rd_bin(r, WIRE_ENVELOPE_MIN, max_len, &(*items)[i]));
	return BFT_OK;
}

/* [reqid, flags, timestamp_ms, op] */
static enum bft_err dec_request(const struct wire_limits *l, struct rd *r, struct bft_request *q)
{
	WIRE_TRY(rd_tuple(r, 4));
	WIRE_TRY(rd_uint(r, &q->reqid));
	WIRE_TRY(rd_u32(r, &q->flags));
	/* Unknown flag bits are refused rather than ignored: a later version giving them a meaning
	 * must not be silently misread by this one. */
	if ((q->flags & ~BFT_REQ_FLAGS_ALL) != 0)
		return BFT_EFIELD;
	WIRE_TRY(rd_uint(r, &q->timestamp_ms));
	return rd_bin(r, 0, l->op_max, &q->op);
}

/* [view, client, reqid, result] */
static enum bft_err dec_reply(const struct wire_limits *l, struct rd *r, struct bft_reply *rp)
{
	WIRE_TRY(rd_tuple(r, 4));
	WIRE_TRY(rd_uint(r, &rp->view));
	WIRE_TRY(rd_uint(r, &rp->client));
	WIRE_TRY(rd_uint(r, &rp->reqid));
	return rd_bin(r, 0, l->result_max, &rp->result);
}

/* [seq, state_digest] */
static enum bft_err dec_checkpoint(struct rd *r, struct bft_checkpoint *c)
{
	WIRE_TRY(rd_tuple(r, 2));
	WIRE_TRY(rd_uint(r, &c->seq));
	return rd_digest(r, c->digest);
}

/* [view, seq, digest, time_ms, requests] */
static enum bft_err dec_preprepare(const struct wire_limits *l, struct rd *r,
				   struct bft_preprepare *pp)
{
	WIRE_TRY(rd_tuple(r, 5));
	WIRE_TRY(rd_uint(r, &pp->view));
	WIRE_TRY(rd_uint(r, &pp->seq));
	WIRE_TRY(rd_digest(r, pp->digest));
	WIRE_TRY(rd_uint(r, &pp->time_ms));
	/* A request envelope is its op plus a bounded overhead and at most one authenticator,
	 * so op_max bounds it too. */
	return rd_env_list(r, l->batch_max, wire_request_max(l), &pp->requests, &pp->nrequests);
}

/* [view, seq, digest] for PREPARE and COMMIT */
static enum bft_err dec_phase(struct rd *r, struct bft_phase *ph)
{
	WIRE_TRY(rd_tuple(r, 3));
	WIRE_TRY(rd_uint(r, &ph->view));
	WIRE_TRY(rd_uint(r, &ph->seq));
	return rd_digest(r, ph->digest);
}

/* A certificate in a list costs the frame at least its fixarray header, an embedded PRE-PREPARE
 * and an empty prepares array. */
#define PCERT_MIN ((size_t)1 + EMBEDDED_MIN + 1)

/* [view, stable_seq, stable_digest, proof:[bin...], prepared:[[preprepare, [bin...]]...]] */
static enum bft_err dec_viewchange(const struct wire_limits *l, struct rd *r,
				   struct bft_viewchange *vc)
{
	uint32_t n;

	WIRE_TRY(rd_tuple(r, 5));
	WIRE_TRY(rd_uint(r, &vc->view));
	WIRE_TRY(rd_uint(r, &vc->stable_seq));
	WIRE_TRY(rd_digest(r, vc->stable_digest));
	WIRE_TRY(rd_env_list(r, l->list_max, WIRE_SMALL_ENVELOPE_MAX, &vc->proof, &vc->nproof));
	WIRE_TRY(rd_list(r, l->list_max, PCERT_MIN, &n));
	RD_ALLOC(vc->prepared, n);
	vc->nprepared = n;
	for (uint32_t i = 0; i < n; i++) {
		struct bft_pcert *pc = &vc->prepared[i];

		WIRE_TRY(rd_tuple(r, 2));
		/* A PRE-PREPARE is bounded only by the frame it travels in. */
		WIRE_TRY(rd_bin(r, WIRE_ENVELOPE_MIN, UINT32_MAX, &pc->preprepare));
		WIRE_TRY(rd_env_list(r, l->list_max, WIRE_SMALL_ENVELOPE_MAX, &pc->prepares,
				     &pc->nprepares));
	}
	return BFT_OK;
}

/* An entry of o costs the frame at least a fixarray header, a one-byte seq and a digest. */
#define NV_ENTRY_MIN ((size_t)1 + 1 + 2 + CR_DIGEST_BYTES)

/* [view, viewchanges:[bin...], o:[[seq, digest]...]] */
static enum bft_err dec_newview(const struct wire_limits *l, struct rd *r, struct bft_newview *nv)
{
	uint32_t n;

	WIRE_TRY(rd_tuple(r, 3));
	WIRE_TRY(rd_uint(r, &nv->view));
	WIRE_TRY(rd_env_list(r, l->list_max, UINT32_MAX, &nv->viewchanges, &nv->nviewchanges));
	WIRE_TRY(rd_list(r, l->list_max, NV_ENTRY_MIN, &n));
	RD_ALLOC(nv->o, n);
	nv->no = n;
	for (uint32_t i = 0; i < n; i++) {
		WIRE_TRY(rd_tuple(r, 2));
		WIRE_TRY(rd_uint(r, &nv->o[i].seq));
		WIRE_TRY(rd_digest(r, nv->o[i].digest));
	}
	return BFT_OK;
}

/* [kind, seq, index] */
static enum bft_err dec_fetch(struct rd *r, struct bft_fetch *f)
{
	WIRE_TRY(rd_tuple(r, 3));
	WIRE_TRY(rd_u32(r, &f->kind));
	if (f->kind != BFT_FETCH_STATE && f->kind != BFT_FETCH_LOG)
		return BFT_EFIELD;
	WIRE_TRY(rd_uint(r, &f->seq));
	return rd_u32(r, &f->index);
}

/* [seq, index, nchunks, data, branch:[bin(32)...]] */
static enum bft_err dec_state(const struct wire_limits *l, struct rd *r, struct bft_state_chunk *s)
{
	uint32_t n;

	WIRE_TRY(rd_tuple(r, 5));
	WIRE_TRY(rd_uint(r, &s->seq));
	WIRE_TRY(rd_u32(r, &s->index));
	WIRE_TRY(rd_u32(r, &s->nchunks));
	WIRE_TRY(rd_bin(r, 0, l->chunk_max, &s->data));
	WIRE_TRY(rd_list(r, l->list_max, (size_t)2 + CR_DIGEST_BYTES, &n));
	RD_ALLOC(s->branch, n);
	s->nbranch = n;
	for (uint32_t i = 0; i < n; i++) {
		WIRE_TRY(rd_fixed(r, CR_DIGEST_BYTES, &s->branch[i].p));
		s->branch[i].len = CR_DIGEST_BYTES;
	}
	return BFT_OK;
}

/* A replica id inside a Honey Badger payload (proposer, instance, shard index): a 32-bit field
 * below n_replicas. A larger value names nobody and is the wrong field (BFT_EFIELD), not a
 * sender error: the envelope's sender is fine. */
static enum bft_err rd_replica(const struct wire_limits *l, struct rd *r, uint32_t *v)
{
	WIRE_TRY(rd_u32(r, v));
	return *v < l->n_replicas ? BFT_OK : BFT_EFIELD;
}

/* [epoch, proposer, root, index, shard, branch:[bin(32)...]] for HB_VAL and HB_ECHO. The shard
 * is bounded by the frame only (its size follows from the proposal's); the branch by
 * BFT_HB_BRANCH_MAX, and it is copied into the fixed array, so nothing is allocated. */
static enum bft_err dec_hb_rbc(const struct wire_limits *l, struct rd *r, struct bft_hb_rbc *m)
{
	uint32_t n;

	WIRE_TRY(rd_tuple(r, 6));
	WIRE_TRY(rd_uint(r, &m->epoch));
	WIRE_TRY(rd_replica(l, r, &m->proposer));
	WIRE_TRY(rd_digest(r, m->root));
	WIRE_TRY(rd_replica(l, r, &m->index));
	WIRE_TRY(rd_bin(r, 1, UINT32_MAX, &m->shard));
	WIRE_TRY(rd_list(r, BFT_HB_BRANCH_MAX, (size_t)2 + CR_DIGEST_BYTES, &n));
	m->nbranch = n;
	for (uint32_t i = 0; i < n; i++)
		WIRE_TRY(rd_digest(r, m->branch[i]));
	return BFT_OK;
}

/* [epoch, proposer, root] */
static enum bft_err dec_hb_ready(const struct wire_limits *l, struct rd *r,
				 struct bft_hb_ready *m)
{
	WIRE_TRY(rd_tuple(r, 3));
	WIRE_TRY(rd_uint(r, &m->epoch));
	WIRE_TRY(rd_replica(l, r, &m->proposer));
	return rd_digest(r, m->root);
}

/* [epoch, instance, round, value]: value a bit, or for CONF a non-empty set of bits. */
static enum bft_err dec_hb_aba(const struct wire_limits *l, struct rd *r, enum bft_msg_type t,
			       struct bft_hb_aba *m)
{
	WIRE_TRY(rd_tuple(r, 4));
	WIRE_TRY(rd_uint(r, &m->epoch));
	WIRE_TRY(rd_replica(l, r, &m->instance));
	WIRE_TRY(rd_u32(r, &m->round));
	WIRE_TRY(rd_u32(r, &m->value));
	if (t == BFT_MSG_HB_CONF)
		return m->value >= 1 && m->value <= BFT_HB_CONF_ALL ? BFT_OK : BFT_EFIELD;
	return m->value <= 1 ? BFT_OK : BFT_EFIELD;
}

static enum bft_err rd_share(struct rd *r, uint8_t out[BFT_HB_SHARE_BYTES])
{
	const uint8_t *p;

	WIRE_TRY(rd_fixed(r, BFT_HB_SHARE_BYTES, &p));
	memcpy(out, p, BFT_HB_SHARE_BYTES);
	return BFT_OK;
}

/* [epoch, instance, round, share:bin(98)] */
static enum bft_err dec_hb_coin(const struct wire_limits *l, struct rd *r, struct bft_hb_coin *m)
{
	WIRE_TRY(rd_tuple(r, 4));
	WIRE_TRY(rd_uint(r, &m->epoch));
	WIRE_TRY(rd_replica(l, r, &m->instance));
	WIRE_TRY(rd_u32(r, &m->round));
	return rd_share(r, m->share);
}

/* [epoch, proposer, share:bin(98)] */
static enum bft_err dec_hb_dec(const struct wire_limits *l, struct rd *r, struct bft_hb_dec *m)
{
	WIRE_TRY(rd_tuple(r, 3));
	WIRE_TRY(rd_uint(r, &m->epoch));
	WIRE_TRY(rd_replica(l, r, &m->proposer));
	return rd_share(r, m->share);
}

/* A verdict bitmap of an HB_CHECK: exactly bytes long, no bit set at or above count. */
static enum bft_err rd_bits(struct rd *r, uint32_t count, uint32_t bytes, struct bft_bytes *out)
{
	WIRE_TRY(rd_bin(r, bytes, bytes, out));
	if (count % 8u != 0 && (out->p[bytes - 1] >> (count % 8u)) != 0)
		return BFT_EFIELD;
	return BFT_OK;
}

/* [epoch, list:bin(32), count, known:bin, valid:bin]. count is bounded by the frame: both
 * bitmaps must be in it, so nothing is allocated and nothing read beyond it. */
static enum bft_err dec_hb_check(struct rd *r, struct bft_hb_check *m)
{
	uint32_t bytes;

	WIRE_TRY(rd_tuple(r, 5));
	WIRE_TRY(rd_uint(r, &m->epoch));
	WIRE_TRY(rd_digest(r, m->list));
	WIRE_TRY(rd_u32(r, &m->count));
	bytes = m->count / 8u + (m->count % 8u != 0);
	WIRE_TRY(rd_bits(r, m->count, bytes, &m->known));
	return rd_bits(r, m->count, bytes, &m->valid);
}

/* SESSION: [session, boxes:bin(n_replicas * BFT_SESSION_BOX_BYTES)] — one box per replica,
 * no more and no fewer: any other length is the wrong field. */
static enum bft_err dec_session(const struct wire_limits *l, struct rd *r, struct bft_session *ss)
{
	const uint8_t *p;
	uint64_t want = (uint64_t)l->n_replicas * BFT_SESSION_BOX_BYTES;

	WIRE_TRY(rd_tuple(r, 2));
	WIRE_TRY(rd_uint(r, &ss->session));
	if (want == 0 || want > UINT32_MAX)
		return BFT_EFIELD;
	WIRE_TRY(rd_fixed(r, (uint32_t)want, &p));
	ss->boxes.p = p;
	ss->boxes.len = (uint32_t)want;
	return BFT_OK;
}

/* An authenticator: [session, macs:bin(nmacs * BFT_MAC_BYTES)], exactly that many bytes, or
 * with empty_ok also an empty bin: a request whose session authenticates its replies only
 * (msg.h), checked by its signature at every replica. */
static enum bft_err dec_auth(struct rd *r, uint64_t nmacs, bool empty_ok, struct bft_msg *m)
{
	uint64_t want = nmacs * BFT_MAC_BYTES;
	uint32_t len;

	WIRE_TRY(rd_tuple(r, 2));
	WIRE_TRY(rd_uint(r, &m->auth_session));
	if (want == 0 || want > UINT32_MAX)
		return BFT_EFIELD;
	WIRE_TRY(rd_bin_header(r, &len));
	if (len != want && !(empty_ok && len == 0))
		return BFT_EFIELD;
	if (len > rd_left(r))
		return BFT_EMALFORMED;
	m->has_auth = true;
	m->auth_macs = r->p;
	m->auth_len = len;
	r->p += len;
	return BFT_OK;
}

static enum bft_err dec_payload(const struct wire_limits *l, struct rd *r, struct bft_msg *m)
{
	switch (m->type) {
	case BFT_MSG_SESSION:
		return dec_session(l, r, &m->u.session);
	case BFT_MSG_REQUEST:
		return dec_request(l, r, &m->u.request);
	case BFT_MSG_REPLY:
		return dec_reply(l, r, &m->u.reply);
	case BFT_MSG_CHECKPOINT:
		return dec_checkpoint(r, &m->u.checkpoint);
	case BFT_MSG_PREPREPARE:
		return dec_preprepare(l, r, &m->u.preprepare);
	case BFT_MSG_PREPARE:
	case BFT_MSG_COMMIT:
		return dec_phase(r, &m->u.phase);
	case BFT_MSG_VIEWCHANGE:
		return dec_viewchange(l, r, &m->u.viewchange);
	case BFT_MSG_NEWVIEW:
		return dec_newview(l, r, &m->u.newview);
	case BFT_MSG_FETCH:
		return dec_fetch(r, &m->u.fetch);
	case BFT_MSG_STATE:
		return dec_state(l, r, &m->u.state);
	case BFT_MSG_HB_VAL:
	case BFT_MSG_HB_ECHO:
		return dec_hb_rbc(l, r, &m->u.hb_rbc);
	case BFT_MSG_HB_READY:
		return dec_hb_ready(l, r, &m->u.hb_ready);
	case BFT_MSG_HB_BVAL:
	case BFT_MSG_HB_AUX:
	case BFT_MSG_HB_CONF:
	case BFT_MSG_HB_TERM:
		return dec_hb_aba(l, r, m->type, &m->u.hb_aba);
	case BFT_MSG_HB_COIN:
		return dec_hb_coin(l, r, &m->u.hb_coin);
	case BFT_MSG_HB_DEC:
		return dec_hb_dec(l, r, &m->u.hb_dec);
	case BFT_MSG_HB_CHECK:
		return dec_hb_check(r, &m->u.hb_check);
	default:
		return BFT_ETYPE;
	}
}

/* Decodes into *m, which the caller zeroed; on error m may hold arrays for the caller to free. */
static enum bft_err dec_envelope(const struct wire_limits *l, const uint8_t *buf, size_t len,
				 struct bft_msg *m)
{
	struct rd r = {buf, buf + len};
	const uint8_t *signed_start, *sig;
	uint64_t v;
	uint32_t fields;

	/* Five elements, or six for a REQUEST with an authenticator: which one is known only once
	 * the type is read, so a sixth element on another type is refused there. */
	WIRE_TRY(rd_array(&r, &fields));
	if (fields != WIRE_ENVELOPE_FIELDS && fields != WIRE_ENVELOPE_FIELDS_AUTH)
		return BFT_EARITY;
	signed_start = r.p;

	WIRE_TRY(rd_uint(&r, &v));
	if (v != BFT_WIRE_VERSION)
		return BFT_EVERSION;
	m->version = (uint32_t)v;

	WIRE_TRY(rd_uint(&r, &v));
	if (!wire_type_known(v))
		return BFT_ETYPE;
	m->type = (enum bft_msg_type)v;
	if (fields == WIRE_ENVELOPE_FIELDS_AUTH && m->type != BFT_MSG_REQUEST)
		return BFT_EARITY;

	/* Clients send requests and sessions and nothing else; replicas send everything else. */
	WIRE_TRY(rd_uint(&r, &m->sender));
	if (m->type == BFT_MSG_REQUEST || m->type == BFT_MSG_SESSION ? m->sender >= l->n_clients
								     : m->sender >= l->n_replicas)
		return BFT_ESENDER;

	WIRE_TRY(dec_payload(l, &r, m));
	m->signed_part.p = signed_start;
	m->signed_part.len = (uint32_t)(r.p - signed_start);

	/* A REPLY in MAC form has [session, mac] where the signature would be (a fixarray, not
	 * a bin: the two forms cannot be confused). */
	if (m->type == BFT_MSG_REPLY && rd_left(&r) > 0 && r.p[0] >= MP_FIXARRAY &&
	    r.p[0] <= MP_FIXARRAY_MAX) {
		WIRE_TRY(dec_auth(&r, 1, false, m));
	} else {
		WIRE_TRY(rd_fixed(&r, CR_SIG_BYTES, &sig));
		memcpy(m->sig, sig, CR_SIG_BYTES);
		if (fields == WIRE_ENVELOPE_FIELDS_AUTH)
			WIRE_TRY(dec_auth(&r, l->n_replicas, true, m));
	}
	if (r.p != r.end)
		return BFT_ETRAILING;
	m->frame.p = buf;
	m->frame.len = (uint32_t)len;
	return BFT_OK;
}

enum bft_err wire_decode(const struct wire_limits *l, const uint8_t *buf, size_t len,
			 struct bft_msg *out)
{
	struct bft_msg m;
	enum bft_err e;

	memset(out, 0, sizeof(*out));
	/* The frame limit comes first so that nothing at all is read from an oversized frame, and
	 * it also keeps every length in the frame within the uint32_t of struct bft_bytes. */
	if (len > l->frame_max || len > UINT32_MAX)
		return BFT_ETOOBIG;
	if (buf == NULL || len == 0)
		return BFT_EMALFORMED;
	memset(&m, 0, sizeof(m));
	e = dec_envelope(l, buf, len, &m);
	if (e != BFT_OK) {
		wire_msg_free(&m);
		return e;
	}
	*out = m;
	return BFT_OK;
}

void wire_msg_free(struct bft_msg *m)
{
	switch (m->type) {
	case BFT_MSG_PREPREPARE:
		free(m->u.preprepare.requests);
		break;
	case BFT_MSG_VIEWCHANGE:
		free(m->u.viewchange.proof);
		for (uint32_t i = 0; i < m->u.viewchange.nprepared; i++)
			free(m->u.viewchange.prepared[i].prepares);
		free(m->u.viewchange.prepared);
		break;
	case BFT_MSG_NEWVIEW:
		free(m->u.newview.viewchanges);
		free(m->u.newview.o);
		break;
	case BFT_MSG_STATE:
		free(m->u.state.branch);
		break;
	default:
		break;
	}
	memset(m, 0, sizeof(*m));
}
