#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make-bases.sh - build the lab's disk images on the host, without root
# mounts (mkfs.ext4 -d), with known content and recorded hashes.
#
# Layout of a base image (base-a.img for xvda, base-b.img for xvdb):
#   [0, FS_MIB)          ext4, label xe-base-X, files with known sha256s,
#                        listed in /SHA256SUMS inside the filesystem
#   [FS_MIB, SIZE_MIB)   raw region: the 16-byte line "XEBASE-RAW-X-01\n"
#                        repeated (the guest writes single sectors and
#                        block-straddling runs here and checks copy-up)
# scratch.img: an empty ext4 (label xe-scratch) with phy/ and xts/, dom0's
# scratch storage (loop images of the phy control, xts store files).
#
# Writes to $XE_W/bases (default $XE_LAB/xen-$XE_XEN/bases, XE_LAB default
# /var/tmp/xe-lab, XE_XEN default 4.17):
#   base-a.img base-b.img scratch.img     the images
#   base-X.SHA256SUMS                     the files' sums (as in the image)
#   bases.env                             FS_MIB, SIZE_MIB, SUMS_A, SUMS_B
#                                         (sha256 of each SHA256SUMS), IMG_*
set -euo pipefail
W=${XE_W:-${XE_LAB:-/var/tmp/xe-lab}/xen-${XE_XEN:-4.17}}
B=$W/bases
SIZE_MIB=64
FS_MIB=48
SCRATCH_MIB=1024
command -v mkfs.ext4 >/dev/null || { echo "make-bases: mkfs.ext4 not found (apt-get install e2fsprogs)" >&2; exit 1; }

rm -rf "$B.tmp"; mkdir -p "$B.tmp"
cd "$B.tmp"

# gen SEED BYTES: BYTES of text lines that differ from each other
gen() {
	local seed=$1 n=$2
	awk -v s="$seed" -v n="$n" 'BEGIN {
		srand(length(s) * 7919 + n % 104729);
		out = 0;
		while (out < n) {
			line = sprintf("%s %08d %08x%08x\n", s, out, int(rand() * 4294967295), int(rand() * 4294967295));
			if (out + length(line) > n) line = substr(line, 1, n - out);
			printf "%s", line; out += length(line);
		}
	}'
}

mkbase() { # mkbase X (a|b)
	local x=$1 X; X=$(echo "$1" | tr a-z A-Z)
	local d=root-$x
	mkdir -p "$d/etc" "$d/data/deep/er" "$d/empty-dir"
	printf 'xen-ephemeral lab base %s\n' "$X" > "$d/etc/hello.txt"
	: > "$d/etc/empty-file"
	gen "base-$x-small" 4096 > "$d/data/small-4k.bin"
	gen "base-$x-odd" 100001 > "$d/data/odd-100001.bin"
	gen "base-$x-1m" 1048576 > "$d/data/one-mib.bin"
	gen "base-$x-big" $((3 * 1048576 + 17)) > "$d/data/deep/er/big.bin"
	ln -s ../etc/hello.txt "$d/data/link-to-hello"
	(cd "$d" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | sed 's|^\./||' |
		xargs sha256sum > SHA256SUMS)
	cp "$d/SHA256SUMS" "base-$x.SHA256SUMS"
	truncate -s "${FS_MIB}M" "base-$x.img"
	mkfs.ext4 -q -F -L "xe-base-$x" -m 0 -b 4096 -E root_owner=0:0 -d "$d" "base-$x.img" "${FS_MIB}M"
	# raw region after the filesystem
	{ yes "XEBASE-RAW-$X-01" || true; } | head -c $(( (SIZE_MIB - FS_MIB) * 1048576 )) >> "base-$x.img"
	[ "$(stat -c %s "base-$x.img")" -eq $((SIZE_MIB * 1048576)) ] || { echo "make-bases: base-$x.img has the wrong size" >&2; exit 1; }
	rm -rf "$d"
}
mkbase a
mkbase b

mkdir -p root-scratch/phy root-scratch/xts
truncate -s "${SCRATCH_MIB}M" scratch.img
mkfs.ext4 -q -F -L xe-scratch -m 0 -b 4096 -E root_owner=0:0 -d root-scratch scratch.img "${SCRATCH_MIB}M"
rm -rf root-scratch

{
	echo "SIZE_MIB=$SIZE_MIB"
	echo "FS_MIB=$FS_MIB"
	echo "SUMS_A=$(sha256sum < base-a.SHA256SUMS | cut -c1-64)"
	echo "SUMS_B=$(sha256sum < base-b.SHA256SUMS | cut -c1-64)"
	echo "IMG_A=$(sha256sum < base-a.img | cut -c1-64)"
	echo "IMG_B=$(sha256sum < base-b.img | cut -c1-64)"
} > bases.env
cd "$W"
rm -rf "$B"; mv "$B.tmp" "$B"
echo "[bases] $(tr '\n' ' ' < "$B/bases.env" | cut -c1-200)"
