# SPDX-License-Identifier: GPL-2.0-or-later
# daemon/: xen-ephemerald, the process.

sbin_PROGRAMS += daemon/xen-ephemerald
daemon_xen_ephemerald_SOURCES = daemon/main.c daemon/control.c daemon/control.h \
	daemon/status.c daemon/status.h
# Dependency order: xs-glue -> backend -> cow -> crypto -> platform.
XE_DAEMON_LIBS = xs-glue/libxsglue.a xs-glue/libxsparse.a \
	backend/libbackend.a cow/libcow.a cow/libstore.a crypto/libxecrypto.a \
	platform/libxp-xen.a platform/libxp.a
daemon_xen_ephemerald_LDADD = $(XE_DAEMON_LIBS) $(XEN_LIBS) $(CRYPTO_LIBS)
