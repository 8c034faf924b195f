# priv's sockets in <rundir>/<vmid>/: created root-only, a stale socket
# replaced, and a symlink planted at a socket path or at the directory
# refused without touching its target, for a disk-import too, whose
# volume is then freed.

. "$(dirname "$0")/priv-lib.sh"

SOCKET_MTUNNEL=0
SOCKET_STORAGE=3

pt_tree
cd "$MT_DIR" || exit 1
echo "do not touch" > target
mkdir -m 755 elsewhere

pd_start
pd_ok create 100
pd "socket 100 $SOCKET_MTUNNEL"
case $PD_LINE in "fd "*) ;; *) mt_fail "no listening socket: $PD_LINE" ;; esac
[ "$(stat -c '%U %a %F' "$P/run/100")" = "root 700 directory" ] ||
    mt_fail "socket directory is $(stat -c '%U %a %F' "$P/run/100")"
[ -S "$P/run/100/100.mtunnel" ] || mt_fail "no socket 100.mtunnel"
# The same kind again replaces the stale socket.
pd "socket 100 $SOCKET_MTUNNEL"
case $PD_LINE in "fd "*) ;; *) mt_fail "stale socket kept: $PD_LINE" ;; esac

# A symlink at the socket path.
ln -s "$MT_DIR/target" "$P/run/100/100.storage"
pd_error "100.storage is not a socket; refusing to replace it" \
    socket 100 $SOCKET_STORAGE
pd_error "100.storage is not a socket" import 100 tank vm-100-disk-0 raw \
    raw+size 0
[ "$(cat target)" = "do not touch" ] || mt_fail "the symlink target changed"
[ -L "$P/run/100/100.storage" ] || mt_fail "the planted symlink is gone"
[ ! -e "$P/tank/images/100/vm-100-disk-0.raw" ] ||
    mt_fail "the volume of a refused import was kept"
journal_has 100 "volume-freed tank:100/vm-100-disk-0.raw" ||
    mt_fail "journal lacks the freed volume"

# A symlink in place of the directory.
rm -rf "$P/run/100"
ln -s "$MT_DIR/elsewhere" "$P/run/100"
pd_error "" socket 100 $SOCKET_MTUNNEL
[ -z "$(ls -A elsewhere)" ] || mt_fail "a socket was made through a symlink"

# A directory others may read.
rm "$P/run/100"
mkdir -m 755 "$P/run/100"
pd_error "must be a directory owned by root with mode 0700" \
    socket 100 $SOCKET_MTUNNEL

# Cleanup removes the sockets it made and leaves a foreign directory.
pd_ok cleanup 100 0
pd_error "no disk import running" query 100
[ -d "$P/run/100" ] || mt_fail "cleanup removed a directory it did not own"

pd_stop
echo "priv-socket: sockets root-only, planted symlinks refused"
