# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.17 order=50
# eph-mq: blkfront pushed into its other paths with module options and two
# vCPUs: two queues, 4-page rings, indirect requests of up to 64 segments.
# The negotiated xenstore keys are checked, and the daemon's counters show
# that both queues and indirect requests were really used.

# Poll the daemon while the guest runs, and note the negotiated keys.
xe_mq_poll() { # NAME DOMID
	xe_status_poll "$2" $XE_RUN/mq-status.json
	local fe=/local/domain/$2/device/vbd/51712 be=/local/domain/0/backend/ephemeral/$2/51712
	echo "queues=$(xenstore-read $fe/multi-queue-num-queues 2>/dev/null) order=$(xenstore-read $fe/ring-page-order 2>/dev/null) ring-ref0=$(xenstore-read $fe/queue-0/ring-ref0 2>/dev/null) protocol=$(xenstore-read $fe/protocol 2>/dev/null) be-indirect=$(xenstore-read $be/feature-max-indirect-segments) be-queues=$(xenstore-read $be/multi-queue-max-queues) be-order=$(xenstore-read $be/max-ring-page-order)" > $XE_RUN/mq-keys
}

scenario_eph_mq() {
	xe_have_binaries || { xe_result eph-mq SKIP "no xen-ephemerald/xen-ephemeral in this build (XE_BUILD)"; return; }
	xe_daemon_start || { xe_result eph-mq FAIL "daemon did not come up"; return; }
	local r=PASS keys st q ind
	rm -f $XE_RUN/mq-status.json $XE_RUN/mq-keys
	# Set, then unset: ash may keep assignments made before a function.
	XE_EPH_VCPUS=2
	XE_EPH_EXTRA="xe_blkfront=max_queues=2:max_ring_page_order=2:max_indirect_segments=64"
	XE_EPH_WHILE=xe_mq_poll
	xe_eph_guest eph-mq store=ram || r=FAIL
	unset XE_EPH_VCPUS XE_EPH_EXTRA XE_EPH_WHILE
	keys=$(cat $XE_RUN/mq-keys 2>/dev/null)
	xe_block mq-keys echo "$keys"
	case "$keys" in
	*"queues=2 order=2 "*) xe_result eph-mq-negotiated PASS "$keys" ;;
	*) xe_result eph-mq-negotiated FAIL "wanted queues=2 order=2: $keys"; r=FAIL ;;
	esac
	st=$(grep '"devid": 51712,' $XE_RUN/mq-status.json 2>/dev/null)
	q=$(echo "$st" | sed -n 's/.*"queues": \([0-9]*\).*/\1/p')
	ind=$(echo "$st" | sed -n 's/.*"indirect_reqs": \([0-9]*\).*/\1/p')
	if [ "${q:-0}" = 2 ] && [ "${ind:-0}" -gt 0 ]; then
		xe_result eph-mq-used PASS "xvda served on $q rings, $ind indirect requests"
	else
		xe_block mq-status cat $XE_RUN/mq-status.json
		xe_result eph-mq-used FAIL "xvda: queues=${q:-?} indirect_reqs=${ind:-?}"
		r=FAIL
	fi
	xe_daemon_stop
	xe_result eph-mq $r "two queues, multi-page rings, indirect segments"
}
