/*
 * bftctl: the client of a Byzantine fault tolerant key-value cluster. It never trusts a single
 * replica: every answer it prints was vouched for by matching replies from enough replicas (2f+1
 * under PBFT, whose reads are answered unordered; f+1 for Honey Badger's writes), checked here by
 * the client core (bft/client.h).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "crypto/cr_sign.h"
#include "node/bench.h"
#include "node/ctl.h"
#include "node/history.h"
#include "bft/wire.h"
#include "node/kv_op.h"

/* Exit codes: distinct for what scripts need to tell apart. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,       /* an error: configuration, keys, network, malformed answer */
	EXIT_USAGE = 2,
	EXIT_NOT_FOUND = 3,
	EXIT_COMPARE = 4,    /* compare-and-swap or transaction comparison failed */
	EXIT_TIMEOUT = 5,    /* no f+1 matching answers in time: outcome unknown */
	EXIT_REFUSED = 6,    /* the store refused the operation (too big, full, malformed) */
};

struct args {
	const char *config;
	const char *key_file;
	bft_client_id client_id;
	bool json;
	uint32_t timeout_ms;
	bool mac;       /* --mac: a MAC-authenticated session (docs/PERFORMANCE.md) */
	bool no_session; /* --no-session: every reply signed (ctl.h) */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bftctl [options] COMMAND [ARGS]\n"
		"\n"
		"Commands:\n"
		"  put KEY VALUE               write VALUE under KEY\n"
		"  get KEY                     read KEY (read-only fast path: 2f+1 matching replies)\n"
		"  del KEY                     delete KEY\n"
		"  cas KEY VERSION VALUE       write VALUE only if KEY's version is VERSION\n"
		"                              (0: only if KEY does not exist)\n"
		"  list PREFIX [LIMIT]         keys starting with PREFIX, in order (default 100)\n"
		"  txn CMP... then OP... [else OP...]\n"
		"                              one atomic transaction, as etcd's Txn. CMP is\n"
		"                              'version(KEY) REL N', 'value(KEY) REL V',\n"
		"                              'exists(KEY) = 0|1', 'mod(KEY) REL N', 'create(KEY) REL N'\n"
		"                              with REL one of = != < > <= >=; OP is 'put K V',\n"
		"                              'get K', 'del K' or 'list P'\n"
		"  status                      each replica's protocol, view, progress and health\n"
		"  inject KIND REPLICA [COUNT] testing aid: send REPLICA hostile frames (KIND is\n"
		"                              malformed, unknown-client, bad-signature or\n"
		"                              bad-session-box); each must\n"
		"                              be refused and counted in its /metrics\n"
		"  workload [-n OPS] [--keys K] [--seed S] [--clients C] [--history FILE]\n"
		"           [--wall-clock]     a mixed put/get/cas/del workload whose every answer is\n"
		"                              checked against a local model; prints a summary.\n"
		"                              --clients C: C concurrent clients (client ids from\n"
		"                              --client-id on) whose recorded history is checked for\n"
		"                              linearizability; --history FILE: record (and check) the\n"
		"                              history and save it; --wall-clock: record CLOCK_REALTIME\n"
		"                              times, to merge histories of several processes\n"
		"  bench [--clients C] [--depth D] [--rate R] [--op OP] [--value-size B]\n"
		"        [--keys K] [--duration S] [--warmup S] [--solo] [--seed N]\n"
		"                              load generator: C clients (ids from --client-id on),\n"
		"                              each checking f+1 signed replies; closed loop with D\n"
		"                              requests in flight per client (1..32, default 1), or\n"
		"                              open loop at R ops/s (latency from the due time);\n"
		"                              OP: put (default), get, cas, mix:put=50,get=50[,cas=N];\n"
		"                              defaults: 64-byte values, 10000 keys, 10 s after 2 s of\n"
		"                              warm-up; a progress line per second on stderr; --json;\n"
		"                              --solo: against bftnode --solo (n=1, no consensus)\n"
		"  check-history FILE          check a saved history for linearizability (exit 0 yes,\n"
		"                              1 no: the smallest slice showing why is printed,\n"
		"                              2 the file cannot be read)\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE     cluster file; default: the cluster scripts/cluster.sh started\n"
		"                        (~/.bft/current), then $BFT_CLUSTER\n"
		"      --client-id N     act as client N of the cluster file (default 0)\n"
		"      --client-key FILE that client's secret key (default: its key_file)\n"
		"      --json            machine-readable output\n"
		"      --mac             open a MAC-authenticated session (one signed SESSION with a\n"
		"                        sealed key per replica): replies are MAC'd instead of\n"
		"                        signed, backups check requests by MAC (every command,\n"
		"                        bench included; refused if client_sessions = false)\n"
		"      --no-session      without --mac a client still opens a session for its\n"
		"                        replies (MAC'd, while every replica checks each request's\n"
		"                        signature) when the cluster allows sessions; this turns\n"
		"                        it off: every reply signed\n"
		"  -t, --timeout MS      give up waiting after MS milliseconds (default 10000)\n"
		"  -h, --help            this text\n"
		"\n"
		"Exit status: 0 ok, 1 error, 2 usage, 3 not found, 4 comparison failed,\n"
		"5 timeout (outcome unknown), 6 refused by the store (too big, full, malformed).\n");
}

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bftctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see bftctl --help)\n");
	exit(EXIT_USAGE);
}

/* The cluster file: -c, else the one cluster.sh recorded, else $BFT_CLUSTER. */
static const char *find_config(const char *given, char *buf, size_t len)
{
	const char *home = getenv("HOME");
	const char *env = getenv("BFT_CLUSTER");
	struct stat st;

	if (given != NULL)
		return given;
	if (home != NULL) {
		char p[4096];
		FILE *f;
		snprintf(p, sizeof(p), "%s/.bft/current", home);
		f = fopen(p, "r");
		if (f != NULL) {
			if (fgets(buf, (int)len, f) != NULL) {
				buf[strcspn(buf, "\r\n")] = '\0';
				fclose(f);
				if (stat(buf, &st) == 0)
					return buf;
			} else {
				fclose(f);
			}
		}
	}
	if (env != NULL && *env != '\0')
		return env;
	fprintf(stderr, "bftctl: which cluster? No -c FILE was given, no cluster started by "
			"scripts/cluster.sh is running (~/.bft/current), and BFT_CLUSTER is not set.\n"
			"Start one with `scripts/cluster.sh up` or pass -c path/to/cluster.ini.\n");
	exit(EXIT_USAGE);
}

static void json_bytes(FILE *f, const struct bft_bytes *b)
{
	fputc('"', f);
	for (uint32_t i = 0; i < b->len; i++) {
		uint8_t c = b->p[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void text_bytes(FILE *f, const struct bft_bytes *b)
{
	for (uint32_t i = 0; i < b->len; i++) {
		uint8_t c = b->p[i];
		if (c >= 0x20 && c < 0x7f)
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
}

static int status_exit(enum kv_status s)
{
	switch (s) {
	case KV_OK:
		return EXIT_OK;
	case KV_NOT_FOUND:
		return EXIT_NOT_FOUND;
	case KV_COMPARE_FAILED:
		return EXIT_COMPARE;
	default:
		return EXIT_REFUSED;
	}
}

static void print_result(const struct args *a, const struct kv_result *r, double ms)
{
	if (a->json) {
		printf("{\"op\":\"%s\",\"status\":\"%s\",\"revision\":%llu",
		       r->code == KV_OP_GET ? "get" : r->code == KV_OP_PUT ? "put"
						  : r->code == KV_OP_DEL ? "del"
						  : r->code == KV_OP_CAS ? "cas"
						  : r->code == KV_OP_LIST ? "list"
									  : "txn",
		       kv_status_name(r->status), (unsigned long long)r->revision);
		if (r->code == KV_OP_GET && r->status == KV_OK) {
			printf(",\"value\":");
			json_bytes(stdout, &r->value);
		}
		if ((r->code == KV_OP_GET || r->code == KV_OP_PUT || r->code == KV_OP_CAS) &&
		    (r->status == KV_OK || r->status == KV_COMPARE_FAILED))
			printf(",\"version\":%llu,\"mod_revision\":%llu",
			       (unsigned long long)r->version, (unsigned long long)r->mod_rev);
		if (r->code == KV_OP_LIST && r->status == KV_OK) {
			printf(",\"entries\":[");
			for (uint32_t i = 0; i < r->nentries; i++) {
				printf("%s{\"key\":", i ? "," : "");
				json_bytes(stdout, &r->entries[i].key);
				if (r->entries[i].has_value) {
					printf(",\"value\":");
					json_bytes(stdout, &r->entries[i].value);
				}
				printf(",\"version\":%llu}", (unsigned long long)r->entries[i].version);
			}
			printf("],\"more\":%s", r->more ? "true" : "false");
		}
		if (r->code == KV_OP_TXN && r->status == KV_OK)
			printf(",\"succeeded\":%s,\"results\":%u", r->succeeded ? "true" : "false",
			       r->nresults);
		printf(",\"latency_ms\":%.1f}\n", ms);
		return;
	}
	if (r->status != KV_OK) {
		if (r->code == KV_OP_CAS && r->status == KV_COMPARE_FAILED)
			printf("compare failed: current version is %llu\n",
			       (unsigned long long)r->version);
		else
			printf("%s\n", kv_status_name(r->status));
		return;
	}
	switch (r->code) {
	case KV_OP_GET:
		text_bytes(stdout, &r->value);
		printf("\n");
		break;
	case KV_OP_PUT:
	case KV_OP_CAS:
		printf("OK (version %llu, revision %llu)\n", (unsigned long long)r->version,
		       (unsigned long long)r->revision);
		break;
	case KV_OP_DEL:
		printf("deleted (revision %llu)\n", (unsigned long long)r->revision);
		break;
	case KV_OP_LIST:
		for (uint32_t i = 0; i < r->nentries; i++) {
			text_bytes(stdout, &r->entries[i].key);
			if (r->entries[i].has_value) {
				printf(" = ");
				text_bytes(stdout, &r->entries[i].value);
			}
			printf("  (version %llu)\n", (unsigned long long)r->entries[i].version);
		}
		if (r->more)
			printf("... more keys follow\n");
		break;
	case KV_OP_TXN:
		printf("%s (%u operation%s ran)\n", r->succeeded ? "SUCCEEDED: then-branch ran"
								 : "FAILED: else-branch ran",
		       r->nresults, r->nresults == 1 ? "" : "s");
		for (uint32_t i = 0; i < r->nresults; i++) {
			printf("  %u: %s", i, kv_status_name(r->results[i].status));
			if (r->results[i].code == KV_OP_GET && r->results[i].status == KV_OK) {
				printf(" ");
				text_bytes(stdout, &r->results[i].value);
			}
			printf("\n");
		}
		break;
	default:
		printf("OK\n");
	}
}

static struct ctl *open_session(const struct args *a, uint32_t outstanding)
{
	struct ctl_opts o = {.config_path = a->config, .client_id = a->client_id,
			     .key_file = a->key_file, .outstanding_max = outstanding,
			     .mac = a->mac, .no_session = a->no_session};
	struct ctl *c;
	char err[1024];

	if (ctl_open(&c, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "bftctl: %s\n", err);
		exit(EXIT_FAIL);
	}
	return c;
}

/* Sends one op and prints what the cluster vouched for. */
static int run_op(const struct args *a, struct wire_buf *op, bool read_only)
{
	struct ctl *c = open_session(a, 1);
	uint8_t *res = NULL;
	size_t rlen = 0;
	double ms = 0;
	char err[256];
	struct kv_result r;
	int rc;

	if (ctl_call(c, op->p, op->len, read_only ? BFT_REQ_READONLY : 0, a->timeout_ms, &res,
		     &rlen, &ms, err, sizeof(err)) != 0) {
		bool timeout = strcmp(err, "timeout") == 0;
		if (a->json)
			printf("{\"status\":\"%s\"}\n", timeout ? "timeout" : "error");
		fprintf(stderr, "bftctl: %s%s\n", err,
			timeout ? ": not enough replicas agreed on an answer in time (the operation may "
				  "or may not have happened)"
				: "");
		ctl_close(c);
		wire_buf_free(op);
		return timeout ? EXIT_TIMEOUT : EXIT_FAIL;
	}
	if (kv_result_decode(res, rlen, &r) != BFT_OK) {
		fprintf(stderr, "bftctl: the cluster's answer is not a result this bftctl knows\n");
		rc = EXIT_FAIL;
	} else {
		print_result(a, &r, ms);
		rc = r.code == KV_OP_TXN && r.status == KV_OK && !r.succeeded ? EXIT_COMPARE
									: status_exit(r.status);
		kv_result_free(&r);
	}
	free(res);
	ctl_close(c);
	wire_buf_free(op);
	return rc;
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*s == '\0' || *end != '\0' || *s == '-')
		die_usage("%s must be a non-negative integer, not '%s'", what, s);
	return v;
}

static struct bft_bytes str_bytes(const char *s)
{
	return (struct bft_bytes){.p = (const uint8_t *)s, .len = (uint32_t)strlen(s)};
}

/* --- txn ------------------------------------------------------------------------------------ */

static int parse_rel(const char *s, enum kv_cmp_rel *rel)
{
	static const struct {
		const char *t;
		enum kv_cmp_rel r;
	} rels[] = {{"=", KV_EQ}, {"==", KV_EQ}, {"!=", KV_NE}, {"<", KV_LT},
		    {">", KV_GT}, {"<=", KV_LE}, {">=", KV_GE}};
	for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++)
		if (strcmp(s, rels[i].t) == 0) {
			*rel = rels[i].r;
			return 0;
		}
	return -1;
}

/* 'target(KEY) REL OPERAND' -> cmp; strings borrowed from the (mutable) argument. */
static void parse_cmp(char *s, struct kv_cmp *c)
{
	char *open = strchr(s, '('), *close = strrchr(s, ')');
	char rel[4], *operand;
	int n = 0;

	if (open == NULL || close == NULL || close < open)
		die_usage("comparison '%s' is not 'target(KEY) REL VALUE'", s);
	*open = '\0';
	*close = '\0';
	if (strcmp(s, "version") == 0)
		c->target = KV_CMP_VERSION;
	else if (strcmp(s, "value") == 0)
		c->target = KV_CMP_VALUE;
	else if (strcmp(s, "exists") == 0)
		c->target = KV_CMP_EXISTS;
	else if (strcmp(s, "mod") == 0)
		c->target = KV_CMP_MOD;
	else if (strcmp(s, "create") == 0)
		c->target = KV_CMP_CREATE;
	else
		die_usage("unknown comparison target '%s' (version, value, exists, mod, create)", s);
	c->key = str_bytes(open + 1);
	if (sscanf(close + 1, " %3[=!<>] %n", rel, &n) != 1 || parse_rel(rel, &c->rel) != 0)
		die_usage("comparison on '%s' lacks a relation (= != < > <= >=)", open + 1);
	operand = close + 1 + n;
	if (c->target == KV_CMP_VALUE)
		c->value = str_bytes(operand);
	else
		c->num = parse_u64(operand, "a comparison operand");
}

static void parse_req(char *s, struct kv_req *r)
{
	char *save = NULL;
	char *verb = strtok_r(s, " ", &save);
	char *k = strtok_r(NULL, " ", &save);
	char *v = strtok_r(NULL, "", &save);

	memset(r, 0, sizeof(*r));
	if (verb == NULL || k == NULL)
		die_usage("transaction operation '%s' is not 'put K V', 'get K', 'del K' or 'list P'",
			  s);
	r->key = str_bytes(k);
	if (strcmp(verb, "put") == 0 && v != NULL) {
		r->code = KV_OP_PUT;
		r->value = str_bytes(v);
	} else if (strcmp(verb, "get") == 0 && v == NULL) {
		r->code = KV_OP_GET;
	} else if (strcmp(verb, "del") == 0 && v == NULL) {
		r->code = KV_OP_DEL;
	} else if (strcmp(verb, "list") == 0 && v == NULL) {
		r->code = KV_OP_LIST;
	} else {
		die_usage("transaction operation '%s %s' is not 'put K V', 'get K', 'del K' or 'list P'",
			  verb, k);
	}
}

static int cmd_txn(const struct args *a, int argc, char **argv)
{
	struct kv_cmp cmps[128];
	struct kv_req thens[128], elses[128];
	uint32_t nc = 0, nt = 0, ne = 0;
	int phase = 0;
	struct wire_buf op = {0};

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "then") == 0 && phase == 0) {
			phase = 1;
			continue;
		}
		if (strcmp(argv[i], "else") == 0 && phase == 1) {
			phase = 2;
			continue;
		}
		if (nc >= 128 || nt >= 128 || ne >= 128)
			die_usage("too many comparisons or operations in one transaction");
		if (phase == 0)
			parse_cmp(argv[i], &cmps[nc++]);
		else if (phase == 1)
			parse_req(argv[i], &thens[nt++]);
		else
			parse_req(argv[i], &elses[ne++]);
	}
	if (phase == 0)
		die_usage("txn needs 'then' followed by operations");
	if (kv_op_encode_txn(&op, cmps, nc, thens, nt, elses, ne) != BFT_OK)
		die_usage("the transaction cannot be encoded");
	return run_op(a, &op, false);
}

/* --- status --------------------------------------------------------------------------------- */

static int http_get(const char *hostport, char **body, size_t *len, char *err, size_t errlen)
{
	char u[320];
	nng_url *url = NULL;
	nng_http_client *cli = NULL;
	nng_http_req *req = NULL;
	nng_http_res *res = NULL;
	nng_aio *aio = NULL;
	int rv;

	snprintf(u, sizeof(u), "http://%s/status", hostport);
	if ((rv = nng_url_parse(&url, u)) == 0 && (rv = nng_http_client_alloc(&cli, url)) == 0 &&
	    (rv = nng_http_req_alloc(&req, url)) == 0 && (rv = nng_http_res_alloc(&res)) == 0 &&
	    (rv = nng_aio_alloc(&aio, NULL, NULL)) == 0) {
		nng_aio_set_timeout(aio, 2000);
		nng_http_client_transact(cli, req, res, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
	}
	if (rv == 0 && nng_http_res_get_status(res) != 200)
		rv = NNG_EPROTO;
	if (rv == 0) {
		void *data;
		size_t n;
		nng_http_res_get_data(res, &data, &n);
		*body = malloc(n + 1);
		if (*body == NULL) {
			rv = NNG_ENOMEM;
		} else {
			memcpy(*body, data, n);
			(*body)[n] = '\0';
			*len = n;
		}
	}
	if (rv != 0)
		snprintf(err, errlen, "%s", nng_strerror(rv));
	if (aio)
		nng_aio_free(aio);
	if (res)
		nng_http_res_free(res);
	if (req)
		nng_http_req_free(req);
	if (cli)
		nng_http_client_free(cli);
	if (url)
		nng_url_free(url);
	return rv == 0 ? 0 : -1;
}

/* Pulls "key":value out of a flat JSON object the replica wrote (we wrote it, but it came over
 * the network: bounded copy, no trust in its shape). */
static void json_field(const char *doc, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t i = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(doc, pat);
	out[0] = '\0';
	if (p == NULL)
		return;
	p += strlen(pat);
	if (*p == '"')
		p++;
	while (*p && *p != '"' && *p != ',' && *p != '}' && i + 1 < len)
		out[i++] = *p++;
	out[i] = '\0';
}

static int cmd_status(const struct args *a)
{
	struct node_config cfg;
	char err[1024];
	int down = 0;

	if (node_config_load(&cfg, a->config, err, sizeof(err)) != 0) {
		fprintf(stderr, "bftctl: %s\n", err);
		return EXIT_FAIL;
	}
	if (a->json)
		printf("[");
	else
		printf("%-8s %-8s %-6s %-8s %-14s %-12s %-8s %-12s %s\n", "REPLICA", "PROTOCOL",
		       "VIEW", "PRIMARY", "LAST_EXECUTED", "STABLE_CKPT", "PENDING", "VIEW_CHANGES",
		       "HEALTH");
	for (uint32_t i = 0; i < cfg.n; i++) {
		char hp[300], *body = NULL;
		size_t len = 0;
		node_endpoint_format(&cfg.replicas[i].status, hp, sizeof(hp));
		if (http_get(hp, &body, &len, err, sizeof(err)) != 0) {
			down++;
			if (a->json)
				printf("%s{\"replica\":%u,\"health\":\"unreachable\",\"error\":\"%s\"}",
				       i ? "," : "", i, err);
			else
				printf("%-8u %-8s %-6s %-8s %-14s %-12s %-8s %-12s unreachable (%s)\n", i,
				       "-", "-", "-", "-", "-", "-", "-", err);
			continue;
		}
		if (a->json) {
			body[strcspn(body, "\n")] = '\0';
			printf("%s%s", i ? "," : "", body);
		} else {
			char f[9][64];
			const char *keys[] = {"protocol", "view", "primary", "last_executed",
					      "stable_checkpoint", "pending", "view_changes", "health",
					      "byzantine_modes"};
			for (int k = 0; k < 9; k++)
				json_field(body, keys[k], f[k], sizeof(f[k]));
			printf("%-8u %-8s %-6s %-8s %-14s %-12s %-8s %-12s %s%s\n", i, f[0], f[1], f[2],
			       f[3], f[4], f[5], f[6], f[7],
			       strcmp(f[8], "0") != 0 && f[8][0] ? " (FAULTY: byzantine mode)" : "");
		}
		free(body);
	}
	if (a->json)
		printf("]\n");
	node_config_free(&cfg);
	return down == 0 ? EXIT_OK : EXIT_FAIL;
}

static uint64_t xs(uint64_t *s);

/* --- inject: hostile frames for tests --------------------------------------------------------- */

/* Sends replica `to` frames a correct client never sends, so tests can check that each is
 * refused, counted in /metrics, and that the replica keeps serving:
 *   malformed:      random bytes, and a valid request cut short;
 *   unknown-client: a well-formed request from a client id the cluster does not know;
 *   bad-signature:  a request from this client whose signature does not verify. */
static int cmd_inject(const struct args *a, const char *kind, uint32_t to, uint32_t count)
{
	struct ctl *c = open_session(a, 1);
	uint64_t s = ctl_now_ms() | 1;
	struct wire_buf env = {0};
	struct bft_msg m = {.version = BFT_WIRE_VERSION, .type = BFT_MSG_REQUEST};
	int rc = EXIT_OK;

	if (to >= ctl_config(c)->n) {
		fprintf(stderr, "bftctl: there is no replica %u\n", to);
		ctl_close(c);
		return EXIT_USAGE;
	}
	/* Give the connection a moment to come up: pair1 drops what it cannot deliver. */
	for (int i = 0; i < 50; i++) {
		struct bft_client_result res;
		(void)ctl_poll(c, 20, &res);
	}
	m.u.request.op = (struct bft_bytes){.p = (const uint8_t *)"\x92\x01\xa1k", .len = 4};
	for (uint32_t i = 0; i < count; i++) {
		enum bft_err e = BFT_OK;
		env.len = 0;
		m.u.request.reqid = (ctl_now_ms() << 16) + i;
		if (strcmp(kind, "malformed") == 0) {
			uint8_t junk[200];
			size_t len = 1 + xs(&s) % sizeof(junk);
			for (size_t j = 0; j < len; j++)
				junk[j] = (uint8_t)xs(&s);
			if (i % 2 == 0) {
				e = ctl_send_raw(c, to, junk, len);
			} else {
				m.sender = a->client_id;
				if (wire_encode(&m, ctl_identity(c), &env) == BFT_OK)
					e = ctl_send_raw(c, to, env.p, env.len / 2);
			}
		} else if (strcmp(kind, "unknown-client") == 0) {
			m.sender = ctl_config(c)->nclients + 1000 + i;
			if (wire_encode(&m, ctl_identity(c), &env) == BFT_OK)
				e = ctl_send_raw(c, to, env.p, env.len);
		} else if (strcmp(kind, "bad-signature") == 0) {
			m.sender = a->client_id;
			if (wire_encode(&m, ctl_identity(c), &env) == BFT_OK) {
				env.p[env.len - 1 - i % 64] ^= 0x20;
				e = ctl_send_raw(c, to, env.p, env.len);
			}
		} else if (strcmp(kind, "bad-session-box") == 0) {
			/* A SESSION the client really signed, with a fresh number, whose boxes are
			 * noise: the replica must check it, fail to open its box, count it and
			 * install nothing. */
			struct bft_msg sm = {.version = BFT_WIRE_VERSION, .type = BFT_MSG_SESSION};
			uint32_t nb = ctl_config(c)->n * BFT_SESSION_BOX_BYTES;
			uint8_t *boxes = malloc(nb);

			if (boxes == NULL) {
				rc = EXIT_FAIL;
				break;
			}
			for (uint32_t j = 0; j < nb; j++)
				boxes[j] = (uint8_t)xs(&s);
			sm.sender = a->client_id;
			sm.u.session.session = ctl_wall_us() + i;
			sm.u.session.boxes = (struct bft_bytes){.p = boxes, .len = nb};
			if (wire_encode(&sm, ctl_identity(c), &env) == BFT_OK)
				e = ctl_send_raw(c, to, env.p, env.len);
			free(boxes);
		} else {
			die_usage("inject takes malformed, unknown-client, bad-signature or "
				  "bad-session-box");
		}
		if (e != BFT_OK)
			rc = EXIT_FAIL;
	}
	/* Let the connections come up and take the frames before they close. */
	for (int i = 0; i < 10; i++) {
		struct bft_client_result res;
		(void)ctl_poll(c, 20, &res);
	}
	wire_buf_free(&env);
	ctl_close(c);
	if (!a->json)
		printf("sent %u %s frame%s to replica %u\n", count, kind, count == 1 ? "" : "s", to);
	return rc;
}

/* --- workload ------------------------------------------------------------------------------- */

struct model_key {
	bool exists;
	uint64_t version;
	char value[64];
};

static uint64_t xs(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* --- workload: recorded histories (node/history.h) ----------------------------------------- */

/* Records an op about to be sent (call_us taken before sending). A history missing an op could
 * make the checker report violations that did not happen, so failing to record is fatal. */
static size_t wl_record(struct hist *h, uint64_t client, const struct wire_buf *op,
			uint64_t call_us)
{
	size_t idx;
	enum bft_err e = hist_call(h, client, op->p, op->len, call_us, &idx);

	if (e != BFT_OK) {
		fprintf(stderr, "bftctl: cannot record an op in the history: %s\n", bft_strerror(e));
		exit(EXIT_FAIL);
	}
	return idx;
}

/* Records the answer to op idx; false when it is no answer that op can have (a wrong answer:
 * the record stays "unknown"). */
static bool wl_answer(struct hist *h, size_t idx, const uint8_t *res, size_t len)
{
	enum bft_err e = hist_return(h, idx, res, len, hist_now_us(h));

	if (e == BFT_ENOMEM) {
		fprintf(stderr, "bftctl: out of memory recording the history\n");
		exit(EXIT_FAIL);
	}
	return e == BFT_OK;
}

/* Saves the history if asked to, checks it, prints what the checker found. */
static int wl_history_done(const struct args *a, const struct hist *h, const char *path, int rc)
{
	struct hist_report rep;
	FILE *f;

	if (path != NULL) {
		f = fopen(path, "w");
		if (f == NULL || hist_write(h, f) != BFT_OK || fclose(f) != 0) {
			fprintf(stderr, "bftctl: cannot write the history to %s\n", path);
			rc = EXIT_FAIL;
		}
	}
	if (hist_check(h, &rep) != BFT_OK) {
		fprintf(stderr, "bftctl: out of memory checking the history\n");
		return EXIT_FAIL;
	}
	if (a->json)
		printf("{\"history\":{\"ops\":%zu,\"writes\":%zu,\"reads\":%zu,\"unknown\":%zu,"
		       "\"unknown_applied\":%zu,\"violations\":%zu}}\n",
		       rep.ops, rep.writes, rep.reads, rep.unknown, rep.unknown_applied,
		       rep.violations);
	else
		printf("  history: %zu ops (%zu writes, %zu reads), %zu unknown (%zu took effect): "
		       "%s\n",
		       rep.ops, rep.writes, rep.reads, rep.unknown, rep.unknown_applied,
		       rep.violations ? "NOT LINEARIZABLE" : "linearizable");
	if (rep.violations == 0)
		return rc;
	fprintf(stderr, "bftctl: %zu linearizability violation%s; the first:\n%s", rep.violations,
		rep.violations == 1 ? "" : "s", rep.first);
	return EXIT_FAIL;
}

/* Timed-out ops a logical client keeps listening for (its session allows one more in flight). */
#define WL_LATE_MAX 7

/* One logical client of a concurrent workload: its own session and client id, one op in
 * flight at a time, and the ops it gave up on, which may still be answered. */
struct wl_client {
	struct ctl *c;
	uint64_t id, left, issued;
	bool busy;
	uint64_t reqid, deadline_ms;
	size_t idx;              /* the record of the op in flight */
	uint32_t key;            /* and its key */
	uint64_t late_reqid[WL_LATE_MAX];
	size_t late_idx[WL_LATE_MAX];
	uint32_t nlate;
	uint64_t *seen;          /* the version it last saw of each key, for its CAS */
};

struct wl_totals {
	uint64_t completed, late, timeouts, wrong, unsent, counts[4];
};

/* An answer arrived for one of w's requests: the one in flight or one it gave up on (whose
 * record becomes complete, with the time it really returned). */
static void wl_complete(struct hist *h, struct wl_client *w, const struct bft_client_result *res,
			struct wl_totals *t)
{
	const struct hist_op *o;
	size_t idx;

	if (w->busy && res->reqid == w->reqid) {
		w->busy = false;
		idx = w->idx;
		t->completed++;
	} else {
		uint32_t i = 0;

		while (i < w->nlate && w->late_reqid[i] != res->reqid)
			i++;
		if (i == w->nlate)
			return;
		idx = w->late_idx[i];
		w->late_reqid[i] = w->late_reqid[w->nlate - 1];
		w->late_idx[i] = w->late_idx[--w->nlate];
		t->late++;
		if (!wl_answer(h, idx, res->result.p, res->result.len))
			t->wrong++;
		return;
	}
	if (!wl_answer(h, idx, res->result.p, res->result.len)) {
		t->wrong++;
		fprintf(stderr, "bftctl: WRONG ANSWER from client %llu: not a result for its op\n",
			(unsigned long long)w->id);
		return;
	}
	o = &h->ops[idx];
	if (o->kind == HIST_DEL || o->outcome == HIST_NOT_FOUND)
		w->seen[w->key] = 0;
	else if (o->outcome == HIST_OK || o->outcome == HIST_COMPARE_FAILED)
		w->seen[w->key] = o->version;
}

/* Starts w's next op: a random put/get/cas/del with a value unique to the run. */
static void wl_start(const struct args *a, struct hist *h, struct wl_client *w,
		     const char *prefix, uint32_t nkeys, uint64_t *s, struct wl_totals *t)
{
	uint32_t k = (uint32_t)(xs(s) % nkeys), pick = (uint32_t)(xs(s) % 100);
	char key[96], value[64];
	struct wire_buf op = {0};
	enum bft_err e;
	bool ro = false;
	uint64_t call_us;
	int kind;

	snprintf(key, sizeof(key), "%s%u", prefix, k);
	snprintf(value, sizeof(value), "c%llu-%llu", (unsigned long long)w->id,
		 (unsigned long long)w->issued);
	if (pick < 45) {
		kind = 0;
		e = kv_op_encode_put(&op, (const uint8_t *)key, strlen(key), (const uint8_t *)value,
				     strlen(value));
	} else if (pick < 80) {
		kind = 1;
		ro = true;
		e = kv_op_encode_get(&op, (const uint8_t *)key, strlen(key));
	} else if (pick < 93) {
		kind = 2;
		e = kv_op_encode_cas(&op, (const uint8_t *)key, strlen(key), w->seen[k],
				     (const uint8_t *)value, strlen(value));
	} else {
		kind = 3;
		e = kv_op_encode_del(&op, (const uint8_t *)key, strlen(key));
	}
	w->left--;
	w->issued++;
	t->counts[kind]++;
	call_us = hist_now_us(h);
	if (e == BFT_OK)
		e = ctl_submit(w->c, op.p, op.len, ro ? BFT_REQ_READONLY : 0, &w->reqid);
	if (e != BFT_OK) {
		/* Never sent: nothing to record. */
		t->unsent++;
		wire_buf_free(&op);
		return;
	}
	w->idx = wl_record(h, w->id, &op, call_us);
	w->key = k;
	w->busy = true;
	w->deadline_ms = ctl_now_ms() + a->timeout_ms;
	wire_buf_free(&op);
}

/*
 * C logical clients (client ids --client-id .. +C-1) from one process, each with one op in
 * flight and the next sent as soon as it is answered, all interleaved through their sessions'
 * submit/poll. Their answers cannot be predicted one by one, so nothing is checked per op:
 * every op is recorded (an op not answered within --timeout is "unknown") and the history is
 * checked for linearizability at the end.
 */
static int cmd_workload_clients(const struct args *a, uint64_t ops, uint32_t nkeys, uint64_t seed,
				uint32_t nclients, struct hist *h)
{
	struct wl_client *cl = calloc(nclients, sizeof(*cl));
	struct wl_totals t = {0};
	uint64_t s = seed | 1;
	uint32_t rr = 0;
	char prefix[64];
	double p50, p99, *lat;
	size_t nlat = 0;

	if (cl == NULL) {
		fprintf(stderr, "bftctl: out of memory\n");
		return EXIT_FAIL;
	}
	/* Keys unique to this run and this client: concurrent workloads never share a key, so each
	 * one's model of its keys is exact. */
	snprintf(prefix, sizeof(prefix), "w%llx-%llu-%llu-", (unsigned long long)ctl_now_ms(),
		 (unsigned long long)a->client_id, (unsigned long long)seed);
	for (uint32_t i = 0; i < nclients; i++) {
		struct args ai = *a;

		ai.client_id = a->client_id + i;
		cl[i].c = open_session(&ai, WL_LATE_MAX + 1);
		cl[i].id = ai.client_id;
		cl[i].left = ops / nclients + (i < ops % nclients ? 1 : 0);
		cl[i].seen = calloc(nkeys, sizeof(*cl[i].seen));
		if (cl[i].seen == NULL) {
			fprintf(stderr, "bftctl: out of memory\n");
			exit(EXIT_FAIL);
		}
	}
	for (;;) {
		struct bft_client_result res;
		bool active = false, progress = false;
		uint64_t now = ctl_now_ms();

		for (uint32_t i = 0; i < nclients; i++) {
			struct wl_client *w = &cl[i];

			if (w->busy && now >= w->deadline_ms) {
				/* Unknown outcome; its answer may still come, and is recorded then. */
				t.timeouts++;
				w->busy = false;
				w->late_reqid[w->nlate] = w->reqid;
				w->late_idx[w->nlate++] = w->idx;
			}
			if (!w->busy && w->left > 0) {
				if (w->nlate == WL_LATE_MAX) {
					fprintf(stderr, "bftctl: client %llu stops: %d requests "
							"unanswered\n",
						(unsigned long long)w->id, WL_LATE_MAX);
					t.unsent += w->left;
					w->left = 0;
				} else {
					wl_start(a, h, w, prefix, nkeys, &s, &t);
				}
			}
			active = active || w->busy || w->left > 0;
		}
		if (!active)
			break;
		for (uint32_t i = 0; i < nclients; i++)
			while (ctl_poll(cl[i].c, 0, &res)) {
				wl_complete(h, &cl[i], &res, &t);
				progress = true;
			}
		/* Nothing arrived: wait a little on one session (in turn) rather than spin. */
		if (!progress) {
			rr = (rr + 1) % nclients;
			if (ctl_poll(cl[rr].c, 1, &res))
				wl_complete(h, &cl[rr], &res, &t);
		}
	}
	lat = calloc(h->n ? h->n : 1, sizeof(*lat));
	for (size_t i = 0; lat != NULL && i < h->n; i++)
		if (h->ops[i].outcome != HIST_UNKNOWN)
			lat[nlat++] = (double)(h->ops[i].ret_us - h->ops[i].call_us) / 1000.0;
	if (lat != NULL)
		qsort(lat, nlat, sizeof(*lat), cmp_double);
	p50 = nlat ? lat[nlat / 2] : 0;
	p99 = nlat ? lat[(nlat * 99) / 100] : 0;
	if (a->json)
		printf("{\"ops\":%llu,\"clients\":%u,\"completed\":%llu,\"wrong\":%llu,"
		       "\"timeouts\":%llu,\"answered_late\":%llu,\"unsent\":%llu,\"p50_ms\":%.1f,"
		       "\"p99_ms\":%.1f}\n",
		       (unsigned long long)ops, nclients, (unsigned long long)t.completed,
		       (unsigned long long)t.wrong, (unsigned long long)t.timeouts,
		       (unsigned long long)t.late, (unsigned long long)t.unsent, p50, p99);
	else
		printf("workload: %llu operations from %u clients (%llu put, %llu get, %llu cas, "
		       "%llu del) on %u keys\n"
		       "  completed %llu, wrong answers %llu, timeouts %llu (%llu answered later), "
		       "not sent %llu\n"
		       "  latency p50 %.1f ms, p99 %.1f ms\n",
		       (unsigned long long)ops, nclients, (unsigned long long)t.counts[0],
		       (unsigned long long)t.counts[1], (unsigned long long)t.counts[2],
		       (unsigned long long)t.counts[3], nkeys, (unsigned long long)t.completed,
		       (unsigned long long)t.wrong, (unsigned long long)t.timeouts,
		       (unsigned long long)t.late, (unsigned long long)t.unsent, p50, p99);
	free(lat);
	for (uint32_t i = 0; i < nclients; i++) {
		ctl_close(cl[i].c);
		free(cl[i].seen);
	}
	free(cl);
	return t.wrong > 0 || t.unsent > 0 ? EXIT_FAIL : t.timeouts > 0 ? EXIT_TIMEOUT : EXIT_OK;
}

/* A single client's sequential workload: every answer is predictable from the operations
 * before it, so each is checked against a local model of the store. With h, every op is also
 * recorded there (an op without an answer stays "unknown"). */
static int cmd_workload(const struct args *a, uint64_t ops, uint32_t nkeys, uint64_t seed,
			struct hist *h)
{
	struct ctl *c = open_session(a, 1);
	struct model_key *model = calloc(nkeys, sizeof(*model));
	double *lat = calloc(ops ? ops : 1, sizeof(*lat));
	uint64_t s = seed | 1, done = 0, wrong = 0, timeouts = 0, counts[5] = {0};
	char key[96], err[256];
	char prefix[64];

	if (model == NULL || lat == NULL) {
		fprintf(stderr, "bftctl: out of memory\n");
		return EXIT_FAIL;
	}
	/* Keys unique to this run, so earlier runs against the same cluster do not interfere. */
	/* Keys unique to this run and this client: concurrent workloads never share a key, so each
	 * one's model of its keys is exact. */
	snprintf(prefix, sizeof(prefix), "w%llx-%llu-%llu-", (unsigned long long)ctl_now_ms(),
		 (unsigned long long)a->client_id, (unsigned long long)seed);
	for (uint64_t i = 0; i < ops; i++) {
		uint32_t k = (uint32_t)(xs(&s) % nkeys);
		uint32_t pick = (uint32_t)(xs(&s) % 100);
		struct model_key *mk = &model[k];
		struct wire_buf op = {0};
		bool ro = false;
		int kind;
		char value[64];
		uint8_t *res = NULL;
		size_t rlen = 0;
		double ms = 0;
		struct kv_result r;
		enum bft_err enc;

		snprintf(key, sizeof(key), "%s%u", prefix, k);
		snprintf(value, sizeof(value), "v%llu-%llu", (unsigned long long)i,
			 (unsigned long long)(xs(&s) % 1000000));
		if (pick < 45) {
			kind = 0;
			enc = kv_op_encode_put(&op, (const uint8_t *)key, strlen(key),
					       (const uint8_t *)value, strlen(value));
		} else if (pick < 80) {
			kind = 1;
			ro = true;
			enc = kv_op_encode_get(&op, (const uint8_t *)key, strlen(key));
		} else if (pick < 93) {
			kind = 2;
			enc = kv_op_encode_cas(&op, (const uint8_t *)key, strlen(key), mk->version,
					       (const uint8_t *)value, strlen(value));
		} else {
			kind = 3;
			enc = kv_op_encode_del(&op, (const uint8_t *)key, strlen(key));
		}
		counts[kind]++;
		size_t idx = SIZE_MAX;
		if (h != NULL && enc == BFT_OK)
			idx = wl_record(h, a->client_id, &op, hist_now_us(h));
		if (enc != BFT_OK || ctl_call(c, op.p, op.len, ro ? BFT_REQ_READONLY : 0, a->timeout_ms,
					     &res, &rlen, &ms, err, sizeof(err)) != 0) {
			timeouts++;
			wire_buf_free(&op);
			/* Unknown outcome: stop checking this key exactly. */
			mk->exists = false;
			mk->version = 0;
			mk->value[0] = '\x01';
			continue;
		}
		wire_buf_free(&op);
		lat[done++] = ms;
		if (kv_result_decode(res, rlen, &r) != BFT_OK) {
			wrong++;
			free(res);
			continue;
		}
		if (idx != SIZE_MAX && !wl_answer(h, idx, res, rlen)) {
			wrong++;
			fprintf(stderr, "bftctl: WRONG ANSWER at op %llu on %s: not a result for its op\n",
				(unsigned long long)i, key);
			kv_result_free(&r);
			free(res);
			continue;
		}
		bool ok = true;
		bool unknown = mk->value[0] == '\x01';
		switch (kind) {
		case 0:
			ok = r.status == KV_OK;
			mk->exists = true;
			mk->version = r.version;
			snprintf(mk->value, sizeof(mk->value), "%s", value);
			break;
		case 1:
			if (!unknown) {
				if (mk->exists)
					ok = r.status == KV_OK && r.value.len == strlen(mk->value) &&
					     memcmp(r.value.p, mk->value, r.value.len) == 0 &&
					     r.version == mk->version;
				else
					ok = r.status == KV_NOT_FOUND;
			} else if (r.status == KV_OK) {
				mk->exists = true;
				mk->version = r.version;
				size_t n = r.value.len < 63 ? r.value.len : 63;
				memcpy(mk->value, r.value.p, n);
				mk->value[n] = '\0';
			} else {
				mk->exists = false;
				mk->version = 0;
				mk->value[0] = '\0';
			}
			break;
		case 2:
			if (!unknown)
				ok = r.status == KV_OK;
			if (r.status == KV_OK) {
				mk->exists = true;
				mk->version = r.version;
				snprintf(mk->value, sizeof(mk->value), "%s", value);
			}
			break;
		case 3:
			if (!unknown)
				ok = mk->exists ? r.status == KV_OK : r.status == KV_NOT_FOUND;
			mk->exists = false;
			mk->version = 0;
			mk->value[0] = '\0';
			break;
		}
		if (!ok) {
			wrong++;
			fprintf(stderr, "bftctl: WRONG ANSWER at op %llu on %s: status %s\n",
				(unsigned long long)i, key, kv_status_name(r.status));
		}
		kv_result_free(&r);
		free(res);
	}
	qsort(lat, done, sizeof(*lat), cmp_double);
	double p50 = done ? lat[done / 2] : 0, p99 = done ? lat[(done * 99) / 100] : 0;
	if (a->json)
		printf("{\"ops\":%llu,\"completed\":%llu,\"wrong\":%llu,\"timeouts\":%llu,"
		       "\"p50_ms\":%.1f,\"p99_ms\":%.1f}\n",
		       (unsigned long long)ops, (unsigned long long)done, (unsigned long long)wrong,
		       (unsigned long long)timeouts, p50, p99);
	else
		printf("workload: %llu operations (%llu put, %llu get, %llu cas, %llu del) on %u keys\n"
		       "  completed %llu, wrong answers %llu, timeouts %llu\n"
		       "  latency p50 %.1f ms, p99 %.1f ms\n",
		       (unsigned long long)ops, (unsigned long long)counts[0],
		       (unsigned long long)counts[1], (unsigned long long)counts[2],
		       (unsigned long long)counts[3], nkeys, (unsigned long long)done,
		       (unsigned long long)wrong, (unsigned long long)timeouts, p50, p99);
	free(model);
	free(lat);
	ctl_close(c);
	return wrong > 0 ? EXIT_FAIL : timeouts > 0 ? EXIT_TIMEOUT : EXIT_OK;
}

static double parse_seconds(const char *s, const char *what)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || !(v >= 0) || v > 1e6)
		die_usage("%s wants seconds, not '%s'", what, s);
	return v;
}

/* bftctl bench: node/bench.h runs it; this parses its options. */
static int cmd_bench(const struct args *a, int argc, char **argv)
{
	static const struct option bopts[] = {
		{"clients", required_argument, NULL, 'C'},
		{"depth", required_argument, NULL, 'D'},
		{"rate", required_argument, NULL, 'R'},
		{"op", required_argument, NULL, 'o'},
		{"value-size", required_argument, NULL, 'V'},
		{"keys", required_argument, NULL, 'k'},
		{"key-prefix", required_argument, NULL, 'P'},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"seed", required_argument, NULL, 's'},
		{"retransmit-ms", required_argument, NULL, 'r'},
		{"solo", no_argument, NULL, 'S'},
		{"quiet", no_argument, NULL, 'q'},
		{NULL, 0, NULL, 0},
	};
	struct bench_opts o;
	struct bench_report rep;
	char err[1024];
	int c;

	bench_opts_default(&o);
	o.config = a->config;
	o.mac = a->mac;
	o.no_session = a->no_session;
	o.first_client = a->client_id;
	o.timeout_ms = a->timeout_ms;
	optind = 0;
	argc++;
	argv--;
	while ((c = getopt_long(argc, argv, "", bopts, NULL)) != -1) {
		switch (c) {
		case 'C':
			o.clients = (uint32_t)parse_u64(optarg, "--clients");
			break;
		case 'D':
			o.depth = (uint32_t)parse_u64(optarg, "--depth");
			break;
		case 'R':
			o.rate = (double)parse_u64(optarg, "--rate");
			break;
		case 'o':
			if (bench_parse_op(&o, optarg, err, sizeof(err)) != 0)
				die_usage("%s", err);
			break;
		case 'V':
			o.value_size = (uint32_t)parse_u64(optarg, "--value-size");
			break;
		case 'k':
			o.keys = (uint32_t)parse_u64(optarg, "--keys");
			break;
		case 'P':
			o.key_prefix = optarg;
			break;
		case 'd':
			o.duration_s = parse_seconds(optarg, "--duration");
			break;
		case 'w':
			o.warmup_s = parse_seconds(optarg, "--warmup");
			break;
		case 's':
			o.seed = parse_u64(optarg, "--seed");
			break;
		case 'r':
			o.retransmit_ms = (uint32_t)parse_u64(optarg, "--retransmit-ms");
			break;
		case 'S':
			o.replicas = 1;
			break;
		case 'q':
			o.progress = false;
			break;
		default:
			die_usage("bench: unknown option (see bftctl --help)");
		}
	}
	if (optind != argc)
		die_usage("bench takes options only");
	if (o.clients == 0 || o.clients > BENCH_CLIENTS_MAX)
		die_usage("--clients must be 1..%u", BENCH_CLIENTS_MAX);
	if (o.depth == 0 || o.depth > BENCH_DEPTH_MAX)
		die_usage("--depth must be 1..%u: replicas keep each client's last %u results, and "
			  "a client never runs further ahead", BENCH_DEPTH_MAX, BENCH_DEPTH_MAX);
	if (o.keys == 0)
		die_usage("--keys must be at least 1");
	if (o.duration_s <= 0)
		die_usage("--duration must be above 0");
	if (o.clients > 1 && a->key_file != NULL)
		die_usage("--client-key is one client's key: it cannot serve --clients C > 1");
	if (bench_run(&o, &rep, err, sizeof(err)) != 0) {
		fprintf(stderr, "bftctl: bench: %s\n", err);
		return EXIT_FAIL;
	}
	bench_report_print(stdout, &o, &rep, a->json);
	bench_report_free(&rep);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"client-id", required_argument, NULL, 'I'},
		{"client-key", required_argument, NULL, 'K'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"mac", no_argument, NULL, 'M'},
		{"no-session", no_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct args a = {.timeout_ms = 10000};
	char cfgbuf[4096];
	const char *cmd;
	struct wire_buf op = {0};
	int c;

	/* Options come before the command; the command's own words may look like options. */
	while ((c = getopt_long(argc, argv, "+c:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a.config = optarg;
			break;
		case 'I':
			a.client_id = parse_u64(optarg, "--client-id");
			break;
		case 'K':
			a.key_file = optarg;
			break;
		case 'j':
			a.json = true;
			break;
		case 'M':
			a.mac = true;
			break;
		case 'S':
			a.no_session = true;
			break;
		case 't':
			a.timeout_ms = (uint32_t)parse_u64(optarg, "--timeout");
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;
	/* Offline: needs no cluster. */
	if (strcmp(cmd, "check-history") == 0) {
		if (argc != 1)
			die_usage("check-history takes FILE");
		return hist_check_file(argv[0], stdout);
	}
	if (cr_init() != 0) {
		fprintf(stderr, "bftctl: libsodium failed to initialise\n");
		return EXIT_FAIL;
	}
	a.config = find_config(a.config, cfgbuf, sizeof(cfgbuf));

	if (strcmp(cmd, "put") == 0) {
		if (argc != 2)
			die_usage("put takes KEY VALUE");
		if (kv_op_encode_put(&op, (const uint8_t *)argv[0], strlen(argv[0]),
				     (const uint8_t *)argv[1], strlen(argv[1])) != BFT_OK)
			die_usage("cannot encode the operation");
		return run_op(&a, &op, false);
	}
	if (strcmp(cmd, "get") == 0) {
		if (argc != 1)
			die_usage("get takes KEY");
		if (kv_op_encode_get(&op, (const uint8_t *)argv[0], strlen(argv[0])) != BFT_OK)
			die_usage("cannot encode the operation");
		return run_op(&a, &op, true);
	}
	if (strcmp(cmd, "del") == 0) {
		if (argc != 1)
			die_usage("del takes KEY");
		if (kv_op_encode_del(&op, (const uint8_t *)argv[0], strlen(argv[0])) != BFT_OK)
			die_usage("cannot encode the operation");
		return run_op(&a, &op, false);
	}
	if (strcmp(cmd, "cas") == 0) {
		if (argc != 3)
			die_usage("cas takes KEY VERSION VALUE");
		if (kv_op_encode_cas(&op, (const uint8_t *)argv[0], strlen(argv[0]),
				     parse_u64(argv[1], "VERSION"), (const uint8_t *)argv[2],
				     strlen(argv[2])) != BFT_OK)
			die_usage("cannot encode the operation");
		return run_op(&a, &op, false);
	}
	if (strcmp(cmd, "list") == 0) {
		if (argc < 1 || argc > 2)
			die_usage("list takes PREFIX [LIMIT]");
		uint32_t limit = argc == 2 ? (uint32_t)parse_u64(argv[1], "LIMIT") : 100;
		if (kv_op_encode_list(&op, (const uint8_t *)argv[0], strlen(argv[0]), NULL, 0, limit,
				      0) != BFT_OK)
			die_usage("cannot encode the operation");
		return run_op(&a, &op, true);
	}
	if (strcmp(cmd, "txn") == 0)
		return cmd_txn(&a, argc, argv);
	if (strcmp(cmd, "inject") == 0) {
		if (argc < 2 || argc > 3)
			die_usage("inject takes KIND REPLICA [COUNT]");
		return cmd_inject(&a, argv[0], (uint32_t)parse_u64(argv[1], "REPLICA"),
				  argc == 3 ? (uint32_t)parse_u64(argv[2], "COUNT") : 10);
	}
	if (strcmp(cmd, "status") == 0) {
		if (argc != 0)
			die_usage("status takes no arguments");
		return cmd_status(&a);
	}
	if (strcmp(cmd, "bench") == 0)
		return cmd_bench(&a, argc, argv);
	if (strcmp(cmd, "workload") == 0) {
		static const struct option wopts[] = {
			{"ops", required_argument, NULL, 'n'},
			{"keys", required_argument, NULL, 'k'},
			{"seed", required_argument, NULL, 's'},
			{"clients", required_argument, NULL, 'C'},
			{"history", required_argument, NULL, 'H'},
			{"wall-clock", no_argument, NULL, 'W'},
			{NULL, 0, NULL, 0},
		};
		uint64_t ops = 1000, seed = 1;
		uint32_t keys = 50, clients = 1;
		const char *history = NULL;
		bool wall = false;
		struct hist h;
		int rc;
		optind = 0;
		argc++;
		argv--;
		while ((c = getopt_long(argc, argv, "n:", wopts, NULL)) != -1) {
			if (c == 'n')
				ops = parse_u64(optarg, "--ops");
			else if (c == 'k')
				keys = (uint32_t)parse_u64(optarg, "--keys");
			else if (c == 's')
				seed = parse_u64(optarg, "--seed");
			else if (c == 'C')
				clients = (uint32_t)parse_u64(optarg, "--clients");
			else if (c == 'H')
				history = optarg;
			else if (c == 'W')
				wall = true;
			else
				die_usage("workload takes [-n OPS] [--keys K] [--seed S] [--clients C] "
					  "[--history FILE] [--wall-clock]");
		}
		if (keys == 0)
			die_usage("--keys must be at least 1");
		if (clients == 0 || clients > 1000)
			die_usage("--clients must be 1..1000");
		if (clients > 1 && a.key_file != NULL)
			die_usage("--client-key is one client's key: it cannot serve --clients C > 1");
		if (history == NULL && clients == 1)
			return cmd_workload(&a, ops, keys, seed, NULL);
		hist_init(&h, wall);
		rc = clients == 1 ? cmd_workload(&a, ops, keys, seed, &h)
				  : cmd_workload_clients(&a, ops, keys, seed, clients, &h);
		rc = wl_history_done(&a, &h, history, rc);
		hist_free(&h);
		return rc;
	}
	die_usage("unknown command '%s'", cmd);
}
