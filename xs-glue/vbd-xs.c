/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkif's xenstore vocabulary for one device (xs-glue/vbd-xs.h).
 *
 * The backend directory is written by dom0's toolstack, the frontend
 * directory by the guest: everything read from the latter is untrusted and
 * goes through xs-glue/parse.c's strict parsers, bounded by what we
 * advertised before it is used. Nothing here keeps state.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xs-glue/parse.h"
#include "xs-glue/vbd-xs.h"

#define VDISK_READONLY 0x4u /* blkif.h: info bit */

/* ---- the toolstack's request ---- */

/* Read an optional backend node: NULL if absent. */
static char *read_opt(struct xp *xp, const char *dir, const char *node,
		      size_t *len_r)
{
	char *v = NULL;

	if (xp_read_node(xp, XP_XS_NO_TXN, dir, node, &v, len_r))
		return NULL;
	return v;
}

/* The spec text of a params value, under the kind's rule. */
static int spec_text(const char *params, size_t len,
		     const struct xenbus_kind *kind,
		     const char *default_overlay, char *out, size_t out_len,
		     char *err, size_t err_len)
{
	const char *target = params;
	size_t tlen = len;
	int n;

	if (kind->params_format) {
		const char *colon = memchr(params, ':', len);

		if (!colon) {
			snprintf(err, err_len,
				 "params has no format prefix (expected "
				 "aio:<disk spec>)");
			return -EINVAL;
		}
		if ((size_t)(colon - params) != 3 || memcmp(params, "aio", 3)) {
			snprintf(err, err_len,
				 "params format '%.*s' is not supported: only "
				 "raw (aio:), so leave format= out of the disk "
				 "line",
				 (int)((colon - params) > 16 ? 16 :
							       colon - params),
				 params);
			return -EINVAL;
		}
		target = colon + 1;
		tlen = len - (size_t)(colon + 1 - params);
	}
	if (tlen > 0 && target[0] == '/')
		n = snprintf(out, out_len, "cow:base=%.*s%s%s", (int)tlen,
			     target,
			     default_overlay && *default_overlay ? "," : "",
			     default_overlay ? default_overlay : "");
	else
		n = snprintf(out, out_len, "%.*s", (int)tlen, target);
	if (n < 0 || (size_t)n >= out_len) {
		snprintf(err, err_len, "params is too long");
		return -EINVAL;
	}
	return 0;
}

int vbd_xs_read_config(struct xp *xp, const char *be,
		       const struct xenbus_kind *kind,
		       const char *default_overlay, struct vbd_xs_config *cfg,
		       char *err, size_t err_len)
{
	char text[2 * DISKSPEC_PATH_MAX + 512];
	char perr[DISKSPEC_ERR_MAX];
	char *mode, *params, *discard, *dev;
	size_t len = 0;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	/* mode first: it decides whether the disk may be written at all */
	mode = read_opt(xp, be, "mode", NULL);
	cfg->read_only = mode && !strchr(mode, 'w');
	free(mode);

	params = read_opt(xp, be, "params", &len);
	if (!params) {
		snprintf(err, err_len, "no params node: nothing to serve");
		return -ENOENT;
	}
	if (len >= sizeof(cfg->params) || memchr(params, '\0', len)) {
		free(params);
		snprintf(err, err_len, "params is too long");
		return -EINVAL;
	}
	memcpy(cfg->params, params, len);
	cfg->params[len] = '\0';
	rc = spec_text(params, len, kind, default_overlay, text, sizeof(text),
		       err, err_len);
	free(params);
	if (rc)
		return rc;
	rc = diskspec_parse(text, strlen(text), &cfg->spec, perr, sizeof(perr));
	if (rc) {
		snprintf(err, err_len, "bad disk spec: %s", perr);
		return rc;
	}
	if (cfg->spec.kind == DISKSPEC_RO)
		cfg->read_only = true;

	discard = read_opt(xp, be, "discard-enable", NULL);
	cfg->discard = !cfg->read_only && !(discard && !strcmp(discard, "0"));
	free(discard);

	dev = read_opt(xp, be, "dev", NULL);
	if (dev && strlen(dev) < sizeof(cfg->vdev) && !strchr(dev, '"') &&
	    !strchr(dev, '\\'))
		strcpy(cfg->vdev, dev);
	free(dev);
	return 0;
}

/* ---- what we publish ---- */

struct advert {
	const char *be;
	const struct vbd_xs_config *cfg;
	const struct req_features *f;
	unsigned int max_queues;
	bool hotplug_status;
	const char *nbd_path; /* physical-device-path, or NULL */
	const char *failed; /* the node whose write failed */
};

static int put(struct xp *xp, uint32_t t, struct advert *a, const char *node,
	       uint64_t v)
{
	int rc = xp_printf_node(xp, t, a->be, node, "%" PRIu64, v);

	if (rc)
		a->failed = node;
	return rc;
}

static int advertise_txn(struct xp *xp, uint32_t t, void *arg)
{
	struct advert *a = arg;
	const struct req_features *f = a->f;
	int rc;

	char *v = NULL;
	bool same;

	/* Into this device only: one removed and made again is not it. */
	rc = xp_read_node(xp, t, a->be, "state", &v, NULL);
	same = !rc && !strcmp(v, "1");
	free(v);
	v = NULL;
	if (same && !xp_read_node(xp, t, a->be, "params", &v, NULL))
		same = !strcmp(v, a->cfg->params);
	free(v);
	if (!same) {
		a->failed = "state";
		return rc == -ENOENT ? -ENOENT : -ESTALE;
	}
	rc = put(xp, t, a, "feature-max-indirect-segments", f->max_indirect_segs);
	if (!rc)
		rc = put(xp, t, a, "multi-queue-max-queues", a->max_queues);
	if (!rc)
		rc = put(xp, t, a, "max-ring-page-order", VBD_MAX_RING_ORDER);
	if (!rc)
		rc = put(xp, t, a, "sectors", f->sectors);
	if (!rc)
		rc = put(xp, t, a, "sector-size", f->sector_size);
	if (!rc)
		rc = put(xp, t, a, "physical-sector-size", 4096);
	if (!rc)
		rc = put(xp, t, a, "info", f->read_only ? VDISK_READONLY : 0u);
	if (!rc)
		rc = put(xp, t, a, "feature-flush-cache", 1);
	if (!rc)
		rc = put(xp, t, a, "feature-discard", f->discard ? 1 : 0);
	if (!rc && f->discard)
		rc = put(xp, t, a, "discard-granularity", STORE_BLK_BYTES);
	if (!rc && f->discard)
		rc = put(xp, t, a, "discard-alignment", 0);
	if (!rc && a->nbd_path) {
		rc = xp_printf_node(xp, t, a->be, VBD_XS_NODE_NBD, "%s",
				    a->nbd_path);
		if (rc)
			a->failed = VBD_XS_NODE_NBD;
	}
	if (!rc && a->hotplug_status) {
		rc = xp_printf_node(xp, t, a->be, "hotplug-status", "connected");
		if (rc)
			a->failed = "hotplug-status";
	}
	if (!rc)
		rc = put(xp, t, a, "state", 2); /* InitWait */
	return rc;
}

int vbd_xs_advertise(struct xp *xp, const char *be,
		     const struct vbd_xs_config *cfg,
		     const struct req_features *feat, unsigned int max_queues,
		     bool hotplug_status, const char *nbd_path, char *err,
		     size_t err_len)
{
	struct advert a = { be, cfg, feat, max_queues, hotplug_status,
			    nbd_path, NULL };
	int rc = xp_txn_run(xp, advertise_txn, &a);

	if (rc == -ESTALE)
		snprintf(err, err_len, "%s changed while it was opened", be);
	else if (rc)
		snprintf(err, err_len, "cannot write %s/%s: %s", be,
			 a.failed ? a.failed : "(transaction)", strerror(-rc));
	return rc;
}

/* ---- the frontend's rings ---- */

/* One frontend node, strictly, into a u32 through parse. */
static int fe_u32(struct xp *xp, const char *fe, const char *node,
		  int (*parse)(const char *, size_t, uint32_t *),
		  uint32_t *val_r, char *err, size_t err_len)
{
	char *untrusted_v = NULL;
	size_t len = 0;
	int rc;

	if (xp_read_node(xp, XP_XS_NO_TXN, fe, node, &untrusted_v, &len))
		untrusted_v = NULL;
	rc = parse(untrusted_v, len, val_r);
	free(untrusted_v);
	if (rc)
		snprintf(err, err_len, "frontend node %s: %s", node,
			 rc == -ENOENT ? "missing" : "malformed");
	return rc;
}

int vbd_xs_read_rings(struct xp *xp, const char *fe, unsigned int max_order,
		      unsigned int max_queues, struct vbd_xs_rings *r,
		      char *err, size_t err_len)
{
	char *untrusted_v;
	size_t len = 0;
	unsigned int q, i;
	int rc;

	untrusted_v = read_opt(xp, fe, "protocol", &len);
	rc = parse_protocol(untrusted_v, len, XE_BLKIF_ABI_DEFAULT, &r->abi);
	free(untrusted_v);
	if (rc) {
		snprintf(err, err_len, "frontend node protocol: unknown ABI");
		return rc;
	}
	untrusted_v = read_opt(xp, fe, "ring-page-order", &len);
	rc = parse_ring_page_order(untrusted_v, len, max_order, &r->order);
	free(untrusted_v);
	if (rc) {
		snprintf(err, err_len, "frontend node ring-page-order: %s",
			 rc == -ERANGE ? "above our maximum" : "malformed");
		return rc;
	}
	untrusted_v = read_opt(xp, fe, "multi-queue-num-queues", &len);
	rc = parse_num_queues(untrusted_v, len, max_queues, &r->nr_queues);
	free(untrusted_v);
	if (rc) {
		snprintf(err, err_len,
			 "frontend node multi-queue-num-queues: %s",
			 rc == -ERANGE ? "out of range" : "malformed");
		return rc;
	}
	for (q = 0; q < r->nr_queues; q++) {
		/* One queue: top-level keys; several: queue-N/ (blkif.h). */
		char prefix[24] = "", node[64];

		if (r->nr_queues > 1)
			snprintf(prefix, sizeof(prefix), "queue-%u/", q);
		for (i = 0; i < (1u << r->order); i++) {
			if (r->order == 0)
				snprintf(node, sizeof(node), "%sring-ref",
					 prefix);
			else
				snprintf(node, sizeof(node), "%sring-ref%u",
					 prefix, i);
			rc = fe_u32(xp, fe, node, parse_gref,
				    &r->queues[q].refs[i], err, err_len);
			if (rc)
				return rc;
		}
		snprintf(node, sizeof(node), "%sevent-channel", prefix);
		rc = fe_u32(xp, fe, node, parse_evtchn, &r->queues[q].port, err,
			    err_len);
		if (rc)
			return rc;
	}
	return 0;
}
