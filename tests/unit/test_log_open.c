/*
 * Unit tests for open clients in the shared log (bft/log.h "Open clients"): registration as an
 * ordered request, the ids it assigns, what a malformed or forged registration gets, the limit
 * on slots, requests from slots not registered yet (decided at execution, the same way on every
 * replica), and the registered keys travelling in the checkpointed state; and the batch check's
 * refusal of a request carried twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bft/log.h"
#include "bft/wire.h"

#define N 4
#define N_STATIC 2
#define K 2 /* checkpoint interval: the second position is a checkpoint */

struct fixture {
	struct cr_identity replica[N];
	uint8_t replica_pks[N][CR_PK_BYTES];
	struct cr_identity listed[N_STATIC];
	uint8_t listed_pks[N_STATIC][CR_PK_BYTES];
	struct cr_identity stranger[3];
	struct bft_log *lg[N];
	uint32_t open;
	uint64_t executed[N]; /* app calls per replica */
	struct bft_out out;
};

static struct fixture *the_fx;

/* The application: echoes the client id and op; its state is the count of executions. */
static void app_execute(void *ctx, bft_client_id client, const struct bft_bytes *op,
			uint64_t time_ms, struct wire_buf *result)
{
	uint64_t *count = ctx;
	uint8_t c = (uint8_t)client;

	(void)time_ms;
	(*count)++;
	assert_int_equal(wire_buf_append(result, &c, 1), BFT_OK);
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

static struct bft_log *log_new(struct fixture *fx, uint32_t self)
{
	struct bft_log_config c;
	struct bft_log *lg;

	bft_log_config_default(&c);
	c.n = N;
	c.self = self;
	c.id = &fx->replica[self];
	c.replica_pks = (const uint8_t(*)[CR_PK_BYTES])fx->replica_pks;
	c.client_pks = (const uint8_t(*)[CR_PK_BYTES])fx->listed_pks;
	c.open_clients = fx->open;
	wire_limits_default(&c.limits, N, N_STATIC + (fx->open ? fx->open + 1 : 0));
	c.app = (struct bft_app){.ctx = &fx->executed[self], .execute = app_execute,
				 .snapshot = app_snapshot, .restore = app_restore};
	c.checkpoint_interval = K;
	c.window = 4 * K;
	assert_int_equal(bft_log_new(&lg, &c), BFT_OK);
	return lg;
}

static int setup_open(void **state, uint32_t open)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	assert_int_equal(cr_init(), 0);
	fx->open = open;
	for (uint8_t i = 0; i < N; i++) {
		seed_id(&fx->replica[i], 1, i);
		memcpy(fx->replica_pks[i], fx->replica[i].pk, CR_PK_BYTES);
	}
	for (uint8_t i = 0; i < N_STATIC; i++) {
		seed_id(&fx->listed[i], 2, i);
		memcpy(fx->listed_pks[i], fx->listed[i].pk, CR_PK_BYTES);
	}
	for (uint8_t i = 0; i < 3; i++)
		seed_id(&fx->stranger[i], 3, i);
	for (uint32_t i = 0; i < N; i++)
		fx->lg[i] = log_new(fx, i);
	the_fx = fx;
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	return setup_open(state, 2);
}

static int setup_one_slot(void **state)
{
	return setup_open(state, 1);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	for (uint32_t i = 0; i < N; i++) {
		bft_log_free(fx->lg[i]);
		cr_identity_free(&fx->replica[i]);
	}
	for (uint32_t i = 0; i < N_STATIC; i++)
		cr_identity_free(&fx->listed[i]);
	for (uint32_t i = 0; i < 3; i++)
		cr_identity_free(&fx->stranger[i]);
	bft_out_free(&fx->out);
	free(fx);
	return 0;
}

/* A signed REQUEST envelope from sender, signed by key. */
static struct bft_bytes request(const struct cr_identity *key, bft_client_id sender,
				uint64_t reqid, const void *op, size_t oplen)
{
	struct bft_msg m = {.version = BFT_WIRE_VERSION, .type = BFT_MSG_REQUEST};
	struct wire_buf b = {0};

	m.sender = sender;
	m.u.request.reqid = reqid;
	m.u.request.op = (struct bft_bytes){.p = op, .len = (uint32_t)oplen};
	assert_int_equal(wire_encode(&m, key, &b), BFT_OK);
	return (struct bft_bytes){.p = b.p, .len = (uint32_t)b.len};
}

static bft_client_id registrar(void)
{
	return N_STATIC + the_fx->open;
}

static struct bft_bytes registration(const struct cr_identity *key)
{
	return request(key, registrar(), bft_register_reqid(key->pk), key->pk, CR_PK_BYTES);
}

static enum bft_err submit(struct fixture *fx, uint32_t r, struct bft_bytes env)
{
	struct bft_msg m;
	enum bft_err e;

	struct wire_limits l;

	wire_limits_default(&l, N, N_STATIC + (fx->open ? fx->open + 1 : 0));
	assert_int_equal(wire_decode(&l, env.p, env.len, &m), BFT_OK);
	e = bft_log_submit(fx->lg[r], &m, 1, &fx->out);
	wire_msg_free(&m);
	return e;
}

/* Runs batch reqs at the next position of every replica; out keeps replica 0's output. */
static void execute_all(struct fixture *fx, const struct bft_bytes *reqs, uint32_t n)
{
	struct bft_out scratch = {0};

	bft_out_reset(&fx->out);
	for (uint32_t r = 0; r < N; r++) {
		bft_seq seq = bft_log_last_executed(fx->lg[r]) + 1;
		assert_int_equal(bft_log_check_batch(fx->lg[r], reqs, n), BFT_OK);
		assert_int_equal(bft_log_execute(fx->lg[r], seq, 0, 1000 * seq, reqs, n,
						 r == 0 ? &fx->out : &scratch),
				 BFT_OK);
		bft_out_reset(&scratch);
	}
	bft_out_free(&scratch);
}

/* The REPLY in out to destination `to`, decoded into *m (caller frees); false when none. */
static bool find_reply(struct fixture *fx, uint64_t to, struct bft_msg *m)
{
	struct wire_limits l;

	wire_limits_default(&l, N, N_STATIC + (fx->open ? fx->open + 1 : 0));
	for (size_t i = 0; i < fx->out.nmsgs; i++) {
		const struct bft_out_msg *om = &fx->out.msgs[i];
		if (om->type != BFT_MSG_REPLY || om->dest != BFT_TO_CLIENT || om->to != to)
			continue;
		assert_int_equal(wire_decode(&l, om->bytes, om->len, m), BFT_OK);
		return true;
	}
	return false;
}

/* The registration result in out for key: status and id. */
static void registration_result(struct fixture *fx, const struct cr_identity *key,
				uint8_t *status, uint64_t *id)
{
	struct bft_msg m;
	uint64_t reqid = bft_register_reqid(key->pk);

	assert_true(find_reply(fx, bft_register_route(reqid), &m));
	assert_int_equal(m.u.reply.client, registrar());
	assert_int_equal(m.u.reply.reqid, reqid);
	assert_int_equal(m.u.reply.result.len, BFT_REGISTER_RESULT_BYTES);
	*status = m.u.reply.result.p[0];
	*id = 0;
	for (int i = 8; i >= 1; i--)
		*id = (*id << 8) | m.u.reply.result.p[i];
	wire_msg_free(&m);
}

static void free_bytes(struct bft_bytes *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free((void *)(uintptr_t)b[i].p);
}

static void test_registration_assigns_ids_in_log_order(void **state)
{
	struct fixture *fx = *state;
	struct bft_bytes reg[2] = {registration(&fx->stranger[0]), registration(&fx->stranger[1])};
	struct bft_msg m;
	uint8_t status;
	uint64_t id;

	assert_int_equal(bft_log_registrar(fx->lg[0]), registrar());
	assert_int_equal(submit(fx, 0, reg[0]), BFT_OK);
	assert_int_equal(submit(fx, 0, reg[0]), BFT_EDUP); /* a retransmission while queued */
	execute_all(fx, reg, 2);
	registration_result(fx, &fx->stranger[0], &status, &id);
	assert_int_equal(status, BFT_REGISTER_OK);
	assert_int_equal(id, N_STATIC);
	registration_result(fx, &fx->stranger[1], &status, &id);
	assert_int_equal(status, BFT_REGISTER_OK);
	assert_int_equal(id, N_STATIC + 1);
	assert_int_equal(bft_log_pending(fx->lg[0]), 0);
	for (uint32_t r = 0; r < N; r++) {
		assert_int_equal(bft_log_open_registered(fx->lg[r]), 2);
		assert_int_equal(fx->executed[r], 0); /* registration never reaches the app */
	}

	/* The same key again: answered at once from the state, with the same id. */
	bft_out_reset(&fx->out);
	assert_int_equal(submit(fx, 2, reg[1]), BFT_EDUP);
	registration_result(fx, &fx->stranger[1], &status, &id);
	assert_int_equal(id, N_STATIC + 1);

	/* The new client's requests now go through like a listed client's. */
	struct bft_bytes req = request(&fx->stranger[0], N_STATIC, 7, "hello", 5);
	bft_out_reset(&fx->out);
	assert_int_equal(submit(fx, 1, req), BFT_OK);
	execute_all(fx, &req, 1);
	assert_true(find_reply(fx, N_STATIC, &m));
	assert_int_equal(m.u.reply.reqid, 7);
	assert_int_equal(m.u.reply.result.len, 6);
	assert_int_equal(m.u.reply.result.p[0], N_STATIC);
	wire_msg_free(&m);
	for (uint32_t r = 0; r < N; r++)
		assert_int_equal(fx->executed[r], 1);
	free_bytes(reg, 2);
	free_bytes(&req, 1);
}

static void test_malformed_and_forged_registrations_are_refused(void **state)
{
	struct fixture *fx = *state;
	const struct cr_identity *k = &fx->stranger[0];
	struct bft_bytes bad_reqid = request(k, registrar(), bft_register_reqid(k->pk) + 1, k->pk,
					     CR_PK_BYTES);
	struct bft_bytes short_op = request(k, registrar(), bft_register_reqid(k->pk), k->pk, 31);
	/* Registers stranger 0's key but is signed by stranger 1: no proof of possession. */
	struct bft_bytes forged = request(&fx->stranger[1], registrar(), bft_register_reqid(k->pk),
					  k->pk, CR_PK_BYTES);
	struct wire_limits l;
	struct bft_msg m;

	assert_int_equal(submit(fx, 0, bad_reqid), BFT_EMALFORMED);
	assert_int_equal(submit(fx, 0, short_op), BFT_EMALFORMED);
	assert_int_equal(bft_log_check_batch(fx->lg[0], &bad_reqid, 1), BFT_EMALFORMED);
	assert_int_equal(bft_log_check_batch(fx->lg[0], &short_op, 1), BFT_EMALFORMED);
	assert_int_equal(bft_log_check_batch(fx->lg[1], &forged, 1), BFT_EBADSIG);
	/* The key a registration must be signed by is the one it registers. */
	wire_limits_default(&l, N, N_STATIC + fx->open + 1);
	assert_int_equal(wire_decode(&l, forged.p, forged.len, &m), BFT_OK);
	assert_memory_equal(bft_log_request_pk(fx->lg[0], &m), k->pk, CR_PK_BYTES);
	wire_msg_free(&m);
	assert_int_equal(bft_log_pending(fx->lg[0]), 0);
	assert_int_equal(bft_log_open_registered(fx->lg[0]), 0);
	free_bytes(&bad_reqid, 1);
	free_bytes(&short_op, 1);
	free_bytes(&forged, 1);
}

static void test_unregistered_slot_is_decided_at_execution(void **state)
{
	struct fixture *fx = *state;
	/* Stranger 0 guesses the id it will get and signs a request for it in advance. */
	struct bft_bytes early = request(&fx->stranger[0], N_STATIC, 1, "x", 1);
	struct bft_bytes reg = registration(&fx->stranger[0]);
	struct bft_bytes after = request(&fx->stranger[0], N_STATIC, 2, "y", 1);
	/* Someone else signs for the slot stranger 0 will hold. */
	struct bft_bytes imposter = request(&fx->stranger[1], N_STATIC, 3, "z", 1);
	struct bft_bytes batch[3] = {reg, after, imposter};
	struct bft_msg m;

	/* A replica refuses it from a client: the slot has no key yet. */
	assert_int_equal(submit(fx, 0, early), BFT_ESENDER);
	/* In a proposed batch it cannot be checked yet, so it passes validation everywhere, and
	 * execution, which sees the same registrations on every replica, skips it. */
	execute_all(fx, &early, 1);
	assert_false(find_reply(fx, N_STATIC, &m));
	for (uint32_t r = 0; r < N; r++)
		assert_int_equal(fx->executed[r], 0);

	/* Registered earlier in the same batch: the request after it executes, the imposter's
	 * (a bad signature for the key now registered) is skipped by every replica. */
	execute_all(fx, batch, 3);
	assert_true(find_reply(fx, N_STATIC, &m));
	assert_int_equal(m.u.reply.reqid, 2);
	wire_msg_free(&m);
	for (uint32_t r = 0; r < N; r++)
		assert_int_equal(fx->executed[r], 1);
	/* Now that the slot has its key, a forged request is refused at validation already. */
	assert_int_equal(bft_log_check_batch(fx->lg[0], &imposter, 1), BFT_EBADSIG);
	free_bytes(&early, 1);
	free_bytes(batch, 3);
}

static void test_slots_run_out(void **state)
{
	struct fixture *fx = *state;
	struct bft_bytes reg[2] = {registration(&fx->stranger[0]), registration(&fx->stranger[1])};
	struct bft_bytes third = registration(&fx->stranger[2]);
	uint8_t status;
	uint64_t id;

	execute_all(fx, reg, 2); /* one slot: the first gets it, the second is told there is none */
	registration_result(fx, &fx->stranger[0], &status, &id);
	assert_int_equal(status, BFT_REGISTER_OK);
	assert_int_equal(id, N_STATIC);
	registration_result(fx, &fx->stranger[1], &status, &id);
	assert_int_equal(status, BFT_REGISTER_FULL);
	assert_int_equal(bft_log_open_registered(fx->lg[3]), 1);
	/* Later registrations are answered from the state without being ordered. */
	bft_out_reset(&fx->out);
	assert_int_equal(submit(fx, 0, third), BFT_EDUP);
	registration_result(fx, &fx->stranger[2], &status, &id);
	assert_int_equal(status, BFT_REGISTER_FULL);
	assert_int_equal(bft_log_pending(fx->lg[0]), 0);
	free_bytes(reg, 2);
	free_bytes(&third, 1);
}

/* Replica 0's stable checkpoint record after the batch at position K, made stable by feeding
 * it every replica's CHECKPOINT. */
static uint8_t *stable_record(struct fixture *fx, size_t *len)
{
	struct bft_out outs[N] = {{0}};
	struct wire_limits l;
	uint8_t *rec = NULL;

	wire_limits_default(&l, N, N_STATIC + fx->open + 1);
	for (uint32_t r = 0; r < N; r++) {
		bft_seq seq = bft_log_last_executed(fx->lg[r]) + 1;
		assert_int_equal(seq, K);
		assert_int_equal(bft_log_execute(fx->lg[r], seq, 0, 5, NULL, 0, &outs[r]), BFT_OK);
	}
	for (uint32_t r = 1; r < N; r++)
		for (size_t i = 0; i < outs[r].nmsgs; i++) {
			struct bft_msg m;
			if (outs[r].msgs[i].type != BFT_MSG_CHECKPOINT)
				continue;
			assert_int_equal(wire_decode(&l, outs[r].msgs[i].bytes, outs[r].msgs[i].len,
						     &m),
					 BFT_OK);
			enum bft_err e = bft_log_on_checkpoint(fx->lg[0], &m, &outs[0]);
			/* Once 2f+1 agree, a later one is below the stable checkpoint. */
			assert_true(e == BFT_OK || e == BFT_ESTALE);
			wire_msg_free(&m);
		}
	for (size_t i = 0; i < outs[0].nrecords; i++)
		if (outs[0].records[i].kind == BFT_REC_CHECKPOINT) {
			*len = outs[0].records[i].len;
			rec = malloc(*len);
			assert_non_null(rec);
			memcpy(rec, outs[0].records[i].bytes, *len);
		}
	for (uint32_t r = 0; r < N; r++)
		bft_out_free(&outs[r]);
	assert_non_null(rec);
	return rec;
}

static void test_registrations_travel_in_the_checkpointed_state(void **state)
{
	struct fixture *fx = *state;
	struct bft_bytes reg = registration(&fx->stranger[1]);
	struct bft_bytes req = request(&fx->stranger[1], N_STATIC, 9, "q", 1);
	struct bft_log *fresh = log_new(fx, 0);
	struct bft_msg m;
	struct wire_limits l;
	uint8_t *rec;
	size_t len = 0;

	execute_all(fx, &reg, 1);
	rec = stable_record(fx, &len);
	wire_limits_default(&l, N, N_STATIC + fx->open + 1);
	assert_int_equal(wire_decode(&l, req.p, req.len, &m), BFT_OK);
	assert_null(bft_log_request_pk(fresh, &m));
	assert_int_equal(bft_log_restore_checkpoint(fresh, rec, len), BFT_OK);
	assert_int_equal(bft_log_open_registered(fresh), 1);
	assert_non_null(bft_log_request_pk(fresh, &m));
	assert_memory_equal(bft_log_request_pk(fresh, &m), fx->stranger[1].pk, CR_PK_BYTES);
	/* The restored log checks that client's signatures at validation again. */
	assert_int_equal(bft_log_check_batch(fresh, &req, 1), BFT_OK);
	wire_msg_free(&m);
	free(rec);
	bft_log_free(fresh);
	free_bytes(&reg, 1);
	free_bytes(&req, 1);
}

static void test_a_batch_may_not_carry_a_request_twice(void **state)
{
	struct fixture *fx = *state;
	struct bft_bytes a = request(&fx->listed[0], 0, 5, "a", 1);
	struct bft_bytes b = request(&fx->listed[1], 1, 5, "b", 1);
	struct bft_bytes a2 = request(&fx->listed[0], 0, 5, "other op, same id", 17);
	struct bft_bytes ok[2] = {a, b}, dup[3] = {a, b, a}, same_id[3] = {b, a, a2};

	assert_int_equal(bft_log_check_batch(fx->lg[0], ok, 2), BFT_OK);
	assert_int_equal(bft_log_check_batch(fx->lg[0], dup, 3), BFT_EDUP);
	assert_int_equal(bft_log_check_batch(fx->lg[0], same_id, 3), BFT_EDUP);
	free_bytes(ok, 2);
	free_bytes(&a2, 1);
}

static void test_closed_cluster_has_no_registrar(void **state)
{
	struct fixture *fx = *state;
	struct bft_log *closed;
	struct bft_log_config c;

	fx->open = 0;
	closed = log_new(fx, 0);
	assert_int_equal(bft_log_registrar(closed), UINT64_MAX);
	bft_log_free(closed);
	/* More slots than the id space leaves room for: refused. */
	bft_log_config_default(&c);
	c.n = N;
	c.id = &fx->replica[0];
	c.replica_pks = (const uint8_t(*)[CR_PK_BYTES])fx->replica_pks;
	c.client_pks = (const uint8_t(*)[CR_PK_BYTES])fx->listed_pks;
	c.app = (struct bft_app){.ctx = &fx->executed[0], .execute = app_execute,
				 .snapshot = app_snapshot, .restore = app_restore};
	wire_limits_default(&c.limits, N, 3);
	c.open_clients = 3;
	assert_int_equal(bft_log_new(&closed, &c), BFT_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registration_assigns_ids_in_log_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_and_forged_registrations_are_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unregistered_slot_is_decided_at_execution,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_slots_run_out, setup_one_slot, teardown),
		cmocka_unit_test_setup_teardown(test_registrations_travel_in_the_checkpointed_state,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_batch_may_not_carry_a_request_twice, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_closed_cluster_has_no_registrar, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
