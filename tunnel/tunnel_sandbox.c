/*
 * The tunnel role's seccomp allow-list.  No execve, no socket or connect
 * (every socket comes from the parent), no open of any path: all files
 * it needs are loaded before the chroot or passed over the channel.
 * docs/seccomp-measurements.md lists the calls the role was seen making.
 * accept4 takes the one control connection from the listener priv made.
 */

#include <linux/futex.h>

#include <seccomp.h>

#include "tunnel.h"
#include "sandbox.h"

static const struct sandbox_rule tunnel_rules[] = {
	SANDBOX_ALLOW(read, "the control connection"),
	SANDBOX_ALLOW(write, "the control connection"),
	SANDBOX_ALLOW(sendto, "replies on the control connection (send)"),
	SANDBOX_ALLOW(accept4, "the one control connection"),
	SANDBOX_ALLOW(recvmsg, "channel, with passed descriptors"),
	SANDBOX_ALLOW(sendmsg, "channel and log records"),
	SANDBOX_ALLOW(poll, "event loop and blocking flushes"),
	SANDBOX_ALLOW(close, "the control connection and passed descriptors"),
	SANDBOX_ALLOW(brk, "malloc of small blocks"),
	SANDBOX_ALLOW(mmap, "malloc of large blocks, such as a message buffer"),
	SANDBOX_ALLOW(munmap, "free of large blocks"),
	SANDBOX_ALLOW(mremap, "realloc of large blocks"),
	SANDBOX_ALLOW(clock_gettime, "timeouts, when the vDSO falls back"),
	SANDBOX_ALLOW_ARG(futex, 1, FUTEX_WAKE_PRIVATE,
	    "OpenSSL's clean-up inside exit(), after the SHA-1 preload"),
	SANDBOX_ALLOW(exit_group, "exit() and _exit()"),
	SANDBOX_ALLOW(exit, "_exit() if exit_group returns"),
};

int
tunnel_sandbox(void)
{
	return sandbox_install("tunnel", tunnel_rules,
	    sizeof(tunnel_rules) / sizeof(tunnel_rules[0]));
}
