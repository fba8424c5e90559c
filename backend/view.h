/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A disk's view built from a plan (backend/wire.h) and the descriptors the
 * supervisor opened for it: the base (read-only) and, for an XTS overlay,
 * the scratch. This is the half of opening a disk that needs no filesystem
 * (xs-glue/disk.c is the other half), so a worker that may open nothing
 * can do it. A fresh random key for XTS is made here, in the worker, and
 * never leaves it.
 */
#ifndef XE_BACKEND_VIEW_H
#define XE_BACKEND_VIEW_H

#include <stddef.h>

#include "backend/wire.h"
#include "cow/cow.h"

/*
 * Build the view. base_fd and scratch_fd (-1 when the plan has none) are
 * owned from here on, even on failure. 0 and *cow_r, or -errno with a
 * sentence in err.
 */
int view_build(const struct wire_plan *plan, int base_fd, int scratch_fd,
	       struct cow_budget *budget, struct cow **cow_r, char *err,
	       size_t err_len);

#endif
