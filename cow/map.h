/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internal to cow/: the block map of one view and its overlay slot
 * allocator, with the space accounting (the disk's limit and the shared
 * budget). cow.c is the request engine on top; nothing outside cow/
 * includes this.
 *
 * The map has one 32-bit entry per 4 KiB block of the virtual disk:
 *   MAP_BASE     never written: read the base (or zeros for a blank disk);
 *   MAP_ZERO     discarded: reads zeros, holds no slot;
 *   MAP_SLOT0+n  in overlay slot n.
 * The entries of each 4 MiB of the disk (a leaf) are kept, once one of
 * them is not MAP_BASE, either sparse (the entries that are set, as sorted
 * pairs of a 16-bit index and the entry: 6 bytes each) or, once that
 * would take more than a page, dense (a page of 1024 entries). A leaf
 * never goes back from dense to sparse.
 *
 * Locking: map_get() and map_set() are safe against each other for
 * different blocks; the caller serialises operations on one block (cow.c's
 * stripe locks). A dense leaf is read and written without a lock; a
 * sparse one under one of leaf_locks (an inner lock: nothing else is taken
 * or called while it is held), which also covers its growth, its move to
 * dense and freeing it. The allocator has its own mutex.
 */
#ifndef XE_COW_MAP_H
#define XE_COW_MAP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cow/cow.h"

#define MAP_BASE 0u
#define MAP_ZERO 1u
#define MAP_SLOT0 2u

#define MAP_LEAF_SHIFT 10 /* a leaf maps 4 MiB; dense, it is a page */
#define MAP_LEAF_BLKS (1u << MAP_LEAF_SHIFT)
#define MAP_LEAF_SPARSE ((uintptr_t)1) /* the tag of a sparse leaf */
/* The most entries a sparse leaf holds (4-byte header, 6 bytes each): one
 * more and it would outgrow the page a dense leaf takes. */
#define MAP_SPARSE_MAX ((MAP_LEAF_BLKS * 4u - 4u) / 6u)
#define MAP_LEAF_LOCKS 32u

_Static_assert(COW_MAX_OVERLAY_BLKS <= UINT32_MAX - MAP_SLOT0 + 1,
	       "every overlay slot has a map value");

struct cow_map {
	uint64_t nr_blks;
	/* Per leaf of MAP_LEAF_BLKS entries: 0 (all MAP_BASE), a dense leaf
	 * (_Atomic uint32_t[MAP_LEAF_BLKS]), or a sparse one (tagged with
	 * MAP_LEAF_SPARSE, map.c's struct map_sparse). */
	_Atomic uintptr_t *leaves;
	uint64_t nr_leaves;
	pthread_mutex_t leaf_locks[MAP_LEAF_LOCKS]; /* sparse leaves */

	/* Slots: a free stack plus a never-used high-water mark. */
	pthread_mutex_t alloc_lock;
	pthread_cond_t redirect_done; /* a slot came back (redirect or free) */
	uint64_t redirects; /* slots out for redirects, not charged */
	uint32_t *free_slots;
	uint64_t nr_free, free_cap;
	uint64_t next_fresh;
	uint64_t limit_blks;
	_Atomic uint64_t used_blks; /* slots taken and not given back */
	_Atomic uint64_t peak_blks; /* the most blocks ever published */
	_Atomic uint64_t map_bytes; /* leaves, their pointers, the free stack */
	struct cow_budget *budget;  /* may be NULL */
};

/* A map of nr_blks blocks, all MAP_BASE, with at most limit_blks slots. */
int map_init(struct cow_map *m, uint64_t nr_blks, uint64_t limit_blks,
	     struct cow_budget *budget);

/* A new cap on slots (blocks held beyond it stay; new ones wait). */
void map_set_limit(struct cow_map *m, uint64_t limit_blks);

/* Free the map and give its slots back to the budget. */
void map_fini(struct cow_map *m);

/* Entry i of a dense leaf (an untagged, non-zero leaves[] value). */
static inline _Atomic uint32_t *map_dense_entry(uintptr_t leaf,
						unsigned int i)
{
	return &((_Atomic uint32_t *)leaf)[i];
}

/* The entry of blk in a sparse leaf (map_get's slow path). */
uint32_t map_get_sparse(const struct cow_map *m, uint64_t blk);

/* The entry of blk (< nr_blks). */
static inline uint32_t map_get(const struct cow_map *m, uint64_t blk)
{
	uintptr_t leaf = atomic_load_explicit(
		&m->leaves[blk >> MAP_LEAF_SHIFT], memory_order_acquire);

	if (!leaf)
		return MAP_BASE;
	if (leaf & MAP_LEAF_SPARSE)
		return map_get_sparse(m, blk);
	return atomic_load_explicit(
		map_dense_entry(leaf, blk & (MAP_LEAF_BLKS - 1)),
		memory_order_acquire);
}

/*
 * Set blk's entry. A new entry in a sparse leaf (or its first) may need
 * memory: -ENOMEM, and the entry is unchanged. Changing an entry already
 * set never fails.
 */
int map_set(struct cow_map *m, uint64_t blk, uint32_t val);

/*
 * Take nr free slots into slots_r, all or nothing, charging the disk's
 * limit and the budget: -ENOSPC (and nothing taken) if they do not all fit.
 * The caller publishes them with map_set() and then map_note_peak(), or
 * gives back the ones it did not publish with slot_free().
 */
int slots_alloc(struct cow_map *m, unsigned int nr, uint32_t *slots_r);

/* Give one slot back (its data is dead). */
void slot_free(struct cow_map *m, uint32_t slot);

/*
 * Redirect-on-write: take nr slots to write nr overwritten blocks into
 * while their old slots keep the old data. Not charged to the limit or the
 * budget (the new slot replaces the old one), but they are real slots: a
 * new block's slots_alloc() that finds them all out waits for them rather
 * than fail. -ENOSPC (nothing taken) if there is no room now: the caller
 * writes in place by other means. Each slot taken ends with exactly one of
 * slot_redirect_done(old) (published: the old slot goes) or
 * slot_redirect_undo(new), which never fail.
 */
int slots_alloc_redirect(struct cow_map *m, unsigned int nr,
			 uint32_t *slots_r);
void slot_redirect_done(struct cow_map *m, uint32_t old_slot);
void slot_redirect_undo(struct cow_map *m, uint32_t new_slot);

/* Blocks were just published: raise the peak to what is held now. */
void map_note_peak(struct cow_map *m);

#endif
