# SPDX-License-Identifier: GPL-2.0-or-later
# crypto/: key lifetime and AES-256-XTS with libcrypto. No I/O, no Xen.

noinst_LIBRARIES += crypto/libxecrypto.a
crypto_libxecrypto_a_SOURCES = crypto/key.c crypto/key.h \
	crypto/xts.c crypto/xts.h
crypto_libxecrypto_a_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)

CRYPTO_TEST_LIBS = crypto/libxecrypto.a $(CRYPTO_LIBS)

check_PROGRAMS += tests/unit/test-key tests/unit/test-xts
TESTS += tests/unit/test-key tests/unit/test-xts
tests_unit_test_key_SOURCES = tests/unit/test-key.c tests/check.h
tests_unit_test_key_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_key_LDADD = $(CRYPTO_TEST_LIBS)
tests_unit_test_xts_SOURCES = tests/unit/test-xts.c tests/check.h
tests_unit_test_xts_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_xts_LDADD = $(CRYPTO_TEST_LIBS)
