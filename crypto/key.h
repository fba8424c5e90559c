/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-disk AES-256-XTS keys. A key is 512 bits (two 256-bit halves, IEEE
 * 1619-2007 Key1 || Key2) held in its own page that is mlock()ed and
 * excluded from core dumps (MADV_DONTDUMP), and wiped with OPENSSL_cleanse()
 * before the page goes back to the kernel. Nothing here does I/O or logs key
 * material.
 */
#ifndef XE_CRYPTO_KEY_H
#define XE_CRYPTO_KEY_H

#include <stddef.h>
#include <stdint.h>

#define KEY_XTS_BYTES 64u /* AES-256-XTS: Key1 (32 bytes) || Key2 (32) */

struct key;

/*
 * Create a fresh key from getrandom(2), retrying until the two halves differ.
 * Returns 0 and sets *key_r, or -errno (-ENOMEM if the page cannot be locked).
 */
int key_new_random(struct key **key_r);

/*
 * Create a key from caller-supplied bytes (known-answer tests, never
 * production). len must be KEY_XTS_BYTES. Returns -EINVAL if the two halves
 * are equal, as IEEE 1619 and OpenSSL require.
 */
int key_new_from_bytes(const uint8_t *bytes, size_t len, struct key **key_r);

/* The KEY_XTS_BYTES of key material. Valid until key_free(). */
const uint8_t *key_bytes(const struct key *key);

/* Wipe the key with OPENSSL_cleanse, unlock and unmap its page. NULL is ok. */
void key_free(struct key *key);

/*
 * Lock the memory [addr, addr+len) and exclude it from core dumps. Shared with
 * the RAM store. Returns 0 or -errno.
 */
int key_protect_memory(void *addr, size_t len);

/*
 * The same, but each page is locked as it is first touched (mlock2
 * MLOCK_ONFAULT): never swapped, never dumped, and resident only once
 * used. For buffers mostly left untouched (a ring's bounce, a RAM
 * overlay's chunks). Falls back to key_protect_memory()'s mlock where the
 * kernel lacks it. Returns 0 or -errno.
 */
int key_protect_memory_lazy(void *addr, size_t len);

#endif
