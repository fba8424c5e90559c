# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.20 order=30
# xl-attach: a running guest (xvda cow over base A in RAM, from its xl
# config) gets a disk with `xl block-attach`: xvdd, blank 16M in xts
# scratch. `xl block-list` shows it; the guest writes and checks its
# markers on it and says so; dom0 runs `xl block-detach`, which must
# complete without libxl's 10 s timeout and with the hook's remove; the
# daemon forgets the disk, its nodes go, and its markers are nowhere, while
# the guest is still running; the guest sees the disk vanish, finishes and
# powers off.
XE_ATTACH_SPEC=blank:size=16M,store=xts,scratch=/scratch/xts

xe_attach_while() { # NAME DOMID
	local n=$1 id=$2 log rc d=51760 a b
	log=$(xe_guest_log $n)
	if ! xe_waitfor 300 grep -q "XE-GUEST WAITDISK name=$n disk=xvdd" $log; then
		xe_result $n-block-attach FAIL "the guest never waited for xvdd"
		return
	fi
	xe_mark BLOCK-ATTACH-START name=$n
	a=$(xe_up)
	xl -vvv block-attach $n "$(xe_xl_disk xvdd $XE_ATTACH_SPEC | tr -d "'")" > $XE_RUN/block-attach-$n.log 2>&1
	rc=$?
	b=$(xe_up)
	xe_mark BLOCK-ATTACH-END name=$n rc=$rc
	xe_block block-attach-$n sh -c "grep -v -e 'xc: ' -e 'still waiting' $XE_RUN/block-attach-$n.log | grep -E 'hotplug|backend|error|script|vbd3'"
	xe_block xl-block-list-$n xl block-list $n
	if [ $rc = 0 ] && xl block-list $n | grep -q "^$d .*/backend/vbd3/$id/$d"; then
		xe_result $n-block-attach PASS "xl block-attach took $(awk "BEGIN {printf \"%.1f\", $b - $a}") s, xl block-list shows $d on backend/vbd3/$id/$d"
	else
		xe_result $n-block-attach FAIL "rc=$rc: $(grep -E 'error|script:' $XE_RUN/block-attach-$n.log | grep -v 'xc: ' | tail -n2 | tr '\n' ' ')"
		return
	fi
	if ! xe_waitfor 300 grep -q "XE-GUEST DETACH-READY name=$n disk=xvdd" $log; then
		xe_result $n-block-detach FAIL "the guest never finished with xvdd"
		return
	fi
	xe_xl_dump $n-xvdd-connected $id
	xe_block status-xvdd-$n xen-ephemeral status --json
	xe_mark BLOCK-DETACH-START name=$n
	a=$(xe_up)
	xl -vvv block-detach $n xvdd > $XE_RUN/block-detach-$n.log 2>&1
	rc=$?
	b=$(xe_up)
	xe_mark BLOCK-DETACH-END name=$n rc=$rc
	xe_block block-detach-$n sh -c "grep -v -e 'xc: ' -e 'still waiting' $XE_RUN/block-detach-$n.log | grep -E 'hotplug|backend|error|timed out|remove'"
	if [ $rc = 0 ] && ! grep -q 'timed out' $XE_RUN/block-detach-$n.log &&
		grep -q "calling hotplug script: $XE_HOOK remove" $XE_RUN/block-detach-$n.log; then
		xe_result $n-block-detach PASS "xl block-detach took $(awk "BEGIN {printf \"%.1f\", $b - $a}") s, no timeout, hook remove ran"
	else
		xe_result $n-block-detach FAIL "rc=$rc, $(grep -c 'timed out' $XE_RUN/block-detach-$n.log) timeouts, hook remove lines: $(grep -c "hotplug script: $XE_HOOK remove" $XE_RUN/block-detach-$n.log)"
	fi
	# the guest still runs: the daemon and xenstore must hold nothing of xvdd
	if xe_waitfor 30 sh -c ". /xe/lib.sh; ! xe_xl_status_lists $id $d"; then
		xe_result $n-xvdd-state-gone PASS "status lists nothing for $id/$d; still running: $(xl list $id | awk 'NR == 2 {print $1}')"
	else
		xe_result $n-xvdd-state-gone FAIL "status still lists $id/$d after 30 s"
	fi
	if xe_waitfor 30 sh -c "! xenstore-exists /local/domain/0/backend/vbd3/$id/$d && ! xenstore-exists /local/domain/$id/device/vbd/$d && ! xenstore-exists /libxl/$id/device/vbd/$d" &&
		! xl block-list $n | grep -q "^$d "; then
		xe_result $n-xvdd-xenstore-gone PASS "backend, frontend and libxl nodes of $d removed, xl block-list no longer shows it"
	else
		xe_result $n-xvdd-xenstore-gone FAIL "nodes of $d remain"
	fi
	xe_xl_dump $n-after-detach $id
	xe_block xl-block-list-after-$n xl block-list $n
	# xvdd's marker, scanned now, while the domain lives
	tr -d '\r' < $log | sed -n "s/.*XE-GUEST MARKER name=$n disk=xvdd marker=\([^ ]*\).*/xvdd \1/p" > $XE_RUN/markers-$n-xvdd
	xe_declare_markers $n-xvdd absent
	xe_scan $n-xvdd absent $(find /scratch -type f) /root/base-a.img /root/base-b.img
}

scenario_xl_attach() {
	xe_xl_ready xl-attach || return
	local r=PASS
	XE_XL_WHILE=xe_attach_while
	xe_xl_guest xl-attach xvda:fs:a,xvdd:blank "$(xe_xl_disk xvda cow:base=/root/base-a.img,store=ram)" \
		"xe_detach=xvdd xe_disk_wait=300" || r=FAIL
	unset XE_XL_WHILE
	[ "$(grep -c -E '^xl-attach-(block-attach|block-detach|xvdd-state-gone|xvdd-xenstore-gone|xvdd-scan-absent) PASS' $XE_RUN/results)" = 5 ] || r=FAIL
	xe_daemon_stop
	xe_result xl-attach $r "xl block-attach/block-list/block-detach of an xts blank disk on a running guest"
}
