#!/usr/bin/env bash
# Load mtunneld on 127.0.0.1 with many tunnels at once and check that
# every operation completes without error:
#
#  - CONTROLS control tunnels: one mtunnel POST per VMID, then all their
#    control websockets open at once.  Each sends VERSIONS
#    {"cmd":"version"} requests 0.5 s apart, as a migration's mostly idle
#    control channel would, then {"cmd":"quit"}.  Each must get one
#    version reply per request, end with the server's Close, and its
#    tunnel must remove its VMID's config and socket directory.
#  - RELAYS relays of SIZE each: one mtunnel POST per VMID, a usink sink
#    bound at the tunnel's control socket path (as bench/relay.sh does),
#    then all wstool pipe clients at once, 128 KiB frames.  Each sink
#    must read SIZE bytes.  The aggregate MB/s (10^6 bytes per second)
#    is SIZE times the relays that completed, over the wall time from the
#    start of the first client until the last sink has read its last
#    byte.
#
# The relays start first and the control clients right after, so both
# run at the same time.  While they run, the script samples the parent,
# each api worker and the tunnel of the first control VMID every 0.25 s.
# It reports the maximum private memory (Private_Dirty in
# /proc/PID/smaps_rollup) and RSS (VmRSS in /proc/PID/status) of each.
#
# Prints markdown tables; -o FILE also writes the figures as JSON.  Exits
# 1 when an operation failed, after printing the figures.  Run as root
# from the top of the tree after 'make mtunneld mtunnelctl
# tests/tools/wstool tests/tools/usink'.
#
# usage: bench/scale.sh [-c CONTROLS] [-r RELAYS] [-o FILE.json]
#   -c CONTROLS  concurrent control tunnels (default 32)
#   -r RELAYS    concurrent relays (default 8)
#   -o FILE      also write the figures as JSON to FILE
#   SIZE=512M    bytes per relay, with a K, M or G suffix for KiB, MiB or
#                GiB (environment)

usage()
{
	sed -n 's/^# \{0,1\}//; /^usage:/,/^$/p' "$0" >&2
	exit 2
}

CONTROLS=32
RELAYS=8
JSON=""
while getopts c:r:o:h ch; do
	case $ch in
	c)
		CONTROLS=$OPTARG
		;;
	r)
		RELAYS=$OPTARG
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
for n in "$CONTROLS" "$RELAYS"; do
	case $n in
	''|*[!0-9]*|0)
		echo "bench/scale.sh: '$n': expected a count from 1" >&2
		exit 2
		;;
	esac
done
SIZE=${SIZE:-512M}
if ! SIZE_BYTES=$(numfmt --from=iec "$SIZE" 2>/dev/null) ||
    [ "$SIZE_BYTES" -lt 1048576 ]; then
	echo "bench/scale.sh: SIZE=$SIZE: expected at least 1M, such as" \
	    "512M" >&2
	exit 2
fi
if [ -n "$JSON" ]; then
	JSON=$(realpath -m "$JSON")
	: >"$JSON" || exit 1
fi

RELAY_HELPERS_ONLY=1 . "$(dirname "$0")/../tests/integration/relay.sh"

VERSIONS=5		# version requests per control tunnel
VERSION_GAP=0.5		# seconds between them
CONTROL_VMID=2000	# first VMID of the control tunnels
RELAY_VMID=3000		# first VMID of the relays
# Seconds for all relays at no less than 20 MB/s in total, plus start-up.
RUN_TIMEOUT=$((RELAYS * SIZE_BYTES / 20000000 + 30))
SAMPLE_GAP=0.25

ERRORS=0
CONTROL_OK=0
RELAY_OK=0

# error MESSAGE...: count one failed operation and report it on stderr.
error()
{
	ERRORS=$((ERRORS + 1))
	echo "bench/scale.sh: $*" >&2
}

now_ns()
{
	date +%s%N
}

# open_tunnel VMID: POST .../qemu/VMID/mtunnel and store its websocket
# URL in $MT_DIR/url.VMID.
open_tunnel()
{
	relay_open "$1"
	echo "$WS_URL" >"$MT_DIR/url.$1"
}

# control_requests: the request lines of one control client, paced.
control_requests()
{
	local i

	for ((i = 0; i < VERSIONS; i++)); do
		echo '{"cmd":"version"}'
		sleep "$VERSION_GAP"
	done
	echo '{"cmd":"quit"}'
}

# control_start VMID: start one control client in the background and
# append its pid to CONTROL_PIDS.
control_start()
{
	local vmid=$1

	control_requests | timeout 60 "$MT_WSTOOL" -C -t 20 -f "$MT_FP" \
	    -H "Authorization: $MT_AUTH" "$(cat "$MT_DIR/url.$vmid")" lines \
	    >"$MT_DIR/control.$vmid.out" 2>"$MT_DIR/control.$vmid.err" &
	CONTROL_PIDS+=("$!")
	mt_bg_track "$!"
}

# relay_start VMID: start one relay client in the background and append
# its pid to RELAY_PIDS.
relay_start()
{
	local vmid=$1

	timeout "$RUN_TIMEOUT" "$MT_WSTOOL" -C -t 30 -f "$MT_FP" -s 131072 \
	    -H "Authorization: $MT_AUTH" "$(cat "$MT_DIR/url.$vmid")" pipe \
	    <"$DATA" >/dev/null 2>"$MT_DIR/relay.$vmid.err" &
	RELAY_PIDS+=("$!")
	mt_bg_track "$!"
}

# sample ROLE PID: append "ROLE PID PRIVATE RSS" to $MT_DIR/samples, or
# nothing when the process is gone.
sample()
{
	local private rss

	private=$(awk '$1 == "Private_Dirty:" { print $2 }' \
	    "/proc/$2/smaps_rollup" 2>/dev/null)
	rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$2/status" \
	    2>/dev/null)
	[ -n "$private" ] && [ -n "$rss" ] || return 0
	echo "$1 $2 $private $rss" >>"$MT_DIR/samples"
}

sample_daemon()
{
	local pid n=0

	sample parent "$MT_PID"
	for pid in $MT_APIS; do
		n=$((n + 1))
		sample "api-$n" "$pid"
	done
	[ -z "$TUNNEL" ] || sample tunnel "$TUNNEL"
}

# sample_loop: sample the daemon every SAMPLE_GAP seconds until killed.
sample_loop()
{
	while :; do
		sample_daemon
		sleep "$SAMPLE_GAP"
	done
}

# control_check VMID PID: the control client of VMID got every version
# reply and a Close, and its tunnel removed its config and socket
# directory.
control_check()
{
	local vmid=$1 replies

	if ! wait "$2"; then
		error "control client for $vmid failed:" \
		    "$(cat "$MT_DIR/control.$vmid.err")"
		return
	fi
	replies=$(grep -c '"api":2' "$MT_DIR/control.$vmid.out")
	if [ "$replies" != "$VERSIONS" ]; then
		error "control client for $vmid got $replies version" \
		    "replies, expected $VERSIONS"
		return
	fi
	if ! mt_poll 50 mt_vmid_clean "$vmid"; then
		error "config or socket directory of $vmid still there 5 s" \
		    "after its quit"
		return
	fi
	CONTROL_OK=$((CONTROL_OK + 1))
}

# relay_check VMID CLIENT-STATUS SINK-STATUS: the relay client and the
# sink exited with 0 and the sink read SIZE bytes.
relay_check()
{
	local vmid=$1 got

	if [ "$2" != 0 ]; then
		error "relay client for $vmid: exit status $2:" \
		    "$(cat "$MT_DIR/relay.$vmid.err")"
		return
	fi
	if [ "$3" != 0 ]; then
		error "sink for $vmid: exit status $3:" \
		    "$(cat "$MT_DIR/sink.$vmid.err")"
		return
	fi
	got=$(cat "$MT_DIR/sink.$vmid")
	if [ "$got" != "$SIZE_BYTES -" ]; then
		error "sink for $vmid read '$got', expected $SIZE_BYTES bytes"
		return
	fi
	RELAY_OK=$((RELAY_OK + 1))
}

# memory_rows: "ROLE PID SAMPLES PRIVATE_MAX RSS_MAX" per process, in
# the order of the first sample.
memory_rows()
{
	awk '
		!($1 in n) { order[++count] = $1; pid[$1] = $2 }
		{
			n[$1]++
			if ($3 > priv[$1]) priv[$1] = $3
			if ($4 > rss[$1]) rss[$1] = $4
		}
		END {
			for (i = 1; i <= count; i++) {
				r = order[i]
				print r, pid[r], n[r], priv[r], rss[r]
			}
		}' "$MT_DIR/samples"
}

print_tables()
{
	local role pid n private rss

	echo "| load | count | completed | wall s | aggregate MB/s |"
	echo "|---|---:|---:|---:|---:|"
	echo "| control tunnels, $VERSIONS version requests $VERSION_GAP s" \
	    "apart and a quit each | $CONTROLS | $CONTROL_OK | - | - |"
	echo "| relays of $SIZE ($SIZE_BYTES bytes), 128 KiB frames |" \
	    "$RELAYS | $RELAY_OK | $WALL_S | $AGGREGATE |"
	echo
	if [ "$ERRORS" = 0 ]; then
		echo "Every operation completed without error."
	else
		echo "Failed operations: $ERRORS (see stderr of the run)."
	fi
	echo
	echo "| process under load | samples | max Private_Dirty KiB |" \
	    "max VmRSS KiB |"
	echo "|---|---:|---:|---:|"
	while read -r role pid n private rss; do
		echo "| $role | $n | $private | $rss |"
	done <<<"$(memory_rows)"
}

write_json()
{
	local role pid n private rss sep=""

	{
		printf '{\n  "controls": {"count": %s, "completed": %s, ' \
		    "$CONTROLS" "$CONTROL_OK"
		printf '"versions_each": %s},\n' "$VERSIONS"
		printf '  "relays": {"count": %s, "completed": %s, ' \
		    "$RELAYS" "$RELAY_OK"
		printf '"size_bytes": %s, "wall_seconds": %s, ' \
		    "$SIZE_BYTES" "$WALL_S"
		printf '"aggregate_mbps": %s},\n' "$AGGREGATE"
		printf '  "errors": %s,\n' "$ERRORS"
		printf '  "memory": {"unit": "KiB", "processes": [\n'
		while read -r role pid n private rss; do
			printf '%s    {"process": "%s", "pid": %s, ' \
			    "$sep" "$role" "$pid"
			printf '"samples": %s, "private_dirty_max": %s, ' \
			    "$n" "$private"
			printf '"rss_max": %s}' "$rss"
			sep=$',\n'
		done <<<"$(memory_rows)"
		printf '\n  ]}\n}\n'
	} >"$JSON"
}

DATA=$MT_DIR/data
random_file "$DATA" "$SIZE_BYTES" ||
    mt_fail "cannot write $SIZE_BYTES bytes of random data to $DATA"
relay_daemon

for ((i = 0; i < CONTROLS; i++)); do
	open_tunnel $((CONTROL_VMID + i))
done
TUNNEL=$(mt_tunnel_pid "$CONTROL_VMID")
[ -n "$TUNNEL" ] || mt_fail "no tunnel pid for $CONTROL_VMID in the log"
SINK_PIDS=()
for ((i = 0; i < RELAYS; i++)); do
	vmid=$((RELAY_VMID + i))
	open_tunnel "$vmid"
	sink_start "$vmid" "$CTL_SOCK" -n -r 1M -t 60
	SINK_PIDS+=("$SINK_PID")
done

: >"$MT_DIR/samples"
RELAY_PIDS=()
CONTROL_PIDS=()
start=$(now_ns)
for ((i = 0; i < RELAYS; i++)); do
	relay_start $((RELAY_VMID + i))
done
for ((i = 0; i < CONTROLS; i++)); do
	control_start $((CONTROL_VMID + i))
done
sample_loop &
SAMPLER=$!
mt_bg_track "$SAMPLER"
# Every client ends by itself or by its timeout, and every sink after 60 s
# without data, so these waits end.
RELAY_STATUS=()
SINK_STATUS=()
for ((i = 0; i < RELAYS; i++)); do
	wait "${RELAY_PIDS[$i]}"
	RELAY_STATUS+=("$?")
	# A sink whose client failed would wait 60 s for more data.
	[ "${RELAY_STATUS[$i]}" = 0 ] || kill "${SINK_PIDS[$i]}"
	wait "${SINK_PIDS[$i]}"
	SINK_STATUS+=("$?")
done
end=$(now_ns)
for ((i = 0; i < CONTROLS; i++)); do
	control_check $((CONTROL_VMID + i)) "${CONTROL_PIDS[$i]}"
done
kill "$SAMPLER"
wait "$SAMPLER" 2>/dev/null
for ((i = 0; i < RELAYS; i++)); do
	relay_check $((RELAY_VMID + i)) "${RELAY_STATUS[$i]}" \
	    "${SINK_STATUS[$i]}"
done
for pid in $MT_PID $MT_APIS; do
	mt_alive "$pid" || error "daemon process $pid exited under load"
done

read -r WALL_S AGGREGATE <<<"$(awk -v b=$((RELAY_OK * SIZE_BYTES)) \
    -v ns=$((end - start)) \
    'BEGIN { printf "%.2f %.1f\n", ns / 1e9, b / (ns / 1e9) / 1e6 }')"
print_tables
[ -z "$JSON" ] || write_json
rm -f "$DATA"
[ "$ERRORS" = 0 ]
