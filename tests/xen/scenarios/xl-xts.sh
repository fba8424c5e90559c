# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.20 order=21
# xl-xts: like xl-ram, with every overlay (cow and blank) in AES-256-XTS
# scratch (O_TMPFILE in /scratch/xts, on the QEMU scratch disk): the scans
# of that disk, in dom0 and on the host, must find none of the markers.
scenario_xl_xts() {
	xe_xl_ready xl-xts || return
	local r=PASS
	xe_xl_guest xl-xts xvda:fs:a,xvdb:fs:b,xvdc:blank "$(xe_xl_disks3 store=xts,scratch=/scratch/xts)" || r=FAIL
	xe_daemon_stop
	xe_result xl-xts $r "xvda, xvdb cow and xvdc blank in xts scratch, declared in the xl config"
}
