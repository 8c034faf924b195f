#!/usr/bin/env bash
# The QEMU runtime against a hostile migration source and a hostile QEMU,
# through the real daemon and real QEMU under TCG.
#
# As the source: start with NBD entries that name another migration's
# volume, a drive the config lacks, an unknown entry key or no object is
# rejected, and the VM does not start.  A forcecpu QEMU rejects fails
# with QEMU's message, and start then works in the same migration, also
# after stop.  A daemon stopped by SIGTERM while start runs leaves QEMU
# running, and the next daemon kills it and removes config and volumes.
#
# As QEMU: a QMP line over the client's maximum fails resume at once and
# leaves the daemon running.
#
# Two slower checks (QEMU_ATTACK_SLOW=0 skips them):
# - QEMU keeps its pid file open, so it can write another pid there; stop
#   must then neither kill that process nor leave QEMU running.
# - fstrim must reply in bounded time when the guest agent socket never
#   accepts a connection.
. "$(dirname "$0")/lib.sh"

STORE=vmstore
DISK_MB=4
OTHER=751		# a second migration running at the same time
NBDVM=750
RETRY=752
TERMVM=753
QMPVM=754
PIDVM=755
QGAVM=756
QMP_FAIL_MAX=3		# seconds for a QMP failure on a too long line
FSTRIM_MAX=20		# seconds for fstrim on an agent that never accepts

# config_text DISK: a small VM with one SCSI disk; EXTRA adds a line.
config_text()
{
	printf '%s\n' "name: attack" "memory: 64" "cores: 1" "sockets: 1" \
	    "kvm: 0" "machine: pc-i440fx-7.2" "ostype: l26" \
	    "scsihw: virtio-scsi-pci" "scsi0: $1" "vga: none" \
	    ${EXTRA:+"$EXTRA"}
}

# prepare VMID: tunnel, version, one disk, config; sets SCSI0 (drive
# string) and VOL0 (volume ID).
prepare()
{
	open_tunnel "$1"
	ctl_open "$1"
	ctl_ok '{"cmd":"version"}'
	ctl_ok '{"cmd":"disk","format":"raw","storage":"'"$STORE"'",'\
'"drive":{"interface":"scsi","index":0,"size":'$((DISK_MB * 1048576))'}}'
	SCSI0=$(reply_field .drivestr)
	VOL0=$(reply_field .volid)
	[ -n "$SCSI0" ] && [ -n "$VOL0" ] ||
	    mt_fail "disk for $1 replied '$REPLY'"
	ctl_ok "$(jq -nc --arg c "$(config_text "$SCSI0")" \
	    '{cmd:"config",conf:$c}')"
}

# start_json NBD [FORCECPU]: a start request with NBD as migrate_opts.nbd.
start_json()
{
	jq -nc --argjson n "$1" --arg fc "${2:-}" '{cmd:"start",
	    start_params:({statefile:"unix",
	    forcemachine:"pc-i440fx-7.2+pve0"} +
	    (if $fc != "" then {forcecpu:$fc} else {} end)),
	    migrate_opts:{type:"websocket", nbd:$n}}'
}

# nbd_of DRIVESTR VOLID [KEY]: one NBD entry, under KEY (default scsi0).
nbd_of()
{
	jq -nc --arg s "$1" --arg v "$2" --arg k "${3:-scsi0}" \
	    '{($k):{drivestr:$s,volid:$v}}'
}

# expect_error JSON TEXT: the command fails with TEXT in its message.
expect_error()
{
	ctl_send "$1"
	[ "$(reply_field .success)" = false ] &&
	    grep -qF "$2" <<<"$(reply_field .msg)" ||
	    mt_fail "$1 replied '$REPLY', expected an error with '$2'"
}

# qemu_pids VMID: pids of QEMU processes of VMID in this test.
qemu_pids()
{
	pgrep -f "^[^ ]*qemu-system[^ ]* .*$MT_RUNDIR/$1/" || true
}

no_qemu()
{
	[ -z "$(qemu_pids "$1")" ]
}

# quit_clean VMID: quit with cleanup; QEMU, config, volume and run
# directory of VMID are gone.
quit_clean()
{
	ctl_ok '{"cmd":"quit","cleanup":1}'
	ctl_close
	mt_wait_task_stopped "$UPID"
	check_gone "$1"
}

check_gone()
{
	local v=$1

	mt_poll 50 no_qemu "$v" ||
	    mt_fail "QEMU of $v still runs: $(qemu_pids "$v")"
	mt_wait_vmid_clean "$v"
	[ -z "$(ls -A "$MT_DIR/$STORE/images/$v" 2>/dev/null)" ] ||
	    mt_fail "volumes of $v left: $(ls -la "$MT_DIR/$STORE/images/$v")"
	[ ! -e "$MT_PREFIX/var/lib/mtunneld/journal/$v" ] ||
	    mt_fail "journal of $v left"
}

command -v qemu-system-x86_64 >/dev/null ||
    mt_fail "QEMU not found: run 'make deps'"
command -v python3 >/dev/null || mt_fail "python3 not found"
mt_api_init
mt_storages
chmod 755 "$MT_DIR" "$MT_DIR/$STORE" || mt_fail "chmod 755 $MT_DIR failed"
mt_token 'mig@pve!t1' Administrator
mt_api_start
trap 'for v in $NBDVM $OTHER $RETRY $TERMVM $QMPVM $PIDVM $QGAVM; do
	"$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" stop $v >/dev/null 2>&1
done; mt_api_cleanup' EXIT

# NBD entries that name what this migration does not own.
prepare "$OTHER"
OTHER_SCSI0=$SCSI0
OTHER_VOL0=$VOL0
OTHER_IN=$CTL_IN
OTHER_PID=$CTL_PID
prepare "$NBDVM"
expect_error "$(start_json "$(nbd_of "$OTHER_SCSI0" "$OTHER_VOL0")")" \
    "Unknown NBD volume 'scsi0:$OTHER_VOL0'"
for key in ide3 virtio15 efidisk0; do
	expect_error "$(start_json "$(nbd_of "$SCSI0" "$VOL0" "$key")")" \
	    "drive '$key' of the config does not use volume '$VOL0'"
done
expect_error "$(start_json "$(jq -nc --arg s "$SCSI0" --arg v "$VOL0" \
    '{scsi0:{drivestr:$s,volid:$v,extra:1}}')")" \
    "Unknown NBD volume key for 'scsi0': 'extra'"
expect_error "$(start_json '"scsi0"')" "nbd: type check ('object') failed"
expect_error "$(start_json "$(nbd_of "$SCSI0,cache=none" "$VOL0")")" \
    "NBD mismatch for 'scsi0'"
no_qemu "$NBDVM" || mt_fail "QEMU of $NBDVM runs after rejected starts"
quit_clean "$NBDVM"

# A forcecpu that QEMU rejects, then start, stop and start again.  The
# start makes only this VM's volume writable for the QEMU group.
other_file=$MT_DIR/$STORE/images/${OTHER_VOL0#*:}
other_mode=$(stat -c '%U:%G %a' "$other_file") ||
    mt_fail "no volume file $other_file"
prepare "$RETRY"
expect_error "$(start_json "$(nbd_of "$SCSI0" "$VOL0")" no-such-model)" \
    "unable to find CPU model 'no-such-model'"
no_qemu "$RETRY" || mt_fail "QEMU of $RETRY runs after a failed start"
ctl_ok "$(start_json "$(nbd_of "$SCSI0" "$VOL0")")"
[ "$(reply_field .drives.scsi0.volid)" = "$VOL0" ] ||
    mt_fail "start of $RETRY replied '$REPLY'"
[ "$(stat -c '%U:%G %a' "$other_file")" = "$other_mode" ] ||
    mt_fail "start of $RETRY changed $other_file to" \
    "$(stat -c '%U:%G %a' "$other_file"), was $other_mode"
for d in "$MT_DIR/$STORE" "$MT_DIR/$STORE/images" \
    "$MT_DIR/$STORE/images/$RETRY"; do
	[ "$(stat -c '%U %A' "$d")" = "root drwxr-xr-x" ] ||
	    mt_fail "$d is $(stat -c '%U %A' "$d") after start, expected" \
	    "root drwxr-xr-x"
done
exec {OTHER_IN}>&-
wait "$OTHER_PID"
check_gone "$OTHER"
expect_error "$(start_json "$(nbd_of "$SCSI0" "$VOL0")")" "already running"
ctl_ok '{"cmd":"stop"}'
mt_poll 50 no_qemu "$RETRY" || mt_fail "QEMU of $RETRY runs after stop"
ctl_ok "$(start_json "$(nbd_of "$SCSI0" "$VOL0")")"
[ -S "$MT_RUNDIR/$RETRY/${RETRY}_nbd.migrate" ] ||
    mt_fail "no NBD socket after the second start of $RETRY"
quit_clean "$RETRY"

# QMP lines over the client's maximum, from a server in QEMU's place.
prepare "$QMPVM"
ctl_ok "$(start_json "$(nbd_of "$SCSI0" "$VOL0")")"
rm -f "$MT_RUNDIR/$QMPVM/qmp" || mt_fail "cannot remove the QMP socket"
timeout 20 python3 - "$MT_RUNDIR/$QMPVM/qmp" <<'EOF' 2>/dev/null &
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(1)
c, _ = s.accept()
c.sendall(b'{"QMP": {"x": "' + b'A' * (4 << 20))
EOF
mt_bg_track $!
mt_poll 50 test -S "$MT_RUNDIR/$QMPVM/qmp" || mt_fail "no fake QMP socket"
start=$SECONDS
expect_error '{"cmd":"resume"}' "longer than"
[ $((SECONDS - start)) -le "$QMP_FAIL_MAX" ] ||
    mt_fail "resume took $((SECONDS - start)) s on a too long QMP line"
mt_alive "$MT_PID" || mt_fail "the daemon exited on a too long QMP line"
quit_clean "$QMPVM"

# SIGTERM while start runs: QEMU outlives the daemon, the next one
# cleans up.
prepare "$TERMVM"
printf '%s\n' "$(start_json "$(nbd_of "$SCSI0" "$VOL0")")" >&"$CTL_IN"
mt_poll 50 test -e "$MT_RUNDIR/$TERMVM/pid" ||
    mt_fail "QEMU of $TERMVM did not start"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
mt_api_start
check_gone "$TERMVM"

if [ "${QEMU_ATTACK_SLOW:-1}" = 1 ]; then
	# QEMU writes another pid into its pid file, through the descriptor
	# it keeps open: a root process that names the VM's directory.
	prepare "$PIDVM"
	ctl_ok "$(start_json "$(nbd_of "$SCSI0" "$VOL0")")"
	qpid=$(cat "$MT_RUNDIR/$PIDVM/pid")
	fd=$(find "/proc/$qpid/fd" -lname "$MT_RUNDIR/$PIDVM/pid" -printf \
	    '%f\n' | head -n 1)
	[ -n "$fd" ] || mt_fail "QEMU $qpid has no open pid file"
	python3 -c 'import time; time.sleep(60)' "$MT_RUNDIR/$PIDVM/" &
	victim=$!
	mt_bg_track "$victim"
	printf '%s\n' "$victim" >"/proc/$qpid/fd/$fd"
	REPLY_TIMEOUT=30 ctl_send '{"cmd":"stop"}'
	mt_alive "$victim" ||
	    mt_fail "stop of $PIDVM killed pid $victim, named in its pid file"
	quit_clean "$PIDVM"

	# The same through mtunnelctl stop, with a process that does not
	# name the VM's directory.
	prepare "$PIDVM"
	ctl_ok "$(start_json "$(nbd_of "$SCSI0" "$VOL0")")"
	qpid=$(cat "$MT_RUNDIR/$PIDVM/pid")
	fd=$(find "/proc/$qpid/fd" -lname "$MT_RUNDIR/$PIDVM/pid" -printf \
	    '%f\n' | head -n 1)
	sleep 60 &
	victim=$!
	mt_bg_track "$victim"
	printf '%s\n' "$victim" >"/proc/$qpid/fd/$fd"
	"$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" stop "$PIDVM" \
	    >/dev/null 2>&1
	mt_alive "$victim" || mt_fail "mtunnelctl stop $PIDVM killed pid" \
	    "$victim, named in its pid file"
	mt_poll 50 no_qemu "$PIDVM" ||
	    mt_fail "QEMU of $PIDVM runs after mtunnelctl stop"
	quit_clean "$PIDVM"

	# A guest agent socket whose backlog is full and never accepts.
	EXTRA="agent: 1" prepare "$QGAVM"
	ctl_ok "$(start_json "$(nbd_of "$SCSI0" "$VOL0")")"
	rm -f "$MT_RUNDIR/$QGAVM/qga" || mt_fail "cannot remove qga"
	timeout 60 python3 - "$MT_RUNDIR/$QGAVM/qga" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(0)
pending = []
for i in range(3):
	c = socket.socket(socket.AF_UNIX)
	c.setblocking(False)
	try:
		c.connect(sys.argv[1])
		pending.append(c)
	except OSError:
		pass
time.sleep(60)
EOF
	mt_bg_track $!
	mt_poll 50 test -S "$MT_RUNDIR/$QGAVM/qga" || mt_fail "no fake qga"
	REPLY_TIMEOUT=$FSTRIM_MAX ctl_ok '{"cmd":"fstrim"}'
	quit_clean "$QGAVM"
fi

mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
