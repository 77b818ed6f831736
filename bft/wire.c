/*
 * wire.c: limits, the output buffer, the encoder, signature checks and the request and batch
 * digests. The decoder lives in wire_decode.c; both follow the layout documented in msg.h and
 * docs/WIRE.md.
 */
#include "bft/wire.h"
#include "bft/wire_internal.h"
#include "crypto/cr_mac.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

void wire_limits_default(struct wire_limits *l, uint32_t n, uint64_t nclients)
{
	memset(l, 0, sizeof(*l));
	l->frame_max = 16u << 20;
	l->batch_max = 1024;
	/* The extra 256 bytes let an op or a result of a round 64 KiB carry its own small header
	 * (the KV store's command and key) without the application having to split it. */
	l->op_max = (64u << 10) + 256u;
	l->result_max = (64u << 10) + 256u;
	l->list_max = 4096;
	l->chunk_max = 1u << 20;
	l->n_replicas = n;
	l->n_clients = nclients;
}

void wire_buf_free(struct wire_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* The encoder's state. Instead of checking the result of every msgpack_pack_* call, the write
 * callback records the first failure and refuses everything after it, and wire_encode looks at
 * the flags once at the end; a half-written envelope is then cut off the buffer. */
struct wire_enc {
	msgpack_packer pk;
	struct wire_buf *out;
	int nomem;   /* growing the buffer failed */
	int invalid; /* the caller's message has a NULL array or byte string with a non-zero count */
};

/* Makes room for n more bytes, doubling the capacity so that appending is amortised O(1). */
static int wire_buf_reserve(struct wire_buf *b, size_t n)
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

enum bft_err wire_buf_append(struct wire_buf *b, const void *data, size_t len)
{
	if (wire_buf_reserve(b, len) != 0)
		return BFT_ENOMEM;
	if (len > 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	return BFT_OK;
}

static int wire_enc_write(void *data, const char *buf, size_t len)
{
	struct wire_enc *e = data;

	if (e->nomem)
		return -1;
	/* msgpack_pack_bin_body passes an empty body through as well, possibly with a NULL buf. */
	if (len == 0)
		return 0;
	if (wire_buf_reserve(e->out, len) != 0) {
		e->nomem = 1;
		return -1;
	}
	memcpy(e->out->p + e->out->len, buf, len);
	e->out->len += len;
	return 0;
}

static void enc_uint(struct wire_enc *e, uint64_t v)
{
	/* msgpack-c picks the shortest of fixint, uint8, uint16, uint32 and uint64: the canonical
	 * form the decoder insists on. */
	(void)msgpack_pack_uint64(&e->pk, v);
}

static void enc_array(struct wire_enc *e, uint32_t n)
{
	(void)msgpack_pack_array(&e->pk, n);
}

static void enc_raw_bin(struct wire_enc *e, const uint8_t *p, uint32_t len)
{
	if (p == NULL && len > 0) {
		e->invalid = 1;
		return;
	}
	(void)msgpack_pack_bin(&e->pk, len);
	(void)msgpack_pack_bin_body(&e->pk, p, len);
}

static void enc_bin(struct wire_enc *e, const struct bft_bytes *b)
{
	enc_raw_bin(e, b->p, b->len);
}

/* A list of byte strings: requests, proofs, prepares, view changes, Merkle branches. */
static void enc_bin_list(struct wire_enc *e, const struct bft_bytes *items, uint32_t n)
{
	if (items == NULL && n > 0) {
		e->invalid = 1;
		return;
	}
	enc_array(e, n);
	for (uint32_t i = 0; i < n; i++)
		enc_bin(e, &items[i]);
}

static void enc_request(struct wire_enc *e, const struct bft_request *q)
{
	enc_array(e, 4);
	enc_uint(e, q->reqid);
	enc_uint(e, q->flags);
	enc_uint(e, q->timestamp_ms);
	enc_bin(e, &q->op);
}

static void enc_reply(struct wire_enc *e, const struct bft_reply *r)
{
	enc_array(e, 4);
	enc_uint(e, r->view);
	enc_uint(e, r->client);
	enc_uint(e, r->reqid);
	enc_bin(e, &r->result);
}

static void enc_checkpoint(struct wire_enc *e, const struct bft_checkpoint *c)
{
	enc_array(e, 2);
	enc_uint(e, c->seq);
	enc_raw_bin(e, c->digest, CR_DIGEST_BYTES);
}

static void enc_preprepare(struct wire_enc *e, const struct bft_preprepare *pp)
{
	enc_array(e, 5);
	enc_uint(e, pp->view);
	enc_uint(e, pp->seq);
	enc_raw_bin(e, pp->digest, CR_DIGEST_BYTES);
	enc_uint(e, pp->time_ms);
	enc_bin_list(e, pp->requests, pp->nrequests);
}

static void enc_phase(struct wire_enc *e, const struct bft_phase *ph)
{
	enc_array(e, 3);
	enc_uint(e, ph->view);
	enc_uint(e, ph->seq);
	enc_raw_bin(e, ph->digest, CR_DIGEST_BYTES);
}

static void enc_viewchange(struct wire_enc *e, const struct bft_viewchange *vc)
{
	enc_array(e, 5);
	enc_uint(e, vc->view);
	enc_uint(e, vc->stable_seq);
	enc_raw_bin(e, vc->stable_digest, CR_DIGEST_BYTES);
	enc_bin_list(e, vc->proof, vc->nproof);
	if (vc->prepared == NULL && vc->nprepared > 0) {
		e->invalid = 1;
		return;
	}
	enc_array(e, vc->nprepared);
	for (uint32_t i = 0; i < vc->nprepared; i++) {
		const struct bft_pcert *pc = &vc->prepared[i];

		enc_array(e, 2);
		enc_bin(e, &pc->preprepare);
		enc_bin_list(e, pc->prepares, pc->nprepares);
	}
}

static void enc_newview(struct wire_enc *e, const struct bft_newview *nv)
{
	enc_array(e, 3);
	enc_uint(e, nv->view);
	enc_bin_list(e, nv->viewchanges, nv->nviewchanges);
	if (nv->o == NULL && nv->no > 0) {
		e->invalid = 1;
		return;
	}
	enc_array(e, nv->no);
	for (uint32_t i = 0; i < nv->no; i++) {
		enc_array(e, 2);
		enc_uint(e, nv->o[i].seq);
		enc_raw_bin(e, nv->o[i].digest, CR_DIGEST_BYTES);
	}
}

static void enc_fetch(struct wire_enc *e, const struct bft_fetch *f)
{
	enc_array(e, 3);
	enc_uint(e, f->kind);
	enc_uint(e, f->seq);
	enc_uint(e, f->index);
}

static void enc_state(struct wire_enc *e, const struct bft_state_chunk *s)
{
	enc_array(e, 5);
	enc_uint(e, s->seq);
	enc_uint(e, s->index);
	enc_uint(e, s->nchunks);
	enc_bin(e, &s->data);
	enc_bin_list(e, s->branch, s->nbranch);
}

/* Honey Badger payloads (msg.h). Values the decoder would refuse (an over-long branch, an empty
 * shard) are refused here too, so that no correct replica emits a frame its peers reject. */
static void enc_hb_rbc(struct wire_enc *e, const struct bft_hb_rbc *r)
{
	if (r->nbranch > BFT_HB_BRANCH_MAX || r->shard.len == 0) {
		e->invalid = 1;
		return;
	}
	enc_array(e, 6);
	enc_uint(e, r->epoch);
	enc_uint(e, r->proposer);
	enc_raw_bin(e, r->root, CR_DIGEST_BYTES);
	enc_uint(e, r->index);
	enc_bin(e, &r->shard);
	enc_array(e, r->nbranch);
	for (uint32_t i = 0; i < r->nbranch; i++)
		enc_raw_bin(e, r->branch[i], CR_DIGEST_BYTES);
}

static void enc_hb_ready(struct wire_enc *e, const struct bft_hb_ready *r)
{
	enc_array(e, 3);
	enc_uint(e, r->epoch);
	enc_uint(e, r->proposer);
	enc_raw_bin(e, r->root, CR_DIGEST_BYTES);
}

static void enc_hb_aba(struct wire_enc *e, const struct bft_hb_aba *a)
{
	enc_array(e, 4);
	enc_uint(e, a->epoch);
	enc_uint(e, a->instance);
	enc_uint(e, a->round);
	enc_uint(e, a->value);
}

static void enc_hb_coin(struct wire_enc *e, const struct bft_hb_coin *c)
{
	enc_array(e, 4);
	enc_uint(e, c->epoch);
	enc_uint(e, c->instance);
	enc_uint(e, c->round);
	enc_raw_bin(e, c->share, BFT_HB_SHARE_BYTES);
}

static void enc_hb_dec(struct wire_enc *e, const struct bft_hb_dec *d)
{
	enc_array(e, 3);
	enc_uint(e, d->epoch);
	enc_uint(e, d->proposer);
	enc_raw_bin(e, d->share, BFT_HB_SHARE_BYTES);
}

static void enc_hb_check(struct wire_enc *e, const struct bft_hb_check *c)
{
	uint32_t bytes = c->count / 8u + (c->count % 8u != 0);

	if (c->known.len != bytes || c->valid.len != bytes) {
		e->invalid = 1;
		return;
	}
	enc_array(e, 5);
	enc_uint(e, c->epoch);
	enc_raw_bin(e, c->list, CR_DIGEST_BYTES);
	enc_uint(e, c->count);
	enc_bin(e, &c->known);
	enc_bin(e, &c->valid);
}

static void enc_session(struct wire_enc *e, const struct bft_session *ss)
{
	enc_array(e, 2);
	enc_uint(e, ss->session);
	enc_bin(e, &ss->boxes);
}

static void enc_payload(struct wire_enc *e, const struct bft_msg *m)
{
	switch (m->type) {
	case BFT_MSG_SESSION:
		enc_session(e, &m->u.session);
		break;
	case BFT_MSG_REQUEST:
		enc_request(e, &m->u.request);
		break;
	case BFT_MSG_REPLY:
		enc_reply(e, &m->u.reply);
		break;
	case BFT_MSG_CHECKPOINT:
		enc_checkpoint(e, &m->u.checkpoint);
		break;
	case BFT_MSG_PREPREPARE:
		enc_preprepare(e, &m->u.preprepare);
		break;
	case BFT_MSG_PREPARE:
	case BFT_MSG_COMMIT:
		enc_phase(e, &m->u.phase);
		break;
	case BFT_MSG_VIEWCHANGE:
		enc_viewchange(e, &m->u.viewchange);
		break;
	case BFT_MSG_NEWVIEW:
		enc_newview(e, &m->u.newview);
		break;
	case BFT_MSG_FETCH:
		enc_fetch(e, &m->u.fetch);
		break;
	case BFT_MSG_STATE:
		enc_state(e, &m->u.state);
		break;
	case BFT_MSG_HB_VAL:
	case BFT_MSG_HB_ECHO:
		enc_hb_rbc(e, &m->u.hb_rbc);
		break;
	case BFT_MSG_HB_READY:
		enc_hb_ready(e, &m->u.hb_ready);
		break;
	case BFT_MSG_HB_BVAL:
	case BFT_MSG_HB_AUX:
	case BFT_MSG_HB_CONF:
	case BFT_MSG_HB_TERM:
		enc_hb_aba(e, &m->u.hb_aba);
		break;
	case BFT_MSG_HB_COIN:
		enc_hb_coin(e, &m->u.hb_coin);
		break;
	case BFT_MSG_HB_DEC:
		enc_hb_dec(e, &m->u.hb_dec);
		break;
	case BFT_MSG_HB_CHECK:
		enc_hb_check(e, &m->u.hb_check);
		break;
	default:
		/* wire_encode checked the type before writing anything. */
		BFT_ASSERT(0);
	}
}

void wire_signed_digest(const uint8_t *signed_part, size_t len, uint8_t out[CR_DIGEST_BYTES])
{
	cr_digest(out, WIRE_SIG_TAG, signed_part, len);
}

#define WIRE_MAC_INPUT (1 + sizeof(WIRE_MAC_TAG) - 1 + 8 + CR_DIGEST_BYTES)

/* What a session MAC covers: the length-prefixed tag, the session number, then the digest the
 * signature signs. The MAC binds the same bytes as the signature, under one session; a request
 * MAC can never pass for a reply MAC because the type is part of the signed part. */
static void mac_input(uint8_t in[WIRE_MAC_INPUT], uint64_t session,
		      const uint8_t digest[CR_DIGEST_BYTES])
{
	size_t tl = sizeof(WIRE_MAC_TAG) - 1;

	in[0] = (uint8_t)tl;
	memcpy(in + 1, WIRE_MAC_TAG, tl);
	for (int i = 0; i < 8; i++)
		in[1 + tl + (size_t)i] = (uint8_t)(session >> (8 * i));
	memcpy(in + 1 + tl + 8, digest, CR_DIGEST_BYTES);
}

void wire_mac(uint8_t out[BFT_MAC_BYTES], const uint8_t key[BFT_SESSION_KEY_BYTES],
	      uint64_t session, const uint8_t digest[CR_DIGEST_BYTES])
{
	uint8_t in[WIRE_MAC_INPUT];

	mac_input(in, session, digest);
	cr_mac_short(out, key, in, sizeof(in));
}

int wire_mac_check(const uint8_t mac[BFT_MAC_BYTES], const uint8_t key[BFT_SESSION_KEY_BYTES],
		   uint64_t session, const uint8_t digest[CR_DIGEST_BYTES])
{
	uint8_t in[WIRE_MAC_INPUT];

	mac_input(in, session, digest);
	return cr_mac_short_verify(mac, key, in, sizeof(in));
}

void wire_msg_digest(const struct bft_msg *m, uint8_t out[CR_DIGEST_BYTES])
{
	wire_signed_digest(m->signed_part.p, m->signed_part.len, out);
}

/*
 * The one encoder behind wire_encode and wire_encode_auth. keys (nkeys session keys, 32 bytes
 * each, in the caller's guarded memory) makes the authenticator here, over the digest of what
 * was just encoded; without keys, m's own auth fields are written as they are.
 */
static enum bft_err encode_env(const struct bft_msg *m, const struct cr_identity *id,
			       const uint8_t *keys, uint32_t nkeys, struct wire_buf *out)
{
	struct wire_enc e;
	size_t start = out->len;
	uint8_t sig[CR_SIG_BYTES], d[CR_DIGEST_BYTES];
	bool req_auth = m->has_auth && m->type == BFT_MSG_REQUEST;
	bool reply_mac = m->has_auth && m->type == BFT_MSG_REPLY;

	if (!wire_type_known((uint64_t)m->type))
		return BFT_EINVAL;
	if (id != NULL && id->sk == NULL)
		return BFT_EINVAL;
	/* Only requests carry authenticators and only replies go in MAC form; a MAC'd reply has
	 * no signature to make. */
	if (m->has_auth && !req_auth && !reply_mac)
		return BFT_EINVAL;
	if (reply_mac && (id != NULL || (keys != NULL && nkeys != 1)))
		return BFT_EINVAL;
	if (keys == NULL && m->has_auth && m->auth_macs == NULL)
		return BFT_EINVAL;
	if (keys == NULL && reply_mac && m->auth_len != BFT_MAC_BYTES)
		return BFT_EINVAL;
	if (keys != NULL && (nkeys == 0 || nkeys > UINT32_MAX / BFT_MAC_BYTES))
		return BFT_EINVAL;
	memset(&e, 0, sizeof(e));
	e.out = out;
	msgpack_packer_init(&e.pk, &e, wire_enc_write);

	enc_array(&e, req_auth ? WIRE_ENVELOPE_FIELDS_AUTH : WIRE_ENVELOPE_FIELDS);
	enc_uint(&e, m->version);
	enc_uint(&e, (uint64_t)m->type);
	enc_uint(&e, m->sender);
	enc_payload(&e, m);
	if (e.nomem || e.invalid)
		goto fail;

	/* The envelope header is one fixarray byte; the signature (and every MAC) covers
	 * everything from the version up to here, exactly the slice wire_decode will hand back as
	 * signed_part. */
	wire_signed_digest(out->p + start + 1, out->len - start - 1, d);
	if (reply_mac) {
		uint8_t mac[BFT_MAC_BYTES];

		if (keys != NULL)
			wire_mac(mac, keys, m->auth_session, d);
		else
			memcpy(mac, m->auth_macs, BFT_MAC_BYTES);
		enc_array(&e, 2);
		enc_uint(&e, m->auth_session);
		enc_raw_bin(&e, mac, BFT_MAC_BYTES);
		goto done;
	}
	if (id != NULL)
		cr_sign(id, d, sizeof(d), sig);
	else
		memcpy(sig, m->sig, sizeof(sig));
	enc_raw_bin(&e, sig, CR_SIG_BYTES);
	if (req_auth) {
		enc_array(&e, 2);
		enc_uint(&e, m->auth_session);
		if (keys == NULL) {
			enc_raw_bin(&e, m->auth_macs, m->auth_len);
		} else {
			uint32_t len = nkeys * BFT_MAC_BYTES;

			(void)msgpack_pack_bin(&e.pk, len);
			for (uint32_t i = 0; i < nkeys && !e.nomem; i++) {
				uint8_t mac[BFT_MAC_BYTES];

				wire_mac(mac, keys + (size_t)i * BFT_SESSION_KEY_BYTES,
					 m->auth_session, d);
				(void)msgpack_pack_bin_body(&e.pk, mac, BFT_MAC_BYTES);
			}
		}
	}
done:
	if (e.nomem || e.invalid)
		goto fail;
	return BFT_OK;

fail:
	/* The caller's buffer keeps whatever it held before this call, and nothing of ours. */
	out->len = start;
	return e.nomem ? BFT_ENOMEM : BFT_EINVAL;
}

enum bft_err wire_encode(const struct bft_msg *m, const struct cr_identity *id,
			 struct wire_buf *out)
{
	return encode_env(m, id, NULL, 0, out);
}

enum bft_err wire_encode_auth(const struct bft_msg *m, const struct cr_identity *id,
			      const uint8_t *keys, uint32_t nkeys, struct wire_buf *out)
{
	if (keys == NULL || !m->has_auth)
		return BFT_EINVAL;
	if (m->type == BFT_MSG_REQUEST && id == NULL)
		return BFT_EINVAL;
	return encode_env(m, id, keys, nkeys, out);
}

enum bft_err wire_verify(const struct bft_msg *m, const uint8_t pk[CR_PK_BYTES])
{
	uint8_t d[CR_DIGEST_BYTES];

	/* A message that did not come out of wire_decode has no signed part, and a REPLY in MAC
	 * form has no signature: fail closed. */
	if (m->signed_part.p == NULL || m->signed_part.len == 0 ||
	    (m->type == BFT_MSG_REPLY && m->has_auth))
		return BFT_EBADSIG;
	wire_signed_digest(m->signed_part.p, m->signed_part.len, d);
	return cr_verify(pk, d, sizeof(d), m->sig) == 0 ? BFT_OK : BFT_EBADSIG;
}

uint32_t wire_request_max(const struct wire_limits *l)
{
	uint64_t v = (uint64_t)l->op_max + WIRE_REQUEST_OVERHEAD + WIRE_AUTH_OVERHEAD +
		     (uint64_t)l->n_replicas * BFT_MAC_BYTES;

	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

void bft_request_digest(const struct bft_bytes *envelope, uint8_t out[CR_DIGEST_BYTES])
{
	cr_digest(out, "bft.req", envelope->p, envelope->len);
}

void bft_batch_digest(uint64_t time_ms, const struct bft_bytes *requests, uint32_t n,
		      uint8_t out[CR_DIGEST_BYTES])
{
	struct cr_hash h;
	uint8_t d[CR_DIGEST_BYTES];

	/* The count is absorbed before the digests so that a batch can never be read as a prefix
	 * of a longer one, and each request enters as its own digest so that a replica holding the
	 * requests' digests only (from a view change) computes the same value. */
	cr_hash_init(&h, "bft.batch");
	cr_hash_update_u64(&h, time_ms);
	cr_hash_update_u64(&h, n);
	for (uint32_t i = 0; i < n; i++) {
		bft_request_digest(&requests[i], d);
		cr_hash_update(&h, d, sizeof(d));
	}
	cr_hash_final(&h, out);
}
