/*
 * keygen: what bftkeygen does, as functions tests can call without running the program.
 *
 * A key generation writes, into one directory: an Ed25519 secret key file per replica and per
 * client, a coin share and an encryption share per replica (two independent Shamir key sets,
 * threshold f+1, dealt by cr_dealer_deal_random), all 0600 through cr_keyfile; and last the
 * cluster.ini that lists the public halves (keys/README.md describes every file). cluster.ini
 * comes last so that its presence means the key files it names are all there.
 *
 * The key generator is the trusted dealer of DESIGN.md's threshold cryptography: it sees every
 * share. Run it on a machine you trust and copy each replica's files to that replica only.
 */
#ifndef NODE_KEYGEN_H
#define NODE_KEYGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/config.h"

#define NODE_KEYGEN_UNSET      UINT32_MAX /* faults / replicas not given */
#define NODE_KEYGEN_BASE_PORT  7100u
#define NODE_KEYGEN_HOST       "127.0.0.1"
#define NODE_KEYGEN_PORTS_PER_REPLICA 3u  /* peer P+3i, client P+3i+1, status P+3i+2 */

struct node_keygen_opts {
	uint32_t faults;             /* F, or NODE_KEYGEN_UNSET (then (N-1)/3) */
	uint32_t replicas;           /* N, or NODE_KEYGEN_UNSET (then 3F+1) */
	uint32_t clients;            /* C, 0..NODE_CONFIG_CLIENTS_MAX */
	const char *out_dir;         /* DIR (borrowed) */
	const char *host;            /* the host every endpoint uses (borrowed) */
	uint32_t base_port;          /* P */
	enum node_protocol protocol;
	bool force;                  /* write into a non-empty DIR, replacing our files */
};

/** Fills *o with the defaults: no faults/replicas given, 0 clients, no out_dir, host 127.0.0.1,
 *  base port 7100, pbft, no force. */
void node_keygen_opts_default(struct node_keygen_opts *o);

/** Checks the options that need no file system and works out n and f: one of faults and
 *  replicas given, node_config_check_nf(n, f), clients in range, out_dir given, host valid, and
 *  every port P .. P+3n-1 within 1..65535. Pure. 0 with *n and *f written, or -1 with a message
 *  (without the program name) in err[0..errlen). */
int node_keygen_resolve(const struct node_keygen_opts *o, uint32_t *n, uint32_t *f, char *err,
			size_t errlen) BFT_WUR;

/** The public material cluster.ini lists. */
struct node_keygen_public {
	uint32_t n, f, clients;
	const uint8_t (*replica_pks)[CR_PK_BYTES];  /* n entries (borrowed) */
	const uint8_t (*client_pks)[CR_PK_BYTES];   /* clients entries (borrowed; NULL when 0) */
	const struct cr_thresh_pubkey *coin;        /* borrowed */
	const struct cr_thresh_pubkey *enc;         /* borrowed */
};

/** Formats the cluster.ini for o (host, base_port, protocol) and pub, with a comment on every
 *  key, into *out: a NUL-terminated malloc'd string the caller frees. Pure. 0, or -1 with a
 *  message (out of memory, a key set that does not encode). */
int node_keygen_format_ini(const struct node_keygen_opts *o, const struct node_keygen_public *pub,
			   char **out, char *err, size_t errlen) BFT_WUR;

/**
 * Runs a whole key generation for o (see the top of this file). out_dir is created (mode 0700)
 * when missing; an existing one must be empty, hidden files and README.md aside, unless o->force,
 * which replaces the files a key generation writes and leaves any other file alone. Prints
 * nothing. 0, or -1 with a message (without the program name); on failure the files this run
 * had written are removed again, except those it replaced under force (their old contents are
 * gone).
 */
int node_keygen_run(const struct node_keygen_opts *o, char *err, size_t errlen) BFT_WUR;

#endif
