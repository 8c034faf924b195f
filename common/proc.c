/*
 * Start-up of a child: the version handshake and the set-up message on
 * the channel the parent left on PROC_CHANNEL_FD.
 */

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "auditlog.h"
#include "imsg.h"
#include "log.h"
#include "mtunneld.h"
#include "proc.h"

static const char *const proc_role_names[] = {
	[PROC_PARENT] = "parent",
	[PROC_PRIV] = "priv",
	[PROC_API] = "api",
	[PROC_TUNNEL] = "tunnel",
	[PROC_SPAWNER] = "spawner",
};

const char *
proc_role_name(enum proc_role role)
{
	if ((size_t)role >= sizeof(proc_role_names) / sizeof(char *))
		return "unknown";
	return proc_role_names[role];
}

int
proc_role_parse(const char *name, enum proc_role *role)
{
	size_t	 i;

	for (i = 0; i < sizeof(proc_role_names) / sizeof(char *); i++)
		if (strcmp(proc_role_names[i], name) == 0) {
			*role = (enum proc_role)i;
			return 0;
		}
	return -1;
}

int
proc_set_nonblock(int fd)
{
	int	 flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return -1;
	return 0;
}

/*
 * Wait up to timeout_ms for one whole message.  Returns 1 with imsg
 * filled, 0 on end of file, -1 on error or time-out (errno ETIMEDOUT).
 */
int
proc_wait_imsg(struct imsgbuf *ibuf, struct imsg *imsg, int timeout_ms)
{
	struct pollfd	 pfd;
	struct timespec	 start, now;
	ssize_t		 n;
	int		 rv, left;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if ((rv = imsg_get(ibuf, imsg)) != 0)
			return rv;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = ibuf->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left) == -1 && errno != EINTR)
			return -1;
		if ((n = imsg_read(ibuf)) == 0)
			return 0;
		if (n == -1 && errno != EAGAIN)
			return -1;
	}
}

/* Check a peer's hello: exact length, same message format, right role. */
int
proc_check_hello(const struct imsg *imsg, enum proc_role role, char *err,
    size_t errlen)
{
	struct proc_hello	 hello;

	if (imsg->hdr.type != IMSG_PROC_HELLO ||
	    imsg_datalen(imsg) != sizeof(hello)) {
		snprintf(err, errlen, "expected a hello, got message type %u "
		    "of %zu bytes", imsg->hdr.type, imsg_datalen(imsg));
		return -1;
	}
	memcpy(&hello, imsg->data, sizeof(hello));
	if (hello.format != IMSG_FORMAT_VERSION) {
		snprintf(err, errlen, "message format %u, expected %u: "
		    "restart mtunneld after an upgrade", hello.format,
		    IMSG_FORMAT_VERSION);
		return -1;
	}
	if (hello.role != (uint32_t)role) {
		snprintf(err, errlen, "peer is a %s, expected a %s",
		    proc_role_name(hello.role), proc_role_name(role));
		return -1;
	}
	return 0;
}

static void
proc_read_setup(struct imsgbuf *ibuf, enum proc_role role,
    struct proc_setup *setup)
{
	struct imsg	 imsg;
	int		 rv;

	rv = proc_wait_imsg(ibuf, &imsg, PROC_SETUP_TIMEOUT_MS);
	if (rv != 1)
		fatalx("%s: no set-up message from the parent: %s",
		    proc_role_name(role), rv == 0 ? "channel closed" :
		    strerror(errno));
	if (imsg.hdr.type != IMSG_PROC_SETUP ||
	    imsg_datalen(&imsg) != sizeof(*setup))
		fatalx("%s: bad set-up message (type %u, %zu bytes)",
		    proc_role_name(role), imsg.hdr.type, imsg_datalen(&imsg));
	memcpy(setup, imsg.data, sizeof(*setup));
	imsg_free(&imsg);

	if (setup->role != (uint32_t)role)
		fatalx("%s: set-up message is for a %s",
		    proc_role_name(role), proc_role_name(setup->role));
	setup->chroot[sizeof(setup->chroot) - 1] = '\0';
	setup->rundir[sizeof(setup->rundir) - 1] = '\0';
	setup->statedir[sizeof(setup->statedir) - 1] = '\0';
	setup->confdir[sizeof(setup->confdir) - 1] = '\0';
	setup->qemu[sizeof(setup->qemu) - 1] = '\0';
	setup->qemu_img[sizeof(setup->qemu_img) - 1] = '\0';
}

/*
 * Exchange hellos with the parent, then read the set-up message.  From
 * here on, log records go to the parent.
 */
void
proc_child_start(struct imsgbuf *ibuf, enum proc_role role,
    struct proc_setup *setup)
{
	struct proc_hello	 hello;
	struct imsg		 imsg;
	char			 err[256];
	int			 rv;

	if (fcntl(PROC_CHANNEL_FD, F_SETFD, FD_CLOEXEC) == -1 ||
	    proc_set_nonblock(PROC_CHANNEL_FD) == -1)
		fatal("%s: channel on descriptor %d", proc_role_name(role),
		    PROC_CHANNEL_FD);
	imsg_init(ibuf, PROC_CHANNEL_FD);
	log_to_channel(ibuf);
	audit_to_channel(ibuf);

	hello.format = IMSG_FORMAT_VERSION;
	hello.role = role;
	if (imsg_compose(ibuf, IMSG_PROC_HELLO, 0, 0, -1, &hello,
	    sizeof(hello)) == -1 ||
	    imsg_flush_blocking(ibuf, PROC_SETUP_TIMEOUT_MS) == -1)
		fatalx("%s: hello: %s", proc_role_name(role),
		    imsg_error(ibuf));

	rv = proc_wait_imsg(ibuf, &imsg, PROC_SETUP_TIMEOUT_MS);
	if (rv != 1)
		fatalx("%s: no hello from the parent", proc_role_name(role));
	if (proc_check_hello(&imsg, PROC_PARENT, err, sizeof(err)) == -1)
		fatalx("%s: %s", proc_role_name(role), err);
	imsg_free(&imsg);

	proc_read_setup(ibuf, role, setup);
	log_setverbose(setup->verbose);
}

/* Tell the parent that set-up is over and the filter is in place. */
void
proc_child_ready(struct imsgbuf *ibuf)
{
	if (imsg_compose(ibuf, IMSG_PROC_READY, 0, 0, -1, NULL, 0) == -1 ||
	    imsg_flush_blocking(ibuf, PROC_SETUP_TIMEOUT_MS) == -1)
		fatalx("ready: %s", imsg_error(ibuf));
}
