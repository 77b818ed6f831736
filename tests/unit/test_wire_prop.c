/*
 * test_wire_prop.c: randomised properties of the message codec (bft/wire.h).
 *
 *   - decode(encode(m)) == m, field by field, for random messages of every type, and the
 *     signature of a signed one verifies;
 *   - encode(decode(b)) == b for every frame b the decoder accepts, including mutated frames
 *     that happen to be accepted (strict canonical decoding makes the encoding unique);
 *   - every proper prefix of a valid frame is refused as BFT_EMALFORMED, never a crash.
 *
 * The generator is a xorshift64* seeded with a fixed value, so every run sees the same messages;
 * WIRE_SEED=<n> replays another sequence, and each test prints the seed it used.
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

#define DEFAULT_SEED 0x5eed0f3a11ce5eedull
#define N_MESSAGES 2000u
#define MUTANTS_PER_FRAME 16u
#define TRUNCATED_PER_TYPE 3u

static struct cr_identity signers[2];
static struct wire_limits L;

static int group_setup(void **state)
{
	uint8_t seed[CR_SEED_BYTES];

	(void)state;
	if (cr_init() != 0)
		return -1;
	for (unsigned i = 0; i < 2; i++) {
		memset(seed, (int)(0x70 + i), sizeof(seed));
		if (cr_identity_from_seed(&signers[i], seed) != 0)
			return -1;
	}
	/* Wide sender ranges so that senders of every integer size occur. */
	wire_limits_default(&L, UINT32_MAX, UINT64_MAX);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cr_identity_free(&signers[0]);
	cr_identity_free(&signers[1]);
	return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* A seeded xorshift64* generator. */

static uint64_t rng_state;

static void rng_seed(const char *test)
{
	const char *env = getenv("WIRE_SEED");
	uint64_t seed = DEFAULT_SEED;

	if (env != NULL && env[0] != '\0')
		seed = strtoull(env, NULL, 0);
	print_message("%s: seed %llu (replay with WIRE_SEED=%llu)\n", test,
		      (unsigned long long)seed, (unsigned long long)seed);
	/* xorshift has one fixed point, zero. */
	rng_state = seed ? seed : DEFAULT_SEED;
}

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(uint64_t n)
{
	return n == 0 ? 0 : rnd() % n;
}

/* An integer from a random size class, so that every msgpack integer form and every boundary
 * between two forms occurs often. */
static uint64_t rnd_uint(void)
{
	static const uint64_t edges[] = {
		0, 127, 128, 255, 256, 65535, 65536, UINT32_MAX, (uint64_t)UINT32_MAX + 1,
		UINT64_MAX - 1, UINT64_MAX,
	};

	switch (rnd_below(7)) {
	case 0:
		return rnd_below(0x80);
	case 1:
		return 0x80 + rnd_below(0x80);
	case 2:
		return 0x100 + rnd_below(0x10000 - 0x100);
	case 3:
		return 0x10000 + rnd_below(0x100000000ull - 0x10000);
	case 4:
		return 0x100000000ull + rnd_below(UINT64_MAX - 0x100000000ull);
	case 5:
		return edges[rnd_below(sizeof(edges) / sizeof(edges[0]))];
	default:
		return rnd();
	}
}

static uint32_t rnd_u32(void)
{
	uint64_t v = rnd_uint();

	return v > UINT32_MAX ? (uint32_t)(v >> 32) : (uint32_t)v;
}

/* A length in [min, max], mostly short, sometimes at a bin-header boundary or anywhere. */
static uint32_t rnd_len(uint32_t min, uint32_t max)
{
	static const uint32_t edges[] = {0, 1, 32, 255, 256, 65535, 65536};
	uint32_t v;

	switch (rnd_below(20)) {
	case 0:
	case 1:
		v = edges[rnd_below(sizeof(edges) / sizeof(edges[0]))];
		break;
	case 2:
		/* Rarely long: the whole range up to 70000 bytes. */
		v = (uint32_t)rnd_below(70001);
		break;
	default:
		v = min + (uint32_t)rnd_below(48);
		break;
	}
	if (v < min)
		v = min;
	return v > max ? max : v;
}

/* A list length, mostly small, sometimes around the fixarray/array16 boundary. */
static uint32_t rnd_count(uint32_t min, uint32_t max)
{
	uint32_t v;

	switch (rnd_below(10)) {
	case 0:
		v = 15 + (uint32_t)rnd_below(3);
		break;
	case 1:
		v = (uint32_t)rnd_below(40);
		break;
	default:
		v = (uint32_t)rnd_below(5);
		break;
	}
	if (v < min)
		v = min;
	return v > max ? max : v;
}

/* ------------------------------------------------------------------------------------------- */
/* Random messages; everything they point to lives in an arena freed after each message. */

#define ARENA_MAX 4096

struct arena {
	void *p[ARENA_MAX];
	unsigned n;
};

static void *arena_alloc(struct arena *a, size_t size)
{
	void *p;

	assert_true(a->n < ARENA_MAX);
	p = calloc(1, size ? size : 1);
	assert_non_null(p);
	a->p[a->n++] = p;
	return p;
}

static void arena_free(struct arena *a)
{
	for (unsigned i = 0; i < a->n; i++)
		free(a->p[i]);
	a->n = 0;
}

static struct bft_bytes rnd_bytes(struct arena *a, uint32_t len)
{
	uint8_t *p = arena_alloc(a, len);

	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)rnd();
	return (struct bft_bytes){p, len};
}

static void rnd_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* A list of n embedded "envelopes" of min..max bytes. They are only bounded, never decoded, by
 * the codec, so random bytes of a legal size stand in for them. */
static struct bft_bytes *rnd_env_list(struct arena *a, uint32_t n, uint32_t min, uint32_t max)
{
	struct bft_bytes *items = arena_alloc(a, (size_t)n * sizeof(*items));

	for (uint32_t i = 0; i < n; i++)
		items[i] = rnd_bytes(a, rnd_len(min, max));
	return items;
}

/* Bounds that wire.h documents for embedded envelopes. */
#define ENV_MIN 71u
#define SMALL_ENV_MAX 160u

/* A random message of type t within the limits L; with rich set every list is non-empty. */
static void rnd_msg(struct arena *a, struct bft_msg *m, enum bft_msg_type t, int rich)
{
	uint32_t lmin = rich ? 1 : 0;

	memset(m, 0, sizeof(*m));
	m->version = BFT_WIRE_VERSION;
	m->type = t;
	if (t == BFT_MSG_REQUEST) {
		m->sender = rnd_uint();
		if (m->sender >= L.n_clients)
			m->sender = L.n_clients - 1;
	} else {
		m->sender = rnd_u32();
		if (m->sender >= L.n_replicas)
			m->sender = L.n_replicas - 1;
	}
	rnd_fill(m->sig, sizeof(m->sig));
	switch (t) {
	case BFT_MSG_REQUEST:
		m->u.request.reqid = rnd_uint();
		m->u.request.flags = (uint32_t)(rnd() & BFT_REQ_FLAGS_ALL);
		m->u.request.timestamp_ms = rnd_uint();
		m->u.request.op = rnd_bytes(a, rnd_len(0, L.op_max));
		break;
	case BFT_MSG_REPLY:
		m->u.reply.view = rnd_uint();
		m->u.reply.client = rnd_uint();
		m->u.reply.reqid = rnd_uint();
		m->u.reply.result = rnd_bytes(a, rnd_len(0, L.result_max));
		break;
	case BFT_MSG_CHECKPOINT:
		m->u.checkpoint.seq = rnd_uint();
		rnd_fill(m->u.checkpoint.digest, CR_DIGEST_BYTES);
		break;
	case BFT_MSG_PREPREPARE: {
		struct bft_preprepare *pp = &m->u.preprepare;

		pp->view = rnd_uint();
		pp->seq = rnd_uint();
		pp->time_ms = rnd_uint();
		pp->nrequests = rnd_count(lmin, L.batch_max);
		pp->requests = rnd_env_list(a, pp->nrequests, ENV_MIN, 600);
		/* Usually the real batch digest, as a primary would send it. */
		if (rnd_below(2))
			bft_batch_digest(pp->time_ms, pp->requests, pp->nrequests, pp->digest);
		else
			rnd_fill(pp->digest, CR_DIGEST_BYTES);
		break;
	}
	case BFT_MSG_PREPARE:
	case BFT_MSG_COMMIT:
		m->u.phase.view = rnd_uint();
		m->u.phase.seq = rnd_uint();
		rnd_fill(m->u.phase.digest, CR_DIGEST_BYTES);
		break;
	case BFT_MSG_VIEWCHANGE: {
		struct bft_viewchange *vc = &m->u.viewchange;

		vc->view = rnd_uint();
		vc->stable_seq = rnd_uint();
		rnd_fill(vc->stable_digest, CR_DIGEST_BYTES);
		vc->nproof = rnd_count(lmin, L.list_max);
		vc->proof = rnd_env_list(a, vc->nproof, ENV_MIN, SMALL_ENV_MAX);
		vc->nprepared = rnd_count(lmin, 6);
		vc->prepared = arena_alloc(a, (size_t)vc->nprepared * sizeof(*vc->prepared));
		for (uint32_t i = 0; i < vc->nprepared; i++) {
			struct bft_pcert *pc = &vc->prepared[i];

			pc->preprepare = rnd_bytes(a, rnd_len(ENV_MIN, 800));
			pc->nprepares = rnd_count(lmin, L.list_max);
			pc->prepares = rnd_env_list(a, pc->nprepares, ENV_MIN, SMALL_ENV_MAX);
		}
		break;
	}
	case BFT_MSG_NEWVIEW: {
		struct bft_newview *nv = &m->u.newview;

		nv->view = rnd_uint();
		nv->nviewchanges = rnd_count(lmin, L.list_max);
		nv->viewchanges = rnd_env_list(a, nv->nviewchanges, ENV_MIN, 800);
		nv->no = rnd_count(lmin, L.list_max);
		nv->o = arena_alloc(a, (size_t)nv->no * sizeof(*nv->o));
		for (uint32_t i = 0; i < nv->no; i++) {
			nv->o[i].seq = rnd_uint();
			rnd_fill(nv->o[i].digest, CR_DIGEST_BYTES);
		}
		break;
	}
	case BFT_MSG_FETCH:
		m->u.fetch.kind = (uint32_t)rnd_below(2);
		m->u.fetch.seq = rnd_uint();
		m->u.fetch.index = rnd_u32();
		break;
	case BFT_MSG_STATE: {
		struct bft_state_chunk *s = &m->u.state;

		s->seq = rnd_uint();
		s->index = rnd_u32();
		s->nchunks = rnd_u32();
		s->data = rnd_bytes(a, rnd_len(0, L.chunk_max));
		s->nbranch = rnd_count(lmin, L.list_max);
		s->branch = arena_alloc(a, (size_t)s->nbranch * sizeof(*s->branch));
		for (uint32_t i = 0; i < s->nbranch; i++)
			s->branch[i] = rnd_bytes(a, CR_DIGEST_BYTES);
		break;
	}
	case BFT_MSG_HB_VAL:
	case BFT_MSG_HB_ECHO: {
		struct bft_hb_rbc *r = &m->u.hb_rbc;

		r->epoch = rnd_uint();
		r->proposer = rnd_u32() % L.n_replicas;
		rnd_fill(r->root, CR_DIGEST_BYTES);
		r->index = rnd_u32() % L.n_replicas;
		r->shard = rnd_bytes(a, rnd_len(1, 70000));
		r->nbranch = rnd_count(lmin, BFT_HB_BRANCH_MAX);
		for (uint32_t i = 0; i < r->nbranch; i++)
			rnd_fill(r->branch[i], CR_DIGEST_BYTES);
		break;
	}
	case BFT_MSG_HB_READY:
		m->u.hb_ready.epoch = rnd_uint();
		m->u.hb_ready.proposer = rnd_u32() % L.n_replicas;
		rnd_fill(m->u.hb_ready.root, CR_DIGEST_BYTES);
		break;
	case BFT_MSG_HB_BVAL:
	case BFT_MSG_HB_AUX:
	case BFT_MSG_HB_CONF:
	case BFT_MSG_HB_TERM:
		m->u.hb_aba.epoch = rnd_uint();
		m->u.hb_aba.instance = rnd_u32() % L.n_replicas;
		m->u.hb_aba.round = rnd_u32();
		m->u.hb_aba.value = t == BFT_MSG_HB_CONF ? 1 + (uint32_t)rnd_below(BFT_HB_CONF_ALL)
							 : (uint32_t)rnd_below(2);
		break;
	case BFT_MSG_HB_COIN:
		m->u.hb_coin.epoch = rnd_uint();
		m->u.hb_coin.instance = rnd_u32() % L.n_replicas;
		m->u.hb_coin.round = rnd_u32();
		rnd_fill(m->u.hb_coin.share, BFT_HB_SHARE_BYTES);
		break;
	case BFT_MSG_HB_DEC:
		m->u.hb_dec.epoch = rnd_uint();
		m->u.hb_dec.proposer = rnd_u32() % L.n_replicas;
		rnd_fill(m->u.hb_dec.share, BFT_HB_SHARE_BYTES);
		break;
	case BFT_MSG_HB_CHECK: {
		/* Bitmaps of ceil(count / 8) bytes with no bit at or above count. */
		uint32_t count = rnd_u32() % 2000, bytes = (count + 7) / 8;
		uint8_t *k = arena_alloc(a, bytes ? bytes : 1), *v = arena_alloc(a, bytes ? bytes : 1);

		m->u.hb_check.epoch = rnd_uint();
		rnd_fill(m->u.hb_check.list, CR_DIGEST_BYTES);
		m->u.hb_check.count = count;
		rnd_fill(k, bytes);
		rnd_fill(v, bytes);
		if (count % 8 != 0) {
			k[bytes - 1] &= (uint8_t)((1u << (count % 8)) - 1);
			v[bytes - 1] &= (uint8_t)((1u << (count % 8)) - 1);
		}
		m->u.hb_check.known = (struct bft_bytes){k, bytes};
		m->u.hb_check.valid = (struct bft_bytes){v, bytes};
		break;
	}
	default:
		fail_msg("no generator for type %d", (int)t);
	}
}

/* ------------------------------------------------------------------------------------------- */
/* Mutation. */

static const uint8_t interesting[] = {
	0x00, 0x01, 0x05, 0x0f, 0x10, 0x7f, 0x80, 0x90, 0x93, 0x95, 0x9f, 0xa0, 0xc0, 0xc1, 0xc2,
	0xc4, 0xc5, 0xc6, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3, 0xd9, 0xdc, 0xdd, 0xe0, 0xff,
};

/* Applies one random edit to f[0..*len) (capacity cap): a bit flip, a byte set to a random or
 * structurally interesting value, a deletion, an insertion, a truncation or a copied range. */
static void mutate(uint8_t *f, size_t *len, size_t cap)
{
	size_t n = *len, at, k;

	if (n == 0) {
		f[0] = (uint8_t)rnd();
		*len = 1;
		return;
	}
	at = (size_t)rnd_below(n);
	switch (rnd_below(7)) {
	case 0:
		f[at] ^= (uint8_t)(1u << rnd_below(8));
		break;
	case 1:
		f[at] = (uint8_t)rnd();
		break;
	case 2:
		f[at] = interesting[rnd_below(sizeof(interesting))];
		break;
	case 3:
		k = 1 + (size_t)rnd_below(4);
		if (k > n - at)
			k = n - at;
		memmove(f + at, f + at + k, n - at - k);
		*len = n - k;
		break;
	case 4:
		k = 1 + (size_t)rnd_below(4);
		if (n + k > cap)
			break;
		memmove(f + at + k, f + at, n - at);
		for (size_t i = 0; i < k; i++)
			f[at + i] = (uint8_t)rnd();
		*len = n + k;
		break;
	case 5:
		*len = at;
		break;
	default: {
		size_t from = (size_t)rnd_below(n);

		k = 1 + (size_t)rnd_below(8);
		if (k > n - at)
			k = n - at;
		if (k > n - from)
			k = n - from;
		memmove(f + at, f + from, k);
		break;
	}
	}
}

/* Decodes f; if it is accepted, re-encoding (with its own signature) must give back exactly f.
 * Returns 1 when accepted. */
static int check_accepted_re_encodes(const uint8_t *f, size_t len)
{
	struct bft_msg d;
	struct wire_buf again = {0};
	enum bft_err e = wire_decode(&L, f, len, &d);

	if (e != BFT_OK) {
		wt_assert_msg_zeroed(&d);
		return 0;
	}
	assert_ptr_equal(d.frame.p, f);
	assert_int_equal(d.frame.len, len);
	assert_ptr_equal(d.signed_part.p, f + 1);
	assert_int_equal(d.signed_part.len, len - 1 - 2 - CR_SIG_BYTES);
	assert_int_equal(wire_encode(&d, NULL, &again), BFT_OK);
	if (again.len != len || memcmp(again.p, f, len) != 0)
		fail_msg("an accepted frame of %zu bytes re-encodes differently (%zu bytes)", len,
			 again.len);
	wire_buf_free(&again);
	wire_msg_free(&d);
	return 1;
}

/* ------------------------------------------------------------------------------------------- */

static void test_wire_random_messages_round_trip_field_by_field(void **state)
{
	struct arena *a = calloc(1, sizeof(*a));
	unsigned signed_count = 0;

	(void)state;
	assert_non_null(a);
	rng_seed(__func__);
	for (unsigned i = 0; i < N_MESSAGES; i++) {
		enum bft_msg_type t = wt_all_types[i % WT_NTYPES];
		const struct cr_identity *id = rnd_below(2) ? &signers[rnd_below(2)] : NULL;
		struct bft_msg m, d;
		struct wire_buf b = {0}, again = {0};
		enum bft_err e;

		rnd_msg(a, &m, t, 0);
		assert_int_equal(wire_encode(&m, id, &b), BFT_OK);
		e = wire_decode(&L, b.p, b.len, &d);
		if (e != BFT_OK)
			fail_msg("message %u (type %d, %zu bytes): decode gives %s", i, (int)t, b.len,
				 bft_err_name(e));
		wt_assert_msg_equal(&m, &d, id == NULL);
		if (id != NULL) {
			assert_int_equal(wire_verify(&d, id->pk), BFT_OK);
			assert_int_equal(wire_verify(&d, signers[id == &signers[0]].pk), BFT_EBADSIG);
			signed_count++;
		} else {
			assert_int_equal(wire_verify(&d, signers[0].pk), BFT_EBADSIG);
		}
		assert_int_equal(wire_encode(&d, NULL, &again), BFT_OK);
		assert_int_equal(again.len, b.len);
		assert_memory_equal(again.p, b.p, b.len);
		wire_msg_free(&d);
		wire_buf_free(&again);
		wire_buf_free(&b);
		arena_free(a);
	}
	print_message("%u messages round tripped, %u of them signed\n", N_MESSAGES, signed_count);
	free(a);
}

static void test_wire_accepted_frames_re_encode_identically(void **state)
{
	struct arena *a = calloc(1, sizeof(*a));
	unsigned tried = 0, accepted = 0;

	(void)state;
	assert_non_null(a);
	rng_seed(__func__);
	for (unsigned i = 0; i < N_MESSAGES; i++) {
		enum bft_msg_type t = wt_all_types[i % WT_NTYPES];
		struct bft_msg m;
		struct wire_buf b = {0};
		uint8_t *f;
		size_t cap;

		rnd_msg(a, &m, t, 0);
		assert_int_equal(wire_encode(&m, rnd_below(2) ? &signers[0] : NULL, &b), BFT_OK);
		/* The unmutated frame is accepted and re-encodes identically too. */
		assert_int_equal(check_accepted_re_encodes(b.p, b.len), 1);
		cap = b.len + 64;
		f = malloc(cap);
		assert_non_null(f);
		for (unsigned k = 0; k < MUTANTS_PER_FRAME; k++) {
			size_t len = b.len;
			unsigned edits = 1 + (unsigned)rnd_below(3);

			memcpy(f, b.p, b.len);
			for (unsigned j = 0; j < edits; j++)
				mutate(f, &len, cap);
			accepted += (unsigned)check_accepted_re_encodes(f, len);
			tried++;
		}
		free(f);
		wire_buf_free(&b);
		arena_free(a);
	}
	print_message("%u mutated frames, %u accepted, every accepted one canonical\n", tried,
		      accepted);
	/* Edits inside byte strings keep a frame valid, so some mutants must have been accepted:
	 * otherwise this test checked nothing. */
	assert_true(accepted > 0);
	free(a);
}

/* Every proper prefix of a valid frame is truncated input: BFT_EMALFORMED, out zeroed. */
static void check_truncation_at_every_offset(const char *name, enum bft_msg_type t)
{
	struct arena *a = calloc(1, sizeof(*a));

	assert_non_null(a);
	rng_seed(name);
	/* Each type draws its own messages from the seed. */
	for (unsigned i = 0; i < (unsigned)t; i++)
		(void)rnd();
	for (unsigned i = 0; i < TRUNCATED_PER_TYPE; i++) {
		struct bft_msg m;
		struct wire_buf b = {0};

		rnd_msg(a, &m, t, 1);
		assert_int_equal(wire_encode(&m, &signers[1], &b), BFT_OK);
		for (size_t len = 0; len < b.len; len++)
			wt_assert_decode_fails(&L, b.p, len, BFT_EMALFORMED);
		assert_int_equal(check_accepted_re_encodes(b.p, b.len), 1);
		wire_buf_free(&b);
		arena_free(a);
	}
	free(a);
}

#define WT_DEF_TRUNC(name, type)                                                                   \
	static void test_wire_rejects_truncation_at_every_offset_##name(void **state)              \
	{                                                                                          \
		(void)state;                                                                       \
		check_truncation_at_every_offset(#name, type);                                            \
	}
WT_EACH_TYPE(WT_DEF_TRUNC)

/* Random bytes, and random frames that start like an envelope, are refused or (rarely)
 * accepted and canonical; never a crash. */
static void test_wire_random_bytes_are_refused_or_canonical(void **state)
{
	uint8_t f[256];

	(void)state;
	rng_seed(__func__);
	for (unsigned i = 0; i < 20000; i++) {
		size_t len = (size_t)rnd_below(sizeof(f) + 1);

		rnd_fill(f, len);
		if (len >= 4 && rnd_below(2)) {
			f[0] = 0x95;
			f[1] = 0x01;
			f[2] = (uint8_t)(1 + rnd_below(10));
			f[3] = (uint8_t)rnd_below(0x80);
		}
		(void)check_accepted_re_encodes(f, len);
	}
}

#define WT_REG_TRUNC(name, type) cmocka_unit_test(test_wire_rejects_truncation_at_every_offset_##name),

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_random_messages_round_trip_field_by_field),
		cmocka_unit_test(test_wire_accepted_frames_re_encode_identically),
		WT_EACH_TYPE(WT_REG_TRUNC)
		cmocka_unit_test(test_wire_random_bytes_are_refused_or_canonical),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
