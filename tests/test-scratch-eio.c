/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A scratch device that returns EIO for real: an XTS overlay on a loop
 * device whose backing file lives on a 256 KiB tmpfs. The device claims
 * 8 MiB; once the tmpfs is full, every write that reaches the backing file
 * fails and the loop driver completes it with an I/O error.
 *
 * The guest writes 1 MiB block by block, then the device's cache is
 * dropped (BLKFLSBUF, as memory pressure would), then the guest flushes and
 * reads the whole disk. What must hold: no hang; every write either fails
 * or is acknowledged; every acknowledged block reads back as written or its
 * read fails with an I/O error (never the zeros of a lost write decrypted
 * into garbage); failed blocks read as before; a flush after lost writes
 * does not succeed; a disk in RAM beside it does not notice.
 *
 * Needs root (tmpfs, a loop device): skipped (77) without.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/blkif-util.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define GUEST 6
#define XVDA 51712u
#define XVDB 51728u
#define BLOCKS 256u

static int loop_attach(const char *backing, char *dev, size_t dev_len)
{
	int ctl, nr, fd, bfd;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	nr = ioctl(ctl, LOOP_CTL_GET_FREE);
	close(ctl);
	if (nr < 0)
		return -errno;
	snprintf(dev, dev_len, "/dev/loop%d", nr);
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	bfd = open(backing, O_RDWR | O_CLOEXEC);
	CHECK(bfd >= 0, "open %s: %s", backing, strerror(errno));
	if (ioctl(fd, LOOP_SET_FD, bfd) < 0) {
		int rc = -errno;

		close(bfd);
		close(fd);
		return rc;
	}
	close(bfd);
	return fd;
}

int main(void)
{
	struct rng rng = { test_seed("test-scratch-eio") };
	struct fe_opts o = { .order = 1, .queues = 2,
			     .abi = XE_BLKIF_ABI_NATIVE, .max_indirect = 64 };
	static uint8_t got[4096];
	static bool acked[BLOCKS];
	struct bu_disk x, r;
	struct bu_env e;
	char dir[256], backing[300], dev[64], spec[400];
	unsigned int ok = 0, failed = 0, read_ok = 0, read_err = 0, i;
	int lfd, bfd, st;

	if (geteuid() != 0) {
		printf("test-scratch-eio: needs root for a tmpfs and a loop "
		       "device: skipped\n");
		return 77;
	}
	snprintf(dir, sizeof(dir), "%s/eio", test_tmpdir());
	CHECK(mkdir(dir, 0700) == 0, "mkdir %s: %s", dir, strerror(errno));
	CHECK(mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700") == 0,
	      "mount tmpfs: %s", strerror(errno));
	snprintf(backing, sizeof(backing), "%s/backing", dir);
	bfd = open(backing, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(bfd >= 0 && ftruncate(bfd, 8 << 20) == 0, "backing file: %s",
	      strerror(errno));
	close(bfd);
	lfd = loop_attach(backing, dev, sizeof(dev));
	if (lfd == -ENOENT || lfd == -ENXIO || lfd == -ENODEV) {
		/* no loop driver on this host: a missing prerequisite */
		printf("test-scratch-eio: no loop device (%s): skipped\n",
		       strerror(-lfd));
		umount(dir);
		return 77;
	}
	CHECK(lfd >= 0, "loop device over %s: %s", backing, strerror(-lfd));

	bu_env_init(&e);
	snprintf(spec, sizeof(spec), "blank:size=4M,store=xts,scratch=%s",
		 dev);
	bu_disk_open(&e, &x, GUEST, XVDA, spec, false, &o, NULL, 0);
	bu_disk_open(&e, &r, GUEST, XVDB, "blank:size=4M", false, &o, NULL,
		     0);
	ok = bu_fill_beside(&x, &r, &rng, BLOCKS, acked, &failed);

	/* What memory pressure does to a cached device: write back what is
	 * dirty (and fails), forget what is cached. */
	(void)ioctl(lfd, BLKFLSBUF, 0);

	st = fe_flush(x.fe, 0);
	CHECK(st == XE_BLKIF_RSP_OKAY || st == XE_BLKIF_RSP_ERROR,
	      "flush: status %d", st);
	/* Writes that reached the device and were lost there must not let a
	 * flush succeed; written through to the device as they are, every
	 * lost one was refused at once and the flush has nothing to own. */
	CHECK(failed >= BLOCKS / 2 || st == XE_BLKIF_RSP_ERROR,
	      "all %u writes acknowledged, %u refused, and the flush "
	      "succeeded: the device's errors were lost", ok, failed);

	for (i = 0; i < BLOCKS; i++) {
		memset(got, 0xa5, sizeof(got));
		st = fe_rw(x.fe, i % 2, XE_BLKIF_OP_READ, (uint64_t)i * 8, got,
			   8, FE_PACKED, &rng);
		CHECK(st == XE_BLKIF_RSP_OKAY || st == XE_BLKIF_RSP_ERROR,
		      "read block %u: status %d", i, st);
		if (st != XE_BLKIF_RSP_OKAY) {
			read_err++;
			continue;
		}
		read_ok++;
		CHECK(!memcmp(got, x.model + (size_t)i * 4096, 4096),
		      "block %u (%s) reads wrong data after the device's "
		      "errors", i, acked[i] ? "acknowledged" : "refused");
	}
	CHECK(ok >= 16, "only %u blocks written before the device failed",
	      ok);
	bu_verify_all(&r);
	printf("  scratch device fails: %u writes acknowledged, %u refused "
	       "with I/O errors; reads: %u right, %u I/O errors, none wrong; "
	       "the other disk unharmed: ok\n",
	       ok, failed, read_ok, read_err);
	bu_disk_close(&x);
	bu_disk_close(&r);
	bu_disk_free(&x);
	bu_disk_free(&r);
	bu_env_fini(&e);
	CHECK(ioctl(lfd, LOOP_CLR_FD, 0) == 0, "LOOP_CLR_FD: %s",
	      strerror(errno));
	close(lfd);
	CHECK(umount(dir) == 0, "umount: %s", strerror(errno));
	rmdir(dir);
	printf("test-scratch-eio: OK\n");
	return 0;
}
