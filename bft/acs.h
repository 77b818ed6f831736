/*
 * acs: asynchronous common subset for one epoch — Honey Badger BFT (CCS'16) §4.4 and Figure 4,
 * after Ben-Or, Kelmer and Rabin (PODC'94): n reliable broadcasts (rbc.h), one per proposer, and
 * n binary agreements (aba.h) deciding which of them are in.
 *
 *   - when RBC_j delivers (valid or "invalid": either way every correct replica delivers the
 *     same outcome), input 1 to ABA_j if it has no input yet;
 *   - once n - f ABAs decided 1, input 0 to every ABA that has no input yet;
 *   - once every ABA decided, the output is the set of j whose ABA decided 1; for each such j
 *     wait until RBC_j delivered (a correct replica voted 1, so it delivers everywhere).
 *
 * The instances are created and owned here; the caller (hb.c) routes messages to them with
 * acs_rbc() and acs_aba(), sends what they report, and then calls acs_step(), which applies the
 * rules above and appends the ABA messages the new inputs produced to outs[j].
 */
#ifndef BFT_ACS_H
#define BFT_ACS_H

#include "bft/aba.h"
#include "bft/rbc.h"

struct acs_config {
	uint32_t n, f;
	bft_replica_id self;
	uint64_t epoch;
	struct cr_rs *rs;                         /* borrowed (rbc_config) */
	size_t payload_max;
	const struct cr_thresh_pubkey *coin_pk;   /* borrowed (aba_config) */
	const struct cr_thresh_share *coin_sk;
	struct cr_lagrange_cache *cache;
	uint32_t rounds_ahead;
	void (*rand)(void *ctx, uint8_t out[32]);
	void *rand_ctx;
	bool fixed_coins;                         /* aba_config */
	struct bft_memo *memo;                    /* borrowed, may be NULL */
};

struct acs;

enum bft_err acs_new(struct acs **out, const struct acs_config *cfg) BFT_WUR;
void acs_free(struct acs *a);

struct rbc *acs_rbc(struct acs *a, uint32_t j);
struct aba *acs_aba(struct acs *a, uint32_t j);

/** Applies the ACS rules after RBC deliveries or ABA decisions; the ABA messages that new inputs
 *  produce are appended to outs[j] (an array of n). BFT_OK or BFT_ENOMEM. */
enum bft_err acs_step(struct acs *a, struct aba_out *outs) BFT_WUR;

/** True once the common subset is decided and every member's broadcast delivered; in_set[j]
 *  (n entries) then says whether proposer j is in it. */
bool acs_output(const struct acs *a, uint8_t *in_set);

/** ABAs decided so far, and how many of them decided 1. */
void acs_counts(const struct acs *a, uint32_t *decided, uint32_t *ones);

#endif
