/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's control socket: a Unix stream socket, root-only, where the
 * CLI asks for status. One request line ("status"), one JSON answer, close.
 * Served from the main loop; a client that does not read gets its answer
 * cut, never blocks the daemon.
 */
#ifndef XE_DAEMON_CONTROL_H
#define XE_DAEMON_CONTROL_H

#include "xs-glue/xenbus.h"

#define CONTROL_DEFAULT_PATH "/run/xen-ephemeral/control"

struct control;

/* Where status rows come from: call fn once per device. */
typedef void control_for_each_fn(void *src,
				 void (*fn)(const struct xenbus_dev_info *info,
					    void *arg),
				 void *arg);

/*
 * Listen at path (its directory is created 0700); status answers list what
 * for_each(src, ...) reports. Returns 0 or -errno.
 */
int control_new(const char *path, control_for_each_fn *for_each, void *src,
		struct control **ctl_r);

/* The listening fd, for poll(). */
int control_fd(struct control *ctl);

/* Accept and answer every waiting client. */
void control_serve(struct control *ctl);

/* Close and unlink. NULL is ok. */
void control_free(struct control *ctl);

#endif
