# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.17 order=50
# eph-full: a guest writes past its disk's overlay limit. It must see I/O
# errors for the new blocks only: what it wrote before stays readable and
# can be overwritten, its other disks keep working, `xen-ephemeral status`
# shows the overlay at its limit with out-of-space errors counted,
# `xen-ephemeral set-limit` gives room for new blocks again, and the
# daemon then serves a second guest as if nothing happened.
XE_FULL_LIMIT_MIB=8

# While the guest runs: when it says it is full (it then retries a new
# block each second), read the daemon's status, then raise the limit.
xe_full_hold() { # NAME DOMID
	local log
	log=$(xe_guest_log $1)
	if ! xe_waitfor $XE_GUEST_TIMEOUT sh -c "grep -q 'XE-GUEST FULL name=$1 ' $log || ! xenstore-exists /local/domain/$2"; then
		echo "$1 never said it was full" > $XE_RUN/full-set-limit.log
		return
	fi
	echo $2 > $XE_RUN/full-domid
	xen-ephemeral status --json > $XE_RUN/full-status.json 2>&1
	xen-ephemeral set-limit $2 xvdc $((XE_FULL_LIMIT_MIB * 2))M > $XE_RUN/full-set-limit.log 2>&1
	echo "rc=$?" >> $XE_RUN/full-set-limit.log
}

scenario_eph_full() {
	xe_have_binaries || { xe_result eph-full SKIP "no xen-ephemerald/xen-ephemeral in this build (XE_BUILD)"; return; }
	xe_daemon_start || { xe_result eph-full FAIL "daemon did not come up"; return; }
	local r=PASS st used enospc limit
	rm -f $XE_RUN/full-status.json $XE_RUN/full-set-limit.log $XE_RUN/full-domid
	# Set, then unset: ash may keep assignments made before a function.
	XE_EPH_XVDC=fill:$XE_FULL_LIMIT_MIB
	XE_EPH_XVDC_SPEC=limit=${XE_FULL_LIMIT_MIB}M
	XE_EPH_WHILE=xe_full_hold
	xe_eph_guest eph-full-1 store=ram || r=FAIL
	unset XE_EPH_XVDC XE_EPH_XVDC_SPEC XE_EPH_WHILE
	st=$(grep '"devid": 51744,' $XE_RUN/full-status.json 2>/dev/null)
	used=$(echo "$st" | sed -n 's/.*"overlay_used_bytes": \([0-9]*\).*/\1/p')
	limit=$(echo "$st" | sed -n 's/.*"overlay_limit_bytes": \([0-9]*\).*/\1/p')
	enospc=$(echo "$st" | sed -n 's/.*"enospc_errors": \([0-9]*\).*/\1/p')
	if [ "${limit:-0}" = $((XE_FULL_LIMIT_MIB << 20)) ] &&
	   [ "${used:-0}" = "$limit" ] && [ "${enospc:-0}" -gt 0 ]; then
		xe_result eph-full-status PASS "xvdc overlay $used of $limit bytes, $enospc out-of-space errors"
	else
		xe_block full-status cat $XE_RUN/full-status.json
		xe_result eph-full-status FAIL "xvdc: used=${used:-?} limit=${limit:-?} enospc=${enospc:-?}"
		r=FAIL
	fi
	if grep -q '^rc=0$' $XE_RUN/full-set-limit.log 2>/dev/null; then
		xe_result eph-full-set-limit PASS "xen-ephemeral set-limit to $((XE_FULL_LIMIT_MIB * 2))M while full: rc=0 (the guest's new block went in: eph-full-1-guest)"
	else
		xe_block full-set-limit cat $XE_RUN/full-set-limit.log
		xe_result eph-full-set-limit FAIL "$(head -n1 $XE_RUN/full-set-limit.log 2>/dev/null)"
		r=FAIL
	fi
	# Its closing line in the daemon's log says the same at the end: the
	# most it held (the old limit and the block after set-limit) and the
	# writes refused.
	local id line held refused
	id=$(cat $XE_RUN/full-domid 2>/dev/null)
	xe_waitfor 10 grep -q " ${id:-none}/51744: disk closed" $XE_RUN/daemon.log
	line=$(grep " ${id:-none}/51744: disk closed" $XE_RUN/daemon.log | tail -n1)
	held=$(echo "$line" | sed -n 's/.*held at most \([0-9]*\) of.*/\1/p')
	refused=$(echo "$line" | sed -n 's/.* \([0-9]*\) refused for lack of space.*/\1/p')
	if [ "${held:-0}" -gt $((XE_FULL_LIMIT_MIB << 8)) ] && [ "${refused:-0}" -gt 0 ]; then
		xe_result eph-full-closed PASS "${line#*info: }"
	else
		xe_block full-daemon-log cat $XE_RUN/daemon.log
		xe_result eph-full-closed FAIL "no closing line with the disk's counters for ${id:-?}/51744: ${line:-none}"
		r=FAIL
	fi
	# The daemon carries on: a second guest on the same daemon.
	xe_eph_guest eph-full-2 store=ram || r=FAIL
	xe_daemon_stop
	xe_result eph-full $r "out of overlay space is errors for new blocks, not a dead disk"
}
