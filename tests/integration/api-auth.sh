#!/usr/bin/env bash
# API token authentication over TLS against the real daemon.  A good
# token gets cluster/status as JSON, in the header forms Proxmox VE
# accepts.  Every kind of bad credential gets a 401 without a body after
# the fixed delay of about 3 s, and the log names the reason but never a
# secret.  Plain HTTP gets no HTTP response, and a client that offers
# HTTP/2 through ALPN still speaks HTTP/1.1.
. "$(dirname "$0")/lib.sh"

DELAY_MIN=2.5		# seconds that a 401 takes at least
DELAY_MAX=6		# and at most
PAST=1000000000		# an expiry time in the past (2001)
WRONG_SECRET=00000000-0000-0000-0000-000000000000

# in_range VALUE MIN MAX: MIN <= VALUE <= MAX, as decimal numbers.
in_range()
{
	awk -v v="$1" -v lo="$2" -v hi="$3" \
	    'BEGIN { exit !(v >= lo && v <= hi) }'
}

# expect_cluster_status WHAT: the last response is this node's status.
expect_cluster_status()
{
	mt_expect 200 "$1"
	[ "$MT_CTYPE" = "application/json;charset=UTF-8" ] ||
	    mt_fail "$1: Content-Type is '$MT_CTYPE'," \
	    "expected 'application/json;charset=UTF-8'"
	mt_expect_json '.data | length' 1 "$1"
	mt_expect_json '.data[0].type' node "$1"
	mt_expect_json '.data[0].local' 1 "$1"
	mt_expect_json '.data[0].name' "$MT_NODE" "$1"
}

mt_api_init

mt_token 'mig@pve!t1' Administrator
GOOD=$MT_AUTH
SECRET=${GOOD##*=}

mt_ctl token add 'mig@pve!old' --privsep 0 --expire "$PAST"
EXPIRED_TOKEN=$(cat "$MT_DIR/ctl.out")
mt_ctl user add gone@pve --expire "$PAST"
mt_token 'gone@pve!t1' Administrator
EXPIRED_USER=$MT_AUTH
mt_ctl user add dis@pve --disable
mt_token 'dis@pve!t1' Administrator
DISABLED_USER=$MT_AUTH
mt_token 'off@pve!t1' Administrator
LATER_DISABLED=$MT_AUTH

mt_api_start

# The good token, as sent by Proxmox VE, with a space after PVEAPIToken,
# and URI-escaped.
MT_AUTH=$GOOD
mt_curl GET cluster/status
expect_cluster_status "GET cluster/status with a good token"
MT_AUTH="PVEAPIToken mig@pve!t1=$SECRET"
mt_curl GET cluster/status
expect_cluster_status "GET cluster/status with 'PVEAPIToken TOKEN=SECRET'"
MT_AUTH="PVEAPIToken=mig%40pve%21t1=$SECRET"
mt_curl GET cluster/status
expect_cluster_status "GET cluster/status with a URI-escaped token id"
MT_AUTH=$LATER_DISABLED
mt_curl GET cluster/status
expect_cluster_status "GET cluster/status as off@pve before it is disabled"

# Disable off@pve by editing user.cfg, as an operator may, then reload.
sed -i 's/^user:off@pve:1:/user:off@pve:0:/' "$MT_CONFDIR/user.cfg" ||
    mt_fail "cannot edit $MT_CONFDIR/user.cfg"
grep -q '^user:off@pve:0:' "$MT_CONFDIR/user.cfg" ||
    mt_fail "off@pve is not disabled in user.cfg: $(cat "$MT_CONFDIR/user.cfg")"
mt_hup

# add_case NAME AUTHORIZATION REASON LOGGED: a request with the
# Authorization value ("" sends none) must get a 401 with the reason
# phrase REASON, and the api worker must log LOGGED.
CASES=()
add_case()
{
	CASES+=("$1|$2|$3|$4")
}

FAILED="Authentication failed!"
MALFORMED="Authorization header is not a valid PVEAPIToken"
add_case none "" "No ticket" "no Authorization header"
add_case wrong-secret "PVEAPIToken=mig@pve!t1=$WRONG_SECRET" "$FAILED" \
    "wrong secret for 'mig@pve!t1'"
add_case unknown-token "PVEAPIToken=mig@pve!nosuch=$SECRET" "$FAILED" \
    "unknown token for 'mig@pve!nosuch'"
add_case unknown-user "PVEAPIToken=nobody@pve!t1=$SECRET" "$FAILED" \
    "unknown token for 'nobody@pve!t1'"
add_case expired-token "$EXPIRED_TOKEN" "$FAILED" \
    "token expired for 'mig@pve!old'"
add_case expired-user "$EXPIRED_USER" "$FAILED" \
    "token expired for 'gone@pve!t1'"
add_case disabled-user "$DISABLED_USER" "$FAILED" \
    "user disabled for 'dis@pve!t1'"
add_case disabled-by-edit "$LATER_DISABLED" "$FAILED" \
    "user disabled for 'off@pve!t1'"
add_case no-secret "PVEAPIToken=mig@pve!t1" "$FAILED" "$MALFORMED"
add_case no-token-name "PVEAPIToken=mig@pve=$SECRET" "$FAILED" "$MALFORMED"
add_case bearer "Bearer $SECRET" "$FAILED" "$MALFORMED"
add_case empty-token "PVEAPIToken=" "$FAILED" "$MALFORMED"

# All at once: the batch must take one delay, not one per request,
# because the delay must not hold up the worker's other connections.
start=$(date +%s.%N)
pids=""
for entry in "${CASES[@]}"; do
	IFS='|' read -r name auth reason logged <<<"$entry"
	MT_OUT=$MT_DIR/case.$name MT_AUTH=$auth mt_curl GET cluster/status &
	pids="$pids $!"
done
# A rejected POST to mtunnel is delayed too, and creates nothing.
MT_OUT=$MT_DIR/case.post MT_AUTH="" mt_post_mtunnel 100 &
pids="$pids $!"
# shellcheck disable=SC2086
mt_bg_track $pids
# shellcheck disable=SC2086
wait $pids
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
in_range "$elapsed" 0 "$DELAY_MAX" || mt_fail "${#CASES[@]} rejected" \
    "requests at once took $elapsed s, so the delays ran one after another"

for entry in "${CASES[@]}" "post||No ticket|no Authorization header"; do
	IFS='|' read -r name auth reason logged <<<"$entry"
	mt_curl_read "$MT_DIR/case.$name"
	mt_expect 401 "case $name"
	[ "$MT_REASON" = "$reason" ] || mt_fail "case $name: reason phrase" \
	    "'$MT_REASON', expected '$reason'"
	in_range "$MT_TIME" "$DELAY_MIN" "$DELAY_MAX" || mt_fail "case" \
	    "$name: the 401 took $MT_TIME s, expected $DELAY_MIN to $DELAY_MAX"
	[ ! -s "$MT_BODY" ] ||
	    mt_fail "case $name: the 401 has a body: $(head -c 500 "$MT_BODY")"
	grep -qF -- ": 401, $logged" "$MT_LOG" ||
	    mt_fail "case $name: no log line with ': 401, $logged'"
done
[ ! -e "$MT_CONFDIR/qemu-server/100.conf" ] && [ ! -e "$MT_RUNDIR/100" ] ||
    mt_fail "a POST to mtunnel without a token left a config or sockets"

# The log names each rejection, but neither the good nor the wrong
# secret.
for secret in "$SECRET" "$WRONG_SECRET" "${EXPIRED_TOKEN##*=}"; do
	! grep -qF -- "$secret" "$MT_LOG" || mt_fail "a token secret" \
	    "appears in the log: $(grep -F -- "$secret" "$MT_LOG")"
done

# TLS only: plain HTTP to the port gets no HTTP response.
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$MT_PORT/api2/json/cluster/status" 2>/dev/null)
[ "$code" = 000 ] ||
    mt_fail "plain http:// to port $MT_PORT got HTTP status $code"

# A client that offers h2 through ALPN gets its response in HTTP/1.1.
MT_AUTH=$GOOD
mt_curl GET cluster/status --http2
expect_cluster_status "GET cluster/status with --http2"
[ "$MT_HTTPVER" = 1.1 ] ||
    mt_fail "curl --http2 got HTTP version '$MT_HTTPVER', expected 1.1"

# Everything still works after the rejections.
mt_curl GET cluster/status
expect_cluster_status "GET cluster/status after the rejected requests"
mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
for pid in $MT_APIS; do
	mt_alive "$pid" || mt_fail "api worker $pid exited during the test"
done
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
