/*
 * wal: the replica's write-ahead log (DESIGN.md "Persistence").
 *
 * On disk, a data directory holds log segments wal-<16 hex digits>.log. A segment is a sequence
 * of records, each
 *     magic "BWL1" (4) | kind (u32 LE) | seq (u64 LE) | length (u32 LE) | crc32c (u32 LE) | bytes
 * where the CRC-32C (ISA-L's crc32_iscsi: hardware-accelerated, and 32 bits is plenty to tell a
 * torn or rotted record from a good one; authenticity is not the question on our own disk)
 * covers kind, seq, length and bytes. A checkpoint record (a snapshot of the whole state) always
 * starts a new segment; once that segment is durable the older ones are deleted, so the log
 * never holds more than one snapshot and what came after it.
 *
 * Recovery reads every record in order and hands it to a callback. A torn tail (the last record
 * cut short or failing its checksum, with nothing valid after it) is truncated and reported; a
 * bad record followed by valid ones is corruption in the middle: a clear error naming the file
 * and offset, never a guess.
 *
 * Appends are buffered; wal_sync writes and fdatasyncs them, wal_flush only writes. The caller
 * decides when (fsync = always | batch | never) and never sends a message that depends on a
 * record before the record is synced.
 */
#ifndef NODE_WAL_H
#define NODE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAL_RECORD_MAX (1u << 30) /* bytes of one record's payload, at most */
#define WAL_KIND_CHECKPOINT 5u    /* = BFT_REC_CHECKPOINT */

struct wal;

/** Called once per recovered record, in order; a nonzero return stops recovery (an error). */
typedef int (*wal_record_fn)(void *arg, uint32_t kind, uint64_t seq, const uint8_t *bytes,
			     size_t len);

struct wal_recovery {
	uint64_t records;        /* records handed to the callback */
	uint64_t segments;       /* segments read */
	uint64_t truncated_bytes;/* bytes of a torn tail removed */
};

/**
 * Opens (creating if needed) the log in dir, replays it through fn, and readies it for appends.
 * 0, or -1 with a message in err: an unreadable directory, corruption in the middle of a
 * segment, or fn's failure (fn writes its own message into the err it was given, if any).
 */
int wal_open(struct wal **out, const char *dir, wal_record_fn fn, void *arg,
	     struct wal_recovery *rec, char *err, size_t errlen);

/** Appends a record (buffered). 0 or -1. */
int wal_append(struct wal *w, uint32_t kind, uint64_t seq, const uint8_t *bytes, size_t len,
	       char *err, size_t errlen);

/**
 * Writes a checkpoint record as the first record of a new segment, makes it durable (file and
 * directory fsync), then deletes the older segments. Records appended before it and not yet
 * written belong to the superseded segment and are dropped: the checkpoint replaces them. 0 or -1.
 */
int wal_checkpoint(struct wal *w, uint64_t seq, const uint8_t *bytes, size_t len, char *err,
		   size_t errlen);

/** True when appended records have not been synced yet. */
bool wal_pending(const struct wal *w);

/** Writes buffered records and fdatasyncs the segment. 0 or -1. */
int wal_sync(struct wal *w, char *err, size_t errlen);

/** Writes buffered records without syncing (fsync = never). 0 or -1. */
int wal_flush(struct wal *w, char *err, size_t errlen);

/** Bytes in the current segment (for metrics and tests). */
uint64_t wal_segment_bytes(const struct wal *w);

/** Writes what is buffered (no sync) and closes. Safe on NULL. */
void wal_close(struct wal *w);

#endif
