/*
 * nlog: the node's log lines. One line per event:
 *     2026-11-28T13:14:00.123Z INFO  r2 v3 s1042 view change started: request timer expired
 * level, replica id, view (or epoch) and sequence number first, so `grep` and `awk` work on it.
 * Lines about Byzantine input go through a rate limiter keyed by (reason, sender), so a flood of
 * junk cannot flood the log: the first few are printed, then one summary per second.
 */
#ifndef NODE_NLOG_H
#define NODE_NLOG_H

#include <stdint.h>

enum nlog_level { NLOG_DEBUG = 0, NLOG_INFO, NLOG_WARN, NLOG_ERROR };

/** Sets where lines go (stderr by default), the minimum level and the context fields. */
void nlog_init(enum nlog_level min, int32_t replica);
/** Parses "debug" | "info" | "warn" | "error"; -1 if unknown. */
int nlog_level_parse(const char *s);
/** Updates the view/epoch and sequence number shown on every line. */
void nlog_context(uint64_t view, uint64_t seq);

void nlog(enum nlog_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Logs at WARN, at most `burst` lines per (key, sender) and second; suppressed lines are
 *  counted and reported in the next line that gets through. now_ms from the node's clock. */
void nlog_limited(uint64_t now_ms, uint32_t key, uint64_t sender, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
