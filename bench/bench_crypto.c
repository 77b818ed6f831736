/*
 * bench_crypto: microseconds per operation of the crypto layer, at n = 4, 7 and 16 replicas
 * (f = (n - 1) / 3). Figures, not assertions: `make bench-crypto` prints them and exits 0.
 *
 * Each figure is the median of a few timed batches (each batch long enough to dwarf the clock's
 * resolution), so a descheduling hiccup does not skew it. The whole run takes a few seconds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/cr_coin.h"
#include "crypto/cr_dealer.h"
#include "crypto/cr_hash.h"
#include "crypto/cr_merkle.h"
#include "crypto/cr_rs.h"
#include "crypto/cr_sign.h"
#include "crypto/cr_tdh2.h"

#define BATCHES 5

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Everything an operation under test needs, so that one function signature fits them all. */
struct ctx {
	uint32_t n, f;
	struct cr_thresh_pubkey cpk, epk;
	struct cr_thresh_share csh[CR_THRESH_N_MAX], esh[CR_THRESH_N_MAX];
	struct cr_coin_share cs[CR_THRESH_N_MAX];
	struct cr_tdh2_ct ct;
	struct cr_tdh2_share ds[CR_THRESH_N_MAX];
	struct cr_lagrange_cache cache;
	struct cr_identity id;
	uint8_t sig[CR_SIG_BYTES];
	uint8_t msg[256];
	uint8_t rnd[32];
	uint8_t m[32];
	uint64_t counter;
	/* Reed-Solomon */
	struct cr_rs rs;
	uint8_t *payload, *shards, *out;
	size_t payload_len, shard_len;
	struct cr_rs_shard rsh[CR_RS_N_MAX];
	/* Merkle */
	struct cr_merkle tree;
	uint8_t branch[CR_MERKLE_BRANCH_MAX][CR_DIGEST_BYTES];
	uint32_t branch_len;
	uint8_t leaf_hash[CR_DIGEST_BYTES];
	int failures;
};

#define NAME ((const uint8_t *)"hb/epoch=1/aba=0/round=0")
#define NAME_LEN 24u
#define LABEL ((const uint8_t *)"hb/epoch=1/proposer=0")
#define LABEL_LEN 21u

static void check(struct ctx *c, int rc)
{
	if (rc != 0)
		c->failures++;
}

static void op_sign(struct ctx *c)
{
	cr_sign(&c->id, c->msg, sizeof(c->msg), c->sig);
}

static void op_verify(struct ctx *c)
{
	check(c, cr_verify(c->id.pk, c->msg, sizeof(c->msg), c->sig));
}

static void op_coin_share(struct ctx *c)
{
	struct cr_coin_share s;

	c->rnd[0] = (uint8_t)c->counter++;
	check(c, cr_coin_share_make(&s, &c->csh[0], NAME, NAME_LEN, c->rnd));
}

static void op_coin_verify(struct ctx *c)
{
	check(c, cr_coin_share_verify(&c->cpk, NAME, NAME_LEN, &c->cs[c->counter++ % c->n]));
}

static void op_coin_combine(struct ctx *c)
{
	struct cr_coin_value v;

	check(c, cr_coin_combine(&v, &c->cpk, NAME, NAME_LEN, c->cs, c->f + 1, &c->cache));
}

static void op_coin_combine_nocache(struct ctx *c)
{
	struct cr_coin_value v;

	check(c, cr_coin_combine(&v, &c->cpk, NAME, NAME_LEN, c->cs, c->f + 1, NULL));
}

static void op_tdh2_encrypt(struct ctx *c)
{
	struct cr_tdh2_ct ct;

	c->rnd[0] = (uint8_t)c->counter++;
	check(c, cr_tdh2_encrypt(&ct, c->m, LABEL, LABEL_LEN, &c->epk, c->rnd));
}

static void op_tdh2_check(struct ctx *c)
{
	check(c, cr_tdh2_ct_check(&c->ct, LABEL, LABEL_LEN));
}

static void op_tdh2_share(struct ctx *c)
{
	struct cr_tdh2_share s;

	c->rnd[0] = (uint8_t)c->counter++;
	check(c, cr_tdh2_share_make(&s, &c->esh[0], &c->ct, LABEL, LABEL_LEN, c->rnd));
}

static void op_tdh2_verify(struct ctx *c)
{
	check(c, cr_tdh2_share_verify(&c->epk, &c->ct, LABEL, LABEL_LEN, &c->ds[c->counter++ % c->n]));
}

static void op_tdh2_combine(struct ctx *c)
{
	uint8_t m[32];

	check(c, cr_tdh2_combine(m, &c->epk, &c->ct, c->ds, c->f + 1, &c->cache));
}

static void op_rs_encode(struct ctx *c)
{
	check(c, cr_rs_encode(&c->rs, c->payload, c->payload_len, c->shards,
			      (size_t)c->n * c->shard_len));
}

static void op_rs_decode(struct ctx *c)
{
	size_t got;

	check(c, cr_rs_decode(&c->rs, c->rsh, c->rs.k, c->out, (size_t)c->rs.k * c->shard_len,
			      &got));
}

static void op_merkle_verify(struct ctx *c)
{
	/* What a replica does with each shard it receives in reliable broadcast: the branch of
	 * the last shard (the full depth of the tree). */
	check(c, cr_merkle_verify(cr_merkle_root(&c->tree), c->n, c->n - 1,
				  c->shards + (size_t)(c->n - 1) * c->shard_len, c->shard_len,
				  (const uint8_t(*)[CR_DIGEST_BYTES])c->branch, c->branch_len));
}

static void op_merkle_verify_hash(struct ctx *c)
{
	check(c, cr_merkle_verify_hash(cr_merkle_root(&c->tree), c->n, c->n - 1, c->leaf_hash,
				       (const uint8_t(*)[CR_DIGEST_BYTES])c->branch, c->branch_len));
}

/* Times op: BATCHES batches of iters calls; prints the median microseconds per call and, when
 * kib is not 0 (an operation over kib KiB of data), the microseconds per KiB. */
static void bench(struct ctx *c, const char *label, void (*op)(struct ctx *), unsigned iters,
		  unsigned kib)
{
	double t[BATCHES];

	op(c); /* warm up caches and tables */
	for (int b = 0; b < BATCHES; b++) {
		double t0 = now_us();

		for (unsigned i = 0; i < iters; i++)
			op(c);
		t[b] = (now_us() - t0) / iters;
	}
	qsort(t, BATCHES, sizeof(t[0]), cmp_double);
	if (kib > 0)
		printf("  %-44s %10.2f  (%.3f us/KiB)\n", label, t[BATCHES / 2],
		       t[BATCHES / 2] / kib);
	else
		printf("  %-44s %10.2f\n", label, t[BATCHES / 2]);
}

static int setup(struct ctx *c, uint32_t n)
{
	uint8_t seed[32];
	struct cr_tdh2_ct *ct = &c->ct;

	memset(c, 0, sizeof(*c));
	c->n = n;
	c->f = (n - 1) / 3;
	memset(seed, 7, sizeof(seed));
	if (cr_dealer_deal(&c->cpk, c->csh, n, c->f, CR_THRESH_COIN, seed) != 0 ||
	    cr_dealer_deal(&c->epk, c->esh, n, c->f, CR_THRESH_ENC, seed) != 0)
		return -1;
	if (cr_identity_from_seed(&c->id, seed) != 0)
		return -1;
	memset(c->msg, 0x33, sizeof(c->msg));
	memset(c->m, 0x44, sizeof(c->m));
	cr_sign(&c->id, c->msg, sizeof(c->msg), c->sig);
	cr_lagrange_cache_init(&c->cache);
	for (uint32_t i = 0; i < n; i++) {
		c->rnd[1] = (uint8_t)i;
		if (cr_coin_share_make(&c->cs[i], &c->csh[i], NAME, NAME_LEN, c->rnd) != 0)
			return -1;
	}
	if (cr_tdh2_encrypt(ct, c->m, LABEL, LABEL_LEN, &c->epk, c->rnd) != 0)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		c->rnd[1] = (uint8_t)i;
		if (cr_tdh2_share_make(&c->ds[i], &c->esh[i], ct, LABEL, LABEL_LEN, c->rnd) != 0)
			return -1;
	}
	return 0;
}

/* Reed-Solomon with k = n - 2f over a payload of kib KiB, decoding from the last k shards
 * (as many parity shards as possible: the slow case). Also builds the Merkle tree over the
 * shards for the branch-verification figure. */
static int setup_rs(struct ctx *c, size_t kib)
{
	uint32_t k = c->n - 2 * c->f;
	struct cr_bytes_view leaves[CR_RS_N_MAX];

	if (cr_rs_init(&c->rs, c->n, k) != 0)
		return -1;
	c->payload_len = kib * 1024;
	c->shard_len = cr_rs_shard_len(&c->rs, c->payload_len);
	c->payload = malloc(c->payload_len);
	c->shards = malloc((size_t)c->n * c->shard_len);
	c->out = malloc((size_t)k * c->shard_len);
	if (c->payload == NULL || c->shards == NULL || c->out == NULL)
		return -1;
	for (size_t i = 0; i < c->payload_len; i++)
		c->payload[i] = (uint8_t)(i * 7);
	if (cr_rs_encode(&c->rs, c->payload, c->payload_len, c->shards,
			 (size_t)c->n * c->shard_len) != 0)
		return -1;
	for (uint32_t i = 0; i < k; i++) {
		uint32_t idx = c->n - 1 - i;

		c->rsh[i] = (struct cr_rs_shard){ idx, c->shards + (size_t)idx * c->shard_len,
						  c->shard_len };
	}
	for (uint32_t i = 0; i < c->n; i++)
		leaves[i] = (struct cr_bytes_view){ c->shards + (size_t)i * c->shard_len,
						    c->shard_len };
	if (cr_merkle_build(&c->tree, leaves, c->n) != 0)
		return -1;
	if (cr_merkle_branch(&c->tree, c->n - 1, c->branch, CR_MERKLE_BRANCH_MAX,
			     &c->branch_len) != 0)
		return -1;
	if (cr_merkle_leaf_hash(c->leaf_hash, c->n, c->n - 1,
				c->shards + (size_t)(c->n - 1) * c->shard_len, c->shard_len) != 0)
		return -1;
	return 0;
}

static void teardown(struct ctx *c)
{
	cr_identity_free(&c->id);
	cr_rs_free(&c->rs);
	cr_merkle_free(&c->tree);
	free(c->payload);
	free(c->shards);
	free(c->out);
	for (uint32_t i = 0; i < c->n; i++) {
		cr_thresh_share_wipe(&c->csh[i]);
		cr_thresh_share_wipe(&c->esh[i]);
	}
}

int main(void)
{
	static const uint32_t ns[] = { 4, 7, 16 };
	static struct ctx c; /* about 40 KiB: static rather than on the stack */
	double t0 = now_us();
	int failures = 0;
	char label[64];

	if (cr_init() != 0) {
		fprintf(stderr, "bench_crypto: libsodium initialisation failed\n");
		return 1;
	}
	printf("bench_crypto: microseconds per operation (median of %d batches)\n", BATCHES);
	for (size_t s = 0; s < sizeof(ns) / sizeof(ns[0]); s++) {
		uint32_t n = ns[s];

		if (setup(&c, n) != 0) {
			fprintf(stderr, "bench_crypto: set-up failed at n = %u\n", n);
			return 1;
		}
		printf("n = %u, f = %u, threshold f+1 = %u, RS k = n-2f = %u\n", n, c.f, c.f + 1,
		       n - 2 * c.f);
		if (s == 0) {
			bench(&c, "ed25519 sign (256 B, cr_sign)", op_sign, 2000, 0);
			bench(&c, "ed25519 verify (256 B, cr_verify)", op_verify, 2000, 0);
		}
		bench(&c, "coin share make", op_coin_share, 200, 0);
		bench(&c, "coin share verify", op_coin_verify, 200, 0);
		bench(&c, "coin combine f+1 (Lagrange cached)", op_coin_combine, 200, 0);
		bench(&c, "coin combine f+1 (no cache)", op_coin_combine_nocache, 100, 0);
		bench(&c, "tdh2 encrypt", op_tdh2_encrypt, 200, 0);
		bench(&c, "tdh2 ciphertext check", op_tdh2_check, 200, 0);
		bench(&c, "tdh2 share make (incl. check)", op_tdh2_share, 200, 0);
		bench(&c, "tdh2 share verify (incl. check)", op_tdh2_verify, 200, 0);
		bench(&c, "tdh2 combine f+1 (Lagrange cached)", op_tdh2_combine, 200, 0);
		if (setup_rs(&c, 64) != 0) {
			fprintf(stderr, "bench_crypto: RS set-up failed at n = %u\n", n);
			return 1;
		}
		bench(&c, "rs encode 64 KiB", op_rs_encode, 200, 64);
		bench(&c, "rs decode 64 KiB from the last k shards", op_rs_decode, 200, 64);
		snprintf(label, sizeof(label), "merkle branch verify (%zu B shard leaf)",
			 c.shard_len);
		bench(&c, label, op_merkle_verify, 2000, 0);
		bench(&c, "merkle branch verify (leaf hash given)", op_merkle_verify_hash, 20000, 0);
		failures += c.failures;
		teardown(&c);
	}
	printf("total %.1f s%s\n", (now_us() - t0) / 1e6,
	       failures ? " -- SOME OPERATIONS FAILED (figures invalid)" : "");
	return failures ? 1 : 0;
}
