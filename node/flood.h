/*
 * flood: the traffic of the `flood` Byzantine mode (bftnode --byzantine flood). Besides its
 * normal behaviour, a flooding replica sends its peers, at a bounded rate, frames that a correct
 * receiver must refuse and count without harm:
 *   - over its ordinary mesh links (net_send_replica, so the receiver attributes them to us):
 *     random bytes, envelopes of an unknown version, well-formed envelopes with our sender id and
 *     a junk signature, truncated envelopes and envelopes with trailing bytes;
 *   - over a second connection to each peer's mesh listener, whose hello carries no valid link
 *     MAC: a correct receiver refuses it at the hello (net_stats.hello_refused, shown as
 *     "malformed" from an unknown sender) before reading any of the junk queued behind it
 *     (empty frames, frames just over frame_max, the junk above); the connection is redialed
 *     with back-off and refused again.
 *
 * A correct replica never opens this. Used only by the event loop thread (as net.h).
 */
#ifndef NODE_FLOOD_H
#define NODE_FLOOD_H

#include <stddef.h>
#include <stdint.h>

struct net;
struct node_flood;

struct node_flood_config {
	uint32_t self;                 /* our replica id */
	uint32_t n;                    /* replicas */
	const char *const *peer_addrs; /* n URLs of the replicas' peer listeners */
	uint32_t frame_max;            /* the cluster's frame limit */
	uint32_t rate_per_s;           /* junk frames per second over all peers; 0: 200 */
	uint32_t oversized_every_ms;   /* per peer, at most one oversized frame this often; 0: 5000 */
	uint64_t seed;                 /* deterministic choice of frames */
};

/** Frames the flood sent, by kind (for the log line at close and for tests). */
struct node_flood_stats {
	uint64_t junk_mesh;     /* junk over our ordinary links */
	uint64_t junk_side;     /* junk over the second connections */
	uint64_t oversized;
	uint64_t empty;
	uint64_t refused;       /* frames a full queue or a closed connection refused */
};

/** Opens the second connections (dialled without waiting). 0, or -1 with a message in err.
 *  *out is written only on success; release with node_flood_close. */
int node_flood_open(struct node_flood **out, const struct node_flood_config *cfg, char *err,
		    size_t errlen);

/** Sends the frames due by now_ms (at most rate_per_s per second, at most a quarter second's
 *  worth in one call, so a stalled loop never bursts). net: our mesh (borrowed). */
void node_flood_tick(struct node_flood *fl, struct net *net, uint64_t now_ms);

/** Copies the counters. */
void node_flood_stats(const struct node_flood *fl, struct node_flood_stats *out);

/** Closes the second connections and frees fl. NULL is a no-op. */
void node_flood_close(struct node_flood *fl);

#endif
