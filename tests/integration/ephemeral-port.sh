#!/usr/bin/env bash
# "port 0" binds a free port and logs it.  That port accepts a TCP
# connection on 127.0.0.1 while the daemon runs, and rejects one after.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

# Connect to 127.0.0.1:$1 and close again without sending anything.
tcp_connect()
{
	timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

mt_config
mt_start 2
case $MT_PORT in
''|*[!0-9]*)
	mt_fail "port '$MT_PORT' in the log is not a number"
	;;
esac
if [ "$MT_PORT" -lt 1 ] || [ "$MT_PORT" -gt 65535 ]; then
	mt_fail "port $MT_PORT in the log is outside 1 to 65535"
fi

tcp_connect "$MT_PORT" ||
    mt_fail "connect to 127.0.0.1 port $MT_PORT failed"
for pid in $(mt_pids); do
	mt_alive "$pid" || mt_fail "pid $pid gone after a connection"
done

mt_stop || mt_fail "exit status $? after SIGTERM, expected 0"
if tcp_connect "$MT_PORT"; then
	mt_fail "127.0.0.1 port $MT_PORT still accepts after the stop"
fi
exit 0
