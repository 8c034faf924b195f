/*
 * The migration's real sockets, in <rundir>/<vmid>/ (root, 0700).  The
 * directory is opened once without following symlinks and every name is
 * handled relative to it, so a planted symlink never redirects a bind or
 * an unlink.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"

static int	sock_rootfd = -1;	/* "/", to return after fchdir */

static const char *const sock_suffix[] = {
	[SOCKET_MTUNNEL] = ".mtunnel",
	[SOCKET_MIGRATE] = ".migrate",
	[SOCKET_NBD] = "_nbd.migrate",
	[SOCKET_STORAGE] = ".storage",
};

#define SOCK_NKINDS	(sizeof(sock_suffix) / sizeof(sock_suffix[0]))

void
sock_init(void)
{
	if ((sock_rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		fatal("open /");
}

int
sock_name(uint32_t vmid, uint32_t kind, char *out, size_t outlen)
{
	if (kind >= SOCK_NKINDS)
		return -1;
	if ((size_t)snprintf(out, outlen, "%u%s", vmid, sock_suffix[kind]) >=
	    outlen)
		return -1;
	return 0;
}

/* Open <rundir>/<vmid>, creating it root-only; refuse anything else. */
int
sock_open_dir(const char *rundir, uint32_t vmid, int create, char *msg,
    size_t msglen)
{
	struct stat	 st;
	char		 name[16];
	int		 rfd, dfd;

	snprintf(name, sizeof(name), "%u", vmid);
	if ((rfd = open(rundir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		snprintf(msg, msglen, "%s: %s", rundir, strerror(errno));
		return -1;
	}
	if (create && mkdirat(rfd, name, 0700) == -1 && errno != EEXIST) {
		snprintf(msg, msglen, "mkdir %s/%s: %s", rundir, name,
		    strerror(errno));
		close(rfd);
		return -1;
	}
	dfd = openat(rfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	close(rfd);
	if (dfd == -1) {
		snprintf(msg, msglen, "%s/%s: %s", rundir, name,
		    strerror(errno));
		return -1;
	}
	if (fstat(dfd, &st) == -1 || st.st_uid != 0 ||
	    (st.st_mode & 07777) != 0700) {
		snprintf(msg, msglen, "%s/%s: must be a directory owned by "
		    "root with mode 0700", rundir, name);
		close(dfd);
		return -1;
	}
	return dfd;
}

/* Remove a stale socket; refuse to touch anything that is not one. */
static int
sock_clear(int dfd, const char *name, char *msg, size_t msglen)
{
	struct stat	 st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(msg, msglen, "%s: %s", name, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(msg, msglen, "%s is not a socket; refusing to "
		    "replace it", name);
		return -1;
	}
	if (unlinkat(dfd, name, 0) == -1) {
		snprintf(msg, msglen, "unlink %s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

static int
sock_bind_at(int dfd, const char *name, int backlog, char *msg,
    size_t msglen)
{
	struct sockaddr_un	 sun;
	int			 fd, rv;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strncpy(sun.sun_path, name, sizeof(sun.sun_path) - 1);

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(msg, msglen, "socket: %s", strerror(errno));
		return -1;
	}
	/* bind() has no *at() form: bind relative to the opened directory. */
	if (fchdir(dfd) == -1) {
		snprintf(msg, msglen, "fchdir: %s", strerror(errno));
		close(fd);
		return -1;
	}
	rv = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	if (rv == -1)
		snprintf(msg, msglen, "bind %s: %s", name, strerror(errno));
	if (fchdir(sock_rootfd) == -1)
		fatal("fchdir /");
	if (rv == -1 || listen(fd, backlog) == -1) {
		if (rv != -1)
			snprintf(msg, msglen, "listen %s: %s", name,
			    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Create the listening socket of one kind for vmid.  Returns the
 * descriptor, or -1 with msg set.
 */
int
sock_create(const char *rundir, uint32_t vmid, uint32_t kind, char *msg,
    size_t msglen)
{
	char	 name[32];
	int	 dfd, fd;

	if (sock_name(vmid, kind, name, sizeof(name)) == -1) {
		snprintf(msg, msglen, "unknown socket kind %u", kind);
		return -1;
	}
	if ((dfd = sock_open_dir(rundir, vmid, 1, msg, msglen)) == -1)
		return -1;
	if (sock_clear(dfd, name, msg, msglen) == -1) {
		close(dfd);
		return -1;
	}
	fd = sock_bind_at(dfd, name, kind == SOCKET_MTUNNEL ? 1 : 16, msg,
	    msglen);
	close(dfd);
	if (fd != -1)
		log_info("vmid %u: listening on %s/%u/%s", vmid, rundir, vmid,
		    name);
	return fd;
}

/* Remove the socket of one kind of vmid, if it is there. */
void
sock_remove(const char *rundir, uint32_t vmid, uint32_t kind)
{
	char	 name[32], msg[256];
	int	 dfd;

	if (sock_name(vmid, kind, name, sizeof(name)) == -1 ||
	    (dfd = sock_open_dir(rundir, vmid, 0, msg, sizeof(msg))) == -1)
		return;
	if (sock_clear(dfd, name, msg, sizeof(msg)) == -1)
		log_warnx("vmid %u: %s", vmid, msg);
	close(dfd);
}

/* Remove every socket of vmid and its directory. */
void
sock_remove_all(const char *rundir, uint32_t vmid)
{
	char	 name[32], msg[256];
	int	 dfd, rfd;
	size_t	 kind;

	if ((dfd = sock_open_dir(rundir, vmid, 0, msg, sizeof(msg))) == -1)
		return;
	for (kind = 0; kind < SOCK_NKINDS; kind++) {
		if (sock_name(vmid, kind, name, sizeof(name)) == 0 &&
		    sock_clear(dfd, name, msg, sizeof(msg)) == -1)
			log_warnx("vmid %u: %s", vmid, msg);
	}
	close(dfd);
	qemu_remove_files(vmid);

	snprintf(name, sizeof(name), "%u", vmid);
	if ((rfd = open(rundir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return;
	/* A VM that runs here keeps its QMP socket and pid file. */
	if (unlinkat(rfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT &&
	    errno != ENOTEMPTY)
		log_warn("vmid %u: rmdir %s/%s", vmid, rundir, name);
	close(rfd);
}
