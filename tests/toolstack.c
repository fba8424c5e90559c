/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libxl look-alike (tests/toolstack.h). Node names, values and
 * permissions follow what the Xen 4.20 lab saw libxl write for a vbd3 disk
 * (xenstore-ls -fp dumps in ../shared/xenlab420/REPORT.md 3.2 and 3.3):
 * the backend directory is dom0's and readable by the guest, the frontend
 * directory is the guest's and readable by dom0.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/toolstack.h"
#include "xs-glue/parse.h"

#define TS_DESTROY_TIMEOUT_MS 10000u /* LIBXL_DESTROY_TIMEOUT */

const char *ts_vbd3_dir(uint16_t domid, uint32_t devid)
{
	static __thread char be[96];

	snprintf(be, sizeof(be), "/local/domain/0/backend/vbd3/%u/%u", domid,
		 devid);
	return be;
}

static void fe_dir(uint16_t domid, uint32_t devid, char *fe, size_t len)
{
	snprintf(fe, len, "/local/domain/%u/device/vbd/%u", domid, devid);
}

struct add_ctx {
	const struct ts_disk *disk;
	char be[96], fe[96];
};

static int add_txn(struct xp *xp, uint32_t t, void *arg)
{
	struct add_ctx *c = arg;
	const struct ts_disk *k = c->disk;
	struct xp_xs_perm be_perms[2] = { { 0, XP_PERM_NONE },
					  { k->domid, XP_PERM_READ } };
	struct xp_xs_perm fe_perms[2] = { { k->domid, XP_PERM_NONE },
					  { 0, XP_PERM_READ } };
	int rc;

	rc = xp_xs_mkdir(xp, t, c->be);
	if (!rc)
		rc = xp_xs_set_perms(xp, t, c->be, be_perms, 2);
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "frontend", "%s", c->fe);
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "params", "%s:%s",
				    k->format ? k->format : "aio", k->target);
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "script", "%s", k->script);
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "frontend-id", "%u",
				    k->domid);
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "online", "1");
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "removable", "0");
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "bootable", "1");
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "state", "1");
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "dev", "%s", k->vdev);
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "type", "vbd3");
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "mode", "%s",
				    k->read_only ? "r" : "w");
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "device-type", "disk");
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "discard-enable", "%d",
				    k->read_only ? 0 : 1);
	if (!rc)
		rc = xp_printf_node(xp, t, c->be, "specification", "xen");

	if (!rc)
		rc = xp_xs_mkdir(xp, t, c->fe);
	if (!rc)
		rc = xp_xs_set_perms(xp, t, c->fe, fe_perms, 2);
	if (!rc)
		rc = xp_printf_node(xp, t, c->fe, "backend", "%s", c->be);
	if (!rc)
		rc = xp_printf_node(xp, t, c->fe, "backend-id", "0");
	if (!rc)
		rc = xp_printf_node(xp, t, c->fe, "state", "1");
	if (!rc)
		rc = xp_printf_node(xp, t, c->fe, "virtual-device", "%u",
				    k->devid);
	if (!rc)
		rc = xp_printf_node(xp, t, c->fe, "device-type", "disk");
	if (!rc)
		rc = xp_printf_node(xp, t, c->fe, "trusted", "1");
	return rc;
}

int ts_vbd3_add(struct xp *tool, const struct ts_disk *disk)
{
	struct add_ctx c = { .disk = disk };

	snprintf(c.be, sizeof(c.be), "%s", ts_vbd3_dir(disk->domid,
						       disk->devid));
	fe_dir(disk->domid, disk->devid, c.fe, sizeof(c.fe));
	return xp_txn_run(tool, add_txn, &c);
}

static int backend_state(struct xp *tool, const char *be)
{
	enum xenbus_state st;
	char *v = NULL;
	size_t len = 0;
	int rc = xp_read_node(tool, XP_XS_NO_TXN, be, "state", &v, &len);

	if (!rc)
		rc = parse_state(v, len, &st) ? -EINVAL : (int)st;
	free(v);
	return rc;
}

int ts_wait_backend(struct xp *tool, const char *be, int want,
		    unsigned int timeout_ms)
{
	uint64_t deadline = xp_now_ms() + timeout_ms;

	for (;;) {
		if (backend_state(tool, be) == want)
			return 0;
		if (xp_now_ms() >= deadline)
			return -ETIMEDOUT;
		poll(NULL, 0, 5);
	}
}

struct rm_ctx {
	const char *be;
};

/* libxl__initiate_device_generic_remove: online=0, state 5 unless 6. */
static int offline_txn(struct xp *xp, uint32_t t, void *arg)
{
	struct rm_ctx *c = arg;
	char *v = NULL;
	int rc;

	rc = xp_printf_node(xp, t, c->be, "online", "0");
	if (rc)
		return rc;
	if (!xp_read_node(xp, t, c->be, "state", &v, NULL) &&
	    strcmp(v, "6"))
		rc = xp_printf_node(xp, t, c->be, "state", "5");
	free(v);
	return rc;
}

int ts_vbd3_remove(struct xp *tool, uint16_t domid, uint32_t devid,
		   enum ts_remove how)
{
	struct rm_ctx c = { .be = ts_vbd3_dir(domid, devid) };
	char be[96], fe[96], dom[96];
	int rc;

	snprintf(be, sizeof(be), "%s", c.be);
	c.be = be;
	fe_dir(domid, devid, fe, sizeof(fe));
	if (how == TS_REMOVE_FORCE)
		xp_xs_rm(tool, XP_XS_NO_TXN, fe);
	rc = xp_txn_run(tool, offline_txn, &c);
	if (rc)
		return rc;
	rc = ts_wait_backend(tool, be, 6, TS_DESTROY_TIMEOUT_MS);
	if (rc && how == TS_REMOVE_SAFE)
		return rc; /* left in state 5, as libxl leaves it */
	xp_xs_rm(tool, XP_XS_NO_TXN, fe);
	xp_xs_rm(tool, XP_XS_NO_TXN, be);
	snprintf(dom, sizeof(dom), "/local/domain/0/backend/vbd3/%u", domid);
	xp_rm_if_empty(tool, dom);
	return rc;
}

/* dom0's node, readable by reader, as libxl leaves both links. */
static int write_link(struct xp *tool, const char *dir, const char *node,
		      uint16_t val, uint16_t reader)
{
	struct xp_xs_perm perms[2] = { { 0, XP_PERM_NONE },
				       { reader, XP_PERM_READ } };
	char path[128];
	int rc = xp_printf_node(tool, XP_XS_NO_TXN, dir, node, "%u", val);

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", dir, node);
	return xp_xs_set_perms(tool, XP_XS_NO_TXN, path, perms, 2);
}

int ts_domain_uuid(struct xp *tool, uint16_t domid, const char *uuid)
{
	struct xp_xs_perm perms[2] = { { 0, XP_PERM_NONE },
				       { domid, XP_PERM_READ } };
	char dir[48], path[64];
	int rc;

	snprintf(dir, sizeof(dir), "/local/domain/%u", domid);
	rc = xp_printf_node(tool, XP_XS_NO_TXN, dir, "vm", "/vm/%s", uuid);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/vm", dir);
	return xp_xs_set_perms(tool, XP_XS_NO_TXN, path, perms, 2);
}

int ts_stubdom_create(struct sim *sim, struct xp *tool, uint16_t stub,
		      uint16_t guest)
{
	char dir[48];
	int rc = sim_domain_create(sim, stub);

	if (rc)
		return rc;
	snprintf(dir, sizeof(dir), "/local/domain/%u", stub);
	rc = write_link(tool, dir, "target", guest, stub);
	if (rc)
		return rc;
	snprintf(dir, sizeof(dir), "/local/domain/%u/image", guest);
	return write_link(tool, dir, "device-model-domid", stub, guest);
}
