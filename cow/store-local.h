/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the store implementations (not part of the interface). */
#ifndef XE_COW_STORE_LOCAL_H
#define XE_COW_STORE_LOCAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cow/store.h"

/*
 * Callers promise slot + nr <= nr_blks; stores still check, because a bad
 * slot number from a bug upstream must fail the request, not scribble.
 */
static inline bool store_range_ok(const struct store *s, uint64_t slot,
				  uint32_t nr)
{
	return slot <= s->nr_blks && nr <= s->nr_blks - slot;
}

#ifdef HAVE_LIBURING
#include <liburing.h>

/*
 * A file store's io_uring (cow/store-file.c): created disabled, restricted
 * to read, write and nop (io_uring runs its operations outside the
 * caller's seccomp filter), then enabled. false: no ring (kernel too old
 * to restrict, or io_uring refused); the store uses pread/pwrite.
 */
bool store_uring_start(struct io_uring *ring);
#endif

#endif
