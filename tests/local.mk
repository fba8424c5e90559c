# SPDX-License-Identifier: GPL-2.0-or-later
# Every test of make check is registered here, grouped as tests/README.md
# lists them; the module fragments describe only the product.

TESTS_ENVIRONMENT = top_builddir=$(top_builddir); export top_builddir; \
	top_srcdir=$(top_srcdir); export top_srcdir;

# ---- helpers the tests link ----

check_LIBRARIES = tests/libtestlib.a tests/libfrontend.a
tests_libtestlib_a_SOURCES = tests/testlib.c tests/testlib.h tests/check.h \
	tests/testlib-store.c tests/nbd-client.c tests/nbd-client.h
tests_libtestlib_a_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
# A blkfront look-alike, a libxl look-alike and the suites' shared host.
tests_libfrontend_a_SOURCES = \
	tests/frontend.c tests/frontend.h \
	tests/toolstack.c tests/toolstack.h \
	tests/blkif-util.c tests/blkif-util.h

CRYPTO_TEST_LIBS = tests/libtestlib.a crypto/libxecrypto.a $(CRYPTO_LIBS)
STORE_TEST_LIBS = tests/libtestlib.a cow/libstore.a crypto/libxecrypto.a \
	$(CRYPTO_LIBS) $(URING_LIBS)
COW_TEST_LIBS = tests/libtestlib.a cow/libcow.a cow/libstore.a \
	crypto/libxecrypto.a $(CRYPTO_LIBS) $(URING_LIBS)
# The daemon core against the simulated Xen, in dependency order.
BLKIF_TEST_LIBS = tests/libfrontend.a tests/libtestlib.a \
	xs-glue/libxsglue.a xs-glue/libxsparse.a backend/libbackend.a \
	cow/libcow.a cow/libstore.a crypto/libxecrypto.a \
	tests/sim/libxensim.a platform/libxp.a $(CRYPTO_LIBS) $(URING_LIBS) \
	-lpthread

# The daemon core's workers in the tests are this program.
AM_TESTS_ENVIRONMENT += XE_SIM_WORKER=$(abs_top_builddir)/tests/sim/sim-worker; \
	export XE_SIM_WORKER;

# ---- the tree: includes point down (docs/architecture.md) ----

TESTS += tests/check-layers.sh
EXTRA_DIST += tests/check-layers.sh

# ---- unit tests, one module each ----

check_PROGRAMS += tests/unit/test-key tests/unit/test-xts
TESTS += tests/unit/test-key tests/unit/test-xts
tests_unit_test_key_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_key_LDADD = $(CRYPTO_TEST_LIBS)
tests_unit_test_xts_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_xts_LDADD = $(CRYPTO_TEST_LIBS)

check_PROGRAMS += tests/unit/test-store tests/unit/test-store-xts-leak \
	tests/unit/test-store-file tests/unit/test-store-map
TESTS += tests/unit/test-store tests/unit/test-store-xts-leak \
	tests/unit/test-store-file tests/unit/test-store-map
tests_unit_test_store_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_store_LDADD = $(STORE_TEST_LIBS)
tests_unit_test_store_xts_leak_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_store_xts_leak_LDADD = $(STORE_TEST_LIBS)
tests_unit_test_store_file_LDADD = $(STORE_TEST_LIBS)
tests_unit_test_store_map_LDADD = $(STORE_TEST_LIBS)

check_PROGRAMS += tests/unit/test-map tests/unit/test-cow
TESTS += tests/unit/test-map tests/unit/test-cow
tests_unit_test_map_LDADD = $(COW_TEST_LIBS) -lpthread
tests_unit_test_cow_LDADD = $(COW_TEST_LIBS)

check_PROGRAMS += tests/unit/test-req
TESTS += tests/unit/test-req
tests_unit_test_req_LDADD = backend/libbackend.a

check_PROGRAMS += tests/unit/test-worker-wire
TESTS += tests/unit/test-worker-wire
tests_unit_test_worker_wire_LDADD = tests/libtestlib.a backend/libbackend.a \
	cow/libcow.a cow/libstore.a crypto/libxecrypto.a platform/libxp.a \
	$(CRYPTO_LIBS) $(URING_LIBS) -lpthread

check_PROGRAMS += tests/unit/test-nbd-proto
TESTS += tests/unit/test-nbd-proto
tests_unit_test_nbd_proto_LDADD = backend/libbackend.a

check_PROGRAMS += tests/unit/test-parse tests/unit/test-diskspec \
	tests/unit/test-attach
TESTS += tests/unit/test-parse tests/unit/test-diskspec tests/unit/test-attach
tests_unit_test_parse_LDADD = xs-glue/libxsparse.a
tests_unit_test_diskspec_LDADD = xs-glue/libxsparse.a
tests_unit_test_attach_LDADD = xs-glue/libxsglue.a xs-glue/libxsparse.a \
	backend/libbackend.a cow/libcow.a cow/libstore.a crypto/libxecrypto.a \
	platform/libxp.a $(CRYPTO_LIBS) $(URING_LIBS)

check_PROGRAMS += tests/unit/test-disk
TESTS += tests/unit/test-disk
tests_unit_test_disk_LDADD = xs-glue/libxsglue.a xs-glue/libxsparse.a \
	backend/libbackend.a $(COW_TEST_LIBS)

# The simulated Xen itself, beside it (and the real seam links).
check_PROGRAMS += tests/sim/test-sim
TESTS += tests/sim/test-sim
tests_sim_test_sim_LDADD = tests/sim/libxensim.a platform/libxp-xen.a \
	platform/libxp.a $(XEN_LIBS)

# ---- the overlay engine against a model ----

check_PROGRAMS += tests/test-cow-diff
TESTS += tests/test-cow-diff
tests_test_cow_diff_LDADD = $(COW_TEST_LIBS)

# ---- the daemon core against the simulated Xen ----

check_PROGRAMS += tests/test-blkif tests/test-registry tests/test-hostile
TESTS += tests/test-blkif tests/test-registry tests/test-hostile
tests_test_blkif_LDADD = $(BLKIF_TEST_LIBS)
tests_test_registry_LDADD = $(BLKIF_TEST_LIBS)
check_PROGRAMS += tests/test-workers
TESTS += tests/test-workers
tests_test_workers_LDADD = $(BLKIF_TEST_LIBS) platform/libsandbox.a \
	$(SECCOMP_LIBS)
# A scratch filesystem that fills up for real (root: a small tmpfs).
check_PROGRAMS += tests/test-scratch-full
TESTS += tests/test-scratch-full
tests_test_scratch_full_LDADD = $(BLKIF_TEST_LIBS)
check_PROGRAMS += tests/test-idle
TESTS += tests/test-idle
tests_test_idle_LDADD = $(BLKIF_TEST_LIBS)
# A scratch device that returns EIO for real (root: a loop device over a
# small tmpfs).
check_PROGRAMS += tests/test-scratch-eio
TESTS += tests/test-scratch-eio
tests_test_scratch_eio_LDADD = $(BLKIF_TEST_LIBS)
tests_test_hostile_LDADD = $(BLKIF_TEST_LIBS)

# ---- the daemon's control socket and the CLI, from outside ----

check_PROGRAMS += tests/test-control
TESTS += tests/test-control
tests_test_control_SOURCES = tests/test-control.c daemon/control.c \
	daemon/status.c
tests_test_control_LDADD = $(COW_TEST_LIBS) platform/libxp.a

TESTS += tests/test-cli.sh tests/test-hook.sh
EXTRA_DIST += tests/test-hook.sh
EXTRA_DIST += tests/test-cli.sh

# ---- the NBD export, against a client here and against QEMU and libnbd ----

NBD_TEST_LIBS = tests/libtestlib.a backend/libbackend.a cow/libcow.a \
	cow/libstore.a crypto/libxecrypto.a platform/libxp.a $(CRYPTO_LIBS) \
	$(URING_LIBS) -lpthread
check_PROGRAMS += tests/test-nbd
TESTS += tests/test-nbd
tests_test_nbd_LDADD = $(NBD_TEST_LIBS)

# A disk spec served over NBD, on a socket or on stdin (noinst: by hand too).
noinst_PROGRAMS += tests/nbd-serve
tests_nbd_serve_LDADD = xs-glue/libxsglue.a xs-glue/libxsparse.a \
	backend/libbackend.a cow/libcow.a cow/libstore.a crypto/libxecrypto.a \
	platform/libxp.a $(CRYPTO_LIBS) $(URING_LIBS) -lpthread
TESTS += tests/test-nbd-interop.sh
EXTRA_DIST += tests/test-nbd-interop.sh

# ---- what make install puts on a system: man pages, unit, hook ----

TESTS += tests/check-installed.sh
EXTRA_DIST += tests/check-installed.sh
check_DATA = daemon/xen-ephemerald.service

# ---- replay of the fuzz corpora (tests/fuzz/local.mk builds them) ----

TESTS += tests/fuzz/replay-req.sh tests/fuzz/replay-frontend.sh \
	tests/fuzz/replay-diskspec.sh tests/fuzz/replay-nbd.sh \
	tests/fuzz/replay-wire.sh

# ---- the soak (not in make check: ten minutes) ----

# make soak: 32 guests x 3 disks with their workers, I/O checked against a
# model, guests coming and going, for SOAK_SECONDS (600); memory,
# descriptors, grants, event channels and workers checked before, during
# and after. Built always (so it builds in CI), run only here.
noinst_PROGRAMS += tests/soak
tests_soak_LDADD = $(BLKIF_TEST_LIBS)
soak: tests/soak$(EXEEXT) tests/sim/sim-worker$(EXEEXT)
	XE_SIM_WORKER=$(abs_top_builddir)/tests/sim/sim-worker \
		./tests/soak$(EXEEXT)
.PHONY: soak

# ---- benchmarks (not tests) ----

# make bench-blkif: 4 KiB random and 1 MiB sequential I/O through the whole
# path, next to the overlay engine and memcpy measured in the same run.
noinst_PROGRAMS += tests/bench-blkif
tests_bench_blkif_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_bench_blkif_LDADD = $(BLKIF_TEST_LIBS)
# Both run each guest's rings in a sim-worker process, as the daemon does:
# they build it (a check program) and say where it is.
bench-blkif: tests/bench-blkif$(EXEEXT) tests/sim/sim-worker$(EXEEXT)
	XE_SIM_WORKER=$(abs_top_builddir)/tests/sim/sim-worker \
		./tests/bench-blkif$(EXEEXT) $(BENCH_SECONDS)
.PHONY: bench-blkif

# make bench-scale: 64 disks in the simulated Xen: idle memory per disk,
# block-map overhead, attach to InitWait with 63 others attached.
noinst_PROGRAMS += tests/bench-scale
tests_bench_scale_LDADD = $(BLKIF_TEST_LIBS)
# One disk a guest (a worker process each), then four (a Qubes guest's).
BENCH_ROUNDS = 20
bench-scale: tests/bench-scale$(EXEEXT) tests/sim/sim-worker$(EXEEXT)
	XE_SIM_WORKER=$(abs_top_builddir)/tests/sim/sim-worker \
		./tests/bench-scale$(EXEEXT) $(BENCH_ROUNDS) 1
	XE_SIM_WORKER=$(abs_top_builddir)/tests/sim/sim-worker \
		./tests/bench-scale$(EXEEXT) $(BENCH_ROUNDS) 4
.PHONY: bench-scale
