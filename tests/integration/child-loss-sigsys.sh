#!/usr/bin/env bash
# SIGSYS to an api worker, as its seccomp filter would send: the parent
# names the signal and seccomp in the log and stops the daemon.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mt_config
mt_start 2
mt_kill_child 31 "${MT_APIS##* }" api
case $MT_LOSS_LINE in
*seccomp*)
	;;
*)
	mt_fail "the log line does not mention seccomp: $MT_LOSS_LINE"
	;;
esac
exit 0
