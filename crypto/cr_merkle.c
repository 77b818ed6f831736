#include "crypto/cr_merkle.h"

#include <stdlib.h>
#include <string.h>

#define TAG_LEAF "merkle.leaf"
#define TAG_NODE "merkle.node"
#define TAG_PAD  "merkle.pad"

static int count_ok(uint32_t count)
{
	return count >= 1 && count <= CR_MERKLE_LEAVES_MAX;
}

/* The tree's width: the smallest power of two >= count (count already checked). */
static uint32_t width_of(uint32_t count)
{
	uint32_t w = 1;

	while (w < count)
		w <<= 1;
	return w;
}

uint32_t cr_merkle_branch_len(uint32_t count)
{
	uint32_t w, depth = 0;

	if (!count_ok(count))
		return 0;
	for (w = width_of(count); w > 1; w >>= 1)
		depth++;
	return depth;
}

static void hash_node(uint8_t out[CR_DIGEST_BYTES], const uint8_t left[CR_DIGEST_BYTES],
		      const uint8_t right[CR_DIGEST_BYTES])
{
	struct cr_hash h;

	cr_hash_init(&h, TAG_NODE);
	cr_hash_update(&h, left, CR_DIGEST_BYTES);
	cr_hash_update(&h, right, CR_DIGEST_BYTES);
	cr_hash_final(&h, out);
}

int cr_merkle_leaf_hash(uint8_t out[CR_DIGEST_BYTES], uint32_t count, uint32_t index,
			const void *leaf, size_t len)
{
	struct cr_hash h;

	if (!count_ok(count) || index >= count || (leaf == NULL && len > 0)) {
		memset(out, 0, CR_DIGEST_BYTES);
		return -1;
	}
	cr_hash_init(&h, TAG_LEAF);
	cr_hash_update_u64(&h, count);
	cr_hash_update_u64(&h, index);
	cr_hash_update(&h, leaf, len);
	cr_hash_final(&h, out);
	return 0;
}

/* Allocates the node array of a count-leaf tree into *t and fills the padding leaves. */
static int tree_alloc(struct cr_merkle *t, uint32_t count)
{
	uint32_t width = width_of(count);

	t->nodes = calloc(2 * (size_t)width, CR_DIGEST_BYTES);
	if (t->nodes == NULL)
		return -1;
	t->count = count;
	t->width = width;
	if (count < width) {
		cr_digest(t->nodes[width + count], TAG_PAD, NULL, 0);
		for (uint32_t i = count + 1; i < width; i++)
			memcpy(t->nodes[width + i], t->nodes[width + count], CR_DIGEST_BYTES);
	}
	return 0;
}

/* Hashes the inner nodes bottom-up once every leaf slot is filled. */
static void tree_fill(struct cr_merkle *t)
{
	for (uint32_t k = t->width - 1; k >= 1; k--)
		hash_node(t->nodes[k], t->nodes[2 * k], t->nodes[2 * k + 1]);
}

int cr_merkle_build(struct cr_merkle *t, const struct cr_bytes_view *leaves, uint32_t count)
{
	memset(t, 0, sizeof(*t));
	if (!count_ok(count) || leaves == NULL)
		return -1;
	/* Check every leaf before allocating, so a bad view costs nothing. */
	for (uint32_t i = 0; i < count; i++)
		if (leaves[i].p == NULL && leaves[i].len > 0)
			return -1;
	if (tree_alloc(t, count) != 0)
		return -1;
	for (uint32_t i = 0; i < count; i++) {
		/* Cannot fail: count, index and pointer were checked above. */
		if (cr_merkle_leaf_hash(t->nodes[t->width + i], count, i, leaves[i].p,
					leaves[i].len) != 0) {
			cr_merkle_free(t);
			return -1;
		}
	}
	tree_fill(t);
	return 0;
}

int cr_merkle_build_from_hashes(struct cr_merkle *t, const uint8_t (*leaf_hashes)[CR_DIGEST_BYTES],
				uint32_t count)
{
	memset(t, 0, sizeof(*t));
	if (!count_ok(count) || leaf_hashes == NULL)
		return -1;
	if (tree_alloc(t, count) != 0)
		return -1;
	memcpy(t->nodes[t->width], leaf_hashes, (size_t)count * CR_DIGEST_BYTES);
	tree_fill(t);
	return 0;
}

void cr_merkle_free(struct cr_merkle *t)
{
	free(t->nodes);
	memset(t, 0, sizeof(*t));
}

const uint8_t *cr_merkle_root(const struct cr_merkle *t)
{
	return t->nodes == NULL ? NULL : t->nodes[1];
}

uint32_t cr_merkle_count(const struct cr_merkle *t)
{
	return t->nodes == NULL ? 0 : t->count;
}

int cr_merkle_branch(const struct cr_merkle *t, uint32_t index, uint8_t (*out)[CR_DIGEST_BYTES],
		     uint32_t out_max, uint32_t *out_len)
{
	uint32_t len, k;

	if (t->nodes == NULL || index >= t->count || out == NULL || out_len == NULL)
		return -1;
	len = cr_merkle_branch_len(t->count);
	if (out_max < len)
		return -1;
	/* k ^ 1 is k's sibling in heap order; walk from the leaf to just below the root. */
	k = t->width + index;
	for (uint32_t i = 0; i < len; i++, k >>= 1)
		memcpy(out[i], t->nodes[k ^ 1], CR_DIGEST_BYTES);
	*out_len = len;
	return 0;
}

int cr_merkle_verify_hash(const uint8_t root[CR_DIGEST_BYTES], uint32_t count, uint32_t index,
			  const uint8_t leaf_hash[CR_DIGEST_BYTES],
			  const uint8_t (*branch)[CR_DIGEST_BYTES], uint32_t branch_len)
{
	uint8_t cur[CR_DIGEST_BYTES];
	uint32_t k;

	/* Everything here may come from a Byzantine peer: check the shape before any hashing. */
	if (root == NULL || leaf_hash == NULL || !count_ok(count) || index >= count)
		return -1;
	if (branch_len != cr_merkle_branch_len(count) || (branch == NULL && branch_len > 0))
		return -1;
	memcpy(cur, leaf_hash, CR_DIGEST_BYTES);
	k = width_of(count) + index;
	for (uint32_t i = 0; i < branch_len; i++, k >>= 1) {
		/* An even position is a left child, so its sibling goes on the right. */
		if ((k & 1) == 0)
			hash_node(cur, cur, branch[i]);
		else
			hash_node(cur, branch[i], cur);
	}
	return cr_equal(cur, root, CR_DIGEST_BYTES) ? 0 : -1;
}

int cr_merkle_verify(const uint8_t root[CR_DIGEST_BYTES], uint32_t count, uint32_t index,
		     const void *leaf, size_t leaf_len, const uint8_t (*branch)[CR_DIGEST_BYTES],
		     uint32_t branch_len)
{
	uint8_t lh[CR_DIGEST_BYTES];

	if (cr_merkle_leaf_hash(lh, count, index, leaf, leaf_len) != 0)
		return -1;
	return cr_merkle_verify_hash(root, count, index, lh, branch, branch_len);
}
