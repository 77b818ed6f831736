/*
 * memo: a memo of the results of pure, expensive verifications (threshold-share proofs,
 * ciphertext checks), for callers that run many engines in one process — the simulator, where
 * every replica checks the same broadcast shares. A result is stored under the BLAKE2b-256 of
 * everything the verification reads (built by the caller with bft_memo_key_*), so an entry can
 * only ever answer the exact question it was computed for; a collision in the table's index
 * costs a re-computation, never a wrong answer. bftnode runs one engine per process and passes
 * no memo (NULL everywhere means "compute every time").
 *
 * Besides yes/no verdicts an entry can hold a 32-byte value: the result of a combination that
 * every valid input set gives identically (Shamir interpolation of verified shares: any f+1 of
 * them give the same group element), keyed by what identifies it (the ciphertext and label, the
 * coin name and key set) — stored only after a caller computed it from verified shares.
 *
 * Not thread-safe. The memo is borrowed by the engines that use it and must outlive them.
 */
#ifndef BFT_MEMO_H
#define BFT_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bft/bft.h"
#include "crypto/cr_hash.h"

struct bft_memo;

/** A memo of 2^bits entries (bits in 8..24; about 72 bytes each). NULL when out of memory or
 *  bits is out of range. */
struct bft_memo *bft_memo_new(unsigned bits);
void bft_memo_free(struct bft_memo *m);

/** Starts a key for the verification named tag ("hb.dec.verify", ...). */
void bft_memo_key_init(struct cr_hash *h, const char *tag);
/** Finishes the key. */
void bft_memo_key_final(struct cr_hash *h, uint8_t key[CR_DIGEST_BYTES]);

/** A verdict stored under key: 1 valid, 0 invalid, -1 unknown (or m is NULL). */
int bft_memo_verdict(struct bft_memo *m, const uint8_t key[CR_DIGEST_BYTES]);
/** Stores a verdict (no-op when m is NULL). */
void bft_memo_put_verdict(struct bft_memo *m, const uint8_t key[CR_DIGEST_BYTES], bool valid);

/** A 32-byte value stored under key: true and *out written, or false. */
bool bft_memo_value(struct bft_memo *m, const uint8_t key[CR_DIGEST_BYTES],
		    uint8_t out[32]);
/** Stores a 32-byte value (no-op when m is NULL). */
void bft_memo_put_value(struct bft_memo *m, const uint8_t key[CR_DIGEST_BYTES],
			const uint8_t v[32]);

/** Lookups answered from the memo and computations stored, for the caller's statistics. */
void bft_memo_counts(const struct bft_memo *m, uint64_t *hits, uint64_t *stores);

#endif
