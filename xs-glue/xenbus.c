/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The xenbus state machine for every device under the kinds we serve.
 *
 * Events: one watch per served kind on /local/domain/<self>/backend/<kind>,
 * one on each device's frontend state node, and @releaseDomain. An event
 * only marks the device it names dirty; after draining a bounded number of
 * events, every dirty device is brought up to date once from what xenstore
 * says now (never from the event). A watch storm therefore costs reads, not
 * memory (XSA-349), and an intermediate state the watch coalesced away is
 * never needed (frontend Initialised and Connected are treated alike).
 *
 * Device life (backend state we write, blkif-peers.md 1.11):
 *   found (online=1)   open the disk from `params`; publish the features
 *                      that must precede InitWait; -> 2 InitWait.
 *                      A bad spec or base: `error` node, -> 6 Closed.
 *   fe 3 or 4          read the frontend's ring nodes strictly, map and bind
 *                      (idempotent: a connected device is left alone); -> 4.
 *                      Bad nodes: `error`, -> 5 Closing.
 *   fe 5               -> 5 Closing.
 *   fe 6, or absent    disconnect (rings stop, unmapped, unbound); -> 6.
 *   fe 1 while we're 6 reconnect: -> 2 again (guest kexec or re-probe).
 *   online=0           -> 5 Closing, and once the frontend is closed (or
 *                      after close_timeout_ms) disconnect, -> 6 Closed, and
 *                      close the disk: its overlay and key are wiped.
 *   domain gone        disconnect, close the disk, remove the backend dir.
 *
 * The disk (the cow view) lives from discovery to removal, across frontend
 * reconnects, keyed by the device, not by the connection.
 *
 * Every value read from the frontend's directory is parsed strictly
 * (xs-glue/parse.c) and only from the path the toolstack recorded in the
 * backend's `frontend` node.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "platform/log.h"
#include "backend/vbd.h"
#include "xs-glue/disk.h"
#include "xs-glue/diskspec.h"
#include "xs-glue/parse.h"
#include "xs-glue/xenbus.h"

#define EVENTS_PER_CALL 256u
#define PATH_BYTES 256u
#define ADVERTISED_RING_ORDER VBD_MAX_RING_ORDER
#define VDISK_READONLY 0x4u

struct xdev {
	struct xdev *next;
	unsigned int kind_idx;
	uint16_t domid; /* the frontend's domain */
	uint32_t devid;
	char be[PATH_BYTES];  /* our backend directory */
	char fe[PATH_BYTES];  /* the frontend directory, once known */
	char token[64];       /* of the frontend-state watch */
	bool fe_watched;
	bool dirty;
	bool failed;          /* opening failed: stays Closed until removed */
	int be_state;         /* what we last wrote (0: nothing yet) */
	int fe_state;
	uint64_t close_deadline_ms; /* 0: none */
	struct cow *cow;
	struct vbd *vbd;
	struct req_features feat;
};

struct xenbus {
	struct xp *xp;
	struct xenbus_config cfg;
	uint16_t self;
	char base[XENBUS_MAX_KINDS][PATH_BYTES]; /* .../backend/<kind> */
	struct xdev *devs;
	bool rescan; /* walk every kind's directory */
};

/* ---- small helpers ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Read dir/node; NULL if absent or unreadable. Caller frees. */
static char *readf(struct xenbus *xb, const char *dir, const char *node,
		   size_t *len_r)
{
	char path[PATH_BYTES * 2];
	char *val = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, node);
	if (xp_xs_read(xb->xp, XP_XS_NO_TXN, path, &val, len_r))
		return NULL;
	return val;
}

static int writef(struct xenbus *xb, uint32_t txn, const char *dir,
		  const char *node, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int writef(struct xenbus *xb, uint32_t txn, const char *dir,
		  const char *node, const char *fmt, ...)
{
	char path[PATH_BYTES * 2], val[256];
	va_list ap;
	int n;

	snprintf(path, sizeof(path), "%s/%s", dir, node);
	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(val))
		return -EINVAL;
	return xp_xs_write(xb->xp, txn, path, val, (size_t)n);
}

static void set_state(struct xenbus *xb, struct xdev *d, int state)
{
	int rc;

	if (d->be_state == state)
		return;
	rc = writef(xb, XP_XS_NO_TXN, d->be, "state", "%d", state);
	if (rc)
		log_dev(LOG_ERR, d->domid, d->devid, "cannot write state %d: %s",
			state, strerror(-rc));
	else
		log_dev(LOG_DEBUG, d->domid, d->devid, "state %d -> %d",
			d->be_state, state);
	d->be_state = state;
}

/* Say why on the device itself, where the toolstack and the CLI look. */
static void dev_error(struct xenbus *xb, struct xdev *d, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void dev_error(struct xenbus *xb, struct xdev *d, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_dev(LOG_ERR, d->domid, d->devid, "%s", msg);
	writef(xb, XP_XS_NO_TXN, d->be, "error", "%s", msg);
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

/* Close the disk: rings first (no thread may use the view), then the view,
 * which wipes the overlay and the key. */
static void close_disk(struct xdev *d)
{
	struct cow_stats cs;
	struct ring_stats rs;

	if (d->vbd) {
		vbd_get_stats(d->vbd, &rs);
		vbd_free(d->vbd);
		d->vbd = NULL;
		log_dev(LOG_INFO, d->domid, d->devid,
			"closed: %" PRIu64 " reads, %" PRIu64 " writes, %" PRIu64
			" bad requests, %" PRIu64 " I/O errors",
			rs.rd_req, rs.wr_req, rs.bad_req, rs.io_err);
	}
	if (d->cow) {
		cow_get_stats(d->cow, &cs);
		log_dev(LOG_INFO, d->domid, d->devid,
			"overlay wiped: %" PRIu64 " blocks in use, peak %" PRIu64
			" of %" PRIu64,
			cs.used_blks, cs.peak_blks, cs.limit_blks);
		cow_free(d->cow);
		d->cow = NULL;
	}
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

/* Forget everything of the device's earlier life (its disk is wiped). */
static void reset_dev(struct xenbus *xb, struct xdev *d)
{
	close_disk(d);
	unwatch_frontend(xb, d);
	d->fe[0] = '\0';
	d->failed = false;
	d->be_state = 0;
	d->fe_state = 0;
	d->close_deadline_ms = 0;
}

static void free_dev(struct xenbus *xb, struct xdev *d)
{
	struct xdev **pp;

	close_disk(d);
	unwatch_frontend(xb, d);
	for (pp = &xb->devs; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	free(d);
}

/* ---- opening and advertising ---- */

static int open_disk(struct xenbus *xb, struct xdev *d)
{
	char err[DISKSPEC_ERR_MAX + PATH_BYTES];
	struct diskspec *spec;
	size_t len = 0;
	char *params, *mode, *discard;
	bool ro;
	int rc;

	params = readf(xb, d->be, "params", &len);
	if (!params) {
		dev_error(xb, d, "no params node: nothing to serve");
		return -ENOENT;
	}
	spec = malloc(sizeof(*spec));
	if (!spec) {
		free(params);
		return -ENOMEM;
	}
	rc = diskspec_parse(params, len, spec, err, sizeof(err));
	free(params);
	if (rc) {
		dev_error(xb, d, "bad disk spec: %s", err);
		goto out;
	}
	rc = disk_open(spec, xb->cfg.budget, &d->cow, err, sizeof(err));
	if (rc) {
		dev_error(xb, d, "cannot open disk: %s", err);
		goto out;
	}
	/* The toolstack's mode may make a disk read-only; never writable. */
	mode = readf(xb, d->be, "mode", NULL);
	ro = spec->kind == DISKSPEC_RO || (mode && !strchr(mode, 'w'));
	free(mode);
	discard = readf(xb, d->be, "discard-enable", NULL);
	d->feat = (struct req_features){
		.flush = true,
		.discard = !ro && !(discard && !strcmp(discard, "0")),
		.discard_secure = false,
		.read_only = ro,
		.max_indirect_segs = VBD_MAX_INDIRECT_SEGS,
		.sectors = cow_size_sectors(d->cow),
		.sector_size = 512,
	};
	free(discard);
	log_dev(LOG_INFO, d->domid, d->devid, "opened %s disk, %" PRIu64
		" sectors%s", spec->kind == DISKSPEC_COW ? "cow" :
			      spec->kind == DISKSPEC_BLANK ? "blank" : "read-only",
		d->feat.sectors, ro ? ", read-only" : "");
out:
	free(spec);
	return rc;
}

/*
 * Everything the frontend may read before it connects, in one transaction:
 * the limits it sizes its rings by must exist before InitWait, and Linux
 * reads the disk's properties at InitWait too.
 */
static int advertise(struct xenbus *xb, struct xdev *d)
{
	const struct req_features *f = &d->feat;
	int attempt, rc = 0;

	for (attempt = 0; attempt < 16; attempt++) {
		uint32_t t;

		rc = xp_xs_txn_start(xb->xp, &t);
		if (rc)
			return rc;
		rc = writef(xb, t, d->be, "feature-max-indirect-segments",
			    "%u", f->max_indirect_segs);
		rc = rc ?: writef(xb, t, d->be, "multi-queue-max-queues", "%u",
				  xb->cfg.max_queues);
		rc = rc ?: writef(xb, t, d->be, "max-ring-page-order", "%u",
				  ADVERTISED_RING_ORDER);
		rc = rc ?: writef(xb, t, d->be, "sectors", "%" PRIu64,
				  f->sectors);
		rc = rc ?: writef(xb, t, d->be, "sector-size", "512");
		rc = rc ?: writef(xb, t, d->be, "physical-sector-size", "4096");
		rc = rc ?: writef(xb, t, d->be, "info", "%u",
				  f->read_only ? VDISK_READONLY : 0u);
		rc = rc ?: writef(xb, t, d->be, "feature-flush-cache", "1");
		rc = rc ?: writef(xb, t, d->be, "feature-discard", "%d",
				  f->discard ? 1 : 0);
		if (f->discard) {
			rc = rc ?: writef(xb, t, d->be, "discard-granularity",
					  "%u", STORE_BLK_BYTES);
			rc = rc ?: writef(xb, t, d->be, "discard-alignment",
					  "0");
		}
		rc = rc ?: writef(xb, t, d->be, "hotplug-status", "connected");
		if (rc) {
			xp_xs_txn_end(xb->xp, t, true);
			return rc;
		}
		rc = xp_xs_txn_end(xb->xp, t, false);
		if (rc != -EAGAIN)
			return rc;
	}
	return rc;
}

/* ---- connecting ---- */

/* Read one frontend node, strictly, into a u32 via parse fn. */
static int fe_u32(struct xenbus *xb, struct xdev *d, const char *node,
		  int (*parse)(const char *, size_t, uint32_t *),
		  uint32_t *val_r)
{
	size_t len = 0;
	char *v = readf(xb, d->fe, node, &len);
	int rc = parse(v, len, val_r);

	if (rc)
		dev_error(xb, d, "frontend node %s: %s", node,
			  rc == -ENOENT ? "missing" : "malformed");
	free(v);
	return rc;
}

static int connect_rings(struct xenbus *xb, struct xdev *d)
{
	struct vbd_queue *queues = NULL;
	enum xe_blkif_abi abi;
	unsigned int order, nr_queues, q, i;
	size_t len = 0;
	char *v;
	int rc;

	v = readf(xb, d->fe, "protocol", &len);
	rc = parse_protocol(v, len, XE_BLKIF_ABI_DEFAULT, &abi);
	free(v);
	if (rc) {
		dev_error(xb, d, "frontend node protocol: unknown ABI");
		return rc;
	}
	v = readf(xb, d->fe, "ring-page-order", &len);
	rc = parse_ring_page_order(v, len, ADVERTISED_RING_ORDER, &order);
	free(v);
	if (rc) {
		dev_error(xb, d, "frontend node ring-page-order: %s",
			  rc == -ERANGE ? "above our maximum" : "malformed");
		return rc;
	}
	v = readf(xb, d->fe, "multi-queue-num-queues", &len);
	rc = parse_num_queues(v, len, xb->cfg.max_queues, &nr_queues);
	free(v);
	if (rc) {
		dev_error(xb, d, "frontend node multi-queue-num-queues: %s",
			  rc == -ERANGE ? "out of range" : "malformed");
		return rc;
	}
	queues = calloc(nr_queues, sizeof(*queues));
	if (!queues)
		return -ENOMEM;
	for (q = 0; q < nr_queues && !rc; q++) {
		char node[64];
		/* One queue: top-level keys; several: queue-N/ (1.7). */
		char prefix[24] = "";

		if (nr_queues > 1)
			snprintf(prefix, sizeof(prefix), "queue-%u/", q);
		for (i = 0; i < (1u << order) && !rc; i++) {
			if (order == 0)
				snprintf(node, sizeof(node), "%sring-ref",
					 prefix);
			else
				snprintf(node, sizeof(node), "%sring-ref%u",
					 prefix, i);
			rc = fe_u32(xb, d, node, parse_gref,
				    &queues[q].refs[i]);
		}
		if (!rc) {
			snprintf(node, sizeof(node), "%sevent-channel", prefix);
			rc = fe_u32(xb, d, node, parse_evtchn, &queues[q].port);
		}
	}
	if (!rc) {
		if (!d->vbd) {
			struct vbd_params vp = { .xp = xb->xp,
						 .domid = d->domid,
						 .devid = d->devid,
						 .cow = d->cow,
						 .feat = d->feat };

			rc = vbd_new(&vp, &d->vbd);
		}
		if (!rc)
			rc = vbd_connect(d->vbd, abi, order, nr_queues, queues);
		if (rc)
			dev_error(xb, d, "cannot connect the rings: %s",
				  strerror(-rc));
		else
			log_dev(LOG_INFO, d->domid, d->devid,
				"connected: %u queue(s) of %u page(s), %s ABI",
				nr_queues, 1u << order,
				abi == XE_BLKIF_ABI_X86_32 ? "x86_32" :
							     "native");
	}
	free(queues);
	return rc;
}

static void disconnect(struct xdev *d)
{
	if (d->vbd && vbd_connected(d->vbd)) {
		vbd_disconnect(d->vbd);
		log_dev(LOG_INFO, d->domid, d->devid, "disconnected");
	}
}

/* ---- the state machine ---- */

/* Does /local/domain/<domid> still exist? */
static bool domain_alive(struct xenbus *xb, uint16_t domid)
{
	char path[64], *v = NULL;
	int rc;

	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	rc = xp_xs_read(xb->xp, XP_XS_NO_TXN, path, &v, NULL);
	free(v);
	return rc != -ENOENT;
}

/* Learn the frontend's path from the backend dir, and watch its state. */
static int find_frontend(struct xenbus *xb, struct xdev *d)
{
	char path[PATH_BYTES + 8], want[64];
	size_t len = 0;
	char *fe = readf(xb, d->be, "frontend", &len);
	char *feid;
	uint32_t id;
	int rc;

	if (!fe)
		return -ENOENT;
	feid = readf(xb, d->be, "frontend-id", &len);
	rc = parse_u32(feid, feid ? len : 0, UINT16_MAX, &id);
	free(feid);
	/* The frontend must live in the domain the device path names. */
	snprintf(want, sizeof(want), "/local/domain/%u/", d->domid);
	if (rc || id != d->domid || strncmp(fe, want, strlen(want)) ||
	    strlen(fe) >= sizeof(d->fe) || strchr(fe, '\n')) {
		dev_error(xb, d, "frontend path or id does not match domain %u",
			  d->domid);
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

/* Bring one device up to date with xenstore. */
static void update_dev(struct xenbus *xb, struct xdev *d)
{
	enum parse_xenbus_state fe_state, written;
	size_t len = 0;
	char *v;
	bool online = true, fe_present;
	int be_written;

	d->dirty = false;
	/* Our directory gone: the toolstack removed the device. */
	v = readf(xb, d->be, "state", &len);
	if (!v) {
		log_dev(LOG_INFO, d->domid, d->devid, "device removed");
		free_dev(xb, d);
		return;
	}
	be_written = parse_state(v, len, &written) ? 0 : (int)written;
	free(v);
	if (d->be_state == 0 && be_written != 1 && be_written != 0) {
		/* Someone else's device (or one we left Closed in an earlier
		 * life): leave it alone until the toolstack resets it. */
		if (be_written != 6) {
			log_dev(LOG_WARNING, d->domid, d->devid,
				"found in state %d, not 1: ignored",
				be_written);
		}
		d->failed = true;
		d->be_state = be_written;
	} else if (d->be_state != 0 && be_written == 1) {
		/* We never write 1: the toolstack put a new device here
		 * (removed and re-added before our watch fired, or reset
		 * after a failure). Its life starts afresh. */
		log_dev(LOG_INFO, d->domid, d->devid,
			"reset to state 1 by the toolstack: starting afresh");
		reset_dev(xb, d);
	}
	v = readf(xb, d->be, "online", &len);
	if (v) {
		bool b;

		if (!parse_bool(v, len, true, &b))
			online = b;
		free(v);
	}

	if (!d->fe[0] && !d->failed) {
		int rc = find_frontend(xb, d);

		if (rc == -ENOENT)
			return; /* the toolstack has not written it yet */
		if (rc) {
			d->failed = true;
			set_state(xb, d, 6);
			return;
		}
	}

	/* The toolstack wrote state 5 or online=0: it wants the device. */
	if (d->be_state != 0 && be_written == 5 && d->be_state != 5 &&
	    d->be_state != 6)
		online = false;

	fe_state = PARSE_XENBUS_UNKNOWN;
	fe_present = false;
	if (d->fe[0]) {
		v = readf(xb, d->fe, "state", &len);
		fe_present = v != NULL;
		if (parse_state(v, len, &fe_state))
			fe_state = PARSE_XENBUS_UNKNOWN; /* garbage = gone */
		free(v);
	}
	d->fe_state = fe_state;

	/* The frontend's domain died: nobody will ever close properly. */
	if (d->fe[0] && !fe_present && !domain_alive(xb, d->domid)) {
		log_dev(LOG_INFO, d->domid, d->devid,
			"frontend domain gone: closing and removing");
		close_disk(d);
		xp_xs_rm(xb->xp, XP_XS_NO_TXN, d->be);
		rm_domain_dir(xb, d);
		free_dev(xb, d);
		return;
	}

	if (d->failed)
		return;

	if (!online) {
		if (d->be_state == 6) {
			close_disk(d);
			return;
		}
		set_state(xb, d, 5);
		if (!d->close_deadline_ms)
			d->close_deadline_ms = now_ms() +
					       xb->cfg.close_timeout_ms;
		if (fe_state != PARSE_XENBUS_CONNECTED &&
		    fe_state != PARSE_XENBUS_INITIALISED &&
		    fe_state != PARSE_XENBUS_CLOSING)
			d->close_deadline_ms = 1; /* closed enough: now */
		if (now_ms() >= d->close_deadline_ms) {
			disconnect(d);
			set_state(xb, d, 6);
			close_disk(d);
		}
		return;
	}
	d->close_deadline_ms = 0;

	if (!d->cow) {
		if (d->be_state == 6)
			return; /* closed and wiped: stays so */
		if (open_disk(xb, d) || advertise(xb, d)) {
			d->failed = true;
			close_disk(d);
			set_state(xb, d, 6);
			return;
		}
		set_state(xb, d, 2);
	}

	switch (fe_state) {
	case PARSE_XENBUS_INITIALISED:
	case PARSE_XENBUS_CONNECTED:
		if (d->be_state == 4 && d->vbd && vbd_connected(d->vbd))
			break; /* already connected: idempotent */
		if (d->be_state != 2 && d->be_state != 4)
			break; /* not after Closing/Closed without a reset */
		if (connect_rings(xb, d)) {
			disconnect(d);
			set_state(xb, d, 5);
		} else {
			set_state(xb, d, 4);
		}
		break;
	case PARSE_XENBUS_CLOSING:
		/* Closed stays Closed: only a reset to 1 reopens. */
		if (d->be_state != 6)
			set_state(xb, d, 5);
		break;
	case PARSE_XENBUS_CLOSED:
	case PARSE_XENBUS_UNKNOWN:
		disconnect(d);
		if (d->be_state >= 4 || fe_state == PARSE_XENBUS_CLOSED)
			set_state(xb, d, 6);
		break;
	case PARSE_XENBUS_INITIALISING:
		if (d->be_state == 6 || d->be_state == 5) {
			/* A reconnect: the disk and its data stay. */
			disconnect(d);
			set_state(xb, d, 2);
		}
		break;
	default:
		break;
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
	{
		struct xdev *d = find_dev(xb, k, (uint16_t)domid, devid);

		if (!d)
			d = add_dev(xb, k, (uint16_t)domid, devid);
		if (d)
			d->dirty = true;
	}
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
		if (xp_xs_directory(xb->xp, XP_XS_NO_TXN, xb->base[k],
					  &doms, &nd))
			continue;
		for (i = 0; i < nd; i++) {
			char path[PATH_BYTES * 2];

			if (parse_u32(doms[i], strlen(doms[i]), UINT16_MAX,
				      &domid))
				continue;
			snprintf(path, sizeof(path), "%s/%s", xb->base[k],
				 doms[i]);
			if (xp_xs_directory(xb->xp, XP_XS_NO_TXN, path,
						  &devs, &nv))
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

int xenbus_process(struct xenbus *xb)
{
	unsigned int n, k;
	struct xdev *d, *next;
	uint64_t t;

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
	t = now_ms();
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
	uint64_t t = now_ms(), best = UINT64_MAX;
	struct xdev *d;

	for (d = xb->devs; d; d = d->next)
		if (d->close_deadline_ms && d->close_deadline_ms < best)
			best = d->close_deadline_ms;
	if (best == UINT64_MAX)
		return -1;
	return best <= t ? 0 : (int)(best - t);
}

int xenbus_fd(struct xenbus *xb)
{
	return xp_xs_fd(xb->xp);
}

void xenbus_for_each(struct xenbus *xb,
		     void (*fn)(const struct xenbus_dev_info *info, void *arg),
		     void *arg)
{
	struct xdev *d;

	for (d = xb->devs; d; d = d->next) {
		struct xenbus_dev_info info = { .domid = d->domid,
						.devid = d->devid,
						.be_state = d->be_state,
						.fe_state = d->fe_state };

		snprintf(info.kind, sizeof(info.kind), "%s",
			 xb->cfg.kinds[d->kind_idx]);
		if (d->cow)
			cow_get_stats(d->cow, &info.cow);
		if (d->vbd)
			vbd_get_stats(d->vbd, &info.ring);
		info.nr_rings = d->vbd ? vbd_nr_rings(d->vbd) : 0;
		fn(&info, arg);
	}
}

/* ---- life cycle ---- */

static bool kind_ok(const char *kind)
{
	size_t i, n = strlen(kind);

	/* vbd is kernel blkback's and qdisk QEMU's: serving either would race
	 * them for the same devices. vbd3 (libxl's backendtype=tap) is ours
	 * to take when no tapback runs. */
	if (n == 0 || n >= 32 || !strcmp(kind, "vbd") || !strcmp(kind, "qdisk"))
		return false;
	for (i = 0; i < n; i++)
		if (!((kind[i] >= 'a' && kind[i] <= 'z') ||
		      (kind[i] >= '0' && kind[i] <= '9') || kind[i] == '-' ||
		      kind[i] == '_'))
			return false;
	return true;
}

int xenbus_new(struct xp *xp, const struct xenbus_config *cfg,
	       struct xenbus **xb_r)
{
	struct xenbus *xb;
	unsigned int k;
	int rc;

	if (cfg->nr_kinds < 1 || cfg->nr_kinds > XENBUS_MAX_KINDS ||
	    cfg->max_queues < 1 || cfg->max_queues > VBD_MAX_QUEUES)
		return -EINVAL;
	for (k = 0; k < cfg->nr_kinds; k++)
		if (!kind_ok(cfg->kinds[k])) {
			log_msg(LOG_ERR, "refusing to serve backend kind '%s'",
				cfg->kinds[k]);
			return -EINVAL;
		}
	xb = calloc(1, sizeof(*xb));
	if (!xb)
		return -ENOMEM;
	xb->xp = xp;
	xb->cfg = *cfg;
	if (!xb->cfg.close_timeout_ms)
		xb->cfg.close_timeout_ms = 5000;
	rc = xp_self_domid(xp, &xb->self);
	if (rc)
		goto fail;
	for (k = 0; k < cfg->nr_kinds; k++) {
		char token[16];

		snprintf(xb->base[k], sizeof(xb->base[k]),
			 "/local/domain/%u/backend/%s", xb->self,
			 cfg->kinds[k]);
		snprintf(token, sizeof(token), "be:%u", k);
		rc = xp_xs_watch(xp, xb->base[k], token);
		if (rc)
			goto fail;
	}
	rc = xp_xs_watch(xp, "@releaseDomain", "rel");
	if (rc)
		goto fail;
	xb->rescan = true;
	*xb_r = xb;
	return 0;
fail:
	log_msg(LOG_ERR, "cannot watch xenstore: %s", strerror(-rc));
	free(xb);
	return rc;
}

void xenbus_free(struct xenbus *xb)
{
	if (!xb)
		return;
	while (xb->devs) {
		struct xdev *d = xb->devs;

		disconnect(d);
		if (d->be_state && d->be_state != 6)
			set_state(xb, d, 6);
		free_dev(xb, d); /* closes the disk: overlay and key wiped */
	}
	free(xb);
}
