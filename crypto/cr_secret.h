/*
 * cr_secret: byte buffers for secret material, in libsodium's guarded memory.
 *
 * A secret lives in sodium_malloc() memory: guard pages on both sides, a canary, locked in RAM
 * where the system allows (mlock), excluded from core dumps where the system allows, and wiped
 * when freed. Each allocation costs a few pages, so secrets are for keys, not for bulk data.
 *
 * A secret can be made read-only once written (cr_secret_readonly), so that a stray write through
 * a bad pointer faults instead of silently corrupting a key.
 */
#ifndef CR_SECRET_H
#define CR_SECRET_H

#include <stddef.h>
#include <stdint.h>

#ifndef CR_WUR
#define CR_WUR __attribute__((warn_unused_result))
#endif

#define CR_SECRET_MAX 65536u /* the largest secret we allocate, in bytes */

struct cr_secret {
	uint8_t *p; /* len bytes of sodium_malloc memory; NULL when empty */
	size_t len;
};

/** Allocates len zeroed, writable bytes into *s (which must be empty or uninitialised).
 *  0 on success; -1 when len is 0 or over CR_SECRET_MAX, libsodium cannot be initialised, or
 *  secure memory is exhausted, and then *s is left empty. The caller frees with cr_secret_free(). */
int cr_secret_alloc(struct cr_secret *s, size_t len) CR_WUR;

/** Allocates a secret holding a copy of src[0..len); same rules and errors as cr_secret_alloc.
 *  The caller still owns (and should wipe) src. */
int cr_secret_from_bytes(struct cr_secret *s, const void *src, size_t len) CR_WUR;

/** Wipes and releases the buffer (whatever its protection) and leaves *s empty. Safe on an empty
 *  or already-freed secret. */
void cr_secret_free(struct cr_secret *s);

/** Makes the buffer read-only: a write through s->p then faults. 0, or -1 when *s is empty or the
 *  system refuses (the protection is then unchanged). */
int cr_secret_readonly(struct cr_secret *s) CR_WUR;

/** Makes the buffer writable again. 0, or -1 when *s is empty or the system refuses. */
int cr_secret_readwrite(struct cr_secret *s) CR_WUR;

#endif
