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
 * The disk is cut in groups of 256 MiB (64 leaves of 4 MiB). A group none
 * of whose entries is set costs a pointer. Once one is, the group is
 * sparse: the entries that are set, as sorted pairs of a 16-bit index and
 * the entry (6 bytes each). Once it holds more than MAP_GROUP_SPARSE_MAX,
 * it becomes a directory: a pointer per leaf, each leaf absent, sparse (as
 * the group was, with the leaf's entries) or, once that would take more
 * than a page, dense (a page of 1024 entries). Nothing ever goes back: a
 * directory stays a directory, a dense leaf dense.
 *
 * Locking: map_get() and map_set() are safe against each other for
 * different blocks; the caller serialises operations on one block (cow.c's
 * stripe locks). A dense leaf is read and written without a lock, and a
 * directory is walked without one; a sparse group or leaf is touched only
 * under one of leaf_locks (an inner lock: nothing else is taken or called
 * while it is held, and no two are held at once), which also covers its
 * growth, its change of form and freeing the old form.
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
#define MAP_GROUP_SHIFT 16 /* a group maps 256 MiB: a 16-bit index */
#define MAP_GROUP_BLKS (1u << MAP_GROUP_SHIFT)
#define MAP_GROUP_LEAVES (1u << (MAP_GROUP_SHIFT - MAP_LEAF_SHIFT))
#define MAP_SPARSE ((uintptr_t)1) /* the tag of a sparse group or leaf */
/* The most entries a sparse leaf holds (4-byte header, 6 bytes each): one
 * more and it would outgrow the page a dense leaf takes. */
#define MAP_SPARSE_MAX ((MAP_LEAF_BLKS * 4u - 4u) / 6u)
/* The most a sparse group holds: 12 KiB, 8 MiB of overlay. One more and it
 * becomes a directory, whose leaves then hold 32 entries each on average:
 * their headers are small beside that. */
#define MAP_GROUP_SPARSE_MAX 2048u
#define MAP_LEAF_LOCKS 32u

_Static_assert(COW_MAX_OVERLAY_BLKS <= UINT32_MAX - MAP_SLOT0 + 1,
	       "every overlay slot has a map value");

struct cow_map {
	uint64_t nr_blks;
	/* Per group of MAP_GROUP_BLKS entries: 0 (all MAP_BASE), a sparse
	 * group (tagged with MAP_SPARSE, map.c's struct map_sparse) or a
	 * directory (_Atomic uintptr_t[] of a leaf per MAP_LEAF_BLKS, as
	 * many as the group has). A leaf: 0 (all MAP_BASE), a dense leaf
	 * (_Atomic uint32_t[MAP_LEAF_BLKS]) or a sparse one (tagged). */
	_Atomic uintptr_t *groups;
	uint64_t nr_groups;
	pthread_mutex_t leaf_locks[MAP_LEAF_LOCKS]; /* sparse groups, leaves */

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
	_Atomic uint64_t map_bytes; /* groups, directories, leaves, free stack */
	struct cow_budget *budget;  /* may be NULL */
};

/* A map of nr_blks blocks, all MAP_BASE, with at most limit_blks slots. */
int map_init(struct cow_map *m, uint64_t nr_blks, uint64_t limit_blks,
	     struct cow_budget *budget);

/* A new cap on slots (blocks held beyond it stay; new ones wait). */
void map_set_limit(struct cow_map *m, uint64_t limit_blks);

/* Free the map and give its slots back to the budget. */
void map_fini(struct cow_map *m);

/* Entry i of a dense leaf (an untagged, non-zero leaf value). */
static inline _Atomic uint32_t *map_dense_entry(uintptr_t leaf,
						unsigned int i)
{
	return &((_Atomic uint32_t *)leaf)[i];
}

/* Where a directory (an untagged, non-zero group value) keeps blk's leaf. */
static inline _Atomic uintptr_t *map_dir_leaf(uintptr_t dir, uint64_t blk)
{
	return &((_Atomic uintptr_t *)dir)[(blk >> MAP_LEAF_SHIFT) &
					   (MAP_GROUP_LEAVES - 1)];
}

/* The entry of blk in a sparse group or leaf (map_get's slow path). */
uint32_t map_get_sparse(const struct cow_map *m, uint64_t blk);

/* The entry of blk (< nr_blks). */
static inline uint32_t map_get(const struct cow_map *m, uint64_t blk)
{
	uintptr_t w = atomic_load_explicit(&m->groups[blk >> MAP_GROUP_SHIFT],
					   memory_order_acquire);

	if (!w)
		return MAP_BASE;
	if (w & MAP_SPARSE)
		return map_get_sparse(m, blk);
	w = atomic_load_explicit(map_dir_leaf(w, blk), memory_order_acquire);
	if (!w)
		return MAP_BASE;
	if (w & MAP_SPARSE)
		return map_get_sparse(m, blk);
	return atomic_load_explicit(
		map_dense_entry(w, blk & (MAP_LEAF_BLKS - 1)),
		memory_order_acquire);
}

/*
 * Set blk's entry. A new entry in a sparse group or leaf (or its first)
 * may need memory: -ENOMEM, and the entry is unchanged. Changing an entry
 * already set never fails.
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
