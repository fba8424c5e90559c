/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One blkif shared ring (one queue of a device) and the thread that serves
 * it. The thread owns everything it touches while running: the mapped ring,
 * its own grant and event-channel handles, a bounce buffer and the request
 * being served; the only shared things are the cow view (thread-safe) and the
 * counters (atomics).
 */
#ifndef XE_BACKEND_RING_H
#define XE_BACKEND_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/req.h"
#include "cow/cow.h"
#include "platform/platform.h"

struct ring;

struct ring_params {
	struct xp *xp;
	uint16_t domid;     /* the frontend's domain */
	uint32_t devid;     /* for log prefixes */
	unsigned int qid;   /* queue number, for log prefixes */
	enum xe_blkif_abi abi;
	unsigned int order; /* ring pages = 1 << order, already validated */
	const uint32_t *refs;  /* 1 << order grant refs of the ring pages */
	uint32_t remote_port;  /* the frontend's event channel */
	struct cow *cow;       /* not owned; outlives the ring */
	struct req_features feat;
};

/* Counters, summed per device by the caller. */
struct ring_stats {
	uint64_t rd_req, wr_req, flush_req, discard_req, indirect_req;
	uint64_t rd_sect, wr_sect;
	uint64_t bad_req;     /* refused: malformed or not allowed (guest's fault) */
	uint64_t unsupported; /* answered EOPNOTSUPP */
	uint64_t io_err;      /* failed in the view (ENOSPC, EIO...) */
	uint64_t enospc;
	uint64_t grant_err;   /* a grant copy failed */
	uint64_t wakeups, notifies;
	bool halted;          /* the frontend lied about req_prod */
};

/*
 * Map the ring, bind the event channel, allocate locked buffers, and start
 * the ring's thread. Returns 0 and sets *ring_r, or -errno (the ring pages
 * or port were refused, or the ring holds more requests than it can).
 */
int ring_new(const struct ring_params *params, struct ring **ring_r);

/*
 * Stop the thread (after the request it is serving), unbind, unmap, and wipe
 * and free the buffers. Requests still on the ring get no response: this is
 * only called on disconnect. NULL is ok.
 */
void ring_free(struct ring *ring);

/* A snapshot of the counters. Any thread. */
void ring_get_stats(const struct ring *ring, struct ring_stats *stats);

#endif
