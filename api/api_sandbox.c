/*
 * The api role's seccomp allow-list.  No execve, no socket or connect
 * (every socket comes from the parent), no open of any path: all files
 * it needs are loaded before the chroot or passed over the channel.
 */

#include <seccomp.h>

#include "api.h"
#include "sandbox.h"

static const struct sandbox_rule api_rules[] = {
	SANDBOX_ALLOW(read, "channel and connections"),
	SANDBOX_ALLOW(write, "log records before the channel, connections"),
	SANDBOX_ALLOW(recvmsg, "channel, with passed descriptors"),
	SANDBOX_ALLOW(sendmsg, "channel"),
	SANDBOX_ALLOW(poll, "event loop"),
	SANDBOX_ALLOW(close, "connections and passed descriptors"),
	SANDBOX_ALLOW(brk, "malloc"),
	SANDBOX_ALLOW(mmap, "malloc of large blocks"),
	SANDBOX_ALLOW(munmap, "free of large blocks"),
	SANDBOX_ALLOW(mremap, "realloc of large blocks"),
	SANDBOX_ALLOW(clock_gettime, "timeouts, when the vDSO falls back"),
	SANDBOX_ALLOW(rt_sigreturn, "return from a signal handler"),
	SANDBOX_ALLOW(exit_group, "exit"),
	SANDBOX_ALLOW(exit, "exit of the last thread"),
};

int
api_sandbox(void)
{
	return sandbox_install("api", api_rules,
	    sizeof(api_rules) / sizeof(api_rules[0]));
}
