#!/usr/bin/env bash
# -n checks the config and exits: 0 and "configuration OK" on a good one,
# non-zero with the file name and line number on a bad one.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

# check_bad NAME LINE PATTERN CONFIG-LINE...: -n rejects the config, and
# its message names the file and LINE and matches PATTERN.
check_bad()
{
	local name=$1 line=$2 pattern=$3 file out rc

	shift 3
	file=$MT_DIR/$name.conf
	printf '%s\n' "$@" >"$file"
	out=$(timeout 10 "$MTUNNELD" -n -f "$file" -p "$MT_PREFIX" 2>&1)
	rc=$?
	[ "$rc" != 0 ] || mt_fail "$name: -n exit status 0, output: $out"
	[ "$rc" != 124 ] || mt_fail "$name: -n timed out"
	case $out in
	*"$file:$line: "*)
		;;
	*)
		mt_fail "$name: output lacks '$file:$line: ': $out"
		;;
	esac
	echo "$out" | grep -q -- "$pattern" ||
	    mt_fail "$name: output does not match '$pattern': $out"
	case $out in
	*"configuration OK"*)
		mt_fail "$name: output has 'configuration OK': $out"
		;;
	esac
}

check_bad unknown-keyword 3 "unknown keyword 'frobnicate'" \
    "listen 127.0.0.1" "port 0" "frobnicate yes"
check_bad port-too-large 2 "invalid port '70000'" \
    "listen 127.0.0.1" "port 70000"
check_bad port-negative 2 "invalid port '-1'" \
    "listen 127.0.0.1" "port -1"
check_bad port-not-number 4 "invalid port 'https'" \
    "# comment" "" "listen 127.0.0.1" "port https"
check_bad relative-state-dir 3 "invalid state-dir 'var/lib/mtunneld'" \
    "listen 127.0.0.1" "port 0" "state-dir var/lib/mtunneld"
check_bad relative-tls-cert 2 "expected an absolute path" \
    "port 0" "tls-cert cert.pem"

mt_config "prefork 3" "state-dir $MT_DIR/state"
out=$(timeout 10 "$MTUNNELD" -n -f "$MT_CONF" -p "$MT_PREFIX" 2>&1)
rc=$?
[ "$rc" = 0 ] || mt_fail "good config: -n exit status $rc, output: $out"
[ "$out" = "configuration OK" ] ||
    mt_fail "good config: output '$out', expected 'configuration OK'"

# A check only reads: it creates no directory.
[ ! -e "$MT_PREFIX" ] || mt_fail "-n created $MT_PREFIX"
[ ! -e "$MT_DIR/state" ] || mt_fail "-n created $MT_DIR/state"
exit 0
