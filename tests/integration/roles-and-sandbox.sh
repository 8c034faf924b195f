#!/usr/bin/env bash
# Each role runs as its user, in its chroot and under its seccomp filter,
# with the default prefork of 2 and with prefork 3.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

api_uid=$(id -u _mtunneld) || mt_fail "user _mtunneld not found"
api_gid=$(id -g _mtunneld) || mt_fail "user _mtunneld has no group"

# check_proc PID TITLE UID GID ROOT SECCOMP NONEWPRIVS
check_proc()
{
	local pid=$1 title=$2 uid=$3 gid=$4 root=$5 seccomp=$6 nnp=$7

	mt_alive "$pid" || mt_fail "$title: pid $pid is not running"
	[ "$(mt_title "$pid")" = "$title" ] ||
	    mt_fail "pid $pid: title '$(mt_title "$pid")', expected '$title'"
	[ "$(mt_status "$pid" Uid)" = "$uid $uid $uid $uid" ] ||
	    mt_fail "${title}[$pid]: Uid '$(mt_status "$pid" Uid)'," \
	    "expected $uid"
	[ "$(mt_status "$pid" Gid)" = "$gid $gid $gid $gid" ] ||
	    mt_fail "${title}[$pid]: Gid '$(mt_status "$pid" Gid)'," \
	    "expected $gid"
	[ "$(readlink "/proc/$pid/root")" = "$root" ] ||
	    mt_fail "${title}[$pid]: root '$(readlink "/proc/$pid/root")'," \
	    "expected $root"
	[ "$(mt_status "$pid" Seccomp)" = "$seccomp" ] ||
	    mt_fail "${title}[$pid]: Seccomp '$(mt_status "$pid" Seccomp)'," \
	    "expected $seccomp"
	[ "$(mt_status "$pid" NoNewPrivs)" = "$nnp" ] ||
	    mt_fail "${title}[$pid]: NoNewPrivs" \
	    "'$(mt_status "$pid" NoNewPrivs)', expected $nnp"
}

# check_roles NAPI
check_roles()
{
	local napi=$1 empty pid n=0 expected children

	empty=$(realpath "$MT_PREFIX/var/lib/mtunneld/empty") ||
	    mt_fail "empty-dir missing under $MT_PREFIX"

	check_proc "$MT_PID" "mtunneld: parent" 0 0 / 0 0
	check_proc "$MT_PRIV" "mtunneld: priv" 0 0 / 2 1
	[ "$(mt_ppid "$MT_PRIV")" = "$MT_PID" ] ||
	    mt_fail "priv[$MT_PRIV] is not a child of the parent $MT_PID"

	# The spawner has no filter so that QEMU can run unrestricted.
	check_proc "$MT_SPAWNER" "mtunneld: spawner" 0 0 / 0 0
	[ "$(mt_ppid "$MT_SPAWNER")" = "$MT_PRIV" ] ||
	    mt_fail "spawner[$MT_SPAWNER] is not a child of priv[$MT_PRIV]"

	for pid in $MT_APIS; do
		check_proc "$pid" "mtunneld: api" "$api_uid" "$api_gid" \
		    "$empty" 2 1
		[ "$(mt_status "$pid" Groups)" = "$api_gid" ] ||
		    mt_fail "api[$pid]: Groups '$(mt_status "$pid" Groups)'," \
		    "expected only $api_gid"
		[ "$(mt_ppid "$pid")" = "$MT_PID" ] ||
		    mt_fail "api[$pid] is not a child of the parent $MT_PID"
		n=$((n + 1))
	done
	[ "$n" = "$napi" ] || mt_fail "$n api workers, expected $napi"

	# The parent has exactly these children: nothing else was forked.
	expected=$(echo "$MT_PRIV $MT_APIS" | tr ' ' '\n' | sort | xargs)
	children=$(mt_children "$MT_PID" | sort | xargs)
	[ "$children" = "$expected" ] ||
	    mt_fail "children of the parent: '$children', expected '$expected'"
}

mt_config
mt_start 2
check_roles 2
mt_stop || mt_fail "exit status $? after SIGTERM, expected 0"

mt_config "prefork 3"
mt_start 3
check_roles 3
mt_stop || mt_fail "exit status $? after SIGTERM, expected 0"
exit 0
