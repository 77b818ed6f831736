/*
 * Unit tests for node/config (cluster.ini) and node/keygen (what bftkeygen writes).
 *
 * Most tests are pure: a small valid cluster.ini held in memory (BASE below, whose line numbers
 * the expected messages quote), edited one line at a time into each way it can be wrong, and
 * parsed with node_config_parse; every rejection is checked with its exact message, and the
 * output is checked untouched. The file tests run the key generator into a fresh mkdtemp
 * directory (removed by the group teardown) and then load what it wrote, keys included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/cr_dealer.h"
#include "crypto/cr_keyfile.h"
#include "node/config.h"
#include "node/keygen.h"

/* ---------------------------------------------------------------------------------------- */
/* Fixtures */

#define H8(x) x x x x x x x x
#define PK64(x) H8(H8(x)) /* 64 copies of a one-character string */

/* A valid pbft cluster of 4 replicas and 1 client. The line numbers are quoted by the tests. */
static const char BASE[] =
	"[cluster]\n"                            /* 1 */
	"f = 1\n"                                /* 2 */
	"n = 4\n"                                /* 3 */
	"window = 256\n"                         /* 4 */
	"\n"                                     /* 5 */
	"[replica 0]\n"                          /* 6 */
	"peer = 127.0.0.1:7100\n"                /* 7 */
	"client = 127.0.0.1:7101\n"              /* 8 */
	"public_key = " PK64("0") "\n"           /* 9 */
	"\n"                                     /* 10 */
	"[replica 1]\n"                          /* 11 */
	"peer = 127.0.0.1:7103\n"                /* 12 */
	"client = 127.0.0.1:7104\n"              /* 13 */
	"public_key = " PK64("1") "\n"           /* 14 */
	"\n"                                     /* 15 */
	"[replica 2]\n"                          /* 16 */
	"peer = 127.0.0.1:7106\n"                /* 17 */
	"client = 127.0.0.1:7107\n"              /* 18 */
	"public_key = " PK64("2") "\n"           /* 19 */
	"\n"                                     /* 20 */
	"[replica 3]\n"                          /* 21 */
	"peer = 127.0.0.1:7109\n"                /* 22 */
	"client = 127.0.0.1:7110\n"              /* 23 */
	"public_key = " PK64("3") "\n"           /* 24 */
	"\n"                                     /* 25 */
	"[client 0]\n"                           /* 26 */
	"public_key = " PK64("c") "\n";          /* 27 */

/* base with the one occurrence of from replaced by to; the caller frees it. */
static char *edit(const char *base, const char *from, const char *to)
{
	const char *at = strstr(base, from);
	size_t blen = strlen(base), flen = strlen(from), tlen = strlen(to);
	char *out;

	assert_non_null(at);
	assert_null(strstr(at + 1, from)); /* exactly one occurrence: edits stay unambiguous */
	out = malloc(blen - flen + tlen + 1);
	assert_non_null(out);
	memcpy(out, base, (size_t)(at - base));
	memcpy(out + (at - base), to, tlen);
	memcpy(out + (at - base) + tlen, at + flen, blen - (size_t)(at - base) - flen + 1);
	return out;
}

/* Parses text as "cluster.ini" and expects exactly the message want, with *c untouched. */
static void expect_error_len(const char *text, size_t len, const char *want)
{
	struct node_config c, before;
	char err[NODE_CONFIG_ERR_BYTES];

	memset(&c, 0x5a, sizeof(c));
	memcpy(&before, &c, sizeof(c));
	err[0] = '\0';
	assert_int_equal(node_config_parse(&c, "cluster.ini", text, len, NULL, err, sizeof(err)),
			 -1);
	assert_string_equal(err, want);
	assert_memory_equal(&c, &before, sizeof(c));
}

static void expect_error(const char *text, const char *want)
{
	expect_error_len(text, strlen(text), want);
}

/* BASE with one edit must fail with want. */
static void expect_edit_error(const char *from, const char *to, const char *want)
{
	char *text = edit(BASE, from, to);

	expect_error(text, want);
	free(text);
}

static void parse_ok(const char *text, const char *basedir, struct node_config *c)
{
	char err[NODE_CONFIG_ERR_BYTES] = "";
	int rc = node_config_parse(c, "cluster.ini", text, strlen(text), basedir, err,
				   sizeof(err));

	if (rc != 0)
		fail_msg("unexpected error: %s", err);
}

/* Appends the hex of key set pk as "name =" and indented lines of 64 digits. */
static void append_keyset(char *out, size_t outlen, const char *name,
			  const struct cr_thresh_pubkey *pk)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t bytes[CR_THRESH_PUBKEY_BYTES_MAX];
	size_t len = CR_THRESH_PUBKEY_BYTES(pk->n), at = strlen(out);

	assert_int_equal(cr_thresh_pubkey_encode(bytes, len, pk), 0);
	at += (size_t)snprintf(out + at, outlen - at, "%s =\n", name);
	for (size_t i = 0; i < len; i++) {
		if (i % 32 == 0)
			out[at++] = '\t';
		out[at++] = digits[bytes[i] >> 4];
		out[at++] = digits[bytes[i] & 15];
		if (i % 32 == 31 || i + 1 == len)
			out[at++] = '\n';
		assert_true(at + 4 < outlen);
	}
	out[at] = '\0';
}

/* Deterministic key sets for n replicas (seeded: tests replay exactly). */
static void deal(struct cr_thresh_pubkey *pk, uint32_t n, uint32_t f,
		 enum cr_thresh_purpose purpose, uint8_t seedbyte)
{
	struct cr_thresh_share shares[CR_THRESH_N_MAX];
	uint8_t seed[CR_THRESH_SEED_BYTES];

	memset(seed, seedbyte, sizeof(seed));
	assert_int_equal(cr_dealer_deal(pk, shares, n, f, purpose, seed), 0);
	for (uint32_t i = 0; i < n; i++)
		cr_thresh_share_wipe(&shares[i]);
}

/* BASE as an hbbft cluster with a [threshold] section holding coin and enc (in that order of
 * keys unless swapped). The caller frees it. */
static char *hbbft_text(const struct cr_thresh_pubkey *coin, const struct cr_thresh_pubkey *enc)
{
	size_t cap = sizeof(BASE) + 3 * CR_THRESH_PUBKEY_BYTES_MAX + 512;
	char *out = calloc(1, cap);
	char *withproto = edit(BASE, "window = 256\n", "window = 256\nprotocol = hbbft\n");

	assert_non_null(out);
	snprintf(out, cap, "%s\n[threshold]\n", withproto);
	free(withproto);
	append_keyset(out, cap, "coin_public", coin);
	append_keyset(out, cap, "enc_public", enc);
	return out;
}

/* ---------------------------------------------------------------------------------------- */
/* Temporary directories */

static char tmpdir[64];

static void rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		(void)unlink(path);
		return;
	}
	d = opendir(path);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			char sub[512];

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
	}
	(void)rmdir(path);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rm_rf(tmpdir);
	return 0;
}

/* A fresh, not yet existing directory path under tmpdir for one test. */
static const char *fresh_dir(const char *name)
{
	static char buf[4][256];
	static unsigned next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", tmpdir, name);
	rm_rf(b);
	return b;
}

static const char *path_in(const char *dir, const char *name)
{
	static char buf[4][512];
	static unsigned next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, name);
	return b;
}

/* Runs the key generator into dir. */
static void keygen(const char *dir, uint32_t faults, uint32_t clients, enum node_protocol proto)
{
	struct node_keygen_opts o;
	char err[NODE_CONFIG_ERR_BYTES] = "";

	node_keygen_opts_default(&o);
	o.faults = faults;
	o.clients = clients;
	o.out_dir = dir;
	o.protocol = proto;
	if (node_keygen_run(&o, err, sizeof(err)) != 0)
		fail_msg("keygen failed: %s", err);
}

static void load_ok(const char *dir, struct node_config *c)
{
	char err[NODE_CONFIG_ERR_BYTES] = "";

	if (node_config_load(c, path_in(dir, "cluster.ini"), err, sizeof(err)) != 0)
		fail_msg("load failed: %s", err);
}

/* Expects loading replica id's keys to fail with exactly want, leaving the output empty. */
static void expect_keys_error(const struct node_config *c, bft_replica_id id, const char *want)
{
	struct node_replica_keys k;
	char err[NODE_CONFIG_ERR_BYTES] = "";

	memset(&k, 0x5a, sizeof(k));
	assert_int_equal(node_config_load_replica_keys(c, id, &k, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_null(k.ident.sk);
	assert_null(k.coin.p);
	assert_null(k.enc.p);
}

static void copy_file(const char *from, const char *to)
{
	char buf[4096];
	FILE *in = fopen(from, "rb");
	FILE *out;
	size_t n;

	assert_non_null(in);
	(void)unlink(to);
	out = fopen(to, "wb");
	assert_non_null(out);
	n = fread(buf, 1, sizeof(buf), in);
	assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
	assert_int_equal(chmod(to, 0600), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Valid configurations */

static void test_config_base_parses_with_documented_defaults(void **state)
{
	struct node_config c;

	(void)state;
	parse_ok(BASE, NULL, &c);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.f, 1);
	assert_int_equal(c.protocol, NODE_PROTOCOL_PBFT);
	assert_int_equal(c.checkpoint_interval, 256);
	assert_int_equal(c.window, 256);
	assert_int_equal(c.batch_max_requests, 256);
	assert_int_equal(c.batch_max_bytes, 256 * 1024);
	assert_int_equal(c.batch_delay_ms, 20);
	assert_int_equal(c.batch_inflight, 1);
	assert_int_equal(c.check_wait_ms, 100);
	assert_true(c.unordered_reads);
	assert_int_equal(c.view_timeout_ms, 1000);
	assert_int_equal(c.frame_max, 16u << 20);
	assert_int_equal(c.op_max, 65536 + 256);
	assert_false(c.open_clients);
	assert_int_equal(c.fsync, NODE_FSYNC_ALWAYS);
	assert_int_equal(c.state_chunk_bytes, 256 * 1024);
	assert_int_equal(c.hb_batch_size, 1024);
	assert_false(c.has_threshold);
	assert_string_equal(c.path, "cluster.ini");
	assert_string_equal(c.replicas[2].peer.host, "127.0.0.1");
	assert_int_equal(c.replicas[2].peer.port, 7106);
	assert_int_equal(c.replicas[2].client.port, 7107);
	assert_int_equal(c.replicas[2].status.port, 0); /* optional, absent */
	assert_int_equal(c.replicas[3].id, 3);
	assert_int_equal(c.replicas[1].public_key[0], 0x11);
	assert_int_equal(c.replica_pks[3][31], 0x33);
	assert_string_equal(c.replicas[1].key_file, "replica-1.key");
	assert_string_equal(c.replicas[1].coin_share_file, "replica-1.coin");
	assert_string_equal(c.replicas[1].enc_share_file, "replica-1.enc");
	assert_int_equal(c.nclients, 1);
	assert_int_equal(c.clients[0].public_key[5], 0xcc);
	assert_int_equal(c.client_pks[0][0], 0xcc);
	assert_string_equal(c.clients[0].key_file, "client-0.key");
	node_config_free(&c);
	node_config_free(&c); /* safe twice */
}

static void test_config_sets_every_cluster_key(void **state)
{
	struct node_config c;
	char *text = edit(BASE, "window = 256\n",
			  "window = 512\n"
			  "protocol = pbft\n"
			  "checkpoint_interval = 128\n"
			  "batch_max_requests = 10\n"
			  "batch_max_bytes = 100000\n"
			  "batch_delay_ms = 0\n"
			  "batch_inflight = 0\n"
			  "check_wait_ms = 0\n"
			  "view_timeout_ms = 250\n"
			  "frame_max = 1048576\n"
			  "op_max = 4096\n"
			  "open_clients = true\n"
			  "fsync = batch\n"
			  "state_chunk_bytes = 65536\n"
			  "hb_batch_size = 4\n"
			  "unordered_reads = false\n");

	(void)state;
	parse_ok(text, NULL, &c);
	assert_int_equal(c.window, 512);
	assert_int_equal(c.checkpoint_interval, 128);
	assert_int_equal(c.batch_max_requests, 10);
	assert_int_equal(c.batch_max_bytes, 100000);
	assert_int_equal(c.batch_delay_ms, 0);
	assert_int_equal(c.batch_inflight, 0);
	assert_int_equal(c.check_wait_ms, 0);
	assert_int_equal(c.view_timeout_ms, 250);
	assert_int_equal(c.frame_max, 1048576);
	assert_int_equal(c.op_max, 4096);
	assert_true(c.open_clients);
	assert_int_equal(c.fsync, NODE_FSYNC_BATCH);
	assert_int_equal(c.state_chunk_bytes, 65536);
	assert_int_equal(c.hb_batch_size, 4);
	assert_false(c.unordered_reads);
	node_config_free(&c);
	free(text);
}

static void test_config_accepts_comments_crlf_bom_and_any_section_order(void **state)
{
	struct node_config c;
	/* Clients first, [cluster] last, inline comments, '#' comments, CRLF line ends, a BOM. */
	const char *text =
		"\xEF\xBB\xBF; leading comment\r\n"
		"[client 0]\r\n"
		"public_key = " PK64("c") " ; the client\r\n"
		"# hash comment\r\n"
		"[replica 3]\r\n"
		"peer = h3:1\r\nclient = h3:2\r\nstatus = h3:3\r\npublic_key = " PK64("3") "\r\n"
		"[replica 1]\r\n"
		"peer = h1:1\r\nclient = h1:2\r\npublic_key = " PK64("1") "\r\n"
		"[replica 2]\r\n"
		"peer = [::1]:7000\r\nclient = [fe80::1%eth0]:7001\r\npublic_key = " PK64("2") "\r\n"
		"[replica 0]\r\n"
		"peer = h0:1\r\nclient = h0:2\r\npublic_key = " PK64("A") "\r\n"
		"key_file = /abs/r0.key\r\n"
		"[cluster]\r\n"
		"n = 4 ; four\r\n"
		"f = 1\r\n";

	(void)state;
	parse_ok(text, "/etc/bft", &c);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.replicas[2].peer.host, "::1");
	assert_string_equal(c.replicas[2].client.host, "fe80::1%eth0");
	assert_int_equal(c.replicas[3].status.port, 3);
	assert_int_equal(c.replicas[0].public_key[0], 0xaa); /* upper-case hex accepted */
	assert_string_equal(c.replicas[0].key_file, "/abs/r0.key");  /* absolute kept */
	assert_string_equal(c.replicas[1].key_file, "/etc/bft/replica-1.key"); /* default joined */
	assert_string_equal(c.clients[0].key_file, "/etc/bft/client-0.key");
	node_config_free(&c);
}

static void test_config_hbbft_with_threshold_key_sets(void **state)
{
	struct cr_thresh_pubkey coin, enc;
	struct node_config c;
	char *text;

	(void)state;
	deal(&coin, 4, 1, CR_THRESH_COIN, 1);
	deal(&enc, 4, 1, CR_THRESH_ENC, 2);
	text = hbbft_text(&coin, &enc);
	parse_ok(text, NULL, &c);
	assert_int_equal(c.protocol, NODE_PROTOCOL_HBBFT);
	assert_true(c.has_threshold);
	assert_memory_equal(&c.coin_pk, &coin, sizeof(coin));
	assert_memory_equal(&c.enc_pk, &enc, sizeof(enc));
	node_config_free(&c);
	free(text);
}

static void test_config_wire_limits_follow_the_config(void **state)
{
	struct node_config c;
	struct wire_limits l;
	char *text = edit(BASE, "window = 256\n",
			  "window = 256\nframe_max = 1048576\nop_max = 1000\n"
			  "batch_max_requests = 77\nstate_chunk_bytes = 8192\nhb_batch_size = 500\n");

	(void)state;
	parse_ok(text, NULL, &c);
	node_config_wire_limits(&c, &l);
	assert_int_equal(l.frame_max, 1048576);
	assert_int_equal(l.op_max, 1000);
	assert_int_equal(l.batch_max, 77); /* pbft: hb_batch_size does not count */
	assert_int_equal(l.chunk_max, 8192);
	assert_int_equal(l.n_replicas, 4);
	assert_int_equal(l.n_clients, 1);
	assert_int_equal(l.list_max, 4096); /* wire default */
	c.protocol = NODE_PROTOCOL_HBBFT;
	node_config_wire_limits(&c, &l);
	assert_int_equal(l.batch_max, 500);
	node_config_free(&c);
	free(text);
}

static void test_config_endpoint_parse(void **state)
{
	struct node_endpoint ep;
	char err[256], buf[300];

	(void)state;
	assert_int_equal(node_endpoint_parse("example.org:80", &ep, err, sizeof(err)), 0);
	assert_string_equal(ep.host, "example.org");
	assert_int_equal(ep.port, 80);
	assert_string_equal(node_endpoint_format(&ep, buf, sizeof(buf)), "example.org:80");
	assert_int_equal(node_endpoint_parse("[2001:db8::1]:65535", &ep, err, sizeof(err)), 0);
	assert_string_equal(ep.host, "2001:db8::1");
	assert_int_equal(ep.port, 65535);
	assert_string_equal(node_endpoint_format(&ep, buf, sizeof(buf)), "[2001:db8::1]:65535");

	memset(&ep, 0x77, sizeof(ep));
	assert_int_equal(node_endpoint_parse("host", &ep, err, sizeof(err)), -1);
	assert_string_equal(err, "expected host:port");
	assert_int_equal(ep.port, 0x7777); /* untouched */
	assert_int_equal(node_endpoint_parse(":80", &ep, err, sizeof(err)), -1);
	assert_string_equal(err, "the host is empty");
	assert_int_equal(node_endpoint_parse("h:", &ep, err, sizeof(err)), -1);
	assert_string_equal(err, "the port is missing");
	assert_int_equal(node_endpoint_parse("h:8o", &ep, err, sizeof(err)), -1);
	assert_string_equal(err, "the port '8o' is not a number");
	assert_int_equal(node_endpoint_parse("h:0", &ep, err, sizeof(err)), -1);
	assert_string_equal(err, "port 0 is out of range (1..65535)");
	assert_int_equal(node_endpoint_parse("h:65536", &ep, err, sizeof(err)), -1);
	assert_string_equal(err, "port 65536 is out of range (1..65535)");
	assert_int_equal(node_endpoint_parse("h:99999999999999999999999", &ep, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "port 99999999999999999999... is out of range (1..65535)");
	assert_int_equal(node_endpoint_parse("::1:80", &ep, err, sizeof(err)), -1);
	assert_string_equal(err, "an IPv6 address needs brackets: [address]:port");
	assert_int_equal(node_endpoint_parse("[::1]80", &ep, err, sizeof(err)), -1);
	assert_string_equal(err, "expected [IPv6 address]:port");
	assert_int_equal(node_endpoint_parse("ho st:80", &ep, err, sizeof(err)), -1);
	assert_string_equal(err, "the host holds a character that cannot be in a host name or "
			    "address");
	assert_int_equal(node_endpoint_parse("[::g/]:80", &ep, err, sizeof(err)), -1);
	assert_string_equal(err, "the IPv6 address holds a character that cannot be in one");
}

static void test_config_check_nf_messages(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(node_config_check_nf(4, 1, err, sizeof(err)), 0);
	assert_int_equal(node_config_check_nf(6, 1, err, sizeof(err)), 0);
	assert_int_equal(node_config_check_nf(64, 21, err, sizeof(err)), 0);
	assert_int_equal(node_config_check_nf(5, 2, err, sizeof(err)), -1);
	assert_string_equal(err, "5 replicas cannot tolerate 2 faults: Byzantine agreement needs "
			    "n >= 3f+1 = 7");
	assert_int_equal(node_config_check_nf(1, 1, err, sizeof(err)), -1);
	assert_string_equal(err, "1 replica cannot tolerate 1 fault: Byzantine agreement needs "
			    "n >= 3f+1 = 4");
	assert_int_equal(node_config_check_nf(3, 0, err, sizeof(err)), -1);
	assert_string_equal(err, "3 replicas cannot tolerate any fault: Byzantine agreement needs "
			    "at least 4 replicas (n >= 3f+1 with f >= 1)");
	assert_int_equal(node_config_check_nf(67, 22, err, sizeof(err)), -1);
	assert_string_equal(err, "67 replicas are too many: at most 64 (the threshold key sets "
			    "have at most 64 parties)");
	assert_int_equal(node_config_check_nf(7, 1, err, sizeof(err)), -1);
	assert_string_equal(err, "7 replicas tolerate 2 faults, not 1: the protocols take "
			    "f = (n-1)/3 (for f = 1 use n = 4..6)");
	/* 3f+1 computed without wrapping */
	assert_int_equal(node_config_check_nf(4, UINT32_MAX, err, sizeof(err)), -1);
	assert_string_equal(err, "4 replicas cannot tolerate 4294967295 faults: Byzantine "
			    "agreement needs n >= 3f+1 = 12884901886");
}

/* ---------------------------------------------------------------------------------------- */
/* Rejections, each with its exact message */

static void test_config_rejects_unknown_key_naming_file_and_line(void **state)
{
	(void)state;
	expect_edit_error("window = 256", "windw = 256",
			  "cluster.ini:4: unknown key 'windw' in [cluster]");
	expect_edit_error("client = 127.0.0.1:7104", "Client = 127.0.0.1:7104",
			  "cluster.ini:13: unknown key 'Client' in [replica 1]");
	expect_edit_error("public_key = " PK64("c"), "public_key = " PK64("c") "\nstatus = h:1",
			  "cluster.ini:28: unknown key 'status' in [client 0]");
}

static void test_config_rejects_bad_integer(void **state)
{
	(void)state;
	expect_edit_error("window = 256", "window = 25x",
			  "cluster.ini:4: bad value '25x' for 'window' in [cluster]: expected an "
			  "integer in 1..1048576");
	expect_edit_error("window = 256", "window = -1",
			  "cluster.ini:4: bad value '-1' for 'window' in [cluster]: expected an "
			  "integer in 1..1048576");
	expect_edit_error("window = 256", "window = 0",
			  "cluster.ini:4: bad value '0' for 'window' in [cluster]: expected an "
			  "integer in 1..1048576");
	expect_edit_error("window = 256", "window =",
			  "cluster.ini:4: bad value '' for 'window' in [cluster]: expected an "
			  "integer in 1..1048576");
	expect_edit_error("window = 256", "window = 0256",
			  "cluster.ini:4: bad value '0256' for 'window' in [cluster]: expected an "
			  "integer in 1..1048576");
	expect_edit_error("n = 4", "n = 4294967296",
			  "cluster.ini:3: bad value '4294967296' for 'n' in [cluster]: expected an "
			  "integer in 0..4294967295");
	expect_edit_error("window = 256", "batch_delay_ms = 60001",
			  "cluster.ini:4: bad value '60001' for 'batch_delay_ms' in [cluster]: "
			  "expected an integer in 0..60000");
	expect_edit_error("window = 256", "batch_inflight = 65537",
			  "cluster.ini:4: bad value '65537' for 'batch_inflight' in [cluster]: "
			  "expected an integer in 0..65536");
	expect_edit_error("window = 256", "check_wait_ms = 60001",
			  "cluster.ini:4: bad value '60001' for 'check_wait_ms' in [cluster]: "
			  "expected an integer in 0..60000");
}

static void test_config_rejects_bad_enums_and_booleans(void **state)
{
	(void)state;
	expect_edit_error("window = 256", "protocol = raft",
			  "cluster.ini:4: bad value 'raft' for 'protocol' in [cluster]: expected "
			  "pbft or hbbft");
	expect_edit_error("window = 256", "fsync = sometimes",
			  "cluster.ini:4: bad value 'sometimes' for 'fsync' in [cluster]: expected "
			  "always, batch or never");
	expect_edit_error("window = 256", "open_clients = yes",
			  "cluster.ini:4: bad value 'yes' for 'open_clients' in [cluster]: expected "
			  "true or false");
}

static void test_config_rejects_too_few_replicas_for_f(void **state)
{
	(void)state;
	expect_edit_error("f = 1\nn = 4", "f = 2\nn = 5",
			  "cluster.ini:3: 5 replicas cannot tolerate 2 faults: Byzantine agreement "
			  "needs n >= 3f+1 = 7");
	/* the later of the two lines is blamed */
	expect_edit_error("f = 1\nn = 4", "n = 5\nf = 2",
			  "cluster.ini:3: 5 replicas cannot tolerate 2 faults: Byzantine agreement "
			  "needs n >= 3f+1 = 7");
	expect_edit_error("f = 1\nn = 4", "f = 0\nn = 3",
			  "cluster.ini:3: 3 replicas cannot tolerate any fault: Byzantine agreement "
			  "needs at least 4 replicas (n >= 3f+1 with f >= 1)");
	expect_edit_error("f = 1\nn = 4", "f = 1\nn = 7",
			  "cluster.ini:3: 7 replicas tolerate 2 faults, not 1: the protocols take "
			  "f = (n-1)/3 (for f = 1 use n = 4..6)");
	expect_edit_error("f = 1\nn = 4", "f = 22\nn = 67",
			  "cluster.ini:3: 67 replicas are too many: at most 64 (the threshold key "
			  "sets have at most 64 parties)");
}

static void test_config_rejects_missing_sections(void **state)
{
	(void)state;
	expect_edit_error("[cluster]\nf = 1\nn = 4\nwindow = 256\n", "",
			  "cluster.ini: missing section [cluster]");
	expect_edit_error("[replica 2]\npeer = 127.0.0.1:7106\nclient = 127.0.0.1:7107\n"
			  "public_key = " PK64("2") "\n", "",
			  "cluster.ini: missing section [replica 2] (n = 4: [replica 0] .. "
			  "[replica 3] must all be present)");
	expect_edit_error("[client 0]", "[client 2]",
			  "cluster.ini: missing section [client 0] (clients are numbered 0..2 with "
			  "no gaps)");
	expect_edit_error("window = 256", "protocol = hbbft",
			  "cluster.ini: missing section [threshold] (protocol = hbbft needs the "
			  "coin_public and enc_public key sets)");
	expect_error("", "cluster.ini: missing section [cluster]");
}

static void test_config_rejects_missing_required_keys(void **state)
{
	(void)state;
	expect_edit_error("n = 4\n", "",
			  "cluster.ini:1: [cluster] is missing 'n'");
	expect_edit_error("client = 127.0.0.1:7104\n", "",
			  "cluster.ini:11: [replica 1] is missing 'client'");
	expect_edit_error("public_key = " PK64("3") "\n", "",
			  "cluster.ini:21: [replica 3] is missing 'public_key'");
	expect_edit_error("public_key = " PK64("c") "\n", "",
			  "cluster.ini:26: [client 0] is missing 'public_key'");
}

static void test_config_rejects_duplicate_replica_section(void **state)
{
	(void)state;
	expect_edit_error("[replica 2]", "[replica 1]",
			  "cluster.ini:16: duplicate section [replica 1] (first at line 11)");
	expect_edit_error("window = 256", "window = 256\n[cluster]",
			  "cluster.ini:5: duplicate section [cluster] (first at line 1)");
	/* an empty duplicate is caught too: inih never reports empty sections */
	expect_edit_error("[client 0]", "[client 0]\n[client 0]",
			  "cluster.ini:27: duplicate section [client 0] (first at line 26)");
}

static void test_config_rejects_duplicate_key(void **state)
{
	(void)state;
	expect_edit_error("window = 256", "window = 256\nwindow = 512",
			  "cluster.ini:5: duplicate key 'window' in [cluster] (first at line 4)");
}

static void test_config_rejects_bad_hex_key(void **state)
{
	(void)state;
	expect_edit_error("public_key = " PK64("1"), "public_key = g" PK64("1"),
			  "cluster.ini:14: bad value for 'public_key' in [replica 1]: expected 64 hex "
			  "digits (a 32-byte Ed25519 public key), got 65 characters");
	expect_edit_error(PK64("1"), "g" H8("1") H8("1") H8("1") H8("1") H8("1") H8("1")
			  H8("1") "1111111",
			  "cluster.ini:14: bad value for 'public_key' in [replica 1]: expected 64 hex "
			  "digits (a 32-byte Ed25519 public key), found a character that is not a "
			  "hex digit");
	expect_edit_error("public_key = " PK64("c"), "public_key = ",
			  "cluster.ini:27: bad value for 'public_key' in [client 0]: expected 64 hex "
			  "digits (a 32-byte Ed25519 public key), got 0 characters");
}

static void test_config_rejects_port_out_of_range(void **state)
{
	(void)state;
	expect_edit_error("peer = 127.0.0.1:7100", "peer = 127.0.0.1:70000",
			  "cluster.ini:7: bad value '127.0.0.1:70000' for 'peer' in [replica 0]: "
			  "port 70000 is out of range (1..65535)");
	expect_edit_error("client = 127.0.0.1:7110", "client = 127.0.0.1:0",
			  "cluster.ini:23: bad value '127.0.0.1:0' for 'client' in [replica 3]: "
			  "port 0 is out of range (1..65535)");
	expect_edit_error("client = 127.0.0.1:7110", "status = 127.0.0.1",
			  "cluster.ini:23: bad value '127.0.0.1' for 'status' in [replica 3]: "
			  "expected host:port");
}

static void test_config_rejects_shared_endpoints_and_keys(void **state)
{
	(void)state;
	expect_edit_error("client = 127.0.0.1:7107", "client = 127.0.0.1:7100",
			  "cluster.ini:18: 'client' of [replica 2] (127.0.0.1:7100) is already used "
			  "by 'peer' of [replica 0]");
	expect_edit_error("client = 127.0.0.1:7104", "client = 127.0.0.1:7104\n"
			  "status = 127.0.0.1:7104",
			  "cluster.ini:14: 'status' of [replica 1] (127.0.0.1:7104) is already used "
			  "by 'client' of [replica 1]");
	expect_edit_error(PK64("c"), PK64("2"),
			  "cluster.ini:27: public_key of [client 0] is the same as that of "
			  "[replica 2]: every replica and client needs its own key");
}

static void test_config_rejects_ids_out_of_range(void **state)
{
	(void)state;
	expect_edit_error("[client 0]", "[replica 4]",
			  "cluster.ini:26: [replica 4] is out of range: n = 4 replicas are numbered "
			  "0..3");
	expect_edit_error("[client 0]", "[replica 64]",
			  "cluster.ini:26: [replica 64]: replica ids go up to 63 (at most 64 "
			  "replicas)");
	expect_edit_error("[client 0]", "[client 4096]",
			  "cluster.ini:26: [client 4096]: client ids go up to 4095 (at most 4096 "
			  "clients)");
}

static void test_config_rejects_syntax_errors(void **state)
{
	char *text, *nul;
	size_t len;

	(void)state;
	expect_edit_error("[client 0]", "[clients 0]",
			  "cluster.ini:26: unknown section [clients 0] (expected [cluster], "
			  "[threshold], [replica N] or [client N])");
	expect_edit_error("[client 0]", "[client 01]",
			  "cluster.ini:26: unknown section [client 01] (expected [cluster], "
			  "[threshold], [replica N] or [client N])");
	expect_edit_error("[client 0]", "[client 0",
			  "cluster.ini:26: section header without a closing ']'");
	expect_edit_error("[client 0]", "[client 0] x",
			  "cluster.ini:26: unexpected text after the section header");
	expect_edit_error("window = 256", "window 256",
			  "cluster.ini:4: syntax error: expected '[section]', 'key = value' or a "
			  "comment");
	expect_error("n = 4\n[cluster]\n", "cluster.ini:1: key 'n' outside any section");
	/* an indented line continues only the [threshold] key sets */
	expect_edit_error("window = 256", "window = 256\n  512",
			  "cluster.ini:5: unexpected indented line: it would continue the value of "
			  "'window', which is one line (only the [threshold] key sets continue on "
			  "indented lines)");

	/* a line longer than inih's buffer is refused, not split */
	text = edit(BASE, "window = 256", "window = 256 ; " PK64("x") PK64("x") PK64("x"));
	expect_error(text, "cluster.ini:4: line too long (at most 198 characters; a long value "
		     "continues on indented lines)");
	free(text);

	/* a NUL byte inside the text */
	text = strdup(BASE);
	assert_non_null(text);
	len = strlen(text);
	nul = strstr(text, "256");
	nul[1] = '\0';
	expect_error_len(text, len, "cluster.ini:4: NUL byte in the file (cluster.ini is text)");
	free(text);

	/* the first problem in the file wins over a later one */
	text = edit(BASE, "window = 256", "windw = 256");
	{
		char *two = edit(text, "[client 0]", "[client 0");

		expect_error(two, "cluster.ini:4: unknown key 'windw' in [cluster]");
		free(two);
	}
	free(text);
}

static void test_config_rejects_inconsistent_limits(void **state)
{
	(void)state;
	expect_edit_error("window = 256", "window = 32",
			  "cluster.ini:4: window (32) must be at least checkpoint_interval (256)");
	expect_edit_error("window = 256", "frame_max = 65536\nbatch_max_bytes = 65536",
			  "cluster.ini:5: batch_max_bytes (65536) must leave 4096 bytes of frame_max "
			  "(65536) for the message around the batch");
	expect_edit_error("window = 256", "frame_max = 65536\nbatch_max_bytes = 1024",
			  "cluster.ini:4: op_max (65792) must leave 4096 bytes of frame_max (65536) "
			  "for the request and the message around it");
	expect_edit_error("window = 256", "frame_max = 1048576\nstate_chunk_bytes = 1048576",
			  "cluster.ini:5: state_chunk_bytes (1048576) must leave 4096 bytes of "
			  "frame_max (1048576) for the message around the chunk");
	expect_edit_error("window = 256", "hb_batch_size = 3",
			  "cluster.ini:4: hb_batch_size (3) must be at least n (4): each replica "
			  "proposes hb_batch_size / n requests per epoch");
}

static void test_config_rejects_bad_paths(void **state)
{
	char big[NODE_CONFIG_PATH_MAX + 32];
	char *text;

	(void)state;
	expect_edit_error("public_key = " PK64("c"), "public_key = " PK64("c") "\nkey_file =",
			  "cluster.ini:28: bad value for 'key_file' in [client 0]: expected a path");
	expect_edit_error("public_key = " PK64("c"), "public_key = " PK64("c") "\nkey_file = a\tb",
			  "cluster.ini:28: bad value for 'key_file' in [client 0]: the path holds a "
			  "control character");
	/* a relative path too long once joined to the directory: parse with a long basedir */
	memset(big, 'd', sizeof(big));
	big[NODE_CONFIG_PATH_MAX - 5] = '\0';
	text = edit(BASE, "public_key = " PK64("c"), "public_key = " PK64("c") "\nkey_file = c.key");
	{
		struct node_config c;
		char err[NODE_CONFIG_ERR_BYTES];

		assert_int_equal(node_config_parse(&c, "cluster.ini", text, strlen(text), big, err,
						   sizeof(err)), -1);
		assert_string_equal(err, "cluster.ini:28: bad value for 'key_file' in [client 0]: "
				    "the path is longer than 4095 bytes (after joining it to the "
				    "directory of cluster.ini)");
	}
	free(text);
}

static void test_config_rejects_bad_threshold_key_sets(void **state)
{
	struct cr_thresh_pubkey coin, enc, coin7, enc7;
	char *text, *bad;

	(void)state;
	deal(&coin, 4, 1, CR_THRESH_COIN, 1);
	deal(&enc, 4, 1, CR_THRESH_ENC, 2);
	deal(&coin7, 7, 2, CR_THRESH_COIN, 3);
	deal(&enc7, 7, 2, CR_THRESH_ENC, 4);

	/* [threshold] starts at line 30 (BASE's 27 lines, protocol, a blank line) */
	text = hbbft_text(&enc, &coin); /* swapped */
	expect_error(text, "cluster.ini:31: bad value for 'coin_public' in [threshold]: this is "
		     "the encryption key set (coin_public and enc_public swapped?)");
	free(text);

	text = hbbft_text(&coin7, &enc);
	expect_error(text, "cluster.ini:31: bad value for 'coin_public' in [threshold]: a key set "
		     "for n = 7, f = 2, but the cluster has n = 4, f = 1");
	free(text);

	/* enc_public follows coin_public's 1 + 6 lines */
	text = hbbft_text(&coin, &enc7);
	expect_error(text, "cluster.ini:38: bad value for 'enc_public' in [threshold]: a key set "
		     "for n = 7, f = 2, but the cluster has n = 4, f = 1");
	free(text);

	/* a key set whose points are not on one polynomial: change one vk digit */
	text = hbbft_text(&coin, &enc);
	{
		char *vk = strstr(text, "coin_public =\n\t") + strlen("coin_public =\n\t") + 2 * 40;

		*vk = *vk == '0' ? '1' : '0';
	}
	expect_error(text, "cluster.ini:31: bad value for 'coin_public' in [threshold]: not a "
		     "valid key set (a bad header or point, or keys that do not lie on one "
		     "polynomial)");
	free(text);

	/* not hex, on the continuation line that holds it */
	text = hbbft_text(&coin, &enc);
	bad = strstr(text, "enc_public =\n\t") + strlen("enc_public =\n\t");
	bad[70] = 'z'; /* second continuation line (line 40) */
	expect_error(text, "cluster.ini:40: bad value for 'enc_public' in [threshold]: not "
		     "hexadecimal (a key set is hex digits, continued on indented lines)");
	free(text);

	/* truncated (digits turned into indentation, so the lines stay where they were): an
	 * odd number of digits, then a whole number of bytes but one byte short */
	text = hbbft_text(&coin, &enc);
	bad = strstr(text, "enc_public =\n\t") + strlen("enc_public =\n\t");
	bad[0] = '\t';
	expect_error(text, "cluster.ini:38: bad value for 'enc_public' in [threshold]: 335 hex "
		     "digits (a key set is an even, non-zero number of them)");
	bad[1] = '\t';
	expect_error(text, "cluster.ini:38: bad value for 'enc_public' in [threshold]: not a "
		     "valid key set (a bad header or point, or keys that do not lie on one "
		     "polynomial)");
	free(text);

	/* the last byte lost (trailing blanks are not part of a value) */
	text = hbbft_text(&coin, &enc);
	memcpy(text + strlen(text) - 3, "  ", 2);
	expect_error(text, "cluster.ini:38: bad value for 'enc_public' in [threshold]: 167 bytes, "
		     "but a key set for n = 4 is 168");
	free(text);

	/* present but empty */
	text = hbbft_text(&coin, &enc);
	bad = strstr(text, "enc_public =\n");
	bad[strlen("enc_public =")] = '\0';
	expect_error(text, "cluster.ini:38: bad value for 'enc_public' in [threshold]: 0 hex "
		     "digits (a key set is an even, non-zero number of them)");
	free(text);

	/* missing one of the two */
	text = hbbft_text(&coin, &enc);
	bad = strstr(text, "enc_public");
	*bad = '\0';
	expect_error(text, "cluster.ini:30: [threshold] is missing 'enc_public'");
	free(text);
}

/* ---------------------------------------------------------------------------------------- */
/* The generated file, pure */

static void test_keygen_format_round_trips_through_the_parser(void **state)
{
	uint8_t rpk[NODE_CONFIG_REPLICAS_MAX][CR_PK_BYTES], cpk[3][CR_PK_BYTES];
	struct cr_thresh_pubkey coin, enc;
	struct node_keygen_opts o;
	struct node_keygen_public pub;
	struct node_config c;
	char err[NODE_CONFIG_ERR_BYTES], *ini = NULL;
	static const uint32_t fs[] = { 1, 21 };

	(void)state;
	for (size_t t = 0; t < sizeof(fs) / sizeof(fs[0]); t++) {
		uint32_t f = fs[t], n = 3 * f + 1;

		for (uint32_t i = 0; i < n; i++)
			memset(rpk[i], (int)(i + 1), CR_PK_BYTES);
		for (uint32_t i = 0; i < 3; i++)
			memset(cpk[i], (int)(0x80 + i), CR_PK_BYTES);
		deal(&coin, n, f, CR_THRESH_COIN, 9);
		deal(&enc, n, f, CR_THRESH_ENC, 10);
		node_keygen_opts_default(&o);
		o.host = t == 0 ? "::1" : "node.example";
		o.base_port = 9000;
		o.protocol = NODE_PROTOCOL_HBBFT;
		pub = (struct node_keygen_public){ .n = n, .f = f, .clients = 3,
						   .replica_pks = (const uint8_t (*)[32])rpk,
						   .client_pks = (const uint8_t (*)[32])cpk,
						   .coin = &coin, .enc = &enc };
		assert_int_equal(node_keygen_format_ini(&o, &pub, &ini, err, sizeof(err)), 0);
		parse_ok(ini, "/k", &c);
		assert_int_equal(c.n, n);
		assert_int_equal(c.f, f);
		assert_int_equal(c.protocol, NODE_PROTOCOL_HBBFT);
		assert_int_equal(c.nclients, 3);
		assert_memory_equal(&c.coin_pk, &coin, sizeof(coin));
		assert_memory_equal(&c.enc_pk, &enc, sizeof(enc));
		for (uint32_t i = 0; i < n; i++) {
			assert_memory_equal(c.replica_pks[i], rpk[i], CR_PK_BYTES);
			assert_string_equal(c.replicas[i].peer.host, o.host);
			assert_int_equal(c.replicas[i].peer.port, 9000 + 3 * i);
			assert_int_equal(c.replicas[i].client.port, 9000 + 3 * i + 1);
			assert_int_equal(c.replicas[i].status.port, 9000 + 3 * i + 2);
		}
		assert_memory_equal(c.client_pks[2], cpk[2], CR_PK_BYTES);
		assert_string_equal(c.replicas[n - 1].enc_share_file, n == 4 ?
				    "/k/replica-3.enc" : "/k/replica-63.enc");
		/* every default in the file is the documented default */
		assert_int_equal(c.window, NODE_CFG_DEFAULT_WINDOW);
		assert_int_equal(c.op_max, NODE_CFG_DEFAULT_OP_MAX);
		node_config_free(&c);
		free(ini);
	}
}

static void test_keygen_resolve_messages(void **state)
{
	struct node_keygen_opts o;
	char err[NODE_CONFIG_ERR_BYTES];
	uint32_t n = 0, f = 0;

	(void)state;
	node_keygen_opts_default(&o);
	o.out_dir = "x";
	assert_int_equal(node_keygen_resolve(&o, &n, &f, err, sizeof(err)), -1);
	assert_string_equal(err, "give the number of faults to tolerate (--faults F) or of "
			    "replicas (--replicas N)");
	o.faults = 2;
	assert_int_equal(node_keygen_resolve(&o, &n, &f, err, sizeof(err)), 0);
	assert_int_equal(n, 7);
	assert_int_equal(f, 2);
	o.replicas = 5;
	assert_int_equal(node_keygen_resolve(&o, &n, &f, err, sizeof(err)), -1);
	assert_string_equal(err, "5 replicas cannot tolerate 2 faults: Byzantine agreement needs "
			    "n >= 3f+1 = 7");
	o.faults = NODE_KEYGEN_UNSET;
	o.replicas = 3;
	assert_int_equal(node_keygen_resolve(&o, &n, &f, err, sizeof(err)), -1);
	assert_string_equal(err, "3 replicas cannot tolerate any fault: Byzantine agreement needs "
			    "at least 4 replicas (n >= 3f+1 with f >= 1)");
	o.replicas = 6;
	assert_int_equal(node_keygen_resolve(&o, &n, &f, err, sizeof(err)), 0);
	assert_int_equal(n, 6);
	assert_int_equal(f, 1);
	o.faults = 0;
	o.replicas = NODE_KEYGEN_UNSET;
	assert_int_equal(node_keygen_resolve(&o, &n, &f, err, sizeof(err)), -1);
	assert_string_equal(err, "1 replica cannot tolerate any fault: Byzantine agreement needs "
			    "at least 4 replicas (n >= 3f+1 with f >= 1)");
	o.faults = 21;
	o.base_port = 65400;
	assert_int_equal(node_keygen_resolve(&o, &n, &f, err, sizeof(err)), -1);
	assert_string_equal(err, "base port 65400 does not work for 64 replicas: they use ports "
			    "65400..65591 (3 each), which must lie in 1..65535");
	o.base_port = 7100;
	o.host = "bad host";
	assert_int_equal(node_keygen_resolve(&o, &n, &f, err, sizeof(err)), -1);
	assert_string_equal(err, "bad host 'bad host': the host holds a character that cannot be "
			    "in a host name or address");
	o.host = "127.0.0.1";
	o.clients = NODE_CONFIG_CLIENTS_MAX + 1;
	assert_int_equal(node_keygen_resolve(&o, &n, &f, err, sizeof(err)), -1);
	assert_string_equal(err, "4097 clients are too many: at most 4096");
	o.clients = 0;
	o.out_dir = NULL;
	assert_int_equal(node_keygen_resolve(&o, &n, &f, err, sizeof(err)), -1);
	assert_string_equal(err, "give the output directory (--out DIR)");
}

/* ---------------------------------------------------------------------------------------- */
/* Files: a generated cluster, loaded with its keys */

static void test_config_generated_cluster_loads_with_all_keys(void **state)
{
	const char *dir = fresh_dir("gen_hbbft");
	struct node_config c;
	struct node_replica_keys k;
	struct cr_identity ci;
	char err[NODE_CONFIG_ERR_BYTES] = "";
	struct stat st;

	(void)state;
	keygen(dir, 1, 2, NODE_PROTOCOL_HBBFT);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	load_ok(dir, &c);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.f, 1);
	assert_int_equal(c.nclients, 2);
	assert_true(c.has_threshold);
	assert_string_equal(c.replicas[1].key_file, path_in(dir, "replica-1.key"));
	for (bft_replica_id i = 0; i < c.n; i++) {
		const struct cr_thresh_share *coin, *enc;

		if (node_config_load_replica_keys(&c, i, &k, err, sizeof(err)) != 0)
			fail_msg("replica %u: %s", i, err);
		assert_int_equal(k.id, i);
		assert_memory_equal(k.ident.pk, c.replica_pks[i], CR_PK_BYTES);
		assert_non_null(k.ident.sk);
		coin = node_replica_keys_coin(&k);
		enc = node_replica_keys_enc(&k);
		assert_non_null(coin);
		assert_non_null(enc);
		assert_int_equal(coin->index, i + 1);
		assert_int_equal(coin->purpose, CR_THRESH_COIN);
		assert_int_equal(enc->purpose, CR_THRESH_ENC);
		assert_int_equal(cr_thresh_share_check(&c.coin_pk, coin), 0);
		assert_int_equal(cr_thresh_share_check(&c.enc_pk, enc), 0);
		node_replica_keys_free(&k);
		node_replica_keys_free(&k);
	}
	for (bft_client_id i = 0; i < c.nclients; i++) {
		if (node_config_load_client_identity(&c, i, &ci, err, sizeof(err)) != 0)
			fail_msg("client %u: %s", (unsigned)i, err);
		assert_memory_equal(ci.pk, c.client_pks[i], CR_PK_BYTES);
		cr_identity_free(&ci);
	}
	assert_int_equal(node_config_load_client_identity(&c, 2, &ci, err, sizeof(err)), -1);
	assert_string_equal(err + strlen(c.path), ": there is no [client 2]: the clients are "
			    "numbered 0..1");
	{
		char want[1024];

		snprintf(want, sizeof(want), "%s: there is no [replica 4]: the cluster's n = 4 "
			 "replicas are numbered 0..3", c.path);
		expect_keys_error(&c, 4, want);
	}
	node_config_free(&c);
}

static void test_config_pbft_replica_does_not_read_shares(void **state)
{
	const char *dir = fresh_dir("gen_pbft");
	struct node_config c;
	struct node_replica_keys k;
	char err[NODE_CONFIG_ERR_BYTES] = "";

	(void)state;
	keygen(dir, 1, 0, NODE_PROTOCOL_PBFT);
	assert_int_equal(unlink(path_in(dir, "replica-0.coin")), 0);
	load_ok(dir, &c);
	assert_int_equal(c.protocol, NODE_PROTOCOL_PBFT);
	assert_int_equal(c.nclients, 0);
	assert_null(c.clients);
	if (node_config_load_replica_keys(&c, 0, &k, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_null(node_replica_keys_coin(&k));
	assert_null(node_replica_keys_enc(&k));
	node_replica_keys_free(&k);
	node_config_free(&c);
}

static void test_config_refuses_key_file_with_mode_0644(void **state)
{
	const char *dir = fresh_dir("mode");
	struct node_config c;
	char want[2048], key[512];

	(void)state;
	keygen(dir, 1, 1, NODE_PROTOCOL_HBBFT);
	load_ok(dir, &c);
	snprintf(key, sizeof(key), "%s", path_in(dir, "replica-2.key"));
	assert_int_equal(chmod(key, 0644), 0);
	snprintf(want, sizeof(want), "%s: [replica 2] key_file: %s: permissions 0644 are too open; "
		 "secret keys must not be accessible by group or others: run chmod 600 %s",
		 c.path, key, key);
	expect_keys_error(&c, 2, want);
	assert_int_equal(chmod(key, 0600), 0);

	snprintf(key, sizeof(key), "%s", path_in(dir, "replica-1.enc"));
	assert_int_equal(chmod(key, 0640), 0);
	snprintf(want, sizeof(want), "%s: [replica 1] enc_share_file: %s: permissions 0640 are too "
		 "open; secret keys must not be accessible by group or others: run chmod 600 %s",
		 c.path, key, key);
	expect_keys_error(&c, 1, want);
	node_config_free(&c);
}

static void test_config_refuses_missing_key_file(void **state)
{
	const char *dir = fresh_dir("missing");
	struct node_config c;
	struct cr_identity ci;
	char want[2048], key[512], err[NODE_CONFIG_ERR_BYTES];

	(void)state;
	keygen(dir, 1, 1, NODE_PROTOCOL_HBBFT);
	load_ok(dir, &c);
	snprintf(key, sizeof(key), "%s", path_in(dir, "replica-1.key"));
	assert_int_equal(unlink(key), 0);
	snprintf(want, sizeof(want), "%s: [replica 1] key_file: %s: no such file", c.path, key);
	expect_keys_error(&c, 1, want);

	snprintf(key, sizeof(key), "%s", path_in(dir, "replica-3.coin"));
	assert_int_equal(unlink(key), 0);
	snprintf(want, sizeof(want), "%s: [replica 3] coin_share_file: %s: no such file", c.path,
		 key);
	expect_keys_error(&c, 3, want);

	snprintf(key, sizeof(key), "%s", path_in(dir, "client-0.key"));
	assert_int_equal(unlink(key), 0);
	snprintf(want, sizeof(want), "%s: [client 0] key_file: %s: no such file", c.path, key);
	memset(&ci, 0x5a, sizeof(ci));
	assert_int_equal(node_config_load_client_identity(&c, 0, &ci, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_null(ci.sk);
	node_config_free(&c);
}

static void test_config_refuses_keys_of_another_member_or_cluster(void **state)
{
	const char *dir = fresh_dir("swap");
	const char *other = fresh_dir("other");
	struct node_config c;
	char want[2048], key[512];

	(void)state;
	keygen(dir, 1, 1, NODE_PROTOCOL_HBBFT);
	keygen(other, 1, 1, NODE_PROTOCOL_HBBFT);
	load_ok(dir, &c);

	/* replica 0's identity in replica 1's place */
	snprintf(key, sizeof(key), "%s", path_in(dir, "replica-1.key"));
	copy_file(path_in(dir, "replica-0.key"), key);
	snprintf(want, sizeof(want), "%s: [replica 1] key_file: %s belongs to replica 0, not to "
		 "[replica 1]", c.path, key);
	expect_keys_error(&c, 1, want);

	/* the right owner, but a key from another cluster */
	copy_file(path_in(other, "replica-1.key"), key);
	snprintf(want, sizeof(want), "%s: [replica 1] key_file: %s holds a key whose public half "
		 "is not the public_key of [replica 1]", c.path, key);
	expect_keys_error(&c, 1, want);

	/* a share from another cluster's dealer */
	snprintf(key, sizeof(key), "%s", path_in(dir, "replica-3.coin"));
	copy_file(path_in(other, "replica-3.coin"), key);
	snprintf(want, sizeof(want), "%s: [replica 3] coin_share_file: %s is not this replica's "
		 "share of the [threshold] coin_public key set (keys from another bftkeygen run?)",
		 c.path, key);
	expect_keys_error(&c, 3, want);

	/* a coin share where the encryption share belongs */
	snprintf(key, sizeof(key), "%s", path_in(dir, "replica-0.enc"));
	copy_file(path_in(dir, "replica-0.coin"), key);
	snprintf(want, sizeof(want), "%s: [replica 0] enc_share_file: %s: holds a coin-share key, "
		 "expected enc-share", c.path, key);
	expect_keys_error(&c, 0, want);

	/* a client key in a replica's place */
	snprintf(key, sizeof(key), "%s", path_in(dir, "replica-0.key"));
	copy_file(path_in(dir, "client-0.key"), key);
	snprintf(want, sizeof(want), "%s: [replica 0] key_file: %s belongs to client 0, not to "
		 "[replica 0]", c.path, key);
	expect_keys_error(&c, 0, want);
	node_config_free(&c);
}

static void test_config_load_file_errors(void **state)
{
	const char *dir = fresh_dir("files");
	struct node_config c;
	char want[1024], err[NODE_CONFIG_ERR_BYTES];
	FILE *fp;

	(void)state;
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(node_config_load(&c, path_in(dir, "cluster.ini"), err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: no such file", path_in(dir, "cluster.ini"));
	assert_string_equal(err, want);

	assert_int_equal(node_config_load(&c, dir, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: not a regular file", dir);
	assert_string_equal(err, want);

	/* a file's messages carry its path, and key paths are relative to its directory */
	fp = fopen(path_in(dir, "c.ini"), "w");
	assert_non_null(fp);
	fputs(BASE, fp);
	fputs("windw = 1\n", fp);
	fclose(fp);
	assert_int_equal(node_config_load(&c, path_in(dir, "c.ini"), err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:28: unknown key 'windw' in [client 0]",
		 path_in(dir, "c.ini"));
	assert_string_equal(err, want);

	fp = fopen(path_in(dir, "c.ini"), "w");
	assert_non_null(fp);
	fputs(BASE, fp);
	fclose(fp);
	assert_int_equal(node_config_load(&c, path_in(dir, "c.ini"), err, sizeof(err)), 0);
	assert_string_equal(c.replicas[0].key_file, path_in(dir, "replica-0.key"));
	node_config_free(&c);

	/* too large */
	fp = fopen(path_in(dir, "big.ini"), "w");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, (long)NODE_CONFIG_FILE_MAX, SEEK_SET), 0);
	fputc('\n', fp);
	fclose(fp);
	assert_int_equal(node_config_load(&c, path_in(dir, "big.ini"), err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: too large (4194305 bytes; a cluster configuration is at "
		 "most 4194304)", path_in(dir, "big.ini"));
	assert_string_equal(err, want);
}

static void test_keygen_refuses_non_empty_dir_unless_forced(void **state)
{
	const char *dir = fresh_dir("force");
	struct node_keygen_opts o;
	struct node_config c1, c2;
	char want[1024], err[NODE_CONFIG_ERR_BYTES];
	FILE *fp;

	(void)state;
	/* hidden files and README.md do not make a directory non-empty */
	assert_int_equal(mkdir(dir, 0700), 0);
	fp = fopen(path_in(dir, ".gitignore"), "w");
	assert_non_null(fp);
	fclose(fp);
	fp = fopen(path_in(dir, "README.md"), "w");
	assert_non_null(fp);
	fclose(fp);
	keygen(dir, 1, 1, NODE_PROTOCOL_PBFT);
	load_ok(dir, &c1);

	node_keygen_opts_default(&o);
	o.faults = 1;
	o.clients = 1;
	o.out_dir = dir;
	assert_int_equal(node_keygen_run(&o, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s is not empty (it holds ", dir);
	assert_memory_equal(err, want, strlen(want));
	assert_non_null(strstr(err, "); refusing to overwrite key material there (--force "
			       "replaces the files a key generation writes)"));

	o.force = true;
	if (node_keygen_run(&o, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	load_ok(dir, &c2);
	assert_memory_not_equal(c1.replica_pks[0], c2.replica_pks[0], CR_PK_BYTES);
	assert_int_equal(access(path_in(dir, "README.md"), F_OK), 0); /* others left alone */
	node_config_free(&c1);
	node_config_free(&c2);
}

static void test_keygen_failure_removes_what_it_wrote(void **state)
{
	const char *dir = fresh_dir("undo");
	struct node_keygen_opts o;
	char err[NODE_CONFIG_ERR_BYTES], want[1024];

	(void)state;
	/* A directory where client-1.key should go makes the run fail half-way, after the
	 * replica keys and client 0's key were written (force lets the run start at all). */
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkdir(path_in(dir, "client-1.key"), 0700), 0);
	node_keygen_opts_default(&o);
	o.faults = 1;
	o.clients = 2;
	o.out_dir = dir;
	o.force = true;
	assert_int_equal(node_keygen_run(&o, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: ", path_in(dir, "client-1.key"));
	assert_memory_equal(err, want, strlen(want));
	assert_int_equal(access(path_in(dir, "replica-0.key"), F_OK), -1);
	assert_int_equal(access(path_in(dir, "replica-3.key"), F_OK), -1);
	assert_int_equal(access(path_in(dir, "client-0.key"), F_OK), -1);
	assert_int_equal(access(path_in(dir, "cluster.ini"), F_OK), -1);
	assert_int_equal(access(path_in(dir, "client-1.key"), F_OK), 0); /* not ours */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_base_parses_with_documented_defaults),
		cmocka_unit_test(test_config_sets_every_cluster_key),
		cmocka_unit_test(test_config_accepts_comments_crlf_bom_and_any_section_order),
		cmocka_unit_test(test_config_hbbft_with_threshold_key_sets),
		cmocka_unit_test(test_config_wire_limits_follow_the_config),
		cmocka_unit_test(test_config_endpoint_parse),
		cmocka_unit_test(test_config_check_nf_messages),
		cmocka_unit_test(test_config_rejects_unknown_key_naming_file_and_line),
		cmocka_unit_test(test_config_rejects_bad_integer),
		cmocka_unit_test(test_config_rejects_bad_enums_and_booleans),
		cmocka_unit_test(test_config_rejects_too_few_replicas_for_f),
		cmocka_unit_test(test_config_rejects_missing_sections),
		cmocka_unit_test(test_config_rejects_missing_required_keys),
		cmocka_unit_test(test_config_rejects_duplicate_replica_section),
		cmocka_unit_test(test_config_rejects_duplicate_key),
		cmocka_unit_test(test_config_rejects_bad_hex_key),
		cmocka_unit_test(test_config_rejects_port_out_of_range),
		cmocka_unit_test(test_config_rejects_shared_endpoints_and_keys),
		cmocka_unit_test(test_config_rejects_ids_out_of_range),
		cmocka_unit_test(test_config_rejects_syntax_errors),
		cmocka_unit_test(test_config_rejects_inconsistent_limits),
		cmocka_unit_test(test_config_rejects_bad_paths),
		cmocka_unit_test(test_config_rejects_bad_threshold_key_sets),
		cmocka_unit_test(test_keygen_format_round_trips_through_the_parser),
		cmocka_unit_test(test_keygen_resolve_messages),
		cmocka_unit_test(test_config_generated_cluster_loads_with_all_keys),
		cmocka_unit_test(test_config_pbft_replica_does_not_read_shares),
		cmocka_unit_test(test_config_refuses_key_file_with_mode_0644),
		cmocka_unit_test(test_config_refuses_missing_key_file),
		cmocka_unit_test(test_config_refuses_keys_of_another_member_or_cluster),
		cmocka_unit_test(test_config_load_file_errors),
		cmocka_unit_test(test_keygen_refuses_non_empty_dir_unless_forced),
		cmocka_unit_test(test_keygen_failure_removes_what_it_wrote),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
