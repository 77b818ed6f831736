#include "node/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <isa-l/crc.h>

#define HDR_BYTES 24u
#define MAGIC 0x314c5742u /* "BWL1" little-endian */
#define BUF_FLUSH (1u << 20)
#define PATH_BYTES 4096

struct wal {
	char dir[PATH_BYTES];
	int dirfd;
	int fd;
	uint64_t segno;
	uint64_t size;    /* bytes written to the segment file */
	uint8_t *buf;     /* appended, not yet written */
	size_t len, cap;
	bool unsynced;    /* written (or buffered) but not fdatasynced */
};

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

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* CRC-32C over kind, seq, length (header bytes 4..20) and the payload. */
static uint32_t record_crc(const uint8_t *hdr, const uint8_t *bytes, size_t len)
{
	uint32_t c = crc32_iscsi((unsigned char *)(uintptr_t)(hdr + 4), 16, 0xffffffffu);
	if (len > 0)
		c = crc32_iscsi((unsigned char *)(uintptr_t)bytes, (int)len, c);
	return c;
}

static void make_header(uint8_t hdr[HDR_BYTES], uint32_t kind, uint64_t seq, const uint8_t *bytes,
			size_t len)
{
	put32(hdr, MAGIC);
	put32(hdr + 4, kind);
	put64(hdr + 8, seq);
	put32(hdr + 16, (uint32_t)len);
	put32(hdr + 20, record_crc(hdr, bytes, len));
}

static void seg_path(const struct wal *w, uint64_t segno, char *out, size_t len)
{
	snprintf(out, len, "%s/wal-%016" PRIx64 ".log", w->dir, segno);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* --------------------------------------------------------------------------------------------- */
/* Recovery */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The segment numbers present in the directory, sorted. */
static int list_segments(struct wal *w, uint64_t **out, size_t *n, char *err, size_t errlen)
{
	DIR *d = opendir(w->dir);
	struct dirent *de;
	uint64_t *v = NULL;
	size_t k = 0, cap = 0;

	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", w->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		unsigned long long segno;
		char tail[8];
		if (sscanf(de->d_name, "wal-%16llx.%7s", &segno, tail) != 2 || strcmp(tail, "log") != 0 ||
		    strlen(de->d_name) != 24)
			continue;
		if (k == cap) {
			cap = cap ? cap * 2 : 8;
			uint64_t *nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				free(v);
				closedir(d);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			v = nv;
		}
		v[k++] = segno;
	}
	closedir(d);
	qsort(v, k, sizeof(*v), cmp_u64);
	*out = v;
	*n = k;
	return 0;
}

/* Reads the whole file (segments are bounded by one snapshot plus what followed it). */
static int read_file(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *p;
	size_t off = 0;

	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	p = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (p == NULL) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory reading %lld bytes", path,
			 (long long)st.st_size);
		return -1;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, p + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: %s", path, n < 0 ? strerror(errno) : "short read");
			free(p);
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	*data = p;
	*len = off;
	return 0;
}

/* Parses the record at off: 1 valid (with *next), 0 invalid or incomplete. */
static int parse_record(const uint8_t *p, size_t len, size_t off, size_t *next)
{
	uint32_t rlen;

	if (len - off < HDR_BYTES || get32(p + off) != MAGIC)
		return 0;
	rlen = get32(p + off + 16);
	if (rlen > WAL_RECORD_MAX || len - off - HDR_BYTES < rlen)
		return 0;
	if (record_crc(p + off, p + off + HDR_BYTES, rlen) != get32(p + off + 20))
		return 0;
	*next = off + HDR_BYTES + rlen;
	return 1;
}

/* True when a valid record starts anywhere after off: then a bad record at off is damage in the
 * middle of the log, not a write cut short by a crash. */
static bool valid_after(const uint8_t *p, size_t len, size_t off)
{
	size_t next;

	for (size_t o = off + 1; o + HDR_BYTES <= len; o++)
		if (get32(p + o) == MAGIC && parse_record(p, len, o, &next))
			return true;
	return false;
}

static bool starts_with_checkpoint(const uint8_t *p, size_t len)
{
	size_t next;
	return parse_record(p, len, 0, &next) && get32(p + 4) == WAL_KIND_CHECKPOINT;
}

static int fsync_dir(struct wal *w, char *err, size_t errlen)
{
	if (fsync(w->dirfd) != 0) {
		snprintf(err, errlen, "%s: fsync: %s", w->dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int open_segment(struct wal *w, uint64_t segno, bool create, char *err, size_t errlen)
{
	char path[PATH_BYTES + 32];
	int fd;

	seg_path(w, segno, path, sizeof(path));
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->segno = segno;
	w->size = (uint64_t)lseek(fd, 0, SEEK_END);
	return 0;
}

int wal_open(struct wal **out, const char *dir, wal_record_fn fn, void *arg,
	     struct wal_recovery *rec, char *err, size_t errlen)
{
	struct wal *w = calloc(1, sizeof(*w));
	struct wal_recovery r = {0};
	uint64_t *segs = NULL;
	size_t nsegs = 0, first = 0;
	int rc = -1;

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->fd = -1;
	if (strlen(dir) >= sizeof(w->dir)) {
		snprintf(err, errlen, "data directory path too long");
		free(w);
		return -1;
	}
	strcpy(w->dir, dir);
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		free(w);
		return -1;
	}
	if (list_segments(w, &segs, &nsegs, err, errlen) != 0)
		goto out;

	/* Only the newest segment that starts with a checkpoint, and those after it, matter: a
	 * crash between writing a new checkpoint segment and deleting the old ones leaves both. */
	for (size_t i = nsegs; i-- > 0;) {
		char path[PATH_BYTES + 32];
		uint8_t *p;
		size_t len;
		seg_path(w, segs[i], path, sizeof(path));
		if (read_file(path, &p, &len, err, errlen) != 0)
			goto out;
		bool ck = starts_with_checkpoint(p, len);
		free(p);
		if (ck) {
			first = i;
			break;
		}
	}
	for (size_t i = first; i < nsegs; i++) {
		char path[PATH_BYTES + 32];
		uint8_t *p;
		size_t len, off = 0, next;

		seg_path(w, segs[i], path, sizeof(path));
		if (read_file(path, &p, &len, err, errlen) != 0)
			goto out;
		r.segments++;
		while (off < len) {
			if (!parse_record(p, len, off, &next)) {
				if (i + 1 < nsegs || valid_after(p, len, off)) {
					snprintf(err, errlen,
						 "%s: corrupt record at offset %zu (valid records follow "
						 "it, so this is not a torn write): the log cannot be "
						 "trusted; move %s away to rejoin empty and catch up from "
						 "peers",
						 path, off, dir);
					free(p);
					goto out;
				}
				/* A torn tail: the write a crash interrupted. Cut it off. */
				if (truncate(path, (off_t)off) != 0) {
					snprintf(err, errlen, "%s: truncate: %s", path, strerror(errno));
					free(p);
					goto out;
				}
				r.truncated_bytes += len - off;
				break;
			}
			if (fn != NULL &&
			    fn(arg, get32(p + off + 4), get64(p + off + 8), p + off + HDR_BYTES,
			       next - off - HDR_BYTES) != 0) {
				free(p);
				goto out;
			}
			r.records++;
			off = next;
		}
		free(p);
	}
	/* Delete segments older than the one recovery started from. */
	for (size_t i = 0; i < first; i++) {
		char path[PATH_BYTES + 32];
		seg_path(w, segs[i], path, sizeof(path));
		unlink(path);
	}
	if (nsegs == 0) {
		if (open_segment(w, 1, true, err, errlen) != 0 || fsync_dir(w, err, errlen) != 0)
			goto out;
	} else if (open_segment(w, segs[nsegs - 1], false, err, errlen) != 0) {
		goto out;
	}
	rc = 0;
out:
	free(segs);
	if (rc != 0) {
		wal_close(w);
		return -1;
	}
	if (rec != NULL)
		*rec = r;
	*out = w;
	return 0;
}

/* --------------------------------------------------------------------------------------------- */
/* Appending */

int wal_flush(struct wal *w, char *err, size_t errlen)
{
	if (w->len == 0)
		return 0;
	if (write_all(w->fd, w->buf, w->len) != 0) {
		snprintf(err, errlen, "%s: write: %s", w->dir, strerror(errno));
		return -1;
	}
	w->size += w->len;
	w->len = 0;
	return 0;
}

int wal_append(struct wal *w, uint32_t kind, uint64_t seq, const uint8_t *bytes, size_t len,
	       char *err, size_t errlen)
{
	uint8_t hdr[HDR_BYTES];

	if (len > WAL_RECORD_MAX) {
		snprintf(err, errlen, "record of %zu bytes is over the %u-byte limit", len,
			 WAL_RECORD_MAX);
		return -1;
	}
	if (w->cap - w->len < HDR_BYTES + len) {
		size_t ncap = w->cap ? w->cap : 65536;
		while (ncap - w->len < HDR_BYTES + len)
			ncap *= 2;
		uint8_t *nb = realloc(w->buf, ncap);
		if (nb == NULL) {
			snprintf(err, errlen, "out of memory buffering a log record");
			return -1;
		}
		w->buf = nb;
		w->cap = ncap;
	}
	make_header(hdr, kind, seq, bytes, len);
	memcpy(w->buf + w->len, hdr, HDR_BYTES);
	if (len > 0)
		memcpy(w->buf + w->len + HDR_BYTES, bytes, len);
	w->len += HDR_BYTES + len;
	w->unsynced = true;
	if (w->len >= BUF_FLUSH)
		return wal_flush(w, err, errlen);
	return 0;
}

bool wal_pending(const struct wal *w)
{
	return w->unsynced;
}

int wal_sync(struct wal *w, char *err, size_t errlen)
{
	if (wal_flush(w, err, errlen) != 0)
		return -1;
	if (!w->unsynced)
		return 0;
	if (fdatasync(w->fd) != 0) {
		snprintf(err, errlen, "%s: fdatasync: %s", w->dir, strerror(errno));
		return -1;
	}
	w->unsynced = false;
	return 0;
}

int wal_checkpoint(struct wal *w, uint64_t seq, const uint8_t *bytes, size_t len, char *err,
		   size_t errlen)
{
	char tmp[PATH_BYTES + 48], path[PATH_BYTES + 32];
	uint8_t hdr[HDR_BYTES];
	uint64_t old = w->segno, segno = w->segno + 1;
	int fd;

	if (len > WAL_RECORD_MAX) {
		snprintf(err, errlen, "snapshot of %zu bytes is over the %u-byte limit", len,
			 WAL_RECORD_MAX);
		return -1;
	}
	/* Write the new segment under a temporary name, sync it, then give it its name: a crash
	 * at any point leaves either the old log or the new one, both complete. */
	seg_path(w, segno, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	make_header(hdr, WAL_KIND_CHECKPOINT, seq, bytes, len);
	if (write_all(fd, hdr, HDR_BYTES) != 0 || write_all(fd, bytes, len) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (fsync_dir(w, err, errlen) != 0)
		return -1;
	/* The superseded records (buffered for the old segment) are dropped with it. */
	w->len = 0;
	w->unsynced = false;
	if (open_segment(w, segno, false, err, errlen) != 0)
		return -1;
	for (uint64_t s = old;; s--) {
		char op[PATH_BYTES + 32];
		seg_path(w, s, op, sizeof(op));
		if (unlink(op) != 0 || s == 0)
			break;
	}
	return fsync_dir(w, err, errlen);
}

uint64_t wal_segment_bytes(const struct wal *w)
{
	return w->size + w->len;
}

void wal_close(struct wal *w)
{
	char err[256];

	if (w == NULL)
		return;
	if (w->fd >= 0) {
		(void)wal_flush(w, err, sizeof(err));
		close(w->fd);
	}
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->buf);
	free(w);
}
