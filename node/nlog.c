#include "node/nlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum nlog_level min_level = NLOG_INFO;
static int32_t self_id = -1;
static uint64_t cur_view, cur_seq;

static const char *const names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void nlog_init(enum nlog_level min, int32_t replica)
{
	min_level = min;
	self_id = replica;
}

int nlog_level_parse(const char *s)
{
	static const char *const lower[] = {"debug", "info", "warn", "error"};

	for (int i = 0; i < 4; i++)
		if (strcmp(s, lower[i]) == 0)
			return i;
	return -1;
}

void nlog_context(uint64_t view, uint64_t seq)
{
	cur_view = view;
	cur_seq = seq;
}

static void vline(enum nlog_level level, const char *suffix, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vline(enum nlog_level level, const char *suffix, const char *fmt, va_list ap)
{
	struct timeval tv;
	struct tm tm;
	char ts[32];
	char msg[1024];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf per line: stdio locks the stream, so lines from two threads never mix. */
	fprintf(stderr, "%s.%03ldZ %s r%d v%llu s%llu %s%s\n", ts, (long)(tv.tv_usec / 1000),
		names[level], (int)self_id, (unsigned long long)cur_view,
		(unsigned long long)cur_seq, msg, suffix);
}

void nlog(enum nlog_level level, const char *fmt, ...)
{
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vline(level, "", fmt, ap);
	va_end(ap);
}

/* A small table of limiter buckets, hashed by (key, sender); collisions share a bucket, which only
 * makes limiting stricter. */
#define LIMIT_BUCKETS 256
#define LIMIT_BURST 5

struct bucket {
	uint64_t second;
	uint32_t printed;
	uint64_t suppressed;
};
static struct bucket buckets[LIMIT_BUCKETS];

void nlog_limited(uint64_t now_ms, uint32_t key, uint64_t sender, const char *fmt, ...)
{
	struct bucket *b = &buckets[(key * 31u + sender * 7u) % LIMIT_BUCKETS];
	uint64_t sec = now_ms / 1000;
	char suffix[64] = "";
	va_list ap;

	if (NLOG_WARN < min_level)
		return;
	if (b->second != sec) {
		b->second = sec;
		b->printed = 0;
	}
	if (b->printed >= LIMIT_BURST) {
		b->suppressed++;
		return;
	}
	b->printed++;
	if (b->suppressed > 0) {
		snprintf(suffix, sizeof(suffix), " (%llu similar lines suppressed)",
			 (unsigned long long)b->suppressed);
		b->suppressed = 0;
	}
	va_start(ap, fmt);
	vline(NLOG_WARN, suffix, fmt, ap);
	va_end(ap);
}
