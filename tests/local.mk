# SPDX-License-Identifier: GPL-2.0-or-later
# tests/: cross-module tests and the helpers they share.

check_LIBRARIES = tests/libtestlib.a
tests_libtestlib_a_SOURCES = tests/testlib.c tests/testlib.h tests/check.h
tests_libtestlib_a_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)

# What a test of the overlay links: the view, the stores, the crypto.
COW_TEST_LIBS = tests/libtestlib.a cow/libcow.a cow/libstore.a \
	crypto/libxecrypto.a $(CRYPTO_LIBS)

check_PROGRAMS += tests/test-cow-diff tests/test-cow-policy
TESTS += tests/test-cow-diff tests/test-cow-policy
tests_test_cow_diff_LDADD = $(COW_TEST_LIBS)
tests_test_cow_policy_LDADD = $(COW_TEST_LIBS)

# Opening a disk from its spec (xs-glue/disk.c).
check_PROGRAMS += tests/unit/test-disk
TESTS += tests/unit/test-disk
tests_unit_test_disk_LDADD = tests/libtestlib.a xs-glue/libxsglue.a \
	xs-glue/libxsparse.a $(COW_TEST_LIBS)

# The control socket and the CLI that reads it (daemon/control.c,
# tools/xen-ephemeral), over 2000 synthetic disks.
check_PROGRAMS += tests/test-control
TESTS += tests/test-control
tests_test_control_SOURCES = tests/test-control.c daemon/control.c
tests_test_control_LDADD = $(COW_TEST_LIBS) platform/libxp.a

# The CLI's command line (no Xen needed for these).
TESTS += tests/test-cli.sh
EXTRA_DIST += tests/test-cli.sh
TESTS_ENVIRONMENT = top_builddir=$(top_builddir); export top_builddir;
