/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * From a disk spec to an open cow view: the base opened read-only, the
 * overlay built (RAM, or XTS under a fresh key over a scratch file), limits
 * applied. What the spec names but the system refuses (a missing base, an
 * unwritable scratch) comes back as -errno plus a message for a human.
 */
#ifndef XE_XS_GLUE_DISK_H
#define XE_XS_GLUE_DISK_H

#include <stddef.h>

#include "backend/wire.h"
#include "cow/cow.h"
#include "xs-glue/diskspec.h"

/* What a worker needs to build a disk's view, and the descriptors. */
struct disk_plan {
	struct wire_plan plan;
	int base_fd;    /* -1 if none */
	int scratch_fd; /* -1 if none */
};

/*
 * Open what spec names (the base read-only, without blocking on what it
 * turns out to be; the scratch as an unnamed file or a block device) and
 * size the overlay: the slow half of opening a disk, which may touch a
 * dead NFS server, run off the main loop. Returns 0, or -errno with a
 * one-line message in err (nothing left open).
 */
int disk_plan_open(const struct diskspec *spec, struct disk_plan *dp,
		   char *err, size_t err_len);
/* Close the descriptors a plan still holds. */
void disk_plan_close(struct disk_plan *dp);

/*
 * Open the view spec describes, charging budget (may be NULL). Returns 0 and
 * sets *cow_r, or -errno with a one-line message in err (err_len > 0).
 */
int disk_open(const struct diskspec *spec, struct cow_budget *budget,
	      struct cow **cow_r, char *err, size_t err_len);

#endif
