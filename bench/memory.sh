#!/usr/bin/env bash
# Measure the memory of each mtunneld process on 127.0.0.1 when idle:
# private memory (Private_Dirty in /proc/PID/smaps_rollup, the pages that
# only this process has written) and RSS (VmRSS in /proc/PID/status).
# Two moments: right after start-up, and with one tunnel that waits for
# its control connection after an mtunnel POST.  Each figure is read
# after 1 s without requests.
#
# Prints a markdown table; -o FILE also writes the figures as JSON.  Run
# as root from the top of the tree after 'make mtunneld mtunnelctl
# tests/tools/wstool'.
#
# usage: bench/memory.sh [-o FILE.json]
#   -o FILE   also write the figures as JSON to FILE

usage()
{
	sed -n 's/^# \{0,1\}//; /^usage:/,/^$/p' "$0" >&2
	exit 2
}

JSON=""
while getopts o:h ch; do
	case $ch in
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
if [ -n "$JSON" ]; then
	JSON=$(realpath -m "$JSON")
	: >"$JSON" || exit 1
fi

RELAY_HELPERS_ONLY=1 . "$(dirname "$0")/../tests/integration/relay.sh"

# Targets of the design for private memory, in KiB.
API_TARGET_KIB=16384
TUNNEL_TARGET_KIB=4096

# private_kib PID: Private_Dirty of PID in KiB.
private_kib()
{
	awk '$1 == "Private_Dirty:" { print $2; found = 1 }
	    END { exit !found }' "/proc/$1/smaps_rollup" 2>/dev/null
}

# rss_kib PID: VmRSS of PID in KiB.
rss_kib()
{
	awk '$1 == "VmRSS:" { print $2; found = 1 }
	    END { exit !found }' "/proc/$1/status" 2>/dev/null
}

# measure MOMENT ROLE PID: append "MOMENT ROLE PID PRIVATE RSS" to ROWS.
measure()
{
	local private rss

	private=$(private_kib "$3") ||
	    mt_fail "cannot read /proc/$3/smaps_rollup of $2"
	rss=$(rss_kib "$3") || mt_fail "cannot read VmRSS of $2 pid $3"
	ROWS+="$1 $2 $3 $private $rss"$'\n'
}

# measure_daemon MOMENT: measure every process of the daemon.
measure_daemon()
{
	local pid n=0

	measure "$1" parent "$MT_PID"
	measure "$1" priv "$MT_PRIV"
	measure "$1" spawner "$MT_SPAWNER"
	for pid in $MT_APIS; do
		n=$((n + 1))
		measure "$1" "api-$n" "$pid"
	done
}

target_of()
{
	case $1 in
	api-*)
		echo "$API_TARGET_KIB"
		;;
	tunnel)
		echo "$TUNNEL_TARGET_KIB"
		;;
	esac
}

# verdict ROLE PRIVATE: "< 16 MiB: met" or the like, or "-".
verdict()
{
	local target

	target=$(target_of "$1")
	if [ -z "$target" ]; then
		echo "-"
	elif [ "$2" -lt "$target" ]; then
		echo "< $((target / 1024)) MiB: met"
	else
		echo "< $((target / 1024)) MiB: missed"
	fi
}

print_table()
{
	local moment role pid private rss

	echo "| moment | process | Private_Dirty KiB | VmRSS KiB |" \
	    "private target |"
	echo "|---|---|---:|---:|---|"
	while read -r moment role pid private rss; do
		echo "| $moment | $role | $private | $rss |" \
		    "$(verdict "$role" "$private") |"
	done <<<"${ROWS%$'\n'}"
}

write_json()
{
	local moment role pid private rss sep="" target

	{
		printf '{\n  "unit": "KiB",\n'
		printf '  "targets": {"api_private": %s, "tunnel_private": %s},\n' \
		    "$API_TARGET_KIB" "$TUNNEL_TARGET_KIB"
		printf '  "processes": [\n'
		while read -r moment role pid private rss; do
			target=$(verdict "$role" "$private")
			printf '%s    {"moment": "%s", "process": "%s", ' \
			    "$sep" "$moment" "$role"
			printf '"pid": %s, "private_dirty": %s, "rss": %s' \
			    "$pid" "$private" "$rss"
			if [ "$target" = - ]; then
				printf '}'
			else
				printf ', "target": "%s"}' "${target##*: }"
			fi
			sep=$',\n'
		done <<<"${ROWS%$'\n'}"
		printf '\n  ]\n}\n'
	} >"$JSON"
}

mt_api_init
mt_token 'mig@pve!t1' Administrator
mt_api_start

ROWS=""
sleep 1
measure_daemon idle

relay_open 100
TUNNEL=$(mt_tunnel_pid 100)
if [ -z "$TUNNEL" ] || mt_dead "$TUNNEL"; then
	mt_fail "no live tunnel process for vmid 100 in the log"
fi
sleep 1
measure_daemon one-tunnel
measure one-tunnel tunnel "$TUNNEL"

print_table
[ -z "$JSON" ] || write_json
exit 0
