#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The NBD export against the clients that will use it: QEMU's (qemu-img,
# qemu-io: the block driver a dom0 device model uses) and libnbd's (nbdinfo,
# nbdcopy, nbdsh), on tests/nbd-serve over a Unix socket, started by the
# client ([ CMD ], socket activation), and on stdin (nbd_connect_command).
# Data is checked against a reference file that gets the same writes
# (qemu-img compare, cmp). Needs Debian's qemu-utils,
# libnbd-bin and python3-libnbd (tests/run-all.sh installs them); without
# them: skip (77).
set -u
serve=${top_builddir:-.}/tests/nbd-serve
for t in qemu-img qemu-io nbdinfo nbdcopy nbdsh; do
	if ! command -v $t >/dev/null 2>&1; then
		echo "SKIP: no $t (Debian: qemu-utils libnbd-bin python3-libnbd)"
		exit 77
	fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/xe-nbd-interop-XXXXXX")
chmod 700 "$dir"
pid=
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
fail=0
# nbdsh runs "python3": Debian's, which has the nbd module, not another
# one earlier on PATH (pyenv).
nbdsh_() { PATH=/usr/bin:/bin:$PATH nbdsh "$@"; }
ok() { echo "ok: $*"; }
bad() {
	echo "FAIL: $*"
	fail=1
}
check() { # check WHAT CMD...: CMD must succeed
	what=$1
	shift
	if out=$("$@" 2>&1); then ok "$what"; else bad "$what: $out"; fi
}

# start SPEC [OPTIONS]: serve SPEC at $sock, wait until it listens
start() {
	spec=$1
	shift
	sock=$dir/nbd.sock
	# The last server's "listening" must not be taken for this one's:
	# the shell truncates serve.out only once the child runs.
	rm -f "$dir/serve.out"
	"$serve" "$@" "$spec" "$sock" >"$dir/serve.out" 2>"$dir/serve.err" &
	pid=$!
	i=0
	while ! grep -q listening "$dir/serve.out" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 500 ] || ! kill -0 "$pid" 2>/dev/null; then
			bad "nbd-serve $spec did not start: $(cat "$dir/serve.err")"
			exit 1
		fi
		sleep 0.01
	done
	uri="nbd+unix:///?socket=$sock"
}
stop() {
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=
	[ $rc = 0 ] || bad "nbd-serve exited with $rc"
	[ ! -e "$sock" ] || bad "the socket outlived nbd-serve"
}
# field NAME VALUE: nbdinfo --json (in $info, spaces removed) says so
field() {
	case $info in
	*"\"$1\":$2,"* | *"\"$1\":$2}"*) ok "nbdinfo: $1 $2" ;;
	*) bad "nbdinfo: $1 is not $2 in $info" ;;
	esac
}

size=$((16 * 1024 * 1024))
head -c $size /dev/urandom >"$dir/base.img"
cp "$dir/base.img" "$dir/ref.img"
chmod 400 "$dir/base.img"
base_sum=$(cksum <"$dir/base.img")

# ---- a cow view over a base, its overlay encrypted in a scratch file (not
# RAM: this runs unprivileged too, within RLIMIT_MEMLOCK) ----
start "cow:base=$dir/base.img,store=xts,scratch=$dir"

out=$(qemu-img info --output=json "$uri" 2>&1)
case $out in
*"\"virtual-size\": $size,"*) ok "qemu-img info: $size bytes" ;;
*) bad "qemu-img info: $out" ;;
esac
check "qemu-img compare with the base" \
	qemu-img compare -f raw -F raw "$uri" "$dir/base.img"

info=$(nbdinfo --json "$uri" | tr -d ' \n\t')
field export-size $size
field block_size_minimum 512
field block_size_preferred 4096
field block_size_maximum 33554432
field is_read_only false
field can_flush true
field can_fua true
field can_trim true
field can_zero true
field can_multi_conn false
field structured false

# The same writes to the export and to the reference file: aligned and
# not (QEMU read-modify-writes whole sectors), FUA, zeroes, discards.
set -- -c 'write -P 0xab 1M 64k' -c 'write -P 0x5a 1000 3' \
	-c 'write -f -P 0x11 3M 1M' -c 'write -z 5M 2M' \
	-c 'write -z 8M 16k' -c 'discard 9M 1M' -c 'flush' \
	-c 'write -P 0x77 15M 1M' -c 'write -P 0x33 16773120 4096'
check "qemu-io writes" qemu-io -f raw "$@" "$uri"
check "the reference file gets them too" qemu-io -f raw "$@" "$dir/ref.img"
out=$(qemu-io -f raw -c 'read -P 0xab 1M 64k' -c 'read -P 0x5a 1000 3' \
	-c 'read -P 0x11 3M 1M' -c 'read -P 0 5M 2M' -c 'read -P 0 9M 1M' \
	-c 'read -P 0x33 16773120 4096' "$uri" 2>&1)
case $out in
*"verification failed"* | *"error"* | *"failed"*) bad "qemu-io read -P: $out" ;;
*) ok "qemu-io read -P" ;;
esac
# and a pattern that is not there must be noticed (the check can fail)
out=$(qemu-io -f raw -c 'read -P 0xac 1M 4k' "$uri" 2>&1)
case $out in
*"verification failed"*) ok "qemu-io notices a wrong pattern" ;;
*) bad "qemu-io read -P of a wrong pattern passed: $out" ;;
esac
check "qemu-img compare after the writes" \
	qemu-img compare -f raw -F raw "$uri" "$dir/ref.img"
if qemu-img compare -q -f raw -F raw "$uri" "$dir/base.img" 2>/dev/null; then
	bad "the export still equals the base"
fi

check "nbdcopy out" nbdcopy "$uri" "$dir/out.img"
check "what nbdcopy read is the reference" cmp "$dir/out.img" "$dir/ref.img"

# nbdcopy in: data with holes (zero requests), then read it back twice
head -c $((4 * 1024 * 1024)) /dev/urandom >"$dir/in.img"
head -c $((8 * 1024 * 1024)) /dev/zero >>"$dir/in.img"
head -c $((4 * 1024 * 1024)) /dev/urandom >>"$dir/in.img"
check "nbdcopy in" nbdcopy "$dir/in.img" "$uri"
check "qemu-img compare after nbdcopy in" \
	qemu-img compare -f raw -F raw "$uri" "$dir/in.img"
rm -f "$dir/out.img"
check "nbdcopy out again" nbdcopy "$uri" "$dir/out.img"
check "nbdcopy round trip" cmp "$dir/out.img" "$dir/in.img"
stop
if [ "$(cksum <"$dir/base.img")" = "$base_sum" ]; then
	ok "the base was never written"
else
	bad "the base changed"
fi

# ---- read-only ----
start "cow:base=$dir/base.img" --read-only
info=$(nbdinfo --json "$uri" | tr -d ' \n\t')
field is_read_only true
field can_trim false
if qemu-io -f raw -c 'write -P 1 0 4k' "$uri" >/dev/null 2>&1; then
	bad "QEMU opened a read-only export for writing"
else
	ok "QEMU sees a read-only export"
fi
# libnbd checks the flag itself unless told not to: then the server says no
out=$(nbdsh_ -u "$uri" -c 'h.set_strict_mode(0)' -c '
try:
    h.pwrite(b"x" * 4096, 0)
    print("accepted")
except nbd.Error as e:
    print("refused", e.errno)' 2>&1)
case $out in
"refused EPERM") ok "a read-only export refuses a write with EPERM" ;;
*) bad "a write to a read-only export: $out" ;;
esac
check "read-only export equals the base" \
	qemu-img compare -f raw -F raw "$uri" "$dir/base.img"
stop

# ---- started by the client: libnbd's [ CMD ] (socket activation) ----
info=$(nbdinfo --json -- [ "$serve" "blank:size=8M" ] | tr -d ' \n\t')
field export-size $((8 * 1024 * 1024))
field can_zero true
rm -f "$dir/out.img"
check "nbdcopy from a socket-activated server" \
	nbdcopy -- [ "$serve" "cow:base=$dir/base.img" ] "$dir/out.img"
check "what it read is the base" cmp "$dir/out.img" "$dir/base.img"

# ---- on stdin: nbd_connect_command, through nbdsh (Debian's python3) ----
out=$(nbdsh_ \
	-c "h.connect_command(['$serve', 'blank:size=4M', '--stdio'])" \
	-c 'print(h.get_size(), h.can_flush())' \
	-c 'h.pwrite(b"\x5a" * 4096, 8192, nbd.CMD_FLAG_FUA)' \
	-c 'assert h.pread(4096, 8192) == b"\x5a" * 4096' \
	-c 'assert h.pread(4096, 0) == bytes(4096)' -c 'print("stdio ok")' 2>&1)
case $out in
*"4194304 True"*"stdio ok"*) ok "nbd_connect_command on --stdio" ;;
*) bad "nbd_connect_command on --stdio: $out" ;;
esac

[ $fail = 0 ] && echo "test-nbd-interop: all passed"
exit $fail
