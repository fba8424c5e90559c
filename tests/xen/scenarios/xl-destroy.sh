# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.20 order=40
# xl-destroy: `xl destroy` of a guest that is writing. Its disks are in its
# xl config: xvda cow over base A (RAM), xvdb cow over base B (xts), xvdc
# blank 64M (xts); the guest reads xvda and xvdb and writes a marker stream
# to xvdc in a loop of 1 MiB O_DIRECT writes. While it writes, dom0 runs
# `xl -vvv destroy`: libxl deletes the frontends, writes state 5 and waits
# up to 10 s per disk for Closed; the daemon must get there with requests in
# flight, so that no "timed out" is in libxl's log, the hook's remove runs
# for every disk, and xl destroy takes well under 10 s. Then nothing is
# left and the markers are nowhere.
scenario_xl_destroy() {
	xe_xl_ready xl-destroy || return
	local n=xl-destroy r=PASS id log rc a b st
	xe_guest_cfg $n xvda:idle,xvdb:idle,xvdc:loop \
		"$(xe_xl_disk xvda cow:base=/root/base-a.img,store=ram), $(xe_xl_disk xvdb cow:base=/root/base-b.img,store=xts,scratch=/scratch/xts), $(xe_xl_disk xvdc blank:size=64M,store=xts,scratch=/scratch/xts)"
	if ! xe_xl_create $n; then
		xe_result $n FAIL "xl create failed: $(grep -E 'error|script:' $XE_RUN/xl-create-$n.log | grep -v 'xc: ' | tail -n3 | tr '\n' ' ')"
		xe_daemon_stop
		return
	fi
	id=$XE_ID
	log=$(xe_guest_log $n)
	if xe_waitfor 300 grep -q "XE-GUEST LOOPING name=$n" $log; then
		sleep 3
		xe_xl_dump $n-connected $id
		xe_block status-$n xen-ephemeral status --json
		st=$(xen-ephemeral status --json | grep '"devid": 51744,' | sed -n 's/.*"write_reqs": \([0-9]*\).*/\1/p')
		xe_mark XL-DESTROY-START name=$n
		a=$(xe_up)
		xl -vvv destroy $n > $XE_RUN/xl-destroy-$n.log 2>&1
		rc=$?
		b=$(xe_up)
		xe_mark XL-DESTROY-END name=$n rc=$rc
		b=$(awk "BEGIN {printf \"%.1f\", $b - $a}")
		if [ $rc = 0 ] && awk "BEGIN {exit !($b < 8)}"; then
			xe_result $n-destroy PASS "xl destroy of the writing guest (xvdc: ${st:-?} write requests) took $b s"
		else
			xe_result $n-destroy FAIL "xl destroy rc=$rc took $b s"
			r=FAIL
		fi
		xe_xl_teardown $n $id 3 $XE_RUN/xl-destroy-$n.log
	else
		xe_result $n-destroy FAIL "the guest never wrote in a loop"
		xl destroy $n
		r=FAIL
	fi
	# the guest's own checks (it never finishes: the last disk loops)
	xe_block guest-console-$n sh -c "tr -d '\r' < $log"
	tr -d '\r' < $log | grep "XE-GUEST .*name=$n " > $XE_RUN/guest-$n.txt
	sed -n 's/.*XE-GUEST MARKER .* disk=\([^ ]*\) marker=\([^ ]*\).*/\1 \2/p' $XE_RUN/guest-$n.txt > $XE_RUN/markers-$n
	if grep -q 'XE-GUEST LOOPING' $XE_RUN/guest-$n.txt && ! grep -q -e ' FAIL ' -e LOOP-ERROR $XE_RUN/guest-$n.txt; then
		xe_result $n-guest PASS "$(grep -c ' OK ' $XE_RUN/guest-$n.txt) checks OK, then writing xvdc until destroyed"
	else
		xe_result $n-guest FAIL "$(grep -e ' FAIL ' -e LOOP-ERROR $XE_RUN/guest-$n.txt | head -n3 | tr '\n' ';')"
	fi
	xe_xl_gone $n $id
	xe_xl_scan $n
	grep -q -E "^$n-[^ ]* FAIL" $XE_RUN/results && r=FAIL
	xe_daemon_stop
	xe_result $n $r "xl destroy while the guest writes: no libxl timeout, nothing left"
}
