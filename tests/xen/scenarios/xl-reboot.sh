# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.20 order=50
# xl-reboot: a guest on disks from its xl config (xvda cow over base A in
# RAM, xvdb cow over base B in xts, xvdc blank 64M in RAM) with
# on_reboot="restart" writes its markers and reboots itself; libxl tears
# the old domain down and builds a new one from the same disk lines, which
# must see fresh overlays: pristine bases and none of the first boot's
# writes. How the second boot knows it is the second: dom0 names the first
# boot's markers in advance (xe_mark_id=: the guest derives them from it)
# and, while the first boot is still paused, stores the second boot's
# configuration with `xl config-update` (same disks, xe_boot=2,
# xe_absent=<the first boot's markers>, on_reboot="destroy"), which xl
# applies when it restarts the domain. The second boot scans its disks for
# the first boot's markers before anything else (0 hits, 0 pieces), checks
# the bases, writes its own markers and powers off. After each boot: the
# daemon and xenstore hold nothing of that domain, libxl's teardown hit no
# timeout; at the end no marker of either boot is anywhere.
scenario_xl_reboot() {
	xe_xl_ready xl-reboot || return
	local n=xl-reboot r=PASS xd gd=xvda:fs:a,xvdb:fs:b,xvdc:blank id1 d1 d2 v ms="" log
	xd="$(xe_xl_disk xvda cow:base=/root/base-a.img,store=ram), $(xe_xl_disk xvdb cow:base=/root/base-b.img,store=xts,scratch=/scratch/xts), $(xe_xl_disk xvdc blank:size=64M,store=ram)"
	id1=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	: > $XE_RUN/markers-$n-1.expected
	for v in xvda xvdb xvdc; do
		m="XEMARK-$(printf '%s' "$id1$v" | md5sum | cut -c1-32)-$v-"
		echo "$v $m" >> $XE_RUN/markers-$n-1.expected
		ms="$ms${ms:+,}$m"
	done
	# the second boot's configuration first, then the first boot's
	XE_ON_REBOOT=destroy XE_GUEST_XE_NAME=$n-2
	xe_guest_cfg $n "$gd" "$xd" "xe_mark_mib=1 xe_boot=2 xe_absent=$ms"
	mv $XE_RUN/$n.cfg $XE_RUN/$n-boot2.cfg
	XE_ON_REBOOT=restart XE_GUEST_XE_NAME=$n-1
	xe_guest_cfg $n "$gd" "$xd" "xe_mark_mib=1 xe_boot=1 xe_reboot=1 xe_mark_id=$id1"
	unset XE_ON_REBOOT XE_GUEST_XE_NAME
	if ! xe_xl_create $n -p; then
		xe_result $n FAIL "xl create -p failed: $(grep -E 'error|script:' $XE_RUN/xl-create-$n.log | grep -v 'xc: ' | tail -n3 | tr '\n' ' ')"
		xe_daemon_stop
		return
	fi
	d1=$XE_ID
	xe_block xl-config-update-$n xl config-update $n $XE_RUN/$n-boot2.cfg
	xl unpause $n
	xe_mark UNPAUSED name=$n boot=1 domid=$d1
	log=$(xe_guest_log $n)
	# the first boot reboots: a new domain of the same name
	if xe_waitfor 600 sh -c "d=\$(xl domid $n 2>/dev/null) && [ \"\$d\" != $d1 ]"; then
		d2=$(xe_domid $n)
		xe_mark REBOOTED name=$n old=$d1 new=$d2
	else
		xe_result $n-rebooted FAIL "no new domain after 600 s"
		xl destroy $n
		d2=
	fi
	xe_guest_verdict $n-1 $n
	if [ "$(sort $XE_RUN/markers-$n-1)" = "$(sort $XE_RUN/markers-$n-1.expected)" ]; then
		xe_result $n-1-markers PASS "the first boot wrote the 3 markers dom0 told the second boot to look for"
	else
		xe_result $n-1-markers FAIL "the first boot's markers are not the ones dom0 derived"
	fi
	xe_xl_gone $n-1 $d1
	xe_xl_teardown $n-1 $d1 3 /var/log/xen/xl-$n.log
	if [ -n "$d2" ]; then
		if xe_waitfor 300 sh -c ". /xe/lib.sh; xe_xl_all_fe $d2 4 xvda xvdb xvdc"; then
			xe_xl_dump $n-2-connected $d2
			xe_block status-$n-2 xen-ephemeral status --json
		fi
		if xe_waitfor $XE_GUEST_TIMEOUT sh -c "grep -q 'XE-GUEST DONE name=$n-2 ' $log || ! xenstore-exists /local/domain/$d2"; then
			xe_mark GUEST-DONE name=$n-2
		fi
		xe_waitfor 60 sh -c "! xl list $d2" || xl destroy $d2
		xe_guest_verdict $n-2 $n
		if grep -q 'XE-GUEST START name=xl-reboot-2 boot=2 ' $XE_RUN/guest-$n-2.txt &&
			grep -q 'what=earlier-markers-absent OK' $XE_RUN/guest-$n-2.txt; then
			xe_result $n-fresh-overlay PASS "boot 2 (domain $d2): $(sed -n 's/.*what=earlier-markers-absent OK //p' $XE_RUN/guest-$n-2.txt | sed 's/ uptime=.*//'); bases pristine"
		else
			xe_result $n-fresh-overlay FAIL "boot 2 did not prove it: $(grep -e 'START' -e earlier-markers $XE_RUN/guest-$n-2.txt | tr '\n' ';')"
		fi
		xe_xl_gone $n-2 $d2
		xe_xl_teardown $n-2 $d2 3 /var/log/xen/xl-$n.log
	fi
	xe_xl_scan $n-1
	[ -n "$d2" ] && xe_xl_scan $n-2
	grep -q -E "^$n-[^ ]* FAIL" $XE_RUN/results && r=FAIL
	xe_daemon_stop
	xe_result $n $r "reboot on ephemeral disks: the new domain saw fresh overlays"
}
