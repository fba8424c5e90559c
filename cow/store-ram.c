/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * RAM store: overlay slots in anonymous memory.
 *
 * What it owns: one mapping of nr_blks * 4 KiB, reserved up front with
 * MAP_NORESERVE so that an unused disk costs address space, not memory.
 * The first write into a chunk of RAM_CHUNK_BYTES (or the first direct() of
 * a slot in it) locks it on fault (mlock2 MLOCK_ONFAULT: each page is
 * locked as it is first touched, so it never reaches swap, and only pages
 * written are resident) and marks it MADV_DONTDUMP.
 *
 * Invariants:
 * - A slot's bytes are only ever written after its chunk is locked, so guest
 *   data never reaches swap or a core file.
 * - chunk_ready[c] goes 0 -> 1 once, with release ordering, after the lock
 *   succeeded; readers test it with acquire ordering. Only that first touch
 *   takes the store's mutex; the steady state is lock-free.
 * - Untouched chunks read as zeros without being faulted in.
 * - destroy() wipes every touched chunk with OPENSSL_cleanse() before
 *   munlock() and munmap(), so no guest data goes back to the kernel.
 *
 * What it deliberately does not do: give memory back on discard (a locked
 * chunk stays committed until destroy; the slot is zeroed instead, so a
 * later read of it cannot show what was there).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/crypto.h>

#include "cow/store-local.h"

#define RAM_CHUNK_SHIFT 21 /* 2 MiB: one huge page, 512 slots */
#define RAM_CHUNK_BYTES ((size_t)1 << RAM_CHUNK_SHIFT)
#define RAM_SLOTS_PER_CHUNK (RAM_CHUNK_BYTES / STORE_BLK_BYTES)

struct ram_store {
	struct store s;
	unsigned char *mem;
	size_t bytes;
	size_t nr_chunks;
	atomic_uchar *chunk_ready;
	pthread_mutex_t touch_lock; /* serialises first touches only */
};

static struct ram_store *to_ram(struct store *s)
{
	return (struct ram_store *)s;
}

static size_t chunk_len(const struct ram_store *r, size_t c)
{
	size_t off = c << RAM_CHUNK_SHIFT;

	return r->bytes - off < RAM_CHUNK_BYTES ? r->bytes - off :
						  RAM_CHUNK_BYTES;
}

static bool chunk_is_ready(const struct ram_store *r, size_t c)
{
	return atomic_load_explicit(&r->chunk_ready[c], memory_order_acquire);
}

/* Lock chunk c and exclude it from dumps, once. */
static int chunk_touch(struct ram_store *r, size_t c)
{
	int rc = 0;

	if (chunk_is_ready(r, c))
		return 0;
	pthread_mutex_lock(&r->touch_lock);
	if (!atomic_load_explicit(&r->chunk_ready[c], memory_order_relaxed)) {
		rc = key_protect_memory_lazy(r->mem + (c << RAM_CHUNK_SHIFT),
					     chunk_len(r, c));
		if (!rc)
			atomic_store_explicit(&r->chunk_ready[c], 1,
					      memory_order_release);
	}
	pthread_mutex_unlock(&r->touch_lock);
	return rc;
}

static int ram_read(struct store *s, void *buf, uint64_t slot, uint32_t nr)
{
	struct ram_store *r = to_ram(s);
	unsigned char *dst = buf;
	uint64_t end = slot + nr;

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	while (slot < end) {
		size_t c = slot / RAM_SLOTS_PER_CHUNK;
		uint64_t stop = (c + 1) * RAM_SLOTS_PER_CHUNK;
		size_t len;

		if (stop > end)
			stop = end;
		len = (stop - slot) * STORE_BLK_BYTES;
		if (chunk_is_ready(r, c))
			memcpy(dst, r->mem + slot * STORE_BLK_BYTES, len);
		else
			memset(dst, 0, len);
		dst += len;
		slot = stop;
	}
	return 0;
}

static int ram_write(struct store *s, const void *buf, uint64_t slot,
		     uint32_t nr)
{
	struct ram_store *r = to_ram(s);
	size_t c, first = slot / RAM_SLOTS_PER_CHUNK,
		  last = (slot + nr - 1) / RAM_SLOTS_PER_CHUNK;
	int rc;

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	if (!nr)
		return 0;
	/* Lock every chunk first: nothing is written if one cannot be. */
	for (c = first; c <= last; c++) {
		rc = chunk_touch(r, c);
		if (rc)
			return rc;
	}
	memcpy(r->mem + slot * STORE_BLK_BYTES, buf,
	       (size_t)nr * STORE_BLK_BYTES);
	return 0;
}

static int ram_discard(struct store *s, uint64_t slot, uint32_t nr)
{
	struct ram_store *r = to_ram(s);
	uint64_t end = slot + nr;

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	/* Untouched chunks already read as zeros. */
	for (; slot < end; slot++)
		if (chunk_is_ready(r, slot / RAM_SLOTS_PER_CHUNK))
			memset(r->mem + slot * STORE_BLK_BYTES, 0,
			       STORE_BLK_BYTES);
	return 0;
}

/* Memory has no write-back cache to order. */
static int ram_flush(struct store *s)
{
	return 0;
}

static void *ram_direct(struct store *s, uint64_t slot)
{
	struct ram_store *r = to_ram(s);

	if (slot >= s->nr_blks || chunk_touch(r, slot / RAM_SLOTS_PER_CHUNK))
		return NULL;
	return r->mem + slot * STORE_BLK_BYTES;
}

static void ram_destroy(struct store *s)
{
	struct ram_store *r = to_ram(s);
	size_t c;

	for (c = 0; c < r->nr_chunks; c++) {
		unsigned char *p = r->mem + (c << RAM_CHUNK_SHIFT);

		if (!chunk_is_ready(r, c))
			continue;
		OPENSSL_cleanse(p, chunk_len(r, c));
		munlock(p, chunk_len(r, c));
	}
	munmap(r->mem, r->bytes);
	pthread_mutex_destroy(&r->touch_lock);
	free(r->chunk_ready);
	free(r);
}

static const struct store_ops ram_ops = {
	.name = "ram",
	.read = ram_read,
	.write = ram_write,
	.discard = ram_discard,
	.flush = ram_flush,
	.direct = ram_direct,
	.destroy = ram_destroy,
};

int store_ram_new(uint64_t nr_blks, struct store **store_r)
{
	struct ram_store *r;
	size_t c;

	if (nr_blks == 0 || nr_blks > SIZE_MAX / STORE_BLK_BYTES)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->s.ops = &ram_ops;
	r->s.nr_blks = nr_blks;
	r->bytes = (size_t)nr_blks * STORE_BLK_BYTES;
	r->nr_chunks = (r->bytes + RAM_CHUNK_BYTES - 1) / RAM_CHUNK_BYTES;
	r->chunk_ready = malloc(r->nr_chunks * sizeof(*r->chunk_ready));
	r->mem = mmap(NULL, r->bytes, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!r->chunk_ready || r->mem == MAP_FAILED) {
		if (r->mem != MAP_FAILED)
			munmap(r->mem, r->bytes);
		free(r->chunk_ready);
		free(r);
		return -ENOMEM;
	}
	for (c = 0; c < r->nr_chunks; c++)
		atomic_init(&r->chunk_ready[c], 0);
	pthread_mutex_init(&r->touch_lock, NULL);
	*store_r = &r->s;
	return 0;
}
