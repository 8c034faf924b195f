/*
 * The daemon config file: see conf.h.  Every error names the file, the
 * line, the keyword and what would be accepted.
 */

#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "conf.h"
#include "storagecfg.h"

enum conf_type {
	CONF_T_ADDR,
	CONF_T_PORT,
	CONF_T_NODE,
	CONF_T_USER,
	CONF_T_INT,
	CONF_T_PATH,
	CONF_T_BWLIMIT,
};

struct conf_keyword {
	const char	*name;
	enum conf_type	 type;
	size_t		 offset;
	size_t		 size;		/* of a string field */
	int		 min, max;	/* of an integer */
};

#define STR(kw, t, f) { kw, t, offsetof(struct mtunneld_conf, f), \
	sizeof(((struct mtunneld_conf *)0)->f), 0, 0 }
#define INT(kw, f, lo, hi) { kw, CONF_T_INT, \
	offsetof(struct mtunneld_conf, f), 0, lo, hi }

static const struct conf_keyword conf_keywords[] = {
	STR("listen", CONF_T_ADDR, listen),
	{ "port", CONF_T_PORT, offsetof(struct mtunneld_conf, port), 0,
	    0, 65535 },
	STR("node", CONF_T_NODE, node),
	STR("user", CONF_T_USER, user),
	STR("tunnel-user", CONF_T_USER, tunnel_user),
	STR("qemu-user", CONF_T_USER, qemu_user),
	INT("prefork", prefork, 1, CONF_PREFORK_MAX),
	INT("accept-timeout", accept_timeout, 1, 86400),
	INT("ticket-lifetime", ticket_lifetime, 1, 3600),
	STR("prefix", CONF_T_PATH, prefix),
	STR("config-dir", CONF_T_PATH, confdir),
	STR("state-dir", CONF_T_PATH, statedir),
	STR("run-dir", CONF_T_PATH, rundir),
	STR("empty-dir", CONF_T_PATH, emptydir),
	STR("audit-log", CONF_T_PATH, audit_log),
	STR("tls-cert", CONF_T_PATH, tls_cert),
	STR("tls-key", CONF_T_PATH, tls_key),
	STR("qemu-binary", CONF_T_PATH, qemu),
	STR("qemu-img-binary", CONF_T_PATH, qemu_img),
	STR("bwlimit", CONF_T_BWLIMIT, bwlimit),
};

#define CONF_NKEYWORDS	(sizeof(conf_keywords) / sizeof(conf_keywords[0]))

void
conf_defaults(struct mtunneld_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	strlcpy(conf->listen, "*", sizeof(conf->listen));
	conf->port = 8006;
	strlcpy(conf->user, "_mtunneld", sizeof(conf->user));
	strlcpy(conf->tunnel_user, "_mtunneld-tunnel",
	    sizeof(conf->tunnel_user));
	strlcpy(conf->qemu_user, "_mtunneld-qemu", sizeof(conf->qemu_user));
	conf->prefork = 2;
	conf->accept_timeout = 300;
	conf->ticket_lifetime = 40;
	strlcpy(conf->qemu, "/usr/bin/qemu-system-x86_64",
	    sizeof(conf->qemu));
	strlcpy(conf->qemu_img, "/usr/bin/qemu-img", sizeof(conf->qemu_img));
}

static const char *
conf_check_addr(const char *v)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (strcmp(v, "*") == 0 || inet_pton(AF_INET, v, &a4) == 1 ||
	    inet_pton(AF_INET6, v, &a6) == 1)
		return NULL;
	return "expected an IPv4 or IPv6 address, or * for all";
}

/* A host name label, as Proxmox VE's pve-node format. */
static const char *
conf_check_node(const char *v)
{
	size_t	 i, len = strlen(v);

	if (len == 0 || len > CONF_NODE_MAX)
		return "expected a host name of 1 to 63 characters";
	for (i = 0; i < len; i++) {
		if (isalnum((unsigned char)v[i]))
			continue;
		if (v[i] == '-' && i > 0 && i < len - 1)
			continue;
		return "expected letters, digits and inner '-' only";
	}
	return NULL;
}

static const char *
conf_check_user(const char *v)
{
	size_t	 i, len = strlen(v);

	if (len == 0 || len > CONF_NAME_MAX)
		return "expected a user name of 1 to 32 characters";
	if (!(islower((unsigned char)v[0]) || v[0] == '_'))
		return "expected a name starting with a-z or '_'";
	for (i = 1; i < len; i++)
		if (!(islower((unsigned char)v[i]) ||
		    isdigit((unsigned char)v[i]) || v[i] == '_' ||
		    v[i] == '-'))
			return "expected a-z, 0-9, '_' and '-' only";
	return NULL;
}

static const char *
conf_check_path(const char *v)
{
	if (v[0] != '/')
		return "expected an absolute path";
	if (strlen(v) > CONF_PATH_MAX)
		return "path longer than 200 characters";
	if (strstr(v, "/../") != NULL ||
	    (strlen(v) >= 3 && strcmp(v + strlen(v) - 3, "/..") == 0))
		return "'..' is not allowed in a path";
	return NULL;
}

/* A bandwidth limit property string, as datacenter.cfg's bwlimit. */
static const char *
conf_check_bwlimit(const char *v)
{
	static char	 why[160];
	struct bwlimit	 bw;

	if (parse_bwlimit(v, &bw, why, sizeof(why)) == -1)
		return why;
	return NULL;
}

static const char *
conf_parse_int(const char *v, long lo, long hi, long *out)
{
	static char	 why[64];
	char		*end;
	long		 n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (v[0] == '\0' || *end != '\0' || errno != 0 || n < lo || n > hi) {
		snprintf(why, sizeof(why), "expected a number from %ld to %ld",
		    lo, hi);
		return why;
	}
	*out = n;
	return NULL;
}

static const char *
conf_set(struct mtunneld_conf *conf, const struct conf_keyword *kw,
    const char *value)
{
	char		*field = (char *)conf + kw->offset;
	const char	*why = NULL;
	long		 n;

	switch (kw->type) {
	case CONF_T_ADDR:
		why = conf_check_addr(value);
		break;
	case CONF_T_NODE:
		why = conf_check_node(value);
		break;
	case CONF_T_USER:
		why = conf_check_user(value);
		break;
	case CONF_T_PATH:
		why = conf_check_path(value);
		break;
	case CONF_T_BWLIMIT:
		why = conf_check_bwlimit(value);
		break;
	case CONF_T_PORT:
		if ((why = conf_parse_int(value, kw->min, kw->max, &n)) == NULL)
			conf->port = (uint16_t)n;
		return why;
	case CONF_T_INT:
		if ((why = conf_parse_int(value, kw->min, kw->max, &n)) == NULL)
			*(int *)(void *)field = (int)n;
		return why;
	}
	if (why == NULL && strlcpy(field, value, kw->size) >= kw->size)
		why = "value too long";
	return why;
}

static const struct conf_keyword *
conf_lookup(const char *name)
{
	size_t	 i;

	for (i = 0; i < CONF_NKEYWORDS; i++)
		if (strcmp(conf_keywords[i].name, name) == 0)
			return &conf_keywords[i];
	return NULL;
}

/* Cut a trailing comment ('#' after white space) and trailing space. */
static void
conf_trim(char *line)
{
	char	*p;
	size_t	 len;

	for (p = line; *p != '\0'; p++)
		if (*p == '#' && (p == line || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	len = strlen(line);
	while (len > 0 && isspace((unsigned char)line[len - 1]))
		line[--len] = '\0';
}

const struct conf_bridge *
conf_bridge_find(const struct mtunneld_conf *conf, const char *name)
{
	size_t	 i;

	for (i = 0; i < conf->nbridges; i++)
		if (strcmp(conf->bridges[i].name, name) == 0)
			return &conf->bridges[i];
	return NULL;
}

/* "bridge NAME tap|user|none", once per bridge name. */
static int
conf_add_bridge(struct mtunneld_conf *conf, char *value, char *why,
    size_t whylen)
{
	static const char *const backends[] = { "tap", "user", "none" };
	struct conf_bridge	*br;
	char			*name = value, *kind;
	size_t			 i, n = strcspn(value, " \t");

	kind = value + n;
	if (*kind != '\0')
		*kind++ = '\0';
	kind += strspn(kind, " \t");
	for (i = 0; i < 3 && strcmp(kind, backends[i]) != 0; i++)
		;
	if (n == 0 || i == 3) {
		snprintf(why, whylen, "'bridge' needs a bridge name and tap, "
		    "user or none");
		return -1;
	}
	if (n >= sizeof(br->name) || strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n) {
		snprintf(why, whylen, "invalid bridge name '%s'", name);
		return -1;
	}
	if (conf_bridge_find(conf, name) != NULL) {
		snprintf(why, whylen, "bridge '%s' is already set; remove one "
		    "of the lines", name);
		return -1;
	}
	if (conf->nbridges == CONF_BRIDGES_MAX) {
		snprintf(why, whylen, "more than %d 'bridge' lines",
		    CONF_BRIDGES_MAX);
		return -1;
	}
	br = &conf->bridges[conf->nbridges++];
	strlcpy(br->name, name, sizeof(br->name));
	br->backend = (enum conf_bridge_backend)i;
	return 0;
}

static int
conf_parse_line(struct mtunneld_conf *conf, char *line, int lineno,
    int *seen, char *why, size_t whylen)
{
	const struct conf_keyword	*kw;
	char				*key, *value;
	const char			*err;

	conf_trim(line);
	key = line + strspn(line, " \t");
	if (*key == '\0')
		return 0;

	value = key + strcspn(key, " \t");
	if (*value != '\0')
		*value++ = '\0';
	value += strspn(value, " \t");

	if (strcmp(key, "bridge") == 0)
		return conf_add_bridge(conf, value, why, whylen);
	if ((kw = conf_lookup(key)) == NULL) {
		snprintf(why, whylen, "unknown keyword '%s'; see "
		    "mtunneld.conf(5) for the keywords", key);
		return -1;
	}
	if (*value == '\0') {
		snprintf(why, whylen, "'%s' needs a value", key);
		return -1;
	}
	if (seen[kw - conf_keywords] != 0) {
		snprintf(why, whylen, "'%s' is already set on line %d; "
		    "remove one of them", key, seen[kw - conf_keywords]);
		return -1;
	}
	if ((err = conf_set(conf, kw, value)) != NULL) {
		snprintf(why, whylen, "invalid %s '%s': %s", key, value, err);
		return -1;
	}
	seen[kw - conf_keywords] = lineno;
	return 0;
}

/*
 * Parse a config held in memory.  On error, returns -1 and writes
 * "NAME:LINE: what is wrong" to err; conf may then be partly changed.
 */
int
conf_parse_buf(struct mtunneld_conf *conf, const char *name,
    const char *buf, size_t len, char *err, size_t errlen)
{
	char	 line[CONF_LINE_MAX + 1], why[CONF_ERR_MAX];
	int	 seen[CONF_NKEYWORDS] = { 0 };
	size_t	 off = 0, n;
	int	 lineno = 0;

	if (len > CONF_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", name,
		    CONF_FILE_MAX);
		return -1;
	}
	while (off < len) {
		lineno++;
		for (n = 0; off + n < len && buf[off + n] != '\n'; n++)
			;
		if (n > CONF_LINE_MAX) {
			snprintf(err, errlen, "%s:%d: line longer than %d "
			    "characters", name, lineno, CONF_LINE_MAX);
			return -1;
		}
		if (memchr(buf + off, '\0', n) != NULL) {
			snprintf(err, errlen, "%s:%d: NUL byte in line",
			    name, lineno);
			return -1;
		}
		memcpy(line, buf + off, n);
		line[n] = '\0';
		off += n + 1;

		if (conf_parse_line(conf, line, lineno, seen, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", name, lineno, why);
			return -1;
		}
	}
	return 0;
}

/*
 * Read and parse a config file.  A missing file is an error unless
 * missing_ok is set (the default path, when -f was not given).
 */
int
conf_parse_file(struct mtunneld_conf *conf, const char *path,
    int missing_ok, char *err, size_t errlen)
{
	char	*buf;
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd, rv;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT && missing_ok)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(CONF_FILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	while (len <= CONF_FILE_MAX &&
	    (n = read(fd, buf + len, CONF_FILE_MAX + 1 - len)) > 0)
		len += n;
	if (n == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rv = -1;
	} else
		rv = conf_parse_buf(conf, path, buf, len, err, errlen);

	free(buf);
	close(fd);
	return rv;
}

static int
conf_derive(char *field, size_t size, const char *prefix, const char *rel,
    const char *key, char *err, size_t errlen)
{
	if (field[0] != '\0')
		return 0;
	if ((size_t)snprintf(field, size, "%s%s", prefix, rel) >= size ||
	    strlen(field) > CONF_PATH_MAX) {
		snprintf(err, errlen, "%s: path under prefix '%s' is longer "
		    "than %d characters; choose a shorter prefix", key, prefix,
		    CONF_PATH_MAX);
		return -1;
	}
	return 0;
}

/*
 * Fill in what the file left unset: directories under the prefix (a
 * non-NULL prefix from the command line wins over the file's), and the
 * node name from the host name.
 */
int
conf_finish(struct mtunneld_conf *conf, const char *prefix, char *err,
    size_t errlen)
{
	char		 host[256];
	const char	*p;

	if (prefix != NULL) {
		if ((p = conf_check_path(prefix)) != NULL) {
			snprintf(err, errlen, "invalid prefix '%s': %s",
			    prefix, p);
			return -1;
		}
		strlcpy(conf->prefix, prefix, sizeof(conf->prefix));
	}
	p = strcmp(conf->prefix, "/") == 0 ? "" : conf->prefix;

	if (conf_derive(conf->confdir, sizeof(conf->confdir), p,
	    "/etc/mtunneld", "config-dir", err, errlen) == -1 ||
	    conf_derive(conf->statedir, sizeof(conf->statedir), p,
	    "/var/lib/mtunneld", "state-dir", err, errlen) == -1 ||
	    conf_derive(conf->rundir, sizeof(conf->rundir), p,
	    "/run/mtunneld", "run-dir", err, errlen) == -1 ||
	    conf_derive(conf->emptydir, sizeof(conf->emptydir), p,
	    "/var/lib/mtunneld/empty", "empty-dir", err, errlen) == -1 ||
	    conf_derive(conf->audit_log, sizeof(conf->audit_log), p,
	    "/var/log/mtunneld/audit.log", "audit-log", err, errlen) == -1)
		return -1;

	if (conf->node[0] == '\0') {
		if (gethostname(host, sizeof(host)) == -1) {
			snprintf(err, errlen, "gethostname: %s; set 'node'",
			    strerror(errno));
			return -1;
		}
		host[sizeof(host) - 1] = '\0';
		host[strcspn(host, ".")] = '\0';
		if ((p = conf_check_node(host)) != NULL) {
			snprintf(err, errlen, "host name '%s' is not a valid "
			    "node name (%s); set 'node'", host, p);
			return -1;
		}
		strlcpy(conf->node, host, sizeof(conf->node));
	}
	return 0;
}
