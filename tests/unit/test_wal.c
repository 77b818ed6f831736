/*
 * Unit tests for the write-ahead log (node/wal.c): round trips, torn tails at every byte, damage
 * in the middle, snapshots and segment rotation, the fsync policies, permissions, the lock, and
 * real crashes (a child process that dies without closing, or is killed mid-stream).
 * Each test works in its own fresh directory under /tmp and removes it afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "node/wal.h"

#define REC_HDR 24u
#define SEG_HDR 32u
#define SNAP_HDR 40u
#define SEG1 "wal-0000000000000001.log"

/* ------------------------------------------------------------------------------------------- */
/* Fixture: a temporary directory */

struct tdir {
	char path[64];
};

static void tdir_make(struct tdir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/test_wal.XXXXXX");
	assert_non_null(mkdtemp(d->path));
}

static void tdir_remove(struct tdir *d)
{
	DIR *dir = opendir(d->path);
	struct dirent *de;
	char p[512];

	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", d->path, de->d_name);
		assert_int_equal(unlink(p), 0);
	}
	closedir(dir);
	assert_int_equal(rmdir(d->path), 0);
}

static void tdir_file(const struct tdir *d, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", d->path, name);
}

/* How many entries start with prefix. */
static int tdir_count(const struct tdir *d, const char *prefix)
{
	DIR *dir = opendir(d->path);
	struct dirent *de;
	int n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(dir);
	return n;
}

static uint8_t *file_read(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

static void file_write(const char *path, const uint8_t *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
}

static void file_flip(const char *path, size_t off)
{
	size_t len;
	uint8_t *p = file_read(path, &len);

	assert_true(off < len);
	p[off] ^= 0x40;
	file_write(path, p, len);
	free(p);
}

/* ------------------------------------------------------------------------------------------- */
/* Records: deterministic contents, and a collector for what recovery hands back */

static size_t rec_len(uint64_t i)
{
	return i % 13 == 0 ? 0 : (size_t)((i * 37) % 300 + 1);
}

static void rec_fill(uint64_t i, uint8_t *p, size_t len)
{
	for (size_t j = 0; j < len; j++)
		p[j] = (uint8_t)(i * 131 + j * 7);
}

static uint32_t rec_kind(uint64_t i)
{
	return (uint32_t)(1 + i % 4); /* never the checkpoint kind */
}

static void append_rec(struct wal *w, uint64_t i)
{
	uint8_t buf[400];
	char err[256];
	size_t len = rec_len(i);

	rec_fill(i, buf, len);
	assert_int_equal(wal_append(w, rec_kind(i), i, buf, len, err, sizeof(err)), BFT_OK);
}

struct seen {
	uint32_t kind;
	uint64_t seq;
	size_t len;
	uint8_t *bytes;
};

struct collect {
	struct seen *v;
	size_t n, cap;
	int fail_at;        /* 1-based item at which the callback refuses (0: never) */
	char *err;          /* where a refusing callback writes its reason */
	size_t errlen;
};

static int collect_fn(void *arg, uint32_t kind, uint64_t seq, const uint8_t *bytes, size_t len)
{
	struct collect *c = arg;

	if (c->fail_at != 0 && (int)c->n + 1 == c->fail_at) {
		snprintf(c->err, c->errlen, "callback refused item %d", c->fail_at);
		return -1;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		assert_non_null(c->v);
	}
	c->v[c->n].kind = kind;
	c->v[c->n].seq = seq;
	c->v[c->n].len = len;
	c->v[c->n].bytes = malloc(len + 1);
	assert_non_null(c->v[c->n].bytes);
	if (len > 0)
		memcpy(c->v[c->n].bytes, bytes, len);
	c->n++;
	return 0;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].bytes);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* Checks that c->v[at] is record i as append_rec wrote it. */
static void expect_rec(const struct collect *c, size_t at, uint64_t i)
{
	uint8_t buf[400];
	size_t len = rec_len(i);

	assert_true(at < c->n);
	rec_fill(i, buf, len);
	assert_int_equal(c->v[at].kind, rec_kind(i));
	assert_int_equal(c->v[at].seq, i);
	assert_int_equal(c->v[at].len, len);
	assert_memory_equal(c->v[at].bytes, buf, len);
}

static struct wal *open_cfg(const struct tdir *d, enum wal_fsync policy, uint64_t segment_max,
			    struct collect *c, struct wal_recovery *r)
{
	struct wal_config cfg;
	struct wal *w = NULL;
	char err[512];

	memset(&cfg, 0, sizeof(cfg));
	cfg.dir = d->path;
	cfg.fsync = policy;
	cfg.segment_max = segment_max;
	if (wal_open_config(&w, &cfg, collect_fn, c, r, err, sizeof(err)) != BFT_OK)
		fail_msg("wal_open_config: %s", err);
	return w;
}

static struct wal *open_default(const struct tdir *d, struct collect *c, struct wal_recovery *r)
{
	return open_cfg(d, WAL_FSYNC_ALWAYS, 0, c, r);
}

static void sync_ok(struct wal *w)
{
	char err[256];

	assert_int_equal(wal_sync(w, err, sizeof(err)), BFT_OK);
}

/* ------------------------------------------------------------------------------------------- */

static void test_wal_round_trips_many_records_in_order(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal *w;
	char err[256];
	uint8_t *big = malloc(300000);
	const uint64_t n = 5000;

	(void)state;
	assert_non_null(big);
	tdir_make(&d);
	w = open_default(&d, &c, &r);
	assert_int_equal(r.records, 0);
	assert_false(r.has_snapshot);
	for (uint64_t i = 1; i <= n; i++) {
		append_rec(w, i);
		if (i % 100 == 0)
			sync_ok(w);
	}
	/* One record large enough to bypass the append buffer. */
	for (size_t j = 0; j < 300000; j++)
		big[j] = (uint8_t)(j * 13);
	assert_int_equal(wal_append(w, 2, n + 1, big, 300000, err, sizeof(err)), BFT_OK);
	append_rec(w, n + 2);
	sync_ok(w);
	wal_close(w);

	w = open_default(&d, &c, &r);
	assert_int_equal(r.records, n + 2);
	assert_int_equal(r.truncated_bytes, 0);
	assert_int_equal(c.n, n + 2);
	for (uint64_t i = 1; i <= n; i++)
		expect_rec(&c, (size_t)(i - 1), i);
	assert_int_equal(c.v[n].len, 300000);
	assert_memory_equal(c.v[n].bytes, big, 300000);
	expect_rec(&c, (size_t)(n + 1), n + 2);
	/* Appends continue where recovery ended. */
	append_rec(w, n + 3);
	sync_ok(w);
	wal_close(w);
	collect_free(&c);
	w = open_default(&d, &c, &r);
	assert_int_equal(c.n, n + 3);
	expect_rec(&c, (size_t)(n + 2), n + 3);
	wal_close(w);
	collect_free(&c);
	free(big);
	tdir_remove(&d);
}

static void test_wal_truncates_a_torn_tail_at_every_byte_of_the_last_record(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal *w;
	char seg[128];
	uint8_t *pristine;
	size_t size, start;
	const uint64_t k = 20; /* record 20 has 20*37 % 300 + 1 = 141 bytes */

	(void)state;
	tdir_make(&d);
	w = open_default(&d, &c, &r);
	for (uint64_t i = 1; i <= k; i++)
		append_rec(w, i);
	sync_ok(w);
	wal_close(w);
	tdir_file(&d, SEG1, seg, sizeof(seg));
	pristine = file_read(seg, &size);
	start = size - (REC_HDR + rec_len(k));

	for (size_t t = start; t < size; t++) {
		file_write(seg, pristine, t);
		assert_int_equal(truncate(seg, (off_t)t), 0);
		w = open_default(&d, &c, &r);
		assert_int_equal(r.records, k - 1);
		assert_int_equal(c.n, k - 1);
		expect_rec(&c, (size_t)(k - 2), k - 1);
		assert_int_equal(r.truncated_bytes, t - start);
		if (t > start)
			assert_int_equal(r.truncated_offset, start);
		/* The log goes on from the cut, and the next recovery is clean. */
		if (t % 16 == 0) {
			append_rec(w, 1000);
			sync_ok(w);
			wal_close(w);
			collect_free(&c);
			w = open_default(&d, &c, &r);
			assert_int_equal(r.truncated_bytes, 0);
			assert_int_equal(c.n, k);
			expect_rec(&c, (size_t)(k - 1), 1000);
		}
		wal_close(w);
		collect_free(&c);
	}
	free(pristine);
	tdir_remove(&d);
}

static void test_wal_truncates_a_last_record_whose_checksum_fails(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal *w;
	char seg[128];
	uint8_t *pristine;
	size_t size, start;
	/* Damage in the payload, in the length, in the seq, in the stored crc itself. */
	const size_t where[] = { REC_HDR + 5, 4, 9, 21 };

	(void)state;
	tdir_make(&d);
	w = open_default(&d, &c, &r);
	for (uint64_t i = 1; i <= 10; i++)
		append_rec(w, i);
	sync_ok(w);
	wal_close(w);
	tdir_file(&d, SEG1, seg, sizeof(seg));
	pristine = file_read(seg, &size);
	start = size - (REC_HDR + rec_len(10));
	for (size_t k = 0; k < sizeof(where) / sizeof(where[0]); k++) {
		file_write(seg, pristine, size);
		file_flip(seg, start + where[k]);
		w = open_default(&d, &c, &r);
		assert_int_equal(c.n, 9);
		assert_int_equal(r.truncated_offset, start);
		assert_int_equal(r.truncated_bytes, size - start);
		wal_close(w);
		collect_free(&c);
	}
	free(pristine);
	tdir_remove(&d);
}

static void test_wal_refuses_a_corrupt_record_in_the_middle(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal *w = NULL;
	char seg[128], err[512], want[160];
	uint8_t *pristine;
	size_t size, off5 = SEG_HDR;
	const size_t where[] = { REC_HDR + 1, 0, 4, 6, 16 };

	(void)state;
	tdir_make(&d);
	w = open_default(&d, &c, &r);
	for (uint64_t i = 1; i <= 10; i++)
		append_rec(w, i);
	sync_ok(w);
	wal_close(w);
	tdir_file(&d, SEG1, seg, sizeof(seg));
	pristine = file_read(seg, &size);
	for (uint64_t i = 1; i < 5; i++)
		off5 += REC_HDR + rec_len(i);
	snprintf(want, sizeof(want), "%s: corrupt record at offset %zu", seg, off5);
	/* A flipped payload byte, magic, length (high byte: a huge length), seq, kind. */
	for (size_t k = 0; k < sizeof(where) / sizeof(where[0]); k++) {
		file_write(seg, pristine, size);
		file_flip(seg, off5 + where[k] + (where[k] == 6 ? 1 : 0));
		w = NULL;
		err[0] = '\0';
		assert_int_equal(wal_open(&w, d.path, collect_fn, &c, &r, err, sizeof(err)),
				 BFT_EMALFORMED);
		assert_null(w);
		assert_non_null(strstr(err, want));
		collect_free(&c);
	}
	/* Untouched again, it opens (the failed opens changed nothing on disk). */
	file_write(seg, pristine, size);
	w = open_default(&d, &c, &r);
	assert_int_equal(c.n, 10);
	wal_close(w);
	collect_free(&c);
	free(pristine);
	tdir_remove(&d);
}

static void test_wal_recovers_the_snapshot_then_the_records_after_it(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal *w;
	char err[256];
	const char *snap = "state as of 100";

	(void)state;
	tdir_make(&d);
	w = open_default(&d, &c, &r);
	for (uint64_t i = 1; i <= 100; i++)
		append_rec(w, i);
	assert_int_equal(wal_checkpoint(w, 100, (const uint8_t *)snap, strlen(snap), err,
					sizeof(err)), BFT_OK);
	assert_true(wal_pending(w));
	for (uint64_t i = 101; i <= 150; i++)
		append_rec(w, i);
	sync_ok(w);
	assert_false(wal_pending(w));
	wal_close(w);

	w = open_default(&d, &c, &r);
	assert_true(r.has_snapshot);
	assert_int_equal(r.snapshot_seq, 100);
	assert_int_equal(r.snapshot_bytes, strlen(snap));
	assert_int_equal(r.records, 50);
	assert_int_equal(c.n, 51);
	assert_int_equal(c.v[0].kind, WAL_KIND_CHECKPOINT);
	assert_int_equal(c.v[0].seq, 100);
	assert_int_equal(c.v[0].len, strlen(snap));
	assert_memory_equal(c.v[0].bytes, snap, strlen(snap));
	for (uint64_t i = 101; i <= 150; i++)
		expect_rec(&c, (size_t)(i - 100), i);
	/* A second checkpoint replaces the first. */
	assert_int_equal(wal_checkpoint(w, 150, (const uint8_t *)"s150", 4, err, sizeof(err)),
			 BFT_OK);
	append_rec(w, 151);
	sync_ok(w);
	wal_close(w);
	collect_free(&c);
	w = open_default(&d, &c, &r);
	assert_int_equal(r.snapshot_seq, 150);
	assert_int_equal(c.n, 2);
	expect_rec(&c, 1, 151);
	assert_int_equal(tdir_count(&d, "snap-"), 1);
	wal_close(w);
	collect_free(&c);
	tdir_remove(&d);
}

static void test_wal_rotates_segments_and_a_checkpoint_deletes_the_old_ones(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal_stats st;
	struct wal *w;
	char err[256];
	int before;

	(void)state;
	tdir_make(&d);
	w = open_cfg(&d, WAL_FSYNC_ALWAYS, 4096, &c, &r);
	for (uint64_t i = 1; i <= 300; i++)
		append_rec(w, i);
	sync_ok(w);
	before = tdir_count(&d, "wal-");
	assert_true(before >= 5);
	wal_close(w);
	/* Several segments replay as one log. */
	w = open_cfg(&d, WAL_FSYNC_ALWAYS, 4096, &c, &r);
	assert_int_equal(r.segments, (uint64_t)before);
	assert_int_equal(c.n, 300);
	for (uint64_t i = 1; i <= 300; i++)
		expect_rec(&c, (size_t)(i - 1), i);
	collect_free(&c);

	assert_int_equal(wal_checkpoint(w, 300, (const uint8_t *)"s", 1, err, sizeof(err)), BFT_OK);
	/* Not before the records after it are durable. */
	assert_int_equal(tdir_count(&d, "wal-"), before + 1);
	assert_int_equal(tdir_count(&d, "snap-"), 1); /* the temporary */
	append_rec(w, 301);
	sync_ok(w);
	assert_int_equal(tdir_count(&d, "wal-"), 1);
	assert_int_equal(tdir_count(&d, "snap-"), 1);
	wal_stats(w, &st);
	assert_int_equal(st.segments_deleted, (uint64_t)before);
	assert_int_equal(st.checkpoints, 1);
	wal_close(w);
	w = open_cfg(&d, WAL_FSYNC_ALWAYS, 4096, &c, &r);
	assert_int_equal(r.segments, 1);
	assert_int_equal(c.n, 2);
	expect_rec(&c, 1, 301);
	wal_close(w);
	collect_free(&c);
	tdir_remove(&d);
}

static void test_wal_every_fsync_policy_recovers_after_a_clean_close(void **state)
{
	const enum wal_fsync policies[] = { WAL_FSYNC_ALWAYS, WAL_FSYNC_BATCH, WAL_FSYNC_NEVER };

	(void)state;
	for (size_t p = 0; p < 3; p++) {
		struct tdir d;
		struct collect c = {0};
		struct wal_recovery r;
		struct wal *w;
		char err[256];

		tdir_make(&d);
		w = open_cfg(&d, policies[p], 0, &c, &r);
		for (uint64_t i = 1; i <= 200; i++) {
			append_rec(w, i);
			if (i == 120)
				assert_int_equal(wal_checkpoint(w, 120, (const uint8_t *)"x", 1, err,
								sizeof(err)), BFT_OK);
			if (i % 50 == 0)
				sync_ok(w);
		}
		append_rec(w, 201); /* appended, never synced: close writes it out */
		wal_close(w);
		w = open_cfg(&d, policies[p], 0, &c, &r);
		assert_true(r.has_snapshot);
		assert_int_equal(r.snapshot_seq, 120);
		assert_int_equal(c.n, 1 + 81);
		for (uint64_t i = 121; i <= 201; i++)
			expect_rec(&c, (size_t)(i - 120), i);
		wal_close(w);
		collect_free(&c);
		tdir_remove(&d);
	}
}

static void test_wal_batch_policy_asks_for_a_sync_by_time_or_bytes(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_config cfg;
	struct wal_stats st;
	struct wal *w = NULL;
	char err[256];
	uint8_t buf[600] = {0};
	struct timespec ts = { 0, 60 * 1000000L };
	int t;

	(void)state;
	tdir_make(&d);
	memset(&cfg, 0, sizeof(cfg));
	cfg.dir = d.path;
	cfg.fsync = WAL_FSYNC_BATCH;
	cfg.batch_ms = 40;
	cfg.batch_bytes = 1000;
	assert_int_equal(wal_open_config(&w, &cfg, NULL, NULL, NULL, err, sizeof(err)), BFT_OK);
	assert_int_equal(wal_sync_timeout_ms(w), -1);
	assert_false(wal_needs_sync(w));
	assert_int_equal(wal_append(w, 1, 1, buf, 10, err, sizeof(err)), BFT_OK);
	t = wal_sync_timeout_ms(w);
	assert_true(t > 0 && t <= 40);
	assert_false(wal_needs_sync(w));
	/* By bytes. */
	assert_int_equal(wal_append(w, 1, 2, buf, sizeof(buf), err, sizeof(err)), BFT_OK);
	assert_int_equal(wal_append(w, 1, 3, buf, sizeof(buf), err, sizeof(err)), BFT_OK);
	assert_true(wal_needs_sync(w));
	wal_stats(w, &st);
	assert_int_equal(st.unsynced_bytes, 3 * REC_HDR + 10 + 2 * sizeof(buf));
	sync_ok(w);
	assert_false(wal_pending(w));
	assert_int_equal(wal_sync_timeout_ms(w), -1);
	/* By time. */
	assert_int_equal(wal_append(w, 1, 4, buf, 10, err, sizeof(err)), BFT_OK);
	assert_false(wal_needs_sync(w));
	nanosleep(&ts, NULL);
	assert_true(wal_needs_sync(w));
	assert_int_equal(wal_sync_timeout_ms(w), 0);
	sync_ok(w);
	wal_close(w);
	/* always: any pending record asks for a sync. */
	cfg.fsync = WAL_FSYNC_ALWAYS;
	assert_int_equal(wal_open_config(&w, &cfg, collect_fn, &c, NULL, err, sizeof(err)), BFT_OK);
	assert_int_equal(c.n, 4);
	assert_int_equal(wal_append(w, 1, 5, buf, 10, err, sizeof(err)), BFT_OK);
	assert_true(wal_needs_sync(w));
	wal_close(w);
	collect_free(&c);
	tdir_remove(&d);
}

static void test_wal_files_are_private(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct stat st;
	struct wal *w;
	char p[192], err[256];
	const char *names[] = { "wal.lock", "wal-0000000000000001.log", "wal-0000000000000002.log",
				"snap-0000000000000002.snap" };

	(void)state;
	tdir_make(&d);
	/* The directory itself is created 0700 when missing. */
	struct tdir inner;
	const char *sub = inner.path;
	assert_true(strlen(d.path) + 6 < sizeof(inner.path));
	strcpy(inner.path, d.path);
	strcat(inner.path, "/data");
	w = open_default(&inner, &c, &r);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	append_rec(w, 1);
	assert_int_equal(wal_checkpoint(w, 1, (const uint8_t *)"s", 1, err, sizeof(err)), BFT_OK);
	append_rec(w, 2);
	sync_ok(w);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", sub, names[i]);
		if (i == 1) {
			/* Superseded by the snapshot and deleted. */
			assert_int_equal(stat(p, &st), -1);
			continue;
		}
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	wal_close(w);
	collect_free(&c);
	tdir_remove(&inner);
	tdir_remove(&d);
}

/* The asynchronous group commit: a sync in flight does not stop appends, rotation waits for it
 * (the helper thread never syncs a closed segment), the eventfd wakes a poller once it is over,
 * a pending checkpoint takes the synchronous path, and everything survives a reopen. */
static void test_wal_async_sync_covers_what_was_appended_before_it(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal_stats st;
	struct wal *w;
	struct pollfd pfd;
	char err[256];
	bool done;

	(void)state;
	tdir_make(&d);
	w = open_cfg(&d, WAL_FSYNC_BATCH, 4096, &c, &r);
	/* Nothing in flight: end reports done, and the eventfd is quiet. */
	assert_false(wal_sync_inflight(w));
	assert_int_equal(wal_sync_end(w, false, &done, err, sizeof(err)), BFT_OK);
	assert_true(done);
	pfd = (struct pollfd){.fd = wal_sync_fd(w), .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 0);

	for (uint64_t i = 1; i <= 10; i++)
		append_rec(w, i);
	assert_int_equal(wal_sync_begin(w, &done, err, sizeof(err)), BFT_OK);
	assert_false(done);
	assert_true(wal_sync_inflight(w));
	assert_false(wal_pending(w));
	/* Appends go on while it is in flight, and are pending again. */
	append_rec(w, 11);
	assert_true(wal_pending(w));
	/* The eventfd turns readable when the helper is done; collecting clears it. */
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_int_equal(wal_sync_end(w, false, &done, err, sizeof(err)), BFT_OK);
	assert_true(done);
	assert_false(wal_sync_inflight(w));
	assert_int_equal(poll(&pfd, 1, 0), 0);

	/* Enough appends to rotate segments (4 KiB) while syncs are in flight. */
	for (uint64_t i = 12; i <= 300; i++) {
		append_rec(w, i);
		if (i % 7 == 0) {
			assert_int_equal(wal_sync_begin(w, &done, err, sizeof(err)), BFT_OK);
		}
	}
	assert_int_equal(wal_sync_end(w, true, &done, err, sizeof(err)), BFT_OK);
	assert_true(done);
	wal_stats(w, &st);
	assert_true(st.segments_created >= 3);

	/* A pending checkpoint is completed synchronously by begin. */
	assert_int_equal(wal_checkpoint(w, 300, (const uint8_t *)"s", 1, err, sizeof(err)), BFT_OK);
	append_rec(w, 301);
	assert_int_equal(wal_sync_begin(w, &done, err, sizeof(err)), BFT_OK);
	assert_true(done);
	assert_int_equal(tdir_count(&d, "wal-"), 1);
	append_rec(w, 302);
	assert_int_equal(wal_sync_begin(w, &done, err, sizeof(err)), BFT_OK);
	wal_close(w); /* waits for the sync in flight */
	w = open_cfg(&d, WAL_FSYNC_BATCH, 4096, &c, &r);
	assert_true(r.has_snapshot);
	assert_int_equal(c.n, 3); /* the snapshot, 301, 302 */
	expect_rec(&c, 1, 301);
	expect_rec(&c, 2, 302);
	wal_close(w);
	collect_free(&c);
	tdir_remove(&d);
}

/* The child half of the crash tests: never returns, never uses cmocka. */
static void child_write_then_die(const char *dir, uint64_t synced, uint64_t unsynced)
{
	struct wal *w = NULL;
	char err[256];
	uint8_t buf[400];

	if (wal_open(&w, dir, NULL, NULL, NULL, err, sizeof(err)) != BFT_OK)
		_exit(2);
	for (uint64_t i = 1; i <= synced + unsynced; i++) {
		size_t len = rec_len(i);
		rec_fill(i, buf, len);
		if (wal_append(w, rec_kind(i), i, buf, len, err, sizeof(err)) != BFT_OK)
			_exit(3);
		if (i <= synced && i % 10 == 0 && wal_sync(w, err, sizeof(err)) != BFT_OK)
			_exit(4);
		if (i == synced && wal_sync(w, err, sizeof(err)) != BFT_OK)
			_exit(4);
		/* Half of the rest reaches the file without a sync; the rest stays in our buffer
		 * and dies with us. */
		if (i == synced + unsynced / 2 && wal_flush(w, err, sizeof(err)) != BFT_OK)
			_exit(5);
	}
	_exit(0); /* no wal_close: the process simply dies */
}

static void test_wal_a_dead_process_loses_nothing_it_synced(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal *w;
	int status;
	pid_t pid;

	(void)state;
	tdir_make(&d);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_write_then_die(d.path, 205, 7);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	w = open_default(&d, &c, &r);
	assert_int_equal(c.n, 205 + 7 / 2);
	for (uint64_t i = 1; i <= c.n; i++)
		expect_rec(&c, (size_t)(i - 1), i);
	wal_close(w);
	collect_free(&c);
	tdir_remove(&d);
}

/* A child that appends, syncs, checkpoints and reports what it synced through a pipe until it
 * is killed; the parent then checks the log holds a consistent history at least that long. */
static void child_stream(const char *dir, int report_fd)
{
	struct wal *w = NULL;
	char err[256];
	uint8_t buf[400];

	if (wal_open(&w, dir, NULL, NULL, NULL, err, sizeof(err)) != BFT_OK)
		_exit(2);
	for (uint64_t i = 1;; i++) {
		size_t len = rec_len(i);
		rec_fill(i, buf, len);
		if (wal_append(w, rec_kind(i), i, buf, len, err, sizeof(err)) != BFT_OK)
			_exit(3);
		if (i % 50 == 0) {
			char s[32];
			int k = snprintf(s, sizeof(s), "S%" PRIu64, i);
			if (wal_checkpoint(w, i, (const uint8_t *)s, (size_t)k, err, sizeof(err)) !=
			    BFT_OK)
				_exit(5);
		}
		if (i % 7 == 0) {
			if (wal_sync(w, err, sizeof(err)) != BFT_OK)
				_exit(4);
			if (write(report_fd, &i, sizeof(i)) != (ssize_t)sizeof(i))
				_exit(6);
		}
	}
}

static void test_wal_survives_sigkill_mid_stream_with_checkpoints(void **state)
{
	(void)state;
	for (int round = 0; round < 5; round++) {
		struct tdir d;
		struct collect c = {0};
		struct wal_recovery r;
		struct wal *w;
		uint64_t reported = 0, target = 300 + 97 * (uint64_t)round, first;
		int fds[2], status;
		pid_t pid;
		time_t t0 = time(NULL);

		tdir_make(&d);
		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child_stream(d.path, fds[1]);
		}
		close(fds[1]);
		while (reported < target && time(NULL) - t0 < 20) {
			struct pollfd pfd = { fds[0], POLLIN, 0 };
			uint64_t v;
			if (poll(&pfd, 1, 1000) <= 0)
				continue;
			if (read(fds[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
				break;
			reported = v;
		}
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		close(fds[0]);
		assert_true(reported >= target);

		w = open_default(&d, &c, &r);
		/* A snapshot S (taken at a multiple of 50), then records S+1, S+2, ... without a
		 * gap, reaching at least what the child had synced when it was killed. */
		first = 1;
		if (r.has_snapshot) {
			char want[32];
			assert_int_equal(r.snapshot_seq % 50, 0);
			snprintf(want, sizeof(want), "S%" PRIu64, r.snapshot_seq);
			assert_int_equal(c.v[0].kind, WAL_KIND_CHECKPOINT);
			assert_int_equal(c.v[0].len, strlen(want));
			assert_memory_equal(c.v[0].bytes, want, strlen(want));
			first = r.snapshot_seq + 1;
		}
		assert_true(r.records > 0);
		for (uint64_t k = 0; k < r.records; k++)
			expect_rec(&c, (size_t)(k + (r.has_snapshot ? 1 : 0)), first + k);
		assert_true(first + r.records - 1 >= reported);
		wal_close(w);
		collect_free(&c);
		tdir_remove(&d);
	}
}

static void test_wal_checkpoint_without_a_sync_leaves_the_previous_state(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal *w;
	int status;
	pid_t pid;

	(void)state;
	tdir_make(&d);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct wal *cw = NULL;
		char err[256];
		if (wal_open(&cw, d.path, NULL, NULL, NULL, err, sizeof(err)) != BFT_OK)
			_exit(2);
		for (uint64_t i = 1; i <= 10; i++) {
			uint8_t buf[400];
			rec_fill(i, buf, rec_len(i));
			if (wal_append(cw, rec_kind(i), i, buf, rec_len(i), err, sizeof(err)) != BFT_OK)
				_exit(3);
		}
		if (wal_sync(cw, err, sizeof(err)) != BFT_OK ||
		    wal_checkpoint(cw, 10, (const uint8_t *)"s10", 3, err, sizeof(err)) != BFT_OK)
			_exit(4);
		/* The record re-emitted after the checkpoint reaches the file, and we die before
		 * the wal_sync that would have made the snapshot take effect. */
		uint8_t buf[400];
		rec_fill(11, buf, rec_len(11));
		if (wal_append(cw, rec_kind(11), 11, buf, rec_len(11), err, sizeof(err)) != BFT_OK ||
		    wal_flush(cw, err, sizeof(err)) != BFT_OK)
			_exit(5);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(tdir_count(&d, "snap-"), 1); /* snap-...snap.tmp */

	w = open_default(&d, &c, &r);
	assert_false(r.has_snapshot);
	assert_int_equal(r.removed_files, 1);
	assert_int_equal(r.segments, 2);
	assert_int_equal(c.n, 11);
	for (uint64_t i = 1; i <= 11; i++)
		expect_rec(&c, (size_t)(i - 1), i);
	assert_int_equal(tdir_count(&d, "snap-"), 0);
	wal_close(w);
	collect_free(&c);
	tdir_remove(&d);
}

/* ------------------------------------------------------------------------------------------- */

static void test_wal_refuses_damage_outside_the_last_segment_tail(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal *w = NULL;
	char p[128], err[512];
	uint8_t *pristine;
	size_t size;

	(void)state;
	tdir_make(&d);
	w = open_cfg(&d, WAL_FSYNC_ALWAYS, 2048, &c, &r);
	for (uint64_t i = 1; i <= 60; i++)
		append_rec(w, i);
	sync_ok(w);
	wal_close(w);
	assert_true(tdir_count(&d, "wal-") >= 3);

	/* The last byte of the first segment: a "torn tail" anywhere but the end is damage. */
	tdir_file(&d, SEG1, p, sizeof(p));
	pristine = file_read(p, &size);
	file_flip(p, size - 1);
	assert_int_equal(wal_open(&w, d.path, collect_fn, &c, &r, err, sizeof(err)),
			 BFT_EMALFORMED);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "corrupt record at offset"));
	collect_free(&c);
	/* A damaged segment header. */
	file_write(p, pristine, size);
	file_flip(p, 9);
	assert_int_equal(wal_open(&w, d.path, collect_fn, &c, &r, err, sizeof(err)),
			 BFT_EMALFORMED);
	assert_non_null(strstr(err, "corrupt segment header"));
	collect_free(&c);
	/* A missing segment in the middle. */
	file_write(p, pristine, size);
	tdir_file(&d, "wal-0000000000000002.log", p, sizeof(p));
	assert_int_equal(unlink(p), 0);
	w = NULL;
	assert_int_equal(wal_open(&w, d.path, collect_fn, &c, &r, err, sizeof(err)),
			 BFT_EMALFORMED);
	assert_non_null(strstr(err, "missing"));
	assert_null(w);
	collect_free(&c);
	free(pristine);
	tdir_remove(&d);
}

static void test_wal_refuses_a_corrupt_snapshot(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal *w = NULL;
	char p[128], err[512];

	(void)state;
	tdir_make(&d);
	w = open_default(&d, &c, &r);
	append_rec(w, 1);
	assert_int_equal(wal_checkpoint(w, 1, (const uint8_t *)"snapshot!", 9, err, sizeof(err)),
			 BFT_OK);
	sync_ok(w);
	wal_close(w);
	tdir_file(&d, "snap-0000000000000002.snap", p, sizeof(p));
	file_flip(p, SNAP_HDR + 3);
	w = NULL;
	assert_int_equal(wal_open(&w, d.path, collect_fn, &c, &r, err, sizeof(err)),
			 BFT_EMALFORMED);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "checksum"));
	assert_null(w);
	collect_free(&c);
	/* And one cut short. */
	file_flip(p, SNAP_HDR + 3);
	assert_int_equal(truncate(p, SNAP_HDR + 4), 0);
	assert_int_equal(wal_open(&w, d.path, collect_fn, &c, &r, err, sizeof(err)),
			 BFT_EMALFORMED);
	assert_non_null(strstr(err, p));
	collect_free(&c);
	tdir_remove(&d);
}

static void test_wal_recreates_a_last_segment_with_a_torn_header(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal *w;
	char p[128];

	(void)state;
	tdir_make(&d);
	w = open_cfg(&d, WAL_FSYNC_ALWAYS, 2048, &c, &r);
	for (uint64_t i = 1; i <= 30; i++)
		append_rec(w, i);
	sync_ok(w);
	wal_close(w);
	/* As if a crash hit while the next segment's header was being written. */
	snprintf(p, sizeof(p), "%s/wal-%016x.log", d.path, (unsigned)tdir_count(&d, "wal-") + 1);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "BFTWAL\0\2\1\0", 10), 10);
	close(fd);
	w = open_cfg(&d, WAL_FSYNC_ALWAYS, 2048, &c, &r);
	assert_int_equal(c.n, 30);
	assert_int_equal(r.truncated_bytes, 10);
	append_rec(w, 31);
	sync_ok(w);
	wal_close(w);
	collect_free(&c);
	w = open_cfg(&d, WAL_FSYNC_ALWAYS, 2048, &c, &r);
	assert_int_equal(c.n, 31);
	expect_rec(&c, 30, 31);
	wal_close(w);
	collect_free(&c);
	tdir_remove(&d);
}

static void test_wal_stops_recovery_when_the_callback_refuses(void **state)
{
	struct tdir d;
	struct collect c = {0};
	struct wal_recovery r;
	struct wal *w = NULL;
	char err[256] = "";

	(void)state;
	tdir_make(&d);
	w = open_default(&d, &c, &r);
	for (uint64_t i = 1; i <= 5; i++)
		append_rec(w, i);
	sync_ok(w);
	wal_close(w);
	collect_free(&c);
	c.fail_at = 3;
	c.err = err;
	c.errlen = sizeof(err);
	w = NULL;
	assert_int_equal(wal_open(&w, d.path, collect_fn, &c, &r, err, sizeof(err)), BFT_ESTATE);
	assert_null(w);
	assert_int_equal(c.n, 2);
	assert_string_equal(err, "callback refused item 3");
	collect_free(&c);
	tdir_remove(&d);
}

static void test_wal_refuses_a_second_opener_and_bad_input(void **state)
{
	struct tdir d;
	struct wal_config cfg;
	struct wal *w = NULL, *w2 = NULL;
	char err[256];
	uint8_t buf[200] = {0};

	(void)state;
	tdir_make(&d);
	memset(&cfg, 0, sizeof(cfg));
	cfg.dir = d.path;
	cfg.record_max = 100;
	cfg.snapshot_max = 50;
	assert_int_equal(wal_open_config(&w, &cfg, NULL, NULL, NULL, err, sizeof(err)), BFT_OK);
	/* The directory is locked while open. */
	assert_int_equal(wal_open(&w2, d.path, NULL, NULL, NULL, err, sizeof(err)), BFT_ESTATE);
	assert_non_null(strstr(err, "locked"));
	assert_null(w2);
	assert_int_equal(wal_append(w, 1, 1, buf, 101, err, sizeof(err)), BFT_ETOOBIG);
	assert_int_equal(wal_append(w, 1, 1, buf, 100, err, sizeof(err)), BFT_OK);
	assert_int_equal(wal_append(w, 70000, 1, buf, 1, err, sizeof(err)), BFT_EINVAL);
	assert_int_equal(wal_checkpoint(w, 1, buf, 51, err, sizeof(err)), BFT_ETOOBIG);
	sync_ok(w);
	wal_close(w);
	/* A smaller record_max later does not turn the 100-byte record into a torn tail. */
	cfg.record_max = 10;
	struct collect c = {0};
	struct wal_recovery r;
	assert_int_equal(wal_open_config(&w, &cfg, collect_fn, &c, &r, err, sizeof(err)), BFT_OK);
	assert_int_equal(c.n, 1);
	assert_int_equal(r.truncated_bytes, 0);
	wal_close(w);
	collect_free(&c);
	cfg.dir = NULL;
	assert_int_equal(wal_open_config(&w, &cfg, NULL, NULL, NULL, err, sizeof(err)), BFT_EINVAL);
	assert_int_equal(wal_open(&w, "/nonexistent/deeper/dir", NULL, NULL, NULL, err,
				  sizeof(err)), BFT_ESTATE);
	assert_non_null(strstr(err, "/nonexistent/deeper/dir"));
	tdir_remove(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wal_round_trips_many_records_in_order),
		cmocka_unit_test(test_wal_truncates_a_torn_tail_at_every_byte_of_the_last_record),
		cmocka_unit_test(test_wal_truncates_a_last_record_whose_checksum_fails),
		cmocka_unit_test(test_wal_refuses_a_corrupt_record_in_the_middle),
		cmocka_unit_test(test_wal_recovers_the_snapshot_then_the_records_after_it),
		cmocka_unit_test(test_wal_rotates_segments_and_a_checkpoint_deletes_the_old_ones),
		cmocka_unit_test(test_wal_every_fsync_policy_recovers_after_a_clean_close),
		cmocka_unit_test(test_wal_batch_policy_asks_for_a_sync_by_time_or_bytes),
		cmocka_unit_test(test_wal_files_are_private),
		cmocka_unit_test(test_wal_async_sync_covers_what_was_appended_before_it),
		cmocka_unit_test(test_wal_a_dead_process_loses_nothing_it_synced),
		cmocka_unit_test(test_wal_survives_sigkill_mid_stream_with_checkpoints),
		cmocka_unit_test(test_wal_checkpoint_without_a_sync_leaves_the_previous_state),
		cmocka_unit_test(test_wal_refuses_damage_outside_the_last_segment_tail),
		cmocka_unit_test(test_wal_refuses_a_corrupt_snapshot),
		cmocka_unit_test(test_wal_recreates_a_last_segment_with_a_torn_header),
		cmocka_unit_test(test_wal_stops_recovery_when_the_callback_refuses),
		cmocka_unit_test(test_wal_refuses_a_second_opener_and_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
