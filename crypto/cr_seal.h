/*
 * cr_seal: anonymous sealed boxes to an Ed25519 identity (libsodium crypto_box_seal).
 *
 * A client hands each replica a fresh session key sealed to that replica: X25519 ephemeral key
 * agreement with the replica's X25519 key, which is derived from its Ed25519 key
 * (crypto_sign_ed25519_pk_to_curve25519 / _sk_to_curve25519), then XSalsa20-Poly1305. Only the
 * holder of the Ed25519 secret key can open it. Sealed boxes are not authenticated to a sender:
 * the client's Ed25519 signature over the message carrying the boxes is what binds them to it.
 */
#ifndef CR_SEAL_H
#define CR_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/cr_secret.h"
#include "crypto/cr_sign.h"

#define CR_SEAL_OVERHEAD 48u /* crypto_box_SEALBYTES: ephemeral public key and Poly1305 tag */

/** Seals msg[0..len) to the holder of Ed25519 public key pk into box (len + CR_SEAL_OVERHEAD
 *  bytes). Uses the system RNG (a fresh ephemeral key). 0, or -1 when pk has no X25519 form
 *  (a small-order or invalid point) or libsodium cannot be initialised. */
int cr_seal(uint8_t *box, const uint8_t pk[CR_PK_BYTES], const uint8_t *msg, size_t len) CR_WUR;

/** Opens box[0..box_len) with id's secret key into out (box_len - CR_SEAL_OVERHEAD bytes, which
 *  should be cr_secret memory when it is a key). 0, or -1 when the box is shorter than the
 *  overhead, was not sealed to id or was altered (out is then zeroed). The X25519 secret key
 *  lives in guarded memory only for the duration of the call. */
int cr_seal_open(uint8_t *out, const struct cr_identity *id, const uint8_t *box,
		 size_t box_len) CR_WUR;

/* Link keys: the two replicas of a pair share an X25519 secret (each side's Ed25519 key in its
 * X25519 form, crypto_scalarmult), from which a 32-byte key per direction is hashed:
 * BLAKE2b-256(key = shared secret, "bft.link.v1" || from u32 LE || to u32 LE). Replica i
 * computes K(i->j) and K(j->i) with its own secret and j's public key; j computes the same two
 * with its secret and i's public key. The transport authenticates a mesh connection's hello with
 * K(dialer->acceptor) (net.h). */
#define CR_LINK_KEY_BYTES 32u

/** Writes K(from->to) into key (which should be cr_secret memory) for the pair of id and the
 *  holder of peer_pk. 0, or -1 (key zeroed) when peer_pk has no X25519 form, the shared secret
 *  is degenerate, id is empty or libsodium cannot be initialised. */
int cr_link_key(uint8_t key[CR_LINK_KEY_BYTES], const struct cr_identity *id,
		const uint8_t peer_pk[CR_PK_BYTES], uint32_t from, uint32_t to) CR_WUR;

#endif
