/*
 * The priv role: stays root, outside any chroot, and acts only on the
 * parent's requests.  It forks the spawner first, then restricts itself
 * and installs its filter.  Configs, volumes, sockets, the journal and
 * QEMU control land with the storage, tunnel and runtime features.
 */

#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/unistd.h>

#include "imsg.h"
#include "log.h"
#include "mtunneld.h"
#include "priv.h"
#include "privdrop.h"
#include "proc.h"

static struct imsgbuf	 priv_ibuf;	/* to the parent */
static struct imsgbuf	 spawner_ibuf;
static struct proc_setup priv_setup;

static void
priv_reply(const struct imsg *imsg, int error, const char *msg, int fd)
{
	struct priv_result	 res;

	memset(&res, 0, sizeof(res));
	res.error = error;
	strlcpy(res.msg, msg, sizeof(res.msg));
	if (imsg_compose(&priv_ibuf, IMSG_PRIV_RESULT, imsg->hdr.peerid,
	    imsg->hdr.reqid, fd, &res, sizeof(res)) == -1)
		fatalx("reply: %s", imsg_error(&priv_ibuf));
}

/*
 * Check a request that names a VMID: exact length, a VMID in range, and
 * the same VMID the parent stamped in the header.
 */
static int
priv_check_vmid(const struct imsg *imsg, struct priv_vmid_req *req)
{
	if (imsg_datalen(imsg) != sizeof(*req))
		fatalx("message type %u of %zu bytes", imsg->hdr.type,
		    imsg_datalen(imsg));
	memcpy(req, imsg->data, sizeof(*req));
	if (req->vmid < VMID_MIN || req->vmid > VMID_MAX ||
	    req->vmid != imsg->hdr.peerid) {
		log_warnx("message type %u for vmid %u (stamped %u) rejected",
		    imsg->hdr.type, req->vmid, imsg->hdr.peerid);
		priv_reply(imsg, EINVAL, "invalid vmid", -1);
		return -1;
	}
	return 0;
}

static void
priv_config_create(const struct imsg *imsg)
{
	struct priv_vmid_req	 req;
	char			 msg[256] = "";
	int			 rv;

	if (priv_check_vmid(imsg, &req) == -1)
		return;
	rv = config_create(priv_setup.confdir, priv_setup.rundir, req.vmid,
	    msg, sizeof(msg));
	if (rv == 0)
		log_info("vmid %u: created placeholder config", req.vmid);
	else
		log_warnx("vmid %u: create config: %s", req.vmid, msg);
	priv_reply(imsg, rv, msg, -1);
}

static void
priv_socket_create(const struct imsg *imsg)
{
	struct priv_vmid_req	 req;
	char			 msg[256] = "";
	int			 fd;

	if (priv_check_vmid(imsg, &req) == -1)
		return;
	fd = sock_create(priv_setup.rundir, req.vmid, req.kind, msg,
	    sizeof(msg));
	if (fd == -1)
		log_warnx("vmid %u: %s", req.vmid, msg);
	priv_reply(imsg, fd == -1 ? EIO : 0, msg, fd);
}

/*
 * Remove what a migration left: its sockets, and its config while that is
 * still the bare placeholder.
 */
static void
priv_cleanup(const struct imsg *imsg)
{
	struct priv_cleanup	 req;

	if (imsg_datalen(imsg) != sizeof(req))
		fatalx("cleanup request of %zu bytes", imsg_datalen(imsg));
	memcpy(&req, imsg->data, sizeof(req));
	if (req.vmid < VMID_MIN || req.vmid > VMID_MAX ||
	    req.vmid != imsg->hdr.peerid) {
		log_warnx("cleanup request for vmid %u (stamped %u) rejected",
		    req.vmid, imsg->hdr.peerid);
		return;
	}
	/* TODO: replay this migration's journal once priv keeps one. */
	log_info("vmid %u: cleanup (reason %u)", req.vmid, req.reason);
	sock_remove_all(priv_setup.rundir, req.vmid);
	config_destroy_placeholder(priv_setup.confdir, priv_setup.rundir,
	    req.vmid);
}

static void
priv_dispatch_parent(struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_PRIV_CONFIG_CREATE:
		priv_config_create(imsg);
		break;
	case IMSG_PRIV_SOCKET_CREATE:
		priv_socket_create(imsg);
		break;
	case IMSG_PRIV_CLEANUP:
		priv_cleanup(imsg);
		break;
	default:
		fatalx("unexpected message type %u from the parent",
		    imsg->hdr.type);
	}
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

static __attribute__((noreturn)) void
priv_loop(void)
{
	struct pollfd	 pfd[2];
	struct imsg	 imsg;
	int		 rv;

	/* Messages read along with the set-up ones. */
	while ((rv = imsg_get(&priv_ibuf, &imsg)) == 1) {
		priv_dispatch_parent(&imsg);
		if (imsg.fd != -1)
			close(imsg.fd);
		imsg_free(&imsg);
	}
	if (rv == -1)
		fatalx("channel: %s", imsg_error(&priv_ibuf));

	pfd[0].fd = priv_ibuf.fd;
	pfd[1].fd = spawner_ibuf.fd;
	for (;;) {
		pfd[0].events = POLLIN | (priv_ibuf.wqlen ? POLLOUT : 0);
		pfd[1].events = POLLIN | (spawner_ibuf.wqlen ? POLLOUT : 0);
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		priv_flush(&pfd[0], &priv_ibuf);
		priv_flush(&pfd[1], &spawner_ibuf);

		if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    priv_read(&spawner_ibuf, priv_dispatch_spawner) == 0)
			fatalx("the spawner exited");
		if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    priv_read(&priv_ibuf, priv_dispatch_parent) == 0)
			exit(0);	/* the parent is gone or stopping us */
	}
}

void
priv_main(int debug, int verbose)
{
	struct proc_setup	*setup = &priv_setup;
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

	sock_init();
	restrict_process();
	if (priv_sandbox() == -1)
		fatalx("cannot install the seccomp filter");
	proc_child_ready(&priv_ibuf);
	priv_loop();
}
