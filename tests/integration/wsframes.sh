#!/usr/bin/env bash
# Every kind of frame that breaks the relay's rules ends the websocket
# with a Close of status 1002, then the end of the connection, and none
# of its payload reaches the UNIX socket: an unmasked frame, a fragment,
# RSV bits, a payload of 128 KiB + 1, a ping with 126 bytes, opcode 0x3
# and a stray continuation frame.  An upgrade that requests a
# Sec-WebSocket-Protocol gets it echoed, and data then flows.
#
# Each case has its own VMID, because a ticket is good for one
# connection and each VMID has one control socket.  A usink bound at the
# control socket's path stands in for the tunnel.
RELAY_HELPERS_ONLY=1 . "$(dirname "$0")/relay.sh"

WS_TIMEOUT=5		# seconds for the Close and the end of the connection

# bad_frame VMID KIND: send one KIND frame through a fresh websocket.
bad_frame()
{
	local vmid=$1 kind=$2 out=$MT_DIR/wstool.$1 rc

	mtunnel_open "$vmid"
	sink_start "$vmid" "$CTL_SOCK"
	timeout $((WS_TIMEOUT + 10)) "$WSTOOL" -t "$WS_TIMEOUT" -f "$FP" \
	    -H "Authorization: $MT_TOKEN" "$(ws_url "$vmid")" bad-frame \
	    "$kind" >"$out" 2>&1
	rc=$?
	[ "$rc" = 0 ] || mt_fail "bad-frame $kind (VMID $vmid): exit status" \
	    "$rc: $(cat "$out")"
	sink_check "$vmid" 0 "$EMPTY_SUM"
}

relay_tools_check
EMPTY_SUM=$(sha256_stdin </dev/null)
mtunnel_daemon

vmid=101
for kind in unmasked fragmented rsv oversize ctrl-oversize opcode \
    continuation; do
	bad_frame "$vmid" "$kind"
	vmid=$((vmid + 1))
done

# A requested subprotocol is echoed (wstool -P checks the 101), and the
# echo sink returns the line through the relay.
line="subprotocol echo test"
mtunnel_open 108
sink_start 108 "$CTL_SOCK" -e
out=$(printf '%s\n' "$line" | timeout 20 "$WSTOOL" -C -e -t 10 -f "$FP" \
    -P binary -H "Authorization: $MT_TOKEN" "$(ws_url 108)" pipe \
    2>"$MT_DIR/wstool.108.err") ||
    mt_fail "wstool -P binary: $(cat "$MT_DIR/wstool.108.err")"
[ "$out" = "$line" ] ||
    mt_fail "echo with a subprotocol is '$out', expected '$line'"
sink_check 108 $((${#line} + 1)) "$(printf '%s\n' "$line" | sha256_stdin)"

mt_alive "$MT_PID" || mt_fail "daemon exited during the frame tests"
for pid in $MT_APIS; do
	mt_alive "$pid" || mt_fail "api worker $pid exited during the test"
done
exit 0
