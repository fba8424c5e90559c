#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# dom0-init.sh - /init of the lab's dom0 initramfs (busybox sh).
#
# Mounts, modules, the QEMU disks (bases by label, scratch ext4 on
# /scratch), xenstored, xen-init-dom0, xenconsoled; then runs the scenarios
# named by xe_scenarios=a,b,c on the kernel command line, each the function
# scenario_<name> (dashes become underscores) of /xe/scenarios/<name>.sh, in
# its own shell under a timeout; then a summary, and poweroff.
# Command line: xe_scenarios=  xe_fs_mib= xe_sums_a= xe_sums_b=
#               xe_scen_timeout=SECONDS (per scenario, default 1200)
# The same /init serves both labs: /xe/xen-version (4.17 or 4.20, written
# by build.sh) says which Xen's tools are in /usr/lib/xen-<version>.
XE_XEN=$(cat /xe/xen-version)
export XE_XEN
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-$XE_XEN/bin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
# devtmpfs lacks what udev makes; /etc/xen/scripts/locking.sh needs /dev/stdin
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/xe /run/xen /run/xenstored /var/log/xen/console /var/lib/xen /var/lock
: > /run/xe/results

arg() { sed -n "s/.*[[:space:]]$1=\([^ ]*\).*/\1/p" /proc/cmdline | head -n1; }
export XE_FS_MIB=$(arg xe_fs_mib) XE_SUMS_A=$(arg xe_sums_a) XE_SUMS_B=$(arg xe_sums_b)
SCENARIOS=$(arg xe_scenarios | tr ',' ' ')
TMO=$(arg xe_scen_timeout)
TMO=${TMO:-1200}
. /xe/lib.sh

finish() {
	xe_mark ALL-DONE
	xe_block xl-dmesg-tail sh -c 'xl dmesg | tail -30'
	xe_block results cat /run/xe/results
	sync
	umount /scratch 2>/dev/null || { sleep 2; umount /scratch; } || echo "XE-ERROR umount /scratch failed"
	sync
	echo "XE-POWEROFF"
	poweroff -f
	sleep 30
}

xe_mark DOM0-USERSPACE xen=$XE_XEN scenarios=$(echo $SCENARIOS | tr ' ' ',')
echo "dom0 kernel $(uname -r), Xen tools $XE_XEN, cmdline: $(cat /proc/cmdline)"

# On 4.20 the kernel's blkback is loaded only by the phy control (xe_blkback
# in lib.sh): the libxl route must work without it.
for m in $(cat /lib/modules/load-order); do
	[ "$XE_XEN" != 4.17 ] && [ $m = xen-blkback.ko ] && continue
	# bench-xen's aesni-intel: only on a CPU with AES-NI (XE_CPU_EXTRA)
	[ $m = aesni-intel.ko ] && ! grep -q -w aes /proc/cpuinfo && continue
	insmod /lib/modules/$m || echo "XE-ERROR insmod $m failed"
done
mount -t xenfs xenfs /proc/xen || echo "XE-ERROR mount xenfs failed"
xe_mark MODULES-LOADED

# QEMU's disks, found by filesystem label (device names may be probed in any order)
for l in xe-base-a xe-base-b xe-scratch; do
	xe_waitfor 30 findfs LABEL=$l || echo "XE-ERROR no disk labelled $l"
done
ln -s "$(findfs LABEL=xe-base-a)" /root/base-a.img
ln -s "$(findfs LABEL=xe-base-b)" /root/base-b.img
mount -t ext4 "$(findfs LABEL=xe-scratch)" /scratch || echo "XE-ERROR mount /scratch failed"
echo "disks: base-a=$(readlink /root/base-a.img) base-b=$(readlink /root/base-b.img) scratch=$(findfs LABEL=xe-scratch)"
xe_mark DISKS-READY

xenstored --pid-file=/run/xenstored.pid || echo "XE-ERROR xenstored failed"
xe_waitfor 20 xenstore-read / || echo "XE-ERROR xenstore not answering"
xen-init-dom0 > /run/xe/xen-init-dom0.log 2>&1 || { echo "XE-ERROR xen-init-dom0 failed"; cat /run/xe/xen-init-dom0.log; }
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=$XE_CONSOLE_DIR ||
	echo "XE-ERROR xenconsoled failed"
xe_mark TOOLSTACK-UP
xe_block xl-info sh -c 'xl info | grep -E "^(xen_version|xen_caps|virt_caps|total_memory|free_memory|nr_cpus)"; xl list'

for s in $SCENARIOS; do
	f=/xe/scenarios/$s.sh
	if [ ! -f "$f" ]; then
		xe_result $s FAIL "no scenario file scenarios/$s.sh"
		continue
	fi
	before=$(wc -l < /run/xe/results)
	xe_mark SCENARIO-START name=$s
	XE_SCENARIO=$s timeout -s KILL $TMO sh -c ". /xe/lib.sh; . $f; scenario_$(echo $s | tr - _)"
	rc=$?
	xe_mark SCENARIO-END name=$s rc=$rc
	[ $rc = 137 ] && xe_result $s FAIL "timeout after $TMO s"
	[ "$(wc -l < /run/xe/results)" = "$before" ] && xe_result $s FAIL "scenario reported no result (rc=$rc)"
	xe_destroy_all
done
finish
