/*
 * cr_merkle: binary Merkle trees over 1..CR_MERKLE_LEAVES_MAX leaves (BLAKE2b-256 via cr_hash).
 *
 * Hashes (all 32 bytes, all through cr_hash's length-prefixed tags):
 *   leaf  = H("merkle.leaf", u64le(count) || u64le(index) || leaf bytes)
 *   node  = H("merkle.node", left || right)
 *   pad   = H("merkle.pad", "")
 * A leaf hash binds the tree size and the leaf's index, so a branch proving leaf i of an n-leaf
 * tree can be replayed neither as leaf j nor as a leaf of a tree of another size; the distinct
 * tags keep leaves, inner nodes and padding from ever being mistaken for one another.
 *
 * Shape: a tree of count leaves is the complete binary tree of width = the smallest power of two
 * >= count; leaf positions count..width-1 hold the pad hash. So the shape depends on count only,
 * every branch of a tree has the same length, cr_merkle_branch_len(count) = log2(width) (0 for one
 * leaf, whose root is its leaf hash), and no index >= count has a proof (verification rejects it
 * before hashing). Duplicating the last leaf instead (as Bitcoin does) would let two different
 * leaf lists share a root; padding with a hash no leaf can take avoids that.
 *
 * A branch lists the sibling hashes from the leaf level up to just below the root; whether a
 * sibling goes on the left or the right follows from the index bits.
 *
 * Reliable broadcast commits to erasure-coded shards with this tree; state transfer commits to
 * state chunks. Callers that already hold leaf hashes (cr_merkle_leaf_hash) can build from them.
 */
#ifndef CR_MERKLE_H
#define CR_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/cr_hash.h"

#define CR_MERKLE_LEAVES_MAX 4096u
#define CR_MERKLE_BRANCH_MAX 12u /* log2(CR_MERKLE_LEAVES_MAX) */

struct cr_merkle {
	/* 2 * width hashes in heap order, owned by the tree: [1] is the root, the children of [k]
	 * are [2k] and [2k+1], leaf i is [width + i]; [0] is unused. NULL when empty. */
	uint8_t (*nodes)[CR_DIGEST_BYTES];
	uint32_t count; /* leaves, 0 when empty */
	uint32_t width; /* smallest power of two >= count */
};

/** The number of sibling hashes in every branch of a count-leaf tree: ceil(log2(count)), so 0 for
 *  a single leaf. Returns 0 as well when count is 0 or over CR_MERKLE_LEAVES_MAX (which no
 *  function here accepts). */
uint32_t cr_merkle_branch_len(uint32_t count);

/** Hashes leaf number index (of count) into out: the value build() places at that leaf and the
 *  one build_from_hashes() expects. leaf is borrowed and may be NULL when len is 0.
 *  0, or -1 (out zeroed) when count is 0 or over CR_MERKLE_LEAVES_MAX, index >= count, or leaf is
 *  NULL with len > 0. */
int cr_merkle_leaf_hash(uint8_t out[CR_DIGEST_BYTES], uint32_t count, uint32_t index,
			const void *leaf, size_t len) CR_WUR;

/** Builds the tree over leaves[0..count) into *t (empty or uninitialised). The leaves are
 *  borrowed (only their hashes are kept); the tree owns a heap array of 2 * width hashes until
 *  cr_merkle_free(). 0, or -1 when count is 0 or over CR_MERKLE_LEAVES_MAX, leaves is NULL, a
 *  leaf has a NULL pointer with a non-zero length, or memory is exhausted; *t is then empty. */
int cr_merkle_build(struct cr_merkle *t, const struct cr_bytes_view *leaves, uint32_t count)
	CR_WUR;

/** Builds the tree from precomputed leaf hashes (leaf_hashes[i] must be
 *  cr_merkle_leaf_hash(count, i, leaf i) for the index and size binding to hold; this function
 *  cannot check that). Ownership and errors as cr_merkle_build(). */
int cr_merkle_build_from_hashes(struct cr_merkle *t, const uint8_t (*leaf_hashes)[CR_DIGEST_BYTES],
				uint32_t count) CR_WUR;

/** Releases the node array and leaves *t empty; safe on an empty or already-freed tree. */
void cr_merkle_free(struct cr_merkle *t);

/** The 32-byte root, borrowed from *t (valid until cr_merkle_free), or NULL for an empty tree. */
const uint8_t *cr_merkle_root(const struct cr_merkle *t);

/** The number of leaves, 0 for an empty tree. */
uint32_t cr_merkle_count(const struct cr_merkle *t);

/** Writes the branch of leaf index into out[0..*out_len), where *out_len becomes
 *  cr_merkle_branch_len(t->count); out is caller-owned with room for out_max hashes
 *  (CR_MERKLE_BRANCH_MAX always suffices). 0, or -1 when the tree is empty, index >= count,
 *  out or out_len is NULL, or out_max is too small; out and *out_len are then untouched. */
int cr_merkle_branch(const struct cr_merkle *t, uint32_t index, uint8_t (*out)[CR_DIGEST_BYTES],
		     uint32_t out_max, uint32_t *out_len) CR_WUR;

/** Checks that leaf[0..leaf_len) is leaf number index of a count-leaf tree with this root, given
 *  its branch. All inputs are borrowed and may come from a peer. 0 when the proof holds, -1
 *  otherwise: count 0 or over CR_MERKLE_LEAVES_MAX, index >= count, branch_len other than
 *  cr_merkle_branch_len(count), a NULL pointer where data is needed, or a hash mismatch. */
int cr_merkle_verify(const uint8_t root[CR_DIGEST_BYTES], uint32_t count, uint32_t index,
		     const void *leaf, size_t leaf_len, const uint8_t (*branch)[CR_DIGEST_BYTES],
		     uint32_t branch_len) CR_WUR;

/** As cr_merkle_verify(), for a caller holding the leaf hash (cr_merkle_leaf_hash(count, index,
 *  leaf)) instead of the leaf. */
int cr_merkle_verify_hash(const uint8_t root[CR_DIGEST_BYTES], uint32_t count, uint32_t index,
			  const uint8_t leaf_hash[CR_DIGEST_BYTES],
			  const uint8_t (*branch)[CR_DIGEST_BYTES], uint32_t branch_len) CR_WUR;

#endif
