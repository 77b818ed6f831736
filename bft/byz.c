#include "bft/byz.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	uint32_t mode;
	const char *name;
	const char *help;
} modes[] = {
	{BFT_BYZ_SILENT, "silent", "sends nothing at all (a crashed or mute replica)"},
	{BFT_BYZ_CRASH_AFTER, "crash-after", "behaves correctly for N messages, then falls silent"},
	{BFT_BYZ_EQUIVOCATE, "equivocate",
	 "as primary, sends different valid signed PRE-PREPAREs for one (view, seq) to different backups"},
	{BFT_BYZ_WRONG_DIGEST, "wrong-digest",
	 "corrupts the batch digest in its PRE-PREPAREs, PREPAREs and COMMITs"},
	{BFT_BYZ_SLOW_PRIMARY, "slow-primary",
	 "as primary, holds each PRE-PREPARE until just before the backups' view-change timeout"},
	{BFT_BYZ_VC_SPAM, "view-change-spam", "sends VIEW-CHANGEs for ever higher views, alone"},
	{BFT_BYZ_BOGUS_NEWVIEW, "bogus-new-view",
	 "as new primary, sends a NEW-VIEW that drops a prepared request"},
	{BFT_BYZ_REPLAY, "replay",
	 "re-sends old signed messages of earlier views, sequence numbers or epochs"},
	{BFT_BYZ_BAD_SIGNATURE, "bad-signature", "corrupts the signature of everything it sends"},
	{BFT_BYZ_WRONG_REPLY, "wrong-reply", "answers clients with wrong results"},
	{BFT_BYZ_BAD_CHECKPOINT, "bad-checkpoint", "signs checkpoints with a wrong state digest"},
	{BFT_BYZ_BAD_RBC_SHARDS, "bad-rbc-shards",
	 "Honey Badger: broadcasts erasure-coded shards that are not one codeword (valid branches)"},
	{BFT_BYZ_RBC_EQUIVOCATE, "rbc-equivocate",
	 "Honey Badger: sends VALs of two different roots, and ECHOs and READYs for other roots"},
	{BFT_BYZ_ABA_EQUIVOCATE, "aba-equivocate",
	 "Honey Badger: sends BVAL and AUX with different values to different replicas"},
	{BFT_BYZ_BAD_COIN_SHARE, "bad-coin-share", "Honey Badger: sends invalid threshold coin shares"},
	{BFT_BYZ_BAD_DEC_SHARE, "bad-decryption-share",
	 "Honey Badger: sends invalid threshold decryption shares"},
	{BFT_BYZ_BAD_CIPHERTEXT, "bad-ciphertext",
	 "Honey Badger: proposes a ciphertext that fails the TDH2 validity check"},
	{BFT_BYZ_CENSOR, "censor",
	 "Honey Badger: never proposes the requests of even-numbered clients"},
	{BFT_BYZ_FLOOD, "flood",
	 "sends junk and oversized frames to its peers at a bounded rate (besides its own work)"},
	{BFT_BYZ_LYING_CHECKS, "lying-checks",
	 "Honey Badger: claims a verdict on every revealed request and inverts each one"},
};

uint32_t bft_byz_mode_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(modes[i].name, name) == 0)
			return modes[i].mode;
	return 0;
}

const char *bft_byz_mode_name(uint32_t mode)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (modes[i].mode == mode)
			return modes[i].name;
	return NULL;
}

const char *bft_byz_mode_help(uint32_t mode)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (modes[i].mode == mode)
			return modes[i].help;
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Shared transforms */

static uint8_t *dup_bytes(const uint8_t *p, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);

	if (d != NULL && len)
		memcpy(d, p, len);
	return d;
}

void bft_byz_wrong_replies(const struct wire_limits *limits, const struct cr_identity *id,
			   struct bft_out *out, size_t from)
{
	static const uint8_t lie[] = BFT_BYZ_LIE;

	for (size_t i = from; i < out->nmsgs; i++) {
		struct bft_out_msg *om = &out->msgs[i];
		struct wire_buf env = {0};
		struct bft_msg m;
		uint8_t *orig;

		if (om->type != BFT_MSG_REPLY || om->len == 0)
			continue;
		/* Decode a private copy: the re-encoding borrows from the decoded message. */
		orig = dup_bytes(om->bytes, om->len);
		if (orig == NULL)
			continue;
		if (wire_decode(limits, orig, om->len, &m) != BFT_OK) {
			free(orig);
			continue;
		}
		if (m.type == BFT_MSG_REPLY) {
			m.u.reply.result = (struct bft_bytes){.p = lie, .len = sizeof(lie) - 1};
			if (wire_encode(&m, id, &env) == BFT_OK) {
				free(om->bytes);
				om->bytes = env.p;
				om->len = env.len;
			} else {
				wire_buf_free(&env);
			}
		}
		wire_msg_free(&m);
		free(orig);
	}
}

void bft_byz_replay_init(struct bft_byz_replay *r, uint64_t seed)
{
	memset(r, 0, sizeof(*r));
	r->rng = seed | 1u;
}

void bft_byz_replay_free(struct bft_byz_replay *r)
{
	for (uint32_t i = 0; i < BFT_BYZ_REPLAY_KEEP; i++)
		free(r->frame[i]);
	memset(r->frame, 0, sizeof(r->frame));
}

static uint64_t replay_next(struct bft_byz_replay *r)
{
	/* xorshift64: the choices only need to be deterministic. */
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng;
}

void bft_byz_replay_step(struct bft_byz_replay *r, uint64_t now_ms, struct bft_out *out)
{
	size_t n0 = out->nmsgs, kept = 0;
	uint32_t slot;

	for (size_t i = 0; i < n0 && kept < 4; i++) {
		const struct bft_out_msg *om = &out->msgs[i];
		uint8_t *c;

		if (om->dest == BFT_TO_CLIENT || om->len == 0)
			continue;
		c = dup_bytes(om->bytes, om->len);
		if (c == NULL)
			return;
		slot = (uint32_t)(replay_next(r) % BFT_BYZ_REPLAY_KEEP);
		free(r->frame[slot]);
		r->frame[slot] = c;
		r->len[slot] = (uint32_t)om->len;
		r->type[slot] = om->type;
		r->dest[slot] = om->dest;
		r->to[slot] = om->to;
		kept++;
	}
	if (r->replayed != 0 && now_ms < r->last_ms + BFT_BYZ_REPLAY_PERIOD_MS)
		return;
	slot = (uint32_t)(replay_next(r) % BFT_BYZ_REPLAY_KEEP);
	if (r->frame[slot] == NULL)
		return;
	{
		uint8_t *c = dup_bytes(r->frame[slot], r->len[slot]);

		if (c == NULL)
			return;
		if (bft_out_msg(out, r->dest[slot], r->to[slot], r->type[slot], c, r->len[slot]) !=
		    BFT_OK)
			return; /* out of memory: bft_out_msg freed the copy */
	}
	r->last_ms = now_ms;
	r->replayed++;
}

void bft_byz_finish(const struct bft_byz *bz, uint64_t *sent, struct bft_out *out)
{
	size_t k = 0;

	if (bz->modes & BFT_BYZ_BAD_SIGNATURE)
		for (size_t i = 0; i < out->nmsgs; i++)
			if (out->msgs[i].len != 0)
				out->msgs[i].bytes[out->msgs[i].len - 1] ^= 0x01;
	if (bz->modes & BFT_BYZ_CRASH_AFTER)
		for (size_t i = 0; i < out->nmsgs; i++)
			if ((*sent)++ >= bz->crash_after)
				out->msgs[i].len = 0;
	if (bz->modes & BFT_BYZ_SILENT)
		for (size_t i = 0; i < out->nmsgs; i++)
			out->msgs[i].len = 0;
	for (size_t i = 0; i < out->nmsgs; i++) {
		if (out->msgs[i].len == 0)
			free(out->msgs[i].bytes);
		else
			out->msgs[k++] = out->msgs[i];
	}
	out->nmsgs = k;
}
