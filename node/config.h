/*
 * config: the cluster configuration file, cluster.ini (format in keys/README.md).
 *
 * Every replica and client of a cluster reads the same cluster.ini: the cluster's parameters in
 * [cluster], one [replica N] and one [client N] section per member (addresses, public key, where
 * its secret key files are), and the threshold public key sets in [threshold]. It holds no secret:
 * a replica's secret identity and threshold shares are in the key files it names, read separately
 * with node_config_load_replica_keys().
 *
 * Parsing is strict, because a typo in a cluster's configuration is a safety problem (a replica
 * that silently runs with a different n or f than its peers breaks the quorum arithmetic): an
 * unknown section or key, a duplicate, a bad value, a missing required field, n < 3f+1 — each is
 * an error whose message names the file and, where there is one, the line
 * ("cluster.ini:17: unknown key 'windw' in [cluster]"). Nothing is silently ignored or clamped.
 *
 * The parser itself is pure (node_config_parse works on a string and touches no file), so every
 * rule can be tested without I/O; node_config_load adds reading the file.
 */
#ifndef NODE_CONFIG_H
#define NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bft/bft.h"
#include "bft/wire.h"
#include "crypto/cr_dealer.h"
#include "crypto/cr_secret.h"
#include "crypto/cr_sign.h"

#define NODE_CONFIG_REPLICAS_MAX 64u     /* = CR_THRESH_N_MAX: the threshold key sets' limit */
#define NODE_CONFIG_CLIENTS_MAX  4096u   /* [client 0] .. [client 4095] */
#define NODE_CONFIG_FILE_MAX     (4u << 20) /* bytes of cluster.ini, at most */
#define NODE_CONFIG_PATH_MAX     4095u   /* bytes of a key file path, after joining */
#define NODE_CONFIG_ERR_BYTES    1024u   /* an err buffer this size never truncates a message
					  * whose paths are under 200 bytes */
#define NODE_HOST_MAX            253u    /* bytes of a host name (DNS limit) */

/* Room the frame limit must leave around the largest batch, op or state chunk for the envelope,
 * the signature and the other fields of the message that carries it. */
#define NODE_CONFIG_FRAME_SLACK  4096u

/* Defaults of the [cluster] keys that have one (keys/README.md lists them with their ranges).
 * The protocol-facing ones are those of bft_log_config_default() and pbft_config_default(). */
#define NODE_CFG_DEFAULT_CHECKPOINT_INTERVAL 256u
#define NODE_CFG_DEFAULT_WINDOW              1024u
#define NODE_CFG_DEFAULT_BATCH_MAX_REQUESTS  256u
#define NODE_CFG_DEFAULT_BATCH_MAX_BYTES     (256u << 10)
#define NODE_CFG_DEFAULT_BATCH_DELAY_MS      20u
#define NODE_CFG_DEFAULT_BATCH_INFLIGHT      1u
#define NODE_CFG_DEFAULT_CHECK_WAIT_MS       100u
#define NODE_CFG_DEFAULT_VIEW_TIMEOUT_MS     1000u
#define NODE_CFG_DEFAULT_FRAME_MAX           (16u << 20)
#define NODE_CFG_DEFAULT_OP_MAX              ((64u << 10) + 256u)
#define NODE_CFG_DEFAULT_STATE_CHUNK_BYTES   (256u << 10)
#define NODE_CFG_DEFAULT_HB_BATCH_SIZE       1024u

enum node_protocol {
	NODE_PROTOCOL_PBFT = 1, /* "pbft": Castro-Liskov, partially synchronous (the default) */
	NODE_PROTOCOL_HBBFT,    /* "hbbft": Honey Badger BFT, asynchronous */
};

enum node_fsync {
	NODE_FSYNC_ALWAYS = 1, /* "always": fsync every record before what depends on it (default) */
	NODE_FSYNC_BATCH,      /* "batch": one fsync per committed batch */
	NODE_FSYNC_NEVER,      /* "never": leave it to the OS (tests, benchmarks; unsafe) */
};

/** The name of a protocol as cluster.ini spells it ("pbft"), or NULL for an unknown value. */
const char *node_protocol_name(enum node_protocol p);

/** The name of an fsync policy as cluster.ini spells it ("always"), or NULL. */
const char *node_fsync_name(enum node_fsync f);

/** A network address: host (a name, an IPv4 address, or an IPv6 address without its brackets)
 *  and port. */
struct node_endpoint {
	char host[NODE_HOST_MAX + 1];
	uint16_t port; /* 1..65535; 0 when the endpoint is not configured */
};

/** Parses "host:port" (IPv6 as "[::1]:7100") into *ep. Pure. 0, or -1 with a message in
 *  err[0..errlen) (no file or line in it: the caller adds those) and *ep untouched, when the
 *  text is not host:port, the host is empty, too long or holds a character no host name or
 *  address has, or the port is not a number in 1..65535. */
int node_endpoint_parse(const char *text, struct node_endpoint *ep, char *err,
			size_t errlen) BFT_WUR;

/** Formats *ep as node_endpoint_parse reads it ("127.0.0.1:7100", "[::1]:7100") into
 *  buf[0..buflen), NUL-terminated and truncated to fit; returns buf. */
const char *node_endpoint_format(const struct node_endpoint *ep, char *buf, size_t buflen);

/** Checks that n replicas tolerating f faults is a configuration the protocols can run: n >= 3f+1,
 *  n >= 4, n <= NODE_CONFIG_REPLICAS_MAX, and f = (n-1)/3 exactly (the protocol cores derive f
 *  from n with bft_f(); a different f here would mean quorums other than the ones the operator
 *  wrote down). Pure. 0, or -1 with a message that says why, without file or program name
 *  ("5 replicas cannot tolerate 2 faults: Byzantine agreement needs n >= 3f+1 = 7"). */
int node_config_check_nf(uint32_t n, uint32_t f, char *err, size_t errlen) BFT_WUR;

/** One [replica N] section. */
struct node_replica_config {
	bft_replica_id id;            /* N */
	struct node_endpoint peer;    /* replica-to-replica traffic */
	struct node_endpoint client;  /* client requests and replies */
	struct node_endpoint status;  /* HTTP metrics and status; port 0 when not configured */
	uint8_t public_key[CR_PK_BYTES];
	char *key_file;               /* its Ed25519 secret key file, resolved against the ini's
				       * directory (owned by the config) */
	char *coin_share_file;        /* its threshold coin share (resolved, owned) */
	char *enc_share_file;         /* its threshold decryption share (resolved, owned) */
};

/** One [client N] section. */
struct node_client_config {
	bft_client_id id;             /* N */
	uint8_t public_key[CR_PK_BYTES];
	char *key_file;               /* resolved, owned */
};

/** Everything cluster.ini says, validated. Filled by node_config_load / node_config_parse and
 *  released by node_config_free; the arrays and strings belong to it. */
struct node_config {
	char *path;                     /* the file it was read from (or the name given to
					 * node_config_parse), for messages */
	/* [cluster] */
	uint32_t n;                     /* replicas */
	uint32_t f;                     /* faults tolerated, = (n-1)/3 */
	enum node_protocol protocol;
	uint32_t checkpoint_interval;   /* K: a checkpoint every K log positions */
	uint32_t window;                /* W: positions (low, low + W] may be ordered; W >= K */
	uint32_t batch_max_requests;    /* a batch closes at this many requests, */
	uint32_t batch_max_bytes;       /* or this many bytes of requests, */
	uint32_t batch_delay_ms;        /* or when its oldest request has waited this long */
	uint32_t batch_inflight;        /* PBFT: batches cut at once while fewer are in flight
					 * (pbft_config.batch_inflight); 0: off */
	uint32_t check_wait_ms;         /* shared request checks: PBFT, a backup's wait for f
					 * vouchers before it checks a batch itself
					 * (pbft_config.check_wait_ms); Honey Badger, a replica's
					 * wait for f+1 matching verdicts (hb_config.check_wait_ms);
					 * 0: off */
	uint32_t view_timeout_ms;       /* PBFT: a backup's wait for a pending request */
	uint32_t frame_max;             /* bytes of one message on the wire */
	uint32_t op_max;                /* bytes of one request's operation */
	bool open_clients;              /* accept requests from clients not listed here */
	uint32_t open_clients_max;      /* ... at most this many of them (they register, log.h) */
	enum node_fsync fsync;
	uint32_t state_chunk_bytes;     /* state transfer chunk size */
	uint32_t hb_batch_size;         /* Honey Badger: B, requests per epoch over all proposers */
	bool client_sessions;           /* accept MAC-authenticated client sessions (default true;
	                                 * docs/PERFORMANCE.md) */
	bool unordered_reads;           /* PBFT answers read-only requests without ordering them,
	                                 * and every PBFT request then completes on 2f+1 replies
	                                 * (default true); false: reads are ordered like writes and
	                                 * every request completes on f+1 (bft/client.h) */
	/* [replica 0] .. [replica n-1] */
	struct node_replica_config *replicas;      /* n entries, index = id */
	uint8_t (*replica_pks)[CR_PK_BYTES];       /* n entries: the public keys again, contiguous,
						    * as bft_log_config.replica_pks wants them */
	/* [client 0] .. [client nclients-1] */
	uint32_t nclients;
	struct node_client_config *clients;        /* nclients entries (NULL when 0) */
	uint8_t (*client_pks)[CR_PK_BYTES];        /* nclients entries, contiguous */
	/* [threshold] */
	bool has_threshold;             /* the section was present (required for hbbft) */
	struct cr_thresh_pubkey coin_pk; /* common coin key set, threshold f+1, checked */
	struct cr_thresh_pubkey enc_pk;  /* threshold encryption key set, threshold f+1, checked */
};

/** Sets the [cluster] defaults in *c and clears everything else (n, f, sections). */
void node_config_defaults(struct node_config *c);

/**
 * Parses cluster.ini text[0..len) (untrusted; need not be NUL-terminated). name labels messages
 * ("cluster.ini" gives "cluster.ini:17: ..."); basedir is the directory relative key file paths
 * are resolved against (NULL for "."). Pure: reads no file (the threshold key sets are checked
 * here, which costs up to ~100 ms at n = 64).
 * On success *c is filled (the caller frees it with node_config_free) and 0 is returned. On
 * failure -1, a one-line message in err[0..errlen) naming name and the line of the first problem
 * in file order, and *c untouched.
 */
int node_config_parse(struct node_config *c, const char *name, const char *text, size_t len,
		      const char *basedir, char *err, size_t errlen) BFT_WUR;

/** Reads the file at path (at most NODE_CONFIG_FILE_MAX bytes) and parses it as
 *  node_config_parse does, with path as the name and its directory as basedir. Same contract;
 *  also fails when the file cannot be read. */
int node_config_load(struct node_config *c, const char *path, char *err,
		     size_t errlen) BFT_WUR;

/** Releases what *c owns and zeroes it; safe on a zeroed or already-freed config. */
void node_config_free(struct node_config *c);

/** Fills *l for this cluster: wire_limits_default() for n replicas and nclients clients, then
 *  frame_max, op_max, batch_max (the larger of batch_max_requests and, for hbbft,
 *  hb_batch_size) and chunk_max (state_chunk_bytes) from the config. */
void node_config_wire_limits(const struct node_config *c, struct wire_limits *l);
/** The client id space: the listed clients, then with open_clients the open slots and the
 *  registrar id (bft/log.h "Open clients"). */
uint64_t node_config_client_ids(const struct node_config *c);

/** A replica's secrets. The identity's secret half and both shares are in sodium_malloc memory,
 *  read-only; node_replica_keys_free wipes them. */
struct node_replica_keys {
	bft_replica_id id;
	struct cr_identity ident;  /* its Ed25519 identity, matching its public_key */
	struct cr_secret coin;     /* a struct cr_thresh_share (index id+1); empty unless hbbft */
	struct cr_secret enc;      /* likewise for threshold decryption */
	struct cr_secret link;     /* 2 x n link keys (cr_link_key): n x K(id->j), then n x
	                            * K(j->id); zero at [id]. The transport authenticates mesh
	                            * connections with them (net.h). */
};

/** The link keys in *k: out[j] = K(id->j), in[j] = K(j->id), 32 bytes each. Borrowed. */
const uint8_t *node_replica_keys_link_out(const struct node_replica_keys *k);
const uint8_t *node_replica_keys_link_in(const struct node_replica_keys *k, uint32_t n);

/**
 * Loads replica id's secret identity from its key_file and, when the protocol is hbbft, its coin
 * and encryption shares, into *k (empty or uninitialised). Checks that each file belongs to
 * "replica id", that the identity's public key is the one the config lists, and that each share
 * is the one the [threshold] key set expects (cr_thresh_share_check). Key files readable by group
 * or others are refused (cr_keyfile). 0, or -1 with a message naming the config, the section and
 * the file, and *k left empty. Free with node_replica_keys_free.
 */
int node_config_load_replica_keys(const struct node_config *c, bft_replica_id id,
				  struct node_replica_keys *k, char *err, size_t errlen) BFT_WUR;

/** Wipes and releases *k; safe on an empty or already-freed one. */
void node_replica_keys_free(struct node_replica_keys *k);

/** The coin share in *k, or NULL when none was loaded. Borrowed from *k. */
const struct cr_thresh_share *node_replica_keys_coin(const struct node_replica_keys *k);

/** The encryption share in *k, or NULL when none was loaded. Borrowed from *k. */
const struct cr_thresh_share *node_replica_keys_enc(const struct node_replica_keys *k);

/** Loads client id's secret identity from its key_file into *ident (empty or uninitialised; free
 *  with cr_identity_free), checking owner and public key as node_config_load_replica_keys does.
 *  0, or -1 with a message and *ident left empty. */
int node_config_load_client_identity(const struct node_config *c, bft_client_id id,
				     struct cr_identity *ident, char *err, size_t errlen) BFT_WUR;

#endif
