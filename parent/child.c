/*
 * Fork, re-exec and supervise the children, and dispatch what they send.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "audit.h"
#include "log.h"
#include "parent.h"
#include "proc.h"

#define SELF_EXE	"/proc/self/exe"


/* In the new child: put the channel on its fixed descriptor and exec. */
static void
child_exec(int fd, enum proc_role role, int debug)
{
	sigset_t	 mask;
	char		 rolename[16];
	char		*argv[5];
	int		 argc = 0;

	sigemptyset(&mask);
	sigprocmask(SIG_SETMASK, &mask, NULL);

	if (fd == PROC_CHANNEL_FD) {
		if (fcntl(fd, F_SETFD, 0) == -1)
			_exit(127);
	} else if (dup2(fd, PROC_CHANNEL_FD) == -1)
		_exit(127);

	strlcpy(rolename, proc_role_name(role), sizeof(rolename));
	argv[argc++] = "mtunneld";
	argv[argc++] = "-X";
	argv[argc++] = rolename;
	if (debug)
		argv[argc++] = "-d";
	argv[argc] = NULL;

	execv(SELF_EXE, argv);
	_exit(127);
}

static void
child_send_setup(struct parent *env, struct child *c)
{
	struct proc_hello	 hello;
	struct proc_setup	 setup;
	const struct ids	*ids = NULL;

	memset(&setup, 0, sizeof(setup));
	setup.role = c->role;
	setup.vmid = c->vmid;
	setup.verbose = env->verbose;
	setup.accept_timeout = env->conf.accept_timeout;

	if (c->role == PROC_API)
		ids = &env->api_ids;
	else if (c->role == PROC_TUNNEL)
		ids = &env->tunnel_ids;
	if (ids != NULL) {
		setup.uid = ids->uid;
		setup.gid = ids->gid;
		strlcpy(setup.chroot, env->conf.emptydir,
		    sizeof(setup.chroot));
	}
	if (c->role == PROC_PRIV) {
		strlcpy(setup.rundir, env->conf.rundir, sizeof(setup.rundir));
		strlcpy(setup.statedir, env->conf.statedir,
		    sizeof(setup.statedir));
		strlcpy(setup.confdir, env->conf.confdir,
		    sizeof(setup.confdir));
		strlcpy(setup.qemu, env->conf.qemu, sizeof(setup.qemu));
		strlcpy(setup.qemu_img, env->conf.qemu_img,
		    sizeof(setup.qemu_img));
		strlcpy(setup.qemu_user, env->conf.qemu_user,
		    sizeof(setup.qemu_user));
		setup.uid = env->qemu_ids.uid;
		setup.gid = env->qemu_ids.gid;
	}

	hello.format = IMSG_FORMAT_VERSION;
	hello.role = PROC_PARENT;
	if (imsg_compose(&c->ibuf, IMSG_PROC_HELLO, 0, 0, -1, &hello,
	    sizeof(hello)) == -1 ||
	    imsg_compose(&c->ibuf, IMSG_PROC_SETUP, 0, 0, -1, &setup,
	    sizeof(setup)) == -1)
		fatalx("%s: %s", c->name, imsg_error(&c->ibuf));
}

/*
 * Fork a child for role and re-execute this binary in it.  Everything but
 * the channel is close-on-exec, so the child starts with nothing else.
 */
struct child *
child_start(struct parent *env, enum proc_role role, uint32_t vmid)
{
	struct child	*c;
	int		 sp[2];

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("%s: calloc", proc_role_name(role));
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("%s: socketpair", proc_role_name(role));
		free(c);
		return NULL;
	}

	switch (c->pid = fork()) {
	case -1:
		log_warn("%s: fork", proc_role_name(role));
		close(sp[0]);
		close(sp[1]);
		free(c);
		return NULL;
	case 0:
		child_exec(sp[1], role, env->debug);
		/* NOTREACHED */
	}

	close(sp[1]);
	if (proc_set_nonblock(sp[0]) == -1)
		fatal("%s: channel", proc_role_name(role));
	c->role = role;
	c->vmid = vmid;
	c->state = CHILD_STARTING;
	if (role == PROC_TUNNEL)
		snprintf(c->name, sizeof(c->name), "tunnel %u", vmid);
	else
		strlcpy(c->name, proc_role_name(role), sizeof(c->name));
	imsg_init(&c->ibuf, sp[0]);
	TAILQ_INSERT_TAIL(&env->children, c, entry);

	child_send_setup(env, c);
	parent_send_config(env, c);
	log_debug("started %s, pid %ld", c->name, (long)c->pid);
	return c;
}

/* Close the channel, so the child reads end of file and exits. */
void
child_close(struct child *c)
{
	if (c->state == CHILD_GONE)
		return;
	imsg_clear(&c->ibuf);
	close(c->ibuf.fd);
	c->ibuf.fd = -1;
	c->state = CHILD_GONE;
}

void
child_free(struct parent *env, struct child *c)
{
	child_close(c);
	TAILQ_REMOVE(&env->children, c, entry);
	free(c);
}

struct child *
child_find_role(struct parent *env, enum proc_role role)
{
	struct child	*c;

	TAILQ_FOREACH(c, &env->children, entry)
		if (c->role == role && c->state != CHILD_GONE)
			return c;
	return NULL;
}

struct child *
child_find_vmid(struct parent *env, uint32_t vmid)
{
	struct child	*c;

	TAILQ_FOREACH(c, &env->children, entry)
		if (c->role == PROC_TUNNEL && c->vmid == vmid)
			return c;
	return NULL;
}

/* A protocol violation: log it and end that child. */
void
child_violation(struct parent *env, struct child *c, const char *why)
{
	log_warnx("%s[%ld]: %s; closing its channel", c->name, (long)c->pid,
	    why);
	child_close(c);
	if (c->pid > 0)
		kill(c->pid, SIGKILL);
	if (c->role != PROC_TUNNEL)
		parent_shutdown(env, 1);
}

static void
child_log_record(struct child *c, struct imsg *imsg)
{
	struct log_record	 rec;
	size_t			 len = imsg_datalen(imsg);

	if (len < sizeof(rec)) {
		log_warnx("%s[%ld]: short log record", c->name, (long)c->pid);
		return;
	}
	memcpy(&rec, imsg->data, sizeof(rec));
	log_child_record(c->name, c->pid, rec.priority,
	    (const char *)imsg->data + sizeof(rec), len - sizeof(rec));
}

/* Hello, log records and ready are the same on every channel. */
static int
child_dispatch_common(struct parent *env, struct child *c,
    struct imsg *imsg)
{
	char	 err[256];

	switch (imsg->hdr.type) {
	case IMSG_LOG_RECORD:
		child_log_record(c, imsg);
		return 1;
	case IMSG_AUDIT_EVENT:
		audit_child_event(env, c, imsg);
		return 1;
	case IMSG_PROC_HELLO:
		if (c->state != CHILD_STARTING) {
			child_violation(env, c, "second hello");
			return 1;
		}
		if (proc_check_hello(imsg, c->role, err, sizeof(err)) == -1) {
			child_violation(env, c, err);
			return 1;
		}
		c->state = CHILD_HELLO;
		return 1;
	case IMSG_PROC_READY:
		if (c->state != CHILD_HELLO || imsg_datalen(imsg) != 0) {
			child_violation(env, c, "unexpected ready");
			return 1;
		}
		c->state = CHILD_READY;
		log_info("%s ready, pid %ld", c->name, (long)c->pid);
		return 1;
	}

	if (c->state != CHILD_READY) {
		child_violation(env, c, "message before set-up ended");
		return 1;
	}
	return 0;
}

static void
child_dispatch_one(struct parent *env, struct child *c, struct imsg *imsg)
{
	if (child_dispatch_common(env, c, imsg))
		return;

	switch (c->role) {
	case PROC_PRIV:
		parent_dispatch_priv(env, c, imsg);
		break;
	case PROC_API:
		parent_dispatch_api(env, c, imsg);
		break;
	case PROC_TUNNEL:
		parent_dispatch_tunnel(env, c, imsg);
		break;
	default:
		child_violation(env, c, "message from an unknown role");
		break;
	}
}

/* Read from a child's channel and handle every whole message. */
void
child_dispatch(struct parent *env, struct child *c)
{
	struct imsg	 imsg;
	ssize_t		 n;
	int		 rv;

	if ((n = imsg_read(&c->ibuf)) == -1 && errno == EAGAIN)
		return;
	if (n == -1) {
		log_warnx("%s[%ld]: %s", c->name, (long)c->pid,
		    imsg_error(&c->ibuf));
		child_close(c);
		return;
	}

	while (c->state != CHILD_GONE &&
	    (rv = imsg_get(&c->ibuf, &imsg)) != 0) {
		if (rv == -1) {
			child_violation(env, c, imsg_error(&c->ibuf));
			return;
		}
		child_dispatch_one(env, c, &imsg);
		if (imsg.fd != -1)
			close(imsg.fd);
		imsg_free(&imsg);
	}

	if (n == 0 && c->state != CHILD_GONE) {
		log_debug("%s[%ld]: channel closed", c->name, (long)c->pid);
		child_close(c);
	}
}

void
child_describe_exit(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s",
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WTERMSIG(status) == SIGSYS ?
		    ": a system call outside its seccomp allow-list" : "");
	else
		snprintf(buf, len, "stopped with wait status 0x%x", status);
}

static void
child_lost(struct parent *env, struct child *c, int status)
{
	char			 why[160];

	child_describe_exit(status, why, sizeof(why));
	if (env->shutting_down) {
		log_debug("%s[%ld] %s", c->name, (long)c->pid, why);
		return;
	}
	if (c->role != PROC_TUNNEL || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		audit_child_lost(c, why);

	if (c->role != PROC_TUNNEL) {
		log_warnx("%s[%ld] %s; shutting down", c->name, (long)c->pid,
		    why);
		parent_shutdown(env, 1);
		return;
	}

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		log_info("%s[%ld] %s", c->name, (long)c->pid, why);
	else
		log_warnx("%s[%ld] %s; cleaning up its migration", c->name,
		    (long)c->pid, why);
	request_tunnel_ended(env, c, why, WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0);
}

/* Reap every child that has ended, and act on its loss. */
void
child_reap(struct parent *env)
{
	struct child	*c, *next;
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (c = TAILQ_FIRST(&env->children); c != NULL; c = next) {
			next = TAILQ_NEXT(c, entry);
			if (c->pid != pid)
				continue;
			child_lost(env, c, status);
			child_free(env, c);
			break;
		}
	}
}
