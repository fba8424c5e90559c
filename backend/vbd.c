/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A device's rings. Connect and disconnect are idempotent and leave no
 * half-connected state (XSA-350: toggling can never free a ring a thread
 * still uses, because ring_free() joins the thread first). Counters of rings
 * that went away are folded into the device's totals so statistics survive
 * a reconnect.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/vbd.h"

struct vbd {
	struct vbd_params p;
	struct ring *rings[VBD_MAX_QUEUES];
	unsigned int nr_rings;
	struct ring_stats past; /* from rings already freed */
};

int vbd_new(const struct vbd_params *params, struct vbd **vbd_r)
{
	struct vbd *vbd = calloc(1, sizeof(*vbd));

	if (!vbd)
		return -ENOMEM;
	vbd->p = *params;
	*vbd_r = vbd;
	return 0;
}

static void stats_add(struct ring_stats *sum, const struct ring_stats *s)
{
#define RING_STAT_ADD(name) sum->name += s->name;
	RING_COUNTERS(RING_STAT_ADD)
#undef RING_STAT_ADD
	sum->halted |= s->halted;
}

void vbd_disconnect(struct vbd *vbd)
{
	unsigned int i;

	for (i = 0; i < vbd->nr_rings; i++) {
		struct ring_stats s;

		ring_get_stats(vbd->rings[i], &s);
		ring_free(vbd->rings[i]);
		s.halted = false; /* a new connection starts clean */
		stats_add(&vbd->past, &s);
		vbd->rings[i] = NULL;
	}
	vbd->nr_rings = 0;
}

int vbd_connect(struct vbd *vbd, enum xe_blkif_abi abi, unsigned int order,
		unsigned int nr_queues, const struct vbd_queue *queues,
		struct xp_evt **evts, char *err, size_t err_len)
{
	unsigned int i;
	int rc;

	vbd_disconnect(vbd);
	if (order > VBD_MAX_RING_ORDER || nr_queues < 1 ||
	    nr_queues > VBD_MAX_QUEUES) {
		snprintf(err, err_len, "%u queues of order %u", nr_queues,
			 order);
		for (i = 0; evts && i < nr_queues && i < VBD_MAX_QUEUES; i++)
			xp_evt_close(evts[i]);
		return -EINVAL;
	}
	for (i = 0; i < nr_queues; i++) {
		struct ring_params rp = {
			.xp = vbd->p.xp,
			.domid = vbd->p.domid,
			.devid = vbd->p.devid,
			.qid = i,
			.abi = abi,
			.order = order,
			.refs = queues[i].refs,
			.remote_port = queues[i].port,
			.cow = vbd->p.cow,
			.feat = vbd->p.feat,
			.evt = evts ? evts[i] : NULL,
			.full = vbd->p.full,
			.full_arg = vbd->p.full_arg,
		};

		rc = ring_new(&rp, &vbd->rings[i], err, err_len);
		if (rc) {
			while (evts && ++i < nr_queues)
				xp_evt_close(evts[i]);
			vbd_disconnect(vbd);
			return rc;
		}
		vbd->nr_rings = i + 1;
	}
	return 0;
}

bool vbd_connected(const struct vbd *vbd)
{
	return vbd->nr_rings > 0;
}

unsigned int vbd_nr_rings(const struct vbd *vbd)
{
	return vbd->nr_rings;
}

void vbd_get_stats(const struct vbd *vbd, struct ring_stats *st)
{
	unsigned int i;

	*st = vbd->past;
	for (i = 0; i < vbd->nr_rings; i++) {
		struct ring_stats s;

		ring_get_stats(vbd->rings[i], &s);
		stats_add(st, &s);
	}
}

void vbd_free(struct vbd *vbd)
{
	if (!vbd)
		return;
	vbd_disconnect(vbd);
	free(vbd);
}
