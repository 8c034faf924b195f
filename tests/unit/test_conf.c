/*
 * Unit tests for the daemon config parser (common/conf.c): table-driven
 * good and bad values for every keyword, the line and file limits, and
 * the directories that conf_finish() derives from the prefix.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"

#define TEST_NAME	"test.conf"

#define assert_contains(s, sub) do {					\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("\"%s\" does not contain \"%s\"", (s), (sub));	\
} while (0)

enum field_kind {
	FIELD_STR,
	FIELD_INT,
	FIELD_PORT,
};

#define F(f)	offsetof(struct mtunneld_conf, f)

struct good_case {
	const char	*line;
	enum field_kind	 kind;
	size_t		 offset;
	const char	*want_str;
	int		 want_int;
};

/* At least one accepted value for every keyword, with the bounds. */
static const struct good_case good_cases[] = {
	{ "listen 127.0.0.1", FIELD_STR, F(listen), "127.0.0.1", 0 },
	{ "listen ::1", FIELD_STR, F(listen), "::1", 0 },
	{ "listen *", FIELD_STR, F(listen), "*", 0 },
	{ "listen fe80::1:2:3:4", FIELD_STR, F(listen), "fe80::1:2:3:4", 0 },
	{ "port 0", FIELD_PORT, F(port), NULL, 0 },
	{ "port 8443", FIELD_PORT, F(port), NULL, 8443 },
	{ "port 65535", FIELD_PORT, F(port), NULL, 65535 },
	{ "node pve-1", FIELD_STR, F(node), "pve-1", 0 },
	{ "node a", FIELD_STR, F(node), "a", 0 },
	{ "node Node2", FIELD_STR, F(node), "Node2", 0 },
	{ "user alice", FIELD_STR, F(user), "alice", 0 },
	{ "user _svc-1", FIELD_STR, F(user), "_svc-1", 0 },
	{ "tunnel-user tun_2", FIELD_STR, F(tunnel_user), "tun_2", 0 },
	{ "qemu-user q", FIELD_STR, F(qemu_user), "q", 0 },
	{ "prefork 1", FIELD_INT, F(prefork), NULL, 1 },
	{ "prefork 32", FIELD_INT, F(prefork), NULL, 32 },
	{ "accept-timeout 1", FIELD_INT, F(accept_timeout), NULL, 1 },
	{ "accept-timeout 86400", FIELD_INT, F(accept_timeout), NULL, 86400 },
	{ "ticket-lifetime 1", FIELD_INT, F(ticket_lifetime), NULL, 1 },
	{ "ticket-lifetime 3600", FIELD_INT, F(ticket_lifetime), NULL, 3600 },
	{ "prefix /tmp/mt", FIELD_STR, F(prefix), "/tmp/mt", 0 },
	{ "prefix /", FIELD_STR, F(prefix), "/", 0 },
	{ "config-dir /c/etc", FIELD_STR, F(confdir), "/c/etc", 0 },
	{ "state-dir /s/lib", FIELD_STR, F(statedir), "/s/lib", 0 },
	{ "run-dir /r/run", FIELD_STR, F(rundir), "/r/run", 0 },
	{ "empty-dir /e/empty", FIELD_STR, F(emptydir), "/e/empty", 0 },
	{ "audit-log /a/audit.log", FIELD_STR, F(audit_log), "/a/audit.log",
	    0 },
	{ "tls-cert /t/cert.pem", FIELD_STR, F(tls_cert), "/t/cert.pem", 0 },
	{ "tls-key /t/key.pem", FIELD_STR, F(tls_key), "/t/key.pem", 0 },
	{ "qemu-binary /opt/qemu", FIELD_STR, F(qemu), "/opt/qemu", 0 },
	{ "qemu-img-binary /opt/qemu-img", FIELD_STR, F(qemu_img),
	    "/opt/qemu-img", 0 },
	/* '..' inside a name is not a parent directory. */
	{ "tls-cert /t/a..b", FIELD_STR, F(tls_cert), "/t/a..b", 0 },
	/* Tabs separate too, and '#' inside a value is not a comment. */
	{ "\ttls-key\t/t/k#1 ", FIELD_STR, F(tls_key), "/t/k#1", 0 },
};

/* Keywords of one value type, and the values that type rejects. */
struct bad_group {
	const char	*keywords[12];
	const char	*values[16];
};

static const struct bad_group bad_groups[] = {
	{ { "listen" },
	  { "localhost", "1.2.3", "256.1.1.1", "::g", "127.0.0.1:80",
	    "**" } },
	{ { "port" },
	  { "65536", "-1", "abc", "80x", "0x50", "8 0",
	    "99999999999999999999" } },
	{ { "node" },
	  { "-pve", "pve-", "pve_1", "pve.example", "p ve",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  } },
	{ { "user", "tunnel-user", "qemu-user" },
	  { "Alice", "1abc", "-x", "a.b", "a b", "al!ce",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" } },
	{ { "prefork" }, { "0", "33", "1.5", "two", "-1" } },
	{ { "accept-timeout" }, { "0", "86401", "1e3", "-5" } },
	{ { "ticket-lifetime" }, { "0", "3601", "ten", "40s" } },
	{ { "prefix", "config-dir", "state-dir", "run-dir", "empty-dir",
	    "audit-log", "tls-cert", "tls-key", "qemu-binary",
	    "qemu-img-binary" },
	  { "relative/path", "./x", "~/x", "/a/../b", "/a/..", "/..",
	    "/../etc" } },
};

static void
parse_ok(struct mtunneld_conf *conf, const char *text)
{
	char	 err[CONF_ERR_MAX];

	err[0] = '\0';
	if (conf_parse_buf(conf, TEST_NAME, text, strlen(text), err,
	    sizeof(err)) != 0)
		fail_msg("parsing \"%s\" failed: %s", text, err);
}

/* Parse buf, expect failure, and return the error text in err. */
static void
parse_fails(const char *buf, size_t len, char *err, size_t errlen)
{
	struct mtunneld_conf	 conf;

	conf_defaults(&conf);
	err[0] = '\0';
	if (conf_parse_buf(&conf, TEST_NAME, buf, len, err, errlen) != -1)
		fail_msg("\"%.*s\" was accepted", (int)len, buf);
}

static void
parse_text_fails(const char *text, char *err, size_t errlen)
{
	parse_fails(text, strlen(text), err, errlen);
}

static void
set_expected(struct mtunneld_conf *conf, const struct good_case *gc)
{
	char	*field = (char *)conf + gc->offset;

	switch (gc->kind) {
	case FIELD_STR:
		/* Every string field is a char array of CONF_PATH_MAX + 1
		 * bytes or less, and want_str fits each of them. */
		strcpy(field, gc->want_str);
		break;
	case FIELD_INT:
		memcpy(field, &gc->want_int, sizeof(int));
		break;
	case FIELD_PORT:
		conf->port = (uint16_t)gc->want_int;
		break;
	}
}

static void
test_good_values(void **state)
{
	struct mtunneld_conf	 conf, want;
	const struct good_case	*gc;
	size_t			 i;

	for (i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		gc = &good_cases[i];
		conf_defaults(&conf);
		conf_defaults(&want);
		parse_ok(&conf, gc->line);
		set_expected(&want, gc);

		if (gc->kind == FIELD_STR)
			assert_string_equal((char *)&conf + gc->offset,
			    gc->want_str);
		else if (gc->kind == FIELD_PORT)
			assert_int_equal(conf.port, gc->want_int);
		else
			assert_int_equal(*(int *)(void *)((char *)&conf +
			    gc->offset), gc->want_int);
		/* No other field changed. */
		if (memcmp(&conf, &want, sizeof(conf)) != 0)
			fail_msg("\"%s\" changed another field", gc->line);
	}
}

/* The value lands on line 3, after a comment and a blank line. */
static void
assert_bad_value(const char *keyword, const char *value)
{
	struct mtunneld_conf	 conf;
	char			 text[CONF_LINE_MAX], err[CONF_ERR_MAX];
	char			 want[CONF_ERR_MAX];

	snprintf(text, sizeof(text), "# config\n\n%s %s\nport 1\n", keyword,
	    value);
	conf_defaults(&conf);
	err[0] = '\0';
	if (conf_parse_buf(&conf, TEST_NAME, text, strlen(text), err,
	    sizeof(err)) != -1)
		fail_msg("\"%s %s\" was accepted", keyword, value);
	assert_contains(err, TEST_NAME ":3: ");
	snprintf(want, sizeof(want), "invalid %s '%s': ", keyword, value);
	assert_contains(err, want);
}

static void
test_bad_values(void **state)
{
	const struct bad_group	*bg;
	size_t			 g, k, v;

	for (g = 0; g < sizeof(bad_groups) / sizeof(bad_groups[0]); g++) {
		bg = &bad_groups[g];
		for (k = 0; k < 12 && bg->keywords[k] != NULL; k++)
			for (v = 0; v < 16 && bg->values[v] != NULL; v++)
				assert_bad_value(bg->keywords[k],
				    bg->values[v]);
	}
}

static void
test_bad_value_reasons(void **state)
{
	char	 err[CONF_ERR_MAX];

	parse_text_fails("port 65536\n", err, sizeof(err));
	assert_contains(err, "expected a number from 0 to 65535");
	parse_text_fails("prefork 33\n", err, sizeof(err));
	assert_contains(err, "expected a number from 1 to 32");
	parse_text_fails("state-dir var/lib\n", err, sizeof(err));
	assert_contains(err, "expected an absolute path");
	parse_text_fails("state-dir /var/../etc\n", err, sizeof(err));
	assert_contains(err, "'..' is not allowed");
	parse_text_fails("user Root\n", err, sizeof(err));
	assert_contains(err, "starting with a-z or '_'");
	parse_text_fails("node pve.example\n", err, sizeof(err));
	assert_contains(err, "letters, digits and inner '-'");
	parse_text_fails("listen localhost\n", err, sizeof(err));
	assert_contains(err, "IPv4 or IPv6 address");
}

/* A path of CONF_PATH_MAX characters is accepted, one more is not. */
static void
test_path_length_limit(void **state)
{
	struct mtunneld_conf	 conf;
	char			 path[CONF_PATH_MAX + 2];
	char			 text[CONF_LINE_MAX], err[CONF_ERR_MAX];

	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[CONF_PATH_MAX] = '\0';
	snprintf(text, sizeof(text), "state-dir %s\n", path);
	conf_defaults(&conf);
	parse_ok(&conf, text);
	assert_string_equal(conf.statedir, path);

	path[CONF_PATH_MAX] = 'p';
	path[CONF_PATH_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "state-dir %s\n", path);
	parse_text_fails(text, err, sizeof(err));
	assert_contains(err, TEST_NAME ":1: invalid state-dir '/ppp");
	assert_contains(err, "longer than 200 characters");
}

static void
test_unknown_keyword(void **state)
{
	char	 err[CONF_ERR_MAX];

	parse_text_fails("port 1\nbogus 2\n", err, sizeof(err));
	assert_contains(err, TEST_NAME ":2: ");
	assert_contains(err, "unknown keyword 'bogus'");

	/* Keywords are case-sensitive and take no '=' or ':'. */
	parse_text_fails("Port 1\n", err, sizeof(err));
	assert_contains(err, TEST_NAME ":1: unknown keyword 'Port'");
	parse_text_fails("port=1\n", err, sizeof(err));
	assert_contains(err, "unknown keyword 'port=1'");
}

static void
test_duplicate_keyword(void **state)
{
	char	 err[CONF_ERR_MAX];

	parse_text_fails("port 1\n# again\nport 2\n", err, sizeof(err));
	assert_contains(err, TEST_NAME ":3: ");
	assert_contains(err, "'port' is already set on line 1");

	/* The same value twice is still a duplicate. */
	parse_text_fails("\nnode a\nlisten *\nnode a\n", err, sizeof(err));
	assert_contains(err, TEST_NAME ":4: ");
	assert_contains(err, "'node' is already set on line 2");
}

static void
test_keyword_without_value(void **state)
{
	static const char	*texts[] = { "port\n", "port   \n",
	    "port\t\n", "port # no value\n", "port" };
	char			 err[CONF_ERR_MAX];
	size_t			 i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		parse_text_fails(texts[i], err, sizeof(err));
		assert_contains(err, TEST_NAME ":1: 'port' needs a value");
	}
}

static void
test_comments_and_blank_lines(void **state)
{
	struct mtunneld_conf	 conf;
	const char		*text =
	    "# full-line comment\n"
	    "   # indented comment\n"
	    "\n"
	    "   \t  \n"
	    "port 8443 # trailing comment\n"
	    "prefork 4\t# after a tab\n"
	    "#port 9999\n"
	    "node pve-2\r\n"
	    "ticket-lifetime 60";	/* no final newline */

	conf_defaults(&conf);
	parse_ok(&conf, text);
	assert_int_equal(conf.port, 8443);
	assert_int_equal(conf.prefork, 4);
	assert_string_equal(conf.node, "pve-2");
	assert_int_equal(conf.ticket_lifetime, 60);
}

static void
test_comment_needs_space(void **state)
{
	char	 err[CONF_ERR_MAX];

	/* '#' right after a value is part of the value. */
	parse_text_fails("port 8443#comment\n", err, sizeof(err));
	assert_contains(err, TEST_NAME ":1: invalid port '8443#comment'");
}

static void
test_empty_input(void **state)
{
	struct mtunneld_conf	 conf, want;
	char			 err[CONF_ERR_MAX];

	conf_defaults(&conf);
	conf_defaults(&want);
	assert_int_equal(conf_parse_buf(&conf, TEST_NAME, "", 0, err,
	    sizeof(err)), 0);
	parse_ok(&conf, "\n\n# only comments\n");
	assert_memory_equal(&conf, &want, sizeof(conf));
}

/* Build a comment line of len characters plus '\n' after "port 1\n". */
static size_t
make_long_line(char *buf, size_t len)
{
	size_t	 off;

	off = (size_t)sprintf(buf, "port 1\n");
	buf[off] = '#';
	memset(buf + off + 1, 'x', len - 1);
	buf[off + len] = '\n';
	return off + len + 1;
}

static void
test_line_too_long(void **state)
{
	struct mtunneld_conf	 conf;
	char			 buf[CONF_LINE_MAX + 16], err[CONF_ERR_MAX];
	size_t			 len;

	len = make_long_line(buf, CONF_LINE_MAX);
	conf_defaults(&conf);
	assert_int_equal(conf_parse_buf(&conf, TEST_NAME, buf, len, err,
	    sizeof(err)), 0);

	len = make_long_line(buf, CONF_LINE_MAX + 1);
	parse_fails(buf, len, err, sizeof(err));
	assert_contains(err, TEST_NAME ":2: line longer than 1024");
}

static void
test_nul_byte(void **state)
{
	static const char	 in_value[] = "port 1\nnode a\0b\n";
	static const char	 at_end[] = "port 1\n\0";
	char			 err[CONF_ERR_MAX];

	parse_fails(in_value, sizeof(in_value) - 1, err, sizeof(err));
	assert_contains(err, TEST_NAME ":2: NUL byte");
	parse_fails(at_end, sizeof(at_end) - 1, err, sizeof(err));
	assert_contains(err, TEST_NAME ":2: NUL byte");
}

/* Fill buf with len bytes of short comment lines, ending in '\n'. */
static void
fill_comments(char *buf, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		buf[i] = (i % 64 == 63 || i == len - 1) ? '\n' : '#';
}

static void
test_file_too_large(void **state)
{
	struct mtunneld_conf	 conf;
	char			*buf, err[CONF_ERR_MAX];

	buf = malloc(CONF_FILE_MAX + 1);
	assert_non_null(buf);

	fill_comments(buf, CONF_FILE_MAX);
	conf_defaults(&conf);
	assert_int_equal(conf_parse_buf(&conf, TEST_NAME, buf, CONF_FILE_MAX,
	    err, sizeof(err)), 0);

	fill_comments(buf, CONF_FILE_MAX + 1);
	parse_fails(buf, CONF_FILE_MAX + 1, err, sizeof(err));
	assert_contains(err, TEST_NAME ": larger than 65536 bytes");
	free(buf);
}

/* Directories derived from a prefix, in the order conf_finish sets them. */
static void
assert_derived(const struct mtunneld_conf *conf, const char *p)
{
	char	 want[CONF_PATH_MAX + 64];

	snprintf(want, sizeof(want), "%s/etc/mtunneld", p);
	assert_string_equal(conf->confdir, want);
	snprintf(want, sizeof(want), "%s/var/lib/mtunneld", p);
	assert_string_equal(conf->statedir, want);
	snprintf(want, sizeof(want), "%s/run/mtunneld", p);
	assert_string_equal(conf->rundir, want);
	snprintf(want, sizeof(want), "%s/var/lib/mtunneld/empty", p);
	assert_string_equal(conf->emptydir, want);
	snprintf(want, sizeof(want), "%s/var/log/mtunneld/audit.log", p);
	assert_string_equal(conf->audit_log, want);
}

static void
finish_ok(struct mtunneld_conf *conf, const char *prefix)
{
	char	 err[CONF_ERR_MAX];

	err[0] = '\0';
	if (conf_finish(conf, prefix, err, sizeof(err)) != 0)
		fail_msg("conf_finish with prefix %s failed: %s",
		    prefix != NULL ? prefix : "(none)", err);
}

static void
test_finish_file_prefix(void **state)
{
	struct mtunneld_conf	 conf;

	conf_defaults(&conf);
	parse_ok(&conf, "prefix /tmp/mt-a\nnode n1\n");
	finish_ok(&conf, NULL);
	assert_string_equal(conf.prefix, "/tmp/mt-a");
	assert_derived(&conf, "/tmp/mt-a");
	assert_string_equal(conf.node, "n1");
}

static void
test_finish_flag_overrides_prefix(void **state)
{
	struct mtunneld_conf	 conf;

	conf_defaults(&conf);
	parse_ok(&conf, "prefix /tmp/mt-file\nnode n1\n");
	finish_ok(&conf, "/tmp/mt-flag");
	assert_string_equal(conf.prefix, "/tmp/mt-flag");
	assert_derived(&conf, "/tmp/mt-flag");
}

static void
test_finish_without_prefix(void **state)
{
	struct mtunneld_conf	 conf;

	conf_defaults(&conf);
	parse_ok(&conf, "node n1\n");
	finish_ok(&conf, NULL);
	assert_derived(&conf, "");

	conf_defaults(&conf);
	parse_ok(&conf, "node n1\nprefix /\n");
	finish_ok(&conf, NULL);
	assert_derived(&conf, "");
}

static void
test_finish_keeps_explicit_dirs(void **state)
{
	struct mtunneld_conf	 conf;

	conf_defaults(&conf);
	parse_ok(&conf, "prefix /tmp/mt-b\nstate-dir /srv/state\n"
	    "audit-log /srv/audit.log\nnode n1\n");
	finish_ok(&conf, "/tmp/mt-c");
	assert_string_equal(conf.statedir, "/srv/state");
	assert_string_equal(conf.audit_log, "/srv/audit.log");
	assert_string_equal(conf.confdir, "/tmp/mt-c/etc/mtunneld");
	assert_string_equal(conf.rundir, "/tmp/mt-c/run/mtunneld");
	assert_string_equal(conf.emptydir, "/tmp/mt-c/var/lib/mtunneld/empty");
}

static void
test_finish_rejects_bad_prefix(void **state)
{
	struct mtunneld_conf	 conf;
	char			 err[CONF_ERR_MAX], prefix[CONF_PATH_MAX + 1];

	conf_defaults(&conf);
	parse_ok(&conf, "node n1\n");
	assert_int_equal(conf_finish(&conf, "relative", err, sizeof(err)), -1);
	assert_contains(err, "invalid prefix 'relative'");
	assert_int_equal(conf_finish(&conf, "/tmp/../etc", err, sizeof(err)),
	    -1);
	assert_contains(err, "invalid prefix '/tmp/../etc'");

	/* A valid prefix that leaves no room for the names below it. */
	memset(prefix, 'p', CONF_PATH_MAX);
	prefix[0] = '/';
	prefix[CONF_PATH_MAX - 5] = '\0';
	conf_defaults(&conf);
	parse_ok(&conf, "node n1\n");
	assert_int_equal(conf_finish(&conf, prefix, err, sizeof(err)), -1);
	assert_contains(err, "config-dir: path under prefix");
	assert_contains(err, "choose a shorter prefix");
}

/* Without 'node', the first label of the host name is used. */
static void
test_finish_node_from_hostname(void **state)
{
	struct mtunneld_conf	 conf;
	char			 host[256], err[CONF_ERR_MAX];
	int			 rv;

	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, ".")] = '\0';

	conf_defaults(&conf);
	rv = conf_finish(&conf, "/tmp/mt-d", err, sizeof(err));
	if (host[0] == '\0' || strlen(host) > CONF_NODE_MAX ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-") != strlen(host) || host[0] == '-' ||
	    host[strlen(host) - 1] == '-') {
		assert_int_equal(rv, -1);
		assert_contains(err, "set 'node'");
		return;
	}
	assert_int_equal(rv, 0);
	assert_string_equal(conf.node, host);
}

static int
write_file(const char *path, const char *buf, size_t len)
{
	int	 fd;
	ssize_t	 n;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	n = write(fd, buf, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

struct tmpdir {
	char	 dir[64];
	char	 path[128];
};

static int
setup_tmpdir(void **state)
{
	struct tmpdir	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_conf.XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/mtunneld.conf", t->dir);
	*state = t;
	return 0;
}

static int
teardown_tmpdir(void **state)
{
	struct tmpdir	*t = *state;

	unlink(t->path);
	rmdir(t->dir);
	free(t);
	return 0;
}

static void
test_parse_file_missing(void **state)
{
	struct tmpdir		*t = *state;
	struct mtunneld_conf	 conf, want;
	char			 err[CONF_ERR_MAX];

	conf_defaults(&conf);
	conf_defaults(&want);
	err[0] = '\0';
	assert_int_equal(conf_parse_file(&conf, t->path, 0, err,
	    sizeof(err)), -1);
	assert_contains(err, t->path);
	assert_contains(err, strerror(ENOENT));

	err[0] = '\0';
	assert_int_equal(conf_parse_file(&conf, t->path, 1, err,
	    sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_memory_equal(&conf, &want, sizeof(conf));
}

static void
test_parse_file_errors(void **state)
{
	struct tmpdir		*t = *state;
	struct mtunneld_conf	 conf;
	char			 err[CONF_ERR_MAX];

	/* missing_ok covers a missing file only, not a directory. */
	conf_defaults(&conf);
	assert_int_equal(conf_parse_file(&conf, t->dir, 1, err,
	    sizeof(err)), -1);
	assert_contains(err, t->dir);

	/* Errors in a file name the file's path and the line. */
	assert_int_equal(write_file(t->path, "port 1\nport x\n", 14), 0);
	assert_int_equal(conf_parse_file(&conf, t->path, 0, err,
	    sizeof(err)), -1);
	assert_contains(err, t->path);
	assert_contains(err, ":2: ");
}

static void
test_parse_file_good(void **state)
{
	struct tmpdir		*t = *state;
	struct mtunneld_conf	 conf;
	char			 err[CONF_ERR_MAX];
	const char		*text = "port 9443\nnode file-node\n";

	assert_int_equal(write_file(t->path, text, strlen(text)), 0);
	conf_defaults(&conf);
	assert_int_equal(conf_parse_file(&conf, t->path, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(conf.port, 9443);
	assert_string_equal(conf.node, "file-node");
}

/* The file reader stops past CONF_FILE_MAX and rejects the file. */
static void
test_parse_file_too_large(void **state)
{
	struct tmpdir		*t = *state;
	struct mtunneld_conf	 conf;
	char			*buf, err[CONF_ERR_MAX];
	const size_t		 big = 4 * CONF_FILE_MAX;

	buf = malloc(big);
	assert_non_null(buf);

	fill_comments(buf, CONF_FILE_MAX);
	assert_int_equal(write_file(t->path, buf, CONF_FILE_MAX), 0);
	conf_defaults(&conf);
	assert_int_equal(conf_parse_file(&conf, t->path, 0, err,
	    sizeof(err)), 0);

	fill_comments(buf, big);
	assert_int_equal(write_file(t->path, buf, big), 0);
	assert_int_equal(conf_parse_file(&conf, t->path, 0, err,
	    sizeof(err)), -1);
	assert_contains(err, t->path);
	assert_contains(err, "larger than 65536 bytes");
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_values),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_bad_value_reasons),
		cmocka_unit_test(test_path_length_limit),
		cmocka_unit_test(test_unknown_keyword),
		cmocka_unit_test(test_duplicate_keyword),
		cmocka_unit_test(test_keyword_without_value),
		cmocka_unit_test(test_comments_and_blank_lines),
		cmocka_unit_test(test_comment_needs_space),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_file_too_large),
		cmocka_unit_test(test_finish_file_prefix),
		cmocka_unit_test(test_finish_flag_overrides_prefix),
		cmocka_unit_test(test_finish_without_prefix),
		cmocka_unit_test(test_finish_keeps_explicit_dirs),
		cmocka_unit_test(test_finish_rejects_bad_prefix),
		cmocka_unit_test(test_finish_node_from_hostname),
#define T(f) cmocka_unit_test_setup_teardown(f, setup_tmpdir, teardown_tmpdir)
		T(test_parse_file_missing),
		T(test_parse_file_errors),
		T(test_parse_file_good),
		T(test_parse_file_too_large),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
