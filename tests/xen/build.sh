#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# build.sh - build everything one real-Xen lab boots, from Debian packages.
#
# Two labs share this script, selected by XE_XEN:
#   4.17  Xen 4.17, Debian 12 (bookworm) dom0: the host's own apt sources
#   4.20  Xen 4.20, Debian 13 (trixie) dom0: trixie packages through a
#         private apt configuration in $XE_LAB/apt-trixie (its own sources,
#         lists, cache and an empty dpkg status; the host's apt is never
#         touched), plus every lib* package of their Depends closure, so that
#         the dom0 holds only trixie userland. Libraries are resolved by
#         trixie's own ld.so (--list) inside the extracted tree; a library
#         found outside it is an error, so no bookworm library gets in.
# Packages are fetched with `apt-get download` and unpacked with
# `dpkg-deb -x`; nothing is installed into the host's boot path. Produces,
# under $XE_W (default $XE_LAB/xen-$XE_XEN, XE_LAB default /var/tmp/xe-lab):
#   xen              the hypervisor, uncompressed multiboot ELF (QEMU -kernel)
#   vmlinuz          the Debian kernel: dom0 AND domU
#   dom0.cpio.gz     dom0 initramfs: busybox, Xen tools, xenstored, modules,
#                    the lab scripts and scenarios (those tagged for this
#                    Xen), the domU kernel + initrds, and (with XE_BUILD)
#                    xen-ephemerald, xen-ephemeral and the libxl hook
#   domu-initrd.gz   domU initramfs: busybox, xen-blkfront, ext4 (+ deps),
#                    the marker scanner
#   hvm-initrd.gz    (4.20) the same plus ata_piix/sd_mod, for HVM guests;
#                    dom0 also carries qemu-system-xen, hvmloader, SeaBIOS
#   bin/scan-markers static marker scanner (host, dom0 and domU)
#   bin/notify-wait  dom0's stand-in for systemd's notify socket
#
# Env: XE_XEN    4.17 (default) or 4.20
#      XE_LAB    top work dir (default /var/tmp/xe-lab); XE_W overrides the
#                per-Xen work dir
#      XE_FAKE_EPHEMERAL=1  install tests/xen/fake/* instead (lab self-test)
#      XE_BUILD  a configured+built tree of this project; when it holds
#                daemon/xen-ephemerald and tools/xen-ephemeral, they and
#                their shared-library closure go into the dom0 initramfs
#      XE_DEB    instead, the project's Debian package (tests/build-deb.sh):
#                unpacked into dom0 as dpkg would lay it out, with the
#                shared-library closure of its programs, so that the lab
#                runs what a user installs
#      XE_APT_REFRESH=1     (4.20) apt-get update the trixie lists even if
#                they are less than a day old
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
XE_XEN=${XE_XEN:-4.17}
XE_LAB=${XE_LAB:-/var/tmp/xe-lab}
W=${XE_W:-$XE_LAB/xen-$XE_XEN}
XE_BUILD=${XE_BUILD:-}
XE_DEB=${XE_DEB:-}
log() { echo "[build $XE_XEN] $*"; }
die() { echo "[build $XE_XEN] ERROR: $*" >&2; exit 1; }

for t in apt-get dpkg-deb depmod modprobe cpio gzip xz gcc ldd readelf; do
	command -v "$t" >/dev/null || die "'$t' not found (run tests/xen/run.sh, which installs the host packages)"
done
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || die "libc.a missing: apt-get install libc6-dev"

# ------------------------------------------------------------ per Xen
# APT: apt options; MERGED: merged-/usr root; LIBS: ldd (host libraries,
# same release as the dom0) or ldso (the dom0's own ld.so in the tree)
case $XE_XEN in
4.17)
	APT=()
	MERGED=0 LIBS=ldd HVM=0
	EXTRA_PKGS=""
	;;
4.20)
	AT=$XE_LAB/apt-trixie
	APT=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$AT/sources.list.d"
		-o "Dir::State::Lists=$AT/lists" -o "Dir::State::status=$AT/status"
		-o "Dir::Cache=$AT/cache" -o Dir::Etc::Preferences=/dev/null
		-o "Dir::Etc::PreferencesParts=$AT/preferences.d" -o Acquire::Languages=none
		-o APT::Architecture=amd64 -o APT::Architectures=amd64)
	MERGED=1 LIBS=ldso HVM=1
	# qemu-system-xen, seabios: HVM guests' device model and firmware
	# (hvmloader is in xen-utils); bash, util-linux (flock) for Xen's
	# hotplug scripts; libc6, zlib1g named because they are no lib* closure
	EXTRA_PKGS="qemu-system-xen qemu-system-data seabios qemu-utils libc6 zlib1g libgcc-s1 bash util-linux"
	# XE_BENCH=1 (make bench-xen): fio in a guest of its own, dmsetup in
	# dom0 for kernel blkback over dm-snapshot and dm-crypt
	[ "${XE_BENCH:-0}" = 1 ] && EXTRA_PKGS="$EXTRA_PKGS fio dmsetup"
	mkdir -p "$AT/sources.list.d" "$AT/lists/partial" "$AT/cache/archives/partial" "$AT/preferences.d"
	[ -e "$AT/status" ] || : > "$AT/status"
	cat > "$AT/sources.list.d/trixie.sources" <<-'EOF'
	Types: deb
	URIs: http://deb.debian.org/debian
	Suites: trixie trixie-updates
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

	Types: deb
	URIs: http://deb.debian.org/debian-security
	Suites: trixie-security
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || die "no /usr/share/keyrings/debian-archive-keyring.gpg (apt-get install debian-archive-keyring)"
	if [ "${XE_APT_REFRESH:-0}" = 1 ] || [ ! -e "$AT/lists/.updated" ] ||
		[ -n "$(find "$AT/lists/.updated" -mmin +1440)" ]; then
		log "apt-get update (trixie, private configuration in $AT)"
		apt-get "${APT[@]}" update -qq 2>&1 | grep -v -e unsandboxed || true
		ls "$AT"/lists/*_dists_trixie_main_binary-amd64_Packages* >/dev/null 2>&1 || die "apt-get update of the trixie lists failed"
		touch "$AT/lists/.updated"
	fi
	;;
*) die "XE_XEN=$XE_XEN: 4.17 or 4.20" ;;
esac
[ "${XE_BENCH:-0}" = 1 ] && [ $HVM = 0 ] && die "XE_BENCH=1 (bench-xen) needs the 4.20 lab"
XV=$XE_XEN

mkdir -p "$W/cache/debs" "$W/bin"
cd "$W"

# ------------------------------------------------------------ packages
# The kernel ABI changes with point releases: resolve it through the metapackage.
KPKG=$(apt-cache "${APT[@]}" depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$KPKG" ] || die "cannot resolve linux-image-amd64 (run apt-get update)"
KVER=${KPKG#linux-image-}
PKGS="xen-hypervisor-$XV-amd64 xen-utils-$XV xen-utils-common xenstore-utils
  libxenmisc$XV libxencall1 libxenevtchn1 libxenforeignmemory1 libxengnttab1
  libxenstore4 libxentoollog1 libxendevicemodel1 libxenhypfs1 libxentoolcore1
  libyajl2 busybox-static $EXTRA_PKGS $KPKG"
KEY=$(echo $PKGS | md5sum | cut -c1-12)
if [ ! -f "cache/debs/.done-$KEY" ]; then
	ALL=$PKGS
	if [ $LIBS = ldso ]; then
		# every lib* package in the Depends closure (python, pam, perl
		# left out); only what ld.so resolves goes into the initramfs
		ALL="$PKGS $(apt-cache "${APT[@]}" depends --recurse --no-recommends --no-suggests \
			--no-conflicts --no-breaks --no-replaces --no-enhances $PKGS 2>/dev/null |
			grep -v '^ ' | sort -u | grep -E '^(lib|zlib)' |
			grep -v -E '^lib(python|pam|semanage|debian-installer|text-|systemd-shared|perl)' |
			grep -v -x -F -f <(echo $PKGS | tr ' ' '\n') | tr '\n' ' ')"
	fi
	log "apt-get download $(echo $ALL | wc -w) packages"
	rm -f cache/debs/*.deb cache/debs/.done-*
	# apt warns that it downloads "unsandboxed as root" here; harmless.
	(cd cache/debs && apt-get "${APT[@]}" download $ALL 2>&1 | grep -v -e unsandboxed -e '^Get:' || true)
	missing=$(for p in $PKGS; do ls cache/debs/"${p}"_*.deb >/dev/null 2>&1 || echo "$p"; done)
	[ -z "$missing" ] || die "apt-get download did not fetch: $(echo $missing) (stale lists? XE_APT_REFRESH=1)"
	touch "cache/debs/.done-$KEY"
else
	log "packages cached in $W/cache/debs"
fi
if [ ! -f "x/.done-$KEY" ]; then
	rm -rf x; mkdir x
	for d in cache/debs/*.deb; do dpkg-deb -x "$d" x; done
	touch "x/.done-$KEY"
fi

gunzip -c x/boot/xen-$XV-amd64.gz > xen
cp x/boot/vmlinuz-"$KVER" vmlinuz
echo "$KVER" > kver
log "xen $XV ($(ls cache/debs | sed -n "s/^xen-hypervisor-$XV-amd64_\(.*\)_amd64.deb/\1/p")), kernel $KVER"

# ------------------------------------------------------------ scanner
gcc -static -O2 -Wall -Wextra -o bin/scan-markers "$HERE/scan-markers.c"
gcc -static -O2 -Wall -Wextra -o bin/notify-wait "$HERE/notify-wait.c"

# ------------------------------------------------------------ modules
MODSRC=x/lib/modules/$KVER
[ -d "$MODSRC" ] || MODSRC=x/usr/lib/modules/$KVER
MR=$W/modroot
rm -rf "$MR"; mkdir -p "$MR/lib/modules"
cp -a "$MODSRC" "$MR/lib/modules/"
depmod -b "$MR" "$KVER"
modorder() { # modorder NAME...: .ko(.xz) paths in load order (built-ins print nothing)
	local m
	for m in "$@"; do
		modprobe -d "$MR" -S "$KVER" --show-depends "$m" || die "no module $m"
	done | awk '$1=="insmod"{print $2}' | awk '!seen[$0]++'
}
install_mods() { # install_mods ROOT NAME...: copy modules + load-order file
	local root=$1 ko b; shift
	mkdir -p "$root/lib/modules"
	: > "$root/lib/modules/load-order"
	# accelerated variants need CPU features -cpu qemu64 lacks (SSE4.2,
	# PCLMUL): the generic ones are loaded instead. Compressed modules
	# (trixie: .ko.xz) are decompressed here: busybox insmod loads .ko.
	# aesni-intel is kept for bench-xen, which may boot with AES-NI
	# (dom0-init.sh loads it only where /proc/cpuinfo says aes).
	for ko in $(modorder "$@" | awk '/\/aesni-intel\.ko/ || !/(-intel|-pclmul)\.ko(\.xz)?$/'); do
		b=$(basename "$ko" .xz)
		case $ko in
		*.xz) xz -dc "$ko" > "$root/lib/modules/$b" ;;
		*) cp "$ko" "$root/lib/modules/$b" ;;
		esac
		echo "$b" >> "$root/lib/modules/load-order"
	done
}
# crc32c_generic: ext4/jbd2 ask the crypto API for "crc32c" at mount time;
# crc32c-intel needs SSE4.2, which -cpu qemu64 does not have. xen-blkback
# (the phy control) is loaded at boot on 4.17 and by the phy scenario only
# on 4.20 (dom0-init.sh).
DOM0_MODS="xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-blkback loop
  crc32c_generic ext4 ata_piix sd_mod"
DOMU_MODS="xen-blkfront crc32c_generic ext4"
HVM_MODS="xen-blkfront ata_piix sd_mod crc32c_generic ext4"
# bench-xen: the peers' device-mapper stack; AES with AES-NI where the lab's
# CPU has it (make bench-xen's default, BENCH_XEN_AES=1), the generic C
# otherwise (-cpu qemu64 alone has none)
[ "${XE_BENCH:-0}" = 1 ] && DOM0_MODS="$DOM0_MODS dm-snapshot dm-crypt xts aes_generic aesni_intel"

# ------------------------------------------------------------ helpers
LDP=$W/x/usr/lib/x86_64-linux-gnu:$W/x/usr/lib/xen-$XV/lib/x86_64-linux-gnu
[ -d "$W/x/usr/lib/x86_64-linux-gnu/pulseaudio" ] && LDP=$LDP:$W/x/usr/lib/x86_64-linux-gnu/pulseaudio
[ -d "$W/x/usr/lib/x86_64-linux-gnu/ceph" ] && LDP=$LDP:$W/x/usr/lib/x86_64-linux-gnu/ceph
LDSO=$W/x/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }
is_dynamic() { readelf -d "$1" 2>/dev/null | grep -q NEEDED; }
# list_libs FILE: the library paths FILE loads, one per line
list_libs() {
	local out
	if [ $LIBS = ldd ]; then
		out=$(LD_LIBRARY_PATH=$LDP ldd "$1" 2>&1) || die "ldd $1: $out"
		if echo "$out" | grep -q 'not found'; then
			echo "$out" | grep 'not found' >&2
			die "missing shared libraries for $1"
		fi
		echo "$out" | awk '/=> \//{print $3} /^\t\/lib64/{print $1}'
	else
		out=$("$LDSO" --library-path "$LDP" --list "$1" 2>&1) || die "trixie ld.so --list $1: $out"
		if echo "$out" | grep -q 'not found'; then
			echo "$out" | grep 'not found' >&2
			die "missing shared libraries for $1"
		fi
		echo "$out" | awk '/=> \//{print $3}'
	fi
}
copy_libs() { # copy_libs ROOT FILE...: the shared-library closure of FILEs
	local root=$1 b lib; shift
	mkdir -p "$root/lib/x86_64-linux-gnu" "$root/lib64"
	for b in "$@"; do
		is_elf "$b" && is_dynamic "$b" || continue
		list_libs "$b"
	done | sort -u | while read -r lib; do
		if [ $LIBS = ldso ]; then
			case $lib in
			"$W"/x/*) ;;
			*) die "library from outside the trixie tree: $lib" ;;
			esac
			cp -L "$lib" "$root/usr/lib/x86_64-linux-gnu/$(basename "$lib")"
			continue
		fi
		case $lib in
		*/ld-linux-x86-64.so.2) cp -L "$lib" "$root/lib64/ld-linux-x86-64.so.2" ;;
		*) [ -e "$root/usr/lib/x86_64-linux-gnu/$(basename "$lib")" ] ||
			cp -L "$lib" "$root/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
		esac
	done
	if [ $LIBS = ldso ]; then
		cp -L "$LDSO" "$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
	fi
}
mkroot() { # mkroot ROOT: an empty root (merged-/usr like trixie's, or not)
	local root=$1
	rm -rf "$root"
	mkdir -p "$root"/{proc,sys,dev,tmp,mnt,run,root,boot,etc,var}
	mkdir -p "$root"/usr/{bin,sbin,lib/x86_64-linux-gnu}
	if [ $MERGED = 1 ]; then
		mkdir -p "$root/usr/lib64"
		ln -s usr/bin "$root/bin"; ln -s usr/sbin "$root/sbin"
		ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"
		ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/usr/lib64/ld-linux-x86-64.so.2"
	else
		mkdir -p "$root"/{bin,sbin,lib/x86_64-linux-gnu,lib64}
	fi
}
BUSYBOX=x/bin/busybox
[ -e $BUSYBOX ] || BUSYBOX=x/usr/bin/busybox
install_busybox() { # install_busybox ROOT
	local root=$1 a
	cp $BUSYBOX "$root/bin/busybox"
	for a in $("$root/bin/busybox" --list-full); do
		[ -e "$root/$a" ] || [ -L "$root/$a" ] || ln -s /bin/busybox "$root/$a"
	done
}
mkcpio() { # mkcpio ROOT OUT LEVEL
	(cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip "-$3" > "$2.tmp"
	mv "$2.tmp" "$2"
}

# ------------------------------------------------------------ domU initramfs
mkguest() { # mkguest ROOT OUT MODULES...: a guest initramfs running domu-init.sh
	# (GUEST_BINS: programs from the Xen's tree added with their libraries)
	local root=$1 out=$2 b; shift 2
	mkroot "$root"
	install_busybox "$root"
	install_mods "$root" "$@"
	install -m 0755 "$HERE/domu-init.sh" "$root/init"
	# the guest scans its own disks for an earlier boot's markers
	install -m 0755 bin/scan-markers "$root/bin/scan-markers"
	for b in ${GUEST_BINS:-}; do
		install -m 0755 "x$b" "$root$b"
		copy_libs "$root" "$root$b"
	done
	mkcpio "$root" "$out" ${GUEST_GZIP:-9}
	log "$out $(du -h "$out" | cut -f1), modules: $(tr '\n' ' ' < "$root/lib/modules/load-order")"
}
mkguest "$W/domu-root" domu-initrd.gz $DOMU_MODS
[ $HVM = 1 ] && mkguest "$W/hvm-root" hvm-initrd.gz $HVM_MODS
# bench-xen's guest: blkfront and Debian's fio (its library closure is
# about 80 MB: only in this guest, and only with XE_BENCH=1)
rm -f bench-initrd.gz
if [ "${XE_BENCH:-0}" = 1 ]; then
	GUEST_BINS=/usr/bin/fio GUEST_GZIP=1 mkguest "$W/bench-root" bench-initrd.gz xen-blkfront
fi

# ------------------------------------------------------------ dom0 initramfs
R=$W/dom0-root
mkroot "$R"
mkdir -p "$R"/{scratch,xe/scenarios} "$R"/var/{lib/xen,log/xen,lock} "$R/usr/libexec"
ln -s ../run "$R/var/run"
install_busybox "$R"
# /etc/xen/scripts/block and friends need bash and flock(1); busybox-static
# has no flock applet. 4.17: from the host (same release); 4.20: trixie's.
if [ $LIBS = ldd ]; then
	cp /bin/bash "$R/bin/bash"
	cp /usr/bin/flock "$R/usr/bin/flock"
else
	cp x/usr/bin/bash "$R/usr/bin/bash"
	cp x/usr/bin/flock "$R/usr/bin/flock"
fi
cp -a x/usr/lib/xen-$XV x/usr/lib/xen-common "$R/usr/lib/"
rm -rf "$R/usr/lib/xen-$XV/lib/python" "$R/usr/lib/xen-$XV/ocaml" "$R/usr/lib/xen-$XV/boot/xen-shim"
[ $HVM = 1 ] || rm -rf "$R/usr/lib/xen-$XV/boot"
if [ $LIBS = ldd ]; then
	cp -a x/usr/lib/x86_64-linux-gnu/. "$R/usr/lib/x86_64-linux-gnu/"
fi
cp -a x/usr/bin/xenstore* "$R/usr/bin/"
# Debian's /usr/sbin/xl is a wrapper; call the versioned binary directly.
rm -f "$R/usr/sbin/xl"
ln -s /usr/lib/xen-$XV/bin/xl "$R/usr/sbin/xl"
cp -a x/etc/xen "$R/etc/"
# nobody: the daemon's workers run as it
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
install_mods "$R" $DOM0_MODS
DOM0_BINS=("$R/bin/bash" "$R/usr/bin/flock" "$R"/usr/lib/xen-$XV/bin/* "$R/usr/bin/xenstore")
if [ $HVM = 1 ]; then
	# HVM guests: the dom0 device model, the firmware libxl loads, the
	# keymap QEMU loads for -vnc none, the direct kernel boot ROMs
	cp -a x/usr/libexec/xen-qemu-system-i386 "$R/usr/libexec/"
	cp -a x/usr/bin/qemu-nbd "$R/usr/bin/"
	mkdir -p "$R/usr/share/qemu/keymaps" "$R/usr/share/seabios"
	cp x/usr/share/qemu/keymaps/en-us "$R/usr/share/qemu/keymaps/"
	for f in linuxboot_dma.bin linuxboot.bin kvmvapic.bin pvh.bin; do cp x/usr/share/qemu/$f "$R/usr/share/qemu/"; done
	for f in bios-256k.bin vgabios-stdvga.bin vgabios-cirrus.bin; do
		cp x/usr/share/seabios/$f "$R/usr/share/seabios/"
		ln -sf ../seabios/$f "$R/usr/share/qemu/$f"
	done
	DOM0_BINS+=("$R/usr/libexec/xen-qemu-system-i386" "$R/usr/bin/qemu-nbd")
fi
if [ "${XE_BENCH:-0}" = 1 ]; then
	# bench-xen: the qcow2 overlay for qdisk, the device-mapper peers
	cp -a x/usr/bin/qemu-img "$R/usr/bin/"
	cp -a x/usr/sbin/dmsetup "$R/usr/sbin/"
	DOM0_BINS+=("$R/usr/bin/qemu-img" "$R/usr/sbin/dmsetup")
	# the engine alone in dom0, next to OpenSSL there (the build's
	# tools/cow-bench; libcrypto and liburing as the daemon's)
	if [ -n "$XE_BUILD" ] && [ -x "$XE_BUILD/tools/cow-bench" ]; then
		install -m 0755 "$XE_BUILD/tools/cow-bench" "$R/usr/bin/cow-bench"
		DOM0_BINS+=("$R/usr/bin/cow-bench")
	fi
fi
copy_libs "$R" "${DOM0_BINS[@]}"
if [ $LIBS = ldd ]; then
	# glibc dlopen()s libgcc_s for pthread_cancel (xl aborts without it)
	cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$R/lib/x86_64-linux-gnu/"
else
	cp -L x/usr/lib/x86_64-linux-gnu/libgcc_s.so.1 "$R/usr/lib/x86_64-linux-gnu/"
fi

# the project's package, when one is given: its files where dpkg puts them
# (the daemon, the CLI, the worker in pkglibexecdir, the hook in
# /etc/xen/scripts, the unit and the man pages), and what its programs link
if [ -n "$XE_DEB" ]; then
	[ -f "$XE_DEB" ] || die "XE_DEB=$XE_DEB: no such package"
	# through a tar that keeps dom0's directory symlinks: unpacked
	# straight into a merged-/usr root (4.20), the package's ./lib/
	# replaced the lib -> usr/lib link and took /lib/modules with it
	rm -rf deb-root && mkdir deb-root
	dpkg-deb -x "$XE_DEB" deb-root
	tar -C deb-root -cf - . | tar -C "$R" --keep-directory-symlink -xf -
	rm -rf deb-root
	if [ $MERGED = 1 ]; then
		for l in bin sbin lib lib64; do
			[ -L "$R/$l" ] || die "installing $XE_DEB replaced dom0's /$l symlink"
		done
	fi
	n=0
	for f in "$R"/usr/sbin/xen-ephemerald "$R"/usr/bin/xen-ephemeral \
		"$R"/usr/libexec/xen-ephemeral/xen-ephemeral-worker; do
		[ -x "$f" ] && is_elf "$f" || die "$XE_DEB has no ${f#"$R"}"
		if list_libs "$f" | grep -q libxenctrl; then
			die "${f#"$R"} needs libxenctrl"
		fi
		copy_libs "$R" "$f"
		log "installed ${f#"$R"} from $(basename "$XE_DEB") ($(list_libs "$f" | sed 's|.*/||' | tr '\n' ' '))"
	done
	[ -x "$R/etc/xen/scripts/xen-ephemeral" ] || die "$XE_DEB has no /etc/xen/scripts/xen-ephemeral"
	log "installed $(basename "$XE_DEB"): $(dpkg-deb -c "$XE_DEB" | awk '$6 !~ /\/$/ {print $6}' | grep -v '^./usr/share/doc' | tr '\n' ' ')"
	echo 2 > "$R/xe/have-xe-binaries"
# the project's binaries, when a build dir is given
elif [ -n "$XE_BUILD" ]; then
	XE_BUILD=$(cd "$XE_BUILD" && pwd)
	n=0
	for b in daemon/xen-ephemerald tools/xen-ephemeral; do
		f=$XE_BUILD/$b
		# libtool wrappers keep the real binary in .libs/
		[ -x "$XE_BUILD/$(dirname $b)/.libs/$(basename $b)" ] && f=$XE_BUILD/$(dirname $b)/.libs/$(basename $b)
		if [ -x "$f" ] && is_elf "$f"; then
			# Only libxengnttab, libxenevtchn, libxenstore and libcrypto:
			# never libxenctrl, whose soname changes with each Xen release.
			if list_libs "$f" | grep -q libxenctrl; then
				die "$f needs libxenctrl ($(readelf -d "$f" | grep NEEDED | tr -s ' ' | cut -d' ' -f6 | tr '\n' ' '))"
			fi
			install -m 0755 "$f" "$R/usr/sbin/$(basename $b)"
			copy_libs "$R" "$f"
			n=$((n + 1))
			log "installed $(basename $b) from $f ($(list_libs "$f" | sed 's|.*/||' | tr '\n' ' '))"
		else
			log "no $b in $XE_BUILD (ephemeral scenarios will SKIP)"
		fi
	done
	# each guest's worker (since 329d3f7), where the daemon looks for it by
	# default (its --help says: configure's pkglibexecdir)
	w=$XE_BUILD/daemon/xen-ephemeral-worker
	if [ -x "$w" ] && [ -x "$R/usr/sbin/xen-ephemerald" ]; then
		wp=$("$R/usr/sbin/xen-ephemerald" --help 2>&1 | tr -s ' \n' ' ' |
			sed -n 's|.*--worker PATH .*(default \(/[^ )]*\)).*|\1|p')
		[ -n "$wp" ] || die "cannot find the worker's default path in xen-ephemerald --help"
		install -D -m 0755 "$w" "$R$wp"
		copy_libs "$R" "$w"
		log "installed the worker $wp from $w ($(list_libs "$w" | sed 's|.*/||' | tr '\n' ' '))"
	fi
	# libxl's hotplug script for backendtype=tap disks (script=xen-ephemeral)
	hook=$HERE/../../tools/xen-ephemeral-hook.sh
	if [ -f "$hook" ]; then
		install -m 0755 "$hook" "$R/etc/xen/scripts/xen-ephemeral"
		log "installed the hook /etc/xen/scripts/xen-ephemeral from $(cd "$(dirname "$hook")" && pwd)/$(basename "$hook")"
	fi
	echo "$n" > "$R/xe/have-xe-binaries"
fi

# XE_FAKE_EPHEMERAL=1: leaky shell stand-ins for the daemon and the CLI,
# to test the lab itself (the ephemeral scenarios must FAIL their scans)
if [ "${XE_FAKE_EPHEMERAL:-0}" = 1 ]; then
	install -m 0755 "$HERE/fake/xen-ephemerald" "$HERE/fake/xen-ephemeral" "$R/usr/sbin/"
	log "installed the LEAKY stand-ins from tests/xen/fake (XE_FAKE_EPHEMERAL=1)"
fi
install -m 0755 bin/scan-markers "$R/usr/bin/scan-markers"
install -m 0755 bin/notify-wait "$R/usr/bin/notify-wait"
cp vmlinuz "$R/boot/domu-vmlinuz"
cp domu-initrd.gz "$R/boot/domu-initrd.gz"
[ $HVM = 1 ] && cp hvm-initrd.gz "$R/boot/hvm-initrd.gz"
[ -f bench-initrd.gz ] && cp bench-initrd.gz "$R/boot/bench-initrd.gz"
install -m 0755 "$HERE/phy-hook.sh" "$R/etc/xen/scripts/xe-phy"
install -m 0755 "$HERE/dom0-init.sh" "$R/init"
install -m 0644 "$HERE/dom0-lib.sh" "$R/xe/lib.sh"
echo "$XV" > "$R/xe/xen-version"
# the scenarios tagged for this Xen ("# xe-lab: xen=4.17,4.20 ...")
for f in "$HERE"/scenarios/*.sh; do
	grep -q -E "^# xe-lab:.* xen=([0-9.]*,)*$XV(,|[[:space:]]|\$)" "$f" &&
		install -m 0644 "$f" "$R/xe/scenarios/"
done
mkcpio "$R" dom0.cpio.gz 1
log "dom0 initrd $(du -h dom0.cpio.gz | cut -f1), modules: $(tr '\n' ' ' < "$R/lib/modules/load-order")"
