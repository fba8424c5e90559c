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
# vanishes first, or whose device model did not start, is retried once
# (retried=1 in the result).
XE_HVM_START_WAIT=300

xe_hvm_qemu_args() { # DOMID: the command line of the domain's dom0 QEMU
	local f
	for f in /proc/[0-9]*/cmdline; do
		tr '\0' ' ' < $f 2>/dev/null | grep "xen-qemu-system-i386 -xen-domid $1 " && return 0
	done
	return 1
}

scenario_xl_hvm() {
	xe_xl_ready xl-hvm || return
	local n=xl-hvm r=PASS spec=cow:base=/root/base-a.img,store=ram d=51712 be id try=0 why log pdp sock qa line
	XE_GUEST_TYPE=hvm
	xe_guest_cfg $n xvda:pair:a:sda "$(xe_xl_disk xvda $spec)" "xe_mark_mib=1 xe_disk_wait=120"
	unset XE_GUEST_TYPE
	log=$(xe_guest_log $n)
	while :; do
		why=
		rm -f $log
		if ! xe_xl_create $n -p; then
			why="xl create -p failed: $(grep -E 'error|script:' $XE_RUN/xl-create-$n.log | grep -v 'xc: ' | tail -n2 | tr '\n' ' ')"
			if [ $try = 0 ] && grep -q 'device model did not start' $XE_RUN/xl-create-$n.log; then
				try=1
				xe_mark HVM-RETRY name=$n why=device-model
				xl destroy $n 2>/dev/null
				xe_waitfor 60 sh -c "! xl domid $n"
				continue
			fi
			xe_result $n FAIL "$why"
			xe_daemon_stop
			return
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
		[ -z "$why" ] && break
		xe_block hvm-stall-$n-$try sh -c "tail -c 3000 $log; xl list; tail -n 20 /var/log/xen/qemu-dm-$n.log 2>/dev/null; xl dmesg | tail -n 15"
		if [ $try = 0 ]; then
			xe_mark HVM-RETRY name=$n why="$(echo $why | tr ' ' _)"
			try=1
			xl destroy $id 2>/dev/null
			xe_xl_gone $n-try0 $id
			continue
		fi
		xe_result $n FAIL "$why, also after one retry"
		xl destroy $id 2>/dev/null
		xe_xl_gone $n $id
		xe_daemon_stop
		return
	done
	# libxl gave QEMU the daemon's NBD export
	if [ -n "$sock" ] && [ "$pdp" = "$sock" ] && echo "$qa" | grep -q -- "-drive file=nbd+unix:///?socket=$sock,if=ide,index=0,"; then
		xe_result $n-nbd-handoff PASS "physical-device-path = ephemeral-nbd-socket = $sock; QEMU: $(echo "$qa" | grep -o -- "-drive file=nbd[^ ]*")"
	else
		xe_result $n-nbd-handoff FAIL "socket '$sock', physical-device-path '$pdp', QEMU drive: $(echo "$qa" | grep -o -- '-drive [^ ]*' | tr '\n' ' ')"
		r=FAIL
	fi
	if xe_waitfor 300 sh -c ". /xe/lib.sh; xe_xl_all_fe $id 4 xvda"; then
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
			r=FAIL
		fi
	else
		xe_result $n-connected FAIL "blkfront never connected xvda: $(xe_xl_states $id xvda)"
		r=FAIL
	fi
	xe_guest_wait $n
	xe_guest_verdict $n
	grep -q 'what=pair-read-emulated-writes OK' $XE_RUN/guest-$n.txt &&
		grep -q 'what=pair-read-blkfront-stream OK' $XE_RUN/guest-$n.txt || r=FAIL
	xe_xl_gone $n $id
	xe_xl_teardown $n $id 1 /var/log/xen/xl-$n.log
	if [ -n "$sock" ] && xe_waitfor 30 sh -c "[ ! -e $sock ]"; then
		xe_result $n-nbd-socket-gone PASS "$sock removed"
	else
		xe_result $n-nbd-socket-gone FAIL "socket '$sock' still there (or never known)"
		r=FAIL
	fi
	xe_xl_scan $n
	grep -q -E "^$n-[^ ]* FAIL" $XE_RUN/results && r=FAIL
	xe_daemon_stop
	xe_result $n $r "HVM guest: xvda emulated by the dom0 QEMU over the daemon's NBD export and through blkfront, one overlay; retried=$try"
}
