/*
 * disk-import: one offline volume streamed into a new file.
 *
 * priv reserves the volume, creates the listening socket <vmid>.storage
 * and forks a short-lived child that accepts one connection within 30 s,
 * reads the 8-byte little-endian size header and exactly that many bytes
 * into the file, fsyncs it and reports through a pipe.  Both stream
 * formats are written byte for byte, with blocks of zeros left as holes:
 * raw+size carries the raw image, qcow2+size the qcow2 file as it is.
 * A stream that ends early or carries more than its header announced is
 * an error.  Then priv has the spawner run
 * "qemu-img info" on the file as the QEMU user, and rejects a qcow2 with
 * a backing file, an external data file or a json: name.  A rejected or
 * failed import frees the volume.  One import runs per VMID at a time,
 * and its state stays until query-disk-import has reported the end.
 *
 * The child inherits priv's seccomp filter: it uses only calls on that
 * list (prctl, getppid, poll, accept4, read, pwrite64, ftruncate, fsync,
 * write, close).
 */

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "auditlog.h"
#include "log.h"
#include "priv.h"

#define IMPORT_PROGRESS_MS	1000	/* at most one progress report */

enum import_state {
	IMPORT_RECEIVING,	/* the child runs */
	IMPORT_INSPECTING,	/* qemu-img info runs */
	IMPORT_COMPLETE,
	IMPORT_FAILED,
};

enum import_report_kind {
	IMPORT_REPORT_PROGRESS,
	IMPORT_REPORT_DONE,
	IMPORT_REPORT_FAILED,
};

/* Child -> priv over the report pipe; smaller than PIPE_BUF. */
struct import_report {
	uint32_t	 kind;
	uint32_t	 pad;
	uint64_t	 received;
	uint64_t	 total;
	char		 msg[PRIV_MSG_MAX];
};

struct import {
	TAILQ_ENTRY(import)	 entry;
	uint32_t		 vmid;
	uint32_t		 serial;	/* to spot a late callback */
	enum import_state	 state;
	pid_t			 pid;		/* 0 once reaped */
	pid_t			 child;		/* for messages */
	int			 reportfd;
	int			 volfd;
	int			 streamed;	/* DONE report read */
	struct import_report	 report;	/* the last one */
	size_t			 reportlen;	/* bytes of a partial one */
	struct volume		 vol;
	char			 error[PRIV_MSG_MAX];
};

static TAILQ_HEAD(, import)	 imports = TAILQ_HEAD_INITIALIZER(imports);
static uint32_t			 import_serial;

static struct import *
import_find(uint32_t vmid)
{
	struct import	*im;

	TAILQ_FOREACH(im, &imports, entry)
		if (im->vmid == vmid)
			return im;
	return NULL;
}

int
import_running(uint32_t vmid)
{
	struct import	*im = import_find(vmid);

	return im != NULL && im->pid > 0 ? im->pid : 0;
}

/*
 * Target name of an import from the source's hint: "<vmid>/<name>.<fmt>"
 * with a trailing known format extension of the hint replaced by fmt.
 * The name must start with "vm-<vmid>-", as upstream's alloc_image
 * requires.  Stores the file name in name.  Returns 0, or -1 with msg.
 */
int
import_target_name(const char *hint, uint32_t vmid, const char *fmt,
    char *name, size_t namelen, char *msg, size_t msglen)
{
	struct image_volname	 iv;
	char			 base[VOLNAME_MAX], volname[VOLNAME_MAX + 16];
	char			 prefix[32], err[256], *dot;

	if (strlcpy(base, hint, sizeof(base)) >= sizeof(base))
		goto bad;
	if ((dot = strrchr(base, '.')) != NULL &&
	    image_format_parse(dot + 1) != -1)
		*dot = '\0';
	snprintf(prefix, sizeof(prefix), "vm-%u-", vmid);
	if (strncmp(base, prefix, strlen(prefix)) != 0) {
		snprintf(msg, msglen, "illegal name '%s' - should be "
		    "'vm-%u-*'\n", hint, vmid);
		return -1;
	}
	snprintf(volname, sizeof(volname), "%u/%s.%s", vmid, base, fmt);
	if (dir_parse_image_volname(volname, &iv, err, sizeof(err)) == -1 ||
	    iv.vmid != vmid || iv.is_base)
		goto bad;
	if (strlcpy(name, iv.name, namelen) >= namelen)
		goto bad;
	return 0;
bad:
	snprintf(msg, msglen, "invalid volume name '%s'\n", hint);
	return -1;
}

/*
 * The transfer format for a target volume of format fmt, if the source
 * offers it in export_formats (a split_list): raw+size for raw,
 * qcow2+size for qcow2.  Returns 0 with out set, or -1.
 */
int
import_pick_format(const char *export_formats, enum image_format fmt,
    char *out, size_t outlen)
{
	struct strlist	 list;
	char		 want[32];
	int		 found;

	snprintf(want, sizeof(want), "%s+size", image_format_name(fmt));
	if (split_list(export_formats, strlen(export_formats), &list) == -1)
		return -1;
	found = strlist_contains(&list, want);
	strlist_free(&list);
	if (!found)
		return -1;
	strlcpy(out, want, outlen);
	return 0;
}

uint64_t
import_header_size(const unsigned char *hdr)
{
	uint64_t	 v;

	memcpy(&v, hdr, sizeof(v));
	return le64toh(v);
}

static int64_t
monotonic_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One stream being copied, and when its progress was last reported. */
struct copier {
	int			 in;
	int			 out;
	struct import_progress	*prog;
	void			(*report)(const struct import_progress *,
				    void *);
	void			*arg;
	int64_t			 reported_at;	/* monotonic ms */
	uint64_t		 reported;	/* bytes in that report */
};

/*
 * Report progress if it changed and IMPORT_PROGRESS_MS have passed, or
 * at once for the first bytes, so a stalled stream shows what came.
 */
static void
copier_report(struct copier *c)
{
	int64_t	 now = monotonic_ms();

	if (c->report == NULL || c->prog->received == c->reported ||
	    (c->reported != 0 && now - c->reported_at < IMPORT_PROGRESS_MS))
		return;
	c->report(c->prog, c->arg);
	c->reported_at = now;
	c->reported = c->prog->received;
}

/*
 * Read what is there, waiting at most IMPORT_IDLE_TIMEOUT_MS for the
 * first byte.  Returns the count, 0 at end of stream, -1 on an error.
 */
static ssize_t
read_idle(struct copier *c, void *buf, size_t len, char *err, size_t errlen)
{
	struct pollfd	 pfd = { c->in, POLLIN, 0 };
	int64_t		 end = monotonic_ms() + IMPORT_IDLE_TIMEOUT_MS;
	ssize_t		 n;
	int		 rv;

	for (;;) {
		rv = poll(&pfd, 1, IMPORT_PROGRESS_MS);
		if (rv == -1 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
		if (rv > 0)
			break;
		copier_report(c);
		if (monotonic_ms() >= end) {
			snprintf(err, errlen, "no data for %d s",
			    IMPORT_IDLE_TIMEOUT_MS / 1000);
			return -1;
		}
	}
	do
		n = read(c->in, buf, len);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		snprintf(err, errlen, "read: %s", strerror(errno));
	return n;
}

static int
all_zero(const unsigned char *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

static int
write_at(int fd, const unsigned char *p, size_t len, uint64_t off)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = pwrite(fd, p, len, (off_t)off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

static int
read_header(struct copier *c, char *err, size_t errlen)
{
	unsigned char	 hdr[IMPORT_HEADER_SIZE];
	size_t		 got = 0;
	ssize_t		 n;

	while (got < sizeof(hdr)) {
		if ((n = read_idle(c, hdr + got, sizeof(hdr) - got, err,
		    errlen)) == -1)
			return -1;
		if (n == 0) {
			snprintf(err, errlen, "stream ended after %zu bytes, "
			    "before its 8-byte size header", got);
			return -1;
		}
		got += n;
	}
	c->prog->total = import_header_size(hdr);
	if (c->prog->total > INT64_MAX) {
		snprintf(err, errlen, "size header %" PRIu64 " is too large",
		    c->prog->total);
		return -1;
	}
	return 0;
}

/* After the last byte the header promised, only the end may follow. */
static int
expect_end(struct copier *c, char *err, size_t errlen)
{
	unsigned char	 byte;
	ssize_t		 n;

	if ((n = read_idle(c, &byte, 1, err, errlen)) == -1)
		return -1;
	if (n > 0) {
		snprintf(err, errlen, "stream is longer than its size header "
		    "of %" PRIu64 " bytes", c->prog->total);
		return -1;
	}
	return 0;
}

/* Read the image bytes the header announced into the file. */
static int
copy_body(struct copier *c, char *err, size_t errlen)
{
	static unsigned char	 buf[IMPORT_BLOCK];
	struct import_progress	*prog = c->prog;
	size_t			 want;
	ssize_t			 n;

	while (prog->received < prog->total) {
		want = prog->total - prog->received < sizeof(buf) ?
		    (size_t)(prog->total - prog->received) : sizeof(buf);
		if ((n = read_idle(c, buf, want, err, errlen)) == -1)
			return -1;
		if (n == 0) {
			snprintf(err, errlen, "stream ended after %" PRIu64
			    " of %" PRIu64 " bytes", prog->received,
			    prog->total);
			return -1;
		}
		if (!all_zero(buf, n) && write_at(c->out, buf, n,
		    prog->received) == -1) {
			snprintf(err, errlen, "write to the volume: %s",
			    strerror(errno));
			return -1;
		}
		prog->received += n;
		copier_report(c);
	}
	return 0;
}

/*
 * Copy a size-prefixed stream from in to the file out: the 8-byte header,
 * then exactly that many bytes, then the end of the stream.  out is cut
 * to the size first and blocks of zeros are skipped, so they stay holes.
 * report (may be NULL) gets the progress: the first bytes at once, then
 * at most once per IMPORT_PROGRESS_MS, also while the stream stalls.
 * Returns 0, or -1 with err set.
 */
int
import_copy(int in, int out, struct import_progress *prog,
    void (*report)(const struct import_progress *, void *), void *arg,
    char *err, size_t errlen)
{
	struct copier	 c = { in, out, prog, report, arg, 0, 0 };

	prog->received = prog->total = 0;
	if (read_header(&c, err, errlen) == -1)
		return -1;
	if (ftruncate(out, (off_t)prog->total) == -1) {
		snprintf(err, errlen, "cannot size the volume to %" PRIu64
		    " bytes: %s", prog->total, strerror(errno));
		return -1;
	}
	if (copy_body(&c, err, errlen) == -1)
		return -1;
	return expect_end(&c, err, errlen);
}

static void
child_report(int fd, uint32_t kind, const struct import_progress *prog,
    const char *msg)
{
	struct import_report	 r;
	ssize_t			 n;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.received = prog->received;
	r.total = prog->total;
	strlcpy(r.msg, msg, sizeof(r.msg));
	do
		n = write(fd, &r, sizeof(r));
	while (n == -1 && errno == EINTR);
}

static void
child_progress(const struct import_progress *prog, void *arg)
{
	child_report(*(int *)arg, IMPORT_REPORT_PROGRESS, prog, "");
}

/* Accept one connection within IMPORT_ACCEPT_TIMEOUT_MS. */
static int
child_accept(int lfd, char *err, size_t errlen)
{
	struct pollfd	 pfd = { lfd, POLLIN, 0 };
	int64_t		 end = monotonic_ms() + IMPORT_ACCEPT_TIMEOUT_MS;
	int		 rv, fd;

	do
		rv = poll(&pfd, 1, (int)(end - monotonic_ms() > 0 ?
		    end - monotonic_ms() : 0));
	while (rv == -1 && errno == EINTR);
	if (rv <= 0) {
		snprintf(err, errlen, "timed out waiting for client");
		return -1;
	}
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		snprintf(err, errlen, "accept: %s", strerror(errno));
	return fd;
}

static __attribute__((noreturn)) void
import_child(pid_t parent, int lfd, int volfd, int reportfd)
{
	struct import_progress	 prog = { 0, 0 };
	struct import		*other;
	char			 err[PRIV_MSG_MAX];
	int			 fd;

	/* The child must not outlive priv, which reads its report. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(1);
	priv_child_close_fds();
	TAILQ_FOREACH(other, &imports, entry)
		if (other->volfd != -1)
			close(other->volfd);
	fd = child_accept(lfd, err, sizeof(err));
	close(lfd);
	if (fd == -1 || import_copy(fd, volfd, &prog, child_progress,
	    &reportfd, err, sizeof(err)) == -1) {
		child_report(reportfd, IMPORT_REPORT_FAILED, &prog, err);
		_exit(1);
	}
	close(fd);
	if (fsync(volfd) == -1) {
		snprintf(err, sizeof(err), "fsync: %s", strerror(errno));
		child_report(reportfd, IMPORT_REPORT_FAILED, &prog, err);
		_exit(1);
	}
	child_report(reportfd, IMPORT_REPORT_DONE, &prog, "");
	_exit(0);
}

static void
import_free(struct import *im)
{
	TAILQ_REMOVE(&imports, im, entry);
	if (im->reportfd != -1) {
		priv_unwatch(im->reportfd);
		close(im->reportfd);
	}
	if (im->volfd != -1)
		close(im->volfd);
	free(im);
}

/* End the import with an error: free the volume, keep the message. */
static void
import_fail(struct import *im, const char *why)
{
	log_warnx("vmid %u: import of '%s' failed: %s", im->vmid,
	    im->vol.volid, why);
	if (im->error[0] == '\0')
		strlcpy(im->error, why, sizeof(im->error));
	audit_emit("import-failed", im->vmid, json_pack("{s:s, s:s}",
	    "volid", im->vol.volid, "reason", why));
	volume_release(im->vmid, &im->vol, "import failed");
	im->state = IMPORT_FAILED;
}

/*
 * Check the JSON that "qemu-img info --output=json" printed for a volume
 * of format fmt: the format must match, and there must be no backing
 * file, no external data file and no json: file name.  Returns 0, or -1
 * with err set.
 */
int
import_check_info(const char *text, size_t len, enum image_format fmt,
    char *err, size_t errlen)
{
	json_t		*info, *data;
	json_error_t	 jerr;
	const char	*format, *name;
	int		 rv = -1;

	if ((info = json_loadb(text, len, 0, &jerr)) == NULL ||
	    !json_is_object(info)) {
		snprintf(err, errlen, "unreadable qemu-img info output");
		json_decref(info);
		return -1;
	}
	format = json_string_value(json_object_get(info, "format"));
	name = json_string_value(json_object_get(info, "filename"));
	data = json_object_get(json_object_get(info, "format-specific"),
	    "data");
	if (format == NULL || strcmp(format, image_format_name(fmt)) != 0)
		snprintf(err, errlen, "image format is '%s', expected '%s'",
		    format ? format : "unknown", image_format_name(fmt));
	else if (json_object_get(info, "backing-filename") != NULL ||
	    json_object_get(info, "full-backing-filename") != NULL)
		snprintf(err, errlen, "image has a backing file");
	else if (json_object_get(data, "data-file") != NULL)
		snprintf(err, errlen, "image has an external data file");
	else if (name == NULL || strncmp(name, "json:", 5) == 0)
		snprintf(err, errlen, "image has a json: file name");
	else
		rv = 0;
	json_decref(info);
	return rv;
}

static void
import_inspected(void *arg, int error, int status, const char *out,
    size_t outlen)
{
	uint32_t	*ids = arg;
	struct import	*im = import_find(ids[0]);
	char		 why[PRIV_MSG_MAX];

	if (im == NULL || im->serial != ids[1] ||
	    im->state != IMPORT_INSPECTING) {
		free(ids);
		return;
	}
	free(ids);
	if (error != 0)
		snprintf(why, sizeof(why), "qemu-img info did not start: %s",
		    strerror(error));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		snprintf(why, sizeof(why), "qemu-img info ended with status "
		    "0x%x", (unsigned)status);
	else if (import_check_info(out, outlen, im->vol.format, why,
	    sizeof(why)) == 0) {
		if (fchown(im->volfd, 0, 0) == -1)
			snprintf(why, sizeof(why), "fchown: %s",
			    strerror(errno));
		else if (journal_append(im->vmid, "volume-imported",
		    im->vol.volid, im->vol.path) == -1)
			snprintf(why, sizeof(why), "unable to write the "
			    "journal");
		else {
			log_info("vmid %u: imported '%s'", im->vmid,
			    im->vol.volid);
			audit_emit("volume-imported", im->vmid, json_pack(
			    "{s:s, s:I}", "volid", im->vol.volid, "bytes",
			    (json_int_t)im->report.received));
			im->state = IMPORT_COMPLETE;
			return;
		}
	}
	import_fail(im, why);
}

/*
 * Run qemu-img info on the received file as the QEMU user, never as
 * root.  The file's group is the QEMU group meanwhile so that it can be
 * read; it goes back to root once the image passed.
 */
static void
import_inspect(struct import *im)
{
	const struct proc_setup	*setup = priv_config();
	struct spawn_exec	 exec;
	uint32_t		*ids;
	const char		*argv[] = { setup->qemu_img, "info",
				    "--output=json", "-f",
				    image_format_name(im->vol.format),
				    im->vol.path, NULL };

	if (fchown(im->volfd, 0, setup->gid) == -1) {
		import_fail(im, "cannot hand the image to the QEMU group");
		return;
	}
	memset(&exec, 0, sizeof(exec));
	exec.uid = setup->uid;
	exec.gid = setup->gid;
	exec.flags = SPAWN_STDOUT_FD;
	exec.timeout = QEMU_IMG_INFO_TIMEOUT;
	exec.memory_limit = QEMU_IMG_INFO_MEMORY;
	if ((ids = calloc(2, sizeof(*ids))) == NULL)
		fatal("import");
	ids[0] = im->vmid;
	ids[1] = im->serial;
	im->state = IMPORT_INSPECTING;
	if (priv_spawn(im->vmid, &exec, argv, import_inspected, ids) == -1) {
		free(ids);
		import_fail(im, "unable to run qemu-img info");
	}
}

/* The child is gone: reap it, drop the socket, go on or fail. */
static void
import_child_ended(struct import *im)
{
	char	 why[PRIV_MSG_MAX];
	int	 status = 0;

	priv_unwatch(im->reportfd);
	close(im->reportfd);
	im->reportfd = -1;
	while (waitpid(im->pid, &status, 0) == -1 && errno == EINTR)
		;
	im->pid = 0;
	sock_remove(priv_config()->rundir, im->vmid, SOCKET_STORAGE);

	if (im->report.kind == IMPORT_REPORT_FAILED) {
		import_fail(im, im->report.msg);
		return;
	}
	if (!im->streamed) {
		snprintf(why, sizeof(why), "import process ended with status "
		    "0x%x", (unsigned)status);
		import_fail(im, why);
		return;
	}
	log_info("vmid %u: received %" PRIu64 " bytes for '%s'", im->vmid,
	    im->report.received, im->vol.volid);
	import_inspect(im);
}

static void
import_read_report(int fd, short revents, void *arg)
{
	struct import	*im = arg;
	ssize_t		 n;

	for (;;) {
		n = read(fd, (char *)&im->report + im->reportlen,
		    sizeof(im->report) - im->reportlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		im->reportlen += n;
		if (im->reportlen < sizeof(im->report))
			continue;
		im->reportlen = 0;
		im->report.msg[sizeof(im->report.msg) - 1] = '\0';
		if (im->report.kind == IMPORT_REPORT_DONE)
			im->streamed = 1;
	}
	import_child_ended(im);
}

/*
 * Fork the child that receives the stream; priv keeps the pipe.  The
 * child closes its copy of the per-VMID lock: a flock belongs to the open
 * file, so the copy would hold the lock until the import ends.
 */
static int
import_fork(struct import *im, int lfd, int lockfd, char *msg,
    size_t msglen)
{
	pid_t	 parent;
	int	 p[2];

	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(msg, msglen, "pipe: %s\n", strerror(errno));
		return -1;
	}
	parent = priv_config_pid();
	if ((im->pid = fork()) == -1) {
		snprintf(msg, msglen, "fork: %s\n", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (im->pid == 0) {
		close(p[0]);
		if (lockfd != -1)
			close(lockfd);
		import_child(parent, lfd, im->volfd, p[1]);
	}
	close(p[1]);
	im->child = im->pid;
	im->reportfd = p[0];
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1 ||
	    priv_watch(p[0], POLLIN, import_read_report, im) == -1)
		fatal("import report pipe");
	return 0;
}

struct import_request {
	uint32_t			 vmid;
	const struct tunnel_disk_import	*disk;
	enum image_format		 fmt;
	char				 transfer[32];
	int				 lockfd;	/* held to the reply */
};

/* Check the request and pick formats; returns the storage or NULL. */
static const struct storage *
import_prepare(struct import_request *r, struct import *im, char *msg,
    size_t msglen)
{
	const struct storage	*s;
	int			 f;

	if (!journal_exists(r->vmid)) {
		snprintf(msg, msglen, "no migration of VM %u in progress\n",
		    r->vmid);
		return NULL;
	}
	if ((s = volume_storage(r->disk->storage, msg, msglen)) == NULL)
		return NULL;
	f = image_format_parse(r->disk->format);
	if (f != IMAGE_FORMAT_RAW && f != IMAGE_FORMAT_QCOW2) {
		snprintf(msg, msglen, "unsupported format '%s' for storage "
		    "type dir\n", r->disk->format);
		return NULL;
	}
	r->fmt = (enum image_format)f;
	if (import_pick_format(r->disk->export_formats, r->fmt, r->transfer,
	    sizeof(r->transfer)) == -1) {
		snprintf(msg, msglen, "no matching import/export format found "
		    "for storage '%s'\n", r->disk->storage);
		return NULL;
	}
	im->vol.format = r->fmt;
	if (import_target_name(r->disk->volname, r->vmid,
	    image_format_name(r->fmt), im->vol.name, sizeof(im->vol.name),
	    msg, msglen) == -1)
		return NULL;
	return s;
}

/* Reserve the target volume, renamed if allowed and the name is taken. */
static int
import_reserve(struct import_request *r, struct import *im, char *msg,
    size_t msglen)
{
	const struct storage	*s;

	if ((s = import_prepare(r, im, msg, msglen)) == NULL)
		return -1;
	if (volume_reserve_named(r->vmid, s, &im->vol, &im->volfd, msg,
	    msglen) == 0)
		return 0;
	if (errno != EEXIST || !r->disk->allow_rename)
		return -1;
	log_info("vmid %u: '%s:%u/%s' exists, importing with a different "
	    "name", r->vmid, s->id, r->vmid, im->vol.name);
	return volume_reserve(r->vmid, s, &im->vol, &im->volfd, msg, msglen);
}

static int
import_start(struct import_request *r, struct import *im, char *msg,
    size_t msglen)
{
	int	 lfd;

	if ((lfd = sock_create(priv_config()->rundir, r->vmid, SOCKET_STORAGE,
	    msg, msglen)) == -1) {
		strlcat(msg, "\n", msglen);
		return -1;
	}
	if (journal_append(r->vmid, "volume-receiving", im->vol.volid,
	    im->vol.path) == -1) {
		snprintf(msg, msglen, "unable to write the journal\n");
		close(lfd);
		return -1;
	}
	if (import_fork(im, lfd, r->lockfd, msg, msglen) == -1) {
		close(lfd);
		return -1;
	}
	close(lfd);
	return 0;
}

static void
import_reply_started(const struct imsg *imsg, const struct import *im,
    const char *transfer)
{
	struct priv_req	 req;
	char		 wire[64];

	priv_req_of(imsg, &req);
	snprintf(wire, sizeof(wire), "/run/qemu-server/%u.storage", im->vmid);
	log_info("vmid %u: receiving '%s' as %s, pid %ld", im->vmid,
	    im->vol.volid, transfer, (long)im->pid);
	priv_reply(&req, 0, "", json_pack("{s:s, s:s}", "socket", wire,
	    "format", transfer), -1);
}

/* Under the lock: reserve, listen, fork.  Returns 0 or -1 with msg. */
static int
import_locked(struct import_request *r, struct import *im, char *msg,
    size_t msglen)
{
	if (import_reserve(r, im, msg, msglen) == -1)
		return -1;
	if (import_start(r, im, msg, msglen) == -1) {
		volume_release(r->vmid, &im->vol, "import did not start");
		close(im->volfd);
		im->volfd = -1;
		sock_remove(priv_config()->rundir, r->vmid, SOCKET_STORAGE);
		return -1;
	}
	return 0;
}

static int
import_request_ok(const struct imsg *imsg, struct priv_disk_import *req)
{
	struct tunnel_disk_import	*d = &req->disk;

	if (imsg_datalen(imsg) != sizeof(*req))
		fatalx("disk-import request of %zu bytes", imsg_datalen(imsg));
	memcpy(req, imsg->data, sizeof(*req));
	if (priv_check_stamp(imsg, req->vmid) == -1)
		return 0;
	if (!priv_string_ok(d->storage, sizeof(d->storage)) ||
	    !priv_string_ok(d->volname, sizeof(d->volname)) ||
	    !priv_string_ok(d->format, sizeof(d->format)) ||
	    !priv_string_ok(d->export_formats, sizeof(d->export_formats))) {
		priv_refuse(imsg, "unterminated disk-import request");
		return 0;
	}
	return 1;
}

/* IMSG_PRIV_DISK_IMPORT */
void
priv_disk_import(const struct imsg *imsg)
{
	struct priv_disk_import	 req;
	struct import_request	 r;
	struct import		*im;
	char			 msg[PRIV_MSG_MAX];
	int			 lockfd, rv;

	if (!import_request_ok(imsg, &req))
		return;
	if ((im = import_find(req.vmid)) != NULL) {
		snprintf(msg, sizeof(msg), "disk import already running as "
		    "PID '%ld'\n", (long)im->child);
		priv_reply_to(imsg, EBUSY, msg);
		return;
	}
	if ((rv = priv_lock(req.vmid, &lockfd, msg, sizeof(msg))) == 1)
		return;
	if ((im = calloc(1, sizeof(*im))) == NULL)
		fatal("disk-import");
	im->vmid = req.vmid;
	im->serial = ++import_serial;
	im->reportfd = im->volfd = -1;
	memset(&r, 0, sizeof(r));
	r.vmid = req.vmid;
	r.disk = &req.disk;
	r.lockfd = rv == 0 ? lockfd : -1;
	if (rv == -1 || import_locked(&r, im, msg, sizeof(msg)) == -1) {
		priv_log_error(req.vmid, "disk-import", msg);
		priv_reply_to(imsg, EINVAL, msg);
		if (im->volfd != -1)
			close(im->volfd);
		free(im);
	} else {
		TAILQ_INSERT_TAIL(&imports, im, entry);
		import_reply_started(imsg, im, r.transfer);
	}
	if (rv == 0)
		close(lockfd);
}

static json_t *
import_status(struct import *im)
{
	char	 msg[128];

	switch (im->state) {
	case IMPORT_COMPLETE:
		return json_pack("{s:s, s:s}", "status", "complete", "volid",
		    im->vol.volid);
	case IMPORT_FAILED:
		return json_pack("{s:s, s:s}", "status", "error", "msg",
		    im->error);
	case IMPORT_INSPECTING:
		snprintf(msg, sizeof(msg), "checking the received image");
		break;
	default:
		if (im->report.total == 0 && im->report.received == 0)
			snprintf(msg, sizeof(msg), "waiting for the client");
		else
			snprintf(msg, sizeof(msg), "%" PRIu64 " of %" PRIu64
			    " bytes received", im->report.received,
			    im->report.total);
		break;
	}
	return json_pack("{s:s, s:s}", "status", "pending", "msg", msg);
}

/*
 * IMSG_PRIV_IMPORT_QUERY.  Once it has reported the end, complete or
 * error, the import is forgotten and the next one may start.
 */
void
priv_import_query(const struct imsg *imsg)
{
	struct priv_vmid_req	 req;
	struct priv_req		 r;
	struct import		*im;

	if (priv_check_vmid(imsg, &req) == -1)
		return;
	priv_req_of(imsg, &r);
	if ((im = import_find(req.vmid)) == NULL) {
		priv_reply(&r, ENOENT, "no disk import running\n", NULL, -1);
		return;
	}
	priv_reply(&r, 0, "", import_status(im), -1);
	if (im->state == IMPORT_COMPLETE || im->state == IMPORT_FAILED)
		import_free(im);
}

/*
 * Stop the import of vmid, for cleanup: kill the child and forget the
 * state.  The volume is left to the journal.  Returns 1 if there was one.
 */
int
import_cancel(uint32_t vmid)
{
	struct import	*im;

	if ((im = import_find(vmid)) == NULL)
		return 0;
	if (im->pid > 0) {
		kill(im->pid, SIGKILL);
		while (waitpid(im->pid, NULL, 0) == -1 && errno == EINTR)
			;
		log_info("vmid %u: stopped the import of '%s'", vmid,
		    im->vol.volid);
	}
	import_free(im);
	return 1;
}
