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
