#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The CLI's command line, without Xen: options go before or after the
# command, and bad input gets a clear message and exit status 2, never a
# crash. (The lab ran `xen-ephemeral status --json`, which once failed with
# "'--json' is not a domain id".)
cli=${top_builddir:-.}/tools/xen-ephemeral
fail=0
expect() { # expect STATUS PATTERN ARGS...
	want=$1 pat=$2
	shift 2
	out=$("$cli" "$@" 2>&1)
	rc=$?
	if [ "$rc" != "$want" ] || ! printf '%s' "$out" | grep -q -- "$pat"; then
		echo "FAIL: xen-ephemeral $*: status $rc (want $want), said: $out"
		fail=1
	else
		echo "ok: xen-ephemeral $*"
	fi
}
sock=/nonexistent/xe-test.sock
expect 1 "cannot reach the daemon" status --json -c $sock
expect 1 "cannot reach the daemon" -c $sock --json status
expect 1 "cannot reach the daemon" list -c $sock
expect 2 "is not a domain id" status abc -c $sock
expect 2 "is not a domain id" attach 99999 xvda blank:size=1M
expect 2 "bad virtual device" detach 3 sda
expect 2 "bad command line" frobnicate
expect 2 "bad command line" attach 3 xvda
expect 2 "is not a UUID" forget 6F1C3B2E-0A4D-4C8E-9B1A-2D3E4F5A6B7C
expect 1 "cannot reach the daemon" forget 6f1c3b2e-0a4d-4c8e-9b1a-2d3e4f5a6b7c -c $sock
expect 2 "not a domain id" set-limit x5 xvda 1G
expect 2 "is not a device name" set-limit 5 "xv da" 1G
expect 2 "is not a size of at least 4K" set-limit 5 xvda 1K
expect 2 "is not a size of at least 4K" set-limit 5 xvda 4Q
expect 1 "cannot reach the daemon" set-limit 5 xvda 1G -c $sock
expect 2 "unrecognized option" --bogus list
expect 0 "attach DOMID VDEV SPEC" --help

# The daemon's options are checked before it reaches for Xen. A budget
# below one overlay block once meant no cap at all (it rounded to 0).
cli=${top_builddir:-.}/daemon/xen-ephemerald
expect 2 "at least 4K" --budget 1
expect 2 "at least 4K" --budget 4095
expect 2 "a size like 8G" --budget 0
expect 2 "a size like 8G" --budget 4Q
expect 1 "cannot reach Xen" --budget 4K
exit $fail
