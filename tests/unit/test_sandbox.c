/*
 * Tests for the seccomp filters of the api, tunnel and priv roles.  Each
 * case forks a child that installs one role's filter the way the role
 * does, then makes one forbidden call, which must end it with SIGSYS, or
 * the calls the role's event loop makes, which must let it exit 0.
 *
 * The child does not set PR_SET_NO_NEW_PRIVS itself: libseccomp (2.5,
 * SCMP_FLTATR_CTL_NNP on by default) sets it before it loads the filter,
 * so the filter installs without root.  The status cases check that.
 * Calls are made with syscall(2) where glibc might use another system
 * call than the one named.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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

#include "api.h"
#include "imsg.h"
#include "priv.h"
#include "tunnel.h"

#define CHILD_ALARM_S		5	/* seconds until SIGALRM ends a child */
#define WAIT_MS			10000	/* upper bound on every wait */
#define WAIT_STEP_MS		10
/* Above glibc's mmap threshold, so malloc and free call mmap and munmap. */
#define BIG_BLOCK		(8 * 1024 * 1024)
#define CHILD_SURVIVED		99	/* a forbidden call returned */
#define UNPRIVILEGED_ID		65534	/* nobody and nogroup on Debian */
#define TEST_IMSG_TYPE		1

/* Signals that cmocka catches in the test process.  A child resets them. */
static const int caught_signals[] = { SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGSYS };

struct role {
	const char	*name;
	int		(*install)(void);
	int		 unix_socket;	/* socket(AF_UNIX) allowed */
};

static const struct role roles[] = {
	{ "api", api_sandbox, 0 },
	{ "tunnel", tunnel_sandbox, 0 },
	{ "priv", priv_sandbox, 1 },
};

#define NROLES	(sizeof(roles) / sizeof(roles[0]))

/* Descriptors a child inherits, made before the fork. */
struct fixture {
	int		 pipefd[2];	/* data for the allowed calls */
	int		 progress[2];	/* a byte per step the child passed */
	int		 sp[2];		/* socketpair for sendmsg and recvmsg */
	int		 passfd;	/* passed over sp, a dup of pipefd[1] */
	int		 client;	/* AF_UNIX socket to connect */
	int		 listener;
	char		 dir[64];
	struct sockaddr_un addr;	/* the listener's */
};

struct probe {
	const char	*name;
	void		(*call)(const struct fixture *);
	int		 roles;		/* bit per index in roles[] */
};

#define ALL_ROLES	0x7
#define API_TUNNEL	0x3

struct sandbox_case {
	const struct role	*role;
	const struct probe	*probe;		/* NULL: not a probe case */
	struct fixture		 fx;
};

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait for pid up to WAIT_MS.  Returns 0 with *status set, or -1 after a
 * time-out, when the child has been killed and reaped.
 */
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

/* In a new child: default signal actions, no core file, a deadline. */
static void
child_prologue(void)
{
	struct rlimit	 nocore = { 0, 0 };
	size_t		 i;

	for (i = 0; i < sizeof(caught_signals) / sizeof(caught_signals[0]);
	    i++)
		signal(caught_signals[i], SIG_DFL);
	setrlimit(RLIMIT_CORE, &nocore);
	alarm(CHILD_ALARM_S);
}

static pid_t
fork_child(void)
{
	pid_t	 pid;

	/* A child's exit() must not write the test's buffered output. */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_int_not_equal(pid, -1);
	if (pid == 0)
		child_prologue();
	return pid;
}

static void
describe_status(const char *what, int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "%s: exited with %d", what,
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "%s: killed by signal %d (%s)", what,
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "%s: wait status 0x%x", what, status);
}

/* Forbidden calls.  Each returns only if the filter let the call through. */

static void
call_execve(const struct fixture *fx)
{
	char	*argv[] = { "/bin/true", NULL }, *envp[] = { NULL };

	(void)fx;
	syscall(SYS_execve, "/bin/true", argv, envp);
}

static void
call_execveat(const struct fixture *fx)
{
	char	*argv[] = { "/bin/true", NULL }, *envp[] = { NULL };

	(void)fx;
	syscall(SYS_execveat, AT_FDCWD, "/bin/true", argv, envp, 0);
}

static void
call_socket_inet(const struct fixture *fx)
{
	(void)fx;
	syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
}

static void
call_socket_inet6(const struct fixture *fx)
{
	(void)fx;
	syscall(SYS_socket, AF_INET6, SOCK_DGRAM, 0);
}

/*
 * AF_INET with bits set above the 32 that the kernel reads: the filter
 * compares the low 32 bits only, so this is still AF_INET to it.
 */
static void
call_socket_inet_high(const struct fixture *fx)
{
	(void)fx;
	syscall(SYS_socket, (long)((1ULL << 32) | AF_INET), SOCK_STREAM, 0);
}

static void
call_socket_unix(const struct fixture *fx)
{
	(void)fx;
	syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
}

static void
call_socketpair(const struct fixture *fx)
{
	int	 sv[2];

	(void)fx;
	syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv);
}

static void
call_openat(const struct fixture *fx)
{
	(void)fx;
	syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
}

#ifdef SYS_open
static void
call_open(const struct fixture *fx)
{
	(void)fx;
	syscall(SYS_open, "/dev/null", O_RDONLY);
}
#endif

static void
call_connect(const struct fixture *fx)
{
	syscall(SYS_connect, fx->client, &fx->addr, sizeof(fx->addr));
}

static void
call_clone(const struct fixture *fx)
{
	(void)fx;
	/* If this is allowed, both processes return and exit. */
	syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

static void
call_wait4(const struct fixture *fx)
{
	(void)fx;
	syscall(SYS_wait4, -1, NULL, WNOHANG, NULL);
}

/*
 * No role installs a signal handler, so none needs rt_sigreturn.  Were it
 * allowed, the kernel would restore a frame that is not there and the
 * child would die of SIGSEGV instead of SIGSYS.
 */
static void
call_rt_sigreturn(const struct fixture *fx)
{
	(void)fx;
	syscall(SYS_rt_sigreturn);
}

#ifdef __x86_64__
/* getpid from the x32 ABI: another architecture to the filter. */
static void
call_x32(const struct fixture *fx)
{
	(void)fx;
	syscall(0x40000000 | SYS_getpid);
}

/* getpid (20) through the i386 entry point. */
static void
call_i386(const struct fixture *fx)
{
	long	 rv;

	(void)fx;
	__asm__ volatile("int $0x80" : "=a" (rv) : "a" (20L) : "memory");
	(void)rv;
}
#endif

/*
 * What no role may do is tested for all three.  priv will open files,
 * connect to QMP sockets and fork workers, so the rest is tested for api
 * and tunnel only.
 */
static const struct probe probes[] = {
	{ "execve", call_execve, ALL_ROLES },
	{ "execveat", call_execveat, ALL_ROLES },
	{ "socket(AF_INET)", call_socket_inet, ALL_ROLES },
	{ "socket(AF_INET6)", call_socket_inet6, ALL_ROLES },
	{ "socket(AF_INET, high bits set)", call_socket_inet_high, ALL_ROLES },
	{ "socket(AF_UNIX)", call_socket_unix, API_TUNNEL },
	{ "socketpair", call_socketpair, API_TUNNEL },
	{ "openat", call_openat, API_TUNNEL },
#ifdef SYS_open
	{ "open", call_open, API_TUNNEL },
#endif
	{ "connect", call_connect, API_TUNNEL },
	{ "clone", call_clone, API_TUNNEL },
	{ "wait4", call_wait4, API_TUNNEL },
	{ "rt_sigreturn", call_rt_sigreturn, ALL_ROLES },
#ifdef __x86_64__
	{ "x32 getpid", call_x32, ALL_ROLES },
	{ "i386 getpid", call_i386, ALL_ROLES },
#endif
};

#define NPROBES	(sizeof(probes) / sizeof(probes[0]))

static int
fixture_setup(void **state)
{
	struct sandbox_case	*c = *state;
	struct fixture		*fx = &c->fx;

	assert_int_equal(pipe2(fx->pipefd, O_CLOEXEC), 0);
	assert_int_equal(pipe2(fx->progress, O_CLOEXEC), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    fx->sp), 0);
	assert_int_not_equal(fx->passfd = dup(fx->pipefd[1]), -1);

	strncpy(fx->dir, "/tmp/test_sandbox.XXXXXX", sizeof(fx->dir) - 1);
	assert_non_null(mkdtemp(fx->dir));
	memset(&fx->addr, 0, sizeof(fx->addr));
	fx->addr.sun_family = AF_UNIX;
	snprintf(fx->addr.sun_path, sizeof(fx->addr.sun_path), "%s/listener",
	    fx->dir);
	assert_int_not_equal(fx->listener = socket(AF_UNIX, SOCK_STREAM, 0),
	    -1);
	assert_int_equal(bind(fx->listener, (struct sockaddr *)&fx->addr,
	    sizeof(fx->addr)), 0);
	assert_int_equal(listen(fx->listener, 1), 0);
	assert_int_not_equal(fx->client = socket(AF_UNIX, SOCK_STREAM, 0),
	    -1);
	return 0;
}

static int
fixture_teardown(void **state)
{
	struct sandbox_case	*c = *state;
	struct fixture		*fx = &c->fx;

	close(fx->pipefd[0]);
	close(fx->pipefd[1]);
	close(fx->progress[0]);
	close(fx->progress[1]);
	close(fx->sp[0]);
	close(fx->sp[1]);
	close(fx->passfd);
	close(fx->client);
	close(fx->listener);
	unlink(fx->addr.sun_path);
	rmdir(fx->dir);
	return 0;
}

#ifdef __x86_64__
/* The i386 entry point exists only with IA32 emulation in the kernel. */
static int
i386_available(const struct fixture *fx)
{
	pid_t	 pid;
	int	 status;

	if ((pid = fork_child()) == 0) {
		call_i386(fx);
		_exit(0);
	}
	assert_int_equal(wait_bounded(pid, &status), 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
#endif

static void
test_forbidden(void **state)
{
	struct sandbox_case	*c = *state;
	char			 what[96], desc[160];
	pid_t			 pid;
	int			 status;

#ifdef __x86_64__
	if (c->probe->call == call_i386 && !i386_available(&c->fx))
		skip();
#endif

	if ((pid = fork_child()) == 0) {
		if (c->role->install() == -1)
			_exit(1);
		c->probe->call(&c->fx);
		_exit(CHILD_SURVIVED);
	}
	if (wait_bounded(pid, &status) == -1)
		fail_msg("%s: %s child still running after %d ms",
		    c->role->name, c->probe->name, WAIT_MS);
	snprintf(what, sizeof(what), "%s after %s", c->role->name,
	    c->probe->name);
	describe_status(what, status, desc, sizeof(desc));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
		fail_msg("%s, expected SIGSYS", desc);
}

/* The calls of the allowed path, in order.  The exit code names a step. */
enum step {
	STEP_INSTALL = 1,
	STEP_PIPE_WRITE,
	STEP_POLL,
	STEP_PIPE_READ,
	STEP_SEND_FD,
	STEP_RECV_FD,
	STEP_USE_FD,
	STEP_CLOSE_FD,
	STEP_MALLOC,
	STEP_REALLOC,
	STEP_CLOCK,
	STEP_CLOCK_SYSCALL,
	STEP_UNIX_SOCKET,
	STEP_DONE
};

static const char *const step_names[] = {
	[STEP_INSTALL] = "install the filter",
	[STEP_PIPE_WRITE] = "write to a pipe",
	[STEP_POLL] = "poll",
	[STEP_PIPE_READ] = "read from a pipe",
	[STEP_SEND_FD] = "sendmsg with a descriptor",
	[STEP_RECV_FD] = "recvmsg with a descriptor",
	[STEP_USE_FD] = "write through the passed descriptor",
	[STEP_CLOSE_FD] = "close",
	[STEP_MALLOC] = "malloc of a large block",
	[STEP_REALLOC] = "realloc of a large block",
	[STEP_CLOCK] = "clock_gettime",
	[STEP_CLOCK_SYSCALL] = "clock_gettime system call",
	[STEP_UNIX_SOCKET] = "socket(AF_UNIX)",
	[STEP_DONE] = "exit",
};

static void
passed(const struct fixture *fx, enum step step)
{
	unsigned char	 b = step;

	if (write(fx->progress[1], &b, 1) != 1)
		_exit(step);
}

static void
allowed_pipe(const struct fixture *fx)
{
	struct pollfd	 pfd;
	char		 b = 'x';

	if (write(fx->pipefd[1], &b, 1) != 1)
		_exit(STEP_PIPE_WRITE);
	passed(fx, STEP_PIPE_WRITE);

	pfd.fd = fx->pipefd[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 1000) != 1 || !(pfd.revents & POLLIN))
		_exit(STEP_POLL);
	passed(fx, STEP_POLL);

	if (read(fx->pipefd[0], &b, 1) != 1 || b != 'x')
		_exit(STEP_PIPE_READ);
	passed(fx, STEP_PIPE_READ);
}

/* sendmsg and recvmsg through the project's imsg layer, as the roles do. */
static void
allowed_pass_fd(const struct fixture *fx)
{
	struct imsgbuf	 w, r;
	struct imsg	 imsg;
	char		 b = 'y';

	imsg_init(&w, fx->sp[0]);
	imsg_init(&r, fx->sp[1]);
	if (imsg_compose(&w, TEST_IMSG_TYPE, 0, 0, fx->passfd, "fd", 2) ==
	    -1 || imsg_flush(&w) != 0)
		_exit(STEP_SEND_FD);
	passed(fx, STEP_SEND_FD);

	if (imsg_read(&r) <= 0 || imsg_get(&r, &imsg) != 1 ||
	    imsg.hdr.type != TEST_IMSG_TYPE || imsg.fd == -1)
		_exit(STEP_RECV_FD);
	passed(fx, STEP_RECV_FD);

	if (write(imsg.fd, &b, 1) != 1 || read(fx->pipefd[0], &b, 1) != 1 ||
	    b != 'y')
		_exit(STEP_USE_FD);
	passed(fx, STEP_USE_FD);

	if (close(imsg.fd) == -1)
		_exit(STEP_CLOSE_FD);
	imsg_free(&imsg);
	imsg_clear(&r);
	imsg_clear(&w);
	passed(fx, STEP_CLOSE_FD);
}

static void
allowed_memory(const struct fixture *fx)
{
	unsigned char	*p, *q;

	if ((p = malloc(BIG_BLOCK)) == NULL)
		_exit(STEP_MALLOC);
	memset(p, 0xa5, BIG_BLOCK);
	passed(fx, STEP_MALLOC);

	if ((q = realloc(p, 2 * BIG_BLOCK)) == NULL || q[BIG_BLOCK - 1] !=
	    0xa5)
		_exit(STEP_REALLOC);
	memset(q + BIG_BLOCK, 0x5a, BIG_BLOCK);
	free(q);
	passed(fx, STEP_REALLOC);
}

static void
allowed_clock(const struct fixture *fx)
{
	struct timespec	 ts;

	/* Usually the vDSO, with no system call at all. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		_exit(STEP_CLOCK);
	passed(fx, STEP_CLOCK);

	/* What the vDSO falls back to when the clock source needs it. */
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == -1)
		_exit(STEP_CLOCK_SYSCALL);
	passed(fx, STEP_CLOCK_SYSCALL);
}

static void
allowed_unix_socket(const struct fixture *fx)
{
	long	 s;

	s = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s == -1 || close((int)s) == -1)
		_exit(STEP_UNIX_SOCKET);
	passed(fx, STEP_UNIX_SOCKET);
}

/*
 * Check how a child of the allowed path ended.  On a signal, the last byte
 * in the progress pipe shows which step the child was in.
 */
static void
check_allowed_status(struct sandbox_case *c, int status)
{
	unsigned char	 last = 0, b;
	char		 desc[160];
	int		 step;

	close(c->fx.progress[1]);
	c->fx.progress[1] = -1;
	while (read(c->fx.progress[0], &b, 1) == 1)
		last = b;
	step = last + 1;	/* the step after the last one passed */

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	describe_status(c->role->name, status, desc, sizeof(desc));
	if (WIFEXITED(status) && WEXITSTATUS(status) < STEP_DONE)
		fail_msg("%s: step \"%s\" failed", desc,
		    step_names[WEXITSTATUS(status)]);
	fail_msg("%s during step \"%s\"", desc,
	    step <= STEP_DONE ? step_names[step] : "exit");
}

static void
test_allowed(void **state)
{
	struct sandbox_case	*c = *state;
	pid_t			 pid;
	int			 status;

	if ((pid = fork_child()) == 0) {
		if (c->role->install() == -1)
			_exit(STEP_INSTALL);
		passed(&c->fx, STEP_INSTALL);
		allowed_pipe(&c->fx);
		allowed_pass_fd(&c->fx);
		allowed_memory(&c->fx);
		allowed_clock(&c->fx);
		if (c->role->unix_socket)
			allowed_unix_socket(&c->fx);
		passed(&c->fx, STEP_DONE);
		/* exit(), not _exit(): the roles leave through exit(). */
		exit(0);
	}
	if (wait_bounded(pid, &status) == -1)
		fail_msg("%s: allowed-call child still running after %d ms",
		    c->role->name, WAIT_MS);
	check_allowed_status(c, status);
}

/* SYS_exit, which glibc's _exit() falls back to, ends the child cleanly. */
static void
test_exit_call(void **state)
{
	struct sandbox_case	*c = *state;
	char			 desc[160];
	pid_t			 pid;
	int			 status;

	if ((pid = fork_child()) == 0) {
		if (c->role->install() == -1)
			_exit(1);
		syscall(SYS_exit, 0);
		_exit(CHILD_SURVIVED);
	}
	assert_int_equal(wait_bounded(pid, &status), 0);
	describe_status(c->role->name, status, desc, sizeof(desc));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s, expected exit status 0", desc);
}

/* Return the value of a "Name:\tvalue" line of /proc/pid/status. */
static long
proc_status_field(pid_t pid, const char *name)
{
	char	 path[64], line[256];
	size_t	 len = strlen(name);
	long	 value = -1;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, len) == 0 && line[len] == ':')
			value = strtol(line + len + 1, NULL, 10);
	fclose(f);
	return value;
}

static void
drop_to_unprivileged(void)
{
	gid_t	 gid = UNPRIVILEGED_ID;

	if (geteuid() != 0)
		return;
	if (setgroups(1, &gid) == -1 ||
	    setresgid(gid, gid, gid) == -1 ||
	    setresuid(UNPRIVILEGED_ID, UNPRIVILEGED_ID, UNPRIVILEGED_ID) ==
	    -1)
		_exit(2);
}

/*
 * An unprivileged child that never set no_new_privs installs the filter;
 * the kernel then reports filter mode and no_new_privs for it.
 */
static void
test_filter_status(void **state)
{
	struct sandbox_case	*c = *state;
	struct fixture		*fx = &c->fx;
	unsigned char		 b;
	pid_t			 pid;
	int			 status;
	struct pollfd		 pfd;

	if ((pid = fork_child()) == 0) {
		drop_to_unprivileged();
		if (c->role->install() == -1)
			_exit(STEP_INSTALL);
		passed(fx, STEP_INSTALL);
		if (read(fx->pipefd[0], &b, 1) != 1)
			_exit(STEP_PIPE_READ);
		_exit(0);
	}

	pfd.fd = fx->progress[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, WAIT_MS) != 1 || read(fx->progress[0], &b, 1) != 1) {
		kill(pid, SIGKILL);
		wait_bounded(pid, &status);
		fail_msg("%s: no filter installed within %d ms",
		    c->role->name, WAIT_MS);
	}
	assert_int_equal(proc_status_field(pid, "Seccomp"), 2);
	assert_int_equal(proc_status_field(pid, "Seccomp_filters"), 1);
	assert_int_equal(proc_status_field(pid, "NoNewPrivs"), 1);
	assert_int_not_equal(proc_status_field(pid, "Uid"), 0);

	assert_int_equal(write(fx->pipefd[1], "z", 1), 1);
	assert_int_equal(wait_bounded(pid, &status), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The test process itself never runs under a filter. */
static void
test_no_filter_in_runner(void **state)
{
	(void)state;
	assert_int_equal(proc_status_field(getpid(), "Seccomp"), 0);
}

static struct sandbox_case	 cases[NROLES * (NPROBES + 3)];
static struct CMUnitTest	 tests[NROLES * (NPROBES + 3) + 1];
static char			 names[NROLES * (NPROBES + 3)][96];

static size_t
add_case(size_t n, const struct role *role, const struct probe *probe,
    CMUnitTestFunction fn, const char *what)
{
	cases[n].role = role;
	cases[n].probe = probe;
	snprintf(names[n], sizeof(names[n]), "%s: %s", role->name, what);
	tests[n + 1].name = names[n];
	tests[n + 1].test_func = fn;
	tests[n + 1].setup_func = fixture_setup;
	tests[n + 1].teardown_func = fixture_teardown;
	tests[n + 1].initial_state = &cases[n];
	return n + 1;
}

int
main(void)
{
	char	 what[80];
	size_t	 r, p, n = 0;

	tests[0] = (struct CMUnitTest)cmocka_unit_test(
	    test_no_filter_in_runner);
	for (r = 0; r < NROLES; r++) {
		n = add_case(n, &roles[r], NULL, test_allowed,
		    "allowed calls survive");
		n = add_case(n, &roles[r], NULL, test_exit_call,
		    "exit system call");
		n = add_case(n, &roles[r], NULL, test_filter_status,
		    "unprivileged install");
		for (p = 0; p < NPROBES; p++) {
			if (!(probes[p].roles & (1 << r)))
				continue;
			snprintf(what, sizeof(what), "%s killed",
			    probes[p].name);
			n = add_case(n, &roles[r], &probes[p], test_forbidden,
			    what);
		}
	}
	return _cmocka_run_group_tests("sandbox", tests, n + 1, NULL, NULL);
}
