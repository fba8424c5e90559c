/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Self-attach: what the CLI (and the tests, playing the toolstack) do to give
 * a domain an ephemeral disk without libxl, the way `xl block-attach` does:
 * write the backend directory (ours: /local/domain/<self>/backend/<kind>/
 * <domid>/<devid>, owned by dom0, readable by the guest) and the frontend
 * directory (/local/domain/<domid>/device/vbd/<devid>, owned by the guest,
 * readable by dom0) in one transaction, both in state 1. The daemon takes it
 * from there. Detach asks the daemon to close (online=0, state 5), waits for
 * Closed, and removes both directories.
 */
#ifndef XE_XS_GLUE_ATTACH_H
#define XE_XS_GLUE_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/platform.h"

#define ATTACH_DEFAULT_KIND "ephemeral"

/*
 * The device number of a Linux/Xen virtual disk name: "xvda" -> 51712,
 * "xvdb" -> 51728, "xvdq" and beyond use the extended encoding; a plain
 * decimal number is taken as it is. -EINVAL for anything else.
 */
int attach_vdev_devid(const char *vdev, uint32_t *devid_r);

struct attach_req {
	uint16_t domid;
	const char *vdev;  /* "xvda" */
	const char *spec;  /* the disk spec, validated before anything is written */
	const char *kind;  /* NULL: ATTACH_DEFAULT_KIND */
	bool read_only;    /* mode "r" (a ro spec is read-only anyway) */
};

/*
 * Write both directories for a new device. -EEXIST if the device exists,
 * -EINVAL for a bad vdev or spec (message in err), -ENOENT if the domain
 * does not exist.
 */
int attach_device(struct xp *xp, const struct attach_req *req, char *err,
		  size_t err_len);

/*
 * Ask the backend to close the device, wait up to timeout_ms for it to
 * reach Closed (state 6), then remove both directories (also after a
 * timeout: -ETIMEDOUT is returned, the nodes are still removed). It uses
 * xp's watch queue: give it an xp that no one else is reading events from.
 */
int detach_device(struct xp *xp, const char *kind, uint16_t domid,
		  uint32_t devid, unsigned int timeout_ms);

#endif
