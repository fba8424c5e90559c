/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The xenbus state machine for every device under the kinds we serve.
 *
 * Events: one watch per served kind on /local/domain/<self>/backend/<kind>,
 * one on each device's frontend state node, @releaseDomain, and the
 * registry's "a disk opened" eventfd. An event only marks the device it
 * names dirty; after draining a bounded number of events, every dirty
 * device is brought up to date once from what xenstore says now (never
 * from the event). A watch storm therefore costs reads, not memory
 * (XSA-349), and an intermediate state the watch coalesced away is never
 * needed (frontend Initialised and Connected are treated alike).
 *
 * A device's life, in the order of the functions below (backend states are
 * what we write; blkif-peers.md 1.11, toolstack-routes.md 6.2):
 *
 *   dev_found          the toolstack wrote the directory (state 1): claim
 *                      it (vbd3: only if its script is our hook), read its
 *                      config (mode first), find the disk's owner (the
 *                      frontend's domain, or its stubdomain's target), and
 *                      attach to the disk in the registry, which opens it
 *                      off the main loop.
 *   dev_disk_changed   the disk opened: publish the features that must
 *                      precede InitWait; -> 2 InitWait. It did not (or the
 *                      config was bad, or sharing was refused): `error`
 *                      node, -> 6 Closed, or -> 2 with the error for a
 *                      route whose hook reports it (vbd3).
 *   dev_frontend_changed
 *                      fe 3 or 4: map and bind the rings (idempotent);
 *                      -> 4 Connected, or bad nodes: `error`, -> 5.
 *                      fe 5: -> 5. fe 6, or its node gone or garbage:
 *                      disconnect; -> 6. fe 1 while we are 6: a reconnect
 *                      (kexec, GRUB, OVMF, Windows): -> 2, the disk stays.
 *   dev_going_offline  online=0, or the toolstack wrote 5: -> 5, and once
 *                      the frontend has closed (or after close_timeout_ms)
 *                      disconnect, -> 6, and drop the disk.
 *   dev_domain_gone    the frontend's domain died with its frontend
 *                      directory: disconnect, drop the disk, -> 6; where we
 *                      own the directory (ephemeral), remove it.
 *   dev_removed        the directory is gone, or reset to state 1 by the
 *                      toolstack (then it is found afresh).
 *
 * A disk belongs to its owner and device id, not to a device: it lives in
 * the registry across frontend reconnects, shared with the owner's
 * stubdomain, and is wiped when its last attachment is dropped.
 *
 * Every value read from the frontend's directory is parsed strictly
 * (xs-glue/vbd-xs.c, xs-glue/parse.c) and only from the path the toolstack
 * recorded in the backend's `frontend` node. Each error is logged once, by
 * dev_fail() or dev_error(), naming the node that failed.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "backend/vbd.h"
#include "platform/log.h"
#include "xs-glue/kind.h"
#include "xs-glue/save-guard.h"
#include "xs-glue/vbd-xs.h"
#include "xs-glue/xenbus.h"

#define EVENTS_PER_CALL 256u
#define PATH_BYTES 256u
#define ERR_BYTES 256u

/* Where a device stands in its life (not a xenbus state). */
enum dev_life {
	DEV_NEW,     /* not looked at yet, or reset by the toolstack */
	DEV_FOREIGN, /* not ours: another component's, or left from before */
	DEV_OPENING, /* attached to a disk that is opening */
	DEV_READY,   /* its disk is open: handshake and rings */
	DEV_FAILED,  /* cannot be served; error node written */
	DEV_OFFLINE, /* closed for good (online=0, domain gone) */
};

/* Where a device's rings stand in its disk's worker. */
enum dev_conn {
	CONN_NONE,    /* not connected */
	CONN_PENDING, /* asked the worker; its answer not yet in */
	CONN_UP,      /* the worker serves them */
	CONN_FAILED,  /* the worker could not: conn_err says why */
	CONN_DEAD,    /* the disk's worker died: a new one answers every
			 request with an error until the frontend closes */
};

struct xdev {
	struct xdev *next;
	const struct xenbus_kind *kind;
	unsigned int kind_idx;
	uint16_t domid; /* the frontend's domain */
	uint32_t devid;
	char be[PATH_BYTES];  /* our backend directory */
	char fe[PATH_BYTES];  /* the frontend directory, once known */
	char token[64];       /* of the frontend-state watch */
	bool fe_watched;
	bool dirty;
	bool foreign_script;  /* vbd3 with someone else's script: forever */
	enum dev_life life;
	enum xenbus_state be_state; /* what we last wrote (UNKNOWN: nothing) */
	enum xenbus_state fe_state;
	uint64_t close_deadline_ms; /* 0: none */
	uint64_t published[3];      /* used, peak, limit bytes last written */
	uint16_t owner;
	enum attach_kind role;
	struct disk *disk;    /* our attachment, or NULL */
	enum dev_conn conn;   /* the rings, in the disk's worker */
	unsigned int nr_rings;
	enum xe_blkif_abi conn_abi;
	unsigned int conn_order;
	char conn_err[ERR_BYTES]; /* why the connect failed (CONN_FAILED) */
	/* Rings were asked to go: Closed waits for the worker's fence. */
	bool fence_needed;
	uint16_t fence_owner;
	uint64_t fence_token; /* 0: not issued yet */
	pid_t fence_pid;
	bool closed_pending; /* Closed is to be written once it passes */
	struct vbd_xs_config cfg;
	struct req_features feat;
	char error[ERR_BYTES];
};

struct xenbus {
	struct xp *xp;
	struct xenbus_config cfg;
	const struct xenbus_kind *kinds[XENBUS_MAX_KINDS];
	uint16_t self;
	char base[XENBUS_MAX_KINDS][PATH_BYTES]; /* .../backend/<kind> */
	struct xdev *devs;
	struct registry *reg;
	struct save_guard *guard;
	int epfd; /* xenstore's fd and the registry's */
	bool rescan; /* walk every kind's directory */
	uint64_t next_publish_ms;
};

/* ---- small helpers ---- */

/* The state node of dir: -ENOENT if absent; garbage reads as Unknown. */
static int read_state(struct xenbus *xb, const char *dir,
		      enum xenbus_state *state_r)
{
	char *untrusted_v = NULL;
	size_t len = 0;
	int rc = xp_read_node(xb->xp, XP_XS_NO_TXN, dir, "state", &untrusted_v,
			      &len);

	if (rc) {
		*state_r = XENBUS_STATE_UNKNOWN;
		return rc;
	}
	if (parse_state(untrusted_v, len, state_r))
		*state_r = XENBUS_STATE_UNKNOWN;
	free(untrusted_v);
	return 0;
}

struct state_txn {
	const char *be;
	enum xenbus_state prev, want;
};

/*
 * Write the state only onto this device: in a transaction that finds the
 * state node there (as Linux's xenbus_switch_state does), and that finds
 * it not at 1, which only the toolstack writes, once we have written
 * anything. A directory removed and made again while we were deciding is
 * a new device, and a write meant for the old one would be taken as its
 * answer (1: nothing written).
 */
static int set_state_txn(struct xp *xp, uint32_t t, void *arg)
{
	struct state_txn *c = arg;
	enum xenbus_state now;
	char *v = NULL;
	size_t len = 0;
	int rc = xp_read_node(xp, t, c->be, "state", &v, &len);

	if (rc)
		return rc;
	if (parse_state(v, len, &now))
		now = XENBUS_STATE_UNKNOWN;
	free(v);
	if (now == XENBUS_STATE_INITIALISING &&
	    c->prev != XENBUS_STATE_UNKNOWN)
		return 1;
	return xp_printf_node(xp, t, c->be, "state", "%d", c->want);
}

static void set_state(struct xenbus *xb, struct xdev *d,
		      enum xenbus_state state)
{
	struct state_txn c = { d->be, d->be_state, state };
	int rc;

	if (d->be_state == state)
		return;
	d->closed_pending = false;
	if (state == XENBUS_STATE_CLOSED && d->fence_needed) {
		/* Closed tells the frontend it may free its ring pages: only
		 * once the worker has unmapped them (and everything sent to
		 * it before is done). */
		if (!d->fence_token)
			d->fence_token = registry_fence(xb->reg, d->fence_owner,
							&d->fence_pid);
		if (d->fence_token &&
		    !registry_fence_passed(xb->reg, d->fence_pid,
					   d->fence_token)) {
			d->closed_pending = true;
			return;
		}
		d->fence_needed = false;
		d->fence_token = 0;
	}
	rc = xp_txn_run(xb->xp, set_state_txn, &c);
	if (rc == 1 || rc == -ENOENT) {
		/* reset or removed under us: the next update sees which */
		d->dirty = true;
		log_dev(LOG_DEBUG, d->domid, d->devid,
			"state %d not written: the device is gone or new",
			state);
		return;
	}
	if (rc)
		log_dev(LOG_ERR, d->domid, d->devid,
			"cannot write %s/state (%d): %s", d->be, state,
			strerror(-rc));
	else
		log_dev(LOG_DEBUG, d->domid, d->devid, "state %d -> %d",
			d->be_state, state);
	d->be_state = state;
}

/* Say why, once: in the log, and on the device where the toolstack, the
 * hook and the CLI look. */
static void dev_error(struct xenbus *xb, struct xdev *d, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write the error node only into a directory that is still there. */
static int error_txn(struct xp *xp, uint32_t t, void *arg)
{
	struct xdev *d = arg;
	int rc = xp_node_exists(xp, t, d->be, "state");

	if (rc <= 0)
		return rc ? rc : -ENOENT;
	return xp_printf_node(xp, t, d->be, "error", "%s", d->error);
}

static void dev_error(struct xenbus *xb, struct xdev *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->error, sizeof(d->error), fmt, ap);
	va_end(ap);
	log_dev(LOG_ERR, d->domid, d->devid, "%s", d->error);
	xp_txn_run(xb->xp, error_txn, d);
}

/* Does /local/domain/<domid> still exist? */
static bool domain_alive(struct xenbus *xb, uint16_t domid)
{
	char num[8];

	snprintf(num, sizeof(num), "%u", domid);
	return xp_node_exists(xb->xp, XP_XS_NO_TXN, "/local/domain", num) != 0;
}

/* ---- devices ---- */

static struct xdev *find_dev(struct xenbus *xb, unsigned int kind_idx,
			     uint16_t domid, uint32_t devid)
{
	struct xdev *d;

	for (d = xb->devs; d; d = d->next)
		if (d->kind_idx == kind_idx && d->domid == domid &&
		    d->devid == devid)
			return d;
	return NULL;
}

static struct xdev *add_dev(struct xenbus *xb, unsigned int kind_idx,
			    uint16_t domid, uint32_t devid)
{
	struct xdev *d = find_dev(xb, kind_idx, domid, devid);

	if (d)
		return d;
	d = calloc(1, sizeof(*d));
	if (!d) {
		log_msg(LOG_ERR, "out of memory for device %u/%u", domid,
			devid);
		return NULL;
	}
	d->kind = xb->kinds[kind_idx];
	d->kind_idx = kind_idx;
	d->domid = domid;
	d->devid = devid;
	snprintf(d->be, sizeof(d->be), "%s/%u/%u", xb->base[kind_idx], domid,
		 devid);
	snprintf(d->token, sizeof(d->token), "fe:%u:%u:%u", kind_idx, domid,
		 devid);
	d->dirty = true;
	d->next = xb->devs;
	xb->devs = d;
	return d;
}

static void disconnect(struct xenbus *xb, struct xdev *d)
{
	if (d->conn == CONN_NONE)
		return;
	if (d->conn == CONN_UP)
		log_dev(LOG_INFO, d->domid, d->devid, "disconnected");
	if (d->disk) {
		registry_disconnect(xb->reg, d->disk, d->role);
		d->fence_needed = true;
		d->fence_owner = disk_owner(d->disk);
		d->fence_token = 0; /* a fence after this, when Closed is due */
	}
	d->conn = CONN_NONE;
	d->nr_rings = 0;
}

/* Stop using the disk: rings first, then our attachment, whose last one
 * has the worker wipe the overlay and the key. */
static void drop_disk(struct xenbus *xb, struct xdev *d)
{
	if (!d->disk)
		return;
	if (disk_state(d->disk) == DISK_OPEN) {
		struct ring_stats rs[WIRE_MAX_ATT];
		unsigned int nr[WIRE_MAX_ATT];
		struct cow_stats cs;
		const struct ring_stats *r = &rs[d->role];

		disk_stats(xb->reg, d->disk, &cs, rs, nr);
		log_dev(LOG_INFO, d->domid, d->devid,
			"closed: %" PRIu64 " reads, %" PRIu64 " writes, %" PRIu64
			" bad requests, %" PRIu64 " I/O errors",
			r->rd_req, r->wr_req, r->bad_req, r->io_err);
	}
	disconnect(xb, d);
	registry_detach(xb->reg, d->disk, d->role);
	d->disk = NULL;
}

static void unwatch_frontend(struct xenbus *xb, struct xdev *d)
{
	if (d->fe_watched) {
		char path[PATH_BYTES + 8];

		snprintf(path, sizeof(path), "%s/state", d->fe);
		xp_xs_unwatch(xb->xp, path, d->token);
		d->fe_watched = false;
	}
}

static void free_dev(struct xenbus *xb, struct xdev *d)
{
	struct xdev **pp;

	drop_disk(xb, d);
	unwatch_frontend(xb, d);
	for (pp = &xb->devs; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	free(d);
}

/* Learn the frontend's path from the backend dir, and watch its state. */
static int find_frontend(struct xenbus *xb, struct xdev *d)
{
	char path[PATH_BYTES + 8], want[64];
	char *fe = NULL, *feid = NULL;
	size_t len = 0;
	uint32_t id;
	int rc;

	if (xp_read_node(xb->xp, XP_XS_NO_TXN, d->be, "frontend", &fe, NULL))
		return -ENOENT;
	rc = xp_read_node(xb->xp, XP_XS_NO_TXN, d->be, "frontend-id", &feid,
			  &len);
	if (!rc)
		rc = parse_u32(feid, len, UINT16_MAX, &id);
	free(feid);
	/* The frontend must live in the domain the device path names. */
	snprintf(want, sizeof(want), "/local/domain/%u/", d->domid);
	if (rc || id != d->domid || strncmp(fe, want, strlen(want)) ||
	    strlen(fe) >= sizeof(d->fe) || strchr(fe, '\n')) {
		free(fe);
		return -EINVAL;
	}
	strcpy(d->fe, fe);
	free(fe);
	snprintf(path, sizeof(path), "%s/state", d->fe);
	rc = xp_xs_watch(xb->xp, path, d->token);
	if (rc)
		return rc;
	d->fe_watched = true;
	return 0;
}

/* Remove backend/<kind>/<domid> once its last device is gone. */
static void rm_domain_dir(struct xenbus *xb, struct xdev *d)
{
	char path[PATH_BYTES];

	snprintf(path, sizeof(path), "%s/%u", xb->base[d->kind_idx], d->domid);
	xp_rm_if_empty(xb->xp, path);
}

/* ---- dev_found: the toolstack made a device ---- */

/* vbd3: is this our hook's device? libxl writes script as an absolute
 * path, so an exact match is the claim (toolstack-routes.md 1.9). */
static bool script_is_ours(struct xenbus *xb, struct xdev *d)
{
	char *script = NULL;
	bool ours;

	if (xp_read_node(xb->xp, XP_XS_NO_TXN, d->be, "script", &script, NULL))
		return false;
	ours = !strcmp(script, xb->cfg.hook_path);
	free(script);
	return ours;
}

/*
 * Whose disk is it? The frontend's domain, unless that domain is a
 * stubdomain: libxl writes /local/domain/<stub>/target (dom0's node, which
 * neither domain can write) before it adds the stubdomain's disks, and
 * /local/domain/<guest>/image/device-model-domid naming the stubdomain.
 * Both must agree.
 */
static int find_owner(struct xenbus *xb, struct xdev *d, char *err,
		      size_t err_len)
{
	char dir[48], *v = NULL;
	size_t len = 0;
	uint32_t target, dm;
	int rc;

	d->owner = d->domid;
	d->role = ATTACH_GUEST;
	snprintf(dir, sizeof(dir), "/local/domain/%u", d->domid);
	rc = xp_read_node(xb->xp, XP_XS_NO_TXN, dir, "target", &v, &len);
	if (rc == -ENOENT)
		return 0;
	if (!rc)
		rc = parse_u32(v, len, UINT16_MAX, &target);
	free(v);
	v = NULL;
	if (rc || target == d->domid) {
		snprintf(err, err_len, "%s/target is not a domain id", dir);
		return -EINVAL;
	}
	snprintf(dir, sizeof(dir), "/local/domain/%u/image", target);
	rc = xp_read_node(xb->xp, XP_XS_NO_TXN, dir, "device-model-domid", &v,
			  &len);
	if (!rc)
		rc = parse_u32(v, len, UINT16_MAX, &dm);
	free(v);
	if (rc || dm != d->domid) {
		snprintf(err, err_len,
			 "domain %u names domain %u as its target, but %s/"
			 "device-model-domid does not name domain %u: refused",
			 d->domid, target, dir, d->domid);
		return -EPERM;
	}
	d->owner = (uint16_t)target;
	d->role = ATTACH_STUBDOM;
	return 0;
}

static void dev_fail(struct xenbus *xb, struct xdev *d, const char *why);
static void dev_disk_changed(struct xenbus *xb, struct xdev *d);
static void dev_reset(struct xenbus *xb, struct xdev *d);

static void dev_found(struct xenbus *xb, struct xdev *d)
{
	char err[ERR_BYTES];
	int rc;

	if (d->kind->claim_by_script && !script_is_ours(xb, d)) {
		log_dev(LOG_DEBUG, d->domid, d->devid,
			"%s: script is not %s: not ours", d->kind->name,
			xb->cfg.hook_path);
		d->life = DEV_FOREIGN;
		d->foreign_script = true;
		return;
	}
	rc = find_owner(xb, d, err, sizeof(err));
	if (!rc)
		rc = save_guard_check(xb->guard, d->owner, err, sizeof(err));
	if (!rc)
		rc = vbd_xs_read_config(xb->xp, d->be, d->kind,
					xb->cfg.default_overlay, &d->cfg, err,
					sizeof(err));
	if (!rc)
		rc = registry_attach(xb->reg, d->owner, d->devid, &d->cfg.spec,
				     d->cfg.read_only, d->role, &d->disk, err,
				     sizeof(err));
	if (rc) {
		dev_fail(xb, d, err);
		return;
	}
	if (d->role == ATTACH_STUBDOM)
		log_dev(LOG_INFO, d->domid, d->devid,
			"stubdomain of domain %u: shares its disk", d->owner);
	d->life = DEV_OPENING;
	dev_disk_changed(xb, d); /* a disk already open: ready at once */
}

/* ---- dev_disk_changed: its disk opened, or could not ---- */

/*
 * Does this device's disk need an NBD export? An HVM guest's own disk on
 * a route whose toolstack gives it to a dom0 device model (libxl starts
 * QEMU on physical-device-path after every disk's hook has run). PVH is
 * HVM to the hypervisor and gets an export nobody connects to; a domain
 * whose type cannot be read gets one too, rather than an HVM guest with
 * no disk to boot from.
 */
static bool wants_nbd(struct xenbus *xb, const struct xdev *d)
{
	struct xp_dominfo info;

	if (!d->kind->nbd_for_hvm || d->role != ATTACH_GUEST)
		return false;
	return xp_dom_info(xb->xp, d->owner, &info) || info.hvm;
}

/* Export d's disk over NBD; its socket path into path. */
static int export_nbd(struct xenbus *xb, struct xdev *d, char *path,
		      size_t len, char *err, size_t err_len)
{
	int n = snprintf(path, len, "%s/%u.%u.sock", xb->cfg.nbd_dir, d->owner,
			 d->devid);

	if (n < 0 || (size_t)n >= len) {
		snprintf(err, err_len, "NBD socket directory %s: path too long",
			 xb->cfg.nbd_dir);
		return -ENAMETOOLONG;
	}
	return registry_export_nbd(
		xb->reg, d->disk, path,
		d->cfg.spec.on_full == DISKSPEC_ON_FULL_PAUSE, err, err_len);
}

static void dev_disk_ready(struct xenbus *xb, struct xdev *d)
{
	char err[ERR_BYTES], nbd[108];
	bool nbd_wanted = wants_nbd(xb, d);
	int rc;

	if (nbd_wanted &&
	    export_nbd(xb, d, nbd, sizeof(nbd), err, sizeof(err))) {
		dev_fail(xb, d, err);
		return;
	}

	d->feat = (struct req_features){
		.flush = true,
		.discard = d->cfg.discard,
		.read_only = d->cfg.read_only,
		.max_indirect_segs = VBD_MAX_INDIRECT_SEGS,
		.sectors = disk_sectors(d->disk),
		.sector_size = XE_BLKIF_SECTOR_BYTES,
	};
	rc = vbd_xs_advertise(xb->xp, d->be, &d->cfg, &d->feat,
			      xb->cfg.max_queues, d->kind->write_hotplug_status,
			      nbd_wanted ? nbd : NULL, err, sizeof(err));
	if (rc == -ESTALE || rc == -ENOENT) {
		/* Removed or made again while it opened: start afresh with
		 * whatever is there now. */
		log_dev(LOG_INFO, d->domid, d->devid, "%s", err);
		dev_reset(xb, d);
		d->dirty = true;
		return;
	}
	if (rc) {
		dev_fail(xb, d, err);
		return;
	}
	d->life = DEV_READY;
	d->be_state = XENBUS_STATE_INIT_WAIT; /* written with the features */
	log_dev(LOG_INFO, d->domid, d->devid,
		"%s disk of domain %u, %" PRIu64 " sectors%s: InitWait",
		d->cfg.spec.kind == DISKSPEC_COW   ? "cow" :
		d->cfg.spec.kind == DISKSPEC_BLANK ? "blank" :
						     "read-only",
		d->owner, d->feat.sectors, d->feat.read_only ? ", read-only" : "");
}

static void dev_disk_changed(struct xenbus *xb, struct xdev *d)
{
	char why[ERR_BYTES];

	switch (disk_state(d->disk)) {
	case DISK_OPENING:
		return;
	case DISK_OPEN:
		dev_disk_ready(xb, d);
		return;
	case DISK_FAILED:
		snprintf(why, sizeof(why), "cannot open disk: %s",
			 disk_error(d->disk));
		dev_fail(xb, d, why);
		return;
	}
}

/* The device cannot be served: say why, and let go of the disk. */
static void dev_fail(struct xenbus *xb, struct xdev *d, const char *why)
{
	dev_error(xb, d, "%s", why);
	drop_disk(xb, d);
	d->life = DEV_FAILED;
	set_state(xb, d,
		  d->kind->hook_reports ? XENBUS_STATE_INIT_WAIT :
					  XENBUS_STATE_CLOSED);
}

/* ---- dev_frontend_changed: the handshake ---- */

/*
 * Ask the disk's worker to connect the rings the frontend offers: one
 * event-channel handle per queue, opened here and restricted to the
 * frontend's domain, goes with the request. The answer comes through
 * disk_connected(). 0 if the request went out.
 */
static int connect_rings_how(struct xenbus *xb, struct xdev *d, bool dead)
{
	struct vbd_xs_rings rings;
	struct wire_rings w = { 0 };
	int fds[VBD_MAX_QUEUES];
	char err[ERR_BYTES];
	unsigned int q, n = 0;
	int rc;

	rc = vbd_xs_read_rings(xb->xp, d->fe, VBD_MAX_RING_ORDER,
			       xb->cfg.max_queues, &rings, err, sizeof(err));
	if (rc) {
		dev_error(xb, d, "%s", err);
		return rc;
	}
	for (q = 0; q < rings.nr_queues; q++) {
		struct xp_evt *evt;

		rc = xp_evt_open(xb->xp, &evt);
		if (!rc) {
			rc = xp_evt_export(evt, d->domid, &fds[n]);
			xp_evt_close(evt);
		}
		if (rc)
			break;
		n++;
	}
	if (!rc) {
		w.domid = d->domid;
		w.abi = rings.abi;
		w.order = rings.order;
		w.nr_queues = rings.nr_queues;
		w.flush = d->feat.flush;
		w.discard = d->feat.discard;
		w.read_only = d->feat.read_only;
		w.max_indirect_segs = d->feat.max_indirect_segs;
		w.sector_size = d->feat.sector_size;
		w.sectors = d->feat.sectors;
		memcpy(w.queues, rings.queues, sizeof(w.queues));
		rc = dead ? registry_serve_errors(xb->reg, d->disk, d->role, &w,
						  fds, err, sizeof(err)) :
			    registry_connect(xb->reg, d->disk, d->role, &w, fds,
					     err, sizeof(err));
		if (rc)
			dev_error(xb, d, "cannot connect the rings: %s", err);
	} else {
		dev_error(xb, d, "cannot connect the rings: event channel "
				 "for queue %u: %s",
			  n, strerror(-rc));
	}
	for (q = 0; q < n; q++)
		close(fds[q]);
	if (rc)
		return rc;
	d->conn = dead ? CONN_DEAD : CONN_PENDING;
	d->conn_abi = rings.abi;
	d->conn_order = rings.order;
	return 0;
}

static int connect_rings(struct xenbus *xb, struct xdev *d)
{
	return connect_rings_how(xb, d, false);
}

/* The worker answered a connect. */
static void conn_settled(struct xenbus *xb, struct xdev *d)
{
	if (d->conn == CONN_UP) {
		set_state(xb, d, XENBUS_STATE_CONNECTED);
		log_dev(LOG_INFO, d->domid, d->devid,
			"connected: %u queue(s) of %u page(s), %s ABI",
			d->nr_rings, 1u << d->conn_order,
			d->conn_abi == XE_BLKIF_ABI_X86_32 ? "x86_32" :
							     "native");
	} else {
		dev_error(xb, d, "cannot connect the rings: %s", d->conn_err);
		disconnect(xb, d);
		set_state(xb, d, XENBUS_STATE_CLOSING);
	}
}

static void dev_frontend_changed(struct xenbus *xb, struct xdev *d,
				 enum xenbus_state fe)
{
	switch (fe) {
	case XENBUS_STATE_INITIALISING:
		if (d->be_state == XENBUS_STATE_CLOSED) {
			/* A reconnect: the disk and its data stay. */
			log_dev(LOG_INFO, d->domid, d->devid,
				"frontend back: prepare for reconnect");
			disconnect(xb, d);
			set_state(xb, d, XENBUS_STATE_INIT_WAIT);
		}
		break;
	case XENBUS_STATE_INITIALISED:
	case XENBUS_STATE_CONNECTED:
		/* Connect even if two watches fired in close succession and
		 * the intermediate state was never seen. */
		if (d->be_state != XENBUS_STATE_INIT_WAIT &&
		    d->be_state != XENBUS_STATE_CONNECTED)
			break; /* after Closing/Closed only a 1 reopens */
		if (d->conn == CONN_PENDING)
			break; /* the worker has not answered yet */
		if (d->conn == CONN_UP || d->conn == CONN_FAILED) {
			if (d->be_state != XENBUS_STATE_CONNECTED ||
			    d->conn == CONN_FAILED)
				conn_settled(xb, d);
			break;
		}
		if (connect_rings(xb, d)) {
			disconnect(xb, d);
			set_state(xb, d, XENBUS_STATE_CLOSING);
		}
		break;
	case XENBUS_STATE_CLOSING:
		if (d->be_state != XENBUS_STATE_CLOSED)
			set_state(xb, d, XENBUS_STATE_CLOSING);
		break;
	case XENBUS_STATE_CLOSED:
	case XENBUS_STATE_UNKNOWN:
		/* Closed, or its node gone or garbage (a frontend directory
		 * the toolstack deleted first, as libxl's destroy does). */
		disconnect(xb, d);
		if (d->be_state >= XENBUS_STATE_CONNECTED ||
		    fe == XENBUS_STATE_CLOSED)
			set_state(xb, d, XENBUS_STATE_CLOSED);
		break;
	default:
		break;
	}
}

/* ---- dev_going_offline: the toolstack wants the device back ---- */

static void dev_going_offline(struct xenbus *xb, struct xdev *d,
			      enum xenbus_state written, enum xenbus_state fe)
{
	uint64_t t = xp_now_ms();

	if (d->life == DEV_OFFLINE) {
		/* Closed for good. A toolstack that wrote online=0 and its
		 * state 5 in two steps may have put 5 over our 6: say it
		 * again, or it waits for Closed forever. */
		if (written != XENBUS_STATE_CLOSED) {
			d->be_state = XENBUS_STATE_UNKNOWN;
			set_state(xb, d, XENBUS_STATE_CLOSED);
		}
		return;
	}
	if (d->disk)
		save_guard_teardown(xb->guard, d->owner);
	if (d->life != DEV_READY) {
		/* Never connected (opening, or failed): nothing to wait for. */
		drop_disk(xb, d);
		d->life = DEV_OFFLINE;
		set_state(xb, d, XENBUS_STATE_CLOSED);
		return;
	}
	/* Closing, unless it is Closed already (never back to Closing). */
	if (d->be_state != XENBUS_STATE_CLOSED)
		set_state(xb, d, XENBUS_STATE_CLOSING);
	if (!d->close_deadline_ms)
		d->close_deadline_ms = t + xb->cfg.close_timeout_ms;
	if (fe != XENBUS_STATE_CONNECTED && fe != XENBUS_STATE_INITIALISED &&
	    fe != XENBUS_STATE_CLOSING)
		d->close_deadline_ms = t; /* closed enough: now */
	if (t < d->close_deadline_ms)
		return;
	disconnect(xb, d);
	drop_disk(xb, d);
	d->life = DEV_OFFLINE;
	d->close_deadline_ms = 0;
	set_state(xb, d, XENBUS_STATE_CLOSED);
}

/* ---- dev_domain_gone: the frontend's domain died ---- */

static void dev_domain_gone(struct xenbus *xb, struct xdev *d)
{
	if (d->life == DEV_OFFLINE && !d->kind->owns_dir)
		return; /* done already; the toolstack removes the rest */
	log_dev(LOG_INFO, d->domid, d->devid,
		"frontend domain gone: closing%s",
		d->kind->owns_dir ? " and removing" : "");
	if (d->disk)
		save_guard_teardown(xb->guard, d->owner);
	disconnect(xb, d);
	drop_disk(xb, d);
	if (d->kind->owns_dir) {
		xp_xs_rm(xb->xp, XP_XS_NO_TXN, d->be);
		rm_domain_dir(xb, d);
		free_dev(xb, d);
		return;
	}
	/* Not ours to delete: say Closed, and wait for the toolstack. */
	d->life = DEV_OFFLINE;
	set_state(xb, d, XENBUS_STATE_CLOSED);
}

/* ---- dev_removed: the directory is gone (or reset) ---- */

static void dev_removed(struct xenbus *xb, struct xdev *d)
{
	if (d->life != DEV_FOREIGN)
		log_dev(LOG_INFO, d->domid, d->devid, "device removed");
	disconnect(xb, d);
	free_dev(xb, d);
}

/* The toolstack put a new device here (we never write 1): start afresh. */
static void dev_reset(struct xenbus *xb, struct xdev *d)
{
	log_dev(LOG_INFO, d->domid, d->devid,
		"reset to state 1 by the toolstack: starting afresh");
	disconnect(xb, d);
	drop_disk(xb, d);
	unwatch_frontend(xb, d);
	d->fe[0] = '\0';
	d->error[0] = '\0';
	d->life = DEV_NEW;
	memset(d->published, 0, sizeof(d->published));
	d->closed_pending = false; /* the old device's, not this one's */
	d->be_state = XENBUS_STATE_UNKNOWN;
	d->fe_state = XENBUS_STATE_UNKNOWN;
	d->close_deadline_ms = 0;
}

/* ---- a device an earlier daemon left ---- */

/* Found past state 1: one of ours, served by a daemon that died? */
static bool stale_and_ours(struct xenbus *xb, struct xdev *d)
{
	return d->kind->owns_dir ||
	       (d->kind->claim_by_script && script_is_ours(xb, d));
}

/*
 * Its overlay and key died with that daemon (its worker ended with it):
 * never serve it again as if nothing happened. Say why; answer whatever
 * its frontend still sends with errors, not silence; go Closing, and
 * Closed once the frontend has closed (the toolstack then removes it).
 */
static void dev_stale(struct xenbus *xb, struct xdev *d,
		      enum xenbus_state written)
{
	static const char why[] =
		"xen-ephemerald restarted: this disk's overlay was wiped with "
		"the daemon that served it; detach it and attach it again";
	enum xenbus_state fe = XENBUS_STATE_UNKNOWN;
	char err[ERR_BYTES];

	d->be_state = written;
	d->life = DEV_FAILED;
	log_dev(LOG_WARNING, d->domid, d->devid,
		"found in state %d, left by a daemon that died", written);
	dev_error(xb, d, "%s", why);
	if (!find_frontend(xb, d))
		read_state(xb, d->fe, &fe);
	d->fe_state = fe;
	if (!find_owner(xb, d, err, sizeof(err)) &&
	    !registry_attach_failed(xb->reg, d->owner, d->devid, d->role, why,
				    &d->disk) &&
	    (fe == XENBUS_STATE_INITIALISED || fe == XENBUS_STATE_CONNECTED) &&
	    connect_rings_how(xb, d, true))
		drop_disk(xb, d);
	if (fe == XENBUS_STATE_CLOSED || fe == XENBUS_STATE_UNKNOWN) {
		drop_disk(xb, d);
		set_state(xb, d, XENBUS_STATE_CLOSED);
	} else {
		set_state(xb, d, XENBUS_STATE_CLOSING);
	}
}

/* ---- bringing one device up to date ---- */

static void update_dev(struct xenbus *xb, struct xdev *d)
{
	enum xenbus_state written, fe;
	char *v = NULL;
	size_t len = 0;
	bool online = true, fe_present = false;

	d->dirty = false;
	if (read_state(xb, d->be, &written) == -ENOENT) {
		dev_removed(xb, d);
		return;
	}
	if (d->foreign_script)
		return;
	if (written == XENBUS_STATE_INITIALISING && d->life != DEV_NEW &&
	    (d->life == DEV_FOREIGN || d->be_state != XENBUS_STATE_UNKNOWN))
		dev_reset(xb, d);
	if (d->life == DEV_NEW && written >= XENBUS_STATE_INIT_WAIT &&
	    written <= XENBUS_STATE_CLOSING && stale_and_ours(xb, d)) {
		dev_stale(xb, d, written);
		return;
	}
	if (d->life == DEV_NEW && written != XENBUS_STATE_INITIALISING &&
	    written != XENBUS_STATE_UNKNOWN) {
		/* Someone else's device, or one left Closed in an earlier
		 * life: leave it alone until the toolstack resets it. */
		if (written != XENBUS_STATE_CLOSED)
			log_dev(LOG_WARNING, d->domid, d->devid,
				"found in state %d, not 1: ignored", written);
		d->life = DEV_FOREIGN;
		return;
	}
	if (d->life == DEV_FOREIGN)
		return;

	if (!xp_read_node(xb->xp, XP_XS_NO_TXN, d->be, "online", &v, &len)) {
		bool b;

		if (!parse_bool(v, len, true, &b))
			online = b;
		free(v);
	}
	if (!d->fe[0]) {
		int rc = find_frontend(xb, d);

		if (rc == -ENOENT)
			return; /* the toolstack has not written it yet */
		if (rc) {
			dev_fail(xb, d,
				 "frontend path or id does not match the "
				 "device's domain");
			return;
		}
	}
	fe_present = read_state(xb, d->fe, &fe) == 0;
	d->fe_state = fe;

	/* The frontend's domain died: nobody will ever close properly. */
	if (!fe_present && !domain_alive(xb, d->domid)) {
		dev_domain_gone(xb, d);
		return;
	}
	/* The toolstack wrote state 5 (libxl's remove), or online=0. */
	if (written == XENBUS_STATE_CLOSING &&
	    d->be_state != XENBUS_STATE_CLOSING &&
	    d->be_state != XENBUS_STATE_CLOSED)
		online = false;
	if (!online) {
		dev_going_offline(xb, d, written, fe);
		return;
	}
	d->close_deadline_ms = 0;

	switch (d->life) {
	case DEV_NEW:
		dev_found(xb, d);
		break;
	case DEV_OPENING:
		dev_disk_changed(xb, d);
		break;
	default:
		break;
	}
	if (d->life == DEV_READY)
		dev_frontend_changed(xb, d, fe);
	/* A failed device whose frontend has closed: Closed too. */
	if (d->life == DEV_FAILED && d->be_state == XENBUS_STATE_CLOSING &&
	    (fe == XENBUS_STATE_CLOSED || !fe_present)) {
		drop_disk(xb, d);
		set_state(xb, d, XENBUS_STATE_CLOSED);
	}
}

/* ---- usage, for dom0 tools ---- */

struct usage_txn {
	const char *be;
	const uint64_t *v;
};

static int usage_txn(struct xp *xp, uint32_t t, void *arg)
{
	struct usage_txn *u = arg;
	int rc = xp_node_exists(xp, t, u->be, "state");

	if (rc <= 0)
		return rc ? rc : -ENOENT; /* gone: write nothing back */
	rc = xp_printf_node(xp, t, u->be, XENBUS_NODE_USED, "%" PRIu64, u->v[0]);
	if (!rc)
		rc = xp_printf_node(xp, t, u->be, XENBUS_NODE_PEAK, "%" PRIu64,
				    u->v[1]);
	if (!rc)
		rc = xp_printf_node(xp, t, u->be, XENBUS_NODE_LIMIT,
				    "%" PRIu64, u->v[2]);
	return rc;
}

/* Publish every served device's overlay usage that changed. */
static void publish_usage(struct xenbus *xb)
{
	struct xdev *d;

	for (d = xb->devs; d; d = d->next) {
		struct ring_stats rs[WIRE_MAX_ATT];
		unsigned int nr[WIRE_MAX_ATT];
		struct cow_stats st;
		uint64_t v[3];
		struct usage_txn u = { d->be, v };

		if (d->life != DEV_READY || !d->disk ||
		    disk_state(d->disk) != DISK_OPEN)
			continue;
		disk_stats(xb->reg, d->disk, &st, rs, nr);
		v[0] = st.used_bytes;
		v[1] = st.peak_blks * STORE_BLK_BYTES;
		v[2] = st.limit_blks * STORE_BLK_BYTES;
		if (!memcmp(v, d->published, sizeof(v)))
			continue;
		if (!xp_txn_run(xb->xp, usage_txn, &u))
			memcpy(d->published, v, sizeof(v));
	}
}

/* ---- events ---- */

/* Parse "<base>/<domid>[/<devid>[/...]]" strictly. */
static void note_backend_event(struct xenbus *xb, unsigned int k,
			       const char *path)
{
	size_t blen = strlen(xb->base[k]);
	uint32_t domid, devid;
	const char *p, *slash;
	struct xdev *d;

	if (strncmp(path, xb->base[k], blen))
		return;
	p = path + blen;
	if (*p == '\0') {
		xb->rescan = true; /* the watch's first firing, or a big rm */
		return;
	}
	if (*p++ != '/')
		return;
	slash = strchr(p, '/');
	if (parse_u32(p, slash ? (size_t)(slash - p) : strlen(p), UINT16_MAX,
		      &domid))
		return;
	if (!slash) {
		xb->rescan = true; /* a domain's dir appeared or went */
		return;
	}
	p = slash + 1;
	slash = strchr(p, '/');
	if (parse_u32(p, slash ? (size_t)(slash - p) : strlen(p), UINT32_MAX,
		      &devid))
		return;
	d = add_dev(xb, k, (uint16_t)domid, devid);
	if (d)
		d->dirty = true;
}

/* Walk every served kind's directory and learn every device in it. */
static void rescan(struct xenbus *xb)
{
	unsigned int k, i, j, nd, nv;
	char **doms, **devs;
	uint32_t domid, devid;
	struct xdev *d;

	xb->rescan = false;
	for (d = xb->devs; d; d = d->next)
		d->dirty = true; /* vanished ones notice their dir is gone */
	for (k = 0; k < xb->cfg.nr_kinds; k++) {
		if (xp_xs_directory(xb->xp, XP_XS_NO_TXN, xb->base[k], &doms,
				    &nd))
			continue;
		for (i = 0; i < nd; i++) {
			char path[PATH_BYTES * 2];

			if (parse_u32(doms[i], strlen(doms[i]), UINT16_MAX,
				      &domid))
				continue;
			snprintf(path, sizeof(path), "%s/%s", xb->base[k],
				 doms[i]);
			if (xp_xs_directory(xb->xp, XP_XS_NO_TXN, path, &devs,
					    &nv))
				continue;
			for (j = 0; j < nv; j++)
				if (!parse_u32(devs[j], strlen(devs[j]),
					       UINT32_MAX, &devid))
					add_dev(xb, k, (uint16_t)domid, devid);
			xp_free_strv(devs, nv);
		}
		xp_free_strv(doms, nd);
	}
}

/* The registry finished opening disk: its devices move on. */
static void disk_opened(void *arg, struct disk *disk)
{
	struct xenbus *xb = arg;
	struct xdev *d;

	for (d = xb->devs; d; d = d->next)
		if (d->disk == disk)
			d->dirty = true;
}

/* The worker answered a connect of one of disk's attachments. */
static void disk_connected(void *arg, struct disk *disk, enum attach_kind att,
			   int rc, unsigned int nr_rings, const char *err)
{
	struct xenbus *xb = arg;
	struct xdev *d;

	for (d = xb->devs; d; d = d->next) {
		if (d->disk != disk || d->role != att ||
		    d->conn != CONN_PENDING)
			continue;
		d->conn = rc ? CONN_FAILED : CONN_UP;
		d->nr_rings = rc ? 0 : nr_rings;
		snprintf(d->conn_err, sizeof(d->conn_err), "%s",
			 rc ? err : "");
		d->dirty = true;
	}
}

/* on-full=pause: the registry pauses and resumes a guest through us. */
static int disk_pause(void *arg, uint16_t domid, bool pause)
{
	struct xenbus *xb = arg;

	return pause ? xp_dom_pause(xb->xp, domid) :
		       xp_dom_unpause(xb->xp, domid);
}

/* An open disk's worker is gone: its devices cannot be served any more. */
static void disk_failed(void *arg, struct disk *disk)
{
	struct xenbus *xb = arg;
	struct xdev *d;

	for (d = xb->devs; d; d = d->next) {
		bool had_rings;

		if (d->disk != disk)
			continue;
		dev_error(xb, d, "%s", disk_error(disk));
		had_rings = d->conn == CONN_UP || d->conn == CONN_PENDING;
		d->conn = CONN_NONE; /* those rings died with the worker */
		d->nr_rings = 0;
		/* Its frontend's requests get errors, not silence, until it
		 * closes: the same rings, served by a new worker. */
		if (!had_rings || connect_rings_how(xb, d, true))
			drop_disk(xb, d);
		d->life = DEV_FAILED;
		if (d->be_state != XENBUS_STATE_CLOSED)
			set_state(xb, d, XENBUS_STATE_CLOSING);
	}
}

int xenbus_process(struct xenbus *xb)
{
	unsigned int n, k;
	struct xdev *d, *next;
	uint64_t t;

	registry_process(xb->reg);
	for (n = 0; n < EVENTS_PER_CALL; n++) {
		char *path = NULL, *token = NULL;
		int rc = xp_xs_read_watch(xb->xp, &path, &token);

		if (rc == -EAGAIN)
			break;
		if (rc)
			return rc;
		if (!strncmp(token, "be:", 3)) {
			k = (unsigned int)atoi(token + 3);
			if (k < xb->cfg.nr_kinds)
				note_backend_event(xb, k, path);
		} else if (!strncmp(token, "fe:", 3)) {
			unsigned int kk, dom, dev;

			if (sscanf(token + 3, "%u:%u:%u", &kk, &dom, &dev) ==
				    3 &&
			    (d = find_dev(xb, kk, (uint16_t)dom, dev)))
				d->dirty = true;
		} else if (!strcmp(token, "rel")) {
			/* Some domain died: check every device's frontend. */
			for (d = xb->devs; d; d = d->next)
				d->dirty = true;
		}
		free(path);
		free(token);
	}
	if (xb->rescan)
		rescan(xb);
	/* Closed writes that waited for a worker's fence */
	for (d = xb->devs; d; d = d->next)
		if (d->closed_pending &&
		    registry_fence_passed(xb->reg, d->fence_pid,
					  d->fence_token))
			set_state(xb, d, XENBUS_STATE_CLOSED);
	t = xp_now_ms();
	if (t >= xb->next_publish_ms) {
		publish_usage(xb);
		xb->next_publish_ms = t + xb->cfg.publish_interval_ms;
	}
	for (d = xb->devs; d; d = next) {
		next = d->next; /* update_dev may free d */
		if (d->dirty ||
		    (d->close_deadline_ms && t >= d->close_deadline_ms))
			update_dev(xb, d);
	}
	return 0;
}

int xenbus_timeout_ms(struct xenbus *xb)
{
	uint64_t t = xp_now_ms(), best = xb->next_publish_ms;
	struct xdev *d;

	for (d = xb->devs; d; d = d->next)
		if (d->close_deadline_ms && d->close_deadline_ms < best)
			best = d->close_deadline_ms;
	return best <= t ? 0 : (int)(best - t);
}

int xenbus_fd(struct xenbus *xb)
{
	return xb->epfd;
}

int xenbus_set_limit(struct xenbus *xb, uint16_t domid, const char *dev,
		     uint64_t limit_bytes, char *err, size_t err_len)
{
	struct xdev *d;
	char num[16];

	for (d = xb->devs; d; d = d->next) {
		snprintf(num, sizeof(num), "%u", d->devid);
		if (d->owner == domid && d->disk &&
		    (!strcmp(dev, d->cfg.vdev) || !strcmp(dev, num)))
			return registry_set_limit(xb->reg, d->disk, limit_bytes,
						  err, err_len);
	}
	snprintf(err, err_len, "domain %u has no disk %.16s", domid, dev);
	return -ENOENT;
}

struct registry *xenbus_registry(struct xenbus *xb)
{
	return xb->reg;
}

struct save_guard *xenbus_save_guard(struct xenbus *xb)
{
	return xb->guard;
}

static void dev_info(struct registry *reg, const struct xdev *d,
		     struct xenbus_dev_info *info)
{
	*info = (struct xenbus_dev_info){
		.domid = d->domid,
		.owner = d->owner,
		.devid = d->devid,
		.role = d->role == ATTACH_STUBDOM ? XENBUS_ROLE_STUBDOM :
						    XENBUS_ROLE_GUEST,
		.be_state = d->be_state,
		.fe_state = d->fe_state,
	};
	snprintf(info->kind, sizeof(info->kind), "%s", d->kind->name);
	snprintf(info->vdev, sizeof(info->vdev), "%s", d->cfg.vdev);
	snprintf(info->error, sizeof(info->error), "%s", d->error);
	if (d->disk && disk_state(d->disk) == DISK_OPEN) {
		struct ring_stats rs[WIRE_MAX_ATT];
		unsigned int nr[WIRE_MAX_ATT];

		info->has_disk = true;
		disk_stats(reg, d->disk, &info->cow, rs, nr);
		info->ring = rs[d->role];
		info->nr_rings = nr[d->role];
	}
}

void xenbus_for_each(struct xenbus *xb,
		     void (*fn)(const struct xenbus_dev_info *info, void *arg),
		     void *arg)
{
	struct xdev *d;

	for (d = xb->devs; d; d = d->next) {
		struct xenbus_dev_info info;

		if (d->life == DEV_FOREIGN)
			continue;
		dev_info(xb->reg, d, &info);
		fn(&info, arg);
	}
}

struct disk_walk {
	struct xenbus *xb;
	void (*fn)(const struct xenbus_disk_info *info, void *arg);
	void *arg;
};

static void one_disk(struct disk *disk, void *arg)
{
	struct disk_walk *w = arg;
	struct xenbus_disk_info *info = calloc(1, sizeof(*info));
	const struct diskspec *spec = disk_spec(disk);
	struct xdev *d;

	if (!info)
		return;
	info->owner = disk_owner(disk);
	info->devid = disk_devid(disk);
	info->kind = spec->kind;
	info->store = spec->store;
	info->read_only = disk_read_only(disk);
	info->state = disk_state(disk);
	snprintf(info->error, sizeof(info->error), "%s", disk_error(disk));
	if (diskspec_format(spec, info->spec, sizeof(info->spec)))
		snprintf(info->spec, sizeof(info->spec), "(long)");
	{
		struct ring_stats rs[WIRE_MAX_ATT];
		unsigned int nr[WIRE_MAX_ATT];

		disk_stats(w->xb->reg, disk, &info->cow, rs, nr);
	}
	info->nbd_clients = disk_attachments(disk, ATTACH_NBD);
	snprintf(info->nbd_path, sizeof(info->nbd_path), "%s",
		 disk_nbd_path(disk));
	info->paused = disk_paused(disk);
	info->capacity_bytes = disk_capacity_bytes(disk);
	for (d = w->xb->devs; d; d = d->next) {
		if (d->disk != disk || info->nr_devs == XENBUS_MAX_DISK_DEVS)
			continue;
		if (!info->vdev[0] || d->role == ATTACH_GUEST)
			snprintf(info->vdev, sizeof(info->vdev), "%s",
				 d->cfg.vdev);
		dev_info(w->xb->reg, d, &info->devs[info->nr_devs++]);
	}
	w->fn(info, w->arg);
	free(info);
}

void xenbus_for_each_disk(struct xenbus *xb,
			  void (*fn)(const struct xenbus_disk_info *info,
				     void *arg),
			  void *arg)
{
	struct disk_walk w = { xb, fn, arg };

	registry_for_each(xb->reg, one_disk, &w);
}

/* ---- life cycle ---- */

static int epoll_add(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int xenbus_new(struct xp *xp, const struct xenbus_config *cfg,
	       struct xenbus **xb_r)
{
	struct registry_config rc_cfg = { .spawn = cfg->spawn,
					  .spawn_arg = cfg->spawn_arg,
					  .budget_blks = cfg->budget_blks,
					  .plan = cfg->plan_disk,
					  .opened = disk_opened,
					  .connected = disk_connected,
					  .failed = disk_failed,
					  .pause = disk_pause };
	struct xenbus *xb;
	unsigned int k;
	int rc;

	if (cfg->nr_kinds < 1 || cfg->nr_kinds > XENBUS_MAX_KINDS ||
	    cfg->max_queues < 1 || cfg->max_queues > VBD_MAX_QUEUES)
		return -EINVAL;
	xb = calloc(1, sizeof(*xb));
	if (!xb)
		return -ENOMEM;
	xb->xp = xp;
	xb->cfg = *cfg;
	xb->epfd = -1;
	if (!xb->cfg.close_timeout_ms)
		xb->cfg.close_timeout_ms = 5000;
	if (!xb->cfg.hook_path)
		xb->cfg.hook_path = XENBUS_DEFAULT_HOOK;
	if (!xb->cfg.nbd_dir)
		xb->cfg.nbd_dir = XENBUS_DEFAULT_NBD_DIR;
	if (!xb->cfg.publish_interval_ms)
		xb->cfg.publish_interval_ms = 5000;
	for (k = 0; k < cfg->nr_kinds; k++) {
		xb->kinds[k] = xenbus_kind_find(cfg->kinds[k]);
		if (!xb->kinds[k]) {
			log_msg(LOG_ERR,
				"refusing to serve backend kind '%s' (served: "
				"%s; vbd is kernel blkback's, qdisk QEMU's)",
				cfg->kinds[k], xenbus_kind_names());
			free(xb);
			return -EINVAL;
		}
	}
	rc_cfg.arg = xb;
	rc = registry_new(&rc_cfg, &xb->reg);
	if (rc) {
		free(xb);
		return rc;
	}
	rc = save_guard_new(xp, &xb->guard);
	if (rc) {
		registry_free(xb->reg);
		free(xb);
		return rc;
	}
	rc = xp_self_domid(xp, &xb->self);
	if (rc)
		goto fail;
	xb->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (xb->epfd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = epoll_add(xb->epfd, xp_xs_fd(xp));
	if (!rc)
		rc = epoll_add(xb->epfd, registry_fd(xb->reg));
	if (rc)
		goto fail;
	for (k = 0; k < cfg->nr_kinds; k++) {
		char token[16];

		snprintf(xb->base[k], sizeof(xb->base[k]),
			 "/local/domain/%u/backend/%s", xb->self,
			 cfg->kinds[k]);
		snprintf(token, sizeof(token), "be:%u", k);
		rc = xp_xs_watch(xp, xb->base[k], token);
		if (rc) {
			while (k--) {
				snprintf(token, sizeof(token), "be:%u", k);
				xp_xs_unwatch(xp, xb->base[k], token);
			}
			goto fail;
		}
	}
	rc = xp_xs_watch(xp, "@releaseDomain", "rel");
	if (rc) {
		for (k = 0; k < cfg->nr_kinds; k++) {
			char token[16];

			snprintf(token, sizeof(token), "be:%u", k);
			xp_xs_unwatch(xp, xb->base[k], token);
		}
		goto fail;
	}
	xb->rescan = true;
	*xb_r = xb;
	return 0;
fail:
	log_msg(LOG_ERR, "cannot watch xenstore: %s", strerror(-rc));
	if (xb->epfd >= 0)
		close(xb->epfd);
	save_guard_free(xb->guard);
	registry_free(xb->reg);
	free(xb);
	return rc;
}

void xenbus_free(struct xenbus *xb)
{
	struct xdev *d;
	unsigned int k;

	if (!xb)
		return;
	/* Every disk out of its worker (rings stopped, overlays and keys
	 * wiped), and every worker waited for: only then Closed, when no
	 * ring page is mapped any more. */
	for (d = xb->devs; d; d = d->next) {
		disconnect(xb, d);
		drop_disk(xb, d);
	}
	registry_free(xb->reg);
	xb->reg = NULL;
	while ((d = xb->devs)) {
		d->fence_needed = false; /* every worker has been reaped */
		if (d->life != DEV_FOREIGN &&
		    d->be_state != XENBUS_STATE_UNKNOWN)
			set_state(xb, d, XENBUS_STATE_CLOSED);
		unwatch_frontend(xb, d);
		xb->devs = d->next;
		free(d);
	}
	for (k = 0; k < xb->cfg.nr_kinds; k++) {
		char token[16];

		snprintf(token, sizeof(token), "be:%u", k);
		xp_xs_unwatch(xb->xp, xb->base[k], token);
	}
	xp_xs_unwatch(xb->xp, "@releaseDomain", "rel");
	save_guard_free(xb->guard);
	close(xb->epfd);
	free(xb);
}
