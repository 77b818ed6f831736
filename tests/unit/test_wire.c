/*
 * test_wire.c: the message codec (bft/wire.h) on fixed messages and hand-made bad frames.
 *
 * Every rejection test builds its frame byte by byte with the small writer below (independent of
 * the encoder under test), usually next to a control frame that differs only in the defect and
 * must be accepted, so that a test cannot pass because its frame was broken somewhere else.
 *
 * Golden vectors: tests/vectors/wire_<type>.hex hold the signed envelope of each fixed sample
 * message below. A missing or different file fails the test. To regenerate them after a deliberate
 * change of the wire format, run from the repository root:
 *     WIRE_REGEN=1 build/tests/unit/test_wire
 * (WIRE_VECTOR_DIR overrides the directory, which is tests/vectors by default.)
 *
 * Randomised properties, truncation at every offset and mutation live in test_wire_prop.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bft/wire.h"
#include "test_wire.h"

#define N_REPLICAS 4u
#define N_CLIENTS 100u

static struct cr_identity replica_ids[N_REPLICAS];
static struct cr_identity client_identity;
static struct cr_identity stranger_identity;
static struct wire_limits L;

static int group_setup(void **state)
{
	uint8_t seed[CR_SEED_BYTES];

	(void)state;
	if (cr_init() != 0)
		return -1;
	for (unsigned i = 0; i < N_REPLICAS; i++) {
		memset(seed, (int)(0x10 + i), sizeof(seed));
		if (cr_identity_from_seed(&replica_ids[i], seed) != 0)
			return -1;
	}
	memset(seed, 0xc1, sizeof(seed));
	if (cr_identity_from_seed(&client_identity, seed) != 0)
		return -1;
	memset(seed, 0x5e, sizeof(seed));
	if (cr_identity_from_seed(&stranger_identity, seed) != 0)
		return -1;
	wire_limits_default(&L, N_REPLICAS, N_CLIENTS);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (unsigned i = 0; i < N_REPLICAS; i++)
		cr_identity_free(&replica_ids[i]);
	cr_identity_free(&client_identity);
	cr_identity_free(&stranger_identity);
	return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Fixed sample messages, one per type, with real signed envelopes embedded where msg.h says so. */

#define SAMPLE_EMB_MAX 12

struct sample {
	struct bft_msg m;
	struct wire_buf emb[SAMPLE_EMB_MAX]; /* the embedded envelopes' bytes */
	unsigned nemb;
	struct bft_bytes list_a[4], list_b[4];
	struct bft_pcert pcert[1];
	struct bft_nv_entry o[2];
	uint8_t data[40];
	uint8_t branch[2][CR_DIGEST_BYTES];
};

static const struct cr_identity *signer_of(const struct bft_msg *m)
{
	if (m->type == BFT_MSG_REQUEST)
		return &client_identity;
	assert_true(m->sender < N_REPLICAS);
	return &replica_ids[m->sender];
}

/* Encodes m, signed by its sender, into storage owned by s, and returns a view of the bytes. */
static struct bft_bytes sample_embed(struct sample *s, const struct bft_msg *m)
{
	struct wire_buf *b;

	assert_true(s->nemb < SAMPLE_EMB_MAX);
	b = &s->emb[s->nemb++];
	assert_int_equal(wire_encode(m, signer_of(m), b), BFT_OK);
	return (struct bft_bytes){b->p, (uint32_t)b->len};
}

static void sample_free(struct sample *s)
{
	for (unsigned i = 0; i < s->nemb; i++)
		wire_buf_free(&s->emb[i]);
	s->nemb = 0;
}

static struct bft_bytes str_bytes(const char *s)
{
	return (struct bft_bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static void sample_build(struct sample *s, enum bft_msg_type t);

/* The batch digest of the sample PRE-PREPARE, which PREPAREs, COMMITs and NEW-VIEWs refer to. */
static void sample_batch_digest(uint8_t out[CR_DIGEST_BYTES])
{
	struct sample pp;

	sample_build(&pp, BFT_MSG_PREPREPARE);
	memcpy(out, pp.m.u.preprepare.digest, CR_DIGEST_BYTES);
	sample_free(&pp);
}

static void sample_build(struct sample *s, enum bft_msg_type t)
{
	struct bft_msg *m = &s->m;
	struct sample inner;

	memset(s, 0, sizeof(*s));
	m->version = BFT_WIRE_VERSION;
	m->type = t;
	switch (t) {
	case BFT_MSG_REQUEST:
		m->sender = 7;
		m->u.request.reqid = 300;
		m->u.request.flags = BFT_REQ_READONLY;
		m->u.request.timestamp_ms = 1700000000000ull;
		m->u.request.op = str_bytes("put answer 42");
		break;
	case BFT_MSG_REPLY:
		m->sender = 2;
		m->u.reply.view = 1;
		m->u.reply.client = 7;
		m->u.reply.reqid = 300;
		m->u.reply.result = str_bytes("ok");
		break;
	case BFT_MSG_CHECKPOINT:
		m->sender = 1;
		m->u.checkpoint.seq = 128;
		memset(m->u.checkpoint.digest, 0x11, CR_DIGEST_BYTES);
		break;
	case BFT_MSG_PREPREPARE:
		m->sender = 1;
		m->u.preprepare.view = 1;
		m->u.preprepare.seq = 65536;
		m->u.preprepare.time_ms = 1700000000123ull;
		sample_build(&inner, BFT_MSG_REQUEST);
		s->list_a[0] = sample_embed(s, &inner.m);
		inner.m.sender = 9;
		inner.m.u.request.reqid = 5;
		inner.m.u.request.flags = 0;
		inner.m.u.request.timestamp_ms = 1700000000100ull;
		inner.m.u.request.op = str_bytes("get answer");
		s->list_a[1] = sample_embed(s, &inner.m);
		m->u.preprepare.requests = s->list_a;
		m->u.preprepare.nrequests = 2;
		bft_batch_digest(m->u.preprepare.time_ms, s->list_a, 2, m->u.preprepare.digest);
		break;
	case BFT_MSG_PREPARE:
	case BFT_MSG_COMMIT:
		m->sender = t == BFT_MSG_PREPARE ? 2 : 3;
		m->u.phase.view = 1;
		m->u.phase.seq = 65536;
		sample_batch_digest(m->u.phase.digest);
		break;
	case BFT_MSG_VIEWCHANGE:
		m->sender = 2;
		m->u.viewchange.view = 2;
		m->u.viewchange.stable_seq = 128;
		memset(m->u.viewchange.stable_digest, 0x11, CR_DIGEST_BYTES);
		sample_build(&inner, BFT_MSG_CHECKPOINT);
		for (uint64_t r = 0; r < 3; r++) {
			inner.m.sender = r;
			s->list_a[r] = sample_embed(s, &inner.m);
		}
		m->u.viewchange.proof = s->list_a;
		m->u.viewchange.nproof = 3;
		sample_build(&inner, BFT_MSG_PREPREPARE);
		s->pcert[0].preprepare = sample_embed(s, &inner.m);
		sample_free(&inner);
		sample_build(&inner, BFT_MSG_PREPARE);
		for (uint64_t r = 2; r < 4; r++) {
			inner.m.sender = r;
			s->list_b[r - 2] = sample_embed(s, &inner.m);
		}
		s->pcert[0].prepares = s->list_b;
		s->pcert[0].nprepares = 2;
		m->u.viewchange.prepared = s->pcert;
		m->u.viewchange.nprepared = 1;
		break;
	case BFT_MSG_NEWVIEW:
		m->sender = 2;
		m->u.newview.view = 2;
		/* Short VIEW-CHANGEs from the initial state keep the vector readable. */
		memset(&inner, 0, sizeof(inner));
		inner.m.version = BFT_WIRE_VERSION;
		inner.m.type = BFT_MSG_VIEWCHANGE;
		inner.m.u.viewchange.view = 2;
		for (uint64_t r = 0; r < 3; r++) {
			inner.m.sender = r == 2 ? 3 : r;
			s->list_a[r] = sample_embed(s, &inner.m);
		}
		m->u.newview.viewchanges = s->list_a;
		m->u.newview.nviewchanges = 3;
		s->o[0].seq = 65536;
		sample_batch_digest(s->o[0].digest);
		s->o[1].seq = 65537;
		m->u.newview.o = s->o;
		m->u.newview.no = 2;
		break;
	case BFT_MSG_FETCH:
		m->sender = 3;
		m->u.fetch.kind = BFT_FETCH_STATE;
		m->u.fetch.seq = 128;
		m->u.fetch.index = 300;
		break;
	case BFT_MSG_STATE:
		m->sender = 0;
		m->u.state.seq = 128;
		m->u.state.index = 1;
		m->u.state.nchunks = 3;
		for (unsigned i = 0; i < sizeof(s->data); i++)
			s->data[i] = (uint8_t)(i * 7);
		m->u.state.data = (struct bft_bytes){s->data, sizeof(s->data)};
		memset(s->branch[0], 0xaa, CR_DIGEST_BYTES);
		memset(s->branch[1], 0xbb, CR_DIGEST_BYTES);
		s->list_a[0] = (struct bft_bytes){s->branch[0], CR_DIGEST_BYTES};
		s->list_a[1] = (struct bft_bytes){s->branch[1], CR_DIGEST_BYTES};
		m->u.state.branch = s->list_a;
		m->u.state.nbranch = 2;
		break;
	case BFT_MSG_HB_VAL:
	case BFT_MSG_HB_ECHO:
		/* Shard 2 of proposer 0's proposal: sent by the proposer to replica 2 (VAL), then
		 * by replica 2 to everyone (ECHO). */
		m->sender = t == BFT_MSG_HB_VAL ? 0 : 2;
		m->u.hb_rbc.epoch = 5;
		m->u.hb_rbc.proposer = 0;
		memset(m->u.hb_rbc.root, 0x21, CR_DIGEST_BYTES);
		m->u.hb_rbc.index = 2;
		for (unsigned i = 0; i < 24; i++)
			s->data[i] = (uint8_t)(0x40 + i);
		m->u.hb_rbc.shard = (struct bft_bytes){s->data, 24};
		memset(m->u.hb_rbc.branch[0], 0x31, CR_DIGEST_BYTES);
		memset(m->u.hb_rbc.branch[1], 0x32, CR_DIGEST_BYTES);
		m->u.hb_rbc.nbranch = 2;
		break;
	case BFT_MSG_HB_READY:
		m->sender = 1;
		m->u.hb_ready.epoch = 5;
		m->u.hb_ready.proposer = 0;
		memset(m->u.hb_ready.root, 0x21, CR_DIGEST_BYTES);
		break;
	case BFT_MSG_HB_BVAL:
	case BFT_MSG_HB_AUX:
	case BFT_MSG_HB_CONF:
	case BFT_MSG_HB_TERM:
		m->sender = 3;
		m->u.hb_aba.epoch = 5;
		m->u.hb_aba.instance = t == BFT_MSG_HB_CONF || t == BFT_MSG_HB_TERM ? 1 : 0;
		m->u.hb_aba.round = t == BFT_MSG_HB_TERM ? 300 : 2;
		m->u.hb_aba.value = t == BFT_MSG_HB_CONF ? BFT_HB_CONF_ALL : 1;
		break;
	case BFT_MSG_HB_COIN:
		m->sender = 2;
		m->u.hb_coin.epoch = 5;
		m->u.hb_coin.instance = 1;
		m->u.hb_coin.round = 2;
		for (unsigned i = 0; i < BFT_HB_SHARE_BYTES; i++)
			m->u.hb_coin.share[i] = (uint8_t)(i * 3);
		break;
	case BFT_MSG_HB_DEC:
		m->sender = 1;
		m->u.hb_dec.epoch = 5;
		m->u.hb_dec.proposer = 3;
		for (unsigned i = 0; i < BFT_HB_SHARE_BYTES; i++)
			m->u.hb_dec.share[i] = (uint8_t)(0xd0 ^ i);
		break;
	case BFT_MSG_HB_CHECK: {
		/* 11 entries: two bytes per bitmap, the top five bits clear. */
		static const uint8_t known[2] = {0xff, 0x05}, valid[2] = {0x7d, 0x04};

		m->sender = 2;
		m->u.hb_check.epoch = 5;
		for (unsigned i = 0; i < CR_DIGEST_BYTES; i++)
			m->u.hb_check.list[i] = (uint8_t)(0x30 + i);
		m->u.hb_check.count = 11;
		m->u.hb_check.known = (struct bft_bytes){.p = known, .len = 2};
		m->u.hb_check.valid = (struct bft_bytes){.p = valid, .len = 2};
		break;
	}
	default:
		fail_msg("no sample for type %d", (int)t);
	}
}

/* Encodes the sample of type t, signed by its sender, into *out (which the caller frees). */
static void sample_encode(struct sample *s, enum bft_msg_type t, struct wire_buf *out)
{
	sample_build(s, t);
	memset(out, 0, sizeof(*out));
	assert_int_equal(wire_encode(&s->m, signer_of(&s->m), out), BFT_OK);
}

/* ------------------------------------------------------------------------------------------- */
/* A byte-level frame writer, independent of the encoder under test. */

struct fb {
	uint8_t *p;
	size_t len, cap;
};

static void fb_raw(struct fb *f, const void *p, size_t n)
{
	if (f->len + n > f->cap) {
		size_t cap = f->cap ? f->cap : 256;

		while (cap < f->len + n)
			cap *= 2;
		f->p = realloc(f->p, cap);
		assert_non_null(f->p);
		f->cap = cap;
	}
	if (n > 0)
		memcpy(f->p + f->len, p, n);
	f->len += n;
}

static void fb_byte(struct fb *f, uint8_t b)
{
	fb_raw(f, &b, 1);
}

static void fb_be(struct fb *f, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fb_byte(f, (uint8_t)(v >> (8 * (n - 1 - i))));
}

/* An unsigned integer in its shortest form. */
static void fb_uint(struct fb *f, uint64_t v)
{
	if (v < 0x80) {
		fb_byte(f, (uint8_t)v);
	} else if (v < 0x100) {
		fb_byte(f, 0xcc);
		fb_be(f, v, 1);
	} else if (v < 0x10000) {
		fb_byte(f, 0xcd);
		fb_be(f, v, 2);
	} else if (v < 0x100000000ull) {
		fb_byte(f, 0xce);
		fb_be(f, v, 4);
	} else {
		fb_byte(f, 0xcf);
		fb_be(f, v, 8);
	}
}

static void fb_array(struct fb *f, uint32_t n)
{
	if (n < 16) {
		fb_byte(f, (uint8_t)(0x90 | n));
	} else if (n < 0x10000) {
		fb_byte(f, 0xdc);
		fb_be(f, n, 2);
	} else {
		fb_byte(f, 0xdd);
		fb_be(f, n, 4);
	}
}

static void fb_bin_header(struct fb *f, uint32_t n)
{
	if (n < 0x100) {
		fb_byte(f, 0xc4);
		fb_be(f, n, 1);
	} else if (n < 0x10000) {
		fb_byte(f, 0xc5);
		fb_be(f, n, 2);
	} else {
		fb_byte(f, 0xc6);
		fb_be(f, n, 4);
	}
}

static void fb_fill(struct fb *f, uint32_t n, uint8_t fill)
{
	for (uint32_t i = 0; i < n; i++)
		fb_byte(f, fill);
}

/* A bin of n bytes, all equal to fill. */
static void fb_bin(struct fb *f, uint32_t n, uint8_t fill)
{
	fb_bin_header(f, n);
	fb_fill(f, n, fill);
}

static void fb_digest(struct fb *f)
{
	fb_bin(f, CR_DIGEST_BYTES, 0xdd);
}

static void fb_sig(struct fb *f)
{
	fb_bin(f, CR_SIG_BYTES, 0x55);
}

/* The envelope's array header, version 1, type and sender: everything before the payload. */
static void fb_head(struct fb *f, uint64_t type, uint64_t sender)
{
	fb_array(f, 5);
	fb_uint(f, BFT_WIRE_VERSION);
	fb_uint(f, type);
	fb_uint(f, sender);
}

static void fb_reset(struct fb *f)
{
	f->len = 0;
}

static void fb_free(struct fb *f)
{
	free(f->p);
	memset(f, 0, sizeof(*f));
}

/* Asserts that decoding the frame under l gives want, then empties the writer for reuse. */
static void fb_expect(struct fb *f, const struct wire_limits *l, enum bft_err want)
{
	if (want == BFT_OK) {
		struct bft_msg m;
		enum bft_err got = wire_decode(l, f->p, f->len, &m);

		if (got != BFT_OK)
			fail_msg("decode: want ok, got %s", bft_err_name(got));
		wire_msg_free(&m);
	} else {
		wt_assert_decode_fails(l, f->p, f->len, want);
	}
	fb_reset(f);
}

/* Whole frames of each kind with the sizes that limits apply to as parameters. */

static void fb_request(struct fb *f, uint32_t op_len)
{
	fb_head(f, BFT_MSG_REQUEST, 7);
	fb_array(f, 4);
	fb_uint(f, 1);
	fb_uint(f, 0);
	fb_uint(f, 0);
	fb_bin(f, op_len, 'o');
	fb_sig(f);
}

static void fb_reply(struct fb *f, uint32_t result_len)
{
	fb_head(f, BFT_MSG_REPLY, 1);
	fb_array(f, 4);
	fb_uint(f, 0);
	fb_uint(f, 7);
	fb_uint(f, 1);
	fb_bin(f, result_len, 'r');
	fb_sig(f);
}

static void fb_preprepare(struct fb *f, uint32_t nreq, uint32_t req_len)
{
	fb_head(f, BFT_MSG_PREPREPARE, 0);
	fb_array(f, 5);
	fb_uint(f, 0);
	fb_uint(f, 1);
	fb_digest(f);
	fb_uint(f, 1000);
	fb_array(f, nreq);
	for (uint32_t i = 0; i < nreq; i++)
		fb_bin(f, req_len, 'q');
	fb_sig(f);
}

struct vc_shape {
	uint32_t nproof, proof_len;        /* embedded CHECKPOINTs */
	uint32_t nprepared, preprepare_len; /* certificates and their PRE-PREPAREs */
	uint32_t nprepares, prepare_len;   /* PREPAREs in each certificate */
};

static void fb_viewchange(struct fb *f, const struct vc_shape *s)
{
	fb_head(f, BFT_MSG_VIEWCHANGE, 2);
	fb_array(f, 5);
	fb_uint(f, 1);
	fb_uint(f, 0);
	fb_digest(f);
	fb_array(f, s->nproof);
	for (uint32_t i = 0; i < s->nproof; i++)
		fb_bin(f, s->proof_len, 'c');
	fb_array(f, s->nprepared);
	for (uint32_t i = 0; i < s->nprepared; i++) {
		fb_array(f, 2);
		fb_bin(f, s->preprepare_len, 'p');
		fb_array(f, s->nprepares);
		for (uint32_t j = 0; j < s->nprepares; j++)
			fb_bin(f, s->prepare_len, 'P');
	}
	fb_sig(f);
}

static const struct vc_shape vc_default = {2, 122, 2, 300, 2, 131};

static void fb_newview(struct fb *f, uint32_t nvc, uint32_t vc_len, uint32_t no)
{
	fb_head(f, BFT_MSG_NEWVIEW, 1);
	fb_array(f, 3);
	fb_uint(f, 1);
	fb_array(f, nvc);
	for (uint32_t i = 0; i < nvc; i++)
		fb_bin(f, vc_len, 'v');
	fb_array(f, no);
	for (uint32_t i = 0; i < no; i++) {
		fb_array(f, 2);
		fb_uint(f, 10 + i);
		fb_digest(f);
	}
	fb_sig(f);
}

static void fb_fetch(struct fb *f, uint64_t kind, uint64_t index)
{
	fb_head(f, BFT_MSG_FETCH, 3);
	fb_array(f, 3);
	fb_uint(f, kind);
	fb_uint(f, 128);
	fb_uint(f, index);
	fb_sig(f);
}

static void fb_state(struct fb *f, uint32_t data_len, uint32_t nbranch)
{
	fb_head(f, BFT_MSG_STATE, 0);
	fb_array(f, 5);
	fb_uint(f, 128);
	fb_uint(f, 0);
	fb_uint(f, 1);
	fb_bin(f, data_len, 'd');
	fb_array(f, nbranch);
	for (uint32_t i = 0; i < nbranch; i++)
		fb_digest(f);
	fb_sig(f);
}

/* Small limits, so that over-limit frames stay small. */
static struct wire_limits small_limits(void)
{
	struct wire_limits l;

	wire_limits_default(&l, N_REPLICAS, N_CLIENTS);
	l.op_max = 16;
	l.result_max = 16;
	l.batch_max = 2;
	l.list_max = 3;
	l.chunk_max = 8;
	return l;
}

/* ------------------------------------------------------------------------------------------- */
/* Round trips and golden vectors. */

static void check_round_trip(enum bft_msg_type t)
{
	struct sample s;
	struct wire_buf b, again = {0};
	struct bft_msg d;

	sample_encode(&s, t, &b);
	assert_int_equal(wire_decode(&L, b.p, b.len, &d), BFT_OK);
	wt_assert_msg_equal(&s.m, &d, 0);
	assert_ptr_equal(d.frame.p, b.p);
	assert_int_equal(d.frame.len, b.len);
	/* The signed part is everything between the one-byte envelope header and the signature's
	 * bin8 header, length byte and 64 bytes. */
	assert_ptr_equal(d.signed_part.p, b.p + 1);
	assert_int_equal(d.signed_part.len, b.len - 1 - 2 - CR_SIG_BYTES);
	assert_int_equal(wire_verify(&d, signer_of(&s.m)->pk), BFT_OK);
	assert_int_equal(wire_encode(&d, NULL, &again), BFT_OK);
	assert_int_equal(again.len, b.len);
	assert_memory_equal(again.p, b.p, b.len);
	wire_msg_free(&d);
	wt_assert_msg_zeroed(&d);
	wire_buf_free(&again);
	wire_buf_free(&b);
	sample_free(&s);
}

#define WT_DEF_ROUND_TRIP(name, type)                                                              \
	static void test_wire_round_trips_##name(void **state)                                     \
	{                                                                                          \
		(void)state;                                                                       \
		check_round_trip(type);                                                            \
	}
WT_EACH_TYPE(WT_DEF_ROUND_TRIP)

static const char *type_name(enum bft_msg_type t)
{
#define WT_NAME_CASE(name, type)                                                                   \
	case type:                                                                                 \
		return #name;
	switch (t) {
		WT_EACH_TYPE(WT_NAME_CASE)
	default:
		return "unknown";
	}
#undef WT_NAME_CASE
}

static void vector_path(enum bft_msg_type t, char *path, size_t size)
{
	const char *dir = getenv("WIRE_VECTOR_DIR");

	if (dir == NULL || dir[0] == '\0')
		dir = "tests/vectors";
	assert_true((size_t)snprintf(path, size, "%s/wire_%s.hex", dir, type_name(t)) < size);
}

static void vector_write(const char *path, enum bft_msg_type t, const struct wire_buf *b)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		fail_msg("cannot write %s", path);
	fprintf(fp, "# wire_%s.hex: the signed %s envelope built by sample_build() in\n",
		type_name(t), type_name(t));
	fprintf(fp, "# tests/unit/test_wire.c (%zu bytes). Regenerate from the repository root with\n",
		b->len);
	fprintf(fp, "#     WIRE_REGEN=1 build/tests/unit/test_wire\n");
	for (size_t i = 0; i < b->len; i++)
		fprintf(fp, "%02x%s", b->p[i], (i % 32 == 31 || i + 1 == b->len) ? "\n" : "");
	assert_int_equal(fclose(fp), 0);
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads a vector file: '#' starts a comment line, whitespace is ignored, the rest is hex pairs.
 * Fails the test (never skips it) when the file is missing or holds anything else. */
static void vector_read(const char *path, struct fb *out)
{
	FILE *fp = fopen(path, "r");
	int c, hi = -1, comment = 0, at_line_start = 1;

	if (fp == NULL)
		fail_msg("golden vector %s is missing (run WIRE_REGEN=1 build/tests/unit/test_wire "
			 "from the repository root to create it)",
			 path);
	while ((c = fgetc(fp)) != EOF) {
		if (c == '\n') {
			comment = 0;
			at_line_start = 1;
			continue;
		}
		if (comment)
			continue;
		if (at_line_start && c == '#') {
			comment = 1;
			continue;
		}
		at_line_start = 0;
		if (c == ' ' || c == '\t' || c == '\r')
			continue;
		if (hex_value(c) < 0) {
			fclose(fp);
			fail_msg("%s: unexpected character 0x%02x", path, (unsigned)c);
		}
		if (hi < 0) {
			hi = hex_value(c);
		} else {
			fb_byte(out, (uint8_t)(hi << 4 | hex_value(c)));
			hi = -1;
		}
	}
	fclose(fp);
	if (hi >= 0)
		fail_msg("%s: odd number of hex digits", path);
}

static void check_golden(enum bft_msg_type t)
{
	struct sample s;
	struct wire_buf b;
	struct fb want = {0};
	struct bft_msg d;
	char path[512];
	const char *regen = getenv("WIRE_REGEN");

	sample_encode(&s, t, &b);
	vector_path(t, path, sizeof(path));
	if (regen != NULL && strcmp(regen, "1") == 0) {
		vector_write(path, t, &b);
		print_message("regenerated %s\n", path);
	}
	vector_read(path, &want);
	if (want.len != b.len || memcmp(want.p, b.p, b.len) != 0) {
		size_t i = 0;

		while (i < want.len && i < b.len && want.p[i] == b.p[i])
			i++;
		fail_msg("%s: encoding differs from the golden vector at byte %zu (vector %zu bytes, "
			 "encoder %zu bytes)",
			 path, i, want.len, b.len);
	}
	/* The vector also decodes to the sample and carries a valid signature. */
	assert_int_equal(wire_decode(&L, want.p, want.len, &d), BFT_OK);
	wt_assert_msg_equal(&s.m, &d, 0);
	assert_int_equal(wire_verify(&d, signer_of(&s.m)->pk), BFT_OK);
	wire_msg_free(&d);
	fb_free(&want);
	wire_buf_free(&b);
	sample_free(&s);
}

#define WT_DEF_GOLDEN(name, type)                                                                  \
	static void test_wire_matches_golden_vector_##name(void **state)                           \
	{                                                                                          \
		(void)state;                                                                       \
		check_golden(type);                                                                \
	}
WT_EACH_TYPE(WT_DEF_GOLDEN)

/* The byte writer above and the encoder agree on every form (so the bad frames built with the
 * writer differ from encoder output only where a test says). */
static void test_wire_hand_built_frames_match_the_encoder(void **state)
{
	struct fb f = {0};
	struct wire_buf b = {0};
	struct bft_msg m;
	uint8_t big[300];

	(void)state;
	memset(big, 'o', sizeof(big));
	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_REQUEST;
	m.sender = 7;
	m.u.request.reqid = 1;
	m.u.request.op = (struct bft_bytes){big, sizeof(big)};
	memset(m.sig, 0x55, sizeof(m.sig));
	fb_request(&f, sizeof(big));
	assert_int_equal(wire_encode(&m, NULL, &b), BFT_OK);
	assert_int_equal(b.len, f.len);
	assert_memory_equal(b.p, f.p, f.len);
	fb_expect(&f, &L, BFT_OK);
	wire_buf_free(&b);
	fb_free(&f);
}

/* Every integer boundary gets the shortest form: fixint, uint8, uint16, uint32, uint64. */
static void test_wire_encodes_integers_in_shortest_form(void **state)
{
	static const struct {
		uint64_t v;
		uint8_t first;
		size_t size;
	} cases[] = {
		{0, 0x00, 1},
		{127, 0x7f, 1},
		{128, 0xcc, 2},
		{255, 0xcc, 2},
		{256, 0xcd, 3},
		{65535, 0xcd, 3},
		{65536, 0xce, 5},
		{UINT32_MAX, 0xce, 5},
		{(uint64_t)UINT32_MAX + 1, 0xcf, 9},
		{UINT64_MAX, 0xcf, 9},
	};
	struct wire_limits l = L;

	(void)state;
	l.n_clients = UINT64_MAX;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bft_msg m, d;
		struct wire_buf b = {0};

		memset(&m, 0, sizeof(m));
		m.version = BFT_WIRE_VERSION;
		m.type = BFT_MSG_REQUEST;
		m.sender = 0;
		m.u.request.reqid = cases[i].v;
		assert_int_equal(wire_encode(&m, NULL, &b), BFT_OK);
		/* 0x95 0x01 0x01 sender=0x00 0x94 then reqid. */
		assert_int_equal(b.p[5], cases[i].first);
		assert_int_equal(b.len, 5 + cases[i].size + 1 + 1 + 2 + 2 + CR_SIG_BYTES);
		assert_int_equal(wire_decode(&l, b.p, b.len, &d), BFT_OK);
		assert_int_equal(d.u.request.reqid, cases[i].v);
		wire_msg_free(&d);
		wire_buf_free(&b);
	}
}

/* bin8 for lengths below 256 (including 0), bin16 below 65536, bin32 above; fixarray below 16
 * entries, array16 below 65536, array32 above; all round trip. */
static void test_wire_encodes_bins_and_arrays_in_shortest_form(void **state)
{
	static const struct {
		uint32_t len;
		uint8_t first;
	} bins[] = {{0, 0xc4}, {255, 0xc4}, {256, 0xc5}, {65535, 0xc5}, {65536, 0xc6}};
	static const struct {
		uint32_t n;
		uint8_t first;
	} arrays[] = {{0, 0x90}, {15, 0x9f}, {16, 0xdc}, {65535, 0xdc}, {65536, 0xdd}};
	uint8_t *space = calloc(1, 65536 * (size_t)CR_DIGEST_BYTES);
	struct bft_bytes *nodes = calloc(65536, sizeof(*nodes));
	struct wire_limits l = L;

	(void)state;
	assert_non_null(space);
	assert_non_null(nodes);
	l.list_max = 65536;
	for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
		struct bft_msg m, d;
		struct wire_buf b = {0};

		memset(&m, 0, sizeof(m));
		m.version = BFT_WIRE_VERSION;
		m.type = BFT_MSG_REQUEST;
		m.u.request.op = (struct bft_bytes){space, bins[i].len};
		assert_int_equal(wire_encode(&m, NULL, &b), BFT_OK);
		/* 0x95 0x01 0x01 0x00 0x94 reqid flags timestamp, then the op's header. */
		assert_int_equal(b.p[8], bins[i].first);
		assert_int_equal(wire_decode(&l, b.p, b.len, &d), BFT_OK);
		wt_assert_msg_equal(&m, &d, 1);
		wire_msg_free(&d);
		wire_buf_free(&b);
	}
	for (uint32_t i = 0; i < 65536; i++)
		nodes[i] = (struct bft_bytes){space + (size_t)i * CR_DIGEST_BYTES, CR_DIGEST_BYTES};
	for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++) {
		struct bft_msg m, d;
		struct wire_buf b = {0};

		memset(&m, 0, sizeof(m));
		m.version = BFT_WIRE_VERSION;
		m.type = BFT_MSG_STATE;
		m.u.state.branch = nodes;
		m.u.state.nbranch = arrays[i].n;
		assert_int_equal(wire_encode(&m, NULL, &b), BFT_OK);
		/* 0x95 0x01 0x0a 0x00 0x95 seq index nchunks data(c4 00), then the branch header. */
		assert_int_equal(b.p[10], arrays[i].first);
		assert_int_equal(wire_decode(&l, b.p, b.len, &d), BFT_OK);
		wt_assert_msg_equal(&m, &d, 1);
		wire_msg_free(&d);
		wire_buf_free(&b);
	}
	free(nodes);
	free(space);
}

static void test_wire_limits_default_values(void **state)
{
	struct wire_limits l;

	(void)state;
	wire_limits_default(&l, 7, 1000);
	assert_int_equal(l.frame_max, 16u << 20);
	assert_int_equal(l.batch_max, 1024);
	assert_int_equal(l.op_max, 65536 + 256);
	assert_int_equal(l.result_max, 65536 + 256);
	assert_int_equal(l.list_max, 4096);
	assert_int_equal(l.chunk_max, 1u << 20);
	assert_int_equal(l.n_replicas, 7);
	assert_int_equal(l.n_clients, 1000);
}

/* ------------------------------------------------------------------------------------------- */
/* The encoder's own errors. */

static void test_wire_encode_rejects_unknown_type(void **state)
{
	static const unsigned types[] = {0, 12, 31, 42, 63, 64, 1000};
	struct wire_buf b = {0};
	struct bft_msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		memset(&m, 0, sizeof(m));
		m.version = BFT_WIRE_VERSION;
		m.type = (enum bft_msg_type)types[i];
		assert_int_equal(wire_encode(&m, &replica_ids[0], &b), BFT_EINVAL);
		assert_int_equal(b.len, 0);
	}
	wire_buf_free(&b);
}

/* A NULL byte string or array with a non-zero length is the caller's bug: nothing is appended
 * and what the buffer held before is kept. */
static void test_wire_encode_rejects_null_bytes_with_a_length(void **state)
{
	struct wire_buf b = {0};
	struct sample s;
	struct bft_msg m;
	size_t before;

	(void)state;
	sample_encode(&s, BFT_MSG_FETCH, &b);
	before = b.len;

	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_REQUEST;
	m.u.request.op.len = 3;
	assert_int_equal(wire_encode(&m, &client_identity, &b), BFT_EINVAL);
	assert_int_equal(b.len, before);

	m.type = BFT_MSG_PREPREPARE;
	memset(&m.u, 0, sizeof(m.u));
	m.u.preprepare.nrequests = 2;
	assert_int_equal(wire_encode(&m, NULL, &b), BFT_EINVAL);
	m.type = BFT_MSG_VIEWCHANGE;
	memset(&m.u, 0, sizeof(m.u));
	m.u.viewchange.nprepared = 1;
	assert_int_equal(wire_encode(&m, NULL, &b), BFT_EINVAL);
	m.type = BFT_MSG_NEWVIEW;
	memset(&m.u, 0, sizeof(m.u));
	m.u.newview.no = 1;
	assert_int_equal(wire_encode(&m, NULL, &b), BFT_EINVAL);
	m.type = BFT_MSG_STATE;
	memset(&m.u, 0, sizeof(m.u));
	m.u.state.nbranch = 1;
	assert_int_equal(wire_encode(&m, NULL, &b), BFT_EINVAL);
	assert_int_equal(b.len, before);

	/* The earlier envelope is intact. */
	{
		struct bft_msg d;

		assert_int_equal(wire_decode(&L, b.p, b.len, &d), BFT_OK);
		assert_int_equal(wire_verify(&d, replica_ids[3].pk), BFT_OK);
		wire_msg_free(&d);
	}
	wire_buf_free(&b);
	sample_free(&s);
}

static void test_wire_encode_rejects_identity_without_key(void **state)
{
	struct sample s;
	struct wire_buf b = {0};
	struct cr_identity empty;

	(void)state;
	memset(&empty, 0, sizeof(empty));
	sample_build(&s, BFT_MSG_PREPARE);
	assert_int_equal(wire_encode(&s.m, &empty, &b), BFT_EINVAL);
	assert_int_equal(b.len, 0);
	wire_buf_free(&b);
	sample_free(&s);
}

static void test_wire_encode_appends_to_a_non_empty_buffer(void **state)
{
	struct sample s;
	struct wire_buf b = {0};
	struct bft_msg d;
	size_t first;

	(void)state;
	sample_build(&s, BFT_MSG_CHECKPOINT);
	assert_int_equal(wire_encode(&s.m, &replica_ids[1], &b), BFT_OK);
	first = b.len;
	s.m.u.checkpoint.seq = 256;
	assert_int_equal(wire_encode(&s.m, &replica_ids[1], &b), BFT_OK);
	assert_int_equal(wire_decode(&L, b.p, first, &d), BFT_OK);
	assert_int_equal(d.u.checkpoint.seq, 128);
	assert_int_equal(wire_verify(&d, replica_ids[1].pk), BFT_OK);
	wire_msg_free(&d);
	assert_int_equal(wire_decode(&L, b.p + first, b.len - first, &d), BFT_OK);
	assert_int_equal(d.u.checkpoint.seq, 256);
	assert_int_equal(wire_verify(&d, replica_ids[1].pk), BFT_OK);
	wire_msg_free(&d);
	wire_buf_free(&b);
	sample_free(&s);
}

static void test_wire_encode_without_identity_writes_the_given_signature(void **state)
{
	struct sample s;
	struct wire_buf b = {0};
	struct bft_msg d;

	(void)state;
	sample_build(&s, BFT_MSG_COMMIT);
	for (unsigned i = 0; i < CR_SIG_BYTES; i++)
		s.m.sig[i] = (uint8_t)i;
	assert_int_equal(wire_encode(&s.m, NULL, &b), BFT_OK);
	assert_int_equal(b.p[b.len - CR_SIG_BYTES - 2], 0xc4);
	assert_int_equal(b.p[b.len - CR_SIG_BYTES - 1], CR_SIG_BYTES);
	assert_memory_equal(b.p + b.len - CR_SIG_BYTES, s.m.sig, CR_SIG_BYTES);
	assert_int_equal(wire_decode(&L, b.p, b.len, &d), BFT_OK);
	wt_assert_msg_equal(&s.m, &d, 1);
	assert_int_equal(wire_verify(&d, replica_ids[3].pk), BFT_EBADSIG);
	wire_msg_free(&d);
	wire_buf_free(&b);
	sample_free(&s);
}

/* ------------------------------------------------------------------------------------------- */
/* Envelope-level rejections. */

static void test_wire_rejects_empty_input(void **state)
{
	static const uint8_t one = 0x95;

	(void)state;
	wt_assert_decode_fails(&L, &one, 0, BFT_EMALFORMED);
	wt_assert_decode_fails(&L, NULL, 0, BFT_EMALFORMED);
}

static void test_wire_rejects_frame_over_frame_max(void **state)
{
	size_t big = (size_t)L.frame_max + 1;
	uint8_t *huge = calloc(1, big);

	(void)state;
	assert_non_null(huge);
	/* However it starts, nothing of an oversized frame is read. */
	huge[0] = 0x95;
	wt_assert_decode_fails(&L, huge, big, BFT_ETOOBIG);
	free(huge);
}

static void test_wire_rejects_envelope_that_is_not_an_array(void **state)
{
	static const uint8_t map[] = {0x85, 0x01, 0x01, 0x01, 0x01, 0x01};
	static const uint8_t uint[] = {0x05};
	static const uint8_t bin[] = {0xc4, 0x00};
	static const uint8_t reserved[] = {0xc1};

	(void)state;
	wt_assert_decode_fails(&L, map, sizeof(map), BFT_EFIELD);
	wt_assert_decode_fails(&L, uint, sizeof(uint), BFT_EFIELD);
	wt_assert_decode_fails(&L, bin, sizeof(bin), BFT_EFIELD);
	wt_assert_decode_fails(&L, reserved, sizeof(reserved), BFT_EMALFORMED);
}

static void test_wire_rejects_wrong_envelope_arity(void **state)
{
	struct fb f = {0};

	(void)state;
	for (uint32_t n = 0; n < 16; n++) {
		if (n == 5)
			continue;
		fb_array(&f, n);
		fb_uint(&f, 1);
		fb_uint(&f, BFT_MSG_FETCH);
		fb_uint(&f, 0);
		fb_expect(&f, &L, BFT_EARITY);
	}
	fb_free(&f);
}

static void test_wire_rejects_unknown_version(void **state)
{
	static const uint64_t versions[] = {0, 2, 127, 255, 0x10000000000ull};
	struct fb f = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		fb_array(&f, 5);
		fb_uint(&f, versions[i]);
		fb_uint(&f, BFT_MSG_FETCH);
		fb_uint(&f, 0);
		fb_array(&f, 3);
		fb_uint(&f, 0);
		fb_uint(&f, 0);
		fb_uint(&f, 0);
		fb_sig(&f);
		fb_expect(&f, &L, BFT_EVERSION);
	}
	fb_free(&f);
}

static void test_wire_rejects_unknown_type(void **state)
{
	static const uint64_t types[] = {0, 12, 31, 42, 63, 64, 1000, UINT64_MAX};
	struct fb f = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		fb_head(&f, types[i], 0);
		fb_array(&f, 3);
		fb_uint(&f, 0);
		fb_uint(&f, 0);
		fb_uint(&f, 0);
		fb_sig(&f);
		fb_expect(&f, &L, BFT_ETYPE);
	}
	fb_free(&f);
}

/* The payload's array header is the byte after the sender; one entry more or fewer than the
 * type's arity is refused before any field is read. */
static void check_payload_arity(enum bft_msg_type t)
{
	struct sample s;
	struct wire_buf b;
	size_t at;
	uint8_t hdr;

	sample_encode(&s, t, &b);
	/* 0x95, version, type, then the sender (all samples' senders are fixints). */
	assert_true(b.p[3] < 0x80);
	at = 4;
	hdr = b.p[at];
	assert_true(hdr > 0x90 && hdr < 0x9f);
	b.p[at] = (uint8_t)(hdr - 1);
	wt_assert_decode_fails(&L, b.p, b.len, BFT_EARITY);
	b.p[at] = (uint8_t)(hdr + 1);
	wt_assert_decode_fails(&L, b.p, b.len, BFT_EARITY);
	b.p[at] = 0x90;
	wt_assert_decode_fails(&L, b.p, b.len, BFT_EARITY);
	b.p[at] = hdr;
	{
		struct bft_msg d;

		assert_int_equal(wire_decode(&L, b.p, b.len, &d), BFT_OK);
		wire_msg_free(&d);
	}
	wire_buf_free(&b);
	sample_free(&s);
}

#define WT_DEF_ARITY(name, type)                                                                   \
	static void test_wire_rejects_wrong_payload_arity_##name(void **state)                     \
	{                                                                                          \
		(void)state;                                                                       \
		check_payload_arity(type);                                                         \
	}
WT_EACH_TYPE(WT_DEF_ARITY)

static void test_wire_rejects_wrong_certificate_arity(void **state)
{
	struct fb f = {0};

	(void)state;
	for (uint32_t n = 1; n <= 3; n++) {
		fb_head(&f, BFT_MSG_VIEWCHANGE, 2);
		fb_array(&f, 5);
		fb_uint(&f, 1);
		fb_uint(&f, 0);
		fb_digest(&f);
		fb_array(&f, 0);
		fb_array(&f, 1);
		fb_array(&f, n);
		fb_bin(&f, 200, 'p');
		if (n >= 2)
			fb_array(&f, 0);
		if (n >= 3)
			fb_uint(&f, 0);
		fb_sig(&f);
		fb_expect(&f, &L, n == 2 ? BFT_OK : BFT_EARITY);
	}
	fb_free(&f);
}

static void test_wire_rejects_wrong_new_view_entry_arity(void **state)
{
	struct fb f = {0};

	(void)state;
	for (uint32_t n = 1; n <= 3; n++) {
		fb_head(&f, BFT_MSG_NEWVIEW, 1);
		fb_array(&f, 3);
		fb_uint(&f, 1);
		fb_array(&f, 0);
		fb_array(&f, 1);
		fb_array(&f, n);
		fb_uint(&f, 5);
		if (n >= 2)
			fb_digest(&f);
		if (n >= 3)
			fb_uint(&f, 0);
		fb_sig(&f);
		fb_expect(&f, &L, n == 2 ? BFT_OK : BFT_EARITY);
	}
	fb_free(&f);
}

static void test_wire_rejects_payload_that_is_not_an_array(void **state)
{
	struct fb f = {0};

	(void)state;
	fb_head(&f, BFT_MSG_FETCH, 0);
	fb_bin(&f, 3, 0);
	fb_sig(&f);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_head(&f, BFT_MSG_FETCH, 0);
	fb_byte(&f, 0x83); /* a map of three pairs */
	fb_expect(&f, &L, BFT_EFIELD);
	fb_head(&f, BFT_MSG_FETCH, 0);
	fb_byte(&f, 0xc0); /* nil */
	fb_sig(&f);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_free(&f);
}

static void test_wire_rejects_trailing_bytes(void **state)
{
	struct fb f = {0};

	(void)state;
	fb_fetch(&f, 0, 0);
	fb_byte(&f, 0x00);
	fb_expect(&f, &L, BFT_ETRAILING);
	/* Two whole envelopes in one frame are one too many. */
	fb_fetch(&f, 0, 0);
	fb_fetch(&f, 0, 0);
	fb_expect(&f, &L, BFT_ETRAILING);
	fb_free(&f);
}

/* ------------------------------------------------------------------------------------------- */
/* Field types. */

static void test_wire_rejects_str_where_bin_expected(void **state)
{
	struct fb f = {0};

	(void)state;
	/* The op as a fixstr. */
	fb_head(&f, BFT_MSG_REQUEST, 7);
	fb_array(&f, 4);
	fb_uint(&f, 1);
	fb_uint(&f, 0);
	fb_uint(&f, 0);
	fb_byte(&f, 0xa2);
	fb_raw(&f, "op", 2);
	fb_sig(&f);
	fb_expect(&f, &L, BFT_EFIELD);
	/* A digest as a str8 of 32 bytes. */
	fb_head(&f, BFT_MSG_CHECKPOINT, 1);
	fb_array(&f, 2);
	fb_uint(&f, 1);
	fb_byte(&f, 0xd9);
	fb_byte(&f, 32);
	fb_fill(&f, 32, 'd');
	fb_sig(&f);
	fb_expect(&f, &L, BFT_EFIELD);
	/* The signature as a str8 of 64 bytes. */
	fb_head(&f, BFT_MSG_FETCH, 1);
	fb_array(&f, 3);
	fb_uint(&f, 0);
	fb_uint(&f, 0);
	fb_uint(&f, 0);
	fb_byte(&f, 0xd9);
	fb_byte(&f, 64);
	fb_fill(&f, 64, 's');
	fb_expect(&f, &L, BFT_EFIELD);
	/* An embedded request as a str16. */
	fb_head(&f, BFT_MSG_PREPREPARE, 0);
	fb_array(&f, 5);
	fb_uint(&f, 0);
	fb_uint(&f, 1);
	fb_digest(&f);
	fb_uint(&f, 0);
	fb_array(&f, 1);
	fb_byte(&f, 0xda);
	fb_be(&f, 300, 2);
	fb_fill(&f, 300, 'q');
	fb_sig(&f);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_free(&f);
}

/* A uint field holding each other kind of value. */
static void test_wire_rejects_non_uint_in_uint_field(void **state)
{
	static const uint8_t values[][9] = {
		{1, 0xc0},                   /* nil */
		{1, 0xc2},                   /* false */
		{1, 0xc3},                   /* true */
		{1, 0xe0},                   /* negative fixint -32 */
		{1, 0xff},                   /* negative fixint -1 */
		{2, 0xd0, 0x80},             /* int8 -128 */
		{3, 0xd1, 0xff, 0x00},       /* int16 -256 */
		{5, 0xd2, 0x80, 0, 0, 0},    /* int32 INT32_MIN */
		{5, 0xca, 0x3f, 0x80, 0, 0}, /* float32 1.0 */
		{1, 0xa1},                   /* fixstr (truncated, but a str) */
		{2, 0xc4, 0x00},             /* empty bin */
		{1, 0x90},                   /* empty array */
		{1, 0x80},                   /* empty map */
		{3, 0xd4, 0x01, 0x00},       /* fixext1 */
	};
	struct fb f = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		/* In the FETCH seq, the reply's view and the sender. */
		fb_head(&f, BFT_MSG_FETCH, 3);
		fb_array(&f, 3);
		fb_uint(&f, 0);
		fb_raw(&f, values[i] + 1, values[i][0]);
		fb_uint(&f, 0);
		fb_sig(&f);
		fb_expect(&f, &L, BFT_EFIELD);
		fb_head(&f, BFT_MSG_REPLY, 1);
		fb_array(&f, 4);
		fb_raw(&f, values[i] + 1, values[i][0]);
		fb_expect(&f, &L, BFT_EFIELD);
		fb_array(&f, 5);
		fb_uint(&f, 1);
		fb_uint(&f, BFT_MSG_PREPARE);
		fb_raw(&f, values[i] + 1, values[i][0]);
		fb_expect(&f, &L, BFT_EFIELD);
	}
	fb_free(&f);
}

/* 0xc1 is not a msgpack value at all. */
static void test_wire_rejects_reserved_byte(void **state)
{
	struct fb f = {0};

	(void)state;
	fb_head(&f, BFT_MSG_FETCH, 3);
	fb_array(&f, 3);
	fb_byte(&f, 0xc1);
	fb_expect(&f, &L, BFT_EMALFORMED);
	fb_head(&f, BFT_MSG_CHECKPOINT, 3);
	fb_array(&f, 2);
	fb_uint(&f, 0);
	fb_byte(&f, 0xc1);
	fb_expect(&f, &L, BFT_EMALFORMED);
	fb_head(&f, BFT_MSG_STATE, 3);
	fb_byte(&f, 0xc1);
	fb_expect(&f, &L, BFT_EMALFORMED);
	fb_free(&f);
}

static void test_wire_rejects_bin_where_list_expected(void **state)
{
	struct fb f = {0};

	(void)state;
	fb_head(&f, BFT_MSG_STATE, 0);
	fb_array(&f, 5);
	fb_uint(&f, 128);
	fb_uint(&f, 0);
	fb_uint(&f, 1);
	fb_bin(&f, 4, 'd');
	fb_digest(&f); /* the branch as one bin instead of a list of them */
	fb_sig(&f);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_free(&f);
}

static void test_wire_rejects_digest_not_32_bytes(void **state)
{
	static const uint32_t lens[] = {0, 1, 31, 33, 64, 300};
	struct fb f = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		fb_head(&f, BFT_MSG_CHECKPOINT, 1);
		fb_array(&f, 2);
		fb_uint(&f, 128);
		fb_bin(&f, lens[i], 'd');
		fb_sig(&f);
		fb_expect(&f, &L, BFT_EFIELD);
		fb_head(&f, BFT_MSG_PREPARE, 1);
		fb_array(&f, 3);
		fb_uint(&f, 0);
		fb_uint(&f, 1);
		fb_bin(&f, lens[i], 'd');
		fb_sig(&f);
		fb_expect(&f, &L, BFT_EFIELD);
		fb_head(&f, BFT_MSG_PREPREPARE, 0);
		fb_array(&f, 5);
		fb_uint(&f, 0);
		fb_uint(&f, 1);
		fb_bin(&f, lens[i], 'd');
		fb_uint(&f, 0);
		fb_array(&f, 0);
		fb_sig(&f);
		fb_expect(&f, &L, BFT_EFIELD);
		fb_head(&f, BFT_MSG_VIEWCHANGE, 1);
		fb_array(&f, 5);
		fb_uint(&f, 1);
		fb_uint(&f, 0);
		fb_bin(&f, lens[i], 'd');
		fb_array(&f, 0);
		fb_array(&f, 0);
		fb_sig(&f);
		fb_expect(&f, &L, BFT_EFIELD);
		fb_head(&f, BFT_MSG_NEWVIEW, 1);
		fb_array(&f, 3);
		fb_uint(&f, 1);
		fb_array(&f, 0);
		fb_array(&f, 1);
		fb_array(&f, 2);
		fb_uint(&f, 1);
		fb_bin(&f, lens[i], 'd');
		fb_sig(&f);
		fb_expect(&f, &L, BFT_EFIELD);
		/* A Merkle branch node is a digest too. */
		fb_head(&f, BFT_MSG_STATE, 0);
		fb_array(&f, 5);
		fb_uint(&f, 128);
		fb_uint(&f, 0);
		fb_uint(&f, 1);
		fb_bin(&f, 4, 'd');
		fb_array(&f, 2);
		fb_digest(&f);
		fb_bin(&f, lens[i], 'b');
		fb_sig(&f);
		fb_expect(&f, &L, BFT_EFIELD);
	}
	fb_free(&f);
}

static void test_wire_rejects_signature_not_64_bytes(void **state)
{
	static const uint32_t lens[] = {0, 32, 63, 65, 128, 256};
	struct fb f = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		fb_head(&f, BFT_MSG_FETCH, 3);
		fb_array(&f, 3);
		fb_uint(&f, 0);
		fb_uint(&f, 0);
		fb_uint(&f, 0);
		fb_bin(&f, lens[i], 's');
		fb_expect(&f, &L, BFT_EFIELD);
	}
	fb_free(&f);
}

/* Embedded envelopes are not decoded, but one shorter than the emptiest envelope (71 bytes)
 * cannot be one. */
static void test_wire_rejects_embedded_envelope_shorter_than_any_envelope(void **state)
{
	struct fb f = {0};
	struct vc_shape s = vc_default;

	(void)state;
	fb_preprepare(&f, 1, 71);
	fb_expect(&f, &L, BFT_OK);
	fb_preprepare(&f, 1, 70);
	fb_expect(&f, &L, BFT_EFIELD);
	s.proof_len = 70;
	fb_viewchange(&f, &s);
	fb_expect(&f, &L, BFT_EFIELD);
	s = vc_default;
	s.preprepare_len = 70;
	fb_viewchange(&f, &s);
	fb_expect(&f, &L, BFT_EFIELD);
	s = vc_default;
	s.prepare_len = 70;
	fb_viewchange(&f, &s);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_newview(&f, 2, 70, 1);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_newview(&f, 2, 71, 1);
	fb_expect(&f, &L, BFT_OK);
	fb_free(&f);
}

/* ------------------------------------------------------------------------------------------- */
/* Limits: each accepted at the limit and refused one past it. */

static void test_wire_rejects_op_over_op_max(void **state)
{
	struct wire_limits l = small_limits();
	struct fb f = {0};

	(void)state;
	fb_request(&f, l.op_max);
	fb_expect(&f, &l, BFT_OK);
	fb_request(&f, l.op_max + 1);
	fb_expect(&f, &l, BFT_ETOOBIG);
	fb_request(&f, L.op_max);
	fb_expect(&f, &L, BFT_OK);
	fb_request(&f, L.op_max + 1);
	fb_expect(&f, &L, BFT_ETOOBIG);
	fb_free(&f);
}

static void test_wire_rejects_result_over_result_max(void **state)
{
	struct wire_limits l = small_limits();
	struct fb f = {0};

	(void)state;
	fb_reply(&f, l.result_max);
	fb_expect(&f, &l, BFT_OK);
	fb_reply(&f, l.result_max + 1);
	fb_expect(&f, &l, BFT_ETOOBIG);
	fb_free(&f);
}

static void test_wire_rejects_batch_over_batch_max(void **state)
{
	struct wire_limits l = small_limits();
	struct fb f = {0};

	(void)state;
	fb_preprepare(&f, l.batch_max, 100);
	fb_expect(&f, &l, BFT_OK);
	fb_preprepare(&f, l.batch_max + 1, 100);
	fb_expect(&f, &l, BFT_ETOOBIG);
	fb_preprepare(&f, L.batch_max + 1, 71);
	fb_expect(&f, &L, BFT_ETOOBIG);
	fb_free(&f);
}

/* A request inside a batch is bounded by op_max plus the 128-byte envelope overhead. */
static void test_wire_rejects_batched_request_over_its_bound(void **state)
{
	struct wire_limits l = small_limits();
	struct fb f = {0};

	(void)state;
	/* op_max + 128 of request, then room for one authenticator of n_replicas MACs. */
	assert_int_equal(wire_request_max(&l), l.op_max + 128 + 16 + 16 * l.n_replicas);
	fb_preprepare(&f, 1, wire_request_max(&l));
	fb_expect(&f, &l, BFT_OK);
	fb_preprepare(&f, 1, wire_request_max(&l) + 1);
	fb_expect(&f, &l, BFT_ETOOBIG);
	/* The bound saturates rather than wrapping with an op_max near UINT32_MAX. */
	l.op_max = UINT32_MAX - 10;
	fb_preprepare(&f, 1, 1000);
	fb_expect(&f, &l, BFT_OK);
	fb_free(&f);
}

static void test_wire_rejects_proof_over_list_max(void **state)
{
	struct wire_limits l = small_limits();
	struct vc_shape s = vc_default;
	struct fb f = {0};

	(void)state;
	s.nproof = l.list_max;
	fb_viewchange(&f, &s);
	fb_expect(&f, &l, BFT_OK);
	s.nproof = l.list_max + 1;
	fb_viewchange(&f, &s);
	fb_expect(&f, &l, BFT_ETOOBIG);
	fb_free(&f);
}

static void test_wire_rejects_certificates_over_list_max(void **state)
{
	struct wire_limits l = small_limits();
	struct vc_shape s = vc_default;
	struct fb f = {0};

	(void)state;
	s.nprepared = l.list_max;
	fb_viewchange(&f, &s);
	fb_expect(&f, &l, BFT_OK);
	s.nprepared = l.list_max + 1;
	fb_viewchange(&f, &s);
	fb_expect(&f, &l, BFT_ETOOBIG);
	fb_free(&f);
}

static void test_wire_rejects_certificate_prepares_over_list_max(void **state)
{
	struct wire_limits l = small_limits();
	struct vc_shape s = vc_default;
	struct fb f = {0};

	(void)state;
	s.nprepares = l.list_max;
	fb_viewchange(&f, &s);
	fb_expect(&f, &l, BFT_OK);
	s.nprepares = l.list_max + 1;
	fb_viewchange(&f, &s);
	fb_expect(&f, &l, BFT_ETOOBIG);
	fb_free(&f);
}

/* CHECKPOINTs and PREPAREs inside a VIEW-CHANGE are at most 160 bytes. */
static void test_wire_rejects_small_embedded_envelope_over_its_bound(void **state)
{
	struct vc_shape s = vc_default;
	struct fb f = {0};

	(void)state;
	s.proof_len = 160;
	s.prepare_len = 160;
	fb_viewchange(&f, &s);
	fb_expect(&f, &L, BFT_OK);
	s.proof_len = 161;
	fb_viewchange(&f, &s);
	fb_expect(&f, &L, BFT_ETOOBIG);
	s.proof_len = 160;
	s.prepare_len = 161;
	fb_viewchange(&f, &s);
	fb_expect(&f, &L, BFT_ETOOBIG);
	fb_free(&f);
}

/* The largest canonical CHECKPOINT and PREPARE (every integer at its maximum) fit the bound. */
static void test_wire_small_envelope_bound_holds_the_largest_checkpoint_and_prepare(void **state)
{
	struct bft_msg m;
	struct wire_buf b = {0};

	(void)state;
	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_CHECKPOINT;
	m.sender = UINT64_MAX;
	m.u.checkpoint.seq = UINT64_MAX;
	assert_int_equal(wire_encode(&m, NULL, &b), BFT_OK);
	assert_true(b.len <= 160);
	b.len = 0;
	m.type = BFT_MSG_PREPARE;
	m.u.phase.view = UINT64_MAX;
	m.u.phase.seq = UINT64_MAX;
	assert_int_equal(wire_encode(&m, NULL, &b), BFT_OK);
	assert_true(b.len <= 160);
	/* And the largest REQUEST is its op plus at most 128 bytes. */
	b.len = 0;
	m.type = BFT_MSG_REQUEST;
	memset(&m.u, 0, sizeof(m.u));
	m.u.request.reqid = UINT64_MAX;
	m.u.request.flags = UINT32_MAX;
	m.u.request.timestamp_ms = UINT64_MAX;
	m.u.request.op = (struct bft_bytes){(const uint8_t *)"", 0};
	assert_int_equal(wire_encode(&m, NULL, &b), BFT_OK);
	assert_true(b.len + 4 <= 128); /* + the difference between a bin8 and a bin32 header */
	wire_buf_free(&b);
}

static void test_wire_rejects_view_changes_over_list_max(void **state)
{
	struct wire_limits l = small_limits();
	struct fb f = {0};

	(void)state;
	fb_newview(&f, l.list_max, 200, 1);
	fb_expect(&f, &l, BFT_OK);
	fb_newview(&f, l.list_max + 1, 200, 1);
	fb_expect(&f, &l, BFT_ETOOBIG);
	fb_free(&f);
}

static void test_wire_rejects_new_view_entries_over_list_max(void **state)
{
	struct wire_limits l = small_limits();
	struct fb f = {0};

	(void)state;
	fb_newview(&f, 1, 200, l.list_max);
	fb_expect(&f, &l, BFT_OK);
	fb_newview(&f, 1, 200, l.list_max + 1);
	fb_expect(&f, &l, BFT_ETOOBIG);
	fb_free(&f);
}

static void test_wire_rejects_branch_over_list_max(void **state)
{
	struct wire_limits l = small_limits();
	struct fb f = {0};

	(void)state;
	fb_state(&f, 1, l.list_max);
	fb_expect(&f, &l, BFT_OK);
	fb_state(&f, 1, l.list_max + 1);
	fb_expect(&f, &l, BFT_ETOOBIG);
	fb_free(&f);
}

static void test_wire_rejects_chunk_over_chunk_max(void **state)
{
	struct wire_limits l = small_limits();
	struct fb f = {0};

	(void)state;
	fb_state(&f, l.chunk_max, 1);
	fb_expect(&f, &l, BFT_OK);
	fb_state(&f, l.chunk_max + 1, 1);
	fb_expect(&f, &l, BFT_ETOOBIG);
	fb_free(&f);
}

static void test_wire_rejects_frame_over_a_small_frame_max(void **state)
{
	struct wire_limits l = L;
	struct fb f = {0};

	(void)state;
	fb_request(&f, 10);
	l.frame_max = (uint32_t)f.len;
	{
		struct bft_msg m;

		assert_int_equal(wire_decode(&l, f.p, f.len, &m), BFT_OK);
		wire_msg_free(&m);
	}
	l.frame_max = (uint32_t)f.len - 1;
	fb_expect(&f, &l, BFT_ETOOBIG);
	fb_free(&f);
}

/* A count the rest of the frame cannot hold is refused before any allocation, even when it is
 * within the limit. */
static void test_wire_rejects_count_larger_than_the_frame_can_hold(void **state)
{
	struct wire_limits l = L;
	struct fb f = {0};

	(void)state;
	l.batch_max = UINT32_MAX;
	l.list_max = UINT32_MAX;
	fb_head(&f, BFT_MSG_PREPREPARE, 0);
	fb_array(&f, 5);
	fb_uint(&f, 0);
	fb_uint(&f, 1);
	fb_digest(&f);
	fb_uint(&f, 0);
	fb_array(&f, UINT32_MAX);
	fb_sig(&f);
	fb_expect(&f, &l, BFT_EMALFORMED);
	/* Within list_max, but three proofs promised and two present. */
	fb_head(&f, BFT_MSG_VIEWCHANGE, 2);
	fb_array(&f, 5);
	fb_uint(&f, 1);
	fb_uint(&f, 0);
	fb_digest(&f);
	fb_array(&f, 3);
	fb_bin(&f, 100, 'c');
	fb_bin(&f, 100, 'c');
	fb_expect(&f, &L, BFT_EMALFORMED);
	/* An o list promising 1000 entries. */
	fb_head(&f, BFT_MSG_NEWVIEW, 1);
	fb_array(&f, 3);
	fb_uint(&f, 1);
	fb_array(&f, 0);
	fb_array(&f, 1000);
	fb_array(&f, 2);
	fb_uint(&f, 1);
	fb_digest(&f);
	fb_sig(&f);
	fb_expect(&f, &L, BFT_EMALFORMED);
	fb_free(&f);
}

static void test_wire_rejects_bin_length_beyond_the_frame(void **state)
{
	struct fb f = {0};

	(void)state;
	fb_head(&f, BFT_MSG_REQUEST, 7);
	fb_array(&f, 4);
	fb_uint(&f, 1);
	fb_uint(&f, 0);
	fb_uint(&f, 0);
	fb_bin_header(&f, 60000);
	fb_fill(&f, 100, 'o');
	fb_sig(&f);
	fb_expect(&f, &L, BFT_EMALFORMED);
	fb_free(&f);
}

/* ------------------------------------------------------------------------------------------- */
/* Ranges and value sets. */

static void test_wire_rejects_uint32_field_over_uint32_max(void **state)
{
	struct fb f = {0};
	uint64_t over = (uint64_t)UINT32_MAX + 1;

	(void)state;
	fb_fetch(&f, 0, UINT32_MAX);
	fb_expect(&f, &L, BFT_OK);
	fb_fetch(&f, 0, over);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_fetch(&f, over, 0);
	fb_expect(&f, &L, BFT_EFIELD);
	/* Request flags. */
	fb_head(&f, BFT_MSG_REQUEST, 7);
	fb_array(&f, 4);
	fb_uint(&f, 1);
	fb_uint(&f, over + 1);
	fb_uint(&f, 0);
	fb_bin(&f, 1, 'o');
	fb_sig(&f);
	fb_expect(&f, &L, BFT_EFIELD);
	/* STATE index and nchunks. */
	for (int which = 0; which < 2; which++) {
		fb_head(&f, BFT_MSG_STATE, 0);
		fb_array(&f, 5);
		fb_uint(&f, 128);
		fb_uint(&f, which == 0 ? over : 0);
		fb_uint(&f, which == 1 ? over : 1);
		fb_bin(&f, 1, 'd');
		fb_array(&f, 0);
		fb_sig(&f);
		fb_expect(&f, &L, BFT_EFIELD);
	}
	fb_free(&f);
}

static void test_wire_rejects_unknown_request_flags(void **state)
{
	struct fb f = {0};

	(void)state;
	for (uint64_t flags = 0; flags < 8; flags++) {
		fb_head(&f, BFT_MSG_REQUEST, 7);
		fb_array(&f, 4);
		fb_uint(&f, 1);
		fb_uint(&f, flags);
		fb_uint(&f, 0);
		fb_bin(&f, 1, 'o');
		fb_sig(&f);
		fb_expect(&f, &L, (flags & ~(uint64_t)BFT_REQ_FLAGS_ALL) ? BFT_EFIELD : BFT_OK);
	}
	fb_free(&f);
}

static void test_wire_rejects_unknown_fetch_kind(void **state)
{
	struct fb f = {0};

	(void)state;
	fb_fetch(&f, BFT_FETCH_STATE, 0);
	fb_expect(&f, &L, BFT_OK);
	fb_fetch(&f, BFT_FETCH_LOG, 0);
	fb_expect(&f, &L, BFT_OK);
	fb_fetch(&f, 2, 0);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_fetch(&f, 255, 0);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_free(&f);
}

static void test_wire_rejects_client_sender_out_of_range(void **state)
{
	struct fb f = {0};

	(void)state;
	fb_head(&f, BFT_MSG_REQUEST, N_CLIENTS - 1);
	fb_array(&f, 4);
	fb_uint(&f, 1);
	fb_uint(&f, 0);
	fb_uint(&f, 0);
	fb_bin(&f, 1, 'o');
	fb_sig(&f);
	fb_expect(&f, &L, BFT_OK);
	fb_head(&f, BFT_MSG_REQUEST, N_CLIENTS);
	fb_expect(&f, &L, BFT_ESENDER);
	fb_head(&f, BFT_MSG_REQUEST, UINT64_MAX);
	fb_expect(&f, &L, BFT_ESENDER);
	fb_free(&f);
}

/* Every type but REQUEST comes from a replica: a sender id valid for a client is not enough. */
static void test_wire_rejects_replica_sender_out_of_range(void **state)
{
	struct fb f = {0};

	(void)state;
	for (size_t i = 0; i < WT_NTYPES; i++) {
		struct sample s;
		struct wire_buf b;

		if (wt_all_types[i] == BFT_MSG_REQUEST)
			continue;
		sample_encode(&s, wt_all_types[i], &b);
		/* The samples' senders are fixints at offset 3. */
		b.p[3] = N_REPLICAS - 1;
		{
			struct bft_msg d;

			assert_int_equal(wire_decode(&L, b.p, b.len, &d), BFT_OK);
			wire_msg_free(&d);
		}
		b.p[3] = N_REPLICAS;
		wt_assert_decode_fails(&L, b.p, b.len, BFT_ESENDER);
		b.p[3] = 50; /* a valid client id */
		wt_assert_decode_fails(&L, b.p, b.len, BFT_ESENDER);
		wire_buf_free(&b);
		sample_free(&s);
	}
	/* A large sender in its shortest form is still only a number out of range. */
	fb_head(&f, BFT_MSG_FETCH, 0x100000000ull);
	fb_expect(&f, &L, BFT_ESENDER);
	fb_free(&f);
}

/* ------------------------------------------------------------------------------------------- */
/* Honey Badger payloads (msg.h): replica ids inside the payload, value sets, fixed sizes. */

static void fb_hb_rbc(struct fb *f, uint64_t type, uint64_t proposer, uint64_t index,
		      uint32_t shard_len, uint32_t nbranch)
{
	fb_head(f, type, 0);
	fb_array(f, 6);
	fb_uint(f, 5);
	fb_uint(f, proposer);
	fb_digest(f);
	fb_uint(f, index);
	fb_bin(f, shard_len, 's');
	fb_array(f, nbranch);
	for (uint32_t i = 0; i < nbranch; i++)
		fb_digest(f);
	fb_sig(f);
}

static void fb_hb_ready(struct fb *f, uint64_t proposer)
{
	fb_head(f, BFT_MSG_HB_READY, 1);
	fb_array(f, 3);
	fb_uint(f, 5);
	fb_uint(f, proposer);
	fb_digest(f);
	fb_sig(f);
}

static void fb_hb_aba(struct fb *f, uint64_t type, uint64_t instance, uint64_t round,
		      uint64_t value)
{
	fb_head(f, type, 3);
	fb_array(f, 4);
	fb_uint(f, 5);
	fb_uint(f, instance);
	fb_uint(f, round);
	fb_uint(f, value);
	fb_sig(f);
}

static void fb_hb_coin(struct fb *f, uint64_t instance, uint64_t round, uint32_t share_len)
{
	fb_head(f, BFT_MSG_HB_COIN, 2);
	fb_array(f, 4);
	fb_uint(f, 5);
	fb_uint(f, instance);
	fb_uint(f, round);
	fb_bin(f, share_len, 'c');
	fb_sig(f);
}

static void fb_hb_dec(struct fb *f, uint64_t proposer, uint32_t share_len)
{
	fb_head(f, BFT_MSG_HB_DEC, 1);
	fb_array(f, 3);
	fb_uint(f, 5);
	fb_uint(f, proposer);
	fb_bin(f, share_len, 'd');
	fb_sig(f);
}

/* HB_CHECK with count entries, bitmaps of known_len and valid_len bytes (all bits of the last
 * byte of valid set from bit `top`, so that a `top` below 8 sets bits at or above count). */
static void fb_hb_check(struct fb *f, uint64_t count, uint32_t known_len, uint32_t valid_len,
			unsigned top)
{
	fb_head(f, BFT_MSG_HB_CHECK, 1);
	fb_array(f, 5);
	fb_uint(f, 5);
	fb_digest(f);
	fb_uint(f, count);
	fb_bin(f, known_len, 0x01);
	fb_bin_header(f, valid_len);
	for (uint32_t i = 0; i < valid_len; i++)
		fb_byte(f, i + 1 < valid_len || top >= 8 ? 0x01 : (uint8_t)(0xffu << top));
	fb_sig(f);
}

/* HB_CHECK's bitmaps are ceil(count / 8) bytes each, no more and no fewer, and no bit at or
 * above count is set: anything else is refused before a replica looks at it. */
static void test_wire_rejects_malformed_hb_check_bitmaps(void **state)
{
	struct fb f = {0};

	(void)state;
	fb_hb_check(&f, 11, 2, 2, 8);
	fb_expect(&f, &L, BFT_OK);
	fb_hb_check(&f, 0, 0, 0, 8);
	fb_expect(&f, &L, BFT_OK);
	fb_hb_check(&f, 11, 2, 2, 3); /* bits 3.. of the last byte: entries 11.. do not exist */
	fb_expect(&f, &L, BFT_EFIELD);
	fb_hb_check(&f, 16, 2, 2, 0); /* a whole last byte is fine at a multiple of 8 */
	fb_expect(&f, &L, BFT_OK);
	fb_hb_check(&f, 11, 1, 2, 8); /* known too short */
	fb_expect(&f, &L, BFT_EFIELD);
	fb_hb_check(&f, 11, 3, 2, 8); /* known too long */
	fb_expect(&f, &L, BFT_ETOOBIG);
	fb_hb_check(&f, 11, 2, 3, 8); /* valid too long */
	fb_expect(&f, &L, BFT_ETOOBIG);
	fb_hb_check(&f, UINT32_MAX, 2, 2, 8); /* a count the frame cannot hold */
	fb_expect(&f, &L, BFT_EFIELD);
	fb_hb_check(&f, (uint64_t)UINT32_MAX + 1, 2, 2, 8); /* not a u32 */
	fb_expect(&f, &L, BFT_EFIELD);
	fb_free(&f);
}

/* A proposer, shard index or agreement instance names a replica: one past the last is the wrong
 * field (the envelope's sender is fine). */
static void test_wire_rejects_hb_replica_field_out_of_range(void **state)
{
	struct fb f = {0};

	(void)state;
	for (uint64_t id = N_REPLICAS - 1; id <= N_REPLICAS; id++) {
		enum bft_err want = id < N_REPLICAS ? BFT_OK : BFT_EFIELD;

		fb_hb_rbc(&f, BFT_MSG_HB_VAL, id, 0, 8, 1);
		fb_expect(&f, &L, want);
		fb_hb_rbc(&f, BFT_MSG_HB_ECHO, 0, id, 8, 1);
		fb_expect(&f, &L, want);
		fb_hb_ready(&f, id);
		fb_expect(&f, &L, want);
		fb_hb_aba(&f, BFT_MSG_HB_BVAL, id, 0, 1);
		fb_expect(&f, &L, want);
		fb_hb_coin(&f, id, 0, BFT_HB_SHARE_BYTES);
		fb_expect(&f, &L, want);
		fb_hb_dec(&f, id, BFT_HB_SHARE_BYTES);
		fb_expect(&f, &L, want);
	}
	fb_hb_dec(&f, UINT64_MAX, BFT_HB_SHARE_BYTES);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_free(&f);
}

/* BVAL, AUX and TERM carry a bit; CONF a non-empty set of bits (1, 2 or 3). */
static void test_wire_rejects_hb_aba_value_outside_its_set(void **state)
{
	static const uint64_t bit_types[] = {BFT_MSG_HB_BVAL, BFT_MSG_HB_AUX, BFT_MSG_HB_TERM};
	struct fb f = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(bit_types) / sizeof(bit_types[0]); i++) {
		for (uint64_t v = 0; v <= 4; v++) {
			fb_hb_aba(&f, bit_types[i], 0, 7, v);
			fb_expect(&f, &L, v <= 1 ? BFT_OK : BFT_EFIELD);
		}
		fb_hb_aba(&f, bit_types[i], 0, 7, 0x100000000ull);
		fb_expect(&f, &L, BFT_EFIELD);
	}
	for (uint64_t v = 0; v <= 5; v++) {
		fb_hb_aba(&f, BFT_MSG_HB_CONF, 0, 7, v);
		fb_expect(&f, &L, v >= 1 && v <= BFT_HB_CONF_ALL ? BFT_OK : BFT_EFIELD);
	}
	fb_free(&f);
}

static void test_wire_rejects_hb_branch_over_its_maximum(void **state)
{
	struct fb f = {0};

	(void)state;
	fb_hb_rbc(&f, BFT_MSG_HB_VAL, 0, 1, 8, BFT_HB_BRANCH_MAX);
	fb_expect(&f, &L, BFT_OK);
	fb_hb_rbc(&f, BFT_MSG_HB_VAL, 0, 1, 8, BFT_HB_BRANCH_MAX + 1);
	fb_expect(&f, &L, BFT_ETOOBIG);
	fb_hb_rbc(&f, BFT_MSG_HB_ECHO, 0, 1, 8, 0);
	fb_expect(&f, &L, BFT_OK);
	fb_free(&f);
}

static void test_wire_rejects_empty_hb_shard(void **state)
{
	struct fb f = {0};

	(void)state;
	fb_hb_rbc(&f, BFT_MSG_HB_ECHO, 0, 1, 1, 2);
	fb_expect(&f, &L, BFT_OK);
	fb_hb_rbc(&f, BFT_MSG_HB_ECHO, 0, 1, 0, 2);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_free(&f);
}

static void test_wire_rejects_hb_share_not_98_bytes(void **state)
{
	static const uint32_t lens[] = {0, 32, 97, 99, 300};
	struct fb f = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		fb_hb_coin(&f, 0, 0, lens[i]);
		fb_expect(&f, &L, BFT_EFIELD);
		fb_hb_dec(&f, 0, lens[i]);
		fb_expect(&f, &L, BFT_EFIELD);
	}
	fb_free(&f);
}

static void test_wire_rejects_hb_round_over_uint32_max(void **state)
{
	struct fb f = {0};

	(void)state;
	fb_hb_aba(&f, BFT_MSG_HB_AUX, 0, UINT32_MAX, 1);
	fb_expect(&f, &L, BFT_OK);
	fb_hb_aba(&f, BFT_MSG_HB_AUX, 0, (uint64_t)UINT32_MAX + 1, 1);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_hb_coin(&f, 0, (uint64_t)UINT32_MAX + 1, BFT_HB_SHARE_BYTES);
	fb_expect(&f, &L, BFT_EFIELD);
	fb_free(&f);
}

/* The encoder refuses an RBC message its peers would refuse, so a correct replica never sends
 * one; nothing is appended. */
static void test_wire_encode_rejects_hb_values_peers_would_refuse(void **state)
{
	struct sample s;
	struct wire_buf b = {0};

	(void)state;
	sample_build(&s, BFT_MSG_HB_VAL);
	s.m.u.hb_rbc.nbranch = BFT_HB_BRANCH_MAX + 1;
	assert_int_equal(wire_encode(&s.m, &replica_ids[0], &b), BFT_EINVAL);
	s.m.u.hb_rbc.nbranch = 2;
	s.m.u.hb_rbc.shard.len = 0;
	assert_int_equal(wire_encode(&s.m, &replica_ids[0], &b), BFT_EINVAL);
	assert_int_equal(b.len, 0);
	wire_buf_free(&b);
	sample_free(&s);
}

/* ------------------------------------------------------------------------------------------- */
/* Canonical form. */

/* Writes v in the integer form named by first (0xcc..0xcf, 0xd0..0xd3) whatever its size. */
static void fb_int_as(struct fb *f, uint8_t first, uint64_t v)
{
	static const unsigned widths[] = {1, 2, 4, 8};

	fb_byte(f, first);
	fb_be(f, v, widths[first & 3]);
}

static void test_wire_rejects_non_canonical_integers(void **state)
{
	static const struct {
		uint8_t first;
		uint64_t v;
	} cases[] = {
		{0xcc, 0},           {0xcc, 5},          {0xcc, 127},         {0xcd, 0},
		{0xcd, 255},         {0xce, 3},          {0xce, 65535},       {0xcf, 3},
		{0xcf, UINT32_MAX},  {0xd0, 5},          {0xd1, 5},           {0xd2, 5},
		{0xd3, 5},           {0xd3, 0},          {0xd1, 300},         {0xd3, 0x100000000ull},
	};
	struct fb f = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* As the version, the type, the sender, and a payload field. */
		fb_array(&f, 5);
		fb_int_as(&f, cases[i].first, cases[i].v);
		fb_expect(&f, &L, BFT_ENONCANON);
		fb_array(&f, 5);
		fb_uint(&f, 1);
		fb_int_as(&f, cases[i].first, cases[i].v);
		fb_expect(&f, &L, BFT_ENONCANON);
		fb_array(&f, 5);
		fb_uint(&f, 1);
		fb_uint(&f, BFT_MSG_FETCH);
		fb_int_as(&f, cases[i].first, cases[i].v);
		fb_expect(&f, &L, BFT_ENONCANON);
		fb_head(&f, BFT_MSG_FETCH, 1);
		fb_array(&f, 3);
		fb_uint(&f, 0);
		fb_int_as(&f, cases[i].first, cases[i].v);
		fb_uint(&f, 0);
		fb_sig(&f);
		fb_expect(&f, &L, BFT_ENONCANON);
	}
	/* The control: the same values in their shortest forms. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fb_head(&f, BFT_MSG_FETCH, 1);
		fb_array(&f, 3);
		fb_uint(&f, 0);
		fb_uint(&f, cases[i].v);
		fb_uint(&f, 0);
		fb_sig(&f);
		fb_expect(&f, &L, BFT_OK);
	}
	fb_free(&f);
}

static void test_wire_rejects_non_canonical_bin_headers(void **state)
{
	struct fb f = {0};

	(void)state;
	/* A 32-byte digest in a bin16. */
	fb_head(&f, BFT_MSG_CHECKPOINT, 1);
	fb_array(&f, 2);
	fb_uint(&f, 1);
	fb_byte(&f, 0xc5);
	fb_be(&f, 32, 2);
	fb_fill(&f, 32, 'd');
	fb_sig(&f);
	fb_expect(&f, &L, BFT_ENONCANON);
	/* A 10-byte op in a bin16 and in a bin32; a 300-byte op in a bin32. */
	for (int k = 0; k < 3; k++) {
		uint32_t len = k == 2 ? 300 : 10;

		fb_head(&f, BFT_MSG_REQUEST, 7);
		fb_array(&f, 4);
		fb_uint(&f, 1);
		fb_uint(&f, 0);
		fb_uint(&f, 0);
		fb_byte(&f, k == 0 ? 0xc5 : 0xc6);
		fb_be(&f, len, k == 0 ? 2 : 4);
		fb_fill(&f, len, 'o');
		fb_sig(&f);
		fb_expect(&f, &L, BFT_ENONCANON);
	}
	/* The signature in a bin16. */
	fb_fetch(&f, 0, 0);
	f.len -= 2 + CR_SIG_BYTES;
	fb_byte(&f, 0xc5);
	fb_be(&f, CR_SIG_BYTES, 2);
	fb_fill(&f, CR_SIG_BYTES, 's');
	fb_expect(&f, &L, BFT_ENONCANON);
	/* bin8 for a short length is canonical (msgpack has no fixbin). */
	fb_request(&f, 0);
	fb_expect(&f, &L, BFT_OK);
	fb_free(&f);
}

static void test_wire_rejects_non_canonical_array_headers(void **state)
{
	struct fb f = {0};

	(void)state;
	/* The envelope in an array16 and an array32. */
	fb_byte(&f, 0xdc);
	fb_be(&f, 5, 2);
	fb_expect(&f, &L, BFT_ENONCANON);
	fb_byte(&f, 0xdd);
	fb_be(&f, 5, 4);
	fb_expect(&f, &L, BFT_ENONCANON);
	/* A payload in an array16. */
	fb_head(&f, BFT_MSG_FETCH, 1);
	fb_byte(&f, 0xdc);
	fb_be(&f, 3, 2);
	fb_uint(&f, 0);
	fb_uint(&f, 0);
	fb_uint(&f, 0);
	fb_sig(&f);
	fb_expect(&f, &L, BFT_ENONCANON);
	/* A list of 15 in an array16, of 16 in an array32. */
	for (int k = 0; k < 2; k++) {
		uint32_t n = k == 0 ? 15 : 16;

		fb_head(&f, BFT_MSG_STATE, 0);
		fb_array(&f, 5);
		fb_uint(&f, 128);
		fb_uint(&f, 0);
		fb_uint(&f, 1);
		fb_bin(&f, 1, 'd');
		fb_byte(&f, k == 0 ? 0xdc : 0xdd);
		fb_be(&f, n, k == 0 ? 2 : 4);
		for (uint32_t i = 0; i < n; i++)
			fb_digest(&f);
		fb_sig(&f);
		fb_expect(&f, &L, BFT_ENONCANON);
	}
	/* A certificate's pair in an array16. */
	fb_head(&f, BFT_MSG_VIEWCHANGE, 2);
	fb_array(&f, 5);
	fb_uint(&f, 1);
	fb_uint(&f, 0);
	fb_digest(&f);
	fb_array(&f, 0);
	fb_array(&f, 1);
	fb_byte(&f, 0xdc);
	fb_be(&f, 2, 2);
	fb_bin(&f, 200, 'p');
	fb_array(&f, 0);
	fb_sig(&f);
	fb_expect(&f, &L, BFT_ENONCANON);
	fb_free(&f);
}

/* ------------------------------------------------------------------------------------------- */
/* Errors after allocation leave nothing behind (ASan's leak check runs on this suite). */

static void test_wire_frees_partial_decodes(void **state)
{
	struct fb f = {0};

	(void)state;
	/* A VIEW-CHANGE whose second certificate's second PREPARE is a str. */
	fb_head(&f, BFT_MSG_VIEWCHANGE, 2);
	fb_array(&f, 5);
	fb_uint(&f, 1);
	fb_uint(&f, 0);
	fb_digest(&f);
	fb_array(&f, 2);
	fb_bin(&f, 100, 'c');
	fb_bin(&f, 100, 'c');
	fb_array(&f, 2);
	for (int i = 0; i < 2; i++) {
		fb_array(&f, 2);
		fb_bin(&f, 200, 'p');
		fb_array(&f, 2);
		fb_bin(&f, 100, 'P');
		if (i == 0) {
			fb_bin(&f, 100, 'P');
		} else {
			fb_byte(&f, 0xd9);
			fb_byte(&f, 100);
			fb_fill(&f, 100, 'P');
		}
	}
	fb_sig(&f);
	fb_expect(&f, &L, BFT_EFIELD);
	/* A NEW-VIEW whose last o entry has a short digest. */
	fb_head(&f, BFT_MSG_NEWVIEW, 1);
	fb_array(&f, 3);
	fb_uint(&f, 1);
	fb_array(&f, 1);
	fb_bin(&f, 100, 'v');
	fb_array(&f, 2);
	fb_array(&f, 2);
	fb_uint(&f, 1);
	fb_digest(&f);
	fb_array(&f, 2);
	fb_uint(&f, 2);
	fb_bin(&f, 31, 'd');
	fb_sig(&f);
	fb_expect(&f, &L, BFT_EFIELD);
	/* A STATE with trailing bytes after a full branch. */
	fb_state(&f, 4, 3);
	fb_byte(&f, 0);
	fb_expect(&f, &L, BFT_ETRAILING);
	/* A PRE-PREPARE whose signature is short. */
	fb_preprepare(&f, 3, 100);
	f.len -= 1;
	fb_expect(&f, &L, BFT_EMALFORMED);
	fb_free(&f);
}

/* ------------------------------------------------------------------------------------------- */
/* Signatures. */

static void test_wire_rejects_signature_under_wrong_key(void **state)
{
	struct sample s;
	struct wire_buf b;
	struct bft_msg d;

	(void)state;
	sample_encode(&s, BFT_MSG_PREPARE, &b);
	assert_int_equal(wire_decode(&L, b.p, b.len, &d), BFT_OK);
	assert_int_equal(wire_verify(&d, replica_ids[2].pk), BFT_OK);
	assert_int_equal(wire_verify(&d, replica_ids[3].pk), BFT_EBADSIG);
	assert_int_equal(wire_verify(&d, stranger_identity.pk), BFT_EBADSIG);
	wire_msg_free(&d);
	wire_buf_free(&b);
	sample_free(&s);
}

static void test_wire_rejects_corrupted_signature(void **state)
{
	struct sample s;
	struct wire_buf b;
	struct bft_msg d;

	(void)state;
	sample_encode(&s, BFT_MSG_REQUEST, &b);
	b.p[b.len - 1] ^= 0x01;
	/* The frame is still well formed: only verification can tell. */
	assert_int_equal(wire_decode(&L, b.p, b.len, &d), BFT_OK);
	assert_int_equal(wire_verify(&d, client_identity.pk), BFT_EBADSIG);
	wire_msg_free(&d);
	memset(b.p + b.len - CR_SIG_BYTES, 0, CR_SIG_BYTES);
	assert_int_equal(wire_decode(&L, b.p, b.len, &d), BFT_OK);
	assert_int_equal(wire_verify(&d, client_identity.pk), BFT_EBADSIG);
	wire_msg_free(&d);
	wire_buf_free(&b);
	sample_free(&s);
}

static void test_wire_verify_fails_closed_without_a_signed_part(void **state)
{
	struct sample s;

	(void)state;
	sample_build(&s, BFT_MSG_CHECKPOINT);
	assert_int_equal(wire_verify(&s.m, replica_ids[1].pk), BFT_EBADSIG);
	sample_free(&s);
}

/* The signature is Ed25519 over cr_digest("bft.env.v1", signed_part), as wire.h documents; a
 * signature over the bare signed part, or under another tag, does not verify. */
static void test_wire_signature_covers_the_tagged_digest_of_the_signed_part(void **state)
{
	struct sample s;
	struct wire_buf b;
	struct bft_msg d;
	uint8_t digest[CR_DIGEST_BYTES], sig[CR_SIG_BYTES];

	(void)state;
	sample_encode(&s, BFT_MSG_FETCH, &b);
	assert_int_equal(wire_decode(&L, b.p, b.len, &d), BFT_OK);
	cr_digest(digest, "bft.env.v1", d.signed_part.p, d.signed_part.len);
	assert_int_equal(cr_verify(replica_ids[3].pk, digest, sizeof(digest), d.sig), 0);

	cr_sign(&replica_ids[3], d.signed_part.p, d.signed_part.len, sig);
	memcpy(d.sig, sig, sizeof(sig));
	assert_int_equal(wire_verify(&d, replica_ids[3].pk), BFT_EBADSIG);
	cr_digest(digest, "bft.env.v2", d.signed_part.p, d.signed_part.len);
	cr_sign(&replica_ids[3], digest, sizeof(digest), sig);
	memcpy(d.sig, sig, sizeof(sig));
	assert_int_equal(wire_verify(&d, replica_ids[3].pk), BFT_EBADSIG);
	wire_msg_free(&d);
	wire_buf_free(&b);
	sample_free(&s);
}

/* Flipping any single bit of a signed frame makes it fail to decode or fail to verify. */
static void check_every_flipped_bit(enum bft_msg_type t)
{
	struct sample s;
	struct wire_buf b;
	const uint8_t *pk;
	size_t undecodable = 0, unverifiable = 0;

	sample_encode(&s, t, &b);
	pk = signer_of(&s.m)->pk;
	for (size_t i = 0; i < b.len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			struct bft_msg d;

			b.p[i] ^= (uint8_t)(1u << bit);
			if (wire_decode(&L, b.p, b.len, &d) != BFT_OK) {
				undecodable++;
			} else {
				if (wire_verify(&d, pk) != BFT_EBADSIG)
					fail_msg("flip of bit %u at byte %zu still verifies", bit, i);
				unverifiable++;
				wire_msg_free(&d);
			}
			b.p[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(undecodable + unverifiable, b.len * 8);
	wire_buf_free(&b);
	sample_free(&s);
}

#define WT_DEF_FLIP(name, type)                                                                    \
	static void test_wire_detects_every_flipped_bit_##name(void **state)                       \
	{                                                                                          \
		(void)state;                                                                       \
		check_every_flipped_bit(type);                                                     \
	}
WT_EACH_TYPE(WT_DEF_FLIP)

/* ------------------------------------------------------------------------------------------- */
/* Digests. */

static void test_wire_request_digest_is_the_tagged_hash_of_the_envelope(void **state)
{
	struct sample s;
	struct wire_buf b;
	struct bft_bytes env;
	uint8_t got[CR_DIGEST_BYTES], want[CR_DIGEST_BYTES];

	(void)state;
	sample_encode(&s, BFT_MSG_REQUEST, &b);
	env = (struct bft_bytes){b.p, (uint32_t)b.len};
	bft_request_digest(&env, got);
	cr_digest(want, "bft.req", b.p, b.len);
	assert_memory_equal(got, want, CR_DIGEST_BYTES);
	/* The signature is part of the envelope, so it is part of the request's identity. */
	b.p[b.len - 1] ^= 1;
	bft_request_digest(&env, got);
	assert_memory_not_equal(got, want, CR_DIGEST_BYTES);
	wire_buf_free(&b);
	sample_free(&s);
}

static void test_wire_batch_digest_commits_to_time_count_and_order(void **state)
{
	struct sample s;
	struct bft_bytes swapped[2];
	uint8_t d[CR_DIGEST_BYTES], other[CR_DIGEST_BYTES], r0[CR_DIGEST_BYTES],
		r1[CR_DIGEST_BYTES];
	struct cr_hash h;
	const struct bft_preprepare *pp;

	(void)state;
	sample_build(&s, BFT_MSG_PREPREPARE);
	pp = &s.m.u.preprepare;
	bft_batch_digest(pp->time_ms, pp->requests, 2, d);
	/* The documented construction, step by step. */
	bft_request_digest(&pp->requests[0], r0);
	bft_request_digest(&pp->requests[1], r1);
	cr_hash_init(&h, "bft.batch");
	cr_hash_update_u64(&h, pp->time_ms);
	cr_hash_update_u64(&h, 2);
	cr_hash_update(&h, r0, sizeof(r0));
	cr_hash_update(&h, r1, sizeof(r1));
	cr_hash_final(&h, other);
	assert_memory_equal(d, other, CR_DIGEST_BYTES);

	bft_batch_digest(pp->time_ms + 1, pp->requests, 2, other);
	assert_memory_not_equal(d, other, CR_DIGEST_BYTES);
	bft_batch_digest(pp->time_ms, pp->requests, 1, other);
	assert_memory_not_equal(d, other, CR_DIGEST_BYTES);
	swapped[0] = pp->requests[1];
	swapped[1] = pp->requests[0];
	bft_batch_digest(pp->time_ms, swapped, 2, other);
	assert_memory_not_equal(d, other, CR_DIGEST_BYTES);
	sample_free(&s);
}

/* The null request (an empty batch) has a digest like any other batch, fixed by its time. */
static void test_wire_null_batch_digest_depends_only_on_time(void **state)
{
	uint8_t a[CR_DIGEST_BYTES], b[CR_DIGEST_BYTES], c[CR_DIGEST_BYTES];

	(void)state;
	bft_batch_digest(1000, NULL, 0, a);
	bft_batch_digest(1000, NULL, 0, b);
	bft_batch_digest(1001, NULL, 0, c);
	assert_memory_equal(a, b, CR_DIGEST_BYTES);
	assert_memory_not_equal(a, c, CR_DIGEST_BYTES);
}

/* ------------------------------------------------------------------------------------------- */

#define WT_REG_ROUND_TRIP(name, type) cmocka_unit_test(test_wire_round_trips_##name),
#define WT_REG_GOLDEN(name, type) cmocka_unit_test(test_wire_matches_golden_vector_##name),
#define WT_REG_ARITY(name, type) cmocka_unit_test(test_wire_rejects_wrong_payload_arity_##name),
#define WT_REG_FLIP(name, type) cmocka_unit_test(test_wire_detects_every_flipped_bit_##name),

int main(void)
{
	const struct CMUnitTest tests[] = {
		WT_EACH_TYPE(WT_REG_ROUND_TRIP)
		WT_EACH_TYPE(WT_REG_GOLDEN)
		cmocka_unit_test(test_wire_hand_built_frames_match_the_encoder),
		cmocka_unit_test(test_wire_encodes_integers_in_shortest_form),
		cmocka_unit_test(test_wire_encodes_bins_and_arrays_in_shortest_form),
		cmocka_unit_test(test_wire_limits_default_values),
		cmocka_unit_test(test_wire_encode_rejects_unknown_type),
		cmocka_unit_test(test_wire_encode_rejects_null_bytes_with_a_length),
		cmocka_unit_test(test_wire_encode_rejects_identity_without_key),
		cmocka_unit_test(test_wire_encode_appends_to_a_non_empty_buffer),
		cmocka_unit_test(test_wire_encode_without_identity_writes_the_given_signature),
		cmocka_unit_test(test_wire_rejects_empty_input),
		cmocka_unit_test(test_wire_rejects_frame_over_frame_max),
		cmocka_unit_test(test_wire_rejects_frame_over_a_small_frame_max),
		cmocka_unit_test(test_wire_rejects_envelope_that_is_not_an_array),
		cmocka_unit_test(test_wire_rejects_wrong_envelope_arity),
		cmocka_unit_test(test_wire_rejects_unknown_version),
		cmocka_unit_test(test_wire_rejects_unknown_type),
		cmocka_unit_test(test_wire_rejects_malformed_hb_check_bitmaps),
		WT_EACH_TYPE(WT_REG_ARITY)
		cmocka_unit_test(test_wire_rejects_wrong_certificate_arity),
		cmocka_unit_test(test_wire_rejects_wrong_new_view_entry_arity),
		cmocka_unit_test(test_wire_rejects_payload_that_is_not_an_array),
		cmocka_unit_test(test_wire_rejects_trailing_bytes),
		cmocka_unit_test(test_wire_rejects_str_where_bin_expected),
		cmocka_unit_test(test_wire_rejects_non_uint_in_uint_field),
		cmocka_unit_test(test_wire_rejects_reserved_byte),
		cmocka_unit_test(test_wire_rejects_bin_where_list_expected),
		cmocka_unit_test(test_wire_rejects_digest_not_32_bytes),
		cmocka_unit_test(test_wire_rejects_signature_not_64_bytes),
		cmocka_unit_test(test_wire_rejects_embedded_envelope_shorter_than_any_envelope),
		cmocka_unit_test(test_wire_rejects_op_over_op_max),
		cmocka_unit_test(test_wire_rejects_result_over_result_max),
		cmocka_unit_test(test_wire_rejects_batch_over_batch_max),
		cmocka_unit_test(test_wire_rejects_batched_request_over_its_bound),
		cmocka_unit_test(test_wire_rejects_proof_over_list_max),
		cmocka_unit_test(test_wire_rejects_certificates_over_list_max),
		cmocka_unit_test(test_wire_rejects_certificate_prepares_over_list_max),
		cmocka_unit_test(test_wire_rejects_small_embedded_envelope_over_its_bound),
		cmocka_unit_test(test_wire_small_envelope_bound_holds_the_largest_checkpoint_and_prepare),
		cmocka_unit_test(test_wire_rejects_view_changes_over_list_max),
		cmocka_unit_test(test_wire_rejects_new_view_entries_over_list_max),
		cmocka_unit_test(test_wire_rejects_branch_over_list_max),
		cmocka_unit_test(test_wire_rejects_chunk_over_chunk_max),
		cmocka_unit_test(test_wire_rejects_count_larger_than_the_frame_can_hold),
		cmocka_unit_test(test_wire_rejects_bin_length_beyond_the_frame),
		cmocka_unit_test(test_wire_rejects_uint32_field_over_uint32_max),
		cmocka_unit_test(test_wire_rejects_unknown_request_flags),
		cmocka_unit_test(test_wire_rejects_unknown_fetch_kind),
		cmocka_unit_test(test_wire_rejects_client_sender_out_of_range),
		cmocka_unit_test(test_wire_rejects_replica_sender_out_of_range),
		cmocka_unit_test(test_wire_rejects_hb_replica_field_out_of_range),
		cmocka_unit_test(test_wire_rejects_hb_aba_value_outside_its_set),
		cmocka_unit_test(test_wire_rejects_hb_branch_over_its_maximum),
		cmocka_unit_test(test_wire_rejects_empty_hb_shard),
		cmocka_unit_test(test_wire_rejects_hb_share_not_98_bytes),
		cmocka_unit_test(test_wire_rejects_hb_round_over_uint32_max),
		cmocka_unit_test(test_wire_encode_rejects_hb_values_peers_would_refuse),
		cmocka_unit_test(test_wire_rejects_non_canonical_integers),
		cmocka_unit_test(test_wire_rejects_non_canonical_bin_headers),
		cmocka_unit_test(test_wire_rejects_non_canonical_array_headers),
		cmocka_unit_test(test_wire_frees_partial_decodes),
		cmocka_unit_test(test_wire_rejects_signature_under_wrong_key),
		cmocka_unit_test(test_wire_rejects_corrupted_signature),
		cmocka_unit_test(test_wire_verify_fails_closed_without_a_signed_part),
		cmocka_unit_test(test_wire_signature_covers_the_tagged_digest_of_the_signed_part),
		WT_EACH_TYPE(WT_REG_FLIP)
		cmocka_unit_test(test_wire_request_digest_is_the_tagged_hash_of_the_envelope),
		cmocka_unit_test(test_wire_batch_digest_commits_to_time_count_and_order),
		cmocka_unit_test(test_wire_null_batch_digest_depends_only_on_time),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
