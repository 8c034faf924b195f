/*
 * imsg-style framing: see imsg.h.
 *
 * A descriptor travels with the first byte of its message.  Received
 * descriptors wait in a queue and each message flagged IMSGF_HASFD takes
 * the oldest one.  Linux drops a passed descriptor without failing the
 * sendmsg when the receiver has no free slot, and sets MSG_CTRUNC on the
 * receiving side: such a message is reported as an error, never handed
 * out with fd -1.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imsg.h"

#define IMSG_RBUF_MIN		16384
#define IMSG_MAXIOV		16

static void	imsg_seterr(struct imsgbuf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	imsg_rbuf_reserve(struct imsgbuf *, size_t);
static void	imsg_take_fds(struct imsgbuf *, struct msghdr *);

void
imsg_init(struct imsgbuf *ibuf, int fd)
{
	memset(ibuf, 0, sizeof(*ibuf));
	ibuf->fd = fd;
	TAILQ_INIT(&ibuf->wq);
	TAILQ_INIT(&ibuf->fdq);
}

void
imsg_clear(struct imsgbuf *ibuf)
{
	struct imsg_wbuf	*wb;
	struct imsg_fdq		*fq;

	while ((wb = TAILQ_FIRST(&ibuf->wq)) != NULL) {
		TAILQ_REMOVE(&ibuf->wq, wb, entry);
		if (wb->fd != -1)
			close(wb->fd);
		free(wb->buf);
		free(wb);
	}
	while ((fq = TAILQ_FIRST(&ibuf->fdq)) != NULL) {
		TAILQ_REMOVE(&ibuf->fdq, fq, entry);
		close(fq->fd);
		free(fq);
	}
	free(ibuf->rbuf);
	ibuf->rbuf = NULL;
	ibuf->rsize = ibuf->rlen = ibuf->wqlen = 0;
}

const char *
imsg_error(const struct imsgbuf *ibuf)
{
	return ibuf->errstr[0] != '\0' ? ibuf->errstr : "no error";
}

static void
imsg_seterr(struct imsgbuf *ibuf, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(ibuf->errstr, sizeof(ibuf->errstr), fmt, ap);
	va_end(ap);
}

static int
imsg_rbuf_reserve(struct imsgbuf *ibuf, size_t need)
{
	unsigned char	*p;
	size_t		 size;

	if (ibuf->rsize >= need)
		return 0;

	size = ibuf->rsize ? ibuf->rsize : IMSG_RBUF_MIN;
	while (size < need)
		size *= 2;
	if (size > IMSG_MAXSIZE)
		size = IMSG_MAXSIZE;

	if ((p = realloc(ibuf->rbuf, size)) == NULL) {
		imsg_seterr(ibuf, "read buffer of %zu bytes: %s", size,
		    strerror(errno));
		return -1;
	}
	ibuf->rbuf = p;
	ibuf->rsize = size;
	return 0;
}

static void
imsg_take_fds(struct imsgbuf *ibuf, struct msghdr *msg)
{
	struct cmsghdr	*cmsg;
	struct imsg_fdq	*fq;
	size_t		 i, n;
	int		*fds;

	if (msg->msg_flags & MSG_CTRUNC)
		ibuf->lostfd = 1;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;

		n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		fds = (int *)CMSG_DATA(cmsg);
		for (i = 0; i < n; i++) {
			if ((fq = calloc(1, sizeof(*fq))) == NULL) {
				close(fds[i]);
				ibuf->lostfd = 1;
				continue;
			}
			fq->fd = fds[i];
			TAILQ_INSERT_TAIL(&ibuf->fdq, fq, entry);
		}
	}
}

/*
 * Read what the socket holds.  Returns the number of bytes read, 0 at end
 * of file, or -1 with errno (EAGAIN when nothing is there).
 */
ssize_t
imsg_read(struct imsgbuf *ibuf)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 4)];
	} cmsgbuf;
	ssize_t		 n;

	if (imsg_rbuf_reserve(ibuf, ibuf->rlen + IMSG_RBUF_MIN / 2) == -1)
		return -1;
	if (ibuf->rlen == ibuf->rsize) {
		imsg_seterr(ibuf, "read buffer full");
		errno = ENOBUFS;
		return -1;
	}

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = ibuf->rbuf + ibuf->rlen;
	iov.iov_len = ibuf->rsize - ibuf->rlen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);

	do {
		n = recvmsg(ibuf->fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno != EAGAIN)
			imsg_seterr(ibuf, "recvmsg: %s", strerror(errno));
		return -1;
	}

	imsg_take_fds(ibuf, &msg);
	ibuf->rlen += n;
	return n;
}

static int
imsg_check_hdr(struct imsgbuf *ibuf, const struct imsg_hdr *hdr)
{
	if (hdr->len < IMSG_HEADER_SIZE) {
		imsg_seterr(ibuf, "message type %u: length %u is shorter "
		    "than the header", hdr->type, hdr->len);
		errno = EBADMSG;
		return -1;
	}
	if (hdr->len > IMSG_MAXSIZE) {
		imsg_seterr(ibuf, "message type %u: length %u exceeds the "
		    "maximum of %d", hdr->type, hdr->len, IMSG_MAXSIZE);
		errno = EMSGSIZE;
		return -1;
	}
	if (hdr->flags & ~IMSGF_HASFD) {
		imsg_seterr(ibuf, "message type %u: unknown flags 0x%x",
		    hdr->type, hdr->flags);
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

static int
imsg_pop_fd(struct imsgbuf *ibuf, uint32_t type)
{
	struct imsg_fdq	*fq;
	int		 fd;

	/*
	 * After a drop, queued descriptors no longer match messages: the
	 * queue may already hold the descriptor of a later message.
	 */
	if (ibuf->lostfd || (fq = TAILQ_FIRST(&ibuf->fdq)) == NULL) {
		imsg_seterr(ibuf, "message type %u: its descriptor did not "
		    "arrive%s", type, ibuf->lostfd ?
		    " (dropped: receiver out of descriptors?)" : "");
		errno = EBADF;
		return -1;
	}
	TAILQ_REMOVE(&ibuf->fdq, fq, entry);
	fd = fq->fd;
	free(fq);
	return fd;
}

static int
imsg_count_fds(struct imsgbuf *ibuf)
{
	struct imsg_fdq	*fq;
	int		 n = 0;

	TAILQ_FOREACH(fq, &ibuf->fdq, entry)
		n++;
	return n;
}

/*
 * Take the next whole message out of the read buffer.  Returns 1 and
 * fills imsg, 0 when no whole message is there yet, or -1 on a malformed
 * message, which imsg_error() describes.  The caller then ends the
 * channel.
 */
int
imsg_get(struct imsgbuf *ibuf, struct imsg *imsg)
{
	struct imsg_hdr	 hdr;
	size_t		 datalen;

	if (imsg_count_fds(ibuf) > IMSG_MAXFDQ) {
		imsg_seterr(ibuf, "more than %d descriptors without a "
		    "message", IMSG_MAXFDQ);
		errno = EBADMSG;
		return -1;
	}
	if (ibuf->rlen < IMSG_HEADER_SIZE)
		return 0;

	memcpy(&hdr, ibuf->rbuf, sizeof(hdr));
	if (imsg_check_hdr(ibuf, &hdr) == -1)
		return -1;
	if (hdr.len > ibuf->rlen) {
		if (imsg_rbuf_reserve(ibuf, hdr.len) == -1)
			return -1;
		return 0;
	}

	memset(imsg, 0, sizeof(*imsg));
	imsg->hdr = hdr;
	imsg->fd = -1;
	if ((hdr.flags & IMSGF_HASFD) &&
	    (imsg->fd = imsg_pop_fd(ibuf, hdr.type)) == -1) {
		/* Drop the message so the reader is not stuck on it. */
		memmove(ibuf->rbuf, ibuf->rbuf + hdr.len,
		    ibuf->rlen - hdr.len);
		ibuf->rlen -= hdr.len;
		return -1;
	}

	datalen = hdr.len - IMSG_HEADER_SIZE;
	imsg->data = NULL;
	if (datalen > 0) {
		if ((imsg->data = malloc(datalen)) == NULL) {
			imsg_seterr(ibuf, "message of %zu bytes: %s",
			    datalen, strerror(errno));
			if (imsg->fd != -1)
				close(imsg->fd);
			/* The channel ends; leave no fd for a later one. */
			ibuf->lostfd = 1;
			return -1;
		}
		memcpy(imsg->data, ibuf->rbuf + IMSG_HEADER_SIZE, datalen);
	}

	memmove(ibuf->rbuf, ibuf->rbuf + hdr.len, ibuf->rlen - hdr.len);
	ibuf->rlen -= hdr.len;
	return 1;
}

void
imsg_free(struct imsg *imsg)
{
	free(imsg->data);
	imsg->data = NULL;
}

size_t
imsg_datalen(const struct imsg *imsg)
{
	return imsg->hdr.len - IMSG_HEADER_SIZE;
}

/*
 * Queue one message.  The descriptor, if not -1, belongs to the queue from
 * here on: it is closed once sent, or by imsg_clear().
 */
int
imsg_composev(struct imsgbuf *ibuf, uint32_t type, uint32_t peerid,
    uint32_t reqid, int fd, const struct iovec *iov, int iovcnt)
{
	struct imsg_wbuf	*wb;
	struct imsg_hdr		 hdr;
	size_t			 len = IMSG_HEADER_SIZE, off;
	int			 i;

	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len > IMSG_MAXSIZE) {
		imsg_seterr(ibuf, "message type %u: %zu bytes exceed the "
		    "maximum of %d", type, len, IMSG_MAXSIZE);
		errno = EMSGSIZE;
		goto fail;
	}

	if ((wb = calloc(1, sizeof(*wb))) == NULL ||
	    (wb->buf = malloc(len)) == NULL) {
		imsg_seterr(ibuf, "message type %u: %s", type,
		    strerror(errno));
		free(wb);
		goto fail;
	}

	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.len = len;
	hdr.flags = fd != -1 ? IMSGF_HASFD : 0;
	hdr.peerid = peerid;
	hdr.reqid = reqid;
	memcpy(wb->buf, &hdr, sizeof(hdr));
	for (i = 0, off = IMSG_HEADER_SIZE; i < iovcnt; i++) {
		if (iov[i].iov_len > 0)
			memcpy(wb->buf + off, iov[i].iov_base,
			    iov[i].iov_len);
		off += iov[i].iov_len;
	}

	wb->len = len;
	wb->fd = fd;
	TAILQ_INSERT_TAIL(&ibuf->wq, wb, entry);
	ibuf->wqlen += len;
	return 0;

fail:
	if (fd != -1)
		close(fd);
	return -1;
}

int
imsg_compose(struct imsgbuf *ibuf, uint32_t type, uint32_t peerid,
    uint32_t reqid, int fd, const void *data, size_t datalen)
{
	struct iovec	 iov;

	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = datalen;
	return imsg_composev(ibuf, type, peerid, reqid, fd, &iov,
	    datalen > 0 ? 1 : 0);
}

static ssize_t
imsg_send_some(struct imsgbuf *ibuf)
{
	struct imsg_wbuf	*wb, *first;
	struct iovec		 iov[IMSG_MAXIOV];
	struct msghdr		 msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct cmsghdr		*cmsg;
	int			 n = 0;

	memset(&msg, 0, sizeof(msg));
	first = TAILQ_FIRST(&ibuf->wq);
	TAILQ_FOREACH(wb, &ibuf->wq, entry) {
		/* A descriptor must ride on the first byte of a sendmsg. */
		if (n == IMSG_MAXIOV || (wb != first && wb->fd != -1))
			break;
		iov[n].iov_base = wb->buf + wb->off;
		iov[n].iov_len = wb->len - wb->off;
		n++;
	}
	msg.msg_iov = iov;
	msg.msg_iovlen = n;

	if (first->fd != -1 && first->off == 0) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), &first->fd, sizeof(int));
	}

	return sendmsg(ibuf->fd, &msg, MSG_NOSIGNAL);
}

static void
imsg_consume(struct imsgbuf *ibuf, size_t n)
{
	struct imsg_wbuf	*wb;
	size_t			 left;

	ibuf->wqlen -= n;
	while (n > 0 && (wb = TAILQ_FIRST(&ibuf->wq)) != NULL) {
		if (wb->fd != -1) {
			/* Sent with the first byte: ours to close now. */
			close(wb->fd);
			wb->fd = -1;
		}
		left = wb->len - wb->off;
		if (n < left) {
			wb->off += n;
			return;
		}
		n -= left;
		TAILQ_REMOVE(&ibuf->wq, wb, entry);
		free(wb->buf);
		free(wb);
	}
}

/*
 * Write what the socket takes without blocking.  Returns 0 when the queue
 * is empty, 1 when bytes remain, or -1 with errno.
 */
int
imsg_flush(struct imsgbuf *ibuf)
{
	ssize_t	 n;

	while (!TAILQ_EMPTY(&ibuf->wq)) {
		n = imsg_send_some(ibuf);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 1;
			imsg_seterr(ibuf, "sendmsg: %s", strerror(errno));
			return -1;
		}
		imsg_consume(ibuf, n);
	}
	return 0;
}

/*
 * Flush the whole queue, waiting up to timeout_ms for the peer to drain.
 * For setup and shutdown, and for log records of a process that must not
 * lose them.
 */
int
imsg_flush_blocking(struct imsgbuf *ibuf, int timeout_ms)
{
	struct pollfd	 pfd;
	struct timespec	 start, now;
	int		 rv, left;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while ((rv = imsg_flush(ibuf)) == 1) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0) {
			imsg_seterr(ibuf, "flush timed out after %d ms",
			    timeout_ms);
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = ibuf->fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, left) == -1 && errno != EINTR) {
			imsg_seterr(ibuf, "poll: %s", strerror(errno));
			return -1;
		}
	}
	return rv;
}
