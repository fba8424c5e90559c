#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make bench-nbd: the NBD export next to its peers on the same transport.
#
# One raw base file; one client (fio's nbd engine: libnbd, one connection,
# queue depth 32); one transport (NBD over a Unix socket); per figure one
# access pattern: 4 KiB random read, 4 KiB random write, 1 MiB sequential
# read, 1 MiB sequential write. The servers:
#
#   ram   tests/nbd-serve cow:base=BASE,store=ram               (ours)
#   xts   tests/nbd-serve cow:base=BASE,store=xts,scratch=DIR   (ours)
#   qemu  qemu-nbd on a qcow2 overlay of BASE with LUKS AES-256-XTS
#         (plain64) in DIR: what a QEMU-based ephemeral disk does
#   cow   nbdkit --filter=cow file BASE (its overlay in DIR)
#   mem   nbdkit memory, the base's bytes copied in (nbdcopy) before
#         the figures: data in memory and nothing else behind it, the
#         transport's ceiling
#   blank tests/nbd-serve blank:size=SIZE,store=ram, filled the same way:
#         ours with only memory behind it too, as the memory plugin:
#         blank/mem is our NBD layer against nbdkit's, ram/blank what the
#         base and the view cost
#
# Each round starts every server afresh (empty overlays; mem and blank
# filled), then runs each figure against each server in turn, so the
# figures a ratio compares are taken within seconds of each other: a
# machine that gets busier part way slows both. Reads come first (ram,
# xts, qemu and cow read the base through overlays that hold nothing yet;
# mem and blank read the same bytes from memory, not zeros of a disk never
# written), then writes (a block's first write allocates it in an
# overlay, overwrites it in mem and blank; the sequential write wraps
# round the disk and overwrites).
#
# Printed: per server and figure, the median over the rounds of IOPS and
# MB/s, their spread ((max - min) / median), and the server's CPU time per
# I/O (user + system, all its threads: steadier than throughput on a
# shared machine); then each ratio, computed within each round, as the
# median and the range over the rounds. Absolute numbers on a shared
# machine mean little; compare the ratios.
#
# Needs fio (with its nbd engine), qemu-utils, nbdkit and libnbd-bin: it
# installs nothing and says which Debian packages are missing. Run it as
# root (the ram overlay is locked memory). The base and every overlay live
# in --dir: up to seven times --size at once. Not part of make check:
# benchmarks print ratios, they never pass or fail on time.
set -euo pipefail

usage() {
	cat <<EOF
usage: bench-nbd.sh [--size MiB] [--seconds S] [--rounds N] [--dir DIR]
                    [--scratch DIR] [--only LIST] [--serve PATH]
  --size MiB     the base image (default 512)
  --seconds S    per figure, server and round (default 5)
  --rounds N     rounds, each with fresh servers (default 3)
  --dir DIR      where the base image and the sockets go (default
                 /dev/shm if it is a tmpfs, else \${TMPDIR:-/tmp})
  --scratch DIR  where the overlays go (default: in --dir)
  --only LIST    servers, comma-separated, of ram,xts,qemu,cow,mem,blank
  --serve PATH   tests/nbd-serve (default: \$NBD_SERVE or tests/nbd-serve)
EOF
}

size_mib=512 seconds=5 rounds=3 where='' scratch='' only=ram,xts,qemu,cow,mem,blank
serve=${NBD_SERVE:-tests/nbd-serve}
while [ $# -gt 0 ]; do
	case $1 in -h | --help) usage; exit 0 ;; esac
	[ $# -ge 2 ] || { usage >&2; exit 2; }
	case $1 in
	--size) size_mib=$2 ;;
	--seconds) seconds=$2 ;;
	--rounds) rounds=$2 ;;
	--dir) where=$2 ;;
	--scratch) scratch=$2 ;;
	--only) only=$2 ;;
	--serve) serve=$2 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift 2
done
for n in "$size_mib" "$seconds" "$rounds"; do
	case $n in '' | *[!0-9]* | 0) usage >&2; exit 2 ;; esac
done
IFS=, read -r -a servers <<<"$only"
for s in "${servers[@]}"; do
	case $s in ram | xts | qemu | cow | mem | blank) ;;
	*) echo "bench-nbd: unknown server '$s'" >&2; exit 2 ;;
	esac
done

# ---- what it needs ----

missing=
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
}
need fio fio
need qemu-img qemu-utils
need qemu-nbd qemu-utils
need nbdkit nbdkit
need nbdinfo libnbd-bin
need nbdcopy libnbd-bin
if [ -n "$missing" ]; then
	pkgs=$(echo "$missing" | tr ' ' '\n' | sort -u | tr '\n' ' ')
	echo "bench-nbd: missing Debian packages: $pkgs" >&2
	echo "bench-nbd: apt-get install $pkgs" >&2
	exit 1
fi
if ! fio --enghelp 2>/dev/null | grep -qw nbd; then
	echo "bench-nbd: this fio has no nbd engine (Debian 12's fio 3.33 has)" >&2
	exit 1
fi
if [ ! -x "$serve" ]; then
	echo "bench-nbd: no $serve (make builds it; or --serve PATH)" >&2
	exit 1
fi

# ---- the place ----

# On a tmpfs by default: a base in the page cache of a disk may be evicted
# part way, and then its reads are disk reads and the figures noise.
if [ -z "$where" ]; then
	where=${TMPDIR:-/tmp}
	if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
		[ -w /dev/shm ]; then
		where=/dev/shm
	fi
fi
dir=$(mktemp -d "$where/xe-bench-nbd-XXXXXX")
chmod 700 "$dir" # nbd-serve's socket directory must be ours alone
[ -n "$scratch" ] || scratch=$dir/scratch
mkdir -p "$scratch"
base=$dir/base.img
declare -A pid=()

stop_servers() {
	local s
	for s in "${!pid[@]}"; do
		kill -TERM "${pid[$s]}" 2>/dev/null || true
		wait "${pid[$s]}" 2>/dev/null || true
		rm -f "$dir/$s.sock"
	done
	pid=()
	rm -f "$scratch/overlay.qcow2"
}
cleanup() {
	stop_servers
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench-nbd: writing a ${size_mib} MiB random base image"
head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$base"
chmod 400 "$base"
# A random passphrase for the LUKS overlay, in a file (not on a command line).
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/luks.key"
chmod 400 "$dir/luks.key"
# The empty qcow2+LUKS overlay, made once (its key slot's PBKDF2 takes a
# while) and copied for each round; QEMU's defaults otherwise (64 KiB
# clusters). QEMU times PBKDF2 with getrusage() to choose its iterations;
# on a busy machine that can fail ("Unable to get accurate CPU usage"):
# then it is tried again.
if [[ ",$only," == *,qemu,* ]]; then
	for i in 1 2 3 4 5; do
		qemu-img create -q -f qcow2 \
			--object "secret,id=sec0,file=$dir/luks.key" \
			-o encrypt.format=luks,encrypt.key-secret=sec0 \
			-o encrypt.cipher-alg=aes-256,encrypt.cipher-mode=xts \
			-o encrypt.ivgen-alg=plain64,encrypt.iter-time=100 \
			-b "$base" -F raw "$dir/empty.qcow2" && break
		[ "$i" -lt 5 ] || exit 1
	done
fi

# ---- the servers ----

uri_of() { echo "nbd+unix:///?socket=$dir/$1.sock"; }

# start_server NAME: serve NAME afresh at $dir/NAME.sock, until it answers.
start_server() {
	local name=$1 sock=$dir/$1.sock i
	rm -f "$sock"
	case $name in
	ram)
		"$serve" "cow:base=$base,store=ram" "$sock" >/dev/null &
		;;
	xts)
		"$serve" "cow:base=$base,store=xts,scratch=$scratch" "$sock" \
			>/dev/null &
		;;
	qemu)
		cp "$dir/empty.qcow2" "$scratch/overlay.qcow2"
		qemu-nbd --persistent --socket="$sock" \
			--object "secret,id=sec0,file=$dir/luks.key" \
			--image-opts "driver=qcow2,file.driver=file,file.filename=$scratch/overlay.qcow2,encrypt.key-secret=sec0" &
		;;
	cow)
		TMPDIR=$scratch nbdkit -f -U "$sock" --filter=cow file "$base" &
		;;
	mem)
		nbdkit -f -U "$sock" memory "${size_mib}M" &
		;;
	blank)
		"$serve" "blank:size=${size_mib}M,store=ram" "$sock" >/dev/null &
		;;
	esac
	pid[$name]=$!
	for i in $(seq 1000); do
		if [ -S "$sock" ] &&
			nbdinfo --size "$(uri_of "$name")" >/dev/null 2>&1; then
			fill_server "$name"
			return 0
		fi
		kill -0 "${pid[$name]}" 2>/dev/null || break
		sleep 0.02
	done
	echo "bench-nbd: the $name server did not start" >&2
	exit 1
}

# fill_server NAME: the servers with nothing behind them get the base's
# bytes, so that their reads are of data in memory, as ours are of data
# in the base's page cache.
fill_server() {
	case $1 in
	mem | blank)
		nbdcopy -- "$base" "$(uri_of "$1")" || {
			echo "bench-nbd: cannot fill the $1 server" >&2
			exit 1
		}
		;;
	esac
}

# cpu_ticks PID: user + system time of every thread of PID, in clock ticks.
cpu_ticks() {
	# Fields 14 and 15 of /proc/PID/stat, after the ")" that ends comm.
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
hz=$(getconf CLK_TCK)

# ---- the figures ----

# In the order they run (reads first, see above) and are printed.
figures=(randread read randwrite write)
declare -A bs=([randread]=4096 [randwrite]=4096 [read]=1048576
	[write]=1048576)
declare -A label=([randread]="4K rand read" [randwrite]="4K rand write"
	[read]="1M seq read" [write]="1M seq write")

# run_fio NAME RW: "IOPS BYTES_PER_S CPU_US_PER_IO" of one figure.
run_fio() {
	local name=$1 rw=$2 out t0 t1
	t0=$(cpu_ticks "${pid[$name]}")
	out=$(fio --name=bench --ioengine=nbd --uri="$(uri_of "$name")" \
		--rw="$rw" --bs="${bs[$rw]}" --iodepth=32 --time_based \
		--runtime="$seconds" \
		--output-format=terse --terse-version=3 2>"$dir/fio.err") || {
		echo "bench-nbd: fio $rw on $name failed: $(cat "$dir/fio.err")" >&2
		exit 1
	}
	t1=$(cpu_ticks "${pid[$name]}")
	# Terse v3 fields: 5 error; read: 6 KiB, 7 KiB/s, 8 IOPS; write: 47
	# KiB, 48 KiB/s, 49 IOPS. (fio's nbd engine prints a line of its own.)
	echo "$out" | awk -F';' -v rw="$rw" -v bs="${bs[$rw]}" \
		-v cpu="$((t1 - t0))" -v hz="$hz" '
		$1 != 3 { next }
		$5 != 0 { print "bench-nbd: fio error " $5 > "/dev/stderr"; exit 1 }
		{ if (rw ~ /read/) { kib = $6; bw = $7; iops = $8 }
		  else { kib = $47; bw = $48; iops = $49 }
		  ios = kib * 1024 / bs
		  print iops, bw * 1024, (ios > 0 ? cpu / hz * 1e6 / ios : 0)
		  n++ }
		END { if (!n) { print "bench-nbd: no fio result" > "/dev/stderr"
				exit 1 } }'
}

declare -A iops mbs cpu # "SERVER FIGURE ROUND" -> value
echo "bench-nbd: fio $(fio --version | sed 's/^fio-//'), nbd engine, QD32," \
	"one connection; ${rounds} round(s), ${seconds} s per figure and server"
echo "bench-nbd: base $base, overlays in $scratch"
for r in $(seq "$rounds"); do
	for s in "${servers[@]}"; do start_server "$s"; done
	for f in "${figures[@]}"; do
		for s in "${servers[@]}"; do
			read -r i b c < <(run_fio "$s" "$f")
			# shellcheck disable=SC2034 # read through per()
			iops["$s $f $r"]=$i mbs["$s $f $r"]=$b cpu["$s $f $r"]=$c
		done
	done
	stop_servers
	echo "bench-nbd: round $r of $rounds done"
done

# ---- the report ----

# stats VALUES...: "MEDIAN MIN MAX"
stats() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      print m, v[1], v[NR] }'
}
# per SERVER FIGURE ARRAY: the values of the rounds
per() {
	local -n a=$3
	local r
	for r in $(seq "$rounds"); do echo "${a["$1 $2 $r"]}"; done
}

declare -A name=([ram]="(a) ours, ram" [xts]="(b) ours, xts"
	[qemu]="(c) qemu-nbd qcow2+LUKS" [cow]="(d) nbdkit cow filter"
	[mem]="(e) nbdkit memory" [blank]="(f) ours, blank ram")
echo
printf '%-24s %-14s %9s %9s %7s %10s\n' server figure IOPS MB/s spread \
	"cpu us/IO"
for s in "${servers[@]}"; do
	for f in "${figures[@]}"; do
		# shellcheck disable=SC2046 # one value a line, split on purpose
		read -r im imin imax < <(stats $(per "$s" "$f" iops))
		# shellcheck disable=SC2046
		read -r bm _ _ < <(stats $(per "$s" "$f" mbs))
		# shellcheck disable=SC2046
		read -r cm _ _ < <(stats $(per "$s" "$f" cpu))
		awk -v s="${name[$s]}" -v f="${label[$f]}" -v i="$im" \
			-v lo="$imin" -v hi="$imax" -v b="$bm" -v c="$cm" \
			'BEGIN { printf "%-24s %-14s %9.0f %9.1f %6.0f%% %10.1f\n",
				 s, f, i, b / 1e6, (i > 0 ? (hi - lo) * 100 / i : 0), c }'
	done
done

pairs=("ram qemu" "xts qemu" "ram mem" "xts mem" "ram cow" "xts cow"
	"blank mem" "ram blank" "xts blank")
# ratios ARRAY TITLE: per pair and figure, ARRAY's x/y within each round,
# as the median and the range over the rounds.
ratios() {
	local -n a=$1
	local pair x y f r m lo hi
	echo
	echo "$2, each within a round: median (lowest..highest round)"
	printf '%-9s' ratio
	for f in "${figures[@]}"; do printf ' %-19s' "${label[$f]}"; done
	echo
	for pair in "${pairs[@]}"; do
		read -r x y <<<"$pair"
		[[ " ${servers[*]} " == *" $x "* &&
			" ${servers[*]} " == *" $y "* ]] || continue
		printf '%-9s' "$x/$y"
		for f in "${figures[@]}"; do
			local q=()
			for r in $(seq "$rounds"); do
				q+=("$(awk -v a="${a["$x $f $r"]}" \
					-v b="${a["$y $f $r"]}" \
					'BEGIN { print (b > 0 ? a / b : 0) }')")
			done
			read -r m lo hi < <(stats "${q[@]}")
			printf ' %-19s' "$(awk -v m="$m" -v lo="$lo" -v hi="$hi" \
				'BEGIN { printf "%.2fx (%.2f..%.2f)", m, lo, hi }')"
		done
		echo
	done
}
ratios iops "IOPS ratios"
ratios cpu "Server CPU per I/O ratios (below 1: x costs less than y)"
echo
echo "bench-nbd: goals (issue 10): ram/qemu, xts/qemu >= 2x;" \
	"ram/mem, xts/mem >= 0.9x"
