/*
 * Unit tests for the client core (bft/client.c): acceptance quorums, what is ignored, where
 * requests go, retransmission with back-off, the read-only fallback and the memory bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bft/client.h"
#include "bft/wire.h"

#define MAXN 7
#define NCLIENTS 3
#define RETX 100u

struct fixture {
	uint32_t n;
	struct cr_identity replica[MAXN];
	uint8_t pks[MAXN][CR_PK_BYTES];
	struct cr_identity client_key;
	struct bft_client *c;
	struct bft_out out;
};

static void seed_bytes(uint8_t seed[CR_SEED_BYTES], uint8_t tag, uint32_t i)
{
	memset(seed, 0, CR_SEED_BYTES);
	seed[0] = tag;
	seed[1] = (uint8_t)i;
}

static struct fixture *fixture_new(uint32_t n, uint32_t outstanding_max, uint64_t first_reqid,
				   enum bft_client_send send)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct bft_client_config cfg;
	uint8_t seed[CR_SEED_BYTES];

	assert_non_null(fx);
	fx->n = n;
	for (uint32_t i = 0; i < n; i++) {
		seed_bytes(seed, 'r', i);
		assert_int_equal(cr_identity_from_seed(&fx->replica[i], seed), 0);
		memcpy(fx->pks[i], fx->replica[i].pk, CR_PK_BYTES);
	}
	seed_bytes(seed, 'c', 1);
	assert_int_equal(cr_identity_from_seed(&fx->client_key, seed), 0);

	memset(&cfg, 0, sizeof(cfg));
	cfg.id = 1;
	cfg.n = n;
	cfg.replica_pks = (const uint8_t (*)[CR_PK_BYTES])fx->pks;
	cfg.key = &fx->client_key;
	wire_limits_default(&cfg.limits, n, NCLIENTS);
	cfg.send = send;
	/* As the node configures it: Honey Badger (send to all) orders reads, PBFT does not. */
	cfg.ordered_reads_only = send != BFT_SEND_PRIMARY;
	cfg.retransmit_ms = RETX;
	cfg.retransmit_max_ms = 4 * RETX;
	cfg.outstanding_max = outstanding_max;
	cfg.first_reqid = first_reqid;
	assert_int_equal(bft_client_new(&fx->c, &cfg), BFT_OK);
	return fx;
}

static void fixture_free(struct fixture *fx)
{
	bft_client_free(fx->c);
	bft_out_free(&fx->out);
	for (uint32_t i = 0; i < fx->n; i++)
		cr_identity_free(&fx->replica[i]);
	cr_identity_free(&fx->client_key);
	free(fx);
}

static uint64_t submit(struct fixture *fx, uint64_t now, const char *op, uint32_t flags)
{
	uint64_t reqid = 0;

	assert_int_equal(bft_client_submit(fx->c, now, (const uint8_t *)op, strlen(op), flags,
					   &reqid, &fx->out), BFT_OK);
	return reqid;
}

/* A REPLY envelope signed by replica `signer` (or with a zero signature when signer < 0). */
static struct wire_buf reply_frame(struct fixture *fx, int signer, uint64_t sender,
				   bft_client_id client, uint64_t reqid, bft_view view,
				   const char *result)
{
	struct bft_msg m;
	struct wire_buf b = {0};

	memset(&m, 0, sizeof(m));
	m.version = BFT_WIRE_VERSION;
	m.type = BFT_MSG_REPLY;
	m.sender = sender;
	m.u.reply.view = view;
	m.u.reply.client = client;
	m.u.reply.reqid = reqid;
	m.u.reply.result.p = (const uint8_t *)result;
	m.u.reply.result.len = (uint32_t)strlen(result);
	assert_int_equal(wire_encode(&m, signer < 0 ? NULL : &fx->replica[signer], &b), BFT_OK);
	return b;
}

/* Replica r (honest framing) replies `result` to request reqid; returns on_frame's verdict. */
static enum bft_err reply(struct fixture *fx, uint32_t r, uint64_t reqid, bft_view view,
			  const char *result)
{
	struct wire_buf b = reply_frame(fx, (int)r, r, 1, reqid, view, result);
	enum bft_err e = bft_client_on_frame(fx->c, 10, r, b.p, b.len);

	wire_buf_free(&b);
	return e;
}

static void test_client_reqids_start_at_one_and_increase(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_PRIMARY);
	uint64_t prev = 0;

	(void)state;
	for (int i = 0; i < 5; i++) {
		uint64_t id = submit(fx, 0, "op", 0);

		assert_true(id > prev);
		if (i == 0)
			assert_int_equal(id, 1);
		prev = id;
	}
	fixture_free(fx);
}

static void test_client_reqids_resume_from_first_reqid(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 1000, BFT_SEND_PRIMARY);

	(void)state;
	assert_int_equal(submit(fx, 0, "a", 0), 1000);
	assert_int_equal(submit(fx, 0, "b", 0), 1001);
	assert_int_equal(bft_client_next_reqid(fx->c), 1002);
	fixture_free(fx);
}

static void test_client_sends_signed_request_to_primary_of_view_zero(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_PRIMARY);
	struct wire_limits l;
	struct bft_msg m;
	uint64_t id;

	(void)state;
	/* The session's first request introduces the client to every replica (replies go back
	 * over the connection a request came on); later ones go to the primary alone. */
	submit(fx, 1, "first", 0);
	assert_int_equal(fx->out.nmsgs, 1);
	assert_int_equal(fx->out.msgs[0].dest, BFT_TO_ALL);
	bft_out_reset(&fx->out);
	id = submit(fx, 5, "hello", 0);
	assert_int_equal(fx->out.nmsgs, 1);
	assert_int_equal(fx->out.msgs[0].dest, BFT_TO_REPLICA);
	assert_int_equal(fx->out.msgs[0].to, 0);
	assert_int_equal(fx->out.timer_ms, 1 + RETX);
	wire_limits_default(&l, 4, NCLIENTS);
	assert_int_equal(wire_decode(&l, fx->out.msgs[0].bytes, fx->out.msgs[0].len, &m), BFT_OK);
	assert_int_equal(m.type, BFT_MSG_REQUEST);
	assert_int_equal(m.sender, 1);
	assert_int_equal(m.u.request.reqid, id);
	assert_int_equal(m.u.request.op.len, 5);
	assert_memory_equal(m.u.request.op.p, "hello", 5);
	assert_int_equal(wire_verify(&m, fx->client_key.pk), BFT_OK);
	wire_msg_free(&m);
	fixture_free(fx);
}

static void test_client_send_all_mode_broadcasts(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_ALL);

	(void)state;
	submit(fx, 0, "x", 0);
	assert_int_equal(fx->out.nmsgs, 1);
	assert_int_equal(fx->out.msgs[0].dest, BFT_TO_ALL);
	fixture_free(fx);
}

/* Honey Badger: the first request goes to all (each replica sees a request of ours before it
 * has to answer one); later ones to their owner, (client + reqid) mod n, and the f after it;
 * a retransmission to all. Client 1 at n = 7 (f = 2): reqid 2 -> 3, 4, 5; reqid 3 -> 4, 5, 6. */
static void test_client_send_checkers_mode_sends_to_f_plus_1(void **state)
{
	struct fixture *fx = fixture_new(7, 8, 0, BFT_SEND_CHECKERS);
	uint64_t id;

	(void)state;
	id = submit(fx, 0, "x", 0);
	assert_int_equal(fx->out.nmsgs, 1);
	assert_int_equal(fx->out.msgs[0].dest, BFT_TO_ALL);
	assert_int_equal(reply(fx, 0, id, 0, "r"), BFT_OK);
	bft_out_reset(&fx->out);
	for (uint64_t want = 2; want <= 3; want++) {
		uint32_t owner = bft_hb_owner(7, 1, want);

		id = submit(fx, 0, "y", 0);
		assert_int_equal(id, want);
		assert_int_equal(fx->out.nmsgs, 3);
		for (uint32_t k = 0; k < 3; k++) {
			assert_int_equal(fx->out.msgs[k].dest, BFT_TO_REPLICA);
			assert_int_equal(fx->out.msgs[k].to, (owner + k) % 7);
		}
		assert_int_equal(owner, (1 + want) % 7);
		bft_out_reset(&fx->out);
	}
	/* No answer in time: to everybody. */
	bft_client_on_timer(fx->c, 10 * RETX, &fx->out);
	assert_true(fx->out.nmsgs >= 1);
	for (size_t i = 0; i < fx->out.nmsgs; i++)
		if (fx->out.msgs[i].type == BFT_MSG_REQUEST)
			assert_int_equal(fx->out.msgs[i].dest, BFT_TO_ALL);
	fixture_free(fx);
}

static void test_client_accepts_f_plus_1_matching_replies(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_ALL); /* reads are ordered */
	struct bft_client_result res;
	uint64_t id;

	(void)state;
	id = submit(fx, 0, "op", 0);
	assert_int_equal(reply(fx, 2, id, 0, "good"), BFT_OK);
	assert_false(bft_client_poll(fx->c, &res));
	/* Views may differ between the matching replies. */
	assert_int_equal(reply(fx, 3, id, 1, "good"), BFT_OK);
	assert_true(bft_client_poll(fx->c, &res));
	assert_int_equal(res.reqid, id);
	assert_int_equal(res.final_reqid, id);
	assert_int_equal(res.result.len, 4);
	assert_memory_equal(res.result.p, "good", 4);
	assert_int_equal(bft_client_outstanding(fx->c), 0);
	/* A late reply for a completed request is harmless and counted as unknown. */
	assert_int_equal(reply(fx, 0, id, 0, "good"), BFT_ESTALE);
	assert_false(bft_client_poll(fx->c, &res));
	fixture_free(fx);
}

static void test_client_f_liars_never_produce_acceptance(void **state)
{
	struct fixture *fx = fixture_new(7, 8, 0, BFT_SEND_ALL); /* f = 2, f+1 suffice */
	struct bft_client_result res;
	struct bft_client_stats st;
	uint64_t id;

	(void)state;
	id = submit(fx, 0, "op", 0);
	/* The f faulty replicas agree on a wrong result, and repeat it. */
	assert_int_equal(reply(fx, 0, id, 0, "evil"), BFT_OK);
	assert_int_equal(reply(fx, 1, id, 0, "evil"), BFT_OK);
	assert_int_equal(reply(fx, 1, id, 0, "evil"), BFT_EDUP);
	assert_false(bft_client_poll(fx->c, &res));
	/* Correct replicas trickle in: f of them are not enough either. */
	assert_int_equal(reply(fx, 2, id, 0, "good"), BFT_OK);
	assert_int_equal(reply(fx, 3, id, 0, "good"), BFT_OK);
	assert_false(bft_client_poll(fx->c, &res));
	assert_int_equal(reply(fx, 4, id, 0, "good"), BFT_OK);
	assert_true(bft_client_poll(fx->c, &res));
	assert_memory_equal(res.result.p, "good", 4);
	bft_client_stats(fx->c, &st);
	assert_int_equal(st.mismatched, 2);
	fixture_free(fx);
}

static void test_client_ignores_bad_signatures(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_PRIMARY);
	struct bft_client_result res;
	struct bft_client_stats st;
	uint64_t id;

	(void)state;
	id = submit(fx, 0, "op", 0);
	for (uint32_t r = 0; r < 4; r++) {
		/* Unsigned (zero signature), and signed by the wrong replica. */
		struct wire_buf a = reply_frame(fx, -1, r, 1, id, 0, "good");
		struct wire_buf b = reply_frame(fx, (int)((r + 1) % 4), r, 1, id, 0, "good");

		assert_int_equal(bft_client_on_frame(fx->c, 1, r, a.p, a.len), BFT_EBADSIG);
		assert_int_equal(bft_client_on_frame(fx->c, 1, r, b.p, b.len), BFT_EBADSIG);
		wire_buf_free(&a);
		wire_buf_free(&b);
	}
	assert_false(bft_client_poll(fx->c, &res));
	bft_client_stats(fx->c, &st);
	assert_int_equal(st.bad_signature, 8);
	assert_int_equal(st.replies_ok, 0);
	fixture_free(fx);
}

static void test_client_ignores_reply_whose_sender_is_not_from(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_PRIMARY);
	struct bft_client_result res;
	struct bft_client_stats st;
	struct wire_buf b;
	uint64_t id;

	(void)state;
	id = submit(fx, 0, "op", 0);
	/* Replica 0's genuine reply, relayed by replicas 1, 2 and 3: still one voice. */
	b = reply_frame(fx, 0, 0, 1, id, 0, "good");
	assert_int_equal(bft_client_on_frame(fx->c, 1, 0, b.p, b.len), BFT_OK);
	for (uint32_t from = 1; from < 4; from++)
		assert_int_equal(bft_client_on_frame(fx->c, 1, from, b.p, b.len), BFT_ESENDER);
	/* A sender id beyond n is refused too. */
	assert_int_equal(bft_client_on_frame(fx->c, 1, 9, b.p, b.len), BFT_ESENDER);
	wire_buf_free(&b);
	assert_false(bft_client_poll(fx->c, &res));
	bft_client_stats(fx->c, &st);
	assert_int_equal(st.bad_sender, 4);
	fixture_free(fx);
}

static void test_client_duplicate_replies_count_once(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_PRIMARY);
	struct bft_client_result res;
	struct bft_client_stats st;
	uint64_t id;

	(void)state;
	id = submit(fx, 0, "op", 0);
	assert_int_equal(reply(fx, 1, id, 0, "good"), BFT_OK);
	for (int i = 0; i < 5; i++)
		assert_int_equal(reply(fx, 1, id, i, "good"), BFT_EDUP);
	assert_false(bft_client_poll(fx->c, &res));
	bft_client_stats(fx->c, &st);
	assert_int_equal(st.duplicate, 5);
	fixture_free(fx);
}

static void test_client_ignores_unknown_requests_other_clients_and_garbage(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_PRIMARY);
	struct bft_client_result res;
	struct bft_client_stats st;
	struct wire_buf b;
	uint64_t id;
	const uint8_t junk[] = {0x95, 0x01, 0x02, 0xc1, 0x00};

	(void)state;
	id = submit(fx, 0, "op", 0);
	assert_int_equal(reply(fx, 0, id + 7, 0, "good"), BFT_ESTALE);
	for (uint32_t r = 0; r < 4; r++) {
		b = reply_frame(fx, (int)r, r, 2, id, 0, "good");
		assert_int_equal(bft_client_on_frame(fx->c, 1, r, b.p, b.len), BFT_EINVAL);
		wire_buf_free(&b);
	}
	assert_int_not_equal(bft_client_on_frame(fx->c, 1, 0, junk, sizeof(junk)), BFT_OK);
	assert_int_not_equal(bft_client_on_frame(fx->c, 1, 0, junk, 0), BFT_OK);
	/* A REQUEST sent to a client is not a reply. */
	assert_int_equal(bft_client_on_frame(fx->c, 1, 0, fx->out.msgs[0].bytes,
					     fx->out.msgs[0].len), BFT_ETYPE);
	assert_false(bft_client_poll(fx->c, &res));
	bft_client_stats(fx->c, &st);
	assert_int_equal(st.unknown_request, 1);
	assert_int_equal(st.other_client, 4);
	assert_int_equal(st.malformed, 3);
	fixture_free(fx);
}

static void test_client_retransmits_to_all_after_timeout_with_backoff(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_PRIMARY);
	struct bft_client_result res;
	uint64_t id, t;

	(void)state;
	id = submit(fx, 1000, "op", 0);
	bft_out_reset(&fx->out);
	bft_client_on_timer(fx->c, 1000 + RETX - 1, &fx->out);
	assert_int_equal(fx->out.nmsgs, 0);
	assert_int_equal(fx->out.timer_ms, 1000 + RETX);

	/* Back-off: 100, then 200, 400, and capped at retransmit_max_ms = 400. */
	t = 1000 + RETX;
	for (uint32_t k = 0, gap = 2 * RETX; k < 5; k++) {
		bft_out_reset(&fx->out);
		bft_client_on_timer(fx->c, t, &fx->out);
		assert_int_equal(fx->out.nmsgs, 1);
		assert_int_equal(fx->out.msgs[0].dest, BFT_TO_ALL);
		assert_int_equal(fx->out.timer_ms, t + gap);
		assert_int_equal(bft_client_next_timer(fx->c), t + gap);
		t += gap;
		gap = gap * 2 > 4 * RETX ? 4 * RETX : gap * 2;
	}
	assert_int_equal(reply(fx, 0, id, 0, "r"), BFT_OK);
	assert_int_equal(reply(fx, 1, id, 0, "r"), BFT_OK);
	assert_int_equal(reply(fx, 2, id, 0, "r"), BFT_OK);
	assert_true(bft_client_poll(fx->c, &res));
	assert_int_equal(res.retransmissions, 5);
	assert_int_equal(bft_client_next_timer(fx->c), 0);
	fixture_free(fx);
}

static void test_client_readonly_needs_2f_plus_1(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_PRIMARY);
	struct bft_client_result res;
	uint64_t id;

	(void)state;
	id = submit(fx, 0, "get", BFT_REQ_READONLY);
	/* PBFT §5.1.3: read-only requests go to every replica. */
	assert_int_equal(fx->out.msgs[0].dest, BFT_TO_ALL);
	assert_int_equal(reply(fx, 0, id, 0, "v"), BFT_OK);
	assert_int_equal(reply(fx, 1, id, 0, "v"), BFT_OK);
	assert_false(bft_client_poll(fx->c, &res));
	assert_int_equal(reply(fx, 2, id, 0, "v"), BFT_OK);
	assert_true(bft_client_poll(fx->c, &res));
	assert_int_equal(res.flags, BFT_REQ_READONLY);
	assert_memory_equal(res.result.p, "v", 1);
	fixture_free(fx);
}

/* PBFT answers reads unordered (§5.1.3), so a write completes on 2f+1 matching replies, not
 * f+1. With f+1, n = 4: replica 0 (faulty) and replica 1 (correct, the only one to have
 * executed the put) would complete it; a later read answered by 0 (lying), 2 and 3 (correct,
 * not there yet) would be 2f+1 matching answers with the value from before the put. */
static void test_client_pbft_write_needs_2f_plus_1(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_PRIMARY);
	struct bft_client_result res;
	uint64_t id;

	(void)state;
	id = submit(fx, 0, "put", 0);
	assert_int_equal(reply(fx, 0, id, 0, "ok"), BFT_OK);
	assert_int_equal(reply(fx, 1, id, 0, "ok"), BFT_OK);
	assert_false(bft_client_poll(fx->c, &res));
	assert_int_equal(bft_client_outstanding(fx->c), 1);
	/* A third replica that executed the put: now any 2f+1 readers include one of them. */
	assert_int_equal(reply(fx, 3, id, 0, "ok"), BFT_OK);
	assert_true(bft_client_poll(fx->c, &res));
	assert_int_equal(res.reqid, id);
	assert_memory_equal(res.result.p, "ok", 2);

	/* The same put where reads are ordered (Honey Badger): f+1 suffice. */
	fixture_free(fx);
	fx = fixture_new(4, 8, 0, BFT_SEND_ALL);
	id = submit(fx, 0, "put", 0);
	assert_int_equal(reply(fx, 0, id, 0, "ok"), BFT_OK);
	assert_false(bft_client_poll(fx->c, &res));
	assert_int_equal(reply(fx, 1, id, 0, "ok"), BFT_OK);
	assert_true(bft_client_poll(fx->c, &res));
	fixture_free(fx);
}

static void test_client_readonly_falls_back_to_ordered_request(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_PRIMARY);
	struct wire_limits l;
	struct bft_client_result res;
	struct bft_client_stats st;
	struct bft_msg m;
	uint64_t id, id2;

	(void)state;
	id = submit(fx, 0, "get", BFT_REQ_READONLY);
	/* Replicas in different states: two answers each way, no 2f+1. */
	assert_int_equal(reply(fx, 0, id, 0, "old"), BFT_OK);
	assert_int_equal(reply(fx, 1, id, 0, "old"), BFT_OK);
	assert_int_equal(reply(fx, 2, id, 0, "new"), BFT_OK);
	assert_int_equal(reply(fx, 3, id, 0, "new"), BFT_OK);
	assert_false(bft_client_poll(fx->c, &res));

	bft_out_reset(&fx->out);
	bft_client_on_timer(fx->c, RETX, &fx->out);
	assert_int_equal(fx->out.nmsgs, 1);
	assert_int_equal(fx->out.msgs[0].dest, BFT_TO_ALL);
	wire_limits_default(&l, 4, NCLIENTS);
	assert_int_equal(wire_decode(&l, fx->out.msgs[0].bytes, fx->out.msgs[0].len, &m), BFT_OK);
	id2 = m.u.request.reqid;
	assert_true(id2 > id);
	assert_int_equal(m.u.request.flags, 0);
	assert_memory_equal(m.u.request.op.p, "get", 3);
	wire_msg_free(&m);

	/* Answers to the query no longer count; 2f+1 answers to the ordered request do (PBFT
	 * answers reads unordered, so ordered requests need 2f+1 too). */
	assert_int_equal(reply(fx, 2, id, 0, "new"), BFT_ESTALE);
	assert_int_equal(reply(fx, 0, id2, 0, "new"), BFT_OK);
	assert_int_equal(reply(fx, 1, id2, 0, "new"), BFT_OK);
	assert_false(bft_client_poll(fx->c, &res));
	assert_int_equal(reply(fx, 2, id2, 0, "new"), BFT_OK);
	assert_true(bft_client_poll(fx->c, &res));
	assert_int_equal(res.reqid, id);
	assert_int_equal(res.final_reqid, id2);
	assert_int_equal(res.flags, 0);
	/* The next request's id is above the fallback's. */
	assert_true(submit(fx, 200, "x", 0) > id2);
	bft_client_stats(fx->c, &st);
	assert_int_equal(st.readonly_fallbacks, 1);
	fixture_free(fx);
}

static void test_client_enforces_outstanding_max(void **state)
{
	struct fixture *fx = fixture_new(4, 2, 0, BFT_SEND_PRIMARY);
	struct bft_client_result res;
	uint64_t id, id2, reqid = 0;

	(void)state;
	id = submit(fx, 0, "a", 0);
	id2 = submit(fx, 0, "b", 0);
	assert_int_equal(bft_client_outstanding(fx->c), 2);
	assert_int_equal(bft_client_submit(fx->c, 0, (const uint8_t *)"c", 1, 0, &reqid,
					   &fx->out), BFT_EFULL);
	assert_int_equal(reqid, 0);
	/* A completed but unpolled request still holds its slot: memory stays bounded. */
	assert_int_equal(reply(fx, 0, id2, 0, "B"), BFT_OK);
	assert_int_equal(reply(fx, 1, id2, 0, "B"), BFT_OK);
	assert_int_equal(reply(fx, 2, id2, 0, "B"), BFT_OK);
	assert_int_equal(bft_client_outstanding(fx->c), 1);
	assert_int_equal(bft_client_submit(fx->c, 0, (const uint8_t *)"c", 1, 0, &reqid,
					   &fx->out), BFT_EFULL);
	assert_true(bft_client_poll(fx->c, &res));
	assert_int_equal(res.reqid, id2);
	assert_true(submit(fx, 0, "c", 0) > id2);
	(void)id;
	fixture_free(fx);
}

static void test_client_rejects_oversized_op_and_bad_flags(void **state)
{
	struct fixture *fx = fixture_new(4, 2, 0, BFT_SEND_PRIMARY);
	struct wire_limits l;
	uint8_t *big;
	uint64_t reqid = 0;

	(void)state;
	wire_limits_default(&l, 4, NCLIENTS);
	big = calloc(1, (size_t)l.op_max + 1);
	assert_non_null(big);
	assert_int_equal(bft_client_submit(fx->c, 0, big, (size_t)l.op_max + 1, 0, &reqid,
					   &fx->out), BFT_ETOOBIG);
	assert_int_equal(bft_client_submit(fx->c, 0, big, 1, 0x80, &reqid, &fx->out),
			 BFT_EINVAL);
	assert_int_equal(fx->out.nmsgs, 0);
	assert_int_equal(bft_client_next_reqid(fx->c), 1);
	free(big);
	fixture_free(fx);
}

static void test_client_follows_view_vouched_by_f_plus_1(void **state)
{
	struct fixture *fx = fixture_new(4, 8, 0, BFT_SEND_PRIMARY);
	struct bft_client_result res;
	uint64_t id;

	(void)state;
	/* One replica claiming view 99 is not enough to move the client. */
	id = submit(fx, 0, "a", 0);
	assert_int_equal(reply(fx, 0, id, 99, "r"), BFT_OK);
	assert_int_equal(reply(fx, 1, id, 0, "r"), BFT_OK);
	assert_int_equal(reply(fx, 2, id, 0, "r"), BFT_OK);
	assert_true(bft_client_poll(fx->c, &res));
	assert_int_equal(bft_client_view(fx->c), 0);

	/* Views 5, 6 and 5: the (f+1)-th highest is 5. */
	id = submit(fx, 0, "b", 0);
	assert_int_equal(reply(fx, 2, id, 5, "r"), BFT_OK);
	assert_int_equal(reply(fx, 3, id, 6, "r"), BFT_OK);
	assert_int_equal(reply(fx, 0, id, 5, "r"), BFT_OK);
	assert_true(bft_client_poll(fx->c, &res));
	assert_int_equal(bft_client_view(fx->c), 5);
	bft_out_reset(&fx->out);
	submit(fx, 0, "c", 0);
	assert_int_equal(fx->out.msgs[0].dest, BFT_TO_REPLICA);
	assert_int_equal(fx->out.msgs[0].to, 1); /* pbft_primary(5, 4) */
	fixture_free(fx);
}

static void test_client_new_rejects_bad_config(void **state)
{
	struct fixture *fx = fixture_new(4, 2, 0, BFT_SEND_PRIMARY);
	struct bft_client_config cfg;
	struct bft_client *c = NULL;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = 1;
	cfg.n = 4;
	cfg.replica_pks = (const uint8_t (*)[CR_PK_BYTES])fx->pks;
	cfg.key = &fx->client_key;
	wire_limits_default(&cfg.limits, 4, NCLIENTS);
	cfg.retransmit_ms = 10;
	cfg.outstanding_max = 0;
	assert_int_equal(bft_client_new(&c, &cfg), BFT_EINVAL);
	cfg.outstanding_max = 1;
	cfg.id = NCLIENTS;
	assert_int_equal(bft_client_new(&c, &cfg), BFT_EINVAL);
	cfg.id = 1;
	cfg.retransmit_ms = 0;
	assert_int_equal(bft_client_new(&c, &cfg), BFT_EINVAL);
	assert_null(c);
	fixture_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_reqids_start_at_one_and_increase),
		cmocka_unit_test(test_client_reqids_resume_from_first_reqid),
		cmocka_unit_test(test_client_sends_signed_request_to_primary_of_view_zero),
		cmocka_unit_test(test_client_send_all_mode_broadcasts),
		cmocka_unit_test(test_client_send_checkers_mode_sends_to_f_plus_1),
		cmocka_unit_test(test_client_accepts_f_plus_1_matching_replies),
		cmocka_unit_test(test_client_f_liars_never_produce_acceptance),
		cmocka_unit_test(test_client_ignores_bad_signatures),
		cmocka_unit_test(test_client_ignores_reply_whose_sender_is_not_from),
		cmocka_unit_test(test_client_duplicate_replies_count_once),
		cmocka_unit_test(test_client_ignores_unknown_requests_other_clients_and_garbage),
		cmocka_unit_test(test_client_retransmits_to_all_after_timeout_with_backoff),
		cmocka_unit_test(test_client_readonly_needs_2f_plus_1),
		cmocka_unit_test(test_client_pbft_write_needs_2f_plus_1),
		cmocka_unit_test(test_client_readonly_falls_back_to_ordered_request),
		cmocka_unit_test(test_client_enforces_outstanding_max),
		cmocka_unit_test(test_client_rejects_oversized_op_and_bad_flags),
		cmocka_unit_test(test_client_follows_view_vouched_by_f_plus_1),
		cmocka_unit_test(test_client_new_rejects_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
