/*
 * QMP client: see qmp.h.
 *
 * QEMU sends one JSON object per line.  Each command carries an integer
 * "id" that QEMU copies into its reply, so a late reply to a command
 * that timed out is recognised and dropped.  A reply with any other id,
 * a line over QMP_LINE_MAX, invalid JSON or a closed socket breaks the
 * connection: every later call fails with the first error.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "qmp.h"

#define QMP_BUF_INIT	4096
#define QMP_READ_MIN	1024	/* free space wanted before each read */
#define QMP_RETRY_MS	10	/* pause before connecting again */

struct qmp {
	int		 fd;
	char		*buf;
	size_t		 len;		/* bytes in buf */
	size_t		 cap;		/* at most QMP_LINE_MAX */
	json_int_t	 next_id;
	qmp_event_fn	 event_cb;
	void		*event_arg;
	char		 broken[QMP_ERR_MAX];	/* first fatal error */
};

static void
qmp_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
qmp_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Record a fatal error, because the stream can no longer be trusted, and
 * copy the first one recorded into err.
 */
static void
qmp_break(struct qmp *q, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
qmp_break(struct qmp *q, char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (q->broken[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(q->broken, sizeof(q->broken), fmt, ap);
		va_end(ap);
	}
	qmp_seterr(err, errlen, "%s", q->broken);
}

static long long
qmp_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
qmp_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		timeout_ms = 0;
	return qmp_now_ms() + timeout_ms;
}

/* Milliseconds left until deadline, for poll(); 0 once it has passed. */
static int
qmp_remaining(long long deadline)
{
	long long	 left;

	left = deadline - qmp_now_ms();
	if (left < 0)
		return 0;
	return (int)left;
}

/*
 * Wait until fd is ready for events or the deadline passes.  Returns 1
 * when ready, 0 on timeout, -1 on a poll error.
 */
static int
qmp_poll(int fd, short events, long long deadline)
{
	struct pollfd	 pfd;
	int		 n;

	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, qmp_remaining(deadline));
		if (n == -1 && errno == EINTR)
			continue;
		return n;
	}
}

static int
qmp_connect(const char *path, long long deadline, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		qmp_seterr(err, errlen, "%s: socket path too long", path);
		return -1;
	}
	strcpy(sun.sun_path, path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		qmp_seterr(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}

	/* A UNIX socket connect fails with EAGAIN while the backlog is full. */
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && qmp_remaining(deadline) > 0) {
			poll(NULL, 0, QMP_RETRY_MS);
			continue;
		}
		qmp_seterr(err, errlen, "connect %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Attach fd to msg as SCM_RIGHTS, in the control buffer cbuf. */
static void
qmp_attach_fd(struct msghdr *msg, char *cbuf, size_t cbuflen, int fd)
{
	struct cmsghdr	*cmsg;

	memset(cbuf, 0, cbuflen);
	msg->msg_control = cbuf;
	msg->msg_controllen = cbuflen;
	cmsg = CMSG_FIRSTHDR(msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
}

/* Send len bytes of buf, with fd (if not -1) attached to the first byte. */
static int
qmp_send(struct qmp *q, char *buf, size_t len, int fd, long long deadline,
    char *err, size_t errlen)
{
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int))];
	}		 cbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	ssize_t		 n;
	size_t		 off = 0;

	while (off < len) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = buf + off;
		iov.iov_len = len - off;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (fd != -1 && off == 0)
			qmp_attach_fd(&msg, cbuf.buf, sizeof(cbuf.buf), fd);

		n = sendmsg(q->fd, &msg, MSG_NOSIGNAL);
		if (n > 0) {
			off += n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN) {
			qmp_break(q, err, errlen, "send: %s", strerror(errno));
			return -1;
		}
		if (qmp_poll(q->fd, POLLOUT, deadline) <= 0) {
			qmp_break(q, err, errlen, "send to QEMU timed out");
			return -1;
		}
	}
	return 0;
}

/* Make room for a read.  The buffer never grows past QMP_LINE_MAX. */
static int
qmp_grow(struct qmp *q)
{
	size_t	 cap;
	char	*p;

	if (q->cap - q->len >= QMP_READ_MIN || q->cap == QMP_LINE_MAX)
		return 0;
	cap = q->cap * 2;
	if (cap > QMP_LINE_MAX)
		cap = QMP_LINE_MAX;
	if ((p = realloc(q->buf, cap)) == NULL)
		return -1;
	q->buf = p;
	q->cap = cap;
	return 0;
}

static int
qmp_is_blank(const char *p, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/*
 * Take the first complete line out of the buffer and parse it.  Returns
 * 1 with *msg set, 0 if no complete line is buffered yet, -1 on an error.
 */
static int
qmp_parse_line(struct qmp *q, json_t **msg, char *err, size_t errlen)
{
	json_error_t	 jerr;
	char		*nl;
	size_t		 linelen;

	while ((nl = memchr(q->buf, '\n', q->len)) != NULL) {
		linelen = nl - q->buf;
		if (qmp_is_blank(q->buf, linelen))
			*msg = NULL;
		else if ((*msg = json_loadb(q->buf, linelen, 0,
		    &jerr)) == NULL) {
			qmp_break(q, err, errlen, "invalid JSON from QEMU: %s",
			    jerr.text);
			return -1;
		}
		q->len -= linelen + 1;
		memmove(q->buf, nl + 1, q->len);
		if (*msg == NULL)
			continue;
		if (!json_is_object(*msg)) {
			json_decref(*msg);
			qmp_break(q, err, errlen, "message from QEMU is not "
			    "a JSON object");
			return -1;
		}
		return 1;
	}
	if (q->len >= QMP_LINE_MAX) {
		qmp_break(q, err, errlen, "line from QEMU longer than %d "
		    "bytes", QMP_LINE_MAX);
		return -1;
	}
	return 0;
}

/*
 * Read the next message from QEMU.  Returns 1 with *msg set, 0 when the
 * deadline passes first, -1 on an error.
 */
static int
qmp_read_msg(struct qmp *q, json_t **msg, long long deadline, char *err,
    size_t errlen)
{
	ssize_t	 n;
	int	 rv;

	for (;;) {
		if ((rv = qmp_parse_line(q, msg, err, errlen)) != 0)
			return rv;
		if (qmp_grow(q) == -1) {
			qmp_seterr(err, errlen, "out of memory");
			return -1;
		}
		n = recv(q->fd, q->buf + q->len, q->cap - q->len, 0);
		if (n > 0) {
			q->len += n;
			continue;
		}
		if (n == 0) {
			qmp_break(q, err, errlen, "%s", q->len > 0 ?
			    "QEMU closed the connection mid-line" :
			    "QEMU closed the connection");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			qmp_break(q, err, errlen, "recv: %s",
			    strerror(errno));
			return -1;
		}
		if ((rv = qmp_poll(q->fd, POLLIN, deadline)) == 0)
			return 0;
		if (rv == -1) {
			qmp_seterr(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

/*
 * Hand an event to the callback.  The callback borrows data, which is
 * an empty object when QEMU sent none.
 */
static void
qmp_dispatch_event(struct qmp *q, json_t *msg)
{
	const char	*name;
	json_t		*data;

	name = json_string_value(json_object_get(msg, "event"));
	if (name == NULL) {
		log_debug("qmp: event without a name dropped");
		return;
	}
	if (q->event_cb == NULL) {
		log_debug("qmp: event %s dropped", name);
		return;
	}
	data = json_object_get(msg, "data");
	if (data != NULL)
		q->event_cb(q->event_arg, name, data);
	else {
		data = json_object();
		q->event_cb(q->event_arg, name, data);
		json_decref(data);
	}
}

static int
qmp_is_reply(json_t *msg)
{
	return json_object_get(msg, "return") != NULL ||
	    json_object_get(msg, "error") != NULL;
}

/*
 * Check the id of a reply against the command that waits.  Returns 1 if
 * it matches, 0 for a late reply to an earlier command, -1 otherwise.
 */
static int
qmp_check_id(struct qmp *q, json_t *msg, json_int_t id)
{
	json_t	*jid;

	jid = json_object_get(msg, "id");
	if (!json_is_integer(jid))
		return -1;
	if (json_integer_value(jid) == id)
		return 1;
	if (json_integer_value(jid) > 0 && json_integer_value(jid) < id)
		return 0;
	return -1;
}

/* Copy the reply's result into *ret, or QEMU's error into err. */
static int
qmp_reply_result(json_t *msg, json_t **ret, char *err, size_t errlen)
{
	json_t		*error;
	const char	*desc;

	if ((error = json_object_get(msg, "error")) != NULL) {
		desc = json_string_value(json_object_get(error, "desc"));
		qmp_seterr(err, errlen, "%s", desc != NULL ? desc :
		    "QEMU returned an error without a description");
		return -1;
	}
	if (ret != NULL)
		*ret = json_incref(json_object_get(msg, "return"));
	return 0;
}

/*
 * Read until the reply to command id arrives, passing events on.
 * Returns 0 or -1 like qmp_command().
 */
static int
qmp_wait_reply(struct qmp *q, const char *cmd, json_int_t id,
    long long deadline, json_t **ret, char *err, size_t errlen)
{
	json_t	*msg;
	int	 rv;

	for (;;) {
		rv = qmp_read_msg(q, &msg, deadline, err, errlen);
		if (rv == 0) {
			qmp_seterr(err, errlen, "%s: no reply from QEMU "
			    "within the timeout", cmd);
			return -1;
		}
		if (rv == -1)
			return -1;
		if (json_object_get(msg, "event") != NULL)
			qmp_dispatch_event(q, msg);
		else if (!qmp_is_reply(msg))
			log_debug("qmp: message without return, error or "
			    "event dropped");
		else if ((rv = qmp_check_id(q, msg, id)) == 1) {
			rv = qmp_reply_result(msg, ret, err, errlen);
			json_decref(msg);
			return rv;
		} else if (rv == 0)
			log_debug("qmp: late reply to an earlier command "
			    "dropped");
		else {
			json_decref(msg);
			qmp_break(q, err, errlen, "reply from QEMU with an "
			    "unexpected id");
			return -1;
		}
		json_decref(msg);
	}
}

/* Build one command line: {"execute":..., "arguments":..., "id":...}. */
static char *
qmp_format(const char *cmd, json_t *args, json_int_t id, size_t *len,
    char *err, size_t errlen)
{
	json_t	*req;
	char	*text, *line;

	if (args != NULL && !json_is_object(args)) {
		qmp_seterr(err, errlen, "%s: arguments must be an object", cmd);
		return NULL;
	}
	req = json_pack("{s:s, s:I}", "execute", cmd, "id", id);
	if (req == NULL || (args != NULL &&
	    json_object_set(req, "arguments", args) == -1)) {
		json_decref(req);
		qmp_seterr(err, errlen, "%s: cannot build the command", cmd);
		return NULL;
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (text == NULL || asprintf(&line, "%s\n", text) == -1) {
		free(text);
		qmp_seterr(err, errlen, "%s: out of memory", cmd);
		return NULL;
	}
	free(text);
	*len = strlen(line);
	return line;
}

static int
qmp_command_until(struct qmp *q, const char *cmd, json_t *args, int fd,
    json_t **ret, long long deadline, char *err, size_t errlen)
{
	char		*line;
	size_t		 len;
	json_int_t	 id;
	int		 rv;

	if (ret != NULL)
		*ret = NULL;
	if (q->broken[0] != '\0') {
		qmp_seterr(err, errlen, "%s", q->broken);
		return -1;
	}
	id = q->next_id++;
	if ((line = qmp_format(cmd, args, id, &len, err, errlen)) == NULL)
		return -1;
	rv = qmp_send(q, line, len, fd, deadline, err, errlen);
	free(line);
	if (rv == -1)
		return -1;
	return qmp_wait_reply(q, cmd, id, deadline, ret, err, errlen);
}

int
qmp_command(struct qmp *q, const char *cmd, json_t *args, int fd,
    json_t **ret, int timeout_ms, char *err, size_t errlen)
{
	return qmp_command_until(q, cmd, args, fd, ret,
	    qmp_deadline(timeout_ms), err, errlen);
}

static int
qmp_greeting(struct qmp *q, long long deadline, char *err, size_t errlen)
{
	json_t	*msg;
	int	 rv;

	rv = qmp_read_msg(q, &msg, deadline, err, errlen);
	if (rv == 0) {
		qmp_seterr(err, errlen, "no QMP greeting within the timeout");
		return -1;
	}
	if (rv == -1)
		return -1;
	rv = json_is_object(json_object_get(msg, "QMP")) ? 0 : -1;
	json_decref(msg);
	if (rv == -1)
		qmp_break(q, err, errlen, "first message is no QMP greeting");
	return rv;
}

struct qmp *
qmp_open(const char *path, int timeout_ms, char *err, size_t errlen)
{
	struct qmp	*q;
	long long	 deadline;

	deadline = qmp_deadline(timeout_ms);
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->buf = malloc(QMP_BUF_INIT)) == NULL) {
		free(q);
		qmp_seterr(err, errlen, "out of memory");
		return NULL;
	}
	q->cap = QMP_BUF_INIT;
	q->next_id = 1;
	if ((q->fd = qmp_connect(path, deadline, err, errlen)) == -1) {
		free(q->buf);
		free(q);
		return NULL;
	}

	if (qmp_greeting(q, deadline, err, errlen) == -1 ||
	    qmp_command_until(q, "qmp_capabilities", NULL, -1, NULL,
	    deadline, err, errlen) == -1) {
		qmp_close(q);
		return NULL;
	}
	return q;
}

void
qmp_close(struct qmp *q)
{
	if (q == NULL)
		return;
	close(q->fd);
	free(q->buf);
	free(q);
}

void
qmp_set_event_cb(struct qmp *q, qmp_event_fn cb, void *arg)
{
	q->event_cb = cb;
	q->event_arg = arg;
}

/* Take msg if it is event name, and pass any other event to the callback. */
static int
qmp_match_event(struct qmp *q, json_t *msg, const char *name,
    json_t **data)
{
	const char	*ev;
	json_t		*d;

	ev = json_string_value(json_object_get(msg, "event"));
	if (ev == NULL) {
		if (qmp_is_reply(msg))
			log_debug("qmp: late reply to an earlier command "
			    "dropped");
		return 0;
	}
	if (strcmp(ev, name) != 0) {
		qmp_dispatch_event(q, msg);
		return 0;
	}
	if (data != NULL) {
		d = json_object_get(msg, "data");
		*data = d != NULL ? json_incref(d) : json_object();
	}
	return 1;
}

int
qmp_wait_event(struct qmp *q, const char *name, json_t **data,
    int timeout_ms, char *err, size_t errlen)
{
	json_t		*msg;
	long long	 deadline;
	int		 rv;

	if (data != NULL)
		*data = NULL;
	if (q->broken[0] != '\0') {
		qmp_seterr(err, errlen, "%s", q->broken);
		return -1;
	}
	deadline = qmp_deadline(timeout_ms);
	for (;;) {
		rv = qmp_read_msg(q, &msg, deadline, err, errlen);
		if (rv == 0) {
			qmp_seterr(err, errlen, "no %s event within the "
			    "timeout", name);
			return 1;
		}
		if (rv == -1)
			return -1;
		rv = qmp_match_event(q, msg, name, data);
		json_decref(msg);
		if (rv == 1)
			return 0;
	}
}

int
qmp_fd(const struct qmp *q)
{
	return q->fd;
}
