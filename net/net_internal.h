/*
 * net_internal.h: what the files of net/ share and nobody else sees: the connection object (its
 * stream framing, receive chunks and send queue), the listener, the bounded hash map used for
 * connection and client tables, and small helpers.
 *
 * Wire form of a connection (docs/WIRE.md "Transport"): the side that connects first sends a
 * hello: 8 bytes ("BFTN", version 1, the endpoint kind, two zero bytes), and on the mesh 32 more
 * that authenticate the dialing replica (from u32, to u32, time_us u64, a 16-byte MAC of the
 * first 24 bytes under the link key K(from->to), cr_seal.h); after that each side's
 * byte stream is a sequence of frames, each a 4-byte little-endian length L (1 <= L <=
 * frame_max) followed by L bytes. A zero length is skipped and counted; a length over frame_max
 * ends the connection (it cannot be resynchronised without reading what we refuse to read).
 */
#ifndef NET_INTERNAL_H
#define NET_INTERNAL_H

#include <sys/socket.h>

#include "net/net.h"

/* frame_max must leave this much below UINT32_MAX: a mesh frame's length is frame_max plus its
 * 16-byte tag (NET_TAG_BYTES), and must still fit the 4-byte length prefix. */
#define NET_HEADER_SLACK 16u
/* Queue depths a configuration may ask for. */
#define NET_QUEUE_MAX 8192u
/* Bytes of a frame's length prefix, of the hello's header, and of the whole mesh hello. */
#define NET_LEN_BYTES 4u
#define NET_HELLO_BYTES 8u
#define NET_MESH_HELLO_BYTES 40u
#define NET_LINK_KEY_BYTES 32u
#define NET_TAG_BYTES 16u
/* Hello kinds: which listener the connecting side meant to reach. */
#define NET_KIND_MESH 1u
#define NET_KIND_CLIENT 2u
/* A receive chunk's usual size: one read() takes up to this much, many frames at once. */
#define NET_CHUNK_BYTES (64u * 1024u)
/* A read is never offered less room than this (a smaller tail moves to a fresh chunk). */
#define NET_READ_MIN 2048u
/* Free standard chunks kept for reuse per transport object. */
#define NET_CHUNK_POOL 16u
/* Empty frames one peek may skip before it yields (each is counted). */
#define NET_DISCARD_BUDGET 64u
/* Events taken from epoll per call. */
#define NET_EVENTS_MAX 64u

/*
 * A bounded open-addressing hash map from a 64-bit key to a 32-bit value (linear probing,
 * backward-shift deletion so there are no tombstones to accumulate). Its capacity is fixed at
 * init: at most `limit` entries, in a table of at least 2 * limit slots so probes stay short.
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

/*
 * A receive buffer. A connection reads into its current chunk; every frame handed out in a
 * net_rx holds a reference to the chunk its bytes are in, so frames are never copied and a
 * chunk is freed (or pooled) when the connection has moved on and the last frame is released.
 */
struct net_chunk {
	uint32_t refs;
	uint32_t cap;
	struct net_chunk_pool *pool; /* where a standard chunk goes back to, or NULL */
	uint8_t data[];
};

struct net_chunk_pool {
	struct net_chunk *free[NET_CHUNK_POOL];
	uint32_t nfree;
	uint32_t users; /* the owner and every chunk out of it: freed when it reaches 0 */
};

/* What epoll's data pointer points at: a listener or a connection (both start with this). */
enum net_obj_type { NET_OBJ_LISTENER = 1, NET_OBJ_CONN };

enum net_conn_kind {
	NET_CONN_PEER_OUT = 1, /* replica: our connection to another replica's mesh listener */
	NET_CONN_MESH_IN,      /* replica: a connection accepted on our mesh listener */
	NET_CONN_CLIENT_IN,    /* replica: a connection accepted on our client listener */
	NET_CONN_DIAL,         /* client side: our connection to a replica */
};

/* Where a connection's unread frames stand (net_conn_peek). */
enum net_peek { NET_PEEK_MORE = 0, NET_PEEK_FRAME, NET_PEEK_BAD, NET_PEEK_BADTAG };

struct net_conn {
	uint8_t obj;               /* NET_OBJ_CONN */
	uint8_t kind;              /* enum net_conn_kind */
	bool connecting;           /* dialed, connect() not finished */
	bool up;                   /* connected (dialed side) or accepted */
	bool hello_ok;             /* accepted side: the hello arrived and matched */
	bool want_out;             /* EPOLLOUT is armed */
	bool queued;               /* on its ready list (has a whole frame buffered) */
	bool dirty;                /* has output waiting for net_uncork */
	bool dead;                 /* closed while an event batch may still name it (net.c) */
	/* Mesh frames carry a 16-byte tag after the payload, counted in the length: BLAKE2b-128
	 * under the link key over (hello time u64 LE, sequence u64 LE) || payload, the sequence
	 * counting this connection's frames from 0. So every frame after the hello is
	 * authenticated and bound to its connection and place (docs/WIRE.md "Transport"). */
	bool tagged;               /* PEER_OUT always; MESH_IN once its hello is accepted */
	bool head_ok;              /* MESH_IN: the whole frame at roff has a good tag */
	const uint8_t *mac_key;    /* PEER_OUT: K(self->peer); MESH_IN: K(peer->self) */
	uint64_t mac_epoch;        /* the connection's hello time */
	uint64_t mac_seq;          /* next sequence number to tag (send) or to expect (receive) */
	uint8_t hello_len;         /* dialed side: bytes of our hello (8, or 40 on the mesh) */
	uint8_t hello_sent;        /* dialed side: bytes of our hello already written */
	uint8_t hello[NET_MESH_HELLO_BYTES]; /* dialed side: built at each dial */
	int fd;                    /* -1 while not connected */
	uint32_t id;               /* connection ("pipe") id, nonzero, unique per transport */
	uint32_t tag;              /* mesh in: bound replica or NET_NO_REPLICA; dial: replica */
	uint32_t slot;             /* accepted: index in the connection table */

	/* Receiving: unread bytes are rc->data[roff, rlen). */
	struct net_chunk *rc;
	uint32_t roff, rlen;

	/* Sending: queued bytes are wbuf[woff, wlen); fend is a ring of the end offsets of the
	 * queued frames (so the queue is bounded in frames, as configured, and a broken
	 * connection can drop exactly the frame it was in the middle of). */
	uint8_t *wbuf;
	size_t woff, wlen, wcap;
	size_t *acct;              /* when set: a total of unwritten bytes this queue adds to */
	size_t *fend;
	uint32_t fhead, fcount, fcap;

	/* Dialed side: where to, and the reconnect schedule. */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint64_t retry_ms;         /* when to dial again (fd == -1) */
	uint32_t backoff_ms;

	struct net_conn *prev, *next; /* ready list */
};

struct net_listener {
	uint8_t obj;               /* NET_OBJ_LISTENER */
	uint8_t kind;              /* NET_KIND_MESH or NET_KIND_CLIENT */
	int fd;
	uint64_t paused_until_ms;  /* nonzero: out of descriptors, out of epoll until then */
};

/* A doubly linked FIFO of connections with a whole frame buffered. */
struct net_ready {
	struct net_conn *head, *tail;
};

/* A frame the fault shim holds until due_ms. `order` breaks ties so frames due at the same
 * millisecond leave in the order they were held. */
struct net_held {
	uint64_t due_ms;
	uint64_t order;
	uint32_t peer;
	uint32_t len;
	uint8_t *bytes;
};

/* One other replica, seen from our side: our connection to it and its counters. */
struct net_peer {
	struct net_conn conn;     /* dialed; unused for self */
	struct net_peer_stats st;
	bool faulty;              /* the fault shim applies */
	struct net_fault fault;
	uint64_t rng;             /* splitmix64 state for the shim */
};

struct net {
	uint32_t self;
	uint32_t n;
	uint32_t frame_max;
	uint32_t client_frame_max;   /* the limit for frames read from client connections */
	size_t client_queue_bytes;   /* unwritten reply bytes one client connection may hold */
	size_t client_queue_total;   /* ... and all client connections together */
	size_t client_queued;        /* unwritten reply bytes now (net_conn.acct) */
	uint32_t send_queue;
	uint32_t reconnect_min_ms, reconnect_max_ms;
	int ep;                      /* the epoll instance: net_poll_fds hands it out */
	const uint8_t *link_out;     /* n link keys K(self->j), borrowed (net_replica_config) */
	const uint8_t *link_in;      /* n link keys K(j->self), borrowed */
	uint64_t *hello_last_us;     /* n: the newest accepted mesh hello time per peer */
	struct net_conn **grave;     /* connections closed during an event batch, freed after it */
	uint32_t ngrave, grave_cap;
	struct net_listener mesh_l, cli_l;
	bool cli_open;
	struct net_peer *peers;      /* n entries; peers[self] unused */
	uint32_t next_id;

	/* Accepted connections (mesh and client) by slot; free slots on a stack. */
	struct net_conn **conns;
	uint32_t conns_cap;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t mesh_conns_max, cli_conns_max;
	struct net_map peer_pipes;   /* live mesh connection id -> slot */
	struct net_map cli_pipes;    /* live client connection id -> slot */
	struct net_map clients;      /* client id -> connection id of its latest verified request */

	struct net_ready ready[2];   /* [0] mesh, [1] client */
	unsigned turn;               /* which list net_recv serves first */
	uint32_t served;             /* frames handed out since the last epoll_wait */
	bool corked;
	struct net_conn **dirty;     /* connections with output waiting for net_uncork */
	uint32_t ndirty, dirty_cap;

	struct net_stats st;
	struct net_chunk_pool *pool;

	/* Fault shim: a binary min-heap on (due_ms, order). */
	struct net_held *held;
	uint32_t held_len;
	uint32_t held_max;
	uint64_t held_order;
};

/* ----------------------------------------------------------------------------------------- */
/* net_io.c: sockets, framing and buffers shared by both sides */

/** Parses "tcp://host:port" (host a name, an IPv4 address, [IPv6], or empty/"*" for any) into
 *  *ss. passive: for listening. BFT_EINVAL with a message in err. */
enum bft_err net_addr_parse(const char *url, bool passive, struct sockaddr_storage *ss,
			    socklen_t *sslen, char *err, size_t errlen);
/** A non-blocking listening socket on url. BFT_EINVAL (bad URL), BFT_ESTATE (in use). */
enum bft_err net_listen(struct net_listener *l, uint8_t kind, const char *url, int ep, char *err,
			size_t errlen);
void net_listener_close(struct net_listener *l);

/** Prepares c (zeroed by the caller) as an unconnected connection. */
enum bft_err net_conn_init(struct net_conn *c, uint8_t kind, uint32_t qmax);
/** Frees c's buffers and closes its socket (not c itself). */
void net_conn_free(struct net_conn *c);
/** Closes c's socket and forgets its partial input and the frame it was half-way through
 *  writing; queued whole frames stay (a dialed connection sends them after reconnecting). */
void net_conn_reset(struct net_conn *c);

/** Appends a frame to c's send queue: BFT_OK, BFT_EFULL when fcap frames are queued, BFT_ENOMEM.
 *  len may be 0 or over frame_max only for the flood's deliberate junk. */
enum bft_err net_conn_queue(struct net_conn *c, const uint8_t *bytes, size_t len);
/** Writes what c has queued without blocking; arms or disarms EPOLLOUT on ep as needed.
 *  0, or -1 when the connection failed (the caller resets it). */
int net_conn_flush(struct net_conn *c, int ep);
/** Frames queued on c. */
static inline uint32_t net_conn_queued(const struct net_conn *c)
{
	return c->fcount;
}

/** Reads once from c into its chunk. >0 bytes read, 0 at end of stream, -1 on error, -2 when
 *  nothing was waiting. frame_max sizes the chunk for a long frame. */
ssize_t net_conn_read(struct net_conn *c, struct net_chunk_pool *pool, uint32_t frame_max);
/** Whether c holds a whole frame (skipping empty ones, counted in *empty), needs more, or is
 *  broken (bad hello, length over frame_max, a bad tag on a tagged connection). Checks a
 *  client's hello first. */
enum net_peek net_conn_peek(struct net_conn *c, uint32_t frame_max, uint64_t *empty);
/** Hands out the whole frame net_conn_peek found, into rx (bytes, len, chunk reference). */
void net_conn_take(struct net_conn *c, struct net_rx *rx);

/** Ready lists. */
void net_ready_push(struct net_ready *q, struct net_conn *c);
void net_ready_remove(struct net_ready *q, struct net_conn *c);

/** TCP_NODELAY and keepalive on a stream socket. */
void net_sock_tune(int fd);
/** Registers fd with ep for EPOLLIN (and EPOLLOUT when out), data = obj. 0 or -1. */
int net_ep_add(int ep, int fd, void *obj, bool out);
/** Changes fd's interest to EPOLLIN (+ EPOLLOUT). 0 or -1. */
int net_ep_mod(int ep, int fd, void *obj, bool out);

/** Writes c's hello: the 8-byte header for kind, and for the mesh (key non-NULL or not) the
 *  authenticated part for from -> to at the current wall-clock time, MAC'd with key (a zero tag
 *  without a key, which a replica refuses). */
void net_hello_build(struct net_conn *c, uint8_t kind, uint32_t from, uint32_t to,
		     const uint8_t *key);
/** Checks the 8-byte hello header at p for kind. */
bool net_hello_header_ok(const uint8_t *p, uint8_t kind);
uint32_t net_le32(const uint8_t *p);
uint64_t net_le64(const uint8_t *p);

/** Starts a non-blocking connect for c (kind dial or peer) to its address. 0 when under way or
 *  done; -1 when it failed at once (retry later). Registers with ep. */
int net_conn_dial(struct net_conn *c, int ep);
/** The dialed connection's connect finished (EPOLLOUT): 0 when connected, -1 when it failed. */
int net_conn_dial_done(struct net_conn *c, int ep);
/** After a failed or lost dialed connection: close it and set the next dial time. */
void net_conn_schedule(struct net_conn *c, uint64_t now_ms, uint32_t min_ms, uint32_t max_ms);

struct net_chunk_pool *net_pool_new(void);
/** Drops the owner's use of pool; it is freed once no chunk from it is alive. */
void net_pool_release(struct net_chunk_pool *pool);
void net_chunk_unref(struct net_chunk *ch);

/** The fault shim's send path for a faulty peer (net_fault.c). */
enum bft_err net_fault_send(struct net *net, uint32_t to, const uint8_t *bytes, size_t len);
/** Frees every held frame (net_close). */
void net_fault_clear(struct net *net);
/** Queues a frame for peer `to` and sends it unless corked; counts sent / dropped_full. */
enum bft_err net_peer_push(struct net *net, uint32_t to, const uint8_t *bytes, size_t len);

/** snprintf into err[0..errlen) when err is non-NULL. */
void net_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** Milliseconds on the monotonic clock. */
uint64_t net_now_ms(void);

#endif
