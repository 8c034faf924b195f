/*
 * The priv role's seccomp allow-list.  No execve: the spawner, forked
 * before this filter, runs the QEMU binaries.  socket() only for AF_UNIX,
 * for the migration sockets it creates.  The children priv forks for an
 * import stream inherit this filter, so their calls are on the list too:
 * set_robust_list (glibc in a new child), prctl(PR_SET_PDEATHSIG),
 * getppid, poll, accept4, read, ftruncate, pwrite64, fsync, write, close.
 * docs/seccomp-measurements.md lists the calls the role was seen making.
 * Files are opened only below the config, state, run and storage
 * directories, relative to a directory descriptor where the name comes
 * from a request.
 */

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/ioctl.h>

#include <linux/if_tun.h>
#include <linux/sockios.h>

#include <linux/futex.h>
#include <seccomp.h>

#include "priv.h"
#include "sandbox.h"

static const struct sandbox_rule priv_rules[] = {
	SANDBOX_ALLOW(read, "config files, journals, report pipes, streams"),
	SANDBOX_ALLOW(write, "config files, journals, report pipes"),
	SANDBOX_ALLOW(pwrite64, "import child: image data at its offset"),
	SANDBOX_ALLOW(ftruncate, "volume size: sparse raw, import header"),
	SANDBOX_ALLOW(openat, "config, journal, lock, storage and run files"),
	SANDBOX_ALLOW(newfstatat, "owner and mode checks, fstat, stat"),
	SANDBOX_ALLOW(fstat, "owner and mode checks"),
	SANDBOX_ALLOW(getdents64, "free disk names, journals left at start"),
	SANDBOX_ALLOW(lseek, "rewinddir of a directory listing"),
	SANDBOX_ALLOW(dup, "fdopendir on a copy of a directory descriptor"),
	SANDBOX_ALLOW(fcntl, "O_NONBLOCK on pipes, fdopendir's checks"),
	SANDBOX_ALLOW(mkdir, "config and storage directories"),
	SANDBOX_ALLOW(mkdirat, "socket, journal and image directories"),
	SANDBOX_ALLOW(unlinkat, "stale sockets, configs, volumes, journals"),
	SANDBOX_ALLOW(renameat, "atomic replacement of config files"),
	SANDBOX_ALLOW(fchown, "image group for qemu-img info as QEMU user"),
	SANDBOX_ALLOW(fchmod, "start: QEMU user writes the VM's volumes"),
	SANDBOX_ALLOW_ARG(ioctl, 1, TUNSETIFF, "start: tap devices"),
	SANDBOX_ALLOW_ARG(ioctl, 1, TUNSETOWNER, "start: tap owner"),
	SANDBOX_ALLOW_ARG(ioctl, 1, TUNSETPERSIST, "tap create and remove"),
	SANDBOX_ALLOW_ARG(ioctl, 1, SIOCGIFINDEX, "if_nametoindex"),
	SANDBOX_ALLOW_ARG(ioctl, 1, SIOCGIFMTU, "start: the bridge MTU"),
	SANDBOX_ALLOW_ARG(ioctl, 1, SIOCSIFMTU, "start: the tap MTU"),
	SANDBOX_ALLOW_ARG(ioctl, 1, SIOCBRADDIF, "start: tap into bridge"),
	SANDBOX_ALLOW_ARG(ioctl, 1, SIOCGIFFLAGS, "start: tap link state"),
	SANDBOX_ALLOW_ARG(ioctl, 1, SIOCSIFFLAGS, "start: tap link up"),
	SANDBOX_ALLOW(fsync, "config files, journals, volumes, directories"),
	SANDBOX_ALLOW(flock, "per-VMID config lock"),
	SANDBOX_ALLOW(fchdir, "bind relative to the socket directory"),
	SANDBOX_ALLOW(bind, "migration sockets"),
	SANDBOX_ALLOW(listen, "migration sockets"),
	SANDBOX_ALLOW(accept4, "import child: the one stream connection"),
	SANDBOX_ALLOW(pipe2, "import reports, qemu-img output"),
	SANDBOX_ALLOW(clone, "fork of an import child"),
	SANDBOX_ALLOW(set_robust_list, "glibc, in a new import child"),
	SANDBOX_ALLOW_ARG(prctl, 0, PR_SET_PDEATHSIG,
	    "import child: die with priv"),
	SANDBOX_ALLOW(getppid, "import child: was priv gone before prctl"),
	SANDBOX_ALLOW(wait4, "reap an import child"),
	SANDBOX_ALLOW(kill, "stop an import child on cleanup"),
	SANDBOX_ALLOW(recvmsg, "channels, with passed descriptors"),
	SANDBOX_ALLOW(sendmsg, "channels, passing descriptors"),
	SANDBOX_ALLOW(poll, "event loop, blocking flushes, stream waits"),
	SANDBOX_ALLOW(close, "descriptors"),
	SANDBOX_ALLOW_ARG(socket, 0, AF_UNIX, "migration sockets, UNIX only"),
	SANDBOX_ALLOW(connect, "QEMU workers: QMP and guest agent sockets"),
	SANDBOX_ALLOW(recvfrom, "QEMU workers: recv() of QMP replies"),
	SANDBOX_ALLOW(brk, "malloc of small blocks"),
	SANDBOX_ALLOW(mmap, "malloc of large blocks, such as a message buffer"),
	SANDBOX_ALLOW(munmap, "free of large blocks"),
	SANDBOX_ALLOW(mremap, "realloc of large blocks"),
	SANDBOX_ALLOW_ARG(futex, 1, FUTEX_WAKE_PRIVATE,
	    "OpenSSL's clean-up in exit()"),
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
