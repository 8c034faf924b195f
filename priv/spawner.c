/*
 * The spawner: a child of priv, forked before priv installs its seccomp
 * filter, because a filter is inherited across execve and QEMU needs far
 * more system calls than priv.  It runs only the configured QEMU and
 * qemu-img binaries, each in a session of its own, so that a VM outlives
 * mtunneld, and reports when they start and end.  On request it gives a
 * program a descriptor from priv as its stdout, a memory limit, and a
 * time limit after which it kills the program.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "imsg.h"
#include "log.h"
#include "mtunneld.h"
#include "priv.h"
#include "proc.h"

#define SPAWN_DEADLINES_MAX	64	/* programs with a time limit */

static struct imsgbuf	 spawner_ibuf;

/* Programs with a time limit, killed once it has passed. */
static struct {
	pid_t		 pid;
	int64_t		 deadline;	/* monotonic ms */
} deadlines[SPAWN_DEADLINES_MAX];
static size_t		 ndeadlines;

/*
 * Check an IMSG_SPAWN_EXEC payload: the struct, then exactly argc
 * NUL-terminated strings and nothing after them, and argv[0] one of the
 * two allowed binaries.  Fills argv (argc entries and a NULL).
 */
int
spawner_parse_exec(const struct imsg *imsg, const char *qemu,
    const char *qemu_img, struct spawn_exec *req, char **argv,
    size_t argvlen, char *err, size_t errlen)
{
	char	*p, *end;
	size_t	 len = imsg_datalen(imsg), i;

	if (len < sizeof(*req)) {
		snprintf(err, errlen, "request of %zu bytes is too short", len);
		return -1;
	}
	memcpy(req, imsg->data, sizeof(*req));
	if ((req->flags & ~(SPAWN_STDOUT_FD | SPAWN_STDERR_FD)) != 0 ||
	    (req->flags & (SPAWN_STDOUT_FD | SPAWN_STDERR_FD)) ==
	    SPAWN_STDERR_FD) {
		snprintf(err, errlen, "unknown flags 0x%x", req->flags);
		return -1;
	}
	if (req->argc < 1 || req->argc > SPAWN_MAXARGS ||
	    req->argc + 1 > argvlen) {
		snprintf(err, errlen, "argc %u outside 1 to %d", req->argc,
		    SPAWN_MAXARGS);
		return -1;
	}

	p = (char *)imsg->data + sizeof(*req);
	end = (char *)imsg->data + len;
	for (i = 0; i < req->argc; i++) {
		char *nul = memchr(p, '\0', end - p);

		if (nul == NULL) {
			snprintf(err, errlen, "argument %zu is not "
			    "terminated", i);
			return -1;
		}
		argv[i] = p;
		p = nul + 1;
	}
	argv[i] = NULL;
	if (p != end) {
		snprintf(err, errlen, "%zu bytes after the last argument",
		    (size_t)(end - p));
		return -1;
	}
	if (strcmp(argv[0], qemu) != 0 && strcmp(argv[0], qemu_img) != 0) {
		snprintf(err, errlen, "%s: %s", argv[0], SPAWN_EXEC_DENIED);
		return -1;
	}
	return 0;
}

/*
 * In the new process: own session, limits, ids, clean descriptors,
 * exec.  outfd, if not -1, becomes stdout, and stderr too with
 * SPAWN_STDERR_FD.
 */
static __attribute__((noreturn)) void
spawn_exec_child(const struct spawn_exec *req, char **argv, int errfd,
    int outfd)
{
	static char	*envp[] = {
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL
	};
	struct rlimit	 rl;
	sigset_t	 mask;
	int		 null, e;

	sigemptyset(&mask);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	if (setsid() == -1)
		goto fail;
	rl.rlim_cur = rl.rlim_max = req->memory_limit;
	if (req->memory_limit != 0 && setrlimit(RLIMIT_AS, &rl) == -1)
		goto fail;

	if ((null = open("/dev/null", O_RDWR)) == -1 ||
	    dup2(null, 0) == -1 || dup2(outfd != -1 ? outfd : null, 1) == -1 ||
	    dup2((req->flags & SPAWN_STDERR_FD) ? 1 : null, 2) == -1)
		goto fail;
	if (dup2(errfd, 3) == -1 || fcntl(3, F_SETFD, FD_CLOEXEC) == -1)
		goto fail;
	closefrom(4);
	errfd = 3;

	if (req->uid != 0) {
		gid_t gid = req->gid;

		if (setgroups(1, &gid) == -1 ||
		    setresgid(gid, gid, gid) == -1 ||
		    setresuid(req->uid, req->uid, req->uid) == -1)
			goto fail;
	}
	execve(argv[0], argv, envp);
fail:
	e = errno;
	if (write(errfd, &e, sizeof(e)) != sizeof(e))
		_exit(126);
	_exit(127);
}

static void
spawn_reply(uint32_t reqid, uint32_t type, pid_t pid, int error, int status)
{
	struct spawn_result	 res;

	memset(&res, 0, sizeof(res));
	res.pid = pid;
	res.error = error;
	res.status = status;
	if (imsg_compose(&spawner_ibuf, type, 0, reqid, -1, &res,
	    sizeof(res)) == -1)
		fatalx("reply: %s", imsg_error(&spawner_ibuf));
}

static int64_t
monotonic_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Remember to kill pid after timeout seconds; 0 means never. */
static void
deadline_add(pid_t pid, uint32_t timeout)
{
	if (timeout == 0)
		return;
	if (ndeadlines == SPAWN_DEADLINES_MAX) {
		log_warnx("pid %ld: too many time limits, killing it now",
		    (long)pid);
		kill(pid, SIGKILL);
		return;
	}
	deadlines[ndeadlines].pid = pid;
	deadlines[ndeadlines].deadline = monotonic_ms() +
	    (int64_t)timeout * 1000;
	ndeadlines++;
}

static void
deadline_remove(pid_t pid)
{
	size_t	 i;

	for (i = 0; i < ndeadlines; i++)
		if (deadlines[i].pid == pid) {
			deadlines[i] = deadlines[--ndeadlines];
			return;
		}
}

/*
 * Kill the programs whose time is up.  They are not reaped yet, so their
 * pids are still theirs.  Returns the poll timeout until the next one.
 */
static int
deadline_expire(void)
{
	int64_t	 now = monotonic_ms(), next = -1;
	size_t	 i;

	for (i = 0; i < ndeadlines; i++) {
		if (deadlines[i].deadline <= now) {
			log_warnx("pid %ld ran out of time, killing it",
			    (long)deadlines[i].pid);
			kill(deadlines[i].pid, SIGKILL);
			deadlines[i].deadline = INT64_MAX;
			continue;
		}
		if (deadlines[i].deadline != INT64_MAX &&
		    (next == -1 || deadlines[i].deadline - now < next))
			next = deadlines[i].deadline - now;
	}
	return next > INT32_MAX ? INT32_MAX : (int)next;
}

static void
spawn(const struct imsg *imsg, const char *qemu, const char *qemu_img)
{
	struct spawn_exec	 req;
	char			*argv[SPAWN_MAXARGS + 1], err[256];
	int			 p[2], e = 0;
	pid_t			 pid;

	if (spawner_parse_exec(imsg, qemu, qemu_img, &req, argv,
	    SPAWN_MAXARGS + 1, err, sizeof(err)) == -1) {
		log_warnx("exec rejected: %s", err);
		spawn_reply(imsg->hdr.reqid, IMSG_SPAWN_STARTED, -1, EPERM, 0);
		return;
	}
	if ((req.flags & SPAWN_STDOUT_FD) && imsg->fd == -1) {
		log_warnx("exec rejected: no descriptor for stdout");
		spawn_reply(imsg->hdr.reqid, IMSG_SPAWN_STARTED, -1, EBADF, 0);
		return;
	}
	if (pipe2(p, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		e = errno;
		log_warn("exec %s", argv[0]);
		spawn_reply(imsg->hdr.reqid, IMSG_SPAWN_STARTED, -1, e, 0);
		return;
	}
	if (pid == 0)
		spawn_exec_child(&req, argv, p[1], imsg->fd);

	close(p[1]);
	/* Returns 0 bytes once execve closes the pipe. */
	if (read(p[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
		log_warnx("exec %s: %s", argv[0], strerror(e));
		waitpid(pid, NULL, 0);
		pid = -1;
	} else {
		log_info("started %s as uid %u, pid %ld", argv[0], req.uid,
		    (long)pid);
		deadline_add(pid, req.timeout);
	}
	close(p[0]);
	spawn_reply(imsg->hdr.reqid, IMSG_SPAWN_STARTED, pid, e, 0);
}

static void
spawner_reap(int sfd)
{
	struct signalfd_siginfo	 si;
	pid_t			 pid;
	int			 status;

	while (read(sfd, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		deadline_remove(pid);
		spawn_reply(0, IMSG_SPAWN_EXITED, pid, 0, status);
	}
}

/* A descriptor may come only with a request that sets SPAWN_STDOUT_FD. */
static int
spawn_wants_fd(const struct imsg *imsg)
{
	struct spawn_exec	 req;

	if (imsg_datalen(imsg) < sizeof(req))
		return 0;
	memcpy(&req, imsg->data, sizeof(req));
	return (req.flags & SPAWN_STDOUT_FD) != 0;
}

static void
spawner_read(const char *qemu, const char *qemu_img)
{
	struct imsg	 imsg;
	ssize_t		 n;
	int		 rv;

	if ((n = imsg_read(&spawner_ibuf)) == -1 && errno == EAGAIN)
		return;
	if (n == -1)
		fatalx("channel: %s", imsg_error(&spawner_ibuf));
	while ((rv = imsg_get(&spawner_ibuf, &imsg)) == 1) {
		if (imsg.hdr.type == IMSG_SPAWN_EXEC && (imsg.fd == -1 ||
		    spawn_wants_fd(&imsg)))
			spawn(&imsg, qemu, qemu_img);
		else
			fatalx("unexpected message type %u from priv",
			    imsg.hdr.type);
		if (imsg.fd != -1)
			close(imsg.fd);
		imsg_free(&imsg);
	}
	if (rv == -1)
		fatalx("channel: %s", imsg_error(&spawner_ibuf));
	if (n == 0)
		exit(0);
}

/* Serve exec requests on fd until priv closes it. */
void
spawner_main(int fd, const char *qemu, const char *qemu_img)
{
	struct pollfd	 pfd[2];
	sigset_t	 mask;

	imsg_init(&spawner_ibuf, fd);
	log_to_channel(&spawner_ibuf);

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1 ||
	    (pfd[1].fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) ==
	    -1)
		fatal("signalfd");
	pfd[0].fd = fd;

	for (;;) {
		pfd[0].events = POLLIN |
		    (spawner_ibuf.wqlen > 0 ? POLLOUT : 0);
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, deadline_expire()) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (pfd[1].revents & POLLIN)
			spawner_reap(pfd[1].fd);
		if ((pfd[0].revents & POLLOUT) &&
		    imsg_flush(&spawner_ibuf) == -1)
			fatalx("channel: %s", imsg_error(&spawner_ibuf));
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			spawner_read(qemu, qemu_img);
	}
}

/*
 * Fork the spawner.  Returns its pid and sets *fd to priv's end of the
 * channel to it.  The spawner keeps no descriptor of priv's but its own
 * channel.
 */
pid_t
spawner_fork(const struct proc_setup *setup, int *fd)
{
	int	 sp[2];
	pid_t	 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("spawner socketpair");
	if ((pid = fork()) == -1)
		fatal("spawner fork");
	if (pid == 0) {
		close(sp[0]);
		close(PROC_CHANNEL_FD);
		if (proc_set_nonblock(sp[1]) == -1)
			fatal("spawner channel");
		log_setproc("spawner");
		setproctitle("spawner");
		spawner_main(sp[1], setup->qemu, setup->qemu_img);
	}

	close(sp[1]);
	if (proc_set_nonblock(sp[0]) == -1)
		fatal("spawner channel");
	*fd = sp[0];
	return pid;
}
