#!/usr/bin/env bash
# Offline migration with mtunnel-migrate through the real daemon: a
# stopped VM (kvm 0) with a raw and a qcow2 disk of random data on the
# dir storage srcstore moves from VMID 100 to VMID 200 on vmstore.  The
# imported volumes must carry the same data (SHA-256), the target config
# must name them, unlocked, and the source must stay, unlocked.  The
# daemon's bandwidth limit must slow the transfer.
# Faults: a wrong fingerprint is rejected before any request is sent,
# which a TLS server of our own checks by recording what arrives.  A
# token without Sys.Incoming gets a clear error and nothing is created.
# A bridge the target lacks is named in the error.  SIGTERM during an
# import ends with the target cleaned up and the source unlocked.
. "$(dirname "$0")/lib.sh"

: "${MT_MIGRATE:=$MT_TESTS/../../mtunnel-migrate}"
RAW_BYTES=8388608	# 8 MiB, the raw disk
QCOW_BYTES=16777216	# 16 MiB, the qcow2 disk's virtual size
MIGRATE_TIMEOUT=40	# seconds for one mtunnel-migrate run
SRC=100
DST=200
DAEMON_KIB=16384	# the daemon's migration limit: 16 MiB/s
MIN_SECONDS=1.2		# 24 MiB at 16 MiB/s, less some rounding
SLOW_KIB=1024		# --bwlimit for the interrupted run: 8 s for scsi0

SRCSTORE=$MT_DIR/srcstore
SRCIMG=$SRCSTORE/images/$SRC
DSTIMG=$MT_DIR/vmstore/images/$DST
SRCCONF=$MT_CONFDIR/qemu-server/$SRC.conf

# migrate OUT VMID TARGET-VMID [ARG...]: run mtunnel-migrate with the
# test config; output in $MT_DIR/OUT.out and OUT.err, status in RC.
migrate()
{
	local out=$MT_DIR/$1 vmid=$2 tvmid=$3

	shift 3
	timeout "$MIGRATE_TIMEOUT" "$MT_MIGRATE" -f "$MT_CONF" \
	    -p "$MT_PREFIX" --target-vmid "$tvmid" \
	    --target-storage vmstore --target-bridge vmbr0 "$@" "$vmid" \
	    >"$out.out" 2>"$out.err"
	RC=$?
}

# target_spec [FINGERPRINT [PORT [AUTH]]]: the --target value.
target_spec()
{
	printf 'host=127.0.0.1,port=%s,apitoken=%s,fingerprint=%s' \
	    "${2:-$MT_PORT}" "${3:-$MT_AUTH}" "${1:-$MT_FP}"
}

# A wrong fingerprint: the daemon's with its first hex digit changed.
wrong_fingerprint()
{
	case $MT_FP in
	0*) echo "1${MT_FP#?}" ;;
	*) echo "0${MT_FP#?}" ;;
	esac
}

# raw_sum FILE FORMAT: SHA-256 of the guest-visible bytes of an image.
raw_sum()
{
	if [ "$2" = qcow2 ]; then
		qemu-img convert -f qcow2 -O raw "$1" "$MT_DIR/sum.raw" ||
		    mt_fail "qemu-img convert of $1 failed"
		sha256sum <"$MT_DIR/sum.raw"
		rm -f "$MT_DIR/sum.raw"
	else
		sha256sum <"$1"
	fi
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
	RAW_SUM=$(sha256sum <"$SRCIMG/vm-$SRC-disk-0.raw")
	QCOW_SUM=$(sha256sum <"$MT_DIR/qcow.raw")
	printf '%s\n' "name: src" "memory: 128" "kvm: 0" \
	    "scsihw: virtio-scsi-pci" \
	    "scsi0: srcstore:$SRC/vm-$SRC-disk-0.raw,size=8M" \
	    "virtio1: srcstore:$SRC/vm-$SRC-disk-1.qcow2,size=16M" \
	    >"$SRCCONF" || mt_fail "cannot write $SRCCONF"
	SRCCONF_SUM=$(sha256sum <"$SRCCONF")
}

# Nothing of VMID on the target: no config, no volume.
expect_nothing()
{
	local vmid=$1 what=$2 left

	mt_poll 50 test ! -e "$MT_CONFDIR/qemu-server/$vmid.conf" ||
	    mt_fail "$what: config of $vmid left on the target:" \
	    "$(cat "$MT_CONFDIR/qemu-server/$vmid.conf")"
	left=$(find "$MT_DIR/vmstore/images/$vmid" -type f 2>/dev/null)
	[ -z "$left" ] || mt_fail "$what: volumes of $vmid left: $left"
}

# The source VM is as before: config unchanged, unlocked, disks there.
expect_source_intact()
{
	[ "$(sha256sum <"$SRCCONF" 2>/dev/null)" = "$SRCCONF_SUM" ] ||
	    mt_fail "$1: source config changed: $(cat "$SRCCONF")"
	[ "$(sha256sum <"$SRCIMG/vm-$SRC-disk-0.raw")" = "$RAW_SUM" ] ||
	    mt_fail "$1: source raw disk changed"
}

test_wrong_fingerprint()
{
	local before

	before=$(wc -l <"$MT_LOG")
	migrate badfp "$SRC" 300 --target "$(target_spec "$(wrong_fingerprint)")"
	[ "$RC" = 1 ] || mt_fail "wrong fingerprint: exit status $RC," \
	    "expected 1: $(cat "$MT_DIR/badfp.err")"
	grep -q 'fingerprint mismatch' "$MT_DIR/badfp.err" ||
	    mt_fail "wrong fingerprint: no 'fingerprint mismatch' in" \
	    "'$(cat "$MT_DIR/badfp.err")'"
	sleep 0.5
	tail -n +"$((before + 1))" "$MT_LOG" >"$MT_DIR/badfp.log"
	! grep -Eq "mig@pve|mtunnel for|ticket|GET|POST" "$MT_DIR/badfp.log" ||
	    mt_fail "wrong fingerprint: the daemon saw a request:" \
	    "$(cat "$MT_DIR/badfp.log")"
	expect_nothing 300 "wrong fingerprint"
	expect_source_intact "wrong fingerprint"
}

# tls_capture own|daemon: run mtunnel-migrate against a TLS server of
# our own (openssl s_server with its own certificate), pinned to that
# certificate's fingerprint (own) or the daemon's (daemon).  Sets
# CAPTURE to what the server printed: its banner and every byte it
# received.
tls_capture()
{
	local port pid fp

	[ -s "$MT_DIR/fake.pem" ] || openssl req -x509 -newkey rsa:2048 \
	    -nodes -days 1 -subj /CN=fake -keyout "$MT_DIR/fake.key" \
	    -out "$MT_DIR/fake.pem" 2>/dev/null || mt_fail "openssl req failed"
	fp=$(openssl x509 -in "$MT_DIR/fake.pem" -noout -fingerprint \
	    -sha256 | sed 's/.*=//')
	[ "$1" = own ] || fp=$MT_FP
	port=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	: >"$MT_DIR/capture"
	# s_server ends at the end of its input, so sleep keeps it open.
	timeout 30 openssl s_server -naccept 1 -accept "127.0.0.1:$port" \
	    -cert "$MT_DIR/fake.pem" -key "$MT_DIR/fake.key" \
	    >"$MT_DIR/capture" 2>&1 < <(sleep 30) &
	pid=$!
	mt_bg_track "$pid"
	mt_poll 50 grep -q '^ACCEPT' "$MT_DIR/capture" ||
	    mt_fail "the test TLS server did not start:" \
	    "$(cat "$MT_DIR/capture")"
	migrate capture "$SRC" 300 --target "$(target_spec "$fp" "$port")"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	CAPTURE=$(cat "$MT_DIR/capture")
}

test_pin_before_token()
{
	local token=${MT_AUTH##*=}

	# The control case: pinned to the server's own certificate, the
	# request with the token arrives, so the capture can see it.
	tls_capture own
	case $CAPTURE in
	*"$token"*) ;;
	*) mt_fail "control case: the test TLS server did not capture the" \
	    "request: '$CAPTURE'; $(cat "$MT_DIR/capture.err")" ;;
	esac
	tls_capture daemon
	case $CAPTURE in
	*"$token"* | *Authorization* | *GET* | *POST*)
		mt_fail "wrong fingerprint: the client sent a request to a" \
		    "server whose certificate did not match: '$CAPTURE'" ;;
	esac
	grep -q 'fingerprint mismatch' "$MT_DIR/capture.err" ||
	    mt_fail "wrong fingerprint: no 'fingerprint mismatch' in" \
	    "'$(cat "$MT_DIR/capture.err")'"
}

test_no_sys_incoming()
{
	local auth=$MT_AUTH

	# Everything a migration needs but Sys.Incoming: VM.Allocate from
	# PVEVMAdmin, the storage privileges from PVEDatastoreUser.
	mt_token 'weak@pve!t2' PVEVMAdmin
	mt_ctl acl set /storage PVEDatastoreUser weak@pve
	migrate weak "$SRC" 300 --target "$(target_spec "" "" "$MT_AUTH")"
	MT_AUTH=$auth
	[ "$RC" = 1 ] || mt_fail "no Sys.Incoming: exit status $RC," \
	    "expected 1: $(cat "$MT_DIR/weak.err")"
	grep -q 'Permission check failed (/, Sys.Incoming)' \
	    "$MT_DIR/weak.err" || mt_fail "no Sys.Incoming: the error does" \
	    "not name the privilege: '$(cat "$MT_DIR/weak.err")'"
	expect_nothing 300 "no Sys.Incoming"
	expect_source_intact "no Sys.Incoming"
}

test_missing_bridge()
{
	local conf=$MT_CONFDIR/qemu-server/101.conf

	printf '%s\n' "name: nic" "memory: 128" \
	    "net0: virtio=BC:24:11:00:00:01,bridge=vmbr9" >"$conf"
	migrate bridge 101 301 --target "$(target_spec)" \
	    --target-bridge vmbr9:nosuchbr0
	[ "$RC" = 1 ] || mt_fail "missing bridge: exit status $RC," \
	    "expected 1: $(cat "$MT_DIR/bridge.err")"
	grep -q 'nosuchbr0' "$MT_DIR/bridge.err" || mt_fail "missing" \
	    "bridge: the error does not name nosuchbr0:" \
	    "'$(cat "$MT_DIR/bridge.err")'"
	expect_nothing 301 "missing bridge"
	grep -q '^lock:' "$conf" && mt_fail "missing bridge: source 101" \
	    "left locked: $(cat "$conf")"
	rm -f "$conf"
}

test_bad_mapping()
{
	migrate badmap "$SRC" 300 --target "$(target_spec)" \
	    --target-storage 'srcstore:bad!id'
	[ "$RC" != 0 ] || mt_fail "bad mapping: exit status 0"
	grep -q "invalid target ID 'bad!id' in 'srcstore:bad!id'" \
	    "$MT_DIR/badmap.err" || mt_fail "bad mapping: the error does" \
	    "not name the bad part: '$(cat "$MT_DIR/badmap.err")'"
}

# SIGTERM during a slow import: quit with cleanup 1, source unlocked.
test_interrupt()
{
	local pid

	timeout "$MIGRATE_TIMEOUT" "$MT_MIGRATE" -f "$MT_CONF" \
	    -p "$MT_PREFIX" --target-vmid 300 --target-storage vmstore \
	    --target-bridge vmbr0 --target "$(target_spec)" \
	    --bwlimit "$SLOW_KIB" "$SRC" >"$MT_DIR/int.out" \
	    2>"$MT_DIR/int.err" &
	pid=$!
	mt_poll 100 grep -q 'scsi0: migrating' "$MT_DIR/int.out" ||
	    mt_fail "interrupt: the import did not start:" \
	    "$(cat "$MT_DIR/int.out" "$MT_DIR/int.err")"
	sleep 1
	grep -q '^lock: migrate$' "$SRCCONF" || mt_fail "interrupt: the" \
	    "source is not locked during the migration: $(cat "$SRCCONF")"
	kill -TERM "$pid"
	wait "$pid"
	RC=$?
	[ "$RC" = 1 ] || mt_fail "interrupt: exit status $RC, expected 1:" \
	    "$(cat "$MT_DIR/int.err")"
	grep -q "bandwidth limit $SLOW_KIB KiB/s" "$MT_DIR/int.out" ||
	    mt_fail "interrupt: --bwlimit $SLOW_KIB was not applied:" \
	    "$(cat "$MT_DIR/int.out")"
	grep -q 'aborting: asking the target to clean up' "$MT_DIR/int.out" ||
	    mt_fail "interrupt: no cleanup: $(cat "$MT_DIR/int.out")"
	expect_nothing 300 "interrupt"
	expect_source_intact "interrupt"
}

test_migrate()
{
	local conf=$MT_CONFDIR/qemu-server/$DST.conf raw qcow start took

	start=$(date +%s.%N)
	migrate ok "$SRC" "$DST" --target "$(target_spec)"
	took=$(echo "$(date +%s.%N) - $start" | bc)
	[ "$RC" = 0 ] || mt_fail "migration exited with status $RC:" \
	    "$(cat "$MT_DIR/ok.err") $(tail -n 20 "$MT_DIR/ok.out")"
	# Without --bwlimit the daemon's migration limit applies.
	grep -q "scsi0: bandwidth limit $DAEMON_KIB KiB/s" "$MT_DIR/ok.out" ||
	    mt_fail "the target's limit $DAEMON_KIB KiB/s was not applied:" \
	    "$(cat "$MT_DIR/ok.out")"
	[ "$(echo "$took >= $MIN_SECONDS" | bc)" = 1 ] || mt_fail "the" \
	    "migration took $took s, below the $MIN_SECONDS s that" \
	    "$DAEMON_KIB KiB/s allows"
	grep -q 'migration finished successfully' "$MT_DIR/ok.out" ||
	    mt_fail "no success line: $(cat "$MT_DIR/ok.out")"
	[ -f "$conf" ] || mt_fail "no target config $conf"
	raw=$DSTIMG/vm-$DST-disk-0.raw
	qcow=$DSTIMG/vm-$DST-disk-1.qcow2
	grep -qx "scsi0: vmstore:$DST/vm-$DST-disk-0.raw,size=8M" "$conf" ||
	    mt_fail "target config lacks the raw disk: $(cat "$conf")"
	grep -qx "virtio1: vmstore:$DST/vm-$DST-disk-1.qcow2,size=16M" \
	    "$conf" || mt_fail "target config lacks the qcow2 disk:" \
	    "$(cat "$conf")"
	grep -qx 'kvm: 0' "$conf" || mt_fail "target config lost kvm: 0"
	! grep -q '^lock:' "$conf" || mt_fail "target config is locked:" \
	    "$(cat "$conf")"
	[ "$(raw_sum "$raw" raw)" = "$RAW_SUM" ] ||
	    mt_fail "raw disk differs after the migration"
	[ "$(raw_sum "$qcow" qcow2)" = "$QCOW_SUM" ] ||
	    mt_fail "qcow2 disk differs after the migration"
	expect_source_intact "after the migration"
}

mt_api_init
mt_storages
chmod 755 "$MT_DIR" "$MT_DIR/vmstore" || mt_fail "chmod 755 failed"
make_source
mt_token 'mig@pve!t1' Administrator
mt_api_start "bwlimit migration=$DAEMON_KIB"
[ -x "$MT_MIGRATE" ] || mt_fail "$MT_MIGRATE not found: run" \
    "'make mtunnel-migrate'"

test_bad_mapping
test_wrong_fingerprint
test_pin_before_token
test_no_sys_incoming
test_missing_bridge
test_interrupt
test_migrate

mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
