/*
 * client: the client side of the request protocol, pure (PBFT §4.1; Honey Badger §4.3 for
 * censorship resistance). Used by bftctl, the load generator and the simulator.
 *
 * A client signs each REQUEST with its own key and sends it to the primary it believes in
 * (PBFT) or to every replica (Honey Badger, and PBFT after a timeout). It accepts a result once
 * f+1 replicas sent valid signed REPLYs with equal results for that request id, so no f liars
 * can make it accept a wrong answer. Where replicas answer read-only requests without ordering
 * them (PBFT), such a read needs 2f+1 matching replies, and so does every ordered request: a
 * write accepted on f+1 replies may have been executed by one correct replica only, and the
 * 2f+1 answering a later read could then be f liars and f+1 correct replicas not there yet,
 * agreeing on the old value (PBFT TOCS §5.1.3 asks for 2f+1 on both for this reason). A reply with a bad signature, an unknown sender, another client or another
 * request id is ignored and counted. In session mode (bft_client_session_start) a reply may
 * carry a MAC under that replica's session key instead of a signature.
 */
#ifndef BFT_CLIENT_H
#define BFT_CLIENT_H

#include <stdbool.h>

#include "bft/engine.h"

/* Where a new request goes: PBFT's primary; every replica; or (Honey Badger) the f+1 replicas
 * that check it, its owner and the f after it (msg.h bft_hb_owner, hb.h "Shared checks"). With
 * BFT_SEND_CHECKERS the first request and every retransmission still go to all replicas. */
enum bft_client_send { BFT_SEND_PRIMARY = 0, BFT_SEND_ALL = 1, BFT_SEND_CHECKERS = 2 };

struct bft_client_config {
	bft_client_id id;
	uint32_t n;                                 /* replicas */
	const uint8_t (*replica_pks)[CR_PK_BYTES];  /* borrowed, n entries */
	const struct cr_identity *key;              /* borrowed: the client's signing identity */
	struct wire_limits limits;
	enum bft_client_send send;                  /* PBFT: primary first; HB: all */
	uint32_t retransmit_ms;                     /* resend (to all) after this long */
	uint32_t outstanding_max;                   /* requests in flight at once */
	/* Added after the first draft; a zeroed field keeps the old behaviour. */
	uint32_t retransmit_max_ms;                 /* back-off cap (0: 16 * retransmit_ms) */
	uint64_t first_reqid;                       /* first request id (0 means 1): a client
	                                             * restarted with the same key passes a value
	                                             * above any id it used before, so replicas
	                                             * never take a new request for an old one */
	bool session_replies_only;                  /* a session (below) authenticates replies
	                                             * only: requests carry an authenticator with
	                                             * no MACs, so every replica checks their
	                                             * signature, and replies come MAC'd */
	bool ordered_reads_only;                    /* the replicas order every request, read-only
	                                             * ones too (Honey Badger): an ordered request
	                                             * then completes on f+1 matching replies.
	                                             * false (PBFT, which answers read-only
	                                             * requests unordered, §5.1.3): it needs 2f+1,
	                                             * so that any 2f+1 answering a later read
	                                             * include a correct replica that executed it */
};

struct bft_client;

enum bft_err bft_client_new(struct bft_client **out, const struct bft_client_config *cfg) BFT_WUR;
void bft_client_free(struct bft_client *c);

/**
 * Starts a request: signs it and appends the sends to *out (BFT_TO_REPLICA or BFT_TO_ALL).
 * *reqid receives its id (strictly increasing per client). BFT_EFULL when outstanding_max
 * requests are in flight; BFT_ETOOBIG when op is over limits.op_max.
 */
enum bft_err bft_client_submit(struct bft_client *c, uint64_t now_ms, const uint8_t *op,
			       size_t op_len, uint32_t flags, uint64_t *reqid,
			       struct bft_out *out) BFT_WUR;

/**
 * Takes raw bytes received from replica `from` (the transport knows who sent them). Decodes,
 * checks the sender is `from` and the signature, and counts the reply towards its request.
 * Returns BFT_OK for a useful reply, or why it was ignored.
 */
enum bft_err bft_client_on_frame(struct bft_client *c, uint64_t now_ms, bft_replica_id from,
				 const uint8_t *bytes, size_t len) BFT_WUR;

/**
 * Retransmits requests whose timer expired to all replicas, doubling each one's timeout up to
 * retransmit_max_ms, and arms out->timer_ms. A read-only request that has not gathered 2f+1
 * matching replies by its first timeout is not retransmitted as such: it is re-signed as an
 * ordinary (ordered) request with a fresh request id and sent to all replicas (PBFT §5.1.3 —
 * concurrent writes can keep the replicas' tentative states apart for ever, ordering cannot).
 */
void bft_client_on_timer(struct bft_client *c, uint64_t now_ms, struct bft_out *out);

/** A completed request. result points into client memory valid until the next call. */
struct bft_client_result {
	uint64_t reqid;              /* the id bft_client_submit returned */
	uint64_t final_reqid;        /* the id answered: differs after a read-only fallback */
	uint32_t flags;              /* the flags it completed with (READONLY cleared by fallback) */
	struct bft_bytes result;
	uint64_t submitted_ms, completed_ms;
	uint32_t retransmissions;
};

/** Pops one completed request, true if there was one. */
bool bft_client_poll(struct bft_client *c, struct bft_client_result *res);

/** Requests in flight. */
uint32_t bft_client_outstanding(const struct bft_client *c);

/** The earliest retransmission deadline of the requests in flight, 0 when none. A caller that
 *  cannot see out->timer_ms (after bft_client_on_frame) re-arms its timer from this. */
uint64_t bft_client_next_timer(const struct bft_client *c);

/** The view the client currently believes in (the last one f+1 matching replies vouched for). */
bft_view bft_client_view(const struct bft_client *c);

/** The request id the next bft_client_submit will use (for persisting it before a restart). */
uint64_t bft_client_next_reqid(const struct bft_client *c);

/*
 * MAC-authenticated sessions (docs/PERFORMANCE.md). The caller, which has a random source and
 * the replicas' public keys, makes n fresh keys and seals key i to replica i (crypto/cr_seal.h,
 * n boxes of BFT_SESSION_BOX_BYTES); this call signs the SESSION message carrying them, appends
 * it to *out for every replica, and from then on every request carries an authenticator (one
 * MAC per replica) next to its signature, and a reply is accepted with a valid MAC under the
 * sending replica's key of this session as well as with a valid signature. session must be
 * above any session number this client id used before (the node derives it from the wall
 * clock). keys (n x 32 bytes) are copied into guarded memory; the caller wipes its copy.
 * With cfg.session_replies_only the requests carry the session number and no MACs: replies
 * are MAC'd as above, and requests are authenticated by their signature everywhere.
 * A replica that answers with a signature has no key for this session (it restarted): the
 * client sends it the same SESSION again, at most once per retransmit_ms per replica.
 * BFT_EINVAL for a zero or non-increasing session, BFT_ENOMEM.
 */
enum bft_err bft_client_session_start(struct bft_client *c, uint64_t now_ms, uint64_t session,
				      const uint8_t *keys, const uint8_t *boxes,
				      struct bft_out *out) BFT_WUR;

/** The session in use, 0 when none. */
uint64_t bft_client_session(const struct bft_client *c);

/* Counters of replies by fate. replies_ok: stored towards a request in flight; mismatched: a
 * stored reply whose result differed from the one finally accepted (evidence of a liar, or of a
 * read-only query answered from a different state); other_client: a valid frame addressed to
 * another client; duplicate: a reply a replica had already sent. */
struct bft_client_stats {
	uint64_t replies_ok, bad_signature, bad_sender, unknown_request, mismatched, malformed;
	uint64_t other_client, duplicate, readonly_fallbacks, retransmissions;
	uint64_t replies_mac;     /* replies accepted by their MAC (counted in replies_ok too) */
	uint64_t bad_mac;         /* MAC'd replies refused: wrong MAC, or another session */
	uint64_t session_resends; /* SESSION sent again to a replica that answered with a signature */
};
void bft_client_stats(const struct bft_client *c, struct bft_client_stats *st);

#endif
