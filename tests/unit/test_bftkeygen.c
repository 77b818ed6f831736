/*
 * Tests of the bftkeygen program itself, run as a process (fork + exec) into a mkdtemp
 * directory that the group teardown removes: files and modes, refusing to overwrite, refusing
 * a cluster that cannot work, exit codes, --help, and that no secret reaches its output.
 *
 * Which binary: $BFTKEYGEN if set; else the newer of <build>/bin/bftkeygen (build/asan/bin,
 * build/clang/bin) and bin/bftkeygen at the top of the source tree (the default build). When
 * there is none, or it is older than the key generator's sources (`make asan` alone builds no
 * program), every test is skipped with a note rather than testing the wrong code.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node/config.h"

static char tmpdir[64];
static char bin[PATH_MAX + 64];
static bool have_bin;

/* ---------------------------------------------------------------------------------------- */
/* Finding the program */

static char why_skip[PATH_MAX + 128];

/* The modification time of an executable regular file at path, or -1 when there is none. */
static long long exec_mtime(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || access(path, X_OK) != 0)
		return -1;
	return (long long)st.st_mtime;
}

/* Strips the last path component of p in place; false when there is none left. */
static bool up(char *p)
{
	char *slash = strrchr(p, '/');

	if (slash == NULL || slash == p)
		return false;
	*slash = '\0';
	return true;
}

/* Picks the binary to test. `make asan` and `make test-unit` do not rebuild the programs, so a
 * binary may be older than the code it is supposed to run: take the newest candidate, and skip
 * (saying why) rather than test a binary older than the key generator's sources. */
static void find_bin(void)
{
	static const char *const sources[] = { "node/bftkeygen.c", "node/keygen.c",
					       "node/keygen.h", "node/config.c", "node/config.h" };
	const char *env = getenv("BFTKEYGEN");
	char exe[PATH_MAX], root[PATH_MAX], probe[PATH_MAX + 64];
	long long best = -1, t;
	ssize_t n;

	if (env != NULL && env[0] != '\0') {
		snprintf(bin, sizeof(bin), "%s", env);
		have_bin = exec_mtime(bin) >= 0;
		snprintf(why_skip, sizeof(why_skip), "BFTKEYGEN=%s is not an executable", env);
		return;
	}
	snprintf(why_skip, sizeof(why_skip), "no bftkeygen binary found (build it with `make`, or "
		 "set BFTKEYGEN)");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	/* <build>/tests/unit/test_bftkeygen: three components up is the build directory. */
	if (!up(exe) || !up(exe) || !up(exe))
		return;
	snprintf(probe, sizeof(probe), "%s/bin/bftkeygen", exe);
	if ((t = exec_mtime(probe)) > best) {
		best = t;
		snprintf(bin, sizeof(bin), "%s", probe);
	}
	/* Up to the source tree: the directory with the Makefile and the program's source. */
	snprintf(root, sizeof(root), "%s", exe);
	do {
		char mk[PATH_MAX + 64], src[PATH_MAX + 64];

		snprintf(mk, sizeof(mk), "%s/Makefile", root);
		snprintf(src, sizeof(src), "%s/node/bftkeygen.c", root);
		if (access(mk, F_OK) == 0 && access(src, F_OK) == 0)
			break;
	} while (up(root));
	snprintf(probe, sizeof(probe), "%s/bin/bftkeygen", root);
	if ((t = exec_mtime(probe)) > best) {
		best = t;
		snprintf(bin, sizeof(bin), "%s", probe);
	}
	if (best < 0)
		return;
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		struct stat st;

		snprintf(probe, sizeof(probe), "%s/%s", root, sources[i]);
		if (stat(probe, &st) == 0 && (long long)st.st_mtime > best) {
			snprintf(why_skip, sizeof(why_skip), "%s is older than %s (run `make`)", bin,
				 sources[i]);
			return;
		}
	}
	have_bin = true;
}

/* ---------------------------------------------------------------------------------------- */
/* Running it */

struct result {
	int status;        /* exit status, or -1 when killed by a signal */
	char out[16384];   /* stdout and stderr together */
};

/* Runs bftkeygen with args (NULL-terminated) and collects its output. */
static void run(struct result *r, const char *const *args)
{
	char *argv[32];
	char outpath[128];
	size_t argc = 0;
	int fd, st;
	ssize_t len;
	pid_t pid;

	argv[argc++] = bin;
	for (size_t i = 0; args[i] != NULL; i++) {
		assert_true(argc < 31);
		argv[argc++] = (char *)(uintptr_t)args[i]; /* execv's argv is not const */
	}
	argv[argc] = NULL;
	snprintf(outpath, sizeof(outpath), "%s/.out", tmpdir);
	fd = open(outpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execv(bin, argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	len = read(fd, r->out, sizeof(r->out) - 1);
	assert_true(len >= 0);
	r->out[len] = '\0';
	close(fd);
	(void)unlink(outpath);
}

#define RUN(r, ...) run((r), (const char *const[]){ __VA_ARGS__, NULL })

/* ---------------------------------------------------------------------------------------- */
/* Files */

static void rm_rf(const char *path)
{
	struct stat st;
	struct dirent *de;
	DIR *d;

	if (lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		(void)unlink(path);
		return;
	}
	d = opendir(path);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			char sub[512];

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
	}
	(void)rmdir(path);
}

static const char *path_in(const char *dir, const char *name)
{
	static char buf[4][512];
	static unsigned next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, name);
	return b;
}

static const char *fresh_dir(const char *name)
{
	static char buf[2][256];
	static unsigned next;
	char *b = buf[next++ % 2];

	snprintf(b, sizeof(buf[0]), "%s/%s", tmpdir, name);
	rm_rf(b);
	return b;
}

static size_t slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return n;
}

static void expect_mode(const char *path, unsigned mode)
{
	struct stat st;

	if (stat(path, &st) != 0)
		fail_msg("%s: missing", path);
	if ((st.st_mode & 0777) != mode)
		fail_msg("%s: mode %04o, expected %04o", path, st.st_mode & 0777, mode);
}

static int group_setup(void **state)
{
	(void)state;
	find_bin();
	if (!have_bin)
		fprintf(stderr, "test_bftkeygen: %s; skipping\n", why_skip);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_bftkeygen.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rm_rf(tmpdir);
	return 0;
}

#define NEED_BIN()                 \
	do {                       \
		if (!have_bin)     \
			skip();    \
	} while (0)

/* ---------------------------------------------------------------------------------------- */
/* Tests */

static void test_bftkeygen_writes_secret_files_0600_and_a_loadable_config(void **state)
{
	const char *dir = fresh_dir("ok");
	struct result r;
	struct node_config c;
	struct node_replica_keys k;
	char err[NODE_CONFIG_ERR_BYTES], text[2048];

	(void)state;
	NEED_BIN();
	RUN(&r, "--faults", "1", "--clients", "2", "--out", dir, "--protocol", "hbbft");
	if (r.status != 0)
		fail_msg("exit %d: %s", r.status, r.out);
	expect_mode(dir, 0700);
	expect_mode(path_in(dir, "cluster.ini"), 0644);
	for (unsigned i = 0; i < 4; i++) {
		char name[64];

		snprintf(name, sizeof(name), "replica-%u.key", i);
		expect_mode(path_in(dir, name), 0600);
		snprintf(name, sizeof(name), "replica-%u.coin", i);
		expect_mode(path_in(dir, name), 0600);
		snprintf(name, sizeof(name), "replica-%u.enc", i);
		expect_mode(path_in(dir, name), 0600);
	}
	expect_mode(path_in(dir, "client-0.key"), 0600);
	expect_mode(path_in(dir, "client-1.key"), 0600);
	assert_int_equal(access(path_in(dir, "client-2.key"), F_OK), -1);
	assert_int_equal(access(path_in(dir, "replica-4.key"), F_OK), -1);

	/* Nothing of any secret key appears in what the program printed. */
	{
		static const char *const secrets[] = { "replica-0.key", "replica-3.coin",
						       "replica-2.enc", "client-1.key" };

		for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
			char *key, hex[17];

			slurp(path_in(dir, secrets[i]), text, sizeof(text));
			key = strstr(text, "\nkey: ");
			assert_non_null(key);
			memcpy(hex, key + 6, 16);
			hex[16] = '\0';
			assert_null(strstr(r.out, hex));
		}
	}

	if (node_config_load(&c, path_in(dir, "cluster.ini"), err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.f, 1);
	assert_int_equal(c.protocol, NODE_PROTOCOL_HBBFT);
	assert_int_equal(c.nclients, 2);
	assert_int_equal(c.replicas[3].peer.port, 7109);
	assert_int_equal(c.replicas[3].client.port, 7110);
	assert_int_equal(c.replicas[3].status.port, 7111);
	if (node_config_load_replica_keys(&c, 3, &k, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	node_replica_keys_free(&k);
	node_config_free(&c);
}

static void test_bftkeygen_host_base_port_and_replicas(void **state)
{
	const char *dir = fresh_dir("host");
	struct result r;
	struct node_config c;
	char err[NODE_CONFIG_ERR_BYTES];

	(void)state;
	NEED_BIN();
	RUN(&r, "--replicas", "6", "--clients", "0", "--out", dir, "--host", "::1",
	    "--base-port", "9000");
	if (r.status != 0)
		fail_msg("exit %d: %s", r.status, r.out);
	if (node_config_load(&c, path_in(dir, "cluster.ini"), err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.n, 6);
	assert_int_equal(c.f, 1);
	assert_int_equal(c.protocol, NODE_PROTOCOL_PBFT);
	assert_int_equal(c.nclients, 0);
	assert_string_equal(c.replicas[5].peer.host, "::1");
	assert_int_equal(c.replicas[5].peer.port, 9015);
	assert_int_equal(c.replicas[5].status.port, 9017);
	node_config_free(&c);
}

static void test_bftkeygen_refuses_to_overwrite_without_force(void **state)
{
	const char *dir = fresh_dir("again");
	char before[2048], after[2048], want[512];
	struct result r;

	(void)state;
	NEED_BIN();
	RUN(&r, "--faults", "1", "--clients", "1", "--out", dir);
	assert_int_equal(r.status, 0);
	slurp(path_in(dir, "replica-0.key"), before, sizeof(before));

	RUN(&r, "--faults", "1", "--clients", "1", "--out", dir);
	assert_int_equal(r.status, 1);
	snprintf(want, sizeof(want), "bftkeygen: %s is not empty (it holds ", dir);
	assert_memory_equal(r.out, want, strlen(want));
	assert_non_null(strstr(r.out, "); refusing to overwrite key material there (--force "
				      "replaces the files a key generation writes)\n"));
	slurp(path_in(dir, "replica-0.key"), after, sizeof(after));
	assert_string_equal(before, after);

	RUN(&r, "--faults", "1", "--clients", "1", "--out", dir, "--force");
	assert_int_equal(r.status, 0);
	slurp(path_in(dir, "replica-0.key"), after, sizeof(after));
	assert_string_not_equal(before, after);
	expect_mode(path_in(dir, "replica-0.key"), 0600);
}

static void test_bftkeygen_refuses_5_replicas_for_2_faults(void **state)
{
	const char *dir = fresh_dir("small");
	struct result r;

	(void)state;
	NEED_BIN();
	RUN(&r, "--replicas", "5", "--faults", "2", "--clients", "1", "--out", dir);
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "bftkeygen: 5 replicas cannot tolerate 2 faults: Byzantine "
			    "agreement needs n >= 3f+1 = 7\nTry 'bftkeygen --help'.\n");
	assert_int_equal(access(dir, F_OK), -1); /* nothing written */

	RUN(&r, "--replicas", "3", "--clients", "1", "--out", dir);
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "bftkeygen: 3 replicas cannot tolerate any fault: Byzantine "
			    "agreement needs at least 4 replicas (n >= 3f+1 with f >= 1)\n"
			    "Try 'bftkeygen --help'.\n");
	assert_int_equal(access(dir, F_OK), -1);
}

static void test_bftkeygen_help_exits_0_and_mentions_every_flag(void **state)
{
	static const char *const flags[] = { "--faults", "--replicas", "--clients", "--out",
					     "--host", "--base-port", "--protocol", "--force",
					     "--help", "-f,", "-n,", "-c,", "-o,", "-h," };
	struct result r;

	(void)state;
	NEED_BIN();
	RUN(&r, "--help");
	assert_int_equal(r.status, 0);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (strstr(r.out, flags[i]) == NULL)
			fail_msg("--help does not mention %s", flags[i]);
	}
	assert_non_null(strstr(r.out, "Exit status: 0 success, 2 usage error, 1 failure."));
	RUN(&r, "-h");
	assert_int_equal(r.status, 0);
}

static void test_bftkeygen_usage_errors_exit_2(void **state)
{
	const char *dir = fresh_dir("usage");
	struct result r;

	(void)state;
	NEED_BIN();
	RUN(&r, "--frobnicate");
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "bftkeygen: unknown option '--frobnicate'\n"
			    "Try 'bftkeygen --help'.\n");
	RUN(&r, "-x");
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "bftkeygen: unknown option '-x'\nTry 'bftkeygen --help'.\n");
	RUN(&r, "--faults", "1", "--out", dir);
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "bftkeygen: give the number of clients (--clients C; 0 for "
			    "none)\nTry 'bftkeygen --help'.\n");
	RUN(&r, "--faults", "one", "--clients", "1", "--out", dir);
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "bftkeygen: --faults takes a number, not 'one'\n"
			    "Try 'bftkeygen --help'.\n");
	RUN(&r, "--faults", "1", "--clients", "1", "--out", dir, "--protocol", "raft");
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "bftkeygen: --protocol is pbft or hbbft, not 'raft'\n"
			    "Try 'bftkeygen --help'.\n");
	RUN(&r, "--faults", "1", "--clients", "1", "--out", dir, "extra");
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "bftkeygen: unexpected argument 'extra'\n"
			    "Try 'bftkeygen --help'.\n");
	RUN(&r, "--clients", "1", "--out", dir, "--faults");
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "bftkeygen: missing the value of '--faults'\n"
			    "Try 'bftkeygen --help'.\n");
	RUN(&r, "--faults", "1", "--clients", "1");
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "bftkeygen: give the output directory (--out DIR)\n"
			    "Try 'bftkeygen --help'.\n");
	RUN(&r, "--faults", "1", "--clients", "1", "--out", dir, "--base-port", "65530");
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "bftkeygen: base port 65530 does not work for 4 replicas: they "
			    "use ports 65530..65541 (3 each), which must lie in 1..65535\n"
			    "Try 'bftkeygen --help'.\n");
	assert_int_equal(access(dir, F_OK), -1);
}

static void test_bftkeygen_failure_exits_1(void **state)
{
	const char *dir = fresh_dir("notadir");
	struct result r;
	char want[512];
	FILE *f;

	(void)state;
	NEED_BIN();
	f = fopen(dir, "w");
	assert_non_null(f);
	fclose(f);
	RUN(&r, "--faults", "1", "--clients", "1", "--out", dir);
	assert_int_equal(r.status, 1);
	snprintf(want, sizeof(want), "bftkeygen: %s: exists and is not a directory\n", dir);
	assert_string_equal(r.out, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bftkeygen_writes_secret_files_0600_and_a_loadable_config),
		cmocka_unit_test(test_bftkeygen_host_base_port_and_replicas),
		cmocka_unit_test(test_bftkeygen_refuses_to_overwrite_without_force),
		cmocka_unit_test(test_bftkeygen_refuses_5_replicas_for_2_faults),
		cmocka_unit_test(test_bftkeygen_help_exits_0_and_mentions_every_flag),
		cmocka_unit_test(test_bftkeygen_usage_errors_exit_2),
		cmocka_unit_test(test_bftkeygen_failure_exits_1),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
