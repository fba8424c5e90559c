# SPDX-License-Identifier: GPL-2.0-or-later
# Build rules for xs-glue/ (included by the top-level Makefile.am): the
# xenbus state machine, disk opening and self-attach. No Xen header, only
# the platform seam.

noinst_LIBRARIES += xs-glue/libxsglue.a
xs_glue_libxsglue_a_SOURCES = \
	xs-glue/xenbus.c xs-glue/xenbus.h \
	xs-glue/kind.c xs-glue/kind.h \
	xs-glue/registry.c xs-glue/registry.h \
	xs-glue/vbd-xs.c xs-glue/vbd-xs.h \
	xs-glue/disk.c xs-glue/disk.h \
	xs-glue/attach.c xs-glue/attach.h
