# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.17,4.20 order=90 always
# phy: the positive control of the forensic scan. The guest's disks are
# served by the kernel's xen-blkback (phy:) from loop devices over image
# files on dom0's scratch disk: xvda a copy of base A, xvdb a copy of base B,
# xvdc a blank 64 MiB file. The hotplug script is the lab's small xe-phy
# (phy-hook.sh), not Xen's slow bash "block". The guest runs the full workload. Its writes
# land in those files in plaintext, so the scan must FIND its markers there
# (in dom0 here, and on the host in scratch.img), and must not find them in
# the base images, which the guest never saw. On Xen 4.20 xen-blkback is
# loaded for this scenario only (xe_blkback), and unloaded after it.
scenario_phy() {
	local d=/scratch/phy la lb lc id
	xe_blkback load || { xe_result phy FAIL "cannot load xen-blkback"; return; }
	dd if=/root/base-a.img of=$d/phy-a.img bs=1M 2>/dev/null &&
		dd if=/root/base-b.img of=$d/phy-b.img bs=1M 2>/dev/null &&
		truncate -s 64M $d/phy-c.img || { xe_result phy FAIL "cannot make the disk images"; return; }
	la=$(xe_losetup $d/phy-a.img) && lb=$(xe_losetup $d/phy-b.img) &&
		lc=$(xe_losetup $d/phy-c.img) || { xe_result phy FAIL "losetup failed"; return; }
	echo "phy: xvda=$la xvdb=$lb xvdc=$lc"
	xe_guest_cfg phy xvda:fs:a,xvdb:fs:b,xvdc:blank \
		"$(for v in xvda:$la xvdb:$lb xvdc:$lc; do
			printf "'vdev=%s,access=rw,script=/etc/xen/scripts/xe-phy,target=%s', " ${v%%:*} ${v#*:}
		done | sed "s/, $//")" "xe_mark_mib=2"
	xe_guest_create phy || { xe_result phy FAIL "xl create failed"; losetup -d $la; losetup -d $lb; losetup -d $lc; xe_blkback unload; return; }
	id=$(xe_domid phy)
	if xe_waitfor 300 sh -c "[ \"\$(xenstore-read /local/domain/$id/device/vbd/51712/state)\" = 4 ]"; then
		xe_mark FRONTEND-CONNECTED name=phy
		xe_xs_dump phy $id
	fi
	xe_guest_wait phy
	xe_guest_verdict phy
	losetup -d $la; losetup -d $lb; losetup -d $lc
	sync
	xe_declare_markers phy present
	xe_mark SCAN-START name=phy
	xe_scan phy present $d/phy-a.img $d/phy-b.img $d/phy-c.img
	xe_scan phy absent /root/base-a.img /root/base-b.img
	xe_mark SCAN-END name=phy
	xe_blkback unload
	if grep -q "^phy-guest PASS" $XE_RUN/results; then
		xe_result phy PASS "guest on kernel blkback wrote and read back its markers"
	else
		xe_result phy FAIL "guest checks failed"
	fi
}
