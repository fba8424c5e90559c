# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.20 order=20
# xl-ram: the libxl route. A guest whose three disks are declared only in
# its xl config (backendtype=tap, script=xen-ephemeral: kind vbd3, served by
# xen-ephemerald): xvda cow over base A, xvdb cow over base B, xvdc blank
# 64M, all with the overlay in RAM. Checked: InitWait with the hook's
# hotplug-status before the guest runs, Connected, the guest's own checks
# (pristine bases, markers written and read back), then libxl's teardown
# without a timeout and with the hook's remove, nothing left in the daemon
# or in xenstore, and the markers nowhere on dom0's storage or QEMU's disks.
scenario_xl_ram() {
	xe_xl_ready xl-ram || return
	local r=PASS
	xe_xl_guest xl-ram xvda:fs:a,xvdb:fs:b,xvdc:blank "$(xe_xl_disks3 store=ram)" || r=FAIL
	xe_daemon_stop
	xe_result xl-ram $r "xvda, xvdb cow and xvdc blank in RAM, declared in the xl config"
}
