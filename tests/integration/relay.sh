#!/usr/bin/env bash
# The websocket relay moves 1 GiB of random data both ways without loss.
# wstool sends it through one mtunnel websocket into a UNIX socket sink
# that echoes it, and the sink's SHA-256 and the echo both equal the
# file's.  Then again into a sink that pauses 100 ms after every 8 MiB,
# which must not drop the connection.  Then once one way, with the
# client's Close right after its last frame, so the relay must deliver
# every byte to the socket before it shuts down the socket's write side.
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

USINK=$MT_TESTS/../tools/usink

sha256_stdin()
{
	openssl dgst -sha256 -r | cut -d' ' -f1
}

# random_file PATH BYTES: write BYTES of random data to PATH, from
# openssl rand in pieces of at most 1 GiB because it takes an int count.
random_file()
{
	local left=$2 n

	: >"$1" || return 1
	while [ "$left" -gt 0 ]; do
		n=$((left < 1073741824 ? left : 1073741824))
		openssl rand "$n" >>"$1" || return 1
		left=$((left - n))
	done
}

# Check the tools, create mig@pve!t1 with the Administrator role on /
# and start the daemon with 2 api workers (see mt_api_start).
relay_daemon()
{
	mt_api_init
	[ -x "$USINK" ] ||
	    mt_fail "$USINK not found: run 'make tests/tools/usink'"
	mt_token 'mig@pve!t1' Administrator
	mt_api_start
}

# relay_open VMID: POST .../qemu/VMID/mtunnel, set TICKET and SOCKET
# from the reply, CTL_SOCK to the real control socket and WS_URL to the
# websocket URL for it.
relay_open()
{
	local vmid=$1

	mt_post_mtunnel "$vmid"
	mt_expect 200 "POST mtunnel for $vmid"
	TICKET=$(mt_jq .data.ticket)
	SOCKET=$(mt_jq .data.socket)
	[ -n "$TICKET" ] ||
	    mt_fail "no ticket in the mtunnel reply: $(cat "$MT_BODY")"
	[ "$SOCKET" = "/run/qemu-server/$vmid.mtunnel" ] ||
	    mt_fail "mtunnel socket is '$SOCKET', expected" \
	    "/run/qemu-server/$vmid.mtunnel"
	CTL_SOCK=$MT_RUNDIR/$vmid/$vmid.mtunnel
	mt_poll 50 test -S "$CTL_SOCK" ||
	    mt_fail "no control socket $CTL_SOCK 5 s after the mtunnel POST"
	WS_URL=$(mt_ws_url "$vmid" "$SOCKET" "$TICKET")
}

# sink_start NAME PATH ARG...: bind usink ARG... at PATH in place of
# the socket there.  The sink writes "BYTES SHA256" to $MT_DIR/sink.NAME.
sink_start()
{
	local name=$1 path=$2

	shift 2
	rm -f "$path" || mt_fail "cannot remove $path"
	"$USINK" -t 30 "$@" "$path" >"$MT_DIR/sink.$name" \
	    2>"$MT_DIR/sink.$name.err" &
	SINK_PID=$!
	mt_bg_track "$SINK_PID"
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
	MT_BG=${MT_BG/ $SINK_PID/}
	got=$(cat "$MT_DIR/sink.$name")
	[ "$got" = "$want" ] || mt_fail "sink $name got '$got', expected" \
	    "'$want' (bytes, SHA-256)"
}

[ "${RELAY_HELPERS_ONLY:-0}" = 1 ] && return 0

RELAY_MIB=${RELAY_MIB:-1024}
WS_TIMEOUT=20		# seconds without progress before wstool gives up
RUN_TIMEOUT=120		# seconds for one transfer, then SIGTERM

# relay_run VMID WSTOOL-ARG...: pipe DATA through the websocket that
# relay_open VMID opened.  wstool must end with the server's Close.  Sets
# ECHO_SUM to the SHA-256 of what came back.
relay_run()
{
	local vmid=$1 err=$MT_DIR/wstool.$1.err rc

	shift
	timeout "$RUN_TIMEOUT" "$MT_WSTOOL" -C -t "$WS_TIMEOUT" -f "$MT_FP" \
	    -H "Authorization: $MT_AUTH" "$@" "$WS_URL" pipe \
	    <"$DATA" 2>"$err" | sha256_stdin >"$MT_DIR/echo.$vmid"
	rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ] || mt_fail "wstool $* for $vmid: exit status $rc:" \
	    "$(cat "$err")"
	ECHO_SUM=$(cat "$MT_DIR/echo.$vmid")
}

DATA=$MT_DIR/data
random_file "$DATA" $((RELAY_MIB * 1024 * 1024)) ||
    mt_fail "cannot write $RELAY_MIB MiB of random data to $DATA"
DATA_BYTES=$(stat -c %s "$DATA")
DATA_SUM=$(sha256_stdin <"$DATA")
EMPTY_SUM=$(sha256_stdin </dev/null)
relay_daemon

# Both ways, in 16 KiB frames as Proxmox VE's websocket helper sends
# them.  With -e, wstool sends its Close only after the whole echo.
relay_open 100
sink_start 100 "$CTL_SOCK" -e
relay_run 100 -e
sink_check 100 "$DATA_BYTES" "$DATA_SUM"
[ "$ECHO_SUM" = "$DATA_SUM" ] ||
    mt_fail "echo through 100 has SHA-256 $ECHO_SUM, the data $DATA_SUM"

# Both ways into a sink that is slow part of the time, with frames of
# the largest payload the relay accepts (128 KiB).
relay_open 101
sink_start 101 "$CTL_SOCK" -e -S 100ms:8
relay_run 101 -e -s 131072
sink_check 101 "$DATA_BYTES" "$DATA_SUM"
[ "$ECHO_SUM" = "$DATA_SUM" ] ||
    mt_fail "echo through 101 (slow sink) has SHA-256 $ECHO_SUM," \
    "the data $DATA_SUM"

# One way, with the Close right after the last frame.
relay_open 102
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
