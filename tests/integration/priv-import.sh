# disk-import through priv on a dir storage.  raw+size and qcow2+size
# streams arrive intact (SHA-256 compared).  A short or long stream and a
# qcow2 with a backing file are rejected and their volumes freed.  A full
# filesystem frees the partial volume.  The format, storage and name
# checks fail with the upstream messages.

. "$(dirname "$0")/priv-lib.sh"

SMALL_KIB=4096		# the tmpfs storage for the full-filesystem case

pt_tree "$(printf 'dir: small\n\tpath %s/small\n\tcontent images' \
    "$MT_DIR/p")"
mkdir -p "$P/small" && mount -t tmpfs -o size=${SMALL_KIB}k,mode=0755 \
    tmpfs "$P/small" || mt_fail "cannot mount a tmpfs on $P/small"
trap 'umount "$P/small" 2>/dev/null; mt_cleanup' EXIT

cd "$MT_DIR" || exit 1
{ head -c 3000000 /dev/urandom; head -c 2097152 /dev/zero;
    head -c 1000 /dev/urandom; } > src.raw
"$QEMU_IMG" convert -q -f raw -O qcow2 src.raw src.qcow2 ||
    mt_fail "qemu-img convert"
"$QEMU_IMG" create -q -f qcow2 -b /etc/shadow -F raw evil.qcow2 64M ||
    mt_fail "qemu-img create"
head -c 8388608 /dev/urandom > big.raw
sock=$P/run/100/100.storage

pd_start
pd_ok create 100

# raw+size: byte for byte, with the zeros left as a hole.
pd_ok import 100 tank vm-100-disk-0 raw qcow2+size,raw+size 1
pd_expect '{"socket":"/run/qemu-server/100.storage","format":"raw+size"}'
pd_ok send "$sock" src.raw
pd_ok wait-import 100 20
pd_expect '"status":"complete","volid":"tank:100/vm-100-disk-0.raw"'
vol=$P/tank/images/100/vm-100-disk-0.raw
[ "$(sha256sum < src.raw)" = "$(sha256sum < "$vol")" ] ||
    mt_fail "raw image differs after the import"
[ "$(stat -c %s "$vol")" = "$(stat -c %s src.raw)" ] ||
    mt_fail "raw image has the wrong size"
[ "$(stat -c %b "$vol")" -lt $(( $(stat -c %s src.raw) / 512 - 2048 )) ] ||
    mt_fail "the 2 MiB of zeros were written instead of left as a hole"
[ "$(stat -c '%U:%G %a' "$vol")" = "root:root 640" ] ||
    mt_fail "imported volume is $(stat -c '%U:%G %a' "$vol")"
journal_has 100 "volume-imported tank:100/vm-100-disk-0.raw" ||
    mt_fail "journal lacks the imported volume"
pd_error "no disk import running" query 100
[ ! -e "$sock" ] || mt_fail "the import socket is still there"

# qcow2+size: the file as it is.
pd_ok import 100 tank vm-100-disk-0.qcow2 qcow2 raw+size,qcow2+size 1
pd_expect '"format":"qcow2+size"'
pd_ok send "$sock" src.qcow2
pd_ok wait-import 100 20
pd_expect '"status":"complete","volid":"tank:100/vm-100-disk-0.qcow2"'
[ "$(sha256sum < src.qcow2)" = \
    "$(sha256sum < "$P/tank/images/100/vm-100-disk-0.qcow2")" ] ||
    mt_fail "qcow2 image differs after the import"

# The name is taken: refused without allow_rename, renamed with it.
pd_error "volume 'tank:100/vm-100-disk-0.raw' already exists" \
    import 100 tank vm-100-disk-0 raw raw+size 0
pd_ok import 100 tank vm-100-disk-0 raw raw+size 1
pd_ok send "$sock" src.raw
pd_ok wait-import 100 20
pd_expect '"status":"complete","volid":"tank:100/vm-100-disk-1.raw"'

# A stream shorter than its header: error, volume freed.
pd_ok import 100 tank vm-100-disk-5 raw raw+size 0
pd_ok send "$sock" src.raw 6000000
pd_ok wait-import 100 20
pd_expect '"status":"error","msg":"stream ended after 5098152 of 6000000'
[ ! -e "$P/tank/images/100/vm-100-disk-5.raw" ] ||
    mt_fail "the volume of a short stream was kept"
journal_has 100 "volume-freed tank:100/vm-100-disk-5.raw" ||
    mt_fail "journal lacks the freed short volume"

# A stream longer than its header: error, volume freed.
pd_ok import 100 tank vm-100-disk-5 raw raw+size 0
pd_ok send "$sock" src.raw 5000000
pd_ok wait-import 100 20
pd_expect '"msg":"stream is longer than its size header of 5000000 bytes"'
[ ! -e "$P/tank/images/100/vm-100-disk-5.raw" ] ||
    mt_fail "the volume of a long stream was kept"

# A qcow2 whose backing file is /etc/shadow: rejected, freed.
pd_ok import 100 tank vm-100-disk-6.qcow2 qcow2 qcow2+size 0
pd_ok send "$sock" evil.qcow2
pd_ok wait-import 100 20
pd_expect '"status":"error","msg":"image has a backing file"'
[ ! -e "$P/tank/images/100/vm-100-disk-6.qcow2" ] ||
    mt_fail "the qcow2 with a backing file was kept"

# One import at a time.
pd_ok import 100 tank vm-100-disk-7 raw raw+size 0
pd_error "disk import already running as PID" \
    import 100 tank vm-100-disk-8 raw raw+size 0
pd_ok send "$sock" src.raw
pd_ok wait-import 100 20
pd_expect '"status":"complete"'

# A full filesystem: the partial volume is freed.
pd_ok import 100 small vm-100-disk-0 raw raw+size 0
pd_ok send "$sock" big.raw
pd_ok wait-import 100 20
pd_expect '"msg":"write to the volume: No space left on device"'
[ -z "$(ls -A "$P/small/images/100")" ] ||
    mt_fail "a partial volume is left on the full storage"
[ "$(df --output=used -k "$P/small" | tail -n 1)" -lt 64 ] ||
    mt_fail "space on the full storage was not given back"

# Format, storage and name checks.
pd_error "no matching import/export format found for storage 'tank'" \
    import 100 tank vm-100-disk-9 raw qcow2+size,zfs 1
pd_error "unsupported format 'vmdk' for storage type dir" \
    import 100 tank vm-100-disk-9 vmdk vmdk+size 1
pd_error "storage 'iso' does not support vm images" \
    import 100 iso vm-100-disk-9 raw raw+size 1
pd_error "storage 'nope' does not exist" \
    import 100 nope vm-100-disk-9 raw raw+size 1
pd_error "illegal name 'vm-101-disk-0' - should be 'vm-100-*'" \
    import 100 tank vm-101-disk-0 raw raw+size 1
pd_error "invalid volume name" \
    import 100 tank vm-100-disk-0/../../x raw raw+size 1
pd_error "no migration of VM 101 in progress" \
    import 101 tank vm-101-disk-0 raw raw+size 1
[ ! -e "$P/iso/images" ] || mt_fail "an image directory on iso"

pd_stop
echo "priv-import: streams, checks and failures as expected"
