/*
 * The audit log: see auditlog.h for the record format and the chain.
 */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "auditlog.h"
#include "imsg.h"
#include "log.h"
#include "mtunneld.h"

#define AUDIT_FLUSH_MS	2000
#define HEAD_LINE_LEN	(20 + 1 + AUDIT_HASH_HEX + 1)	/* seq hash \n */

static const char	 zero_hash[AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static const char *const reserved_keys[] = {
	"seq", "time", "prev", "event", "process", "user", "vmid", "remote",
};

static struct imsgbuf	*audit_channel;
static audit_local_fn	 audit_local;

int
audit_reserved_key(const char *key)
{
	size_t	 i;

	for (i = 0; i < sizeof(reserved_keys) / sizeof(reserved_keys[0]); i++)
		if (strcmp(key, reserved_keys[i]) == 0)
			return 1;
	return 0;
}

void
audit_to_channel(struct imsgbuf *ibuf)
{
	audit_channel = ibuf;
}

void
audit_set_local(audit_local_fn fn)
{
	audit_local = fn;
}

static void
audit_send(const char *event, uint32_t vmid, json_t *fields)
{
	struct audit_event	 ev;
	struct iovec		 iov[2];
	char			*text;

	memset(&ev, 0, sizeof(ev));
	ev.vmid = vmid;
	strlcpy(ev.event, event, sizeof(ev.event));
	if ((text = json_dumps(fields, JSON_COMPACT | JSON_ENSURE_ASCII)) ==
	    NULL || strlen(text) > AUDIT_FIELDS_MAX) {
		log_warnx("audit event %s for vmid %u: fields too large or "
		    "not serializable; sent without them", event, vmid);
		free(text);
		text = NULL;
	}
	iov[0].iov_base = &ev;
	iov[0].iov_len = sizeof(ev);
	iov[1].iov_base = text ? text : "{}";
	iov[1].iov_len = text ? strlen(text) : 2;
	if (imsg_composev(audit_channel, IMSG_AUDIT_EVENT, vmid, 0, -1, iov,
	    2) == -1 ||
	    imsg_flush_blocking(audit_channel, AUDIT_FLUSH_MS) == -1)
		log_warnx("audit event %s for vmid %u not sent: %s", event,
		    vmid, imsg_error(audit_channel));
	free(text);
}

void
audit_emit(const char *event, uint32_t vmid, json_t *fields)
{
	if (fields == NULL)
		fields = json_object();
	if (fields == NULL || !json_is_object(fields)) {
		log_warnx("audit event %s for vmid %u: fields are not a JSON "
		    "object; dropped", event, vmid);
		json_decref(fields);
		return;
	}
	if (audit_local != NULL) {
		audit_local(event, vmid, fields);
		return;
	}
	if (audit_channel != NULL)
		audit_send(event, vmid, fields);
	else
		log_warnx("audit event %s for vmid %u dropped: no audit log "
		    "in this process", event, vmid);
	json_decref(fields);
}

void
audit_hash_hex(const void *buf, size_t len, char *hex)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen * 2 != AUDIT_HASH_HEX)
		fatalx("SHA-256 failed");
	for (i = 0; i < mdlen; i++)
		snprintf(hex + i * 2, 3, "%02x", md[i]);
	hex[AUDIT_HASH_HEX] = '\0';
}

/* "2026-12-04T18:50:04.123Z", UTC, so no time zone file is read. */
static void
audit_time(char *buf, size_t len)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 sec[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", sec, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* The numbers N of the files "<base>.<N>" beside path, ascending. */
static int
rotated_cmp(const void *a, const void *b)
{
	unsigned int	 x = *(const unsigned int *)a;
	unsigned int	 y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

static int
rotated_number(const char *name, const char *base, unsigned int *n)
{
	size_t		 blen = strlen(base);
	const char	*p;
	unsigned long	 v = 0;

	if (strncmp(name, base, blen) != 0 || name[blen] != '.' ||
	    name[blen + 1] < '1' || name[blen + 1] > '9')
		return -1;
	for (p = name + blen + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > AUDIT_ROTATED_MAX)
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > AUDIT_ROTATED_MAX)
		return -1;
	*n = (unsigned int)v;
	return 0;
}

static void
split_path(const char *path, char *dir, size_t dirlen, const char **base)
{
	const char	*slash = strrchr(path, '/');

	if (slash == NULL) {
		strlcpy(dir, ".", dirlen);
		*base = path;
	} else if (slash == path) {
		strlcpy(dir, "/", dirlen);
		*base = slash + 1;
	} else {
		strlcpy(dir, path, dirlen);
		if ((size_t)(slash - path) < dirlen)
			dir[slash - path] = '\0';
		*base = slash + 1;
	}
}

int
audit_rotated_list(const char *path, unsigned int **list, size_t *count)
{
	char		 dir[4096];
	const char	*base;
	struct dirent	*de;
	DIR		*d;
	unsigned int	*v = NULL, *nv, n;
	size_t		 cnt = 0;

	split_path(path, dir, sizeof(dir), &base);
	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (rotated_number(de->d_name, base, &n) == -1)
			continue;
		if ((nv = reallocarray(v, cnt + 1, sizeof(*v))) == NULL) {
			free(v);
			closedir(d);
			return -1;
		}
		v = nv;
		v[cnt++] = n;
	}
	closedir(d);
	if (cnt > 0)
		qsort(v, cnt, sizeof(*v), rotated_cmp);
	*list = v;
	*count = cnt;
	return 0;
}

/*
 * Read the last complete line of the file at path into buf.  Returns its
 * length, 0 for an empty file, -1 on error.  *partial is set when bytes
 * follow the last newline (a record cut short).
 */
static ssize_t
read_last_line(const char *path, char *buf, size_t buflen, int *partial)
{
	struct stat	 st;
	off_t		 start;
	ssize_t		 n;
	char		*nl, *end;
	int		 fd;

	*partial = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) == -1 || st.st_size == 0) {
		close(fd);
		return st.st_size == 0 ? 0 : -1;
	}
	start = st.st_size > (off_t)buflen ? st.st_size - (off_t)buflen : 0;
	n = pread(fd, buf, (size_t)(st.st_size - start), start);
	close(fd);
	if (n <= 0)
		return -1;
	end = buf + n;
	if (end[-1] != '\n') {
		*partial = 1;
		if ((nl = memrchr(buf, '\n', (size_t)n)) == NULL)
			return start == 0 ? 0 : -1;
		end = nl + 1;
	}
	end--;				/* the newline */
	nl = memrchr(buf, '\n', (size_t)(end - buf));
	if (nl == NULL && start != 0)
		return -1;		/* longer than buflen */
	nl = nl ? nl + 1 : buf;
	memmove(buf, nl, (size_t)(end - nl));
	return end - nl;
}

/* Take seq and hash from a record line; -1 if it is not a record. */
static int
line_state(const char *line, size_t len, uint64_t *seq, char *hash)
{
	json_t		*root, *v;
	json_error_t	 err;
	int		 rv = -1;

	if ((root = json_loadb(line, len, 0, &err)) == NULL)
		return -1;
	v = json_object_get(root, "seq");
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*seq = (uint64_t)json_integer_value(v);
		audit_hash_hex(line, len, hash);
		rv = 0;
	}
	json_decref(root);
	return rv;
}

/*
 * Find the end of the chain: the last record of the current file, or of
 * the newest rotated file when the current one is empty.
 */
static int
writer_load_state(struct audit_writer *w, int *partial, char *err,
    size_t errlen)
{
	char		*buf, file[sizeof(w->path) + 16];
	unsigned int	*list = NULL;
	size_t		 count = 0;
	ssize_t		 len;
	int		 dummy;

	if ((buf = malloc(AUDIT_LINE_MAX + 2)) == NULL) {
		snprintf(err, errlen, "audit log: out of memory");
		return -1;
	}
	strlcpy(file, w->path, sizeof(file));
	len = read_last_line(file, buf, AUDIT_LINE_MAX + 2, partial);
	if (len == 0 && !*partial &&
	    audit_rotated_list(w->path, &list, &count) == 0 && count > 0) {
		snprintf(file, sizeof(file), "%s.%u", w->path,
		    list[count - 1]);
		len = read_last_line(file, buf, AUDIT_LINE_MAX + 2, &dummy);
	}
	free(list);
	if (len > 0 && line_state(buf, (size_t)len, &w->seq, w->last) == 0)
		len = 0;
	else if (len != 0) {
		snprintf(err, errlen, "audit log %s: the last record is not "
		    "readable, so the chain cannot continue; run 'mtunnelctl "
		    "audit verify' and move the file away", file);
		free(buf);
		return -1;
	}
	free(buf);
	return 0;
}

static int
writer_open_file(struct audit_writer *w, int excl, char *err, size_t errlen)
{
	struct stat	 st;
	int		 flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
			    O_NOFOLLOW;

	if (excl)
		flags |= O_EXCL;
	if ((w->fd = open(w->path, flags, 0600)) == -1) {
		snprintf(err, errlen, "audit log %s: %s", w->path,
		    strerror(errno));
		return -1;
	}
	if (fstat(w->fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "audit log %s: not a regular file",
		    w->path);
		close(w->fd);
		w->fd = -1;
		return -1;
	}
	w->size = st.st_size;
	return 0;
}

static int
writer_write_head(struct audit_writer *w)
{
	char	 line[HEAD_LINE_LEN + 1];

	snprintf(line, sizeof(line), "%020" PRIu64 " %s\n", w->seq, w->last);
	if (pwrite(w->headfd, line, HEAD_LINE_LEN, 0) != HEAD_LINE_LEN ||
	    fdatasync(w->headfd) == -1)
		return -1;
	return 0;
}

/* Read a head file: 1 with seq and hash, 0 if it is missing or invalid. */
static int
read_head(const char *path, uint64_t *seq, char *hash)
{
	char			 buf[HEAD_LINE_LEN + 1];
	unsigned long long	 v;
	FILE			*fp;
	int			 rv = 0;

	if ((fp = fopen(path, "re")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), fp) != NULL &&
	    sscanf(buf, "%20llu %64[0-9a-f]", &v, hash) == 2) {
		*seq = v;
		rv = 1;
	}
	fclose(fp);
	return rv;
}

/*
 * Compare the head file with the end of the log.  A head that names a
 * later or different record, or none, means records were removed while
 * no writer ran: append a record about it, which verify reports.  A head
 * one record behind only means a crash between the two writes.
 */
static int
writer_check_head(struct audit_writer *w, const char *head, char *err,
    size_t errlen)
{
	uint64_t	 seq = 0;
	char		 hash[AUDIT_HASH_HEX + 1] = "";
	int		 found;
	json_t		*rec;

	found = read_head(head, &seq, hash);
	if (found && (seq + 1 == w->seq || (seq == w->seq &&
	    strcmp(hash, w->last) == 0)))
		return 0;
	if (!found && w->seq == 0)
		return 0;
	log_warnx("audit log %s ends at seq %" PRIu64 " but its head file %s; "
	    "recording it", w->path, w->seq, found ? "names a later or "
	    "different record" : "is missing or invalid");
	rec = json_pack("{s:s, s:s, s:I, s:o}", "event",
	    "audit-log-head-mismatch", "process", "parent", "log_seq",
	    (json_int_t)w->seq, "head_seq", found ? json_integer(
	    (json_int_t)seq) : json_null());
	if (rec == NULL || audit_writer_append(w, rec, err, errlen) == -1) {
		json_decref(rec);
		return -1;
	}
	json_decref(rec);
	return 0;
}

static int
writer_open_head(struct audit_writer *w, char *err, size_t errlen)
{
	char	 head[sizeof(w->path) + 8];

	snprintf(head, sizeof(head), "%s.head", w->path);
	w->headfd = -1;
	if (writer_check_head(w, head, err, errlen) == -1)
		return -1;
	if ((w->headfd = open(head, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1 ||
	    ftruncate(w->headfd, HEAD_LINE_LEN) == -1 ||
	    writer_write_head(w) == -1) {
		snprintf(err, errlen, "audit head file %s: %s", head,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
sync_dir(const char *path)
{
	char		 dir[4096];
	const char	*base;
	int		 fd;

	split_path(path, dir, sizeof(dir), &base);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	(void)fsync(fd);
	close(fd);
}

/* Rename the current file to "<log>.<N>" and start a new one. */
static int
writer_rotate(struct audit_writer *w, char *err, size_t errlen)
{
	char		 old[sizeof(w->path) + 16];
	const char	*slash;
	unsigned int	*list = NULL;
	size_t		 count = 0;
	unsigned int	 next = 1;
	json_t		*rec;

	if (audit_rotated_list(w->path, &list, &count) == 0 && count > 0)
		next = list[count - 1] + 1;
	free(list);
	snprintf(old, sizeof(old), "%s.%u", w->path, next);
	if (next > AUDIT_ROTATED_MAX || rename(w->path, old) == -1) {
		snprintf(err, errlen, "audit log rotation to %s: %s", old,
		    next > AUDIT_ROTATED_MAX ? "too many rotated files" :
		    strerror(errno));
		return -1;
	}
	close(w->fd);
	w->fd = -1;
	if (writer_open_file(w, 1, err, errlen) == -1)
		return -1;
	sync_dir(w->path);
	slash = strrchr(old, '/');
	rec = json_pack("{s:s, s:s, s:s}", "event", "audit-log-rotated",
	    "process", "parent", "previous", slash ? slash + 1 : old);
	if (rec == NULL)
		return -1;
	/* A new file is far below the limit, so this cannot rotate again. */
	if (audit_writer_append(w, rec, err, errlen) == -1) {
		json_decref(rec);
		return -1;
	}
	json_decref(rec);
	return 0;
}

/*
 * Open the log at path for appending and find the last seq and hash.
 * rotate_size is the size after which the file is rotated, 0 for never.
 * A file cut inside a record (a crash or a full disk mid-write) is
 * rotated away untouched, so that verify still reports it.
 */
int
audit_writer_open(struct audit_writer *w, const char *path,
    off_t rotate_size, char *err, size_t errlen)
{
	int	 partial = 0;

	memset(w, 0, sizeof(*w));
	w->fd = w->headfd = -1;
	w->rotate_size = rotate_size;
	strlcpy(w->last, zero_hash, sizeof(w->last));
	if (strlcpy(w->path, path, sizeof(w->path)) >= sizeof(w->path)) {
		snprintf(err, errlen, "audit log path too long");
		return -1;
	}
	if (writer_load_state(w, &partial, err, errlen) == -1 ||
	    writer_open_file(w, 0, err, errlen) == -1)
		return -1;
	if (writer_open_head(w, err, errlen) == -1 ||
	    (partial && writer_rotate(w, err, errlen) == -1)) {
		audit_writer_close(w);
		return -1;
	}
	return 0;
}

void
audit_writer_close(struct audit_writer *w)
{
	if (w->fd != -1)
		close(w->fd);
	if (w->headfd != -1)
		close(w->headfd);
	w->fd = w->headfd = -1;
}

/* The record as one line: seq, time, prev, then record's own keys. */
static char *
writer_format(struct audit_writer *w, json_t *record, size_t *len)
{
	json_t		*line, *v;
	const char	*key;
	char		 now[64], *text;

	audit_time(now, sizeof(now));
	if ((line = json_pack("{s:I, s:s, s:s}", "seq",
	    (json_int_t)(w->seq + 1), "time", now, "prev", w->last)) == NULL)
		return NULL;
	json_object_foreach(record, key, v)
		if (strcmp(key, "seq") != 0 && strcmp(key, "time") != 0 &&
		    strcmp(key, "prev") != 0)
			json_object_set(line, key, v);
	text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(line);
	if (text == NULL)
		return NULL;
	*len = strlen(text);
	text[*len] = '\n';	/* json_dumps leaves room for its NUL only */
	return text;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Append record (a JSON object, not consumed) with the next seq, the time
 * and prev, and fsync it.  On a failed write the file is cut back to its
 * old size, so no partial record stays, and seq does not advance.
 */
int
audit_writer_append(struct audit_writer *w, json_t *record, char *err,
    size_t errlen)
{
	char	*text, hash[AUDIT_HASH_HEX + 1];
	size_t	 len;
	int	 saved;

	if (w->fd == -1) {
		snprintf(err, errlen, "audit log %s is not open", w->path);
		return -1;
	}
	if ((text = writer_format(w, record, &len)) == NULL) {
		snprintf(err, errlen, "audit record cannot be formatted");
		return -1;
	}
	/* Write the newline in the same call: text has len + 1 bytes. */
	if (write_all(w->fd, text, len + 1) == -1 || fsync(w->fd) == -1) {
		saved = errno;
		if (ftruncate(w->fd, w->size) == -1)
			log_warn("audit log %s: cannot cut a partial record",
			    w->path);
		free(text);
		snprintf(err, errlen, "audit log %s: write failed: %s",
		    w->path, strerror(saved));
		errno = saved;
		return -1;
	}
	audit_hash_hex(text, len, hash);
	free(text);
	w->seq++;
	strlcpy(w->last, hash, sizeof(w->last));
	w->size += (off_t)len + 1;
	if (w->headfd != -1 && writer_write_head(w) == -1) {
		snprintf(err, errlen, "audit head file of %s: %s", w->path,
		    strerror(errno));
		return -1;
	}
	if (w->rotate_size > 0 && w->size >= w->rotate_size)
		return writer_rotate(w, err, errlen);
	return 0;
}

void
audit_verify_init(struct audit_verify *v)
{
	memset(v, 0, sizeof(*v));
	strlcpy(v->last, zero_hash, sizeof(v->last));
}

static int
verify_fail(struct audit_verify *v, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
verify_fail(struct audit_verify *v, uint64_t seq, const char *fmt, ...)
{
	va_list	 ap;

	v->failed = 1;
	v->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(v->error, sizeof(v->error), fmt, ap);
	va_end(ap);
	return -1;
}

static int
is_hex_hash(const char *s)
{
	size_t	 i;

	for (i = 0; i < AUDIT_HASH_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[AUDIT_HASH_HEX] == '\0';
}

/*
 * A head-mismatch record: the writer found at start that the log had
 * lost records.  Returns -1 with v->error filled.
 */
static int
verify_mismatch(struct audit_verify *v, json_t *root, uint64_t seq)
{
	json_t		*h = json_object_get(root, "head_seq");
	uint64_t	 logseq;

	logseq = (uint64_t)json_integer_value(json_object_get(root,
	    "log_seq"));
	if (json_is_integer(h) && (uint64_t)json_integer_value(h) <= logseq)
		return verify_fail(v, logseq, "seq %" PRIu64 " records that "
		    "when the daemon started, the head file named seq %"
		    JSON_INTEGER_FORMAT " instead of the log's last record, "
		    "seq %" PRIu64, seq, json_integer_value(h), logseq);
	if (json_is_integer(h))
		return verify_fail(v, logseq + 1, "seq %" PRIu64 " to %"
		    JSON_INTEGER_FORMAT " are missing: seq %" PRIu64 " records "
		    "that the log ended at seq %" PRIu64 " when the daemon "
		    "started, but the head file named a later or different "
		    "record", logseq + 1, json_integer_value(h), seq, logseq);
	return verify_fail(v, logseq + 1, "records after seq %" PRIu64 " may "
	    "be missing: seq %" PRIu64 " records that the head file was "
	    "missing when the daemon started", logseq, seq);
}

/* Parse one line into seq and prev; -1 with the reason in why. */
static int
verify_parse(const char *line, size_t len, uint64_t *seq, char *prev,
    char *why, size_t whylen)
{
	json_t		*root, *s, *p;
	json_error_t	 err;

	if (memchr(line, '\0', len) != NULL) {
		snprintf(why, whylen, "contains a NUL byte");
		return -1;
	}
	if ((root = json_loadb(line, len, JSON_REJECT_DUPLICATES,
	    &err)) == NULL || !json_is_object(root)) {
		snprintf(why, whylen, "not a JSON object%s%s",
		    root ? "" : ": ", root ? "" : err.text);
		json_decref(root);
		return -1;
	}
	s = json_object_get(root, "seq");
	p = json_object_get(root, "prev");
	if (!json_is_integer(s) || json_integer_value(s) <= 0 ||
	    !json_is_string(p) || !is_hex_hash(json_string_value(p))) {
		snprintf(why, whylen, "no valid seq and prev");
		json_decref(root);
		return -1;
	}
	*seq = (uint64_t)json_integer_value(s);
	strlcpy(prev, json_string_value(p), AUDIT_HASH_HEX + 1);
	json_decref(root);
	return 0;
}

/* Events that report a problem found by the writer itself. */
static int
verify_event(struct audit_verify *v, const char *line, size_t len,
    uint64_t seq)
{
	json_t		*root;
	const char	*event;
	int		 rv = 0;

	if (memmem(line, len, "audit-log-head-mismatch", 23) == NULL ||
	    (root = json_loadb(line, len, 0, NULL)) == NULL)
		return 0;
	event = json_string_value(json_object_get(root, "event"));
	if (event != NULL && strcmp(event, "audit-log-head-mismatch") == 0)
		rv = verify_mismatch(v, root, seq);
	json_decref(root);
	return rv;
}

/* Check one line against the chain so far. */
static int
verify_line(struct audit_verify *v, const char *line, size_t len)
{
	uint64_t	 seq, expected = v->seq + 1;
	char		 prev[AUDIT_HASH_HEX + 1], why[256];

	if (len > AUDIT_LINE_MAX)
		return verify_fail(v, expected, "seq %" PRIu64 ": a line of "
		    "%zu bytes, longer than the %d a record may have",
		    expected, len, AUDIT_LINE_MAX);
	if (verify_parse(line, len, &seq, prev, why, sizeof(why)) == -1)
		return verify_fail(v, expected, "seq %" PRIu64 " is damaged: "
		    "the line %s", expected, why);
	if (v->records == 0 && v->seq == 0 && seq != 1 && v->later_start) {
		/* The files before this one are not checked. */
		v->seq = seq - 1;
		strlcpy(v->last, prev, sizeof(v->last));
		expected = seq;
	}
	if (seq != expected)
		return verify_fail(v, expected, "seq %" PRIu64 " is missing "
		    "or out of order: the line holds seq %" PRIu64, expected,
		    seq);
	if (strcmp(prev, v->last) != 0)
		return verify_fail(v, v->seq, v->seq == 0 ?
		    "seq 1 does not start a chain: its prev is not zero" :
		    "seq %" PRIu64 " was changed: its hash does not match "
		    "the prev of seq %" PRIu64, v->seq, seq);
	if (v->records == 0)
		v->first_seq = seq;
	v->seq = seq;
	audit_hash_hex(line, len, v->last);
	v->records++;
	return verify_event(v, line, len, seq);
}

/*
 * Check the records of fp (named name in messages) against the chain so
 * far.  A line without its newline is a truncated tail.  Returns 0, or
 * -1 with v->error filled.
 */
int
audit_verify_stream(struct audit_verify *v, FILE *fp, const char *name)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;
	int	 rv = 0;

	strlcpy(v->file, name, sizeof(v->file));
	v->line = 0;
	while (rv == 0 && (n = getline(&line, &cap, fp)) != -1) {
		v->line++;
		if (line[n - 1] != '\n') {
			rv = verify_fail(v, v->seq + 1, "seq %" PRIu64 " is "
			    "incomplete: the file ends inside it (truncated "
			    "tail)", v->seq + 1);
			break;
		}
		rv = verify_line(v, line, (size_t)n - 1);
	}
	if (rv == 0 && ferror(fp))
		rv = verify_fail(v, v->seq + 1, "read error: %s",
		    strerror(errno));
	free(line);
	return rv;
}

int
audit_verify_file(struct audit_verify *v, const char *path)
{
	FILE	*fp;
	int	 rv;

	if ((fp = fopen(path, "re")) == NULL) {
		strlcpy(v->file, path, sizeof(v->file));
		return verify_fail(v, v->seq + 1, "cannot open: %s",
		    strerror(errno));
	}
	rv = audit_verify_stream(v, fp, path);
	fclose(fp);
	return rv;
}

/* Compare the end of the chain with the writer's head file. */
int
audit_verify_head(struct audit_verify *v, const char *headpath)
{
	char		 buf[HEAD_LINE_LEN + 1], hash[AUDIT_HASH_HEX + 1];
	unsigned long long seq;
	FILE		*fp;

	if ((fp = fopen(headpath, "re")) == NULL)
		return verify_fail(v, v->seq + 1, "head file %s: %s",
		    headpath, strerror(errno));
	if (fgets(buf, sizeof(buf), fp) == NULL ||
	    sscanf(buf, "%20llu %64[0-9a-f]", &seq, hash) != 2) {
		fclose(fp);
		return verify_fail(v, v->seq + 1, "head file %s is not "
		    "readable", headpath);
	}
	fclose(fp);
	if (seq > v->seq)
		return verify_fail(v, v->seq + 1, "seq %" PRIu64 " to %llu "
		    "are missing: the log ends at seq %" PRIu64 " but the "
		    "head file names %llu (truncated tail)", v->seq + 1, seq,
		    v->seq, seq);
	if (seq < v->seq)
		return verify_fail(v, seq + 1, "seq %llu to %" PRIu64 " are "
		    "not covered by the head file, which names seq %llu",
		    seq + 1, v->seq, seq);
	if (seq > 0 && strcmp(hash, v->last) != 0)
		return verify_fail(v, seq, "seq %llu was changed: its hash "
		    "does not match the head file", seq);
	return 0;
}
