# Helpers for the priv-*.sh tests, which drive one "mtunneld -X priv"
# through tests/tools/privdrive (it plays the parent on priv's channel)
# on a temporary tree: config, state and run directories and dir
# storages under MT_DIR.  The other priv tests source this file.  Run on
# its own, as tests/run-integration does, it checks that priv starts
# with its seccomp filter, replies to requests, and exits 0 when its
# channel closes.
#
# Globals after pt_tree and pd_start:
#   P         the tree: $P/conf, $P/state, $P/run, storages below $P
#   PD_PRIV   pid of priv
#   PD_LINE   privdrive's last output line: "ok [JSON]", "error ERRNO MSG",
#             "fd N" or "timeout"

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PRIVDRIVE=${PRIVDRIVE:-$MT_TESTS/../tools/privdrive}
QEMU_IMG=${QEMU_IMG:-$(command -v qemu-img)}
QEMU_USER=_mtunneld-qemu
PD_TIMEOUT=30		# seconds for one answer of privdrive
PD_LOG=$MT_DIR/mtunneld.priv.log

[ -x "$PRIVDRIVE" ] ||
    mt_fail "$PRIVDRIVE is missing: run make tests/tools/privdrive"
[ -n "$QEMU_IMG" ] ||
    mt_fail "qemu-img is missing: apt-get install qemu-utils"
getent passwd "$QEMU_USER" >/dev/null ||
    mt_fail "user $QEMU_USER is missing: run scripts/create-users"

# pt_tree [STORAGE.CFG LINES]: make the tree; storage "tank" is a dir
# storage for images, "iso" one without images, plus the given sections.
pt_tree()
{
	P=$MT_DIR/p
	mkdir -p "$P/conf" "$P/state" "$P/run" || mt_fail "mkdir $P"
	# qemu-img info runs as the QEMU user and must reach the images.
	chmod 755 "$MT_DIR" "$P" "$P/conf" "$P/state" "$P/run"
	{
		printf 'dir: tank\n\tpath %s/tank\n\tcontent images\n\n' "$P"
		printf 'dir: iso\n\tpath %s/iso\n\tcontent iso\n\n' "$P"
		printf '%s\n' "$@"
	} > "$P/conf/storage.cfg"
}

# pd_start [STATEDIR]: start priv under privdrive as a coprocess.
pd_start()
{
	local state=${1:-$P/state}

	coproc PD { exec "$PRIVDRIVE" "$MTUNNELD" "$P/conf" "$state" \
	    "$P/run" /bin/true "$QEMU_IMG" "$QEMU_USER" 2>>"$PD_LOG"; }
	read -t "$PD_TIMEOUT" -r PD_LINE <&"${PD[0]}" ||
	    mt_fail "privdrive did not start priv"
	case $PD_LINE in
	"ready "*)	PD_PRIV=${PD_LINE#ready } ;;
	*)		mt_fail "privdrive: $PD_LINE" ;;
	esac
	mt_track "$PD_PRIV"
}

# pd COMMAND...: run one privdrive command and store its output line in
# PD_LINE.
pd()
{
	echo "$*" >&"${PD[1]}" || mt_fail "privdrive is gone before '$*'"
	read -t "$PD_TIMEOUT" -r PD_LINE <&"${PD[0]}" ||
	    mt_fail "no answer to '$*' within $PD_TIMEOUT s"
}

pd_ok()
{
	pd "$@"
	case $PD_LINE in
	ok*|fd*)	;;
	*)		mt_fail "'$*' failed: $PD_LINE" ;;
	esac
}

# pd_error TEXT COMMAND...: the command must fail with TEXT in the message.
pd_error()
{
	local want=$1

	shift
	pd "$@"
	case $PD_LINE in
	"error "*"$want"*)	;;
	*)	mt_fail "'$*': expected an error with '$want', got: $PD_LINE" ;;
	esac
}

# pd_expect TEXT: the last output line must contain TEXT.
pd_expect()
{
	case $PD_LINE in
	*"$1"*)	;;
	*)	mt_fail "expected '$1' in: $PD_LINE" ;;
	esac
}

# pd_stop: close priv's channel and check that priv exits 0.
pd_stop()
{
	local pid=$PD_PID

	exec {PD[1]}>&-
	wait "$pid" 2>/dev/null
	mt_wait_gone "$PD_PRIV" || mt_fail "priv $PD_PRIV still runs"
	[ "$(tail -n 1 "$PD_LOG")" = "priv exit status 0" ] ||
	    mt_fail "priv did not exit with status 0"
}

# le64 N: the 8-byte little-endian header of an N-byte stream.
le64()
{
	local h

	h=$(printf '%016x' "$1")
	printf "\\x${h:14:2}\\x${h:12:2}\\x${h:10:2}\\x${h:8:2}"
	printf "\\x${h:6:2}\\x${h:4:2}\\x${h:2:2}\\x${h:0:2}"
}

# journal_has VMID TEXT: a record of the journal of VMID contains TEXT.
journal_has()
{
	grep -q -- "$2" "$P/state/journal/$1" 2>/dev/null
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	pt_tree
	pd_start
	[ "$(mt_status "$PD_PRIV" Seccomp)" = 2 ] ||
	    mt_fail "priv runs without its seccomp filter"
	[ "$(mt_status "$PD_PRIV" Uid)" = "0 0 0 0" ] ||
	    mt_fail "priv does not run as root"
	pd_error "no disk import running" query 100
	pd_ok stamp 101
	pd_error "invalid vmid" query 100
	pd_stop
	echo "priv-lib: priv starts filtered, answers and exits 0"
fi
