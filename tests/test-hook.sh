#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# libxl's hotplug script (tools/xen-ephemeral-hook.sh) against a stand-in
# xenstore (a directory tree; xenstore-read and xenstore-write on PATH), in
# every case libxl can meet: the daemon took the device (hotplug-status
# connected), took an HVM guest's device (its NBD socket copied into
# physical-device-path), refused it (hotplug-error is the daemon's reason,
# exit 1), is not running (a clear reason), remove, and bad invocations.
set -u
top=${srcdir:-.}
[ -f "$top/tools/xen-ephemeral-hook.sh" ] || top=$top/..
hook=$top/tools/xen-ephemeral-hook.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# the stand-in tools: one file per node under $tmp/xs
mkdir -p "$tmp/bin" "$tmp/xs"
cat > "$tmp/bin/xenstore-read" <<EOT
#!/bin/sh
[ -f "$tmp/xs/\$1" ] || { echo "couldn't read path \$1" >&2; exit 1; }
cat "$tmp/xs/\$1"
EOT
cat > "$tmp/bin/xenstore-write" <<EOT
#!/bin/sh
while [ \$# -ge 2 ]; do
	mkdir -p "\$(dirname "$tmp/xs/\$1")"
	printf '%s' "\$2" > "$tmp/xs/\$1"
	shift 2
done
EOT
for t in sh sleep dirname mkdir cat printf logger; do
	p=$(command -v $t) && ln -sf "$p" "$tmp/bin/$t"
done
chmod +x "$tmp/bin/xenstore-read" "$tmp/bin/xenstore-write"
be=backend/vbd3/7/51712
node() { cat "$tmp/xs/$be/$1" 2>/dev/null; }
run() { XE_HOOK_TEST_PATH=$tmp/bin XE_HOOK_TEST_TRIES=5 XENBUS_PATH=$be \
	sh "$hook" "$@" 2>"$tmp/err"; }
reset() { rm -rf "$tmp/xs"; mkdir -p "$tmp/xs/$be"; }

# a PV guest's disk the daemon took
reset
printf 4 > "$tmp/xs/$be/state"; printf 8192 > "$tmp/xs/$be/sectors"
run add; rc=$?
[ $rc = 0 ] && [ "$(node hotplug-status)" = connected ] &&
	[ -z "$(node physical-device-path)" ] &&
	ok "taken: hotplug-status connected, no physical-device-path" ||
	bad "taken: rc $rc, status '$(node hotplug-status)'"

# an HVM guest's: the socket goes to libxl
reset
printf 2 > "$tmp/xs/$be/state"; printf 8192 > "$tmp/xs/$be/sectors"
printf /run/xen-ephemeral/nbd/7.51712.sock > "$tmp/xs/$be/ephemeral-nbd-socket"
run add; rc=$?
[ $rc = 0 ] && [ "$(node physical-device-path)" = /run/xen-ephemeral/nbd/7.51712.sock ] &&
	[ "$(node hotplug-status)" = connected ] &&
	ok "HVM: physical-device-path is the disk's NBD socket" ||
	bad "HVM: rc $rc, physical-device-path '$(node physical-device-path)'"

# refused: the daemon's reason, for xl create to print
reset
printf 2 > "$tmp/xs/$be/state"
printf "base /srv/none.img: No such file or directory" > "$tmp/xs/$be/error"
run add; rc=$?
[ $rc = 1 ] && [ "$(node hotplug-status)" = error ] &&
	[ "$(node hotplug-error)" = "base /srv/none.img: No such file or directory" ] &&
	grep -q "none.img" "$tmp/err" &&
	ok "refused: hotplug-error is the daemon's reason, exit 1" ||
	bad "refused: rc $rc, hotplug-error '$(node hotplug-error)'"

# the daemon is not running: nothing answers
reset
printf 1 > "$tmp/xs/$be/state"
run add; rc=$?
[ $rc = 1 ] && grep -q "is it running" "$tmp/err" &&
	[ "$(node hotplug-status)" = error ] &&
	ok "no daemon: a clear reason, exit 1" ||
	bad "no daemon: rc $rc, said: $(cat "$tmp/err")"

# remove: nothing to undo
reset
run remove; rc=$?
[ $rc = 0 ] && ok "remove: exit 0" || bad "remove: rc $rc"

# bad invocations
XENBUS_PATH=backend/vbd/7/51712 XE_HOOK_TEST_PATH=$tmp/bin sh "$hook" add >/dev/null 2>&1
[ $? = 1 ] && ok "a vbd (not vbd3) device: refused" || bad "a vbd device accepted"
XE_HOOK_TEST_PATH=$tmp/bin sh "$hook" frobnicate >/dev/null 2>&1
[ $? = 2 ] && ok "an unknown action: exit 2" || bad "unknown action"

echo "test-hook: $pass passed, $fail failed"
[ $fail = 0 ]
