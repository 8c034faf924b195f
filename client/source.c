/*
 * The source VM on this host: its config file, its volumes on the dir
 * storages of storage.cfg, its lock, and the config sent to the target
 * with volumes, sizes and bridges mapped.
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "conf.h"
#include "storagecfg.h"
#include "vmconfig.h"

#include "migrate.h"
#include "source.h"

#define QCOW2_MAGIC	0x514649fbU	/* "QFI\xfb" */
#define NET_MAX		32

static int
read_file(const char *path, char **buf, size_t *len, char *err,
    size_t errlen)
{
	struct stat	 st;
	int		 fd;
	ssize_t		 n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (st.st_size > VMCONFIG_FILE_MAX ||
	    (*buf = malloc(st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s is too large", path);
		close(fd);
		return -1;
	}
	n = read(fd, *buf, st.st_size);
	close(fd);
	if (n != st.st_size) {
		snprintf(err, errlen, "short read on %s", path);
		free(*buf);
		return -1;
	}
	(*buf)[n] = '\0';
	*len = n;
	return 0;
}

int
source_load_config(struct source *s, char *err, size_t errlen)
{
	char	*buf;
	size_t	 len;
	char	 why[VMCONFIG_ERR_MAX];
	int	 rv;

	if (read_file(s->confpath, &buf, &len, err, errlen) == -1)
		return -1;
	rv = vmconfig_parse(&s->cfg, buf, len, 0, s->vmid, why, sizeof(why));
	free(buf);
	if (rv == -1) {
		snprintf(err, errlen, "%s: %s", s->confpath, why);
		return -1;
	}
	return 0;
}

/* Replace the config file with text through a temporary file. */
static int
write_config(struct source *s, const char *text, size_t len, char *err,
    size_t errlen)
{
	char	 tmp[PATH_MAX + 32];
	int	 fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", s->confpath, (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) ==
	    -1 || write(fd, text, len) != (ssize_t)len || fsync(fd) == -1 ||
	    close(fd) == -1 || rename(tmp, s->confpath) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", s->confpath,
		    strerror(errno));
		if (fd != -1)
			unlink(tmp);
		return -1;
	}
	return 0;
}

/* The end of the main section: the first line that starts with '['. */
static size_t
main_section_end(const char *text, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (text[i] == '[' && (i == 0 || text[i - 1] == '\n'))
			return i;
	return len;
}

/* Drop a "lock: ..." line of the main section, in place. */
static void
drop_lock_line(char *text, size_t *len)
{
	size_t	 end = main_section_end(text, *len), i, n;

	for (i = 0; i < end; i += n) {
		n = strcspn(text + i, "\n");
		if (i + n < *len)
			n++;
		if (strncmp(text + i, "lock:", 5) == 0) {
			memmove(text + i, text + i + n, *len - i - n + 1);
			*len -= n;
			return;
		}
	}
}

/*
 * Set (lock "migrate") or remove (lock NULL) the lock of the VM.  Only
 * the lock line changes: the rest of the file stays as written.
 */
int
source_set_lock(struct source *s, const char *lock, char *err,
    size_t errlen)
{
	char	*buf, *text;
	size_t	 len, end;
	int	 rv;

	if (read_file(s->confpath, &buf, &len, err, errlen) == -1)
		return -1;
	drop_lock_line(buf, &len);
	if (lock == NULL) {
		rv = write_config(s, buf, len, err, errlen);
		free(buf);
		return rv;
	}
	end = main_section_end(buf, len);
	if (asprintf(&text, "%.*s%slock: %s\n%s", (int)end, buf,
	    end > 0 && buf[end - 1] != '\n' ? "\n" : "", lock, buf + end) ==
	    -1) {
		free(buf);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rv = write_config(s, text, strlen(text), err, errlen);
	free(text);
	free(buf);
	return rv;
}

/* Whether the VM's QMP socket accepts a connection. */
int
source_running(const struct source *s)
{
	struct sockaddr_un	 sun;
	int			 fd, up;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%u/qmp",
	    s->rundir, s->vmid) >= sizeof(sun.sun_path))
		return 0;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	up = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return up;
}

/* The virtual size of a qcow2 image from its header. */
static int
qcow2_virtual_size(const char *path, uint64_t *size)
{
	unsigned char	 hdr[32];
	uint32_t	 magic;
	uint64_t	 v;
	int		 fd;
	ssize_t		 n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, hdr, sizeof(hdr));
	close(fd);
	if (n != sizeof(hdr))
		return -1;
	memcpy(&magic, hdr, 4);
	if (be32toh(magic) != QCOW2_MAGIC)
		return -1;
	memcpy(&v, hdr + 24, 8);
	*size = be64toh(v);
	return 0;
}

/* "vm-<src>-disk-0.raw" becomes "vm-<dst>-disk-0.raw". */
static int
rename_for_target(const char *file, uint32_t src, uint32_t dst, char *out,
    size_t outlen)
{
	char	 prefix[32];
	size_t	 plen;

	plen = snprintf(prefix, sizeof(prefix), "vm-%u-", src);
	if (strncmp(file, prefix, plen) != 0)
		return -1;
	if ((size_t)snprintf(out, outlen, "vm-%u-%s", dst, file + plen) >=
	    outlen)
		return -1;
	return 0;
}

static int
volume_fill(struct source *s, struct volume *v, char *err, size_t errlen)
{
	struct stat	 st;
	const char	*file;
	char		 why[512];

	if (storage_volume_path(s->storages, v->volid, v->path,
	    sizeof(v->path), v->format, sizeof(v->format), why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", v->key, why);
		return -1;
	}
	if (strcmp(v->format, "raw") != 0 && strcmp(v->format, "qcow2") != 0) {
		snprintf(err, errlen, "%s: volume '%s' has format %s; only "
		    "raw and qcow2 can be migrated", v->key, v->volid,
		    v->format);
		return -1;
	}
	if (stat(v->path, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: volume '%s': cannot access %s",
		    v->key, v->volid, v->path);
		return -1;
	}
	v->file_size = st.st_size;
	v->size = st.st_size;
	if (strcmp(v->format, "qcow2") == 0 &&
	    qcow2_virtual_size(v->path, &v->size) == -1) {
		snprintf(err, errlen, "%s: %s is not a qcow2 image", v->key,
		    v->path);
		return -1;
	}
	file = strrchr(v->path, '/') + 1;
	if (rename_for_target(file, s->vmid, s->target_vmid,
	    v->target_volname, sizeof(v->target_volname)) == -1) {
		snprintf(err, errlen, "%s: volume '%s' is not named "
		    "vm-%u-*", v->key, v->volid, s->vmid);
		return -1;
	}
	return 0;
}

static int
collect_drive(const char *key, const struct drive *d, void *arg)
{
	struct source	*s = arg;
	struct volume	*v;
	const char	*volid = drive_volid(d);
	char		 sid[STORAGE_ID_MAX + 1], name[512];

	if (d->file_kind == DRIVE_FILE_NONE ||
	    (d->cdrom && d->file_kind == DRIVE_FILE_CDROM))
		return 0;
	if (d->cdrom) {
		snprintf(s->err, sizeof(s->err), "%s: cannot migrate a VM "
		    "with a local CD-ROM image", key);
		return -1;
	}
	if (volid == NULL) {
		snprintf(s->err, sizeof(s->err), "%s: cannot migrate a disk "
		    "that is a path, not a volume", key);
		return -1;
	}
	if (s->nvolumes == VOLUMES_MAX) {
		snprintf(s->err, sizeof(s->err), "more than %d volumes",
		    VOLUMES_MAX);
		return -1;
	}
	v = &s->volumes[s->nvolumes];
	memset(v, 0, sizeof(*v));
	strlcpy(v->key, key, sizeof(v->key));
	strlcpy(v->volid, volid, sizeof(v->volid));
	v->online = strncmp(key, "unused", 6) != 0;
	if (parse_volid(volid, sid, sizeof(sid), name, sizeof(name)) == -1) {
		snprintf(s->err, sizeof(s->err), "%s: invalid volume ID '%s'",
		    key, volid);
		return -1;
	}
	strlcpy(v->target_storage, map_id(s->storage_map, sid),
	    sizeof(v->target_storage));
	if (volume_fill(s, v, s->err, sizeof(s->err)) == -1)
		return -1;
	s->nvolumes++;
	return 0;
}

static int
volume_cmp(const void *a, const void *b)
{
	return strcmp(((const struct volume *)a)->volid,
	    ((const struct volume *)b)->volid);
}

/* The value of bridge= in a net value, "" when there is none. */
static void
net_bridge(const char *value, char *out, size_t outlen)
{
	const char	*p = value;
	size_t		 n;

	out[0] = '\0';
	while (p != NULL && *p != '\0') {
		if (strncmp(p, "bridge=", 7) == 0) {
			n = strcspn(p + 7, ",");
			if (n < outlen) {
				memcpy(out, p + 7, n);
				out[n] = '\0';
			}
			return;
		}
		if ((p = strchr(p, ',')) != NULL)
			p++;
	}
}

int
source_scan(struct source *s, char *err, size_t errlen)
{
	const char	*value;
	char		 key[16];
	int		 i;

	s->err[0] = '\0';
	if (vmconfig_foreach_drive(&s->cfg, collect_drive, s) != 0) {
		snprintf(err, errlen, "%s", s->err[0] ? s->err :
		    "cannot read the drives of the config");
		return -1;
	}
	qsort(s->volumes, s->nvolumes, sizeof(s->volumes[0]), volume_cmp);
	for (i = 0; i < NET_MAX; i++) {
		snprintf(key, sizeof(key), "net%d", i);
		if ((value = vmconfig_get(&s->cfg, key)) == NULL)
			continue;
		net_bridge(value, s->bridges[s->nbridges].src,
		    sizeof(s->bridges[0].src));
		if (s->bridges[s->nbridges].src[0] == '\0')
			continue;
		strlcpy(s->bridges[s->nbridges].key, key,
		    sizeof(s->bridges[0].key));
		strlcpy(s->bridges[s->nbridges].dst, map_id(s->bridge_map,
		    s->bridges[s->nbridges].src), sizeof(s->bridges[0].dst));
		s->nbridges++;
	}
	return 0;
}

/* Replace bridge=<src> in net value with bridge=<dst>. */
static int
net_rewrite(const char *value, const char *dst, char *out, size_t outlen)
{
	const char	*p = strstr(value, "bridge=");
	size_t		 head, n;

	if (p == NULL || (p != value && p[-1] != ','))
		return -1;
	head = p + 7 - value;
	n = strcspn(p + 7, ",");
	if ((size_t)snprintf(out, outlen, "%.*s%s%s", (int)head, value, dst,
	    p + 7 + n) >= outlen)
		return -1;
	return 0;
}

static int
rewrite_drive(struct vmconfig *cfg, const struct volume *v, uint32_t vmid,
    char *err, size_t errlen)
{
	struct drive	*d;
	char		 why[512], size[SIZE_STR_MAX], *text;
	int		 rv = -1;

	d = malloc(sizeof(*d));
	text = malloc(VMCONFIG_VALUE_MAX + 1);
	if (d == NULL || text == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	format_size(v->size, size, sizeof(size));
	if (parse_drive(v->key, vmconfig_get(cfg, v->key), vmid, d, why,
	    sizeof(why)) == -1 ||
	    drive_set(d, "file", v->target_volid, why, sizeof(why)) == -1 ||
	    (d->bus != DRIVE_UNUSED &&
	    drive_set(d, "size", size, why, sizeof(why)) == -1) ||
	    print_drive(d, text, VMCONFIG_VALUE_MAX + 1) == -1 ||
	    vmconfig_set(cfg, v->key, text, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: cannot rewrite the drive: %s",
		    v->key, why);
		goto out;
	}
	rv = 0;
out:
	free(d);
	free(text);
	return rv;
}

/*
 * The config for the target: volumes replaced by the imported ones with
 * their real sizes, bridges mapped, and lock, pending changes and
 * snapshots dropped.  Returns allocated text, or NULL with err.
 */
char *
source_target_config(struct source *s, char *err, size_t errlen)
{
	char	 value[VMCONFIG_VALUE_MAX + 1], why[512], *text;
	size_t	 i, len;

	for (i = 0; i < s->nvolumes; i++)
		if (rewrite_drive(&s->cfg, &s->volumes[i], s->vmid, err,
		    errlen) == -1)
			return NULL;
	for (i = 0; i < s->nbridges; i++) {
		if (net_rewrite(vmconfig_get(&s->cfg, s->bridges[i].key),
		    s->bridges[i].dst, value, sizeof(value)) == -1 ||
		    vmconfig_set(&s->cfg, s->bridges[i].key, value, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "%s: cannot map bridge %s to "
			    "%s", s->bridges[i].key, s->bridges[i].src,
			    s->bridges[i].dst);
			return NULL;
		}
		say("mapped: %s from %s to %s", s->bridges[i].key,
		    s->bridges[i].src, s->bridges[i].dst);
	}
	/*
	 * NOTE: unlike upstream, a VM with snapshots is not rejected: the
	 * snapshot sections are dropped, and a qcow2 file keeps its
	 * internal snapshots.
	 */
	vmconfig_strip_for_migration(&s->cfg);
	if (vmconfig_write(&s->cfg, &text, &len) == -1) {
		snprintf(err, errlen, "cannot print the config for the target");
		return NULL;
	}
	return text;
}

/* --delete: remove the source volumes, then the config. */
int
source_destroy(struct source *s, char *err, size_t errlen)
{
	size_t	 i;

	for (i = 0; i < s->nvolumes; i++) {
		if (unlink(s->volumes[i].path) == -1 && errno != ENOENT) {
			snprintf(err, errlen, "cannot remove %s: %s",
			    s->volumes[i].path, strerror(errno));
			return -1;
		}
	}
	if (unlink(s->confpath) == -1) {
		snprintf(err, errlen, "cannot remove %s: %s", s->confpath,
		    strerror(errno));
		return -1;
	}
	return 0;
}
