# SPDX-License-Identifier: GPL-2.0-or-later
# The blkif suites: the simulated Xen + the daemon core + test frontends
# (tests/frontend.c, a blkfront look-alike), and the benchmark of the whole
# data path. Static libraries in dependency order.

check_LIBRARIES += tests/libfrontend.a
tests_libfrontend_a_SOURCES = \
	tests/frontend.c tests/frontend.h \
	tests/toolstack.c tests/toolstack.h \
	tests/blkif-util.c tests/blkif-util.h

BLKIF_TEST_LIBS = tests/libfrontend.a tests/libtestlib.a \
	xs-glue/libxsglue.a xs-glue/libxsparse.a backend/libbackend.a \
	cow/libcow.a cow/libstore.a crypto/libxecrypto.a \
	tests/sim/libxensim.a platform/libxp.a $(CRYPTO_LIBS) -lpthread

check_PROGRAMS += tests/test-blkif
TESTS += tests/test-blkif
tests_test_blkif_LDADD = $(BLKIF_TEST_LIBS)

check_PROGRAMS += tests/test-registry
TESTS += tests/test-registry
tests_test_registry_LDADD = $(BLKIF_TEST_LIBS)

check_PROGRAMS += tests/test-hostile
TESTS += tests/test-hostile
tests_test_hostile_LDADD = $(BLKIF_TEST_LIBS)

# make bench-blkif: 4 KiB random and 1 MiB sequential I/O through the whole
# path, next to the overlay engine and memcpy measured in the same run.
noinst_PROGRAMS += tests/bench-blkif
tests_bench_blkif_SOURCES = tests/bench-blkif.c
tests_bench_blkif_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_bench_blkif_LDADD = $(BLKIF_TEST_LIBS)
bench-blkif: tests/bench-blkif$(EXEEXT)
	./tests/bench-blkif$(EXEEXT) $(BENCH_SECONDS)
.PHONY: bench-blkif
