/*
 * test_wire.h: helpers shared by the wire codec's suites (test_wire.c, test_wire_prop.c).
 * Include after <cmocka.h>. Everything here is static inline so that a suite using only part of
 * it builds without unused-function warnings.
 */
#ifndef TEST_WIRE_H
#define TEST_WIRE_H

#include <string.h>

#include "bft/wire.h"

/* The expansion of X(name, type) for every message type: one test per type, named after it. */
#define WT_EACH_TYPE(X)                                                                            \
	X(request, BFT_MSG_REQUEST)                                                                \
	X(reply, BFT_MSG_REPLY)                                                                    \
	X(checkpoint, BFT_MSG_CHECKPOINT)                                                          \
	X(preprepare, BFT_MSG_PREPREPARE)                                                          \
	X(prepare, BFT_MSG_PREPARE)                                                                \
	X(commit, BFT_MSG_COMMIT)                                                                  \
	X(viewchange, BFT_MSG_VIEWCHANGE)                                                          \
	X(newview, BFT_MSG_NEWVIEW)                                                                \
	X(fetch, BFT_MSG_FETCH)                                                                    \
	X(state, BFT_MSG_STATE)                                                                    \
	X(hb_val, BFT_MSG_HB_VAL)                                                                  \
	X(hb_echo, BFT_MSG_HB_ECHO)                                                                \
	X(hb_ready, BFT_MSG_HB_READY)                                                              \
	X(hb_bval, BFT_MSG_HB_BVAL)                                                                \
	X(hb_aux, BFT_MSG_HB_AUX)                                                                  \
	X(hb_conf, BFT_MSG_HB_CONF)                                                                \
	X(hb_term, BFT_MSG_HB_TERM)                                                                \
	X(hb_coin, BFT_MSG_HB_COIN)                                                                \
	X(hb_dec, BFT_MSG_HB_DEC)                                                                  \
	X(hb_check, BFT_MSG_HB_CHECK)

/* Every message type, in the order above. */
#define WT_TYPE_VALUE(name, type) type,
static const enum bft_msg_type wt_all_types[] = {WT_EACH_TYPE(WT_TYPE_VALUE)};
#undef WT_TYPE_VALUE
#define WT_NTYPES (sizeof(wt_all_types) / sizeof(wt_all_types[0]))

/* Asserts that two byte strings hold the same bytes (their addresses may differ: a decoded one
 * points into the frame, the original into the test's storage). */
static inline void wt_assert_bytes_equal(const struct bft_bytes *a, const struct bft_bytes *b)
{
	assert_int_equal(a->len, b->len);
	if (a->len > 0)
		assert_memory_equal(a->p, b->p, a->len);
}

static inline void wt_assert_bytes_list_equal(const struct bft_bytes *a, uint32_t na,
					      const struct bft_bytes *b, uint32_t nb)
{
	assert_int_equal(na, nb);
	for (uint32_t i = 0; i < na; i++)
		wt_assert_bytes_equal(&a[i], &b[i]);
}

/* Asserts that two messages carry the same envelope fields and payload, field by field. The
 * signature is compared only when with_sig is set (a message signed at encoding time carries a
 * signature its original struct never held). */
static inline void wt_assert_msg_equal(const struct bft_msg *a, const struct bft_msg *b,
				       int with_sig)
{
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->sender, b->sender);
	if (with_sig)
		assert_memory_equal(a->sig, b->sig, CR_SIG_BYTES);
	switch (a->type) {
	case BFT_MSG_REQUEST:
		assert_int_equal(a->u.request.reqid, b->u.request.reqid);
		assert_int_equal(a->u.request.flags, b->u.request.flags);
		assert_int_equal(a->u.request.timestamp_ms, b->u.request.timestamp_ms);
		wt_assert_bytes_equal(&a->u.request.op, &b->u.request.op);
		break;
	case BFT_MSG_REPLY:
		assert_int_equal(a->u.reply.view, b->u.reply.view);
		assert_int_equal(a->u.reply.client, b->u.reply.client);
		assert_int_equal(a->u.reply.reqid, b->u.reply.reqid);
		wt_assert_bytes_equal(&a->u.reply.result, &b->u.reply.result);
		break;
	case BFT_MSG_CHECKPOINT:
		assert_int_equal(a->u.checkpoint.seq, b->u.checkpoint.seq);
		assert_memory_equal(a->u.checkpoint.digest, b->u.checkpoint.digest, CR_DIGEST_BYTES);
		break;
	case BFT_MSG_PREPREPARE:
		assert_int_equal(a->u.preprepare.view, b->u.preprepare.view);
		assert_int_equal(a->u.preprepare.seq, b->u.preprepare.seq);
		assert_memory_equal(a->u.preprepare.digest, b->u.preprepare.digest, CR_DIGEST_BYTES);
		assert_int_equal(a->u.preprepare.time_ms, b->u.preprepare.time_ms);
		wt_assert_bytes_list_equal(a->u.preprepare.requests, a->u.preprepare.nrequests,
					   b->u.preprepare.requests, b->u.preprepare.nrequests);
		break;
	case BFT_MSG_PREPARE:
	case BFT_MSG_COMMIT:
		assert_int_equal(a->u.phase.view, b->u.phase.view);
		assert_int_equal(a->u.phase.seq, b->u.phase.seq);
		assert_memory_equal(a->u.phase.digest, b->u.phase.digest, CR_DIGEST_BYTES);
		break;
	case BFT_MSG_VIEWCHANGE: {
		const struct bft_viewchange *x = &a->u.viewchange, *y = &b->u.viewchange;

		assert_int_equal(x->view, y->view);
		assert_int_equal(x->stable_seq, y->stable_seq);
		assert_memory_equal(x->stable_digest, y->stable_digest, CR_DIGEST_BYTES);
		wt_assert_bytes_list_equal(x->proof, x->nproof, y->proof, y->nproof);
		assert_int_equal(x->nprepared, y->nprepared);
		for (uint32_t i = 0; i < x->nprepared; i++) {
			wt_assert_bytes_equal(&x->prepared[i].preprepare, &y->prepared[i].preprepare);
			wt_assert_bytes_list_equal(x->prepared[i].prepares, x->prepared[i].nprepares,
						   y->prepared[i].prepares, y->prepared[i].nprepares);
		}
		break;
	}
	case BFT_MSG_NEWVIEW: {
		const struct bft_newview *x = &a->u.newview, *y = &b->u.newview;

		assert_int_equal(x->view, y->view);
		wt_assert_bytes_list_equal(x->viewchanges, x->nviewchanges, y->viewchanges,
					   y->nviewchanges);
		assert_int_equal(x->no, y->no);
		for (uint32_t i = 0; i < x->no; i++) {
			assert_int_equal(x->o[i].seq, y->o[i].seq);
			assert_memory_equal(x->o[i].digest, y->o[i].digest, CR_DIGEST_BYTES);
		}
		break;
	}
	case BFT_MSG_FETCH:
		assert_int_equal(a->u.fetch.kind, b->u.fetch.kind);
		assert_int_equal(a->u.fetch.seq, b->u.fetch.seq);
		assert_int_equal(a->u.fetch.index, b->u.fetch.index);
		break;
	case BFT_MSG_STATE:
		assert_int_equal(a->u.state.seq, b->u.state.seq);
		assert_int_equal(a->u.state.index, b->u.state.index);
		assert_int_equal(a->u.state.nchunks, b->u.state.nchunks);
		wt_assert_bytes_equal(&a->u.state.data, &b->u.state.data);
		wt_assert_bytes_list_equal(a->u.state.branch, a->u.state.nbranch, b->u.state.branch,
					   b->u.state.nbranch);
		break;
	case BFT_MSG_HB_VAL:
	case BFT_MSG_HB_ECHO: {
		const struct bft_hb_rbc *x = &a->u.hb_rbc, *y = &b->u.hb_rbc;

		assert_int_equal(x->epoch, y->epoch);
		assert_int_equal(x->proposer, y->proposer);
		assert_memory_equal(x->root, y->root, CR_DIGEST_BYTES);
		assert_int_equal(x->index, y->index);
		wt_assert_bytes_equal(&x->shard, &y->shard);
		assert_int_equal(x->nbranch, y->nbranch);
		for (uint32_t i = 0; i < x->nbranch; i++)
			assert_memory_equal(x->branch[i], y->branch[i], CR_DIGEST_BYTES);
		break;
	}
	case BFT_MSG_HB_READY:
		assert_int_equal(a->u.hb_ready.epoch, b->u.hb_ready.epoch);
		assert_int_equal(a->u.hb_ready.proposer, b->u.hb_ready.proposer);
		assert_memory_equal(a->u.hb_ready.root, b->u.hb_ready.root, CR_DIGEST_BYTES);
		break;
	case BFT_MSG_HB_BVAL:
	case BFT_MSG_HB_AUX:
	case BFT_MSG_HB_CONF:
	case BFT_MSG_HB_TERM:
		assert_int_equal(a->u.hb_aba.epoch, b->u.hb_aba.epoch);
		assert_int_equal(a->u.hb_aba.instance, b->u.hb_aba.instance);
		assert_int_equal(a->u.hb_aba.round, b->u.hb_aba.round);
		assert_int_equal(a->u.hb_aba.value, b->u.hb_aba.value);
		break;
	case BFT_MSG_HB_COIN:
		assert_int_equal(a->u.hb_coin.epoch, b->u.hb_coin.epoch);
		assert_int_equal(a->u.hb_coin.instance, b->u.hb_coin.instance);
		assert_int_equal(a->u.hb_coin.round, b->u.hb_coin.round);
		assert_memory_equal(a->u.hb_coin.share, b->u.hb_coin.share, BFT_HB_SHARE_BYTES);
		break;
	case BFT_MSG_HB_DEC:
		assert_int_equal(a->u.hb_dec.epoch, b->u.hb_dec.epoch);
		assert_int_equal(a->u.hb_dec.proposer, b->u.hb_dec.proposer);
		assert_memory_equal(a->u.hb_dec.share, b->u.hb_dec.share, BFT_HB_SHARE_BYTES);
		break;
	case BFT_MSG_HB_CHECK:
		assert_int_equal(a->u.hb_check.epoch, b->u.hb_check.epoch);
		assert_memory_equal(a->u.hb_check.list, b->u.hb_check.list, CR_DIGEST_BYTES);
		assert_int_equal(a->u.hb_check.count, b->u.hb_check.count);
		assert_int_equal(a->u.hb_check.known.len, b->u.hb_check.known.len);
		assert_int_equal(a->u.hb_check.valid.len, b->u.hb_check.valid.len);
		assert_memory_equal(a->u.hb_check.known.p, b->u.hb_check.known.p,
				    a->u.hb_check.known.len);
		assert_memory_equal(a->u.hb_check.valid.p, b->u.hb_check.valid.p,
				    a->u.hb_check.valid.len);
		break;
	default:
		fail_msg("unexpected message type %d", (int)a->type);
	}
}

/* Asserts that every byte of *m is zero (what wire_decode leaves behind on an error). */
static inline void wt_assert_msg_zeroed(const struct bft_msg *m)
{
	static const struct bft_msg zero;

	assert_memory_equal(m, &zero, sizeof(zero));
}

/* Asserts that decoding frame[0..len) fails with want and leaves *out zeroed. */
static inline void wt_assert_decode_fails(const struct wire_limits *l, const uint8_t *frame,
					  size_t len, enum bft_err want)
{
	struct bft_msg m;
	enum bft_err got;

	memset(&m, 0xa5, sizeof(m));
	got = wire_decode(l, frame, len, &m);
	if (got != want)
		fail_msg("decode: want %s, got %s", bft_err_name(want), bft_err_name(got));
	wt_assert_msg_zeroed(&m);
}

#endif
