/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by every platform implementation (no Xen headers). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "xs-glue/platform.h"

void xp_free_strv(char **v, unsigned int n)
{
	unsigned int i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int xp_rm_if_empty(struct xp *xp, const char *path)
{
	int attempt, rc = 0;

	for (attempt = 0; attempt < 16; attempt++) {
		char **names = NULL;
		unsigned int n = 0;
		uint32_t t;

		rc = xp->ops->xs_txn_start(xp, &t);
		if (rc)
			return rc;
		rc = xp->ops->xs_directory(xp, t, path, &names, &n);
		xp_free_strv(names, n);
		if (rc == -ENOENT || (!rc && n > 0)) {
			xp->ops->xs_txn_end(xp, t, true);
			return 0;
		}
		if (!rc)
			rc = xp->ops->xs_rm(xp, t, path);
		if (rc) {
			xp->ops->xs_txn_end(xp, t, true);
			return rc;
		}
		rc = xp->ops->xs_txn_end(xp, t, false);
		if (rc != -EAGAIN)
			return rc;
	}
	return rc;
}
