/*
 * hist.c: the log-bucketed histogram (hist.h describes the layout and the error bound).
 */
#include "node/hist.h"

#include <string.h>

#define P LAT_HIST_PRECISION_BITS
#define EXACT (1u << P) /* values below this have a bucket each */

_Static_assert(P >= 2 && P <= 16, "precision bits out of the range the layout is written for");

/* The index of the most significant set bit of v (v > 0). */
static unsigned msb64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

size_t lat_hist_index(uint64_t v)
{
	unsigned g;
	uint64_t top;

	if (v < EXACT)
		return (size_t)v;
	/* v has k+1 >= P+1 significant bits; dropping the low g = k-P+1 of them leaves its top P
	 * bits, a number in [2^(P-1), 2^P): which of the SUB buckets of group g it falls in. */
	g = msb64(v) - P + 1u;
	top = v >> g;
	return (size_t)EXACT + (size_t)(g - 1u) * LAT_HIST_SUB + (size_t)(top - LAT_HIST_SUB);
}

uint64_t lat_hist_bucket_low(size_t i)
{
	size_t j;
	unsigned g;

	if (i < EXACT)
		return (uint64_t)i;
	j = i - EXACT;
	g = (unsigned)(j / LAT_HIST_SUB) + 1u;
	return ((uint64_t)LAT_HIST_SUB + (uint64_t)(j % LAT_HIST_SUB)) << g;
}

uint64_t lat_hist_bucket_high(size_t i)
{
	unsigned g;

	if (i < EXACT)
		return (uint64_t)i;
	g = (unsigned)((i - EXACT) / LAT_HIST_SUB) + 1u;
	/* Cannot wrap: the last bucket's low is 2^64 - 2^g, so this ends at UINT64_MAX. */
	return lat_hist_bucket_low(i) + (((uint64_t)1 << g) - 1u);
}

void lat_hist_init(struct lat_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void lat_hist_record(struct lat_hist *h, uint64_t v)
{
	h->buckets[lat_hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void lat_hist_merge(struct lat_hist *dst, const struct lat_hist *src)
{
	if (src->count == 0)
		return;
	for (size_t i = 0; i < LAT_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t lat_hist_value_at(const struct lat_hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	if (!(p > 0.0)) /* also NaN */
		return h->min;
	if (p >= 100.0)
		return h->max;
	/* The value of rank ceil(p% of count), counting from 1 (the nearest-rank definition). */
	{
		/* Percentiles such as 99.9 are not exact in binary: 0.999 * 1000 comes out a hair
		 * above 999, and a plain ceil would skip to rank 1000. A relative tolerance far
		 * below one rank in any count we can hold absorbs that. */
		double x = (p / 100.0) * (double)h->count;
		x -= x * 1e-12;
		rank = (uint64_t)x;
		if ((double)rank < x)
			rank++;
	}
	if (rank == 0)
		rank = 1;
	for (size_t i = 0; i < LAT_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t v = lat_hist_bucket_high(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max; /* unreachable while the counts add up to count */
}

double lat_hist_mean(const struct lat_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}
