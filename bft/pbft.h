/*
 * pbft: Practical Byzantine Fault Tolerance (Castro & Liskov, OSDI'99; TOCS 2002), the variant
 * with signatures (TOCS §4): normal case (§4.2), checkpoints and garbage collection (§4.3, in
 * log.h), view changes (§4.4–4.5), state transfer (§5.3/§6.2), batching (§5.1).
 *
 * One replica's engine. Driven by pbft_step() (engine.h); every message it is given must have
 * passed wire_decode and wire_verify against its sender's key. Everything a replica must do
 * after a step is in the bft_out. Requests from clients arrive as BFT_EV_MESSAGE of type REQUEST.
 */
#ifndef BFT_PBFT_H
#define BFT_PBFT_H

#include "bft/log.h"
#include "bft/byz.h"

#define PBFT_TPUT_VIEWS_MAX 16u

struct pbft_config {
	struct bft_log_config log;
	uint32_t view_timeout_ms;     /* a backup waits this long for a pending request (§4.4) */
	uint32_t view_timeout_max_ms; /* successive view changes double the timeout up to this */
	uint32_t fetch_timeout_ms;    /* state transfer: ask another peer after this long */
	uint32_t retransmit_ms;       /* no progress for this long with work pending: retransmit */
	uint32_t preprepare_timeout_ms; /* a request must be pre-prepared this soon (Aardvark) */
	/* Adaptive batching (TOCS §5.1; Castro's implementation bounds the batches in flight):
	 * while fewer than batch_inflight batches are pre-prepared but not yet executed, the
	 * primary cuts a batch as soon as a request waits; once that many are in flight, requests
	 * accumulate until one executes, the batch is full (log.batch_max_requests/_bytes) or
	 * the oldest request has waited log.batch_delay_ms. Batches so grow with the load instead
	 * of being cut every batch_delay_ms. 0: batches are cut by count, bytes and delay only. */
	uint32_t batch_inflight;      /* default 1 */
	/* Shared batch checks (pbft.c "Shared batch checks"): a backup that is not one of the f
	 * backups designated to check a new batch's requests waits up to check_wait_ms for f
	 * matching PREPAREs, which with the PRE-PREPARE make f+1 replicas, one of them correct,
	 * vouching for the batch; then it skips its own check. Without them in time it checks
	 * the batch itself and stops waiting for a while. 0: every backup checks every batch. */
	uint32_t check_wait_ms;       /* default 100 */
	/* The cluster orders reads (node key unordered_reads = false): a read-only request is
	 * refused (BFT_EINVAL), because its clients accept f+1 replies for every request, and
	 * an answer from unordered state would break linearizability (bft/client.h). */
	bool ordered_reads;           /* default false */

	/* Aardvark's adaptive throughput test (Clement et al., NSDI'09, §4.3): a backup counts the
	 * requests executed in each period of tput_period_ms and replaces a primary whose count,
	 * in a period with demand, falls below the required count. The required count starts at
	 * tput_fraction_pct of the best period of the last tput_views views (each view's best
	 * halves for every tput_decay_ms since it ended), rises by tput_raise_pct of that after
	 * each period the primary meets it, up to tput_fraction_max_pct, and starts again in each
	 * view. Nothing is judged in a view's first tput_grace_ms, in a period where this replica
	 * had known work outstanding less than tput_demand_pct of the time, or while the required
	 * count is below tput_min_requests (too few requests to tell slowness from chance).
	 * tput_period_ms = 0 turns the test off. See pbft.c, "Adaptive throughput". */
	uint32_t tput_period_ms;        /* default 1000 */
	uint32_t tput_grace_ms;         /* default 2000 */
	uint32_t tput_fraction_pct;     /* default 90 */
	uint32_t tput_fraction_max_pct; /* default 95 */
	uint32_t tput_raise_pct;        /* default 1 */
	uint32_t tput_views;            /* default 8, at most PBFT_TPUT_VIEWS_MAX */
	uint32_t tput_decay_ms;         /* default 60000 */
	uint32_t tput_demand_pct;       /* default 50 */
	uint32_t tput_min_requests;     /* default 4 */
	const struct bft_byz *byz;    /* borrowed; NULL for a correct replica */
};

/** Defaults for everything but log.n/self/id/keys/app (view timeout 1000 ms, max 30 s; one
 *  batch in flight; the throughput test on, with the defaults listed above). pbft_new refuses (BFT_EINVAL) a
 *  throughput test with a fraction above 100 or above its maximum, or tput_views outside
 *  1..PBFT_TPUT_VIEWS_MAX, or a zero tput_decay_ms. */
void pbft_config_default(struct pbft_config *c);

struct pbft;

enum bft_err pbft_new(struct pbft **out, const struct pbft_config *cfg) BFT_WUR;
void pbft_free(struct pbft *p);

/**
 * Feeds one event. The return value says what became of the input: BFT_OK when it was used or
 * harmlessly ignored, or the reason it was rejected (BFT_EVIEW, BFT_ESEQ, BFT_ENOTPRIMARY,
 * BFT_EDIGEST, BFT_ECONFLICT, BFT_EBADSIG for an embedded signature, BFT_EBADCERT, ...), for
 * the caller to count and log against the sender. *out is valid whatever the return value.
 */
enum bft_err pbft_step(struct pbft *p, const struct bft_event *ev, struct bft_out *out);

/**
 * Recovery: feeds one record read back from the write-ahead log, in the order they were written,
 * before the first pbft_step. BFT_OK, or why the record was unusable (BFT_EMALFORMED,
 * BFT_EBADCERT, BFT_ESTATE for a gap in the committed positions): the node treats any error as
 * a corrupt log.
 *
 * Votes are not durable before they leave: a PRE-PREPARE's record (BFT_REC_PREPREPARE) may be
 * lost in a crash after the PRE-PREPARE or PREPARE it backs was sent. What is durable first is
 * the view (BFT_REC_VIEW, written when a replica starts fresh and whenever it enters or starts
 * changing to a view, synced before anything of that view leaves) and every prepared
 * certificate (before its COMMIT). So a replica restarted from records abstains: it sends no
 * PRE-PREPARE and no PREPARE in any view it may have voted in before (the view it recovered if
 * it was active there, else the one before), apart from re-sending the PREPAREs whose records
 * it recovered. It still accepts PRE-PREPAREs, counts the others' PREPAREs, and commits, and it
 * votes again from the next view on. A forgotten PREPARE can then never be contradicted: two
 * prepared certificates for one (view, seq) need 2f+1 voters each, which share f+1 replicas,
 * one correct and not restarted since (TOCS §4.2 invariant, §4.4). When the restarted replica
 * is the primary, or f+1 restarted together, the backups' timers bring that next view.
 */
enum bft_err pbft_restore(struct pbft *p, const struct bft_record *rec) BFT_WUR;

/** Introspection for status, metrics, the simulator and tests. */
struct pbft_status {
	bft_view view;
	bool view_active;       /* false while a view change is in progress */
	bft_replica_id primary;
	bft_seq last_executed;
	bft_seq low, high;      /* watermarks */
	bft_seq next_seq;       /* the primary's next sequence number */
	uint32_t pending;       /* requests queued */
	uint32_t early_kept;    /* messages of views not yet installed, held for them */
	uint64_t early_evicted; /* of those, pushed out by a newer one from the same sender */
	uint64_t view_changes;  /* views entered after the first */
	uint64_t state_transfers;
	uint64_t slow_primary_suspicions; /* view changes started by the pre-prepare deadline */
	uint64_t throughput_suspicions;   /* view changes started by the throughput test */
	uint64_t batches_checked;         /* new batches whose requests this backup checked */
	uint64_t batches_vouched;         /* new batches accepted on f+1 vouchers, unchecked */
	uint64_t check_waits_expired;     /* waits for vouchers that ran out (then checked) */
	uint32_t tput_required;           /* requests per period the primary must execute now
	                                   * (0: not judging in this view yet) */
	bool behind;            /* a stable checkpoint above last_executed is known: fetching */
	uint64_t faults[BFT_ERR_COUNT]; /* rejected inputs by reason */
};
void pbft_status(const struct pbft *p, struct pbft_status *st);
struct bft_log *pbft_log(struct pbft *p);

/** The primary of view v among n replicas: v mod n (PBFT §4.1). */
static inline bft_replica_id pbft_primary(bft_view v, uint32_t n) { return (bft_replica_id)(v % n); }

#endif
