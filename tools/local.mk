# SPDX-License-Identifier: GPL-2.0-or-later
# tools/: the CLI, the hook, the benchmark.

noinst_PROGRAMS += tools/cow-bench
tools_cow_bench_SOURCES = tools/cow-bench.c
tools_cow_bench_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tools_cow_bench_LDADD = cow/libcow.a cow/libstore.a crypto/libxecrypto.a \
	$(CRYPTO_LIBS) $(URING_LIBS)

# make bench: the overlay engine against OpenSSL and memcpy, same run.
bench: tools/cow-bench
	tools/cow-bench $(BENCH_ARGS)
.PHONY: bench

# make bench-nbd: the NBD export (ram, xts) next to qemu-nbd on a
# qcow2+LUKS overlay, nbdkit's cow filter and nbdkit's memory plugin: one
# base, one client (fio's nbd engine), one Unix socket. Needs fio,
# qemu-utils, nbdkit, libnbd-bin (it says so); never run by make check.
dist_noinst_SCRIPTS += tools/bench-nbd.sh
bench-nbd: tests/nbd-serve$(EXEEXT)
	$(srcdir)/tools/bench-nbd.sh --serve tests/nbd-serve$(EXEEXT) \
		$(BENCH_NBD_ARGS)
.PHONY: bench-nbd

# The CLI: attach/detach through xenstore, list/status from the daemon.
bin_PROGRAMS += tools/xen-ephemeral
tools_xen_ephemeral_SOURCES = tools/xen-ephemeral.c
tools_xen_ephemeral_LDADD = xs-glue/libxsglue.a xs-glue/libxsparse.a \
	platform/libxp-xen.a platform/libxp.a $(XEN_LIBS)

# The hotplug script libxl runs for vbd3 disks (script=xen-ephemeral):
# installed as xen-ephemeral in Xen's scripts directory. (tools/xen-ephemeral
# is the CLI, hence the source's other name.)
EXTRA_DIST += tools/xen-ephemeral-hook.sh
install-exec-local: install-xen-hook
uninstall-local: uninstall-xen-hook
install-xen-hook:
	$(MKDIR_P) '$(DESTDIR)$(xenscriptsdir)'
	$(INSTALL_SCRIPT) $(srcdir)/tools/xen-ephemeral-hook.sh \
		'$(DESTDIR)$(xenscriptsdir)/xen-ephemeral'
uninstall-xen-hook:
	rm -f '$(DESTDIR)$(xenscriptsdir)/xen-ephemeral'
.PHONY: install-xen-hook uninstall-xen-hook
