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

#include "cow/cow.h"
#include "xs-glue/diskspec.h"

/*
 * Open the view spec describes, charging budget (may be NULL). Returns 0 and
 * sets *cow_r, or -errno with a one-line message in err (err_len > 0).
 */
int disk_open(const struct diskspec *spec, struct cow_budget *budget,
	      struct cow **cow_r, char *err, size_t err_len);

#endif
