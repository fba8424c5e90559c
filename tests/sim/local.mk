# SPDX-License-Identifier: GPL-2.0-or-later
# The simulated Xen (tests/sim/): the seam's second implementation, beside
# platform/libxp-xen.a, and its own unit test.

noinst_LIBRARIES += tests/sim/libxensim.a
tests_sim_libxensim_a_SOURCES = \
	tests/sim/sim.h \
	tests/sim/sim-priv.h \
	tests/sim/sim.c \
	tests/sim/sim-gnt.c \
	tests/sim/sim-evt.c \
	tests/sim/sim-xs.c

check_PROGRAMS += tests/unit/test-sim
TESTS += tests/unit/test-sim
tests_unit_test_sim_SOURCES = tests/unit/test-sim.c tests/check.h
tests_unit_test_sim_LDADD = tests/sim/libxensim.a platform/libxp-xen.a \
	platform/libxp.a $(XEN_LIBS)
