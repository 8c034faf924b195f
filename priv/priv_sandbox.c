/*
 * The priv role's seccomp allow-list.  No execve: the spawner, forked
 * before this filter, runs the QEMU binaries.  socket() only for AF_UNIX,
 * for the migration sockets it creates.
 */

#include <sys/socket.h>

#include <seccomp.h>

#include "priv.h"
#include "sandbox.h"

static const struct sandbox_rule priv_rules[] = {
	SANDBOX_ALLOW(read, "channels and files"),
	SANDBOX_ALLOW(write, "channels and files"),
	SANDBOX_ALLOW(recvmsg, "channels, with passed descriptors"),
	SANDBOX_ALLOW(sendmsg, "channels, passing descriptors"),
	SANDBOX_ALLOW(poll, "event loop"),
	SANDBOX_ALLOW(close, "descriptors"),
	SANDBOX_ALLOW_ARG(socket, 0, AF_UNIX, "migration sockets, UNIX only"),
	SANDBOX_ALLOW(brk, "malloc"),
	SANDBOX_ALLOW(mmap, "malloc of large blocks"),
	SANDBOX_ALLOW(munmap, "free of large blocks"),
	SANDBOX_ALLOW(mremap, "realloc of large blocks"),
	SANDBOX_ALLOW(clock_gettime, "timeouts, when the vDSO falls back"),
	SANDBOX_ALLOW(wait4, "reap the spawner"),
	SANDBOX_ALLOW(rt_sigreturn, "return from a signal handler"),
	SANDBOX_ALLOW(exit_group, "exit"),
	SANDBOX_ALLOW(exit, "exit of the last thread"),
};

int
priv_sandbox(void)
{
	return sandbox_install("priv", priv_rules,
	    sizeof(priv_rules) / sizeof(priv_rules[0]));
}
