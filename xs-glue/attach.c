/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Self-attach and detach of an ephemeral disk, toolstack style.
 *
 * Node set and permissions follow what libxl writes for a vbd (and what the
 * lab saw `xl block-attach` do): the backend directory belongs to dom0 and
 * the guest may read it (to find the disk's size and features); the frontend
 * directory belongs to the guest (its blkfront writes its ring there) and
 * dom0 reads it. Everything goes in in one transaction so the daemon and the
 * guest never see half a device.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xs-glue/attach.h"
#include "xs-glue/diskspec.h"
#include "xs-glue/parse.h"

int attach_vdev_devid(const char *vdev, uint32_t *devid_r)
{
	const char *p = vdev;
	uint64_t disk = 0, part = 0;
	uint32_t n;

	if (!parse_u32(vdev, strlen(vdev), UINT32_MAX, &n)) {
		*devid_r = n;
		return 0;
	}
	if (strncmp(p, "xvd", 3))
		return -EINVAL;
	p += 3;
	if (*p < 'a' || *p > 'z')
		return -EINVAL;
	/* Letters are a bijective base-26 number: a..z, aa..zz, ... */
	while (*p >= 'a' && *p <= 'z') {
		disk = disk * 26 + (uint64_t)(*p - 'a' + 1);
		if (disk > (1u << 20))
			return -EINVAL;
		p++;
	}
	disk--;
	if (*p) {
		if (*p == '0' || parse_u32(p, strlen(p), 255, &n))
			return -EINVAL;
		part = n;
	}
	if (disk < 16 && part < 16)
		*devid_r = (202u << 8) | (uint32_t)(disk << 4) | (uint32_t)part;
	else if (disk < (1u << 20))
		*devid_r = (1u << 28) | (uint32_t)(disk << 8) | (uint32_t)part;
	else
		return -EINVAL;
	return 0;
}

static int put(struct xp *xp, uint32_t t, const char *dir, const char *node,
	       const char *val)
{
	char path[256];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, node) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	return xp_xs_write(xp, t, path, val, strlen(val));
}

static int exists(struct xp *xp, uint32_t t, const char *path)
{
	char *v = NULL;
	int rc = xp_xs_read(xp, t, path, &v, NULL);

	free(v);
	return rc == -ENOENT ? 0 : rc == 0 ? 1 : rc;
}

static int write_nodes(struct xp *xp, uint32_t t, const struct attach_req *r,
		       const char *be, const char *fe, uint32_t devid,
		       uint16_t self)
{
	struct xp_xs_perm be_perms[2] = { { self, XP_PERM_NONE },
					  { r->domid, XP_PERM_READ } };
	struct xp_xs_perm fe_perms[2] = { { r->domid, XP_PERM_NONE },
					  { self, XP_PERM_READ } };
	const char *kind = r->kind ? r->kind : ATTACH_DEFAULT_KIND;
	char num[16];
	int rc;

	rc = exists(xp, t, be);
	if (rc == 0)
		rc = exists(xp, t, fe);
	if (rc)
		return rc > 0 ? -EEXIST : rc;

	rc = xp_xs_mkdir(xp, t, be);
	rc = rc ?: xp_xs_set_perms(xp, t, be, be_perms, 2);
	rc = rc ?: put(xp, t, be, "frontend", fe);
	snprintf(num, sizeof(num), "%u", r->domid);
	rc = rc ?: put(xp, t, be, "frontend-id", num);
	rc = rc ?: put(xp, t, be, "online", "1");
	rc = rc ?: put(xp, t, be, "removable", "0");
	rc = rc ?: put(xp, t, be, "dev", r->vdev);
	rc = rc ?: put(xp, t, be, "type", kind);
	rc = rc ?: put(xp, t, be, "mode", r->read_only ? "r" : "w");
	rc = rc ?: put(xp, t, be, "device-type", "disk");
	rc = rc ?: put(xp, t, be, "discard-enable", "1");
	rc = rc ?: put(xp, t, be, "params", r->spec);
	rc = rc ?: put(xp, t, be, "state", "1");

	rc = rc ?: xp_xs_mkdir(xp, t, fe);
	rc = rc ?: xp_xs_set_perms(xp, t, fe, fe_perms, 2);
	snprintf(num, sizeof(num), "%u", self);
	rc = rc ?: put(xp, t, fe, "backend", be);
	rc = rc ?: put(xp, t, fe, "backend-id", num);
	snprintf(num, sizeof(num), "%u", devid);
	rc = rc ?: put(xp, t, fe, "virtual-device", num);
	rc = rc ?: put(xp, t, fe, "device-type", "disk");
	rc = rc ?: put(xp, t, fe, "state", "1");
	return rc;
}

static void dirs(const char *kind, uint16_t self, uint16_t domid,
		 uint32_t devid, char *be, char *fe, size_t len)
{
	snprintf(be, len, "/local/domain/%u/backend/%s/%u/%u", self, kind,
		 domid, devid);
	snprintf(fe, len, "/local/domain/%u/device/vbd/%u", domid, devid);
}

int attach_device(struct xp *xp, const struct attach_req *r, char *err,
		  size_t err_len)
{
	const char *kind = r->kind ? r->kind : ATTACH_DEFAULT_KIND;
	char be[160], fe[160], dom[48];
	struct diskspec *spec;
	uint32_t devid;
	uint16_t self;
	int rc, attempt;

	rc = attach_vdev_devid(r->vdev, &devid);
	if (rc) {
		snprintf(err, err_len, "bad virtual device name '%s'", r->vdev);
		return rc;
	}
	spec = malloc(sizeof(*spec));
	if (!spec)
		return -ENOMEM;
	rc = diskspec_parse(r->spec, strlen(r->spec), spec, err, err_len);
	free(spec);
	if (rc)
		return rc;
	rc = xp_self_domid(xp, &self);
	if (rc)
		return rc;
	snprintf(dom, sizeof(dom), "/local/domain/%u", r->domid);
	rc = exists(xp, XP_XS_NO_TXN, dom);
	if (rc <= 0) {
		snprintf(err, err_len, "domain %u does not exist", r->domid);
		return rc ? rc : -ENOENT;
	}
	dirs(kind, self, r->domid, devid, be, fe, sizeof(be));

	for (attempt = 0; attempt < 16; attempt++) {
		uint32_t t;

		rc = xp_xs_txn_start(xp, &t);
		if (rc)
			break;
		rc = write_nodes(xp, t, r, be, fe, devid, self);
		if (rc) {
			xp_xs_txn_end(xp, t, true);
			break;
		}
		rc = xp_xs_txn_end(xp, t, false);
		if (rc != -EAGAIN)
			break;
	}
	if (rc == -EEXIST)
		snprintf(err, err_len, "domain %u already has device %s",
			 r->domid, r->vdev);
	else if (rc)
		snprintf(err, err_len, "cannot write xenstore: %s",
			 strerror(-rc));
	return rc;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The backend's state, or -errno (-ENOENT once the node is gone). */
static int be_state(struct xp *xp, const char *be)
{
	char path[192], *v = NULL;
	size_t len = 0;
	enum xenbus_state st;
	int rc;

	snprintf(path, sizeof(path), "%s/state", be);
	rc = xp_xs_read(xp, XP_XS_NO_TXN, path, &v, &len);
	if (!rc)
		rc = parse_state(v, len, &st) ? -EINVAL : (int)st;
	free(v);
	return rc;
}

static int offline_txn(struct xp *xp, uint32_t t, void *arg)
{
	const char *be = arg;
	char *v = NULL;
	int rc;

	rc = xp_printf_node(xp, t, be, "online", "0");
	if (rc)
		return rc;
	rc = xp_read_node(xp, t, be, "state", &v, NULL);
	if (!rc && strcmp(v, "6"))
		rc = xp_printf_node(xp, t, be, "state", "5");
	free(v);
	return rc;
}

int detach_device(struct xp *xp, const char *kind, uint16_t domid,
		  uint32_t devid, unsigned int timeout_ms)
{
	char be[160], fe[160], path[192];
	uint64_t deadline = now_ms() + timeout_ms;
	uint16_t self;
	int rc, st;

	if (!kind)
		kind = ATTACH_DEFAULT_KIND;
	rc = xp_self_domid(xp, &self);
	if (rc)
		return rc;
	dirs(kind, self, domid, devid, be, fe, sizeof(be));
	st = be_state(xp, be);
	if (st == -ENOENT)
		return -ENOENT;

	/* As libxl does: online=0 and state 5 in one transaction (state 5
	 * only if not Closed already), then wait for 6. */
	rc = xp_txn_run(xp, offline_txn, be);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/state", be);
	rc = xp_xs_watch(xp, path, "detach");
	if (rc)
		return rc;
	rc = -ETIMEDOUT;
	while (now_ms() < deadline) {
		struct pollfd p = { .fd = xp_xs_fd(xp), .events = POLLIN };
		char *wp = NULL, *wt = NULL;
		uint64_t left = deadline - now_ms();

		st = be_state(xp, be);
		if (st == 6 || st == -ENOENT) {
			rc = 0;
			break;
		}
		poll(&p, 1, left > 100 ? 100 : (int)left);
		while (xp_xs_read_watch(xp, &wp, &wt) == 0) {
			free(wp);
			free(wt);
		}
	}
	xp_xs_unwatch(xp, path, "detach");
	/* Closed (or given up on): the toolstack's part is to remove both. */
	xp_xs_rm(xp, XP_XS_NO_TXN, be);
	xp_xs_rm(xp, XP_XS_NO_TXN, fe);
	/* backend/<kind>/<domid> goes with its last device, as libxl's do. */
	*strrchr(be, '/') = '\0';
	xp_rm_if_empty(xp, be);
	return rc;
}
