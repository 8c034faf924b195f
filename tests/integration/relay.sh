#!/usr/bin/env bash
# The websocket relay moves 1 GiB of random data both ways without loss:
# wstool sends it through one mtunnel websocket into a UNIX socket sink
# that echoes it, and the sink's SHA-256 and the echo both equal the
# file's.  Then again into a sink that pauses 100 ms after every 8 MiB,
# which must not drop the connection.  Then once one way, with the
# client's Close right behind its last frame: the relay still delivers
# every byte to the socket before the sink sees EOF.
#
# The sink takes the place of the tunnel's control socket: the test
# removes the socket file that the tunnel listens on and binds usink at
# the same path, and the parent connects to that path.
#
# RELAY_MIB sets the data size in MiB (default 1024) for a quicker run.
#
# wsframes.sh and bench/relay.sh source this file with RELAY_HELPERS_ONLY=1
# for the helpers up to the test itself.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(cd "$MT_TESTS/../.." && pwd)
MTUNNELCTL=${MTUNNELCTL:-$ROOT/mtunnelctl}
WSTOOL=$ROOT/tests/tools/wstool
USINK=$ROOT/tests/tools/usink
TOOL_PIDS=""		# sinks and relays started here, for the exit trap

relay_cleanup()
{
	local pid

	for pid in $TOOL_PIDS; do
		kill "$pid" 2>/dev/null
	done
	mt_cleanup
}
trap relay_cleanup EXIT

# Percent-encode a query parameter value.
urlencode()
{
	local LC_ALL=C s=$1 out="" c i

	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[a-zA-Z0-9.~_-])
			out+=$c
			;;
		*)
			printf -v c '%%%02X' "'$c"
			out+=$c
			;;
		esac
	done
	printf '%s\n' "$out"
}

# json_string FILE KEY: the string value of KEY in a flat JSON reply.
json_string()
{
	sed -n 's/.*"'"$2"'" *: *"\([^"]*\)".*/\1/p' "$1" | sed 's#\\/#/#g'
}

sha256_stdin()
{
	openssl dgst -sha256 -r | cut -d' ' -f1
}

relay_tools_check()
{
	if [ ! -x "$WSTOOL" ] || [ ! -x "$USINK" ]; then
		mt_fail "$WSTOOL or $USINK not found: run" \
		    "'make tests/tools/wstool tests/tools/usink'"
	fi
	[ -x "$MTUNNELCTL" ] ||
	    mt_fail "$MTUNNELCTL not found: run 'make mtunnelctl'"
}

# Create mig@pve with token t1 and the Administrator role on /; set
# MT_TOKEN to the Authorization header value.
mtunnel_users()
{
	local out

	"$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" user add mig@pve \
	    2>/dev/null || mt_fail "mtunnelctl user add mig@pve failed"
	out=$("$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" token add \
	    'mig@pve!t1' --privsep 0 2>/dev/null) ||
	    mt_fail "mtunnelctl token add mig@pve!t1 failed"
	MT_TOKEN=$(printf '%s\n' "$out" | grep -o '^PVEAPIToken=[^[:space:]]*')
	[ -n "$MT_TOKEN" ] ||
	    mt_fail "no PVEAPIToken=... line from token add: '$out'"
	"$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" acl set / Administrator \
	    mig@pve 2>/dev/null ||
	    mt_fail "mtunnelctl acl set / Administrator mig@pve failed"
}

# Config, users, daemon with 2 api workers; sets FP to the certificate's
# SHA-256 fingerprint as mtunnelctl prints it.
mtunnel_daemon()
{
	mt_config "$@"
	mtunnel_users
	mt_start 2
	FP=$("$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" cert fingerprint) ||
	    mt_fail "mtunnelctl cert fingerprint failed"
}

# mtunnel_open VMID: POST .../qemu/VMID/mtunnel and set TICKET and
# SOCKET from the reply and CTL_SOCK to the real control socket.
mtunnel_open()
{
	local vmid=$1 reply=$MT_DIR/mtunnel.$1.json code url

	url="https://127.0.0.1:$MT_PORT/api2/json/nodes/localhost/qemu/$vmid"
	code=$(curl -sS -k --max-time 10 -o "$reply" -w '%{http_code}' \
	    -H "Authorization: $MT_TOKEN" -d storages= -d bridges= \
	    "$url/mtunnel" 2>&1) ||
	    mt_fail "POST mtunnel for $vmid failed: $code"
	[ "$code" = 200 ] || mt_fail "POST mtunnel for $vmid: HTTP $code," \
	    "body: $(cat "$reply")"
	TICKET=$(json_string "$reply" ticket)
	SOCKET=$(json_string "$reply" socket)
	[ -n "$TICKET" ] ||
	    mt_fail "no ticket in the mtunnel reply: $(cat "$reply")"
	[ "$SOCKET" = "/run/qemu-server/$vmid.mtunnel" ] ||
	    mt_fail "mtunnel socket is '$SOCKET', expected" \
	    "/run/qemu-server/$vmid.mtunnel"
	CTL_SOCK=$MT_PREFIX/run/mtunneld/$vmid/$vmid.mtunnel
	mt_poll 50 test -S "$CTL_SOCK" ||
	    mt_fail "no control socket $CTL_SOCK 5 s after the mtunnel POST"
}

# The websocket URL for the control socket of VMID, after mtunnel_open.
ws_url()
{
	local q

	q="socket=$(urlencode "$SOCKET")&ticket=$(urlencode "$TICKET")"
	echo "https://127.0.0.1:$MT_PORT/api2/json/nodes/localhost/qemu/$1/mtunnelwebsocket?$q"
}

# sink_start NAME PATH ARG...: bind usink ARG... at PATH in place of
# whatever socket is there; it writes "BYTES SHA256" to $MT_DIR/sink.NAME.
sink_start()
{
	local name=$1 path=$2

	shift 2
	rm -f "$path" || mt_fail "cannot remove $path"
	"$USINK" -t 30 "$@" "$path" >"$MT_DIR/sink.$name" \
	    2>"$MT_DIR/sink.$name.err" &
	SINK_PID=$!
	TOOL_PIDS="$TOOL_PIDS $SINK_PID"
	mt_poll 50 test -S "$path" ||
	    mt_fail "usink did not bind $path: $(cat "$MT_DIR/sink.$name.err")"
}

# sink_check NAME BYTES SHA256: the last sink started exits within 10 s
# and reports BYTES and SHA256 ("-" when started with -n).
sink_check()
{
	local name=$1 want="$2 $3" got

	mt_poll 100 mt_dead "$SINK_PID" ||
	    mt_fail "sink $name still running 10 s after the client," \
	    "so the relay did not close the socket"
	wait "$SINK_PID" ||
	    mt_fail "sink $name failed: $(cat "$MT_DIR/sink.$name.err")"
	TOOL_PIDS=${TOOL_PIDS/ $SINK_PID/}
	got=$(cat "$MT_DIR/sink.$name")
	[ "$got" = "$want" ] || mt_fail "sink $name got '$got', expected" \
	    "'$want' (bytes, SHA-256)"
}

[ "${RELAY_HELPERS_ONLY:-0}" = 1 ] && return 0

RELAY_MIB=${RELAY_MIB:-1024}
WS_TIMEOUT=20		# seconds without progress before wstool gives up
RUN_TIMEOUT=120		# seconds for one transfer, then SIGTERM

# relay_run VMID WSTOOL-ARG...: open the mtunnel of VMID, pipe DATA
# through its websocket, which must end with the server's Close; sets
# ECHO_SUM to the hash of what came back.
relay_run()
{
	local vmid=$1 err=$MT_DIR/wstool.$1.err rc

	shift
	timeout "$RUN_TIMEOUT" "$WSTOOL" -C -t "$WS_TIMEOUT" -f "$FP" \
	    -H "Authorization: $MT_TOKEN" "$@" "$(ws_url "$vmid")" pipe \
	    <"$DATA" 2>"$err" | sha256_stdin >"$MT_DIR/echo.$vmid"
	rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ] || mt_fail "wstool $* for $vmid: exit status $rc:" \
	    "$(cat "$err")"
	ECHO_SUM=$(cat "$MT_DIR/echo.$vmid")
}

relay_tools_check
DATA=$MT_DIR/data
openssl rand -out "$DATA" $((RELAY_MIB * 1024 * 1024)) ||
    mt_fail "openssl rand failed"
DATA_BYTES=$(stat -c %s "$DATA")
DATA_SUM=$(sha256_stdin <"$DATA")
EMPTY_SUM=$(sha256_stdin </dev/null)
mtunnel_daemon

# Both ways, 16 KiB frames as Proxmox VE's websocket helper sends them;
# -e holds the Close until the whole echo is back.
mtunnel_open 100
sink_start 100 "$CTL_SOCK" -e
relay_run 100 -e
sink_check 100 "$DATA_BYTES" "$DATA_SUM"
[ "$ECHO_SUM" = "$DATA_SUM" ] ||
    mt_fail "echo through 100 has SHA-256 $ECHO_SUM, the data $DATA_SUM"

# Both ways into a sink that is slow part of the time, with frames of
# the largest payload the relay accepts (128 KiB).
mtunnel_open 101
sink_start 101 "$CTL_SOCK" -e -S 100ms:8
relay_run 101 -e -s 131072
sink_check 101 "$DATA_BYTES" "$DATA_SUM"
[ "$ECHO_SUM" = "$DATA_SUM" ] ||
    mt_fail "echo through 101 (slow sink) has SHA-256 $ECHO_SUM," \
    "the data $DATA_SUM"

# One way, Close straight after the last frame.
mtunnel_open 102
sink_start 102 "$CTL_SOCK"
relay_run 102
sink_check 102 "$DATA_BYTES" "$DATA_SUM"
[ "$ECHO_SUM" = "$EMPTY_SUM" ] ||
    mt_fail "wstool for 102 wrote data to stdout, but the sink sends none"

mt_alive "$MT_PID" || mt_fail "daemon exited during the relay test"
for pid in $MT_APIS; do
	mt_alive "$pid" || mt_fail "api worker $pid exited during the test"
done
rm -f "$DATA"
exit 0
