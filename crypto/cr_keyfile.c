#include "crypto/cr_keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "crypto/cr_hash.h"

/* The format (keys/README.md is the specification; keep the two in step). */
#define HEADER        "bft-key v1"
#define HEADER_PREFIX "bft-key v"
#define FIELD_KIND    "kind: "
#define FIELD_ID      "id: "
#define FIELD_KEY     "key: "
#define FIELD_CHECK   "check: "
#define TAG_CHECK     "keyfile.check"
#define CHECK_BYTES   16u
#define LINES         5u
#define ID_TEXT_MAX   32u /* "client " + 20 digits + NUL fits */
#define PATH_BYTES    4096u

struct kind_info {
	enum cr_key_kind kind;
	const char *name;
	size_t len;
	int secret;
};

static const struct kind_info kinds[] = {
	{ CR_KEY_ED25519_SECRET, "ed25519-secret", 64, 1 },
	{ CR_KEY_ED25519_PUBLIC, "ed25519-public", 32, 0 },
	{ CR_KEY_COIN_SHARE,     "coin-share",     32, 1 },
	{ CR_KEY_ENC_SHARE,      "enc-share",      32, 1 },
	{ CR_KEY_COIN_PUBLIC,    "coin-public",    32, 0 },
	{ CR_KEY_ENC_PUBLIC,     "enc-public",     32, 0 },
	{ CR_KEY_MAC,            "mac-key",        32, 1 },
};
#define KINDS_N (sizeof(kinds) / sizeof(kinds[0]))

/* ---------------------------------------------------------------------------------------------
 * Small helpers. */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void clearerr_buf(char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
}

static const struct kind_info *kind_find(enum cr_key_kind kind)
{
	for (size_t i = 0; i < KINDS_N; i++)
		if (kinds[i].kind == kind)
			return &kinds[i];
	return NULL;
}

static const struct kind_info *kind_find_name(const char *s, size_t n)
{
	for (size_t i = 0; i < KINDS_N; i++)
		if (strlen(kinds[i].name) == n && memcmp(kinds[i].name, s, n) == 0)
			return &kinds[i];
	return NULL;
}

const char *cr_key_kind_name(enum cr_key_kind kind)
{
	const struct kind_info *k = kind_find(kind);

	return k == NULL ? NULL : k->name;
}

size_t cr_key_kind_len(enum cr_key_kind kind)
{
	const struct kind_info *k = kind_find(kind);

	return k == NULL ? 0 : k->len;
}

int cr_key_kind_is_secret(enum cr_key_kind kind)
{
	const struct kind_info *k = kind_find(kind);

	return k != NULL && k->secret;
}

static int id_valid(const struct cr_key_id *id)
{
	if (id == NULL)
		return 0;
	switch (id->role) {
	case CR_KEY_REPLICA:
		return id->num <= UINT32_MAX;
	case CR_KEY_CLIENT:
		return 1;
	case CR_KEY_GROUP:
		return id->num == 0;
	}
	return 0;
}

const char *cr_key_id_format(const struct cr_key_id *id, char *buf, size_t buflen)
{
	if (buf == NULL || buflen == 0)
		return buf;
	if (!id_valid(id))
		snprintf(buf, buflen, "invalid id");
	else if (id->role == CR_KEY_REPLICA)
		snprintf(buf, buflen, "replica %llu", (unsigned long long)id->num);
	else if (id->role == CR_KEY_CLIENT)
		snprintf(buf, buflen, "client %llu", (unsigned long long)id->num);
	else
		snprintf(buf, buflen, "group");
	return buf;
}

/* Parses s[0..n) as a decimal in canonical form (no sign, no leading zero, no overflow). */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Parses the value of an id line: "replica N", "client N" or "group". */
static int parse_id(const char *s, size_t n, struct cr_key_id *out)
{
	static const char replica[] = "replica ", client[] = "client ";
	struct cr_key_id id = { 0 };

	if (n == strlen("group") && memcmp(s, "group", n) == 0) {
		id.role = CR_KEY_GROUP;
	} else if (n > strlen(replica) && memcmp(s, replica, strlen(replica)) == 0) {
		id.role = CR_KEY_REPLICA;
		if (parse_u64(s + strlen(replica), n - strlen(replica), &id.num) != 0)
			return -1;
	} else if (n > strlen(client) && memcmp(s, client, strlen(client)) == 0) {
		id.role = CR_KEY_CLIENT;
		if (parse_u64(s + strlen(client), n - strlen(client), &id.num) != 0)
			return -1;
	} else {
		return -1;
	}
	if (!id_valid(&id))
		return -1;
	*out = id;
	return 0;
}

/* 0 when s[0..n) is all lowercase hex digits. The encoding must be canonical: an uppercase digit
 * decodes to the same byte, so accepting it would let a damaged check line still match. No branch
 * depends on the characters, which may be a secret key's digits. */
static int hex_lower_check(const char *s, size_t n)
{
	unsigned bad = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)s[i];
		unsigned digit = (c - '0') < 10u;
		unsigned lower = (c - 'a') < 6u;

		bad |= (digit | lower) ^ 1u;
	}
	return bad == 0 ? 0 : -1;
}

/* The check value of a file whose first four lines are text[0..len). */
static void check_compute(uint8_t out[CHECK_BYTES], const char *text, size_t len)
{
	uint8_t d[CR_DIGEST_BYTES];

	cr_digest(d, TAG_CHECK, text, len);
	memcpy(out, d, CHECK_BYTES);
	sodium_memzero(d, sizeof(d));
}

/* ---------------------------------------------------------------------------------------------
 * The pure layer: encode and decode, memory to memory. */

/* Appends s[0..n) at out[*pos]; the caller has checked the room. */
static void put(char *out, size_t *pos, const char *s, size_t n)
{
	memcpy(out + *pos, s, n);
	*pos += n;
}

/* Appends the lowercase hex of b[0..n) at out[*pos] (no NUL). */
static void put_hex(char *out, size_t *pos, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	/* Table lookup by nibble: no branch depends on the (secret) bytes. */
	for (size_t i = 0; i < n; i++) {
		out[*pos + 2 * i] = digits[b[i] >> 4];
		out[*pos + 2 * i + 1] = digits[b[i] & 15];
	}
	*pos += 2 * n;
}

int cr_keyfile_encode(const char *name, char *out, size_t out_max, size_t *out_len,
		      enum cr_key_kind kind, const struct cr_key_id *id, const uint8_t *key,
		      size_t key_len, char *err, size_t errlen)
{
	const struct kind_info *ki = kind_find(kind);
	char idtext[ID_TEXT_MAX];
	uint8_t check[CHECK_BYTES];
	size_t need, pos = 0;

	clearerr_buf(err, errlen);
	if (name == NULL)
		name = "key file";
	if (out != NULL && out_max > 0)
		memset(out, 0, out_max);
	if (ki == NULL) {
		seterr(err, errlen, "%s: unknown key kind %d", name, (int)kind);
		return -1;
	}
	if (key == NULL || key_len != ki->len) {
		seterr(err, errlen, "%s: a %s key is %zu bytes, not %zu", name, ki->name, ki->len,
		       key == NULL ? (size_t)0 : key_len);
		return -1;
	}
	if (!id_valid(id)) {
		seterr(err, errlen, "%s: invalid key owner (a replica id above 2^32-1, an unknown "
		       "role, or a group with a number)", name);
		return -1;
	}
	cr_key_id_format(id, idtext, sizeof(idtext));
	need = strlen(HEADER) + 1 + strlen(FIELD_KIND) + strlen(ki->name) + 1 + strlen(FIELD_ID) +
	       strlen(idtext) + 1 + strlen(FIELD_KEY) + 2 * ki->len + 1 + strlen(FIELD_CHECK) +
	       2 * CHECK_BYTES + 1;
	if (out == NULL || out_len == NULL || out_max < need) {
		seterr(err, errlen, "%s: output buffer too small (%zu bytes, need %zu)", name,
		       out == NULL ? (size_t)0 : out_max, need);
		return -1;
	}
	put(out, &pos, HEADER "\n", strlen(HEADER) + 1);
	put(out, &pos, FIELD_KIND, strlen(FIELD_KIND));
	put(out, &pos, ki->name, strlen(ki->name));
	put(out, &pos, "\n", 1);
	put(out, &pos, FIELD_ID, strlen(FIELD_ID));
	put(out, &pos, idtext, strlen(idtext));
	put(out, &pos, "\n", 1);
	put(out, &pos, FIELD_KEY, strlen(FIELD_KEY));
	put_hex(out, &pos, key, key_len);
	put(out, &pos, "\n", 1);
	check_compute(check, out, pos);
	put(out, &pos, FIELD_CHECK, strlen(FIELD_CHECK));
	put_hex(out, &pos, check, CHECK_BYTES);
	put(out, &pos, "\n", 1);
	*out_len = pos;
	return 0;
}

/* Checks the first line before anything else, so that a file of another version, or no key file
 * at all, is reported as such rather than as whatever its first difference from v1 happens to be.
 * Returns 1 when line 1 is the v1 header followed by a newline, 0 when it is a prefix of it (the
 * caller reports the truncation), -1 after reporting an error. */
static int header_check(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	const char *nl = memchr(text, '\n', len);
	size_t n = nl == NULL ? len : (size_t)(nl - text);
	size_t pre = strlen(HEADER_PREFIX);
	uint64_t version;

	if (memcmp(text, HEADER_PREFIX, n < pre ? n : pre) != 0) {
		seterr(err, errlen, "%s: not a bft key file (the first line must be '%s')", name,
		       HEADER);
		return -1;
	}
	if (nl == NULL)
		return 0;
	if (n == strlen(HEADER) && memcmp(text, HEADER, n) == 0)
		return 1;
	if (n == strlen(HEADER) + 1 && memcmp(text, HEADER, n - 1) == 0 && text[n - 1] == '\r') {
		seterr(err, errlen, "%s: line 1: carriage return (DOS line endings); key files end "
		       "lines with '\\n' only", name);
		return -1;
	}
	if (n > pre && parse_u64(text + pre, n - pre, &version) == 0) {
		seterr(err, errlen, "%s: unsupported key file version v%llu: this build reads only "
		       "'%s' (regenerate the key with this build's bftkeygen)", name,
		       (unsigned long long)version, HEADER);
		return -1;
	}
	seterr(err, errlen, "%s: not a bft key file (the first line must be '%s')", name, HEADER);
	return -1;
}

/* Rejects any byte other than printable ASCII and '\n'. Reports a position, never the byte,
 * since a damaged key digit would otherwise reveal the digit it was. */
static int chars_check(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	unsigned line = 1;
	size_t col = 1;

	for (size_t i = 0; i < len; i++, col++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\n') {
			line++;
			col = 0;
		} else if (c == '\r') {
			seterr(err, errlen, "%s: line %u: carriage return (DOS line endings); key "
			       "files end lines with '\\n' only", name, line);
			return -1;
		} else if (c < 0x20 || c > 0x7e) {
			seterr(err, errlen, "%s: line %u, column %zu: a byte that is not printable "
			       "ASCII (the file is damaged)", name, line, col);
			return -1;
		}
	}
	return 0;
}

/* A line of the file, without its '\n'. */
struct line {
	const char *p;
	size_t len;
};

/* Splits text into exactly LINES newline-terminated lines. */
static int lines_split(const char *name, const char *text, size_t len, struct line *lines,
		       char *err, size_t errlen)
{
	unsigned n = 0;
	size_t pos = 0;

	while (pos < len) {
		const char *nl;

		if (n == LINES) {
			seterr(err, errlen, "%s: unexpected content after line %u (the check line)",
			       name, LINES);
			return -1;
		}
		nl = memchr(text + pos, '\n', len - pos);
		if (nl == NULL) {
			seterr(err, errlen, "%s: truncated: line %u does not end with a newline", name,
			       n + 1);
			return -1;
		}
		lines[n].p = text + pos;
		lines[n].len = (size_t)(nl - (text + pos));
		pos += lines[n].len + 1;
		n++;
	}
	if (n < LINES) {
		seterr(err, errlen, "%s: truncated: %u of the %u lines of a key file", name, n, LINES);
		return -1;
	}
	return 0;
}

/* If line starts with field, points *value at the rest and returns 0. */
static int field_value(const struct line *l, const char *field, struct line *value)
{
	size_t n = strlen(field);

	if (l->len < n || memcmp(l->p, field, n) != 0)
		return -1;
	value->p = l->p + n;
	value->len = l->len - n;
	return 0;
}

int cr_keyfile_decode(const char *name, const char *text, size_t len, enum cr_key_kind *kind,
		      struct cr_key_id *id, struct cr_secret *key, char *err, size_t errlen)
{
	struct line lines[LINES], v;
	const struct kind_info *ki;
	struct cr_key_id owner;
	struct cr_secret bytes = { 0 };
	uint8_t want[CHECK_BYTES], got[CHECK_BYTES];
	size_t bin_len = 0;
	int hdr, rc = -1;

	clearerr_buf(err, errlen);
	if (name == NULL)
		name = "key file";
	if (kind == NULL || id == NULL || key == NULL || (text == NULL && len > 0)) {
		seterr(err, errlen, "%s: internal error: missing argument to decode", name);
		return -1;
	}
	if (len == 0) {
		seterr(err, errlen, "%s: empty file (expected a '%s' key file)", name, HEADER);
		return -1;
	}
	if (len > CR_KEYFILE_MAX) {
		seterr(err, errlen, "%s: too large (%zu bytes; a key file is at most %u)", name, len,
		       CR_KEYFILE_MAX);
		return -1;
	}
	hdr = header_check(name, text, len, err, errlen);
	if (hdr < 0)
		return -1;
	if (hdr == 0) {
		seterr(err, errlen, "%s: truncated: line 1 does not end with a newline", name);
		return -1;
	}
	if (chars_check(name, text, len, err, errlen) != 0)
		return -1;
	if (lines_split(name, text, len, lines, err, errlen) != 0)
		return -1;

	/* The check line covers lines 1-4 byte for byte: verify it before trusting any field. */
	if (field_value(&lines[4], FIELD_CHECK, &v) != 0 || v.len != 2 * CHECK_BYTES ||
	    hex_lower_check(v.p, v.len) != 0 ||
	    sodium_hex2bin(got, sizeof(got), v.p, v.len, NULL, &bin_len, NULL) != 0 ||
	    bin_len != CHECK_BYTES) {
		seterr(err, errlen, "%s: line 5: expected 'check: <%u hex digits>'", name,
		       2 * CHECK_BYTES);
		return -1;
	}
	check_compute(want, text, (size_t)(lines[4].p - text));
	if (!cr_equal(want, got, CHECK_BYTES)) {
		seterr(err, errlen, "%s: checksum mismatch: the file is damaged or was edited by "
		       "hand; restore it from a backup or generate a new key", name);
		goto out;
	}

	if (field_value(&lines[1], FIELD_KIND, &v) != 0) {
		seterr(err, errlen, "%s: line 2: expected 'kind: <kind>'", name);
		goto out;
	}
	ki = kind_find_name(v.p, v.len);
	if (ki == NULL) {
		seterr(err, errlen, "%s: line 2: unknown key kind (known: ed25519-secret, "
		       "ed25519-public, coin-share, enc-share, coin-public, enc-public, mac-key)",
		       name);
		goto out;
	}
	if (field_value(&lines[2], FIELD_ID, &v) != 0 || parse_id(v.p, v.len, &owner) != 0) {
		seterr(err, errlen, "%s: line 3: expected 'id: replica <n>', 'id: client <n>' or "
		       "'id: group' (n a decimal without leading zeros; a replica id fits in 32 "
		       "bits)", name);
		goto out;
	}
	if (field_value(&lines[3], FIELD_KEY, &v) != 0) {
		seterr(err, errlen, "%s: line 4: expected 'key: <hex>'", name);
		goto out;
	}
	if (v.len != 2 * ki->len) {
		seterr(err, errlen, "%s: line 4: the key has %zu hex digits; a %s key has %zu", name,
		       v.len, ki->name, 2 * ki->len);
		goto out;
	}
	if (cr_secret_alloc(&bytes, ki->len) != 0) {
		seterr(err, errlen, "%s: out of secure memory", name);
		goto out;
	}
	if (hex_lower_check(v.p, v.len) != 0 ||
	    sodium_hex2bin(bytes.p, bytes.len, v.p, v.len, NULL, &bin_len, NULL) != 0 ||
	    bin_len != ki->len) {
		seterr(err, errlen, "%s: line 4: the key is not lowercase hexadecimal", name);
		goto out;
	}
	*kind = ki->kind;
	*id = owner;
	*key = bytes;
	bytes.p = NULL;
	bytes.len = 0;
	rc = 0;
out:
	cr_secret_free(&bytes);
	sodium_memzero(want, sizeof(want));
	sodium_memzero(got, sizeof(got));
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * The I/O layer: files, permissions, durability. */

/* Reads the whole file at path into *buf (cr_secret memory, since it may hold a secret key in
 * hex) and its length into *len. When secret is set, refuses a file group or others can access. */
static int file_read(const char *path, int secret, struct cr_secret *buf, size_t *len, char *err,
		     size_t errlen)
{
	struct stat st;
	size_t n = 0;
	int fd, rc = -1;

	/* O_NONBLOCK: a FIFO planted at the path must not hang the reader; it is then refused as
	 * not a regular file. Checks use fstat on the open descriptor, not the path, so the file
	 * checked is the file read. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			seterr(err, errlen, "%s: no such file", path);
		else
			seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		seterr(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (secret && (st.st_mode & 077) != 0) {
		seterr(err, errlen, "%s: permissions %04o are too open; secret keys must not be "
		       "accessible by group or others: run chmod 600 %s", path,
		       (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size > (off_t)CR_KEYFILE_MAX) {
		seterr(err, errlen, "%s: too large (%lld bytes; a key file is at most %u)", path,
		       (long long)st.st_size, CR_KEYFILE_MAX);
		goto out;
	}
	/* One byte of room beyond the limit tells a file that grew since fstat from one that fits. */
	if (cr_secret_alloc(buf, CR_KEYFILE_MAX + 1) != 0) {
		seterr(err, errlen, "%s: out of secure memory", path);
		goto out;
	}
	while (n < buf->len) {
		ssize_t r = read(fd, buf->p + n, buf->len - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			seterr(err, errlen, "%s: read error: %s", path, strerror(errno));
			cr_secret_free(buf);
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CR_KEYFILE_MAX) {
		seterr(err, errlen, "%s: too large (a key file is at most %u bytes)", path,
		       CR_KEYFILE_MAX);
		cr_secret_free(buf);
		goto out;
	}
	*len = n;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Reads and decodes path, checking the kind against the caller's expectation. */
static int read_kind(const char *path, enum cr_key_kind want, int secret, struct cr_key_id *id,
		     struct cr_secret *key, char *err, size_t errlen)
{
	struct cr_secret text = { 0 };
	struct cr_secret bytes = { 0 };
	struct cr_key_id owner;
	enum cr_key_kind got;
	size_t len = 0;
	int rc = -1;

	if (file_read(path, secret, &text, &len, err, errlen) != 0)
		return -1;
	if (cr_keyfile_decode(path, (const char *)text.p, len, &got, &owner, &bytes, err,
			      errlen) != 0)
		goto out;
	if (got != want) {
		seterr(err, errlen, "%s: holds a %s key, expected %s", path, cr_key_kind_name(got),
		       cr_key_kind_name(want));
		goto out;
	}
	if (id != NULL)
		*id = owner;
	*key = bytes;
	bytes.p = NULL;
	bytes.len = 0;
	rc = 0;
out:
	cr_secret_free(&bytes);
	cr_secret_free(&text);
	return rc;
}

int cr_keyfile_read_secret(const char *path, enum cr_key_kind kind, struct cr_key_id *id,
			   struct cr_secret *key, char *err, size_t errlen)
{
	clearerr_buf(err, errlen);
	if (path == NULL || key == NULL) {
		seterr(err, errlen, "key file: internal error: missing path or output");
		return -1;
	}
	if (!cr_key_kind_is_secret(kind)) {
		seterr(err, errlen, "%s: internal error: kind %d is not a secret kind", path,
		       (int)kind);
		return -1;
	}
	return read_kind(path, kind, 1, id, key, err, errlen);
}

int cr_keyfile_read_public(const char *path, enum cr_key_kind kind, struct cr_key_id *id,
			   uint8_t *key, size_t key_len, char *err, size_t errlen)
{
	struct cr_secret bytes = { 0 };

	clearerr_buf(err, errlen);
	if (path == NULL || key == NULL) {
		seterr(err, errlen, "key file: internal error: missing path or output");
		return -1;
	}
	if (cr_key_kind_name(kind) == NULL || cr_key_kind_is_secret(kind)) {
		seterr(err, errlen, "%s: internal error: kind %d is not a public kind", path,
		       (int)kind);
		return -1;
	}
	if (key_len != cr_key_kind_len(kind)) {
		seterr(err, errlen, "%s: internal error: a %s key is %zu bytes, not %zu", path,
		       cr_key_kind_name(kind), cr_key_kind_len(kind), key_len);
		return -1;
	}
	if (read_kind(path, kind, 0, id, &bytes, err, errlen) != 0)
		return -1;
	memcpy(key, bytes.p, key_len);
	cr_secret_free(&bytes);
	return 0;
}

/* Writes buf[0..len) to fd, retrying short writes and interruptions. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Makes the directory entry for path durable (the new name survives a crash). */
static int dir_sync(const char *path)
{
	char dir[PATH_BYTES];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
	} else if (slash == path) {
		snprintf(dir, sizeof(dir), "/");
	} else {
		size_t n = (size_t)(slash - path);

		if (n >= sizeof(dir))
			return -1;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	/* Some file systems cannot fsync a directory; there is nothing more we can do there. */
	if (rc != 0 && (errno == EINVAL || errno == EROFS))
		rc = 0;
	close(fd);
	return rc;
}

static int file_write(const char *path, int secret, enum cr_key_kind kind,
		      const struct cr_key_id *id, const uint8_t *key, size_t key_len,
		      unsigned flags, char *err, size_t errlen)
{
	const mode_t mode = secret ? 0600 : 0644;
	struct cr_secret text = { 0 };
	char tmp[PATH_BYTES];
	size_t len = 0;
	int fd = -1, rc = -1, n;

	clearerr_buf(err, errlen);
	if (path == NULL || path[0] == '\0') {
		seterr(err, errlen, "key file: internal error: missing path");
		return -1;
	}
	if ((flags & ~CR_KEYFILE_FORCE) != 0) {
		seterr(err, errlen, "%s: internal error: unknown flags 0x%x", path, flags);
		return -1;
	}
	if (cr_key_kind_name(kind) == NULL || cr_key_kind_is_secret(kind) != secret) {
		seterr(err, errlen, "%s: internal error: kind %d is not a %s kind", path, (int)kind,
		       secret ? "secret" : "public");
		return -1;
	}
	if (cr_init() != 0) {
		seterr(err, errlen, "%s: cannot initialise libsodium", path);
		return -1;
	}
	if (cr_secret_alloc(&text, CR_KEYFILE_MAX) != 0) {
		seterr(err, errlen, "%s: out of secure memory", path);
		return -1;
	}
	if (cr_keyfile_encode(path, (char *)text.p, text.len, &len, kind, id, key, key_len, err,
			      errlen) != 0)
		goto out;
	/* A random suffix, so that a temporary file left by a crash never blocks the next try. */
	n = snprintf(tmp, sizeof(tmp), "%s.tmp-%08x", path, (unsigned)randombytes_random());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		seterr(err, errlen, "%s: path too long", path);
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		seterr(err, errlen, "%s: cannot create %s: %s", path, tmp, strerror(errno));
		goto out;
	}
	/* The umask may have removed bits from a public file's 0644; set the mode exactly. */
	if (fchmod(fd, mode) != 0 || write_all(fd, text.p, len) != 0 || fsync(fd) != 0) {
		seterr(err, errlen, "%s: cannot write %s: %s", path, tmp, strerror(errno));
		goto out_unlink;
	}
	n = close(fd);
	fd = -1;
	if (n != 0) {
		seterr(err, errlen, "%s: cannot write %s: %s", path, tmp, strerror(errno));
		goto out_unlink;
	}
	if (flags & CR_KEYFILE_FORCE) {
		if (rename(tmp, path) != 0) {
			seterr(err, errlen, "%s: cannot rename %s into place: %s", path, tmp,
			       strerror(errno));
			goto out_unlink;
		}
	} else {
		/* link() fails if anything exists at path, atomically: no window in which a
		 * concurrent writer's key could be replaced. */
		if (link(tmp, path) != 0) {
			if (errno == EEXIST)
				seterr(err, errlen, "%s: already exists; refusing to overwrite a key "
				       "file (remove it first, or force the write)", path);
			else
				seterr(err, errlen, "%s: cannot link %s into place: %s", path, tmp,
				       strerror(errno));
			goto out_unlink;
		}
		unlink(tmp);
	}
	if (dir_sync(path) != 0) {
		seterr(err, errlen, "%s: written, but syncing its directory failed: %s", path,
		       strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
out_unlink:
	if (fd >= 0)
		close(fd);
	fd = -1;
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	cr_secret_free(&text);
	return rc;
}

int cr_keyfile_write_secret(const char *path, enum cr_key_kind kind, const struct cr_key_id *id,
			    const uint8_t *key, size_t key_len, unsigned flags,
			    char *err, size_t errlen)
{
	return file_write(path, 1, kind, id, key, key_len, flags, err, errlen);
}

int cr_keyfile_write_public(const char *path, enum cr_key_kind kind, const struct cr_key_id *id,
			    const uint8_t *key, size_t key_len, unsigned flags,
			    char *err, size_t errlen)
{
	return file_write(path, 0, kind, id, key, key_len, flags, err, errlen);
}

int cr_keyfile_write_identity(const char *path, const struct cr_key_id *id,
			      const struct cr_identity *ident, unsigned flags,
			      char *err, size_t errlen)
{
	clearerr_buf(err, errlen);
	if (ident == NULL || ident->sk == NULL) {
		seterr(err, errlen, "%s: internal error: the identity has no secret key",
		       path == NULL ? "key file" : path);
		return -1;
	}
	return cr_keyfile_write_secret(path, CR_KEY_ED25519_SECRET, id, ident->sk, CR_SK_BYTES,
				       flags, err, errlen);
}

int cr_keyfile_read_identity(const char *path, struct cr_key_id *id, struct cr_identity *ident,
			     char *err, size_t errlen)
{
	struct cr_secret sk = { 0 };
	struct cr_key_id owner;
	int rc;

	if (ident != NULL)
		memset(ident, 0, sizeof(*ident));
	clearerr_buf(err, errlen);
	if (ident == NULL) {
		seterr(err, errlen, "%s: internal error: missing identity output",
		       path == NULL ? "key file" : path);
		return -1;
	}
	if (cr_keyfile_read_secret(path, CR_KEY_ED25519_SECRET, &owner, &sk, err, errlen) != 0)
		return -1;
	rc = cr_identity_from_sk(ident, sk.p);
	cr_secret_free(&sk);
	if (rc != 0) {
		seterr(err, errlen, "%s: the ed25519 secret key is inconsistent (its public half is "
		       "not the one its seed derives): the file was altered; restore it from a "
		       "backup or generate a new key", path);
		return -1;
	}
	if (id != NULL)
		*id = owner;
	return 0;
}
