#!/usr/bin/env bash
# A configured user that does not exist stops the start with a message
# that names the user and how to create it.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

user=_mtunneld-nosuch
if getent passwd "$user" >/dev/null; then
	mt_fail "user $user exists on this host; remove it with 'userdel $user'"
fi

mt_config "user $user"
out=$(timeout 10 "$MTUNNELD" -d -v -f "$MT_CONF" -p "$MT_PREFIX" 2>&1)
rc=$?
[ "$rc" != 0 ] || mt_fail "start with -d: exit status 0, output: $out"
[ "$rc" != 124 ] || mt_fail "start with -d: still running after 10 s"
case $out in
*"user '$user' not found"*)
	;;
*)
	mt_fail "output does not name user '$user' as not found: $out"
	;;
esac
case $out in
*"useradd"*"$user"*)
	;;
*)
	mt_fail "output does not say how to create $user: $out"
	;;
esac
[ ! -e "$(mt_pidfile)" ] || mt_fail "pid file $(mt_pidfile) left behind"

# Without -d the message goes to syslog, so only the failure is checked.
timeout 10 "$MTUNNELD" -v -f "$MT_CONF" -p "$MT_PREFIX" >/dev/null 2>&1
rc=$?
[ "$rc" != 0 ] || mt_fail "start without -d: exit status 0"
[ "$rc" != 124 ] || mt_fail "start without -d: still running after 10 s"
[ ! -e "$(mt_pidfile)" ] || mt_fail "pid file $(mt_pidfile) left behind"
exit 0
