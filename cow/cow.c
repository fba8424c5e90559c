/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The copy-on-write view of one virtual disk: the request engine.
 *
 * What it owns: per-block serialisation, copy-up of partial blocks,
 * discard, and the request counters. The block map, the slot allocator and
 * the space accounting are cow/map.c's; the base and the overlay are seen
 * only through struct store.
 *
 * Every request handler has the same three parts, in this order:
 *   unaligned head   a first block the request covers only partly;
 *   aligned body     whole blocks, in runs of up to COW_RUN_MAX, each run
 *                    under its blocks' locks at once;
 *   unaligned tail   a last block the request covers only partly (also the
 *                    disk's own last block when the disk size is not a
 *                    whole number of blocks).
 * Partial blocks go through blk_read() / blk_write() (read-merge-write),
 * whole blocks through run_read() / run_write().
 *
 * Invariants:
 * - Every operation on a block holds that block's stripe lock for its whole
 *   duration, so two requests touching one block are serialised and a
 *   partial write's read-merge-write can never lose a concurrent update.
 *   Stripes are per view: no lock is shared between disks. Several stripes
 *   are always taken in ascending order (run_stripes()), so runs cannot
 *   deadlock.
 * - A slot is published in the map only after its full 4 KiB was written,
 *   so a newly allocated slot never shows what an earlier owner left there.
 * - The bytes of a block as the view shows it come from one place,
 *   blk_bytes(): the overlay, the base, or zeros.
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
#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cow/map.h"

#define COW_LOCK_STRIPES 256u
_Static_assert(COW_APPLY_MAX_BLKS <= COW_LOCK_STRIPES,
	       "a zero-copy read must not take a stripe twice");

/* Whole blocks handled by one batched store call: 256 KiB. */
#define COW_RUN_MAX 64u

/* A cache line of its own so that stripes do not false-share. */
struct cow_stripe {
	pthread_mutex_t lock;
} __attribute__((aligned(64)));

struct cow_counters {
#define COW_COUNTER_FIELD(name) _Atomic uint64_t name;
	COW_COUNTERS(COW_COUNTER_FIELD)
#undef COW_COUNTER_FIELD
};

struct cow {
	enum cow_kind kind;
	uint64_t size_sectors;
	uint64_t nr_blks;
	struct store *base;    /* NULL for blank */
	struct store *overlay; /* NULL for read-only */
	struct cow_map map;
	struct cow_counters ctr;
	struct cow_stripe stripes[COW_LOCK_STRIPES];
};

/* What a hole reads as: shared, never written. */
static const unsigned char zero_blk[STORE_BLK_BYTES]
	__attribute__((aligned(64)));

#define COUNT(cow, field, n)                                                   \
	atomic_fetch_add_explicit(&(cow)->ctr.field, (n), memory_order_relaxed)

/* ---- locks ---- */

static pthread_mutex_t *blk_lock(struct cow *cow, uint64_t blk)
{
	pthread_mutex_t *m = &cow->stripes[blk % COW_LOCK_STRIPES].lock;

	pthread_mutex_lock(m);
	return m;
}

/*
 * Lock (or unlock) the stripes of blocks [blk, blk + n), n <=
 * COW_LOCK_STRIPES (so no stripe is taken twice), in ascending stripe order
 * (a run that wraps takes the low stripes first): the one order every path
 * uses.
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

/* ---- one block ---- */

/*
 * The block's 4 KiB as the view shows it, under its lock: a pointer into
 * the overlay where the overlay is memory, to a shared zero block for a
 * hole, or else to scratch (4 KiB), where the block was read. The pointer
 * is for reading only.
 */
static int blk_bytes(struct cow *cow, uint64_t blk, uint32_t state,
		     unsigned char *scratch, const unsigned char **p_r)
{
	int rc = 0;

	if (state >= MAP_SLOT0) {
		unsigned char *mem =
			store_direct(cow->overlay, state - MAP_SLOT0);

		if (mem) {
			*p_r = mem;
			return 0;
		}
		rc = store_read(cow->overlay, scratch, state - MAP_SLOT0, 1);
	} else if (state == MAP_ZERO || !cow->base) {
		*p_r = zero_blk;
		return 0;
	} else {
		rc = store_read(cow->base, scratch, blk, 1);
	}
	*p_r = scratch;
	return rc;
}

/* Read len bytes at off inside blk (a partial block) into dst. */
static int blk_read(struct cow *cow, uint64_t blk, uint32_t off, uint32_t len,
		    void *dst)
{
	unsigned char tmp[STORE_BLK_BYTES] __attribute__((aligned(64)));
	pthread_mutex_t *m = blk_lock(cow, blk);
	const unsigned char *p;
	int rc;

	rc = blk_bytes(cow, blk, map_get(&cow->map, blk), tmp, &p);
	if (!rc)
		memcpy(dst, p + off, len);
	pthread_mutex_unlock(m);
	explicit_bzero(tmp, sizeof(tmp));
	return rc;
}

/*
 * Write len bytes at off inside blk (a partial block) from src: in place
 * where the overlay is memory, else read-merge-write; a block not yet in
 * the overlay gets a slot and its old bytes are copied up around the new.
 */
static int blk_write(struct cow *cow, uint64_t blk, uint32_t off, uint32_t len,
		     const void *src)
{
	unsigned char tmp[STORE_BLK_BYTES] __attribute__((aligned(64)));
	pthread_mutex_t *m = blk_lock(cow, blk);
	uint32_t state = map_get(&cow->map, blk), slot;
	bool fresh = state < MAP_SLOT0;
	const unsigned char *old;
	unsigned char *mem;
	int rc;

	if (!fresh && (mem = store_direct(cow->overlay, state - MAP_SLOT0))) {
		memcpy(mem + off, src, len);
		rc = 0;
		goto out;
	}
	if (fresh) {
		rc = slots_alloc(&cow->map, 1, &slot);
		if (rc)
			goto out;
	} else {
		slot = state - MAP_SLOT0;
	}
	rc = blk_bytes(cow, blk, state, tmp, &old);
	if (!rc) {
		if (old != tmp)
			memcpy(tmp, old, STORE_BLK_BYTES);
		memcpy(tmp + off, src, len);
		rc = store_write(cow->overlay, tmp, slot, 1);
	}
	if (fresh) {
		if (!rc)
			rc = map_set(&cow->map, blk, MAP_SLOT0 + slot);
		if (rc)
			slot_free(&cow->map, slot);
		else
			map_note_peak(&cow->map);
	}
out:
	pthread_mutex_unlock(m);
	explicit_bzero(tmp, sizeof(tmp));
	return rc;
}

/* Make a whole block read zeros and give back its slot. */
static int blk_discard(struct cow *cow, uint64_t blk)
{
	pthread_mutex_t *m = blk_lock(cow, blk);
	uint32_t state = map_get(&cow->map, blk);
	int rc = 0;

	if (state == MAP_ZERO || (state == MAP_BASE && !cow->base))
		goto out; /* already reads zeros */
	rc = map_set(&cow->map, blk, MAP_ZERO);
	if (rc)
		goto out;
	if (state >= MAP_SLOT0) {
		uint32_t slot = state - MAP_SLOT0;

		/* Best effort: the slot is rewritten whole before reuse. */
		(void)store_discard(cow->overlay, slot, 1);
		slot_free(&cow->map, slot);
	}
out:
	pthread_mutex_unlock(m);
	return rc;
}

/* ---- runs of whole blocks ---- */

/* How many entries from i on continue slots[i] consecutively. */
static unsigned int slot_span(const uint32_t *slots, unsigned int i,
			      unsigned int n)
{
	unsigned int j = i + 1;

	while (j < n && slots[j] == slots[j - 1] + 1)
		j++;
	return j - i;
}

/*
 * A whole block into a RAM overlay's slot. On x86-64 with
 * streaming stores: the overlay is written far more than it is read back
 * soon, and a plain copy first reads each destination line into the cache
 * (most of the cost of writing an overlay bigger than the cache). They are
 * weakly ordered: block_stream_done() fences them before anything else
 * (the map's publication, a lock's release) may be seen.
 */
static void block_stream(unsigned char *dst, const unsigned char *src)
{
#if defined(__x86_64__) && defined(__SSE2__)
	__m128i *d = (__m128i *)(void *)dst;
	const __m128i *s = (const __m128i *)(const void *)src;
	unsigned int i;

	if ((uintptr_t)dst % sizeof(*d)) { /* streaming stores need it */
		memcpy(dst, src, STORE_BLK_BYTES);
		return;
	}
	for (i = 0; i < STORE_BLK_BYTES / sizeof(*d); i += 4) {
		__m128i a = _mm_loadu_si128(s + i),
			b = _mm_loadu_si128(s + i + 1),
			c = _mm_loadu_si128(s + i + 2),
			e = _mm_loadu_si128(s + i + 3);

		_mm_stream_si128(d + i, a);
		_mm_stream_si128(d + i + 1, b);
		_mm_stream_si128(d + i + 2, c);
		_mm_stream_si128(d + i + 3, e);
	}
#else
	memcpy(dst, src, STORE_BLK_BYTES);
#endif
}

static void block_stream_done(void)
{
#if defined(__x86_64__) && defined(__SSE2__)
	_mm_sfence();
#endif
}

/* Copy whole blocks to or from a memory-backed store, slot by slot. */
static bool direct_copy(struct cow *cow, const uint32_t *slots,
			unsigned int n, unsigned char *buf, bool write)
{
	bool ok = true;
	unsigned int i;

	for (i = 0; i < n && ok; i++) {
		unsigned char *mem = store_direct(cow->overlay, slots[i]);

		if (!mem)
			ok = false;
		else if (write)
			block_stream(mem, buf + (size_t)i * STORE_BLK_BYTES);
		else
			memcpy(buf + (size_t)i * STORE_BLK_BYTES, mem,
			       STORE_BLK_BYTES);
	}
	if (write)
		block_stream_done();
	return ok;
}

/*
 * Under the blocks' locks: the map state of each block of [blk, blk + n)
 * and its slot, its own or (fresh[i]) a new one, reserved for the whole run
 * at once. -ENOSPC, and nothing taken, if they do not all fit. The caller
 * publishes the new slots it wrote and gives back the others.
 */
static int run_slots(struct cow *cow, uint64_t blk, unsigned int n,
		     uint32_t *state, uint32_t *slots, bool *fresh,
		     unsigned int *nr_fresh_r)
{
	uint32_t fresh_slots[COW_APPLY_MAX_BLKS];
	unsigned int i, j, nr_fresh = 0;
	int rc;

	for (i = 0; i < n; i++) {
		state[i] = map_get(&cow->map, blk + i);
		fresh[i] = state[i] < MAP_SLOT0;
		if (fresh[i])
			nr_fresh++;
		else
			slots[i] = state[i] - MAP_SLOT0;
	}
	rc = slots_alloc(&cow->map, nr_fresh, fresh_slots);
	if (rc)
		return rc;
	for (i = 0, j = 0; i < n; i++)
		if (fresh[i])
			slots[i] = fresh_slots[j++];
	*nr_fresh_r = nr_fresh;
	return 0;
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
	uint32_t state[COW_RUN_MAX], slots[COW_RUN_MAX];
	bool fresh[COW_RUN_MAX];
	unsigned int i, j, k, nr_fresh = 0;
	int rc;

	run_stripes(cow, blk, n, pthread_mutex_lock);
	rc = run_slots(cow, blk, n, state, slots, fresh, &nr_fresh);
	if (rc)
		goto out;
	for (i = 0; i < n && !rc; i += k) {
		unsigned char *p = (unsigned char *)src +
				   (size_t)i * STORE_BLK_BYTES;

		k = slot_span(slots, i, n);
		if (!direct_copy(cow, slots + i, k, p, true))
			rc = store_write(cow->overlay, p, slots[i], k);
		for (j = i; j < i + k && !rc; j++)
			if (fresh[j] && !(rc = map_set(&cow->map, blk + j,
						       MAP_SLOT0 + slots[j])))
				fresh[j] = false; /* published */
	}
	/* Give back every new slot that was not published. */
	for (j = 0; j < n; j++)
		if (fresh[j])
			slot_free(&cow->map, slots[j]);
	if (nr_fresh)
		map_note_peak(&cow->map);
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
		state[i] = map_get(&cow->map, blk + i);
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

static void count_error(struct cow *cow, int rc);

/* A write: counted once, when it is answered. One the caller holds on
 * -ENOSPC (COW_HOLD_ON_FULL) is not answered yet: it is tried again, and
 * counted by the try that succeeds (or by the caller, if it gives up). */
static void count_write(struct cow *cow, int rc, uint32_t nr_sectors,
			unsigned int flags)
{
	if (rc == -ENOSPC && (flags & COW_HOLD_ON_FULL))
		return;
	COUNT(cow, wr_reqs, 1);
	if (!rc)
		COUNT(cow, wr_sectors, nr_sectors);
	count_error(cow, rc);
}

void cow_count_failed_write(struct cow *cow, int rc)
{
	COUNT(cow, wr_reqs, 1);
	count_error(cow, rc);
}

static void count_error(struct cow *cow, int rc)
{
	if (rc == -ENOSPC)
		COUNT(cow, enospc, 1);
	else if (rc)
		COUNT(cow, errors, 1);
}

/* The smaller of a block's remainder and what is left of the request. */
static uint32_t piece(uint32_t off, uint64_t left)
{
	uint32_t room = STORE_BLK_BYTES - off;

	return left < room ? (uint32_t)left : room;
}

/* Whole blocks in the next run of the body: at most COW_RUN_MAX. */
static unsigned int run_len(uint64_t left)
{
	uint64_t n = left / STORE_BLK_BYTES;

	return n > COW_RUN_MAX ? COW_RUN_MAX : (unsigned int)n;
}

static int view_read(struct cow *cow, unsigned char *buf, uint64_t pos,
		     uint64_t len)
{
	uint64_t blk = pos / STORE_BLK_BYTES;
	uint32_t off = (uint32_t)(pos % STORE_BLK_BYTES), n;
	int rc;

	/* Unaligned head */
	if (off) {
		n = piece(off, len);
		rc = blk_read(cow, blk, off, n, buf);
		if (rc)
			return rc;
		buf += n;
		len -= n;
		blk++;
	}
	/* Aligned body */
	while (len >= STORE_BLK_BYTES) {
		unsigned int k = run_len(len);

		rc = run_read(cow, blk, k, buf);
		if (rc)
			return rc;
		buf += (size_t)k * STORE_BLK_BYTES;
		len -= (uint64_t)k * STORE_BLK_BYTES;
		blk += k;
	}
	/* Unaligned tail */
	if (len)
		return blk_read(cow, blk, 0, (uint32_t)len, buf);
	return 0;
}

static int view_write(struct cow *cow, const unsigned char *buf, uint64_t pos,
		      uint64_t len)
{
	uint64_t blk = pos / STORE_BLK_BYTES;
	uint32_t off = (uint32_t)(pos % STORE_BLK_BYTES), n;
	int rc;

	/* Unaligned head */
	if (off) {
		n = piece(off, len);
		rc = blk_write(cow, blk, off, n, buf);
		if (rc)
			return rc;
		buf += n;
		len -= n;
		blk++;
	}
	/* Aligned body */
	while (len >= STORE_BLK_BYTES) {
		unsigned int k = run_len(len);

		rc = run_write(cow, blk, k, buf);
		if (rc)
			return rc;
		buf += (size_t)k * STORE_BLK_BYTES;
		len -= (uint64_t)k * STORE_BLK_BYTES;
		blk += k;
	}
	/* Unaligned tail */
	if (len)
		return blk_write(cow, blk, 0, (uint32_t)len, buf);
	return 0;
}

int cow_read(struct cow *cow, void *buf, uint64_t sector, uint32_t nr_sectors)
{
	int rc = check_range(cow, sector, nr_sectors);

	if (!rc)
		rc = view_read(cow, buf, sector * COW_SECTOR_BYTES,
			       (uint64_t)nr_sectors * COW_SECTOR_BYTES);
	COUNT(cow, rd_reqs, 1);
	if (!rc)
		COUNT(cow, rd_sectors, nr_sectors);
	count_error(cow, rc);
	return rc;
}

int cow_read_extents(struct cow *cow, uint64_t sector, uint32_t nr_sectors,
		     unsigned char *scratch, size_t scratch_bytes,
		     int (*fn)(void *arg, const struct cow_extent *e),
		     void *arg)
{
	uint64_t pos = sector * COW_SECTOR_BYTES, end;
	int rc = check_range(cow, sector, nr_sectors), view_rc;

	if (!rc && scratch_bytes < STORE_BLK_BYTES)
		rc = -EINVAL;
	view_rc = rc;
	end = pos + (uint64_t)nr_sectors * COW_SECTOR_BYTES;
	while (!rc && pos < end) {
		struct cow_extent e = { .data = scratch,
					.len = end - pos < scratch_bytes ?
						       end - pos :
						       scratch_bytes };

		view_rc = rc = view_read(cow, scratch, pos, e.len);
		if (!rc)
			rc = fn(arg, &e);
		pos += e.len;
	}
	COUNT(cow, rd_reqs, 1);
	if (!rc)
		COUNT(cow, rd_sectors, nr_sectors);
	count_error(cow, view_rc);
	return rc;
}

int cow_write_flags(struct cow *cow, const void *buf, uint64_t sector,
		    uint32_t nr_sectors, unsigned int flags)
{
	int rc = cow->kind == COW_KIND_READONLY ?
			 -EROFS :
			 check_range(cow, sector, nr_sectors);

	if (!rc)
		rc = view_write(cow, buf, sector * COW_SECTOR_BYTES,
				(uint64_t)nr_sectors * COW_SECTOR_BYTES);
	count_write(cow, rc, nr_sectors, flags);
	return rc;
}

int cow_write(struct cow *cow, const void *buf, uint64_t sector,
	      uint32_t nr_sectors)
{
	return cow_write_flags(cow, buf, sector, nr_sectors, 0);
}

int cow_read_apply(struct cow *cow, uint64_t first_blk, uint32_t nr_blks,
		   uint64_t nr_sectors, unsigned char *scratch,
		   int (*fn)(void *arg, const unsigned char *const *blks,
			     uint32_t nr_blks),
		   void *arg)
{
	const unsigned char *ptrs[COW_APPLY_MAX_BLKS];
	uint32_t i, j, k;
	int rc = 0;

	if (nr_blks == 0 || nr_blks > COW_APPLY_MAX_BLKS ||
	    first_blk > cow->nr_blks || nr_blks > cow->nr_blks - first_blk) {
		rc = -ERANGE;
		goto out;
	}
	/* At most one block per stripe: ascending stripe order, as always. */
	run_stripes(cow, first_blk, nr_blks, pthread_mutex_lock);
	for (i = 0; i < nr_blks && !rc; i += k) {
		uint32_t state = map_get(&cow->map, first_blk + i), next;
		unsigned char *p = scratch + (size_t)i * STORE_BLK_BYTES;

		k = 1;
		if (state >= MAP_SLOT0 && !store_direct(cow->overlay,
							state - MAP_SLOT0)) {
			/* Overlay blocks in consecutive slots: one read. */
			while (i + k < nr_blks &&
			       (next = map_get(&cow->map, first_blk + i + k)) ==
				       state + k)
				k++;
			rc = store_read(cow->overlay, p, state - MAP_SLOT0, k);
			for (j = 0; j < k; j++)
				ptrs[i + j] = p + (size_t)j * STORE_BLK_BYTES;
		} else if (state == MAP_BASE && cow->base) {
			/* Base blocks in a row: one read. */
			while (i + k < nr_blks &&
			       map_get(&cow->map, first_blk + i + k) ==
				       MAP_BASE)
				k++;
			rc = store_read(cow->base, p, first_blk + i, k);
			for (j = 0; j < k; j++)
				ptrs[i + j] = p + (size_t)j * STORE_BLK_BYTES;
		} else {
			rc = blk_bytes(cow, first_blk + i, state, p, &ptrs[i]);
		}
	}
	if (!rc)
		rc = fn(arg, ptrs, nr_blks);
	run_stripes(cow, first_blk, nr_blks, pthread_mutex_unlock);
out:
	COUNT(cow, rd_reqs, 1);
	if (!rc)
		COUNT(cow, rd_sectors, nr_sectors);
	count_error(cow, rc);
	return rc;
}

/* Where cow_write_apply() lets fill write a block. */
enum wa_dest {
	WA_NEW_SLOT, /* a fresh slot's memory: published after fill */
	WA_IN_PLACE, /* the block's own slot's memory (all-or-nothing fill) */
	WA_REDIRECT, /* an overwrite into another slot's memory: published
		      * after fill, when the old slot goes */
	WA_STAGED,   /* scratch: written to the overlay after fill */
};

/*
 * Overwrites of memory blocks by a fill that may fail halfway: take a new
 * slot for each (redir[i], new slot in rslots[i]), all or none; none if
 * the overlay has no room now, and they are staged instead.
 */
static void wa_redirect(struct cow *cow, uint32_t n, const uint32_t *slots,
			const bool *fresh, uint32_t *rslots, bool *redir)
{
	uint32_t want[COW_APPLY_MAX_BLKS], i, j, k = 0;

	for (i = 0; i < n; i++) {
		redir[i] = !fresh[i] && store_direct(cow->overlay, slots[i]);
		k += redir[i];
	}
	if (!k)
		return;
	if (slots_alloc_redirect(&cow->map, k, want)) {
		memset(redir, 0, n * sizeof(*redir));
		return;
	}
	for (i = 0, j = 0; i < n; i++)
		if (redir[i])
			rslots[i] = want[j++];
}

/*
 * Write the staged blocks of a cow_write_apply() to the overlay, batching
 * consecutive slots (their scratch is consecutive too), and publish the new
 * ones. On a store error the blocks before it are written, and the new
 * slots not yet published stay in fresh[] for the caller to give back.
 */
static int wa_commit(struct cow *cow, uint64_t blk, uint32_t n,
		     const enum wa_dest *dest, const uint32_t *slots,
		     bool *fresh, unsigned char *scratch)
{
	uint32_t i, j, k;
	int rc = 0;

	for (i = 0; i < n && !rc; i += k) {
		k = 1;
		if (dest[i] == WA_STAGED) {
			while (i + k < n && dest[i + k] == WA_STAGED &&
			       slots[i + k] == slots[i + k - 1] + 1)
				k++;
			rc = store_write(cow->overlay,
					 scratch + (size_t)i * STORE_BLK_BYTES,
					 slots[i], k);
		}
		for (j = i; j < i + k && !rc; j++)
			if (fresh[j] && !(rc = map_set(&cow->map, blk + j,
						       MAP_SLOT0 + slots[j])))
				fresh[j] = false; /* published */
	}
	return rc;
}

int cow_write_apply(struct cow *cow, uint64_t sector, uint32_t nr_sectors,
		    unsigned int flags, unsigned char *scratch,
		    int (*fill)(void *arg, unsigned char *const *blks,
				uint32_t nr_blks),
		    void *arg)
{
	unsigned char *blks[COW_APPLY_MAX_BLKS];
	uint32_t state[COW_APPLY_MAX_BLKS], slots[COW_APPLY_MAX_BLKS];
	uint32_t rslots[COW_APPLY_MAX_BLKS];
	enum wa_dest dest[COW_APPLY_MAX_BLKS];
	bool fresh[COW_APPLY_MAX_BLKS], redir[COW_APPLY_MAX_BLKS] = { false };
	uint64_t pos, end, blk;
	uint32_t i, n;
	unsigned int nr_fresh = 0;
	int rc = cow->kind == COW_KIND_READONLY ?
			 -EROFS :
			 check_range(cow, sector, nr_sectors);

	if (rc)
		goto out;
	pos = sector * COW_SECTOR_BYTES;
	end = pos + (uint64_t)nr_sectors * COW_SECTOR_BYTES;
	blk = pos / STORE_BLK_BYTES;
	n = (uint32_t)((end - 1) / STORE_BLK_BYTES - blk + 1);
	if (n > COW_APPLY_MAX_BLKS) {
		rc = -ERANGE;
		goto out;
	}
	/* At most one block per stripe: ascending stripe order, as always. */
	run_stripes(cow, blk, n, pthread_mutex_lock);
	/* New blocks' slots first: that may wait for others' redirects,
	 * never for our own. */
	rc = run_slots(cow, blk, n, state, slots, fresh, &nr_fresh);
	if (rc)
		goto unlock;
	if (!(flags & COW_FILL_ALL_OR_NOTHING))
		wa_redirect(cow, n, slots, fresh, rslots, redir);
	for (i = 0; i < n; i++) {
		uint64_t b0 = (blk + i) * STORE_BLK_BYTES;
		bool partial = b0 < pos || b0 + STORE_BLK_BYTES > end;
		unsigned char *mem = store_direct(cow->overlay, slots[i]);
		unsigned char *rmem =
			redir[i] ? store_direct(cow->overlay, rslots[i]) : NULL;

		if (redir[i] && !rmem) {
			slot_redirect_undo(&cow->map, rslots[i]);
			redir[i] = false;
		}
		/* Old data is overwritten in place only by a fill that
		 * cannot fail halfway; else it stays until fill is done. */
		if (mem && (fresh[i] || (flags & COW_FILL_ALL_OR_NOTHING))) {
			dest[i] = fresh[i] ? WA_NEW_SLOT : WA_IN_PLACE;
			blks[i] = mem;
		} else if (rmem) {
			dest[i] = WA_REDIRECT;
			blks[i] = rmem;
		} else {
			dest[i] = WA_STAGED;
			blks[i] = scratch + (size_t)i * STORE_BLK_BYTES;
		}
		/* Copy up what the request leaves of the block, unless the
		 * destination is the block itself. */
		if (partial && dest[i] != WA_IN_PLACE) {
			const unsigned char *old;

			rc = blk_bytes(cow, blk + i, state[i], blks[i], &old);
			if (rc)
				goto give_back;
			if (old != blks[i])
				memcpy(blks[i], old, STORE_BLK_BYTES);
		}
	}
	rc = fill(arg, blks, n);
	/* The redirected blocks now live in their new slots. */
	for (i = 0; i < n && !rc; i++)
		if (redir[i] && !(rc = map_set(&cow->map, blk + i,
					       MAP_SLOT0 + rslots[i]))) {
			slot_redirect_done(&cow->map, slots[i]);
			redir[i] = false;
		}
	if (!rc)
		rc = wa_commit(cow, blk, n, dest, slots, fresh, scratch);
give_back:
	/* Every new slot not published goes back: nothing ever mapped it,
	 * and it is rewritten whole before it is published again. */
	for (i = 0; i < n; i++) {
		if (fresh[i])
			slot_free(&cow->map, slots[i]);
		if (redir[i])
			slot_redirect_undo(&cow->map, rslots[i]);
	}
	if (nr_fresh)
		map_note_peak(&cow->map);
unlock:
	run_stripes(cow, blk, n, pthread_mutex_unlock);
out:
	count_write(cow, rc, nr_sectors, flags);
	return rc;
}

/*
 * Discard has the same shape: the head and tail are partial blocks and
 * left alone (discard is advisory there), the body's whole blocks read
 * zeros afterwards. The disk's own partial last block counts as whole when
 * the range reaches the disk's end.
 */
int cow_discard(struct cow *cow, uint64_t sector, uint64_t nr_sectors)
{
	uint64_t pos, len, blk;
	int rc = cow->kind == COW_KIND_READONLY ?
			 -EROFS :
			 check_range(cow, sector, nr_sectors);

	if (rc)
		goto out;
	pos = sector * COW_SECTOR_BYTES;
	len = nr_sectors * COW_SECTOR_BYTES;
	if (sector + nr_sectors == cow->size_sectors)
		len = cow->nr_blks * STORE_BLK_BYTES - pos;
	blk = pos / STORE_BLK_BYTES;
	/* Unaligned head: skipped */
	if (pos % STORE_BLK_BYTES) {
		uint32_t n = piece((uint32_t)(pos % STORE_BLK_BYTES), len);

		len -= n;
		blk++;
	}
	/* Aligned body */
	for (; len >= STORE_BLK_BYTES && !rc; len -= STORE_BLK_BYTES)
		rc = blk_discard(cow, blk++);
	/* Unaligned tail: skipped */
out:
	COUNT(cow, discard_reqs, 1);
	count_error(cow, rc);
	return rc;
}

int cow_flush(struct cow *cow)
{
	int rc = cow->overlay ? store_flush(cow->overlay) : 0;

	COUNT(cow, flush_reqs, 1);
	count_error(cow, rc);
	return rc;
}

int cow_set_limit(struct cow *cow, uint64_t limit_blks)
{
	if (!cow->overlay)
		return -EROFS;
	if (limit_blks < 1 || limit_blks > cow->overlay->nr_blks)
		return -ERANGE;
	map_set_limit(&cow->map, limit_blks);
	return 0;
}

uint64_t cow_capacity_blks(const struct cow *cow)
{
	return cow->overlay ? cow->overlay->nr_blks : 0;
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
	rc = map_init(&cow->map, cow->nr_blks, limit, p->budget);
	if (rc) {
		free(cow);
		goto fail;
	}
	cow->base = p->base;
	cow->overlay = p->overlay;
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
	unsigned int i;

	if (!cow)
		return;
	/* The stores wipe what they hold (RAM, the key) as they go. */
	store_destroy(cow->overlay);
	store_destroy(cow->base);
	map_fini(&cow->map);
	for (i = 0; i < COW_LOCK_STRIPES; i++)
		pthread_mutex_destroy(&cow->stripes[i].lock);
	free(cow);
}

const char *cow_io_mode(struct cow *cow)
{
	return cow->overlay ? store_io_mode(cow->overlay) : NULL;
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
	st->used_blks = atomic_load_explicit(&c->map.used_blks,
					     memory_order_relaxed);
	st->peak_blks = atomic_load_explicit(&c->map.peak_blks,
					     memory_order_relaxed);
	st->limit_blks = c->map.limit_blks;
	st->used_bytes = st->used_blks * STORE_BLK_BYTES;
	st->map_bytes = atomic_load_explicit(&c->map.map_bytes,
					     memory_order_relaxed);
#define COW_STAT_GET(name)                                                     \
	st->name = atomic_load_explicit(&c->ctr.name, memory_order_relaxed);
	COW_COUNTERS(COW_STAT_GET)
#undef COW_STAT_GET
}
