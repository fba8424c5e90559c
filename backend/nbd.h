/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NBD export of a view, for a dom0 device model: libxl gives QEMU
 * nbd+unix:///?socket=PATH, and this serves the view behind PATH as the one,
 * default (empty-named) export, with simple replies (docs/nbd.md). One thread
 * accepts; each client is served synchronously by a thread of its own, which
 * calls the view (cow/cow.h is thread-safe).
 *
 * Only root may connect: the socket is 0600 in a 0700 directory, and each
 * client's SO_PEERCRED uid must be 0 (or the one uid the caller names, by
 * default the server's own euid, which is 0 in the daemon; it lets an
 * unprivileged test talk to itself).
 */
#ifndef XE_BACKEND_NBD_H
#define XE_BACKEND_NBD_H

#include <stdbool.h>

#include "cow/cow.h"

#define NBD_DEFAULT_MAX_CLIENTS 4u
#define NBD_DEFAULT_IO_TIMEOUT_MS 30000u

struct nbd_server_params {
	/*
	 * The socket to create (shorter than sun_path, 108 bytes), in an
	 * existing directory of ours that others cannot enter (mode 0700). A
	 * stale socket there is replaced; a live one, or anything that is not
	 * a socket, is refused.
	 */
	const char *path;
	struct cow *cow; /* the view; not owned, must outlive the server */
	bool read_only; /* refuse writes (a COW_KIND_READONLY view always) */
	unsigned int max_clients; /* at once; 0: NBD_DEFAULT_MAX_CLIENTS */
	/*
	 * Called, if set, from a server thread whenever the number of
	 * connected clients changed (see nbd_server_clients()). It must not
	 * block, nor call nbd_server_free().
	 */
	void (*changed)(void *arg);
	void *arg;
	/*
	 * A full overlay (-ENOSPC from the view): false, NBD_EIO, the error
	 * blkif guests get; true, NBD_ENOSPC, which pauses a QEMU guest
	 * (werror=enospc, its default): for an on-full=pause policy.
	 */
	bool enospc_is_enospc;
	/*
	 * A client that lets a message in flight (the rest of a request, or
	 * our reply) make no progress for this long is dropped; one silent
	 * between requests is kept. 0: NBD_DEFAULT_IO_TIMEOUT_MS.
	 */
	unsigned int io_timeout_ms;
	const char *name; /* log prefix, e.g. "7/51712"; NULL: the path */
	/*
	 * A socket already bound at path and listening (the supervisor made
	 * it; a worker cannot): served instead of creating one, owned from
	 * nbd_server_new() on (closed on failure too), and path is then
	 * only its name: never checked nor unlinked here. -1 (or 0 fields:
	 * set listen_fd_given) to create the socket at path.
	 */
	bool listen_fd_given;
	int listen_fd;
	/*
	 * Who may connect besides root: peer_uid if peer_uid_given, else
	 * this process's euid (a worker that dropped to nobody must name
	 * the supervisor's uid, or nobody could connect).
	 */
	bool peer_uid_given;
	unsigned int peer_uid;
};

struct nbd_server;

/*
 * Listen at p->path and serve p->cow until nbd_server_free(); p's strings are
 * copied. 0 and *s_r, or -errno (logged): -EPERM (the directory), -EEXIST,
 * -EADDRINUSE (a live socket), -ENAMETOOLONG, -EINVAL, or the system's.
 */
int nbd_server_new(const struct nbd_server_params *p, struct nbd_server **s_r);

/*
 * Make the listening socket at path as nbd_server_new() would (the same
 * checks of its directory, a stale socket replaced, mode 0600), for a
 * server that runs elsewhere (listen_fd_given). 0 and *fd_r, or -errno
 * and *why.
 */
int nbd_listen(const char *path, int *fd_r, const char **why);

/* Clients connected now (an atomic read; any thread). */
unsigned int nbd_server_clients(const struct nbd_server *s);

/*
 * Stop accepting, close every connection and join every thread, then unlink
 * the socket. A request already in the view completes and is answered
 * first; clients idle between requests are closed at once. NULL is ok.
 */
void nbd_server_free(struct nbd_server *s);

/*
 * Serve one client on fd, a connected stream socket whose peer the caller
 * vouches for (no uid check; fd is not closed), with p's cow and options.
 * 0 after a clean end (DISC, ABORT, EOF between messages), else -errno.
 */
int nbd_serve_fd(int fd, const struct nbd_server_params *p);

#endif
