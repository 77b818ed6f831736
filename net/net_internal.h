/*
 * net_internal.h: what the files of net/ share and nobody else sees (the object layout, the
 * bounded hash map used for connection and client tables, small helpers).
 */
#ifndef NET_INTERNAL_H
#define NET_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <nng/nng.h>

#include "net/net.h"

/* Extra bytes nng may put in front of our payload on the wire (pair1's hop count is 4 bytes);
 * the receive limit we give nng is frame_max plus this, and we check frame_max exactly after. */
#define NET_HEADER_SLACK 16u
/* nng refuses send/receive buffers deeper than this many messages. */
#define NET_QUEUE_MAX 8192u
/* Frames a net_recv call may discard (bad size) before it returns to the event loop. */
#define NET_DISCARD_BUDGET 64u

/*
 * A bounded open-addressing hash map from a 64-bit key to a 32-bit value (linear probing,
 * backward-shift deletion so there are no tombstones to accumulate). Its capacity is fixed at
 * init: at most `limit` entries, in a table of at least 2 * limit slots so probes stay short.
 * Not thread-safe: the callers hold net->lock.
 */
struct net_map_slot {
	uint64_t key;
	uint32_t val;
	uint32_t used;
};

struct net_map {
	struct net_map_slot *slots;
	uint32_t mask;   /* table size - 1 (a power of two) */
	uint32_t count;
	uint32_t limit;
};

enum bft_err net_map_init(struct net_map *m, uint32_t limit);
void net_map_free(struct net_map *m);
/** Finds key: true and *val (when val is non-NULL), or false. */
bool net_map_get(const struct net_map *m, uint64_t key, uint32_t *val);
/** Inserts or overwrites key. BFT_EFULL when key is new and the map holds `limit` entries. */
enum bft_err net_map_put(struct net_map *m, uint64_t key, uint32_t val);
/** Removes key; true if it was there. */
bool net_map_del(struct net_map *m, uint64_t key);
/** Removes every entry whose value is val; returns how many. O(table size). */
uint32_t net_map_del_val(struct net_map *m, uint32_t val);

/* A frame the fault shim holds until due_ms. `order` breaks ties so frames due at the same
 * millisecond leave in the order they were held. */
struct net_held {
	uint64_t due_ms;
	uint64_t order;
	uint32_t peer;
	nng_msg *msg;
};

/* One other replica, seen from our side: the push socket dialing it and its counters. */
struct net_peer {
	struct net *net;          /* back pointer for the pipe callbacks */
	uint32_t id;
	bool open;                /* sock is open (false for self) */
	nng_socket sock;          /* push0, dialing the peer's peer address */
	nng_aio *saio;            /* reused for every send on sock (net_aio_sendmsg) */
	atomic_uint conns;        /* live pipes on sock: written by nng threads */
	struct net_peer_stats st; /* event loop only (st.connected is filled from conns) */
	nng_msg *bundle;          /* corked frames waiting for net_uncork (net.h "Bundles") */
	uint32_t bundle_frames;
	bool faulty;              /* the fault shim applies */
	struct net_fault fault;
	uint64_t rng;             /* splitmix64 state for the shim */
};

struct net {
	uint32_t self;
	uint32_t n;
	uint32_t frame_max;

	nng_socket pull;          /* pull0: the mesh */
	bool pull_open;
	nng_aio *pull_raio;       /* reused for every receive on pull */
	nng_socket cli;           /* pair1 poly: the client endpoint */
	bool cli_open;
	nng_aio *cli_raio, *cli_saio; /* reused for every receive and send on cli */
	struct net_peer *peers;   /* n entries; peers[self] unused */
	unsigned turn;            /* which endpoint net_recv tries first */

	/* Guarded by lock: written by nng's pipe callbacks and read by the event loop. */
	pthread_mutex_t lock;
	struct net_map peer_pipes;   /* live mesh connections -> bound replica or NET_NO_REPLICA */
	struct net_map cli_pipes;    /* live client connections (value unused) */
	struct net_map clients;      /* client id -> pipe id of its latest verified request */
	uint64_t conns_rejected;

	struct net_stats st;         /* event loop only; the lock-guarded fields are copied in */

	/* Bundles (net.h): corking, and the received bundle being split. Event loop only. */
	bool corked;
	/* Corked replies: one bundle per client connection, flushed in order at net_uncork. */
	struct net_cbundle *cb;
	uint32_t ncb, cb_cap;
	struct net_map cb_index;     /* client id -> index in cb, for this cork only */
	struct net_bundle *rxb;      /* the bundle net_recv is handing out, or NULL */
	size_t rxb_off;              /* where its next frame's length is */

	/* Fault shim: a binary min-heap on (due_ms, order). Event loop only. */
	struct net_held *held;
	uint32_t held_len;
	uint32_t held_max;
	uint64_t held_order;
};

/* Replies to one client being bundled while corked. */
struct net_cbundle {
	uint64_t client;
	uint32_t pipe;
	uint32_t frames;
	nng_msg *msg;
};

/* A received bundle, shared by the net_rx of its frames: freed when the last is released. */
struct net_bundle {
	nng_msg *msg;
	uint32_t refs;
	uint32_t pipe, replica;
};

/* The first byte of a bundle: 0xc1 is the one byte msgpack never uses, so no envelope (a
 * msgpack array) starts with it. Then, per frame, a 4-byte little-endian length and the bytes. */
#define NET_BUNDLE_MAGIC 0xc1u
#define NET_BUNDLE_HDR 4u

/** Hands m (owned) to peer's push socket without blocking; counts sent or dropped_full. */
enum bft_err net_peer_push(struct net *net, uint32_t to, nng_msg *m);
/** The fault shim's send path for a faulty peer (net_fault.c). */
enum bft_err net_fault_send(struct net *net, uint32_t to, const uint8_t *bytes, size_t len);
/** Frees every held frame (net_close). */
void net_fault_clear(struct net *net);

/*
 * Non-blocking send and receive through an aio the caller keeps, instead of nng_sendmsg and
 * nng_recvmsg with NNG_FLAG_NONBLOCK, which allocate, initialise and free an aio (a mutex, a
 * condition variable, a task) on every call: per frame, that was a visible share of a replica's
 * time (docs/PERFORMANCE.md). Same semantics: the operation completes or fails at once (a zero
 * timeout); on a failed send the message stays the caller's. One aio per socket and direction,
 * used by the event loop thread only.
 */
enum bft_err net_aio_new(nng_aio **out);
int net_aio_sendmsg(nng_socket s, nng_aio *aio, nng_msg *m);
int net_aio_recvmsg(nng_socket s, nng_aio *aio, nng_msg **m);

/** Appends a bundle frame (4-byte length, bytes) to *m, allocating it with the magic byte
 *  first when *m is NULL. BFT_ENOMEM leaves *m NULL (freed). */
enum bft_err net_bundle_append(nng_msg **m, const uint8_t *bytes, size_t len);
/** Turns a bundle holding exactly one frame back into that plain frame. */
void net_bundle_unwrap(nng_msg *m);
/** Splits bundle b from offset *off: the next frame into *p and *len, advancing *off. false at the
 *  end, or at a length that is zero, over frame_max or past the end (*bad set). */
bool net_bundle_next(nng_msg *b, size_t *off, uint32_t frame_max, const uint8_t **p,
		     size_t *len, bool *bad);
/** Drops the receiver's reference to bundle *bp (freed with its last frame) and clears *bp. */
void net_bundle_release(struct net_bundle **bp);
/** The next frame of the bundle *bp being handed out, from offset *off, into *rx (which then
 *  holds a reference, released by net_rx_done). At the end or at a bad length (*bad set) the
 *  bundle is released and false returned. */
bool net_bundle_take(struct net_bundle **bp, size_t *off, uint32_t frame_max, struct net_rx *rx,
		     bool *bad);

/** An nng message holding a copy of bytes[0..len). */
enum bft_err net_msg_copy(nng_msg **out, const uint8_t *bytes, size_t len);
/** Maps an nng error to ours: address in use -> BFT_ESTATE, bad address -> BFT_EINVAL, ... */
enum bft_err net_err_from_nng(int rv);
/** snprintf into err[0..errlen) when err is non-NULL. */
void net_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** Milliseconds on the monotonic clock. */
uint64_t net_now_ms(void);

#endif
