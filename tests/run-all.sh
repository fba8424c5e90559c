#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Set up a fresh Debian 12 machine and run every test that needs no Xen:
# installs the build dependencies with apt-get, bootstraps, then builds and
# runs `make check` twice, once with -Werror and once with ASan+UBSan; then
# `make distcheck`, and the Debian package (dpkg-buildpackage, lintian),
# left in build-deb/; then every fuzz target of tests/fuzz/ built with clang
# and libFuzzer, each for XE_FUZZ_SECONDS (45) from its corpus.
# Ends with one line "N passed, N failed, N skipped" over both builds and
# exits non-zero on any failure, or on any skip unless XE_ALLOW_SKIP=1.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# The build dependencies (also what tests/run-lab.sh builds with), what
# the tests drive from outside (the NBD clients of tests/test-nbd-interop.sh
# among them), and what the package is built and checked with.
"$top/tests/install-deps.sh" autoconf automake make gcc pkgconf libssl-dev \
	libxen-dev liburing-dev libsystemd-dev libseccomp-dev mandoc groff-base \
	systemd dash qemu-utils libnbd-bin python3-libnbd \
	debhelper dh-autoreconf lintian git \
	clang libclang-rt-14-dev

cd "$top"
autoreconf -fi >/dev/null

pass=0 fail=0 skip=0 rc=0
run_build() {
	local name=$1
	shift
	local dir="$top/build-$name"
	echo "run-all: === build $name: configure $*"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" && make -s -j"$jobs") || {
		echo "run-all: build $name FAILED"
		fail=$((fail + 1))
		rc=1
		return
	}
	(cd "$dir" && make -s -j"$jobs" check) || rc=1
	local log="$dir/test-suite.log"
	if [ ! -f "$log" ]; then
		echo "run-all: build $name wrote no test-suite.log"
		fail=$((fail + 1))
		rc=1
		return
	fi
	local p f s e xp xf
	p=$(sed -n 's/^# PASS: *//p' "$log")
	xf=$(sed -n 's/^# XFAIL: *//p' "$log")
	f=$(sed -n 's/^# FAIL: *//p' "$log")
	xp=$(sed -n 's/^# XPASS: *//p' "$log")
	e=$(sed -n 's/^# ERROR: *//p' "$log")
	s=$(sed -n 's/^# SKIP: *//p' "$log")
	pass=$((pass + p + xf))
	fail=$((fail + f + xp + e))
	skip=$((skip + s))
	if [ $((f + xp + e)) -gt 0 ]; then
		rc=1
		# Show what failed, with the test's own words.
		grep -E '^(FAIL|ERROR|XPASS):' "$log" || true
		for t in $(sed -n 's/^\(FAIL\|ERROR\|XPASS\): //p' "$log"); do
			echo "---- $t.log (tail)"
			tail -n 30 "$dir/$t.log" 2>/dev/null || true
		done
	fi
}

run_build release --enable-werror
run_build asan --enable-werror --enable-sanitizers

# The package: make distcheck (the tarball builds, passes make check and
# installs under any prefix), then the Debian package from a clean copy
# of the tree, with no lintian error.
step() { # step NAME CMD...: one counted check, its output kept in a log
	local name=$1 log="$top/build-$1.log"
	shift
	if "$@" > "$log" 2>&1; then
		echo "run-all: $name: ok"
		pass=$((pass + 1))
	else
		echo "run-all: $name FAILED (tail of $log):"
		tail -n 25 "$log"
		fail=$((fail + 1))
		rc=1
	fi
}
step distcheck make -C "$top/build-release" -s distcheck
step deb "$top/tests/build-deb.sh" "$top/build-deb"

# The benchmarks run briefly as they are run by hand (their make targets,
# which must build what they need: the check programs make check built are
# removed first, as on a build that never ran it), so a target that no
# longer starts is caught here; their figures mean nothing at this length.
bench_smoke() {
	rm -f "$top/build-release/tests/sim/sim-worker" || return
	make -C "$top/build-release" -s bench BENCH_ARGS="--size 16 --seconds 0.1" &&
		make -C "$top/build-release" -s bench-blkif BENCH_SECONDS=0.05 &&
		make -C "$top/build-release" -s bench-scale BENCH_ROUNDS=2
}
step bench-smoke bench_smoke

# Fuzzing: each target of tests/fuzz/ built with clang and libFuzzer
# (--enable-fuzzing: ASan and UBSan too) and run for XE_FUZZ_SECONDS from
# its corpus; a crash, a leak, a sanitizer report or a failed assertion
# fails its step. What libFuzzer finds new lands in a scratch directory:
# a developer's run merges what adds coverage into tests/fuzz/corpus/NAME/
# (to commit); CI's (CI=true, a clean clone) only says how many it found.
# XE_FUZZ_KEEP=1 or 0 overrides that.
fuzz_targets="req frontend diskspec nbd wire"
fuzz_seconds=${XE_FUZZ_SECONDS:-45}
if [ -n "${XE_FUZZ_KEEP:-}" ]; then
	fuzz_keep=$XE_FUZZ_KEEP
elif [ "${CI:-}" = true ]; then
	fuzz_keep=0
else
	fuzz_keep=1
fi
fuzz_build() {
	local dir="$top/build-fuzz" t progs=
	for t in $fuzz_targets; do progs="$progs tests/fuzz/fuzz-$t"; done
	mkdir -p "$dir" && (
		cd "$dir" &&
			"$top/configure" -q CC=clang --enable-fuzzing \
				--enable-werror &&
			make -s -j"$jobs" $progs
	)
}
fuzz_one() { # fuzz_one NAME: run it, then keep or count what it found
	local t=$1 dir="$top/build-fuzz" corpus="$top/tests/fuzz/corpus/$1"
	local new out before after found execs r=0
	new=$(mktemp -d)
	out="$dir/fuzz-$t.out"
	# new inputs go to the first directory, the scratch one
	"$dir/tests/fuzz/fuzz-$t" -max_total_time="$fuzz_seconds" -timeout=30 \
		-print_final_stats=1 -artifact_prefix="$dir/crash-$t-" \
		"$new" "$corpus" >"$out" 2>&1 || r=1
	tail -n 40 "$out"
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out")
	found=$(find "$new" -type f | wc -l)
	if [ "$r" -eq 0 ] && [ "$found" -gt 0 ] && [ "$fuzz_keep" = 1 ]; then
		before=$(find "$corpus" -type f | wc -l)
		"$dir/tests/fuzz/fuzz-$t" -merge=1 "$corpus" "$new" \
			>>"$out" 2>&1 || r=1
		after=$(find "$corpus" -type f | wc -l)
		echo "run-all: fuzz-$t: ${execs:-?} runs in ${fuzz_seconds} s, $found new inputs, $((after - before)) added to tests/fuzz/corpus/$t/ (commit them)" >&3
	else
		echo "run-all: fuzz-$t: ${execs:-?} runs in ${fuzz_seconds} s, $found new inputs (not kept)" >&3
	fi
	rm -rf "$new"
	return "$r"
}
exec 3>&1
if step fuzz-build fuzz_build; then
	for t in $fuzz_targets; do
		step "fuzz-$t" fuzz_one "$t"
	done
fi

if [ "$skip" -gt 0 ] && [ "${XE_ALLOW_SKIP:-0}" != 1 ]; then
	echo "run-all: $skip test(s) skipped; a skip in CI is a failure"
	rc=1
fi
echo "$pass passed, $fail failed, $skip skipped"
exit $rc
