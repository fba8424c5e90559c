/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers over the platform seam, shared by every implementation and every
 * caller: dir/node reads and writes that build the path once (Linux's
 * xenbus_scanf / xenbus_printf shape), the one transaction-retry loop, and
 * the one clock. No Xen headers.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <unistd.h>

#include "platform/platform.h"

void xp_free_strv(char **v, unsigned int n)
{
	unsigned int i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

uint64_t xp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int node_path(char *path, size_t len, const char *dir,
		     const char *node)
{
	int n = snprintf(path, len, "%s/%s", dir, node);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int xp_read_node(struct xp *xp, uint32_t txn, const char *dir,
		 const char *node, char **val_r, size_t *len_r)
{
	char path[XP_PATH_MAX];
	int rc = node_path(path, sizeof(path), dir, node);

	if (rc)
		return rc;
	return xp_xs_read(xp, txn, path, val_r, len_r);
}

int xp_printf_node(struct xp *xp, uint32_t txn, const char *dir,
		   const char *node, const char *fmt, ...)
{
	char path[XP_PATH_MAX], val[1024];
	va_list ap;
	int n, rc = node_path(path, sizeof(path), dir, node);

	if (rc)
		return rc;
	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(val))
		return -EINVAL;
	return xp_xs_write(xp, txn, path, val, (size_t)n);
}

int xp_node_exists(struct xp *xp, uint32_t txn, const char *dir,
		   const char *node)
{
	char *v = NULL;
	int rc = xp_read_node(xp, txn, dir, node, &v, NULL);

	free(v);
	return rc == -ENOENT ? 0 : rc == 0 ? 1 : rc;
}

int xp_txn_run(struct xp *xp, int (*fn)(struct xp *xp, uint32_t txn,
					void *arg),
	       void *arg)
{
	unsigned int attempt;
	int rc = -EAGAIN;

	for (attempt = 0; attempt < XP_TXN_ATTEMPTS; attempt++) {
		uint32_t t;

		rc = xp_xs_txn_start(xp, &t);
		if (rc)
			return rc;
		rc = fn(xp, t, arg);
		if (rc) {
			xp_xs_txn_end(xp, t, true);
			return rc;
		}
		rc = xp_xs_txn_end(xp, t, false);
		if (rc != -EAGAIN)
			return rc;
	}
	return rc;
}

/* In the transaction: remove path if it has no children (1: nothing). */
static int rm_if_empty_txn(struct xp *xp, uint32_t t, void *arg)
{
	const char *path = arg;
	char **names = NULL;
	unsigned int n = 0;
	int rc;

	rc = xp_xs_directory(xp, t, path, &names, &n);
	xp_free_strv(names, n);
	if (rc == -ENOENT || (!rc && n > 0))
		return 1; /* absent, or not empty: nothing to do */
	if (rc)
		return rc;
	return xp_xs_rm(xp, t, path);
}

int xp_rm_if_empty(struct xp *xp, const char *path)
{
	int rc = xp_txn_run(xp, rm_if_empty_txn, (void *)path);

	return rc > 0 ? 0 : rc;
}

/* ---- a worker's platform refuses the daemon's business ---- */

int xp_refuse_evt_open(struct xp *xp, struct xp_evt **evt_r)
{
	(void)xp;
	(void)evt_r;
	return -EPERM;
}

int xp_refuse_xs_read(struct xp *xp, uint32_t txn, const char *path,
			   char **val_r, size_t *len_r)
{
	(void)xp, (void)txn, (void)path, (void)val_r, (void)len_r;
	return -EPERM;
}

int xp_refuse_xs_write(struct xp *xp, uint32_t txn, const char *path,
			    const char *val, size_t len)
{
	(void)xp, (void)txn, (void)path, (void)val, (void)len;
	return -EPERM;
}

int xp_refuse_xs_path(struct xp *xp, uint32_t txn, const char *path)
{
	(void)xp, (void)txn, (void)path;
	return -EPERM;
}

int xp_refuse_xs_directory(struct xp *xp, uint32_t txn, const char *path,
				char ***names_r, unsigned int *n_r)
{
	(void)xp, (void)txn, (void)path, (void)names_r, (void)n_r;
	return -EPERM;
}

int xp_refuse_xs_set_perms(struct xp *xp, uint32_t txn, const char *path,
				const struct xp_xs_perm *perms, unsigned int n)
{
	(void)xp, (void)txn, (void)path, (void)perms, (void)n;
	return -EPERM;
}

int xp_refuse_xs_txn_start(struct xp *xp, uint32_t *txn_r)
{
	(void)xp, (void)txn_r;
	return -EPERM;
}

int xp_refuse_xs_txn_end(struct xp *xp, uint32_t txn, bool abort)
{
	(void)xp, (void)txn, (void)abort;
	return -EPERM;
}

int xp_refuse_xs_watch(struct xp *xp, const char *path, const char *token)
{
	(void)xp, (void)path, (void)token;
	return -EPERM;
}

int xp_refuse_xs_fd(struct xp *xp)
{
	(void)xp;
	return -EPERM;
}

int xp_refuse_xs_read_watch(struct xp *xp, char **path_r, char **token_r)
{
	(void)xp, (void)path_r, (void)token_r;
	return -EPERM;
}

int xp_refuse_self_domid(struct xp *xp, uint16_t *domid_r)
{
	(void)xp, (void)domid_r;
	return -EPERM;
}

int xp_refuse_dom_info(struct xp *xp, uint16_t domid,
			    struct xp_dominfo *info)
{
	(void)xp, (void)domid, (void)info;
	return -EPERM;
}

int xp_refuse_dom_op(struct xp *xp, uint16_t domid)
{
	(void)xp, (void)domid;
	return -EPERM;
}

int xp_refuse_evt_export(struct xp_evt *evt, uint16_t domid, int *fd_r)
{
	(void)evt, (void)domid, (void)fd_r;
	return -EPERM;
}

int xp_refuse_evt_import(struct xp *xp, int fd, struct xp_evt **evt_r)
{
	(void)xp, (void)evt_r;
	close(fd);
	return -EPERM;
}
