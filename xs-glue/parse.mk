# SPDX-License-Identifier: GPL-2.0-or-later
# xs-glue/libxsparse.a: the pure parsers of xenstore values (frontend nodes,
# the disk spec in "params"). No Xen header, no I/O, so unit tests and
# fuzzers link them alone.

noinst_LIBRARIES += xs-glue/libxsparse.a
xs_glue_libxsparse_a_SOURCES = \
	xs-glue/parse.c xs-glue/parse.h \
	xs-glue/diskspec.c xs-glue/diskspec.h

check_PROGRAMS += tests/unit/test-parse tests/unit/test-diskspec
TESTS += tests/unit/test-parse tests/unit/test-diskspec
tests_unit_test_parse_SOURCES = tests/unit/test-parse.c tests/check.h
tests_unit_test_parse_LDADD = xs-glue/libxsparse.a
tests_unit_test_diskspec_SOURCES = tests/unit/test-diskspec.c tests/check.h
tests_unit_test_diskspec_LDADD = xs-glue/libxsparse.a
