/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An idle disk costs no CPU. One guest with two disks, one in RAM and one
 * xts (whose large requests start the cipher's helper threads), two queues
 * each with multi-page rings and indirect requests: 4 KiB and 1 MiB writes
 * and reads, batches of them in flight at once, then nothing. Over the
 * next two seconds the guest's worker process (every thread of it: ring
 * threads, cipher helpers, I/O) may use at most a tenth of one CPU: a
 * thread that polls, spins or wakes on a timer after the guest went quiet
 * would take the CPU its neighbours' guests need (in a real Xen, where
 * dom0 has few vCPUs, all of them slowed down at once).
 *
 * CPU time, not wall time: it counts what the worker did whatever else
 * the machine does.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/blkif-util.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define GUEST 5
#define XVDA 51712u
#define XVDB 51728u
#define MIB_SECTORS 2048u
#define IDLE_S 2
#define MAX_CPU_PCT 10

static void exercise(struct bu_disk *d, struct rng *rng)
{
	unsigned int q, i;

	for (q = 0; q < 2; q++) {
		/* 1 MiB requests: indirect, and the cipher's helpers */
		for (i = 0; i < 8; i++)
			bu_write(d, q, (uint64_t)(q * 8 + i) * MIB_SECTORS,
				 MIB_SECTORS, FE_PACKED, rng);
		for (i = 0; i < 8; i++)
			bu_verify(d, q, (uint64_t)(q * 8 + i) * MIB_SECTORS,
				  MIB_SECTORS, FE_PACKED, rng);
	}
	/* 4 KiB, several in flight on every queue, with flushes and
	 * discards among them */
	bu_random_ops(d, rng, 3000);
	bu_verify_all(d);
}

int main(void)
{
	struct rng rng = { test_seed("test-idle") };
	struct fe_opts o = { .order = 2, .queues = 2,
			     .abi = XE_BLKIF_ABI_NATIVE, .max_indirect = 256 };
	struct timespec idle = { .tv_sec = IDLE_S };
	double t0, used, limit = IDLE_S * MAX_CPU_PCT / 100.0;
	struct bu_disk r, x;
	struct bu_env e;
	char spec[400];

	bu_env_init(&e);
	bu_domain(&e, GUEST);
	bu_disk_open(&e, &r, GUEST, XVDA, "blank:size=64M", false, &o, NULL,
		     0);
	snprintf(spec, sizeof(spec), "blank:size=64M,store=xts,scratch=%s",
		 test_tmpdir());
	bu_disk_open(&e, &x, GUEST, XVDB, spec, false, &o, NULL, 0);
	CHECK(fe_daemon_worker_pid(e.d, GUEST) > 0, "guest %d has no worker",
	      GUEST);

	exercise(&r, &rng);
	exercise(&x, &rng);

	/* Let what the last requests started settle (a helper's spin of
	 * 50 us, a flush's I/O), then count. */
	nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 * 1000 }, NULL);
	t0 = bu_worker_cpu(&e, GUEST);
	while (nanosleep(&idle, &idle))
		;
	used = bu_worker_cpu(&e, GUEST) - t0;
	printf("test-idle: the worker used %.3f s of CPU over %d s idle (at "
	       "most %.1f)\n",
	       used, IDLE_S, limit);
	CHECK(used <= limit,
	      "an idle guest's worker used %.3f s of CPU (%.0f%% of one) over "
	      "%d s",
	      used, 100.0 * used / IDLE_S, IDLE_S);

	/* And it still serves. */
	bu_verify_all(&r);
	bu_verify_all(&x);
	bu_disk_close(&r);
	bu_disk_close(&x);
	bu_disk_free(&r);
	bu_disk_free(&x);
	bu_env_fini(&e);
	printf("test-idle: ok\n");
	return 0;
}
