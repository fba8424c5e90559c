/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A scratch filesystem that fills up for real: an XTS overlay on a 256 KiB
 * tmpfs, a guest that writes 1 MiB, block by block. Writes past what the
 * filesystem holds fail with an I/O error (never a dead disk, never a
 * hang), every block that was acknowledged reads back as written, every
 * block that failed reads as before (zeros), and a disk in RAM beside it
 * does not notice. Needs root (to mount the tmpfs): skipped (77) without.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/blkif-util.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define SECTOR XE_BLKIF_SECTOR_BYTES
#define GUEST 5
#define XVDA 51712u
#define XVDB 51728u
#define BLOCKS 256u

int main(void)
{
	struct rng rng = { test_seed("test-scratch-full") };
	struct fe_opts o = { .order = 1, .queues = 2,
			     .abi = XE_BLKIF_ABI_NATIVE, .max_indirect = 64 };
	struct bu_disk x, r;
	struct bu_env e;
	char dir[256], spec[400];
	unsigned int ok = 0, failed = 0;
	int st;

	if (geteuid() != 0) {
		printf("test-scratch-full: needs root to mount a small tmpfs: "
		       "skipped\n");
		return 77;
	}
	snprintf(dir, sizeof(dir), "%s/full", test_tmpdir());
	CHECK(mkdir(dir, 0700) == 0, "mkdir %s: %s", dir, strerror(errno));
	CHECK(mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700") == 0,
	      "mount tmpfs: %s", strerror(errno));

	bu_env_init(&e);
	snprintf(spec, sizeof(spec), "blank:size=4M,store=xts,scratch=%s",
		 dir);
	bu_disk_open(&e, &x, GUEST, XVDA, spec, false, &o, NULL, 0);
	bu_disk_open(&e, &r, GUEST, XVDB, "blank:size=4M", false, &o, NULL,
		     0);
	ok = bu_fill_beside(&x, &r, &rng, BLOCKS, NULL, &failed);
	/* A flush on a page-cache scratch asks the kernel about write-back
	 * errors (sync_file_range), in the sandboxed worker: none here, the
	 * filesystem refused at once what it could not hold. */
	st = fe_flush(x.fe, 0);
	CHECK(st == XE_BLKIF_RSP_OKAY, "flush after ENOSPC: status %d", st);
	CHECK(ok >= 16 && failed >= BLOCKS / 2,
	      "%u blocks written, %u failed: the filesystem never filled", ok,
	      failed);
	bu_verify_all(&x); /* written ones as written, failed ones zeros */
	bu_verify_all(&r);
	printf("  scratch fills up: %u blocks written, %u refused with I/O "
	       "errors, every block reads right, the other disk unharmed: "
	       "ok\n",
	       ok, failed);
	bu_disk_close(&x);
	bu_disk_close(&r);
	bu_disk_free(&x);
	bu_disk_free(&r);
	bu_env_fini(&e);
	CHECK(umount(dir) == 0, "umount: %s", strerror(errno));
	rmdir(dir);
	printf("test-scratch-full: OK\n");
	return 0;
}
