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
#include <stddef.h>
#include <stdint.h>

#include "backend/req.h"
#include "cow/cow.h"
#include "platform/platform.h"

struct ring;

#define RING_FULL_RETRY_MS 100

struct ring_params {
	struct xp *xp;
	uint16_t domid;     /* the frontend's domain */
	uint32_t devid;     /* for log prefixes */
	unsigned int qid;   /* queue number, for log prefixes */
	enum xe_blkif_abi abi;
	unsigned int order; /* ring pages = 1 << order, already validated */
	const uint32_t *refs;  /* 1 << order grant refs of the ring pages */
	uint32_t remote_port;  /* the frontend's event channel */
	struct cow *cow;       /* not owned; outlives the ring. NULL: a disk
				  that is gone, every request an I/O error */
	struct req_features feat;
	/*
	 * on-full=pause: a write the overlay has no room for is held, not
	 * failed, and tried again every RING_FULL_RETRY_MS until it fits or
	 * the ring stops; full(arg, true) is called once when it starts
	 * waiting, full(arg, false) when it is done (from the ring's
	 * thread). NULL: such a write fails at once (on-full=error).
	 */
	void (*full)(void *arg, bool waiting);
	void *full_arg;
	/* The event-channel handle to bind on (a worker's, imported from
	 * the supervisor), owned by the ring from ring_new() on, even on
	 * failure; NULL: the ring opens its own on xp. */
	struct xp_evt *evt;
};

/* A ring's counters, listed once (X-macro). */
#define RING_COUNTERS(X)                                                       \
	X(rd_req)                                                              \
	X(wr_req)                                                              \
	X(flush_req)                                                           \
	X(discard_req)                                                         \
	X(indirect_req)                                                        \
	X(rd_sect)                                                             \
	X(wr_sect)                                                             \
	X(bad_req)     /* refused: malformed or not allowed (guest's fault) */ \
	X(unsupported) /* answered EOPNOTSUPP */                               \
	X(io_err)      /* failed in the view (ENOSPC, EIO...) */               \
	X(enospc)                                                              \
	X(grant_err)   /* a grant copy failed */                               \
	X(wakeups)                                                             \
	X(notifies)                                                            \
	X(gnt_calls)   /* grant-copy calls (hypercalls) made */

/* Counters, summed per device by the caller. */
struct ring_stats {
#define RING_STAT_FIELD(name) uint64_t name;
	RING_COUNTERS(RING_STAT_FIELD)
#undef RING_STAT_FIELD
	bool halted; /* the frontend lied about req_prod */
};

/*
 * Map the ring, bind the event channel, allocate locked buffers, and start
 * the ring's thread. Returns 0 and sets *ring_r, or -errno (the ring pages
 * or port were refused, or the ring holds more requests than it can) with
 * a sentence in err; it does not log.
 */
int ring_new(const struct ring_params *params, struct ring **ring_r, char *err,
	     size_t err_len);

/*
 * Stop the thread (after the request it is serving), unbind, unmap, and wipe
 * and free the buffers. Requests still on the ring get no response: this is
 * only called on disconnect. NULL is ok.
 */
void ring_free(struct ring *ring);

/* A snapshot of the counters. Any thread. */
void ring_get_stats(const struct ring *ring, struct ring_stats *stats);

#endif
