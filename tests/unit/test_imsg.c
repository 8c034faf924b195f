/*
 * Unit tests for the imsg framing layer (common/imsg.c).  Every test runs
 * over a real socketpair(AF_UNIX, SOCK_STREAM).  The writer end is
 * non-blocking, so one thread can play both peers and flush the writer
 * between reads on the reader.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "imsg.h"

#define TEST_TIMEOUT_MS		10000	/* upper bound on every wait */
#define TEST_SMALL_BUF		4096	/* SO_SNDBUF and SO_RCVBUF, bytes */
#define TEST_MAXPAYLOAD		(IMSG_MAXSIZE - IMSG_HEADER_SIZE)

/* Mirrors IMSG_MAXFDQ in imsg.c, which imsg.h does not export. */
#define TEST_MAXFDQ		16

#define assert_contains(s, sub) do {					\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("\"%s\" does not contain \"%s\"", (s), (sub));	\
} while (0)

/* A channel whose writer is sv[0] (non-blocking) and reader is sv[1]. */
struct pair {
	int		 sv[2];
	struct imsgbuf	 w;
	struct imsgbuf	 r;
};

/* What a forked receiver reports back to the test. */
struct child_report {
	int		 first_rv;
	int		 first_errno;
	int		 first_had_fd;	/* A message came with a descriptor. */
	int		 next_rv;
	uint32_t	 next_type;
	char		 errstr[160];
};

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
set_nonblock(int fd)
{
	int	 flags;

	flags = fcntl(fd, F_GETFL);
	assert_int_not_equal(flags, -1);
	assert_int_equal(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
}

static void
shrink_buffers(int fd)
{
	int	 size = TEST_SMALL_BUF;

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size,
	    sizeof(size)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
	    sizeof(size)), 0);
}

static void
pair_open(struct pair *p)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    p->sv), 0);
	set_nonblock(p->sv[0]);
	imsg_init(&p->w, p->sv[0]);
	imsg_init(&p->r, p->sv[1]);
}

static void
pair_close(struct pair *p)
{
	imsg_clear(&p->w);
	imsg_clear(&p->r);
	if (p->sv[0] != -1)
		close(p->sv[0]);
	if (p->sv[1] != -1)
		close(p->sv[1]);
	p->sv[0] = p->sv[1] = -1;
}

static int
setup_pair(void **state)
{
	struct pair	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	pair_open(p);
	*state = p;
	return 0;
}

static int
teardown_pair(void **state)
{
	struct pair	*p = *state;

	pair_close(p);
	free(p);
	return 0;
}

/* Fill buf with a pattern that differs per seed and per offset. */
static void
fill_pattern(unsigned char *buf, size_t len, uint32_t seed)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 31 + seed * 7 + (i >> 8)) & 0xff);
}

static void
assert_pattern(const unsigned char *buf, size_t len, uint32_t seed)
{
	unsigned char	*want;

	if ((want = malloc(len > 0 ? len : 1)) == NULL)
		fail_msg("malloc %zu bytes failed", len);
	fill_pattern(want, len, seed);
	assert_memory_equal(buf, want, len);
	free(want);
}

/*
 * Read from p->r until imsg_get() returns a message or an error, the peer
 * closes the channel, or TEST_TIMEOUT_MS passes (a test failure).  The
 * writer's queue is flushed between reads.  Returns imsg_get()'s 1 or -1,
 * or 0 at end of file.
 */
static int
receive(struct pair *p, struct imsg *imsg)
{
	struct pollfd	 pfd;
	int64_t		 deadline = now_ms() + TEST_TIMEOUT_MS;
	ssize_t		 n;
	int		 rv;

	for (;;) {
		if ((rv = imsg_get(&p->r, imsg)) != 0)
			return rv;
		if (p->sv[0] != -1 && imsg_flush(&p->w) == -1)
			fail_msg("imsg_flush: %s", imsg_error(&p->w));
		if (now_ms() > deadline)
			fail_msg("no whole message within %d ms",
			    TEST_TIMEOUT_MS);

		pfd.fd = p->r.fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		n = imsg_read(&p->r);
		if (n == 0)
			return 0;
		if (n == -1 && errno != EAGAIN)
			fail_msg("imsg_read: %s", imsg_error(&p->r));
	}
}

/* Wait up to TEST_TIMEOUT_MS for fd to become readable, so no read hangs. */
static void
wait_readable(int fd)
{
	struct pollfd	 pfd;

	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, TEST_TIMEOUT_MS) != 1)
		fail_msg("descriptor %d not readable within %d ms", fd,
		    TEST_TIMEOUT_MS);
}

/* Write all of buf to a descriptor whose peer buffer has room for it. */
static void
write_all(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

/* Send len bytes with fd attached as SCM_RIGHTS. */
static void
send_with_fd(int sock, const void *buf, size_t len, int fd)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cmsg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	assert_int_equal(sendmsg(sock, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

/* Serialize a message by hand, as the wire format defines it. */
static size_t
serialize(unsigned char *out, uint32_t type, uint32_t flags,
    uint32_t peerid, uint32_t reqid, const void *data, size_t datalen)
{
	struct imsg_hdr	 hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.len = IMSG_HEADER_SIZE + datalen;
	hdr.flags = flags;
	hdr.peerid = peerid;
	hdr.reqid = reqid;
	memcpy(out, &hdr, sizeof(hdr));
	if (datalen > 0)
		memcpy(out + IMSG_HEADER_SIZE, data, datalen);
	return IMSG_HEADER_SIZE + datalen;
}

static void
write_raw_header(int sock, uint32_t type, uint32_t len, uint32_t flags)
{
	struct imsg_hdr	 hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.len = len;
	hdr.flags = flags;
	write_all(sock, &hdr, sizeof(hdr));
}

/* Assert that every write end of the pipe is closed, so read gets EOF. */
static void
assert_pipe_writers_closed(int rfd)
{
	char	 c;

	set_nonblock(rfd);
	assert_int_equal(read(rfd, &c, 1), 0);
}

static void
assert_fd_closed(int fd)
{
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

/* Write through a received pipe end and read the bytes at the other end. */
static void
assert_pipe_carries(int wfd, int rfd, const char *text)
{
	char	 buf[64];
	size_t	 len = strlen(text);

	assert_true(len < sizeof(buf));
	assert_int_equal(write(wfd, text, len), (ssize_t)len);
	wait_readable(rfd);
	assert_int_equal(read(rfd, buf, sizeof(buf)), (ssize_t)len);
	assert_memory_equal(buf, text, len);
}

static void
assert_message(const struct imsg *imsg, uint32_t type, uint32_t peerid,
    uint32_t reqid, const void *data, size_t datalen)
{
	assert_int_equal(imsg->hdr.type, type);
	assert_int_equal(imsg->hdr.len, IMSG_HEADER_SIZE + datalen);
	assert_int_equal(imsg->hdr.flags, 0);
	assert_int_equal(imsg->hdr.peerid, peerid);
	assert_int_equal(imsg->hdr.reqid, reqid);
	assert_int_equal(imsg->fd, -1);
	assert_int_equal(imsg_datalen(imsg), datalen);
	if (datalen == 0)
		assert_null(imsg->data);
	else
		assert_memory_equal(imsg->data, data, datalen);
}

static void
test_round_trip(void **state)
{
	struct pair	*p = *state;
	struct imsg	 imsg;
	struct iovec	 iov[3];
	const char	 hello[] = "hello";

	assert_int_equal(imsg_compose(&p->w, 7, 11, 13, -1, hello,
	    sizeof(hello)), 0);
	iov[0].iov_base = (void *)(uintptr_t)"ab";
	iov[0].iov_len = 2;
	iov[1].iov_base = NULL;
	iov[1].iov_len = 0;
	iov[2].iov_base = (void *)(uintptr_t)"cde";
	iov[2].iov_len = 3;
	assert_int_equal(imsg_composev(&p->w, 8, 0xffffffff, 0, -1, iov, 3),
	    0);
	assert_int_equal(imsg_compose(&p->w, 9, 0, 0xfffffffe, -1, NULL, 0),
	    0);
	assert_int_equal(imsg_flush(&p->w), 0);
	assert_int_equal(p->w.wqlen, 0);

	assert_int_equal(receive(p, &imsg), 1);
	assert_message(&imsg, 7, 11, 13, hello, sizeof(hello));
	imsg_free(&imsg);
	assert_int_equal(receive(p, &imsg), 1);
	assert_message(&imsg, 8, 0xffffffff, 0, "abcde", 5);
	imsg_free(&imsg);
	assert_int_equal(receive(p, &imsg), 1);
	assert_message(&imsg, 9, 0, 0xfffffffe, NULL, 0);
	imsg_free(&imsg);

	assert_int_equal(imsg_get(&p->r, &imsg), 0);
	assert_int_equal(p->r.rlen, 0);
}

static void
test_exact_lengths(void **state)
{
	/* Around the header size and the reader's initial 16 KiB buffer. */
	static const size_t	 lengths[] = { 0, 1, 3, 19, 20, 21, 4095,
	    4096, 16363, 16364, 16365, 65536 };
	struct pair		*p = *state;
	struct imsg		 imsg;
	unsigned char		*buf;
	size_t			 i, n;

	buf = malloc(65536);
	assert_non_null(buf);
	for (i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		n = lengths[i];
		fill_pattern(buf, n, i);
		assert_int_equal(imsg_compose(&p->w, 100 + i, i, n, -1, buf,
		    n), 0);
		assert_int_equal(receive(p, &imsg), 1);
		assert_message(&imsg, 100 + i, i, n, buf, n);
		imsg_free(&imsg);
	}
	assert_int_equal(imsg_get(&p->r, &imsg), 0);
	assert_int_equal(p->r.rlen, 0);
	free(buf);
}

static void
test_wire_format(void **state)
{
	struct pair	*p = *state;
	struct imsg_hdr	 hdr;
	unsigned char	 buf[256];

	assert_int_equal(imsg_compose(&p->w, 0x01020304, 0xa0b0c0d0, 77, -1,
	    "12345", 5), 0);
	assert_int_equal(imsg_flush(&p->w), 0);

	wait_readable(p->sv[1]);
	assert_int_equal(read(p->sv[1], buf, sizeof(buf)),
	    (ssize_t)IMSG_HEADER_SIZE + 5);
	memcpy(&hdr, buf, sizeof(hdr));
	assert_int_equal(hdr.type, 0x01020304);
	assert_int_equal(hdr.len, IMSG_HEADER_SIZE + 5);
	assert_int_equal(hdr.flags, 0);
	assert_int_equal(hdr.peerid, 0xa0b0c0d0);
	assert_int_equal(hdr.reqid, 77);
	assert_memory_equal(buf + IMSG_HEADER_SIZE, "12345", 5);
	assert_int_equal(recv(p->sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static void
test_compose_rejects_oversize(void **state)
{
	struct pair	*p = *state;
	struct iovec	 iov[2];
	unsigned char	*buf;
	int		 pfd[2];

	buf = calloc(1, TEST_MAXPAYLOAD + 1);
	assert_non_null(buf);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);

	/* The descriptor belongs to imsg even when compose fails. */
	assert_int_equal(imsg_compose(&p->w, 1, 0, 0, pfd[1], buf,
	    TEST_MAXPAYLOAD + 1), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_contains(imsg_error(&p->w), "exceed the maximum");
	assert_int_equal(p->w.wqlen, 0);
	assert_true(TAILQ_EMPTY(&p->w.wq));
	assert_pipe_writers_closed(pfd[0]);
	close(pfd[0]);

	iov[0].iov_base = buf;
	iov[0].iov_len = TEST_MAXPAYLOAD;
	iov[1].iov_base = buf;
	iov[1].iov_len = 1;
	assert_int_equal(imsg_composev(&p->w, 2, 0, 0, -1, iov, 2), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(p->w.wqlen, 0);

	/* Exactly the maximum is accepted. */
	assert_int_equal(imsg_compose(&p->w, 3, 0, 0, -1, buf,
	    TEST_MAXPAYLOAD), 0);
	assert_int_equal(p->w.wqlen, IMSG_MAXSIZE);
	free(buf);
}

/* Write one raw header and expect imsg_get() to reject it at once. */
static void
assert_header_rejected(uint32_t len, uint32_t flags, int want_errno,
    const char *want_text)
{
	struct pair	 p;
	struct imsg	 imsg;

	pair_open(&p);
	write_raw_header(p.sv[0], 5, len, flags);
	wait_readable(p.sv[1]);
	assert_int_equal(imsg_read(&p.r), (ssize_t)IMSG_HEADER_SIZE);
	assert_int_equal(imsg_get(&p.r, &imsg), -1);
	assert_int_equal(errno, want_errno);
	assert_contains(imsg_error(&p.r), want_text);
	assert_contains(imsg_error(&p.r), "message type 5");
	pair_close(&p);
}

static void
test_get_rejects_oversize(void **state)
{
	assert_header_rejected(IMSG_MAXSIZE + 1, 0, EMSGSIZE,
	    "exceeds the maximum");
	assert_header_rejected(0xffffffff, 0, EMSGSIZE,
	    "exceeds the maximum");
}

static void
test_get_rejects_undersize(void **state)
{
	assert_header_rejected(IMSG_HEADER_SIZE - 1, 0, EBADMSG,
	    "shorter than the header");
	assert_header_rejected(0, 0, EBADMSG, "shorter than the header");
}

static void
test_get_rejects_unknown_flags(void **state)
{
	assert_header_rejected(IMSG_HEADER_SIZE, 0x0002, EBADMSG,
	    "unknown flags 0x2");
	assert_header_rejected(IMSG_HEADER_SIZE, IMSGF_HASFD | 0x80000000,
	    EBADMSG, "unknown flags 0x80000001");
}

/*
 * Write the first nbytes of a 120-byte message, close the writer and read
 * to end of file.  No message may come out.
 */
static void
assert_truncated_held(size_t nbytes)
{
	struct pair	 p;
	struct imsg	 imsg;
	unsigned char	 msg[IMSG_HEADER_SIZE + 100], payload[100];
	int		 reads;
	ssize_t		 n;

	fill_pattern(payload, sizeof(payload), 9);
	serialize(msg, 6, 0, 0, 0, payload, sizeof(payload));
	pair_open(&p);
	write_all(p.sv[0], msg, nbytes);
	close(p.sv[0]);
	p.sv[0] = -1;

	for (reads = 0; reads < 100; reads++) {
		wait_readable(p.sv[1]);
		if ((n = imsg_read(&p.r)) <= 0)
			break;
		assert_int_equal(imsg_get(&p.r, &imsg), 0);
	}
	assert_int_equal(n, 0);
	assert_int_equal(imsg_get(&p.r, &imsg), 0);
	assert_int_equal(p.r.rlen, nbytes);
	assert_int_equal(imsg_read(&p.r), 0);
	pair_close(&p);
}

static void
test_truncated_message(void **state)
{
	assert_truncated_held(10);
	assert_truncated_held(IMSG_HEADER_SIZE);
	assert_truncated_held(IMSG_HEADER_SIZE + 50);
	assert_truncated_held(IMSG_HEADER_SIZE + 99);
}

static void
test_eof_on_empty_channel(void **state)
{
	struct pair	*p = *state;
	struct imsg	 imsg;

	close(p->sv[0]);
	p->sv[0] = -1;
	assert_int_equal(imsg_read(&p->r), 0);
	assert_int_equal(imsg_get(&p->r, &imsg), 0);
}

static void
test_fd_passing(void **state)
{
	struct pair	*p = *state;
	struct imsg	 imsg;
	struct stat	 st;
	int		 pa[2], pb[2];

	assert_int_equal(pipe2(pa, O_CLOEXEC), 0);
	assert_int_equal(pipe2(pb, O_CLOEXEC), 0);
	assert_int_equal(imsg_compose(&p->w, 20, 1, 2, pa[1], "a", 1), 0);
	assert_int_equal(imsg_compose(&p->w, 21, 3, 4, pb[1], NULL, 0), 0);
	assert_int_equal(imsg_flush(&p->w), 0);
	/* Sent descriptors are closed on the sending side. */
	assert_fd_closed(pa[1]);
	assert_fd_closed(pb[1]);

	/* Both descriptors wait in the reader before any message is taken. */
	while (p->r.rlen < 2 * IMSG_HEADER_SIZE + 1) {
		wait_readable(p->sv[1]);
		assert_true(imsg_read(&p->r) > 0);
	}

	assert_int_equal(imsg_get(&p->r, &imsg), 1);
	assert_int_equal(imsg.hdr.type, 20);
	assert_int_equal(imsg.hdr.flags, IMSGF_HASFD);
	assert_int_equal(imsg_datalen(&imsg), 1);
	assert_true(imsg.fd >= 0);
	assert_int_equal(fstat(imsg.fd, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_true(fcntl(imsg.fd, F_GETFD) & FD_CLOEXEC);
	assert_pipe_carries(imsg.fd, pa[0], "through a");
	close(imsg.fd);
	/* The received end was the last write end of that pipe. */
	assert_pipe_writers_closed(pa[0]);
	imsg_free(&imsg);

	assert_int_equal(imsg_get(&p->r, &imsg), 1);
	assert_int_equal(imsg.hdr.type, 21);
	assert_int_equal(imsg.hdr.flags, IMSGF_HASFD);
	assert_true(imsg.fd >= 0);
	assert_pipe_carries(imsg.fd, pb[0], "through b");
	close(imsg.fd);
	imsg_free(&imsg);

	close(pa[0]);
	close(pb[0]);
}

/*
 * A header flagged IMSGF_HASFD and written with plain write() is
 * rejected, and the reader goes on with the next message.
 */
static void
test_fd_missing_rejected(void **state)
{
	struct pair	*p = *state;
	struct imsg	 imsg;
	unsigned char	 msg[64];
	size_t		 len;

	len = serialize(msg, 42, IMSGF_HASFD, 0, 0, "xyz", 3);
	write_all(p->sv[0], msg, len);
	assert_int_equal(imsg_compose(&p->w, 43, 0, 0, -1, "ok", 2), 0);

	assert_int_equal(receive(p, &imsg), -1);
	assert_int_equal(errno, EBADF);
	assert_contains(imsg_error(&p->r), "message type 42");
	assert_contains(imsg_error(&p->r), "descriptor did not arrive");

	assert_int_equal(receive(p, &imsg), 1);
	assert_message(&imsg, 43, 0, 0, "ok", 2);
	imsg_free(&imsg);
}

/* Read r until a message or an error comes out, in a forked child. */
static int
child_get(struct imsgbuf *r, struct imsg *imsg)
{
	ssize_t	 n;
	int	 rv;

	while ((rv = imsg_get(r, imsg)) == 0) {
		if ((n = imsg_read(r)) <= 0)
			return n == 0 ? -2 : -3;
	}
	return rv;
}

/*
 * Lower the soft RLIMIT_NOFILE to the lowest free descriptor number, so
 * the kernel has no slot for a passed descriptor.  Stores the old limit
 * in old.  Returns -1 on failure rather than failing a test, because it
 * runs in a forked child.
 *
 * NOTE: valgrind emulates RLIMIT_NOFILE without passing it to the kernel,
 * so no descriptor is dropped and the tests that call this fail there.
 */
static int
child_exhaust_fds(int anyfd, struct rlimit *old)
{
	struct rlimit	 rl;
	int		 lowest;

	if ((lowest = fcntl(anyfd, F_DUPFD, 0)) == -1)
		return -1;
	close(lowest);
	if (getrlimit(RLIMIT_NOFILE, old) == -1)
		return -1;
	rl = *old;
	rl.rlim_cur = lowest;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

/* Receive two messages in a forked child and fill rep. */
static void
child_get_two(struct imsgbuf *r, struct child_report *rep)
{
	struct imsg	 imsg;

	rep->first_rv = child_get(r, &imsg);
	rep->first_errno = errno;
	snprintf(rep->errstr, sizeof(rep->errstr), "%s", imsg_error(r));
	if (rep->first_rv == 1 && imsg.fd != -1) {
		rep->first_had_fd = 1;
		close(imsg.fd);
	}
	rep->next_rv = child_get(r, &imsg);
	if (rep->next_rv == 1)
		rep->next_type = imsg.hdr.type;
}

/* Receive both messages with no free descriptor slot at all. */
static void
child_drop_all(struct imsgbuf *r, int report, struct child_report *rep)
{
	struct rlimit	 old;

	if (child_exhaust_fds(report, &old) == -1)
		_exit(11);
	child_get_two(r, rep);
}

/*
 * Take only the first read with no free descriptor slot, then restore
 * the limit and receive the rest.
 */
static void
child_drop_first(struct imsgbuf *r, int report, struct child_report *rep)
{
	struct rlimit	 old;

	if (child_exhaust_fds(report, &old) == -1)
		_exit(11);
	if (imsg_read(r) <= 0)
		_exit(12);
	if (setrlimit(RLIMIT_NOFILE, &old) == -1)
		_exit(13);
	child_get_two(r, rep);
}

/*
 * Fork a child that runs receive() on p->r and sends the child_report
 * back through a pipe.  Every wait is bounded by TEST_TIMEOUT_MS.
 */
static void
run_receiver_child(struct pair *p,
    void (*receive_fn)(struct imsgbuf *, int, struct child_report *),
    struct child_report *rep)
{
	struct pollfd	 pfd;
	int		 report[2], status;
	pid_t		 pid;

	assert_int_equal(pipe2(report, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		alarm(TEST_TIMEOUT_MS / 1000);
		close(report[0]);
		memset(rep, 0, sizeof(*rep));
		receive_fn(&p->r, report[1], rep);
		if (write(report[1], rep, sizeof(*rep)) !=
		    (ssize_t)sizeof(*rep))
			_exit(14);
		_exit(0);
	}
	close(report[1]);

	pfd.fd = report[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, TEST_TIMEOUT_MS), 1);
	memset(rep, 0, sizeof(*rep));
	assert_int_equal(read(report[0], rep, sizeof(*rep)),
	    (ssize_t)sizeof(*rep));
	close(report[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	rep->errstr[sizeof(rep->errstr) - 1] = '\0';
}

/*
 * Linux accepts the sendmsg() but discards a passed descriptor when the
 * receiver has no free slot, and sets MSG_CTRUNC (observed on 6.18).
 */
static void
test_fd_dropped_at_rlimit(void **state)
{
	struct pair		*p = *state;
	struct child_report	 rep;
	int			 pipefd[2];

	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	assert_int_equal(imsg_compose(&p->w, 50, 0, 0, pipefd[1], "fd", 2), 0);
	assert_int_equal(imsg_compose(&p->w, 51, 0, 0, -1, "next", 4), 0);
	assert_int_equal(imsg_flush(&p->w), 0);
	close(pipefd[0]);

	run_receiver_child(p, child_drop_all, &rep);
	assert_int_equal(rep.first_rv, -1);
	assert_int_equal(rep.first_errno, EBADF);
	assert_contains(rep.errstr, "message type 50");
	assert_contains(rep.errstr, "descriptor did not arrive");
	assert_contains(rep.errstr, "dropped");
	assert_int_equal(rep.next_rv, 1);
	assert_int_equal(rep.next_type, 51);
}

/*
 * Message A's descriptor is dropped, then message B arrives with its own.
 * One read can return the tail of A and all of B with B's descriptor
 * (observed on Linux 6.18).  A must still be rejected, not handed B's.
 */
static void
test_fd_drop_no_mismatch(void **state)
{
	struct pair		*p = *state;
	struct child_report	 rep;
	unsigned char		 wire[64];
	size_t			 alen, blen;
	int			 pa[2], pb[2];

	assert_int_equal(pipe2(pa, O_CLOEXEC), 0);
	assert_int_equal(pipe2(pb, O_CLOEXEC), 0);
	alen = serialize(wire, 52, IMSGF_HASFD, 0, 0, "payload", 7);
	blen = serialize(wire + alen, 53, IMSGF_HASFD, 0, 0, "b", 1);
	/* A's first bytes carry its descriptor, the rest goes separately. */
	send_with_fd(p->sv[0], wire, 10, pa[1]);
	write_all(p->sv[0], wire + 10, alen - 10);
	send_with_fd(p->sv[0], wire + alen, blen, pb[1]);
	close(pa[1]);
	close(pb[1]);

	run_receiver_child(p, child_drop_first, &rep);
	if (rep.first_had_fd)
		fail_msg("message type 52 came out with the descriptor of "
		    "message type 53");
	assert_int_equal(rep.first_rv, -1);
	assert_contains(rep.errstr, "message type 52");
	assert_contains(rep.errstr, "dropped");
	close(pa[0]);
	close(pb[0]);
}

/*
 * Two messages are written one byte at a time, and the first byte carries
 * a descriptor.  Only whole messages come out, the descriptor with its
 * message.
 */
static void
test_one_byte_chunks(void **state)
{
	struct pair	*p = *state;
	struct imsg	 imsg;
	unsigned char	 wire[256], payload[37];
	size_t		 alen, total, i;
	int		 pipefd[2], rv;

	set_nonblock(p->sv[1]);
	shrink_buffers(p->sv[0]);
	shrink_buffers(p->sv[1]);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	fill_pattern(payload, sizeof(payload), 60);
	alen = serialize(wire, 60, IMSGF_HASFD, 6, 7, payload,
	    sizeof(payload));
	total = alen + serialize(wire + alen, 61, 0, 8, 9, "tail!", 5);

	for (i = 0; i < total; i++) {
		if (i == 0)
			send_with_fd(p->sv[0], wire, 1, pipefd[1]);
		else
			write_all(p->sv[0], wire + i, 1);
		assert_int_equal(imsg_read(&p->r), 1);
		rv = imsg_get(&p->r, &imsg);
		if (i != alen - 1 && i != total - 1) {
			assert_int_equal(rv, 0);
			continue;
		}
		assert_int_equal(rv, 1);
		if (i == alen - 1) {
			assert_int_equal(imsg.hdr.type, 60);
			assert_int_equal(imsg.hdr.flags, IMSGF_HASFD);
			assert_int_equal(imsg_datalen(&imsg), sizeof(payload));
			assert_memory_equal(imsg.data, payload,
			    sizeof(payload));
			assert_true(imsg.fd >= 0);
			assert_pipe_carries(imsg.fd, pipefd[0], "chunked");
			close(imsg.fd);
		} else
			assert_message(&imsg, 61, 8, 9, "tail!", 5);
		imsg_free(&imsg);
	}
	assert_int_equal(imsg_get(&p->r, &imsg), 0);
	assert_int_equal(imsg_read(&p->r), -1);
	assert_int_equal(errno, EAGAIN);
	close(pipefd[1]);
	close(pipefd[0]);
}

/*
 * One message with a descriptor is larger than the socket buffer.  The
 * first flush writes part of it and sends the descriptor, and the reader
 * gets only the whole message.
 */
static void
test_partial_write_resumes(void **state)
{
	struct pair	*p = *state;
	struct imsg	 imsg;
	unsigned char	*buf;
	const size_t	 len = 256 * 1024;
	int		 pipefd[2];

	shrink_buffers(p->sv[0]);
	shrink_buffers(p->sv[1]);
	buf = malloc(len);
	assert_non_null(buf);
	fill_pattern(buf, len, 70);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	assert_int_equal(imsg_compose(&p->w, 70, 0, 0, pipefd[1], buf, len),
	    0);

	assert_int_equal(imsg_flush(&p->w), 1);
	assert_true(p->w.wqlen > 0);
	assert_true(p->w.wqlen < IMSG_HEADER_SIZE + len);
	assert_fd_closed(pipefd[1]);

	assert_int_equal(receive(p, &imsg), 1);
	assert_int_equal(imsg.hdr.type, 70);
	assert_int_equal(imsg.hdr.flags, IMSGF_HASFD);
	assert_int_equal(imsg_datalen(&imsg), len);
	assert_memory_equal(imsg.data, buf, len);
	assert_true(imsg.fd >= 0);
	assert_pipe_carries(imsg.fd, pipefd[0], "partial");
	close(imsg.fd);
	imsg_free(&imsg);
	assert_int_equal(imsg_flush(&p->w), 0);
	assert_int_equal(p->w.wqlen, 0);
	close(pipefd[0]);
	free(buf);
}

/*
 * Many messages are queued and then flushed against a full socket.
 * imsg_flush() returns 1, and the queue drains in order as the reader
 * reads.
 */
static void
test_flush_against_full_socket(void **state)
{
	enum { NMSG = 64, MSGLEN = 4000, FDMSG = 20 };
	struct pair	*p = *state;
	struct imsg	 imsg;
	unsigned char	 buf[MSGLEN];
	size_t		 queued;
	int		 i, pipefd[2];

	shrink_buffers(p->sv[0]);
	shrink_buffers(p->sv[1]);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	for (i = 0; i < NMSG; i++) {
		fill_pattern(buf, sizeof(buf), i);
		assert_int_equal(imsg_compose(&p->w, 80, 0, i,
		    i == FDMSG ? pipefd[1] : -1, buf, sizeof(buf)), 0);
	}
	assert_int_equal(p->w.wqlen, NMSG * (IMSG_HEADER_SIZE + MSGLEN));

	assert_int_equal(imsg_flush(&p->w), 1);
	queued = p->w.wqlen;
	assert_true(queued > 0);
	assert_true(queued < NMSG * (IMSG_HEADER_SIZE + MSGLEN));
	/* With no read in between, the socket accepts nothing more. */
	assert_int_equal(imsg_flush(&p->w), 1);
	assert_int_equal(p->w.wqlen, queued);

	for (i = 0; i < NMSG; i++) {
		assert_int_equal(receive(p, &imsg), 1);
		assert_int_equal(imsg.hdr.type, 80);
		assert_int_equal(imsg.hdr.reqid, i);
		assert_int_equal(imsg_datalen(&imsg), MSGLEN);
		assert_pattern(imsg.data, MSGLEN, i);
		if (i == FDMSG) {
			assert_int_equal(imsg.hdr.flags, IMSGF_HASFD);
			assert_pipe_carries(imsg.fd, pipefd[0], "fd 20");
			close(imsg.fd);
		} else
			assert_int_equal(imsg.fd, -1);
		imsg_free(&imsg);
	}
	assert_int_equal(imsg_flush(&p->w), 0);
	assert_int_equal(p->w.wqlen, 0);
	assert_true(TAILQ_EMPTY(&p->w.wq));
	close(pipefd[0]);
}

static void
test_flush_blocking_timeout(void **state)
{
	struct pair	*p = *state;
	unsigned char	*buf;
	const size_t	 len = 256 * 1024;
	int64_t		 start, elapsed;

	shrink_buffers(p->sv[0]);
	buf = calloc(1, len);
	assert_non_null(buf);
	assert_int_equal(imsg_compose(&p->w, 90, 0, 0, -1, buf, len), 0);
	start = now_ms();
	assert_int_equal(imsg_flush_blocking(&p->w, 200), -1);
	elapsed = now_ms() - start;
	assert_int_equal(errno, ETIMEDOUT);
	assert_contains(imsg_error(&p->w), "timed out after 200 ms");
	assert_true(elapsed >= 190);
	assert_true(elapsed < TEST_TIMEOUT_MS);
	assert_true(p->w.wqlen > 0);
	free(buf);
}

/* A forked child reads the socket to end of file and exits. */
static void __attribute__((noreturn))
child_drain(int sock)
{
	char	 buf[8192];
	ssize_t	 n;

	alarm(TEST_TIMEOUT_MS / 1000);
	while ((n = read(sock, buf, sizeof(buf))) > 0)
		;
	_exit(n == 0 ? 0 : 1);
}

static void
test_flush_blocking_waits(void **state)
{
	struct pair	*p = *state;
	unsigned char	*buf;
	const size_t	 len = 512 * 1024;
	int		 status;
	pid_t		 pid;

	shrink_buffers(p->sv[0]);
	buf = calloc(1, len);
	assert_non_null(buf);
	assert_int_equal(imsg_compose(&p->w, 91, 0, 0, -1, buf, len), 0);
	assert_int_equal(imsg_compose(&p->w, 92, 0, 0, -1, buf, len), 0);

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(p->sv[0]);
		child_drain(p->sv[1]);
	}
	close(p->sv[1]);
	p->sv[1] = -1;

	assert_int_equal(imsg_flush_blocking(&p->w, TEST_TIMEOUT_MS), 0);
	assert_int_equal(p->w.wqlen, 0);
	close(p->sv[0]);
	p->sv[0] = -1;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	free(buf);
}

/* 1 MiB, then the largest message allowed, then a small one after it. */
static void
test_large_payload(void **state)
{
	static const size_t	 lengths[] = { 1024 * 1024, TEST_MAXPAYLOAD };
	struct pair		*p = *state;
	struct imsg		 imsg;
	unsigned char		*buf;
	size_t			 i;

	buf = malloc(TEST_MAXPAYLOAD);
	assert_non_null(buf);
	for (i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		fill_pattern(buf, lengths[i], 110 + i);
		assert_int_equal(imsg_compose(&p->w, 110 + i, 0, 0, -1, buf,
		    lengths[i]), 0);
	}
	assert_int_equal(imsg_compose(&p->w, 112, 0, 0, -1, "after", 5), 0);

	for (i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		assert_int_equal(receive(p, &imsg), 1);
		assert_int_equal(imsg.hdr.type, 110 + i);
		assert_int_equal(imsg.hdr.len, IMSG_HEADER_SIZE + lengths[i]);
		assert_int_equal(imsg_datalen(&imsg), lengths[i]);
		assert_pattern(imsg.data, lengths[i], 110 + i);
		imsg_free(&imsg);
	}
	assert_int_equal(receive(p, &imsg), 1);
	assert_message(&imsg, 112, 0, 0, "after", 5);
	imsg_free(&imsg);
	free(buf);
}

/*
 * Descriptors that no message claims accumulate in the reader's queue.
 * Past TEST_MAXFDQ of them, imsg_get() rejects the channel.
 */
static void
test_stray_fds_rejected(void **state)
{
	struct pair	*p = *state;
	struct imsg	 imsg;
	unsigned char	 hdr[IMSG_HEADER_SIZE];
	int		 i, fd;

	memset(hdr, 0, sizeof(hdr));
	for (i = 0; i <= TEST_MAXFDQ; i++) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		send_with_fd(p->sv[0], hdr + i, 1, fd);
		close(fd);
		wait_readable(p->sv[1]);
		assert_int_equal(imsg_read(&p->r), 1);
		if (i < TEST_MAXFDQ)
			assert_int_equal(imsg_get(&p->r, &imsg), 0);
	}
	assert_int_equal(imsg_get(&p->r, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
	assert_contains(imsg_error(&p->r), "descriptors without a message");
}

static void
test_clear_closes_fds(void **state)
{
	struct pair	*p = *state;
	int		 queued[2], received[2];

	assert_int_equal(pipe2(queued, O_CLOEXEC), 0);
	assert_int_equal(pipe2(received, O_CLOEXEC), 0);

	assert_int_equal(imsg_compose(&p->w, 120, 0, 0, queued[1], NULL, 0),
	    0);
	send_with_fd(p->sv[0], "x", 1, received[1]);
	close(received[1]);
	wait_readable(p->sv[1]);
	assert_int_equal(imsg_read(&p->r), 1);

	imsg_clear(&p->w);
	imsg_clear(&p->r);
	assert_pipe_writers_closed(queued[0]);
	assert_pipe_writers_closed(received[0]);
	close(queued[0]);
	close(received[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_pair, teardown_pair)
		T(test_round_trip),
		T(test_exact_lengths),
		T(test_wire_format),
		T(test_compose_rejects_oversize),
		T(test_get_rejects_oversize),
		T(test_get_rejects_undersize),
		T(test_get_rejects_unknown_flags),
		T(test_truncated_message),
		T(test_eof_on_empty_channel),
		T(test_fd_passing),
		T(test_fd_missing_rejected),
		T(test_fd_dropped_at_rlimit),
		T(test_fd_drop_no_mismatch),
		T(test_one_byte_chunks),
		T(test_partial_write_resumes),
		T(test_flush_against_full_socket),
		T(test_flush_blocking_timeout),
		T(test_flush_blocking_waits),
		T(test_large_payload),
		T(test_stray_fds_rejected),
		T(test_clear_closes_fds),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
