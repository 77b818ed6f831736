/*
 * bench.c: the load generator (bench.h describes the two loops and what is measured).
 */
#include "node/bench.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bft/wire.h"
#include "node/ctl.h"
#include "node/kv_op.h"

#define PROGRESS_US 1000000u
#define TIMER_SCAN_US 20000u  /* how often every session's retransmission timer is run */

/* One request in flight: what it is and when it was due (open loop) or sent (closed loop). */
struct slot {
	bool used;
	bool abandoned;           /* timed out: its late answer is ignored */
	uint8_t op;
	uint32_t key;
	uint64_t reqid;
	uint64_t start_us;
};

struct session {
	struct ctl *c;
	uint32_t inflight;        /* slots used (abandoned ones included) */
	struct slot slots[BENCH_DEPTH_MAX];
};

struct bench {
	const struct bench_opts *o;
	struct bench_report *rep;
	struct session *s;
	uint32_t nfd_per;         /* poll entries per session (n replicas, or 1) */
	struct pollfd *fds;
	uint64_t *version;        /* per key: the last version seen, for CAS */
	uint8_t *value;           /* value_size bytes, the first 16 rewritten per request */
	uint64_t rng;
	uint32_t mix_total;
	uint64_t t_meas_us, t_end_us;
	struct lat_hist *interval;
	uint64_t interval_done, interval_err, sent;
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: plenty for picking keys and ops. */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

const char *bench_err_name(enum bench_err_kind k)
{
	static const char *const names[BENCH_ERR_KINDS] = {"timeout", "submit", "refused",
							    "malformed"};
	return (unsigned)k < BENCH_ERR_KINDS ? names[k] : "?";
}

static const char *const op_names[BENCH_OPS] = {"put", "get", "cas"};

void bench_opts_default(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->clients = 1;
	o->depth = 1;
	o->mix[BENCH_PUT] = 1;
	o->value_size = 64;
	o->keys = 10000;
	o->duration_s = 10;
	o->warmup_s = 2;
	o->timeout_ms = 10000;
	o->seed = 1;
	o->progress = true;
}

int bench_parse_op(struct bench_opts *o, const char *spec, char *err, size_t errlen)
{
	uint32_t mix[BENCH_OPS] = {0};
	char buf[128], *save = NULL;

	for (int k = 0; k < BENCH_OPS; k++)
		if (strcmp(spec, op_names[k]) == 0) {
			memset(o->mix, 0, sizeof(o->mix));
			o->mix[k] = 1;
			return 0;
		}
	if (strncmp(spec, "mix:", 4) != 0 || strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "--op is put, get, cas or mix:put=W,get=W,cas=W, not '%s'", spec);
		return -1;
	}
	strcpy(buf, spec + 4);
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '='), *end;
		int k;
		unsigned long w;

		if (eq == NULL)
			goto bad;
		*eq = '\0';
		for (k = 0; k < BENCH_OPS && strcmp(t, op_names[k]) != 0; k++)
			;
		errno = 0;
		w = strtoul(eq + 1, &end, 10);
		if (k == BENCH_OPS || *end != '\0' || eq[1] == '\0' || errno != 0 || w > 1000000)
			goto bad;
		mix[k] = (uint32_t)w;
	}
	if (mix[BENCH_PUT] + mix[BENCH_GET] + mix[BENCH_CAS] == 0)
		goto bad;
	memcpy(o->mix, mix, sizeof(mix));
	return 0;
bad:
	snprintf(err, errlen, "--op %s: expected mix:put=W,get=W,cas=W with weights 0..1000000, "
		 "not all 0", spec);
	return -1;
}

static int pick_op(struct bench *b)
{
	uint32_t r = (uint32_t)(rnd(&b->rng) % b->mix_total);

	for (int k = 0; k < BENCH_OPS; k++) {
		if (r < b->o->mix[k])
			return k;
		r -= b->o->mix[k];
	}
	return BENCH_PUT;
}

/* Sends one request from session s, due at start_us. false when the client core refused. */
static bool send_one(struct bench *b, struct session *s, uint64_t start_us)
{
	const struct bench_opts *o = b->o;
	int op = pick_op(b);
	uint32_t key = (uint32_t)(rnd(&b->rng) % o->keys);
	char kbuf[160];
	int klen = snprintf(kbuf, sizeof(kbuf), "%s%u", o->key_prefix ? o->key_prefix : "bench/",
			    key);
	struct wire_buf w = {0};
	enum bft_err e;
	struct slot *sl = NULL;
	uint64_t reqid;

	for (uint32_t i = 0; i < o->depth; i++)
		if (!s->slots[i].used) {
			sl = &s->slots[i];
			break;
		}
	if (sl == NULL || klen < 0 || (size_t)klen >= sizeof(kbuf))
		return false;
	/* Values differ per request (a counter in front), so no layer can take a shortcut. */
	if (o->value_size > 0) {
		char tag[24];
		int tl = snprintf(tag, sizeof(tag), "%016llx", (unsigned long long)b->sent);
		memcpy(b->value, tag, (size_t)tl < o->value_size ? (size_t)tl : o->value_size);
	}
	switch (op) {
	case BENCH_GET:
		e = kv_op_encode_get(&w, (const uint8_t *)kbuf, (size_t)klen);
		break;
	case BENCH_CAS:
		e = kv_op_encode_cas(&w, (const uint8_t *)kbuf, (size_t)klen, b->version[key],
				     b->value, o->value_size);
		break;
	default:
		e = kv_op_encode_put(&w, (const uint8_t *)kbuf, (size_t)klen, b->value,
				     o->value_size);
		break;
	}
	if (e == BFT_OK)
		e = ctl_submit(s->c, w.p, w.len, op == BENCH_GET ? BFT_REQ_READONLY : 0, &reqid);
	wire_buf_free(&w);
	if (e != BFT_OK) {
		if (e != BFT_EFULL && start_us >= b->t_meas_us)
			b->rep->errors[BENCH_ERR_SUBMIT]++;
		return false;
	}
	*sl = (struct slot){.used = true, .op = (uint8_t)op, .key = key, .reqid = reqid,
			    .start_us = start_us};
	s->inflight++;
	b->sent++;
	return true;
}

/* A result the cluster vouched for arrived. */
static void complete(struct bench *b, struct session *s, const struct bft_client_result *res,
		     uint64_t now)
{
	struct slot *sl = NULL;
	struct kv_result r;
	bool counted = now >= b->t_meas_us && now < b->t_end_us;
	int kind = -1;

	for (uint32_t i = 0; i < b->o->depth; i++)
		if (s->slots[i].used && s->slots[i].reqid == res->reqid) {
			sl = &s->slots[i];
			break;
		}
	if (sl == NULL)
		return;
	sl->used = false;
	s->inflight--;
	if (sl->abandoned)
		return;
	if (kv_result_decode(res->result.p, res->result.len, &r) != BFT_OK) {
		kind = BENCH_ERR_MALFORMED;
	} else {
		if (r.status == KV_OK && (sl->op == BENCH_PUT || sl->op == BENCH_CAS))
			b->version[sl->key] = r.version;
		else if (r.status == KV_COMPARE_FAILED)
			b->version[sl->key] = r.version;
		if (r.status == KV_NOT_FOUND && sl->op == BENCH_GET) {
			if (counted)
				b->rep->not_found++;
		} else if (r.status == KV_COMPARE_FAILED && sl->op == BENCH_CAS) {
			if (counted)
				b->rep->cas_failed++;
		} else if (r.status != KV_OK) {
			kind = BENCH_ERR_REFUSED;
		}
		kv_result_free(&r);
	}
	if (!counted)
		return;
	if (kind >= 0) {
		b->rep->errors[kind]++;
		b->interval_err++;
		return;
	}
	b->rep->completed++;
	b->rep->by_op[sl->op]++;
	lat_hist_record(b->rep->lat, now - sl->start_us);
	lat_hist_record(b->interval, now - sl->start_us);
	b->interval_done++;
}

/* Requests past their timeout become errors; their slots stay taken until the client core lets
 * go of them (it keeps retransmitting), so a dead cluster shows as a falling send rate. */
static void expire(struct bench *b, uint64_t now)
{
	uint64_t to = (uint64_t)b->o->timeout_ms * 1000u;

	for (uint32_t c = 0; c < b->o->clients; c++)
		for (uint32_t i = 0; i < b->o->depth; i++) {
			struct slot *sl = &b->s[c].slots[i];
			if (!sl->used || sl->abandoned || now - sl->start_us < to)
				continue;
			sl->abandoned = true;
			if (now >= b->t_meas_us && now < b->t_end_us) {
				b->rep->errors[BENCH_ERR_TIMEOUT]++;
				b->interval_err++;
			}
		}
}

static void drain(struct bench *b, struct session *s)
{
	struct bft_client_result res;

	while (ctl_poll(s->c, 0, &res))
		complete(b, s, &res, mono_us());
}

static void progress_line(struct bench *b, uint64_t now, uint64_t t0, uint64_t backlog)
{
	uint64_t inflight = 0;

	for (uint32_t c = 0; c < b->o->clients; c++)
		inflight += b->s[c].inflight;
	fprintf(stderr,
		"[%5.1fs] %-7s %8llu ops/s  p50 %7.2f ms  p99 %7.2f ms  max %8.2f ms  in flight %5llu"
		"  backlog %llu  errors %llu\n",
		(double)(now - t0) / 1e6, now < b->t_meas_us ? "warmup" : "measure",
		(unsigned long long)b->interval_done, lat_hist_value_at(b->interval, 50) / 1000.0,
		lat_hist_value_at(b->interval, 99) / 1000.0,
		(double)b->interval->max / 1000.0, (unsigned long long)inflight,
		(unsigned long long)backlog,
		(unsigned long long)b->interval_err);
	lat_hist_init(b->interval);
	b->interval_done = 0;
	b->interval_err = 0;
}

static int bench_open(struct bench *b, char *err, size_t errlen)
{
	const struct bench_opts *o = b->o;

	b->s = calloc(o->clients, sizeof(*b->s));
	b->version = calloc(o->keys, sizeof(*b->version));
	b->value = malloc(o->value_size ? o->value_size : 1);
	b->interval = malloc(sizeof(*b->interval));
	b->rep->lat = malloc(sizeof(*b->rep->lat));
	if (b->s == NULL || b->version == NULL || b->value == NULL || b->interval == NULL ||
	    b->rep->lat == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memset(b->value, 'v', o->value_size);
	lat_hist_init(b->interval);
	lat_hist_init(b->rep->lat);
	for (uint32_t i = 0; i < o->clients; i++) {
		struct ctl_opts co = {.config_path = o->config,
				      .client_id = o->first_client + i,
				      .outstanding_max = o->depth,
				      .retransmit_ms = o->retransmit_ms ? o->retransmit_ms : 1000,
				      .replicas = o->replicas,
				      .mac = o->mac, .no_session = o->no_session};
		if (ctl_open(&b->s[i].c, &co, err, errlen) != 0)
			return -1;
	}
	{
		const struct node_config *cfg = ctl_config(b->s[0].c);
		b->rep->n = o->replicas == 1 ? 1 : cfg->n;
		b->rep->f = o->replicas == 1 ? 0 : cfg->f;
		snprintf(b->rep->protocol, sizeof(b->rep->protocol), "%s",
			 o->replicas == 1 ? "none" : node_protocol_name(cfg->protocol));
	}
	b->nfd_per = 1; /* each client's transport is one epoll descriptor (net.h) */
	b->fds = calloc((size_t)o->clients * b->nfd_per, sizeof(*b->fds));
	if (b->fds == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < o->clients; i++)
		if (ctl_poll_fds(b->s[i].c, &b->fds[i * b->nfd_per], b->nfd_per) != b->nfd_per) {
			snprintf(err, errlen, "cannot get the poll descriptors of client %u", i);
			return -1;
		}
	return 0;
}

static void bench_close(struct bench *b)
{
	if (b->s != NULL) {
		for (uint32_t i = 0; i < b->o->clients; i++) {
			struct bft_client_stats st;
			if (b->s[i].c == NULL)
				continue;
			ctl_stats(b->s[i].c, &st);
			b->rep->retransmissions += st.retransmissions;
			b->rep->readonly_fallbacks += st.readonly_fallbacks;
			b->rep->bad_replies += st.bad_signature + st.bad_sender + st.malformed;
			b->rep->mismatched_replies += st.mismatched;
			ctl_close(b->s[i].c);
		}
	}
	free(b->s);
	free(b->fds);
	free(b->version);
	free(b->value);
	free(b->interval);
}

static int prime(struct bench *b, char *err, size_t errlen)
{
	const struct bench_opts *o = b->o;
	struct wire_buf w = {0};
	uint64_t until = mono_us() + 10000000u, reqid;
	uint32_t left = 0;
	bool *waiting = calloc(o->clients, sizeof(*waiting));

	if (waiting == NULL || kv_op_encode_get(&w, (const uint8_t *)"bench-prime", 11) != BFT_OK) {
		free(waiting);
		wire_buf_free(&w);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < o->clients; i++)
		if (ctl_submit(b->s[i].c, w.p, w.len, BFT_REQ_READONLY, &reqid) == BFT_OK) {
			waiting[i] = true;
			left++;
		}
	wire_buf_free(&w);
	while (left > 0 && mono_us() < until) {
		(void)poll(b->fds, (nfds_t)o->clients * b->nfd_per, 10);
		for (uint32_t i = 0; i < o->clients; i++) {
			struct bft_client_result res;
			while (waiting[i] && ctl_poll(b->s[i].c, 0, &res)) {
				waiting[i] = false;
				left--;
			}
		}
	}
	free(waiting);
	if (left > 0) {
		snprintf(err, errlen, "%u of %u clients got no answer within 10 s: is the cluster up?",
			 left, o->clients);
		return -1;
	}
	return 0;
}

int bench_run(const struct bench_opts *o, struct bench_report *rep, char *err, size_t errlen)
{
	struct bench b = {.o = o, .rep = rep, .rng = o->seed ? o->seed : 1};
	uint64_t t0, next_progress, next_timers, next_due_k = 0, backlog = 0;
	double cpu0 = 0;
	uint32_t rr = 0;
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	if (o->config == NULL || o->clients == 0 || o->clients > BENCH_CLIENTS_MAX ||
	    o->depth == 0 || o->depth > BENCH_DEPTH_MAX || o->keys == 0 || o->duration_s <= 0 ||
	    o->warmup_s < 0 || o->rate < 0 || o->timeout_ms == 0 || o->replicas > 1) {
		snprintf(err, errlen, "bad benchmark options (clients 1..%u, depth 1..%u, keys >= 1, "
			 "duration > 0)", BENCH_CLIENTS_MAX, BENCH_DEPTH_MAX);
		return -1;
	}
	b.mix_total = o->mix[0] + o->mix[1] + o->mix[2];
	if (b.mix_total == 0) {
		snprintf(err, errlen, "no operations to run (--op)");
		return -1;
	}
	if (bench_open(&b, err, errlen) != 0)
		goto out;
	/* Every session's first request is answered before the clock starts, so connecting (and
	 * a MAC session's handshake) is not measured as the latency of the first requests. */
	if (prime(&b, err, errlen) != 0)
		goto out;
	t0 = mono_us();
	b.t_meas_us = t0 + (uint64_t)(o->warmup_s * 1e6);
	b.t_end_us = b.t_meas_us + (uint64_t)(o->duration_s * 1e6);
	next_progress = t0 + PROGRESS_US;
	next_timers = t0 + TIMER_SCAN_US;
	bool measuring = false;
	for (;;) {
		uint64_t now = mono_us();
		int wait_ms;
		bool windows_full = false; /* a due request waits for a free slot, not for time */

		if (!measuring && now >= b.t_meas_us) {
			measuring = true;
			cpu0 = cpu_s();
		}
		if (now >= b.t_end_us)
			break;
		/* Offer load. */
		if (o->rate > 0) {
			/* Every request due by now, each to the next client with a free slot. */
			for (;;) {
				uint64_t due = t0 + (uint64_t)((double)next_due_k * 1e6 / o->rate);
				uint32_t tried = 0;
				if (due > now)
					break;
				while (tried < o->clients && b.s[rr].inflight >= o->depth) {
					rr = (rr + 1) % o->clients;
					tried++;
				}
				if (tried == o->clients) {
					/* Every window is full: the request waits (backlog) until a
					 * reply frees a slot, so only replies should wake us. */
					windows_full = true;
					break;
				}
				if (!send_one(&b, &b.s[rr], due))
					break;
				rr = (rr + 1) % o->clients;
				next_due_k++;
			}
			backlog = 0;
			{
				uint64_t due_k = (uint64_t)((double)(now - t0) * o->rate / 1e6) + 1;
				backlog = due_k > next_due_k ? due_k - next_due_k : 0;
			}
		} else {
			for (uint32_t i = 0; i < o->clients; i++)
				while (b.s[i].inflight < o->depth && send_one(&b, &b.s[i], now))
					;
		}
		/* Wait for replies, a due request, a progress line or the timers. */
		{
			uint64_t wake = next_progress < next_timers ? next_progress : next_timers;
			if (o->rate > 0 && !windows_full) {
				uint64_t due = t0 + (uint64_t)((double)next_due_k * 1e6 / o->rate);
				if (due < wake)
					wake = due;
			}
			if (b.t_end_us < wake)
				wake = b.t_end_us;
			now = mono_us();
			wait_ms = wake <= now ? 0 : (int)((wake - now + 999) / 1000);
		}
		if (poll(b.fds, (nfds_t)o->clients * b.nfd_per, wait_ms) < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			goto out;
		}
		for (uint32_t i = 0; i < o->clients; i++) {
			bool ready = false;
			for (uint32_t k = 0; k < b.nfd_per; k++)
				ready = ready || (b.fds[i * b.nfd_per + k].revents & POLLIN) != 0;
			if (ready)
				drain(&b, &b.s[i]);
		}
		now = mono_us();
		if (now >= next_timers) {
			/* Retransmissions are driven by ctl_poll's timer check. */
			for (uint32_t i = 0; i < o->clients; i++)
				drain(&b, &b.s[i]);
			expire(&b, now);
			next_timers = now + TIMER_SCAN_US;
		}
		if (now >= next_progress) {
			if (o->progress)
				progress_line(&b, now, t0, backlog);
			next_progress += PROGRESS_US;
		}
	}
	rep->measured_s = o->duration_s;
	rep->ops_per_s = (double)rep->completed / o->duration_s;
	rep->client_cpu_s = cpu_s() - cpu0;
	for (uint32_t i = 0; i < o->clients; i++)
		rep->in_flight_end += b.s[i].inflight;
	rep->backlog_end = backlog;
	rc = 0;
out:
	bench_close(&b);
	if (rc != 0) {
		free(rep->lat);
		rep->lat = NULL;
	}
	return rc;
}

void bench_report_free(struct bench_report *rep)
{
	free(rep->lat);
	rep->lat = NULL;
}

void bench_report_print(FILE *f, const struct bench_opts *o, const struct bench_report *rep,
			bool json)
{
	const struct lat_hist *h = rep->lat;
	const double p[5] = {50, 90, 99, 99.9, 100};
	double ms[5];
	uint64_t errs = 0;

	for (int i = 0; i < 5; i++)
		ms[i] = (double)lat_hist_value_at(h, p[i]) / 1000.0;
	for (int k = 0; k < BENCH_ERR_KINDS; k++)
		errs += rep->errors[k];
	if (json) {
		fprintf(f, "{\"protocol\":\"%s\",\"n\":%u,\"f\":%u,\"loop\":\"%s\",\"clients\":%u,"
			"\"depth\":%u,\"rate\":%.0f,\"mix\":{\"put\":%u,\"get\":%u,\"cas\":%u},"
			"\"value_size\":%u,\"keys\":%u,\"warmup_s\":%.1f,\"duration_s\":%.1f,"
			"\"completed\":%llu,\"ops\":{\"put\":%llu,\"get\":%llu,\"cas\":%llu},"
			"\"ops_per_s\":%.1f,\"latency_ms\":{\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,"
			"\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},\"errors\":{",
			rep->protocol, rep->n, rep->f, o->rate > 0 ? "open" : "closed", o->clients,
			o->depth, o->rate, o->mix[0], o->mix[1], o->mix[2], o->value_size, o->keys,
			o->warmup_s, o->duration_s, (unsigned long long)rep->completed,
			(unsigned long long)rep->by_op[0], (unsigned long long)rep->by_op[1],
			(unsigned long long)rep->by_op[2], rep->ops_per_s, lat_hist_mean(h) / 1000.0,
			ms[0], ms[1], ms[2], ms[3], ms[4]);
		for (int k = 0; k < BENCH_ERR_KINDS; k++)
			fprintf(f, "%s\"%s\":%llu", k ? "," : "", bench_err_name((enum bench_err_kind)k),
				(unsigned long long)rep->errors[k]);
		fprintf(f, "},\"not_found\":%llu,\"cas_failed\":%llu,\"in_flight_end\":%llu,"
			"\"backlog_end\":%llu,\"retransmissions\":%llu,\"readonly_fallbacks\":%llu,"
			"\"bad_replies\":%llu,\"mismatched_replies\":%llu,\"client_cpu_s\":%.2f}\n",
			(unsigned long long)rep->not_found, (unsigned long long)rep->cas_failed,
			(unsigned long long)rep->in_flight_end, (unsigned long long)rep->backlog_end,
			(unsigned long long)rep->retransmissions,
			(unsigned long long)rep->readonly_fallbacks,
			(unsigned long long)rep->bad_replies,
			(unsigned long long)rep->mismatched_replies, rep->client_cpu_s);
		return;
	}
	fprintf(f, "bench: %s n=%u f=%u, %s loop, %u client%s x depth %u", rep->protocol, rep->n,
		rep->f, o->rate > 0 ? "open" : "closed", o->clients, o->clients == 1 ? "" : "s",
		o->depth);
	if (o->rate > 0)
		fprintf(f, ", offered %.0f ops/s", o->rate);
	fprintf(f, ", put/get/cas %u/%u/%u, %u-byte values, %u keys\n", o->mix[0], o->mix[1],
		o->mix[2], o->value_size, o->keys);
	fprintf(f, "  throughput  %.0f ops/s (%llu ops in %.1f s after %.1f s warm-up; "
		"put %llu, get %llu, cas %llu)\n",
		rep->ops_per_s, (unsigned long long)rep->completed, rep->measured_s, o->warmup_s,
		(unsigned long long)rep->by_op[0], (unsigned long long)rep->by_op[1],
		(unsigned long long)rep->by_op[2]);
	fprintf(f, "  latency ms  mean %.2f  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
		lat_hist_mean(h) / 1000.0, ms[0], ms[1], ms[2], ms[3], ms[4]);
	fprintf(f, "  errors      %llu", (unsigned long long)errs);
	for (int k = 0; k < BENCH_ERR_KINDS; k++)
		if (rep->errors[k] != 0)
			fprintf(f, "  %s %llu", bench_err_name((enum bench_err_kind)k),
				(unsigned long long)rep->errors[k]);
	fprintf(f, "\n  other       not found %llu, cas lost %llu, in flight at end %llu",
		(unsigned long long)rep->not_found, (unsigned long long)rep->cas_failed,
		(unsigned long long)rep->in_flight_end);
	if (o->rate > 0)
		fprintf(f, ", backlog at end %llu", (unsigned long long)rep->backlog_end);
	fprintf(f, ", retransmissions %llu, read-only fallbacks %llu, bad replies %llu, "
		"mismatched replies %llu\n",
		(unsigned long long)rep->retransmissions, (unsigned long long)rep->readonly_fallbacks,
		(unsigned long long)rep->bad_replies, (unsigned long long)rep->mismatched_replies);
	fprintf(f, "  client cpu  %.1f s in the window (%.0f%% of one core)\n", rep->client_cpu_s,
		100.0 * rep->client_cpu_s / rep->measured_s);
}
