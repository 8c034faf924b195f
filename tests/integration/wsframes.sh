#!/usr/bin/env bash
# Every kind of frame that breaks the relay's rules ends the websocket
# with a Close of status 1002, then the end of the connection.  None of
# its payload reaches the UNIX socket.  The kinds: an unmasked frame, a
# fragment, RSV bits, a payload of 128 KiB + 1, a ping with 126 bytes,
# opcode 0x3 and a stray continuation frame.  lws 4.1.6 drops the
# connection on the ping of 126 bytes without sending a Close.  So for
# that case the test prints a note and only checks that nothing reached
# the socket.
#
# The mask check follows the requests on a connection up to the
# upgrade.  One connection carries a POST whose body looks like an
# upgrade request and an unmasked frame, then the upgrade, then a frame.
# A masked frame must reach the socket, and an unmasked one must end
# the websocket with 1002.  An upgrade that is rejected ends
# the connection, so a request sent after it gets no response.  An
# upgrade that requests a Sec-WebSocket-Protocol gets it echoed, and
# data then flows.
#
# Each case has its own VMID, because a ticket is good for one
# connection and each VMID has one control socket.  A usink bound at the
# control socket's path takes the place of the tunnel.
RELAY_HELPERS_ONLY=1 . "$(dirname "$0")/relay.sh"

WS_TIMEOUT=3		# seconds to wait for the Close 1002 and then EOF
# After its own Close 1002 (RSV bits), lws waits 5 s for the client's
# Close before it ends the connection.
RSV_TIMEOUT=6
RAW_HOLD=2		# seconds a raw client keeps its side open

FAILURES=""

fail_later()
{
	FAILURES+="  $*"$'\n'
}

# sink_empty NAME KIND: the last sink started exits within 5 s and
# received nothing; note each failure for KIND in FAILURES.
sink_empty()
{
	local name=$1 kind=$2 got

	if ! mt_poll 50 mt_dead "$SINK_PID"; then
		fail_later "$kind: the relay kept the UNIX socket open 5 s" \
		    "after the websocket ended"
		kill "$SINK_PID"
		wait "$SINK_PID"
	elif ! wait "$SINK_PID"; then
		fail_later "$kind: usink failed:" \
		    "$(cat "$MT_DIR/sink.$name.err")"
	else
		got=$(cat "$MT_DIR/sink.$name")
		[ "$got" = "0 $EMPTY_SUM" ] || fail_later "$kind: the socket" \
		    "received '$got' (bytes, SHA-256), expected nothing"
	fi
	MT_BG=${MT_BG/ $SINK_PID/}
}

# bad_frame VMID KIND: send one KIND frame through a fresh websocket and
# note each check that fails in FAILURES.
bad_frame()
{
	local vmid=$1 kind=$2 out=$MT_DIR/wstool.$1 rc wait=$WS_TIMEOUT

	[ "$kind" = rsv ] && wait=$RSV_TIMEOUT
	relay_open "$vmid"
	sink_start "$vmid" "$CTL_SOCK"
	timeout $((wait + 10)) "$MT_WSTOOL" -t "$wait" \
	    -f "$MT_FP" -H "Authorization: $MT_AUTH" "$WS_URL" bad-frame \
	    "$kind" >"$out" 2>&1
	rc=$?
	if [ "$rc" != 0 ] && [ "$kind" = ctrl-oversize ] &&
	    grep -q '^bad-frame ctrl-oversize: EOF' "$out"; then
		echo "note: ctrl-oversize: lws 4.1.6 ended the connection" \
		    "without a Close frame ($(head -n 1 "$out"))"
	elif [ "$rc" != 0 ]; then
		fail_later "$kind: wstool exit status $rc: $(head -n 1 "$out")"
	fi
	sink_empty "$vmid" "$kind"
}

# raw_session FILE [LATER]: send FILE's bytes over one TLS connection
# with wstool in raw mode, and LATER's bytes a second after them.  Keep
# the connection open RAW_HOLD seconds more, and write what the server
# sent to FILE.out (stderr to FILE.err).
raw_session()
{
	{
		cat "$1"
		if [ -n "${2:-}" ]; then
			sleep 1
			cat "$2"
		fi
		sleep "$RAW_HOLD"
	} | timeout $((RAW_HOLD + 20)) "$MT_WSTOOL" -t 10 -f "$MT_FP" \
	    "https://127.0.0.1:$MT_PORT" raw >"$1.out" 2>"$1.err"
}

# status_lines FILE: the HTTP status lines in FILE, each followed by a
# space.
status_lines()
{
	LC_ALL=C grep -a -o 'HTTP/1\.1 [0-9][0-9][0-9]' "$1" | tr '\n' ' '
}

# ws_request TARGET: a websocket upgrade request for TARGET with MT_AUTH.
ws_request()
{
	printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n' "$1" "$MT_PORT"
	printf 'Upgrade: websocket\r\nConnection: Upgrade\r\n'
	printf 'Sec-WebSocket-Key: bXR1bm5lbGQgdGVzdCBrZXk=\r\n'
	printf 'Sec-WebSocket-Version: 13\r\nAuthorization: %s\r\n\r\n' \
	    "$MT_AUTH"
}

# pipelined VMID KIND: send three things on one connection.  First a
# POST whose body would end the websocket if it were read as an upgrade
# and its frames.  Then the upgrade, then one frame: "hello\n" masked
# (KIND masked) or unmasked (KIND unmasked), in the same write.  For
# KIND unmasked-pong, the frame is an unmasked pong without payload a
# second later, which starts no callback that the relay acts on.
pipelined()
{
	local vmid=$1 kind=$2 in=$MT_DIR/raw.$2 body=$MT_DIR/body.$2 target
	local frame close later=""

	relay_open "$vmid"
	sink_start "$vmid" "$CTL_SOCK"
	target=${WS_URL#"https://127.0.0.1:$MT_PORT"}
	printf 'GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x82\x05hello' \
	    >"$body"
	case $kind in
	masked)
		# A zero key leaves the payload as it is.
		frame='\x82\x86\x00\x00\x00\x00hello\n'
		;;
	unmasked)
		frame='\x82\x06hello\n'
		;;
	unmasked-pong)
		frame='\x8a\x00'
		;;
	esac
	{
		printf 'POST /api2/json/cluster/status HTTP/1.1\r\n'
		printf 'Host: 127.0.0.1:%s\r\nContent-Length: %s\r\n\r\n' \
		    "$MT_PORT" "$(stat -c %s "$body")"
		cat "$body"
		ws_request "$target"
	} >"$in"
	if [ "$kind" = unmasked-pong ]; then
		later=$in.later
		printf '%b' "$frame" >"$later"
	else
		printf '%b' "$frame" >>"$in"
	fi
	raw_session "$in" "$later"

	[ "$(status_lines "$in.out")" = "HTTP/1.1 501 HTTP/1.1 101 " ] ||
	    fail_later "pipelined $kind: responses '$(status_lines \
	    "$in.out")', expected 501 to the POST, then 101"
	if [ "$kind" = masked ]; then
		sink_check "$vmid" 6 "$(printf 'hello\n' | sha256_stdin)"
		return
	fi
	# Close frame, status 1002 (0x03ea), as the server sends it.
	close=$(od -An -v -tx1 "$in.out" | tr -d ' \n')
	[[ $close == *88[0-7][0-9a-f]03ea* ]] || fail_later "pipelined" \
	    "$kind: no Close 1002 from the server: $(cat "$in.err")"
	sink_empty "$vmid" "pipelined $kind"
}

# rejected_upgrade: a request, an upgrade without Sec-WebSocket-Key and
# another request on one connection get a response each up to the
# rejected upgrade, which ends the connection.
rejected_upgrade()
{
	local in=$MT_DIR/raw.rejected got request target

	request=$(printf 'GET /api2/json/cluster/status HTTP/1.1\r\nHost: %s' \
	    "127.0.0.1:$MT_PORT")
	target=$(mt_ws_url 109 /run/qemu-server/109.mtunnel x)
	target=${target#"https://127.0.0.1:$MT_PORT"}
	{
		printf '%s\r\nAuthorization: %s\r\n\r\n' "$request" "$MT_AUTH"
		printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n' \
		    "$target" "$MT_PORT"
		printf 'Upgrade: websocket\r\nConnection: Upgrade\r\n'
		printf 'Sec-WebSocket-Version: 13\r\n\r\n'
		printf '%s\r\nAuthorization: %s\r\n\r\n' "$request" "$MT_AUTH"
	} >"$in"
	raw_session "$in"
	got=$(status_lines "$in.out")
	[ "$got" = "HTTP/1.1 200 HTTP/1.1 400 " ] || fail_later "rejected" \
	    "upgrade: responses '$got', expected 200, then 400 and the end" \
	    "of the connection"
	grep -q 'before the end of input' "$in.err" || fail_later "rejected" \
	    "upgrade: the connection stayed open: $(cat "$in.err")"
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
rejected_upgrade
pipelined 110 masked
pipelined 111 unmasked
pipelined 112 unmasked-pong

[ -z "$FAILURES" ] || mt_fail "websocket frame rules:"$'\n'"$FAILURES"
mt_alive "$MT_PID" || mt_fail "daemon exited during the frame tests"
for pid in $MT_APIS; do
	mt_alive "$pid" || mt_fail "api worker $pid exited during the test"
done
exit 0
