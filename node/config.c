/*
 * config: reading and validating cluster.ini (format in keys/README.md, API in config.h).
 *
 * How the parse works. inih does the tokenising (sections, "key = value", comments, indented
 * continuation lines), but inih's own error reporting is only "the first bad line number", its
 * section and key buffers silently truncate long names, and (in the packaged version) a line
 * longer than its buffer is silently split in two. So we feed inih through our own reader
 * (cfg_reader): it numbers the lines, refuses over-long lines and NUL bytes before inih sees them,
 * and classifies each line exactly as inih will (blank, comment, continuation, section header,
 * key line), which lets us see section headers that inih does not report (an empty section, a
 * duplicate, an unknown name) and tell a continuation line from a repeated key. inih then calls
 * cfg_handler for each value, which knows the current line from the reader. The first problem in
 * file order is the one reported; after it the rest of the file is only skimmed.
 *
 * Then cfg_finish checks what only the whole file can say: required keys and sections, n and f,
 * ids contiguous, limits consistent with each other, the threshold key sets, endpoints and keys
 * not shared between members.
 */
#include "node/config.h"

#include "crypto/cr_seal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/cr_keyfile.h"

/* ---------------------------------------------------------------------------------------- */
/* Messages */

static void cfg_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cfg_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------------------------------- */
/* Names of enumerated values */

const char *node_protocol_name(enum node_protocol p)
{
	switch (p) {
	case NODE_PROTOCOL_PBFT:
		return "pbft";
	case NODE_PROTOCOL_HBBFT:
		return "hbbft";
	}
	return NULL;
}

const char *node_fsync_name(enum node_fsync f)
{
	switch (f) {
	case NODE_FSYNC_ALWAYS:
		return "always";
	case NODE_FSYNC_BATCH:
		return "batch";
	case NODE_FSYNC_NEVER:
		return "never";
	}
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Endpoints */

/* Characters of a host name or IPv4 address (RFC 1123 labels, plus '_' which some resolvers
 * accept in names). Anything else, a space or a quote, is a typo we would rather report now than
 * as a resolver error at start-up. */
static bool cfg_host_char(int ch)
{
	return isalnum(ch) || ch == '.' || ch == '-' || ch == '_';
}

/* Characters of a bracketed IPv6 address, with an optional zone ("fe80::1%eth0"). */
static bool cfg_host6_char(int ch)
{
	return isalnum(ch) || ch == ':' || ch == '.' || ch == '%';
}

int node_endpoint_parse(const char *text, struct node_endpoint *ep, char *err, size_t errlen)
{
	const char *host, *port, *colon;
	size_t hostlen, portlen;
	uint32_t value = 0;

	if (text == NULL || ep == NULL) {
		cfg_seterr(err, errlen, "internal error: missing argument");
		return -1;
	}
	if (text[0] == '[') {
		const char *rb = strchr(text, ']');

		if (rb == NULL || rb[1] != ':') {
			cfg_seterr(err, errlen, "expected [IPv6 address]:port");
			return -1;
		}
		host = text + 1;
		hostlen = (size_t)(rb - host);
		port = rb + 2;
		for (size_t i = 0; i < hostlen; i++) {
			if (!cfg_host6_char((unsigned char)host[i])) {
				cfg_seterr(err, errlen, "the IPv6 address holds a character that "
					   "cannot be in one");
				return -1;
			}
		}
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			cfg_seterr(err, errlen, "expected host:port");
			return -1;
		}
		if (memchr(text, ':', (size_t)(colon - text)) != NULL) {
			cfg_seterr(err, errlen, "an IPv6 address needs brackets: [address]:port");
			return -1;
		}
		host = text;
		hostlen = (size_t)(colon - text);
		port = colon + 1;
		for (size_t i = 0; i < hostlen; i++) {
			if (!cfg_host_char((unsigned char)host[i])) {
				cfg_seterr(err, errlen, "the host holds a character that cannot be "
					   "in a host name or address");
				return -1;
			}
		}
	}
	if (hostlen == 0) {
		cfg_seterr(err, errlen, "the host is empty");
		return -1;
	}
	if (hostlen > NODE_HOST_MAX) {
		cfg_seterr(err, errlen, "the host is longer than %u characters", NODE_HOST_MAX);
		return -1;
	}
	portlen = strlen(port);
	if (portlen == 0) {
		cfg_seterr(err, errlen, "the port is missing");
		return -1;
	}
	for (size_t i = 0; i < portlen; i++) {
		if (!isdigit((unsigned char)port[i])) {
			cfg_seterr(err, errlen, "the port '%.20s' is not a number", port);
			return -1;
		}
		/* Saturate instead of overflowing: any value past 65535 is equally out of range. */
		if (value <= 65535u)
			value = value * 10u + (uint32_t)(port[i] - '0');
	}
	if (value == 0 || value > 65535u) {
		cfg_seterr(err, errlen, "port %.20s%s is out of range (1..65535)", port,
			   portlen > 20 ? "..." : "");
		return -1;
	}
	memcpy(ep->host, host, hostlen);
	ep->host[hostlen] = '\0';
	ep->port = (uint16_t)value;
	return 0;
}

const char *node_endpoint_format(const struct node_endpoint *ep, char *buf, size_t buflen)
{
	if (buflen == 0)
		return buf;
	if (strchr(ep->host, ':') != NULL)
		snprintf(buf, buflen, "[%s]:%u", ep->host, (unsigned)ep->port);
	else
		snprintf(buf, buflen, "%s:%u", ep->host, (unsigned)ep->port);
	return buf;
}

/* ---------------------------------------------------------------------------------------- */
/* n and f */

int node_config_check_nf(uint32_t n, uint32_t f, char *err, size_t errlen)
{
	/* 64-bit: f comes from a file and 3f+1 must not wrap. */
	uint64_t need = 3u * (uint64_t)f + 1u;

	if ((uint64_t)n < need) {
		cfg_seterr(err, errlen, "%u replica%s cannot tolerate %u fault%s: Byzantine "
			   "agreement needs n >= 3f+1 = %llu", n, n == 1 ? "" : "s", f,
			   f == 1 ? "" : "s", (unsigned long long)need);
		return -1;
	}
	if (n < 4) {
		cfg_seterr(err, errlen, "%u replica%s cannot tolerate any fault: Byzantine "
			   "agreement needs at least 4 replicas (n >= 3f+1 with f >= 1)", n,
			   n == 1 ? "" : "s");
		return -1;
	}
	if (n > NODE_CONFIG_REPLICAS_MAX) {
		cfg_seterr(err, errlen, "%u replicas are too many: at most %u (the threshold key "
			   "sets have at most %u parties)", n, NODE_CONFIG_REPLICAS_MAX,
			   CR_THRESH_N_MAX);
		return -1;
	}
	if (f != bft_f(n)) {
		/* n >= 3f+1 holds, so f < bft_f(n): the operator asked for fewer faults than n
		 * gives. The cores compute quorums from n alone, so the f written here would be a
		 * lie about what the cluster does; make them say the same thing. */
		cfg_seterr(err, errlen, "%u replicas tolerate %u fault%s, not %u: the protocols "
			   "take f = (n-1)/3 (for f = %u use n = %u..%u)", n, bft_f(n),
			   bft_f(n) == 1 ? "" : "s", f, f, 3u * f + 1u, 3u * f + 3u);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Defaults and release */

void node_config_defaults(struct node_config *c)
{
	memset(c, 0, sizeof(*c));
	c->protocol = NODE_PROTOCOL_PBFT;
	c->checkpoint_interval = NODE_CFG_DEFAULT_CHECKPOINT_INTERVAL;
	c->window = NODE_CFG_DEFAULT_WINDOW;
	c->batch_max_requests = NODE_CFG_DEFAULT_BATCH_MAX_REQUESTS;
	c->batch_max_bytes = NODE_CFG_DEFAULT_BATCH_MAX_BYTES;
	c->batch_delay_ms = NODE_CFG_DEFAULT_BATCH_DELAY_MS;
	c->batch_inflight = NODE_CFG_DEFAULT_BATCH_INFLIGHT;
	c->check_wait_ms = NODE_CFG_DEFAULT_CHECK_WAIT_MS;
	c->view_timeout_ms = NODE_CFG_DEFAULT_VIEW_TIMEOUT_MS;
	c->frame_max = NODE_CFG_DEFAULT_FRAME_MAX;
	c->op_max = NODE_CFG_DEFAULT_OP_MAX;
	c->open_clients = false;
	c->open_clients_max = 1024;
	c->client_sessions = true;
	c->unordered_reads = true;
	c->fsync = NODE_FSYNC_ALWAYS;
	c->state_chunk_bytes = NODE_CFG_DEFAULT_STATE_CHUNK_BYTES;
	c->hb_batch_size = NODE_CFG_DEFAULT_HB_BATCH_SIZE;
}

/* Frees the replica entries 0..count-1 and client entries 0..nclients-1 of c. The parser keeps
 * NODE_CONFIG_REPLICAS_MAX replica slots until the end, so it passes its own count. */
static void cfg_free_members(struct node_config *c, uint32_t nreplicas)
{
	if (c->replicas != NULL) {
		for (uint32_t i = 0; i < nreplicas; i++) {
			free(c->replicas[i].key_file);
			free(c->replicas[i].coin_share_file);
			free(c->replicas[i].enc_share_file);
		}
	}
	if (c->clients != NULL) {
		for (uint32_t i = 0; i < c->nclients; i++)
			free(c->clients[i].key_file);
	}
	free(c->replicas);
	free(c->replica_pks);
	free(c->clients);
	free(c->client_pks);
	free(c->path);
}

void node_config_free(struct node_config *c)
{
	if (c == NULL)
		return;
	cfg_free_members(c, c->n);
	memset(c, 0, sizeof(*c));
}

/* ---------------------------------------------------------------------------------------- */
/* The key tables */

enum cfg_type {
	CFG_U32,       /* decimal integer in [min, max] */
	CFG_BOOL,      /* true | false */
	CFG_PROTOCOL,  /* pbft | hbbft */
	CFG_FSYNC,     /* always | batch | never */
	CFG_ENDPOINT,  /* host:port */
	CFG_PUBKEY,    /* 64 hex digits */
	CFG_PATH,      /* a path, resolved against the ini's directory */
	CFG_HEX,       /* long hex, may continue over indented lines ([threshold]) */
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t off;          /* offset of the field in the section's struct (CFG_HEX: buffer no.) */
	uint32_t min, max;   /* CFG_U32 */
	bool required;
};

#define CFG_KEYS_MAX 24

/* Indices of the [cluster] keys, for the checks that relate two of them. */
enum {
	CK_F, CK_N, CK_PROTOCOL, CK_CHECKPOINT_INTERVAL, CK_WINDOW, CK_BATCH_MAX_REQUESTS,
	CK_BATCH_MAX_BYTES, CK_BATCH_DELAY_MS, CK_BATCH_INFLIGHT, CK_VIEW_TIMEOUT_MS, CK_FRAME_MAX,
	CK_OP_MAX, CK_OPEN_CLIENTS, CK_OPEN_CLIENTS_MAX, CK_FSYNC, CK_STATE_CHUNK_BYTES,
	CK_HB_BATCH_SIZE, CK_CLIENT_SESSIONS, CK_CHECK_WAIT_MS, CK_UNORDERED_READS, CK_COUNT
};

#define NC(field) offsetof(struct node_config, field)
/* n and f take any u32 here: node_config_check_nf explains what is wrong with a bad pair far
 * better than a range would. The other ranges are sanity bounds, wide enough for any real
 * cluster, that keep a typo (an extra zero) from becoming a 4 GiB allocation. */
static const struct cfg_key cfg_cluster_keys[CK_COUNT] = {
	[CK_F] = { "f", CFG_U32, NC(f), 0, UINT32_MAX, true },
	[CK_N] = { "n", CFG_U32, NC(n), 0, UINT32_MAX, true },
	[CK_PROTOCOL] = { "protocol", CFG_PROTOCOL, NC(protocol), 0, 0, false },
	[CK_CHECKPOINT_INTERVAL] = { "checkpoint_interval", CFG_U32, NC(checkpoint_interval),
				     1, 1u << 16, false },
	[CK_WINDOW] = { "window", CFG_U32, NC(window), 1, 1u << 20, false },
	[CK_BATCH_MAX_REQUESTS] = { "batch_max_requests", CFG_U32, NC(batch_max_requests),
				    1, 1u << 16, false },
	[CK_BATCH_MAX_BYTES] = { "batch_max_bytes", CFG_U32, NC(batch_max_bytes),
				 1024, 1u << 30, false },
	[CK_BATCH_DELAY_MS] = { "batch_delay_ms", CFG_U32, NC(batch_delay_ms), 0, 60000, false },
	[CK_BATCH_INFLIGHT] = { "batch_inflight", CFG_U32, NC(batch_inflight), 0, 1u << 16, false },
	[CK_CHECK_WAIT_MS] = { "check_wait_ms", CFG_U32, NC(check_wait_ms), 0, 60000, false },
	[CK_VIEW_TIMEOUT_MS] = { "view_timeout_ms", CFG_U32, NC(view_timeout_ms),
				 10, 3600000, false },
	[CK_FRAME_MAX] = { "frame_max", CFG_U32, NC(frame_max), 1u << 16, 1u << 30, false },
	[CK_OP_MAX] = { "op_max", CFG_U32, NC(op_max), 1, 1u << 28, false },
	[CK_OPEN_CLIENTS] = { "open_clients", CFG_BOOL, NC(open_clients), 0, 0, false },
	[CK_OPEN_CLIENTS_MAX] = { "open_clients_max", CFG_U32, NC(open_clients_max), 1, 1u << 20,
				  false },
	[CK_FSYNC] = { "fsync", CFG_FSYNC, NC(fsync), 0, 0, false },
	[CK_STATE_CHUNK_BYTES] = { "state_chunk_bytes", CFG_U32, NC(state_chunk_bytes),
				   1024, 1u << 28, false },
	[CK_HB_BATCH_SIZE] = { "hb_batch_size", CFG_U32, NC(hb_batch_size), 1, 1u << 20, false },
	[CK_CLIENT_SESSIONS] = { "client_sessions", CFG_BOOL, NC(client_sessions), 0, 0, false },
	[CK_UNORDERED_READS] = { "unordered_reads", CFG_BOOL, NC(unordered_reads), 0, 0, false },
};
#undef NC

enum { RK_PEER, RK_CLIENT, RK_STATUS, RK_PUBLIC_KEY, RK_KEY_FILE, RK_COIN_SHARE_FILE,
       RK_ENC_SHARE_FILE, RK_COUNT };

#define NR(field) offsetof(struct node_replica_config, field)
static const struct cfg_key cfg_replica_keys[RK_COUNT] = {
	[RK_PEER] = { "peer", CFG_ENDPOINT, NR(peer), 0, 0, true },
	[RK_CLIENT] = { "client", CFG_ENDPOINT, NR(client), 0, 0, true },
	[RK_STATUS] = { "status", CFG_ENDPOINT, NR(status), 0, 0, false },
	[RK_PUBLIC_KEY] = { "public_key", CFG_PUBKEY, NR(public_key), 0, 0, true },
	[RK_KEY_FILE] = { "key_file", CFG_PATH, NR(key_file), 0, 0, false },
	[RK_COIN_SHARE_FILE] = { "coin_share_file", CFG_PATH, NR(coin_share_file), 0, 0, false },
	[RK_ENC_SHARE_FILE] = { "enc_share_file", CFG_PATH, NR(enc_share_file), 0, 0, false },
};
#undef NR

enum { LK_PUBLIC_KEY, LK_KEY_FILE, LK_COUNT };

#define NL(field) offsetof(struct node_client_config, field)
static const struct cfg_key cfg_client_keys[LK_COUNT] = {
	[LK_PUBLIC_KEY] = { "public_key", CFG_PUBKEY, NL(public_key), 0, 0, true },
	[LK_KEY_FILE] = { "key_file", CFG_PATH, NL(key_file), 0, 0, false },
};
#undef NL

enum { TK_COIN, TK_ENC, TK_COUNT };

static const struct cfg_key cfg_threshold_keys[TK_COUNT] = {
	[TK_COIN] = { "coin_public", CFG_HEX, TK_COIN, 0, 0, true },
	[TK_ENC] = { "enc_public", CFG_HEX, TK_ENC, 0, 0, true },
};

/* struct cfg_sec records a line per key of a section: every table must fit it. */
_Static_assert(CK_COUNT <= CFG_KEYS_MAX && RK_COUNT <= CFG_KEYS_MAX &&
	       LK_COUNT <= CFG_KEYS_MAX && TK_COUNT <= CFG_KEYS_MAX, "raise CFG_KEYS_MAX");
_Static_assert(NODE_CONFIG_REPLICAS_MAX == CR_THRESH_N_MAX,
	       "a replica limit above the threshold key sets' would accept unusable clusters");

/* Hex digits a key set can take: two per byte of the largest encoding. */
#define CFG_HEX_MAX (2u * CR_THRESH_PUBKEY_BYTES_MAX)

/* ---------------------------------------------------------------------------------------- */
/* Parser state */

enum cfg_sec_kind {
	CFG_SEC_NONE = 0,  /* before the first section header */
	CFG_SEC_BAD,       /* a header we rejected: its keys are skipped */
	CFG_SEC_CLUSTER,
	CFG_SEC_THRESHOLD,
	CFG_SEC_REPLICA,
	CFG_SEC_CLIENT,
};

/* One section as the file had it. */
struct cfg_sec {
	int line;                    /* the header's line; 0 when the section is absent */
	int key_line[CFG_KEYS_MAX];  /* the line each key was set on; 0 when unset */
};

struct cfg_parser {
	const char *name;        /* for messages */
	const char *basedir;     /* relative paths are resolved against it; NULL for "." */
	const char *text;
	size_t len, pos;
	int lineno;              /* the line the reader last returned, 1-based */

	/* inih's state as the reader mirrors it. */
	bool prev_key;           /* inih's prev_name is set: an indented line continues it */
	bool cont;               /* the current line is a continuation line */

	/* The current section. */
	enum cfg_sec_kind kind;
	uint32_t num;            /* N of [replica N] / [client N] */
	struct cfg_sec *sec;
	const struct cfg_key *keys;
	size_t nkeys;
	const struct cfg_key *last_key; /* the key the last handler call set, for continuations */

	/* What is being built. */
	struct node_config c;
	struct cfg_sec cluster, threshold;
	struct cfg_sec replica[NODE_CONFIG_REPLICAS_MAX];
	struct cfg_sec *client;  /* c.nclients entries: clients grow as their sections appear */
	uint32_t client_cap;
	char *hex[TK_COUNT];     /* [threshold] values, accumulated over continuation lines */
	size_t hex_len[TK_COUNT];

	/* The first error. */
	bool failed;
	int err_line;
	char *err;
	size_t errlen;
};

static void cfg_fail(struct cfg_parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error only: later ones are often consequences of it. */
static void cfg_fail(struct cfg_parser *p, int line, const char *fmt, ...)
{
	char msg[NODE_CONFIG_ERR_BYTES];
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	p->err_line = line;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		cfg_seterr(p->err, p->errlen, "%s:%d: %s", p->name, line, msg);
	else
		cfg_seterr(p->err, p->errlen, "%s: %s", p->name, msg);
}

/* "[replica 3]" for the current section, into buf. */
static const char *cfg_sec_name(enum cfg_sec_kind kind, uint32_t num, char *buf, size_t buflen)
{
	switch (kind) {
	case CFG_SEC_CLUSTER:
		snprintf(buf, buflen, "[cluster]");
		break;
	case CFG_SEC_THRESHOLD:
		snprintf(buf, buflen, "[threshold]");
		break;
	case CFG_SEC_REPLICA:
		snprintf(buf, buflen, "[replica %u]", num);
		break;
	case CFG_SEC_CLIENT:
		snprintf(buf, buflen, "[client %u]", num);
		break;
	default:
		snprintf(buf, buflen, "(no section)");
		break;
	}
	return buf;
}

/* ---------------------------------------------------------------------------------------- */
/* The reader: line numbers, limits, and what inih will make of each line */

/* As inih's ini_find_chars_or_comment: the first of chars, or an inline ';' comment (which
 * must follow whitespace), or the end. */
static const char *cfg_find_or_comment(const char *s, const char *chars)
{
	bool was_space = false;

	while (*s != '\0' && strchr(chars, *s) == NULL && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s) != 0;
		s++;
	}
	return s;
}

/* Parses a canonical decimal number (no sign, no leading zero) of at most 10 digits. */
static bool cfg_parse_num(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10u + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* A section header line: which section it opens. */
static void cfg_open_section(struct cfg_parser *p, const char *name, size_t len)
{
	struct cfg_sec *sec = NULL;
	enum cfg_sec_kind kind = CFG_SEC_BAD;
	uint64_t num = 0;
	char shown[64];

	p->kind = CFG_SEC_BAD;
	p->sec = NULL;
	p->keys = NULL;
	p->nkeys = 0;
	p->last_key = NULL;
	if (len == 7 && memcmp(name, "cluster", 7) == 0) {
		kind = CFG_SEC_CLUSTER;
		sec = &p->cluster;
	} else if (len == 9 && memcmp(name, "threshold", 9) == 0) {
		kind = CFG_SEC_THRESHOLD;
		sec = &p->threshold;
	} else if (len > 8 && memcmp(name, "replica ", 8) == 0 &&
		   cfg_parse_num(name + 8, len - 8, &num)) {
		kind = CFG_SEC_REPLICA;
		if (num >= NODE_CONFIG_REPLICAS_MAX) {
			cfg_fail(p, p->lineno, "[replica %llu]: replica ids go up to %u (at most "
				 "%u replicas)", (unsigned long long)num,
				 NODE_CONFIG_REPLICAS_MAX - 1, NODE_CONFIG_REPLICAS_MAX);
			return;
		}
		sec = &p->replica[num];
	} else if (len > 7 && memcmp(name, "client ", 7) == 0 &&
		   cfg_parse_num(name + 7, len - 7, &num)) {
		kind = CFG_SEC_CLIENT;
		if (num >= NODE_CONFIG_CLIENTS_MAX) {
			cfg_fail(p, p->lineno, "[client %llu]: client ids go up to %u (at most %u "
				 "clients)", (unsigned long long)num, NODE_CONFIG_CLIENTS_MAX - 1,
				 NODE_CONFIG_CLIENTS_MAX);
			return;
		}
		/* Grow the client arrays to hold id num; the ids between stay absent
		 * (line 0) until their sections appear, and cfg_finish reports gaps. */
		if (num >= p->client_cap) {
			uint32_t cap = p->client_cap ? p->client_cap : 16;
			struct cfg_sec *ns;
			struct node_client_config *nc;

			while (cap <= num)
				cap *= 2;
			if (cap > NODE_CONFIG_CLIENTS_MAX)
				cap = NODE_CONFIG_CLIENTS_MAX;
			ns = realloc(p->client, cap * sizeof(*ns));
			if (ns == NULL) {
				cfg_fail(p, p->lineno, "out of memory");
				return;
			}
			p->client = ns;
			nc = realloc(p->c.clients, cap * sizeof(*nc));
			if (nc == NULL) {
				cfg_fail(p, p->lineno, "out of memory");
				return;
			}
			p->c.clients = nc;
			memset(p->client + p->client_cap, 0,
			       (cap - p->client_cap) * sizeof(*ns));
			memset(p->c.clients + p->client_cap, 0,
			       (cap - p->client_cap) * sizeof(*nc));
			p->client_cap = cap;
		}
		if (num >= p->c.nclients)
			p->c.nclients = (uint32_t)num + 1;
		sec = &p->client[num];
	} else {
		cfg_fail(p, p->lineno, "unknown section [%.*s] (expected [cluster], [threshold], "
			 "[replica N] or [client N])", (int)(len > 40 ? 40 : len), name);
		return;
	}
	if (sec->line != 0) {
		cfg_fail(p, p->lineno, "duplicate section %s (first at line %d)",
			 cfg_sec_name(kind, (uint32_t)num, shown, sizeof(shown)), sec->line);
		return;
	}
	sec->line = p->lineno;
	p->kind = kind;
	p->num = (uint32_t)num;
	p->sec = sec;
	switch (kind) {
	case CFG_SEC_CLUSTER:
		p->keys = cfg_cluster_keys;
		p->nkeys = CK_COUNT;
		break;
	case CFG_SEC_THRESHOLD:
		p->keys = cfg_threshold_keys;
		p->nkeys = TK_COUNT;
		break;
	case CFG_SEC_REPLICA:
		p->keys = cfg_replica_keys;
		p->nkeys = RK_COUNT;
		p->c.replicas[num].id = (bft_replica_id)num;
		break;
	case CFG_SEC_CLIENT:
		p->keys = cfg_client_keys;
		p->nkeys = LK_COUNT;
		p->c.clients[num].id = num;
		break;
	default:
		break;
	}
}

/* Classifies one line the way inih's ini_parse_stream (r55 and later) will: a start-of-line
 * comment, a continuation (leading whitespace while a key is pending), a "[section]" line, or a
 * "key = value" line. Section headers are acted on here; syntax errors are reported here with a
 * better message than inih's bare line number. */
static void cfg_classify(struct cfg_parser *p, const char *line)
{
	const char *s = line, *t, *e;

	if (p->lineno == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
	    (unsigned char)s[2] == 0xBF)
		s += 3;
	t = s;
	while (*t != '\0' && isspace((unsigned char)*t))
		t++;
	if (*t == '\0' || *t == ';' || *t == '#')
		return; /* blank or comment: inih keeps its pending key */
	if (p->prev_key && t > line) {
		p->cont = true;
		return;
	}
	if (*t == '[') {
		e = cfg_find_or_comment(t + 1, "]");
		if (*e != ']') {
			cfg_fail(p, p->lineno, "section header without a closing ']'");
			return;
		}
		p->prev_key = false;
		for (const char *r = e + 1; *r != '\0'; r++) {
			if (*r == ';' || *r == '#')
				break;
			if (!isspace((unsigned char)*r)) {
				cfg_fail(p, p->lineno, "unexpected text after the section header");
				return;
			}
		}
		cfg_open_section(p, t + 1, (size_t)(e - (t + 1)));
		return;
	}
	e = cfg_find_or_comment(t, "=:");
	if (*e != '=' && *e != ':') {
		cfg_fail(p, p->lineno, "syntax error: expected '[section]', 'key = value' or a "
			 "comment");
		return;
	}
	/* inih remembers the key (for continuations) only when its name is not empty. */
	while (e > t && isspace((unsigned char)e[-1]))
		e--;
	p->prev_key = e > t;
}

/* inih's ini_reader: returns the next line, '\n'-terminated, in str[0..num). A line that does
 * not fit is an error here (inih would split it, and the tail would parse as a line of its
 * own); it is cut short so that inih stays in step with our line count. */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_parser *p = stream;
	const char *s, *nl;
	size_t rest, linelen, room;

	if (p->pos >= p->len || num < 3)
		return NULL;
	s = p->text + p->pos;
	rest = p->len - p->pos;
	nl = memchr(s, '\n', rest);
	linelen = nl != NULL ? (size_t)(nl - s) : rest;
	p->pos += linelen + (nl != NULL ? 1u : 0u);
	p->lineno++;
	p->cont = false;

	room = (size_t)num - 2; /* leave room for '\n' and the NUL */
	/* A '\r' before the '\n' is whitespace to inih; it does not count against the limit. */
	if (linelen > room && !(linelen == room + 1 && s[linelen - 1] == '\r')) {
		cfg_fail(p, p->lineno, "line too long (at most %zu characters; a long value "
			 "continues on indented lines)", room);
		linelen = room;
	}
	if (linelen > room)
		linelen = room;
	if (memchr(s, '\0', linelen) != NULL) {
		cfg_fail(p, p->lineno, "NUL byte in the file (cluster.ini is text)");
		linelen = (size_t)((const char *)memchr(s, '\0', linelen) - s);
	}
	memcpy(str, s, linelen);
	str[linelen] = '\n';
	str[linelen + 1] = '\0';
	if (!p->failed) {
		/* Classify without the newline, as inih's rstrip will see it. */
		str[linelen] = '\0';
		cfg_classify(p, str);
		str[linelen] = '\n';
	}
	return str;
}

/* ---------------------------------------------------------------------------------------- */
/* Values */

static int cfg_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decodes 2*len hex digits into out[0..len); the caller checked the length. */
static bool cfg_hex_decode(uint8_t *out, const char *hex, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int hi = cfg_hexval((unsigned char)hex[2 * i]);
		int lo = cfg_hexval((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* Joins a key file path from the ini onto the ini's directory. NULL on overflow or no memory;
 * *toolong tells which. */
static char *cfg_join(const char *basedir, const char *rel, bool *toolong)
{
	size_t blen, rlen = strlen(rel);
	char *out;

	*toolong = false;
	if (rel[0] == '/' || basedir == NULL || basedir[0] == '\0' || strcmp(basedir, ".") == 0) {
		if (rlen > NODE_CONFIG_PATH_MAX) {
			*toolong = true;
			return NULL;
		}
		return strdup(rel);
	}
	blen = strlen(basedir);
	if (blen + 1 + rlen > NODE_CONFIG_PATH_MAX) {
		*toolong = true;
		return NULL;
	}
	out = malloc(blen + 1 + rlen + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, basedir, blen);
	/* "/" as the directory must not become "//name". */
	if (blen > 0 && basedir[blen - 1] == '/')
		blen--;
	out[blen] = '/';
	memcpy(out + blen + 1, rel, rlen + 1);
	return out;
}

/* The struct the current section's keys are fields of. */
static void *cfg_target(struct cfg_parser *p)
{
	switch (p->kind) {
	case CFG_SEC_CLUSTER:
		return &p->c;
	case CFG_SEC_REPLICA:
		return &p->c.replicas[p->num];
	case CFG_SEC_CLIENT:
		return &p->c.clients[p->num];
	default:
		return NULL;
	}
}

/* Appends hex digits to a [threshold] value, checking them as they come so that the error
 * points at the line that holds the bad digit. */
static int cfg_hex_append(struct cfg_parser *p, const struct cfg_key *k, const char *value)
{
	size_t len = strlen(value), i = k->off;
	char sec[32];

	cfg_sec_name(p->kind, p->num, sec, sizeof(sec));
	for (size_t j = 0; j < len; j++) {
		if (cfg_hexval((unsigned char)value[j]) < 0) {
			cfg_fail(p, p->lineno, "bad value for '%s' in %s: not hexadecimal (a key "
				 "set is hex digits, continued on indented lines)", k->name, sec);
			return 0;
		}
	}
	if (p->hex_len[i] + len > CFG_HEX_MAX) {
		cfg_fail(p, p->lineno, "bad value for '%s' in %s: too long (a key set is at most "
			 "%zu hex digits)", k->name, sec, (size_t)CFG_HEX_MAX);
		return 0;
	}
	if (p->hex[i] == NULL) {
		p->hex[i] = malloc(CFG_HEX_MAX + 1);
		if (p->hex[i] == NULL) {
			cfg_fail(p, p->lineno, "out of memory");
			return 0;
		}
	}
	memcpy(p->hex[i] + p->hex_len[i], value, len);
	p->hex_len[i] += len;
	p->hex[i][p->hex_len[i]] = '\0';
	return 1;
}

/* Parses value for key k into the current section. 1 on success, 0 after cfg_fail. */
static int cfg_set(struct cfg_parser *p, const struct cfg_key *k, const char *value)
{
	char sec[32], why[256];
	uint8_t *base = cfg_target(p);
	size_t vlen = strlen(value);
	/* Values are quoted back in messages, shortened: cluster.ini holds no secret, but a
	 * message should stay one readable line. */
	int show = vlen > 48 ? 48 : (int)vlen;
	const char *more = vlen > 48 ? "..." : "";

	cfg_sec_name(p->kind, p->num, sec, sizeof(sec));
	switch (k->type) {
	case CFG_U32: {
		uint64_t v;

		if (!cfg_parse_num(value, vlen, &v) || v < k->min || v > k->max) {
			cfg_fail(p, p->lineno, "bad value '%.*s%s' for '%s' in %s: expected an "
				 "integer in %u..%u", show, value, more, k->name, sec, k->min,
				 k->max);
			return 0;
		}
		memcpy(base + k->off, &(uint32_t){ (uint32_t)v }, sizeof(uint32_t));
		return 1;
	}
	case CFG_BOOL: {
		bool b;

		if (strcmp(value, "true") == 0) {
			b = true;
		} else if (strcmp(value, "false") == 0) {
			b = false;
		} else {
			cfg_fail(p, p->lineno, "bad value '%.*s%s' for '%s' in %s: expected true or "
				 "false", show, value, more, k->name, sec);
			return 0;
		}
		memcpy(base + k->off, &b, sizeof(b));
		return 1;
	}
	case CFG_PROTOCOL: {
		enum node_protocol v;

		if (strcmp(value, "pbft") == 0) {
			v = NODE_PROTOCOL_PBFT;
		} else if (strcmp(value, "hbbft") == 0) {
			v = NODE_PROTOCOL_HBBFT;
		} else {
			cfg_fail(p, p->lineno, "bad value '%.*s%s' for '%s' in %s: expected pbft or "
				 "hbbft", show, value, more, k->name, sec);
			return 0;
		}
		memcpy(base + k->off, &v, sizeof(v));
		return 1;
	}
	case CFG_FSYNC: {
		enum node_fsync v;

		if (strcmp(value, "always") == 0) {
			v = NODE_FSYNC_ALWAYS;
		} else if (strcmp(value, "batch") == 0) {
			v = NODE_FSYNC_BATCH;
		} else if (strcmp(value, "never") == 0) {
			v = NODE_FSYNC_NEVER;
		} else {
			cfg_fail(p, p->lineno, "bad value '%.*s%s' for '%s' in %s: expected always, "
				 "batch or never", show, value, more, k->name, sec);
			return 0;
		}
		memcpy(base + k->off, &v, sizeof(v));
		return 1;
	}
	case CFG_ENDPOINT: {
		struct node_endpoint ep;

		if (node_endpoint_parse(value, &ep, why, sizeof(why)) != 0) {
			cfg_fail(p, p->lineno, "bad value '%.*s%s' for '%s' in %s: %s", show, value,
				 more, k->name, sec, why);
			return 0;
		}
		memcpy(base + k->off, &ep, sizeof(ep));
		return 1;
	}
	case CFG_PUBKEY: {
		uint8_t pk[CR_PK_BYTES];

		if (vlen != 2 * CR_PK_BYTES) {
			cfg_fail(p, p->lineno, "bad value for '%s' in %s: expected %u hex digits "
				 "(a %u-byte Ed25519 public key), got %zu characters", k->name, sec,
				 2 * CR_PK_BYTES, CR_PK_BYTES, vlen);
			return 0;
		}
		if (!cfg_hex_decode(pk, value, CR_PK_BYTES)) {
			cfg_fail(p, p->lineno, "bad value for '%s' in %s: expected %u hex digits "
				 "(a %u-byte Ed25519 public key), found a character that is not a "
				 "hex digit", k->name, sec, 2 * CR_PK_BYTES, CR_PK_BYTES);
			return 0;
		}
		memcpy(base + k->off, pk, sizeof(pk));
		return 1;
	}
	case CFG_PATH: {
		bool toolong;
		char *path;

		if (vlen == 0) {
			cfg_fail(p, p->lineno, "bad value for '%s' in %s: expected a path", k->name,
				 sec);
			return 0;
		}
		for (size_t i = 0; i < vlen; i++) {
			if (iscntrl((unsigned char)value[i])) {
				cfg_fail(p, p->lineno, "bad value for '%s' in %s: the path holds a "
					 "control character", k->name, sec);
				return 0;
			}
		}
		path = cfg_join(p->basedir, value, &toolong);
		if (path == NULL) {
			if (toolong)
				cfg_fail(p, p->lineno, "bad value for '%s' in %s: the path is "
					 "longer than %u bytes (after joining it to the directory "
					 "of %s)", k->name, sec, NODE_CONFIG_PATH_MAX, p->name);
			else
				cfg_fail(p, p->lineno, "out of memory");
			return 0;
		}
		memcpy(base + k->off, &path, sizeof(path));
		return 1;
	}
	case CFG_HEX:
		return cfg_hex_append(p, k, value);
	}
	cfg_fail(p, p->lineno, "internal error: key type %d", (int)k->type);
	return 0;
}

/* inih's handler: one "key = value" (or one continuation line) of the current section. */
static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_parser *p = user;
	const struct cfg_key *k = NULL;
	char sec[32];
	size_t idx;

	(void)section; /* the reader's view of the section is exact; inih's is truncated */
	if (p->failed)
		return 1; /* the first error is recorded; skim the rest */
	if (p->cont) {
		if (p->last_key == NULL || p->last_key->type != CFG_HEX) {
			cfg_fail(p, p->lineno, "unexpected indented line: it would continue the "
				 "value of '%s', which is one line (only the [threshold] key sets "
				 "continue on indented lines)", name);
			return 0;
		}
		return cfg_hex_append(p, p->last_key, value);
	}
	p->last_key = NULL;
	if (p->kind == CFG_SEC_NONE) {
		cfg_fail(p, p->lineno, "key '%.40s' outside any section", name);
		return 0;
	}
	if (p->kind == CFG_SEC_BAD)
		return 1; /* unreachable: a bad header already failed the parse */
	for (idx = 0; idx < p->nkeys; idx++) {
		if (strcmp(p->keys[idx].name, name) == 0) {
			k = &p->keys[idx];
			break;
		}
	}
	cfg_sec_name(p->kind, p->num, sec, sizeof(sec));
	if (k == NULL) {
		cfg_fail(p, p->lineno, "unknown key '%.40s' in %s", name, sec);
		return 0;
	}
	if (p->sec->key_line[idx] != 0) {
		cfg_fail(p, p->lineno, "duplicate key '%s' in %s (first at line %d)", k->name, sec,
			 p->sec->key_line[idx]);
		return 0;
	}
	p->sec->key_line[idx] = p->lineno;
	p->last_key = k;
	return cfg_set(p, k, value);
}

/* ---------------------------------------------------------------------------------------- */
/* Whole-file checks */

/* The line to blame for a problem between keys a and b of one section: the later of the two
 * that were written, or the section header when neither was. */
static int cfg_line2(const struct cfg_sec *s, size_t a, size_t b)
{
	int l = s->key_line[a] > s->key_line[b] ? s->key_line[a] : s->key_line[b];

	return l != 0 ? l : s->line;
}

/* Every required key of a present section is there. */
static int cfg_check_required(struct cfg_parser *p, const struct cfg_sec *s,
			      const struct cfg_key *keys, size_t nkeys, enum cfg_sec_kind kind,
			      uint32_t num)
{
	char sec[32];

	for (size_t i = 0; i < nkeys; i++) {
		if (keys[i].required && s->key_line[i] == 0) {
			cfg_fail(p, s->line, "%s is missing '%s'",
				 cfg_sec_name(kind, num, sec, sizeof(sec)), keys[i].name);
			return -1;
		}
	}
	return 0;
}

static int cfg_check_cluster(struct cfg_parser *p)
{
	const struct cfg_sec *s = &p->cluster;
	struct node_config *c = &p->c;
	char why[256];

	if (s->line == 0) {
		cfg_fail(p, 0, "missing section [cluster]");
		return -1;
	}
	if (cfg_check_required(p, s, cfg_cluster_keys, CK_COUNT, CFG_SEC_CLUSTER, 0) != 0)
		return -1;
	if (node_config_check_nf(c->n, c->f, why, sizeof(why)) != 0) {
		cfg_fail(p, cfg_line2(s, CK_N, CK_F), "%s", why);
		return -1;
	}
	/* PBFT §4.3: the window must hold at least one checkpoint interval, or the log would
	 * fill before a checkpoint could make room in it. */
	if (c->window < c->checkpoint_interval) {
		cfg_fail(p, cfg_line2(s, CK_WINDOW, CK_CHECKPOINT_INTERVAL), "window (%u) must be at "
			 "least checkpoint_interval (%u)", c->window, c->checkpoint_interval);
		return -1;
	}
	if (c->batch_max_bytes > c->frame_max - NODE_CONFIG_FRAME_SLACK) {
		cfg_fail(p, cfg_line2(s, CK_BATCH_MAX_BYTES, CK_FRAME_MAX), "batch_max_bytes (%u) "
			 "must leave %u bytes of frame_max (%u) for the message around the batch",
			 c->batch_max_bytes, NODE_CONFIG_FRAME_SLACK, c->frame_max);
		return -1;
	}
	/* A batch always takes its first request whatever its size (bft_log_batch_take), so
	 * the largest request must fit a frame as well as the largest batch. */
	if (c->op_max > c->frame_max - NODE_CONFIG_FRAME_SLACK) {
		cfg_fail(p, cfg_line2(s, CK_OP_MAX, CK_FRAME_MAX), "op_max (%u) must leave %u bytes "
			 "of frame_max (%u) for the request and the message around it", c->op_max,
			 NODE_CONFIG_FRAME_SLACK, c->frame_max);
		return -1;
	}
	if (c->state_chunk_bytes > c->frame_max - NODE_CONFIG_FRAME_SLACK) {
		cfg_fail(p, cfg_line2(s, CK_STATE_CHUNK_BYTES, CK_FRAME_MAX), "state_chunk_bytes "
			 "(%u) must leave %u bytes of frame_max (%u) for the message around the "
			 "chunk", c->state_chunk_bytes, NODE_CONFIG_FRAME_SLACK, c->frame_max);
		return -1;
	}
	/* Honey Badger §4.2: each of the n proposers takes B/n requests; B < n would give
	 * replicas empty proposals every epoch. */
	if (c->hb_batch_size < c->n) {
		cfg_fail(p, cfg_line2(s, CK_HB_BATCH_SIZE, CK_N), "hb_batch_size (%u) must be at "
			 "least n (%u): each replica proposes hb_batch_size / n requests per epoch",
			 c->hb_batch_size, c->n);
		return -1;
	}
	return 0;
}

/* Fills a defaulted key file path of a member: kind-id suffix ("replica-3.coin"). */
static int cfg_default_path(struct cfg_parser *p, char **field, const char *kind, uint32_t id,
			    const char *suffix)
{
	char rel[64];
	bool toolong;

	if (*field != NULL)
		return 0;
	snprintf(rel, sizeof(rel), "%s-%u%s", kind, id, suffix);
	*field = cfg_join(p->basedir, rel, &toolong);
	if (*field == NULL) {
		if (toolong)
			cfg_fail(p, 0, "the directory of %s is too long for the key file paths "
				 "(at most %u bytes)", p->name, NODE_CONFIG_PATH_MAX);
		else
			cfg_fail(p, 0, "out of memory");
		return -1;
	}
	return 0;
}

static int cfg_check_members(struct cfg_parser *p)
{
	struct node_config *c = &p->c;

	for (uint32_t i = 0; i < NODE_CONFIG_REPLICAS_MAX; i++) {
		const struct cfg_sec *s = &p->replica[i];

		if (i >= c->n && s->line != 0) {
			cfg_fail(p, s->line, "[replica %u] is out of range: n = %u replicas are "
				 "numbered 0..%u", i, c->n, c->n - 1);
			return -1;
		}
		if (i < c->n && s->line == 0) {
			cfg_fail(p, 0, "missing section [replica %u] (n = %u: [replica 0] .. "
				 "[replica %u] must all be present)", i, c->n, c->n - 1);
			return -1;
		}
		if (i >= c->n)
			continue;
		if (cfg_check_required(p, s, cfg_replica_keys, RK_COUNT, CFG_SEC_REPLICA, i) != 0 ||
		    cfg_default_path(p, &c->replicas[i].key_file, "replica", i, ".key") != 0 ||
		    cfg_default_path(p, &c->replicas[i].coin_share_file, "replica", i,
				     ".coin") != 0 ||
		    cfg_default_path(p, &c->replicas[i].enc_share_file, "replica", i,
				     ".enc") != 0)
			return -1;
	}
	for (uint32_t i = 0; i < c->nclients; i++) {
		const struct cfg_sec *s = &p->client[i];

		if (s->line == 0) {
			cfg_fail(p, 0, "missing section [client %u] (clients are numbered 0..%u with "
				 "no gaps)", i, c->nclients - 1);
			return -1;
		}
		if (cfg_check_required(p, s, cfg_client_keys, LK_COUNT, CFG_SEC_CLIENT, i) != 0 ||
		    cfg_default_path(p, &c->clients[i].key_file, "client", i, ".key") != 0)
			return -1;
	}
	return 0;
}

/* Decodes and checks one [threshold] key set against the cluster. */
static int cfg_check_keyset(struct cfg_parser *p, size_t which, enum cr_thresh_purpose purpose,
			    struct cr_thresh_pubkey *out)
{
	const struct cfg_key *k = &cfg_threshold_keys[which];
	int line = p->threshold.key_line[which];
	size_t hexlen = p->hex_len[which], len = hexlen / 2;
	uint8_t *bytes;
	struct cr_thresh_pubkey pk;
	int rc = -1;

	if (hexlen == 0 || hexlen % 2 != 0) {
		cfg_fail(p, line, "bad value for '%s' in [threshold]: %zu hex digits (a key set "
			 "is an even, non-zero number of them)", k->name, hexlen);
		return -1;
	}
	bytes = malloc(len);
	if (bytes == NULL) {
		cfg_fail(p, line, "out of memory");
		return -1;
	}
	/* Digits were checked as they arrived; this cannot fail. */
	if (!cfg_hex_decode(bytes, p->hex[which], len)) {
		cfg_fail(p, line, "internal error: hex digits changed");
		goto out;
	}
	/* A truncated or padded set is the likeliest damage (a line lost in copying): say so
	 * when the header is intact enough to tell the length it should have. */
	if (len >= 8 && bytes[0] == CR_THRESH_VERSION &&
	    ((uint32_t)bytes[2] | (uint32_t)bytes[3] << 8) >= 1 &&
	    ((uint32_t)bytes[2] | (uint32_t)bytes[3] << 8) <= CR_THRESH_N_MAX &&
	    len != CR_THRESH_PUBKEY_BYTES((uint32_t)bytes[2] | (uint32_t)bytes[3] << 8)) {
		uint32_t kn = (uint32_t)bytes[2] | (uint32_t)bytes[3] << 8;

		cfg_fail(p, line, "bad value for '%s' in [threshold]: %zu bytes, but a key set for "
			 "n = %u is %zu", k->name, len, kn, CR_THRESH_PUBKEY_BYTES(kn));
		goto out;
	}
	if (cr_thresh_pubkey_decode(&pk, bytes, len) != 0) {
		cfg_fail(p, line, "bad value for '%s' in [threshold]: not a valid key set (a bad "
			 "header or point, or keys that do not lie on one polynomial)", k->name);
		goto out;
	}
	if (pk.purpose != (uint32_t)purpose) {
		cfg_fail(p, line, "bad value for '%s' in [threshold]: this is the %s key set "
			 "(coin_public and enc_public swapped?)", k->name,
			 pk.purpose == CR_THRESH_COIN ? "coin" : "encryption");
		goto out;
	}
	if (pk.n != p->c.n || pk.f != p->c.f) {
		cfg_fail(p, line, "bad value for '%s' in [threshold]: a key set for n = %u, f = %u, "
			 "but the cluster has n = %u, f = %u", k->name, pk.n, pk.f, p->c.n, p->c.f);
		goto out;
	}
	*out = pk;
	rc = 0;
out:
	free(bytes);
	return rc;
}

static int cfg_check_threshold(struct cfg_parser *p)
{
	if (p->threshold.line == 0) {
		if (p->c.protocol == NODE_PROTOCOL_HBBFT) {
			cfg_fail(p, 0, "missing section [threshold] (protocol = hbbft needs the "
				 "coin_public and enc_public key sets)");
			return -1;
		}
		return 0;
	}
	if (cfg_check_required(p, &p->threshold, cfg_threshold_keys, TK_COUNT, CFG_SEC_THRESHOLD,
			       0) != 0 ||
	    cfg_check_keyset(p, TK_COIN, CR_THRESH_COIN, &p->c.coin_pk) != 0 ||
	    cfg_check_keyset(p, TK_ENC, CR_THRESH_ENC, &p->c.enc_pk) != 0)
		return -1;
	p->c.has_threshold = true;
	return 0;
}

/* No two endpoints of the replicas are the same: two replicas bound to one port would each see
 * the other's traffic, or one would fail to start long after the config was accepted. */
static int cfg_check_endpoints(struct cfg_parser *p)
{
	static const size_t keys[3] = { RK_PEER, RK_CLIENT, RK_STATUS };
	const struct node_config *c = &p->c;
	uint32_t total = c->n * 3;

	for (uint32_t a = 0; a < total; a++) {
		const struct node_replica_config *ra = &c->replicas[a / 3];
		const struct node_endpoint *ea = a % 3 == 0 ? &ra->peer :
						 a % 3 == 1 ? &ra->client : &ra->status;

		if (ea->port == 0)
			continue;
		for (uint32_t b = 0; b < a; b++) {
			const struct node_replica_config *rb = &c->replicas[b / 3];
			const struct node_endpoint *eb = b % 3 == 0 ? &rb->peer :
							 b % 3 == 1 ? &rb->client : &rb->status;
			char shown[NODE_HOST_MAX + 16];

			if (eb->port != ea->port || strcasecmp(ea->host, eb->host) != 0)
				continue;
			cfg_fail(p, p->replica[a / 3].key_line[keys[a % 3]], "'%s' of [replica %u] "
				 "(%s) is already used by '%s' of [replica %u]",
				 cfg_replica_keys[keys[a % 3]].name, a / 3,
				 node_endpoint_format(ea, shown, sizeof(shown)),
				 cfg_replica_keys[keys[b % 3]].name, b / 3);
			return -1;
		}
	}
	return 0;
}

/* One public key of a member, for the duplicate check. */
struct cfg_pkref {
	const uint8_t *pk;
	enum cfg_sec_kind kind;
	uint32_t id;
	int line;
};

static int cfg_pkref_cmp(const void *a, const void *b)
{
	const struct cfg_pkref *x = a, *y = b;
	int d = memcmp(x->pk, y->pk, CR_PK_BYTES);

	if (d != 0)
		return d;
	return (x->line > y->line) - (x->line < y->line);
}

/* Every replica and client has its own key: two members sharing one could sign as each other,
 * and a replica key reused as a client key usually means a copy-paste mistake. */
static int cfg_check_unique_keys(struct cfg_parser *p)
{
	const struct node_config *c = &p->c;
	size_t count = (size_t)c->n + c->nclients, k = 0;
	struct cfg_pkref *refs = calloc(count, sizeof(*refs));

	if (refs == NULL) {
		cfg_fail(p, 0, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < c->n; i++)
		refs[k++] = (struct cfg_pkref){ c->replicas[i].public_key, CFG_SEC_REPLICA, i,
						p->replica[i].key_line[RK_PUBLIC_KEY] };
	for (uint32_t i = 0; i < c->nclients; i++)
		refs[k++] = (struct cfg_pkref){ c->clients[i].public_key, CFG_SEC_CLIENT, i,
						p->client[i].key_line[LK_PUBLIC_KEY] };
	qsort(refs, count, sizeof(*refs), cfg_pkref_cmp);
	for (size_t i = 1; i < count; i++) {
		char a[32], b[32];

		if (memcmp(refs[i - 1].pk, refs[i].pk, CR_PK_BYTES) != 0)
			continue;
		cfg_fail(p, refs[i].line, "public_key of %s is the same as that of %s: every "
			 "replica and client needs its own key",
			 cfg_sec_name(refs[i].kind, refs[i].id, a, sizeof(a)),
			 cfg_sec_name(refs[i - 1].kind, refs[i - 1].id, b, sizeof(b)));
		free(refs);
		return -1;
	}
	free(refs);
	return 0;
}

/* Copies the public keys into the contiguous arrays the protocol cores borrow. */
static int cfg_pack_keys(struct cfg_parser *p)
{
	struct node_config *c = &p->c;

	c->replica_pks = calloc(c->n, CR_PK_BYTES);
	if (c->replica_pks == NULL)
		goto nomem;
	for (uint32_t i = 0; i < c->n; i++)
		memcpy(c->replica_pks[i], c->replicas[i].public_key, CR_PK_BYTES);
	if (c->nclients > 0) {
		c->client_pks = calloc(c->nclients, CR_PK_BYTES);
		if (c->client_pks == NULL)
			goto nomem;
		for (uint32_t i = 0; i < c->nclients; i++)
			memcpy(c->client_pks[i], c->clients[i].public_key, CR_PK_BYTES);
	}
	return 0;
nomem:
	cfg_fail(p, 0, "out of memory");
	return -1;
}

static int cfg_finish(struct cfg_parser *p)
{
	if (cfg_check_cluster(p) != 0 || cfg_check_members(p) != 0 ||
	    cfg_check_threshold(p) != 0 || cfg_check_endpoints(p) != 0 ||
	    cfg_check_unique_keys(p) != 0 || cfg_pack_keys(p) != 0)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Entry points */

int node_config_parse(struct node_config *c, const char *name, const char *text, size_t len,
		      const char *basedir, char *err, size_t errlen)
{
	struct cfg_parser *p;
	int rc = -1, line;

	if (c == NULL || name == NULL || (text == NULL && len > 0)) {
		cfg_seterr(err, errlen, "config: internal error: missing argument");
		return -1;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		cfg_seterr(err, errlen, "%s: out of memory", name);
		return -1;
	}
	p->name = name;
	p->basedir = basedir;
	p->text = text;
	p->len = len;
	p->err = err;
	p->errlen = errlen;
	node_config_defaults(&p->c);
	/* Replica slots for every possible id: n is not known until [cluster] is read, which
	 * may come after the replica sections. */
	p->c.replicas = calloc(NODE_CONFIG_REPLICAS_MAX, sizeof(*p->c.replicas));
	p->c.path = strdup(name);
	if (p->c.replicas == NULL || p->c.path == NULL) {
		cfg_fail(p, 0, "out of memory");
		goto out;
	}
	line = ini_parse_stream(cfg_reader, p, cfg_handler, p);
	/* inih reports the first line it found wrong; ours is the first we found wrong. Both
	 * scan in file order, so the earlier one is the first problem in the file. The reader
	 * anticipates inih's syntax errors, so a line only inih objects to means the two
	 * disagree about the syntax; report it plainly rather than not at all. */
	if (line > 0 && (!p->failed || line < p->err_line)) {
		p->failed = false;
		cfg_fail(p, line, "syntax error");
	} else if (line < 0 && !p->failed) {
		cfg_fail(p, 0, "the ini parser failed (%d)", line);
	}
	if (p->failed || cfg_finish(p) != 0)
		goto out;
	/* Keep only the n replica slots in use. */
	{
		struct node_replica_config *r = realloc(p->c.replicas, p->c.n * sizeof(*r));

		if (r != NULL)
			p->c.replicas = r;
	}
	*c = p->c;
	memset(&p->c, 0, sizeof(p->c));
	rc = 0;
out:
	if (rc != 0)
		cfg_free_members(&p->c, NODE_CONFIG_REPLICAS_MAX);
	free(p->client);
	for (size_t i = 0; i < TK_COUNT; i++)
		free(p->hex[i]);
	free(p);
	return rc;
}

int node_config_load(struct node_config *c, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL, *dir = NULL;
	const char *slash;
	size_t n = 0;
	int fd, rc = -1;

	if (c == NULL || path == NULL) {
		cfg_seterr(err, errlen, "config: internal error: missing argument");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			cfg_seterr(err, errlen, "%s: no such file", path);
		else
			cfg_seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		cfg_seterr(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cfg_seterr(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > (off_t)NODE_CONFIG_FILE_MAX) {
		cfg_seterr(err, errlen, "%s: too large (%lld bytes; a cluster configuration is at "
			   "most %u)", path, (long long)st.st_size, NODE_CONFIG_FILE_MAX);
		goto out;
	}
	/* One byte beyond the limit tells a file that grew since fstat from one that fits. */
	text = malloc(NODE_CONFIG_FILE_MAX + 1);
	if (text == NULL) {
		cfg_seterr(err, errlen, "%s: out of memory", path);
		goto out;
	}
	while (n < NODE_CONFIG_FILE_MAX + 1) {
		ssize_t r = read(fd, text + n, NODE_CONFIG_FILE_MAX + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cfg_seterr(err, errlen, "%s: read error: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > NODE_CONFIG_FILE_MAX) {
		cfg_seterr(err, errlen, "%s: too large (a cluster configuration is at most %u "
			   "bytes)", path, NODE_CONFIG_FILE_MAX);
		goto out;
	}
	/* Key file paths in the file are relative to the file's own directory, so that a
	 * cluster directory can be moved or copied whole. */
	slash = strrchr(path, '/');
	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL) {
		cfg_seterr(err, errlen, "%s: out of memory", path);
		goto out;
	}
	rc = node_config_parse(c, path, text, n, dir, err, errlen);
out:
	free(dir);
	free(text);
	close(fd);
	return rc;
}

uint64_t node_config_client_ids(const struct node_config *c)
{
	return c->open_clients ? (uint64_t)c->nclients + c->open_clients_max + 1 : c->nclients;
}

void node_config_wire_limits(const struct node_config *c, struct wire_limits *l)
{
	wire_limits_default(l, c->n, node_config_client_ids(c));
	l->frame_max = c->frame_max;
	l->op_max = c->op_max;
	l->batch_max = c->batch_max_requests;
	if (c->protocol == NODE_PROTOCOL_HBBFT && c->hb_batch_size > l->batch_max)
		l->batch_max = c->hb_batch_size;
	l->chunk_max = c->state_chunk_bytes;
}

/* ---------------------------------------------------------------------------------------- */
/* Secret keys */

/* Checks that a key file belongs to the member that names it. */
static int cfg_check_owner(const struct node_config *c, const char *sec, const char *field,
			   const char *path, const struct cr_key_id *owner, enum cr_key_role role,
			   uint64_t id, char *err, size_t errlen)
{
	char got[48];

	if (owner->role == role && owner->num == id)
		return 0;
	cfg_seterr(err, errlen, "%s: %s %s: %s belongs to %s, not to %s", c->path, sec, field,
		   path, cr_key_id_format(owner, got, sizeof(got)), sec);
	return -1;
}

/* Loads one threshold share of replica id into *out (a read-only struct cr_thresh_share). */
static int cfg_load_share(const struct node_config *c, bft_replica_id id, const char *field,
			  const char *path, enum cr_key_kind kind, enum cr_thresh_purpose purpose,
			  const struct cr_thresh_pubkey *pk, struct cr_secret *out, char *err,
			  size_t errlen)
{
	char inner[CR_KEYFILE_ERR_BYTES], sec[32];
	struct cr_secret x = { 0 }, s = { 0 };
	struct cr_thresh_share *share;
	struct cr_key_id owner;
	int rc = -1;

	snprintf(sec, sizeof(sec), "[replica %u]", id);
	if (cr_keyfile_read_secret(path, kind, &owner, &x, inner, sizeof(inner)) != 0) {
		cfg_seterr(err, errlen, "%s: %s %s: %s", c->path, sec, field, inner);
		return -1;
	}
	if (cfg_check_owner(c, sec, field, path, &owner, CR_KEY_REPLICA, id, err, errlen) != 0)
		goto out;
	/* sodium_malloc memory ends at a page boundary, so it is aligned for the struct only
	 * because the struct's size is a multiple of its alignment (40 = 5 * 8). */
	if (cr_secret_alloc(&s, sizeof(struct cr_thresh_share)) != 0) {
		cfg_seterr(err, errlen, "%s: %s %s: out of secure memory", c->path, sec, field);
		goto out;
	}
	share = (struct cr_thresh_share *)(void *)s.p;
	if (cr_thresh_share_from_parts(share, purpose, id + 1, x.p) != 0 ||
	    cr_thresh_share_check(pk, share) != 0) {
		cfg_seterr(err, errlen, "%s: %s %s: %s is not this replica's share of the "
			   "[threshold] %s key set (keys from another bftkeygen run?)", c->path, sec,
			   field, path, purpose == CR_THRESH_COIN ? "coin_public" : "enc_public");
		goto out;
	}
	if (cr_secret_readonly(&s) != 0) {
		cfg_seterr(err, errlen, "%s: %s %s: cannot make the share read-only", c->path, sec,
			   field);
		goto out;
	}
	*out = s;
	s.p = NULL;
	rc = 0;
out:
	cr_secret_free(&s);
	cr_secret_free(&x);
	return rc;
}

int node_config_load_replica_keys(const struct node_config *c, bft_replica_id id,
				  struct node_replica_keys *k, char *err, size_t errlen)
{
	struct node_replica_keys tmp;
	const struct node_replica_config *r;
	char inner[CR_KEYFILE_ERR_BYTES], sec[32];
	struct cr_key_id owner;

	if (k == NULL || c == NULL) {
		cfg_seterr(err, errlen, "config: internal error: missing argument");
		return -1;
	}
	memset(k, 0, sizeof(*k));
	memset(&tmp, 0, sizeof(tmp));
	if (id >= c->n) {
		cfg_seterr(err, errlen, "%s: there is no [replica %u]: the cluster's n = %u replicas "
			   "are numbered 0..%u", c->path, id, c->n, c->n - 1);
		return -1;
	}
	r = &c->replicas[id];
	snprintf(sec, sizeof(sec), "[replica %u]", id);
	tmp.id = id;
	if (cr_keyfile_read_identity(r->key_file, &owner, &tmp.ident, inner, sizeof(inner)) != 0) {
		cfg_seterr(err, errlen, "%s: %s key_file: %s", c->path, sec, inner);
		return -1;
	}
	if (cfg_check_owner(c, sec, "key_file", r->key_file, &owner, CR_KEY_REPLICA, id, err,
			    errlen) != 0)
		goto fail;
	if (memcmp(tmp.ident.pk, r->public_key, CR_PK_BYTES) != 0) {
		cfg_seterr(err, errlen, "%s: %s key_file: %s holds a key whose public half is not "
			   "the public_key of %s", c->path, sec, r->key_file, sec);
		goto fail;
	}
	/* The threshold shares serve Honey Badger only; a PBFT replica does not need them on
	 * disk, so it does not read them. */
	if (c->protocol == NODE_PROTOCOL_HBBFT) {
		if (!c->has_threshold) {
			cfg_seterr(err, errlen, "%s: internal error: hbbft without [threshold]",
				   c->path);
			goto fail;
		}
		if (cfg_load_share(c, id, "coin_share_file", r->coin_share_file, CR_KEY_COIN_SHARE,
				   CR_THRESH_COIN, &c->coin_pk, &tmp.coin, err, errlen) != 0 ||
		    cfg_load_share(c, id, "enc_share_file", r->enc_share_file, CR_KEY_ENC_SHARE,
				   CR_THRESH_ENC, &c->enc_pk, &tmp.enc, err, errlen) != 0)
			goto fail;
	}
	/* Link keys for the transport's authenticated mesh hello (net.h): one X25519 agreement
	 * per peer at start-up. */
	if (cr_secret_alloc(&tmp.link, 2u * c->n * CR_LINK_KEY_BYTES) != 0) {
		cfg_seterr(err, errlen, "%s: out of secure memory for link keys", c->path);
		goto fail;
	}
	for (uint32_t j = 0; j < c->n; j++) {
		uint8_t *out = tmp.link.p + (size_t)j * CR_LINK_KEY_BYTES;
		uint8_t *in = tmp.link.p + ((size_t)c->n + j) * CR_LINK_KEY_BYTES;
		if (j == id)
			continue;
		if (cr_link_key(out, &tmp.ident, c->replicas[j].public_key, id, j) != 0 ||
		    cr_link_key(in, &tmp.ident, c->replicas[j].public_key, j, id) != 0) {
			cfg_seterr(err, errlen, "%s: [replica %u] public_key has no X25519 form (link "
				   "key)", c->path, j);
			goto fail;
		}
	}
	if (cr_secret_readonly(&tmp.link) != 0) {
		cfg_seterr(err, errlen, "%s: cannot protect the link keys", c->path);
		goto fail;
	}
	*k = tmp;
	return 0;
fail:
	node_replica_keys_free(&tmp);
	return -1;
}

void node_replica_keys_free(struct node_replica_keys *k)
{
	if (k == NULL)
		return;
	cr_identity_free(&k->ident);
	cr_secret_free(&k->coin);
	cr_secret_free(&k->enc);
	cr_secret_free(&k->link);
	memset(k, 0, sizeof(*k));
}

const uint8_t *node_replica_keys_link_out(const struct node_replica_keys *k)
{
	return k->link.p;
}

const uint8_t *node_replica_keys_link_in(const struct node_replica_keys *k, uint32_t n)
{
	return k->link.p != NULL ? k->link.p + (size_t)n * CR_LINK_KEY_BYTES : NULL;
}

const struct cr_thresh_share *node_replica_keys_coin(const struct node_replica_keys *k)
{
	return k->coin.p != NULL ? (const struct cr_thresh_share *)(const void *)k->coin.p : NULL;
}

const struct cr_thresh_share *node_replica_keys_enc(const struct node_replica_keys *k)
{
	return k->enc.p != NULL ? (const struct cr_thresh_share *)(const void *)k->enc.p : NULL;
}

int node_config_load_client_identity(const struct node_config *c, bft_client_id id,
				     struct cr_identity *ident, char *err, size_t errlen)
{
	struct cr_identity tmp = { 0 };
	const struct node_client_config *cl;
	char inner[CR_KEYFILE_ERR_BYTES], sec[48];
	struct cr_key_id owner;

	if (c == NULL || ident == NULL) {
		cfg_seterr(err, errlen, "config: internal error: missing argument");
		return -1;
	}
	memset(ident, 0, sizeof(*ident));
	if (id >= c->nclients) {
		if (c->nclients == 0)
			cfg_seterr(err, errlen, "%s: there is no [client %llu]: the cluster lists no "
				   "clients", c->path, (unsigned long long)id);
		else
			cfg_seterr(err, errlen, "%s: there is no [client %llu]: the clients are "
				   "numbered 0..%u", c->path, (unsigned long long)id,
				   c->nclients - 1);
		return -1;
	}
	cl = &c->clients[id];
	snprintf(sec, sizeof(sec), "[client %llu]", (unsigned long long)id);
	if (cr_keyfile_read_identity(cl->key_file, &owner, &tmp, inner, sizeof(inner)) != 0) {
		cfg_seterr(err, errlen, "%s: %s key_file: %s", c->path, sec, inner);
		return -1;
	}
	if (cfg_check_owner(c, sec, "key_file", cl->key_file, &owner, CR_KEY_CLIENT, id, err,
			    errlen) != 0)
		goto fail;
	if (memcmp(tmp.pk, cl->public_key, CR_PK_BYTES) != 0) {
		cfg_seterr(err, errlen, "%s: %s key_file: %s holds a key whose public half is not "
			   "the public_key of %s", c->path, sec, cl->key_file, sec);
		goto fail;
	}
	*ident = tmp;
	return 0;
fail:
	cr_identity_free(&tmp);
	return -1;
}
