# SPDX-License-Identifier: GPL-2.0-or-later
# The real-Xen labs (tests/xen/README.md): `make check-xen` builds the lab's
# dom0 with this tree's xen-ephemerald and xen-ephemeral, boots Xen 4.17 +
# a Debian 12 dom0 under QEMU and runs the scenarios; `make check-xen-4.20`
# does the same with Xen 4.20 + a Debian 13 dom0 and the libxl (xl config,
# backendtype=tap) scenarios. Needs root (apt-get for the host packages)
# and several minutes each; not part of `make check`.
EXTRA_DIST += \
	tests/xen/README.md \
	tests/xen/build.sh \
	tests/xen/make-bases.sh \
	tests/xen/boot.sh \
	tests/xen/run.sh \
	tests/xen/dom0-init.sh \
	tests/xen/dom0-lib.sh \
	tests/xen/domu-init.sh \
	tests/xen/phy-hook.sh \
	tests/xen/scan-markers.c \
	tests/xen/scenarios \
	tests/xen/fake

check-xen: all
	XE_BUILD=$(abs_top_builddir) $(SHELL) $(abs_top_srcdir)/tests/xen/run.sh
check-xen-4.20: all
	XE_XEN=4.20 XE_BUILD=$(abs_top_builddir) $(SHELL) $(abs_top_srcdir)/tests/xen/run.sh
.PHONY: check-xen check-xen-4.20
