/*
 * VM config files: create-and-lock of the empty placeholder a migration
 * starts with, and its removal.  Every operation holds the per-VMID lock
 * file in the run directory.
 */

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"

#define PLACEHOLDER		"lock: create\n"
#define LOCK_TIMEOUT_MS		5000
#define LOCK_RETRY_MS		20

static int
open_dir(const char *path, int create, char *msg, size_t msglen)
{
	struct stat	 st;
	int		 fd;

	if (create && mkdir(path, 0755) == -1 && errno != EEXIST) {
		snprintf(msg, msglen, "mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(msg, msglen, "%s: must be a directory owned by root "
		    "and not writable by others", path);
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Take the per-VMID lock, waiting at most LOCK_TIMEOUT_MS.  Returns the
 * lock descriptor; closing it releases the lock.
 */
int
config_lock(const char *rundir, uint32_t vmid, char *msg, size_t msglen)
{
	struct timespec	 pause = { 0, LOCK_RETRY_MS * 1000000L };
	char		 path[PATH_MAX_PRIV];
	int		 fd, waited;

	snprintf(path, sizeof(path), "%s/lock-%u.conf", rundir, vmid);
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* TODO: wait in a child of priv so that one VMID never blocks all. */
	for (waited = 0; flock(fd, LOCK_EX | LOCK_NB) == -1;
	    waited += LOCK_RETRY_MS) {
		if (errno != EWOULDBLOCK || waited >= LOCK_TIMEOUT_MS) {
			snprintf(msg, msglen, "can't lock file '%s' - "
			    "timeout waiting for lock", path);
			close(fd);
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	return fd;
}

static int
sync_dir(int dfd, const char *name, char *msg, size_t msglen)
{
	if (fsync(dfd) == -1) {
		snprintf(msg, msglen, "fsync %s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Create <confdir>/qemu-server/<vmid>.conf holding only "lock: create".
 * O_EXCL makes a VMID that exists fail, and two racing creators cannot
 * both win.  Returns 0, or an errno with msg set (EEXIST: VM exists).
 */
int
config_create(const char *confdir, const char *rundir, uint32_t vmid,
    char *msg, size_t msglen)
{
	char	 dir[PATH_MAX_PRIV], name[32];
	int	 dfd, fd, lockfd, rv = 0;
	ssize_t	 len = sizeof(PLACEHOLDER) - 1;

	snprintf(dir, sizeof(dir), "%s/qemu-server", confdir);
	snprintf(name, sizeof(name), "%u.conf", vmid);
	if ((lockfd = config_lock(rundir, vmid, msg, msglen)) == -1)
		return EAGAIN;
	if ((dfd = open_dir(dir, 1, msg, msglen)) == -1) {
		close(lockfd);
		return EIO;
	}

	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	if (fd == -1) {
		rv = errno;
		if (rv == EEXIST)
			snprintf(msg, msglen, "VM %u already exists", vmid);
		else
			snprintf(msg, msglen, "%s/%s: %s", dir, name,
			    strerror(rv));
	} else if (write(fd, PLACEHOLDER, len) != len || fsync(fd) == -1) {
		rv = errno ? errno : EIO;
		snprintf(msg, msglen, "%s/%s: %s", dir, name, strerror(rv));
		unlinkat(dfd, name, 0);
	} else if (sync_dir(dfd, dir, msg, msglen) == -1)
		rv = EIO;

	if (fd != -1)
		close(fd);
	close(dfd);
	close(lockfd);
	return rv;
}

/*
 * Remove the config of vmid if it is still exactly the placeholder.  A
 * config with anything else in it is left alone and logged: only the
 * journal may say that a migration wrote it.
 */
int
config_destroy_placeholder(const char *confdir, const char *rundir,
    uint32_t vmid)
{
	char	 dir[PATH_MAX_PRIV], name[32], buf[sizeof(PLACEHOLDER) + 1];
	char	 msg[256];
	int	 dfd, fd, lockfd, rv = -1;
	ssize_t	 n;

	snprintf(dir, sizeof(dir), "%s/qemu-server", confdir);
	snprintf(name, sizeof(name), "%u.conf", vmid);
	if ((lockfd = config_lock(rundir, vmid, msg, sizeof(msg))) == -1 ||
	    (dfd = open_dir(dir, 0, msg, sizeof(msg))) == -1) {
		log_warnx("vmid %u: %s", vmid, msg);
		if (lockfd != -1)
			close(lockfd);
		return -1;
	}

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1) {
		if (errno == ENOENT)
			rv = 0;
		else
			log_warn("vmid %u: %s/%s", vmid, dir, name);
	} else {
		n = read(fd, buf, sizeof(buf));
		close(fd);
		if (n == (ssize_t)sizeof(PLACEHOLDER) - 1 &&
		    memcmp(buf, PLACEHOLDER, n) == 0) {
			if (unlinkat(dfd, name, 0) == 0 &&
			    sync_dir(dfd, dir, msg, sizeof(msg)) == 0) {
				log_info("vmid %u: removed placeholder "
				    "config", vmid);
				rv = 0;
			} else
				log_warn("vmid %u: unlink %s/%s", vmid, dir,
				    name);
		} else
			log_warnx("vmid %u: config %s/%s is more than the "
			    "placeholder; left in place", vmid, dir, name);
	}
	close(dfd);
	close(lockfd);
	return rv;
}
