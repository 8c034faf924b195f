/*
 * Unit tests for the QMP client (common/qmp.c).  Each test forks a fake
 * QMP server that listens on a UNIX socket in a mkdtemp() directory,
 * greets, accepts qmp_capabilities and then plays one script.  The
 * child reports its own checks through its exit status, and alarm()
 * bounds its life, so every waitpid() here is bounded too.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
#include <jansson.h>

#include "qmp.h"

/* Limits: seconds for alarm(), milliseconds for the rest. */
#define FAKE_LIFE_S	10	/* every fake server */
#define OPEN_MS		5000	/* qmp_open() */
#define CALL_MS		5000	/* qmp_command(), server replies */
#define SHORT_MS	300	/* the timeout tests */

#define EXIT_FAKE_OK	0
#define EXIT_FAKE_IO	10	/* the client went away or sent garbage */
#define EXIT_FAKE_CHECK	11	/* a check in the script failed */

#define GREETING	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": " \
			"0, \"minor\": 2, \"major\": 7}}, " \
			"\"capabilities\": []}}\r\n"

#define assert_contains(s, sub) do {					\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("\"%s\" does not contain \"%s\"", (s), (sub));	\
} while (0)

/* The script a fake server plays after the capabilities exchange. */
typedef int	(*fake_script)(int);

struct fake {
	char	 dir[64];
	char	 path[128];
	pid_t	 pid;
};

/* A command the fake server read, and the descriptor sent with it. */
struct fake_cmd {
	json_t		*msg;
	json_int_t	 id;
	int		 fd;
};

static int	events_seen;
static char	last_event[64];

static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
fake_write(int fd, const char *s)
{
	size_t	 len = strlen(s), off = 0;
	ssize_t	 n;

	while (off < len) {
		n = send(fd, s + off, len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += n;
	}
	return 0;
}

/* Read one byte, and keep a descriptor that comes with it in *fdp. */
static int
fake_read_byte(int fd, char *c, int *fdp)
{
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int))];
	}		 cbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cmsg;
	ssize_t		 n;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = c;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	do {
		n = recvmsg(fd, &msg, 0);
	} while (n == -1 && errno == EINTR);
	if (n != 1)
		return -1;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg))
		if (cmsg->cmsg_level == SOL_SOCKET &&
		    cmsg->cmsg_type == SCM_RIGHTS)
			memcpy(fdp, CMSG_DATA(cmsg), sizeof(int));
	return 0;
}

/* Read one command line from the client and parse it. */
static int
fake_read_cmd(int fd, struct fake_cmd *cmd)
{
	char	 line[4096];
	size_t	 len = 0;

	cmd->fd = -1;
	cmd->msg = NULL;
	for (;;) {
		if (len == sizeof(line) ||
		    fake_read_byte(fd, &line[len], &cmd->fd) == -1)
			return -1;
		if (line[len] == '\n')
			break;
		len++;
	}
	if ((cmd->msg = json_loadb(line, len, 0, NULL)) == NULL)
		return -1;
	cmd->id = json_integer_value(json_object_get(cmd->msg, "id"));
	return 0;
}

static int
fake_reply(int fd, json_int_t id, const char *ret)
{
	char	 buf[512];

	snprintf(buf, sizeof(buf), "{\"return\": %s, \"id\": %lld}\r\n", ret,
	    (long long)id);
	return fake_write(fd, buf);
}

/* Send the greeting and reply to qmp_capabilities, as QEMU does. */
static int
fake_handshake(int fd)
{
	struct fake_cmd	 cmd;
	const char	*name;
	int		 rv;

	if (fake_write(fd, GREETING) == -1 || fake_read_cmd(fd, &cmd) == -1)
		return -1;
	name = json_string_value(json_object_get(cmd.msg, "execute"));
	rv = name != NULL && strcmp(name, "qmp_capabilities") == 0 ? 0 : -1;
	if (rv == 0)
		rv = fake_reply(fd, cmd.id, "{}");
	json_decref(cmd.msg);
	return rv;
}

/* Read the next command and check its name.  The caller frees cmd. */
static int
fake_expect(int fd, const char *name, struct fake_cmd *cmd)
{
	const char	*execute;

	if (fake_read_cmd(fd, cmd) == -1)
		return EXIT_FAKE_IO;
	execute = json_string_value(json_object_get(cmd->msg, "execute"));
	if (execute == NULL || strcmp(execute, name) != 0)
		return EXIT_FAKE_CHECK;
	return EXIT_FAKE_OK;
}

/* Wait until the client closes, so the script does not end too early. */
static int
fake_drain(int fd)
{
	char	 buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return EXIT_FAKE_OK;
}

static void __attribute__((noreturn))
fake_child(int lfd, int greet, fake_script script)
{
	int	 fd, rv;

	alarm(FAKE_LIFE_S);
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		_exit(EXIT_FAKE_IO);
	if (greet && fake_handshake(fd) == -1)
		_exit(EXIT_FAKE_IO);
	rv = script(fd);
	close(fd);
	_exit(rv);
}

/* Start a fake server that greets when greet is set, then runs script. */
static void
fake_start(struct fake *f, int greet, fake_script script)
{
	struct sockaddr_un	 sun;
	int			 lfd;

	strcpy(f->dir, "/tmp/test_qmp.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, f->path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_not_equal(lfd, -1);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);

	f->pid = fork();
	assert_int_not_equal(f->pid, -1);
	if (f->pid == 0)
		fake_child(lfd, greet, script);
	close(lfd);
}

/* Reap the fake server and return its exit status, or -1 if it died. */
static int
fake_finish(struct fake *f)
{
	int	 status;

	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	unlink(f->path);
	rmdir(f->dir);
	if (!WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static struct qmp *
open_fake(struct fake *f, int greet, fake_script script)
{
	struct qmp	*q;
	char		 err[QMP_ERR_MAX] = "";

	fake_start(f, greet, script);
	q = qmp_open(f->path, OPEN_MS, err, sizeof(err));
	if (q == NULL)
		fail_msg("qmp_open: %s", err);
	return q;
}

static void
count_event(void *arg, const char *name, json_t *data)
{
	events_seen++;
	snprintf(last_event, sizeof(last_event), "%s", name);
	if (!json_is_object(data))
		events_seen += 1000;	/* makes the count check fail */
}

/* Scripts for the fake server. */

static int
script_status(int fd)
{
	struct fake_cmd	 cmd;
	int		 rv;

	if ((rv = fake_expect(fd, "query-status", &cmd)) != EXIT_FAKE_OK)
		return rv;
	if (fake_reply(fd, cmd.id, "{\"status\": \"inmigrate\", "
	    "\"running\": false}") == -1)
		rv = EXIT_FAKE_IO;
	json_decref(cmd.msg);
	return rv == EXIT_FAKE_OK ? fake_drain(fd) : rv;
}

/* Two events, then the reply split over two writes. */
static int
script_events_first(int fd)
{
	struct fake_cmd	 cmd;
	char		 buf[256];
	int		 rv;

	if ((rv = fake_expect(fd, "cont", &cmd)) != EXIT_FAKE_OK)
		return rv;
	snprintf(buf, sizeof(buf), "{\"event\": \"RESUME\", \"timestamp\": "
	    "{\"seconds\": 1, \"microseconds\": 2}}\r\n"
	    "{\"event\": \"BLOCK_JOB_READY\", \"data\": {\"device\": "
	    "\"drive-scsi0\"}}\r\n{\"return\": {\"ok\"");
	rv = fake_write(fd, buf) == -1 ? EXIT_FAKE_IO : EXIT_FAKE_OK;
	usleep(50 * 1000);
	snprintf(buf, sizeof(buf), ": 1}, \"id\": %lld}\r\n",
	    (long long)cmd.id);
	if (rv == EXIT_FAKE_OK && fake_write(fd, buf) == -1)
		rv = EXIT_FAKE_IO;
	json_decref(cmd.msg);
	return rv == EXIT_FAKE_OK ? fake_drain(fd) : rv;
}

static int
script_error(int fd)
{
	struct fake_cmd	 cmd;
	char		 buf[256];
	int		 rv;

	if ((rv = fake_expect(fd, "nbd-server-start", &cmd)) != EXIT_FAKE_OK)
		return rv;
	snprintf(buf, sizeof(buf), "{\"id\": %lld, \"error\": {\"class\": "
	    "\"GenericError\", \"desc\": \"Parameter 'addr.data' is "
	    "missing\"}}\r\n", (long long)cmd.id);
	rv = fake_write(fd, buf) == -1 ? EXIT_FAKE_IO : EXIT_FAKE_OK;
	json_decref(cmd.msg);
	return rv == EXIT_FAKE_OK ? fake_drain(fd) : rv;
}

/* QMP_LINE_MAX bytes without a newline, in 64 KiB writes. */
static int
script_long_line(int fd)
{
	struct fake_cmd	 cmd;
	char		 chunk[65536 + 1];
	size_t		 sent;
	int		 rv;

	if ((rv = fake_expect(fd, "query-status", &cmd)) != EXIT_FAKE_OK)
		return rv;
	json_decref(cmd.msg);
	memset(chunk, ' ', sizeof(chunk) - 1);
	chunk[sizeof(chunk) - 1] = '\0';
	chunk[0] = '[';
	for (sent = 0; sent < QMP_LINE_MAX; sent += sizeof(chunk) - 1) {
		if (fake_write(fd, chunk) == -1)
			return EXIT_FAKE_OK;	/* the client gave up */
		chunk[0] = ' ';
	}
	return fake_drain(fd);
}

static int
script_silent(int fd)
{
	struct fake_cmd	 cmd;
	int		 rv;

	if ((rv = fake_expect(fd, "query-status", &cmd)) != EXIT_FAKE_OK)
		return rv;
	json_decref(cmd.msg);
	return fake_drain(fd);
}

static int
script_close_mid_line(int fd)
{
	struct fake_cmd	 cmd;
	int		 rv;

	if ((rv = fake_expect(fd, "query-status", &cmd)) != EXIT_FAKE_OK)
		return rv;
	json_decref(cmd.msg);
	if (fake_write(fd, "{\"return\": {\"status\": ") == -1)
		return EXIT_FAKE_IO;
	return EXIT_FAKE_OK;
}

static int
script_garbage(int fd)
{
	struct fake_cmd	 cmd;
	int		 rv;

	if ((rv = fake_expect(fd, "query-status", &cmd)) != EXIT_FAKE_OK)
		return rv;
	json_decref(cmd.msg);
	if (fake_write(fd, "{\"return\": {}, oops\r\n") == -1)
		return EXIT_FAKE_IO;
	return fake_drain(fd);
}

static int
script_not_object(int fd)
{
	struct fake_cmd	 cmd;
	int		 rv;

	if ((rv = fake_expect(fd, "query-status", &cmd)) != EXIT_FAKE_OK)
		return rv;
	json_decref(cmd.msg);
	if (fake_write(fd, "[1, 2]\r\n") == -1)
		return EXIT_FAKE_IO;
	return fake_drain(fd);
}

/*
 * Check that getfd came with a descriptor of the file named in its
 * "fdname" argument (the test uses the file path as the name).
 */
static int
script_getfd(int fd)
{
	struct fake_cmd	 cmd;
	struct stat	 passed, named;
	const char	*name;
	int		 rv;

	if ((rv = fake_expect(fd, "getfd", &cmd)) != EXIT_FAKE_OK)
		return rv;
	name = json_string_value(json_object_get(json_object_get(cmd.msg,
	    "arguments"), "fdname"));
	rv = EXIT_FAKE_CHECK;
	if (cmd.fd != -1 && name != NULL && fstat(cmd.fd, &passed) == 0 &&
	    stat(name, &named) == 0 && passed.st_dev == named.st_dev &&
	    passed.st_ino == named.st_ino)
		rv = EXIT_FAKE_OK;
	if (cmd.fd != -1)
		close(cmd.fd);
	if (fake_reply(fd, cmd.id, "{}") == -1)
		rv = EXIT_FAKE_IO;
	json_decref(cmd.msg);
	return rv == EXIT_FAKE_OK ? fake_drain(fd) : rv;
}

/* A command without a descriptor must arrive without one. */
static int
script_no_fd(int fd)
{
	struct fake_cmd	 cmd;
	int		 rv;

	if ((rv = fake_expect(fd, "query-status", &cmd)) != EXIT_FAKE_OK)
		return rv;
	rv = cmd.fd == -1 ? EXIT_FAKE_OK : EXIT_FAKE_CHECK;
	if (fake_reply(fd, cmd.id, "{}") == -1)
		rv = EXIT_FAKE_IO;
	json_decref(cmd.msg);
	return rv == EXIT_FAKE_OK ? fake_drain(fd) : rv;
}

static int
script_wrong_id(int fd)
{
	struct fake_cmd	 cmd;
	int		 rv;

	if ((rv = fake_expect(fd, "query-status", &cmd)) != EXIT_FAKE_OK)
		return rv;
	if (fake_reply(fd, cmd.id + 100, "{}") == -1)
		rv = EXIT_FAKE_IO;
	json_decref(cmd.msg);
	return rv == EXIT_FAKE_OK ? fake_drain(fd) : rv;
}

static int
script_missing_id(int fd)
{
	struct fake_cmd	 cmd;
	int		 rv;

	if ((rv = fake_expect(fd, "query-status", &cmd)) != EXIT_FAKE_OK)
		return rv;
	json_decref(cmd.msg);
	if (fake_write(fd, "{\"return\": {}}\r\n") == -1)
		return EXIT_FAKE_IO;
	return fake_drain(fd);
}

/*
 * Leave the first command without a reply until the second arrives, then
 * reply to both in order.  The client must drop the late first reply.
 */
static int
script_late_reply(int fd)
{
	struct fake_cmd	 first, second;
	int		 rv;

	if ((rv = fake_expect(fd, "query-status", &first)) != EXIT_FAKE_OK)
		return rv;
	json_decref(first.msg);
	if ((rv = fake_expect(fd, "query-name", &second)) != EXIT_FAKE_OK)
		return rv;
	json_decref(second.msg);
	if (fake_reply(fd, first.id, "\"late\"") == -1 ||
	    fake_reply(fd, second.id, "\"second\"") == -1)
		return EXIT_FAKE_IO;
	return fake_drain(fd);
}

static int
script_wait_event(int fd)
{
	if (fake_write(fd, "{\"event\": \"STOP\"}\r\n"
	    "{\"event\": \"MIGRATION\", \"data\": {\"status\": "
	    "\"completed\"}}\r\n") == -1)
		return EXIT_FAKE_IO;
	return fake_drain(fd);
}

/* Read nothing, so the client's socket buffer fills up. */
static int
script_no_read(int fd)
{
	struct pollfd	 pfd;

	pfd.fd = fd;
	pfd.events = POLLRDHUP;
	while (poll(&pfd, 1, -1) == -1 && errno == EINTR)
		;
	return EXIT_FAKE_OK;
}

static int
script_nothing(int fd)
{
	return fake_drain(fd);
}

static int
script_bad_greeting(int fd)
{
	if (fake_write(fd, "{\"return\": {}}\r\n") == -1)
		return EXIT_FAKE_IO;
	return fake_drain(fd);
}

/* Tests. */

static void
test_open_and_command(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	json_t		*ret = NULL;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_status);
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, &ret,
	    CALL_MS, err, sizeof(err)), 0);
	assert_non_null(ret);
	assert_string_equal(json_string_value(json_object_get(ret, "status")),
	    "inmigrate");
	assert_true(json_is_false(json_object_get(ret, "running")));
	json_decref(ret);
	assert_true(qmp_fd(q) >= 0);
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_events_before_reply(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	json_t		*ret = NULL;
	char		 err[QMP_ERR_MAX] = "";

	events_seen = 0;
	last_event[0] = '\0';
	q = open_fake(&f, 1, script_events_first);
	qmp_set_event_cb(q, count_event, NULL);
	assert_int_equal(qmp_command(q, "cont", NULL, -1, &ret, CALL_MS, err,
	    sizeof(err)), 0);
	assert_int_equal(events_seen, 2);
	assert_string_equal(last_event, "BLOCK_JOB_READY");
	assert_int_equal(json_integer_value(json_object_get(ret, "ok")), 1);
	json_decref(ret);
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_events_without_callback(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_events_first);
	assert_int_equal(qmp_command(q, "cont", NULL, -1, NULL, CALL_MS, err,
	    sizeof(err)), 0);
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_error_reply(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	json_t		*args, *ret = NULL;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_error);
	args = json_pack("{s:{s:s, s:s}}", "addr", "type", "fd", "str", "x");
	assert_int_equal(qmp_command(q, "nbd-server-start", args, -1, &ret,
	    CALL_MS, err, sizeof(err)), -1);
	assert_null(ret);
	assert_string_equal(err, "Parameter 'addr.data' is missing");
	json_decref(args);
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_line_over_limit(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_long_line);
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    CALL_MS, err, sizeof(err)), -1);
	assert_contains(err, "longer than");

	/* The connection stays broken. */
	err[0] = '\0';
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    CALL_MS, err, sizeof(err)), -1);
	assert_contains(err, "longer than");
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_command_timeout(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	long long	 start, elapsed;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_silent);
	start = now_ms();
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    SHORT_MS, err, sizeof(err)), -1);
	elapsed = now_ms() - start;
	assert_true(elapsed >= SHORT_MS - 10);
	assert_true(elapsed < SHORT_MS + 2000);
	assert_contains(err, "query-status");
	assert_contains(err, "timeout");
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_send_timeout(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	json_t		*args;
	long long	 start, elapsed;
	char		*big, err[QMP_ERR_MAX] = "";
	size_t		 len = 16 * 1024 * 1024;

	assert_non_null(big = malloc(len + 1));
	memset(big, 'x', len);
	big[len] = '\0';
	args = json_pack("{s:s}", "filler", big);
	free(big);
	assert_non_null(args);

	q = open_fake(&f, 1, script_no_read);
	start = now_ms();
	assert_int_equal(qmp_command(q, "query-status", args, -1, NULL,
	    SHORT_MS, err, sizeof(err)), -1);
	elapsed = now_ms() - start;
	assert_true(elapsed < SHORT_MS + 2000);
	assert_contains(err, "timed out");
	json_decref(args);
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_close_mid_line(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_close_mid_line);
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    CALL_MS, err, sizeof(err)), -1);
	assert_contains(err, "mid-line");
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_garbage_json(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_garbage);
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    CALL_MS, err, sizeof(err)), -1);
	assert_contains(err, "invalid JSON");

	/* Later calls fail at once with the first error. */
	err[0] = '\0';
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    SHORT_MS, err, sizeof(err)), -1);
	assert_contains(err, "invalid JSON");
	err[0] = '\0';
	assert_int_equal(qmp_wait_event(q, "STOP", NULL, SHORT_MS, err,
	    sizeof(err)), -1);
	assert_contains(err, "invalid JSON");
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_reply_not_object(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_not_object);
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    CALL_MS, err, sizeof(err)), -1);
	assert_contains(err, "not a JSON object");
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_fd_passing(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	json_t		*args;
	char		 err[QMP_ERR_MAX] = "", name[64];
	int		 fd;

	strcpy(name, "/tmp/test_qmp.fd.XXXXXX");
	assert_int_not_equal(fd = mkstemp(name), -1);
	q = open_fake(&f, 1, script_getfd);
	args = json_pack("{s:s}", "fdname", name);
	assert_int_equal(qmp_command(q, "getfd", args, fd, NULL, CALL_MS,
	    err, sizeof(err)), 0);
	json_decref(args);
	qmp_close(q);
	close(fd);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
	unlink(name);
}

static void
test_no_fd_without_request(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_no_fd);
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    CALL_MS, err, sizeof(err)), 0);
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_wrong_id(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_wrong_id);
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    CALL_MS, err, sizeof(err)), -1);
	assert_contains(err, "unexpected id");

	/* Later calls fail at once with the first error. */
	err[0] = '\0';
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    SHORT_MS, err, sizeof(err)), -1);
	assert_contains(err, "unexpected id");
	err[0] = '\0';
	assert_int_equal(qmp_wait_event(q, "STOP", NULL, SHORT_MS, err,
	    sizeof(err)), -1);
	assert_contains(err, "unexpected id");
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_missing_id(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_missing_id);
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    CALL_MS, err, sizeof(err)), -1);
	assert_contains(err, "unexpected id");
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_late_reply_dropped(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	json_t		*ret = NULL;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_late_reply);
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    SHORT_MS, err, sizeof(err)), -1);
	assert_contains(err, "timeout");
	assert_int_equal(qmp_command(q, "query-name", NULL, -1, &ret,
	    CALL_MS, err, sizeof(err)), 0);
	assert_string_equal(json_string_value(ret), "second");
	json_decref(ret);
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_wait_event(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	json_t		*data = NULL;
	char		 err[QMP_ERR_MAX] = "";

	events_seen = 0;
	last_event[0] = '\0';
	q = open_fake(&f, 1, script_wait_event);
	qmp_set_event_cb(q, count_event, NULL);
	assert_int_equal(qmp_wait_event(q, "MIGRATION", &data, CALL_MS, err,
	    sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(data,
	    "status")), "completed");
	json_decref(data);

	/* STOP, which came first, went to the callback. */
	assert_int_equal(events_seen, 1);
	assert_string_equal(last_event, "STOP");
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_wait_event_timeout(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	json_t		*data = NULL;
	long long	 start, elapsed;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_nothing);
	start = now_ms();
	assert_int_equal(qmp_wait_event(q, "MIGRATION", &data, SHORT_MS, err,
	    sizeof(err)), 1);
	elapsed = now_ms() - start;
	assert_null(data);
	assert_true(elapsed >= SHORT_MS - 10);
	assert_true(elapsed < SHORT_MS + 2000);
	assert_contains(err, "MIGRATION");
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_open_no_greeting(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	long long	 start, elapsed;
	char		 err[QMP_ERR_MAX] = "";

	fake_start(&f, 0, script_nothing);
	start = now_ms();
	q = qmp_open(f.path, SHORT_MS, err, sizeof(err));
	elapsed = now_ms() - start;
	assert_null(q);
	assert_true(elapsed < SHORT_MS + 2000);
	assert_contains(err, "greeting");
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_open_bad_greeting(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	char		 err[QMP_ERR_MAX] = "";

	fake_start(&f, 0, script_bad_greeting);
	q = qmp_open(f.path, OPEN_MS, err, sizeof(err));
	assert_null(q);
	assert_contains(err, "greeting");
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

static void
test_open_missing_socket(void **state)
{
	struct qmp	*q;
	char		 dir[] = "/tmp/test_qmp.XXXXXX", path[64];
	char		 err[QMP_ERR_MAX] = "";

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/absent.sock", dir);
	q = qmp_open(path, OPEN_MS, err, sizeof(err));
	assert_null(q);
	assert_contains(err, "connect");
	assert_contains(err, "absent.sock");
	rmdir(dir);
}

static void
test_args_not_object(void **state)
{
	struct fake	 f;
	struct qmp	*q;
	json_t		*args;
	char		 err[QMP_ERR_MAX] = "";

	q = open_fake(&f, 1, script_no_fd);
	args = json_array();
	assert_int_equal(qmp_command(q, "query-status", args, -1, NULL,
	    CALL_MS, err, sizeof(err)), -1);
	assert_contains(err, "object");
	json_decref(args);

	/* A rejected call sends nothing, so the next one still works. */
	assert_int_equal(qmp_command(q, "query-status", NULL, -1, NULL,
	    CALL_MS, err, sizeof(err)), 0);
	qmp_close(q);
	assert_int_equal(fake_finish(&f), EXIT_FAKE_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_and_command),
		cmocka_unit_test(test_events_before_reply),
		cmocka_unit_test(test_events_without_callback),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_line_over_limit),
		cmocka_unit_test(test_command_timeout),
		cmocka_unit_test(test_send_timeout),
		cmocka_unit_test(test_close_mid_line),
		cmocka_unit_test(test_garbage_json),
		cmocka_unit_test(test_reply_not_object),
		cmocka_unit_test(test_fd_passing),
		cmocka_unit_test(test_no_fd_without_request),
		cmocka_unit_test(test_wrong_id),
		cmocka_unit_test(test_missing_id),
		cmocka_unit_test(test_late_reply_dropped),
		cmocka_unit_test(test_wait_event),
		cmocka_unit_test(test_wait_event_timeout),
		cmocka_unit_test(test_open_no_greeting),
		cmocka_unit_test(test_open_bad_greeting),
		cmocka_unit_test(test_open_missing_socket),
		cmocka_unit_test(test_args_not_object),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
