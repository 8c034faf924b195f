/*
 * Tests for priv's volumes, imports, config edits and journal cleanup
 * (priv/volume.c, priv/import.c, priv/config.c, priv/journal.c), linked
 * without priv.c: the services of priv.c are replaced below by versions
 * that record replies and spawn requests.  Tests that create storages
 * build a temporary tree (config, state, run and storage directories).
 * They need root, because priv requires root-owned directories, so they
 * are skipped for other users.  Streams use real socketpairs.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "priv.h"

#define assert_contains(s, sub) do {					\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("\"%s\" does not contain \"%s\"", (s), (sub));	\
} while (0)

#define WAIT_MS		10000

/*
 * Stand-ins for priv.c.
 */

static struct proc_setup	 setup;
static struct {
	int	 count;
	int	 error;
	char	 msg[PRIV_MSG_MAX];
	char	 json[1024];
	int	 fd;
} reply;
static struct {
	int		 count;
	char		 argv[16][VOLUME_PATH_MAX];
	int		 argc;
	struct spawn_exec exec;
	priv_spawn_fn	 done;
	void		*arg;
} spawned;
static int	 queued;	/* priv_queue_request calls */

const struct proc_setup *
priv_config(void)
{
	return &setup;
}

pid_t
priv_config_pid(void)
{
	return getpid();
}

void
priv_req_of(const struct imsg *imsg, struct priv_req *req)
{
	req->type = imsg->hdr.type;
	req->peerid = imsg->hdr.peerid;
	req->reqid = imsg->hdr.reqid;
}

void
priv_reply(const struct priv_req *req, int error, const char *msg,
    json_t *fields, int fd)
{
	char	*text = NULL;

	reply.count++;
	reply.error = error;
	reply.fd = fd;
	snprintf(reply.msg, sizeof(reply.msg), "%s", msg);
	if (fields != NULL) {
		text = json_dumps(fields, JSON_COMPACT);
		json_decref(fields);
	}
	snprintf(reply.json, sizeof(reply.json), "%s", text ? text : "");
	free(text);
}

void
priv_reply_to(const struct imsg *imsg, int error, const char *msg)
{
	struct priv_req	 req;

	priv_req_of(imsg, &req);
	priv_reply(&req, error, msg, NULL, -1);
}

void
priv_refuse(const struct imsg *imsg, const char *why)
{
	priv_reply_to(imsg, EINVAL, why);
}

void
priv_log_error(uint32_t vmid, const char *what, const char *msg)
{
	(void)vmid;
	(void)what;
	(void)msg;
}

int
priv_string_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

int
priv_check_stamp(const struct imsg *imsg, uint32_t vmid)
{
	if (vmid != imsg->hdr.peerid) {
		priv_reply_to(imsg, EINVAL, "invalid vmid\n");
		return -1;
	}
	return 0;
}

int
priv_check_vmid(const struct imsg *imsg, struct priv_vmid_req *req)
{
	memcpy(req, imsg->data, sizeof(*req));
	return priv_check_stamp(imsg, req->vmid);
}

int
priv_watch(int fd, short events, priv_watch_fn fn, void *arg)
{
	(void)fd;
	(void)events;
	(void)fn;
	(void)arg;
	return 0;
}

void
priv_unwatch(int fd)
{
	(void)fd;
}

void
priv_child_close_fds(void)
{
}

int
priv_spawn(uint32_t vmid, const struct spawn_exec *exec,
    const char *const *argv, priv_spawn_fn done, void *arg)
{
	int	 i;

	(void)vmid;
	spawned.count++;
	spawned.exec = *exec;
	for (i = 0; argv[i] != NULL && i < 16; i++)
		snprintf(spawned.argv[i], sizeof(spawned.argv[i]), "%s",
		    argv[i]);
	spawned.argc = i;
	spawned.done = done;
	spawned.arg = arg;
	return 0;
}

int
priv_spawn_running(uint32_t vmid)
{
	(void)vmid;
	return 0;
}

int
priv_lock(uint32_t vmid, int *lockfd, char *msg, size_t msglen)
{
	return config_lock_try(setup.rundir, vmid, lockfd, msg, msglen);
}

void
priv_queue_request(uint32_t type, uint32_t vmid, const void *data,
    size_t len)
{
	(void)type;
	(void)vmid;
	(void)data;
	(void)len;
	queued++;
}

/*
 * A temporary tree: conf/ (storage.cfg, qemu-server/), state/, run/ and
 * three storages.
 */
struct tree {
	char	 dir[64];
};

static void
write_file(const char *path, const char *text)
{
	FILE	*f;

	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void
read_file(const char *path, char *buf, size_t len)
{
	ssize_t	 n;
	int	 fd;

	assert_int_not_equal(fd = open(path, O_RDONLY), -1);
	assert_true((n = read(fd, buf, len - 1)) >= 0);
	buf[n] = '\0';
	close(fd);
}

static int
exists(const char *fmt, ...)
{
	struct stat	 st;
	char		 path[VOLUME_PATH_MAX];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return lstat(path, &st) == 0;
}

static void
tree_path(const struct tree *t, char *out, size_t len, const char *rel)
{
	snprintf(out, len, "%s/%s", t->dir, rel);
}

static int
tree_setup(void **state)
{
	struct tree	*t;
	char		 path[256], cfg[1024], msg[PRIV_MSG_MAX];

	if (geteuid() != 0) {
		*state = NULL;
		return 0;
	}
	assert_non_null(t = calloc(1, sizeof(*t)));
	strcpy(t->dir, "/tmp/test_volume.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	assert_int_equal(chmod(t->dir, 0755), 0);
	memset(&setup, 0, sizeof(setup));
	tree_path(t, setup.confdir, sizeof(setup.confdir), "conf");
	tree_path(t, setup.statedir, sizeof(setup.statedir), "state");
	tree_path(t, setup.rundir, sizeof(setup.rundir), "run");
	snprintf(setup.qemu_img, sizeof(setup.qemu_img), "/usr/bin/qemu-img");
	setup.uid = 65534;
	setup.gid = 65534;
	assert_int_equal(mkdir(setup.confdir, 0755), 0);
	assert_int_equal(mkdir(setup.statedir, 0755), 0);
	assert_int_equal(mkdir(setup.rundir, 0755), 0);
	snprintf(cfg, sizeof(cfg),
	    "dir: tank\n\tpath %s/tank\n\tcontent images\n\n"
	    "dir: q2\n\tpath %s/q2\n\tcontent images\n\tformat qcow2\n\n"
	    "dir: iso\n\tpath %s/iso\n\tcontent iso\n\n"
	    "dir: moved\n\tpath %s/moved\n\tcontent images\n"
	    "\tcontent-dirs images=vm/disks\n\n",
	    t->dir, t->dir, t->dir, t->dir);
	tree_path(t, path, sizeof(path), "conf/storage.cfg");
	write_file(path, cfg);
	assert_int_equal(journal_init(setup.statedir, msg, sizeof(msg)), 0);
	memset(&reply, 0, sizeof(reply));
	memset(&spawned, 0, sizeof(spawned));
	queued = 0;
	*state = t;
	return 0;
}

static int
tree_teardown(void **state)
{
	struct tree	*t = *state;
	char		 cmd[128];

	if (t == NULL)
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	if (system(cmd) != 0)
		return -1;
	free(t);
	return 0;
}

#define NEED_TREE(t) do {						\
	if ((t) == NULL)						\
		skip();							\
} while (0)

/* An imsg as the parent sends it: header stamped with vmid. */
static void
make_imsg(struct imsg *imsg, uint32_t type, uint32_t vmid, void *data,
    size_t len)
{
	memset(imsg, 0, sizeof(*imsg));
	imsg->hdr.type = type;
	imsg->hdr.len = IMSG_HEADER_SIZE + len;
	imsg->hdr.peerid = vmid;
	imsg->hdr.reqid = 7;
	imsg->fd = -1;
	imsg->data = data;
}

static void
create_migration(uint32_t vmid)
{
	struct priv_vmid_req	 req = { vmid, 0 };
	struct imsg		 imsg;

	make_imsg(&imsg, IMSG_PRIV_CONFIG_CREATE, vmid, &req, sizeof(req));
	reply.count = 0;
	priv_config_create(&imsg);
	assert_int_equal(reply.count, 1);
	if (reply.error != 0)
		fail_msg("create %u: %s", vmid, reply.msg);
}

static void
disk_alloc(uint32_t vmid, const char *storage, const char *format,
    uint64_t size)
{
	struct priv_disk_alloc	 req;
	struct imsg		 imsg;

	memset(&req, 0, sizeof(req));
	req.vmid = vmid;
	snprintf(req.disk.storage, sizeof(req.disk.storage), "%s", storage);
	snprintf(req.disk.format, sizeof(req.disk.format), "%s", format);
	req.disk.size = size;
	make_imsg(&imsg, IMSG_PRIV_DISK_ALLOC, vmid, &req, sizeof(req));
	reply.count = 0;
	priv_disk_alloc(&imsg);
}

static void
cleanup_for(uint32_t vmid, uint32_t reason)
{
	struct priv_cleanup	 req = { vmid, reason };
	struct imsg		 imsg;

	make_imsg(&imsg, IMSG_PRIV_CLEANUP, vmid, &req, sizeof(req));
	priv_cleanup(&imsg);
}

static void
cleanup(uint32_t vmid)
{
	cleanup_for(vmid, CLEANUP_QUIT);
}

/*
 * Volume names
 */

static const struct {
	const char	*name;
	uint32_t	 vmid;
	int		 number;
} name_cases[] = {
	{ "vm-100-disk-0.raw", 100, 0 },
	{ "vm-100-disk-7.qcow2", 100, 7 },
	{ "base-100-disk-3.qcow2", 100, 3 },
	{ "subvol-100-disk-2", 100, 2 },
	{ "vm-100-disk-4", 100, 4 },
	{ "vm-100-disk-1023.raw", 100, 1023 },
	{ "vm-100-disk-1024.raw", 100, -1 },
	{ "vm-100-disk-99999999999999999999.raw", 100, -1 },
	{ "vm-100-disk-01.raw", 100, 1 },
	{ "xvm-100-disk-5.raw", 100, 5 },	/* unanchored, as upstream */
	{ "vm-1000-disk-1.raw", 100, -1 },
	{ "vm-100-disk-1.raw", 1000, -1 },
	{ "vm-100-disk-5x.raw", 100, -1 },
	{ "vm-100-disk-.raw", 100, -1 },
	{ "vm-100-cloudinit.qcow2", 100, -1 },
	{ "vm-100-state-snap1.raw", 100, -1 },
	{ "foo-100-disk-1.raw", 100, -1 },
	{ "", 100, -1 },
};

static void
test_name_number(void **state)
{
	size_t	 i;
	int	 n;

	(void)state;
	for (i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		n = volume_name_number(name_cases[i].name,
		    name_cases[i].vmid);
		if (n != name_cases[i].number)
			fail_msg("%s for vmid %u: %d, expected %d",
			    name_cases[i].name, name_cases[i].vmid, n,
			    name_cases[i].number);
	}
}

static void
test_next_number(void **state)
{
	unsigned char	 used[VOLUMES_PER_GUEST];

	(void)state;
	memset(used, 0, sizeof(used));
	assert_int_equal(volume_next_number(used), 0);
	used[0] = used[1] = used[3] = 1;
	assert_int_equal(volume_next_number(used), 2);
	memset(used, 1, sizeof(used));
	used[VOLUMES_PER_GUEST - 1] = 0;
	assert_int_equal(volume_next_number(used), VOLUMES_PER_GUEST - 1);
	used[VOLUMES_PER_GUEST - 1] = 1;
	assert_int_equal(volume_next_number(used), -1);
}

static int
open_dir(const char *path)
{
	int	 fd;

	assert_int_not_equal(fd = open(path, O_RDONLY | O_DIRECTORY), -1);
	return fd;
}

/* vm- and base- names and any extension take a number; others not. */
static void
test_pick_name(void **state)
{
	struct tree	*t = *state;
	char		 dir[256], path[512], name[64], msg[PRIV_MSG_MAX];
	const char	*files[] = { "vm-100-disk-0.raw",
			    "base-100-disk-1.qcow2", "vm-100-disk-3.vmdk",
			    "vm-101-disk-2.raw", "vm-100-cloudinit.qcow2",
			    "notes.txt" };
	size_t		 i;
	int		 dfd;

	NEED_TREE(t);
	tree_path(t, dir, sizeof(dir), "tank");
	assert_int_equal(mkdir(dir, 0755), 0);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		write_file(path, "");
	}
	dfd = open_dir(dir);
	assert_int_equal(volume_pick_name(dfd, 100, IMAGE_FORMAT_QCOW2, name,
	    sizeof(name), msg, sizeof(msg)), 0);
	assert_string_equal(name, "vm-100-disk-2.qcow2");
	assert_int_equal(volume_pick_name(dfd, 101, IMAGE_FORMAT_RAW, name,
	    sizeof(name), msg, sizeof(msg)), 0);
	assert_string_equal(name, "vm-101-disk-0.raw");
	close(dfd);
}

static void
test_pick_name_full(void **state)
{
	struct tree	*t = *state;
	char		 dir[256], path[512], name[64], msg[PRIV_MSG_MAX];
	int		 dfd, n;

	NEED_TREE(t);
	tree_path(t, dir, sizeof(dir), "tank");
	assert_int_equal(mkdir(dir, 0755), 0);
	for (n = 0; n < VOLUMES_PER_GUEST; n++) {
		snprintf(path, sizeof(path), "%s/%s-100-disk-%d.raw", dir,
		    n % 2 ? "base" : "vm", n);
		write_file(path, "");
	}
	dfd = open_dir(dir);
	assert_int_equal(volume_pick_name(dfd, 100, IMAGE_FORMAT_RAW, name,
	    sizeof(name), msg, sizeof(msg)), -1);
	assert_contains(msg, "all 1024 disk numbers are taken");
	snprintf(path, sizeof(path), "%s/base-100-disk-777.raw", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(volume_pick_name(dfd, 100, IMAGE_FORMAT_RAW, name,
	    sizeof(name), msg, sizeof(msg)), 0);
	assert_string_equal(name, "vm-100-disk-777.raw");
	close(dfd);
}

/*
 * Formats and sizes
 */

static void
test_format_resolve(void **state)
{
	struct storage		 s;
	enum image_format	 f;
	char			 msg[PRIV_MSG_MAX];

	(void)state;
	memset(&s, 0, sizeof(s));
	strcpy(s.id, "tank");
	s.format = IMAGE_FORMAT_RAW;
	assert_int_equal(volume_format_resolve(&s, "qcow2", &f, msg,
	    sizeof(msg)), 0);
	assert_int_equal(f, IMAGE_FORMAT_QCOW2);
	assert_int_equal(volume_format_resolve(&s, "raw", &f, msg,
	    sizeof(msg)), 0);
	assert_int_equal(f, IMAGE_FORMAT_RAW);
	assert_int_equal(volume_format_resolve(&s, "vmdk", &f, msg,
	    sizeof(msg)), 0);
	assert_int_equal(f, IMAGE_FORMAT_RAW);
	assert_int_equal(volume_format_resolve(&s, "", &f, msg,
	    sizeof(msg)), 0);
	assert_int_equal(f, IMAGE_FORMAT_RAW);

	s.format = IMAGE_FORMAT_QCOW2;
	assert_int_equal(volume_format_resolve(&s, "vmdk", &f, msg,
	    sizeof(msg)), 0);
	assert_int_equal(f, IMAGE_FORMAT_QCOW2);
	assert_int_equal(volume_format_resolve(&s, "raw", &f, msg,
	    sizeof(msg)), 0);
	assert_int_equal(f, IMAGE_FORMAT_RAW);

	s.format = IMAGE_FORMAT_VMDK;
	assert_int_equal(volume_format_resolve(&s, "qcow", &f, msg,
	    sizeof(msg)), -1);
	assert_contains(msg, "'vmdk' is not supported");
	assert_int_equal(volume_format_resolve(&s, "qcow2", &f, msg,
	    sizeof(msg)), 0);
	assert_int_equal(f, IMAGE_FORMAT_QCOW2);
}

static void
test_size_kib(void **state)
{
	uint64_t	 kib;

	(void)state;
	assert_int_equal(volume_size_kib(0, &kib), -1);
	assert_int_equal(volume_size_kib(1, &kib), 0);
	assert_int_equal(kib, 1);
	assert_int_equal(volume_size_kib(1024, &kib), 0);
	assert_int_equal(kib, 1);
	assert_int_equal(volume_size_kib(1025, &kib), 0);
	assert_int_equal(kib, 2);
	assert_int_equal(volume_size_kib(34359738368ULL, &kib), 0);
	assert_int_equal(kib, 33554432);
	assert_int_equal(volume_size_kib(UINT64_MAX, &kib), -1);
}

static void
test_pick_transfer_format(void **state)
{
	char	 out[32];

	(void)state;
	assert_int_equal(import_pick_format("raw+size,qcow2+size",
	    IMAGE_FORMAT_RAW, out, sizeof(out)), 0);
	assert_string_equal(out, "raw+size");
	assert_int_equal(import_pick_format("raw+size,qcow2+size",
	    IMAGE_FORMAT_QCOW2, out, sizeof(out)), 0);
	assert_string_equal(out, "qcow2+size");
	assert_int_equal(import_pick_format(" zfs; qcow2+size ",
	    IMAGE_FORMAT_QCOW2, out, sizeof(out)), 0);
	assert_string_equal(out, "qcow2+size");
	assert_int_equal(import_pick_format("raw+size", IMAGE_FORMAT_QCOW2,
	    out, sizeof(out)), -1);
	assert_int_equal(import_pick_format("zfs,vmdk+size,tar+size",
	    IMAGE_FORMAT_RAW, out, sizeof(out)), -1);
	assert_int_equal(import_pick_format("", IMAGE_FORMAT_RAW, out,
	    sizeof(out)), -1);
	assert_int_equal(import_pick_format("raw", IMAGE_FORMAT_RAW, out,
	    sizeof(out)), -1);
}

static const struct {
	const char	*hint;
	const char	*format;
	const char	*name;		/* NULL: rejected */
	const char	*why;
} target_cases[] = {
	{ "vm-100-disk-0", "raw", "vm-100-disk-0.raw", NULL },
	{ "vm-100-disk-0.qcow2", "qcow2", "vm-100-disk-0.qcow2", NULL },
	{ "vm-100-disk-0.qcow2", "raw", "vm-100-disk-0.raw", NULL },
	{ "vm-100-disk-0.raw", "qcow2", "vm-100-disk-0.qcow2", NULL },
	{ "vm-100-state-pre", "raw", "vm-100-state-pre.raw", NULL },
	{ "vm-100-disk-0.img", "raw", "vm-100-disk-0.img.raw", NULL },
	{ "vm-200-disk-0", "raw", NULL, "should be 'vm-100-*'" },
	{ "base-100-disk-0", "raw", NULL, "should be 'vm-100-*'" },
	{ "100/vm-100-disk-0", "raw", NULL, "should be 'vm-100-*'" },
	{ "../vm-100-disk-0", "raw", NULL, "should be 'vm-100-*'" },
	{ "vm-100-disk-0/../../x", "raw", NULL, "invalid volume name" },
	{ "vm-100-disk 0", "raw", NULL, "invalid volume name" },
	{ "vm-100-..", "raw", NULL, "invalid volume name" },
	{ "", "raw", NULL, "should be 'vm-100-*'" },
};

static void
test_target_name(void **state)
{
	char	 name[VOLNAME_FILE_MAX + 1], msg[PRIV_MSG_MAX];
	size_t	 i;
	int	 rv;

	(void)state;
	for (i = 0; i < sizeof(target_cases) / sizeof(target_cases[0]); i++) {
		msg[0] = '\0';
		rv = import_target_name(target_cases[i].hint, 100,
		    target_cases[i].format, name, sizeof(name), msg,
		    sizeof(msg));
		if (target_cases[i].name != NULL) {
			if (rv != 0)
				fail_msg("%s: rejected: %s",
				    target_cases[i].hint, msg);
			assert_string_equal(name, target_cases[i].name);
		} else {
			if (rv != -1)
				fail_msg("%s: accepted as %s",
				    target_cases[i].hint, name);
			assert_contains(msg, target_cases[i].why);
		}
	}
}

/*
 * The raw+size stream
 */

static void
test_header_size(void **state)
{
	const unsigned char	 one[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };
	const unsigned char	 big[8] = { 0x10, 0x32, 0x54, 0x76, 0x98, 0xba,
				    0xdc, 0x7e };

	(void)state;
	assert_int_equal(import_header_size(one), 1);
	assert_true(import_header_size(big) == 0x7edcba9876543210ULL);
}

struct stream {
	int	 sv[2];
	int	 file;
	char	 path[64];
	pid_t	 writer;
};

static void
stream_open(struct stream *s)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s->sv), 0);
	strcpy(s->path, "/tmp/test_volume.img.XXXXXX");
	assert_int_not_equal(s->file = mkstemp(s->path), -1);
}

/* Write hdr (8 bytes, or hdrlen of them), then len bytes, then close. */
static void
stream_send(struct stream *s, uint64_t size, size_t hdrlen,
    const unsigned char *data, size_t len)
{
	uint64_t	 le = htole64(size);

	if ((s->writer = fork()) == 0) {
		close(s->sv[0]);
		if (write(s->sv[1], &le, hdrlen) != (ssize_t)hdrlen ||
		    (len > 0 && write(s->sv[1], data, len) != (ssize_t)len))
			_exit(1);
		_exit(0);
	}
	assert_int_not_equal(s->writer, -1);
	close(s->sv[1]);
}

static void
stream_close(struct stream *s)
{
	int	 status;

	close(s->sv[0]);
	close(s->file);
	unlink(s->path);
	waitpid(s->writer, &status, 0);
}

static unsigned char *
pattern(size_t len)
{
	unsigned char	*p;
	size_t		 i;

	assert_non_null(p = malloc(len + 1));
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 7 + 1);
	return p;
}

static void
test_copy_exact(void **state)
{
	struct import_progress	 prog;
	struct stream		 s;
	struct stat		 st;
	unsigned char		*data = pattern(300000), *back;
	char			 err[PRIV_MSG_MAX] = "";

	(void)state;
	stream_open(&s);
	stream_send(&s, 300000, 8, data, 300000);
	if (import_copy(s.sv[0], s.file, &prog, NULL, NULL, err,
	    sizeof(err)) == -1)
		fail_msg("copy: %s", err);
	assert_int_equal(prog.total, 300000);
	assert_int_equal(prog.received, 300000);
	assert_int_equal(fstat(s.file, &st), 0);
	assert_int_equal(st.st_size, 300000);
	assert_non_null(back = malloc(300000));
	assert_int_equal(pread(s.file, back, 300000, 0), 300000);
	assert_memory_equal(back, data, 300000);
	free(back);
	free(data);
	stream_close(&s);
}

static void
test_copy_short(void **state)
{
	struct import_progress	 prog;
	struct stream		 s;
	unsigned char		*data = pattern(1000);
	char			 err[PRIV_MSG_MAX] = "";

	(void)state;
	stream_open(&s);
	stream_send(&s, 5000, 8, data, 1000);
	assert_int_equal(import_copy(s.sv[0], s.file, &prog, NULL, NULL, err,
	    sizeof(err)), -1);
	assert_contains(err, "stream ended after 1000 of 5000 bytes");
	free(data);
	stream_close(&s);
}

static void
test_copy_long(void **state)
{
	struct import_progress	 prog;
	struct stream		 s;
	unsigned char		*data = pattern(1001);
	char			 err[PRIV_MSG_MAX] = "";

	(void)state;
	stream_open(&s);
	stream_send(&s, 1000, 8, data, 1001);
	assert_int_equal(import_copy(s.sv[0], s.file, &prog, NULL, NULL, err,
	    sizeof(err)), -1);
	assert_contains(err, "longer than its size header of 1000 bytes");
	assert_int_equal(prog.received, 1000);
	free(data);
	stream_close(&s);
}

static void
test_copy_no_header(void **state)
{
	struct import_progress	 prog;
	struct stream		 s;
	char			 err[PRIV_MSG_MAX] = "";

	(void)state;
	stream_open(&s);
	stream_send(&s, 100, 0, NULL, 0);
	assert_int_equal(import_copy(s.sv[0], s.file, &prog, NULL, NULL, err,
	    sizeof(err)), -1);
	assert_contains(err, "stream ended after 0 bytes, before its 8-byte "
	    "size header");
	stream_close(&s);

	stream_open(&s);
	stream_send(&s, 100, 5, NULL, 0);
	assert_int_equal(import_copy(s.sv[0], s.file, &prog, NULL, NULL, err,
	    sizeof(err)), -1);
	assert_contains(err, "after 5 bytes");
	stream_close(&s);
}

static void
test_copy_empty_image(void **state)
{
	struct import_progress	 prog;
	struct stream		 s;
	struct stat		 st;
	char			 err[PRIV_MSG_MAX] = "";

	(void)state;
	stream_open(&s);
	stream_send(&s, 0, 8, NULL, 0);
	assert_int_equal(import_copy(s.sv[0], s.file, &prog, NULL, NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(fstat(s.file, &st), 0);
	assert_int_equal(st.st_size, 0);
	stream_close(&s);
}

static void
test_copy_huge_header(void **state)
{
	struct import_progress	 prog;
	struct stream		 s;
	char			 err[PRIV_MSG_MAX] = "";

	(void)state;
	stream_open(&s);
	stream_send(&s, UINT64_MAX, 8, NULL, 0);
	assert_int_equal(import_copy(s.sv[0], s.file, &prog, NULL, NULL, err,
	    sizeof(err)), -1);
	assert_contains(err, "too large");
	stream_close(&s);
}

/* Zero blocks are not written: the file keeps holes. */
static void
test_copy_sparse(void **state)
{
	struct import_progress	 prog;
	struct stream		 s;
	struct stat		 st;
	size_t			 len = 8 * 1024 * 1024;
	unsigned char		*data;
	char			 err[PRIV_MSG_MAX] = "";

	(void)state;
	assert_non_null(data = calloc(1, len));
	memset(data + len - 4096, 0xab, 4096);
	stream_open(&s);
	stream_send(&s, len, 8, data, len);
	if (import_copy(s.sv[0], s.file, &prog, NULL, NULL, err,
	    sizeof(err)) == -1)
		fail_msg("copy: %s", err);
	assert_int_equal(fstat(s.file, &st), 0);
	assert_int_equal(st.st_size, (off_t)len);
	if (st.st_blocks * 512 >= (off_t)len / 2)
		fail_msg("%lld bytes allocated for %zu bytes of mostly zeros",
		    (long long)st.st_blocks * 512, len);
	free(data);
	stream_close(&s);
}

static void
record_progress(const struct import_progress *prog, void *arg)
{
	struct import_progress	*last = arg;

	*last = *prog;
	last[1].received++;	/* the number of reports */
}

/* A stream that stalls after some bytes still reports them. */
static void
test_copy_progress(void **state)
{
	struct import_progress	 prog, seen[2];
	struct stream		 s;
	uint64_t		 le = htole64(5000);
	unsigned char		*data = pattern(1000);
	char			 err[PRIV_MSG_MAX] = "";

	(void)state;
	memset(seen, 0, sizeof(seen));
	stream_open(&s);
	if ((s.writer = fork()) == 0) {
		close(s.sv[0]);
		if (write(s.sv[1], &le, 8) != 8 ||
		    write(s.sv[1], data, 1000) != 1000)
			_exit(1);
		usleep(1500 * 1000);
		_exit(0);
	}
	close(s.sv[1]);
	assert_int_equal(import_copy(s.sv[0], s.file, &prog, record_progress,
	    seen, err, sizeof(err)), -1);
	assert_contains(err, "stream ended after 1000 of 5000 bytes");
	assert_true(seen[1].received >= 1);
	assert_int_equal(seen[0].received, 1000);
	assert_int_equal(seen[0].total, 5000);
	free(data);
	stream_close(&s);
}

static void
test_check_info(void **state)
{
	char	 err[PRIV_MSG_MAX];
	const char *raw = "{\"virtual-size\": 1000, \"filename\": "
	    "\"/s/images/100/vm-100-disk-0.raw\", \"format\": \"raw\"}";
	const char *qcow2 = "{\"virtual-size\": 67108864, \"filename\": "
	    "\"/s/vm-100-disk-1.qcow2\", \"format\": \"qcow2\", "
	    "\"format-specific\": {\"type\": \"qcow2\", \"data\": "
	    "{\"compat\": \"1.1\"}}}";
	const char *backing = "{\"filename\": \"/s/x.qcow2\", \"format\": "
	    "\"qcow2\", \"backing-filename\": \"/etc/shadow\"}";
	const char *fullbacking = "{\"filename\": \"/s/x.qcow2\", "
	    "\"format\": \"qcow2\", \"full-backing-filename\": \"json:{}\"}";
	const char *datafile = "{\"filename\": \"/s/x.qcow2\", \"format\": "
	    "\"qcow2\", \"format-specific\": {\"type\": \"qcow2\", \"data\": "
	    "{\"data-file\": \"/dev/sda\"}}}";
	const char *jsonname = "{\"filename\": \"json:{\\\"driver\\\":1}\", "
	    "\"format\": \"qcow2\"}";

	(void)state;
	assert_int_equal(import_check_info(raw, strlen(raw),
	    IMAGE_FORMAT_RAW, err, sizeof(err)), 0);
	assert_int_equal(import_check_info(qcow2, strlen(qcow2),
	    IMAGE_FORMAT_QCOW2, err, sizeof(err)), 0);
	assert_int_equal(import_check_info(qcow2, strlen(qcow2),
	    IMAGE_FORMAT_RAW, err, sizeof(err)), -1);
	assert_contains(err, "image format is 'qcow2', expected 'raw'");
	assert_int_equal(import_check_info(backing, strlen(backing),
	    IMAGE_FORMAT_QCOW2, err, sizeof(err)), -1);
	assert_contains(err, "backing file");
	assert_int_equal(import_check_info(fullbacking, strlen(fullbacking),
	    IMAGE_FORMAT_QCOW2, err, sizeof(err)), -1);
	assert_contains(err, "backing file");
	assert_int_equal(import_check_info(datafile, strlen(datafile),
	    IMAGE_FORMAT_QCOW2, err, sizeof(err)), -1);
	assert_contains(err, "external data file");
	assert_int_equal(import_check_info(jsonname, strlen(jsonname),
	    IMAGE_FORMAT_QCOW2, err, sizeof(err)), -1);
	assert_contains(err, "json:");
	assert_int_equal(import_check_info("", 0, IMAGE_FORMAT_RAW, err,
	    sizeof(err)), -1);
	assert_int_equal(import_check_info("[1]", 3, IMAGE_FORMAT_RAW, err,
	    sizeof(err)), -1);
	assert_contains(err, "unreadable");
}

/* qemu-img info of a real qcow2 with a backing file, if installed. */
static void
test_check_info_qemu_img(void **state)
{
	char	 dir[] = "/tmp/test_volume.qi.XXXXXX", cmd[512];
	char	 out[8192], err[PRIV_MSG_MAX];
	FILE	*p;
	size_t	 n;

	(void)state;
	if (access("/usr/bin/qemu-img", X_OK) != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cd %s && qemu-img create -q -f qcow2 "
	    "-b /etc/hostname -F raw b.qcow2 1M && qemu-img create -q -f "
	    "qcow2 p.qcow2 1M", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "qemu-img info --output=json -f qcow2 "
	    "%s/b.qcow2", dir);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(out, 1, sizeof(out), p);
	assert_int_equal(pclose(p), 0);
	assert_int_equal(import_check_info(out, n, IMAGE_FORMAT_QCOW2, err,
	    sizeof(err)), -1);
	assert_contains(err, "backing file");
	snprintf(cmd, sizeof(cmd), "qemu-img info --output=json -f qcow2 "
	    "%s/p.qcow2", dir);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(out, 1, sizeof(out), p);
	assert_int_equal(pclose(p), 0);
	if (import_check_info(out, n, IMAGE_FORMAT_QCOW2, err,
	    sizeof(err)) != 0)
		fail_msg("plain qcow2 rejected: %s", err);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * Lock lines
 */

static const struct {
	const char	*name;
	const char	*text;
	const char	*lock;		/* to set, "" removes */
	const char	*want;
	const char	*before;	/* get_lock of text */
} lock_cases[] = {
	{ "placeholder", "lock: create\n", "migrate", "lock: migrate\n",
	    "create" },
	{ "placeholder removed", "lock: create\n", "", "", "create" },
	{ "sorted among keys", "boot: c\nmemory: 1\n", "migrate",
	    "boot: c\nlock: migrate\nmemory: 1\n", "" },
	{ "replaced in place", "a: 1\nlock: create\nz: 2\n", "migrate",
	    "a: 1\nlock: migrate\nz: 2\n", "create" },
	{ "removed", "a: 1\nlock: migrate\nz: 2\n", "", "a: 1\nz: 2\n",
	    "migrate" },
	{ "after description", "#notes\n#more\nz: 2\n", "migrate",
	    "#notes\n#more\nlock: migrate\nz: 2\n", "" },
	{ "at the end", "a: 1\nb: 2\n", "migrate",
	    "a: 1\nb: 2\nlock: migrate\n", "" },
	{ "no final newline", "a: 1", "migrate", "a: 1\nlock: migrate\n",
	    "" },
	{ "before a section", "a: 1\n\n[snap]\nlock: x\n", "migrate",
	    "a: 1\nlock: migrate\n\n[snap]\nlock: x\n", "" },
	{ "locked is a key", "lock: create\nlocked: 1\n", "migrate",
	    "lock: migrate\nlocked: 1\n", "create" },
	{ "key lo", "lo: 1\nm: 2\n", "migrate", "lo: 1\nlock: migrate\nm: 2\n",
	    "" },
	{ "value trimmed", "lock:   migrate  \n", "", "", "migrate" },
	{ "empty", "", "migrate", "lock: migrate\n", "" },
};

static void
test_lock_lines(void **state)
{
	char	*out, lock[LOCK_NAME_MAX];
	size_t	 len, i;

	(void)state;
	for (i = 0; i < sizeof(lock_cases) / sizeof(lock_cases[0]); i++) {
		assert_int_equal(config_get_lock(lock_cases[i].text,
		    strlen(lock_cases[i].text), lock, sizeof(lock)), 0);
		if (strcmp(lock, lock_cases[i].before) != 0)
			fail_msg("%s: lock '%s', expected '%s'",
			    lock_cases[i].name, lock, lock_cases[i].before);
		assert_int_equal(config_set_lock(lock_cases[i].text,
		    strlen(lock_cases[i].text), lock_cases[i].lock, &out,
		    &len), 0);
		if (strcmp(out, lock_cases[i].want) != 0)
			fail_msg("%s: wrote \"%s\", expected \"%s\"",
			    lock_cases[i].name, out, lock_cases[i].want);
		assert_int_equal(len, strlen(out));
		free(out);
	}
}

/*
 * Allocation
 */

static void
test_alloc_raw(void **state)
{
	struct tree	*t = *state;
	struct journal	 j;
	struct stat	 st;
	char		 path[512], msg[PRIV_MSG_MAX];

	NEED_TREE(t);
	create_migration(100);
	/* A volume from before the migration keeps its number. */
	tree_path(t, path, sizeof(path), "tank");
	assert_int_equal(mkdir(path, 0755), 0);
	tree_path(t, path, sizeof(path), "tank/images");
	assert_int_equal(mkdir(path, 0755), 0);
	tree_path(t, path, sizeof(path), "tank/images/100");
	assert_int_equal(mkdir(path, 0755), 0);
	tree_path(t, path, sizeof(path), "tank/images/100/vm-100-disk-0.raw");
	write_file(path, "old");

	disk_alloc(100, "tank", "raw", 1048577);
	assert_int_equal(reply.count, 1);
	if (reply.error != 0)
		fail_msg("alloc: %s", reply.msg);
	assert_string_equal(reply.json, "{\"volid\":"
	    "\"tank:100/vm-100-disk-1.raw\",\"format\":\"raw\"}");
	tree_path(t, path, sizeof(path), "tank/images/100/vm-100-disk-1.raw");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 1049600);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, 0);
	assert_true(st.st_blocks < 64);
	assert_int_equal(spawned.count, 0);

	assert_int_equal(journal_read(100, &j, msg, sizeof(msg)), 0);
	assert_int_equal(j.nvolumes, 1);
	assert_int_equal(j.volumes[0].state, JVOL_ALLOCATED);
	assert_string_equal(j.volumes[0].path, path);
	journal_free(&j);
}

/* qcow2 goes through qemu-img create; failure frees the file. */
static void
test_alloc_qcow2(void **state)
{
	struct tree	*t = *state;
	struct journal	 j;
	char		 path[512], msg[PRIV_MSG_MAX];

	NEED_TREE(t);
	create_migration(100);
	disk_alloc(100, "q2", "vmdk", 4096);
	assert_int_equal(reply.count, 0);
	assert_int_equal(spawned.count, 1);
	tree_path(t, path, sizeof(path), "q2/images/100/vm-100-disk-0.qcow2");
	assert_int_equal(spawned.argc, 8);
	assert_string_equal(spawned.argv[0], "/usr/bin/qemu-img");
	assert_string_equal(spawned.argv[1], "create");
	assert_string_equal(spawned.argv[3], "qcow2");
	assert_string_equal(spawned.argv[5], "preallocation=metadata");
	assert_string_equal(spawned.argv[6], path);
	assert_string_equal(spawned.argv[7], "4K");
	assert_int_equal(spawned.exec.uid, 0);
	assert_true(spawned.exec.timeout > 0);
	assert_true(exists("%s", path));

	/* qemu-img failed: the reserved file is removed, journaled freed. */
	spawned.done(spawned.arg, 0, 1 << 8, "", 0);
	assert_int_equal(reply.count, 1);
	assert_int_equal(reply.error, EIO);
	assert_contains(reply.msg, "qemu-img create ended with status");
	assert_false(exists("%s", path));
	assert_int_equal(journal_read(100, &j, msg, sizeof(msg)), 0);
	assert_int_equal(j.volumes[0].state, JVOL_FREED);
	journal_free(&j);

	disk_alloc(100, "q2", "qcow2", 1 << 20);
	spawned.done(spawned.arg, 0, 0, "", 0);
	assert_int_equal(reply.count, 1);
	assert_int_equal(reply.error, 0);
	assert_string_equal(reply.json, "{\"volid\":"
	    "\"q2:100/vm-100-disk-0.qcow2\",\"format\":\"qcow2\"}");
	assert_int_equal(journal_read(100, &j, msg, sizeof(msg)), 0);
	assert_int_equal(j.volumes[0].state, JVOL_ALLOCATED);
	journal_free(&j);
}

static void
test_alloc_refused(void **state)
{
	struct tree	*t = *state;
	struct priv_disk_alloc	 req;
	struct imsg	 imsg;

	NEED_TREE(t);
	disk_alloc(100, "tank", "raw", 4096);
	assert_int_equal(reply.error, EINVAL);
	assert_contains(reply.msg, "no migration of VM 100 in progress");
	create_migration(100);
	disk_alloc(100, "iso", "raw", 4096);
	assert_contains(reply.msg, "storage 'iso' does not support vm images");
	disk_alloc(100, "nowhere", "raw", 4096);
	assert_contains(reply.msg, "storage 'nowhere' does not exist");
	disk_alloc(100, "tank", "raw", 0);
	assert_contains(reply.msg, "invalid disk size 0 bytes");
	assert_false(exists("%s/tank/images/100/vm-100-disk-0.raw", t->dir));

	/* The payload names another VMID than the header. */
	memset(&req, 0, sizeof(req));
	req.vmid = 101;
	strcpy(req.disk.storage, "tank");
	strcpy(req.disk.format, "raw");
	req.disk.size = 4096;
	make_imsg(&imsg, IMSG_PRIV_DISK_ALLOC, 100, &req, sizeof(req));
	reply.count = 0;
	priv_disk_alloc(&imsg);
	assert_int_equal(reply.count, 1);
	assert_contains(reply.msg, "invalid vmid");

	/* An unterminated storage name. */
	req.vmid = 100;
	memset(req.disk.storage, 'a', sizeof(req.disk.storage));
	make_imsg(&imsg, IMSG_PRIV_DISK_ALLOC, 100, &req, sizeof(req));
	reply.count = 0;
	priv_disk_alloc(&imsg);
	assert_int_equal(reply.count, 1);
	assert_int_equal(reply.error, EINVAL);
	assert_int_equal(spawned.count, 0);
}

/* A symlink where the VMID's image directory belongs is not followed. */
static void
test_alloc_symlinked_dir(void **state)
{
	struct tree	*t = *state;
	char		 path[512], target[512];

	NEED_TREE(t);
	create_migration(100);
	tree_path(t, path, sizeof(path), "tank");
	assert_int_equal(mkdir(path, 0755), 0);
	tree_path(t, path, sizeof(path), "tank/images");
	assert_int_equal(mkdir(path, 0755), 0);
	tree_path(t, target, sizeof(target), "elsewhere");
	assert_int_equal(mkdir(target, 0755), 0);
	tree_path(t, path, sizeof(path), "tank/images/100");
	assert_int_equal(symlink(target, path), 0);
	disk_alloc(100, "tank", "raw", 4096);
	assert_int_equal(reply.count, 1);
	assert_int_not_equal(reply.error, 0);
	assert_false(exists("%s/vm-100-disk-0.raw", target));
}

static void
test_alloc_content_dirs(void **state)
{
	struct tree	*t = *state;

	NEED_TREE(t);
	create_migration(100);
	disk_alloc(100, "moved", "raw", 4096);
	if (reply.error != 0)
		fail_msg("alloc: %s", reply.msg);
	assert_true(exists("%s/moved/vm/disks/100/vm-100-disk-0.raw", t->dir));
}

/*
 * Path checks
 */

static void
test_check_path(void **state)
{
	struct tree		*t = *state;
	const struct storagecfg	*cfg;
	char			 msg[PRIV_MSG_MAX], path[512], vid[64];

	NEED_TREE(t);
	assert_non_null(cfg = volume_storages(msg, sizeof(msg)));
	strcpy(vid, "tank:100/vm-100-disk-0.raw");
	tree_path(t, path, sizeof(path), "tank/images/100/vm-100-disk-0.raw");
	assert_int_equal(volume_check_path(cfg, 100, vid, path, msg,
	    sizeof(msg)), 0);
	assert_int_equal(volume_check_path(cfg, 101, vid, path, msg,
	    sizeof(msg)), -1);
	assert_contains(msg, "not an image of VM 101");
	assert_int_equal(volume_check_path(cfg, 100,
	    "q2:100/vm-100-disk-0.raw", path, msg, sizeof(msg)), -1);
	assert_contains(msg, "is not");
	assert_int_equal(volume_check_path(cfg, 100,
	    "gone:100/vm-100-disk-0.raw", path, msg, sizeof(msg)), -1);
	assert_contains(msg, "not a configured dir storage");
	assert_int_equal(volume_check_path(cfg, 100,
	    "tank:100/../vm-100-disk-0.raw", path, msg, sizeof(msg)), -1);
	assert_int_equal(volume_check_path(cfg, 100, vid, "/etc/shadow", msg,
	    sizeof(msg)), -1);
	tree_path(t, path, sizeof(path),
	    "tank/images/100/../100/vm-100-disk-0.raw");
	assert_int_equal(volume_check_path(cfg, 100, vid, path, msg,
	    sizeof(msg)), -1);
	tree_path(t, path, sizeof(path),
	    "moved/vm/disks/100/vm-100-disk-0.raw");
	assert_int_equal(volume_check_path(cfg, 100,
	    "moved:100/vm-100-disk-0.raw", path, msg, sizeof(msg)), 0);
}

/* volume_unlink removes only a regular file, never through a symlink. */
static void
test_unlink_refuses_links(void **state)
{
	struct tree		*t = *state;
	const struct storagecfg	*cfg;
	char			 msg[PRIV_MSG_MAX], path[512], target[512];

	NEED_TREE(t);
	assert_non_null(cfg = volume_storages(msg, sizeof(msg)));
	tree_path(t, path, sizeof(path), "tank");
	assert_int_equal(mkdir(path, 0755), 0);
	tree_path(t, path, sizeof(path), "tank/images");
	assert_int_equal(mkdir(path, 0755), 0);
	tree_path(t, path, sizeof(path), "tank/images/100");
	assert_int_equal(mkdir(path, 0755), 0);
	tree_path(t, target, sizeof(target), "precious");
	write_file(target, "keep");

	/* A symlink as the volume file: left alone, target kept. */
	tree_path(t, path, sizeof(path), "tank/images/100/vm-100-disk-0.raw");
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(volume_unlink(cfg, 100, "tank:100/vm-100-disk-0.raw",
	    path, msg, sizeof(msg)), -1);
	assert_contains(msg, "not a regular file");
	assert_true(exists("%s", path));
	assert_true(exists("%s", target));

	/* A symlinked VMID directory: not entered. */
	tree_path(t, path, sizeof(path), "tank/images/101");
	tree_path(t, target, sizeof(target), "other");
	assert_int_equal(mkdir(target, 0755), 0);
	assert_int_equal(symlink(target, path), 0);
	tree_path(t, target, sizeof(target), "other/vm-101-disk-0.raw");
	write_file(target, "keep");
	tree_path(t, path, sizeof(path), "tank/images/101/vm-101-disk-0.raw");
	assert_int_equal(volume_unlink(cfg, 101, "tank:101/vm-101-disk-0.raw",
	    path, msg, sizeof(msg)), -1);
	assert_true(exists("%s", target));

	/* Gone already: counts as removed. */
	tree_path(t, path, sizeof(path), "tank/images/100/vm-100-disk-9.raw");
	assert_int_equal(volume_unlink(cfg, 100, "tank:100/vm-100-disk-9.raw",
	    path, msg, sizeof(msg)), 0);
}

/*
 * Cleanup from the journal
 */

/* Only what the journal lists goes; the volume from before stays. */
static void
test_cleanup_listed_only(void **state)
{
	struct tree	*t = *state;
	char		 path[512];

	NEED_TREE(t);
	create_migration(100);
	disk_alloc(100, "tank", "raw", 4096);
	assert_int_equal(reply.error, 0);
	tree_path(t, path, sizeof(path), "tank/images/100/vm-100-disk-5.raw");
	write_file(path, "from before");
	tree_path(t, path, sizeof(path), "tank/images/100/notes");
	write_file(path, "not ours");
	assert_true(exists("%s/conf/qemu-server/100.conf", t->dir));

	cleanup(100);
	assert_false(exists("%s/tank/images/100/vm-100-disk-0.raw", t->dir));
	assert_true(exists("%s/tank/images/100/vm-100-disk-5.raw", t->dir));
	assert_true(exists("%s/tank/images/100/notes", t->dir));
	assert_false(exists("%s/conf/qemu-server/100.conf", t->dir));
	assert_false(exists("%s/state/journal/100", t->dir));
	assert_int_equal(queued, 0);

	/* A second cleanup finds no journal and removes nothing. */
	cleanup(100);
	assert_true(exists("%s/tank/images/100/vm-100-disk-5.raw", t->dir));
}

static void
test_cleanup_keeps_resumed(void **state)
{
	struct tree	*t = *state;

	NEED_TREE(t);
	create_migration(100);
	disk_alloc(100, "tank", "raw", 4096);
	assert_int_equal(journal_append(100, "resumed", NULL, NULL), 0);
	cleanup(100);
	assert_true(exists("%s/tank/images/100/vm-100-disk-0.raw", t->dir));
	assert_true(exists("%s/conf/qemu-server/100.conf", t->dir));
	assert_false(exists("%s/state/journal/100", t->dir));
}

/* A quit without cleanup keeps everything and removes the journal. */
static void
test_cleanup_finished_keeps(void **state)
{
	struct tree	*t = *state;

	NEED_TREE(t);
	create_migration(100);
	disk_alloc(100, "tank", "raw", 4096);
	cleanup_for(100, CLEANUP_FINISHED);
	assert_true(exists("%s/tank/images/100/vm-100-disk-0.raw", t->dir));
	assert_true(exists("%s/conf/qemu-server/100.conf", t->dir));
	assert_false(exists("%s/state/journal/100", t->dir));
}

/* After unlock the migration is done: nothing is destroyed. */
static void
test_cleanup_keeps_unlocked(void **state)
{
	struct tree		*t = *state;
	struct priv_config_lock	 req;
	struct imsg		 imsg;
	char			 path[512], text[256];

	NEED_TREE(t);
	create_migration(100);
	disk_alloc(100, "tank", "raw", 4096);
	memset(&req, 0, sizeof(req));
	req.vmid = 100;
	req.op = LOCK_OP_SET;
	strcpy(req.expected, "create");
	make_imsg(&imsg, IMSG_PRIV_CONFIG_LOCK, 100, &req, sizeof(req));
	priv_config_lock(&imsg);
	if (reply.error != 0)
		fail_msg("unlock: %s", reply.msg);
	tree_path(t, path, sizeof(path), "conf/qemu-server/100.conf");
	read_file(path, text, sizeof(text));
	assert_string_equal(text, "");
	cleanup(100);
	assert_true(exists("%s/tank/images/100/vm-100-disk-0.raw", t->dir));
	assert_true(exists("%s", path));
}

/* A journal line that points a volume elsewhere removes nothing there. */
static void
test_cleanup_hostile_path(void **state)
{
	struct tree	*t = *state;
	char		 path[512], line[1024];
	int		 fd;

	NEED_TREE(t);
	create_migration(100);
	tree_path(t, path, sizeof(path), "precious");
	write_file(path, "keep");
	snprintf(line, sizeof(line), "1 volume-allocated "
	    "tank:100/vm-100-disk-0.raw %s\n", path);
	tree_path(t, path, sizeof(path), "state/journal/100");
	assert_int_not_equal(fd = open(path, O_WRONLY | O_APPEND), -1);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	close(fd);
	cleanup(100);
	assert_true(exists("%s/precious", t->dir));
	/* Something was left, so the journal stays for another try. */
	assert_true(exists("%s/state/journal/100", t->dir));
	assert_false(exists("%s/conf/qemu-server/100.conf", t->dir));
}

/* Intent without "config-created": only a bare placeholder is removed. */
static void
test_cleanup_config_intent(void **state)
{
	struct tree	*t = *state;
	char		 msg[PRIV_MSG_MAX], path[512];

	NEED_TREE(t);
	tree_path(t, path, sizeof(path), "conf/qemu-server");
	assert_int_equal(mkdir(path, 0755), 0);
	tree_path(t, path, sizeof(path), "conf/qemu-server/100.conf");
	write_file(path, "memory: 512\n");
	assert_int_equal(journal_create(100, msg, sizeof(msg)), 0);
	assert_int_equal(journal_append(100, "config-intent", NULL, NULL), 0);
	cleanup(100);
	assert_true(exists("%s", path));

	write_file(path, "lock: create\n");
	assert_int_equal(journal_create(100, msg, sizeof(msg)), 0);
	assert_int_equal(journal_append(100, "config-intent", NULL, NULL), 0);
	cleanup(100);
	assert_false(exists("%s", path));
}

/*
 * Config requests
 */

static void
config_write(uint32_t vmid, const char *conf, const char *fw)
{
	struct priv_config_write w;
	struct imsg		 imsg;
	char			 buf[4096];

	w.vmid = vmid;
	w.conf_len = strlen(conf);
	w.fw_len = fw != NULL ? strlen(fw) : 0;
	memcpy(buf, &w, sizeof(w));
	memcpy(buf + sizeof(w), conf, w.conf_len);
	if (fw != NULL)
		memcpy(buf + sizeof(w) + w.conf_len, fw, w.fw_len);
	make_imsg(&imsg, IMSG_PRIV_CONFIG_WRITE, vmid, buf,
	    sizeof(w) + w.conf_len + w.fw_len);
	reply.count = 0;
	priv_config_write(&imsg);
	assert_int_equal(reply.count, 1);
}

static void
test_config_write(void **state)
{
	struct tree	*t = *state;
	struct journal	 j;
	struct stat	 st;
	char		 path[512], text[1024], msg[PRIV_MSG_MAX];

	NEED_TREE(t);
	create_migration(100);
	disk_alloc(100, "tank", "raw", 4096);
	config_write(100, "memory: 512\nscsi0: tank:100/vm-100-disk-1.raw\n",
	    NULL);
	assert_int_equal(reply.error, EINVAL);
	assert_contains(reply.msg, "volume 'tank:100/vm-100-disk-1.raw' of "
	    "scsi0 was not allocated or imported by this migration");
	config_write(100, "memory: 512\nvirtio0: /dev/sda\n", NULL);
	assert_int_equal(reply.error, EINVAL);
	assert_contains(reply.msg, "'/dev/sda' is not a volume");
	config_write(100, "memory: 512\n\n[snap]\nmemory: 256\n", NULL);
	assert_contains(reply.msg, "snapshots");
	config_write(100, "memory: 512\nhostpci0: 01:00.0\n", NULL);
	assert_contains(reply.msg, "invalid config");
	tree_path(t, path, sizeof(path), "conf/qemu-server/100.conf");
	read_file(path, text, sizeof(text));
	assert_string_equal(text, "lock: create\n");

	config_write(100, "memory: 512\nide2: none,media=cdrom\n"
	    "scsi0: tank:100/vm-100-disk-0.raw,size=4K\n",
	    "[OPTIONS]\nenable: 1\n");
	if (reply.error != 0)
		fail_msg("write: %s", reply.msg);
	read_file(path, text, sizeof(text));
	assert_string_equal(text, "ide2: none,media=cdrom\nlock: migrate\n"
	    "memory: 512\nscsi0: tank:100/vm-100-disk-0.raw,size=4K\n");
	tree_path(t, path, sizeof(path), "conf/firewall/100.fw");
	read_file(path, text, sizeof(text));
	assert_string_equal(text, "[OPTIONS]\nenable: 1\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(journal_read(100, &j, msg, sizeof(msg)), 0);
	assert_true(j.config_written);
	assert_true(j.firewall_written);
	journal_free(&j);

	/* Now locked "migrate": a second write is refused. */
	config_write(100, "memory: 256\n", NULL);
	assert_int_equal(reply.error, EBUSY);
	assert_contains(reply.msg, "Encountered wrong lock");

	/* Cleanup removes the firewall file and the config. */
	cleanup(100);
	assert_false(exists("%s", path));
	assert_false(exists("%s/conf/qemu-server/100.conf", t->dir));
	assert_false(exists("%s/tank/images/100/vm-100-disk-0.raw", t->dir));
}

static void
test_config_lock(void **state)
{
	struct tree		*t = *state;
	struct priv_config_lock	 req;
	struct imsg		 imsg;

	NEED_TREE(t);
	memset(&req, 0, sizeof(req));
	req.vmid = 100;
	req.op = LOCK_OP_CHECK;
	strcpy(req.expected, "create");
	make_imsg(&imsg, IMSG_PRIV_CONFIG_LOCK, 100, &req, sizeof(req));
	priv_config_lock(&imsg);
	assert_int_equal(reply.error, ENOENT);
	assert_contains(reply.msg, "Configuration file '");
	assert_contains(reply.msg, "/qemu-server/100.conf' does not exist");

	create_migration(100);
	priv_config_lock(&imsg);
	assert_int_equal(reply.error, 0);
	strcpy(req.expected, "migrate");
	priv_config_lock(&imsg);
	assert_int_equal(reply.error, EBUSY);
	assert_string_equal(reply.msg, "Encountered wrong lock - aborting "
	    "mtunnel command handling.\n");

	/* Not a lock value of a VM: refused before anything is read. */
	req.op = LOCK_OP_SET;
	strcpy(req.expected, "create");
	strcpy(req.newlock, "mine");
	reply.count = 0;
	priv_config_lock(&imsg);
	assert_int_equal(reply.count, 1);
	assert_int_equal(reply.error, EINVAL);
	strcpy(req.newlock, "migrate");
	priv_config_lock(&imsg);
	assert_int_equal(reply.error, 0);
	strcpy(req.expected, "migrate");
	req.op = LOCK_OP_CHECK;
	priv_config_lock(&imsg);
	assert_int_equal(reply.error, 0);
}

/* Create-and-lock: a second migration of the VMID is refused. */
static void
test_config_create_twice(void **state)
{
	struct tree		*t = *state;
	struct priv_vmid_req	 req = { 100, 0 };
	struct imsg		 imsg;
	char			 path[512];

	NEED_TREE(t);
	create_migration(100);
	make_imsg(&imsg, IMSG_PRIV_CONFIG_CREATE, 100, &req, sizeof(req));
	priv_config_create(&imsg);
	assert_int_equal(reply.error, EEXIST);

	/* An existing VM without a migration: refused, journal dropped. */
	tree_path(t, path, sizeof(path), "conf/qemu-server/101.conf");
	write_file(path, "memory: 1\n");
	req.vmid = 101;
	make_imsg(&imsg, IMSG_PRIV_CONFIG_CREATE, 101, &req, sizeof(req));
	priv_config_create(&imsg);
	assert_int_equal(reply.error, EEXIST);
	assert_contains(reply.msg, "VM 101 already exists");
	assert_false(journal_exists(101));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_number),
		cmocka_unit_test(test_next_number),
		cmocka_unit_test_setup_teardown(test_pick_name, tree_setup,
		    tree_teardown),
		cmocka_unit_test_setup_teardown(test_pick_name_full,
		    tree_setup, tree_teardown),
		cmocka_unit_test(test_format_resolve),
		cmocka_unit_test(test_size_kib),
		cmocka_unit_test(test_pick_transfer_format),
		cmocka_unit_test(test_target_name),
		cmocka_unit_test(test_header_size),
		cmocka_unit_test(test_copy_exact),
		cmocka_unit_test(test_copy_short),
		cmocka_unit_test(test_copy_long),
		cmocka_unit_test(test_copy_no_header),
		cmocka_unit_test(test_copy_empty_image),
		cmocka_unit_test(test_copy_huge_header),
		cmocka_unit_test(test_copy_sparse),
		cmocka_unit_test(test_copy_progress),
		cmocka_unit_test(test_check_info),
		cmocka_unit_test(test_check_info_qemu_img),
		cmocka_unit_test(test_lock_lines),
		cmocka_unit_test_setup_teardown(test_alloc_raw, tree_setup,
		    tree_teardown),
		cmocka_unit_test_setup_teardown(test_alloc_qcow2, tree_setup,
		    tree_teardown),
		cmocka_unit_test_setup_teardown(test_alloc_refused,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_alloc_symlinked_dir,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_alloc_content_dirs,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_check_path, tree_setup,
		    tree_teardown),
		cmocka_unit_test_setup_teardown(test_unlink_refuses_links,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_listed_only,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_keeps_resumed,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_finished_keeps,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_keeps_unlocked,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_hostile_path,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_config_intent,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_config_write, tree_setup,
		    tree_teardown),
		cmocka_unit_test_setup_teardown(test_config_lock, tree_setup,
		    tree_teardown),
		cmocka_unit_test_setup_teardown(test_config_create_twice,
		    tree_setup, tree_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
