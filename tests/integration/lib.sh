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

# The process title: the first string of its command line.  libbsd's
# setproctitle() marks the end of a title written into a longer argument
# area with a '.' or a ' ', so that the kernel shows it whole.  This
# function cuts that marker.
mt_title()
{
	tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | head -n 1 |
	    sed 's/ *[ .]$//'
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

# ---------------------------------------------------------------------
# HTTPS API helpers: users and tokens through mtunnelctl, requests with
# curl(1) that verifies the daemon's own certificate, JSON through jq(1),
# websockets through tests/tools/wstool.  Call mt_api_init first; it
# also sets the exit trap to mt_api_cleanup.
#
# Globals, besides those above:
#   MT_CONFDIR   config directory (user.cfg, storage.cfg, qemu-server/)
#   MT_RUNDIR    run directory (pid file, per-VMID socket directories)
#   MT_CERT      the daemon's certificate, for curl --cacert
#   MT_URL       https://127.0.0.1:PORT/api2/json (mt_api_start)
#   MT_FP        the certificate's SHA-256 fingerprint from the log
#   MT_NODE      the node name from the log
#   MT_AUTH      Authorization header that mt_curl and mt_ws_lines send;
#                mt_token sets it, empty sends none
#   MT_CODE MT_REASON MT_CTYPE MT_TIME MT_HTTPVER MT_BODY
#                status code, reason phrase, Content-Type, seconds,
#                HTTP version and body file of the last mt_curl

: "${MTUNNELCTL:=$MT_TESTS/../../mtunnelctl}"
: "${MT_WSTOOL:=$MT_TESTS/../tools/wstool}"
MT_CONFDIR=$MT_PREFIX/etc/mtunneld
MT_RUNDIR=$MT_PREFIX/run/mtunneld
MT_CERT=$MT_PREFIX/var/lib/mtunneld/cert.pem
MT_URL=""
MT_FP=""
MT_NODE=""
MT_AUTH=""
MT_BG=""		# background clients started here, for the exit trap

mt_api_cleanup()
{
	local pid

	for pid in $MT_BG; do
		kill "$pid" 2>/dev/null
	done
	mt_cleanup
}

# Check the tools the API tests use, set the exit trap, write a first
# config (mtunnelctl reads it) and create the config directory.
mt_api_init()
{
	local tool

	for tool in curl jq openssl socat flock; do
		command -v "$tool" >/dev/null ||
		    mt_fail "$tool not found: run 'make deps'"
	done
	[ -x "$MTUNNELCTL" ] ||
	    mt_fail "$MTUNNELCTL not found: run 'make mtunnelctl'"
	[ -x "$MT_WSTOOL" ] ||
	    mt_fail "$MT_WSTOOL not found: run 'make tests/tools/wstool'"
	trap mt_api_cleanup EXIT
	mt_config
	mkdir -p "$MT_CONFDIR/qemu-server" || mt_fail "mkdir $MT_CONFDIR failed"
}

mt_bg_track()
{
	MT_BG="$MT_BG $*"
}

# mt_ctl ARG...: run mtunnelctl on the test prefix and fail on an error.
# Output is in $MT_DIR/ctl.out and ctl.err.  When the daemon runs,
# mtunnelctl sends it SIGHUP; then this waits until the reload is done.
mt_ctl()
{
	local before

	before=$(mt_count_lines 'token snapshot of ')
	"$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" "$@" >"$MT_DIR/ctl.out" \
	    2>"$MT_DIR/ctl.err" ||
	    mt_fail "mtunnelctl $* failed: $(cat "$MT_DIR/ctl.err")"
	if grep -q 'sent SIGHUP' "$MT_DIR/ctl.err"; then
		mt_reload_wait "${before:-0}"
	fi
}

# mt_reload_wait BEFORE: wait up to 5 s until every api worker has taken
# a new token snapshot, BEFORE being the count of such lines until then.
mt_reload_wait()
{
	local napi want

	napi=$(wc -w <<<"$MT_APIS")
	want=$(($1 + napi))
	mt_poll 50 mt_snapshots_reach "$want" ||
	    mt_fail "the api workers took no new token snapshot within 5 s" \
	    "of a reload"
}

mt_snapshots_reach()
{
	[ "$(mt_count_lines 'token snapshot of ')" -ge "$1" ]
}

# Send SIGHUP to the daemon and wait until the reload reached the api.
mt_hup()
{
	local before

	before=$(mt_count_lines 'token snapshot of ')
	kill -HUP "$MT_PID" || mt_fail "kill -HUP $MT_PID failed"
	mt_reload_wait "${before:-0}"
}

mt_user_exists()
{
	awk -F: -v u="$1" '$1 == "user" && $2 == u { f = 1 } END { exit !f }' \
	    "$MT_CONFDIR/user.cfg" 2>/dev/null
}

# mt_token TOKENID [ROLE [PRIVSEP]]: add the token (privilege separation
# PRIVSEP, default 0), its user first if missing, and ROLE on / for the
# user if given.  Sets MT_AUTH to the token's Authorization value.
mt_token()
{
	local tokenid=$1 role=${2:-} privsep=${3:-0} userid=${1%%!*} out

	mt_user_exists "$userid" || mt_ctl user add "$userid"
	mt_ctl token add "$tokenid" --privsep "$privsep"
	out=$(cat "$MT_DIR/ctl.out")
	case $out in
	"PVEAPIToken=$tokenid="?*)
		;;
	*)
		mt_fail "token add $tokenid printed '$out', expected" \
		    "PVEAPIToken=$tokenid=SECRET"
		;;
	esac
	MT_AUTH=$out
	[ -z "$role" ] || mt_ctl acl set / "$role" "$userid"
}

# mt_storages: storage.cfg with three dir storages: vmstore (images),
# isostore (iso only) and offstore (images, disabled).
mt_storages()
{
	local s t=$'\t'

	for s in vmstore isostore offstore; do
		mkdir -p "$MT_DIR/$s" || mt_fail "mkdir $MT_DIR/$s failed"
	done
	# Property lines start with a tab; a blank line ends a section.
	printf '%s\n' \
	    "dir: vmstore" "${t}path $MT_DIR/vmstore" "${t}content images" "" \
	    "dir: isostore" "${t}path $MT_DIR/isostore" "${t}content iso" "" \
	    "dir: offstore" "${t}disable" "${t}path $MT_DIR/offstore" \
	    "${t}content images" "" >"$MT_CONFDIR/storage.cfg" ||
	    mt_fail "cannot write $MT_CONFDIR/storage.cfg"
}

# mt_api_start [LINE...]: write the config with the lines, start the
# daemon with 2 api workers, and set MT_URL, MT_FP and MT_NODE.
mt_api_start()
{
	mt_config "$@"
	mt_start 2
	MT_URL="https://127.0.0.1:$MT_PORT/api2/json"
	MT_FP=$(sed -n \
	    's/^parent: TLS certificate .*, fingerprint \([0-9A-F:]*\)$/\1/p' \
	    "$MT_LOG")
	MT_NODE=$(sed -n 's/^parent: starting, version .*, node \(.*\)$/\1/p' \
	    "$MT_LOG")
	[ -n "$MT_FP" ] || mt_fail "no 'TLS certificate ..., fingerprint" \
	    "AA:..' line in the log"
	[ -n "$MT_NODE" ] || mt_fail "no 'starting, version V, node NAME'" \
	    "line in the log"
	[ -s "$MT_CERT" ] || mt_fail "no certificate at $MT_CERT"
}

# Percent-encode one query or path value.
mt_uri()
{
	jq -rn --arg v "$1" '$v | @uri'
}

# mt_curl METHOD PATH [CURL-ARG...]: one request with MT_AUTH (if set),
# verifying the daemon's certificate.  PATH is below /api2/json/ unless
# it starts with '/' (below the port) or 'https://'.  Sets MT_CODE
# ("000" when no HTTP response came), MT_REASON, MT_CTYPE, MT_TIME,
# MT_HTTPVER and MT_BODY.  MT_OUT, if set, names the files to use
# instead of $MT_DIR/curl.*, so that clients can run in the background
# and mt_curl_read reads their result later.
mt_curl()
{
	local method=$1 path=$2 out=${MT_OUT:-$MT_DIR/curl} url
	local -a args

	shift 2
	case $path in
	https://*)
		url=$path
		;;
	/*)
		url="https://127.0.0.1:$MT_PORT$path"
		;;
	*)
		url="$MT_URL/$path"
		;;
	esac
	args=(-sS --max-time 15 --cacert "$MT_CERT" -X "$method"
	    -o "$out.body" -D "$out.head"
	    -w '%{http_code} %{time_total} %{http_version} %{content_type}')
	[ -z "$MT_AUTH" ] || args+=(-H "Authorization: $MT_AUTH")
	: >"$out.body"
	: >"$out.head"
	curl "${args[@]}" "$@" "$url" >"$out.meta" 2>"$out.err"
	mt_curl_read "$out"
}

# mt_curl_read FILES: the result of an mt_curl whose MT_OUT was FILES.
mt_curl_read()
{
	local rest

	read -r MT_CODE MT_TIME MT_HTTPVER MT_CTYPE rest <"$1.meta"
	: "${MT_CODE:=000}"
	MT_REASON=$(head -n 1 "$1.head" | tr -d '\r' |
	    sed 's/^HTTP\/[0-9.]* [0-9]* \{0,1\}//')
	MT_BODY=$1.body
}

# mt_expect CODE WHAT: the last mt_curl got status CODE.
mt_expect()
{
	[ "$MT_CODE" = "$1" ] || mt_fail "$2: HTTP $MT_CODE '$MT_REASON'," \
	    "expected $1; body: $(head -c 2000 "$MT_BODY")" \
	    "$(cat "${MT_BODY%.body}.err" 2>/dev/null)"
}

# mt_jq FILTER [JQ-ARG...]: FILTER on the last body, raw output.
mt_jq()
{
	local filter=$1

	shift
	jq -r "$@" "$filter" <"$MT_BODY" 2>/dev/null
}

# mt_expect_json FILTER VALUE WHAT: FILTER on the last body gives VALUE.
mt_expect_json()
{
	local got

	got=$(mt_jq "$1")
	[ "$got" = "$2" ] || mt_fail "$3: $1 is '$got', expected '$2';" \
	    "body: $(head -c 2000 "$MT_BODY")"
}

# mt_post_mtunnel VMID [CURL-ARG...]: POST .../qemu/VMID/mtunnel with the
# form the arguments give, by default empty storages and bridges.
mt_post_mtunnel()
{
	local vmid=$1

	shift
	[ $# -gt 0 ] || set -- -d storages= -d bridges=
	mt_curl POST "nodes/localhost/qemu/$vmid/mtunnel" "$@"
}

# mt_ws_url VMID SOCKET TICKET: the websocket endpoint's URL.
mt_ws_url()
{
	printf '%s/nodes/localhost/qemu/%s/mtunnelwebsocket' "$MT_URL" "$1"
	printf '?socket=%s&ticket=%s\n' "$(mt_uri "$2")" "$(mt_uri "$3")"
}

# mt_ws_upgrade VMID SOCKET TICKET: an upgrade request through curl, for
# upgrades that must be rejected; sets what mt_curl sets.  A 101 would
# leave curl waiting, so it gives up after 5 s.
mt_ws_upgrade()
{
	mt_curl GET "$(mt_ws_url "$1" "$2" "$3")" --max-time 5 \
	    -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	    -H 'Sec-WebSocket-Version: 13' \
	    -H 'Sec-WebSocket-Key: bXR1bm5lbGQgdGVzdCBrZXk='
}

# mt_ws_lines VMID SOCKET TICKET: open the websocket with wstool, send
# each stdin line and read one reply line per request, then close.  Sets
# MT_WS_RC and MT_LINES (the replies); stderr is in $MT_DIR/ws.err.
# Give stdin as a here-string: a pipe would run this in a subshell.
mt_ws_lines()
{
	timeout 30 "$MT_WSTOOL" -C -t 10 -f "$MT_FP" \
	    -H "Authorization: $MT_AUTH" "$(mt_ws_url "$1" "$2" "$3")" lines \
	    >"$MT_DIR/ws.out" 2>"$MT_DIR/ws.err"
	MT_WS_RC=$?
	MT_LINES=$(cat "$MT_DIR/ws.out")
}

# mt_task_status UPID: GET its status; sets MT_TASK_STATE and
# MT_TASK_EXIT (empty while running).
mt_task_status()
{
	mt_curl GET "nodes/localhost/tasks/$(mt_uri "$1")/status"
	mt_expect 200 "GET the status of task $1"
	MT_TASK_STATE=$(mt_jq .data.status)
	MT_TASK_EXIT=$(mt_jq '.data.exitstatus // empty')
}

mt_task_stopped()
{
	mt_task_status "$1"
	[ "$MT_TASK_STATE" = stopped ]
}

# mt_wait_task_stopped UPID: wait up to 5 s for the task to stop.
mt_wait_task_stopped()
{
	mt_poll 50 mt_task_stopped "$1" || mt_fail "task $1 is still" \
	    "'$MT_TASK_STATE' 5 s after its tunnel should have ended"
}

# The placeholder config and the socket directory of VMID are gone.
mt_vmid_clean()
{
	[ ! -e "$MT_CONFDIR/qemu-server/$1.conf" ] && [ ! -e "$MT_RUNDIR/$1" ]
}

# mt_wait_vmid_clean VMID: wait up to 5 s for mt_vmid_clean.
mt_wait_vmid_clean()
{
	mt_poll 50 mt_vmid_clean "$1" && return 0
	[ ! -e "$MT_CONFDIR/qemu-server/$1.conf" ] || mt_fail "config" \
	    "$MT_CONFDIR/qemu-server/$1.conf still there 5 s after the" \
	    "tunnel ended: $(cat "$MT_CONFDIR/qemu-server/$1.conf")"
	mt_fail "socket directory $MT_RUNDIR/$1 still there 5 s after the" \
	    "tunnel ended: $(ls -la "$MT_RUNDIR/$1" 2>&1)"
}

# mt_vmid_state VMID: the config and the socket directory of VMID as
# they are on disk, to compare before and after a rejected call.
mt_vmid_state()
{
	local conf=$MT_CONFDIR/qemu-server/$1.conf

	if [ -e "$conf" ]; then
		echo "config $(stat -c '%s %Y' "$conf") $(sha256sum <"$conf")"
	else
		echo "no config"
	fi
	if [ -e "$MT_RUNDIR/$1" ]; then
		echo "socket directory: $(ls -A "$MT_RUNDIR/$1" 2>&1)"
	else
		echo "no socket directory"
	fi
}

# mt_tunnel_pid VMID: the pid of the last tunnel started for VMID.
mt_tunnel_pid()
{
	local pattern="^parent: tunnel for vmid $1 started for '.*', pid"

	sed -n "s/$pattern \([0-9]*\), .*/\1/p" "$MT_LOG" | tail -n 1
}

# mt_unix_lines VMID: send stdin to the control socket of VMID directly,
# as the parent does after a valid ticket, and set MT_LINES to what comes
# back.  Fails unless the connection ends within 10 s.  Give stdin as a
# here-string.
mt_unix_lines()
{
	timeout 10 socat -t 5 - "UNIX-CONNECT:$MT_RUNDIR/$1/$1.mtunnel" \
	    >"$MT_DIR/socat.out" 2>"$MT_DIR/socat.err" ||
	    mt_fail "control socket of $1: socat failed:" \
	    "$(cat "$MT_DIR/socat.err")"
	MT_LINES=$(cat "$MT_DIR/socat.out")
}

#
# The control websocket of a migration, as a source drives it.  WS_TIMEOUT
# and REPLY_TIMEOUT (seconds) may be set before use.
#
: "${WS_TIMEOUT:=20}"
: "${REPLY_TIMEOUT:=15}"
: "${QUERY_TRIES:=50}"	# query-disk-import polls, 0.2 s apart

# open_tunnel VMID: POST mtunnel for VMID with the test storage; sets
# UPID, TICKET and SOCKET.
open_tunnel()
{
	local vmid=$1

	mt_post_mtunnel "$vmid" -d "storages=${STORE:-vmstore}" -d bridges=
	mt_expect 200 "POST mtunnel for $vmid"
	UPID=$(mt_jq .data.upid)
	TICKET=$(mt_jq .data.ticket)
	SOCKET=$(mt_jq .data.socket)
	[ -n "$UPID" ] && [ -n "$TICKET" ] ||
	    mt_fail "no upid or ticket in the mtunnel reply: $(cat "$MT_BODY")"
	[ "$SOCKET" = "/run/qemu-server/$vmid.mtunnel" ] || mt_fail "socket" \
	    "is '$SOCKET', expected /run/qemu-server/$vmid.mtunnel"
}

# ctl_open VMID: start wstool in lines mode on the control websocket as
# a coprocess, so that each request can use values of earlier replies.
ctl_open()
{
	local url

	url=$(mt_ws_url "$1" "$SOCKET" "$TICKET")
	CTL_ERR=$MT_DIR/ctl.$1.err
	coproc CTL {
		exec timeout 50 "$MT_WSTOOL" -C -t "$WS_TIMEOUT" -f "$MT_FP" \
		    -H "Authorization: $MT_AUTH" "$url" lines 2>"$CTL_ERR"
	}
	CTL_IN=${CTL[1]}
	CTL_OUT=${CTL[0]}
	mt_bg_track "$CTL_PID"
}

# ctl_send JSON: send one request line and set REPLY to the reply line.
ctl_send()
{
	printf '%s\n' "$1" >&"$CTL_IN" ||
	    mt_fail "cannot send $1 to wstool: $(cat "$CTL_ERR")"
	REPLY=""
	read -r -t "$REPLY_TIMEOUT" REPLY <&"$CTL_OUT" ||
	    mt_fail "no reply to $1 within $REPLY_TIMEOUT s;" \
	    "wstool: $(cat "$CTL_ERR")"
}

# ctl_ok JSON: send the request; its reply must have success true.
ctl_ok()
{
	ctl_send "$1"
	[ "$(jq -r .success <<<"$REPLY" 2>/dev/null)" = true ] ||
	    mt_fail "$1 replied '$REPLY', expected success true"
}

# reply_field FILTER: FILTER on the last reply, raw output.
reply_field()
{
	jq -r "$1" <<<"$REPLY" 2>/dev/null
}

# ctl_close: end wstool's input, so that it sends a Close frame, and
# wait for it to exit with status 0.
ctl_close()
{
	local pid=$CTL_PID rc

	exec {CTL_IN}>&-
	wait "$pid"
	rc=$?
	[ "$rc" = 0 ] || mt_fail "wstool on the control websocket exited" \
	    "with status $rc: $(cat "$CTL_ERR")"
}

# le64 N: N as 8 bytes, little-endian, the raw+size stream header.
le64()
{
	local n=$1 i

	for ((i = 0; i < 8; i++)); do
		# shellcheck disable=SC2059
		printf "\\x$(printf %02x $(((n >> (8 * i)) & 255)))"
	done
}

# import_send VMID PATH TICKET: send DATA (DATA_BYTES bytes) as a raw+size
# stream over a new websocket to the import socket PATH, then poll
# query-disk-import until it is no longer pending.  Fails unless the
# import completed.  Its last reply is in REPLY.
import_send()
{
	local vmid=$1 path=$2 url rc i status

	url=$(mt_ws_url "$vmid" "$path" "$3")
	{ le64 "$DATA_BYTES"; cat "$DATA"; } |
	    timeout 30 "$MT_WSTOOL" -C -t "$WS_TIMEOUT" -f "$MT_FP" \
	    -H "Authorization: $MT_AUTH" "$url" pipe \
	    >"$MT_DIR/import.$vmid.out" 2>"$MT_DIR/import.$vmid.err"
	rc=${PIPESTATUS[1]}
	[ "$rc" = 0 ] || mt_fail "wstool on the import websocket of $vmid" \
	    "exited with status $rc: $(cat "$MT_DIR/import.$vmid.err")"

	for ((i = 0; i < QUERY_TRIES; i++)); do
		ctl_ok '{"cmd":"query-disk-import"}'
		status=$(reply_field .status)
		[ "$status" = pending ] || break
		sleep 0.2
	done
	[ "$status" = complete ] || mt_fail "query-disk-import for $vmid" \
	    "replied '$REPLY' after $i polls, expected status complete"
}
