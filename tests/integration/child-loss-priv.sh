#!/usr/bin/env bash
# SIGKILL to priv: the parent logs the loss and stops the daemon, and the
# spawner, a child of priv, ends with it.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mt_config
mt_start 2
mt_kill_child 9 "$MT_PRIV" priv
mt_dead "$MT_SPAWNER" || mt_fail "spawner $MT_SPAWNER outlived priv"
exit 0
