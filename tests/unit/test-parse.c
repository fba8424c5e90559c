/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for xs-glue/parse.c: the frontend's xenstore values. Values are
 * passed with explicit lengths, as xenstore returns them, including values
 * with NULs and values not NUL-terminated.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "tests/check.h"
#include "xs-glue/parse.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void test_numbers(void)
{
	uint64_t v = 42;
	uint32_t v32;

	CHECK_OK(parse_u64(S("0"), 10, &v));
	CHECK(v == 0, "0");
	CHECK_OK(parse_u64(S("0007"), 10, &v));
	CHECK(v == 7, "leading zeros");
	CHECK_OK(parse_u64(S("18446744073709551615"), UINT64_MAX, &v));
	CHECK(v == UINT64_MAX, "u64 max");
	CHECK_ERR(parse_u64(S("18446744073709551616"), UINT64_MAX, &v),
		  -ERANGE);
	CHECK_ERR(parse_u64(S("99999999999999999999999"), UINT64_MAX, &v),
		  -ERANGE);
	CHECK_ERR(parse_u64(S("11"), 10, &v), -ERANGE);
	v = 42;
	CHECK_ERR(parse_u64(S(""), 10, &v), -EINVAL);
	CHECK_ERR(parse_u64(S("+1"), 10, &v), -EINVAL);
	CHECK_ERR(parse_u64(S("-1"), 10, &v), -EINVAL);
	CHECK_ERR(parse_u64(S(" 1"), 10, &v), -EINVAL);
	CHECK_ERR(parse_u64(S("1 "), 10, &v), -EINVAL);
	CHECK_ERR(parse_u64(S("1\n"), 10, &v), -EINVAL);
	CHECK_ERR(parse_u64(S("0x1"), 10, &v), -EINVAL);
	CHECK_ERR(parse_u64(S("1a"), 10, &v), -EINVAL);
	CHECK_ERR(parse_u64(S("1\0"), 10, &v), -EINVAL);
	CHECK_ERR(parse_u64(S("\0"
			      "1"),
			    10, &v),
		  -EINVAL);
	/* junk after an overflow is malformed, not out of range */
	CHECK_ERR(parse_u64(S("99999999999999999999999x"), UINT64_MAX, &v),
		  -EINVAL);
	CHECK_ERR(parse_u64(NULL, 0, 10, &v), -ENOENT);
	CHECK(v == 42, "out-param untouched on error");
	/* only len bytes are read: "12" of "123" */
	CHECK_OK(parse_u64("123", 2, 100, &v));
	CHECK(v == 12, "length-counted");

	CHECK_OK(parse_u32(S("4294967295"), UINT32_MAX, &v32));
	CHECK(v32 == UINT32_MAX, "u32 max");
	CHECK_ERR(parse_u32(S("4294967296"), UINT32_MAX, &v32), -ERANGE);
}

static void test_state(void)
{
	enum xenbus_state st = XENBUS_STATE_CLOSED;

	CHECK_OK(parse_state(NULL, 0, &st));
	CHECK(st == XENBUS_STATE_UNKNOWN, "absent = Unknown");
	CHECK_OK(parse_state(S("4"), &st));
	CHECK(st == XENBUS_STATE_CONNECTED, "4");
	CHECK_OK(parse_state(S("8"), &st));
	CHECK_ERR(parse_state(S("9"), &st), -ERANGE);
	CHECK_ERR(parse_state(S("4294967300"), &st), -ERANGE);
	CHECK_ERR(parse_state(S(""), &st), -EINVAL);
	CHECK_ERR(parse_state(S("Connected"), &st), -EINVAL);
}

static void test_protocol(void)
{
	enum xe_blkif_abi abi;

	CHECK_OK(parse_protocol(S("x86_32-abi"), XE_BLKIF_ABI_NATIVE, &abi));
	CHECK(abi == XE_BLKIF_ABI_X86_32, "x86_32");
	CHECK_OK(parse_protocol(S("x86_64-abi"), XE_BLKIF_ABI_X86_32, &abi));
	CHECK(abi == XE_BLKIF_ABI_NATIVE, "x86_64");
	CHECK_OK(parse_protocol(S("arm-abi"), XE_BLKIF_ABI_X86_32, &abi));
	CHECK(abi == XE_BLKIF_ABI_NATIVE, "arm");
	CHECK_OK(parse_protocol(NULL, 0, XE_BLKIF_ABI_X86_32, &abi));
	CHECK(abi == XE_BLKIF_ABI_X86_32, "absent");
#if defined(__x86_64__) || defined(__i386__)
	CHECK(XE_BLKIF_ABI_DEFAULT == XE_BLKIF_ABI_X86_32, "x86 default");
#endif
	CHECK_ERR(parse_protocol(S(""), XE_BLKIF_ABI_NATIVE, &abi), -EINVAL);
	CHECK_ERR(parse_protocol(S("x86_64-abi\0"), XE_BLKIF_ABI_NATIVE, &abi),
		  -EINVAL);
	CHECK_ERR(parse_protocol(S("x86_64-ab"), XE_BLKIF_ABI_NATIVE, &abi),
		  -EINVAL);
	CHECK_ERR(parse_protocol(S("X86_64-abi"), XE_BLKIF_ABI_NATIVE, &abi),
		  -EINVAL);
	CHECK_ERR(parse_protocol(S("native"), XE_BLKIF_ABI_NATIVE, &abi),
		  -EINVAL);
}

static void test_ring(void)
{
	unsigned int u = 99;

	CHECK_OK(parse_ring_page_order(NULL, 0, 4, &u));
	CHECK(u == 0, "absent order");
	CHECK_OK(parse_ring_page_order(S("4"), 4, &u));
	CHECK(u == 4, "order 4");
	CHECK_ERR(parse_ring_page_order(S("5"), 4, &u), -ERANGE);
	/* would be undefined if shifted first */
	CHECK_ERR(parse_ring_page_order(S("32"), 4, &u), -ERANGE);
	CHECK_ERR(parse_ring_page_order(S("4294967295"), 4, &u), -ERANGE);
	CHECK_ERR(parse_ring_page_order(S("9"), 100, &u), -ERANGE);
	CHECK_ERR(parse_ring_page_order(S("-1"), 4, &u), -EINVAL);

	CHECK_OK(parse_num_queues(NULL, 0, 4, &u));
	CHECK(u == 1, "absent queues");
	CHECK_OK(parse_num_queues(S("4"), 4, &u));
	CHECK(u == 4, "4 queues");
	CHECK_ERR(parse_num_queues(S("0"), 4, &u), -ERANGE);
	CHECK_ERR(parse_num_queues(S("5"), 4, &u), -ERANGE);
}

static void test_refs(void)
{
	uint32_t v = 7;
	bool b = true;

	CHECK_OK(parse_gref(S("0"), &v));
	CHECK_OK(parse_gref(S("4294967295"), &v));
	CHECK(v == UINT32_MAX, "gref max");
	CHECK_ERR(parse_gref(S("4294967296"), &v), -ERANGE);
	CHECK_ERR(parse_gref(NULL, 0, &v), -ENOENT);
	CHECK_ERR(parse_gref(S("12 "), &v), -EINVAL);

	CHECK_OK(parse_evtchn(S("17"), &v));
	CHECK(v == 17, "port");
	CHECK_ERR(parse_evtchn(S("0"), &v), -ERANGE);
	CHECK_ERR(parse_evtchn(NULL, 0, &v), -ENOENT);

	CHECK_OK(parse_bool(S("1"), false, &b));
	CHECK(b, "1");
	CHECK_OK(parse_bool(S("0"), true, &b));
	CHECK(!b, "0");
	CHECK_OK(parse_bool(NULL, 0, true, &b));
	CHECK(b, "absent");
	CHECK_ERR(parse_bool(S("2"), false, &b), -EINVAL);
	CHECK_ERR(parse_bool(S("01"), false, &b), -EINVAL);
	CHECK_ERR(parse_bool(S("true"), false, &b), -EINVAL);
	CHECK_ERR(parse_bool(S(""), false, &b), -EINVAL);
}

int main(void)
{
	test_numbers();
	test_state();
	test_protocol();
	test_ring();
	test_refs();
	return 0;
}
