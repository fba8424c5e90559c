# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.17,4.20 order=10 always
# blank-boot: sanity. A PV guest with no disks boots the dom0 kernel and its
# initrd, reports, and powers itself off; xl sees it go away.
scenario_blank_boot() {
	xe_guest_cfg blank-boot "" ""
	xe_guest_create blank-boot || { xe_result blank-boot FAIL "xl create failed"; return; }
	xe_guest_wait blank-boot 600
	xe_guest_verdict blank-boot
	if xl domid blank-boot >/dev/null 2>&1; then
		xe_result blank-boot FAIL "domain still exists"
	else
		xe_result blank-boot PASS "booted, reported, powered off"
	fi
}
