/*
 * The QEMU runtime: start a VM for an incoming migration and drive it.
 *
 * start: priv reads the VM's config, checks that every drive to export
 * over NBD uses the volume this migration allocated for it, builds the
 * argument vector (common/qemuargs.c) and has the spawner run QEMU with
 * -incoming unix:<rundir>/<vmid>/<vmid>.migrate, -S, -daemonize and
 * -runas the QEMU user.  QEMU's first process exits once the VM is set
 * up; its output until then is kept for the error message.  Then priv
 * binds the NBD listener itself and a worker hands it over.
 *
 * Workers: every QMP conversation blocks, so it runs in a short-lived
 * child of priv (it inherits priv's seccomp filter), which reports one
 * struct vmop_report through a pipe, so priv's event loop never waits for
 * QMP.  It waits only after a SIGKILL, up to 5 s, for QEMU to exit.  One
 * operation runs per VMID at a time, as the tunnel sends one request at a
 * time anyway.
 *
 * QEMU outlives mtunneld: its first process is in a session of its own
 * (the spawner's setsid) and the daemon is reparented to init.  At start,
 * priv logs every VM it finds running in the run directory.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <bsd/string.h>
#include <jansson.h>

#include "auditlog.h"
#include "log.h"
#include "netdev.h"
#include "priv.h"
#include "qemuargs.h"
#include "qmp.h"
#include "storagecfg.h"
#include "vmconfig.h"

#define QMP_OPEN_MS		10000
#define QMP_COMMAND_MS		10000
#define NBD_STOP_MS		25000	/* as upstream since 2023-09 */
#define QUIT_WAIT_MS		10000	/* QMP quit, then SIGKILL */
#define FSTRIM_MS		(600 * 1000)
#define AGENT_CONNECT_MS	10000	/* the guest agent accepts */
#define RESUME_WAIT_MS		25000	/* the stream ends; source waits 30 */
#define NBD_FDNAME		"nbd-listener"

enum vmop_kind {
	VMOP_START,
	VMOP_RESUME,
	VMOP_STOP,
	VMOP_NBDSTOP,
	VMOP_FSTRIM,
};

struct vmop_report {
	int32_t		 error;		/* 0 or an errno */
	char		 msg[PRIV_MSG_MAX];
};

struct vmop {
	TAILQ_ENTRY(vmop)	 entry;
	uint32_t		 vmid;
	enum vmop_kind		 kind;
	struct priv_req		 req;
	pid_t			 pid;		/* the worker */
	int			 reportfd;
	struct vmop_report	 report;
	size_t			 reportlen;
	int			 nbdfd;		/* start: NBD listener */
	int			 agent;		/* fstrim: agent enabled */
	struct tunnel_vm_start	 start;
};

static TAILQ_HEAD(, vmop)	 vmops = TAILQ_HEAD_INITIALIZER(vmops);

static void	vmop_free(struct vmop *);
static void	msgf(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	vmop_worker_start(struct vmop *);

/* snprintf for messages, where a cut tail is acceptable. */
static void
msgf(char *buf, size_t len, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static const char *
vmop_name(enum vmop_kind kind)
{
	static const char *const names[] = {
		"start", "resume", "stop", "nbdstop", "fstrim"
	};

	return names[kind];
}

static struct vmop *
vmop_find(uint32_t vmid)
{
	struct vmop	*op;

	TAILQ_FOREACH(op, &vmops, entry)
		if (op->vmid == vmid)
			return op;
	return NULL;
}

static void
vmop_dir(uint32_t vmid, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%u", priv_config()->rundir, vmid);
}

/*
 * Host capabilities
 */

/* Probe /dev/kvm with KVM_GET_API_VERSION, before the filter. */
void
qemu_init(void)
{
	int	 fd;

	qemu_host_caps.kvm = 0;
	if ((fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) != -1) {
		qemu_host_caps.kvm = ioctl(fd, KVM_GET_API_VERSION, 0) ==
		    KVM_API_VERSION;
		close(fd);
	}
	qemu_host_caps.vhost_net = access("/dev/vhost-net", R_OK | W_OK) == 0;
	qemu_host_caps.firmware_dir = "/usr/share/OVMF";
}

static void
probe_done(void *arg, int error, int status, const char *out, size_t len)
{
	const char	*what = arg;
	int		 rv;

	if (error != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warnx("QEMU %s: %s", what, error ? strerror(error) :
		    "exited with an error");
		return;
	}
	if (strcmp(what, "version") == 0)
		rv = qemu_host_parse_version(&qemu_host_caps, out, len);
	else
		rv = qemu_host_parse_machines(&qemu_host_caps, out, len);
	if (rv == -1) {
		log_warnx("QEMU %s: cannot parse the output of %s", what,
		    priv_config()->qemu);
		return;
	}
	if (++qemu_host_probed == 2)
		log_info("QEMU %d.%d, %zu machine types, KVM %s",
		    qemu_host_caps.major, qemu_host_caps.minor,
		    qemu_host_caps.nmachines, qemu_host_caps.kvm ? "usable" :
		    "not usable");
}

/* Ask the QEMU binary its version and machine types, once. */
void
qemu_probe(void)
{
	static const char *const version[] = { NULL, "-version", NULL };
	static const char *const machines[] = {
		NULL, "-machine", "help", NULL
	};
	const char		*argv[4];
	struct spawn_exec	 exec;

	memset(&exec, 0, sizeof(exec));
	exec.uid = priv_config()->uid;
	exec.gid = priv_config()->gid;
	exec.flags = SPAWN_STDOUT_FD;
	exec.timeout = 30;
	memcpy(argv, version, sizeof(version));
	argv[0] = priv_config()->qemu;
	if (priv_spawn(0, &exec, argv, probe_done, "version") == -1)
		log_warnx("cannot ask QEMU for its version");
	memcpy(argv, machines, sizeof(machines));
	argv[0] = priv_config()->qemu;
	if (priv_spawn(0, &exec, argv, probe_done, "machines") == -1)
		log_warnx("cannot ask QEMU for its machine types");
}

/* Log the VMs that run from an earlier start of mtunneld. */
void
qemu_report_running(void)
{
	struct dirent	*de;
	DIR		*dir;
	pid_t		 pid;
	char		*end;
	unsigned long	 v;

	if ((dir = opendir(priv_config()->rundir)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		v = strtoul(de->d_name, &end, 10);
		if (*end != '\0' || v < VMID_MIN || v > VMID_MAX)
			continue;
		if (qemu_running((uint32_t)v, &pid))
			log_info("vmid %lu: QEMU runs, pid %ld, found at start",
			    v, (long)pid);
	}
	closedir(dir);
}

/*
 * Workers
 */

static void
report_write(int fd, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report_write(int fd, int error, const char *fmt, ...)
{
	struct vmop_report	 r;
	va_list			 ap;

	memset(&r, 0, sizeof(r));
	r.error = error;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(r.msg, sizeof(r.msg), fmt, ap);
		va_end(ap);
	}
	if (write(fd, &r, sizeof(r)) != sizeof(r))
		_exit(1);
}

static struct qmp *
worker_qmp(struct vmop *op, char *err, size_t errlen)
{
	char	 path[PATH_MAX_PRIV];

	snprintf(path, sizeof(path), "%s/%u/qmp", priv_config()->rundir,
	    op->vmid);
	return qmp_open(path, QMP_OPEN_MS, err, errlen);
}

/* The block node of drive-<key>, from query-block. */
static int
node_of(json_t *blocks, const char *key, char *node, size_t nodelen)
{
	char		 device[DRIVE_KEY_LEN + 8];
	const char	*dev, *name;
	json_t		*b;
	size_t		 i;

	snprintf(device, sizeof(device), "drive-%s", key);
	json_array_foreach(blocks, i, b) {
		dev = json_string_value(json_object_get(b, "device"));
		name = json_string_value(json_object_get(json_object_get(b,
		    "inserted"), "node-name"));
		if (dev != NULL && name != NULL && strcmp(dev, device) == 0) {
			strlcpy(node, name, nodelen);
			return 0;
		}
	}
	return -1;
}

/* Hand the NBD listener to QEMU and export each drive, writable. */
static int
worker_nbd(struct vmop *op, struct qmp *q, char *err, size_t errlen)
{
	json_t		*blocks = NULL;
	char		 node[128], id[DRIVE_KEY_LEN + 8];
	uint32_t	 i;
	int		 rv = -1;

	if (qmp_command(q, "getfd", json_pack("{s:s}", "fdname",
	    NBD_FDNAME), op->nbdfd, NULL, QMP_COMMAND_MS, err, errlen) == -1 ||
	    qmp_command(q, "nbd-server-start", json_pack("{s:{s:s, s:{s:s}}}",
	    "addr", "type", "fd", "data", "str", NBD_FDNAME), -1, NULL,
	    QMP_COMMAND_MS, err, errlen) == -1 ||
	    qmp_command(q, "query-block", NULL, -1, &blocks, QMP_COMMAND_MS,
	    err, errlen) == -1)
		return -1;
	for (i = 0; i < op->start.ndrives; i++) {
		if (node_of(blocks, op->start.drives[i].key, node,
		    sizeof(node)) == -1) {
			snprintf(err, errlen, "no block node for drive '%s'",
			    op->start.drives[i].key);
			goto done;
		}
		snprintf(id, sizeof(id), "drive-%s", op->start.drives[i].key);
		if (qmp_command(q, "block-export-add",
		    json_pack("{s:s, s:s, s:s, s:s, s:b}", "type", "nbd",
		    "id", id, "node-name", node, "name", id, "writable", 1),
		    -1, NULL, QMP_COMMAND_MS, err, errlen) == -1)
			goto done;
	}
	rv = 0;
done:
	json_decref(blocks);
	return rv;
}

static int
worker_start(struct vmop *op, struct qmp *q, char *err, size_t errlen)
{
	json_t		*status = NULL;
	const char	*s;
	int		 rv = -1;

	if (qmp_command(q, "query-status", NULL, -1, &status, QMP_COMMAND_MS,
	    err, errlen) == -1)
		return -1;
	s = json_string_value(json_object_get(status, "status"));
	if (s == NULL || strcmp(s, "inmigrate") != 0) {
		snprintf(err, errlen, "QEMU is '%s', not waiting for the "
		    "incoming migration", s != NULL ? s : "?");
		goto done;
	}
	if (qmp_command(q, "migrate-set-capabilities",
	    json_pack("{s:[{s:s, s:b}, {s:s, s:b}]}", "capabilities",
	    "capability", "xbzrle", "state", 1, "capability",
	    "auto-converge", "state", 1), -1, NULL, QMP_COMMAND_MS, err,
	    errlen) == -1)
		goto done;
	rv = op->start.ndrives > 0 ? worker_nbd(op, q, err, errlen) : 0;
done:
	json_decref(status);
	return rv;
}

/*
 * The run state of the VM, waiting while it still loads an incoming
 * migration: a cont then would only mark it to run once the stream
 * ends, and the source would take that for a running target.  Returns
 * the status object, or NULL with err set.
 */
static json_t *
worker_status_settled(struct qmp *q, char *err, size_t errlen)
{
	json_t		*status;
	const char	*s;
	int		 waited;

	for (waited = 0;; waited += 100) {
		if (qmp_command(q, "query-status", NULL, -1, &status,
		    QMP_COMMAND_MS, err, errlen) == -1)
			return NULL;
		s = json_string_value(json_object_get(status, "status"));
		if (s == NULL || strcmp(s, "inmigrate") != 0)
			return status;
		json_decref(status);
		if (waited >= RESUME_WAIT_MS) {
			snprintf(err, errlen, "the incoming migration has not "
			    "ended after %d s", RESUME_WAIT_MS / 1000);
			return NULL;
		}
		poll(NULL, 0, 100);
	}
}

static int
worker_resume(struct vmop *op, struct qmp *q, char *err, size_t errlen)
{
	json_t		*status;
	const char	*s;
	int		 rv;

	if ((status = worker_status_settled(q, err, errlen)) == NULL)
		return -1;
	s = json_string_value(json_object_get(status, "status"));
	if (s != NULL && strcmp(s, "running") == 0)
		rv = 0;
	else if (s != NULL && strcmp(s, "suspended") == 0)
		rv = qmp_command(q, "system_wakeup", NULL, -1, NULL,
		    QMP_COMMAND_MS, err, errlen);
	else
		rv = qmp_command(q, "cont", NULL, -1, NULL, QMP_COMMAND_MS,
		    err, errlen);
	json_decref(status);
	return rv;
}

/*
 * QMP quit, and wait QUIT_WAIT_MS for QEMU to end.  Returns 1 when it
 * still runs: priv then kills it, because only priv writes the audit
 * log.
 */
static int
worker_stop(struct vmop *op, struct qmp *q, char *err, size_t errlen)
{
	pid_t	 pid;
	int	 waited;

	if (!qemu_running(op->vmid, &pid))
		return 0;
	if (q != NULL)
		(void)qmp_command(q, "quit", NULL, -1, NULL, QMP_COMMAND_MS,
		    err, errlen);
	for (waited = 0; waited < QUIT_WAIT_MS; waited += 50) {
		if (kill(pid, 0) == -1 && errno == ESRCH)
			return 0;
		poll(NULL, 0, 50);
	}
	return 1;
}

/*
 * Connect the non-blocking fd to the guest agent's socket.  A full
 * backlog makes connect fail with EAGAIN on a UNIX socket, so this
 * retries for at most AGENT_CONNECT_MS instead of blocking for as long
 * as QEMU does not accept.
 */
static int
agent_connect(int fd, const struct sockaddr_un *sun)
{
	int	 waited;

	for (waited = 0; connect(fd, (const struct sockaddr *)sun,
	    sizeof(*sun)) == -1; waited += 100) {
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		if (waited >= AGENT_CONNECT_MS) {
			errno = ETIMEDOUT;
			return -1;
		}
		poll(NULL, 0, 100);
	}
	return 0;
}

/*
 * guest-fstrim through the guest agent's socket.  The agent has no
 * greeting, so this speaks the line protocol directly; any failure is
 * only logged, as upstream.
 */
static void
worker_fstrim(struct vmop *op, char *out, size_t outlen)
{
	static const char	 cmd[] = "{\"execute\":\"guest-fstrim\"}\n";
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	char			 buf[512];
	ssize_t			 n;
	int			 fd = -1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%u/qga",
	    priv_config()->rundir, op->vmid) >= sizeof(sun.sun_path)) {
		strlcpy(out, "fstrim failed: socket path too long", outlen);
		return;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1 || agent_connect(fd, &sun) == -1 ||
	    write(fd, cmd, sizeof(cmd) - 1) != (ssize_t)sizeof(cmd) - 1) {
		msgf(out, outlen, "fstrim failed: guest agent: %s",
		    strerror(errno));
		goto done;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, FSTRIM_MS) != 1 ||
	    (n = read(fd, buf, sizeof(buf) - 1)) <= 0) {
		strlcpy(out, "fstrim failed: no answer from the guest agent",
		    outlen);
		goto done;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	msgf(out, outlen, "guest-fstrim: %s", buf);
done:
	if (fd != -1)
		close(fd);
}

static __attribute__((noreturn)) void
worker_main(struct vmop *op, pid_t parent, int reportfd)
{
	struct qmp	*q;
	char		 err[QMP_ERR_MAX] = "";
	int		 rv = 0;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(1);
	priv_child_close_fds();
	/*
	 * The channel's descriptor is closed, and its number may now be a
	 * QMP socket.  So log records go to standard error, and the result
	 * goes back in the report.
	 */
	log_to_channel(NULL);
	audit_to_channel(NULL);
	log_init(1, 0, "priv worker");

	if (op->kind == VMOP_FSTRIM) {
		if (op->agent)
			worker_fstrim(op, err, sizeof(err));
		else
			strlcpy(err, "guest agent not enabled", sizeof(err));
		report_write(reportfd, 0, "%s", err);
		_exit(0);
	}
	q = worker_qmp(op, err, sizeof(err));
	if (q == NULL && op->kind != VMOP_STOP) {
		report_write(reportfd, EIO, "QMP: %s\n", err);
		_exit(1);
	}
	switch (op->kind) {
	case VMOP_START:
		rv = worker_start(op, q, err, sizeof(err));
		break;
	case VMOP_RESUME:
		rv = worker_resume(op, q, err, sizeof(err));
		break;
	case VMOP_STOP:
		rv = worker_stop(op, q, err, sizeof(err));
		break;
	case VMOP_NBDSTOP:
		rv = qmp_command(q, "nbd-server-stop", NULL, -1, NULL,
		    NBD_STOP_MS, err, sizeof(err));
		break;
	default:
		break;
	}
	if (q != NULL)
		qmp_close(q);
	if (rv == -1)
		report_write(reportfd, EIO, "%s\n", err);
	else if (rv == 1)
		report_write(reportfd, ETIMEDOUT, "QEMU did not quit\n");
	else
		report_write(reportfd, 0, NULL);
	_exit(rv == -1);
}

/*
 * Operations in priv
 */

static void
vmop_free(struct vmop *op)
{
	TAILQ_REMOVE(&vmops, op, entry);
	if (op->reportfd != -1) {
		priv_unwatch(op->reportfd);
		close(op->reportfd);
	}
	if (op->nbdfd != -1)
		close(op->nbdfd);
	free(op);
}

static void
vmop_reply(struct vmop *op, int error, const char *msg, json_t *fields)
{
	if (error != 0)
		log_warnx("vmid %u: %s failed: %s", op->vmid,
		    vmop_name(op->kind), msg);
	priv_reply(&op->req, error, msg, fields, -1);
	vmop_free(op);
}

/* Reap the worker once it has reported or ended, and reply. */
static void
vmop_worker_ended(struct vmop *op)
{
	int	 status = 0;

	while (waitpid(op->pid, &status, 0) == -1 && errno == EINTR)
		;
	op->pid = 0;
	if (op->reportlen != sizeof(op->report)) {
		op->report.error = EIO;
		snprintf(op->report.msg, sizeof(op->report.msg), "%s worker "
		    "ended with status 0x%x\n", vmop_name(op->kind),
		    (unsigned)status);
	}
	op->report.msg[sizeof(op->report.msg) - 1] = '\0';

	if (op->kind == VMOP_START && op->report.error != 0) {
		/* A half-started VM is of no use: stop it now. */
		(void)qemu_kill(op->vmid);
	}
	if (op->kind == VMOP_STOP && op->report.error == ETIMEDOUT) {
		if (qemu_kill(op->vmid) == 0)
			op->report.error = 0;
		else
			snprintf(op->report.msg, sizeof(op->report.msg),
			    "QEMU does not end after SIGKILL\n");
	}
	if (op->kind == VMOP_FSTRIM)
		log_info("vmid %u: %s", op->vmid, op->report.msg);
	if (op->kind == VMOP_RESUME && op->report.error == 0) {
		journal_append(op->vmid, "resumed", NULL, NULL);
		audit_emit("qemu-resume", op->vmid, json_object());
	}
	if (op->kind == VMOP_STOP && op->report.error == 0)
		audit_emit("qemu-stop", op->vmid, json_pack("{s:s}", "how",
		    "stop command"));
	if (op->kind == VMOP_START && op->report.error == 0) {
		log_info("vmid %u: QEMU waits for the incoming migration%s",
		    op->vmid, op->start.ndrives > 0 ? ", NBD exports ready" :
		    "");
		audit_emit("qemu-start", op->vmid, json_pack("{s:s, s:I}",
		    "machine", op->start.forcemachine, "nbd_drives",
		    (json_int_t)op->start.ndrives));
		vmop_reply(op, 0, "", json_pack("{s:b}", "nbd",
		    op->start.ndrives > 0));
		return;
	}
	vmop_reply(op, op->report.error, op->kind == VMOP_FSTRIM ? "" :
	    op->report.msg, NULL);
}

static void
vmop_read_report(int fd, short revents, void *arg)
{
	struct vmop	*op = arg;
	ssize_t		 n;

	for (;;) {
		n = read(fd, (char *)&op->report + op->reportlen,
		    sizeof(op->report) - op->reportlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		op->reportlen += n;
		if (op->reportlen == sizeof(op->report))
			break;
	}
	vmop_worker_ended(op);
}

/* Fork the worker of op.  On failure, reply to op and free it. */
static void
vmop_fork(struct vmop *op)
{
	pid_t	 parent = priv_config_pid();
	int	 p[2];

	if (pipe2(p, O_CLOEXEC) == -1) {
		vmop_reply(op, errno, "pipe failed\n", NULL);
		return;
	}
	if ((op->pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		vmop_reply(op, EAGAIN, "fork failed\n", NULL);
		return;
	}
	if (op->pid == 0) {
		close(p[0]);
		worker_main(op, parent, p[1]);
	}
	close(p[1]);
	if (op->nbdfd != -1) {
		close(op->nbdfd);
		op->nbdfd = -1;
	}
	op->reportfd = p[0];
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1 ||
	    priv_watch(p[0], POLLIN, vmop_read_report, op) == -1)
		fatal("QEMU worker pipe");
}

static struct vmop *
vmop_new(const struct imsg *imsg, uint32_t vmid, enum vmop_kind kind)
{
	struct vmop	*op;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->vmid = vmid;
	op->kind = kind;
	op->reportfd = -1;
	op->nbdfd = -1;
	priv_req_of(imsg, &op->req);
	TAILQ_INSERT_TAIL(&vmops, op, entry);
	return op;
}

/*
 * start
 */

struct start_ctx {
	uint32_t		 vmid;
	const struct storagecfg	*storages;
	const char		*bridges;
	char			 msg[PRIV_MSG_MAX];
};

static int
start_file_exists(void *arg, const char *path)
{
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	close(fd);
	return 1;
}

static int
start_volume_path(void *arg, const char *volid, char *path, size_t pathlen,
    char *fmt, size_t fmtlen, char *err, size_t errlen)
{
	struct start_ctx	*ctx = arg;

	if (ctx->storages == NULL) {
		snprintf(err, errlen, "storage.cfg is not loaded");
		return -1;
	}
	return storage_volume_path(ctx->storages, volid, path, pathlen, fmt,
	    fmtlen, err, errlen);
}

/*
 * The backend for bridge: the daemon's "bridge" setting, else a tap
 * when the host has that bridge.
 */
static enum qemu_netdev
start_bridge_backend(void *arg, const char *bridge)
{
	struct start_ctx	*ctx = arg;
	const char		*p = ctx->bridges;
	size_t			 len = strlen(bridge);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, bridge, len) == 0 && p[len] == '=') {
			p += len + 1;
			if (strncmp(p, "user", 4) == 0 &&
			    (p[4] == ',' || p[4] == '\0'))
				return QEMU_NETDEV_USER;
			if (strncmp(p, "none", 4) == 0 &&
			    (p[4] == ',' || p[4] == '\0'))
				return QEMU_NETDEV_NONE;
			return QEMU_NETDEV_TAP;
		}
		if ((p = strchr(p, ',')) != NULL)
			p++;
	}
	return QEMU_NETDEV_TAP;
}

/* A tap on its bridge for every NIC whose bridge is backed by one. */
static int
start_taps(const struct vmconfig *cfg, struct start_ctx *ctx)
{
	struct net	 n;
	const char	*v, *bridge;
	char		 key[8], tap[16], err[VMCONFIG_ERR_MAX];
	unsigned	 i;

	for (i = 0; i < 32; i++) {
		snprintf(key, sizeof(key), "net%u", i);
		if ((v = vmconfig_get(cfg, key)) == NULL)
			continue;
		if (parse_net(key, v, &n, err, sizeof(err)) == -1) {
			msgf(ctx->msg, sizeof(ctx->msg), "%s: %s\n", key, err);
			return -1;
		}
		bridge = net_get(&n, "bridge");
		if (bridge == NULL || start_bridge_backend(ctx, bridge) !=
		    QEMU_NETDEV_TAP)
			continue;
		if (netdev_tap_name(ctx->vmid, i, tap, sizeof(tap)) == -1 ||
		    netdev_tap_create(tap, bridge, priv_config()->uid, err,
		    sizeof(err)) == -1) {
			msgf(ctx->msg, sizeof(ctx->msg), "%s: %s; map the "
			    "bridge with 'bridge %s user' or 'bridge %s none' "
			    "in mtunneld.conf if this host lacks it\n", key,
			    err, bridge, bridge);
			qemu_remove_taps(ctx->vmid);
			return -1;
		}
		log_info("vmid %u: tap %s on bridge %s", ctx->vmid, tap,
		    bridge);
	}
	return 0;
}

/* Check that each NBD drive uses the volume this migration allocated. */
static int
start_check_drives(const struct vmconfig *cfg, const struct journal *j,
    const struct tunnel_vm_start *st, char *msg, size_t msglen)
{
	const struct journal_volume	*jv;
	struct drive			 d;
	const char			*v, *volid;
	char				 err[VMCONFIG_ERR_MAX];
	uint32_t			 i;

	for (i = 0; i < st->ndrives; i++) {
		v = vmconfig_get(cfg, st->drives[i].key);
		if (v == NULL || parse_drive(st->drives[i].key, v, 0, &d, err,
		    sizeof(err)) == -1 || (volid = drive_volid(&d)) == NULL ||
		    strcmp(volid, st->drives[i].volid) != 0) {
			snprintf(msg, msglen, "drive '%s' of the config does "
			    "not use volume '%s'\n", st->drives[i].key,
			    st->drives[i].volid);
			return -1;
		}
		jv = journal_find_volume(j, volid);
		if (jv == NULL || jv->state != JVOL_ALLOCATED) {
			snprintf(msg, msglen, "volume '%s' was not allocated "
			    "by disk in this migration\n", volid);
			return -1;
		}
	}
	return 0;
}

/* Read and check what start needs: config, lock, drives, journal. */
static int
start_load(uint32_t vmid, const struct tunnel_vm_start *st,
    struct vmconfig *cfg, char *msg, size_t msglen)
{
	struct journal	 j;
	char		*text = NULL, lock[LOCK_NAME_MAX];
	char		 err[VMCONFIG_ERR_MAX];
	size_t		 len;
	int		 rv = -1;

	if (config_read(priv_config()->confdir, vmid, &text, &len, msg,
	    msglen) != 0)
		return -1;
	if (config_get_lock(text, len, lock, sizeof(lock)) == -1 ||
	    strcmp(lock, "migrate") != 0) {
		snprintf(msg, msglen, "VM %u is not locked for a migration\n",
		    vmid);
		free(text);
		return -1;
	}
	if (vmconfig_parse(cfg, text, len, 0, vmid, err, sizeof(err)) ==
	    -1) {
		msgf(msg, msglen, "config of VM %u: %s\n", vmid, err);
		free(text);
		return -1;
	}
	free(text);
	if (journal_read(vmid, &j, msg, msglen) != 0) {
		snprintf(msg, msglen, "VM %u has no migration journal\n",
		    vmid);
		vmconfig_free(cfg);
		return -1;
	}
	rv = start_check_drives(cfg, &j, st, msg, msglen);
	journal_free(&j);
	if (rv == -1)
		vmconfig_free(cfg);
	return rv;
}

static void
start_spawned(void *arg, int error, int status, const char *out, size_t len)
{
	struct vmop	*op = arg;
	char		 msg[PRIV_MSG_MAX];
	size_t		 n;

	if (error != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		/* QEMU's first output line names the error. */
		n = strcspn(out, "\n");
		snprintf(msg, sizeof(msg), "QEMU did not start: %.*s\n",
		    (int)(n < 200 ? n : 200), len > 0 ? out :
		    error ? strerror(error) : "no output");
		(void)qemu_kill(op->vmid);
		vmop_reply(op, EIO, msg, NULL);
		return;
	}
	if (qemu_record_pid(op->vmid) == -1) {
		(void)qemu_kill(op->vmid);
		vmop_reply(op, EIO, "QEMU wrote no pid file of this VM\n",
		    NULL);
		return;
	}
	log_info("vmid %u: QEMU started", op->vmid);
	vmop_worker_start(op);
}

static void
vmop_worker_start(struct vmop *op)
{
	char	 msg[PRIV_MSG_MAX];

	if (op->start.ndrives > 0 && (op->nbdfd = sock_create(
	    priv_config()->rundir, op->vmid, SOCKET_NBD, msg,
	    sizeof(msg))) == -1) {
		(void)qemu_kill(op->vmid);
		vmop_reply(op, EIO, msg, NULL);
		return;
	}
	vmop_fork(op);
}

/*
 * QEMU reopens its images for writing when the incoming migration
 * activates them, after -runas has dropped root, so the QEMU user's
 * group must be able to write every volume of the VM.
 */
static int
grant_volume(const char *key, const struct drive *d, void *arg)
{
	struct start_ctx	*ctx = arg;
	struct stat		 st;
	const char		*volid = drive_volid(d);
	char			 path[VOLUME_PATH_MAX], fmt[16];
	char			 err[PRIV_MSG_MAX];
	int			 fd;

	if (volid == NULL || d->bus == DRIVE_UNUSED)
		return 0;
	if (storage_volume_path(ctx->storages, volid, path, sizeof(path), fmt,
	    sizeof(fmt), err, sizeof(err)) == -1 ||
	    volume_check_path(ctx->storages, ctx->vmid, volid, path, err,
	    sizeof(err)) == -1) {
		msgf(ctx->msg, sizeof(ctx->msg), "%s: %s\n", key, err);
		return 1;
	}
	if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    fchown(fd, 0, priv_config()->gid) == -1 ||
	    fchmod(fd, 0660) == -1) {
		msgf(ctx->msg, sizeof(ctx->msg), "%s: cannot give the QEMU "
		    "user access to %s: %s\n", key, path, strerror(errno));
		if (fd != -1)
			close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

/* Build the argument vector and have the spawner run QEMU. */
static int
start_spawn(struct vmop *op, const struct vmconfig *cfg,
    const struct priv_vm_start *req, char *msg, size_t msglen)
{
	struct start_ctx	 ctx;
	struct qemu_opts	 opts;
	struct qemu_argv	 av;
	struct spawn_exec	 exec;
	char			 vmdir[PATH_MAX_PRIV], incoming[PATH_MAX_PRIV];
	char			 sock[32], err[QEMUARGS_ERR_MAX];

	memset(&ctx, 0, sizeof(ctx));
	ctx.storages = volume_storages(ctx.msg, sizeof(ctx.msg));
	ctx.bridges = req->bridges;
	ctx.vmid = op->vmid;
	if (ctx.storages == NULL ||
	    vmconfig_foreach_drive(cfg, grant_volume, &ctx) != 0 ||
	    start_taps(cfg, &ctx) == -1) {
		strlcpy(msg, ctx.msg[0] ? ctx.msg : "cannot read the VM's "
		    "drives\n", msglen);
		return -1;
	}
	vmop_dir(op->vmid, vmdir, sizeof(vmdir));
	sock_name(op->vmid, SOCKET_MIGRATE, sock, sizeof(sock));
	msgf(incoming, sizeof(incoming), "unix:%s/%s", vmdir, sock);

	memset(&opts, 0, sizeof(opts));
	opts.vmid = op->vmid;
	opts.forcemachine = req->start.forcemachine[0] ?
	    req->start.forcemachine : NULL;
	opts.forcecpu = req->start.forcecpu[0] ? req->start.forcecpu : NULL;
	opts.nets_host_mtu = req->start.nets_host_mtu[0] ?
	    req->start.nets_host_mtu : NULL;
	opts.vmdir = vmdir;
	opts.incoming = incoming;
	opts.runas = priv_config()->qemu_user;
	opts.sandbox = 1;
	opts.volume_path = start_volume_path;
	opts.bridge_backend = start_bridge_backend;
	opts.file_exists = start_file_exists;
	opts.arg = &ctx;
	if (qemu_argv_build(cfg, &qemu_host_caps, &opts, &av, err,
	    sizeof(err)) == -1) {
		msgf(msg, msglen, "%s\n", err);
		return -1;
	}
	free(av.argv[0]);
	if ((av.argv[0] = strdup(priv_config()->qemu)) == NULL)
		fatal("strdup");

	memset(&exec, 0, sizeof(exec));
	exec.flags = SPAWN_STDOUT_FD | SPAWN_STDERR_FD;
	exec.timeout = qemu_start_timeout(cfg);
	journal_append(op->vmid, "qemu-started", NULL, NULL);
	if (priv_spawn(op->vmid, &exec, (const char *const *)av.argv,
	    start_spawned, op) == -1) {
		qemu_argv_free(&av);
		msgf(msg, msglen, "cannot run %s\n", priv_config()->qemu);
		return -1;
	}
	log_info("vmid %u: starting QEMU for an incoming migration",
	    op->vmid);
	qemu_argv_free(&av);
	return 0;
}

static int
start_request_ok(const struct imsg *imsg, struct priv_vm_start *req)
{
	uint32_t	 i;

	if (imsg_datalen(imsg) != sizeof(*req)) {
		priv_refuse(imsg, "start request of the wrong size");
		return -1;
	}
	memcpy(req, imsg->data, sizeof(*req));
	if (priv_check_stamp(imsg, req->vmid) == -1)
		return -1;
	if (!priv_string_ok(req->bridges, sizeof(req->bridges)) ||
	    !priv_string_ok(req->start.forcemachine,
	    sizeof(req->start.forcemachine)) ||
	    !priv_string_ok(req->start.forcecpu,
	    sizeof(req->start.forcecpu)) ||
	    !priv_string_ok(req->start.nets_host_mtu,
	    sizeof(req->start.nets_host_mtu)) ||
	    req->start.ndrives > NBD_DRIVES_MAX) {
		priv_refuse(imsg, "malformed start request");
		return -1;
	}
	for (i = 0; i < req->start.ndrives; i++)
		if (!priv_string_ok(req->start.drives[i].key,
		    sizeof(req->start.drives[i].key)) ||
		    !is_drive_key(req->start.drives[i].key) ||
		    !priv_string_ok(req->start.drives[i].volid,
		    sizeof(req->start.drives[i].volid))) {
			priv_refuse(imsg, "malformed start drive");
			return -1;
		}
	return 0;
}

void
priv_vm_start(const struct imsg *imsg)
{
	struct priv_vm_start	*req;
	struct vmconfig		 cfg;
	struct vmop		*op;
	char			 msg[PRIV_MSG_MAX];

	if ((req = malloc(sizeof(*req))) == NULL)
		fatal("start request");
	if (start_request_ok(imsg, req) == -1)
		goto out;
	if (vmop_find(req->vmid) != NULL || qemu_running(req->vmid, NULL)) {
		snprintf(msg, sizeof(msg), "VM %u is already running\n",
		    req->vmid);
		priv_reply_to(imsg, EEXIST, msg);
		goto out;
	}
	if (qemu_host_probed < 2) {
		priv_reply_to(imsg, EAGAIN, "the local QEMU did not answer "
		    "its version and machine types; see the daemon log\n");
		goto out;
	}
	if (start_load(req->vmid, &req->start, &cfg, msg, sizeof(msg)) ==
	    -1) {
		priv_reply_to(imsg, EINVAL, msg);
		goto out;
	}
	if ((op = vmop_new(imsg, req->vmid, VMOP_START)) == NULL)
		fatal("start");
	op->start = req->start;
	if (start_spawn(op, &cfg, req, msg, sizeof(msg)) == -1)
		vmop_reply(op, EINVAL, msg, NULL);
	vmconfig_free(&cfg);
out:
	free(req);
}

/*
 * resume, stop, nbdstop, fstrim
 */

/* Whether the config of vmid enables the guest agent. */
static int
agent_enabled(uint32_t vmid)
{
	struct vmconfig	 cfg;
	const char	*v;
	char		*text = NULL, msg[PRIV_MSG_MAX];
	char		 err[VMCONFIG_ERR_MAX];
	size_t		 len;
	int		 on = 0;

	if (config_read(priv_config()->confdir, vmid, &text, &len, msg,
	    sizeof(msg)) != 0)
		return 0;
	if (vmconfig_parse(&cfg, text, len, 0, vmid, err, sizeof(err)) == 0) {
		v = vmconfig_get(&cfg, "agent");
		on = v != NULL && (v[0] == '1' || strncmp(v, "enabled=1",
		    9) == 0);
		vmconfig_free(&cfg);
	}
	free(text);
	return on;
}

void
priv_vm_op(const struct imsg *imsg)
{
	struct priv_vmid_req	 req;
	struct vmop		*op;
	enum vmop_kind		 kind;
	char			 msg[PRIV_MSG_MAX];

	if (priv_check_vmid(imsg, &req) == -1)
		return;
	switch (imsg->hdr.type) {
	case IMSG_PRIV_VM_RESUME:
		kind = VMOP_RESUME;
		break;
	case IMSG_PRIV_VM_STOP:
		kind = VMOP_STOP;
		break;
	case IMSG_PRIV_NBD_STOP:
		kind = VMOP_NBDSTOP;
		break;
	default:
		kind = VMOP_FSTRIM;
		break;
	}
	if (vmop_find(req.vmid) != NULL) {
		priv_reply_to(imsg, EBUSY, "another QEMU operation runs\n");
		return;
	}
	if (kind != VMOP_FSTRIM && !qemu_running(req.vmid, NULL)) {
		snprintf(msg, sizeof(msg), "VM %u not running\n", req.vmid);
		priv_reply_to(imsg, ESRCH, msg);
		return;
	}
	if ((op = vmop_new(imsg, req.vmid, kind)) == NULL)
		fatal("QEMU operation");
	if (kind == VMOP_FSTRIM)
		op->agent = agent_enabled(req.vmid) &&
		    qemu_running(req.vmid, NULL);
	vmop_fork(op);
}
