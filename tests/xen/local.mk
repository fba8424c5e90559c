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

# make bench-xen: the same guest's fio figures on kernel blkback over
# dm-snapshot + dm-crypt, QEMU qdisk over a qcow2 overlay and this daemon
# (ram, xts), in one boot of the Xen 4.20 lab (scenario bench-xen: about
# 20 minutes; BENCH_XEN_SECS per figure, BENCH_XEN_ROUNDS). Prints the
# table and the ratios. A benchmark, not a test. BENCH_XEN_AES=1 (the
# default) gives the lab's CPU AES-NI (emulated by TCG), as every host it
# stands for has, so that OpenSSL and the kernel's dm-crypt both use it;
# BENCH_XEN_AES=0 measures without (the C ciphers of -cpu qemu64).
BENCH_XEN_SECS = 8
BENCH_XEN_ROUNDS = 2
BENCH_XEN_AES = 1
bench-xen: all
	XE_XEN=4.20 XE_BUILD=$(abs_top_builddir) XE_SCENARIOS=bench-xen \
	XE_SCEN_TIMEOUT=3600 XE_TIMEOUT=4000 \
	XE_CPU_EXTRA="$$([ "$(BENCH_XEN_AES)" = 1 ] && echo +aes,+pclmulqdq,+ssse3,+sse4.1)" \
	XE_DOM0_EXTRA="xe_bench_secs=$(BENCH_XEN_SECS) xe_bench_rounds=$(BENCH_XEN_ROUNDS)" \
	$(SHELL) $(abs_top_srcdir)/tests/xen/run.sh; rc=$$?; \
	t=$${XE_LAB:-/var/tmp/xe-lab}/xen-4.20/runs/latest/blocks/bench-xen-table.txt; \
	if [ -f "$$t" ]; then cat "$$t"; else echo "bench-xen: no table (see the lab's report)"; fi; \
	exit $$rc
.PHONY: bench-xen
