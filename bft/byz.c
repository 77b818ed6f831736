#include "bft/byz.h"

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
	{BFT_BYZ_REPLAY, "replay", "re-sends old messages of earlier views and sequence numbers"},
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
