/*
 * kv_op.h: the KV store's op and result encodings (docs/KV.md is the user-facing description).
 *
 * An op (the `op` bytes of a client request) and a result (the `result` bytes of a reply) are
 * each one msgpack array. Clients build ops with the kv_op_encode_* helpers and read results
 * with kv_result_decode; the replicas decode ops with kv_op_decode and write results with the
 * encoder in kv.c. All encoders use msgpack-c's packer (shortest forms). The decoders are our own
 * bounded cursor readers rather than msgpack_unpack, which allocates from the counts in
 * untrusted headers: kv_op_decode never allocates at all, and kv_result_decode allocates only
 * arrays whose counts the remaining bytes can hold.
 *
 * Op:      [code, args...]                      (kv_op_code says which args)
 * Result:  [code, status, revision, body...]    (the body only for the statuses listed below)
 */
#ifndef KV_OP_H
#define KV_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "bft/bft.h"
#include "bft/wire.h"

/** Op codes: the first element of an op and of its result. */
enum kv_op_code {
	KV_OP_NONE = 0, /* only in results: the op did not decode far enough to have a code */
	KV_OP_GET = 1,  /* [1, key]                                   read-only */
	KV_OP_PUT = 2,  /* [2, key, value] or [2, key, value, lease]  */
	KV_OP_DEL = 3,  /* [3, key]                                   */
	KV_OP_CAS = 4,  /* [4, key, expected_version, value]          0 = "must not exist" */
	KV_OP_LIST = 5, /* [5, prefix, start, limit, flags]           read-only */
	KV_OP_TXN = 6,  /* [6, [cmp...], [op...], [op...]]            read-only if all its ops are */
	KV_OP_LEASE_GRANT = 7,     /* [7, ttl_ms] */
	KV_OP_LEASE_REVOKE = 8,    /* [8, lease] */
	KV_OP_LEASE_KEEPALIVE = 9, /* [9, lease] */
	KV_OP_CODE_COUNT
};

/** Result statuses: the second element of every result. */
enum kv_status {
	KV_OK = 0,
	KV_NOT_FOUND = 1,      /* GET or DEL of a key that does not exist */
	KV_COMPARE_FAILED = 2, /* CAS whose expected version did not match (nothing changed) */
	KV_TOO_BIG = 3,        /* a key, value or prefix over its limit; a txn whose result would
				* be over result_max (nothing changed) */
	KV_FULL = 4,           /* the write would take the store over keys_max or bytes_max */
	KV_MALFORMED = 5,      /* the op does not decode, or has an invalid argument */
	KV_NOT_READ_ONLY = 6,  /* a write op sent through the read-only path (query) */
	KV_NOMEM = 7,          /* this replica could not allocate memory; nothing changed */
	KV_NO_LEASE = 8,       /* a PUT naming a lease that does not exist (nothing changed) */
	KV_STATUS_COUNT
};

/** LIST flags. */
#define KV_LIST_KEYS_ONLY 1u /* entries carry no values */
#define KV_LIST_FLAGS_ALL KV_LIST_KEYS_ONLY

/** Comparison targets of a TXN. */
enum kv_cmp_target {
	KV_CMP_VERSION = 1, /* uint operand; an absent key has version 0 */
	KV_CMP_CREATE = 2,  /* uint operand; create revision, 0 when absent */
	KV_CMP_MOD = 3,     /* uint operand; mod revision, 0 when absent */
	KV_CMP_VALUE = 4,   /* bin operand, compared bytewise (memcmp, then the shorter is less);
			     * false whatever the relation when the key is absent */
	KV_CMP_EXISTS = 5,  /* uint operand 0 or 1: 1 when the key exists */
};

/** Comparison relations: "the key's <target> <relation> operand". */
enum kv_cmp_rel { KV_EQ = 0, KV_NE = 1, KV_LT = 2, KV_GT = 3, KV_LE = 4, KV_GE = 5 };

/**
 * Limits of the store, identical on every replica (they decide results, so they are part of the
 * replicated configuration). kv_limits_default gives the defaults noted on each field.
 */
struct kv_limits {
	uint32_t key_max;    /* bytes in a key (keys are 1..key_max bytes); 1024 */
	uint32_t value_max;  /* bytes in a value; 65536 */
	uint64_t keys_max;   /* keys in the store; 10,000,000 */
	uint64_t bytes_max;  /* sum of the lengths of all keys and values; 4 GiB */
	uint32_t list_max;   /* entries in one LIST result, whatever its limit asks; 1000 */
	uint32_t txn_max;    /* comparisons, and ops in each branch, of one TXN; 128 */
	uint32_t result_max; /* bytes of one result (the wire's result_max); 65536 + 256 */
	uint32_t leases_max; /* leases at a time; 10,000 */
	uint64_t ttl_max_ms; /* longest lease TTL; 7 days */
};

/** Fills *l with the defaults above. */
void kv_limits_default(struct kv_limits *l);

/** A request: one op, or one op inside a TXN branch. Byte fields borrow. */
struct kv_req {
	enum kv_op_code code;
	struct bft_bytes key;   /* GET, PUT, DEL, CAS: the key; LIST: the prefix (may be empty) */
	struct bft_bytes value; /* PUT, CAS */
	struct bft_bytes start; /* LIST: the first key to return if >= prefix; empty: the prefix */
	uint64_t version;       /* CAS: the version the key must have (0: must not exist) */
	uint32_t limit;         /* LIST: at most this many entries (0 or over list_max: list_max) */
	uint32_t flags;         /* LIST: KV_LIST_* */
	uint64_t lease;         /* PUT: the lease to attach the key to (0: none); REVOKE, KEEPALIVE:
				 * the lease */
	uint64_t ttl_ms;        /* LEASE_GRANT */
};

/** One TXN comparison. Byte fields borrow. */
struct kv_cmp {
	enum kv_cmp_target target;
	enum kv_cmp_rel rel;
	struct bft_bytes key;
	uint64_t num;           /* operand of VERSION, CREATE, MOD, EXISTS */
	struct bft_bytes value; /* operand of VALUE */
};

/* ---------------------------------------------------------------------------------------------
 * Client side: encoding ops. Each appends one op to *out and returns BFT_OK, BFT_EINVAL (a NULL
 * pointer with a non-zero length, an op code TXN cannot carry) or BFT_ENOMEM; on error *out keeps
 * exactly what it held before. Limits are not checked here: the replicas check them, so a client
 * can neither forget nor disagree.
 */

/** [GET, key] */
enum bft_err kv_op_encode_get(struct wire_buf *out, const uint8_t *key, size_t klen) BFT_WUR;
/** [PUT, key, value] */
enum bft_err kv_op_encode_put(struct wire_buf *out, const uint8_t *key, size_t klen,
			      const uint8_t *value, size_t vlen) BFT_WUR;
/** [DEL, key] */
enum bft_err kv_op_encode_del(struct wire_buf *out, const uint8_t *key, size_t klen) BFT_WUR;
/** [CAS, key, expected_version, value]; expected_version 0 creates the key only if absent. */
enum bft_err kv_op_encode_cas(struct wire_buf *out, const uint8_t *key, size_t klen,
			      uint64_t expected_version, const uint8_t *value,
			      size_t vlen) BFT_WUR;
/** [LIST, prefix, start, limit, flags]; start may be empty (NULL, 0). */
enum bft_err kv_op_encode_list(struct wire_buf *out, const uint8_t *prefix, size_t plen,
			       const uint8_t *start, size_t slen, uint32_t limit,
			       uint32_t flags) BFT_WUR;
/** [PUT, key, value, lease]: the key lives only as long as the lease (0: as kv_op_encode_put). */
enum bft_err kv_op_encode_put_lease(struct wire_buf *out, const uint8_t *key, size_t klen,
				    const uint8_t *value, size_t vlen, uint64_t lease) BFT_WUR;
/** [LEASE_GRANT, ttl_ms] */
enum bft_err kv_op_encode_lease_grant(struct wire_buf *out, uint64_t ttl_ms) BFT_WUR;
/** [LEASE_REVOKE, lease] */
enum bft_err kv_op_encode_lease_revoke(struct wire_buf *out, uint64_t lease) BFT_WUR;
/** [LEASE_KEEPALIVE, lease] */
enum bft_err kv_op_encode_lease_keepalive(struct wire_buf *out, uint64_t lease) BFT_WUR;
/** Any single op from a kv_req (GET, PUT, DEL, CAS, LIST and the lease ops). */
enum bft_err kv_op_encode_req(struct wire_buf *out, const struct kv_req *r) BFT_WUR;
/**
 * [TXN, [cmp...], [then...], [else...]]: if every comparison holds, the ops in then run, else
 * the ops in else, as one atomic step. Branch ops are GET, PUT (with or without a
 * lease), DEL or LIST (BFT_EINVAL otherwise). Arrays may be NULL when their count is 0.
 */
enum bft_err kv_op_encode_txn(struct wire_buf *out, const struct kv_cmp *cmps, uint32_t ncmps,
			      const struct kv_req *then_ops, uint32_t nthen,
			      const struct kv_req *else_ops, uint32_t nelse) BFT_WUR;

/* ---------------------------------------------------------------------------------------------
 * Replica side: decoding ops.
 */

/** A decoded op. For TXN, the three lists stay encoded (cursor positions into the op bytes):
 *  kv_op_decode has checked every element, and kv_txn_next_* walk them without re-checking. */
struct kv_op {
	struct kv_req req;      /* code and, except for TXN, the arguments */
	struct bft_bytes cmps;  /* TXN: the elements of the comparison list */
	struct bft_bytes then_ops, else_ops;
	uint32_t ncmps, nthen, nelse;
	bool read_only;         /* GET, LIST, or a TXN whose branches hold only GET and LIST */
};

/**
 * Decodes and checks op[0..len) against *l. Returns KV_OK and fills *out (borrowing from op), or
 * KV_MALFORMED (not one msgpack array of a known shape: truncated, trailing bytes, wrong types
 * or arity, unknown code, relation, target or flag, an empty key, an EXISTS operand other than
 * 0 or 1, a TTL of 0, a lease op or leased PUT with lease 0, a CAS, TXN or lease op inside a
 * TXN, more than txn_max comparisons or ops in a list), or KV_TOO_BIG (well formed, but a key,
 * prefix, start or value over its limit, or a TTL over ttl_max_ms). A malformed op is
 * reported as such even if it also holds something too big. On error *out holds the code when
 * it was read (KV_OP_NONE otherwise), for the result.
 */
enum kv_status kv_op_decode(const struct kv_limits *l, const uint8_t *op, size_t len,
			    struct kv_op *out) BFT_WUR;

/** A cursor over one of a decoded TXN's lists. */
struct kv_cursor {
	const uint8_t *p;
	size_t len, off;
};

/** Starts a cursor over a list that kv_op_decode returned. */
void kv_cursor_init(struct kv_cursor *c, const struct bft_bytes *list);
/** The next comparison of a decoded TXN's list; l must be the limits kv_op_decode checked it
 *  under (a mismatch is a bug of the caller's and fails an assertion). */
void kv_txn_next_cmp(const struct kv_limits *l, struct kv_cursor *c, struct kv_cmp *out);
/** The next op of a decoded TXN's branch, under the limits kv_op_decode used. */
void kv_txn_next_req(const struct kv_limits *l, struct kv_cursor *c, struct kv_req *out);

/* ---------------------------------------------------------------------------------------------
 * Client side: decoding results.
 */

/** One LIST entry. */
struct kv_entry {
	struct bft_bytes key;
	struct bft_bytes value; /* empty when !has_value */
	bool has_value;         /* false for KEYS_ONLY lists, and for an entry too big to return
				 * with its value (only ever the first of a page: GET it) */
	uint64_t version, create_rev, mod_rev;
};

/** A decoded result. Byte fields borrow from the result bytes; arrays are owned (kv_result_free). */
struct kv_result {
	enum kv_op_code code;
	enum kv_status status;
	uint64_t revision;      /* the store's revision after the op */
	/* GET OK: value and the three numbers; PUT, CAS OK: the numbers of the key as written;
	 * CAS COMPARE_FAILED: version holds the key's current version (0 if absent). */
	struct bft_bytes value;
	uint64_t version, create_rev, mod_rev;
	/* LIST OK */
	struct kv_entry *entries;
	uint32_t nentries;
	bool more;              /* more entries follow; the next page starts at next */
	struct bft_bytes next;
	/* LEASE_GRANT OK: lease and ttl_ms; LEASE_KEEPALIVE OK: ttl_ms */
	uint64_t lease, ttl_ms;
	/* TXN OK */
	bool succeeded;         /* the comparisons held and the then branch ran */
	struct kv_result *results; /* one per op of the branch that ran, in order */
	uint32_t nresults;
};

/**
 * Decodes result[0..len) into *out. BFT_OK; BFT_EMALFORMED for anything but a result of a known
 * shape (trailing bytes included); BFT_ENOMEM. On error *out is zeroed and owns nothing.
 */
enum bft_err kv_result_decode(const uint8_t *result, size_t len, struct kv_result *out) BFT_WUR;

/** Releases the arrays of a decoded result and zeroes it; safe on a zeroed result. */
void kv_result_free(struct kv_result *r);

/** A static name for a status ("ok", "not found", ...). */
const char *kv_status_name(enum kv_status s);

/* ---------------------------------------------------------------------------------------------
 * The writer shared by the encoders here and the result writer in kv.c: msgpack-c's packer
 * appending to a wire_buf. Rather than checking every call, the write callback records the first
 * allocation failure and refuses everything after it; the caller looks at nomem once at the end.
 */
struct kv_writer {
	msgpack_packer pk;
	struct wire_buf *out;
	bool nomem;
};

/** Starts a writer appending to *out (borrowed for the writer's life). */
void kv_writer_init(struct kv_writer *w, struct wire_buf *out);
void kv_w_uint(struct kv_writer *w, uint64_t v);
void kv_w_bin(struct kv_writer *w, const uint8_t *p, size_t len);
void kv_w_array(struct kv_writer *w, uint32_t n);
void kv_w_bool(struct kv_writer *w, bool b);
void kv_w_nil(struct kv_writer *w);
/** Makes room for n more bytes in *b (amortised doubling): 0, or -1 when allocation fails. */
int kv_buf_reserve(struct wire_buf *b, size_t n);

/** Sizes of the shortest msgpack encodings, for budgeting a result before writing it. */
size_t kv_mp_uint_size(uint64_t v);
size_t kv_mp_bin_size(size_t len);
size_t kv_mp_array_size(size_t n);

#endif
