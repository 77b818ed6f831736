/*
 * log: the shared, protocol-independent replicated log (DESIGN.md "The shared log").
 *
 * PBFT sequence numbers and Honey Badger epochs both map to positions of this log. It owns:
 *   - the queue of client requests waiting to be ordered, and batching by count, bytes and time;
 *   - execution in position order through the application, exactly once per (client, request id),
 *     with each client's last reply cached and resent on retransmission;
 *   - checkpoints every K positions: the state is serialized (client table + application
 *     snapshot), cut into chunks under a Merkle tree, and the signed CHECKPOINT carries
 *     digest = H("bft.ckpt", seq, total length, chunk count, Merkle root); 2f+1 matching signed
 *     CHECKPOINTs make it stable (PBFT §4.3), and that set is kept as the proof a lagging
 *     replica checks a state transfer against;
 *   - the watermarks: low = last stable checkpoint, high = low + W; garbage collection below low.
 * The engine decides the order; the log does everything after that.
 */
#ifndef BFT_LOG_H
#define BFT_LOG_H

#include <stdbool.h>

#include "bft/engine.h"

/* Per client, the log remembers which of its last BFT_LOG_CLIENT_WINDOW request ids were
 * executed, with their results. A client must keep every request in flight within that window
 * (bft_client_submit enforces it): an older retransmission could no longer be answered. */
#define BFT_LOG_CLIENT_WINDOW 32u

struct bft_log_config {
	uint32_t n;                       /* replicas */
	bft_replica_id self;
	const struct cr_identity *id;     /* borrowed: signs CHECKPOINTs and REPLYs */
	const uint8_t (*replica_pks)[CR_PK_BYTES]; /* borrowed, n entries */
	const uint8_t (*client_pks)[CR_PK_BYTES];  /* borrowed: the listed clients' keys, entries
	                                            * limits.n_clients, or n_clients - open_clients - 1
	                                            * when open_clients > 0 */
	uint32_t open_clients;            /* slots for clients that register at run time (0: none) */
	struct wire_limits limits;
	struct bft_app app;
	uint32_t checkpoint_interval;     /* K: a checkpoint every K positions */
	uint32_t window;                  /* W: positions in (low, low + W] may be ordered; W >= K */
	uint32_t batch_max_requests;      /* a batch closes at this many requests ... */
	uint32_t batch_max_bytes;         /* ... or this many bytes of request envelopes ... */
	uint32_t batch_delay_ms;          /* ... or when its oldest request has waited this long */
	uint32_t pending_max;             /* requests waiting to be ordered, at most */
	uint32_t state_chunk_bytes;       /* state transfer chunk size (<= limits.chunk_max) */
};

/*
 * Open clients. A cluster may accept clients whose keys are not in its configuration
 * (open_clients > 0). Such a client first registers: it sends a REQUEST whose sender is the
 * registrar id (limits.n_clients - 1), whose op is its 32-byte public key, whose reqid is
 * bft_register_reqid(pk), and which is signed by that key (proof of possession). Registration
 * is ordered like any request, so every correct replica assigns the same id: the next free
 * open slot, in log order, ids n_static .. n_static + open_clients - 1. Registering a key
 * again returns the id it already has; once the slots are used up the result says so. The
 * result is BFT_REGISTER_RESULT_BYTES: status (0 registered, 1 no free slot), then the id as a
 * little-endian u64. The REPLY names the registrar as client and goes to the virtual client
 * destination bft_register_route(reqid), which the node binds to the connection the
 * registration came on. The slot table is part of the checkpointed state.
 *
 * A request from an open id is checked against the key registered for that id. Whether an id
 * is registered depends on what was executed, and replicas validate a proposed batch at
 * different points of their execution; so a batch entry from an open id not yet registered is
 * accepted by bft_log_check_batch and its signature is checked at execution instead, where
 * every replica sees the same registrations: one that fails there is skipped by all, so a
 * faulty client or primary cannot make correct replicas disagree on a batch (the "big MAC"
 * attack of Aardvark, Clement et al. NSDI 2009 §3).
 */
#define BFT_REGISTER_RESULT_BYTES 9u
#define BFT_REGISTER_OK 0u
#define BFT_REGISTER_FULL 1u
/** The request id a registration of pk must carry: 63 bits of a tagged hash, never 0. */
uint64_t bft_register_reqid(const uint8_t pk[CR_PK_BYTES]);
/** The destination of the REPLY to registration reqid (top bit set: not a client id). */
static inline uint64_t bft_register_route(uint64_t reqid)
{
	return (UINT64_C(1) << 63) | reqid;
}

/** Sensible defaults (K=64, W=256, batches of 256 requests / 256 KiB / 2 ms, 65536 pending). */
void bft_log_config_default(struct bft_log_config *c);

struct bft_log;

/** Allocates a log at position 0 (the initial state, stable by definition). */
enum bft_err bft_log_new(struct bft_log **out, const struct bft_log_config *cfg) BFT_WUR;
void bft_log_free(struct bft_log *lg);

/* --- Requests and batching -------------------------------------------------------------- */

/**
 * Offers a client REQUEST (envelope signature already checked by the caller). Outcomes:
 *   BFT_OK      queued for ordering (a copy is kept);
 *   BFT_EDUP    already queued, or the client's last executed request: for the latter the
 *               cached reply is re-sent through *out (PBFT §4.1);
 *   BFT_ESTALE  older than the client's last executed request: ignored;
 *   BFT_EFULL   the queue is at pending_max; BFT_ESENDER unknown client.
 */
enum bft_err bft_log_submit(struct bft_log *lg, const struct bft_msg *req, uint64_t now_ms,
			    struct bft_out *out) BFT_WUR;

/**
 * The read-only fast path (PBFT TOCS §5.1.3): runs a READONLY request through app.query against
 * the state as executed so far, without ordering it or recording it, and sends the signed REPLY.
 * The client accepts only 2f+1 matching replies, so no f replicas can pass off a stale or false
 * value. BFT_ESENDER for an unknown client, BFT_EINVAL when the request is not read-only or the
 * application has no query function.
 */
enum bft_err bft_log_query(struct bft_log *lg, const struct bft_msg *req, bft_view view,
			   struct bft_out *out) BFT_WUR;

/**
 * The key that must have signed REQUEST req: a listed client's key, an open client's registered
 * key, or for a registration the key it registers. NULL when the sender is not a client the
 * cluster knows now (an unregistered open slot, or a registration whose op is not a key).
 */
const uint8_t *bft_log_request_pk(const struct bft_log *lg, const struct bft_msg *req);
/** The registrar's client id; UINT64_MAX when the cluster has no open clients. */
bft_client_id bft_log_registrar(const struct bft_log *lg);
/** Open clients registered so far. */
uint32_t bft_log_open_registered(const struct bft_log *lg);

/** Requests queued and not yet ordered. */
uint32_t bft_log_pending(const struct bft_log *lg);
/** The time at which the queued requests form a batch by the time rule: false when nothing
 *  unproposed is queued. */
bool bft_log_batch_deadline(const struct bft_log *lg, uint64_t *deadline_ms);
/** True when a batch should be cut now (count, bytes or time rule). */
bool bft_log_batch_ready(const struct bft_log *lg, uint64_t now_ms);
/** The arrival time of the oldest queued request, for request timers; false when none. */
bool bft_log_oldest_pending(const struct bft_log *lg, uint64_t *arrival_ms);

/**
 * Cuts a batch from the head of the queue (at most the configured count and bytes), skipping
 * requests already executed or already proposed (marked with bft_log_mark_proposed).
 * *reqs receives a malloc'd array of borrowed envelopes, valid until the next call that changes
 * the queue; free the array (not the bytes) with free(). The requests are marked as proposed.
 */
enum bft_err bft_log_batch_take(struct bft_log *lg, struct bft_bytes **reqs, uint32_t *n) BFT_WUR;

/** Marks the queued copies of these requests as proposed (a backup saw them in a PRE-PREPARE):
 *  the request timers of log.h users look at unproposed requests only. Unknown ones are ignored. */
void bft_log_mark_proposed(struct bft_log *lg, const struct bft_bytes *reqs, uint32_t n);

/** The arrival time of the oldest request not yet proposed; false when none. */
bool bft_log_oldest_unproposed(const struct bft_log *lg, uint64_t *arrival_ms);

/** Forgets every "proposed" mark (a new view: whatever was not committed may be proposed again). */
void bft_log_unmark_all(struct bft_log *lg);

/**
 * Validates the requests of a proposed batch (PRE-PREPARE or an agreed Honey Badger set): each
 * must decode as a REQUEST from a known client with a valid signature, and no (client, reqid)
 * may appear twice. BFT_OK, BFT_EMALFORMED, BFT_ESENDER, BFT_EBADSIG or BFT_EDUP. Signatures
 * only, never MACs: Honey Badger decides validity at each replica after decryption and must
 * decide alike everywhere (bft_log_check_requests has the MAC form for PBFT).
 */
/**
 * Honey Badger's shared checks (hb.h): what the validity of one proposed request rests on,
 * without verifying any signature; req is decoded, its frame the envelope as proposed. BFT_OK
 * with *need_sig false: valid (this replica queued exactly these bytes and verified them on
 * arrival, or an open slot not yet registered, checked at execution as above); BFT_OK with
 * *need_sig true: valid exactly when the client's signature verifies, which
 * bft_log_check_batch(lg, &req->frame, 1) decides; BFT_EMALFORMED (not a REQUEST, or a
 * registration without its key): invalid, alike at every replica at the same log position.
 */
enum bft_err bft_log_precheck(const struct bft_log *lg, const struct bft_msg *req,
			      bool *need_sig) BFT_WUR;

enum bft_err bft_log_check_batch(const struct bft_log *lg, const struct bft_bytes *reqs,
				 uint32_t n) BFT_WUR;

/*
 * How bft_log_check_requests authenticates each request (beyond decoding, a known client and
 * no duplicate):
 *   BFT_CHECK_SIGNATURE  the client's Ed25519 signature (Honey Badger, and the default);
 *   BFT_CHECK_MAC        a PBFT backup checking a PRE-PREPARE: the authenticator entry for this
 *                        replica under the session it holds for the client, else the signature
 *                        (a good signature is accepted whatever the MACs say, a bad one refuses
 *                        the batch as under SIGNATURE);
 *   BFT_CHECK_CERTIFIED  none: for batches whose validity a quorum already established (a
 *                        committed batch replayed from our own write-ahead log).
 */
/* BFT_CHECK_MAC_ONLY: as BFT_CHECK_MAC, but no signature is verified: the check stops with
 * BFT_ESTATE at the first request it could accept only by its signature (PBFT's shared batch
 * checks try the cheap way first, pbft.c). */
enum bft_check_auth {
	BFT_CHECK_SIGNATURE = 0,
	BFT_CHECK_MAC = 1,
	BFT_CHECK_CERTIFIED = 2,
	BFT_CHECK_MAC_ONLY = 3
};

/** As bft_log_check_batch, authenticating as `how` says, and counting MAC outcomes in the
 *  session statistics. Same results. */
enum bft_err bft_log_check_requests(struct bft_log *lg, const struct bft_bytes *reqs, uint32_t n,
				    enum bft_check_auth how) BFT_WUR;

/**
 * Authenticates a read-only request a client sent to this replica (PBFT's read-only path, TOCS
 * §5.1.3): by this replica's MAC entry when the request names the session held for the client,
 * otherwise by the signature under pk. Each replica answers a read on its own and only to the
 * client, so its own MAC entry is all it needs: nobody but the client and this replica knows
 * the key. BFT_OK, BFT_EBADSIG, or BFT_EINVAL for a request that is not read-only (those are
 * ordered, and ordering needs the signature: the primary's check is what makes the MAC path of
 * bft_log_check_requests safe). Counts MAC outcomes like bft_log_check_requests.
 */
enum bft_err bft_log_auth_read(struct bft_log *lg, const struct bft_msg *req,
			       const uint8_t pk[CR_PK_BYTES]) BFT_WUR;

/* --- MAC-authenticated client sessions (docs/PERFORMANCE.md) ---------------------------------
 *
 * A client may set up a session: one SESSION message (msg.h), signed by the client, carrying a
 * fresh key for each replica sealed to that replica. The node checks it with
 * bft_log_session_check, opens its own box (the pure core does no public-key encryption) and
 * hands the key to bft_log_session_install. Afterwards requests naming that session are
 * accepted in PRE-PREPAREs by their MAC (BFT_CHECK_MAC), and replies to them are MAC'd instead
 * of signed. Sessions are local to this replica: not persisted, not in checkpoints, gone after
 * a restart, and then everything falls back to signatures until the client sends SESSION again.
 * Keys are kept in guarded memory (cr_secret) and never leave the log.
 */
struct bft_log_session_stats {
	uint64_t installed;     /* sessions installed */
	uint64_t mac_ok;        /* batch requests accepted by their MAC, no signature checked */
	uint64_t mac_fallback;  /* an authenticator for a session we do not hold, or one with no
	                         * MACs (a replies-only session): signature used */
	uint64_t mac_bad;       /* our session, but our MAC entry was wrong: signature used */
	uint64_t replies_mac;   /* replies sent with a MAC instead of a signature */
};

/** The key a listed or registered client signs with; NULL for the registrar, an unregistered
 *  open slot or an id out of range. */
const uint8_t *bft_log_client_pk(const struct bft_log *lg, bft_client_id c);

/**
 * Checks a decoded SESSION before its box is opened: BFT_ETYPE not a SESSION; BFT_ESENDER the
 * sender is not a listed or registered client (the registrar never has sessions); BFT_EFIELD
 * not one box per replica; BFT_ESTALE a session number at or below the one held (a replay) or
 * one refused (bft_log_session_refused);
 * BFT_EBADSIG the client's signature does not verify. BFT_OK: open box `self` and install.
 */
enum bft_err bft_log_session_check(const struct bft_log *lg, const struct bft_msg *m) BFT_WUR;

/**
 * Installs key (BFT_SESSION_KEY_BYTES, copied into guarded memory; the caller wipes its copy)
 * as this replica's key of `session` for client. BFT_ESENDER for a client that has no key (as
 * bft_log_client_pk), BFT_ESTALE when session is not above the one held (0 never is),
 * BFT_ENOMEM.
 */
enum bft_err bft_log_session_install(struct bft_log *lg, bft_client_id client, uint64_t session,
				     const uint8_t key[BFT_SESSION_KEY_BYTES]) BFT_WUR;

/**
 * Records that client's SESSION `session`, checked by bft_log_session_check, was refused (its
 * box for this replica did not open): from now on it and any lower number are BFT_ESTALE at
 * once, so replaying it costs a comparison. Memory only, like sessions.
 */
void bft_log_session_refused(struct bft_log *lg, bft_client_id client, uint64_t session);

/** The session number held for client, 0 when none. */
uint64_t bft_log_session(const struct bft_log *lg, bft_client_id client);

void bft_log_session_stats(const struct bft_log *lg, struct bft_log_session_stats *st);

/* --- Execution --------------------------------------------------------------------------- */

/**
 * Executes the batch at position seq, which must be last_executed + 1 (BFT_ESTATE otherwise).
 * The requests must have passed bft_log_check_batch. Each request newer than its client's last
 * executed one is executed and answered with a signed REPLY carrying view; an already-executed
 * one is skipped (exactly-once). Appends a BFT_REC_COMMIT record, a committed entry and, on a
 * checkpoint position, the signed CHECKPOINT to all replicas.
 */
enum bft_err bft_log_execute(struct bft_log *lg, bft_seq seq, bft_view view, uint64_t time_ms,
			     const struct bft_bytes *reqs, uint32_t n, struct bft_out *out) BFT_WUR;

bft_seq bft_log_last_executed(const struct bft_log *lg);
/**
 * Appends our own signed CHECKPOINTs above the stable checkpoint, to all: each is sent once when
 * taken, and one lost on the way (a partition) would otherwise leave that checkpoint short of
 * 2f+1 votes for good, and the window full once the others moved up to it. The engine calls it
 * when it retransmits for lack of progress (PBFT TOCS §5.2 retransmits through status messages).
 */
enum bft_err bft_log_resend_checkpoints(const struct bft_log *lg, struct bft_out *out) BFT_WUR;

/** The low watermark h: the last stable checkpoint. */
bft_seq bft_log_low(const struct bft_log *lg);
/** The high watermark H = h + W. */
bft_seq bft_log_high(const struct bft_log *lg);
/** True when low < seq <= high. */
bool bft_log_in_window(const struct bft_log *lg, bft_seq seq);

/* --- Checkpoints ------------------------------------------------------------------------- */

/**
 * Takes a verified CHECKPOINT from a replica. Returns BFT_OK (recorded), BFT_ESTALE (at or
 * below the stable checkpoint), BFT_ESEQ (not a multiple of K, or beyond any position we would
 * keep), BFT_ECONFLICT (that replica already signed another digest for seq). When 2f+1 agree
 * the checkpoint becomes stable: the proof is kept, entries below are collected, and *out gets
 * a BFT_REC_CHECKPOINT record. If that seq is above what we executed, the log is behind and
 * bft_log_behind() reports the target for state transfer.
 */
enum bft_err bft_log_on_checkpoint(struct bft_log *lg, const struct bft_msg *m,
				   struct bft_out *out) BFT_WUR;

/** The stable checkpoint: seq, digest and the 2f+1 signed CHECKPOINT envelopes (borrowed). */
void bft_log_stable(const struct bft_log *lg, bft_seq *seq, uint8_t digest[CR_DIGEST_BYTES],
		    const struct bft_bytes **proof, uint32_t *nproof);

/**
 * Checks a checkpoint proof: nproof signed CHECKPOINT envelopes, from 2f+1 distinct replicas,
 * all for (seq, digest), all signatures valid. BFT_OK or BFT_EBADCERT.
 */
enum bft_err bft_log_check_proof(const struct bft_log *lg, bft_seq seq,
				 const uint8_t digest[CR_DIGEST_BYTES],
				 const struct bft_bytes *proof, uint32_t nproof) BFT_WUR;

/**
 * Adopts a stable checkpoint learned from a proof (in a VIEW-CHANGE, NEW-VIEW or 2f+1
 * CHECKPOINTs) that is above ours. If we executed past it, only the watermarks move; if not, the
 * log is behind and must fetch the state (bft_log_behind).
 */
enum bft_err bft_log_adopt_stable(struct bft_log *lg, bft_seq seq,
				  const uint8_t digest[CR_DIGEST_BYTES],
				  const struct bft_bytes *proof, uint32_t nproof,
				  struct bft_out *out) BFT_WUR;

/* --- State transfer (PBFT §5.3 / TOCS §6.2) ------------------------------------------------- */

/** True when a stable checkpoint above last_executed is known: *seq is the state to fetch. */
bool bft_log_behind(const struct bft_log *lg, bft_seq *seq);

/** Answers a FETCH for state chunk `index` of checkpoint seq: appends a STATE message to
 *  replica `to` (only for the stable checkpoint we hold). BFT_ESTALE when we lack it. */
enum bft_err bft_log_serve_chunk(struct bft_log *lg, bft_replica_id to, bft_seq seq,
				 uint32_t index, struct bft_out *out) BFT_WUR;

/**
 * Takes a verified STATE chunk. A chunk whose Merkle branch does not lead to the root committed
 * by the target checkpoint's digest is BFT_EBADCERT (the sender is faulty). When all chunks are
 * in, the snapshot is parsed and installed: last_executed jumps to seq, and *out gets a
 * BFT_REC_CHECKPOINT record. *done is set when the transfer completed.
 */
enum bft_err bft_log_on_chunk(struct bft_log *lg, const struct bft_msg *m, struct bft_out *out,
			      bool *done) BFT_WUR;

/** Stable checkpoints whose 2f+1 digest differed from our own state at that position (each one
 *  means this replica's state is corrupt; the node reports it loudly). */
uint64_t bft_log_diverged(const struct bft_log *lg);

/** The next chunk index still missing for the transfer in progress (for FETCH), or -1. */
int64_t bft_log_next_missing_chunk(const struct bft_log *lg);

/* --- Recovery from the write-ahead log -------------------------------------------------------- */

/** Installs a BFT_REC_CHECKPOINT record: the snapshot becomes the state, its proof the stable
 *  checkpoint, last_executed its position. A record whose proof or digest does not hold is
 *  BFT_EBADCERT; an unparsable one BFT_EMALFORMED (the state is then unchanged). */
enum bft_err bft_log_restore_checkpoint(struct bft_log *lg, const uint8_t *p, size_t len) BFT_WUR;

/** Re-executes a BFT_REC_COMMIT record if it is the next position (replies are not re-sent);
 *  one at or below last_executed is skipped (BFT_EDUP); a gap is BFT_ESTATE. */
enum bft_err bft_log_restore_commit(struct bft_log *lg, const uint8_t *p, size_t len) BFT_WUR;

/* --- Appended for Honey Badger ----------------------------------------------------------------- */

/** One queued request as bft_log_peek_meta sees it. */
struct bft_log_peeked {
	struct bft_bytes req;     /* borrowed from the queue */
	bft_client_id client;
	uint64_t reqid;
	uint64_t arrival_ms;
};

/**
 * The first (at most) max queued requests in arrival order, skipping any already executed,
 * WITHOUT marking them proposed (Honey Badger §4.3: a request stays queued until it is executed,
 * whoever proposed it), with each one's client, request id and arrival time. *reqs receives a
 * malloc'd array (NULL when *n is 0) whose envelopes are borrowed from the queue, valid until
 * the next call that changes the queue; free the array with free(). BFT_OK or BFT_ENOMEM (then
 * *reqs and *n are untouched).
 */
enum bft_err bft_log_peek_meta(const struct bft_log *lg, uint32_t max,
			       struct bft_log_peeked **reqs, uint32_t *n) BFT_WUR;

/**
 * True when bft_log_execute, called now, would skip client's request reqid as already executed
 * (exactly-once: executed, or older than the client's window). A function of the executed
 * prefix of the log only, so equal at every correct replica at one position. False for a client
 * id out of range and for the registrar (registrations are not tracked per request id).
 */
bool bft_log_executed(const struct bft_log *lg, bft_client_id client, uint64_t reqid);

#endif
