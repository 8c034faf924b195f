#!/usr/bin/env bash
# POST nodes/{node}/qemu/{vmid}/mtunnel against the real daemon.  Bad
# parameters, unknown or unsuitable storages and bridges, and a VMID
# that exists get the upstream status and wording, and no rejected call
# writes a file or starts a tunnel.  Of two POSTs for one VMID at the
# same moment exactly one wins.  A good call returns the UPID, a ticket
# and the control socket's wire name, writes the placeholder config and
# starts a qmtunnel task.  The ticket opens the control websocket, where
# `version` and `quit` get their replies.  Once the websocket closes,
# the tunnel ends, the task stops with OK, and the config and sockets
# are gone.  A control connection that ends without quit, or none within
# the accept timeout, ends the task with an error and cleans up too.
. "$(dirname "$0")/lib.sh"

ACCEPT_TIMEOUT=2	# seconds the tunnel waits for its control connection
ROUNDS=5		# rounds of two concurrent POSTs

# Every file and directory a POST to mtunnel may create.  Lock files
# are left out: priv creates lock-VMID.conf even for a create that
# fails.
tree_state()
{
	find "$MT_CONFDIR/qemu-server" "$MT_RUNDIR" -mindepth 1 \
	    ! -name 'lock-*.conf' ! -name mtunneld.pid \
	    -printf '%p %y %s %T@\n' 2>&1 | sort
}

# rejected STATUS WHAT PATH [CURL-ARG...]: POST to PATH gets STATUS, and
# neither the files nor the tunnels change.
rejected()
{
	local status=$1 what=$2 path=$3 before tunnels

	shift 3
	before=$(tree_state)
	tunnels=$(mt_count_lines '^parent: started tunnel ')
	mt_curl POST "$path" "$@"
	mt_expect "$status" "$what"
	[ "$(tree_state)" = "$before" ] || mt_fail "$what: the rejected call" \
	    "changed the disk; before: '$before', after: '$(tree_state)'"
	[ "$(mt_count_lines '^parent: started tunnel ')" = "$tunnels" ] ||
	    mt_fail "$what: the rejected call started a tunnel"
}

# param_rejected PARAM TEXT WHAT PATH [CURL-ARG...]: a 400 "Parameter
# verification failed." with errors.PARAM equal to TEXT.
param_rejected()
{
	local param=$1 text=$2 what=$3

	shift 3
	rejected 400 "$what" "$@"
	[ "$MT_REASON" = "Parameter verification failed." ] ||
	    mt_fail "$what: reason phrase '$MT_REASON', expected" \
	    "'Parameter verification failed.'"
	mt_expect_json ".errors[\"$param\"]" "$text" "$what"
}

# storage_rejected LIST TEXT WHAT: a 500 whose reason is TEXT.
storage_rejected()
{
	rejected 500 "$3" nodes/localhost/qemu/150/mtunnel \
	    -d "storages=$1" -d bridges=
	[ "$MT_REASON" = "$2" ] ||
	    mt_fail "$3: reason phrase '$MT_REASON', expected '$2'"
	mt_expect_json .message "$2" "$3"
}

# race VMID: two POSTs for VMID released at the same moment.
race()
{
	local vmid=$1 barrier=$MT_DIR/barrier side code400=0 code200=0
	local -a pids=()

	# Each client waits for a shared lock while this shell holds the
	# exclusive one, so both start when it is released.
	exec 9>"$barrier"
	flock 9 || mt_fail "flock $barrier failed"
	for side in a b; do
		flock -s "$barrier" true &&
		    MT_OUT=$MT_DIR/race.$vmid.$side mt_post_mtunnel "$vmid" &
		pids+=("$!")
	done
	mt_bg_track "${pids[@]}"
	sleep 0.2
	flock -u 9
	exec 9>&-
	wait "${pids[@]}"

	for side in a b; do
		mt_curl_read "$MT_DIR/race.$vmid.$side"
		case $MT_CODE in
		200)
			code200=$((code200 + 1))
			;;
		400)
			code400=$((code400 + 1))
			mt_expect_json .errors.vmid "$(exists_text "$vmid")" \
			    "the losing POST for $vmid"
			;;
		*)
			mt_fail "concurrent POST for $vmid: HTTP $MT_CODE" \
			    "'$MT_REASON': $(cat "$MT_BODY")"
			;;
		esac
	done
	[ "$code200" = 1 ] && [ "$code400" = 1 ] || mt_fail "two concurrent" \
	    "POSTs for $vmid got $code200 times 200 and $code400 times 400"
}

# The errors.vmid text for a VMID whose config exists.
exists_text()
{
	echo "unable to create empty VM config - VM $1 already exists on" \
	    "node '$MT_NODE'"
}

# open_tunnel VMID: a good POST; sets UPID, TICKET, SOCKET and TPID.
open_tunnel()
{
	local vmid=$1 hexpid upid_re ticket_re

	mt_post_mtunnel "$vmid" -d storages=vmstore -d bridges=
	mt_expect 200 "POST mtunnel for $vmid"
	UPID=$(mt_jq .data.upid)
	TICKET=$(mt_jq .data.ticket)
	SOCKET=$(mt_jq .data.socket)
	TPID=$(mt_tunnel_pid "$vmid")
	[ -n "$TPID" ] || mt_fail "no 'tunnel for vmid $vmid started' line"
	mt_alive "$TPID" || mt_fail "tunnel $vmid (pid $TPID) is not running"
	printf -v hexpid '%08X' "$TPID"
	upid_re="^UPID:$MT_NODE:$hexpid:[0-9A-F]{8,9}:[0-9A-F]{8}:qmtunnel"
	upid_re+=":$vmid:mig@pve!t1:\$"
	[[ $UPID =~ $upid_re ]] || mt_fail "upid '$UPID' is not" \
	    "UPID:$MT_NODE:$hexpid:PSTART:STARTTIME:qmtunnel:$vmid:mig@pve!t1:"
	ticket_re='^PVETUNNEL:[0-9A-F]{8}:[0-9A-F]{16}:[A-Za-z0-9+/]{43}=$'
	[[ $TICKET =~ $ticket_re ]] ||
	    mt_fail "ticket '$TICKET' is not PVETUNNEL:TIME:NONCE:MAC"
	[ "$SOCKET" = "/run/qemu-server/$vmid.mtunnel" ] || mt_fail "socket" \
	    "is '$SOCKET', expected /run/qemu-server/$vmid.mtunnel"
}

# expect_ended VMID HOW: the tunnel is gone within 5 s, its task has
# stopped with exit status OK (HOW=ok) or an error (HOW=error), and the
# config and socket directory are removed.
expect_ended()
{
	local vmid=$1 how=$2

	mt_wait_gone "$TPID" || mt_fail "tunnel $vmid (pid $TPID) still" \
	    "running 5 s after its control connection ended"
	mt_wait_task_stopped "$UPID"
	if [ "$how" = ok ]; then
		[ "$MT_TASK_EXIT" = OK ] || mt_fail "task of $vmid stopped" \
		    "with exit status '$MT_TASK_EXIT', expected OK"
	else
		[ -n "$MT_TASK_EXIT" ] && [ "$MT_TASK_EXIT" != OK ] ||
		    mt_fail "task of $vmid stopped with exit status" \
		    "'$MT_TASK_EXIT', expected an error"
	fi
	mt_wait_vmid_clean "$vmid"
}

mt_api_init
mt_storages
mt_token 'mig@pve!t1' Administrator
mt_api_start "accept-timeout $ACCEPT_TIMEOUT"

# Rejected calls first, while no tunnel of a good call is ending, so
# that the files can be compared as a whole.
param_rejected node \
    "node needs to be 'localhost' or local hostname '$MT_NODE'" \
    "POST mtunnel on another node" nodes/othernode/qemu/150/mtunnel \
    -d storages= -d bridges=
param_rejected vmid "type check ('integer') failed - got 'abc'" \
    "POST mtunnel for vmid abc" nodes/localhost/qemu/abc/mtunnel \
    -d storages= -d bridges=
param_rejected vmid "value must have a minimum value of 100" \
    "POST mtunnel for vmid 99" nodes/localhost/qemu/99/mtunnel \
    -d storages= -d bridges=
param_rejected vmid "value must have a maximum value of 999999999" \
    "POST mtunnel for vmid 1000000000" \
    nodes/localhost/qemu/1000000000/mtunnel -d storages= -d bridges=
not_in_schema="property is not defined in schema and the schema does not"
not_in_schema+=" allow additional properties"
param_rejected foo "$not_in_schema" "POST mtunnel with an extra parameter" \
    nodes/localhost/qemu/150/mtunnel -d storages= -d bridges= -d foo=bar
param_rejected storages \
    "invalid format - storage ID 'bad/id' contains illegal characters" \
    "POST mtunnel with an invalid storage ID" \
    nodes/localhost/qemu/150/mtunnel -d storages=bad/id -d bridges=

storage_rejected nosuch "storage 'nosuch' does not exist" \
    "POST mtunnel with a storage that does not exist"
storage_rejected isostore "storage 'isostore' does not support vm images" \
    "POST mtunnel with a storage without images"
rejected 500 "POST mtunnel with a disabled storage" \
    nodes/localhost/qemu/150/mtunnel -d storages=offstore -d bridges=
[[ $MT_REASON == *"storage 'offstore' "* ]] || mt_fail "disabled storage:" \
    "reason phrase '$MT_REASON' does not name storage 'offstore'"
storage_rejected "vmstore,nosuch" "storage 'nosuch' does not exist" \
    "POST mtunnel with a good and a missing storage"
rejected 500 "POST mtunnel with a bridge that does not exist" \
    nodes/localhost/qemu/150/mtunnel -d storages= -d bridges=nosuchbr0
[ "$MT_REASON" = "bridge 'nosuchbr0' does not exist" ] ||
    mt_fail "bridge nosuchbr0: reason phrase '$MT_REASON', expected" \
    "\"bridge 'nosuchbr0' does not exist\""

# A VMID whose config exists is rejected, and the config stays as it was.
printf 'name: existing\nmemory: 512\n' >"$MT_CONFDIR/qemu-server/100.conf"
param_rejected vmid "$(exists_text 100)" \
    "POST mtunnel for an existing VMID" nodes/localhost/qemu/100/mtunnel \
    -d storages= -d bridges=
[ "$(cat "$MT_CONFDIR/qemu-server/100.conf")" = "name: existing
memory: 512" ] || mt_fail "config 100.conf changed by the rejected call:" \
    "$(cat "$MT_CONFDIR/qemu-server/100.conf")"

# The node's own name works as well as localhost.
mt_curl POST "nodes/$MT_NODE/qemu/151/mtunnel" -d storages= -d bridges=
mt_expect 200 "POST mtunnel on node $MT_NODE"

# Two POSTs for one VMID at the same moment: one creates the config,
# the other gets a 400 because the VM exists.
for ((i = 0; i < ROUNDS; i++)); do
	race $((400 + i))
done

# A good call, then the control websocket with its ticket.
open_tunnel 600
[ "$(cat "$MT_CONFDIR/qemu-server/600.conf")" = "lock: create" ] &&
    [ "$(stat -c %s "$MT_CONFDIR/qemu-server/600.conf")" = 13 ] ||
    mt_fail "placeholder config is not exactly 'lock: create':" \
    "$(od -c "$MT_CONFDIR/qemu-server/600.conf")"
[ -S "$MT_RUNDIR/600/600.mtunnel" ] ||
    mt_fail "no control socket $MT_RUNDIR/600/600.mtunnel"
[ "$(stat -c '%U %a' "$MT_RUNDIR/600")" = "root 700" ] ||
    mt_fail "socket directory $MT_RUNDIR/600 is" \
    "'$(stat -c '%U %a' "$MT_RUNDIR/600")', expected 'root 700'"
mt_task_status "$UPID"
[ "$MT_TASK_STATE" = running ] ||
    mt_fail "task $UPID is '$MT_TASK_STATE' before the connection"
mt_expect_json .data.type qmtunnel "status of task $UPID"
mt_expect_json .data.id 600 "status of task $UPID"
mt_expect_json .data.user 'mig@pve!t1' "status of task $UPID"

mt_ws_lines 600 "$SOCKET" "$TICKET" <<<'{"cmd":"version"}
{"cmd":"quit"}'
[ "$MT_WS_RC" = 0 ] ||
    mt_fail "wstool on the control websocket of 600: exit status" \
    "$MT_WS_RC: $(cat "$MT_DIR/ws.err")"
version=$(head -n 1 <<<"$MT_LINES" | jq -cS . 2>/dev/null)
[ "$version" = '{"age":0,"api":2,"success":true}' ] ||
    mt_fail "version replied '$(head -n 1 <<<"$MT_LINES")', expected" \
    '{"api":2,"age":0,"success":true}'
quit=$(sed -n 2p <<<"$MT_LINES" | jq -cS . 2>/dev/null)
[ "$quit" = '{"success":true}' ] ||
    mt_fail "quit replied '$(sed -n 2p <<<"$MT_LINES")', expected" \
    '{"success":true}'
expect_ended 600 ok

# The control connection ends without quit: the task fails, and the
# migration is cleaned up all the same.
open_tunnel 601
mt_ws_lines 601 "$SOCKET" "$TICKET" <<<'{"cmd":"version"}'
[ "$MT_WS_RC" = 0 ] ||
    mt_fail "wstool on the control websocket of 601: exit status" \
    "$MT_WS_RC: $(cat "$MT_DIR/ws.err")"
expect_ended 601 error
grep -q "^tunnel 601\[$TPID\]: mtunnel exited unexpectedly" "$MT_LOG" ||
    mt_fail "no 'mtunnel exited unexpectedly' line from tunnel 601"

# No control connection within the accept timeout.
open_tunnel 700
sleep "$ACCEPT_TIMEOUT"
expect_ended 700 error
grep -q "^tunnel 700\[$TPID\]: .*Failed to accept tunnel connection" \
    "$MT_LOG" ||
    mt_fail "no 'Failed to accept tunnel connection' line from tunnel 700"

# The winners of the races and the call on the node's name got no
# control connection, so their tunnels timed out and were cleaned up.
for vmid in 151 $(seq 400 $((400 + ROUNDS - 1))); do
	mt_wait_vmid_clean "$vmid"
done

mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
