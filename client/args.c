/*
 * The command line's property strings: the target endpoint, as the
 * proxmox-remote format of pve-common, and the storage and bridge maps,
 * as its parse_idmap.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "migrate.h"

#define PORT_DEFAULT	8006

/* AA:BB:... with 32 pairs of hex digits; stores it upper-cased. */
static int
parse_fingerprint(const char *value, char *out, size_t outlen)
{
	size_t	 i, len = strlen(value);

	if (len != FINGERPRINT_MAX - 1 || len >= outlen)
		return -1;
	for (i = 0; i < len; i++) {
		if (i % 3 == 2) {
			if (value[i] != ':')
				return -1;
		} else if (!isxdigit((unsigned char)value[i]))
			return -1;
		out[i] = toupper((unsigned char)value[i]);
	}
	out[len] = '\0';
	return 0;
}

/*
 * The API token as the Authorization header carries it.  As the Proxmox
 * VE API client does, "PVEAPIToken=" is added unless the value already
 * starts with a scheme word and '=' or ' '.
 */
static int
parse_apitoken(const char *value, char *out, size_t outlen)
{
	size_t	 n = strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_");

	if (*value == '\0')
		return -1;
	if (n > 0 && (value[n] == '=' || value[n] == ' ')) {
		if (strlcpy(out, value, outlen) >= outlen)
			return -1;
		return 0;
	}
	if ((size_t)snprintf(out, outlen, "PVEAPIToken=%s", value) >= outlen)
		return -1;
	return 0;
}

static int
parse_port(const char *value, int *port)
{
	char	*end;
	long	 n;

	if (*value < '0' || *value > '9')
		return -1;
	n = strtol(value, &end, 10);
	if (*end != '\0' || n < 1 || n > 65535)
		return -1;
	*port = (int)n;
	return 0;
}

/*
 * Whether text has a control character.  The host and the API token go
 * into HTTP headers, where CR or LF would start a new header.
 */
static int
has_control(const char *text)
{
	for (; *text != '\0'; text++)
		if ((unsigned char)*text < 0x20 || *text == 0x7f)
			return 1;
	return 0;
}

/*
 * A host name or address.  An IPv6 address may come in brackets, as in
 * a URL; they are removed here and added again where a URL needs them.
 */
static int
parse_host(const char *value, char *out, size_t outlen)
{
	size_t	 len = strlen(value);

	if (len >= 2 && value[0] == '[' && value[len - 1] == ']') {
		value++;
		len -= 2;
	}
	if (len == 0 || len >= outlen || memchr(value, '[', len) != NULL ||
	    memchr(value, ']', len) != NULL)
		return -1;
	memcpy(out, value, len);
	out[len] = '\0';
	return 0;
}

/* The keys of --target, in the order of the bits of a seen mask. */
static const char *const target_keys[] = {
	"host", "apitoken", "fingerprint", "port"
};
#define TARGET_NKEYS	(sizeof(target_keys) / sizeof(target_keys[0]))

static int
target_value(struct target *t, size_t key, const char *value)
{
	switch (key) {
	case 0:
		return parse_host(value, t->host, sizeof(t->host));
	case 1:
		return parse_apitoken(value, t->apitoken, sizeof(t->apitoken));
	case 2:
		return parse_fingerprint(value, t->fingerprint,
		    sizeof(t->fingerprint));
	default:
		return parse_port(value, &t->port);
	}
}

/* Set one key.  A key given twice is an error, even with one value. */
static int
target_set(struct target *t, const char *key, const char *value,
    unsigned int *seen, char *err, size_t errlen)
{
	size_t	 i;

	for (i = 0; i < TARGET_NKEYS; i++)
		if (strcmp(key, target_keys[i]) == 0)
			break;
	if (i == TARGET_NKEYS) {
		snprintf(err, errlen, "--target: unknown key '%s'", key);
		return -1;
	}
	if (*seen & (1U << i)) {
		snprintf(err, errlen, "--target: duplicate key '%s'", key);
		return -1;
	}
	*seen |= 1U << i;
	if (has_control(value)) {
		snprintf(err, errlen, "--target: invalid %s: contains a "
		    "control character", key);
		return -1;
	}
	if (target_value(t, i, value) == -1) {
		if (i == 1)
			snprintf(err, errlen, "--target: invalid apitoken");
		else
			snprintf(err, errlen, "--target: invalid %s '%s'",
			    key, value);
		return -1;
	}
	return 0;
}

int
parse_target(const char *text, struct target *t, char *err, size_t errlen)
{
	char		*copy, *part, *next, *eq;
	unsigned int	 seen = 0;
	int		 rv = 0;

	memset(t, 0, sizeof(*t));
	t->port = PORT_DEFAULT;
	if ((copy = strdup(text)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (next = copy; rv == 0 && (part = strsep(&next, ",")) != NULL;) {
		if (*part == '\0')
			continue;
		if ((eq = strchr(part, '=')) == NULL) {
			snprintf(err, errlen, "--target: '%s' is not "
			    "key=value", part);
			rv = -1;
			break;
		}
		*eq = '\0';
		rv = target_set(t, part, eq + 1, &seen, err, errlen);
	}
	free(copy);
	if (rv == 0 && (t->host[0] == '\0' || t->apitoken[0] == '\0' ||
	    t->fingerprint[0] == '\0')) {
		snprintf(err, errlen, "--target: missing %s=", t->host[0] ==
		    '\0' ? "host" : t->apitoken[0] == '\0' ? "apitoken" :
		    "fingerprint");
		rv = -1;
	}
	return rv;
}

static int
idmap_add(struct idmap *map, const char *what, const char *src,
    const char *dst, char *err, size_t errlen)
{
	size_t	 i;

	if (src == NULL) {
		if (map->default_id[0] != '\0') {
			snprintf(err, errlen, "%s: default target '%s' given "
			    "twice", what, dst);
			return -1;
		}
		strlcpy(map->default_id, dst, sizeof(map->default_id));
		return 0;
	}
	for (i = 0; i < map->count; i++) {
		if (strcmp(map->entries[i].src, src) == 0) {
			snprintf(err, errlen, "%s: duplicate mapping for "
			    "source '%s'", what, src);
			return -1;
		}
	}
	if (map->count == IDMAP_MAX) {
		snprintf(err, errlen, "%s: more than %d mappings", what,
		    IDMAP_MAX);
		return -1;
	}
	strlcpy(map->entries[map->count].src, src, ID_MAX + 1);
	strlcpy(map->entries[map->count].dst, dst, ID_MAX + 1);
	map->count++;
	return 0;
}

/* One part of a map: "SRC:DST" or a default "DST". */
static int
idmap_part(struct idmap *map, const char *what, int (*valid)(const char *),
    char *part, char *err, size_t errlen)
{
	char	*colon, *src = NULL, *dst = part;

	if ((colon = strchr(part, ':')) != NULL) {
		*colon = '\0';
		src = part;
		dst = colon + 1;
		if (strlen(src) > ID_MAX || !valid(src)) {
			snprintf(err, errlen, "%s: invalid source ID '%s' in "
			    "'%s:%s'", what, src, src, dst);
			return -1;
		}
	}
	if (strcmp(dst, "1") == 0 && src == NULL) {
		snprintf(err, errlen, "%s: remote migration requires an "
		    "explicit mapping, not '1'", what);
		return -1;
	}
	if (strlen(dst) > ID_MAX || !valid(dst)) {
		if (src != NULL)
			snprintf(err, errlen, "%s: invalid target ID '%s' in "
			    "'%s:%s'", what, dst, src, dst);
		else
			snprintf(err, errlen, "%s: invalid ID '%s'", what,
			    dst);
		return -1;
	}
	return idmap_add(map, what, src, dst, err, errlen);
}

/*
 * Parse a comma-separated map for option what: pairs SRC:DST and at most
 * one bare ID, the default for every source not listed.  Each ID must
 * pass valid.
 */
int
parse_idmap(const char *text, const char *what, int (*valid)(const char *),
    struct idmap *map, char *err, size_t errlen)
{
	char	*copy, *next, *part;
	int	 rv = 0;

	memset(map, 0, sizeof(*map));
	if ((copy = strdup(text)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (next = copy; (part = strsep(&next, ",")) != NULL;) {
		if (*part == '\0')
			continue;
		if ((rv = idmap_part(map, what, valid, part, err, errlen)) ==
		    -1)
			break;
	}
	free(copy);
	if (rv == 0 && map->count == 0 && map->default_id[0] == '\0') {
		snprintf(err, errlen, "%s: empty mapping", what);
		rv = -1;
	}
	return rv;
}

/* The target ID for src: its pair, else the default, else src itself. */
const char *
map_id(const struct idmap *map, const char *src)
{
	size_t	 i;

	for (i = 0; i < map->count; i++)
		if (strcmp(map->entries[i].src, src) == 0)
			return map->entries[i].dst;
	if (map->default_id[0] != '\0')
		return map->default_id;
	return src;
}
