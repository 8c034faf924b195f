#!/usr/bin/env bash
# An offline migration as a Proxmox VE source runs it, through the real
# daemon: the mtunnel POST, then on the control websocket version,
# bwlimit, disk-import of a raw volume sent over a second websocket as a
# raw+size stream, query-disk-import until complete, config, unlock and
# quit.  The imported volume must equal the sent data, and after quit
# with cleanup 0 the config and the volume stay while the socket
# directory and the journal go.  A control connection that ends without
# quit after the import, and a quit with cleanup 1, must leave no config,
# volume, socket directory or journal behind.
. "$(dirname "$0")/lib.sh"

STORE=vmstore
DATA_BYTES=8388608	# 8 MiB of random data as the source volume
WS_TIMEOUT=20		# seconds wstool waits for progress
REPLY_TIMEOUT=15	# seconds for one reply on the control websocket

JOURNAL_DIR=$MT_PREFIX/var/lib/mtunneld/journal

# import_volume VMID: run disk-import, send DATA as raw+size over the
# import websocket, poll until complete, check the volume's content.
# Sets VOLID and VOLFILE.
import_volume()
{
	local vmid=$1 path=/run/qemu-server/$1.storage

	ctl_ok '{"cmd":"disk-import","volname":"vm-100-disk-0.raw",'\
'"format":"raw","storage":"'"$STORE"'","export_formats":"raw+size",'\
'"with_snapshots":0,"allow_rename":1}'
	[ "$(reply_field .socket)" = "$path" ] || mt_fail "disk-import for" \
	    "$vmid replied '$REPLY', expected socket $path"
	[ "$(reply_field .format)" = raw+size ] || mt_fail "disk-import for" \
	    "$vmid replied '$REPLY', expected format raw+size"

	ctl_ok '{"cmd":"ticket","path":"'"$path"'"}'
	[ -n "$(reply_field '.ticket // empty')" ] ||
	    mt_fail "ticket for $path replied '$REPLY' without a ticket"
	import_send "$vmid" "$path" "$(reply_field .ticket)"
	VOLID=$(reply_field .volid)
	[ "$VOLID" = "$STORE:$vmid/vm-$vmid-disk-0.raw" ] || mt_fail "import" \
	    "for $vmid completed as '$VOLID', expected" \
	    "$STORE:$vmid/vm-$vmid-disk-0.raw"
	VOLFILE=$MT_DIR/$STORE/images/$vmid/vm-$vmid-disk-0.raw
	[ -f "$VOLFILE" ] || mt_fail "no imported volume at $VOLFILE"
	[ "$(sha256sum <"$VOLFILE")" = "$DATA_SUM" ] || mt_fail "volume" \
	    "$VOLFILE ($(stat -c %s "$VOLFILE") bytes) differs from the" \
	    "$DATA_BYTES bytes sent"
}

# start_migration VMID: the tunnel, the control websocket, version and
# bwlimit, then the import of DATA.
start_migration()
{
	local vmid=$1 limit

	open_tunnel "$vmid"
	[ -f "$JOURNAL_DIR/$vmid" ] ||
	    mt_fail "no journal $JOURNAL_DIR/$vmid after the mtunnel POST"
	ctl_open "$vmid"
	ctl_ok '{"cmd":"version"}'
	[ "$(reply_field .api)" = 2 ] ||
	    mt_fail "version replied '$REPLY', expected api 2"
	ctl_ok '{"cmd":"bwlimit","storages":["'"$STORE"'"],"bwlimit":null}'
	limit=$(reply_field .bwlimit)
	# The daemon-wide migration limit of the config below; the storage
	# has none of its own.
	[ "$limit" = 51200 ] || mt_fail "bwlimit" \
	    "replied '$REPLY', expected the daemon's migration limit 51200"
	import_volume "$vmid"
}

# wait_ended VMID: the task stops within 5 s and the socket directory
# and the journal of VMID are gone.
wait_ended()
{
	local vmid=$1

	mt_wait_task_stopped "$UPID"
	mt_poll 50 test ! -e "$MT_RUNDIR/$vmid" || mt_fail "socket" \
	    "directory $MT_RUNDIR/$vmid still there 5 s after the tunnel" \
	    "ended: $(ls -la "$MT_RUNDIR/$vmid" 2>&1)"
	mt_poll 50 test ! -e "$JOURNAL_DIR/$vmid" || mt_fail "journal" \
	    "$JOURNAL_DIR/$vmid still there 5 s after the tunnel ended:" \
	    "$(cat "$JOURNAL_DIR/$vmid" 2>&1)"
}

# expect_removed VMID: nothing of the migration is left.
expect_removed()
{
	local vmid=$1 conf=$MT_CONFDIR/qemu-server/$1.conf left

	wait_ended "$vmid"
	[ ! -e "$conf" ] || mt_fail "config $conf of $vmid still there after" \
	    "the cleanup: $(cat "$conf")"
	[ ! -e "$VOLFILE" ] || mt_fail "volume $VOLFILE of $vmid still" \
	    "there after the cleanup"
	left=$(find "$MT_DIR/$STORE/images/$vmid" -type f 2>/dev/null)
	[ -z "$left" ] || mt_fail "files of $vmid left in the storage" \
	    "after the cleanup: $left"
}

DATA=$MT_DIR/data
openssl rand "$DATA_BYTES" >"$DATA" ||
    mt_fail "cannot write $DATA_BYTES bytes of random data to $DATA"
DATA_SUM=$(sha256sum <"$DATA")

mt_api_init
mt_storages
# priv runs qemu-img info on the imported file as the QEMU user, which
# must reach the storage through the test directory (mktemp -d makes it
# 0700).
chmod 755 "$MT_DIR" "$MT_DIR/$STORE" || mt_fail "chmod 755 $MT_DIR failed"
mt_token 'mig@pve!t1' Administrator
mt_api_start 'bwlimit migration=51200,default=102400'

# The full sequence, ending in quit with cleanup 0: the VM stays.
start_migration 700
CONF=$MT_CONFDIR/qemu-server/700.conf
ctl_ok '{"cmd":"config","conf":"name: test\nmemory: 512\n'\
'scsihw: virtio-scsi-pci\nscsi0: '"$VOLID"',size=8M\n"}'
grep -qx 'lock: migrate' "$CONF" ||
    mt_fail "config of 700 has no 'lock: migrate' after config: $(cat "$CONF")"
grep -qx "scsi0: $VOLID,size=8M" "$CONF" ||
    mt_fail "config of 700 lacks 'scsi0: $VOLID,size=8M': $(cat "$CONF")"
ctl_ok '{"cmd":"unlock"}'
! grep -q '^lock:' "$CONF" ||
    mt_fail "config of 700 still has a lock after unlock: $(cat "$CONF")"
ctl_ok '{"cmd":"quit","cleanup":0}'
ctl_close
wait_ended 700
[ -f "$CONF" ] || mt_fail "config $CONF removed after quit with cleanup 0"
grep -qx "scsi0: $VOLID,size=8M" "$CONF" || mt_fail "config of 700 lost" \
    "'scsi0: $VOLID,size=8M' after quit: $(cat "$CONF")"
! grep -q '^lock:' "$CONF" ||
    mt_fail "config of 700 has a lock after quit: $(cat "$CONF")"
[ "$(sha256sum <"$VOLFILE" 2>/dev/null)" = "$DATA_SUM" ] ||
    mt_fail "volume $VOLFILE missing or changed after quit with cleanup 0"
[ "$MT_TASK_EXIT" = OK ] || mt_fail "task of 700 stopped with exit" \
    "status '$MT_TASK_EXIT', expected OK"

# The control connection ends after a completed import, without quit.
start_migration 701
ctl_close
expect_removed 701

# quit with cleanup 1 right after a completed import.
start_migration 702
ctl_ok '{"cmd":"quit","cleanup":1}'
ctl_close
expect_removed 702

mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
