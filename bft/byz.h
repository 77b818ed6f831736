/*
 * byz: Byzantine behaviours (DESIGN.md "Malicious-node modes"). A behaviour changes only what a
 * faulty replica sends; a correct replica has byz == NULL and runs none of this. The simulator
 * and `bftnode --byzantine` use the same definitions.
 */
#ifndef BFT_BYZ_H
#define BFT_BYZ_H

#include "bft/engine.h"

enum bft_byz_mode {
	BFT_BYZ_SILENT = 1u << 0,          /* sends nothing */
	BFT_BYZ_CRASH_AFTER = 1u << 1,     /* sends nothing after `crash_after` messages */
	BFT_BYZ_EQUIVOCATE = 1u << 2,      /* primary: different valid PRE-PREPAREs per backup */
	BFT_BYZ_WRONG_DIGEST = 1u << 3,    /* PRE-PREPARE / PREPARE / COMMIT digests corrupted */
	BFT_BYZ_SLOW_PRIMARY = 1u << 4,    /* primary delays each PRE-PREPARE to just under timeout */
	BFT_BYZ_VC_SPAM = 1u << 5,         /* VIEW-CHANGEs for ever higher views, alone */
	BFT_BYZ_BOGUS_NEWVIEW = 1u << 6,   /* NEW-VIEW drops a prepared request / invents a cert */
	BFT_BYZ_REPLAY = 1u << 7,          /* re-sends old messages */
	BFT_BYZ_BAD_SIGNATURE = 1u << 8,   /* corrupts signatures */
	BFT_BYZ_WRONG_REPLY = 1u << 9,     /* wrong results to clients */
	BFT_BYZ_BAD_CHECKPOINT = 1u << 10, /* checkpoints with a wrong state digest */
	/* Honey Badger (hb.h); silent and crash-after apply to it as well. */
	BFT_BYZ_BAD_RBC_SHARDS = 1u << 11, /* proposes shards that are not one codeword */
	BFT_BYZ_RBC_EQUIVOCATE = 1u << 12, /* VALs of two roots; ECHO/READY for other roots */
	BFT_BYZ_ABA_EQUIVOCATE = 1u << 13, /* BVAL/AUX with different values to different peers */
	BFT_BYZ_BAD_COIN_SHARE = 1u << 14, /* invalid threshold coin shares */
	BFT_BYZ_BAD_DEC_SHARE = 1u << 15,  /* invalid decryption shares */
	BFT_BYZ_BAD_CIPHERTEXT = 1u << 16, /* proposes a ciphertext that fails the TDH2 check */
	BFT_BYZ_CENSOR = 1u << 17,         /* never proposes the requests of even-numbered clients */
	/* Both engines; the core only marks it, the node (node/) sends the junk. */
	BFT_BYZ_FLOOD = 1u << 18,          /* junk and oversized frames at a bounded rate */
	BFT_BYZ_LYING_CHECKS = 1u << 19,   /* HB_CHECKs: every entry known, every verdict inverted */
};

/* The modes each engine implements; a mode outside its engine's set is refused at start-up. */
#define BFT_BYZ_PBFT_MODES                                                                       \
	(BFT_BYZ_SILENT | BFT_BYZ_CRASH_AFTER | BFT_BYZ_EQUIVOCATE | BFT_BYZ_WRONG_DIGEST |        \
	 BFT_BYZ_SLOW_PRIMARY | BFT_BYZ_VC_SPAM | BFT_BYZ_BOGUS_NEWVIEW | BFT_BYZ_REPLAY |         \
	 BFT_BYZ_BAD_SIGNATURE | BFT_BYZ_WRONG_REPLY | BFT_BYZ_BAD_CHECKPOINT | BFT_BYZ_FLOOD)
#define BFT_BYZ_HB_MODES                                                                         \
	(BFT_BYZ_SILENT | BFT_BYZ_CRASH_AFTER | BFT_BYZ_BAD_RBC_SHARDS | BFT_BYZ_RBC_EQUIVOCATE |  \
	 BFT_BYZ_ABA_EQUIVOCATE | BFT_BYZ_BAD_COIN_SHARE | BFT_BYZ_BAD_DEC_SHARE |                 \
	 BFT_BYZ_BAD_CIPHERTEXT | BFT_BYZ_CENSOR | BFT_BYZ_REPLAY | BFT_BYZ_BAD_SIGNATURE |        \
	 BFT_BYZ_WRONG_REPLY | BFT_BYZ_FLOOD | BFT_BYZ_LYING_CHECKS)

struct bft_byz {
	uint32_t modes;          /* bitwise OR of bft_byz_mode */
	uint64_t crash_after;    /* BFT_BYZ_CRASH_AFTER */
	uint64_t seed;           /* deterministic choices (which backups get which batch, ...) */
};

/** The mode named `name` ("silent", "equivocate", ...), or 0 if unknown. */
uint32_t bft_byz_mode_from_name(const char *name);
/** The name of a single mode bit, or NULL. */
const char *bft_byz_mode_name(uint32_t mode);
/** One line describing a single mode bit (for --list-byzantine), or NULL. */
const char *bft_byz_mode_help(uint32_t mode);

/* ------------------------------------------------------------------------------------------ */
/* Transforms shared by the engines: each engine's byz_apply runs its own protocol-specific ones
 * first, then these (so that a message an engine changed is then also corrupted, counted,
 * silenced). */

/** The wrong result a wrong-reply replica sends. */
#define BFT_BYZ_LIE "byzantine-lie"

/**
 * wrong-reply: every REPLY in out->msgs[from..] gets the result BFT_BYZ_LIE instead of its own,
 * re-signed with id (a validly signed wrong answer: only f+1 matching replies protect a client).
 * A reply that does not decode under limits, or that fails to re-encode, is left as it was.
 */
void bft_byz_wrong_replies(const struct wire_limits *limits, const struct cr_identity *id,
			   struct bft_out *out, size_t from);

#define BFT_BYZ_REPLAY_KEEP 32u
#define BFT_BYZ_REPLAY_PERIOD_MS 20u

/** What a replaying replica remembers of what it sent (bounded: BFT_BYZ_REPLAY_KEEP frames). */
struct bft_byz_replay {
	uint8_t *frame[BFT_BYZ_REPLAY_KEEP];
	uint32_t len[BFT_BYZ_REPLAY_KEEP];
	enum bft_msg_type type[BFT_BYZ_REPLAY_KEEP];
	enum bft_dest dest[BFT_BYZ_REPLAY_KEEP];
	uint64_t to[BFT_BYZ_REPLAY_KEEP];
	uint64_t rng;
	uint64_t last_ms;   /* when one was last re-sent */
	uint64_t replayed;  /* how many were re-sent */
};

/** Starts an empty replay memory with a deterministic choice sequence from seed. */
void bft_byz_replay_init(struct bft_byz_replay *r, uint64_t seed);
void bft_byz_replay_free(struct bft_byz_replay *r);
/**
 * replay: remembers some of the replica messages in out (at most four per step, into random
 * slots, so that old ones survive for a while), then, at most once per
 * BFT_BYZ_REPLAY_PERIOD_MS, re-sends a remembered frame to where it went then (a replica or
 * all) — usually one of an earlier epoch, view or sequence number, byte for byte as it was
 * signed then. Out of memory only skips.
 */
void bft_byz_replay_step(struct bft_byz_replay *r, uint64_t now_ms, struct bft_out *out);

/**
 * The last transforms, in this order: bad-signature (flips a bit of every signature),
 * crash-after (counting every message in *sent; from the crash_after-th on nothing is sent),
 * silent (nothing is sent); then removes the messages these (or the engine) emptied (len 0),
 * freeing their bytes.
 */
void bft_byz_finish(const struct bft_byz *bz, uint64_t *sent, struct bft_out *out);

#endif
