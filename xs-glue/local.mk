# SPDX-License-Identifier: GPL-2.0-or-later
# xs-glue/: the xenbus state machine, the disk registry, the routes in from
# the toolstack (kinds), opening disks, self-attach, and the parsers of
# every xenstore value. No Xen header, only the platform seam.

noinst_LIBRARIES += xs-glue/libxsglue.a xs-glue/libxsparse.a
xs_glue_libxsglue_a_SOURCES = \
	xs-glue/xenbus.c xs-glue/xenbus.h \
	xs-glue/kind.c xs-glue/kind.h \
	xs-glue/registry.c xs-glue/registry.h \
	xs-glue/vbd-xs.c xs-glue/vbd-xs.h \
	xs-glue/save-guard.c xs-glue/save-guard.h \
	xs-glue/disk.c xs-glue/disk.h \
	xs-glue/attach.c xs-glue/attach.h \
	xs-glue/workers.c xs-glue/workers.h
# The pure parsers (frontend nodes, the disk spec): no I/O, so unit tests
# and fuzzers link them alone.
xs_glue_libxsparse_a_SOURCES = \
	xs-glue/parse.c xs-glue/parse.h \
	xs-glue/diskspec.c xs-glue/diskspec.h
