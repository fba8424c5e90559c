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

#endif
