/*
 * replica: one running replica — the event loop that joins the pure engine (bft/) to the world:
 * the transport (net/), the write-ahead log (wal.h), the state machine (kv.h), the clock, the
 * status endpoint (http.h), metrics and logs.
 *
 * The loop is single-threaded (Redis' ae model): poll() on the transport's descriptors with the
 * engine's next deadline as timeout; for each frame: decode, check the signature against the
 * sender's key, step the engine; then carry out the step's output in the order engine.h demands:
 * records to the log and fsync first (group commit under fsync = batch), then messages.
 */
#ifndef NODE_REPLICA_H
#define NODE_REPLICA_H

#include <signal.h>
#include <stdbool.h>

#include "bft/byz.h"
#include "node/config.h"

struct node_replica_opts {
	const char *config_path;
	bft_replica_id id;
	const char *data_dir;        /* NULL: <config dir>/data/replica-<id> */
	struct bft_byz byz;          /* modes == 0: a correct replica */
	int log_level;               /* nlog_level */
	const char *fault_spec;      /* NULL, or "drop=PPM,dup=PPM,delay=MIN-MAX" for every peer */
};

struct node_replica;

/** Loads the configuration and keys, recovers from the data directory and opens the network.
 *  0, or -1 with a message in err (a clear, actionable one: it is printed to the operator). */
int node_replica_open(struct node_replica **out, const struct node_replica_opts *opts, char *err,
		      size_t errlen);

/** Runs until *stop becomes nonzero (a signal handler sets it). 0 on a clean stop, -1 on a
 *  fatal error (logged). */
int node_replica_run(struct node_replica *r, volatile sig_atomic_t *stop);

/** Flushes and syncs the log, closes everything. */
void node_replica_close(struct node_replica *r);

#endif
