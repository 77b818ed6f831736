#include "bft/engine.h"

#include <stdlib.h>
#include <string.h>

/* Grows a vector of elem-sized items to hold one more; 0 or -1. */
static int grow(void **items, size_t *cap, size_t count, size_t elem)
{
	size_t ncap;
	void *p;

	if (count < *cap)
		return 0;
	ncap = *cap == 0 ? 16 : *cap * 2;
	p = realloc(*items, ncap * elem);
	if (p == NULL)
		return -1;
	*items = p;
	*cap = ncap;
	return 0;
}

void bft_out_reset(struct bft_out *out)
{
	for (size_t i = 0; i < out->nrecords; i++)
		free(out->records[i].bytes);
	for (size_t i = 0; i < out->nmsgs; i++)
		free(out->msgs[i].bytes);
	out->nrecords = 0;
	out->nmsgs = 0;
	out->ncommitted = 0;
	out->timer_ms = 0;
}

void bft_out_free(struct bft_out *out)
{
	bft_out_reset(out);
	free(out->records);
	free(out->msgs);
	free(out->committed);
	memset(out, 0, sizeof(*out));
}

enum bft_err bft_out_msg(struct bft_out *out, enum bft_dest dest, uint64_t to,
			 enum bft_msg_type type, uint8_t *bytes, size_t len)
{
	if (grow((void **)&out->msgs, &out->msgs_cap, out->nmsgs, sizeof(*out->msgs)) != 0) {
		free(bytes);
		return BFT_ENOMEM;
	}
	out->msgs[out->nmsgs++] = (struct bft_out_msg){
		.dest = dest, .to = to, .type = type, .bytes = bytes, .len = len};
	return BFT_OK;
}

enum bft_err bft_out_msg_copy(struct bft_out *out, enum bft_dest dest, uint64_t to,
			      enum bft_msg_type type, const uint8_t *bytes, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);

	if (c == NULL)
		return BFT_ENOMEM;
	if (len > 0)
		memcpy(c, bytes, len);
	return bft_out_msg(out, dest, to, type, c, len);
}

enum bft_err bft_out_record(struct bft_out *out, enum bft_rec_kind kind, bft_seq seq,
			    uint8_t *bytes, size_t len)
{
	if (grow((void **)&out->records, &out->records_cap, out->nrecords,
		 sizeof(*out->records)) != 0) {
		free(bytes);
		return BFT_ENOMEM;
	}
	out->records[out->nrecords++] = (struct bft_record){
		.kind = kind, .seq = seq, .bytes = bytes, .len = len};
	return BFT_OK;
}

enum bft_err bft_out_committed(struct bft_out *out, bft_seq seq, uint32_t nrequests,
			       uint64_t time_ms, const uint8_t digest[CR_DIGEST_BYTES])
{
	struct bft_committed *c;

	if (grow((void **)&out->committed, &out->committed_cap, out->ncommitted,
		 sizeof(*out->committed)) != 0)
		return BFT_ENOMEM;
	c = &out->committed[out->ncommitted++];
	c->seq = seq;
	c->nrequests = nrequests;
	c->time_ms = time_ms;
	memcpy(c->digest, digest, CR_DIGEST_BYTES);
	return BFT_OK;
}

void bft_out_timer(struct bft_out *out, uint64_t deadline_ms)
{
	if (deadline_ms != 0 && (out->timer_ms == 0 || deadline_ms < out->timer_ms))
		out->timer_ms = deadline_ms;
}
