# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.20 order=77
# xl-stubdom: two frontends, one disk, as a stubdomain and its guest have.
# Debian ships no stubdomain image, so a second PV domain S plays it (the
# "stand-in stubdomain"). G (PV) gets xvda, cow over base A in RAM, from its
# xl config. S is created paused with no disks; dom0 then writes what libxl
# writes for a stubdomain before it adds the stubdomain's disks,
# /local/domain/<S>/target = <G> and /local/domain/<G>/image/
# device-model-domid = <S>, and attaches the same disk line to S with
# `xl block-attach` (libxl gives a stubdomain the guest's very disk array).
# The daemon keys a disk by (owner, devid), the owner of S's frontend being
# G: S must see G's overlay. The guests (kind peer) prove it: G writes
# 1 MiB of its marker (O_DIRECT) and polls for S's; S reads G's, writes its
# own; G reads it. `status` lists one disk with two blkif attachments
# (guest, stubdom). Then S is destroyed while G keeps reading both markers:
# the disk stays with one attachment, S's nodes go; G powers off: the disk
# is forgotten, all nodes gone, no marker anywhere.
# Negative: a third domain N (paused, never run) whose target names G while
# G's device-model-domid names S, then a domain that does not exist, then
# S (not an owner: no device-model-domid of its own), attaches the same
# disk line (a fresh N each time): each must be refused (xl block-attach
# fails with the daemon's reason), N is attached to no disk, G's disk keeps
# its two attachments, and N's nodes go with N (libxl leaves those of a
# device whose hook failed in block-attach until then).
xe_stub_mark() { echo "XEMARK-$(printf '%s' "$1xvda" | md5sum | cut -c1-32)-xvda-"; }
xe_stub_attachments() { # DOMID: G's xvda line in status
	xen-ephemeral status --json | grep "\"owner\": $1, \"devid\": 51712,"
}

scenario_xl_stubdom() {
	xe_xl_ready xl-stubdom || return
	local n=xl-stubdom s=xl-stubdom-s nn=xl-stubdom-n r=PASS d=51712 g sid nid k what idg ids mg ms rc line
	local spec=cow:base=/root/base-a.img,store=ram disk glog slog cut t tgt a b
	disk=$(xe_xl_disk xvda $spec | tr -d "'")
	idg=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	ids=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	mg=$(xe_stub_mark $idg) ms=$(xe_stub_mark $ids)
	xe_guest_cfg $n xvda:peer:a "$(xe_xl_disk xvda $spec)" "xe_mark_id=$idg xe_peer_role=1 xe_peer=$ms xe_peer_reread=15"
	xe_guest_cfg $s xvda:peer:a "" "xe_mark_id=$ids xe_peer_role=2 xe_peer=$mg xe_hold=1 xe_disk_wait=120"
	XE_GUEST_MEM=128
	xe_guest_cfg $nn "" "" ""
	unset XE_GUEST_MEM
	if ! xe_xl_create $n -p; then
		xe_result $n FAIL "xl create -p G failed: $(grep -E 'error|script:' $XE_RUN/xl-create-$n.log | grep -v 'xc: ' | tail -n2 | tr '\n' ' ')"
		xe_daemon_stop
		return
	fi
	g=$XE_ID
	glog=$(xe_guest_log $n) slog=$(xe_guest_log $s)
	xl unpause $n
	xe_mark UNPAUSED name=$n domid=$g
	if ! xe_waitfor 300 grep -q "XE-GUEST PEER-WROTE name=$n " $glog; then
		xe_result $n-g-wrote FAIL "G never wrote its marker"
		r=FAIL
	fi
	# S: created paused without disks; the stubdomain links; then the disk
	if ! xe_xl_create $s -p; then
		xe_result $n FAIL "xl create -p S failed"
		xl destroy $g
		xe_daemon_stop
		return
	fi
	sid=$XE_ID
	xenstore-write /local/domain/$sid/target $g /local/domain/$g/image/device-model-domid $sid
	xe_block stub-links-$n sh -c "xenstore-ls -fp /local/domain/$sid/target; xenstore-ls -fp /local/domain/$g/image"
	xe_mark STUB-ATTACH name=$s domid=$sid target=$g
	a=$(xe_up)
	xl -vvv block-attach $s "$disk" > $XE_RUN/block-attach-$s.log 2>&1
	rc=$?
	b=$(xe_up)
	xe_block block-attach-$s sh -c "grep -v -e 'xc: ' -e 'still waiting' $XE_RUN/block-attach-$s.log | grep -E 'hotplug|error|script|vbd3'"
	if [ $rc = 0 ]; then
		xe_result $n-stub-attach PASS "xl block-attach S (domain $sid, target $g) took $(awk "BEGIN {printf \"%.1f\", $b - $a}") s"
	else
		xe_result $n-stub-attach FAIL "rc=$rc: $(grep -E 'error|script:' $XE_RUN/block-attach-$s.log | grep -v 'xc: ' | tail -n2 | tr '\n' ' ')"
		r=FAIL
	fi
	# the negatives, while G and S are attached: a fresh domain N for
	# each (libxl leaves the nodes of a device whose hook failed in
	# block-attach until the domain goes)
	for tgt in "$g" 31000 "$sid"; do
		case $tgt in
		$g) what="target = G ($g), whose device-model-domid names S ($sid)" k=g ;;
		31000) what="target = 31000, no such domain" k=nodomain ;;
		*) what="target = S ($sid), not an owner" k=s ;;
		esac
		if ! xe_xl_create $nn -p; then
			xe_result $n-refused-$k FAIL "$what: could not create the domain"
			r=FAIL
			continue
		fi
		nid=$XE_ID
		xenstore-write /local/domain/$nid/target $tgt
		xl -vvv block-attach $nn "$disk" > $XE_RUN/block-attach-$nn-$tgt.log 2>&1
		rc=$?
		t=$(grep -o 'child_death_cb: script: .*' $XE_RUN/block-attach-$nn-$tgt.log | head -n1 | sed 's/^child_death_cb: //')
		xe_block block-attach-$nn-$tgt sh -c "grep -v -e 'xc: ' -e 'still waiting' $XE_RUN/block-attach-$nn-$tgt.log | grep -E 'hotplug|error|script'"
		xe_block status-$nn-$tgt xen-ephemeral status --json
		a=no
		xen-ephemeral status --json | grep '"owner"' | grep -q "\"domid\": $nid," && a=yes
		xl destroy $nid
		if [ $rc != 0 ] && echo "$t" | grep -q 'refused' && [ $a = no ] &&
			xe_waitfor 30 sh -c "! xl list $nid && ! xenstore-exists /local/domain/0/backend/vbd3/$nid && ! xenstore-exists /libxl/$nid && ! xenstore-exists /local/domain/$nid"; then
			xe_result $n-refused-$k PASS "$what: refused ($t), no attachment to any disk; nodes gone with the domain"
		else
			xe_block xenstore-$nn-$tgt sh -c "xenstore-ls -fp /local/domain/0/backend/vbd3/$nid; xen-ephemeral status --json"
			xe_result $n-refused-$k FAIL "$what: rc=$rc, attached to a disk: $a ($t)"
			r=FAIL
		fi
	done
	line=$(xe_stub_attachments $g)
	if [ "$(echo "$line" | grep -o '"type": "blkif"' | wc -l)" = 2 ]; then
		xe_result $n-refused-no-effect PASS "G's disk still has its 2 blkif attachments"
	else
		xe_result $n-refused-no-effect FAIL "G's disk: $line"
		r=FAIL
	fi
	xl unpause $s
	xe_mark UNPAUSED name=$s domid=$sid
	if xe_waitfor 300 grep -q "XE-GUEST PEER-WROTE name=$s " $slog &&
		xe_waitfor 120 grep -q "XE-GUEST PEER-SEEN name=$n " $glog; then
		xe_mark PEERS-DONE name=$n
	else
		xe_result $n-peers FAIL "S never wrote, or G never saw it"
		r=FAIL
	fi
	xe_xl_dump $n-g-connected $g
	xe_xl_dump $n-s-connected $sid
	xen-ephemeral status --json > $XE_RUN/status-$n.json
	xe_block status-$n cat $XE_RUN/status-$n.json
	line=$(grep "\"owner\": $g, \"devid\": $d," $XE_RUN/status-$n.json)
	if [ "$(grep -c '"owner"' $XE_RUN/status-$n.json)" = 1 ] &&
		echo "$line" | grep -q "\"type\": \"blkif\", \"kind\": \"vbd3\", \"domid\": $g, \"devid\": $d, \"role\": \"guest\", [^}]*\"state\": 4, \"frontend_state\": 4," &&
		echo "$line" | grep -q "\"type\": \"blkif\", \"kind\": \"vbd3\", \"domid\": $sid, \"devid\": $d, \"role\": \"stubdom\", [^}]*\"state\": 4, \"frontend_state\": 4,"; then
		xe_result $n-one-disk PASS "status: one disk $g/$d, attachments guest (domain $g) and stubdom (domain $sid), both Connected"
	else
		xe_result $n-one-disk FAIL "status: $(grep -c '"owner"' $XE_RUN/status-$n.json) disks; $g/$d: $(echo "$line" | grep -o -E '"domid": [0-9]*, "devid": [0-9]*, "role": "[a-z]*"' | tr '\n' ' ')"
		r=FAIL
	fi
	# S goes; G keeps reading
	cut=$(wc -l < $glog)
	xe_mark STUB-DESTROY name=$s domid=$sid
	xl -vvv destroy $sid > $XE_RUN/destroy-$s.log 2>&1
	xe_guest_verdict $s
	xe_xl_teardown $n-s $sid 1 $XE_RUN/destroy-$s.log
	if xe_waitfor 30 sh -c "! xl list $sid && ! xenstore-exists /local/domain/0/backend/vbd3/$sid && ! xenstore-exists /local/domain/$sid && ! xenstore-exists /libxl/$sid"; then
		xe_result $n-s-gone PASS "S (domain $sid) and its nodes gone"
	else
		xe_result $n-s-gone FAIL "S (domain $sid) or its nodes remain"
		r=FAIL
	fi
	xenstore-rm /local/domain/$g/image/device-model-domid 2>/dev/null
	line=$(xe_stub_attachments $g)
	if xl list $g >/dev/null 2>&1 && [ "$(echo "$line" | grep -o '"type": "blkif"' | wc -l)" = 1 ] &&
		echo "$line" | grep -q "\"domid\": $g, \"devid\": $d, \"role\": \"guest\"" && ! echo "$line" | grep -q "\"domid\": $sid,"; then
		xe_result $n-g-keeps-disk PASS "after S's destroy: G runs, its disk has the guest's attachment only"
	else
		xe_block status-after-s-$n xen-ephemeral status --json
		xe_result $n-g-keeps-disk FAIL "after S's destroy: $line"
		r=FAIL
	fi
	xe_guest_wait $n
	xe_guest_verdict $n
	t=$(tail -n +$((cut + 1)) $glog | tr -d '\r' | grep -c "what=peer-reread-[0-9]* OK")
	if [ "$t" -ge 1 ] && ! tail -n +$((cut + 1)) $glog | grep -q "what=peer-reread-[0-9]* FAIL"; then
		xe_result $n-g-reads-after PASS "$t re-reads of both markers by G after S's destroy, all OK"
	else
		xe_result $n-g-reads-after FAIL "$t OK re-reads after S's destroy"
		r=FAIL
	fi
	xe_xl_gone $n $g
	xe_xl_teardown $n $g 1 /var/log/xen/xl-$n.log
	# one scan for both domains' markers (S's declared on their own too)
	xe_declare_markers $s absent
	cat $XE_RUN/markers-$s >> $XE_RUN/markers-$n
	xe_xl_scan $n
	grep -q -E "^$n-[^ ]* FAIL" $XE_RUN/results && r=FAIL
	xe_daemon_stop
	xe_result $n $r "a stand-in stubdomain (PV) with target = G shares G's ephemeral xvda: one overlay, refcounted"
}
