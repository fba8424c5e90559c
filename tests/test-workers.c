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
 * - a worker that gives lease back while a grant it asked for is on its
 *   way (its disk closed meanwhile) is not taken for a liar: both sides
 *   count each once;
 * - the daemon dies: its workers end with it, and a new daemon fails the
 *   devices it left (their overlays are gone) instead of serving them.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/nbd.h"
#include "backend/wire.h"
#include "backend/worker.h"
#include "platform/sandbox.h"
#include "tests/blkif-util.h"
#include "tests/nbd-client.h"
#include "tests/check.h"
#include "tests/testlib.h"
#include "tests/toolstack.h"
#include "xs-glue/workers.h"

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

/* ---- the lease, between a real supervisor and a real worker ---- */

/*
 * A worker gives back lease it no longer needs (its disk closed) while a
 * grant it asked for is on its way: the supervisor counts the grant
 * first, the worker the return first. Both must end up agreeing on what
 * the worker holds: a worker that believes it holds more than the
 * supervisor counts uses budget no one leased it, and gives back more
 * than it holds, and an honest worker is then killed as a liar.
 *
 * Played with xs-glue/workers.c and backend/worker.c as they are, the
 * worker in a child process of its own in the product's sandbox, its
 * disks written over NBD. Disk 0 is over a base, read back over NBD first
 * with big READs.
 */
#define LR_DISK_MIB 64u
#define LR_DOM 11u

static struct {
	struct workers *ws;
	pthread_mutex_t lock;
	bool pumping, stop;
	unsigned int opened, exported, clients[2];
} lr = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int lr_spawn(void *arg, uint16_t domid, int sock, pid_t *pid_r)
{
	struct worker_config wc = { .sock = -1,
				    .domid = domid,
				    .stats_interval_ms = 20 };
	pid_t pid;

	(void)arg;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct sandbox_config sb = { .drop_root = true,
					     .allow_io_uring = true };
		char err[256];

		if (sandbox_enter(&sb, err, sizeof(err))) {
			fprintf(stderr, "test-workers: sandbox: %s\n", err);
			_exit(1);
		}
		wc.sock = sock;
		_exit(worker_serve(&wc) ? 1 : 0);
	}
	*pid_r = pid;
	return 0;
}

static bool lr_answer(void *arg, uint16_t domid, const struct wire_msg *m)
{
	(void)arg;
	(void)domid;
	if (m->op == WIRE_OPENED && !m->rc)
		lr.opened++;
	if (m->op == WIRE_EXPORTED && !m->rc)
		lr.exported++;
	if (m->op == WIRE_NBD_CLIENTS && m->slot < 2)
		lr.clients[m->slot] = (unsigned int)m->val;
	return true;
}

static void lr_gone(void *arg, uint16_t domid, pid_t pid, const char *why)
{
	(void)arg;
	(void)domid;
	(void)pid;
	/* its writes would fail first, and say less */
	CHECK(false, "an honest worker was killed: %s", why);
}

static void *lr_pump(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p = { .fd = workers_fd(lr.ws), .events = POLLIN };

		poll(&p, 1, 5);
		pthread_mutex_lock(&lr.lock);
		if (lr.stop) {
			pthread_mutex_unlock(&lr.lock);
			return NULL;
		}
		if (lr.pumping)
			workers_process(lr.ws);
		pthread_mutex_unlock(&lr.lock);
	}
}

static void lr_pumping(bool on)
{
	pthread_mutex_lock(&lr.lock);
	lr.pumping = on;
	pthread_mutex_unlock(&lr.lock);
}

static void lr_send(const struct wire_msg *m, const int *fds, unsigned int n)
{
	pthread_mutex_lock(&lr.lock);
	CHECK_OK(workers_send(lr.ws, LR_DOM, m, fds, n));
	pthread_mutex_unlock(&lr.lock);
}

static bool lr_until(bool (*cond)(void), unsigned int ms)
{
	uint64_t end = xp_now_ms() + ms;
	bool ok;

	do {
		pthread_mutex_lock(&lr.lock);
		ok = cond();
		pthread_mutex_unlock(&lr.lock);
		if (!ok)
			usleep(1000);
	} while (!ok && xp_now_ms() < end);
	return ok;
}

static bool lr_ready(void)
{
	return lr.opened == 2 && lr.exported == 2;
}

static bool lr_clients(void)
{
	return lr.clients[0] == 1 && lr.clients[1] == 1;
}

struct lr_writer {
	int fd;
	uint64_t off, len;
	unsigned int errors;
};

static void *lr_write(void *arg)
{
	struct lr_writer *wr = arg;
	static uint8_t buf[4u << 20];
	uint64_t done;

	memset(buf, 0xa5, sizeof(buf));
	for (done = 0; done < wr->len; done += sizeof(buf))
		wr->errors += nbdc_write(wr->fd, 0, wr->off + done, sizeof(buf),
					 buf) != 0;
	return NULL;
}

static void test_lease_race(void)
{
	struct workers_config cfg = { .spawn = lr_spawn,
				      .budget_blks = 1u << 20,
				      .answer = lr_answer,
				      .gone = lr_gone };
	struct wire_msg m = { .op = WIRE_OPEN };
	struct lr_writer wa = { .len = 20u << 20 }, wb = { .len = 64u << 20 };
	const size_t base_bytes = (size_t)LR_DISK_MIB << 20;
	uint8_t *base = malloc(base_bytes), *got = malloc(4u << 20);
	struct rng rng = { 0x5eedf11eULL };
	char path[2][128], *base_path;
	pthread_t pump, writer;
	uint64_t bytes;
	unsigned int i;
	int fd;

	CHECK(base && got, "malloc");
	rng_fill(&rng, base, base_bytes);
	base_path = test_write_file("lease-base.img", base, base_bytes);
	CHECK_OK(workers_new(&cfg, &lr.ws));
	/* two disks of 64 MiB in RAM, each exported over NBD: disk 0 over
	 * the base, disk 1 blank */
	for (i = 0; i < 2; i++) {
		m = (struct wire_msg){ .op = WIRE_OPEN,
				       .slot = i,
				       .tag = (uint64_t)(i + 1) << 16 };
		m.u.plan = (struct wire_plan){
			.kind = COW_KIND_BLANK,
			.store = WIRE_STORE_RAM,
			.size_sectors = (uint64_t)LR_DISK_MIB << 11,
			.overlay_blks = (uint64_t)LR_DISK_MIB << 8,
			.limit_blks = (uint64_t)LR_DISK_MIB << 8
		};
		snprintf(m.u.plan.name, sizeof(m.u.plan.name), "%u/%u", LR_DOM,
			 i);
		if (i == 0) {
			fd = store_base_fd_open(base_path, &bytes);
			CHECK(fd >= 0 && bytes == base_bytes, "the base");
			m.u.plan.kind = COW_KIND_COW;
			m.u.plan.has_base = 1;
			m.u.plan.base_bytes = bytes;
			m.u.plan.size_sectors = 0;
			lr_send(&m, &fd, 1);
			close(fd);
		} else {
			lr_send(&m, NULL, 0);
		}
	}
	for (i = 0; i < 2; i++) {
		const char *why = "";

		snprintf(path[i], sizeof(path[i]), "%s/lease%u.sock",
			 bu_nbd_dir(), i);
		CHECK_OK(nbd_listen(path[i], &fd, &why));
		m = (struct wire_msg){ .op = WIRE_EXPORT,
				       .slot = i,
				       .tag = (uint64_t)(i + 1) << 16,
				       .val = (uint64_t)geteuid() };
		snprintf(m.u.err, sizeof(m.u.err), "%s", path[i]);
		lr_send(&m, &fd, 1);
		close(fd);
	}
	lr_pumping(true);
	CHECK_OK(-pthread_create(&pump, NULL, lr_pump, NULL));
	CHECK(lr_until(lr_ready, 10000), "the disks did not open and export");
	wa.fd = nbdc_open(path[0], (uint64_t)LR_DISK_MIB << 20, FLAGS_RW);
	wb.fd = nbdc_open(path[1], (uint64_t)LR_DISK_MIB << 20, FLAGS_RW);
	CHECK(lr_until(lr_clients, 10000), "the NBD clients were not seen");

	/* disk 0's base, 4 MiB at a time, from the sandboxed worker */
	for (i = 0; i < 4; i++) {
		uint64_t off = (uint64_t)i * (15u << 20);

		CHECK(nbdc_read(wa.fd, off, 4u << 20, got) == 0,
		      "read of the base at %llu", (unsigned long long)off);
		CHECK(!memcmp(got, base + off, 4u << 20),
		      "the base read wrong at %llu", (unsigned long long)off);
	}

	/* disk 1 full: the worker holds 16384 blocks and some slack */
	lr_write(&wb);
	CHECK(wb.errors == 0, "%u writes to disk 1 failed", wb.errors);

	/* disk 0 wants more than the slack: its write asks, and waits
	 * (at most 500 ms) while we do not listen ... */
	lr_pumping(false);
	CHECK_OK(-pthread_create(&writer, NULL, lr_write, &wa));
	{
		struct pollfd p = { .fd = workers_fd(lr.ws), .events = POLLIN };

		CHECK(poll(&p, 1, 5000) == 1, "the worker asked for nothing");
	}
	/* ... and disk 1 goes meanwhile: its 64 MiB of lease are slack now,
	 * and the worker gives them back behind its request */
	m = (struct wire_msg){ .op = WIRE_CLOSE, .slot = 1, .tag = 2ull << 16 };
	lr_send(&m, NULL, 0);
	usleep(100 * 1000);
	lr_pumping(true);
	pthread_join(writer, NULL);
	usleep(500 * 1000); /* its trims after the write */
	pthread_mutex_lock(&lr.lock);
	CHECK(workers_leased_blks(lr.ws) <= cfg.budget_blks,
	      "%llu blocks leased",
	      (unsigned long long)workers_leased_blks(lr.ws));
	pthread_mutex_unlock(&lr.lock);
	nbdc_disc(wa.fd);
	close(wb.fd); /* its server went with disk 1 */

	pthread_mutex_lock(&lr.lock);
	lr.stop = true;
	pthread_mutex_unlock(&lr.lock);
	pthread_join(pump, NULL);
	workers_free(lr.ws); /* the worker wipes its disk and ends */
	unlink(path[0]);
	unlink(path[1]);
	unlink(base_path);
	free(base_path);
	free(base);
	free(got);
	printf("  a lease given back while a grant is on its way: the worker "
	       "and the supervisor agree on what it holds: ok\n");
}

static void tick(int sig)
{
	(void)sig;
}

/*
 * The daemon stops while a signal handler without SA_RESTART runs every
 * 100 us (a fuzzer's timer does that; so may a library the daemon links):
 * each worker is waited for through the interruptions, not killed early
 * nor left behind unreaped.
 */
static void test_stop_under_signals(struct rng *rng)
{
	struct sigaction sa = { .sa_handler = tick }; /* no SA_RESTART */
	struct itimerval it = { { 0, 100 }, { 0, 100 } }, off = { { 0, 0 }, { 0, 0 } };
	struct fe_opts o = opts();
	struct bu_disk d[3];
	struct bu_env e;
	unsigned int i;
	int st;

	bu_env_init(&e);
	for (i = 0; i < 3; i++) {
		bu_disk_open(&e, &d[i], (uint16_t)(A + 2 * i), XVDA,
			     "blank:size=16M", false, &o, NULL, 0);
		bu_write(&d[i], 0, 0, 16 * 2048, FE_PACKED, rng);
	}
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
	fe_daemon_free(e.d); /* with its guests connected: workers wipe, end */
	e.d = NULL;
	setitimer(ITIMER_REAL, &off, NULL);
	signal(SIGALRM, SIG_DFL);
	CHECK(waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD,
	      "a worker was left behind, unreaped, by a daemon stopping "
	      "under signals");
	for (i = 0; i < 3; i++)
		bu_disk_free(&d[i]);
	bu_env_fini(&e);
	printf("  the daemon stops under a ticking signal: every worker "
	       "waited for: ok\n");
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
	test_lease_race();
	test_daemon_dies(&rng);
	test_stop_under_signals(&rng);
	printf("test-workers: OK\n");
	return 0;
}
