# SPDX-License-Identifier: GPL-2.0-or-later
# tests/fuzz/: libFuzzer targets for every parser of untrusted input.
#
# Each target defines LLVMFuzzerTestOneInput(). With --enable-fuzzing it is
# linked with -fsanitize=fuzzer into a real fuzzer (run it by hand:
# tests/fuzz/fuzz-req -max_total_time=60 $(srcdir)/tests/fuzz/corpus/req).
# Without, it is linked with replay.c into a program that runs each input
# once. Either way make check replays the seed corpus
# tests/fuzz/corpus/<target>/ through it, so a crash fails the build.

FUZZ_TARGETS = tests/fuzz/fuzz-req tests/fuzz/fuzz-frontend \
	tests/fuzz/fuzz-diskspec tests/fuzz/fuzz-nbd tests/fuzz/fuzz-wire

if ENABLE_FUZZING
FUZZ_MAIN =
FUZZ_LINK = $(FUZZ_LDFLAGS)
else
FUZZ_MAIN = tests/fuzz/replay.c
FUZZ_LINK =
endif

check_PROGRAMS += $(FUZZ_TARGETS)
tests_fuzz_fuzz_req_SOURCES = tests/fuzz/fuzz-req.c $(FUZZ_MAIN)
tests_fuzz_fuzz_req_LDADD = backend/libbackend.a
tests_fuzz_fuzz_req_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_frontend_SOURCES = tests/fuzz/fuzz-frontend.c $(FUZZ_MAIN)
tests_fuzz_fuzz_frontend_LDADD = xs-glue/libxsparse.a
tests_fuzz_fuzz_frontend_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_diskspec_SOURCES = tests/fuzz/fuzz-diskspec.c $(FUZZ_MAIN)
tests_fuzz_fuzz_diskspec_LDADD = xs-glue/libxsparse.a
tests_fuzz_fuzz_diskspec_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_nbd_SOURCES = tests/fuzz/fuzz-nbd.c $(FUZZ_MAIN)
tests_fuzz_fuzz_nbd_LDADD = backend/libbackend.a
tests_fuzz_fuzz_nbd_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)

# The supervisor (registry and workers) against workers that say anything.
tests_fuzz_fuzz_wire_SOURCES = tests/fuzz/fuzz-wire.c $(FUZZ_MAIN)
tests_fuzz_fuzz_wire_LDADD = xs-glue/libxsglue.a xs-glue/libxsparse.a \
	backend/libbackend.a cow/libcow.a cow/libstore.a crypto/libxecrypto.a \
	platform/libxp.a $(CRYPTO_LIBS) $(URING_LIBS) -lpthread
tests_fuzz_fuzz_wire_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)

# The replays of the corpora are registered in tests/local.mk.
EXTRA_DIST += tests/fuzz/replay-corpus.sh tests/fuzz/replay-req.sh \
	tests/fuzz/replay-frontend.sh tests/fuzz/replay-diskspec.sh \
	tests/fuzz/replay-nbd.sh tests/fuzz/replay-wire.sh \
	tests/fuzz/make-seeds.py tests/fuzz/corpus
