/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket. Only root can connect (the socket's directory is 0700
 * and the peer's uid is checked). Requests are tiny and answers are built in
 * memory, so a client is served in one go from the main loop; reads and
 * writes never block (a silent client is dropped after a short wait).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/log.h"
#include "daemon/control.h"

struct control {
	int fd;
	control_for_each_fn *for_each;
	void *src;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct buf {
	char *p;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL,
			      b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = (b->cap + (size_t)n + 1) * 2;
			char *p = realloc(b->p, cap);

			if (!p)
				return;
			b->p = p;
			b->cap = cap;
		}
	}
}

struct status_ctx {
	struct buf *b;
	bool first;
};

static void one_dev(const struct xenbus_dev_info *i, void *arg)
{
	struct status_ctx *c = arg;
	struct buf *b = c->b;

	bprintf(b, "%s\n  {\"kind\": \"%s\", \"domid\": %u, \"devid\": %u, "
		   "\"state\": %d, \"frontend_state\": %d, ",
		c->first ? "" : ",", i->kind, i->domid, i->devid, i->be_state,
		i->fe_state);
	bprintf(b, "\"size_bytes\": %" PRIu64 ", \"overlay_used_bytes\": %" PRIu64
		   ", \"overlay_peak_bytes\": %" PRIu64
		   ", \"overlay_limit_bytes\": %" PRIu64 ", ",
		i->cow.size_sectors * 512, i->cow.used_bytes,
		i->cow.peak_blks * STORE_BLK_BYTES,
		i->cow.limit_blks * STORE_BLK_BYTES);
	bprintf(b, "\"read_reqs\": %" PRIu64 ", \"write_reqs\": %" PRIu64
		   ", \"read_bytes\": %" PRIu64 ", \"write_bytes\": %" PRIu64
		   ", \"flush_reqs\": %" PRIu64 ", \"discard_reqs\": %" PRIu64
		   ", \"indirect_reqs\": %" PRIu64 ", ",
		i->ring.rd_req, i->ring.wr_req, i->ring.rd_sect * 512,
		i->ring.wr_sect * 512, i->ring.flush_req, i->ring.discard_req,
		i->ring.indirect_req);
	bprintf(b, "\"bad_reqs\": %" PRIu64 ", \"unsupported_reqs\": %" PRIu64
		   ", \"io_errors\": %" PRIu64 ", \"enospc_errors\": %" PRIu64
		   ", \"grant_errors\": %" PRIu64 ", \"queues\": %u, "
		   "\"halted\": %s}",
		i->ring.bad_req, i->ring.unsupported, i->ring.io_err,
		i->ring.enospc, i->ring.grant_err, i->nr_rings,
		i->ring.halted ? "true" : "false");
	c->first = false;
}

static void answer(int fd, struct control *ctl)
{
	struct buf b = { 0 };
	struct status_ctx c = { &b, true };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char req[64];
	ssize_t n;
	size_t off = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ||
	    cred.uid != 0)
		return;
	if (poll(&p, 1, 200) != 1)
		return;
	n = recv(fd, req, sizeof(req) - 1, MSG_DONTWAIT);
	if (n <= 0)
		return;
	req[n] = '\0';
	if (strncmp(req, "status", 6)) {
		const char *e = "{\"error\": \"unknown request\"}\n";

		(void)!send(fd, e, strlen(e), MSG_DONTWAIT | MSG_NOSIGNAL);
		return;
	}
	bprintf(&b, "[");
	ctl->for_each(ctl->src, one_dev, &c);
	bprintf(&b, "\n]\n");
	while (b.p && off < b.len) {
		n = send(fd, b.p + off, b.len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	free(b.p);
}

void control_serve(struct control *ctl)
{
	int fd;

	while ((fd = accept4(ctl->fd, NULL, NULL,
			     SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };

		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		answer(fd, ctl);
		close(fd);
	}
}

int control_new(const char *path, control_for_each_fn *for_each, void *src,
		struct control **ctl_r)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control *ctl;
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	strcpy(ctl->path, path);
	ctl->for_each = for_each;
	ctl->src = src;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->fd < 0) {
		rc = -errno;
		free(ctl);
		return rc;
	}
	unlink(path); /* a stale socket from an earlier run */
	if (bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(path, 0600) || listen(ctl->fd, 8)) {
		rc = -errno;
		close(ctl->fd);
		free(ctl);
		return rc;
	}
	*ctl_r = ctl;
	return 0;
}

int control_fd(struct control *ctl)
{
	return ctl->fd;
}

void control_free(struct control *ctl)
{
	if (!ctl)
		return;
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl);
}
