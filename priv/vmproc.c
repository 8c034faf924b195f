/*
 * The QEMU process of a VM, found through the files QEMU keeps in the
 * VM's root-only directory <rundir>/<vmid>/: "pid" (written by QEMU as
 * root before it drops privileges), "qmp", "qga", "vnc" and "serialN".
 * Used by cleanup to stop an incoming VM, and by the runtime to tell
 * whether a VM runs.  A pid is trusted only while /proc shows that process
 * with this VM's directory on its command line, so a pid reused
 * by another process is never signalled.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditlog.h"
#include "log.h"
#include "netdev.h"
#include "priv.h"
#include "qemuargs.h"
#include "vmconfig.h"

#define VMPROC_CMDLINE_MAX	(64 * 1024)
#define VMPROC_KILL_WAIT_MS	5000
#define VMPROC_POLL_MS		20
#define VMPROC_NICS_MAX		32	/* net0 to net31 */

/* The local QEMU's version and machine types, from qemu_probe(). */
struct qemu_host	 qemu_host_caps;
int			 qemu_host_probed;	/* 2: version and machines */

static const char *const qemu_files[] = {
	"pid", "qemu.pid", "qmp", "qga", "vnc", "serial0", "serial1",
	"serial2", "serial3",
};

/* Read the decimal pid in <vmdir>/<name>.  Returns it, or 0. */
static pid_t
vmproc_pidfile(int dfd, const char *name)
{
	char		 buf[32];
	ssize_t		 n;
	long		 v;
	char		*end;
	int		 fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') ||
	    v <= 1 || v > INT_MAX)
		return 0;
	return (pid_t)v;
}

/* The real uid of pid from /proc/PID/status, or -1. */
static long
vmproc_uid(pid_t pid)
{
	char	 path[64], buf[2048], *line;
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((line = strstr(buf, "\nUid:\t")) == NULL)
		return -1;
	return strtol(line + 6, NULL, 10);
}

/*
 * Whether pid is the QEMU of vmdir: it runs as the QEMU user (-runas has
 * dropped root by the time the pid file is written) and its arguments
 * hold "-pidfile" followed by exactly <vmdir>pid.  QEMU keeps its pid
 * file open, so a compromised QEMU can write any pid there, and a
 * substring match would let it point priv at a root process whose
 * command line names the directory.
 */
static int
vmproc_is_ours(pid_t pid, const char *vmdir)
{
	char		 path[64], want[PATH_MAX_PRIV + 4], *buf, *arg, *end;
	ssize_t		 n;
	int		 fd, found = 0;

	if (vmproc_uid(pid) != (long)priv_config()->uid)
		return 0;
	snprintf(want, sizeof(want), "%spid", vmdir);
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	if ((buf = malloc(VMPROC_CMDLINE_MAX + 1)) == NULL) {
		close(fd);
		return 0;
	}
	n = read(fd, buf, VMPROC_CMDLINE_MAX);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		end = buf + n;
		for (arg = buf; !found && arg < end; arg += strlen(arg) + 1)
			found = strcmp(arg, "-pidfile") == 0 &&
			    arg + strlen(arg) + 1 < end &&
			    strcmp(arg + strlen(arg) + 1, want) == 0;
	}
	free(buf);
	return found;
}

static void
vmproc_dir(uint32_t vmid, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%u/", priv_config()->rundir, vmid);
}

/*
 * Whether the QEMU of vmid runs.  Returns 1 with *pidp set, 0 if not.
 */
int
qemu_running(uint32_t vmid, pid_t *pidp)
{
	char	 vmdir[PATH_MAX_PRIV], msg[PRIV_MSG_MAX];
	pid_t	 pid;
	int	 dfd;

	if ((dfd = sock_open_dir(priv_config()->rundir, vmid, 0, msg,
	    sizeof(msg))) == -1)
		return 0;
	/*
	 * QEMU keeps its own pid file open and can rewrite it, so priv's
	 * copy from start wins; QEMU's file serves VMs started otherwise.
	 */
	if ((pid = vmproc_pidfile(dfd, "qemu.pid")) == 0)
		pid = vmproc_pidfile(dfd, "pid");
	close(dfd);
	vmproc_dir(vmid, vmdir, sizeof(vmdir));
	if (pid == 0 || kill(pid, 0) == -1 || !vmproc_is_ours(pid, vmdir))
		return 0;
	if (pidp != NULL)
		*pidp = pid;
	return 1;
}

/*
 * Copy the pid of a QEMU that start has just run into <vmdir>/qemu.pid,
 * a file QEMU has no descriptor for.  Returns 0, or -1 when QEMU wrote
 * no pid file that names a QEMU of vmid.
 */
int
qemu_record_pid(uint32_t vmid)
{
	char	 vmdir[PATH_MAX_PRIV], msg[PRIV_MSG_MAX], text[32];
	pid_t	 pid;
	int	 dfd, fd, len, rv = -1;

	if ((dfd = sock_open_dir(priv_config()->rundir, vmid, 0, msg,
	    sizeof(msg))) == -1)
		return -1;
	vmproc_dir(vmid, vmdir, sizeof(vmdir));
	pid = vmproc_pidfile(dfd, "pid");
	if (pid != 0 && vmproc_is_ours(pid, vmdir) &&
	    (unlinkat(dfd, "qemu.pid", 0) == 0 || errno == ENOENT) &&
	    (fd = openat(dfd, "qemu.pid", O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) != -1) {
		len = snprintf(text, sizeof(text), "%ld\n", (long)pid);
		if (write(fd, text, len) == len)
			rv = 0;
		close(fd);
	}
	close(dfd);
	return rv;
}

/*
 * Kill the QEMU of vmid and wait until it is gone, at most
 * VMPROC_KILL_WAIT_MS.  Returns 0 when no QEMU of vmid runs any more.
 */
int
qemu_kill(uint32_t vmid)
{
	pid_t	 pid;
	int	 waited;

	if (!qemu_running(vmid, &pid))
		return 0;
	log_info("vmid %u: killing QEMU, pid %ld", vmid, (long)pid);
	if (kill(pid, SIGKILL) == -1 && errno != ESRCH) {
		log_warn("vmid %u: kill %ld", vmid, (long)pid);
		return -1;
	}
	for (waited = 0; waited < VMPROC_KILL_WAIT_MS;
	    waited += VMPROC_POLL_MS) {
		if (kill(pid, 0) == -1 && errno == ESRCH) {
			audit_emit("qemu-stop", vmid, json_pack("{s:s, s:I}",
			    "how", "killed", "pid", (json_int_t)pid));
			return 0;
		}
		poll(NULL, 0, VMPROC_POLL_MS);
	}
	log_warnx("vmid %u: QEMU pid %ld still there %d ms after SIGKILL",
	    vmid, (long)pid, VMPROC_KILL_WAIT_MS);
	return -1;
}

/* Remove QEMU's files of vmid, unless that QEMU still runs. */
void
qemu_remove_files(uint32_t vmid)
{
	struct stat	 st;
	char		 msg[PRIV_MSG_MAX];
	size_t		 i;
	int		 dfd;

	if (qemu_running(vmid, NULL))
		return;
	qemu_remove_taps(vmid);
	if ((dfd = sock_open_dir(priv_config()->rundir, vmid, 0, msg,
	    sizeof(msg))) == -1)
		return;
	for (i = 0; i < sizeof(qemu_files) / sizeof(qemu_files[0]); i++) {
		if (fstatat(dfd, qemu_files[i], &st, AT_SYMLINK_NOFOLLOW) ==
		    -1)
			continue;
		if (!S_ISSOCK(st.st_mode) && !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dfd, qemu_files[i], 0) == -1)
			log_warn("vmid %u: unlink %s", vmid, qemu_files[i]);
	}
	close(dfd);
}

/* Remove the tap devices of vmid's NICs; QEMU must be gone. */
void
qemu_remove_taps(uint32_t vmid)
{
	char		 tap[16], err[NETDEV_ERR_MAX];
	unsigned	 i;

	for (i = 0; i < VMPROC_NICS_MAX; i++) {
		if (netdev_tap_name(vmid, i, tap, sizeof(tap)) == -1)
			continue;
		switch (netdev_tap_remove(tap, err, sizeof(err))) {
		case -1:
			log_warnx("vmid %u: %s", vmid, err);
			break;
		case 0:
			log_info("vmid %u: removed tap %s", vmid, tap);
			break;
		default:
			break;
		}
	}
}

/*
 * Check a config's pinned machine type against the local QEMU, for the
 * config command.  Until the probe of QEMU has finished, this accepts
 * everything, and start checks again.  Returns 0, or -1 with a message.
 */
int
qemu_check_config(uint32_t vmid, const char *text, size_t len, char *msg,
    size_t msglen)
{
	struct vmconfig	 cfg;
	const char	*machine;
	char		 err[QEMUARGS_ERR_MAX];
	int		 rv = 0;

	if (qemu_host_probed < 2)
		return 0;
	if (vmconfig_parse(&cfg, text, len, 0, vmid, err, sizeof(err)) ==
	    -1) {
		snprintf(msg, msglen, "%.*s\n", (int)msglen - 2, err);
		return -1;
	}
	if ((machine = vmconfig_get(&cfg, "machine")) != NULL &&
	    qemu_machine_check(machine, &qemu_host_caps, err,
	    sizeof(err)) == -1) {
		snprintf(msg, msglen, "%.*s\n", (int)msglen - 2, err);
		rv = -1;
	}
	vmconfig_free(&cfg);
	return rv;
}
