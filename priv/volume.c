/*
 * Volumes on dir storages: storage.cfg, format and size resolution,
 * image names, allocation for the disk command, and the path checks that
 * guard every removal.
 *
 * A dir storage keeps a VM's images in <path>/<images dir>/<vmid>/, where
 * the images dir is "images" unless content-dirs sets another.  priv
 * opens the storage path as configured, then every directory below it
 * without following symlinks, and requires each to be owned by root and
 * not writable by group or others, so a name it checked cannot be
 * swapped by another user.
 */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "auditlog.h"
#include "log.h"
#include "priv.h"

#define VOLUME_MODE		0640
#define VOLUME_DIR_MODE		0755
#define VOLUME_KIB_MAX		(INT64_MAX / 1024)

static struct storagecfg	 vol_cfg;
static int			 vol_cfg_loaded;
static struct stat		 vol_cfg_stat;	/* of the file last loaded */

/*
 * The storages of <confdir>/storage.cfg, read again whenever the file
 * changed.  Returns NULL with msg set when it cannot be read.
 */
const struct storagecfg *
volume_storages(char *msg, size_t msglen)
{
	struct storagecfg	 cfg;
	struct stat		 st;
	char			 path[PATH_MAX_PRIV], err[STORAGECFG_ERR_MAX];

	snprintf(path, sizeof(path), "%s/storage.cfg", priv_config()->confdir);
	if (stat(path, &st) == -1)
		memset(&st, 0, sizeof(st));
	if (vol_cfg_loaded && st.st_ino == vol_cfg_stat.st_ino &&
	    st.st_size == vol_cfg_stat.st_size &&
	    st.st_mtim.tv_sec == vol_cfg_stat.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == vol_cfg_stat.st_mtim.tv_nsec)
		return &vol_cfg;

	if (storagecfg_load(&cfg, path, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		snprintf(msg, msglen, "unable to read storage configuration - "
		    "%s\n", err);
		return NULL;
	}
	if (cfg.nwarnings > 0)
		log_warnx("%s: %zu warnings, the first: %s", path,
		    cfg.nwarnings, cfg.warning);
	if (vol_cfg_loaded)
		storagecfg_free(&vol_cfg);
	vol_cfg = cfg;
	vol_cfg_stat = st;
	vol_cfg_loaded = 1;
	return &vol_cfg;
}

/* Whether path is a mount point: on another device than its parent. */
static int
is_mountpoint(const char *path)
{
	struct stat	 st, up;
	char		 parent[VOLUME_PATH_MAX];

	snprintf(parent, sizeof(parent), "%s/..", path);
	if (stat(path, &st) == -1 || stat(parent, &up) == -1)
		return 0;
	return st.st_dev != up.st_dev || st.st_ino == up.st_ino;
}

/*
 * The storage id, if it is a dir storage that may hold VM images now.
 * Returns NULL with msg set, in the words a source shows, otherwise.
 * NOTE: the nodes option is not checked here, because priv does not know
 * the node name; the parent checks it for the mtunnel request.
 */
const struct storage *
volume_storage(const char *id, char *msg, size_t msglen)
{
	const struct storagecfg	*cfg;
	const struct storage	*s;
	const char		*why, *mnt;
	char			 buf[PRIV_MSG_MAX];

	if ((cfg = volume_storages(msg, msglen)) == NULL)
		return NULL;
	if ((s = storagecfg_find(cfg, id)) == NULL) {
		snprintf(msg, msglen, "storage '%s' does not exist\n", id);
		return NULL;
	}
	if ((why = storage_unsupported_reason(s, buf, sizeof(buf))) != NULL) {
		snprintf(msg, msglen, "%s\n", why);
		return NULL;
	}
	if (s->disable) {
		snprintf(msg, msglen, "storage '%s' is disabled\n", id);
		return NULL;
	}
	if (!storage_has_content(s, CONTENT_IMAGES)) {
		snprintf(msg, msglen, "storage '%s' does not support vm "
		    "images\n", id);
		return NULL;
	}
	if ((mnt = storage_mountpoint(s)) != NULL && !is_mountpoint(mnt)) {
		snprintf(msg, msglen, "unable to activate storage '%s' - "
		    "directory is expected to be a mount point but is not "
		    "mounted: '%s'\n", id, mnt);
		return NULL;
	}
	return s;
}

/*
 * Format resolution as upstream: the requested format if the storage
 * can hold it, else the storage's default.  mtunneld creates raw and
 * qcow2 images only, so vmdk falls back to the default too.
 */
int
volume_format_resolve(const struct storage *s, const char *requested,
    enum image_format *fmt, char *msg, size_t msglen)
{
	int	 f = image_format_parse(requested);

	if (f == IMAGE_FORMAT_RAW || f == IMAGE_FORMAT_QCOW2) {
		*fmt = (enum image_format)f;
		return 0;
	}
	if (s->format == IMAGE_FORMAT_RAW || s->format == IMAGE_FORMAT_QCOW2) {
		*fmt = s->format;
		return 0;
	}
	snprintf(msg, msglen, "storage '%s': default format '%s' is not "
	    "supported, only raw and qcow2 are\n", s->id,
	    image_format_name(s->format));
	return -1;
}

/* Drive bytes to the KiB the storage allocates, rounded up. */
int
volume_size_kib(uint64_t bytes, uint64_t *kib)
{
	if (bytes == 0 || bytes / 1024 >= VOLUME_KIB_MAX)
		return -1;
	*kib = bytes / 1024 + (bytes % 1024 != 0);
	return 0;
}

const char *
preallocation_name(enum preallocation p)
{
	switch (p) {
	case PREALLOCATION_OFF:
		return "off";
	case PREALLOCATION_METADATA:
		return "metadata";
	case PREALLOCATION_FALLOC:
		return "falloc";
	case PREALLOCATION_FULL:
		return "full";
	default:
		return NULL;
	}
}

/*
 * The disk number of an image file name of vmid, as upstream's
 * get_next_vm_diskname reads it: "(vm|base|subvol)-<vmid>-disk-<n>",
 * anywhere in the name, then the end or a '.'.  Returns n, or -1 when the
 * name is not such a disk or n is not below VOLUMES_PER_GUEST.  Unlike
 * upstream, "disk-01" also takes number 1.
 */
int
volume_name_number(const char *name, uint32_t vmid)
{
	static const char *const prefixes[] = { "vm", "base", "subvol" };
	char		 mid[32];
	const char	*p, *d;
	size_t		 i, plen;
	long		 n;

	snprintf(mid, sizeof(mid), "-%u-disk-", vmid);
	for (p = strstr(name, mid); p != NULL; p = strstr(p + 1, mid)) {
		for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			plen = strlen(prefixes[i]);
			if ((size_t)(p - name) >= plen &&
			    memcmp(p - plen, prefixes[i], plen) == 0)
				break;
		}
		if (i == sizeof(prefixes) / sizeof(prefixes[0]))
			continue;
		d = p + strlen(mid);
		if (*d < '0' || *d > '9')
			continue;
		for (n = 0; *d >= '0' && *d <= '9'; d++)
			if (n < VOLUMES_PER_GUEST)
				n = n * 10 + (*d - '0');
		if (*d != '\0' && *d != '.')
			continue;
		return n < VOLUMES_PER_GUEST ? (int)n : -1;
	}
	return -1;
}

/* The lowest number not marked in used[VOLUMES_PER_GUEST], or -1. */
int
volume_next_number(const unsigned char *used)
{
	int	 n;

	for (n = 0; n < VOLUMES_PER_GUEST; n++)
		if (!used[n])
			return n;
	return -1;
}

static int
check_dir(int fd, const char *path, char *msg, size_t msglen)
{
	struct stat	 st;

	if (fstat(fd, &st) == -1 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(msg, msglen, "%s: must be a directory owned by root "
		    "and not writable by others\n", path);
		return -1;
	}
	return 0;
}

/* mkdir -p for the configured storage path. */
static int
make_base_path(const char *path, char *msg, size_t msglen)
{
	char	 buf[VOLUME_PATH_MAX], *p;

	if (strlcpy(buf, path, sizeof(buf)) >= sizeof(buf))
		return -1;
	for (p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (p[-1] != '/') {
			char	 c = *p;

			*p = '\0';
			if (mkdir(buf, VOLUME_DIR_MODE) == -1 &&
			    errno != EEXIST) {
				snprintf(msg, msglen, "mkdir %s: %s\n", buf,
				    strerror(errno));
				return -1;
			}
			*p = c;
		}
		if (*p == '\0')
			return 0;
	}
}

/*
 * Open the next component below dfd, creating it if asked, without
 * following a symlink.  Closes dfd.
 */
static int
open_below(int dfd, const char *name, int create, const char *path,
    char *msg, size_t msglen)
{
	int	 fd, e;

	if (create && mkdirat(dfd, name, VOLUME_DIR_MODE) == -1 &&
	    errno != EEXIST) {
		snprintf(msg, msglen, "mkdir %s: %s\n", path, strerror(errno));
		close(dfd);
		return -1;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	e = errno;
	close(dfd);
	if (fd == -1) {
		snprintf(msg, msglen, "%s: %s\n", path, strerror(e));
		errno = e;
		return -1;
	}
	if (check_dir(fd, path, msg, msglen) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Open <storage path>/<images dir>/<vmid>, creating what is missing when
 * create is set, and store its path in dir.  Returns the descriptor, or
 * -1 with msg set.
 */
int
volume_open_imagedir(const struct storage *s, uint32_t vmid, int create,
    char *dir, size_t dirlen, char *msg, size_t msglen)
{
	char		 sub[VOLUME_PATH_MAX], *comp, *rest;
	const char	*images = storage_content_dir(s, CONTENT_IMAGES);
	int		 dfd, e;

	snprintf(dir, dirlen, "%s", s->path);
	if ((dfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 &&
	    errno == ENOENT && create && storage_create_base_path(s)) {
		if (make_base_path(s->path, msg, msglen) == -1)
			return -1;
		dfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd == -1) {
		e = errno;
		snprintf(msg, msglen, "unable to activate storage '%s' - "
		    "directory '%s': %s\n", s->id, s->path, strerror(e));
		errno = e;
		return -1;
	}
	if (check_dir(dfd, s->path, msg, msglen) == -1) {
		close(dfd);
		return -1;
	}

	strlcpy(sub, images, sizeof(sub));
	for (rest = sub; (comp = strsep(&rest, "/")) != NULL;) {
		if (comp[0] == '\0' || strcmp(comp, ".") == 0)
			continue;
		strlcat(dir, "/", dirlen);
		strlcat(dir, comp, dirlen);
		if ((dfd = open_below(dfd, comp, create, dir, msg, msglen)) ==
		    -1)
			return -1;
	}
	snprintf(sub, sizeof(sub), "%u", vmid);
	strlcat(dir, "/", dirlen);
	if (strlcat(dir, sub, dirlen) >= dirlen) {
		snprintf(msg, msglen, "storage '%s': path too long\n", s->id);
		close(dfd);
		return -1;
	}
	return open_below(dfd, sub, create, dir, msg, msglen);
}

/* Pick "vm-<vmid>-disk-<n>.<fmt>" with the lowest n no file uses. */
int
volume_pick_name(int dfd, uint32_t vmid, enum image_format fmt, char *name,
    size_t namelen, char *msg, size_t msglen)
{
	unsigned char	 used[VOLUMES_PER_GUEST];
	struct dirent	*de;
	DIR		*dir;
	int		 fd, n;

	memset(used, 0, sizeof(used));
	if ((fd = dup(dfd)) == -1 || (dir = fdopendir(fd)) == NULL) {
		snprintf(msg, msglen, "unable to list images: %s\n",
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL)
		if ((n = volume_name_number(de->d_name, vmid)) != -1)
			used[n] = 1;
	closedir(dir);
	if ((n = volume_next_number(used)) == -1) {
		snprintf(msg, msglen, "unable to allocate an image name for "
		    "VM %u: all %d disk numbers are taken\n", vmid,
		    VOLUMES_PER_GUEST);
		return -1;
	}
	snprintf(name, namelen, "vm-%u-disk-%d.%s", vmid, n,
	    image_format_name(fmt));
	return 0;
}

/*
 * Create the file of vol (name already set) in dfd, journaled before and
 * after.  Returns the descriptor, or -1 with msg set (errno EEXIST when
 * the name is taken).
 */
static int
volume_create_file(uint32_t vmid, int dfd, const struct storage *s,
    struct volume *vol, const char *dir, char *msg, size_t msglen)
{
	int	 fd, e;

	strlcpy(vol->storage, s->id, sizeof(vol->storage));
	snprintf(vol->volid, sizeof(vol->volid), "%s:%u/%s", s->id, vmid,
	    vol->name);
	if ((size_t)snprintf(vol->path, sizeof(vol->path), "%s/%s", dir,
	    vol->name) >= sizeof(vol->path)) {
		snprintf(msg, msglen, "volume path too long\n");
		errno = ENAMETOOLONG;
		return -1;
	}
	if (journal_append(vmid, "volume-intent", vol->volid, vol->path) ==
	    -1) {
		snprintf(msg, msglen, "unable to write the journal\n");
		errno = EIO;
		return -1;
	}
	fd = openat(dfd, vol->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, VOLUME_MODE);
	if (fd == -1) {
		e = errno;
		snprintf(msg, msglen, "unable to create volume '%s': %s\n",
		    vol->volid, strerror(e));
		journal_append(vmid, "volume-failed", vol->volid, NULL);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * Reserve the next free disk name of vmid on s: create the file empty,
 * with volume-intent in the journal.  Returns the file descriptor with
 * vol filled, or -1 with msg set.
 */
int
volume_reserve(uint32_t vmid, const struct storage *s, struct volume *vol,
    int *fdp, char *msg, size_t msglen)
{
	char	 dir[VOLUME_PATH_MAX];
	int	 dfd;

	if ((dfd = volume_open_imagedir(s, vmid, 1, dir, sizeof(dir), msg,
	    msglen)) == -1)
		return -1;
	if (volume_pick_name(dfd, vmid, vol->format, vol->name,
	    sizeof(vol->name), msg, msglen) == -1 ||
	    (*fdp = volume_create_file(vmid, dfd, s, vol, dir, msg,
	    msglen)) == -1) {
		close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

/* As volume_reserve, for the name already in vol->name. */
int
volume_reserve_named(uint32_t vmid, const struct storage *s,
    struct volume *vol, int *fdp, char *msg, size_t msglen)
{
	struct stat	 st;
	char		 dir[VOLUME_PATH_MAX];
	int		 dfd;

	if ((dfd = volume_open_imagedir(s, vmid, 1, dir, sizeof(dir), msg,
	    msglen)) == -1)
		return -1;
	if (fstatat(dfd, vol->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		close(dfd);
		snprintf(msg, msglen, "volume '%s:%u/%s' already exists\n",
		    s->id, vmid, vol->name);
		errno = EEXIST;
		return -1;
	}
	*fdp = volume_create_file(vmid, dfd, s, vol, dir, msg, msglen);
	close(dfd);
	return *fdp == -1 ? -1 : 0;
}

/*
 * Check that path is where volid of vmid lives: a dir storage in cfg,
 * an images volume name owned by vmid, and exactly
 * <storage path>/<images dir>/<vmid>/<file>.  Returns the storage, or
 * NULL with msg set.
 */
static const struct storage *
volume_path_storage(const struct storagecfg *cfg, uint32_t vmid,
    const char *volid, const char *path, struct image_volname *iv, char *msg,
    size_t msglen)
{
	const struct storage	*s;
	char			 id[STORAGE_ID_MAX + 1], volname[VOLID_MAX];
	char			 want[VOLUME_PATH_MAX], err[256];

	if (parse_volid(volid, id, sizeof(id), volname, sizeof(volname)) ==
	    -1) {
		snprintf(msg, msglen, "invalid volume ID '%s'", volid);
		return NULL;
	}
	if ((s = storagecfg_find(cfg, id)) == NULL ||
	    s->type != STORAGE_TYPE_DIR) {
		snprintf(msg, msglen, "storage '%s' of volume '%s' is not a "
		    "configured dir storage", id, volid);
		return NULL;
	}
	if (dir_parse_image_volname(volname, iv, err, sizeof(err)) == -1 ||
	    iv->vmid != vmid) {
		snprintf(msg, msglen, "volume '%s' is not an image of VM %u",
		    volid, vmid);
		return NULL;
	}
	snprintf(want, sizeof(want), "%s/%s/%u/%s", s->path,
	    storage_content_dir(s, CONTENT_IMAGES), vmid, iv->name);
	if (strcmp(want, path) != 0) {
		snprintf(msg, msglen, "path '%s' of volume '%s' is not '%s'",
		    path, volid, want);
		return NULL;
	}
	return s;
}

int
volume_check_path(const struct storagecfg *cfg, uint32_t vmid,
    const char *volid, const char *path, char *msg, size_t msglen)
{
	struct image_volname	 iv;

	return volume_path_storage(cfg, vmid, volid, path, &iv, msg,
	    msglen) == NULL ? -1 : 0;
}

/*
 * Remove the file of volid after volume_check_path, through directories
 * opened without following symlinks; only a regular file is removed.  A
 * file that is already gone counts as removed.  Returns 0, or -1 with
 * msg set.
 */
int
volume_unlink(const struct storagecfg *cfg, uint32_t vmid,
    const char *volid, const char *path, char *msg, size_t msglen)
{
	const struct storage	*s;
	struct image_volname	 iv;
	struct stat		 st;
	char			 dir[VOLUME_PATH_MAX];
	int			 dfd, rv = 0;

	if ((s = volume_path_storage(cfg, vmid, volid, path, &iv, msg,
	    msglen)) == NULL)
		return -1;
	if ((dfd = volume_open_imagedir(s, vmid, 0, dir, sizeof(dir), msg,
	    msglen)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (fstatat(dfd, iv.name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT) {
			snprintf(msg, msglen, "%s: %s", path, strerror(errno));
			rv = -1;
		}
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(msg, msglen, "%s is not a regular file; left in "
		    "place", path);
		rv = -1;
	} else if (unlinkat(dfd, iv.name, 0) == -1 || fsync(dfd) == -1) {
		snprintf(msg, msglen, "unlink %s: %s", path, strerror(errno));
		rv = -1;
	}
	close(dfd);
	return rv;
}

/* Free a volume this migration created, after a failure; logged. */
int
volume_release(uint32_t vmid, const struct volume *vol, const char *why)
{
	const struct storagecfg	*cfg;
	char			 msg[PRIV_MSG_MAX];

	if ((cfg = volume_storages(msg, sizeof(msg))) == NULL ||
	    volume_unlink(cfg, vmid, vol->volid, vol->path, msg,
	    sizeof(msg)) == -1) {
		log_warnx("vmid %u: volume '%s' left for cleanup", vmid,
		    vol->volid);
		priv_log_error(vmid, "free", msg);
		return -1;
	}
	log_info("vmid %u: freed volume '%s': %s", vmid, vol->volid, why);
	audit_emit("volume-freed", vmid, json_pack("{s:s, s:s}", "volid",
	    vol->volid, "reason", why));
	return journal_append(vmid, "volume-freed", vol->volid, NULL);
}

/* A disk allocation waiting for qemu-img create. */
struct alloc_work {
	struct priv_req	 req;
	uint32_t	 vmid;
	struct volume	 vol;
};

static void
alloc_done(struct alloc_work *w)
{
	log_info("vmid %u: allocated volume '%s', %" PRIu64 " KiB", w->vmid,
	    w->vol.volid, w->vol.size_kib);
	audit_emit("volume-allocated", w->vmid, json_pack("{s:s, s:s, s:I}",
	    "volid", w->vol.volid, "format", image_format_name(w->vol.format),
	    "size_kib", (json_int_t)w->vol.size_kib));
	priv_reply(&w->req, 0, "", json_pack("{s:s, s:s}", "volid",
	    w->vol.volid, "format", image_format_name(w->vol.format)), -1);
}

static void
alloc_fail(struct alloc_work *w, int error, const char *msg)
{
	priv_log_error(w->vmid, "disk", msg);
	volume_release(w->vmid, &w->vol, "allocation failed");
	priv_reply(&w->req, error, msg, NULL, -1);
}

static void
alloc_spawned(void *arg, int error, int status, const char *out,
    size_t outlen)
{
	struct alloc_work	*w = arg;
	char			 msg[PRIV_MSG_MAX];

	if (error != 0)
		snprintf(msg, sizeof(msg), "failed to allocate volume "
		    "'%.160s': qemu-img did not start: %s\n", w->vol.volid,
		    strerror(error));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		snprintf(msg, sizeof(msg), "failed to allocate volume "
		    "'%.160s': qemu-img create ended with status 0x%x\n",
		    w->vol.volid, (unsigned)status);
	else if (journal_append(w->vmid, "volume-allocated", w->vol.volid,
	    w->vol.path) == -1)
		snprintf(msg, sizeof(msg), "unable to write the journal\n");
	else {
		alloc_done(w);
		free(w);
		return;
	}
	alloc_fail(w, error != 0 ? error : EIO, msg);
	free(w);
}

/* qcow2, and raw with preallocation: qemu-img create, as root. */
static int
alloc_with_qemu_img(struct alloc_work *w)
{
	const struct proc_setup	*setup = priv_config();
	struct spawn_exec	 exec;
	char			 opt[64], size[32];
	const char		*argv[] = { setup->qemu_img, "create", "-f",
				    image_format_name(w->vol.format), "-o", opt,
				    w->vol.path, size, NULL };

	snprintf(opt, sizeof(opt), "preallocation=%s",
	    preallocation_name(w->vol.preallocation));
	snprintf(size, sizeof(size), "%" PRIu64 "K", w->vol.size_kib);
	memset(&exec, 0, sizeof(exec));
	exec.timeout = QEMU_IMG_CREATE_TIMEOUT;
	return priv_spawn(w->vmid, &exec, argv, alloc_spawned, w);
}

/* raw without preallocation: a sparse file of the size. */
static int
alloc_sparse(struct alloc_work *w, int fd, char *msg, size_t msglen)
{
	if (ftruncate(fd, (off_t)(w->vol.size_kib * 1024)) == -1 ||
	    fsync(fd) == -1) {
		snprintf(msg, msglen, "failed to allocate volume '%.160s': "
		    "%s\n",
		    w->vol.volid, strerror(errno));
		return -1;
	}
	if (journal_append(w->vmid, "volume-allocated", w->vol.volid,
	    w->vol.path) == -1) {
		snprintf(msg, msglen, "unable to write the journal\n");
		return -1;
	}
	return 0;
}

/* Check the request and fill w->vol; returns the storage or NULL. */
static const struct storage *
alloc_prepare(struct alloc_work *w, const struct tunnel_disk_alloc *disk,
    char *msg, size_t msglen)
{
	const struct storage	*s;

	if (!journal_exists(w->vmid)) {
		snprintf(msg, msglen, "no migration of VM %u in progress\n",
		    w->vmid);
		return NULL;
	}
	if ((s = volume_storage(disk->storage, msg, msglen)) == NULL ||
	    volume_format_resolve(s, disk->format, &w->vol.format, msg,
	    msglen) == -1)
		return NULL;
	if (volume_size_kib(disk->size, &w->vol.size_kib) == -1) {
		snprintf(msg, msglen, "invalid disk size %" PRIu64 " bytes\n",
		    disk->size);
		return NULL;
	}
	w->vol.preallocation = storage_preallocation(s, w->vol.format);
	return s;
}

/* Allocate under the lock; returns 0 once a reply is on its way. */
static int
alloc_locked(struct alloc_work *w, const struct tunnel_disk_alloc *disk,
    char *msg, size_t msglen)
{
	const struct storage	*s;
	int			 fd;

	if ((s = alloc_prepare(w, disk, msg, msglen)) == NULL ||
	    volume_reserve(w->vmid, s, &w->vol, &fd, msg, msglen) == -1)
		return -1;
	if (w->vol.preallocation != PREALLOCATION_OFF) {
		close(fd);
		if (alloc_with_qemu_img(w) == -1) {
			alloc_fail(w, EIO, "unable to run qemu-img\n");
			free(w);
		}
		return 0;
	}
	if (alloc_sparse(w, fd, msg, msglen) == -1) {
		close(fd);
		alloc_fail(w, EIO, msg);
		free(w);
		return 0;
	}
	close(fd);
	alloc_done(w);
	free(w);
	return 0;
}

/* IMSG_PRIV_DISK_ALLOC: a new volume for the disk command. */
void
priv_disk_alloc(const struct imsg *imsg)
{
	struct priv_disk_alloc	 req;
	struct alloc_work	*w;
	char			 msg[PRIV_MSG_MAX];
	int			 lockfd, rv;

	if (imsg_datalen(imsg) != sizeof(req))
		fatalx("disk request of %zu bytes", imsg_datalen(imsg));
	memcpy(&req, imsg->data, sizeof(req));
	if (priv_check_stamp(imsg, req.vmid) == -1)
		return;
	if (!priv_string_ok(req.disk.storage, sizeof(req.disk.storage)) ||
	    !priv_string_ok(req.disk.format, sizeof(req.disk.format))) {
		priv_refuse(imsg, "unterminated disk request");
		return;
	}
	if ((rv = priv_lock(req.vmid, &lockfd, msg, sizeof(msg))) == 1)
		return;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("disk request");
	priv_req_of(imsg, &w->req);
	w->vmid = req.vmid;
	if (rv == -1 || alloc_locked(w, &req.disk, msg, sizeof(msg)) == -1) {
		priv_log_error(req.vmid, "disk", msg);
		priv_reply(&w->req, EINVAL, msg, NULL, -1);
		free(w);
	}
	if (rv == 0)
		close(lockfd);
}
