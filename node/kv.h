/*
 * kv.h: the replicated key-value and coordination store, the state machine behind struct bft_app
 * (bft/engine.h). docs/KV.md describes the ops, results, limits and semantics for users;
 * node/kv_op.h has the encodings and the client-side helpers.
 *
 * The store is pure and deterministic, like the core that calls it: no I/O, no clock, no
 * randomness, no global state. The same ops in the same order give the same results and the
 * same snapshot bytes on every replica and platform: nothing that depends on addresses, on
 * allocation or on the host's byte order reaches a result or a snapshot.
 *
 * Versions and revisions (as etcd's):
 *   revision    a store-wide counter, 0 for an empty store, incremented once by every op that
 *               changes the state (a TXN that writes several keys counts once; an op that
 *               changes nothing, such as a failed CAS or a DEL of a missing key, not at all).
 *   mod_rev     per key: the revision of the op that last wrote it.
 *   create_rev  per key: the revision of the op that created it (since it last did not exist).
 *   version     per key: how many times it has been written since it was created (1 after
 *               the write that created it); deleting a key forgets all three.
 * The revision counts changes to keys only: granting or keeping a lease alive does not change
 * it, revoking or expiring one does if it deletes keys (once per lease).
 *
 * Leases (as etcd's): LEASE_GRANT creates a lease with a TTL and returns its id (1, 2, ...); a
 * PUT may attach its key to a lease; LEASE_KEEPALIVE restarts the TTL; when the TTL runs out
 * (measured in batch times) or on LEASE_REVOKE, the lease and every key attached to it go. A
 * PUT or CAS without a lease detaches its key. Expiry happens only in kv_execute: the read-only
 * path can still see keys whose lease ran out since the last ordered op.
 *
 * Memory: keys and values live in one variable-size record per key, carved from slabs of the
 * store's own (4-byte size classes) or, past 1 KiB, malloc'd; an ordered B-tree of pointers to
 * the records indexes them, and a second one indexes the leased keys by lease. When an allocation fails during a write, the write is undone and
 * its result is KV_NOMEM: the store stays consistent, and since the other replicas most likely
 * succeeded, this one's checkpoint digest will differ and it will fetch the state from its peers.
 */
#ifndef KV_H
#define KV_H

#include "bft/engine.h"
#include "node/kv_op.h"

struct kv;

/**
 * Creates an empty store with the limits *l (copied). Returns BFT_EINVAL if the limits cannot
 * work together: key_max, list_max and txn_max must be at least 1 and key_max at most 1 MiB,
 * and result_max must hold any GET result (result_max >= value_max + 64) and a LIST page of at
 * least one entry without its value (result_max >= 2 * key_max + 64); BFT_ENOMEM. On success
 * *out owns the store.
 */
enum bft_err kv_new(const struct kv_limits *l, struct kv **out) BFT_WUR;

/** Releases the store; NULL is a no-op. */
void kv_free(struct kv *kv);

/**
 * Executes one op (kv_op.h) as the ordered path does, and appends its result to *result.
 * time_ms is the batch time the core agreed on, the store's only clock: first, every lease whose
 * deadline is at or before it expires (earliest first, its keys deleted), then the op runs, with
 * grants and keepalives counting their TTL from it (from the latest time seen, if time_ms went
 * backwards). Nothing a client can
 * send makes this fail: an undecodable op gets a KV_MALFORMED result, an over-limit one
 * KV_TOO_BIG, and so on. The result never exceeds the limits' result_max. If *result itself
 * cannot grow, it is left as it was (the state change, if any, stands).
 */
void kv_execute(struct kv *kv, const uint8_t *op, size_t len, uint64_t time_ms,
		struct wire_buf *result);

/** Like kv_execute for the read-only path: GET, LIST and TXNs whose branches only read run;
 *  any other op gets KV_NOT_READ_ONLY. Never changes the state. */
void kv_query(struct kv *kv, const uint8_t *op, size_t len, struct wire_buf *result);

/**
 * Appends the canonical serialization of the state to *out: equal states give equal bytes
 * (keys in ascending byte order, fixed-width little-endian integers, no padding). Format in
 * docs/KV.md. BFT_OK or BFT_ENOMEM (then *out keeps what it held before).
 */
enum bft_err kv_snapshot(const struct kv *kv, struct wire_buf *out) BFT_WUR;

/**
 * Replaces the state with the one serialized in p[0..len). The snapshot is checked in full
 * before anything is replaced: on any error the store is unchanged. BFT_EMALFORMED for anything
 * kv_snapshot could not have written under this store's limits (truncation, trailing bytes,
 * keys out of order or repeated, a length, count or revision out of range), BFT_ENOMEM.
 */
enum bft_err kv_restore(struct kv *kv, const uint8_t *p, size_t len) BFT_WUR;

/** Fills *app with this store's callbacks (ctx = kv, borrowed: kv must outlive the app). */
void kv_app(struct kv *kv, struct bft_app *app);

/** The store's revision (see above). */
uint64_t kv_revision(const struct kv *kv);
/** The number of keys. */
uint64_t kv_count(const struct kv *kv);
/** The sum of the lengths of all keys and values (what bytes_max bounds). */
uint64_t kv_bytes(const struct kv *kv);
/** The number of leases. */
uint64_t kv_leases(const struct kv *kv);

/**
 * Testing only: after n more allocations for the state (records, tree nodes, the undo log), every
 * further one fails as if memory had run out; n < 0 turns this off. Lets tests check that a
 * write that runs out of memory half-way leaves the store exactly as it was.
 */
void kv_test_fail_alloc_after(struct kv *kv, int64_t n);

/** Testing only: checks the tree's invariants (order, balance, counts); 0 if they hold. */
int kv_test_check(const struct kv *kv);

#endif
