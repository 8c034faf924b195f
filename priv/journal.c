/*
 * The per-migration journal: one file per VMID, <statedir>/journal/<vmid>,
 * that priv appends to before and after each action.  Cleanup reads it to
 * find what this migration created, even after a crash or a restart.
 *
 * Each record is one line, appended with O_APPEND and fsynced:
 *   <seconds since the epoch> <action>[ <argument>]...
 * Arguments are percent-encoded: every byte up to 0x20, from 0x7f, and
 * '%' itself is written as %XX, so an argument never contains a space, a
 * control byte or a newline.  The actions and their arguments:
 *   config-intent, config-created            the placeholder config
 *   config-write-intent, config-written      the migrated config
 *   firewall-intent PATH, firewall-written PATH
 *   volume-intent VOLID PATH                 about to create the file
 *   volume-allocated VOLID PATH              created for the disk command
 *   volume-receiving VOLID PATH              created empty for an import
 *   volume-imported VOLID PATH               filled and checked
 *   volume-failed VOLID                      creation failed, no file
 *   volume-freed VOLID                       removed again
 *   unlocked                                 the lock was removed
 *   resumed                                  the VM runs here now
 * A reader ignores, and counts, every line it cannot use: a last line
 * without its newline (a write cut short), an unknown action, a bad
 * argument count or encoding, and a volume record whose path differs
 * from the first one recorded for that volume.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "auditlog.h"
#include "log.h"
#include "priv.h"

#define JOURNAL_FILE_MAX	(4 * 1024 * 1024)
#define JOURNAL_ARGS_MAX	2

static int	journal_dirfd = -1;

/*
 * Open <statedir>/journal, creating it root-only.  Refuses a directory
 * that is not root's or that others may write.
 */
int
journal_init(const char *statedir, char *msg, size_t msglen)
{
	struct stat	 st;
	int		 sfd, dfd;

	if ((sfd = open(statedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		snprintf(msg, msglen, "%s: %s", statedir, strerror(errno));
		return -1;
	}
	if (mkdirat(sfd, "journal", 0700) == -1 && errno != EEXIST) {
		snprintf(msg, msglen, "mkdir %s/journal: %s", statedir,
		    strerror(errno));
		close(sfd);
		return -1;
	}
	dfd = openat(sfd, "journal", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	close(sfd);
	if (dfd == -1 || fstat(dfd, &st) == -1 || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(msg, msglen, "%s/journal: must be a directory owned "
		    "by root and not writable by others", statedir);
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	if (journal_dirfd != -1)
		close(journal_dirfd);
	journal_dirfd = dfd;
	return 0;
}

static void
journal_name(uint32_t vmid, char *name, size_t namelen)
{
	snprintf(name, namelen, "%u", vmid);
}

/*
 * Start the journal of a migration.  Fails with EEXIST while another
 * migration of vmid has one: a VMID has at most one migration.
 */
int
journal_create(uint32_t vmid, char *msg, size_t msglen)
{
	char	 name[16];
	int	 fd;

	journal_name(vmid, name, sizeof(name));
	fd = openat(journal_dirfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		snprintf(msg, msglen, "journal of VM %u: %s", vmid,
		    strerror(errno));
		return -1;
	}
	if (fsync(fd) == -1 || fsync(journal_dirfd) == -1) {
		snprintf(msg, msglen, "journal of VM %u: fsync: %s", vmid,
		    strerror(errno));
		close(fd);
		unlinkat(journal_dirfd, name, 0);
		return -1;
	}
	close(fd);
	return 0;
}

int
journal_exists(uint32_t vmid)
{
	struct stat	 st;
	char		 name[16];

	journal_name(vmid, name, sizeof(name));
	return fstatat(journal_dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Percent-encode src into dst; returns -1 if dst is too small. */
static int
journal_encode(const char *src, char *dst, size_t dstlen)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*s = (const unsigned char *)src;
	size_t			 o = 0;

	for (; *s != '\0'; s++) {
		if (*s <= 0x20 || *s >= 0x7f || *s == '%') {
			if (o + 3 >= dstlen)
				return -1;
			dst[o++] = '%';
			dst[o++] = hex[*s >> 4];
			dst[o++] = hex[*s & 0xf];
		} else {
			if (o + 1 >= dstlen)
				return -1;
			dst[o++] = (char)*s;
		}
	}
	if (o >= dstlen)
		return -1;
	dst[o] = '\0';
	return 0;
}

/*
 * Format one record, newline included.  Returns its length, or -1 when
 * it does not fit.
 */
int
journal_format_line(char *buf, size_t buflen, long long when,
    const char *action, const char *arg1, const char *arg2)
{
	char	 enc[JOURNAL_ARGS_MAX][VOLUME_PATH_MAX * 3 + 1];
	int	 n;

	if ((arg1 != NULL && journal_encode(arg1, enc[0],
	    sizeof(enc[0])) == -1) || (arg2 != NULL &&
	    journal_encode(arg2, enc[1], sizeof(enc[1])) == -1))
		return -1;
	n = snprintf(buf, buflen, "%lld %s%s%s%s%s\n", when, action,
	    arg1 ? " " : "", arg1 ? enc[0] : "", arg2 ? " " : "",
	    arg2 ? enc[1] : "");
	if (n < 0 || (size_t)n >= buflen || n > JOURNAL_LINE_MAX)
		return -1;
	return n;
}

/*
 * Append one record and fsync it.  The journal must exist.  Returns 0,
 * or -1 (logged): the caller must then not go on with the action.
 */
int
journal_append(uint32_t vmid, const char *action, const char *arg1,
    const char *arg2)
{
	char	 name[16], *line;
	int	 fd, n, rv = -1;

	if ((line = malloc(JOURNAL_LINE_MAX + 1)) == NULL) {
		log_warn("vmid %u: journal", vmid);
		return -1;
	}
	n = journal_format_line(line, JOURNAL_LINE_MAX + 1,
	    (long long)time(NULL), action, arg1, arg2);
	journal_name(vmid, name, sizeof(name));
	if (n == -1)
		log_warnx("vmid %u: journal record %s is too long", vmid,
		    action);
	else if ((fd = openat(journal_dirfd, name, O_WRONLY | O_APPEND |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		log_warn("vmid %u: journal", vmid);
	else {
		if (write(fd, line, n) != n || fsync(fd) == -1)
			log_warn("vmid %u: journal record %s", vmid, action);
		else
			rv = 0;
		close(fd);
	}
	free(line);
	return rv;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode a percent-encoded argument in place; -1 if it is invalid. */
static int
journal_decode(char *s)
{
	char	*o = s;
	int	 hi, lo;

	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return -1;
		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		if ((hi = hexval(s[1])) == -1 || (lo = hexval(s[2])) == -1 ||
		    (hi == 0 && lo == 0))
			return -1;
		*o++ = (char)(hi << 4 | lo);
		s += 2;
	}
	*o = '\0';
	return 0;
}

static const struct {
	const char	*name;
	int		 nargs;
} journal_actions[] = {
	{ "config-intent", 0 },
	{ "config-created", 0 },
	{ "config-write-intent", 0 },
	{ "config-written", 0 },
	{ "firewall-intent", 1 },
	{ "firewall-written", 1 },
	{ "volume-intent", 2 },
	{ "volume-allocated", 2 },
	{ "volume-receiving", 2 },
	{ "volume-imported", 2 },
	{ "volume-failed", 1 },
	{ "volume-freed", 1 },
	{ "unlocked", 0 },
	{ "resumed", 0 },
	{ "qemu-started", 0 },
};

static void
journal_ignore(struct journal *j, size_t lineno, const char *why)
{
	if (j->nignored++ == 0)
		snprintf(j->ignored, sizeof(j->ignored), "line %zu: %s",
		    lineno, why);
}

static struct journal_volume *
journal_volume_slot(struct journal *j, const char *volid, const char *path,
    const char **why)
{
	struct journal_volume	*v;
	size_t			 i;

	for (i = 0; i < j->nvolumes; i++) {
		v = &j->volumes[i];
		if (strcmp(v->volid, volid) != 0)
			continue;
		if (path != NULL && strcmp(v->path, path) != 0) {
			*why = "volume path differs from its first record";
			return NULL;
		}
		return v;
	}
	if (path == NULL) {
		*why = "volume never recorded before";
		return NULL;
	}
	v = reallocarray(j->volumes, j->nvolumes + 1, sizeof(*v));
	if (v == NULL) {
		*why = "out of memory";
		return NULL;
	}
	j->volumes = v;
	v = &j->volumes[j->nvolumes++];
	memset(v, 0, sizeof(*v));
	strlcpy(v->volid, volid, sizeof(v->volid));
	strlcpy(v->path, path, sizeof(v->path));
	v->state = JVOL_INTENT;
	return v;
}

static const char *
journal_apply_volume(struct journal *j, const char *action, char **args)
{
	struct journal_volume	*v;
	const char		*why = NULL;
	const char		*path = NULL;

	if (strlen(args[0]) >= VOLID_MAX)
		return "volume ID too long";
	if (strcmp(action, "volume-intent") == 0 ||
	    strcmp(action, "volume-allocated") == 0 ||
	    strcmp(action, "volume-receiving") == 0 ||
	    strcmp(action, "volume-imported") == 0) {
		path = args[1];
		if (path[0] != '/' || strlen(path) >= VOLUME_PATH_MAX)
			return "volume path not absolute or too long";
	}
	if ((v = journal_volume_slot(j, args[0], path, &why)) == NULL)
		return why;
	if (strcmp(action, "volume-intent") == 0)
		v->state = JVOL_INTENT;
	else if (strcmp(action, "volume-allocated") == 0)
		v->state = JVOL_ALLOCATED;
	else if (strcmp(action, "volume-receiving") == 0)
		v->state = JVOL_RECEIVING;
	else if (strcmp(action, "volume-imported") == 0)
		v->state = JVOL_IMPORTED;
	else if (strcmp(action, "volume-failed") == 0)
		v->state = JVOL_FAILED;
	else
		v->state = JVOL_FREED;
	return NULL;
}

/* Apply one decoded record; returns NULL, or why it was ignored. */
static const char *
journal_apply(struct journal *j, const char *action, char **args)
{
	if (strcmp(action, "config-intent") == 0)
		j->config_intent = 1;
	else if (strcmp(action, "config-created") == 0)
		j->config_created = 1;
	else if (strcmp(action, "config-write-intent") == 0)
		j->config_write_intent = 1;
	else if (strcmp(action, "config-written") == 0)
		j->config_written = 1;
	else if (strcmp(action, "firewall-intent") == 0)
		j->firewall_intent = 1;
	else if (strcmp(action, "firewall-written") == 0)
		j->firewall_written = 1;
	else if (strcmp(action, "unlocked") == 0)
		j->unlocked = 1;
	else if (strcmp(action, "resumed") == 0)
		j->resumed = 1;
	else if (strcmp(action, "qemu-started") == 0)
		j->qemu_started = 1;
	else
		return journal_apply_volume(j, action, args);
	return NULL;
}

/* Parse one line (NUL-terminated, newline removed) and apply it. */
static const char *
journal_parse_line(struct journal *j, char *line)
{
	char	*field[2 + JOURNAL_ARGS_MAX + 1], *p = line, *end;
	size_t	 n = 0, i;

	while (n < sizeof(field) / sizeof(field[0]) &&
	    (field[n] = strsep(&p, " ")) != NULL)
		n++;
	if (p != NULL)
		return "too many fields";
	if (n < 2 || field[0][0] == '\0')
		return "no time or action";
	errno = 0;
	if (strtoll(field[0], &end, 10) < 0 || *end != '\0' || errno != 0)
		return "invalid time";
	for (i = 0; i < sizeof(journal_actions) / sizeof(journal_actions[0]);
	    i++)
		if (strcmp(field[1], journal_actions[i].name) == 0)
			break;
	if (i == sizeof(journal_actions) / sizeof(journal_actions[0]))
		return "unknown action";
	if ((int)n - 2 != journal_actions[i].nargs)
		return "wrong number of arguments";
	for (i = 2; i < n; i++)
		if (field[i][0] == '\0' || journal_decode(field[i]) == -1)
			return "invalid argument encoding";
	return journal_apply(j, field[1], field + 2);
}

/*
 * Parse a whole journal text (len bytes, not NUL-terminated) into j,
 * which is overwritten without being freed.  Returns 0, or -1 when
 * memory ran out.
 */
int
journal_parse(const char *buf, size_t len, struct journal *j)
{
	const char	*p = buf, *end = buf + len, *nl;
	const char	*why;
	char		*line;
	size_t		 n, lineno = 0;

	memset(j, 0, sizeof(*j));
	if ((line = malloc(JOURNAL_LINE_MAX + 1)) == NULL)
		return -1;
	for (; p < end; p = nl + 1) {
		lineno++;
		if ((nl = memchr(p, '\n', end - p)) == NULL) {
			journal_ignore(j, lineno, "no newline: cut short");
			break;
		}
		n = nl - p;
		if (n > JOURNAL_LINE_MAX || memchr(p, '\0', n) != NULL) {
			journal_ignore(j, lineno, "too long or a NUL byte");
			continue;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		j->nrecords++;
		if ((why = journal_parse_line(j, line)) != NULL)
			journal_ignore(j, lineno, why);
	}
	free(line);
	return 0;
}

void
journal_free(struct journal *j)
{
	free(j->volumes);
	j->volumes = NULL;
	j->nvolumes = 0;
}

/*
 * Read the journal of vmid into j.  Returns 0, 1 when there is none, or
 * -1 with msg set.
 */
int
journal_read(uint32_t vmid, struct journal *j, char *msg, size_t msglen)
{
	struct stat	 st;
	char		 name[16], *buf;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd, rv;

	memset(j, 0, sizeof(*j));
	journal_name(vmid, name, sizeof(name));
	if ((fd = openat(journal_dirfd, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 1;
		snprintf(msg, msglen, "journal of VM %u: %s", vmid,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > JOURNAL_FILE_MAX ||
	    (buf = malloc(st.st_size + 1)) == NULL) {
		snprintf(msg, msglen, "journal of VM %u: not a regular file "
		    "of at most %d bytes", vmid, JOURNAL_FILE_MAX);
		close(fd);
		return -1;
	}
	while (off < (size_t)st.st_size &&
	    (n = read(fd, buf + off, st.st_size - off)) > 0)
		off += n;
	close(fd);
	rv = journal_parse(buf, off, j);
	free(buf);
	if (rv == -1)
		snprintf(msg, msglen, "journal of VM %u: out of memory", vmid);
	return rv;
}

int
journal_remove(uint32_t vmid)
{
	char	 name[16];

	journal_name(vmid, name, sizeof(name));
	if (unlinkat(journal_dirfd, name, 0) == -1 && errno != ENOENT) {
		log_warn("vmid %u: remove journal", vmid);
		return -1;
	}
	if (fsync(journal_dirfd) == -1)
		log_warn("vmid %u: fsync journal directory", vmid);
	return 0;
}

/* VMIDs in the journal directory, up to max of them, unsorted. */
int
journal_list(uint32_t *vmids, size_t max, size_t *count)
{
	struct dirent	*de;
	DIR		*dir;
	char		*end;
	unsigned long	 v;
	int		 fd;

	*count = 0;
	if ((fd = dup(journal_dirfd)) == -1 || (dir = fdopendir(fd)) ==
	    NULL) {
		log_warn("journal directory");
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL && *count < max) {
		if (de->d_name[0] == '.')
			continue;
		errno = 0;
		v = strtoul(de->d_name, &end, 10);
		if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
		    *end != '\0' || errno != 0 || v < VMID_MIN ||
		    v > VMID_MAX) {
			log_warnx("journal directory: ignoring '%s', not a "
			    "VMID", de->d_name);
			continue;
		}
		vmids[(*count)++] = (uint32_t)v;
	}
	closedir(dir);
	return 0;
}

/* Whether cleanup must free the volume: created by us, not freed yet. */
int
journal_volume_live(const struct journal_volume *v)
{
	return v->state == JVOL_INTENT || v->state == JVOL_ALLOCATED ||
	    v->state == JVOL_RECEIVING || v->state == JVOL_IMPORTED;
}

const struct journal_volume *
journal_find_volume(const struct journal *j, const char *volid)
{
	size_t	 i;

	for (i = 0; i < j->nvolumes; i++)
		if (strcmp(j->volumes[i].volid, volid) == 0)
			return &j->volumes[i];
	return NULL;
}

/*
 * Cleanup
 */

#define CLEANUP_REPLAY		0x100	/* priv's own: a journal at start */

struct cleanup_wait {
	uint32_t	 vmid;
	uint32_t	 reason;
};

/* Cleanups waiting for qemu-img runs of their VMID to end. */
static struct cleanup_wait	*cleanup_waits;
static size_t			 ncleanup_waits;

static const char *
cleanup_reason_name(uint32_t reason)
{
	switch (reason) {
	case CLEANUP_QUIT:
		return "quit";
	case CLEANUP_DISCONNECT:
		return "client disconnected";
	case CLEANUP_ACCEPT_TIMEOUT:
		return "no client connected";
	case CLEANUP_TUNNEL_LOST:
		return "tunnel lost";
	case CLEANUP_FINISHED:
		return "quit without cleanup";
	case CLEANUP_REPLAY:
		return "left by an earlier run";
	default:
		return "unknown reason";
	}
}

static int
cleanup_volumes(uint32_t vmid, const struct journal *j)
{
	const struct storagecfg	*cfg;
	const struct journal_volume *v;
	char			 msg[PRIV_MSG_MAX];
	size_t			 i;
	int			 failed = 0;

	for (i = 0; i < j->nvolumes; i++) {
		v = &j->volumes[i];
		if (!journal_volume_live(v))
			continue;
		if ((cfg = volume_storages(msg, sizeof(msg))) == NULL ||
		    volume_unlink(cfg, vmid, v->volid, v->path, msg,
		    sizeof(msg)) == -1) {
			log_warnx("vmid %u: volume '%s' left in place",
			    vmid, v->volid);
			priv_log_error(vmid, "cleanup", msg);
			failed++;
			continue;
		}
		log_info("vmid %u: freeing volume '%s' as part of cleanup",
		    vmid, v->volid);
		audit_emit("volume-freed", vmid, json_pack("{s:s, s:s}",
		    "volid", v->volid, "reason", "cleanup"));
		journal_append(vmid, "volume-freed", v->volid, NULL);
	}
	return failed;
}

static int
cleanup_config(uint32_t vmid, const struct journal *j)
{
	const char	*confdir = priv_config()->confdir;
	char		 msg[PRIV_MSG_MAX];
	int		 failed = 0;

	if (j->firewall_intent) {
		if (firewall_remove(confdir, vmid, msg, sizeof(msg)) == -1) {
			priv_log_error(vmid, "cleanup", msg);
			failed++;
		} else
			log_info("vmid %u: removed the firewall config", vmid);
	}
	/* Created by us, or possibly so if the record after it is missing. */
	if (j->config_created || j->config_intent) {
		switch (config_remove(confdir, vmid, !j->config_created, msg,
		    sizeof(msg))) {
		case -1:
			priv_log_error(vmid, "cleanup", msg);
			failed++;
			break;
		case 1:
			log_info("vmid %u: %s", vmid, msg);
			break;
		default:
			log_info("vmid %u: removed the config", vmid);
			break;
		}
	}
	return failed;
}

/*
 * Remove what the journal of vmid lists, then the journal.  Nothing is
 * removed once the journal records "resumed" or "unlocked", because the
 * VM then lives here, nor for a quit without cleanup (keep set).  If
 * anything could not be removed, the journal stays for the next start.
 * The caller holds the lock.
 */
static void
cleanup_locked(uint32_t vmid, const char *why, int keep)
{
	struct journal	 j;
	char		 msg[PRIV_MSG_MAX];
	int		 rv, failed;

	if ((rv = journal_read(vmid, &j, msg, sizeof(msg))) == 1) {
		log_debug("vmid %u: cleanup (%s): no journal", vmid, why);
		return;
	}
	if (rv == -1) {
		priv_log_error(vmid, why, msg);
		return;
	}
	if (j.nignored > 0)
		log_warnx("vmid %u: journal: %zu of %zu lines ignored, the "
		    "first at %s", vmid, j.nignored, j.nrecords, j.ignored);
	/*
	 * A quit without cleanup keeps what the migration made, but a bare
	 * placeholder config with nothing written or allocated is no VM.
	 */
	if (keep && !j.config_write_intent && !j.firewall_intent &&
	    j.nvolumes == 0)
		keep = 0;
	if (j.resumed || j.unlocked || keep) {
		log_info("vmid %u: cleanup (%s): the migration %s; the VM, "
		    "its config and volumes are kept", vmid, why, j.resumed ?
		    "resumed the VM here" : j.unlocked ? "finished" :
		    "ended without cleanup");
		audit_emit("cleanup", vmid, json_pack("{s:s, s:b}", "reason",
		    why, "kept", 1));
		journal_free(&j);
		journal_remove(vmid);
		return;
	}
	log_info("vmid %u: cleanup (%s)", vmid, why);
	if (j.qemu_started && qemu_kill(vmid) == -1) {
		log_warnx("vmid %u: QEMU still runs; cleanup postponed", vmid);
		journal_free(&j);
		return;
	}
	failed = cleanup_volumes(vmid, &j) + cleanup_config(vmid, &j);
	audit_emit("cleanup", vmid, json_pack("{s:s, s:b, s:b, s:b, s:i}",
	    "reason", why, "kept", 0, "config", j.config_created ||
	    j.config_intent, "firewall", j.firewall_intent, "failed", failed));
	journal_free(&j);
	if (failed == 0)
		journal_remove(vmid);
	else
		log_warnx("vmid %u: journal kept, %d items left to remove",
		    vmid, failed);
}

/* Queue a cleanup of vmid as a request of priv's own. */
void
cleanup_start(uint32_t vmid, uint32_t reason)
{
	struct priv_cleanup	 req;

	req.vmid = vmid;
	req.reason = reason;
	priv_queue_request(IMSG_PRIV_CLEANUP, vmid, &req, sizeof(req));
}

void
cleanup_replay(uint32_t vmid)
{
	cleanup_start(vmid, CLEANUP_REPLAY);
}

/* A qemu-img run of vmid ended: start a cleanup that waited for it. */
void
cleanup_spawns_done(uint32_t vmid)
{
	size_t	 i;

	if (priv_spawn_running(vmid) > 0)
		return;
	for (i = 0; i < ncleanup_waits; i++)
		if (cleanup_waits[i].vmid == vmid) {
			cleanup_start(vmid, cleanup_waits[i].reason);
			cleanup_waits[i] = cleanup_waits[--ncleanup_waits];
			return;
		}
}

static void
cleanup_wait_spawns(uint32_t vmid, uint32_t reason)
{
	struct cleanup_wait	*w;
	size_t			 i;

	for (i = 0; i < ncleanup_waits; i++)
		if (cleanup_waits[i].vmid == vmid)
			return;
	w = reallocarray(cleanup_waits, ncleanup_waits + 1, sizeof(*w));
	if (w == NULL)
		fatal("cleanup");
	cleanup_waits = w;
	w[ncleanup_waits].vmid = vmid;
	w[ncleanup_waits].reason = reason;
	ncleanup_waits++;
	log_info("vmid %u: cleanup waits for qemu-img to end", vmid);
}

/*
 * IMSG_PRIV_CLEANUP, from the parent or queued by priv: stop the import,
 * wait for qemu-img, then remove what the journal lists, and the
 * sockets.  The parent gets no reply.
 */
void
priv_cleanup(const struct imsg *imsg)
{
	struct priv_cleanup	 req;
	char			 msg[PRIV_MSG_MAX];
	int			 lockfd, rv;

	if (imsg_datalen(imsg) != sizeof(req))
		fatalx("cleanup request of %zu bytes", imsg_datalen(imsg));
	memcpy(&req, imsg->data, sizeof(req));
	if (req.vmid < VMID_MIN || req.vmid > VMID_MAX ||
	    req.vmid != imsg->hdr.peerid) {
		log_warnx("cleanup request for vmid %u (stamped %u) rejected",
		    req.vmid, imsg->hdr.peerid);
		return;
	}
	import_cancel(req.vmid);
	if (priv_spawn_running(req.vmid) > 0) {
		cleanup_wait_spawns(req.vmid, req.reason);
		return;
	}
	if ((rv = priv_lock(req.vmid, &lockfd, msg, sizeof(msg))) == 1)
		return;
	if (rv == -1) {
		priv_log_error(req.vmid, "cleanup not done", msg);
		return;
	}
	cleanup_locked(req.vmid, cleanup_reason_name(req.reason),
	    req.reason == CLEANUP_FINISHED);
	close(lockfd);
	sock_remove_all(priv_config()->rundir, req.vmid);
}
