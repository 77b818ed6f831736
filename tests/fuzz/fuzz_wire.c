/*
 * fuzz_wire.c: libFuzzer target for the envelope decoder (`make fuzz`).
 *
 * Every input is decoded with the default limits. A refused input must leave the message zeroed;
 * an accepted one must re-encode (with its own signature, id NULL) to exactly the input bytes,
 * since strict canonical decoding leaves each message one encoding, and its borrowed fields must
 * lie inside the input. Any difference aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bft/wire.h"

/* A broken invariant: abort, which libFuzzer reports as a crash with the input that caused it. */
static void fuzz_fail(void) __attribute__((noreturn));
static void fuzz_fail(void)
{
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A cluster of 7 replicas and 2^20 clients: small enough that the sender check rejects many
 * inputs, large enough that senders of one, two and three bytes are all accepted. */
#define FUZZ_REPLICAS 7u
#define FUZZ_CLIENTS (1ull << 20)

static int inside(const struct bft_bytes *b, const uint8_t *data, size_t size)
{
	/* Addresses as integers: comparing pointers into different objects is undefined. */
	uintptr_t p = (uintptr_t)b->p, lo = (uintptr_t)data;

	return b->len == 0 || (p >= lo && p - lo <= size && b->len <= size - (p - lo));
}

static void check_list(const struct bft_bytes *items, uint32_t n, const uint8_t *data, size_t size)
{
	for (uint32_t i = 0; i < n; i++)
		if (!inside(&items[i], data, size))
			fuzz_fail();
}

/* Every byte string of an accepted message borrows from the input. */
static void check_borrowed(const struct bft_msg *m, const uint8_t *data, size_t size)
{
	if (!inside(&m->frame, data, size) || !inside(&m->signed_part, data, size))
		fuzz_fail();
	switch (m->type) {
	case BFT_MSG_REQUEST:
		check_list(&m->u.request.op, 1, data, size);
		break;
	case BFT_MSG_REPLY:
		check_list(&m->u.reply.result, 1, data, size);
		break;
	case BFT_MSG_PREPREPARE:
		check_list(m->u.preprepare.requests, m->u.preprepare.nrequests, data, size);
		break;
	case BFT_MSG_VIEWCHANGE:
		check_list(m->u.viewchange.proof, m->u.viewchange.nproof, data, size);
		for (uint32_t i = 0; i < m->u.viewchange.nprepared; i++) {
			const struct bft_pcert *pc = &m->u.viewchange.prepared[i];

			check_list(&pc->preprepare, 1, data, size);
			check_list(pc->prepares, pc->nprepares, data, size);
		}
		break;
	case BFT_MSG_NEWVIEW:
		check_list(m->u.newview.viewchanges, m->u.newview.nviewchanges, data, size);
		break;
	case BFT_MSG_HB_VAL:
	case BFT_MSG_HB_ECHO:
		check_list(&m->u.hb_rbc.shard, 1, data, size);
		if (m->u.hb_rbc.nbranch > BFT_HB_BRANCH_MAX)
			fuzz_fail();
		break;
	case BFT_MSG_STATE:
		check_list(&m->u.state.data, 1, data, size);
		check_list(m->u.state.branch, m->u.state.nbranch, data, size);
		for (uint32_t i = 0; i < m->u.state.nbranch; i++)
			if (m->u.state.branch[i].len != CR_DIGEST_BYTES)
				fuzz_fail();
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct bft_msg zero;
	struct wire_limits l;
	struct bft_msg m;
	struct wire_buf again = {0};

	wire_limits_default(&l, FUZZ_REPLICAS, FUZZ_CLIENTS);
	if (wire_decode(&l, data, size, &m) != BFT_OK) {
		if (memcmp(&m, &zero, sizeof(m)) != 0)
			fuzz_fail();
		return 0;
	}
	check_borrowed(&m, data, size);
	if (wire_encode(&m, NULL, &again) != BFT_OK)
		fuzz_fail();
	if (again.len != size || memcmp(again.p, data, size) != 0)
		fuzz_fail();
	wire_buf_free(&again);
	wire_msg_free(&m);
	return 0;
}
