# Cleanup from the journal.  When priv is killed with SIGKILL in the
# middle of an import, its next start frees the partial volume, the other
# volumes and the config.  A volume that existed before the migration is
# never removed.  Cleanup undoes a migration that wrote its config, with
# its firewall file.  Once the config is unlocked, nothing is destroyed.

. "$(dirname "$0")/priv-lib.sh"

pt_tree
cd "$MT_DIR" || exit 1
head -c 1000 /dev/urandom > part

# A volume from before the migration, with a name priv would pick.
mkdir -p "$P/tank/images/100" && chmod -R 755 "$P/tank"
echo "older than the migration" > "$P/tank/images/100/vm-100-disk-0.raw"

pd_start
pd_ok create 100
pd_ok alloc 100 tank raw 1048576
pd_expect '"volid":"tank:100/vm-100-disk-1.raw"'
pd_ok alloc 100 tank qcow2 1048576
pd_expect '"volid":"tank:100/vm-100-disk-2.qcow2"'
pd_ok import 100 tank vm-100-disk-3 raw raw+size 0

# A client announces 10 MB, sends 1000 bytes and stalls.
{ le64 10000000; cat part; sleep 30; } |
    socat -u - "UNIX-CONNECT:$P/run/100/100.storage" &
client=$!
for ((i = 0; i < 50; i++)); do
	pd_ok query 100
	case $PD_LINE in *"1000 of 10000000"*) break ;; esac
	sleep 0.1
done
pd_expect "1000 of 10000000 bytes received"
journal_has 100 "volume-receiving tank:100/vm-100-disk-3.raw" ||
    mt_fail "journal lacks the volume being received"
import_child=$(mt_children "$PD_PRIV" | while read -r pid; do
	[ "$(mt_title "$pid")" != spawner ] && echo "$pid"; done | head -n 1)
[ -n "$import_child" ] || mt_fail "no import child of priv"

pd kill
mt_wait_gone "$import_child" ||
    mt_fail "the import child $import_child outlived priv"
kill "$client" 2>/dev/null
for f in vm-100-disk-1.raw vm-100-disk-2.qcow2 vm-100-disk-3.raw; do
	[ -e "$P/tank/images/100/$f" ] || mt_fail "$f gone before the restart"
done

# The next start replays the journal.  A query waits behind the cleanup.
pd_start
pd_error "no disk import running" query 100
[ "$(ls "$P/tank/images/100")" = vm-100-disk-0.raw ] ||
    mt_fail "left after the restart: $(ls "$P/tank/images/100")"
[ "$(cat "$P/tank/images/100/vm-100-disk-0.raw")" = \
    "older than the migration" ] || mt_fail "the older volume changed"
[ ! -e "$P/conf/qemu-server/100.conf" ] || mt_fail "config 100 left"
[ ! -e "$P/state/journal/100" ] || mt_fail "journal 100 left"
[ ! -e "$P/run/100" ] || mt_fail "socket directory of 100 left"
grep -q "vmid 100: cleanup (left by an earlier run)" "$PD_LOG" ||
    mt_fail "no log line for the replayed cleanup"

# A written config, then quit with cleanup: all of it goes.
pd_ok create 101
pd_ok alloc 101 tank raw 4096
printf 'memory: 512\nscsi0: tank:101/vm-101-disk-0.raw,size=4K\n' > c101
printf '[OPTIONS]\n\nenable: 1\n' > fw
printf 'scsi0: tank:101/vm-101-disk-0.raw\nscsi1: %s\n' \
    tank:100/vm-100-disk-0.raw > foreign
pd_error "volume 'tank:100/vm-100-disk-0.raw' of scsi1 was not allocated" \
    write 101 foreign
pd_ok write 101 c101 fw
grep -q '^lock: migrate$' "$P/conf/qemu-server/101.conf" ||
    mt_fail "config 101 is not locked migrate"
[ -e "$P/conf/firewall/101.fw" ] || mt_fail "no firewall file for 101"
pd_ok cleanup 101 0
pd_error "no disk import running" query 101
[ ! -e "$P/conf/qemu-server/101.conf" ] || mt_fail "config 101 left"
[ ! -e "$P/conf/firewall/101.fw" ] || mt_fail "firewall file 101 left"
[ ! -e "$P/tank/images/101/vm-101-disk-0.raw" ] || mt_fail "volume left"

# Unlocked: the migration finished, cleanup keeps the VM.
pd_ok create 102
pd_ok alloc 102 tank raw 4096
printf 'memory: 512\nscsi0: tank:102/vm-102-disk-0.raw,size=4K\n' > c102
pd_ok write 102 c102
pd_error "Encountered wrong lock" lock 102 set create -
pd_ok lock 102 set migrate -
pd_ok lock 102 check -
grep -q '^lock:' "$P/conf/qemu-server/102.conf" && mt_fail "still locked"
pd_ok cleanup 102 0
pd_error "no disk import running" query 102
[ -e "$P/conf/qemu-server/102.conf" ] || mt_fail "config 102 removed"
[ -e "$P/tank/images/102/vm-102-disk-0.raw" ] || mt_fail "volume removed"
[ ! -e "$P/state/journal/102" ] || mt_fail "journal 102 left"

# A journal whose record points elsewhere removes nothing there.
pd_ok create 103
echo keep > "$MT_DIR/precious"
echo "1 volume-allocated tank:103/vm-103-disk-0.raw $MT_DIR/precious" \
    >> "$P/state/journal/103"
pd_ok cleanup 103 0
pd_error "no disk import running" query 103
[ "$(cat "$MT_DIR/precious")" = keep ] || mt_fail "a listed path was removed"

pd_stop
echo "priv-journal: cleanup removes what the journal lists, nothing else"
