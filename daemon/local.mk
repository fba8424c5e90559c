# SPDX-License-Identifier: GPL-2.0-or-later
# daemon/: xen-ephemerald, the process.

sbin_PROGRAMS += daemon/xen-ephemerald
daemon_xen_ephemerald_SOURCES = daemon/main.c daemon/control.c daemon/control.h \
	daemon/status.c daemon/status.h
# Each guest's worker, started by the daemon, never by hand.
pkglibexec_PROGRAMS = daemon/xen-ephemeral-worker
daemon_xen_ephemeral_worker_SOURCES = daemon/worker-main.c
daemon_xen_ephemeral_worker_LDADD = backend/libbackend.a cow/libcow.a \
	cow/libstore.a crypto/libxecrypto.a platform/libsandbox.a \
	platform/libxp-xen.a platform/libxp.a $(XEN_LIBS) $(CRYPTO_LIBS) \
	$(URING_LIBS) $(SECCOMP_LIBS)
XE_WORKER_PATH = $(pkglibexecdir)/xen-ephemeral-worker
daemon_xen_ephemerald_CPPFLAGS = $(AM_CPPFLAGS) \
	-DXE_WORKER_PATH='"$(XE_WORKER_PATH)"'
# Dependency order: xs-glue -> backend -> cow -> crypto -> platform.
XE_DAEMON_LIBS = xs-glue/libxsglue.a xs-glue/libxsparse.a \
	backend/libbackend.a cow/libcow.a cow/libstore.a crypto/libxecrypto.a \
	platform/libxp-xen.a platform/libxp.a
daemon_xen_ephemerald_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
daemon_xen_ephemerald_LDADD = $(XE_DAEMON_LIBS) $(XEN_LIBS) $(CRYPTO_LIBS) \
	$(URING_LIBS) $(SYSTEMD_LIBS)

# The systemd unit, with this build's paths.
if HAVE_SYSTEMD_UNIT
systemdsystemunit_DATA = daemon/xen-ephemerald.service
endif
CLEANFILES += daemon/xen-ephemerald.service
EXTRA_DIST += daemon/xen-ephemerald.service.in
daemon/xen-ephemerald.service: daemon/xen-ephemerald.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) daemon && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' \
	    -e 's|@xenscriptsdir[@]|$(xenscriptsdir)|g' \
	    $(srcdir)/daemon/xen-ephemerald.service.in > $@.tmp && mv $@.tmp $@
