#!/usr/bin/env bash
# SIGTERM to the parent stops every process of the daemon within 5 s.
# The parent removes the pid file, leaves no socket and exits with 0.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mt_config
mt_start 2

pidfile=$(mt_pidfile)
pids=$(mt_pids)
[ "$(mt_pidfile_pid)" = "$MT_PID" ] ||
    mt_fail "pid file $pidfile contains '$(cat "$pidfile" 2>/dev/null)'," \
    "expected the parent's pid $MT_PID"
for pid in $pids; do
	mt_alive "$pid" || mt_fail "pid $pid not running before SIGTERM"
done

mt_stop
rc=$?
[ "$rc" = 0 ] || mt_fail "parent exit status $rc after SIGTERM, expected 0"

for pid in $pids; do
	mt_dead "$pid" || mt_fail "pid $pid still running after the stop"
done
[ ! -e "$pidfile" ] || mt_fail "pid file $pidfile left after the stop"
sockets=$(find "$MT_PREFIX/run" -type s)
[ -z "$sockets" ] || mt_fail "sockets left under $MT_PREFIX/run: $sockets"
grep -q '^parent: received Terminated; stopping$' "$MT_LOG" ||
    mt_fail "no 'received Terminated; stopping' line in the log"
[ "$(tail -n 1 "$MT_LOG")" = "parent: stopped" ] ||
    mt_fail "last log line is '$(tail -n 1 "$MT_LOG")'," \
    "expected 'parent: stopped'"
exit 0
