/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A libxl look-alike for the simulated Xen: it writes and removes vbd3
 * devices the way Xen 4.20's libxl does for `backendtype=tap,script=...`
 * (the node set, permissions and teardown orders of
 * ../shared/xenlab420/REPORT.md 3.2-3.5 and toolstack-routes.md 1.7), and
 * links a stubdomain to its guest as libxl__spawn_stub_dm does. The test
 * plays the toolstack with it; the daemon must never need more.
 * Everything returns 0 or -errno.
 */
#ifndef XE_TESTS_TOOLSTACK_H
#define XE_TESTS_TOOLSTACK_H

#include <stdbool.h>
#include <stdint.h>

#include "platform/platform.h"
#include "tests/sim/sim.h"

/* One disk line: backendtype=tap, script=<script>, vdev, access, target. */
struct ts_disk {
	uint16_t domid;
	uint32_t devid;
	const char *vdev;    /* "xvda" */
	const char *target;  /* after "aio:" in params */
	const char *format;  /* NULL: "aio" (raw); else e.g. "vhd" */
	const char *script;  /* absolute, as libxl writes it */
	bool read_only;      /* access=ro */
};

/* Write backend/vbd3/<domid>/<devid> and the frontend directory, in one
 * transaction, both in state 1 (libxl__device_disk_add). */
int ts_vbd3_add(struct xp *tool, const struct ts_disk *disk);

/* The backend directory's path (static storage, per call). */
const char *ts_vbd3_dir(uint16_t domid, uint32_t devid);

/* Wait for the backend to reach want (libxl's 10 s waits); -ETIMEDOUT. */
int ts_wait_backend(struct xp *tool, const char *be, int want,
		    unsigned int timeout_ms);

enum ts_remove {
	TS_REMOVE_SAFE,  /* xl block-detach: online=0 + state 5, wait, rm */
	TS_REMOVE_FORCE, /* xl destroy / block-detach -f: the frontend
			  * directory first, then as above */
};

/*
 * Remove a vbd3 device as libxl does; wait up to 10 s for Closed. The
 * directories are removed either way (FORCE) or only once Closed (SAFE,
 * which leaves the device in state 5 and returns -ETIMEDOUT otherwise).
 */
int ts_vbd3_remove(struct xp *tool, uint16_t domid, uint32_t devid,
		   enum ts_remove how);

/* Give domid its UUID as libxl does: /local/domain/<domid>/vm = /vm/<uuid>. */
int ts_domain_uuid(struct xp *tool, uint16_t domid, const char *uuid);

/*
 * Make stub the stubdomain of guest: create it, write
 * /local/domain/<stub>/target = guest and
 * /local/domain/<guest>/image/device-model-domid = stub, as libxl does
 * before it adds the stubdomain's disks.
 */
int ts_stubdom_create(struct sim *sim, struct xp *tool, uint16_t stub,
		      uint16_t guest);

#endif
