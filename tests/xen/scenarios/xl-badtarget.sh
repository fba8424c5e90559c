# SPDX-License-Identifier: GPL-2.0-or-later
# xe-lab: xen=4.20 order=60
# xl-badtarget: `xl create` of a guest whose disk the daemon cannot serve
# must fail at once, with the daemon's reason in xl's output, and leave no
# domain and no xenstore node behind. The daemon writes the reason in the
# backend's `error` node and still goes to InitWait; libxl then runs the
# hook, which fails with that reason (hotplug-error, printed by xl as
# "script: <reason>"), and tears the domain down: the daemon must reach
# Closed quickly so that no 10 s timeout is hit. Cases: a base that does
# not exist; a spec that does not parse; scratch= a regular file. Then the
# same with no daemon running at all: libxl waits its 10 s for InitWait,
# and xl create fails with nothing left.
# "At once" is what libxl's own log says: no "timed out", i.e. the daemon
# reached InitWait and, at teardown, Closed, each before libxl's 10 s
# timers. The time from the backend directory appearing (libxl builds the
# domain and unpacks the kernel before that) to xl's exit is reported:
# 1-2 s here on a quiet host, 10 s once with the host's CPU at 89 %
# pressure; the limit is 20 s, what the no-daemon case takes with two of
# libxl's timeouts.

# xe_bad_one NAME SPEC WANT [MAX_S]: one xl create that must fail; WANT is
# a fixed string that must be in the "script: " line (- for none: the
# no-daemon case, which must time out instead)
xe_bad_one() {
	local n=$1 spec=$2 want=$3 max=${4:-20} log id a b t rc reason why="" poller
	log=$XE_RUN/xl-create-$n.log
	xe_guest_cfg $n xvda:idle "$(xe_xl_disk xvda $spec)" ""
	rm -f $XE_RUN/$n.appeared
	# when the backend directory appears (the only vbd3 user now)
	(while [ -z "$(xenstore-list /local/domain/0/backend/vbd3 2>/dev/null)" ]; do sleep 0.1; done
	 xe_up > $XE_RUN/$n.appeared) &
	poller=$!
	xe_xl_create $n
	rc=$?
	b=$(xe_up)
	kill $poller 2>/dev/null
	wait $poller 2>/dev/null
	a=$(cat $XE_RUN/$n.appeared 2>/dev/null)
	t=$(awk "BEGIN {printf \"%.1f\", \"${a:-x}\" == \"x\" ? -1 : $b - ${a:-0}}")
	id=$(sed -n 's/.*Domain \([0-9][0-9]*\):.*/\1/p' $log | head -n1)
	# what xl prints without -v: everything but the debug levels
	grep -v -E '^[A-Za-z_:]+: (debug|verbose|detail)' $log > $XE_RUN/xl-output-$n.txt
	xe_block xl-output-$n cat $XE_RUN/xl-output-$n.txt
	xe_block xl-log-$n sh -c "grep -E 'hotplug|backend .*state|timed out|unable|script|remove|error' $log | grep -v -e 'xc: ' -e 'still waiting'"
	reason=$(grep -m1 'device_hotplug_child_death_cb: script: ' $log | sed 's/.*device_hotplug_child_death_cb: script: //')
	[ $rc != 0 ] || why="$why; xl create succeeded"
	grep -q 'domcreate_launch_dm: Domain [0-9]*:unable to add disk devices' $log ||
		why="$why; xl create did not fail on the disk ($(tail -n1 $XE_RUN/xl-output-$n.txt))"
	if xl list | awk 'NR > 1 {print $1}' | grep -q -x -F $n || { [ -n "$id" ] && xl list $id >/dev/null 2>&1; }; then
		why="$why; a domain is left: $(xl list | tail -n +2 | tr '\n' ';')"
		xl destroy $n 2>/dev/null
	fi
	if [ -n "$id" ] && ! xe_waitfor 10 sh -c "! xenstore-exists /local/domain/0/backend/vbd3/$id && ! xenstore-exists /local/domain/$id && ! xenstore-exists /libxl/$id"; then
		xe_block xenstore-after-$n sh -c "xenstore-ls -fp /local/domain/0/backend; xenstore-ls -f /libxl/$id"
		why="$why; nodes of domain $id left"
	fi
	if [ -n "$id" ] && pidof xen-ephemerald >/dev/null && xe_xl_status_lists $id; then
		why="$why; the daemon still lists domain $id"
	fi
	if [ "$want" = - ]; then
		grep -q "backend/vbd3/$id/51712/state wanted state 2  timed out" $log || why="$why; no InitWait timeout in libxl's log"
		[ -z "$reason" ] || why="$why; a hook ran: $reason"
		awk "BEGIN {exit !($t >= 0 && $t < $max)}" || why="$why; $t s from the backend appearing to xl's exit (limit $max s)"
		[ -n "$why" ] || xe_result $n PASS "no daemon: InitWait timed out, xl create failed $t s after the backend appeared, no domain, no nodes left"
	else
		if [ -z "$reason" ]; then
			why="$why; no 'script: ' line in xl's output"
		elif ! echo "$reason" | grep -q -F -- "$want"; then
			why="$why; '$reason' does not name '$want'"
		fi
		! grep -q 'timed out' $log || why="$why; $(grep -c 'timed out' $log) libxl timeouts"
		awk "BEGIN {exit !($t >= 0 && $t < $max)}" || why="$why; $t s from the backend appearing to xl's exit (limit $max s)"
		[ -n "$why" ] || xe_result $n PASS "failed $t s after the backend appeared, no timeout, no domain, no nodes left: $reason"
	fi
	[ -z "$why" ] || xe_result $n FAIL "${why#; }"
}

scenario_xl_badtarget() {
	xe_xl_ready xl-badtarget || return
	local r=PASS
	printf 'not a directory\n' > /scratch/xe-regular-file
	xe_bad_one xl-bad-nobase 'cow:base=/root/no-such-base.img,store=ram' /root/no-such-base.img
	xe_bad_one xl-bad-spec 'cow:base=/root/base-a.img,colour=red' colour
	xe_bad_one xl-bad-scratch 'blank:size=16M,store=xts,scratch=/scratch/xe-regular-file' /scratch/xe-regular-file
	xe_daemon_stop
	xe_bad_one xl-bad-nodaemon 'cow:base=/root/base-a.img,store=ram' - 40
	rm -f /scratch/xe-regular-file
	grep -q -E '^xl-bad-[^ ]* FAIL' $XE_RUN/results && r=FAIL
	xe_result xl-badtarget $r "bad targets fail xl create at once with the daemon's reason; no daemon: InitWait timeout; nothing left"
}
