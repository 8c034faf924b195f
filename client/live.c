/*
 * Live migration of a running VM: offline volumes (unusedN) through
 * disk-import, each attached disk through "disk" and a QEMU drive-mirror
 * to the target's NBD export, then the memory through QMP "migrate".
 * QEMU connects to local UNIX listeners in a private directory, and
 * each connection is relayed over its own websocket.
 *
 * QMP commands run in a child process, one short connection each, while
 * this process keeps relaying: drive-mirror does not return before the
 * NBD handshake has crossed the relay.  A QEMU chardev socket serves
 * one client at a time, so this process keeps no QMP connection open
 * between commands.
 */

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/unistd.h>
#include <jansson.h>

#include "conf.h"
#include "qmp.h"
#include "storagecfg.h"
#include "vmconfig.h"

#include "migrate.h"
#include "source.h"

#define T_DISK		600
#define T_START		60	/* the target's start timeout plus margin */
#define T_NBDSTOP	30
#define T_RESUME	30
#define T_STOP		10
#define T_UNLOCK	10
#define T_QUIT		30
#define T_BWLIMIT	10
#define QMP_TIMEOUT_MS	30000
#define POLL_MS		500	/* between query-block-jobs/query-migrate */
#define DRAIN_TIMEOUT_MS	30000	/* relays closing after the migration */
#define NO_LIMIT_BPS	(1024.0 * 1024 * 1024 * 1024)	/* 1 TiB/s */
#define MIB		(1024.0 * 1024.0)

struct live {
	struct migration	*m;
	char			 qmp_path[PATH_MAX];
	char			 dir[CONF_PATH_MAX + 32];	/* listeners */
	char			 mem_local[PATH_MAX];
	char			 nbd_local[PATH_MAX];
	char			 mem_remote[256];
	char			 nbd_remote[256];
	char			 machine[64];	/* forcemachine */
	char			 nbd_uri[VOLUMES_MAX][512];
	double			 mem_limit;	/* KiB/s, 0 for none */
	int			 started;	/* target QEMU runs */
	int			 mirrors;	/* drive-mirror jobs started */
	int			 migrating;
	int			 resumed;
};

/*
 * The source QEMU runs as the QEMU user (-runas), so the private
 * directory and the sockets in it belong to that user.  Only root and
 * that user can connect.
 */
static int
give_to_qemu(struct live *l, const char *path, char *err, size_t errlen)
{
	struct passwd	*pw;

	if ((pw = getpwnam(l->m->conf.qemu_user)) == NULL) {
		snprintf(err, errlen, "QEMU user '%s' not found",
		    l->m->conf.qemu_user);
		return -1;
	}
	if (chown(path, pw->pw_uid, pw->pw_gid) == -1) {
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Child side of qmp_call: one connection, one command, result on fd. */
static __attribute__((noreturn)) void
qmp_child(const char *path, const char *cmd, json_t *args, int fd)
{
	struct qmp	*q;
	json_t		*ret = NULL;
	char		 err[QMP_ERR_MAX], *text;
	int		 rv;

	if ((q = qmp_open(path, QMP_TIMEOUT_MS, err, sizeof(err))) == NULL)
		rv = -1;
	else {
		rv = qmp_command(q, cmd, args, -1, &ret, QMP_TIMEOUT_MS, err,
		    sizeof(err));
		qmp_close(q);
	}
	if (rv == -1)
		text = json_dumps(json_pack("{s:s}", "error", err),
		    JSON_COMPACT);
	else
		text = json_dumps(json_pack("{s:O?}", "return", ret),
		    JSON_COMPACT | JSON_ENCODE_ANY);
	if (text != NULL)
		(void)!write(fd, text, strlen(text));
	_exit(rv == -1 ? 1 : 0);
}

/* Read the child's result while relaying; stop at EOF or timeout. */
static int
qmp_wait_child(struct live *l, int fd, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	double		 deadline = now_seconds() + QMP_TIMEOUT_MS / 1000.0 + 5;
	char		 buf[4096], *p;
	ssize_t		 n;

	for (;;) {
		if (relay_poll(l->m->client, err, errlen) == -1)
			return -1;
		client_service(l->m->client, 5);
		if (poll(&pfd, 1, 0) > 0) {
			if ((n = read(fd, buf, sizeof(buf))) <= 0)
				return 0;
			if ((p = realloc(*out, *outlen + n + 1)) == NULL)
				return -1;
			memcpy(p + *outlen, buf, n);
			*outlen += n;
			p[*outlen] = '\0';
			*out = p;
		}
		if (now_seconds() > deadline) {
			snprintf(err, errlen, "QMP command timed out");
			return -1;
		}
	}
}

/*
 * Run a QMP command on the source VM in a child process while relaying.
 * Returns 0 with *ret (a new reference, or NULL when ret is NULL), or -1
 * with QEMU's error in err.
 */
static int
qmp_call(struct live *l, const char *cmd, json_t *args, json_t **ret,
    char *err, size_t errlen)
{
	int	 fds[2], status;
	pid_t	 pid;
	char	*out = NULL;
	size_t	 outlen = 0;
	json_t	*res;

	if (pipe2(fds, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		snprintf(err, errlen, "QMP %s: %s", cmd, strerror(errno));
		json_decref(args);
		return -1;
	}
	if (pid == 0) {
		/*
		 * The child must not keep the websockets and relayed
		 * sockets open, and must die with this process.
		 */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(fds[1], 3) == -1)
			_exit(1);
		closefrom(4);
		qmp_child(l->qmp_path, cmd, args, 3);
	}
	close(fds[1]);
	json_decref(args);
	if (qmp_wait_child(l, fds[0], &out, &outlen, err, errlen) == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		close(fds[0]);
		free(out);
		return -1;
	}
	close(fds[0]);
	waitpid(pid, &status, 0);
	res = out != NULL ? json_loads(out, 0, NULL) : NULL;
	free(out);
	if (res == NULL || json_object_get(res, "error") != NULL) {
		snprintf(err, errlen, "QMP %s failed: %s", cmd, res ?
		    json_string_value(json_object_get(res, "error")) :
		    "no result");
		json_decref(res);
		return -1;
	}
	if (ret != NULL)
		*ret = json_incref(json_object_get(res, "return"));
	json_decref(res);
	return 0;
}

/* The parsed drive as the source sends it with "disk". */
static json_t *
drive_hash(struct migration *m, const struct volume *v)
{
	static const char *const buses[] = {
		"ide", "sata", "scsi", "virtio", "efidisk", "unused"
	};
	struct drive	*d;
	char		 text[VMCONFIG_VALUE_MAX + 1], why[256], *p, *eq;
	char		*next;
	json_t		*h = NULL;

	if ((d = malloc(sizeof(*d))) == NULL)
		return NULL;
	if (parse_drive(v->key, vmconfig_get(&m->src.cfg, v->key), m->vmid,
	    d, why, sizeof(why)) == -1 || print_drive(d, text,
	    sizeof(text)) == -1)
		goto out;
	h = json_pack("{s:s,s:i,s:I}", "interface", buses[d->bus], "index",
	    (int)d->index, "size", (json_int_t)v->size);
	for (next = strchr(text, ','); next != NULL;) {
		p = next + 1;
		next = strchr(p, ',');
		if (next != NULL)
			*next = '\0';
		if ((eq = strchr(p, '=')) == NULL)
			continue;
		*eq = '\0';
		if (strcmp(p, "size") != 0 && strcmp(p, "format") != 0)
			json_object_set_new(h, p, json_string(eq + 1));
		if (next != NULL)
			*next = ',';
	}
out:
	free(d);
	return h;
}

static int
alloc_disk(struct live *l, struct volume *v, char *err, size_t errlen)
{
	struct migration	*m = l->m;
	json_t			*req, *reply, *hash;
	const char		*drivestr, *volid;
	int			 rv = -1;

	if ((hash = drive_hash(m, v)) == NULL) {
		snprintf(err, errlen, "%s: cannot describe the drive", v->key);
		return -1;
	}
	req = json_pack("{s:s,s:s,s:s,s:o}", "cmd", "disk", "format",
	    v->format, "storage", v->target_storage, "drive", hash);
	if (command(m, req, T_DISK, &reply, err, errlen) == -1)
		return -1;
	drivestr = json_string_value(json_object_get(reply, "drivestr"));
	volid = json_string_value(json_object_get(reply, "volid"));
	if (drivestr == NULL || volid == NULL)
		snprintf(err, errlen, "disk for %s: reply without drivestr "
		    "and volid", v->key);
	else {
		strlcpy(v->drivestr, drivestr, sizeof(v->drivestr));
		strlcpy(v->target_volid, volid, sizeof(v->target_volid));
		say("%s: allocated %s on the target", v->key, volid);
		rv = 0;
	}
	json_decref(reply);
	return rv;
}

static json_t *
start_request(struct live *l)
{
	struct migration	*m = l->m;
	json_t			*nbd = json_object(), *req;
	char			 host[256];
	size_t			 i;

	for (i = 0; i < m->src.nvolumes; i++) {
		if (!m->src.volumes[i].online)
			continue;
		json_object_set_new(nbd, m->src.volumes[i].key,
		    json_pack("{s:s,s:s}", "drivestr",
		    m->src.volumes[i].drivestr, "volid",
		    m->src.volumes[i].target_volid));
	}
	if (gethostname(host, sizeof(host)) == -1 || !valid_node_name(host))
		strlcpy(host, "localhost", sizeof(host));
	req = json_pack("{s:s,s:{s:s,s:b},s:{s:s,s:i,s:o,s:s,s:s}}",
	    "cmd", "start",
	    "start_params", "statefile", "unix", "skiplock", 1,
	    "migrate_opts", "type", "websocket", "nbd_proto_version", 1,
	    "nbd", nbd, "migratedfrom", host, "remote_node", m->node);
	if (req != NULL && l->machine[0] != '\0')
		json_object_set_new(json_object_get(req, "start_params"),
		    "forcemachine", json_string(l->machine));
	return req;
}

/*
 * The machine type the source VM runs, as Proxmox VE sends it in
 * forcemachine: the QOM type without "-machine", plus "+pve0".
 */
static int
running_machine(struct live *l, char *err, size_t errlen)
{
	json_t		*type = NULL;
	const char	*s;
	size_t		 len;

	if (qmp_call(l, "qom-get", json_pack("{s:s, s:s}", "path",
	    "/machine", "property", "type"), &type, err, errlen) == -1)
		return -1;
	s = json_string_value(type);
	len = s != NULL ? strlen(s) : 0;
	if (len <= 8 || strcmp(s + len - 8, "-machine") != 0 ||
	    len - 8 + 6 >= sizeof(l->machine)) {
		snprintf(err, errlen, "source QEMU runs an unexpected machine "
		    "type '%s'", s != NULL ? s : "?");
		json_decref(type);
		return -1;
	}
	snprintf(l->machine, sizeof(l->machine), "%.*s+pve0",
	    (int)(len - 8), s);
	json_decref(type);
	return 0;
}

/* "nbd:unix:<remote>:exportname=X" with the local listener's path. */
static int
local_nbd_uri(struct live *l, const char *uri, char *out, size_t outlen)
{
	const char	*path, *tail;

	if (strncmp(uri, "nbd:unix:", 9) != 0)
		return -1;
	path = uri + 9;
	if ((tail = strstr(path, ":exportname=")) == NULL)
		return -1;
	if ((size_t)(tail - path) >= sizeof(l->nbd_remote))
		return -1;
	if (l->nbd_remote[0] == '\0')
		snprintf(l->nbd_remote, sizeof(l->nbd_remote), "%.*s",
		    (int)(tail - path), path);
	else if (strncmp(l->nbd_remote, path, tail - path) != 0)
		return -1;
	if ((size_t)snprintf(out, outlen, "nbd:unix:%s%s", l->nbd_local,
	    tail) >= outlen)
		return -1;
	return 0;
}

static int
start_reply(struct live *l, json_t *reply, char *err, size_t errlen)
{
	struct migration	*m = l->m;
	json_t			*mig = json_object_get(reply, "migrate");
	json_t			*drives = json_object_get(reply, "drives");
	const char		*proto, *addr, *uri;
	size_t			 i, n = 0;

	proto = json_string_value(json_object_get(mig, "proto"));
	addr = json_string_value(json_object_get(mig, "addr"));
	if (proto == NULL || strcmp(proto, "unix") != 0 || addr == NULL ||
	    strlcpy(l->mem_remote, addr, sizeof(l->mem_remote)) >=
	    sizeof(l->mem_remote)) {
		snprintf(err, errlen, "start replied without a unix "
		    "migration socket");
		return -1;
	}
	for (i = 0; i < m->src.nvolumes; i++) {
		if (!m->src.volumes[i].online)
			continue;
		n++;
		uri = json_string_value(json_object_get(json_object_get(
		    drives, m->src.volumes[i].key), "nbd_uri"));
		if (uri == NULL || local_nbd_uri(l, uri, l->nbd_uri[i],
		    sizeof(l->nbd_uri[i])) == -1) {
			snprintf(err, errlen, "start replied without a valid "
			    "NBD URI for %s", m->src.volumes[i].key);
			return -1;
		}
	}
	if (json_object_size(drives) != n) {
		snprintf(err, errlen, "The number of local disks does not "
		    "match between the source and the destination.");
		return -1;
	}
	return 0;
}

static int
start_target(struct live *l, char *err, size_t errlen)
{
	json_t	*reply;
	int	 rv;

	if (running_machine(l, err, errlen) == -1)
		return -1;
	if (command(l->m, start_request(l), T_START, &reply, err, errlen) ==
	    -1)
		return -1;
	l->started = 1;
	rv = start_reply(l, reply, err, errlen);
	json_decref(reply);
	if (rv == -1)
		return -1;
	say("target VM started, migration socket %s", l->mem_remote);
	if (relay_listen(l->m->client, l->mem_local, l->mem_remote, err,
	    errlen) == -1 ||
	    give_to_qemu(l, l->mem_local, err, errlen) == -1)
		return -1;
	if (l->nbd_remote[0] != '\0' && (relay_listen(l->m->client,
	    l->nbd_local, l->nbd_remote, err, errlen) == -1 ||
	    give_to_qemu(l, l->nbd_local, err, errlen) == -1))
		return -1;
	return 0;
}

static int
start_mirrors(struct live *l, char *err, size_t errlen)
{
	struct migration	*m = l->m;
	struct volume		*v;
	char			 job[32], dev[32];
	json_t			*args;
	size_t			 i;

	for (i = 0; i < m->src.nvolumes; i++) {
		v = &m->src.volumes[i];
		if (!v->online)
			continue;
		snprintf(job, sizeof(job), "mirror-%s", v->key);
		snprintf(dev, sizeof(dev), "drive-%s", v->key);
		args = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "job-id", job,
		    "device", dev, "target", l->nbd_uri[i], "sync", "full",
		    "mode", "existing", "format", "nbd");
		if (m->limits[i] > 0)
			json_object_set_new(args, "speed",
			    json_integer((json_int_t)(m->limits[i] * 1024)));
		say("%s: starting drive-mirror to the target", v->key);
		if (qmp_call(l, "drive-mirror", args, NULL, err, errlen) == -1)
			return -1;
		l->mirrors++;
	}
	return 0;
}

/* Poll the mirror jobs until all are ready, with a bar for each. */
static int
wait_mirrors_ready(struct live *l, char *err, size_t errlen)
{
	struct progress	 bars[VOLUMES_MAX];
	json_t		*jobs, *j;
	size_t		 i, k, ready, n = (size_t)l->mirrors;

	if (n == 0)
		return 0;
	memset(bars, 0, sizeof(bars));
	for (;;) {
		if (client_interrupted()) {
			snprintf(err, errlen, "interrupted");
			return -1;
		}
		if (qmp_call(l, "query-block-jobs", NULL, &jobs, err,
		    errlen) == -1)
			return -1;
		ready = 0;
		json_array_foreach(jobs, i, j) {
			const char	*dev = json_string_value(
			    json_object_get(j, "device"));
			uint64_t	 off = json_integer_value(
			    json_object_get(j, "offset"));
			uint64_t	 len = json_integer_value(
			    json_object_get(j, "len"));

			if (dev == NULL || strncmp(dev, "mirror-", 7) != 0)
				continue;
			k = i < VOLUMES_MAX ? i : VOLUMES_MAX - 1;
			if (bars[k].start == 0)
				progress_begin(&bars[k], dev + 7, len);
			bars[k].total = len;
			progress_update(&bars[k], off);
			if (json_is_true(json_object_get(j, "ready")))
				ready++;
		}
		json_decref(jobs);
		if (ready >= n)
			break;
		if (i < n) {
			snprintf(err, errlen, "a drive-mirror job ended "
			    "before it was ready");
			return -1;
		}
		client_service(l->m->client, POLL_MS);
	}
	for (k = 0; k < n && k < VOLUMES_MAX; k++)
		if (bars[k].start != 0)
			progress_end(&bars[k]);
	say("all mirrors ready");
	return 0;
}

static int
memory_limit(struct live *l, char *err, size_t errlen)
{
	struct migration	*m = l->m;
	json_t			*req, *reply, *bw;
	double			 remote;

	req = json_pack("{s:s,s:s,s:[n],s:o}", "cmd", "bwlimit", "operation",
	    "migration", "storages", "bwlimit", m->bwlimit > 0 ?
	    json_integer((json_int_t)m->bwlimit) : json_null());
	if (command(m, req, T_BWLIMIT, &reply, err, errlen) == -1)
		return -1;
	bw = json_object_get(reply, "bwlimit");
	l->mem_limit = m->bwlimit;
	if (json_is_number(bw) && (remote = json_number_value(bw)) > 0 &&
	    (l->mem_limit == 0 || remote < l->mem_limit))
		l->mem_limit = remote;
	json_decref(reply);
	return 0;
}

static int
start_memory(struct live *l, char *err, size_t errlen)
{
	char	 uri[PATH_MAX + 8];
	double	 bps;

	if (memory_limit(l, err, errlen) == -1)
		return -1;
	bps = l->mem_limit > 0 ? l->mem_limit * 1024 : NO_LIMIT_BPS;
	if (l->mem_limit > 0)
		say("memory: bandwidth limit %.0f KiB/s", l->mem_limit);
	if (qmp_call(l, "migrate-set-parameters", json_pack("{s:I}",
	    "max-bandwidth", (json_int_t)bps), NULL, err, errlen) == -1)
		return -1;
	snprintf(uri, sizeof(uri), "unix:%s", l->mem_local);
	say("starting the memory migration");
	if (qmp_call(l, "migrate", json_pack("{s:s}", "uri", uri), NULL, err,
	    errlen) == -1)
		return -1;
	l->migrating = 1;
	return 0;
}

/* Poll query-migrate until completed; report downtime and rate. */
static int
wait_memory(struct live *l, char *err, size_t errlen)
{
	struct progress	 bar;
	json_t		*info, *ram;
	const char	*status;

	progress_begin(&bar, "memory", 0);
	for (;;) {
		if (client_interrupted()) {
			snprintf(err, errlen, "interrupted");
			return -1;
		}
		if (qmp_call(l, "query-migrate", NULL, &info, err, errlen) ==
		    -1)
			return -1;
		status = json_string_value(json_object_get(info, "status"));
		ram = json_object_get(info, "ram");
		bar.total = json_integer_value(json_object_get(ram, "total"));
		progress_update(&bar, json_integer_value(json_object_get(ram,
		    "transferred")));
		if (status != NULL && strcmp(status, "completed") == 0) {
			progress_end(&bar);
			say("memory migrated: downtime %lld ms, total %lld ms",
			    (long long)json_integer_value(json_object_get(info,
			    "downtime")), (long long)json_integer_value(
			    json_object_get(info, "total-time")));
			json_decref(info);
			return 0;
		}
		if (status != NULL && (strcmp(status, "failed") == 0 ||
		    strcmp(status, "cancelled") == 0)) {
			snprintf(err, errlen, "memory migration %s: %s",
			    status, json_string_value(json_object_get(info,
			    "error-desc")) ?: "no reason given");
			json_decref(info);
			return -1;
		}
		json_decref(info);
		client_service(l->m->client, POLL_MS);
	}
}

/* Cancel every mirror job; after "ready" that leaves the target whole. */
static int
finish_mirrors(struct live *l, int wait, char *err, size_t errlen)
{
	struct migration	*m = l->m;
	char			 job[32];
	json_t			*jobs;
	size_t			 i, tries;

	for (i = 0; i < m->src.nvolumes; i++) {
		if (!m->src.volumes[i].online)
			continue;
		snprintf(job, sizeof(job), "mirror-%s", m->src.volumes[i].key);
		qmp_call(l, "block-job-cancel", json_pack("{s:s}", "device",
		    job), NULL, err, errlen);
	}
	for (tries = 0; wait && tries < 120; tries++) {
		if (qmp_call(l, "query-block-jobs", NULL, &jobs, err,
		    errlen) == -1)
			return -1;
		i = json_array_size(jobs);
		json_decref(jobs);
		if (i == 0) {
			l->mirrors = 0;
			return 0;
		}
		client_service(m->client, POLL_MS);
	}
	if (wait) {
		snprintf(err, errlen, "mirror jobs did not finish");
		return -1;
	}
	return 0;
}

/* After memory and disks arrived: the target runs, the source stops. */
static int
finish(struct live *l, char *err, size_t errlen)
{
	struct migration	*m = l->m;
	char			 why[ERR_MAX];
	int			 waited;

	/*
	 * QEMU on the source reports "completed" once it has written the
	 * last byte to our socket: let the relays deliver it and close
	 * before the target is resumed and the tunnel ends.
	 */
	for (waited = 0; relay_count(m->client) > 0 &&
	    waited < DRAIN_TIMEOUT_MS; waited += POLL_MS)
		client_service(m->client, POLL_MS);
	if (relay_count(m->client) > 0) {
		say("warning: %d streams still open %d s after the migration "
		    "completed", relay_count(m->client),
		    DRAIN_TIMEOUT_MS / 1000);
		relay_report(m->client);
	}

	if (l->nbd_remote[0] != '\0' && command(m, json_pack("{s:s}", "cmd",
	    "nbdstop"), T_NBDSTOP, NULL, why, sizeof(why)) == -1)
		say("warning: nbdstop failed: %s", why);
	if (command(m, json_pack("{s:s}", "cmd", "resume"), T_RESUME, NULL,
	    err, errlen) == -1)
		return -1;
	l->resumed = 1;
	say("target VM resumed");
	if (qmp_call(l, "quit", NULL, NULL, why, sizeof(why)) == -1)
		say("warning: stopping the source VM failed: %s", why);
	else
		say("source VM stopped");
	if (command(m, json_pack("{s:s}", "cmd", "unlock"), T_UNLOCK, NULL,
	    why, sizeof(why)) == -1)
		say("warning: unlock on the target failed: %s", why);
	if (command(m, json_pack("{s:s,s:i}", "cmd", "quit", "cleanup", 0),
	    T_QUIT, NULL, why, sizeof(why)) == -1)
		say("warning: quit on the target failed: %s", why);
	return 0;
}

/* A failure after start: cancel on the source, stop the target. */
static void
abort_phase2(struct live *l)
{
	json_t	*st;
	char	 why[ERR_MAX];

	client_cleanup_mode(l->m->client);
	if (l->migrating)
		qmp_call(l, "migrate_cancel", NULL, NULL, why, sizeof(why));
	if (l->mirrors > 0)
		finish_mirrors(l, 0, why, sizeof(why));
	if (qmp_call(l, "query-status", NULL, &st, why, sizeof(why)) == 0) {
		if (!json_is_true(json_object_get(st, "running")))
			qmp_call(l, "cont", NULL, NULL, why, sizeof(why));
		json_decref(st);
	}
	if (l->started && command(l->m, json_pack("{s:s}", "cmd", "stop"),
	    T_STOP, NULL, why, sizeof(why)) == -1)
		fprintf(stderr, "mtunnel-migrate: stop on the target failed: "
		    "%s\n", why);
}

static int
phase1(struct live *l, char *err, size_t errlen)
{
	struct migration	*m = l->m;
	size_t			 i;

	for (i = 0; i < m->src.nvolumes; i++)
		if (volume_bwlimit(m, m->src.volumes[i].target_storage,
		    &m->limits[i], err, errlen) == -1)
			return -1;
	for (i = 0; i < m->src.nvolumes; i++)
		if (!m->src.volumes[i].online && import_volume(m,
		    &m->src.volumes[i], m->limits[i], err, errlen) == -1)
			return -1;
	for (i = 0; i < m->src.nvolumes; i++)
		if (m->src.volumes[i].online &&
		    alloc_disk(l, &m->src.volumes[i], err, errlen) == -1)
			return -1;
	if (send_config(m, err, errlen) == -1)
		return -1;
	say("config sent to the target");
	return 0;
}

static int
phase2(struct live *l, char *err, size_t errlen)
{
	if (start_target(l, err, errlen) == -1 ||
	    start_mirrors(l, err, errlen) == -1 ||
	    wait_mirrors_ready(l, err, errlen) == -1 ||
	    start_memory(l, err, errlen) == -1 ||
	    wait_memory(l, err, errlen) == -1 ||
	    finish_mirrors(l, 1, err, errlen) == -1)
		return -1;
	l->migrating = 0;
	return 0;
}

static void
live_cleanup(struct live *l)
{
	relay_unlisten(l->m->client);
	if (l->dir[0] != '\0')
		rmdir(l->dir);
}

int
migrate_live(struct migration *m, char *err, size_t errlen)
{
	struct live	 l;
	int		 rv = -1;

	memset(&l, 0, sizeof(l));
	l.m = m;
	snprintf(l.qmp_path, sizeof(l.qmp_path), "%s/%u/qmp", m->conf.rundir,
	    m->vmid);
	/* Beside the VM's own run directory, which QEMU's user can reach. */
	if ((size_t)snprintf(l.dir, sizeof(l.dir), "%s/migrate-%u.XXXXXX",
	    m->conf.rundir, m->vmid) >= sizeof(l.dir) ||
	    mkdtemp(l.dir) == NULL) {
		snprintf(err, errlen, "mkdtemp %s: %s", l.dir,
		    strerror(errno));
		l.dir[0] = '\0';
		return -1;
	}
	if (give_to_qemu(&l, l.dir, err, errlen) == -1) {
		live_cleanup(&l);
		return -1;
	}
	snprintf(l.mem_local, sizeof(l.mem_local), "%s/migrate", l.dir);
	snprintf(l.nbd_local, sizeof(l.nbd_local), "%s/nbd", l.dir);
	client_set_tunnel(m->client, m->node, m->target_vmid);

	if (phase1(&l, err, errlen) == 0) {
		if (phase2(&l, err, errlen) == 0)
			rv = finish(&l, err, errlen);
		if (rv == -1 && !l.resumed)
			abort_phase2(&l);
	}
	live_cleanup(&l);
	if (rv == 0 || l.resumed)
		m->tunnel_open = 0;
	return rv;
}
