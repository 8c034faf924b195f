/*
 * The priv role: stays root, outside any chroot, and acts only on the
 * parent's requests.  It forks the spawner first, then restricts itself
 * and installs its filter, then cleans up after every migration whose
 * journal an earlier run left.
 *
 * Long work runs outside the main loop.  qemu-img runs under the spawner,
 * which sends a message when it ends.  An import stream runs in a child
 * of priv that reports through a pipe.  A request whose per-VMID lock is
 * busy is queued and tried again every LOCK_RETRY_MS.  Requests for one
 * VMID are handled in the order they came.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/unistd.h>

#include "auditlog.h"
#include "imsg.h"
#include "log.h"
#include "mtunneld.h"
#include "priv.h"
#include "privdrop.h"
#include "proc.h"

#define LOCK_RETRY_MS		20
#define WATCH_MAX		256	/* imports and qemu-img outputs */
#define REPLAY_MAX		4096	/* journals replayed at start */

static struct imsgbuf	 priv_ibuf;	/* to the parent */
static struct imsgbuf	 spawner_ibuf;
static struct proc_setup priv_setup;
static pid_t		 priv_pid;	/* read once, before the filter */

struct watch {
	int		 fd;
	short		 events;
	priv_watch_fn	 fn;
	void		*arg;
};

static struct watch	 watches[WATCH_MAX];
static size_t		 nwatches;

/* A program that the spawner runs on priv's request. */
struct spawn_work {
	TAILQ_ENTRY(spawn_work)	 entry;
	uint32_t		 reqid;
	uint32_t		 vmid;
	pid_t			 pid;		/* 0 until started */
	int			 exited;
	int			 status;
	int			 outfd;		/* -1 unless output is kept */
	char			*out;
	size_t			 outlen;
	priv_spawn_fn		 done;
	void			*arg;
};

static TAILQ_HEAD(, spawn_work)	 spawns = TAILQ_HEAD_INITIALIZER(spawns);
static uint32_t			 spawn_reqid;

/* A request waiting for its VMID's lock, or behind one that does. */
struct deferred {
	TAILQ_ENTRY(deferred)	 entry;
	struct imsg		 imsg;		/* data is a copy */
	int64_t			 deadline;	/* monotonic ms */
};

static TAILQ_HEAD(, deferred)	 deferred = TAILQ_HEAD_INITIALIZER(deferred);
static const struct imsg	*dispatching;	/* the request being handled */
static struct deferred		*retrying;	/* its queue entry, if any */
static int			 retry_again;	/* the lock was busy again */

static void	priv_dispatch_parent(struct imsg *);

const struct proc_setup *
priv_config(void)
{
	return &priv_setup;
}

pid_t
priv_config_pid(void)
{
	return priv_pid;
}

static int64_t
monotonic_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
priv_req_of(const struct imsg *imsg, struct priv_req *req)
{
	req->type = imsg->hdr.type;
	req->peerid = imsg->hdr.peerid;
	req->reqid = imsg->hdr.reqid;
}

void
priv_reply(const struct priv_req *req, int error, const char *msg,
    json_t *fields, int fd)
{
	struct priv_result	 res;
	struct iovec		 iov[2];
	char			*text = NULL;

	memset(&res, 0, sizeof(res));
	res.error = error;
	strlcpy(res.msg, msg, sizeof(res.msg));
	if (fields != NULL) {
		if ((text = json_dumps(fields, JSON_COMPACT)) == NULL)
			fatalx("reply: out of memory");
		json_decref(fields);
	}
	iov[0].iov_base = &res;
	iov[0].iov_len = sizeof(res);
	iov[1].iov_base = text;
	iov[1].iov_len = text != NULL ? strlen(text) : 0;
	if (imsg_composev(&priv_ibuf, IMSG_PRIV_RESULT, req->peerid,
	    req->reqid, fd, iov, 2) == -1)
		fatalx("reply: %s", imsg_error(&priv_ibuf));
	free(text);
}

void
priv_reply_to(const struct imsg *imsg, int error, const char *msg)
{
	struct priv_req	 req;

	priv_req_of(imsg, &req);
	priv_reply(&req, error, msg, NULL, -1);
}

/* Log and reject a request that fails a check. */
void
priv_refuse(const struct imsg *imsg, const char *why)
{
	log_warnx("message type %u for vmid %u rejected: %s", imsg->hdr.type,
	    imsg->hdr.peerid, why);
	priv_reply_to(imsg, EINVAL, "invalid request\n");
}

/* Log msg, written for the source, without its trailing newline. */
void
priv_log_error(uint32_t vmid, const char *what, const char *msg)
{
	size_t	 len = strlen(msg);

	if (len > 0 && msg[len - 1] == '\n')
		len--;
	log_warnx("vmid %u: %s: %.*s", vmid, what, (int)len, msg);
}

/* Whether a fixed-size string field is NUL-terminated. */
int
priv_string_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* The VMID in a payload must be in range and the one the parent stamped. */
int
priv_check_stamp(const struct imsg *imsg, uint32_t vmid)
{
	if (vmid < VMID_MIN || vmid > VMID_MAX || vmid != imsg->hdr.peerid) {
		log_warnx("message type %u for vmid %u (stamped %u) rejected",
		    imsg->hdr.type, vmid, imsg->hdr.peerid);
		priv_reply_to(imsg, EINVAL, "invalid vmid\n");
		return -1;
	}
	return 0;
}

/* Check a request that carries a struct priv_vmid_req. */
int
priv_check_vmid(const struct imsg *imsg, struct priv_vmid_req *req)
{
	if (imsg_datalen(imsg) != sizeof(*req))
		fatalx("message type %u of %zu bytes", imsg->hdr.type,
		    imsg_datalen(imsg));
	memcpy(req, imsg->data, sizeof(*req));
	return priv_check_stamp(imsg, req->vmid);
}

int
priv_watch(int fd, short events, priv_watch_fn fn, void *arg)
{
	if (nwatches == WATCH_MAX)
		return -1;
	watches[nwatches].fd = fd;
	watches[nwatches].events = events;
	watches[nwatches].fn = fn;
	watches[nwatches].arg = arg;
	nwatches++;
	return 0;
}

void
priv_unwatch(int fd)
{
	size_t	 i;

	for (i = 0; i < nwatches; i++)
		if (watches[i].fd == fd) {
			watches[i] = watches[--nwatches];
			return;
		}
}

/*
 * In a child forked from priv: close what must not outlive priv in it,
 * so that neither peer waits for the child to see a channel end.
 */
void
priv_child_close_fds(void)
{
	size_t	 i;

	close(priv_ibuf.fd);
	close(spawner_ibuf.fd);
	for (i = 0; i < nwatches; i++)
		close(watches[i].fd);
	nwatches = 0;
}

/*
 * The per-VMID lock for the request being dispatched; see priv.h.  A
 * request that finds the lock busy is queued with a deadline.
 */
int
priv_lock(uint32_t vmid, int *lockfd, char *msg, size_t msglen)
{
	struct deferred	*d;
	int		 rv;

	rv = config_lock_try(priv_setup.rundir, vmid, lockfd, msg, msglen);
	if (rv != 1)
		return rv;
	if (dispatching == NULL)
		return -1;	/* no request to queue: fail now */
	if (retrying != NULL) {
		if (monotonic_ms() >= retrying->deadline)
			return -1;
		retry_again = 1;
		return 1;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->imsg.data = malloc(imsg_datalen(dispatching) + 1)) == NULL)
		fatal("lock wait");
	d->imsg.hdr = dispatching->hdr;
	d->imsg.fd = -1;
	memcpy(d->imsg.data, dispatching->data, imsg_datalen(dispatching));
	d->deadline = monotonic_ms() + LOCK_TIMEOUT_MS;
	TAILQ_INSERT_TAIL(&deferred, d, entry);
	log_debug("vmid %u: lock busy, message type %u waits", vmid,
	    dispatching->hdr.type);
	return 1;
}

static struct deferred *
deferred_first(uint32_t vmid)
{
	struct deferred	*d;

	TAILQ_FOREACH(d, &deferred, entry)
		if (d->imsg.hdr.peerid == vmid)
			return d;
	return NULL;
}

/* Queue a copy of imsg behind the waiting requests of its VMID. */
static void
deferred_queue(const struct imsg *imsg)
{
	struct deferred	*d;

	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->imsg.data = malloc(imsg_datalen(imsg) + 1)) == NULL)
		fatal("queue");
	d->imsg.hdr = imsg->hdr;
	d->imsg.fd = -1;
	memcpy(d->imsg.data, imsg->data, imsg_datalen(imsg));
	d->deadline = monotonic_ms() + LOCK_TIMEOUT_MS;
	TAILQ_INSERT_TAIL(&deferred, d, entry);
}

/* Queue a request of priv's own, as if the parent had sent it. */
void
priv_queue_request(uint32_t type, uint32_t vmid, const void *data,
    size_t len)
{
	struct imsg	 imsg;

	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.type = type;
	imsg.hdr.len = IMSG_HEADER_SIZE + len;
	imsg.hdr.peerid = vmid;
	imsg.fd = -1;
	imsg.data = (void *)(uintptr_t)data;
	deferred_queue(&imsg);
}

/* Try the first waiting request of each VMID again. */
static void
deferred_retry(void)
{
	struct deferred	*d, *next;

	for (d = TAILQ_FIRST(&deferred); d != NULL; d = next) {
		next = TAILQ_NEXT(d, entry);
		if (deferred_first(d->imsg.hdr.peerid) != d)
			continue;
		retrying = d;
		retry_again = 0;
		priv_dispatch_parent(&d->imsg);
		retrying = NULL;
		if (retry_again)
			continue;
		next = TAILQ_NEXT(d, entry);
		TAILQ_REMOVE(&deferred, d, entry);
		free(d->imsg.data);
		free(d);
	}
}

static void
spawn_finish(struct spawn_work *w, int error)
{
	uint32_t	 vmid = w->vmid;

	TAILQ_REMOVE(&spawns, w, entry);
	if (w->outfd != -1) {
		priv_unwatch(w->outfd);
		close(w->outfd);
	}
	w->done(w->arg, error, w->status, w->out != NULL ? w->out : "",
	    w->outlen);
	free(w->out);
	free(w);
	cleanup_spawns_done(vmid);
}

static void
spawn_check_done(struct spawn_work *w)
{
	if (w->exited && w->outfd == -1)
		spawn_finish(w, 0);
}

/* Collect the output of a spawned program, up to QEMU_IMG_OUTPUT_MAX. */
static void
spawn_read_output(int fd, short revents, void *arg)
{
	struct spawn_work	*w = arg;
	char			 buf[4096];
	ssize_t			 n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (w->outlen + n > QEMU_IMG_OUTPUT_MAX)
			continue;
		if ((w->out = realloc(w->out, w->outlen + n + 1)) == NULL)
			fatal("spawn output");
		memcpy(w->out + w->outlen, buf, n);
		w->outlen += n;
		w->out[w->outlen] = '\0';
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	priv_unwatch(fd);
	close(fd);
	w->outfd = -1;
	spawn_check_done(w);
}

static int
spawn_compose(struct spawn_work *w, const struct spawn_exec *exec,
    const char *const *argv, int fd)
{
	struct spawn_exec	 req = *exec;
	struct iovec		 iov[SPAWN_MAXARGS + 1];
	int			 i;

	for (i = 0; argv[i] != NULL && i < SPAWN_MAXARGS; i++) {
		iov[i + 1].iov_base = (void *)(uintptr_t)argv[i];
		iov[i + 1].iov_len = strlen(argv[i]) + 1;
	}
	req.argc = i;
	iov[0].iov_base = &req;
	iov[0].iov_len = sizeof(req);
	return imsg_composev(&spawner_ibuf, IMSG_SPAWN_EXEC, w->vmid,
	    w->reqid, fd, iov, i + 1);
}

/*
 * Have the spawner run argv (argv[0] the configured qemu-img or QEMU).
 * With SPAWN_STDOUT_FD in exec->flags its output is kept for done.
 * Returns 0, or -1: then done is never called.
 */
int
priv_spawn(uint32_t vmid, const struct spawn_exec *exec,
    const char *const *argv, priv_spawn_fn done, void *arg)
{
	struct spawn_work	*w;
	int			 p[2] = { -1, -1 };

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	w->reqid = ++spawn_reqid;
	w->vmid = vmid;
	w->outfd = -1;
	w->done = done;
	w->arg = arg;
	if ((exec->flags & SPAWN_STDOUT_FD) && (pipe2(p, O_CLOEXEC) == -1 ||
	    fcntl(p[0], F_SETFL, O_NONBLOCK) == -1 ||
	    priv_watch(p[0], POLLIN, spawn_read_output, w) == -1)) {
		log_warn("spawn output pipe");
		if (p[0] != -1) {
			close(p[0]);
			close(p[1]);
		}
		free(w);
		return -1;
	}
	w->outfd = p[0];
	if (spawn_compose(w, exec, argv, p[1]) == -1) {
		log_warnx("spawn: %s", imsg_error(&spawner_ibuf));
		if (p[0] != -1) {
			priv_unwatch(p[0]);
			close(p[0]);
		}
		free(w);
		return -1;
	}
	TAILQ_INSERT_TAIL(&spawns, w, entry);
	return 0;
}

int
priv_spawn_running(uint32_t vmid)
{
	struct spawn_work	*w;
	int			 n = 0;

	TAILQ_FOREACH(w, &spawns, entry)
		if (w->vmid == vmid)
			n++;
	return n;
}

static void
spawn_started(uint32_t reqid, const struct spawn_result *res)
{
	struct spawn_work	*w;

	TAILQ_FOREACH(w, &spawns, entry)
		if (w->reqid == reqid && w->pid == 0)
			break;
	if (w == NULL) {
		log_debug("spawner: start of unknown request %u", reqid);
		return;
	}
	if (res->pid <= 0) {
		spawn_finish(w, res->error ? res->error : EIO);
		return;
	}
	w->pid = res->pid;
}

static void
spawn_exited(const struct spawn_result *res)
{
	struct spawn_work	*w;

	TAILQ_FOREACH(w, &spawns, entry)
		if (w->pid == res->pid && !w->exited)
			break;
	if (w == NULL)
		return;
	w->exited = 1;
	w->status = res->status;
	spawn_check_done(w);
}

static void
priv_socket_create(const struct imsg *imsg)
{
	struct priv_vmid_req	 req;
	struct priv_req		 r;
	char			 msg[PRIV_MSG_MAX] = "";
	int			 fd;

	if (priv_check_vmid(imsg, &req) == -1)
		return;
	fd = sock_create(priv_setup.rundir, req.vmid, req.kind, msg,
	    sizeof(msg));
	if (fd == -1)
		log_warnx("vmid %u: %s", req.vmid, msg);
	priv_req_of(imsg, &r);
	priv_reply(&r, fd == -1 ? EIO : 0, msg, NULL, fd);
}

/* Requests that wait behind their VMID's lock when it is busy. */
static int
priv_request_locks(uint32_t type)
{
	return type == IMSG_PRIV_CONFIG_CREATE ||
	    type == IMSG_PRIV_CONFIG_LOCK || type == IMSG_PRIV_CONFIG_WRITE ||
	    type == IMSG_PRIV_DISK_ALLOC || type == IMSG_PRIV_DISK_IMPORT ||
	    type == IMSG_PRIV_IMPORT_QUERY || type == IMSG_PRIV_CLEANUP;
}

static void
priv_dispatch_parent(struct imsg *imsg)
{
	if (retrying == NULL && priv_request_locks(imsg->hdr.type) &&
	    deferred_first(imsg->hdr.peerid) != NULL) {
		deferred_queue(imsg);
		return;
	}
	dispatching = imsg;
	switch (imsg->hdr.type) {
	case IMSG_PRIV_CONFIG_CREATE:
		priv_config_create(imsg);
		break;
	case IMSG_PRIV_CONFIG_LOCK:
		priv_config_lock(imsg);
		break;
	case IMSG_PRIV_CONFIG_WRITE:
		priv_config_write(imsg);
		break;
	case IMSG_PRIV_SOCKET_CREATE:
		priv_socket_create(imsg);
		break;
	case IMSG_PRIV_DISK_ALLOC:
		priv_disk_alloc(imsg);
		break;
	case IMSG_PRIV_DISK_IMPORT:
		priv_disk_import(imsg);
		break;
	case IMSG_PRIV_IMPORT_QUERY:
		priv_import_query(imsg);
		break;
	case IMSG_PRIV_CLEANUP:
		priv_cleanup(imsg);
		break;
	case IMSG_PRIV_VM_START:
		priv_vm_start(imsg);
		break;
	case IMSG_PRIV_VM_RESUME:
	case IMSG_PRIV_VM_STOP:
	case IMSG_PRIV_NBD_STOP:
	case IMSG_PRIV_FSTRIM:
		priv_vm_op(imsg);
		break;
	default:
		fatalx("unexpected message type %u from the parent",
		    imsg->hdr.type);
	}
	dispatching = NULL;
}

/* Pass a spawner log record on to the parent, tagged as the spawner's. */
static void
priv_relay_log(const struct imsg *imsg)
{
	struct log_record	 rec;
	struct iovec		 iov[3];
	size_t			 len = imsg_datalen(imsg);

	if (len < sizeof(rec))
		return;
	memcpy(&rec, imsg->data, sizeof(rec));
	iov[0].iov_base = &rec;
	iov[0].iov_len = sizeof(rec);
	iov[1].iov_base = (void *)(uintptr_t)"spawner: ";
	iov[1].iov_len = strlen("spawner: ");
	iov[2].iov_base = (char *)imsg->data + sizeof(rec);
	iov[2].iov_len = len - sizeof(rec);
	if (iov[2].iov_len > LOG_RECORD_MAXTEXT)
		iov[2].iov_len = LOG_RECORD_MAXTEXT;
	if (imsg_composev(&priv_ibuf, IMSG_LOG_RECORD, 0, 0, -1, iov,
	    3) == -1)
		log_warnx("spawner log: %s", imsg_error(&priv_ibuf));
}

static void
priv_dispatch_spawner(struct imsg *imsg)
{
	struct spawn_result	 res;

	switch (imsg->hdr.type) {
	case IMSG_LOG_RECORD:
		priv_relay_log(imsg);
		break;
	case IMSG_SPAWN_STARTED:
	case IMSG_SPAWN_EXITED:
		if (imsg_datalen(imsg) != sizeof(res))
			fatalx("spawner result of %zu bytes",
			    imsg_datalen(imsg));
		memcpy(&res, imsg->data, sizeof(res));
		log_debug("spawner: pid %d %s", res.pid,
		    imsg->hdr.type == IMSG_SPAWN_STARTED ? "started" :
		    "exited");
		if (imsg->hdr.type == IMSG_SPAWN_STARTED)
			spawn_started(imsg->hdr.reqid, &res);
		else
			spawn_exited(&res);
		break;
	default:
		fatalx("unexpected message type %u from the spawner",
		    imsg->hdr.type);
	}
}

/* Read a channel and dispatch every whole message; 0 at end of file. */
static int
priv_read(struct imsgbuf *ibuf, void (*dispatch)(struct imsg *))
{
	struct imsg	 imsg;
	ssize_t		 n;
	int		 rv;

	if ((n = imsg_read(ibuf)) == -1 && errno == EAGAIN)
		return 1;
	if (n == -1)
		fatalx("channel: %s", imsg_error(ibuf));
	while ((rv = imsg_get(ibuf, &imsg)) == 1) {
		dispatch(&imsg);
		if (imsg.fd != -1)
			close(imsg.fd);
		imsg_free(&imsg);
	}
	if (rv == -1)
		fatalx("channel: %s", imsg_error(ibuf));
	return n != 0;
}

static void
priv_flush(struct pollfd *pfd, struct imsgbuf *ibuf)
{
	if ((pfd->revents & POLLOUT) && imsg_flush(ibuf) == -1)
		fatalx("channel: %s", imsg_error(ibuf));
}

/* Call the watchers whose descriptors polled ready. */
static void
priv_run_watches(const struct pollfd *pfd, size_t n)
{
	struct watch	 w;
	size_t		 i, j;

	for (i = 0; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		/* An earlier callback may have removed or moved it. */
		for (j = 0; j < nwatches; j++)
			if (watches[j].fd == pfd[i].fd)
				break;
		if (j == nwatches)
			continue;
		w = watches[j];
		w.fn(w.fd, pfd[i].revents, w.arg);
	}
}

static void
priv_poll(void)
{
	struct pollfd	 pfd[2 + WATCH_MAX];
	size_t		 i, n;

	pfd[0].fd = priv_ibuf.fd;
	pfd[0].events = POLLIN | (priv_ibuf.wqlen ? POLLOUT : 0);
	pfd[1].fd = spawner_ibuf.fd;
	pfd[1].events = POLLIN | (spawner_ibuf.wqlen ? POLLOUT : 0);
	for (i = 0; i < nwatches; i++) {
		pfd[2 + i].fd = watches[i].fd;
		pfd[2 + i].events = watches[i].events;
		pfd[2 + i].revents = 0;
	}
	n = nwatches;
	if (poll(pfd, 2 + n, TAILQ_EMPTY(&deferred) ? -1 : LOCK_RETRY_MS) ==
	    -1) {
		if (errno == EINTR)
			return;
		fatal("poll");
	}
	priv_flush(&pfd[0], &priv_ibuf);
	priv_flush(&pfd[1], &spawner_ibuf);
	priv_run_watches(pfd + 2, n);

	if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
	    priv_read(&spawner_ibuf, priv_dispatch_spawner) == 0)
		fatalx("the spawner exited");
	if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
	    priv_read(&priv_ibuf, priv_dispatch_parent) == 0)
		exit(0);	/* the parent is gone or stopping us */
}

static __attribute__((noreturn)) void
priv_loop(void)
{
	struct imsg	 imsg;
	int		 rv;

	/* Journals to replay first, then messages read with the set-up. */
	deferred_retry();
	while ((rv = imsg_get(&priv_ibuf, &imsg)) == 1) {
		priv_dispatch_parent(&imsg);
		if (imsg.fd != -1)
			close(imsg.fd);
		imsg_free(&imsg);
	}
	if (rv == -1)
		fatalx("channel: %s", imsg_error(&priv_ibuf));

	for (;;) {
		priv_poll();
		deferred_retry();
	}
}

/* The VMID of a config file name "<vmid>.conf", or 0 for any other name. */
static uint32_t
config_name_vmid(const char *name)
{
	unsigned long	 v;
	char		*end;

	if (name[0] < '1' || name[0] > '9')
		return 0;
	errno = 0;
	v = strtoul(name, &end, 10);
	if (errno != 0 || strcmp(end, ".conf") != 0 || v < VMID_MIN ||
	    v > VMID_MAX)
		return 0;
	return (uint32_t)v;
}

static void
report_leftover(uint32_t vmid)
{
	char	*text, lock[32], msg[PRIV_MSG_MAX];
	size_t	 len;

	if (config_read(priv_setup.confdir, vmid, &text, &len, msg,
	    sizeof(msg)) != 0) {
		msg[strcspn(msg, "\n")] = '\0';
		log_warnx("vmid %u: %s", vmid, msg);
		return;
	}
	if (config_get_lock(text, len, lock, sizeof(lock)) == 0 &&
	    (strcmp(lock, "create") == 0 || strcmp(lock, "migrate") == 0))
		log_warnx("vmid %u: config has 'lock: %s' from an unfinished "
		    "migration and no journal, so no cleanup removes it; "
		    "run 'mtunnelctl cleanup %u' to remove it", vmid, lock,
		    vmid);
	free(text);
}

/*
 * Warn about each config that an incoming migration left locked (create
 * or migrate) without a journal.  The VMIDs in replayed had a journal at
 * start, and their replay handles them.
 */
static void
priv_report_leftovers(const uint32_t *replayed, size_t nreplayed)
{
	struct dirent	*de;
	DIR		*dir;
	char		 path[PATH_MAX_PRIV];
	uint32_t	 vmid;
	size_t		 i;

	snprintf(path, sizeof(path), "%s/qemu-server", priv_setup.confdir);
	if ((dir = opendir(path)) == NULL) {
		if (errno != ENOENT)
			log_warn("%s", path);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if ((vmid = config_name_vmid(de->d_name)) == 0)
			continue;
		for (i = 0; i < nreplayed && replayed[i] != vmid; i++)
			;
		if (i == nreplayed && !journal_exists(vmid))
			report_leftover(vmid);
	}
	closedir(dir);
}

/*
 * Clean up after every migration an earlier run left unfinished, then
 * report the locked configs that no journal covers.
 */
static void
priv_replay_journals(void)
{
	uint32_t	*vmids;
	size_t		 n, i;

	if ((vmids = calloc(REPLAY_MAX, sizeof(*vmids))) == NULL)
		fatal("journal replay");
	if (journal_list(vmids, REPLAY_MAX, &n) == 0)
		for (i = 0; i < n; i++) {
			log_info("vmid %u: journal left by an earlier run",
			    vmids[i]);
			cleanup_replay(vmids[i]);
		}
	else
		n = 0;
	priv_report_leftovers(vmids, n);
	free(vmids);
}

void
priv_main(int debug, int verbose)
{
	struct proc_setup	*setup = &priv_setup;
	char			 msg[PRIV_MSG_MAX];
	int			 fd;
	pid_t			 pid;

	(void)debug;
	(void)verbose;
	proc_child_start(&priv_ibuf, PROC_PRIV, setup);
	log_setproc("priv");
	setproctitle("priv");

	pid = spawner_fork(setup, &fd);
	imsg_init(&spawner_ibuf, fd);
	log_debug("spawner started, pid %ld", (long)pid);

	umask(022);
	priv_pid = getpid();
	sock_init();
	if (journal_init(setup->statedir, msg, sizeof(msg)) == -1)
		fatalx("%s", msg);
	/*
	 * Before the filter: jansson seeds its hash from /dev/urandom, and
	 * reading storage.cfg sets up OpenSSL's SHA-1, which reads
	 * openssl.cnf.
	 */
	json_object_seed(0);
	if (volume_storages(msg, sizeof(msg)) == NULL)
		log_warnx("storage.cfg not loaded");
	qemu_init();
	restrict_process();
	if (priv_sandbox() == -1)
		fatalx("cannot install the seccomp filter");
	proc_child_ready(&priv_ibuf);
	qemu_probe();
	qemu_report_running();
	priv_replay_journals();
	priv_loop();
}
