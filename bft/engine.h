/*
 * engine.h: how a protocol engine meets the world (DESIGN.md "The pure core").
 *
 * An engine (PBFT, Honey Badger) is driven by one call, `<engine>_step(engine, event, out)`.
 * The caller supplies the time and one input; the engine appends to *out what the caller must
 * do, in this order:
 *   1. persist every record in out->records, and make them durable (fsync), BEFORE anything else;
 *   2. send every message in out->msgs (to one replica, all other replicas, or a client);
 *   3. arm a timer for out->timer_ms (absolute, same clock as event.now_ms; 0 = none). The
 *      caller delivers BFT_EV_TIMER when now_ms >= timer_ms; a spurious timer event is harmless.
 * The engine never blocks, never reads a clock, and copies whatever it keeps from an event.
 */
#ifndef BFT_ENGINE_H
#define BFT_ENGINE_H

#include "bft/msg.h"
#include "bft/wire.h"

enum bft_event_type {
	BFT_EV_MESSAGE = 1, /* a decoded message whose envelope signature and sender were checked */
	BFT_EV_TIMER,       /* the deadline asked for in out->timer_ms has passed */
	BFT_EV_RANDOM,      /* fresh random bytes for engines that need them (Honey Badger) */
	BFT_EV_TICK,        /* nothing new: only time has advanced */
};

struct bft_event {
	uint64_t now_ms;
	enum bft_event_type type;
	const struct bft_msg *msg;   /* BFT_EV_MESSAGE: borrowed for the duration of the call */
	const uint8_t *random;       /* BFT_EV_RANDOM */
	size_t random_len;
};

/* Where an outgoing message goes. */
enum bft_dest { BFT_TO_REPLICA = 1, BFT_TO_ALL, BFT_TO_CLIENT };

struct bft_out_msg {
	enum bft_dest dest;
	uint64_t to;                 /* replica id or client id; unused for BFT_TO_ALL */
	enum bft_msg_type type;      /* for metrics and Byzantine transforms */
	uint8_t *bytes;              /* a signed envelope, owned by the bft_out */
	size_t len;
};

/* Record kinds written to the write-ahead log (node/) and fed back at recovery. */
enum bft_rec_kind {
	BFT_REC_VIEW = 1,      /* [view]: the replica entered a view; never go back below it */
	BFT_REC_PREPREPARE,    /* a PRE-PREPARE envelope accepted (or sent) for (view, seq) */
	BFT_REC_PREPARED,      /* a prepared certificate (pcert encoding) */
	BFT_REC_COMMIT,        /* [seq, time_ms, requests...]: a batch committed and executed */
	BFT_REC_CHECKPOINT,    /* a stable checkpoint: seq, digest, proof and the state snapshot */
	BFT_REC_HB_PROPOSAL,   /* Honey Badger: this replica's sealed proposal for an epoch (hb.h) */
};

struct bft_record {
	enum bft_rec_kind kind;
	bft_seq seq;
	uint8_t *bytes;              /* owned by the bft_out */
	size_t len;
};

/* A committed log position, reported for the caller's metrics and storage. */
struct bft_committed {
	bft_seq seq;
	uint32_t nrequests;
	uint64_t time_ms;
	uint8_t digest[CR_DIGEST_BYTES]; /* bft_batch_digest of the batch */
};

struct bft_out {
	struct bft_record *records;
	size_t nrecords, records_cap;
	struct bft_out_msg *msgs;
	size_t nmsgs, msgs_cap;
	struct bft_committed *committed;
	size_t ncommitted, committed_cap;
	uint64_t timer_ms;
};

/** Empties *out for the next step, keeping its capacity. Frees the owned bytes. */
void bft_out_reset(struct bft_out *out);
/** Releases everything *out holds. */
void bft_out_free(struct bft_out *out);

/** Appends a message; takes ownership of bytes (malloc'd) even on failure. */
enum bft_err bft_out_msg(struct bft_out *out, enum bft_dest dest, uint64_t to,
			 enum bft_msg_type type, uint8_t *bytes, size_t len) BFT_WUR;
/** Appends a message holding a copy of bytes (the caller keeps its own). */
enum bft_err bft_out_msg_copy(struct bft_out *out, enum bft_dest dest, uint64_t to,
			      enum bft_msg_type type, const uint8_t *bytes, size_t len) BFT_WUR;
/** Appends a record; takes ownership of bytes (malloc'd) even on failure. */
enum bft_err bft_out_record(struct bft_out *out, enum bft_rec_kind kind, bft_seq seq,
			    uint8_t *bytes, size_t len) BFT_WUR;
enum bft_err bft_out_committed(struct bft_out *out, bft_seq seq, uint32_t nrequests,
			       uint64_t time_ms, const uint8_t digest[CR_DIGEST_BYTES]) BFT_WUR;
/** Lowers out->timer_ms to deadline_ms if that is earlier (or no timer is set). */
void bft_out_timer(struct bft_out *out, uint64_t deadline_ms);

/**
 * The replicated application (the state machine). It must be deterministic: the same ops in
 * the same order with the same batch times give the same results and digests. It is pure (the
 * KV store in node/ and the simulator's toy map both are), so the core calls it directly.
 */
struct bft_app {
	void *ctx;
	/** Executes op for client; appends at most result_max bytes of result to *result. */
	void (*execute)(void *ctx, bft_client_id client, const struct bft_bytes *op,
			uint64_t time_ms, struct wire_buf *result);
	/** Executes a read-only op without changing state (the read-only fast path). */
	void (*query)(void *ctx, bft_client_id client, const struct bft_bytes *op,
		      struct wire_buf *result);
	/** Appends a complete, canonical serialization of the state to *out: equal states give
	 *  equal bytes (the checkpoint digest is taken over them). */
	enum bft_err (*snapshot)(void *ctx, struct wire_buf *out);
	/** Replaces the state with a snapshot (already verified against a 2f+1 proof). A snapshot
	 *  that does not parse returns an error and leaves the state unchanged. */
	enum bft_err (*restore)(void *ctx, const uint8_t *p, size_t len);
};

#endif
