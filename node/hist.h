/*
 * hist: a log-bucketed latency histogram in the manner of HdrHistogram (Gil Tene), written for
 * the benchmark (node/bench.h). Values are unsigned 64-bit integers (the benchmark records
 * microseconds).
 *
 * Layout. With LAT_HIST_PRECISION_BITS = P, values below 2^P each have a bucket of their own
 * (exact). Above that, every power-of-two range [2^k, 2^(k+1)) with k >= P is split into
 * 2^(P-1) equal buckets of width 2^(k-P+1). A bucket's width is therefore at most 2^-(P-1) of
 * its lower bound: any value reported for a bucket (its upper bound here) is within a relative
 * error of 2^-(P-1) (1/128 for P = 8) of every value the bucket holds. The table covers all of
 * uint64_t with LAT_HIST_BUCKETS counters (~59 KiB), sized at compile time: recording never
 * allocates and never fails.
 *
 * Percentiles (lat_hist_value_at) walk the cumulative counts to the bucket holding the value of
 * rank ceil(p/100 * count) and report that bucket's highest value, clamped to the exact minimum
 * and maximum seen — so p0 is the exact minimum and p100 the exact maximum.
 *
 * Not thread-safe; merge per-thread histograms with lat_hist_merge.
 */
#ifndef NODE_HIST_H
#define NODE_HIST_H

#include <stddef.h>
#include <stdint.h>

#define LAT_HIST_PRECISION_BITS 8u
#define LAT_HIST_SUB (1u << (LAT_HIST_PRECISION_BITS - 1u)) /* buckets per power of two */
#define LAT_HIST_BUCKETS \
	((1u << LAT_HIST_PRECISION_BITS) + (64u - LAT_HIST_PRECISION_BITS) * LAT_HIST_SUB)

struct lat_hist {
	uint64_t count;
	uint64_t min, max;  /* exact; min is UINT64_MAX while empty */
	double sum;         /* for the mean */
	uint64_t buckets[LAT_HIST_BUCKETS];
};

/** Empties *h. */
void lat_hist_init(struct lat_hist *h);

/** Counts one value. */
void lat_hist_record(struct lat_hist *h, uint64_t v);

/** Adds every count of src to dst. */
void lat_hist_merge(struct lat_hist *dst, const struct lat_hist *src);

/** The value at percentile p (0..100; clamped) as described above; 0 for an empty histogram. */
uint64_t lat_hist_value_at(const struct lat_hist *h, double p);

/** The arithmetic mean of the recorded values (exact up to double rounding); 0 when empty. */
double lat_hist_mean(const struct lat_hist *h);

/** The bucket index of v, and the smallest and largest value bucket i holds (i <
 *  LAT_HIST_BUCKETS). Exposed for the tests that check the error bound. */
size_t lat_hist_index(uint64_t v);
uint64_t lat_hist_bucket_low(size_t i);
uint64_t lat_hist_bucket_high(size_t i);

#endif
