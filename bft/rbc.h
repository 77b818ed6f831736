/*
 * rbc: reliable broadcast with erasure coding, one instance per (epoch, proposer) — Honey Badger
 * BFT (Miller, Xia, Croman, Shi, Song, CCS'16) §4.2 and Figure 2, after Cachin and Tessaro
 * (SRDS'05) and Bracha's broadcast.
 *
 * The proposer cuts its value into n Reed-Solomon shards of which any k = n - 2f reconstruct it
 * (cr_rs), builds a Merkle tree over the n shards (cr_merkle) and sends shard j with its branch
 * to replica j (VAL). Each replica echoes its own shard to everyone (ECHO); on n - f valid ECHOs
 * for one root (2f+1 when n = 3f+1), or f+1 READYs for it, it sends READY for that root; once
 * 2f+1 READYs for a root are in and k valid ECHOs for it, it decodes, re-encodes and compares the
 * Merkle root. A value whose shards are not one codeword (a faulty proposer) fails that
 * comparison for every honest replica whatever k shards each one used, so all of them deliver
 * it as "invalid" (rbc_delivered's *valid false): agreement holds either way.
 *
 * The module is pure and sends nothing itself: each rbc_on_* reports in a struct rbc_out what
 * the call made this replica do (send its ECHO, send READY, deliver), and the caller (hb.c)
 * encodes and signs the messages (rbc_val_msg, rbc_echo_msg, rbc_ready_root give their fields).
 *
 * Byzantine input never crashes: every rejection returns its reason and leaves the state as it
 * was. VAL from anyone but the proposer is BFT_ENOTPRIMARY; a shard index that is not the
 * receiver's (VAL) or the sender's (ECHO) BFT_EINVAL; an invalid Merkle branch BFT_EBADCERT; a
 * shard longer than the configured bound BFT_ETOOBIG; a second, different VAL, ECHO or READY from
 * one sender BFT_ECONFLICT (the first one stands); an identical one BFT_EDUP.
 */
#ifndef BFT_RBC_H
#define BFT_RBC_H

#include <stdbool.h>

#include "bft/msg.h"
#include "crypto/cr_rs.h"

struct rbc_config {
	uint32_t n, f;
	bft_replica_id self;
	bft_replica_id proposer;
	struct cr_rs *rs;        /* borrowed: set up for (n, n - 2f); shared by instances */
	size_t payload_max;      /* the longest value a correct proposer may broadcast */
};

/** What one call made this replica do (each flag is set at most once per instance). */
struct rbc_out {
	bool echo;       /* send rbc_echo_msg() to all */
	bool ready;      /* send READY(rbc_ready_root()) to all */
	bool delivered;  /* rbc_delivered() now has the outcome */
};

struct rbc;

/** A new instance. BFT_EINVAL for inconsistent parameters, BFT_ENOMEM. */
enum bft_err rbc_new(struct rbc **out, const struct rbc_config *cfg) BFT_WUR;
void rbc_free(struct rbc *r);

/**
 * Proposer only: encodes value[0..len) into n shards and a Merkle tree (kept by the instance)
 * and takes the proposer's own VAL, which makes it echo (o->echo). The VALs for the others are
 * then read with rbc_val_msg. BFT_ESTATE when this replica is not the proposer or already
 * proposed, BFT_ETOOBIG over payload_max, BFT_ENOMEM.
 */
enum bft_err rbc_propose(struct rbc *r, const uint8_t *value, size_t len, struct rbc_out *o) BFT_WUR;

/**
 * As rbc_propose, from shards the caller made (n shards of shard_len bytes, back to back;
 * ownership passes to the instance even on error). A faulty proposer uses it to broadcast shards
 * that are not one codeword; correct code calls rbc_propose.
 */
enum bft_err rbc_propose_shards(struct rbc *r, uint8_t *shards, size_t shard_len,
				struct rbc_out *o) BFT_WUR;

/** The encoding of a value into n shards of *shard_len bytes (malloc'd into *shards). */
enum bft_err rbc_encode(struct cr_rs *rs, const uint8_t *value, size_t len, uint8_t **shards,
			size_t *shard_len) BFT_WUR;

/** Fills root, index, shard (borrowed from r) and branch of the VAL for replica j after a
 *  proposal (epoch and proposer are the caller's). BFT_ESTATE before rbc_propose. */
enum bft_err rbc_val_msg(const struct rbc *r, bft_replica_id j, struct bft_hb_rbc *m) BFT_WUR;

/** Takes a VAL (m->proposer and m->epoch already matched to this instance by the caller). */
enum bft_err rbc_on_val(struct rbc *r, bft_replica_id from, const struct bft_hb_rbc *m,
			struct rbc_out *o) BFT_WUR;
/** Takes an ECHO. */
enum bft_err rbc_on_echo(struct rbc *r, bft_replica_id from, const struct bft_hb_rbc *m,
			 struct rbc_out *o) BFT_WUR;
/** Takes a READY for root. */
enum bft_err rbc_on_ready(struct rbc *r, bft_replica_id from,
			  const uint8_t root[CR_DIGEST_BYTES], struct rbc_out *o) BFT_WUR;

/** This replica's ECHO (after o->echo): root, index = self, shard (borrowed), branch. */
void rbc_echo_msg(const struct rbc *r, struct bft_hb_rbc *m);
/** The root of this replica's READY (after o->ready). */
const uint8_t *rbc_ready_root(const struct rbc *r);

/**
 * True once delivered. *valid says whether the shards were one codeword; when they were,
 * *value (borrowed from r, valid until rbc_free) and *len are the broadcast value.
 */
bool rbc_delivered(const struct rbc *r, bool *valid, const uint8_t **value, size_t *len);

/** True when this replica has the VAL from the proposer (for tests and status). */
bool rbc_has_val(const struct rbc *r);

#endif
