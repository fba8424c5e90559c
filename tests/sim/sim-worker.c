/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker the tests' daemon starts: the product's worker
 * (backend/worker.c) in the product's sandbox (platform/sandbox.c), over
 * the simulated Xen in the test process (tests/sim/sim-remote.c) instead
 * of /dev/xen. Started with the supervisor's socket on 3 and the sim's on
 * 4:
 *
 *   sim-worker --domid N
 *
 * For fault tests only, and only in this program: SIGUSR2 makes it call
 * execve (forbidden: the sandbox must kill it), SIGUSR1 makes it crash
 * (a bug in a worker: only its guest may notice).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/worker.h"
#include "platform/log.h"
#include "platform/sandbox.h"
#include "tests/sim/sim.h"

static void forbidden(int sig)
{
	static char *const argv[] = { "/bin/true", NULL };

	(void)sig;
	syscall(SYS_execve, argv[0], argv, NULL);
	_exit(3); /* not reached if the sandbox works */
}

static volatile int *volatile nowhere;

static void crash(int sig)
{
	(void)sig;
	*nowhere = 1; /* a worker's bug: a write through NULL */
}

int main(int argc, char **argv)
{
	/* io_uring: the scratch's I/O (cow/store-file.c) */
	struct sandbox_config sb = { .drop_root = true,
				     .allow_io_uring = true };
	struct worker_config wc = { .sock = 3 };
	char name[48], err[256];
	struct xp *xp;
	long domid;
	int rc;

	if (argc != 3 || strcmp(argv[1], "--domid"))
		return 2;
	domid = strtol(argv[2], NULL, 10);
	snprintf(name, sizeof(name), "sim-worker[dom%ld]", domid);
	/* XE_TEST_QUIET: warnings and errors only (make soak) */
	log_init(name, false,
		 getenv("XE_TEST_VERBOSE") ? LOG_DEBUG :
		 getenv("XE_TEST_QUIET")   ? LOG_WARNING :
					     LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR2, forbidden);
	signal(SIGUSR1, crash);
	rc = sim_remote_xp_new(4, &xp);
	if (rc) {
		log_msg(LOG_ERR, "no simulated Xen on fd 4: %s", strerror(-rc));
		return 1;
	}
	if (sandbox_enter(&sb, err, sizeof(err))) {
		log_msg(LOG_ERR, "cannot confine myself: %s", err);
		return 1;
	}
	wc.xp = xp;
	wc.domid = (uint16_t)domid;
	rc = worker_serve(&wc);
	xp_destroy(xp);
	return rc ? 1 : 0;
}
