/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the store implementations (not part of the interface). */
#ifndef XE_COW_STORE_LOCAL_H
#define XE_COW_STORE_LOCAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
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

/*
 * A file store's shared mapping of its scratch (cow/store-map.c): while
 * registered, a SIGBUS on an address in [start, start + len) sets *lost
 * and is survived (an anonymous page goes over the lost one). Returns an
 * entry for store_map_unregister() (call it before the munmap), or
 * -errno: no handler, or the table is full (then do not map).
 */
int store_map_register(void *start, size_t len, atomic_bool *lost);
void store_map_unregister(int entry);
/* Tests: how many such faults the process has survived. */
uint64_t store_map_faults(void);

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
