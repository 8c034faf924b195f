/*
 * Tests for the spawner (priv/spawner.c).  spawner_main() runs in a forked
 * child and the test talks to it over a socketpair with the imsg layer,
 * as priv does.  The configured binaries are /bin/sh in the place of QEMU
 * and /bin/false in the place of qemu-img.  spawner_parse_exec() is also
 * called directly with crafted messages.  Every wait is bounded by
 * WAIT_MS.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
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
#include "log.h"
#include "mtunneld.h"
#include "priv.h"
#include "proc.h"

#define WAIT_MS			10000	/* upper bound on every wait */
#define WAIT_STEP_MS		10
#define SPAWNER_ALARM_S		120	/* ends a spawner the test lost */
#define TEST_QEMU		"/bin/sh"
#define TEST_QEMU_IMG		"/bin/false"
#define UNPRIVILEGED_ID		65534	/* nobody and nogroup on Debian */
#define LEAK_FD			40	/* left open, not close-on-exec */

#define assert_contains(s, sub) do {					\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("\"%s\" does not contain \"%s\"", (s), (sub));	\
} while (0)

/* Signals that cmocka catches in the test process.  A child resets them. */
static const int caught_signals[] = { SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGSYS };

/* A running spawner and the test's end of its channel. */
struct spawner {
	pid_t		 pid;
	struct imsgbuf	 ibuf;
	uint32_t	 reqid;
	char		 qemu[256];
	char		 qemu_img[256];
	char		 dir[64];	/* scratch files of one test */
	char		 lastlog[LOG_RECORD_MAXTEXT + 1];
};

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
wait_bounded(pid_t pid, int *status)
{
	struct timespec	 step = { 0, WAIT_STEP_MS * 1000000L };
	int64_t		 deadline = now_ms() + WAIT_MS;
	pid_t		 rv;

	while (now_ms() < deadline) {
		rv = waitpid(pid, status, WNOHANG);
		if (rv == pid)
			return 0;
		if (rv == -1 && errno != EINTR)
			fail_msg("waitpid %ld: %s", (long)pid, strerror(errno));
		nanosleep(&step, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}

static void
spawner_child(int fd, const char *qemu, const char *qemu_img)
{
	size_t	 i;

	for (i = 0; i < sizeof(caught_signals) / sizeof(caught_signals[0]);
	    i++)
		signal(caught_signals[i], SIG_DFL);
	alarm(SPAWNER_ALARM_S);
	if (proc_set_nonblock(fd) == -1)
		_exit(126);
	log_setproc("spawner");
	spawner_main(fd, qemu, qemu_img);
}

/*
 * Fork a spawner for the given binaries.  It inherits LEAK_FD, which it
 * must not hand on to what it runs.
 */
static void
spawner_start(struct spawner *sp, const char *qemu, const char *qemu_img)
{
	int	 sv[2], null;

	strncpy(sp->qemu, qemu, sizeof(sp->qemu) - 1);
	strncpy(sp->qemu_img, qemu_img, sizeof(sp->qemu_img) - 1);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	assert_int_not_equal(null = open("/dev/null", O_RDONLY), -1);
	assert_int_equal(dup2(null, LEAK_FD), LEAK_FD);
	close(null);

	fflush(stdout);
	fflush(stderr);
	sp->pid = fork();
	assert_int_not_equal(sp->pid, -1);
	if (sp->pid == 0) {
		close(sv[0]);
		spawner_child(sv[1], sp->qemu, sp->qemu_img);
	}
	close(sv[1]);
	close(LEAK_FD);
	assert_int_equal(proc_set_nonblock(sv[0]), 0);
	imsg_init(&sp->ibuf, sv[0]);
}

/*
 * Close the channel and return the spawner's wait status, or 0 when the
 * test already reaped it or never started one.
 */
static int
spawner_stop(struct spawner *sp)
{
	int	 status;

	if (sp->ibuf.fd != -1) {
		imsg_clear(&sp->ibuf);
		close(sp->ibuf.fd);
		sp->ibuf.fd = -1;
	}
	if (sp->pid <= 0)
		return 0;
	if (wait_bounded(sp->pid, &status) == -1)
		fail_msg("spawner still running %d ms after its channel "
		    "closed", WAIT_MS);
	sp->pid = 0;
	return status;
}

static int
setup_spawner(void **state)
{
	struct spawner	*sp;

	assert_non_null(sp = calloc(1, sizeof(*sp)));
	strncpy(sp->dir, "/tmp/test_spawner.XXXXXX", sizeof(sp->dir) - 1);
	assert_non_null(mkdtemp(sp->dir));
	sp->ibuf.fd = -1;
	*state = sp;
	return 0;
}

static void
remove_scratch(const char *dir)
{
	const char	*names[] = { "ran", "noexec" };
	char		 path[128];
	size_t		 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* Every test leaves a spawner that ends cleanly when its channel closes. */
static int
teardown_spawner(void **state)
{
	struct spawner	*sp = *state;
	int		 status;

	status = spawner_stop(sp);
	remove_scratch(sp->dir);
	free(sp);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("spawner ended with wait status 0x%x, expected "
		    "exit status 0", status);
	return 0;
}

static void
send_raw(struct spawner *sp, uint32_t type, int fd, const void *data,
    size_t len)
{
	sp->reqid++;
	assert_int_equal(imsg_compose(&sp->ibuf, type, 0, sp->reqid, fd,
	    data, len), 0);
	assert_int_equal(imsg_flush_blocking(&sp->ibuf, WAIT_MS), 0);
}

/* Send IMSG_SPAWN_EXEC for argv (NULL-terminated) and return its reqid. */
static uint32_t
send_exec(struct spawner *sp, uint32_t uid, uint32_t gid,
    const char *const *argv)
{
	struct spawn_exec	 req;
	unsigned char		*buf;
	size_t			 len = sizeof(req), off, n, i;

	for (i = 0; argv[i] != NULL; i++)
		len += strlen(argv[i]) + 1;
	memset(&req, 0, sizeof(req));
	req.uid = uid;
	req.gid = gid;
	req.argc = i;

	assert_non_null(buf = malloc(len));
	memcpy(buf, &req, sizeof(req));
	for (i = 0, off = sizeof(req); argv[i] != NULL; i++, off += n) {
		n = strlen(argv[i]) + 1;
		memcpy(buf + off, argv[i], n);
	}
	send_raw(sp, IMSG_SPAWN_EXEC, -1, buf, len);
	free(buf);
	return sp->reqid;
}

/*
 * Return the type of the next reply that is not a log record, with its
 * result and request id.  Log records are kept in sp->lastlog.
 */
static uint32_t
next_reply(struct spawner *sp, struct spawn_result *res, uint32_t *reqid)
{
	struct imsg	 imsg;
	int64_t		 deadline = now_ms() + WAIT_MS;
	uint32_t	 type;
	size_t		 len;
	int		 rv;

	for (;;) {
		rv = proc_wait_imsg(&sp->ibuf, &imsg,
		    (int)(deadline - now_ms()));
		if (rv == 0)
			fail_msg("spawner closed the channel");
		if (rv == -1)
			fail_msg("no reply from the spawner: %s (%s)",
			    strerror(errno), imsg_error(&sp->ibuf));
		type = imsg.hdr.type;
		len = imsg_datalen(&imsg);
		if (type != IMSG_LOG_RECORD)
			break;
		if (len > sizeof(struct log_record)) {
			len -= sizeof(struct log_record);
			if (len > LOG_RECORD_MAXTEXT)
				len = LOG_RECORD_MAXTEXT;
			memcpy(sp->lastlog, (char *)imsg.data +
			    sizeof(struct log_record), len);
			sp->lastlog[len] = '\0';
		}
		imsg_free(&imsg);
	}
	assert_int_equal(imsg.fd, -1);
	assert_int_equal(len, sizeof(*res));
	memcpy(res, imsg.data, sizeof(*res));
	*reqid = imsg.hdr.reqid;
	imsg_free(&imsg);
	return type;
}

static struct spawn_result
expect_started(struct spawner *sp, uint32_t reqid)
{
	struct spawn_result	 res;
	uint32_t		 type, got;

	type = next_reply(sp, &res, &got);
	assert_int_equal(type, IMSG_SPAWN_STARTED);
	assert_int_equal(got, reqid);
	return res;
}

/* Wait for pid's IMSG_SPAWN_EXITED.  Any other reply fails the test. */
static int
expect_exited(struct spawner *sp, pid_t pid)
{
	struct spawn_result	 res;
	uint32_t		 type, reqid;

	type = next_reply(sp, &res, &reqid);
	if (type != IMSG_SPAWN_EXITED)
		fail_msg("expected the exit of pid %ld, got message type %u",
		    (long)pid, type);
	if (res.pid != pid)
		fail_msg("expected the exit of pid %ld, got pid %d",
		    (long)pid, res.pid);
	assert_int_equal(res.error, 0);
	return res.status;
}

/* Run argv to its end and return its wait status. */
static int
run(struct spawner *sp, uint32_t uid, uint32_t gid, const char *const *argv)
{
	struct spawn_result	 res;
	uint32_t		 reqid;

	reqid = send_exec(sp, uid, gid, argv);
	res = expect_started(sp, reqid);
	if (res.pid <= 0)
		fail_msg("%s did not start: pid %d, %s", argv[0], res.pid,
		    strerror(res.error));
	assert_int_equal(res.error, 0);
	return expect_exited(sp, res.pid);
}

/* Run sh -c script and return its exit status.  A signal fails the test. */
static int
run_script(struct spawner *sp, uint32_t uid, uint32_t gid,
    const char *script)
{
	const char	*argv[] = { TEST_QEMU, "-c", script, NULL };
	int		 status;

	status = run(sp, uid, gid, argv);
	if (!WIFEXITED(status))
		fail_msg("script ended with wait status 0x%x", status);
	return WEXITSTATUS(status);
}

/*
 * Run a script whose checks exit with 10, 11 and so on when they fail;
 * checks[] names them in that order.
 */
static void
expect_checks_pass(struct spawner *sp, uint32_t uid, uint32_t gid,
    const char *script, const char *const *checks, size_t nchecks)
{
	int	 rc;

	rc = run_script(sp, uid, gid, script);
	if (rc >= 10 && (size_t)(rc - 10) < nchecks)
		fail_msg("check failed: %s", checks[rc - 10]);
	if (rc != 0)
		fail_msg("script exited with %d", rc);
}

#define NCHECKS(a)	(sizeof(a) / sizeof((a)[0]))

static void
expect_rejected(struct spawner *sp, uint32_t reqid, int error)
{
	struct spawn_result	 res;

	res = expect_started(sp, reqid);
	assert_int_equal(res.pid, -1);
	assert_int_equal(res.error, error);
	assert_int_equal(res.status, 0);
}

static void
test_false_exit_status(void **state)
{
	struct spawner	*sp = *state;
	const char	*argv[] = { TEST_QEMU_IMG, NULL };
	int		 status;

	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);
	status = run(sp, 0, 0, argv);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
}

static void
test_exit_status_passed(void **state)
{
	struct spawner	*sp = *state;

	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);
	assert_int_equal(run_script(sp, 0, 0, "exit 7"), 7);
	assert_int_equal(run_script(sp, 0, 0, "exit 0"), 0);
}

static void
test_signal_status_passed(void **state)
{
	struct spawner	*sp = *state;
	const char	*argv[] = { TEST_QEMU, "-c", "kill -TERM $$", NULL };
	int		 status;

	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);
	status = run(sp, 0, 0, argv);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
}

/*
 * A binary that is not configured is rejected, however its path is
 * spelled, and does not run: a later run's exit is the next exit reported.
 */
static void
test_unconfigured_rejected(void **state)
{
	struct spawner	*sp = *state;
	char		 marker[128];
	const char	*paths[] = { "/bin/true", "/bin//sh", "sh", "/bin/sh/",
			    "/usr/../bin/sh", "", "/bin/falsex" };
	const char	*touch[] = { "/usr/bin/touch", marker, NULL };
	const char	*argv[] = { NULL, "-c", "exit 0", NULL };
	const char	*ok[] = { TEST_QEMU_IMG, NULL };
	struct stat	 st;
	size_t		 i;
	int		 status;

	snprintf(marker, sizeof(marker), "%s/ran", sp->dir);
	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);

	expect_rejected(sp, send_exec(sp, 0, 0, touch), EPERM);
	assert_contains(sp->lastlog, SPAWN_EXEC_DENIED);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		argv[0] = paths[i];
		expect_rejected(sp, send_exec(sp, 0, 0, argv), EPERM);
	}

	status = run(sp, 0, 0, ok);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_int_equal(stat(marker, &st), -1);
	assert_int_equal(errno, ENOENT);
}

struct raw_request {
	const char	*name;
	uint32_t	 argc;
	const char	*strings;	/* argument bytes after the struct */
	size_t		 len;		/* of strings */
	size_t		 cut;		/* bytes removed from the struct */
};

#define RAW(name, argc, s)	{ name, argc, s, sizeof(s) - 1, 0 }

static const struct raw_request malformed[] = {
	{ "shorter than the struct", 1, "", 0, 4 },
	{ "empty payload", 1, "", 0, sizeof(struct spawn_exec) },
	RAW("argc 0", 0, ""),
	RAW("argc 0 with a string", 0, "/bin/false\0"),
	RAW("argc one too many", SPAWN_MAXARGS + 1, "/bin/false\0"),
	RAW("argc 2^32 - 1", 0xffffffffU, "/bin/false\0"),
	RAW("fewer strings than argc", 2, "/bin/false\0"),
	RAW("unterminated string", 1, "/bin/false"),
	RAW("unterminated second string", 2, "/bin/false\0-x"),
	RAW("trailing bytes", 1, "/bin/false\0x"),
	RAW("trailing NUL", 1, "/bin/false\0\0"),
};

static void
send_malformed(struct spawner *sp, const struct raw_request *r)
{
	struct spawn_exec	 req;
	unsigned char		 buf[sizeof(req) + 64];

	assert_true(r->len <= sizeof(buf) - sizeof(req));
	memset(&req, 0, sizeof(req));
	req.argc = r->argc;
	memcpy(buf, &req, sizeof(req));
	memcpy(buf + sizeof(req), r->strings, r->len);
	send_raw(sp, IMSG_SPAWN_EXEC, -1, buf + r->cut,
	    sizeof(req) - r->cut + r->len);
}

static void
test_malformed_rejected(void **state)
{
	struct spawner	*sp = *state;
	const char	*ok[] = { TEST_QEMU_IMG, NULL };
	size_t		 i;
	int		 status;

	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);
	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		print_message("request: %s\n", malformed[i].name);
		send_malformed(sp, &malformed[i]);
		expect_rejected(sp, sp->reqid, EPERM);
	}

	/* Still serving, and nothing ran in between. */
	status = run(sp, 0, 0, ok);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
}

/* SPAWN_MAXARGS arguments all arrive: sh exits with their count. */
static void
test_max_arguments(void **state)
{
	struct spawner	*sp = *state;
	const char	*argv[SPAWN_MAXARGS + 1];
	int		 i, status;

	argv[0] = TEST_QEMU;
	argv[1] = "-c";
	argv[2] = "exit $#";
	argv[3] = "sh";		/* $0 */
	for (i = 4; i < SPAWN_MAXARGS; i++)
		argv[i] = "x";
	argv[SPAWN_MAXARGS] = NULL;

	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);
	status = run(sp, 0, 0, argv);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), SPAWN_MAXARGS - 4);
}

static void
test_runs_as_user(void **state)
{
	struct spawner	*sp = *state;
	const char	*checks[] = { "uid", "gid", "supplementary groups",
			    "real, effective and saved uid" };
	char		 script[256];

	if (geteuid() != 0)
		skip();
	snprintf(script, sizeof(script), "test \"$(id -u)\" = %d || exit 10; "
	    "test \"$(id -g)\" = %d || exit 11; "
	    "test \"$(id -G)\" = %d || exit 12; "
	    "grep -q '^Uid:[[:space:]]*%d[[:space:]]*%d[[:space:]]*%d' "
	    "/proc/$$/status || exit 13", UNPRIVILEGED_ID, UNPRIVILEGED_ID,
	    UNPRIVILEGED_ID, UNPRIVILEGED_ID, UNPRIVILEGED_ID,
	    UNPRIVILEGED_ID);

	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);
	expect_checks_pass(sp, UNPRIVILEGED_ID, UNPRIVILEGED_ID, script,
	    checks, NCHECKS(checks));
}

/* uid 0 in the request keeps the spawner's own ids. */
static void
test_uid_zero_keeps_ids(void **state)
{
	struct spawner	*sp = *state;
	char		 script[128];

	snprintf(script, sizeof(script), "test \"$(id -u)\" = %ld && "
	    "test \"$(id -g)\" = %ld", (long)getuid(), (long)getgid());
	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);
	assert_int_equal(run_script(sp, 0, 0, script), 0);
}

/* Without root the switch to another user fails, and that is reported. */
static void
test_user_switch_needs_root(void **state)
{
	struct spawner	*sp = *state;
	const char	*argv[] = { TEST_QEMU_IMG, NULL };

	if (geteuid() == 0)
		skip();
	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);
	expect_rejected(sp, send_exec(sp, UNPRIVILEGED_ID, UNPRIVILEGED_ID,
	    argv), EPERM);
}

/* The child leads a session and a process group of its own. */
static void
test_own_session(void **state)
{
	struct spawner	*sp = *state;
	const char	*script =
	    "read -r pid comm state ppid pgrp sid rest < /proc/$$/stat; "
	    "test \"$pid\" = $$ || exit 10; "
	    "test \"$sid\" = $$ || exit 11; "
	    "test \"$pgrp\" = $$ || exit 12; "
	    "read -r p c s pp pg spawner_sid rest < /proc/$PPID/stat; "
	    "test \"$sid\" != \"$spawner_sid\" || exit 13";
	const char	*checks[] = { "pid in /proc", "session id is the pid",
			    "process group id is the pid",
			    "session differs from the spawner's" };

	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);
	expect_checks_pass(sp, 0, 0, script, checks, NCHECKS(checks));
}

/*
 * What the child starts with: /dev/null on 0 to 2 and no other
 * descriptor (the spawner had LEAK_FD), and only PATH in the environment.
 */
static void
test_clean_exec_state(void **state)
{
	struct spawner	*sp = *state;
	const char	*script =
	    "for n in 0 1 2; do "
	    "test \"$(readlink /proc/$$/fd/$n)\" = /dev/null || exit 10; "
	    "done; "
	    "for f in /proc/$$/fd/*; do "
	    "case ${f##*/} in 0|1|2) ;; *) test -e \"$f\" && exit 11;; esac; "
	    "done; "
	    "test \"$PATH\" = /usr/sbin:/usr/bin:/sbin:/bin || exit 12; "
	    "test -z \"${HOME+set}\" || exit 13; "
	    "exit 0";
	const char	*checks[] = { "descriptors 0 to 2 are /dev/null",
			    "no descriptor above 2", "PATH", "no HOME" };

	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);
	expect_checks_pass(sp, 0, 0, script, checks, NCHECKS(checks));
}

/*
 * The spawner blocks SIGCHLD; what it runs starts with no signal blocked.
 * grep is run directly, because sh changes its own mask.
 */
static void
test_signal_mask_cleared(void **state)
{
	struct spawner	*sp = *state;
	const char	*argv[] = { "/bin/grep", "-q",
			    "^SigBlk:[[:space:]]*0*$", "/proc/self/status",
			    NULL };
	int		 status;

	spawner_start(sp, TEST_QEMU, "/bin/grep");
	status = run(sp, 0, 0, argv);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The configured path does not exist: execve's errno comes back. */
static void
test_missing_binary(void **state)
{
	struct spawner	*sp = *state;
	char		 missing[128];
	const char	*argv[] = { missing, NULL };

	snprintf(missing, sizeof(missing), "%s/missing-qemu", sp->dir);
	spawner_start(sp, missing, TEST_QEMU_IMG);
	expect_rejected(sp, send_exec(sp, 0, 0, argv), ENOENT);
	assert_contains(sp->lastlog, strerror(ENOENT));
}

static void
test_binary_not_executable(void **state)
{
	struct spawner	*sp = *state;
	char		 path[128];
	const char	*argv[] = { path, NULL };
	int		 fd;

	snprintf(path, sizeof(path), "%s/noexec", sp->dir);
	assert_int_not_equal(fd = open(path, O_WRONLY | O_CREAT | O_EXCL,
	    0644), -1);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);

	spawner_start(sp, TEST_QEMU, path);
	expect_rejected(sp, send_exec(sp, 0, 0, argv), EACCES);
}

/* A message type the spawner does not take from priv ends it. */
static void
test_unexpected_type_fatal(void **state)
{
	struct spawner		*sp = *state;
	struct spawn_result	 res;
	int			 status;

	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);
	memset(&res, 0, sizeof(res));
	send_raw(sp, IMSG_SPAWN_STARTED, -1, &res, sizeof(res));
	assert_int_equal(wait_bounded(sp->pid, &status), 0);
	sp->pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
}

/* An exec request must not carry a descriptor. */
static void
test_exec_with_fd_fatal(void **state)
{
	struct spawner		*sp = *state;
	struct spawn_exec	 req = { .argc = 1 };
	unsigned char		 buf[sizeof(req) + sizeof(TEST_QEMU_IMG)];
	int			 fd, status;

	memcpy(buf, &req, sizeof(req));
	memcpy(buf + sizeof(req), TEST_QEMU_IMG, sizeof(TEST_QEMU_IMG));
	spawner_start(sp, TEST_QEMU, TEST_QEMU_IMG);
	assert_int_not_equal(fd = open("/dev/null", O_RDONLY | O_CLOEXEC),
	    -1);
	send_raw(sp, IMSG_SPAWN_EXEC, fd, buf, sizeof(buf));
	assert_int_equal(wait_bounded(sp->pid, &status), 0);
	sp->pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
}

/* Direct calls of spawner_parse_exec(). */

struct parse_case {
	const char	*name;
	struct raw_request req;
	size_t		 argvlen;
	const char	*error;		/* NULL: accepted */
};

#define PARSE_OK(name, argc, s) \
	{ name, RAW(name, argc, s), SPAWN_MAXARGS + 1, NULL }
#define PARSE_BAD(name, argc, s, err) \
	{ name, RAW(name, argc, s), SPAWN_MAXARGS + 1, err }

static const struct parse_case parse_cases[] = {
	PARSE_OK("qemu alone", 1, "/bin/sh\0"),
	PARSE_OK("qemu-img alone", 1, "/bin/false\0"),
	PARSE_OK("qemu with arguments", 3, "/bin/sh\0-c\0exit 0\0"),
	PARSE_OK("empty arguments", 3, "/bin/sh\0\0\0"),
	{ "shorter than the struct", { "", 1, "", 0, 1 },
	    SPAWN_MAXARGS + 1, "is too short" },
	{ "no payload", { "", 1, "", 0, sizeof(struct spawn_exec) },
	    SPAWN_MAXARGS + 1, "request of 0 bytes is too short" },
	PARSE_BAD("argc 0", 0, "", "argc 0 outside 1 to 256"),
	PARSE_BAD("argc 257", SPAWN_MAXARGS + 1, "/bin/sh\0",
	    "argc 257 outside"),
	PARSE_BAD("argc 2^32 - 1", 0xffffffffU, "/bin/sh\0",
	    "argc 4294967295 outside"),
	{ "argc fills argv", RAW("", 2, "/bin/sh\0-x\0"), 2, "argc 2" },
	PARSE_BAD("missing argument", 2, "/bin/sh\0", "argument 1 is not "
	    "terminated"),
	PARSE_BAD("unterminated", 1, "/bin/sh", "argument 0 is not "
	    "terminated"),
	PARSE_BAD("trailing byte", 1, "/bin/sh\0x",
	    "1 bytes after the last argument"),
	PARSE_BAD("trailing strings", 1, "/bin/sh\0-c\0",
	    "3 bytes after the last argument"),
	PARSE_BAD("other binary", 1, "/bin/true\0", SPAWN_EXEC_DENIED),
	PARSE_BAD("prefix of qemu", 1, "/bin/s\0", SPAWN_EXEC_DENIED),
	PARSE_BAD("qemu with a suffix", 1, "/bin/shx\0", SPAWN_EXEC_DENIED),
	PARSE_BAD("empty binary", 1, "\0", SPAWN_EXEC_DENIED),
	PARSE_BAD("allowed name later", 2, "/bin/true\0/bin/sh\0",
	    SPAWN_EXEC_DENIED),
};

/* Build an imsg as imsg_get() returns it: header, then malloc'd data. */
static void
make_imsg(struct imsg *imsg, const struct raw_request *r, uint32_t uid)
{
	struct spawn_exec	 req;
	unsigned char		*buf;
	size_t			 len = sizeof(req) + r->len;

	memset(&req, 0, sizeof(req));
	req.uid = uid;
	req.gid = uid + 1;
	req.argc = r->argc;
	assert_non_null(buf = malloc(len));
	memcpy(buf, &req, sizeof(req));
	memcpy(buf + sizeof(req), r->strings, r->len);

	memset(imsg, 0, sizeof(*imsg));
	imsg->hdr.type = IMSG_SPAWN_EXEC;
	imsg->hdr.len = IMSG_HEADER_SIZE + len - r->cut;
	imsg->fd = -1;
	/* Only the tail is passed, so a short payload ends at its end. */
	imsg->data = malloc(len - r->cut > 0 ? len - r->cut : 1);
	assert_non_null(imsg->data);
	memcpy(imsg->data, buf + r->cut, len - r->cut);
	free(buf);
}

static void
check_parsed(const struct parse_case *pc, const struct spawn_exec *req,
    char **argv)
{
	const char	*s = pc->req.strings;
	uint32_t	 i;

	assert_int_equal(req->uid, 1000);
	assert_int_equal(req->gid, 1001);
	assert_int_equal(req->argc, pc->req.argc);
	for (i = 0; i < req->argc; i++) {
		assert_non_null(argv[i]);
		assert_string_equal(argv[i], s);
		s += strlen(s) + 1;
	}
	assert_null(argv[req->argc]);
}

static void
test_parse_exec(void **state)
{
	const struct parse_case	*pc;
	struct spawn_exec	 req;
	struct imsg		 imsg;
	char			*argv[SPAWN_MAXARGS + 1], err[256];
	size_t			 i;
	int			 rv;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		pc = &parse_cases[i];
		print_message("case: %s\n", pc->name);
		make_imsg(&imsg, &pc->req, 1000);
		err[0] = '\0';
		rv = spawner_parse_exec(&imsg, TEST_QEMU, TEST_QEMU_IMG, &req,
		    argv, pc->argvlen, err, sizeof(err));
		if (pc->error == NULL) {
			if (rv != 0)
				fail_msg("%s: rejected: %s", pc->name, err);
			check_parsed(pc, &req, argv);
		} else {
			assert_int_equal(rv, -1);
			assert_contains(err, pc->error);
		}
		imsg_free(&imsg);
	}
}

/* The largest request: SPAWN_MAXARGS arguments of 1000 bytes each. */
static void
test_parse_exec_large(void **state)
{
	struct raw_request	 r;
	struct spawn_exec	 req;
	struct imsg		 imsg;
	char			*argv[SPAWN_MAXARGS + 1], err[256], *s;
	size_t			 i, arglen = 1000;

	(void)state;
	assert_non_null(s = malloc(SPAWN_MAXARGS * (arglen + 1)));
	memcpy(s, TEST_QEMU, sizeof(TEST_QEMU));
	r.len = sizeof(TEST_QEMU);
	for (i = 1; i < SPAWN_MAXARGS; i++, r.len += arglen + 1) {
		memset(s + r.len, 'a' + i % 26, arglen);
		s[r.len + arglen] = '\0';
	}
	r.name = "large";
	r.argc = SPAWN_MAXARGS;
	r.strings = s;
	r.cut = 0;

	make_imsg(&imsg, &r, 1000);
	assert_int_equal(spawner_parse_exec(&imsg, TEST_QEMU, TEST_QEMU_IMG,
	    &req, argv, SPAWN_MAXARGS + 1, err, sizeof(err)), 0);
	assert_int_equal(req.argc, SPAWN_MAXARGS);
	assert_int_equal(strlen(argv[SPAWN_MAXARGS - 1]), arglen);
	assert_null(argv[SPAWN_MAXARGS]);
	imsg_free(&imsg);
	free(s);
}

#define SPAWNER_TEST(f) \
	cmocka_unit_test_setup_teardown(f, setup_spawner, teardown_spawner)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_exec),
		cmocka_unit_test(test_parse_exec_large),
		SPAWNER_TEST(test_false_exit_status),
		SPAWNER_TEST(test_exit_status_passed),
		SPAWNER_TEST(test_signal_status_passed),
		SPAWNER_TEST(test_unconfigured_rejected),
		SPAWNER_TEST(test_malformed_rejected),
		SPAWNER_TEST(test_max_arguments),
		SPAWNER_TEST(test_runs_as_user),
		SPAWNER_TEST(test_uid_zero_keeps_ids),
		SPAWNER_TEST(test_user_switch_needs_root),
		SPAWNER_TEST(test_own_session),
		SPAWNER_TEST(test_clean_exec_state),
		SPAWNER_TEST(test_signal_mask_cleared),
		SPAWNER_TEST(test_missing_binary),
		SPAWNER_TEST(test_binary_not_executable),
		SPAWNER_TEST(test_unexpected_type_fatal),
		SPAWNER_TEST(test_exec_with_fd_fatal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
