#!/usr/bin/env bash
# Leftovers of incoming migrations without a journal: the daemon reports
# each config locked "create" or "migrate" at start, and 'mtunnelctl
# cleanup VMID' removes such a config and its socket directory.  cleanup
# rejects a config without a lock or with another lock, a VMID that has a
# journal, and a VMID whose socket directory a process still names.
. "$(dirname "$0")/lib.sh"

: "${MTUNNELCTL:=$MT_TESTS/../../mtunnelctl}"
[ -x "$MTUNNELCTL" ] || mt_fail "$MTUNNELCTL not found: run 'make mtunnelctl'"

CONFDIR=$MT_PREFIX/etc/mtunneld
QSDIR=$CONFDIR/qemu-server
RUNDIR=$MT_PREFIX/run/mtunneld
JOURNAL_DIR=$MT_PREFIX/var/lib/mtunneld/journal
OUT=$MT_DIR/ctl.out
ERR=$MT_DIR/ctl.err
HOLDER=""		# pid of the process naming a socket directory

trap '[ -z "$HOLDER" ] || kill "$HOLDER" 2>/dev/null; mt_cleanup' EXIT

ctl()
{
	"$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" "$@" >"$OUT" 2>"$ERR"
}

# fails TEXT ARG...: mtunnelctl ARG... exits 1 with TEXT on stderr.
fails()
{
	local text=$1 rc

	shift
	ctl "$@"
	rc=$?
	[ "$rc" = 1 ] ||
	    mt_fail "mtunnelctl $*: exit $rc, expected 1: $(cat "$ERR")"
	grep -qF -- "$text" "$ERR" ||
	    mt_fail "mtunnelctl $*: stderr lacks '$text': $(cat "$ERR")"
}

# report_line VMID LOCK: the start-up warning for VMID.
report_line()
{
	grep -F "vmid $1: config has 'lock: $2'" "$MT_LOG" |
	    grep -qF "run 'mtunnelctl cleanup $1' to remove it"
}

mt_config
mkdir -p "$QSDIR" || mt_fail "mkdir $QSDIR failed"
printf 'lock: create\n' >"$QSDIR/300.conf"
printf 'name: left\nlock: migrate\nmemory: 512\n' >"$QSDIR/301.conf"
printf 'name: plain\nmemory: 512\n' >"$QSDIR/302.conf"
printf 'lock: backup\nname: busy\n' >"$QSDIR/303.conf"
printf 'lock: create\n' >"$QSDIR/304.conf"
printf 'name: snap\n[snap1]\nlock: create\n' >"$QSDIR/305.conf"

mt_start 2
report_line 300 create || mt_fail "no start-up warning for vmid 300"
report_line 301 migrate || mt_fail "no start-up warning for vmid 301"
for vmid in 302 303 305; do
	! grep -q "vmid $vmid: config has" "$MT_LOG" ||
	    mt_fail "start-up warning for vmid $vmid, which has no" \
	    "create or migrate lock: $(grep "vmid $vmid:" "$MT_LOG")"
done

# A leftover with its socket directory, which contains a socket.
mkdir -p "$RUNDIR/300" || mt_fail "mkdir $RUNDIR/300 failed"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
    "$RUNDIR/300/300.qmp" || mt_fail "cannot bind $RUNDIR/300/300.qmp"
ctl cleanup 300 || mt_fail "cleanup 300 exited $?: $(cat "$ERR")"
[ ! -e "$QSDIR/300.conf" ] || mt_fail "cleanup 300 left $QSDIR/300.conf"
[ ! -e "$RUNDIR/300" ] || mt_fail "cleanup 300 left $RUNDIR/300:" \
    "$(ls -la "$RUNDIR/300")"
grep -qxF "removed config $QSDIR/300.conf" "$OUT" ||
    mt_fail "cleanup 300 did not print the removed config: $(cat "$OUT")"
grep -qxF "removed socket $RUNDIR/300/300.qmp" "$OUT" ||
    mt_fail "cleanup 300 did not print the removed socket: $(cat "$OUT")"
grep -qF "volumes of vmid 300 are not removed" "$ERR" ||
    mt_fail "cleanup 300 did not say that volumes stay: $(cat "$ERR")"

ctl cleanup 301 || mt_fail "cleanup 301 exited $?: $(cat "$ERR")"
[ ! -e "$QSDIR/301.conf" ] || mt_fail "cleanup 301 left $QSDIR/301.conf"

fails "has no lock" cleanup 302
[ -f "$QSDIR/302.conf" ] || mt_fail "cleanup 302 removed an unlocked config"
fails "has 'lock: backup'" cleanup 303
[ -f "$QSDIR/303.conf" ] || mt_fail "cleanup 303 removed a backup-locked config"
fails "has no lock" cleanup 305
[ -f "$QSDIR/305.conf" ] || mt_fail "cleanup 305 removed a config whose" \
    "lock is in a snapshot only"
fails "cannot open config" cleanup 399
fails "invalid VMID '99'" cleanup 99
fails "invalid VMID '30x'" cleanup 30x

# A process naming the socket directory of 304 stands for its QEMU.
bash -c "exec -a 'fake $RUNDIR/304/304.qmp' sleep 30" &
HOLDER=$!
mt_poll 50 grep -qF "$RUNDIR/304/" "/proc/$HOLDER/cmdline" ||
    mt_fail "the holder process $HOLDER did not start"
fails "process $HOLDER has an argument containing $RUNDIR/304/" cleanup 304
[ -f "$QSDIR/304.conf" ] || mt_fail "cleanup 304 removed the config while" \
    "process $HOLDER names its socket directory"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
HOLDER=""
ctl cleanup 304 || mt_fail "cleanup 304 after the holder ended exited" \
    "$?: $(cat "$ERR")"
[ ! -e "$QSDIR/304.conf" ] || mt_fail "cleanup 304 left $QSDIR/304.conf"

# The per-VMID lock held by someone else: cleanup times out, bounded.
printf 'lock: create\n' >"$QSDIR/306.conf"
exec {lockfd}>"$RUNDIR/lock-306.conf"
flock -x "$lockfd" || mt_fail "cannot lock $RUNDIR/lock-306.conf"
fails "timed out after 10 s waiting for the lock on $RUNDIR/lock-306.conf" \
    cleanup 306
exec {lockfd}>&-
[ -f "$QSDIR/306.conf" ] || mt_fail "cleanup 306 removed the config" \
    "without the lock"

# A VMID with a journal belongs to the daemon's cleanup.
mkdir -p "$JOURNAL_DIR" || mt_fail "mkdir $JOURNAL_DIR failed"
: >"$JOURNAL_DIR/306"
fails "vmid 306 has a journal" cleanup 306
[ -f "$QSDIR/306.conf" ] || mt_fail "cleanup 306 removed a journaled config"
rm -f "$JOURNAL_DIR/306"

mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
