/*
 * The priv role's seccomp allow-list.  No execve: the spawner, forked
 * before this filter, runs the QEMU binaries.  socket() only for AF_UNIX,
 * for the migration sockets it creates.  No wait4: priv never reaps the
 * spawner, and ends when the spawner's channel closes.
 * docs/seccomp-measurements.md lists the calls the role was seen making.
 * Files are opened only below the config and run directories, relative to
 * a directory descriptor where the name comes from a request.
 */

#include <sys/socket.h>

#include <seccomp.h>

#include "priv.h"
#include "sandbox.h"

static const struct sandbox_rule priv_rules[] = {
	SANDBOX_ALLOW(read, "config files"),
	SANDBOX_ALLOW(write, "config files"),
	SANDBOX_ALLOW(openat, "config, lock and run directory files"),
	SANDBOX_ALLOW(newfstatat, "owner and mode checks, fstat"),
	SANDBOX_ALLOW(fstat, "owner and mode checks"),
	SANDBOX_ALLOW(mkdir, "the qemu-server directory"),
	SANDBOX_ALLOW(mkdirat, "per-VMID socket directories"),
	SANDBOX_ALLOW(unlinkat, "stale sockets, placeholder configs"),
	SANDBOX_ALLOW(fsync, "config files and their directory"),
	SANDBOX_ALLOW(flock, "per-VMID config lock"),
	SANDBOX_ALLOW(clock_nanosleep, "retry of a busy config lock"),
	SANDBOX_ALLOW(nanosleep, "retry of a busy config lock"),
	SANDBOX_ALLOW(fchdir, "bind relative to the socket directory"),
	SANDBOX_ALLOW(bind, "migration sockets"),
	SANDBOX_ALLOW(listen, "migration sockets"),
	SANDBOX_ALLOW(recvmsg, "channels, with passed descriptors"),
	SANDBOX_ALLOW(sendmsg, "channels, passing descriptors"),
	SANDBOX_ALLOW(poll, "event loop and blocking flushes"),
	SANDBOX_ALLOW(close, "descriptors"),
	SANDBOX_ALLOW_ARG(socket, 0, AF_UNIX, "migration sockets, UNIX only"),
	SANDBOX_ALLOW(brk, "malloc of small blocks"),
	SANDBOX_ALLOW(mmap, "malloc of large blocks, such as a message buffer"),
	SANDBOX_ALLOW(munmap, "free of large blocks"),
	SANDBOX_ALLOW(mremap, "realloc of large blocks"),
	SANDBOX_ALLOW(clock_gettime, "timeouts, when the vDSO falls back"),
	SANDBOX_ALLOW(exit_group, "exit() and _exit()"),
	SANDBOX_ALLOW(exit, "_exit() if exit_group returns"),
};

int
priv_sandbox(void)
{
	return sandbox_install("priv", priv_rules,
	    sizeof(priv_rules) / sizeof(priv_rules[0]));
}
