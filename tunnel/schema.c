/*
 * Parameter schemas of the control commands and their validator, in the
 * manner of Proxmox VE's JSONSchema (pve-common): every error is listed
 * as "<property>: <problem>", sorted by property, under the line
 * "400 Parameter verification failed.", with upstream's problem texts.
 *
 * Schemas are closed, as upstream since qemu-server 9.2.4: a key outside
 * the schema is an error.  Quirks of real sources that are accepted:
 * - booleans as JSON true/false, the numbers 1/0, or the strings "1",
 *   "0" and "" (false).  Upstream rejects "", but sources before
 *   libpve-guest-common-perl 5.1.2 send it.
 * - null for an optional property means absent.
 * - integers as JSON integers or as strings of digits, because Perl does
 *   not tell "100" from 100 and upstream accepts both.
 * Stricter than upstream: a string property must be a JSON string (Perl
 * also takes a number), and maxLength counts bytes, not characters.
 * Upstream discards the parameters of a command without a schema, where
 * schema_none here rejects every parameter.
 */

#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>
#include <jansson.h>

#include "mtunneld.h"
#include "storagecfg.h"
#include "tunnel.h"

#define SCHEMA_ERRORS_MAX	16
#define SCHEMA_PATH_MAX		80
#define SCHEMA_PROBLEM_MAX	256
#define SCHEMA_EXCERPT_MAX	64	/* bytes of a value quoted in errors */

#define NELEM(a)		(sizeof(a) / sizeof((a)[0]))
#define FIELD_MAX(type, field)	(sizeof(((type *)0)->field) - 1)

struct schema_error {
	char	 path[SCHEMA_PATH_MAX];
	char	 problem[SCHEMA_PROBLEM_MAX];
};

struct schema_errors {
	struct schema_error	 list[SCHEMA_ERRORS_MAX];
	size_t			 count;
};

/* The length of the valid UTF-8 sequence at s, or 0 if it is invalid. */
static size_t
utf8_sequence(const unsigned char *s, size_t len)
{
	size_t		 need, i;
	unsigned char	 lo = 0x80, hi = 0xbf;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4;
	else
		return 0;
	/* No overlong forms, no surrogates, nothing above U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (len < need || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need;
}

/*
 * Copy src (srclen bytes) into dst as valid UTF-8 that JSON can carry:
 * each byte of an invalid sequence and each NUL becomes '?'.  Text that
 * does not fit is cut at a character boundary and ends in "...".
 */
void
text_excerpt(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	const unsigned char	*s = (const unsigned char *)src;
	size_t			 i = 0, o = 0, n;

	if (dstlen == 0)
		return;
	while (i < srclen) {
		n = s[i] == '\0' ? 0 : utf8_sequence(s + i, srclen - i);
		if (o + (n == 0 ? 1 : n) >= dstlen)
			break;
		if (n == 0) {
			dst[o++] = '?';
			i++;
			continue;
		}
		memcpy(dst + o, src + i, n);
		o += n;
		i += n;
	}
	if (i < srclen) {
		/* Drop whole characters until "..." fits. */
		while (o > 0 && o + 4 > dstlen) {
			o--;
			while (o > 0 && ((unsigned char)dst[o] & 0xc0) == 0x80)
				o--;
		}
		if (o + 4 <= dstlen) {
			memcpy(dst + o, "...", 3);
			o += 3;
		}
	}
	dst[o] = '\0';
}

static void
schema_add(struct schema_errors *errs, const char *path, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
schema_add(struct schema_errors *errs, const char *path, const char *fmt,
    ...)
{
	struct schema_error	*e;
	va_list			 ap;

	if (errs->count == SCHEMA_ERRORS_MAX)
		return;
	e = &errs->list[errs->count++];
	text_excerpt(e->path, sizeof(e->path), path, strlen(path));
	va_start(ap, fmt);
	vsnprintf(e->problem, sizeof(e->problem), fmt, ap);
	va_end(ap);
}

/*
 * What upstream prints after "got": Perl's name for a reference (HASH,
 * ARRAY, JSON::PP::Boolean for true and false), else the quoted value.
 */
static void
schema_got(json_t *v, char *buf, size_t len)
{
	char	 text[SCHEMA_EXCERPT_MAX];

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		strlcpy(buf, "HASH", len);
		return;
	case JSON_ARRAY:
		strlcpy(buf, "ARRAY", len);
		return;
	case JSON_TRUE:
	case JSON_FALSE:
		strlcpy(buf, "JSON::PP::Boolean", len);
		return;
	case JSON_STRING:
		text_excerpt(text, sizeof(text), json_string_value(v),
		    json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(text, sizeof(text), "%.15g", json_real_value(v));
		break;
	default:
		strlcpy(text, "null", sizeof(text));
		break;
	}
	snprintf(buf, len, "'%s'", text);
}

static void
schema_type_error(struct schema_errors *errs, const char *path,
    const char *type, json_t *v)
{
	char	 got[SCHEMA_EXCERPT_MAX + 8];

	schema_got(v, got, sizeof(got));
	schema_add(errs, path, "type check ('%s') failed - got %s", type, got);
}

/* Read a boolean in any form a source sends.  Returns 0 or -1. */
static int
schema_bool(json_t *v, int *out)
{
	const char	*s;

	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (json_is_integer(v) && (json_integer_value(v) == 0 ||
	    json_integer_value(v) == 1)) {
		*out = json_integer_value(v) == 1;
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (strcmp(s, "1") != 0 && strcmp(s, "0") != 0 && s[0] != '\0')
		return -1;
	*out = strcmp(s, "1") == 0;
	return 0;
}

/* Perl's is_integer: [+-]?[0-9]+, here also within 64 bits. */
static int
schema_integer_text(const char *s, json_int_t *out)
{
	const char	*p = s;
	char		*end;
	long long	 n;

	if (*p == '+' || *p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = n;
	return 0;
}

static json_t *
schema_check_boolean(struct schema_errors *errs, const char *path,
    json_t *v)
{
	int	 b;

	if (schema_bool(v, &b) == -1) {
		schema_type_error(errs, path, "boolean", v);
		return NULL;
	}
	return json_boolean(b);
}

static json_t *
schema_check_integer(struct schema_errors *errs, const char *path,
    const struct schema_prop *prop, json_t *v)
{
	json_int_t	 n;

	if (json_is_integer(v))
		n = json_integer_value(v);
	else if (!json_is_string(v) ||
	    schema_integer_text(json_string_value(v), &n) == -1) {
		schema_type_error(errs, path, "integer", v);
		return NULL;
	}
	if (prop->has_minimum && n < prop->minimum) {
		schema_add(errs, path,
		    "value must have a minimum value of %lld",
		    (long long)prop->minimum);
		return NULL;
	}
	return json_integer(n);
}

static int
schema_check_enum(struct schema_errors *errs, const char *path,
    const struct schema_prop *prop, const char *s, size_t len)
{
	char	 list[SCHEMA_PROBLEM_MAX / 2], value[SCHEMA_EXCERPT_MAX];
	size_t	 i;

	for (i = 0; prop->values[i] != NULL; i++)
		if (strcmp(prop->values[i], s) == 0)
			return 0;
	list[0] = '\0';
	for (i = 0; prop->values[i] != NULL; i++) {
		if (i > 0)
			strlcat(list, ", ", sizeof(list));
		strlcat(list, prop->values[i], sizeof(list));
	}
	text_excerpt(value, sizeof(value), s, len);
	schema_add(errs, path, "value '%s' does not have a value in the "
	    "enumeration '%s'", value, list);
	return -1;
}

/* Checks in upstream's order: format or pattern, length, enum. */
static json_t *
schema_check_string(struct schema_errors *errs, const char *path,
    const struct schema_prop *prop, json_t *v)
{
	char		 problem[SCHEMA_PROBLEM_MAX];
	const char	*s;
	size_t		 len;

	if (!json_is_string(v)) {
		schema_type_error(errs, path, "string", v);
		return NULL;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (prop->check != NULL &&
	    prop->check(s, problem, sizeof(problem)) == -1) {
		schema_add(errs, path, "%s", problem);
		return NULL;
	}
	if (prop->max_length > 0 && len > prop->max_length) {
		schema_add(errs, path, "value may only be %zu bytes long",
		    prop->max_length);
		return NULL;
	}
	if (prop->values != NULL &&
	    schema_check_enum(errs, path, prop, s, len) == -1)
		return NULL;
	return json_incref(v);
}

static json_t	*schema_check_value(struct schema_errors *, const char *,
		    const struct schema_prop *, json_t *);

/*
 * Check each element in place.  A null element is an error unless the
 * items are optional.
 */
static json_t *
schema_check_array(struct schema_errors *errs, const char *path,
    const struct schema_prop *prop, json_t *v)
{
	char	 elem[SCHEMA_PATH_MAX];
	json_t	*item, *norm;
	size_t	 i, before = errs->count;

	if (!json_is_array(v)) {
		schema_add(errs, path, "type check ('array') failed");
		return NULL;
	}
	json_array_foreach(v, i, item) {
		if (prop->items == NULL)
			break;
		snprintf(elem, sizeof(elem), "%s[%zu]", path, i);
		if (json_is_null(item)) {
			if (!prop->items->optional)
				schema_add(errs, elem, "property is missing "
				    "and it is not optional");
			continue;
		}
		if ((norm = schema_check_value(errs, elem, prop->items,
		    item)) != NULL)
			json_array_set_new(v, i, norm);
	}
	return errs->count == before ? json_incref(v) : NULL;
}

/* Check v against prop.  Returns the normalised value, or NULL. */
static json_t *
schema_check_value(struct schema_errors *errs, const char *path,
    const struct schema_prop *prop, json_t *v)
{
	switch (prop->type) {
	case SCHEMA_STRING:
		return schema_check_string(errs, path, prop, v);
	case SCHEMA_BOOLEAN:
		return schema_check_boolean(errs, path, v);
	case SCHEMA_INTEGER:
		return schema_check_integer(errs, path, prop, v);
	case SCHEMA_OBJECT:
		if (json_is_object(v))
			return json_incref(v);
		schema_add(errs, path, "type check ('object') failed");
		return NULL;
	case SCHEMA_ARRAY:
		return schema_check_array(errs, path, prop, v);
	}
	return NULL;
}

static const struct schema_prop *
schema_find(const struct schema *schema, const char *key)
{
	size_t	 i;

	for (i = 0; i < schema->nprops; i++)
		if (strcmp(schema->props[i].name, key) == 0)
			return &schema->props[i];
	return NULL;
}

static int
schema_error_cmp(const void *a, const void *b)
{
	const struct schema_error	*ea = a, *eb = b;

	return strcmp(ea->path, eb->path);
}

static void
schema_format_errors(struct schema_errors *errs, char *err, size_t errlen)
{
	char	 line[SCHEMA_PATH_MAX + SCHEMA_PROBLEM_MAX + 4];
	size_t	 i;

	qsort(errs->list, errs->count, sizeof(errs->list[0]),
	    schema_error_cmp);
	strlcpy(err, "400 Parameter verification failed.\n", errlen);
	for (i = 0; i < errs->count; i++) {
		snprintf(line, sizeof(line), "%s: %s\n", errs->list[i].path,
		    errs->list[i].problem);
		strlcat(err, line, errlen);
	}
}

/*
 * Validate params against schema and normalise them in place: booleans
 * become true or false, integers JSON integers, and a null property is
 * removed.  Returns 0, or -1 with upstream's message in err.
 */
int
schema_validate(const struct schema *schema, json_t *params, char *err,
    size_t errlen)
{
	struct schema_errors		 errs;
	const struct schema_prop	*prop;
	const char			*key;
	json_t				*v, *norm;
	void				*tmp;
	size_t				 i;

	errs.count = 0;
	for (i = 0; i < schema->nprops; i++) {
		prop = &schema->props[i];
		v = json_object_get(params, prop->name);
		if (v == NULL || json_is_null(v)) {
			json_object_del(params, prop->name);
			if (!prop->optional)
				schema_add(&errs, prop->name, "property is "
				    "missing and it is not optional");
			continue;
		}
		if ((norm = schema_check_value(&errs, prop->name, prop,
		    v)) != NULL)
			json_object_set_new(params, prop->name, norm);
	}
	json_object_foreach_safe(params, tmp, key, v) {
		if (schema_find(schema, key) == NULL)
			schema_add(&errs, key, "property is not defined in "
			    "schema and the schema does not allow additional "
			    "properties");
	}
	if (errs.count == 0)
		return 0;
	schema_format_errors(&errs, err, errlen);
	return -1;
}

/* Check a pve-storage-id, with upstream's message. */
static int
check_storage_id(const char *s, char *problem, size_t len)
{
	char	 text[SCHEMA_EXCERPT_MAX];

	if (valid_storage_id(s))
		return 0;
	text_excerpt(text, sizeof(text), s, strlen(s));
	snprintf(problem, len, "invalid format - storage ID '%s' contains "
	    "illegal characters", text);
	return -1;
}

/* Check disk-import's snapshot: [a-z0-9_-]{1,40}, case-insensitive. */
static int
check_snapshot(const char *s, char *problem, size_t len)
{
	size_t	 n = strlen(s), i;

	for (i = 0; i < n; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", s[i]) == NULL)
			break;
	if (n >= 1 && n <= 40 && i == n)
		return 0;
	strlcpy(problem, "value does not match the regex pattern", len);
	return -1;
}

/* Check start's nets-host-mtu: netN=MTU pairs joined by commas. */
static int
check_nets_host_mtu(const char *s, char *problem, size_t len)
{
	const char	*p = s;

	do {
		if (strncmp(p, "net", 3) != 0 || !isdigit((unsigned char)p[3]))
			break;
		for (p += 3; isdigit((unsigned char)*p); p++)
			;
		if (*p++ != '=' || !isdigit((unsigned char)*p))
			break;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p == '\0')
			return 0;
	} while (*p++ == ',');
	strlcpy(problem, "value does not match the regex pattern", len);
	return -1;
}

/* pve-qm-image-format, the drive format= values. */
static const char *const qm_image_formats[] = {
	"raw", "qcow", "qed", "qcow2", "vmdk", "cloop", NULL
};

static const struct schema_prop config_props[] = {
	{ .name = "conf", .type = SCHEMA_STRING },
	{ .name = "firewall-config", .type = SCHEMA_STRING, .optional = 1 },
};

static const struct schema_prop disk_props[] = {
	{ .name = "format", .type = SCHEMA_STRING,
	    .values = qm_image_formats },
	{ .name = "storage", .type = SCHEMA_STRING, .check = check_storage_id,
	    .max_length = FIELD_MAX(struct tunnel_disk_alloc, storage) },
	{ .name = "drive", .type = SCHEMA_OBJECT },
};

static const struct schema_prop disk_import_props[] = {
	{ .name = "volname", .type = SCHEMA_STRING,
	    .max_length = FIELD_MAX(struct tunnel_disk_import, volname) },
	{ .name = "format", .type = SCHEMA_STRING,
	    .values = qm_image_formats },
	{ .name = "export_formats", .type = SCHEMA_STRING,
	    .max_length = FIELD_MAX(struct tunnel_disk_import,
	    export_formats) },
	{ .name = "storage", .type = SCHEMA_STRING, .check = check_storage_id,
	    .max_length = FIELD_MAX(struct tunnel_disk_import, storage) },
	{ .name = "snapshot", .type = SCHEMA_STRING, .optional = 1,
	    .check = check_snapshot },
	{ .name = "migration_snapshot", .type = SCHEMA_BOOLEAN,
	    .optional = 1 },
	{ .name = "with_snapshots", .type = SCHEMA_BOOLEAN, .optional = 1 },
	{ .name = "allow_rename", .type = SCHEMA_BOOLEAN, .optional = 1 },
};

/*
 * Upstream leaves the elements unchecked, and a source sends [null] when
 * no storage applies.  Here each element is a storage ID or null.
 */
static const struct schema_prop bwlimit_storage = {
	.name = "", .type = SCHEMA_STRING, .optional = 1,
	.check = check_storage_id,
	.max_length = FIELD_MAX(struct tunnel_disk_alloc, storage),
};

static const struct schema_prop bwlimit_props[] = {
	{ .name = "storages", .type = SCHEMA_ARRAY,
	    .items = &bwlimit_storage },
	{ .name = "bwlimit", .type = SCHEMA_INTEGER, .optional = 1,
	    .has_minimum = 1, .minimum = 0 },
	{ .name = "operation", .type = SCHEMA_STRING, .optional = 1,
	    .max_length = FIELD_MAX(struct tunnel_bwlimit, operation) },
};

static const struct schema_prop ticket_props[] = {
	{ .name = "path", .type = SCHEMA_STRING,
	    .max_length = FIELD_MAX(struct tunnel_ticket, path) },
};

static const struct schema_prop quit_props[] = {
	{ .name = "cleanup", .type = SCHEMA_BOOLEAN, .optional = 1 },
};

static const struct schema_prop start_props[] = {
	{ .name = "start_params", .type = SCHEMA_OBJECT },
	{ .name = "migrate_opts", .type = SCHEMA_OBJECT },
};

static const char *const statefile_values[] = { "unix", NULL };
static const char *const migration_types[] = { "websocket", NULL };

/* start_params, closed as upstream since qemu-server 9.2.4. */
static const struct schema_prop start_params_props[] = {
	{ .name = "statefile", .type = SCHEMA_STRING, .optional = 1,
	    .values = statefile_values },
	{ .name = "forcemachine", .type = SCHEMA_STRING, .optional = 1,
	    .max_length = FIELD_MAX(struct tunnel_vm_start, forcemachine) },
	{ .name = "forcecpu", .type = SCHEMA_STRING, .optional = 1,
	    .max_length = FIELD_MAX(struct tunnel_vm_start, forcecpu) },
	{ .name = "skiplock", .type = SCHEMA_BOOLEAN, .optional = 1 },
	{ .name = "nets-host-mtu", .type = SCHEMA_STRING, .optional = 1,
	    .check = check_nets_host_mtu,
	    .max_length = FIELD_MAX(struct tunnel_vm_start, nets_host_mtu) },
};

static const struct schema_prop migrate_opts_props[] = {
	{ .name = "spice_ticket", .type = SCHEMA_STRING, .optional = 1,
	    .max_length = 64 },
	{ .name = "type", .type = SCHEMA_STRING, .values = migration_types },
	{ .name = "network", .type = SCHEMA_STRING, .optional = 1,
	    .max_length = 128 },
	{ .name = "storagemap", .type = SCHEMA_OBJECT, .optional = 1 },
	{ .name = "migratedfrom", .type = SCHEMA_STRING, .optional = 1,
	    .max_length = NODE_NAME_MAX },
	{ .name = "nbd_proto_version", .type = SCHEMA_INTEGER,
	    .optional = 1, .has_minimum = 1, .minimum = 0 },
	{ .name = "nbd", .type = SCHEMA_OBJECT, .optional = 1 },
	{ .name = "remote_node", .type = SCHEMA_STRING, .optional = 1,
	    .max_length = NODE_NAME_MAX },
};

const struct schema schema_none = { NULL, 0 };
const struct schema schema_start = { start_props, NELEM(start_props) };
const struct schema schema_start_params = {
	start_params_props, NELEM(start_params_props)
};
const struct schema schema_migrate_opts = {
	migrate_opts_props, NELEM(migrate_opts_props)
};
const struct schema schema_config = { config_props, NELEM(config_props) };
const struct schema schema_disk = { disk_props, NELEM(disk_props) };
const struct schema schema_disk_import = {
	disk_import_props, NELEM(disk_import_props)
};
const struct schema schema_bwlimit = { bwlimit_props, NELEM(bwlimit_props) };
const struct schema schema_ticket = { ticket_props, NELEM(ticket_props) };
const struct schema schema_quit = { quit_props, NELEM(quit_props) };
