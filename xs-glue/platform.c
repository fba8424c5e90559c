/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by every platform implementation (no Xen headers). */
#include "config.h"

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
