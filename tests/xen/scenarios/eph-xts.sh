# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.17 order=50
# eph-xts: like eph-ram, with the overlay in AES-256-XTS scratch files
# (O_TMPFILE in /scratch/xts, on the QEMU scratch disk): the scan of that
# disk, in dom0 and on the host, must find none of the guest's markers.
scenario_eph_xts() {
	xe_have_binaries || { xe_result eph-xts SKIP "no xen-ephemerald/xen-ephemeral in this build (XE_BUILD)"; return; }
	xe_daemon_start || { xe_result eph-xts FAIL "daemon did not come up"; return; }
	local r=PASS
	xe_eph_guest eph-xts store=xts,scratch=/scratch/xts || r=FAIL
	xe_daemon_stop
	xe_result eph-xts $r "one guest on cow/blank disks in xts scratch"
}
