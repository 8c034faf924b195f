/*
 * storage.cfg and the storage helpers: see storagecfg.h.  Comments name
 * the upstream rule that each check reproduces.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <openssl/evp.h>

#include "log.h"
#include "storagecfg.h"

#define NUMBER_MAX	127	/* bytes of a number in a property string */
#define SIZE_INPUT_MAX	128	/* bytes of a size string */
#define RELPATH_MAX	1023	/* content-dirs path, exclusive */
#define COMPONENT_MAX	255	/* one content-dirs component, exclusive */

static const char *const content_names[CONTENT_TYPE_COUNT] = {
	"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import",
};

/* Sub-directories of a dir storage's path (pve-storage Plugin.pm). */
static const char *const content_subdirs[CONTENT_TYPE_COUNT] = {
	"images", "private", "template/cache", "template/iso", "dump",
	"snippets", "import",
};

static const char *const format_names[] = {
	"raw", "qcow2", "vmdk", "subvol",
};

static const char *const preallocation_names[] = {
	NULL, "off", "metadata", "falloc", "full",
};

static const char *const bwlimit_keys[BWLIMIT_OP_COUNT] = {
	"default", "clone", "migration", "move", "restore",
};

static const char *const prune_keys[] = {
	"keep-all", "keep-daily", "keep-hourly", "keep-last", "keep-monthly",
	"keep-weekly", "keep-yearly",
};

/* Types that upstream always marks shared (Plugin.pm @SHARED_STORAGE). */
static const char *const network_types[] = {
	"iscsi", "nfs", "cifs", "rbd", "cephfs", "iscsidirect", "zfs", "drbd",
	"pbs",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* Perl's \s on byte strings. */
static int
is_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	    c == '\r';
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_alnum(int c)
{
	return is_alpha(c) || is_digit(c);
}

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Copy len bytes of s for a message: bytes outside printable ASCII and
 * '\' become \xHH, and a value longer than SAFE_MAX is cut and ends in
 * "...".  buf has SAFE_BUF bytes.
 */
const char *
safe_span(const char *s, size_t len, char *buf)
{
	size_t		 i, o = 0;
	unsigned char	 c;

	for (i = 0; i < len && i < SAFE_MAX; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
	}
	if (i < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

const char *
safe_str(const char *s, char *buf)
{
	return safe_span(s, strlen(s), buf);
}

/*
 * Lists
 */

static int
strlist_add(struct strlist *list, const char *s, size_t len)
{
	char	**items, *item;

	if ((item = malloc(len + 1)) == NULL)
		return -1;
	memcpy(item, s, len);
	item[len] = '\0';
	items = reallocarray(list->items, list->count + 1, sizeof(*items));
	if (items == NULL) {
		free(item);
		return -1;
	}
	items[list->count++] = item;
	list->items = items;
	return 0;
}

void
strlist_free(struct strlist *list)
{
	size_t	 i;

	for (i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

int
strlist_contains(const struct strlist *list, const char *s)
{
	size_t	 i;

	for (i = 0; i < list->count; i++)
		if (strcmp(list->items[i], s) == 0)
			return 1;
	return 0;
}

/* Perl's split(/\0/): inner empty fields stay, trailing ones go. */
static int
split_on_nul(const char *text, size_t len, struct strlist *list)
{
	const char	*p = text, *end = text + len, *nul;

	while (p < end) {
		nul = memchr(p, '\0', (size_t)(end - p));
		if (nul == NULL)
			nul = end;
		if (strlist_add(list, p, (size_t)(nul - p)) == -1)
			return -1;
		p = nul + 1;
	}
	while (list->count > 0 && list->items[list->count - 1][0] == '\0')
		free(list->items[--list->count]);
	return 0;
}

static int
is_list_separator(int c)
{
	return is_ws(c) || c == ',' || c == ';';
}

static int
split_on_space(const char *text, size_t len, struct strlist *list)
{
	size_t	 i = 0, start;

	for (;;) {
		while (i < len && is_list_separator(text[i]))
			i++;
		if (i == len)
			return 0;
		start = i;
		while (i < len && !is_list_separator(text[i]))
			i++;
		if (strlist_add(list, text + start, i - start) == -1)
			return -1;
	}
}

int
split_list(const char *text, size_t len, struct strlist *list)
{
	int	 rc;

	list->items = NULL;
	list->count = 0;
	if (memchr(text, '\0', len) != NULL)
		rc = split_on_nul(text, len, list);
	else
		rc = split_on_space(text, len, list);
	if (rc == -1)
		strlist_free(list);
	return rc;
}

/*
 * Identifiers
 */

int
valid_storage_id(const char *id)
{
	size_t	 len = strlen(id), i;

	if (len < 2 || len > STORAGE_ID_MAX)
		return 0;
	if (!is_alpha(id[0]) || !is_alnum(id[len - 1]))
		return 0;
	for (i = 1; i < len - 1; i++)
		if (!is_alnum(id[i]) && id[i] != '.' && id[i] != '_' &&
		    id[i] != '-')
			return 0;
	return 1;
}

int
valid_node_name(const char *node)
{
	size_t	 len = strlen(node), i;

	if (len == 0 || !is_alnum(node[0]) || !is_alnum(node[len - 1]))
		return 0;
	for (i = 1; i < len; i++)
		if (!is_alnum(node[i]) && node[i] != '-')
			return 0;
	return 1;
}

int
valid_bridge_id(const char *id)
{
	size_t	 i;

	if (id[0] == '\0')
		return 0;
	for (i = 0; id[i] != '\0'; i++)
		if (!is_alnum(id[i]) && id[i] != '-' && id[i] != '_' &&
		    id[i] != '.')
			return 0;
	return 1;
}

/* pve-vmid: [1-9][0-9]{2,8} */
static int
parse_vmid_span(const char *s, size_t len, uint32_t *vmid)
{
	uint32_t	 v = 0;
	size_t		 i;

	if (len < 3 || len > 9 || s[0] == '0')
		return -1;
	for (i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	*vmid = v;
	return 0;
}

const char *
content_type_name(enum storage_content c)
{
	if ((unsigned)c >= CONTENT_TYPE_COUNT)
		return NULL;
	return content_names[c];
}

int
content_type_parse(const char *name)
{
	size_t	 i;

	for (i = 0; i < CONTENT_TYPE_COUNT; i++)
		if (strcmp(name, content_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
image_format_name(enum image_format f)
{
	if ((unsigned)f >= NELEM(format_names))
		return NULL;
	return format_names[f];
}

int
image_format_parse(const char *name)
{
	size_t	 i;

	for (i = 0; i < NELEM(format_names); i++)
		if (strcmp(name, format_names[i]) == 0)
			return (int)i;
	return -1;
}

/*
 * Size strings
 */

/*
 * floor(0.<digits> * 2^shift), exactly: double the decimal fraction shift
 * times and collect the bits that carry out of its first digit.
 */
static uint64_t
fraction_bytes(const char *digits, size_t n, unsigned shift)
{
	unsigned char	 d[SIZE_INPUT_MAX];
	uint64_t	 bits = 0;
	unsigned	 step, carry, v;
	size_t		 i;

	for (i = 0; i < n; i++)
		d[i] = (unsigned char)(digits[i] - '0');
	for (step = 0; step < shift; step++) {
		carry = 0;
		for (i = n; i-- > 0;) {
			v = d[i] * 2u + carry;
			d[i] = (unsigned char)(v % 10);
			carry = v / 10;
		}
		bits = bits * 2 + carry;
	}
	return bits;
}

/*
 * Return the bit shift of a unit K, M, G or T, optionally followed by
 * "iB": 10 to 40, 0 for no unit, -1 for anything else.
 */
static int
size_unit_shift(const char *u)
{
	static const char	 units[] = "KMGT";
	const char		*p;

	if (u[0] == '\0')
		return 0;
	if ((p = strchr(units, u[0])) == NULL)
		return -1;
	if (u[1] != '\0' && strcmp(u + 1, "iB") != 0)
		return -1;
	return (int)(p - units + 1) * 10;
}

int
parse_size(const char *s, uint64_t *bytes)
{
	const char	*frac = NULL;
	uint64_t	 whole = 0, total;
	size_t		 i = 0, nfrac = 0;
	int		 shift;

	if (strnlen(s, SIZE_INPUT_MAX + 1) > SIZE_INPUT_MAX || !is_digit(s[0]))
		return -1;
	for (; is_digit(s[i]); i++) {
		if (whole > (uint64_t)INT64_MAX / 10)
			return -1;
		whole = whole * 10 + (uint64_t)(s[i] - '0');
	}
	if (s[i] == '.') {
		frac = s + ++i;
		while (is_digit(s[i]))
			i++;
		if ((nfrac = (size_t)(s + i - frac)) == 0)
			return -1;
	}
	if ((shift = size_unit_shift(s + i)) == -1)
		return -1;
	if (whole > ((uint64_t)INT64_MAX >> shift))
		return -1;
	total = whole << shift;
	if (frac != NULL)
		total += fraction_bytes(frac, nfrac, (unsigned)shift);
	if (total > (uint64_t)INT64_MAX)
		return -1;
	*bytes = total;
	return 0;
}

int
format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char	 units[] = "KMGT";
	uint64_t		 v = bytes;
	size_t			 u;
	int			 n;

	if (v % 1024 != 0) {
		n = snprintf(buf, len, "%llu", (unsigned long long)v);
		return n < 0 || (size_t)n >= len ? -1 : 0;
	}
	/* Upstream's loop stops at T, and so 0 comes out as "0T". */
	for (u = 0; u < 3; u++) {
		v /= 1024;
		if (v % 1024 != 0)
			break;
	}
	if (u == 3)
		v /= 1024;
	n = snprintf(buf, len, "%llu%c", (unsigned long long)v, units[u]);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * Volume IDs and names
 */

int
parse_volid(const char *volid, char *storeid, size_t storeidlen,
    char *volname, size_t volnamelen)
{
	const char	*colon = strchr(volid, ':');
	size_t		 idlen;

	if (storeidlen > 0)
		storeid[0] = '\0';
	if (volnamelen > 0)
		volname[0] = '\0';
	if (colon == NULL)
		return -1;
	idlen = (size_t)(colon - volid);
	if (idlen > STORAGE_ID_MAX || idlen >= storeidlen)
		return -1;
	memcpy(storeid, volid, idlen);
	storeid[idlen] = '\0';
	if (!valid_storage_id(storeid) || colon[1] == '\0' ||
	    strchr(colon + 1, '\n') != NULL ||
	    strlcpy(volname, colon + 1, volnamelen) >= volnamelen) {
		storeid[0] = '\0';
		if (volnamelen > 0)
			volname[0] = '\0';
		return -1;
	}
	return 0;
}

/* (vm|base|subvol)-<digits>-<at least one byte>, up to the extension */
static int
image_name_preferred(const char *name, const char *ext)
{
	static const char *const	 prefixes[] = {
		"vm-", "base-", "subvol-",
	};
	const char			*p;
	size_t				 i, plen;

	for (i = 0; i < NELEM(prefixes); i++) {
		plen = strlen(prefixes[i]);
		if (strncmp(name, prefixes[i], plen) != 0)
			continue;
		p = name + plen;
		if (!is_digit(*p))
			continue;
		while (is_digit(*p))
			p++;
		if (*p == '-' && p + 1 < ext)
			return 1;
	}
	return 0;
}

static const char *
image_name_bad_byte(const char *name)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p == '/')
			return "contains '/' (linked clones are not supported)";
		if (*p < 0x20 || *p == 0x7f || is_ws(*p))
			return "contains white space or a control byte";
	}
	if (strstr(name, "..") != NULL)
		return "contains \"..\"";
	return NULL;
}

/*
 * Check a file name against upstream's parse_name_dir rules, see
 * storagecfg.h.  Returns NULL with *ext and *fmt set, or the reason.
 */
static const char *
image_name_error(const char *name, const char **ext, int *fmt)
{
	const char	*reason;
	size_t		 len = strlen(name);

	if (len == 0 || len > VOLNAME_FILE_MAX)
		return "must have 1 to 255 bytes";
	if ((reason = image_name_bad_byte(name)) != NULL)
		return reason;
	*ext = strrchr(name, '.');
	if (*ext == NULL || *ext == name ||
	    (*fmt = image_format_parse(*ext + 1)) == -1)
		return "must end in .raw, .qcow2, .vmdk or .subvol";
	if (!image_name_preferred(name, *ext) &&
	    strncmp(name, "snap-", 5) == 0 && *fmt == IMAGE_FORMAT_QCOW2)
		return "is a volume-chain snapshot file, not a volume";
	return NULL;
}

static int
parse_image_name(const char *name, struct image_volname *out, char *err,
    size_t errlen)
{
	char		 safe[SAFE_BUF];
	const char	*ext = NULL, *reason;
	int		 fmt = -1;

	if ((reason = image_name_error(name, &ext, &fmt)) != NULL) {
		set_err(err, errlen, "invalid image file name '%s': %s",
		    safe_str(name, safe), reason);
		return -1;
	}
	strlcpy(out->name, name, sizeof(out->name));
	out->format = (enum image_format)fmt;
	out->is_base = strncmp(name, "base-", 5) == 0 && ext - name > 5;
	return 0;
}

int
dir_parse_image_volname(const char *volname, struct image_volname *out,
    char *err, size_t errlen)
{
	char		 safe[SAFE_BUF];
	const char	*slash;

	memset(out, 0, sizeof(*out));
	if ((slash = strchr(volname, '/')) == NULL) {
		set_err(err, errlen, "invalid volume name '%s': expected "
		    "<vmid>/<file>", safe_str(volname, safe));
		return -1;
	}
	if (parse_vmid_span(volname, (size_t)(slash - volname),
	    &out->vmid) == -1) {
		set_err(err, errlen, "invalid volume name '%s': the part "
		    "before '/' is not a VMID from 100 to 999999999",
		    safe_str(volname, safe));
		return -1;
	}
	if (parse_image_name(slash + 1, out, err, errlen) == -1) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

/*
 * Property strings without a default key (parse_property_string)
 */

typedef int (*propstr_fn)(void *, size_t, const char *, size_t, char *,
    size_t);

static int
span_blank(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!is_ws(s[i]))
			return 0;
	return 1;
}

static int
span_index(const char *s, size_t len, const char *const *names, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return (int)i;
	return -1;
}

/* One "key=value" part; the key is taken as written, blanks included. */
static int
propstr_part(const char *part, size_t len, const char *const *keys,
    size_t nkeys, uint32_t *seen, propstr_fn fn, void *arg, char *err,
    size_t errlen)
{
	char		 safe[SAFE_BUF];
	const char	*eq = memchr(part, '=', len);
	size_t		 keylen;
	int		 k;

	if (eq == NULL) {
		set_err(err, errlen, "'%s' is not of the form key=value",
		    safe_span(part, len, safe));
		return -1;
	}
	keylen = (size_t)(eq - part);
	if ((k = span_index(part, keylen, keys, nkeys)) == -1) {
		set_err(err, errlen, "unknown key '%s'",
		    safe_span(part, keylen, safe));
		return -1;
	}
	if (*seen & (UINT32_C(1) << k)) {
		set_err(err, errlen, "duplicate key '%s'", keys[k]);
		return -1;
	}
	if (keylen + 1 == len) {
		set_err(err, errlen, "empty value for key '%s'", keys[k]);
		return -1;
	}
	*seen |= UINT32_C(1) << k;
	return fn(arg, (size_t)k, eq + 1, len - keylen - 1, err, errlen);
}

static int
propstr_parse(const char *str, const char *const *keys, size_t nkeys,
    propstr_fn fn, void *arg, char *err, size_t errlen)
{
	const char	*part = str, *end;
	uint32_t	 seen = 0;
	size_t		 len;

	for (;;) {
		end = strchrnul(part, ',');
		len = (size_t)(end - part);
		if (!span_blank(part, len) && propstr_part(part, len, keys,
		    nkeys, &seen, fn, arg, err, errlen) == -1)
			return -1;
		if (*end == '\0')
			return 0;
		part = end + 1;
	}
}

/* JSONSchema is_number: [+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)? */
static int
parse_number(const char *s, size_t len, double *out)
{
	char	 buf[NUMBER_MAX + 1], *end;
	size_t	 i = 0, ndigits = 0;
	double	 v;

	if (len == 0 || len > NUMBER_MAX)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[i] == '+' || buf[i] == '-')
		i++;
	for (; is_digit(buf[i]); i++)
		ndigits++;
	if (buf[i] == '.')
		for (i++; is_digit(buf[i]); i++)
			ndigits++;
	if (ndigits == 0)
		return -1;
	if (buf[i] == 'e' || buf[i] == 'E') {
		i++;
		if (buf[i] == '+' || buf[i] == '-')
			i++;
		if (!is_digit(buf[i]))
			return -1;
		while (is_digit(buf[i]))
			i++;
	}
	if (buf[i] != '\0')
		return -1;
	/* The C locale's strtod, which reads '.' as the decimal point. */
	v = strtod(buf, &end);
	if (*end != '\0' || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* JSONSchema is_integer: [+-]?\d+, here within int64_t. */
static int
parse_integer(const char *s, size_t len, int64_t *out)
{
	char		 buf[32], *end;
	size_t		 i = 0;
	long long	 v;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] == '+' || buf[0] == '-')
		i++;
	if (!is_digit(buf[i]))
		return -1;
	for (; buf[i] != '\0'; i++)
		if (!is_digit(buf[i]))
			return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno == ERANGE || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* JSONSchema parse_boolean: 1 on yes true / 0 off no false, any case. */
static int
parse_bool_word(const char *s, size_t len)
{
	static const char *const	 yes[] = { "1", "on", "yes", "true" };
	static const char *const	 no[] = { "0", "off", "no", "false" };
	size_t				 i;

	for (i = 0; i < NELEM(yes); i++) {
		if (strlen(yes[i]) == len && strncasecmp(s, yes[i], len) == 0)
			return 1;
		if (strlen(no[i]) == len && strncasecmp(s, no[i], len) == 0)
			return 0;
	}
	return -1;
}

void
bwlimit_init(struct bwlimit *bw)
{
	size_t	 i;

	for (i = 0; i < BWLIMIT_OP_COUNT; i++)
		bw->limit[i] = BWLIMIT_UNSET;
}

static int
bwlimit_set(void *arg, size_t key, const char *value, size_t len, char *err,
    size_t errlen)
{
	struct bwlimit	*bw = arg;
	char		 safe[SAFE_BUF];
	double		 v;

	if (parse_number(value, len, &v) == -1 || v < 0) {
		set_err(err, errlen, "invalid %s limit '%s': expected a "
		    "number >= 0 in KiB/s", bwlimit_keys[key],
		    safe_span(value, len, safe));
		return -1;
	}
	bw->limit[key] = v == 0 ? 0 : v;	/* "-0" becomes 0 */
	return 0;
}

int
parse_bwlimit(const char *str, struct bwlimit *bw, char *err, size_t errlen)
{
	struct bwlimit	 tmp;

	bwlimit_init(&tmp);
	if (propstr_parse(str, bwlimit_keys, NELEM(bwlimit_keys), bwlimit_set,
	    &tmp, err, errlen) == -1)
		return -1;
	*bw = tmp;
	return 0;
}

struct prune_state {
	int	 keep_all;
	int	 any_positive;
};

static int
prune_set(void *arg, size_t key, const char *value, size_t len, char *err,
    size_t errlen)
{
	struct prune_state	*st = arg;
	int64_t			 n;

	if (key == 0) {
		if ((st->keep_all = parse_bool_word(value, len)) == -1) {
			set_err(err, errlen, "keep-all expects a boolean");
			return -1;
		}
		return 0;
	}
	if (parse_integer(value, len, &n) == -1 || n < 0) {
		set_err(err, errlen, "%s expects an integer >= 0",
		    prune_keys[key]);
		return -1;
	}
	if (n > 0)
		st->any_positive = 1;
	return 0;
}

/* The prune-backups format with upstream's validate_prune_backups. */
static int
check_prune_backups(const char *str, char *err, size_t errlen)
{
	struct prune_state	 st = { 0, 0 };

	if (propstr_parse(str, prune_keys, NELEM(prune_keys), prune_set, &st,
	    err, errlen) == -1)
		return -1;
	if (st.keep_all == 1 && st.any_positive) {
		set_err(err, errlen, "keep-all cannot be combined with other "
		    "keep options");
		return -1;
	}
	return 0;
}

/*
 * dir properties
 */

struct section {
	struct storage	 st;
	uint32_t	 seen;		/* bit per dir_keys[] index accepted */
	int		 content_set;
	int		 content_none_mixed;
	int		 bwlimit_seen;	/* unsupported types */
	char		 reason[STORAGECFG_ERR_MAX];
};

static void
set_reason(struct section *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_reason(struct section *sec, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(sec->reason, sizeof(sec->reason), fmt, ap);
	va_end(ap);
}

/* A setter returns 0, -1 with sec->reason set, or -2 if memory ran out. */
typedef int (*dir_setter)(struct section *, const char *);

struct dir_key {
	const char	*name;
	dir_setter	 set;		/* NULL for a boolean */
	size_t		 offset;	/* of a boolean in struct storage */
};

static int
set_string(char **field, const char *value)
{
	char	*copy;

	if ((copy = strdup(value)) == NULL)
		return -2;
	free(*field);
	*field = copy;
	return 0;
}

/*
 * pve-storage-path: absolute, and no ';', '(' or ')'.  Upstream's pattern
 * is not anchored at the end, so it takes "/a;b", which this rejects.
 */
static int
set_path(struct section *sec, const char *value)
{
	size_t	 len = strlen(value);

	if (value[0] != '/' || len < 2 || strpbrk(value, ";()") != NULL) {
		set_reason(sec, "not an absolute path without ';', '(' and "
		    "')'");
		return -1;
	}
	if (len > STORAGE_PATH_MAX) {
		set_reason(sec, "path longer than %d bytes",
		    STORAGE_PATH_MAX);
		return -1;
	}
	return set_string(&sec->st.path, value);
}

/* pve-storage-content-list.  "none" with other types drops the section. */
static int
set_content(struct section *sec, const char *value)
{
	struct strlist	 list;
	char		 safe[SAFE_BUF];
	uint32_t	 mask = 0;
	size_t		 i;
	int		 none = 0, c;

	if (split_list(value, strlen(value), &list) == -1)
		return -2;
	for (i = 0; i < list.count; i++) {
		if (strcmp(list.items[i], "none") == 0) {
			none = 1;
			continue;
		}
		if ((c = content_type_parse(list.items[i])) == -1) {
			set_reason(sec, "unknown content type '%s'",
			    safe_str(list.items[i], safe));
			strlist_free(&list);
			return -1;
		}
		mask |= CONTENT_BIT(c);
	}
	strlist_free(&list);
	sec->st.content = mask;
	sec->content_set = 1;
	sec->content_none_mixed = none && mask != 0;
	return 0;
}

static int
set_nodes(struct section *sec, const char *value)
{
	struct strlist	 list;
	char		 safe[SAFE_BUF];
	size_t		 i;

	if (split_list(value, strlen(value), &list) == -1)
		return -2;
	for (i = 0; i < list.count; i++) {
		if (!valid_node_name(list.items[i])) {
			set_reason(sec, "invalid node name '%s'",
			    safe_str(list.items[i], safe));
			strlist_free(&list);
			return -1;
		}
	}
	strlist_free(&sec->st.nodes);
	sec->st.nodes = list;
	sec->st.nodes_set = 1;
	return 0;
}

/*
 * Upstream's [^.]*(?:\.?[^.]+)+ means: a byte other than '.', no "..",
 * and no '.' at the end.  The length limits are upstream's too.
 */
static int
relpath_valid(const char *rel)
{
	size_t	 len = strlen(rel), i, comp = 0;
	int	 nondot = 0;

	if (len == 0 || len >= RELPATH_MAX || rel[len - 1] == '.' ||
	    strstr(rel, "..") != NULL)
		return 0;
	for (i = 0; i < len; i++) {
		if (rel[i] != '.')
			nondot = 1;
		if (rel[i] == '/')
			comp = 0;
		else if (++comp >= COMPONENT_MAX)
			return 0;
	}
	return nondot;
}

/*
 * pve-dir-override: [a-z]+=<relative path>.  Returns the content type,
 * CONTENT_TYPE_COUNT for "none", or -1.
 */
static int
parse_dir_override(const char *item, const char **rel)
{
	const char	*eq = strchr(item, '='), *p;

	if (eq == NULL || eq == item)
		return -1;
	for (p = item; p < eq; p++)
		if (*p < 'a' || *p > 'z')
			return -1;
	if (!relpath_valid(eq + 1))
		return -1;
	*rel = eq + 1;
	if ((size_t)(eq - item) == 4 && strncmp(item, "none", 4) == 0)
		return CONTENT_TYPE_COUNT;	/* valid, but no directory */
	return span_index(item, (size_t)(eq - item), content_names,
	    CONTENT_TYPE_COUNT);
}

static void
free_dirs(char **dirs)
{
	size_t	 i;

	for (i = 0; i < CONTENT_TYPE_COUNT; i++) {
		free(dirs[i]);
		dirs[i] = NULL;
	}
}

static int
set_content_dirs(struct section *sec, const char *value)
{
	struct strlist	 list;
	char		*dirs[CONTENT_TYPE_COUNT] = { NULL };
	char		 safe[SAFE_BUF];
	const char	*rel;
	size_t		 i;
	int		 c, rc = 0;

	if (split_list(value, strlen(value), &list) == -1)
		return -2;
	for (i = 0; i < list.count && rc == 0; i++) {
		if ((c = parse_dir_override(list.items[i], &rel)) == -1) {
			set_reason(sec, "invalid override '%s': expected "
			    "<content>=<relative path> without \"..\" or a "
			    "final '.'", safe_str(list.items[i], safe));
			rc = -1;
		} else if (c < CONTENT_TYPE_COUNT)
			rc = set_string(&dirs[c], rel);
	}
	strlist_free(&list);
	if (rc != 0) {
		free_dirs(dirs);
		return rc;
	}
	free_dirs(sec->st.content_dirs);
	memcpy(sec->st.content_dirs, dirs, sizeof(dirs));
	return 0;
}

static int
set_format(struct section *sec, const char *value)
{
	int	 f;

	if ((f = image_format_parse(value)) == -1) {
		set_reason(sec, "expected raw, qcow2, vmdk or subvol");
		return -1;
	}
	sec->st.format = (enum image_format)f;
	return 0;
}

static int
set_preallocation(struct section *sec, const char *value)
{
	size_t	 i;

	for (i = PREALLOCATION_OFF; i < NELEM(preallocation_names); i++) {
		if (strcmp(value, preallocation_names[i]) == 0) {
			sec->st.preallocation = (enum preallocation)i;
			return 0;
		}
	}
	set_reason(sec, "expected off, metadata, falloc or full");
	return -1;
}

static int
set_is_mountpoint(struct section *sec, const char *value)
{
	return set_string(&sec->st.is_mountpoint, value);
}

static int
set_bwlimit(struct section *sec, const char *value)
{
	return parse_bwlimit(value, &sec->st.bwlimit, sec->reason,
	    sizeof(sec->reason));
}

static int
set_prune_backups(struct section *sec, const char *value)
{
	if (check_prune_backups(value, sec->reason, sizeof(sec->reason)) == -1)
		return -1;
	return set_string(&sec->st.prune_backups, value);
}

static int
set_max_protected(struct section *sec, const char *value)
{
	int64_t	 n;

	if (parse_integer(value, strlen(value), &n) == -1 || n < -1) {
		set_reason(sec, "expected an integer >= -1");
		return -1;
	}
	sec->st.max_protected_backups = n;
	sec->st.max_protected_backups_set = 1;
	return 0;
}

#define BOOL_KEY(name, field) \
	{ name, NULL, offsetof(struct storage, field) }

/* The options of pve-storage DirPlugin.pm. */
static const struct dir_key dir_keys[] = {
	{ "path", set_path, 0 },
	{ "content", set_content, 0 },
	{ "content-dirs", set_content_dirs, 0 },
	{ "nodes", set_nodes, 0 },
	BOOL_KEY("shared", shared),
	BOOL_KEY("disable", disable),
	{ "prune-backups", set_prune_backups, 0 },
	{ "max-protected-backups", set_max_protected, 0 },
	{ "format", set_format, 0 },
	BOOL_KEY("mkdir", mkdir),
	BOOL_KEY("create-base-path", create_base_path),
	BOOL_KEY("create-subdirs", create_subdirs),
	{ "is_mountpoint", set_is_mountpoint, 0 },
	{ "bwlimit", set_bwlimit, 0 },
	{ "preallocation", set_preallocation, 0 },
	BOOL_KEY("snapshot-as-volume-chain", snapshot_as_volume_chain),
};

static int
dir_key_index(const char *key)
{
	size_t	 i;

	for (i = 0; i < NELEM(dir_keys); i++)
		if (strcmp(key, dir_keys[i].name) == 0)
			return (int)i;
	return -1;
}

/* SectionConfig booleans: only "0" and "1". */
static int
set_bool(struct section *sec, const struct dir_key *def, const char *value)
{
	int	*field = (int *)(void *)((char *)&sec->st + def->offset);

	if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
		set_reason(sec, "expected 0 or 1");
		return -1;
	}
	*field = value[0] - '0';
	return 0;
}

/*
 * Storages
 */

static void
storage_init(struct storage *st)
{
	memset(st, 0, sizeof(*st));
	st->format = IMAGE_FORMAT_RAW;
	st->preallocation = PREALLOCATION_UNSET;
	st->create_base_path = -1;
	st->create_subdirs = -1;
	st->mkdir = -1;
	bwlimit_init(&st->bwlimit);
}

static void
storage_free(struct storage *st)
{
	size_t	 i;

	free(st->type_name);
	free(st->path);
	strlist_free(&st->nodes);
	free(st->is_mountpoint);
	free_dirs(st->content_dirs);
	free(st->prune_backups);
	for (i = 0; i < st->nprops; i++) {
		free(st->props[i].key);
		free(st->props[i].value);
	}
	free(st->props);
	memset(st, 0, sizeof(*st));
}

void
storagecfg_free(struct storagecfg *cfg)
{
	size_t	 i;

	for (i = 0; i < cfg->nstorages; i++)
		storage_free(&cfg->storages[i]);
	free(cfg->storages);
	memset(cfg, 0, sizeof(*cfg));
}

struct storage *
storagecfg_find(const struct storagecfg *cfg, const char *id)
{
	size_t	 i;

	if (id == NULL)
		return NULL;
	for (i = 0; i < cfg->nstorages; i++)
		if (strcmp(cfg->storages[i].id, id) == 0)
			return &cfg->storages[i];
	return NULL;
}

static int
is_network_type(const char *type)
{
	size_t	 i;

	for (i = 0; i < NELEM(network_types); i++)
		if (strcmp(type, network_types[i]) == 0)
			return 1;
	return 0;
}

/*
 * Parser
 */

struct parser {
	struct storagecfg	*cfg;
	const char		*name;
	const char		*buf;
	size_t			 len;
	size_t			 pos;
	size_t			 lineno;
	char			*line;	/* the current line, NUL-terminated */
	char			*err;
	size_t			 errlen;
};

static void
parser_warn(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log a warning.  After STORAGECFG_WARN_LOG_MAX of them, only count. */
static void
parser_warn(struct parser *p, const char *fmt, ...)
{
	struct storagecfg	*cfg = p->cfg;
	char			 msg[STORAGECFG_ERR_MAX - 128];	/* + name */
	va_list			 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cfg->nwarnings == 0)
		snprintf(cfg->warning, sizeof(cfg->warning), "%s line %zu: %s",
		    p->name, p->lineno, msg);
	if (cfg->nwarnings < STORAGECFG_WARN_LOG_MAX)
		log_warnx("%s line %zu: %s", p->name, p->lineno, msg);
	else if (cfg->nwarnings == STORAGECFG_WARN_LOG_MAX)
		log_warnx("%s: too many warnings, the rest are only counted",
		    p->name);
	cfg->nwarnings++;
}

static int
parser_oom(struct parser *p)
{
	set_err(p->err, p->errlen, "%s line %zu: out of memory", p->name,
	    p->lineno);
	return -1;
}

static int
is_comment(const char *line)
{
	while (is_ws(*line))
		line++;
	return *line == '#';
}

/* An empty line ends a section, and so does "0" (false in Perl). */
static int
ends_section(const char *line)
{
	return line[0] == '\0' || strcmp(line, "0") == 0;
}

/*
 * Move to the next line that is not a comment and has no NUL byte (such
 * a line is ignored with a warning).  Returns 1, 0 at the end of the
 * buffer, or -1 for a line over STORAGECFG_LINE_MAX.
 */
static int
next_line(struct parser *p)
{
	const char	*start, *nl;
	size_t		 len;

	while (p->pos < p->len) {
		start = p->buf + p->pos;
		nl = memchr(start, '\n', p->len - p->pos);
		len = nl != NULL ? (size_t)(nl - start) : p->len - p->pos;
		p->pos += len + (nl != NULL);
		p->lineno++;
		if (len > STORAGECFG_LINE_MAX) {
			set_err(p->err, p->errlen, "%s line %zu: line longer "
			    "than %d bytes", p->name, p->lineno,
			    STORAGECFG_LINE_MAX);
			return -1;
		}
		memcpy(p->line, start, len);
		p->line[len] = '\0';
		if (is_comment(p->line))
			continue;
		if (memchr(start, '\0', len) != NULL) {
			parser_warn(p, "line ignored: contains a NUL byte");
			continue;
		}
		return 1;
	}
	return 0;
}

static char *
token_end(char *s)
{
	while (*s != '\0' && !is_ws(*s))
		s++;
	return s;
}

static char *
skip_ws(char *s)
{
	while (is_ws(*s))
		s++;
	return s;
}

/*
 * Split a header the way upstream's ^(\S+):\s*(\S+)\s*$ does.  With two
 * tokens the first one ends in ':'.  With one token the type ends at the
 * last ':' that has a byte after it.  Returns -1 for any other line.
 */
static int
split_header(char *line, char **type, char **id)
{
	char	*end, *second, *second_end;
	size_t	 len, i;

	if (line[0] == '\0' || is_ws(line[0]))
		return -1;
	end = token_end(line);
	second = skip_ws(end);
	if (*second != '\0') {
		second_end = token_end(second);
		if (*skip_ws(second_end) != '\0' || end - line < 2 ||
		    end[-1] != ':')
			return -1;
		end[-1] = '\0';
		*second_end = '\0';
		*type = line;
		*id = second;
		return 0;
	}
	*end = '\0';
	if ((len = (size_t)(end - line)) < 3)
		return -1;
	for (i = len - 2; i > 0; i--) {
		if (line[i] == ':') {
			line[i] = '\0';
			*type = line;
			*id = line + i + 1;
			return 0;
		}
	}
	return -1;
}

/*
 * Split a property line the way upstream's ^\s+(\S+)(\s+(.*\S))?\s*$
 * does.  value is NULL for a bare key.  Returns -1 for a line without a
 * leading blank or without a key.
 */
static int
split_property(char *line, char **key, char **value)
{
	char	*s, *end;

	if (!is_ws(line[0]))
		return -1;
	s = skip_ws(line);
	if (*s == '\0')
		return -1;
	*key = s;
	s = token_end(s);
	*value = NULL;
	if (*s == '\0')
		return 0;
	*s++ = '\0';
	s = skip_ws(s);
	if (*s == '\0')
		return 0;
	end = s + strlen(s);
	while (is_ws(end[-1]))
		end--;
	*end = '\0';
	*value = s;
	return 0;
}

static int
drop_property(struct parser *p, struct section *sec, const char *key,
    const char *reason)
{
	char	 safe[SAFE_BUF];

	parser_warn(p, "storage '%s': property '%s' ignored: %s", sec->st.id,
	    safe_str(key, safe), reason);
	p->cfg->ndropped++;
	return 0;
}

static int
set_dir_property(struct parser *p, struct section *sec, const char *key,
    const char *value)
{
	const struct dir_key	*def;
	int			 k, rc;

	/* SectionConfig lets a section repeat its own type as a property. */
	if (strcmp(key, "type") == 0 && value != NULL &&
	    strcmp(value, "dir") == 0)
		return 0;
	if ((k = dir_key_index(key)) == -1)
		return drop_property(p, sec, key,
		    "unexpected property for type dir");
	if (sec->seen & (UINT32_C(1) << k))
		return drop_property(p, sec, key, "duplicate key");
	def = &dir_keys[k];
	if (value == NULL && def->set != NULL)
		return drop_property(p, sec, key, "missing value");
	if (value == NULL)
		value = "1";
	if (strpbrk(value, "\r\n") != NULL)
		return drop_property(p, sec, key, "value contains a CR");
	rc = def->set != NULL ? def->set(sec, value) :
	    set_bool(sec, def, value);
	if (rc == -2)
		return parser_oom(p);
	if (rc == -1)
		return drop_property(p, sec, key, sec->reason);
	sec->seen |= UINT32_C(1) << k;
	return 0;
}

/* Keep a property of an unsupported type; its bwlimit still counts. */
static int
add_raw_property(struct parser *p, struct section *sec, const char *key,
    const char *value)
{
	struct storage_property	*props, *prop;
	struct storage		*st = &sec->st;

	if (value != NULL && strpbrk(value, "\r\n") != NULL)
		return drop_property(p, sec, key, "value contains a CR");
	if (strcmp(key, "bwlimit") == 0 && value != NULL &&
	    !sec->bwlimit_seen) {
		sec->bwlimit_seen = 1;
		if (parse_bwlimit(value, &st->bwlimit, sec->reason,
		    sizeof(sec->reason)) == -1)
			drop_property(p, sec, key, sec->reason);
	}
	props = reallocarray(st->props, st->nprops + 1, sizeof(*props));
	if (props == NULL)
		return parser_oom(p);
	st->props = props;
	prop = &props[st->nprops];
	prop->key = strdup(key);
	prop->value = value != NULL ? strdup(value) : NULL;
	if (prop->key == NULL || (value != NULL && prop->value == NULL)) {
		free(prop->key);
		free(prop->value);
		return parser_oom(p);
	}
	st->nprops++;
	return 0;
}

static int
parse_property(struct parser *p, struct section *sec)
{
	char	*key, *value;

	if (split_property(p->line, &key, &value) == -1) {
		parser_warn(p, "storage '%s': line ignored: not a property "
		    "line", sec->st.id);
		return 0;
	}
	if (sec->st.type == STORAGE_TYPE_UNSUPPORTED)
		return add_raw_property(p, sec, key, value);
	return set_dir_property(p, sec, key, value);
}

static void
remove_storage(struct storagecfg *cfg, struct storage *st)
{
	size_t	 i = (size_t)(st - cfg->storages);

	storage_free(st);
	memmove(st, st + 1, (cfg->nstorages - i - 1) * sizeof(*st));
	cfg->nstorages--;
}

/*
 * A section with a valid header replaces an earlier one with its ID even
 * when it is then dropped, as upstream's assignment of the result does.
 */
static void
replace_earlier(struct parser *p, const struct section *sec, int dropped)
{
	struct storage	*old;

	if ((old = storagecfg_find(p->cfg, sec->st.id)) == NULL)
		return;
	if (dropped)
		parser_warn(p, "storage '%s' from line %zu is lost too: the "
		    "dropped section at line %zu has the same ID", sec->st.id,
		    old->lineno, sec->st.lineno);
	else
		parser_warn(p, "storage '%s' at line %zu replaces the section "
		    "with the same ID at line %zu", sec->st.id,
		    sec->st.lineno, old->lineno);
	remove_storage(p->cfg, old);
}

/* Upstream's check_config: reasons to drop a dir section, or NULL. */
static const char *
dir_section_error(const struct section *sec)
{
	if (sec->st.type != STORAGE_TYPE_DIR)
		return NULL;
	if (sec->content_none_mixed)
		return "content 'none' cannot be combined with other types";
	if (sec->st.path == NULL)
		return "missing required property 'path'";
	return NULL;
}

static int
store_section(struct parser *p, struct section *sec)
{
	struct storagecfg	*cfg = p->cfg;
	struct storage		*storages;

	if (sec->st.type == STORAGE_TYPE_DIR && !sec->content_set)
		sec->st.content = CONTENT_BIT(CONTENT_IMAGES) |
		    CONTENT_BIT(CONTENT_ROOTDIR);
	if (is_network_type(sec->st.type_name))
		sec->st.shared = 1;
	replace_earlier(p, sec, 0);
	if (cfg->nstorages >= STORAGECFG_STORAGES_MAX) {
		set_err(p->err, p->errlen, "%s line %zu: more than %d "
		    "storages", p->name, sec->st.lineno,
		    STORAGECFG_STORAGES_MAX);
		return -1;
	}
	storages = reallocarray(cfg->storages, cfg->nstorages + 1,
	    sizeof(*storages));
	if (storages == NULL)
		return parser_oom(p);
	cfg->storages = storages;
	storages[cfg->nstorages++] = sec->st;
	storage_init(&sec->st);
	return 0;
}

static int
finish_section(struct parser *p, struct section *sec)
{
	const char	*reason;
	size_t		 lineno = p->lineno;
	int		 rc = 0;

	/* Messages about the whole section point at its header. */
	p->lineno = sec->st.lineno;
	if ((reason = dir_section_error(sec)) != NULL) {
		parser_warn(p, "storage '%s' skipped: %s", sec->st.id, reason);
		p->cfg->ndropped++;
		replace_earlier(p, sec, 1);
	} else
		rc = store_section(p, sec);
	p->lineno = lineno;
	return rc;
}

/* Consume the lines of a section that is skipped. */
static int
skip_section(struct parser *p)
{
	int	 rc;

	while ((rc = next_line(p)) == 1 && !ends_section(p->line))
		;
	return rc == -1 ? -1 : 0;
}

static int
begin_section(struct parser *p, struct section *sec, char *type,
    const char *id)
{
	char	*c, safe[SAFE_BUF];

	storage_init(&sec->st);
	for (c = type; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	if ((sec->st.type_name = strdup(type)) == NULL)
		return parser_oom(p);
	strlcpy(sec->st.id, id, sizeof(sec->st.id));
	sec->st.lineno = p->lineno;
	if (strcmp(type, "dir") == 0)
		sec->st.type = STORAGE_TYPE_DIR;
	else {
		sec->st.type = STORAGE_TYPE_UNSUPPORTED;
		parser_warn(p, "storage '%s': type '%s' is not supported by "
		    "mtunneld, kept as unsupported", id, safe_str(type, safe));
	}
	return 0;
}

static int
parse_section(struct parser *p)
{
	struct section	*sec;
	char		*type, *id, safe[SAFE_BUF];
	int		 rc;

	if (split_header(p->line, &type, &id) == -1) {
		parser_warn(p, "line ignored: not a section header "
		    "\"<type>: <id>\"");
		return 0;
	}
	if (!valid_storage_id(id)) {
		parser_warn(p, "section skipped: invalid storage ID '%s'",
		    safe_str(id, safe));
		p->cfg->ndropped++;
		return skip_section(p);
	}
	if ((sec = calloc(1, sizeof(*sec))) == NULL)
		return parser_oom(p);
	if ((rc = begin_section(p, sec, type, id)) == 0) {
		while ((rc = next_line(p)) == 1 && !ends_section(p->line))
			if ((rc = parse_property(p, sec)) == -1)
				break;
		if (rc != -1)
			rc = finish_section(p, sec);
	}
	storage_free(&sec->st);
	free(sec);
	return rc == -1 ? -1 : 0;
}

static int
sha1_hex(const char *buf, size_t len, char *hex)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen, i;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    mdlen != 20)
		return -1;
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
storagecfg_parse(struct storagecfg *cfg, const char *name, const char *buf,
    size_t len, char *err, size_t errlen)
{
	struct parser	 p;
	int		 rc;

	memset(cfg, 0, sizeof(*cfg));
	if (len > STORAGECFG_FILE_MAX) {
		set_err(err, errlen, "%s: file larger than %d bytes", name,
		    STORAGECFG_FILE_MAX);
		return -1;
	}
	if (sha1_hex(buf, len, cfg->digest) == -1) {
		set_err(err, errlen, "%s: SHA-1 digest failed", name);
		return -1;
	}
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.name = name;
	p.buf = buf;
	p.len = len;
	p.err = err;
	p.errlen = errlen;
	if ((p.line = malloc(STORAGECFG_LINE_MAX + 1)) == NULL)
		return parser_oom(&p);
	while ((rc = next_line(&p)) == 1)
		if (!ends_section(p.line) && (rc = parse_section(&p)) == -1)
			break;
	free(p.line);
	if (rc == -1) {
		storagecfg_free(cfg);
		return -1;
	}
	if (cfg->nwarnings > STORAGECFG_WARN_LOG_MAX)
		log_warnx("%s: %zu warnings in total", name, cfg->nwarnings);
	return 0;
}

/* Read at most STORAGECFG_FILE_MAX + 1 bytes, so that growth shows. */
static ssize_t
read_bounded(int fd, char *buf)
{
	size_t	 total = 0;
	ssize_t	 n;

	while (total <= STORAGECFG_FILE_MAX) {
		n = read(fd, buf + total, STORAGECFG_FILE_MAX + 1 - total);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		total += (size_t)n;
	}
	return (ssize_t)total;
}

int
storagecfg_load(struct storagecfg *cfg, const char *path, char *err,
    size_t errlen)
{
	struct stat	 sb;
	char		*buf;
	ssize_t		 len;
	int		 fd, rc;

	memset(cfg, 0, sizeof(*cfg));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (errno == ENOENT)
			return storagecfg_parse(cfg, path, "", 0, err, errlen);
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		set_err(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if ((buf = malloc(STORAGECFG_FILE_MAX + 1)) == NULL) {
		set_err(err, errlen, "%s: out of memory", path);
		close(fd);
		return -1;
	}
	len = read_bounded(fd, buf);
	if (len == -1)
		set_err(err, errlen, "%s: read: %s", path, strerror(errno));
	close(fd);
	rc = len == -1 ? -1 :
	    storagecfg_parse(cfg, path, buf, (size_t)len, err, errlen);
	free(buf);
	return rc;
}

/*
 * Questions about one storage
 */

int
storage_enabled_on(const struct storage *st, const char *node)
{
	if (st->type != STORAGE_TYPE_DIR || st->disable)
		return 0;
	return !st->nodes_set || strlist_contains(&st->nodes, node);
}

int
storage_has_content(const struct storage *st, enum storage_content c)
{
	if ((unsigned)c >= CONTENT_TYPE_COUNT)
		return 0;
	return (st->content & CONTENT_BIT(c)) != 0;
}

const char *
storage_unsupported_reason(const struct storage *st, char *buf, size_t len)
{
	char	 safe[SAFE_BUF];

	if (st->type == STORAGE_TYPE_DIR)
		return NULL;
	snprintf(buf, len, "storage '%s': type '%s' is not supported by "
	    "mtunneld", st->id, safe_str(st->type_name, safe));
	return buf;
}

const char *
storage_content_dir(const struct storage *st, enum storage_content c)
{
	if ((unsigned)c >= CONTENT_TYPE_COUNT)
		return NULL;
	if (st->content_dirs[c] != NULL)
		return st->content_dirs[c];
	return content_subdirs[c];
}

/* is_mountpoint: yes means path, no means none, anything else a path. */
const char *
storage_mountpoint(const struct storage *st)
{
	const char	*v = st->is_mountpoint;

	if (v == NULL)
		return NULL;
	switch (parse_bool_word(v, strlen(v))) {
	case 1:
		return st->path;
	case 0:
		return NULL;
	default:
		return v;
	}
}

/* create-base-path, else the deprecated mkdir, else yes. */
int
storage_create_base_path(const struct storage *st)
{
	if (st->create_base_path != -1)
		return st->create_base_path;
	if (st->mkdir != -1)
		return st->mkdir;
	return 1;
}

/* Returns 0 when create-subdirs or the deprecated mkdir is 0. */
int
storage_create_subdirs(const struct storage *st)
{
	return st->create_subdirs != 0 && st->mkdir != 0;
}

enum preallocation
storage_preallocation(const struct storage *st, enum image_format fmt)
{
	switch (fmt) {
	case IMAGE_FORMAT_QCOW2:
		if (st->preallocation == PREALLOCATION_UNSET)
			return PREALLOCATION_METADATA;
		return st->preallocation;
	case IMAGE_FORMAT_RAW:
		if (st->preallocation == PREALLOCATION_UNSET ||
		    st->preallocation == PREALLOCATION_METADATA)
			return PREALLOCATION_OFF;
		return st->preallocation;
	default:
		return PREALLOCATION_UNSET;
	}
}

/*
 * Bandwidth limits
 */

struct bwlimit_state {
	int	 op;		/* bwlimit_keys index, or -1: default only */
	double	 limit;		/* running result */
	int	 use_datacenter;
};

/* Upstream's $apply_limit: replace an unset, 0 or larger running value. */
static void
bwlimit_apply(struct bwlimit_state *s, const struct bwlimit *bw)
{
	double	 v = BWLIMIT_UNSET;

	if (bw != NULL) {
		if (s->op >= 0)
			v = bw->limit[s->op];
		if (v < 0)
			v = bw->limit[BWLIMIT_DEFAULT];
	}
	if (v < 0) {
		s->use_datacenter = 1;
		return;
	}
	if (s->limit <= 0 || v < s->limit)
		s->limit = v;
}

static int
may_bypass(const struct bwlimit_access *access, const char *path,
    const char *priv)
{
	if (access == NULL || access->check == NULL)
		return 0;
	return access->check(access->arg, path, priv) == 1;
}

static int
seen_before(const char *const *ids, size_t i)
{
	size_t	 j;

	for (j = 0; j < i; j++)
		if (ids[j] != NULL && strcmp(ids[j], ids[i]) == 0)
			return 1;
	return 0;
}

/* Step 2: returns 0, or -1 if a storage that must be checked is missing. */
static int
apply_storage_limits(const struct storagecfg *cfg, struct bwlimit_state *s,
    const char *const *ids, size_t n, int checked,
    const struct bwlimit_access *access, char *err, size_t errlen)
{
	const struct storage	*st;
	char			 path[STORAGE_ID_MAX + 16], safe[SAFE_BUF];
	size_t			 i;
	int			 plen;

	for (i = 0; i < n; i++) {
		if (ids[i] == NULL || seen_before(ids, i))
			continue;
		/* An ID too long for path cannot be a storage here. */
		plen = snprintf(path, sizeof(path), "/storage/%s", ids[i]);
		if (checked && plen > 0 && (size_t)plen < sizeof(path) &&
		    may_bypass(access, path, "Datastore.Allocate"))
			continue;
		if ((st = storagecfg_find(cfg, ids[i])) == NULL) {
			set_err(err, errlen, "storage '%s' does not exist",
			    safe_str(ids[i], safe));
			return -1;
		}
		bwlimit_apply(s, &st->bwlimit);
	}
	return 0;
}

static int
any_storage(const char *const *ids, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (ids[i] != NULL)
			return 1;
	return 0;
}

int
get_bandwidth_limit(const struct storagecfg *cfg, const char *operation,
    const char *const *ids, size_t n, const struct bwlimit *datacenter,
    double override, const struct bwlimit_access *access, double *limit,
    char *err, size_t errlen)
{
	struct bwlimit_state	 s;
	int			 checked = override >= 0;

	if (operation == NULL)
		operation = "migration";
	s.op = span_index(operation, strlen(operation), bwlimit_keys,
	    BWLIMIT_OP_COUNT);
	s.limit = checked ? override : BWLIMIT_UNSET;
	s.use_datacenter = 0;

	if (any_storage(ids, n)) {
		if (checked && may_bypass(access, "/storage",
		    "Datastore.Allocate")) {
			*limit = override;
			return 0;
		}
		if (apply_storage_limits(cfg, &s, ids, n, checked, access, err,
		    errlen) == -1)
			return -1;
		if (!s.use_datacenter) {
			*limit = s.limit;
			return 0;
		}
	}
	if (!checked || !may_bypass(access, "/", "Sys.Modify"))
		bwlimit_apply(&s, datacenter);
	*limit = s.limit;
	return 0;
}

int
storage_volume_path(const struct storagecfg *cfg, const char *volid,
    char *path, size_t pathlen, char *fmt, size_t fmtlen, char *err,
    size_t errlen)
{
	const struct storage	*s;
	struct image_volname	 iv;
	char			 id[STORAGE_ID_MAX + 1];
	char			 volname[VOLNAME_FILE_MAX + 2 * STORAGE_ID_MAX];
	char			 why[256];

	if (parse_volid(volid, id, sizeof(id), volname, sizeof(volname)) ==
	    -1) {
		snprintf(err, errlen, "invalid volume ID '%s'", volid);
		return -1;
	}
	if ((s = storagecfg_find(cfg, id)) == NULL ||
	    s->type != STORAGE_TYPE_DIR) {
		snprintf(err, errlen, "storage '%s' of volume '%s' is not a "
		    "configured dir storage", id, volid);
		return -1;
	}
	if (dir_parse_image_volname(volname, &iv, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "volume '%s': %s", volid, why);
		return -1;
	}
	if ((size_t)snprintf(path, pathlen, "%s/%s/%u/%s", s->path,
	    storage_content_dir(s, CONTENT_IMAGES), iv.vmid, iv.name) >=
	    pathlen) {
		snprintf(err, errlen, "path of volume '%s' is too long", volid);
		return -1;
	}
	strlcpy(fmt, image_format_name(iv.format), fmtlen);
	return 0;
}
