/*
 * Unit tests for the tunnel's control protocol.  control.c reads request
 * lines from a real socketpair and writes the replies to it, commands.c
 * and schema.c handle them, and a fake parent in this file replies to
 * every request that commands.c sends: to lock checks from the lock it
 * keeps (as priv would), to everything else from a per-test table.
 *
 * The sandbox tests come first in main() because they fork children that
 * must not inherit a jansson or OpenSSL already set up by other tests.
 * The tunnel's log lines go to stderr, as cmocka's messages do, except
 * where a test reads them from a file or drops them.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

#include <bsd/string.h>
#include <cmocka.h>
#include <jansson.h>

#include "log.h"
#include "mtunneld.h"
#include "tunnel.h"

#define TEST_VMID		200
#define WAIT_MS			5000	/* upper bound on every wait */
#define PUMP_ROUNDS_MAX		100000
#define CHILD_ALARM_S		10
#define REPLY_BUF		(CONTROL_WBUF_SIZE * 2)

#define WRONG_LOCK "Encountered wrong lock - aborting mtunnel command " \
	"handling.\n"
#define SCHEMA_FAILED "400 Parameter verification failed.\n"
#define MISSING "property is missing and it is not optional"
#define NOT_DEFINED "property is not defined in schema and the schema " \
	"does not allow additional properties"
#define VERSION_REPLY "{\"api\":2,\"age\":0,\"success\":true}"
#define STORAGE_SOCKET "/run/qemu-server/200.storage"

#define NELEM(a)		(sizeof(a) / sizeof((a)[0]))

/* One answer of the fake parent; json is the result fields, or NULL. */
struct answer {
	uint32_t	 type;
	int		 error;
	const char	*msg;
	const char	*json;
};

/* A request as commands.c sent it. */
struct request {
	uint32_t	 type;
	uint32_t	 reqid;
	unsigned char	*data;
	size_t		 len;
	int		 answered;
};

static struct {
	char			 lock[LOCK_NAME_MAX];	/* the config's */
	const struct answer	*answers;
	size_t			 nanswers;
	size_t			 next;
	struct request		*requests;	/* every request, in order */
	size_t			 nrequests;
	size_t			 size;		/* allocated */
} parent;

static int	 peer = -1;		/* the source's end of the connection */
static char	 inbuf[REPLY_BUF];	/* reply bytes read from peer */
static size_t	 inlen;
static char	 reply[REPLY_BUF];	/* the last reply line, no LF */
static char	 log_path[64];		/* scratch file for captured logs */
static int	 saved_stderr = -1;

#define EXPECT(a)	expect_answers((a), NELEM(a))

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
expect_answers(const struct answer *answers, size_t n)
{
	parent.answers = answers;
	parent.nanswers = n;
	parent.next = 0;
}

/* The fake parent's side of cmd_send_fn: record a copy. */
static int
mock_send(uint32_t type, uint32_t reqid, const struct iovec *iov,
    int iovcnt)
{
	struct request	*r;
	size_t		 len = 0;
	int		 i;

	if (parent.nrequests == parent.size) {
		parent.size = parent.size * 2 + 64;
		parent.requests = reallocarray(parent.requests, parent.size,
		    sizeof(*parent.requests));
		if (parent.requests == NULL)
			abort();
	}
	r = &parent.requests[parent.nrequests++];
	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	r->type = type;
	r->reqid = reqid;
	r->len = len;
	r->answered = 0;
	if ((r->data = malloc(len + 1)) == NULL)
		abort();
	for (len = 0, i = 0; i < iovcnt; i++) {
		memcpy(r->data + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	return 0;
}

static void
requests_clear(void)
{
	size_t	 i;

	for (i = 0; i < parent.nrequests; i++)
		free(parent.requests[i].data);
	parent.nrequests = 0;
}

/* Send a result with any payload for reqid.  Returns control_result(). */
static int
send_result(uint32_t reqid, int error, const char *msg, const char *json,
    char *err, size_t errlen)
{
	struct tunnel_result	 res;
	unsigned char		 buf[sizeof(res) + 16384];
	size_t			 jlen = json != NULL ? strlen(json) : 0;

	if (jlen > sizeof(buf) - sizeof(res))
		abort();
	memset(&res, 0, sizeof(res));
	res.error = error;
	if (msg != NULL)
		strlcpy(res.msg, msg, sizeof(res.msg));
	memcpy(buf, &res, sizeof(res));
	if (jlen > 0)
		memcpy(buf + sizeof(res), json, jlen);
	return control_result(reqid, buf, sizeof(res) + jlen, err, errlen);
}

/* The next request without an answer, or NULL.  Only the last can be. */
static struct request *
unanswered(void)
{
	struct request	*r;

	if (parent.nrequests == 0)
		return NULL;
	r = &parent.requests[parent.nrequests - 1];
	return r->answered ? NULL : r;
}

/*
 * Answer one request as the parent would.  No cmocka asserts, so that a
 * sandboxed child can use it.  Returns 0, or -1 with a reason in why.
 */
static int
serve(struct request *r, char *why, size_t whylen)
{
	struct tunnel_lock_check	 check;
	const struct answer		*a;
	char				 err[256];
	int				 error = 0;
	const char			*msg = NULL, *json = NULL;

	r->answered = 1;
	if (r->type == IMSG_TUNNEL_LOCK_CHECK) {
		if (r->len != sizeof(check)) {
			snprintf(why, whylen, "lock check of %zu bytes",
			    r->len);
			return -1;
		}
		memcpy(&check, r->data, sizeof(check));
		if (strcmp(check.expected, parent.lock) != 0) {
			error = EPERM;
			msg = WRONG_LOCK;
		}
	} else {
		if (parent.next == parent.nanswers) {
			snprintf(why, whylen, "unexpected request type %u",
			    r->type);
			return -1;
		}
		a = &parent.answers[parent.next++];
		if (a->type != r->type) {
			snprintf(why, whylen, "request type %u, expected %u",
			    r->type, a->type);
			return -1;
		}
		error = a->error;
		msg = a->msg;
		json = a->json;
		if (error == 0 && r->type == IMSG_TUNNEL_CONFIG)
			strlcpy(parent.lock, "migrate", sizeof(parent.lock));
		if (error == 0 && r->type == IMSG_TUNNEL_UNLOCK)
			parent.lock[0] = '\0';
	}
	if (send_result(r->reqid, error, msg, json, err, sizeof(err)) == -1) {
		snprintf(why, whylen, "control_result: %.200s", err);
		return -1;
	}
	return 0;
}

/*
 * Let the tunnel read, get its requests answered and write, until a round
 * changes nothing.  Returns 0, or -1 with a reason in why.
 */
static int
pump_quiet(char *why, size_t whylen)
{
	struct request	*r;
	size_t		 rlen, wlen, nreq;
	int		 round;

	for (round = 0; round < PUMP_ROUNDS_MAX; round++) {
		rlen = control.rlen;
		wlen = control.wlen;
		nreq = parent.nrequests;
		control_read();
		while ((r = unanswered()) != NULL)
			if (serve(r, why, whylen) == -1)
				return -1;
		if (control_write() == -1) {
			snprintf(why, whylen, "control_write failed");
			return -1;
		}
		if (rlen == control.rlen && wlen == control.wlen &&
		    nreq == parent.nrequests)
			return 0;
	}
	snprintf(why, whylen, "no rest after %d rounds", PUMP_ROUNDS_MAX);
	return -1;
}

static void
pump(void)
{
	char	 why[256];

	if (pump_quiet(why, sizeof(why)) == -1)
		fail_msg("%s", why);
}

/* Move one reply line out of inbuf into reply.  Returns 0 or -1. */
static int
take_line(void)
{
	char	*nl = memchr(inbuf, '\n', inlen);
	size_t	 used;

	if (nl == NULL)
		return -1;
	used = nl - inbuf + 1;
	memcpy(reply, inbuf, used - 1);
	reply[used - 1] = '\0';
	memmove(inbuf, inbuf + used, inlen - used);
	inlen -= used;
	return 0;
}

/* Read what the peer end holds, waiting at most ms.  -1 at EOF/error. */
static int
read_peer(int ms)
{
	struct pollfd	 pfd = { .fd = peer, .events = POLLIN };
	ssize_t		 n;

	if (inlen == sizeof(inbuf))
		return 0;
	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	n = read(peer, inbuf + inlen, sizeof(inbuf) - inlen);
	if (n <= 0)
		return -1;
	inlen += n;
	return 0;
}

/* Return the next reply line, waiting up to WAIT_MS, or NULL. */
static const char *
next_reply_quiet(void)
{
	int64_t	 deadline = now_ms() + WAIT_MS;

	while (take_line() == -1) {
		if (now_ms() >= deadline || read_peer(50) == -1)
			return NULL;
		control_write();
	}
	return reply;
}

static const char *
next_reply(void)
{
	const char	*r = next_reply_quiet();

	if (r == NULL)
		fail_msg("no reply line within %d ms", WAIT_MS);
	return r;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

/* Send one request line and return its reply, without asserts. */
static const char *
exchange_quiet(const char *line, char *why, size_t whylen)
{
	if (write_all(peer, line, strlen(line)) == -1 ||
	    write_all(peer, "\n", 1) == -1) {
		snprintf(why, whylen, "write: %s", strerror(errno));
		return NULL;
	}
	if (pump_quiet(why, whylen) == -1)
		return NULL;
	if (next_reply_quiet() == NULL) {
		snprintf(why, whylen, "no reply to %.60s", line);
		return NULL;
	}
	return reply;
}

static const char *
exchange(const char *line)
{
	char		 why[256];
	const char	*r = exchange_quiet(line, why, sizeof(why));

	if (r == NULL)
		fail_msg("%s", why);
	return r;
}

/* Check that nothing more came on the connection. */
static void
assert_no_reply(void)
{
	assert_int_equal(read_peer(0), 0);
	assert_int_equal(inlen, 0);
}

/* A reply {"success":false,"msg":<msg>} and nothing else. */
static void
assert_failure(const char *line, const char *msg)
{
	json_error_t	 err;
	json_t		*r;

	if ((r = json_loads(line, 0, &err)) == NULL)
		fail_msg("reply is not JSON (%s): %s", err.text, line);
	assert_int_equal(json_object_size(r), 2);
	assert_true(json_is_false(json_object_get(r, "success")));
	assert_non_null(json_string_value(json_object_get(r, "msg")));
	assert_string_equal(json_string_value(json_object_get(r, "msg")), msg);
	json_decref(r);
}

/* A failure reply whose msg starts with prefix. */
static void
assert_failure_prefix(const char *line, const char *prefix)
{
	json_error_t	 err;
	json_t		*r;
	const char	*msg;

	if ((r = json_loads(line, 0, &err)) == NULL)
		fail_msg("reply is not JSON (%s): %s", err.text, line);
	assert_true(json_is_false(json_object_get(r, "success")));
	msg = json_string_value(json_object_get(r, "msg"));
	assert_non_null(msg);
	if (strncmp(msg, prefix, strlen(prefix)) != 0)
		fail_msg("msg '%s' does not start with '%s'", msg, prefix);
	json_decref(r);
}

static const char *
lock_of(const struct request *r)
{
	static struct tunnel_lock_check	 check;

	assert_int_equal(r->type, IMSG_TUNNEL_LOCK_CHECK);
	assert_int_equal(r->len, sizeof(check));
	memcpy(&check, r->data, sizeof(check));
	assert_non_null(memchr(check.expected, '\0',
	    sizeof(check.expected)));
	return check.expected;
}

/* The last request, which must be of type and len bytes. */
static const void *
last_request(uint32_t type, size_t len)
{
	const struct request	*r;

	assert_true(parent.nrequests > 0);
	r = &parent.requests[parent.nrequests - 1];
	assert_int_equal(r->type, type);
	assert_int_equal(r->len, len);
	return r->data;
}

/* A JSON request line with a "conf" text (and a firewall text). */
static const char *
config_line(const char *conf, const char *fw)
{
	static char	 line[65536];
	json_t		*req;
	char		*text;

	req = json_pack("{s:s, s:s}", "cmd", "config", "conf", conf);
	if (fw != NULL)
		json_object_set_new(req, "firewall-config", json_string(fw));
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	assert_non_null(text);
	assert_true(strlcpy(line, text, sizeof(line)) < sizeof(line));
	free(text);
	return line;
}

static void
set_nonblock(int fd)
{
	int	 flags = fcntl(fd, F_GETFL);

	assert_int_not_equal(flags, -1);
	assert_int_equal(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
}

/* Send the tunnel's log lines to path until logs_back(). */
static void
logs_to(const char *path)
{
	int	 fd;

	fflush(stderr);
	if ((saved_stderr = dup(STDERR_FILENO)) == -1)
		fail_msg("dup: %s", strerror(errno));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		fail_msg("%s: %s", path, strerror(errno));
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static void
logs_back(void)
{
	if (saved_stderr == -1)
		return;
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
}

static int
setup(void **unused)
{
	int	 sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	set_nonblock(sv[0]);
	memset(&control, 0, sizeof(control));
	control.fd = sv[0];
	peer = sv[1];
	inlen = 0;
	requests_clear();
	strlcpy(parent.lock, "create", sizeof(parent.lock));
	expect_answers(NULL, 0);
	cmd_init(TEST_VMID, mock_send);
	return 0;
}

static int
teardown(void **unused)
{
	logs_back();
	close(control.fd);
	close(peer);
	control.fd = peer = -1;
	requests_clear();
	return 0;
}

/* Every answer of the table was used and every request answered. */
static void
assert_all_answered(void)
{
	assert_int_equal(parent.next, parent.nanswers);
	assert_null(unanswered());
}

/* ---- the seccomp filter, in forked children ---- */

static const struct answer sandbox_answers[] = {
	{ IMSG_TUNNEL_DISK_IMPORT, 0, NULL,
	    "{\"socket\":\"" STORAGE_SOCKET "\",\"format\":\"raw+size\"}" },
	{ IMSG_TUNNEL_IMPORT_QUERY, 0, NULL,
	    "{\"status\":\"complete\",\"volid\":\"tank:200/vm-200-disk-0.raw\"}" },
	{ IMSG_TUNNEL_CONFIG, 0, NULL, NULL },
};

/* An import and a config with a drive, under the tunnel's filter. */
static int
sandbox_child_run(int preload)
{
	static const char	*lines[] = {
		"{\"cmd\":\"disk-import\",\"volname\":\"vm-200-disk-0.raw\","
		    "\"format\":\"raw\",\"export_formats\":\"raw+size\","
		    "\"storage\":\"tank\"}",
		"{\"cmd\":\"query-disk-import\"}",
		"{\"cmd\":\"config\",\"conf\":\"memory: 512\\nscsi0: "
		    "tank:200/vm-200-disk-0.raw,size=4G\\n\"}",
	};
	char		 why[256];
	const char	*r;
	size_t		 i;

	signal(SIGSYS, SIG_DFL);
	alarm(CHILD_ALARM_S);
	if (preload)
		cmd_preload();
	if (tunnel_sandbox() == -1)
		return 2;
	EXPECT(sandbox_answers);
	for (i = 0; i < NELEM(lines); i++) {
		if ((r = exchange_quiet(lines[i], why, sizeof(why))) == NULL)
			return 3;
		if (strstr(r, "\"success\":true") == NULL)
			return 4;
	}
	return 0;
}

static int
sandbox_child(int preload)
{
	struct rlimit	 nocore = { 0, 0 };
	pid_t		 pid;
	int		 status;
	int64_t		 deadline;

	if ((pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		setrlimit(RLIMIT_CORE, &nocore);
		_exit(sandbox_child_run(preload));
	}
	deadline = now_ms() + WAIT_MS * 2;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("sandboxed child did not end in time");
		}
		usleep(10000);
	}
	return status;
}

static void
test_sandbox_config_survives(void **unused)
{
	int	 status = sandbox_child(1);

	if (WIFSIGNALED(status))
		fail_msg("child killed by signal %d", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Without cmd_preload(), jansson and OpenSSL open files: SIGSYS. */
static void
test_sandbox_needs_preload(void **unused)
{
	int	 status = sandbox_child(0);

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* ---- dispatch order ---- */

static void
test_version_exact_bytes(void **unused)
{
	char	 raw[64];
	ssize_t	 n;

	assert_int_equal(write_all(peer, "{\"cmd\":\"version\"}\n", 18), 0);
	pump();
	n = read(peer, raw, sizeof(raw));
	assert_int_equal(n, strlen(VERSION_REPLY) + 1);
	assert_memory_equal(raw, VERSION_REPLY "\n", n);
	assert_int_equal(parent.nrequests, 1);
	assert_string_equal(lock_of(&parent.requests[0]), "create");
}

struct order_case {
	const char	*line;
	const char	*msg;
	int		 prefix;	/* msg is a prefix */
};

static const struct order_case order_cases[] = {
	{ "{", "failed to parse command - ", 1 },
	{ "", "failed to parse command - ", 1 },
	{ "{\"cmd\":\"version\"} x", "failed to parse command - ", 1 },
	{ "{\"cmd\":\"version\",\"cmd\":\"quit\"}",
	    "failed to parse command - duplicate object key", 1 },
	{ "{}", "'cmd' missing", 0 },
	{ "{\"command\":\"version\"}", "'cmd' missing", 0 },
	{ "{\"cmd\":null}", "'cmd' missing", 0 },
	{ "[\"version\"]", "'cmd' missing", 0 },
	{ "{\"cmd\":\"nope\"}", "unknown command 'nope' given", 0 },
	{ "{\"cmd\":\"\"}", "unknown command '' given", 0 },
	{ "{\"cmd\":\"VERSION\"}", "unknown command 'VERSION' given", 0 },
	{ "{\"cmd\":5}", "unknown command '5' given", 0 },
	{ "{\"cmd\":{\"a\":1}}", "unknown command '{\"a\":1}' given", 0 },
	{ "{\"cmd\":\"version\\r\"}", "unknown command 'version\r' given", 0 },
};

/* Errors before a command runs send nothing to the parent. */
static void
test_dispatch_order_errors(void **unused)
{
	const struct order_case	*c;
	size_t			 i;

	for (i = 0; i < NELEM(order_cases); i++) {
		c = &order_cases[i];
		if (c->prefix)
			assert_failure_prefix(exchange(c->line), c->msg);
		else
			assert_failure(exchange(c->line), c->msg);
		assert_int_equal(parent.nrequests, 0);
	}
	assert_string_equal(exchange("{\"cmd\":\"version\"}"), VERSION_REPLY);
}

/* A trailing CR is part of the JSON text, where it is white space. */
static void
test_dispatch_crlf_line(void **unused)
{
	assert_string_equal(exchange("{\"cmd\":\"version\"}\r"),
	    VERSION_REPLY);
}

static void
test_unknown_long_name_cut(void **unused)
{
	char	 line[512], name[301];
	json_t	*r;

	memset(name, 'x', 300);
	name[300] = '\0';
	snprintf(line, sizeof(line), "{\"cmd\":\"%s\"}", name);
	r = json_loads(exchange(line), 0, NULL);
	assert_non_null(r);
	assert_non_null(strstr(json_string_value(json_object_get(r, "msg")),
	    "xxx...' given"));
	assert_true(strlen(json_string_value(json_object_get(r, "msg"))) <
	    120);
	json_decref(r);
}

static const struct answer quit_answers[] = {
	{ IMSG_TUNNEL_QUIT, 0, NULL, NULL },
};

/* After quit, every command, known or not, gets the exit-mode error. */
static void
test_exit_mode(void **unused)
{
	const struct tunnel_quit	*q;

	EXPECT(quit_answers);
	assert_string_equal(exchange("{\"cmd\":\"quit\",\"cleanup\":1}"),
	    "{\"success\":true}");
	q = last_request(IMSG_TUNNEL_QUIT, sizeof(*q));
	assert_int_equal(q->cleanup, 1);
	assert_int_equal(control.exit_mode, 1);
	assert_int_equal(control.quit_cleanup, 1);
	requests_clear();

	assert_failure(exchange("{\"cmd\":\"version\"}"), "tunnel is in "
	    "exit-mode, processing 'version' cmd not possible");
	assert_failure(exchange("{\"cmd\":\"quit\"}"), "tunnel is in "
	    "exit-mode, processing 'quit' cmd not possible");
	assert_failure(exchange("{\"cmd\":\"nope\"}"), "tunnel is in "
	    "exit-mode, processing 'nope' cmd not possible");
	assert_failure(exchange("{\"cmd\":\"quit\",\"bad\":1}"), "tunnel is "
	    "in exit-mode, processing 'quit' cmd not possible");
	assert_failure(exchange("{}"), "'cmd' missing");
	assert_failure_prefix(exchange("{"), "failed to parse command - ");
	assert_int_equal(parent.nrequests, 0);
	assert_all_answered();
}

/* ---- schemas ---- */

struct schema_case {
	const char	*line;
	const char	*msg;
};

#define FAILED(cmd)	"failed to handle '" cmd "' command - " SCHEMA_FAILED
#define X32	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define X64	X32 X32
#define X256	X64 X64 X64 X64

static const struct schema_case schema_cases[] = {
	/* version, query-disk-import, unlock: no parameters */
	{ "{\"cmd\":\"version\",\"x\":1}", FAILED("version") "x: "
	    NOT_DEFINED "\n" },
	{ "{\"cmd\":\"version\",\"api\":null}", FAILED("version") "api: "
	    NOT_DEFINED "\n" },
	{ "{\"cmd\":\"query-disk-import\",\"volid\":\"a:b\"}",
	    FAILED("query-disk-import") "volid: " NOT_DEFINED "\n" },
	{ "{\"cmd\":\"unlock\",\"lock\":\"migrate\"}", FAILED("unlock")
	    "lock: " NOT_DEFINED "\n" },
	/* config */
	{ "{\"cmd\":\"config\"}", FAILED("config") "conf: " MISSING "\n" },
	{ "{\"cmd\":\"config\",\"conf\":null}", FAILED("config") "conf: "
	    MISSING "\n" },
	{ "{\"cmd\":\"config\",\"conf\":5}", FAILED("config")
	    "conf: type check ('string') failed - got '5'\n" },
	{ "{\"cmd\":\"config\",\"conf\":\"\",\"firewall-config\":[]}",
	    FAILED("config") "firewall-config: type check ('string') failed "
	    "- got ARRAY\n" },
	{ "{\"cmd\":\"config\",\"conf\":\"\",\"extra\":true}",
	    FAILED("config") "extra: " NOT_DEFINED "\n" },
	/* disk */
	{ "{\"cmd\":\"disk\"}", FAILED("disk") "drive: " MISSING "\nformat: "
	    MISSING "\nstorage: " MISSING "\n" },
	{ "{\"cmd\":\"disk\",\"format\":\"foo\",\"storage\":\"tank\","
	    "\"drive\":{}}", FAILED("disk") "format: value 'foo' does not "
	    "have a value in the enumeration 'raw, qcow, qed, qcow2, vmdk, "
	    "cloop'\n" },
	{ "{\"cmd\":\"disk\",\"format\":\"raw\",\"storage\":\"9tank\","
	    "\"drive\":{}}", FAILED("disk") "storage: invalid format - "
	    "storage ID '9tank' contains illegal characters\n" },
	{ "{\"cmd\":\"disk\",\"format\":\"raw\",\"storage\":\"t" X64 "\","
	    "\"drive\":{}}", FAILED("disk") "storage: invalid format - "
	    "storage ID 't" X32 "xxxxxxxxxxxxxxxxxxxxxxxxxxx...' contains "
	    "illegal characters\n" },
	{ "{\"cmd\":\"disk\",\"format\":\"raw\",\"storage\":\"tank\","
	    "\"drive\":\"scsi0\"}", FAILED("disk") "drive: type check "
	    "('object') failed\n" },
	{ "{\"cmd\":\"disk\",\"format\":\"raw\",\"storage\":\"tank\","
	    "\"drive\":null}", FAILED("disk") "drive: " MISSING "\n" },
	{ "{\"cmd\":\"disk\",\"format\":true,\"storage\":[],\"drive\":{},"
	    "\"size\":1}", FAILED("disk") "format: type check ('string') "
	    "failed - got JSON::PP::Boolean\nsize: " NOT_DEFINED "\nstorage: "
	    "type check ('string') failed - got ARRAY\n" },
	/* disk-import */
	{ "{\"cmd\":\"disk-import\"}", FAILED("disk-import") "export_formats: "
	    MISSING "\nformat: " MISSING "\nstorage: " MISSING "\nvolname: "
	    MISSING "\n" },
	{ "{\"cmd\":\"disk-import\",\"volname\":\"vm-200-disk-0.raw\","
	    "\"format\":\"raw\",\"export_formats\":\"raw+size\","
	    "\"storage\":\"tank\",\"allow_rename\":\"true\"}",
	    FAILED("disk-import") "allow_rename: type check ('boolean') "
	    "failed - got 'true'\n" },
	{ "{\"cmd\":\"disk-import\",\"volname\":\"vm-200-disk-0.raw\","
	    "\"format\":\"raw\",\"export_formats\":\"raw+size\","
	    "\"storage\":\"tank\",\"with_snapshots\":2}",
	    FAILED("disk-import") "with_snapshots: type check ('boolean') "
	    "failed - got '2'\n" },
	{ "{\"cmd\":\"disk-import\",\"volname\":\"vm-200-disk-0.raw\","
	    "\"format\":\"raw\",\"export_formats\":\"raw+size\","
	    "\"storage\":\"tank\",\"migration_snapshot\":{}}",
	    FAILED("disk-import") "migration_snapshot: type check ('boolean') "
	    "failed - got HASH\n" },
	{ "{\"cmd\":\"disk-import\",\"volname\":\"vm-200-disk-0.raw\","
	    "\"format\":\"raw\",\"export_formats\":\"raw+size\","
	    "\"storage\":\"tank\",\"snapshot\":\"bad name\"}",
	    FAILED("disk-import") "snapshot: value does not match the regex "
	    "pattern\n" },
	{ "{\"cmd\":\"disk-import\",\"volname\":\"vm-200-disk-0.raw\","
	    "\"format\":\"raw\",\"export_formats\":\"raw+size\","
	    "\"storage\":\"tank\",\"snapshot\":\"" X64 "\"}",
	    FAILED("disk-import") "snapshot: value does not match the regex "
	    "pattern\n" },
	{ "{\"cmd\":\"disk-import\",\"volname\":\"" X256 "\","
	    "\"format\":\"raw\",\"export_formats\":\"raw+size\","
	    "\"storage\":\"tank\"}",
	    FAILED("disk-import") "volname: value may only be 255 bytes "
	    "long\n" },
	{ "{\"cmd\":\"disk-import\",\"volname\":\"vm-200-disk-0.raw\","
	    "\"format\":\"raw\",\"export_formats\":\"raw+size\","
	    "\"storage\":\"tank\",\"delete\":1}",
	    FAILED("disk-import") "delete: " NOT_DEFINED "\n" },
	/* bwlimit */
	{ "{\"cmd\":\"bwlimit\"}", FAILED("bwlimit") "storages: " MISSING
	    "\n" },
	{ "{\"cmd\":\"bwlimit\",\"storages\":null}", FAILED("bwlimit")
	    "storages: " MISSING "\n" },
	{ "{\"cmd\":\"bwlimit\",\"storages\":\"tank\"}", FAILED("bwlimit")
	    "storages: type check ('array') failed\n" },
	{ "{\"cmd\":\"bwlimit\",\"storages\":[\"tank\"],\"bwlimit\":-1}",
	    FAILED("bwlimit") "bwlimit: value must have a minimum value of "
	    "0\n" },
	{ "{\"cmd\":\"bwlimit\",\"storages\":[\"tank\"],\"bwlimit\":\"abc\"}",
	    FAILED("bwlimit") "bwlimit: type check ('integer') failed - got "
	    "'abc'\n" },
	{ "{\"cmd\":\"bwlimit\",\"storages\":[\"tank\"],\"bwlimit\":1.5}",
	    FAILED("bwlimit") "bwlimit: type check ('integer') failed - got "
	    "'1.5'\n" },
	{ "{\"cmd\":\"bwlimit\",\"storages\":[\"tank\"],\"bwlimit\":true}",
	    FAILED("bwlimit") "bwlimit: type check ('integer') failed - got "
	    "JSON::PP::Boolean\n" },
	{ "{\"cmd\":\"bwlimit\",\"storages\":[\"tank\"],"
	    "\"bwlimit\":\"99999999999999999999\"}", FAILED("bwlimit")
	    "bwlimit: type check ('integer') failed - got "
	    "'99999999999999999999'\n" },
	{ "{\"cmd\":\"bwlimit\",\"storages\":[\"bad id\"]}", FAILED("bwlimit")
	    "storages[0]: invalid format - storage ID 'bad id' contains "
	    "illegal characters\n" },
	{ "{\"cmd\":\"bwlimit\",\"storages\":[null,{}]}", FAILED("bwlimit")
	    "storages[1]: type check ('string') failed - got HASH\n" },
	{ "{\"cmd\":\"bwlimit\",\"storages\":[],\"operation\":\"" X64 "\"}",
	    FAILED("bwlimit") "operation: value may only be 31 bytes long\n" },
	/* ticket */
	{ "{\"cmd\":\"ticket\"}", FAILED("ticket") "path: " MISSING "\n" },
	{ "{\"cmd\":\"ticket\",\"path\":true}", FAILED("ticket") "path: type "
	    "check ('string') failed - got JSON::PP::Boolean\n" },
	{ "{\"cmd\":\"ticket\",\"path\":\"/" X256 "\"}", FAILED("ticket")
	    "path: value may only be 255 bytes long\n" },
	{ "{\"cmd\":\"ticket\",\"path\":\"" STORAGE_SOCKET "\",\"ticket\":1}",
	    FAILED("ticket") "ticket: " NOT_DEFINED "\n" },
	/* quit */
	{ "{\"cmd\":\"quit\",\"cleanup\":\"yes\"}", FAILED("quit") "cleanup: "
	    "type check ('boolean') failed - got 'yes'\n" },
	{ "{\"cmd\":\"quit\",\"force\":1,\"cleanup\":-1}", FAILED("quit")
	    "cleanup: type check ('boolean') failed - got '-1'\nforce: "
	    NOT_DEFINED "\n" },
	/* refused commands are checked first */
	{ "{\"cmd\":\"stop\",\"force\":1}", FAILED("stop") "force: "
	    NOT_DEFINED "\n" },
	{ "{\"cmd\":\"resume\",\"x\":1}", FAILED("resume") "x: " NOT_DEFINED
	    "\n" },
};

/* Every schema error: exact message, nothing sent to the parent. */
static void
test_schema_errors(void **unused)
{
	size_t	 i;

	for (i = 0; i < NELEM(schema_cases); i++) {
		assert_failure(exchange(schema_cases[i].line),
		    schema_cases[i].msg);
		assert_int_equal(parent.nrequests, 0);
	}
}

/* ---- start and the runtime commands ---- */

#define DISK_DRIVESTR "tank:200/vm-200-disk-0.raw,cache=writeback," \
	"discard=on,format=raw,iothread=1,size=32G,ssd=1"

#define START_DISK \
	"{\"cmd\":\"disk\",\"format\":\"raw\",\"storage\":\"tank\"," \
	"\"drive\":{\"interface\":\"scsi\",\"index\":0," \
	"\"size\":34359738368,\"discard\":\"on\",\"iothread\":1," \
	"\"ssd\":1,\"cache\":\"writeback\"}}"
#define START_VOLID	"tank:200/vm-200-disk-0.raw"
#define START_NBD	"/run/qemu-server/200_nbd.migrate"

/* start with nbd entry ENTRY for scsi0 and start_params PARAMS. */
static const char *
start_line(const char *params, const char *entry)
{
	static char	 line[2048];

	snprintf(line, sizeof(line), "{\"cmd\":\"start\",\"start_params\":"
	    "%s,\"migrate_opts\":{\"type\":\"websocket\","
	    "\"nbd_proto_version\":1,\"migratedfrom\":\"src\","
	    "\"remote_node\":\"dst\",\"spice_ticket\":null,"
	    "\"network\":null,\"storagemap\":{\"default\":\"tank\"},"
	    "\"nbd\":{\"scsi0\":%s}}}", params, entry);
	return line;
}

static const struct answer start_answers[] = {
	{ IMSG_TUNNEL_DISK_ALLOC, 0, NULL,
	    "{\"volid\":\"" START_VOLID "\",\"format\":\"raw\"}" },
	{ IMSG_TUNNEL_CONFIG, 0, NULL, NULL },
	{ IMSG_TUNNEL_VM_START, 0, NULL, "{\"nbd\":true}" },
	{ IMSG_TUNNEL_NBD_STOP, 0, NULL, NULL },
	{ IMSG_TUNNEL_VM_RESUME, 0, NULL, NULL },
	{ IMSG_TUNNEL_FSTRIM, 0, NULL, NULL },
};

/* disk and config, as a live migration runs them before start. */
static void
start_prepare(void)
{
	assert_string_equal(exchange(START_DISK), "{\"drivestr\":\""
	    DISK_DRIVESTR "\",\"volid\":\"" START_VOLID "\","
	    "\"success\":true}");
	assert_string_equal(exchange(config_line("memory: 512\nscsi0: "
	    DISK_DRIVESTR "\n", NULL)), "{\"success\":true}");
}

/*
 * The live sequence.  start forwards start_params and the checked drives
 * and replies with migrate and drives, and it accepts a leftover
 * "success" in an nbd entry.  Then nbdstop, resume and fstrim go to the
 * parent.
 */
static void
test_start_live_sequence(void **unused)
{
	const struct tunnel_vm_start	*req;

	EXPECT(start_answers);
	start_prepare();
	assert_string_equal(exchange(start_line("{\"statefile\":\"unix\","
	    "\"forcemachine\":\"pc-i440fx-7.2+pve0\",\"forcecpu\":null,"
	    "\"skiplock\":1,\"nets-host-mtu\":\"net0=1500\"}",
	    "{\"drivestr\":\"" DISK_DRIVESTR "\",\"volid\":\"" START_VOLID
	    "\",\"success\":1}")),
	    "{\"migrate\":{\"proto\":\"unix\",\"addr\":"
	    "\"/run/qemu-server/200.migrate\",\"uri\":"
	    "\"unix:/run/qemu-server/200.migrate\",\"unix_sockets\":"
	    "[\"" START_NBD "\"]},\"drives\":{\"scsi0\":{\"drivestr\":\""
	    DISK_DRIVESTR "\",\"volid\":\"" START_VOLID "\",\"nbd_uri\":"
	    "\"nbd:unix:" START_NBD ":exportname=drive-scsi0\"}},"
	    "\"success\":true}");
	req = last_request(IMSG_TUNNEL_VM_START, sizeof(*req));
	assert_string_equal(req->forcemachine, "pc-i440fx-7.2+pve0");
	assert_string_equal(req->forcecpu, "");
	assert_string_equal(req->nets_host_mtu, "net0=1500");
	assert_int_equal(req->ndrives, 1);
	assert_string_equal(req->drives[0].key, "scsi0");
	assert_string_equal(req->drives[0].volid, START_VOLID);

	assert_string_equal(exchange("{\"cmd\":\"nbdstop\"}"),
	    "{\"success\":true}");
	last_request(IMSG_TUNNEL_NBD_STOP, 0);
	assert_string_equal(exchange("{\"cmd\":\"resume\"}"),
	    "{\"success\":true}");
	last_request(IMSG_TUNNEL_VM_RESUME, 0);
	assert_string_equal(exchange("{\"cmd\":\"fstrim\"}"),
	    "{\"success\":true}");
	last_request(IMSG_TUNNEL_FSTRIM, 0);
	assert_all_answered();
}

struct start_case {
	const char	*params;
	const char	*entry;
	const char	*msg;		/* a prefix */
};

static const struct start_case start_cases[] = {
	{ "{\"bogus\":1}", "{}", "failed to handle 'start' command - 400 "
	    "Parameter verification failed.\nbogus: property is not "
	    "defined" },
	{ "{\"statefile\":\"tcp\"}", "{}", "failed to handle 'start' "
	    "command - 400 Parameter verification failed.\nstatefile: " },
	{ "{}", "{\"volid\":\"tank:200/vm-200-disk-9.raw\","
	    "\"drivestr\":\"x\"}", "failed to handle 'start' command - "
	    "Unknown NBD volume 'scsi0:tank:200/vm-200-disk-9.raw'\n" },
	{ "{}", "{\"volid\":\"" START_VOLID "\",\"drivestr\":\"" START_VOLID
	    ",size=1G\"}", "failed to handle 'start' command - NBD mismatch "
	    "for 'scsi0'" },
	{ "{}", "{\"volid\":\"" START_VOLID "\",\"drivestr\":\""
	    DISK_DRIVESTR "\",\"extra\":1}", "failed to handle 'start' "
	    "command - Unknown NBD volume key for 'scsi0'" },
	{ "{}", "{\"drivestr\":\"" DISK_DRIVESTR "\"}", "failed to handle "
	    "'start' command - Unknown NBD volume 'scsi0:'\n" },
	{ "{}", "\"tank\"", "failed to handle 'start' command - invalid "
	    "NBD entry 'scsi0'\n" },
};

/* Bad start parameters and NBD entries never reach the parent. */
static void
test_start_rejects(void **unused)
{
	size_t	 i, before;

	expect_answers(start_answers, 2);
	start_prepare();
	for (i = 0; i < NELEM(start_cases); i++) {
		before = parent.nrequests;
		assert_failure_prefix(exchange(start_line(
		    start_cases[i].params, start_cases[i].entry)),
		    start_cases[i].msg);
		/* At most the lock check went out. */
		assert_true(parent.nrequests <= before + 1);
	}
	assert_failure_prefix(exchange("{\"cmd\":\"start\","
	    "\"start_params\":{},\"migrate_opts\":{\"type\":\"tcp\"}}"),
	    "failed to handle 'start' command - 400 Parameter verification "
	    "failed.\ntype: ");
	assert_all_answered();
}

/* start needs the config; the parent's errors reach the source. */
static void
test_start_needs_config(void **unused)
{
	static const struct answer stopped[] = {
		{ IMSG_TUNNEL_VM_STOP, ESRCH, "VM 200 not running\n", NULL },
	};

	assert_failure(exchange(start_line("{}", "{}")), "failed to handle "
	    "'start' command - start needs an installed config\n");
	EXPECT(stopped);
	assert_failure(exchange("{\"cmd\":\"stop\"}"), "failed to handle "
	    "'stop' command - VM 200 not running\n");
	last_request(IMSG_TUNNEL_VM_STOP, 0);
	assert_all_answered();
}

/* ---- quirks ---- */

struct bool_case {
	const char	*json;
	uint32_t	 value;
};

static const struct bool_case bool_cases[] = {
	{ "\"1\"", 1 }, { "\"0\"", 0 }, { "\"\"", 0 }, { "1", 1 },
	{ "0", 0 }, { "true", 1 }, { "false", 0 }, { "null", 0 },
};

static const struct answer import_refused[] = {
	{ IMSG_TUNNEL_DISK_IMPORT, EIO, "refused by the test\n", NULL },
};

/* Booleans in every form a source sends, as disk-import forwards them. */
static void
test_quirk_booleans(void **unused)
{
	const struct tunnel_disk_import	*req;
	char				 line[512];
	size_t				 i;

	for (i = 0; i < NELEM(bool_cases); i++) {
		EXPECT(import_refused);
		snprintf(line, sizeof(line), "{\"cmd\":\"disk-import\","
		    "\"volname\":\"vm-200-disk-0.raw\",\"format\":\"raw\","
		    "\"export_formats\":\"raw+size\",\"storage\":\"tank\","
		    "\"allow_rename\":%s,\"with_snapshots\":%s,"
		    "\"migration_snapshot\":%s}", bool_cases[i].json,
		    bool_cases[i].json, bool_cases[i].json);
		assert_failure(exchange(line), "failed to handle 'disk-import' "
		    "command - refused by the test\n");
		req = last_request(IMSG_TUNNEL_DISK_IMPORT, sizeof(*req));
		assert_int_equal(req->allow_rename, bool_cases[i].value);
		assert_int_equal(req->with_snapshots, bool_cases[i].value);
		assert_all_answered();
	}
}

static const struct answer bwlimit_answers[] = {
	{ IMSG_TUNNEL_BWLIMIT, 0, NULL, "{\"bwlimit\":null}" },
	{ IMSG_TUNNEL_BWLIMIT, 0, NULL, "{\"bwlimit\":51200}" },
	{ IMSG_TUNNEL_BWLIMIT, 0, NULL, "{\"bwlimit\":0}" },
};

/* storages [null] (memory transfer), "100" as integer, null as absent. */
static void
test_quirk_bwlimit(void **unused)
{
	const struct tunnel_bwlimit	*req;

	EXPECT(bwlimit_answers);
	assert_string_equal(exchange("{\"cmd\":\"bwlimit\",\"storages\":"
	    "[null],\"bwlimit\":null}"), "{\"bwlimit\":null,\"success\":true}");
	req = last_request(IMSG_TUNNEL_BWLIMIT, sizeof(*req));
	assert_string_equal(req->storages, "");
	assert_string_equal(req->operation, "");
	assert_int_equal(req->bwlimit, -1);

	assert_string_equal(exchange("{\"cmd\":\"bwlimit\",\"operation\":"
	    "\"migration\",\"storages\":[\"tank\",null,\"fast\"],\"bwlimit\":"
	    "\"100\"}"), "{\"bwlimit\":51200,\"success\":true}");
	req = last_request(IMSG_TUNNEL_BWLIMIT, sizeof(*req));
	assert_string_equal(req->storages, "tank,fast");
	assert_string_equal(req->operation, "migration");
	assert_int_equal(req->bwlimit, 100);

	assert_string_equal(exchange("{\"cmd\":\"bwlimit\",\"storages\":[],"
	    "\"bwlimit\":0,\"operation\":null}"),
	    "{\"bwlimit\":0,\"success\":true}");
	req = last_request(IMSG_TUNNEL_BWLIMIT, sizeof(*req));
	assert_int_equal(req->bwlimit, 0);
	assert_all_answered();
}

static const struct answer quit_twice[] = {
	{ IMSG_TUNNEL_QUIT, EIO, "refused by the test\n", NULL },
	{ IMSG_TUNNEL_QUIT, 0, NULL, NULL },
};

/* A refused quit keeps the tunnel going; "0" as cleanup means none. */
static void
test_quit_cleanup_forms(void **unused)
{
	const struct tunnel_quit	*q;

	EXPECT(quit_twice);
	assert_failure(exchange("{\"cmd\":\"quit\",\"cleanup\":\"1\"}"),
	    "failed to handle 'quit' command - refused by the test\n");
	q = last_request(IMSG_TUNNEL_QUIT, sizeof(*q));
	assert_int_equal(q->cleanup, 1);
	assert_int_equal(control.exit_mode, 0);

	assert_string_equal(exchange("{\"cmd\":\"quit\",\"cleanup\":\"0\"}"),
	    "{\"success\":true}");
	q = last_request(IMSG_TUNNEL_QUIT, sizeof(*q));
	assert_int_equal(q->cleanup, 0);
	assert_int_equal(control.exit_mode, 1);
	assert_int_equal(control.quit_cleanup, 0);
	assert_all_answered();
}

/* ---- an offline migration, as a source runs it ---- */

static const char offline_conf[] =
	"#Shop frontend%3A staging copy\n"
	"agent: 1\n"
	"boot: order=scsi0;net0\n"
	"cores: 4\n"
	"digest: 0123456789abcdef0123456789abcdef01234567\n"
	"lock: migrate\n"
	"memory: 2048\n"
	"meta: creation-qemu=9.2.0,ctime=1722860000\n"
	"name: shop-stage\n"
	"net0: virtio=BC:24:11:0D:9E:41,bridge=vmbr1,firewall=1\n"
	"ostype: l26\n"
	"parent: pre-patch\n"
	"scsi0: tank:200/vm-200-disk-0.raw,discard=on,ssd=yes,size=4G\n"
	"scsihw: virtio-scsi-single\n"
	"vmgenid: 0f1e2d3c-4b5a-4697-8877-665544332211\n"
	"\n"
	"[PENDING]\n"
	"memory: 4096\n"
	"\n"
	"[pre-patch]\n"
	"memory: 2048\n"
	"scsi0: tank:200/vm-200-disk-0.raw,size=4G\n"
	"snaptime: 1722950000\n";

/* What the parent must get: lock, digest, parent, sections dropped. */
static const char offline_canonical[] =
	"#Shop frontend%3A staging copy\n"
	"agent: 1\n"
	"boot: order=scsi0;net0\n"
	"cores: 4\n"
	"memory: 2048\n"
	"meta: creation-qemu=9.2.0,ctime=1722860000\n"
	"name: shop-stage\n"
	"net0: virtio=BC:24:11:0D:9E:41,bridge=vmbr1,firewall=1\n"
	"ostype: l26\n"
	"scsi0: tank:200/vm-200-disk-0.raw,discard=on,size=4G,ssd=1\n"
	"scsihw: virtio-scsi-single\n"
	"vmgenid: 0f1e2d3c-4b5a-4697-8877-665544332211\n";

static const char offline_fw[] = "[OPTIONS]\nenable: 1\n";

#define TICKET_VALUE "PVETUNNEL:65A1B2C3:0123456789abcdef:c2VjcmV0"

static const struct answer offline_answers[] = {
	{ IMSG_TUNNEL_BWLIMIT, 0, NULL, "{\"bwlimit\":51200}" },
	{ IMSG_TUNNEL_DISK_IMPORT, 0, NULL,
	    "{\"socket\":\"" STORAGE_SOCKET "\",\"format\":\"raw+size\"}" },
	{ IMSG_TUNNEL_TICKET, 0, NULL, "{\"ticket\":\"" TICKET_VALUE "\"}" },
	{ IMSG_TUNNEL_IMPORT_QUERY, 0, NULL,
	    "{\"status\":\"pending\",\"msg\":null}" },
	{ IMSG_TUNNEL_IMPORT_QUERY, 0, NULL,
	    "{\"status\":\"pending\",\"msg\":\"4294967296 bytes\"}" },
	{ IMSG_TUNNEL_IMPORT_QUERY, 0, NULL,
	    "{\"status\":\"complete\",\"volid\":\"tank:200/vm-200-disk-0.raw\"}" },
	{ IMSG_TUNNEL_CONFIG, 0, NULL, NULL },
	{ IMSG_TUNNEL_UNLOCK, 0, NULL, NULL },
	{ IMSG_TUNNEL_QUIT, 0, NULL, NULL },
};

struct step {
	const char	*line;
	const char	*reply;
};

static const struct step offline_steps[] = {
	{ "{\"cmd\":\"version\"}", VERSION_REPLY },
	{ "{\"cmd\":\"bwlimit\",\"operation\":\"migration\",\"storages\":"
	    "[\"tank\"],\"bwlimit\":null}",
	    "{\"bwlimit\":51200,\"success\":true}" },
	{ "{\"migration_snapshot\":0,\"volname\":\"vm-200-disk-0.raw\","
	    "\"cmd\":\"disk-import\",\"allow_rename\":\"1\",\"storage\":"
	    "\"tank\",\"export_formats\":\"raw+size\",\"with_snapshots\":0,"
	    "\"format\":\"raw\"}",
	    "{\"socket\":\"" STORAGE_SOCKET "\",\"format\":\"raw+size\","
	    "\"success\":true}" },
	{ "{\"cmd\":\"ticket\",\"path\":\"" STORAGE_SOCKET "\"}",
	    "{\"ticket\":\"" TICKET_VALUE "\",\"success\":true}" },
	{ "{\"cmd\":\"query-disk-import\"}",
	    "{\"status\":\"pending\",\"msg\":null,\"success\":true}" },
	{ "{\"cmd\":\"query-disk-import\"}",
	    "{\"status\":\"pending\",\"msg\":\"4294967296 bytes\","
	    "\"success\":true}" },
	{ "{\"cmd\":\"query-disk-import\"}",
	    "{\"status\":\"complete\",\"volid\":\"tank:200/vm-200-disk-0.raw\","
	    "\"success\":true}" },
};

static const char *const offline_locks[] = {
	"create", "create", "create", "create", "create", "create", "create",
	"create", "migrate",
};

/* The ticket must never reach the log; its issue must. */
static void
assert_log_has_no_ticket(void)
{
	char	 buf[65536];
	FILE	*f;
	size_t	 n;

	if ((f = fopen(log_path, "r")) == NULL)
		fail_msg("%s: %s", log_path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_null(strstr(buf, TICKET_VALUE));
	assert_non_null(strstr(buf, "ticket issued for '" STORAGE_SOCKET
	    "'"));
}

static void
test_offline_migration(void **unused)
{
	const struct tunnel_disk_import	*imp;
	const struct tunnel_config	*tc;
	const struct request		*r;
	const char			*text;
	char				 why[256];
	size_t				 i, nlock;

	EXPECT(offline_answers);
	for (i = 0; i < NELEM(offline_steps); i++) {
		if (strstr(offline_steps[i].line, "ticket") == NULL) {
			assert_string_equal(exchange(offline_steps[i].line),
			    offline_steps[i].reply);
			continue;
		}
		logs_to(log_path);
		text = exchange_quiet(offline_steps[i].line, why, sizeof(why));
		logs_back();
		if (text == NULL)
			fail_msg("%s", why);
		assert_string_equal(text, offline_steps[i].reply);
		assert_log_has_no_ticket();
	}
	assert_string_equal(exchange(config_line(offline_conf, offline_fw)),
	    "{\"success\":true}");
	assert_string_equal(cmd_expected_lock(), "migrate");
	r = &parent.requests[parent.nrequests - 1];
	tc = last_request(IMSG_TUNNEL_CONFIG, r->len);
	assert_int_equal(tc->conf_len, strlen(offline_canonical));
	assert_int_equal(tc->fw_len, strlen(offline_fw));
	assert_int_equal(r->len, sizeof(*tc) + tc->conf_len + tc->fw_len);
	text = (const char *)r->data + sizeof(*tc);
	assert_memory_equal(text, offline_canonical, tc->conf_len);
	assert_memory_equal(text + tc->conf_len, offline_fw, tc->fw_len);

	assert_string_equal(exchange("{\"cmd\":\"unlock\"}"),
	    "{\"success\":true}");
	assert_string_equal(cmd_expected_lock(), "");
	assert_string_equal(exchange("{\"cmd\":\"quit\",\"cleanup\":0}"),
	    "{\"success\":true}");
	assert_int_equal(control.exit_mode, 1);
	assert_all_answered();

	/* The lock each command was checked against, in order. */
	for (i = 0, nlock = 0; i < parent.nrequests; i++) {
		if (parent.requests[i].type != IMSG_TUNNEL_LOCK_CHECK)
			continue;
		if (nlock < NELEM(offline_locks))
			assert_string_equal(lock_of(&parent.requests[i]),
			    offline_locks[nlock]);
		else
			assert_string_equal(lock_of(&parent.requests[i]), "");
		nlock++;
	}
	assert_int_equal(nlock, NELEM(offline_locks) + 1);

	imp = (const void *)parent.requests[4].data;
	assert_int_equal(parent.requests[4].type, IMSG_TUNNEL_DISK_IMPORT);
	assert_string_equal(imp->storage, "tank");
	assert_string_equal(imp->volname, "vm-200-disk-0.raw");
	assert_string_equal(imp->format, "raw");
	assert_string_equal(imp->export_formats, "raw+size");
	assert_int_equal(imp->allow_rename, 1);
	assert_int_equal(imp->with_snapshots, 0);
}

/* ---- volume names ---- */

struct volname_case {
	const char	*hint;
	const char	*sent;		/* NULL: rejected */
};

static const struct volname_case volname_cases[] = {
	{ "vm-200-disk-0.qcow2", "vm-200-disk-0.qcow2" },
	{ "vm-100-disk-1.qcow2", "vm-200-disk-1.qcow2" },
	{ "100/vm-100-disk-1.qcow2", "vm-200-disk-1.qcow2" },
	{ "vm-4321-disk-1", "vm-200-disk-1" },
	{ "vm-100-state-x-100-y", "vm-200-state-x-200-y" },
	{ "base-100-disk-0.raw", "base-200-disk-0.raw" },
	{ "vm-100-cloudinit.qcow2", "vm-200-cloudinit.qcow2" },
	{ "mydisk.raw", "mydisk.raw" },
	{ "vm-100x-disk-0.raw", "vm-100x-disk-0.raw" },
	{ "", NULL },
	{ "../vm-200-disk-0.raw", NULL },
	{ "a/b.raw", NULL },
	{ "vm-200-disk 0.raw", NULL },
	{ "100/", NULL },
};

static void
test_disk_import_volname(void **unused)
{
	const struct tunnel_disk_import	*req;
	char				 line[512], msg[256];
	size_t				 i;

	for (i = 0; i < NELEM(volname_cases); i++) {
		requests_clear();
		EXPECT(import_refused);
		snprintf(line, sizeof(line), "{\"cmd\":\"disk-import\","
		    "\"volname\":\"%s\",\"format\":\"raw\",\"export_formats\":"
		    "\"raw+size\",\"storage\":\"tank\"}", volname_cases[i].hint);
		if (volname_cases[i].sent == NULL) {
			snprintf(msg, sizeof(msg), "failed to handle "
			    "'disk-import' command - invalid volume name "
			    "'%s'\n", volname_cases[i].hint);
			assert_failure(exchange(line), msg);
			assert_int_equal(parent.nrequests, 1);
			continue;
		}
		exchange(line);
		req = last_request(IMSG_TUNNEL_DISK_IMPORT, sizeof(*req));
		assert_string_equal(req->volname, volname_cases[i].sent);
	}
}

/* ---- disk (NBD allocation) ---- */

static const struct answer disk_answers[] = {
	{ IMSG_TUNNEL_DISK_ALLOC, 0, NULL,
	    "{\"volid\":\"tank:200/vm-200-disk-0.raw\",\"format\":\"raw\"}" },
	{ IMSG_TUNNEL_CONFIG, 0, NULL, NULL },
};


static void
test_disk_allocates(void **unused)
{
	const struct tunnel_disk_alloc	*req;

	EXPECT(disk_answers);
	assert_string_equal(exchange("{\"cmd\":\"disk\",\"format\":\"raw\","
	    "\"storage\":\"tank\",\"drive\":{\"interface\":\"scsi\","
	    "\"index\":0,\"file\":\"local:100/vm-100-disk-0.qcow2\","
	    "\"format\":\"qcow2\",\"size\":34359738368,\"discard\":\"on\","
	    "\"iothread\":1,\"ssd\":\"1\",\"cache\":\"writeback\","
	    "\"backup\":null}}"),
	    "{\"drivestr\":\"" DISK_DRIVESTR "\",\"volid\":"
	    "\"tank:200/vm-200-disk-0.raw\",\"success\":true}");
	req = last_request(IMSG_TUNNEL_DISK_ALLOC, sizeof(*req));
	assert_string_equal(req->storage, "tank");
	assert_string_equal(req->format, "raw");
	assert_int_equal(req->size, 34359738368ULL);

	/* The allocated volume may now appear in the config. */
	assert_string_equal(exchange(config_line("memory: 512\nscsi0: "
	    DISK_DRIVESTR "\n", NULL)), "{\"success\":true}");
	assert_all_answered();
}

struct disk_case {
	const char	*drive;
	const char	*msg;		/* a prefix */
};

static const struct disk_case disk_cases[] = {
	{ "{\"size\":1048576}",
	    "invalid drive: drive needs 'interface' and 'index'\n" },
	{ "{\"interface\":\"floppy\",\"index\":0,\"size\":1048576}",
	    "invalid drive: invalid drive interface or index\n" },
	{ "{\"interface\":\"scsi\",\"index\":31,\"size\":1048576}",
	    "invalid drive: invalid drive interface or index\n" },
	{ "{\"interface\":\"scsi\",\"index\":\"0x\",\"size\":1048576}",
	    "invalid drive: invalid drive interface or index\n" },
	{ "{\"interface\":\"scsi\",\"index\":0,\"size\":1048576,"
	    "\"serial\":\"a,b\"}", "invalid drive: invalid drive option "
	    "'serial'\n" },
	{ "{\"interface\":\"scsi\",\"index\":0,\"size\":1048576,"
	    "\"cache\":{}}", "invalid drive: invalid drive option 'cache'\n" },
	{ "{\"interface\":\"scsi\",\"index\":0,\"size\":1048576,"
	    "\"a=b\":1}", "invalid drive: invalid drive option 'a=b'\n" },
	{ "{\"interface\":\"scsi\",\"index\":0,\"size\":1048576,"
	    "\"bogus\":1}", "invalid drive 'scsi0': " },
	{ "{\"interface\":\"scsi\",\"index\":0,\"size\":1048576,"
	    "\"cache\":\"fast\"}", "invalid drive 'scsi0': " },
	{ "{\"interface\":\"scsi\",\"index\":0}",
	    "drive 'scsi0' is without a size\n" },
	{ "{\"interface\":\"ide\",\"index\":2,\"media\":\"cdrom\","
	    "\"size\":1048576}", "invalid drive 'ide2': " },
};

/* A drive is checked before anything is allocated. */
static void
test_disk_rejects_drive(void **unused)
{
	char	 line[512], prefix[256];
	size_t	 i;

	for (i = 0; i < NELEM(disk_cases); i++) {
		requests_clear();
		snprintf(line, sizeof(line), "{\"cmd\":\"disk\",\"format\":"
		    "\"raw\",\"storage\":\"tank\",\"drive\":%s}",
		    disk_cases[i].drive);
		snprintf(prefix, sizeof(prefix), "failed to handle 'disk' "
		    "command - %s", disk_cases[i].msg);
		assert_failure_prefix(exchange(line), prefix);
		assert_int_equal(parent.nrequests, 1);
	}
}

/* ---- locks and order ---- */

static void
test_lock_mismatch(void **unused)
{
	strlcpy(parent.lock, "backup", sizeof(parent.lock));
	assert_failure(exchange("{\"cmd\":\"version\"}"), "failed to handle "
	    "'version' command - " WRONG_LOCK);
	assert_failure(exchange(config_line("memory: 512\n", NULL)),
	    "failed to handle 'config' command - " WRONG_LOCK);
	assert_failure(exchange("{\"cmd\":\"quit\",\"cleanup\":1}"),
	    "failed to handle 'quit' command - " WRONG_LOCK);
	assert_int_equal(control.exit_mode, 0);
	/* Only the three lock checks were sent. */
	assert_int_equal(parent.nrequests, 3);
	assert_all_answered();
}

static const struct answer config_refused[] = {
	{ IMSG_TUNNEL_CONFIG, EINVAL, "unable to apply the config\n", NULL },
	{ IMSG_TUNNEL_CONFIG, 0, NULL, NULL },
	{ IMSG_TUNNEL_UNLOCK, 0, NULL, NULL },
};

/* A failed config keeps "create", while config and unlock move it. */
static void
test_lock_follows_commands(void **unused)
{
	EXPECT(config_refused);
	assert_failure(exchange(config_line("memory: 512\n", NULL)),
	    "failed to handle 'config' command - unable to apply the "
	    "config\n");
	assert_string_equal(exchange("{\"cmd\":\"version\"}"), VERSION_REPLY);
	assert_string_equal(lock_of(&parent.requests[parent.nrequests - 1]),
	    "create");
	assert_string_equal(exchange(config_line("memory: 512\n", NULL)),
	    "{\"success\":true}");
	assert_string_equal(exchange("{\"cmd\":\"version\"}"), VERSION_REPLY);
	assert_string_equal(lock_of(&parent.requests[parent.nrequests - 1]),
	    "migrate");
	assert_string_equal(exchange("{\"cmd\":\"unlock\"}"),
	    "{\"success\":true}");
	assert_string_equal(exchange("{\"cmd\":\"version\"}"), VERSION_REPLY);
	assert_string_equal(lock_of(&parent.requests[parent.nrequests - 1]),
	    "");
	assert_all_answered();
}

struct config_case {
	const char	*conf;
	const char	*msg;		/* a prefix */
};

static const struct config_case config_cases[] = {
	{ "memory: 512\nscsi0: tank:vm-200-disk-9,size=4G\n",
	    "volume 'tank:vm-200-disk-9' of drive 'scsi0' was not allocated "
	    "or imported by this migration\n" },
	{ "memory: 512\nunused0: tank:vm-200-disk-8\n",
	    "volume 'tank:vm-200-disk-8' of drive 'unused0' was not allocated "
	    "or imported by this migration\n" },
	{ "memory: 512\nscsi1: /dev/sdb,size=4G\n",
	    "drive 'scsi1' uses a host device, which a migrated config may "
	    "not use\n" },
	{ "memory: 512\nide2: cdrom,media=cdrom\n",
	    "drive 'ide2' uses a host device, which a migrated config may "
	    "not use\n" },
	{ "memory: 512\nhostpci0: 0000:01:00.0\n", "" },
	{ "memory: 512\nmemory: 1024\n", "" },
	{ "memory: lots\n", "" },
	{ "memory: 512\nvga: qxl\n", "unsupported value 'qxl' for 'vga'" },
};

/* Volume checks and strict parsing, with nothing sent to the parent. */
static void
test_config_rejected(void **unused)
{
	char	 prefix[512];
	size_t	 i;

	for (i = 0; i < NELEM(config_cases); i++) {
		requests_clear();
		snprintf(prefix, sizeof(prefix), "failed to handle 'config' "
		    "command - %s", config_cases[i].msg);
		assert_failure_prefix(exchange(config_line(
		    config_cases[i].conf, NULL)), prefix);
		assert_int_equal(parent.nrequests, 1);
		assert_string_equal(cmd_expected_lock(), "create");
	}
	assert_failure_prefix(exchange(config_line("hostpci0: 0000:01:00.0\n",
	    NULL)), "failed to handle 'config' command - line 1: ");
	assert_non_null(strstr(reply, "hostpci0"));
	/* "none" is not a host device. */
	expect_answers(disk_answers + 1, 1);
	assert_string_equal(exchange(config_line("ide2: none,media=cdrom\n",
	    NULL)), "{\"success\":true}");
}

static const struct answer import_twice[] = {
	{ IMSG_TUNNEL_DISK_IMPORT, 0, NULL,
	    "{\"socket\":\"" STORAGE_SOCKET "\",\"format\":\"raw+size\"}" },
	{ IMSG_TUNNEL_IMPORT_QUERY, 0, NULL,
	    "{\"status\":\"error\",\"msg\":\"import process failed\\n\"}" },
	{ IMSG_TUNNEL_DISK_IMPORT, 0, NULL,
	    "{\"socket\":\"" STORAGE_SOCKET "\",\"format\":\"raw+size\"}" },
	{ IMSG_TUNNEL_IMPORT_QUERY, EIO, "cannot read the import output\n",
	    NULL },
	{ IMSG_TUNNEL_IMPORT_QUERY, 0, NULL,
	    "{\"status\":\"complete\",\"volid\":\"tank:200/vm-200-disk-0.raw\"}" },
};

#define IMPORT_LINE "{\"cmd\":\"disk-import\",\"volname\":" \
	"\"vm-200-disk-0.raw\",\"format\":\"raw\",\"export_formats\":" \
	"\"raw+size\",\"storage\":\"tank\"}"

/* One import at a time; a query needs a running import. */
static void
test_import_out_of_order(void **unused)
{
	EXPECT(import_twice);
	assert_failure(exchange("{\"cmd\":\"query-disk-import\"}"),
	    "failed to handle 'query-disk-import' command - no disk import "
	    "running\n");
	assert_int_equal(parent.nrequests, 1);	/* the lock check */

	assert_true(strstr(exchange(IMPORT_LINE), "\"success\":true") != NULL);
	assert_failure(exchange(IMPORT_LINE), "failed to handle "
	    "'disk-import' command - disk import already running\n");
	assert_string_equal(exchange("{\"cmd\":\"query-disk-import\"}"),
	    "{\"status\":\"error\",\"msg\":\"import process failed\\n\","
	    "\"success\":true}");
	/* The failed import is over: no query, a new import is fine. */
	assert_failure(exchange("{\"cmd\":\"query-disk-import\"}"),
	    "failed to handle 'query-disk-import' command - no disk import "
	    "running\n");
	assert_true(strstr(exchange(IMPORT_LINE), "\"success\":true") != NULL);
	/* A parent error leaves the import running. */
	assert_failure(exchange("{\"cmd\":\"query-disk-import\"}"),
	    "failed to handle 'query-disk-import' command - cannot read the "
	    "import output\n");
	assert_true(strstr(exchange("{\"cmd\":\"query-disk-import\"}"),
	    "\"complete\"") != NULL);
	assert_all_answered();
}

static const struct answer parent_errors[] = {
	{ IMSG_TUNNEL_DISK_IMPORT, EINVAL,
	    "unsupported format 'qcow2' for storage type zfspool\n", NULL },
	{ IMSG_TUNNEL_BWLIMIT, ENOSPC, "", NULL },
	{ IMSG_TUNNEL_TICKET, EPERM, "Not allowed to generate ticket for "
	    "unknown socket '/run/qemu-server/200.migrate'\n", NULL },
};

/* The parent's message is passed on as is, errno text when empty. */
static void
test_parent_errors(void **unused)
{
	EXPECT(parent_errors);
	assert_failure(exchange(IMPORT_LINE), "failed to handle 'disk-import' "
	    "command - unsupported format 'qcow2' for storage type zfspool\n");
	assert_failure(exchange("{\"cmd\":\"bwlimit\",\"storages\":[]}"),
	    "failed to handle 'bwlimit' command - No space left on device");
	assert_failure(exchange("{\"cmd\":\"ticket\",\"path\":"
	    "\"/run/qemu-server/200.migrate\"}"), "failed to handle 'ticket' "
	    "command - Not allowed to generate ticket for unknown socket "
	    "'/run/qemu-server/200.migrate'\n");
	assert_all_answered();
}

/* ---- protocol violations by the parent ---- */

/*
 * Send line and answer its lock check.  Returns the command's request,
 * marked answered because the test answers it by hand.
 */
static struct request *
run_until_request(const char *line)
{
	char		 why[256];
	struct request	*r;

	assert_int_equal(write_all(peer, line, strlen(line)), 0);
	assert_int_equal(write_all(peer, "\n", 1), 0);
	control_read();
	r = unanswered();
	assert_non_null(r);
	assert_int_equal(r->type, IMSG_TUNNEL_LOCK_CHECK);
	if (serve(r, why, sizeof(why)) == -1)
		fail_msg("%s", why);
	r = unanswered();
	assert_non_null(r);
	r->answered = 1;
	return r;
}

struct violation_case {
	const char	*line;
	const char	*json;		/* the result fields sent */
};

static const struct violation_case violation_cases[] = {
	{ "{\"cmd\":\"ticket\",\"path\":\"" STORAGE_SOCKET "\"}", "{}" },
	{ "{\"cmd\":\"ticket\",\"path\":\"" STORAGE_SOCKET "\"}",
	    "{\"ticket\":\"\"}" },
	{ "{\"cmd\":\"ticket\",\"path\":\"" STORAGE_SOCKET "\"}", "[]" },
	{ "{\"cmd\":\"ticket\",\"path\":\"" STORAGE_SOCKET "\"}", "{" },
	{ IMPORT_LINE, "{\"socket\":\"/tmp/x\",\"format\":\"raw+size\"}" },
	{ IMPORT_LINE, "{\"socket\":\"" STORAGE_SOCKET "\"}" },
	{ "{\"cmd\":\"bwlimit\",\"storages\":[]}", "{\"bwlimit\":\"fast\"}" },
	{ "{\"cmd\":\"bwlimit\",\"storages\":[]}", "{\"bwlimit\":-5}" },
	{ "{\"cmd\":\"disk\",\"format\":\"raw\",\"storage\":\"tank\","
	    "\"drive\":{\"interface\":\"scsi\",\"index\":0,\"size\":1024}}",
	    "{\"volid\":\"/dev/sda\",\"format\":\"raw\"}" },
	{ "{\"cmd\":\"disk\",\"format\":\"raw\",\"storage\":\"tank\","
	    "\"drive\":{\"interface\":\"scsi\",\"index\":0,\"size\":1024}}",
	    "{\"format\":\"raw\"}" },
};

/* Malformed result fields are violations: control_result() fails. */
static void
test_parent_bad_results(void **unused)
{
	const struct request	*r;
	char			 err[256];
	size_t			 i;

	for (i = 0; i < NELEM(violation_cases); i++) {
		cmd_init(TEST_VMID, mock_send);
		control.rlen = 0;
		requests_clear();
		r = run_until_request(violation_cases[i].line);
		err[0] = '\0';
		assert_int_equal(send_result(r->reqid, 0, NULL,
		    violation_cases[i].json, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
}

static void
test_parent_bad_query_results(void **unused)
{
	static const char *const results[] = {
		"{\"status\":\"done\"}",
		"{\"status\":\"complete\"}",
		"{\"status\":\"complete\",\"volid\":\"novolid\"}",
		"{\"status\":\"pending\",\"msg\":5}",
		"{\"status\":\"error\"}",
	};
	const struct request	*r;
	char			 err[256];
	size_t			 i;

	for (i = 0; i < NELEM(results); i++) {
		cmd_init(TEST_VMID, mock_send);
		control.rlen = 0;
		requests_clear();
		expect_answers(import_twice, 1);
		assert_non_null(strstr(exchange(IMPORT_LINE),
		    "\"success\":true"));
		r = run_until_request("{\"cmd\":\"query-disk-import\"}");
		assert_int_equal(send_result(r->reqid, 0, NULL, results[i],
		    err, sizeof(err)), -1);
	}
}

/* Results for no outstanding request, or not shaped as tunnel_result. */
static void
test_parent_bad_framing(void **unused)
{
	struct tunnel_result	 res;
	const struct request	*r;
	char			 err[256];

	assert_int_equal(send_result(1, 0, NULL, NULL, err, sizeof(err)), -1);
	r = run_until_request("{\"cmd\":\"unlock\"}");
	assert_int_equal(send_result(r->reqid + 1, 0, NULL, NULL, err,
	    sizeof(err)), -1);
	assert_int_equal(control_result(r->reqid, "x", 1, err, sizeof(err)),
	    -1);
	memset(&res, 'a', sizeof(res));
	assert_int_equal(control_result(r->reqid, &res, sizeof(res), err,
	    sizeof(err)), -1);
	/* The right answer still completes the command. */
	assert_int_equal(send_result(r->reqid, 0, NULL, NULL, err,
	    sizeof(err)), 0);
	pump();
	assert_string_equal(next_reply(), "{\"success\":true}");
}

/* ---- limits of the line reader ---- */

/*
 * Send len bytes, chunk over and over, while the tunnel reads, until it
 * stops reading.  Returns the bytes sent.
 */
static size_t
feed(const char *chunk, size_t chunklen, size_t len)
{
	size_t	 sent = 0, n, off;
	ssize_t	 w;
	int64_t	 deadline = now_ms() + WAIT_MS;

	while (sent < len && !control.closing && now_ms() < deadline) {
		off = sent % chunklen;
		n = len - sent < chunklen - off ? len - sent : chunklen - off;
		w = send(peer, chunk + off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			sent += w;
		else if (w == -1 && errno != EAGAIN)
			fail_msg("send: %s", strerror(errno));
		control_read();
	}
	return sent;
}

/* A 10 MB line: one error reply, then the tunnel stops reading. */
static void
test_line_ten_megabytes(void **unused)
{
	static char	 chunk[65536];
	size_t		 sent;

	memset(chunk, 'a', sizeof(chunk));
	sent = feed(chunk, sizeof(chunk), 10 * 1024 * 1024);
	assert_int_equal(control.closing, 1);
	assert_true(sent < 10 * 1024 * 1024);
	assert_int_equal(control_read(), 1);
	control_write();
	assert_string_equal(next_reply(), "{\"success\":false,\"msg\":"
	    "\"failed to parse command - line longer than 1048576 bytes\"}");
	assert_no_reply();
	assert_int_equal(parent.nrequests, 0);
}

/*
 * A line of exactly CONTROL_LINE_MAX bytes is handled, even when the
 * tunnel has read all of it before its LF arrives.  One byte more is not.
 */
static void
test_line_length_boundary(void **unused)
{
	char	*line;
	size_t	 len = CONTROL_LINE_MAX, i;

	if ((line = malloc(len + 1)) == NULL)
		fail_msg("malloc");
	memset(line, ' ', len + 1);
	memcpy(line, "{\"cmd\":\"version\"}", 17);
	assert_int_equal(feed(line, len, len), len);
	for (i = 0; i < 1000 && control.rlen < len; i++)
		control_read();
	assert_int_equal(control.rlen, len);
	assert_int_equal(control.closing, 0);
	assert_int_equal(write_all(peer, "\n", 1), 0);
	pump();
	assert_string_equal(next_reply(), VERSION_REPLY);
	assert_int_equal(control.closing, 0);

	assert_int_equal(feed(line, len + 1, len + 1), len + 1);
	assert_int_equal(control.closing, 1);
	control_write();
	assert_failure(next_reply(), "failed to parse command - line longer "
	    "than 1048576 bytes");
	free(line);
}

static char *
nested(size_t depth, const char *inner)
{
	char	*s;
	size_t	 i, len = strlen(inner);

	if ((s = malloc(depth * 2 + len + 32)) == NULL)
		fail_msg("malloc");
	strcpy(s, "{\"cmd\":\"version\",\"x\":");
	for (i = 0; i < depth - 1; i++)
		strcat(s, "[");
	strcat(s, inner);
	for (i = 0; i < depth - 1; i++)
		strcat(s, "]");
	strcat(s, "}");
	return s;
}

static void
test_depth_limit(void **unused)
{
	char	*line;
	size_t	 i, len;

	/* 10,000 levels of arrays. */
	len = 20000;
	if ((line = malloc(len + 1)) == NULL)
		fail_msg("malloc");
	for (i = 0; i < len / 2; i++) {
		line[i] = '[';
		line[len - 1 - i] = ']';
	}
	line[len] = '\0';
	assert_failure(exchange(line), "failed to parse command - JSON "
	    "nested deeper than 64 levels");
	free(line);

	/* 64 levels parse; the schema then rejects "x". */
	line = nested(64, "1");
	assert_failure(exchange(line), "failed to handle 'version' command - "
	    SCHEMA_FAILED "x: " NOT_DEFINED "\n");
	free(line);
	line = nested(65, "1");
	assert_failure(exchange(line), "failed to parse command - JSON "
	    "nested deeper than 64 levels");
	free(line);
	/* Brackets inside strings do not count, escaped quotes included. */
	line = nested(64, "\"[[[[[[[[[[\\\"[[[[[[[[[\"");
	assert_failure_prefix(exchange(line), "failed to handle 'version' "
	    "command - ");
	free(line);
	assert_int_equal(parent.nrequests, 0);
}

static void
test_invalid_utf8(void **unused)
{
	assert_failure(exchange("{\"cmd\":\"version\",\"x\":\"\xff\"}"),
	    "failed to parse command - unable to decode byte 0xff near '\"'");
	assert_failure_prefix(exchange("{\"cmd\":\"vers\xc3\x28ion\"}"),
	    "failed to parse command - unable to decode byte 0xc3");
	/* Overlong and surrogate forms. */
	assert_failure_prefix(exchange("{\"cmd\":\"\xc0\xaf\"}"),
	    "failed to parse command - ");
	assert_failure_prefix(exchange("{\"cmd\":\"\xed\xa0\x80\"}"),
	    "failed to parse command - ");
	/* Outside a string, the parser quotes the bad byte: valid JSON. */
	assert_failure_prefix(exchange("{\xff}"), "failed to parse command "
	    "- ");
	assert_string_equal(exchange("{\"cmd\":\"version\"}"), VERSION_REPLY);
	assert_int_equal(parent.nrequests, 1);
}

static void
test_nul_in_string(void **unused)
{
	static const char	 raw[] = "{\"cmd\":\"ver\0sion\"}\n";

	assert_failure(exchange("{\"cmd\":\"ticket\",\"path\":"
	    "\"/run/qemu-server/200\\u0000.storage\"}"),
	    "failed to parse command - a string contains \\u0000 (NUL), "
	    "which is not allowed");
	assert_failure(exchange("{\"cmd\":\"version\\u0000\"}"),
	    "failed to parse command - a string contains \\u0000 (NUL), "
	    "which is not allowed");
	assert_failure_prefix(exchange("{\"a\\u0000\":1,\"cmd\":\"version\"}"),
	    "failed to parse command - NUL byte in object key");
	/* A raw NUL byte is a control character to the parser. */
	assert_int_equal(write_all(peer, raw, sizeof(raw) - 1), 0);
	pump();
	assert_failure_prefix(next_reply(), "failed to parse command - ");
	assert_string_equal(exchange("{\"cmd\":\"version\"}"), VERSION_REPLY);
	assert_int_equal(parent.nrequests, 1);
}

/* Writes do not follow line boundaries, in either direction. */
static void
test_split_and_joined_lines(void **unused)
{
	static const char	 two[] = "{\"cmd\":\"version\"}\n{\"cmd\":";
	static const char	 rest[] = "\"version\"}\n";

	assert_int_equal(write_all(peer, "{\"cmd\"", 6), 0);
	pump();
	assert_int_equal(parent.nrequests, 0);
	assert_int_equal(write_all(peer, ":\"vers", 6), 0);
	pump();
	assert_int_equal(write_all(peer, "ion\"}\n", 6), 0);
	pump();
	assert_string_equal(next_reply(), VERSION_REPLY);

	assert_int_equal(write_all(peer, two, sizeof(two) - 1), 0);
	pump();
	assert_string_equal(next_reply(), VERSION_REPLY);
	assert_int_equal(write_all(peer, rest, sizeof(rest) - 1), 0);
	pump();
	assert_string_equal(next_reply(), VERSION_REPLY);
	assert_no_reply();
}

#define PIPELINED	20000

/* Send all lines without reading replies.  Returns the bytes sent. */
static size_t
pipeline_send(const char *all, size_t len, char *why, size_t whylen)
{
	size_t	 sent = 0;
	ssize_t	 w;
	int64_t	 deadline = now_ms() + WAIT_MS;

	while (sent < len && now_ms() < deadline) {
		w = send(peer, all + sent, len - sent, MSG_DONTWAIT);
		if (w > 0)
			sent += w;
		if (pump_quiet(why, whylen) == -1)
			break;
	}
	return sent;
}

/* Read every reply.  Returns how many matched before the first miss. */
static size_t
pipeline_replies(char *why, size_t whylen)
{
	size_t	 i;

	for (i = 0; i < PIPELINED; i++) {
		if (next_reply_quiet() == NULL) {
			snprintf(why, whylen, "reply %zu of %d missing", i,
			    PIPELINED);
			break;
		}
		if (strcmp(reply, VERSION_REPLY) != 0) {
			snprintf(why, whylen, "reply %zu: %.100s", i, reply);
			break;
		}
		if (inlen < 4096 && pump_quiet(why, whylen) == -1)
			break;
	}
	return i;
}

/*
 * Lines sent without reading replies: the tunnel stops handling them
 * while its output is full, and replies to all of them in order later.
 * The 40,000 log lines of this test go to /dev/null.
 */
static void
test_pipelined_backpressure(void **unused)
{
	static const char	 line[] = "{\"cmd\":\"version\"}\n";
	char			*all, why[256];
	size_t			 i, len = (sizeof(line) - 1) * PIPELINED;
	size_t			 sent, rlen, wlen, answered;

	if ((all = malloc(len)) == NULL)
		fail_msg("malloc");
	for (i = 0; i < PIPELINED; i++)
		memcpy(all + i * (sizeof(line) - 1), line, sizeof(line) - 1);
	why[0] = '\0';
	logs_to("/dev/null");
	sent = pipeline_send(all, len, why, sizeof(why));
	rlen = control.rlen;
	wlen = control.wlen;
	answered = why[0] == '\0' ? pipeline_replies(why, sizeof(why)) : 0;
	logs_back();
	free(all);
	if (why[0] != '\0')
		fail_msg("%s", why);
	assert_int_equal(sent, len);
	/* Replies filled the socket, then the output buffer: lines waited. */
	assert_true(rlen > 0);
	assert_true(wlen > CONTROL_WBUF_SIZE - CONTROL_REPLY_MAX);
	assert_int_equal(answered, PIPELINED);
	pump();
	assert_no_reply();
	assert_int_equal(control.rlen, 0);
}

static void
test_text_excerpt(void **unused)
{
	char	 buf[8];

	text_excerpt(buf, sizeof(buf), "abc", 3);
	assert_string_equal(buf, "abc");
	text_excerpt(buf, sizeof(buf), "abcdefghij", 10);
	assert_string_equal(buf, "abcd...");
	text_excerpt(buf, sizeof(buf), "a\xff" "b", 3);
	assert_string_equal(buf, "a?b");
	text_excerpt(buf, sizeof(buf), "a\0b", 3);
	assert_string_equal(buf, "a?b");
	/* A cut never splits a character. */
	text_excerpt(buf, sizeof(buf), "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8);
	assert_string_equal(buf, "\xc3\xa9\xc3\xa9...");
	text_excerpt(buf, sizeof(buf), "\xe2\x82\xac\xe2\x82\xac", 6);
	assert_string_equal(buf, "\xe2\x82\xac\xe2\x82\xac");
	text_excerpt(buf, sizeof(buf), "\xed\xa0\x80", 3);
	assert_string_equal(buf, "???");
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		/* First: the children must inherit no jansson or OpenSSL. */
		T(test_sandbox_needs_preload),
		T(test_sandbox_config_survives),
		T(test_version_exact_bytes),
		T(test_dispatch_order_errors),
		T(test_dispatch_crlf_line),
		T(test_unknown_long_name_cut),
		T(test_exit_mode),
		T(test_schema_errors),
		T(test_start_live_sequence),
		T(test_start_needs_config),
		T(test_start_rejects),
		T(test_quirk_booleans),
		T(test_quirk_bwlimit),
		T(test_quit_cleanup_forms),
		T(test_offline_migration),
		T(test_disk_import_volname),
		T(test_disk_allocates),
		T(test_disk_rejects_drive),
		T(test_lock_mismatch),
		T(test_lock_follows_commands),
		T(test_config_rejected),
		T(test_import_out_of_order),
		T(test_parent_errors),
		T(test_parent_bad_results),
		T(test_parent_bad_query_results),
		T(test_parent_bad_framing),
		T(test_line_ten_megabytes),
		T(test_line_length_boundary),
		T(test_depth_limit),
		T(test_invalid_utf8),
		T(test_nul_in_string),
		T(test_split_and_joined_lines),
		T(test_pipelined_backpressure),
		T(test_text_excerpt),
	};
	int	 fd, failed;

	strlcpy(log_path, "/tmp/test_tunnel.log.XXXXXX", sizeof(log_path));
	if ((fd = mkstemp(log_path)) == -1)
		return 1;
	close(fd);
	log_init(1, 0, "tunnel 200");
	signal(SIGPIPE, SIG_IGN);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(log_path);
	return failed;
}
