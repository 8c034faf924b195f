#!/usr/bin/env bash
# A second daemon on the prefix of a running one exits non-zero with
# "already running", and the first one keeps running.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

# check_first_running WHEN: every process of the first daemon is alive
# and the pid file still contains its parent's pid.
check_first_running()
{
	local pid

	for pid in $(mt_pids); do
		mt_alive "$pid" || mt_fail "pid $pid of the first daemon" \
		    "gone $1"
	done
	[ "$(mt_pidfile_pid)" = "$MT_PID" ] ||
	    mt_fail "pid file contains '$(cat "$(mt_pidfile)" 2>/dev/null)'" \
	    "$1, expected $MT_PID"
}

mt_config
mt_start 2

out=$(timeout 10 "$MTUNNELD" -d -v -f "$MT_CONF" -p "$MT_PREFIX" 2>&1)
rc=$?
[ "$rc" != 0 ] || mt_fail "second daemon with -d: exit status 0"
[ "$rc" != 124 ] || mt_fail "second daemon with -d: still running after 10 s"
case $out in
*"already running"*"(pid $MT_PID)"*)
	;;
*)
	mt_fail "second daemon with -d: no 'already running ... (pid" \
	    "$MT_PID)' in: $out"
	;;
esac
check_first_running "after a second start with -d"

# Without -d the message goes to syslog, so only the status is checked.
timeout 10 "$MTUNNELD" -v -f "$MT_CONF" -p "$MT_PREFIX" >/dev/null 2>&1
rc=$?
[ "$rc" != 0 ] || mt_fail "second daemon without -d: exit status 0"
[ "$rc" != 124 ] ||
    mt_fail "second daemon without -d: still running after 10 s"
check_first_running "after a second start without -d"

# The first daemon noticed nothing.
if grep -q 'stopping\|shutting down\|fatal' "$MT_LOG"; then
	mt_fail "first daemon logged a stop or an error"
fi

mt_stop || mt_fail "first daemon: exit status $? after SIGTERM"
exit 0
