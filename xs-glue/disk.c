/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * From a spec to a plan and its descriptors (the supervisor's half: the
 * filesystem), and to a view (backend/view.c, the half a worker does). The
 * overlay is sized to the disk's limit (or to the whole disk when there is
 * none): a RAM store only reserves address space up front, and a scratch
 * file is sparse, so an unused limit costs nothing. Every failure names
 * what failed, for the device's error node.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/view.h"
#include "cow/store.h"
#include "xs-glue/disk.h"

/*
 * scratch= names a directory (for an unnamed O_TMPFILE) or a block device
 * (docs/disk-spec.md). Anything else would make the file store create or
 * reuse a named file, which outlives the disk: refuse it here.
 */
static int check_scratch(const char *path, char *err, size_t err_len)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		int rc = -errno;

		snprintf(err, err_len, "scratch %s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISBLK(st.st_mode)) {
		snprintf(err, err_len,
			 "scratch %s: not a directory or block device", path);
		return -EINVAL;
	}
	return 0;
}

/*
 * A scratch block device bounds the overlay; one smaller than the limit
 * is refused, as before (the limit would be a lie).
 */
static int scratch_blks(int fd, uint64_t *overlay_blks, uint64_t limit_blks,
			const char *path, char *err, size_t err_len)
{
	struct stat st;
	uint64_t bytes;

	if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode))
		return 0;
	if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
		snprintf(err, err_len, "scratch %s: %s", path, strerror(errno));
		return -errno;
	}
	if (bytes / STORE_BLK_BYTES < limit_blks) {
		snprintf(err, err_len,
			 "scratch %s: %llu MiB, smaller than the limit", path,
			 (unsigned long long)(bytes >> 20));
		return -ENOSPC;
	}
	if (bytes / STORE_BLK_BYTES < *overlay_blks)
		*overlay_blks = bytes / STORE_BLK_BYTES;
	return 0;
}

void disk_plan_close(struct disk_plan *dp)
{
	if (dp->base_fd >= 0)
		close(dp->base_fd);
	if (dp->scratch_fd >= 0)
		close(dp->scratch_fd);
	dp->base_fd = dp->scratch_fd = -1;
}

int disk_plan_open(const struct diskspec *spec, struct disk_plan *dp,
		   char *err, size_t err_len)
{
	struct wire_plan *p = &dp->plan;
	uint64_t disk_bytes;
	int rc;

	memset(dp, 0, sizeof(*dp));
	dp->base_fd = dp->scratch_fd = -1;
	p->on_full_pause = spec->on_full == DISKSPEC_ON_FULL_PAUSE;
	if (spec->kind == DISKSPEC_BLANK &&
	    spec->size_bytes > COW_MAX_DISK_BYTES) {
		snprintf(err, err_len,
			 "size= is larger than 16T, the largest disk served");
		return -EFBIG;
	}
	switch (spec->kind) {
	case DISKSPEC_COW:
	case DISKSPEC_RO:
		p->kind = spec->kind == DISKSPEC_COW ? COW_KIND_COW :
						       COW_KIND_READONLY;
		rc = store_base_fd_open(spec->base, &p->base_bytes);
		if (rc < 0) {
			snprintf(err, err_len, "base %s: %s", spec->base,
				 rc == -ENOTBLK ?
					 "is not a regular file or block device" :
					 strerror(-rc));
			return rc;
		}
		dp->base_fd = rc;
		p->has_base = 1;
		if (p->base_bytes < COW_SECTOR_BYTES) {
			snprintf(err, err_len, "base %s: smaller than a sector",
				 spec->base);
			disk_plan_close(dp);
			return -EINVAL;
		}
		if (p->base_bytes > COW_MAX_DISK_BYTES) {
			snprintf(err, err_len,
				 "base %s: larger than 16T, the largest disk "
				 "served",
				 spec->base);
			disk_plan_close(dp);
			return -EFBIG;
		}
		disk_bytes = p->base_bytes;
		break;
	case DISKSPEC_BLANK:
		p->kind = COW_KIND_BLANK;
		p->size_sectors = spec->size_bytes / COW_SECTOR_BYTES;
		disk_bytes = spec->size_bytes;
		break;
	default:
		snprintf(err, err_len, "unknown disk kind");
		return -EINVAL;
	}

	if (p->kind != COW_KIND_READONLY) {
		/* The overlay store can hold the whole disk (RAM is only
		 * reserved, a scratch file is sparse), so that set-limit may
		 * raise the limit up to the disk's size; a limit above that
		 * is the disk's size. */
		uint64_t cap = spec->limit_bytes && spec->limit_bytes < disk_bytes ?
				       spec->limit_bytes :
				       disk_bytes;

		p->overlay_blks =
			(disk_bytes + STORE_BLK_BYTES - 1) / STORE_BLK_BYTES;
		if (p->overlay_blks > COW_MAX_OVERLAY_BLKS)
			p->overlay_blks = COW_MAX_OVERLAY_BLKS;
		p->limit_blks = (cap + STORE_BLK_BYTES - 1) / STORE_BLK_BYTES;
		if (p->limit_blks > p->overlay_blks)
			p->limit_blks = p->overlay_blks;
		if (spec->store == DISKSPEC_STORE_RAM) {
			p->store = WIRE_STORE_RAM;
		} else {
			p->store = WIRE_STORE_XTS;
			rc = check_scratch(spec->scratch, err, err_len);
			if (!rc) {
				rc = store_scratch_open(spec->scratch);
				if (rc < 0)
					snprintf(err, err_len, "scratch %s: %s",
						 spec->scratch, strerror(-rc));
			}
			if (rc < 0) {
				disk_plan_close(dp);
				return rc;
			}
			dp->scratch_fd = rc;
			p->has_scratch = 1;
			/* A scratch device holds what it holds: no more. */
			rc = scratch_blks(dp->scratch_fd, &p->overlay_blks,
					  p->limit_blks, spec->scratch, err,
					  err_len);
			if (rc) {
				disk_plan_close(dp);
				return rc;
			}
		}
	}
	return 0;
}

int disk_open(const struct diskspec *spec, struct cow_budget *budget,
	      struct cow **cow_r, char *err, size_t err_len)
{
	struct disk_plan dp;
	int rc = disk_plan_open(spec, &dp, err, err_len);

	if (rc)
		return rc;
	/* view_build owns the descriptors from here */
	return view_build(&dp.plan, dp.base_fd, dp.scratch_fd, budget, cow_r,
			  err, err_len);
}
