/*
 * net: the transport between replicas, and between clients and replicas (DESIGN.md "Layers").
 *
 * The transport moves opaque frames (signed envelopes); it never parses them and authenticates
 * nothing. Who sent a frame is decided by the node after it checked the envelope's signature; the
 * node then tells the transport what it learned (net_client_bind, net_peer_bind) so replies can
 * find their way back and statistics can name peers.
 *
 * Model
 * -----
 * Plain TCP, driven entirely by the caller's event loop: every socket is non-blocking and sits in
 * one epoll instance per transport object, whose descriptor net_poll_fds hands out; there are no
 * threads. A frame is a 4-byte length and its bytes; one read() takes every frame that has
 * arrived on a connection, one send() writes everything queued for it. (Until session 4 this was
 * nng, whose I/O threads handed every message between three or four threads: on two cores that
 * cost more than the cryptography. docs/PERFORMANCE.md has the measurements.)
 *
 * Replica mesh: every replica listens on its peer address, and dials every other replica's peer
 * address once. Traffic from i to j flows over i's connection to j (two TCP connections per
 * pair, one per direction); nothing is ever sent back on an accepted mesh connection.
 *   - Each peer has its own bounded send queue (send_queue frames). A send never blocks; a full
 *     queue drops the frame and counts it. So a slow, dead or malicious peer costs us at most
 *     send_queue frames of memory and never stalls the event loop or the traffic to the other
 *     peers. Dropping is safe: the protocols retransmit (PBFT) or tolerate asynchrony (Honey
 *     Badger) - an unbounded queue would not be.
 *   - Frames queue while a peer is down and leave when the dialer reconnects (back-off from
 *     reconnect_min_ms doubling to reconnect_max_ms); the frame a broken connection was half-way
 *     through is lost, as a frame in flight is. Dials are non-blocking, so replicas can start in
 *     any order.
 *   - Receiving is fair: connections with a whole frame buffered are served round-robin, one
 *     frame each, and the mesh and the client endpoint alternate. A connection is read again only
 *     once what it holds has been handed out, so a peer that floods us is held back by its own
 *     TCP window, not by our memory.
 *   - The connecting side starts with a hello naming the endpoint it meant (mesh or client).
 *     On the mesh it also proves which replica dials: its id, ours, the time in microseconds and
 *     a MAC over them under the link key K(dialer->us) (cr_link_key: both ends derive it from
 *     their Ed25519 keys). A hello that is not exactly right, or not newer than the last one
 *     accepted from that replica (a recording cannot be replayed), closes the connection
 *     (hello_refused). An accepted connection is that replica's (net_rx.replica), and replaces
 *     any older connection of the same replica (peer_replaced): at most one per peer. When the
 *     listener is full, the oldest connection that has not said hello yet gives up its place,
 *     so connections that never authenticate cannot keep a restarted replica out.
 *   - Every mesh frame after the hello carries a 16-byte tag under the same link key, over the
 *     connection's hello time, the frame's sequence number on the connection and its bytes: a
 *     frame that fails closes the connection (tag_refused). So a mesh connection is an
 *     authenticated point-to-point channel; its frames are handed out with
 *     net_rx.authenticated set.
 *   - A frame length over frame_max closes the connection before a byte of the frame is read
 *     (size_dropped).
 *
 * Client endpoint: every replica listens on its client address. The transport remembers, per
 * client id, the connection its latest *verified* request arrived on (net_client_bind) and
 * forgets a connection's bindings when it closes. Replies queue per connection (send_queue
 * frames, client_queue_bytes bytes, and client_queue_total bytes over all client connections,
 * so clients that stop reading cannot make a replica hold their replies without bound); a reply
 * to a connection that is gone or full is dropped and counted: clients retransmit.
 *
 * Client side: a net_client holds one connection per replica, dialing that replica's client
 * address, each with its own bounded send queue (frames queue while the connection is being
 * established, and are dropped and counted once it is full).
 *
 * Limits: every queue is bounded in frames (memory is at most queue depth x frame_max per
 * queue); a connection buffers at most one partial frame (<= frame_max) plus the frames handed
 * out and not yet released; every listener accepts at most conns_max connections at a time (more
 * are closed at once, before a byte is read); the client table holds at most clients_max clients.
 *
 * Threading model
 * ---------------
 * A struct net (and a struct net_client) is used by ONE thread, the node's event loop: every
 * net_* function below must be called from that thread only. Nothing runs behind its back.
 *
 * Event loop integration
 * ----------------------
 * net_poll_fds gives one descriptor (an epoll instance: never read, write or close it) that
 * poll() reports readable when a socket needs attention. Bound the poll() timeout by
 * net_timeout_ms (0 while frames are already buffered, else the next redial or fault-shim
 * deadline). Then call net_recv until it returns false (or up to a budget: net_timeout_ms says
 * 0 while frames remain, so a budgeted drain loses nothing).
 *
 * Fault shim (tests and chaos runs, never in production): per-peer drop, duplicate, delay and
 * reordering of outgoing replica frames, driven by a caller-supplied seed (net_fault_set). Delayed
 * frames wait in a bounded timed queue that net_fault_flush sends when due; reordering comes from
 * independent random delays in [delay_ms_min, delay_ms_max].
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bft/bft.h"

/** Most replicas a mesh may have (sizes the fixed per-peer arrays). */
#define NET_REPLICAS_MAX 256u
/** "No replica": net_rx.replica for a frame whose connection is not bound to a replica. */
#define NET_NO_REPLICA UINT32_MAX
/** File descriptors net_poll_fds may return. */
#define NET_POLL_FDS_MAX 1u

struct net;
struct net_client;

struct net_replica_config {
	uint32_t self;                   /* our replica id, < n */
	uint32_t n;                      /* replicas in the cluster, 2..NET_REPLICAS_MAX */
	const char *const *peer_addrs;   /* n URLs ("tcp://10.0.0.1:7000"): where replica i
	                                  * listens for replicas; we dial all but [self] */
	const char *listen_addr;         /* where we listen for replicas; NULL: peer_addrs[self]
	                                  * (set it to bind a wildcard, e.g. "tcp://0.0.0.0:7000") */
	const char *client_addr;         /* where we listen for clients; NULL: no client endpoint */
	const uint8_t *link_keys_out;    /* n x 32 bytes: [j] is K(self->j), authenticating our
	                                  * hellos to j (cr_link_key); borrowed, must outlive net */
	const uint8_t *link_keys_in;     /* n x 32 bytes: [j] is K(j->self); borrowed */
	uint32_t frame_max;              /* bytes in one frame, sent or received (> 0) */
	uint32_t client_frame_max;       /* bytes in one frame FROM a client (a request or a
	                                  * session is much smaller than a replica's state-transfer
	                                  * chunk); 0 or over frame_max: frame_max */
	uint32_t client_queue_bytes;     /* unwritten reply bytes one client connection may hold
	                                  * (a reply to an empty queue always fits); 0: 1 MiB */
	uint32_t client_queue_total;     /* unwritten reply bytes all client connections together
	                                  * may hold; 0: 64 MiB */
	uint32_t send_queue;             /* frames queued per peer before drops; 0: 128 */
	uint32_t recv_queue;             /* checked (<= 8192) but unused: receiving is bounded per
	                                  * connection (net.h "Limits") */
	uint32_t reconnect_min_ms;       /* first reconnect delay; 0: 50 */
	uint32_t reconnect_max_ms;       /* reconnect back-off cap; 0: 2000 */
	uint32_t clients_max;            /* clients remembered for replies; 0: 4096 */
	uint32_t conns_max;              /* connections per listener at a time; 0: 4n+64 for
	                                  * the peer listener, clients_max for the client one */
	uint32_t held_max;               /* frames the fault shim may hold (delay); 0: 4096 */
};

/** Where a received frame came in. */
enum net_source {
	NET_FROM_REPLICA = 1, /* replica side: the mesh (our pull socket); client side: a replica */
	NET_FROM_CLIENT,      /* replica side: the client endpoint */
};

/**
 * A received frame. bytes/len point into the transport's receive buffer without copying; they
 * stay valid until net_rx_release(rx), which the receiver must call exactly once (also for
 * frames it rejects). The other fields are plain values.
 */
struct net_chunk;

struct net_rx {
	const uint8_t *bytes;
	size_t len;
	enum net_source from;
	uint32_t pipe;        /* id of the connection it arrived on (nonzero); see the binds */
	uint32_t replica;     /* replica side: the replica whose authenticated hello opened this
	                       * mesh connection (the connection is authenticated, the frame's
	                       * envelope is still to be verified), NET_NO_REPLICA for clients;
	                       * client side: which replica sent it */
	bool authenticated;   /* replica side: the frame came on `replica`'s mesh connection and
	                       * its link tag verified (an authenticated point-to-point channel
	                       * in the BFT sense); false for clients */
	struct net_chunk *chunk; /* private: the buffer holding bytes */
};

/** Per-peer counters (all since net_replica_open). */
struct net_peer_stats {
	uint64_t sent;           /* frames queued for this peer */
	uint64_t dropped_full;   /* frames dropped because the peer's send queue was full */
	uint64_t received;       /* frames received on connections bound to this peer */
	uint64_t fault_dropped;  /* frames the fault shim dropped (drop_ppm or held_max) */
	uint64_t fault_duplicated;
	uint64_t fault_delayed;
	bool connected;          /* our connection to this peer is established */
};

/** Totals (all since net_replica_open). */
struct net_stats {
	uint64_t replica_received;        /* frames from the mesh */
	uint64_t replica_received_unbound;/* of which on connections not (yet) bound to a peer */
	uint64_t client_received;         /* frames from the client endpoint */
	uint64_t client_sent;             /* replies queued */
	uint64_t client_dropped_unknown;  /* replies to a client with no live bound connection */
	uint64_t client_dropped_full;     /* replies refused: that connection's queue is full */
	uint64_t client_bind_full;        /* net_client_bind refused: client table full */
	uint64_t size_dropped;            /* frames received empty or over frame_max */
	uint64_t conns_rejected;          /* connections closed at once: over conns_max */
	uint64_t hello_refused;           /* connections closed for a wrong hello */
	uint64_t tag_refused;             /* mesh connections closed for a frame with a bad tag */
	uint64_t peer_replaced;           /* mesh connections closed: their replica said hello
	                                   * again on a newer one */
	uint64_t accept_paused;           /* times a listener paused: out of file descriptors */
	uint32_t peer_conns;              /* live connections on the peer listener */
	uint32_t client_conns;            /* live connections on the client listener */
	uint32_t clients_bound;           /* clients with a bound connection */
	uint32_t held;                    /* frames held by the fault shim */
};

/** Fault shim settings for the frames we send to one peer. All zero: no faults. */
struct net_fault {
	uint32_t drop_ppm;     /* each frame is dropped with probability drop_ppm / 1e6 */
	uint32_t dup_ppm;      /* each surviving frame is sent twice with probability dup_ppm / 1e6 */
	uint32_t delay_ms_min; /* each frame (and each duplicate) waits a uniform delay in */
	uint32_t delay_ms_max; /* [min, max] ms; max > min reorders frames */
};

/**
 * Opens the replica side: starts listening on the peer (and client) addresses and dials every
 * other replica without waiting for it. On BFT_OK *out owns everything; release with net_close.
 * Errors (with a message in err[0..errlen) when err is non-NULL): BFT_EINVAL for a bad
 * configuration or URL, BFT_ESTATE when a listen address is in use (or cannot be bound),
 * BFT_ENOMEM. *out is written only on success.
 */
enum bft_err net_replica_open(struct net **out, const struct net_replica_config *cfg,
			      char *err, size_t errlen) BFT_WUR;

/** Closes every socket (queued frames are discarded) and frees net. NULL is a no-op. */
void net_close(struct net *net);

/**
 * Queues a copy of bytes[0..len) for replica `to` (the caller keeps its buffer).
 * BFT_OK when queued (or when the fault shim dropped or delayed it, as a network would);
 * BFT_EFULL when the peer's queue is full: the frame is dropped and counted;
 * BFT_ETOOBIG when len > frame_max or len == 0; BFT_EINVAL when to is self or >= n; BFT_ENOMEM.
 */
enum bft_err net_send_replica(struct net *net, uint32_t to, const uint8_t *bytes, size_t len);

/**
 * Corking. Between net_cork and net_uncork, frames are queued but not written; net_uncork writes
 * each connection's queue with one send(). Why: an event loop iteration often sends a peer (or a
 * client) several messages, and a system call per message is the transport's main cost
 * (docs/PERFORMANCE.md). Uncorked, each send is written at once. Frames for a peer under the
 * fault shim go through the shim first (a delayed frame is queued when it falls due).
 */
void net_cork(struct net *net);
void net_uncork(struct net *net);

/**
 * net_send_replica to every other replica. Returns BFT_OK if every peer took the frame, else the
 * first error (the frame still went to every peer that could take it).
 */
enum bft_err net_send_all(struct net *net, const uint8_t *bytes, size_t len);

/**
 * Sends a copy of bytes[0..len) to client_id over the connection its latest verified request
 * came on. BFT_ESTALE when no live connection is bound to that client (dropped, counted);
 * BFT_EFULL when that connection's queue is full; BFT_ETOOBIG; BFT_ESTATE without a client
 * endpoint.
 */
enum bft_err net_send_client(struct net *net, bft_client_id client_id, const uint8_t *bytes,
			     size_t len);

/**
 * Tells the transport that a frame received on client connection `pipe` was verified as a
 * request signed by client_id: replies to client_id now go over that connection. Call it only
 * for requests that are new (not a replay of an old request id): anyone can replay a client's
 * signed request on their own connection, and binding on replays would let them divert its
 * replies. BFT_OK; BFT_ESTALE when the connection has already closed; BFT_EFULL when clients_max
 * clients are bound (counted); BFT_ESTATE without a client endpoint.
 */
enum bft_err net_client_bind(struct net *net, uint32_t pipe, bft_client_id client_id);
/** Forgets where client_id's replies go (a single-use destination, once its reply is sent). */
void net_client_unbind(struct net *net, bft_client_id client_id);

/**
 * Checks that mesh connection `pipe` belongs to replica r. Mesh connections are bound by their
 * authenticated hello, so this only confirms: BFT_OK when it is r's, BFT_EINVAL when it is
 * another's or r >= n, BFT_ESTALE when the connection is gone.
 */
enum bft_err net_peer_bind(struct net *net, uint32_t pipe, uint32_t r);

/**
 * Writes up to max pollfd entries (fd, events = POLLIN) and returns how many (at most
 * NET_POLL_FDS_MAX): the transport's epoll descriptor, readable when a socket needs attention.
 * It belongs to the transport: never read, write or close it. Also starts redials that are due.
 */
size_t net_poll_fds(struct net *net, struct pollfd *fds, size_t max);

/**
 * How long the event loop may sleep in poll() as far as the transport is concerned: 0 while
 * received frames are buffered (a budgeted drain left some), else milliseconds until the next
 * redial or held fault-shim frame is due, or -1 when nothing is pending.
 */
int net_timeout_ms(const struct net *net);

/**
 * Takes one waiting frame without blocking. Returns true and fills *rx (release it with
 * net_rx_release) or returns false when nothing is waiting (rx untouched). Alternates between the
 * mesh and the client endpoint so that neither can starve the other. Empty frames are skipped
 * and counted; a length over frame_max closes that connection (counted) before its bytes are
 * read. Also accepts connections, finishes dials and writes what sockets can take.
 */
bool net_recv(struct net *net, struct net_rx *rx);

/**
 * Handles what the sockets have for us (accepted connections, finished dials, writes that were
 * waiting, reads into buffers) without handing frames out. net_recv does this itself; this is
 * for a loop that must make progress without receiving, e.g. one waiting for connections.
 */
void net_service(struct net *net);

/** Releases the buffer behind rx (from net_recv or net_client_recv) and zeroes *rx. */
void net_rx_release(struct net_rx *rx);

/** Copies the totals. */
void net_stats(struct net *net, struct net_stats *out);
/** Copies the counters for peer (zeroed for an out-of-range peer or self). */
void net_peer_stats(struct net *net, uint32_t peer, struct net_peer_stats *out);

/**
 * Sets the fault shim for frames sent to peer (f NULL or all zero: faults off; frames already
 * held are still sent when due). seed makes the choices reproducible: the same seed and the same
 * sequence of sends give the same drops, duplicates and delays. BFT_EINVAL for a bad peer,
 * ppm > 1000000 or delay_ms_min > delay_ms_max.
 */
enum bft_err net_fault_set(struct net *net, uint32_t peer, const struct net_fault *f,
			   uint64_t seed);

/** Milliseconds until the next held frame is due (0: now), or -1 when none is held. */
int net_fault_timeout_ms(const struct net *net);

/** Sends every held frame that is due; returns how many were queued. */
size_t net_fault_flush(struct net *net);

/* ------------------------------------------------------------------------------------------- */
/* Client side (bftctl, the load generator) */

/**
 * Opens one connection per replica, dialing addrs[i] (the replicas' client addresses) without
 * waiting; lost connections are redialed with back-off. frame_max bounds what we send and
 * receive. BFT_EINVAL, BFT_ENOMEM; *out written only on success; release with net_client_close.
 */
enum bft_err net_client_open(struct net_client **out, uint32_t n, const char *const *addrs,
			     uint32_t frame_max) BFT_WUR;

/**
 * As net_client_open, but to the replicas' MESH listeners (addrs: their peer addresses), with a
 * mesh hello that carries no valid link MAC: correct replicas refuse such a connection at its
 * hello (hello_refused). For the flood Byzantine mode, to show that they do.
 */
enum bft_err net_client_open_mesh(struct net_client **out, uint32_t n, const char *const *addrs,
				  uint32_t frame_max) BFT_WUR;

/** Writes what the live connections can take without blocking, closes every socket and frees
 *  c. NULL is a no-op. */
void net_client_close(struct net_client *c);

/**
 * Queues a copy of bytes[0..len) for replica r. Frames queue (up to 64 per replica) while the
 * connection is being made. BFT_OK, BFT_EFULL (dropped, counted), BFT_ETOOBIG, BFT_EINVAL,
 * BFT_ENOMEM.
 */
enum bft_err net_client_send(struct net_client *c, uint32_t r, const uint8_t *bytes, size_t len);

/**
 * As net_client_send with no length check: len may be 0 or over frame_max (up to 4 GiB - 1).
 * Only for the flood Byzantine mode and tests, to show that receivers refuse such frames.
 */
enum bft_err net_client_send_raw(struct net_client *c, uint32_t r, const uint8_t *bytes,
				 size_t len);

/** net_client_send to every replica: BFT_OK if every replica took it, else the first error. */
enum bft_err net_client_send_all(struct net_client *c, const uint8_t *bytes, size_t len);

/**
 * Waits up to timeout_ms (0: do not wait) for a frame from any replica. Returns true and fills
 * *rx (from = NET_FROM_REPLICA, replica = the sender's index; release with net_rx_release), or
 * false on timeout. Replicas are served round-robin so one chatty replica cannot starve others.
 */
bool net_client_recv(struct net_client *c, int timeout_ms, struct net_rx *rx);

/** The pollfd entry (the client's epoll descriptor, never read, write or close it) for an
 *  external event loop: returns 1, or 0 when max is 0. Also starts redials that are due. Call
 *  net_client_recv(c, 0, ..) until it returns false after poll() reports it readable. */
size_t net_client_poll_fds(struct net_client *c, struct pollfd *fds, size_t max);

/** As net_service, for the client side: dials, writes and reads into buffers, no hand-out. */
void net_client_service(struct net_client *c);

/** How many replicas we currently hold a live connection to. */
uint32_t net_client_connected(const struct net_client *c);

/** Frames dropped because a replica's send queue was full, and frames received empty or over
 *  frame_max. Either pointer may be NULL. */
void net_client_counters(const struct net_client *c, uint64_t *dropped_full,
			 uint64_t *size_dropped);

#endif
