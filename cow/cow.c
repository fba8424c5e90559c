/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The copy-on-write view of one virtual disk.
 *
 * What it owns: the block map, the overlay slot allocator, per-block
 * serialisation, copy-up of partial blocks, discard, and space accounting.
 * It sees the base and the overlay only through struct store.
 *
 * The map has one 32-bit entry per 4 KiB block of the virtual disk, kept in
 * leaves of MAP_LEAF_BLKS entries that are allocated on first write, so a
 * large, mostly untouched disk costs almost nothing:
 *   MAP_BASE     never written: read the base (or zeros for a blank disk);
 *   MAP_ZERO     discarded: reads zeros, holds no slot;
 *   MAP_SLOT0+n  in overlay slot n.
 *
 * Invariants:
 * - Every operation on a block holds that block's stripe lock for its whole
 *   duration, so two requests touching one block are serialised and a
 *   partial write's read-merge-write can never lose a concurrent update.
 *   Stripes are per view: no lock is shared between disks.
 * - A slot is published in the map only after its full 4 KiB was written,
 *   so a newly allocated slot never shows what an earlier owner left there.
 * - used_blks counts slots handed out and not freed; it never exceeds
 *   limit_blks, and the budget (if any) is charged for exactly those slots.
 *
 * What it deliberately does not do: persistence (nothing survives the
 * process), caching (stores decide), or any Xen or blkif knowledge.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cow/cow.h"

#define MAP_BASE 0u
#define MAP_ZERO 1u
#define MAP_SLOT0 2u
#define MAP_MAX_SLOTS (UINT32_MAX - MAP_SLOT0)
_Static_assert(COW_MAX_OVERLAY_BLKS <= MAP_MAX_SLOTS + 1,
	       "every overlay slot has a map value");

#define MAP_LEAF_SHIFT 14
#define MAP_LEAF_BLKS (1u << MAP_LEAF_SHIFT)

#define COW_LOCK_STRIPES 256u
_Static_assert(COW_APPLY_MAX_BLKS <= COW_LOCK_STRIPES,
	       "a zero-copy read must not take a stripe twice");

/* Whole blocks handled by one batched store call: 256 KiB. */
#define COW_RUN_MAX 64u

struct cow_budget {
	_Atomic uint64_t used_blks;
	uint64_t limit_blks; /* 0: unlimited */
};

/* A cache line of its own so that stripes do not false-share. */
struct cow_stripe {
	pthread_mutex_t lock;
} __attribute__((aligned(64)));

struct cow_counters {
	_Atomic uint64_t rd_reqs, wr_reqs, discard_reqs, flush_reqs;
	_Atomic uint64_t rd_sectors, wr_sectors;
	_Atomic uint64_t enospc, errors;
};

struct cow {
	enum cow_kind kind;
	uint64_t size_sectors;
	uint64_t nr_blks;
	struct store *base;    /* NULL for blank */
	struct store *overlay; /* NULL for read-only */

	_Atomic(_Atomic uint32_t *) *leaves;
	uint64_t nr_leaves;

	/* Slot allocator: free stack plus a never-used high-water mark. */
	pthread_mutex_t alloc_lock;
	uint32_t *free_slots;
	uint64_t nr_free, free_cap;
	uint64_t next_fresh;
	uint64_t limit_blks;
	_Atomic uint64_t used_blks;
	_Atomic uint64_t peak_blks;
	struct cow_budget *budget;

	struct cow_counters ctr;
	struct cow_stripe stripes[COW_LOCK_STRIPES];
};

/* ---- budget ---- */

int cow_budget_new(uint64_t limit_blks, struct cow_budget **budget_r)
{
	struct cow_budget *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	atomic_init(&b->used_blks, 0);
	b->limit_blks = limit_blks;
	*budget_r = b;
	return 0;
}

void cow_budget_free(struct cow_budget *budget)
{
	free(budget);
}

uint64_t cow_budget_used_blks(const struct cow_budget *budget)
{
	return atomic_load_explicit(&budget->used_blks, memory_order_relaxed);
}

/*
 * Charge nr blocks to the budget, all or nothing: false (and nothing
 * charged) if they do not all fit. A compare-and-swap, so a request that
 * does not fit never takes, even for a moment, room another disk's request
 * would have fitted in.
 */
static bool budget_take(struct cow_budget *b, uint64_t nr)
{
	uint64_t old;

	if (!b)
		return true;
	old = atomic_load_explicit(&b->used_blks, memory_order_relaxed);
	do {
		if (b->limit_blks && (old > b->limit_blks ||
				      nr > b->limit_blks - old))
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		&b->used_blks, &old, old + nr, memory_order_relaxed,
		memory_order_relaxed));
	return true;
}

static void budget_give(struct cow_budget *b, uint64_t nr)
{
	if (b && nr)
		atomic_fetch_sub_explicit(&b->used_blks, nr,
					  memory_order_relaxed);
}

/* ---- the map ---- */

static uint32_t map_get(struct cow *cow, uint64_t blk)
{
	_Atomic uint32_t *leaf = atomic_load_explicit(
		&cow->leaves[blk >> MAP_LEAF_SHIFT], memory_order_acquire);

	if (!leaf)
		return MAP_BASE;
	return atomic_load_explicit(&leaf[blk & (MAP_LEAF_BLKS - 1)],
				    memory_order_acquire);
}

/* Set an entry, allocating its leaf on first use. Caller holds blk's lock. */
static int map_set(struct cow *cow, uint64_t blk, uint32_t val)
{
	_Atomic(_Atomic uint32_t *) *slotp = &cow->leaves[blk >> MAP_LEAF_SHIFT];
	_Atomic uint32_t *leaf = atomic_load_explicit(slotp,
						      memory_order_acquire);

	if (!leaf) {
		_Atomic uint32_t *fresh, *expected = NULL;

		if (val == MAP_BASE)
			return 0; /* an absent leaf already reads MAP_BASE */
		fresh = calloc(MAP_LEAF_BLKS, sizeof(*fresh));
		if (!fresh)
			return -ENOMEM;
		if (atomic_compare_exchange_strong_explicit(
			    slotp, &expected, fresh, memory_order_acq_rel,
			    memory_order_acquire)) {
			leaf = fresh;
		} else {
			free(fresh); /* another block of this leaf won */
			leaf = expected;
		}
	}
	atomic_store_explicit(&leaf[blk & (MAP_LEAF_BLKS - 1)], val,
			      memory_order_release);
	return 0;
}

/* ---- per-block locks ---- */

static pthread_mutex_t *blk_lock(struct cow *cow, uint64_t blk)
{
	pthread_mutex_t *m = &cow->stripes[blk % COW_LOCK_STRIPES].lock;

	pthread_mutex_lock(m);
	return m;
}

/* ---- slots ---- */

/*
 * Take nr free overlay slots into slots_r, all or nothing, charging the
 * disk's limit and the budget: -ENOSPC (and nothing taken) if they do not
 * all fit. The caller publishes them, or gives back the ones it could not
 * use with slot_free().
 */
static int slots_alloc(struct cow *cow, unsigned int nr, uint32_t *slots_r)
{
	uint64_t used;
	unsigned int i;
	int rc = 0;

	if (nr == 0)
		return 0;
	pthread_mutex_lock(&cow->alloc_lock);
	used = atomic_load_explicit(&cow->used_blks, memory_order_relaxed);
	if (nr > cow->limit_blks - used || !budget_take(cow->budget, nr)) {
		rc = -ENOSPC;
		goto out;
	}
	for (i = 0; i < nr; i++) {
		if (cow->nr_free)
			slots_r[i] = cow->free_slots[--cow->nr_free];
		else
			slots_r[i] = (uint32_t)cow->next_fresh++;
	}
	atomic_store_explicit(&cow->used_blks, used + nr, memory_order_relaxed);
out:
	pthread_mutex_unlock(&cow->alloc_lock);
	return rc;
}

/*
 * Blocks were just published: raise the peak to what is held now. Peak
 * counts blocks the map really holds, never slots reserved and given back
 * by a write that failed.
 */
static void note_peak(struct cow *cow)
{
	uint64_t used = atomic_load_explicit(&cow->used_blks,
					     memory_order_relaxed);
	uint64_t peak = atomic_load_explicit(&cow->peak_blks,
					     memory_order_relaxed);

	while (used > peak &&
	       !atomic_compare_exchange_weak_explicit(&cow->peak_blks, &peak,
						      used,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

/*
 * Give a slot back. The free stack can always hold every slot ever handed
 * out (it is grown here, in slots_alloc's shadow), so this cannot fail except
 * for memory, in which case the slot is leaked but accounting stays right.
 */
static void slot_free(struct cow *cow, uint32_t slot)
{
	pthread_mutex_lock(&cow->alloc_lock);
	if (cow->nr_free == cow->free_cap) {
		uint64_t cap = cow->free_cap ? cow->free_cap * 2 : 1024;
		uint32_t *v = realloc(cow->free_slots, cap * sizeof(*v));

		if (!v) {
			/* Lose the slot rather than the accounting. */
			pthread_mutex_unlock(&cow->alloc_lock);
			return;
		}
		cow->free_slots = v;
		cow->free_cap = cap;
	}
	cow->free_slots[cow->nr_free++] = slot;
	atomic_fetch_sub_explicit(&cow->used_blks, 1, memory_order_relaxed);
	budget_give(cow->budget, 1);
	pthread_mutex_unlock(&cow->alloc_lock);
}

/* ---- one block ---- */

/* The bytes of blk as the view shows them before any overlay: base or 0. */
static int read_underlay(struct cow *cow, uint64_t blk, uint32_t state,
			 void *buf)
{
	if (state == MAP_ZERO || !cow->base) {
		memset(buf, 0, STORE_BLK_BYTES);
		return 0;
	}
	return store_read(cow->base, buf, blk, 1);
}

/* Read len bytes at off inside blk into dst. */
static int blk_read(struct cow *cow, uint64_t blk, uint32_t off, uint32_t len,
		    void *dst)
{
	unsigned char tmp[STORE_BLK_BYTES] __attribute__((aligned(64)));
	bool whole = off == 0 && len == STORE_BLK_BYTES;
	pthread_mutex_t *m = blk_lock(cow, blk);
	uint32_t state = map_get(cow, blk);
	int rc = 0;

	if (state >= MAP_SLOT0) {
		uint32_t slot = state - MAP_SLOT0;
		unsigned char *mem = store_direct(cow->overlay, slot);

		if (mem)
			memcpy(dst, mem + off, len);
		else if (whole)
			rc = store_read(cow->overlay, dst, slot, 1);
		else if (!(rc = store_read(cow->overlay, tmp, slot, 1)))
			memcpy(dst, tmp + off, len);
	} else if (state == MAP_ZERO || !cow->base) {
		memset(dst, 0, len);
	} else if (whole) {
		rc = store_read(cow->base, dst, blk, 1);
	} else if (!(rc = store_read(cow->base, tmp, blk, 1))) {
		memcpy(dst, tmp + off, len);
	}
	pthread_mutex_unlock(m);
	if (!whole)
		explicit_bzero(tmp, sizeof(tmp));
	return rc;
}

/* Write len bytes at off inside blk from src, copying up if needed. */
static int blk_write(struct cow *cow, uint64_t blk, uint32_t off, uint32_t len,
		     const void *src)
{
	unsigned char tmp[STORE_BLK_BYTES] __attribute__((aligned(64)));
	bool whole = off == 0 && len == STORE_BLK_BYTES;
	pthread_mutex_t *m = blk_lock(cow, blk);
	uint32_t state = map_get(cow, blk);
	uint32_t slot;
	unsigned char *mem;
	int rc;

	if (state >= MAP_SLOT0) {
		/* Already ours: overwrite in place, never needs space. */
		slot = state - MAP_SLOT0;
		mem = store_direct(cow->overlay, slot);
		if (mem) {
			memcpy(mem + off, src, len);
			rc = 0;
		} else if (whole) {
			rc = store_write(cow->overlay, src, slot, 1);
		} else if (!(rc = store_read(cow->overlay, tmp, slot, 1))) {
			memcpy(tmp + off, src, len);
			rc = store_write(cow->overlay, tmp, slot, 1);
		}
		goto out;
	}

	rc = slots_alloc(cow, 1, &slot);
	if (rc)
		goto out;
	if (whole) {
		rc = store_write(cow->overlay, src, slot, 1);
	} else if (!(rc = read_underlay(cow, blk, state, tmp))) {
		/* Copy-up: the block's old bytes around the new ones. */
		memcpy(tmp + off, src, len);
		rc = store_write(cow->overlay, tmp, slot, 1);
	}
	if (!rc)
		rc = map_set(cow, blk, MAP_SLOT0 + slot);
	if (rc)
		slot_free(cow, slot);
	else
		note_peak(cow);
out:
	pthread_mutex_unlock(m);
	if (!whole)
		explicit_bzero(tmp, sizeof(tmp));
	return rc;
}

/* Make a whole block read zeros and give back its slot. */
static int blk_discard(struct cow *cow, uint64_t blk)
{
	pthread_mutex_t *m = blk_lock(cow, blk);
	uint32_t state = map_get(cow, blk);
	int rc = 0;

	if (state == MAP_ZERO || (state == MAP_BASE && !cow->base))
		goto out; /* already reads zeros */
	rc = map_set(cow, blk, MAP_ZERO);
	if (rc)
		goto out;
	if (state >= MAP_SLOT0) {
		uint32_t slot = state - MAP_SLOT0;

		/* Best effort: the slot is rewritten whole before reuse. */
		(void)store_discard(cow->overlay, slot, 1);
		slot_free(cow, slot);
	}
out:
	pthread_mutex_unlock(m);
	return rc;
}

/* ---- runs of whole blocks ---- */

/*
 * Lock (or unlock) the stripes of blocks [blk, blk + n), n <=
 * COW_LOCK_STRIPES (so no stripe is taken twice).
 * Stripes are taken in ascending stripe order (a run that wraps takes the low stripes
 * first), the one order every path uses, so runs cannot deadlock.
 */
static void run_stripes(struct cow *cow, uint64_t blk, unsigned int n,
			int (*op)(pthread_mutex_t *))
{
	unsigned int s0 = (unsigned int)(blk % COW_LOCK_STRIPES), i;
	unsigned int wrap = s0 + n > COW_LOCK_STRIPES ?
				    s0 + n - COW_LOCK_STRIPES :
				    0;

	for (i = 0; i < wrap; i++)
		op(&cow->stripes[i].lock);
	for (i = s0; i < s0 + n - wrap; i++)
		op(&cow->stripes[i].lock);
}

/* How many entries from i on continue slots[i] consecutively. */
static unsigned int slot_span(const uint32_t *slots, unsigned int i,
			      unsigned int n)
{
	unsigned int j = i + 1;

	while (j < n && slots[j] == slots[j - 1] + 1)
		j++;
	return j - i;
}

/* Copy whole blocks to or from a memory-backed store, slot by slot. */
static bool direct_copy(struct cow *cow, const uint32_t *slots,
			unsigned int n, unsigned char *buf, bool write)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		unsigned char *mem = store_direct(cow->overlay, slots[i]);

		if (!mem)
			return false;
		if (write)
			memcpy(mem, buf + (size_t)i * STORE_BLK_BYTES,
			       STORE_BLK_BYTES);
		else
			memcpy(buf + (size_t)i * STORE_BLK_BYTES, mem,
			       STORE_BLK_BYTES);
	}
	return true;
}

/*
 * Write n whole blocks from src. Blocks already in the overlay are
 * overwritten in place; the others get slots, reserved for the whole run at
 * once (a run that does not fit fails with -ENOSPC and changes nothing),
 * written in batches of consecutive slots, and published only once
 * written. On a store error the blocks before it are written, the new slots
 * not yet published are given back, and nothing after it is touched.
 */
static int run_write(struct cow *cow, uint64_t blk, unsigned int n,
		     const unsigned char *src)
{
	uint32_t slots[COW_RUN_MAX], fresh_slots[COW_RUN_MAX];
	bool fresh[COW_RUN_MAX];
	unsigned int i, j, k, nr_fresh = 0;
	int rc;

	run_stripes(cow, blk, n, pthread_mutex_lock);
	for (i = 0; i < n; i++) {
		uint32_t state = map_get(cow, blk + i);

		fresh[i] = state < MAP_SLOT0;
		if (fresh[i])
			nr_fresh++;
		else
			slots[i] = state - MAP_SLOT0;
	}
	rc = slots_alloc(cow, nr_fresh, fresh_slots);
	if (rc)
		goto out;
	for (i = 0, j = 0; i < n; i++)
		if (fresh[i])
			slots[i] = fresh_slots[j++];
	for (i = 0; i < n && !rc; i += k) {
		unsigned char *p = (unsigned char *)src +
				   (size_t)i * STORE_BLK_BYTES;

		k = slot_span(slots, i, n);
		if (!direct_copy(cow, slots + i, k, p, true))
			rc = store_write(cow->overlay, p, slots[i], k);
		for (j = i; j < i + k && !rc; j++)
			if (fresh[j] &&
			    !(rc = map_set(cow, blk + j, MAP_SLOT0 + slots[j])))
				fresh[j] = false; /* published */
	}
	/* Give back every new slot that was not published. */
	for (j = 0; j < n; j++)
		if (fresh[j])
			slot_free(cow, slots[j]);
	if (nr_fresh)
		note_peak(cow);
out:
	run_stripes(cow, blk, n, pthread_mutex_unlock);
	return rc;
}

/* Read n whole blocks into dst, batching runs of one kind. */
static int run_read(struct cow *cow, uint64_t blk, unsigned int n,
		    unsigned char *dst)
{
	uint32_t state[COW_RUN_MAX], slots[COW_RUN_MAX];
	unsigned int i, k;
	int rc = 0;

	run_stripes(cow, blk, n, pthread_mutex_lock);
	for (i = 0; i < n; i++) {
		state[i] = map_get(cow, blk + i);
		slots[i] = state[i] >= MAP_SLOT0 ? state[i] - MAP_SLOT0 : 0;
	}
	for (i = 0; i < n && !rc; i += k) {
		unsigned char *p = dst + (size_t)i * STORE_BLK_BYTES;

		if (state[i] >= MAP_SLOT0) {
			for (k = 1; i + k < n && state[i + k] >= MAP_SLOT0 &&
				    slots[i + k] == slots[i + k - 1] + 1;
			     k++)
				;
			if (!direct_copy(cow, slots + i, k, p, false))
				rc = store_read(cow->overlay, p, slots[i], k);
		} else if (state[i] == MAP_ZERO || !cow->base) {
			for (k = 1; i + k < n && (state[i + k] == MAP_ZERO ||
						  (state[i + k] == MAP_BASE &&
						   !cow->base));
			     k++)
				;
			memset(p, 0, (size_t)k * STORE_BLK_BYTES);
		} else {
			for (k = 1; i + k < n && state[i + k] == MAP_BASE; k++)
				;
			rc = store_read(cow->base, p, blk + i, k);
		}
	}
	run_stripes(cow, blk, n, pthread_mutex_unlock);
	return rc;
}

/* ---- requests ---- */

/*
 * Check a request of nr_sectors at sector: in range without overflow.
 * Returns 0, -EINVAL (empty) or -ERANGE.
 */
static int check_range(const struct cow *cow, uint64_t sector,
		       uint64_t nr_sectors)
{
	if (nr_sectors == 0)
		return -EINVAL;
	if (sector > cow->size_sectors ||
	    nr_sectors > cow->size_sectors - sector)
		return -ERANGE;
	return 0;
}

/* Total length of iov in sectors, or -EINVAL if any part is not whole. */
static int64_t iov_sectors(const struct iovec *iov, int iovcnt)
{
	uint64_t total = 0;
	int i;

	if (iovcnt <= 0)
		return -EINVAL;
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len % COW_SECTOR_BYTES)
			return -EINVAL;
		total += iov[i].iov_len / COW_SECTOR_BYTES;
	}
	return (int64_t)total;
}

/*
 * Walk the request block by block. Where a block's piece lies in one iovec
 * it is used in place; where it straddles iovecs it is gathered into (for
 * writes) or scattered from (for reads) a bounce buffer.
 */
static int walk(struct cow *cow, uint64_t sector, const struct iovec *iov,
		int iovcnt, bool write)
{
	unsigned char bounce[STORE_BLK_BYTES] __attribute__((aligned(64)));
	uint64_t pos = sector * COW_SECTOR_BYTES;
	size_t iov_off = 0;
	bool used_bounce = false;
	int i = 0, rc = 0;

	while (i < iovcnt) {
		uint64_t blk = pos >> STORE_BLK_SHIFT;
		uint32_t off = pos & (STORE_BLK_BYTES - 1);
		uint32_t len = STORE_BLK_BYTES - off;
		size_t left = 0;
		int j;

		/* How much of the request remains from here. */
		for (j = i; j < iovcnt && left < len; j++)
			left += iov[j].iov_len - (j == i ? iov_off : 0);
		if (len > left)
			len = (uint32_t)left;

		if (off == 0 && len == STORE_BLK_BYTES &&
		    iov[i].iov_len - iov_off >= 2 * STORE_BLK_BYTES) {
			/* Two or more whole blocks in this iovec: one batch. */
			unsigned char *p = (unsigned char *)iov[i].iov_base +
					   iov_off;
			uint64_t n = (iov[i].iov_len - iov_off) /
				     STORE_BLK_BYTES;

			/* The iovec is all request, and the request is
			 * inside the disk: n whole blocks are there. */
			if (n > COW_RUN_MAX)
				n = COW_RUN_MAX;
			len = (uint32_t)(n * STORE_BLK_BYTES);
			rc = write ? run_write(cow, blk, (unsigned int)n, p)
				   : run_read(cow, blk, (unsigned int)n, p);
			if (rc)
				break;
			iov_off += len;
		} else if (iov[i].iov_len - iov_off >= len) {
			unsigned char *p = (unsigned char *)iov[i].iov_base +
					   iov_off;

			rc = write ? blk_write(cow, blk, off, len, p)
				   : blk_read(cow, blk, off, len, p);
			if (rc)
				break;
			iov_off += len;
		} else {
			/* Straddles iovecs: gather or scatter. */
			uint32_t done = 0;
			int k = i;
			size_t k_off = iov_off;

			used_bounce = true;
			if (write) {
				while (done < len) {
					size_t n = iov[k].iov_len - k_off;

					if (n > len - done)
						n = len - done;
					memcpy(bounce + done,
					       (unsigned char *)iov[k].iov_base +
						       k_off,
					       n);
					done += n;
					k_off += n;
					if (k_off == iov[k].iov_len) {
						k++;
						k_off = 0;
					}
				}
				rc = blk_write(cow, blk, off, len, bounce);
			} else {
				rc = blk_read(cow, blk, off, len, bounce);
				while (!rc && done < len) {
					size_t n = iov[k].iov_len - k_off;

					if (n > len - done)
						n = len - done;
					memcpy((unsigned char *)iov[k].iov_base +
						       k_off,
					       bounce + done, n);
					done += n;
					k_off += n;
					if (k_off == iov[k].iov_len) {
						k++;
						k_off = 0;
					}
				}
			}
			if (rc)
				break;
			i = k;
			iov_off = k_off;
			pos += len;
			continue;
		}
		pos += len;
		if (iov_off == iov[i].iov_len) {
			i++;
			iov_off = 0;
		}
	}
	if (used_bounce)
		explicit_bzero(bounce, sizeof(bounce));
	return rc;
}

static void count_error(struct cow *cow, int rc)
{
	if (rc == -ENOSPC)
		atomic_fetch_add_explicit(&cow->ctr.enospc, 1,
					  memory_order_relaxed);
	else if (rc)
		atomic_fetch_add_explicit(&cow->ctr.errors, 1,
					  memory_order_relaxed);
}

int cow_readv(struct cow *cow, uint64_t sector, const struct iovec *iov,
	      int iovcnt)
{
	int64_t nr = iov_sectors(iov, iovcnt);
	int rc;

	rc = nr < 0 ? (int)nr : check_range(cow, sector, (uint64_t)nr);
	if (!rc)
		rc = walk(cow, sector, iov, iovcnt, false);
	atomic_fetch_add_explicit(&cow->ctr.rd_reqs, 1, memory_order_relaxed);
	if (!rc)
		atomic_fetch_add_explicit(&cow->ctr.rd_sectors, (uint64_t)nr,
					  memory_order_relaxed);
	count_error(cow, rc);
	return rc;
}

int cow_writev(struct cow *cow, uint64_t sector, const struct iovec *iov,
	       int iovcnt)
{
	int64_t nr = iov_sectors(iov, iovcnt);
	int rc;

	if (cow->kind == COW_KIND_READONLY)
		rc = -EROFS;
	else
		rc = nr < 0 ? (int)nr : check_range(cow, sector, (uint64_t)nr);
	if (!rc)
		rc = walk(cow, sector, iov, iovcnt, true);
	atomic_fetch_add_explicit(&cow->ctr.wr_reqs, 1, memory_order_relaxed);
	if (!rc)
		atomic_fetch_add_explicit(&cow->ctr.wr_sectors, (uint64_t)nr,
					  memory_order_relaxed);
	count_error(cow, rc);
	return rc;
}

int cow_read(struct cow *cow, void *buf, uint64_t sector, uint32_t nr_sectors)
{
	struct iovec iov = { .iov_base = buf,
			     .iov_len = (size_t)nr_sectors * COW_SECTOR_BYTES };

	return cow_readv(cow, sector, &iov, 1);
}

int cow_write(struct cow *cow, const void *buf, uint64_t sector,
	      uint32_t nr_sectors)
{
	struct iovec iov = { .iov_base = (void *)buf,
			     .iov_len = (size_t)nr_sectors * COW_SECTOR_BYTES };

	return cow_writev(cow, sector, &iov, 1);
}

int cow_read_apply(struct cow *cow, uint64_t first_blk, uint32_t nr_blks,
		   uint64_t nr_sectors, unsigned char *scratch,
		   int (*fn)(void *arg, unsigned char *const *blks,
			     uint32_t nr_blks),
		   void *arg)
{
	unsigned char *ptrs[COW_APPLY_MAX_BLKS];
	uint32_t i;
	int rc = 0;

	if (nr_blks == 0 || nr_blks > COW_APPLY_MAX_BLKS ||
	    first_blk > cow->nr_blks || nr_blks > cow->nr_blks - first_blk) {
		rc = -ERANGE;
		goto out;
	}
	/* At most one block per stripe: ascending stripe order, as always. */
	run_stripes(cow, first_blk, nr_blks, pthread_mutex_lock);
	for (i = 0; i < nr_blks && !rc; i++) {
		uint64_t blk = first_blk + i;
		uint32_t state = map_get(cow, blk);
		unsigned char *mine = scratch + (size_t)i * STORE_BLK_BYTES;

		ptrs[i] = NULL;
		if (state >= MAP_SLOT0) {
			ptrs[i] = store_direct(cow->overlay, state - MAP_SLOT0);
			if (!ptrs[i])
				rc = store_read(cow->overlay, mine,
						state - MAP_SLOT0, 1);
		} else {
			rc = read_underlay(cow, blk, state, mine);
		}
		if (!ptrs[i])
			ptrs[i] = mine;
	}
	if (!rc)
		rc = fn(arg, ptrs, nr_blks);
	run_stripes(cow, first_blk, nr_blks, pthread_mutex_unlock);
out:
	atomic_fetch_add_explicit(&cow->ctr.rd_reqs, 1, memory_order_relaxed);
	if (!rc)
		atomic_fetch_add_explicit(&cow->ctr.rd_sectors, nr_sectors,
					  memory_order_relaxed);
	count_error(cow, rc);
	return rc;
}

int cow_discard(struct cow *cow, uint64_t sector, uint64_t nr_sectors)
{
	uint64_t first, end;
	int rc;

	if (cow->kind == COW_KIND_READONLY)
		rc = -EROFS;
	else
		rc = check_range(cow, sector, nr_sectors);
	if (rc)
		goto out;
	/* Whole blocks only: round the start up and the end down. */
	first = (sector + COW_SECTORS_PER_BLK - 1) / COW_SECTORS_PER_BLK;
	end = (sector + nr_sectors) / COW_SECTORS_PER_BLK;
	/* The disk's last block may be partial: its end is the disk's end. */
	if (sector + nr_sectors == cow->size_sectors)
		end = cow->nr_blks;
	for (; first < end && !rc; first++)
		rc = blk_discard(cow, first);
out:
	atomic_fetch_add_explicit(&cow->ctr.discard_reqs, 1,
				  memory_order_relaxed);
	count_error(cow, rc);
	return rc;
}

int cow_flush(struct cow *cow)
{
	int rc = cow->overlay ? store_flush(cow->overlay) : 0;

	atomic_fetch_add_explicit(&cow->ctr.flush_reqs, 1,
				  memory_order_relaxed);
	count_error(cow, rc);
	return rc;
}

/* ---- life cycle ---- */

int cow_new(const struct cow_params *p, struct cow **cow_r)
{
	struct cow *cow = NULL;
	uint64_t size_sectors = p->size_sectors, limit = p->limit_blks;
	unsigned int i;
	int rc = -EINVAL;

	switch (p->kind) {
	case COW_KIND_COW:
	case COW_KIND_READONLY:
		if (!p->base || size_sectors != 0 ||
		    p->base_bytes < COW_SECTOR_BYTES)
			goto fail;
		if ((p->kind == COW_KIND_COW) != (p->overlay != NULL))
			goto fail;
		size_sectors = p->base_bytes / COW_SECTOR_BYTES;
		break;
	case COW_KIND_BLANK:
		if (p->base || !p->overlay || size_sectors == 0)
			goto fail;
		break;
	default:
		goto fail;
	}
	if (p->overlay) {
		if (limit == 0)
			limit = p->overlay->nr_blks;
		if (limit > p->overlay->nr_blks || limit > COW_MAX_OVERLAY_BLKS)
			goto fail;
	}
	if (size_sectors > COW_MAX_DISK_BLKS * COW_SECTORS_PER_BLK)
		goto fail;

	rc = -ENOMEM;
	cow = aligned_alloc(64, sizeof(*cow));
	if (!cow)
		goto fail;
	memset(cow, 0, sizeof(*cow));
	cow->kind = p->kind;
	cow->size_sectors = size_sectors;
	cow->nr_blks = (size_sectors + COW_SECTORS_PER_BLK - 1) /
		       COW_SECTORS_PER_BLK;
	cow->nr_leaves = (cow->nr_blks + MAP_LEAF_BLKS - 1) / MAP_LEAF_BLKS;
	cow->leaves = calloc(cow->nr_leaves, sizeof(*cow->leaves));
	if (!cow->leaves) {
		free(cow);
		goto fail;
	}
	cow->base = p->base;
	cow->overlay = p->overlay;
	cow->limit_blks = limit;
	cow->budget = p->budget;
	pthread_mutex_init(&cow->alloc_lock, NULL);
	for (i = 0; i < COW_LOCK_STRIPES; i++)
		pthread_mutex_init(&cow->stripes[i].lock, NULL);
	*cow_r = cow;
	return 0;
fail:
	store_destroy(p->base);
	store_destroy(p->overlay);
	return rc;
}

void cow_free(struct cow *cow)
{
	uint64_t i;

	if (!cow)
		return;
	/* The stores wipe what they hold (RAM, the key) as they go. */
	store_destroy(cow->overlay);
	store_destroy(cow->base);
	budget_give(cow->budget, atomic_load(&cow->used_blks));
	for (i = 0; i < cow->nr_leaves; i++)
		free(atomic_load(&cow->leaves[i]));
	free(cow->leaves);
	free(cow->free_slots);
	pthread_mutex_destroy(&cow->alloc_lock);
	for (i = 0; i < COW_LOCK_STRIPES; i++)
		pthread_mutex_destroy(&cow->stripes[i].lock);
	free(cow);
}

uint64_t cow_size_sectors(const struct cow *cow)
{
	return cow->size_sectors;
}

enum cow_kind cow_kind(const struct cow *cow)
{
	return cow->kind;
}

void cow_get_stats(const struct cow *cow, struct cow_stats *st)
{
	struct cow *c = (struct cow *)cow; /* atomics need non-const */

	memset(st, 0, sizeof(*st));
	st->size_sectors = c->size_sectors;
	st->used_blks = atomic_load_explicit(&c->used_blks,
					     memory_order_relaxed);
	st->peak_blks = atomic_load_explicit(&c->peak_blks,
					     memory_order_relaxed);
	st->limit_blks = c->limit_blks;
	st->used_bytes = st->used_blks * STORE_BLK_BYTES;
	st->rd_reqs = atomic_load_explicit(&c->ctr.rd_reqs,
					   memory_order_relaxed);
	st->wr_reqs = atomic_load_explicit(&c->ctr.wr_reqs,
					   memory_order_relaxed);
	st->discard_reqs = atomic_load_explicit(&c->ctr.discard_reqs,
						memory_order_relaxed);
	st->flush_reqs = atomic_load_explicit(&c->ctr.flush_reqs,
					      memory_order_relaxed);
	st->rd_sectors = atomic_load_explicit(&c->ctr.rd_sectors,
					      memory_order_relaxed);
	st->wr_sectors = atomic_load_explicit(&c->ctr.wr_sectors,
					      memory_order_relaxed);
	st->enospc = atomic_load_explicit(&c->ctr.enospc,
					  memory_order_relaxed);
	st->errors = atomic_load_explicit(&c->ctr.errors,
					  memory_order_relaxed);
}
