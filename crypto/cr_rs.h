/*
 * cr_rs: systematic Reed-Solomon erasure coding over GF(2^8) for reliable broadcast (ISA-L).
 *
 * Honey Badger's reliable broadcast (Miller et al., CCS'16, §4.2, after Cachin and Tessaro,
 * SRDS'05) splits a proposal into n shards of which any k = n - 2f reconstruct it, sends one to
 * each replica with a Merkle branch, and has every replica re-encode what it decoded and compare
 * the Merkle root. That comparison only works if every honest replica computes exactly the same
 * shards from the same value, so the code below is fixed by definition, not by library version:
 *
 *   Field: GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d), ISA-L's field.
 *   Matrix: the n x k systematic Cauchy matrix of ISA-L's gf_gen_cauchy1_matrix: row i < k is
 *     the unit vector e_i; row i >= k, column j is 1 / (i XOR j) (inverse in GF(2^8)). Its
 *     Cauchy part (x_i = i for i in k..n-1, y_j = j for j in 0..k-1, x and y disjoint) makes
 *     every k x k submatrix of the whole invertible, so any k shards decode. n <= 255.
 *   Shards: shard i = row i of the matrix times the k data shards, byte by byte; shards 0..k-1
 *     are the data itself.
 *   Data layout (length carried in-band): the data shards, concatenated, are
 *     len (4 bytes, little-endian) || payload (len bytes) || zero bytes,
 *     each shard_len = ceil((4 + len) / k) bytes long (at least 1).
 *   Test vectors in tests/vectors/rs_kat.txt pin all of this.
 *
 * Shard indices are 0-based (shard i, i in 0..n-1), unlike the 1-based threshold-share indices
 * of cr_dealer.
 *
 * Decoding is strict: the length prefix, the shard length it implies and the zero padding must
 * all be exactly what cr_rs_encode would produce, so a decoded value re-encodes to the very
 * shards it was decoded from. Reed-Solomon does not detect a corrupted shard by itself: a
 * tampered shard decodes to a different value (or fails the strict layout checks), whose
 * re-encoding then disagrees with the honest shards (and the Merkle root): that re-encoding
 * check is the caller's, as in the reliable broadcast protocol.
 */
#ifndef CR_RS_H
#define CR_RS_H

#include <stddef.h>
#include <stdint.h>

#ifndef CR_WUR
#define CR_WUR __attribute__((warn_unused_result))
#endif

#define CR_RS_N_MAX       255u
#define CR_RS_PREFIX_BYTES 4u
#define CR_RS_PAYLOAD_MAX (1u << 30) /* 1 GiB; keeps every shard length within ISA-L's int */

/** An encoder/decoder for one (n, k). All memory is allocated by cr_rs_init (about
 *  32 k (n - k) + 32 k min(k, n - k) + n k + 3 k^2 bytes: at most 1.1 MiB, at n = 255; 48 KiB at
 *  n = 64, k = 22) and released by cr_rs_free.
 *  Encoding only reads the object (any number of threads may encode with one); decoding uses
 *  its scratch space (one decoding thread per object). */
struct cr_rs {
	uint32_t n, k;
	uint8_t *matrix;      /* n x k coding matrix, row-major */
	uint8_t *enc_tables;  /* ISA-L tables for the n - k parity rows */
	uint8_t *sub;         /* k x k: rows of the matrix for the shards a decode uses */
	uint8_t *inv;         /* k x k: its inverse */
	uint8_t *rows;        /* the inverse's rows for the data shards that are missing */
	uint8_t *dec_tables;  /* ISA-L tables for those rows */
};

/** One received shard: a borrowed pointer to len bytes and the shard's 0-based index. */
struct cr_rs_shard {
	uint32_t index;
	const uint8_t *p;
	size_t len;
};

/** Sets up *rs for n shards of which any k reconstruct: 1 <= k <= n <= CR_RS_N_MAX (for
 *  reliable broadcast, k = n - 2f). 0, or -1 (with *rs empty) on bad parameters or when
 *  allocation fails. The caller releases it with cr_rs_free. */
int cr_rs_init(struct cr_rs *rs, uint32_t n, uint32_t k) CR_WUR;

/** Releases what cr_rs_init allocated; safe on an empty or already-freed object. */
void cr_rs_free(struct cr_rs *rs);

/** The length of each shard for a payload of payload_len bytes: ceil((4 + payload_len) / k).
 *  0 when payload_len exceeds CR_RS_PAYLOAD_MAX. */
size_t cr_rs_shard_len(const struct cr_rs *rs, size_t payload_len);

/** Encodes payload[0..payload_len) into n shards written back to back into out: shard i is
 *  out[i * L .. (i + 1) * L) with L = cr_rs_shard_len(rs, payload_len); out_len must be exactly
 *  n * L. payload may be NULL when payload_len is 0, and must not overlap out. 0, or -1 (out
 *  zeroed) when payload_len exceeds CR_RS_PAYLOAD_MAX or out_len is wrong. */
int cr_rs_encode(const struct cr_rs *rs, const uint8_t *payload, size_t payload_len,
		 uint8_t *out, size_t out_len) CR_WUR;

/** Reconstructs the payload from count >= k shards (the first k are used). Rejected (-1): fewer
 *  than k shards, an index >= n, the same index twice anywhere in the list, shards of different
 *  or zero lengths, out_cap < k * shard length, or data that is not exactly what cr_rs_encode
 *  produces (length prefix over the data, shard length not the one that length implies,
 *  non-zero padding). On success returns 0, with the payload in out[0..*payload_len); out is
 *  also used as working space (k * shard length bytes) and must not overlap the shards. On
 *  failure, out[0..out_cap) is zeroed and *payload_len untouched. */
int cr_rs_decode(struct cr_rs *rs, const struct cr_rs_shard *shards, size_t count, uint8_t *out,
		 size_t out_cap, size_t *payload_len) CR_WUR;

#endif
