#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# xen-ephemeral: libxl's hotplug script for ephemeral disks, installed as
# /etc/xen/scripts/xen-ephemeral and named in an xl disk line:
#
#   disk = [ 'backendtype=tap, script=xen-ephemeral, vdev=xvda,
#             target=cow:base=/dev/vg/root,store=xts,scratch=/var/tmp' ]
#
# libxl (Xen 4.19+) writes backend/vbd3/<domid>/<devid> with params =
# "aio:<target>", waits for the backend to reach InitWait, then runs
#   xen-ephemeral add|remove
# with XENBUS_PATH=backend/vbd3/<domid>/<devid> in the environment. The
# daemon (xen-ephemerald) claims only devices whose script node is this
# file, and by the time libxl calls us it has opened the disk and published
# it, or written in the device's `error` node why it could not.
#
#   add     the daemon's verdict: on success hotplug-status=connected and
#           exit 0, after copying the disk's NBD socket (an HVM guest's,
#           ephemeral-nbd-socket) into physical-device-path, which libxl
#           hands to the dom0 QEMU as nbd+unix:///?socket=<path>;
#           otherwise hotplug-error=<the daemon's reason>,
#           hotplug-status=error and exit 1, as Xen's own scripts' fatal()
#           does, so that `xl create` fails at once, printing the reason.
#   remove  nothing to undo: the daemon closes the disk (its overlay and
#           key wiped) when libxl removes the directory.
#
# POSIX sh and xenstore-read/xenstore-write only (xenstore-utils): Xen's
# bash helpers cost seconds per call on a loaded dom0, and libxl gives a
# hook 40 s.
set -u
# XE_HOOK_TEST_PATH: tests/test-hook.sh's stand-in xenstore tools.
PATH=${XE_HOOK_TEST_PATH:-/usr/sbin:/usr/bin:/sbin:/bin}

cmd=${1:-}
be=${XENBUS_PATH:-}
log() { logger -t xen-ephemeral-hook -- "$*" 2>/dev/null || true; }

fatal() {
	log "$cmd $be: $*"
	xenstore-write "$be/hotplug-error" "$*" "$be/hotplug-status" error \
		2>/dev/null
	echo "xen-ephemeral: $*" >&2
	exit 1
}

case $cmd in
add) ;;
remove) exit 0 ;;
*)
	echo "usage: $0 add|remove (run by libxl, XENBUS_PATH set)" >&2
	exit 2
	;;
esac
case $be in
backend/vbd3/*/* | /local/domain/*/backend/vbd3/*/*) ;;
*) fatal "XENBUS_PATH '$be' is not a vbd3 device (use backendtype=tap)" ;;
esac

# The daemon answers before libxl calls us (it waited for InitWait); allow
# it a little slack all the same, well inside libxl's 40 s.
i=0
while :; do
	err=$(xenstore-read "$be/error" 2>/dev/null) && fatal "$err"
	if xenstore-read "$be/sectors" >/dev/null 2>&1; then
		if nbd=$(xenstore-read "$be/ephemeral-nbd-socket" 2>/dev/null); then
			xenstore-write "$be/physical-device-path" "$nbd" ||
				fatal "cannot write $be/physical-device-path"
		fi
		xenstore-write "$be/hotplug-status" connected ||
			fatal "cannot write $be/hotplug-status"
		exit 0
	fi
	i=$((i + 1))
	[ $i -lt "${XE_HOOK_TEST_TRIES:-100}" ] || break
	sleep 0.1
done
state=$(xenstore-read "$be/state" 2>/dev/null) || state=none
fatal "xen-ephemerald did not take $be (state $state): is it running, with this script as its --hook?"
