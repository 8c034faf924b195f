#!/usr/bin/env bash
# The QMP client against real QEMU: an incoming-migration QEMU (TCG, -S)
# with a raw disk exports that disk over NBD on a listening UNIX socket
# that this test binds and passes with getfd.  Data written through NBD
# with qemu-io must be in the image file after nbd-server-stop and quit,
# and the rest of the image must be unchanged.  QEMU's errors must reach
# qmpcall's stderr and exit status.  Needs qemu-system-x86_64 and
# qemu-io (Debian 12 ships QEMU 7.2), jq and tests/tools/qmpcall.

root=$(cd "$(dirname "$0")/../.." && pwd)
QMPCALL=$root/tests/tools/qmpcall

IMAGE_BYTES=4194304	# 4 MiB raw image, filled with 0x5a first
EXPORT=drive-scsi0	# -drive id, export id and NBD export name
FDNAME=nbd-listen	# getfd name of the listening socket
QMP_TIMEOUT=10		# seconds qmpcall waits for a reply
START_TRIES=100		# x 0.1 s for the QMP socket to appear
EXIT_TRIES=100		# x 0.1 s for QEMU to exit after quit
DRIVE_OPTS=cache=none,aio=threads

dir=$(mktemp -d)
qemu_pid=""

cleanup()
{
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill -KILL "$qemu_pid"
		wait "$qemu_pid"
	fi 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail()
{
	echo "FAIL: $*"
	if [ -s "$dir/qemu.log" ]; then
		echo "--- qemu.log"
		tail -n 20 "$dir/qemu.log"
	fi
	exit 1
}

# qmp COMMAND [ARGS-JSON]: run a command that must succeed and print its
# return value.
qmp()
{
	"$QMPCALL" -t "$QMP_TIMEOUT" "$dir/qmp.sock" "$@" 2>"$dir/qmp.err" ||
	    fail "QMP $1 failed: $(cat "$dir/qmp.err")"
}

now_ms()
{
	echo $(($(date +%s%N) / 1000000))
}

for tool in qemu-system-x86_64 qemu-io qemu-img jq "$QMPCALL"; do
	command -v "$tool" >/dev/null ||
	    fail "$tool not found: run 'make deps' and 'make'"
done

# The image: 0x5a everywhere, so a write in the wrong place shows.
qemu-img create -q -f raw "$dir/disk.raw" "$IMAGE_BYTES" ||
    fail "qemu-img create failed"
qemu-io -f raw -c "write -q -P 0x5a 0 $IMAGE_BYTES" "$dir/disk.raw" ||
    fail "cannot fill $dir/disk.raw"

t0=$(now_ms)
qemu-system-x86_64 -machine pc-i440fx-7.2,accel=tcg -m 64 -nodefaults \
    -display none -S \
    -chardev "socket,id=qmp,path=$dir/qmp.sock,server=on,wait=off" \
    -mon chardev=qmp,mode=control \
    -drive "if=none,id=$EXPORT,format=raw,file=$dir/disk.raw,$DRIVE_OPTS" \
    -incoming "unix:$dir/migrate.sock" >"$dir/qemu.log" 2>&1 &
qemu_pid=$!

for ((i = 0; i < START_TRIES; i++)); do
	[ -S "$dir/qmp.sock" ] && break
	kill -0 "$qemu_pid" 2>/dev/null || fail "QEMU exited at start"
	sleep 0.1
done
[ -S "$dir/qmp.sock" ] || fail "no QMP socket after $START_TRIES tries"

status=$(qmp query-status | jq -r .status)
[ "$status" = inmigrate ] || fail "QEMU status '$status', expected inmigrate"
t_ready=$(now_ms)

# QEMU names the format node of a -drive itself ("#blockNNN") unless the
# -drive sets node-name.  block-export-add needs that node name: the
# drive id is a BlockBackend name, which block-export-add does not take.
node=$(qmp query-block | jq -r --arg id "$EXPORT" \
    '.[] | select(.device == $id) | .inserted["node-name"]')
[ -n "$node" ] && [ "$node" != null ] ||
    fail "no node name for $EXPORT in query-block"

if "$QMPCALL" "$dir/qmp.sock" block-export-add \
    '{"type":"nbd","id":"x","node-name":"'"$EXPORT"'","name":"x"}' \
    >/dev/null 2>"$dir/qmp.err"; then
	fail "block-export-add on the drive id succeeded, expected an error"
fi
grep -q "node-name='$EXPORT'" "$dir/qmp.err" ||
    fail "QEMU's error missing from qmpcall's stderr: $(cat "$dir/qmp.err")"

# The test binds the listening socket and passes it, so QEMU never binds.
qmp -F "$dir/nbd.sock" getfd '{"fdname":"'"$FDNAME"'"}' >/dev/null
[ -S "$dir/nbd.sock" ] || fail "qmpcall -F did not create $dir/nbd.sock"

# QEMU 7.2 takes the legacy SocketAddress form here, with "data".
qmp nbd-server-start \
    '{"addr":{"type":"fd","data":{"str":"'"$FDNAME"'"}}}' >/dev/null
if "$QMPCALL" "$dir/qmp.sock" nbd-server-start \
    '{"addr":{"type":"fd","data":{"str":"'"$FDNAME"'"}}}' \
    >/dev/null 2>"$dir/qmp.err"; then
	fail "a second nbd-server-start succeeded, expected an error"
fi
[ -s "$dir/qmp.err" ] ||
    fail "second nbd-server-start: no error message on stderr"

qmp block-export-add '{"type":"nbd","id":"'"$EXPORT"'",'\
'"node-name":"'"$node"'","name":"'"$EXPORT"'","writable":true}' >/dev/null
exports=$(qmp query-block-exports | jq -r '.[].id')
[ "$exports" = "$EXPORT" ] || fail "exports '$exports', expected $EXPORT"
t_export=$(now_ms)

url="nbd+unix:///$EXPORT?socket=$dir/nbd.sock"
qemu-io -f raw -c 'write -q -P 0xab 0 1M' "$url" ||
    fail "qemu-io write through $url failed"
out=$(qemu-io -f raw -c 'read -q -P 0xab 0 1M' "$url" 2>&1)
[ $? = 0 ] && [ -z "$out" ] || fail "read back through NBD: $out"
t_write=$(now_ms)

qmp nbd-server-stop >/dev/null
qemu-io -f raw -c 'read -q 0 512' "$url" >/dev/null 2>&1 &&
    fail "NBD export still reachable after nbd-server-stop"

# quit replies, then QEMU sends SHUTDOWN on the same connection.
data=$("$QMPCALL" -t "$QMP_TIMEOUT" -e SHUTDOWN "$dir/qmp.sock" quit \
    2>"$dir/qmp.err") || fail "quit: $(cat "$dir/qmp.err")"
[ "$(echo "$data" | sed -n 2p | jq -r .reason)" = host-qmp-quit ] ||
    fail "quit printed '$data', expected {} and a SHUTDOWN event"

for ((i = 0; i < EXIT_TRIES; i++)); do
	kill -0 "$qemu_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$qemu_pid" 2>/dev/null && fail "QEMU still runs after quit"
wait "$qemu_pid"
rc=$?
qemu_pid=""
[ "$rc" = 0 ] || fail "QEMU exited with status $rc"
t_end=$(now_ms)

out=$(qemu-io -f raw -c 'read -q -P 0xab 0 1M' \
    -c "read -q -P 0x5a 1M $((IMAGE_BYTES - 1048576))" "$dir/disk.raw" 2>&1)
[ $? = 0 ] && [ -z "$out" ] || fail "image content after quit: $out"

echo "timings (ms): QMP ready $((t_ready - t0)), export up" \
    "$((t_export - t_ready)), 1 MiB write and read $((t_write - t_export))," \
    "stop and exit $((t_end - t_write))"
