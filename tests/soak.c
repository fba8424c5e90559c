/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * make soak: the daemon core and its real, sandboxed worker processes
 * (tests/sim/sim-worker) against the simulated Xen, for SOAK_SECONDS
 * (default 600), with SOAK_GUESTS guests (default 32) of three disks each:
 *
 *   xvda  cow over a base file (self-attached, kind ephemeral)
 *   xvdb  blank, in RAM (libxl's vbd3 route), often with a limit and
 *         on-full=error or on-full=pause
 *   xvdc  blank, AES-XTS on scratch (either route), sometimes a limit
 *
 * under a --budget (SOAK_BUDGET_MIB, default 1536) smaller than what the
 * guests together could hold, so that leases move between workers as
 * guests come and go. Not much smaller: a worker may keep its use plus
 * two 16 MiB chunks of lease (backend/worker.c, lease_trim), so with 32
 * workers a budget under about 1 GiB is all leased while the overlays
 * hold far less, and a guest whose write waits (on-full=pause) for the
 * budget may wait for another guest to go (SOAK_BUDGET_MIB=384 shows it).
 *
 * Each guest is a thread that lives guest after guest: a domain is made,
 * its disks attached and connected (random queues, ring orders, ABIs,
 * indirect segments), then for a random lifetime it does mixed I/O
 * (writes, reads, discards, flushes of random sizes and layouts), now and
 * then reconnects a frontend, removes and adds a vbd3 device again, or
 * moves a limit; it reads every disk whole, and goes away (an orderly
 * detach, or its domain destroyed under connected or closed frontends).
 * The first four guests live the whole soak instead. An operator thread
 * raises the limit of a disk whose guest the daemon paused (on-full=
 * pause), as `xen-ephemeral set-limit` would.
 *
 * Every read is checked against a model of the disk: a seed per sector
 * from which its 512 bytes are made. A write that failed (a limit, the
 * budget) leaves each sector the old or the new data, and the next read
 * says which; a read that fails, a write to an on-full=pause disk that
 * fails, or a byte that is neither is a failure.
 *
 * Periodically (SOAK_REPORT_SECONDS, default 60) and at the end it prints
 * and checks: the memory (VmRSS) of this process (the supervisor's side:
 * the daemon core runs in it) and of every worker, the descriptors of
 * both, the simulated host's grant mappings, event-channel ports,
 * handles, xenstore nodes and serving threads, the overlay blocks in use
 * against the budget, and the workers alive against the guests. At the
 * end, with every guest gone: no worker left, and the same descriptors,
 * ports, handles, nodes and heap as before the first guest. A long-lived
 * guest's worker must keep the same descriptors at the same load all
 * along. The last line is "N passed, N failed"; the exit status is 0
 * only with no failure. A seed is printed; XE_SEED=N replays the choices
 * (not the timing).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/blkif.h"
#include "tests/blkif-util.h"
#include "tests/check.h"
#include "tests/frontend.h"
#include "tests/testlib.h"
#include "tests/toolstack.h"
#include "platform/log.h"
#include "xs-glue/attach.h"

#if defined(__SANITIZE_ADDRESS__)
#define SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_ASAN 1
#endif
#endif
#ifndef SOAK_ASAN
#define SOAK_ASAN 0
#endif

#define SECTOR XE_BLKIF_SECTOR_BYTES
#define NR_DISKS 3u
#define DISK_MIB 32u
#define DISK_SECTORS ((uint64_t)DISK_MIB << 11)
#define LONG_LIVED 4u /* guests 0..3 live the whole soak */
#define DOMIDS_PER_GUEST 8u /* a guest's domids come round again */
#define PATIENCE_MS 60000u /* any wait for the backend, a held write too */

/* Seeds of the model: what the disk showed when it opened (the base, or
 * zeros), zeros (a discard), then one new seed per write. */
#define SEED_OPENED 0u
#define SEED_ZERO 1u
#define ALT_NONE UINT64_MAX /* the sector is cur */
#define ALT_ANY (UINT64_MAX - 1u) /* two failed writes: not checked */

static const char *const vdevs[NR_DISKS] = { "xvda", "xvdb", "xvdc" };

struct sdisk {
	unsigned int idx;
	bool vbd3; /* libxl's route, else self-attach (kind ephemeral) */
	bool cow; /* over the base file */
	bool pause; /* on-full=pause */
	bool limited;
	char spec[640];
	struct fe_opts opts;
	struct fe *fe;
	uint64_t *cur, *alt; /* the model: a seed per sector, or two */
};

struct guest {
	unsigned int idx;
	pthread_t thread;
	struct rng rng;
	struct xp *tool; /* the toolstack's, its own: detach reads watches */
	unsigned int life; /* lives started */
	struct sdisk disk[NR_DISKS];
	/* shared with the operator and the reports, under lock */
	pthread_mutex_t lock;
	uint16_t domid; /* 0: none now */
	uint64_t pause_limit; /* xvdb's limit (on-full=pause), bytes */
	bool pause_open; /* xvdb is connected: set-limit may go */
	int worker_fds; /* long-lived: at equal load, the first seen */
	int worker_fds_max; /* ... and the most seen since */
	pid_t worker;
};

static struct {
	unsigned int seconds, guests, report_s;
	uint64_t budget_blks;
	uint64_t seed;
	struct bu_env env;
	char *base_path;
	char scratch[256];
	uint64_t t0, deadline;
	atomic_bool stop;
	atomic_bool done; /* finished normally: the tally is printed */
	struct guest *g;
} soak;

/* The tally and what it is made of. */
static atomic_ulong passed, failed;
static atomic_ulong n_writes, n_reads, n_discards, n_flushes, n_wr_errs;
static atomic_ulong n_verified_mib, n_lives, n_reconnects, n_readds;
static atomic_ulong n_limits, n_pauses_freed, n_unverified, n_destroys;
static atomic_uint_fast64_t next_seed = 2;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/* One check: counted, and said if it failed (or if verbose). */
static bool check(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		atomic_fetch_add(&passed, 1);
		return true;
	}
	atomic_fetch_add(&failed, 1);
	pthread_mutex_lock(&out_lock);
	printf("soak: FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	return false;
}

static uint64_t now_ms(void)
{
	return xp_now_ms();
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static unsigned int env_uint(const char *name, unsigned int def)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned int)strtoul(v, NULL, 10) : def;
}

/* A run that dies (a CHECK, a frontend's protocol check) still ends with
 * a count, so that a runner reading the last line sees a failure. */
static void tally_at_exit(void)
{
	if (!atomic_load(&soak.done))
		printf("soak: ended early\n%lu passed, %lu failed\n",
		       atomic_load(&passed), atomic_load(&failed) + 1);
}

/* ---- the model ---- */

static void sector_fill(const struct sdisk *d, uint64_t sector, uint64_t seed,
			uint8_t *out)
{
	struct rng r;
	unsigned int i;

	if (seed == SEED_ZERO || (seed == SEED_OPENED && !d->cow)) {
		memset(out, 0, SECTOR);
		return;
	}
	/* seed 0 of a cow disk: the base file's sector */
	r.s = sector * 0x9e3779b97f4a7c15ull ^ seed * 0xc2b2ae3d27d4eb4full ^
	      (seed == SEED_OPENED ? 0xba5eba5eull : 0);
	for (i = 0; i < SECTOR; i += 8) {
		uint64_t v = rng_next(&r);

		memcpy(out + i, &v, 8);
	}
}

static void model_reset(struct sdisk *d)
{
	uint64_t s;

	if (!d->cur) {
		d->cur = malloc(DISK_SECTORS * sizeof(*d->cur));
		d->alt = malloc(DISK_SECTORS * sizeof(*d->alt));
		CHECK(d->cur && d->alt, "out of memory");
	}
	for (s = 0; s < DISK_SECTORS; s++) {
		d->cur[s] = SEED_OPENED;
		d->alt[s] = ALT_NONE;
	}
}

static void model_free(struct sdisk *d)
{
	free(d->cur);
	free(d->alt);
	d->cur = d->alt = NULL;
}

/* ---- processes ---- */

/* A number field of /proc/<pid>/status ("VmRSS", kB), or -1. */
static long proc_status_num(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Open descriptors of pid (our own without the one that counts), or -1. */
static int proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return pid == getpid() ? n - 1 : n;
}

struct workers_seen {
	unsigned int n;
	long rss_kb_sum, rss_kb_max;
	int fds_max;
	pid_t fattest;
};

/* Our children are the daemon core's workers: count and weigh them. */
static void workers_scan(struct workers_seen *w)
{
	DIR *dir = opendir("/proc");
	pid_t self = getpid();
	struct dirent *e;

	memset(w, 0, sizeof(*w));
	if (!dir)
		return;
	while ((e = readdir(dir))) {
		char path[300], buf[512], *p;
		long ppid, rss;
		pid_t pid;
		FILE *f;
		int fds;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		pid = (pid_t)strtol(e->d_name, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		/* pid (comm) state ppid: comm may hold spaces */
		if (!p || !(p = strrchr(buf, ')')))
			continue;
		if (sscanf(p + 1, " %*c %ld", &ppid) != 1 || ppid != self)
			continue;
		if (strstr(buf, "(Z") || strstr(p, ") Z"))
			continue; /* exited, not yet reaped: it holds nothing */
		w->n++;
		rss = proc_status_num(pid, "VmRSS");
		fds = proc_fds(pid);
		if (rss > 0)
			w->rss_kb_sum += rss;
		if (rss > w->rss_kb_max) {
			w->rss_kb_max = rss;
			w->fattest = pid;
		}
		if (fds > w->fds_max)
			w->fds_max = fds;
	}
	closedir(dir);
}

/* What a leak check prints when it fails: our descriptors, and every
 * xenstore node. */
static void list_fds(void)
{
	struct dirent *e;
	DIR *dir = opendir("/proc/self/fd");

	while (dir && (e = readdir(dir))) {
		char path[300], target[512];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		say("soak:   fd %s -> %s\n", e->d_name, target);
	}
	if (dir)
		closedir(dir);
}

static void list_nodes(struct xp *xp, const char *path)
{
	char **names = NULL, *v = NULL;
	unsigned int n = 0, i;

	if (!xp_xs_read(xp, XP_XS_NO_TXN, path, &v, NULL))
		say("soak:   %s = \"%s\"\n", path, v);
	free(v);
	if (xp_xs_directory(xp, XP_XS_NO_TXN, path, &names, &n))
		return;
	for (i = 0; i < n; i++) {
		char sub[512];

		snprintf(sub, sizeof(sub), "%s/%s",
			 strcmp(path, "/") ? path : "", names[i]);
		list_nodes(xp, sub);
		free(names[i]);
	}
	free(names);
}

/* ---- I/O, checked against the model ---- */

static const char *disk_name(const struct guest *g, const struct sdisk *d,
			     char *buf, size_t len)
{
	snprintf(buf, len, "guest %u dom%u %s", g->idx, g->domid,
		 vdevs[d->idx]);
	return buf;
}

/* Returns false if the guest cannot go on (a timeout, a dead ring). */
static bool do_write(struct guest *g, struct sdisk *d, unsigned int q,
		     uint64_t sector, uint32_t nr, enum fe_layout layout)
{
	uint64_t seed = atomic_fetch_add(&next_seed, 1), s;
	uint8_t *buf = malloc((size_t)nr * SECTOR);
	char name[64];
	int rc;

	CHECK(buf, "out of memory");
	for (s = 0; s < nr; s++)
		sector_fill(d, sector + s, seed, buf + s * SECTOR);
	rc = fe_rw(d->fe, q, XE_BLKIF_OP_WRITE, sector, buf, nr, layout,
		   &g->rng);
	free(buf);
	atomic_fetch_add(&n_writes, 1);
	if (rc == XE_BLKIF_RSP_OKAY) {
		for (s = sector; s < sector + nr; s++) {
			d->cur[s] = seed;
			d->alt[s] = ALT_NONE;
		}
		return true;
	}
	disk_name(g, d, name, sizeof(name));
	if (rc == XE_BLKIF_RSP_ERROR && !d->pause) {
		/* out of room (its limit, or the budget): part of it may
		 * have landed, block by block */
		atomic_fetch_add(&n_wr_errs, 1);
		for (s = sector; s < sector + nr; s++)
			d->alt[s] = d->alt[s] == ALT_NONE ? seed : ALT_ANY;
		return true;
	}
	check(false, "%s: write of %u sectors at %" PRIu64 ": %s %d", name, nr,
	      sector, rc == -ETIMEDOUT ? "no answer in 60 s, status" : "status",
	      rc);
	return false;
}

static bool do_read(struct guest *g, struct sdisk *d, unsigned int q,
		    uint64_t sector, uint32_t nr, enum fe_layout layout)
{
	uint8_t *buf = malloc((size_t)nr * SECTOR), want[SECTOR];
	unsigned int bad = 0;
	char name[64];
	uint64_t s;
	int rc;

	CHECK(buf, "out of memory");
	rc = fe_rw(d->fe, q, XE_BLKIF_OP_READ, sector, buf, nr, layout,
		   &g->rng);
	atomic_fetch_add(&n_reads, 1);
	if (rc) {
		free(buf);
		check(false, "%s: read of %u sectors at %" PRIu64 ": status %d",
		      disk_name(g, d, name, sizeof(name)), nr, sector, rc);
		return false;
	}
	for (s = 0; s < nr; s++) {
		const uint8_t *got = buf + s * SECTOR;
		uint64_t at = sector + s;

		if (d->alt[at] == ALT_ANY) {
			atomic_fetch_add(&n_unverified, 1);
			continue;
		}
		sector_fill(d, at, d->cur[at], want);
		if (!memcmp(got, want, SECTOR)) {
			d->alt[at] = ALT_NONE;
			continue;
		}
		if (d->alt[at] != ALT_NONE) {
			sector_fill(d, at, d->alt[at], want);
			if (!memcmp(got, want, SECTOR)) {
				d->cur[at] = d->alt[at]; /* the new one */
				d->alt[at] = ALT_NONE;
				continue;
			}
		}
		if (!bad++)
			check(false,
			      "%s: sector %" PRIu64 " is not what was "
			      "written (seed %" PRIu64 ", or %" PRIu64 ")",
			      disk_name(g, d, name, sizeof(name)), at,
			      d->cur[at], d->alt[at]);
	}
	free(buf);
	return true;
}

static bool do_discard(struct guest *g, struct sdisk *d, unsigned int q,
		       uint64_t sector, uint64_t nr)
{
	uint64_t first = (sector + 7) / 8 * 8, end = (sector + nr) / 8 * 8, s;
	char name[64];
	int rc = fe_discard(d->fe, q, sector, nr);

	atomic_fetch_add(&n_discards, 1);
	if (!check(rc == 0,
		   "%s: discard of %" PRIu64 " at %" PRIu64 ": status %d",
		   disk_name(g, d, name, sizeof(name)), nr, sector, rc))
		return false;
	for (s = first; s < end; s++) { /* whole 4 KiB blocks read zeros */
		d->cur[s] = SEED_ZERO;
		d->alt[s] = ALT_NONE;
	}
	return true;
}

static bool verify_all(struct guest *g, struct sdisk *d)
{
	uint64_t s;

	for (s = 0; s < DISK_SECTORS; s += 2048)
		if (!do_read(g, d, 0, s, 2048, FE_PACKED))
			return false;
	atomic_fetch_add(&n_verified_mib, DISK_MIB);
	return true;
}

/* ---- a guest's disks ---- */

static void disk_plan(struct guest *g, struct sdisk *d, unsigned int idx)
{
	struct rng *r = &g->rng;
	char extra[96] = "";
	unsigned int pick = (unsigned int)rng_below(r, 4);

	d->idx = idx;
	d->pause = d->limited = false;
	d->cow = idx == 0;
	d->vbd3 = idx == 1 || (idx == 2 && g->idx % 2);
	if (idx == 1 && pick >= 2) {
		d->limited = true;
		d->pause = pick == 3;
		snprintf(extra, sizeof(extra), ",limit=4M,on-full=%s",
			 d->pause ? "pause" : "error");
	} else if (pick == 0) {
		d->limited = true;
		snprintf(extra, sizeof(extra), ",limit=%uM",
			 2u + (unsigned int)rng_below(r, 8));
	}
	if (idx == 0)
		snprintf(d->spec, sizeof(d->spec), "cow:base=%s%s",
			 soak.base_path, extra);
	else if (idx == 1)
		snprintf(d->spec, sizeof(d->spec), "blank:size=%uM,store=ram%s",
			 DISK_MIB, extra);
	else
		snprintf(d->spec, sizeof(d->spec),
			 "blank:size=%uM,store=xts,scratch=%s%s", DISK_MIB,
			 soak.scratch, extra);
	d->opts = (struct fe_opts){
		.order = (unsigned int)rng_below(r, 3),
		.queues = 1 + (unsigned int)rng_below(r, BU_MAX_QUEUES),
		.abi = rng_below(r, 3) ? XE_BLKIF_ABI_NATIVE :
					 XE_BLKIF_ABI_X86_32,
		.max_indirect = rng_below(r, 3) ? 32u << rng_below(r, 2) : 0,
		.timeout_ms = PATIENCE_MS,
	};
}

static int disk_add(struct guest *g, struct sdisk *d)
{
	uint32_t devid = 51712u + 16u * d->idx;
	char vdev[16], err[256] = "";
	int rc;

	if (d->vbd3) {
		struct ts_disk tk = { .domid = g->domid,
				      .devid = devid,
				      .vdev = vdevs[d->idx],
				      .target = d->spec,
				      .script = BU_HOOK };

		rc = ts_vbd3_add(g->tool, &tk);
	} else {
		struct attach_req req = { .domid = g->domid,
					  .vdev = vdev,
					  .spec = d->spec };

		snprintf(vdev, sizeof(vdev), "%s", vdevs[d->idx]);
		rc = attach_device(g->tool, &req, err, sizeof(err));
	}
	if (!check(rc == 0, "guest %u dom%u: attach %s (%s): %d %s", g->idx,
		   g->domid, vdevs[d->idx], d->spec, rc, err))
		return rc;
	rc = fe_new(soak.env.sim, g->domid, devid, &d->opts, &d->fe);
	if (!rc)
		rc = fe_connect(d->fe);
	if (!check(rc == 0,
		   "guest %u dom%u: connect %s: %d, backend error "
		   "'%s'",
		   g->idx, g->domid, vdevs[d->idx], rc,
		   d->fe ? fe_backend_error(d->fe) : ""))
		return rc ? rc : -EIO;
	check(fe_backend(d->fe)->sectors == DISK_SECTORS,
	      "guest %u %s: %" PRIu64 " sectors", g->idx, vdevs[d->idx],
	      fe_backend(d->fe)->sectors);
	model_reset(d);
	if (d->pause) {
		pthread_mutex_lock(&g->lock);
		g->pause_limit = 4u << 20;
		g->pause_open = true;
		pthread_mutex_unlock(&g->lock);
	}
	return 0;
}

/* Close the frontend and take the device away, as the toolstack does. */
static bool disk_remove(struct guest *g, struct sdisk *d)
{
	uint32_t devid = 51712u + 16u * d->idx;
	int rc = 0;

	if (d->pause) {
		pthread_mutex_lock(&g->lock);
		g->pause_open = false;
		pthread_mutex_unlock(&g->lock);
	}
	if (d->fe) {
		rc = fe_close(d->fe);
		check(rc == 0, "guest %u dom%u: close %s: %d", g->idx, g->domid,
		      vdevs[d->idx], rc);
		fe_free(d->fe);
		d->fe = NULL;
	}
	if (d->vbd3)
		rc = ts_vbd3_remove(g->tool, g->domid, devid, TS_REMOVE_SAFE);
	else
		rc = detach_device(g->tool, NULL, g->domid, devid, PATIENCE_MS);
	return check(rc == 0, "guest %u dom%u: remove %s: %d", g->idx, g->domid,
		     vdevs[d->idx], rc);
}

/* ---- a guest's life ---- */

/* Descriptors a worker opens on first use and keeps: each file store's
 * pool of io_urings (cow/store-file.c, FILE_NR_RINGS), for the base and
 * for the scratch. */
#define LAZY_FDS (2u * 4u)

/* The worker's descriptors at equal load (every disk connected, nothing
 * in flight): what a long-lived guest's worker had the first time, with
 * its disks just connected, and at most LAZY_FDS more ever after, however
 * often its frontends reconnect and its devices come again. A ring still
 * being taken down may hold one a moment longer: ask again. */
static void check_worker_fds(struct guest *g)
{
	pid_t pid = fe_daemon_worker_pid(soak.env.d, g->domid);
	int fds = -1, i;

	if (!check(pid > 0, "guest %u dom%u: no worker", g->idx, g->domid))
		return;
	if (g->worker <= 0 || g->worker != pid) {
		check(g->worker <= 0,
		      "guest %u dom%u: its worker changed "
		      "(%ld, then %ld)",
		      g->idx, g->domid, (long)g->worker, (long)pid);
		g->worker = pid;
		g->worker_fds = g->worker_fds_max = proc_fds(pid);
		return;
	}
	for (i = 0; i < 100; i++) {
		fds = proc_fds(pid);
		if (fds >= 0 && fds <= g->worker_fds + (int)LAZY_FDS)
			break;
		sleep_ms(20);
	}
	if (fds > g->worker_fds_max)
		g->worker_fds_max = fds;
	check(fds >= 0 && fds <= g->worker_fds + (int)LAZY_FDS,
	      "guest %u dom%u: its worker has %d descriptors at the load it "
	      "had %d at (and %u it may open on first use)",
	      g->idx, g->domid, fds, g->worker_fds, LAZY_FDS);
}

/* One random step of the guest's life; false if it cannot go on. */
static bool step(struct guest *g, bool long_lived)
{
	struct rng *r = &g->rng;
	struct sdisk *d = &g->disk[rng_below(r, NR_DISKS)];
	unsigned int q = (unsigned int)rng_below(r, fe_nr_queues(d->fe));
	unsigned int kind = (unsigned int)rng_below(r, 1000);
	enum fe_layout layout = rng_below(r, 2) ? FE_SCATTER : FE_PACKED;
	uint32_t nr = 1 + (uint32_t)rng_below(r, rng_below(r, 4) ? 256 : 16);
	uint64_t sector = rng_below(r, DISK_SECTORS - nr + 1);

	if (kind < 450)
		return do_write(g, d, q, sector, nr, layout);
	if (kind < 850)
		return do_read(g, d, q, sector, nr, layout);
	if (kind < 930) {
		if (!fe_uses(d->fe, XE_BLKIF_OP_DISCARD))
			return true;
		nr *= 4;
		sector = rng_below(r, DISK_SECTORS - nr + 1);
		return do_discard(g, d, q, sector, nr);
	}
	if (kind < 980) {
		int rc = fe_flush(d->fe, q);

		atomic_fetch_add(&n_flushes, 1);
		return check(rc == 0, "guest %u: flush: %d", g->idx, rc);
	}
	if (kind < 986) { /* the guest re-probes: the disk stays */
		int rc = fe_close(d->fe);

		rc = rc ?: fe_reconnect(d->fe);
		atomic_fetch_add(&n_reconnects, 1);
		return check(rc == 0, "guest %u dom%u: reconnect %s: %d",
			     g->idx, g->domid, vdevs[d->idx], rc);
	}
	if (kind < 990 && d->vbd3) { /* a device removed and added again */
		atomic_fetch_add(&n_readds, 1);
		if (!disk_remove(g, d))
			return false;
		return disk_add(g, d) == 0; /* a new disk: blank again */
	}
	if (kind < 995 && d->limited && !d->pause) {
		uint64_t mib = 1 + rng_below(r, DISK_MIB);
		int rc = fe_daemon_set_limit(soak.env.d, g->domid,
					     vdevs[d->idx], mib << 20);

		atomic_fetch_add(&n_limits, 1);
		return check(rc == 0, "guest %u: set-limit %s %" PRIu64 "M: %d",
			     g->idx, vdevs[d->idx], mib, rc);
	}
	if (long_lived && kind >= 995)
		check_worker_fds(g);
	return true;
}

/* The domain is gone: wait until the daemon and the host hold nothing of
 * it (its worker ended, its grants unmapped). */
static void check_gone(struct guest *g, uint16_t domid)
{
	uint64_t end = now_ms() + 30000;
	pid_t pid;
	int maps;

	do {
		pid = fe_daemon_worker_pid(soak.env.d, domid);
		maps = sim_domain_maps(soak.env.sim, domid);
		if (pid < 0 && maps <= 0)
			break;
		sleep_ms(10);
	} while (now_ms() < end);
	check(pid < 0, "guest %u dom%u: gone, its worker %ld is not", g->idx,
	      domid, (long)pid);
	check(maps <= 0, "guest %u dom%u: gone, %d grant maps are not", g->idx,
	      domid, maps);
}

static void guest_life(struct guest *g)
{
	bool long_lived = g->idx < LONG_LIVED, ok = true;
	uint16_t domid = (uint16_t)(1 + g->idx * DOMIDS_PER_GUEST +
				    g->life % DOMIDS_PER_GUEST);
	uint64_t span = soak.seconds * 1000ull;
	uint64_t life_end;
	unsigned int i, how;
	int rc;

	g->life++;
	atomic_fetch_add(&n_lives, 1);
	/* most lives are 10-70 s; a short soak gets short lives */
	life_end = now_ms() + (span < 40000 ? span / 4 : 10000) +
		   rng_below(&g->rng, span < 240000 ? span / 4 : 60000);
	rc = sim_domain_create(soak.env.sim, domid);
	if (!check(rc == 0,
		   "guest %u: create dom%u: %d (an old one's grants "
		   "still mapped?)",
		   g->idx, domid, rc)) {
		sleep_ms(1000);
		return;
	}
	pthread_mutex_lock(&g->lock);
	g->domid = domid;
	g->worker = 0;
	pthread_mutex_unlock(&g->lock);
	for (i = 0; i < NR_DISKS; i++)
		disk_plan(g, &g->disk[i], i);
	for (i = 0; i < NR_DISKS && ok; i++)
		ok = disk_add(g, &g->disk[i]) == 0;
	if (ok && long_lived)
		check_worker_fds(g);
	while (ok && !atomic_load(&soak.stop) &&
	       (long_lived || now_ms() < life_end))
		ok = step(g, long_lived);
	for (i = 0; i < NR_DISKS && ok; i++)
		ok = verify_all(g, &g->disk[i]);
	if (ok && long_lived)
		check_worker_fds(g);

	/* how it goes: 0 an orderly detach; 1 destroyed with its frontends
	 * connected; 2 its frontends closed, then destroyed */
	how = ok ? (unsigned int)rng_below(&g->rng, 3) : 1;
	if (how == 0) {
		for (i = 0; i < NR_DISKS; i++)
			disk_remove(g, &g->disk[i]);
	} else if (how == 2) {
		for (i = 0; i < NR_DISKS; i++)
			if (g->disk[i].fe) {
				rc = fe_close(g->disk[i].fe);
				check(rc == 0, "guest %u: close %s: %d", g->idx,
				      vdevs[i], rc);
			}
	}
	pthread_mutex_lock(&g->lock);
	g->pause_open = false;
	g->domid = 0;
	pthread_mutex_unlock(&g->lock);
	atomic_fetch_add(&n_destroys, 1);
	rc = sim_domain_destroy(soak.env.sim, domid);
	check(rc == 0, "guest %u: destroy dom%u: %d", g->idx, domid, rc);
	for (i = 0; i < NR_DISKS; i++) {
		struct sdisk *d = &g->disk[i];

		if (d->fe) {
			fe_domain_gone(d->fe);
			fe_free(d->fe); /* waits for the backend to unmap */
			d->fe = NULL;
		}
		/* libxl removes what it wrote; self-attached directories
		 * are the daemon's to remove */
		if (how && d->vbd3)
			ts_vbd3_remove(g->tool, domid, 51712u + 16u * i,
				       TS_REMOVE_FORCE);
	}
	check_gone(g, domid);
}

static void *guest_main(void *arg)
{
	struct guest *g = arg;

	CHECK_OK(sim_xp_new(soak.env.sim, 0, &g->tool));
	while (!atomic_load(&soak.stop))
		guest_life(g);
	for (unsigned int i = 0; i < NR_DISKS; i++)
		model_free(&g->disk[i]);
	xp_destroy(g->tool);
	return NULL;
}

/* ---- the operator: set-limit for a paused guest ---- */

static void *operator_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&soak.stop)) {
		for (unsigned int i = 0; i < soak.guests; i++) {
			struct guest *g = &soak.g[i];
			uint64_t limit;
			uint16_t domid;

			pthread_mutex_lock(&g->lock);
			domid = g->domid;
			limit = g->pause_limit;
			if (!domid || !g->pause_open ||
			    sim_domain_paused(soak.env.sim, domid) <= 0 ||
			    limit >= (uint64_t)DISK_MIB << 20) {
				pthread_mutex_unlock(&g->lock);
				continue; /* paused for the budget: wait */
			}
			limit += 2u << 20;
			if (!fe_daemon_set_limit(soak.env.d, domid, "xvdb",
						 limit)) {
				g->pause_limit = limit;
				atomic_fetch_add(&n_pauses_freed, 1);
			}
			pthread_mutex_unlock(&g->lock);
		}
		sleep_ms(20);
	}
	return NULL;
}

/* ---- reports ---- */

struct snapshot {
	long rss_kb, hwm_kb;
	int fds;
	size_t heap;
	struct sim_usage sim;
	struct workers_seen w;
	unsigned int devs, disks, open, alive;
	uint64_t used_blks, leased_blks;
};

static void snapshot(struct snapshot *s)
{
	pid_t self = getpid();

	s->rss_kb = proc_status_num(self, "VmRSS");
	s->hwm_kb = proc_status_num(self, "VmHWM");
	s->fds = proc_fds(self);
	s->heap = SOAK_ASAN ? 0 : mallinfo2().uordblks;
	sim_usage(soak.env.sim, &s->sim);
	workers_scan(&s->w);
	s->devs = fe_daemon_nr_devs(soak.env.d);
	s->disks = fe_daemon_nr_disks(soak.env.d);
	s->used_blks = fe_daemon_used_blks(soak.env.d, &s->open);
	s->leased_blks = fe_daemon_leased_blks(soak.env.d);
	s->alive = 0;
	for (unsigned int i = 0; soak.g && i < soak.guests; i++) {
		pthread_mutex_lock(&soak.g[i].lock);
		s->alive += soak.g[i].domid != 0;
		pthread_mutex_unlock(&soak.g[i].lock);
	}
}

static void print_snapshot(const char *when, const struct snapshot *s)
{
	char heap[32] = "n/a (ASan)";

	if (!SOAK_ASAN)
		snprintf(heap, sizeof(heap), "%zu KiB", s->heap >> 10);
	say("soak: %s: supervisor rss %ld MiB (peak %ld), %d fds, heap %s; "
	    "workers %u, rss %ld MiB in all, %ld MiB the most, %d fds "
	    "the most; guests %u, devices %u, disks %u (%u open), overlay "
	    "%" PRIu64 " MiB, leased %" PRIu64 " MiB of a %" PRIu64 " MiB "
	    "budget; sim: %u grant "
	    "maps, %u ports (%u of dom0), %u handles, %u xenstore nodes, %u "
	    "zombies, %u serving threads\n",
	    when, s->rss_kb >> 10, s->hwm_kb >> 10, s->fds, heap, s->w.n,
	    s->w.rss_kb_sum >> 10, s->w.rss_kb_max >> 10, s->w.fds_max,
	    s->alive, s->devs, s->disks, s->open, s->used_blks >> 8,
	    s->leased_blks >> 8, soak.budget_blks >> 8, s->sim.maps,
	    s->sim.ports, s->sim.dom0_ports, s->sim.handles, s->sim.xs_nodes,
	    s->sim.zombies, s->sim.threads);
}

static void print_counts(void)
{
	say("soak: %lu lives, %lu writes (%lu refused for room), %lu reads, "
	    "%lu discards, %lu flushes, %lu MiB read whole and checked, %lu "
	    "reconnects, %lu devices added again, %lu set-limits, %lu "
	    "paused guests given room, %lu sectors not checkable\n",
	    atomic_load(&n_lives), atomic_load(&n_writes),
	    atomic_load(&n_wr_errs), atomic_load(&n_reads),
	    atomic_load(&n_discards), atomic_load(&n_flushes),
	    atomic_load(&n_verified_mib), atomic_load(&n_reconnects),
	    atomic_load(&n_readds), atomic_load(&n_limits),
	    atomic_load(&n_pauses_freed), atomic_load(&n_unverified));
}

/* What a worker may weigh: its RAM overlays, the XTS one's buffers, the
 * program (and ASan's shadow and quarantine). */
static long worker_rss_bound_kb(void)
{
	return ((long)NR_DISKS * DISK_MIB + (SOAK_ASAN ? 512 : 96)) << 10;
}

/* The supervisor's memory over the first third of the run; what it may
 * grow to after (guest memory pages the sim has touched are resident,
 * and allocators keep some slack; a leak grows without end). */
static long rss_early_kb;

static void check_running(const struct snapshot *s, uint64_t elapsed_ms)
{
	if (elapsed_ms <= soak.seconds * 1000ull / 3) {
		if (s->rss_kb > rss_early_kb)
			rss_early_kb = s->rss_kb;
	} else if (rss_early_kb) {
		/* ASan holds freed memory back (its quarantine, 256 MiB) */
		check(s->rss_kb <= rss_early_kb + rss_early_kb / 4 +
					   ((SOAK_ASAN ? 384 : 64) << 10),
		      "the supervisor's rss grew from %ld MiB to %ld MiB",
		      rss_early_kb >> 10, s->rss_kb >> 10);
	}
	check(s->w.rss_kb_max <= worker_rss_bound_kb(),
	      "worker %ld weighs %ld MiB (bound %ld MiB)", (long)s->w.fattest,
	      s->w.rss_kb_max >> 10, worker_rss_bound_kb() >> 10);
	/* a guest's worker, and those of guests gone still ending */
	check(s->w.n <= soak.guests + 16u, "%u workers for %u guests", s->w.n,
	      soak.guests);
	check(s->leased_blks <= soak.budget_blks,
	      "%" PRIu64 " blocks leased, the budget is %" PRIu64,
	      s->leased_blks, soak.budget_blks);
	check(s->used_blks <= soak.budget_blks,
	      "overlays hold %" PRIu64 " blocks, the budget is %" PRIu64,
	      s->used_blks, soak.budget_blks);
	check(s->sim.zombies <= soak.guests,
	      "%u destroyed domains still mapped", s->sim.zombies);
}

/* ---- the run ---- */

static void make_base(void)
{
	struct sdisk d = { .cow = true };
	uint8_t *buf = malloc(DISK_SECTORS * SECTOR);
	uint64_t s;

	CHECK(buf, "out of memory");
	for (s = 0; s < DISK_SECTORS; s++)
		sector_fill(&d, s, SEED_OPENED, buf + s * SECTOR);
	soak.base_path =
		test_write_file("base.img", buf, DISK_SECTORS * SECTOR);
	free(buf);
	snprintf(soak.scratch, sizeof(soak.scratch), "%s/scratch",
		 test_tmpdir());
	CHECK(mkdir(soak.scratch, 0700) == 0, "mkdir %s: %s", soak.scratch,
	      strerror(errno));
}

/* Wait (at most 30 s) until nothing is left of any guest. */
static void wait_quiet(struct snapshot *s, const struct snapshot *before)
{
	uint64_t end = now_ms() + 30000;

	for (;;) {
		snapshot(s);
		if ((s->w.n == 0 && s->sim.maps == 0 &&
		     s->sim.dom0_ports == 0 &&
		     s->sim.threads == before->sim.threads &&
		     s->fds == before->fds) ||
		    now_ms() >= end)
			return;
		sleep_ms(100);
	}
}

int main(void)
{
	struct xenbus_config cfg = bu_config();
	struct snapshot before, s, after;
	uint64_t next_report;
	pthread_t op;
	unsigned int i;

	soak.seed = test_seed("soak");
	soak.seconds = env_uint("SOAK_SECONDS", 600);
	soak.guests = env_uint("SOAK_GUESTS", 32);
	soak.report_s = env_uint("SOAK_REPORT_SECONDS", 60);
	soak.budget_blks = (uint64_t)env_uint("SOAK_BUDGET_MIB", 1536) << 8;
	CHECK(soak.guests >= 1 && soak.guests <= 64 && soak.seconds >= 1 &&
		      soak.report_s >= 1 && soak.budget_blks >= 1,
	      "SOAK_GUESTS 1..64, SOAK_SECONDS, SOAK_REPORT_SECONDS and "
	      "SOAK_BUDGET_MIB at least 1");
	atexit(tally_at_exit);
	signal(SIGPIPE, SIG_IGN);
	/* The daemon core's and the workers' warnings and errors only: a
	 * disk refused for room is an info line, and there are thousands. */
	log_init("soak", false,
		 getenv("XE_TEST_VERBOSE") ? LOG_DEBUG : LOG_WARNING);
	if (!getenv("XE_TEST_VERBOSE"))
		setenv("XE_TEST_QUIET", "1", 1);
	say("soak: %u guests x %u disks of %u MiB for %u s, budget %" PRIu64
	    " MiB, reports every %u s%s\n",
	    soak.guests, NR_DISKS, DISK_MIB, soak.seconds,
	    soak.budget_blks >> 8, soak.report_s,
	    SOAK_ASAN ? ", AddressSanitizer build" : "");
	make_base();
	cfg.budget_blks = soak.budget_blks;
	cfg.close_timeout_ms = 10000;
	bu_env_init_cfg(&soak.env, &cfg);
	/* What stays once made, made before the baseline: the guest memory
	 * arena (one memfd), and the backend directories of both kinds
	 * (xenstore keeps them, as a real one does, when the last device
	 * of a kind goes). */
	sim_page_free(sim_page_alloc(1));
	CHECK_OK(xp_xs_mkdir(fe_daemon_xp(soak.env.d), XP_XS_NO_TXN,
			     "/local/domain/0/backend/ephemeral"));
	CHECK_OK(xp_xs_mkdir(fe_daemon_xp(soak.env.d), XP_XS_NO_TXN,
			     "/local/domain/0/backend/vbd3"));
	sleep_ms(200); /* the daemon thread settles its watches */
	snapshot(&before);
	print_snapshot("before", &before);

	soak.g = calloc(soak.guests, sizeof(*soak.g));
	CHECK(soak.g, "out of memory");
	soak.t0 = now_ms();
	soak.deadline = soak.t0 + soak.seconds * 1000ull;
	for (i = 0; i < soak.guests; i++) {
		struct guest *g = &soak.g[i];

		g->idx = i;
		g->rng.s = soak.seed ^ (0x9e3779b97f4a7c15ull * (i + 1));
		pthread_mutex_init(&g->lock, NULL);
		CHECK_OK(-pthread_create(&g->thread, NULL, guest_main, g));
	}
	CHECK_OK(-pthread_create(&op, NULL, operator_main, NULL));

	next_report = soak.t0 + soak.report_s * 1000ull;
	while (now_ms() < soak.deadline) {
		char when[32];

		sleep_ms(200);
		if (now_ms() < next_report)
			continue;
		next_report += soak.report_s * 1000ull;
		snapshot(&s);
		snprintf(when, sizeof(when), "%llu s",
			 (unsigned long long)(now_ms() - soak.t0) / 1000);
		print_snapshot(when, &s);
		print_counts();
		check_running(&s, now_ms() - soak.t0);
	}
	say("soak: time is up: each guest ends the life it is in\n");
	atomic_store(&soak.stop, true);
	for (i = 0; i < soak.guests; i++)
		pthread_join(soak.g[i].thread, NULL);
	pthread_join(op, NULL);

	for (i = 0; i < soak.guests && i < LONG_LIVED; i++)
		say("soak: long-lived guest %u: its worker had %d descriptors "
		    "with its disks just connected, %d at most at that load\n",
		    i, soak.g[i].worker_fds, soak.g[i].worker_fds_max);
	wait_quiet(&after, &before);
	print_snapshot("after", &after);
	print_counts();
	check(after.w.n == 0, "%u workers left after every guest went",
	      after.w.n);
	check(after.devs == 0 && after.disks == 0,
	      "the daemon still has %u devices and %u disks", after.devs,
	      after.disks);
	if (!check(after.fds == before.fds,
		   "supervisor descriptors: %d "
		   "before, %d after",
		   before.fds, after.fds))
		list_fds();
	check(after.sim.maps == 0 && after.sim.zombies == 0,
	      "%u grant maps left, %u domains kept by them", after.sim.maps,
	      after.sim.zombies);
	check(after.sim.dom0_ports == before.sim.dom0_ports &&
		      after.sim.ports == before.sim.ports,
	      "event-channel ports: %u (%u of dom0) before, %u (%u) after",
	      before.sim.ports, before.sim.dom0_ports, after.sim.ports,
	      after.sim.dom0_ports);
	check(after.sim.handles == before.sim.handles &&
		      after.sim.xps == before.sim.xps,
	      "grant and event-channel handles: %u before, %u after; "
	      "platform instances %u, %u",
	      before.sim.handles, after.sim.handles, before.sim.xps,
	      after.sim.xps);
	if (!check(after.sim.xs_nodes == before.sim.xs_nodes,
		   "xenstore nodes: %u before, %u after", before.sim.xs_nodes,
		   after.sim.xs_nodes))
		list_nodes(fe_daemon_xp(soak.env.d), "/");
	check(after.sim.threads == before.sim.threads,
	      "threads serving workers: %u before, %u after",
	      before.sim.threads, after.sim.threads);
	check(after.leased_blks == 0,
	      "%" PRIu64 " blocks still leased after "
	      "every worker went",
	      after.leased_blks);
	check(after.used_blks == 0 && after.open == 0,
	      "%" PRIu64 " overlay blocks in %u open disks after every guest "
	      "went",
	      after.used_blks, after.open);
	/* The heap of this process (the daemon core and the sim) is back
	 * where it was, give or take allocator slack; under ASan its leak
	 * checker looks at exit instead. */
	if (!SOAK_ASAN)
		check(after.heap <= before.heap + (2u << 20),
		      "heap in use: %zu KiB before, %zu KiB after",
		      before.heap >> 10, after.heap >> 10);
	say("soak: %s\n", atomic_load(&failed) ? "FAILED" : "ok");

	bu_env_fini(&soak.env);
	unlink(soak.base_path);
	free(soak.base_path);
	rmdir(soak.scratch);
	for (i = 0; i < soak.guests; i++)
		pthread_mutex_destroy(&soak.g[i].lock);
	free(soak.g);
	atomic_store(&soak.done, true);
	printf("%lu passed, %lu failed\n", atomic_load(&passed),
	       atomic_load(&failed));
	return atomic_load(&failed) ? 1 : 0;
}
