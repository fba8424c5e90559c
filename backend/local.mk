# SPDX-License-Identifier: GPL-2.0-or-later
# Build rules for backend/ (included by the top-level Makefile.am).
# No Xen header: blkif.h is our own description of the ABI.

noinst_LIBRARIES += backend/libbackend.a
backend_libbackend_a_SOURCES = \
	backend/blkif.h \
	backend/req.c backend/req.h

check_PROGRAMS += tests/unit/test-req
TESTS += tests/unit/test-req
tests_unit_test_req_SOURCES = tests/unit/test-req.c tests/check.h
tests_unit_test_req_LDADD = backend/libbackend.a

# The ring loop and the device (these need pthreads and the platform seam,
# but still no Xen header).
backend_libbackend_a_SOURCES += \
	backend/ring.c backend/ring.h \
	backend/vbd.c backend/vbd.h
