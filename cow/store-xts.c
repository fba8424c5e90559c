/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * XTS store: AES-256-XTS on the way into any lower store.
 *
 * What it owns: the lower store, the key and the xts context (all three are
 * released by destroy, the key wiped), and a small pool of bounce buffers.
 *
 * Every slot is one XTS data unit (IEEE 1619-2007) whose number is the slot
 * number, so equal plaintext in two slots gives unrelated ciphertext and a
 * block moved between slots does not decrypt.
 *
 * Invariants:
 * - Plaintext never reaches lower: a write encrypts into a bounce buffer and
 *   hands lower only that, or, when lower is memory with direct(), encrypts
 *   straight into the slot (the data path's copy saved). Our own direct() is
 *   NULL so nobody can bypass the cipher.
 * - The caller's buffer is never modified by a write. A read lets lower fill
 *   the caller's buffer with ciphertext, then decrypts it in place.
 * - Over a lower store that overlaps its I/O with our work (write_fill and
 *   read_each: the file store over io_uring), each chunk is encrypted
 *   straight into the lower's aligned buffers while the chunks before it
 *   are written, and decrypted as soon as it has been read while the next
 *   ones are still coming: the cipher and the device work at once. Those
 *   buffers, like the bounce buffers, only ever hold ciphertext.
 * - Over a lower store that keeps its slots in memory it can show (the file
 *   store on tmpfs, which maps its scratch), write_fill hands us the
 *   file's own pages to encrypt into and read_in_place shows them to
 *   decrypt from: no copy on either side, the cipher is the only pass.
 * - A lower block that is all zeros is a hole (never written, or discarded
 *   and punched) and reads as zeros. A real ciphertext block is all zeros
 *   with probability 2^-32768, and the test costs one compare of its first
 *   bytes for real ciphertext.
 * - Bounce buffers hold ciphertext only, so they need no locking in memory.
 *   A call takes one buffer (trylock round-robin, like the xts pool) for
 *   its whole duration and moves at most XTS_BOUNCE_BLKS slots per lower
 *   write; buffers are allocated on first use.
 *
 * What it deliberately does not do: integrity (XTS has none; the threat is
 * a reader of dom0's disks after the fact, not a writer), or caching.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cow/store-local.h"
#include "crypto/xts.h"

#define XTS_BOUNCE_POOL 4u
#define XTS_BOUNCE_BLKS 32u /* 128 KiB per lower write */

struct xts_bounce {
	pthread_mutex_t lock;
	unsigned char *buf; /* XTS_BOUNCE_BLKS slots, page-aligned, lazily */
} __attribute__((aligned(64)));

struct xts_store {
	struct store s;
	struct store *lower;
	struct key *key;
	struct xts *xts;
	atomic_uint next_bounce;
	struct xts_bounce bounce[XTS_BOUNCE_POOL];
};

static struct xts_store *to_xts(struct store *s)
{
	return (struct xts_store *)s;
}

/* Take a bounce buffer; on success it is locked and allocated. */
static struct xts_bounce *bounce_get(struct xts_store *x)
{
	unsigned int start = atomic_fetch_add_explicit(&x->next_bounce, 1,
						       memory_order_relaxed);
	struct xts_bounce *b = NULL;
	unsigned int i;

	for (i = 0; i < XTS_BOUNCE_POOL && !b; i++) {
		b = &x->bounce[(start + i) % XTS_BOUNCE_POOL];
		if (pthread_mutex_trylock(&b->lock))
			b = NULL;
	}
	if (!b) {
		b = &x->bounce[start % XTS_BOUNCE_POOL];
		pthread_mutex_lock(&b->lock);
	}
	if (!b->buf) {
		b->buf = aligned_alloc(4096, XTS_BOUNCE_BLKS * STORE_BLK_BYTES);
		if (!b->buf) {
			pthread_mutex_unlock(&b->lock);
			return NULL;
		}
	}
	return b;
}

/* Encrypt n slots from slot on into out (4 KiB each). */
static int encrypt_blks(struct xts_store *x, const unsigned char *src,
			unsigned char *out, uint64_t slot, uint32_t n)
{
	return xts_encrypt_units(x->xts, slot, src, out, STORE_BLK_BYTES, n);
}

/* write_fill's producer: the ciphertext of the slots asked for. */
struct xts_fill {
	struct xts_store *x;
	const unsigned char *src; /* plaintext of slot first */
	uint64_t first;
};

static int xts_fill(void *arg, void *buf, uint64_t slot, uint32_t n)
{
	struct xts_fill *f = arg;

	return encrypt_blks(f->x,
			    f->src + (size_t)(slot - f->first) *
					     STORE_BLK_BYTES,
			    buf, slot, n);
}

static int xts_store_write(struct store *s, const void *buf, uint64_t slot,
			   uint32_t nr)
{
	struct xts_store *x = to_xts(s);
	const unsigned char *src = buf;
	struct xts_bounce *b;
	int rc = 0;

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	/*
	 * A lower store that overlaps its I/O with our work (the file store
	 * over io_uring) has us encrypt each chunk straight into its aligned
	 * buffers while the chunks before it are being written.
	 */
	if (x->lower->ops->write_fill) {
		struct xts_fill f = { x, src, slot };

		return x->lower->ops->write_fill(x->lower, slot, nr, xts_fill,
						 &f);
	}
	/*
	 * A memory lower (the RAM store) takes the ciphertext straight from
	 * the cipher: no bounce buffer, no copy. Should direct() fail (the
	 * chunk cannot be locked), its write() reports why below.
	 */
	if (x->lower->ops->direct) {
		for (; nr; slot++, nr--, src += STORE_BLK_BYTES) {
			void *dst = store_direct(x->lower, slot);

			if (!dst)
				break;
			rc = xts_encrypt(x->xts, slot, src, dst,
					 STORE_BLK_BYTES);
			if (rc)
				return rc;
		}
	}
	if (!nr)
		return 0;
	b = bounce_get(x);
	if (!b)
		return -ENOMEM;
	while (nr && !rc) {
		uint32_t n = nr < XTS_BOUNCE_BLKS ? nr : XTS_BOUNCE_BLKS;

		rc = encrypt_blks(x, src, b->buf, slot, n);
		if (!rc)
			rc = store_write(x->lower, b->buf, slot, n);
		src += (size_t)n * STORE_BLK_BYTES;
		slot += n;
		nr -= n;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static bool blk_is_zero(const unsigned char *p)
{
	/* Ciphertext almost always fails the first test. */
	return p[0] == 0 && !memcmp(p, p + 1, STORE_BLK_BYTES - 1);
}

/* Decrypt n slots from slot on in place; holes (all zeros) stay zeros.
 * Runs of ciphertext blocks are decrypted with one call. */
static int decrypt_blks(void *arg, void *buf, uint64_t slot, uint32_t n)
{
	struct xts_store *x = arg;
	unsigned char *p = buf;
	uint32_t i, k;
	int rc = 0;

	for (i = 0; i < n && !rc; i += k) {
		unsigned char *run = p + (size_t)i * STORE_BLK_BYTES;

		for (k = 0; i + k < n &&
			    !blk_is_zero(run + (size_t)k * STORE_BLK_BYTES);
		     k++)
			;
		if (k)
			rc = xts_decrypt_units(x->xts, slot + i, run, run,
					       STORE_BLK_BYTES, k);
		else
			k = 1; /* a hole */
	}
	return rc;
}

/* read_in_place's reader: decrypt from where lower keeps the ciphertext
 * into the caller's buffer; holes read as zeros. */
struct xts_from {
	struct xts_store *x;
	unsigned char *dst; /* slot first's plaintext goes here */
	uint64_t first;
};

static int decrypt_from(void *arg, const void *src, uint64_t slot, uint32_t n)
{
	struct xts_from *d = arg;
	const unsigned char *p = src;
	unsigned char *out = d->dst + (size_t)(slot - d->first) *
					      STORE_BLK_BYTES;
	uint32_t i, k;
	int rc = 0;

	for (i = 0; i < n && !rc; i += k) {
		size_t at = (size_t)i * STORE_BLK_BYTES;

		for (k = 0; i + k < n &&
			    !blk_is_zero(p + at + (size_t)k * STORE_BLK_BYTES);
		     k++)
			;
		if (k) {
			rc = xts_decrypt_units(d->x->xts, slot + i, p + at,
					       out + at, STORE_BLK_BYTES, k);
		} else {
			memset(out + at, 0, STORE_BLK_BYTES); /* a hole */
			k = 1;
		}
	}
	return rc;
}

static int xts_store_read(struct store *s, void *buf, uint64_t slot,
			  uint32_t nr)
{
	struct xts_store *x = to_xts(s);
	int rc;

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	/* Where lower can show the ciphertext in place (a mapped tmpfs
	 * scratch), decrypt straight out of it: no copy into buf first. */
	if (x->lower->ops->read_in_place) {
		struct xts_from d = { x, buf, slot };

		rc = x->lower->ops->read_in_place(x->lower, slot, nr,
						  decrypt_from, &d);
		if (rc != -EAGAIN)
			return rc;
	}
	/* Decrypt each chunk as it arrives, while the rest are read. */
	if (x->lower->ops->read_each)
		return x->lower->ops->read_each(x->lower, buf, slot, nr,
						decrypt_blks, x);
	rc = store_read(x->lower, buf, slot, nr);
	return rc ? rc : decrypt_blks(x, buf, slot, nr);
}

static int xts_store_discard(struct store *s, uint64_t slot, uint32_t nr)
{
	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	return store_discard(to_xts(s)->lower, slot, nr);
}

static int xts_store_flush(struct store *s)
{
	return store_flush(to_xts(s)->lower);
}

static void xts_store_destroy(struct store *s)
{
	struct xts_store *x = to_xts(s);
	unsigned int i;

	store_destroy(x->lower);
	xts_free(x->xts);
	key_free(x->key);
	for (i = 0; i < XTS_BOUNCE_POOL; i++) {
		free(x->bounce[i].buf);
		pthread_mutex_destroy(&x->bounce[i].lock);
	}
	free(x);
}

static const char *xts_store_io_mode(struct store *s)
{
	return store_io_mode(to_xts(s)->lower);
}

static const struct store_ops xts_store_ops = {
	.name = "xts",
	.read = xts_store_read,
	.write = xts_store_write,
	.discard = xts_store_discard,
	.flush = xts_store_flush,
	.direct = NULL,
	.destroy = xts_store_destroy,
	.io_mode = xts_store_io_mode,
};

/* On failure lower and key stay the caller's. */
int store_xts_new(struct store *lower, struct key *key, struct store **store_r)
{
	struct xts_store *x;
	unsigned int i;
	int rc;

	if (!lower || !key)
		return -EINVAL;
	x = aligned_alloc(64, sizeof(*x));
	if (!x)
		return -ENOMEM;
	memset(x, 0, sizeof(*x));
	rc = xts_new(key, &x->xts);
	if (rc) {
		free(x);
		return rc;
	}
	x->s.ops = &xts_store_ops;
	x->s.nr_blks = lower->nr_blks;
	x->lower = lower;
	x->key = key;
	atomic_init(&x->next_bounce, 0);
	for (i = 0; i < XTS_BOUNCE_POOL; i++)
		pthread_mutex_init(&x->bounce[i].lock, NULL);
	*store_r = &x->s;
	return 0;
}
