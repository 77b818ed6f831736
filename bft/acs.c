/*
 * Asynchronous common subset (acs.h; Honey Badger BFT §4.4, Figure 4).
 */
#include "bft/acs.h"

#include <stdlib.h>
#include <string.h>

struct acs {
	struct acs_config cfg;
	struct rbc **rbc;
	struct aba **aba;
};

enum bft_err acs_new(struct acs **out, const struct acs_config *cfg)
{
	struct acs *a = calloc(1, sizeof(*a));
	enum bft_err e = BFT_ENOMEM;

	if (a == NULL)
		return BFT_ENOMEM;
	a->cfg = *cfg;
	a->rbc = calloc(cfg->n, sizeof(*a->rbc));
	a->aba = calloc(cfg->n, sizeof(*a->aba));
	if (a->rbc == NULL || a->aba == NULL)
		goto fail;
	for (uint32_t j = 0; j < cfg->n; j++) {
		struct rbc_config rc = {.n = cfg->n, .f = cfg->f, .self = cfg->self, .proposer = j,
					.rs = cfg->rs, .payload_max = cfg->payload_max};
		struct aba_config ac = {.n = cfg->n, .f = cfg->f, .self = cfg->self,
					.epoch = cfg->epoch, .instance = j, .coin_pk = cfg->coin_pk,
					.coin_sk = cfg->coin_sk, .cache = cfg->cache,
					.rounds_ahead = cfg->rounds_ahead, .rand = cfg->rand,
					.rand_ctx = cfg->rand_ctx, .fixed_coins = cfg->fixed_coins,
					.memo = cfg->memo};

		e = rbc_new(&a->rbc[j], &rc);
		if (e == BFT_OK)
			e = aba_new(&a->aba[j], &ac);
		if (e != BFT_OK)
			goto fail;
	}
	*out = a;
	return BFT_OK;
fail:
	acs_free(a);
	return e;
}

void acs_free(struct acs *a)
{
	if (a == NULL)
		return;
	for (uint32_t j = 0; j < a->cfg.n; j++) {
		if (a->rbc != NULL)
			rbc_free(a->rbc[j]);
		if (a->aba != NULL)
			aba_free(a->aba[j]);
	}
	free(a->rbc);
	free(a->aba);
	free(a);
}

struct rbc *acs_rbc(struct acs *a, uint32_t j)
{
	return j < a->cfg.n ? a->rbc[j] : NULL;
}

struct aba *acs_aba(struct acs *a, uint32_t j)
{
	return j < a->cfg.n ? a->aba[j] : NULL;
}

void acs_counts(const struct acs *a, uint32_t *decided, uint32_t *ones)
{
	uint32_t d = 0, o = 0;

	for (uint32_t j = 0; j < a->cfg.n; j++) {
		bool v;

		if (aba_decided(a->aba[j], &v)) {
			d++;
			o += v ? 1u : 0u;
		}
	}
	*decided = d;
	*ones = o;
}

enum bft_err acs_step(struct acs *a, struct aba_out *outs)
{
	uint32_t n = a->cfg.n, decided, ones;
	bool again = true;

	/* An input can decide an instance at once (f+1 TERMs were already in), which can bring
	 * the count of 1-decisions to n - f: repeat until nothing changes. */
	while (again) {
		again = false;
		for (uint32_t j = 0; j < n; j++) {
			bool valid;
			const uint8_t *v;
			size_t len;

			/* HB Figure 4: "upon delivery of v_j from RBC_j, if input has not yet been
			 * provided to BA_j, then provide input 1 to BA_j". */
			if (!aba_has_input(a->aba[j]) && rbc_delivered(a->rbc[j], &valid, &v, &len)) {
				enum bft_err e = aba_input(a->aba[j], true, &outs[j]);
				if (e != BFT_OK)
					return e;
				again = true;
			}
		}
		acs_counts(a, &decided, &ones);
		if (ones < n - a->cfg.f)
			continue;
		/* "upon delivery of value 1 from at least N - f instances of BA, provide input 0
		 * to each instance of BA that has not yet been provided input". */
		for (uint32_t j = 0; j < n; j++)
			if (!aba_has_input(a->aba[j])) {
				enum bft_err e = aba_input(a->aba[j], false, &outs[j]);
				if (e != BFT_OK)
					return e;
				again = true;
			}
	}
	return BFT_OK;
}

bool acs_output(const struct acs *a, uint8_t *in_set)
{
	uint32_t n = a->cfg.n;

	for (uint32_t j = 0; j < n; j++) {
		bool v, valid;
		const uint8_t *p;
		size_t len;

		if (!aba_decided(a->aba[j], &v))
			return false;
		/* "once all instances of BA have completed, let C be the indexes of each BA that
		 * delivered 1; wait for the output v_j of each RBC_j with j in C". */
		if (v && !rbc_delivered(a->rbc[j], &valid, &p, &len))
			return false;
	}
	for (uint32_t j = 0; j < n; j++) {
		bool v = false;

		(void)aba_decided(a->aba[j], &v);
		in_set[j] = v ? 1 : 0;
	}
	return true;
}
