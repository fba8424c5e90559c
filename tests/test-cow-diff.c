/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Differential test of the copy-on-write view against a flat reference model.
 *
 * For each overlay (ram, xts-over-ram, xts-over-file) and each disk kind
 * (cow over a base whose size is not a whole number of blocks, blank) it
 * runs seeded random reads, writes and discards at 512-byte granularity,
 * unaligned and spanning blocks, split into several requests (each written
 * by cow_write() or by cow_write_apply(), some of whose fills scribble over
 * their destinations and fail, which must change nothing; read by cow_read()
 * or cow_read_apply()), and checks every read byte and the overlay's block count against the model. Then several
 * threads do the same at once on interleaved ranges: each thread owns runs of
 * G sectors (G < 8 makes threads share blocks, so their partial writes race
 * on copy-up; G >= 8 gives each thread whole blocks it may discard).
 *
 * It prints its seed; XE_SEED=N replays a run. It stops at the first
 * mismatch and says where.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cow/cow.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define BASE_BYTES (2u * 1024 * 1024 + 3 * 512) /* last block is partial */
#define MAX_REQ_SECTORS 512u
#define NR_THREADS 4
/* cow_write_apply()'s scratch for a request of MAX_REQ_SECTORS */
#define SCRATCH_BYTES ((MAX_REQ_SECTORS / 8 + 1) * STORE_BLK_BYTES)

struct model {
	uint64_t size_sectors;
	uint64_t nr_blks;
	unsigned char *bytes;
	unsigned char *alloc; /* per block: 1 if it should be in the overlay */
};

struct run {
	const char *label;
	uint64_t seed;
	struct cow *cow;
	struct model m;
	uint64_t ops;
};

static void model_write(struct model *m, uint64_t sector, const void *buf,
			uint64_t nr)
{
	uint64_t b;

	memcpy(m->bytes + sector * 512, buf, nr * 512);
	for (b = sector / 8; b <= (sector + nr - 1) / 8; b++)
		__atomic_store_n(&m->alloc[b], 1, __ATOMIC_RELAXED);
}

/* Mirrors cow_discard's contract: whole blocks only, the disk's partial last
 * block counting as whole when the range reaches the end. */
static void model_discard(struct model *m, uint64_t sector, uint64_t nr)
{
	uint64_t first = (sector + 7) / 8, end = (sector + nr) / 8, b;

	if (sector + nr == m->size_sectors)
		end = m->nr_blks;
	for (b = first; b < end; b++) {
		uint64_t lo = b * 8, hi = lo + 8;

		if (hi > m->size_sectors)
			hi = m->size_sectors;
		memset(m->bytes + lo * 512, 0, (hi - lo) * 512);
		__atomic_store_n(&m->alloc[b], 0, __ATOMIC_RELAXED);
	}
}

static uint64_t model_used(const struct model *m)
{
	uint64_t b, n = 0;

	for (b = 0; b < m->nr_blks; b++)
		n += m->alloc[b];
	return n;
}

/*
 * Split [sector, sector + nr) into 1-4 consecutive requests at random
 * sector boundaries: pieces that start and end anywhere in a block.
 */
struct piece {
	uint64_t sector, nr;
	size_t off; /* in the caller's buffer */
};

static int split_req(struct rng *r, uint64_t sector, uint64_t nr,
		     struct piece *pc)
{
	int n = 1 + (int)rng_below(r, 4), i;
	uint64_t left = nr;
	size_t off = 0;

	if ((uint64_t)n > nr)
		n = (int)nr;
	for (i = 0; i < n; i++) {
		uint64_t take = i == n - 1 ? left
					   : 1 + rng_below(r, left - (n - 1 - i));

		pc[i] = (struct piece){ sector, take, off };
		sector += take;
		off += take * 512;
		left -= take;
	}
	return n;
}

/* cow_write_apply()'s fill: the piece's bytes from the caller's buffer,
 * or (fail) an error, after a scribble over every destination unless the
 * fill is all-or-nothing. */
struct apply_src {
	const unsigned char *buf;
	uint32_t first_off, len;
	bool fail, scribble;
};

static int apply_fill(void *arg, unsigned char *const *blks, uint32_t nr_blks)
{
	const struct apply_src *a = arg;
	uint32_t done = 0, off = a->first_off, i = 0;

	if (a->fail) {
		for (i = 0; a->scribble && i < nr_blks; i++)
			memset(blks[i], 0xee, STORE_BLK_BYTES);
		return -EIO;
	}
	while (done < a->len) {
		uint32_t take = STORE_BLK_BYTES - off;

		if (take > a->len - done)
			take = a->len - done;
		CHECK(i < nr_blks, "fill ran past its %u blocks", nr_blks);
		memcpy(blks[i] + off, a->buf + done, take);
		done += take;
		off = 0;
		i++;
	}
	CHECK(i == nr_blks, "fill got %u blocks for %u", nr_blks, i);
	return 0;
}

/*
 * Write the pieces, each through cow_write() or cow_write_apply() (then
 * one in eight with a fill that fails, which must change nothing), and
 * update the model with what landed.
 */
static void write_pieces(struct rng *r, struct run *run,
			 const unsigned char *buf, const struct piece *pc,
			 int n, unsigned char *scratch)
{
	int i;

	for (i = 0; i < n; i++) {
		const unsigned char *p = buf + pc[i].off;
		uint64_t mode = rng_below(r, 3);
		unsigned int flags = rng_below(r, 2) ? COW_FILL_ALL_OR_NOTHING :
						       0;
		struct apply_src a = {
			.buf = p,
			.first_off = (uint32_t)(pc[i].sector % 8) * 512,
			.len = (uint32_t)pc[i].nr * 512,
			.fail = rng_below(r, 8) == 0,
			/* an all-or-nothing fill fails without a trace */
			.scribble = !(flags & COW_FILL_ALL_OR_NOTHING),
		};
		int rc;

		if (mode == 0) {
			CHECK_OK(cow_write(run->cow, p, pc[i].sector,
					   (uint32_t)pc[i].nr));
		} else {
			rc = cow_write_apply(run->cow, pc[i].sector,
					     (uint32_t)pc[i].nr, flags, scratch,
					     apply_fill, &a);
			if (a.fail) {
				CHECK(rc == -EIO,
				      "%s: a failed fill returned %d (seed "
				      "%llu)",
				      run->label, rc,
				      (unsigned long long)run->seed);
				continue; /* the model stays as it was */
			}
			CHECK_OK(rc);
		}
		model_write(&run->m, pc[i].sector, p, pc[i].nr);
	}
}

/* cow_read_apply()'s fn: the piece's bytes out of the blocks' pointers. */
struct apply_dst {
	unsigned char *buf;
	uint32_t first_off, len;
};

static int apply_out(void *arg, const unsigned char *const *blks,
		     uint32_t nr_blks)
{
	const struct apply_dst *a = arg;
	uint32_t done = 0, off = a->first_off, i;

	for (i = 0; i < nr_blks && done < a->len; i++, off = 0) {
		uint32_t take = STORE_BLK_BYTES - off;

		if (take > a->len - done)
			take = a->len - done;
		memcpy(a->buf + done, blks[i] + off, take);
		done += take;
	}
	CHECK(done == a->len, "read_apply gave %u of %u bytes", done, a->len);
	return 0;
}

/* Read the pieces, each through cow_read() or cow_read_apply(). */
static int read_pieces(struct rng *r, struct cow *cow, unsigned char *buf,
		       const struct piece *pc, int n, unsigned char *scratch)
{
	int i, rc = 0;

	for (i = 0; i < n && !rc; i++) {
		uint64_t first = pc[i].sector / 8;
		uint64_t last = (pc[i].sector + pc[i].nr - 1) / 8;
		struct apply_dst a = { buf + pc[i].off,
				       (uint32_t)(pc[i].sector % 8) * 512,
				       (uint32_t)pc[i].nr * 512 };

		if (rng_below(r, 2))
			rc = cow_read(cow, buf + pc[i].off, pc[i].sector,
				      (uint32_t)pc[i].nr);
		else
			rc = cow_read_apply(cow, first,
					    (uint32_t)(last - first + 1),
					    pc[i].nr, scratch, apply_out, &a);
	}
	return rc;
}

static void compare(const struct run *run, uint64_t op, uint64_t sector,
		    const unsigned char *got, uint64_t nr)
{
	const unsigned char *want = run->m.bytes + sector * 512;
	uint64_t i;

	if (!memcmp(got, want, nr * 512))
		return;
	for (i = 0; i < nr * 512 && got[i] == want[i]; i++)
		;
	fprintf(stderr,
		"MISMATCH %s seed %llu op %llu: read of %llu sectors at %llu: "
		"byte %llu (disk offset %llu) is 0x%02x, model has 0x%02x\n",
		run->label, (unsigned long long)run->seed,
		(unsigned long long)op, (unsigned long long)nr,
		(unsigned long long)sector, (unsigned long long)i,
		(unsigned long long)(sector * 512 + i), got[i], want[i]);
	exit(1);
}

/* A random request: mostly small, sometimes long, often unaligned. */
static void pick_range(struct rng *r, uint64_t size, uint64_t *sector_r,
		       uint64_t *nr_r)
{
	uint64_t p = rng_below(r, 100), nr, sector;

	if (p < 70)
		nr = 1 + rng_below(r, 16);
	else if (p < 95)
		nr = 1 + rng_below(r, 80);
	else
		nr = 1 + rng_below(r, MAX_REQ_SECTORS);
	sector = rng_below(r, size);
	if (rng_below(r, 100) < 30)
		sector &= ~7ull;
	if (nr > size - sector)
		nr = size - sector;
	*sector_r = sector;
	*nr_r = nr;
}

static void full_compare(struct run *run, const char *when)
{
	unsigned char *buf = malloc(run->m.size_sectors * 512);
	struct cow_stats st;

	CHECK(buf, "malloc");
	CHECK_OK(cow_read(run->cow, buf, 0, (uint32_t)run->m.size_sectors));
	compare(run, run->ops, 0, buf, run->m.size_sectors);
	free(buf);
	cow_get_stats(run->cow, &st);
	CHECK(st.used_blks == model_used(&run->m),
	      "%s %s: overlay holds %llu blocks, model says %llu (seed %llu)",
	      run->label, when, (unsigned long long)st.used_blks,
	      (unsigned long long)model_used(&run->m),
	      (unsigned long long)run->seed);
}

static void single_thread(struct run *run, struct rng *r, uint64_t nr_ops)
{
	unsigned char *buf = malloc(MAX_REQ_SECTORS * 512);
	unsigned char *scratch = aligned_alloc(4096, SCRATCH_BYTES);
	struct piece pc[4];
	uint64_t i, used = model_used(&run->m);
	struct cow_stats st;

	CHECK(buf && scratch, "malloc");
	for (i = 0; i < nr_ops; i++, run->ops++) {
		uint64_t sector, nr, p = rng_below(r, 100);
		int n;

		pick_range(r, run->m.size_sectors, &sector, &nr);
		if (p < 50) {
			rng_fill(r, buf, nr * 512);
			n = split_req(r, sector, nr, pc);
			write_pieces(r, run, buf, pc, n, scratch);
		} else if (p < 88) {
			memset(buf, 0xa5, nr * 512);
			n = split_req(r, sector, nr, pc);
			CHECK_OK(read_pieces(r, run->cow, buf, pc, n, scratch));
			compare(run, run->ops, sector, buf, nr);
		} else if (p < 97) {
			CHECK_OK(cow_discard(run->cow, sector, nr));
			model_discard(&run->m, sector, nr);
		} else {
			CHECK_OK(cow_flush(run->cow));
		}
		if ((i & 1023) == 0 || p >= 88) {
			used = model_used(&run->m);
			cow_get_stats(run->cow, &st);
			CHECK(st.used_blks == used,
			      "%s op %llu: overlay %llu blocks, model %llu "
			      "(seed %llu)",
			      run->label, (unsigned long long)run->ops,
			      (unsigned long long)st.used_blks,
			      (unsigned long long)used,
			      (unsigned long long)run->seed);
		}
	}
	free(buf);
	free(scratch);
}

struct worker {
	pthread_t tid;
	struct run *run;
	unsigned int id;
	uint64_t g;      /* interleave: runs of g sectors */
	uint64_t nr_ops;
	uint64_t seed;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	uint64_t size = run->m.size_sectors;
	uint64_t nr_runs = (size + w->g - 1) / w->g;
	uint64_t mine = (nr_runs + NR_THREADS - 1 - w->id) / NR_THREADS;
	unsigned char *buf = malloc(w->g * 512);
	unsigned char *scratch = aligned_alloc(4096, SCRATCH_BYTES);
	struct rng r = { w->seed };
	struct piece pc[4];
	uint64_t i;

	CHECK(buf && scratch, "malloc");
	for (i = 0; i < w->nr_ops && mine; i++) {
		uint64_t runno = w->id + NR_THREADS * rng_below(&r, mine);
		uint64_t lo = runno * w->g, hi = lo + w->g, a, nr, p;
		int n;

		if (hi > size)
			hi = size;
		a = lo + rng_below(&r, hi - lo);
		nr = 1 + rng_below(&r, hi - a);
		p = rng_below(&r, 100);
		if (p < 55) {
			rng_fill(&r, buf, nr * 512);
			n = split_req(&r, a, nr, pc);
			write_pieces(&r, run, buf, pc, n, scratch);
		} else if (p < 90) {
			n = split_req(&r, a, nr, pc);
			CHECK_OK(read_pieces(&r, run->cow, buf, pc, n, scratch));
			compare(run, i, a, buf, nr);
		} else if (a + nr < size) {
			/* Never reach the disk's end: its partial last block
			 * would count as whole and hold others' sectors. */
			CHECK_OK(cow_discard(run->cow, a, nr));
			model_discard(&run->m, a, nr);
		}
	}
	free(buf);
	free(scratch);
	return NULL;
}

static void multi_thread(struct run *run, struct rng *r, uint64_t nr_ops)
{
	static const uint64_t gs[] = { 1, 2, 3, 4, 5, 8, 16, 24, 64 };
	struct worker w[NR_THREADS];
	unsigned int t;
	uint64_t g = gs[rng_below(r, sizeof(gs) / sizeof(gs[0]))];

	printf("  %s: %d threads, interleave %llu sectors\n", run->label,
	       NR_THREADS, (unsigned long long)g);
	for (t = 0; t < NR_THREADS; t++) {
		w[t] = (struct worker){ .run = run, .id = t, .g = g,
					.nr_ops = nr_ops / NR_THREADS,
					.seed = rng_next(r) };
		CHECK(pthread_create(&w[t].tid, NULL, worker_main, &w[t]) == 0,
		      "pthread_create");
	}
	for (t = 0; t < NR_THREADS; t++)
		pthread_join(w[t].tid, NULL);
	run->ops += nr_ops;
}

static uint64_t one_config(enum test_overlay ov, enum cow_kind kind,
			   const char *base_path, const unsigned char *base,
			   uint64_t seed, uint64_t nr_ops)
{
	struct cow_params p = { .kind = kind };
	struct rng r = { seed };
	char label[64];
	struct run run = { .label = label, .seed = seed };
	int round;

	snprintf(label, sizeof(label), "%s/%s", test_overlay_name(ov),
		 kind == COW_KIND_COW ? "cow" : "blank");
	if (kind == COW_KIND_COW) {
		CHECK_OK(store_base_open(base_path, &p.base, &p.base_bytes));
		run.m.size_sectors = p.base_bytes / 512;
	} else {
		p.size_sectors = BASE_BYTES / 512;
		run.m.size_sectors = p.size_sectors;
	}
	run.m.nr_blks = (run.m.size_sectors + 7) / 8;
	run.m.bytes = calloc(run.m.size_sectors, 512);
	run.m.alloc = calloc(run.m.nr_blks, 1);
	CHECK(run.m.bytes && run.m.alloc, "calloc");
	if (kind == COW_KIND_COW)
		memcpy(run.m.bytes, base, run.m.size_sectors * 512);
	p.overlay = test_overlay_new(ov, run.m.nr_blks);
	CHECK_OK(cow_new(&p, &run.cow));

	full_compare(&run, "fresh");
	/* Alternate phases so threads start from a well-mixed overlay. */
	for (round = 0; round < 2; round++) {
		single_thread(&run, &r, nr_ops / 4);
		full_compare(&run, "after single-thread phase");
		multi_thread(&run, &r, nr_ops / 4);
		full_compare(&run, "after multi-thread phase");
	}
	printf("  %s: %llu ops OK\n", label, (unsigned long long)run.ops);
	cow_free(run.cow);
	free(run.m.bytes);
	free(run.m.alloc);
	return run.ops;
}

int main(void)
{
	static const enum test_overlay ovs[] = { TEST_RAM, TEST_XTS_RAM,
						 TEST_XTS_FILE };
	uint64_t seed = test_seed("test-cow-diff");
	uint64_t per = (uint64_t)(180000 * test_scale()), total = 0;
	unsigned char *base = malloc(BASE_BYTES);
	unsigned char before[32], after[32];
	struct rng r = { seed };
	char *base_path;
	unsigned int i;

	CHECK(base, "malloc");
	rng_fill(&r, base, BASE_BYTES);
	base_path = test_write_file("base.img", base, BASE_BYTES);
	test_sha256_file(base_path, before);
	for (i = 0; i < sizeof(ovs) / sizeof(ovs[0]); i++) {
		total += one_config(ovs[i], COW_KIND_COW, base_path, base,
				    rng_next(&r), per);
		total += one_config(ovs[i], COW_KIND_BLANK, NULL, NULL,
				    rng_next(&r), per);
	}
	test_sha256_file(base_path, after);
	CHECK(!memcmp(before, after, 32), "the base image changed");
	printf("test-cow-diff: %llu operations, all reads matched the model\n",
	       (unsigned long long)total);
	unlink(base_path);
	free(base_path);
	free(base);
	return 0;
}
