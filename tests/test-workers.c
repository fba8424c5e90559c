/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One guest's worker in trouble touches no other guest (backend/worker.h,
 * xs-glue/workers.h), in the simulated Xen with the daemon core and its
 * real, sandboxed worker processes (tests/sim/sim-worker):
 *
 * - each guest has a worker of its own, running as nobody with only
 *   CAP_IPC_LOCK (when the tests run as root), non-dumpable, in seccomp;
 * - a worker that crashes closes only its guest's disks (the device says
 *   why and goes Closing, and its frontend's requests fail at once rather
 *   than hang); another guest's I/O goes on, checked byte by byte, in the
 *   same worker process as before; the crashed guest's next disk gets a
 *   new worker and an empty overlay;
 * - a worker that makes a forbidden system call is killed by its sandbox
 *   (SIGSYS), with the same outcome;
 * - a "worker" that answers what was never asked is killed as broken;
 * - the daemon dies: its workers end with it, and a new daemon fails the
 *   devices it left (their overlays are gone) instead of serving them.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/wire.h"
#include "tests/blkif-util.h"
#include "tests/check.h"
#include "tests/testlib.h"
#include "tests/toolstack.h"

#define SECTOR XE_BLKIF_SECTOR_BYTES
#define A 5
#define B 7
#define C 9
#define XVDA 51712u

static struct fe_opts opts(void)
{
	return (struct fe_opts){ .order = 1,
				 .queues = 2,
				 .abi = XE_BLKIF_ABI_NATIVE,
				 .max_indirect = 64 };
}

static struct ts_disk tap(uint16_t domid, const char *target)
{
	return (struct ts_disk){ .domid = domid,
				 .devid = XVDA,
				 .vdev = "xvda",
				 .target = target,
				 .script = BU_HOOK };
}

static void attach(struct bu_env *e, struct bu_disk *d, uint16_t domid)
{
	struct fe_opts o = opts();
	struct ts_disk dk = tap(domid, "blank:size=4M");

	bu_domain(e, domid);
	CHECK_OK(ts_vbd3_add(fe_daemon_xp(e->d), &dk));
	bu_disk_connect(e, d, domid, XVDA, "guest", &o, NULL, 0);
}

/* A field of /proc/<pid>/status ("Uid", "CapEff"), into out. */
static bool proc_status(pid_t pid, const char *field, char *out, size_t len)
{
	char path[64], line[256];
	size_t n = strlen(field);
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':') {
			snprintf(out, len, "%s", line + n + 1);
			found = true;
		}
	fclose(f);
	return found;
}

static void expect_error(struct bu_env *e, uint16_t domid, const char *words)
{
	uint64_t end = xp_now_ms() + 10000;
	char *v = NULL;

	while (xp_read_node(fe_daemon_xp(e->d), XP_XS_NO_TXN,
			    ts_vbd3_dir(domid, XVDA), "error", &v, NULL)) {
		CHECK(xp_now_ms() < end, "domain %u: no error node", domid);
		usleep(2000);
	}
	CHECK(strstr(v, words), "domain %u: error '%s' does not say '%s'",
	      domid, v, words);
	free(v);
}

/* The worker of domid is signalled with sig: only domid's disk fails. */
static void trouble(struct rng *rng, int sig, const char *words)
{
	struct bu_disk a, b, a2;
	struct bu_env e;
	pid_t pa, pb;
	char st[128];

	bu_env_init(&e);
	attach(&e, &a, A);
	attach(&e, &b, B);
	bu_random_ops(&a, rng, 40);
	bu_random_ops(&b, rng, 40);
	pa = fe_daemon_worker_pid(e.d, A);
	pb = fe_daemon_worker_pid(e.d, B);
	CHECK(pa > 0 && pb > 0 && pa != pb, "workers %ld and %ld", (long)pa,
	      (long)pb);
	if (sig == SIGUSR1 && getuid() == 0) {
		/* confined as promised */
		CHECK(proc_status(pa, "Uid", st, sizeof(st)) &&
			      strstr(st, "65534"),
		      "worker of %u runs as %s", A, st);
		CHECK(proc_status(pa, "CapEff", st, sizeof(st)) &&
			      strtoull(st, NULL, 16) == 1ull << 14,
		      "worker of %u has capabilities %s", A, st);
		CHECK(proc_status(pa, "Seccomp", st, sizeof(st)) &&
			      atoi(st) == 2,
		      "worker of %u: seccomp mode %s", A, st);
	}

	CHECK(kill(pa, sig) == 0, "kill: %s", strerror(errno));
	expect_error(&e, A, words);
	CHECK_OK(fe_wait_backend_state(a.fe, 5, 5000));
	/* its frontend's requests now fail, at once, instead of hanging:
	 * the same rings, served by a new worker with no view */
	{
		static uint8_t buf[8 * SECTOR];
		int rs = fe_rw(a.fe, 0, XE_BLKIF_OP_READ, 0, buf, 8, FE_PACKED,
			       rng);

		CHECK(rs == XE_BLKIF_RSP_ERROR,
		      "a read on the dead disk: status %d, not an error", rs);
		rs = fe_rw(a.fe, 1, XE_BLKIF_OP_WRITE, 8, buf, 8, FE_PACKED,
			   rng);
		CHECK(rs == XE_BLKIF_RSP_ERROR,
		      "a write on the dead disk: status %d, not an error", rs);
	}

	/* B never noticed: same worker, every byte right */
	bu_random_ops(&b, rng, 200);
	bu_verify_all(&b);
	CHECK(fe_daemon_worker_pid(e.d, B) == pb, "B's worker changed");

	/* A's toolstack tears down and attaches again: a new worker, and
	 * nothing of the old overlay */
	bu_disk_close(&a); /* Closed only once the dead rings are unmapped */
	CHECK_OK(ts_vbd3_remove(fe_daemon_xp(e.d), A, XVDA, TS_REMOVE_FORCE));
	attach(&e, &a2, A);
	CHECK(fe_daemon_worker_pid(e.d, A) != pa, "A kept a dead worker");
	bu_verify_all(&a2); /* zeros: the model of a fresh blank disk */
	bu_random_ops(&a2, rng, 40);

	bu_disk_close(&a2);
	bu_disk_free(&a2);
	bu_disk_close(&b);
	bu_disk_free(&b);
	bu_disk_free(&a);
	CHECK_OK(ts_vbd3_remove(fe_daemon_xp(e.d), A, XVDA, TS_REMOVE_SAFE));
	CHECK_OK(ts_vbd3_remove(fe_daemon_xp(e.d), B, XVDA, TS_REMOVE_SAFE));
	bu_env_fini(&e);
}

/* ---- the daemon dies ---- */

static void expect_state(struct bu_env *e, const char *be, const char *want)
{
	uint64_t end = xp_now_ms() + 10000;
	char *v = NULL;

	for (;;) {
		free(v);
		v = NULL;
		if (!xp_read_node(fe_daemon_xp(e->d), XP_XS_NO_TXN, be, "state",
				  &v, NULL) &&
		    !strcmp(v, want))
			break;
		CHECK(xp_now_ms() < end, "%s: state %s, want %s", be, v, want);
		usleep(2000);
	}
	free(v);
}

/*
 * The daemon is killed with guests connected: its workers end with it
 * (their overlays and keys wiped); a daemon started again never serves
 * those devices as if nothing happened: each says why, its frontend's
 * requests get errors, it goes Closing and then Closed once its frontend
 * closes; a disk attached afresh works, empty.
 */
static void test_daemon_dies(struct rng *rng)
{
	struct xenbus_config cfg = bu_config();
	struct fe_opts o = opts();
	static uint8_t buf[8 * SECTOR];
	struct bu_disk a, b, a2;
	char be_b[96];
	struct bu_env e;
	pid_t pa, pb;
	int rs;

	bu_env_init(&e);
	attach(&e, &a, A);           /* vbd3, through the toolstack */
	bu_disk_open(&e, &b, B, XVDA, "blank:size=1M", false, &o, NULL,
		     0); /* ephemeral, self-attached */
	bu_random_ops(&a, rng, 40);
	bu_random_ops(&b, rng, 40);
	pa = fe_daemon_worker_pid(e.d, A);
	pb = fe_daemon_worker_pid(e.d, B);
	fe_daemon_crash(e.d);
	for (int i = 0; i < 5000 && (!kill(pa, 0) || !kill(pb, 0)); i++)
		usleep(1000);
	CHECK(kill(pa, 0) && kill(pb, 0), "a worker outlived its daemon");

	CHECK_OK(fe_daemon_new(e.sim, &cfg, &e.d));
	expect_error(&e, A, "restarted");
	CHECK_OK(fe_wait_backend_state(a.fe, 5, 5000));
	CHECK_OK(fe_wait_backend_state(b.fe, 5, 5000));
	snprintf(be_b, sizeof(be_b), "/local/domain/0/backend/ephemeral/%u/%u",
		 B, XVDA);
	rs = fe_rw(a.fe, 0, XE_BLKIF_OP_READ, 0, buf, 8, FE_PACKED, rng);
	CHECK(rs == XE_BLKIF_RSP_ERROR, "a read on a stale disk: status %d",
	      rs);
	rs = fe_rw(b.fe, 0, XE_BLKIF_OP_READ, 0, buf, 8, FE_PACKED, rng);
	CHECK(rs == XE_BLKIF_RSP_ERROR, "a read on a stale disk: status %d",
	      rs);

	/* the frontends close: Closed, once the rings are unmapped */
	bu_disk_close(&a);
	bu_disk_close(&b);
	expect_state(&e, be_b, "6");
	CHECK_OK(ts_vbd3_remove(fe_daemon_xp(e.d), A, XVDA, TS_REMOVE_SAFE));

	/* attached afresh: a new worker, an empty disk */
	attach(&e, &a2, A);
	bu_verify_all(&a2);
	bu_random_ops(&a2, rng, 20);
	bu_disk_close(&a2);
	bu_disk_free(&a2);
	CHECK_OK(ts_vbd3_remove(fe_daemon_xp(e.d), A, XVDA, TS_REMOVE_SAFE));
	bu_disk_free(&a);
	bu_disk_free(&b);
	bu_env_fini(&e);
	printf("  the daemon dies: its workers end with it; a new daemon "
	       "fails the devices it left (errors, then Closed), new disks "
	       "work: ok\n");
}

/* ---- a "worker" that lies ---- */

static pid_t liar_pid;

/* Says hello, then answers an open it was never sent. */
static int liar_spawn(void *arg, uint16_t domid, int sock, pid_t *pid_r)
{
	struct wire_msg m[2] = { { .op = WIRE_HELLO, .val = WIRE_VERSION },
				 { .op = WIRE_OPENED,
				   .slot = 0,
				   .tag = 999999ull << 16,
				   .val = 1 } };
	pid_t pid;

	(void)arg;
	(void)domid;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* only async-signal-safe calls after fork() */
		send(sock, &m[0], sizeof(m[0]), MSG_NOSIGNAL);
		send(sock, &m[1], sizeof(m[1]), MSG_NOSIGNAL);
		pause();
		_exit(0);
	}
	liar_pid = pid;
	*pid_r = pid;
	return 0;
}

static void test_liar(void)
{
	struct xenbus_config cfg = bu_config();
	struct ts_disk dk = tap(C, "blank:size=1M");
	struct bu_env e;

	cfg.spawn = liar_spawn;
	bu_env_init_cfg(&e, &cfg);
	bu_domain(&e, C);
	CHECK_OK(ts_vbd3_add(fe_daemon_xp(e.d), &dk));
	expect_error(&e, C, "answered what was never asked");
	/* killed, and reaped */
	for (int i = 0; i < 5000 && kill(liar_pid, 0) == 0; i++)
		usleep(1000);
	CHECK(kill(liar_pid, 0) == -1 && errno == ESRCH,
	      "the lying worker %ld lives on", (long)liar_pid);
	CHECK_OK(ts_vbd3_remove(fe_daemon_xp(e.d), C, XVDA, TS_REMOVE_FORCE));
	bu_env_fini(&e);
	printf("  a worker that answers what was never asked: killed, its "
	       "disk failed with the reason: ok\n");
}

int main(void)
{
	struct rng rng = { test_seed("test-workers") };

	/* killed by SIGSEGV; under ASan, whose handler then trips the sandbox,
	 * SIGSYS */
	trouble(&rng, SIGUSR1, "its worker killed by signal");
	printf("  a worker that crashes: only its guest's disk fails; another "
	       "guest's I/O goes on in its own worker: ok\n");
	trouble(&rng, SIGUSR2, "killed by signal 31");
	printf("  a worker that makes a forbidden system call: killed by its "
	       "sandbox (SIGSYS), only its guest's disk fails: ok\n");
	test_liar();
	test_daemon_dies(&rng);
	printf("test-workers: OK\n");
	return 0;
}
