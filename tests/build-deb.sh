#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tests/build-deb.sh OUTDIR: the Debian package of the tree as it is (its
# tracked files, with uncommitted changes), built from a clean copy with
# dpkg-buildpackage -us -uc -b and checked with lintian (no error, no
# warning); the .debs land in OUTDIR with OUTDIR/tree, the tree they were
# built from (a `git stash create` commit, or HEAD when clean). With
# XE_DEB_REUSE=1 a package already in OUTDIR for this very tree is kept.
# DEB_BUILD_OPTIONS (nocheck, parallel=N) passes through.
# Shared by tests/run-all.sh (its "deb" step) and tests/run-lab.sh (the
# labs install the package in dom0).
set -euo pipefail
out=${1:?usage: build-deb.sh OUTDIR}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
tree=$(git stash create 2>/dev/null || true)
[ -n "$tree" ] || tree=$(git rev-parse HEAD)
if [ "${XE_DEB_REUSE:-0}" = 1 ] && [ "$(cat "$out/tree" 2>/dev/null)" = "$tree" ] &&
	ls "$out"/xen-ephemeral_*.deb >/dev/null 2>&1; then
	echo "build-deb: $(ls "$out"/xen-ephemeral_*.deb) is of this tree ($tree)"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/xen-ephemeral"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$tmp/xen-ephemeral"
(cd "$tmp/xen-ephemeral" && dpkg-buildpackage -us -uc -b)
lintian --fail-on error,warning "$tmp"/xen-ephemeral_*.changes
mkdir -p "$out"
rm -f "$out"/*.deb "$out/tree"
cp "$tmp"/*.deb "$out/"
echo "$tree" > "$out/tree"
echo "build-deb: $(ls "$out"/*.deb | tr '\n' ' ')of $tree"
