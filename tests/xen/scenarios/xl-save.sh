# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.20 order=70
# xl-save: `xl save` of a guest on ephemeral disks (xvda cow over base A in
# RAM, xvdc blank 64M in xts, from its xl config), then `xl restore` of the
# image. libxl tells the backend nothing: the save is a suspend followed by
# an ordinary teardown, in which the daemon wipes the overlays; a restore
# would resume the guest's memory (page cache, filesystem state) over fresh,
# empty overlays. So the restore must be refused, by the daemon through the
# hook, with a message that names the reason, and leave no domain. The
# save image (guest memory, with its markers) goes to dom0's tmpfs, never
# to the scanned disks, and is deleted afterwards.
# SKIP when the daemon has no such guard (neither its --help nor the
# CLI's names save, restore or suspend); the save and the restore are
# still run, and what happened is in the xl-restore-* blocks.
scenario_xl_save() {
	xe_xl_ready xl-save || return
	local n=xl-save r=PASS id id2 img=/run/xe/xl-save.img rc a b guard=no out reason
	{ xen-ephemerald --help; xen-ephemeral --help; } 2>&1 | grep -q -i -E 'save|restor|suspend' && guard=yes
	XE_GUEST_MEM=128
	xe_guest_cfg $n xvda:fs:a,xvdc:blank \
		"$(xe_xl_disk xvda cow:base=/root/base-a.img,store=ram), $(xe_xl_disk xvdc blank:size=64M,store=xts,scratch=/scratch/xts)" \
		"xe_mark_mib=1 xe_hold=1"
	unset XE_GUEST_MEM
	if ! xe_xl_create $n; then
		xe_result $n FAIL "xl create failed: $(grep -E 'error|script:' $XE_RUN/xl-create-$n.log | grep -v 'xc: ' | tail -n3 | tr '\n' ' ')"
		xe_daemon_stop
		return
	fi
	id=$XE_ID
	if ! xe_waitfor $XE_GUEST_TIMEOUT grep -q "XE-GUEST HOLD name=$n " $(xe_guest_log $n); then
		xe_result $n FAIL "the guest never finished its workload"
		xl destroy $n
		xe_daemon_stop
		return
	fi
	xe_guest_verdict $n
	xe_xl_dump $n-before-save $id
	xe_mark XL-SAVE-START name=$n
	a=$(xe_up)
	xl -vvv save $n $img > $XE_RUN/xl-save-$n.log 2>&1
	rc=$?
	b=$(xe_up)
	xe_mark XL-SAVE-END name=$n rc=$rc
	xe_block xl-save-$n sh -c "grep -v -E '^[A-Za-z_:]+: (debug|verbose|detail)' $XE_RUN/xl-save-$n.log; ls -l $img"
	if [ $rc = 0 ]; then
		xe_result $n-save PASS "xl save took $(awk "BEGIN {printf \"%.1f\", $b - $a}") s, image $(($(stat -c %s $img) >> 20)) MiB in dom0's tmpfs"
	else
		xe_result $n-save FAIL "xl save rc=$rc"
	fi
	xe_xl_teardown $n-save $id 2 $XE_RUN/xl-save-$n.log
	xe_xl_gone $n-save $id
	xe_mark XL-RESTORE-START name=$n
	a=$(xe_up)
	xl -vvv restore $img > $XE_RUN/xl-restore-$n.log 2>&1
	rc=$?
	b=$(xe_up)
	xe_mark XL-RESTORE-END name=$n rc=$rc
	grep -v -E '^[A-Za-z_:]+: (debug|verbose|detail)' $XE_RUN/xl-restore-$n.log > $XE_RUN/xl-output-restore-$n.txt
	xe_block xl-restore-$n cat $XE_RUN/xl-output-restore-$n.txt
	xe_block xl-restore-log-$n sh -c "grep -E 'hotplug|backend .*state|timed out|unable|script|remove|error' $XE_RUN/xl-restore-$n.log | grep -v -e 'xc: ' -e 'still waiting'"
	reason=$(grep -m1 'device_hotplug_child_death_cb: script: ' $XE_RUN/xl-restore-$n.log | sed 's/.*device_hotplug_child_death_cb: script: //')
	id2=$(sed -n 's/.*Domain \([0-9][0-9]*\):.*/\1/p' $XE_RUN/xl-restore-$n.log | head -n1)
	if [ $rc = 0 ]; then
		# restored over wiped overlays: what the guest says, then away
		sleep 10
		xe_block guest-after-restore-$n sh -c "tr -d '\r' < $(xe_guest_log $n) | tail -n 30"
		xe_block status-after-restore-$n xen-ephemeral status --json
		xl destroy $n
	fi
	rm -f $img
	out="xl restore rc=$rc after $(awk "BEGIN {printf \"%.1f\", $b - $a}") s: ${reason:-no script: line}"
	if [ $guard = no ]; then
		xe_result $n SKIP "this daemon has no save/restore guard (no --help of xen-ephemerald or xen-ephemeral names save, restore or suspend); $out"
	elif [ $rc != 0 ] && echo "$reason" | grep -q -i -E 'save|restor|suspend' &&
		! xl list $n >/dev/null 2>&1; then
		xe_result $n-restore-refused PASS "$out; no domain left"
		[ -n "$id2" ] && xe_xl_gone $n-restore $id2
	else
		xe_result $n-restore-refused FAIL "$out"
		xl destroy $n 2>/dev/null
	fi
	xe_xl_scan $n
	xe_daemon_stop
	if [ $guard = yes ]; then
		grep -q -E "^$n-[^ ]* FAIL" $XE_RUN/results && r=FAIL
		xe_result $n $r "xl restore of a saved guest on ephemeral disks is refused"
	fi
}
