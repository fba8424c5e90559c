/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-blkif: the whole data path in the simulated Xen (test frontend ->
 * ring -> backend thread -> cow view -> ram or xts store), next to the
 * overlay engine alone (cow_write/cow_read on a view of the same kind) and
 * memcpy, all measured in the same run so the ratios mean something on a
 * noisy machine.
 *
 *   4 KiB random: single-segment requests at random 4 KiB-aligned places,
 *                 the ring kept full (512 slots, order 4);
 *   1 MiB sequential: INDIRECT requests of 256 segments, 32 in flight.
 *
 * Each blkif figure is followed by the CPU a request cost in the frontend
 * (this thread) and in the rest of the process (the ring thread): on a
 * host whose two threads cannot really run at once, elapsed time is their
 * sum, and the backend's share is the figure a real guest would see.
 *
 * Targets (issue 3): blkif 4 KiB IOPS >= 0.7x the engine's, and blkif
 * 1 MiB sequential >= 0.5x memcpy. Measuring, not testing: it prints, and
 * exits 0 whatever the figures (1 only if something failed).
 *
 * Usage: bench-blkif [seconds per figure, default 1] [4k | seq]
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cow/cow.h"
#include "crypto/key.h"
#include "tests/blkif-util.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define MIB (1024.0 * 1024.0)
#define DISK_BYTES (64ull << 20)
#define DISK_SECTORS (DISK_BYTES / 512)
#define SEQ_SEGS 256u
#define SEQ_INFLIGHT 32u

static double cpu_now(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the engine alone ---- */

static struct cow *engine_view(bool xts)
{
	struct cow_params p = { .kind = COW_KIND_BLANK,
				.size_sectors = DISK_SECTORS };
	struct store *ram;
	struct cow *cow;

	CHECK_OK(store_ram_new(DISK_BYTES / 4096, &ram));
	if (xts) {
		struct key *key;

		CHECK_OK(key_new_random(&key));
		CHECK_OK(store_xts_new(ram, key, &p.overlay));
	} else {
		p.overlay = ram;
	}
	CHECK_OK(cow_new(&p, &cow));
	return cow;
}

/* ops/s of 4 KiB random writes (write) or reads */
static double engine_4k(struct cow *cow, bool write, struct rng *rng,
			double seconds)
{
	static uint8_t buf[4096] __attribute__((aligned(4096)));
	double t0 = now(), t;
	uint64_t n = 0;

	rng_fill(rng, buf, sizeof(buf));
	do {
		for (int i = 0; i < 256; i++, n++) {
			uint64_t s = 8 * rng_below(rng, DISK_SECTORS / 8);

			CHECK_OK(write ? cow_write(cow, buf, s, 8) :
					 cow_read(cow, buf, s, 8));
		}
		t = now() - t0;
	} while (t < seconds);
	return (double)n / t;
}

/* MB/s of 1 MiB sequential writes or reads */
static double engine_seq(struct cow *cow, bool write, double seconds)
{
	uint8_t *buf = aligned_alloc(4096, 1u << 20);
	double t0 = now(), t;
	uint64_t n = 0, s = 0;

	CHECK(buf, "out of memory");
	memset(buf, 0x3c, 1u << 20);
	do {
		for (int i = 0; i < 16; i++, n++) {
			CHECK_OK(write ? cow_write(cow, buf, s, 2048) :
					 cow_read(cow, buf, s, 2048));
			s = (s + 2048) % DISK_SECTORS;
		}
		t = now() - t0;
	} while (t < seconds);
	free(buf);
	return (double)n / t;
}

/*
 * MiB/s of memcpy of 1 MiB: between two cache-warm buffers (spread false),
 * or from one buffer into successive MiBs of a disk-sized one (spread
 * true: what an overlay write really costs, out of cache).
 */
static double memcpy_mib(bool spread, double seconds)
{
	size_t dst_bytes = spread ? DISK_BYTES : 1u << 20;
	uint8_t *a = aligned_alloc(4096, 1u << 20);
	uint8_t *b = aligned_alloc(4096, dst_bytes);
	double t0, t;
	uint64_t n = 0;

	CHECK(a && b, "out of memory");
	memset(a, 1, 1u << 20);
	memset(b, 2, dst_bytes);
	t0 = now();
	do {
		for (int i = 0; i < 64; i++, n++) {
			uint8_t *d = b + (n << 20) % dst_bytes;

			memcpy(i % 2 ? a : d, i % 2 ? d : a, 1u << 20);
			__asm__ volatile("" : : "r"(a), "r"(d) : "memory");
		}
		t = now() - t0;
	} while (t < seconds);
	free(a);
	free(b);
	return (double)n / t;
}

/* ---- through the ring ---- */

struct pool {
	struct fe_req *reqs;
	unsigned int *free_idx;
	unsigned int nr_free;
	uint64_t done;
};

static void on_done(struct fe_req *r, void *arg)
{
	struct pool *p = arg;

	CHECK(r->status == 0, "request failed: %d", r->status);
	p->free_idx[p->nr_free++] = (unsigned int)(r - p->reqs);
	p->done++;
}

/*
 * Keep up to depth requests of nsegs full pages in flight on queue 0 for
 * `seconds`; random 4 KiB places (nsegs 1) or sequential. Returns
 * requests per second.
 */
static double ring_run(struct fe *fe, uint8_t op, unsigned int nsegs,
		       unsigned int depth, struct rng *rng, double seconds,
		       char *last_cpu, size_t last_cpu_len)
{
	struct pool p = { 0 };
	struct fe_seg *segs = calloc((size_t)depth * nsegs, sizeof(*segs));
	uint64_t seq = 0, submitted = 0;
	double t0, t, fe_cpu0, fe_cpu, all_cpu0, all_cpu;
	unsigned int i;

	p.reqs = calloc(depth, sizeof(*p.reqs));
	p.free_idx = calloc(depth, sizeof(*p.free_idx));
	CHECK(segs && p.reqs && p.free_idx, "out of memory");
	for (i = 0; i < depth * nsegs; i++) {
		segs[i].page = aligned_alloc(4096, 4096);
		CHECK(segs[i].page, "out of memory");
		memset(segs[i].page, (int)i, 4096);
		segs[i].last_sect = 7;
	}
	for (i = 0; i < depth; i++) {
		p.reqs[i] = (struct fe_req){ .op = op,
					     .indirect = nsegs > 11,
					     .nr_segs = nsegs,
					     .segs = &segs[(size_t)i * nsegs],
					     .done_fn = on_done,
					     .done_arg = &p };
		p.free_idx[p.nr_free++] = depth - 1 - i;
	}
	fe_cpu0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
	all_cpu0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
	t0 = now();
	for (;;) {
		t = now() - t0;
		if (t >= seconds && submitted == p.done)
			break;
		while (p.nr_free && t < seconds) {
			struct fe_req *r = &p.reqs[p.free_idx[p.nr_free - 1]];
			int rc;

			if (nsegs == 1) {
				r->sector =
					8 * rng_below(rng, DISK_SECTORS / 8);
			} else {
				r->sector = seq;
				seq = (seq + 8ull * nsegs) % DISK_SECTORS;
			}
			rc = fe_submit(fe, 0, r);
			if (rc == -EAGAIN)
				break;
			CHECK_OK(rc);
			p.nr_free--;
			submitted++;
		}
		fe_kick(fe, 0);
		CHECK(fe_wait(fe, 0, 5000) >= 0, "no responses for 5 s");
	}
	t = now() - t0;
	fe_cpu = cpu_now(CLOCK_THREAD_CPUTIME_ID) - fe_cpu0;
	all_cpu = cpu_now(CLOCK_PROCESS_CPUTIME_ID) - all_cpu0;
	/* Where a request's time goes: this thread is the frontend, the
	 * rest of the process is (almost all) the ring thread. */
	snprintf(last_cpu, last_cpu_len,
		 "      cpu per request: frontend %.2f us, backend %.2f us; "
		 "%.2f us elapsed",
		 fe_cpu * 1e6 / (double)p.done,
		 (all_cpu - fe_cpu) * 1e6 / (double)p.done,
		 t * 1e6 / (double)p.done);
	for (i = 0; i < depth * nsegs; i++)
		free(segs[i].page);
	free(segs);
	free(p.reqs);
	free(p.free_idx);
	return (double)p.done / t;
}

static void row(const char *what, double blkif, double engine, const char *unit,
		double target)
{
	double ratio = blkif / engine;

	printf("  %-34s %10.0f %-5s %10.0f %-5s %5.2fx %s\n", what, blkif, unit,
	       engine, unit, ratio,
	       target > 0 ?
		       (ratio >= target ? "(target met)" : "(BELOW TARGET)") :
		       "");
}

int main(int argc, char **argv)
{
	struct rng rng = { test_seed("bench-blkif") };
	struct fe_opts o = { .order = 4,
			     .queues = 1,
			     .abi = XE_BLKIF_ABI_NATIVE,
			     .max_indirect = 256 };
	struct bu_env e;
	struct bu_disk disk[2];
	double mc, mc_spread, seconds = 1.0;
	char cpu[128];
	const char *only = NULL; /* "4k" or "seq": only those (profiling) */
	unsigned int k;

	if (argc > 1)
		seconds = atof(argv[1]);
	if (seconds <= 0)
		seconds = 1.0;
	if (argc > 2)
		only = argv[2];
	bu_env_init(&e);
	{
		char spec[4200];

		bu_disk_open(&e, &disk[0], 1, 51712, "blank:size=64M", false,
			     &o, NULL, 0);
		snprintf(spec, sizeof(spec),
			 "blank:size=64M,store=xts,scratch=%s", test_tmpdir());
		bu_disk_open(&e, &disk[1], 1, 51728, spec, false, &o, NULL, 0);
	}
	mc = memcpy_mib(false, seconds);
	mc_spread = memcpy_mib(true, seconds);
	printf("memcpy 1 MiB: %.0f MiB/s cache-warm, %.0f MiB/s over %llu "
	       "MiB\n",
	       mc, mc_spread, (unsigned long long)(DISK_BYTES >> 20));
	printf("  %-34s %16s %16s %6s\n", "", "blkif (sim)", "engine/memcpy",
	       "ratio");
	for (k = 0; k < 2; k++) {
		struct cow *cow = engine_view(k == 1);
		const char *store = k ? "xts" : "ram";
		char what[64];
		double b, en;
		unsigned int depth = fe_ring_size(disk[k].fe);

		/* fill both first, so reads are not of holes */
		engine_seq(cow, true, seconds);
		ring_run(disk[k].fe, XE_BLKIF_OP_WRITE, SEQ_SEGS, SEQ_INFLIGHT,
			 &rng, seconds, cpu, sizeof(cpu));

		if (only && strcmp(only, "4k"))
			goto seq;
		en = engine_4k(cow, true, &rng, seconds);
		b = ring_run(disk[k].fe, XE_BLKIF_OP_WRITE, 1, depth, &rng,
			     seconds, cpu, sizeof(cpu));
		snprintf(what, sizeof(what), "4 KiB random write, %s (IOPS)",
			 store);
		row(what, b, en, "", 0.7);
		puts(cpu);
		en = engine_4k(cow, false, &rng, seconds);
		b = ring_run(disk[k].fe, XE_BLKIF_OP_READ, 1, depth, &rng,
			     seconds, cpu, sizeof(cpu));
		snprintf(what, sizeof(what), "4 KiB random read, %s (IOPS)",
			 store);
		row(what, b, en, "", 0.7);
		puts(cpu);

seq:
		if (only && strcmp(only, "seq"))
			goto next;
		en = engine_seq(cow, true, seconds);
		b = ring_run(disk[k].fe, XE_BLKIF_OP_WRITE, SEQ_SEGS,
			     SEQ_INFLIGHT, &rng, seconds, cpu, sizeof(cpu));
		snprintf(what, sizeof(what), "1 MiB seq write, %s (MiB/s)",
			 store);
		row(what, b, en, "", 0);
		puts(cpu);
		snprintf(what, sizeof(what), "  ... vs memcpy");
		row(what, b, mc, "", k ? 0 : 0.5);
		snprintf(what, sizeof(what), "  ... vs memcpy over 64 MiB");
		row(what, b, mc_spread, "", 0);
		en = engine_seq(cow, false, seconds);
		b = ring_run(disk[k].fe, XE_BLKIF_OP_READ, SEQ_SEGS,
			     SEQ_INFLIGHT, &rng, seconds, cpu, sizeof(cpu));
		snprintf(what, sizeof(what), "1 MiB seq read, %s (MiB/s)",
			 store);
		row(what, b, en, "", 0);
		puts(cpu);
		snprintf(what, sizeof(what), "  ... vs memcpy");
		row(what, b, mc, "", k ? 0 : 0.5);
		snprintf(what, sizeof(what), "  ... vs memcpy over 64 MiB");
		row(what, b, mc_spread, "", 0);
next:
		cow_free(cow);
	}
	for (k = 0; k < 2; k++) {
		bu_disk_close(&disk[k]);
		bu_disk_free(&disk[k]);
	}
	bu_env_fini(&e);
	return 0;
}
