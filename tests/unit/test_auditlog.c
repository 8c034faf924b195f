/*
 * Unit tests for the audit log (common/auditlog.c).  The real writer
 * writes records into a temporary directory, and an independent SHA-256
 * checks the chain.  The verifier must name every tampering case by seq
 * and reject hostile lines.  Rotation, reopening and audit_emit() over a
 * real socketpair are covered as well.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

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

#include <bsd/string.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "auditlog.h"
#include "imsg.h"
#include "log.h"
#include "mtunneld.h"

#define NRECORDS	6
#define MAXLINES	64

struct fixture {
	char	 dir[64];
	char	 log[128];
	char	 head[136];
};

static int
setup(void **state)
{
	struct fixture	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	strlcpy(f->dir, "/tmp/test_auditlog.XXXXXX", sizeof(f->dir));
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->log, sizeof(f->log), "%s/audit.log", f->dir);
	snprintf(f->head, sizeof(f->head), "%s.head", f->log);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	char		 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
append_records(const char *path, off_t rotate, int n)
{
	struct audit_writer	 w;
	char			 err[256];
	json_t			*rec;
	int			 i;

	assert_int_equal(audit_writer_open(&w, path, rotate, err,
	    sizeof(err)), 0);
	for (i = 0; i < n; i++) {
		rec = json_pack("{s:s, s:s, s:i}", "event", "volume-freed",
		    "volid", "local:100/vm-100-disk-0.raw", "i", i);
		assert_non_null(rec);
		assert_int_equal(audit_writer_append(&w, rec, err,
		    sizeof(err)), 0);
		json_decref(rec);
	}
	audit_writer_close(&w);
}

/* Split a file into lines (newline kept); returns the count. */
static int
read_lines(const char *path, char **lines)
{
	FILE	*fp;
	char	*line = NULL;
	size_t	 cap = 0;
	int	 n = 0;

	assert_non_null(fp = fopen(path, "r"));
	while (n < MAXLINES && getline(&line, &cap, fp) != -1)
		lines[n++] = strdup(line);
	free(line);
	fclose(fp);
	return n;
}

static void
write_lines(const char *path, char **lines, int n)
{
	FILE	*fp;
	int	 i;

	assert_non_null(fp = fopen(path, "w"));
	for (i = 0; i < n; i++)
		fputs(lines[i], fp);
	fclose(fp);
}

static void
free_lines(char **lines, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		free(lines[i]);
}

/* Verify the log and its head file as `mtunnelctl audit verify` does. */
static uint64_t
verify_log(struct fixture *f, struct audit_verify *v)
{
	audit_verify_init(v);
	if (audit_verify_file(v, f->log) == -1 ||
	    audit_verify_head(v, f->head) == -1)
		return v->bad_seq;
	return 0;
}

static void
sha256_hex(const char *buf, size_t len, char *hex)
{
	unsigned char	 md[32];
	unsigned int	 mdlen, i;

	assert_int_equal(EVP_Digest(buf, len, md, &mdlen, EVP_sha256(),
	    NULL), 1);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static const char *
field_text(const char *line, const char *key, char *buf, size_t len)
{
	json_t	*root;

	assert_non_null(root = json_loads(line, 0, NULL));
	strlcpy(buf, json_string_value(json_object_get(root, key)), len);
	json_decref(root);
	return buf;
}

static void
test_chain_intact(void **state)
{
	struct fixture		*f = *state;
	struct audit_verify	 v;
	char			*lines[MAXLINES], want[65], got[80];
	int			 n, i;

	append_records(f->log, 0, NRECORDS);
	assert_int_equal(verify_log(f, &v), 0);
	assert_int_equal(v.records, NRECORDS);
	assert_int_equal(v.first_seq, 1);
	assert_int_equal(v.seq, NRECORDS);

	n = read_lines(f->log, lines);
	assert_int_equal(n, NRECORDS);
	assert_string_equal(field_text(lines[0], "prev", got, sizeof(got)),
	    "0000000000000000000000000000000000000000000000000000000000000000");
	for (i = 1; i < n; i++) {
		sha256_hex(lines[i - 1], strlen(lines[i - 1]) - 1, want);
		assert_string_equal(field_text(lines[i], "prev", got,
		    sizeof(got)), want);
	}
	free_lines(lines, n);
}

static void
test_record_key_order(void **state)
{
	struct fixture	*f = *state;
	char		*lines[MAXLINES];
	int		 n;

	append_records(f->log, 0, 1);
	n = read_lines(f->log, lines);
	assert_int_equal(n, 1);
	assert_memory_equal(lines[0], "{\"seq\":1,\"time\":\"", 17);
	assert_non_null(strstr(lines[0], "Z\",\"prev\":\"0000"));
	assert_non_null(strstr(lines[0], ",\"event\":\"volume-freed\""));
	free_lines(lines, n);
}

/* A record may not choose its own seq, time or prev. */
static void
test_record_cannot_set_seq(void **state)
{
	struct fixture		*f = *state;
	struct audit_writer	 w;
	struct audit_verify	 v;
	char			 err[256], *lines[MAXLINES];
	json_t			*rec;
	int			 n;

	assert_int_equal(audit_writer_open(&w, f->log, 0, err, sizeof(err)),
	    0);
	rec = json_pack("{s:s, s:i, s:s, s:s}", "event", "x", "seq", 999,
	    "time", "1970", "prev", "ff");
	assert_int_equal(audit_writer_append(&w, rec, err, sizeof(err)), 0);
	json_decref(rec);
	audit_writer_close(&w);
	n = read_lines(f->log, lines);
	assert_memory_equal(lines[0], "{\"seq\":1,", 9);
	assert_null(strstr(lines[0], "999"));
	assert_null(strstr(lines[0], "\"1970\""));
	free_lines(lines, n);
	assert_int_equal(verify_log(f, &v), 0);
}

static void
test_changed_byte(void **state)
{
	struct fixture		*f = *state;
	struct audit_verify	 v;
	char			*lines[MAXLINES], *p;
	int			 n, k;

	append_records(f->log, 0, NRECORDS);
	for (k = 0; k < NRECORDS; k++) {
		n = read_lines(f->log, lines);
		/* "vm-100" becomes "vm-101" in record k + 1. */
		assert_non_null(p = strstr(lines[k], "vm-100"));
		p[5] = '1';
		write_lines(f->log, lines, n);
		assert_int_equal(verify_log(f, &v), k + 1);
		assert_non_null(strstr(v.error, "was changed"));
		p[5] = '0';
		write_lines(f->log, lines, n);
		assert_int_equal(verify_log(f, &v), 0);
		free_lines(lines, n);
	}
}

static void
test_deleted_line(void **state)
{
	struct fixture		*f = *state;
	struct audit_verify	 v;
	char			*lines[MAXLINES], *kept[MAXLINES];
	int			 n, k, i, m;

	append_records(f->log, 0, NRECORDS);
	n = read_lines(f->log, lines);
	for (k = 0; k < NRECORDS; k++) {
		for (i = 0, m = 0; i < n; i++)
			if (i != k)
				kept[m++] = lines[i];
		write_lines(f->log, kept, m);
		assert_int_equal(verify_log(f, &v), k + 1);
	}
	write_lines(f->log, lines, n);
	assert_int_equal(verify_log(f, &v), 0);
	free_lines(lines, n);
}

static void
test_swapped_pair(void **state)
{
	struct fixture		*f = *state;
	struct audit_verify	 v;
	char			*lines[MAXLINES], *tmp;
	int			 n, k;

	append_records(f->log, 0, NRECORDS);
	n = read_lines(f->log, lines);
	for (k = 0; k + 1 < NRECORDS; k++) {
		tmp = lines[k];
		lines[k] = lines[k + 1];
		lines[k + 1] = tmp;
		write_lines(f->log, lines, n);
		assert_int_equal(verify_log(f, &v), k + 1);
		assert_non_null(strstr(v.error, "missing or out of order"));
		lines[k + 1] = lines[k];
		lines[k] = tmp;
	}
	free_lines(lines, n);
}

static void
test_truncated_tail(void **state)
{
	struct fixture		*f = *state;
	struct audit_verify	 v;
	char			*lines[MAXLINES];
	int			 n;

	append_records(f->log, 0, NRECORDS);
	n = read_lines(f->log, lines);

	/* Cut inside the last record. */
	lines[n - 1][strlen(lines[n - 1]) / 2] = '\0';
	write_lines(f->log, lines, n);
	assert_int_equal(verify_log(f, &v), NRECORDS);
	assert_non_null(strstr(v.error, "truncated"));

	/* The last record removed whole: only the head file shows it. */
	write_lines(f->log, lines, n - 1);
	assert_int_equal(verify_log(f, &v), NRECORDS);
	assert_non_null(strstr(v.error, "truncated"));

	write_lines(f->log, lines, n - 2);
	assert_int_equal(verify_log(f, &v), NRECORDS - 1);
	free_lines(lines, n);
}

static void
test_hostile_lines(void **state)
{
	static const char *const bad[] = {
		"hello\n",
		"[1,2,3]\n",
		"{\"seq\":3}\n",
		"{\"seq\":\"3\",\"prev\":\"00\"}\n",
		"{\"seq\":3,\"seq\":3,\"prev\":\"00\"}\n",
		"\n",
	};
	struct fixture		*f = *state;
	struct audit_verify	 v;
	char			*lines[MAXLINES], *huge, nul[32];
	size_t			 i, hugelen = AUDIT_LINE_MAX + 100;
	int			 n;
	FILE			*fp;

	append_records(f->log, 0, NRECORDS);
	n = read_lines(f->log, lines);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		free(lines[2]);
		lines[2] = strdup(bad[i]);
		write_lines(f->log, lines, n);
		assert_int_equal(verify_log(f, &v), 3);
		assert_non_null(strstr(v.error, "seq 3"));
	}

	assert_non_null(huge = malloc(hugelen + 1));
	memset(huge, 'x', hugelen - 1);
	huge[hugelen - 1] = '\n';
	huge[hugelen] = '\0';
	free(lines[2]);
	lines[2] = huge;
	write_lines(f->log, lines, n);
	assert_int_equal(verify_log(f, &v), 3);
	assert_non_null(strstr(v.error, "longer"));

	/* A NUL byte inside an otherwise valid line. */
	assert_non_null(fp = fopen(f->log, "w"));
	fputs(lines[0], fp);
	fputs(lines[1], fp);
	memcpy(nul, "{\"seq\":3,\0\"x\":1}\n", 18);
	fwrite(nul, 1, 18, fp);
	fclose(fp);
	assert_int_equal(verify_log(f, &v), 3);
	assert_non_null(strstr(v.error, "NUL"));
	free_lines(lines, n);
}

static void
test_rotation_links_files(void **state)
{
	struct fixture		*f = *state;
	struct audit_verify	 v;
	unsigned int		*nums = NULL;
	size_t			 count = 0, i;
	char			 name[160], *lines[MAXLINES], *first[MAXLINES];
	char			 want[65], got[80];
	int			 n, m;

	append_records(f->log, 400, 10);
	assert_int_equal(audit_rotated_list(f->log, &nums, &count), 0);
	assert_true(count >= 2);
	for (i = 0; i < count; i++)
		assert_int_equal(nums[i], i + 1);

	audit_verify_init(&v);
	for (i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "%s.%u", f->log, nums[i]);
		assert_int_equal(audit_verify_file(&v, name), 0);
	}
	assert_int_equal(audit_verify_file(&v, f->log), 0);
	assert_int_equal(audit_verify_head(&v, f->head), 0);
	assert_int_equal(v.first_seq, 1);
	assert_int_equal(v.seq, 10 + count);	/* one rotated record each */

	/* The new file's first record links the old file's last one. */
	snprintf(name, sizeof(name), "%s.%u", f->log, nums[count - 1]);
	n = read_lines(name, lines);
	m = read_lines(f->log, first);
	sha256_hex(lines[n - 1], strlen(lines[n - 1]) - 1, want);
	assert_string_equal(field_text(first[0], "prev", got, sizeof(got)),
	    want);
	assert_string_equal(field_text(first[0], "event", got, sizeof(got)),
	    "audit-log-rotated");
	free_lines(lines, n);
	free_lines(first, m);
	free(nums);
}

static void
test_reopen_continues(void **state)
{
	struct fixture		*f = *state;
	struct audit_verify	 v;

	append_records(f->log, 0, 3);
	append_records(f->log, 0, 3);
	assert_int_equal(verify_log(f, &v), 0);
	assert_int_equal(v.seq, 6);
}

/* A record cut short by a crash is moved aside untouched. */
static void
test_reopen_after_partial(void **state)
{
	struct fixture		*f = *state;
	struct audit_verify	 v;
	char			 rotated[160];
	int			 fd;

	append_records(f->log, 0, 3);
	assert_true((fd = open(f->log, O_WRONLY | O_APPEND)) != -1);
	assert_int_equal(write(fd, "{\"seq\":4,\"ti", 12), 12);
	close(fd);
	append_records(f->log, 0, 2);

	snprintf(rotated, sizeof(rotated), "%s.1", f->log);
	audit_verify_init(&v);
	assert_int_equal(audit_verify_file(&v, rotated), -1);
	assert_int_equal(v.bad_seq, 4);

	audit_verify_init(&v);
	v.later_start = 1;
	assert_int_equal(audit_verify_file(&v, f->log), 0);
	assert_int_equal(audit_verify_head(&v, f->head), 0);
	assert_int_equal(v.first_seq, 4);	/* the rotated record */
	assert_int_equal(v.seq, 6);
}

/* Records removed while no writer ran are reported by the next one. */
static void
test_reopen_after_truncation(void **state)
{
	struct fixture		*f = *state;
	struct audit_verify	 v;
	char			*lines[MAXLINES];
	int			 n;

	append_records(f->log, 0, NRECORDS);
	n = read_lines(f->log, lines);
	write_lines(f->log, lines, n - 2);
	append_records(f->log, 0, 1);
	assert_int_equal(verify_log(f, &v), NRECORDS - 1);
	assert_non_null(strstr(v.error, "when the daemon started"));
	free_lines(lines, n);
}

static void
test_reopen_without_head(void **state)
{
	struct fixture		*f = *state;
	struct audit_verify	 v;

	append_records(f->log, 0, 3);
	assert_int_equal(unlink(f->head), 0);
	append_records(f->log, 0, 1);
	assert_int_equal(verify_log(f, &v), 4);
	assert_non_null(strstr(v.error, "head file was missing"));
}

static void
test_unreadable_last_record(void **state)
{
	struct fixture		*f = *state;
	struct audit_writer	 w;
	char			 err[256];
	int			 fd;

	append_records(f->log, 0, 2);
	assert_true((fd = open(f->log, O_WRONLY | O_APPEND)) != -1);
	assert_int_equal(write(fd, "garbage\n", 8), 8);
	close(fd);
	assert_int_equal(audit_writer_open(&w, f->log, 0, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "not readable"));
}

static void
test_emit_over_channel(void **state)
{
	struct imsgbuf		 child, parent;
	struct audit_event	 ev;
	struct imsg		 imsg;
	json_t			*fields;
	int			 sp[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	imsg_init(&child, sp[0]);
	imsg_init(&parent, sp[1]);
	audit_to_channel(&child);
	audit_emit("volume-freed", 123, json_pack("{s:s}", "volid", "x:1"));
	audit_to_channel(NULL);

	assert_true(imsg_read(&parent) > 0);
	assert_int_equal(imsg_get(&parent, &imsg), 1);
	assert_int_equal(imsg.hdr.type, IMSG_AUDIT_EVENT);
	assert_true(imsg_datalen(&imsg) > sizeof(ev));
	memcpy(&ev, imsg.data, sizeof(ev));
	assert_int_equal(ev.vmid, 123);
	assert_string_equal(ev.event, "volume-freed");
	fields = json_loadb((char *)imsg.data + sizeof(ev),
	    imsg_datalen(&imsg) - sizeof(ev), 0, NULL);
	assert_non_null(fields);
	assert_string_equal(json_string_value(json_object_get(fields,
	    "volid")), "x:1");
	json_decref(fields);
	imsg_free(&imsg);
	imsg_clear(&child);
	imsg_clear(&parent);
	close(sp[0]);
	close(sp[1]);
}

static const char	*local_event;
static uint32_t		 local_vmid;
static json_t		*local_fields;

static void
local_hook(const char *event, uint32_t vmid, json_t *fields)
{
	local_event = event;
	local_vmid = vmid;
	local_fields = fields;
}

static void
test_emit_local_steals(void **state)
{
	json_t	*fields;

	(void)state;
	audit_set_local(local_hook);
	fields = json_pack("{s:i}", "n", 1);
	audit_emit("qemu-start", 200, fields);
	assert_string_equal(local_event, "qemu-start");
	assert_int_equal(local_vmid, 200);
	assert_ptr_equal(local_fields, fields);
	json_decref(local_fields);

	/* A non-object is dropped before the hook is called. */
	local_event = NULL;
	audit_emit("qemu-stop", 200, json_integer(5));
	assert_null(local_event);
	audit_set_local(NULL);
}

static void
test_reserved_keys(void **state)
{
	(void)state;
	assert_true(audit_reserved_key("seq"));
	assert_true(audit_reserved_key("prev"));
	assert_true(audit_reserved_key("user"));
	assert_true(audit_reserved_key("remote"));
	assert_false(audit_reserved_key("volid"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_chain_intact),
		T(test_record_key_order),
		T(test_record_cannot_set_seq),
		T(test_changed_byte),
		T(test_deleted_line),
		T(test_swapped_pair),
		T(test_truncated_tail),
		T(test_hostile_lines),
		T(test_rotation_links_files),
		T(test_reopen_continues),
		T(test_reopen_after_partial),
		T(test_reopen_after_truncation),
		T(test_reopen_without_head),
		T(test_unreadable_last_record),
		T(test_emit_over_channel),
		T(test_emit_local_steals),
		T(test_reserved_keys),
#undef T
	};

	log_init(1, 0, "test_auditlog");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
