/*
 * cr_mac: message authentication codes with 32-byte keys (keyed BLAKE2b-256).
 *
 * Why keyed BLAKE2b rather than HMAC-SHA512-256 (crypto_auth): BLAKE2b is designed as a keyed
 * PRF, so it needs no HMAC nesting and has no length-extension weakness; it is about twice as fast
 * as SHA-512 in software, which matters for PBFT authenticators computed per message per replica;
 * and it is the hash the rest of the system already uses (cr_hash), so there is one primitive to
 * trust. Both give 256-bit tags and would serve equally for security.
 *
 *   mac        = BLAKE2b-256(key = k, msg)
 *   derive     = BLAKE2b-256(key = shared secret, "mac.derive" framing || label)
 *
 * Keys live in cr_secret memory (sodium_malloc), read-only once made. Verification compares in
 * constant time.
 */
#ifndef CR_MAC_H
#define CR_MAC_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/cr_secret.h"

#define CR_MAC_KEY_BYTES       32u
#define CR_MAC_BYTES           32u
#define CR_MAC_SECRET_MIN      16u  /* shared-secret lengths cr_mac_key_derive accepts */
#define CR_MAC_SECRET_MAX      64u
#define CR_MAC_LABEL_MAX       255u /* longest derivation label, bytes without the NUL */

struct cr_mac_key {
	struct cr_secret s; /* CR_MAC_KEY_BYTES, read-only; empty when s.p is NULL */
};

/** Generates a fresh random key into *key (empty or uninitialised). 0, or -1 when libsodium
 *  cannot be initialised or secure memory is exhausted (*key left empty). The caller frees with
 *  cr_mac_key_free(). */
int cr_mac_key_generate(struct cr_mac_key *key) CR_WUR;

/** Loads a key from CR_MAC_KEY_BYTES raw bytes (a key file, a test); raw is borrowed and the
 *  caller wipes it. Errors and ownership as cr_mac_key_generate(). */
int cr_mac_key_from_bytes(struct cr_mac_key *key, const uint8_t raw[CR_MAC_KEY_BYTES]) CR_WUR;

/** Derives a key from a shared secret (for example a key-exchange result) and a context label
 *  naming its use ("pbft.replica 1->3"), so one secret yields independent keys for distinct
 *  labels. secret and label are borrowed. 0, or -1 (*key left empty) when secret_len is outside
 *  CR_MAC_SECRET_MIN..CR_MAC_SECRET_MAX, secret or label is NULL, the label is longer than
 *  CR_MAC_LABEL_MAX, or memory is exhausted. */
int cr_mac_key_derive(struct cr_mac_key *key, const uint8_t *secret, size_t secret_len,
		      const char *label) CR_WUR;

/** Wipes and releases the key and leaves *key empty; safe on an empty or freed key. */
void cr_mac_key_free(struct cr_mac_key *key);

/** Computes the MAC of msg[0..len) (msg may be NULL when len is 0) under key into mac.
 *  0, or -1 with mac zeroed when key is empty. */
int cr_mac_compute(uint8_t mac[CR_MAC_BYTES], const struct cr_mac_key *key, const void *msg,
		   size_t len) CR_WUR;

/** Checks mac over msg[0..len) under key, comparing in constant time. 0 when it matches; -1 when
 *  it does not, the key is empty, or msg is NULL with len > 0. */
int cr_mac_verify(const uint8_t mac[CR_MAC_BYTES], const struct cr_mac_key *key, const void *msg,
		  size_t len) CR_WUR;

/* Short tags for per-request authenticators (PBFT TOCS §3.3): 16 bytes of keyed BLAKE2b under a
 * raw 32-byte key that the caller keeps in cr_secret memory (a table of session keys lives in
 * one guarded allocation rather than a few pages per key). A 128-bit tag leaves a forger a 2^-128
 * chance per try, which is what PBFT's authenticators and Poly1305 give too. */
#define CR_MAC_SHORT_BYTES 16u

/** tag = BLAKE2b-128(key, msg[0..len)). key is CR_MAC_KEY_BYTES, borrowed. */
void cr_mac_short(uint8_t tag[CR_MAC_SHORT_BYTES], const uint8_t key[CR_MAC_KEY_BYTES],
		  const void *msg, size_t len);

/** 0 when tag is cr_mac_short(key, msg), compared in constant time (crypto_verify_16); -1
 *  otherwise, or when msg is NULL with len > 0. */
int cr_mac_short_verify(const uint8_t tag[CR_MAC_SHORT_BYTES],
			const uint8_t key[CR_MAC_KEY_BYTES], const void *msg, size_t len) CR_WUR;

/* A short tag over a 16-byte prefix and a message, without copying them together: the
 * transport MACs each mesh frame under its link key with (connection, sequence number) in front
 * (net_internal.h). Same construction as cr_mac_short over prefix || msg. */
#define CR_MAC_PREFIX_BYTES 16u

void cr_mac_short_prefixed(uint8_t tag[CR_MAC_SHORT_BYTES], const uint8_t key[CR_MAC_KEY_BYTES],
			   const uint8_t prefix[CR_MAC_PREFIX_BYTES], const void *msg, size_t len);
/** 0 when tag matches, compared in constant time; -1 otherwise or when msg is NULL, len > 0. */
int cr_mac_short_prefixed_verify(const uint8_t tag[CR_MAC_SHORT_BYTES],
				 const uint8_t key[CR_MAC_KEY_BYTES],
				 const uint8_t prefix[CR_MAC_PREFIX_BYTES], const void *msg,
				 size_t len) CR_WUR;

#endif
