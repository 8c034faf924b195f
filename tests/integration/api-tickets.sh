#!/usr/bin/env bash
# Tunnel tickets on the websocket endpoint, against the real daemon.
# The endpoint checks the upgrade, then the API token, then the socket
# parameter, then the ticket, and only then connects.  A ticket is bound
# to the token it was issued to, to one socket path and to its lifetime,
# and is good for one connection.  Each rejected ticket gets an immediate
# 401 "permission denied - invalid PVETUNNEL ticket" and a log line from
# the parent, and nothing is connected: the tunnel accepts exactly one
# connection, and the right ticket still gets it afterwards.
#
# A ticket issued in the future cannot be made here without the
# parent's key; tests/unit/test_ticket.c covers that case.
. "$(dirname "$0")/lib.sh"

INSTANT=1.5		# seconds: a websocket rejection is not delayed
REJECTED_401="permission denied - invalid PVETUNNEL ticket"

# open_tunnel VMID: POST mtunnel as mig@pve!t1; sets TICKET_<VMID>.
open_tunnel()
{
	MT_AUTH=$ADMIN
	mt_post_mtunnel "$1"
	mt_expect 200 "POST mtunnel for $1"
	mt_expect_json .data.socket "/run/qemu-server/$1.mtunnel" \
	    "POST mtunnel for $1"
	printf -v "TICKET_$1" '%s' "$(mt_jq .data.ticket)"
}

ticket_lines()
{
	grep -c -e "^parent: .*: ticket for '.*' socket .* rejected: " \
	    -e "^parent: .*: ticket used by " "$MT_LOG"
}

# rejected_quickly STATUS WHAT: the last upgrade got STATUS without the
# delay of a plain HTTP 401.
rejected_quickly()
{
	mt_expect "$1" "$2"
	awk -v t="$MT_TIME" -v max="$INSTANT" 'BEGIN { exit !(t < max) }' ||
	    mt_fail "$2: the rejection took $MT_TIME s, expected under" \
	    "$INSTANT s"
}

# ticket_rejected WHAT WHY VMID SOCKET TICKET: the upgrade gets the 401
# of a bad ticket, and the parent logs that it rejected the ticket for
# the reason WHY.
ticket_rejected()
{
	local what=$1 why=$2 line before

	line="^parent: .*: ticket for '[^']*' socket $4 rejected: $why"
	before=$(grep -c -- "$line" "$MT_LOG")
	mt_ws_upgrade "$3" "$4" "$5"
	rejected_quickly 401 "$what"
	[ "$MT_REASON" = "$REJECTED_401" ] || mt_fail "$what: reason phrase" \
	    "'$MT_REASON', expected '$REJECTED_401'"
	mt_poll 20 log_has_more "$line" "$before" || mt_fail "$what:" \
	    "no new parent log line 'ticket for ... socket $4 rejected: $why'"
}

log_has_more()
{
	[ "$(grep -c -- "$1" "$MT_LOG")" -gt "$2" ]
}

# not_looked_at WHAT BEFORE: no ticket was checked since ticket_lines
# gave BEFORE.
not_looked_at()
{
	[ "$(ticket_lines)" = "$2" ] || mt_fail "$1: the ticket was checked" \
	    "although the request was rejected before that:" \
	    "$(tail -n 3 "$MT_LOG")"
}

# connect_version VMID: the ticket of VMID opens its control websocket,
# version gets its reply, and quit ends the tunnel.
connect_version()
{
	local ticket_var="TICKET_$1"

	MT_AUTH=$ADMIN
	mt_ws_lines "$1" "/run/qemu-server/$1.mtunnel" "${!ticket_var}" \
	    <<<'{"cmd":"version"}
{"cmd":"quit"}'
	[ "$MT_WS_RC" = 0 ] || mt_fail "the right ticket for $1 no longer" \
	    "connects: wstool exit status $MT_WS_RC: $(cat "$MT_DIR/ws.err")"
	[ "$(head -n 1 <<<"$MT_LINES" | jq -cS . 2>/dev/null)" = \
	    '{"age":0,"api":2,"success":true}' ] || mt_fail "version on" \
	    "the control websocket of $1 replied '$MT_LINES'"
	mt_wait_vmid_clean "$1"
}

# flip_mac TICKET: the ticket with the first character of its MAC
# changed, so that the MAC's first byte differs.
flip_mac()
{
	local head=${1%:*} mac=${1##*:} first

	first=${mac:0:1}
	if [ "$first" = A ]; then
		first=B
	else
		first=A
	fi
	echo "$head:$first${mac:1}"
}

# lines_wait N: the held connection has printed N reply lines.
lines_wait()
{
	mt_poll 100 lines_reached "$1" || mt_fail "no reply line $1 on the" \
	    "held control connection within 10 s: $(cat "$MT_DIR/held.err")"
}

lines_reached()
{
	[ "$(wc -l <"$MT_DIR/held.out")" -ge "$1" ]
}

mt_api_init
mt_token 'mig@pve!t1' Administrator
ADMIN=$MT_AUTH
mt_token 'other@pve!t1' Administrator
OTHER=$MT_AUTH
mt_api_start

open_tunnel 100
open_tunnel 101
open_tunnel 102
A=/run/qemu-server/100.mtunnel
B=/run/qemu-server/101.mtunnel

# Rejected before the ticket is looked at: no upgrade, a bad API token,
# a socket that is not an absolute path of the allowed characters or
# has a '..' component.
before=$(ticket_lines)
MT_AUTH=$ADMIN
mt_curl GET "$(mt_ws_url 100 "$A" "$TICKET_100")"
rejected_quickly 400 "GET mtunnelwebsocket without an upgrade"
not_looked_at "GET mtunnelwebsocket without an upgrade" "$before"

MT_AUTH="PVEAPIToken=mig@pve!t1=00000000-0000-0000-0000-000000000000"
mt_ws_upgrade 100 "$A" "$TICKET_100"
rejected_quickly 401 "upgrade with a wrong token secret"
[ "$MT_REASON" = "Authentication failed!" ] || mt_fail "upgrade with a" \
    "wrong token secret: reason '$MT_REASON', expected 'Authentication failed!'"
not_looked_at "upgrade with a wrong token secret" "$before"

MT_AUTH=$ADMIN
for socket in /run/qemu-server/../qemu-server/100.mtunnel \
    /run/qemu-server/100.mtunnel/.. run/qemu-server/100.mtunnel \
    '/run/qemu-server/100 mtunnel'; do
	mt_ws_upgrade 100 "$socket" "$TICKET_100"
	rejected_quickly 400 "upgrade with socket '$socket'"
	[ -n "$(mt_jq '.errors.socket // empty')" ] || mt_fail "upgrade" \
	    "with socket '$socket': no errors.socket in $(cat "$MT_BODY")"
	not_looked_at "upgrade with socket '$socket'" "$before"
done
mt_ws_upgrade 100 /run/qemu-server/../qemu-server/100.mtunnel "$TICKET_100"
mt_expect_json .errors.socket "value must not contain a '..' component" \
    "upgrade with '..' in the socket"

# Rejected tickets.
MT_AUTH=$OTHER
ticket_rejected "ticket of mig@pve!t1 presented by other@pve!t1" "bad MAC" \
    100 "$A" "$TICKET_100"
MT_AUTH=$ADMIN
ticket_rejected "ticket for 100 used for the socket of 101" "bad MAC" \
    101 "$B" "$TICKET_100"
ticket_rejected "ticket for 100.mtunnel used for 100.migrate" "bad MAC" \
    100 /run/qemu-server/100.migrate "$TICKET_100"
ticket_rejected "ticket with one MAC character changed" "bad MAC" \
    100 "$A" "$(flip_mac "$TICKET_100")"
ticket_rejected "ticket that is not PVETUNNEL:TIME:NONCE:MAC" "malformed" \
    100 "$A" "PVETUNNEL:00000000:0000000000000000:AAAA"

# The right ticket on the endpoint of another VMID: the socket is not
# in that migration's set, so nothing is connected and the ticket stays
# good.
mt_ws_upgrade 101 "$A" "$TICKET_100"
rejected_quickly 400 "ticket and socket of 100 on the endpoint of 101"
mt_expect_json .errors.socket \
    "socket '$A' is not part of an active migration" \
    "ticket and socket of 100 on the endpoint of 101"

# None of that connected anything: each tunnel still accepts its one
# connection, from its own ticket.
connect_version 100
connect_version 101

# Replay: a second use of a ticket, while its first connection is open
# and after it closed, is rejected; the first connection works on.
open_tunnel 103
mkfifo "$MT_DIR/held.in" || mt_fail "mkfifo failed"
MT_AUTH=$ADMIN
timeout 30 "$MT_WSTOOL" -C -t 10 -f "$MT_FP" -H "Authorization: $ADMIN" \
    "$(mt_ws_url 103 /run/qemu-server/103.mtunnel "$TICKET_103")" lines \
    <"$MT_DIR/held.in" >"$MT_DIR/held.out" 2>"$MT_DIR/held.err" &
held=$!
mt_bg_track "$held"
exec 8>"$MT_DIR/held.in"
echo '{"cmd":"version"}' >&8
lines_wait 1
ticket_rejected "the ticket for 103 again while its connection is open" \
    "replayed" 103 /run/qemu-server/103.mtunnel "$TICKET_103"
# The control protocol issues tickets only for the migration's sockets.
# NOTE: the tunnel does not handle `ticket` yet; once it does, also check
# the reply "Not allowed to generate ticket for unknown socket '...'".
echo '{"cmd":"ticket","path":"/run/qemu-server/103.migrate"}' >&8
lines_wait 2
reply=$(sed -n 2p "$MT_DIR/held.out")
[ "$(jq -c '[.success, has("ticket")]' <<<"$reply" 2>/dev/null)" = \
    '[false,false]' ] ||
    mt_fail "ticket for /run/qemu-server/103.migrate gave '$reply'"
echo '{"cmd":"version"}' >&8
lines_wait 3
echo '{"cmd":"quit"}' >&8
lines_wait 4
exec 8>&-
wait "$held" || mt_fail "held connection of 103: wstool exit status $?:" \
    "$(cat "$MT_DIR/held.err")"
mt_wait_vmid_clean 103
ticket_rejected "the ticket for 103 after its connection closed" \
    "replayed" 103 /run/qemu-server/103.mtunnel "$TICKET_103"

# A ticket whose migration has ended: the tunnel of 102 got its control
# connection without the ticket and ended, so the socket is gone.
mt_unix_lines 102 <<<'{"cmd":"quit"}'
mt_wait_vmid_clean 102
MT_AUTH=$ADMIN
mt_ws_upgrade 102 /run/qemu-server/102.mtunnel "$TICKET_102"
rejected_quickly 400 "the unused ticket of an ended migration"
mt_expect_json .errors.socket \
    "socket '/run/qemu-server/102.mtunnel' is not part of an active migration" \
    "the unused ticket of an ended migration"

mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"

# Expiry, on a daemon whose tickets live 2 s.
mt_api_start "ticket-lifetime 2"
open_tunnel 200
sleep 3
ticket_rejected "ticket 3 s after issue, lifetime 2 s" "expired" \
    200 /run/qemu-server/200.mtunnel "$TICKET_200"
mt_unix_lines 200 <<<'{"cmd":"version"}
{"cmd":"quit"}'
[ "$(head -n 1 <<<"$MT_LINES" | jq -cS . 2>/dev/null)" = \
    '{"age":0,"api":2,"success":true}' ] || mt_fail "version on the" \
    "control socket of 200 after the expired ticket replied '$MT_LINES'"
mt_wait_vmid_clean 200

mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
