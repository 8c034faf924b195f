/*
 * mtunnelctl qemu-cmdline [--incoming PATH] VMID
 * mtunnelctl start [--incoming PATH] VMID
 * mtunnelctl stop VMID
 *
 * Run a VM from <config-dir>/qemu-server/<vmid>.conf with the argument
 * vector of common/qemuargs.c, so that an operator can run VMs that
 * mtunneld can later migrate.  The VM's sockets (qmp, qga, serialN, vnc)
 * and its pid file are in <run-dir>/<vmid>/, a root-only directory.
 */

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "conf.h"
#include "ctl.h"
#include "netdev.h"
#include "qemuargs.h"
#include "qmp.h"
#include "storagecfg.h"
#include "vmconfig.h"

#define VM_PATH_MAX		(CONF_PATH_MAX + 64)
#define PROBE_OUTPUT_MAX	(64 * 1024)
#define PROBE_TIMEOUT_MS	10000
#define QMP_TIMEOUT_MS		5000
#define STOP_TIMEOUT_MS		30000	/* from quit to SIGKILL */
#define OVMF_DIR		"/usr/share/OVMF"
#define NICS_MAX		32	/* net0 to net31 */
#define IFNAMSIZ_MAX		16	/* IFNAMSIZ, with the NUL */

struct vm_ctx {
	const struct mtunneld_conf	*conf;
	uint32_t			 vmid;
	const char			*incoming;	/* socket, or NULL */
	char				 vmdir[CONF_PATH_MAX + 16];
	struct storagecfg		 storages;
	int				 storages_loaded;
	char				 bridge_err[QEMUARGS_ERR_MAX];
	struct qemu_host		 host;
	int				 taps[NICS_MAX];	/* created */
};

static void
vm_usage(void)
{
	fprintf(stderr, "usage: mtunnelctl qemu-cmdline [--incoming PATH] "
	    "VMID\n       mtunnelctl start [--incoming PATH] VMID\n"
	    "       mtunnelctl stop VMID\n");
}

static int
parse_vmid(const char *s, uint32_t *vmid)
{
	char		*end;
	unsigned long	 n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (s[0] < '1' || s[0] > '9' || *end != '\0' || errno != 0 ||
	    n > 999999999)
		return -1;
	*vmid = (uint32_t)n;
	return 0;
}

/* Read the whole file at path into a NUL-terminated buffer. */
static char *
read_file(const char *path, size_t max, size_t *len)
{
	FILE	*f;
	char	*buf;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if ((buf = malloc(max + 2)) == NULL) {
		fclose(f);
		return NULL;
	}
	*len = fread(buf, 1, max + 1, f);
	fclose(f);
	if (*len > max) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

static int
load_vmconfig(struct vm_ctx *ctx, struct vmconfig *cfg)
{
	char	 path[VM_PATH_MAX], err[VMCONFIG_ERR_MAX], *text;
	size_t	 len;
	int	 rc;

	snprintf(path, sizeof(path), "%s/qemu-server/%u.conf",
	    ctx->conf->confdir, ctx->vmid);
	if ((text = read_file(path, VMCONFIG_FILE_MAX, &len)) == NULL) {
		fprintf(stderr, "mtunnelctl: cannot read %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	rc = vmconfig_parse(cfg, text, len, 1, ctx->vmid, err, sizeof(err));
	free(text);
	if (rc == -1)
		fprintf(stderr, "mtunnelctl: %s: %s\n", path, err);
	return rc;
}

/* The storages are read on the first volume, like priv does. */
static int
vm_volume_path(void *arg, const char *volid, char *path, size_t pathlen,
    char *fmt, size_t fmtlen, char *err, size_t errlen)
{
	struct vm_ctx	*ctx = arg;
	char		 file[VM_PATH_MAX];

	if (!ctx->storages_loaded) {
		snprintf(file, sizeof(file), "%s/storage.cfg",
		    ctx->conf->confdir);
		if (storagecfg_load(&ctx->storages, file, err, errlen) == -1)
			return -1;
		ctx->storages_loaded = 1;
	}
	return storage_volume_path(&ctx->storages, volid, path, pathlen, fmt,
	    fmtlen, err, errlen);
}

/*
 * A bridge named by a "bridge" setting uses that backend.  Otherwise a
 * Linux bridge of that name gets a tap device, and any other name is an
 * error, stored for the caller because the callback cannot fail.
 */
static enum qemu_netdev
vm_bridge_backend(void *arg, const char *bridge)
{
	struct vm_ctx			*ctx = arg;
	const struct conf_bridge	*br;
	char				 path[VM_PATH_MAX];

	if ((br = conf_bridge_find(ctx->conf, bridge)) != NULL) {
		if (br->backend == CONF_BRIDGE_USER)
			return QEMU_NETDEV_USER;
		if (br->backend == CONF_BRIDGE_NONE)
			return QEMU_NETDEV_NONE;
		return QEMU_NETDEV_TAP;
	}
	snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", bridge);
	if (access(path, F_OK) == -1 && ctx->bridge_err[0] == '\0')
		snprintf(ctx->bridge_err, sizeof(ctx->bridge_err), "bridge %s "
		    "does not exist on this host; create it or map it with "
		    "'bridge %s user' (or none) in mtunneld.conf", bridge,
		    bridge);
	return QEMU_NETDEV_TAP;
}

static int
vm_file_exists(void *arg, const char *path)
{
	(void)arg;
	return access(path, R_OK) == 0;
}

static int
wait_child(pid_t pid, int timeout_ms, int *status)
{
	struct timespec	 ts = { 0, 20 * 1000 * 1000 };
	int		 waited = 0;
	pid_t		 rc;

	for (;;) {
		rc = waitpid(pid, status, WNOHANG);
		if (rc == pid)
			return 0;
		if (rc == -1 && errno != EINTR)
			return -1;
		if (waited >= timeout_ms) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, status, 0);
			errno = ETIMEDOUT;
			return -1;
		}
		nanosleep(&ts, NULL);
		waited += 20;
	}
}

/* Run "qemu ARG [ARG2]" and capture its standard output. */
static int
probe_qemu(const char *qemu, const char *a1, const char *a2, char *out,
    size_t outlen, size_t *len)
{
	int	 fds[2], status;
	pid_t	 pid;
	ssize_t	 n;

	*len = 0;
	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		execl(qemu, qemu, a1, a2, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (*len < outlen - 1 && (n = read(fds[0], out + *len,
	    outlen - 1 - *len)) > 0)
		*len += (size_t)n;
	out[*len] = '\0';
	close(fds[0]);
	if (wait_child(pid, PROBE_TIMEOUT_MS, &status) == -1)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int
probe_host(struct vm_ctx *ctx)
{
	struct qemu_host	*host = &ctx->host;
	char			*out;
	size_t			 len;
	int			 fd, rc = -1;

	if ((out = malloc(PROBE_OUTPUT_MAX)) == NULL)
		return -1;
	if (probe_qemu(ctx->conf->qemu, "-version", NULL, out,
	    PROBE_OUTPUT_MAX, &len) == -1 ||
	    qemu_host_parse_version(host, out, len) == -1)
		fprintf(stderr, "mtunnelctl: failed to read the QEMU version "
		    "from '%s -version'\n", ctx->conf->qemu);
	else if (probe_qemu(ctx->conf->qemu, "-machine", "help", out,
	    PROBE_OUTPUT_MAX, &len) == -1 ||
	    qemu_host_parse_machines(host, out, len) == -1)
		fprintf(stderr, "mtunnelctl: failed to read the machine types "
		    "from '%s -machine help'\n", ctx->conf->qemu);
	else
		rc = 0;
	free(out);
	if ((fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) != -1) {
		host->kvm = 1;
		close(fd);
	}
	host->vhost_net = access("/dev/vhost-net", F_OK) == 0;
	host->firmware_dir = OVMF_DIR;
	return rc;
}

/* Build the argument vector that start runs.  Prints its own errors. */
static int
build_argv(struct vm_ctx *ctx, struct qemu_argv *av)
{
	struct vmconfig		 cfg;
	struct qemu_opts	 opts;
	char			 incoming[VM_PATH_MAX + 8];
	char			 err[QEMUARGS_ERR_MAX];
	int			 rc;

	if (load_vmconfig(ctx, &cfg) == -1 || probe_host(ctx) == -1)
		return -1;
	memset(&opts, 0, sizeof(opts));
	opts.vmid = ctx->vmid;
	opts.vmdir = ctx->vmdir;
	if (ctx->incoming != NULL) {
		snprintf(incoming, sizeof(incoming), "unix:%s", ctx->incoming);
		opts.incoming = incoming;
	}
	opts.runas = ctx->conf->qemu_user;
	opts.sandbox = 1;
	opts.volume_path = vm_volume_path;
	opts.bridge_backend = vm_bridge_backend;
	opts.file_exists = vm_file_exists;
	opts.arg = ctx;
	rc = qemu_argv_build(&cfg, &ctx->host, &opts, av, err, sizeof(err));
	vmconfig_free(&cfg);
	if (rc == 0 && ctx->bridge_err[0] != '\0') {
		qemu_argv_free(av);
		strlcpy(err, ctx->bridge_err, sizeof(err));
		rc = -1;
	}
	if (rc == -1) {
		fprintf(stderr, "mtunnelctl: VM %u: %s\n", ctx->vmid, err);
		return -1;
	}
	free(av->argv[0]);
	if ((av->argv[0] = strdup(ctx->conf->qemu)) == NULL) {
		qemu_argv_free(av);
		return -1;
	}
	return 0;
}

/* Print s in single quotes when the shell would split or expand it. */
static void
print_quoted(const char *s)
{
	const char	*p;

	if (s[0] != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+:@%/=-") == strlen(s)) {
		printf("%s\n", s);
		return;
	}
	putchar('\'');
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*p);
	}
	fputs("'\n", stdout);
}

static int
cmd_qemu_cmdline(struct vm_ctx *ctx)
{
	struct qemu_argv	 av;
	size_t			 i;

	if (build_argv(ctx, &av) == -1)
		return 1;
	for (i = 0; i < av.argc; i++)
		print_quoted(av.argv[i]);
	qemu_argv_free(&av);
	return 0;
}

/*
 * Whether pid is a QEMU of this VM: it runs as the QEMU user and its
 * arguments hold "-pidfile" followed by exactly pidfile.  QEMU keeps
 * its pid file open and can write any pid there.
 */
static int
is_vm_qemu(const struct vm_ctx *ctx, long pid, const char *pidfile)
{
	struct passwd	*pw;
	char		 path[64], *text, *arg, *end, *uid;
	size_t		 len;
	int		 found = 0;

	if ((pw = getpwnam(ctx->conf->qemu_user)) == NULL)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((text = read_file(path, 4096, &len)) == NULL)
		return 0;
	uid = strstr(text, "\nUid:\t");
	found = uid != NULL && strtol(uid + 6, NULL, 10) == (long)pw->pw_uid;
	free(text);
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if (!found || (text = read_file(path, 64 * 1024, &len)) == NULL)
		return 0;
	found = 0;
	end = text + len;
	for (arg = text; !found && arg < end; arg += strlen(arg) + 1)
		found = strcmp(arg, "-pidfile") == 0 &&
		    arg + strlen(arg) + 1 < end &&
		    strcmp(arg + strlen(arg) + 1, pidfile) == 0;
	free(text);
	return found;
}

/*
 * The pid of this VM's QEMU if it still runs, else 0: from qemu.pid,
 * which mtunneld writes at start, else from QEMU's own pid file.
 */
static pid_t
running_pid(const struct vm_ctx *ctx)
{
	char	 own[VM_PATH_MAX], path[VM_PATH_MAX], *text;
	size_t	 len;
	long	 pid;

	snprintf(own, sizeof(own), "%s/qemu.pid", ctx->vmdir);
	snprintf(path, sizeof(path), "%s/pid", ctx->vmdir);
	if ((text = read_file(own, 32, &len)) == NULL &&
	    (text = read_file(path, 32, &len)) == NULL)
		return 0;
	pid = strtol(text, NULL, 10);
	free(text);
	if (pid <= 1 || pid > INT_MAX || (kill((pid_t)pid, 0) == -1 &&
	    errno == ESRCH) || !is_vm_qemu(ctx, pid, path))
		return 0;
	return (pid_t)pid;
}

/* mkdir -p with mode 0755 for each missing directory. */
static int
mkdir_parents(const char *dir)
{
	char	 path[VM_PATH_MAX], *p;

	if (strlcpy(path, dir, sizeof(path)) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0755) == -1 && errno != EEXIST ? -1 : 0;
}

static int
make_vmdir(const struct vm_ctx *ctx)
{
	struct stat	 st;

	if (mkdir_parents(ctx->conf->rundir) == -1) {
		fprintf(stderr, "mtunnelctl: cannot create %s: %s\n",
		    ctx->conf->rundir, strerror(errno));
		return -1;
	}
	if (mkdir(ctx->vmdir, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "mtunnelctl: cannot create %s: %s\n",
		    ctx->vmdir, strerror(errno));
		return -1;
	}
	if (lstat(ctx->vmdir, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != 0 || (st.st_mode & 077) != 0) {
		fprintf(stderr, "mtunnelctl: %s must be a directory owned by "
		    "root with mode 0700\n", ctx->vmdir);
		return -1;
	}
	return 0;
}

static void
remove_taps(struct vm_ctx *ctx, int all)
{
	char		 tap[IFNAMSIZ_MAX], err[NETDEV_ERR_MAX];
	unsigned	 i;

	for (i = 0; i < NICS_MAX; i++) {
		if (!all && !ctx->taps[i])
			continue;
		if (netdev_tap_name(ctx->vmid, i, tap, sizeof(tap)) == -1)
			continue;
		if (netdev_tap_remove(tap, err, sizeof(err)) == -1)
			fprintf(stderr, "mtunnelctl: VM %u: %s\n", ctx->vmid,
			    err);
		ctx->taps[i] = 0;
	}
}

/* Create and plug tap<vmid>i<N> for each NIC whose bridge is a tap. */
static int
create_taps(struct vm_ctx *ctx, const struct vmconfig *cfg)
{
	struct net	 n;
	struct passwd	*pw;
	char		 key[8], tap[IFNAMSIZ_MAX], err[VMCONFIG_ERR_MAX];
	const char	*v, *bridge;
	unsigned	 i;

	if ((pw = getpwnam(ctx->conf->qemu_user)) == NULL) {
		fprintf(stderr, "mtunnelctl: qemu-user %s not found\n",
		    ctx->conf->qemu_user);
		return -1;
	}
	for (i = 0; i < NICS_MAX; i++) {
		snprintf(key, sizeof(key), "net%u", i);
		if ((v = vmconfig_get(cfg, key)) == NULL ||
		    parse_net(key, v, &n, err, sizeof(err)) == -1 ||
		    (bridge = net_get(&n, "bridge")) == NULL ||
		    vm_bridge_backend(ctx, bridge) != QEMU_NETDEV_TAP)
			continue;
		if (netdev_tap_name(ctx->vmid, i, tap, sizeof(tap)) == -1 ||
		    netdev_tap_create(tap, bridge, pw->pw_uid, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "mtunnelctl: VM %u: %s: %s\n",
			    ctx->vmid, key, err);
			remove_taps(ctx, 0);
			return -1;
		}
		ctx->taps[i] = 1;
	}
	return 0;
}

/*
 * Set the link of each NIC with link_down=1 down, as upstream does after
 * a plain start.  An incoming migration brings the link state along.
 */
static int
set_links_down(struct vm_ctx *ctx)
{
	struct vmconfig	 cfg;
	struct net	 n;
	struct qmp	*qmp = NULL;
	json_t		*args;
	char		 key[8], path[VM_PATH_MAX], err[VMCONFIG_ERR_MAX];
	const char	*v;
	unsigned	 i;
	int		 rc = 0;

	if (load_vmconfig(ctx, &cfg) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/qmp", ctx->vmdir);
	for (i = 0; i < NICS_MAX && rc == 0; i++) {
		snprintf(key, sizeof(key), "net%u", i);
		if ((v = vmconfig_get(&cfg, key)) == NULL ||
		    parse_net(key, v, &n, err, sizeof(err)) == -1 ||
		    !n.link_down)
			continue;
		if (qmp == NULL && (qmp = qmp_open(path, QMP_TIMEOUT_MS, err,
		    sizeof(err))) == NULL)
			rc = -1;
		else if ((args = json_pack("{s:s, s:b}", "name", key, "up",
		    0)) == NULL) {
			strlcpy(err, "out of memory", sizeof(err));
			rc = -1;
		} else {
			rc = qmp_command(qmp, "set_link", args, -1, NULL,
			    QMP_TIMEOUT_MS, err, sizeof(err));
			json_decref(args);
		}
		if (rc == -1)
			fprintf(stderr, "mtunnelctl: VM %u: failed to set the "
			    "link of %s down: %s\n", ctx->vmid, key, err);
	}
	if (qmp != NULL)
		qmp_close(qmp);
	vmconfig_free(&cfg);
	return rc;
}

struct grant {
	struct vm_ctx	*ctx;
	gid_t		 gid;
	int		 failed;
};

/*
 * Give the QEMU user's group write access to one volume of the VM: QEMU
 * opens its images as root, but reopens one as the QEMU user after
 * -runas (a failed drive-mirror, an incoming migration), and aborts
 * when it cannot.
 */
static int
grant_volume(const char *key, const struct drive *d, void *arg)
{
	struct grant	*g = arg;
	const char	*volid = drive_volid(d);
	char		 path[VM_PATH_MAX + 256], fmt[16], err[256];

	if (volid == NULL || d->bus == DRIVE_UNUSED)
		return 0;
	if (vm_volume_path(g->ctx, volid, path, sizeof(path), fmt,
	    sizeof(fmt), err, sizeof(err)) == -1)
		return 0;	/* build_argv has reported it */
	if (chown(path, 0, g->gid) == -1 || chmod(path, 0660) == -1) {
		fprintf(stderr, "mtunnelctl: VM %u: %s: cannot give the QEMU "
		    "user access to %s: %s\n", g->ctx->vmid, key, path,
		    strerror(errno));
		g->failed = 1;
		return 1;
	}
	return 0;
}

static int
grant_volumes(struct vm_ctx *ctx, const struct vmconfig *cfg)
{
	struct grant	 g;
	struct passwd	*pw;

	if ((pw = getpwnam(ctx->conf->qemu_user)) == NULL) {
		fprintf(stderr, "mtunnelctl: QEMU user '%s' not found; run "
		    "scripts/create-users\n", ctx->conf->qemu_user);
		return -1;
	}
	g.ctx = ctx;
	g.gid = pw->pw_gid;
	g.failed = 0;
	if (vmconfig_foreach_drive(cfg, grant_volume, &g) != 0 || g.failed)
		return -1;
	return 0;
}

/*
 * Run QEMU and wait for its daemonizing parent: exit status 0 means the
 * VM is set up and QEMU runs in the background.
 */
static int
cmd_start(struct vm_ctx *ctx)
{
	struct qemu_argv	 av;
	struct vmconfig		 cfg;
	pid_t			 pid;
	int			 status, timeout_s, rc;

	if (geteuid() != 0) {
		fprintf(stderr, "mtunnelctl: start must run as root\n");
		return 1;
	}
	if ((pid = running_pid(ctx)) != 0) {
		fprintf(stderr, "mtunnelctl: VM %u is already running (pid "
		    "%d)\n", ctx->vmid, (int)pid);
		return 1;
	}
	if (make_vmdir(ctx) == -1 || build_argv(ctx, &av) == -1)
		return 1;
	if (load_vmconfig(ctx, &cfg) == -1) {
		qemu_argv_free(&av);
		return 1;
	}
	timeout_s = (int)qemu_start_timeout(&cfg);
	rc = grant_volumes(ctx, &cfg) == -1 ? -1 : create_taps(ctx, &cfg);
	vmconfig_free(&cfg);
	if (rc == -1 || (pid = fork()) == -1) {
		if (rc == 0)
			fprintf(stderr, "mtunnelctl: fork: %s\n",
			    strerror(errno));
		remove_taps(ctx, 0);
		qemu_argv_free(&av);
		return 1;
	}
	if (pid == 0) {
		setsid();
		execv(av.argv[0], av.argv);
		fprintf(stderr, "mtunnelctl: cannot run %s: %s\n", av.argv[0],
		    strerror(errno));
		_exit(127);
	}
	qemu_argv_free(&av);
	if (wait_child(pid, timeout_s * 1000, &status) == -1) {
		fprintf(stderr, "mtunnelctl: VM %u: QEMU did not finish its "
		    "start within %d s: %s\n", ctx->vmid, timeout_s,
		    strerror(errno));
		remove_taps(ctx, 0);
		return 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "mtunnelctl: VM %u: QEMU failed to start "
		    "(exit status %d)\n", ctx->vmid, WIFEXITED(status) ?
		    WEXITSTATUS(status) : 128 + WTERMSIG(status));
		remove_taps(ctx, 0);
		return 1;
	}
	if (ctx->incoming == NULL && set_links_down(ctx) == -1)
		return 1;
	printf("VM %u started (pid %d)\n", ctx->vmid, (int)running_pid(ctx));
	return 0;
}

static int
wait_gone(pid_t pid, int timeout_ms)
{
	struct timespec	 ts = { 0, 50 * 1000 * 1000 };
	int		 waited;

	for (waited = 0; waited < timeout_ms; waited += 50) {
		if (kill(pid, 0) == -1 && errno == ESRCH)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* QMP quit, then SIGKILL when QEMU is still there after the timeout. */
static int
cmd_stop(struct vm_ctx *ctx)
{
	struct qmp	*qmp;
	char		 path[VM_PATH_MAX], err[QMP_ERR_MAX];
	pid_t		 pid;

	if ((pid = running_pid(ctx)) == 0) {
		fprintf(stderr, "mtunnelctl: VM %u is not running\n",
		    ctx->vmid);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/qmp", ctx->vmdir);
	if ((qmp = qmp_open(path, QMP_TIMEOUT_MS, err, sizeof(err))) == NULL)
		fprintf(stderr, "mtunnelctl: VM %u: QMP %s: %s\n", ctx->vmid,
		    path, err);
	else {
		if (qmp_command(qmp, "quit", NULL, -1, NULL, QMP_TIMEOUT_MS,
		    err, sizeof(err)) == -1)
			fprintf(stderr, "mtunnelctl: VM %u: QMP quit: %s\n",
			    ctx->vmid, err);
		qmp_close(qmp);
	}
	if (wait_gone(pid, STOP_TIMEOUT_MS) == -1) {
		fprintf(stderr, "mtunnelctl: VM %u: QEMU (pid %d) still runs "
		    "%d s after quit; sending SIGKILL\n", ctx->vmid, (int)pid,
		    STOP_TIMEOUT_MS / 1000);
		kill(pid, SIGKILL);
		if (wait_gone(pid, QMP_TIMEOUT_MS) == -1) {
			fprintf(stderr, "mtunnelctl: VM %u: pid %d did not "
			    "exit\n", ctx->vmid, (int)pid);
			return 1;
		}
	}
	snprintf(path, sizeof(path), "%s/pid", ctx->vmdir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/qemu.pid", ctx->vmdir);
	(void)unlink(path);
	remove_taps(ctx, 1);
	printf("VM %u stopped\n", ctx->vmid);
	return 0;
}

int
ctl_vm_main(const struct mtunneld_conf *conf, int argc, char **argv)
{
	struct vm_ctx	*ctx;
	const char	*cmd = argv[0];
	int		 i = 1, rc;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return 1;
	ctx->conf = conf;
	if (strcmp(cmd, "stop") != 0 && i + 1 < argc &&
	    strcmp(argv[i], "--incoming") == 0) {
		ctx->incoming = argv[i + 1];
		i += 2;
	}
	if (i + 1 != argc || parse_vmid(argv[i], &ctx->vmid) == -1) {
		vm_usage();
		free(ctx);
		return 2;
	}
	snprintf(ctx->vmdir, sizeof(ctx->vmdir), "%s/%u", conf->rundir,
	    ctx->vmid);
	if (strcmp(cmd, "qemu-cmdline") == 0)
		rc = cmd_qemu_cmdline(ctx);
	else if (strcmp(cmd, "start") == 0)
		rc = cmd_start(ctx);
	else
		rc = cmd_stop(ctx);
	if (ctx->storages_loaded)
		storagecfg_free(&ctx->storages);
	free(ctx);
	return rc;
}
