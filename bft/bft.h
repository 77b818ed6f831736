/*
 * bft.h: identifiers, error codes and assertions shared by every part of the pure core.
 *
 * Everything under bft/ is deterministic and does no I/O (DESIGN.md "The pure core"): no sockets,
 * no clock, no threads, no stdio, no randomness that did not arrive in an event. `make check-core`
 * enforces this on the object files.
 */
#ifndef BFT_H
#define BFT_H

#include <stddef.h>
#include <stdint.h>

typedef uint32_t bft_replica_id;
typedef uint64_t bft_client_id;
typedef uint64_t bft_seq;  /* a log position (PBFT sequence number, Honey Badger epoch) */
typedef uint64_t bft_view;

#define BFT_WUR __attribute__((warn_unused_result))

enum bft_err {
	BFT_OK = 0,
	BFT_EMALFORMED,     /* not a well-formed msgpack value of the expected shape */
	BFT_EVERSION,       /* unknown envelope version */
	BFT_ETYPE,          /* unknown message type */
	BFT_EARITY,         /* an array with the wrong number of elements */
	BFT_EFIELD,         /* a field of the wrong msgpack type */
	BFT_ETOOBIG,        /* a length or count over a configured limit */
	BFT_ETRAILING,      /* bytes after the end of the value */
	BFT_ESENDER,        /* sender id out of range, or not allowed to send this type */
	BFT_ENONCANON,      /* a value not in its shortest (canonical) encoding */
	BFT_EBADSIG,        /* signature does not verify */
	BFT_EVIEW,          /* message for a view we are not in */
	BFT_ESEQ,           /* sequence number outside the watermarks */
	BFT_EDIGEST,        /* digest does not match the content */
	BFT_ECONFLICT,      /* conflicts with something already accepted from that sender */
	BFT_EDUP,           /* duplicate of something already accepted */
	BFT_ENOTPRIMARY,    /* sender is not the primary of that view */
	BFT_ESTALE,         /* old: below the low watermark, or an old request id */
	BFT_EBADCERT,       /* a certificate or proof that does not hold */
	BFT_EBADSHARE,      /* an invalid threshold-crypto share or proof */
	BFT_EFULL,          /* a bounded buffer is full */
	BFT_ENOMEM,         /* allocation failed */
	BFT_EINVAL,         /* a caller's argument is invalid */
	BFT_ESTATE,         /* not possible in the current state */
	BFT_ERR_COUNT
};

/** A static, human-readable name for an error code ("malformed frame", ...). */
const char *bft_strerror(enum bft_err e);
/** A short identifier for metrics labels ("malformed", "bad_signature", ...). */
const char *bft_err_name(enum bft_err e);

/* Assertions guard our own invariants only (never peer input) and stay on in release builds:
 * they turn a correctness bug into a crash, which the other replicas survive. The handler is
 * set by the embedding program (the node logs and aborts; tests fail). */
typedef void (*bft_assert_fn)(const char *expr, const char *file, int line);
void bft_assert_set_handler(bft_assert_fn fn);
void bft_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define BFT_ASSERT(e) ((e) ? (void)0 : bft_assert_fail(#e, __FILE__, __LINE__))

/** A borrowed byte string. */
struct bft_bytes {
	const uint8_t *p;
	uint32_t len;
};

/** Quorum sizes for n = 3f+1 (or more) replicas. */
static inline uint32_t bft_f(uint32_t n) { return (n - 1) / 3; }
static inline uint32_t bft_quorum(uint32_t n) { return 2 * bft_f(n) + 1; }

#endif
