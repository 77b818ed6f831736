/*
 * sim_check: the invariants a BFT state machine replication must keep, checked against what
 * the engines and the toy application report (DESIGN.md "Testing layers", 2):
 *   agreement    no two correct replicas commit different batch digests at one sequence
 *                number, nor execute different ops at one position of the state;
 *   validity     every op a correct replica executes was submitted by the client that signed
 *                it, as that client submitted it;
 *   exactly-once no correct replica executes one (client, op) twice, and every correct
 *                replica that executes it does so at the same position;
 *   results      a client accepts only the result the application gave at that position;
 *   liveness     (at the end) every submitted op completed.
 * Byzantine replicas are outside all of these: they may do anything.
 */
#include "bft/sim/sim.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct exec_log {
	uint64_t *clients;
	uint32_t *counters;
	size_t n, cap;
};

struct commit_slot {
	bool set;
	uint32_t replica;
	uint8_t digest[CR_DIGEST_BYTES];
};

struct pos_slot {
	bool set;
	uint32_t replica;
	uint64_t client;
	uint32_t counter;
};

struct sim_check {
	uint32_t n, nclients, ops;
	bool *faulty;
	uint8_t *kind;          /* per (client, counter): 0 not submitted, 1 + kind otherwise */
	uint64_t *exec_pos;     /* per (client, counter): position it executed at, 0 not yet */
	uint32_t *exec_by;      /* ... and the first correct replica that did */
	uint8_t *completed;     /* per (client, counter) */
	uint64_t ncompleted, nsubmitted;
	struct commit_slot *commits;
	size_t commits_cap;
	struct pos_slot *pos;
	size_t pos_cap;
	uint64_t max_position;  /* the furthest any correct replica's state got */
	struct exec_log *logs;  /* per replica */
	bool failed;
	char violation[768];
};

static size_t op_index(const struct sim_check *ck, uint64_t client, uint32_t counter)
{
	return (size_t)client * (ck->ops + 1u) + counter;
}

/** See sim.h. */
struct sim_check *sim_check_new(uint32_t n, uint32_t nclients, uint32_t ops_per_client)
{
	struct sim_check *ck = calloc(1, sizeof(*ck));
	size_t nops = (size_t)nclients * (ops_per_client + 1u);

	if (ck == NULL)
		return NULL;
	ck->n = n;
	ck->nclients = nclients;
	ck->ops = ops_per_client;
	ck->faulty = calloc(n, sizeof(*ck->faulty));
	ck->kind = calloc(nops, sizeof(*ck->kind));
	ck->exec_pos = calloc(nops, sizeof(*ck->exec_pos));
	ck->exec_by = calloc(nops, sizeof(*ck->exec_by));
	ck->completed = calloc(nops, sizeof(*ck->completed));
	ck->logs = calloc(n, sizeof(*ck->logs));
	if (ck->faulty == NULL || ck->kind == NULL || ck->exec_pos == NULL || ck->exec_by == NULL ||
	    ck->completed == NULL || ck->logs == NULL) {
		sim_check_free(ck);
		return NULL;
	}
	return ck;
}

/** See sim.h. */
void sim_check_free(struct sim_check *ck)
{
	if (ck == NULL)
		return;
	if (ck->logs != NULL) {
		for (uint32_t r = 0; r < ck->n; r++) {
			free(ck->logs[r].clients);
			free(ck->logs[r].counters);
		}
	}
	free(ck->logs);
	free(ck->faulty);
	free(ck->kind);
	free(ck->exec_pos);
	free(ck->exec_by);
	free(ck->completed);
	free(ck->commits);
	free(ck->pos);
	free(ck);
}

/** See sim.h. */
bool sim_check_fail(struct sim_check *ck, const char *fmt, ...)
{
	va_list ap;

	/* The first violation is the one that matters: later ones are usually its echoes. */
	if (ck->failed)
		return false;
	ck->failed = true;
	va_start(ap, fmt);
	vsnprintf(ck->violation, sizeof(ck->violation), fmt, ap);
	va_end(ap);
	return false;
}

/** See sim.h. */
const char *sim_check_violation(const struct sim_check *ck)
{
	return ck->failed ? ck->violation : NULL;
}

/** See sim.h. */
void sim_check_set_faulty(struct sim_check *ck, uint32_t r)
{
	if (r < ck->n)
		ck->faulty[r] = true;
}

/** See sim.h. */
void sim_check_submitted(struct sim_check *ck, uint32_t client, uint32_t counter, uint8_t kind)
{
	if (client >= ck->nclients || counter == 0 || counter > ck->ops) {
		sim_check_fail(ck, "sim: client %u submitted op %u outside the plan", client,
			       counter);
		return;
	}
	ck->kind[op_index(ck, client, counter)] = (uint8_t)(kind + 1u);
	ck->nsubmitted++;
}

/* Grows a zero-filled table so that index i exists; false when memory ran out. */
static bool table_reserve(void **v, size_t *cap, size_t i, size_t elem)
{
	size_t ncap = *cap == 0 ? 256 : *cap;
	void *p;

	if (i < *cap)
		return true;
	while (ncap <= i) {
		if (ncap > SIZE_MAX / 2 / elem)
			return false;
		ncap *= 2;
	}
	p = realloc(*v, ncap * elem);
	if (p == NULL)
		return false;
	memset((uint8_t *)p + *cap * elem, 0, (ncap - *cap) * elem);
	*v = p;
	*cap = ncap;
	return true;
}

static void hex8(char out[17], const uint8_t *d)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 8; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[16] = '\0';
}

/** See sim.h. */
bool sim_check_commit(struct sim_check *ck, uint32_t r, bft_seq seq,
		      const uint8_t digest[CR_DIGEST_BYTES])
{
	struct commit_slot *c;
	char a[17], b[17];

	if (r >= ck->n || ck->faulty[r])
		return true;
	/* A correct replica's sequence numbers are bounded by what the run can order; one in the
	 * billions is itself a bug, and must not make the checker allocate gigabytes. */
	if (seq > (1u << 26))
		return sim_check_fail(ck, "agreement: replica %u committed absurd seq %llu", r,
				      (unsigned long long)seq);
	if (!table_reserve((void **)&ck->commits, &ck->commits_cap, (size_t)seq,
			   sizeof(*ck->commits)))
		return sim_check_fail(ck, "sim: out of memory in the checker");
	c = &ck->commits[seq];
	if (!c->set) {
		c->set = true;
		c->replica = r;
		memcpy(c->digest, digest, CR_DIGEST_BYTES);
		return true;
	}
	if (memcmp(c->digest, digest, CR_DIGEST_BYTES) == 0)
		return true;
	hex8(a, c->digest);
	hex8(b, digest);
	return sim_check_fail(ck, "agreement: seq %llu committed with digest %s.. by replica %u "
			      "and %s.. by replica %u", (unsigned long long)seq, a, c->replica, b, r);
}

static void log_append(struct exec_log *l, uint64_t client, uint32_t counter)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap == 0 ? 128 : l->cap * 2;
		uint64_t *c = realloc(l->clients, ncap * sizeof(*c));
		uint32_t *k;

		if (c == NULL)
			return;
		l->clients = c;
		k = realloc(l->counters, ncap * sizeof(*k));
		if (k == NULL)
			return;
		l->counters = k;
		l->cap = ncap;
	}
	l->clients[l->n] = client;
	l->counters[l->n] = counter;
	l->n++;
}

/** See sim.h. */
bool sim_check_execute(struct sim_check *ck, uint32_t r, bft_client_id client,
		       const uint8_t *op, size_t op_len, uint64_t position, bool again)
{
	uint64_t oc;
	uint32_t counter;
	uint8_t kind;
	size_t idx;
	struct pos_slot *p;

	if (r >= ck->n || ck->faulty[r])
		return true;
	if (sim_op_decode(op, op_len, &oc, &counter, &kind) != 0)
		return sim_check_fail(ck, "validity: replica %u executed %zu bytes that are not "
				      "an op any client submitted", r, op_len);
	if (oc != client)
		return sim_check_fail(ck, "validity: replica %u executed client %llu's op %u as "
				      "if signed by client %llu", r, (unsigned long long)oc, counter,
				      (unsigned long long)client);
	if (oc >= ck->nclients || counter == 0 || counter > ck->ops ||
	    ck->kind[op_index(ck, oc, counter)] == 0)
		return sim_check_fail(ck, "validity: replica %u executed op %u of client %llu, "
				      "which was never submitted", r, counter,
				      (unsigned long long)oc);
	idx = op_index(ck, oc, counter);
	if (ck->kind[idx] != kind + 1u)
		return sim_check_fail(ck, "validity: replica %u executed op %u of client %llu "
				      "with a kind the client did not submit", r, counter,
				      (unsigned long long)oc);
	log_append(&ck->logs[r], oc, counter);
	/* Reads change no state: they have no position of their own and may run more than once
	 * (a read-only query that fell back to an ordered request). */
	if (kind == 1)
		return true;
	if (again)
		return sim_check_fail(ck, "exactly-once: replica %u executed op %u of client %llu "
				      "a second time (at position %llu)", r, counter,
				      (unsigned long long)oc, (unsigned long long)position);

	/* The state's position is a second, independent view of the order: if two correct
	 * replicas reached position p by executing different ops, they disagree even if no
	 * committed digest shows it (state transfer, execution bugs). */
	if (position == 0 || position > (1u << 26))
		return sim_check_fail(ck, "agreement: replica %u reports position %llu", r,
				      (unsigned long long)position);
	if (!table_reserve((void **)&ck->pos, &ck->pos_cap, (size_t)position, sizeof(*ck->pos)))
		return sim_check_fail(ck, "sim: out of memory in the checker");
	p = &ck->pos[position];
	if (!p->set) {
		p->set = true;
		p->replica = r;
		p->client = oc;
		p->counter = counter;
	} else if (p->client != oc || p->counter != counter) {
		return sim_check_fail(ck, "agreement: position %llu holds op %u of client %llu at "
				      "replica %u but op %u of client %llu at replica %u",
				      (unsigned long long)position, p->counter,
				      (unsigned long long)p->client, p->replica, counter,
				      (unsigned long long)oc, r);
	}
	if (position > ck->max_position)
		ck->max_position = position;
	if (ck->exec_pos[idx] == 0) {
		ck->exec_pos[idx] = position;
		ck->exec_by[idx] = r;
	} else if (ck->exec_pos[idx] != position) {
		return sim_check_fail(ck, "exactly-once: op %u of client %llu executed at position "
				      "%llu by replica %u and at %llu by replica %u", counter,
				      (unsigned long long)oc, (unsigned long long)ck->exec_pos[idx],
				      ck->exec_by[idx], (unsigned long long)position, r);
	}
	return true;
}

/** See sim.h. */
bool sim_check_result(struct sim_check *ck, uint32_t client, uint32_t counter,
		      const uint8_t *result, size_t len)
{
	uint64_t rc, position;
	uint32_t rk;
	uint8_t how;
	size_t idx;

	if (client >= ck->nclients || counter == 0 || counter > ck->ops)
		return sim_check_fail(ck, "sim: result for op %u of client %u outside the plan",
				      counter, client);
	idx = op_index(ck, client, counter);
	if (sim_result_decode(result, len, &rc, &rk, &how, &position) != 0)
		return sim_check_fail(ck, "result: client %u accepted %zu bytes for op %u that are "
				      "not a result", client, len, counter);
	if (rc != client || rk != counter)
		return sim_check_fail(ck, "result: client %u accepted for op %u the result of op "
				      "%u of client %llu", client, counter, rk,
				      (unsigned long long)rc);
	if (ck->completed[idx])
		return sim_check_fail(ck, "result: client %u completed op %u twice", client,
				      counter);
	if (how == 0 && ck->kind[idx] == 1) {
		if (ck->exec_pos[idx] == 0)
			return sim_check_fail(ck, "result: client %u accepted position %llu for op "
					      "%u, which no correct replica executed", client,
					      (unsigned long long)position, counter);
		if (ck->exec_pos[idx] != position)
			return sim_check_fail(ck, "result: client %u accepted position %llu for op "
					      "%u, which correct replicas executed at %llu", client,
					      (unsigned long long)position, counter,
					      (unsigned long long)ck->exec_pos[idx]);
	} else {
		/* A read's answer reflects some state a quorum held: it cannot be ahead of every
		 * correct replica. Only a read may be answered without ordering. */
		if (how == 1 && ck->kind[idx] != 2)
			return sim_check_fail(ck, "result: client %u's write op %u was answered by a "
					      "query", client, counter);
		if (position > ck->max_position)
			return sim_check_fail(ck, "result: client %u's read %u saw position %llu, "
					      "beyond every correct replica (%llu)", client, counter,
					      (unsigned long long)position,
					      (unsigned long long)ck->max_position);
	}
	ck->completed[idx] = 1;
	ck->ncompleted++;
	return true;
}

/** See sim.h. */
bool sim_check_all_completed(struct sim_check *ck)
{
	for (uint32_t c = 0; c < ck->nclients; c++) {
		for (uint32_t k = 1; k <= ck->ops; k++) {
			size_t idx = op_index(ck, c, k);

			if (!ck->completed[idx])
				return sim_check_fail(ck, "liveness: op %u of client %u %s (%llu of "
						      "%llu ops completed)", k, c,
						      ck->kind[idx] == 0 ? "was never submitted" :
						      "never completed",
						      (unsigned long long)ck->ncompleted,
						      (unsigned long long)ck->nclients * ck->ops);
		}
	}
	return true;
}

/** See sim.h. */
size_t sim_check_executed(const struct sim_check *ck, uint32_t r, const uint64_t **clients,
			  const uint32_t **counters)
{
	if (r >= ck->n) {
		*clients = NULL;
		*counters = NULL;
		return 0;
	}
	*clients = ck->logs[r].clients;
	*counters = ck->logs[r].counters;
	return ck->logs[r].n;
}
