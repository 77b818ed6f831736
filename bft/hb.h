/*
 * hb: Honey Badger BFT (Miller, Xia, Croman, Shi, Song, "The Honey Badger of BFT Protocols",
 * CCS 2016) as the second engine on the shared log (log.h), beside PBFT.
 *
 * Epoch e is log position e + 1. In each epoch every replica proposes up to ceil(B/n) requests
 * from the first B of its queue (see "Selection"), sealed with threshold encryption (cr_tdh2, label "hb.prop" || epoch || proposer) so that nobody can pick requests to
 * censor before the set is fixed (§4.4) — an empty proposal, which hides nothing, goes in the
 * clear as its bare 12-byte header, shorter than any ciphertext, and costs no decryption; asynchronous common subset (acs.h: n reliable
 * broadcasts, rbc.h, and n binary agreements, aba.h) agrees on which proposals are in; then f+1
 * verified decryption shares of each included ciphertext reveal it. The requests of all revealed
 * proposals — each one checked like a PBFT batch entry (it decodes, its client signature holds),
 * duplicates removed, sorted by request digest — become ONE position of the log, executed with
 * bft_log_execute(lg, e + 1, view = e, time = the median of the revealed proposals' timestamps,
 * never below the previous batch's). Checkpoints, garbage collection, exactly-once, replies and
 * state transfer are the shared log's, exactly as under PBFT.
 *
 * Every rule that decides what enters the log is deterministic, so every correct replica computes
 * the same batch: an invalid RBC (shards not one codeword), a ciphertext failing its check, a
 * payload that does not open or parse, or more than ceil(B/n) requests in one proposal drop that
 * proposal everywhere; a request that does not decode or whose client signature fails is dropped
 * everywhere. B must be the same on every replica (it is cluster configuration).
 *
 * Selection. HB §4.3 has every replica draw ceil(B/n) at random from the first B of its queue,
 * so that proposals mostly differ; with clients sending to every replica, and a queue shorter
 * than B (a closed loop), that still made most of each epoch's entries copies (measured: 55% the
 * same envelope from another proposer, 21% already executed — docs/PERFORMANCE.md). Here each
 * request has an owner, replica (client + reqid) mod n, and a replica proposes (1) at random, up
 * to half of ceil(B/n), requests that were at the head (the first ceil(B/n)) of another owner's
 * share when this replica proposed two proposals ago and are still queued — held back by a
 * faulty owner, or by an adversary keeping the owner's proposal out of the subset: for exactly
 * those the paper's random rule applies again, by every replica, so the argument of §4.3 (a
 * request queued at every correct replica is eventually committed) still holds, with a delay of
 * two epochs; (2) its own share in queue order; (3) more of (1). Never a request carried by its
 * own proposal of the other running epoch (it is on its way into the log). In the only running
 * epoch, a replica with nothing of (1)-(3) draws from all queued requests at random (after an
 * idle spell every replica with a queued request runs that epoch). owner_shares = false gives
 * the paper's rule (random from the first B, minus our running proposal).
 *
 * Scheduling. At most two epochs are active: the lowest unexecuted one, and — as soon as its
 * common subset is decided — the next one, so agreement on e + 1 overlaps decryption of e. An
 * epoch starts when it is inside the log's window and this replica has received a message of
 * that epoch from another replica, or has queued requests: any, for the lowest epoch; for the
 * next one, a request it would propose there (Selection), so that nobody starts an epoch only to
 * propose nothing. With nothing pending anywhere nothing runs (no spinning). Messages for later epochs, up to epochs_ahead_max beyond the lowest
 * unexecuted one, are buffered (bounded per sender and in total, the excess dropped and counted)
 * and replayed when their epoch starts; beyond that they are dropped (BFT_ESEQ, counted).
 * Decryption shares that arrive before their ciphertext is known are kept (one per sender and
 * proposal) and verified when it is.
 *
 * Shared checks (check_wait_ms > 0). Deciding whether a revealed request's client signature
 * holds must give the same answer everywhere, but need not be done everywhere: the signature is
 * a fact about the bytes, so f+1 replicas that agree on it include a correct one, which tells
 * the truth. Each request has f+1 designated checkers, its owner (Selection) and the f replicas
 * after it, and a Honey Badger client sends it to those (client.h BFT_SEND_CHECKERS), which
 * verify it on arrival. When the lowest unexecuted epoch is revealed, every replica builds its
 * candidate list — the entries of steps 1-2 of the batch rule (hb.c execute_epoch) that decode
 * as requests, in digest order, a function of the agreed proposals and the executed prefix, so
 * the same list everywhere — decides each entry it can decide alone (a request it queued
 * itself, verified on arrival; one it is a designated checker of, verified now if it was not
 * queued; any entry while it checks everything itself, below), and broadcasts HB_CHECK with the
 * list's digest and its verdicts. An entry it cannot decide alone takes the verdict of f+1
 * matching HB_CHECKs for the same list; entries on which two senders disagree (one of them is
 * faulty) it verifies itself, and when check_wait_ms passes with entries undecided (a silent or
 * slow checker) it verifies the rest and checks every entry itself for the next 64 epochs,
 * doubling after each consecutive expiry up to 4,096, so a faulty checker costs one wait per
 * stretch. Every path gives the true verdict, so the batch is the same at every correct replica;
 * the wait is a local timer that decides only when a replica does work itself, never what enters
 * the log, so liveness does not rest on timing either. At n = 4 each request's signature is
 * verified twice instead of four times (docs/PERFORMANCE.md). check_wait_ms = 0: every replica
 * checks every entry itself, no HB_CHECK is sent.
 *
 * Retransmission (for links that lose messages; the protocol itself needs none in the
 * asynchronous model): with an epoch running and no progress for retransmit_ms, a replica
 * re-sends what it sent in its active epochs and multicasts FETCH(LOG, epoch); a peer answers a
 * FETCH(LOG, e) with what it sent in epoch e (kept for the active and the last few executed
 * epochs) and, when e is below its stable checkpoint, with the checkpoint proof (state transfer,
 * FETCH(STATE)/STATE, then proceeds as under PBFT).
 *
 * Randomness: the engine refuses to propose until it has received a BFT_EV_RANDOM event (32 bytes
 * or more); each one is mixed into the DRBG seed. Every random choice (requests, encryption,
 * share proofs) is drawn from that DRBG, never from the system.
 */
#ifndef BFT_HB_H
#define BFT_HB_H

#include "bft/byz.h"
#include "bft/log.h"
#include "crypto/cr_dealer.h"

#define HB_N_MAX 64u /* threshold keys hold at most CR_THRESH_N_MAX parties */

struct hb_config {
	struct bft_log_config log;
	const struct cr_thresh_pubkey *coin_pk;  /* borrowed: purpose CR_THRESH_COIN, n parties */
	const struct cr_thresh_pubkey *enc_pk;   /* borrowed: purpose CR_THRESH_ENC */
	const struct cr_thresh_share *coin_sk;   /* borrowed: index self + 1 */
	const struct cr_thresh_share *enc_sk;
	uint32_t batch_size;        /* B: each replica proposes ceil(B/n) of its first B requests */
	uint32_t epochs_ahead_max;  /* epochs buffered beyond the lowest unexecuted one */
	uint32_t retransmit_ms;     /* no progress for this long: retransmit (0: never) */
	const struct bft_byz *byz;  /* borrowed; NULL for a correct replica */
	/* ABA rounds 0 and 1 mod 3 with fixed common coins (aba.h "Coin schedule"); default on. */
	bool fixed_coins;
	/* Selection (above): each request has an owner share; false: HB §4.3's random choice
	 * from the first B by every replica. Default true. */
	bool owner_shares;
	/* Shared checks (above): the wait for f+1 matching verdicts before a replica verifies the
	 * undecided entries itself; 0 turns sharing off. Default 100 ms. */
	uint32_t check_wait_ms;
	/* A memo of verification results shared by the engines of one process (memo.h): the
	 * simulator's; borrowed, NULL (the default) computes everything. */
	struct bft_memo *memo;
};

/** Defaults for everything but log.n/self/id/keys/app and the threshold keys:
 *  B = 64, 4 epochs ahead, retransmission after 1000 ms, fixed coins, owner shares,
 *  shared checks with a 100 ms wait, no memo. */
void hb_config_default(struct hb_config *c);

struct hb;

/** Creates an engine. BFT_EINVAL when the key sets do not match n/self (purpose, n, f, index) or
 *  a parameter is out of range; BFT_ENOMEM. */
enum bft_err hb_new(struct hb **out, const struct hb_config *cfg) BFT_WUR;
void hb_free(struct hb *h);

/**
 * Feeds one event (engine.h); every message must have passed wire_decode and wire_verify
 * against its sender's key. Returns BFT_OK when the input was used or harmlessly ignored, or the
 * reason it was rejected, for the caller to count and log against the sender: BFT_ENOTPRIMARY
 * (VAL from a non-proposer), BFT_EBADCERT (invalid Merkle branch), BFT_ECONFLICT (equivocation),
 * BFT_EBADSHARE (invalid coin or decryption share), BFT_EINVAL (a field that cannot be right, a
 * share for a proposal not in the common subset), BFT_EDUP, BFT_ESTALE (an epoch or round
 * already finished), BFT_ESEQ (an epoch beyond the buffer), BFT_EFULL (buffer full), ...
 * Faults found later (a stored share that fails when its ciphertext is known, an invalid
 * proposal) are counted in hb_status against their sender. *out is valid whatever is returned.
 */
enum bft_err hb_step(struct hb *h, const struct bft_event *ev, struct bft_out *out);

/**
 * Replays one record of the write-ahead log into a new engine, in the order the records were
 * written, before its first hb_step: BFT_REC_CHECKPOINT and BFT_REC_COMMIT go to the shared log
 * (bft_log_restore_*; a commit at or below the last executed position is skipped), and
 * BFT_REC_HB_PROPOSAL — [epoch u64 LE][requests u32 LE][sealed proposal] — makes the engine
 * propose exactly those sealed bytes again if that epoch runs, never a new proposal: a replica
 * that sent VALs for epoch e and restarted must not broadcast a second, different value for e
 * (that would be equivocation, HB §4.2's RBC tolerates it only from faulty proposers). PBFT's
 * records are ignored. BFT_EMALFORMED for a proposal record that does not parse or is longer
 * than this engine's largest proposal; the log's errors for the others; BFT_ENOMEM.
 */
enum bft_err hb_restore(struct hb *h, const struct bft_record *rec) BFT_WUR;

struct hb_status {
	uint64_t epoch;             /* the lowest unexecuted epoch (= last_executed) */
	uint32_t active;            /* epochs running (0, 1 or 2) */
	bool have_random;
	bft_seq last_executed, low, high;
	uint32_t pending;
	uint64_t epochs_done;       /* executed by agreement (not by state transfer) */
	uint64_t state_transfers;
	uint64_t proposals_in;      /* proposals included and revealed */
	uint64_t proposals_dropped; /* included but invalid RBC, ciphertext, payload */
	uint64_t proposals_clear;   /* ... of the included: empty, sent in the clear */
	uint64_t requests_dropped;  /* revealed requests that failed their checks */
	uint64_t requests_revealed; /* entries of revealed proposals, duplicates included */
	uint64_t requests_repeated; /* ... the same envelope again (another proposer had it) */
	uint64_t requests_stale;    /* ... already executed at an earlier position: left out */
	uint64_t aba_rounds_max;    /* the highest round any ABA instance reached */
	uint64_t buffered;          /* messages buffered for later epochs */
	uint64_t dropped_ahead;     /* ... and dropped: beyond the bound or the buffer full */
	uint64_t retransmissions;
	uint64_t proposals_restored; /* epochs proposed again from a BFT_REC_HB_PROPOSAL record */
	uint64_t byz_replayed;       /* a faulty replica in mode replay: old frames re-sent */
	uint64_t rejected[BFT_ERR_COUNT];    /* every non-OK step result, by reason */
	uint64_t faults[BFT_ERR_COUNT];      /* misbehaviour detected, by reason */
	uint64_t sender_faults[HB_N_MAX];    /* misbehaviour detected, by sender */
	uint64_t coin_checked[HB_N_MAX];     /* coin shares verified (valid or not), by sender */
	uint64_t dec_checked[HB_N_MAX];      /* decryption shares verified, by sender */
	uint64_t coins_threshold;            /* ABA rounds that used the threshold coin */
	/* Shared checks: candidate entries whose signature this replica verified itself, decided
	 * by f+1 matching HB_CHECKs, verified because two senders disagreed on them; waits that
	 * expired; HB_CHECKs set aside for another list than ours (only a faulty sender's can be). */
	uint64_t checks_self;
	uint64_t checks_shared;
	uint64_t checks_disputed;
	uint64_t check_waits_expired;
	uint64_t check_votes_other_list;
};
void hb_status(const struct hb *h, struct hb_status *st);
struct bft_log *hb_log(struct hb *h);

/** The TDH2 label of proposer's proposal in epoch: "hb.prop" || epoch || proposer (LE). */
#define HB_LABEL_BYTES 19u
void hb_label(uint64_t epoch, uint32_t proposer, uint8_t out[HB_LABEL_BYTES]);

#endif
