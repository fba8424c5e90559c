#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Set up a fresh Debian 12 machine and run every test that needs no Xen:
# installs the build dependencies with apt-get, bootstraps, then builds and
# runs `make check` twice, once with -Werror and once with ASan+UBSan; then
# `make distcheck`, and the Debian package (dpkg-buildpackage, lintian),
# left in build-deb/.
# Ends with one line "N passed, N failed, N skipped" over both builds and
# exits non-zero on any failure, or on any skip unless XE_ALLOW_SKIP=1.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# The build dependencies (also what tests/run-lab.sh builds with), what
# the tests drive from outside (the NBD clients of tests/test-nbd-interop.sh
# among them), and what the package is built and checked with.
"$top/tests/install-deps.sh" autoconf automake make gcc pkgconf libssl-dev \
	libxen-dev libsystemd-dev libseccomp-dev mandoc groff-base systemd dash \
	qemu-utils libnbd-bin python3-libnbd \
	debhelper dh-autoreconf lintian git

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
package() {
	local tmp
	tmp=$(mktemp -d)
	mkdir "$tmp/xen-ephemeral" &&
		(cd "$top" && git ls-files -z | tar --null -T - -cf -) |
		tar -xf - -C "$tmp/xen-ephemeral" &&
		(cd "$tmp/xen-ephemeral" && dpkg-buildpackage -us -uc -b) &&
		lintian --fail-on error,warning "$tmp"/xen-ephemeral_*.changes &&
		mkdir -p "$top/build-deb" && cp "$tmp"/*.deb "$top/build-deb/"
	local r=$?
	rm -rf "$tmp"
	return $r
}
step distcheck make -C "$top/build-release" -s distcheck
step deb package

if [ "$skip" -gt 0 ] && [ "${XE_ALLOW_SKIP:-0}" != 1 ]; then
	echo "run-all: $skip test(s) skipped; a skip in CI is a failure"
	rc=1
fi
echo "$pass passed, $fail failed, $skip skipped"
exit $rc
