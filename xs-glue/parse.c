/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Frontend xenstore node parsers. Everything a guest writes into its own
 * device directory passes through here before the backend uses it.
 *
 * One rule for numbers: the whole value is ASCII digits, at least one, and
 * the value fits the caller's bound; no strtoul() (it skips spaces, accepts
 * signs and "0x", and stops at a NUL without telling us). Bounds are
 * checked on the number before anything is computed from it (a shift by a
 * ring order, an array index by a queue count).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "xs-glue/parse.h"

int parse_u64(const char *buf, size_t len, uint64_t max, uint64_t *val_r)
{
	uint64_t val = 0;
	bool too_big = false;
	size_t i;

	if (!buf)
		return -ENOENT;
	if (len == 0)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned int untrusted_digit = (unsigned char)buf[i] - '0';

		if (untrusted_digit > 9)
			return -EINVAL;
		/* keep scanning after overflow: junk is -EINVAL, not -ERANGE */
		if (val > (UINT64_MAX - untrusted_digit) / 10)
			too_big = true;
		else
			val = val * 10 + untrusted_digit;
	}
	if (too_big || val > max)
		return -ERANGE;
	*val_r = val;
	return 0;
}

int parse_u32(const char *buf, size_t len, uint32_t max, uint32_t *val_r)
{
	uint64_t val;
	int rc;

	rc = parse_u64(buf, len, max, &val);
	if (rc < 0)
		return rc;
	*val_r = (uint32_t)val;
	return 0;
}

int parse_state(const char *buf, size_t len, enum xenbus_state *state_r)
{
	uint32_t val;
	int rc;

	if (!buf) {
		*state_r = XENBUS_STATE_UNKNOWN;
		return 0;
	}
	rc = parse_u32(buf, len, XENBUS_STATE_RECONFIGURED, &val);
	if (rc < 0)
		return rc;
	*state_r = (enum xenbus_state)val;
	return 0;
}

static bool is_string(const char *buf, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(buf, s, len) == 0;
}

int parse_protocol(const char *buf, size_t len, enum xe_blkif_abi absent_abi,
		   enum xe_blkif_abi *abi_r)
{
	if (!buf) {
		*abi_r = absent_abi;
		return 0;
	}
	/* io/protocols.h spellings; arm EABI has the x86_64 layout */
	if (is_string(buf, len, "x86_32-abi"))
		*abi_r = XE_BLKIF_ABI_X86_32;
	else if (is_string(buf, len, "x86_64-abi") ||
		 is_string(buf, len, "arm-abi"))
		*abi_r = XE_BLKIF_ABI_NATIVE;
	else
		return -EINVAL;
	return 0;
}

int parse_ring_page_order(const char *buf, size_t len, unsigned int max_order,
			  unsigned int *order_r)
{
	uint32_t val;
	int rc;

	if (max_order > XE_BLKIF_MAX_RING_ORDER)
		max_order = XE_BLKIF_MAX_RING_ORDER;
	if (!buf) {
		*order_r = 0;
		return 0;
	}
	rc = parse_u32(buf, len, max_order, &val);
	if (rc < 0)
		return rc;
	*order_r = val;
	return 0;
}

int parse_num_queues(const char *buf, size_t len, unsigned int max_queues,
		     unsigned int *queues_r)
{
	uint32_t val;
	int rc;

	if (!buf) {
		*queues_r = 1;
		return 0;
	}
	rc = parse_u32(buf, len, max_queues, &val);
	if (rc < 0)
		return rc;
	if (val == 0) /* Linux blkback: "buggy or malicious guest" */
		return -ERANGE;
	*queues_r = val;
	return 0;
}

int parse_gref(const char *buf, size_t len, uint32_t *gref_r)
{
	return parse_u32(buf, len, UINT32_MAX, gref_r);
}

int parse_evtchn(const char *buf, size_t len, uint32_t *port_r)
{
	uint32_t val;
	int rc;

	rc = parse_u32(buf, len, UINT32_MAX, &val);
	if (rc < 0)
		return rc;
	if (val == 0) /* port 0 is never a bound channel */
		return -ERANGE;
	*port_r = val;
	return 0;
}

int parse_bool(const char *buf, size_t len, bool absent_value, bool *val_r)
{
	if (!buf) {
		*val_r = absent_value;
		return 0;
	}
	if (is_string(buf, len, "0"))
		*val_r = false;
	else if (is_string(buf, len, "1"))
		*val_r = true;
	else
		return -EINVAL;
	return 0;
}
