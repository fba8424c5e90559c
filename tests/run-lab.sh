#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The main job, on a fresh Debian 12 machine, as root: install what is
# needed, build xen-ephemeral, boot a real Xen 4.17 with a Debian dom0 under
# QEMU, run stock Linux guests on ephemeral disks served by the daemon, and
# prove from the outside that their writes vanish (tests/xen/README.md).
# Prints a short report and ends with "xen-lab: N passed, N failed, N
# skipped"; exits non-zero on any failure. Takes 20-30 minutes under TCG.
#
# XE_SCENARIOS=eph-ram tests/run-lab.sh   just some scenarios (comma list)
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$top/build-lab"

"$top/tests/install-deps.sh" autoconf automake make gcc pkgconf libssl-dev \
	libxen-dev liburing-dev libseccomp-dev
cd "$top"
autoreconf -fi >/dev/null
mkdir -p "$build"
(cd "$build" && "$top/configure" -q --enable-werror &&
	make -s -j"$(nproc 2>/dev/null || echo 2)")
exec env XE_BUILD="$build" bash "$top/tests/xen/run.sh"
