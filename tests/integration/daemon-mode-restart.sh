#!/usr/bin/env bash
# Without -d the daemon detaches and logs through syslog: it writes the
# parent's pid to the pid file, starts its children, stops on SIGTERM
# and starts again on the same prefix.  Without /dev/log the records are
# dropped, so this test checks processes only.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

# The pid file contains the pid of a live parent whose children are all up.
daemon_up()
{
	local pid

	pid=$(mt_pidfile_pid) || return 1
	mt_alive "$pid" || return 1
	[ "$(mt_title "$pid")" = "mtunneld: parent" ] || return 1
	mt_children_up "$pid" 2
}

start_daemon()
{
	local out=$MT_DIR/launch.out rc sid

	timeout 10 "$MTUNNELD" -v -f "$MT_CONF" -p "$MT_PREFIX" >"$out" 2>&1
	rc=$?
	[ "$rc" = 0 ] || mt_fail "start without -d: exit status $rc," \
	    "output: $(cat "$out")"
	mt_poll "$MT_TRIES_START" daemon_up ||
	    mt_fail "daemon not up $((MT_TRIES_START / 10)) s after start;" \
	    "pid file: '$(cat "$(mt_pidfile)" 2>/dev/null)'," \
	    "children: $(mt_children "$(mt_pidfile_pid)" | xargs)"

	# daemon(3) forks and calls setsid(): a session of its own.
	[ "$(mt_ppid "$MT_PID")" != "$$" ] ||
	    mt_fail "parent $MT_PID is still a child of the test shell"
	sid=$(ps -o sid= -p "$MT_PID" | tr -d ' ')
	[ "$sid" = "$MT_PID" ] ||
	    mt_fail "parent $MT_PID is in session $sid, not its own"
}

stop_daemon()
{
	local pids

	pids=$(mt_pids)
	kill -TERM "$MT_PID" || mt_fail "kill -TERM $MT_PID failed"
	# shellcheck disable=SC2086
	mt_wait_gone $pids || mt_fail "still running 5 s after SIGTERM:" \
	    "$(mt_alive_of $pids)"
	[ ! -e "$(mt_pidfile)" ] ||
	    mt_fail "pid file $(mt_pidfile) left after the stop"
}

mt_config
start_daemon
first=$MT_PID
stop_daemon

start_daemon
[ "$MT_PID" != "$first" ] ||
    mt_fail "restart kept parent pid $first"
stop_daemon
exit 0
