/*
 * mtunnelctl audit verify [FILE...]
 * mtunnelctl audit show [--vmid N] [--user U] [--since T] [--json]
 *
 * Without FILE, both read the configured audit log and its rotated files
 * "<log>.<N>", oldest first.  The record format and the hash chain are
 * described in common/auditlog.h.
 */

#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>
#include <jansson.h>

#include "auditlog.h"
#include "conf.h"
#include "ctl.h"

struct filelist {
	char	**names;
	size_t	  count;
	int	  from_start;	/* holds the first file the daemon wrote */
};

struct show_filter {
	uint32_t	 vmid;		/* 0: any */
	const char	*user;		/* NULL: any */
	char		 since[40];	/* "": any */
	int		 json;
};

static int
audit_usage(void)
{
	fprintf(stderr, "usage: mtunnelctl audit verify [FILE...]\n"
	    "       mtunnelctl audit show [--vmid N] [--user U] [--since T] "
	    "[--json]\n"
	    "  --vmid N   records about VMID N\n"
	    "  --user U   records of user U (user@realm) or token U "
	    "(user@realm!name)\n"
	    "  --since T  records from T on: an ISO 8601 UTC time such as "
	    "2026-12-04T18:00\n"
	    "             (a prefix is enough) or seconds since the epoch\n"
	    "  --json     print the records as they are stored, one per "
	    "line\n");
	return 2;
}

static void
filelist_free(struct filelist *fl)
{
	size_t	 i;

	for (i = 0; i < fl->count; i++)
		free(fl->names[i]);
	free(fl->names);
}

static int
filelist_add(struct filelist *fl, const char *name)
{
	char	**nn;

	if ((nn = reallocarray(fl->names, fl->count + 1,
	    sizeof(*nn))) == NULL)
		return -1;
	fl->names = nn;
	if ((fl->names[fl->count] = strdup(name)) == NULL)
		return -1;
	fl->count++;
	return 0;
}

/* The configured log's rotated files, oldest first, then the log. */
static int
filelist_default(struct filelist *fl, const char *path)
{
	unsigned int	*nums = NULL;
	size_t		 n = 0, i;
	char		 name[4096 + 16];

	if (audit_rotated_list(path, &nums, &n) == -1) {
		fprintf(stderr, "mtunnelctl: audit: cannot list the directory "
		    "of %s: %s\n", path, strerror(errno));
		return -1;
	}
	fl->from_start = n == 0 || nums[0] == 1;
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s.%u", path, nums[i]);
		if (filelist_add(fl, name) == -1) {
			free(nums);
			return -1;
		}
	}
	free(nums);
	return filelist_add(fl, path);
}

static int
verify_report(const struct audit_verify *v)
{
	fprintf(stderr, "mtunnelctl: audit verify: %s, line %lu: %s\n",
	    v->file, v->line, v->error);
	printf("FAILED at seq %" PRIu64 "\n", v->bad_seq);
	return 1;
}

static int
audit_verify_main(const struct mtunneld_conf *conf, int argc, char **argv)
{
	struct filelist		 fl;
	struct audit_verify	 v;
	char			 head[4096 + 8];
	size_t			 i;
	int			 rv = 1;

	memset(&fl, 0, sizeof(fl));
	if (argc == 0 && filelist_default(&fl, conf->audit_log) == -1)
		goto done;
	for (i = 0; i < (size_t)argc; i++)
		if (filelist_add(&fl, argv[i]) == -1)
			goto done;

	audit_verify_init(&v);
	/* Older rotated files may have been removed, or were not named. */
	v.later_start = argc > 0 || !fl.from_start;
	for (i = 0; i < fl.count; i++)
		if (audit_verify_file(&v, fl.names[i]) == -1) {
			rv = verify_report(&v);
			goto done;
		}
	snprintf(head, sizeof(head), "%s.head", fl.names[fl.count - 1]);
	if ((argc == 0 || access(head, F_OK) == 0) &&
	    audit_verify_head(&v, head) == -1) {
		rv = verify_report(&v);
		goto done;
	}
	printf("OK: %lu records, seq %" PRIu64 " to %" PRIu64 " in %zu "
	    "files\n", v.records, v.first_seq, v.seq, fl.count);
	if (v.first_seq > 1)
		printf("note: the chain starts at seq %" PRIu64 "; the files "
		    "before it were not checked\n", v.first_seq);
	rv = 0;
done:
	filelist_free(&fl);
	return rv;
}

/* --since: an ISO 8601 UTC prefix, or seconds since the epoch. */
static int
parse_since(const char *arg, char *out, size_t outlen)
{
	const char	*p;
	time_t		 t;
	struct tm	 tm;
	char		*end;
	long long	 v;

	for (p = arg; *p >= '0' && *p <= '9'; p++)
		;
	if (*p == '\0' && p != arg) {
		errno = 0;
		v = strtoll(arg, &end, 10);
		if (errno != 0)
			return -1;
		t = (time_t)v;
		if (gmtime_r(&t, &tm) == NULL)
			return -1;
		strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
		return 0;
	}
	if (strlen(arg) < 4 || strlen(arg) >= outlen ||
	    strspn(arg, "0123456789-T:.Z") != strlen(arg) ||
	    (strlen(arg) > 4 && arg[4] != '-'))
		return -1;
	strlcpy(out, arg, outlen);
	/* "...Z" would sort after every record of that second. */
	if (out[strlen(out) - 1] == 'Z')
		out[strlen(out) - 1] = '\0';
	return 0;
}

/* The user of a record matches U as a token, or as the token's user. */
static int
user_matches(const char *user, const char *want)
{
	size_t	 n = strlen(want);

	if (user == NULL)
		return 0;
	return strcmp(user, want) == 0 ||
	    (strncmp(user, want, n) == 0 && user[n] == '!');
}

static int
show_wanted(json_t *rec, const struct show_filter *f)
{
	const char	*t;

	if (f->vmid != 0 && (json_integer_value(json_object_get(rec,
	    "vmid")) != (json_int_t)f->vmid))
		return 0;
	if (f->user != NULL && !user_matches(json_string_value(
	    json_object_get(rec, "user")), f->user))
		return 0;
	if (f->since[0] != '\0' && ((t = json_string_value(json_object_get(
	    rec, "time"))) == NULL || strcmp(t, f->since) < 0))
		return 0;
	return 1;
}

static void
print_value(const char *key, json_t *v)
{
	char	*text;

	if (json_is_string(v)) {
		printf(" %s=%s", key, json_string_value(v));
		return;
	}
	if ((text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL)
		printf(" %s=%s", key, text);
	free(text);
}

/* One line for people: time, seq, event, who, then the fields. */
static void
show_human(json_t *rec)
{
	static const char *const skip[] = { "seq", "time", "prev", "event",
	    "user", "vmid", "process", "remote" };
	const char	*key;
	json_t		*v;
	size_t		 i;

	printf("%s #%" JSON_INTEGER_FORMAT " %s",
	    json_string_value(json_object_get(rec, "time")),
	    json_integer_value(json_object_get(rec, "seq")),
	    json_string_value(json_object_get(rec, "event")));
	for (i = 4; i < sizeof(skip) / sizeof(skip[0]); i++)
		if ((v = json_object_get(rec, skip[i])) != NULL &&
		    !json_is_null(v))
			print_value(skip[i], v);
	json_object_foreach(rec, key, v) {
		for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
			if (strcmp(key, skip[i]) == 0)
				break;
		if (i == sizeof(skip) / sizeof(skip[0]))
			print_value(key, v);
	}
	printf("\n");
}

static void
show_file(const char *path, const struct show_filter *f)
{
	FILE		*fp;
	char		*line = NULL;
	size_t		 cap = 0;
	ssize_t		 n;
	unsigned long	 lineno = 0;
	json_t		*rec;

	if ((fp = fopen(path, "re")) == NULL) {
		if (errno != ENOENT)
			fprintf(stderr, "mtunnelctl: audit show: %s: %s\n",
			    path, strerror(errno));
		return;
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		rec = json_loadb(line, (size_t)n, 0, NULL);
		if (!json_is_object(rec)) {
			fprintf(stderr, "mtunnelctl: audit show: %s, line %lu: "
			    "not a record; run 'mtunnelctl audit verify'\n",
			    path, lineno);
		} else if (show_wanted(rec, f)) {
			if (f->json)
				printf("%s\n", line);
			else
				show_human(rec);
		}
		json_decref(rec);
	}
	free(line);
	fclose(fp);
}

static int
show_options(int argc, char **argv, struct show_filter *f)
{
	char		*end;
	unsigned long	 v;
	int		 i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			f->json = 1;
			continue;
		}
		if (i + 1 >= argc)
			return -1;
		if (strcmp(argv[i], "--vmid") == 0) {
			errno = 0;
			v = strtoul(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || v == 0 ||
			    v > UINT32_MAX) {
				fprintf(stderr, "mtunnelctl: audit show: "
				    "invalid --vmid '%s'\n", argv[i]);
				return -1;
			}
			f->vmid = (uint32_t)v;
		} else if (strcmp(argv[i], "--user") == 0)
			f->user = argv[++i];
		else if (strcmp(argv[i], "--since") == 0) {
			if (parse_since(argv[++i], f->since,
			    sizeof(f->since)) == -1) {
				fprintf(stderr, "mtunnelctl: audit show: "
				    "invalid --since '%s'\n", argv[i]);
				return -1;
			}
		} else
			return -1;
	}
	return 0;
}

static int
audit_show_main(const struct mtunneld_conf *conf, int argc, char **argv)
{
	struct show_filter	 f;
	struct filelist		 fl;
	size_t			 i;

	memset(&f, 0, sizeof(f));
	if (show_options(argc, argv, &f) == -1)
		return audit_usage();
	memset(&fl, 0, sizeof(fl));
	if (filelist_default(&fl, conf->audit_log) == -1)
		return 1;
	for (i = 0; i < fl.count; i++)
		show_file(fl.names[i], &f);
	filelist_free(&fl);
	return fflush(stdout) == EOF ? 1 : 0;
}

int
ctl_audit_main(const struct mtunneld_conf *conf, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return audit_verify_main(conf, argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return audit_show_main(conf, argc - 2, argv + 2);
	return audit_usage();
}
