/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: every frontend xenstore node parser.
 *
 * Input: node values separated by 0xff bytes (a byte xenstore values may
 * hold, but which no valid value contains); the first byte of the input
 * also picks the backend's limits. Each value goes through every parser in
 * a heap buffer of exactly its length (no NUL terminator, so reading past
 * len is caught by a sanitizer build). Besides "no crash", abort() when an
 * accepted value breaks the parser's contract: numbers are checked against
 * an independent re-rendering with snprintf().
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xs-glue/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* buf[0..len) is the decimal rendering of val, give or take leading 0s. */
static void check_decimal(const char *buf, size_t len, uint64_t val)
{
	char text[32];
	size_t n;

	while (len > 1 && buf[0] == '0')
		buf++, len--;
	n = (size_t)snprintf(text, sizeof(text), "%" PRIu64, val);
	if (n != len || memcmp(text, buf, len) != 0)
		abort();
}

static void parse_all(const char *buf, size_t len, unsigned int limits)
{
	unsigned int max_order = limits % (XE_BLKIF_MAX_RING_ORDER + 2);
	unsigned int max_queues = limits >> 4;
	enum xenbus_state st;
	enum xe_blkif_abi abi;
	unsigned int u;
	uint64_t v64;
	uint32_t v32;
	bool b;

	if (parse_u64(buf, len, UINT64_MAX, &v64) == 0)
		check_decimal(buf, len, v64);
	if (parse_u64(buf, len, limits, &v64) == 0 && v64 > limits)
		abort();
	if (parse_u32(buf, len, UINT32_MAX, &v32) == 0)
		check_decimal(buf, len, v32);
	if (parse_state(buf, len, &st) == 0 &&
	    (unsigned int)st > XENBUS_STATE_RECONFIGURED)
		abort();
	if (parse_protocol(buf, len, XE_BLKIF_ABI_DEFAULT, &abi) == 0 &&
	    abi != XE_BLKIF_ABI_NATIVE && abi != XE_BLKIF_ABI_X86_32)
		abort();
	if (parse_ring_page_order(buf, len, max_order, &u) == 0 &&
	    (u > max_order || u > XE_BLKIF_MAX_RING_ORDER))
		abort();
	if (parse_num_queues(buf, len, max_queues, &u) == 0 &&
	    (u < 1 || u > max_queues))
		abort();
	if (parse_gref(buf, len, &v32) == 0)
		check_decimal(buf, len, v32);
	if (parse_evtchn(buf, len, &v32) == 0 && v32 == 0)
		abort();
	if (parse_bool(buf, len, false, &b) == 0 &&
	    !(len == 1 && buf[0] == (b ? '1' : '0')))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int limits = size ? data[0] : 0;
	size_t start = 0, i;

	for (i = 0; i <= size; i++) {
		char *val;

		if (i < size && data[i] != 0xff)
			continue;
		val = malloc(i - start ? i - start : 1);
		if (!val)
			abort();
		memcpy(val, data + start, i - start);
		parse_all(val, i - start, limits);
		free(val);
		start = i + 1;
	}
	return 0;
}
