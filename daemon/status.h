/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's status as JSON, for the control socket: one object per
 * device the daemon serves, on a line of its own (the CLI reads it line by
 * line), in an array. Field names and units are in docs/status.md.
 */
#ifndef XE_DAEMON_STATUS_H
#define XE_DAEMON_STATUS_H

#include "daemon/control.h"
#include "xs-glue/xenbus.h"

/* Where the rows come from: call fn once per device. */
typedef void status_for_each_fn(void *src,
				void (*fn)(const struct xenbus_dev_info *info,
					   void *arg),
				void *arg);

/* The JSON array of every device for_each(src) reports, into out. */
void status_json(struct control_out *out, status_for_each_fn *for_each,
		 void *src);

#endif
