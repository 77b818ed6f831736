/*
 * kv_op.c: the KV store's op and result codecs (kv_op.h, docs/KV.md).
 *
 * Encoding goes through msgpack-c's packer. Decoding uses the small cursor reader below instead
 * of msgpack_unpack, because the unpacker sizes its allocations from counts in the input: ops
 * come from clients, results from replicas, and neither may make us allocate what they ask for.
 * The op decoder allocates nothing; the result decoder allocates an array only after checking
 * that the remaining bytes could hold that many elements.
 */
#include "node/kv_op.h"

#include <stdlib.h>
#include <string.h>

void kv_limits_default(struct kv_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->key_max = 1024;
	l->value_max = 64u << 10;
	l->keys_max = 10000000;
	l->bytes_max = 4ull << 30;
	l->list_max = 1000;
	l->txn_max = 128;
	/* The wire's default result_max (wire_limits_default): a 64 KiB value plus a small header. */
	l->result_max = (64u << 10) + 256u;
	l->leases_max = 10000;
	l->ttl_max_ms = 7ull * 24 * 3600 * 1000;
}

const char *kv_status_name(enum kv_status s)
{
	switch (s) {
	case KV_OK:
		return "ok";
	case KV_NOT_FOUND:
		return "not found";
	case KV_COMPARE_FAILED:
		return "compare failed";
	case KV_TOO_BIG:
		return "too big";
	case KV_FULL:
		return "store full";
	case KV_MALFORMED:
		return "malformed op";
	case KV_NOT_READ_ONLY:
		return "not a read-only op";
	case KV_NOMEM:
		return "out of memory";
	case KV_NO_LEASE:
		return "no such lease";
	case KV_STATUS_COUNT:
		break;
	}
	return "unknown status";
}

/* ---------------------------------------------------------------------------------------------
 * Writer
 */

int kv_buf_reserve(struct wire_buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (n <= b->cap - b->len)
		return 0;
	if (n > SIZE_MAX - b->len)
		return -1;
	need = b->len + n;
	cap = b->cap < 256 ? 256 : b->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int kv_writer_write(void *data, const char *buf, size_t len)
{
	struct kv_writer *w = data;

	if (w->nomem)
		return -1;
	/* msgpack_pack_bin_body passes empty bodies through, possibly with a NULL buf. */
	if (len == 0)
		return 0;
	if (kv_buf_reserve(w->out, len) != 0) {
		w->nomem = true;
		return -1;
	}
	memcpy(w->out->p + w->out->len, buf, len);
	w->out->len += len;
	return 0;
}

void kv_writer_init(struct kv_writer *w, struct wire_buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	msgpack_packer_init(&w->pk, w, kv_writer_write);
}

void kv_w_uint(struct kv_writer *w, uint64_t v)
{
	(void)msgpack_pack_uint64(&w->pk, v);
}

void kv_w_bin(struct kv_writer *w, const uint8_t *p, size_t len)
{
	(void)msgpack_pack_bin(&w->pk, len);
	(void)msgpack_pack_bin_body(&w->pk, p, len);
}

void kv_w_array(struct kv_writer *w, uint32_t n)
{
	(void)msgpack_pack_array(&w->pk, n);
}

void kv_w_bool(struct kv_writer *w, bool b)
{
	(void)(b ? msgpack_pack_true(&w->pk) : msgpack_pack_false(&w->pk));
}

void kv_w_nil(struct kv_writer *w)
{
	(void)msgpack_pack_nil(&w->pk);
}

size_t kv_mp_uint_size(uint64_t v)
{
	if (v < 128)
		return 1;
	if (v <= UINT8_MAX)
		return 2;
	if (v <= UINT16_MAX)
		return 3;
	if (v <= UINT32_MAX)
		return 5;
	return 9;
}

size_t kv_mp_bin_size(size_t len)
{
	if (len <= UINT8_MAX)
		return 2 + len;
	if (len <= UINT16_MAX)
		return 3 + len;
	return 5 + len;
}

size_t kv_mp_array_size(size_t n)
{
	if (n < 16)
		return 1;
	if (n <= UINT16_MAX)
		return 3;
	return 5;
}

/* ---------------------------------------------------------------------------------------------
 * Op encoders
 */

static bool bytes_ok(const void *p, size_t len)
{
	return p != NULL || len == 0;
}

static bool req_ok(const struct kv_req *r, bool in_txn)
{
	switch (r->code) {
	case KV_OP_GET:
	case KV_OP_DEL:
		return bytes_ok(r->key.p, r->key.len);
	case KV_OP_PUT:
		return bytes_ok(r->key.p, r->key.len) && bytes_ok(r->value.p, r->value.len);
	case KV_OP_CAS:
		return !in_txn && bytes_ok(r->key.p, r->key.len) &&
		       bytes_ok(r->value.p, r->value.len);
	case KV_OP_LIST:
		return bytes_ok(r->key.p, r->key.len) && bytes_ok(r->start.p, r->start.len);
	case KV_OP_LEASE_GRANT:
	case KV_OP_LEASE_REVOKE:
	case KV_OP_LEASE_KEEPALIVE:
		return !in_txn;
	default:
		return false;
	}
}

static void write_req(struct kv_writer *w, const struct kv_req *r)
{
	switch (r->code) {
	case KV_OP_GET:
	case KV_OP_DEL:
		kv_w_array(w, 2);
		kv_w_uint(w, (uint64_t)r->code);
		kv_w_bin(w, r->key.p, r->key.len);
		break;
	case KV_OP_PUT:
		/* Without a lease, the three-element form: one encoding per op. */
		kv_w_array(w, r->lease ? 4 : 3);
		kv_w_uint(w, KV_OP_PUT);
		kv_w_bin(w, r->key.p, r->key.len);
		kv_w_bin(w, r->value.p, r->value.len);
		if (r->lease)
			kv_w_uint(w, r->lease);
		break;
	case KV_OP_LEASE_GRANT:
		kv_w_array(w, 2);
		kv_w_uint(w, KV_OP_LEASE_GRANT);
		kv_w_uint(w, r->ttl_ms);
		break;
	case KV_OP_LEASE_REVOKE:
	case KV_OP_LEASE_KEEPALIVE:
		kv_w_array(w, 2);
		kv_w_uint(w, (uint64_t)r->code);
		kv_w_uint(w, r->lease);
		break;
	case KV_OP_CAS:
		kv_w_array(w, 4);
		kv_w_uint(w, KV_OP_CAS);
		kv_w_bin(w, r->key.p, r->key.len);
		kv_w_uint(w, r->version);
		kv_w_bin(w, r->value.p, r->value.len);
		break;
	case KV_OP_LIST:
		kv_w_array(w, 5);
		kv_w_uint(w, KV_OP_LIST);
		kv_w_bin(w, r->key.p, r->key.len);
		kv_w_bin(w, r->start.p, r->start.len);
		kv_w_uint(w, r->limit);
		kv_w_uint(w, r->flags);
		break;
	default:
		/* req_ok turned every other code away before anything was written. */
		BFT_ASSERT(!"kv: write_req with an unchecked code");
	}
}

/* Cuts a half-written op off the buffer after an allocation failure. */
static enum bft_err finish(struct kv_writer *w, size_t start)
{
	if (!w->nomem)
		return BFT_OK;
	w->out->len = start;
	return BFT_ENOMEM;
}

enum bft_err kv_op_encode_req(struct wire_buf *out, const struct kv_req *r)
{
	struct kv_writer w;
	size_t start = out->len;

	if (r == NULL || !req_ok(r, false))
		return BFT_EINVAL;
	kv_writer_init(&w, out);
	write_req(&w, r);
	return finish(&w, start);
}

static struct bft_bytes mkbytes(const uint8_t *p, size_t len)
{
	struct bft_bytes b = {.p = p, .len = (uint32_t)len};

	return b;
}

enum bft_err kv_op_encode_get(struct wire_buf *out, const uint8_t *key, size_t klen)
{
	struct kv_req r = {.code = KV_OP_GET, .key = mkbytes(key, klen)};

	if (klen > UINT32_MAX)
		return BFT_EINVAL;
	return kv_op_encode_req(out, &r);
}

enum bft_err kv_op_encode_put(struct wire_buf *out, const uint8_t *key, size_t klen,
			      const uint8_t *value, size_t vlen)
{
	struct kv_req r = {.code = KV_OP_PUT, .key = mkbytes(key, klen),
			   .value = mkbytes(value, vlen)};

	if (klen > UINT32_MAX || vlen > UINT32_MAX)
		return BFT_EINVAL;
	return kv_op_encode_req(out, &r);
}

enum bft_err kv_op_encode_put_lease(struct wire_buf *out, const uint8_t *key, size_t klen,
				    const uint8_t *value, size_t vlen, uint64_t lease)
{
	struct kv_req r = {.code = KV_OP_PUT, .key = mkbytes(key, klen),
			   .value = mkbytes(value, vlen), .lease = lease};

	if (klen > UINT32_MAX || vlen > UINT32_MAX)
		return BFT_EINVAL;
	return kv_op_encode_req(out, &r);
}

enum bft_err kv_op_encode_lease_grant(struct wire_buf *out, uint64_t ttl_ms)
{
	struct kv_req r = {.code = KV_OP_LEASE_GRANT, .ttl_ms = ttl_ms};

	return kv_op_encode_req(out, &r);
}

enum bft_err kv_op_encode_lease_revoke(struct wire_buf *out, uint64_t lease)
{
	struct kv_req r = {.code = KV_OP_LEASE_REVOKE, .lease = lease};

	return kv_op_encode_req(out, &r);
}

enum bft_err kv_op_encode_lease_keepalive(struct wire_buf *out, uint64_t lease)
{
	struct kv_req r = {.code = KV_OP_LEASE_KEEPALIVE, .lease = lease};

	return kv_op_encode_req(out, &r);
}

enum bft_err kv_op_encode_del(struct wire_buf *out, const uint8_t *key, size_t klen)
{
	struct kv_req r = {.code = KV_OP_DEL, .key = mkbytes(key, klen)};

	if (klen > UINT32_MAX)
		return BFT_EINVAL;
	return kv_op_encode_req(out, &r);
}

enum bft_err kv_op_encode_cas(struct wire_buf *out, const uint8_t *key, size_t klen,
			      uint64_t expected_version, const uint8_t *value, size_t vlen)
{
	struct kv_req r = {.code = KV_OP_CAS, .key = mkbytes(key, klen),
			   .value = mkbytes(value, vlen), .version = expected_version};

	if (klen > UINT32_MAX || vlen > UINT32_MAX)
		return BFT_EINVAL;
	return kv_op_encode_req(out, &r);
}

enum bft_err kv_op_encode_list(struct wire_buf *out, const uint8_t *prefix, size_t plen,
			       const uint8_t *start, size_t slen, uint32_t limit, uint32_t flags)
{
	struct kv_req r = {.code = KV_OP_LIST, .key = mkbytes(prefix, plen),
			   .start = mkbytes(start, slen), .limit = limit, .flags = flags};

	if (plen > UINT32_MAX || slen > UINT32_MAX)
		return BFT_EINVAL;
	return kv_op_encode_req(out, &r);
}

static bool cmp_ok(const struct kv_cmp *c)
{
	if (!bytes_ok(c->key.p, c->key.len))
		return false;
	if (c->target == KV_CMP_VALUE)
		return bytes_ok(c->value.p, c->value.len);
	return c->target >= KV_CMP_VERSION && c->target <= KV_CMP_EXISTS;
}

enum bft_err kv_op_encode_txn(struct wire_buf *out, const struct kv_cmp *cmps, uint32_t ncmps,
			      const struct kv_req *then_ops, uint32_t nthen,
			      const struct kv_req *else_ops, uint32_t nelse)
{
	struct kv_writer w;
	size_t start = out->len;

	if ((cmps == NULL && ncmps > 0) || (then_ops == NULL && nthen > 0) ||
	    (else_ops == NULL && nelse > 0))
		return BFT_EINVAL;
	for (uint32_t i = 0; i < ncmps; i++)
		if (!cmp_ok(&cmps[i]))
			return BFT_EINVAL;
	for (uint32_t i = 0; i < nthen; i++)
		if (!req_ok(&then_ops[i], true))
			return BFT_EINVAL;
	for (uint32_t i = 0; i < nelse; i++)
		if (!req_ok(&else_ops[i], true))
			return BFT_EINVAL;
	kv_writer_init(&w, out);
	kv_w_array(&w, 4);
	kv_w_uint(&w, KV_OP_TXN);
	kv_w_array(&w, ncmps);
	for (uint32_t i = 0; i < ncmps; i++) {
		kv_w_array(&w, 4);
		kv_w_uint(&w, (uint64_t)cmps[i].target);
		kv_w_bin(&w, cmps[i].key.p, cmps[i].key.len);
		kv_w_uint(&w, (uint64_t)cmps[i].rel);
		if (cmps[i].target == KV_CMP_VALUE)
			kv_w_bin(&w, cmps[i].value.p, cmps[i].value.len);
		else
			kv_w_uint(&w, cmps[i].num);
	}
	kv_w_array(&w, nthen);
	for (uint32_t i = 0; i < nthen; i++)
		write_req(&w, &then_ops[i]);
	kv_w_array(&w, nelse);
	for (uint32_t i = 0; i < nelse; i++)
		write_req(&w, &else_ops[i]);
	return finish(&w, start);
}

/* ---------------------------------------------------------------------------------------------
 * The cursor reader. Each function reads one value of one msgpack family and returns 0, or -1
 * if the next bytes are not a complete value of that family; the cursor is then unspecified.
 * Any width of an integer or length is accepted (the op bytes are agreed by consensus before
 * anyone decodes them, so a non-shortest form cannot make replicas disagree).
 */

void kv_cursor_init(struct kv_cursor *c, const struct bft_bytes *list)
{
	c->p = list->p;
	c->len = list->len;
	c->off = 0;
}

static int rd_byte(struct kv_cursor *c, uint8_t *b)
{
	if (c->off >= c->len)
		return -1;
	*b = c->p[c->off++];
	return 0;
}

/* A big-endian integer of n bytes. */
static int rd_be(struct kv_cursor *c, unsigned n, uint64_t *v)
{
	uint64_t x = 0;

	if (c->len - c->off < n)
		return -1;
	for (unsigned i = 0; i < n; i++)
		x = x << 8 | c->p[c->off + i];
	c->off += n;
	*v = x;
	return 0;
}

static int rd_uint(struct kv_cursor *c, uint64_t *v)
{
	uint8_t b;

	if (rd_byte(c, &b) != 0)
		return -1;
	if (b <= 0x7f) {
		*v = b;
		return 0;
	}
	switch (b) {
	case 0xcc:
		return rd_be(c, 1, v);
	case 0xcd:
		return rd_be(c, 2, v);
	case 0xce:
		return rd_be(c, 4, v);
	case 0xcf:
		return rd_be(c, 8, v);
	default:
		return -1;
	}
}

static int rd_bin(struct kv_cursor *c, struct bft_bytes *v)
{
	uint8_t b;
	uint64_t n;

	if (rd_byte(c, &b) != 0)
		return -1;
	if (b == 0xc4) {
		if (rd_be(c, 1, &n) != 0)
			return -1;
	} else if (b == 0xc5) {
		if (rd_be(c, 2, &n) != 0)
			return -1;
	} else if (b == 0xc6) {
		if (rd_be(c, 4, &n) != 0)
			return -1;
	} else {
		return -1;
	}
	if (n > c->len - c->off)
		return -1;
	v->p = c->p + c->off;
	v->len = (uint32_t)n;
	c->off += (size_t)n;
	return 0;
}

/* An array header. Every element takes at least one byte, so a count the rest of the input
 * cannot hold is rejected here, before any caller sizes anything by it. */
static int rd_array(struct kv_cursor *c, uint32_t *n)
{
	uint8_t b;
	uint64_t v;

	if (rd_byte(c, &b) != 0)
		return -1;
	if ((b & 0xf0) == 0x90) {
		v = b & 0x0f;
	} else if (b == 0xdc) {
		if (rd_be(c, 2, &v) != 0)
			return -1;
	} else if (b == 0xdd) {
		if (rd_be(c, 4, &v) != 0)
			return -1;
	} else {
		return -1;
	}
	if (v > c->len - c->off)
		return -1;
	*n = (uint32_t)v;
	return 0;
}

static int rd_bool(struct kv_cursor *c, bool *v)
{
	uint8_t b;

	if (rd_byte(c, &b) != 0 || (b != 0xc2 && b != 0xc3))
		return -1;
	*v = b == 0xc3;
	return 0;
}

static bool rd_peek_nil(const struct kv_cursor *c)
{
	return c->off < c->len && c->p[c->off] == 0xc0;
}

/* ---------------------------------------------------------------------------------------------
 * Op decoder
 */

/* A key of a GET, PUT, DEL, CAS or comparison: present, non-empty, and at most key_max. */
static int dec_key(const struct kv_limits *l, struct kv_cursor *c, struct bft_bytes *key,
		   bool *too_big)
{
	if (rd_bin(c, key) != 0 || key->len == 0)
		return -1;
	if (key->len > l->key_max)
		*too_big = true;
	return 0;
}

static int dec_value(const struct kv_limits *l, struct kv_cursor *c, struct bft_bytes *v,
		     bool *too_big)
{
	if (rd_bin(c, v) != 0)
		return -1;
	if (v->len > l->value_max)
		*too_big = true;
	return 0;
}

/* One op: a whole op (in_txn false) or one op of a TXN branch. Records the code in r->code as
 * soon as it is known, so that a malformed op's result can still name it. */
static int dec_req(const struct kv_limits *l, struct kv_cursor *c, bool in_txn,
		   struct kv_req *r, bool *too_big)
{
	uint32_t n;
	uint64_t code, v;

	memset(r, 0, sizeof(*r));
	if (rd_array(c, &n) != 0 || n == 0 || rd_uint(c, &code) != 0)
		return -1;
	if (code == 0 || code >= KV_OP_CODE_COUNT)
		return -1;
	r->code = (enum kv_op_code)code;
	switch (r->code) {
	case KV_OP_GET:
	case KV_OP_DEL:
		return n == 2 ? dec_key(l, c, &r->key, too_big) : -1;
	case KV_OP_PUT:
		if ((n != 3 && n != 4) || dec_key(l, c, &r->key, too_big) != 0 ||
		    dec_value(l, c, &r->value, too_big) != 0)
			return -1;
		/* An explicit lease 0 would be a second encoding of the three-element form. */
		if (n == 4 && (rd_uint(c, &r->lease) != 0 || r->lease == 0))
			return -1;
		return 0;
	case KV_OP_LEASE_GRANT:
		if (in_txn || n != 2 || rd_uint(c, &r->ttl_ms) != 0 || r->ttl_ms == 0)
			return -1;
		if (r->ttl_ms > l->ttl_max_ms)
			*too_big = true;
		return 0;
	case KV_OP_LEASE_REVOKE:
	case KV_OP_LEASE_KEEPALIVE:
		/* Lease ops change the lease table, which TXNs do not undo: top level only. */
		if (in_txn || n != 2 || rd_uint(c, &r->lease) != 0 || r->lease == 0)
			return -1;
		return 0;
	case KV_OP_CAS:
		if (in_txn || n != 4 || dec_key(l, c, &r->key, too_big) != 0 ||
		    rd_uint(c, &r->version) != 0)
			return -1;
		return dec_value(l, c, &r->value, too_big);
	case KV_OP_LIST:
		if (n != 5 || rd_bin(c, &r->key) != 0 || rd_bin(c, &r->start) != 0)
			return -1;
		if (r->key.len > l->key_max || r->start.len > l->key_max)
			*too_big = true;
		if (rd_uint(c, &v) != 0)
			return -1;
		/* The effective limit: 0 and anything over the hard cap mean the hard cap. */
		r->limit = (v == 0 || v > l->list_max) ? l->list_max : (uint32_t)v;
		if (rd_uint(c, &v) != 0 || (v & ~(uint64_t)KV_LIST_FLAGS_ALL) != 0)
			return -1;
		r->flags = (uint32_t)v;
		return 0;
	case KV_OP_TXN:
		/* A TXN inside a TXN is refused (in_txn): it has no meaning of its own, and the
		 * refusal bounds the decoder's recursion at one level. */
		return -1;
	default:
		return -1;
	}
}

static int dec_cmp(const struct kv_limits *l, struct kv_cursor *c, struct kv_cmp *cmp,
		   bool *too_big)
{
	uint32_t n;
	uint64_t target, rel;

	memset(cmp, 0, sizeof(*cmp));
	if (rd_array(c, &n) != 0 || n != 4 || rd_uint(c, &target) != 0)
		return -1;
	if (target < KV_CMP_VERSION || target > KV_CMP_EXISTS)
		return -1;
	cmp->target = (enum kv_cmp_target)target;
	if (dec_key(l, c, &cmp->key, too_big) != 0 || rd_uint(c, &rel) != 0 || rel > KV_GE)
		return -1;
	cmp->rel = (enum kv_cmp_rel)rel;
	if (cmp->target == KV_CMP_VALUE)
		return dec_value(l, c, &cmp->value, too_big);
	if (rd_uint(c, &cmp->num) != 0)
		return -1;
	return (cmp->target == KV_CMP_EXISTS && cmp->num > 1) ? -1 : 0;
}

/* A TXN list: its header, then every element checked; *list spans the elements. */
static int dec_list(const struct kv_limits *l, struct kv_cursor *c, bool cmps,
		    struct bft_bytes *list, uint32_t *count, bool *read_only, bool *too_big)
{
	uint32_t n;

	if (rd_array(c, &n) != 0 || n > l->txn_max)
		return -1;
	list->p = c->p + c->off;
	for (uint32_t i = 0; i < n; i++) {
		if (cmps) {
			struct kv_cmp cmp;

			if (dec_cmp(l, c, &cmp, too_big) != 0)
				return -1;
		} else {
			struct kv_req r;

			if (dec_req(l, c, true, &r, too_big) != 0)
				return -1;
			if (r.code != KV_OP_GET && r.code != KV_OP_LIST)
				*read_only = false;
		}
	}
	list->len = (uint32_t)(c->p + c->off - list->p);
	*count = n;
	return 0;
}

enum kv_status kv_op_decode(const struct kv_limits *l, const uint8_t *op, size_t len,
			    struct kv_op *out)
{
	struct kv_cursor c = {.p = op, .len = len, .off = 0};
	bool too_big = false, ro = true;
	uint32_t n;
	uint64_t code;
	int bad;

	memset(out, 0, sizeof(*out));
	if (op == NULL || len == 0 || len > UINT32_MAX)
		return KV_MALFORMED;
	/* Peek at the code first: only a TXN is decoded here, everything else by dec_req. */
	if (rd_array(&c, &n) != 0 || n == 0 || rd_uint(&c, &code) != 0)
		return KV_MALFORMED;
	if (code == KV_OP_TXN) {
		out->req.code = KV_OP_TXN;
		bad = n != 4 ||
		      dec_list(l, &c, true, &out->cmps, &out->ncmps, &ro, &too_big) != 0 ||
		      dec_list(l, &c, false, &out->then_ops, &out->nthen, &ro, &too_big) != 0 ||
		      dec_list(l, &c, false, &out->else_ops, &out->nelse, &ro, &too_big) != 0;
	} else {
		c.off = 0;
		bad = dec_req(l, &c, false, &out->req, &too_big) != 0;
		ro = out->req.code == KV_OP_GET || out->req.code == KV_OP_LIST;
	}
	if (!bad && c.off != c.len)
		bad = 1;
	if (bad || too_big) {
		enum kv_op_code keep = out->req.code;

		memset(out, 0, sizeof(*out));
		out->req.code = keep;
		return bad ? KV_MALFORMED : KV_TOO_BIG;
	}
	out->read_only = ro;
	return KV_OK;
}

void kv_txn_next_cmp(const struct kv_limits *l, struct kv_cursor *c, struct kv_cmp *out)
{
	bool too_big = false;

	/* kv_op_decode checked this element under the same limits: failing now is our bug. */
	BFT_ASSERT(dec_cmp(l, c, out, &too_big) == 0 && !too_big);
}

void kv_txn_next_req(const struct kv_limits *l, struct kv_cursor *c, struct kv_req *out)
{
	bool too_big = false;

	BFT_ASSERT(dec_req(l, c, true, out, &too_big) == 0 && !too_big);
}

/* ---------------------------------------------------------------------------------------------
 * Result decoder
 */

void kv_result_free(struct kv_result *r)
{
	if (r == NULL)
		return;
	for (uint32_t i = 0; i < r->nresults; i++)
		kv_result_free(&r->results[i]);
	free(r->results);
	free(r->entries);
	memset(r, 0, sizeof(*r));
}

static int dec_numbers(struct kv_cursor *c, uint64_t *version, uint64_t *create, uint64_t *mod)
{
	if (rd_uint(c, version) != 0 || rd_uint(c, create) != 0 || rd_uint(c, mod) != 0)
		return -1;
	return 0;
}

static int dec_entry(struct kv_cursor *c, struct kv_entry *e)
{
	uint32_t n;

	if (rd_array(c, &n) != 0 || n != 5 || rd_bin(c, &e->key) != 0 || e->key.len == 0)
		return -1;
	if (rd_peek_nil(c)) {
		c->off++;
		e->has_value = false;
	} else {
		if (rd_bin(c, &e->value) != 0)
			return -1;
		e->has_value = true;
	}
	return dec_numbers(c, &e->version, &e->create_rev, &e->mod_rev);
}

static enum bft_err dec_result(struct kv_cursor *c, struct kv_result *r, bool nested)
{
	uint32_t n, count;
	uint64_t code, status;

	if (rd_array(c, &n) != 0 || n < 3 || rd_uint(c, &code) != 0 || rd_uint(c, &status) != 0 ||
	    rd_uint(c, &r->revision) != 0)
		return BFT_EMALFORMED;
	if (code >= KV_OP_CODE_COUNT || status >= KV_STATUS_COUNT)
		return BFT_EMALFORMED;
	r->code = (enum kv_op_code)code;
	r->status = (enum kv_status)status;
	if (r->status == KV_COMPARE_FAILED) {
		if (r->code != KV_OP_CAS || n != 4 || rd_uint(c, &r->version) != 0)
			return BFT_EMALFORMED;
		return BFT_OK;
	}
	if (r->status != KV_OK)
		return n == 3 ? BFT_OK : BFT_EMALFORMED;
	switch (r->code) {
	case KV_OP_GET:
		if (n != 7 || rd_bin(c, &r->value) != 0)
			return BFT_EMALFORMED;
		return dec_numbers(c, &r->version, &r->create_rev, &r->mod_rev) == 0
			       ? BFT_OK
			       : BFT_EMALFORMED;
	case KV_OP_PUT:
	case KV_OP_CAS:
		if (n != 6 || dec_numbers(c, &r->version, &r->create_rev, &r->mod_rev) != 0)
			return BFT_EMALFORMED;
		return BFT_OK;
	case KV_OP_DEL:
	case KV_OP_LEASE_REVOKE:
		return n == 3 ? BFT_OK : BFT_EMALFORMED;
	case KV_OP_LEASE_GRANT:
		if (n != 5 || rd_uint(c, &r->lease) != 0 || rd_uint(c, &r->ttl_ms) != 0)
			return BFT_EMALFORMED;
		return BFT_OK;
	case KV_OP_LEASE_KEEPALIVE:
		return (n == 4 && rd_uint(c, &r->ttl_ms) == 0) ? BFT_OK : BFT_EMALFORMED;
	case KV_OP_LIST:
		if (n != 6 || rd_array(c, &count) != 0)
			return BFT_EMALFORMED;
		/* rd_array bounded count by the remaining bytes. */
		if (count > 0) {
			r->entries = calloc(count, sizeof(*r->entries));
			if (r->entries == NULL)
				return BFT_ENOMEM;
		}
		for (uint32_t i = 0; i < count; i++) {
			if (dec_entry(c, &r->entries[i]) != 0)
				return BFT_EMALFORMED;
			r->nentries = i + 1;
		}
		if (rd_bool(c, &r->more) != 0 || rd_bin(c, &r->next) != 0)
			return BFT_EMALFORMED;
		/* A continuation key exactly when there is more. */
		return (r->more == (r->next.len > 0)) ? BFT_OK : BFT_EMALFORMED;
	case KV_OP_TXN:
		if (nested || n != 5 || rd_bool(c, &r->succeeded) != 0 || rd_array(c, &count) != 0)
			return BFT_EMALFORMED;
		if (count > 0) {
			r->results = calloc(count, sizeof(*r->results));
			if (r->results == NULL)
				return BFT_ENOMEM;
		}
		for (uint32_t i = 0; i < count; i++) {
			enum bft_err e;

			/* Counted before decoding, so kv_result_free releases a half-decoded one. */
			r->nresults = i + 1;
			e = dec_result(c, &r->results[i], true);
			if (e != BFT_OK)
				return e;
		}
		return BFT_OK;
	default:
		return BFT_EMALFORMED;
	}
}

enum bft_err kv_result_decode(const uint8_t *result, size_t len, struct kv_result *out)
{
	struct kv_cursor c = {.p = result, .len = len, .off = 0};
	enum bft_err e;

	memset(out, 0, sizeof(*out));
	if (result == NULL || len == 0)
		return BFT_EMALFORMED;
	e = dec_result(&c, out, false);
	if (e == BFT_OK && c.off != c.len)
		e = BFT_EMALFORMED;
	if (e != BFT_OK)
		kv_result_free(out);
	return e;
}
