#include "bft/bft.h"

#include <stdlib.h>

static const struct {
	const char *text;
	const char *name;
} errs[BFT_ERR_COUNT] = {
	[BFT_OK] = {"success", "ok"},
	[BFT_EMALFORMED] = {"malformed frame", "malformed"},
	[BFT_EVERSION] = {"unknown protocol version", "version"},
	[BFT_ETYPE] = {"unknown message type", "type"},
	[BFT_EARITY] = {"wrong number of fields", "arity"},
	[BFT_EFIELD] = {"field of the wrong type", "field_type"},
	[BFT_ETOOBIG] = {"length or count over the configured limit", "too_big"},
	[BFT_ETRAILING] = {"trailing bytes after the message", "trailing"},
	[BFT_ESENDER] = {"sender out of range or not allowed", "sender"},
	[BFT_ENONCANON] = {"non-canonical encoding", "non_canonical"},
	[BFT_EBADSIG] = {"bad signature", "bad_signature"},
	[BFT_EVIEW] = {"wrong view", "wrong_view"},
	[BFT_ESEQ] = {"sequence number outside the watermarks", "out_of_window"},
	[BFT_EDIGEST] = {"digest mismatch", "digest_mismatch"},
	[BFT_ECONFLICT] = {"conflicts with an accepted message", "conflict"},
	[BFT_EDUP] = {"duplicate", "duplicate"},
	[BFT_ENOTPRIMARY] = {"sender is not the primary", "not_primary"},
	[BFT_ESTALE] = {"stale message", "stale"},
	[BFT_EBADCERT] = {"invalid certificate or proof", "bad_certificate"},
	[BFT_EBADSHARE] = {"invalid threshold share", "bad_share"},
	[BFT_EFULL] = {"buffer full", "full"},
	[BFT_ENOMEM] = {"out of memory", "no_memory"},
	[BFT_EINVAL] = {"invalid argument", "invalid"},
	[BFT_ESTATE] = {"not possible in the current state", "state"},
};

const char *bft_strerror(enum bft_err e)
{
	return (unsigned)e < BFT_ERR_COUNT ? errs[e].text : "unknown error";
}

const char *bft_err_name(enum bft_err e)
{
	return (unsigned)e < BFT_ERR_COUNT ? errs[e].name : "unknown";
}

static bft_assert_fn assert_handler;

void bft_assert_set_handler(bft_assert_fn fn)
{
	assert_handler = fn;
}

void bft_assert_fail(const char *expr, const char *file, int line)
{
	if (assert_handler != NULL)
		assert_handler(expr, file, line);
	abort();
}
