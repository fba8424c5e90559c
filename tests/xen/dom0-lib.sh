# SPDX-License-Identifier: GPL-2.0-or-later
# dom0-lib.sh - helpers for the lab's dom0 /init and its scenarios
# (installed as /xe/lib.sh; busybox sh). Everything printed goes to hvc0,
# i.e. the Xen console, i.e. QEMU's serial log on the host, where boot.sh
# picks up these lines:
#   XE-MARK EVENT k=v... uptime=S                 progress and timing
#   ===== BEGIN name ===== ... ===== END name =====   captured output
#   XE-RESULT name PASS|FAIL|SKIP detail          verdicts
#   XE-MARKER scenario=S disk=D marker=M expect=present|absent
#                                                 markers for the host scan
# Facts the host passed on the dom0 command line are in XE_FS_MIB,
# XE_SUMS_A, XE_SUMS_B; the base images are /root/base-a.img and
# /root/base-b.img (symlinks to QEMU disks), scratch storage is /scratch.
# XE_XEN is the Xen release of this lab (4.17 or 4.20).

XE_RUN=/run/xe
XE_CONSOLE_DIR=/var/log/xen/console
XE_GUEST_TIMEOUT=${XE_GUEST_TIMEOUT:-900}

xe_up() { cut -d' ' -f1 /proc/uptime; }
xe_mark() { echo "XE-MARK $* uptime=$(xe_up)"; }
xe_block() { # xe_block NAME CMD...: CMD's output between BEGIN/END lines
	local n=$1 rc
	shift
	echo "===== BEGIN $n ====="
	"$@" 2>&1
	rc=$?
	echo "===== END $n ====="
	return $rc
}
xe_waitfor() { # xe_waitfor SECONDS CMD...: poll CMD every 0.5 s
	local n=$(($1 * 2))
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ $n -le 0 ] && return 1
		sleep 0.5
	done
}
xe_result() { # xe_result NAME PASS|FAIL|SKIP DETAIL...
	local n=$1 r=$2
	shift 2
	# XE_RESULT_HOLD=FILE: kept there instead (an attempt that may be
	# retried; the scenario decides what becomes of them)
	if [ -n "${XE_RESULT_HOLD:-}" ]; then
		echo "$n $r $*" >> $XE_RESULT_HOLD
		return
	fi
	echo "XE-RESULT $n $r $*"
	echo "$n $r" >> $XE_RUN/results
}
xe_losetup() { # xe_losetup FILE: attach FILE to a free loop device, print it
	local l
	l=$(losetup -f) && losetup "$l" "$1" && echo "$l"
}
xe_have_binaries() { command -v xen-ephemerald >/dev/null && command -v xen-ephemeral >/dev/null; }

# ---------------------------------------------------------------- guests
# xe_guest_cfg NAME GUEST_DISKS XL_DISKS [EXTRA_CMDLINE] [VCPUS]
#   GUEST_DISKS: the guest's xe_disks= (xvda:fs:a,xvdb:fs:b,xvdc:blank)
#   XL_DISKS:    the xl disk list body ('phy:/dev/loop0,xvda,w', ...), may
#                be empty (disks attached later, e.g. by xen-ephemeral)
# Writes $XE_RUN/NAME.cfg: a domU on the dom0 kernel running domu-init.sh.
# Optional (set them, call, unset them: ash keeps assignments made on a
# function call): XE_GUEST_TYPE pv (default), pvh or hvm (the HVM guest
# boots the kernel and hvm-initrd.gz directly from the dom0 QEMU, console
# on its serial port: xenlab420's recipe; xl-hvm);
# XE_GUEST_MEM (MiB, default 256); XE_ON_REBOOT (default destroy);
# XE_GUEST_RAMDISK (a PV or PVH guest's, default /boot/domu-initrd.gz);
# XE_GUEST_XE_NAME (the guest's xe_name=, default NAME).
xe_guest_cfg() {
	local n=$1 gd=$2 xd=$3 extra=${4:-} vcpus=${5:-1} type=${XE_GUEST_TYPE:-pv} args
	mkdir -p $XE_RUN
	args="xe_name=${XE_GUEST_XE_NAME:-$n} xe_disks=$gd xe_fs_mib=$XE_FS_MIB xe_sums_a=$XE_SUMS_A xe_sums_b=$XE_SUMS_B $extra"
	echo $type > $XE_RUN/$n.type
	{
		echo "name = \"$n\""
		echo "type = \"$type\""
		echo "kernel = \"/boot/domu-vmlinuz\""
		case $type in
		hvm)
			# no nographic (SeaBIOS serial-console stall), pci=noearly
			# (AMD GART scan): xenlab420 REPORT 4.4
			echo "ramdisk = \"/boot/hvm-initrd.gz\""
			echo "cmdline = \"console=ttyS0,115200 loglevel=4 pci=noearly xen_emul_unplug=unnecessary $args\""
			echo "serial = \"file:/var/log/xen/serial-$n.log\""
			echo 'vga = "none"'; echo 'vnc = 0'; echo 'sdl = 0'; echo 'usb = 0'
			;;
		*)
			echo "ramdisk = \"${XE_GUEST_RAMDISK:-/boot/domu-initrd.gz}\""
			echo "extra = \"console=hvc0 loglevel=4 $args\""
			;;
		esac
		echo "memory = ${XE_GUEST_MEM:-256}"
		echo "vcpus = $vcpus"
		echo "vif = []"
		echo "disk = [ $xd ]"
		echo 'on_poweroff = "destroy"'
		echo "on_reboot = \"${XE_ON_REBOOT:-destroy}\""
		echo 'on_crash = "destroy"'
	} > $XE_RUN/$n.cfg
}
xe_guest_log() {
	if [ "$(cat $XE_RUN/$1.type 2>/dev/null)" = hvm ]; then
		echo /var/log/xen/serial-$1.log
	else
		echo $XE_CONSOLE_DIR/guest-$1.log
	fi
}
xe_domid() { xl domid "$1" 2>/dev/null; }
# xe_guest_create NAME [-p]: xl create, timed; XE_XL_OPTS are xl's own
# options (the libxl scenarios use -vvv: then the xl process that watches
# the domain logs libxl's debug messages to /var/log/xen/xl-NAME.log too)
xe_guest_create() {
	local n=$1 rc
	xe_mark XL-CREATE-START name=$n
	xl ${XE_XL_OPTS:-} create $2 $XE_RUN/$n.cfg > $XE_RUN/xl-create-$n.log 2>&1
	rc=$?
	xe_mark XL-CREATE-END name=$n rc=$rc domid=$(xe_domid $n)
	if [ $rc != 0 ]; then
		xe_block xl-create-$n cat $XE_RUN/xl-create-$n.log
		[ -f /var/log/xen/xen-hotplug.log ] && xe_block xen-hotplug-$n cat /var/log/xen/xen-hotplug.log
	fi
	return $rc
}
# xe_triple_fault DOMID: Xen logged a triple fault of the domain (an HVM or
# PVH guest under TCG, now and then: see xl-pvh): it will never finish.
xe_triple_fault() { xl dmesg 2>/dev/null | grep -q "d${1}v[0-9]* Triple fault"; }
# xe_guest_wait NAME [SECS]: wait for XE-GUEST DONE (or for the domain to
# vanish, or to triple-fault), then for the domain to go away (the guest
# powers itself off); destroy it if it does not.
xe_guest_wait() {
	local n=$1 t=${2:-$XE_GUEST_TIMEOUT} log id
	log=$(xe_guest_log $n)
	id=$(xe_domid $n)
	if xe_waitfor $t sh -c ". /xe/lib.sh; grep -q 'XE-GUEST DONE' $log || ! xenstore-exists /local/domain/${id:-none} || xe_triple_fault ${id:-none}"; then
		xe_mark GUEST-DONE name=$n
		echo ended > $XE_RUN/$n.wait
	else
		xe_mark GUEST-TIMEOUT name=$n
		echo "still running after $t s" > $XE_RUN/$n.wait
	fi
	echo "${id:-none}" > $XE_RUN/$n.domid
	if xe_waitfor 60 sh -c "! xl domid $n"; then
		xe_mark GUEST-GONE name=$n
	else
		xe_mark GUEST-DESTROY name=$n
		xl destroy $n
	fi
}
# xe_guest_verdict NAME [DOMAIN]: the console of DOMAIN (default NAME)
# into the log, the XE-GUEST RESULT of the guest that called itself NAME
# (xe_name=) as XE-RESULT NAME-guest, its markers into $XE_RUN/markers-NAME
xe_guest_verdict() {
	local n=$1 log r
	log=$(xe_guest_log ${2:-$1})
	xe_block guest-console-$n sh -c "tr -d '\r' < $log"
	tr -d '\r' < $log | grep "XE-GUEST .*name=$n " > $XE_RUN/guest-$n.txt
	sed -n 's/.*XE-GUEST MARKER .* disk=\([^ ]*\) marker=\([^ ]*\).*/\1 \2/p' $XE_RUN/guest-$n.txt > $XE_RUN/markers-$n
	r=$(grep 'XE-GUEST RESULT' $XE_RUN/guest-$n.txt | tail -n1)
	case "$r" in
	*" PASS "*) xe_result $n-guest PASS "${r#*PASS }" ;;
	"") xe_result $n-guest FAIL "no XE-GUEST RESULT line: $(xe_guest_why $n $log)" ;;
	*) xe_result $n-guest FAIL "${r#*RESULT }: $(grep 'XE-GUEST CHECK.* FAIL' $XE_RUN/guest-$n.txt | sed 's/.*disk=//' | tr '\n' ';')" ;;
	esac
}
# xe_guest_why NAME LOG: how a guest that gave no result ended, in one
# line for the result (CI shows the FAIL lines, not the console): how far
# its workload got, the console's first kernel trouble, how the domain
# ended (libxl's shutdown reason: 0 poweroff, 1 reboot (a triple fault),
# 3 crash (a panic)) or that it was still running.
xe_guest_why() {
	local n=$1 log=$2 last trouble how id
	last=$(tr -d '\r' < $log | grep -o "XE-GUEST [A-Z-]* name=$n .*" | tail -n1 | cut -c1-120)
	trouble=$(tr -d '\r' < $log | grep -m1 -E 'Kernel panic|Oops|BUG:|general protection|segfault|invalid opcode|I/O error|EXT4-fs error|blocked for more than|Attempted to kill init' | cut -c1-120)
	id=$(cat $XE_RUN/$n.domid 2>/dev/null)
	how=$(cat $XE_RUN/$n.wait 2>/dev/null)
	if [ "$how" = ended ]; then
		how=$(grep -o 'has shut down, reason code [0-9]*' /var/log/xen/xl-$n.log 2>/dev/null | tail -n1)
		how=${how:-vanished, no shutdown reason in xl-$n.log}
		xe_triple_fault ${id:-none} && how="$how, Xen logged a triple fault"
	fi
	echo "last: ${last:-no XE-GUEST line}; console: ${trouble:-no kernel trouble}; domain ${id:-?}: ${how:-?}"
}
# xe_tcg_death NAME DOMID: an HVM or PVH guest that gave no result died
# as QEMU's TCG makes such guests die (xl-pvh.sh says how often), not of
# its disks: its domain ended on its own (no timeout) by a triple fault
# or with libxl's shutdown reason 1 (a triple fault's reboot) or 3 (a
# crash), and its console shows no block I/O trouble (an I/O error, an
# ext4 error, a hung task: those are ours, never retried). A scenario
# retries such a guest up to XE_TCG_RETRIES times.
XE_TCG_RETRIES=${XE_TCG_RETRIES:-7}
xe_tcg_death() {
	local log
	log=$(xe_guest_log $1)
	[ "$(cat $XE_RUN/$1.wait 2>/dev/null)" = ended ] || return 1
	! tr -d '\r' < $log | grep -q -E 'I/O error|EXT4-fs error|blocked for more than|xvd[a-z]: .*(error|timeout)' || return 1
	xe_triple_fault $2 && return 0
	grep -q -E 'has shut down, reason code (1|3)' /var/log/xen/xl-$1.log 2>/dev/null
}
# xe_try_results NAME TRY HOLD: a failed attempt's teardown checks (held
# in HOLD), which must pass all the same, as NAME-tryTRY-*
xe_try_results() {
	local nm res det
	while read -r nm res det; do
		case $nm in
		*-domain-gone | *-daemon-state-gone | *-xenstore-gone | *-teardown | *-nbd-socket-gone | *-scan-absent)
			xe_result $1-try$2-${nm#$1-} $res "$det" ;;
		esac
	done < $3
}
# xe_tcg_retry NAME TRY HOLD DOMID MARK: the attempt TRY of NAME's guest
# died as xe_tcg_death says: into the log its results and Xen's and
# libxl's word on its end, its teardown checks reported, MARK-RETRY marked
xe_tcg_retry() {
	xe_block $1-try$2-results cat $3
	xe_block $1-try$2-xl-dmesg sh -c "xl dmesg | grep -A3 'd${4}v[0-9]* Triple fault'; grep 'shut down' /var/log/xen/xl-$1.log"
	xe_try_results $1 $2 $3
	xe_mark $5-RETRY name=$1 domid=$4 why=$(xe_triple_fault $4 && echo triple-fault || echo crash) try=$2
}
# xe_tcg_next NAME TRY HOLD DOMID MARK: after attempt TRY of NAME's guest,
# whose results are held in HOLD: if it died as xe_tcg_death says and
# retries are left, report it (xe_tcg_retry) and return 0 (try again);
# else report its results as they are and return 1
xe_tcg_next() {
	local nm res det
	if [ $2 -lt $XE_TCG_RETRIES ] && ! grep -q "^$1-guest PASS" $3 &&
		xe_tcg_death $1 $4; then
		xe_tcg_retry $1 $2 $3 $4 $5
		return 0
	fi
	while read -r nm res det; do
		xe_result $nm $res "$det"
	done < $3
	return 1
}
# xe_declare_markers NAME present|absent: tell the host scan what to expect
xe_declare_markers() {
	local n=$1 e=$2 d m
	while read -r d m; do
		echo "XE-MARKER scenario=$n disk=$d marker=$m expect=$e"
	done < $XE_RUN/markers-$n
}
# xe_scan NAME present|absent FILE...: scan FILEs for NAME's markers.
# present: the whole marker is found at least once in the FILEs.
# absent: no whole marker and no 16-byte piece of one in any FILE.
xe_scan() {
	local n=$1 e=$2 what ms f files="" out
	shift 2
	what=$(echo "$*" | tr ' ' '\n' | sed 's|.*/||' | tr '\n' ' ')
	ms=$(cut -d' ' -f2 $XE_RUN/markers-$n | tr '\n' ' ')
	if [ -z "$ms" ]; then
		xe_result $n-scan-$e FAIL "no markers known for $n"
		return
	fi
	for f in "$@"; do [ -e "$f" ] && files="$files $f"; done
	out=$XE_RUN/scan-$n-$e.txt
	scan-markers $ms -- $files > $out 2>&1
	local rc=$?
	xe_block scan-$n-$e cat $out
	local hits pieces
	hits=$(sed -n 's/.* hits=\([0-9]*\) .*/\1/p' $out | awk '{s += $1} END {print s + 0}')
	pieces=$(sed -n 's/.* pieces=\([0-9,]*\) .*/\1/p' $out | tr ',' '\n' | awk '{s += $1} END {print s + 0}')
	if [ $rc != 0 ]; then
		xe_result $n-scan-$e FAIL "scanner error rc=$rc ($(grep SCAN-ERROR $out | head -n2 | tr '\n' ' '))"
	elif [ $e = present ] && [ "$hits" -gt 0 ]; then
		xe_result $n-scan-$e PASS "hits=$hits in $what"
	elif [ $e = absent ] && [ "$hits" = 0 ] && [ "$pieces" = 0 ]; then
		xe_result $n-scan-$e PASS "0 hits, 0 pieces in $what"
	else
		xe_result $n-scan-$e FAIL "hits=$hits pieces=$pieces in $what"
	fi
}
# xe_xs_dump NAME DOMID: backend and frontend xenstore nodes, with perms
xe_xs_dump() {
	xe_block xenstore-$1 sh -c "xenstore-ls -fp /local/domain/0/backend; xenstore-ls -fp /local/domain/$2/device"
}
# xe_destroy_all: no domU survives a scenario
xe_destroy_all() {
	local d
	for d in $(xl list 2>/dev/null | awk 'NR > 2 {print $1}'); do
		echo "destroying leftover domain $d"
		xl destroy "$d"
	done
}

# ---------------------------------------------------------------- ephemeral
# The daemon is started once per scenario that needs it. Its options are the
# daemon's to define; XE_DAEMON_ARGS (dom0 command line xe_daemon_args=,
# with ':' for spaces) is passed through, then xe_daemon_start's arguments.
# It is started as systemd starts xen-ephemerald.service (Type=notify):
# with NOTIFY_SOCKET, where notify-wait listens; it is up once it said
# READY=1 there and its control socket answers.
xe_daemon_start() {
	local a nw=
	a=$(sed -n 's/.*[[:space:]]xe_daemon_args=\([^ ]*\).*/\1/p' /proc/cmdline | tr ':' ' ')
	if command -v notify-wait >/dev/null; then
		notify-wait $XE_RUN/notify.sock 30 > $XE_RUN/notify.log 2>&1 &
		nw=$!
		xe_waitfor 5 test -S $XE_RUN/notify.sock
	fi
	xe_mark DAEMON-START
	NOTIFY_SOCKET=${nw:+$XE_RUN/notify.sock} xen-ephemerald $a "$@" > $XE_RUN/daemon.log 2>&1 &
	echo $! > $XE_RUN/daemon.pid
	if xe_waitfor 30 xen-ephemeral status &&
		{ [ -z "$nw" ] || wait $nw; }; then
		xe_mark DAEMON-READY ${nw:+notify=READY=1}
	else
		[ -n "$nw" ] && xe_block daemon-notify cat $XE_RUN/notify.log
		xe_block daemon-log cat $XE_RUN/daemon.log
		return 1
	fi
}
xe_daemon_stop() {
	local p
	p=$(cat $XE_RUN/daemon.pid 2>/dev/null) || return 0
	kill "$p" 2>/dev/null
	xe_waitfor 20 sh -c "! kill -0 $p" || kill -9 "$p" 2>/dev/null
	rm -f $XE_RUN/daemon.pid
	xe_block daemon-log${XE_SCENARIO:+-$XE_SCENARIO} cat $XE_RUN/daemon.log
}
# xe_status_poll DOMID FILE: in the background, while the domain lives, keep
# in FILE the daemon's latest `status --json` that lists it with every disk
# still Connected (state 4: a closed disk lists no rings); the last one
# before the domain goes away holds its counters near the end of its run.
xe_status_poll() {
	(
		while xl list "$1" >/dev/null 2>&1; do
			xen-ephemeral status --json > "$2.tmp" 2>/dev/null &&
				grep -q "\"domid\": $1," "$2.tmp" &&
				! grep "\"domid\": $1," "$2.tmp" | grep -q -v '"state": 4,' &&
				mv "$2.tmp" "$2"
			sleep 2
		done
	) &
}
# xe_eph_guest NAME STORE_OPTS: one guest on ephemeral disks, self-attached:
#   xvda cow over /root/base-a.img, xvdb cow over /root/base-b.img,
#   xvdc blank 64M, each with STORE_OPTS (e.g. "store=ram" or
#   "store=xts,scratch=/scratch/xts"); created paused, attached with
#   xen-ephemeral, unpaused; the guest checks what it sees and writes its
#   markers. Afterwards: the daemon holds no state for the domain, its
#   xenstore nodes are gone, and none of its markers is on dom0's storage.
#   Optional: XE_EPH_EXTRA (more guest command line, e.g. xe_blkfront=),
#   XE_EPH_VCPUS, XE_EPH_XVDC (xvdc's kind for the guest, e.g. fill:8) and
#   XE_EPH_XVDC_SPEC (xvdc's spec options, e.g. limit=8M), and
#   XE_EPH_WHILE (a function run with NAME DOMID once the disks connect).
xe_eph_guest() {
	local n=$1 so=$2 id v spec ok=1
	xe_guest_cfg $n xvda:fs:a,xvdb:fs:b,xvdc:${XE_EPH_XVDC:-blank} "" \
		"xe_mark_mib=2 ${XE_EPH_EXTRA:-}" "${XE_EPH_VCPUS:-1}"
	xe_guest_create $n -p || { xe_result $n FAIL "xl create -p failed"; return 1; }
	id=$(xe_domid $n)
	for v in xvda xvdb xvdc; do
		case $v in
		xvda) spec="cow:base=/root/base-a.img,$so" ;;
		xvdb) spec="cow:base=/root/base-b.img,$so" ;;
		xvdc) spec="blank:size=64M,$so${XE_EPH_XVDC_SPEC:+,$XE_EPH_XVDC_SPEC}" ;;
		esac
		xe_mark ATTACH name=$n vdev=$v
		if ! xen-ephemeral attach $id $v "$spec" > $XE_RUN/attach-$n-$v.log 2>&1; then
			xe_block attach-$n-$v cat $XE_RUN/attach-$n-$v.log
			xe_result $n FAIL "xen-ephemeral attach $id $v '$spec' failed"
			ok=0
		fi
	done
	[ $ok = 1 ] || { xl destroy $n; return 1; }
	xl unpause $n
	xe_mark UNPAUSED name=$n
	if xe_waitfor 300 sh -c "[ \"\$(xenstore-read /local/domain/$id/device/vbd/51712/state)\" = 4 ]"; then
		xe_mark FRONTEND-CONNECTED name=$n
		xe_xs_dump $n $id
		xe_block status-$n xen-ephemeral status --json
		[ -n "${XE_EPH_WHILE:-}" ] && $XE_EPH_WHILE $n $id
	fi
	xe_guest_wait $n
	xe_guest_verdict $n
	# the daemon tears down on its own when the domain dies: give it 30 s
	if xe_waitfor 30 sh -c "! xen-ephemeral status --json | grep -q -E '\"domid\" *: *$id([^0-9]|\$)'"; then
		xe_result $n-daemon-state-gone PASS "status lists nothing for domain $id"
	else
		xe_result $n-daemon-state-gone FAIL "status still lists domain $id after 30 s"
	fi
	xe_block status-after-$n xen-ephemeral status --json
	if xe_waitfor 30 sh -c "! xenstore-ls /local/domain/0/backend/ephemeral/$id && ! xenstore-ls /local/domain/$id"; then
		xe_result $n-xenstore-gone PASS "backend/ephemeral/$id and /local/domain/$id removed"
	else
		xe_block xenstore-after-$n xenstore-ls -f /local/domain
		xe_result $n-xenstore-gone FAIL "nodes of domain $id remain after 30 s"
	fi
	xe_declare_markers $n absent
	xe_scan $n absent $(find /scratch -type f) /root/base-a.img /root/base-b.img \
		$(losetup -a 2>/dev/null | cut -d: -f1)
	! grep -q -E "^$n-[^ ]* FAIL" $XE_RUN/results && grep -q "^$n-guest PASS" $XE_RUN/results
}

# ---------------------------------------------------------------- kernel blkback
# xe_blkback load|unload: the phy control's backend. 4.17 loads it at boot;
# 4.20 only around the phy scenario (the libxl route must not need it).
xe_blkback() {
	case $1 in
	load)
		grep -q '^xen_blkback ' /proc/modules && return 0
		insmod /lib/modules/xen-blkback.ko && : > $XE_RUN/blkback-loaded-here &&
			echo "xen-blkback loaded for this scenario"
		;;
	unload)
		[ -f $XE_RUN/blkback-loaded-here ] || return 0
		rmmod xen_blkback && rm -f $XE_RUN/blkback-loaded-here && echo "xen-blkback unloaded"
		;;
	esac
}

# ---------------------------------------------------------------- libxl route
# Disks declared in the xl config only: backendtype=tap, our hook as
# script=, kind vbd3 (Xen 4.19+). libxl writes backend/vbd3/<domid>/<devid>
# (params "aio:<target>"), waits 10 s for the daemon's InitWait, runs the
# hook (/etc/xen/scripts/xen-ephemeral), and owns every node: the daemon
# only adds its own. Teardown: libxl deletes the frontend, writes state 5,
# waits 10 s for 6, runs the hook's remove, deletes the directories.
# The scenarios run xl with -vvv (XE_XL_OPTS), and check the log of the xl
# process that watched the domain (/var/log/xen/xl-NAME.log).
XE_HOOK=/etc/xen/scripts/xen-ephemeral

# xe_xl_disk VDEV SPEC: one xl disk for our hook (target= last: it takes
# the rest of the line, commas included)
xe_xl_disk() { printf "'backendtype=tap, script=xen-ephemeral, vdev=%s, target=%s'" "$1" "$2"; }
# xe_devid xvdX: the device id (51712 + 16 * letter)
xe_devid() { echo $((51712 + 16 * ($(printf '%d' "'${1#xvd}") - 97))); }
# xe_xl_dump NAME DOMID: the vbd3 backends, the guest's frontends and
# libxl's copy, with permissions
xe_xl_dump() {
	xe_block xenstore-$1 sh -c "xenstore-ls -fp /local/domain/0/backend/vbd3/$2; xenstore-ls -fp /local/domain/$2/device/vbd; xenstore-ls -f /libxl/$2/device/vbd"
}
# xe_xl_states DOMID VDEV...: "xvda=be/fe/hotplug-status ..." from xenstore
xe_xl_states() {
	local id=$1 v d out=""
	shift
	for v in "$@"; do
		d=$(xe_devid $v)
		out="$out $v=$(xenstore-read /local/domain/0/backend/vbd3/$id/$d/state 2>/dev/null || echo -)/$(xenstore-read /local/domain/$id/device/vbd/$d/state 2>/dev/null || echo -)/$(xenstore-read /local/domain/0/backend/vbd3/$id/$d/hotplug-status 2>/dev/null || echo -)"
	done
	echo "${out# }"
}
# xe_xl_states_are DOMID BE/FE/HOTPLUG VDEV...: every disk so?
xe_xl_states_are() {
	local id=$1 want=$2 v
	shift 2
	for v in $(xe_xl_states $id "$@"); do
		[ "${v#*=}" = "$want" ] || return 1
	done
}
# xe_xl_all_fe DOMID STATE VDEV...: every frontend in STATE?
xe_xl_all_fe() {
	local id=$1 st=$2 v
	shift 2
	for v in "$@"; do
		[ "$(xenstore-read /local/domain/$id/device/vbd/$(xe_devid $v)/state 2>/dev/null)" = "$st" ] || return 1
	done
}
# xe_xl_status_lists DOMID [DEVID]: does `xen-ephemeral status` list it?
xe_xl_status_lists() {
	if [ -n "${2:-}" ]; then
		xen-ephemeral status --json 2>/dev/null | grep -q -E "\"domid\": $1, \"devid\": $2,"
	else
		xen-ephemeral status --json 2>/dev/null | grep -q -E "\"domid\": $1,"
	fi
}
# xe_xl_gone NAME DOMID: after the domain is gone, within 30 s: the daemon
# holds nothing for it; backend/vbd3/DOMID, /local/domain/DOMID and
# /libxl/DOMID are gone
xe_xl_gone() {
	local n=$1 id=$2
	if xe_waitfor 30 sh -c "! xl list $id"; then :; else
		xe_result $n-domain-gone FAIL "domain $id still exists"
	fi
	if xe_waitfor 30 sh -c ". /xe/lib.sh; ! xe_xl_status_lists $id"; then
		xe_result $n-daemon-state-gone PASS "status lists nothing for domain $id"
	else
		xe_block status-after-$n xen-ephemeral status --json
		xe_result $n-daemon-state-gone FAIL "status still lists domain $id after 30 s"
	fi
	if xe_waitfor 30 sh -c "! xenstore-exists /local/domain/0/backend/vbd3/$id && ! xenstore-exists /local/domain/$id && ! xenstore-exists /libxl/$id"; then
		xe_result $n-xenstore-gone PASS "backend/vbd3/$id, /local/domain/$id and /libxl/$id removed"
	else
		xe_block xenstore-after-$n sh -c "xenstore-ls -fp /local/domain/0/backend; xenstore-ls -f /local/domain/$id; xenstore-ls -f /libxl/$id"
		xe_result $n-xenstore-gone FAIL "nodes of domain $id remain after 30 s"
	fi
	xe_block xenstore-after-$n sh -c "echo '(backends left in dom0, all kinds)'; xenstore-ls -fp /local/domain/0/backend 2>&1; echo '(/libxl)'; xenstore-ls -f /libxl 2>&1 | grep -v dm-version"
}
# xe_xl_teardown NAME DOMID NDISKS LOG: libxl's teardown of the domain's
# disks, from an xl -vvv log: no 10 s timeout hit, the hook's remove run
# for every disk (libxl runs it only once the backend reached Closed)
xe_xl_teardown() {
	local n=$1 id=$2 nd=$3 log=$4 to rm
	to=$(grep -c 'timed out' $log)
	rm=$(grep -c "Domain $id:calling hotplug script: $XE_HOOK remove" $log)
	grep -E "(Domain $id:|/vbd3/$id/).*(hotplug script: |wanted state [56]|timed out|unable)" $log |
		grep -v -e 'xc: ' -e 'still waiting' > $XE_RUN/teardown-$n.txt
	xe_block teardown-$n cat $XE_RUN/teardown-$n.txt
	if [ "$to" = 0 ] && [ "$rm" = "$nd" ]; then
		xe_result $n-teardown PASS "no libxl timeout, hook remove ran for $rm of $nd disks"
	else
		xe_result $n-teardown FAIL "$to 'timed out' lines, hook remove ran for $rm of $nd disks ($log)"
	fi
}
# xe_xl_scan NAME: NAME's markers absent from dom0's storage (files in
# /scratch, the bases, loop devices); declared for the host's scan too
xe_xl_scan() {
	xe_declare_markers $1 absent
	xe_scan $1 absent $(find /scratch -type f) /root/base-a.img /root/base-b.img \
		$(losetup -a 2>/dev/null | cut -d: -f1)
}
# xe_xl_create NAME [-p]: xl -vvv create, timed, and its domid in XE_ID
xe_xl_create() {
	local rc
	XE_XL_OPTS=-vvv
	xe_guest_create "$@"
	rc=$?
	unset XE_XL_OPTS
	XE_ID=$(xe_domid $1)
	return $rc
}
# xe_xl_disks3 OPTS: xvda cow over base A, xvdb cow over base B, xvdc
# blank 64M, each with the overlay options OPTS (e.g. store=ram)
xe_xl_disks3() {
	echo "$(xe_xl_disk xvda cow:base=/root/base-a.img,$1), $(xe_xl_disk xvdb cow:base=/root/base-b.img,$1), $(xe_xl_disk xvdc blank:size=64M,$1)"
}
# xe_xl_ready NAME: the binaries and the hook are there, the daemon is up
# (-v: its state changes are in the daemon-log block)
xe_xl_ready() {
	if ! xe_have_binaries; then
		xe_result $1 SKIP "no xen-ephemerald/xen-ephemeral in this build (XE_BUILD)"
		return 1
	fi
	if [ ! -x $XE_HOOK ]; then
		xe_result $1 FAIL "no hook $XE_HOOK"
		return 1
	fi
	xe_daemon_start -v || { xe_result $1 FAIL "daemon did not come up"; return 1; }
}
# xe_xl_vdevs XL_DISKS: the vdevs named in an xl disk list
xe_xl_vdevs() { echo "$1" | grep -o 'vdev=xvd[a-z]*' | cut -d= -f2 | tr '\n' ' '; }
# xe_xl_guest NAME GUEST_DISKS XL_DISKS [EXTRA_CMDLINE]: one guest whose
# disks are all in its xl config. Created paused (the backends then sit in
# InitWait, hotplug-status connected: dumped), unpaused, connected
# (dumped); XE_XL_WHILE (a function NAME DOMID) runs then; the guest does
# its workload and powers off; then the daemon and xenstore hold nothing of
# it, libxl's teardown hit no timeout and ran the hook's remove, and its
# markers are nowhere on dom0's storage. Returns 0 when all of that passed.
xe_xl_guest() {
	local n=$1 gd=$2 xd=$3 extra=${4:-} id vdevs st mid d
	vdevs=$(xe_xl_vdevs "$xd")
	# The guest derives its markers from mid (xe_mark_id=): dom0 knows
	# them even if the guest never gets as far as saying them.
	mid=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	: > $XE_RUN/markers-$n.derived
	for d in $(echo "$gd" | tr ',' '\n' | awk -F: '{ print $1; if ($2 == "pair") print $4 }'); do
		echo "$d XEMARK-$(printf '%s' "$mid$d" | md5sum | cut -c1-32)-$d-" >> $XE_RUN/markers-$n.derived
	done
	xe_guest_cfg $n "$gd" "$xd" "xe_mark_mib=2 xe_mark_id=$mid $extra"
	if ! xe_xl_create $n -p; then
		xe_result $n FAIL "xl create -p failed: $(grep -E 'error|script:' $XE_RUN/xl-create-$n.log | grep -v 'xc: ' | tail -n3 | tr '\n' ' ')"
		return 1
	fi
	id=$XE_ID
	st=$(xe_xl_states $id $vdevs)
	xe_xl_dump $n-initwait $id
	if xe_xl_states_are $id 2/1/connected $vdevs; then
		xe_result $n-initwait PASS "backend/frontend/hotplug-status: $st"
	else
		xe_result $n-initwait FAIL "$st (wanted 2/1/connected)"
	fi
	xe_block status-initwait-$n xen-ephemeral status --json
	xl unpause $n
	xe_mark UNPAUSED name=$n
	xe_waitfor 300 sh -c ". /xe/lib.sh; xe_xl_all_fe $id 4 $vdevs || xe_triple_fault $id"
	if xe_triple_fault $id; then
		xe_result $n-connected FAIL "the guest triple-faulted before its frontends connected: $(xe_xl_states $id $vdevs)"
	elif xe_xl_all_fe $id 4 $vdevs; then
		xe_mark FRONTEND-CONNECTED name=$n
		st=$(xe_xl_states $id $vdevs)
		xe_xl_dump $n-connected $id
		xe_block status-$n xen-ephemeral status --json
		if xe_xl_states_are $id 4/4/connected $vdevs; then
			xe_result $n-connected PASS "backend/frontend/hotplug-status: $st"
		else
			xe_result $n-connected FAIL "$st (wanted 4/4/connected)"
		fi
		[ -n "${XE_XL_WHILE:-}" ] && $XE_XL_WHILE $n $id
	else
		xe_result $n-connected FAIL "frontends not connected after 300 s: $(xe_xl_states $id $vdevs)"
	fi
	xe_guest_wait $n
	xe_guest_verdict $n
	# The scan looks for the markers derived from xe_mark_id as well as
	# those the console says (an earlier attempt's under the same name
	# too): a guest that died before its workload (a triple fault under
	# TCG) said none, and its scan still looks for what it would have
	# written.
	cat $XE_RUN/markers-$n $XE_RUN/markers-$n.derived | sort -u > $XE_RUN/markers-$n.all
	mv $XE_RUN/markers-$n.all $XE_RUN/markers-$n
	xe_xl_gone $n $id
	xe_xl_teardown $n $id $(echo $vdevs | wc -w) /var/log/xen/xl-$n.log
	xe_xl_scan $n
	! grep -q -E "^$n-[^ ]* FAIL" $XE_RUN/results && grep -q "^$n-guest PASS" $XE_RUN/results
}
