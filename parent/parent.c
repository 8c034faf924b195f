/*
 * mtunneld: the parent process, and main() of every role.
 */

#include <sys/types.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/unistd.h>

#include "audit.h"
#include "log.h"
#include "parent.h"
#include "proc.h"
#include "ticket.h"

#define SHUTDOWN_GRACE_MS	3000	/* then SIGKILL what is left */

static struct timespec	shutdown_deadline;

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: mtunneld [-dnv] [-f file] [-p prefix]\n"
	    "  -d         stay in the foreground and log to stderr\n"
	    "  -f file    config file (default %s)\n"
	    "  -n         check the config and exit\n"
	    "  -p prefix  put every state and run directory under prefix\n"
	    "  -v         more verbose logging (debug records)\n",
	    CONF_DEFAULT_FILE);
	exit(1);
}

static __attribute__((noreturn)) void
child_role_main(const char *role, int debug, int verbose)
{
	enum proc_role	 r;

	log_init(1, verbose, role);
	if (proc_role_parse(role, &r) == -1)
		fatalx("unknown role '%s'", role);

	switch (r) {
	case PROC_PRIV:
		priv_main(debug, verbose);
	case PROC_API:
		api_main(debug, verbose);
	case PROC_TUNNEL:
		tunnel_main(debug, verbose);
	default:
		fatalx("role '%s' is not started with -X", role);
	}
}

static void
load_config(struct parent *env, const char *file, const char *prefix)
{
	char	 err[CONF_ERR_MAX];

	conf_defaults(&env->conf);
	if (conf_parse_file(&env->conf, file ? file : CONF_DEFAULT_FILE,
	    file == NULL, err, sizeof(err)) == -1 ||
	    conf_finish(&env->conf, prefix, err, sizeof(err)) == -1) {
		fprintf(stderr, "mtunneld: %s\n", err);
		exit(1);
	}
}

static void
prepare(struct parent *env)
{
	char	 err[CONF_ERR_MAX];

	if (setup_users(env, err, sizeof(err)) == -1 ||
	    setup_dirs(&env->conf, err, sizeof(err)) == -1 ||
	    audit_init(env, err, sizeof(err)) == -1 ||
	    (env->pidfh = pid_file_open(&env->conf, err,
	    sizeof(err))) == NULL ||
	    (env->listen_fd = setup_listener(&env->conf, err,
	    sizeof(err))) == -1 ||
	    setup_tls(env, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (auth_load(env) == -1)
		fatalx("cannot load users, tokens and storages");
	if ((env->tickets = calloc(1, sizeof(*env->tickets))) == NULL ||
	    ticket_init(env->tickets, env->conf.ticket_lifetime) == -1)
		fatalx("cannot set up the ticket key");
}

static void
log_listener(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 host[64];
	uint16_t		 port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		log_warn("getsockname");
		return;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
	}
	log_info("listening on %s port %u", host, port);
}

static int
setup_signals(void)
{
	sigset_t	 mask;
	int		 fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		fatal("sigprocmask");
	if ((fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		fatal("signalfd");
	return fd;
}

/*
 * Stop every child: close its channel (a child exits at end of file),
 * then SIGKILL whatever is left when the grace period ends.
 */
void
parent_shutdown(struct parent *env, int status)
{
	struct child	*c;

	if (status > env->exit_status)
		env->exit_status = status;
	if (env->shutting_down)
		return;

	env->shutting_down = 1;
	clock_gettime(CLOCK_MONOTONIC, &shutdown_deadline);
	shutdown_deadline.tv_sec += SHUTDOWN_GRACE_MS / 1000;

	/* Migrations in progress are cleaned up before priv goes. */
	TAILQ_FOREACH(c, &env->children, entry)
		if (c->role == PROC_TUNNEL && c->state != CHILD_GONE) {
			request_tunnel_ended(env, c, "daemon stopped", 0);
			c->task = NULL;
		}
	TAILQ_FOREACH(c, &env->children, entry)
		if (c->role != PROC_PRIV || c->ibuf.wqlen == 0)
			child_close(c);
}

/* While stopping, priv's channel closes once its queue is flushed. */
static void
shutdown_close_priv(struct parent *env)
{
	struct child	*c;

	if (!env->shutting_down)
		return;
	TAILQ_FOREACH(c, &env->children, entry)
		if (c->role == PROC_PRIV && c->state != CHILD_GONE &&
		    c->ibuf.wqlen == 0)
			child_close(c);
}

static int
shutdown_timeout(struct parent *env)
{
	struct timespec	 now;
	struct child	*c;
	long		 ms;

	if (!env->shutting_down)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (shutdown_deadline.tv_sec - now.tv_sec) * 1000 +
	    (shutdown_deadline.tv_nsec - now.tv_nsec) / 1000000;
	if (ms > 0)
		return (int)ms;

	TAILQ_FOREACH(c, &env->children, entry) {
		log_warnx("%s[%ld] still running after %d ms; killing it",
		    c->name, (long)c->pid, SHUTDOWN_GRACE_MS);
		kill(c->pid, SIGKILL);
	}
	return 1000;
}

/* A tunnel for one migration; the api issue's mtunnel call starts it. */
struct child *
parent_tunnel_start(struct parent *env, uint32_t vmid)
{
	if (child_find_vmid(env, vmid) != NULL) {
		log_warnx("tunnel for vmid %u already running", vmid);
		return NULL;
	}
	return child_start(env, PROC_TUNNEL, vmid);
}

/*
 * Queue what an api worker needs before it drops privileges: the TLS
 * certificate and key, the listener and the token snapshot.
 */
void
parent_send_config(struct parent *env, struct child *c)
{
	int	 fd;

	if (c->role != PROC_API)
		return;
	if ((fd = dup(env->listen_fd)) == -1)
		fatal("%s: dup of the listener", c->name);
	if (imsg_compose(&c->ibuf, IMSG_API_TLS_CERT, 0, 0, -1,
	    env->cert_pem, env->cert_len) == -1 ||
	    imsg_compose(&c->ibuf, IMSG_API_TLS_KEY, 0, 0, -1, env->key_pem,
	    env->key_len) == -1 ||
	    imsg_compose(&c->ibuf, IMSG_API_LISTENER, 0, 0, fd, NULL,
	    0) == -1)
		fatalx("%s: %s", c->name, imsg_error(&c->ibuf));
	auth_send_tokens(env, c);
	if (imsg_compose(&c->ibuf, IMSG_API_CONFIG_DONE, 0, 0, -1, NULL,
	    0) == -1)
		fatalx("%s: %s", c->name, imsg_error(&c->ibuf));
}

/* Reload users, tokens and storages, and give the api the new tokens. */
static void
parent_reload(struct parent *env)
{
	struct child	*c;

	if (auth_load(env) == -1) {
		log_warnx("reload failed; keeping the users and tokens "
		    "loaded before");
		return;
	}
	TAILQ_FOREACH(c, &env->children, entry)
		if (c->role == PROC_API && c->state != CHILD_GONE)
			auth_send_tokens(env, c);
	log_info("reloaded users, tokens and storages");
}

static void
handle_signals(struct parent *env, int sfd)
{
	struct signalfd_siginfo	 si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("received %s; stopping",
			    strsignal(si.ssi_signo));
			parent_shutdown(env, 0);
			break;
		case SIGHUP:
			log_info("received SIGHUP; reloading");
			parent_reload(env);
			break;
		case SIGCHLD:
			child_reap(env);
			break;
		}
	}
}

static void
flush_child(struct child *c)
{
	if (c->state == CHILD_GONE || c->ibuf.wqlen == 0)
		return;
	if (imsg_flush(&c->ibuf) == -1) {
		log_warnx("%s[%ld]: %s", c->name, (long)c->pid,
		    imsg_error(&c->ibuf));
		child_close(c);
	}
}

static void
event_loop(struct parent *env, int sfd)
{
	struct pollfd	*pfd = NULL;
	struct child	**owners = NULL, *c;
	size_t		 n, i, cap = 0;

	while (!TAILQ_EMPTY(&env->children) || !env->shutting_down) {
		n = 1;
		TAILQ_FOREACH(c, &env->children, entry)
			n++;
		if (n > cap) {
			cap = n * 2;
			pfd = reallocarray(pfd, cap, sizeof(*pfd));
			owners = reallocarray(owners, cap, sizeof(*owners));
			if (pfd == NULL || owners == NULL)
				fatal("poll set");
		}

		pfd[0].fd = sfd;
		pfd[0].events = POLLIN;
		i = 1;
		TAILQ_FOREACH(c, &env->children, entry) {
			owners[i] = c;
			pfd[i].fd = c->state == CHILD_GONE ? -1 : c->ibuf.fd;
			pfd[i].events = POLLIN |
			    (c->ibuf.wqlen > 0 ? POLLOUT : 0);
			i++;
		}

		if (poll(pfd, n, shutdown_timeout(env)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}

		for (i = 1; i < n; i++) {
			if (pfd[i].revents & POLLOUT)
				flush_child(owners[i]);
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				child_dispatch(env, owners[i]);
		}
		if (pfd[0].revents & POLLIN)
			handle_signals(env, sfd);
		shutdown_close_priv(env);
	}
	free(pfd);
	free(owners);
}

static void
start_children(struct parent *env)
{
	int	 i;

	if (child_start(env, PROC_PRIV, 0) == NULL)
		fatalx("cannot start priv");
	for (i = 0; i < env->conf.prefork; i++)
		if (child_start(env, PROC_API, 0) == NULL)
			fatalx("cannot start api worker %d", i);
}

int
main(int argc, char *argv[])
{
	struct parent	 env;
	const char	*file = NULL, *prefix = NULL, *role = NULL;
	int		 ch, checkonly = 0, sfd;

	memset(&env, 0, sizeof(env));
	TAILQ_INIT(&env.children);
	TAILQ_INIT(&env.tasks);
	TAILQ_INIT(&env.pending);
	env.listen_fd = -1;

	while ((ch = getopt(argc, argv, "df:np:vX:")) != -1) {
		switch (ch) {
		case 'd':
			env.debug = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'v':
			env.verbose++;
			break;
		case 'X':
			role = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if (role != NULL)
		child_role_main(role, env.debug, env.verbose);

	load_config(&env, file, prefix);
	if (checkonly) {
		fprintf(stderr, "configuration OK\n");
		return 0;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "mtunneld: must be started as root\n");
		return 1;
	}

	/* Children never call localtime(); the parent reads the zone once. */
	tzset();
	/* Until daemon(), errors go to stderr, where the caller sees them. */
	log_init(1, env.verbose, "parent");
	prepare(&env);
	log_listener(env.listen_fd);

	if (!env.debug && daemon(0, 0) == -1)
		fatal("daemon");
	log_init(env.debug, env.verbose, "parent");
	if (pidfile_write(env.pidfh) == -1)
		fatal("pid file");
	setproctitle("parent");
	sfd = setup_signals();

	log_info("starting, version %s, node %s", MTUNNELD_VERSION,
	    env.conf.node);
	audit_record("daemon-start", "parent", NULL, 0, NULL,
	    json_pack("{s:s, s:s, s:I}", "version", MTUNNELD_VERSION, "node",
	    env.conf.node, "pid", (json_int_t)getpid()));
	start_children(&env);
	event_loop(&env, sfd);

	pidfile_remove(env.pidfh);
	close(env.listen_fd);
	audit_close(env.exit_status);
	log_info("stopped");
	return env.exit_status;
}
