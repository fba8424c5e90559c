/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkif's own xenstore nodes, for one device (blkif.h is the reference):
 * what the toolstack asks for in the backend directory (params, mode,
 * discard-enable), what the backend publishes before InitWait (the
 * features and the disk's properties), and the rings the frontend offers
 * (ring-ref*, event-channel, queue-N/, protocol, ring-page-order,
 * multi-queue-num-queues).
 *
 * Every function reads or writes xenstore only; none logs. Each returns 0
 * or -errno and, on error, a sentence naming the node that failed in err,
 * for the caller to log once and put in the device's error node.
 */
#ifndef XE_XS_GLUE_VBD_XS_H
#define XE_XS_GLUE_VBD_XS_H

#include <stdbool.h>
#include <stddef.h>

#include "backend/vbd.h"
#include "platform/platform.h"
#include "xs-glue/diskspec.h"
#include "xs-glue/kind.h"

/* An HVM guest's disk: its NBD socket, which the hook copies into
 * physical-device-path for libxl to give the dom0 QEMU. */
#define VBD_XS_NODE_NBD "ephemeral-nbd-socket"

/* What the toolstack asks of a device. */
struct vbd_xs_config {
	char params[2 * DISKSPEC_PATH_MAX + 512]; /* as read */
	struct diskspec spec;
	bool read_only; /* mode without 'w', or an ro: spec */
	bool discard;   /* discard-enable not "0", and writable */
	char vdev[16];  /* the `dev` node ("xvda"), "" if absent */
};

/*
 * Read a device's config from its backend directory be: mode first (a
 * read-only device is never opened for writing), then params under the
 * kind's rule, then discard-enable. For vbd3, params is "aio:<target>"
 * (another format is refused); a target that is an absolute path means
 * "cow:base=<path>" followed by default_overlay (e.g. "store=xts,
 * scratch=/var/tmp"; NULL or "" for none), for toolstacks that can only
 * name a volume (Qubes' libvirt templates).
 */
int vbd_xs_read_config(struct xp *xp, const char *be,
		       const struct xenbus_kind *kind,
		       const char *default_overlay, struct vbd_xs_config *cfg,
		       char *err, size_t err_len);

/*
 * Everything the frontend may read before it connects, and state 2
 * (InitWait), in one transaction: the limits it sizes its rings by and the
 * disk's properties (Linux reads them at InitWait; Windows insists on
 * sectors, sector-size and info) are never seen without each other.
 * hotplug_status also says "connected", for routes with no hook. The
 * device must still be the one cfg was read from (state 1, the same
 * params): a directory the toolstack removed and made again meanwhile is
 * -ESTALE, and nothing is written. nbd_path, if not NULL, goes into
 * XENBUS_NODE_NBD: the disk's NBD socket, which the hook hands to libxl
 * as physical-device-path, for a dom0 device model.
 */
int vbd_xs_advertise(struct xp *xp, const char *be,
		     const struct vbd_xs_config *cfg,
		     const struct req_features *feat, unsigned int max_queues,
		     bool hotplug_status, const char *nbd_path, char *err,
		     size_t err_len);

/* The rings a frontend offers, read strictly from its directory. */
struct vbd_xs_rings {
	enum xe_blkif_abi abi;
	unsigned int order;
	unsigned int nr_queues;
	struct vbd_queue queues[VBD_MAX_QUEUES];
};

/*
 * Read them from the frontend directory fe, bounded by what we advertised
 * (max_order, max_queues) before anything is computed from them.
 */
int vbd_xs_read_rings(struct xp *xp, const char *fe, unsigned int max_order,
		      unsigned int max_queues, struct vbd_xs_rings *rings,
		      char *err, size_t err_len);

#endif
