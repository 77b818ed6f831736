/*
 * sim: the deterministic simulator (DESIGN.md "Testing layers", 2).
 *
 * n replica engines and a few clients run in one process over a virtual network with a virtual
 * clock (milliseconds). Every choice the scheduler makes — latencies, drops, duplicates, the
 * partition, client think times, identities — comes from one 64-bit seed through sim_rng, and
 * events are ordered by (delivery time, insertion counter), so a seed replays bit for bit.
 *
 * Each delivery does what a node does: wire_decode with the limits, wire_verify under the
 * sender's key (a client's key for REQUEST), then the engine's step (replicas) or
 * bft_client_on_frame (clients). After every step the invariant checker (sim_check) looks at
 * what the step produced: agreement on committed digests, validity and exactly-once of what
 * the toy application executed, and the results clients accepted. At the end, liveness: every
 * request completed within the time bound once the network healed.
 *
 * This is a test harness (it goes into libsim): it may print, but it never reads the clock and
 * never uses randomness that did not come from the seed.
 */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stdio.h>

#include "bft/byz.h"
#include "bft/client.h"
#include "bft/engine.h"

#define SIM_MAX_REPLICAS 32u /* partition_mask is a 32-bit set of replicas */
#define SIM_MAX_CLIENTS  64u
#define SIM_MAX_TWINS    4u  /* second instances of a replica's key (Twins) */
#define SIM_MAX_PHASES   8u  /* phases of a partition schedule */

/* ------------------------------------------------------------------------------------------ */
/* The PRNG: splitmix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
 * OOPSLA 2014). Tiny, full period 2^64, and good enough to drive a scheduler. */

struct sim_rng {
	uint64_t s;
};

/** Starts a generator at seed (any value, including 0). */
void sim_rng_seed(struct sim_rng *r, uint64_t seed);
/** The next 64 random bits. */
uint64_t sim_rng_next(struct sim_rng *r);
/** Uniform in [0, bound) without modulo bias; bound must be > 0. */
uint64_t sim_rng_below(struct sim_rng *r, uint64_t bound);
/** Uniform in [lo, hi] (lo <= hi). */
uint64_t sim_rng_range(struct sim_rng *r, uint64_t lo, uint64_t hi);
/** True with probability p (p <= 0 never, p >= 1 always). */
bool sim_rng_chance(struct sim_rng *r, double p);
/** A derived seed: mixes a stream name and index into seed, for independent sub-streams. */
uint64_t sim_seed_derive(uint64_t seed, uint64_t stream, uint64_t index);

/* ------------------------------------------------------------------------------------------ */
/* Engines: the vtable a protocol implements to run in the simulator. */

/** What one replica's engine is created with. Everything is borrowed from the sim and stays
 *  valid until the engine is freed. */
struct sim_node_config {
	uint32_t n;
	bft_replica_id self;
	const struct cr_identity *id;
	const uint8_t (*replica_pks)[CR_PK_BYTES];  /* n entries */
	const uint8_t (*client_pks)[CR_PK_BYTES];   /* limits.n_clients entries */
	struct wire_limits limits;
	struct bft_app app;
	const struct bft_byz *byz;                  /* NULL: a correct replica */
	uint32_t checkpoint_interval, window;       /* K, W */
	uint32_t batch_max_requests, batch_delay_ms;
	uint32_t view_timeout_ms;                   /* 0: the engine's default */
};

struct sim_engine_status {
	bft_view view;
	bool view_active;
	bft_seq last_executed, low, high;
	bft_seq next_seq;             /* the next sequence number a primary would assign */
	uint32_t pending;             /* requests queued, not yet ordered */
	uint64_t view_changes, state_transfers;
	bool behind;                  /* knows a stable checkpoint above what it executed (the
	                               * engine leaves it false when it has no such notion) */
};

struct sim_engine_ops {
	const char *name;
	enum bft_client_send client_send;  /* how clients address this protocol's replicas */
	bool ordered_reads_only;           /* it orders read-only requests too (client.h) */
	/** Creates replica cfg->self's engine into *engine. */
	enum bft_err (*create)(void **engine, const struct sim_node_config *cfg);
	/** One step, as <engine>_step (engine.h); the return value is counted, never fatal. */
	enum bft_err (*step)(void *engine, const struct bft_event *ev, struct bft_out *out);
	void (*status)(const void *engine, struct sim_engine_status *st);
	void (*free)(void *engine);
	/** The engine's shared log, for the node-layer work the simulator does itself (MAC
	 *  session keys, bft/log.h). NULL: the engine takes no sessions in the simulator. */
	struct bft_log *(*log)(void *engine);
};

/** PBFT (bft/pbft.h) as a simulator engine. */
extern const struct sim_engine_ops sim_engine_pbft;

/* ------------------------------------------------------------------------------------------ */
/* Configuration of one run. */

struct sim_config {
	uint64_t seed;
	const struct sim_engine_ops *engine;
	uint32_t n, nclients;

	/* Clients: each submits requests_per_client ops, keeping at most client_outstanding in
	 * flight, pausing a random 0..think_max_ms before each; a fraction readonly_rate of them
	 * are read-only (BFT_REQ_READONLY). */
	uint32_t requests_per_client;
	uint32_t client_outstanding;
	uint32_t think_max_ms;
	double readonly_rate;
	uint32_t client_retransmit_ms, client_retransmit_max_ms;

	/* Network. Latency is uniform in [latency_min_ms, latency_max_ms], independently per
	 * delivery, which is what reorders messages. Drops, duplicates and long delays happen
	 * until faults_until_ms; from then on the network is reliable (but still reorders). */
	uint32_t latency_min_ms, latency_max_ms;
	double drop_rate, dup_rate;
	double delay_rate;        /* this fraction of deliveries is held up to delay_max_ms more */
	uint32_t delay_max_ms;
	uint64_t faults_until_ms;
	/* Partition: the replicas in partition_mask (bit i = replica i) can neither send to nor
	 * receive from anyone outside the set (other replicas and clients) while
	 * partition_start_ms <= now < partition_end_ms; then it heals. 0 mask: none. */
	uint32_t partition_mask;
	uint64_t partition_start_ms, partition_end_ms;

	/* Byzantine replicas: byz[i].modes != 0 makes replica i faulty (passed to its engine, and
	 * excluded from the agreement, validity and exactly-once checks). */
	struct bft_byz byz[SIM_MAX_REPLICAS];

	/* Engine parameters (sim_node_config). */
	uint32_t checkpoint_interval, window, batch_max_requests, batch_delay_ms, view_timeout_ms;

	/* Bounds. Liveness fails if some request has not completed by time_limit_ms; a run that
	 * processes max_events events is stopped as a livelock. */
	uint64_t time_limit_ms;
	uint64_t max_events;

	FILE *trace_out;  /* non-NULL: print every trace entry there as it happens */

	/* Twins (Bano et al., "Twins: BFT Systems Made Robust", 2021): twin k is a second
	 * instance of replica twin_of[k], with the same key and correct code. A message addressed
	 * to that replica reaches every instance of it (partitions permitting); both instances'
	 * messages carry its id. The twinned replica counts as Byzantine for the checks. */
	uint32_t ntwins;
	uint32_t twin_of[SIM_MAX_TWINS];
	/* A partition schedule, used instead of partition_mask when nphases > 0: phase k is in
	 * force from phases[k].start_ms (increasing) until the next phase starts; while it is,
	 * two replica instances talk only if they are in the same group. Instances are numbered
	 * 0..n-1 (the replicas), then n..n+ntwins-1 (the twins). Clients reach every instance. */
	uint32_t nphases;
	struct sim_phase {
		uint64_t start_ms;
		uint8_t group[SIM_MAX_REPLICAS + SIM_MAX_TWINS];
	} phases[SIM_MAX_PHASES];
	/* Safety only: a run that reaches time_limit_ms (or runs out of events) with requests
	 * outstanding is not a failure; every other check still applies. */
	bool safety_only;
	/* After every request completed, every correct replica must have executed up to the
	 * highest stable checkpoint any correct replica holds within catch_up_ms more of virtual
	 * time; one that fell behind it gets there by state transfer. 0: unchecked. */
	uint64_t catch_up_ms;
	/* Keys derived from the replica or client number alone, made once per process and
	 * shared by every run (false: derived from the seed, made and freed per run). Saves the
	 * secure-memory system calls of n + nclients keys per run; the seed still drives every
	 * choice the scheduler makes. */
	bool shared_keys;
	/* MAC sessions (bft/client.h bft_client_session_start): clients 0..session_clients-1
	 * open a session before their first request, with keys drawn from the seed. The
	 * simulator stands in for the node layer: its "box" for replica i is 48 zero bytes and
	 * key i (sealed boxes are random, and the sim must replay bit for bit; cr_seal has its
	 * own unit tests), and a replica that gets a SESSION runs bft_log_session_check and
	 * bft_log_session_install as bftnode does. Of those, clients 0..mac_liar_clients-1 are
	 * faulty in Aardvark's "big MAC" way: every request they send has its authenticator
	 * corrupted for every replica but replica 0 (the view-0 primary), with a good signature. */
	uint32_t session_clients;
	uint32_t mac_liar_clients;
};

/**
 * Fills *c for engine and n replicas: 3 clients of 30 requests (one in flight each), 10%
 * read-only, latency 1..20 ms, no faults, K=8, W=32, batches of 8 / 2 ms, view timeout 300 ms,
 * client retransmission 200 ms (capped at 2 s), time limit 120 s, seed 0.
 */
void sim_config_default(struct sim_config *c, const struct sim_engine_ops *engine, uint32_t n);

/**
 * Draws a fault schedule from c->seed (and only from it): drop rate 0..10%, duplicate rate
 * 0..10%, long-delay rate 0..5% (up to 50..1000 ms extra), faults until 1..3 s, and a
 * partition of 1..n/2 replicas (any of them, the view-0 primary included) starting in the first
 * second and lasting 0.2..2 s. Byzantine settings are left alone.
 */
void sim_config_random_faults(struct sim_config *c);

/* ------------------------------------------------------------------------------------------ */
/* Running. */

struct sim_stats {
	uint64_t events, steps;
	uint64_t sent, delivered, dropped, duplicated, delayed, partitioned;
	uint64_t decode_failed, verify_failed, verify_cached, bad_destination;
	uint64_t engine_rejected[BFT_ERR_COUNT];   /* replica step results other than BFT_OK */
	uint64_t client_rejected[BFT_ERR_COUNT];   /* bft_client_on_frame results other than OK */
	uint64_t submitted, completed, readonly_completed, readonly_fallbacks, retransmissions;
	uint64_t records;                          /* persisted records (durable at once) */
	uint64_t records_not_kept;                 /* beyond 64 MiB per replica: not stored */
	bft_seq max_committed;                     /* highest seq committed by a correct replica */
	bft_view max_view;                         /* highest view of a correct replica at the end */
	uint64_t view_changes;                     /* summed over correct replicas */
	uint64_t end_ms;                           /* virtual time when the run stopped */
	uint64_t trace_hash;                       /* FNV-1a over every event: same seed, same hash */
	uint64_t verify_fast;                      /* signatures checked by re-signing (sim.c) */
	uint64_t state_transfers;                  /* summed over correct replicas */
	uint32_t fell_behind;                      /* correct replicas that were ever behind */
	uint32_t transferred;                      /* correct replicas with >= 1 state transfer */
	uint32_t behind_untransferred;             /* ... that fell behind, yet never transferred */
	uint64_t done_ms;                          /* when the last request completed (0: never) */
	uint64_t sessions_installed;               /* summed over replicas (bft/log.h) */
	uint64_t mac_ok, mac_bad, mac_fallback, replies_mac; /* summed over correct replicas */
	uint64_t client_replies_mac, client_bad_mac;         /* summed over clients */
};

struct sim;

/** Builds a run from *cfg (copied): identities, engines, clients. BFT_EINVAL for a bad config. */
enum bft_err sim_new(struct sim **out, const struct sim_config *cfg) BFT_WUR;
void sim_free(struct sim *s);

/** Runs until every request completed, an invariant broke, or a bound was hit. True when the
 *  run ended with every invariant holding and every request completed. */
bool sim_run(struct sim *s);

/** The first violated invariant ("agreement: ...", "liveness: ..."), or NULL. */
const char *sim_violation(const struct sim *s);
void sim_get_stats(const struct sim *s, struct sim_stats *st);
/** Prints the seed, the violation, the configuration, the stats and the last ~30 trace
 *  entries: everything needed to replay and start debugging. */
void sim_print_report(const struct sim *s, FILE *f);
/** Replica i's engine (for status and tests). */
void *sim_engine(const struct sim *s, uint32_t i);
/** The records replica i persisted so far, in order (a later restart test replays these);
 *  at most 64 MiB of them per replica (stats.records_not_kept counts the rest). */
const struct bft_record *sim_records(const struct sim *s, uint32_t i, size_t *n);

/**
 * One run of cfg: create, run, report. Prints the report to `report` when the run fails (and
 * always when verbose). Returns true on success; *st (optional) gets the stats.
 */
bool sim_run_one(const struct sim_config *cfg, struct sim_stats *st, FILE *report, bool verbose);

/* ------------------------------------------------------------------------------------------ */
/* The toy application: a deterministic state machine whose ops say who submitted them.
 *
 * An op is SIM_OP_BYTES: "so" | client (u64 LE) | counter (u32 LE) | kind (u8: 0 write, 1
 * read). The state is the number of ops executed (the position), a hash chain over them, and
 * per client the set of counters executed. Executing an op appends it to the chain; the result
 * is SIM_RESULT_BYTES: client | counter | how (0 executed, 1 queried) | position after it. */

#define SIM_OP_BYTES 15u
#define SIM_RESULT_BYTES 21u

void sim_op_encode(uint8_t out[SIM_OP_BYTES], uint64_t client, uint32_t counter, uint8_t kind);
/** 0 on success, -1 for bytes that are not an op. */
int sim_op_decode(const uint8_t *p, size_t len, uint64_t *client, uint32_t *counter,
		  uint8_t *kind);
/** 0 on success, -1 for bytes that are not a result. */
int sim_result_decode(const uint8_t *p, size_t len, uint64_t *client, uint32_t *counter,
		      uint8_t *how, uint64_t *position);

struct sim_check;
struct sim_app;

/** A toy app for `replica`, reporting what it executes to ck (which may be NULL). Counters
 *  1..ops_per_client of clients 0..nclients-1 are representable. */
struct sim_app *sim_app_new(struct sim_check *ck, uint32_t replica, uint32_t nclients,
			    uint32_t ops_per_client);
void sim_app_free(struct sim_app *a);
/** The struct bft_app callbacks for a. */
struct bft_app sim_app_callbacks(struct sim_app *a);
/** Ops executed so far (the position). */
uint64_t sim_app_position(const struct sim_app *a);

/* ------------------------------------------------------------------------------------------ */
/* The invariant checker, usable on its own (its own tests feed it violations on purpose).
 * Every sim_check_* that can find a violation returns false when it did; the first violation
 * is kept and reported by sim_check_violation(). */

/** A checker for n replicas and nclients clients of up to ops_per_client ops each. */
struct sim_check *sim_check_new(uint32_t n, uint32_t nclients, uint32_t ops_per_client);
void sim_check_free(struct sim_check *ck);
/** Replica r is Byzantine: what it commits and executes is not checked. */
void sim_check_set_faulty(struct sim_check *ck, uint32_t r);
/** Client c submitted op number counter (1, 2, ...) of the given kind. */
void sim_check_submitted(struct sim_check *ck, uint32_t client, uint32_t counter, uint8_t kind);

/** Agreement: correct replica r committed digest at seq. */
bool sim_check_commit(struct sim_check *ck, uint32_t r, bft_seq seq,
		      const uint8_t digest[CR_DIGEST_BYTES]);
/**
 * Validity, exactly-once and order: correct replica r executed op (as signed by `client`)
 * and its state now holds `position` ops; `again` says the app had executed it before.
 */
bool sim_check_execute(struct sim_check *ck, uint32_t r, bft_client_id client,
		       const uint8_t *op, size_t op_len, uint64_t position, bool again);
/** Client c accepted `result` for its op number counter: is it what the app gives? */
bool sim_check_result(struct sim_check *ck, uint32_t client, uint32_t counter,
		      const uint8_t *result, size_t len);
/** Liveness at the end: every submitted op completed, and nclients * ops_per_client were. */
bool sim_check_all_completed(struct sim_check *ck);
/** Records a violation found elsewhere (a bound hit). Always returns false. */
bool sim_check_fail(struct sim_check *ck, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *sim_check_violation(const struct sim_check *ck);
/** Replica r's executed (client, counter) sequence, for reports. */
size_t sim_check_executed(const struct sim_check *ck, uint32_t r, const uint64_t **clients,
			  const uint32_t **counters);

#endif
