# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.20 order=95 bench
# bench-xen (make bench-xen; never part of the lab's default runs): one PV
# guest (2 vCPUs, Debian's fio) with five disks over the same raw base
# (base A), each a copy-on-write view served a different way, measured in
# turn in the same boot, every figure once per round:
#   xvda blkback-dmcrypt  kernel blkback over dm-snapshot (non-persistent,
#                         4 KiB chunks) whose COW is dm-crypt
#                         aes-xts-plain64 with a random key, on a loop
#                         device over a tmpfs file: what dom0s build today
#   xvdb blkback-dmsnap   the same without dm-crypt
#   xvdc qdisk-qcow2      QEMU qdisk, a qcow2 overlay on tmpfs over the raw
#                         base (what snapshot=on does)
#   xvdd ours-ram         this daemon, overlay in RAM
#   xvde ours-xts         this daemon, AES-256-XTS scratch on tmpfs
# The base (a block device in the lab) is read-only to all of them (a read-only loop device for the
# origin). Figures (fio, libaio, O_DIRECT, queue depth 32): 1 MiB
# sequential write and read, 4 KiB random write and read, and 1 MiB
# sequential write and read with two jobs (one per vCPU, queue depth 16
# each: blkfront's two queues). dom0's cmdline may set xe_bench_secs (per
# figure, default 8) and xe_bench_rounds (default 2). The table and the
# ratios are the block bench-xen-table; PASS when every figure of every
# round was measured.
xe_bench_arg() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" /proc/cmdline | head -n1; }

# bench_xen_cpu OUT [S]: every S (30) s until killed, the five processes
# of dom0 that took the most CPU since the last look (in clock ticks, 100
# a second a CPU), and each domain's CPU seconds so far (xl list): which
# backend or domain took the machine's CPU when figures fall (a backend
# left spinning once its guest went quiet shows here, in the rounds after
# its own).
bench_xen_cpu() {
	local out=$1 prev=$XE_RUN/cpu-prev.txt cur=$XE_RUN/cpu-cur.txt up
	: > $prev
	while :; do
		up=$(cut -d' ' -f1 /proc/uptime)
		# one cat, not a read per file: busybox's read takes a
		# system call a byte, each dear in a PV dom0 under TCG
		cat /proc/[0-9]*/stat 2>/dev/null | awk '{ c = $0; sub(/^[0-9]+ \(/, "", c); sub(/\) .*/, "", c)
			      r = $0; sub(/^.*\) /, "", r); split(r, f, " ")
			      gsub(/ /, "_", c); print $1, c, f[12] + f[13] }' > $cur
		awk 'NR == FNR { p[$1] = $3; next }
		     { d = $3 - ($1 in p ? p[$1] : 0); if (d > 0) print d, $1, $2 }' $prev $cur |
			sort -rn | head -n 5 |
			awk -v up=$up '{ printf "[dom0 %s s] %s ticks pid %s %s\n", up, $1, $2, $3 }' >> $out
		xl list 2>/dev/null | awk -v up=$up 'NR > 1 { printf "[dom0 %s s] domain %s cpu %s s\n", up, $1, $6 }' >> $out
		mv $cur $prev
		sleep ${2:-30}
	done
}

bench_xen_cleanup() {
	local b=/bench
	dmsetup remove xe-bench-snapc 2>/dev/null
	dmsetup remove xe-bench-snap 2>/dev/null
	dmsetup remove xe-bench-crypt 2>/dev/null
	for l in $(cat $XE_RUN/bench-loops 2>/dev/null); do losetup -d $l; done
	rm -f $XE_RUN/bench-loops
	umount $b 2>/dev/null
	xe_blkback unload
}

scenario_bench_xen() {
	local n=bench-xen b=/bench base=/root/base-a.img secs rounds sectors lo lcc lpc key disks kinds id cpu
	xe_xl_ready $n || return
	secs=$(xe_bench_arg xe_bench_secs); secs=${secs:-8}
	rounds=$(xe_bench_arg xe_bench_rounds); rounds=${rounds:-2}
	for t in dmsetup qemu-img; do
		command -v $t > /dev/null || { xe_result $n FAIL "no $t in dom0 (build with XE_BENCH=1)"; return; }
	done
	[ -f /boot/bench-initrd.gz ] || { xe_result $n FAIL "no bench guest (build with XE_BENCH=1)"; return; }
	xe_blkback load || { xe_result $n FAIL "cannot load xen-blkback"; return; }
	mkdir -p $b && mount -t tmpfs -o size=640m,mode=0700 tmpfs $b || { xe_result $n FAIL "cannot mount a tmpfs on $b"; return; }
	sectors=$(blockdev --getsz $base) && [ "$sectors" -gt 0 ] || { xe_result $n FAIL "cannot size $base"; bench_xen_cleanup; return; }
	# the peers: one read-only origin, two COW devices of 96 MiB on tmpfs
	lo=$(losetup -f) && losetup -r $lo $base && echo $lo >> $XE_RUN/bench-loops &&
		truncate -s 96M $b/crypt-cow.img $b/plain-cow.img &&
		lcc=$(xe_losetup $b/crypt-cow.img) && echo $lcc >> $XE_RUN/bench-loops &&
		lpc=$(xe_losetup $b/plain-cow.img) && echo $lpc >> $XE_RUN/bench-loops ||
		{ xe_result $n FAIL "losetup failed"; bench_xen_cleanup; return; }
	key=$(head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n')
	# no udev in the lab's dom0: dmsetup mknodes makes /dev/mapper/*
	if ! dmsetup create xe-bench-crypt --table "0 $((96 * 2048)) crypt aes-xts-plain64 $key 0 $lcc 0" ||
		! dmsetup mknodes xe-bench-crypt ||
		! dmsetup create xe-bench-snapc --table "0 $sectors snapshot $lo /dev/mapper/xe-bench-crypt N 8" ||
		! dmsetup create xe-bench-snap --table "0 $sectors snapshot $lo $lpc N 8" ||
		! dmsetup mknodes; then
		xe_result $n FAIL "dmsetup create failed"; bench_xen_cleanup; return
	fi
	key=
	xe_block bench-xen-dm sh -c "dmsetup table | sed 's/aes-xts-plain64 [0-9a-f]*/aes-xts-plain64 <key>/'; cat /proc/crypto | grep -A4 'name.*xts(aes)' | head -n 12"
	# the engine alone in this dom0, against OpenSSL on one of its vCPUs
	if command -v cow-bench > /dev/null; then
		xe_block bench-xen-cow-bench cow-bench --size 32 --seconds 2 --scratch $b | tee $XE_RUN/cow-bench.txt
	fi
	qemu-img create -q -f qcow2 -b $base -F raw $b/ov.qcow2 || { xe_result $n FAIL "qemu-img create failed"; bench_xen_cleanup; return; }
	mkdir -p $b/xts
	disks="'vdev=xvda,access=rw,script=/etc/xen/scripts/xe-phy,target=/dev/mapper/xe-bench-snapc',"
	disks="$disks 'vdev=xvdb,access=rw,script=/etc/xen/scripts/xe-phy,target=/dev/mapper/xe-bench-snap',"
	disks="$disks 'format=qcow2,vdev=xvdc,access=rw,backendtype=qdisk,target=$b/ov.qcow2',"
	disks="$disks $(xe_xl_disk xvdd cow:base=$base,store=ram), $(xe_xl_disk xvde cow:base=$base,store=xts,scratch=$b/xts)"
	kinds=xvda:blkback-dmcrypt,xvdb:blkback-dmsnap,xvdc:qdisk-qcow2,xvdd:ours-ram,xvde:ours-xts
	XE_GUEST_MEM=512 XE_GUEST_RAMDISK=/boot/bench-initrd.gz
	xe_guest_cfg $n "" "$disks" "xe_bench=$kinds xe_bench_secs=$secs xe_bench_rounds=$rounds" 2
	unset XE_GUEST_MEM XE_GUEST_RAMDISK
	if ! xe_xl_create $n; then
		xe_result $n FAIL "xl create failed: $(grep -E 'error|script:' $XE_RUN/xl-create-$n.log | tail -n3 | tr '\n' ' ')"
		bench_xen_cleanup; return
	fi
	id=$XE_ID
	if xe_waitfor 300 sh -c ". /xe/lib.sh; xe_xl_all_fe $id 4 xvdd xvde"; then
		xe_block status-$n xen-ephemeral status --json
		xe_xs_dump $n $id
	fi
	bench_xen_cpu $XE_RUN/bench-cpu.txt &
	cpu=$!
	xe_guest_wait $n $((rounds * 5 * 6 * (secs + 8) + 300))
	kill $cpu 2>/dev/null
	wait $cpu 2>/dev/null
	xe_block bench-xen-cpu cat $XE_RUN/bench-cpu.txt
	xe_guest_verdict $n
	bench_xen_cleanup
	xe_daemon_stop
	tr -d '\r' < $(xe_guest_log $n) | grep 'XE-GUEST BENCH' > $XE_RUN/bench.txt
	xe_block bench-xen-table bench_xen_table $XE_RUN/bench.txt $rounds $secs $XE_RUN/cow-bench.txt
	local want got
	want=$((rounds * 5 * 6))
	got=$(grep -c 'XE-GUEST BENCH name=' $XE_RUN/bench.txt)
	if [ "$got" = "$want" ] && ! grep -q BENCH-ERROR $XE_RUN/bench.txt; then
		xe_result $n PASS "$got figures measured ($rounds rounds, $secs s each): see the bench-xen-table block"
	else
		xe_result $n FAIL "$got of $want figures measured: $(grep BENCH-ERROR $XE_RUN/bench.txt | head -n3 | tr '\n' ' ')"
	fi
}

# the kernel's driver for xts(aes), the one dm-crypt took
bench_xen_xts_driver() {
	awk '/^name/ { n = $3 } /^driver/ { d = $3 } /^priority/ && n == "xts(aes)" && $3 > p { p = $3; best = d }
	     END { print (best == "" ? "none" : best) }' /proc/crypto
}

# bench_xen_table FILE ROUNDS SECS: the guest's BENCH lines as one table
# (mean over the rounds, spread = (max - min) / mean) and the ratios
bench_xen_table() {
	echo "bench-xen: Xen $(cat /xe/xen-version), one PV guest (2 vCPUs), fio libaio O_DIRECT QD32, $2 round(s) of $3 s per figure"
	echo "bench-xen: all of it under QEMU TCG (no KVM here): kernel and userspace costs are distorted, the"
	echo "  absolute figures mean little; the ratios, measured in one boot, are the figures to beat"
	if grep -q -w aes /proc/cpuinfo; then
		echo "bench-xen: the CPU has AES-NI (emulated by TCG): OpenSSL and dm-crypt ($(bench_xen_xts_driver)) use it"
	else
		echo "bench-xen: no AES-NI in this CPU: OpenSSL and dm-crypt ($(bench_xen_xts_driver)) run their C ciphers"
	fi
	awk '
	/ fig=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	  k = v["kind"]; f = v["fig"]; x = (f ~ /4k/) ? v["iops"] : v["kibps"] / 1024
	  key = k SUBSEP f
	  sum[key] += x; cnt[key]++
	  if (!(key in mn) || x < mn[key]) mn[key] = x
	  if (!(key in mx) || x > mx[key]) mx[key] = x
	  if (!(f in seenf)) { seenf[f] = 1; figs[++nf] = f }
	  if (!(k in seenk)) { seenk[k] = 1; kinds[++nk] = k } }
	function mean(k, f) { return cnt[k, f] ? sum[k, f] / cnt[k, f] : 0 }
	function unit(f) { return (f ~ /4k/) ? "IOPS" : "MB/s" }
	function ratio(a, b, f) { return mean(b, f) > 0 ? sprintf("%.2fx", mean(a, f) / mean(b, f)) : "-" }
	END {
		printf "%-14s %-5s", "figure", "unit"
		for (j = 1; j <= nk; j++) printf " %17s", kinds[j]
		printf "\n"
		for (i = 1; i <= nf; i++) {
			f = figs[i]; printf "%-14s %-5s", f, unit(f)
			for (j = 1; j <= nk; j++) {
				k = kinds[j]; m = mean(k, f)
				s = m > 0 ? (mx[k, f] - mn[k, f]) / m * 100 : 0
				printf " %9.1f (%3.0f%%)", m, s
			}
			printf "\n"
		}
		print "(in brackets: the spread over the rounds)"
		printf "\n%-34s", "ratio"
		for (i = 1; i <= nf; i++) printf " %12s", figs[i]
		printf "\n"
		np = split("ours-ram/blkback-dmcrypt ours-ram/qdisk-qcow2 ours-ram/blkback-dmsnap ours-xts/blkback-dmcrypt ours-xts/qdisk-qcow2 ours-xts/blkback-dmsnap", pairs, " ")
		for (p = 1; p <= np; p++) {
			split(pairs[p], ab, "/")
			printf "%-34s", pairs[p]
			for (i = 1; i <= nf; i++) printf " %12s", ratio(ab[1], ab[2], figs[i])
			printf "\n"
		}
	}' "$1"
	if [ -s "$4" ]; then
		echo
		echo "the same dom0, the engine alone (tools/cow-bench --size 32 --seconds 2, scratch on the tmpfs):"
		grep -E 'openssl aes-256-xts|decrypting  |seq 1 MiB (write|read)|through the view|xts.* / openssl' "$4"
	fi
}
