/*
 * Twins (Bano, Sonnino, Chursin, Perelman, Li, Ching, Malkhi: "Twins: BFT Systems Made
 * Robust", OPODIS 2021) for PBFT with n = 4: one replica's key runs in two instances, each
 * with correct code, placed in different partitions of the network; from the outside they are
 * one Byzantine replica that equivocates in every way correct code can (two primaries of one
 * view proposing different batches, two sets of votes, two VIEW-CHANGEs, two NEW-VIEWs ...).
 *
 * The scenarios are enumerated, not sampled: the five instances (replicas 0..3 and the twin,
 * instance 4) are split into 2 or 3 groups with the twins apart (27 ways), twice in a row
 * (phase 0 from 0 ms, phase 1 from PHASE_MS), then everything is connected (phase 2), and the
 * twinned replica is the primary of view 0 or of view 1 (the "leader choice": views change
 * in every phase where the primary's group has no quorum). 2 x 27 x 27 = 1458 scenarios, each
 * a seeded run whose seed is its number. Safety must hold in every one: agreement among the
 * honest replicas (no two commit different batches at one sequence number, nor execute
 * different ops at one position), validity, exactly-once and the clients' results, checked
 * after every step (sim_check). Liveness is not required with twins.
 *
 *   build/tests/sim/test_sim_twins            all scenarios
 *   SEED=k build/tests/sim/test_sim_twins     scenario k alone, with its report
 *   SIM_JOBS=k                                worker processes (default: 2)
 *   SIM_FULL=1                                all scenarios under a sanitizer too
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "bft/pbft.h"
#include "bft/sim/sim.h"

/* Sanitized builds (make asan) run about five times slower: they run every fifth scenario,
 * unless SIM_FULL=1. */
#if defined(__SANITIZE_ADDRESS__)
#define SIM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIM_SANITIZED 1
#endif
#endif
#ifndef SIM_SANITIZED
#define SIM_SANITIZED 0
#endif

#define N 4u
#define NINST (N + 1u)
#define PHASE_MS 700u
#define MAX_JOBS 16
#define MAX_PARTS 64u
#define MAX_REPORTED 3

/* Every split of the NINST instances into 2 or 3 non-empty groups with instances a and b in
 * different groups, as restricted growth strings (group of instance 0 is 0, each next instance
 * joins an existing group or opens the next one), so that no split is listed twice. */
static uint32_t enumerate_splits(uint32_t a, uint32_t b, uint8_t out[MAX_PARTS][NINST])
{
	uint32_t count = 0;
	uint8_t g[NINST];

	for (uint32_t code = 0; code < 243u; code++) { /* 3^5 labelings */
		uint32_t x = code, groups = 0;
		bool ok = true;

		for (uint32_t i = 0; i < NINST; i++) {
			g[i] = (uint8_t)(x % 3);
			x /= 3;
			if (g[i] > groups) /* a label may only open the next group */
				ok = false;
			else if (g[i] == groups)
				groups++;
		}
		if (!ok || groups < 2 || g[a] == g[b])
			continue;
		BFT_ASSERT(count < MAX_PARTS);
		memcpy(out[count++], g, NINST);
	}
	return count;
}

struct scenario_set {
	uint8_t splits[2][MAX_PARTS][NINST]; /* per twin choice */
	uint32_t nsplits[2];
	uint64_t total;
};

static const uint32_t twin_choices[2] = {0, 1}; /* the primaries of views 0 and 1 */

static void scenarios_init(struct scenario_set *set)
{
	set->total = 0;
	for (uint32_t k = 0; k < 2; k++) {
		set->nsplits[k] = enumerate_splits(twin_choices[k], N, set->splits[k]);
		set->total += (uint64_t)set->nsplits[k] * set->nsplits[k];
	}
}

/* Scenario number idx -> its configuration. */
static void scenario_config(const struct scenario_set *set, uint64_t idx, struct sim_config *c)
{
	uint32_t k = idx < (uint64_t)set->nsplits[0] * set->nsplits[0] ? 0 : 1;
	uint64_t r = k == 0 ? idx : idx - (uint64_t)set->nsplits[0] * set->nsplits[0];
	uint32_t p0 = (uint32_t)(r / set->nsplits[k]), p1 = (uint32_t)(r % set->nsplits[k]);

	sim_config_default(c, &sim_engine_pbft, N);
	c->seed = idx;
	c->shared_keys = true;
	c->nclients = 2;
	c->requests_per_client = 3;
	c->think_max_ms = 400; /* the requests span all three phases */
	c->readonly_rate = 0;
	c->checkpoint_interval = 2;
	c->window = 8;
	c->ntwins = 1;
	c->twin_of[0] = twin_choices[k];
	c->nphases = 3;
	c->phases[0].start_ms = 0;
	memcpy(c->phases[0].group, set->splits[k][p0], NINST);
	c->phases[1].start_ms = PHASE_MS;
	memcpy(c->phases[1].group, set->splits[k][p1], NINST);
	c->phases[2].start_ms = 2 * PHASE_MS; /* all in group 0: everyone connected */
	c->safety_only = true;
	c->time_limit_ms = 3 * PHASE_MS + 600;
	if (getenv("SIM_TRACE") != NULL && *getenv("SIM_TRACE") != '\0')
		c->trace_out = stdout;
}

struct totals {
	uint64_t runs, failures, first_failures[MAX_REPORTED];
	uint64_t live;          /* scenarios where every request still completed */
	uint64_t both_twins;    /* scenarios where both twins executed batches */
	uint64_t events, view_changes, max_view;
};

static void run_one(const struct scenario_set *set, uint64_t idx, bool verbose, struct totals *t)
{
	struct sim_config c;
	struct sim_stats st;
	struct sim *s;
	bool ok;

	scenario_config(set, idx, &c);
	assert_int_equal(sim_new(&s, &c), BFT_OK);
	ok = sim_run(s);
	if (!ok || verbose) {
		if (t->failures < MAX_REPORTED || verbose)
			sim_print_report(s, stdout);
		else
			printf("=== sim FAILURE: scenario %llu (report suppressed)\n",
			       (unsigned long long)idx);
	}
	sim_get_stats(s, &st);
	if (!ok) {
		if (t->failures < MAX_REPORTED)
			t->first_failures[t->failures] = idx;
		t->failures++;
	}
	t->runs++;
	t->events += st.events;
	t->view_changes += st.view_changes;
	if (st.max_view > t->max_view)
		t->max_view = st.max_view;
	if (st.completed == (uint64_t)c.nclients * c.requests_per_client)
		t->live++;
	{
		struct pbft_status a, b;

		pbft_status(sim_engine(s, c.twin_of[0]), &a);
		pbft_status(sim_engine(s, N), &b);
		if (a.last_executed > 0 && b.last_executed > 0)
			t->both_twins++;
	}
	fflush(stdout);
	sim_free(s);
}

static void totals_merge(struct totals *t, const struct totals *w)
{
	for (uint64_t i = 0; i < w->failures && t->failures + i < MAX_REPORTED; i++)
		t->first_failures[t->failures + i] = w->first_failures[i];
	t->runs += w->runs;
	t->failures += w->failures;
	t->live += w->live;
	t->both_twins += w->both_twins;
	t->events += w->events;
	t->view_changes += w->view_changes;
	if (w->max_view > t->max_view)
		t->max_view = w->max_view;
}

/* Runs scenarios lo..hi split over SIM_JOBS worker processes (fork), like test_sim_pbft. */
static void run_all(const struct scenario_set *set, uint64_t lo, uint64_t hi, uint64_t stride,
		    bool verbose, struct totals *t)
{
	long jobs = 2;
	const char *ev = getenv("SIM_JOBS");
	pid_t pids[MAX_JOBS];
	int fds[MAX_JOBS];

	memset(t, 0, sizeof(*t));
	if (ev != NULL && *ev != '\0')
		jobs = strtol(ev, NULL, 10);
	if (jobs < 1)
		jobs = 1;
	if (jobs > MAX_JOBS)
		jobs = MAX_JOBS;
	if ((uint64_t)jobs > hi - lo + 1)
		jobs = (long)(hi - lo + 1);
	if (jobs == 1) {
		for (uint64_t i = lo; i <= hi; i += stride)
			run_one(set, i, verbose, t);
		return;
	}
	fflush(stdout);
	for (long j = 0; j < jobs; j++) {
		int p[2];

		assert_int_equal(pipe(p), 0);
		pids[j] = fork();
		assert_true(pids[j] >= 0);
		if (pids[j] == 0) {
			struct totals w;
			ssize_t wr;

			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(1);
			close(p[0]);
			memset(&w, 0, sizeof(w));
			for (uint64_t i = lo + (uint64_t)j * stride; i <= hi;
			     i += (uint64_t)jobs * stride)
				run_one(set, i, verbose, &w);
			wr = write(p[1], &w, sizeof(w));
			_exit(wr == (ssize_t)sizeof(w) ? 0 : 1);
		}
		close(p[1]);
		fds[j] = p[0];
	}
	for (long j = 0; j < jobs; j++) {
		struct totals w;
		int status = 0;
		ssize_t rd = read(fds[j], &w, sizeof(w));

		close(fds[j]);
		assert_int_equal(waitpid(pids[j], &status, 0), pids[j]);
		if (rd != (ssize_t)sizeof(w) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			printf("=== sim FAILURE: twins worker %ld died; rerun with SIM_JOBS=1\n", j);
			memset(&w, 0, sizeof(w));
			w.runs = w.failures = (hi - lo) / ((uint64_t)jobs * stride) + 1;
		}
		totals_merge(t, &w);
	}
}

static double wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_sim_pbft_twins_n4_every_scenario_is_safe(void **state)
{
	struct scenario_set set;
	struct totals t;
	uint64_t lo = 0, hi, stride = 1;
	const char *one = getenv("SEED"), *full = getenv("SIM_FULL");
	double t0 = wall_seconds();

	(void)state;
	scenarios_init(&set);
	assert_int_equal(set.nsplits[0], 27); /* 8 two-group + 19 three-group splits */
	assert_int_equal(set.nsplits[1], 27);
	hi = set.total - 1;
	if (one != NULL && *one != '\0') {
		lo = hi = strtoull(one, NULL, 0);
		assert_true(lo < set.total);
	}
	if (SIM_SANITIZED && lo != hi && (full == NULL || *full == '\0' || strcmp(full, "0") == 0))
		stride = 5;
	run_all(&set, lo, hi, stride, lo == hi, &t);
	printf("[ SIM      ] pbft twins n=4: %llu scenarios (%llu..%llu), %llu unsafe, %.1f s; "
	       "%llu events, %llu view changes, max view %llu; every request done in %llu, both "
	       "twins executed batches in %llu\n",
	       (unsigned long long)t.runs, (unsigned long long)lo, (unsigned long long)hi,
	       (unsigned long long)t.failures, wall_seconds() - t0, (unsigned long long)t.events,
	       (unsigned long long)t.view_changes, (unsigned long long)t.max_view,
	       (unsigned long long)t.live, (unsigned long long)t.both_twins);
	if (t.failures != 0) {
		printf("[ SIM      ] twins: unsafe scenarios:");
		for (uint64_t i = 0; i < t.failures && i < MAX_REPORTED; i++)
			printf(" %llu", (unsigned long long)t.first_failures[i]);
		printf(" (replay: SEED=<scenario> build/tests/sim/test_sim_twins)\n");
	}
	fflush(stdout);
	assert_int_equal(t.failures, 0);
	/* The family is not vacuous: the twins really both acted, and views really changed. */
	if (t.runs * stride >= set.total) {
		assert_true(t.both_twins > 0);
		assert_true(t.view_changes > 0);
	}
}

/* The harness can see what Twins is for: with two replicas twinned (f + 1 = 2 keys, more than
 * PBFT tolerates at n = 4), the split {0, 1, 2} | {0', 1', 3} gives each side a quorum of three
 * with a primary of view 0, and the honest replicas 2 and 3 end up committing different
 * batches at one sequence number. The checker must report it. */
static void test_sim_twins_harness_catches_two_twinned_replicas(void **state)
{
	static const uint8_t split[N + 2] = {0, 0, 0, 1, 1, 1}; /* 0 1 2 | 3 0' 1' */
	uint32_t caught = 0;

	(void)state;
	for (uint64_t seed = 1; seed <= 8; seed++) {
		struct sim_config c;
		struct sim *s;

		sim_config_default(&c, &sim_engine_pbft, N);
		c.seed = seed;
		c.shared_keys = true;
		c.nclients = 2;
		c.requests_per_client = 3;
		c.ntwins = 2;
		c.twin_of[0] = 0;
		c.twin_of[1] = 1;
		c.nphases = 1;
		memcpy(c.phases[0].group, split, sizeof(split));
		c.safety_only = true;
		c.time_limit_ms = 1500;
		assert_int_equal(sim_new(&s, &c), BFT_OK);
		if (!sim_run(s) && strstr(sim_violation(s), "agreement") != NULL)
			caught++;
		sim_free(s);
	}
	printf("[ SIM      ] twins with f+1 twinned replicas: agreement broken in %u of 8 runs\n",
	       caught);
	assert_true(caught > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_twins_harness_catches_two_twinned_replicas),
		cmocka_unit_test(test_sim_pbft_twins_n4_every_scenario_is_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
