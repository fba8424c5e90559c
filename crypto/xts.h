/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * AES-256-XTS over OpenSSL EVP for whole data units (4096 bytes for the
 * overlay, but any multiple of 16 up to XTS_MAX_UNIT_BYTES works). The tweak
 * is the data-unit number as a 128-bit little-endian integer (dm-crypt's
 * "plain64"), as IEEE 1619-2007 section 5.1 describes it.
 *
 * An xts context is safe to use from several threads at once: it keeps a
 * small pool of EVP contexts, each used by one thread at a time.
 */
#ifndef XE_CRYPTO_XTS_H
#define XE_CRYPTO_XTS_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/key.h"

#define XTS_MAX_UNIT_BYTES (1u << 20)

struct xts;

/*
 * Prepare encryption and decryption under key. The key must outlive the
 * context. Returns 0 and sets *xts_r, or -errno (-EINVAL: OpenSSL refused
 * the key, -ENOMEM).
 */
int xts_new(const struct key *key, struct xts **xts_r);

/*
 * Encrypt / decrypt one data unit of len bytes (16 <= len <= 1 MiB, a
 * multiple of 16) numbered unit. in and out may be the same buffer.
 * Returns 0 or -EIO if OpenSSL fails.
 */
int xts_encrypt(struct xts *xts, uint64_t unit, const void *in, void *out,
		size_t len);
int xts_decrypt(struct xts *xts, uint64_t unit, const void *in, void *out,
		size_t len);

/*
 * nr consecutive data units of unit_bytes each, numbered first, first + 1,
 * ...: the same as nr calls of xts_encrypt() / xts_decrypt(), but the
 * context is taken once. Returns 0, -EINVAL (as above) or -EIO.
 */
int xts_encrypt_units(struct xts *xts, uint64_t first, const void *in,
		      void *out, size_t unit_bytes, uint32_t nr);
int xts_decrypt_units(struct xts *xts, uint64_t first, const void *in,
		      void *out, size_t unit_bytes, uint32_t nr);

/*
 * Calls of 64 KiB or more are shared with helper threads of this process
 * (crypto/xts.c): xts_helpers() says how many may join a call (the online
 * CPUs less one, at most XTS_MAX_HELPERS, unless set; more is cut to it);
 * xts_set_helpers(0) makes every call single-threaded (benchmarks'
 * one-core figures, tests). The output is the same either way.
 */
#define XTS_MAX_HELPERS 3u
void xts_set_helpers(unsigned int n);
unsigned int xts_helpers(void);

/* Free the EVP contexts (OpenSSL wipes their key schedules). NULL is ok. */
void xts_free(struct xts *xts);

#endif
