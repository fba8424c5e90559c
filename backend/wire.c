/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Messages between the supervisor and a worker (backend/wire.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/wire.h"

int wire_send(int sock, const struct wire_msg *m, const int *fds,
	      unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * WIRE_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > WIRE_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	return n == (ssize_t)sizeof(*m) ? 0 : -EIO;
}

int wire_recv(int sock, struct wire_msg *m, int *fds, unsigned int max_fds,
	      unsigned int *nfds_r)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * WIRE_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	unsigned int got = 0;
	bool extra = false;
	ssize_t n;

	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		unsigned int k, nr;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nr = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (k = 0; k < nr; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(fd));
			if (got < max_fds && fds) {
				fds[got++] = fd;
			} else {
				close(fd);
				extra = true;
			}
		}
	}
	if (n == 0 && got == 0)
		return -EPIPE;
	if (extra || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    n != (ssize_t)sizeof(*m)) {
		while (got)
			close(fds[--got]);
		return -EBADMSG;
	}
	*nfds_r = got;
	return 0;
}

void wire_ring_stats_put(struct wire_ring_stats *w, const struct ring_stats *s,
			 unsigned int nr_rings)
{
#define PUT(name) w->name = s->name;
	RING_COUNTERS(PUT)
#undef PUT
	w->halted = s->halted;
	w->nr_rings = nr_rings;
}

void wire_ring_stats_get(const struct wire_ring_stats *w, struct ring_stats *s,
			 unsigned int *nr_rings_r)
{
#define GET(name) s->name = w->name;
	RING_COUNTERS(GET)
#undef GET
	s->halted = w->halted != 0;
	*nr_rings_r = w->nr_rings > VBD_MAX_QUEUES ? VBD_MAX_QUEUES :
						     (unsigned int)w->nr_rings;
}
