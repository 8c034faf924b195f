/*
 * The parent's preparations before it forks: users, directories, the
 * listening socket, the pid file and the TLS certificate.
 */

#include <sys/types.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/libutil.h>
#include <bsd/string.h>

#include "cert.h"
#include "log.h"
#include "parent.h"

static int
lookup_user(const char *name, struct ids *ids, char *err, size_t errlen)
{
	struct passwd	*pw;

	errno = 0;
	if ((pw = getpwnam(name)) == NULL) {
		snprintf(err, errlen, "user '%s' not found: create it with "
		    "'useradd --system --no-create-home --shell "
		    "/usr/sbin/nologin %s', or run 'make install'", name,
		    name);
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		snprintf(err, errlen, "user '%s' has uid or gid 0: an "
		    "unprivileged role needs a user of its own", name);
		return -1;
	}
	ids->uid = pw->pw_uid;
	ids->gid = pw->pw_gid;
	return 0;
}

int
setup_users(struct parent *env, char *err, size_t errlen)
{
	const struct mtunneld_conf	*conf = &env->conf;

	if (lookup_user(conf->user, &env->api_ids, err, errlen) == -1 ||
	    lookup_user(conf->tunnel_user, &env->tunnel_ids, err,
	    errlen) == -1 ||
	    lookup_user(conf->qemu_user, &env->qemu_ids, err, errlen) == -1)
		return -1;
	if (env->api_ids.uid == env->tunnel_ids.uid ||
	    env->api_ids.uid == env->qemu_ids.uid ||
	    env->tunnel_ids.uid == env->qemu_ids.uid) {
		snprintf(err, errlen, "user, tunnel-user and qemu-user must "
		    "be three different users");
		return -1;
	}
	return 0;
}

/* Create each missing component of path as a root-owned directory. */
static int
mkdir_p(const char *path, mode_t mode, char *err, size_t errlen)
{
	char	 buf[CONF_PATH_MAX + 1];
	char	*p;

	if (strlcpy(buf, path, sizeof(buf)) >= sizeof(buf)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	for (p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		int last = *p == '\0';
		*p = '\0';
		if (mkdir(buf, last ? mode : 0755) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "mkdir %s: %s", buf,
			    strerror(errno));
			return -1;
		}
		if (last)
			break;
		*p = '/';
	}
	return 0;
}

static int
check_empty(const char *path, char *err, size_t errlen)
{
	struct dirent	*de;
	DIR		*dir;
	int		 rv = 0;

	if ((dir = opendir(path)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(err, errlen, "empty-dir %s holds '%s': the chroot "
		    "of the unprivileged roles must be empty", path,
		    de->d_name);
		rv = -1;
		break;
	}
	closedir(dir);
	return rv;
}

int
setup_dirs(const struct mtunneld_conf *conf, char *err, size_t errlen)
{
	char	 dir[CONF_PATH_MAX + 1];

	strlcpy(dir, conf->audit_log, sizeof(dir));
	if (strrchr(dir, '/') != NULL && strrchr(dir, '/') != dir)
		*strrchr(dir, '/') = '\0';

	if (mkdir_p(conf->confdir, 0755, err, errlen) == -1 ||
	    mkdir_p(conf->statedir, 0755, err, errlen) == -1 ||
	    mkdir_p(conf->rundir, 0755, err, errlen) == -1 ||
	    mkdir_p(conf->emptydir, 0555, err, errlen) == -1 ||
	    mkdir_p(dir, 0700, err, errlen) == -1)
		return -1;
	return check_empty(conf->emptydir, err, errlen);
}

static int
listen_on(int family, const char *addr, uint16_t port, char *err,
    size_t errlen)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len;
	int			 fd, on = 1, off = 0;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		if (strcmp(addr, "*") == 0)
			sin->sin_addr.s_addr = htonl(INADDR_ANY);
		else
			inet_pton(AF_INET, addr, &sin->sin_addr);
		len = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		if (strcmp(addr, "*") == 0)
			sin6->sin6_addr = in6addr_any;
		else
			inet_pton(AF_INET6, addr, &sin6->sin6_addr);
		len = sizeof(*sin6);
	}

	if ((fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (family == AF_INET6 && strcmp(addr, "*") == 0)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));

	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 128) == -1) {
		snprintf(err, errlen, "listen on %s port %u: %s; change "
		    "'listen' or 'port'", addr, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Open the TCP listener the api workers share.  "*" is dual-stack IPv6,
 * or IPv4 alone on a host without IPv6.
 */
int
setup_listener(const struct mtunneld_conf *conf, char *err, size_t errlen)
{
	struct in_addr	 a4;
	int		 fd;

	if (inet_pton(AF_INET, conf->listen, &a4) == 1)
		return listen_on(AF_INET, conf->listen, conf->port, err,
		    errlen);
	fd = listen_on(AF_INET6, conf->listen, conf->port, err, errlen);
	if (fd == -1 && strcmp(conf->listen, "*") == 0)
		fd = listen_on(AF_INET, "*", conf->port, err, errlen);
	return fd;
}

/*
 * Open and lock the pid file with libbsd's pidfile(3), so that a second
 * daemon on the same run-dir stops with a clear error.
 */
struct pidfh *
pid_file_open(const struct mtunneld_conf *conf, char *err, size_t errlen)
{
	struct pidfh	*pfh;
	char		 path[CONF_PATH_MAX + 32];
	pid_t		 other = -1;

	snprintf(path, sizeof(path), "%s/mtunneld.pid", conf->rundir);
	if ((pfh = pidfile_open(path, 0644, &other)) != NULL)
		return pfh;
	if (errno == EEXIST)
		snprintf(err, errlen, "mtunneld is already running on run-dir "
		    "%s (pid %ld); stop it first", conf->rundir, (long)other);
	else
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return NULL;
}

/*
 * Load the TLS certificate and key.  Without tls-cert and tls-key in the
 * config, use STATE-DIR/cert.pem and key.pem, created self-signed at the
 * first start.  The fingerprint is logged in the form sources pin.
 */
int
setup_tls(struct parent *env, char *err, size_t errlen)
{
	struct mtunneld_conf	*conf = &env->conf;
	char			 cert[CONF_PATH_MAX + 16];
	char			 key[CONF_PATH_MAX + 16];
	struct stat		 st;

	if ((conf->tls_cert[0] == '\0') != (conf->tls_key[0] == '\0')) {
		snprintf(err, errlen, "set both tls-cert and tls-key, or "
		    "neither");
		return -1;
	}
	if (conf->tls_cert[0] != '\0') {
		strlcpy(cert, conf->tls_cert, sizeof(cert));
		strlcpy(key, conf->tls_key, sizeof(key));
	} else {
		snprintf(cert, sizeof(cert), "%s/cert.pem", conf->statedir);
		snprintf(key, sizeof(key), "%s/key.pem", conf->statedir);
		if (stat(cert, &st) == -1 && errno == ENOENT) {
			if (cert_create_selfsigned(cert, key, conf->node, err,
			    errlen) == -1)
				return -1;
			log_info("created a self-signed certificate %s",
			    cert);
		}
	}

	if (cert_load_pair(cert, key, &env->cert_pem, &env->cert_len,
	    &env->key_pem, &env->key_len, err, errlen) == -1 ||
	    cert_fingerprint_pem(env->cert_pem, env->cert_len,
	    env->fingerprint, sizeof(env->fingerprint), err, errlen) == -1)
		return -1;
	log_info("TLS certificate %s, fingerprint %s", cert,
	    env->fingerprint);
	return 0;
}
