# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.20 order=78
# xl-pause: on-full=pause on the libxl route. The guest's only disk, xvda,
# is blank 32M in RAM with limit=2M,on-full=pause (xl config). The guest
# checks it reads zeros, writes sectors and runs (about 1.2 MiB of
# overlay) and then a 4 MiB marker stream with O_DIRECT, which finds the
# overlay full: the daemon holds that write and pauses the domain. dom0
# must see it paused (`xl list` state p, `status --json` "paused": true,
# the overlay at its limit), still paused 5 s later, then raises the limit
# with `xen-ephemeral set-limit DOMID xvda 32M`: the daemon unpauses the
# guest (dom0 does not), the held write completes, and the guest's
# read-back checks pass: nothing lost, no I/O error. Then the usual
# teardown checks.
xe_pause_while() { # NAME DOMID
	local n=$1 id=$2 line st a b rc
	if ! xe_waitfor 600 sh -c "xen-ephemeral status --json | grep '\"owner\": $id, \"devid\": 51712,' | grep -q '\"paused\": true'"; then
		xe_block status-nopause-$n xen-ephemeral status --json
		xe_result $n-paused FAIL "the daemon never reported the disk paused (600 s)"
		return
	fi
	a=$(xe_up)
	xe_mark PAUSED name=$n
	line=$(xen-ephemeral status --json | grep "\"owner\": $id, \"devid\": 51712,")
	st=$(xl list $id | awk 'NR == 2 {print $5}')
	xe_block status-paused-$n sh -c "xen-ephemeral status --json; xen-ephemeral status; xl list"
	case "$st" in
	*p*) xe_result $n-paused PASS "xl list state $st, status: paused, overlay_used_bytes $(echo "$line" | sed 's/.*"overlay_used_bytes": \([0-9]*\).*/\1/') of limit $(echo "$line" | sed 's/.*"overlay_limit_bytes": \([0-9]*\).*/\1/')" ;;
	*) xe_result $n-paused FAIL "status says paused but xl list state is '$st'" ;;
	esac
	sleep 5
	st=$(xl list $id | awk 'NR == 2 {print $5}')
	if echo "$st" | grep -q p && xen-ephemeral status --json | grep "\"owner\": $id, \"devid\": 51712," | grep -q '"paused": true'; then
		xe_result $n-held PASS "still paused 5 s later (state $st)"
	else
		xe_result $n-held FAIL "not held: state $st"
	fi
	xen-ephemeral set-limit $id xvda 32M > $XE_RUN/set-limit-$n.log 2>&1
	rc=$?
	xe_block set-limit-$n cat $XE_RUN/set-limit-$n.log
	if xe_waitfor 30 sh -c "! xl list $id | awk 'NR == 2 {print \$5}' | grep -q p && xen-ephemeral status --json | grep '\"owner\": $id, \"devid\": 51712,' | grep -q '\"paused\": false'"; then
		b=$(xe_up)
		xe_result $n-resumed PASS "set-limit rc=$rc: running again $(awk "BEGIN {printf \"%.1f\", $b - $a}") s after the pause was seen (state $(xl list $id | awk 'NR == 2 {print $5}'))"
	else
		xe_result $n-resumed FAIL "set-limit rc=$rc, after 30 s: state $(xl list $id | awk 'NR == 2 {print $5}')"
		xe_block status-notresumed-$n xen-ephemeral status --json
		xl unpause $id # only so that the scenario ends; it failed
	fi
	xe_status_poll $id $XE_RUN/status-last-$n.json
}

scenario_xl_pause() {
	xe_xl_ready xl-pause || return
	local n=xl-pause r=PASS line
	XE_XL_WHILE=xe_pause_while
	xe_xl_guest $n xvda:blank "$(xe_xl_disk xvda blank:size=32M,store=ram,limit=2M,on-full=pause)" "xe_mark_mib=4" || r=FAIL
	unset XE_XL_WHILE
	line=$(grep '"devid": 51712,' $XE_RUN/status-last-$n.json 2>/dev/null)
	xe_block status-last-$n cat $XE_RUN/status-last-$n.json
	case "$line" in
	*'"io_errors": 0,'*'"enospc_errors": 0,'*) xe_result $n-no-errors PASS "last status while running: $(echo "$line" | grep -o -E '"(overlay_used_bytes|overlay_limit_bytes|write_reqs|io_errors|enospc_errors)": [0-9]*' | tr -d '"' | tr '\n' ' ')" ;;
	*) xe_result $n-no-errors FAIL "no status or errors: $(echo "$line" | grep -o -E '"(io_errors|enospc_errors)": [0-9]*' | tr '\n' ' ')" ;;
	esac
	grep -q -E "^$n-(paused|held|resumed|no-errors) PASS" $XE_RUN/results || r=FAIL
	[ "$(grep -c -E "^$n-(paused|held|resumed|no-errors) PASS" $XE_RUN/results)" = 4 ] || r=FAIL
	xe_daemon_stop
	xe_result $n $r "on-full=pause: paused at the limit, set-limit resumed it, the held write completed"
}
