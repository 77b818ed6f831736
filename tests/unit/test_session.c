/*
 * Unit tests for MAC-authenticated client sessions (docs/PERFORMANCE.md): the wire forms (a
 * REQUEST's sixth envelope element, a REPLY's MAC form, the SESSION message) and every way the
 * decoder refuses them; sealed boxes; the log's SESSION check and key install; the batch check
 * by MAC with its signature fallback (PBFT TOCS §3.3, Aardvark's "big MAC" attack); MAC'd
 * replies; and the client's acceptance of MAC'd replies and re-sending of its SESSION.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bft/client.h"
#include "bft/log.h"
#include "bft/wire.h"
#include "crypto/cr_seal.h"

#define N 4
#define N_STATIC 2
#define OPEN 1
#define NCLIENTS (N_STATIC + OPEN + 1) /* the listed ones, one open slot, the registrar */
#define REGISTRAR (NCLIENTS - 1)
#define RETX 100u

struct fixture {
	struct cr_identity replica[N];
	uint8_t replica_pks[N][CR_PK_BYTES];
	struct cr_identity client[N_STATIC];
	uint8_t client_pks[N_STATIC][CR_PK_BYTES];
	struct cr_identity stranger;
	uint8_t keys[N][BFT_SESSION_KEY_BYTES];   /* client 0's session keys, one per replica */
	uint8_t other[N][BFT_SESSION_KEY_BYTES];  /* a different set */
	struct bft_log *lg[N];
	uint64_t executed[N];
	struct bft_out out;
};

static void app_execute(void *ctx, bft_client_id client, const struct bft_bytes *op,
			uint64_t time_ms, struct wire_buf *result)
{
	(void)client;
	(void)time_ms;
	(*(uint64_t *)ctx)++;
	assert_int_equal(wire_buf_append(result, op->p, op->len), BFT_OK);
}

static void app_query(void *ctx, bft_client_id client, const struct bft_bytes *op,
		      struct wire_buf *result)
{
	(void)ctx;
	(void)client;
	assert_int_equal(wire_buf_append(result, op->p, op->len), BFT_OK);
}

static enum bft_err app_snapshot(void *ctx, struct wire_buf *out)
{
	return wire_buf_append(out, ctx, sizeof(uint64_t));
}

static enum bft_err app_restore(void *ctx, const uint8_t *p, size_t len)
{
	if (len != sizeof(uint64_t))
		return BFT_EMALFORMED;
	memcpy(ctx, p, len);
	return BFT_OK;
}

static void seed_id(struct cr_identity *id, uint8_t tag, uint8_t i)
{
	uint8_t seed[CR_SEED_BYTES] = {tag, i};

	assert_int_equal(cr_identity_from_seed(id, seed), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	assert_int_equal(cr_init(), 0);
	for (uint8_t i = 0; i < N; i++) {
		seed_id(&fx->replica[i], 1, i);
		memcpy(fx->replica_pks[i], fx->replica[i].pk, CR_PK_BYTES);
		memset(fx->keys[i], 0x40 + i, BFT_SESSION_KEY_BYTES);
		memset(fx->other[i], 0x60 + i, BFT_SESSION_KEY_BYTES);
	}
	for (uint8_t i = 0; i < N_STATIC; i++) {
		seed_id(&fx->client[i], 2, i);
		memcpy(fx->client_pks[i], fx->client[i].pk, CR_PK_BYTES);
	}
	seed_id(&fx->stranger, 3, 0);
	for (uint32_t i = 0; i < N; i++) {
		struct bft_log_config c;

		bft_log_config_default(&c);
		c.n = N;
		c.self = i;
		c.id = &fx->replica[i];
		c.replica_pks = (const uint8_t(*)[CR_PK_BYTES])fx->replica_pks;
		c.client_pks = (const uint8_t(*)[CR_PK_BYTES])fx->client_pks;
		c.open_clients = OPEN;
		wire_limits_default(&c.limits, N, NCLIENTS);
		c.app = (struct bft_app){.ctx = &fx->executed[i], .execute = app_execute,
					 .query = app_query, .snapshot = app_snapshot,
					 .restore = app_restore};
		assert_int_equal(bft_log_new(&fx->lg[i], &c), BFT_OK);
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	for (uint32_t i = 0; i < N; i++) {
		bft_log_free(fx->lg[i]);
		cr_identity_free(&fx->replica[i]);
	}
	for (uint32_t i = 0; i < N_STATIC; i++)
		cr_identity_free(&fx->client[i]);
	cr_identity_free(&fx->stranger);
	bft_out_free(&fx->out);
	free(fx);
	return 0;
}

static struct wire_limits limits(void)
{
	struct wire_limits l;

	wire_limits_default(&l, N, NCLIENTS);
	return l;
}

/* A REQUEST from client `client`, signed by `signer`; with session != 0 it carries an
 * authenticator made with keys (N keys of 32 bytes). */
static struct wire_buf request_flags(const struct cr_identity *signer, uint64_t client,
				     uint64_t reqid, uint32_t flags, uint64_t session,
				     const uint8_t (*keys)[BFT_SESSION_KEY_BYTES])
{
	struct bft_msg m;
	struct wire_buf b = {0};
	static const uint8_t op[] = "op";

	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_REQUEST;
	m.sender = client;
	m.u.request.reqid = reqid;
	m.u.request.flags = flags;
	m.u.request.timestamp_ms = 7;
	m.u.request.op = (struct bft_bytes){.p = op, .len = 2};
	if (session == 0) {
		assert_int_equal(wire_encode(&m, signer, &b), BFT_OK);
	} else {
		m.has_auth = true;
		m.auth_session = session;
		assert_int_equal(wire_encode_auth(&m, signer, &keys[0][0], N, &b), BFT_OK);
	}
	return b;
}

static struct wire_buf request(const struct cr_identity *signer, uint64_t client, uint64_t reqid,
			       uint64_t session, const uint8_t (*keys)[BFT_SESSION_KEY_BYTES])
{
	return request_flags(signer, client, reqid, 0, session, keys);
}

/* A SESSION from `client` signed by `signer`, with `len` bytes of boxes (N boxes when sealed). */
static struct wire_buf session_msg(const struct cr_identity *signer, uint64_t client,
				   uint64_t session, const uint8_t *boxes, uint32_t len)
{
	struct bft_msg m;
	struct wire_buf b = {0};

	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_SESSION;
	m.sender = client;
	m.u.session.session = session;
	m.u.session.boxes = (struct bft_bytes){.p = boxes, .len = len};
	assert_int_equal(wire_encode(&m, signer, &b), BFT_OK);
	return b;
}

static void seal_all(struct fixture *fx, uint8_t boxes[N][BFT_SESSION_BOX_BYTES])
{
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(cr_seal(boxes[i], fx->replica_pks[i], fx->keys[i],
					 BFT_SESSION_KEY_BYTES), 0);
}

/* ---- wire -------------------------------------------------------------------------------- */

static void test_session_wire_authenticated_request_round_trips(void **state)
{
	struct fixture *fx = *state;
	struct wire_limits l = limits();
	struct wire_buf plain = request(&fx->client[0], 0, 1, 0, NULL);
	struct wire_buf auth = request(&fx->client[0], 0, 1, 9, fx->keys);
	struct wire_buf again = {0};
	struct bft_msg a, p;
	uint8_t d[CR_DIGEST_BYTES];

	assert_int_equal(wire_decode(&l, auth.p, auth.len, &a), BFT_OK);
	assert_int_equal(wire_decode(&l, plain.p, plain.len, &p), BFT_OK);
	assert_true(a.has_auth);
	assert_false(p.has_auth);
	assert_int_equal(a.auth_session, 9);
	assert_int_equal(a.auth_len, N * BFT_MAC_BYTES);
	/* The signed part is the unauthenticated request's, byte for byte: one signature serves
	 * both forms, and the signature still verifies. */
	assert_int_equal(a.signed_part.len, p.signed_part.len);
	assert_memory_equal(a.signed_part.p, p.signed_part.p, p.signed_part.len);
	assert_memory_equal(a.sig, p.sig, CR_SIG_BYTES);
	assert_int_equal(wire_verify(&a, fx->client_pks[0]), BFT_OK);
	assert_int_equal(auth.p[0], 0x96);
	assert_int_equal(plain.p[0], 0x95);
	/* Entry i is replica i's MAC, and only its. */
	wire_msg_digest(&a, d);
	for (uint32_t i = 0; i < N; i++) {
		assert_int_equal(wire_mac_check(a.auth_macs + i * BFT_MAC_BYTES, fx->keys[i], 9, d), 0);
		assert_int_equal(wire_mac_check(a.auth_macs + i * BFT_MAC_BYTES, fx->keys[(i + 1) % N],
						9, d), -1);
		assert_int_equal(wire_mac_check(a.auth_macs + i * BFT_MAC_BYTES, fx->keys[i], 8, d), -1);
	}
	/* Canonical: re-encoding the decoded message gives the same bytes. */
	assert_int_equal(wire_encode(&a, NULL, &again), BFT_OK);
	assert_int_equal(again.len, auth.len);
	assert_memory_equal(again.p, auth.p, auth.len);
	wire_msg_free(&a);
	wire_msg_free(&p);
	wire_buf_free(&plain);
	wire_buf_free(&auth);
	wire_buf_free(&again);
}

static void test_session_wire_mac_reply_round_trips_and_never_verifies_as_signed(void **state)
{
	struct fixture *fx = *state;
	struct wire_limits l = limits();
	struct bft_msg m, d;
	struct wire_buf b = {0}, again = {0};
	uint8_t dg[CR_DIGEST_BYTES];
	static const uint8_t res[] = "result";

	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_REPLY;
	m.sender = 2;
	m.u.reply.client = 0;
	m.u.reply.reqid = 5;
	m.u.reply.result = (struct bft_bytes){.p = res, .len = 6};
	m.has_auth = true;
	m.auth_session = 3;
	/* A MAC'd reply has no signature: an identity is a caller error. */
	assert_int_equal(wire_encode_auth(&m, &fx->replica[2], fx->keys[2], 1, &b), BFT_EINVAL);
	assert_int_equal(wire_encode_auth(&m, NULL, fx->keys[2], 2, &b), BFT_EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(wire_encode_auth(&m, NULL, fx->keys[2], 1, &b), BFT_OK);
	assert_int_equal(wire_decode(&l, b.p, b.len, &d), BFT_OK);
	assert_true(d.has_auth);
	assert_int_equal(d.auth_session, 3);
	assert_int_equal(d.auth_len, BFT_MAC_BYTES);
	wire_msg_digest(&d, dg);
	assert_int_equal(wire_mac_check(d.auth_macs, fx->keys[2], 3, dg), 0);
	assert_int_equal(wire_mac_check(d.auth_macs, fx->keys[1], 3, dg), -1);
	assert_int_equal(wire_verify(&d, fx->replica_pks[2]), BFT_EBADSIG);
	assert_int_equal(wire_encode(&d, NULL, &again), BFT_OK);
	assert_int_equal(again.len, b.len);
	assert_memory_equal(again.p, b.p, b.len);
	/* Only requests carry authenticators, only replies take the MAC form. */
	m.type = BFT_MSG_CHECKPOINT;
	assert_int_equal(wire_encode_auth(&m, NULL, fx->keys[2], 1, &b), BFT_EINVAL);
	wire_msg_free(&d);
	wire_buf_free(&b);
	wire_buf_free(&again);
}

static void test_session_wire_session_message_round_trips(void **state)
{
	struct fixture *fx = *state;
	struct wire_limits l = limits();
	uint8_t boxes[N][BFT_SESSION_BOX_BYTES];
	struct wire_buf b;
	struct bft_msg m;

	memset(boxes, 0xab, sizeof(boxes));
	b = session_msg(&fx->client[1], 1, 77, &boxes[0][0], sizeof(boxes));
	assert_int_equal(wire_decode(&l, b.p, b.len, &m), BFT_OK);
	assert_int_equal(m.type, BFT_MSG_SESSION);
	assert_int_equal(m.sender, 1);
	assert_int_equal(m.u.session.session, 77);
	assert_int_equal(m.u.session.boxes.len, sizeof(boxes));
	assert_memory_equal(m.u.session.boxes.p, boxes, sizeof(boxes));
	assert_int_equal(wire_verify(&m, fx->client_pks[1]), BFT_OK);
	wire_msg_free(&m);
	wire_buf_free(&b);
}

/* Decodes a copy of frame with bytes [at, at + cut) replaced by ins[0..nins). */
static enum bft_err decode_edit(const struct wire_buf *frame, size_t at, size_t cut,
				const uint8_t *ins, size_t nins)
{
	struct wire_limits l = limits();
	size_t len = frame->len - cut + nins;
	uint8_t *p = malloc(len + 1);
	struct bft_msg m;
	enum bft_err e;

	assert_non_null(p);
	memcpy(p, frame->p, at);
	if (nins > 0)
		memcpy(p + at, ins, nins);
	memcpy(p + at + nins, frame->p + at + cut, frame->len - at - cut);
	e = wire_decode(&l, p, len, &m);
	if (e == BFT_OK)
		wire_msg_free(&m);
	free(p);
	return e;
}

static void test_session_wire_refuses_every_malformed_authenticator(void **state)
{
	struct fixture *fx = *state;
	struct wire_buf auth = request(&fx->client[0], 0, 1, 9, fx->keys);
	struct wire_buf plain = request(&fx->client[0], 0, 1, 0, NULL);
	/* The authenticator is the last 1 + 1 + 2 + 64 bytes: fixarray(2), session 9, bin8 64. */
	size_t at = auth.len - (1 + 1 + 2 + N * BFT_MAC_BYTES);
	uint8_t b;

	assert_int_equal(auth.p[at], 0x92);
	assert_int_equal(decode_edit(&auth, 0, 0, NULL, 0), BFT_OK);
	/* One MAC short, one MAC too many, one byte off: the count is exact. */
	{
		uint8_t hdr[2] = {0xc4, (N - 1) * BFT_MAC_BYTES};
		assert_int_equal(decode_edit(&auth, at + 2, 2 + BFT_MAC_BYTES, hdr, 2), BFT_EFIELD);
	}
	{
		uint8_t more[2 + (N + 1) * BFT_MAC_BYTES] = {0xc4, (N + 1) * BFT_MAC_BYTES};
		assert_int_equal(decode_edit(&auth, at + 2, 2 + N * BFT_MAC_BYTES, more, sizeof(more)),
				 BFT_EFIELD);
	}
	{
		uint8_t hdr[2] = {0xc4, N * BFT_MAC_BYTES - 1};
		assert_int_equal(decode_edit(&auth, at + 2, 3, hdr, 2), BFT_EFIELD);
	}
	/* The authenticator's arity; a session that is not a uint; a non-canonical session; macs
	 * as a string; an authenticator that is not an array. */
	b = 0x93;
	assert_int_equal(decode_edit(&auth, at, 1, &b, 1), BFT_EARITY);
	b = 0xc0;
	assert_int_equal(decode_edit(&auth, at + 1, 1, &b, 1), BFT_EFIELD);
	{
		uint8_t wide[2] = {0xcc, 9};
		assert_int_equal(decode_edit(&auth, at + 1, 1, wide, 2), BFT_ENONCANON);
	}
	b = 0xd9; /* str8 */
	assert_int_equal(decode_edit(&auth, at + 2, 1, &b, 1), BFT_EFIELD);
	b = 0x09;
	assert_int_equal(decode_edit(&auth, at, auth.len - at, &b, 1), BFT_EFIELD);
	/* Truncated inside the authenticator; trailing bytes after it. */
	assert_int_equal(decode_edit(&auth, auth.len - 1, 1, NULL, 0), BFT_EMALFORMED);
	b = 0;
	assert_int_equal(decode_edit(&auth, auth.len, 0, &b, 1), BFT_ETRAILING);
	/* Six elements but nothing after the signature. */
	assert_int_equal(decode_edit(&auth, at, auth.len - at, NULL, 0), BFT_EMALFORMED);
	/* Seven elements; a plain request claiming five does not take an authenticator. */
	b = 0x97;
	assert_int_equal(decode_edit(&auth, 0, 1, &b, 1), BFT_EARITY);
	assert_int_equal(decode_edit(&plain, plain.len, 0, auth.p + at, auth.len - at),
			 BFT_ETRAILING);
	wire_buf_free(&auth);
	wire_buf_free(&plain);
}

static void test_session_wire_refuses_sixth_element_on_other_types(void **state)
{
	struct fixture *fx = *state;
	struct bft_msg m;
	struct wire_buf b = {0};
	uint8_t macs[N * BFT_MAC_BYTES] = {0};

	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_COMMIT;
	m.sender = 1;
	assert_int_equal(wire_encode(&m, &fx->replica[1], &b), BFT_OK);
	b.p[0] = 0x96;
	{
		uint8_t tail[4 + sizeof(macs)] = {0x92, 0x01, 0xc4, sizeof(macs)};
		assert_int_equal(wire_buf_append(&b, tail, sizeof(tail)), BFT_OK);
	}
	{
		struct wire_limits l = limits();
		struct bft_msg d;
		assert_int_equal(wire_decode(&l, b.p, b.len, &d), BFT_EARITY);
	}
	/* And the encoder refuses to make one. */
	m.has_auth = true;
	m.auth_macs = macs;
	m.auth_len = sizeof(macs);
	b.len = 0;
	assert_int_equal(wire_encode(&m, &fx->replica[1], &b), BFT_EINVAL);
	assert_int_equal(b.len, 0);
	wire_buf_free(&b);
}

static void test_session_wire_refuses_malformed_mac_reply_and_session(void **state)
{
	struct fixture *fx = *state;
	struct bft_msg m;
	struct wire_buf b = {0};
	uint8_t boxes[N][BFT_SESSION_BOX_BYTES] = {{0}};
	uint8_t x;

	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_REPLY;
	m.sender = 1;
	m.has_auth = true;
	m.auth_session = 4;
	assert_int_equal(wire_encode_auth(&m, NULL, fx->keys[1], 1, &b), BFT_OK);
	/* [session, mac:bin(16)] is the last 1 + 1 + 2 + 16 bytes. */
	{
		size_t at = b.len - 20;
		uint8_t hdr[2] = {0xc4, 15};
		assert_int_equal(b.p[at], 0x92);
		assert_int_equal(decode_edit(&b, at + 2, 3, hdr, 2), BFT_EFIELD);
		x = 0x91;
		assert_int_equal(decode_edit(&b, at, 1, &x, 1), BFT_EARITY);
		x = 0;
		assert_int_equal(decode_edit(&b, b.len, 0, &x, 1), BFT_ETRAILING);
		/* The empty MAC list a request may carry (replies-only session) is no reply MAC. */
		uint8_t empty[2] = {0xc4, 0};
		assert_int_equal(decode_edit(&b, at + 2, 18, empty, 2), BFT_EFIELD);
	}
	wire_buf_free(&b);
	/* A SESSION must hold exactly one box per replica. */
	b = session_msg(&fx->client[0], 0, 1, &boxes[0][0], (N - 1) * BFT_SESSION_BOX_BYTES);
	assert_int_equal(decode_edit(&b, 0, 0, NULL, 0), BFT_EFIELD);
	wire_buf_free(&b);
	b = session_msg(&fx->client[0], 0, 1, &boxes[0][0], N * BFT_SESSION_BOX_BYTES - 1);
	assert_int_equal(decode_edit(&b, 0, 0, NULL, 0), BFT_EFIELD);
	wire_buf_free(&b);
	/* A SESSION from a sender outside the client ids. */
	b = session_msg(&fx->client[0], NCLIENTS, 1, &boxes[0][0], sizeof(boxes));
	assert_int_equal(decode_edit(&b, 0, 0, NULL, 0), BFT_ESENDER);
	wire_buf_free(&b);
}

/* ---- sealed boxes ------------------------------------------------------------------------ */

static void test_session_sealed_box_opens_only_for_its_replica(void **state)
{
	struct fixture *fx = *state;
	uint8_t boxes[N][BFT_SESSION_BOX_BYTES], k[BFT_SESSION_KEY_BYTES];

	seal_all(fx, boxes);
	assert_int_equal(cr_seal_open(k, &fx->replica[2], boxes[2], BFT_SESSION_BOX_BYTES), 0);
	assert_memory_equal(k, fx->keys[2], sizeof(k));
	assert_int_equal(cr_seal_open(k, &fx->replica[1], boxes[2], BFT_SESSION_BOX_BYTES), -1);
	boxes[1][40] ^= 1;
	assert_int_equal(cr_seal_open(k, &fx->replica[1], boxes[1], BFT_SESSION_BOX_BYTES), -1);
	assert_int_equal(cr_seal_open(k, &fx->replica[1], boxes[1], CR_SEAL_OVERHEAD - 1), -1);
}

/* ---- session check and install ------------------------------------------------------------ */

static enum bft_err check_session(struct fixture *fx, uint32_t r, const struct wire_buf *b)
{
	struct wire_limits l = limits();
	struct bft_msg m;
	enum bft_err e;

	assert_int_equal(wire_decode(&l, b->p, b->len, &m), BFT_OK);
	e = bft_log_session_check(fx->lg[r], &m);
	wire_msg_free(&m);
	return e;
}

static void test_session_check_and_install_refuse_every_bad_session(void **state)
{
	struct fixture *fx = *state;
	uint8_t boxes[N][BFT_SESSION_BOX_BYTES];
	struct wire_buf good, forged, unknown, registrar, stranger;
	struct bft_log_session_stats st;

	seal_all(fx, boxes);
	good = session_msg(&fx->client[0], 0, 10, &boxes[0][0], sizeof(boxes));
	forged = session_msg(&fx->client[1], 0, 10, &boxes[0][0], sizeof(boxes));
	unknown = session_msg(&fx->stranger, N_STATIC, 10, &boxes[0][0], sizeof(boxes));
	registrar = session_msg(&fx->stranger, REGISTRAR, 10, &boxes[0][0], sizeof(boxes));
	stranger = session_msg(&fx->stranger, 1, 10, &boxes[0][0], sizeof(boxes));

	assert_int_equal(check_session(fx, 1, &forged), BFT_EBADSIG);
	assert_int_equal(check_session(fx, 1, &stranger), BFT_EBADSIG);
	assert_int_equal(check_session(fx, 1, &unknown), BFT_ESENDER);   /* open slot unregistered */
	assert_int_equal(check_session(fx, 1, &registrar), BFT_ESENDER);
	assert_int_equal(check_session(fx, 1, &good), BFT_OK);
	/* The install refuses the same ids, and any session number not above the one held. */
	assert_int_equal(bft_log_session_install(fx->lg[1], N_STATIC, 10, fx->keys[1]),
			 BFT_ESENDER);
	assert_int_equal(bft_log_session_install(fx->lg[1], REGISTRAR, 10, fx->keys[1]),
			 BFT_ESENDER);
	assert_int_equal(bft_log_session_install(fx->lg[1], NCLIENTS, 10, fx->keys[1]),
			 BFT_ESENDER);
	assert_int_equal(bft_log_session_install(fx->lg[1], 0, 0, fx->keys[1]), BFT_ESTALE);
	assert_int_equal(bft_log_session(fx->lg[1], 0), 0);
	assert_int_equal(bft_log_session_install(fx->lg[1], 0, 10, fx->keys[1]), BFT_OK);
	assert_int_equal(bft_log_session(fx->lg[1], 0), 10);
	assert_int_equal(bft_log_session_install(fx->lg[1], 0, 10, fx->other[1]), BFT_ESTALE);
	assert_int_equal(bft_log_session_install(fx->lg[1], 0, 9, fx->other[1]), BFT_ESTALE);
	/* A replayed SESSION (equal number) and an older one are stale before any crypto. */
	assert_int_equal(check_session(fx, 1, &good), BFT_ESTALE);
	assert_int_equal(check_session(fx, 1, &forged), BFT_ESTALE);
	/* Another replica's state is its own. */
	assert_int_equal(bft_log_session(fx->lg[2], 0), 0);
	bft_log_session_stats(fx->lg[1], &st);
	assert_int_equal(st.installed, 1);
	/* Not a SESSION at all. */
	{
		struct wire_buf q = request(&fx->client[0], 0, 1, 0, NULL);
		assert_int_equal(check_session(fx, 1, &q), BFT_ETYPE);
		wire_buf_free(&q);
	}
	wire_buf_free(&good);
	wire_buf_free(&forged);
	wire_buf_free(&unknown);
	wire_buf_free(&registrar);
	wire_buf_free(&stranger);
}

/* A SESSION refused after its signature verified (its box did not open) is stale from then on:
 * a replay costs a comparison, not a verification and a box opening; a newer one still works. */
static void test_session_refused_session_is_stale_afterwards(void **state)
{
	struct fixture *fx = *state;
	uint8_t boxes[N][BFT_SESSION_BOX_BYTES];
	struct wire_buf s10, s9, s11;

	seal_all(fx, boxes);
	s10 = session_msg(&fx->client[0], 0, 10, &boxes[0][0], sizeof(boxes));
	s9 = session_msg(&fx->client[0], 0, 9, &boxes[0][0], sizeof(boxes));
	s11 = session_msg(&fx->client[0], 0, 11, &boxes[0][0], sizeof(boxes));
	assert_int_equal(check_session(fx, 1, &s10), BFT_OK);
	bft_log_session_refused(fx->lg[1], 0, 10);
	assert_int_equal(check_session(fx, 1, &s10), BFT_ESTALE);
	assert_int_equal(check_session(fx, 1, &s9), BFT_ESTALE);
	assert_int_equal(bft_log_session(fx->lg[1], 0), 0);  /* nothing installed */
	assert_int_equal(check_session(fx, 1, &s11), BFT_OK);
	/* Another replica refused nothing. */
	assert_int_equal(check_session(fx, 2, &s10), BFT_OK);
	/* Out of range: ignored. */
	bft_log_session_refused(fx->lg[1], NCLIENTS + 5, 10);
	wire_buf_free(&s10);
	wire_buf_free(&s9);
	wire_buf_free(&s11);
}

/* ---- the batch check ----------------------------------------------------------------------- */

static void install_all(struct fixture *fx, uint64_t session)
{
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(bft_log_session_install(fx->lg[i], 0, session, fx->keys[i]), BFT_OK);
}

static enum bft_err check1(struct fixture *fx, uint32_t r, const struct wire_buf *b,
			   enum bft_check_auth how)
{
	struct bft_bytes req = {.p = b->p, .len = (uint32_t)b->len};

	return bft_log_check_requests(fx->lg[r], &req, 1, how);
}

static void test_session_good_mac_is_accepted_without_the_signature(void **state)
{
	struct fixture *fx = *state;
	/* A faulty client signs with a key that is not its own but MACs correctly: only the MAC
	 * can make this request acceptable, so acceptance proves the signature was not used. */
	struct wire_buf bad_sig = request(&fx->client[1], 0, 1, 5, fx->keys);
	struct bft_log_session_stats st;
	struct bft_bytes req = {.p = bad_sig.p, .len = (uint32_t)bad_sig.len};

	install_all(fx, 5);
	for (uint32_t r = 0; r < N; r++)
		assert_int_equal(check1(fx, r, &bad_sig, BFT_CHECK_MAC), BFT_OK);
	bft_log_session_stats(fx->lg[3], &st);
	assert_int_equal(st.mac_ok, 1);
	assert_int_equal(st.mac_bad + st.mac_fallback, 0);
	/* The signature modes still refuse it: Honey Badger never accepts by MAC. */
	assert_int_equal(check1(fx, 3, &bad_sig, BFT_CHECK_SIGNATURE), BFT_EBADSIG);
	assert_int_equal(bft_log_check_batch(fx->lg[3], &req, 1), BFT_EBADSIG);
	/* A committed batch replayed from our own log is not authenticated again. */
	assert_int_equal(check1(fx, 3, &bad_sig, BFT_CHECK_CERTIFIED), BFT_OK);
	wire_buf_free(&bad_sig);
}

static void test_session_bad_mac_falls_back_to_the_signature(void **state)
{
	struct fixture *fx = *state;
	/* MACs made with the wrong keys: the "big MAC" attack, good for nobody. */
	struct wire_buf good_sig = request(&fx->client[0], 0, 1, 5, fx->other);
	struct wire_buf bad_sig = request(&fx->client[1], 0, 2, 5, fx->other);
	struct bft_log_session_stats st;

	install_all(fx, 5);
	assert_int_equal(check1(fx, 2, &good_sig, BFT_CHECK_MAC), BFT_OK);
	assert_int_equal(check1(fx, 2, &bad_sig, BFT_CHECK_MAC), BFT_EBADSIG);
	bft_log_session_stats(fx->lg[2], &st);
	assert_int_equal(st.mac_bad, 2);
	assert_int_equal(st.mac_ok, 0);
	wire_buf_free(&good_sig);
	wire_buf_free(&bad_sig);
}

static enum bft_err auth_read(struct fixture *fx, uint32_t r, const struct wire_buf *b)
{
	struct bft_msg m;
	enum bft_err e;
	struct wire_limits l = limits();

	assert_int_equal(wire_decode(&l, b->p, b->len, &m), BFT_OK);
	e = bft_log_auth_read(fx->lg[r], &m, fx->client[0].pk);
	wire_msg_free(&m);
	return e;
}

/* A read sent straight to a replica is authenticated by that replica's MAC entry alone; a bad
 * MAC falls back to the signature; a write never takes this path. */
static void test_session_read_is_authenticated_by_the_replicas_own_mac(void **state)
{
	struct fixture *fx = *state;
	struct wire_buf good_mac_bad_sig =
		request_flags(&fx->client[1], 0, 1, BFT_REQ_READONLY, 5, fx->keys);
	struct wire_buf bad_mac_good_sig =
		request_flags(&fx->client[0], 0, 2, BFT_REQ_READONLY, 5, fx->other);
	struct wire_buf bad_both = request_flags(&fx->client[1], 0, 3, BFT_REQ_READONLY, 5, fx->other);
	struct wire_buf write = request(&fx->client[0], 0, 4, 5, fx->keys);
	struct bft_log_session_stats st;

	/* No session held yet: the signature decides. */
	assert_int_equal(auth_read(fx, 1, &good_mac_bad_sig), BFT_EBADSIG);
	install_all(fx, 5);
	assert_int_equal(auth_read(fx, 1, &good_mac_bad_sig), BFT_OK);
	assert_int_equal(auth_read(fx, 1, &bad_mac_good_sig), BFT_OK);
	assert_int_equal(auth_read(fx, 1, &bad_both), BFT_EBADSIG);
	assert_int_equal(auth_read(fx, 1, &write), BFT_EINVAL);
	bft_log_session_stats(fx->lg[1], &st);
	assert_int_equal(st.mac_ok, 1);
	assert_int_equal(st.mac_bad, 2);
	assert_int_equal(st.mac_fallback, 1);
	wire_buf_free(&good_mac_bad_sig);
	wire_buf_free(&bad_mac_good_sig);
	wire_buf_free(&bad_both);
	wire_buf_free(&write);
}

static void test_session_mac_good_for_one_replica_only_is_checked_per_replica(void **state)
{
	struct fixture *fx = *state;
	uint8_t mixed[N][BFT_SESSION_KEY_BYTES];
	struct wire_buf b;

	/* Good for replica 0 (the primary of view 0) only, with a bad signature: each backup
	 * falls back to the signature and refuses, as it must (an honest primary never orders
	 * it: it verified the signature on arrival). */
	memcpy(mixed, fx->other, sizeof(mixed));
	memcpy(mixed[0], fx->keys[0], BFT_SESSION_KEY_BYTES);
	b = request(&fx->client[1], 0, 1, 5, mixed);
	install_all(fx, 5);
	assert_int_equal(check1(fx, 0, &b, BFT_CHECK_MAC), BFT_OK);
	for (uint32_t r = 1; r < N; r++)
		assert_int_equal(check1(fx, r, &b, BFT_CHECK_MAC), BFT_EBADSIG);
	wire_buf_free(&b);
}

static void test_session_number_mismatch_falls_back(void **state)
{
	struct fixture *fx = *state;
	/* Good MACs, but for session 4 while replicas hold 5 (or nothing). */
	struct wire_buf old_bad = request(&fx->client[1], 0, 1, 4, fx->keys);
	struct wire_buf old_good = request(&fx->client[0], 0, 2, 4, fx->keys);
	struct bft_log_session_stats st;

	assert_int_equal(check1(fx, 1, &old_bad, BFT_CHECK_MAC), BFT_EBADSIG); /* no session */
	install_all(fx, 5);
	assert_int_equal(check1(fx, 1, &old_bad, BFT_CHECK_MAC), BFT_EBADSIG);
	assert_int_equal(check1(fx, 1, &old_good, BFT_CHECK_MAC), BFT_OK);
	bft_log_session_stats(fx->lg[1], &st);
	assert_int_equal(st.mac_fallback, 3);
	assert_int_equal(st.mac_ok, 0);
	/* A plain request (no authenticator) is checked by signature and counted nowhere. */
	{
		struct wire_buf plain = request(&fx->client[1], 0, 3, 0, NULL);
		assert_int_equal(check1(fx, 1, &plain, BFT_CHECK_MAC), BFT_EBADSIG);
		bft_log_session_stats(fx->lg[1], &st);
		assert_int_equal(st.mac_fallback, 3);
		wire_buf_free(&plain);
	}
	wire_buf_free(&old_bad);
	wire_buf_free(&old_good);
}

/* A committed batch replayed from the write-ahead log after a restart: the session keys are
 * gone, and one request has a bad signature (a faulty client got it accepted by MAC through a
 * faulty primary). The quorum already validated it: the replay must execute it, not refuse the
 * replica its own log. */
static void test_session_wal_replay_does_not_reauthenticate_committed_requests(void **state)
{
	struct fixture *fx = *state;
	struct wire_buf bad_sig = request(&fx->client[1], 0, 1, 5, fx->keys);
	struct wire_buf pp = {0};
	struct bft_msg m;
	struct bft_bytes req = {.p = bad_sig.p, .len = (uint32_t)bad_sig.len};

	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_PREPREPARE;
	m.sender = 0;
	m.u.preprepare.seq = 1;
	m.u.preprepare.time_ms = 1000;
	m.u.preprepare.requests = &req;
	m.u.preprepare.nrequests = 1;
	bft_batch_digest(1000, &req, 1, m.u.preprepare.digest);
	assert_int_equal(wire_encode(&m, &fx->replica[0], &pp), BFT_OK);
	assert_int_equal(bft_log_session(fx->lg[2], 0), 0);
	assert_int_equal(bft_log_restore_commit(fx->lg[2], pp.p, pp.len), BFT_OK);
	assert_int_equal(bft_log_last_executed(fx->lg[2]), 1);
	assert_int_equal(fx->executed[2], 1);
	wire_buf_free(&pp);
	wire_buf_free(&bad_sig);
}

/* ---- replies -------------------------------------------------------------------------------- */

/* Executes b at the next position of replica r and returns its one REPLY, decoded. */
static void execute_reply(struct fixture *fx, uint32_t r, const struct wire_buf *b,
			  struct bft_msg *reply)
{
	struct wire_limits l = limits();
	struct bft_bytes req = {.p = b->p, .len = (uint32_t)b->len};
	bft_seq seq = bft_log_last_executed(fx->lg[r]) + 1;

	bft_out_reset(&fx->out);
	assert_int_equal(bft_log_execute(fx->lg[r], seq, 0, 1000, &req, 1, &fx->out), BFT_OK);
	for (size_t i = 0; i < fx->out.nmsgs; i++)
		if (fx->out.msgs[i].type == BFT_MSG_REPLY) {
			assert_int_equal(wire_decode(&l, fx->out.msgs[i].bytes, fx->out.msgs[i].len,
						     reply), BFT_OK);
			return;
		}
	fail_msg("no reply");
}

static void test_session_reply_is_maced_only_for_the_session_held(void **state)
{
	struct fixture *fx = *state;
	struct wire_buf named5 = request(&fx->client[0], 0, 1, 5, fx->keys);
	struct wire_buf named4 = request(&fx->client[0], 0, 2, 4, fx->keys);
	struct wire_buf plain = request(&fx->client[0], 0, 3, 0, NULL);
	struct bft_msg rep;
	uint8_t d[CR_DIGEST_BYTES];
	struct bft_log_session_stats st;

	/* No session held: signed. */
	execute_reply(fx, 1, &named5, &rep);
	assert_false(rep.has_auth);
	assert_int_equal(wire_verify(&rep, fx->replica_pks[1]), BFT_OK);
	wire_msg_free(&rep);
	install_all(fx, 5);
	/* The retransmission names session 5 now held: the cached reply comes back MAC'd. */
	bft_out_reset(&fx->out);
	{
		struct wire_limits l = limits();
		struct bft_msg q;
		assert_int_equal(wire_decode(&l, named5.p, named5.len, &q), BFT_OK);
		assert_int_equal(bft_log_submit(fx->lg[1], &q, 0, &fx->out), BFT_EDUP);
		wire_msg_free(&q);
		assert_int_equal(fx->out.nmsgs, 1);
		assert_int_equal(wire_decode(&l, fx->out.msgs[0].bytes, fx->out.msgs[0].len, &rep),
				 BFT_OK);
		assert_true(rep.has_auth);
		wire_msg_free(&rep);
	}
	/* Another session named: signed. No authenticator: signed. */
	execute_reply(fx, 1, &named4, &rep);
	assert_false(rep.has_auth);
	assert_int_equal(wire_verify(&rep, fx->replica_pks[1]), BFT_OK);
	wire_msg_free(&rep);
	execute_reply(fx, 1, &plain, &rep);
	assert_false(rep.has_auth);
	wire_msg_free(&rep);
	/* The session held and named: MAC'd with this replica's key of that session. */
	{
		struct wire_buf again = request(&fx->client[0], 0, 4, 5, fx->keys);
		execute_reply(fx, 1, &again, &rep);
		wire_buf_free(&again);
	}
	assert_true(rep.has_auth);
	assert_int_equal(rep.auth_session, 5);
	wire_msg_digest(&rep, d);
	assert_int_equal(wire_mac_check(rep.auth_macs, fx->keys[1], 5, d), 0);
	assert_int_equal(wire_mac_check(rep.auth_macs, fx->keys[0], 5, d), -1);
	wire_msg_free(&rep);
	bft_log_session_stats(fx->lg[1], &st);
	assert_int_equal(st.replies_mac, 2);
	wire_buf_free(&named5);
	wire_buf_free(&named4);
	wire_buf_free(&plain);
}

/* ---- the client ------------------------------------------------------------------------------ */

struct cfix {
	struct fixture *fx;
	struct bft_client *c;
	struct bft_out out;
	uint64_t reqid;
};

static void client_start_mode(struct fixture *fx, struct cfix *cf, bool session,
			      bool replies_only)
{
	struct bft_client_config cfg;
	uint8_t boxes[N][BFT_SESSION_BOX_BYTES];
	static const uint8_t op[] = "x";

	memset(cf, 0, sizeof(*cf));
	cf->fx = fx;
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = 0;
	cfg.n = N;
	cfg.replica_pks = (const uint8_t(*)[CR_PK_BYTES])fx->replica_pks;
	cfg.key = &fx->client[0];
	wire_limits_default(&cfg.limits, N, NCLIENTS);
	cfg.send = BFT_SEND_PRIMARY;
	/* These tests are about how MAC'd replies count: with reads ordered, f+1 complete a
	 * request (the 2f+1 rule of unordered reads has its own test in test_client.c). */
	cfg.ordered_reads_only = true;
	cfg.retransmit_ms = RETX;
	cfg.outstanding_max = 4;
	cfg.session_replies_only = replies_only;
	assert_int_equal(bft_client_new(&cf->c, &cfg), BFT_OK);
	if (session) {
		seal_all(fx, boxes);
		assert_int_equal(bft_client_session_start(cf->c, 0, 0, &fx->keys[0][0], &boxes[0][0],
							  &cf->out), BFT_EINVAL);
		assert_int_equal(bft_client_session_start(cf->c, 0, 5, &fx->keys[0][0], &boxes[0][0],
							  &cf->out), BFT_OK);
		assert_int_equal(bft_client_session_start(cf->c, 0, 5, &fx->keys[0][0], &boxes[0][0],
							  &cf->out), BFT_EINVAL);
		assert_int_equal(cf->out.nmsgs, 1);
		assert_int_equal(cf->out.msgs[0].type, BFT_MSG_SESSION);
		assert_int_equal(cf->out.msgs[0].dest, BFT_TO_ALL);
		assert_int_equal(bft_client_session(cf->c), 5);
	}
	bft_out_reset(&cf->out);
	assert_int_equal(bft_client_submit(cf->c, 0, op, 1, 0, &cf->reqid, &cf->out), BFT_OK);
}

static void client_start(struct fixture *fx, struct cfix *cf, bool session)
{
	client_start_mode(fx, cf, session, false);
}

static void client_stop(struct cfix *cf)
{
	bft_client_free(cf->c);
	bft_out_free(&cf->out);
}

/* A REPLY from replica r for the client's request: signed, or MAC'd with key under session. */
static enum bft_err client_reply(struct cfix *cf, uint32_t r, const char *res, uint64_t now,
				 bool mac, const uint8_t *key, uint64_t session)
{
	struct bft_msg m;
	struct wire_buf b = {0};
	enum bft_err e;

	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_REPLY;
	m.sender = r;
	m.u.reply.client = 0;
	m.u.reply.reqid = cf->reqid;
	m.u.reply.result = (struct bft_bytes){.p = (const uint8_t *)res, .len = (uint32_t)strlen(res)};
	if (mac) {
		m.has_auth = true;
		m.auth_session = session;
		assert_int_equal(wire_encode_auth(&m, NULL, key, 1, &b), BFT_OK);
	} else {
		assert_int_equal(wire_encode(&m, &cf->fx->replica[r], &b), BFT_OK);
	}
	e = bft_client_on_frame(cf->c, now, r, b.p, b.len);
	wire_buf_free(&b);
	return e;
}

static void test_session_client_requests_carry_the_authenticator(void **state)
{
	struct fixture *fx = *state;
	struct cfix cf;
	struct wire_limits l = limits();
	struct bft_msg m;
	uint8_t d[CR_DIGEST_BYTES];

	client_start(fx, &cf, true);
	assert_int_equal(wire_decode(&l, cf.out.msgs[0].bytes, cf.out.msgs[0].len, &m), BFT_OK);
	assert_true(m.has_auth);
	assert_int_equal(m.auth_session, 5);
	assert_int_equal(wire_verify(&m, fx->client_pks[0]), BFT_OK);
	wire_msg_digest(&m, d);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(wire_mac_check(m.auth_macs + i * BFT_MAC_BYTES, fx->keys[i], 5, d), 0);
	wire_msg_free(&m);
	client_stop(&cf);
}

/* A session for replies only (the default of bftctl without --mac): each request names the
 * session in an authenticator with no MACs, so every replica checks its signature (a bad one is
 * refused even with the session held) and answers with a MAC the client accepts. */
static void test_session_replies_only_requests_are_checked_by_signature_and_answered_by_mac(
	void **state)
{
	struct fixture *fx = *state;
	struct cfix cf;
	struct wire_limits l = limits();
	struct bft_msg m;
	struct wire_buf again = {0}, forged = {0};
	struct bft_log_session_stats st;
	struct bft_client_stats cst;
	struct bft_client_result res;

	client_start_mode(fx, &cf, true, true);
	assert_int_equal(cf.out.nmsgs, 1);
	const struct bft_out_msg *om = &cf.out.msgs[0];
	assert_int_equal(wire_decode(&l, om->bytes, om->len, &m), BFT_OK);
	assert_true(m.has_auth);
	assert_int_equal(m.auth_session, 5);
	assert_int_equal(m.auth_len, 0);
	assert_int_equal(wire_verify(&m, fx->client_pks[0]), BFT_OK);
	/* [session 5, bin8 of length 0] ends the frame; re-encoding gives the same bytes. */
	assert_int_equal(om->bytes[om->len - 4], 0x92);
	assert_int_equal(om->bytes[om->len - 3], 5);
	assert_int_equal(om->bytes[om->len - 2], 0xc4);
	assert_int_equal(om->bytes[om->len - 1], 0);
	assert_int_equal(wire_encode(&m, NULL, &again), BFT_OK);
	assert_int_equal(again.len, om->len);
	assert_memory_equal(again.p, om->bytes, om->len);
	wire_msg_free(&m);
	/* The replicas hold session 5 and still decide by the signature. */
	install_all(fx, 5);
	{
		struct wire_buf b = {.p = om->bytes, .len = om->len};
		assert_int_equal(check1(fx, 1, &b, BFT_CHECK_MAC), BFT_OK);
	}
	/* The same form signed with another client's key: refused. */
	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_REQUEST;
	m.sender = 0;
	m.u.request.reqid = 9;
	m.u.request.op = (struct bft_bytes){.p = (const uint8_t *)"x", .len = 1};
	m.has_auth = true;
	m.auth_session = 5;
	m.auth_macs = (const uint8_t *)"";
	m.auth_len = 0;
	assert_int_equal(wire_encode(&m, &fx->client[1], &forged), BFT_OK);
	assert_int_equal(check1(fx, 1, &forged, BFT_CHECK_MAC), BFT_EBADSIG);
	bft_log_session_stats(fx->lg[1], &st);
	assert_int_equal(st.mac_ok, 0);
	assert_int_equal(st.mac_bad, 0);
	assert_int_equal(st.mac_fallback, 2);
	/* Replies under the session complete the request. */
	assert_int_equal(client_reply(&cf, 1, "ok", 1, true, fx->keys[1], 5), BFT_OK);
	assert_int_equal(client_reply(&cf, 2, "ok", 1, true, fx->keys[2], 5), BFT_OK);
	assert_true(bft_client_poll(cf.c, &res));
	bft_client_stats(cf.c, &cst);
	assert_int_equal(cst.replies_mac, 2);
	wire_buf_free(&again);
	wire_buf_free(&forged);
	client_stop(&cf);
}

static void test_session_client_accepts_maced_replies(void **state)
{
	struct fixture *fx = *state;
	struct cfix cf;
	struct bft_client_stats st;
	struct bft_client_result res;

	client_start(fx, &cf, true);
	assert_int_equal(client_reply(&cf, 1, "ok", 1, true, fx->keys[1], 5), BFT_OK);
	assert_false(bft_client_poll(cf.c, &res));
	assert_int_equal(client_reply(&cf, 2, "ok", 1, true, fx->keys[2], 5), BFT_OK);
	assert_true(bft_client_poll(cf.c, &res));
	assert_int_equal(res.result.len, 2);
	bft_client_stats(cf.c, &st);
	assert_int_equal(st.replies_mac, 2);
	assert_int_equal(st.bad_mac, 0);
	client_stop(&cf);
}

static void test_session_client_ignores_and_counts_bad_macs(void **state)
{
	struct fixture *fx = *state;
	struct cfix cf, plain;
	struct bft_client_stats st;
	struct bft_client_result res;

	client_start(fx, &cf, true);
	/* Replica 1's reply MAC'd with replica 2's key; replica 2's with another session's key;
	 * replica 3's naming a session we are not in. None counts. */
	assert_int_equal(client_reply(&cf, 1, "ok", 1, true, fx->keys[2], 5), BFT_EBADSIG);
	assert_int_equal(client_reply(&cf, 2, "ok", 1, true, fx->other[2], 5), BFT_EBADSIG);
	assert_int_equal(client_reply(&cf, 3, "ok", 1, true, fx->keys[3], 6), BFT_EBADSIG);
	assert_int_equal(client_reply(&cf, 3, "ok", 1, true, fx->keys[3], 4), BFT_EBADSIG);
	bft_client_stats(cf.c, &st);
	assert_int_equal(st.bad_mac, 4);
	assert_int_equal(st.replies_ok, 0);
	assert_false(bft_client_poll(cf.c, &res));
	client_stop(&cf);
	/* A client not in session mode takes no MAC at all. */
	client_start(fx, &plain, false);
	assert_int_equal(client_reply(&plain, 1, "ok", 1, true, fx->keys[1], 5), BFT_EBADSIG);
	bft_client_stats(plain.c, &st);
	assert_int_equal(st.bad_mac, 1);
	client_stop(&plain);
}

static void test_session_client_mixed_signed_and_maced_replies_reach_f_plus_1(void **state)
{
	struct fixture *fx = *state;
	struct cfix cf;
	struct bft_client_result res;
	struct bft_client_stats st;

	client_start(fx, &cf, true);
	assert_int_equal(client_reply(&cf, 0, "ok", 1, false, NULL, 0), BFT_OK);
	assert_false(bft_client_poll(cf.c, &res));
	/* The same replica again, by MAC, adds no weight. */
	assert_int_equal(client_reply(&cf, 0, "ok", 1, true, fx->keys[0], 5), BFT_EDUP);
	assert_false(bft_client_poll(cf.c, &res));
	assert_int_equal(client_reply(&cf, 3, "ok", 1, true, fx->keys[3], 5), BFT_OK);
	assert_true(bft_client_poll(cf.c, &res));
	bft_client_stats(cf.c, &st);
	assert_int_equal(st.replies_mac, 2);
	client_stop(&cf);
}

static void test_session_client_resends_session_to_a_replica_that_signs(void **state)
{
	struct fixture *fx = *state;
	struct cfix cf;
	struct bft_client_stats st;

	client_start(fx, &cf, true);
	/* Replica 2 answers with a signature: it has no key (restarted). Nothing is due before
	 * one retransmission period after the SESSION went out. */
	assert_int_equal(client_reply(&cf, 2, "ok", RETX - 1, false, NULL, 0), BFT_OK);
	bft_out_reset(&cf.out);
	bft_client_on_timer(cf.c, RETX - 1, &cf.out);
	for (size_t i = 0; i < cf.out.nmsgs; i++)
		assert_int_not_equal(cf.out.msgs[i].type, BFT_MSG_SESSION);
	/* Later, a signed reply makes it due: the next timer sends it to replica 2 alone. */
	assert_int_equal(client_reply(&cf, 2, "ok2", RETX + 10, false, NULL, 0), BFT_OK);
	assert_int_equal(bft_client_next_timer(cf.c), RETX);
	bft_out_reset(&cf.out);
	bft_client_on_timer(cf.c, RETX + 10, &cf.out);
	{
		uint32_t sessions = 0;
		for (size_t i = 0; i < cf.out.nmsgs; i++)
			if (cf.out.msgs[i].type == BFT_MSG_SESSION) {
				sessions++;
				assert_int_equal(cf.out.msgs[i].dest, BFT_TO_REPLICA);
				assert_int_equal(cf.out.msgs[i].to, 2);
			}
		assert_int_equal(sessions, 1);
	}
	/* And not again within the next period, however many signed replies come. */
	assert_int_equal(client_reply(&cf, 2, "ok3", RETX + 20, false, NULL, 0), BFT_OK);
	bft_out_reset(&cf.out);
	bft_client_on_timer(cf.c, RETX + 20, &cf.out);
	for (size_t i = 0; i < cf.out.nmsgs; i++)
		assert_int_not_equal(cf.out.msgs[i].type, BFT_MSG_SESSION);
	bft_client_stats(cf.c, &st);
	assert_int_equal(st.session_resends, 1);
	client_stop(&cf);
}

/* After the client moves to a newer session, a reply MAC'd under the older one is refused (it
 * proves nothing) but shows that replica missed the new SESSION: it is sent to it again. */
static void test_session_client_resends_session_to_a_replica_in_an_older_session(void **state)
{
	struct fixture *fx = *state;
	struct cfix cf;
	struct bft_client_stats st;
	uint8_t boxes[N][BFT_SESSION_BOX_BYTES];
	uint32_t sessions = 0;

	client_start(fx, &cf, true);
	seal_all(fx, boxes);
	bft_out_reset(&cf.out);
	assert_int_equal(bft_client_session_start(cf.c, 1, 6, &fx->other[0][0], &boxes[0][0],
						  &cf.out), BFT_OK);
	/* Replica 1 still answers under session 5, with the old key. */
	assert_int_equal(client_reply(&cf, 1, "ok", RETX + 10, true, fx->keys[1], 5), BFT_EBADSIG);
	bft_client_stats(cf.c, &st);
	assert_int_equal(st.bad_mac, 1);
	bft_out_reset(&cf.out);
	bft_client_on_timer(cf.c, RETX + 10, &cf.out);
	for (size_t i = 0; i < cf.out.nmsgs; i++)
		if (cf.out.msgs[i].type == BFT_MSG_SESSION) {
			sessions++;
			assert_int_equal(cf.out.msgs[i].dest, BFT_TO_REPLICA);
			assert_int_equal(cf.out.msgs[i].to, 1);
		}
	assert_int_equal(sessions, 1);
	/* A MAC under a session we never had (a newer number) triggers nothing. */
	assert_int_equal(client_reply(&cf, 2, "ok", 3 * RETX, true, fx->keys[2], 7), BFT_EBADSIG);
	bft_out_reset(&cf.out);
	bft_client_on_timer(cf.c, 3 * RETX, &cf.out);
	for (size_t i = 0; i < cf.out.nmsgs; i++)
		assert_int_not_equal(cf.out.msgs[i].type, BFT_MSG_SESSION);
	client_stop(&cf);
}

/* The whole path: a client's SESSION opened by each replica, a request checked by MAC, the
 * replies MAC'd and accepted by the client. */
static void test_session_end_to_end_through_log_and_client(void **state)
{
	struct fixture *fx = *state;
	struct cfix cf;
	struct wire_limits l = limits();
	struct bft_msg sm, req;
	struct bft_client_result res;
	struct bft_client_stats st;

	memset(&cf, 0, sizeof(cf));
	client_start(fx, &cf, true);
	/* client_start reset the output after the SESSION; make it again from the client. */
	{
		uint8_t boxes[N][BFT_SESSION_BOX_BYTES];
		struct bft_out o = {0};
		seal_all(fx, boxes);
		assert_int_equal(bft_client_session_start(cf.c, 0, 6, &fx->keys[0][0], &boxes[0][0],
							  &o), BFT_OK);
		assert_int_equal(wire_decode(&l, o.msgs[0].bytes, o.msgs[0].len, &sm), BFT_OK);
		for (uint32_t r = 0; r < N; r++) {
			uint8_t k[BFT_SESSION_KEY_BYTES];
			assert_int_equal(bft_log_session_check(fx->lg[r], &sm), BFT_OK);
			assert_int_equal(cr_seal_open(k, &fx->replica[r],
						      sm.u.session.boxes.p + r * BFT_SESSION_BOX_BYTES,
						      BFT_SESSION_BOX_BYTES), 0);
			assert_int_equal(bft_log_session_install(fx->lg[r], 0, 6, k), BFT_OK);
		}
		wire_msg_free(&sm);
		bft_out_free(&o);
	}
	bft_out_reset(&cf.out);
	{
		static const uint8_t op[] = "y";
		assert_int_equal(bft_client_submit(cf.c, 1, op, 1, 0, &cf.reqid, &cf.out), BFT_OK);
	}
	assert_int_equal(wire_decode(&l, cf.out.msgs[0].bytes, cf.out.msgs[0].len, &req), BFT_OK);
	{
		struct bft_bytes rb = {.p = cf.out.msgs[0].bytes, .len = (uint32_t)cf.out.msgs[0].len};
		for (uint32_t r = 1; r < N; r++) {
			struct bft_msg rep;
			struct bft_log_session_stats ls;
			assert_int_equal(bft_log_check_requests(fx->lg[r], &rb, 1, BFT_CHECK_MAC),
					 BFT_OK);
			bft_log_session_stats(fx->lg[r], &ls);
			assert_int_equal(ls.mac_ok, 1);
			bft_out_reset(&fx->out);
			assert_int_equal(bft_log_execute(fx->lg[r], 1, 0, 5, &rb, 1, &fx->out), BFT_OK);
			assert_int_equal(fx->out.msgs[0].type, BFT_MSG_REPLY);
			assert_int_equal(wire_decode(&l, fx->out.msgs[0].bytes, fx->out.msgs[0].len,
						     &rep), BFT_OK);
			assert_true(rep.has_auth);
			wire_msg_free(&rep);
			{
				enum bft_err ce = bft_client_on_frame(cf.c, 2, r, fx->out.msgs[0].bytes,
								      fx->out.msgs[0].len);
				/* f+1 accept; the third reply is for a completed request. */
				assert_int_equal(ce, r < 3 ? BFT_OK : BFT_ESTALE);
			}
		}
	}
	wire_msg_free(&req);
	assert_true(bft_client_poll(cf.c, &res));
	assert_int_equal(res.reqid, cf.reqid);
	bft_client_stats(cf.c, &st);
	assert_true(st.replies_mac >= 2);
	assert_int_equal(st.bad_mac + st.bad_signature, 0);
	client_stop(&cf);
}

/* ---- golden vectors ------------------------------------------------------------------------ */

/* Compares b with tests/vectors/wire_<name>.hex (the format of test_wire.c's vectors). With
 * WIRE_REGEN=1 (run from the repository root) it first writes the vector, and the raw bytes as
 * fuzz seed tests/fuzz/corpus/<name>. A missing vector fails. */
static void golden(const char *name, const struct wire_buf *b)
{
	char path[256];
	const char *regen = getenv("WIRE_REGEN");
	FILE *fp;
	uint8_t *want = malloc(b->len + 1);
	size_t n = 0;
	int c, hi = -1, comment = 0, line_start = 1;

	assert_non_null(want);
	snprintf(path, sizeof(path), "tests/vectors/wire_%s.hex", name);
	if (regen != NULL && strcmp(regen, "1") == 0) {
		char cpath[256];

		fp = fopen(path, "w");
		assert_non_null(fp);
		fprintf(fp, "# wire_%s.hex: built by tests/unit/test_session.c (%zu bytes).\n"
			    "# Regenerate from the repository root with\n"
			    "#     WIRE_REGEN=1 build/tests/unit/test_session\n", name, b->len);
		for (size_t i = 0; i < b->len; i++)
			fprintf(fp, "%02x%s", b->p[i], (i % 32 == 31 || i + 1 == b->len) ? "\n" : "");
		assert_int_equal(fclose(fp), 0);
		snprintf(cpath, sizeof(cpath), "tests/fuzz/corpus/%s", name);
		fp = fopen(cpath, "wb");
		assert_non_null(fp);
		assert_int_equal(fwrite(b->p, 1, b->len, fp), b->len);
		assert_int_equal(fclose(fp), 0);
	}
	fp = fopen(path, "r");
	if (fp == NULL)
		fail_msg("golden vector %s is missing (WIRE_REGEN=1 build/tests/unit/test_session)",
			 path);
	while ((c = fgetc(fp)) != EOF) {
		if (c == '\n') {
			comment = 0;
			line_start = 1;
			continue;
		}
		if (comment || c == ' ')
			continue;
		if (line_start && c == '#') {
			comment = 1;
			continue;
		}
		line_start = 0;
		c = c >= 'a' ? c - 'a' + 10 : c - '0';
		if (hi < 0) {
			hi = c;
		} else {
			if (n == b->len)
				fail_msg("%s: longer than the encoding (%zu bytes)", path, b->len);
			want[n++] = (uint8_t)(hi << 4 | c);
			hi = -1;
		}
	}
	fclose(fp);
	assert_int_equal(n, b->len);
	assert_memory_equal(want, b->p, b->len);
	free(want);
}

static void test_session_wire_golden_vectors(void **state)
{
	struct fixture *fx = *state;
	struct wire_buf req = request(&fx->client[0], 0, 300, 0x1234567890ull, fx->keys);
	struct wire_buf reply = {0}, sess;
	uint8_t boxes[N][BFT_SESSION_BOX_BYTES];
	struct bft_msg m;
	static const uint8_t res[] = "put answer 42";

	for (size_t i = 0; i < sizeof(boxes); i++)
		(&boxes[0][0])[i] = (uint8_t)(i * 7);
	sess = session_msg(&fx->client[1], 1, 1700000000123456ull, &boxes[0][0], sizeof(boxes));
	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_REPLY;
	m.sender = 3;
	m.u.reply.view = 2;
	m.u.reply.client = 1;
	m.u.reply.reqid = 300;
	m.u.reply.result = (struct bft_bytes){.p = res, .len = sizeof(res) - 1};
	m.has_auth = true;
	m.auth_session = 0x1234567890ull;
	assert_int_equal(wire_encode_auth(&m, NULL, fx->keys[3], 1, &reply), BFT_OK);
	golden("request_auth", &req);
	golden("reply_mac", &reply);
	golden("session", &sess);
	/* A request in a replies-only session: the authenticator names the session, no MACs. */
	struct wire_buf replies = {0};
	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_REQUEST;
	m.sender = 0;
	m.u.request.reqid = 301;
	m.u.request.timestamp_ms = 1700000000123ull;
	m.u.request.op = (struct bft_bytes){.p = res, .len = sizeof(res) - 1};
	m.has_auth = true;
	m.auth_session = 0x1234567890ull;
	m.auth_macs = res;
	m.auth_len = 0;
	assert_int_equal(wire_encode(&m, &fx->client[0], &replies), BFT_OK);
	golden("request_replies_session", &replies);
	wire_buf_free(&replies);
	wire_buf_free(&req);
	wire_buf_free(&reply);
	wire_buf_free(&sess);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_session_wire_authenticated_request_round_trips),
		T(test_session_wire_mac_reply_round_trips_and_never_verifies_as_signed),
		T(test_session_wire_session_message_round_trips),
		T(test_session_wire_golden_vectors),
		T(test_session_wire_refuses_every_malformed_authenticator),
		T(test_session_wire_refuses_sixth_element_on_other_types),
		T(test_session_wire_refuses_malformed_mac_reply_and_session),
		T(test_session_sealed_box_opens_only_for_its_replica),
		T(test_session_check_and_install_refuse_every_bad_session),
		T(test_session_good_mac_is_accepted_without_the_signature),
		T(test_session_bad_mac_falls_back_to_the_signature),
		T(test_session_refused_session_is_stale_afterwards),
		T(test_session_read_is_authenticated_by_the_replicas_own_mac),
		T(test_session_mac_good_for_one_replica_only_is_checked_per_replica),
		T(test_session_number_mismatch_falls_back),
		T(test_session_wal_replay_does_not_reauthenticate_committed_requests),
		T(test_session_reply_is_maced_only_for_the_session_held),
		T(test_session_client_requests_carry_the_authenticator),
		T(test_session_replies_only_requests_are_checked_by_signature_and_answered_by_mac),
		T(test_session_client_accepts_maced_replies),
		T(test_session_client_ignores_and_counts_bad_macs),
		T(test_session_client_mixed_signed_and_maced_replies_reach_f_plus_1),
		T(test_session_client_resends_session_to_a_replica_that_signs),
		T(test_session_client_resends_session_to_a_replica_in_an_older_session),
		T(test_session_end_to_end_through_log_and_client),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
