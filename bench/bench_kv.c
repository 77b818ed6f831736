/*
 * bench_kv: throughput and memory of the KV store (node/kv.h) through its real entry points.
 *
 *   build/bench/bench_kv [seq|rand] [N] [value_bytes]     (defaults: seq 1000000 64)
 *
 * Each op is encoded with the client helpers and run through kv_execute (or kv_query for the
 * reads), result included, as the core would; the encoding is timed with it, so the figures
 * are conservative. Keys are 16 bytes, "k" and 15 decimal digits; "seq" inserts them in
 * ascending order, "rand" in a fixed-seed shuffled order. Memory is the process's resident set
 * (VmRSS) grown during the puts. Run each mode in its own process: freed memory is not always
 * returned to the system, so a second phase would inherit the first one's heap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/kv.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			v = strtol(line + 6, NULL, 10);
	fclose(f);
	return v;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	/* xorshift64*: a fixed seed, so every run inserts in the same order. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void make_key(uint8_t key[16], uint32_t i)
{
	char tmp[17];

	snprintf(tmp, sizeof(tmp), "k%015u", i);
	memcpy(key, tmp, 16);
}

static void die(const char *what)
{
	fprintf(stderr, "bench_kv: %s\n", what);
	exit(1);
}

/* Runs the op in op through kv_execute (or kv_query) and checks the status it returned. */
static void run_op(struct kv *kv, struct wire_buf *op, struct wire_buf *res, bool query,
		   enum kv_status want)
{
	struct kv_result r;

	res->len = 0;
	if (query)
		kv_query(kv, op->p, op->len, res);
	else
		kv_execute(kv, op->p, op->len, 0, res);
	/* Checking the status costs a decode; it is cheap next to the op, and keeps the bench
	 * honest about what it measured. */
	if (kv_result_decode(res->p, res->len, &r) != BFT_OK || r.status != want)
		die("unexpected result");
	kv_result_free(&r);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "seq";
	uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000000u;
	uint32_t vlen = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 64u;
	struct kv_limits lim;
	struct kv *kv;
	struct wire_buf op = {0}, res = {0}, snap = {0};
	uint32_t *order;
	uint8_t key[16], *value;
	long rss0, rss1;
	double t0, t1;

	if (n == 0 || (strcmp(mode, "seq") != 0 && strcmp(mode, "rand") != 0))
		die("usage: bench_kv [seq|rand] [N] [value_bytes]");
	order = malloc((size_t)n * sizeof(*order));
	value = malloc(vlen ? vlen : 1);
	if (order == NULL || value == NULL)
		die("out of memory");
	for (uint32_t i = 0; i < n; i++)
		order[i] = i;
	if (strcmp(mode, "rand") == 0)
		for (uint32_t i = n - 1; i > 0; i--) {
			uint32_t j = (uint32_t)(rng_next() % (i + 1u)), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
	memset(value, 'v', vlen);
	kv_limits_default(&lim);
	if (kv_new(&lim, &kv) != BFT_OK)
		die("kv_new");

	rss0 = rss_kib();
	t0 = now_s();
	for (uint32_t i = 0; i < n; i++) {
		make_key(key, order[i]);
		memcpy(value, key, vlen < 16 ? vlen : 16);
		op.len = 0;
		if (kv_op_encode_put(&op, key, 16, value, vlen) != BFT_OK)
			die("encode");
		run_op(kv, &op, &res, false, KV_OK);
	}
	t1 = now_s();
	rss1 = rss_kib();
	printf("put  %-4s n=%u value=%u: %.3f s, %.0f ops/s; RSS grew %.1f MiB (%.1f bytes/key), "
	       "total RSS %.1f MiB; %llu bytes of keys+values\n",
	       mode, n, vlen, t1 - t0, n / (t1 - t0), (double)(rss1 - rss0) / 1024.0,
	       (double)(rss1 - rss0) * 1024.0 / n, (double)rss1 / 1024.0,
	       (unsigned long long)kv_bytes(kv));

	t0 = now_s();
	for (uint32_t i = 0; i < n; i++) {
		make_key(key, (uint32_t)(rng_next() % n));
		op.len = 0;
		if (kv_op_encode_get(&op, key, 16) != BFT_OK)
			die("encode");
		run_op(kv, &op, &res, true, KV_OK);
	}
	t1 = now_s();
	printf("get  rand n=%u: %.3f s, %.0f ops/s\n", n, t1 - t0, n / (t1 - t0));

	t0 = now_s();
	for (uint32_t i = 0; i < n / 100; i++) {
		make_key(key, (uint32_t)(rng_next() % n));
		op.len = 0;
		if (kv_op_encode_list(&op, key, 12, key, 16, 100, 0) != BFT_OK)
			die("encode");
		run_op(kv, &op, &res, true, KV_OK);
	}
	t1 = now_s();
	printf("list rand n=%u (100 entries each): %.3f s, %.0f lists/s, %.0f entries/s\n", n / 100,
	       t1 - t0, (n / 100) / (t1 - t0), (n / 100) * 100.0 / (t1 - t0));

	t0 = now_s();
	if (kv_snapshot(kv, &snap) != BFT_OK)
		die("snapshot");
	t1 = now_s();
	printf("snapshot: %.1f MiB in %.3f s\n", (double)snap.len / (1 << 20), t1 - t0);
	t0 = now_s();
	if (kv_restore(kv, snap.p, snap.len) != BFT_OK)
		die("restore");
	t1 = now_s();
	printf("restore: %.3f s\n", t1 - t0);

	t0 = now_s();
	for (uint32_t i = 0; i < n; i++) {
		make_key(key, order[i]);
		op.len = 0;
		if (kv_op_encode_del(&op, key, 16) != BFT_OK)
			die("encode");
		run_op(kv, &op, &res, false, KV_OK);
	}
	t1 = now_s();
	printf("del  %-4s n=%u: %.3f s, %.0f ops/s; %llu keys left\n", mode, n, t1 - t0,
	       n / (t1 - t0), (unsigned long long)kv_count(kv));

	kv_free(kv);
	wire_buf_free(&op);
	wire_buf_free(&res);
	wire_buf_free(&snap);
	free(order);
	free(value);
	return 0;
}
