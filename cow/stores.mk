# SPDX-License-Identifier: GPL-2.0-or-later
# cow/ stores: where overlay blocks live (ram, file, base, xts, fault).

noinst_LIBRARIES += cow/libstore.a
cow_libstore_a_SOURCES = cow/store.h cow/store-local.h \
	cow/store-ram.c cow/store-file.c cow/store-xts.c cow/store-fault.c
cow_libstore_a_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)

STORE_TEST_LIBS = cow/libstore.a crypto/libxecrypto.a $(CRYPTO_LIBS)

check_PROGRAMS += tests/unit/test-store tests/unit/test-scan
TESTS += tests/unit/test-store tests/unit/test-scan
tests_unit_test_store_SOURCES = tests/unit/test-store.c tests/check.h
tests_unit_test_store_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_store_LDADD = $(STORE_TEST_LIBS)
tests_unit_test_scan_SOURCES = tests/unit/test-scan.c tests/check.h
tests_unit_test_scan_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_scan_LDADD = $(STORE_TEST_LIBS)
