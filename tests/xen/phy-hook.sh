#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# phy-hook.sh - the lab's hotplug script for phy: disks (installed as
# /etc/xen/scripts/xe-phy; xl disk spec "script=/etc/xen/scripts/xe-phy").
# It does only what xen-blkback needs from Xen's bash block script: the
# device's major:minor in physical-device, and hotplug-status. The stock
# script forks so much that under TCG on a loaded host it overran libxl's
# hotplug timeout ("killing execution of /etc/xen/scripts/block add").
# Env from libxl: XENBUS_PATH (the backend directory); $1 add|remove.
case "$1" in
add)
	dev=$(xenstore-read "$XENBUS_PATH/params") || exit 1
	[ -b "$dev" ] || { xenstore-write "$XENBUS_PATH/hotplug-error" "$dev is not a block device" "$XENBUS_PATH/hotplug-status" error; exit 1; }
	xenstore-write "$XENBUS_PATH/physical-device" "$(stat -L -c '%t:%T' "$dev")" \
		"$XENBUS_PATH/physical-device-path" "$dev" \
		"$XENBUS_PATH/hotplug-status" connected
	;;
esac
exit 0
