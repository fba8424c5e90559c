#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# boot.sh - one boot of the lab: Xen + Debian dom0 (PV) under QEMU TCG.
#
#   boot.sh OUTDIR [SCENARIOS] [TIMEOUT_S]
#   boot.sh --post OUTDIR      redo the extraction and host checks only
#
# XE_XEN (4.17, default, or 4.20) picks the build in $XE_W (default
# $XE_LAB/xen-$XE_XEN) and the CPU: qemu64 for 4.17; qemu64,+svm,+npt for
# 4.20 (SVM with nested paging: HAP for the HVM and PVH guests to come).
# A boot whose dom0 never reaches its /init (the 6.12 dom0 sometimes dies
# early under TCG, xenlab420 REPORT 2) is retried once.
#
# SCENARIOS is a comma list of tests/xen/scenarios/ names (default
# blank-boot,phy), passed to dom0 as xe_scenarios=. QEMU gets three IDE
# disks, fresh copies of $XE_LAB/bases/{base-a,base-b,scratch}.img in
# OUTDIR/disks. The serial console goes to OUTDIR/serial.log with the host's
# seconds since QEMU start on each line; the whole QEMU run is killed after
# TIMEOUT_S (default 3000). Afterwards, into OUTDIR:
#   blocks/NAME.txt   every ===== BEGIN NAME ===== ... ===== END NAME ===== block
#   results.txt       XE-RESULT lines from dom0, then the host's own checks:
#                     the base images are unchanged (sha256), the host scan of
#                     every disk image for every XE-MARKER dom0 declared,
#                     and that dom0 reached poweroff
#   guest.txt, markers.txt, marks.txt   XE-GUEST, XE-MARKER, XE-MARK lines
#   host-scan.txt     the scanner's output on the host
# Exit status: 0 when no result is FAIL, 1 otherwise.
set -euo pipefail
trap 'echo "[boot] ERROR: line $LINENO: $BASH_COMMAND failed" >&2; exit 2' ERR
HERE=$(cd "$(dirname "$0")" && pwd)
XE_XEN=${XE_XEN:-4.17}
W=${XE_W:-${XE_LAB:-/var/tmp/xe-lab}/xen-$XE_XEN}
case $XE_XEN in
4.17) CPU=qemu64 ;;
*) CPU=qemu64,+svm,+npt ;;
esac
# XE_CPU_EXTRA: more CPU flags for the outer QEMU (make bench-xen gives the
# lab AES-NI this way, as every host it stands for has)
CPU=$CPU${XE_CPU_EXTRA:+,$XE_CPU_EXTRA}
# XE_TCG_THREAD: multi (default: a host thread per vCPU) or single. Neither
# asid=0 on Xen's command line nor thread=single makes a PVH guest die
# less often under TCG (tests/xen/scenarios/xl-pvh.sh).
TCG_THREAD=${XE_TCG_THREAD:-multi}
OUT=${1:?usage: boot.sh OUTDIR [SCENARIOS] [TIMEOUT_S]}
SCEN=${2:-blank-boot,phy}
TMO=${3:-3000}
POST_ONLY=0
if [ "$OUT" = --post ]; then POST_ONLY=1; OUT=${2:?usage: boot.sh --post OUTDIR}; fi
die() { echo "[boot] ERROR: $*" >&2; exit 2; }
for f in xen vmlinuz dom0.cpio.gz bin/scan-markers bases/bases.env bases/base-a.img; do
	[ -e "$W/$f" ] || die "$W/$f missing: run tests/xen/build.sh and tests/xen/make-bases.sh"
done
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
# shellcheck disable=SC1091
. "$W/bases/bases.env"

DISKS="base-a base-b scratch"

# ---------------------------------------------------------------- boot
boot_qemu() {
	rm -rf "$OUT"
	mkdir -p "$OUT/disks" "$OUT/blocks"
	for d in $DISKS; do cp --sparse=always "$W/bases/$d.img" "$OUT/disks/$d.img"; done
	for x in a b; do
		sha256sum < "$OUT/disks/base-$x.img" | cut -c1-64 > "$OUT/disks/base-$x.sha256.before"
	done

	XEN_ARGS="console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all dom0_mem=1024M,max:1024M dom0_max_vcpus=2 dom0=pv console_timestamps=boot ${XE_XEN_EXTRA:-}"
	DOM0_ARGS="console=hvc0 earlyprintk=xen loglevel=5 xe_scenarios=$SCEN xe_fs_mib=$FS_MIB xe_sums_a=$SUMS_A xe_sums_b=$SUMS_B xe_scen_timeout=${XE_SCEN_TIMEOUT:-1200} ${XE_DOM0_EXTRA:-}"
	DRIVES=()
	i=0
	for d in $DISKS; do
		DRIVES+=(-drive "file=$OUT/disks/$d.img,format=raw,if=ide,index=$i,media=disk")
		i=$((i + 1))
	done
	echo "xen: $XEN_ARGS" > "$OUT/cmdline.txt"
	echo "dom0: $DOM0_ARGS" >> "$OUT/cmdline.txt"
	echo "lab: xen=$XE_XEN cpu=$CPU" >> "$OUT/cmdline.txt"

	stamp() { # prefix each line with the host's seconds since start (no forks)
		local t0=${EPOCHREALTIME/./} line e
		while IFS= read -r line || [ -n "$line" ]; do
			e=$((${EPOCHREALTIME/./} - t0))
			printf '[%4d.%03d] %s\n' $((e / 1000000)) $(((e / 1000) % 1000)) "${line//$'\r'/}"
		done
	}

	echo "[boot] Xen $XE_XEN, QEMU TCG (thread=$TCG_THREAD) -cpu $CPU, scenarios=$SCEN, timeout ${TMO}s, log $OUT/serial.log"
	T0=${EPOCHREALTIME/./}
	# QEMU splits -initrd at commas: a comma inside a module's arguments is ",,".
	# pipefail: the status is QEMU's (or timeout's 124), stamp returns 0
	RC=0
	timeout -k 10 "$TMO" qemu-system-x86_64 -accel tcg,thread=$TCG_THREAD -cpu $CPU -M pc -smp 2 -m 3072 \
		-display none -vga none -monitor none -serial stdio -no-reboot -nic none \
		"${DRIVES[@]}" \
		-kernel "$W/xen" -append "$XEN_ARGS" \
		-initrd "$W/vmlinuz ${DOM0_ARGS//,/,,},$W/dom0.cpio.gz" \
		< /dev/null 2> "$OUT/qemu.stderr" | stamp > "$OUT/serial.log" || RC=$?
	WALL=$(( (${EPOCHREALTIME/./} - T0) / 1000 ))
	echo "qemu_rc=$RC wall_ms=$WALL" > "$OUT/qemu-rc.txt"
	echo "[boot] QEMU exited rc=$RC after $((WALL / 1000)).$(((WALL % 1000) / 100)) s"
}

# ---------------------------------------------------------------- extraction
# postprocess: everything after QEMU (boot.sh --post OUTDIR redoes it)
postprocess() {
	strip() { sed 's/^\[ *[0-9.]*\] //'; }
	awk -v d="$OUT/blocks" '
		/===== BEGIN .* =====/ { n = $0; sub(/.*===== BEGIN /, "", n); sub(/ =====.*/, "", n); f = d "/" n ".txt"; printf "" > f; next }
		/===== END / { f = ""; next }
		f != "" { l = $0; sub(/^\[ *[0-9.]+\] /, "", l); print l >> f }
	' "$OUT/serial.log"
	grep -a 'XE-RESULT ' "$OUT/serial.log" | strip | sed 's/.*XE-RESULT /XE-RESULT /' > "$OUT/results.txt" || true
	grep -a 'XE-GUEST ' "$OUT/serial.log" | strip | sed 's/.*XE-GUEST /XE-GUEST /' > "$OUT/guest.txt" || true
	grep -a 'XE-MARKER ' "$OUT/serial.log" | strip | sed 's/.*XE-MARKER /XE-MARKER /' > "$OUT/markers.txt" || true
	grep -a -E 'XE-MARK |XE-ERROR|XE-POWEROFF' "$OUT/serial.log" > "$OUT/marks.txt" || true

	# ---------------------------------------------------------------- host checks
	hres() { echo "XE-RESULT $*" | tee -a "$OUT/results.txt"; }
	if grep -q XE-POWEROFF "$OUT/serial.log"; then
		hres host-dom0-finished PASS "dom0 ran every scenario and powered off"
	else
		hres host-dom0-finished FAIL "no XE-POWEROFF (qemu rc=$RC; see serial.log)"
	fi
	for x in a b; do
		before=$(cat "$OUT/disks/base-$x.sha256.before")
		after=$(sha256sum < "$OUT/disks/base-$x.img" | cut -c1-64)
		if [ "$before" = "$after" ]; then
			hres host-base-$x-unchanged PASS "sha256 ${after:0:16}"
		else
			hres host-base-$x-unchanged FAIL "sha256 ${before:0:16} -> ${after:0:16}"
		fi
	done
	# every marker dom0 declared, over every disk image QEMU was given
	: > "$OUT/host-scan.txt"
	for s in $(sed -n 's/.*scenario=\([^ ]*\).*/\1/p' "$OUT/markers.txt" | sort -u); do
		for e in present absent; do
			ms=$(grep " scenario=$s .* expect=$e" "$OUT/markers.txt" |
				sed -n 's/.* marker=\([^ ]*\).*/\1/p' | tr '\n' ' ' || true)
			[ -n "$ms" ] || continue
			# shellcheck disable=SC2086
			out=$("$W/bin/scan-markers" $ms -- "$OUT"/disks/*.img) || { hres host-scan-$s-$e FAIL "scanner error"; continue; }
			echo "$out" >> "$OUT/host-scan.txt"
			hits=$(echo "$out" | sed -n 's/.* hits=\([0-9]*\) .*/\1/p' | awk '{s += $1} END {print s + 0}')
			pieces=$(echo "$out" | sed -n 's/.* pieces=\([0-9,]*\) .*/\1/p' | tr ',' '\n' | awk '{s += $1} END {print s + 0}')
			where=$(echo "$out" | awk '{split($2, f, "/"); split($4, h, "="); if (h[2] > 0) w[f[length(f)]] = 1}
				END {for (k in w) printf "%s ", k}')
			nm=$(echo "$ms" | wc -w)
			if [ $e = present ] && [ "$hits" -gt 0 ]; then
				hres host-scan-$s-present PASS "$nm markers, hits=$hits in ${where:-?}"
			elif [ $e = absent ] && [ "$hits" = 0 ] && [ "$pieces" = 0 ]; then
				hres host-scan-$s-absent PASS "$nm markers, 0 hits, 0 pieces in $DISKS"
			else
				hres host-scan-$s-$e FAIL "$nm markers, hits=$hits pieces=$pieces in ${where:-?}"
			fi
		done
	done
	if [ ! -s "$OUT/results.txt" ]; then
		hres host-results FAIL "no results at all"
	fi
}
if [ $POST_ONLY = 0 ]; then
	boot_qemu
	if ! grep -q 'XE-MARK DOM0-USERSPACE' "$OUT/serial.log"; then
		echo "[boot] dom0 never reached /init (see $OUT.failed-boot/serial.log): booting again"
		rm -rf "$OUT.failed-boot"
		mv "$OUT" "$OUT.failed-boot"
		boot_qemu
	fi
else
	RC=$(sed -n 's/qemu_rc=\([0-9]*\).*/\1/p' "$OUT/qemu-rc.txt")
fi
postprocess
if grep -q ' FAIL' "$OUT/results.txt"; then exit 1; fi
exit 0
