#!/usr/bin/env bash
# SIGKILL to an api worker: the parent logs the loss and stops the daemon.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mt_config
mt_start 2
mt_kill_child 9 "${MT_APIS%% *}" api
exit 0
