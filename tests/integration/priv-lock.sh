# The per-VMID lock and create-and-lock.  Two priv processes racing to
# create the same VMIDs on one config directory each win some, and never
# the same one.  A request that waits for a busy lock does not hold up
# requests for other VMIDs.  It goes on once the lock is free, and fails
# with "timeout waiting for lock" after 5 s.

. "$(dirname "$0")/priv-lib.sh"

VMIDS=$(seq 300 339)

pt_tree
cd "$MT_DIR" || exit 1

# Two privs on one config and run directory, each with its own journal
# directory (two daemons on one state directory are not a case).
for i in 1 2; do
	mkdir -m 755 "$P/state$i"
	mkfifo "in$i"
	"$PRIVDRIVE" "$MTUNNELD" "$P/conf" "$P/state$i" "$P/run" /bin/true \
	    "$QEMU_IMG" "$QEMU_USER" < "in$i" > "out$i" 2>> "$PD_LOG" &
	eval "exec {w$i}>in$i"
done
mt_poll 100 grep -q '^ready' out1 || mt_fail "first priv did not start"
mt_poll 100 grep -q '^ready' out2 || mt_fail "second priv did not start"
mt_track "$(sed -n 's/^ready //p' out1)" "$(sed -n 's/^ready //p' out2)"
for v in $VMIDS; do echo "create $v"; done >&"$w1" &
feed1=$!
for v in $VMIDS; do echo "create $v"; done >&"$w2" &
feed2=$!
wait "$feed1" "$feed2"
exec {w1}>&- {w2}>&-
wait

for v in $VMIDS; do
	[ "$(cat "$P/conf/qemu-server/$v.conf")" = "lock: create" ] ||
	    mt_fail "config $v is not the placeholder"
	n=0
	[ -e "$P/state1/journal/$v" ] && n=$((n + 1))
	[ -e "$P/state2/journal/$v" ] && n=$((n + 1))
	[ "$n" = 1 ] || mt_fail "VMID $v has $n journals"
done
oks=$(cat out1 out2 | grep -c '^ok *$')
exists=$(cat out1 out2 | grep -c '^error 17 VM [0-9]* already exists$')
[ "$oks" = 40 ] || mt_fail "$oks creates succeeded, expected 40"
[ "$exists" = 40 ] || mt_fail "$exists creates refused, expected 40"

# A busy lock: one priv, the lock of 101 held by another process.
pd_start "$P/state1"
pd_ok create 101
pd_ok create 102
flock "$P/run/lock-101.conf" sleep 2 &
mt_poll 50 bash -c "! flock -n '$P/run/lock-101.conf' true" ||
    mt_fail "the lock of 101 was not taken"
start=$(date +%s%N)
pd async alloc 101 tank raw 4096
pd_ok alloc 102 tank raw 4096
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed" -lt 1000 ] ||
    mt_fail "VM 102 waited $elapsed ms behind the lock of VM 101"
pd collect
pd_expect '"volid":"tank:101/vm-101-disk-0.raw"'
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed" -ge 1000 ] || mt_fail "VM 101 did not wait for its lock"

flock "$P/run/lock-101.conf" sleep 7 &
holder=$!
mt_poll 50 bash -c "! flock -n '$P/run/lock-101.conf' true" ||
    mt_fail "the lock of 101 was not taken"
pd_error "timeout waiting for lock" alloc 101 tank raw 4096
[ ! -e "$P/tank/images/101/vm-101-disk-1.raw" ] ||
    mt_fail "a volume was allocated without the lock"
wait "$holder"

pd_stop
echo "priv-lock: one winner per VMID, lock waits stay local"
