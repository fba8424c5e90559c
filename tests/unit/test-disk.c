/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * disk_open(): from a parsed spec to a working view, and every way it can
 * refuse (each with a message naming what failed). Run under the sanitizer
 * build and valgrind, the failure paths also prove nothing leaks.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/check.h"
#include "tests/testlib.h"
#include "xs-glue/disk.h"

static struct diskspec *spec_of(const char *text)
{
	static struct diskspec spec;
	char err[DISKSPEC_ERR_MAX];

	CHECK(diskspec_parse(text, strlen(text), &spec, err, sizeof(err)) == 0,
	      "spec '%s': %s", text, err);
	return &spec;
}

/* Open text, write a block, read it back (or expect -EROFS). */
static void opens(const char *text, uint64_t sectors, bool writable)
{
	unsigned char buf[4096], out[4096];
	char err[256] = "";
	struct cow *cow;
	int rc;

	rc = disk_open(spec_of(text), NULL, &cow, err, sizeof(err));
	CHECK(rc == 0, "%s: %d %s", text, rc, err);
	CHECK(cow_size_sectors(cow) == sectors, "%s: %llu sectors", text,
	      (unsigned long long)cow_size_sectors(cow));
	memset(buf, 0x5c, sizeof(buf));
	rc = cow_write(cow, buf, 8, 8);
	if (writable) {
		CHECK_OK(rc);
		CHECK_OK(cow_read(cow, out, 8, 8));
		CHECK(!memcmp(buf, out, sizeof(buf)), "%s: read back", text);
	} else {
		CHECK(rc == -EROFS, "%s: write gave %d", text, rc);
	}
	cow_free(cow);
}

/* The disk opens, and its overlay limit is want_blks blocks. */
static void limit_is(const char *text, uint64_t want_blks)
{
	unsigned char buf[4096] = { 1 };
	struct cow_stats st;
	char err[256] = "";
	struct cow *cow;
	int rc;

	rc = disk_open(spec_of(text), NULL, &cow, err, sizeof(err));
	CHECK(rc == 0, "%s: %d %s", text, rc, err);
	cow_get_stats(cow, &st);
	CHECK(st.limit_blks == want_blks, "%s: limit %llu blocks, want %llu",
	      text, (unsigned long long)st.limit_blks,
	      (unsigned long long)want_blks);
	CHECK_OK(cow_write(cow, buf, 0, 8));
	cow_free(cow);
}

static void refuses(const char *text, int want, const char *words)
{
	char err[256] = "";
	struct cow *cow = NULL;
	int rc = disk_open(spec_of(text), NULL, &cow, err, sizeof(err));

	CHECK(rc == want, "%s: %d, expected %d", text, rc, want);
	CHECK(strstr(err, words), "%s: message '%s' lacks '%s'", text, err,
	      words);
	CHECK(cow == NULL, "%s: view set on failure", text);
}

int main(void)
{
	unsigned char img[64 * 1024];
	char spec[8192];
	char *base;
	struct rng r = { test_seed("test-disk") };

	rng_fill(&r, img, sizeof(img));
	base = test_write_file("disk-base.img", img, sizeof(img));

	snprintf(spec, sizeof(spec), "cow:base=%s", base);
	opens(spec, 128, true);
	snprintf(spec, sizeof(spec), "cow:base=%s,store=xts,scratch=%s,limit=8K",
		 base, test_tmpdir());
	opens(spec, 128, true);
	snprintf(spec, sizeof(spec), "ro:base=%s", base);
	opens(spec, 128, false);
	opens("blank:size=1M", 2048, true);
	snprintf(spec, sizeof(spec), "blank:size=1M,store=xts,scratch=%s",
		 test_tmpdir());
	opens(spec, 2048, true);

	refuses("cow:base=/nonexistent/base.img", -ENOENT, "/nonexistent");
	refuses("blank:size=1M,store=xts,scratch=/nonexistent/dir/file",
		-ENOENT, "scratch /nonexistent");
	/* the plan: an overlay that can hold the whole disk (so set-limit
	 * may raise the limit), the limit, and the policy */
	{
		struct disk_plan dp;
		char err[256];

		CHECK_OK(disk_plan_open(
			spec_of("blank:size=1M,limit=64K,on-full=pause"), &dp,
			err, sizeof(err)));
		CHECK(dp.plan.on_full_pause && dp.plan.overlay_blks == 256 &&
			      dp.plan.limit_blks == 16 && dp.base_fd < 0 &&
			      dp.scratch_fd < 0,
		      "plan: pause %u, overlay %llu, limit %llu",
		      dp.plan.on_full_pause,
		      (unsigned long long)dp.plan.overlay_blks,
		      (unsigned long long)dp.plan.limit_blks);
		disk_plan_close(&dp);
	}
	snprintf(spec, sizeof(spec), "cow:base=%s", test_tmpdir());
	refuses(spec, -EISDIR, "base");

	/*
	 * A FIFO as base once hung the whole daemon in open(2): the type is
	 * checked on a non-blocking open now. alarm() turns a hang into a
	 * failure instead of a stalled test run.
	 */
	alarm(20);
	snprintf(spec, sizeof(spec), "%s/base.fifo", test_tmpdir());
	CHECK(mkfifo(spec, 0600) == 0, "mkfifo");
	{
		char fifo_spec[8300];

		snprintf(fifo_spec, sizeof(fifo_spec), "cow:base=%s", spec);
		refuses(fifo_spec, -ENOTBLK,
			"is not a regular file or block device");
		snprintf(fifo_spec, sizeof(fifo_spec), "ro:base=%s", spec);
		refuses(fifo_spec, -ENOTBLK,
			"is not a regular file or block device");
	}
	unlink(spec);
	refuses("cow:base=/dev/null", -ENOTBLK,
		"is not a regular file or block device");
	alarm(0);

	/*
	 * Limits and sizes at their bounds (issue 13.4): a limit above the
	 * disk's size means the disk's size (it used to be refused as
	 * "view: Invalid argument", to fail with ENOMEM, to wrap to 0 blocks
	 * or to reserve 100 GiB of address space for a 1 MiB disk); a disk
	 * larger than the view can map is refused with a sentence.
	 */
	limit_is("blank:size=1M,limit=16T", 256);
	limit_is("blank:size=1M,limit=16777215T", 256);
	limit_is("blank:size=1M,limit=18446744073709551615", 256);
	limit_is("blank:size=1M,limit=100G", 256);
	limit_is("blank:size=1M,limit=1", 1);
	limit_is("blank:size=1M,limit=5000", 2);
	limit_is("blank:size=1M", 256);
	limit_is("blank:size=16T,limit=1G", 262144);
	refuses("blank:size=17T", -EFBIG, "larger than 16T");
	refuses("blank:size=18446744073709551104", -EFBIG, "larger than 16T");

	unlink(base);
	free(base);
	printf("test-disk: OK\n");
	return 0;
}
