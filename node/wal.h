/*
 * wal: the replica's write-ahead log and snapshots (DESIGN.md "The shared log", "Persistence").
 *
 * What it stores: the records of struct bft_out (kind, seq, bytes) in order, and now and then a
 * snapshot (the BFT_REC_CHECKPOINT record) after which older records are garbage. Recovery hands
 * back the latest snapshot, then every record written after it, in order, through a callback
 * (records are streamed from disk: memory at recovery is bounded by one record, not the log).
 *
 * On disk (a data directory, files 0600, the directory itself 0700 when we create it):
 *   wal.lock                 flock()ed while open: two processes never share a log
 *   wal-<16 hex>.log         log segments, numbered upwards; a segment is
 *       header  (32 bytes)   "BFTWAL\0\2" | index u64 | salt u64 | reserved u32 | crc u32
 *       records              header (24 bytes) | bytes, back to back, each
 *           magic u32 = 0x57a1c0de | len u32 | seq u64 | kind u16 | flags u16 = 0 | crc u32
 *   snap-<16 hex>.snap       a snapshot; its number is the first segment written after it
 *       header  (40 bytes)   "BFTSNAP\1" | segment u64 | seq u64 | len u64 | kind u32 | crc u32
 *       bytes
 *   *.tmp                    a snapshot being written (deleted at recovery)
 * All integers little-endian. A record's crc is CRC-32C (Castagnoli, ISA-L's crc32_iscsi) over
 * the segment's salt, the first 20 header bytes and the payload; a segment header's and a
 * snapshot's crc cover everything before the crc field (and the snapshot's bytes).
 *
 * Why CRC-32C and not BLAKE2b: the disk is ours, so the question is "torn or rotted?", never
 * "forged?". CRC-32C detects every burst error up to 32 bits and all but 2^-32 of the rest,
 * runs at memory speed with SSE4.2/PCLMUL (ISA-L picks the fastest at run time), and 4 bytes
 * per record cost nothing. The per-segment random salt in every record's crc means bytes left
 * over from another file (a reused disk block after a crash, a record copied into a client's
 * payload) can never pass for a record of this segment.
 *
 * Durability (fsync = always | batch | never, struct wal_config):
 *   wal_append buffers; wal_sync writes the buffer and, unless the policy is never, fdatasyncs
 *   the segment. The node persists a step's records, calls wal_sync, and only then sends the
 *   messages that depend on them (engine.h). always: the node calls wal_sync after every step.
 *   batch (group commit): the node holds the outgoing messages of several steps and calls
 *   wal_sync when wal_needs_sync says so (batch_ms after the first unsynced append, or
 *   batch_bytes unsynced), bounding its poll() timeout by wal_sync_timeout_ms. never: no fsync
 *   at all (tests, benchmarks): everything survives a process crash (the data is in the page
 *   cache) but not a power loss or kernel crash.
 *
 * Snapshots (wal_checkpoint): the snapshot is written to a temporary file and fsynced, and a new
 * segment is started for the records that follow. The snapshot is renamed into place, the
 * directory fsynced and the older segments and snapshots deleted only at the next wal_sync,
 * after the new segment's records are durable. This matters: the engines re-emit after a
 * checkpoint the records still relevant above it (the view, prepared certificates, ...), and if
 * the snapshot took effect before those were durable, a crash in between would forget them. A
 * crash before the rename recovers the previous snapshot and every segment since (duplicates of
 * re-emitted records are harmless to the engines' restore functions).
 *
 * Recovery (wal_open): leftover temporaries are deleted; the newest snapshot is read and checked;
 * the segments from its number on must be contiguous and are replayed in order. In the LAST
 * segment, a torn tail - a partial record, or a bad record with no valid record anywhere after it
 * - is what a crash leaves: it is truncated and reported. A bad record followed by a valid one,
 * a bad snapshot, a missing segment or damage in an earlier segment is corruption: wal_open
 * fails with a message naming the file and the byte offset. Never a crash, never a guess.
 *
 * Errors: BFT_EMALFORMED corruption; BFT_ETOOBIG a record or snapshot over its limit; BFT_ESTATE
 * an I/O error, a log in use by another process, or a log that failed earlier (after a failed
 * write or fsync the log refuses everything: what reached the disk is unknown, and retrying an
 * fsync can report success for data that was dropped, so the replica must restart and recover);
 * BFT_ENOMEM; BFT_EINVAL. Every error comes with a message in err[0..errlen) (err may be NULL).
 *
 * Threading: a struct wal is used by one thread.
 */
#ifndef NODE_WAL_H
#define NODE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bft/bft.h"

#define WAL_RECORD_MAX (1u << 30)            /* bytes of one record's payload, at most */
#define WAL_SNAPSHOT_MAX (UINT64_C(1) << 34) /* bytes of one snapshot, at most */
#define WAL_KIND_CHECKPOINT 5u               /* = BFT_REC_CHECKPOINT: the kind of a snapshot */

struct wal;

enum wal_fsync {
	WAL_FSYNC_ALWAYS = 0, /* wal_sync fdatasyncs; wal_needs_sync whenever anything is pending */
	WAL_FSYNC_BATCH,      /* wal_sync fdatasyncs; wal_needs_sync after batch_ms / batch_bytes */
	WAL_FSYNC_NEVER,      /* wal_sync only writes */
};

struct wal_config {
	const char *dir;           /* the data directory (created, one level, if missing) */
	enum wal_fsync fsync;
	uint32_t batch_ms;         /* batch: sync this long after the first unsynced append; 0: 5 */
	uint64_t batch_bytes;      /* batch: or once this many bytes are unsynced; 0: 1 MiB */
	uint32_t record_max;       /* largest record payload appended; 0: WAL_RECORD_MAX (reading
	                            * accepts up to WAL_RECORD_MAX, bounded by the file's size) */
	uint64_t snapshot_max;     /* largest snapshot written or loaded; 0: WAL_SNAPSHOT_MAX */
	uint64_t segment_max;      /* start a new segment once one holds this many bytes (old ones
	                            * go at the next checkpoint); 0: 64 MiB */
};

/**
 * Called once per recovered item, in order: first the snapshot, if any (kind is the kind it was
 * written with, WAL_KIND_CHECKPOINT), then every record after it. bytes is borrowed for the
 * call. A nonzero return stops recovery: wal_open fails with BFT_ESTATE and leaves err as the
 * callback left it (the callback writes its own reason there if it wants one).
 */
typedef int (*wal_record_fn)(void *arg, uint32_t kind, uint64_t seq, const uint8_t *bytes,
			     size_t len);

/** What recovery found. */
struct wal_recovery {
	uint64_t records;          /* records handed to the callback (the snapshot not included) */
	uint64_t segments;         /* segments read */
	uint64_t truncated_bytes;  /* bytes of a torn tail removed (0: the log ended cleanly) */
	uint64_t truncated_offset; /* where the torn tail began, in the last segment */
	bool has_snapshot;
	uint64_t snapshot_seq;
	uint64_t snapshot_bytes;
	uint64_t removed_files;    /* leftovers deleted: temporaries, superseded segments/snapshots */
};

struct wal_stats {
	uint64_t records;          /* appended since open */
	uint64_t bytes;            /* appended since open, headers included */
	uint64_t writes;           /* write(2) calls */
	uint64_t syncs;            /* fdatasync/fsync calls */
	uint64_t checkpoints;      /* snapshots taken (committed) */
	uint64_t segments_created;
	uint64_t segments_deleted;
	uint64_t segment;          /* the current segment's number */
	uint64_t segment_bytes;    /* its size, buffered bytes included */
	uint64_t unsynced_bytes;   /* appended but not yet made durable by wal_sync */
};

/**
 * Opens the log in cfg->dir (creating the directory and an empty log if needed), replays it
 * through fn (may be NULL) and readies it for appends. *rec (may be NULL) says what was found.
 * On BFT_OK *out is the log; on error nothing is left open and *out is untouched.
 */
enum bft_err wal_open_config(struct wal **out, const struct wal_config *cfg, wal_record_fn fn,
			     void *arg, struct wal_recovery *rec, char *err, size_t errlen) BFT_WUR;

/** wal_open_config with every default (fsync = always) for directory dir. */
enum bft_err wal_open(struct wal **out, const char *dir, wal_record_fn fn, void *arg,
		      struct wal_recovery *rec, char *err, size_t errlen) BFT_WUR;

/** Appends a record (buffered; bytes is copied). BFT_ETOOBIG over record_max. */
enum bft_err wal_append(struct wal *w, uint32_t kind, uint64_t seq, const uint8_t *bytes,
			size_t len, char *err, size_t errlen) BFT_WUR;

/**
 * Takes a snapshot: writes bytes as snapshot seq (kind WAL_KIND_CHECKPOINT) to a temporary file
 * and fsyncs it, writes out the current segment and starts a new one for what follows. It takes
 * effect (rename, directory fsync, old segments deleted) at the next wal_sync; see the header
 * comment for why. A second checkpoint before that wal_sync first completes the first (as
 * wal_sync would). BFT_ETOOBIG over snapshot_max.
 */
enum bft_err wal_checkpoint(struct wal *w, uint64_t seq, const uint8_t *bytes, size_t len,
			    char *err, size_t errlen) BFT_WUR;

/** True when records were appended (or a checkpoint taken) since the last wal_sync. */
bool wal_pending(const struct wal *w);

/** True when the policy says to sync now: always/never: anything pending; batch: batch_ms since
 *  the first pending append, or batch_bytes pending. */
bool wal_needs_sync(const struct wal *w);

/** Milliseconds until wal_needs_sync becomes true (0: now), or -1 when nothing is pending. */
int wal_sync_timeout_ms(const struct wal *w);

/**
 * Makes everything appended durable as the policy says (writes the buffer; fdatasync unless
 * never), then completes a pending checkpoint. After BFT_OK, messages depending on the appended
 * records may be sent.
 */
enum bft_err wal_sync(struct wal *w, char *err, size_t errlen) BFT_WUR;

/**
 * Asynchronous group commit, for an event loop that must not stop while the disk flushes.
 * wal_sync_begin writes the buffer and hands the segment's fdatasync to a helper thread (started
 * on first use); every record appended before the call is durable once wal_sync_end reports the
 * sync done (*done true). Records appended meanwhile are not covered: begin another sync after
 * collecting this one. Only one sync is in flight at a time: begin first collects (waiting for)
 * one still in flight. A pending checkpoint, or the never policy, takes the synchronous path
 * (*done true at once). Everything else that touches files (rotation in wal_append, wal_sync,
 * wal_checkpoint, wal_close) first waits for a sync in flight, so the helper thread never syncs
 * a closed descriptor. A failed fdatasync fails the log as wal_sync's would.
 * wal_sync_fd is an eventfd that poll() sees readable once the sync in flight has finished.
 */
enum bft_err wal_sync_begin(struct wal *w, bool *done, char *err, size_t errlen) BFT_WUR;
/** Collects the sync in flight: *done true when it is over (or none was in flight); with wait,
 *  blocks until it is. */
enum bft_err wal_sync_end(struct wal *w, bool wait, bool *done, char *err, size_t errlen) BFT_WUR;
/** True while a sync is in flight (begun and not collected). */
bool wal_sync_inflight(const struct wal *w);
int wal_sync_fd(const struct wal *w);

/** Writes buffered records to the file without syncing (they then survive a process crash). */
enum bft_err wal_flush(struct wal *w, char *err, size_t errlen) BFT_WUR;

/** Bytes in the current segment, buffered bytes included. */
uint64_t wal_segment_bytes(const struct wal *w);

/** Copies the counters. */
void wal_stats(const struct wal *w, struct wal_stats *out);

/**
 * Writes what is buffered (no sync) and closes. A pending checkpoint that no wal_sync completed
 * stays pending: recovery then uses the previous snapshot and every segment since, which is
 * correct, only longer. Call wal_sync first for a clean shutdown. NULL is a no-op.
 */
void wal_close(struct wal *w);

#endif
