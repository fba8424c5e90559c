# SPDX-License-Identifier: GPL-2.0-or-later
# The simulated Xen (tests/sim/): the seam's second implementation, beside
# platform/libxp-xen.a. Its test is registered in tests/local.mk.

noinst_LIBRARIES += tests/sim/libxensim.a
tests_sim_libxensim_a_SOURCES = \
	tests/sim/sim.h \
	tests/sim/sim-priv.h \
	tests/sim/sim.c \
	tests/sim/sim-gnt.c \
	tests/sim/sim-evt.c \
	tests/sim/sim-xs.c \
	tests/sim/sim-remote.c

# The worker a test's daemon starts: the product's, over the sim.
check_PROGRAMS += tests/sim/sim-worker
tests_sim_sim_worker_LDADD = backend/libbackend.a cow/libcow.a \
	cow/libstore.a crypto/libxecrypto.a platform/libsandbox.a \
	tests/sim/libxensim.a platform/libxp.a $(CRYPTO_LIBS) \
	$(URING_LIBS) $(SECCOMP_LIBS) -lpthread
