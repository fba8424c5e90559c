#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The main job, on a fresh Debian 12 machine, as root: install what is
# needed, build xen-ephemeral, then run both real-Xen labs under QEMU
# (tests/xen/README.md), one after the other:
#   Xen 4.17, Debian 12 dom0: guests whose disks the CLI self-attaches
#   Xen 4.20, Debian 13 dom0 (trixie packages through a private apt
#             configuration in $XE_LAB/apt-trixie, which build.sh sets up):
#             guests whose disks are declared in their xl config
#             (backendtype=tap, script=xen-ephemeral), libxl's own route
# Each lab proves from the outside that the guests' writes vanish and
# prints its report; the job ends with ONE line summed over both labs,
# "xen-lab: N passed, N failed, N skipped", and exits non-zero on any
# failure (or if a lab did not get as far as counting).
#
# XE_LABS="4.20" tests/run-lab.sh          one lab only (default "4.17 4.20")
# XE_SCENARIOS=... XE_LABS=4.17 ...        scenarios for the lab(s) run
# XE_LAB=/var/tmp/xe-lab                   work dir (downloads, images, runs)
# XE_DEB=                                  the build tree in dom0, not the
#                                          package (tests/build-deb.sh)
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$top/build-lab"
export XE_LAB=${XE_LAB:-/var/tmp/xe-lab}
labs=${XE_LABS:-4.17 4.20}

"$top/tests/install-deps.sh" autoconf automake make gcc pkgconf libssl-dev \
	libxen-dev qemu-system-x86 kmod cpio e2fsprogs libc6-dev xz-utils \
	debian-archive-keyring liburing-dev libseccomp-dev libsystemd-dev \
	debhelper dh-autoreconf lintian git
cd "$top"
autoreconf -fi >/dev/null
mkdir -p "$build" "$XE_LAB"
(cd "$build" && "$top/configure" -q --enable-werror &&
	make -s -j"$(nproc 2>/dev/null || echo 2)")
# The labs install the Debian package in dom0: what a user installs. The
# one tests/run-all.sh left in build-deb/ if it is of this very tree (CI
# runs that first), else one built now without its tests (they are
# tests/run-all.sh's). XE_DEB= (empty) puts the build tree in instead.
if [ -z "${XE_DEB+set}" ]; then
	XE_DEB_REUSE=1 DEB_BUILD_OPTIONS="nocheck parallel=$(nproc 2>/dev/null || echo 2)" \
		"$top/tests/build-deb.sh" "$top/build-deb" > "$XE_LAB/build-deb.log" 2>&1 || {
		tail -n 30 "$XE_LAB/build-deb.log"
		echo "run-lab: the Debian package did not build ($XE_LAB/build-deb.log)"
		echo "xen-lab: 0 passed, 1 failed, 0 skipped"
		exit 1
	}
	tail -n 1 "$XE_LAB/build-deb.log"
	XE_DEB=$(ls "$top"/build-deb/xen-ephemeral_*_*.deb | grep -v dbgsym | head -n 1)
fi
export XE_DEB

# counts LOG: "P F S" from the last "xen-lab: P passed, F failed, S skipped"
counts() {
	grep -a -E '^xen-lab: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$1" |
		tail -n1 | sed -E 's/^xen-lab: //; s/ passed, | failed, | skipped$/ /g'
}

rc=0 P=0 F=0 S=0 lines=()
for x in $labs; do
	log=$XE_LAB/run-lab-$x.log
	t0=$SECONDS
	echo "==== the Xen $x lab ($log)"
	lrc=0
	XE_XEN=$x XE_BUILD="$build" bash "$top/tests/xen/run.sh" 2>&1 | tee "$log" ||
		lrc=$?
	read -r p f s <<<"$(counts "$log")"
	if [ -z "${p:-}" ]; then
		echo "run-lab: the Xen $x lab printed no count (rc=$lrc)"
		p=0 f=1 s=0
	fi
	[ "$lrc" = 0 ] && [ "$f" = 0 ] || rc=1
	P=$((P + p)) F=$((F + f)) S=$((S + s))
	lines+=("  Xen $x lab: $p passed, $f failed, $s skipped, $((SECONDS - t0)) s (rc=$lrc)")
	# The failures again, where the last lines of a long log show them.
	while IFS= read -r l; do
		lines+=("    $x: ${l#  }")
	done < <(grep -a -E '^  [A-Za-z0-9._-]+ FAIL( |$)' "$log" | sort -u)
done
echo "==== both labs"
printf '%s\n' "${lines[@]}"
echo "xen-lab: $P passed, $F failed, $S skipped"
exit $rc
