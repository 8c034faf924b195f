/*
 * The api role's seccomp allow-list, installed once the lws context and
 * its TLS state exist, after the chroot and the drop to the api user.
 * No execve, no socket or connect (every socket comes from the parent),
 * no open of any path: the certificate and key came over the channel,
 * OpenSSL read its config and the time zone was loaded before the
 * chroot.
 *
 * The list is what strace -f showed the role calling after that point
 * (lws 4.1.6, OpenSSL 3.0, glibc 2.36, Debian 12 x86_64).  The role
 * served HTTP requests (a CONNECT among them), websocket upgrades and
 * relays, frame errors, flow control and a shutdown.  Calls of paths
 * not seen there are marked "not seen".
 */

#include <fcntl.h>

#include <seccomp.h>

#include "api.h"
#include "sandbox.h"

static const struct sandbox_rule api_rules[] = {
	SANDBOX_ALLOW(read, "TLS records, UNIX sockets, the lws eventfd"),
	SANDBOX_ALLOW(write, "TLS records, UNIX sockets, the lws eventfd"),
	SANDBOX_ALLOW(writev, "queued websocket bytes to a UNIX socket"),
	SANDBOX_ALLOW(recvmsg, "channel, with passed descriptors"),
	SANDBOX_ALLOW(sendmsg, "channel: requests and log records"),
	SANDBOX_ALLOW(poll, "lws event loop, the upgrade's round trip"),
	SANDBOX_ALLOW(accept4, "connections on the shared listener"),
	SANDBOX_ALLOW(setsockopt, "TCP_NODELAY and keepalive on connections"),
	SANDBOX_ALLOW(getpeername, "lws names the peer of a CONNECT request "
	    "before it is rejected"),
	SANDBOX_ALLOW_ARG(fcntl, 1, F_SETFL, "lws makes adopted descriptors "
	    "non-blocking"),
	SANDBOX_ALLOW(shutdown, "write side of a UNIX socket, TLS close"),
	SANDBOX_ALLOW(close, "connections and passed descriptors"),
	SANDBOX_ALLOW(getpid, "OpenSSL checks for a fork before using its "
	    "random generator"),
	SANDBOX_ALLOW(getrandom, "not seen: OpenSSL reseeds its random "
	    "generator"),
	SANDBOX_ALLOW(brk, "malloc of small blocks"),
	SANDBOX_ALLOW(mmap, "malloc of large blocks, such as relay buffers"),
	SANDBOX_ALLOW(munmap, "free of large blocks"),
	SANDBOX_ALLOW(mremap, "not seen: realloc of large blocks"),
	SANDBOX_ALLOW(futex, "glibc and OpenSSL locks, at exit"),
	SANDBOX_ALLOW(clock_gettime, "not seen: timers, when the vDSO "
	    "falls back"),
	SANDBOX_ALLOW(restart_syscall, "a poll interrupted by SIGSTOP and "
	    "SIGCONT, or by a debugger attaching, resumes through it"),
	SANDBOX_ALLOW(exit_group, "exit() and _exit()"),
	SANDBOX_ALLOW(exit, "not seen: _exit() if exit_group returns"),
};

int
api_sandbox(void)
{
	return sandbox_install("api", api_rules,
	    sizeof(api_rules) / sizeof(api_rules[0]));
}
