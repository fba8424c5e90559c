# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.20 order=76
# xl-hvm: an HVM guest (hvmloader + SeaBIOS, the dom0 QEMU as device model,
# the kernel booted directly by QEMU) whose xvda, cow over base A in RAM, is
# declared only in its xl config. libxl gives the disk to QEMU as IDE
# through the daemon's NBD export (the hook copied ephemeral-nbd-socket into
# physical-device-path; checked in xenstore, in the status and on QEMU's
# command line), and the guest's blkfront gets the same disk as xvda
# (xen_emul_unplug=unnecessary keeps the IDE disk: /dev/sda). The guest
# (kind pair) checks the base through both, writes sectors, runs and a
# stream through sda (O_DIRECT) and reads them back through xvda, and a
# stream through xvda read back through sda: one overlay. While both are
# connected `status` lists one disk with the blkif attachment and one NBD
# client. After the guest's poweroff: libxl's teardown, nothing left, the
# NBD socket gone, the markers nowhere.
# HVM under TCG may stall in the firmware or triple-fault (xenlab420 REPORT
# 4.4): a create whose guest never starts its /init within 300 s, that
# vanishes first, or whose device model did not start, is retried once;
# a guest that started and then died as TCG kills HVM and PVH guests
# (xe_tcg_death: a triple fault or a crash, once in CI in the workload,
# and no block I/O trouble) is retried as xl-pvh is, up to XE_TCG_RETRIES
# (7) times in all (retried=N in the result). A failed attempt's results are kept in
# the xl-hvm-tryK-results block; its teardown checks (daemon state, nodes,
# libxl's teardown, the NBD socket, the scan) must pass all the same and
# are reported as xl-hvm-tryK-*.
XE_HVM_START_WAIT=300

xe_hvm_qemu_args() { # DOMID: the command line of the domain's dom0 QEMU
	local f
	for f in /proc/[0-9]*/cmdline; do
		tr '\0' ' ' < $f 2>/dev/null | grep "xen-qemu-system-i386 -xen-domid $1 " && return 0
	done
	return 1
}

# xe_hvm_attempt NAME TRY: one create of the guest to its scan. Returns 2
# (the reason in $XE_RUN/NAME.why, the domain gone) if it never started
# (xl create failed, the device model did not start, no /init in time),
# else 0.
xe_hvm_attempt() {
	local n=$1 try=$2 d=51712 be id why= log pdp sock qa line
	log=$(xe_guest_log $n)
	rm -f $log $XE_RUN/$n.why
	if ! xe_xl_create $n -p; then
		why="xl create -p failed: $(grep -E 'error|script:' $XE_RUN/xl-create-$n.log | grep -v 'xc: ' | tail -n2 | tr '\n' ' ')"
		grep -q 'device model did not start' $XE_RUN/xl-create-$n.log && echo dm > $XE_RUN/$n.retry-start
		xl destroy $n 2>/dev/null
		xe_waitfor 60 sh -c "! xl domid $n"
		echo "$why" > $XE_RUN/$n.why
		return 2
	fi
	id=$XE_ID
	be=/local/domain/0/backend/vbd3/$id/$d
	pdp=$(xenstore-read $be/physical-device-path 2>/dev/null)
	sock=$(xenstore-read $be/ephemeral-nbd-socket 2>/dev/null)
	qa=$(xe_hvm_qemu_args $id)
	xe_xl_dump $n-initwait-$try $id
	xe_block qemu-args-$n-$try echo "$qa"
	xl unpause $n
	xe_mark UNPAUSED name=$n domid=$id try=$try
	if xe_waitfor $XE_HVM_START_WAIT sh -c "grep -q 'XE-GUEST START name=$n ' $log || ! xl list $id"; then
		xl list $id >/dev/null 2>&1 || why="domain $id vanished before the guest's /init ran"
	else
		why="no XE-GUEST START $XE_HVM_START_WAIT s after unpause"
	fi
	if [ -n "$why" ]; then
		xe_block hvm-stall-$n-$try sh -c "tail -c 3000 $log; xl list; tail -n 20 /var/log/xen/qemu-dm-$n.log 2>/dev/null; xl dmesg | tail -n 15"
		echo start > $XE_RUN/$n.retry-start
		xl destroy $id 2>/dev/null
		xe_xl_gone $n $id
		echo "$why" > $XE_RUN/$n.why
		return 2
	fi
	# libxl gave QEMU the daemon's NBD export
	if [ -n "$sock" ] && [ "$pdp" = "$sock" ] && echo "$qa" | grep -q -- "-drive file=nbd+unix:///?socket=$sock,if=ide,index=0,"; then
		xe_result $n-nbd-handoff PASS "physical-device-path = ephemeral-nbd-socket = $sock; QEMU: $(echo "$qa" | grep -o -- "-drive file=nbd[^ ]*")"
	else
		xe_result $n-nbd-handoff FAIL "socket '$sock', physical-device-path '$pdp', QEMU drive: $(echo "$qa" | grep -o -- '-drive [^ ]*' | tr '\n' ' ')"
	fi
	if xe_waitfor 300 sh -c ". /xe/lib.sh; xe_xl_all_fe $id 4 xvda || ! xl list $id"; xe_xl_all_fe $id 4 xvda; then
		xe_mark FRONTEND-CONNECTED name=$n
		xe_xl_dump $n-connected $id
		xen-ephemeral status --json > $XE_RUN/status-$n.json
		xe_block status-$n cat $XE_RUN/status-$n.json
		line=$(grep "\"owner\": $id, \"devid\": $d," $XE_RUN/status-$n.json)
		if [ "$(grep -c "\"owner\": $id," $XE_RUN/status-$n.json)" = 1 ] &&
			echo "$line" | grep -q "\"nbd_socket\": \"$sock\"" &&
			echo "$line" | grep -q '"nbd_clients": 1,' &&
			echo "$line" | grep -q "\"type\": \"blkif\", \"kind\": \"vbd3\", \"domid\": $id, \"devid\": $d, \"role\": \"guest\"" &&
			echo "$line" | grep -q '"type": "nbd"'; then
			xe_result $n-one-disk PASS "status: one disk $id/$d, its blkif attachment and 1 NBD client on $sock"
		else
			xe_result $n-one-disk FAIL "status: $(grep -c "\"owner\": $id," $XE_RUN/status-$n.json) disks for $id, $(echo "$line" | grep -o -E '"(nbd_clients|nbd_socket)": [^,]*' | tr '\n' ' ')"
		fi
	else
		xe_result $n-connected FAIL "blkfront never connected xvda: $(xe_xl_states $id xvda)"
	fi
	xe_guest_wait $n
	xe_guest_verdict $n
	if grep -q "^$n-guest PASS" ${XE_RESULT_HOLD:-$XE_RUN/results} &&
		! { grep -q 'what=pair-read-emulated-writes OK' $XE_RUN/guest-$n.txt &&
			grep -q 'what=pair-read-blkfront-stream OK' $XE_RUN/guest-$n.txt; }; then
		xe_result $n-pair FAIL "the guest passed without both pair checks"
	fi
	xe_xl_gone $n $id
	xe_xl_teardown $n $id 1 /var/log/xen/xl-$n.log
	if [ -n "$sock" ] && xe_waitfor 30 sh -c "[ ! -e $sock ]"; then
		xe_result $n-nbd-socket-gone PASS "$sock removed"
	else
		xe_result $n-nbd-socket-gone FAIL "socket '$sock' still there (or never known)"
	fi
	xe_xl_scan $n
	XE_ID=$id
	return 0
}

scenario_xl_hvm() {
	xe_xl_ready xl-hvm || return
	local n=xl-hvm r=PASS try=0 starts=0 hold nm res det rc also
	XE_GUEST_TYPE=hvm
	xe_guest_cfg $n xvda:pair:a:sda "$(xe_xl_disk xvda cow:base=/root/base-a.img,store=ram)" "xe_mark_mib=1 xe_disk_wait=120"
	unset XE_GUEST_TYPE
	rm -f $XE_RUN/$n.retry-start
	while :; do
		hold=$XE_RUN/$n-try$try.results
		: > $hold
		XE_RESULT_HOLD=$hold xe_hvm_attempt $n $try
		rc=$?
		if [ $rc = 2 ]; then
			# never started: once, and only for the causes known
			if [ $starts = 0 ] && [ $try -lt $XE_TCG_RETRIES ] && [ -e $XE_RUN/$n.retry-start ]; then
				xe_mark HVM-RETRY name=$n why="$(tr ' ' _ < $XE_RUN/$n.why)"
				xe_block $n-try$try-results cat $hold
				xe_try_results $n $try $hold
				rm -f $XE_RUN/$n.retry-start
				starts=1
				try=$((try + 1))
				continue
			fi
			while read -r nm res det; do
				xe_result $nm $res "$det"
			done < $hold
			also=
			[ $starts = 1 ] && also=", also after one retry"
			xe_result $n FAIL "$(cat $XE_RUN/$n.why)$also"
			xe_daemon_stop
			return
		fi
		if xe_tcg_next $n $try $hold $XE_ID HVM; then
			try=$((try + 1))
			continue
		fi
		break
	done
	grep -q -E "^$n-[^ ]* FAIL" $XE_RUN/results && r=FAIL
	grep -q "^$n-guest PASS" $XE_RUN/results || r=FAIL
	xe_daemon_stop
	xe_result $n $r "HVM guest: xvda emulated by the dom0 QEMU over the daemon's NBD export and through blkfront, one overlay; retried=$try"
}
