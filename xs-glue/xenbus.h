/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The xenbus side of the daemon: it watches the backend kinds it serves,
 * runs the handshake of every device found there, attaches each device to
 * its disk in the registry (xs-glue/registry.h), connects its rings, and
 * tears it down when the frontend closes, the toolstack sets `online` to 0,
 * the frontend's domain vanishes, or the device is removed. One thread (the
 * daemon's main loop) calls everything here.
 */
#ifndef XE_XS_GLUE_XENBUS_H
#define XE_XS_GLUE_XENBUS_H

#include <stdint.h>

#include "backend/ring.h"
#include "cow/cow.h"
#include "platform/platform.h"
#include "xs-glue/parse.h"
#include "xs-glue/registry.h"

#define XENBUS_MAX_KINDS 2u

/* Where libxl finds the hook (script=xen-ephemeral in an xl disk line):
 * the installed xen-ephemeral in configure's --with-xen-scripts-dir. */
#define XENBUS_DEFAULT_HOOK XEN_SCRIPTS_DIR "/xen-ephemeral"

struct xenbus_config {
	/* Backend kinds served (xs-glue/kind.h): ephemeral, vbd3. */
	const char *kinds[XENBUS_MAX_KINDS];
	unsigned int nr_kinds;
	/* vbd3: serve only devices whose script node is exactly this
	 * (NULL: XENBUS_DEFAULT_HOOK). */
	const char *hook_path;
	/* Overlay options for a target that is only a path (NULL: none). */
	const char *default_overlay;
	unsigned int max_queues;   /* multi-queue-max-queues, 1..16 */
	uint64_t budget_blks;      /* all overlays together; 0: no cap */
	/* How each guest's worker is started (xs-glue/workers.h). */
	int (*spawn)(void *arg, uint16_t domid, int sock, pid_t *pid_r);
	void *spawn_arg;
	/* How long a frontend may take to close after online=0 (ms). */
	unsigned int close_timeout_ms;
	/* How disks are opened (NULL: disk_plan_open; tests slow it down). */
	disk_plan_fn *plan_disk;
	/* How often overlay usage is published in xenstore (ms, 0: 5000). */
	unsigned int publish_interval_ms;
	/* Where HVM guests' NBD sockets go, <owner>.<devid>.sock: a
	 * directory of ours, mode 0700 (NULL: XENBUS_DEFAULT_NBD_DIR). */
	const char *nbd_dir;
};

#ifndef XENBUS_DEFAULT_NBD_DIR
#define XENBUS_DEFAULT_NBD_DIR "/run/xen-ephemeral/nbd"
#endif

/*
 * Published under each served device's backend directory, for dom0 tools
 * (the guest can read them too: usage only, never anything secret).
 */
#define XENBUS_NODE_USED "ephemeral-used-bytes"
#define XENBUS_NODE_PEAK "ephemeral-peak-bytes"
#define XENBUS_NODE_LIMIT "ephemeral-limit-bytes"


struct xenbus;

/*
 * Start watching. Returns -EINVAL for a kind we must never serve (vbd is
 * kernel blkback's, qdisk QEMU's) or do not know.
 */
int xenbus_new(struct xp *xp, const struct xenbus_config *cfg,
	       struct xenbus **xb_r);

/* The fd to poll: readable when xenstore has news or a disk has opened. */
int xenbus_fd(struct xenbus *xb);

/* Milliseconds until xenbus_process() must run for a timer, or -1. */
int xenbus_timeout_ms(struct xenbus *xb);

/*
 * Take the queued watch events (bounded per call) and finished opens, then
 * bring every device they touched up to date once, however many events
 * touched it (XSA-349). Returns 0, or -errno if the xenstore connection
 * failed.
 */
int xenbus_process(struct xenbus *xb);

/* Who a device's frontend is to its disk. */
enum xenbus_role {
	XENBUS_ROLE_GUEST,   /* the owner itself */
	XENBUS_ROLE_STUBDOM, /* the owner's stubdomain */
};

/* A device as the daemon sees it, for status reports. */
struct xenbus_dev_info {
	char kind[16];
	char vdev[16];  /* the toolstack's `dev` node, "" if none */
	uint16_t domid; /* the frontend's domain */
	uint16_t owner; /* the disk's owner (domid, or its stubdom's target) */
	uint32_t devid;
	enum xenbus_role role;
	enum xenbus_state be_state, fe_state;
	bool has_disk;  /* attached to an open disk (cow is valid) */
	struct cow_stats cow;
	struct ring_stats ring;
	unsigned int nr_rings;
	char error[256]; /* why the device is not served, "" if it is */
};

/* Call fn for every device we serve (not other components' vbd3 ones). */
void xenbus_for_each(struct xenbus *xb,
		     void (*fn)(const struct xenbus_dev_info *info, void *arg),
		     void *arg);

/* Most blkif devices a disk has (the owner's and its stubdomain's). */
#define XENBUS_MAX_DISK_DEVS 2u

/* A disk as the daemon sees it: its view and every attachment. */
struct xenbus_disk_info {
	uint16_t owner;
	uint32_t devid;
	char vdev[16];
	char spec[256];          /* canonical, cut if long */
	enum diskspec_kind kind;
	enum diskspec_store store;
	bool read_only;
	enum disk_state state;
	char error[256];         /* DISK_FAILED: why */
	struct cow_stats cow;    /* DISK_OPEN */
	unsigned int nbd_clients;
	char nbd_path[108]; /* its NBD socket, "" if not exported */
	bool paused;             /* its guest is paused: the overlay is full */
	uint64_t capacity_bytes; /* the most set-limit may allow */
	unsigned int nr_devs;
	struct xenbus_dev_info devs[XENBUS_MAX_DISK_DEVS];
};

/* Call fn for every disk of the registry, with its devices. */
void xenbus_for_each_disk(struct xenbus *xb,
			  void (*fn)(const struct xenbus_disk_info *info,
				     void *arg),
			  void *arg);

/*
 * xen-ephemeral set-limit: a new limit for the overlay of domain domid's
 * disk dev (its vdev, "xvdb", or its device number). 0, or -errno with a
 * sentence in err.
 */
int xenbus_set_limit(struct xenbus *xb, uint16_t domid, const char *dev,
		     uint64_t limit_bytes, char *err, size_t err_len);

/* The registry of disks behind the devices (for status and NBD). */
struct registry *xenbus_registry(struct xenbus *xb);

/* The save/restore guard (for the control socket's forget). */
struct save_guard;
struct save_guard *xenbus_save_guard(struct xenbus *xb);

/* Close every device (disconnect, wipe, state Closed) and free. NULL ok. */
void xenbus_free(struct xenbus *xb);

#endif
