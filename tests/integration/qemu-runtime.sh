#!/usr/bin/env bash
# The QEMU runtime through the real daemon and real QEMU under TCG.  A
# migration to VMID 720 allocates two disks, installs a config and sends
# start: the migration and NBD sockets appear, and QEMU waits for the
# incoming migration.  A second QEMU, started from the same config as
# VMID 721 with its own disks, then migrates live straight into those
# sockets: each disk mirrored over NBD, then memory.  resume leaves the
# target running with the source's disk contents.  resume, stop and
# nbdstop on a VM that does not run give a clear error, and a control
# connection that ends after start leaves no QEMU, volume, config or tap.
# The resumed VM keeps running across a restart of the daemon, which
# reports it at start, and stop ends a VM that runs.
# All of it runs in a network namespace of its own, with a bridge vmbr0
# for that last VM's NIC.
if [ -z "${MT_IN_NETNS:-}" ]; then
	exec unshare --net --mount --propagation private \
	    env MT_IN_NETNS=1 bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

STORE=vmstore
TARGET=720
SOURCE=721
ABORTED=722
STOPPED=723
DISK_MB=16
QMP_TIMEOUT=10
JOB_TRIES=150		# polls, 0.2 s apart, for mirrors and migration

QMPCALL=$(realpath "$MT_TESTS/../tools/qmpcall")

# qmp VMID COMMAND [ARGS]: QMP on the VM's socket; output in QMP_OUT.
qmp()
{
	local vmid=$1

	shift
	QMP_OUT=$("$QMPCALL" -t "$QMP_TIMEOUT" "$MT_RUNDIR/$vmid/qmp" "$@" \
	    2>&1) || mt_fail "QMP $* on $vmid failed: $QMP_OUT"
}

# config_text DISK0 DISK1: the VM config both QEMUs are started from;
# NET0_OPTS is appended to net0.
config_text()
{
	printf '%s\n' "name: rt" "memory: 128" "cores: 1" "sockets: 1" \
	    "kvm: 0" "machine: pc-i440fx-7.2" "ostype: l26" \
	    "scsihw: virtio-scsi-pci" "scsi0: $1" "virtio0: $2" \
	    "net0: virtio=BC:24:11:00:00:01${NET0_OPTS:-}" "serial0: socket" \
	    "vga: none"
}

# alloc KEY: the disk command for a drive of DISK_MB; sets DRIVESTR and
# ALLOC_VOLID.
alloc()
{
	ctl_ok '{"cmd":"disk","format":"raw","storage":"'"$STORE"'",'\
'"drive":{"interface":"'"${1%%[0-9]*}"'","index":'"${1##*[a-z]}"','\
'"size":'"$((DISK_MB * 1048576))"'}}'
	DRIVESTR=$(reply_field .drivestr)
	ALLOC_VOLID=$(reply_field .volid)
	[ -n "$DRIVESTR" ] && [ -n "$ALLOC_VOLID" ] ||
	    mt_fail "disk for $1 replied '$REPLY'"
}

# expect_error JSON TEXT: the command fails with TEXT in its message.
expect_error()
{
	ctl_send "$1"
	[ "$(reply_field .success)" = false ] &&
	    grep -qF "$2" <<<"$(reply_field .msg)" ||
	    mt_fail "$1 replied '$REPLY', expected an error with '$2'"
}

# prepare VMID: tunnel, version, two disks, config; sets SCSI0, VIRTIO0
# (drive strings) and VOL0, VOL1 (volume IDs).
prepare()
{
	local vmid=$1

	open_tunnel "$vmid"
	ctl_open "$vmid"
	ctl_ok '{"cmd":"version"}'
	alloc scsi0
	SCSI0=$DRIVESTR
	VOL0=$ALLOC_VOLID
	alloc virtio0
	VIRTIO0=$DRIVESTR
	VOL1=$ALLOC_VOLID
	# A machine type newer than the local QEMU is refused by config.
	expect_error "$(jq -nc --arg c "$(config_text "$SCSI0" "$VIRTIO0" |
	    sed 's/^machine: .*/machine: pc-i440fx-9.2/')" \
	    '{cmd:"config",conf:$c}')" "pc-i440fx-9.2"
	ctl_ok "$(jq -nc --arg c "$(config_text "$SCSI0" "$VIRTIO0")" \
	    '{cmd:"config",conf:$c}')"
}

# start_vm VMID: start with both disks over NBD; checks the reply.
start_vm()
{
	local vmid=$1 nbd=/run/qemu-server/${1}_nbd.migrate

	ctl_ok "$(jq -nc --arg s0 "$SCSI0" --arg v0 "$VOL0" \
	    --arg s1 "$VIRTIO0" --arg v1 "$VOL1" '{cmd:"start",
	    start_params:{statefile:"unix",
	    forcemachine:"pc-i440fx-7.2+pve0",skiplock:1},
	    migrate_opts:{type:"websocket",nbd_proto_version:1,
	    migratedfrom:"src",remote_node:"dst",
	    nbd:{scsi0:{drivestr:$s0,volid:$v0,success:true},
	    virtio0:{drivestr:$s1,volid:$v1}}}}')"
	[ "$(reply_field .migrate.addr)" = "/run/qemu-server/$vmid.migrate" ] &&
	    [ "$(reply_field .migrate.proto)" = unix ] &&
	    [ "$(reply_field '.migrate.unix_sockets[0]')" = "$nbd" ] &&
	    [ "$(reply_field .drives.scsi0.nbd_uri)" = \
	    "nbd:unix:$nbd:exportname=drive-scsi0" ] &&
	    [ "$(reply_field .drives.virtio0.volid)" = "$VOL1" ] ||
	    mt_fail "start of $vmid replied '$REPLY'"
	[ -S "$MT_RUNDIR/$vmid/$vmid.migrate" ] &&
	    [ -S "$MT_RUNDIR/$vmid/${vmid}_nbd.migrate" ] ||
	    mt_fail "no migration or NBD socket after start:" \
	    "$(ls -la "$MT_RUNDIR/$vmid")"
	qmp "$vmid" query-status
	[ "$(jq -r .status <<<"$QMP_OUT")" = inmigrate ] ||
	    mt_fail "target QEMU is '$QMP_OUT', expected inmigrate"
}

# volfile VOLID: the file of a volume on the test storage.
volfile()
{
	printf '%s\n' "$MT_DIR/$STORE/images/${1#*:}"
}

# wait_jobs_ready: both mirror jobs of the source are ready.
wait_jobs_ready()
{
	local i n

	for ((i = 0; i < JOB_TRIES; i++)); do
		qmp "$SOURCE" query-block-jobs
		n=$(jq '[.[] | select(.ready == true)] | length' <<<"$QMP_OUT")
		[ "$n" = 2 ] && return 0
		sleep 0.2
	done
	mt_fail "mirror jobs not ready: $QMP_OUT"
}

wait_migrated()
{
	local i status

	for ((i = 0; i < JOB_TRIES; i++)); do
		qmp "$SOURCE" query-migrate
		status=$(jq -r .status <<<"$QMP_OUT")
		case $status in
		completed)
			return 0
			;;
		failed|cancelled)
			mt_fail "migration $status: $QMP_OUT"
			;;
		esac
		sleep 0.2
	done
	mt_fail "migration not completed: $QMP_OUT"
}

[ -x "$QMPCALL" ] || mt_fail "$QMPCALL not found: run 'make $QMPCALL'"
command -v qemu-system-x86_64 >/dev/null && command -v qemu-io >/dev/null ||
    mt_fail "QEMU not found: run 'make deps'"
command -v ip >/dev/null || mt_fail "ip(8) not found: run 'make deps'"
ip link set lo up && mount -t sysfs sysfs /sys &&
    ip link add vmbr0 type bridge && ip link set vmbr0 up ||
    mt_fail "cannot set up loopback and bridge vmbr0 in the namespace"
mt_api_init
mt_storages
chmod 755 "$MT_DIR" "$MT_DIR/$STORE" || mt_fail "chmod 755 $MT_DIR failed"
mt_token 'mig@pve!t1' Administrator
mt_api_start
trap 'for v in $TARGET $SOURCE $ABORTED $STOPPED; do
	"$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" stop $v >/dev/null 2>&1
done; mt_api_cleanup' EXIT

# The runtime commands before any QEMU runs.
prepare "$TARGET"
expect_error '{"cmd":"resume"}' "VM $TARGET not running"
expect_error '{"cmd":"stop"}' "VM $TARGET not running"
expect_error '{"cmd":"nbdstop"}' "VM $TARGET not running"
ctl_ok '{"cmd":"fstrim"}'

start_vm "$TARGET"
expect_error '{"cmd":"start","start_params":{},"migrate_opts":'\
'{"type":"websocket"}}' "already running"

# The source: the same config as VMID SOURCE, disks of random data.
mkdir -p "$MT_DIR/$STORE/images/$SOURCE" || mt_fail "mkdir failed"
for d in 0 1; do
	f=$MT_DIR/$STORE/images/$SOURCE/vm-$SOURCE-disk-$d.raw
	head -c $((DISK_MB * 1048576)) /dev/urandom >"$f" ||
	    mt_fail "cannot write $f"
done
chmod 644 "$MT_DIR/$STORE/images/$SOURCE"/*.raw
chmod 755 "$MT_DIR/$STORE/images" "$MT_DIR/$STORE/images/$SOURCE"
config_text "$STORE:$SOURCE/vm-$SOURCE-disk-0.raw,size=${DISK_MB}M" \
    "$STORE:$SOURCE/vm-$SOURCE-disk-1.raw,size=${DISK_MB}M" \
    >"$MT_CONFDIR/qemu-server/$SOURCE.conf"
mt_ctl start "$SOURCE"
qmp "$SOURCE" query-status
[ "$(jq -r .status <<<"$QMP_OUT")" = running ] ||
    mt_fail "source QEMU is '$QMP_OUT', expected running"

# The source QEMU runs as the QEMU user, which cannot enter the root-only
# run directory of the target: relay through sockets it may reach, as a
# source's websocket tunnel does.
RELAY=$MT_DIR/relay
mkdir -m 0711 "$RELAY" || mt_fail "mkdir $RELAY failed"
for s in nbd migrate; do
	[ $s = nbd ] && t=${TARGET}_nbd.migrate || t=$TARGET.migrate
	socat "UNIX-LISTEN:$RELAY/$s,fork,mode=0666" \
	    "UNIX-CONNECT:$MT_RUNDIR/$TARGET/$t" 2>>"$MT_DIR/socat.err" &
	mt_bg_track $!
done
mt_poll 50 test -S "$RELAY/nbd" -a -S "$RELAY/migrate" ||
    mt_fail "socat relays did not start: $(cat "$MT_DIR/socat.err")"

# Mirror both disks into the target's NBD exports, then memory.
nbdsock=$RELAY/nbd
for key in scsi0 virtio0; do
	qmp "$SOURCE" drive-mirror "$(jq -nc --arg k "$key" --arg s "$nbdsock" \
	    '{device:("drive-" + $k), "job-id":("mirror-" + $k),
	    target:("nbd:unix:" + $s + ":exportname=drive-" + $k),
	    sync:"full", mode:"existing", format:"raw"}')"
done
wait_jobs_ready
qmp "$SOURCE" migrate "$(jq -nc \
    --arg u "unix:$RELAY/migrate" '{uri:$u}')"
wait_migrated
for key in scsi0 virtio0; do
	qmp "$SOURCE" block-job-cancel "{\"device\":\"mirror-$key\"}"
done
ctl_ok '{"cmd":"nbdstop"}'
ctl_ok '{"cmd":"resume"}'
qmp "$TARGET" query-status
[ "$(jq -r .status <<<"$QMP_OUT")" = running ] ||
    mt_fail "target QEMU is '$QMP_OUT' after resume, expected running"
for d in 0 1; do
	v=VOL$d
	cmp -s "$MT_DIR/$STORE/images/$SOURCE/vm-$SOURCE-disk-$d.raw" \
	    "$(volfile "${!v}")" || mt_fail "disk $d differs after migration"
done
ctl_ok '{"cmd":"unlock"}'
ctl_ok '{"cmd":"quit","cleanup":0}'
ctl_close
mt_wait_task_stopped "$UPID"
qmp "$TARGET" query-status
[ "$(jq -r .status <<<"$QMP_OUT")" = running ] ||
    mt_fail "target QEMU is '$QMP_OUT' after quit, expected running"

# The VM outlives the daemon, and a new daemon finds it.
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
qmp "$TARGET" query-status
[ "$(jq -r .status <<<"$QMP_OUT")" = running ] ||
    mt_fail "target QEMU is '$QMP_OUT' after the daemon stopped"
mt_api_start
mt_poll 50 grep -q "vmid $TARGET: QEMU runs, pid" "$MT_LOG" ||
    mt_fail "the new daemon did not report VM $TARGET running"
mt_ctl stop "$TARGET"
mt_ctl stop "$SOURCE"

# stop on a started VM, then quit with cleanup.
prepare "$STOPPED"
start_vm "$STOPPED"
pid=$(cat "$MT_RUNDIR/$STOPPED/pid")
ctl_ok '{"cmd":"stop"}'
mt_dead "$pid" || mt_fail "QEMU $pid of $STOPPED runs after stop"
expect_error '{"cmd":"resume"}' "VM $STOPPED not running"
ctl_ok '{"cmd":"quit","cleanup":1}'
ctl_close
mt_wait_task_stopped "$UPID"
mt_poll 50 test ! -e "$MT_CONFDIR/qemu-server/$STOPPED.conf" ||
    mt_fail "config of $STOPPED left after quit with cleanup"

# A control connection that ends after start: QEMU, volumes, config,
# sockets and the tap all go.
NET0_OPTS=,bridge=vmbr0
prepare "$ABORTED"
start_vm "$ABORTED"
tap=/sys/class/net/tap${ABORTED}i0
[ "$(basename "$(readlink "$tap/master")")" = vmbr0 ] ||
    mt_fail "no tap${ABORTED}i0 in vmbr0 after start"
pid=$(cat "$MT_RUNDIR/$ABORTED/pid")
ctl_close
mt_wait_task_stopped "$UPID"
mt_poll 100 mt_dead "$pid" || mt_fail "QEMU $pid of $ABORTED still runs" \
    "after the control connection ended"
mt_poll 50 test ! -e "$MT_CONFDIR/qemu-server/$ABORTED.conf" ||
    mt_fail "config of $ABORTED left after the cleanup"
[ ! -e "$(volfile "$VOL0")" ] && [ ! -e "$(volfile "$VOL1")" ] ||
    mt_fail "volumes of $ABORTED left after the cleanup"
[ ! -e "$tap" ] || mt_fail "tap${ABORTED}i0 left after the cleanup"
mt_poll 50 test ! -e "$MT_RUNDIR/$ABORTED" ||
    mt_fail "run directory of $ABORTED left: $(ls -la "$MT_RUNDIR/$ABORTED")"

mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
