/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's status as JSON, for the control socket (docs/status.md):
 *
 *   {"version": 2,
 *    "disks": [      one object per disk, each on a line of its own, with
 *                    its attachments inline (blkif devices, NBD clients)
 *    ],
 *    "unattached": [ devices with no disk: refused, or closed for good
 *    ],
 *    "saved_domains": [ UUIDs the save guard remembers ]}
 *
 * One object per line, so that the CLI can read it line by line.
 */
#ifndef XE_DAEMON_STATUS_H
#define XE_DAEMON_STATUS_H

#include "daemon/control.h"
#include "xs-glue/xenbus.h"

#define STATUS_VERSION 2

/* Where the status comes from (the daemon's xenbus, or a test's rows). */
struct status_source {
	void (*disks)(void *src,
		      void (*fn)(const struct xenbus_disk_info *info,
				 void *arg),
		      void *arg);
	void (*devices)(void *src,
			void (*fn)(const struct xenbus_dev_info *info,
				   void *arg),
			void *arg);
	/* may be NULL */
	void (*saved)(void *src, void (*fn)(const char *uuid, void *arg),
		      void *arg);
	void *src;
};

/* The whole status as JSON, into out. */
void status_json(struct control_out *out, const struct status_source *s);

#endif
