#!/usr/bin/env bash
# Measure the throughput of one TLS websocket through mtunneld into a
# UNIX socket sink that reads 1 MiB at a time, with client frames of
# 128 KiB and of 16 KiB.  In the same run, measure a socat TLS relay into
# the same kind of sink with the same certificate.  Each case runs RUNS
# times, interleaved.  The table gives the median, min and max in MB/s
# (10^6 bytes per second), timed from the client's start until the sink
# has read the last byte.
#
# Both relays get the same client, wstool: "pipe" mode for mtunneld and
# "raw" mode (TLS only, no websocket) for socat.  Same code, same
# OpenSSL, same cipher and 16 KiB TLS records, so the figures compare the
# relays and not the clients.  socat as the client would write 8 KiB
# records (its default block size) and cost a different amount of CPU on
# a machine where client, relay and sink share the cores.
#
# The sink skips its SHA-256 (usink -n) to leave the CPU to the relays;
# tests/integration/relay.sh checks the data itself.  Everything stays on
# 127.0.0.1 and under a temporary directory.  Run as root from the top of
# the tree after 'make mtunneld mtunnelctl tests/tools/wstool
# tests/tools/usink'.
#
# usage: bench/relay.sh [-n RUNS] [-o FILE.json]
#   -n RUNS   runs per case (default 3)
#   -o FILE   also write the figures as JSON to FILE
#   SIZE=2G   bytes per transfer, with a K, M or G suffix for KiB, MiB or
#             GiB (environment; SIZE=512M for a quick run)

usage()
{
	sed -n 's/^# \{0,1\}//; /^usage:/,/^$/p' "$0" >&2
	exit 2
}

RUNS=3
JSON=""
while getopts n:o:h ch; do
	case $ch in
	n)
		RUNS=$OPTARG
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
case $RUNS in
''|*[!0-9]*|0)
	echo "bench/relay.sh: -n $RUNS: expected a number of runs from 1" >&2
	exit 2
	;;
esac
SIZE=${SIZE:-2G}
if ! SIZE_BYTES=$(numfmt --from=iec "$SIZE" 2>/dev/null) ||
    [ "$SIZE_BYTES" -lt 1048576 ]; then
	echo "bench/relay.sh: SIZE=$SIZE: expected at least 1M, such as" \
	    "512M or 2G" >&2
	exit 2
fi
if [ -n "$JSON" ]; then
	JSON=$(realpath -m "$JSON")
	: >"$JSON" || exit 1
fi

RELAY_HELPERS_ONLY=1 . "$(dirname "$0")/../tests/integration/relay.sh"

# Seconds for one transfer at no less than 20 MB/s, plus start-up.
RUN_TIMEOUT=$((SIZE_BYTES / 20000000 + 30))
SINK_READ=1M
CASES="mtunneld-128k mtunneld-16k socat"

now_ns()
{
	date +%s%N
}

# socat_start SINKPATH: start a socat TLS relay for one connection on a
# free loopback port with the daemon's certificate, and set SOCAT_PORT.
socat_start()
{
	local log=$MT_DIR/socat.log
	local listen="OPENSSL-LISTEN:0,bind=127.0.0.1,reuseaddr,verify=0"

	socat -d -d "$listen,cert=$CERT,key=$KEY" "UNIX-CONNECT:$1" \
	    2>"$log" &
	SOCAT_PID=$!
	mt_bg_track "$SOCAT_PID"
	mt_poll 50 grep -q 'listening on AF=2 127\.0\.0\.1:' "$log" ||
	    mt_fail "socat did not start listening: $(cat "$log")"
	SOCAT_PORT=$(sed -n \
	    's/.*listening on AF=2 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
}

# run_case CASE RUN: transfer DATA once and append "CASE MBPS" to RESULTS.
run_case()
{
	local name=$1 run=$2 vmid err=$MT_DIR/wstool.err start end rc
	local sink_rc got
	local args=()

	case $name in
	mtunneld-*)
		vmid=$((NEXT_VMID++))
		relay_open "$vmid"
		sink_start "$name.$run" "$CTL_SOCK" -n -r "$SINK_READ" -t 60
		args=(-C -H "Authorization: $MT_AUTH" "$WS_URL" pipe)
		[ "$name" = mtunneld-128k ] && args=(-s 131072 "${args[@]}")
		[ "$name" = mtunneld-16k ] && args=(-s 16384 "${args[@]}")
		;;
	socat)
		sink_start "$name.$run" "$MT_DIR/socat.sink" -n \
		    -r "$SINK_READ" -t 60
		socat_start "$MT_DIR/socat.sink"
		args=("https://127.0.0.1:$SOCAT_PORT" raw)
		;;
	esac

	start=$(now_ns)
	timeout "$RUN_TIMEOUT" "$MT_WSTOOL" -t 30 -f "$MT_FP" "${args[@]}" \
	    <"$DATA" >/dev/null 2>"$err"
	rc=$?
	# The sink exits by itself at EOF or after 60 s without data.
	wait "$SINK_PID"
	sink_rc=$?
	end=$(now_ns)
	MT_BG=${MT_BG/ $SINK_PID/}
	[ "$rc" = 0 ] || mt_fail "$name run $run: wstool exit status $rc:" \
	    "$(cat "$err")"
	[ "$sink_rc" = 0 ] || mt_fail "$name run $run: sink exit status" \
	    "$sink_rc: $(cat "$MT_DIR/sink.$name.$run.err")"
	got=$(cat "$MT_DIR/sink.$name.$run")
	[ "$got" = "$SIZE_BYTES -" ] || mt_fail "$name run $run: sink read" \
	    "'$got', expected $SIZE_BYTES bytes"
	if [ "$name" = socat ]; then
		mt_poll 50 mt_dead "$SOCAT_PID" ||
		    mt_fail "socat still running after its connection ended"
		wait "$SOCAT_PID"
		MT_BG=${MT_BG/ $SOCAT_PID/}
	fi
	RESULTS+="$name $(awk -v b="$SIZE_BYTES" -v ns=$((end - start)) \
	    'BEGIN { printf "%.1f", b / (ns / 1e9) / 1e6 }')"$'\n'
}

# stats CASE: print "MEDIAN MIN MAX COUNT V1,V2,..." of the case's MB/s.
stats()
{
	printf '%s' "$RESULTS" | awk -v c="$1" '$1 == c { print $2 }' |
	    sort -g | awk '
		{ v[NR] = $1; list = list (NR > 1 ? "," : "") $1 }
		END {
			if (NR % 2)
				median = v[(NR + 1) / 2]
			else
				median = (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.1f %.1f %.1f %d %s\n", median, v[1], v[NR],
			    NR, list
		}'
}

describe()
{
	case $1 in
	mtunneld-128k)
		echo "mtunneld websocket|128 KiB frames"
		;;
	mtunneld-16k)
		echo "mtunneld websocket|16 KiB frames"
		;;
	socat)
		echo "socat TLS (no websocket)|16 KiB TLS records"
		;;
	esac
}

print_table()
{
	local c median min max n list

	echo "Relay into a UNIX socket sink, $SIZE per transfer ($SIZE_BYTES" \
	    "bytes), $RUNS runs each; MB/s = 10^6 bytes per second."
	echo "Machine: $NPROC CPUs, $CPU_MODEL, Linux $KERNEL."
	echo
	echo "| relay | client writes | median MB/s | min | max | runs |"
	echo "|---|---|---:|---:|---:|---:|"
	for c in $CASES; do
		read -r median min max n list <<<"$(stats "$c")"
		echo "| $(describe "$c" | sed 's/|/ | /') | $median | $min |" \
		    "$max | $n |"
	done
}

write_json()
{
	local c median min max n list sep=""

	{
		printf '{\n  "size_bytes": %s,\n  "runs": %s,\n' \
		    "$SIZE_BYTES" "$RUNS"
		printf '  "unit": "MB/s, 10^6 bytes per second",\n'
		printf '  "machine": {"nproc": %s, "cpu": "%s", ' \
		    "$NPROC" "$CPU_MODEL"
		printf '"kernel": "%s"},\n' "$KERNEL"
		printf '  "cases": [\n'
		for c in $CASES; do
			read -r median min max n list <<<"$(stats "$c")"
			printf '%s    {"name": "%s", "median": %s, ' \
			    "$sep" "$c" "$median"
			printf '"min": %s, ' "$min"
			printf '"max": %s, "values": [%s]}' "$max" "$list"
			sep=$',\n'
		done
		printf '\n  ]\n}\n'
	} >"$JSON"
}

NPROC=$(nproc)
CPU_MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1 | tr -d '\\"')
KERNEL=$(uname -r)

DATA=$MT_DIR/data
random_file "$DATA" "$SIZE_BYTES" ||
    mt_fail "cannot write $SIZE_BYTES bytes of random data to $DATA"
# Write the file back now, so that the first run does not compete with
# the kernel flushing it.
sync "$DATA" || mt_fail "sync $DATA failed"
relay_daemon
CERT=$MT_CERT
KEY=${MT_CERT%/cert.pem}/key.pem
if [ ! -r "$CERT" ] || [ ! -r "$KEY" ]; then
	mt_fail "daemon certificate $CERT or key $KEY not found"
fi

NEXT_VMID=100
RESULTS=""
for ((run = 1; run <= RUNS; run++)); do
	for c in $CASES; do
		run_case "$c" "$run"
	done
done

print_table
[ -z "$JSON" ] || write_json
rm -f "$DATA"
exit 0
