#!/usr/bin/env bash
# The generated QEMU line against real QEMU under TCG.  Two VMs start
# through "mtunnelctl start --incoming": VMID 100 (i440fx, SeaBIOS,
# virtio-scsi-pci) and VMID 101 (q35, OVMF with efidisk0,
# virtio-scsi-single with iothreads, agent, rng0).  Both must wait paused
# in "inmigrate" and show the guest-visible layout that Proxmox VE's QEMU
# builds for the same config.  That is the PCI slots and ids ("info pci",
# and "info qtree" behind the q35 bridges, whose bus numbers the firmware
# has not assigned yet) and the RAM block names and sizes ("info
# ramblock").
# Differences from the Proxmox VE configs: "kvm: 0", 128 MiB of memory,
# volumes on a dir storage, bridges mapped to user-mode networking, and
# no "cpu: host" in VMID 101 (it needs KVM).  Then "mtunnelctl stop"
# ends both, and start, stop and qemu-cmdline errors are checked.
. "$(dirname "$0")/lib.sh"

: "${MTUNNELCTL:=$MT_TESTS/../../mtunnelctl}"
QMPCALL=$(realpath "$MT_TESTS/../tools/qmpcall")
MT_CONFDIR=$MT_PREFIX/etc/mtunneld
MT_RUNDIR=$MT_PREFIX/run/mtunneld
STORE=$MT_DIR/vmstore
OUT=$MT_DIR/ctl.out
ERR=$MT_DIR/ctl.err
QMP_TIMEOUT=10

[ -x "$MTUNNELCTL" ] || mt_fail "$MTUNNELCTL not found: run 'make mtunnelctl'"
[ -x "$QMPCALL" ] || mt_fail "$QMPCALL not found: run 'make tests/tools/qmpcall'"
command -v qemu-system-x86_64 >/dev/null || mt_fail "qemu-system-x86_64 not found"
command -v qemu-img >/dev/null || mt_fail "qemu-img not found"
[ -r /usr/share/OVMF/OVMF_CODE_4M.secboot.fd ] ||
    mt_fail "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd not found: install ovmf"

# Kill the QEMUs this test started (by their pid files) on every exit.
stop_vms()
{
	local vmid pid

	for vmid in 100 101; do
		pid=$(cat "$MT_RUNDIR/$vmid/pid" 2>/dev/null) || continue
		case $pid in
		''|*[!0-9]*) continue ;;
		esac
		[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = \
		    "$(readlink -f "$(command -v qemu-system-x86_64)")" ] &&
		    kill -KILL "$pid" 2>/dev/null
	done
}
trap 'stop_vms; mt_cleanup' EXIT

ctl()
{
	"$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" "$@" >"$OUT" 2>"$ERR"
}

ok()
{
	ctl "$@" || mt_fail "mtunnelctl $* exited $?: $(cat "$ERR")"
}

# fails TEXT ARG...: mtunnelctl ARG... exits non-zero with TEXT on stderr.
fails()
{
	local text=$1

	shift
	ctl "$@" && mt_fail "mtunnelctl $* succeeded"
	grep -qF -- "$text" "$ERR" ||
	    mt_fail "mtunnelctl $*: expected '$text', got: $(cat "$ERR")"
}

# hmp VMID COMMAND: HMP through QMP; output in HMP_OUT.
hmp()
{
	HMP_OUT=$("$QMPCALL" -t "$QMP_TIMEOUT" -H "$MT_RUNDIR/$1/qmp" "$2" \
	    2>&1) || mt_fail "HMP '$2' on VM $1 failed: $HMP_OUT"
	HMP_OUT=${HMP_OUT//$'\r'/}
}

# pci_slots VMID: "slot.function id" per root-bus device, slot in hex.
pci_slots()
{
	hmp "$1" "info pci"
	awk '/Bus +[0-9]+, device/ {
		gsub(/[,:]/, "", $0); slot = sprintf("%x.%s", $4, $6)
	}
	/^ +id "/ { id = $2; gsub(/"/, "", id); print slot, id }' \
	    <<<"$HMP_OUT"
}

# qtree_devices VMID: "bus addr type id" for each device with an address.
qtree_devices()
{
	hmp "$1" "info qtree"
	awk '{ n = match($0, /[^ ]/) - 1 }
	$1 == "bus:" { bus[n] = $2 }
	$1 == "dev:" { type = $2; sub(/,$/, "", type); id = $4
		gsub(/"/, "", id); devn = n
		for (i = n - 1; i >= 0; i--) if (i in bus) break
		devbus = bus[i]; want = 1
		for (j in bus) if (j + 0 > n) delete bus[j] }
	$1 == "addr" && want && n == devn + 2 {
		print devbus, $3, type, id; want = 0 }' <<<"$HMP_OUT"
}

# ramblocks VMID: "name size" per RAM block, size in hex without 0x.
ramblocks()
{
	hmp "$1" "info ramblock"
	awk 'NR > 1 { v = $NF; sub(/^0x0*/, "", v); print $1, v }' \
	    <<<"$HMP_OUT"
}

# expect WHAT LIST LINE...: every LINE is in LIST.
expect()
{
	local what=$1 list=$2 line

	shift 2
	for line in "$@"; do
		grep -qxF -- "$line" <<<"$list" ||
		    mt_fail "$what: no '$line' in:"$'\n'"$list"
	done
}

setup()
{
	local t=$'\t' i

	mt_config "bridge vmbr0 user" "bridge vmbr1 user"
	mkdir -p "$MT_CONFDIR/qemu-server" "$STORE/images/100" \
	    "$STORE/images/101" || mt_fail "mkdir failed"
	printf '%s\n' "dir: vmstore" "${t}path $STORE" "${t}content images" \
	    "" >"$MT_CONFDIR/storage.cfg" || mt_fail "cannot write storage.cfg"
	qemu-img create -q -f raw "$STORE/images/100/vm-100-disk-0.raw" 32M ||
	    mt_fail "qemu-img create failed"
	for i in 0 1 2; do
		qemu-img create -q -f raw \
		    "$STORE/images/101/vm-101-disk-$i.raw" 1M ||
		    mt_fail "qemu-img create failed"
	done
	printf '%s\n' "name: web1" "memory: 128" "sockets: 1" "cores: 2" \
	    "cpu: x86-64-v2-AES" "ostype: l26" "machine: pc-i440fx-7.2" \
	    "scsihw: virtio-scsi-pci" \
	    "scsi0: vmstore:100/vm-100-disk-0.raw,discard=on,ssd=1,size=32M" \
	    "ide2: none,media=cdrom" \
	    "net0: virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1" \
	    "serial0: socket" "boot: order=scsi0;net0" \
	    "smbios1: uuid=7b10d7af-b932-4c66-b2c3-3996152ec465" \
	    "vmgenid: c773c261-d800-4348-9f5d-167fadd53cf8" "kvm: 0" \
	    >"$MT_CONFDIR/qemu-server/100.conf"
	printf '%s\n' "name: db1" "memory: 128" "sockets: 1" "cores: 4" \
	    "ostype: l26" "machine: pc-q35-7.2" "bios: ovmf" \
	    "efidisk0: vmstore:101/vm-101-disk-0.raw,efitype=4m,pre-enrolled-keys=1,size=1M" \
	    "scsihw: virtio-scsi-single" \
	    "scsi0: vmstore:101/vm-101-disk-1.raw,discard=on,iothread=1,ssd=1,size=1M" \
	    "scsi1: vmstore:101/vm-101-disk-2.raw,cache=writeback,iothread=1,serial=DATA01,size=1M" \
	    "net0: virtio=BC:24:11:00:00:02,bridge=vmbr0,firewall=1" \
	    "net1: e1000=BC:24:11:00:00:03,bridge=vmbr1,tag=20" \
	    "agent: 1" "rng0: source=/dev/urandom" "tablet: 1" \
	    "boot: order=scsi0" \
	    "smbios1: uuid=3dd750ce-d910-44d0-9493-525c0be4e687" \
	    "vmgenid: 54d1c06c-8f5b-440f-b5b2-6eab1380e13d" "kvm: 0" \
	    >"$MT_CONFDIR/qemu-server/101.conf"
}

# start_incoming VMID: start and check that QEMU waits for a migration.
start_incoming()
{
	local status

	ok start --incoming "$MT_RUNDIR/$1/migrate" "$1"
	[ -S "$MT_RUNDIR/$1/migrate" ] || mt_fail "VM $1: no migrate socket"
	[ "$(stat -c %a "$MT_RUNDIR/$1")" = 700 ] ||
	    mt_fail "VM $1: $MT_RUNDIR/$1 is not mode 0700"
	status=$("$QMPCALL" -t "$QMP_TIMEOUT" "$MT_RUNDIR/$1/qmp" \
	    query-status 2>&1) || mt_fail "query-status on $1: $status"
	[ "$(jq -r .status <<<"$status")" = inmigrate ] ||
	    mt_fail "VM $1: status is $status, expected inmigrate"
	[ "$(ps -o user= -p "$(cat "$MT_RUNDIR/$1/pid")")" = _mtunneld-qemu ] ||
	    mt_fail "VM $1: QEMU does not run as _mtunneld-qemu"
}

check_i440fx()
{
	local slots blocks

	slots=$(pci_slots 100)
	expect "VM 100 info pci" "$slots" "1.2 uhci" "2.0 vga" \
	    "3.0 balloon0" "5.0 scsihw0" "12.0 net0" "1e.0 pci.1" "1f.0 pci.2"
	[ "$(wc -l <<<"$slots")" = 11 ] ||
	    mt_fail "VM 100: expected 11 root-bus functions:"$'\n'"$slots"
	blocks=$(ramblocks 100)
	expect "VM 100 info ramblock" "$blocks" "pc.ram 8000000" \
	    "0000:00:02.0/vga.vram 1000000" "0000:00:02.0/vga.rom 10000" \
	    "pc.bios 40000" "pc.rom 20000" \
	    "0000:00:12.0/virtio-net-pci.rom 40000"
}

check_q35()
{
	local slots devs blocks

	slots=$(pci_slots 101)
	expect "VM 101 info pci" "$slots" "1.0 vga" "1a.0 uhci-4" \
	    "1a.1 uhci-5" "1a.2 uhci-6" "1a.7 ehci-2" "1b.0 audio0" \
	    "1c.0 ich9-pcie-port-1" "1c.1 ich9-pcie-port-2" \
	    "1c.2 ich9-pcie-port-3" "1c.3 ich9-pcie-port-4" "1d.0 uhci-1" \
	    "1d.1 uhci-2" "1d.2 uhci-3" "1d.7 ehci" "1e.0 pcidmi"
	devs=$(qtree_devices 101)
	expect "VM 101 info qtree" "$devs" \
	    "pcidmi 01.0 pci-bridge pci.0" "pcidmi 02.0 pci-bridge pci.1" \
	    "pcidmi 03.0 pci-bridge pci.2" "pcidmi 04.0 pci-bridge pci.3" \
	    "pci.0 03.0 virtio-balloon-pci balloon0" \
	    "pci.0 08.0 virtio-serial-pci qga0" \
	    "pci.0 12.0 virtio-net-pci net0" "pci.0 13.0 e1000 net1" \
	    "pci.1 1d.0 virtio-rng-pci " \
	    "pci.3 01.0 virtio-scsi-pci virtioscsi0" \
	    "pci.3 02.0 virtio-scsi-pci virtioscsi1"
	hmp 101 "info qtree"
	grep -A 8 'bus: ehci.0' <<<"$HMP_OUT" |
	    grep -q 'dev: usb-tablet, id "tablet"' ||
	    mt_fail "VM 101: no usb-tablet on ehci.0 in info qtree"
	blocks=$(ramblocks 101)
	expect "VM 101 info ramblock" "$blocks" "pc.ram 8000000" \
	    "system.flash0 37c000" "system.flash1 84000" \
	    "0000:00:01.0/vga.vram 1000000" "0000:00:01.0/vga.rom 10000" \
	    "0000:00:1e.0:01.0:12.0/virtio-net-pci.rom 40000" \
	    "0000:00:1e.0:01.0:13.0/e1000.rom 40000"
}

stop_and_check()
{
	local pid

	pid=$(cat "$MT_RUNDIR/$1/pid")
	ok stop "$1"
	mt_dead "$pid" || mt_fail "VM $1: QEMU $pid still runs after stop"
	fails "VM $1 is not running" stop "$1"
}

setup

ok qemu-cmdline --incoming "$MT_RUNDIR/100/migrate" 100
grep -qxF -- "-S" "$OUT" || mt_fail "qemu-cmdline 100 prints no -S"
grep -qxF -- "accel=tcg,type=pc-i440fx-7.2" "$OUT" ||
    mt_fail "qemu-cmdline 100: no '-machine accel=tcg,type=pc-i440fx-7.2'"
grep -qxF -- "-runas" "$OUT" || mt_fail "qemu-cmdline 100 prints no -runas"

start_incoming 100
start_incoming 101
fails "VM 100 is already running" start 100
check_i440fx
check_q35
stop_and_check 100
stop_and_check 101

mt_config
fails "bridge vmbr0 does not exist on this host" qemu-cmdline 100
fails "cannot read $MT_CONFDIR/qemu-server/102.conf" start 102
fails "usage:" stop abc
exit 0
