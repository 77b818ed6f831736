/*
 * cr_rs: systematic Reed-Solomon over GF(2^8) with ISA-L (libisal). See cr_rs.h for the exact
 * definition of the code; this file implements it.
 *
 * Encoding multiplies the k data shards by the n - k parity rows of the Cauchy matrix
 * (ec_init_tables expands each coefficient into the 32-byte split multiplication tables that
 * ec_encode_data's SIMD kernels use). Decoding from a set S of k shards: the k x k submatrix A_S
 * of the rows in S maps the data to those shards, so data = A_S^{-1} shards(S); only the rows of
 * A_S^{-1} for data shards missing from S need computing (Plank, "A tutorial on Reed-Solomon
 * coding for fault-tolerance in RAID-like systems", SP&E 1997, §3, and the Cauchy variant of
 * Bloemer et al., ICSI TR-95-048).
 */
#include "crypto/cr_rs.h"

#include <stdlib.h>
#include <string.h>
#include <isa-l/erasure_code.h>

#define GF_TABLE_BYTES 32u /* ISA-L: tables per matrix coefficient */

void cr_rs_free(struct cr_rs *rs)
{
	free(rs->matrix);
	free(rs->enc_tables);
	free(rs->sub);
	free(rs->inv);
	free(rs->rows);
	free(rs->dec_tables);
	memset(rs, 0, sizeof(*rs));
}

int cr_rs_init(struct cr_rs *rs, uint32_t n, uint32_t k)
{
	uint32_t parity;
	uint32_t missing_max;

	memset(rs, 0, sizeof(*rs));
	if (k < 1 || k > n || n > CR_RS_N_MAX)
		return -1;
	parity = n - k;
	/* A decode recomputes at most min(k, n - k) data shards: one per parity shard used. */
	missing_max = parity < k ? parity : k;
	rs->n = n;
	rs->k = k;
	/* calloc(0) may return NULL; every buffer gets at least one byte so that NULL always means
	 * failure. */
	rs->matrix = calloc((size_t)n * k, 1);
	rs->enc_tables = calloc((size_t)GF_TABLE_BYTES * k * parity + 1, 1);
	rs->sub = calloc((size_t)k * k, 1);
	rs->inv = calloc((size_t)k * k, 1);
	rs->rows = calloc((size_t)k * missing_max + 1, 1);
	rs->dec_tables = calloc((size_t)GF_TABLE_BYTES * k * missing_max + 1, 1);
	if (rs->matrix == NULL || rs->enc_tables == NULL || rs->sub == NULL || rs->inv == NULL ||
	    rs->rows == NULL || rs->dec_tables == NULL) {
		cr_rs_free(rs);
		return -1;
	}
	/* The code's definition (cr_rs.h): identity on top, a_ij = 1 / (i XOR j) below. */
	gf_gen_cauchy1_matrix(rs->matrix, (int)n, (int)k);
	if (parity > 0)
		ec_init_tables((int)k, (int)parity, rs->matrix + (size_t)k * k, rs->enc_tables);
	return 0;
}

size_t cr_rs_shard_len(const struct cr_rs *rs, size_t payload_len)
{
	size_t total;

	if (rs->k < 1 || payload_len > CR_RS_PAYLOAD_MAX)
		return 0;
	total = CR_RS_PREFIX_BYTES + payload_len;
	return (total + rs->k - 1) / rs->k;
}

/* ISA-L's kernels take non-const source pointers but only read through them; this converts a
 * borrowed const pointer for that call without a cast that -Wcast-qual would flag. */
static unsigned char *isal_src(const uint8_t *p)
{
	union {
		const uint8_t *c;
		unsigned char *m;
	} u;

	u.c = p;
	return u.m;
}

int cr_rs_encode(const struct cr_rs *rs, const uint8_t *payload, size_t payload_len,
		 uint8_t *out, size_t out_len)
{
	unsigned char *data[CR_RS_N_MAX];
	unsigned char *parity[CR_RS_N_MAX];
	size_t len = cr_rs_shard_len(rs, payload_len);
	uint32_t k = rs->k;
	uint32_t n = rs->n;

	if (len == 0 || out_len != (size_t)n * len) {
		if (out_len > 0)
			memset(out, 0, out_len);
		return -1;
	}
	/* The data shards are the length-prefixed payload, zero-padded to k * len bytes. */
	memset(out, 0, (size_t)k * len);
	out[0] = (uint8_t)payload_len;
	out[1] = (uint8_t)(payload_len >> 8);
	out[2] = (uint8_t)(payload_len >> 16);
	out[3] = (uint8_t)(payload_len >> 24);
	if (payload_len > 0)
		memcpy(out + CR_RS_PREFIX_BYTES, payload, payload_len);
	if (n == k)
		return 0;
	for (uint32_t i = 0; i < k; i++)
		data[i] = out + (size_t)i * len;
	for (uint32_t i = k; i < n; i++)
		parity[i - k] = out + (size_t)i * len;
	ec_encode_data((int)len, (int)k, (int)(n - k), isal_src(rs->enc_tables), data, parity);
	return 0;
}

static int all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

int cr_rs_decode(struct cr_rs *rs, const struct cr_rs_shard *shards, size_t count, uint8_t *out,
		 size_t out_cap, size_t *payload_len)
{
	unsigned char *src[CR_RS_N_MAX];
	unsigned char *dst[CR_RS_N_MAX];
	uint8_t seen[CR_RS_N_MAX] = { 0 };
	uint32_t missing[CR_RS_N_MAX];
	uint32_t nmissing = 0;
	uint32_t k = rs->k;
	uint32_t n = rs->n;
	size_t len;
	size_t plen;

	if (k < 1 || count < k)
		goto fail;
	len = shards[0].len;
	/* Every shard must be well-formed before any is used: indices in range and distinct over
	 * the whole list (a duplicate means a confused or lying caller), one common length. */
	if (len == 0 || len > CR_RS_PAYLOAD_MAX || out_cap < (size_t)k * len)
		goto fail;
	for (size_t i = 0; i < count; i++) {
		uint32_t idx = shards[i].index;

		if (idx >= n || seen[idx] || shards[i].len != len || shards[i].p == NULL)
			goto fail;
		seen[idx] = 1;
	}
	/* Only the first k shards are used: mark exactly those. */
	memset(seen, 0, sizeof(seen));
	for (uint32_t i = 0; i < k; i++)
		seen[shards[i].index] = 1;
	for (uint32_t d = 0; d < k; d++)
		if (!seen[d])
			missing[nmissing++] = d;
	/* Data shards we hold are the data; the others are rows of A_S^{-1} times the shards. */
	for (uint32_t i = 0; i < k; i++)
		if (shards[i].index < k)
			memcpy(out + (size_t)shards[i].index * len, shards[i].p, len);
	if (nmissing > 0) {
		for (uint32_t i = 0; i < k; i++) {
			memcpy(rs->sub + (size_t)i * k, rs->matrix + (size_t)shards[i].index * k, k);
			src[i] = isal_src(shards[i].p);
		}
		/* Any k rows of the systematic Cauchy matrix are independent, so this cannot fail
		 * for distinct in-range indices; checking anyway costs nothing. */
		if (gf_invert_matrix(rs->sub, rs->inv, (int)k) != 0)
			goto fail;
		for (uint32_t m = 0; m < nmissing; m++) {
			memcpy(rs->rows + (size_t)m * k, rs->inv + (size_t)missing[m] * k, k);
			dst[m] = out + (size_t)missing[m] * len;
		}
		ec_init_tables((int)k, (int)nmissing, rs->rows, rs->dec_tables);
		ec_encode_data((int)len, (int)k, (int)nmissing, rs->dec_tables, src, dst);
	}
	/* Strict layout: exactly what cr_rs_encode writes for some payload, nothing else. */
	plen = (size_t)out[0] | (size_t)out[1] << 8 | (size_t)out[2] << 16 | (size_t)out[3] << 24;
	if (plen > CR_RS_PAYLOAD_MAX || cr_rs_shard_len(rs, plen) != len)
		goto fail;
	if (!all_zero(out + CR_RS_PREFIX_BYTES + plen, (size_t)k * len - CR_RS_PREFIX_BYTES - plen))
		goto fail;
	memmove(out, out + CR_RS_PREFIX_BYTES, plen);
	memset(out + plen, 0, (size_t)k * len - plen);
	*payload_len = plen;
	return 0;
fail:
	if (out_cap > 0)
		memset(out, 0, out_cap);
	return -1;
}
