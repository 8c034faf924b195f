/*
 * Unit tests for UPIDs (parent/upid.c): the exact text of a formatted
 * UPID, and parsing with table-driven hostile input.  The process start
 * time read from /proc is checked against a separate parse of the same
 * file, and for a process whose name contains spaces and parentheses.
 */

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "upid.h"

#define EXAMPLE	\
	"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!xmig:"
#define TEST_TIMEOUT_MS	10000	/* upper bound on every wait */

static void
test_format_example(void **state)
{
	char	 out[UPID_MAX];

	assert_int_equal(upid_format(out, sizeof(out), "tgt1", 0x2A1F4,
	    0x01B3C5D7ULL, (time_t)0x66B0F3A2, "qmtunnel", "4321",
	    "ops@pve!xmig"), 0);
	assert_string_equal(out, EXAMPLE);
}

static void
test_format_zero_padding(void **state)
{
	char	 out[UPID_MAX];

	assert_int_equal(upid_format(out, sizeof(out), "n", 1, 0, 0, "t", "",
	    "u@pam"), 0);
	assert_string_equal(out, "UPID:n:00000001:00000000:00000000:t::u@pam:");
}

static void
test_parse_example(void **state)
{
	struct upid	 u;

	assert_int_equal(upid_parse(EXAMPLE, &u), 0);
	assert_string_equal(u.node, "tgt1");
	assert_int_equal(u.pid, 0x2A1F4);
	assert_int_equal(u.pstart, 0x01B3C5D7ULL);
	assert_int_equal(u.starttime, 0x66B0F3A2);
	assert_string_equal(u.type, "qmtunnel");
	assert_string_equal(u.id, "4321");
	assert_string_equal(u.user, "ops@pve!xmig");
}

static void
test_round_trip(void **state)
{
	static const char	*cases[] = {
		EXAMPLE,
		"UPID:a:00000001:00000000:00000000:t::u@pam:",
		"UPID:node-2:7FFFFFFF:FFFFFFFFF:FFFFFFFF:qmigrate:999999999:"
		    "root@pam:",
		"UPID:N0:00001234:123456789:12345678:qmstart:100:x@y!tok:",
	};
	struct upid		 u;
	char			 out[UPID_MAX];
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(upid_parse(cases[i], &u), 0);
		assert_int_equal(upid_format(out, sizeof(out), u.node, u.pid,
		    u.pstart, u.starttime, u.type, u.id, u.user), 0);
		assert_string_equal(out, cases[i]);
	}
}

static void
test_pstart_nine_digits(void **state)
{
	struct upid	 u;
	char		 out[UPID_MAX];

	assert_int_equal(upid_format(out, sizeof(out), "tgt1", 4242,
	    0x1B3C5D7E9ULL, (time_t)0x66B0F3A2, "qmtunnel", "4321",
	    "ops@pve!xmig"), 0);
	assert_string_equal(out, "UPID:tgt1:00001092:1B3C5D7E9:66B0F3A2:"
	    "qmtunnel:4321:ops@pve!xmig:");
	assert_int_equal(upid_parse(out, &u), 0);
	assert_int_equal(u.pstart, 0x1B3C5D7E9ULL);
	assert_int_equal(upid_format(out, sizeof(out), "tgt1", 4242,
	    UPID_PSTART_MAX + 1, (time_t)0x66B0F3A2, "qmtunnel", "4321",
	    "ops@pve!xmig"), -1);
}

static void
test_parse_lower_case(void **state)
{
	struct upid	 u;

	assert_int_equal(upid_parse("UPID:tgt1:0002a1f4:1b3c5d7e9:66b0f3a2:"
	    "qmtunnel:4321:ops@pve!xmig:", &u), 0);
	assert_int_equal(u.pid, 0x2A1F4);
	assert_int_equal(u.pstart, 0x1B3C5D7E9ULL);
	assert_int_equal(u.starttime, 0x66B0F3A2);
	assert_int_equal(upid_parse("UPID:tgt1:0002a1F4:01b3C5d7:66B0f3a2:"
	    "qmtunnel:4321:ops@pve!xmig:", &u), 0);
	assert_int_equal(u.pstart, 0x01B3C5D7ULL);
}

static void
test_parse_empty_id(void **state)
{
	struct upid	 u;

	assert_int_equal(upid_parse("UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:"
	    "vzdump::root@pam:", &u), 0);
	assert_string_equal(u.id, "");
	assert_string_equal(u.type, "vzdump");
}

static void
test_parse_rejects(void **state)
{
	static const char	*bad[] = {
		"",
		"UPID",
		"UPID:",
		"upid:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		" UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:o@pve!x:",
		/* node */
		"UPID::0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:-tgt:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:tgt-:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:t.g:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:t_g:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:t g:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		/* pid */
		"UPID:tgt1:002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:tgt1:00002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:o@pve!x:",
		"UPID:tgt1:0002A1G4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:tgt1:00000000:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:tgt1:80000000:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:tgt1:+002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:tgt1: 002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		/* pstart */
		"UPID:tgt1:0002A1F4:1B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:tgt1:0002A1F4:001B3C5D7E:66B0F3A2:qmtunnel:4321:o@pve!x:",
		"UPID:tgt1:0002A1F4:01B3C5DX:66B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:tgt1:0002A1F4::66B0F3A2:qmtunnel:4321:ops@pve!x:",
		/* starttime */
		"UPID:tgt1:0002A1F4:01B3C5D7:6B0F3A2:qmtunnel:4321:ops@pve!x:",
		"UPID:tgt1:0002A1F4:01B3C5D7:166B0F3A2:qmtunnel:4321:o@pve!x:",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3Z2:qmtunnel:4321:ops@pve!x:",
		"UPID:tgt1:0002A1F4:01B3C5D7:-6B0F3A2:qmtunnel:4321:ops@pve!x:",
		/* type */
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2::4321:ops@pve!x:",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qm tunnel:4321:o@pve!x:",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qm/tunnel:4321:o@pve!x:",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qm\ttunnel:4321:o@pve!x:",
		/* id */
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:43 21:o@pve!x:",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:../1:o@pve!x:",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4\n21:o@pve!x:",
		/* user */
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321::",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:o p@pve:",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:o/p@pve:",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:o\x7f@pve:",
		/* framing */
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:ops@pve!x",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:o@pve!x:x",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:o@pve!x::",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:o@pve:x:",
		"UPID:tgt1:0002A1F4:01B3C5D7:66B0F3A2:qmtunnel:4321:",
	};
	struct upid		 u;
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&u, 0xff, sizeof(u));
		errno = 0;
		if (upid_parse(bad[i], &u) != -1)
			fail_msg("accepted bad UPID \"%s\"", bad[i]);
		assert_int_equal(errno, EINVAL);
		assert_string_equal(u.node, "");
		assert_int_equal(u.pid, 0);
	}
}

/* Build a UPID whose field number "field" (0 = node) is len 'a's. */
static void
upid_with_long_field(char *out, size_t outlen, int field, size_t len)
{
	char	 f[7][300];
	int	 i;

	strcpy(f[0], "tgt1");
	strcpy(f[1], "0002A1F4");
	strcpy(f[2], "01B3C5D7");
	strcpy(f[3], "66B0F3A2");
	strcpy(f[4], "qmtunnel");
	strcpy(f[5], "4321");
	strcpy(f[6], "ops@pve!xmig");
	memset(f[field], 'a', len);
	f[field][len] = '\0';
	snprintf(out, outlen, "UPID");
	for (i = 0; i < 7; i++) {
		strncat(out, ":", outlen - strlen(out) - 1);
		strncat(out, f[i], outlen - strlen(out) - 1);
	}
	strncat(out, ":", outlen - strlen(out) - 1);
}

static void
test_parse_field_lengths(void **state)
{
	static const struct {
		int	 field;
		size_t	 max;	/* longest accepted */
	} cases[] = {
		{ 0, UPID_NODE_MAX - 1 },
		{ 4, UPID_TYPE_MAX - 1 },
		{ 5, UPID_ID_MAX - 1 },
		{ 6, UPID_USER_MAX - 1 },
	};
	struct upid	 u;
	char		 text[1024];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		upid_with_long_field(text, sizeof(text), cases[i].field,
		    cases[i].max);
		assert_true(strlen(text) < UPID_MAX);
		assert_int_equal(upid_parse(text, &u), 0);
		upid_with_long_field(text, sizeof(text), cases[i].field,
		    cases[i].max + 1);
		assert_int_equal(upid_parse(text, &u), -1);
	}
}

static void
test_parse_total_length(void **state)
{
	struct upid	 u;
	char		 text[1024];

	/* Every field at its maximum is longer than UPID_MAX allows. */
	snprintf(text, sizeof(text), "UPID:%.63s:0002A1F4:01B3C5D7:66B0F3A2:"
	    "%.31s:%.63s:%.127s:",
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
	    "ttttttttttttttttttttttttttttttt",
	    "iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii",
	    "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"
	    "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu");
	assert_true(strlen(text) >= UPID_MAX);
	assert_int_equal(upid_parse(text, &u), -1);
}

static void
test_format_rejects(void **state)
{
	char	 out[UPID_MAX], small[20];

#define FMT(node, pid, pstart, st, type, id, user) \
	upid_format(out, sizeof(out), node, pid, pstart, st, type, id, user)
	assert_int_equal(FMT("bad.node", 1, 1, 1, "t", "i", "u"), -1);
	assert_int_equal(FMT("", 1, 1, 1, "t", "i", "u"), -1);
	assert_int_equal(FMT("-n", 1, 1, 1, "t", "i", "u"), -1);
	assert_int_equal(FMT("n", 0, 1, 1, "t", "i", "u"), -1);
	assert_int_equal(FMT("n", -1, 1, 1, "t", "i", "u"), -1);
	assert_int_equal(FMT("n", 1, 1, -1, "t", "i", "u"), -1);
	assert_int_equal(FMT("n", 1, 1, (time_t)0x100000000LL, "t", "i",
	    "u"), -1);
	assert_int_equal(FMT("n", 1, 1, 1, "", "i", "u"), -1);
	assert_int_equal(FMT("n", 1, 1, 1, "a:b", "i", "u"), -1);
	assert_int_equal(FMT("n", 1, 1, 1, "t", "a b", "u"), -1);
	assert_int_equal(FMT("n", 1, 1, 1, "t", "a/b", "u"), -1);
	assert_int_equal(FMT("n", 1, 1, 1, "t", "i", ""), -1);
	assert_int_equal(FMT("n", 1, 1, 1, "t", "i", "u:v"), -1);
	assert_int_equal(FMT("n", 1, 1, 1, "t", "i", "u\n"), -1);
	assert_int_equal(FMT("n", 1, 1, 1, "t", "i", "u"), 0);
#undef FMT
	errno = 0;
	assert_int_equal(upid_format(small, sizeof(small), "n", 1, 1, 1, "t",
	    "i", "u"), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

/*
 * Field 22 of a stat line, parsed independently of upid.c.  This parse
 * assumes a command name without ')', so it suits only this program.
 */
static int
parse_field22(const char *line, unsigned long long *value)
{
	char	 fmt[256];
	int	 i;

	strcpy(fmt, "%*d (%*[^)]) %*s");
	for (i = 4; i < 22; i++)
		strcat(fmt, " %*s");
	strcat(fmt, " %llu");
	return sscanf(line, fmt, value) == 1 ? 0 : -1;
}

/* Read a small text file; safe in a forked child, as it never asserts. */
static int
read_text(const char *path, char *buf, size_t len)
{
	FILE	*fp;
	size_t	 n;

	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, len - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return n > 0 ? 0 : -1;
}

static void
test_pstart_self(void **state)
{
	unsigned long long	 pstart, expect;
	char			 line[4096];

	assert_int_equal(upid_pstart(getpid(), &pstart), 0);
	assert_int_equal(read_text("/proc/self/stat", line, sizeof(line)), 0);
	assert_int_equal(parse_field22(line, &expect), 0);
	assert_int_equal(pstart, expect);
	assert_true(pstart > 0);
}

/* Wait up to TEST_TIMEOUT_MS for fd to become readable. */
static void
wait_readable(int fd)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, TEST_TIMEOUT_MS), 1);
}

/*
 * A child reads its own start time, renames itself to a name with
 * spaces and parentheses, and reports the value.  upid_pstart() of the
 * child must still find it.
 */
static void
test_pstart_tricky_name(void **state)
{
	static const char	 name[] = ") S 1 (x) )";
	unsigned long long	 expect, got;
	char			 line[4096], path[64], comm[64];
	int			 up[2], hold[2], status;
	pid_t			 pid;

	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(hold), 0);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		close(up[0]);
		close(hold[1]);
		if (read_text("/proc/self/stat", line, sizeof(line)) == -1 ||
		    parse_field22(line, &expect) == -1)
			_exit(1);
		if (prctl(PR_SET_NAME, name, 0, 0, 0) == -1)
			_exit(1);
		if (write(up[1], &expect, sizeof(expect)) != sizeof(expect))
			_exit(1);
		/* Stay alive until the parent closes, or the alarm fires. */
		alarm(TEST_TIMEOUT_MS / 1000);
		_exit(read(hold[0], &got, 1) == 0 ? 0 : 1);
	}
	close(up[1]);
	close(hold[0]);
	wait_readable(up[0]);
	assert_int_equal(read(up[0], &expect, sizeof(expect)), sizeof(expect));

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	assert_int_equal(read_text(path, comm, sizeof(comm)), 0);
	assert_string_equal(comm, ") S 1 (x) )\n");
	assert_int_equal(upid_pstart(pid, &got), 0);
	assert_int_equal(got, expect);

	close(hold[1]);
	close(up[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* The child is gone now. */
	errno = 0;
	assert_int_equal(upid_pstart(pid, &got), -1);
	assert_int_equal(errno, ENOENT);
}

static void
make_stat_line(char *out, size_t outlen, const char *comm,
    const char *field22)
{
	char	 tail[256];
	int	 i;

	tail[0] = '\0';
	for (i = 4; i < 22; i++)
		snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail),
		    " %d", i);
	snprintf(out, outlen, "4242 (%s) S%s %s 4096 0 0\n", comm, tail,
	    field22);
}

static void
test_pstart_from_stat_table(void **state)
{
	static const struct {
		const char	*comm;
		const char	*field22;
		int		 ok;
	} cases[] = {
		{ "test_upid", "123456", 1 },
		{ "a b", "123456", 1 },
		{ "a) b", "98765432101", 1 },
		{ ") S 1 2 3 (", "7", 1 },
		{ "((", "0", 1 },
		{ "x", "-5", 0 },
		{ "x", "12a", 0 },
		{ "x", "", 0 },
		{ "x", "99999999999999999999999", 0 },
	};
	unsigned long long	 pstart;
	char			 line[512];
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_stat_line(line, sizeof(line), cases[i].comm,
		    cases[i].field22);
		if (cases[i].ok) {
			assert_int_equal(upid_pstart_from_stat(line, &pstart),
			    0);
			assert_int_equal(pstart,
			    strtoull(cases[i].field22, NULL, 10));
		} else if (upid_pstart_from_stat(line, &pstart) != -1)
			fail_msg("accepted stat line \"%s\"", line);
	}
}

static void
test_pstart_from_stat_short(void **state)
{
	unsigned long long	 pstart;

	assert_int_equal(upid_pstart_from_stat("", &pstart), -1);
	assert_int_equal(upid_pstart_from_stat("4242 (x S 1 2 3", &pstart),
	    -1);
	assert_int_equal(upid_pstart_from_stat("4242 (x) S 1 2 3 4 5",
	    &pstart), -1);
	assert_int_equal(upid_pstart_from_stat("4242 (x)", &pstart), -1);
	assert_int_equal(upid_pstart_from_stat("4242 (x)S 4 5 6 7 8 9 10 11 "
	    "12 13 14 15 16 17 18 19 20 21 22", &pstart), -1);
	/* Exactly 22 fields, no newline. */
	assert_int_equal(upid_pstart_from_stat("4242 (x) S 4 5 6 7 8 9 10 11 "
	    "12 13 14 15 16 17 18 19 20 21 22", &pstart), 0);
	assert_int_equal(pstart, 22);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_example),
		cmocka_unit_test(test_format_zero_padding),
		cmocka_unit_test(test_parse_example),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_pstart_nine_digits),
		cmocka_unit_test(test_parse_lower_case),
		cmocka_unit_test(test_parse_empty_id),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_field_lengths),
		cmocka_unit_test(test_parse_total_length),
		cmocka_unit_test(test_format_rejects),
		cmocka_unit_test(test_pstart_self),
		cmocka_unit_test(test_pstart_tricky_name),
		cmocka_unit_test(test_pstart_from_stat_table),
		cmocka_unit_test(test_pstart_from_stat_short),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
