/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The table of backend kinds (xs-glue/kind.h). */
#include "config.h"

#include <string.h>

#include "xs-glue/kind.h"

static const struct xenbus_kind kinds[] = {
	{
		.name = "ephemeral",
		.owns_dir = true,
		.write_hotplug_status = true,
	},
	{
		.name = "vbd3",
		.claim_by_script = true,
		.params_format = true,
		.hook_reports = true,
		.nbd_for_hvm = true,
	},
};

const struct xenbus_kind *xenbus_kind_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, name))
			return &kinds[i];
	return NULL;
}

const char *xenbus_kind_names(void)
{
	return "ephemeral, vbd3";
}
