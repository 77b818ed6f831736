/*
 * Write-ahead log tests: round trips, torn tails at every offset, corruption in the middle,
 * checkpoints and segment rotation, and a crash of a child process after wal_sync.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/wal.h"

struct seen {
	uint64_t n;
	uint32_t kinds[512];
	uint64_t seqs[512];
	size_t lens[512];
	uint8_t first[512];
};

static int collect(void *arg, uint32_t kind, uint64_t seq, const uint8_t *bytes, size_t len)
{
	struct seen *s = arg;

	if (s->n < 512) {
		s->kinds[s->n] = kind;
		s->seqs[s->n] = seq;
		s->lens[s->n] = len;
		s->first[s->n] = len ? bytes[0] : 0;
	}
	s->n++;
	return 0;
}

static char *tmpdir(void)
{
	char *d = strdup("/tmp/bft-wal-XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void rmrf(const char *d)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

/* The only segment file in dir. */
static void segment(const char *dir, char *out, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "wal-", 4) == 0 && strstr(de->d_name, ".tmp") == NULL) {
			snprintf(out, len, "%s/%s", dir, de->d_name);
			found++;
		}
	closedir(d);
	assert_int_equal(found, 1);
}

static void write_records(const char *dir, int n)
{
	struct wal *w;
	char err[256];
	uint8_t buf[300];

	assert_int_equal(wal_open(&w, dir, NULL, NULL, NULL, err, sizeof(err)), 0);
	for (int i = 0; i < n; i++) {
		memset(buf, i, sizeof(buf));
		assert_int_equal(wal_append(w, 2, (uint64_t)i + 1, buf, (size_t)(i * 7) % 300, err,
					    sizeof(err)),
				 0);
	}
	assert_int_equal(wal_sync(w, err, sizeof(err)), 0);
	wal_close(w);
}

static void test_wal_round_trips_records_in_order(void **state)
{
	char *dir = tmpdir();
	struct seen s = {0};
	struct wal *w;
	struct wal_recovery r;
	char err[256];

	(void)state;
	write_records(dir, 100);
	assert_int_equal(wal_open(&w, dir, collect, &s, &r, err, sizeof(err)), 0);
	assert_int_equal(s.n, 100);
	assert_int_equal(r.records, 100);
	assert_int_equal(r.truncated_bytes, 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(s.kinds[i], 2);
		assert_int_equal(s.seqs[i], (uint64_t)i + 1);
		assert_int_equal(s.lens[i], (size_t)(i * 7) % 300);
		if (s.lens[i])
			assert_int_equal(s.first[i], (uint8_t)i);
	}
	wal_close(w);
	rmrf(dir);
	free(dir);
}

static void test_wal_truncates_a_torn_tail_at_every_offset(void **state)
{
	char *dir = tmpdir();
	char seg[600], err[256];
	struct stat st;
	off_t full, last_start;

	(void)state;
	write_records(dir, 5);
	segment(dir, seg, sizeof(seg));
	assert_int_equal(stat(seg, &st), 0);
	full = st.st_size;
	last_start = full - (24 + (4 * 7) % 300);
	for (off_t cut = last_start + 1; cut < full; cut++) {
		struct seen s = {0};
		struct wal_recovery r;
		struct wal *w;
		write_records(dir, 0); /* nothing: reopen keeps the file */
		assert_int_equal(truncate(seg, cut), 0);
		assert_int_equal(wal_open(&w, dir, collect, &s, &r, err, sizeof(err)), 0);
		assert_int_equal(s.n, 4);
		assert_int_equal(r.truncated_bytes, (uint64_t)(cut - last_start));
		wal_close(w);
		assert_int_equal(stat(seg, &st), 0);
		assert_int_equal(st.st_size, last_start);
		/* Put the fifth record back for the next cut. */
		rmrf(dir);
		assert_int_equal(mkdir(dir, 0700), 0);
		write_records(dir, 5);
		segment(dir, seg, sizeof(seg));
	}
	rmrf(dir);
	free(dir);
}

static void test_wal_refuses_a_corrupt_record_in_the_middle(void **state)
{
	char *dir = tmpdir();
	char seg[600], err[256];
	struct seen s = {0};
	struct wal *w;
	FILE *f;

	(void)state;
	write_records(dir, 10);
	segment(dir, seg, sizeof(seg));
	f = fopen(seg, "r+b");
	assert_non_null(f);
	/* Record 3 starts at 3*24 + (0+7+14) bytes; flip a byte of its payload. */
	assert_int_equal(fseek(f, 3 * 24 + 21 + 24 + 2, SEEK_SET), 0);
	fputc(0x55, f);
	fclose(f);
	assert_int_equal(wal_open(&w, dir, collect, &s, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "corrupt record at offset 93"));
	assert_non_null(strstr(err, seg));
	rmrf(dir);
	free(dir);
}

static void test_wal_checkpoint_starts_a_segment_and_drops_older_ones(void **state)
{
	char *dir = tmpdir();
	char err[256], seg[600];
	struct seen s = {0};
	struct wal *w;
	uint8_t snap[1000];

	(void)state;
	write_records(dir, 20);
	assert_int_equal(wal_open(&w, dir, NULL, NULL, NULL, err, sizeof(err)), 0);
	memset(snap, 0xab, sizeof(snap));
	assert_int_equal(wal_append(w, 2, 99, snap, 10, err, sizeof(err)), 0); /* superseded */
	assert_int_equal(wal_checkpoint(w, 64, snap, sizeof(snap), err, sizeof(err)), 0);
	assert_int_equal(wal_append(w, 2, 65, snap, 5, err, sizeof(err)), 0);
	assert_int_equal(wal_sync(w, err, sizeof(err)), 0);
	wal_close(w);
	segment(dir, seg, sizeof(seg)); /* exactly one segment is left */
	assert_int_equal(wal_open(&w, dir, collect, &s, NULL, err, sizeof(err)), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.kinds[0], WAL_KIND_CHECKPOINT);
	assert_int_equal(s.seqs[0], 64);
	assert_int_equal(s.lens[0], sizeof(snap));
	assert_int_equal(s.seqs[1], 65);
	wal_close(w);
	rmrf(dir);
	free(dir);
}

static void test_wal_keeps_what_was_synced_when_the_process_dies(void **state)
{
	char *dir = tmpdir();
	char err[256];
	struct seen s = {0};
	struct wal *w;
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t b[64] = {1};
		if (wal_open(&w, dir, NULL, NULL, NULL, err, sizeof(err)) != 0)
			_exit(2);
		for (int i = 0; i < 30; i++)
			if (wal_append(w, 3, (uint64_t)i, b, sizeof(b), err, sizeof(err)) != 0)
				_exit(3);
		if (wal_sync(w, err, sizeof(err)) != 0)
			_exit(4);
		/* Appended after the sync and never written: lost, as a crash would lose them. */
		if (wal_append(w, 3, 100, b, sizeof(b), err, sizeof(err)) != 0)
			_exit(5);
		_exit(0); /* no wal_close */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(wal_open(&w, dir, collect, &s, NULL, err, sizeof(err)), 0);
	assert_int_equal(s.n, 30);
	wal_close(w);
	rmrf(dir);
	free(dir);
}

static int fail_at_third(void *arg, uint32_t kind, uint64_t seq, const uint8_t *bytes, size_t len)
{
	int *n = arg;
	(void)kind;
	(void)seq;
	(void)bytes;
	(void)len;
	return ++*n == 3 ? -1 : 0;
}

static void test_wal_stops_recovery_when_the_callback_refuses_a_record(void **state)
{
	char *dir = tmpdir();
	char err[256];
	struct wal *w;
	int n = 0;

	(void)state;
	write_records(dir, 5);
	assert_int_equal(wal_open(&w, dir, fail_at_third, &n, NULL, err, sizeof(err)), -1);
	assert_int_equal(n, 3);
	rmrf(dir);
	free(dir);
}

static void test_wal_refuses_a_missing_directory(void **state)
{
	char err[256];
	struct wal *w;

	(void)state;
	assert_int_equal(wal_open(&w, "/nonexistent/bft-wal", NULL, NULL, NULL, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "/nonexistent/bft-wal"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wal_round_trips_records_in_order),
		cmocka_unit_test(test_wal_truncates_a_torn_tail_at_every_offset),
		cmocka_unit_test(test_wal_refuses_a_corrupt_record_in_the_middle),
		cmocka_unit_test(test_wal_checkpoint_starts_a_segment_and_drops_older_ones),
		cmocka_unit_test(test_wal_keeps_what_was_synced_when_the_process_dies),
		cmocka_unit_test(test_wal_stops_recovery_when_the_callback_refuses_a_record),
		cmocka_unit_test(test_wal_refuses_a_missing_directory),
	};
	return cmocka_run_group_tests_name("wal", tests, NULL, NULL);
}
