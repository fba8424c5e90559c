/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's control socket: a Unix stream socket, root-only, where the
 * CLI asks for status. One request line, one framed answer, close:
 *
 *   request  "status\n"
 *   answer   "xen-ephemeral-control 1 ok <N>\n" and N bytes of JSON, or
 *            "xen-ephemeral-control 1 error <N>\n" and N bytes of message
 *
 * The header's byte count lets the client tell a whole answer from one cut
 * short. Clients are served from the daemon's main loop without ever
 * blocking it: each has its own buffers and deadline, and one that is
 * silent or does not read is dropped when its deadline passes.
 */
#ifndef XE_DAEMON_CONTROL_H
#define XE_DAEMON_CONTROL_H

#include <poll.h>

#include "xs-glue/xenbus.h"

#define CONTROL_DEFAULT_PATH "/run/xen-ephemeral/control"

/* The start of a whole answer's header line, then " <N>\n". */
#define CONTROL_ANSWER_OK "xen-ephemeral-control 1 ok"
#define CONTROL_ANSWER_ERROR "xen-ephemeral-control 1 error"
/* Longest header line, with its newline. */
#define CONTROL_HEADER_MAX 64u

/*
 * Clients served at once. When all are taken, the one silent the longest is
 * dropped to make room; only when every one is reading its answer is a new
 * client closed at once.
 */
#define CONTROL_MAX_CLIENTS 32u
/* A client has this long to send its request, and then to read the answer. */
#define CONTROL_REQUEST_TIMEOUT_MS 5000u
#define CONTROL_ANSWER_TIMEOUT_MS 30000u

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

/* Most pollfds control_pollfds() fills. */
#define CONTROL_MAX_POLLFDS (1u + CONTROL_MAX_CLIENTS)

/*
 * Fill p[0..] with what to poll for (the listening socket, then each client
 * waiting to send or to receive); returns how many (<= CONTROL_MAX_POLLFDS).
 */
unsigned int control_pollfds(struct control *ctl, struct pollfd *p);

/*
 * After poll(): accept, read requests, send answers as far as the sockets
 * take them, drop clients past their deadline. p and n as control_pollfds()
 * gave them (revents filled in); never blocks.
 */
void control_process(struct control *ctl, const struct pollfd *p,
		     unsigned int n);

/* Milliseconds until the next client deadline, or -1 if none. */
int control_timeout_ms(struct control *ctl);

/* Close every client and the socket, and unlink it. NULL is ok. */
void control_free(struct control *ctl);

#endif
