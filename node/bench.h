/*
 * bench: the load generator behind `bftctl bench`.
 *
 * C client sessions (node/ctl.h: each signs its requests with its own key and accepts a result
 * only from f+1 matching signed replies, 2f+1 for reads — exactly as a real client) run in ONE
 * thread and one poll() loop over all their connections. Two ways to offer load:
 *
 *   closed loop (rate == 0): every client keeps `depth` requests in flight and sends the next as
 *     soon as one completes. Latency is measured from the moment a request is sent.
 *   open loop (rate > 0): requests are due at fixed times start + k/rate, whatever the cluster
 *     does. A due request goes to any client with a free window slot; when none has one, it
 *     waits, and its latency still counts from the time it was due, so queueing in the client is
 *     not hidden (the "coordinated omission" HdrHistogram's author warns about).
 *
 * Only requests that complete inside the measurement window (after the warm-up, for `duration`)
 * count; their latencies go to a log-bucketed histogram (node/hist.h). A request not answered
 * within timeout_ms is an error of kind "timeout" (its late answer, if any, is then ignored).
 * A progress line goes to stderr once a second.
 *
 * The per-client window: the replicas keep results for the last 32 request ids of each client
 * (BFT_LOG_CLIENT_WINDOW), and the client core never runs further ahead, so depth is at most 32.
 */
#ifndef NODE_BENCH_H
#define NODE_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bft/bft.h"
#include "node/hist.h"

enum bench_op { BENCH_PUT = 0, BENCH_GET, BENCH_CAS, BENCH_OPS };

enum bench_err_kind {
	BENCH_ERR_TIMEOUT = 0,  /* no f+1 (2f+1) matching replies within timeout_ms */
	BENCH_ERR_SUBMIT,       /* the client core refused to send (encoding, memory) */
	BENCH_ERR_REFUSED,      /* the store answered with an error status (full, too big, ...) */
	BENCH_ERR_MALFORMED,    /* the vouched-for result does not decode */
	BENCH_ERR_KINDS
};

#define BENCH_DEPTH_MAX 32u
#define BENCH_CLIENTS_MAX 1024u

struct bench_opts {
	const char *config;           /* cluster file */
	bft_client_id first_client;   /* clients first_client .. first_client + clients - 1 */
	uint32_t clients;             /* sessions, 1..BENCH_CLIENTS_MAX */
	uint32_t depth;               /* requests in flight per client, 1..BENCH_DEPTH_MAX */
	double rate;                  /* open loop: requests per second over all clients; 0: closed */
	uint32_t mix[BENCH_OPS];      /* relative weights of put, get, cas (not all 0) */
	uint32_t value_size;          /* bytes of each value written */
	uint32_t keys;                /* keys drawn uniformly from key_prefix0 .. key_prefix<keys-1> */
	const char *key_prefix;       /* NULL: "bench/" */
	double duration_s, warmup_s;
	uint32_t timeout_ms;          /* per request */
	uint32_t retransmit_ms;       /* the client core's first retransmission (0: 1000) */
	uint32_t replicas;            /* 0: the whole cluster; 1: the bftnode --solo baseline */
	uint64_t seed;
	bool progress;                /* a line per second on stderr */
	bool mac;                     /* MAC-authenticated client sessions (bftctl --mac) */
	bool no_session;              /* every reply signed (bftctl --no-session, ctl.h) */
};

/** Defaults: 1 client, depth 1, closed loop, put only, 64-byte values, 10000 keys, 10 s after a
 *  2 s warm-up, 10 s timeout, seed 1, progress on. config must still be set. */
void bench_opts_default(struct bench_opts *o);

/** Parses "put", "get", "cas" or "mix:put=50,get=50[,cas=N]" into o->mix. 0, or -1 with a
 *  reason in err. */
int bench_parse_op(struct bench_opts *o, const char *spec, char *err, size_t errlen);

struct bench_report {
	uint32_t n, f;                /* the cluster as the clients saw it */
	char protocol[16];
	double measured_s;            /* length of the measurement window */
	uint64_t completed;           /* requests completed inside it */
	uint64_t by_op[BENCH_OPS];
	double ops_per_s;
	struct lat_hist *lat;         /* microseconds, owned (bench_report_free) */
	uint64_t errors[BENCH_ERR_KINDS];
	uint64_t not_found;           /* gets of keys never written (not errors) */
	uint64_t cas_failed;          /* compare-and-swaps that lost a race (not errors) */
	uint64_t in_flight_end;       /* sent but not answered when the window closed */
	uint64_t backlog_end;         /* open loop: due but not yet sent at the end */
	uint64_t retransmissions, readonly_fallbacks;
	uint64_t bad_replies;         /* bad signature, wrong sender, malformed: evidence of faults */
	uint64_t mismatched_replies;  /* a reply that lost to the f+1 (2f+1) that agreed: routine
	                               * for reads racing writes, evidence of a liar otherwise */
	double client_cpu_s;          /* CPU time of this process during the window */
};

/** Runs the benchmark. 0 with *rep filled (free with bench_report_free), or -1 with a reason. */
int bench_run(const struct bench_opts *o, struct bench_report *rep, char *err, size_t errlen);
void bench_report_free(struct bench_report *rep);

/** Prints the report: a human-readable block, or one JSON object on one line. */
void bench_report_print(FILE *f, const struct bench_opts *o, const struct bench_report *rep,
			bool json);

/** A name for an error kind ("timeout", ...). */
const char *bench_err_name(enum bench_err_kind k);

#endif
