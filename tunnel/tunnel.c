/*
 * The tunnel role: one per migration.  It drops to its own user in an
 * empty chroot and waits for the control listener; the JSON-lines command
 * loop lands with the tunnel protocol.
 */

#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "imsg.h"
#include "log.h"
#include "mtunneld.h"
#include "privdrop.h"
#include "proc.h"
#include "tunnel.h"

static struct imsgbuf	 tunnel_ibuf;
static int		 tunnel_listen_fd = -1;

static void
tunnel_dispatch_parent(struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_TUNNEL_LISTENER:
		if (tunnel_listen_fd != -1 || imsg->fd == -1)
			fatalx("unexpected listener message");
		tunnel_listen_fd = imsg->fd;
		imsg->fd = -1;
		log_debug("got the control listener");
		break;
	default:
		fatalx("unexpected message type %u from the parent",
		    imsg->hdr.type);
	}
}

static void
tunnel_read_parent(void)
{
	struct imsg	 imsg;
	ssize_t		 n;
	int		 rv;

	if ((n = imsg_read(&tunnel_ibuf)) == -1 && errno == EAGAIN)
		return;
	if (n == -1)
		fatalx("channel: %s", imsg_error(&tunnel_ibuf));

	while ((rv = imsg_get(&tunnel_ibuf, &imsg)) == 1) {
		tunnel_dispatch_parent(&imsg);
		if (imsg.fd != -1)
			close(imsg.fd);
		imsg_free(&imsg);
	}
	if (rv == -1)
		fatalx("channel: %s", imsg_error(&tunnel_ibuf));
	if (n == 0)
		exit(0);	/* the parent is gone or stopping us */
}

void
tunnel_main(int debug, int verbose)
{
	struct proc_setup	 setup;
	struct pollfd		 pfd;
	static char		 procname[32];

	(void)debug;
	(void)verbose;
	proc_child_start(&tunnel_ibuf, PROC_TUNNEL, &setup);
	if (setup.vmid < VMID_MIN || setup.vmid > VMID_MAX)
		fatalx("set-up names vmid %u, outside %d to %u", setup.vmid,
		    VMID_MIN, VMID_MAX);
	snprintf(procname, sizeof(procname), "tunnel %u", setup.vmid);
	log_setproc(procname);
	setproctitle("%s", procname);

	drop_privileges(setup.chroot, setup.uid, setup.gid);
	if (tunnel_sandbox() == -1)
		fatalx("cannot install the seccomp filter");
	proc_child_ready(&tunnel_ibuf);

	for (;;) {
		pfd.fd = tunnel_ibuf.fd;
		pfd.events = POLLIN | (tunnel_ibuf.wqlen > 0 ? POLLOUT : 0);
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if ((pfd.revents & POLLOUT) && imsg_flush(&tunnel_ibuf) == -1)
			fatalx("channel: %s", imsg_error(&tunnel_ibuf));
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			tunnel_read_parent();
	}
}
