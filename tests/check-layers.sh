#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The tree is the architecture (docs/architecture.md): dependencies point
# one way, daemon -> xs-glue -> backend -> cow -> crypto, all over
# platform/, with tools/ on top. This reads every #include "dir/file" in
# the product folders and fails when a file includes a header from a
# folder above its own; and when any file but platform/platform-xen.c
# includes a libxen header.
top=${top_srcdir:-${srcdir:-.}/..}
[ -d "$top/platform" ] || top=.
rank() {
	case $1 in
	platform) echo 0 ;; crypto) echo 1 ;; cow) echo 2 ;; backend) echo 3 ;;
	xs-glue) echo 4 ;; daemon) echo 5 ;; tools) echo 6 ;; *) echo -1 ;;
	esac
}
bad=0 n=0
for dir in platform crypto cow backend xs-glue daemon tools; do
	own=$(rank $dir)
	for f in "$top/$dir"/*.c "$top/$dir"/*.h; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		rel=${f#"$top"/}
		# quoted includes of our own folders
		for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z-]*\)\/.*".*/\1/p' "$f"); do
			r=$(rank "$inc")
			[ "$r" -ge 0 ] || continue
			if [ "$r" -gt "$own" ]; then
				echo "FAIL: $rel includes a header of $inc/, a folder above $dir/"
				bad=1
			fi
		done
		if [ "$rel" != platform/platform-xen.c ] &&
			grep -q -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*<xen' "$f"; then
			echo "FAIL: $rel includes a libxen header (only platform/platform-xen.c may)"
			bad=1
		fi
	done
done
[ "$n" -gt 40 ] || { echo "FAIL: only $n files found under $top: wrong tree?"; exit 1; }
[ $bad = 0 ] && echo "check-layers: $n files, every include points down"
exit $bad
