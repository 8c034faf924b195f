# A disk-import that no client connects to within 30 s ends with the
# upstream error, its volume freed and its socket removed.

. "$(dirname "$0")/priv-lib.sh"

pt_tree
pd_start
pd_ok create 100
pd_ok import 100 tank vm-100-disk-0 raw raw+size 0
[ -S "$P/run/100/100.storage" ] || mt_fail "no import socket"
PD_TIMEOUT=45 pd_ok wait-import 100 40
pd_expect '"status":"error","msg":"timed out waiting for client"'
[ ! -e "$P/tank/images/100/vm-100-disk-0.raw" ] ||
    mt_fail "the volume of a timed-out import was kept"
[ ! -e "$P/run/100/100.storage" ] || mt_fail "the import socket was kept"
pd_error "no disk import running" query 100
pd_stop
echo "priv-import-timeout: accept timed out, volume freed"
