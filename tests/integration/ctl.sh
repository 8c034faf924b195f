#!/usr/bin/env bash
# mtunnelctl end to end on a temporary prefix: users, tokens and ACLs in
# user.cfg and token.secrets, the cascade of user remove, the errors and
# exit codes, the edit lock, the SIGHUP to a running daemon and the
# certificate fingerprint.  Prints nothing unless a check fails.
. "$(dirname "$0")/lib.sh"

: "${MTUNNELCTL:=$MT_TESTS/../../mtunnelctl}"
[ -x "$MTUNNELCTL" ] || mt_fail "$MTUNNELCTL not found: run 'make mtunnelctl'"
command -v openssl >/dev/null || mt_fail "openssl(1) not found"
command -v flock >/dev/null || mt_fail "flock(1) not found"

CONFDIR=$MT_PREFIX/etc/mtunneld
USERCFG=$CONFDIR/user.cfg
SECRETS=$CONFDIR/token.secrets
RUNDIR=$MT_PREFIX/run/mtunneld
OUT=$MT_DIR/ctl.out
ERR=$MT_DIR/ctl.err
HOLDERS=""		# pids of the lock and pid-file holders started here

stop_holders()
{
	local pid

	for pid in $HOLDERS; do
		kill "$pid" 2>/dev/null
	done
	HOLDERS=""
}
trap 'stop_holders; mt_cleanup' EXIT

# ctl ARG...: run mtunnelctl on the test prefix; output in OUT and ERR.
ctl()
{
	"$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" "$@" >"$OUT" 2>"$ERR"
}

ok()
{
	ctl "$@" || mt_fail "mtunnelctl $* exited $?: $(cat "$ERR")"
}

# fails RC TEXT ARG...: mtunnelctl ARG... exits RC with TEXT on stderr.
fails()
{
	local want=$1 text=$2 rc

	shift 2
	ctl "$@"
	rc=$?
	[ "$rc" = "$want" ] ||
	    mt_fail "mtunnelctl $*: exit $rc, expected $want: $(cat "$ERR")"
	grep -qF -- "$text" "$ERR" ||
	    mt_fail "mtunnelctl $*: stderr lacks '$text': $(cat "$ERR")"
}

has_line()
{
	grep -qxF -- "$2" "$1" || mt_fail "$1 lacks line '$2':
$(cat "$1")"
}

lacks_text()
{
	! grep -qF -- "$2" "$1" || mt_fail "$1 still contains '$2':
$(cat "$1")"
}

# check_secret TOKENID SECRET: the token.secrets line for TOKENID is
# HMAC-SHA256(salt, SECRET), recomputed with openssl(1).
check_secret()
{
	local line hash salt mac got

	line=$(grep -F -- "$1 " "$SECRETS") ||
	    mt_fail "no line for $1 in $SECRETS"
	hash=${line#* }
	[[ $hash =~ ^hmac-sha256\$[0-9a-f]{32}\$[0-9a-f]{64}$ ]] ||
	    mt_fail "malformed hash for $1: '$hash'"
	salt=$(cut -d'$' -f2 <<<"$hash")
	mac=$(cut -d'$' -f3 <<<"$hash")
	got=$(printf %s "$2" | openssl dgst -sha256 -mac HMAC \
	    -macopt "hexkey:$salt" | sed 's/^.*= //')
	[ "$got" = "$mac" ] || mt_fail "secret of $1 does not match its hash"
}

# token_add TOKENID [OPTION...]: run token add, check what it prints and
# set SECRET to the secret.
token_add()
{
	local tokenid=$1 value

	shift
	ok token add "$tokenid" "$@"
	[ "$(wc -l <"$OUT")" = 1 ] ||
	    mt_fail "token add printed more than one line: $(cat "$OUT")"
	value=$(cat "$OUT")
	[[ $value =~ ^PVEAPIToken=.*=[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] ||
	    mt_fail "token add printed '$value'"
	[ "${value%=*}" = "PVEAPIToken=$tokenid" ] ||
	    mt_fail "token add printed '$value' for $tokenid"
	grep -qF "the secret is not shown again" "$ERR" ||
	    mt_fail "token add did not say the secret is not shown again"
	SECRET=${value##*=}
}

lock_free()
{
	flock -n "$1" true
}

# hold_lock SECONDS: hold the edit lock from a background process.
hold_lock()
{
	bash -c 'exec 9>>"$1"; flock -x 9 && exec sleep "$2"' _ "$LOCK" "$1" &
	HOLDERS="$HOLDERS $!"
	mt_poll 50 eval '! lock_free "$LOCK"' || mt_fail "could not take $LOCK"
}

mt_config

# Users.
ok user add ops@pve --comment 'migration operator: tgt1'
[ -s "$OUT" ] && mt_fail "user add printed on stdout: $(cat "$OUT")"
grep -qF "mtunneld is not running" "$ERR" ||
    mt_fail "user add did not say the daemon is not running: $(cat "$ERR")"
has_line "$USERCFG" "user:ops@pve:1:0::::migration operator%3A tgt1::"
ok user add other@pve --disable --expire=4102444800
has_line "$USERCFG" "user:other@pve:0:4102444800::::::"
[ "$(stat -c '%a %u' "$USERCFG")" = "600 0" ] ||
    mt_fail "user.cfg mode and owner: $(stat -c '%a %u' "$USERCFG")"
ok user list
grep -qE '^ops@pve +yes +never +migration operator: tgt1$' "$OUT" ||
    mt_fail "user list: $(cat "$OUT")"
grep -qE '^other@pve +no +4102444800 ' "$OUT" ||
    mt_fail "user list: $(cat "$OUT")"

fails 1 "invalid user id 'nobody'" user add nobody
fails 1 "invalid user id 'a@1pve'" user add a@1pve
fails 1 "user 'ops@pve' already exists" user add ops@pve
fails 1 "user 'ghost@pve' does not exist" user remove ghost@pve

# Tokens: the secret is printed once and only its salted hash is stored.
token_add 'ops@pve!xmig' --comment 'cross-cluster target'
XMIG=$SECRET
check_secret 'ops@pve!xmig' "$XMIG"
has_line "$USERCFG" 'token:ops@pve!xmig:0:1:cross-cluster target:'
token_add 'ops@pve!full' --privsep 0 --expire 0
check_secret 'ops@pve!full' "$SECRET"
has_line "$USERCFG" 'token:ops@pve!full:0:0::'
token_add 'other@pve!t1'
[ "$(stat -c '%a %u' "$SECRETS")" = "600 0" ] ||
    mt_fail "token.secrets mode and owner: $(stat -c '%a %u' "$SECRETS")"
[ "$(cut -d' ' -f1 "$SECRETS" | tr '\n' ' ')" = \
    'ops@pve!full ops@pve!xmig other@pve!t1 ' ] ||
    mt_fail "token.secrets not sorted: $(cat "$SECRETS")"
grep -rqF -- "$XMIG" "$MT_PREFIX" && mt_fail "a secret was written to disk"
[ "$(ls -A "$CONFDIR" | tr '\n' ' ')" = ".user.cfg.lock token.secrets user.cfg " ] ||
    mt_fail "unexpected files in $CONFDIR: $(ls -A "$CONFDIR")"

ok token list
grep -qE '^ops@pve!xmig +1 +never +stored +cross-cluster target$' "$OUT" ||
    mt_fail "token list: $(cat "$OUT")"
grep -qE '^ops@pve!full +0 +never +stored +$' "$OUT" ||
    mt_fail "token list: $(cat "$OUT")"

fails 1 "user 'ghost@pve' does not exist" token add 'ghost@pve!tok'
fails 1 "invalid token id 'ops@pve!x'" token add 'ops@pve!x'
fails 1 "invalid token id 'ops@pve'" token add ops@pve
fails 1 "token 'ops@pve!xmig' already exists" token add 'ops@pve!xmig'
check_secret 'ops@pve!xmig' "$XMIG"
fails 1 "token 'ops@pve!none' does not exist" token remove 'ops@pve!none'

# ACLs.
ok acl set / Administrator 'ops@pve!xmig'
ok acl set /storage/slow/ NoAccess 'ops@pve!xmig' --no-propagate
ok acl set //vms PVEVMUser ops@pve
ok acl set /vms PVEAuditor ops@pve
ok acl set /vms PVEVMUser 'ops@pve!full'
has_line "$USERCFG" 'acl:1:/:ops@pve!xmig:Administrator:'
has_line "$USERCFG" 'acl:0:/storage/slow:ops@pve!xmig:NoAccess:'
has_line "$USERCFG" 'acl:1:/vms:ops@pve:PVEAuditor,PVEVMUser:'
has_line "$USERCFG" 'acl:1:/vms:ops@pve!full:PVEVMUser:'
ok acl list
grep -qE '^/storage/slow +NoAccess +ops@pve!xmig +0$' "$OUT" ||
    mt_fail "acl list: $(cat "$OUT")"
[ "$(grep -c '^/vms ' "$OUT")" = 3 ] || mt_fail "acl list: $(cat "$OUT")"

fails 1 "role 'Boss' does not exist" acl set / Boss ops@pve
fails 1 "invalid ACL path '/a b'" acl set '/a b' Administrator ops@pve
fails 1 "user 'ghost@pve' does not exist" acl set / PVEAuditor ghost@pve
fails 1 "token 'ops@pve!none' does not exist" acl set / PVEAuditor \
    'ops@pve!none'
fails 1 "group '@nogroup' does not exist" acl set / PVEAuditor @nogroup
fails 1 "root@pam has every privilege" acl set / PVEAuditor root@pam
fails 1 "invalid ACL member 'a b'" acl set / PVEAuditor 'a b'

ok acl remove /vms ops@pve PVEAuditor
has_line "$USERCFG" 'acl:1:/vms:ops@pve,ops@pve!full:PVEVMUser:'
ok acl remove /storage/slow 'ops@pve!xmig'
lacks_text "$USERCFG" 'NoAccess'
fails 1 "no ACL entry for 'ops@pve!xmig' on /storage/slow" \
    acl remove /storage/slow 'ops@pve!xmig'

# Token remove drops its ACL entries and its hash.
ok token remove 'ops@pve!full'
lacks_text "$USERCFG" 'ops@pve!full'
lacks_text "$SECRETS" 'ops@pve!full'

# Usage errors exit with 2.
fails 2 "missing command"
fails 2 "usage: mtunnelctl"
fails 2 "unknown command 'user frob'" user frob
fails 2 "missing action" user
fails 2 "missing argument" acl set / Administrator
fails 2 "unexpected argument 'extra'" user list extra
fails 2 "unknown option '--force'" user add a@pve --force
fails 2 "unknown option '--privsep'" user add a@pve --privsep 1
fails 2 "invalid --privsep '2'" token add 'ops@pve!t2' --privsep 2
fails 2 "invalid --expire 'soon'" user add a@pve --expire soon
fails 2 "invalid --expire '-1'" user add a@pve --expire -1
fails 2 "option --comment needs a value" user add a@pve --comment
ctl user add a@pve --expire
[ $? = 2 ] || mt_fail "missing --expire value did not exit 2"

# An edit waits for the lock, and gives up after 10 s with a clear error.
LOCK=$CONFDIR/.user.cfg.lock
hold_lock 1
ok user add waiter@pve
hold_lock 20
fails 1 "timed out after 10 s waiting for the lock" user add late@pve
lacks_text "$USERCFG" 'late@pve'
stop_holders
mt_poll 50 lock_free "$LOCK" || mt_fail "$LOCK still locked"

# A running daemon gets SIGHUP: a stand-in holds the pid file's lock as
# libbsd's pidfile(3) does and records the signal.
mkdir -p "$RUNDIR"
bash -c 'exec 9<>"$1/mtunneld.pid"; flock -x 9 || exit 1
    echo $$ >"$1/mtunneld.pid"; trap "touch $1/hup" HUP
    for ((i = 0; i < 300; i++)); do sleep 0.1; done' _ "$RUNDIR" &
FAKE=$!
HOLDERS="$HOLDERS $FAKE"
mt_poll 50 grep -qsx "$FAKE" "$RUNDIR/mtunneld.pid" ||
    mt_fail "stand-in daemon did not write its pid file"
ok user add reload@pve
grep -qF "sent SIGHUP to mtunneld (pid $FAKE)" "$ERR" ||
    mt_fail "no SIGHUP sent: $(cat "$ERR")"
mt_poll 50 test -e "$RUNDIR/hup" || mt_fail "stand-in daemon got no SIGHUP"
stop_holders
wait "$FAKE" 2>/dev/null
mt_poll 50 lock_free "$RUNDIR/mtunneld.pid" ||
    mt_fail "$RUNDIR/mtunneld.pid still locked"
rm -f "$RUNDIR/hup"
ok user add stale@pve
grep -qF "mtunneld is not running" "$ERR" ||
    mt_fail "stale pid file taken for a running daemon: $(cat "$ERR")"
[ -e "$RUNDIR/hup" ] && mt_fail "SIGHUP sent for a stale pid file"

# User remove cascades to its tokens, their hashes and its ACL entries.
ok user remove ops@pve
lacks_text "$USERCFG" 'ops@pve'
lacks_text "$SECRETS" 'ops@pve'
has_line "$USERCFG" 'user:other@pve:0:4102444800::::::'
grep -qF 'other@pve!t1 ' "$SECRETS" || mt_fail "other@pve!t1 hash lost"

# An edit stops when it would drop entries the parser skipped.
echo "# hand-written note" >>"$USERCFG"
fails 1 "entries are invalid and would be lost" user add b@pve
ok user list
grep -qF "ignoring unknown entry type '# hand-written note'" "$ERR" ||
    mt_fail "user list did not warn: $(cat "$ERR")"
sed -i '/^# hand-written note$/d' "$USERCFG"

# token.secrets that others can read is refused, with the fix named.
chmod 644 "$SECRETS"
fails 1 "run chmod 600 $SECRETS" token add 'other@pve!t2'
lacks_text "$USERCFG" 'other@pve!t2'
ok token list
grep -qE '^other@pve!t1 +1 +never +unknown ' "$OUT" ||
    mt_fail "token list with unreadable secrets: $(cat "$OUT")"
chmod 600 "$SECRETS"

# cert fingerprint: STATE-DIR/cert.pem, or the configured tls-cert.
fails 1 "cert.pem" cert fingerprint
mkdir -p "$MT_PREFIX/var/lib/mtunneld"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=ctl-test -days 1 -keyout "$MT_DIR/key.pem" \
    -out "$MT_PREFIX/var/lib/mtunneld/cert.pem" 2>/dev/null ||
    mt_fail "openssl req failed"
want=$(openssl x509 -noout -fingerprint -sha256 \
    -in "$MT_PREFIX/var/lib/mtunneld/cert.pem" | sed 's/^.*=//')
ok cert fingerprint
[ "$(cat "$OUT")" = "$want" ] ||
    mt_fail "cert fingerprint '$(cat "$OUT")', expected '$want'"
mv "$MT_PREFIX/var/lib/mtunneld/cert.pem" "$MT_DIR/other.pem"
mt_config "tls-cert $MT_DIR/other.pem"
ok cert fingerprint
[ "$(cat "$OUT")" = "$want" ] ||
    mt_fail "cert fingerprint of tls-cert '$(cat "$OUT")'"
exit 0
