#!/usr/bin/env bash
# Live migration with mtunnel-migrate --online through the real daemon,
# with real QEMU under TCG: VMID 100, started with mtunnelctl start,
# has a raw disk that moves over NBD (drive-mirror) and an unused qcow2
# disk that moves through disk-import.  While the mirror runs, QMP
# writes a known pattern into the guest's disk, so the target must get
# the data as it is at the switch-over.  Afterwards the target VM 200
# runs (QMP query-status), the source QEMU is gone, and the disks are
# equal by SHA-256.  Faults: the client killed after start, during the
# mirror and during the memory transfer leaves nothing on the target,
# and the source keeps running.
. "$(dirname "$0")/lib.sh"

: "${MT_MIGRATE:=$MT_TESTS/../../mtunnel-migrate}"
: "${MT_QMPCALL:=$MT_TESTS/../tools/qmpcall}"
RAW_BYTES=67108864	# 64 MiB, the mirrored disk
QCOW_BYTES=8388608	# 8 MiB, the unused qcow2 disk's virtual size
MIGRATE_TIMEOUT=40	# seconds for one migration
SLOW_KIB=8192		# --bwlimit: the mirror takes about 6 s, because
			# QEMU copies its first 16 MiB at once
MEMORY_KIB=512		# --bwlimit: about 1.2 MiB of an idle guest's
			# memory takes about 2 s
SRC=100
DST=200
QEMU_USER=_mtunneld-qemu	# the default qemu_user of mtunneld.conf

SRCSTORE=$MT_DIR/srcstore
SRCIMG=$SRCSTORE/images/$SRC
DSTIMG=$MT_DIR/vmstore/images/$DST
SRCCONF=$MT_CONFDIR/qemu-server/$SRC.conf

ctl_vm()
{
	timeout 30 "$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" "$@" \
	    >"$MT_DIR/vm.out" 2>"$MT_DIR/vm.err" ||
	    mt_fail "mtunnelctl $* failed: $(cat "$MT_DIR/vm.err")"
}

make_source()
{
	local t=$'\t'

	mkdir -p "$SRCIMG" || mt_fail "mkdir $SRCIMG failed"
	printf '%s\n' "" "dir: srcstore" "${t}path $SRCSTORE" \
	    "${t}content images" >>"$MT_CONFDIR/storage.cfg"
	openssl rand "$RAW_BYTES" >"$SRCIMG/vm-$SRC-disk-0.raw" ||
	    mt_fail "cannot write the raw source disk"
	openssl rand "$QCOW_BYTES" >"$MT_DIR/qcow.raw" ||
	    mt_fail "cannot write the qcow2 source data"
	qemu-img convert -f raw -O qcow2 "$MT_DIR/qcow.raw" \
	    "$SRCIMG/vm-$SRC-disk-1.qcow2" ||
	    mt_fail "qemu-img convert to qcow2 failed"
	QCOW_SUM=$(sha256sum <"$MT_DIR/qcow.raw")
	# QEMU opens the images as root, then runs as the QEMU user (-runas).
	# When a mirror fails it opens the image again, as that user, and
	# aborts if it cannot, so the images belong to that user.
	chown "$QEMU_USER" "$SRCIMG"/* || mt_fail "chown $QEMU_USER failed"
	printf '%s\n' "name: src" "memory: 128" "kvm: 0" \
	    "scsihw: virtio-scsi-pci" \
	    "scsi0: srcstore:$SRC/vm-$SRC-disk-0.raw,size=64M" \
	    "unused0: srcstore:$SRC/vm-$SRC-disk-1.qcow2" \
	    >"$SRCCONF" || mt_fail "cannot write $SRCCONF"
}

# qmp ARG...: qmpcall, retried for up to 5 s while another client
# (mtunnel-migrate polls between its own commands) uses the QMP socket,
# which serves one client at a time.
qmp()
{
	local i out rc

	for ((i = 0; i < 50; i++)); do
		out=$(timeout 15 "$MT_QMPCALL" -t 10 "$@" 2>&1)
		rc=$?
		case $rc:$out in
		*"connect "*) sleep 0.1 ;;
		*) break ;;
		esac
	done
	printf '%s\n' "$out"
	return "$rc"
}

# write_pattern: QMP-driven guest writes into the source disk.
write_pattern()
{
	qmp -H "$MT_RUNDIR/$SRC/qmp" \
	    "qemu-io drive-scsi0 \"write -P 0x5a 1M 2M\"" \
	    >"$MT_DIR/qemuio.out" 2>&1
}

# Kill what this test started outside the daemon: the client and every
# QEMU whose command line names this test's directory.
live_exit()
{
	local f pid

	[ -z "${MIGPID:-}" ] || kill -KILL $(pgrep -P "$MIGPID") 2>/dev/null
	for f in "$MT_RUNDIR"/*/pid; do
		pid=$(cat "$f" 2>/dev/null) || continue
		tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" |
		    grep -qF -- "$MT_DIR/" && kill -KILL "$pid"
	done
	mt_api_cleanup
}

mt_api_init
trap live_exit EXIT
mt_storages
chmod 755 "$MT_DIR" "$MT_DIR/vmstore" || mt_fail "chmod 755 failed"
make_source
mt_token 'mig@pve!t1' Administrator
mt_api_start
for tool in "$MT_MIGRATE" "$MT_QMPCALL"; do
	[ -x "$tool" ] || mt_fail "$tool not found: run make"
done

# start_source: run VMID 100 with mtunnelctl and wait for its QMP socket.
start_source()
{
	ctl_vm start "$SRC"
	mt_poll 100 test -S "$MT_RUNDIR/$SRC/qmp" ||
	    mt_fail "no QMP socket of the source VM at $MT_RUNDIR/$SRC/qmp"
	SRCPID=$(cat "$MT_RUNDIR/$SRC/pid" 2>/dev/null)
	[ -n "$SRCPID" ] || mt_fail "no pid file of the source VM"
	mt_bg_track "$SRCPID"
}

# migrate_bg OUT [ARG...]: start mtunnel-migrate --online in the
# background; output in $MT_DIR/OUT.out and OUT.err, pid in MIGPID.
migrate_bg()
{
	local out=$MT_DIR/$1 target

	shift
	target="host=127.0.0.1,port=$MT_PORT,apitoken=$MT_AUTH"
	target="$target,fingerprint=$MT_FP"
	timeout "$MIGRATE_TIMEOUT" "$MT_MIGRATE" -f "$MT_CONF" \
	    -p "$MT_PREFIX" --target "$target" \
	    --target-vmid "$DST" --target-storage vmstore \
	    --target-bridge vmbr0 --online "$@" "$SRC" >"$out.out" \
	    2>"$out.err" &
	MIGPID=$!
}

# wait_line OUT TEXT: wait up to 30 s for TEXT in the client's output.
wait_line()
{
	mt_poll 300 grep -qs "$2" "$MT_DIR/$1.out" || mt_fail "no '$2'" \
	    "from mtunnel-migrate: $(cat "$MT_DIR/$1.out" "$MT_DIR/$1.err")"
}

# The source VM responds to QMP and runs.
expect_source_running()
{
	local status

	mt_alive "$SRCPID" || mt_fail "$1: the source QEMU $SRCPID is gone"
	status=$(qmp "$MT_RUNDIR/$SRC/qmp" query-status 2>&1)
	case $status in
	*'"running": true'* | *'"running":true'*) ;;
	*) mt_fail "$1: the source VM is not running: $status" ;;
	esac
}

# Nothing of the target VMID is left: config, volumes, QEMU, sockets.
expect_target_clean()
{
	local left

	mt_poll 100 test ! -e "$MT_CONFDIR/qemu-server/$DST.conf" ||
	    mt_fail "$1: config of $DST left on the target:" \
	    "$(cat "$MT_CONFDIR/qemu-server/$DST.conf")"
	mt_poll 100 test ! -e "$MT_RUNDIR/$DST" || mt_fail "$1: run" \
	    "directory of $DST left: $(ls -la "$MT_RUNDIR/$DST" 2>&1)"
	left=$(find "$DSTIMG" -type f 2>/dev/null)
	[ -z "$left" ] || mt_fail "$1: volumes of $DST left: $left"
	left=$(pgrep -f -- "$MT_RUNDIR/$DST/" 2>/dev/null)
	[ -z "$left" ] || mt_fail "$1: a QEMU for $DST still runs: $left"
}

# fault_kill WHAT TEXT DELAY: kill the client with SIGKILL DELAY seconds
# after TEXT appears.  The target must clean up, and the source must
# keep running.  Its lock stays, as after any killed migration, and is
# removed here.
fault_kill()
{
	local what=$1 text=$2 delay=$3

	migrate_bg "$what" --bwlimit "$SLOW_KIB"
	wait_line "$what" "$text"
	sleep "$delay"
	grep -q 'all mirrors ready' "$MT_DIR/$what.out" && mt_fail "$what:" \
	    "the mirror was done before the kill: $(cat "$MT_DIR/$what.out")"
	# MIGPID is timeout(1); the client is its child.
	kill -KILL $(pgrep -P "$MIGPID") 2>/dev/null
	wait "$MIGPID" 2>/dev/null
	expect_target_clean "killed $what"
	expect_source_running "killed $what"
	sed -i '/^lock: /d' "$SRCCONF"
}

# fault_memory: VM 101 without disks moves to 201 with a memory
# transfer slow enough to kill the client in the middle of it.
fault_memory()
{
	local src=$SRC dst=$DST conf=$SRCCONF img=$DSTIMG pid=$SRCPID

	SRC=101
	DST=201
	SRCCONF=$MT_CONFDIR/qemu-server/$SRC.conf
	DSTIMG=$MT_DIR/vmstore/images/$DST
	printf '%s\n' "name: mem" "memory: 128" "kvm: 0" >"$SRCCONF"
	start_source
	migrate_bg during-memory --bwlimit "$MEMORY_KIB"
	wait_line during-memory 'starting the memory migration'
	sleep 0.5
	grep -q 'memory migrated' "$MT_DIR/during-memory.out" &&
	    mt_fail "during-memory: the memory was done before the kill:" \
	    "$(cat "$MT_DIR/during-memory.out")"
	kill -KILL $(pgrep -P "$MIGPID") 2>/dev/null
	wait "$MIGPID" 2>/dev/null
	expect_target_clean "killed during-memory"
	expect_source_running "killed during-memory"
	qmp "$MT_RUNDIR/$SRC/qmp" quit >/dev/null 2>&1
	SRC=$src
	DST=$dst
	SRCCONF=$conf
	DSTIMG=$img
	SRCPID=$pid
}

start_source
fault_kill after-start 'target VM started' 0
fault_kill during-mirror 'starting drive-mirror' 2
fault_memory

# The migration: a slow mirror, and a guest write while it runs.
migrate_bg live --bwlimit "$SLOW_KIB"
wait_line live 'starting drive-mirror'
write_pattern || mt_fail "qemu-io write on the source failed:" \
    "$(cat "$MT_DIR/qemuio.out")"
wait "$MIGPID"
RC=$?
[ "$RC" = 0 ] || mt_fail "live migration exited with status $RC:" \
    "$(cat "$MT_DIR/live.err") $(tail -n 30 "$MT_DIR/live.out")"
grep -q 'memory migrated: downtime' "$MT_DIR/live.out" ||
    mt_fail "no downtime line: $(cat "$MT_DIR/live.out")"

# The source QEMU is gone, the target runs.
mt_poll 100 bash -c "! kill -0 $SRCPID 2>/dev/null" ||
    mt_fail "source QEMU $SRCPID still runs after the migration"
STATUS=$(qmp "$MT_RUNDIR/$DST/qmp" query-status 2>&1)
case $STATUS in
*'"status": "running"'* | *'"status":"running"'*) ;;
*) mt_fail "target VM is not running: $STATUS" ;;
esac

# The source disk, with the pattern written during the mirror, equals
# the target disk.
SRC_SUM=$(sha256sum <"$SRCIMG/vm-$SRC-disk-0.raw")
PATTERN=$(dd if="$SRCIMG/vm-$SRC-disk-0.raw" bs=1M skip=1 count=2 \
    2>/dev/null | tr -d '\132' | wc -c)
[ "$PATTERN" = 0 ] || mt_fail "the QMP write did not reach the source" \
    "disk ($PATTERN bytes differ from 0x5a)"
DST_SUM=$(sha256sum <"$DSTIMG/vm-$DST-disk-0.raw")
[ "$SRC_SUM" = "$DST_SUM" ] || mt_fail "mirrored disk differs"
DST_QCOW=$(ls "$DSTIMG"/*.qcow2 2>/dev/null | head -n 1)
[ -n "$DST_QCOW" ] || mt_fail "no imported qcow2 volume in $DSTIMG"
qemu-img convert -U -f qcow2 -O raw "$DST_QCOW" "$MT_DIR/dst.raw" ||
    mt_fail "qemu-img convert of $DST_QCOW failed"
[ "$(sha256sum <"$MT_DIR/dst.raw")" = "$QCOW_SUM" ] ||
    mt_fail "unused qcow2 disk differs"

qmp "$MT_RUNDIR/$DST/qmp" quit >/dev/null 2>&1
mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
