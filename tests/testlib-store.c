/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Stores built by name for the tests (tests/testlib.h), in a file of their
 * own so that tests of crypto/ alone need not link cow/. */
#include "config.h"

#include "tests/check.h"
#include "tests/testlib.h"

const char *test_overlay_name(enum test_overlay kind)
{
	switch (kind) {
	case TEST_RAM:
		return "ram";
	case TEST_XTS_RAM:
		return "xts-over-ram";
	case TEST_XTS_FILE:
		return "xts-over-file";
	case TEST_FILE:
		return "file";
	}
	return "?";
}

struct store *test_overlay_new(enum test_overlay kind, uint64_t nr_blks)
{
	struct store *lower = NULL, *s = NULL;
	struct key *key = NULL;

	switch (kind) {
	case TEST_RAM:
		CHECK_OK(store_ram_new(nr_blks, &s));
		return s;
	case TEST_FILE:
		CHECK_OK(store_file_new(test_tmpdir(), nr_blks, &s));
		return s;
	case TEST_XTS_RAM:
		CHECK_OK(store_ram_new(nr_blks, &lower));
		break;
	case TEST_XTS_FILE:
		CHECK_OK(store_file_new(test_tmpdir(), nr_blks, &lower));
		break;
	}
	CHECK_OK(key_new_random(&key));
	CHECK_OK(store_xts_new(lower, key, &s));
	return s;
}
