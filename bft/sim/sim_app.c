/*
 * sim_app: the simulator's toy state machine (struct bft_app, engine.h).
 *
 * Its ops name the client and the client's op counter, so the checker can tell from an
 * execution alone who submitted it and whether it ran before. The state is deliberately small
 * but complete: the position (ops executed), a hash chain over the ops and their batch times
 * (so two replicas that executed different histories have different checkpoint digests), and
 * per client the set of counters executed (so exactly-once survives a state transfer: a
 * replica that installed a snapshot knows what the snapshot had executed). Reads (kind 1)
 * never change the state, whether queried or ordered.
 */
#include "bft/sim/sim.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/cr_hash.h"

#define SNAP_MAGIC "SIMAPP\x01"
#define SNAP_MAGIC_LEN 7u
#define SNAP_HEADER (SNAP_MAGIC_LEN + 4u + 4u + 8u + CR_DIGEST_BYTES)

struct sim_app {
	struct sim_check *ck;
	uint32_t replica, nclients, ops;
	uint64_t position;
	uint8_t chain[CR_DIGEST_BYTES];
	size_t bitmap_bytes;  /* per client: bits 0..ops, bit 0 never set */
	uint8_t *bits;
};

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/** See sim.h. */
void sim_op_encode(uint8_t out[SIM_OP_BYTES], uint64_t client, uint32_t counter, uint8_t kind)
{
	out[0] = 's';
	out[1] = 'o';
	put_u64(out + 2, client);
	put_u32(out + 10, counter);
	out[14] = kind;
}

/** See sim.h. */
int sim_op_decode(const uint8_t *p, size_t len, uint64_t *client, uint32_t *counter,
		  uint8_t *kind)
{
	if (p == NULL || len != SIM_OP_BYTES || p[0] != 's' || p[1] != 'o' || p[14] > 1)
		return -1;
	*client = get_u64(p + 2);
	*counter = get_u32(p + 10);
	*kind = p[14];
	return 0;
}

static void result_encode(uint8_t out[SIM_RESULT_BYTES], uint64_t client, uint32_t counter,
			  uint8_t how, uint64_t position)
{
	put_u64(out, client);
	put_u32(out + 8, counter);
	out[12] = how;
	put_u64(out + 13, position);
}

/** See sim.h. */
int sim_result_decode(const uint8_t *p, size_t len, uint64_t *client, uint32_t *counter,
		      uint8_t *how, uint64_t *position)
{
	if (p == NULL || len != SIM_RESULT_BYTES || p[12] > 1)
		return -1;
	*client = get_u64(p);
	*counter = get_u32(p + 8);
	*how = p[12];
	*position = get_u64(p + 13);
	return 0;
}

/* Appends len bytes to a caller's wire_buf (which wire_buf_free releases with free()). */
static enum bft_err buf_append(struct wire_buf *b, const void *p, size_t len)
{
	if (b->cap - b->len < len) {
		size_t ncap = b->cap == 0 ? 64 : b->cap;
		uint8_t *q;

		while (ncap - b->len < len)
			ncap *= 2;
		q = realloc(b->p, ncap);
		if (q == NULL)
			return BFT_ENOMEM;
		b->p = q;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	return BFT_OK;
}

static uint8_t *client_bits(const struct sim_app *a, uint64_t client)
{
	return a->bits + (size_t)client * a->bitmap_bytes;
}

/* Parses an op this app can represent; false for anything else. */
static bool app_op(const struct sim_app *a, const struct bft_bytes *op, uint64_t *client,
		   uint32_t *counter, uint8_t *kind)
{
	return sim_op_decode(op->p, op->len, client, counter, kind) == 0 &&
	       *client < a->nclients && *counter != 0 && *counter <= a->ops;
}

static void app_execute(void *ctx, bft_client_id signer, const struct bft_bytes *op,
			uint64_t time_ms, struct wire_buf *result)
{
	struct sim_app *a = ctx;
	uint8_t res[SIM_RESULT_BYTES], tb[8];
	uint64_t client;
	uint32_t counter;
	uint8_t kind, *bits, mask;
	struct cr_hash h;
	bool again;

	if (!app_op(a, op, &client, &counter, &kind)) {
		/* Deterministic for every replica, and reported: correct replicas only execute
		 * what clients submitted, so the checker flags this as a validity violation. */
		if (a->ck != NULL)
			(void)sim_check_execute(a->ck, a->replica, signer, op->p, op->len,
						a->position, false);
		(void)buf_append(result, "bad", 3);
		return;
	}
	if (kind == 1) {
		/* A read that was ordered (the client's read-only fallback, or an engine without
		 * the read-only path) changes nothing: reads are idempotent, so executing one
		 * twice — once as a query that did not gather 2f+1, once ordered — is allowed. */
		if (a->ck != NULL)
			(void)sim_check_execute(a->ck, a->replica, signer, op->p, op->len,
						a->position, false);
		result_encode(res, client, counter, 0, a->position);
		(void)buf_append(result, res, sizeof(res));
		return;
	}
	bits = client_bits(a, client) + counter / 8;
	mask = (uint8_t)(1u << (counter % 8));
	again = (*bits & mask) != 0;
	*bits |= mask;
	a->position++;
	put_u64(tb, time_ms);
	cr_hash_init(&h, "sim.app.chain");
	cr_hash_update(&h, a->chain, sizeof(a->chain));
	cr_hash_update(&h, tb, sizeof(tb));
	cr_hash_update(&h, op->p, op->len);
	cr_hash_final(&h, a->chain);
	if (a->ck != NULL)
		(void)sim_check_execute(a->ck, a->replica, signer, op->p, op->len, a->position,
					again);
	result_encode(res, client, counter, 0, a->position);
	(void)buf_append(result, res, sizeof(res));
}

static void app_query(void *ctx, bft_client_id signer, const struct bft_bytes *op,
		      struct wire_buf *result)
{
	struct sim_app *a = ctx;
	uint8_t res[SIM_RESULT_BYTES];
	uint64_t client;
	uint32_t counter;
	uint8_t kind;

	(void)signer;
	if (!app_op(a, op, &client, &counter, &kind)) {
		(void)buf_append(result, "bad", 3);
		return;
	}
	result_encode(res, client, counter, 1, a->position);
	(void)buf_append(result, res, sizeof(res));
}

/* Snapshot: magic | nclients u32 | ops u32 | position u64 | chain | bitmaps. Fixed layout and
 * no padding, so equal states give equal bytes. */
static enum bft_err app_snapshot(void *ctx, struct wire_buf *out)
{
	struct sim_app *a = ctx;
	uint8_t hdr[SNAP_HEADER];
	enum bft_err e;

	memcpy(hdr, SNAP_MAGIC, SNAP_MAGIC_LEN);
	put_u32(hdr + SNAP_MAGIC_LEN, a->nclients);
	put_u32(hdr + SNAP_MAGIC_LEN + 4, a->ops);
	put_u64(hdr + SNAP_MAGIC_LEN + 8, a->position);
	memcpy(hdr + SNAP_MAGIC_LEN + 16, a->chain, CR_DIGEST_BYTES);
	e = buf_append(out, hdr, sizeof(hdr));
	if (e == BFT_OK)
		e = buf_append(out, a->bits, (size_t)a->nclients * a->bitmap_bytes);
	return e;
}

static unsigned popcount8(uint8_t x)
{
	unsigned k = 0;

	for (; x != 0; x &= (uint8_t)(x - 1))
		k++;
	return k;
}

/* Restore validates everything before touching the state: a snapshot from a faulty peer that
 * slipped past the proof check must not leave a half-installed state behind. */
static enum bft_err app_restore(void *ctx, const uint8_t *p, size_t len)
{
	struct sim_app *a = ctx;
	size_t body = (size_t)a->nclients * a->bitmap_bytes;
	uint64_t position, count = 0;

	if (p == NULL || len != SNAP_HEADER + body || memcmp(p, SNAP_MAGIC, SNAP_MAGIC_LEN) != 0 ||
	    get_u32(p + SNAP_MAGIC_LEN) != a->nclients || get_u32(p + SNAP_MAGIC_LEN + 4) != a->ops)
		return BFT_EMALFORMED;
	position = get_u64(p + SNAP_MAGIC_LEN + 8);
	for (uint32_t c = 0; c < a->nclients; c++) {
		const uint8_t *bits = p + SNAP_HEADER + (size_t)c * a->bitmap_bytes;

		/* Bit 0 (no op has counter 0) and bits past ops must be clear: otherwise two
		 * encodings would describe one state. */
		if ((bits[0] & 1u) != 0)
			return BFT_EMALFORMED;
		for (uint32_t k = a->ops + 1; k < a->bitmap_bytes * 8; k++)
			if ((bits[k / 8] & (1u << (k % 8))) != 0)
				return BFT_EMALFORMED;
		for (size_t i = 0; i < a->bitmap_bytes; i++)
			count += popcount8(bits[i]);
	}
	/* Every execution sets one new bit, so the position is the number of bits set. */
	if (count != position)
		return BFT_EMALFORMED;
	a->position = position;
	memcpy(a->chain, p + SNAP_MAGIC_LEN + 16, CR_DIGEST_BYTES);
	memcpy(a->bits, p + SNAP_HEADER, body);
	return BFT_OK;
}

/** See sim.h. */
struct sim_app *sim_app_new(struct sim_check *ck, uint32_t replica, uint32_t nclients,
			    uint32_t ops_per_client)
{
	struct sim_app *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->ck = ck;
	a->replica = replica;
	a->nclients = nclients;
	a->ops = ops_per_client;
	a->bitmap_bytes = ((size_t)ops_per_client + 1 + 7) / 8;
	a->bits = calloc(nclients == 0 ? 1 : nclients, a->bitmap_bytes);
	if (a->bits == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

/** See sim.h. */
void sim_app_free(struct sim_app *a)
{
	if (a == NULL)
		return;
	free(a->bits);
	free(a);
}

/** See sim.h. */
struct bft_app sim_app_callbacks(struct sim_app *a)
{
	struct bft_app app = {
		.ctx = a,
		.execute = app_execute,
		.query = app_query,
		.snapshot = app_snapshot,
		.restore = app_restore,
	};

	return app;
}

/** See sim.h. */
uint64_t sim_app_position(const struct sim_app *a)
{
	return a->position;
}
