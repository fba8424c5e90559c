/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-scale: 64 disks attached in the simulated Xen (blank:size=1G in
 * RAM, one queue, a frontend like Linux blkfront), and
 * three figures printed next to their targets (issue 10, part 5):
 *
 *   idle memory per disk   (this process's RSS after attaching and
 *                          connecting the 64 disks, and again after each
 *                          did a little I/O and went idle, minus RSS
 *                          before, plus the PSS of the guests' worker
 *                          processes) / 64; the simulated guests' own
 *                          memory (rings, grant tables, xenstore) is in it
 *                          too, so this is an upper bound on the daemon's
 *                          share. Target <= 512 KiB.
 *   block-map overhead     the map's own memory (cow_stats.map_bytes)
 *                          against the overlay bytes it maps, for three
 *                          write patterns over the disks: sequential, 4 KiB
 *                          random dense (a quarter of a 64 MiB region), and
 *                          4 KiB random sparse (0.4% of the 1 GiB disk).
 *                          Target <= 0.2%.
 *   attach to InitWait     from the toolstack writing a device's nodes to
 *                          the backend's state 2, with the 63 others
 *                          attached and connected: the last guest is
 *                          destroyed and a new one attached, ROUNDS times.
 *                          Target < 100 ms.
 *
 * Each guest's disks are served by a worker process of its own: a guest
 * with one disk pays a whole process for it, one with four (a Qubes
 * guest's root, private, volatile and modules) shares it.
 *
 * Measuring, not testing: it prints, and exits 0 whatever the figures (1
 * only if something failed).
 * Usage: bench-scale [rounds, default 20] [disks a guest, 1..4, default 1]
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/blkif-util.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define NR_DISKS 64u
#define DEVID 51712u /* xvda; a guest's next disks are xvdb, xvdc... */
#define FIRST_DOMID 10u
#define DISK_SPEC "blank:size=1G"
#define PATTERNS 3

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A field of /proc/self/status or smaps_rollup, in KiB. */
static unsigned long proc_kb(const char *file, const char *field)
{
	FILE *f = fopen(file, "r");
	char line[256];
	unsigned long kb = 0;
	size_t n = strlen(field);

	CHECK(f, "%s", file);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			kb = strtoul(line + n + 1, NULL, 10);
	fclose(f);
	return kb;
}

/*
 * Disk i's guest and device: dpg disks a guest (xvda, xvdb, ...), but the
 * last disk alone in a guest of its own (the attach rounds replace it).
 */
static uint16_t scale_domid(unsigned int i, unsigned int dpg)
{
	return (uint16_t)(FIRST_DOMID +
			  (i == NR_DISKS - 1 ? NR_DISKS : i / dpg));
}

static uint32_t scale_devid(unsigned int i, unsigned int dpg)
{
	return i == NR_DISKS - 1 ? DEVID : DEVID + 16 * (i % dpg);
}

/* Proportional and resident memory of the guests' worker processes
 * (each guest's disks are served by a process of its own), in KiB. */
static void workers_kb(struct bu_env *e, const struct bu_disk *disk,
		       unsigned int dpg, unsigned long *pss_r,
		       unsigned long *rss_r)
{
	unsigned int i;

	*pss_r = *rss_r = 0;
	for (i = 0; i < NR_DISKS; i++) {
		pid_t pid = fe_daemon_worker_pid(e->d, disk[i].domid);

		if (i % dpg && i != NR_DISKS - 1)
			continue; /* the guest's worker, counted once */
		char path[64];

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup",
			 (int)pid);
		*pss_r += proc_kb(path, "Pss");
		*rss_r += proc_kb(path, "Rss");
	}
}

static const struct fe_opts linux_opts = {
	/* Linux blkfront's defaults: one page, one queue, 32 indirect */
	.order = 0,
	.queues = 1,
	.abi = XE_BLKIF_ABI_NATIVE,
	.max_indirect = 32,
};

static void write_blk(struct bu_disk *disk, uint64_t blk, unsigned char *page)
{
	struct fe_seg seg = { .page = page, .first_sect = 0, .last_sect = 7 };
	struct fe_req r = { .op = XE_BLKIF_OP_WRITE,
			    .sector = blk * 8,
			    .nr_segs = 1,
			    .segs = &seg };

	CHECK(fe_io(disk->fe, 0, &r) == 0, "write of block %llu failed",
	      (unsigned long long)blk);
}

/* Pattern p on disk: 0 sequential 16 MiB, 1 random dense, 2 sparse. */
static void write_pattern(struct bu_disk *disk, unsigned int p,
			  struct rng *rng, unsigned char *buf)
{
	uint64_t i;

	switch (p) {
	case 0:
		for (i = 0; i < 16; i++)
			fe_rw(disk->fe, 0, XE_BLKIF_OP_WRITE, i * 2048, buf,
			      2048, FE_PACKED, rng);
		break;
	case 1: /* 4096 random blocks of the first 64 MiB */
		for (i = 0; i < 4096; i++)
			write_blk(disk, rng_below(rng, 16384), buf);
		break;
	default: /* 1024 random blocks of the whole 1 GiB */
		for (i = 0; i < 1024; i++)
			write_blk(disk, rng_below(rng, 262144), buf);
		break;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const char *const pattern_name[PATTERNS] = {
		"sequential, 16 MiB a disk",
		"4 KiB random, 25% of 64 MiB",
		"4 KiB random, 0.4% of 1 GiB",
	};
	struct rng rng = { test_seed("bench-scale") };
	unsigned int rounds = argc > 1 ? (unsigned int)atoi(argv[1]) : 20;
	unsigned int dpg = argc > 2 ? (unsigned int)atoi(argv[2]) : 1;
	struct bu_disk *disk = calloc(NR_DISKS, sizeof(*disk));
	/* guest memory: the only kind a frontend may grant */
	unsigned char *buf = sim_page_alloc(256);
	unsigned long rss0, rss1, rss2, lck0, lck1, lck2;
	unsigned long wpss1, wrss1, wpss2, wrss2;
	uint64_t map[PATTERNS] = { 0 }, used[PATTERNS] = { 0 };
	double *lat;
	struct bu_env e;
	unsigned int i, p;

	if (rounds < 1)
		rounds = 1;
	if (dpg < 1 || dpg > 4)
		dpg = 1;
	lat = calloc(rounds, sizeof(*lat));
	CHECK(disk && buf && lat, "out of memory");
	memset(buf, 0x5c, 1u << 20);
	bu_env_init(&e);
	/* The sim and the daemon are up: start counting from here. */
	rss0 = proc_kb("/proc/self/status", "VmRSS");
	lck0 = proc_kb("/proc/self/smaps_rollup", "Locked");
	for (i = 0; i < NR_DISKS; i++)
		bu_disk_open(&e, &disk[i], scale_domid(i, dpg),
			     scale_devid(i, dpg), DISK_SPEC, false, &linux_opts,
			     NULL, 0);
	rss1 = proc_kb("/proc/self/status", "VmRSS");
	lck1 = proc_kb("/proc/self/smaps_rollup", "Locked");
	workers_kb(&e, disk, dpg, &wpss1, &wrss1);

	/* A little I/O on each (one 4 KiB write and read), then idle. */
	for (i = 0; i < NR_DISKS; i++) {
		bu_write(&disk[i], 0, 8000, 8, FE_PACKED, &rng);
		bu_verify(&disk[i], 0, 8000, 8, FE_PACKED, &rng);
	}
	rss2 = proc_kb("/proc/self/status", "VmRSS");
	lck2 = proc_kb("/proc/self/smaps_rollup", "Locked");
	workers_kb(&e, disk, dpg, &wpss2, &wrss2);

	/* The block map under three patterns, a third of the disks each. */
	for (i = 0; i < NR_DISKS; i++) {
		struct xenbus_dev_info info;

		p = i % PATTERNS;
		write_pattern(&disk[i], p, &rng, buf);
		CHECK_OK(fe_daemon_dev(e.d, disk[i].domid, disk[i].devid,
				       &info));
		map[p] += info.cow.map_bytes;
		used[p] += info.cow.used_bytes;
	}

	/* Attach to InitWait, with the 63 others attached and connected. */
	for (i = 0; i < rounds; i++) {
		struct bu_disk *d = &disk[NR_DISKS - 1];
		uint16_t old = d->domid,
			 domid = (uint16_t)(FIRST_DOMID + NR_DISKS + 1 + i);
		struct xenbus_dev_info info;
		double t0;
		struct fe *fe;

		/* The last guest goes away; the daemon drops its disk. */
		CHECK_OK(sim_domain_destroy(e.sim, old));
		fe_domain_gone(d->fe);
		bu_disk_free(d);
		while (fe_daemon_dev(e.d, old, DEVID, &info) == 0)
			nanosleep(&(struct timespec){ 0, 200000 }, NULL);
		/* A new one: the toolstack writes its nodes. */
		bu_domain(&e, domid);
		t0 = now_ms();
		CHECK_OK(fe_attach(e.d, domid, DEVID, DISK_SPEC, false));
		CHECK_OK(fe_new(e.sim, domid, DEVID, &linux_opts, &fe));
		while (fe_backend_state(fe) != 2) {
			CHECK(now_ms() - t0 < 10000, "no InitWait in 10 s");
			nanosleep(&(struct timespec){ 0, 100000 }, NULL);
		}
		lat[i] = now_ms() - t0;
		fe_free(fe);
		bu_disk_connect(&e, d, domid, DEVID, DISK_SPEC, &linux_opts,
				NULL, 0);
	}
	qsort(lat, rounds, sizeof(*lat), cmp_double);

	printf("bench-scale: %u disks (%s, Linux blkfront defaults), %u a "
	       "guest (a worker process each)\n\n",
	       NR_DISKS, DISK_SPEC, dpg);
	printf("  %-46s %12s %12s\n", "figure", "measured", "target");
	/* This process (supervisor, simulated guests) plus the workers'
	 * proportional share (libraries shared between them counted once). */
	rss1 = rss1 - rss0 + wpss1;
	rss2 = rss2 - rss0 + wpss2;
	printf("  %-46s %8.0f KiB %8s KiB  %s\n",
	       "idle memory per disk, connected",
	       (double)rss1 / NR_DISKS, "<= 512",
	       rss1 / NR_DISKS <= 512 ? "(target met)" : "(BELOW TARGET)");
	printf("  %-46s %8.0f KiB %8s KiB  %s\n",
	       "idle memory per disk, after I/O",
	       (double)rss2 / NR_DISKS, "<= 512",
	       rss2 / NR_DISKS <= 512 ? "(target met)" : "(BELOW TARGET)");
	printf("  %-46s %8.0f KiB PSS, %.0f KiB RSS\n",
	       "  of which its worker process, connected",
	       (double)wpss1 / NR_DISKS, (double)wrss1 / NR_DISKS);
	printf("  %-46s %8.0f KiB PSS, %.0f KiB RSS\n",
	       "  of which its worker process, after I/O",
	       (double)wpss2 / NR_DISKS, (double)wrss2 / NR_DISKS);
	printf("  %-46s %8.0f KiB\n", "  of which locked, connected",
	       (double)(lck1 - lck0) / NR_DISKS);
	printf("  %-46s %8.0f KiB\n", "  of which locked, after I/O",
	       (double)(lck2 - lck0) / NR_DISKS);
	for (p = 0; p < PATTERNS; p++) {
		double pct = used[p] ? 100.0 * (double)map[p] /
					       (double)used[p] :
				       0;
		char what[96];

		snprintf(what, sizeof(what), "block map / overlay: %s",
			 pattern_name[p]);
		printf("  %-46s %10.3f %% %8s %%  %s\n", what, pct, "<= 0.2",
		       pct <= 0.2 ? "(target met)" : "(BELOW TARGET)");
	}
	printf("  %-46s %9.1f ms %8s ms  %s\n",
	       "attach to InitWait, 63 others attached (median)",
	       lat[rounds / 2], "< 100",
	       lat[rounds / 2] < 100 ? "(target met)" : "(BELOW TARGET)");
	printf("  %-46s %9.1f ms  (min %.1f, %u rounds)\n",
	       "  slowest round", lat[rounds - 1], lat[0], rounds);

	for (i = 0; i < NR_DISKS; i++) {
		bu_disk_close(&disk[i]);
		bu_disk_free(&disk[i]);
	}
	bu_env_fini(&e);
	free(disk);
	sim_page_free(buf);
	free(lat);
	return 0;
}
