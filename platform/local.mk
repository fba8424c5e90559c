# SPDX-License-Identifier: GPL-2.0-or-later
# platform/: the seam to Xen (grant tables, event channels, xenstore) and
# the log sink, under everything else. libxp.a has no Xen header; the real
# implementation over libxen* is libxp-xen.a, platform-xen.c being the only
# file in the tree that includes libxen headers.

noinst_LIBRARIES += platform/libxp.a platform/libxp-xen.a \
	platform/libsandbox.a
platform_libxp_a_SOURCES = \
	platform/platform.c platform/platform.h \
	platform/log.c platform/log.h
platform_libxp_xen_a_SOURCES = platform/platform-xen.c
platform_libxp_xen_a_CPPFLAGS = $(AM_CPPFLAGS) $(XEN_CFLAGS)
# A worker's confinement (libseccomp): linked by the workers only.
platform_libsandbox_a_SOURCES = platform/sandbox.c platform/sandbox.h
platform_libsandbox_a_CPPFLAGS = $(AM_CPPFLAGS) $(SECCOMP_CFLAGS)
