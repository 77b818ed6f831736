/*
 * wal.c: the write-ahead log (wal.h has the format, the durability rules and the errors).
 */
#include "node/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <isa-l/crc.h>

#define SEG_HDR 32u
#define REC_HDR 24u
#define SNAP_HDR 40u
#define REC_MAGIC UINT32_C(0x57a1c0de)
static const uint8_t SEG_MAGIC[8] = { 'B', 'F', 'T', 'W', 'A', 'L', 0, 2 };
static const uint8_t SNAP_MAGIC[8] = { 'B', 'F', 'T', 'S', 'N', 'A', 'P', 1 };

#define NAME_MAX_WAL 40u              /* "snap-<16 hex>.snap.tmp" and the like */
#define DIR_MAX 4000u                 /* room for dir + '/' + name in PATH_MAX */
#define BUF_FLUSH (1u << 20)          /* write the append buffer once it holds this much */
#define BUF_DIRECT (256u << 10)       /* records this large bypass the buffer */
#define READ_CHUNK (256u << 10)       /* recovery reads at least this much at a time */
#define DEF_BATCH_MS 5u
#define DEF_BATCH_BYTES (UINT64_C(1) << 20)
#define DEF_SEGMENT_MAX (UINT64_C(64) << 20)
#define LOCK_NAME "wal.lock"

struct wal {
	char dir[DIR_MAX];
	int dirfd;
	int lockfd;
	int fd;                  /* the current segment, O_APPEND */

	enum wal_fsync policy;
	uint32_t batch_ms;
	uint64_t batch_bytes;
	uint32_t record_max;
	uint64_t snapshot_max;
	uint64_t segment_max;

	uint64_t seg;            /* current segment number */
	uint64_t first_seg;      /* oldest segment on disk that belongs to the log */
	uint64_t seg_size;       /* bytes in the segment file (excluding the buffer) */
	uint64_t seg_records;    /* records in the current segment */
	uint32_t seed;           /* CRC-32C state after the segment's salt */
	bool dirty;              /* written to fd since its last fdatasync */

	uint8_t *buf;            /* appended, not yet written */
	size_t len, cap;

	bool pending;            /* appended or checkpointed since the last wal_sync */
	uint64_t unsynced;       /* bytes appended since the last wal_sync */
	uint64_t first_pending_ms;

	bool ckpt_pending;       /* a snapshot waits in its temporary file for the next wal_sync */
	uint64_t ckpt_seg;       /* its number (= the segment started with it) */
	uint64_t snap_seg;       /* the snapshot in effect (0: none) */

	bool failed;             /* a write or sync failed: refuse everything (wal.h "Errors") */
	struct wal_stats st;

	/* Asynchronous sync (wal_sync_begin): one helper thread runs fdatasync on the segment while
	 * the event loop goes on. The fields under mu are shared with it; the rest are the loop's. */
	bool thr_started;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int efd;                 /* eventfd, readable once the in-flight sync has finished */
	bool inflight;           /* a sync was handed to the thread and not yet collected */
	bool job, job_done, quit;/* under mu */
	int job_fd, job_errno;   /* under mu */
};

/* ------------------------------------------------------------------------------------------- */
/* Small helpers */

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* CRC-32C, continued from state c. ISA-L takes a non-const pointer and an int length (it
 * neither writes the buffer nor needs more than INT_MAX at a time), hence the chunks and the
 * cast through uintptr_t. The state is the raw register: start from ~0, finish with ~. */
static uint32_t crc_more(uint32_t c, const uint8_t *p, size_t len)
{
	while (len > 0) {
		size_t k = len > (size_t)INT_MAX ? (size_t)INT_MAX : len;
		c = crc32_iscsi((unsigned char *)(uintptr_t)p, (int)k, c);
		p += k;
		len -= k;
	}
	return c;
}

static uint32_t seg_seed(uint64_t salt)
{
	uint8_t s[8];

	put64(s, salt);
	return crc_more(UINT32_C(0xffffffff), s, sizeof(s));
}

/* A record's checksum: the segment's salt (in seed), header bytes 0..20, then the payload. */
static uint32_t rec_crc(uint32_t seed, const uint8_t *hdr, const uint8_t *bytes, size_t len)
{
	return ~crc_more(crc_more(seed, hdr, 20), bytes, len);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void seg_name(char out[NAME_MAX_WAL], uint64_t n)
{
	snprintf(out, NAME_MAX_WAL, "wal-%016" PRIx64 ".log", n);
}

static void snap_name(char out[NAME_MAX_WAL], uint64_t n, bool tmp)
{
	snprintf(out, NAME_MAX_WAL, "snap-%016" PRIx64 ".snap%s", n, tmp ? ".tmp" : "");
}

/* Parses "<prefix><16 hex><suffix>" exactly. */
static bool parse_name(const char *name, const char *prefix, const char *suffix, uint64_t *n)
{
	size_t lp = strlen(prefix), ls = strlen(suffix);
	uint64_t v = 0;

	if (strlen(name) != lp + 16 + ls || strncmp(name, prefix, lp) != 0 ||
	    strcmp(name + lp + 16, suffix) != 0)
		return false;
	for (size_t i = lp; i < lp + 16; i++) {
		char c = name[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*n = v;
	return true;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

/* Reads exactly len bytes at off; short files are an error (-1 with errno = 0). */
static int pread_all(int fd, uint8_t *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t k = pread(fd, p, len, (off_t)off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (k == 0) {
			errno = 0;
			return -1;
		}
		p += k;
		len -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

static const char *why(void)
{
	return errno != 0 ? strerror(errno) : "unexpected end of file";
}

/* After a failed write or sync nothing more is written: wal.h "Errors". */
static enum bft_err fail_io(struct wal *w, char *err, size_t errlen, const char *what,
			    const char *name)
{
	w->failed = true;
	errf(err, errlen, "%s/%s: %s: %s (the log refuses further writes; restart to recover)",
	     w->dir, name, what, strerror(errno));
	return BFT_ESTATE;
}

static enum bft_err check_usable(const struct wal *w, char *err, size_t errlen)
{
	if (w->failed) {
		errf(err, errlen, "%s: the log failed earlier and refuses writes; restart to recover",
		     w->dir);
		return BFT_ESTATE;
	}
	return BFT_OK;
}

static int dir_sync(struct wal *w)
{
	if (w->policy == WAL_FSYNC_NEVER)
		return 0;
	w->st.syncs++;
	return fsync(w->dirfd);
}

/* ------------------------------------------------------------------------------------------- */
/* Segments */

static uint64_t fresh_salt(void)
{
	uint64_t s = 0;

	/* Uniqueness, not secrecy, is what the salt is for; the clock is an adequate fallback. */
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
		s = now_ms() * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)getpid() << 32;
	return s;
}

/* Writes the append buffer to the segment file. */
static enum bft_err buf_write(struct wal *w, char *err, size_t errlen)
{
	char name[NAME_MAX_WAL];

	if (w->len == 0)
		return BFT_OK;
	if (write_all(w->fd, w->buf, w->len) != 0) {
		seg_name(name, w->seg);
		return fail_io(w, err, errlen, "write", name);
	}
	w->st.writes++;
	w->seg_size += w->len;
	w->len = 0;
	w->dirty = true;
	return BFT_OK;
}

/* Writes the buffer and, unless the policy is never, fdatasyncs the segment. */
static enum bft_err seg_sync(struct wal *w, char *err, size_t errlen)
{
	char name[NAME_MAX_WAL];
	enum bft_err e = buf_write(w, err, errlen);

	if (e != BFT_OK)
		return e;
	if (w->dirty && w->policy != WAL_FSYNC_NEVER) {
		w->st.syncs++;
		if (fdatasync(w->fd) != 0) {
			seg_name(name, w->seg);
			return fail_io(w, err, errlen, "fdatasync", name);
		}
	}
	w->dirty = false;
	return BFT_OK;
}

/* Creates segment n with a fresh salt and makes it the current one. The header and the
 * directory entry are made durable first, so a segment that exists always starts validly (a
 * crash in between leaves at most a short header in the last segment, which recovery drops). */
static enum bft_err seg_create(struct wal *w, uint64_t n, char *err, size_t errlen)
{
	char name[NAME_MAX_WAL];
	uint8_t hdr[SEG_HDR];
	uint64_t salt = fresh_salt();
	int fd;

	seg_name(name, n);
	fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail_io(w, err, errlen, "create", name);
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, SEG_MAGIC, 8);
	put64(hdr + 8, n);
	put64(hdr + 16, salt);
	put32(hdr + 28, ~crc_more(UINT32_C(0xffffffff), hdr, 28));
	if (write_all(fd, hdr, sizeof(hdr)) != 0 ||
	    (w->policy != WAL_FSYNC_NEVER && fdatasync(fd) != 0) || dir_sync(w) != 0) {
		enum bft_err e = fail_io(w, err, errlen, "create", name);
		close(fd);
		return e;
	}
	if (w->policy != WAL_FSYNC_NEVER)
		w->st.syncs++;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->seg = n;
	w->seg_size = SEG_HDR;
	w->seg_records = 0;
	w->seed = seg_seed(salt);
	w->dirty = false;
	w->st.segments_created++;
	return BFT_OK;
}

/* Ends the current segment (written and, unless never, synced: only the last segment may have
 * a torn tail) and starts the next. */
static enum bft_err sync_quiesce(struct wal *w, char *err, size_t errlen);

static enum bft_err seg_rotate(struct wal *w, char *err, size_t errlen)
{
	enum bft_err e = sync_quiesce(w, err, errlen);

	if (e == BFT_OK)
		e = seg_sync(w, err, errlen);

	if (e != BFT_OK)
		return e;
	return seg_create(w, w->seg + 1, err, errlen);
}

/* ------------------------------------------------------------------------------------------- */
/* Appending */

static void note_pending(struct wal *w, uint64_t bytes)
{
	if (!w->pending)
		w->first_pending_ms = now_ms();
	w->pending = true;
	w->unsynced += bytes;
}

static enum bft_err buf_reserve(struct wal *w, size_t more, char *err, size_t errlen)
{
	size_t cap = w->cap != 0 ? w->cap : 64u << 10;
	uint8_t *nb;

	if (w->cap - w->len >= more)
		return BFT_OK;
	while (cap - w->len < more)
		cap *= 2;
	nb = realloc(w->buf, cap);
	if (nb == NULL) {
		errf(err, errlen, "%s: out of memory buffering a log record", w->dir);
		return BFT_ENOMEM;
	}
	w->buf = nb;
	w->cap = cap;
	return BFT_OK;
}

enum bft_err wal_append(struct wal *w, uint32_t kind, uint64_t seq, const uint8_t *bytes,
			size_t len, char *err, size_t errlen)
{
	uint8_t hdr[REC_HDR];
	enum bft_err e;

	if ((e = check_usable(w, err, errlen)) != BFT_OK)
		return e;
	if (len > w->record_max) {
		errf(err, errlen, "%s: a record of %zu bytes is over the %u-byte limit", w->dir, len,
		     w->record_max);
		return BFT_ETOOBIG;
	}
	if (kind > UINT16_MAX || (len > 0 && bytes == NULL)) {
		errf(err, errlen, "%s: record kind %u out of range", w->dir, kind);
		return BFT_EINVAL;
	}
	/* Rotate by size between records, never inside one, and never leave a segment empty. */
	if (w->seg_records > 0 && w->seg_size + w->len + REC_HDR + len > w->segment_max &&
	    (e = seg_rotate(w, err, errlen)) != BFT_OK)
		return e;

	put32(hdr, REC_MAGIC);
	put32(hdr + 4, (uint32_t)len);
	put64(hdr + 8, seq);
	put16(hdr + 16, (uint16_t)kind);
	put16(hdr + 18, 0);
	put32(hdr + 20, rec_crc(w->seed, hdr, bytes, len));

	if (REC_HDR + len >= BUF_DIRECT) {
		/* Large: write it where it stands instead of copying it into the buffer. */
		char name[NAME_MAX_WAL];
		if ((e = buf_write(w, err, errlen)) != BFT_OK)
			return e;
		if (write_all(w->fd, hdr, REC_HDR) != 0 || write_all(w->fd, bytes, len) != 0) {
			seg_name(name, w->seg);
			return fail_io(w, err, errlen, "write", name);
		}
		w->st.writes += 2;
		w->seg_size += REC_HDR + len;
		w->dirty = true;
	} else {
		if ((e = buf_reserve(w, REC_HDR + len, err, errlen)) != BFT_OK)
			return e;
		memcpy(w->buf + w->len, hdr, REC_HDR);
		if (len > 0)
			memcpy(w->buf + w->len + REC_HDR, bytes, len);
		w->len += REC_HDR + len;
		if (w->len >= BUF_FLUSH && (e = buf_write(w, err, errlen)) != BFT_OK)
			return e;
	}
	w->seg_records++;
	w->st.records++;
	w->st.bytes += REC_HDR + len;
	note_pending(w, REC_HDR + len);
	return BFT_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Snapshots */

/* Deletes segments [first_seg, upto) and the snapshot before the one taking effect. */
static void drop_superseded(struct wal *w, uint64_t upto, uint64_t old_snap)
{
	char name[NAME_MAX_WAL];

	for (uint64_t s = w->first_seg; s < upto; s++) {
		seg_name(name, s);
		if (unlinkat(w->dirfd, name, 0) == 0)
			w->st.segments_deleted++;
	}
	w->first_seg = upto;
	if (old_snap != 0) {
		snap_name(name, old_snap, false);
		(void)unlinkat(w->dirfd, name, 0);
	}
}

/* Puts the pending snapshot into effect; the records after it must already be durable. */
static enum bft_err ckpt_commit(struct wal *w, char *err, size_t errlen)
{
	char tmp[NAME_MAX_WAL], name[NAME_MAX_WAL];
	uint64_t old = w->snap_seg;

	snap_name(tmp, w->ckpt_seg, true);
	snap_name(name, w->ckpt_seg, false);
	if (renameat(w->dirfd, tmp, w->dirfd, name) != 0)
		return fail_io(w, err, errlen, "rename", tmp);
	/* The rename must be durable before anything it supersedes disappears. */
	if (dir_sync(w) != 0)
		return fail_io(w, err, errlen, "fsync", ".");
	w->snap_seg = w->ckpt_seg;
	w->ckpt_pending = false;
	w->st.checkpoints++;
	drop_superseded(w, w->snap_seg, old);
	if (dir_sync(w) != 0)
		return fail_io(w, err, errlen, "fsync", ".");
	return BFT_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Asynchronous sync (wal.h "wal_sync_begin") */

static void *sync_thread(void *arg)
{
	struct wal *w = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->job && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->quit)
			break;
		int fd = w->job_fd;
		pthread_mutex_unlock(&w->mu);
		/* Everything written to fd before this call is durable when it returns; writes that
		 * race with it are not counted on (the loop syncs them next time). */
		int rc = fdatasync(fd), en = rc != 0 ? errno : 0;
		pthread_mutex_lock(&w->mu);
		w->job = false;
		w->job_done = true;
		w->job_errno = rc != 0 ? (en != 0 ? en : EIO) : 0;
		/* Wakes the event loop's poll(); a failed write here only delays the loop until it
		 * collects the result some other way (wal_sync_end is also called without waiting). */
		if (write(w->efd, &one, sizeof(one)) < 0)
			(void)0;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Collects the in-flight sync: waits for it when `wait`, else only looks. *done says whether it
 * is over (no sync in flight counts as over). A failed fdatasync fails the log. */
static enum bft_err sync_collect(struct wal *w, bool wait, bool *done, char *err, size_t errlen)
{
	int en;
	uint64_t v;
	char name[NAME_MAX_WAL];

	*done = true;
	if (!w->inflight)
		return BFT_OK;
	pthread_mutex_lock(&w->mu);
	while (wait && !w->job_done)
		pthread_cond_wait(&w->cv, &w->mu);
	if (!w->job_done) {
		pthread_mutex_unlock(&w->mu);
		*done = false;
		return BFT_OK;
	}
	w->job_done = false;
	en = w->job_errno;
	pthread_mutex_unlock(&w->mu);
	if (read(w->efd, &v, sizeof(v)) < 0)
		(void)0; /* already drained: the count is only a wake-up */
	w->inflight = false;
	if (en != 0) {
		errno = en;
		seg_name(name, w->seg);
		return fail_io(w, err, errlen, "fdatasync", name);
	}
	return BFT_OK;
}

/* Waits for a sync in flight: everything that closes, rotates or renames files, or syncs on its
 * own, comes after it. */
static enum bft_err sync_quiesce(struct wal *w, char *err, size_t errlen)
{
	bool done;

	return sync_collect(w, true, &done, err, errlen);
}

enum bft_err wal_sync_begin(struct wal *w, bool *done, char *err, size_t errlen)
{
	enum bft_err e;

	*done = false;
	if ((e = check_usable(w, err, errlen)) != BFT_OK)
		return e;
	if ((e = sync_quiesce(w, err, errlen)) != BFT_OK)
		return e;
	/* A pending checkpoint must be put into effect (rename, directory fsync) after the records
	 * are durable: rare, so it takes the synchronous path. So does never (no fdatasync). */
	if (w->ckpt_pending || w->policy == WAL_FSYNC_NEVER) {
		e = wal_sync(w, err, errlen);
		*done = e == BFT_OK;
		return e;
	}
	if ((e = buf_write(w, err, errlen)) != BFT_OK)
		return e;
	w->pending = false;
	w->unsynced = 0;
	if (!w->dirty) {
		*done = true;
		return BFT_OK;
	}
	if (!w->thr_started) {
		if (pthread_create(&w->thr, NULL, sync_thread, w) != 0) {
			/* No thread: sync here, as wal_sync would. */
			e = seg_sync(w, err, errlen);
			*done = e == BFT_OK;
			return e;
		}
		w->thr_started = true;
	}
	w->dirty = false;
	w->st.syncs++;
	w->inflight = true;
	pthread_mutex_lock(&w->mu);
	w->job_fd = w->fd;
	w->job = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return BFT_OK;
}

enum bft_err wal_sync_end(struct wal *w, bool wait, bool *done, char *err, size_t errlen)
{
	*done = false;
	if (w->failed)
		return check_usable(w, err, errlen);
	return sync_collect(w, wait, done, err, errlen);
}

bool wal_sync_inflight(const struct wal *w)
{
	return w->inflight;
}

int wal_sync_fd(const struct wal *w)
{
	return w->efd;
}

enum bft_err wal_sync(struct wal *w, char *err, size_t errlen)
{
	enum bft_err e;

	if ((e = check_usable(w, err, errlen)) != BFT_OK)
		return e;
	if ((e = sync_quiesce(w, err, errlen)) != BFT_OK)
		return e;
	if ((e = seg_sync(w, err, errlen)) != BFT_OK)
		return e;
	if (w->ckpt_pending && (e = ckpt_commit(w, err, errlen)) != BFT_OK)
		return e;
	w->pending = false;
	w->unsynced = 0;
	return BFT_OK;
}

enum bft_err wal_flush(struct wal *w, char *err, size_t errlen)
{
	enum bft_err e = check_usable(w, err, errlen);

	return e != BFT_OK ? e : buf_write(w, err, errlen);
}

enum bft_err wal_checkpoint(struct wal *w, uint64_t seq, const uint8_t *bytes, size_t len,
			    char *err, size_t errlen)
{
	char tmp[NAME_MAX_WAL];
	uint8_t hdr[SNAP_HDR];
	uint64_t n;
	enum bft_err e;
	int fd;

	if ((e = check_usable(w, err, errlen)) != BFT_OK)
		return e;
	if ((e = sync_quiesce(w, err, errlen)) != BFT_OK)
		return e;
	if ((uint64_t)len > w->snapshot_max) {
		errf(err, errlen, "%s: a snapshot of %zu bytes is over the %" PRIu64 "-byte limit",
		     w->dir, len, w->snapshot_max);
		return BFT_ETOOBIG;
	}
	if (len > 0 && bytes == NULL)
		return BFT_EINVAL;
	if (w->ckpt_pending && (e = wal_sync(w, err, errlen)) != BFT_OK)
		return e;

	n = w->seg + 1;
	memcpy(hdr, SNAP_MAGIC, 8);
	put64(hdr + 8, n);
	put64(hdr + 16, seq);
	put64(hdr + 24, (uint64_t)len);
	put32(hdr + 32, WAL_KIND_CHECKPOINT);
	put32(hdr + 36, ~crc_more(crc_more(UINT32_C(0xffffffff), hdr, 36), bytes, len));
	snap_name(tmp, n, true);
	fd = openat(w->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail_io(w, err, errlen, "create", tmp);
	if (write_all(fd, hdr, SNAP_HDR) != 0 || write_all(fd, bytes, len) != 0 ||
	    (w->policy != WAL_FSYNC_NEVER && fsync(fd) != 0)) {
		e = fail_io(w, err, errlen, "write", tmp);
		close(fd);
		(void)unlinkat(w->dirfd, tmp, 0);
		return e;
	}
	if (w->policy != WAL_FSYNC_NEVER)
		w->st.syncs++;
	close(fd);
	/* What follows the snapshot goes to a segment of its own, numbered like the snapshot. */
	if ((e = seg_rotate(w, err, errlen)) != BFT_OK)
		return e;
	w->ckpt_pending = true;
	w->ckpt_seg = n;
	note_pending(w, 0);
	return BFT_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Queries */

bool wal_pending(const struct wal *w)
{
	return w->pending;
}

bool wal_needs_sync(const struct wal *w)
{
	return wal_sync_timeout_ms(w) == 0;
}

int wal_sync_timeout_ms(const struct wal *w)
{
	uint64_t now, due;

	if (!w->pending)
		return -1;
	if (w->policy != WAL_FSYNC_BATCH || w->unsynced >= w->batch_bytes)
		return 0;
	now = now_ms();
	due = w->first_pending_ms + w->batch_ms;
	return now >= due ? 0 : (int)(due - now);
}

uint64_t wal_segment_bytes(const struct wal *w)
{
	return w->seg_size + w->len;
}

void wal_stats(const struct wal *w, struct wal_stats *out)
{
	*out = w->st;
	out->segment = w->seg;
	out->segment_bytes = w->seg_size + w->len;
	out->unsynced_bytes = w->unsynced;
}

void wal_close(struct wal *w)
{
	if (w == NULL)
		return;
	if (w->thr_started) {
		bool done;
		(void)sync_collect(w, true, &done, NULL, 0);
		pthread_mutex_lock(&w->mu);
		w->quit = true;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thr, NULL);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	if (w->efd >= 0)
		close(w->efd);
	if (w->fd >= 0) {
		if (!w->failed)
			(void)buf_write(w, NULL, 0);
		close(w->fd);
	}
	if (w->lockfd >= 0)
		close(w->lockfd); /* releases the flock */
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->buf);
	free(w);
}

/* ------------------------------------------------------------------------------------------- */
/* Recovery */

/* A window over a file for streaming records: memory stays at one record (plus a read chunk),
 * however long the segment. */
struct reader {
	int fd;
	uint64_t size;
	uint8_t *buf;
	size_t cap;
	uint64_t off;  /* file offset of buf[0] */
	size_t len;    /* valid bytes in buf */
};

/* Makes [off, off + n) available (n at most what the file holds past off); returns a pointer to
 * it and sets *got to how many bytes are there (less than n only at the end of the file). */
static const uint8_t *rd_peek(struct reader *r, uint64_t off, size_t n, size_t *got, int *ioerr)
{
	size_t want;

	*ioerr = 0;
	if (off >= r->size) {
		*got = 0;
		return r->buf;
	}
	if ((uint64_t)n > r->size - off)
		n = (size_t)(r->size - off);
	if (off >= r->off && off + n <= r->off + r->len) {
		*got = n;
		return r->buf + (off - r->off);
	}
	want = n > READ_CHUNK ? n : READ_CHUNK;
	if ((uint64_t)want > r->size - off)
		want = (size_t)(r->size - off);
	if (want > r->cap) {
		uint8_t *nb = realloc(r->buf, want);
		if (nb == NULL) {
			*ioerr = ENOMEM;
			*got = 0;
			return r->buf;
		}
		r->buf = nb;
		r->cap = want;
	}
	if (pread_all(r->fd, r->buf, want, off) != 0) {
		*ioerr = errno != 0 ? errno : EIO;
		r->len = 0;
		*got = 0;
		return r->buf;
	}
	r->off = off;
	r->len = want;
	*got = n;
	return r->buf;
}

enum rec_status { REC_OK, REC_BAD, REC_IOERR };

/* Checks the record at off: REC_OK with its header and payload, or REC_BAD. Reading accepts
 * any length up to rmax that the file actually holds (so lowering record_max never turns valid
 * records into a "torn tail"); the file bound also caps what a damaged length can make us read. */
static enum rec_status rec_check(struct reader *r, uint64_t off, uint32_t seed, uint32_t rmax,
				 const uint8_t **hdr_out, uint64_t *next)
{
	const uint8_t *p;
	size_t got;
	uint32_t len;
	int ioerr;

	p = rd_peek(r, off, REC_HDR, &got, &ioerr);
	if (ioerr)
		return REC_IOERR;
	if (got < REC_HDR || get32(p) != REC_MAGIC || get16(p + 18) != 0)
		return REC_BAD;
	len = get32(p + 4);
	if (len > rmax || r->size - off - REC_HDR < len)
		return REC_BAD;
	p = rd_peek(r, off, REC_HDR + (size_t)len, &got, &ioerr);
	if (ioerr)
		return REC_IOERR;
	if (rec_crc(seed, p, p + REC_HDR, len) != get32(p + 20))
		return REC_BAD;
	*hdr_out = p;
	*next = off + REC_HDR + len;
	return REC_OK;
}

/* True when a valid record starts anywhere after off: then a bad record at off is damage in the
 * middle of the log, not a write that a crash cut short. */
static bool valid_after(struct reader *r, uint64_t off, uint32_t seed, uint32_t rmax)
{
	for (uint64_t o = off + 1; o + REC_HDR <= r->size; o++) {
		const uint8_t *p, *h;
		uint64_t next;
		size_t got;
		int ioerr;

		p = rd_peek(r, o, 4, &got, &ioerr);
		if (ioerr || got < 4)
			return false;
		if (get32(p) == REC_MAGIC && rec_check(r, o, seed, rmax, &h, &next) == REC_OK)
			return true;
	}
	return false;
}

struct dir_scan {
	uint64_t *segs;
	size_t nsegs, segs_cap;
	uint64_t *snaps;
	size_t nsnaps, snaps_cap;
};

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int push_u64(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
	if (*n == *cap) {
		size_t nc = *cap != 0 ? *cap * 2 : 16;
		uint64_t *nv = realloc(*v, nc * sizeof(*nv));
		if (nv == NULL)
			return -1;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = x;
	return 0;
}

/* Lists segments and snapshots (sorted) and deletes temporaries a crash left behind. */
static enum bft_err scan_dir(struct wal *w, struct dir_scan *ds, struct wal_recovery *rec,
			     char *err, size_t errlen)
{
	int fd = dup(w->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	uint64_t n;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		errf(err, errlen, "%s: %s", w->dir, strerror(errno));
		return BFT_ESTATE;
	}
	while ((de = readdir(d)) != NULL) {
		int rc = 0;
		if (parse_name(de->d_name, "wal-", ".log", &n)) {
			rc = push_u64(&ds->segs, &ds->nsegs, &ds->segs_cap, n);
		} else if (parse_name(de->d_name, "snap-", ".snap", &n)) {
			rc = push_u64(&ds->snaps, &ds->nsnaps, &ds->snaps_cap, n);
		} else if (parse_name(de->d_name, "snap-", ".snap.tmp", &n)) {
			/* A snapshot that never took effect. */
			if (unlinkat(w->dirfd, de->d_name, 0) == 0)
				rec->removed_files++;
		}
		if (rc != 0) {
			closedir(d);
			errf(err, errlen, "%s: out of memory listing the log", w->dir);
			return BFT_ENOMEM;
		}
	}
	closedir(d);
	if (ds->nsegs > 1)
		qsort(ds->segs, ds->nsegs, sizeof(*ds->segs), u64_cmp);
	if (ds->nsnaps > 1)
		qsort(ds->snaps, ds->nsnaps, sizeof(*ds->snaps), u64_cmp);
	return BFT_OK;
}

/* Reads, checks and delivers snapshot n. */
static enum bft_err load_snapshot(struct wal *w, uint64_t n, wal_record_fn fn, void *arg,
				  struct wal_recovery *rec, char *err, size_t errlen)
{
	char name[NAME_MAX_WAL];
	uint8_t hdr[SNAP_HDR];
	uint8_t *bytes = NULL;
	struct stat st;
	uint64_t len;
	enum bft_err e = BFT_EMALFORMED;
	int fd;

	snap_name(name, n, false);
	fd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		errf(err, errlen, "%s/%s: %s", w->dir, name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return BFT_ESTATE;
	}
	errno = 0;
	if ((uint64_t)st.st_size < SNAP_HDR || pread_all(fd, hdr, SNAP_HDR, 0) != 0) {
		errf(err, errlen, "%s/%s: corrupt snapshot: header unreadable (%s)", w->dir, name,
		     (uint64_t)st.st_size < SNAP_HDR ? "file too short" : why());
		goto out;
	}
	len = get64(hdr + 24);
	if (memcmp(hdr, SNAP_MAGIC, 8) == 0 && get64(hdr + 8) == n &&
	    (uint64_t)st.st_size == SNAP_HDR + len && len > w->snapshot_max) {
		errf(err, errlen, "%s/%s: a snapshot of %" PRIu64 " bytes is over the %" PRIu64
		     "-byte limit (raise snapshot_max)", w->dir, name, len, w->snapshot_max);
		e = BFT_ETOOBIG;
		goto out;
	}
	if (memcmp(hdr, SNAP_MAGIC, 8) != 0 || get64(hdr + 8) != n ||
	    (uint64_t)st.st_size != SNAP_HDR + len) {
		errf(err, errlen,
		     "%s/%s: corrupt snapshot: bad header (magic, number, or length %" PRIu64
		     " for a file of %lld bytes)",
		     w->dir, name, len, (long long)st.st_size);
		goto out;
	}
	bytes = malloc(len > 0 ? (size_t)len : 1);
	if (bytes == NULL) {
		errf(err, errlen, "%s/%s: out of memory for a %" PRIu64 "-byte snapshot", w->dir,
		     name, len);
		e = BFT_ENOMEM;
		goto out;
	}
	errno = 0;
	if (pread_all(fd, bytes, (size_t)len, SNAP_HDR) != 0) {
		errf(err, errlen, "%s/%s: %s", w->dir, name, why());
		e = BFT_ESTATE;
		goto out;
	}
	if (~crc_more(crc_more(UINT32_C(0xffffffff), hdr, 36), bytes, (size_t)len) !=
	    get32(hdr + 36)) {
		errf(err, errlen, "%s/%s: corrupt snapshot: checksum mismatch", w->dir, name);
		goto out;
	}
	rec->has_snapshot = true;
	rec->snapshot_seq = get64(hdr + 16);
	rec->snapshot_bytes = len;
	if (fn != NULL && fn(arg, get32(hdr + 32), get64(hdr + 16), bytes, (size_t)len) != 0) {
		e = BFT_ESTATE; /* err is the callback's */
		goto out;
	}
	e = BFT_OK;
out:
	free(bytes);
	close(fd);
	return e;
}

/* The outcome of replaying one segment. */
struct seg_replay {
	bool header_torn;   /* last segment only: shorter than, or a bad, header: recreate it */
	uint64_t salt;
	uint64_t end;       /* where the valid records end (the file size after truncation) */
	uint64_t records;
};

/* Replays segment n through fn; in the last segment a torn tail is truncated. */
static enum bft_err replay_segment(struct wal *w, uint64_t n, bool last, wal_record_fn fn,
				   void *arg, struct wal_recovery *rec, struct seg_replay *out,
				   char *err, size_t errlen)
{
	char name[NAME_MAX_WAL];
	struct reader r = { .fd = -1 };
	struct stat st;
	const uint8_t *p;
	uint64_t off;
	uint32_t seed;
	size_t got;
	int ioerr;
	enum bft_err e = BFT_OK;

	memset(out, 0, sizeof(*out));
	seg_name(name, n);
	r.fd = openat(w->dirfd, name, (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (r.fd < 0 || fstat(r.fd, &st) != 0) {
		errf(err, errlen, "%s/%s: %s", w->dir, name, strerror(errno));
		if (r.fd >= 0)
			close(r.fd);
		return BFT_ESTATE;
	}
	r.size = (uint64_t)st.st_size;
	p = rd_peek(&r, 0, SEG_HDR, &got, &ioerr);
	if (ioerr) {
		errno = ioerr;
		errf(err, errlen, "%s/%s: read: %s", w->dir, name, strerror(errno));
		e = BFT_ESTATE;
		goto out;
	}
	if (got < SEG_HDR || memcmp(p, SEG_MAGIC, 8) != 0 || get64(p + 8) != n ||
	    ~crc_more(UINT32_C(0xffffffff), p, 28) != get32(p + 28)) {
		/* A crash while creating the last segment leaves a short header and no record;
		 * anywhere else, or with more bytes than a header, this is damage. */
		if (last && r.size <= SEG_HDR) {
			out->header_torn = true;
			rec->truncated_bytes += r.size;
			rec->truncated_offset = 0;
			goto out;
		}
		errf(err, errlen, "%s/%s: corrupt segment header at offset 0%s", w->dir, name,
		     got >= 8 && memcmp(p, SEG_MAGIC, 6) == 0 && p[7] != SEG_MAGIC[7]
			     ? " (unsupported format version)"
			     : "");
		e = BFT_EMALFORMED;
		goto out;
	}
	out->salt = get64(p + 16);
	seed = seg_seed(out->salt);
	off = SEG_HDR;
	while (off < r.size) {
		const uint8_t *h;
		uint64_t next;
		enum rec_status s = rec_check(&r, off, seed, WAL_RECORD_MAX, &h, &next);

		if (s == REC_IOERR) {
			errf(err, errlen, "%s/%s: read at offset %" PRIu64 " failed", w->dir, name,
			     off);
			e = BFT_ESTATE;
			goto out;
		}
		if (s == REC_BAD) {
			if (!last || valid_after(&r, off, seed, WAL_RECORD_MAX)) {
				errf(err, errlen,
				     "%s/%s: corrupt record at offset %" PRIu64 " (%s): the log "
				     "cannot be trusted; move the data directory away to rejoin "
				     "empty and catch up from peers",
				     w->dir, name, off,
				     last ? "valid records follow it, so it is not a torn write"
					  : "in a segment that later segments follow");
				e = BFT_EMALFORMED;
				goto out;
			}
			/* A torn tail: the write a crash interrupted. Cut it off, durably, so
			 * that appends continue from a valid end. */
			if (ftruncate(r.fd, (off_t)off) != 0 ||
			    (w->policy != WAL_FSYNC_NEVER && fsync(r.fd) != 0)) {
				errf(err, errlen, "%s/%s: truncate at %" PRIu64 ": %s", w->dir, name,
				     off, strerror(errno));
				e = BFT_ESTATE;
				goto out;
			}
			rec->truncated_bytes += r.size - off;
			rec->truncated_offset = off;
			r.size = off;
			break;
		}
		if (fn != NULL && fn(arg, get16(h + 16), get64(h + 8), h + REC_HDR,
				     (size_t)(next - off - REC_HDR)) != 0) {
			e = BFT_ESTATE; /* err is the callback's */
			goto out;
		}
		out->records++;
		rec->records++;
		off = next;
	}
	out->end = r.size;
out:
	free(r.buf);
	close(r.fd);
	return e;
}

/* Opens the last segment for appending after recovery. */
static enum bft_err seg_reopen(struct wal *w, uint64_t n, const struct seg_replay *sr, char *err,
			       size_t errlen)
{
	char name[NAME_MAX_WAL];
	int fd;

	seg_name(name, n);
	fd = openat(w->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		errf(err, errlen, "%s/%s: %s", w->dir, name, strerror(errno));
		return BFT_ESTATE;
	}
	w->fd = fd;
	w->seg = n;
	w->seg_size = sr->end;
	w->seg_records = sr->records;
	w->seed = seg_seed(sr->salt);
	return BFT_OK;
}

static enum bft_err recover(struct wal *w, wal_record_fn fn, void *arg, struct wal_recovery *rec,
			    char *err, size_t errlen)
{
	struct dir_scan ds;
	struct seg_replay sr;
	char name[NAME_MAX_WAL];
	uint64_t start = 0, snap = 0;
	size_t first = 0;
	enum bft_err e;

	memset(&ds, 0, sizeof(ds));
	memset(&sr, 0, sizeof(sr));
	if ((e = scan_dir(w, &ds, rec, err, errlen)) != BFT_OK)
		goto out;
	if (ds.nsnaps > 0) {
		snap = ds.snaps[ds.nsnaps - 1];
		if ((e = load_snapshot(w, snap, fn, arg, rec, err, errlen)) != BFT_OK)
			goto out;
		start = snap;
		/* Older snapshots, and segments before the newest one, are what a crash during
		 * the clean-up after a checkpoint left behind. */
		for (size_t i = 0; i + 1 < ds.nsnaps; i++) {
			snap_name(name, ds.snaps[i], false);
			if (unlinkat(w->dirfd, name, 0) == 0)
				rec->removed_files++;
		}
		while (first < ds.nsegs && ds.segs[first] < snap) {
			seg_name(name, ds.segs[first]);
			if (unlinkat(w->dirfd, name, 0) == 0)
				rec->removed_files++;
			first++;
		}
		if (first == ds.nsegs || ds.segs[first] != snap) {
			seg_name(name, snap);
			errf(err, errlen, "%s/%s: missing: the snapshot %s/snap-%016" PRIx64
			     ".snap is followed by no log segment", w->dir, name, w->dir, snap);
			e = BFT_EMALFORMED;
			goto out;
		}
	} else if (ds.nsegs > 0) {
		start = ds.segs[0];
	}
	for (size_t i = first; i < ds.nsegs; i++) {
		bool last = i + 1 == ds.nsegs;
		if (ds.segs[i] != start + (i - first)) {
			seg_name(name, start + (i - first));
			errf(err, errlen, "%s/%s: missing: the log skips from segment %" PRIu64
			     " to %" PRIu64, w->dir, name, ds.segs[i - 1], ds.segs[i]);
			e = BFT_EMALFORMED;
			goto out;
		}
		if ((e = replay_segment(w, ds.segs[i], last, fn, arg, rec, &sr, err, errlen)) !=
		    BFT_OK)
			goto out;
		rec->segments++;
	}
	w->first_seg = first < ds.nsegs ? ds.segs[first] : 1;
	w->snap_seg = snap;
	if (ds.nsegs == first) {
		/* A new log. */
		w->first_seg = 1;
		e = seg_create(w, 1, err, errlen);
	} else if (sr.header_torn) {
		uint64_t n = ds.segs[ds.nsegs - 1];
		seg_name(name, n);
		if (unlinkat(w->dirfd, name, 0) != 0) {
			errf(err, errlen, "%s/%s: unlink: %s", w->dir, name, strerror(errno));
			e = BFT_ESTATE;
			goto out;
		}
		e = seg_create(w, n, err, errlen);
	} else {
		e = seg_reopen(w, ds.segs[ds.nsegs - 1], &sr, err, errlen);
	}
	if (e == BFT_OK && rec->removed_files + rec->truncated_bytes > 0 && dir_sync(w) != 0) {
		errf(err, errlen, "%s: fsync: %s", w->dir, strerror(errno));
		e = BFT_ESTATE;
	}
out:
	free(ds.segs);
	free(ds.snaps);
	return e;
}

static enum bft_err open_dir_locked(struct wal *w, const char *dir, char *err, size_t errlen)
{
	if (strlen(dir) == 0 || strlen(dir) >= sizeof(w->dir)) {
		errf(err, errlen, "data directory path empty or too long");
		return BFT_EINVAL;
	}
	strcpy(w->dir, dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		errf(err, errlen, "%s: mkdir: %s", dir, strerror(errno));
		return BFT_ESTATE;
	}
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		errf(err, errlen, "%s: %s", dir, strerror(errno));
		return BFT_ESTATE;
	}
	w->lockfd = openat(w->dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (w->lockfd < 0) {
		errf(err, errlen, "%s/%s: %s", dir, LOCK_NAME, strerror(errno));
		return BFT_ESTATE;
	}
	if (flock(w->lockfd, LOCK_EX | LOCK_NB) != 0) {
		errf(err, errlen, "%s: %s (is another replica using this data directory?)", dir,
		     errno == EWOULDBLOCK ? "locked" : strerror(errno));
		return BFT_ESTATE;
	}
	return BFT_OK;
}

enum bft_err wal_open_config(struct wal **out, const struct wal_config *cfg, wal_record_fn fn,
			     void *arg, struct wal_recovery *rec, char *err, size_t errlen)
{
	struct wal_recovery r;
	struct wal *w;
	enum bft_err e;

	if (out == NULL || cfg == NULL || cfg->dir == NULL || cfg->fsync > WAL_FSYNC_NEVER ||
	    cfg->record_max > WAL_RECORD_MAX || cfg->snapshot_max > WAL_SNAPSHOT_MAX) {
		errf(err, errlen, "wal: invalid configuration");
		return BFT_EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		errf(err, errlen, "wal: out of memory");
		return BFT_ENOMEM;
	}
	w->dirfd = w->lockfd = w->fd = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		errf(err, errlen, "wal: eventfd: %s", strerror(errno));
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		free(w);
		return BFT_ESTATE;
	}
	w->policy = cfg->fsync;
	w->batch_ms = cfg->batch_ms != 0 ? cfg->batch_ms : DEF_BATCH_MS;
	w->batch_bytes = cfg->batch_bytes != 0 ? cfg->batch_bytes : DEF_BATCH_BYTES;
	w->record_max = cfg->record_max != 0 ? cfg->record_max : WAL_RECORD_MAX;
	w->snapshot_max = cfg->snapshot_max != 0 ? cfg->snapshot_max : WAL_SNAPSHOT_MAX;
	w->segment_max = cfg->segment_max != 0 ? cfg->segment_max : DEF_SEGMENT_MAX;
	memset(&r, 0, sizeof(r));
	e = open_dir_locked(w, cfg->dir, err, errlen);
	if (e == BFT_OK)
		e = recover(w, fn, arg, &r, err, errlen);
	if (e != BFT_OK) {
		w->failed = true; /* nothing to write back */
		wal_close(w);
		return e;
	}
	if (rec != NULL)
		*rec = r;
	*out = w;
	return BFT_OK;
}

enum bft_err wal_open(struct wal **out, const char *dir, wal_record_fn fn, void *arg,
		      struct wal_recovery *rec, char *err, size_t errlen)
{
	struct wal_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.dir = dir;
	cfg.fsync = WAL_FSYNC_ALWAYS;
	return wal_open_config(out, &cfg, fn, arg, rec, err, errlen);
}
