#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# run.sh - one real-Xen lab in one command: host packages, build, base
# images, one QEMU TCG boot of Xen + dom0 running the scenarios, and a short
# human report with timings. Exit status 1 on any FAIL.
#
#   tests/xen/run.sh                       Xen 4.17: blank-boot and phy (+
#                                          the ephemeral scenarios when
#                                          XE_BUILD has the daemon and CLI)
#   XE_XEN=4.20 tests/xen/run.sh           the Xen 4.20 lab (libxl route)
#   XE_SCENARIOS=phy tests/xen/run.sh      just these (comma list)
#   XE_BUILD=/path/to/build                the project's built tree
#   XE_DEB=/path/to/xen-ephemeral_*.deb    or its Debian package, unpacked
#                                          into dom0 (tests/run-lab.sh)
#   XE_LAB=/var/tmp/xe-lab                 work dir; each Xen has its own
#                                          $XE_LAB/xen-<version> (XE_W)
#   XE_TIMEOUT=3000                        hard limit for the QEMU run
#   XE_FAKE_EPHEMERAL=1                    leaky stand-ins instead of the
#                                          binaries: the lab's self-test
#   run.sh --report RUNDIR                 print an earlier run's report
# Scenarios: the files in scenarios/ whose "# xe-lab:" line names this Xen
# (xen=4.17,4.20), run in their order= (then by name); without XE_BUILD
# only those tagged "always" (they need none of our binaries).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export XE_LAB=${XE_LAB:-/var/tmp/xe-lab}
export XE_XEN=${XE_XEN:-4.17}
export XE_W=${XE_W:-$XE_LAB/xen-$XE_XEN}
export XE_BUILD=${XE_BUILD:-} XE_DEB=${XE_DEB:-}
T0=${EPOCHREALTIME/./}
el() { local e=$((${EPOCHREALTIME/./} - T0)); printf '%d.%d' $((e / 1000000)) $(((e / 100000) % 10)); }
say() { echo "[xen-lab $(el)s] $*"; }

# ------------------------------------------------------------ report
report() { # report RUNDIR SCENARIOS BUILD_DECISECONDS
	local RUN=$1 XE_SCENARIOS=$2 TBUILD=$3
t() { # t PATTERN: host seconds of the first serial line matching PATTERN
	{ grep -a -m1 -E "$1" "$RUN/serial.log" || true; } | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'
}
{
	echo "== xen-ephemeral real-Xen lab, Xen $(sed -n 's/^lab: xen=\([^ ]*\).*/\1/p' "$RUN/cmdline.txt"): $RUN"
	echo "timings (s): build+bases $((TBUILD / 10)).$((TBUILD % 10)), qemu wall $(sed -n 's/.*wall_ms=\([0-9]*\).*/\1/p' "$RUN/qemu-rc.txt" | awk '{printf "%.1f", $1 / 1000}'),"
	echo "  since qemu start: dom0 /init $(t 'XE-MARK DOM0-USERSPACE'), disks $(t 'XE-MARK DISKS-READY'), toolstack $(t 'XE-MARK TOOLSTACK-UP'), poweroff $(t 'XE-POWEROFF')"
	for s in $(echo "$XE_SCENARIOS" | tr ',' ' '); do
		a=$(t "XE-MARK SCENARIO-START name=$s ") b=$(t "XE-MARK SCENARIO-END name=$s ")
		c1=$(t "XE-MARK XL-CREATE-START name=$s ") c2=$(t "XE-MARK XL-CREATE-END name=$s ")
		g=$(t "XE-MARK GUEST-DONE name=$s ")
		awk -v s="$s" -v a="$a" -v b="$b" -v c1="$c1" -v c2="$c2" -v g="$g" 'BEGIN {
			f = "  %-12s total %6s, xl create %5s, create->guest done %s\n"
			printf f, s, (a != "" && b != "") ? sprintf("%.1f", b - a) : "-",
				(c1 != "" && c2 != "") ? sprintf("%.1f", c2 - c1) : "-",
				(c1 != "" && g != "") ? sprintf("%.1f", g - c1) : "-" }'
	done
	for s in $(echo "$XE_SCENARIOS" | tr ',' ' '); do
		{ grep -a "XE-GUEST RESULT name=$s[ -]" "$RUN/guest.txt" || true; } | while read -r _ _ nm r w _; do
			w=${w#wrote_kib=}
			[ "$w" -gt 0 ] || continue
			echo "guest ${nm#name=} wrote $((w / 1024)).$(((w % 1024) * 10 / 1024)) MiB, read back and checked: $r"
		done
	done
	summary "$RUN"
	echo "results:"
	sed 's/^XE-RESULT /  /' "$RUN/results.txt"
	np=$(grep -c ' PASS' "$RUN/results.txt" || true)
	nf=$(grep -c ' FAIL' "$RUN/results.txt" || true)
	ns=$(grep -c ' SKIP' "$RUN/results.txt" || true)
	echo "xen-lab: $np passed, $nf failed, $ns skipped"
} | tee "$RUN/report.txt"
}
# The promise in five lines, from the results of one run.
summary() { # summary RUNDIR
	local R n kib ok=yes
	R=$(sed 's/^XE-RESULT //' "$1/results.txt")
	res() { echo "$R" | awk -v p="$1" '$1 ~ p {print $2}' | sort | uniq -c | awk '{printf "%s%s x%s", s, $2, $1; s = ", "}'; }
	n=$(echo "$R" | grep -c -E '^(eph|xl)-[a-z0-9-]*-guest ' || true)
	kib=$({ grep -a -E 'XE-GUEST RESULT name=(eph|xl)-' "$1/guest.txt" 2>/dev/null || true; } |
		sed -n 's/.*wrote_kib=\([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}')
	echo "$R" | grep -q -E '^(eph|xl)-[a-z0-9-]*-guest FAIL' && ok=no
	[ "$n" -gt 0 ] || ok="-"
	echo "summary:"
	echo "  ephemeral guests: $n, wrote $((kib / 1024)) MiB in all, checks passed: $ok"
	echo "  base images unchanged (host hashes before and after): $(res '^host-base-')"
	echo "  scans for ephemeral guests' markers on dom0 storage and QEMU's disks: $(res '^(eph|xl)-.*-scan-absent$|^host-scan-(eph|xl)-.*-absent$')"
	echo "  positive control (kernel blkback phy disk), markers found: $(res '^phy-scan-present$|^host-scan-phy-present$')"
	echo "  daemon state and xenstore nodes gone after each guest: $(res 'state-gone$|xenstore-gone$')"
	if echo "$R" | grep -q '^xl-'; then
		echo "  libxl teardown (no 10 s timeout, hook remove for every disk): $(res '^xl-.*-(teardown|destroy|block-detach)$')"
		echo "  disks the daemon cannot serve, refused at once: $(res '^xl-bad-')"
	fi
}
# run.sh --report RUNDIR: the report of an earlier run again
if [ "${1:-}" = --report ]; then
	report "$2" "$(sed -n 's/.*xe_scenarios=\([^ ]*\).*/\1/p' "$2/cmdline.txt")" 0
	exit 0
fi
case $XE_XEN in 4.17 | 4.20) ;; *) echo "XE_XEN=$XE_XEN: 4.17 or 4.20" >&2; exit 2 ;; esac


# ------------------------------------------------------------ host packages
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v depmod >/dev/null || need+=(kmod)
command -v cpio >/dev/null || need+=(cpio)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v gcc >/dev/null || need+=(gcc)
command -v xz >/dev/null || need+=(xz-utils)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if [ ${#need[@]} -gt 0 ] || ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
	say "apt-get install ${need[*]:-(lists only)}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	[ ${#need[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ------------------------------------------------------------ scenarios
if [ -z "${XE_SCENARIOS:-}" ]; then
	all=0
	{ [ -n "$XE_BUILD" ] || [ -n "$XE_DEB" ] ||
		[ "${XE_FAKE_EPHEMERAL:-0}" = 1 ]; } && all=1
	XE_SCENARIOS=$(for f in "$HERE"/scenarios/*.sh; do
		tag=$(sed -n 's/^# xe-lab: //p' "$f" | head -n1)
		echo " $tag " | grep -q -E " xen=([0-9.]*,)*$XE_XEN[, ]" || continue
		# benchmarks (bench-xen) run only when named
		echo " $tag " | grep -q ' bench ' && continue
		[ $all = 1 ] || echo " $tag " | grep -q ' always ' || continue
		o=$(echo "$tag" | sed -n 's/.*order=\([0-9]*\).*/\1/p')
		echo "${o:-50} $(basename "$f" .sh)"
	done | sort -k1,1n -k2,2 | awk '{print $2}' | paste -s -d, -)
fi

# a benchmark named: its guest (fio) and dom0 tools (dmsetup, qemu-img)
for s in $(echo "$XE_SCENARIOS" | tr ',' ' '); do
	[ -f "$HERE/scenarios/$s.sh" ] && grep -q -E '^# xe-lab:.* bench( |$)' "$HERE/scenarios/$s.sh" &&
		export XE_BENCH=1
done

# ------------------------------------------------------------ build
say "build Xen $XE_XEN lab in $XE_W (XE_BUILD=${XE_BUILD:-none}${XE_DEB:+, XE_DEB=$XE_DEB})"
tb=${EPOCHREALTIME/./}
bash "$HERE/build.sh"
bash "$HERE/make-bases.sh"
TBUILD=$(((${EPOCHREALTIME/./} - tb) / 100000))

# ------------------------------------------------------------ boot
RUN=$XE_W/runs/$(date +%Y%m%d-%H%M%S)
say "boot: scenarios $XE_SCENARIOS -> $RUN"
BRC=0
bash "$HERE/boot.sh" "$RUN" "$XE_SCENARIOS" "${XE_TIMEOUT:-3000}" || BRC=$?
[ "$BRC" -le 1 ] || { say "boot.sh failed (rc=$BRC)"; exit 1; }
ln -sfn "$RUN" "$XE_W/runs/latest"

report "$RUN" "$XE_SCENARIOS" "$TBUILD"
say "done"
if grep -q ' FAIL' "$RUN/results.txt"; then exit 1; fi
exit 0
