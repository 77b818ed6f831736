/*
 * keygen: bftkeygen's work (keygen.h). The generated cluster.ini is the canonical example of the
 * format that config.c reads; the tests parse what this writes.
 */
#include "node/keygen.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/cr_keyfile.h"

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

void node_keygen_opts_default(struct node_keygen_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->faults = NODE_KEYGEN_UNSET;
	o->replicas = NODE_KEYGEN_UNSET;
	o->clients = 0;
	o->out_dir = NULL;
	o->host = NODE_KEYGEN_HOST;
	o->base_port = NODE_KEYGEN_BASE_PORT;
	o->protocol = NODE_PROTOCOL_PBFT;
	o->force = false;
}

/* The endpoint of replica i's port number slot (0 peer, 1 client, 2 status). The host was
 * checked by node_keygen_resolve. */
static void cfg_endpoint(const struct node_keygen_opts *o, uint32_t i, uint32_t slot,
			 struct node_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	snprintf(ep->host, sizeof(ep->host), "%s", o->host);
	ep->port = (uint16_t)(o->base_port + NODE_KEYGEN_PORTS_PER_REPLICA * i + slot);
}

int node_keygen_resolve(const struct node_keygen_opts *o, uint32_t *n_out, uint32_t *f_out,
			char *err, size_t errlen)
{
	struct node_endpoint ep;
	char why[256], text[NODE_HOST_MAX + 16];
	uint32_t n, f;
	uint64_t last;

	if (o->faults == NODE_KEYGEN_UNSET && o->replicas == NODE_KEYGEN_UNSET) {
		cfg_seterr(err, errlen, "give the number of faults to tolerate (--faults F) or of "
			   "replicas (--replicas N)");
		return -1;
	}
	if (o->replicas == NODE_KEYGEN_UNSET) {
		/* The smallest cluster for F faults; 64-bit so that a huge F cannot wrap. */
		uint64_t want = 3u * (uint64_t)o->faults + 1u;

		f = o->faults;
		n = want > UINT32_MAX - 1u ? UINT32_MAX - 1u : (uint32_t)want;
	} else {
		n = o->replicas;
		f = o->faults == NODE_KEYGEN_UNSET ? (n > 0 ? bft_f(n) : 0) : o->faults;
	}
	if (node_config_check_nf(n, f, err, errlen) != 0)
		return -1;
	if (o->clients > NODE_CONFIG_CLIENTS_MAX) {
		cfg_seterr(err, errlen, "%u clients are too many: at most %u", o->clients,
			   NODE_CONFIG_CLIENTS_MAX);
		return -1;
	}
	if (o->out_dir == NULL || o->out_dir[0] == '\0') {
		cfg_seterr(err, errlen, "give the output directory (--out DIR)");
		return -1;
	}
	if (o->host == NULL || o->host[0] == '\0') {
		cfg_seterr(err, errlen, "the host is empty");
		return -1;
	}
	/* Check the host the way cluster.ini will be read back, so that bftkeygen never writes
	 * a file that config.c refuses. */
	snprintf(text, sizeof(text), strchr(o->host, ':') != NULL ? "[%s]:1" : "%s:1", o->host);
	if (strlen(o->host) > NODE_HOST_MAX ||
	    node_endpoint_parse(text, &ep, why, sizeof(why)) != 0) {
		cfg_seterr(err, errlen, "bad host '%.64s': %s", o->host,
			   strlen(o->host) > NODE_HOST_MAX ? "too long" : why);
		return -1;
	}
	last = (uint64_t)o->base_port + (uint64_t)NODE_KEYGEN_PORTS_PER_REPLICA * n - 1u;
	if (o->base_port == 0 || last > 65535u) {
		cfg_seterr(err, errlen, "base port %u does not work for %u replicas: they use ports "
			   "%u..%llu (3 each), which must lie in 1..65535", o->base_port, n,
			   o->base_port, (unsigned long long)last);
		return -1;
	}
	*n_out = n;
	*f_out = f;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Formatting cluster.ini */

struct cfg_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void cfg_printf(struct cfg_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends to b; on out of memory sets b->oom and ignores everything after. */
static void cfg_printf(struct cfg_buf *b, const char *fmt, ...)
{
	va_list ap;
	int need;

	if (b->oom)
		return;
	va_start(ap, fmt);
	need = vsnprintf(b->p != NULL ? b->p + b->len : NULL, b->p != NULL ? b->cap - b->len : 0,
			 fmt, ap);
	va_end(ap);
	if (need < 0) {
		b->oom = true;
		return;
	}
	if (b->p == NULL || (size_t)need >= b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap - b->len <= (size_t)need)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)need;
}

static void cfg_hex(struct cfg_buf *b, const uint8_t *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char two[3] = { 0 };

	for (size_t i = 0; i < len; i++) {
		two[0] = digits[p[i] >> 4];
		two[1] = digits[p[i] & 15];
		cfg_printf(b, "%s", two);
	}
}

/* A key set as "key =" and its hex on indented lines of 64 digits: inih's lines are at most
 * about 200 characters, and a key set for 4 replicas is already 336 digits. */
static int cfg_keyset(struct cfg_buf *b, const char *key, const struct cr_thresh_pubkey *pk,
		      char *err, size_t errlen)
{
	size_t len = CR_THRESH_PUBKEY_BYTES(pk->n);
	uint8_t *bytes = malloc(len);

	if (bytes == NULL) {
		cfg_seterr(err, errlen, "out of memory");
		return -1;
	}
	if (cr_thresh_pubkey_encode(bytes, len, pk) != 0) {
		cfg_seterr(err, errlen, "internal error: the %s key set does not encode", key);
		free(bytes);
		return -1;
	}
	cfg_printf(b, "%s =\n", key);
	for (size_t i = 0; i < len; i += 32) {
		cfg_printf(b, "\t");
		cfg_hex(b, bytes + i, len - i < 32 ? len - i : 32);
		cfg_printf(b, "\n");
	}
	free(bytes);
	return 0;
}

int node_keygen_format_ini(const struct node_keygen_opts *o, const struct node_keygen_public *pub,
			   char **out, char *err, size_t errlen)
{
	struct cfg_buf b = { 0 };
	char peer[NODE_HOST_MAX + 16], client[NODE_HOST_MAX + 16], status[NODE_HOST_MAX + 16];
	struct node_endpoint ep;

	cfg_printf(&b,
		"; cluster.ini: the configuration of one bft cluster, written by bftkeygen.\n"
		";\n"
		"; Every replica and every client reads this same file. It holds no secret: the\n"
		"; secret keys are in the key files it names (mode 0600), and each of those goes to\n"
		"; its owner only. Key file paths are relative to the directory of this file.\n"
		";\n"
		"; Syntax: [section] headers, 'key = value' lines, comments from ';' or '#' at the\n"
		"; start of a line or ' ;' after a value. An indented line continues the value above\n"
		"; it (only the [threshold] key sets use that). Unknown sections and keys, and values\n"
		"; out of range, are errors. keys/README.md documents every key.\n"
		"\n"
		"[cluster]\n"
		"; f: the number of Byzantine replicas tolerated. The protocols need n >= 3f+1\n"
		"; replicas and take f = (n-1)/3. Required.\n"
		"f = %u\n"
		"; n: the number of replicas: [replica 0] .. [replica n-1] below. Required.\n"
		"n = %u\n"
		"; protocol: pbft (Castro-Liskov: a primary orders, view change when it fails) or\n"
		"; hbbft (Honey Badger: no leader and no timing assumption). Default pbft.\n"
		"protocol = %s\n"
		"; checkpoint_interval: a checkpoint every this many log positions. Default %u.\n"
		"checkpoint_interval = %u\n"
		"; window: log positions that may be in progress above the last stable checkpoint;\n"
		"; at least checkpoint_interval. Default %u.\n"
		"window = %u\n"
		"; A batch closes at batch_max_requests requests or batch_max_bytes bytes of\n"
		"; requests, or when its oldest request has waited batch_delay_ms milliseconds.\n"
		"; Defaults %u, %u, %u.\n"
		"batch_max_requests = %u\n"
		"batch_max_bytes = %u\n"
		"batch_delay_ms = %u\n"
		"; batch_inflight: PBFT: while fewer batches than this are ordered and not yet\n"
		"; executed, the primary cuts a batch as soon as a request waits; with that many in\n"
		"; flight, requests gather until one executes (or the rule above closes the batch),\n"
		"; so batches grow with the load. 0 turns this off. Default %u.\n"
		"batch_inflight = %u\n"
		"; check_wait_ms: PBFT: a backup that is not one of the f chosen to check a new\n"
		"; batch's requests waits this long for f matching PREPAREs (with the PRE-PREPARE,\n"
		"; f+1 replicas vouching, one of them correct) and skips its own check; without\n"
		"; them it checks. Honey Badger: a replica waits this long for f+1 matching\n"
		"; verdicts on a revealed request's signature from its f+1 designated checkers\n"
		"; before it checks the request itself. 0: every replica checks every request.\n"
		"; Default %u.\n"
		"check_wait_ms = %u\n"
		"; view_timeout_ms: PBFT: how long a backup waits for a request to commit before it\n"
		"; votes to replace the primary (doubled on each successive view change). Default %u.\n"
		"view_timeout_ms = %u\n"
		"; frame_max: the largest message on the wire, in bytes; op_max: the largest\n"
		"; operation in one request. Defaults %u and %u.\n"
		"frame_max = %u\n"
		"op_max = %u\n"
		"; open_clients: true to accept requests from clients not listed below as well:\n"
		"; such a client registers its key once and gets an id (at most open_clients_max\n"
		"; of them, default 1024). Default false.\n"
		"open_clients = false\n"
		"open_clients_max = 1024\n"
		"; client_sessions: accept MAC-authenticated client sessions (bftctl --mac). Default\n"
		"; true.\n"
		"client_sessions = true\n"
		"; unordered_reads: PBFT answers reads without ordering them (fast), and then every\n"
		"; request needs 2f+1 matching replies; false orders reads like writes, and every\n"
		"; request completes on f+1 (faster writes, slower reads). Default true.\n"
		"unordered_reads = true\n"
		"; fsync: always (a record is on disk before anything that depends on it is sent),\n"
		"; batch (once per committed batch) or never (tests only). Default always.\n"
		"fsync = always\n"
		"; state_chunk_bytes: the chunk size of state transfer. Default %u.\n"
		"state_chunk_bytes = %u\n"
		"; hb_batch_size: Honey Badger's B, the requests committed per epoch over all\n"
		"; replicas (each proposes about B/n); at least n. Default %u.\n"
		"hb_batch_size = %u\n"
		"\n"
		"[threshold]\n"
		"; Honey Badger's threshold public key sets, dealt by bftkeygen with threshold\n"
		"; f+1 = %u: any %u of the replicas' shares work together, fewer reveal nothing.\n"
		"; Each"
		" is the hex of cr_thresh_pubkey_encode (version, purpose, n, f, then g^x\n"
		"; and g^x_i for every replica i), continued on the indented lines.\n"
		"; coin_public: the common coin; each replica's share is its coin_share_file.\n",
		pub->f, pub->n, node_protocol_name(o->protocol),
		NODE_CFG_DEFAULT_CHECKPOINT_INTERVAL, NODE_CFG_DEFAULT_CHECKPOINT_INTERVAL,
		NODE_CFG_DEFAULT_WINDOW, NODE_CFG_DEFAULT_WINDOW,
		NODE_CFG_DEFAULT_BATCH_MAX_REQUESTS, NODE_CFG_DEFAULT_BATCH_MAX_BYTES,
		NODE_CFG_DEFAULT_BATCH_DELAY_MS, NODE_CFG_DEFAULT_BATCH_MAX_REQUESTS,
		NODE_CFG_DEFAULT_BATCH_MAX_BYTES, NODE_CFG_DEFAULT_BATCH_DELAY_MS,
		NODE_CFG_DEFAULT_BATCH_INFLIGHT, NODE_CFG_DEFAULT_BATCH_INFLIGHT,
		NODE_CFG_DEFAULT_CHECK_WAIT_MS, NODE_CFG_DEFAULT_CHECK_WAIT_MS,
		NODE_CFG_DEFAULT_VIEW_TIMEOUT_MS, NODE_CFG_DEFAULT_VIEW_TIMEOUT_MS,
		NODE_CFG_DEFAULT_FRAME_MAX, NODE_CFG_DEFAULT_OP_MAX, NODE_CFG_DEFAULT_FRAME_MAX,
		NODE_CFG_DEFAULT_OP_MAX,
		NODE_CFG_DEFAULT_STATE_CHUNK_BYTES, NODE_CFG_DEFAULT_STATE_CHUNK_BYTES,
		NODE_CFG_DEFAULT_HB_BATCH_SIZE, NODE_CFG_DEFAULT_HB_BATCH_SIZE,
		pub->f + 1, pub->f + 1);
	if (cfg_keyset(&b, "coin_public", pub->coin, err, errlen) != 0)
		goto fail;
	cfg_printf(&b, "; enc_public: threshold encryption of proposals; each replica's share is\n"
		       "; its enc_share_file.\n");
	if (cfg_keyset(&b, "enc_public", pub->enc, err, errlen) != 0)
		goto fail;
	for (uint32_t i = 0; i < pub->n; i++) {
		cfg_endpoint(o, i, 0, &ep);
		node_endpoint_format(&ep, peer, sizeof(peer));
		cfg_endpoint(o, i, 1, &ep);
		node_endpoint_format(&ep, client, sizeof(client));
		cfg_endpoint(o, i, 2, &ep);
		node_endpoint_format(&ep, status, sizeof(status));
		cfg_printf(&b, "\n[replica %u]\n", i);
		if (i == 0)
			cfg_printf(&b, "; peer: host:port for traffic between replicas; client:\n"
				       "; host:port where clients connect; status: host:port of the\n"
				       "; HTTP metrics and status endpoint (optional).\n");
		cfg_printf(&b, "peer = %s\nclient = %s\nstatus = %s\n", peer, client, status);
		if (i == 0)
			cfg_printf(&b, "; public_key: the replica's Ed25519 public key, 64 hex "
				       "digits.\n");
		cfg_printf(&b, "public_key = ");
		cfg_hex(&b, pub->replica_pks[i], CR_PK_BYTES);
		cfg_printf(&b, "\n");
		if (i == 0)
			cfg_printf(&b, "; Its secret key files (mode 0600): the Ed25519 identity, and\n"
				       "; its coin and encryption shares (read by hbbft only).\n"
				       "; Defaults replica-N.key, replica-N.coin, replica-N.enc.\n");
		cfg_printf(&b, "key_file = replica-%u.key\ncoin_share_file = replica-%u.coin\n"
			       "enc_share_file = replica-%u.enc\n", i, i, i);
	}
	for (uint32_t i = 0; i < pub->clients; i++) {
		cfg_printf(&b, "\n[client %u]\n", i);
		if (i == 0)
			cfg_printf(&b, "; public_key: the client's Ed25519 public key; key_file: its\n"
				       "; secret key file (mode 0600). Default client-N.key.\n");
		cfg_printf(&b, "public_key = ");
		cfg_hex(&b, pub->client_pks[i], CR_PK_BYTES);
		cfg_printf(&b, "\nkey_file = client-%u.key\n", i);
	}
	if (b.oom) {
		cfg_seterr(err, errlen, "out of memory");
		goto fail;
	}
	*out = b.p;
	return 0;
fail:
	free(b.p);
	return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Files */

/* The files this run created, so that a failed run can take them back. */
struct cfg_created {
	char **path;
	size_t count, cap;
};

static int cfg_created_add(struct cfg_created *c, const char *path)
{
	char *copy;

	if (c->count == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		char **np = realloc(c->path, cap * sizeof(*np));

		if (np == NULL)
			return -1;
		c->path = np;
		c->cap = cap;
	}
	copy = strdup(path);
	if (copy == NULL)
		return -1;
	c->path[c->count++] = copy;
	return 0;
}

static void cfg_created_free(struct cfg_created *c, bool remove)
{
	for (size_t i = 0; i < c->count; i++) {
		if (remove)
			(void)unlink(c->path[i]);
		free(c->path[i]);
	}
	free(c->path);
	memset(c, 0, sizeof(*c));
}

/* dir/name into buf ("keys/" and "keys" give the same path). */
static int cfg_path(char *buf, size_t buflen, const char *dir, const char *name, char *err,
		    size_t errlen)
{
	size_t dlen = strlen(dir);
	int n;

	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	if (dlen == 1 && dir[0] == '/')
		dlen = 0; /* "/" + "/" + name would be "//name" */
	n = snprintf(buf, buflen, "%.*s/%s", (int)dlen, dir, name);

	if (n < 0 || (size_t)n >= buflen) {
		cfg_seterr(err, errlen, "%s: the directory's path is too long", dir);
		return -1;
	}
	return 0;
}

/* Makes dir, or checks that an existing one may be written into. Sets *made when it made it. */
static int cfg_prepare_dir(const char *dir, bool force, bool *made, char *err, size_t errlen)
{
	struct stat st;
	struct dirent *de;
	DIR *d;

	*made = false;
	/* 0700: the directory holds every secret of the cluster until they are handed out. */
	if (mkdir(dir, 0700) == 0) {
		*made = true;
		return 0;
	}
	if (errno != EEXIST) {
		cfg_seterr(err, errlen, "%s: cannot create the directory: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		cfg_seterr(err, errlen, "%s: exists and is not a directory", dir);
		return -1;
	}
	if (force)
		return 0;
	d = opendir(dir);
	if (d == NULL) {
		cfg_seterr(err, errlen, "%s: cannot read the directory: %s", dir, strerror(errno));
		return -1;
	}
	/* Hidden files and README.md do not count: keys/, the default home of key material, has
	 * a .gitignore and the format's README.md. */
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "README.md") == 0)
			continue;
		cfg_seterr(err, errlen, "%s is not empty (it holds %.64s); refusing to overwrite key "
			   "material there (--force replaces the files a key generation writes)", dir,
			   de->d_name);
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

/* Writes a public file (cluster.ini) the way cr_keyfile writes keys: a temporary file, fsynced,
 * then linked into place (or, with force, renamed over the old one), then the directory
 * fsynced, so that a crash leaves the old file or the whole new one. */
static int cfg_write_public(const char *dir, const char *name, const char *text, size_t len,
			    bool force, struct cfg_created *created, char *err, size_t errlen)
{
	char path[NODE_CONFIG_PATH_MAX + 1], tmp[NODE_CONFIG_PATH_MAX + 1], tmpname[64];
	size_t off = 0;
	bool existed;
	int fd, dfd;

	snprintf(tmpname, sizeof(tmpname), ".%s.tmp-XXXXXX", name);
	if (cfg_path(path, sizeof(path), dir, name, err, errlen) != 0 ||
	    cfg_path(tmp, sizeof(tmp), dir, tmpname, err, errlen) != 0)
		return -1;
	existed = access(path, F_OK) == 0;
	fd = mkstemp(tmp);
	if (fd < 0) {
		cfg_seterr(err, errlen, "%s: cannot create a temporary file: %s", path,
			   strerror(errno));
		return -1;
	}
	/* Public: every replica and client reads it. mkstemp made it 0600. */
	if (fchmod(fd, 0644) != 0)
		goto io_fail;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto io_fail;
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto io_fail;
	if (close(fd) != 0) {
		fd = -1;
		goto io_fail;
	}
	fd = -1;
	if (force) {
		if (rename(tmp, path) != 0)
			goto io_fail;
	} else {
		if (link(tmp, path) != 0) {
			if (errno == EEXIST) {
				cfg_seterr(err, errlen, "%s: already exists; refusing to overwrite it",
					   path);
				(void)unlink(tmp);
				return -1;
			}
			goto io_fail;
		}
		(void)unlink(tmp);
	}
	if (!existed && cfg_created_add(created, path) != 0) {
		cfg_seterr(err, errlen, "out of memory");
		return -1;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		cfg_seterr(err, errlen, "%s: written, but syncing its directory failed: %s", path,
			   strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
io_fail:
	cfg_seterr(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp);
	return -1;
}

/* Generates and writes one Ed25519 identity; its public half goes to pk. */
static int cfg_identity(const char *dir, const char *name, enum cr_key_role role, uint32_t id,
			unsigned flags, uint8_t pk[CR_PK_BYTES], struct cfg_created *created,
			char *err, size_t errlen)
{
	char path[NODE_CONFIG_PATH_MAX + 1];
	struct cr_key_id kid = { .role = role, .num = id };
	struct cr_identity ident = { 0 };
	bool existed;
	int rc;

	if (cfg_path(path, sizeof(path), dir, name, err, errlen) != 0)
		return -1;
	if (cr_identity_generate(&ident) != 0) {
		cfg_seterr(err, errlen, "cannot generate a key (libsodium unusable or secure memory "
			   "exhausted)");
		return -1;
	}
	existed = access(path, F_OK) == 0;
	rc = cr_keyfile_write_identity(path, &kid, &ident, flags, err, errlen);
	if (rc == 0) {
		memcpy(pk, ident.pk, CR_PK_BYTES);
		if (!existed && cfg_created_add(created, path) != 0) {
			cfg_seterr(err, errlen, "out of memory");
			rc = -1;
		}
	}
	cr_identity_free(&ident);
	return rc;
}

/* Deals one key set and writes each replica's share ("replica-N.coin", "replica-N.enc"). */
static int cfg_keyset_deal(const char *dir, uint32_t n, uint32_t f,
			   enum cr_thresh_purpose purpose, unsigned flags, struct cr_thresh_pubkey *pk,
			   struct cfg_created *created, char *err, size_t errlen)
{
	enum cr_key_kind kind = purpose == CR_THRESH_COIN ? CR_KEY_COIN_SHARE : CR_KEY_ENC_SHARE;
	const char *tag = purpose == CR_THRESH_COIN ? "coin" : "enc";
	struct cr_secret mem = { 0 };
	struct cr_thresh_share *shares;
	int rc = -1;

	/* The shares are the secret of the whole key set: keep them in guarded memory. */
	if (cr_secret_alloc(&mem, (size_t)n * sizeof(struct cr_thresh_share)) != 0) {
		cfg_seterr(err, errlen, "out of secure memory");
		return -1;
	}
	shares = (struct cr_thresh_share *)(void *)mem.p;
	if (cr_dealer_deal_random(pk, shares, n, f, purpose) != 0) {
		cfg_seterr(err, errlen, "cannot deal the %s key set", tag);
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		char name[64], path[NODE_CONFIG_PATH_MAX + 1];
		struct cr_key_id kid = { .role = CR_KEY_REPLICA, .num = i };
		bool existed;

		snprintf(name, sizeof(name), "replica-%u.%s", i, tag);
		if (cfg_path(path, sizeof(path), dir, name, err, errlen) != 0)
			goto out;
		existed = access(path, F_OK) == 0;
		if (cr_keyfile_write_secret(path, kind, &kid, shares[i].x, sizeof(shares[i].x),
					    flags, err, errlen) != 0)
			goto out;
		if (!existed && cfg_created_add(created, path) != 0) {
			cfg_seterr(err, errlen, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	cr_secret_free(&mem);
	return rc;
}

int node_keygen_run(const struct node_keygen_opts *o, char *err, size_t errlen)
{
	struct cfg_created created = { 0 };
	struct cr_thresh_pubkey coin, enc;
	struct node_keygen_public pub;
	uint8_t (*rpk)[CR_PK_BYTES] = NULL, (*cpk)[CR_PK_BYTES] = NULL;
	unsigned flags;
	char *ini = NULL;
	uint32_t n, f;
	bool made = false;
	int rc = -1;

	if (o == NULL) {
		cfg_seterr(err, errlen, "internal error: no options");
		return -1;
	}
	if (node_keygen_resolve(o, &n, &f, err, errlen) != 0)
		return -1;
	if (cfg_prepare_dir(o->out_dir, o->force, &made, err, errlen) != 0)
		return -1;
	flags = o->force ? CR_KEYFILE_FORCE : 0u;
	rpk = calloc(n, CR_PK_BYTES);
	cpk = calloc(o->clients ? o->clients : 1, CR_PK_BYTES);
	if (rpk == NULL || cpk == NULL) {
		cfg_seterr(err, errlen, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		char name[64];

		snprintf(name, sizeof(name), "replica-%u.key", i);
		if (cfg_identity(o->out_dir, name, CR_KEY_REPLICA, i, flags, rpk[i], &created, err,
				 errlen) != 0)
			goto out;
	}
	for (uint32_t i = 0; i < o->clients; i++) {
		char name[64];

		snprintf(name, sizeof(name), "client-%u.key", i);
		if (cfg_identity(o->out_dir, name, CR_KEY_CLIENT, i, flags, cpk[i], &created, err,
				 errlen) != 0)
			goto out;
	}
	/* Two independent key sets (cr_dealer.h): a coin share must never decrypt, nor a
	 * decryption share flip the coin. */
	if (cfg_keyset_deal(o->out_dir, n, f, CR_THRESH_COIN, flags, &coin, &created, err,
			    errlen) != 0 ||
	    cfg_keyset_deal(o->out_dir, n, f, CR_THRESH_ENC, flags, &enc, &created, err,
			    errlen) != 0)
		goto out;
	pub = (struct node_keygen_public){ .n = n, .f = f, .clients = o->clients,
					   .replica_pks = (const uint8_t (*)[CR_PK_BYTES])rpk,
					   .client_pks = (const uint8_t (*)[CR_PK_BYTES])cpk,
					   .coin = &coin, .enc = &enc };
	if (node_keygen_format_ini(o, &pub, &ini, err, errlen) != 0 ||
	    cfg_write_public(o->out_dir, "cluster.ini", ini, strlen(ini), o->force, &created, err,
			     errlen) != 0)
		goto out;
	rc = 0;
out:
	cfg_created_free(&created, rc != 0);
	if (rc != 0 && made)
		(void)rmdir(o->out_dir);
	free(ini);
	free(rpk);
	free(cpk);
	return rc;
}
