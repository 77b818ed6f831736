/*
 * history: records what clients of the KV store asked and saw, and checks that the record is
 * linearizable, using the cluster's own committed order as the witness.
 *
 * Recording. Every operation becomes one struct hist_op: the client, the op (decoded from the
 * op bytes the client sent), the time it was called and the time it returned, and the outcome
 * with what the result said. An op that never returned (a timeout) is UNKNOWN: it may or may
 * not have taken effect, and its return time is "never". Times are microseconds of one clock
 * for the whole history: CLOCK_MONOTONIC when every client runs in the recording process (they
 * share it), CLOCK_REALTIME when histories of several processes (or hosts) are merged; the
 * merged result is only as good as the clocks' agreement (NTP error widens nothing here, so a
 * skew larger than an operation's latency can produce false violations).
 *
 * Checking. The store numbers its state changes: every write that changes something creates the
 * next revision, and every result carries the revision of the state after the op (docs/KV.md;
 * in node/kv.c: a PUT, a successful CAS, a DEL that deleted and a TXN that wrote carry the
 * revision they created, which is also the mod_rev they report; a GET, a LIST, a failed CAS, a
 * DEL of a missing key, a TXN that wrote nothing and a refused op carry the store's revision,
 * which they left as it was; a read on the fast path carries the revision of the replicas'
 * state it ran on, which 2f+1 of them agreed on). That order is the witness: no search over
 * interleavings is needed. Writes are placed at the revision they created, reads (and ops
 * that changed nothing) just after the write of the revision they report: a read's place is
 * that exact revision, not merely somewhere in [the mod_rev it saw, the next write of its
 * key), so a read that reports a revision older than one already observed is caught even when
 * its value happens to be still current (the revision is part of what it returned). A failed
 * CAS is a read of the key's version, a DEL of a missing key a read of its absence.
 * hist_check then verifies
 *   - real time: when op A returned before op B was called, A's place is not after B's (and for
 *     two writes strictly before);
 *   - values: every read returns the state of its key after the last write to that key at or
 *     before its place (the value, version, create and mod revision that write produced; absent
 *     after a delete or when nothing wrote the key);
 *   - versions: each write's reported version follows from the write before it; a failed CAS
 *     saw a version other than the one it expected, and the one the history says was there;
 *   - revisions are unique: two writes claiming one revision is a violation;
 *   - unknown outcomes: an UNKNOWN write took effect when a read observed what only it could
 *     have produced (its value with a mod revision no known write holds; a deletion no known
 *     delete explains); it is then placed there, subject to the real-time rule. Otherwise it is
 *     treated as not having taken effect.
 * TXN and LIST are checked coarsely: a TXN's writes are placed at its revision, and the GETs
 * and missing-key DELs of the branch that ran are checked as reads of the state before it
 * (those after a write of the same key in the same TXN, its comparisons and its `succeeded`
 * flag are not checked); each LIST entry is checked as a GET at the LIST's revision, but keys a
 * LIST should have returned and did not are not noticed.
 *
 * Assumptions: the history holds every write to the keys it touches (a run uses fresh keys;
 * writes to other keys may interleave freely: revisions they take are simply gaps), none of
 * those keys is attached to a lease (expiry deletes without an op; lease ops are not recorded),
 * and values
 * written to one key are distinct (so that a value read identifies its write; the checker still
 * works otherwise, but attributes an unknown write by first match).
 */
#ifndef NODE_HISTORY_H
#define NODE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bft/bft.h"

/** The op of a record. */
enum hist_kind { HIST_PUT = 0, HIST_GET, HIST_DEL, HIST_CAS, HIST_TXN, HIST_LIST, HIST_KIND_COUNT };

/** What came of it. REFUSED: the store answered with too big, full, malformed, not read-only
 *  or out of memory (nothing changed), or the client could not send it at all (then has_rev is
 *  false). UNKNOWN: no answer (a timeout), so it may or may not have taken effect. */
enum hist_outcome {
	HIST_OK = 0,
	HIST_NOT_FOUND,      /* GET, DEL */
	HIST_COMPARE_FAILED, /* CAS */
	HIST_REFUSED,
	HIST_UNKNOWN,
	HIST_OUTCOME_COUNT
};

/** Owned bytes (p may be NULL when len is 0). */
struct hist_bytes {
	uint8_t *p;
	size_t len;
};

/** What became of one op of a TXN branch. */
enum hist_sub_state { HIST_SUB_NOT_RUN = 0, HIST_SUB_OK, HIST_SUB_NOT_FOUND };

/** One op of a TXN branch (PUT, GET, DEL or LIST) and, if its branch ran, its result. */
struct hist_sub {
	bool in_else;            /* in the else branch */
	enum hist_kind kind;
	struct hist_bytes key;   /* LIST: the prefix */
	struct hist_bytes value; /* PUT: the value written */
	enum hist_sub_state state; /* NOT_RUN unless the TXN is OK and this op's branch ran;
				    * NOT_FOUND only for GET and DEL */
	struct hist_bytes read;  /* GET OK: the value read */
	uint64_t version, create_rev, mod_rev; /* PUT OK, GET OK */
};

/** One LIST entry as returned. */
struct hist_entry {
	struct hist_bytes key;
	struct hist_bytes value;
	bool has_value;          /* false for a keys-only page or an entry sent without its value */
	uint64_t version, create_rev, mod_rev;
};

/** One operation of the history. All byte fields and arrays are owned by the record. */
struct hist_op {
	uint64_t client;
	enum hist_kind kind;
	struct hist_bytes key;   /* PUT, GET, DEL, CAS: the key; LIST: the prefix; TXN: empty */
	struct hist_bytes value; /* PUT, CAS: the value written */
	uint64_t expected;       /* CAS: the version expected (0: must not exist) */
	uint64_t call_us;        /* when it was called */
	uint64_t ret_us;         /* when it returned; 0 and meaningless when UNKNOWN */
	enum hist_outcome outcome;
	bool has_rev;            /* a result arrived: every outcome but UNKNOWN and a refusal
				  * before sending */
	uint64_t rev;            /* the store's revision after the op (a write: the one it made) */
	struct hist_bytes read;  /* GET OK: the value read */
	uint64_t version, create_rev, mod_rev; /* GET, PUT, CAS OK: the key's numbers as read or
						* written; CAS COMPARE_FAILED: version is the
						* key's current version */
	bool succeeded;          /* TXN OK: the comparisons held (the then branch ran) */
	struct hist_sub *subs;   /* TXN: the ops of both branches, then first, in order */
	uint32_t nsubs;
	struct hist_entry *entries; /* LIST OK */
	uint32_t nentries;
};

/** A history: ops in the order they were called (or added). */
struct hist {
	struct hist_op *ops;
	size_t n, cap;
	bool realtime;           /* times are CLOCK_REALTIME (else CLOCK_MONOTONIC) */
};

/** Revisions at or above this are refused (positions are 2 * revision + 1 internally). */
#define HIST_REV_LIMIT (UINT64_C(1) << 62)

/** Starts an empty history whose times come from the clock `realtime` names. */
void hist_init(struct hist *h, bool realtime);
/** Releases everything the history owns and leaves it empty; safe on a zeroed history. */
void hist_free(struct hist *h);
/** Microseconds of the history's clock (CLOCK_REALTIME or CLOCK_MONOTONIC). */
uint64_t hist_now_us(const struct hist *h);

/**
 * Records that `client` called the op whose bytes are op[0..len) at call_us: the op is decoded
 * (any well-formed op; limits are the store's business) and recorded as UNKNOWN until
 * hist_return or hist_refuse says more. *idx receives the record's index. BFT_EMALFORMED when
 * the bytes are not a KV op; BFT_EINVAL for the lease ops and PUTs with a lease, which the
 * checker does not model (a leased key vanishes at a revision no recorded op made); nothing is
 * recorded then. BFT_ENOMEM.
 */
enum bft_err hist_call(struct hist *h, uint64_t client, const uint8_t *op, size_t len,
		       uint64_t call_us, size_t *idx) BFT_WUR;

/**
 * Completes record idx with the result bytes result[0..len) that arrived at ret_us (at or
 * after its call). BFT_EMALFORMED when the result does not decode, is for another kind of op,
 * or has a status or shape that op cannot have (the record is left UNKNOWN: the caller should
 * count the answer as wrong); BFT_EINVAL for a bad idx, a record already completed or
 * ret_us < call_us; BFT_ENOMEM (record unchanged).
 */
enum bft_err hist_return(struct hist *h, size_t idx, const uint8_t *result, size_t len,
			 uint64_t ret_us) BFT_WUR;

/** Marks record idx as refused without a result (it could not be sent), at ret_us.
 *  BFT_EINVAL for a bad idx, a completed record or ret_us < call_us. */
enum bft_err hist_refuse(struct hist *h, size_t idx, uint64_t ret_us) BFT_WUR;

/** Appends a deep copy of *op. BFT_EINVAL when the record is not consistent (hist_op_check
 *  says why), BFT_ENOMEM. */
enum bft_err hist_add(struct hist *h, const struct hist_op *op) BFT_WUR;

/** NULL when *op is a well-formed record (fields present exactly as its kind and outcome
 *  need, times in order, revisions under HIST_REV_LIMIT), else a static reason. */
const char *hist_op_check(const struct hist_op *op);

/** True when the two histories hold equal records in the same order and use the same clock. */
bool hist_equal(const struct hist *a, const struct hist *b);

/* ---------------------------------------------------------------------------------------------
 * Text format: a header line, then one op per line, every field in a fixed order, single
 * spaces, byte strings quoted with \" \\ and \xNN (lowercase) for everything outside
 * printable ASCII, space included; numbers in decimal without leading zeros. Exactly one way to
 * write each history, so parse(write(h)) == h and write(parse(text)) == text. Lines starting
 * with '#' are comments (the parser skips them, the writer writes none).
 *
 *   bfthist 1 clock=monotonic|realtime
 *   c=1 put k="x" v="a" call=100 ret=250 ok rev=5 ver=1 crev=5 mrev=5
 *   c=2 get k="x" call=120 ret=260 ok rev=5 val="a" ver=1 crev=5 mrev=5
 *   c=2 get k="y" call=300 ret=350 not-found rev=5
 *   c=1 cas k="x" exp=3 v="b" call=400 ret=480 compare-failed rev=5 ver=1
 *   c=1 del k="x" call=500 ret=- unknown
 *   c=3 put k="x" v="c" call=600 ret=610 refused rev=-
 *   c=3 list k="x" call=700 ret=790 ok rev=6 entries=1 "x":"a":1:5:5
 *   c=3 txn call=800 ret=900 ok rev=7 succeeded=1 subs=2 t:put:"x":"d":ok:2:5:7 e:get:"y"
 *
 * LIST entries are "key":"value"|-:version:create_rev:mod_rev. TXN ops are
 * branch(t|e):kind:"key"[:"value" for put] followed, when run, by :ok:ver:crev:mrev (put),
 * :ok:"value":ver:crev:mrev or :not-found (get), :ok or :not-found (del), :ok (list).
 */

/** Writes the history in the text format. BFT_ENOMEM, or BFT_EINVAL on an I/O error. */
enum bft_err hist_write(const struct hist *h, FILE *f) BFT_WUR;

/**
 * Reads a history in the text format into *h (initialised here; on failure it is left empty).
 * Strict: anything but the canonical form is refused with the line number and the reason in
 * err. BFT_EMALFORMED, BFT_ENOMEM, BFT_EINVAL on an I/O error.
 */
enum bft_err hist_parse(struct hist *h, FILE *f, char *err, size_t errlen) BFT_WUR;

/* ---------------------------------------------------------------------------------------------
 * Checking
 */

/** What hist_check found. */
struct hist_report {
	size_t ops;              /* records */
	size_t writes;           /* PUT, DEL, CAS, and TXNs with a PUT or DEL */
	size_t reads;            /* GET, LIST, and TXNs without writes */
	size_t unknown;          /* UNKNOWN outcomes */
	size_t unknown_applied;  /* ... of which a later read showed they took effect */
	size_t violations;
	char first[4096];        /* the first violation: what is wrong, then the smallest slice of
				  * the history that shows it (one record per line, "#index " in
				  * front, long values shortened); empty when there is none */
};

/**
 * Checks h as described at the top of this file and fills *rep. BFT_OK whatever it found
 * (rep->violations says); BFT_ENOMEM (then *rep is zeroed).
 */
enum bft_err hist_check(const struct hist *h, struct hist_report *rep) BFT_WUR;

/**
 * Reads the history in the file at path, checks it and prints a summary, and the first
 * violation if any, to out. Returns 0 when it is linearizable, 1 when a violation was found,
 * 2 when the file could not be read or parsed (the reason is printed).
 */
int hist_check_file(const char *path, FILE *out);

#endif
