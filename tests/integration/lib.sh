# Shared helpers for the integration tests.  Source it from a test script
# run by bash as root.  It gives each test a temporary prefix and config,
# starts and stops the daemon, and kills what is left on exit.
#
# Globals a test reads after mt_start or mt_collect:
#   MT_DIR      temporary directory of this test
#   MT_PREFIX   state and run directories (-p)
#   MT_CONF     config file (-f)
#   MT_LOG      stderr of the last daemon started with mt_start
#   MT_PID      parent pid
#   MT_PORT     listening port from the log (mt_start only)
#   MT_PRIV     priv pid
#   MT_APIS     api worker pids, space-separated
#   MT_SPAWNER  spawner pid

MT_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${MTUNNELD:=$MT_TESTS/../../mtunneld}"
MTUNNELD=$(realpath "$MTUNNELD")

MT_TRIES_START=100	# x 0.1 s: start-up, slower on a loaded machine
MT_TRIES_STOP=50	# x 0.1 s: a stop must finish within 5 s
MT_RUNS=0
MT_KNOWN=""		# every daemon pid seen, for the exit trap
MT_PID=""
MT_PORT=""
MT_PRIV=""
MT_APIS=""
MT_SPAWNER=""

if [ -n "${MT_TEST_DIR:-}" ]; then
	MT_DIR=$MT_TEST_DIR
	MT_OWN_DIR=0
else
	MT_DIR=$(mktemp -d)
	MT_OWN_DIR=1
fi
MT_PREFIX=$MT_DIR/prefix
MT_CONF=$MT_DIR/mtunneld.conf
MT_LOG=$MT_DIR/mtunneld.0.log

# Print the message and every daemon log of this test, then exit 1.
mt_fail()
{
	local log

	echo "FAIL: $*"
	for log in "$MT_DIR"/mtunneld.*.log; do
		[ -s "$log" ] || continue
		echo "--- ${log##*/}"
		tail -n 40 "$log"
	done
	exit 1
}

# mt_poll TRIES COMMAND...: run COMMAND every 0.1 s until it succeeds.
mt_poll()
{
	local tries=$1 i

	shift
	for ((i = 0; i < tries; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# A process that exists and is not a zombie.
mt_alive()
{
	local state

	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

mt_dead()
{
	! mt_alive "$1"
}

# True when none of the pids is alive.
mt_all_dead()
{
	local pid

	for pid in "$@"; do
		mt_alive "$pid" && return 1
	done
	return 0
}

# A live process running this build of mtunneld, so that the exit trap
# never kills a reused pid.
mt_is_daemon()
{
	local exe

	mt_alive "$1" || return 1
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
	[ "${exe% (deleted)}" = "$MTUNNELD" ]
}

# mt_status PID FIELD: the value of FIELD in /proc/PID/status, tabs
# turned into spaces ("Uid" gives "999 999 999 999").
mt_status()
{
	awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print; exit }' \
	    "/proc/$1/status" 2>/dev/null
}

# The process title: the first string of its command line, because
# libbsd's setproctitle() can leave a stray '.' after the title.
mt_title()
{
	tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | head -n 1
}

mt_ppid()
{
	ps -o ppid= -p "$1" 2>/dev/null | tr -d ' '
}

mt_children()
{
	ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' '
}

mt_track()
{
	MT_KNOWN="$MT_KNOWN $*"
}

mt_pidfile()
{
	echo "$MT_PREFIX/run/mtunneld/mtunneld.pid"
}

# The pid in the pid file, or nothing while it is missing or empty.
mt_pidfile_pid()
{
	local pid

	pid=$(cat "$(mt_pidfile)" 2>/dev/null) || return 1
	case $pid in
	''|*[!0-9]*)
		return 1
		;;
	esac
	echo "$pid"
}

# mt_config [LINE...]: write MT_CONF with loopback, port 0 and the lines.
mt_config()
{
	{
		echo "# integration test config"
		echo "listen 127.0.0.1"
		echo "port 0"
		printf '%s\n' "$@"
	} >"$MT_CONF"
}

mt_count_lines()
{
	grep -c -- "$1" "$MT_LOG" 2>/dev/null
}

# The start-up lines are all in the log.
mt_log_ready()
{
	local napi=$1

	grep -q '^parent: priv ready, pid [0-9]*$' "$MT_LOG" &&
	    [ "$(mt_count_lines '^parent: api ready, pid [0-9]*$')" = "$napi" ]
}

mt_start_done()
{
	mt_log_ready "$1" || mt_dead "$MT_PID"
}

# Read port and pids from the log of a daemon started with -d -v.
mt_parse_log()
{
	MT_PORT=$(sed -n \
	    's/^parent: listening on 127\.0\.0\.1 port \([0-9]*\)$/\1/p' \
	    "$MT_LOG")
	MT_PRIV=$(sed -n 's/^parent: priv ready, pid \([0-9]*\)$/\1/p' \
	    "$MT_LOG")
	MT_APIS=$(sed -n 's/^parent: api ready, pid \([0-9]*\)$/\1/p' \
	    "$MT_LOG" | tr '\n' ' ')
	MT_APIS=${MT_APIS% }
	MT_SPAWNER=$(sed -n \
	    's/^priv\[[0-9]*\]: spawner started, pid \([0-9]*\)$/\1/p' \
	    "$MT_LOG")
	mt_track "$MT_PRIV" "$MT_APIS" "$MT_SPAWNER"

	[ -n "$MT_PORT" ] || mt_fail "no 'listening on 127.0.0.1 port N' line"
	[ -n "$MT_PRIV" ] || mt_fail "no 'priv ready, pid N' line"
	[ -n "$MT_SPAWNER" ] || mt_fail "no 'spawner started, pid N' line"
}

# mt_start NAPI [ARG...]: start the daemon in the foreground (-d -v) on
# MT_PREFIX with MT_CONF, wait until priv and NAPI api workers are ready,
# and read the port and pids from its log.
mt_start()
{
	local napi=$1

	shift
	MT_RUNS=$((MT_RUNS + 1))
	MT_LOG=$MT_DIR/mtunneld.$MT_RUNS.log
	"$MTUNNELD" -d -v -f "$MT_CONF" -p "$MT_PREFIX" "$@" 2>"$MT_LOG" &
	MT_PID=$!
	mt_track "$MT_PID"

	mt_poll "$MT_TRIES_START" mt_start_done "$napi" ||
	    mt_fail "daemon pid $MT_PID not ready after" \
	    "$((MT_TRIES_START / 10)) s"
	mt_alive "$MT_PID" || mt_fail "daemon exited during start-up"
	mt_parse_log
}

# Everything of the last daemon started, parent first.
mt_pids()
{
	echo "$MT_PID $MT_PRIV $MT_APIS $MT_SPAWNER"
}

# mt_alive_of PID...: print the pids that are alive.
mt_alive_of()
{
	local pid

	for pid in "$@"; do
		mt_alive "$pid" && echo "$pid"
	done
}

# mt_wait_gone PID...: wait up to 5 s until none of them is alive.
mt_wait_gone()
{
	mt_poll "$MT_TRIES_STOP" mt_all_dead "$@"
}

# Send SIGTERM to a daemon started by mt_start, check that all of its
# processes are gone within 5 s, and return the parent's exit status.
mt_stop()
{
	local pids rc

	pids=$(mt_pids)
	kill -TERM "$MT_PID" || mt_fail "kill -TERM $MT_PID failed"
	# shellcheck disable=SC2086
	mt_wait_gone $pids || mt_fail "still running 5 s after SIGTERM:" \
	    "$(mt_alive_of $pids)"
	wait "$MT_PID"
	rc=$?
	return "$rc"
}

# mt_kill_child SIGNAL PID ROLE: kill one child of a daemon started by
# mt_start with the signal number.  The parent must log the loss, stop
# every process within 5 s, remove the pid file and exit non-zero.  Sets
# MT_LOSS_LINE to the parent's log line about the loss.
mt_kill_child()
{
	local sig=$1 pid=$2 role=$3 pids rc

	pids=$(mt_pids)
	kill -"$sig" "$pid" || mt_fail "kill -$sig $pid failed"
	# shellcheck disable=SC2086
	mt_wait_gone $pids || mt_fail "still running 5 s after" \
	    "${role}[$pid] got signal $sig: $(mt_alive_of $pids)"
	wait "$MT_PID"
	rc=$?
	[ "$rc" != 0 ] || mt_fail "parent exit status 0 after losing $role"
	[ ! -e "$(mt_pidfile)" ] ||
	    mt_fail "pid file $(mt_pidfile) left after losing $role"

	MT_LOSS_LINE=$(grep -F "parent: ${role}[$pid] killed by signal $sig " \
	    "$MT_LOG")
	[ -n "$MT_LOSS_LINE" ] ||
	    mt_fail "no '${role}[$pid] killed by signal $sig' line in the log"
	case $MT_LOSS_LINE in
	*"; shutting down")
		;;
	*)
		mt_fail "the loss of $role does not end in a shutdown:" \
		    "$MT_LOSS_LINE"
		;;
	esac
}

# mt_collect PARENT: set MT_PID, MT_PRIV, MT_APIS and MT_SPAWNER from the
# process list, for a daemon that logs to syslog.
mt_collect()
{
	local pid title

	MT_PID=$1
	MT_PRIV=""
	MT_APIS=""
	MT_SPAWNER=""
	for pid in $(mt_children "$MT_PID"); do
		title=$(mt_title "$pid")
		case $title in
		"mtunneld: priv")
			MT_PRIV=$pid
			;;
		"mtunneld: api")
			MT_APIS="$MT_APIS $pid"
			;;
		esac
	done
	MT_APIS=${MT_APIS# }
	if [ -n "$MT_PRIV" ]; then
		for pid in $(mt_children "$MT_PRIV"); do
			[ "$(mt_title "$pid")" = "mtunneld: spawner" ] &&
			    MT_SPAWNER=$pid
		done
	fi
	mt_track "$MT_PID" "$MT_PRIV" "$MT_APIS" "$MT_SPAWNER"
}

# Priv, NAPI api workers and the spawner are up, each filter in place.
mt_children_up()
{
	local napi=$2 pid n=0

	mt_collect "$1"
	[ -n "$MT_PRIV" ] && [ -n "$MT_SPAWNER" ] || return 1
	[ "$(mt_status "$MT_PRIV" Seccomp)" = 2 ] || return 1
	for pid in $MT_APIS; do
		[ "$(mt_status "$pid" Seccomp)" = 2 ] || return 1
		n=$((n + 1))
	done
	[ "$n" = "$napi" ]
}

# Every pid this test has seen, the pid file's and their descendants.
mt_leftovers()
{
	local pids pid

	pids="$MT_KNOWN $(mt_pidfile_pid)"
	for pid in $pids; do
		mt_alive "$pid" && echo "$pid" && mt_children "$pid"
	done | while read -r pid; do
		mt_alive "$pid" && echo "$pid" && mt_children "$pid"
	done | sort -u
}

mt_cleanup()
{
	local pid

	# Bash prints a notice on stderr when it reaps a killed background
	# job.  Here that is noise, so the loop and the wait drop stderr.
	{
		for pid in $(mt_leftovers); do
			mt_is_daemon "$pid" && kill -KILL "$pid"
		done
		[ -n "$MT_PID" ] && wait "$MT_PID"
	} 2>/dev/null
	if [ "$MT_OWN_DIR" = 1 ]; then
		rm -rf "$MT_DIR"
	else
		rm -rf "$MT_PREFIX"
	fi
}

trap mt_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || mt_fail "must run as root"
[ -x "$MTUNNELD" ] || mt_fail "$MTUNNELD not found: run 'make mtunneld'"
