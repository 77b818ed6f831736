/*
 * cr_keyfile: key files, format "bft-key v1" (specified in full in keys/README.md).
 *
 *   bft-key v1
 *   kind: ed25519-secret
 *   id: replica 2
 *   key: <lowercase hex of the key bytes>
 *   check: <lowercase hex of the first 16 bytes of cr_digest("keyfile.check", lines 1-4)>
 *
 * Exactly these five '\n'-terminated lines in this order, printable ASCII, at most
 * CR_KEYFILE_MAX bytes. The check line detects corruption and truncation; it is not
 * authentication (whoever can write the file can recompute it), file permissions are.
 *
 * Two layers: cr_keyfile_encode/decode are pure (memory to memory, no I/O) and are what the
 * fuzzer and most tests drive; the read and write functions add the file system rules:
 * secret files are created 0600 and refused when group or others have any access, writes go to a
 * temporary file that is fsynced and then linked (or, with CR_KEYFILE_FORCE, renamed) into place,
 * so a crash never leaves a half-written key file.
 *
 * Errors: every function that can fail takes err[0..errlen) and writes one line there that names
 * the file and says what is wrong and, where there is one, the fix; err may be NULL when errlen
 * is 0. Messages never contain key material, nor any other content of the file.
 */
#ifndef CR_KEYFILE_H
#define CR_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/cr_secret.h"
#include "crypto/cr_sign.h"

#define CR_KEYFILE_MAX       1024u /* largest valid key file, bytes */
#define CR_KEYFILE_KEY_MAX   256u  /* largest key any kind may carry, bytes */
#define CR_KEYFILE_ERR_BYTES 512u  /* an err buffer of this size never truncates a message
				    * whose path is under 200 bytes */
#define CR_KEYFILE_FORCE     1u    /* write flag: replace an existing file */

/* What a key file holds. The values are not part of the file format (the kind name is). */
enum cr_key_kind {
	CR_KEY_ED25519_SECRET = 1, /* "ed25519-secret": 64 bytes, libsodium seed || public key */
	CR_KEY_ED25519_PUBLIC,     /* "ed25519-public": 32 bytes */
	CR_KEY_COIN_SHARE,         /* "coin-share": 32-byte ristretto255 scalar, threshold coin */
	CR_KEY_ENC_SHARE,          /* "enc-share": 32-byte ristretto255 scalar, threshold decryption */
	CR_KEY_COIN_PUBLIC,        /* "coin-public": 32-byte ristretto255 point (g^x_i, or g^x) */
	CR_KEY_ENC_PUBLIC,         /* "enc-public": 32-byte ristretto255 point (g^x_i, or g^x) */
	CR_KEY_MAC,                /* "mac-key": 32-byte cr_mac key */
};

/* Whose key it is. */
enum cr_key_role {
	CR_KEY_REPLICA = 1, /* "replica N", N a bft_replica_id (at most UINT32_MAX) */
	CR_KEY_CLIENT,      /* "client N", N a bft_client_id */
	CR_KEY_GROUP,       /* "group": the whole cluster (threshold group public keys); num is 0 */
};

struct cr_key_id {
	enum cr_key_role role;
	uint64_t num;
};

/** The kind's name in the file ("ed25519-secret"), a static string, or NULL for an unknown kind. */
const char *cr_key_kind_name(enum cr_key_kind kind);

/** The exact key length in bytes of a kind, or 0 for an unknown kind. */
size_t cr_key_kind_len(enum cr_key_kind kind);

/** 1 when the kind is secret material (needs 0600 and cr_secret memory), 0 when public or
 *  unknown. */
int cr_key_kind_is_secret(enum cr_key_kind kind);

/** Formats id as it appears in a file ("replica 2", "client 7", "group") into buf[0..buflen),
 *  NUL-terminated and truncated to fit; returns buf. An invalid id formats as "invalid id". */
const char *cr_key_id_format(const struct cr_key_id *id, char *buf, size_t buflen);

/** Encodes a key file into out[0..out_max) and sets *out_len (no NUL is added); name labels
 *  messages. key[0..key_len) is borrowed; for a secret kind the output holds the key in hex, so
 *  the caller should give cr_secret memory. 0, or -1 with a message when the kind is unknown,
 *  key_len is not the kind's length, the id is invalid, or out_max is too small (CR_KEYFILE_MAX
 *  always suffices); out is then zeroed and *out_len untouched. */
int cr_keyfile_encode(const char *name, char *out, size_t out_max, size_t *out_len,
		      enum cr_key_kind kind, const struct cr_key_id *id, const uint8_t *key,
		      size_t key_len, char *err, size_t errlen) CR_WUR;

/** Decodes text[0..len) (untrusted) as a key file; name labels messages (a path, "<stdin>").
 *  On success writes *kind, *id and *key, a new cr_secret of cr_key_kind_len(*kind) bytes that
 *  the caller frees, whatever the kind. -1 with a message for anything but a well-formed v1 file
 *  with a correct check line: empty, truncated, not a key file, another version, a bad character,
 *  a malformed or unknown field, a bad checksum, a key of the wrong length, memory exhausted;
 *  outputs are then untouched. Never reads outside text[0..len). */
int cr_keyfile_decode(const char *name, const char *text, size_t len, enum cr_key_kind *kind,
		      struct cr_key_id *id, struct cr_secret *key, char *err, size_t errlen) CR_WUR;

/** Writes a secret key file at path: mode 0600, fsynced, linked into place only if nothing is at
 *  path, or renamed over it with CR_KEYFILE_FORCE in flags; the directory is fsynced after.
 *  kind must be secret and key_len its length; key and id are borrowed. 0, or -1 with a message
 *  (the file exists without CR_KEYFILE_FORCE, I/O error, bad arguments). On failure no temporary
 *  file remains and path is as it was, except when only the final directory fsync failed: the
 *  new file is then in place but may not survive a crash. */
int cr_keyfile_write_secret(const char *path, enum cr_key_kind kind, const struct cr_key_id *id,
			    const uint8_t *key, size_t key_len, unsigned flags,
			    char *err, size_t errlen) CR_WUR;

/** As cr_keyfile_write_secret() for a public kind; the file gets mode 0644. */
int cr_keyfile_write_public(const char *path, enum cr_key_kind kind, const struct cr_key_id *id,
			    const uint8_t *key, size_t key_len, unsigned flags,
			    char *err, size_t errlen) CR_WUR;

/** Reads a secret key file of the given secret kind into *key (a new cr_secret the caller frees
 *  with cr_secret_free) and, when id is not NULL, its owner into *id. Fails with a message, leaving
 *  the outputs untouched, when the file is missing or unreadable, not a regular file, accessible
 *  by group or others (st_mode & 077; the message gives the chmod that fixes it), too large,
 *  holds another kind, or fails cr_keyfile_decode(). */
int cr_keyfile_read_secret(const char *path, enum cr_key_kind kind, struct cr_key_id *id,
			   struct cr_secret *key, char *err, size_t errlen) CR_WUR;

/** Reads a public key file of the given public kind into key[0..key_len) (caller-owned; key_len
 *  must be the kind's length) and, when id is not NULL, its owner into *id. The file's mode is
 *  not checked. Errors as cr_keyfile_read_secret() but for the permission rule; outputs are
 *  untouched on failure. */
int cr_keyfile_read_public(const char *path, enum cr_key_kind kind, struct cr_key_id *id,
			   uint8_t *key, size_t key_len, char *err, size_t errlen) CR_WUR;

/** Writes ident's secret key as an "ed25519-secret" file (see cr_keyfile_write_secret). */
int cr_keyfile_write_identity(const char *path, const struct cr_key_id *id,
			      const struct cr_identity *ident, unsigned flags,
			      char *err, size_t errlen) CR_WUR;

/** Reads an "ed25519-secret" file into *ident (empty or uninitialised; the caller frees it with
 *  cr_identity_free) and, when id is not NULL, its owner into *id. Errors as
 *  cr_keyfile_read_secret(), and also when the key's public half does not match its seed half
 *  (cr_identity_from_sk); *ident is left empty on failure. */
int cr_keyfile_read_identity(const char *path, struct cr_key_id *id, struct cr_identity *ident,
			     char *err, size_t errlen) CR_WUR;

#endif
