#!/usr/bin/env bash
# Every kind of frame that breaks the relay's rules ends the websocket
# with a Close of status 1002, then the end of the connection.  None of
# its payload reaches the UNIX socket.  The kinds: an unmasked frame, a
# fragment, RSV bits, a payload of 128 KiB + 1, a ping with 126 bytes,
# opcode 0x3 and a stray continuation frame.  An upgrade that requests a
# Sec-WebSocket-Protocol gets it echoed, and data then flows.
#
# Each case has its own VMID, because a ticket is good for one
# connection and each VMID has one control socket.  A usink bound at the
# control socket's path takes the place of the tunnel.
RELAY_HELPERS_ONLY=1 . "$(dirname "$0")/relay.sh"

WS_TIMEOUT=3		# seconds to wait for the Close 1002 and then EOF

FAILURES=""

fail_later()
{
	FAILURES+="  $*"$'\n'
}

# bad_frame VMID KIND: send one KIND frame through a fresh websocket and
# note each check that fails in FAILURES.
bad_frame()
{
	local vmid=$1 kind=$2 out=$MT_DIR/wstool.$1 rc got

	relay_open "$vmid"
	sink_start "$vmid" "$CTL_SOCK"
	timeout $((WS_TIMEOUT + 10)) "$MT_WSTOOL" -t "$WS_TIMEOUT" \
	    -f "$MT_FP" -H "Authorization: $MT_AUTH" "$WS_URL" bad-frame \
	    "$kind" >"$out" 2>&1
	rc=$?
	[ "$rc" = 0 ] || fail_later "$kind: wstool exit status $rc:" \
	    "$(head -n 1 "$out")"

	if ! mt_poll 50 mt_dead "$SINK_PID"; then
		fail_later "$kind: the relay kept the UNIX socket open 5 s" \
		    "after the websocket ended"
		kill "$SINK_PID"
		wait "$SINK_PID"
	elif ! wait "$SINK_PID"; then
		fail_later "$kind: usink failed:" \
		    "$(cat "$MT_DIR/sink.$vmid.err")"
	else
		got=$(cat "$MT_DIR/sink.$vmid")
		[ "$got" = "0 $EMPTY_SUM" ] || fail_later "$kind: the socket" \
		    "received '$got' (bytes, SHA-256), expected nothing"
	fi
	MT_BG=${MT_BG/ $SINK_PID/}
}

# upgrade_protocol VMID: request Sec-WebSocket-Protocol "binary" (wstool
# -P checks that the 101 echoes it), then echo a line through the relay.
upgrade_protocol()
{
	local vmid=$1 line="subprotocol echo test" err=$MT_DIR/wstool.$1.err
	local out

	relay_open "$vmid"
	sink_start "$vmid" "$CTL_SOCK" -e
	if ! out=$(printf '%s\n' "$line" | timeout 20 "$MT_WSTOOL" -C -e \
	    -t 10 -f "$MT_FP" -P binary -H "Authorization: $MT_AUTH" \
	    "$WS_URL" pipe 2>"$err"); then
		fail_later "upgrade with -P binary: $(cat "$err")"
	elif [ "$out" != "$line" ]; then
		fail_later "echo with a subprotocol is '$out', expected '$line'"
	fi
	sink_check "$vmid" $((${#line} + 1)) \
	    "$(printf '%s\n' "$line" | sha256_stdin)"
}

EMPTY_SUM=$(sha256_stdin </dev/null)
relay_daemon

vmid=101
for kind in unmasked fragmented rsv oversize ctrl-oversize opcode \
    continuation; do
	bad_frame "$vmid" "$kind"
	vmid=$((vmid + 1))
done
upgrade_protocol 108

[ -z "$FAILURES" ] || mt_fail "websocket frame rules:"$'\n'"$FAILURES"
mt_alive "$MT_PID" || mt_fail "daemon exited during the frame tests"
for pid in $MT_APIS; do
	mt_alive "$pid" || mt_fail "api worker $pid exited during the test"
done
exit 0
