/*
 * Tests for the per-migration journal (priv/journal.c): the record format
 * and its encoding, the parser on good, cut-short and hostile input, and
 * the files under a temporary state directory.  Cleanup from the journal
 * is tested in test_volume.c, which links the volume and config code.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
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

/*
 * journal.o also contains the cleanup, which calls into the rest of
 * priv.  These tests never reach it, so each stub fails the test if it
 * is called.
 */
#define STUB(ret, name, args)						\
ret name args { fail_msg("%s called", #name); abort(); }

STUB(const struct proc_setup *, priv_config, (void))
STUB(int, priv_lock, (uint32_t v, int *f, char *m, size_t l))
STUB(void, priv_queue_request, (uint32_t t, uint32_t v, const void *d,
    size_t l))
STUB(int, priv_spawn_running, (uint32_t v))
STUB(void, priv_log_error, (uint32_t v, const char *w, const char *m))
STUB(int, import_cancel, (uint32_t v))
STUB(void, sock_remove_all, (const char *r, uint32_t v))
STUB(const struct storagecfg *, volume_storages, (char *m, size_t l))
STUB(int, volume_unlink, (const struct storagecfg *c, uint32_t v,
    const char *i, const char *p, char *m, size_t l))
STUB(int, firewall_remove, (const char *c, uint32_t v, char *m, size_t l))
STUB(int, config_remove, (const char *c, uint32_t v, int p, char *m,
    size_t l))
STUB(int, qemu_kill, (uint32_t v))

static void
parse_text(const char *text, struct journal *j)
{
	assert_int_equal(journal_parse(text, strlen(text), j), 0);
}

static const struct journal_volume *
volume(const struct journal *j, const char *volid)
{
	const struct journal_volume	*v = journal_find_volume(j, volid);

	if (v == NULL)
		fail_msg("volume %s not in the journal", volid);
	return v;
}

static void
test_format_plain(void **state)
{
	char	 line[JOURNAL_LINE_MAX + 1];
	int	 n;

	(void)state;
	n = journal_format_line(line, sizeof(line), 1700000000,
	    "config-created", NULL, NULL);
	assert_int_equal(n, (int)strlen("1700000000 config-created\n"));
	assert_string_equal(line, "1700000000 config-created\n");
	n = journal_format_line(line, sizeof(line), 5, "volume-allocated",
	    "tank:100/vm-100-disk-0.raw", "/srv/images/100/vm-100-disk-0.raw");
	assert_true(n > 0);
	assert_string_equal(line, "5 volume-allocated "
	    "tank:100/vm-100-disk-0.raw /srv/images/100/vm-100-disk-0.raw\n");
}

static void
test_format_encodes(void **state)
{
	char	 line[JOURNAL_LINE_MAX + 1];

	(void)state;
	assert_true(journal_format_line(line, sizeof(line), 1,
	    "firewall-written", "/a b/%x\n\x7f\xc3\xa9", NULL) > 0);
	assert_string_equal(line,
	    "1 firewall-written /a%20b/%25x%0A%7F%C3%A9\n");
}

static void
test_format_too_long(void **state)
{
	char	 line[64], *path;

	(void)state;
	assert_int_equal(journal_format_line(line, sizeof(line), 1,
	    "volume-intent", "tank:100/vm-100-disk-0.raw",
	    "/a/rather/long/path/that/does/not/fit/in/sixty-four/bytes"), -1);
	assert_non_null(path = malloc(VOLUME_PATH_MAX * 4));
	memset(path, ' ', VOLUME_PATH_MAX * 4 - 1);
	path[0] = '/';
	path[VOLUME_PATH_MAX * 4 - 1] = '\0';
	assert_int_equal(journal_format_line(line, sizeof(line), 1,
	    "firewall-intent", path, NULL), -1);
	free(path);
}

/* What journal_format_line writes, journal_parse reads back. */
static void
test_round_trip(void **state)
{
	const char	*path = "/st ore/100%/vm-100-disk-0.raw";
	char		 text[4 * (JOURNAL_LINE_MAX + 1)];
	struct journal	 j;
	size_t		 off = 0;
	int		 n;

	(void)state;
	n = journal_format_line(text, sizeof(text), 1, "config-intent", NULL,
	    NULL);
	off += n;
	n = journal_format_line(text + off, sizeof(text) - off, 2,
	    "volume-intent", "s:100/vm-100-disk-0.raw", path);
	off += n;
	n = journal_format_line(text + off, sizeof(text) - off, 3,
	    "volume-receiving", "s:100/vm-100-disk-0.raw", path);
	off += n;
	parse_text(text, &j);
	assert_int_equal(j.nrecords, 3);
	assert_int_equal(j.nignored, 0);
	assert_true(j.config_intent);
	assert_false(j.config_created);
	assert_int_equal(j.nvolumes, 1);
	assert_string_equal(volume(&j, "s:100/vm-100-disk-0.raw")->path,
	    path);
	assert_int_equal(volume(&j, "s:100/vm-100-disk-0.raw")->state,
	    JVOL_RECEIVING);
	journal_free(&j);
}

static void
test_parse_states(void **state)
{
	struct journal	 j;

	(void)state;
	parse_text(
	    "1 config-intent\n"
	    "1 config-created\n"
	    "2 volume-intent a:100/vm-100-disk-0.raw /i/0.raw\n"
	    "2 volume-allocated a:100/vm-100-disk-0.raw /i/0.raw\n"
	    "3 volume-intent a:100/vm-100-disk-1.raw /i/1.raw\n"
	    "3 volume-failed a:100/vm-100-disk-1.raw\n"
	    "4 volume-intent a:100/vm-100-disk-2.raw /i/2.raw\n"
	    "4 volume-receiving a:100/vm-100-disk-2.raw /i/2.raw\n"
	    "4 volume-imported a:100/vm-100-disk-2.raw /i/2.raw\n"
	    "5 volume-intent a:100/vm-100-disk-3.raw /i/3.raw\n"
	    "5 volume-receiving a:100/vm-100-disk-3.raw /i/3.raw\n"
	    "5 volume-freed a:100/vm-100-disk-3.raw\n"
	    "6 volume-intent a:100/vm-100-disk-4.raw /i/4.raw\n"
	    "7 firewall-intent /etc/x/firewall/100.fw\n"
	    "7 firewall-written /etc/x/firewall/100.fw\n"
	    "8 config-write-intent\n"
	    "8 config-written\n", &j);
	assert_int_equal(j.nignored, 0);
	assert_int_equal(j.nrecords, 17);
	assert_true(j.config_created);
	assert_true(j.config_write_intent);
	assert_true(j.config_written);
	assert_true(j.firewall_intent);
	assert_true(j.firewall_written);
	assert_false(j.unlocked);
	assert_false(j.resumed);
	assert_int_equal(j.nvolumes, 5);
	assert_int_equal(volume(&j, "a:100/vm-100-disk-0.raw")->state,
	    JVOL_ALLOCATED);
	assert_int_equal(volume(&j, "a:100/vm-100-disk-1.raw")->state,
	    JVOL_FAILED);
	assert_int_equal(volume(&j, "a:100/vm-100-disk-2.raw")->state,
	    JVOL_IMPORTED);
	assert_int_equal(volume(&j, "a:100/vm-100-disk-3.raw")->state,
	    JVOL_FREED);
	assert_int_equal(volume(&j, "a:100/vm-100-disk-4.raw")->state,
	    JVOL_INTENT);
	journal_free(&j);
}

static void
test_volume_live(void **state)
{
	struct journal_volume	 v;

	(void)state;
	memset(&v, 0, sizeof(v));
	v.state = JVOL_INTENT;
	assert_true(journal_volume_live(&v));
	v.state = JVOL_ALLOCATED;
	assert_true(journal_volume_live(&v));
	v.state = JVOL_RECEIVING;
	assert_true(journal_volume_live(&v));
	v.state = JVOL_IMPORTED;
	assert_true(journal_volume_live(&v));
	v.state = JVOL_FAILED;
	assert_false(journal_volume_live(&v));
	v.state = JVOL_FREED;
	assert_false(journal_volume_live(&v));
}

/* A volume freed and then created again under the same name is live. */
static void
test_parse_reuse(void **state)
{
	struct journal	 j;

	(void)state;
	parse_text(
	    "1 volume-intent a:100/vm-100-disk-0.raw /a/100/vm-100-disk-0.raw\n"
	    "1 volume-freed a:100/vm-100-disk-0.raw\n"
	    "2 volume-intent a:100/vm-100-disk-0.raw /a/100/vm-100-disk-0.raw\n"
	    "2 volume-allocated a:100/vm-100-disk-0.raw "
	    "/a/100/vm-100-disk-0.raw\n", &j);
	assert_int_equal(j.nvolumes, 1);
	assert_int_equal(volume(&j, "a:100/vm-100-disk-0.raw")->state,
	    JVOL_ALLOCATED);
	journal_free(&j);
}

static void
test_parse_kept_states(void **state)
{
	struct journal	 j;

	(void)state;
	parse_text("1 config-created\n2 unlocked\n", &j);
	assert_true(j.unlocked);
	assert_false(j.resumed);
	journal_free(&j);
	parse_text("1 config-created\n2 resumed\n", &j);
	assert_true(j.resumed);
	assert_false(j.qemu_started);
	journal_free(&j);
	parse_text("1 config-created\n2 qemu-started\n", &j);
	assert_true(j.qemu_started);
	assert_false(j.resumed);
	assert_int_equal(j.nignored, 0);
	journal_free(&j);
}

/* A write cut short leaves a last line without newline: ignored. */
static void
test_parse_truncated(void **state)
{
	struct journal	 j;

	(void)state;
	parse_text(
	    "1 config-created\n"
	    "2 volume-intent a:100/vm-100-disk-0.raw /a/100/vm-100-disk-0.raw\n"
	    "2 volume-allocated a:100/vm-100-disk-0.raw /a/100/vm", &j);
	assert_int_equal(j.nrecords, 2);
	assert_int_equal(j.nignored, 1);
	assert_contains(j.ignored, "line 3");
	assert_contains(j.ignored, "cut short");
	assert_int_equal(volume(&j, "a:100/vm-100-disk-0.raw")->state,
	    JVOL_INTENT);
	journal_free(&j);
}

static void
test_parse_empty(void **state)
{
	struct journal	 j;

	(void)state;
	assert_int_equal(journal_parse("", 0, &j), 0);
	assert_int_equal(j.nrecords, 0);
	assert_int_equal(j.nignored, 0);
	assert_int_equal(j.nvolumes, 0);
	assert_false(j.config_created);
	journal_free(&j);
}

struct hostile_case {
	const char	*name;
	const char	*line;		/* with its newline */
	const char	*why;
};

static const struct hostile_case hostile[] = {
	{ "unknown action", "1 volume-deleted a:100/x.raw\n",
	    "unknown action" },
	{ "no action", "1\n", "no time or action" },
	{ "empty line", "\n", "no time or action" },
	{ "leading space", " 1 config-created\n", "no time or action" },
	{ "negative time", "-1 config-created\n", "invalid time" },
	{ "time not a number", "x1 config-created\n", "invalid time" },
	{ "time overflow", "99999999999999999999 config-created\n",
	    "invalid time" },
	{ "argument too many", "1 config-created /x\n",
	    "wrong number of arguments" },
	{ "argument missing", "1 volume-intent a:100/x.raw\n",
	    "wrong number of arguments" },
	{ "too many fields", "1 volume-intent a b c d\n", "too many fields" },
	{ "double space", "1 volume-intent a:100/x.raw  /p\n",
	    "wrong number of arguments" },
	{ "bad escape", "1 firewall-intent /a%zz\n",
	    "invalid argument encoding" },
	{ "short escape", "1 firewall-intent /a%4\n",
	    "invalid argument encoding" },
	{ "escaped NUL", "1 firewall-intent /a%00b\n",
	    "invalid argument encoding" },
	{ "control byte", "1 firewall-intent /a\tb\n",
	    "invalid argument encoding" },
	{ "high byte", "1 firewall-intent /a\xc3\xa9\n",
	    "invalid argument encoding" },
	{ "relative path", "1 volume-intent a:100/x.raw images/x.raw\n",
	    "not absolute" },
	{ "freed before recorded", "1 volume-freed a:100/x.raw\n",
	    "never recorded" },
	{ "CR at the end", "1 config-created\r\n", "unknown action" },
};

static void
test_parse_hostile(void **state)
{
	struct journal	 j;
	char		 text[512];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		snprintf(text, sizeof(text), "1 config-intent\n%s"
		    "2 config-created\n", hostile[i].line);
		parse_text(text, &j);
		if (j.nignored != 1)
			fail_msg("%s: %zu lines ignored", hostile[i].name,
			    j.nignored);
		if (strstr(j.ignored, hostile[i].why) == NULL)
			fail_msg("%s: reason \"%s\"", hostile[i].name,
			    j.ignored);
		assert_contains(j.ignored, "line 2");
		/* The lines around it still count. */
		assert_true(j.config_intent);
		assert_true(j.config_created);
		assert_int_equal(j.nvolumes, 0);
		journal_free(&j);
	}
}

/* A later record that moves a volume elsewhere is ignored. */
static void
test_parse_path_changed(void **state)
{
	struct journal	 j;

	(void)state;
	parse_text(
	    "1 volume-intent a:100/vm-100-disk-0.raw /a/100/vm-100-disk-0.raw\n"
	    "2 volume-allocated a:100/vm-100-disk-0.raw /etc/shadow\n", &j);
	assert_int_equal(j.nignored, 1);
	assert_contains(j.ignored, "path differs");
	assert_string_equal(volume(&j, "a:100/vm-100-disk-0.raw")->path,
	    "/a/100/vm-100-disk-0.raw");
	assert_int_equal(volume(&j, "a:100/vm-100-disk-0.raw")->state,
	    JVOL_INTENT);
	journal_free(&j);
}

static void
test_parse_nul_and_long(void **state)
{
	struct journal	 j;
	char		*text;
	size_t		 len = JOURNAL_LINE_MAX + 64;

	(void)state;
	assert_int_equal(journal_parse("1 config-created\0x\n2 unlocked\n",
	    sizeof("1 config-created\0x\n2 unlocked\n") - 1, &j), 0);
	assert_int_equal(j.nignored, 1);
	assert_contains(j.ignored, "NUL");
	assert_false(j.config_created);
	assert_true(j.unlocked);
	journal_free(&j);

	assert_non_null(text = malloc(len + 32));
	memset(text, 'a', len);
	memcpy(text, "1 firewall-intent /", 19);
	strcpy(text + len, "\n1 config-created\n");
	parse_text(text, &j);
	assert_int_equal(j.nignored, 1);
	assert_contains(j.ignored, "too long");
	assert_true(j.config_created);
	assert_false(j.firewall_intent);
	journal_free(&j);
	free(text);
}

/* Files: a temporary state directory per test. */
struct files {
	char	 dir[64];
};

static int
files_setup(void **state)
{
	struct files	*f;
	char		 msg[PRIV_MSG_MAX];

	assert_non_null(f = calloc(1, sizeof(*f)));
	strcpy(f->dir, "/tmp/test_journal.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(chmod(f->dir, 0755), 0);
	if (geteuid() == 0)
		assert_int_equal(journal_init(f->dir, msg, sizeof(msg)), 0);
	*state = f;
	return 0;
}

static int
files_teardown(void **state)
{
	struct files	*f = *state;
	char		 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
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

static void
test_files_append_read(void **state)
{
	struct files	*f = *state;
	struct journal	 j;
	struct stat	 st;
	char		 msg[PRIV_MSG_MAX], path[128], text[1024];

	if (geteuid() != 0)
		skip();
	assert_false(journal_exists(100));
	assert_int_equal(journal_read(100, &j, msg, sizeof(msg)), 1);
	assert_int_equal(journal_create(100, msg, sizeof(msg)), 0);
	assert_true(journal_exists(100));
	assert_int_equal(journal_create(100, msg, sizeof(msg)), -1);
	assert_contains(msg, "File exists");

	assert_int_equal(journal_append(100, "config-intent", NULL, NULL), 0);
	assert_int_equal(journal_append(100, "volume-intent",
	    "a:100/vm-100-disk-0.raw", "/x y/vm-100-disk-0.raw"), 0);
	snprintf(path, sizeof(path), "%s/journal/100", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	read_file(path, text, sizeof(text));
	assert_contains(text, " config-intent\n");
	assert_contains(text, " volume-intent a:100/vm-100-disk-0.raw "
	    "/x%20y/vm-100-disk-0.raw\n");

	assert_int_equal(journal_read(100, &j, msg, sizeof(msg)), 0);
	assert_int_equal(j.nrecords, 2);
	assert_true(j.config_intent);
	assert_string_equal(volume(&j, "a:100/vm-100-disk-0.raw")->path,
	    "/x y/vm-100-disk-0.raw");
	journal_free(&j);

	assert_int_equal(journal_remove(100), 0);
	assert_false(journal_exists(100));
	assert_int_equal(journal_remove(100), 0);
}

/* Appending needs the journal that create-and-lock started. */
static void
test_files_append_needs_journal(void **state)
{
	struct files	*f = *state;
	char		 path[128];
	struct stat	 st;

	if (geteuid() != 0)
		skip();
	assert_int_equal(journal_append(101, "config-intent", NULL, NULL), -1);
	snprintf(path, sizeof(path), "%s/journal/101", f->dir);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_files_symlink(void **state)
{
	struct files	*f = *state;
	struct journal	 j;
	char		 msg[PRIV_MSG_MAX], path[128], target[128];

	if (geteuid() != 0)
		skip();
	snprintf(target, sizeof(target), "%s/target", f->dir);
	snprintf(path, sizeof(path), "%s/journal/102", f->dir);
	assert_int_equal(close(open(target, O_WRONLY | O_CREAT, 0600)), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(journal_append(102, "config-intent", NULL, NULL), -1);
	assert_int_equal(journal_read(102, &j, msg, sizeof(msg)), -1);
	assert_int_equal(journal_create(102, msg, sizeof(msg)), -1);
	read_file(target, msg, sizeof(msg));
	assert_string_equal(msg, "");
}

static void
test_files_list(void **state)
{
	struct files	*f = *state;
	uint32_t	 vmids[8];
	size_t		 n, i;
	char		 msg[PRIV_MSG_MAX], path[128];
	int		 seen100 = 0, seen999 = 0;

	if (geteuid() != 0)
		skip();
	assert_int_equal(journal_create(100, msg, sizeof(msg)), 0);
	assert_int_equal(journal_create(999999999, msg, sizeof(msg)), 0);
	/* Names that are no VMID are skipped. */
	snprintf(path, sizeof(path), "%s/journal/99", f->dir);
	assert_int_equal(close(open(path, O_WRONLY | O_CREAT, 0600)), 0);
	snprintf(path, sizeof(path), "%s/journal/0100", f->dir);
	assert_int_equal(close(open(path, O_WRONLY | O_CREAT, 0600)), 0);
	snprintf(path, sizeof(path), "%s/journal/1000000000", f->dir);
	assert_int_equal(close(open(path, O_WRONLY | O_CREAT, 0600)), 0);
	snprintf(path, sizeof(path), "%s/journal/100x", f->dir);
	assert_int_equal(close(open(path, O_WRONLY | O_CREAT, 0600)), 0);

	assert_int_equal(journal_list(vmids, 8, &n), 0);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		seen100 += vmids[i] == 100;
		seen999 += vmids[i] == 999999999;
	}
	assert_int_equal(seen100, 1);
	assert_int_equal(seen999, 1);
	assert_int_equal(journal_list(vmids, 1, &n), 0);
	assert_int_equal(n, 1);
}

static void
test_init_refuses_open_dir(void **state)
{
	struct files	*f = *state;
	char		 msg[PRIV_MSG_MAX], path[128];

	if (geteuid() != 0)
		skip();
	snprintf(path, sizeof(path), "%s/journal", f->dir);
	assert_int_equal(chmod(path, 0777), 0);
	assert_int_equal(journal_init(f->dir, msg, sizeof(msg)), -1);
	assert_contains(msg, "not writable by others");
	assert_int_equal(chmod(path, 0700), 0);
	assert_int_equal(journal_init(f->dir, msg, sizeof(msg)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_plain),
		cmocka_unit_test(test_format_encodes),
		cmocka_unit_test(test_format_too_long),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_parse_states),
		cmocka_unit_test(test_volume_live),
		cmocka_unit_test(test_parse_reuse),
		cmocka_unit_test(test_parse_kept_states),
		cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_parse_empty),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_parse_path_changed),
		cmocka_unit_test(test_parse_nul_and_long),
		cmocka_unit_test_setup_teardown(test_files_append_read,
		    files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(test_files_append_needs_journal,
		    files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(test_files_symlink,
		    files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(test_files_list,
		    files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(test_init_refuses_open_dir,
		    files_setup, files_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
