/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The xenbus side of the daemon: it watches the backend kinds it serves,
 * runs the handshake of every device found there, opens each device's disk
 * from its `params` spec, connects its rings, and tears it down when the
 * frontend closes, the toolstack sets `online` to 0, or the frontend's domain
 * vanishes. One thread (the daemon's main loop) calls everything here.
 */
#ifndef XE_XS_GLUE_XENBUS_H
#define XE_XS_GLUE_XENBUS_H

#include <stdint.h>

#include "backend/ring.h"
#include "cow/cow.h"
#include "platform/platform.h"

#define XENBUS_MAX_KINDS 4u

struct xenbus_config {
	/* Backend kinds served (default "ephemeral"); never vbd or qdisk. */
	const char *kinds[XENBUS_MAX_KINDS];
	unsigned int nr_kinds;
	unsigned int max_queues;   /* multi-queue-max-queues, 1..16 */
	struct cow_budget *budget; /* process-wide overlay cap, may be NULL */
	/* How long a frontend may take to close after online=0 (ms). */
	unsigned int close_timeout_ms;
};

struct xenbus;

/*
 * Start watching. Returns -EINVAL for a kind we must never serve (vbd,
 * qdisk, vbd is kernel blkback's, qdisk QEMU's) or a malformed name.
 */
int xenbus_new(struct xp *xp, const struct xenbus_config *cfg,
	       struct xenbus **xb_r);

/* The fd to poll: readable when xenstore has news. */
int xenbus_fd(struct xenbus *xb);

/* Milliseconds until xenbus_process() must run for a timer, or -1. */
int xenbus_timeout_ms(struct xenbus *xb);

/*
 * Take the queued watch events (bounded per call), then bring every device
 * they touched up to date once, however many events touched it (XSA-349).
 * Returns 0, or -errno if the xenstore connection failed.
 */
int xenbus_process(struct xenbus *xb);

/* A device as the daemon sees it, for status reports. */
struct xenbus_dev_info {
	char kind[32];
	uint16_t domid;
	uint32_t devid;
	int be_state, fe_state;
	struct cow_stats cow;
	struct ring_stats ring;
	unsigned int nr_rings;
};

/* Call fn for every device. */
void xenbus_for_each(struct xenbus *xb,
		     void (*fn)(const struct xenbus_dev_info *info, void *arg),
		     void *arg);

/* Close every device (disconnect, wipe, state Closed) and free. NULL ok. */
void xenbus_free(struct xenbus *xb);

#endif
