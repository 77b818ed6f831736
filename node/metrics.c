#include "node/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bounds[HIST_BUCKETS] = {0.1, 0.25, 0.5, 1,   2.5,  5,    10,   25,
					    50,  100,  250, 500, 1000, 2500, 5000, 10000};

void node_metrics_init(struct node_metrics *m, uint32_t n)
{
	memset(m, 0, sizeof(*m));
	m->n = n;
}

void node_hist_add(struct node_hist *h, double v)
{
	h->count++;
	h->sum += v;
	for (int i = 0; i < HIST_BUCKETS; i++)
		if (v <= bounds[i]) {
			h->le[i]++;
			return;
		}
}

void node_metrics_reject(struct node_metrics *m, enum bft_err why, uint64_t sender, int is_client)
{
	size_t col;

	if ((unsigned)why >= BFT_ERR_COUNT)
		return;
	if (is_client)
		col = METRICS_SENDERS_MAX;
	else if (sender < m->n && sender < METRICS_SENDERS_MAX)
		col = (size_t)sender;
	else
		col = METRICS_SENDERS_MAX + 1;
	m->rejected[why][col]++;
}

const char *node_msg_type_name(uint32_t type, char buf[16])
{
	static const char *const names[] = {
		[BFT_MSG_REQUEST] = "request",       [BFT_MSG_REPLY] = "reply",
		[BFT_MSG_CHECKPOINT] = "checkpoint", [BFT_MSG_PREPREPARE] = "preprepare",
		[BFT_MSG_PREPARE] = "prepare",       [BFT_MSG_COMMIT] = "commit",
		[BFT_MSG_VIEWCHANGE] = "viewchange", [BFT_MSG_NEWVIEW] = "newview",
		[BFT_MSG_FETCH] = "fetch",           [BFT_MSG_STATE] = "state",
		[BFT_MSG_SESSION] = "session",
	};
	if (type < sizeof(names) / sizeof(names[0]) && names[type] != NULL)
		return names[type];
	snprintf(buf, 16, "type_%u", type);
	return buf;
}

struct sb {
	char *p;
	size_t len, cap;
	int bad;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->bad)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->bad = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap ? b->cap * 2 : 4096;
		while (ncap - b->len <= (size_t)n)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (np == NULL) {
			b->bad = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static void hist(struct sb *b, const char *name, const char *help, const struct node_hist *h)
{
	uint64_t cum = 0;

	sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < HIST_BUCKETS; i++) {
		cum += h->le[i];
		sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
	}
	sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %g\n%s_count %llu\n", name,
		  (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
}

int node_metrics_render(const struct node_metrics *m, const struct node_gauges *g, char **out,
			size_t *len)
{
	struct sb b = {0};
	char tb[16];

	sb_printf(&b, "# HELP bft_messages_in_total Messages received, by type.\n"
		      "# TYPE bft_messages_in_total counter\n");
	for (uint32_t t = 0; t < METRICS_TYPES; t++)
		if (m->msgs_in[t])
			sb_printf(&b, "bft_messages_in_total{type=\"%s\"} %llu\n",
				  node_msg_type_name(t, tb), (unsigned long long)m->msgs_in[t]);
	sb_printf(&b, "# HELP bft_messages_out_total Messages sent, by type.\n"
		      "# TYPE bft_messages_out_total counter\n");
	for (uint32_t t = 0; t < METRICS_TYPES; t++)
		if (m->msgs_out[t])
			sb_printf(&b, "bft_messages_out_total{type=\"%s\"} %llu\n",
				  node_msg_type_name(t, tb), (unsigned long long)m->msgs_out[t]);
	sb_printf(&b, "# HELP bft_rejected_total Inputs rejected, by reason and sender.\n"
		      "# TYPE bft_rejected_total counter\n");
	for (int r = 0; r < BFT_ERR_COUNT; r++)
		for (size_t s = 0; s < METRICS_SENDERS_MAX + 2; s++) {
			char who[24];
			if (m->rejected[r][s] == 0)
				continue;
			if (s == METRICS_SENDERS_MAX)
				snprintf(who, sizeof(who), "client");
			else if (s == METRICS_SENDERS_MAX + 1)
				snprintf(who, sizeof(who), "unknown");
			else
				snprintf(who, sizeof(who), "%zu", s);
			sb_printf(&b, "bft_rejected_total{reason=\"%s\",sender=\"%s\"} %llu\n",
				  bft_err_name((enum bft_err)r), who,
				  (unsigned long long)m->rejected[r][s]);
		}
	sb_printf(&b,
		  "# TYPE bft_unknown_client_requests_total counter\n"
		  "bft_unknown_client_requests_total %llu\n"
		  "# TYPE bft_bytes_in_total counter\nbft_bytes_in_total %llu\n"
		  "# TYPE bft_bytes_out_total counter\nbft_bytes_out_total %llu\n"
		  "# TYPE bft_send_dropped_total counter\nbft_send_dropped_total %llu\n"
		  "# HELP bft_link_authenticated_total Honey Badger messages and PBFT COMMITs accepted on "
		  "their sender's authenticated mesh link, without an envelope signature check.\n"
		  "# TYPE bft_link_authenticated_total counter\nbft_link_authenticated_total %llu\n"
		  "# HELP bft_commits_total Log positions committed and executed.\n"
		  "# TYPE bft_commits_total counter\nbft_commits_total %llu\n"
		  "# TYPE bft_requests_committed_total counter\nbft_requests_committed_total %llu\n",
		  (unsigned long long)m->unknown_clients, (unsigned long long)m->bytes_in,
		  (unsigned long long)m->bytes_out, (unsigned long long)m->send_dropped,
		  (unsigned long long)m->link_authenticated, (unsigned long long)m->commits, (unsigned long long)m->requests_committed);
	sb_printf(&b,
		  "# HELP bft_sessions_installed_total MAC session keys installed for clients.\n"
		  "# TYPE bft_sessions_installed_total counter\nbft_sessions_installed_total %llu\n"
		  "# HELP bft_session_bad_box_total SESSION messages whose box for us did not open.\n"
		  "# TYPE bft_session_bad_box_total counter\nbft_session_bad_box_total %llu\n"
		  "# HELP bft_request_mac_total Batch requests authenticated by MAC, by outcome: ok "
		  "(no signature checked), fallback (no key for that session: signature checked), "
		  "bad (our MAC entry was wrong: signature checked).\n"
		  "# TYPE bft_request_mac_total counter\n"
		  "bft_request_mac_total{outcome=\"ok\"} %llu\n"
		  "bft_request_mac_total{outcome=\"fallback\"} %llu\n"
		  "bft_request_mac_total{outcome=\"bad\"} %llu\n"
		  "# HELP bft_replies_mac_total Replies authenticated by MAC instead of a signature.\n"
		  "# TYPE bft_replies_mac_total counter\nbft_replies_mac_total %llu\n",
		  (unsigned long long)m->sessions_installed, (unsigned long long)m->session_bad_box,
		  (unsigned long long)m->mac_ok, (unsigned long long)m->mac_fallback,
		  (unsigned long long)m->mac_bad, (unsigned long long)m->replies_mac);
	sb_printf(&b,
		  "# HELP bft_batch_checks_total PBFT backups' new batches by how they were accepted: "
		  "checked (requests authenticated here), vouched (f matching PREPAREs and the "
		  "PRE-PREPARE vouched, no check here); wait_expired counts waits for vouchers that "
		  "ran out (the batch was then checked).\n"
		  "# TYPE bft_batch_checks_total counter\n"
		  "bft_batch_checks_total{outcome=\"checked\"} %llu\n"
		  "bft_batch_checks_total{outcome=\"vouched\"} %llu\n"
		  "bft_batch_checks_total{outcome=\"wait_expired\"} %llu\n",
		  (unsigned long long)m->batches_checked, (unsigned long long)m->batches_vouched,
		  (unsigned long long)m->check_waits_expired);
	hist(&b, "bft_batch_size", "Requests per committed log position.", &m->batch_size);
	hist(&b, "bft_request_latency_ms", "From a request's arrival to its reply, milliseconds.",
	     &m->request_ms);
	hist(&b, "bft_wal_fsync_ms", "Write-ahead log sync latency, milliseconds.", &m->fsync_ms);
	sb_printf(&b,
		  "# TYPE bft_info gauge\nbft_info{protocol=\"%s\",replica=\"%u\"} 1\n"
		  "# HELP bft_view Current view (PBFT) or epoch (Honey Badger).\n"
		  "# TYPE bft_view gauge\nbft_view %llu\n"
		  "# TYPE bft_last_executed gauge\nbft_last_executed %llu\n"
		  "# TYPE bft_stable_checkpoint gauge\nbft_stable_checkpoint %llu\n"
		  "# TYPE bft_view_changes_total counter\nbft_view_changes_total %llu\n"
		  "# TYPE bft_state_transfers_total counter\nbft_state_transfers_total %llu\n"
		  "# TYPE bft_pending_requests gauge\nbft_pending_requests %llu\n",
		  g->protocol, g->replica, (unsigned long long)g->view,
		  (unsigned long long)g->last_executed, (unsigned long long)g->stable,
		  (unsigned long long)g->view_changes, (unsigned long long)g->state_transfers,
		  (unsigned long long)g->pending);
	if (b.bad) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
