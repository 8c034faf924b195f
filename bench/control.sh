#!/usr/bin/env bash
# Measure the control path of mtunneld on 127.0.0.1:
#
#  - mtunnel POST: CALLS calls, each for a new VMID, each by a new curl
#    process on a new TLS connection (Connection: close, no keep-alive).
#    The figure is curl's time_total minus time_pretransfer, from the
#    moment curl starts sending the request until the whole response has
#    arrived, so it leaves out the TCP and TLS handshakes.  The parent
#    replies only once the tunnel process has reported ready (the log
#    line "tunnel VMID ready"), so this HTTP round trip contains the
#    fork, re-exec and set-up of the tunnel.  After each call the tunnel
#    gets a quit over its websocket, so tunnels do not pile up.
#  - version: VERSIONS {"cmd":"version"} requests in one control
#    websocket, one at a time, each timed by wstool -T from queueing the
#    frame to reading the reply line.
#
# Prints a markdown table; -o FILE also writes the figures as JSON.  Run
# as root from the top of the tree after 'make mtunneld mtunnelctl
# tests/tools/wstool'.
#
# usage: bench/control.sh [-c CALLS] [-n VERSIONS] [-o FILE.json]
#   -c CALLS     mtunnel POST calls (default 200)
#   -n VERSIONS  version requests in one websocket (default 10000)
#   -o FILE      also write the figures as JSON to FILE

usage()
{
	sed -n 's/^# \{0,1\}//; /^usage:/,/^$/p' "$0" >&2
	exit 2
}

CALLS=200
VERSIONS=10000
JSON=""
while getopts c:n:o:h ch; do
	case $ch in
	c)
		CALLS=$OPTARG
		;;
	n)
		VERSIONS=$OPTARG
		;;
	o)
		JSON=$OPTARG
		;;
	*)
		usage
		;;
	esac
done
shift $((OPTIND - 1))
[ $# = 0 ] || usage
for n in "$CALLS" "$VERSIONS"; do
	case $n in
	''|*[!0-9]*|0)
		echo "bench/control.sh: '$n': expected a count from 1" >&2
		exit 2
		;;
	esac
done
if [ -n "$JSON" ]; then
	JSON=$(realpath -m "$JSON")
	: >"$JSON" || exit 1
fi

RELAY_HELPERS_ONLY=1 . "$(dirname "$0")/../tests/integration/relay.sh"

# Targets of the design, compared with the p99 figures.
VERSION_P99_TARGET_US=1000
MTUNNEL_P99_TARGET_MS=50

# post_timed VMID: POST .../qemu/VMID/mtunnel on a new connection and
# append the request-to-response time in ms to $MT_DIR/post.ms.  Sets
# TICKET, SOCKET and WS_URL like relay_open.
post_timed()
{
	local vmid=$1 meta=$MT_DIR/post.meta code pre total

	curl -sS --max-time 15 --cacert "$MT_CERT" -X POST \
	    -H 'Connection: close' -H "Authorization: $MT_AUTH" \
	    -d storages= -d bridges= -o "$MT_DIR/post.body" \
	    -w '%{http_code} %{time_pretransfer} %{time_total}' \
	    "$MT_URL/nodes/localhost/qemu/$vmid/mtunnel" >"$meta" \
	    2>"$MT_DIR/post.err" ||
	    mt_fail "POST mtunnel for $vmid: curl failed:" \
	    "$(cat "$MT_DIR/post.err")"
	read -r code pre total <"$meta"
	[ "$code" = 200 ] || mt_fail "POST mtunnel for $vmid: HTTP $code:" \
	    "$(head -c 2000 "$MT_DIR/post.body")"
	awk -v p="$pre" -v t="$total" 'BEGIN { printf "%.3f\n",
	    (t - p) * 1000 }' >>"$MT_DIR/post.ms"
	TICKET=$(jq -r .data.ticket <"$MT_DIR/post.body")
	SOCKET=$(jq -r .data.socket <"$MT_DIR/post.body")
	WS_URL=$(mt_ws_url "$vmid" "$SOCKET" "$TICKET")
}

# ws_quit VMID: end the tunnel that post_timed VMID opened.
ws_quit()
{
	timeout 20 "$MT_WSTOOL" -C -t 10 -f "$MT_FP" \
	    -H "Authorization: $MT_AUTH" "$WS_URL" lines \
	    <<<'{"cmd":"quit"}' >"$MT_DIR/quit.out" 2>"$MT_DIR/quit.err" ||
	    mt_fail "quit through the websocket of $1 failed:" \
	    "$(cat "$MT_DIR/quit.err")"
}

# percentiles FILE: print "P50 P99 MIN MAX COUNT" of the numbers in FILE,
# nearest-rank percentiles.
percentiles()
{
	sort -g "$1" | awk '
		{ v[NR] = $1 }
		END {
			rank50 = int(NR * 0.50 + 0.999999)
			rank99 = int(NR * 0.99 + 0.999999)
			printf "%s %s %s %s %d\n", v[rank50], v[rank99], v[1],
			    v[NR], NR
		}'
}

verdict()
{
	awk -v v="$1" -v t="$2" 'BEGIN { print (v < t) ? "met" : "missed" }'
}

mt_api_init
mt_token 'mig@pve!t1' Administrator
mt_api_start "accept-timeout 10"

: >"$MT_DIR/post.ms"
vmid=1000
for ((i = 0; i < CALLS; i++)); do
	post_timed "$vmid"
	ws_quit "$vmid"
	vmid=$((vmid + 1))
done
read -r post_p50 post_p99 post_min post_max post_n \
    <<<"$(percentiles "$MT_DIR/post.ms")"

# The version requests run in a tunnel of their own.
post_timed 999
for ((i = 0; i < VERSIONS; i++)); do
	echo '{"cmd":"version"}'
done >"$MT_DIR/versions"
echo '{"cmd":"quit"}' >>"$MT_DIR/versions"
timeout 120 "$MT_WSTOOL" -T -C -t 10 -f "$MT_FP" \
    -H "Authorization: $MT_AUTH" "$WS_URL" lines <"$MT_DIR/versions" \
    >"$MT_DIR/versions.out" 2>"$MT_DIR/versions.us" ||
    mt_fail "version requests failed: $(grep -v '^[0-9]*$' \
    "$MT_DIR/versions.us")"
replies=$(grep -c '"api":2' "$MT_DIR/versions.out")
[ "$replies" = "$VERSIONS" ] || mt_fail "$replies version replies," \
    "expected $VERSIONS"
# Keep the version round trips only, not the quit's.
grep '^[0-9]*$' "$MT_DIR/versions.us" | head -n "$VERSIONS" \
    >"$MT_DIR/version.us"
read -r ver_p50 ver_p99 ver_min ver_max ver_n \
    <<<"$(percentiles "$MT_DIR/version.us")"
[ "$ver_n" = "$VERSIONS" ] || mt_fail "wstool -T printed $ver_n times," \
    "expected $VERSIONS"

mt_alive "$MT_PID" || mt_fail "daemon exited during the control bench"

post_verdict=$(verdict "$post_p99" "$MTUNNEL_P99_TARGET_MS")
ver_verdict=$(verdict "$ver_p99" "$VERSION_P99_TARGET_US")
echo "| request | calls | p50 | p99 | min | max | p99 target |"
echo "|---|---:|---:|---:|---:|---:|---|"
echo "| mtunnel POST, request sent to response received | $post_n |" \
    "$post_p50 ms | $post_p99 ms | $post_min ms | $post_max ms |" \
    "< $MTUNNEL_P99_TARGET_MS ms: $post_verdict |"
echo "| version over the control websocket, round trip | $ver_n |" \
    "$ver_p50 µs | $ver_p99 µs | $ver_min µs | $ver_max µs |" \
    "< $VERSION_P99_TARGET_US µs: $ver_verdict |"

[ -n "$JSON" ] || exit 0
{
	printf '{\n  "mtunnel_post": {"unit": "ms", "calls": %s, ' "$post_n"
	printf '"p50": %s, "p99": %s, ' "$post_p50" "$post_p99"
	printf '"min": %s, "max": %s, ' "$post_min" "$post_max"
	printf '"p99_target": %s, "target": "%s"},\n' \
	    "$MTUNNEL_P99_TARGET_MS" "$post_verdict"
	printf '  "version_round_trip": {"unit": "us", "calls": %s, ' "$ver_n"
	printf '"p50": %s, "p99": %s, ' "$ver_p50" "$ver_p99"
	printf '"min": %s, "max": %s, ' "$ver_min" "$ver_max"
	printf '"p99_target": %s, "target": "%s"}\n}\n' \
	    "$VERSION_P99_TARGET_US" "$ver_verdict"
} >"$JSON"
exit 0
