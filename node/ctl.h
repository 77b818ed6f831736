/*
 * ctl: a client session with a cluster, for bftctl, its workload and benchmark commands, and the
 * integration tests. It wraps the pure client core (bft/client.h: signing, f+1 / 2f+1 reply
 * checks, retransmission) with the transport (net/net.h) and a clock, and offers both a
 * blocking call and an asynchronous submit/poll pair for pipelined load.
 */
#ifndef NODE_CTL_H
#define NODE_CTL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bft/client.h"
#include "node/config.h"

struct ctl;

struct ctl_opts {
	const char *config_path;
	bft_client_id client_id;
	const char *key_file;        /* NULL: the [client N] key_file of the config */
	uint32_t outstanding_max;    /* requests in flight (1 for plain calls) */
	uint32_t retransmit_ms;      /* first retransmission timeout (0: 500) */
	/* Added for the benchmark's no-consensus baseline (bftnode --solo): 1 talks to replica 0
	 * alone as a cluster of n = 1, f = 0 (one signed reply suffices). 0: every replica of
	 * the config, the normal case. Other values are refused. */
	uint32_t replicas;
	/* MAC-authenticated session (docs/PERFORMANCE.md): after connecting, send every replica a
	 * signed SESSION with a fresh key sealed to it; requests then carry MACs and replies may
	 * be MAC'd. Refused when the cluster says client_sessions = false or replicas is 1. */
	bool mac;
	/* Without mac, a client still opens a session when the cluster allows them and this is
	 * not the baseline, for its replies only (bft/client.h session_replies_only): requests
	 * stay signed and every replica checks the signature, replies come MAC'd instead of
	 * signed (PBFT TOCS §3.3), which spares each replica a signature and the client a
	 * verification per reply. no_session turns that off: every reply signed. */
	bool no_session;
};

/** Opens a session: loads the config and the client key, connects to every replica. */
int ctl_open(struct ctl **out, const struct ctl_opts *opts, char *err, size_t errlen);
/** Writes what the connections can take without blocking, closes them and frees c. */
void ctl_close(struct ctl *c);
const struct node_config *ctl_config(const struct ctl *c);
/** The client id this session acts as: the listed one, or the one an open cluster assigned
 *  when the key was registered (bft/log.h "Open clients"). */
bft_client_id ctl_client_id(const struct ctl *c);

/** Milliseconds of a monotonic clock (the one ctl uses). */
uint64_t ctl_now_ms(void);
/** Wall-clock microseconds: what request ids and session numbers start from, so that they grow
 *  across runs of one client key. */
uint64_t ctl_wall_us(void);

/**
 * One request, waited for: up to timeout_ms. On success (0) *result is a malloc'd copy of the
 * result the cluster vouched for (f+1 matching replies, 2f+1 for read-only) and *latency_ms
 * is set. -1 with errno-style reason in err on timeout ("timeout") or failure.
 */
int ctl_call(struct ctl *c, const uint8_t *op, size_t len, uint32_t flags, uint32_t timeout_ms,
	     uint8_t **result, size_t *result_len, double *latency_ms, char *err, size_t errlen);

/** Asynchronous: submits a request (BFT_EFULL when outstanding_max are in flight). */
enum bft_err ctl_submit(struct ctl *c, const uint8_t *op, size_t len, uint32_t flags,
			uint64_t *reqid);
/** Waits up to wait_ms for network input and timers, then returns one completed request if
 *  any (true). */
bool ctl_poll(struct ctl *c, int wait_ms, struct bft_client_result *res);
uint32_t ctl_outstanding(const struct ctl *c);

/** pollfd entries (POLLIN, one per replica connection) for a caller that multiplexes many
 *  sessions in one poll(); returns how many were written. After poll(), ctl_poll(c, 0, ...)
 *  drains what arrived and runs the retransmission timers. */
size_t ctl_poll_fds(struct ctl *c, struct pollfd *fds, size_t max);
void ctl_stats(const struct ctl *c, struct bft_client_stats *st);

/** Sends raw bytes to replica r's client endpoint, bypassing the client core (for tests that
 *  feed replicas malformed or forged frames). */
enum bft_err ctl_send_raw(struct ctl *c, uint32_t r, const uint8_t *bytes, size_t len);

/** The client's signing identity (tests forge frames with it). */
const struct cr_identity *ctl_identity(const struct ctl *c);

#endif
