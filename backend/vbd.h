/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A virtual block device as the guest sees it: one cow view served over one
 * or more rings (queues). The xenbus state machine decides when to connect
 * and disconnect; this only does it. Called from one thread (the device's
 * owner); the rings run in threads of their own.
 */
#ifndef XE_BACKEND_VBD_H
#define XE_BACKEND_VBD_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/ring.h"

#define VBD_MAX_RING_ORDER 4u  /* advertised max-ring-page-order */
#define VBD_MAX_QUEUES 16u     /* hard cap on multi-queue-max-queues */
#define VBD_MAX_INDIRECT_SEGS 256u

struct vbd_queue {
	uint32_t refs[1u << VBD_MAX_RING_ORDER];
	uint32_t port;
};

struct vbd_params {
	struct xp *xp;
	uint16_t domid; /* frontend domain */
	uint32_t devid;
	struct cow *cow; /* not owned; must outlive the vbd */
	struct req_features feat;
	/* on-full=pause (backend/ring.h); NULL: on-full=error */
	void (*full)(void *arg, bool waiting);
	void *full_arg;
};

struct vbd;

/* A device with nothing connected yet. */
int vbd_new(const struct vbd_params *params, struct vbd **vbd_r);

/*
 * Connect nr_queues rings of 2^order pages each. Idempotent: an existing
 * connection is torn down first. On failure nothing stays connected, and
 * err says which queue failed and why. evts, if not NULL, holds one
 * event-channel handle per queue for the rings to bind on (a worker's,
 * from the supervisor): all of them are owned from here on, used or not;
 * NULL: each ring opens its own.
 */
int vbd_connect(struct vbd *vbd, enum xe_blkif_abi abi, unsigned int order,
		unsigned int nr_queues, const struct vbd_queue *queues,
		struct xp_evt **evts, char *err, size_t err_len);

/* Stop and free every ring. Safe when not connected. */
void vbd_disconnect(struct vbd *vbd);

/* Whether rings are connected now. */
bool vbd_connected(const struct vbd *vbd);

/* Rings (queues) connected now: 0 when disconnected. */
unsigned int vbd_nr_rings(const struct vbd *vbd);

/* Counters summed over the rings, including rings already disconnected. */
void vbd_get_stats(const struct vbd *vbd, struct ring_stats *stats);

/* Disconnect and free. NULL is ok. */
void vbd_free(struct vbd *vbd);

#endif
