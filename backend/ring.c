/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Serving one blkif ring.
 *
 * The thread sleeps in poll() on its event channel and a stop eventfd. On a
 * kick it takes requests off the ring, at most one ring's worth per round
 * (bounded work per wake-up), serves each synchronously and answers it in
 * the slot its response belongs in, pushes the responses every 8, notifies
 * the frontend only if it asked (rsp_event) and then at most once every
 * RING_NOTIFY_BATCH responses until the round ends, and unmasks the event
 * channel only
 * once the final check says the ring is empty (XSA-332: the unmask is the
 * EOI, so a frontend that kicks in a loop gets at most one wake-up per
 * drained ring).
 *
 * Guest memory is touched in exactly these places: req_prod and rsp_event
 * are read with single volatile loads; each request slot is copied once by
 * req_decode(); indirect descriptor pages and data pages move only by grant
 * copy into or out of private buffers. All checks run on private copies
 * (XSA-155), and every grant copy of a request is complete before its
 * response is pushed (the frontend revokes the grants as soon as it sees it).
 *
 * A frontend whose req_prod runs more than a ring ahead of our responses is
 * lying: the ring halts (no more requests, no unmask) until it is torn down.
 * Other rings and devices are unaffected.
 *
 * Plain writes that reach the ring together (up to a ring's worth, as long
 * as their data fits the bounce buffer) have their data brought in by one
 * grant-copy call (one hypercall, or one trip to the simulated Xen, for
 * all of them), then are written in ring order; a write with a failed
 * segment is refused and writes nothing, the others go on. Plain reads
 * likewise are read in ring order, then one call takes all their data out.
 * A write that comes alone takes the one-copy path (cow_write_apply()).
 *
 * What it does not do: reorder, merge or parallelise requests of one ring
 * (multi-queue gives parallelism), or keep grant mappings beyond the ring.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "platform/log.h"
#include "backend/ring.h"
#include "crypto/key.h"

#define RING_MAX_PAGES (1u << XE_BLKIF_MAX_RING_ORDER)
/* Responses between two kicks of the frontend inside one round. */
#define RING_NOTIFY_BATCH 32u

/* A request of a batch: its data sits at page of the bounce buffer. */
struct batched {
	struct req req;
	uint32_t page;      /* its data's first bounce page */
	uint32_t nc0;       /* its first grant copy */
	uint64_t sectors;
	int16_t status;     /* a read's, once read */
};

struct ring_counters {
#define RING_COUNTER_FIELD(name) _Atomic uint64_t name;
	RING_COUNTERS(RING_COUNTER_FIELD)
#undef RING_COUNTER_FIELD
	_Atomic bool halted;
};

struct ring {
	struct xp *xp;
	struct xp_gnt *gnt;
	struct xp_evt *evt;
	uint16_t domid;
	uint32_t devid;
	unsigned int qid;
	char prefix[48]; /* "domid/devid/q" for logs */

	enum xe_blkif_abi abi;
	unsigned int stride;
	uint32_t nr_ents;
	uint32_t nr_pages;
	volatile uint8_t *sring;
	uint32_t local_port;
	bool bound;

	/* Private ring indices (only the ring thread touches them). */
	uint32_t req_cons;
	uint32_t rsp_prod_pvt;
	uint32_t notified_at; /* rsp_prod at the last kick */
	bool notify_owed;     /* the frontend asked, the kick was put off */

	struct cow *cow;
	void (*full)(void *arg, bool waiting);
	void *full_arg;
	struct req_features feat;

	/* Locked, non-dumpable private memory: guest data passes here. */
	unsigned char *mem;
	size_t mem_bytes;
	unsigned char *bounce;    /* (max segments + 1) x 4 KiB */
	unsigned char *ind_pages; /* XE_BLKIF_MAX_INDIRECT_PAGES x 4 KiB */
	struct req_seg *segs;     /* max segments */
	struct batched *batch;    /* batch_max requests of a round */
	unsigned int batch_max;
	struct xp_gnt_copy *copies; /* nr_copies: a segment may be 2 pieces */
	unsigned int nr_copies;
	unsigned int max_segs;

	int stop_fd;
	pthread_t thread;
	bool thread_started;

	struct log_ratelimit rl;
	struct ring_counters ctr;
};

#define INC(r, field) atomic_fetch_add_explicit(&(r)->ctr.field, 1, \
						 memory_order_relaxed)
#define ADD(r, field, n) atomic_fetch_add_explicit(&(r)->ctr.field, (n), \
						    memory_order_relaxed)

/* ---- the shared ring header ---- */

static uint32_t load32(const volatile uint8_t *p)
{
	return __atomic_load_n((const volatile uint32_t *)p, __ATOMIC_RELAXED);
}

static void store32(volatile uint8_t *p, uint32_t v)
{
	__atomic_store_n((volatile uint32_t *)p, v, __ATOMIC_RELAXED);
}

static volatile uint8_t *slot_at(struct ring *r, uint32_t idx)
{
	return r->sring + XE_BLKIF_RING_OFF_SLOTS +
	       (size_t)(idx & (r->nr_ents - 1)) * r->stride;
}

/* ---- requests ---- */

/* A request the guest got wrong: count it, log it (rate-limited). */
static int16_t refuse(struct ring *r, const struct req *req,
		      enum req_verdict v, const char *why)
{
	if (v == REQ_EOPNOTSUPP)
		INC(r, unsupported);
	else
		INC(r, bad_req);
	if (log_ratelimit_ok(&r->rl, r->prefix))
		log_msg(LOG_WARNING, "%s: op %u id %llu sector %llu: %s",
			r->prefix, req->operation,
			(unsigned long long)req->id,
			(unsigned long long)req->sector_number, why);
	return (int16_t)v;
}

static int16_t io_failed(struct ring *r, const struct req *req, int rc)
{
	INC(r, io_err);
	if (rc == -ENOSPC)
		INC(r, enospc);
	if (log_ratelimit_ok(&r->rl, r->prefix))
		log_msg(LOG_WARNING, "%s: op %u sector %llu: %s", r->prefix,
			req->operation,
			(unsigned long long)req->sector_number,
			rc == -ENOSPC ? "overlay full" : strerror(-rc));
	return XE_BLKIF_RSP_ERROR;
}

/*
 * Copy n grant segments in one batch. Returns 0 only if every segment
 * succeeded (XSA-365: each status is checked, none is assumed).
 */
static int copy_grants(struct ring *r, unsigned int n)
{
	unsigned int i;
	int rc;

	INC(r, gnt_calls);
	rc = xp_gnt_copy(r->gnt, n, r->copies);
	if (rc)
		return rc;
	for (i = 0; i < n; i++)
		if (r->copies[i].status != 0)
			return -EFAULT;
	return 0;
}

/* Grant-copy the indirect descriptor pages into private memory. */
static int fetch_indirect(struct ring *r, const struct req *req)
{
	unsigned int i, n = req_indirect_pages(req);

	for (i = 0; i < n; i++)
		r->copies[i] = (struct xp_gnt_copy){
			.to_foreign = false,
			.domid = r->domid,
			.ref = req->indirect_grefs[i],
			.offset = 0,
			.len = XE_BLKIF_PAGE_BYTES,
			.local = r->ind_pages + (size_t)i * XE_BLKIF_PAGE_BYTES,
		};
	return copy_grants(r, n);
}

/*
 * Describe the data segments as grant copies to or from the bounce buffer,
 * packed one after another. Returns the total in sectors.
 */
static uint64_t plan_copies_into(struct ring *r, const struct req_seg *segs,
				 unsigned int n, bool to_foreign,
				 struct xp_gnt_copy *copies,
				 unsigned char *local)
{
	uint64_t sectors = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		unsigned int len = (segs[i].last_sect - segs[i].first_sect + 1u) *
				   XE_BLKIF_SECTOR_BYTES;

		copies[i] = (struct xp_gnt_copy){
			.to_foreign = to_foreign,
			.domid = r->domid,
			.ref = segs[i].gref,
			.offset = (uint16_t)(segs[i].first_sect *
					     XE_BLKIF_SECTOR_BYTES),
			.len = (uint16_t)len,
			.local = local + sectors * XE_BLKIF_SECTOR_BYTES,
		};
		sectors += len / XE_BLKIF_SECTOR_BYTES;
	}
	return sectors;
}

static uint64_t plan_copies(struct ring *r, const struct req_seg *segs,
			    unsigned int n, bool to_foreign)
{
	return plan_copies_into(r, segs, n, to_foreign, r->copies, r->bounce);
}

static bool stop_requested(struct ring *r);

/*
 * on-full=pause: hold a write the overlay has no room for until it fits
 * (a raised limit, a discard, a bigger share of the budget) or the ring
 * is told to stop; its guest is paused meanwhile (the full callback).
 */
static int write_held(struct ring *r, uint64_t sector, uint32_t sectors)
{
	struct pollfd p = { .fd = r->stop_fd, .events = POLLIN };
	int rc = -ENOSPC;

	r->full(r->full_arg, true);
	while (rc == -ENOSPC && !stop_requested(r)) {
		poll(&p, 1, RING_FULL_RETRY_MS);
		rc = cow_write_flags(r->cow, r->bounce, sector, sectors,
				     COW_HOLD_ON_FULL);
	}
	r->full(r->full_arg, false);
	if (rc == -ENOSPC) /* given up: the view counted none of the tries */
		cow_count_failed_write(r->cow, rc);
	return rc;
}

/* Total sectors of n segments. */
static uint64_t segs_sectors(const struct req_seg *segs, unsigned int n)
{
	uint64_t sectors = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		sectors += segs[i].last_sect - segs[i].first_sect + 1u;
	return sectors;
}

/*
 * The grant copies of a request whose bytes lie in consecutive 4 KiB
 * blocks (blks[0] holding its first byte at first_off): one per piece of a
 * segment inside one block, so a segment of an unaligned request is two.
 * With blks NULL, only counts them (local is left NULL).
 */
static unsigned int plan_blk_copies(struct ring *r, const struct req_seg *segs,
				    unsigned int n, uint32_t first_off,
				    bool to_foreign,
				    const unsigned char *const *blks)
{
	uint64_t pos = first_off;
	unsigned int i, nc = 0;

	for (i = 0; i < n; i++) {
		uint32_t foff = segs[i].first_sect * XE_BLKIF_SECTOR_BYTES;
		uint32_t len = (segs[i].last_sect - segs[i].first_sect + 1u) *
			       XE_BLKIF_SECTOR_BYTES;

		while (len) {
			uint64_t bi = pos / XE_BLKIF_PAGE_BYTES;
			uint32_t off = (uint32_t)(pos % XE_BLKIF_PAGE_BYTES);
			uint32_t take = XE_BLKIF_PAGE_BYTES - off;

			if (take > len)
				take = len;
			assert(nc < r->nr_copies);
			r->copies[nc++] = (struct xp_gnt_copy){
				.to_foreign = to_foreign,
				.domid = r->domid,
				.ref = segs[i].gref,
				.offset = (uint16_t)foff,
				.len = (uint16_t)take,
				/* written only by copies from the guest,
				 * whose blks the view handed out writable */
				.local = blks ? (void *)(blks[bi] + off) : NULL,
			};
			pos += take;
			foff += take;
			len -= take;
		}
	}
	return nc;
}

/* A request's data segments against the blocks the view hands out. */
struct blk_plan {
	struct ring *r;
	const struct req_seg *segs;
	unsigned int n;
	uint32_t first_off; /* byte offset of the request in its first block */
	bool grant_failed;
};

/*
 * Under the blocks' locks: the request's grant copies, between the guest's
 * pages and the blocks' bytes. Any failed segment fails the lot.
 */
static int copy_planned(struct blk_plan *pl, bool to_foreign,
			const unsigned char *const *blks)
{
	unsigned int nc = plan_blk_copies(pl->r, pl->segs, pl->n,
					  pl->first_off, to_foreign, blks);

	if (copy_grants(pl->r, nc)) {
		pl->grant_failed = true;
		return -EFAULT;
	}
	return 0;
}

/*
 * The guest's data straight into the destinations the view handed out (new
 * overlay slots, or scratch it writes to the overlay afterwards); if it
 * fails, the view keeps every block as it was (XSA-365).
 */
static int write_copy_in(void *arg, unsigned char *const *blks,
			 uint32_t nr_blks)
{
	(void)nr_blks;
	return copy_planned(arg, false, (const unsigned char *const *)blks);
}

/* Bounce the data, then cow_write(): the rare write wider than one
 * cow_write_apply() call (a maximal request at an unaligned sector), and a
 * write held for room (on-full=pause). */
static int16_t do_write_bounce(struct ring *r, const struct req *req,
			       const struct req_seg *segs, unsigned int n)
{
	uint64_t sectors = plan_copies(r, segs, n, false);
	int rc;

	/* All guest data first: a bad grant means nothing lands (XSA-365). */
	if (copy_grants(r, n)) {
		INC(r, grant_err);
		return refuse(r, req, REQ_ERROR, "grant copy from guest failed");
	}
	rc = cow_write_flags(r->cow, r->bounce, req->sector_number,
			     (uint32_t)sectors, r->full ? COW_HOLD_ON_FULL : 0);
	if (rc == -ENOSPC && r->full)
		rc = write_held(r, req->sector_number, (uint32_t)sectors);
	if (rc)
		return io_failed(r, req, rc);
	INC(r, wr_req);
	ADD(r, wr_sect, sectors);
	return XE_BLKIF_RSP_OKAY;
}

/*
 * One copy: the guest's pages go straight to where the view wants them.
 * A request that is a single grant-copy op lands whole or not at all, so
 * the view may let it overwrite a RAM block in place.
 */
static int16_t do_write(struct ring *r, const struct req *req,
			const struct req_seg *segs, unsigned int n)
{
	struct blk_plan pl = { .r = r, .segs = segs, .n = n };
	uint64_t sectors = segs_sectors(segs, n);
	uint64_t first_blk = req->sector_number / COW_SECTORS_PER_BLK;
	uint64_t last_blk = (req->sector_number + sectors - 1) /
			    COW_SECTORS_PER_BLK;
	unsigned int flags = 0;
	int rc;

	if (last_blk - first_blk + 1 > COW_APPLY_MAX_BLKS)
		return do_write_bounce(r, req, segs, n);
	pl.first_off = (uint32_t)(req->sector_number % COW_SECTORS_PER_BLK) *
		       XE_BLKIF_SECTOR_BYTES;
	if (plan_blk_copies(r, segs, n, pl.first_off, false, NULL) == 1)
		flags |= COW_FILL_ALL_OR_NOTHING;
	if (r->full)
		flags |= COW_HOLD_ON_FULL; /* -ENOSPC: held, counted later */
	/* The bounce buffer (max_segs + 1 pages) is the scratch. */
	rc = cow_write_apply(r->cow, req->sector_number, (uint32_t)sectors,
			     flags, r->bounce, write_copy_in, &pl);
	/* on-full=pause: nothing was copied or changed; hold it through the
	 * bounce buffer, which keeps the data while it waits. */
	if (rc == -ENOSPC && r->full)
		return do_write_bounce(r, req, segs, n);
	if (pl.grant_failed) {
		INC(r, grant_err);
		return refuse(r, req, REQ_ERROR, "grant copy from guest failed");
	}
	if (rc)
		return io_failed(r, req, rc);
	INC(r, wr_req);
	ADD(r, wr_sect, sectors);
	return XE_BLKIF_RSP_OKAY;
}

/* Read into the bounce buffer, then grant-copy it out: two copies. */
static int16_t do_read_bounce(struct ring *r, const struct req *req,
			      const struct req_seg *segs, unsigned int n)
{
	uint64_t sectors = plan_copies(r, segs, n, true);
	int rc;

	rc = cow_read(r->cow, r->bounce, req->sector_number, (uint32_t)sectors);
	if (rc)
		return io_failed(r, req, rc);
	if (copy_grants(r, n)) {
		INC(r, grant_err);
		return refuse(r, req, REQ_ERROR, "grant copy to guest failed");
	}
	INC(r, rd_req);
	ADD(r, rd_sect, sectors);
	return XE_BLKIF_RSP_OKAY;
}

/*
 * Straight from the blocks' bytes (the RAM overlay itself where it can be)
 * to the guest's pages.
 */
static int read_copy_out(void *arg, const unsigned char *const *blks,
			 uint32_t nr_blks)
{
	(void)nr_blks;
	return copy_planned(arg, true, blks);
}

static int16_t do_read(struct ring *r, const struct req *req,
		       const struct req_seg *segs, unsigned int n)
{
	struct blk_plan pl = { .r = r, .segs = segs, .n = n };
	uint64_t sectors = segs_sectors(segs, n), first_blk, last_blk;
	int rc;

	first_blk = req->sector_number / COW_SECTORS_PER_BLK;
	last_blk = (req->sector_number + sectors - 1) / COW_SECTORS_PER_BLK;
	pl.first_off = (uint32_t)(req->sector_number % COW_SECTORS_PER_BLK) *
		       XE_BLKIF_SECTOR_BYTES;
	/* The rare read wider than one apply call (a maximal request at an
	 * unaligned sector) goes through the bounce buffer instead. */
	if (last_blk - first_blk + 1 > COW_APPLY_MAX_BLKS)
		return do_read_bounce(r, req, segs, n);
	/* The bounce buffer (max_segs + 1 pages) is the scratch for blocks
	 * that are not in RAM. */
	rc = cow_read_apply(r->cow, first_blk,
			    (uint32_t)(last_blk - first_blk + 1), sectors,
			    r->bounce, read_copy_out, &pl);
	if (pl.grant_failed) {
		INC(r, grant_err);
		return refuse(r, req, REQ_ERROR, "grant copy to guest failed");
	}
	if (rc)
		return io_failed(r, req, rc);
	INC(r, rd_req);
	ADD(r, rd_sect, sectors);
	return XE_BLKIF_RSP_OKAY;
}

/* Serve one request from its private copy; returns the response status. */
static int16_t serve(struct ring *r, const struct req *req)
{
	enum req_verdict v = req_validate(req, &r->feat);
	const struct req_seg *segs = req->seg;
	unsigned int n = req->nr_segments;
	uint8_t op = req->operation;
	int rc;

	if (v != REQ_OK)
		return refuse(r, req, v, "refused");
	if (!r->cow)
		return io_failed(r, req, -EIO); /* the disk is gone */

	switch (op) {
	case XE_BLKIF_OP_DISCARD:
		INC(r, discard_req);
		if (req->discard_nr_sectors == 0)
			return XE_BLKIF_RSP_OKAY;
		rc = cow_discard(r->cow, req->sector_number,
				 req->discard_nr_sectors);
		return rc ? io_failed(r, req, rc) : XE_BLKIF_RSP_OKAY;
	case XE_BLKIF_OP_FLUSH_DISKCACHE:
		/* Flush, then write the data if any (REQ_PREFLUSH). An empty
		 * flush must not fail for a passing reason: blkfront would
		 * turn flushes off for good. */
		INC(r, flush_req);
		rc = cow_flush(r->cow);
		if (rc)
			return io_failed(r, req, rc);
		if (n == 0)
			return XE_BLKIF_RSP_OKAY;
		return do_write(r, req, segs, n);
	case XE_BLKIF_OP_INDIRECT:
		INC(r, indirect_req);
		if (fetch_indirect(r, req)) {
			INC(r, grant_err);
			return refuse(r, req, REQ_ERROR,
				      "indirect page grant copy failed");
		}
		v = req_decode_indirect(r->ind_pages,
					(size_t)req_indirect_pages(req) *
						XE_BLKIF_PAGE_BYTES,
					req->nr_segments, r->segs);
		if (v == REQ_OK)
			v = req_validate_segs(req, r->segs, req->nr_segments,
					      &r->feat);
		if (v != REQ_OK)
			return refuse(r, req, v, "bad indirect segments");
		segs = r->segs;
		op = req->indirect_op;
		break;
	default:
		break;
	}
	return op == XE_BLKIF_OP_WRITE ? do_write(r, req, segs, n)
				       : do_read(r, req, segs, n);
}

/* ---- the ring loop ---- */

/*
 * Publish responses; kick the frontend only if it asked (rsp_event lies in
 * the newly published range). In the middle of a round (defer) a kick it
 * asked for waits until RING_NOTIFY_BATCH responses have gone out since
 * the last one, or the round ends: the frontend sees every response as
 * soon as it is pushed, it is only woken less often. A kick put off is
 * owed, and paid at the next push that may kick: skipping it would lose
 * it, because rsp_event is then behind the published range.
 */
static void push_responses(struct ring *r, bool defer)
{
	uint32_t old = load32(r->sring + XE_BLKIF_RING_OFF_RSP_PROD);
	uint32_t new = r->rsp_prod_pvt, event;

	if (old != new) {
		__atomic_thread_fence(__ATOMIC_RELEASE); /* slots first */
		store32(r->sring + XE_BLKIF_RING_OFF_RSP_PROD, new);
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* then rsp_event */
		event = load32(r->sring + XE_BLKIF_RING_OFF_RSP_EVENT);
		if ((uint32_t)(new - event) < (uint32_t)(new - old))
			r->notify_owed = true;
	}
	if (!r->notify_owed ||
	    (defer && (uint32_t)(new - r->notified_at) < RING_NOTIFY_BATCH))
		return;
	xp_evt_notify(r->evt, r->local_port);
	INC(r, notifies);
	r->notify_owed = false;
	r->notified_at = new;
}

static void halt(struct ring *r, uint32_t rp)
{
	atomic_store(&r->ctr.halted, true);
	log_msg(LOG_ERR,
		"%s: frontend provided bogus ring requests (req_prod %u, "
		"rsp_prod %u, ring of %u): ring halted",
		r->prefix, rp, r->rsp_prod_pvt, r->nr_ents);
}

/* Answer req in the slot at rsp_prod_pvt (its request already consumed),
 * pushing every 8 so early requests do not wait for the whole round. */
static void respond(struct ring *r, const struct req *req, int16_t status,
		    uint32_t *served)
{
	req_write_response(slot_at(r, r->rsp_prod_pvt), r->abi, req, status);
	r->rsp_prod_pvt++;
	if ((++*served & 7) == 0)
		push_responses(r, true);
}

/*
 * Whether req can join a batch of op (the first request's operation) whose
 * data so far takes page bounce pages and nc grant copies: a valid plain
 * (direct) write or read whose data still fits. Indirect requests go alone:
 * they are one grant-copy call each already. No writes under
 * on-full=pause, whose held writes keep their data at the bounce buffer's
 * start.
 */
static bool batchable(struct ring *r, const struct req *req, uint8_t op,
		      uint32_t page, uint32_t nc)
{
	if (req->operation != op || !r->cow)
		return false;
	if (op == XE_BLKIF_OP_WRITE ? r->full != NULL
				    : op != XE_BLKIF_OP_READ)
		return false;
	return req_validate(req, &r->feat) == REQ_OK &&
	       page + req->nr_segments <= r->max_segs + 1u &&
	       nc + req->nr_segments <= r->nr_copies;
}

/* Whether every grant copy of b in the batch's call (which returned rc)
 * succeeded (XSA-365: each status is checked, none is assumed). */
static bool batch_copied(const struct ring *r, const struct batched *b,
			 int rc)
{
	uint32_t k;

	if (rc)
		return false;
	for (k = 0; k < b->req.nr_segments; k++)
		if (r->copies[b->nc0 + k].status != 0)
			return false;
	return true;
}

/*
 * nb plain reads whose nc grant copies are planned: each is read into the
 * bounce buffer in ring order, then one grant-copy call takes all their
 * data out. A read that failed sends zeros with its error, never what the
 * bounce buffer held before; a read with a failed segment is refused; the
 * others go on.
 */
static void serve_read_batch(struct ring *r, uint32_t nb, uint32_t nc,
			     uint32_t *served)
{
	uint32_t i;
	int rc;

	for (i = 0; i < nb; i++) {
		struct batched *b = &r->batch[i];
		unsigned char *at = r->bounce +
				    (size_t)b->page * XE_BLKIF_PAGE_BYTES;

		rc = cow_read(r->cow, at, b->req.sector_number,
			      (uint32_t)b->sectors);
		if (rc) {
			memset(at, 0, b->sectors * XE_BLKIF_SECTOR_BYTES);
			b->status = io_failed(r, &b->req, rc);
		} else {
			b->status = XE_BLKIF_RSP_OKAY;
		}
	}
	INC(r, gnt_calls);
	rc = xp_gnt_copy(r->gnt, nc, r->copies);
	for (i = 0; i < nb; i++) {
		struct batched *b = &r->batch[i];
		bool ok = batch_copied(r, b, rc);

		if (b->status == XE_BLKIF_RSP_OKAY && !ok) {
			INC(r, grant_err);
			b->status = refuse(r, &b->req, REQ_ERROR,
					   "grant copy to guest failed");
		} else if (b->status == XE_BLKIF_RSP_OKAY) {
			INC(r, rd_req);
			ADD(r, rd_sect, b->sectors);
		}
		respond(r, &b->req, b->status, served);
	}
}

/*
 * nb plain writes whose nc grant copies are planned: one grant-copy call
 * brings all their data into the bounce buffer (one hypercall, or one
 * trip to the simulated Xen, for the lot), then each is written from
 * there, in ring order. A write with a failed segment is refused and
 * writes nothing (XSA-365); the others go on.
 */
static void serve_batch(struct ring *r, uint32_t nb, uint32_t nc,
			uint32_t *served)
{
	int rc;
	uint32_t i;

	INC(r, gnt_calls);
	rc = xp_gnt_copy(r->gnt, nc, r->copies);
	for (i = 0; i < nb; i++) {
		struct batched *b = &r->batch[i];
		int16_t status;

		if (!batch_copied(r, b, rc)) {
			INC(r, grant_err);
			status = refuse(r, &b->req, REQ_ERROR,
					"grant copy from guest failed");
		} else {
			int wrc = cow_write(r->cow,
					    r->bounce + (size_t)b->page *
								XE_BLKIF_PAGE_BYTES,
					    b->req.sector_number,
					    (uint32_t)b->sectors);

			if (wrc) {
				status = io_failed(r, &b->req, wrc);
			} else {
				INC(r, wr_req);
				ADD(r, wr_sect, b->sectors);
				status = XE_BLKIF_RSP_OKAY;
			}
		}
		respond(r, &b->req, status, served);
	}
}

/*
 * Serve at most one ring's worth of requests. Returns true if more are
 * waiting (the caller loops without sleeping), false once the final check
 * found the ring empty (or the ring halted).
 */
static bool ring_work(struct ring *r)
{
	uint32_t rp, served = 0;

	rp = load32(r->sring + XE_BLKIF_RING_OFF_REQ_PROD);
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* index before slots */
	if ((uint32_t)(rp - r->rsp_prod_pvt) > r->nr_ents) {
		halt(r, rp);
		return false;
	}
	while (r->req_cons != rp && served < r->nr_ents) {
		uint32_t nb = 0, page = 0, nc = 0, want = r->nr_ents - served;
		bool pending = false;
		uint8_t op = 0;

		/* Take the plain writes (or the plain reads) that come first,
		 * as many as one grant-copy call can carry; the first other
		 * request is decoded (once) and served after them. */
		while (r->req_cons != rp && nb < want && nb < r->batch_max) {
			struct batched *b = &r->batch[nb];

			req_decode(slot_at(r, r->req_cons), r->abi, &b->req);
			r->req_cons++;
			if (nb == 0)
				op = b->req.operation;
			if (!batchable(r, &b->req, op, page, nc)) {
				pending = true;
				break;
			}
			b->page = page;
			b->nc0 = nc;
			b->sectors = plan_copies_into(
				r, b->req.seg, b->req.nr_segments,
				op == XE_BLKIF_OP_READ, r->copies + nc,
				r->bounce + (size_t)page * XE_BLKIF_PAGE_BYTES);
			page += b->req.nr_segments;
			nc += b->req.nr_segments;
			nb++;
		}
		if (nb == 1) {
			/* Alone: the one-copy path. */
			respond(r, &r->batch[0].req,
				serve(r, &r->batch[0].req), &served);
		} else if (nb > 1 && op == XE_BLKIF_OP_READ) {
			serve_read_batch(r, nb, nc, &served);
		} else if (nb > 1) {
			serve_batch(r, nb, nc, &served);
		}
		if (pending)
			respond(r, &r->batch[nb].req, serve(r, &r->batch[nb].req),
				&served);
	}
	push_responses(r, false);
	if (r->req_cons != rp)
		return true;
	/* Final check: ask for a kick at the next request, then look again
	 * in case one arrived before the frontend could see req_event. */
	store32(r->sring + XE_BLKIF_RING_OFF_REQ_EVENT, r->req_cons + 1);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load32(r->sring + XE_BLKIF_RING_OFF_REQ_PROD) != r->req_cons;
}

static bool stop_requested(struct ring *r)
{
	struct pollfd p = { .fd = r->stop_fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

static void *ring_main(void *arg)
{
	struct ring *r = arg;
	char name[16];

	/* "ring D/V/qQ" in top and perf (15 bytes at most: cut if longer). */
	snprintf(name, sizeof(name), "ring %u/%u/q%u", r->domid, r->devid,
		 r->qid);
	pthread_setname_np(pthread_self(), name);

	/* Requests may be waiting from before we were bound. */
	while (ring_work(r) && !stop_requested(r))
		;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = xp_evt_fd(r->evt), .events = POLLIN },
			{ .fd = r->stop_fd, .events = POLLIN },
		};
		uint32_t port;
		bool kicked = false;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "%s: poll: %s", r->prefix,
				strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		while (xp_evt_pending(r->evt, &port) == 0)
			kicked = true;
		if (!kicked)
			continue;
		INC(r, wakeups);
		if (atomic_load(&r->ctr.halted))
			continue; /* stays masked: a liar gets no more wake-ups */
		while (ring_work(r) && !stop_requested(r))
			;
		if (!atomic_load(&r->ctr.halted))
			xp_evt_unmask(r->evt, r->local_port);
	}
	return NULL;
}

/* ---- life cycle ---- */

void ring_free(struct ring *r)
{
	if (!r)
		return;
	if (r->thread_started) {
		uint64_t one = 1;

		if (write(r->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_msg(LOG_ERR, "%s: cannot stop ring thread",
				r->prefix);
		pthread_join(r->thread, NULL);
	}
	if (r->bound)
		xp_evt_unbind(r->evt, r->local_port);
	if (r->sring)
		xp_gnt_unmap(r->gnt, (void *)r->sring, r->nr_pages);
	xp_evt_close(r->evt);
	xp_gnt_close(r->gnt);
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	if (r->mem) {
		explicit_bzero(r->mem, r->mem_bytes);
		munmap(r->mem, r->mem_bytes);
	}
	free(r->segs);
	free(r->batch);
	free(r->copies);
	free(r);
}

static int ring_alloc_buffers(struct ring *r)
{
	/* One page more than the segments: an unaligned read's blocks. */
	size_t bounce = ((size_t)r->max_segs + 1) * XE_BLKIF_PAGE_BYTES;
	size_t ind = (size_t)XE_BLKIF_MAX_INDIRECT_PAGES * XE_BLKIF_PAGE_BYTES;
	void *mem;
	int rc;

	r->mem_bytes = bounce + ind;
	mem = mmap(NULL, r->mem_bytes, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	r->mem = mem;
	/* Locked page by page as used: an idle ring costs no memory. */
	rc = key_protect_memory_lazy(mem, r->mem_bytes);
	if (rc)
		return rc;
	r->bounce = r->mem;
	r->ind_pages = r->mem + bounce;
	r->segs = calloc(r->max_segs, sizeof(*r->segs));
	/* As many plain requests as the ring holds and the bounce buffer
	 * carries (each takes a page at least): one grant-copy call for a
	 * whole round of them. */
	r->batch_max = r->nr_ents < r->max_segs + 1 ? r->nr_ents :
						      r->max_segs + 1;
	r->batch = calloc(r->batch_max, sizeof(*r->batch));
	/* A read segment may straddle two blocks: two copies. */
	r->nr_copies = 2 * r->max_segs;
	r->copies = calloc(r->nr_copies, sizeof(*r->copies));
	if (!r->segs || !r->copies || !r->batch)
		return -ENOMEM;
	return 0;
}

int ring_new(const struct ring_params *p, struct ring **ring_r, char *err,
	     size_t err_len)
{
	const char *step;
	struct ring *r;
	uint32_t rsp_prod, req_prod;
	int rc;

	if (p->order > XE_BLKIF_MAX_RING_ORDER) {
		xp_evt_close(p->evt);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		xp_evt_close(p->evt);
		return -ENOMEM;
	}
	r->evt = p->evt; /* ours now: ring_free() closes it */
	r->xp = p->xp;
	r->domid = p->domid;
	r->devid = p->devid;
	r->qid = p->qid;
	snprintf(r->prefix, sizeof(r->prefix), "%u/%u/q%u", p->domid, p->devid,
		 p->qid);
	r->abi = p->abi;
	r->stride = XE_BLKIF_SLOT_BYTES(p->abi);
	r->nr_pages = 1u << p->order;
	r->nr_ents = XE_BLKIF_RING_ENTRIES(p->order);
	r->cow = p->cow;
	r->full = p->full;
	r->full_arg = p->full_arg;
	r->feat = p->feat;
	r->max_segs = p->feat.max_indirect_segs > XE_BLKIF_MAX_SEGS ?
			      p->feat.max_indirect_segs :
			      XE_BLKIF_MAX_SEGS;
	r->stop_fd = -1;

	step = "cannot open a grant-table handle";
	rc = xp_gnt_open(p->xp, &r->gnt);
	if (rc)
		goto fail;
	step = "cannot open an event-channel handle";
	if (!r->evt) {
		rc = xp_evt_open(p->xp, &r->evt);
		if (rc)
			goto fail;
	}
	step = "cannot allocate locked buffers";
	rc = ring_alloc_buffers(r);
	if (rc)
		goto fail;
	step = "cannot map the ring pages the frontend granted";
	rc = xp_gnt_map(r->gnt, p->domid, r->nr_pages, p->refs, true,
			(void **)&r->sring);
	if (rc) {
		r->sring = NULL;
		goto fail;
	}
	/* Attach to the ring as it is (the frontend initialised it): start
	 * where its responses stand, and refuse a ring already overfull. */
	rsp_prod = load32(r->sring + XE_BLKIF_RING_OFF_RSP_PROD);
	req_prod = load32(r->sring + XE_BLKIF_RING_OFF_REQ_PROD);
	if ((uint32_t)(req_prod - rsp_prod) > r->nr_ents) {
		step = "the ring holds more requests than slots";
		rc = -EIO;
		goto fail;
	}
	r->req_cons = r->rsp_prod_pvt = r->notified_at = rsp_prod;
	step = "cannot bind the frontend's event channel";
	rc = xp_evt_bind(r->evt, p->domid, p->remote_port, &r->local_port);
	if (rc)
		goto fail;
	r->bound = true;
	step = "cannot start the ring";
	r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->stop_fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = -pthread_create(&r->thread, NULL, ring_main, r);
	if (rc)
		goto fail;
	r->thread_started = true;
	*ring_r = r;
	return 0;
fail:
	snprintf(err, err_len, "queue %u: %s: %s", p->qid, step, strerror(-rc));
	ring_free(r);
	return rc;
}

void ring_get_stats(const struct ring *ring, struct ring_stats *st)
{
	struct ring *r = (struct ring *)ring; /* atomics need non-const */

#define RING_STAT_GET(name)                                                    \
	st->name = atomic_load_explicit(&r->ctr.name, memory_order_relaxed);
	RING_COUNTERS(RING_STAT_GET)
#undef RING_STAT_GET
	st->halted = atomic_load(&r->ctr.halted);
}
