/*
 * mtunnelctl: edit mtunneld's users, API tokens and ACLs (user.cfg and
 * token.secrets in the config directory), then tell a running daemon to
 * reload them.  Also prints the daemon certificate's fingerprint, and
 * removes what an unfinished incoming migration left without a journal.
 */

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "cert.h"
#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "mtunneld.h"
#include "token.h"
#include "usercfg.h"

#define CTL_LOCK_TIMEOUT_MS	10000
#define CTL_LOCK_POLL_MS	100
#define CTL_ERR_MAX		1024
#define CTL_CONFIG_MAX		(1024 * 1024)	/* bytes of a VM config read */
#define CTL_CMDLINE_MAX		(64 * 1024)	/* bytes of one cmdline read */

#define EXIT_USAGE		2

/* A file name below config-dir or run-dir (CONF_PATH_MAX characters). */
#define CTL_PATH_MAX		(CONF_PATH_MAX + 32)

/* Options a command accepts. */
#define OPT_COMMENT		0x01
#define OPT_EXPIRE		0x02
#define OPT_DISABLE		0x04
#define OPT_PRIVSEP		0x08
#define OPT_NO_PROPAGATE	0x10

struct ctl {
	struct mtunneld_conf	 conf;
	char			 usercfg[CTL_PATH_MAX];
	char			 secrets[CTL_PATH_MAX];
	char			 lockfile[CTL_PATH_MAX];
	char			 pidfile[CTL_PATH_MAX];
	int			 lockfd;
	struct usercfg		 cfg;
	struct token_secrets	 ts;
	char			 err[CTL_ERR_MAX];
};

struct ctl_args {
	char		*pos[3];
	int		 npos;
	const char	*comment;
	int64_t		 expire;
	int		 disable;
	int		 privsep;
	int		 no_propagate;
};

struct ctl_command {
	const char	*object;
	const char	*action;
	const char	*synopsis;
	int		 minpos;
	int		 maxpos;
	unsigned int	 options;
	int		(*run)(struct ctl *, struct ctl_args *);
};

static int	cmd_user_add(struct ctl *, struct ctl_args *);
static int	cmd_user_list(struct ctl *, struct ctl_args *);
static int	cmd_user_remove(struct ctl *, struct ctl_args *);
static int	cmd_token_add(struct ctl *, struct ctl_args *);
static int	cmd_token_list(struct ctl *, struct ctl_args *);
static int	cmd_token_remove(struct ctl *, struct ctl_args *);
static int	cmd_acl_set(struct ctl *, struct ctl_args *);
static int	cmd_acl_list(struct ctl *, struct ctl_args *);
static int	cmd_acl_remove(struct ctl *, struct ctl_args *);
static int	cmd_cert_fingerprint(struct ctl *, struct ctl_args *);
static int	cmd_cleanup(struct ctl *, struct ctl_args *);

static const struct ctl_command commands[] = {
	{ "user", "add", "USERID [--comment TEXT] [--expire EPOCH] "
	    "[--disable]", 1, 1, OPT_COMMENT | OPT_EXPIRE | OPT_DISABLE,
	    cmd_user_add },
	{ "user", "list", "", 0, 0, 0, cmd_user_list },
	{ "user", "remove", "USERID", 1, 1, 0, cmd_user_remove },
	{ "token", "add", "TOKENID [--privsep 0|1] [--expire EPOCH] "
	    "[--comment TEXT]", 1, 1, OPT_PRIVSEP | OPT_EXPIRE | OPT_COMMENT,
	    cmd_token_add },
	{ "token", "list", "", 0, 0, 0, cmd_token_list },
	{ "token", "remove", "TOKENID", 1, 1, 0, cmd_token_remove },
	{ "acl", "set", "PATH ROLE MEMBER [--no-propagate]", 3, 3,
	    OPT_NO_PROPAGATE, cmd_acl_set },
	{ "acl", "list", "", 0, 0, 0, cmd_acl_list },
	{ "acl", "remove", "PATH MEMBER [ROLE]", 2, 3, 0, cmd_acl_remove },
	{ "cert", "fingerprint", "", 0, 0, 0, cmd_cert_fingerprint },
	{ "cleanup", NULL, "VMID", 1, 1, 0, cmd_cleanup },
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

static __attribute__((noreturn)) void
usage(const char *why)
{
	size_t	 i;

	if (why != NULL)
		fprintf(stderr, "mtunnelctl: %s\n", why);
	fprintf(stderr, "usage: mtunnelctl [-f conffile] [-p prefix] "
	    "command [argument ...]\ncommands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(stderr, "  %s%s%s%s%s\n", commands[i].object,
		    commands[i].action ? " " : "",
		    commands[i].action ? commands[i].action : "",
		    commands[i].synopsis[0] ? " " : "", commands[i].synopsis);
	fprintf(stderr, "MEMBER is USER@REALM, USER@REALM!TOKEN or @GROUP.\n"
	    "EPOCH is seconds since 1970, 0 for never.\n"
	    "--privsep defaults to 1: the token gets at most its user's "
	    "privileges.\n");
	exit(EXIT_USAGE);
}

static __attribute__((noreturn, format(printf, 1, 2))) void
usagef(const char *fmt, ...)
{
	char	 why[CTL_ERR_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	usage(why);
}

static int __attribute__((format(printf, 2, 3)))
ctl_fail(struct ctl *ctl, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(ctl->err, sizeof(ctl->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* Epoch seconds: digits only. */
static int
parse_expire(const char *s, int64_t *out)
{
	long long	 v;
	char		*end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0)
		return -1;
	*out = v;
	return 0;
}

static const char *
option_value(const char *opt, int argc, char **argv, int *i)
{
	const char	*eq = strchr(argv[*i], '=');

	if (eq != NULL)
		return eq + 1;
	if (*i + 1 >= argc)
		usagef("option %s needs a value", opt);
	return argv[++*i];
}

static int
option_is(const char *arg, const char *name)
{
	size_t	 len = strlen(name);

	return strncmp(arg, name, len) == 0 &&
	    (arg[len] == '\0' || arg[len] == '=');
}

/* "object action", or "object" for a command without an action. */
static const char *
command_name(const struct ctl_command *cmd)
{
	static char	 name[64];

	snprintf(name, sizeof(name), "%s%s%s", cmd->object,
	    cmd->action ? " " : "", cmd->action ? cmd->action : "");
	return name;
}

static void
parse_option(const struct ctl_command *cmd, struct ctl_args *a, int argc,
    char **argv, int *i)
{
	const char	*arg = argv[*i], *v;

	if ((cmd->options & OPT_COMMENT) && option_is(arg, "--comment"))
		a->comment = option_value("--comment", argc, argv, i);
	else if ((cmd->options & OPT_EXPIRE) && option_is(arg, "--expire")) {
		v = option_value("--expire", argc, argv, i);
		if (parse_expire(v, &a->expire) == -1)
			usagef("invalid --expire '%s': expected epoch "
			    "seconds, or 0 for never", v);
	} else if ((cmd->options & OPT_PRIVSEP) &&
	    option_is(arg, "--privsep")) {
		v = option_value("--privsep", argc, argv, i);
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			usagef("invalid --privsep '%s': expected 0 or 1", v);
		a->privsep = v[0] == '1';
	} else if ((cmd->options & OPT_DISABLE) &&
	    strcmp(arg, "--disable") == 0)
		a->disable = 1;
	else if ((cmd->options & OPT_NO_PROPAGATE) &&
	    strcmp(arg, "--no-propagate") == 0)
		a->no_propagate = 1;
	else
		usagef("%s: unknown option '%s'", command_name(cmd), arg);
}

static void
parse_args(const struct ctl_command *cmd, struct ctl_args *a, int argc,
    char **argv)
{
	int	 i, options_done = 0;

	memset(a, 0, sizeof(*a));
	a->privsep = 1;
	for (i = 0; i < argc; i++) {
		if (!options_done && strcmp(argv[i], "--") == 0)
			options_done = 1;
		else if (!options_done && strncmp(argv[i], "--", 2) == 0)
			parse_option(cmd, a, argc, argv, &i);
		else if (a->npos == cmd->maxpos)
			usagef("%s: unexpected argument '%s'",
			    command_name(cmd), argv[i]);
		else
			a->pos[a->npos++] = argv[i];
	}
	if (a->npos < cmd->minpos)
		usagef("%s: missing argument; usage: %s %s",
		    command_name(cmd), command_name(cmd), cmd->synopsis);
}

/* The command argv names; *nwords is 1 or 2, the words it takes. */
static const struct ctl_command *
find_command(int argc, char **argv, int *nwords)
{
	size_t	 i;

	if (argc < 1)
		usage("missing command");
	for (i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i].object, argv[0]) != 0)
			continue;
		if (commands[i].action == NULL) {
			*nwords = 1;
			return &commands[i];
		}
		if (argc < 2)
			usage("missing action");
		if (strcmp(commands[i].action, argv[1]) == 0) {
			*nwords = 2;
			return &commands[i];
		}
	}
	if (argc < 2)
		usagef("unknown command '%s'", argv[0]);
	usagef("unknown command '%s %s'", argv[0], argv[1]);
}

static void
load_conf(struct ctl *ctl, const char *file, const char *prefix)
{
	char	 err[CONF_ERR_MAX];

	conf_defaults(&ctl->conf);
	if (conf_parse_file(&ctl->conf, file ? file : CONF_DEFAULT_FILE,
	    file == NULL, err, sizeof(err)) == -1 ||
	    conf_finish(&ctl->conf, prefix, err, sizeof(err)) == -1) {
		fprintf(stderr, "mtunnelctl: %s\n", err);
		exit(1);
	}
	snprintf(ctl->usercfg, sizeof(ctl->usercfg), "%s/user.cfg",
	    ctl->conf.confdir);
	snprintf(ctl->secrets, sizeof(ctl->secrets), "%s/token.secrets",
	    ctl->conf.confdir);
	snprintf(ctl->lockfile, sizeof(ctl->lockfile), "%s/.user.cfg.lock",
	    ctl->conf.confdir);
	snprintf(ctl->pidfile, sizeof(ctl->pidfile), "%s/mtunneld.pid",
	    ctl->conf.rundir);
}

/* Create path and its missing parents with mode 0755, as mkdir -p. */
static int
mkdir_parents(struct ctl *ctl, const char *path)
{
	char	 copy[PATH_MAX], *p;
	int	 last;

	strlcpy(copy, path, sizeof(copy));
	for (p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		last = *p == '\0';
		*p = '\0';
		if (mkdir(copy, 0755) == -1 && errno != EEXIST)
			return ctl_fail(ctl, "cannot create %s: %s", copy,
			    strerror(errno));
		if (last)
			return 0;
		*p = '/';
	}
}

/*
 * Open path and take an exclusive flock on it, waiting at most
 * CTL_LOCK_TIMEOUT_MS.  holder names who may hold it, for the error.
 */
static int
lock_wait(struct ctl *ctl, const char *path, const char *holder)
{
	struct timespec	 pause = { 0, CTL_LOCK_POLL_MS * 1000000L };
	int		 waited;

	if ((ctl->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return ctl_fail(ctl, "cannot open lock file %s: %s", path,
		    strerror(errno));
	for (waited = 0; flock(ctl->lockfd, LOCK_EX | LOCK_NB) == -1;
	    waited += CTL_LOCK_POLL_MS) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return ctl_fail(ctl, "cannot lock %s: %s", path,
			    strerror(errno));
		if (waited >= CTL_LOCK_TIMEOUT_MS)
			return ctl_fail(ctl, "timed out after %d s waiting "
			    "for the lock on %s: %s; try again when it has "
			    "finished", CTL_LOCK_TIMEOUT_MS / 1000, path,
			    holder);
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* Take the edit lock on the config directory, waiting a bounded time. */
static int
ctl_lock(struct ctl *ctl)
{
	if (mkdir_parents(ctl, ctl->conf.confdir) == -1)
		return -1;
	return lock_wait(ctl, ctl->lockfile, "another mtunnelctl is editing");
}

static void
ctl_unlock(struct ctl *ctl)
{
	if (ctl->lockfd != -1)
		close(ctl->lockfd);
	ctl->lockfd = -1;
}

/* Read user.cfg; a missing file is an empty one. */
static int
load_usercfg(struct ctl *ctl)
{
	if (usercfg_load(&ctl->cfg, ctl->usercfg, ctl->err,
	    sizeof(ctl->err)) == -1) {
		if (errno != ENOENT)
			return -1;
		usercfg_init(&ctl->cfg);
	}
	return 0;
}

/*
 * Read user.cfg for an edit.  Writing it back would drop entries the
 * parser skipped, so an edit stops while there are any.
 */
static int
load_usercfg_for_edit(struct ctl *ctl)
{
	if (load_usercfg(ctl) == -1)
		return -1;
	if (ctl->cfg.nskipped > 0)
		return ctl_fail(ctl, "%s: %zu entries are invalid and would be "
		    "lost by this edit (first warning: %s); fix or remove "
		    "them by hand first", ctl->usercfg, ctl->cfg.nskipped,
		    ctl->cfg.warning);
	return 0;
}

static int
load_secrets(struct ctl *ctl)
{
	if (token_secrets_load(&ctl->ts, ctl->secrets, ctl->err,
	    sizeof(ctl->err)) == -1) {
		if (errno != ENOENT)
			return -1;
		token_secrets_init(&ctl->ts);
	}
	return 0;
}

static int
write_usercfg_fd(struct ctl *ctl, int fd, const char *tmp)
{
	FILE	*fp;
	int	 rv = 0;

	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		return ctl_fail(ctl, "%s: %s", tmp, strerror(errno));
	}
	if (usercfg_write(&ctl->cfg, fp) == -1 || fflush(fp) == EOF ||
	    fsync(fileno(fp)) == -1)
		rv = ctl_fail(ctl, "cannot write %s: %s", tmp,
		    strerror(errno));
	if (fclose(fp) == EOF && rv == 0)
		rv = ctl_fail(ctl, "cannot write %s: %s", tmp,
		    strerror(errno));
	return rv;
}

/*
 * Replace user.cfg atomically: write a temporary file with mode 0600,
 * fsync it, rename it over user.cfg, fsync the directory.
 */
static int
save_usercfg(struct ctl *ctl)
{
	char	 tmp[CTL_PATH_MAX + 8];
	int	 fd;

	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", ctl->usercfg);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		return ctl_fail(ctl, "cannot create %s: %s", tmp,
		    strerror(errno));
	if (fchmod(fd, 0600) == -1) {
		ctl_fail(ctl, "chmod %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (write_usercfg_fd(ctl, fd, tmp) == -1) {
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, ctl->usercfg) == -1) {
		ctl_fail(ctl, "rename %s to %s: %s", tmp, ctl->usercfg,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	if ((fd = open(ctl->conf.confdir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || fsync(fd) == -1) {
		ctl_fail(ctl, "fsync %s: %s", ctl->conf.confdir,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int
save_secrets(struct ctl *ctl)
{
	return token_secrets_save(&ctl->ts, ctl->secrets, ctl->err,
	    sizeof(ctl->err));
}

/* The pid in the daemon's pid file while the daemon holds its lock. */
static pid_t
daemon_pid(struct ctl *ctl)
{
	char		 buf[32];
	ssize_t		 n;
	long long	 pid;
	char		*end;
	int		 fd;

	if ((fd = open(ctl->pidfile, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		/* No daemon holds the lock, so the file is left over. */
		close(fd);
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	pid = strtoll(buf, &end, 10);
	if (pid <= 1 || pid > INT_MAX || (*end != '\n' && *end != '\0'))
		return -1;
	return (pid_t)pid;
}

/* Make a running daemon reload, or report that it applies at start. */
static int
notify_daemon(struct ctl *ctl)
{
	pid_t	 pid = daemon_pid(ctl);

	if (pid == 0) {
		fprintf(stderr, "mtunnelctl: mtunneld is not running on "
		    "run-dir %s; the change applies at its next start\n",
		    ctl->conf.rundir);
		return 0;
	}
	if (pid == -1)
		return ctl_fail(ctl, "the change is saved, but %s does not "
		    "contain a valid pid; restart mtunneld to apply it",
		    ctl->pidfile);
	if (kill(pid, SIGHUP) == -1)
		return ctl_fail(ctl, "the change is saved, but SIGHUP to "
		    "mtunneld (pid %ld) failed: %s; run kill -HUP %ld",
		    (long)pid, strerror(errno), (long)pid);
	fprintf(stderr, "mtunnelctl: sent SIGHUP to mtunneld (pid %ld) to "
	    "reload user.cfg and token.secrets\n", (long)pid);
	return 0;
}

static int
cmd_user_add(struct ctl *ctl, struct ctl_args *a)
{
	if (ctl_lock(ctl) == -1 || load_usercfg_for_edit(ctl) == -1 ||
	    usercfg_user_add(&ctl->cfg, a->pos[0], !a->disable, a->expire,
	    a->comment, ctl->err, sizeof(ctl->err)) == -1 ||
	    save_usercfg(ctl) == -1)
		return -1;
	ctl_unlock(ctl);
	return notify_daemon(ctl);
}

/* Drop secret lines whose token is gone; returns how many. */
static size_t
prune_secrets(struct ctl *ctl)
{
	size_t	 i, n = 0;

	for (i = ctl->ts.nentries; i > 0; i--)
		if (usercfg_token_find(&ctl->cfg,
		    ctl->ts.entries[i - 1].tokenid) == NULL) {
			token_secrets_remove(&ctl->ts,
			    ctl->ts.entries[i - 1].tokenid);
			n++;
		}
	return n;
}

static int
cmd_user_remove(struct ctl *ctl, struct ctl_args *a)
{
	if (ctl_lock(ctl) == -1 || load_usercfg_for_edit(ctl) == -1 ||
	    load_secrets(ctl) == -1 ||
	    usercfg_user_remove(&ctl->cfg, a->pos[0], ctl->err,
	    sizeof(ctl->err)) == -1 || save_usercfg(ctl) == -1)
		return -1;
	if (prune_secrets(ctl) > 0 && save_secrets(ctl) == -1)
		return -1;
	ctl_unlock(ctl);
	return notify_daemon(ctl);
}

/*
 * Add the token and its secret's hash.  token.secrets is written first:
 * a hash without a token in user.cfg grants nothing.
 */
static int
cmd_token_add(struct ctl *ctl, struct ctl_args *a)
{
	char	 secret[TOKEN_UUID_LEN + 1], hash[TOKEN_HASH_MAX];

	if (ctl_lock(ctl) == -1 || load_usercfg_for_edit(ctl) == -1 ||
	    load_secrets(ctl) == -1 ||
	    usercfg_token_add(&ctl->cfg, a->pos[0], a->privsep, a->expire,
	    a->comment, ctl->err, sizeof(ctl->err)) == -1)
		return -1;
	if (token_secret_generate(secret, sizeof(secret)) == -1 ||
	    token_hash(secret, hash, sizeof(hash)) == -1 ||
	    token_secrets_set(&ctl->ts, a->pos[0], hash) == -1)
		return ctl_fail(ctl, "cannot generate a token secret");
	if (save_secrets(ctl) == -1 || save_usercfg(ctl) == -1) {
		explicit_bzero(secret, sizeof(secret));
		return -1;
	}
	ctl_unlock(ctl);
	printf("PVEAPIToken=%s=%s\n", a->pos[0], secret);
	fflush(stdout);
	explicit_bzero(secret, sizeof(secret));
	fprintf(stderr, "mtunnelctl: store this value now: the secret is "
	    "not shown again\n");
	return notify_daemon(ctl);
}

static int
cmd_token_remove(struct ctl *ctl, struct ctl_args *a)
{
	if (ctl_lock(ctl) == -1 || load_usercfg_for_edit(ctl) == -1 ||
	    load_secrets(ctl) == -1 ||
	    usercfg_token_remove(&ctl->cfg, a->pos[0], ctl->err,
	    sizeof(ctl->err)) == -1 || save_usercfg(ctl) == -1)
		return -1;
	if (token_secrets_remove(&ctl->ts, a->pos[0]) == 0 &&
	    save_secrets(ctl) == -1)
		return -1;
	ctl_unlock(ctl);
	return notify_daemon(ctl);
}

static int
cmd_acl_set(struct ctl *ctl, struct ctl_args *a)
{
	if (ctl_lock(ctl) == -1 || load_usercfg_for_edit(ctl) == -1 ||
	    usercfg_acl_set(&ctl->cfg, a->pos[0], a->pos[1], a->pos[2],
	    !a->no_propagate, ctl->err, sizeof(ctl->err)) == -1 ||
	    save_usercfg(ctl) == -1)
		return -1;
	ctl_unlock(ctl);
	return notify_daemon(ctl);
}

static int
cmd_acl_remove(struct ctl *ctl, struct ctl_args *a)
{
	if (ctl_lock(ctl) == -1 || load_usercfg_for_edit(ctl) == -1 ||
	    usercfg_acl_remove(&ctl->cfg, a->pos[0], a->pos[1],
	    a->npos > 2 ? a->pos[2] : NULL, ctl->err,
	    sizeof(ctl->err)) == -1 || save_usercfg(ctl) == -1)
		return -1;
	ctl_unlock(ctl);
	return notify_daemon(ctl);
}

/* Print text with control bytes shown as '?'. */
static void
print_text(const char *s)
{
	for (; *s != '\0'; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

static const char *
expire_text(int64_t expire, char *buf, size_t len)
{
	if (expire == 0)
		return "never";
	snprintf(buf, len, "%lld%s", (long long)expire,
	    expire < time(NULL) ? "(expired)" : "");
	return buf;
}

static int
cmd_user_list(struct ctl *ctl, struct ctl_args *a)
{
	const struct usercfg_user	*u;
	char				 exp[64];
	size_t				 i;

	if (load_usercfg(ctl) == -1)
		return -1;
	printf("%-32s %-7s %-22s %s\n", "USERID", "ENABLED", "EXPIRE",
	    "COMMENT");
	for (i = 0; i < ctl->cfg.nusers; i++) {
		u = &ctl->cfg.users[i];
		printf("%-32s %-7s %-22s ", u->userid, u->enabled ? "yes" :
		    "no", expire_text(u->expire, exp, sizeof(exp)));
		print_text(u->comment);
		putchar('\n');
	}
	return 0;
}

static int
cmd_token_list(struct ctl *ctl, struct ctl_args *a)
{
	const struct usercfg_token	*t;
	char				 exp[64];
	const char			*secret;
	size_t				 i;
	int				 have_secrets;

	if (load_usercfg(ctl) == -1)
		return -1;
	if (!(have_secrets = load_secrets(ctl) == 0))
		fprintf(stderr, "mtunnelctl: %s\n", ctl->err);
	printf("%-48s %-7s %-22s %-7s %s\n", "TOKENID", "PRIVSEP", "EXPIRE",
	    "SECRET", "COMMENT");
	for (i = 0; i < ctl->cfg.ntokens; i++) {
		t = &ctl->cfg.tokens[i];
		secret = !have_secrets ? "unknown" :
		    token_secrets_find(&ctl->ts, t->tokenid) ? "stored" :
		    "missing";
		printf("%-48s %-7d %-22s %-7s ", t->tokenid, t->privsep,
		    expire_text(t->expire, exp, sizeof(exp)), secret);
		print_text(t->comment);
		putchar('\n');
	}
	return 0;
}

static int
cmp_acl_entry(const void *a, const void *b)
{
	const struct usercfg_acl	*x = a, *y = b;
	int				 c;

	if ((c = strcmp(x->path, y->path)) != 0 ||
	    (c = strcmp(x->member, y->member)) != 0)
		return c;
	return strcmp(x->role, y->role);
}

static int
cmd_acl_list(struct ctl *ctl, struct ctl_args *a)
{
	const struct usercfg_acl	*e;
	size_t				 i;

	if (load_usercfg(ctl) == -1)
		return -1;
	qsort(ctl->cfg.acls, ctl->cfg.nacls, sizeof(*ctl->cfg.acls),
	    cmp_acl_entry);
	printf("%-32s %-24s %-48s %s\n", "PATH", "ROLE", "MEMBER",
	    "PROPAGATE");
	for (i = 0; i < ctl->cfg.nacls; i++) {
		e = &ctl->cfg.acls[i];
		printf("%-32s %-24s %-48s %d\n", e->path, e->role, e->member,
		    e->propagate);
	}
	return 0;
}

/* The configured tls-cert, else STATE-DIR/cert.pem as the daemon uses. */
static int
cmd_cert_fingerprint(struct ctl *ctl, struct ctl_args *a)
{
	char	 path[PATH_MAX], fp[CERT_FINGERPRINT_LEN];

	if (ctl->conf.tls_cert[0] != '\0')
		strlcpy(path, ctl->conf.tls_cert, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s/cert.pem",
		    ctl->conf.statedir);
	if (cert_fingerprint_file(path, fp, sizeof(fp), ctl->err,
	    sizeof(ctl->err)) == -1)
		return -1;
	printf("%s\n", fp);
	return 0;
}

/* A VMID as the daemon accepts it: digits, VMID_MIN to VMID_MAX. */
static int
parse_vmid(const char *s, uint32_t *vmid)
{
	unsigned long long	 v;
	char			*end;

	if (*s < '1' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < VMID_MIN || v > VMID_MAX)
		return -1;
	*vmid = (uint32_t)v;
	return 0;
}

/*
 * The value of the "lock:" line in the main section of a VM config (up
 * to the first "[section]" line), "" when there is none.
 */
static void
config_lock_value(const char *text, char *out, size_t outlen)
{
	const char	*p, *nl, *v;
	size_t		 n;

	out[0] = '\0';
	for (p = text; *p != '\0' && *p != '['; p = nl + 1) {
		nl = strchrnul(p, '\n');
		if (strncmp(p, "lock:", 5) == 0) {
			for (v = p + 5; *v == ' ' || *v == '\t'; v++)
				;
			for (n = nl - v; n > 0 && (v[n - 1] == ' ' ||
			    v[n - 1] == '\t' || v[n - 1] == '\r'); n--)
				;
			snprintf(out, outlen, "%.*s", (int)n, v);
			return;
		}
		if (*nl == '\0')
			break;
	}
}

/* Read the lock of the config at path into lock. */
static int
read_config_lock(struct ctl *ctl, const char *path, char *lock,
    size_t locklen)
{
	char	*text;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return ctl_fail(ctl, "cannot open config %s: %s%s", path,
		    strerror(errno), errno == ENOENT ? "; check the VMID" :
		    "");
	if ((text = malloc(CTL_CONFIG_MAX + 1)) == NULL) {
		close(fd);
		return ctl_fail(ctl, "out of memory");
	}
	n = read(fd, text, CTL_CONFIG_MAX);
	close(fd);
	if (n == -1) {
		free(text);
		return ctl_fail(ctl, "cannot read config %s: %s", path,
		    strerror(errno));
	}
	text[n] = '\0';
	config_lock_value(text, lock, locklen);
	free(text);
	return 0;
}

/* Whether one NUL-separated cmdline of len bytes contains needle. */
static int
cmdline_contains(const char *buf, size_t len, const char *needle)
{
	size_t	 off;

	for (off = 0; off < len; off += strlen(buf + off) + 1)
		if (strstr(buf + off, needle) != NULL)
			return 1;
	return 0;
}

/*
 * The pid of a process with an argument that contains needle, 0 when
 * there is none, or -1 when /proc cannot be read.
 */
static pid_t
find_process_with_arg(const char *needle)
{
	static char	 buf[CTL_CMDLINE_MAX + 1];
	char		 path[64];
	struct dirent	*de;
	DIR		*dir;
	ssize_t		 n;
	pid_t		 pid, found = 0;
	int		 fd;

	if ((dir = opendir("/proc")) == NULL)
		return -1;
	while (found == 0 && (de = readdir(dir)) != NULL) {
		if ((pid = (pid_t)strtol(de->d_name, NULL, 10)) <= 0 ||
		    pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;	/* the process has gone */
		n = read(fd, buf, CTL_CMDLINE_MAX);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (cmdline_contains(buf, n, needle))
			found = pid;
	}
	closedir(dir);
	return found;
}

/*
 * Refuse while a QEMU for vmid may run.  No QEMU runtime exists yet, so
 * this looks for any process with an argument containing
 * "RUN-DIR/VMID/", the socket directory a QEMU for vmid would use for its
 * QMP and NBD sockets.
 * NOTE: a QEMU started with other socket paths is not detected.
 */
static int
check_no_qemu(struct ctl *ctl, uint32_t vmid)
{
	char	 needle[CTL_PATH_MAX];
	pid_t	 pid;

	snprintf(needle, sizeof(needle), "%s/%u/", ctl->conf.rundir, vmid);
	if ((pid = find_process_with_arg(needle)) == -1)
		return ctl_fail(ctl, "cannot read /proc: %s; mount it to "
		    "check that no QEMU for vmid %u runs", strerror(errno),
		    vmid);
	if (pid > 0)
		return ctl_fail(ctl, "vmid %u: process %ld has an argument "
		    "containing %s, so a QEMU for it may run; stop it first",
		    vmid, (long)pid, needle);
	return 0;
}

/*
 * Remove the sockets in RUN-DIR/VMID, then the directory if it is empty.
 * Symbolic links and other files are left and reported.
 */
static int
remove_socket_dir(struct ctl *ctl, uint32_t vmid)
{
	char		 dir[CTL_PATH_MAX];
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	int		 fd, kept = 0;

	snprintf(dir, sizeof(dir), "%s/%u", ctl->conf.rundir, vmid);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		return ctl_fail(ctl, "cannot open socket directory %s: %s",
		    dir, strerror(errno));
	}
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return ctl_fail(ctl, "%s: %s", dir, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISSOCK(st.st_mode) && unlinkat(fd, de->d_name, 0) == 0)
			printf("removed socket %s/%s\n", dir, de->d_name);
		else {
			fprintf(stderr, "mtunnelctl: kept %s/%s: not a "
			    "socket, or it cannot be removed\n", dir,
			    de->d_name);
			kept++;
		}
	}
	closedir(d);
	if (kept > 0)
		return ctl_fail(ctl, "socket directory %s kept: it contains "
		    "%d files that are not sockets; remove them by hand",
		    dir, kept);
	if (rmdir(dir) == -1)
		return ctl_fail(ctl, "cannot remove %s: %s", dir,
		    strerror(errno));
	printf("removed socket directory %s\n", dir);
	return 0;
}

/*
 * With a journal, the daemon owns the cleanup, so this only points to it.
 * Returns 1 when the journal exists.
 */
static int
has_journal(struct ctl *ctl, uint32_t vmid)
{
	char		 path[CTL_PATH_MAX];
	struct stat	 st;

	snprintf(path, sizeof(path), "%s/journal/%u", ctl->conf.statedir,
	    vmid);
	if (lstat(path, &st) == -1)
		return 0;
	fprintf(stderr, "mtunnelctl: vmid %u has a journal, %s, so mtunneld "
	    "removes what the migration created: a running daemon replays "
	    "journals at its start or cleans up when the migration ends, a "
	    "stopped one at its next start; nothing was removed\n", vmid,
	    path);
	return 1;
}

/*
 * Remove what an incoming migration left without a journal: the config
 * locked "create" or "migrate" and the socket directory.  Volumes are
 * not removed, because only a journal records which ones the migration
 * created.
 */
static int
cmd_cleanup(struct ctl *ctl, struct ctl_args *a)
{
	char		 conf[CTL_PATH_MAX], lockpath[CTL_PATH_MAX], lock[64];
	uint32_t	 vmid;

	if (parse_vmid(a->pos[0], &vmid) == -1)
		return ctl_fail(ctl, "invalid VMID '%s': expected a number "
		    "from %d to %u", a->pos[0], VMID_MIN, VMID_MAX);
	if (has_journal(ctl, vmid))
		return -1;	/* has_journal printed why */
	/* Without a run directory no daemon runs that could hold the lock. */
	snprintf(lockpath, sizeof(lockpath), "%s/lock-%u.conf",
	    ctl->conf.rundir, vmid);
	if (access(ctl->conf.rundir, F_OK) == 0 && lock_wait(ctl, lockpath,
	    "mtunneld is working on this VMID") == -1)
		return -1;
	snprintf(conf, sizeof(conf), "%s/qemu-server/%u.conf",
	    ctl->conf.confdir, vmid);
	if (read_config_lock(ctl, conf, lock, sizeof(lock)) == -1)
		return -1;
	if (strcmp(lock, "create") != 0 && strcmp(lock, "migrate") != 0)
		return ctl_fail(ctl, "config %s has %s%s%s, not 'lock: "
		    "create' or 'lock: migrate', so no migration left it; "
		    "nothing was removed", conf, lock[0] ? "'lock: " :
		    "no lock", lock, lock[0] ? "'" : "");
	if (check_no_qemu(ctl, vmid) == -1)
		return -1;
	if (unlink(conf) == -1)
		return ctl_fail(ctl, "cannot remove %s: %s", conf,
		    strerror(errno));
	printf("removed config %s\n", conf);
	if (remove_socket_dir(ctl, vmid) == -1)
		return -1;
	fprintf(stderr, "mtunnelctl: volumes of vmid %u are not removed "
	    "without a journal; check images/%u on each storage\n", vmid,
	    vmid);
	return 0;
}

/* Commands that run or describe a VM, in ctl/vm.c. */
static int
is_vm_command(const char *word)
{
	return strcmp(word, "qemu-cmdline") == 0 ||
	    strcmp(word, "start") == 0 || strcmp(word, "stop") == 0;
}

int
main(int argc, char *argv[])
{
	struct ctl			 ctl;
	struct ctl_args			 args;
	const struct ctl_command	*cmd;
	const char			*file = NULL, *prefix = NULL;
	int				 ch, rv, nwords;

	log_init(1, 0, "mtunnelctl");
	while ((ch = getopt(argc, argv, "+f:p:h")) != -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 'p':
			prefix = optarg;
			break;
		default:
			usage(NULL);
		}
	}
	argc -= optind;
	argv += optind;

	memset(&ctl, 0, sizeof(ctl));
	ctl.lockfd = -1;
	if (argc >= 1 && is_vm_command(argv[0])) {
		load_conf(&ctl, file, prefix);
		return ctl_vm_main(&ctl.conf, argc, argv);
	}
	if (argc >= 1 && strcmp(argv[0], "audit") == 0) {
		load_conf(&ctl, file, prefix);
		return ctl_audit_main(&ctl.conf, argc, argv);
	}

	cmd = find_command(argc, argv, &nwords);
	parse_args(cmd, &args, argc - nwords, argv + nwords);

	usercfg_init(&ctl.cfg);
	token_secrets_init(&ctl.ts);
	load_conf(&ctl, file, prefix);

	rv = cmd->run(&ctl, &args);
	if (rv == -1 && ctl.err[0] != '\0')
		fprintf(stderr, "mtunnelctl: %s\n", ctl.err);
	ctl_unlock(&ctl);
	usercfg_free(&ctl.cfg);
	token_secrets_free(&ctl.ts);
	if (fflush(stdout) == EOF)
		rv = -1;
	return rv == -1 ? 1 : 0;
}
