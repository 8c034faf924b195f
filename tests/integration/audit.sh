#!/usr/bin/env bash
# The audit log through the real daemon.  The test runs three offline
# migrations: one kept, one quit with cleanup after a disk allocation, and
# one whose tunnel is killed.  With an authentication failure and a
# replayed ticket, they must leave every event type in the log with the
# right user and VMID.  Neither the token secret nor any ticket used may
# appear in it.  `mtunnelctl audit verify` must
# pass, then name the seq of each edit: a changed byte, a deleted line, a
# swapped pair and a truncated tail.  The log lives on a small tmpfs:
# once it is full, POST mtunnel must fail with a clear error, and must
# work again after space is freed.
. "$(dirname "$0")/lib.sh"

STORE=vmstore
DATA_BYTES=65536	# random data sent as the source volume
WS_TIMEOUT=20		# seconds wstool waits for progress
REPLY_TIMEOUT=15	# seconds for one reply on the control websocket
FS_SIZE=1m		# the tmpfs that holds the audit log
FILL_TRIES=60		# requests that write records until the log fails
TOKEN='mig@pve!t1'
USER=${TOKEN%%!*}

AUDIT_FS=$MT_DIR/auditfs
AUDIT_LOG=$AUDIT_FS/audit.log
TICKETS=()

audit_exit()
{
	local pid

	{
		for pid in $(mt_leftovers); do
			mt_is_daemon "$pid" && kill -KILL "$pid"
		done
		[ -n "$MT_PID" ] && wait "$MT_PID"
	} 2>/dev/null
	mountpoint -q "$AUDIT_FS" && umount "$AUDIT_FS"
	mt_api_cleanup
}

ctl()
{
	"$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" "$@"
}

# import_volume VMID: disk-import of DATA over a second websocket.
import_volume()
{
	local vmid=$1 path=/run/qemu-server/$1.storage

	ctl_ok '{"cmd":"disk-import","volname":"vm-100-disk-0.raw",'\
'"format":"raw","storage":"'"$STORE"'","export_formats":"raw+size",'\
'"with_snapshots":0,"allow_rename":1}'
	ctl_ok '{"cmd":"ticket","path":"'"$path"'"}'
	TICKETS+=("$(reply_field .ticket)")
	import_send "$vmid" "$path" "$(reply_field .ticket)"
	VOLID=$(reply_field .volid)
}

# migrate VMID: mtunnel, control websocket, bwlimit and an import.
migrate()
{
	open_tunnel "$1"
	TICKETS+=("$TICKET")
	ctl_open "$1"
	ctl_ok '{"cmd":"version"}'
	ctl_ok '{"cmd":"bwlimit","storages":["'"$STORE"'"],"bwlimit":null}'
	import_volume "$1"
}

# records FILTER: the number of audit records that FILTER selects.
records()
{
	jq -c "select($1)" "$AUDIT_LOG" | wc -l
}

# expect_record WHAT FILTER: at least one record matches FILTER.
expect_record()
{
	[ "$(records "$2")" -ge 1 ] || mt_fail "no audit record of $1" \
	    "(jq: $2); the log: $(cut -c 1-300 "$AUDIT_LOG")"
}

# expect_event EVENT VMID [FILTER]: EVENT about VMID by the test token.
expect_event()
{
	expect_record "$1 for $2" ".event == \"$1\" and .vmid == $2 and"\
" .user == \"$TOKEN\"${3:+ and $3}"
}

# verify_fails FILE SEQ WHAT: audit verify of FILE fails and names SEQ.
verify_fails()
{
	local out

	out=$(ctl audit verify "$1" 2>&1) &&
	    mt_fail "audit verify passed after $3: $out"
	grep -qx "FAILED at seq $2" <<<"$out" ||
	    mt_fail "audit verify after $3 printed '$out', expected" \
	    "'FAILED at seq $2'"
}

# tamper NAME SED-SCRIPT: a copy of the log and its head file, edited.
tamper()
{
	cp "$AUDIT_LOG" "$MT_DIR/$1" && cp "$AUDIT_LOG.head" "$MT_DIR/$1.head" ||
	    mt_fail "cannot copy the audit log"
	[ -z "$2" ] || sed -i "$2" "$MT_DIR/$1" || mt_fail "sed $2 failed"
}

# The line number of the record with seq N.
line_of()
{
	jq -n --argjson n "$1" '[inputs | .seq] | index($n) + 1' \
	    "$AUDIT_LOG"
}

DATA=$MT_DIR/data
openssl rand "$DATA_BYTES" >"$DATA" || mt_fail "cannot write $DATA"

mt_api_init
trap audit_exit EXIT
mkdir -p "$AUDIT_FS" || mt_fail "mkdir $AUDIT_FS failed"
mount -t tmpfs -o "size=$FS_SIZE,mode=0700" tmpfs "$AUDIT_FS" ||
    mt_fail "cannot mount a tmpfs on $AUDIT_FS"
mt_storages
chmod 755 "$MT_DIR" "$MT_DIR/$STORE" || mt_fail "chmod 755 $MT_DIR failed"
mt_token "$TOKEN" Administrator
SECRET=${MT_AUTH#PVEAPIToken=$TOKEN=}
mt_api_start "audit-log $AUDIT_LOG"

# A wrong secret: an authentication failure.
GOOD_AUTH=$MT_AUTH
MT_AUTH="PVEAPIToken=$TOKEN=00000000-0000-0000-0000-000000000000"
mt_curl GET cluster/status
mt_expect 401 "GET cluster/status with a wrong secret"
MT_AUTH=$GOOD_AUTH

# 700: kept (quit without cleanup).  The used control ticket replayed.
migrate 700
ctl_ok '{"cmd":"config","conf":"name: test\nmemory: 512\n'\
'scsihw: virtio-scsi-pci\nscsi0: '"$VOLID"',size=1M\n"}'
ctl_ok '{"cmd":"unlock"}'
mt_ws_upgrade 700 "$SOCKET" "${TICKETS[0]}"
mt_expect 401 "the control ticket of 700 used a second time"
ctl_ok '{"cmd":"quit","cleanup":0}'
ctl_close
mt_wait_task_stopped "$UPID"

# 701: a disk allocated, then quit with cleanup.
migrate 701
ctl_ok '{"cmd":"disk","format":"raw","storage":"'"$STORE"'",'\
'"drive":{"interface":"scsi","index":1,"size":1048576}}'
ctl_ok '{"cmd":"quit","cleanup":1}'
ctl_close
mt_wait_task_stopped "$UPID"

# 702: the tunnel is killed after the import.
migrate 702
pid=$(mt_tunnel_pid 702)
[ -n "$pid" ] || mt_fail "no tunnel pid for 702 in the log"
kill -KILL "$pid"
mt_wait_task_stopped "$UPID"
mt_poll 50 test ! -e "$MT_PREFIX/var/lib/mtunneld/journal/702" ||
    mt_fail "the journal of 702 is still there 5 s after its tunnel died"

# The full file system: fill it, then write records until one fails.
dd if=/dev/zero of="$AUDIT_FS/filler" bs=4k 2>/dev/null
for ((i = 0; i < FILL_TRIES; i++)); do
	grep -q 'new migrations are rejected' "$MT_LOG" && break
	mt_curl GET cluster/status
done
grep -q 'audit log .* write failed: No space left on device; new' \
    "$MT_LOG" || mt_fail "no log line about the failed audit write after" \
    "$i requests on a full file system"
mt_post_mtunnel 703 -d "storages=$STORE" -d bridges=
mt_expect 503 "POST mtunnel while the audit log cannot be written"
grep -q 'audit log cannot be written' "$MT_BODY" || mt_fail "the 503" \
    "body does not say why: $(cat "$MT_BODY")"
[ ! -e "$MT_CONFDIR/qemu-server/703.conf" ] ||
    mt_fail "a config for 703 was created while the log was full"
rm -f "$AUDIT_FS/filler"
open_tunnel 703
TICKETS+=("$TICKET")
ctl_open 703
ctl_ok '{"cmd":"quit","cleanup":1}'
ctl_close
mt_wait_task_stopped "$UPID"
grep -q 'audit log writable again' "$MT_LOG" ||
    mt_fail "no log line about the audit log being writable again"

mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"

# Every event type, with the right user and VMID.
expect_record daemon-start '.event == "daemon-start"'
expect_record daemon-stop '.event == "daemon-stop"'
expect_record "the authentication failure" \
    ".event == \"auth-failure\" and .user == \"$TOKEN\" and .remote == \"127.0.0.1\""
expect_record "an API request" ".event == \"api-request\" and"\
" .endpoint == \"POST mtunnel\" and .vmid == 700 and .status == 200 and"\
" .user == \"$TOKEN\" and .remote == \"127.0.0.1\""
for vmid in 700 701 702 703; do
	expect_event mtunnel-requested "$vmid"
	expect_event tunnel-created "$vmid"
	expect_event ticket-minted "$vmid"
	expect_event ticket-used "$vmid"
	expect_event tunnel-ended "$vmid"
	expect_event cleanup "$vmid"
done
for cmd in bwlimit disk-import ticket query-disk-import config unlock \
    quit; do
	expect_event tunnel-command 700 ".command == \"$cmd\" and .result == \"ok\""
done
expect_event tunnel-command 701 '.command == "disk" and .result == "ok"'
expect_event ticket-refused 700
expect_event volume-imported 700
expect_event volume-allocated 701
expect_event volume-freed 701
expect_event volume-freed 702
expect_event cleanup 700 '.kept == true'
expect_event cleanup 701 '.kept == false'
expect_event child-lost 702 '.role == "tunnel"'
expect_record "the failed writes" \
    '.event == "audit-log-recovered" and .lost >= 1'

# No secret and no ticket in the log.
grep -qF -- "$SECRET" "$AUDIT_LOG" && mt_fail "the token secret is in the" \
    "audit log"
for t in "${TICKETS[@]}"; do
	[ -n "$t" ] || mt_fail "a ticket of the test is empty"
	grep -qF -- "$t" "$AUDIT_LOG" &&
	    mt_fail "ticket $t is in the audit log"
done

# audit show: filters and --json.
ctl audit show --vmid 701 >"$MT_DIR/show.out" 2>&1 ||
    mt_fail "audit show --vmid 701 failed: $(cat "$MT_DIR/show.out")"
[ "$(grep -c . "$MT_DIR/show.out")" = "$(records '.vmid == 701')" ] ||
    mt_fail "audit show --vmid 701 printed $(grep -c . "$MT_DIR/show.out")" \
    "lines, expected $(records '.vmid == 701')"
grep -q "volume-allocated.* user=$TOKEN vmid=701" "$MT_DIR/show.out" ||
    mt_fail "audit show --vmid 701 lacks volume-allocated: $(cat "$MT_DIR/show.out")"
ctl audit show --user "$USER" --json >"$MT_DIR/show.json" ||
    mt_fail "audit show --user $USER --json failed"
[ "$(jq -c 'select(.user != "'"$TOKEN"'")' "$MT_DIR/show.json" | wc -l)" = 0 ] &&
    [ "$(wc -l <"$MT_DIR/show.json")" = "$(records ".user == \"$TOKEN\"")" ] ||
    mt_fail "audit show --user $USER --json printed other records"
[ -z "$(ctl audit show --since 2999-01-01)" ] ||
    mt_fail "audit show --since 2999-01-01 printed records"

# audit verify: passes, then names the seq of each edit.
out=$(ctl audit verify 2>&1) || mt_fail "audit verify failed: $out"
grep -q '^OK: ' <<<"$out" || mt_fail "audit verify printed '$out'"
last=$(tail -n 1 "$AUDIT_LOG" | jq .seq)
tamper changed.log "$(line_of 10)s/\"event\":\"/\"event\":\"x/"
verify_fails "$MT_DIR/changed.log" 10 "a changed byte in seq 10"
tamper deleted.log "$(line_of 12)d"
verify_fails "$MT_DIR/deleted.log" 12 "deleting seq 12"
tamper swapped.log "$(line_of 7){h;d};$(line_of 8)G"
verify_fails "$MT_DIR/swapped.log" 7 "swapping seq 7 and 8"
tamper truncated.log '$d'
verify_fails "$MT_DIR/truncated.log" "$last" "deleting the last record"
tamper cut.log ''
truncate -s -20 "$MT_DIR/cut.log"
verify_fails "$MT_DIR/cut.log" "$last" "cutting the last record short"
tamper last.log '$s/"event":"/"event":"x/'
verify_fails "$MT_DIR/last.log" "$last" "a changed byte in the last record"

# The last record removed while the daemon is stopped: the next start
# continues the chain with a record of the mismatch, which verify names.
sed -i '$d' "$AUDIT_LOG" || mt_fail "cannot delete the last audit record"
mt_api_start "audit-log $AUDIT_LOG"
mt_stop || mt_fail "the restarted daemon exited with status $? after SIGTERM"
expect_record "the head mismatch at the restart" \
    ".event == \"audit-log-head-mismatch\" and .log_seq == $((last - 1))"\
" and .head_seq == $last and .seq == $last"
grep -q "audit log .* ends at seq $((last - 1)) but its head file" \
    "$MT_LOG" || mt_fail "no log line about the head mismatch"
out=$(ctl audit verify 2>&1) &&
    mt_fail "audit verify passed after a record was removed while the" \
    "daemon was stopped: $out"
grep -qx "FAILED at seq $last" <<<"$out" || mt_fail "audit verify after" \
    "the restart printed '$out', expected 'FAILED at seq $last'"
exit 0
