/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One guest's worker: the process that holds that guest's disks (views,
 * overlay RAM, keys, scratch and base descriptors), their rings and their
 * NBD exports, and nothing of any other guest's. It has no xenstore
 * connection and opens no file: the supervisor (xs-glue/workers.h) runs
 * the state machine, opens what must be opened, and hands descriptors over
 * the one socket the worker has (backend/wire.h). A bug a guest finds in
 * the ring code therefore reaches that guest's own data and no one else's
 * (docs/architecture.md, "Workers").
 *
 * The worker answers every request with its result, keeps the shared stats
 * page up to date, asks for a bigger share of the budget when a write
 * needs it, and tells the supervisor when an NBD client comes or goes. It
 * ends when the supervisor closes the socket: every view is freed (overlay
 * and key wiped) before it returns.
 */
#ifndef XE_BACKEND_WORKER_H
#define XE_BACKEND_WORKER_H

#include <stdint.h>

#include "platform/platform.h"

/* Budget blocks asked for, or kept beyond use, at a time (16 MiB). */
#define WORKER_LEASE_CHUNK_BLKS 4096u
/* How long a write waits for a bigger share before it fails (ms). */
#define WORKER_LEASE_WAIT_MS 500u

struct worker_config {
	struct xp *xp;    /* the worker's platform (no xenstore) */
	int sock;         /* SOCK_SEQPACKET to the supervisor (not closed) */
	uint16_t domid;   /* the guest served, for logs */
	/* How often the stats page is refreshed (ms; 0: 200). */
	unsigned int stats_interval_ms;
};

/* Serve until the supervisor hangs up. 0, or -errno if the socket failed
 * or the supervisor broke the protocol (logged). */
int worker_serve(const struct worker_config *cfg);

#endif
