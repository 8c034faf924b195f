/*
 * The tunnel role: one per migration.  It drops to its own user in an
 * empty chroot, gets the control listener from the parent, accepts
 * exactly one connection within the accept timeout and serves the
 * JSON-lines commands on it.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
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
static time_t		 tunnel_accept_deadline;
static uint32_t		 tunnel_accept_timeout;

/* The command layer's requests go to the parent with their reqid. */
static int
tunnel_send(uint32_t type, uint32_t reqid, const struct iovec *iov,
    int iovcnt)
{
	return imsg_composev(&tunnel_ibuf, type, 0, reqid, -1, iov, iovcnt);
}

static void
tunnel_result(struct imsg *imsg)
{
	char	 err[256];

	if (imsg->fd != -1)
		fatalx("protocol violation: a descriptor with a result");
	if (control_result(imsg->hdr.reqid, imsg->data, imsg_datalen(imsg),
	    err, sizeof(err)) == -1)
		fatalx("protocol violation by the parent: %s", err);
}

static void
tunnel_dispatch_parent(struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_TUNNEL_RESULT:
		tunnel_result(imsg);
		break;
	case IMSG_TUNNEL_LISTENER:
		if (tunnel_listen_fd != -1 || control.fd != -1 ||
		    imsg->fd == -1)
			fatalx("unexpected listener message");
		tunnel_listen_fd = imsg->fd;
		imsg->fd = -1;
		tunnel_accept_deadline = time(NULL) + tunnel_accept_timeout;
		log_info("mtunnel started; waiting up to %u s for the "
		    "control connection", tunnel_accept_timeout);
		break;
	default:
		fatalx("unexpected message type %u from the parent",
		    imsg->hdr.type);
	}
}

/* Dispatch the whole messages already read, set-up's leftovers too. */
static void
tunnel_dispatch_buffered(void)
{
	struct imsg	 imsg;
	int		 rv;

	while ((rv = imsg_get(&tunnel_ibuf, &imsg)) == 1) {
		tunnel_dispatch_parent(&imsg);
		if (imsg.fd != -1)
			close(imsg.fd);
		imsg_free(&imsg);
	}
	if (rv == -1)
		fatalx("channel: %s", imsg_error(&tunnel_ibuf));
}

static void
tunnel_read_parent(void)
{
	ssize_t		 n;

	if ((n = imsg_read(&tunnel_ibuf)) == -1 && errno == EAGAIN)
		return;
	if (n == -1)
		fatalx("channel: %s", imsg_error(&tunnel_ibuf));
	tunnel_dispatch_buffered();
	if (n == 0)
		exit(0);	/* the parent is gone or stopping us */
}

/* Accept the one control connection; the listener is closed after it. */
static void
tunnel_accept(void)
{
	int	 fd;

	if ((fd = accept4(tunnel_listen_fd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) == -1) {
		if (errno == EAGAIN || errno == EINTR ||
		    errno == ECONNABORTED)
			return;
		fatal("Failed to accept tunnel connection");
	}
	close(tunnel_listen_fd);
	tunnel_listen_fd = -1;
	control.fd = fd;
	log_info("control connection accepted");
}

static int
tunnel_poll_timeout(void)
{
	time_t	 left;

	if (tunnel_listen_fd == -1)
		return -1;
	left = tunnel_accept_deadline - time(NULL);
	if (left <= 0)
		fatalx("Failed to accept tunnel connection - timed out after "
		    "%u s", tunnel_accept_timeout);
	return (int)(left > 3600 ? 3600000 : left * 1000);
}

/* End of the control connection: the parent then cleans up. */
static __attribute__((noreturn)) void
tunnel_end(void)
{
	if (control.exit_mode) {
		log_info("mtunnel exited");
		exit(0);
	}
	log_warnx("mtunnel exited unexpectedly: the control connection "
	    "ended without quit");
	exit(1);
}

/*
 * The control connection's poll events.  It is left out of the poll
 * while it may not be read and nothing waits to be written, so that a
 * hang-up does not wake the loop until the parent's result comes.
 */
static void
tunnel_control_events(struct pollfd *pfd)
{
	pfd->fd = control.fd != -1 ? control.fd : tunnel_listen_fd;
	pfd->events = POLLIN;
	if (control.fd == -1)
		return;
	pfd->events = (control_want_read() ? POLLIN : 0) |
	    (control.wlen > 0 ? POLLOUT : 0);
	if (pfd->events == 0)
		pfd->fd = -1;
}

static void
tunnel_io(struct pollfd *pfd)
{
	if ((pfd->revents & POLLOUT) && control_write() == -1)
		tunnel_end();
	if ((pfd->revents & (POLLIN | POLLHUP | POLLERR)) &&
	    control_read() == 0)
		tunnel_end();
	if (control.closing && control.wlen == 0)
		tunnel_end();
}

static __attribute__((noreturn)) void
tunnel_loop(void)
{
	struct pollfd	 pfd[2];

	tunnel_dispatch_buffered();
	for (;;) {
		pfd[0].fd = tunnel_ibuf.fd;
		pfd[0].events = POLLIN | (tunnel_ibuf.wqlen > 0 ? POLLOUT : 0);
		tunnel_control_events(&pfd[1]);
		if (poll(pfd, 2, tunnel_poll_timeout()) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if ((pfd[0].revents & POLLOUT) &&
		    imsg_flush(&tunnel_ibuf) == -1)
			fatalx("channel: %s", imsg_error(&tunnel_ibuf));
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			tunnel_read_parent();
		if (pfd[1].fd == -1 || pfd[1].revents == 0)
			continue;
		if (control.fd == -1)
			tunnel_accept();
		else
			tunnel_io(&pfd[1]);
	}
}

void
tunnel_main(int debug, int verbose)
{
	struct proc_setup	 setup;
	static char		 procname[32];

	(void)debug;
	(void)verbose;
	proc_child_start(&tunnel_ibuf, PROC_TUNNEL, &setup);
	if (setup.vmid < VMID_MIN || setup.vmid > VMID_MAX)
		fatalx("set-up names vmid %u, outside %d to %u", setup.vmid,
		    VMID_MIN, VMID_MAX);
	tunnel_accept_timeout = setup.accept_timeout;
	cmd_init(setup.vmid, tunnel_send);
	snprintf(procname, sizeof(procname), "tunnel %u", setup.vmid);
	log_setproc(procname);
	setproctitle("%s", procname);

	cmd_preload();
	drop_privileges(setup.chroot, setup.uid, setup.gid);
	if (tunnel_sandbox() == -1)
		fatalx("cannot install the seccomp filter");
	proc_child_ready(&tunnel_ibuf);
	tunnel_loop();
}
