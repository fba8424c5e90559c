/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's control socket: a Unix stream socket, root-only, where the
 * CLI asks for status (or tells the daemon something). One request line,
 * one framed answer, close:
 *
 *   request  "<command>[ <arg>...]\n", e.g. "status\n"
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
#include <stddef.h>

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

/* An answer being built (control_printf appends to it). */
struct control_out {
	char *p;
	size_t len, cap;
};

/* Append to an answer; on memory exhaustion the answer is left short. */
void control_printf(struct control_out *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define CONTROL_MAX_ARGS 4u

/* One command of the protocol: its name, and how many words follow it. */
struct control_cmd {
	const char *name;
	unsigned int nr_args; /* <= CONTROL_MAX_ARGS */
	/*
	 * Answer it into out (from the main loop, never blocking). 0 for an
	 * "ok" answer, -errno for an "error" one (out says why). args are
	 * the peer's words: check them.
	 */
	int (*fn)(void *arg, char *const *args, struct control_out *out);
};

/*
 * Listen at path (its directory is created 0700) and answer the commands
 * of cmds[0..nr_cmds-1] (kept, not copied), passing them arg. Returns 0 or
 * -errno.
 */
int control_new(const char *path, const struct control_cmd *cmds,
		unsigned int nr_cmds, void *arg, struct control **ctl_r);

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
