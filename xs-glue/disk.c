/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Building a view from a spec. The overlay is sized to the disk's limit (or
 * to the whole disk when there is none): a RAM store only reserves address
 * space up front, and a scratch file is sparse, so an unused limit costs
 * nothing. Every failure names what failed, for the device's error node.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/key.h"
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

int disk_open(const struct diskspec *spec, struct cow_budget *budget,
	      struct cow **cow_r, char *err, size_t err_len)
{
	struct cow_params p = { .budget = budget };
	struct store *lower = NULL;
	struct key *key = NULL;
	uint64_t disk_bytes, overlay_blks;
	int rc;

	if (spec->on_full == DISKSPEC_ON_FULL_PAUSE) {
		snprintf(err, err_len, "on-full=pause is not supported yet");
		return -EOPNOTSUPP;
	}
	if (spec->kind == DISKSPEC_BLANK &&
	    spec->size_bytes > COW_MAX_DISK_BYTES) {
		snprintf(err, err_len,
			 "size= is larger than 16T, the largest disk served");
		return -EFBIG;
	}
	switch (spec->kind) {
	case DISKSPEC_COW:
	case DISKSPEC_RO:
		p.kind = spec->kind == DISKSPEC_COW ? COW_KIND_COW :
						      COW_KIND_READONLY;
		rc = store_base_open(spec->base, &p.base, &p.base_bytes);
		if (rc) {
			snprintf(err, err_len, "base %s: %s", spec->base,
				 rc == -ENOTBLK ?
					 "is not a regular file or block device" :
					 strerror(-rc));
			return rc;
		}
		if (p.base_bytes < COW_SECTOR_BYTES) {
			snprintf(err, err_len, "base %s: smaller than a sector",
				 spec->base);
			store_destroy(p.base);
			return -EINVAL;
		}
		if (p.base_bytes > COW_MAX_DISK_BYTES) {
			snprintf(err, err_len,
				 "base %s: larger than 16T, the largest disk "
				 "served",
				 spec->base);
			store_destroy(p.base);
			return -EFBIG;
		}
		disk_bytes = p.base_bytes;
		break;
	case DISKSPEC_BLANK:
		p.kind = COW_KIND_BLANK;
		p.size_sectors = spec->size_bytes / COW_SECTOR_BYTES;
		disk_bytes = spec->size_bytes;
		break;
	default:
		snprintf(err, err_len, "unknown disk kind");
		return -EINVAL;
	}

	if (p.kind != COW_KIND_READONLY) {
		/* A limit above the disk's size is the disk's size: the
		 * overlay never holds more blocks than the disk has. */
		uint64_t cap = spec->limit_bytes && spec->limit_bytes < disk_bytes ?
				       spec->limit_bytes :
				       disk_bytes;

		overlay_blks = (cap + STORE_BLK_BYTES - 1) / STORE_BLK_BYTES;
		if (overlay_blks > COW_MAX_OVERLAY_BLKS)
			overlay_blks = COW_MAX_OVERLAY_BLKS;
		if (spec->store == DISKSPEC_STORE_RAM) {
			rc = store_ram_new(overlay_blks, &p.overlay);
			if (rc)
				snprintf(err, err_len,
					 "overlay in RAM (%llu MiB): cannot "
					 "reserve the address space: %s",
					 (unsigned long long)(overlay_blks >>
							      8),
					 strerror(-rc));
		} else {
			rc = check_scratch(spec->scratch, err, err_len);
			if (!rc) {
				rc = store_file_new(spec->scratch,
						    overlay_blks, &lower);
				if (rc)
					snprintf(err, err_len, "scratch %s: %s",
						 spec->scratch, strerror(-rc));
			}
			if (!rc) {
				rc = key_new_random(&key);
				if (rc)
					snprintf(err, err_len, "key: %s",
						 strerror(-rc));
			}
			if (!rc) {
				/* Owns lower and key only on success. */
				rc = store_xts_new(lower, key, &p.overlay);
				if (rc) {
					snprintf(err, err_len, "xts: %s",
						 strerror(-rc));
				} else {
					lower = NULL;
					key = NULL;
				}
			}
		}
		if (rc) {
			store_destroy(lower);
			key_free(key);
			store_destroy(p.base);
			return rc;
		}
		p.limit_blks = overlay_blks;
	}
	rc = cow_new(&p, cow_r); /* owns the stores from here, even on error */
	if (rc)
		snprintf(err, err_len, "cannot build the disk's block map: %s",
			 strerror(-rc));
	return rc;
}
