/*
 * The api role.  It starts as root only to chroot and drop to its user,
 * then installs its filter and waits for the parent's messages.  The
 * HTTPS server that uses the listener lands with the API endpoints.
 */

#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "api.h"
#include "imsg.h"
#include "log.h"
#include "mtunneld.h"
#include "privdrop.h"
#include "proc.h"

static struct imsgbuf	 api_ibuf;
static int		 api_listen_fd = -1;

static void
api_dispatch_parent(struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_API_LISTENER:
		if (api_listen_fd != -1 || imsg->fd == -1)
			fatalx("unexpected listener message");
		api_listen_fd = imsg->fd;
		imsg->fd = -1;
		log_debug("got the listening socket");
		break;
	default:
		fatalx("unexpected message type %u from the parent",
		    imsg->hdr.type);
	}
}

static void
api_read_parent(void)
{
	struct imsg	 imsg;
	ssize_t		 n;
	int		 rv;

	if ((n = imsg_read(&api_ibuf)) == -1 && errno == EAGAIN)
		return;
	if (n == -1)
		fatalx("channel: %s", imsg_error(&api_ibuf));

	while ((rv = imsg_get(&api_ibuf, &imsg)) == 1) {
		api_dispatch_parent(&imsg);
		if (imsg.fd != -1)
			close(imsg.fd);
		imsg_free(&imsg);
	}
	if (rv == -1)
		fatalx("channel: %s", imsg_error(&api_ibuf));
	if (n == 0)
		exit(0);	/* the parent is gone or stopping us */
}

void
api_main(int debug, int verbose)
{
	struct proc_setup	 setup;
	struct pollfd		 pfd;

	(void)debug;
	(void)verbose;
	proc_child_start(&api_ibuf, PROC_API, &setup);
	log_setproc("api");
	setproctitle("api");

	drop_privileges(setup.chroot, setup.uid, setup.gid);
	if (api_sandbox() == -1)
		fatalx("cannot install the seccomp filter");
	proc_child_ready(&api_ibuf);

	for (;;) {
		pfd.fd = api_ibuf.fd;
		pfd.events = POLLIN | (api_ibuf.wqlen > 0 ? POLLOUT : 0);
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if ((pfd.revents & POLLOUT) && imsg_flush(&api_ibuf) == -1)
			fatalx("channel: %s", imsg_error(&api_ibuf));
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			api_read_parent();
	}
}
