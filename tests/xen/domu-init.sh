#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# domu-init.sh - /init of the lab's domU: the guest workload.
#
# Kernel command line (written by dom0's xe_guest_cfg):
#   xe_name=NAME              scenario name, echoed in every result line
#   xe_disks=D:KIND[:X],...   e.g. xvda:fs:a,xvdb:fs:b,xvdc:blank
#                             fs: ext4 over base X (files + raw region)
#                             blank: reads zeros at first, raw writes only
#                             fill:X: a disk whose overlay holds X MiB:
#                             writing past it must fail, what was written
#                             must stay readable and overwritable;
#                             "XE-GUEST FULL", then a new block is tried
#                             each second (up to 180 s) until dom0 raises
#                             the limit
#                             idle: present and readable, nothing written
#                             loop: a marker stream written over and over
#                             (O_DIRECT) until the domain is destroyed;
#                             "XE-GUEST LOOPING" after the first pass. The
#                             last disk: the workload never gets past it
#   xe_fs_mib=N               base layout: ext4 in [0,N) MiB, raw after it
#   xe_sums_X=HEX             sha256 of base X's /SHA256SUMS
#   xe_mark_mib=N             MiB of marker files (fs) / stream (blank) per disk
#   xe_blkfront=a=1:b=2       xen-blkfront module options
#   xe_expect=pristine|any    pristine (default): the disks must show only
#                             base content at start (no earlier guest's writes)
#   xe_mark_id=HEX            markers derived from HEX (md5 of HEX and the
#                             disk name), so that dom0 knows them before the
#                             guest runs; default: random per disk
#   xe_absent=M1,M2,...       before anything else, scan every disk for these
#                             markers (an earlier boot's): 0 hits, 0 pieces
#   xe_disk_wait=S            seconds to wait for each disk (default 60);
#                             "XE-GUEST WAITDISK" when one is not there yet
#                             (dom0 may hot-plug it then)
#   xe_detach=D               after disk D's checks, "XE-GUEST DETACH-READY"
#                             and wait up to 120 s for dom0 to unplug it
#   xe_boot=N                 which boot this is (printed in START)
#   xe_reboot=1               at the end reboot instead of powering off
#   xe_hold=1                 at the end neither: stay up (save/restore)
#   pair:X:E (kind)           an HVM guest's disk seen twice: D through
#                             blkfront and E (e.g. sda) emulated by the dom0
#                             QEMU, cow over base X. Checked: the same size,
#                             the base's raw pattern through both; sectors,
#                             runs and a stream written through E (O_DIRECT)
#                             read back through D, a stream written through
#                             D read back through E: one disk. Markers
#                             disk=E and disk=D
#   peer:X (kind)             a disk shared with another domain (a stand-in
#                             stubdomain), cow over base X; xe_peer_role=1|2,
#                             xe_peer=M (the other one's marker). Role 1
#                             writes 1 MiB of its marker at raw+2 MiB, then
#                             polls raw+6 MiB (O_DIRECT) until the other's
#                             marker is there ("XE-GUEST PEER-SEEN"), then
#                             reads both back xe_peer_reread=N more times,
#                             2 s apart. Role 2 reads role 1's marker, then
#                             writes its own at raw+6 MiB ("PEER-WROTE")
# For every disk: check what the base holds (file sums, raw pattern or
# zeros), write markers unique to this run (marker files on the fs, single
# 512-byte sectors, runs straddling 4 KiB blocks, a large stream, all with
# O_DIRECT on the raw area), fsync, drop caches, read everything back and
# compare, fstrim the fs. Output on hvc0, one line per fact:
#   XE-GUEST MARKER name=N disk=D marker=XEMARK-<32 hex>-D-   (before writing)
#   XE-GUEST CHECK name=N disk=D what=W OK|FAIL detail
#   XE-GUEST RESULT name=N PASS|FAIL wrote_kib=K checks=C failed=F
#   XE-GUEST DONE name=N
# then powers off (dom0 sees the domain go away).
#
# XE_HOSTTEST=1 runs the workload on the host for development: the command
# line comes from $XE_CMDLINE, disks from $XE_DEVDIR, scratch in $XE_TMP.
if [ -z "${XE_HOSTTEST:-}" ]; then
	export PATH=/sbin:/bin:/usr/sbin:/usr/bin
	mount -t proc proc /proc
	mount -t sysfs sys /sys
	mount -t devtmpfs dev /dev
	mount -t tmpfs tmpfs /tmp
	CMDLINE=$(cat /proc/cmdline)
fi
CMDLINE=${XE_CMDLINE:-$CMDLINE}
DEVDIR=${XE_DEVDIR:-/dev}
T=${XE_TMP:-/tmp}
MNT=${XE_MNT:-/mnt}
up() { cut -d' ' -f1 /proc/uptime; }
arg() { echo " $CMDLINE " | sed -n "s/.* $1=\([^ ]*\) .*/\1/p" | head -n1; }

NAME=$(arg xe_name)
DISKS=$(arg xe_disks)
FS_MIB=$(arg xe_fs_mib); FS_MIB=${FS_MIB:-48}
MARK_MIB=$(arg xe_mark_mib); MARK_MIB=${MARK_MIB:-2}
EXPECT=$(arg xe_expect); EXPECT=${EXPECT:-pristine}
BFOPT=$(arg xe_blkfront | tr ':' ' ')
MARK_ID=$(arg xe_mark_id)
ABSENT=$(arg xe_absent | tr ',' ' ')
DISK_WAIT=$(arg xe_disk_wait); DISK_WAIT=${DISK_WAIT:-60}
DETACH=$(arg xe_detach)
PEER=$(arg xe_peer)
PEER_ROLE=$(arg xe_peer_role)
PEER_REREAD=$(arg xe_peer_reread); PEER_REREAD=${PEER_REREAD:-0}
BOOT=$(arg xe_boot); BOOT=${BOOT:-1}
# xl shutdown: the kernel runs busybox poweroff, which signals PID 1
trap 'echo "XE-GUEST SHUTDOWN-REQUEST name=$NAME uptime=$(up)"; sync; poweroff -f' USR2 TERM INT
echo "XE-GUEST START name=$NAME boot=$BOOT disks=$DISKS uptime=$(up) kernel=$(uname -r) vcpus=$(grep -c ^processor /proc/cpuinfo)"

[ -n "${XE_HOSTTEST:-}" ] || for m in $(cat /lib/modules/load-order); do
	case $m in
	xen-blkfront.ko) insmod /lib/modules/$m $BFOPT ;;
	*) insmod /lib/modules/$m ;;
	esac || echo "XE-GUEST ERROR insmod $m"
done

# bench-xen (xe_bench=xvda:KIND,...): no checks, fio on each disk in turn,
# every figure once per round; one line per figure:
#   XE-GUEST BENCH name=N round=R disk=D kind=K fig=F iops=I kibps=B
# fio's own errors as XE-GUEST BENCH-ERROR. Then power off.
bench() {
	local r d k spec fig rw bs jobs sz out line
	for r in $(seq 1 ${BENCH_ROUNDS:-2}); do
		for spec in $(echo "$BENCH" | tr ',' ' '); do
			d=${spec%%:*} k=${spec#*:}
			waitdisk $DEVDIR/$d || { echo "XE-GUEST BENCH-ERROR name=$NAME disk=$d no such disk"; continue; }
			sz=$(( $(cat /sys/block/$d/size) * 512 ))
			for fig in ${BENCH_FIGS:-write1m read1m randwrite4k randread4k write1m-2j read1m-2j}; do
				case $fig in
				write1m*) rw=write bs=1M ;;
				read1m*) rw=read bs=1M ;;
				randwrite4k*) rw=randwrite bs=4k ;;
				randread4k*) rw=randread bs=4k ;;
				esac
				jobs=1
				case $fig in *-2j) jobs=2 ;; esac
				out=$(fio --name=b --filename=$DEVDIR/$d --ioengine=libaio --direct=1 \
					--iodepth=$((32 / jobs)) --rw=$rw --bs=$bs --numjobs=$jobs \
					--size=$((sz / jobs)) --offset_increment=$((sz / jobs)) \
					--time_based --runtime=${BENCH_SECS:-8} --ramp_time=1 \
					--group_reporting --output-format=terse --terse-version=3 2>$T/fio.err)
				line=$(echo "$out" | awk -F';' -v rw=$rw '$1 == 3 && $5 == 0 {
					if (rw ~ /read/) print $8, $7; else print $49, $48; exit }')
				if [ -n "$line" ]; then
					echo "XE-GUEST BENCH name=$NAME round=$r disk=$d kind=$k fig=$fig iops=${line% *} kibps=${line#* } uptime=$(up)"
				else
					echo "XE-GUEST BENCH-ERROR name=$NAME round=$r disk=$d kind=$k fig=$fig $(tail -n2 $T/fio.err | tr '\n' ' ')"
				fi
			done
		done
	done
}
NCHK=0 NFAIL=0 WROTE=0
check() { # check DISK WHAT OK|FAIL DETAIL...
	local d=$1 w=$2 r=$3; shift 3
	NCHK=$((NCHK + 1))
	[ "$r" = OK ] || NFAIL=$((NFAIL + 1))
	echo "XE-GUEST CHECK name=$NAME disk=$d what=$w $r $* uptime=$(up)"
}
drop_caches() { [ -n "${XE_HOSTTEST:-}" ] || echo 3 > /proc/sys/vm/drop_caches; }
same() { [ "$1" = "$2" ] && echo OK || echo FAIL; }
sha() { sha256sum "$@" | cut -c1-64; }
hsh() { md5sum "$@" | cut -c1-32; } # bulk compares of raw areas: cheaper under TCG
pattern() { # pattern LINE BYTES: LINE\n repeated
	{ yes "$1" || true; } | head -c "$2"
}

# repeat MARKER to fill 64 KiB: $T/blk-D
mkblock() {
	printf '%s' "$1" > $T/blk.0
	local i=0
	while [ "$(stat -c %s $T/blk.$i)" -lt 65536 ]; do
		cat $T/blk.$i $T/blk.$i > $T/blk.$((i + 1)); rm $T/blk.$i; i=$((i + 1))
	done
	head -c 65536 $T/blk.$i > "$2"; rm $T/blk.$i
}
# secdata N: one 512-byte sector: tag + marker repeated
secdata() { { printf 'XE-SEC-%s-' "$1"; cat $T/blk-$D; } | head -c "$(( $2 * 512 ))"; }

# Raw writes in the 4 MiB raw area starting at sector R0: single sectors and
# runs straddling 4 KiB blocks (start sector, count), each one O_DIRECT
# request; plus a 1 MiB stream at a 512-byte (not 4 KiB) aligned offset. The
# same writes go into $T/exp-D (the expected area), which starts as the base.
RAW_SINGLE="1 9 22 6000 8191"
RAW_RUNS="7:2 30:4 61:13 120:17 255:258 2049:2048"
raw_writes() { # raw_writes DEV R0
	local dev=$1 r0=$2 s c w
	for w in $RAW_SINGLE; do
		secdata "$w" 1 > $T/w
		dd if=$T/w of=$dev bs=512 seek=$((r0 + w)) oflag=direct conv=notrunc 2>/dev/null || return 1
		dd if=$T/w of=$T/exp-$D bs=512 seek=$w conv=notrunc 2>/dev/null
		WROTE=$((WROTE + 1))
	done
	for w in $RAW_RUNS; do
		s=${w%:*} c=${w#*:}
		secdata "$s" "$c" > $T/w
		dd if=$T/w of=$dev bs=$((c * 512)) count=1 seek=$(( (r0 + s) * 512 )) oflag=seek_bytes,direct conv=notrunc 2>/dev/null ||
			dd if=$T/w of=$dev bs=512 seek=$((r0 + s)) oflag=direct conv=notrunc 2>/dev/null || return 1
		dd if=$T/w of=$T/exp-$D bs=512 seek=$s conv=notrunc 2>/dev/null
		WROTE=$((WROTE + c))
	done
	return 0
}

marker() { # marker DISK: this run's marker for DISK
	if [ -n "$MARK_ID" ]; then
		echo "XEMARK-$(printf '%s' "$MARK_ID$1" | md5sum | cut -c1-32)-$1-"
	else
		echo "XEMARK-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')-$1-"
	fi
}
mib_of() { # mib_of BLOCKFILE OUT: 1 MiB of the 64 KiB block
	local i=0
	while [ $i -lt 16 ]; do cat $1; i=$((i + 1)); done > $2
}
rdmib() { dd if=$1 bs=1M skip=$2 count=${3:-1} iflag=direct 2>/dev/null | hsh; } # rdmib DEV MIB [N]
wrmib() { dd if=$3 of=$1 bs=1M seek=$2 oflag=direct conv=notrunc,fsync 2>/dev/null; } # wrmib DEV MIB FILE

waitdisk() { # waitdisk DEV: up to DISK_WAIT seconds
	local i=0
	[ -b $1 ] || echo "XE-GUEST WAITDISK name=$NAME disk=${1##*/} uptime=$(up)"
	while [ ! -b $1 ] && [ $i -lt $((DISK_WAIT * 5)) ]; do sleep 0.2; i=$((i + 1)); done
	[ -b $1 ]
}

BENCH=$(arg xe_bench)
if [ -n "$BENCH" ]; then
	BENCH_SECS=$(arg xe_bench_secs) BENCH_ROUNDS=$(arg xe_bench_rounds)
	BENCH_FIGS=$(arg xe_bench_figs | tr ',' ' ')
	echo "XE-GUEST BENCH-START name=$NAME fio=$(fio --version) uptime=$(up)"
	bench > $T/bench.out
	cat $T/bench.out
	n=$(grep -c 'XE-GUEST BENCH ' $T/bench.out) e=$(grep -c 'XE-GUEST BENCH-ERROR' $T/bench.out)
	echo "XE-GUEST RESULT name=$NAME $([ "$e" = 0 ] && [ "$n" -gt 0 ] && echo PASS || echo FAIL) wrote_kib=0 figures=$n errors=$e uptime=$(up)"
	echo "XE-GUEST DONE name=$NAME boot=$BOOT uptime=$(up)"
	sleep 1
	poweroff -f
fi

# An earlier boot's markers (xe_absent=): on no disk, not even in pieces.
if [ -n "$ABSENT" ]; then
	devs=
	for spec in $(echo "$DISKS" | tr ',' ' '); do
		waitdisk $DEVDIR/${spec%%:*} && devs="$devs $DEVDIR/${spec%%:*}"
	done
	out=$(scan-markers $ABSENT -- $devs 2>&1)
	rc=$?
	echo "$out" | sed 's/^/XE-GUEST SCAN /'
	hits=$(echo "$out" | sed -n 's/.* hits=\([0-9]*\) .*/\1/p' | awk '{s += $1} END {print s + 0}')
	pieces=$(echo "$out" | sed -n 's/.* pieces=\([0-9,]*\) .*/\1/p' | tr ',' '\n' | awk '{s += $1} END {print s + 0}')
	check all earlier-markers-absent "$([ $rc = 0 ] && [ "$hits" = 0 ] && [ "$pieces" = 0 ] && echo OK || echo FAIL)" \
		"$(echo $ABSENT | wc -w) markers, hits=$hits pieces=$pieces on$devs"
fi

for spec in $(echo "$DISKS" | tr ',' ' '); do
	D=${spec%%:*}; rest=${spec#*:}; KIND=${rest%%:*}; X=${rest#*:}
	[ "$X" = "$rest" ] && X=
	DEV=$DEVDIR/$D
	if ! waitdisk $DEV; then
		check $D present FAIL "no $DEV after $DISK_WAIT s"
		continue
	fi
	SECTORS=$(blockdev --getsz $DEV)
	check $D present OK "sectors=$SECTORS ro=$(blockdev --getro $DEV)"
	if [ "$KIND" = idle ]; then
		got=$(dd if=$DEV bs=1M count=1 iflag=direct 2>/dev/null | wc -c)
		check $D idle-read "$([ "$got" = 1048576 ] && echo OK || echo FAIL)" "bytes=$got"
		continue
	fi
	# a fresh random id per disk: no 16-byte piece is shared between markers
	M=$(marker $D)
	echo "XE-GUEST MARKER name=$NAME disk=$D marker=$M"
	mkblock "$M" $T/blk-$D

	if [ "$KIND" = loop ]; then
		# until the domain is destroyed: 1 MiB O_DIRECT writes over
		# [8, 24) MiB of the disk, each one the marker repeated
		i=0
		while [ $i -lt 16 ]; do cat $T/blk-$D; i=$((i + 1)); done > $T/mib
		i=0
		while :; do
			dd if=$T/mib of=$DEV bs=1M seek=$((8 + i % 16)) oflag=direct conv=notrunc 2>/dev/null ||
				{ echo "XE-GUEST LOOP-ERROR name=$NAME disk=$D i=$i uptime=$(up)"; sleep 1; }
			i=$((i + 1))
			[ $i = 16 ] && echo "XE-GUEST LOOPING name=$NAME disk=$D wrote_mib=16 uptime=$(up)"
		done
	elif [ "$KIND" = fs ]; then
		R0=$((FS_MIB * 2048))
		XU=$(echo "$X" | tr a-z A-Z)
		RAWBYTES=$(( (SECTORS - R0) * 512 ))
		got=$(dd if=$DEV bs=1M skip=$FS_MIB 2>/dev/null | hsh)
		want=$(pattern "XEBASE-RAW-$XU-01" $RAWBYTES | hsh)
		[ "$EXPECT" = pristine ] && check $D raw-base "$(same "$got" "$want")" "bytes=$RAWBYTES"
		pattern "XEBASE-RAW-$XU-01" 4194304 > $T/exp-$D
		mkdir -p $MNT/$D
		if ! mount -t ext4 $DEV $MNT/$D; then
			check $D mount FAIL "mount -t ext4 $DEV"
			continue
		fi
		cd $MNT/$D
		check $D base-sums-file "$(same "$(sha SHA256SUMS)" "$(arg xe_sums_$X)")"
		sha256sum -c SHA256SUMS > $T/sumc 2>&1
		check $D base-files "$([ $? = 0 ] && echo OK || echo FAIL)" "$(grep -c ': OK' $T/sumc) files"
		if [ "$EXPECT" = pristine ]; then
			foreign=$(find . -type f ! -path './lost+found/*' | sed 's|^\./||' | grep -v -x SHA256SUMS |
				while read -r f; do grep -q "  $f\$" SHA256SUMS || echo "$f"; done | wc -l)
			check $D no-foreign-files "$([ "$foreign" = 0 ] && echo OK || echo FAIL)" "foreign=$foreign"
		fi
		# marker files, each 1 MiB: a header line, then the marker repeated
		mkdir -p xe-marks
		i=0
		: > $T/msums-$D
		while [ $i -lt "$MARK_MIB" ]; do
			{ echo "XE-FILE-$i-$M"; cat $T/blk-$D $T/blk-$D $T/blk-$D $T/blk-$D \
				$T/blk-$D $T/blk-$D $T/blk-$D $T/blk-$D \
				$T/blk-$D $T/blk-$D $T/blk-$D $T/blk-$D \
				$T/blk-$D $T/blk-$D $T/blk-$D $T/blk-$D; } | head -c 1048576 > $T/f
			echo "$(sha $T/f)  xe-marks/f$i" >> $T/msums-$D
			dd if=$T/f of=xe-marks/f$i bs=64k conv=fsync 2>/dev/null
			WROTE=$((WROTE + 2048)); i=$((i + 1))
		done
		# partial overwrites of base files (copy-up inside a block)
		cp data/one-mib.bin $T/one
		printf 'XE-PATCH-%s' "$M" > $T/patch
		dd if=$T/patch of=$T/one bs=1 seek=5000 conv=notrunc 2>/dev/null
		dd if=$T/patch of=data/one-mib.bin bs=1 seek=5000 conv=notrunc,fsync 2>/dev/null
		echo "$(sha $T/one)  data/one-mib.bin" >> $T/msums-$D
		echo "appended $M" >> etc/hello.txt
		echo "$(sha etc/hello.txt)  etc/hello.txt" >> $T/msums-$D
		WROTE=$((WROTE + 1))
		sync
		raw_writes $DEV $R0 || check $D raw-writes FAIL "dd error"
		sync; drop_caches
		sha256sum -c $T/msums-$D > $T/sumc 2>&1
		check $D readback-files "$([ $? = 0 ] && echo OK || echo FAIL)" "$(grep -c ': OK' $T/sumc) files"
		grep -v -e ' data/one-mib.bin$' -e ' etc/hello.txt$' SHA256SUMS > $T/bsums
		sha256sum -c $T/bsums > $T/sumc 2>&1
		check $D base-files-after "$([ $? = 0 ] && echo OK || echo FAIL)"
		got=$(dd if=$DEV bs=1M skip=$FS_MIB count=4 iflag=direct 2>/dev/null | hsh)
		check $D readback-raw "$(same "$got" "$(hsh $T/exp-$D)")"
		# remount: everything comes from the disk again
		cd /; umount $MNT/$D; mount -t ext4 $DEV $MNT/$D; cd $MNT/$D
		sha256sum -c $T/msums-$D > $T/sumc 2>&1
		check $D readback-after-remount "$([ $? = 0 ] && echo OK || echo FAIL)"
		out=$(fstrim -v $MNT/$D 2>&1)
		check $D fstrim "$([ $? = 0 ] && echo OK || echo FAIL)" "$(echo $out | tr ' ' '_')"
		sync; drop_caches
		sha256sum -c $T/msums-$D > $T/sumc 2>&1
		check $D readback-after-fstrim "$([ $? = 0 ] && echo OK || echo FAIL)"
		cd /; umount $MNT/$D || check $D umount FAIL
	elif [ "$KIND" = pair ]; then
		# one disk, two ways in: D (blkfront) and E (the emulated disk)
		PB=${X%%:*}; E=${X#*:}; EDEV=$DEVDIR/$E
		XU=$(echo "$PB" | tr a-z A-Z)
		R0=$((FS_MIB * 2048))
		if ! waitdisk $EDEV; then
			check $E present FAIL "no $EDEV after $DISK_WAIT s"
			continue
		fi
		check $E present OK "sectors=$(blockdev --getsz $EDEV) model=$(cat /sys/block/$E/device/model 2>/dev/null | tr ' ' '_')"
		check $D pair-same-size "$(same "$(blockdev --getsz $EDEV)" "$SECTORS")" "$D=$SECTORS"
		pattern "XEBASE-RAW-$XU-01" 1048576 > $T/pat
		check $D pair-base-raw "$(same "$(rdmib $DEV $((FS_MIB + 12)) 4)" "$(cat $T/pat $T/pat $T/pat $T/pat | hsh)")" "raw+12M..16M through $D"
		check $E pair-base-raw "$(same "$(rdmib $EDEV $((FS_MIB + 12)) 4)" "$(cat $T/pat $T/pat $T/pat $T/pat | hsh)")" "raw+12M..16M through $E"
		ME=$(marker $E)
		echo "XE-GUEST MARKER name=$NAME disk=$E marker=$ME"
		# sectors and runs through E at raw+0..4M, a stream through E at
		# raw+4M: read back through D
		mkblock "$ME" $T/blk-$E
		cat $T/pat $T/pat $T/pat $T/pat > $T/exp-$E
		D0=$D; D=$E
		raw_writes $EDEV $R0 || check $E raw-writes FAIL "dd error"
		D=$D0
		mib_of $T/blk-$E $T/mib-$E
		wrmib $EDEV $((FS_MIB + 4)) $T/mib-$E || check $E stream-write FAIL
		WROTE=$((WROTE + 2048))
		blockdev --flushbufs $EDEV 2>/dev/null; sync; drop_caches
		check $E readback-raw "$(same "$(rdmib $EDEV $FS_MIB 4)" "$(hsh $T/exp-$E)")" "through $E"
		check $D pair-read-emulated-writes "$(same "$(rdmib $DEV $FS_MIB 4)" "$(hsh $T/exp-$E)")" "sectors and runs written through $E, read through $D"
		check $D pair-read-emulated-stream "$(same "$(rdmib $DEV $((FS_MIB + 4)))" "$(hsh $T/mib-$E)")" "1 MiB written through $E at raw+4M, read through $D"
		# a stream through D at raw+8M: read back through E
		mib_of $T/blk-$D $T/mib-$D
		wrmib $DEV $((FS_MIB + 8)) $T/mib-$D || check $D stream-write FAIL
		WROTE=$((WROTE + 2048))
		sync; drop_caches
		check $D readback-stream "$(same "$(rdmib $DEV $((FS_MIB + 8)))" "$(hsh $T/mib-$D)")" "through $D"
		check $E pair-read-blkfront-stream "$(same "$(rdmib $EDEV $((FS_MIB + 8)))" "$(hsh $T/mib-$D)")" "1 MiB written through $D at raw+8M, read through $E"
		# overwrite through E what D wrote, read through D
		tr 'A-Z' 'a-z' < $T/mib-$D > $T/mib2
		wrmib $EDEV $((FS_MIB + 8)) $T/mib2 || check $E overwrite FAIL
		sync; drop_caches
		check $D pair-read-emulated-overwrite "$(same "$(rdmib $DEV $((FS_MIB + 8)))" "$(hsh $T/mib2)")" "$E overwrote $D's stream"
		check $E pair-base-raw-after "$(same "$(rdmib $EDEV $((FS_MIB + 12)) 4)" "$(cat $T/pat $T/pat $T/pat $T/pat | hsh)")" "raw+12M..16M untouched"
		rm -f $T/mib-$E $T/mib-$D $T/mib2 $T/exp-$E $T/blk-$E $T/pat
	elif [ "$KIND" = peer ]; then
		# a disk shared with another domain: role 1 writes first
		XU=$(echo "$X" | tr a-z A-Z)
		pattern "XEBASE-RAW-$XU-01" 1048576 > $T/pat
		mib_of $T/blk-$D $T/mib
		mkblock "$PEER" $T/blk-peer
		mib_of $T/blk-peer $T/mib-peer
		if [ "$PEER_ROLE" = 1 ]; then
			MINE=$((FS_MIB + 2)) THEIRS=$((FS_MIB + 6))
		else
			MINE=$((FS_MIB + 6)) THEIRS=$((FS_MIB + 2))
		fi
		if [ "$PEER_ROLE" = 1 ]; then
			check $D peer-base-raw "$(same "$(rdmib $DEV $THEIRS)" "$(hsh $T/pat)")" "raw+$((THEIRS - FS_MIB))M is the base's"
			wrmib $DEV $MINE $T/mib || check $D peer-write FAIL
			WROTE=$((WROTE + 2048))
			check $D peer-readback-own "$(same "$(rdmib $DEV $MINE)" "$(hsh $T/mib)")"
			echo "XE-GUEST PEER-WROTE name=$NAME disk=$D uptime=$(up)"
			i=0 want=$(hsh $T/mib-peer)
			while [ "$(rdmib $DEV $THEIRS)" != "$want" ] && [ $i -lt 600 ]; do sleep 1; i=$((i + 1)); done
			check $D peer-read-theirs "$([ $i -lt 600 ] && echo OK || echo FAIL)" "the other domain's marker at raw+$((THEIRS - FS_MIB))M after ${i} s of polling"
			echo "XE-GUEST PEER-SEEN name=$NAME disk=$D uptime=$(up)"
			i=1
			while [ $i -le "$PEER_REREAD" ]; do
				sleep 2
				check $D peer-reread-$i "$([ "$(rdmib $DEV $MINE)" = "$(hsh $T/mib)" ] && [ "$(rdmib $DEV $THEIRS)" = "$want" ] && echo OK || echo FAIL)" "both markers"
				i=$((i + 1))
			done
		else
			i=0 want=$(hsh $T/mib-peer)
			while [ "$(rdmib $DEV $THEIRS)" != "$want" ] && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
			check $D peer-read-theirs "$([ $i -lt 60 ] && echo OK || echo FAIL)" "the other domain's marker at raw+$((THEIRS - FS_MIB))M (waited ${i} s)"
			check $D peer-base-raw "$(same "$(rdmib $DEV $MINE)" "$(hsh $T/pat)")" "raw+$((MINE - FS_MIB))M is the base's"
			wrmib $DEV $MINE $T/mib || check $D peer-write FAIL
			WROTE=$((WROTE + 2048))
			check $D peer-readback-own "$(same "$(rdmib $DEV $MINE)" "$(hsh $T/mib)")"
			echo "XE-GUEST PEER-WROTE name=$NAME disk=$D uptime=$(up)"
		fi
		check $D peer-base-raw-after "$(same "$(rdmib $DEV $((FS_MIB + 12)))" "$(hsh $T/pat)")" "raw+12M untouched"
		rm -f $T/pat $T/mib $T/mib-peer $T/blk-peer
	elif [ "$KIND" = fill ]; then
		# The overlay holds X MiB (dom0 set limit=): 2 MiB that fit,
		# then a stream past the limit that must fail, then the first
		# 2 MiB must still read back and take overwrites.
		i=0
		while [ $i -lt 32 ]; do cat $T/blk-$D; i=$((i + 1)); done > $T/fit
		dd if=$T/fit of=$DEV bs=1M oflag=direct conv=fsync 2>/dev/null
		check $D fill-fits "$([ $? = 0 ] && echo OK || echo FAIL)"
		WROTE=$((WROTE + 4096))
		i=0
		while [ $i -lt $(( (X + 4) * 16 )) ]; do cat $T/blk-$D; i=$((i + 1)); done > $T/stream
		dd if=$T/stream of=$DEV bs=1M seek=8 oflag=direct conv=fsync > $T/dd.err 2>&1
		rc=$?
		check $D fill-past-limit-fails "$([ $rc != 0 ] && echo OK || echo FAIL)" "$(tail -n1 $T/dd.err | tr ' ' '_')"
		rm -f $T/stream
		# Full: dom0 reads the daemon's counters now, then raises the
		# limit (xen-ephemeral set-limit); a new block must then go in.
		echo "XE-GUEST FULL name=$NAME disk=$D uptime=$(up)"
		i=0 room=FAIL
		while [ $i -le 180 ]; do
			dd if=$T/blk-$D of=$DEV bs=64k seek=640 oflag=direct conv=notrunc,fsync 2>/dev/null && { room=OK; break; }
			sleep 1; i=$((i + 1))
		done
		check $D fill-room-after-set-limit $room "a new block at 40M, tried for ${i} s"
		WROTE=$((WROTE + 128))
		sync; drop_caches
		got=$(dd if=$DEV bs=64k skip=640 count=1 iflag=direct 2>/dev/null | hsh)
		check $D fill-room-readback "$(same "$got" "$(hsh $T/blk-$D)")"
			sync; drop_caches
		got=$(dd if=$DEV bs=1M count=2 iflag=direct 2>/dev/null | hsh)
		check $D fill-old-data-readable "$(same "$got" "$(hsh $T/fit)")"
		tr 'A-Z' 'a-z' < $T/fit > $T/fit2
		dd if=$T/fit2 of=$DEV bs=1M oflag=direct conv=fsync 2>/dev/null
		check $D fill-overwrite-works "$([ $? = 0 ] && echo OK || echo FAIL)"
		sync; drop_caches
		got=$(dd if=$DEV bs=1M count=2 iflag=direct 2>/dev/null | hsh)
		check $D fill-overwrite-readback "$(same "$got" "$(hsh $T/fit2)")"
		rm -f $T/fit $T/fit2
	else
		if [ "$EXPECT" = pristine ]; then
			got=$(dd if=$DEV bs=1M 2>/dev/null | hsh)
			want=$(head -c $((SECTORS * 512)) /dev/zero | hsh)
			check $D blank-zeros "$(same "$got" "$want")" "bytes=$((SECTORS * 512))"
		fi
		head -c 4194304 /dev/zero > $T/exp-$D
		raw_writes $DEV 0 || check $D raw-writes FAIL "dd error"
		# a larger marker stream at 8 MiB
		i=0
		while [ $i -lt $((MARK_MIB * 16)) ]; do cat $T/blk-$D; i=$((i + 1)); done > $T/stream
		dd if=$T/stream of=$DEV bs=1M seek=8 oflag=direct conv=fsync 2>/dev/null || check $D stream-write FAIL
		WROTE=$((WROTE + MARK_MIB * 2048))
		sync; drop_caches
		got=$(dd if=$DEV bs=1M count=4 iflag=direct 2>/dev/null | hsh)
		check $D readback-raw "$(same "$got" "$(hsh $T/exp-$D)")"
		got=$(dd if=$DEV bs=1M skip=8 count=$MARK_MIB iflag=direct 2>/dev/null | hsh)
		check $D readback-stream "$(same "$got" "$(hsh $T/stream)")"
		rm -f $T/stream
	fi
	rm -f $T/exp-$D $T/blk-$D
	if [ "$D" = "$DETACH" ]; then
		# dom0 unplugs it (xl block-detach) once we are done with it
		sync
		echo "XE-GUEST DETACH-READY name=$NAME disk=$D uptime=$(up)"
		i=0
		while [ -e /sys/block/$D ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i + 1)); done
		check $D hot-detach "$([ -e /sys/block/$D ] && echo FAIL || echo OK)" "gone after $((i / 5)) s"
	fi
done

R=PASS
[ "$NFAIL" = 0 ] && [ "$NCHK" -gt 0 ] || R=FAIL
[ -z "$DISKS" ] && R=PASS
echo "XE-GUEST RESULT name=$NAME $R wrote_kib=$((WROTE / 2)) checks=$NCHK failed=$NFAIL uptime=$(up)"
sync
echo "XE-GUEST DONE name=$NAME boot=$BOOT uptime=$(up)"
[ -n "${XE_HOSTTEST:-}" ] && exit 0
sleep 1
if [ "$(arg xe_reboot)" = 1 ]; then
	echo "XE-GUEST REBOOT name=$NAME boot=$BOOT uptime=$(up)"
	reboot -f
elif [ "$(arg xe_hold)" = 1 ]; then
	echo "XE-GUEST HOLD name=$NAME boot=$BOOT uptime=$(up)"
	while :; do sleep 3600 & wait $!; done
fi
poweroff -f
