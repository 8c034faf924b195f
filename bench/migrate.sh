#!/usr/bin/env bash
# Measure one live migration of a VM three ways in the same run,
# interleaved, RUNS times each:
#   mtunneld  mtunnel-migrate --online through the daemon: TLS
#             websockets from the client to the daemon, which relays
#             them into the target QEMU's NBD and migration sockets;
#   straight  the source QEMU's drive-mirror and migrate go straight
#             into the target QEMU's UNIX sockets, no TLS and no relay;
#   socat     as straight, but each stream crosses a socat TLS hop on
#             127.0.0.1: socat UNIX-LISTEN to OPENSSL on the source
#             side, socat OPENSSL-LISTEN to UNIX-CONNECT on the target
#             side, with the daemon's certificate.
#
# The VM has MEM of RAM and one raw disk of DISK, kvm: 0 (TCG).  The
# source's RAM is a file-backed memory backend (id pc.ram, the name of
# the RAM block the target allocates from -m) whose file is filled with
# random data before the start, so every page is sent; the disk holds
# random data too.  Every source QEMU runs from the argument vector of
# "mtunnelctl qemu-cmdline" with the backend appended, as the QEMU user.
# The straight and socat targets run from "mtunnelctl start --incoming"
# with the same kind of config; the script sets them up over QMP as the
# daemon does for its targets (xbzrle and auto-converge, a writable NBD
# export per disk) and drives both QEMUs as mtunnel-migrate does: the
# same drive-mirror and migrate arguments, max-bandwidth 1 TiB/s, and
# query-block-jobs or query-migrate every 0.5 s.
#
# Total time runs from the start of the migration (mtunnel-migrate, or
# the target's start) until the target runs and the source has quit.
# Downtime is "downtime" of QMP query-migrate.  MB/s is (MEM + DISK)
# bytes over the total time, in 10^6 bytes per second.  After each run
# the SHA-256 of the source disk must equal the target's, or the run
# fails.  Everything stays on 127.0.0.1, UNIX sockets and a temporary
# directory; every QEMU the script started is killed on exit.  Run as
# root from the top of the tree after 'make mtunneld mtunnelctl
# mtunnel-migrate tests/tools/wstool tests/tools/qmpcall' and
# scripts/create-users.
#
# usage: bench/migrate.sh [-n RUNS] [-o FILE.json]
#   -n RUNS   runs per case (default 3)
#   -o FILE   also write the figures as JSON to FILE
#   MEM=1G    RAM of the VM, with an M or G suffix for MiB or GiB
#             (environment; at least 64M, a whole number of MiB)
#   DISK=1G   size of the VM's disk, same units (DISK=256M MEM=256M for
#             a quick run)
#   CASES     the paths to measure (default "mtunneld straight socat")

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
	echo "bench/migrate.sh: -n $RUNS: expected a number of runs from 1" >&2
	exit 2
	;;
esac

# size_mib NAME VALUE: VALUE in MiB, or exit with an error about NAME.
size_mib()
{
	local bytes

	if ! bytes=$(numfmt --from=iec "$2" 2>/dev/null) ||
	    [ "$bytes" -lt 67108864 ] || [ $((bytes % 1048576)) != 0 ]; then
		echo "bench/migrate.sh: $1=$2: expected a whole number of" \
		    "MiB from 64M, such as 256M or 1G" >&2
		exit 2
	fi
	echo $((bytes / 1048576))
}

MEM=${MEM:-1G}
DISK=${DISK:-1G}
MEM_MB=$(size_mib MEM "$MEM") || exit 2
DISK_MB=$(size_mib DISK "$DISK") || exit 2
MIB=1048576
BYTES=$(((MEM_MB + DISK_MB) * MIB))
if [ -n "$JSON" ]; then
	JSON=$(realpath -m "$JSON")
	: >"$JSON" || exit 1
fi

. "$(dirname "$0")/../tests/integration/lib.sh"

# The table goes to stdout, so failures go to stderr.
eval "lib_$(declare -f mt_fail)"
mt_fail()
{
	lib_mt_fail "$@" >&2
}

: "${MT_MIGRATE:=$MT_TESTS/../../mtunnel-migrate}"
: "${MT_QMPCALL:=$MT_TESTS/../tools/qmpcall}"
QEMU_USER=_mtunneld-qemu	# the default qemu-user of mtunneld.conf
SRC=100
CASES=${CASES:-"mtunneld straight socat"}
POLL=0.5			# seconds between QMP polls, as mtunnel-migrate
NO_LIMIT=1099511627776		# max-bandwidth of mtunnel-migrate, 1 TiB/s
# Seconds for one migration at no less than 10 MB/s, plus start-up.
RUN_TIMEOUT=$((BYTES / 10000000 + 60))

SRCSTORE=$MT_DIR/srcstore
DSTSTORE=$MT_DIR/dststore
SRCDISK=$SRCSTORE/images/$SRC/vm-$SRC-disk-0.raw
MEMFILE=$MT_DIR/mem.$SRC

now_ns()
{
	date +%s%N
}

# qmp SOCKET COMMAND [ARGS]: run one QMP command and store its "return"
# value in QMP_OUT.  A QEMU monitor socket serves one client at a time,
# so a refused connection is retried for up to 5 s.
qmp()
{
	local i rc

	for ((i = 0; i < 50; i++)); do
		QMP_OUT=$(timeout 15 "$MT_QMPCALL" -t 10 "$@" 2>&1)
		rc=$?
		case $rc:$QMP_OUT in
		1:*"connect "*)
			sleep 0.1
			;;
		*)
			break
			;;
		esac
	done
	[ "$rc" = 0 ] || mt_fail "QMP $2 on $1 failed: $QMP_OUT"
}

qmp_of()
{
	echo "$MT_RUNDIR/$1/qmp"
}

# Kill what this script started outside the daemon: clients, socat and
# every QEMU whose command line names this script's directory.
bench_exit()
{
	local f pid

	for f in "$MT_RUNDIR"/*/pid; do
		pid=$(cat "$f" 2>/dev/null) || continue
		tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" |
		    grep -qF -- "$MT_DIR/" && kill -KILL "$pid"
	done
	mt_api_cleanup
}

# vm_config VMID VOLID: write the config of the source or of a target.
vm_config()
{
	printf '%s\n' "name: bench" "memory: $MEM_MB" "cores: 1" "kvm: 0" \
	    "scsihw: virtio-scsi-pci" "scsi0: $2,size=${DISK_MB}M" \
	    "vga: none" >"$MT_CONFDIR/qemu-server/$1.conf" ||
	    mt_fail "cannot write the config of VM $1"
}

# Add two dir storages, and write the source disk and the memory file
# with random data.
make_source_data()
{
	local t=$'\t'

	mkdir -p "$(dirname "$SRCDISK")" "$DSTSTORE/images" ||
	    mt_fail "mkdir in $MT_DIR failed"
	printf '%s\n' "" "dir: srcstore" "${t}path $SRCSTORE" \
	    "${t}content images" "" "dir: dststore" "${t}path $DSTSTORE" \
	    "${t}content images" >>"$MT_CONFDIR/storage.cfg" ||
	    mt_fail "cannot add storages to $MT_CONFDIR/storage.cfg"
	openssl rand $((DISK_MB * MIB)) >"$SRCDISK" ||
	    mt_fail "cannot write $DISK_MB MiB of random data to $SRCDISK"
	openssl rand $((MEM_MB * MIB)) >"$MEMFILE" ||
	    mt_fail "cannot write $MEM_MB MiB of random data to $MEMFILE"
	# QEMU opens its images as root, then runs as the QEMU user, and
	# opens an image again as that user when a mirror ends.
	chown "$QEMU_USER" "$SRCDISK" || mt_fail "chown $QEMU_USER failed"
	chmod 755 "$MT_DIR" "$SRCSTORE" "$SRCSTORE/images" \
	    "$(dirname "$SRCDISK")" "$DSTSTORE" "$DSTSTORE/images" ||
	    mt_fail "chmod 755 in $MT_DIR failed"
	sync || mt_fail "sync failed"
}

# start_source: run VM SRC with its RAM in MEMFILE and wait until its
# QMP socket reports it running.  Sets SRCPID.
start_source()
{
	local line backend
	local -a argv=()

	vm_config "$SRC" "srcstore:$SRC/vm-$SRC-disk-0.raw"
	"$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" qemu-cmdline "$SRC" \
	    >"$MT_DIR/cmdline" 2>"$MT_DIR/cmdline.err" ||
	    mt_fail "mtunnelctl qemu-cmdline $SRC failed:" \
	    "$(cat "$MT_DIR/cmdline.err")"
	# One argument per line, quoted for the shell where needed.
	while IFS= read -r line; do
		eval "argv+=($line)"
	done <"$MT_DIR/cmdline"
	backend=memory-backend-file,id=pc.ram,size=${MEM_MB}M
	argv+=(-object "$backend,mem-path=$MEMFILE,share=on"
	    -machine memory-backend=pc.ram)
	[ -d "$MT_RUNDIR/$SRC" ] || mkdir -m 0700 "$MT_RUNDIR/$SRC" ||
	    mt_fail "mkdir $MT_RUNDIR/$SRC failed"
	timeout 60 "${argv[@]}" >"$MT_DIR/source.err" 2>&1 ||
	    mt_fail "source QEMU did not start: $(cat "$MT_DIR/source.err")"
	SRCPID=$(cat "$MT_RUNDIR/$SRC/pid" 2>/dev/null)
	[ -n "$SRCPID" ] || mt_fail "no pid file of the source QEMU"
	qmp "$(qmp_of "$SRC")" query-status
	[ "$(jq -r .status <<<"$QMP_OUT")" = running ] ||
	    mt_fail "source QEMU is '$QMP_OUT', expected running"
}

# wait_gone PID WHAT: wait up to 30 s for the process to end.
wait_gone()
{
	mt_poll 300 mt_dead "$1" || mt_fail "$2 (pid $1) still runs"
}

# check_target VMID DISKFILE: check that the target runs, the source QEMU
# has gone and the disks are equal.  Then quit the target and remove its
# disk.
check_target()
{
	local vmid=$1 file=$2 src_sum dst_sum pid

	wait_gone "$SRCPID" "source QEMU after the migration"
	pid=$(cat "$MT_RUNDIR/$vmid/pid" 2>/dev/null)
	mt_alive "$pid" || mt_fail "target QEMU of VM $vmid (pid '$pid')" \
	    "is not running after the migration"
	qmp "$(qmp_of "$vmid")" query-status
	[ "$(jq -r .status <<<"$QMP_OUT")" = running ] ||
	    mt_fail "target VM $vmid is '$QMP_OUT', expected running"
	[ -f "$file" ] || mt_fail "no target disk $file"
	# Hash both disks at once, so that two cores take the time of one.
	sha256sum <"$SRCDISK" >"$MT_DIR/src.sum" &
	dst_sum=$(sha256sum <"$file")
	wait $! || mt_fail "sha256sum $SRCDISK failed"
	src_sum=$(cat "$MT_DIR/src.sum")
	[ "$src_sum" = "$dst_sum" ] || mt_fail "VM $vmid: target disk" \
	    "$file has SHA-256 ${dst_sum%% *}, source ${src_sum%% *}"
	qmp "$(qmp_of "$vmid")" quit
	wait_gone "$pid" "target QEMU of VM $vmid after quit"
	rm -f "$file" "$MT_CONFDIR/qemu-server/$vmid.conf"
}

# result CASE TOTAL_NS DOWNTIME_MS: append the run's figures to RESULTS.
result()
{
	RESULTS+=$(awk -v c="$1" -v ns="$2" -v dt="$3" -v b="$BYTES" \
	    'BEGIN { printf "%s total %.2f\n%s downtime %d\n%s mbps %.1f\n",
	    c, ns / 1e9, c, dt, c, b / (ns / 1e9) / 1e6 }')$'\n'
}

run_mtunneld()
{
	local dst=$1 out=$MT_DIR/migrate.$1 start end rc downtime target

	target="host=127.0.0.1,port=$MT_PORT,apitoken=$MT_AUTH"
	target+=",fingerprint=$MT_FP"
	start=$(now_ns)
	timeout "$RUN_TIMEOUT" "$MT_MIGRATE" -f "$MT_CONF" -p "$MT_PREFIX" \
	    --target "$target" --target-vmid "$dst" \
	    --target-storage vmstore --target-bridge vmbr0 --online "$SRC" \
	    >"$out.out" 2>"$out.err"
	rc=$?
	end=$(now_ns)
	[ "$rc" = 0 ] || mt_fail "mtunnel-migrate to VM $dst: exit status" \
	    "$rc: $(cat "$out.err") $(tail -n 20 "$out.out")"
	downtime=$(sed -n 's/.*memory migrated: downtime \([0-9]*\) ms.*/\1/p' \
	    "$out.out")
	[ -n "$downtime" ] || mt_fail "mtunnel-migrate printed no downtime:" \
	    "$(cat "$out.out")"
	check_target "$dst" \
	    "$(ls "$MT_DIR/vmstore/images/$dst"/*.raw 2>/dev/null | head -n 1)"
	result mtunneld $((end - start)) "$downtime"
}

# target_start VMID DIR: run the target from a config like the source's
# with an empty disk, waiting for the migration on DIR/migrate, and
# export its disk over NBD on DIR/nbd as the daemon does.
target_start()
{
	local vmid=$1 dir=$2 node file

	file=$DSTSTORE/images/$vmid/vm-$vmid-disk-0.raw
	mkdir -p "$(dirname "$file")" && truncate -s "${DISK_MB}M" "$file" &&
	    chown "$QEMU_USER" "$file" || mt_fail "cannot create $file"
	vm_config "$vmid" "dststore:$vmid/vm-$vmid-disk-0.raw"
	timeout 60 "$MTUNNELCTL" -f "$MT_CONF" -p "$MT_PREFIX" start \
	    --incoming "$dir/migrate" "$vmid" >"$MT_DIR/target.out" \
	    2>"$MT_DIR/target.err" || mt_fail "mtunnelctl start --incoming" \
	    "$vmid failed: $(cat "$MT_DIR/target.err")"
	qmp "$(qmp_of "$vmid")" migrate-set-capabilities '{"capabilities":
	    [{"capability":"xbzrle","state":true},
	    {"capability":"auto-converge","state":true}]}'
	qmp "$(qmp_of "$vmid")" nbd-server-start \
	    "$(jq -nc --arg p "$dir/nbd" '{addr:{type:"unix",data:{path:$p}}}')"
	qmp "$(qmp_of "$vmid")" query-block
	node=$(jq -r '.[] | select(.device == "drive-scsi0") |
	    .inserted["node-name"]' <<<"$QMP_OUT")
	[ -n "$node" ] || mt_fail "no block node of drive-scsi0: $QMP_OUT"
	qmp "$(qmp_of "$vmid")" block-export-add "$(jq -nc --arg n "$node" \
	    '{type:"nbd", id:"drive-scsi0", "node-name":$n,
	    name:"drive-scsi0", writable:true}')"
}

# socat_hop LISTEN TARGET: a socat TLS hop from a UNIX socket LISTEN,
# mode 0666 for the source QEMU, to the UNIX socket TARGET.
socat_hop()
{
	local log port
	local tls=OPENSSL-LISTEN:0,bind=127.0.0.1,reuseaddr,fork,verify=0

	log=$MT_DIR/socat.$(basename "$1").log
	socat -d -d "$tls,cert=$MT_CERT,key=$KEY" "UNIX-CONNECT:$2" \
	    2>"$log" &
	mt_bg_track $!
	HOP_PIDS+=" $!"
	mt_poll 50 grep -q 'listening on AF=2 127\.0\.0\.1:' "$log" ||
	    mt_fail "socat did not start listening: $(cat "$log")"
	port=$(sed -n 's/.*listening on AF=2 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
	    "$log")
	socat "UNIX-LISTEN:$1,fork,mode=0666" \
	    "OPENSSL:127.0.0.1:$port,verify=0" 2>>"$log" &
	mt_bg_track $!
	HOP_PIDS+=" $!"
	mt_poll 50 test -S "$1" || mt_fail "socat did not listen on $1"
}

# wait_mirror_ready: poll until the source's mirror job is ready.
wait_mirror_ready()
{
	local deadline=$((SECONDS + RUN_TIMEOUT)) ready

	while ((SECONDS < deadline)); do
		qmp "$(qmp_of "$SRC")" query-block-jobs
		ready=$(jq '[.[] | select(.ready)] | length' <<<"$QMP_OUT")
		[ "$ready" = 1 ] && return 0
		[ "$(jq length <<<"$QMP_OUT")" = 1 ] ||
		    mt_fail "the mirror job ended before it was ready"
		sleep "$POLL"
	done
	mt_fail "mirror not ready after $RUN_TIMEOUT s: $QMP_OUT"
}

# wait_migrated: poll until the memory migration has completed, and set
# DOWNTIME.
wait_migrated()
{
	local deadline=$((SECONDS + RUN_TIMEOUT)) status

	while ((SECONDS < deadline)); do
		qmp "$(qmp_of "$SRC")" query-migrate
		status=$(jq -r .status <<<"$QMP_OUT")
		case $status in
		completed)
			DOWNTIME=$(jq -r .downtime <<<"$QMP_OUT")
			return 0
			;;
		failed|cancelled)
			mt_fail "migration $status: $QMP_OUT"
			;;
		esac
		sleep "$POLL"
	done
	mt_fail "migration not completed after $RUN_TIMEOUT s: $QMP_OUT"
}

# wait_mirror_gone: poll after block-job-cancel until no job is left.
wait_mirror_gone()
{
	local i

	for ((i = 0; i < 120; i++)); do
		qmp "$(qmp_of "$SRC")" query-block-jobs
		[ "$(jq length <<<"$QMP_OUT")" = 0 ] && return 0
		sleep "$POLL"
	done
	mt_fail "mirror job still there after block-job-cancel: $QMP_OUT"
}

# run_direct CASE VMID: the straight or socat migration to VMID.
run_direct()
{
	local name=$1 vmid=$2 dir=$MT_DIR/target.$2 via start end pid

	# The target QEMU, as the QEMU user, creates its NBD socket here.
	mkdir -m 0755 "$dir" && chown "$QEMU_USER" "$dir" ||
	    mt_fail "cannot create $dir"
	HOP_PIDS=""
	start=$(now_ns)
	target_start "$vmid" "$dir"
	if [ "$name" = straight ]; then
		# QEMU creates the incoming socket before it drops root.
		chmod 0666 "$dir/migrate" || mt_fail "chmod $dir/migrate failed"
		via=$dir
	else
		via=$MT_DIR/hop.$vmid
		mkdir -m 0755 "$via" || mt_fail "mkdir $via failed"
		socat_hop "$via/nbd" "$dir/nbd"
		socat_hop "$via/migrate" "$dir/migrate"
	fi
	qmp "$(qmp_of "$SRC")" drive-mirror "$(jq -nc --arg s "$via/nbd" \
	    '{"job-id":"mirror-scsi0", device:"drive-scsi0",
	    target:("nbd:unix:" + $s + ":exportname=drive-scsi0"),
	    sync:"full", mode:"existing", format:"nbd"}')"
	wait_mirror_ready
	qmp "$(qmp_of "$SRC")" migrate-set-parameters \
	    "{\"max-bandwidth\":$NO_LIMIT}"
	qmp "$(qmp_of "$SRC")" migrate "{\"uri\":\"unix:$via/migrate\"}"
	wait_migrated
	qmp "$(qmp_of "$SRC")" block-job-cancel '{"device":"mirror-scsi0"}'
	wait_mirror_gone
	qmp "$(qmp_of "$vmid")" nbd-server-stop
	qmp "$(qmp_of "$vmid")" cont
	qmp "$(qmp_of "$SRC")" quit
	wait_gone "$SRCPID" "source QEMU after quit"
	end=$(now_ns)
	for pid in $HOP_PIDS; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		MT_BG=${MT_BG/ $pid/}
	done
	check_target "$vmid" "$DSTSTORE/images/$vmid/vm-$vmid-disk-0.raw"
	rm -rf "$dir" "$MT_DIR/hop.$vmid"
	result "$name" $((end - start)) "$DOWNTIME"
}

# stats CASE METRIC: print "MEDIAN MIN MAX COUNT V1,V2,...".
stats()
{
	printf '%s' "$RESULTS" | awk -v c="$1" -v m="$2" \
	    '$1 == c && $2 == m { print $3 }' | sort -g | awk '
		{ v[NR] = $1; list = list (NR > 1 ? "," : "") $1 }
		END {
			if (NR % 2)
				median = v[(NR + 1) / 2]
			else
				median = (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s %s %s %d %s\n", median, v[1], v[NR], NR,
			    list
		}'
}

median()
{
	stats "$1" "$2" | cut -d' ' -f1
}

ratio()
{
	awk -v a="$(median "$1" mbps)" -v b="$(median "$2" mbps)" \
	    'BEGIN { printf "%.2f", a / b }'
}

describe()
{
	case $1 in
	mtunneld)
		echo "mtunneld (mtunnel-migrate --online, TLS websockets)"
		;;
	straight)
		echo "straight (UNIX sockets, no TLS, no relay)"
		;;
	socat)
		echo "socat TLS hop (2 socat per stream)"
		;;
	esac
}

print_table()
{
	local c m unit median min max n list

	echo "Live migration of a VM with $MEM_MB MiB RAM and a $DISK_MB MiB" \
	    "disk, both random data, TCG; $RUNS runs each, interleaved."
	echo "MB/s = (RAM + disk) bytes / total time, 10^6 bytes per second."
	echo "Machine: $NPROC CPUs, $CPU_MODEL, Linux $KERNEL."
	echo
	echo "| path | figure | median | min | max | runs |"
	echo "|---|---|---:|---:|---:|---:|"
	for c in $CASES; do
		for m in total downtime mbps; do
			case $m in
			total) unit="total time, s" ;;
			downtime) unit="downtime, ms" ;;
			mbps) unit="MB/s" ;;
			esac
			read -r median min max n list <<<"$(stats "$c" "$m")"
			echo "| $(describe "$c") | $unit | $median | $min |" \
			    "$max | $n |"
		done
	done
	echo
	echo "Ratio of median MB/s: mtunneld / socat TLS hop" \
	    "$(ratio mtunneld socat) (target > 1), mtunneld / straight" \
	    "$(ratio mtunneld straight)."
}

# json_metric CASE METRIC: print median, min, max and values as JSON.
json_metric()
{
	local median min max n list

	read -r median min max n list <<<"$(stats "$1" "$2")"
	printf '{"median": %s, "min": %s, "max": %s, "values": [%s]}' \
	    "$median" "$min" "$max" "$list"
}

write_json()
{
	local c sep=""

	{
		printf '{\n  "mem_bytes": %s,\n  "disk_bytes": %s,\n' \
		    "$((MEM_MB * MIB))" "$((DISK_MB * MIB))"
		printf '  "runs": %s,\n' "$RUNS"
		printf '  "units": {"total": "s", "downtime": "ms", '
		printf '"mbps": "MB/s, 10^6 bytes per second"},\n'
		printf '  "machine": {"nproc": %s, "cpu": "%s", ' \
		    "$NPROC" "$CPU_MODEL"
		printf '"kernel": "%s"},\n' "$KERNEL"
		printf '  "cases": [\n'
		for c in $CASES; do
			printf '%s    {"name": "%s",\n' "$sep" "$c"
			printf '      "total": %s,\n' \
			    "$(json_metric "$c" total)"
			printf '      "downtime": %s,\n' \
			    "$(json_metric "$c" downtime)"
			printf '      "mbps": %s}' "$(json_metric "$c" mbps)"
			sep=$',\n'
		done
		printf '\n  ],\n  "ratio_mbps": {"mtunneld_socat": %s, ' \
		    "$(ratio mtunneld socat)"
		printf '"mtunneld_straight": %s}\n}\n' \
		    "$(ratio mtunneld straight)"
	} >"$JSON"
}

NPROC=$(nproc)
CPU_MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1 | tr -d '\\"')
KERNEL=$(uname -r)

for tool in "$MT_MIGRATE" "$MT_QMPCALL"; do
	[ -x "$tool" ] || mt_fail "$tool not found: run make"
done
command -v qemu-system-x86_64 >/dev/null ||
    mt_fail "qemu-system-x86_64 not found: run 'make deps'"
id "$QEMU_USER" >/dev/null 2>&1 ||
    mt_fail "user $QEMU_USER not found: run scripts/create-users"
mt_api_init
trap bench_exit EXIT
mt_storages
make_source_data
mt_token 'bench@pve!t1' Administrator
mt_api_start
KEY=${MT_CERT%/cert.pem}/key.pem
[ -r "$KEY" ] || mt_fail "daemon key $KEY not found"

RESULTS=""
for ((run = 1; run <= RUNS; run++)); do
	for c in $CASES; do
		echo "bench/migrate.sh: run $run, $c" >&2
		start_source
		case $c in
		mtunneld)
			run_mtunneld $((200 + run))
			;;
		straight)
			run_direct straight $((300 + run))
			;;
		socat)
			run_direct socat $((400 + run))
			;;
		esac
	done
done

print_table
[ -z "$JSON" ] || write_json
mt_alive "$MT_PID" || mt_fail "the daemon exited during the benchmark"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
