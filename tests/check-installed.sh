#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# What `make install` puts on a system, checked without installing it:
# the man pages lint clean (mandoc -T lint, groff -ww), the systemd unit
# passes `systemd-analyze verify` (with this build's daemon and man pages
# in its place), and the hook script is POSIX sh that refuses to run
# outside libxl. The lab's dom0 has no systemd: this is how the unit is
# proven.
top=${top_srcdir:-.}
build=${top_builddir:-.}
fail=0 n=0
ok() { n=$((n + 1)); echo "ok: $*"; }
bad() { n=$((n + 1)); fail=1; echo "FAIL: $*"; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "SKIP: no $1 (apt-get install $2)"; exit 77; }; }
need mandoc mandoc
need groff groff-base
need systemd-analyze systemd

for m in "$top"/docs/man/*.[158]; do
	out=$(mandoc -T lint -W warning "$m" 2>&1)
	if [ -n "$out" ]; then bad "mandoc -T lint $m: $out"; else ok "mandoc lint $(basename "$m")"; fi
	out=$(groff -ww -z -man "$m" 2>&1)
	if [ -n "$out" ]; then bad "groff -ww $m: $out"; else ok "groff -ww $(basename "$m")"; fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/man/man1" "$tmp/man/man5" "$tmp/man/man8"
for m in "$top"/docs/man/*.[158]; do
	s=${m##*.}
	cp "$m" "$tmp/man/man$s/"
done
unit=$build/daemon/xen-ephemerald.service
if [ -f "$unit" ]; then
	sed "s|^ExecStart=[^ ]*|ExecStart=$(cd "$build" && pwd)/daemon/xen-ephemerald|" "$unit" > "$tmp/xen-ephemerald.service"
	out=$(MANPATH=$tmp/man systemd-analyze verify "$tmp/xen-ephemerald.service" 2>&1)
	if [ -n "$out" ]; then bad "systemd-analyze verify: $out"; else ok "systemd-analyze verify xen-ephemerald.service"; fi
	grep -q '^Type=notify' "$unit" && grep -q '^LimitMEMLOCK=infinity' "$unit" &&
		grep -q '^LimitCORE=0' "$unit" && grep -q '^DevicePolicy=closed' "$unit" &&
		ok "unit: notify, memlock, no core, device allow-list" ||
		bad "unit lost Type=notify, LimitMEMLOCK, LimitCORE or DevicePolicy"
else
	bad "no $unit (make daemon/xen-ephemerald.service)"
fi

# the daemon's and the worker's option checks (neither needs Xen for these)
d=$build/daemon
out=$("$d/xen-ephemerald" --cipher-threads 4 2>&1)
rc=$?
case "$rc:$out" in 2:*"--cipher-threads: 0 to 3"*) ok "daemon refuses --cipher-threads 4" ;; *) bad "daemon --cipher-threads 4: rc $rc, said: $out" ;; esac
"$d/xen-ephemerald" --help | grep -q -- '--cipher-threads N' && ok "daemon --help names --cipher-threads" || bad "daemon --help lacks --cipher-threads"
out=$("$d/xen-ephemeral-worker" --domid 1 --cipher-threads x 2>&1)
[ $? = 2 ] && ok "worker refuses --cipher-threads x" || bad "worker --cipher-threads x: $out"

hook=$top/tools/xen-ephemeral-hook.sh
if command -v dash >/dev/null 2>&1 && dash -n "$hook"; then ok "hook parses as POSIX sh (dash -n)"; else bad "hook: dash -n failed"; fi
out=$(XENBUS_PATH=backend/vbd/1/51712 sh "$hook" add 2>&1)
rc=$?
case "$rc:$out" in 1:*"not a vbd3 device"*) ok "hook refuses a non-vbd3 device" ;; *) bad "hook on a vbd device: rc $rc, said: $out" ;; esac
out=$(sh "$hook" frobnicate 2>&1)
[ $? = 2 ] && ok "hook refuses an unknown action" || bad "hook frobnicate: $out"
echo "check-installed: $n checks"
exit $fail
