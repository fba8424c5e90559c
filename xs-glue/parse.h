/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Strict parsers for the xenstore nodes a frontend writes. Those values come
 * from the guest: each parser takes the raw value as read (buf, len; it may
 * hold NULs and need not be NUL-terminated) and accepts exactly one spelling
 * per value. Pure functions, no I/O.
 *
 * buf == NULL means the node is absent; parsers whose node has a meaning
 * when absent say so, the others return -ENOENT. Malformed text gives
 * -EINVAL, a well-formed number outside the allowed range -ERANGE.
 * Out-parameters are set only on success.
 */
#ifndef XE_XS_GLUE_PARSE_H
#define XE_XS_GLUE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/blkif.h"

/*
 * Unsigned decimal, the whole of buf: digits only (leading zeros allowed),
 * no sign, no space, not empty, value <= max.
 */
int parse_u64(const char *buf, size_t len, uint64_t max, uint64_t *val_r);

/* parse_u64() for a u32 node limited to max. */
int parse_u32(const char *buf, size_t len, uint32_t max, uint32_t *val_r);

/* XenbusState values (io/xenbus.h), by name. */
enum xenbus_state {
	XENBUS_STATE_UNKNOWN = 0, /* also: node absent */
	XENBUS_STATE_INITIALISING = 1,
	XENBUS_STATE_INIT_WAIT = 2,
	XENBUS_STATE_INITIALISED = 3,
	XENBUS_STATE_CONNECTED = 4,
	XENBUS_STATE_CLOSING = 5,
	XENBUS_STATE_CLOSED = 6,
	XENBUS_STATE_RECONFIGURING = 7,
	XENBUS_STATE_RECONFIGURED = 8,
};

/* A "state" node: 0..8; absent (NULL) reads as Unknown (0). */
int parse_state(const char *buf, size_t len, enum xenbus_state *state_r);

/*
 * The frontend's "protocol": exactly "x86_32-abi", "x86_64-abi" or "arm-abi";
 * absent gives absent_abi (normally XE_BLKIF_ABI_DEFAULT); anything else
 * -EINVAL.
 */
int parse_protocol(const char *buf, size_t len, enum xe_blkif_abi absent_abi,
		   enum xe_blkif_abi *abi_r);

/*
 * "ring-page-order": 0..max_order (our advertised max-ring-page-order, which
 * must be <= XE_BLKIF_MAX_RING_ORDER); absent means 0 (one page, "ring-ref").
 * Range-checked before anyone shifts by it.
 */
int parse_ring_page_order(const char *buf, size_t len, unsigned int max_order,
			  unsigned int *order_r);

/* "multi-queue-num-queues": 1..max_queues; absent means 1. */
int parse_num_queues(const char *buf, size_t len, unsigned int max_queues,
		     unsigned int *queues_r);

/* A "ring-ref*" node: any u32 grant reference; required (-ENOENT). */
int parse_gref(const char *buf, size_t len, uint32_t *gref_r);

/* An "event-channel" node: a u32 port, never 0 (reserved); required. */
int parse_evtchn(const char *buf, size_t len, uint32_t *port_r);

/* A boolean ("feature-persistent", ...): exactly "0" or "1"; absent gives
 * absent_value. */
int parse_bool(const char *buf, size_t len, bool absent_value, bool *val_r);

#endif
