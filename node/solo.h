/*
 * solo: the "no consensus" baseline of the benchmark (bftnode --solo). NOT a fault-tolerant
 * mode: it exists only so that `make bench` can show what the Byzantine agreement costs.
 *
 * Neither engine runs with n = 1 (the shared log and the config insist on n >= 4), so instead of
 * bending them, replica 0 of an ordinary cluster config serves alone with no engine at all. It
 * does what every replica does per request except agreeing on an order with others:
 *   - decodes the client's signed REQUEST and verifies its Ed25519 signature (same code);
 *   - executes it on the same key-value store (kv.h), in arrival order, with the local clock as
 *     the batch time; read-only requests are answered from the current state;
 *   - appends the request to its write-ahead log, and makes it durable under the config's fsync
 *     policy (group commit once per event-loop iteration under `batch`) before replying;
 *   - signs a REPLY (view 0) and sends it over the client's connection.
 * The client (ctl_opts.replicas = 1) treats it as a cluster of n = 1, f = 0: one signed reply
 * is a result. Exactly-once is reduced to "a request id at or below the client's last executed
 * one is dropped" (no reply cache: a retransmitted request gets no answer), and the log is never
 * replayed at start-up nor checkpointed. Enough for a benchmark on 127.0.0.1; nothing more.
 */
#ifndef NODE_SOLO_H
#define NODE_SOLO_H

#include <signal.h>

/** Runs the solo server for the cluster file config_path, as replica 0, with its data in
 *  data_dir (NULL: next to the config, data/solo), until *stop. 0 on a clean stop, -1 with a
 *  message on stderr otherwise. */
int node_solo_run(const char *config_path, const char *data_dir, volatile sig_atomic_t *stop);

#endif
