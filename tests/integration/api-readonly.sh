#!/usr/bin/env bash
# The read-only calls a source makes before mtunnel, against the real
# daemon: certificates/info reports the certificate the daemon serves,
# cluster/resources lists the VMs whose config exists and that the token
# may audit, and storage lists the storages the token may see, filtered
# by enabled=1.  Unknown paths, methods and formats get 501 with the
# upstream message.
. "$(dirname "$0")/lib.sh"

# expect_list FILTER VALUE WHAT: FILTER over the last 200 gives VALUE.
expect_list()
{
	mt_expect 200 "$3"
	mt_expect_json "$1" "$2" "$3"
}

# not_implemented METHOD PATH: 501 with "Method 'METHOD PATH' not
# implemented" as reason and message.
not_implemented()
{
	local msg="Method '$1 $2' not implemented"

	mt_curl "$1" "$2"
	mt_expect 501 "$1 $2"
	[ "$MT_REASON" = "$msg" ] ||
	    mt_fail "$1 $2: reason phrase '$MT_REASON', expected '$msg'"
	mt_expect_json .message "$msg" "$1 $2"
}

mt_api_init
mt_storages
mt_token 'mig@pve!t1' Administrator
ADMIN=$MT_AUTH
mt_token 'aud@pve!t1'
AUDITOR=$MT_AUTH
mt_ctl acl set /vms/200 PVEAuditor aud@pve
mt_token 'none@pve!t1'
NOBODY=$MT_AUTH

# Two VMs, and files in qemu-server/ that are no VM config.
printf 'name: two-hundred\n' >"$MT_CONFDIR/qemu-server/200.conf"
printf 'name: two-hundred-one\n' >"$MT_CONFDIR/qemu-server/201.conf"
printf 'name: padded\n' >"$MT_CONFDIR/qemu-server/0202.conf"
printf 'name: low\n' >"$MT_CONFDIR/qemu-server/99.conf"
printf 'name: other\n' >"$MT_CONFDIR/qemu-server/203.conf.tmp"
mt_api_start

# The fingerprint reported equals the one logged, the certificate file's
# and the one of the certificate the TLS handshake presents.
MT_AUTH=$ADMIN
mt_curl GET nodes/localhost/certificates/info
expect_list '.data | length' 1 "GET certificates/info"
mt_expect_json '.data[0].filename' pveproxy-ssl.pem "GET certificates/info"
mt_expect_json '.data[0].fingerprint' "$MT_FP" "GET certificates/info"
file_fp=$(openssl x509 -in "$MT_CERT" -noout -fingerprint -sha256 |
    sed 's/^.*=//')
[ "$file_fp" = "$MT_FP" ] || mt_fail "fingerprint of $MT_CERT is" \
    "'$file_fp', the daemon logged '$MT_FP'"
served_fp=$(openssl s_client -connect "127.0.0.1:$MT_PORT" </dev/null \
    2>/dev/null | openssl x509 -noout -fingerprint -sha256 | sed 's/^.*=//')
[ "$served_fp" = "$MT_FP" ] || mt_fail "the TLS handshake presents a" \
    "certificate with fingerprint '$served_fp', expected '$MT_FP'"
mt_curl GET "nodes/$MT_NODE/certificates/info"
expect_list '.data[0].fingerprint' "$MT_FP" \
    "GET certificates/info on node $MT_NODE"

# cluster/resources: only real VM configs, only those the token may
# audit.
mt_curl GET 'cluster/resources?type=vm'
expect_list '[.data[].vmid] | sort | map(tostring) | join(",")' 200,201 \
    "GET cluster/resources?type=vm as Administrator"
mt_expect_json '[.data[] | select(.vmid == 200)][0].type' qemu \
    "GET cluster/resources?type=vm as Administrator"
mt_expect_json '[.data[] | select(.vmid == 200)][0].node' "$MT_NODE" \
    "GET cluster/resources?type=vm as Administrator"
mt_curl GET cluster/resources
expect_list '[.data[].vmid] | sort | map(tostring) | join(",")' 200,201 \
    "GET cluster/resources as Administrator"
MT_AUTH=$AUDITOR
mt_curl GET 'cluster/resources?type=vm'
expect_list '[.data[].vmid] | map(tostring) | join(",")' 200 \
    "GET cluster/resources?type=vm with PVEAuditor on /vms/200 only"
MT_AUTH=$NOBODY
mt_curl GET 'cluster/resources?type=vm'
expect_list '.data | length' 0 \
    "GET cluster/resources?type=vm without any ACL"
MT_AUTH=$ADMIN
mt_curl GET 'cluster/resources?type=bogus'
mt_expect 400 "GET cluster/resources?type=bogus"
[ -n "$(mt_jq '.errors.type // empty')" ] || mt_fail "GET" \
    "cluster/resources?type=bogus: no errors.type in $(cat "$MT_BODY")"

# storage: enabled=1 leaves out the disabled storage.
mt_curl GET 'nodes/localhost/storage?enabled=1'
expect_list '[.data[].storage] | sort | join(",")' isostore,vmstore \
    "GET storage?enabled=1 as Administrator"
mt_expect_json '.data[] | select(.storage == "vmstore") | .content' images \
    "GET storage?enabled=1 as Administrator"
mt_expect_json '.data[] | select(.storage == "isostore") | .content' iso \
    "GET storage?enabled=1 as Administrator"
mt_expect_json '[.data[].type] | unique | join(",")' dir \
    "GET storage?enabled=1 as Administrator"
mt_curl GET nodes/localhost/storage
expect_list '[.data[].storage] | sort | join(",")' \
    isostore,offstore,vmstore "GET storage as Administrator"
mt_expect_json '.data[] | select(.storage == "offstore") | .enabled' 0 \
    "GET storage as Administrator"
MT_AUTH=$AUDITOR
mt_curl GET 'nodes/localhost/storage?enabled=1'
expect_list '.data | length' 0 \
    "GET storage?enabled=1 without a datastore privilege"
MT_AUTH=$ADMIN
mt_curl GET 'nodes/localhost/storage?enabled=maybe'
mt_expect 400 "GET storage?enabled=maybe"
[ -n "$(mt_jq '.errors.enabled // empty')" ] || mt_fail "GET" \
    "storage?enabled=maybe: no errors.enabled in $(cat "$MT_BODY")"

# Not implemented: a path, a method on a known path, another format.
not_implemented GET /api2/json/nodes/localhost/nosuch
not_implemented GET /api2/json/nodes/localhost/qemu/200/status/current
not_implemented POST /api2/json/cluster/status
not_implemented DELETE /api2/json/nodes/localhost/qemu/200/mtunnel
not_implemented GET /api2/extjs/cluster/status
not_implemented GET /api2/extjs/nodes/localhost/certificates/info

mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
