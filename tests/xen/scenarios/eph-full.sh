# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.17 order=50
# eph-full: a guest writes past its disk's overlay limit. It must see I/O
# errors for the new blocks only: what it wrote before stays readable and
# can be overwritten, its other disks keep working, `xen-ephemeral status`
# shows the overlay at its limit with out-of-space errors counted, and the
# daemon then serves a second guest as if nothing happened.
XE_FULL_LIMIT_MIB=8

xe_full_poll() { xe_status_poll "$2" $XE_RUN/full-status.json; } # NAME DOMID

scenario_eph_full() {
	xe_have_binaries || { xe_result eph-full SKIP "no xen-ephemerald/xen-ephemeral in this build (XE_BUILD)"; return; }
	xe_daemon_start || { xe_result eph-full FAIL "daemon did not come up"; return; }
	local r=PASS st used enospc limit
	rm -f $XE_RUN/full-status.json
	# Set, then unset: ash may keep assignments made before a function.
	XE_EPH_XVDC=fill:$XE_FULL_LIMIT_MIB
	XE_EPH_XVDC_SPEC=limit=${XE_FULL_LIMIT_MIB}M
	XE_EPH_WHILE=xe_full_poll
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
	# The daemon carries on: a second guest on the same daemon.
	xe_eph_guest eph-full-2 store=ram || r=FAIL
	xe_daemon_stop
	xe_result eph-full $r "out of overlay space is errors for new blocks, not a dead disk"
}
