/*
 * kv.c: the replicated key-value store (kv.h), the state machine the core executes.
 *
 * Layout of the state:
 *   - Each key lives in one record: varint key length, key, then varints value length, version,
 *     mod_rev, mod_rev - create_rev (usually 0: most keys are written once) and lease (usually
 *     0), then the value. Varints keep the per-key overhead near 8 bytes for ordinary keys (a
 *     16-byte key with a 64-byte value takes 88 bytes). A record is never changed in place (a
 *     write builds a new one), which is what makes undo simple. Records up to KV_SLAB_MAX bytes
 *     come from the store's own slabs in 4-byte size classes (glibc would round an 88-byte
 *     record up to a 96-byte chunk and an 89-byte one to 112); larger ones from malloc.
 *   - An ordered index: a B-tree (Bayer & McCreight; deletion as in CLRS ch. 18, done bottom-up)
 *     of record pointers, up to KV_BT_MAX per node, each with a 2-byte key hint (struct
 *     kv_node). A B-tree rather than a binary tree because it costs about 11 bytes per key
 *     against 24 or more for two child pointers and balance bits, and because the hints of a
 *     node sit together in one or two cache lines. No Debian library fit:
 *     GLib's GTree costs a 40-byte node per key plus separate key and value allocations and
 *     aborts on allocation failure; libjudy's ordered maps take NUL-terminated strings only.
 *   - A second B-tree, the lease index, holds one record per leased key, keyed by lease id and
 *     key, so that revoking a lease finds its keys without a scan. The lease table itself is a
 *     small array sorted by id (ids only grow, so grants append).
 *   - Nothing about the layout reaches a result or a snapshot: both are written from the
 *     records in key order, so replicas agree however their allocators behave.
 *
 * Writes go through an undo log, one op (or one whole TXN) at a time. A DEL only marks its
 * key's slot (the low pointer bit: records are at least 4-byte aligned) and a PUT over an
 * existing key only swaps the slot's pointer, so that rolling back never needs to allocate;
 * the commit then unlinks the marked keys and frees the replaced records.
 */
#include "node/kv.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Constants
 */

#define KV_BT_MAX 30                  /* records in a B-tree node */
#define KV_BT_MIN (KV_BT_MAX / 2)     /* fewest in a node other than the root, after deletions */
#define KV_BT_DEPTH 40                /* more than any tree of 2^64 keys can need */
#define KV_GRAIN 4u                   /* slab size classes are multiples of this */
#define KV_SLAB_MAX 1024u             /* records up to this size come from slabs */
#define KV_CLASSES (KV_SLAB_MAX / KV_GRAIN + 1)
#define KV_CHUNK (256u << 10)         /* bytes of one slab chunk */
#define KV_CHUNK_HDR 16u              /* a chunk starts with the link to the previous one */
#define KV_TOMB ((uintptr_t)1)        /* the slot mark of a key deleted by the op in progress */

/* Snapshot (docs/KV.md): magic, revision, now_ms, next lease id, lease count, leases (id, ttl,
 * deadline) in ascending id order, key count, then per key in ascending order: u32 klen, key,
 * u32 vlen, value, u64 version, u64 create_rev, u64 mod_rev, u64 lease. Little-endian. */
#define KV_SNAP_MAGIC "bftkv\x00\x00\x02"
#define KV_SNAP_MAGIC_LEN 8u
#define KV_SNAP_HDR (KV_SNAP_MAGIC_LEN + 32u)
#define KV_SNAP_LEASE 24u
#define KV_SNAP_ENTRY_MIN (4u + 1u + 4u + 32u)

/* The largest an outer TXN result can be without its nested results: fixarray, code, status,
 * revision (9), succeeded, array32 header. */
#define KV_TXN_RESULT_HDR (1u + 1u + 1u + 9u + 1u + 5u)

/* ---------------------------------------------------------------------------------------------
 * Types
 */

/*
 * A B-tree node. Comparing against a record means a cache miss somewhere in the heap, so each
 * node also keeps, per record, a 2-byte hint: the key's bytes at [skip, skip + 2), zero-padded,
 * where skip is the length of a prefix every key in the node shares. Among keys with a common
 * prefix, hints are ordered as the keys are (never the other way round), so a search narrows
 * to the records whose hint equals the searched key's with no miss at all, then compares those
 * (usually one). skip may be shorter than the longest shared prefix (deleting keys never makes
 * it wrong); node_refresh recomputes it as the prefix of the first and the last key.
 */
struct kv_node {
	uint16_t n;                  /* records in e[] */
	uint16_t leaf;
	uint32_t skip;
	uint16_t hint[KV_BT_MAX];
	uintptr_t e[KV_BT_MAX];      /* record pointers, possibly marked KV_TOMB */
	struct kv_node *c[];         /* KV_BT_MAX + 1 children; absent from leaves */
};

/* An ordered map of records: the keys, or the lease index. */
struct kv_tree {
	struct kv_node *root;
	uint32_t height;              /* 0 when empty; leaves are at depth height - 1 */
};

struct kv_arena {
	uint8_t *chunks;             /* the newest chunk; each links to the previous one */
	size_t used;                 /* bytes of the newest chunk handed out */
	uint8_t *free[KV_CLASSES];   /* per size class, a list threaded through the free blocks */
};

enum kv_undo_kind {
	KV_U_INSERT = 1,  /* now was inserted: undo unlinks and frees it */
	KV_U_REPLACE,     /* the slot held old, now holds now: undo puts old back and frees now;
			   * commit frees old */
	KV_U_TOMB,        /* the slot held old and was marked: undo unmarks; commit unlinks and
			   * frees old if the slot still holds it marked */
};

struct kv_undo {
	enum kv_undo_kind kind;
	struct kv_tree *tree;
	uintptr_t old, now;
};

/* A lease: keys attached to it are deleted when it is revoked or expires. */
struct kv_lease {
	uint64_t id, ttl_ms, deadline_ms;
};

struct kv {
	struct kv_limits lim;
	struct kv_tree keys;
	/* The lease index: one record per leased key, keyed by the lease id (8 bytes, big-endian,
	 * so that a lease's keys are contiguous) followed by the key; no value. */
	struct kv_tree lidx;
	uint64_t nkeys, nbytes, revision;
	/* Leases in ascending id order, the next id to grant, the latest batch time seen, and the
	 * earliest deadline (UINT64_MAX without leases), so that most ops skip expiry at once. */
	struct kv_lease *leases;
	size_t nleases, leases_cap;
	uint64_t next_lease, now_ms, lease_min;
	uint8_t *ikey;                /* key_max + 8 bytes: an index key being built */
	struct kv_arena arena;
	/* The write in progress: its undo log, whether it wrote anything, the counts to restore. */
	struct kv_undo *undo;
	size_t nundo, undo_cap;
	bool wrote;
	uint64_t saved_nkeys, saved_nbytes;
	/* Nested TXN results are gathered here before their header (which holds the final
	 * revision) can be written. */
	struct wire_buf scratch;
	int64_t fail_after;           /* kv_test_fail_alloc_after; < 0: off */
};

/* A record, parsed. */
struct kv_rec {
	const uint8_t *key, *value;
	uint32_t klen, vlen;
	uint64_t version, create_rev, mod_rev, lease;
	size_t size;                  /* bytes of the whole record */
};

/* ---------------------------------------------------------------------------------------------
 * Records
 */

static size_t uv_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *uv_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Reads a varint from one of our own records, which are well formed by construction. */
static const uint8_t *uv_get(const uint8_t *p, uint64_t *v)
{
	uint64_t x = 0;
	unsigned shift = 0;

	while (*p & 0x80) {
		x |= (uint64_t)(*p++ & 0x7f) << shift;
		shift += 7;
	}
	*v = x | (uint64_t)*p++ << shift;
	return p;
}

static const uint8_t *rec_ptr(uintptr_t slot)
{
	return (const uint8_t *)(slot & ~KV_TOMB);
}

static bool is_tomb(uintptr_t slot)
{
	return (slot & KV_TOMB) != 0;
}

/* The key of a record: the hot path of every search. */
static const uint8_t *rec_key(uintptr_t slot, uint32_t *klen)
{
	const uint8_t *p = rec_ptr(slot);
	uint64_t n;

	if (*p < 0x80) {
		*klen = *p;
		return p + 1;
	}
	p = uv_get(p, &n);
	*klen = (uint32_t)n;
	return p;
}

static void rec_parse(uintptr_t slot, struct kv_rec *r)
{
	const uint8_t *base = rec_ptr(slot), *p;
	uint64_t v;

	p = uv_get(base, &v);
	r->klen = (uint32_t)v;
	r->key = p;
	p = uv_get(p + r->klen, &v);
	r->vlen = (uint32_t)v;
	p = uv_get(p, &r->version);
	p = uv_get(p, &r->mod_rev);
	p = uv_get(p, &v);
	r->create_rev = r->mod_rev - v;
	p = uv_get(p, &r->lease);
	r->value = p;
	r->size = (size_t)(p - base) + r->vlen;
}

static size_t rec_size(uint32_t klen, uint32_t vlen, uint64_t version, uint64_t create,
		       uint64_t mod, uint64_t lease)
{
	return uv_size(klen) + klen + uv_size(vlen) + uv_size(version) + uv_size(mod) +
	       uv_size(mod - create) + uv_size(lease) + vlen;
}

static int key_cmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
	uint32_t n = alen < blen ? alen : blen;
	/* memcmp must not see a NULL pointer, even with a zero length (C11 7.24.1). */
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* ---------------------------------------------------------------------------------------------
 * Allocation: every allocation of the state passes the test hook, so that tests can make any
 * one of them fail.
 */

static bool alloc_refused(struct kv *kv)
{
	if (kv->fail_after < 0)
		return false;
	if (kv->fail_after == 0)
		return true;
	kv->fail_after--;
	return false;
}

static size_t class_of(size_t size)
{
	if (size < sizeof(void *))
		size = sizeof(void *);
	return (size + KV_GRAIN - 1) / KV_GRAIN;
}

/* A block for a record of size bytes, or NULL. */
static uint8_t *rec_alloc(struct kv *kv, size_t size)
{
	struct kv_arena *a = &kv->arena;
	size_t cls, block;
	uint8_t *p;

	if (alloc_refused(kv))
		return NULL;
	if (size > KV_SLAB_MAX)
		return malloc(size);
	cls = class_of(size);
	block = cls * KV_GRAIN;
	if (a->free[cls] != NULL) {
		p = a->free[cls];
		memcpy(&a->free[cls], p, sizeof(a->free[cls]));
		return p;
	}
	if (a->chunks == NULL || KV_CHUNK - a->used < block) {
		/* The tail of the old chunk is lost: at most KV_SLAB_MAX of KV_CHUNK bytes. */
		uint8_t *c = malloc(KV_CHUNK);

		if (c == NULL)
			return NULL;
		memcpy(c, &a->chunks, sizeof(a->chunks));
		a->chunks = c;
		a->used = KV_CHUNK_HDR;
	}
	p = a->chunks + a->used;
	a->used += block;
	return p;
}

static void rec_free(struct kv *kv, uintptr_t slot)
{
	struct kv_rec r;
	uint8_t *p = (uint8_t *)(slot & ~KV_TOMB);
	size_t cls;

	rec_parse(slot, &r);
	if (r.size > KV_SLAB_MAX) {
		free(p);
		return;
	}
	cls = class_of(r.size);
	memcpy(p, &kv->arena.free[cls], sizeof(kv->arena.free[cls]));
	kv->arena.free[cls] = p;
}

static uintptr_t rec_new(struct kv *kv, const struct bft_bytes *key, const struct bft_bytes *value,
			 uint64_t version, uint64_t create, uint64_t mod, uint64_t lease)
{
	size_t size;
	uint8_t *base, *p;

	BFT_ASSERT(create <= mod);
	size = rec_size(key->len, value->len, version, create, mod, lease);
	base = rec_alloc(kv, size);
	if (base == NULL)
		return 0;
	p = uv_put(base, key->len);
	memcpy(p, key->p, key->len);
	p = uv_put(p + key->len, value->len);
	p = uv_put(p, version);
	p = uv_put(p, mod);
	p = uv_put(p, mod - create);
	p = uv_put(p, lease);
	if (value->len > 0)
		memcpy(p, value->p, value->len);
	/* Slab blocks are 4-byte aligned and malloc's more: the low bit is free for KV_TOMB. */
	BFT_ASSERT(((uintptr_t)base & KV_TOMB) == 0);
	return (uintptr_t)base;
}

static void arena_free(struct kv_arena *a)
{
	uint8_t *c = a->chunks, *prev;

	while (c != NULL) {
		memcpy(&prev, c, sizeof(prev));
		free(c);
		c = prev;
	}
	memset(a, 0, sizeof(*a));
}

/* ---------------------------------------------------------------------------------------------
 * B-tree
 */

static struct kv_node *node_new(struct kv *kv, bool leaf)
{
	size_t size = sizeof(struct kv_node) + (leaf ? 0 : (KV_BT_MAX + 1) * sizeof(struct kv_node *));
	struct kv_node *x;

	if (alloc_refused(kv))
		return NULL;
	x = malloc(size);
	if (x == NULL)
		return NULL;
	x->n = 0;
	x->leaf = leaf;
	x->skip = 0;
	return x;
}

static uint16_t hint_of(const uint8_t *key, uint32_t klen, uint32_t skip)
{
	uint16_t h = 0;

	if (klen > skip)
		h = (uint16_t)(key[skip] << 8);
	if (klen > skip + 1)
		h |= key[skip + 1];
	return h;
}

static uint32_t common_prefix(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
	uint32_t n = alen < blen ? alen : blen, i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* Recomputes x's skip and hints from its records (a miss per record: only after splits,
 * merges, rotations and the rare insert that lengthens the node's key range). */
static void node_refresh(struct kv_node *x)
{
	uint32_t alen, blen;
	const uint8_t *a, *b;

	if (x->n == 0) {
		x->skip = 0;
		return;
	}
	a = rec_key(x->e[0], &alen);
	b = rec_key(x->e[x->n - 1], &blen);
	x->skip = common_prefix(a, alen, b, blen);
	for (uint32_t i = 0; i < x->n; i++) {
		a = rec_key(x->e[i], &alen);
		x->hint[i] = hint_of(a, alen, x->skip);
	}
}

/* Sets the hint of x->e[i], a record just placed there: in place when its key has the node's
 * prefix, else by refreshing the node. Between two keys with a prefix, every key has it too, so
 * only a record at either end needs the check. */
static void node_set_hint(struct kv_node *x, uint32_t i)
{
	uint32_t klen, olen;
	const uint8_t *key = rec_key(x->e[i], &klen), *other;

	if (x->n > 1 && (i == 0 || i == x->n - 1u)) {
		other = rec_key(x->e[i == 0 ? x->n - 1u : 0], &olen);
		if (klen < x->skip || olen < x->skip || memcmp(key, other, x->skip) != 0) {
			node_refresh(x);
			return;
		}
	} else if (x->n == 1) {
		node_refresh(x);
		return;
	}
	x->hint[i] = hint_of(key, klen, x->skip);
}

/* Moves hints along with records: n hints from index from to index to. */
static void hints_move(struct kv_node *x, uint32_t to, uint32_t from, uint32_t n)
{
	memmove(&x->hint[to], &x->hint[from], n * sizeof(x->hint[0]));
}

/* The first index i of x whose key is >= key; *found when it is equal. */
static uint32_t node_search(const struct kv_node *x, const uint8_t *key, uint32_t klen, bool *found)
{
	uint16_t hk = hint_of(key, klen, x->skip);
	uint32_t lo = 0, hi = x->n, first, end, probe, plen;
	const uint8_t *pk;

	*found = false;
	if (x->n == 0)
		return 0;
	/* The records whose hint equals the key's: [first, end). */
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (x->hint[mid] < hk)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	hi = x->n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (x->hint[mid] <= hk)
			lo = mid + 1;
		else
			hi = mid;
	}
	end = lo;
	/* Hints only order keys that have the node's prefix. A key without it sorts before or
	 * after all of the node's keys, as any one comparison tells. */
	if (x->skip > 0) {
		probe = first < x->n ? first : x->n - 1u;
		pk = rec_key(x->e[probe], &plen);
		if (klen < x->skip || memcmp(key, pk, x->skip) != 0)
			return key_cmp(key, klen, pk, plen) < 0 ? 0 : x->n;
	}
	lo = first;
	hi = end;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2, mlen;
		const uint8_t *mk;
		int c;

		/* Each probe is a cache miss on a record somewhere in the heap. Asking for both
		 * records the next probe may need while this one loads overlaps the misses. */
		if (mid > lo)
			__builtin_prefetch(rec_ptr(x->e[(lo + mid - 1) / 2]));
		if (mid + 1 < hi)
			__builtin_prefetch(rec_ptr(x->e[(mid + 1 + hi) / 2]));
		mk = rec_key(x->e[mid], &mlen);
		c = key_cmp(mk, mlen, key, klen);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The slot holding key (marked or not), or NULL. Valid until the tree's next insert or unlink. */
static uintptr_t *bt_find(const struct kv_tree *t, const uint8_t *key, uint32_t klen)
{
	struct kv_node *x = t->root;

	while (x != NULL) {
		bool found;
		uint32_t i = node_search(x, key, klen, &found);

		if (found)
			return &x->e[i];
		x = x->leaf ? NULL : x->c[i];
	}
	return NULL;
}

/* Frees a subtree and its records (the slab ones go back to their lists, which the caller
 * releases with the arena; the malloc'd ones are freed here). */
/* A root-to-node path: node[d] is at depth d, idx[d] the position searched for in it. */
struct bt_path {
	struct kv_node *node[KV_BT_DEPTH];
	uint32_t idx[KV_BT_DEPTH];
	uint32_t depth;
};

/*
 * Descends towards key recording the path. Returns the slot holding key (the path then ends at
 * its node, idx its index) or NULL (the path ends at the leaf where key belongs, idx its place).
 * The path stays valid until the tree's next insert or unlink.
 */
static uintptr_t *bt_locate(const struct kv_tree *t, const uint8_t *key, uint32_t klen,
			    struct bt_path *path)
{
	struct kv_node *x = t->root;

	path->depth = 0;
	while (x != NULL) {
		bool found;
		uint32_t i = node_search(x, key, klen, &found);

		BFT_ASSERT(path->depth < KV_BT_DEPTH);
		path->node[path->depth] = x;
		path->idx[path->depth] = i;
		path->depth++;
		if (found)
			return &x->e[i];
		x = x->leaf ? NULL : x->c[i];
	}
	return NULL;
}

static void node_free_all(struct kv *kv, struct kv_node *x)
{
	if (x == NULL)
		return;
	for (uint32_t i = 0; i < x->n; i++)
		rec_free(kv, x->e[i]);
	if (!x->leaf)
		for (uint32_t i = 0; i <= x->n; i++)
			node_free_all(kv, x->c[i]);
	free(x);
}

/*
 * Inserts rec, whose key must be absent. Returns -1, with the tree unchanged, when a node cannot
 * be allocated: the nodes that splits will need are allocated before anything moves.
 *
 * A full node splits in half, except on the tree's rightmost path when the new record goes at
 * the end: then the left node keeps all but one record. Appending ascending keys (the common
 * load pattern, and every restore) so fills nodes instead of leaving them half empty. Only the
 * rightmost path can be left below KV_BT_MIN that way, so the tree stays balanced and its
 * nodes mostly full whatever order keys arrive in.
 */
static int bt_insert_at(struct kv *kv, struct kv_tree *t, const struct bt_path *bp,
			uintptr_t rec)
{
	struct kv_node *const *path = bp->node, *spare[KV_BT_DEPTH + 1];
	const uint32_t *idx = bp->idx;
	uint32_t depth = bp->depth, need = 0, nspare = 0;
	bool rightmost = true;
	uintptr_t carry = rec;
	struct kv_node *carry_right = NULL, *x;

	if (t->root == NULL) {
		x = node_new(kv, true);
		if (x == NULL)
			return -1;
		x->e[0] = rec;
		x->n = 1;
		node_refresh(x);
		t->root = x;
		t->height = 1;
		return 0;
	}
	BFT_ASSERT(depth > 0 && path[depth - 1]->leaf);
	/* Count the splits: from the leaf up, every full node splits; a full root adds a root. */
	for (uint32_t d = depth; d-- > 0 && path[d]->n == KV_BT_MAX;)
		need += d == 0 ? 2 : 1;
	for (; nspare < need; nspare++) {
		/* spare[k] becomes the right half of the node split k-th from the leaf, so it is a
		 * leaf exactly when that node is; the one past the path is the new (inner) root. */
		bool leaf = nspare < depth && path[depth - 1 - nspare]->leaf;

		spare[nspare] = node_new(kv, leaf);
		if (spare[nspare] == NULL) {
			while (nspare > 0)
				free(spare[--nspare]);
			return -1;
		}
	}
	nspare = 0;
	for (uint32_t d = 0; d < depth; d++)
		rightmost = rightmost && idx[d] == path[d]->n;
	for (uint32_t d = depth; d-- > 0;) {
		uintptr_t te[KV_BT_MAX + 1];
		struct kv_node *tc[KV_BT_MAX + 2], *right;
		uint32_t i = idx[d], n, left_n;

		x = path[d];
		if (x->n < KV_BT_MAX) {
			memmove(&x->e[i + 1], &x->e[i], (x->n - i) * sizeof(x->e[0]));
			hints_move(x, i + 1, i, x->n - i);
			x->e[i] = carry;
			if (!x->leaf) {
				memmove(&x->c[i + 2], &x->c[i + 1], (x->n - i) * sizeof(x->c[0]));
				x->c[i + 1] = carry_right;
			}
			x->n++;
			node_set_hint(x, i);
			return 0;
		}
		/* Split: lay out the KV_BT_MAX + 1 records (and children) in order, then share. */
		n = x->n;
		memcpy(te, x->e, i * sizeof(te[0]));
		te[i] = carry;
		memcpy(&te[i + 1], &x->e[i], (n - i) * sizeof(te[0]));
		if (!x->leaf) {
			memcpy(tc, x->c, (i + 1) * sizeof(tc[0]));
			tc[i + 1] = carry_right;
			memcpy(&tc[i + 2], &x->c[i + 1], (n - i) * sizeof(tc[0]));
		}
		left_n = (rightmost && i == n) ? KV_BT_MAX - 1 : KV_BT_MAX / 2;
		right = spare[nspare++];
		BFT_ASSERT(right->leaf == x->leaf);
		memcpy(x->e, te, left_n * sizeof(te[0]));
		x->n = (uint16_t)left_n;
		right->n = (uint16_t)(KV_BT_MAX - left_n);
		memcpy(right->e, &te[left_n + 1], right->n * sizeof(te[0]));
		if (!x->leaf) {
			memcpy(x->c, tc, (left_n + 1) * sizeof(tc[0]));
			memcpy(right->c, &tc[left_n + 1], (right->n + 1u) * sizeof(tc[0]));
		}
		node_refresh(x);
		node_refresh(right);
		carry = te[left_n];
		carry_right = right;
	}
	/* The root split: a new root holds the separator between its two halves. */
	x = spare[nspare++];
	BFT_ASSERT(!x->leaf && nspare == need);
	x->e[0] = carry;
	x->c[0] = t->root;
	x->c[1] = carry_right;
	x->n = 1;
	node_refresh(x);
	t->root = x;
	t->height++;
	return 0;
}

/* Inserts rec, whose key must be absent (the restore path; writes use bt_insert_at). */
static int bt_insert(struct kv *kv, struct kv_tree *t, uintptr_t rec)
{
	struct bt_path path;
	uint32_t klen;
	const uint8_t *key = rec_key(rec, &klen);

	BFT_ASSERT(bt_locate(t, key, klen, &path) == NULL);
	return bt_insert_at(kv, t, &path, rec);
}

/* Moves one record from the left sibling of p->c[ci] through the parent into it. */
static void bt_borrow_left(struct kv_node *p, uint32_t ci)
{
	struct kv_node *x = p->c[ci], *l = p->c[ci - 1];

	memmove(&x->e[1], &x->e[0], x->n * sizeof(x->e[0]));
	x->e[0] = p->e[ci - 1];
	if (!x->leaf) {
		memmove(&x->c[1], &x->c[0], (x->n + 1u) * sizeof(x->c[0]));
		x->c[0] = l->c[l->n];
	}
	x->n++;
	p->e[ci - 1] = l->e[l->n - 1];
	l->n--;
	/* Rare (deletions only): recompute rather than patch the three nodes' hints. */
	node_refresh(x);
	node_refresh(l);
	node_refresh(p);
}

/* Moves one record from the right sibling of p->c[ci] through the parent into it. */
static void bt_borrow_right(struct kv_node *p, uint32_t ci)
{
	struct kv_node *x = p->c[ci], *r = p->c[ci + 1];

	x->e[x->n] = p->e[ci];
	if (!x->leaf)
		x->c[x->n + 1] = r->c[0];
	x->n++;
	p->e[ci] = r->e[0];
	memmove(&r->e[0], &r->e[1], (r->n - 1u) * sizeof(r->e[0]));
	if (!r->leaf)
		memmove(&r->c[0], &r->c[1], r->n * sizeof(r->c[0]));
	r->n--;
	node_refresh(x);
	node_refresh(r);
	node_refresh(p);
}

/* Merges p->c[s + 1] and the separator p->e[s] into p->c[s], and frees the right node. */
static void bt_merge(struct kv_node *p, uint32_t s)
{
	struct kv_node *l = p->c[s], *r = p->c[s + 1];

	BFT_ASSERT(l->n + 1u + r->n <= KV_BT_MAX);
	l->e[l->n] = p->e[s];
	memcpy(&l->e[l->n + 1], r->e, r->n * sizeof(r->e[0]));
	if (!l->leaf)
		memcpy(&l->c[l->n + 1], r->c, (r->n + 1u) * sizeof(r->c[0]));
	l->n = (uint16_t)(l->n + 1u + r->n);
	free(r);
	memmove(&p->e[s], &p->e[s + 1], (p->n - s - 1u) * sizeof(p->e[0]));
	hints_move(p, s, s + 1, p->n - s - 1u);
	memmove(&p->c[s + 1], &p->c[s + 2], (p->n - s - 1u) * sizeof(p->c[0]));
	p->n--;
	/* p lost a record: its skip still holds. l gained a range: recompute it. */
	node_refresh(l);
}

/* Unlinks the slot a bt_locate that found its key ended at, and returns what it held. Frees
 * emptied nodes; never allocates, so commits and rollbacks cannot fail. */
static uintptr_t bt_unlink_at(struct kv_tree *t, struct bt_path *bp)
{
	struct kv_node **path = bp->node, *x;
	uint32_t *idx = bp->idx, depth = bp->depth, i;
	uintptr_t out;

	BFT_ASSERT(depth > 0);
	x = path[depth - 1];
	i = idx[depth - 1];
	out = x->e[i];
	if (x->leaf) {
		memmove(&x->e[i], &x->e[i + 1], (x->n - i - 1u) * sizeof(x->e[0]));
		hints_move(x, i, i + 1, x->n - i - 1u);
		x->n--;
	} else {
		/* An inner record is replaced by its predecessor, the last record of the rightmost
		 * leaf of its left subtree; the leaf then lost one. */
		struct kv_node *y = x->c[i];

		while (true) {
			BFT_ASSERT(depth < KV_BT_DEPTH);
			path[depth] = y;
			idx[depth] = y->n;
			depth++;
			if (y->leaf)
				break;
			y = y->c[y->n];
		}
		x->e[i] = y->e[y->n - 1];
		y->n--;
		/* The predecessor sorts between x's records i - 1 and i, so it has their prefix,
		 * unless it became record 0. */
		if (i == 0)
			node_refresh(x);
		else
			node_set_hint(x, i);
	}
	/* Restore the minimum fill from the leaf up (path[d]'s index in its parent is idx[d-1]). */
	for (uint32_t d = depth - 1; d > 0; d--) {
		struct kv_node *p = path[d - 1];
		uint32_t ci = idx[d - 1];

		if (path[d]->n >= KV_BT_MIN)
			break;
		if (ci > 0 && p->c[ci - 1]->n > KV_BT_MIN) {
			bt_borrow_left(p, ci);
			break;
		}
		if (ci < p->n && p->c[ci + 1]->n > KV_BT_MIN) {
			bt_borrow_right(p, ci);
			break;
		}
		bt_merge(p, ci > 0 ? ci - 1 : ci);
	}
	if (t->root->n == 0) {
		struct kv_node *old = t->root;

		t->root = old->leaf ? NULL : old->c[0];
		t->height--;
		free(old);
	}
	return out;
}

/* Unlinks key if its slot holds exactly expect; returns whether it did. */
static bool bt_unlink_if(struct kv_tree *t, const uint8_t *key, uint32_t klen, uintptr_t expect)
{
	struct bt_path path;
	uintptr_t *slot = bt_locate(t, key, klen, &path);

	if (slot == NULL || *slot != expect)
		return false;
	bt_unlink_at(t, &path);
	return true;
}

/* An in-order cursor. For inner levels, idx is the child descended into, so that record idx is
 * the next one of that node once the child is done; at the top level it is the current record. */
struct kv_iter {
	struct kv_node *node[KV_BT_DEPTH];
	uint32_t idx[KV_BT_DEPTH];
	int top;                      /* -1 when past the end */
};

static void it_settle(struct kv_iter *it)
{
	while (it->top >= 0 && it->idx[it->top] >= it->node[it->top]->n)
		it->top--;
}

/* Positions it at the first record whose key is >= key. */
static void it_seek(struct kv_iter *it, const struct kv_tree *t, const uint8_t *key,
		    uint32_t klen)
{
	struct kv_node *x = t->root;

	it->top = -1;
	while (x != NULL) {
		bool found;
		uint32_t i = node_search(x, key, klen, &found);

		BFT_ASSERT(it->top + 1 < KV_BT_DEPTH);
		it->top++;
		it->node[it->top] = x;
		it->idx[it->top] = i;
		if (found || x->leaf)
			break;
		x = x->c[i];
	}
	it_settle(it);
}

static bool it_valid(const struct kv_iter *it)
{
	return it->top >= 0;
}

static uintptr_t it_get(const struct kv_iter *it)
{
	return it->node[it->top]->e[it->idx[it->top]];
}

static void it_next(struct kv_iter *it)
{
	struct kv_node *x = it->node[it->top];

	it->idx[it->top]++;
	if (!x->leaf) {
		/* After record i comes the leftmost record of child i + 1. */
		x = x->c[it->idx[it->top]];
		while (true) {
			BFT_ASSERT(it->top + 1 < KV_BT_DEPTH);
			it->top++;
			it->node[it->top] = x;
			it->idx[it->top] = 0;
			if (x->leaf)
				break;
			x = x->c[0];
		}
	}
	it_settle(it);
}

/* ---------------------------------------------------------------------------------------------
 * Writes and their undo log
 */

static void w_begin(struct kv *kv)
{
	kv->nundo = 0;
	kv->wrote = false;
	kv->saved_nkeys = kv->nkeys;
	kv->saved_nbytes = kv->nbytes;
}

/* The revision writes of the op in progress carry. */
static uint64_t w_rev(const struct kv *kv)
{
	return kv->revision + 1;
}

/* The store's revision as seen after what the op in progress has done so far. */
static uint64_t cur_rev(const struct kv *kv)
{
	return kv->revision + (kv->wrote ? 1 : 0);
}

/* Makes room for n more undo records before anything changes, so that recording cannot fail. */
static int w_reserve(struct kv *kv, size_t n)
{
	struct kv_undo *u;
	size_t cap;

	if (n <= kv->undo_cap - kv->nundo)
		return 0;
	if (alloc_refused(kv))
		return -1;
	cap = kv->undo_cap ? kv->undo_cap * 2 : 16;
	while (cap - kv->nundo < n)
		cap *= 2;
	u = realloc(kv->undo, cap * sizeof(*u));
	if (u == NULL)
		return -1;
	kv->undo = u;
	kv->undo_cap = cap;
	return 0;
}

static void w_record(struct kv *kv, struct kv_tree *t, enum kv_undo_kind kind, uintptr_t old,
		     uintptr_t now)
{
	BFT_ASSERT(kv->nundo < kv->undo_cap);
	kv->undo[kv->nundo].kind = kind;
	kv->undo[kv->nundo].tree = t;
	kv->undo[kv->nundo].old = old;
	kv->undo[kv->nundo].now = now;
	kv->nundo++;
	/* Only the keys make a revision: the lease index follows them. */
	if (t == &kv->keys)
		kv->wrote = true;
}

static uintptr_t *slot_of(const struct kv_tree *t, uintptr_t rec)
{
	uint32_t klen;
	const uint8_t *key = rec_key(rec, &klen);

	return bt_find(t, key, klen);
}

static void w_commit(struct kv *kv)
{
	for (size_t i = 0; i < kv->nundo; i++) {
		const struct kv_undo *u = &kv->undo[i];
		const uint8_t *key;
		uint32_t klen;

		switch (u->kind) {
		case KV_U_INSERT:
			break;
		case KV_U_REPLACE:
			rec_free(kv, u->old);
			break;
		case KV_U_TOMB:
			/* A later write of the same key may have replaced the mark; its own
			 * KV_U_REPLACE then frees old. */
			key = rec_key(u->old, &klen);
			if (bt_unlink_if(u->tree, key, klen, u->old | KV_TOMB))
				rec_free(kv, u->old);
			break;
		}
	}
	if (kv->wrote)
		kv->revision++;
	kv->nundo = 0;
	kv->wrote = false;
}

static void w_rollback(struct kv *kv)
{
	while (kv->nundo > 0) {
		const struct kv_undo *u = &kv->undo[--kv->nundo];
		uintptr_t *slot = slot_of(u->tree, u->kind == KV_U_TOMB ? u->old : u->now);

		BFT_ASSERT(slot != NULL);
		switch (u->kind) {
		case KV_U_INSERT: {
			uint32_t klen;
			const uint8_t *key = rec_key(u->now, &klen);

			BFT_ASSERT(bt_unlink_if(u->tree, key, klen, u->now));
			rec_free(kv, u->now);
			break;
		}
		case KV_U_REPLACE:
			BFT_ASSERT(*slot == u->now);
			*slot = u->old;
			rec_free(kv, u->now);
			break;
		case KV_U_TOMB:
			BFT_ASSERT(*slot == (u->old | KV_TOMB));
			*slot = u->old;
			break;
		}
	}
	kv->nkeys = kv->saved_nkeys;
	kv->nbytes = kv->saved_nbytes;
	kv->wrote = false;
}

/* The live record of key, or 0. */
static uintptr_t lookup(const struct kv *kv, const struct bft_bytes *key)
{
	uintptr_t *slot = bt_find(&kv->keys, key->p, key->len);

	if (slot == NULL || is_tomb(*slot))
		return 0;
	return *slot;
}

/* The lease index key of (lease, key), built in kv->ikey. */
static struct bft_bytes ikey(struct kv *kv, uint64_t lease, const uint8_t *key, uint32_t klen)
{
	struct bft_bytes b = {.p = kv->ikey, .len = klen + 8};

	for (int i = 0; i < 8; i++)
		kv->ikey[i] = (uint8_t)(lease >> (56 - 8 * i));
	memcpy(kv->ikey + 8, key, klen);
	return b;
}

/* Marks the index record of (lease, key) deleted, as part of the op in progress. */
static void w_detach(struct kv *kv, uint64_t lease, const uint8_t *key, uint32_t klen)
{
	struct bft_bytes ik = ikey(kv, lease, key, klen);
	uintptr_t *islot = bt_find(&kv->lidx, ik.p, ik.len);

	/* A live key with a lease has its live index record: our invariant (kv_test_check). */
	BFT_ASSERT(islot != NULL && !is_tomb(*islot));
	w_record(kv, &kv->lidx, KV_U_TOMB, *islot, 0);
	*islot |= KV_TOMB;
}

/* Adds the index record of (lease, key), as part of the op in progress. */
static int w_attach(struct kv *kv, uint64_t lease, const uint8_t *key, uint32_t klen)
{
	static const struct bft_bytes none = {NULL, 0};
	struct bft_bytes ik = ikey(kv, lease, key, klen);
	struct bt_path path;
	uintptr_t *islot = bt_locate(&kv->lidx, ik.p, ik.len, &path);
	uintptr_t irec = rec_new(kv, &ik, &none, 1, 0, 0, 0);

	if (irec == 0)
		return -1;
	if (islot != NULL) {
		/* Detached earlier in this op (a live one would mean the key had this lease). */
		BFT_ASSERT(is_tomb(*islot));
		w_record(kv, &kv->lidx, KV_U_REPLACE, *islot, irec);
		*islot = irec;
		return 0;
	}
	if (bt_insert_at(kv, &kv->lidx, &path, irec) != 0) {
		rec_free(kv, irec);
		return -1;
	}
	w_record(kv, &kv->lidx, KV_U_INSERT, 0, irec);
	return 0;
}

static struct kv_lease *lease_find(const struct kv *kv, uint64_t id)
{
	size_t lo = 0, hi = kv->nleases;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (kv->leases[mid].id == id)
			return &kv->leases[mid];
		if (kv->leases[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Writes value under key, attached to lease (0: none), as part of the op in progress; *out gets
 * the new record. On any status but KV_OK the caller must roll the op back: a failure can come
 * after the first change.
 */
static enum kv_status w_put(struct kv *kv, const struct bft_bytes *key,
			    const struct bft_bytes *value, uint64_t lease, struct kv_rec *out)
{
	struct bt_path path;
	uintptr_t *slot = bt_locate(&kv->keys, key->p, key->len, &path);
	uintptr_t cur = slot != NULL ? *slot : 0, rec;
	bool live = cur != 0 && !is_tomb(cur);
	struct kv_rec old = {0};
	uint64_t version = 1, create = w_rev(kv), bytes;

	if (lease != 0 && lease_find(kv, lease) == NULL)
		return KV_NO_LEASE;
	if (live) {
		rec_parse(cur, &old);
		version = old.version + 1;
		create = old.create_rev;
	} else if (kv->nkeys >= kv->lim.keys_max) {
		return KV_FULL;
	}
	bytes = kv->nbytes - (live ? (uint64_t)old.klen + old.vlen : 0);
	if ((uint64_t)key->len + value->len > kv->lim.bytes_max - bytes)
		return KV_FULL;
	/* The key, and the lease index: a detach and an attach. */
	if (w_reserve(kv, 3) != 0)
		return KV_NOMEM;
	rec = rec_new(kv, key, value, version, create, w_rev(kv), lease);
	if (rec == 0)
		return KV_NOMEM;
	if (slot != NULL) {
		w_record(kv, &kv->keys, KV_U_REPLACE, cur, rec);
		*slot = rec;
	} else {
		/* Nothing since bt_locate changed the tree: the path still holds. */
		if (bt_insert_at(kv, &kv->keys, &path, rec) != 0) {
			rec_free(kv, rec);
			return KV_NOMEM;
		}
		w_record(kv, &kv->keys, KV_U_INSERT, 0, rec);
	}
	if (!live)
		kv->nkeys++;
	kv->nbytes = bytes + key->len + value->len;
	/* A PUT without a lease detaches the key from its old one, as etcd's does. */
	if (old.lease != lease) {
		if (old.lease != 0)
			w_detach(kv, old.lease, key->p, key->len);
		if (lease != 0 && w_attach(kv, lease, key->p, key->len) != 0)
			return KV_NOMEM;
	}
	rec_parse(rec, out);
	return KV_OK;
}

static enum kv_status w_del(struct kv *kv, const struct bft_bytes *key)
{
	uintptr_t *slot = bt_find(&kv->keys, key->p, key->len);
	struct kv_rec old;

	if (slot == NULL || is_tomb(*slot))
		return KV_NOT_FOUND;
	if (w_reserve(kv, 2) != 0)
		return KV_NOMEM;
	rec_parse(*slot, &old);
	w_record(kv, &kv->keys, KV_U_TOMB, *slot, 0);
	*slot |= KV_TOMB;
	kv->nkeys--;
	kv->nbytes -= (uint64_t)old.klen + old.vlen;
	if (old.lease != 0)
		w_detach(kv, old.lease, old.key, old.klen);
	return KV_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Leases
 */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void lease_min_update(struct kv *kv)
{
	kv->lease_min = UINT64_MAX;
	for (size_t i = 0; i < kv->nleases; i++)
		if (kv->leases[i].deadline_ms < kv->lease_min)
			kv->lease_min = kv->leases[i].deadline_ms;
}

/* Deletes every key attached to leases[i] as one write (one revision if it deleted any), then
 * the lease. KV_OK, or KV_NOMEM with nothing changed. */
static enum kv_status lease_revoke(struct kv *kv, size_t i)
{
	uint8_t prefix[8];
	struct kv_iter it;

	for (int b = 0; b < 8; b++)
		prefix[b] = (uint8_t)(kv->leases[i].id >> (56 - 8 * b));
	w_begin(kv);
	/* Deleting only marks slots, so the cursor stays valid while the keys go. */
	for (it_seek(&it, &kv->lidx, prefix, 8); it_valid(&it); it_next(&it)) {
		uint32_t iklen;
		const uint8_t *ik = rec_key(it_get(&it), &iklen);
		struct bft_bytes key;

		if (is_tomb(it_get(&it)))
			continue;
		if (iklen < 8 || memcmp(ik, prefix, 8) != 0)
			break;
		key.p = ik + 8;
		key.len = iklen - 8;
		if (w_del(kv, &key) != KV_OK) {
			/* Only KV_NOMEM: the index holds only live keys. */
			w_rollback(kv);
			return KV_NOMEM;
		}
	}
	w_commit(kv);
	memmove(&kv->leases[i], &kv->leases[i + 1], (kv->nleases - i - 1) * sizeof(kv->leases[0]));
	kv->nleases--;
	lease_min_update(kv);
	return KV_OK;
}

/*
 * Expires the leases whose deadline is at or before the batch time, earliest deadline first
 * (ties by id). The batch time is the only clock: replicas agree on it, so they expire the same
 * leases at the same point in the op sequence. Times that go backwards are ignored.
 */
static void leases_expire(struct kv *kv, uint64_t time_ms)
{
	if (time_ms > kv->now_ms)
		kv->now_ms = time_ms;
	while (kv->nleases > 0 && kv->lease_min <= kv->now_ms) {
		size_t best = 0;

		for (size_t i = 1; i < kv->nleases; i++)
			if (kv->leases[i].deadline_ms < kv->leases[best].deadline_ms)
				best = i;
		/* Out of memory: the lease stays until an op finds memory to expire it. */
		if (lease_revoke(kv, best) != KV_OK)
			break;
	}
}

/* ---------------------------------------------------------------------------------------------
 * Results
 */

static void res_status(struct kv_writer *w, enum kv_op_code code, enum kv_status st, uint64_t rev)
{
	kv_w_array(w, 3);
	kv_w_uint(w, (uint64_t)code);
	kv_w_uint(w, (uint64_t)st);
	kv_w_uint(w, rev);
}

static void res_numbers(struct kv_writer *w, enum kv_op_code code, uint64_t rev,
			const struct kv_rec *r)
{
	kv_w_array(w, 6);
	kv_w_uint(w, (uint64_t)code);
	kv_w_uint(w, KV_OK);
	kv_w_uint(w, rev);
	kv_w_uint(w, r->version);
	kv_w_uint(w, r->create_rev);
	kv_w_uint(w, r->mod_rev);
}

static void do_get(struct kv *kv, const struct kv_req *q, struct kv_writer *w)
{
	uintptr_t rec = lookup(kv, &q->key);
	struct kv_rec r;

	if (rec == 0) {
		res_status(w, KV_OP_GET, KV_NOT_FOUND, cur_rev(kv));
		return;
	}
	rec_parse(rec, &r);
	kv_w_array(w, 7);
	kv_w_uint(w, KV_OP_GET);
	kv_w_uint(w, KV_OK);
	kv_w_uint(w, cur_rev(kv));
	kv_w_bin(w, r.value, r.vlen);
	kv_w_uint(w, r.version);
	kv_w_uint(w, r.create_rev);
	kv_w_uint(w, r.mod_rev);
}

static bool has_prefix(const struct kv_rec *r, const struct bft_bytes *prefix)
{
	return r->klen >= prefix->len &&
	       (prefix->len == 0 || memcmp(r->key, prefix->p, prefix->len) == 0);
}

static size_t entry_size(const struct kv_rec *r, bool with_value)
{
	return 1 + kv_mp_bin_size(r->klen) + (with_value ? kv_mp_bin_size(r->vlen) : 1) +
	       kv_mp_uint_size(r->version) + kv_mp_uint_size(r->create_rev) +
	       kv_mp_uint_size(r->mod_rev);
}

/* Seeks the first live record of a LIST: at start, or at the prefix if start is below it. */
static void list_seek(struct kv_iter *it, const struct kv *kv, const struct kv_req *q)
{
	const struct bft_bytes *from = &q->key;

	if (key_cmp(q->start.p, q->start.len, q->key.p, q->key.len) > 0)
		from = &q->start;
	it_seek(it, &kv->keys, from->p, from->len);
	while (it_valid(it) && is_tomb(it_get(it)))
		it_next(it);
}

static void list_step(struct kv_iter *it)
{
	do
		it_next(it);
	while (it_valid(it) && is_tomb(it_get(it)));
}

/*
 * LIST, within budget bytes of result. A first pass decides how many entries fit (and whether
 * the first one must go without its value, when it alone is over the budget), the second writes
 * them: msgpack puts the count before the entries. Returns -1 without writing when not even one
 * entry fits (only possible inside a TXN, whose earlier results took the room).
 */
static int do_list(const struct kv *kv, const struct kv_req *q, struct kv_writer *w,
		   size_t budget, uint64_t rev)
{
	struct kv_iter it;
	struct kv_rec r, next = {0};
	bool keys_only = (q->flags & KV_LIST_KEYS_ONLY) != 0, first_bare = false, more = false;
	uint32_t n = 0;
	/* Everything but the entries, with room for the largest count and continuation key. */
	size_t used = 1 + 1 + 1 + kv_mp_uint_size(rev) + kv_mp_array_size(q->limit) + 1 +
		      kv_mp_bin_size(kv->lim.key_max);

	for (list_seek(&it, kv, q); it_valid(&it); list_step(&it)) {
		size_t size;

		rec_parse(it_get(&it), &r);
		if (!has_prefix(&r, &q->key))
			break;
		if (n == q->limit) {
			more = true;
			next = r;
			break;
		}
		size = entry_size(&r, !keys_only);
		if (used + size > budget) {
			size = entry_size(&r, false);
			if (n > 0 || keys_only || used + size > budget) {
				if (n == 0)
					return -1;
				more = true;
				next = r;
				break;
			}
			first_bare = true;
		}
		used += size;
		n++;
	}
	kv_w_array(w, 6);
	kv_w_uint(w, KV_OP_LIST);
	kv_w_uint(w, KV_OK);
	kv_w_uint(w, rev);
	kv_w_array(w, n);
	list_seek(&it, kv, q);
	for (uint32_t i = 0; i < n; i++, list_step(&it)) {
		bool with_value = !keys_only && !(i == 0 && first_bare);

		rec_parse(it_get(&it), &r);
		kv_w_array(w, 5);
		kv_w_bin(w, r.key, r.klen);
		if (with_value)
			kv_w_bin(w, r.value, r.vlen);
		else
			kv_w_nil(w);
		kv_w_uint(w, r.version);
		kv_w_uint(w, r.create_rev);
		kv_w_uint(w, r.mod_rev);
	}
	kv_w_bool(w, more);
	kv_w_bin(w, more ? next.key : NULL, more ? next.klen : 0);
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Ops
 */

static void do_put(struct kv *kv, const struct kv_req *q, struct kv_writer *w)
{
	struct kv_rec r;
	enum kv_status st;

	w_begin(kv);
	st = w_put(kv, &q->key, &q->value, q->lease, &r);
	if (st != KV_OK) {
		w_rollback(kv);
		res_status(w, KV_OP_PUT, st, kv->revision);
		return;
	}
	w_commit(kv);
	res_numbers(w, KV_OP_PUT, kv->revision, &r);
}

static void do_del(struct kv *kv, const struct kv_req *q, struct kv_writer *w)
{
	enum kv_status st;

	w_begin(kv);
	st = w_del(kv, &q->key);
	if (st != KV_OK)
		w_rollback(kv);
	else
		w_commit(kv);
	res_status(w, KV_OP_DEL, st, kv->revision);
}

static void do_cas(struct kv *kv, const struct kv_req *q, struct kv_writer *w)
{
	uintptr_t rec = lookup(kv, &q->key);
	struct kv_rec r = {0};

	if (rec != 0)
		rec_parse(rec, &r);
	if (r.version != q->version) {
		kv_w_array(w, 4);
		kv_w_uint(w, KV_OP_CAS);
		kv_w_uint(w, KV_COMPARE_FAILED);
		kv_w_uint(w, kv->revision);
		kv_w_uint(w, r.version);
		return;
	}
	w_begin(kv);
	{
		/* A CAS, like a PUT without a lease, detaches the key from any lease. */
		enum kv_status st = w_put(kv, &q->key, &q->value, 0, &r);

		if (st != KV_OK) {
			w_rollback(kv);
			res_status(w, KV_OP_CAS, st, kv->revision);
			return;
		}
	}
	w_commit(kv);
	res_numbers(w, KV_OP_CAS, kv->revision, &r);
}

static void do_lease_grant(struct kv *kv, const struct kv_req *q, struct kv_writer *w)
{
	struct kv_lease *l;

	if (kv->nleases >= kv->lim.leases_max) {
		res_status(w, KV_OP_LEASE_GRANT, KV_FULL, kv->revision);
		return;
	}
	if (kv->nleases == kv->leases_cap) {
		size_t cap = kv->leases_cap ? kv->leases_cap * 2 : 16;

		l = alloc_refused(kv) ? NULL : realloc(kv->leases, cap * sizeof(*l));
		if (l == NULL) {
			res_status(w, KV_OP_LEASE_GRANT, KV_NOMEM, kv->revision);
			return;
		}
		kv->leases = l;
		kv->leases_cap = cap;
	}
	/* Ids only grow, so appending keeps the table sorted. */
	l = &kv->leases[kv->nleases++];
	l->id = kv->next_lease++;
	l->ttl_ms = q->ttl_ms;
	l->deadline_ms = sat_add(kv->now_ms, q->ttl_ms);
	if (l->deadline_ms < kv->lease_min)
		kv->lease_min = l->deadline_ms;
	kv_w_array(w, 5);
	kv_w_uint(w, KV_OP_LEASE_GRANT);
	kv_w_uint(w, KV_OK);
	kv_w_uint(w, kv->revision);
	kv_w_uint(w, l->id);
	kv_w_uint(w, l->ttl_ms);
}

static void do_lease_revoke(struct kv *kv, const struct kv_req *q, struct kv_writer *w)
{
	struct kv_lease *l = lease_find(kv, q->lease);
	enum kv_status st = KV_NOT_FOUND;

	if (l != NULL)
		st = lease_revoke(kv, (size_t)(l - kv->leases));
	res_status(w, KV_OP_LEASE_REVOKE, st, kv->revision);
}

static void do_lease_keepalive(struct kv *kv, const struct kv_req *q, struct kv_writer *w)
{
	struct kv_lease *l = lease_find(kv, q->lease);
	uint64_t old;

	if (l == NULL) {
		res_status(w, KV_OP_LEASE_KEEPALIVE, KV_NOT_FOUND, kv->revision);
		return;
	}
	old = l->deadline_ms;
	l->deadline_ms = sat_add(kv->now_ms, l->ttl_ms);
	if (old == kv->lease_min)
		lease_min_update(kv);
	kv_w_array(w, 4);
	kv_w_uint(w, KV_OP_LEASE_KEEPALIVE);
	kv_w_uint(w, KV_OK);
	kv_w_uint(w, kv->revision);
	kv_w_uint(w, l->ttl_ms);
}

static bool rel_holds(enum kv_cmp_rel rel, int c)
{
	switch (rel) {
	case KV_EQ:
		return c == 0;
	case KV_NE:
		return c != 0;
	case KV_LT:
		return c < 0;
	case KV_GT:
		return c > 0;
	case KV_LE:
		return c <= 0;
	case KV_GE:
		return c >= 0;
	}
	return false;
}

static int num_cmp(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static bool cmp_holds(const struct kv *kv, const struct kv_cmp *c)
{
	uintptr_t rec = lookup(kv, &c->key);
	struct kv_rec r = {0};

	if (rec != 0)
		rec_parse(rec, &r);
	switch (c->target) {
	case KV_CMP_VERSION:
		return rel_holds(c->rel, num_cmp(r.version, c->num));
	case KV_CMP_CREATE:
		return rel_holds(c->rel, num_cmp(r.create_rev, c->num));
	case KV_CMP_MOD:
		return rel_holds(c->rel, num_cmp(r.mod_rev, c->num));
	case KV_CMP_EXISTS:
		return rel_holds(c->rel, num_cmp(rec != 0, c->num));
	case KV_CMP_VALUE:
		/* As etcd: a comparison on the value of a missing key never holds. */
		return rec != 0 && rel_holds(c->rel, key_cmp(r.value, r.vlen, c->value.p,
							     c->value.len));
	}
	return false;
}

/* One op of a TXN branch; its result goes to *w. KV_OK, or the status failing the whole TXN. */
static enum kv_status txn_op(struct kv *kv, const struct kv_req *q, struct kv_writer *w,
			     size_t budget)
{
	struct kv_rec r;
	enum kv_status st;

	switch (q->code) {
	case KV_OP_GET:
		do_get(kv, q, w);
		return KV_OK;
	case KV_OP_LIST:
		return do_list(kv, q, w, budget, cur_rev(kv)) == 0 ? KV_OK : KV_TOO_BIG;
	case KV_OP_PUT:
		st = w_put(kv, &q->key, &q->value, q->lease, &r);
		if (st != KV_OK)
			return st;
		res_numbers(w, KV_OP_PUT, cur_rev(kv), &r);
		return KV_OK;
	case KV_OP_DEL:
		st = w_del(kv, &q->key);
		if (st == KV_NOMEM)
			return st;
		res_status(w, KV_OP_DEL, st, cur_rev(kv));
		return KV_OK;
	default:
		/* kv_op_decode lets nothing else into a branch. */
		BFT_ASSERT(!"kv: unexpected op in a TXN branch");
		return KV_MALFORMED;
	}
}

static void do_txn(struct kv *kv, const struct kv_op *o, struct kv_writer *w)
{
	struct kv_cursor c;
	struct kv_writer sw;
	const struct bft_bytes *branch;
	uint32_t nops;
	bool ok = true;
	enum kv_status st = KV_OK;
	size_t budget = kv->lim.result_max - KV_TXN_RESULT_HDR;

	/* Every comparison is evaluated, against the state before the TXN. */
	kv_cursor_init(&c, &o->cmps);
	for (uint32_t i = 0; i < o->ncmps; i++) {
		struct kv_cmp cmp;

		kv_txn_next_cmp(&kv->lim, &c, &cmp);
		ok = cmp_holds(kv, &cmp) && ok;
	}
	branch = ok ? &o->then_ops : &o->else_ops;
	nops = ok ? o->nthen : o->nelse;
	kv->scratch.len = 0;
	kv_writer_init(&sw, &kv->scratch);
	w_begin(kv);
	kv_cursor_init(&c, branch);
	for (uint32_t i = 0; i < nops && st == KV_OK; i++) {
		struct kv_req q;

		kv_txn_next_req(&kv->lim, &c, &q);
		st = txn_op(kv, &q, &sw, budget > kv->scratch.len ? budget - kv->scratch.len : 0);
		if (st == KV_OK && sw.nomem)
			st = KV_NOMEM;
		if (st == KV_OK && kv->scratch.len > budget)
			st = KV_TOO_BIG;
	}
	if (st != KV_OK) {
		w_rollback(kv);
		res_status(w, KV_OP_TXN, st, kv->revision);
		return;
	}
	w_commit(kv);
	kv_w_array(w, 5);
	kv_w_uint(w, KV_OP_TXN);
	kv_w_uint(w, KV_OK);
	kv_w_uint(w, kv->revision);
	kv_w_bool(w, ok);
	kv_w_array(w, nops);
	if (!w->nomem && kv_buf_reserve(w->out, kv->scratch.len) == 0) {
		if (kv->scratch.len > 0)
			memcpy(w->out->p + w->out->len, kv->scratch.p, kv->scratch.len);
		w->out->len += kv->scratch.len;
	} else {
		w->nomem = true;
	}
}

static void run(struct kv *kv, const uint8_t *op, size_t len, bool read_only,
		struct wire_buf *result)
{
	struct kv_op o;
	struct kv_writer w;
	size_t start = result->len;
	enum kv_status st = kv_op_decode(&kv->lim, op, len, &o);

	kv_writer_init(&w, result);
	if (st != KV_OK) {
		res_status(&w, o.req.code, st, kv->revision);
	} else if (read_only && !o.read_only) {
		res_status(&w, o.req.code, KV_NOT_READ_ONLY, kv->revision);
	} else {
		switch (o.req.code) {
		case KV_OP_GET:
			do_get(kv, &o.req, &w);
			break;
		case KV_OP_LIST:
			/* kv_new made sure that one entry always fits a whole result. */
			BFT_ASSERT(do_list(kv, &o.req, &w, kv->lim.result_max, kv->revision) == 0);
			break;
		case KV_OP_PUT:
			do_put(kv, &o.req, &w);
			break;
		case KV_OP_DEL:
			do_del(kv, &o.req, &w);
			break;
		case KV_OP_CAS:
			do_cas(kv, &o.req, &w);
			break;
		case KV_OP_TXN:
			do_txn(kv, &o, &w);
			break;
		case KV_OP_LEASE_GRANT:
			do_lease_grant(kv, &o.req, &w);
			break;
		case KV_OP_LEASE_REVOKE:
			do_lease_revoke(kv, &o.req, &w);
			break;
		case KV_OP_LEASE_KEEPALIVE:
			do_lease_keepalive(kv, &o.req, &w);
			break;
		default:
			BFT_ASSERT(!"kv: kv_op_decode returned an unknown code");
		}
	}
	/* A result the buffer could not take is dropped whole: a partial one would not decode. */
	if (w.nomem)
		result->len = start;
	BFT_ASSERT(result->len - start <= kv->lim.result_max);
}

void kv_execute(struct kv *kv, const uint8_t *op, size_t len, uint64_t time_ms,
		struct wire_buf *result)
{
	/* Leases that ran out before this batch's time go first, whatever the op. */
	leases_expire(kv, time_ms);
	run(kv, op, len, false, result);
}

void kv_query(struct kv *kv, const uint8_t *op, size_t len, struct wire_buf *result)
{
	run(kv, op, len, true, result);
}

/* ---------------------------------------------------------------------------------------------
 * Snapshot and restore
 */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

enum bft_err kv_snapshot(const struct kv *kv, struct wire_buf *out)
{
	struct kv_iter it;
	size_t start = out->len, total;
	uint8_t *p;

	/* Size it first: one allocation, and the size doubles as a check of nbytes. */
	total = KV_SNAP_HDR + kv->nleases * KV_SNAP_LEASE + 8 + kv->nkeys * (4 + 4 + 32) + kv->nbytes;
	if (kv_buf_reserve(out, total) != 0)
		return BFT_ENOMEM;
	p = out->p + start;
	memcpy(p, KV_SNAP_MAGIC, KV_SNAP_MAGIC_LEN);
	p += KV_SNAP_MAGIC_LEN;
	put_le(p, kv->revision, 8);
	put_le(p + 8, kv->now_ms, 8);
	put_le(p + 16, kv->next_lease, 8);
	put_le(p + 24, kv->nleases, 8);
	p += 32;
	for (size_t i = 0; i < kv->nleases; i++, p += KV_SNAP_LEASE) {
		put_le(p, kv->leases[i].id, 8);
		put_le(p + 8, kv->leases[i].ttl_ms, 8);
		put_le(p + 16, kv->leases[i].deadline_ms, 8);
	}
	put_le(p, kv->nkeys, 8);
	p += 8;
	for (it_seek(&it, &kv->keys, NULL, 0); it_valid(&it); it_next(&it)) {
		struct kv_rec r;

		BFT_ASSERT(!is_tomb(it_get(&it)));
		rec_parse(it_get(&it), &r);
		put_le(p, r.klen, 4);
		memcpy(p + 4, r.key, r.klen);
		p += 4 + r.klen;
		put_le(p, r.vlen, 4);
		if (r.vlen > 0)
			memcpy(p + 4, r.value, r.vlen);
		p += 4 + r.vlen;
		put_le(p, r.version, 8);
		put_le(p + 8, r.create_rev, 8);
		put_le(p + 16, r.mod_rev, 8);
		put_le(p + 24, r.lease, 8);
		p += 32;
	}
	BFT_ASSERT((size_t)(p - out->p) == start + total);
	out->len = start + total;
	return BFT_OK;
}

static void kv_clear(struct kv *kv)
{
	node_free_all(kv, kv->keys.root);
	node_free_all(kv, kv->lidx.root);
	memset(&kv->keys, 0, sizeof(kv->keys));
	memset(&kv->lidx, 0, sizeof(kv->lidx));
	arena_free(&kv->arena);
	free(kv->leases);
	kv->leases = NULL;
	kv->nleases = kv->leases_cap = 0;
	kv->nkeys = kv->nbytes = kv->revision = kv->now_ms = 0;
	kv->next_lease = 1;
	kv->lease_min = UINT64_MAX;
}

/* Parses the lease table of a snapshot into the empty store t. */
static enum bft_err restore_leases(struct kv *t, const uint8_t *p, size_t len, size_t *off)
{
	uint64_t n = get_le(p + KV_SNAP_MAGIC_LEN + 24, 8);

	if (n > t->lim.leases_max || n > (len - *off) / KV_SNAP_LEASE)
		return BFT_EMALFORMED;
	if (n > 0) {
		t->leases = alloc_refused(t) ? NULL : malloc((size_t)n * sizeof(*t->leases));
		if (t->leases == NULL)
			return BFT_ENOMEM;
		t->leases_cap = (size_t)n;
	}
	for (uint64_t i = 0; i < n; i++, *off += KV_SNAP_LEASE) {
		struct kv_lease *l = &t->leases[i];

		l->id = get_le(p + *off, 8);
		l->ttl_ms = get_le(p + *off + 8, 8);
		l->deadline_ms = get_le(p + *off + 16, 8);
		/* Granted ids are 1..next_lease-1, ascending; a deadline is set at some time up to
		 * now_ms to that time plus the TTL. */
		if (l->id == 0 || l->id >= t->next_lease || (i > 0 && l->id <= l[-1].id) ||
		    l->ttl_ms == 0 || l->ttl_ms > t->lim.ttl_max_ms ||
		    l->deadline_ms > sat_add(t->now_ms, l->ttl_ms))
			return BFT_EMALFORMED;
		t->nleases++;
	}
	lease_min_update(t);
	return BFT_OK;
}

/* Parses a snapshot into the empty store t. Keys arrive in ascending order, so every insert
 * appends to the rightmost leaf, and the tree comes out with its nodes nearly full. */
static enum bft_err restore_into(struct kv *t, const uint8_t *p, size_t len)
{
	static const struct bft_bytes none = {NULL, 0};
	size_t off = KV_SNAP_HDR;
	uint64_t count;
	struct bft_bytes prev = {0};
	enum bft_err e;

	if (len < off || memcmp(p, KV_SNAP_MAGIC, KV_SNAP_MAGIC_LEN) != 0)
		return BFT_EMALFORMED;
	t->revision = get_le(p + KV_SNAP_MAGIC_LEN, 8);
	t->now_ms = get_le(p + KV_SNAP_MAGIC_LEN + 8, 8);
	t->next_lease = get_le(p + KV_SNAP_MAGIC_LEN + 16, 8);
	if (t->next_lease == 0)
		return BFT_EMALFORMED;
	e = restore_leases(t, p, len, &off);
	if (e != BFT_OK)
		return e;
	if (len - off < 8)
		return BFT_EMALFORMED;
	count = get_le(p + off, 8);
	off += 8;
	if (count > t->lim.keys_max || count > (len - off) / KV_SNAP_ENTRY_MIN)
		return BFT_EMALFORMED;
	for (uint64_t i = 0; i < count; i++) {
		struct bft_bytes key, value;
		uint64_t version, create, mod, lease;
		uintptr_t rec;

		if (len - off < 4)
			return BFT_EMALFORMED;
		key.len = (uint32_t)get_le(p + off, 4);
		off += 4;
		if (key.len == 0 || key.len > t->lim.key_max || len - off < key.len + 4u)
			return BFT_EMALFORMED;
		key.p = p + off;
		off += key.len;
		value.len = (uint32_t)get_le(p + off, 4);
		off += 4;
		if (value.len > t->lim.value_max || len - off < value.len + 32u)
			return BFT_EMALFORMED;
		value.p = p + off;
		off += value.len;
		version = get_le(p + off, 8);
		create = get_le(p + off + 8, 8);
		mod = get_le(p + off + 16, 8);
		lease = get_le(p + off + 24, 8);
		off += 32;
		/* What kv_snapshot writes: strictly ascending keys, and numbers any history gives. */
		if (i > 0 && key_cmp(prev.p, prev.len, key.p, key.len) >= 0)
			return BFT_EMALFORMED;
		if (version == 0 || create == 0 || create > mod || mod > t->revision)
			return BFT_EMALFORMED;
		if (lease != 0 && lease_find(t, lease) == NULL)
			return BFT_EMALFORMED;
		if ((uint64_t)key.len + value.len > t->lim.bytes_max - t->nbytes)
			return BFT_EMALFORMED;
		rec = rec_new(t, &key, &value, version, create, mod, lease);
		if (rec == 0)
			return BFT_ENOMEM;
		if (bt_insert(t, &t->keys, rec) != 0) {
			rec_free(t, rec);
			return BFT_ENOMEM;
		}
		t->nkeys++;
		t->nbytes += (uint64_t)key.len + value.len;
		if (lease != 0) {
			struct bft_bytes ik = ikey(t, lease, key.p, key.len);
			uintptr_t irec = rec_new(t, &ik, &none, 1, 0, 0, 0);

			if (irec == 0)
				return BFT_ENOMEM;
			if (bt_insert(t, &t->lidx, irec) != 0) {
				rec_free(t, irec);
				return BFT_ENOMEM;
			}
		}
		prev = key;
	}
	return off == len ? BFT_OK : BFT_EMALFORMED;
}

enum bft_err kv_restore(struct kv *kv, const uint8_t *p, size_t len)
{
	struct kv *t;
	enum bft_err e;

	if (p == NULL && len > 0)
		return BFT_EINVAL;
	e = kv_new(&kv->lim, &t);
	if (e != BFT_OK)
		return e;
	t->fail_after = kv->fail_after;
	e = restore_into(t, p, len);
	if (e == BFT_OK) {
		/* Swap the states: the old one leaves with t. */
		struct kv tmp = *kv;

		kv->keys = t->keys;
		kv->lidx = t->lidx;
		kv->arena = t->arena;
		kv->nkeys = t->nkeys;
		kv->nbytes = t->nbytes;
		kv->revision = t->revision;
		kv->leases = t->leases;
		kv->nleases = t->nleases;
		kv->leases_cap = t->leases_cap;
		kv->next_lease = t->next_lease;
		kv->now_ms = t->now_ms;
		kv->lease_min = t->lease_min;
		t->keys = tmp.keys;
		t->lidx = tmp.lidx;
		t->arena = tmp.arena;
		t->leases = tmp.leases;
		t->nleases = tmp.nleases;
		t->leases_cap = tmp.leases_cap;
	}
	kv->fail_after = t->fail_after;
	kv_free(t);
	return e;
}

/* ---------------------------------------------------------------------------------------------
 * Life cycle and the bft_app binding
 */

enum bft_err kv_new(const struct kv_limits *l, struct kv **out)
{
	struct kv *kv;

	if (l == NULL || out == NULL)
		return BFT_EINVAL;
	if (l->key_max == 0 || l->key_max > (1u << 20) || l->list_max == 0 || l->txn_max == 0 ||
	    l->keys_max == 0 || l->value_max > UINT32_MAX - 64u ||
	    l->result_max < l->value_max + 64u || l->result_max < 2 * l->key_max + 64u)
		return BFT_EINVAL;
	kv = calloc(1, sizeof(*kv));
	if (kv == NULL)
		return BFT_ENOMEM;
	kv->ikey = malloc((size_t)l->key_max + 8);
	if (kv->ikey == NULL) {
		free(kv);
		return BFT_ENOMEM;
	}
	kv->lim = *l;
	kv->fail_after = -1;
	kv->next_lease = 1;
	kv->lease_min = UINT64_MAX;
	*out = kv;
	return BFT_OK;
}

void kv_free(struct kv *kv)
{
	if (kv == NULL)
		return;
	kv_clear(kv);
	free(kv->undo);
	free(kv->ikey);
	wire_buf_free(&kv->scratch);
	free(kv);
}

uint64_t kv_revision(const struct kv *kv)
{
	return kv->revision;
}

uint64_t kv_count(const struct kv *kv)
{
	return kv->nkeys;
}

uint64_t kv_bytes(const struct kv *kv)
{
	return kv->nbytes;
}

uint64_t kv_leases(const struct kv *kv)
{
	return kv->nleases;
}

void kv_test_fail_alloc_after(struct kv *kv, int64_t n)
{
	kv->fail_after = n < 0 ? -1 : n;
}

static int check_node(const struct kv_node *x, uint32_t depth, uint32_t height, uintptr_t *prev,
		      uint64_t *count, uint64_t *bytes)
{
	if (x->n == 0 || x->n > KV_BT_MAX || (bool)x->leaf != (depth + 1 == height))
		return -1;
	for (uint32_t i = 0; i <= x->n; i++) {
		if (!x->leaf && check_node(x->c[i], depth + 1, height, prev, count, bytes) != 0)
			return -1;
		if (i < x->n) {
			struct kv_rec r;
			uint32_t plen;
			const uint8_t *pk;

			uint32_t k0len;
			const uint8_t *k0 = rec_key(x->e[0], &k0len);

			if (is_tomb(x->e[i]))
				return -1;
			rec_parse(x->e[i], &r);
			/* Every key has the node's prefix, and its hint. */
			if (r.klen < x->skip || k0len < x->skip ||
			    (x->skip > 0 && memcmp(r.key, k0, x->skip) != 0) ||
			    x->hint[i] != hint_of(r.key, r.klen, x->skip))
				return -1;
			if (*prev != 0) {
				pk = rec_key(*prev, &plen);
				if (key_cmp(pk, plen, r.key, r.klen) >= 0)
					return -1;
			}
			*prev = x->e[i];
			(*count)++;
			*bytes += (uint64_t)r.klen + r.vlen;
		}
	}
	return 0;
}

/* The lease index holds exactly one record per leased key: (lease, key) of a live key that has
 * that lease, the lease in the table. */
static int check_leases(const struct kv *kv)
{
	struct kv_iter it;
	uint64_t leased = 0, indexed = 0, min = UINT64_MAX;

	for (size_t i = 0; i < kv->nleases; i++) {
		if (kv->leases[i].id == 0 || kv->leases[i].id >= kv->next_lease ||
		    (i > 0 && kv->leases[i].id <= kv->leases[i - 1].id))
			return -1;
		if (kv->leases[i].deadline_ms < min)
			min = kv->leases[i].deadline_ms;
	}
	if (min != kv->lease_min)
		return -1;
	for (it_seek(&it, &kv->keys, NULL, 0); it_valid(&it); it_next(&it)) {
		struct kv_rec r;

		rec_parse(it_get(&it), &r);
		if (r.lease != 0) {
			if (lease_find(kv, r.lease) == NULL)
				return -1;
			leased++;
		}
	}
	for (it_seek(&it, &kv->lidx, NULL, 0); it_valid(&it); it_next(&it)) {
		uint32_t iklen;
		const uint8_t *ik = rec_key(it_get(&it), &iklen);
		struct bft_bytes key = {.p = ik + 8, .len = iklen - 8};
		uint64_t lease = 0;
		uintptr_t rec;
		struct kv_rec r;

		if (is_tomb(it_get(&it)) || iklen <= 8)
			return -1;
		for (int i = 0; i < 8; i++)
			lease = lease << 8 | ik[i];
		rec = lookup(kv, &key);
		if (rec == 0)
			return -1;
		rec_parse(rec, &r);
		if (r.lease != lease)
			return -1;
		indexed++;
	}
	return leased == indexed ? 0 : -1;
}

int kv_test_check(const struct kv *kv)
{
	uintptr_t prev = 0;
	uint64_t count = 0, bytes = 0, icount = 0, ibytes = 0;

	if (kv->nundo != 0)
		return -1;
	if (kv->keys.root == NULL) {
		if (kv->keys.height != 0 || kv->nkeys != 0 || kv->nbytes != 0)
			return -1;
	} else if (check_node(kv->keys.root, 0, kv->keys.height, &prev, &count, &bytes) != 0 ||
		   count != kv->nkeys || bytes != kv->nbytes) {
		return -1;
	}
	prev = 0;
	if (kv->lidx.root != NULL &&
	    check_node(kv->lidx.root, 0, kv->lidx.height, &prev, &icount, &ibytes) != 0)
		return -1;
	return check_leases(kv);
}

static void app_execute(void *ctx, bft_client_id client, const struct bft_bytes *op,
			uint64_t time_ms, struct wire_buf *result)
{
	/* Every client may do everything: there are no access rules yet. */
	(void)client;
	kv_execute(ctx, op->p, op->len, time_ms, result);
}

static void app_query(void *ctx, bft_client_id client, const struct bft_bytes *op,
		      struct wire_buf *result)
{
	(void)client;
	kv_query(ctx, op->p, op->len, result);
}

static enum bft_err app_snapshot(void *ctx, struct wire_buf *out)
{
	return kv_snapshot(ctx, out);
}

static enum bft_err app_restore(void *ctx, const uint8_t *p, size_t len)
{
	return kv_restore(ctx, p, len);
}

void kv_app(struct kv *kv, struct bft_app *app)
{
	app->ctx = kv;
	app->execute = app_execute;
	app->query = app_query;
	app->snapshot = app_snapshot;
	app->restore = app_restore;
}
