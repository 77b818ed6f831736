/*
 * metrics: the replica's counters and histograms, rendered in Prometheus text format.
 * Owned and updated by the (single) event-loop thread; rendered by it too (http.h publishes).
 */
#ifndef NODE_METRICS_H
#define NODE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "bft/bft.h"
#include "bft/msg.h"

#define METRICS_TYPES 64          /* message type numbers 0..63 */
#define METRICS_SENDERS_MAX 64    /* replicas tracked by id; clients are one label */
#define HIST_BUCKETS 16

/* A histogram of milliseconds with fixed, log-spaced bucket bounds (0.1 ms .. 10 s). */
struct node_hist {
	uint64_t count;
	double sum;
	uint64_t le[HIST_BUCKETS]; /* cumulative at render time, per-bucket while counting */
};

struct node_metrics {
	uint32_t n;                                    /* replicas */
	uint64_t msgs_in[METRICS_TYPES];
	uint64_t msgs_out[METRICS_TYPES];
	uint64_t bytes_in, bytes_out;
	/* rejected inputs: by reason, and by sender (replica id, or n for "client", n + 1 for
	 * "unknown" when the frame did not even decode) */
	uint64_t rejected[BFT_ERR_COUNT][METRICS_SENDERS_MAX + 2];
	uint64_t unknown_clients;
	uint64_t commits;               /* log positions committed */
	uint64_t requests_committed;
	struct node_hist batch_size;    /* requests per committed position (not ms) */
	struct node_hist request_ms;    /* request received -> reply sent */
	struct node_hist fsync_ms;      /* WAL sync */
	uint64_t send_dropped;          /* transport queue full */
	uint64_t link_authenticated;    /* HB messages and PBFT COMMITs taken on their sender's link tag */
	/* MAC sessions (bft/log.h): copied from the log's counters at publish time, except
	 * session_bad_box, which the node counts when its box does not open. */
	uint64_t sessions_installed, session_bad_box, mac_ok, mac_fallback, mac_bad, replies_mac;
	/* PBFT's shared batch checks (bft/pbft.c), copied from pbft_status at publish time. */
	uint64_t batches_checked, batches_vouched, check_waits_expired;
};

void node_metrics_init(struct node_metrics *m, uint32_t n);
void node_hist_add(struct node_hist *h, double v);
/** Counts a rejected input. sender: a replica id, or UINT64_MAX for a client / undecodable frame
 *  (is_client tells which). */
void node_metrics_reject(struct node_metrics *m, enum bft_err why, uint64_t sender, int is_client);

/** Appends the Prometheus text of m and of the engine gauges to a malloc'd, NUL-terminated
 *  string in *out (*len its length). 0 or -1. */
struct node_gauges {
	const char *protocol;
	uint64_t view, last_executed, stable, view_changes, state_transfers, pending;
	uint32_t replica;
};
int node_metrics_render(const struct node_metrics *m, const struct node_gauges *g, char **out,
			size_t *len);

/** A name for a message type ("preprepare", ...), "type_N" style for unknown ones. */
const char *node_msg_type_name(uint32_t type, char buf[16]);

#endif
