#!/usr/bin/env bash
# Tap devices of "mtunnelctl start" in a network namespace of its own
# (with its own /sys, so that /sys/class/net shows that namespace).  A
# Linux bridge vmbr0 exists there.  VM 100 has two NICs on it: start
# creates tap100i0 and tap100i1, owned by the QEMU user, plugged into
# vmbr0, up, and QEMU uses them.  stop removes them.  A NIC on a bridge
# that "bridge vmbr1 tap" names but that does not exist stops the start
# with an error that names the bridge, and leaves no tap and no QEMU.
if [ -z "${MT_IN_NETNS:-}" ]; then
	exec unshare --net --mount --propagation private \
	    env MT_IN_NETNS=1 bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

: "${MTUNNELCTL:=$MT_TESTS/../../mtunnelctl}"
QMPCALL=$(realpath "$MT_TESTS/../tools/qmpcall")
MT_CONFDIR=$MT_PREFIX/etc/mtunneld
MT_RUNDIR=$MT_PREFIX/run/mtunneld
OUT=$MT_DIR/ctl.out
ERR=$MT_DIR/ctl.err
QEMU_USER=_mtunneld-qemu

[ -x "$MTUNNELCTL" ] || mt_fail "$MTUNNELCTL not found: run 'make mtunnelctl'"
[ -x "$QMPCALL" ] || mt_fail "$QMPCALL not found: run 'make tests/tools/qmpcall'"
command -v ip >/dev/null || mt_fail "ip(8) not found"

stop_vm()
{
	local pid

	pid=$(cat "$MT_RUNDIR/100/pid" 2>/dev/null) || return 0
	[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = \
	    "$(readlink -f "$(command -v qemu-system-x86_64)")" ] &&
	    kill -KILL "$pid" 2>/dev/null
}
trap 'stop_vm; mt_cleanup' EXIT

ctl()
{
	"$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" "$@" >"$OUT" 2>"$ERR"
}

ok()
{
	ctl "$@" || mt_fail "mtunnelctl $* exited $?: $(cat "$ERR")"
}

# check_tap NAME: plugged into vmbr0, owned by the QEMU user, up.
check_tap()
{
	local dir=/sys/class/net/$1 flags

	[ -d "$dir" ] || mt_fail "$1 does not exist"
	[ "$(basename "$(readlink "$dir/master")")" = vmbr0 ] ||
	    mt_fail "$1 is not in vmbr0"
	[ "$(cat "$dir/owner")" = "$(id -u "$QEMU_USER")" ] ||
	    mt_fail "$1 is owned by uid $(cat "$dir/owner")"
	flags=$(cat "$dir/flags")
	(( flags & 1 )) || mt_fail "$1 is not up (flags $flags)"
}

mount -t sysfs sysfs /sys || mt_fail "cannot mount sysfs in the namespace"
ip link add vmbr0 type bridge || mt_fail "cannot create bridge vmbr0"
ip link set vmbr0 up || mt_fail "cannot set vmbr0 up"

mt_config "bridge vmbr1 tap"
mkdir -p "$MT_CONFDIR/qemu-server" || mt_fail "mkdir failed"
printf '%s\n' "name: tapvm" "memory: 64" "kvm: 0" "vga: none" \
    "machine: pc-i440fx-7.2" \
    "net0: virtio=BC:24:11:00:00:01,bridge=vmbr0" \
    "net1: e1000=BC:24:11:00:00:02,bridge=vmbr0" \
    >"$MT_CONFDIR/qemu-server/100.conf"

ok qemu-cmdline 100
grep -qxF "type=tap,id=net0,ifname=tap100i0,script=no,downscript=no" \
    "$OUT" || mt_fail "qemu-cmdline: no tap netdev for net0: $(cat "$OUT")"

ok start --incoming "$MT_RUNDIR/100/migrate" 100
check_tap tap100i0
check_tap tap100i1
info=$("$QMPCALL" -t 10 -H "$MT_RUNDIR/100/qmp" "info network" 2>&1) ||
    mt_fail "info network failed: $info"
grep -q 'net0: .*ifname=tap100i0' <<<"$info" ||
    mt_fail "QEMU does not use tap100i0: $info"
ok stop 100
[ -e /sys/class/net/tap100i0 ] && mt_fail "tap100i0 is left after stop"
[ -e /sys/class/net/tap100i1 ] && mt_fail "tap100i1 is left after stop"

printf '%s\n' "net2: virtio=BC:24:11:00:00:03,bridge=vmbr1" \
    >>"$MT_CONFDIR/qemu-server/100.conf"
ctl start 100 && mt_fail "start with a missing bridge vmbr1 succeeded"
grep -qF "bridge vmbr1 does not exist" "$ERR" ||
    mt_fail "start: expected 'bridge vmbr1 does not exist', got: $(cat "$ERR")"
[ -e /sys/class/net/tap100i0 ] && mt_fail "tap100i0 is left after an error"
[ -e "$MT_RUNDIR/100/pid" ] && mt_fail "QEMU started despite the error"
exit 0
