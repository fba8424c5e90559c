# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.17 order=50
# eph-ram: two guests, one after the other, on the same bases, served by
# xen-ephemerald with the RAM store. Each one must see the bases exactly
# (the second sees none of the first's writes), write and read back its
# markers; afterwards nothing of either is left in the daemon, in xenstore
# or on dom0's storage. SKIPs when the lab was built without the binaries.
scenario_eph_ram() {
	xe_have_binaries || { xe_result eph-ram SKIP "no xen-ephemerald/xen-ephemeral in this build (XE_BUILD)"; return; }
	xe_daemon_start || { xe_result eph-ram FAIL "daemon did not come up"; return; }
	local r=PASS
	xe_eph_guest eph-ram-1 store=ram || r=FAIL
	xe_eph_guest eph-ram-2 store=ram || r=FAIL
	xe_daemon_stop
	xe_result eph-ram $r "two guests on cow/blank disks in RAM"
}
