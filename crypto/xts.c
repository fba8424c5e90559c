/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * AES-256-XTS over OpenSSL EVP.
 *
 * What it owns: XTS_POOL pairs of EVP contexts (one encrypting, one
 * decrypting), each pair keyed once in xts_new() so that the AES key
 * schedules are computed once per disk, never per block. A call only sets
 * the IV (the tweak) and runs one EVP_CipherUpdate().
 *
 * Invariants: an EVP context is used by one thread at a time. A caller
 * takes the first pair whose mutex it can trylock, starting at a rotating
 * index so that concurrent callers spread over the pool; only when every
 * pair is busy does it wait. No lock is shared between xts contexts, so
 * disks never contend with each other.
 *
 * The tweak is the data-unit number as a 128-bit little-endian integer
 * (IEEE 1619-2007 5.1; dm-crypt's "plain64"), the form OpenSSL takes as IV.
 *
 * What it deliberately does not do: ciphertext stealing (our units are
 * whole blocks; lengths that are not a multiple of 16 are refused), or keep
 * any copy of the key (OpenSSL's contexts hold the schedules, and
 * EVP_CIPHER_CTX_free() wipes them).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/xts.h"

#define XTS_POOL 8u
#define XTS_IV_BYTES 16

struct xts_pair {
	pthread_mutex_t lock;
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
} __attribute__((aligned(64))); /* no false sharing between pairs */

struct xts {
	struct xts_pair pairs[XTS_POOL];
	atomic_uint next; /* where the next caller starts looking */
};

void xts_free(struct xts *xts)
{
	unsigned int i;

	if (!xts)
		return;
	for (i = 0; i < XTS_POOL; i++) {
		EVP_CIPHER_CTX_free(xts->pairs[i].enc);
		EVP_CIPHER_CTX_free(xts->pairs[i].dec);
		pthread_mutex_destroy(&xts->pairs[i].lock);
	}
	free(xts);
}

static EVP_CIPHER_CTX *ctx_new(const EVP_CIPHER *cipher, const uint8_t *key,
			       int enc, int *rc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!ctx) {
		*rc = -ENOMEM;
		return NULL;
	}
	if (EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		*rc = -EINVAL;
		return NULL;
	}
	return ctx;
}

int xts_new(const struct key *key, struct xts **xts_r)
{
	EVP_CIPHER *cipher;
	struct xts *xts;
	unsigned int i;
	int rc = 0;

	cipher = EVP_CIPHER_fetch(NULL, "AES-256-XTS", NULL);
	if (!cipher)
		return -EINVAL;
	xts = aligned_alloc(64, sizeof(*xts));
	if (!xts) {
		EVP_CIPHER_free(cipher);
		return -ENOMEM;
	}
	memset(xts, 0, sizeof(*xts));
	atomic_init(&xts->next, 0);
	for (i = 0; i < XTS_POOL; i++)
		pthread_mutex_init(&xts->pairs[i].lock, NULL);
	for (i = 0; i < XTS_POOL && !rc; i++) {
		struct xts_pair *p = &xts->pairs[i];

		p->enc = ctx_new(cipher, key_bytes(key), 1, &rc);
		if (p->enc)
			p->dec = ctx_new(cipher, key_bytes(key), 0, &rc);
	}
	/* The contexts hold their own references to the cipher. */
	EVP_CIPHER_free(cipher);
	if (rc) {
		xts_free(xts);
		return rc;
	}
	*xts_r = xts;
	return 0;
}

static struct xts_pair *pair_get(struct xts *xts)
{
	unsigned int start =
		atomic_fetch_add_explicit(&xts->next, 1, memory_order_relaxed);
	unsigned int i;
	struct xts_pair *p;

	for (i = 0; i < XTS_POOL; i++) {
		p = &xts->pairs[(start + i) % XTS_POOL];
		if (pthread_mutex_trylock(&p->lock) == 0)
			return p;
	}
	p = &xts->pairs[start % XTS_POOL];
	pthread_mutex_lock(&p->lock);
	return p;
}

/* Units first.. of len bytes each, nr of them, under one pair. */
static int xts_crypt(struct xts *xts, int enc, uint64_t first, const void *in,
		     void *out, size_t len, uint32_t nr)
{
	const unsigned char *src = in;
	unsigned char *dst = out;
	struct xts_pair *p;
	EVP_CIPHER_CTX *ctx;
	uint32_t k;
	int ok = 1;

	if (len < 16 || len > XTS_MAX_UNIT_BYTES || len % 16)
		return -EINVAL;
	p = pair_get(xts);
	ctx = enc ? p->enc : p->dec;
	for (k = 0; k < nr && ok; k++) {
		uint8_t iv[XTS_IV_BYTES] = { 0 };
		uint64_t unit = first + k;
		unsigned int i;
		int outl = 0;

		for (i = 0; i < 8; i++)
			iv[i] = (uint8_t)(unit >> (8 * i));
		/* NULL cipher and key: keep the schedule, only load the new
		 * tweak. */
		ok = EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc) == 1 &&
		     EVP_CipherUpdate(ctx, dst + (size_t)k * len, &outl,
				      src + (size_t)k * len, (int)len) == 1 &&
		     (size_t)outl == len;
	}
	pthread_mutex_unlock(&p->lock);
	return ok ? 0 : -EIO;
}

int xts_encrypt_units(struct xts *xts, uint64_t first, const void *in,
		      void *out, size_t unit_bytes, uint32_t nr)
{
	return xts_crypt(xts, 1, first, in, out, unit_bytes, nr);
}

int xts_decrypt_units(struct xts *xts, uint64_t first, const void *in,
		      void *out, size_t unit_bytes, uint32_t nr)
{
	return xts_crypt(xts, 0, first, in, out, unit_bytes, nr);
}

int xts_encrypt(struct xts *xts, uint64_t unit, const void *in, void *out,
		size_t len)
{
	return xts_crypt(xts, 1, unit, in, out, len, 1);
}

int xts_decrypt(struct xts *xts, uint64_t unit, const void *in, void *out,
		size_t len)
{
	return xts_crypt(xts, 0, unit, in, out, len, 1);
}
