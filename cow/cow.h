/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The copy-on-write view of one virtual disk: reads come from the overlay
 * where the guest has written, else from the read-only base (or zeros); all
 * writes go to the overlay. Addresses are in 512-byte sectors (blkif's unit);
 * the overlay works in 4 KiB blocks (blks), copying up partial blocks.
 *
 * Thread safety: every call may be made from any thread concurrently; calls
 * that touch the same block are serialised per block. No lock is shared
 * between views, and the process-wide budget is a lock-free counter.
 */
#ifndef XE_COW_COW_H
#define XE_COW_COW_H

#include <stdint.h>

#include "cow/store.h"

#define COW_SECTOR_SHIFT 9
#define COW_SECTOR_BYTES (1u << COW_SECTOR_SHIFT)
#define COW_SECTORS_PER_BLK (STORE_BLK_BYTES / COW_SECTOR_BYTES)

/*
 * The largest disk a view maps: 2^32 blocks of 4 KiB, 16 TiB. The overlay
 * holds at most COW_MAX_OVERLAY_BLKS blocks (a little under 2^32).
 */
#define COW_MAX_DISK_BLKS ((uint64_t)1 << 32)
#define COW_MAX_DISK_BYTES (COW_MAX_DISK_BLKS * STORE_BLK_BYTES)
#define COW_MAX_OVERLAY_BLKS ((uint64_t)UINT32_MAX - 2)

enum cow_kind {
	COW_KIND_COW,      /* overlay over a base */
	COW_KIND_BLANK,    /* overlay over zeros */
	COW_KIND_READONLY, /* the base itself; writes and discards refused */
};

/* A process-wide cap on overlay blocks, shared by every view given it. */
struct cow_budget;

/* limit_blks = 0 means no cap. */
int cow_budget_new(uint64_t limit_blks, struct cow_budget **budget_r);
/* Every view using the budget must be freed first. NULL is ok. */
void cow_budget_free(struct cow_budget *budget);
uint64_t cow_budget_used_blks(const struct cow_budget *budget);
/* The cap from now on, 0 included (nothing more fits); blocks already
 * charged stay charged. */
void cow_budget_set_limit(struct cow_budget *budget, uint64_t limit_blks);
/* The cap now: UINT64_MAX for a budget made with no cap. */
uint64_t cow_budget_limit_blks(const struct cow_budget *budget);
/*
 * A charge that does not fit calls fn(arg, blocks it is short of) once,
 * which may raise the cap (cow_budget_set_limit) before it returns; then
 * the charge is tried once more. fn runs on the writing thread with that
 * view's allocation lock held: it may wait briefly (a worker asks its
 * supervisor for a bigger share), never call into a view. Set it before
 * any view uses the budget.
 */
void cow_budget_set_refill(struct cow_budget *budget,
			   void (*fn)(void *arg, uint64_t short_blks),
			   void *arg);

struct cow_params {
	enum cow_kind kind;
	/*
	 * The base (COW, READONLY; NULL for BLANK) and its size in bytes.
	 * The view owns it from cow_new() on, even on failure.
	 */
	struct store *base;
	uint64_t base_bytes;
	/* BLANK: the disk size. COW/READONLY: 0 = the base size rounded
	 * down to whole sectors (nothing else is accepted). */
	uint64_t size_sectors;
	/* The overlay (COW, BLANK; NULL for READONLY). Owned like base. */
	struct store *overlay;
	/* Max overlay blocks for this disk; 0 = the overlay's capacity.
	 * At most the overlay's capacity and COW_MAX_OVERLAY_BLKS. */
	uint64_t limit_blks;
	/* Optional process-wide budget (not owned). */
	struct cow_budget *budget;
};

struct cow;

/* Create a view. Returns 0 and sets *cow_r, or -errno (-EINVAL for
 * parameters that do not fit together). */
int cow_new(const struct cow_params *params, struct cow **cow_r);

/* Close the view: destroy the stores (wiping overlay RAM and the key) and
 * release its budget share. NULL is ok. No call may be in flight. */
void cow_free(struct cow *cow);

uint64_t cow_size_sectors(const struct cow *cow);

/* How the overlay does its I/O ("io_uring, O_DIRECT"...), for the log;
 * NULL for an overlay in memory or none. */
const char *cow_io_mode(struct cow *cow);
enum cow_kind cow_kind(const struct cow *cow);

/*
 * Read / write nr_sectors sectors starting at sector into / from buf.
 * Returns 0, or -EINVAL (empty), -ERANGE (past the end), -EROFS (write to a
 * read-only disk), -ENOSPC (blocks that needed new overlay slots could not
 * all get one), -EIO or another -errno from a store. Space is reserved all
 * or nothing for each run of up to 64 blocks, so a write that does not fit
 * never takes room from another disk's write that does. A failed write may
 * have written some of its blocks (earlier runs); each block is either
 * wholly old or wholly new.
 */
int cow_read(struct cow *cow, void *buf, uint64_t sector, uint32_t nr_sectors);
int cow_write(struct cow *cow, const void *buf, uint64_t sector,
	      uint32_t nr_sectors);

/* cow_write_flags() and cow_write_apply() flags. */
/* The caller holds a write that gets -ENOSPC (on-full=pause) and tries it
 * again: such a try is not counted, neither as a write nor as an error;
 * the try that is answered is. A caller that gives up on a held write
 * counts it with cow_count_failed_write(). */
#define COW_HOLD_ON_FULL 0x2u
int cow_write_flags(struct cow *cow, const void *buf, uint64_t sector,
		    uint32_t nr_sectors, unsigned int flags);
void cow_count_failed_write(struct cow *cow, int rc);

/* Most blocks one cow_read_apply() call covers (1 MiB). */
#define COW_APPLY_MAX_BLKS 256u

/*
 * Zero-copy read: with blocks [first_blk, first_blk + nr_blks) locked, call
 * fn once with a pointer to each block's 4 KiB as the view shows it; fn's
 * return value is returned. Pointers go straight into the overlay where it
 * is memory (the RAM store), to a shared zero block for holes, else into
 * scratch (nr_blks x 4 KiB, caller's), where the block was read. They are
 * for reading, valid only during fn, which must not call into this view.
 * nr_blks <= COW_APPLY_MAX_BLKS; the blocks must be inside the disk (the
 * last one may be partial). Counted as one read of nr_sectors (the
 * request's size, for statistics).
 */
int cow_read_apply(struct cow *cow, uint64_t first_blk, uint32_t nr_blks,
		   uint64_t nr_sectors, unsigned char *scratch,
		   int (*fn)(void *arg, const unsigned char *const *blks,
			     uint32_t nr_blks),
		   void *arg);

/* One extent of cow_read_extents(): len bytes of the view, at data. */
struct cow_extent {
	const unsigned char *data;
	uint64_t len;
};

/*
 * Read nr_sectors at sector as extents, in order, each read into scratch
 * (scratch_bytes, at least 4 KiB, at most that an extent), calling fn
 * once for each; a non-zero return from fn ends the read and is
 * returned. So a caller can send a big read on as it is read, through a
 * buffer of its own, and have it counted once. Errors as cow_read(), also
 * for an extent read after earlier ones went to fn. Counted as one read
 * (fn's errors are the caller's, not counted).
 */
int cow_read_extents(struct cow *cow, uint64_t sector, uint32_t nr_sectors,
		     unsigned char *scratch, size_t scratch_bytes,
		     int (*fn)(void *arg, const struct cow_extent *e),
		     void *arg);

/* cow_write_apply() flags. */
/* fill either writes everything or nothing (one grant-copy op): the view
 * may then hand out an overlay block in place, its old data unprotected. */
#define COW_FILL_ALL_OR_NOTHING 0x1u

/*
 * Zero-copy write of nr_sectors at sector, covering at most
 * COW_APPLY_MAX_BLKS blocks (-ERANGE beyond: use cow_write()). With the
 * blocks locked, fill is called once with a 4 KiB destination per block;
 * it must write every byte of the request (whose first byte goes at offset
 * (sector % 8) * 512 of blks[0]) and return 0 only if it did. Bytes of a
 * destination outside the request already hold the block's current
 * content. A destination is
 *   - a newly allocated overlay slot, for a block not yet in an overlay
 *     that is memory: mapped only once fill succeeded;
 *   - the block's own slot, for a block in such an overlay when flags has
 *     COW_FILL_ALL_OR_NOTHING;
 *   - else, for a block in such an overlay, another slot the block moves to
 *     once fill succeeded (redirect-on-write; its old slot is given back),
 *     where the overlay has a slot to spare;
 *   - else scratch (nr_blks x 4 KiB, page-aligned, the caller's), which
 *     the view then writes to the overlay (the xts store encrypts it).
 * If fill fails, its error is returned and every block is as it was.
 * Otherwise errors as cow_write(); space is reserved all or nothing for
 * the whole call. Counted as one write.
 */
int cow_write_apply(struct cow *cow, uint64_t sector, uint32_t nr_sectors,
		    unsigned int flags, unsigned char *scratch,
		    int (*fill)(void *arg, unsigned char *const *blks,
				uint32_t nr_blks),
		    void *arg);

/*
 * Discard: every whole block inside the range reads zeros afterwards and its
 * overlay slot is freed. Sectors of partly covered blocks are left as they
 * are (discard is advisory, as dm-thin treats sub-block discards); the
 * backend advertises discard-granularity 4096. Never needs space.
 */
int cow_discard(struct cow *cow, uint64_t sector, uint64_t nr_sectors);

/* Order: everything completed before it is ordered before what follows. */
int cow_flush(struct cow *cow);

/* The view's request counters, listed once (X-macro). */
#define COW_COUNTERS(X)                                                        \
	X(rd_reqs)                                                             \
	X(wr_reqs)                                                             \
	X(discard_reqs)                                                        \
	X(flush_reqs)                                                          \
	X(rd_sectors)                                                          \
	X(wr_sectors)                                                          \
	X(enospc) /* writes refused for lack of space */                       \
	X(errors) /* other failed calls */

struct cow_stats {
	uint64_t size_sectors;
	uint64_t used_blks;  /* overlay blocks in use now */
	uint64_t peak_blks;  /* the most ever held */
	uint64_t limit_blks; /* this disk's cap */
	uint64_t used_bytes; /* used_blks * 4096 */
	uint64_t map_bytes;  /* the block map's own memory */
#define COW_STAT_FIELD(name) uint64_t name;
	COW_COUNTERS(COW_STAT_FIELD)
#undef COW_STAT_FIELD
};

/*
 * A new limit on the overlay's blocks (xen-ephemeral set-limit): from 1 to
 * the overlay store's capacity (cow_capacity_blks). A limit below what is
 * held keeps every block written; only new ones wait for room. -EROFS for
 * a read-only view, -ERANGE out of bounds. Any thread.
 */
int cow_set_limit(struct cow *cow, uint64_t limit_blks);
/* Blocks the overlay store can hold at most (0: read-only view). */
uint64_t cow_capacity_blks(const struct cow *cow);

/* A consistent-enough snapshot of the counters (each read atomically). */
void cow_get_stats(const struct cow *cow, struct cow_stats *stats);

#endif
