# SPDX-License-Identifier: GPL-2.0-or-later
# Build rules for xs-glue/ (included by the top-level Makefile.am).
# Programs linking libxsglue.a also need $(XEN_LIBS).

noinst_LIBRARIES += xs-glue/libxsglue.a
xs_glue_libxsglue_a_CPPFLAGS = $(AM_CPPFLAGS) $(XEN_CFLAGS)
xs_glue_libxsglue_a_SOURCES = \
	xs-glue/platform.h \
	xs-glue/platform.c \
	xs-glue/platform-xen.c

# The xenbus state machine, disk opening and self-attach: no Xen header,
# only the seam.
xs_glue_libxsglue_a_SOURCES += \
	xs-glue/xenbus.c xs-glue/xenbus.h \
	xs-glue/disk.c xs-glue/disk.h \
	xs-glue/attach.c xs-glue/attach.h
