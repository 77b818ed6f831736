/*
 * aba: asynchronous binary agreement with a threshold common coin, one instance per (epoch,
 * proposer) — the Mostéfaoui–Moumen–Raynal protocol ("Signature-free asynchronous Byzantine
 * consensus with t < n/3 and O(n^2) messages", PODC 2014) with the CONF round that Honey Badger
 * BFT adopted after the attack reported as amiller/HoneyBadgerBFT#59, and the Cachin–Kursawe–Shoup
 * coin of cr_coin, named (epoch, instance, round).
 *
 * Round r, estimate est:
 *   1. send BVAL_r(est); on f+1 BVAL_r(b) send BVAL_r(b) too (once per value);
 *   2. on 2f+1 BVAL_r(b), add b to bin_values_r; when bin_values_r first becomes non-empty,
 *      send AUX_r(b) for that b;
 *   3. on n - f AUX_r whose values lie in bin_values_r, send CONF_r(bin_values_r);
 *   4. on n - f CONF_r whose sets lie in bin_values_r, fix vals_r (their union) and only now
 *      release this replica's coin share for round r: before this point the coin must stay
 *      unpredictable, which is what the CONF round and the late release buy (HoneyBadgerBFT#59:
 *      releasing the share earlier lets the network adversary see the coin and steer the values
 *      against it for ever);
 *   5. with f+1 verified coin shares, coin s: if vals_r = {b}, est = b and b = s decides b;
 *      otherwise est = s. Next round.
 *
 * Termination. A replica that decides v broadcasts TERM(v) and sends nothing more for this
 * instance. TERM(v) from j stands for j's BVAL(v), AUX(v) and CONF({v}) in every round for which
 * no real message of that kind from j arrived: once a correct replica decided v in round r,
 * every correct replica's estimate is v from round r+1 on, so those are exactly the messages j
 * would have sent had it gone on (and in earlier rounds they can only add support for v, the
 * value already decided). f+1 TERM(v) — at least one from a correct replica — decide v directly.
 * So replicas that decided stop at once and the others still finish: while at most f correct
 * replicas decided, the f+1 or more undecided correct ones supply the coin shares; once f+1
 * correct ones decided, their TERMs decide everybody.
 *
 * Coin schedule (fixed_coins). Agreement never depends on the coin being unpredictable, only on
 * it being common: if a correct replica decides b in round r (vals = {b} and coin = b), every
 * correct replica has b in its vals_r (the CONF quorums intersect in a correct replica) and so
 * leaves round r with est = b, whatever the coin was, as long as it was the same everywhere. An
 * unpredictable coin is needed only for termination against an adversary that schedules
 * messages, and only in infinitely many rounds: a round whose coin the adversary knows may not
 * terminate, any round with the threshold coin (released after the CONF quorum) does with
 * probability at least 1/2. So rounds 0 mod 3 use the common coin 1 and rounds 1 mod 3 the
 * common coin 0, and only rounds 2 mod 3 the threshold coin — the schedule of the hbbft
 * implementation of Honey Badger. In the common case of an ACS every correct replica inputs 1
 * (the broadcast was delivered) and decides in round 0, or inputs 0 and decides in round 1,
 * without any coin share; under attack the expected number of rounds at most triples. A round
 * with a fixed coin also skips step 3's CONF: vals are the values of the n - f AUX of step 3
 * (MMR's original rule, whose agreement argument is the one above). CONF exists only to fix vals
 * before a threshold coin can be known (HoneyBadgerBFT#59); a fixed coin is known from the start,
 * and such a round is not relied on to terminate. A coin share for a round with a fixed coin is
 * never sent by a correct replica: BFT_EINVAL.
 *
 * Byzantine input never crashes; rejections: a round below the current one BFT_ESTALE (late, not
 * a fault), more than rounds_ahead above it BFT_ESEQ (dropped, counted); a repeated BVAL value,
 * AUX, CONF, TERM or coin share BFT_EDUP; a second, different AUX, CONF or TERM BFT_ECONFLICT (the
 * first stands); a coin share that does not verify, or whose index is not the sender's,
 * BFT_EBADSHARE. A second, different BVAL is legitimate (step 1's relay) and accepted.
 */
#ifndef BFT_ABA_H
#define BFT_ABA_H

#include <stdbool.h>

#include "bft/memo.h"
#include "bft/msg.h"
#include "crypto/cr_coin.h"

struct aba_config {
	uint32_t n, f;
	bft_replica_id self;
	uint64_t epoch;                          /* with instance: the coin's name */
	uint32_t instance;
	const struct cr_thresh_pubkey *coin_pk;  /* borrowed */
	const struct cr_thresh_share *coin_sk;   /* borrowed; share index = self + 1 */
	struct cr_lagrange_cache *cache;         /* borrowed, may be NULL */
	uint32_t rounds_ahead;                   /* rounds buffered above the current one (>= 1) */
	/** 32 fresh random bytes for a coin share's proof (from the engine's DRBG). */
	void (*rand)(void *ctx, uint8_t out[32]);
	void *rand_ctx;
	/** Rounds 0, 1 mod 3 use the fixed coins 1 and 0, only rounds 2 mod 3 the threshold coin
	 *  (see "Coin schedule" above); false: the threshold coin in every round. */
	bool fixed_coins;
	struct bft_memo *memo;                   /* borrowed, may be NULL (memo.h) */
};

/** One message this replica must broadcast: type is BFT_MSG_HB_BVAL, _AUX, _CONF, _TERM or _COIN;
 *  share is set for COIN. */
struct aba_msg {
	enum bft_msg_type type;
	uint32_t round;
	uint32_t value;
	uint8_t share[BFT_HB_SHARE_BYTES];
};

/** What a call made this replica do, appended (the caller resets n between uses). */
struct aba_out {
	struct aba_msg *msgs;
	size_t n, cap;
	bool decided;        /* this call decided the instance */
};

struct aba;

enum bft_err aba_new(struct aba **out, const struct aba_config *cfg) BFT_WUR;
void aba_free(struct aba *a);
/** Releases the message array of *o. */
void aba_out_free(struct aba_out *o);

/** The input (ACS: 1 for a delivered broadcast, 0 otherwise). BFT_ESTATE if already given. */
enum bft_err aba_input(struct aba *a, bool v, struct aba_out *o) BFT_WUR;
/** True when the input was given. */
bool aba_has_input(const struct aba *a);

/** Takes a BVAL, AUX, CONF or TERM (m->epoch and m->instance matched by the caller). */
enum bft_err aba_on_msg(struct aba *a, bft_replica_id from, enum bft_msg_type type,
			const struct bft_hb_aba *m, struct aba_out *o) BFT_WUR;
/** Takes a coin share for round `round`. */
enum bft_err aba_on_coin(struct aba *a, bft_replica_id from, uint32_t round,
			 const uint8_t share[BFT_HB_SHARE_BYTES], struct aba_out *o) BFT_WUR;

/** True once decided; *v the decision. */
bool aba_decided(const struct aba *a, bool *v);
/** The senders (bit j) whose coin share, kept unverified while not needed, failed when it was
 *  verified later; cleared by the call. Their faults, found after the message was accepted. */
uint64_t aba_take_late_faults(struct aba *a);

/** The senders (bit j) whose coin shares were verified (found valid or not) since the last call;
 *  cleared by the call. For statistics: a bad share is detected only once it is checked. */
uint64_t aba_take_checked(struct aba *a);

/** The current round. */
uint32_t aba_round(const struct aba *a);
/** The coin value of round r if this replica computed it (for tests): 0/1, or -1. */
int aba_coin(const struct aba *a, uint32_t r);

/** The coin name of (epoch, instance, round) as hb uses it: "hb.coin" || epoch || instance ||
 *  round (little-endian), into out (ABA_COIN_NAME_BYTES). */
#define ABA_COIN_NAME_BYTES 23u
void aba_coin_name(uint64_t epoch, uint32_t instance, uint32_t round,
		   uint8_t out[ABA_COIN_NAME_BYTES]);

#endif
