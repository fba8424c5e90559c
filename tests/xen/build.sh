#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# build.sh - build everything the real-Xen lab boots, from Debian 12 packages.
#
# Packages are fetched with `apt-get download` and unpacked with
# `dpkg-deb -x` into the work dir; nothing is installed into the host's boot
# path. Produces, under $XE_LAB (default /var/tmp/xe-lab):
#   xen              Xen 4.17, uncompressed multiboot ELF (QEMU -kernel)
#   vmlinuz          Debian 6.1 kernel: dom0 AND domU
#   dom0.cpio.gz     dom0 initramfs: busybox, Xen tools, xenstored, modules,
#                    the lab scripts and scenarios, the domU kernel + initrd,
#                    and (with XE_BUILD) xen-ephemerald and xen-ephemeral
#   domu-initrd.gz   domU initramfs: busybox, xen-blkfront, ext4 (+ deps)
#   bin/scan-markers static marker scanner (host and dom0)
#
# Env: XE_LAB    work dir (default /var/tmp/xe-lab)
#      XE_FAKE_EPHEMERAL=1  install tests/xen/fake/* instead (lab self-test)
#      XE_BUILD  a configured+built tree of this project; when it holds
#                daemon/xen-ephemerald and tools/xen-ephemeral, they and
#                their shared-library closure go into the dom0 initramfs.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
W=${XE_LAB:-/var/tmp/xe-lab}
XE_BUILD=${XE_BUILD:-}
log() { echo "[build] $*"; }
die() { echo "[build] ERROR: $*" >&2; exit 1; }

for t in apt-get dpkg-deb depmod modprobe cpio gzip gcc ldd readelf; do
	command -v "$t" >/dev/null || die "'$t' not found (run tests/xen/run.sh, which installs the host packages)"
done
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || die "libc.a missing: apt-get install libc6-dev"

mkdir -p "$W/cache/debs" "$W/bin"
cd "$W"

# ------------------------------------------------------------ packages
# The kernel ABI changes with point releases: resolve it through the metapackage.
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$KPKG" ] || die "cannot resolve linux-image-amd64 (run apt-get update)"
KVER=${KPKG#linux-image-}
PKGS="xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common xenstore-utils
  libxenmisc4.17 libxencall1 libxenevtchn1 libxenforeignmemory1 libxengnttab1
  libxenstore4 libxentoollog1 libxendevicemodel1 libxenhypfs1 libxentoolcore1
  libyajl2 busybox-static $KPKG"
KEY=$(echo $PKGS | md5sum | cut -c1-12)
if [ ! -f "cache/debs/.done-$KEY" ]; then
	log "apt-get download $(echo $PKGS | wc -w) packages"
	rm -f cache/debs/*.deb cache/debs/.done-*
	# apt warns that it downloads "unsandboxed as root" here; harmless.
	(cd cache/debs && apt-get download $PKGS 2>&1 | grep -v -e unsandboxed -e '^Get:' || true)
	[ "$(ls cache/debs/*.deb | wc -l)" -eq "$(echo $PKGS | wc -w)" ] || die "apt-get download fetched too few packages"
	touch "cache/debs/.done-$KEY"
else
	log "packages cached in $W/cache/debs"
fi
if [ ! -f "x/.done-$KEY" ]; then
	rm -rf x; mkdir x
	for d in cache/debs/*.deb; do dpkg-deb -x "$d" x; done
	touch "x/.done-$KEY"
fi

gunzip -c x/boot/xen-4.17-amd64.gz > xen
cp x/boot/vmlinuz-"$KVER" vmlinuz
echo "$KVER" > kver
log "xen 4.17, kernel $KVER"

# ------------------------------------------------------------ scanner
gcc -static -O2 -Wall -Wextra -o bin/scan-markers "$HERE/scan-markers.c"

# ------------------------------------------------------------ modules
MR=$W/modroot
rm -rf "$MR"; mkdir -p "$MR/lib/modules"
cp -a x/lib/modules/"$KVER" "$MR/lib/modules/"
depmod -b "$MR" "$KVER"
modorder() { # modorder NAME...: .ko paths in load order (built-ins print nothing)
	local m
	for m in "$@"; do
		modprobe -d "$MR" -S "$KVER" --show-depends "$m" || die "no module $m"
	done | awk '$1=="insmod"{print $2}' | awk '!seen[$0]++'
}
install_mods() { # install_mods ROOT NAME...: copy modules + load-order file
	local root=$1 ko; shift
	mkdir -p "$root/lib/modules"
	: > "$root/lib/modules/load-order"
	# accelerated variants need CPU features -cpu qemu64 lacks (SSE4.2,
	# PCLMUL): the generic ones are loaded instead
	for ko in $(modorder "$@" | grep -v -e '-intel\.ko$' -e '-pclmul\.ko$'); do
		cp "$ko" "$root/lib/modules/"
		basename "$ko" >> "$root/lib/modules/load-order"
	done
}
# crc32c_generic: ext4/jbd2 ask the crypto API for "crc32c" at mount time;
# crc32c-intel needs SSE4.2, which -cpu qemu64 does not have.
DOM0_MODS="xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-blkback loop
  crc32c_generic ext4 ata_piix sd_mod"
DOMU_MODS="xen-blkfront crc32c_generic ext4"

# ------------------------------------------------------------ helpers
LDP=$W/x/usr/lib/x86_64-linux-gnu:$W/x/usr/lib/xen-4.17/lib/x86_64-linux-gnu
is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }
copy_libs() { # copy_libs ROOT FILE...: the shared-library closure of FILEs
	local root=$1 b lib; shift
	mkdir -p "$root/lib/x86_64-linux-gnu" "$root/lib64"
	for b in "$@"; do
		is_elf "$b" || continue
		if LD_LIBRARY_PATH=$LDP ldd "$b" 2>/dev/null | grep -q 'not found'; then
			LD_LIBRARY_PATH=$LDP ldd "$b" | grep 'not found' >&2
			die "missing shared libraries for $b"
		fi
		LD_LIBRARY_PATH=$LDP ldd "$b" 2>/dev/null |
			awk '/=> \//{print $3} /^\t\/lib64/{print $1}' || true
	done | sort -u | while read -r lib; do
		case $lib in
		*/ld-linux-x86-64.so.2) cp -L "$lib" "$root/lib64/ld-linux-x86-64.so.2" ;;
		*) [ -e "$root/usr/lib/x86_64-linux-gnu/$(basename "$lib")" ] ||
			cp -L "$lib" "$root/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
		esac
	done
}
install_busybox() { # install_busybox ROOT
	local root=$1 a
	mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
	cp x/bin/busybox "$root/bin/busybox"
	for a in $("$root/bin/busybox" --list-full); do
		[ -e "$root/$a" ] || [ -L "$root/$a" ] || ln -s /bin/busybox "$root/$a"
	done
}
mkcpio() { # mkcpio ROOT OUT LEVEL
	(cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip "-$3" > "$2.tmp"
	mv "$2.tmp" "$2"
}

# ------------------------------------------------------------ domU initramfs
U=$W/domu-root
rm -rf "$U"; mkdir -p "$U"/{proc,sys,dev,tmp,mnt,etc}
install_busybox "$U"
install_mods "$U" $DOMU_MODS
install -m 0755 "$HERE/domu-init.sh" "$U/init"
mkcpio "$U" domu-initrd.gz 9
log "domU initrd $(du -h domu-initrd.gz | cut -f1), modules: $(tr '\n' ' ' < "$U/lib/modules/load-order")"

# ------------------------------------------------------------ dom0 initramfs
R=$W/dom0-root
rm -rf "$R"
mkdir -p "$R"/{proc,sys,dev,tmp,run,root,boot,etc,scratch,xe/scenarios} \
	"$R"/var/{lib/xen,log/xen,lock} "$R"/usr/{lib/x86_64-linux-gnu,libexec}
ln -s ../run "$R/var/run"
install_busybox "$R"
# /etc/xen/scripts/block (phy disks) needs bash and flock(1); busybox-static
# has no flock applet. Both come from the host's Debian packages.
cp /bin/bash "$R/bin/bash"
cp /usr/bin/flock "$R/usr/bin/flock"
cp -a x/usr/lib/xen-4.17 x/usr/lib/xen-common "$R/usr/lib/"
rm -rf "$R/usr/lib/xen-4.17/lib/python" "$R/usr/lib/xen-4.17/boot"
cp -a x/usr/lib/x86_64-linux-gnu/. "$R/usr/lib/x86_64-linux-gnu/"
cp -a x/usr/bin/xenstore* "$R/usr/bin/"
# Debian's /usr/sbin/xl is a wrapper; call the versioned binary directly.
rm -f "$R/usr/sbin/xl" "$R/sbin/xl"
ln -s /usr/lib/xen-4.17/bin/xl "$R/usr/sbin/xl"
cp -a x/etc/xen "$R/etc/"
echo "root:x:0:0:root:/root:/bin/sh" > "$R/etc/passwd"
echo "root:x:0:" > "$R/etc/group"
install_mods "$R" $DOM0_MODS
copy_libs "$R" "$R/bin/bash" "$R/usr/bin/flock" "$R"/usr/lib/xen-4.17/bin/* "$R/usr/bin/xenstore"
# glibc dlopen()s libgcc_s for pthread_cancel (xl aborts without it)
cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$R/lib/x86_64-linux-gnu/"

# the project's binaries, when a build dir is given
if [ -n "$XE_BUILD" ]; then
	XE_BUILD=$(cd "$XE_BUILD" && pwd)
	n=0
	for b in daemon/xen-ephemerald tools/xen-ephemeral; do
		f=$XE_BUILD/$b
		# libtool wrappers keep the real binary in .libs/
		[ -x "$XE_BUILD/$(dirname $b)/.libs/$(basename $b)" ] && f=$XE_BUILD/$(dirname $b)/.libs/$(basename $b)
		if [ -x "$f" ] && is_elf "$f"; then
			# Only libxengnttab, libxenevtchn, libxenstore and libcrypto:
			# never libxenctrl, whose soname changes with each Xen release.
			if LD_LIBRARY_PATH=$LDP ldd "$f" | grep -q libxenctrl; then
				die "$f needs libxenctrl ($(readelf -d "$f" | grep NEEDED | tr -s ' ' | cut -d' ' -f6 | tr '\n' ' '))"
			fi
			install -m 0755 "$f" "$R/usr/sbin/$(basename $b)"
			copy_libs "$R" "$f"
			n=$((n + 1))
			log "installed $(basename $b) from $f"
		else
			log "no $b in $XE_BUILD (ephemeral scenarios will SKIP)"
		fi
	done
	echo "$n" > "$R/xe/have-xe-binaries"
fi

# XE_FAKE_EPHEMERAL=1: leaky shell stand-ins for the daemon and the CLI,
# to test the lab itself (the ephemeral scenarios must FAIL their scans)
if [ "${XE_FAKE_EPHEMERAL:-0}" = 1 ]; then
	install -m 0755 "$HERE/fake/xen-ephemerald" "$HERE/fake/xen-ephemeral" "$R/usr/sbin/"
	log "installed the LEAKY stand-ins from tests/xen/fake (XE_FAKE_EPHEMERAL=1)"
fi
install -m 0755 bin/scan-markers "$R/usr/bin/scan-markers"
cp vmlinuz "$R/boot/domu-vmlinuz"
cp domu-initrd.gz "$R/boot/domu-initrd.gz"
install -m 0755 "$HERE/phy-hook.sh" "$R/etc/xen/scripts/xe-phy"
install -m 0755 "$HERE/dom0-init.sh" "$R/init"
install -m 0644 "$HERE/dom0-lib.sh" "$R/xe/lib.sh"
install -m 0644 "$HERE"/scenarios/*.sh "$R/xe/scenarios/"
mkcpio "$R" dom0.cpio.gz 1
log "dom0 initrd $(du -h dom0.cpio.gz | cut -f1), modules: $(tr '\n' ' ' < "$R/lib/modules/load-order")"
