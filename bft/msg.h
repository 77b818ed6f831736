/*
 * msg.h: the messages replicas and clients exchange, as decoded structures.
 *
 * On the wire every message is one msgpack envelope (wire.h):
 *     [version, type, sender, payload, signature]
 * where payload is a msgpack array whose shape depends on type (listed below, field by field,
 * in wire order) and signature is Ed25519 by the sender over the domain tag "bft.env.v1" followed
 * by the encodings of version, type, sender and payload exactly as they stand in the frame.
 *
 * Decoded structures borrow: every struct bft_bytes points into the frame that was decoded, and
 * the arrays (items, prepares, ...) are allocated by the decoder within the configured limits and
 * released by wire_msg_free(). Embedded signed messages (requests inside a batch, checkpoints
 * inside a proof, prepares inside a certificate) travel as complete envelopes in msgpack bin
 * fields, so each keeps its own sender and signature and can be checked on its own.
 */
#ifndef BFT_MSG_H
#define BFT_MSG_H

#include <stdbool.h>

#include "bft/bft.h"
#include "crypto/cr_hash.h"
#include "crypto/cr_sign.h"

#define BFT_WIRE_VERSION 1u

enum bft_msg_type {
	BFT_MSG_REQUEST = 1,     /* client -> replicas */
	BFT_MSG_REPLY = 2,       /* replica -> client */
	BFT_MSG_CHECKPOINT = 3,  /* replica -> replicas, both protocols */
	BFT_MSG_PREPREPARE = 4,  /* PBFT */
	BFT_MSG_PREPARE = 5,
	BFT_MSG_COMMIT = 6,
	BFT_MSG_VIEWCHANGE = 7,
	BFT_MSG_NEWVIEW = 8,
	BFT_MSG_FETCH = 9,       /* state transfer / log catch-up request */
	BFT_MSG_STATE = 10,      /* one chunk of a checkpointed state */
	BFT_MSG_SESSION = 11,    /* client -> replicas: MAC session keys (below) */
	/* Honey Badger message types are numbered from 32 (hb.h). */
	BFT_MSG_HB_VAL = 32,     /* RBC: proposer -> replica `index`, its shard (HB §4.2) */
	BFT_MSG_HB_ECHO = 33,    /* RBC: replica -> all, its own shard */
	BFT_MSG_HB_READY = 34,   /* RBC: replica -> all, the root it is ready for */
	BFT_MSG_HB_BVAL = 35,    /* ABA: binary value (Mostefaoui-Moumen-Raynal) */
	BFT_MSG_HB_AUX = 36,     /* ABA: auxiliary value */
	BFT_MSG_HB_CONF = 37,    /* ABA: the set of values confirmed (the CONF round) */
	BFT_MSG_HB_TERM = 38,    /* ABA: the sender decided; stands for its later rounds */
	BFT_MSG_HB_COIN = 39,    /* ABA: a threshold coin share */
	BFT_MSG_HB_DEC = 40,     /* epoch: a TDH2 decryption share of one proposal */
	BFT_MSG_HB_CHECK = 41,   /* epoch: the sender's verdicts on the revealed requests */
	BFT_MSG_TYPE_MAX = 63
};

/* REQUEST payload: [reqid:uint, flags:uint, timestamp_ms:uint, op:bin]
 * sender is the client id. reqid grows per client (exactly-once, PBFT §4.1 "timestamp t").
 * timestamp_ms is the client's clock, informational only (never used by the state machine). */
#define BFT_REQ_READONLY 0x1u
#define BFT_REQ_FLAGS_ALL 0x1u
struct bft_request {
	uint64_t reqid;
	uint32_t flags;
	uint64_t timestamp_ms;
	struct bft_bytes op;
};

/* REPLY payload: [view:uint, client:uint, reqid:uint, result:bin]  (PBFT §4.1) */
struct bft_reply {
	bft_view view;
	bft_client_id client;
	uint64_t reqid;
	struct bft_bytes result;
};

/* CHECKPOINT payload: [seq:uint, state_digest:bin(32)]  (PBFT §4.3) */
struct bft_checkpoint {
	bft_seq seq;
	uint8_t digest[CR_DIGEST_BYTES];
};

/* PRE-PREPARE payload: [view:uint, seq:uint, digest:bin(32), time_ms:uint, requests:[bin...]]
 * requests are complete REQUEST envelopes; an empty list is the null request (PBFT §4.4).
 * digest = bft_batch_digest(time_ms, requests); time_ms is the primary's proposed batch time,
 * the only clock the state machine sees (DESIGN.md "The shared log"). */
struct bft_preprepare {
	bft_view view;
	bft_seq seq;
	uint8_t digest[CR_DIGEST_BYTES];
	uint64_t time_ms;
	struct bft_bytes *requests;
	uint32_t nrequests;
};

/* PREPARE and COMMIT payload: [view:uint, seq:uint, digest:bin(32)]  (PBFT §4.2) */
struct bft_phase {
	bft_view view;
	bft_seq seq;
	uint8_t digest[CR_DIGEST_BYTES];
};

/* A prepared certificate: [preprepare:bin, prepares:[bin...]] — the signed PRE-PREPARE and 2f
 * signed PREPAREs from distinct backups matching it (PBFT §4.4 "P component"). */
struct bft_pcert {
	struct bft_bytes preprepare;
	struct bft_bytes *prepares;
	uint32_t nprepares;
};

/* VIEW-CHANGE payload:
 *   [view:uint, stable_seq:uint, stable_digest:bin(32), proof:[bin...], prepared:[pcert...]]
 * view is the new view v+1; proof holds the 2f+1 signed CHECKPOINTs for stable_seq (empty when
 * stable_seq is 0, the initial state); prepared holds one certificate per sequence number above
 * stable_seq for which this replica prepared a request, the one from the highest view. */
struct bft_viewchange {
	bft_view view;
	bft_seq stable_seq;
	uint8_t stable_digest[CR_DIGEST_BYTES];
	struct bft_bytes *proof;
	uint32_t nproof;
	struct bft_pcert *prepared;
	uint32_t nprepared;
};

/* NEW-VIEW payload: [view:uint, viewchanges:[bin...], o:[[seq:uint, digest:bin(32)]...]]
 * viewchanges are 2f+1 signed VIEW-CHANGEs for view; o lists, in increasing seq, the pre-prepares
 * the new primary derived from them (PBFT §4.4): the batch digest of the highest-view prepared
 * certificate for each seq, or the null digest for a gap. Backups recompute o and reject a
 * NEW-VIEW whose o differs. */
struct bft_nv_entry {
	bft_seq seq;
	uint8_t digest[CR_DIGEST_BYTES];
};
struct bft_newview {
	bft_view view;
	struct bft_bytes *viewchanges;
	uint32_t nviewchanges;
	struct bft_nv_entry *o;
	uint32_t no;
};

/* FETCH payload: [kind:uint, seq:uint, index:uint]
 * kind 0: chunk `index` of the state at stable checkpoint seq; kind 1: the committed log
 * entries above seq (the reply is PRE-PREPAREs and COMMITs as the peer holds them). */
enum bft_fetch_kind { BFT_FETCH_STATE = 0, BFT_FETCH_LOG = 1 };
struct bft_fetch {
	uint32_t kind;
	bft_seq seq;
	uint32_t index;
};

/* STATE payload: [seq:uint, index:uint, nchunks:uint, data:bin, branch:[bin(32)...]]
 * One chunk of the snapshot for checkpoint seq, with its Merkle branch to the snapshot root
 * that the checkpoint's state digest commits to. */
struct bft_state_chunk {
	bft_seq seq;
	uint32_t index;
	uint32_t nchunks;
	struct bft_bytes data;
	struct bft_bytes *branch;
	uint32_t nbranch;
};

/* ---- MAC-authenticated client sessions (docs/PERFORMANCE.md, docs/WIRE.md) ------------- */

/* SESSION payload: [session:uint, boxes:bin(n_replicas * BFT_SESSION_BOX_BYTES)]
 * sender is the client id; signed by the client's Ed25519 key like a REQUEST. Box i is a fresh
 * 32-byte key sealed to replica i's X25519 key (crypto/cr_seal.h); replica i opens only its
 * own and installs it if session is above the number it holds for that client. boxes borrows
 * from the frame. */
#define BFT_SESSION_KEY_BYTES 32u
#define BFT_SESSION_BOX_BYTES 80u  /* CR_SEAL_OVERHEAD + BFT_SESSION_KEY_BYTES */
#define BFT_MAC_BYTES 16u          /* one authenticator entry (CR_MAC_SHORT_BYTES) */
struct bft_session {
	uint64_t session;
	struct bft_bytes boxes;
};

/* ---- Honey Badger (hb.h) ---------------------------------------------------------------- */

/* The longest Merkle branch an RBC shard may carry (cr_merkle: 4096 leaves) and the size of a
 * coin or decryption share (cr_coin / cr_tdh2 fixed encodings); hb.c checks both agree. */
#define BFT_HB_BRANCH_MAX 12u
#define BFT_HB_SHARE_BYTES 98u

/* HB_VAL and HB_ECHO payload:
 *   [epoch:uint, proposer:uint, root:bin(32), index:uint, shard:bin, branch:[bin(32)...]]
 * The shard is number `index` of the Reed-Solomon encoding of the proposer's (encrypted)
 * proposal, with its Merkle branch to root. A VAL goes from the proposer to replica `index`; an
 * ECHO from replica `index` to all. proposer and index are < n_replicas, the shard is not empty,
 * the branch has at most BFT_HB_BRANCH_MAX nodes. The branch is copied into the struct (no
 * allocation); the shard borrows from the frame. */
struct bft_hb_rbc {
	uint64_t epoch;
	uint32_t proposer;
	uint8_t root[CR_DIGEST_BYTES];
	uint32_t index;
	struct bft_bytes shard;
	uint8_t branch[BFT_HB_BRANCH_MAX][CR_DIGEST_BYTES];
	uint32_t nbranch;
};

/* HB_READY payload: [epoch:uint, proposer:uint, root:bin(32)] */
struct bft_hb_ready {
	uint64_t epoch;
	uint32_t proposer;
	uint8_t root[CR_DIGEST_BYTES];
};

/* HB_BVAL, HB_AUX, HB_CONF and HB_TERM payload: [epoch:uint, instance:uint, round:uint, value:uint]
 * instance (< n_replicas) is the proposer whose binary agreement this is. value is a bit (0 or 1)
 * for BVAL, AUX and TERM; for CONF it is a non-empty set of bits: 1 = {0}, 2 = {1}, 3 = {0, 1}.
 * TERM's round is the round in which the sender decided. */
#define BFT_HB_CONF_ALL 3u
struct bft_hb_aba {
	uint64_t epoch;
	uint32_t instance;
	uint32_t round;
	uint32_t value;
};

/* HB_COIN payload: [epoch:uint, instance:uint, round:uint, share:bin(98)]
 * A CKS coin share (cr_coin encoding) for the coin named (epoch, instance, round). */
struct bft_hb_coin {
	uint64_t epoch;
	uint32_t instance;
	uint32_t round;
	uint8_t share[BFT_HB_SHARE_BYTES];
};

/* HB_DEC payload: [epoch:uint, proposer:uint, share:bin(98)]
 * A TDH2 decryption share (cr_tdh2 encoding) of the proposal of `proposer` in `epoch`. */
struct bft_hb_dec {
	uint64_t epoch;
	uint32_t proposer;
	uint8_t share[BFT_HB_SHARE_BYTES];
};

/* HB_CHECK payload: [epoch:uint, list:bin(32), count:uint, known:bin, valid:bin]
 * The sender's verdicts on the client signatures of an epoch's candidate requests (hb.h
 * "Shared checks"): list is the digest of the candidate list (count entries, in digest order)
 * the sender built; bit i of known (LSB first) says it knows whether entry i is valid, bit i
 * of valid says it is. known and valid are exactly ceil(count / 8) bytes each, and no bit at
 * or above count is set; both borrow from the frame. */
struct bft_hb_check {
	uint64_t epoch;
	uint8_t list[CR_DIGEST_BYTES];
	uint32_t count;
	struct bft_bytes known;
	struct bft_bytes valid;
};

/* The replica whose share of the queue a request is (hb.h "Selection"); that replica and the f
 * after it check the request's signature for everybody ("Shared checks"), and a Honey Badger
 * client sends the request to those f + 1 (client.h BFT_SEND_CHECKERS). */
static inline uint32_t bft_hb_owner(uint32_t n, uint64_t client, uint64_t reqid)
{
	return (uint32_t)((client % n + reqid % n) % n);
}

/** A decoded message: the envelope fields and the typed payload. */
struct bft_msg {
	uint32_t version;
	enum bft_msg_type type;
	uint64_t sender;            /* replica id, or client id for REQUEST */
	uint8_t sig[CR_SIG_BYTES];
	struct bft_bytes frame;     /* the whole envelope */
	struct bft_bytes signed_part; /* what the signature covers, after the domain tag */
	/* The MAC authenticator, outside the signed part (docs/WIRE.md "Authenticators"). A
	 * REQUEST may carry a sixth envelope element [session, macs] with one BFT_MAC_BYTES entry
	 * per replica (auth_len = n_replicas * 16) next to its signature, or with no entry at all
	 * (auth_len 0: the session authenticates replies only, every replica checks the
	 * request's signature). A REPLY in MAC form
	 * carries [session, mac] (auth_len 16) in place of the signature, and then sig is zero and
	 * wire_verify fails closed. auth_macs borrows from the frame (or from the caller when
	 * encoding). */
	bool has_auth;
	uint64_t auth_session;
	const uint8_t *auth_macs;
	uint32_t auth_len;
	union {
		struct bft_request request;
		struct bft_reply reply;
		struct bft_checkpoint checkpoint;
		struct bft_preprepare preprepare;
		struct bft_phase phase;       /* PREPARE, COMMIT */
		struct bft_viewchange viewchange;
		struct bft_newview newview;
		struct bft_fetch fetch;
		struct bft_state_chunk state;
		struct bft_session session;
		struct bft_hb_rbc hb_rbc;     /* HB_VAL, HB_ECHO */
		struct bft_hb_ready hb_ready;
		struct bft_hb_aba hb_aba;     /* HB_BVAL, HB_AUX, HB_CONF, HB_TERM */
		struct bft_hb_coin hb_coin;
		struct bft_hb_dec hb_dec;
		struct bft_hb_check hb_check;
	} u;
};

#endif
