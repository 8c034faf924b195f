/*
 * VM config files and VM firewall files: create-and-lock of the empty
 * placeholder a migration starts with, reading and changing its lock
 * property, atomic replacement, and removal.  Callers hold the per-VMID
 * lock file in the run directory (config_lock_try) around each of these.
 */

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"
#include "priv.h"
#include "vmconfig.h"

#define PLACEHOLDER		"lock: create\n"
#define CONFIG_MODE		0640
#define FIREWALL_MODE		0640

/* lock values of a VM config, as the qemu-server schema lists them. */
static const char *const vm_lock_values[] = {
	"backup", "clone", "create", "migrate", "rollback", "snapshot",
	"snapshot-delete", "suspending", "suspended",
};

int
valid_vm_lock(const char *lock)
{
	size_t	 i;

	for (i = 0; i < sizeof(vm_lock_values) / sizeof(vm_lock_values[0]);
	    i++)
		if (strcmp(lock, vm_lock_values[i]) == 0)
			return 1;
	return 0;
}

void
config_path(const char *confdir, uint32_t vmid, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/qemu-server/%u.conf", confdir, vmid);
}

void
firewall_path(const char *confdir, uint32_t vmid, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/firewall/%u.fw", confdir, vmid);
}

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

static int
open_subdir(const char *confdir, const char *sub, int create, char *msg,
    size_t msglen)
{
	char	 dir[PATH_MAX_PRIV];

	snprintf(dir, sizeof(dir), "%s/%s", confdir, sub);
	return open_dir(dir, create, msg, msglen);
}

/*
 * Try to take the per-VMID lock without waiting.  Returns 0 with *lockfd
 * set (closing it releases the lock), 1 when another holder has it, or
 * -1 with msg set.
 */
int
config_lock_try(const char *rundir, uint32_t vmid, int *lockfd, char *msg,
    size_t msglen)
{
	char	 path[PATH_MAX_PRIV];
	int	 fd;

	snprintf(path, sizeof(path), "%s/lock-%u.conf", rundir, vmid);
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1) {
		snprintf(msg, msglen, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK) {
			snprintf(msg, msglen, "can't lock file '%s' - "
			    "timeout waiting for lock\n", path);
			close(fd);
			return 1;
		}
		snprintf(msg, msglen, "flock %s: %s\n", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	*lockfd = fd;
	return 0;
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
config_create(const char *confdir, uint32_t vmid, char *msg, size_t msglen)
{
	char	 name[32];
	int	 dfd, fd, rv = 0;
	ssize_t	 len = sizeof(PLACEHOLDER) - 1;

	snprintf(name, sizeof(name), "%u.conf", vmid);
	if ((dfd = open_subdir(confdir, "qemu-server", 1, msg, msglen)) == -1)
		return EIO;

	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, CONFIG_MODE);
	if (fd == -1) {
		rv = errno;
		if (rv == EEXIST)
			snprintf(msg, msglen, "VM %u already exists", vmid);
		else
			snprintf(msg, msglen, "%s/qemu-server/%s: %s",
			    confdir, name, strerror(rv));
	} else if (write(fd, PLACEHOLDER, len) != len || fsync(fd) == -1) {
		rv = errno ? errno : EIO;
		snprintf(msg, msglen, "%s/qemu-server/%s: %s", confdir, name,
		    strerror(rv));
		unlinkat(dfd, name, 0);
	} else if (sync_dir(dfd, confdir, msg, msglen) == -1)
		rv = EIO;

	if (fd != -1)
		close(fd);
	close(dfd);
	return rv;
}

static int
read_file_at(int dfd, const char *name, size_t max, char **out,
    size_t *outlen)
{
	struct stat	 st;
	char		*buf;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd, e;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > max) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	if ((buf = malloc(st.st_size + 1)) == NULL) {
		close(fd);
		return -1;
	}
	while (off < (size_t)st.st_size &&
	    (n = read(fd, buf + off, st.st_size - off)) > 0)
		off += n;
	e = errno;
	close(fd);
	if (off != (size_t)st.st_size) {
		free(buf);
		errno = e ? e : EIO;
		return -1;
	}
	buf[off] = '\0';
	*out = buf;
	*outlen = off;
	return 0;
}

/*
 * Read the config of vmid into a malloc'd, NUL-terminated buffer.
 * Returns 0, or an errno with msg set in the words the source shows.
 */
int
config_read(const char *confdir, uint32_t vmid, char **text, size_t *len,
    char *msg, size_t msglen)
{
	char	 name[32], path[PATH_MAX_PRIV];
	int	 dfd, rv = 0;

	config_path(confdir, vmid, path, sizeof(path));
	snprintf(name, sizeof(name), "%u.conf", vmid);
	if ((dfd = open_subdir(confdir, "qemu-server", 0, msg, msglen)) ==
	    -1) {
		snprintf(msg, msglen, "Configuration file '%s' does not "
		    "exist\n", path);
		return ENOENT;
	}
	if (read_file_at(dfd, name, CONFIG_TEXT_MAX, text, len) == -1) {
		rv = errno;
		if (rv == ENOENT)
			snprintf(msg, msglen, "Configuration file '%s' does "
			    "not exist\n", path);
		else
			snprintf(msg, msglen, "unable to read '%s': %s\n",
			    path, strerror(rv));
	}
	close(dfd);
	return rv;
}

/* Length of the main section: up to the first line that opens one. */
static size_t
main_section_len(const char *text, size_t len)
{
	const char	*p = text, *nl;

	while (p < text + len) {
		if (*p == '[')
			return p - text;
		if ((nl = memchr(p, '\n', text + len - p)) == NULL)
			break;
		p = nl + 1;
	}
	return len;
}

/*
 * If the line [p, end) is "<key>:<value>", store the key length and the
 * trimmed value span.  Returns 0, or -1 for any other line.
 */
static int
line_key(const char *p, const char *end, size_t *keylen, const char **val,
    size_t *vallen)
{
	const char	*c = p;

	if (c >= end || *c < 'a' || *c > 'z')
		return -1;
	while (c < end && *c != ':' && *c != ' ')
		c++;
	if (c >= end || *c != ':')
		return -1;
	*keylen = c - p;
	for (c++; c < end && (*c == ' ' || *c == '\t'); c++)
		;
	*val = c;
	for (c = end; c > *val && (c[-1] == ' ' || c[-1] == '\t' ||
	    c[-1] == '\r'); c--)
		;
	*vallen = c - *val;
	return 0;
}

/*
 * The lock property of a config text, "" when there is none.  Returns 0,
 * or -1 when the value does not fit out.
 */
int
config_get_lock(const char *text, size_t len, char *out, size_t outlen)
{
	const char	*p = text, *end = text + main_section_len(text, len);
	const char	*nl, *val;
	size_t		 keylen, vallen;

	out[0] = '\0';
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if (line_key(p, nl, &keylen, &val, &vallen) == 0 &&
		    keylen == 4 && memcmp(p, "lock", 4) == 0) {
			if (vallen >= outlen)
				return -1;
			memcpy(out, val, vallen);
			out[vallen] = '\0';
			return 0;
		}
	}
	return 0;
}

/* Compare a key of keylen bytes with s bytewise, as strcmp does. */
static int
key_cmp(const char *key, size_t keylen, const char *s)
{
	size_t	 slen = strlen(s);
	int	 c;

	c = memcmp(key, s, keylen < slen ? keylen : slen);
	if (c != 0)
		return c;
	return keylen < slen ? -1 : keylen > slen;
}

/* Copy the main section of text without its lock lines, then the rest. */
static size_t
strip_lock_lines(const char *text, size_t len, char *out)
{
	const char	*p = text, *end = text + main_section_len(text, len);
	const char	*nl, *next, *val;
	size_t		 keylen, vallen, o = 0;

	for (; p < end; p = next) {
		nl = memchr(p, '\n', end - p);
		next = nl != NULL ? nl + 1 : end;
		if (line_key(p, nl != NULL ? nl : end, &keylen, &val,
		    &vallen) == 0 && key_cmp(p, keylen, "lock") == 0)
			continue;
		memcpy(out + o, p, next - p);
		o += next - p;
	}
	memcpy(out + o, end, text + len - end);
	return o + (text + len - end);
}

/*
 * Where the writer puts a lock line: before the first key of the main
 * section that sorts after "lock", else after its last non-blank line.
 */
static size_t
lock_line_offset(const char *text, size_t len)
{
	const char	*p = text, *end = text + main_section_len(text, len);
	const char	*nl, *next, *val, *c;
	size_t		 keylen, vallen, after = 0;

	for (; p < end; p = next) {
		nl = memchr(p, '\n', end - p);
		next = nl != NULL ? nl + 1 : end;
		if (line_key(p, nl != NULL ? nl : end, &keylen, &val,
		    &vallen) == 0 && key_cmp(p, keylen, "lock") > 0)
			return p - text;
		for (c = p; c < next && (*c == ' ' || *c == '\t' ||
		    *c == '\n' || *c == '\r'); c++)
			;
		if (c < next)
			after = next - text;
	}
	return after;
}

/*
 * Copy text with its lock line set to "lock: <lock>", or removed for "".
 * Returns 0 with *out malloc'd and NUL-terminated, or -1 when memory runs
 * out.
 */
int
config_set_lock(const char *text, size_t len, const char *lock, char **out,
    size_t *outlen)
{
	char	*stripped, *buf;
	size_t	 n, at, o;

	if ((stripped = malloc(len + 1)) == NULL)
		return -1;
	n = strip_lock_lines(text, len, stripped);
	if ((buf = malloc(n + strlen(lock) + 16)) == NULL) {
		free(stripped);
		return -1;
	}
	at = lock[0] == '\0' ? n : lock_line_offset(stripped, n);
	memcpy(buf, stripped, at);
	o = at;
	if (lock[0] != '\0') {
		if (at > 0 && buf[at - 1] != '\n')
			buf[o++] = '\n';
		o += sprintf(buf + o, "lock: %s\n", lock);
	}
	memcpy(buf + o, stripped + at, n - at);
	o += n - at;
	buf[o] = '\0';
	free(stripped);
	*out = buf;
	*outlen = o;
	return 0;
}

/*
 * Replace <dir>/<name> by text through a temporary file in the same
 * directory: write, fsync, rename, fsync the directory.  A reader sees
 * the old file or the new one, never a part.
 */
static int
replace_at(int dfd, const char *dir, const char *name, const char *text,
    size_t len, mode_t mode, char *msg, size_t msglen)
{
	char	 tmp[64];
	ssize_t	 n;
	size_t	 off = 0;
	int	 fd;

	snprintf(tmp, sizeof(tmp), ".%s.new", name);
	if (unlinkat(dfd, tmp, 0) == -1 && errno != ENOENT) {
		snprintf(msg, msglen, "%s/%s: %s", dir, tmp, strerror(errno));
		return -1;
	}
	if ((fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode)) == -1) {
		snprintf(msg, msglen, "%s/%s: %s", dir, tmp, strerror(errno));
		return -1;
	}
	while (off < len && (n = write(fd, text + off, len - off)) > 0)
		off += n;
	if (off != len || fsync(fd) == -1) {
		snprintf(msg, msglen, "write %s/%s: %s", dir, tmp,
		    strerror(errno ? errno : EIO));
		close(fd);
		unlinkat(dfd, tmp, 0);
		return -1;
	}
	close(fd);
	if (renameat(dfd, tmp, dfd, name) == -1) {
		snprintf(msg, msglen, "rename %s/%s: %s", dir, tmp,
		    strerror(errno));
		unlinkat(dfd, tmp, 0);
		return -1;
	}
	return sync_dir(dfd, dir, msg, msglen);
}

static int
replace_in(const char *confdir, const char *sub, const char *name,
    const char *text, size_t len, mode_t mode, char *msg, size_t msglen)
{
	char	 dir[PATH_MAX_PRIV];
	int	 dfd, rv;

	snprintf(dir, sizeof(dir), "%s/%s", confdir, sub);
	if ((dfd = open_dir(dir, 1, msg, msglen)) == -1)
		return -1;
	rv = replace_at(dfd, dir, name, text, len, mode, msg, msglen);
	close(dfd);
	return rv;
}

/* Replace the config of vmid atomically.  Returns 0, or -1 with msg. */
int
config_replace(const char *confdir, uint32_t vmid, const char *text,
    size_t len, char *msg, size_t msglen)
{
	char	 name[32];

	snprintf(name, sizeof(name), "%u.conf", vmid);
	return replace_in(confdir, "qemu-server", name, text, len,
	    CONFIG_MODE, msg, msglen);
}

/* Write the firewall file of vmid atomically, mode 0640. */
int
firewall_replace(const char *confdir, uint32_t vmid, const char *text,
    size_t len, char *msg, size_t msglen)
{
	char	 name[32];

	snprintf(name, sizeof(name), "%u.fw", vmid);
	return replace_in(confdir, "firewall", name, text, len, FIREWALL_MODE,
	    msg, msglen);
}

/* Whether the file contains exactly the placeholder. */
static int
is_placeholder(int dfd, const char *name)
{
	char	*text;
	size_t	 len;
	int	 rv;

	if (read_file_at(dfd, name, sizeof(PLACEHOLDER), &text, &len) == -1)
		return 0;
	rv = len == sizeof(PLACEHOLDER) - 1 &&
	    memcmp(text, PLACEHOLDER, len) == 0;
	free(text);
	return rv;
}

static int
remove_in(const char *confdir, const char *sub, const char *name,
    int placeholder_only, char *msg, size_t msglen)
{
	char	 dir[PATH_MAX_PRIV];
	int	 dfd, rv = 0;

	snprintf(dir, sizeof(dir), "%s/%s", confdir, sub);
	if ((dfd = open_dir(dir, 0, msg, msglen)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (placeholder_only && !is_placeholder(dfd, name)) {
		struct stat	 st;

		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			snprintf(msg, msglen, "%s/%s is more than the "
			    "placeholder; left in place", dir, name);
			rv = 1;
		}
	} else if (unlinkat(dfd, name, 0) == -1 && errno != ENOENT) {
		snprintf(msg, msglen, "unlink %s/%s: %s", dir, name,
		    strerror(errno));
		rv = -1;
	} else
		rv = sync_dir(dfd, dir, msg, msglen);
	close(dfd);
	return rv;
}

/*
 * Remove the config of vmid; with placeholder_only, only while it is
 * still exactly the placeholder.  A config that is already gone counts
 * as removed.  Returns 0, 1 with msg set when a config that is more than
 * the placeholder was left, or -1 with msg set.
 */
int
config_remove(const char *confdir, uint32_t vmid, int placeholder_only,
    char *msg, size_t msglen)
{
	char	 name[32];

	snprintf(name, sizeof(name), "%u.conf", vmid);
	return remove_in(confdir, "qemu-server", name, placeholder_only, msg,
	    msglen);
}

int
firewall_remove(const char *confdir, uint32_t vmid, char *msg,
    size_t msglen)
{
	char	 name[32];

	snprintf(name, sizeof(name), "%u.fw", vmid);
	return remove_in(confdir, "firewall", name, 0, msg, msglen);
}

/*
 * Requests
 */

/* Create-and-lock under the lock, with the journal started first. */
static int
config_create_journaled(uint32_t vmid, char *msg, size_t msglen)
{
	const char	*confdir = priv_config()->confdir;
	int		 rv;

	/* The wording a racing creator gets from the config, too. */
	if (journal_exists(vmid)) {
		log_info("vmid %u: a migration to it is in progress", vmid);
		snprintf(msg, msglen, "VM %u already exists", vmid);
		return EEXIST;
	}
	if (journal_create(vmid, msg, msglen) == -1)
		return EIO;
	if (journal_append(vmid, "config-intent", NULL, NULL) == -1) {
		snprintf(msg, msglen, "unable to write the journal");
		journal_remove(vmid);
		return EIO;
	}
	if ((rv = config_create(confdir, vmid, msg, msglen)) != 0) {
		journal_remove(vmid);
		return rv;
	}
	if (journal_append(vmid, "config-created", NULL, NULL) == -1) {
		snprintf(msg, msglen, "unable to write the journal");
		if (config_remove(confdir, vmid, 1, msg, msglen) != -1)
			journal_remove(vmid);
		return EIO;
	}
	return 0;
}

/* IMSG_PRIV_CONFIG_CREATE: the placeholder config of a new migration. */
void
priv_config_create(const struct imsg *imsg)
{
	struct priv_vmid_req	 req;
	char			 msg[PRIV_MSG_MAX] = "";
	int			 lockfd, rv;

	if (priv_check_vmid(imsg, &req) == -1)
		return;
	if ((rv = priv_lock(req.vmid, &lockfd, msg, sizeof(msg))) == 1)
		return;
	if (rv == 0) {
		rv = config_create_journaled(req.vmid, msg, sizeof(msg));
		close(lockfd);
	} else
		rv = EAGAIN;
	if (rv == 0)
		log_info("vmid %u: created placeholder config", req.vmid);
	else
		priv_log_error(req.vmid, "create config", msg);
	priv_reply_to(imsg, rv, msg);
}

static int
config_lock_request_ok(const struct imsg *imsg, struct priv_config_lock *req)
{
	if (imsg_datalen(imsg) != sizeof(*req))
		fatalx("lock request of %zu bytes", imsg_datalen(imsg));
	memcpy(req, imsg->data, sizeof(*req));
	if (priv_check_stamp(imsg, req->vmid) == -1)
		return 0;
	if (!priv_string_ok(req->expected, sizeof(req->expected)) ||
	    !priv_string_ok(req->newlock, sizeof(req->newlock)) ||
	    (req->op != LOCK_OP_CHECK && req->op != LOCK_OP_SET) ||
	    (req->expected[0] != '\0' && !valid_vm_lock(req->expected)) ||
	    (req->op == LOCK_OP_SET && req->newlock[0] != '\0' &&
	    !valid_vm_lock(req->newlock))) {
		priv_refuse(imsg, "invalid lock request");
		return 0;
	}
	return 1;
}

/* Replace the lock of the config text; journal "unlocked" first. */
static int
config_lock_set(uint32_t vmid, const char *text, size_t len,
    const char *newlock, char *msg, size_t msglen)
{
	char	*out;
	size_t	 outlen;
	int	 rv;

	if (!journal_exists(vmid)) {
		snprintf(msg, msglen, "no migration of VM %u in progress\n",
		    vmid);
		return EPERM;
	}
	/*
	 * Before the change: a crash in between must keep a migrated VM,
	 * never destroy one whose source may already be gone.
	 */
	if (newlock[0] == '\0' &&
	    journal_append(vmid, "unlocked", NULL, NULL) == -1) {
		snprintf(msg, msglen, "unable to write the journal\n");
		return EIO;
	}
	if (config_set_lock(text, len, newlock, &out, &outlen) == -1)
		fatal("lock");
	rv = config_replace(priv_config()->confdir, vmid, out, outlen, msg,
	    msglen);
	free(out);
	if (rv == -1) {
		strlcat(msg, "\n", msglen);
		return EIO;
	}
	return 0;
}

static int
config_lock_locked(const struct priv_config_lock *req, char *msg,
    size_t msglen)
{
	char	*text, lock[LOCK_NAME_MAX];
	size_t	 len;
	int	 rv;

	if ((rv = config_read(priv_config()->confdir, req->vmid, &text, &len,
	    msg, msglen)) != 0)
		return rv;
	if (config_get_lock(text, len, lock, sizeof(lock)) == -1 ||
	    strcmp(lock, req->expected) != 0) {
		log_warnx("vmid %u: config lock is '%s', expected '%s'",
		    req->vmid, lock, req->expected);
		snprintf(msg, msglen, "Encountered wrong lock - aborting "
		    "mtunnel command handling.\n");
		free(text);
		return EBUSY;
	}
	rv = 0;
	if (req->op == LOCK_OP_SET) {
		rv = config_lock_set(req->vmid, text, len, req->newlock, msg,
		    msglen);
		if (rv == 0)
			log_info("vmid %u: config lock '%s' changed to '%s'",
			    req->vmid, req->expected, req->newlock);
	}
	free(text);
	return rv;
}

/* IMSG_PRIV_CONFIG_LOCK: check or change the lock property. */
void
priv_config_lock(const struct imsg *imsg)
{
	struct priv_config_lock	 req;
	char			 msg[PRIV_MSG_MAX] = "";
	int			 lockfd, rv;

	if (!config_lock_request_ok(imsg, &req))
		return;
	if ((rv = priv_lock(req.vmid, &lockfd, msg, sizeof(msg))) == 1)
		return;
	if (rv == 0) {
		rv = config_lock_locked(&req, msg, sizeof(msg));
		close(lockfd);
	} else
		rv = EAGAIN;
	priv_reply_to(imsg, rv, msg);
}

struct drive_check {
	const struct journal	*journal;
	char			*msg;
	size_t			 msglen;
};

/* Only volumes this migration allocated or imported, or an empty CD. */
static int
config_check_drive(const char *key, const struct drive *d, void *arg)
{
	struct drive_check		*c = arg;
	const struct journal_volume	*v;
	const char			*volid = drive_volid(d);

	if (d->file_kind == DRIVE_FILE_NONE)
		return 0;
	if (volid == NULL) {
		snprintf(c->msg, c->msglen, "%s: '%s' is not a volume of "
		    "this migration\n", key, drive_get(d, "file"));
		return 1;
	}
	v = journal_find_volume(c->journal, volid);
	if (v == NULL || (v->state != JVOL_ALLOCATED &&
	    v->state != JVOL_IMPORTED)) {
		snprintf(c->msg, c->msglen, "volume '%s' of %s was not "
		    "allocated or imported by this migration\n", volid, key);
		return 1;
	}
	return 0;
}

/*
 * Parse the config text strictly and check every volume it names against
 * the journal.  Returns the text to write, with "lock: migrate", or NULL
 * with msg set.
 */
static char *
config_checked_text(uint32_t vmid, const struct journal *j, const char *conf,
    size_t conflen, size_t *outlen, char *msg, size_t msglen)
{
	struct vmconfig		 cfg;
	struct drive_check	 c = { j, msg, msglen };
	char			 err[VMCONFIG_ERR_MAX], *out = NULL;
	int			 rv;

	if (vmconfig_parse(&cfg, conf, conflen, 1, vmid, err,
	    sizeof(err)) == -1) {
		snprintf(msg, msglen, "invalid config: %.200s\n", err);
		return NULL;
	}
	if (cfg.pending != NULL || cfg.nsnapshots > 0)
		snprintf(msg, msglen, "config has pending changes or "
		    "snapshots\n");
	else if ((rv = vmconfig_foreach_drive(&cfg, config_check_drive,
	    &c)) != 0) {
		if (rv == -1)
			snprintf(msg, msglen, "invalid drive in config\n");
	} else if (vmconfig_set(&cfg, "lock", "migrate", err,
	    sizeof(err)) == -1)
		snprintf(msg, msglen, "%.200s\n", err);
	else if (vmconfig_write(&cfg, &out, outlen) == -1)
		snprintf(msg, msglen, "config too large\n");
	vmconfig_free(&cfg);
	return out;
}

static int
config_write_firewall(uint32_t vmid, const char *fw, size_t fwlen,
    char *msg, size_t msglen)
{
	char	 path[PATH_MAX_PRIV];

	if (memchr(fw, '\0', fwlen) != NULL) {
		snprintf(msg, msglen, "firewall config contains a NUL byte\n");
		return EINVAL;
	}
	firewall_path(priv_config()->confdir, vmid, path, sizeof(path));
	if (journal_append(vmid, "firewall-intent", path, NULL) == -1 ||
	    firewall_replace(priv_config()->confdir, vmid, fw, fwlen, msg,
	    msglen) == -1 ||
	    journal_append(vmid, "firewall-written", path, NULL) == -1) {
		snprintf(msg, msglen, "unable to write the firewall config\n");
		return EIO;
	}
	return 0;
}

static int
config_write_locked(uint32_t vmid, const char *conf, size_t conflen,
    const char *fw, size_t fwlen, char *msg, size_t msglen)
{
	struct journal	 j;
	char		*text, *out, lock[LOCK_NAME_MAX];
	size_t		 len, outlen;
	int		 rv;

	if ((rv = journal_read(vmid, &j, msg, msglen)) != 0) {
		if (rv == 1)
			snprintf(msg, msglen, "no migration of VM %u in "
			    "progress\n", vmid);
		return EPERM;
	}
	if ((rv = config_read(priv_config()->confdir, vmid, &text, &len, msg,
	    msglen)) != 0) {
		journal_free(&j);
		return rv;
	}
	rv = config_get_lock(text, len, lock, sizeof(lock));
	free(text);
	if (rv == -1 || strcmp(lock, "create") != 0) {
		snprintf(msg, msglen, "Encountered wrong lock - aborting "
		    "mtunnel command handling.\n");
		journal_free(&j);
		return EBUSY;
	}
	out = config_checked_text(vmid, &j, conf, conflen, &outlen, msg,
	    msglen);
	journal_free(&j);
	if (out == NULL)
		return EINVAL;
	rv = 0;
	if (fwlen > 0)
		rv = config_write_firewall(vmid, fw, fwlen, msg, msglen);
	if (rv == 0 && (journal_append(vmid, "config-write-intent", NULL,
	    NULL) == -1 || config_replace(priv_config()->confdir, vmid, out,
	    outlen, msg, msglen) == -1 ||
	    journal_append(vmid, "config-written", NULL, NULL) == -1)) {
		snprintf(msg, msglen, "unable to write the config\n");
		rv = EIO;
	}
	free(out);
	return rv;
}

/*
 * IMSG_PRIV_CONFIG_WRITE: the migrated config, locked "migrate", and the
 * firewall config, once every volume checks out.
 */
void
priv_config_write(const struct imsg *imsg)
{
	struct priv_config_write req;
	const char		*conf;
	char			 msg[PRIV_MSG_MAX] = "";
	size_t			 len = imsg_datalen(imsg);
	int			 lockfd, rv;

	if (len < sizeof(req))
		fatalx("config request of %zu bytes", len);
	memcpy(&req, imsg->data, sizeof(req));
	if (req.conf_len > CONFIG_TEXT_MAX || req.fw_len > CONFIG_TEXT_MAX ||
	    len - sizeof(req) != (size_t)req.conf_len + req.fw_len)
		fatalx("config request with bad lengths");
	if (priv_check_stamp(imsg, req.vmid) == -1)
		return;
	if ((rv = priv_lock(req.vmid, &lockfd, msg, sizeof(msg))) == 1)
		return;
	conf = (const char *)imsg->data + sizeof(req);
	if (rv == 0 && qemu_check_config(req.vmid, conf, req.conf_len, msg,
	    sizeof(msg)) == -1) {
		close(lockfd);
		rv = EINVAL;
	} else if (rv == 0) {
		rv = config_write_locked(req.vmid, conf, req.conf_len,
		    conf + req.conf_len, req.fw_len, msg, sizeof(msg));
		close(lockfd);
	} else
		rv = EAGAIN;
	if (rv == 0)
		log_info("vmid %u: wrote the migrated config%s", req.vmid,
		    req.fw_len > 0 ? " and firewall config" : "");
	else
		priv_log_error(req.vmid, "config", msg);
	priv_reply_to(imsg, rv, msg);
}
