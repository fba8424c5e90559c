/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * backend/worker.c's side of the wire (backend/wire.h), with this test as
 * the supervisor, in process (a thread runs worker_serve):
 *
 * - the first message must be WIRE_INIT with the stats page; the worker
 *   says hello after it;
 * - a supervisor that does not read for a while loses no answer: the
 *   worker's sends wait (a ring's FULL, ROOM or WANT_LEASE dropped on a
 *   full socket would leave a guest paused, or fail a write for nothing);
 * - requests that do not hold together (a slot out of range, descriptors
 *   that do not match the plan, a connect to no disk) are answered with an
 *   error, and the descriptors that came with them are closed;
 * - the worker ends when the supervisor hangs up.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/wire.h"
#include "backend/worker.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define NSTATS 400u

struct run {
	struct worker_config cfg;
	int rc;
};

static void *serve_main(void *arg)
{
	struct run *r = arg;

	r->rc = worker_serve(&r->cfg);
	return NULL;
}

static void recv_one(int sock, struct wire_msg *m)
{
	unsigned int nfds = 0;
	struct pollfd p = { .fd = sock, .events = POLLIN };

	CHECK(poll(&p, 1, 10000) == 1, "no answer from the worker");
	CHECK_OK(wire_recv(sock, m, NULL, 0, &nfds));
	CHECK(nfds == 0, "the worker sent descriptors");
}

/* Is fd still open? */
static bool open_fd(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

int main(void)
{
	struct wire_msg m = { .op = WIRE_INIT };
	struct run r = { .cfg = { .xp = NULL, .domid = 5 } };
	pthread_t t;
	int sv[2], page, fds[2];
	unsigned int i, done = 0;

	test_seed("test-worker-wire");
	signal(SIGPIPE, SIG_IGN);
	CHECK(socketpair(AF_UNIX,
			 SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
			 sv) == 0,
	      "socketpair");
	/* a small buffer: the worker's answers fill it fast */
	{
		int small = 4096;

		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
		setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	}
	r.cfg.sock = sv[1];
	CHECK(pthread_create(&t, NULL, serve_main, &r) == 0, "thread");

	page = memfd_create("stats", MFD_CLOEXEC);
	CHECK(page >= 0 && ftruncate(page, WIRE_STATS_BYTES) == 0, "memfd");
	CHECK_OK(wire_send(sv[0], &m, &page, 1));
	close(page);
	recv_one(sv[0], &m);
	CHECK(m.op == WIRE_HELLO && m.val == WIRE_VERSION, "hello: op %u",
	      m.op);

	/* many requests, no reading: every answer must still come */
	for (i = 1; i <= NSTATS; i++) {
		struct wire_msg q = { .op = WIRE_STATS, .val = i };
		int rc;

		while ((rc = wire_send(sv[0], &q, NULL, 0)) == -EAGAIN) {
			/* our queue is full: the worker waits on its answers,
			 * as it should; take one, in order */
			recv_one(sv[0], &m);
			CHECK(m.op == WIRE_STATS_DONE && m.val == done + 1,
			      "answer %u: op %u val %llu", done + 1, m.op,
			      (unsigned long long)m.val);
			done++;
		}
		CHECK_OK(rc);
		if (i == NSTATS / 2)
			usleep(200000); /* the worker's answers pile up */
	}
	while (done < NSTATS) {
		recv_one(sv[0], &m);
		CHECK(m.op == WIRE_STATS_DONE && m.val == done + 1,
		      "answer %u: op %u val %llu (an answer was lost)",
		      done + 1, m.op, (unsigned long long)m.val);
		done++;
	}

	/* an open with descriptors that do not match its plan: an error,
	 * and both descriptors closed */
	CHECK(pipe2(fds, O_CLOEXEC) == 0, "pipe");
	m = (struct wire_msg){ .op = WIRE_OPEN, .slot = 3, .tag = 7 << 16 };
	m.u.plan.kind = COW_KIND_BLANK;
	m.u.plan.store = WIRE_STORE_RAM;
	m.u.plan.size_sectors = 2048;
	m.u.plan.overlay_blks = m.u.plan.limit_blks = 256;
	CHECK_OK(wire_send(sv[0], &m, fds, 2));
	close(fds[0]);
	close(fds[1]);
	recv_one(sv[0], &m);
	CHECK(m.op == WIRE_OPENED && m.rc == -EINVAL && m.tag == 7 << 16,
	      "an open with stray descriptors: op %u rc %d", m.op, m.rc);

	/* a slot out of range, a connect to no disk, a close of nothing */
	m = (struct wire_msg){ .op = WIRE_OPEN, .slot = WIRE_MAX_SLOTS };
	CHECK_OK(wire_send(sv[0], &m, NULL, 0));
	recv_one(sv[0], &m);
	CHECK(m.op == WIRE_OPENED && m.rc == -EINVAL, "slot 64: rc %d", m.rc);
	CHECK(pipe2(fds, O_CLOEXEC) == 0, "pipe");
	m = (struct wire_msg){ .op = WIRE_CONNECT, .slot = 9 };
	m.u.rings.nr_queues = 1;
	CHECK_OK(wire_send(sv[0], &m, fds, 1));
	recv_one(sv[0], &m);
	CHECK(m.op == WIRE_CONNECTED && m.rc == -EINVAL,
	      "a connect to no disk: op %u rc %d", m.op, m.rc);
	close(fds[0]);
	/* the worker closed its copy: the pipe's write end is the only one */
	CHECK(write(fds[1], "x", 1) == -1 && errno == EPIPE,
	      "the worker kept a descriptor of a refused connect");
	close(fds[1]);
	m = (struct wire_msg){ .op = WIRE_CLOSE, .slot = 12 };
	CHECK_OK(wire_send(sv[0], &m, NULL, 0));
	recv_one(sv[0], &m);
	CHECK(m.op == WIRE_CLOSED, "close of nothing: op %u", m.op);

	/* the hang-up ends it */
	close(sv[0]);
	pthread_join(t, NULL);
	CHECK(r.rc == 0, "worker_serve: %d", r.rc);
	CHECK(open_fd(sv[1]), "the worker closed the socket it was lent");
	close(sv[1]);
	printf("  init, hello, %u answers with nobody reading for a while, "
	       "requests that do not hold together, the hang-up: ok\n",
	       NSTATS);
	printf("test-worker-wire: OK\n");
	return 0;
}
