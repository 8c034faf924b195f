#!/usr/bin/env bash
# A control connection that ends without quit leaves the target as it
# was before the mtunnel POST: no config, no volume, no socket directory
# and no journal.  One migration per point of the offline sequence:
# after version, after bwlimit, after disk-import before any data, and
# after a completed import.  A quit with cleanup 1 right after
# disk-import, before any data, frees the volume too.
. "$(dirname "$0")/lib.sh"

STORE=vmstore
DATA_BYTES=1048576	# 1 MiB of random data as the source volume
WS_TIMEOUT=20		# seconds wstool waits for progress
REPLY_TIMEOUT=15	# seconds for one reply on the control websocket

JOURNAL_DIR=$MT_PREFIX/var/lib/mtunneld/journal

# disk_import VMID: the disk-import request; sets IMPORT_PATH and
# VOLFILE, the file the import writes.
disk_import()
{
	local vmid=$1

	ctl_ok '{"cmd":"disk-import","volname":"vm-100-disk-0.raw",'\
'"format":"raw","storage":"'"$STORE"'","export_formats":"raw+size",'\
'"with_snapshots":0,"allow_rename":1}'
	IMPORT_PATH=$(reply_field .socket)
	[ -n "$IMPORT_PATH" ] ||
	    mt_fail "disk-import for $vmid replied '$REPLY' without a socket"
	VOLFILE=$MT_DIR/$STORE/images/$vmid/vm-$vmid-disk-0.raw
	[ -e "$VOLFILE" ] ||
	    mt_fail "disk-import for $vmid created no volume at $VOLFILE"
}

# send_data VMID: DATA as raw+size over the import websocket, then poll
# until the import is complete.
send_data()
{
	ctl_ok '{"cmd":"ticket","path":"'"$IMPORT_PATH"'"}'
	import_send "$1" "$IMPORT_PATH" "$(reply_field .ticket)"
	[ "$(sha256sum <"$VOLFILE")" = "$DATA_SUM" ] ||
	    mt_fail "volume $VOLFILE differs from the $DATA_BYTES bytes sent"
}

# migrate_until VMID STEP: a fresh migration of VMID that runs the
# offline sequence up to and including STEP (version, bwlimit,
# disk-import or import).
migrate_until()
{
	local vmid=$1 step=$2

	open_tunnel "$vmid"
	ctl_open "$vmid"
	ctl_ok '{"cmd":"version"}'
	[ "$step" = version ] && return
	ctl_ok '{"cmd":"bwlimit","storages":["'"$STORE"'"],"bwlimit":null}'
	[ "$step" = bwlimit ] && return
	disk_import "$vmid"
	[ "$step" = disk-import ] && return
	send_data "$vmid"
}

target_clean()
{
	local vmid=$1

	[ ! -e "$MT_CONFDIR/qemu-server/$vmid.conf" ] &&
	    [ ! -e "$MT_RUNDIR/$vmid" ] &&
	    [ ! -e "$JOURNAL_DIR/$vmid" ] &&
	    [ -z "$(find "$MT_DIR/$STORE/images/$vmid" -type f 2>/dev/null)" ]
}

# expect_clean VMID WHEN: within 5 s the target has nothing of VMID left.
expect_clean()
{
	local vmid=$1 when=$2 conf=$MT_CONFDIR/qemu-server/$1.conf

	mt_wait_task_stopped "$UPID"
	mt_poll 50 target_clean "$vmid" && return 0
	[ ! -e "$conf" ] ||
	    mt_fail "$when: config $conf left: $(cat "$conf")"
	[ ! -e "$MT_RUNDIR/$vmid" ] || mt_fail "$when: socket directory" \
	    "$MT_RUNDIR/$vmid left: $(ls -la "$MT_RUNDIR/$vmid" 2>&1)"
	[ ! -e "$JOURNAL_DIR/$vmid" ] || mt_fail "$when: journal" \
	    "$JOURNAL_DIR/$vmid left: $(cat "$JOURNAL_DIR/$vmid" 2>&1)"
	mt_fail "$when: volumes left in the storage:" \
	    "$(find "$MT_DIR/$STORE/images/$vmid" -type f)"
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
mt_api_start

vmid=710
for step in version bwlimit disk-import import; do
	target_clean "$vmid" ||
	    mt_fail "vmid $vmid is not clean before its migration"
	migrate_until "$vmid" "$step"
	ctl_close
	expect_clean "$vmid" "disconnect after $step"
	vmid=$((vmid + 1))
done

# quit with cleanup 1 before any data frees the volume of disk-import.
migrate_until 720 disk-import
ctl_ok '{"cmd":"quit","cleanup":1}'
ctl_close
expect_clean 720 "quit with cleanup 1 after disk-import"

mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
