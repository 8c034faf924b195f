/*
 * user.cfg parser, writer and editor: see usercfg.h for the syntax and
 * for what happens to bad input.
 */

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "log.h"
#include "usercfg.h"

#define VIS_MAX		80	/* of a value quoted in a message */

/* Sorted, so that bit order is the order the writer uses. */
static const char *const privilege_names[PRIVILEGE_COUNT] = {
	"Datastore.Allocate",
	"Datastore.AllocateSpace",
	"Datastore.AllocateTemplate",
	"Datastore.Audit",
	"Group.Allocate",
	"Mapping.Audit",
	"Mapping.Modify",
	"Mapping.Use",
	"Permissions.Modify",
	"Pool.Allocate",
	"Pool.Audit",
	"Realm.Allocate",
	"Realm.AllocateUser",
	"SDN.Allocate",
	"SDN.Audit",
	"SDN.Use",
	"Sys.AccessNetwork",
	"Sys.Audit",
	"Sys.Console",
	"Sys.Incoming",
	"Sys.Modify",
	"Sys.PowerMgmt",
	"Sys.Syslog",
	"User.Modify",
	"VM.Allocate",
	"VM.Audit",
	"VM.Backup",
	"VM.Clone",
	"VM.Config.CDROM",
	"VM.Config.CPU",
	"VM.Config.Cloudinit",
	"VM.Config.Disk",
	"VM.Config.HWType",
	"VM.Config.Memory",
	"VM.Config.Network",
	"VM.Config.Options",
	"VM.Console",
	"VM.GuestAgent.Audit",
	"VM.GuestAgent.FileRead",
	"VM.GuestAgent.FileSystemMgmt",
	"VM.GuestAgent.FileWrite",
	"VM.GuestAgent.Unrestricted",
	"VM.Migrate",
	"VM.PowerMgmt",
	"VM.Replicate",
	"VM.Snapshot",
	"VM.Snapshot.Rollback",
};

/*
 * Built-in roles of libpve-access-control 9.1.x.  A role with "except"
 * set has every privilege but the listed ones.
 */
struct builtin_role {
	const char	*name;
	int		 except;
	const char	*privs;		/* space-separated */
};

static const struct builtin_role builtin_roles[] = {
	{ "Administrator", 1, "" },
	{ "NoAccess", 0, "" },
	{ "PVEAdmin", 1, "Permissions.Modify Sys.PowerMgmt Sys.Modify "
	    "Sys.Incoming Sys.AccessNetwork Realm.Allocate Mapping.Modify" },
	{ "PVEVMAdmin", 0, "VM.Allocate VM.Audit VM.Backup VM.Clone "
	    "VM.Config.CDROM VM.Config.CPU VM.Config.Cloudinit "
	    "VM.Config.Disk VM.Config.HWType VM.Config.Memory "
	    "VM.Config.Network VM.Config.Options VM.Console "
	    "VM.GuestAgent.Audit VM.GuestAgent.FileRead "
	    "VM.GuestAgent.FileSystemMgmt VM.GuestAgent.FileWrite "
	    "VM.GuestAgent.Unrestricted VM.Migrate VM.PowerMgmt "
	    "VM.Replicate VM.Snapshot VM.Snapshot.Rollback" },
	{ "PVEVMUser", 0, "VM.Audit VM.Backup VM.Config.CDROM "
	    "VM.Config.Cloudinit VM.Console VM.GuestAgent.Audit "
	    "VM.GuestAgent.FileRead VM.GuestAgent.FileSystemMgmt "
	    "VM.GuestAgent.FileWrite VM.PowerMgmt" },
	{ "PVEDatastoreAdmin", 0, "Datastore.Allocate "
	    "Datastore.AllocateSpace Datastore.AllocateTemplate "
	    "Datastore.Audit" },
	{ "PVEDatastoreUser", 0, "Datastore.AllocateSpace Datastore.Audit" },
	{ "PVEAuditor", 0, "Datastore.Audit Mapping.Audit Pool.Audit "
	    "SDN.Audit Sys.Audit VM.Audit VM.GuestAgent.Audit" },
	{ "PVESysAdmin", 0, "Sys.Audit Sys.Console Sys.Syslog" },
	{ "PVEUserAdmin", 0, "Group.Allocate Realm.AllocateUser User.Modify" },
	{ "PVEPoolAdmin", 0, "Pool.Allocate Pool.Audit" },
	{ "PVEPoolUser", 0, "Pool.Audit" },
	{ "PVESDNAdmin", 0, "SDN.Allocate SDN.Audit SDN.Use" },
	{ "PVESDNUser", 0, "SDN.Audit SDN.Use" },
	{ "PVEMappingAdmin", 0, "Mapping.Audit Mapping.Modify Mapping.Use" },
	{ "PVEMappingUser", 0, "Mapping.Audit Mapping.Use" },
	{ "PVETemplateUser", 0, "VM.Audit VM.Clone" },
};

#define NBUILTIN_ROLES	(sizeof(builtin_roles) / sizeof(builtin_roles[0]))

/* State of one usercfg_parse() call. */
struct parse_ctx {
	struct usercfg	*cfg;
	const char	*name;
	int		 lineno;
	char		*err;
	size_t		 errlen;
};

/* Fields after the entry type; absent trailing fields read as "". */
#define FIELDS_MAX	8

struct entry_type {
	const char	*name;
	size_t		 nfields;
	unsigned int	 lists;		/* bit i: field i is a list */
	int		(*parse)(struct parse_ctx *, char **);
};

int
privilege_bit(const char *name)
{
	int	 i;

	for (i = 0; i < PRIVILEGE_COUNT; i++)
		if (strcmp(privilege_names[i], name) == 0)
			return i;
	return -1;
}

const char *
privilege_name(int bit)
{
	if (bit < 0 || bit >= PRIVILEGE_COUNT)
		return NULL;
	return privilege_names[bit];
}

static uint64_t
builtin_mask(const struct builtin_role *r)
{
	char		 list[1024], *p, *item;
	uint64_t	 mask = 0;
	int		 bit;

	strlcpy(list, r->privs, sizeof(list));
	for (p = list; (item = strsep(&p, " ")) != NULL;) {
		if (*item == '\0')
			continue;
		if ((bit = privilege_bit(item)) == -1)
			fatalx("built-in role %s names unknown privilege %s",
			    r->name, item);
		mask |= UINT64_C(1) << bit;
	}
	return r->except ? PRIVILEGES_ALL & ~mask : mask;
}

/* Sets *privs and returns 1 for a built-in role, else returns 0. */
int
role_builtin_privs(const char *name, uint64_t *privs)
{
	size_t	 i;

	for (i = 0; i < NBUILTIN_ROLES; i++)
		if (strcmp(builtin_roles[i].name, name) == 0) {
			if (privs != NULL)
				*privs = builtin_mask(&builtin_roles[i]);
			return 1;
		}
	return 0;
}

/* The name of built-in role i, or NULL past the last one. */
const char *
role_builtin_name(size_t i)
{
	return i < NBUILTIN_ROLES ? builtin_roles[i].name : NULL;
}

/* Custom roles never shadow built-in ones: the parser skips those. */
int
usercfg_role_privs(const struct usercfg *cfg, const char *name,
    uint64_t *privs)
{
	size_t	 i;

	if (role_builtin_privs(name, privs))
		return 0;
	for (i = 0; i < cfg->nroles; i++)
		if (strcmp(cfg->roles[i].name, name) == 0) {
			*privs = cfg->roles[i].privs;
			return 0;
		}
	return -1;
}

/*
 * Normalise an ACL path: collapse runs of '/', drop a trailing '/', add a
 * leading one.  Returns -1 for an empty path, a path with a character
 * outside [A-Za-z0-9._/-], or one longer than outlen - 1.
 */
int
acl_path_normalize(const char *in, char *out, size_t outlen)
{
	size_t	 n = 0;
	char	 c;

	if (*in == '\0' || outlen < 2)
		return -1;
	out[n++] = '/';
	for (; (c = *in) != '\0'; in++) {
		if (!isalnum((unsigned char)c) && c != '.' && c != '_' &&
		    c != '-' && c != '/')
			return -1;
		if (c == '/' && out[n - 1] == '/')
			continue;
		if (n + 1 >= outlen)
			return -1;
		out[n++] = c;
	}
	if (n > 1 && out[n - 1] == '/')
		n--;
	out[n] = '\0';
	return 0;
}

/*
 * Percent-encode every byte outside 0x20-0x7e, and '%' and ':'.  Returns
 * the encoded length, or -1 when it does not fit in outlen.
 */
int
usercfg_text_encode(const char *in, char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	size_t			 n = 0;

	for (p = (const unsigned char *)in; *p != '\0'; p++) {
		if (*p >= 0x20 && *p <= 0x7e && *p != '%' && *p != ':') {
			if (n + 1 >= outlen)
				return -1;
			out[n++] = *p;
			continue;
		}
		if (n + 3 >= outlen)
			return -1;
		out[n++] = '%';
		out[n++] = hex[*p >> 4];
		out[n++] = hex[*p & 0xf];
	}
	if (n >= outlen)
		return -1;
	out[n] = '\0';
	return (int)n;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode %XX escapes (either case).  Returns -1 for a '%' without two hex
 * digits, for %00, or when the result does not fit in outlen.
 */
int
usercfg_text_decode(const char *in, char *out, size_t outlen)
{
	size_t	 n = 0;
	int	 hi, lo;

	for (; *in != '\0'; in++) {
		if (n + 1 >= outlen)
			return -1;
		if (*in != '%') {
			out[n++] = *in;
			continue;
		}
		if ((hi = hexval((unsigned char)in[1])) == -1 ||
		    (lo = hexval((unsigned char)in[2])) == -1 ||
		    (hi == 0 && lo == 0))
			return -1;
		out[n++] = (char)(hi << 4 | lo);
		in += 2;
	}
	out[n] = '\0';
	return (int)n;
}

/* Copy a value for a message: control bytes as '?', long ones cut. */
static const char *
vis_value(const char *in, char *out, size_t outlen)
{
	size_t	 n;

	for (n = 0; in[n] != '\0' && n + 4 < outlen; n++)
		out[n] = ((unsigned char)in[n] < 0x20 || in[n] == 0x7f) ?
		    '?' : in[n];
	if (in[n] != '\0' && outlen >= 4)
		strlcpy(out + n, "...", outlen - n);
	else
		out[n] = '\0';
	return out;
}

/*
 * Grow an array of n elements so that it has room for n + 1.  The
 * capacity is implied by n: 8, then the next power of two.
 */
static void *
array_grow(void *arr, size_t n, size_t size)
{
	if (n != 0 && (n < 8 || (n & (n - 1)) != 0))
		return arr;
	return reallocarray(arr, n < 8 ? 8 : n * 2, size);
}

#define ARRAY_GROW(arr, n) ({						\
	void *grown_ = array_grow((arr), (n), sizeof(*(arr)));		\
	if (grown_ != NULL)						\
		(arr) = grown_;						\
	grown_ != NULL;							\
})

static void
record_warning(struct usercfg *cfg, int skipped, const char *msg)
{
	log_warnx("%s", msg);
	if (cfg->nwarnings++ == 0)
		strlcpy(cfg->warning, msg, sizeof(cfg->warning));
	if (skipped)
		cfg->nskipped++;
}

static void __attribute__((format(printf, 3, 4)))
parse_warn(struct parse_ctx *ctx, int skipped, const char *fmt, ...)
{
	char	 msg[USERCFG_ERR_MAX], line[USERCFG_ERR_MAX + 64];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s:%d: %s", ctx->name, ctx->lineno,
	    msg);
	record_warning(ctx->cfg, skipped, line);
}

static int __attribute__((format(printf, 2, 3)))
parse_error(struct parse_ctx *ctx, const char *fmt, ...)
{
	char	 msg[USERCFG_ERR_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ctx->err, ctx->errlen, "%s:%d: %s", ctx->name, ctx->lineno,
	    msg);
	return -1;
}

/* The enable and privsep fields: true unless "" or "0". */
static int
field_true(const char *s)
{
	return s[0] != '\0' && strcmp(s, "0") != 0;
}

/* An expire field: digits only, "" for 0 (never). */
static int
parse_epoch(const char *s, int64_t *out)
{
	int64_t	 v = 0;

	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

/* The next split_list item of *p, NUL-terminated in place. */
static char *
list_next(char **p)
{
	char	*s = *p, *item;

	while (*s == ',' || *s == ';' || isspace((unsigned char)*s))
		s++;
	if (*s == '\0') {
		*p = s;
		return NULL;
	}
	item = s;
	while (*s != '\0' && *s != ',' && *s != ';' &&
	    !isspace((unsigned char)*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*p = s;
	return item;
}

/* Decode a text field into a new string; NULL on error (ctx->err set). */
static char *
parse_text(struct parse_ctx *ctx, const char *raw, const char *what,
    const char *owner)
{
	char	*out, vis[VIS_MAX];

	if ((out = malloc(strlen(raw) + 1)) == NULL) {
		parse_error(ctx, "out of memory");
		return NULL;
	}
	if (usercfg_text_decode(raw, out, strlen(raw) + 1) == -1) {
		free(out);
		parse_error(ctx, "invalid escape in the %s of '%s': expected "
		    "%%XX with two hex digits, not %%00", what,
		    vis_value(owner, vis, sizeof(vis)));
		return NULL;
	}
	return out;
}

static int
check_count(struct parse_ctx *ctx, size_t n, const char *what)
{
	if (n < USERCFG_ENTRIES_MAX)
		return 0;
	return parse_error(ctx, "more than %d %s entries", USERCFG_ENTRIES_MAX,
	    what);
}

struct usercfg_user *
usercfg_user_find(const struct usercfg *cfg, const char *userid)
{
	size_t	 i;

	for (i = 0; i < cfg->nusers; i++)
		if (strcmp(cfg->users[i].userid, userid) == 0)
			return &cfg->users[i];
	return NULL;
}

struct usercfg_token *
usercfg_token_find(const struct usercfg *cfg, const char *tokenid)
{
	size_t	 i;

	for (i = 0; i < cfg->ntokens; i++)
		if (strcmp(cfg->tokens[i].tokenid, tokenid) == 0)
			return &cfg->tokens[i];
	return NULL;
}

struct usercfg_group *
usercfg_group_find(const struct usercfg *cfg, const char *name)
{
	size_t	 i;

	for (i = 0; i < cfg->ngroups; i++)
		if (strcmp(cfg->groups[i].name, name) == 0)
			return &cfg->groups[i];
	return NULL;
}

int
usercfg_group_has(const struct usercfg_group *g, const char *userid)
{
	size_t	 i;

	for (i = 0; i < g->nmembers; i++)
		if (strcmp(g->members[i], userid) == 0)
			return 1;
	return 0;
}

static struct usercfg_role *
custom_role_find(const struct usercfg *cfg, const char *name)
{
	size_t	 i;

	for (i = 0; i < cfg->nroles; i++)
		if (strcmp(cfg->roles[i].name, name) == 0)
			return &cfg->roles[i];
	return NULL;
}

static void
user_clear(struct usercfg_user *u)
{
	free(u->first);
	free(u->last);
	free(u->email);
	free(u->comment);
	free(u->keys);
}

static void
group_clear(struct usercfg_group *g)
{
	size_t	 i;

	for (i = 0; i < g->nmembers; i++)
		free(g->members[i]);
	free(g->members);
	free(g->comment);
}

static void
pool_clear(struct usercfg_pool *p)
{
	free(p->name);
	free(p->comment);
	free(p->vmids);
	free(p->storages);
}

void
usercfg_init(struct usercfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

void
usercfg_free(struct usercfg *cfg)
{
	size_t	 i;

	for (i = 0; i < cfg->nusers; i++)
		user_clear(&cfg->users[i]);
	for (i = 0; i < cfg->ntokens; i++)
		free(cfg->tokens[i].comment);
	for (i = 0; i < cfg->ngroups; i++)
		group_clear(&cfg->groups[i]);
	for (i = 0; i < cfg->npools; i++)
		pool_clear(&cfg->pools[i]);
	free(cfg->users);
	free(cfg->tokens);
	free(cfg->groups);
	free(cfg->roles);
	free(cfg->acls);
	free(cfg->pools);
	usercfg_init(cfg);
}

/* user:USERID:ENABLE:EXPIRE:FIRST:LAST:EMAIL:COMMENT:KEYS: */
static int
parse_user(struct parse_ctx *ctx, char **f)
{
	struct usercfg		*cfg = ctx->cfg;
	struct usercfg_user	 u;
	char			 vis[VIS_MAX];

	memset(&u, 0, sizeof(u));
	if (!userid_valid(f[0])) {
		parse_warn(ctx, 1, "ignoring user '%s': invalid user name, "
		    "expected NAME@REALM", vis_value(f[0], vis, sizeof(vis)));
		return 0;
	}
	if (usercfg_user_find(cfg, f[0]) != NULL) {
		parse_warn(ctx, 1, "ignoring user '%s': already defined", f[0]);
		return 0;
	}
	if (parse_epoch(f[2], &u.expire) == -1) {
		parse_warn(ctx, 1, "ignoring user '%s': invalid expire '%s', "
		    "expected epoch seconds", f[0],
		    vis_value(f[2], vis, sizeof(vis)));
		return 0;
	}
	if (check_count(ctx, cfg->nusers, "user") == -1)
		return -1;
	strlcpy(u.userid, f[0], sizeof(u.userid));
	u.enabled = field_true(f[1]);
	if ((u.first = parse_text(ctx, f[3], "first name", f[0])) == NULL ||
	    (u.last = parse_text(ctx, f[4], "last name", f[0])) == NULL ||
	    (u.email = strdup(f[5])) == NULL ||
	    (u.comment = parse_text(ctx, f[6], "comment", f[0])) == NULL ||
	    (u.keys = strdup(f[7])) == NULL || !ARRAY_GROW(cfg->users,
	    cfg->nusers)) {
		user_clear(&u);
		if (ctx->err[0] == '\0')
			return parse_error(ctx, "out of memory");
		return -1;
	}
	cfg->users[cfg->nusers++] = u;
	return 0;
}

/* token:TOKENID:EXPIRE:PRIVSEP:COMMENT: */
static int
parse_token(struct parse_ctx *ctx, char **f)
{
	struct usercfg		*cfg = ctx->cfg;
	struct usercfg_token	 t;
	char			 user[AUTHID_MAX], vis[VIS_MAX];
	size_t			 userlen;

	memset(&t, 0, sizeof(t));
	if (!tokenid_split(f[0], &userlen)) {
		parse_warn(ctx, 1, "ignoring token '%s': invalid token id, "
		    "expected USER@REALM!NAME",
		    vis_value(f[0], vis, sizeof(vis)));
		return 0;
	}
	strlcpy(user, f[0], userlen + 1);
	if (usercfg_user_find(cfg, user) == NULL) {
		parse_warn(ctx, 1, "ignoring token '%s': user '%s' is not "
		    "defined before it", f[0], user);
		return 0;
	}
	if (usercfg_token_find(cfg, f[0]) != NULL) {
		parse_warn(ctx, 1, "ignoring token '%s': already defined",
		    f[0]);
		return 0;
	}
	if (parse_epoch(f[1], &t.expire) == -1) {
		parse_warn(ctx, 1, "ignoring token '%s': invalid expire '%s', "
		    "expected epoch seconds", f[0],
		    vis_value(f[1], vis, sizeof(vis)));
		return 0;
	}
	if (check_count(ctx, cfg->ntokens, "token") == -1)
		return -1;
	strlcpy(t.tokenid, f[0], sizeof(t.tokenid));
	t.privsep = field_true(f[2]);
	if ((t.comment = parse_text(ctx, f[3], "comment", f[0])) == NULL)
		return -1;
	if (!ARRAY_GROW(cfg->tokens, cfg->ntokens)) {
		free(t.comment);
		return parse_error(ctx, "out of memory");
	}
	cfg->tokens[cfg->ntokens++] = t;
	return 0;
}

static int
group_add_member(struct usercfg_group *g, const char *userid)
{
	char	*copy;

	if (usercfg_group_has(g, userid))
		return 0;
	if ((copy = strdup(userid)) == NULL ||
	    !ARRAY_GROW(g->members, g->nmembers)) {
		free(copy);
		return -1;
	}
	g->members[g->nmembers++] = copy;
	return 0;
}

static int
parse_group_members(struct parse_ctx *ctx, struct usercfg_group *g,
    char *list)
{
	char	*item, vis[VIS_MAX];

	while ((item = list_next(&list)) != NULL) {
		if (!userid_valid(item)) {
			parse_warn(ctx, 1, "ignoring member '%s' of group "
			    "'%s': invalid user name",
			    vis_value(item, vis, sizeof(vis)), g->name);
			continue;
		}
		if (usercfg_user_find(ctx->cfg, item) == NULL)
			parse_warn(ctx, 0, "group '%s': member '%s' is not a "
			    "defined user", g->name, item);
		if (group_add_member(g, item) == -1 ||
		    check_count(ctx, g->nmembers, "group member") == -1)
			return ctx->err[0] ? -1 :
			    parse_error(ctx, "out of memory");
	}
	return 0;
}

/* group:NAME:MEMBERS:COMMENT: */
static int
parse_group(struct parse_ctx *ctx, char **f)
{
	struct usercfg		*cfg = ctx->cfg;
	struct usercfg_group	 g;
	char			 vis[VIS_MAX];

	memset(&g, 0, sizeof(g));
	if (!usercfg_name_valid(f[0])) {
		parse_warn(ctx, 1, "ignoring group '%s': invalid group name, "
		    "expected [A-Za-z0-9._-]", vis_value(f[0], vis,
		    sizeof(vis)));
		return 0;
	}
	if (usercfg_group_find(cfg, f[0]) != NULL) {
		parse_warn(ctx, 1, "ignoring group '%s': already defined",
		    f[0]);
		return 0;
	}
	if (check_count(ctx, cfg->ngroups, "group") == -1)
		return -1;
	strlcpy(g.name, f[0], sizeof(g.name));
	if (parse_group_members(ctx, &g, f[1]) == -1 ||
	    (g.comment = parse_text(ctx, f[2], "comment", f[0])) == NULL) {
		group_clear(&g);
		return -1;
	}
	if (!ARRAY_GROW(cfg->groups, cfg->ngroups)) {
		group_clear(&g);
		return parse_error(ctx, "out of memory");
	}
	cfg->groups[cfg->ngroups++] = g;
	return 0;
}

/* role:NAME:PRIVILEGES: */
static int
parse_role(struct parse_ctx *ctx, char **f)
{
	struct usercfg		*cfg = ctx->cfg;
	struct usercfg_role	 r;
	char			*list = f[1], *item, vis[VIS_MAX];
	int			 bit;

	memset(&r, 0, sizeof(r));
	if (!usercfg_name_valid(f[0])) {
		parse_warn(ctx, 1, "ignoring role '%s': invalid role name, "
		    "expected [A-Za-z0-9._-]", vis_value(f[0], vis,
		    sizeof(vis)));
		return 0;
	}
	if (role_builtin_privs(f[0], NULL)) {
		parse_warn(ctx, 1, "ignoring role '%s': a built-in role "
		    "cannot be redefined", f[0]);
		return 0;
	}
	if (custom_role_find(cfg, f[0]) != NULL) {
		parse_warn(ctx, 1, "ignoring role '%s': already defined", f[0]);
		return 0;
	}
	if (check_count(ctx, cfg->nroles, "role") == -1)
		return -1;
	strlcpy(r.name, f[0], sizeof(r.name));
	while ((item = list_next(&list)) != NULL) {
		if ((bit = privilege_bit(item)) == -1) {
			parse_warn(ctx, 1, "role '%s': ignoring unknown "
			    "privilege '%s'", f[0],
			    vis_value(item, vis, sizeof(vis)));
			continue;
		}
		r.privs |= UINT64_C(1) << bit;
	}
	if (!ARRAY_GROW(cfg->roles, cfg->nroles))
		return parse_error(ctx, "out of memory");
	cfg->roles[cfg->nroles++] = r;
	return 0;
}

static struct usercfg_acl *
acl_find(const struct usercfg *cfg, const char *path, const char *member,
    const char *role)
{
	size_t	 i;

	for (i = 0; i < cfg->nacls; i++)
		if (strcmp(cfg->acls[i].path, path) == 0 &&
		    strcmp(cfg->acls[i].member, member) == 0 &&
		    strcmp(cfg->acls[i].role, role) == 0)
			return &cfg->acls[i];
	return NULL;
}

/*
 * Add the (path, member, role) entry or, when it exists, change its
 * propagate flag, so that a later line for the same triple wins.
 */
static int
acl_put(struct usercfg *cfg, const char *path, const char *member,
    enum acl_member_kind kind, const char *role, int propagate)
{
	struct usercfg_acl	*a;

	if ((a = acl_find(cfg, path, member, role)) != NULL) {
		a->propagate = propagate;
		return 0;
	}
	if (cfg->nacls >= USERCFG_ENTRIES_MAX) {
		errno = E2BIG;
		return -1;
	}
	if (!ARRAY_GROW(cfg->acls, cfg->nacls))
		return -1;
	a = &cfg->acls[cfg->nacls++];
	memset(a, 0, sizeof(*a));
	strlcpy(a->path, path, sizeof(a->path));
	strlcpy(a->member, member, sizeof(a->member));
	strlcpy(a->role, role, sizeof(a->role));
	a->kind = kind;
	a->propagate = propagate;
	return 0;
}

/*
 * Classify an ACL member: "@group", else a userid, else a token id.
 * Returns -1 for none of them.
 */
static int
acl_member_kind(const char *m, enum acl_member_kind *kind)
{
	if (m[0] == '@' && usercfg_name_valid(m + 1))
		*kind = ACL_MEMBER_GROUP;
	else if (userid_valid(m))
		*kind = ACL_MEMBER_USER;
	else if (tokenid_valid(m))
		*kind = ACL_MEMBER_TOKEN;
	else
		return -1;
	return 0;
}

/* Returns 1 when the member is kept, 0 when it is dropped. */
static int
acl_member_check(struct parse_ctx *ctx, const char *m,
    enum acl_member_kind *kind)
{
	struct usercfg	*cfg = ctx->cfg;
	char		 vis[VIS_MAX];

	if (acl_member_kind(m, kind) == -1) {
		parse_warn(ctx, 1, "ignoring ACL member '%s': not a user, "
		    "@group or token id", vis_value(m, vis, sizeof(vis)));
		return 0;
	}
	switch (*kind) {
	case ACL_MEMBER_GROUP:
		if (usercfg_group_find(cfg, m + 1) == NULL)
			parse_warn(ctx, 0, "ACL group '%s' is not defined", m);
		break;
	case ACL_MEMBER_USER:
		if (strcmp(m, "root@pam") == 0)
			return 0;
		if (usercfg_user_find(cfg, m) == NULL)
			parse_warn(ctx, 0, "ACL user '%s' is not defined", m);
		break;
	case ACL_MEMBER_TOKEN:
		if (usercfg_token_find(cfg, m) == NULL) {
			parse_warn(ctx, 1, "ignoring ACL token '%s': not "
			    "defined before the ACL", m);
			return 0;
		}
		break;
	}
	return 1;
}

#define ACL_LINE_ROLES_MAX	256

/*
 * Collect the distinct roles of an ACL line that exist.  Returns how many,
 * or -1 (with ctx->err set) for more than ACL_LINE_ROLES_MAX.
 */
static int
acl_roles_check(struct parse_ctx *ctx, char *list, char **roles)
{
	char		*item, vis[VIS_MAX];
	int		 n = 0, i;
	uint64_t	 privs;

	while ((item = list_next(&list)) != NULL) {
		if (!usercfg_name_valid(item) ||
		    usercfg_role_privs(ctx->cfg, item, &privs) == -1) {
			parse_warn(ctx, 1, "ignoring ACL role '%s': not "
			    "defined before the ACL",
			    vis_value(item, vis, sizeof(vis)));
			continue;
		}
		for (i = 0; i < n && strcmp(roles[i], item) != 0; i++)
			;
		if (i < n)
			continue;
		if (n == ACL_LINE_ROLES_MAX)
			return parse_error(ctx, "more than %d roles in one "
			    "ACL line", ACL_LINE_ROLES_MAX);
		roles[n++] = item;
	}
	return n;
}

static int
acl_put_roles(struct parse_ctx *ctx, const char *path, const char *member,
    enum acl_member_kind kind, char **roles, int nroles, int propagate)
{
	int	 i;

	for (i = 0; i < nroles; i++) {
		if (acl_put(ctx->cfg, path, member, kind, roles[i],
		    propagate) == 0)
			continue;
		if (errno == E2BIG)
			return parse_error(ctx, "more than %d ACL entries",
			    USERCFG_ENTRIES_MAX);
		return parse_error(ctx, "out of memory");
	}
	return 0;
}

/* acl:PROPAGATE:PATH:MEMBERS:ROLES: */
static int
parse_acl(struct parse_ctx *ctx, char **f)
{
	char			 path[USERCFG_PATH_MAX + 1], vis[VIS_MAX];
	char			*roles[ACL_LINE_ROLES_MAX], *members = f[2], *m;
	int			 nroles;
	enum acl_member_kind	 kind;

	if (strcmp(f[0], "0") != 0 && strcmp(f[0], "1") != 0) {
		/* NOTE: other values are skipped, not read as true. */
		parse_warn(ctx, 1, "ignoring ACL: invalid propagate '%s', "
		    "expected 0 or 1", vis_value(f[0], vis, sizeof(vis)));
		return 0;
	}
	if (acl_path_normalize(f[1], path, sizeof(path)) == -1) {
		parse_warn(ctx, 1, "ignoring ACL: invalid path '%s', expected "
		    "/ and [A-Za-z0-9._-]", vis_value(f[1], vis, sizeof(vis)));
		return 0;
	}
	if (f[2][0] == '\0' || f[3][0] == '\0') {
		parse_warn(ctx, 1, "ignoring ACL on %s: no %s", path,
		    f[2][0] == '\0' ? "members" : "roles");
		return 0;
	}
	if ((nroles = acl_roles_check(ctx, f[3], roles)) == -1)
		return -1;
	while ((m = list_next(&members)) != NULL) {
		if (!acl_member_check(ctx, m, &kind))
			continue;
		if (acl_put_roles(ctx, path, m, kind, roles, nroles,
		    f[0][0] == '1') == -1)
			return -1;
	}
	return 0;
}

/* A pool name: up to 3 levels of [A-Za-z0-9._-]+ separated by '/'. */
static int
pool_name_valid(const char *s)
{
	char	 copy[3 * (USERCFG_NAME_MAX + 1)], *p = copy, *level;
	int	 n = 0;

	if (strlcpy(copy, s, sizeof(copy)) >= sizeof(copy))
		return 0;
	while ((level = strsep(&p, "/")) != NULL)
		if (++n > 3 || !usercfg_name_valid(level))
			return 0;
	return 1;
}

/*
 * pool:NAME:COMMENT:VMIDS:STORAGES: is kept as stored.  NOTE: pools are
 * not evaluated: roles on /pool/NAME do not extend to the pool's VMs and
 * storages, as they would upstream.
 */
static int
parse_pool(struct parse_ctx *ctx, char **f)
{
	struct usercfg		*cfg = ctx->cfg;
	struct usercfg_pool	 p;
	char			 vis[VIS_MAX];

	if (!pool_name_valid(f[0])) {
		parse_warn(ctx, 1, "ignoring pool '%s': invalid pool name",
		    vis_value(f[0], vis, sizeof(vis)));
		return 0;
	}
	parse_warn(ctx, 0, "pool '%s' is kept but not evaluated: roles on "
	    "/pool/%s do not apply to its members", f[0], f[0]);
	if (check_count(ctx, cfg->npools, "pool") == -1)
		return -1;
	p.name = strdup(f[0]);
	p.comment = strdup(f[1]);
	p.vmids = strdup(f[2]);
	p.storages = strdup(f[3]);
	if (p.name == NULL || p.comment == NULL || p.vmids == NULL ||
	    p.storages == NULL || !ARRAY_GROW(cfg->pools, cfg->npools)) {
		pool_clear(&p);
		return parse_error(ctx, "out of memory");
	}
	cfg->pools[cfg->npools++] = p;
	return 0;
}

/* Field list bits: group 1, role 0, acl 2 and 3, pool 2 and 3. */
static const struct entry_type entry_types[] = {
	{ "user", 8, 0x00, parse_user },
	{ "token", 4, 0x00, parse_token },
	{ "group", 3, 0x02, parse_group },
	{ "pool", 4, 0x0c, parse_pool },
	{ "role", 2, 0x02, parse_role },
	{ "acl", 4, 0x0c, parse_acl },
};

static char *
trim(char *s)
{
	size_t	 len;

	while (isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	return s;
}

/*
 * Split a trimmed line on ':' and trim each field.  Trailing empty fields
 * are dropped, as Perl's split does.  Returns the number of fields, or
 * max + 1 when there are more than max.
 */
static size_t
split_fields(char *line, char **f, size_t max)
{
	size_t	 n = 0, extra = 0;
	char	*p = line, *field;

	while ((field = strsep(&p, ":")) != NULL) {
		field = trim(field);
		if (n < max)
			f[n++] = field;
		else if (*field != '\0')
			extra = 1;
	}
	if (extra)
		return max + 1;
	while (n > 0 && f[n - 1][0] == '\0')
		n--;
	return n;
}

static int
parse_line(struct parse_ctx *ctx, char *line)
{
	const struct entry_type	*et = NULL;
	char			*f[FIELDS_MAX + 2], vis[VIS_MAX];
	size_t			 n, i, max;

	line = trim(line);
	if (*line == '\0')
		return 0;
	n = split_fields(line, f, FIELDS_MAX + 1);
	for (i = 0; i < sizeof(entry_types) / sizeof(entry_types[0]); i++)
		if (n > 0 && strcmp(entry_types[i].name, f[0]) == 0)
			et = &entry_types[i];
	if (et == NULL) {
		parse_warn(ctx, 1, "ignoring unknown entry type '%s'",
		    vis_value(n > 0 ? f[0] : "", vis, sizeof(vis)));
		return 0;
	}
	if (n > et->nfields + 1)
		return parse_error(ctx, "too many fields in a '%s' entry: "
		    "expected at most %zu", et->name, et->nfields);
	for (i = 0; i < et->nfields; i++) {
		if (i + 1 >= n)
			f[i + 1] = "";
		max = (et->lists & (1U << i)) ? USERCFG_LIST_MAX :
		    USERCFG_FIELD_MAX;
		if (strlen(f[i + 1]) > max)
			return parse_error(ctx, "field %zu of a '%s' entry is "
			    "longer than %zu bytes", i + 2, et->name, max);
	}
	return et->parse(ctx, f + 1);
}

/* Put the line of byte offset off in ctx->lineno. */
static void
set_lineno(struct parse_ctx *ctx, const char *buf, size_t off)
{
	size_t	 i;

	ctx->lineno = 1;
	for (i = 0; i < off; i++)
		if (buf[i] == '\n')
			ctx->lineno++;
}

static int
parse_lines(struct parse_ctx *ctx, char *copy)
{
	char	*p = copy, *line;

	ctx->lineno = 0;
	while ((line = strsep(&p, "\n")) != NULL) {
		ctx->lineno++;
		if (parse_line(ctx, line) == -1)
			return -1;
	}
	return 0;
}

/*
 * Parse user.cfg held in memory; name is used in messages.  On error,
 * returns -1 with "NAME:LINE: what is wrong" in err and cfg empty.
 */
int
usercfg_parse(struct usercfg *cfg, const char *name, const char *buf,
    size_t len, char *err, size_t errlen)
{
	struct parse_ctx	 ctx = { cfg, name, 0, err, errlen };
	const char		*nul;
	char			*copy;
	int			 rv;

	usercfg_init(cfg);
	if (errlen > 0)
		err[0] = '\0';
	if (len > USERCFG_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", name,
		    USERCFG_FILE_MAX);
		return -1;
	}
	if ((nul = memchr(buf, '\0', len)) != NULL) {
		set_lineno(&ctx, buf, nul - buf);
		return parse_error(&ctx, "NUL byte in line");
	}
	if ((copy = malloc(len + 1)) == NULL)
		return parse_error(&ctx, "out of memory");
	memcpy(copy, buf, len);
	copy[len] = '\0';
	rv = parse_lines(&ctx, copy);
	free(copy);
	if (rv == -1)
		usercfg_free(cfg);
	return rv;
}

static int
read_all(int fd, char **bufp, size_t *lenp)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 n;

	if ((buf = malloc(USERCFG_FILE_MAX + 1)) == NULL)
		return -1;
	while (len <= USERCFG_FILE_MAX &&
	    (n = read(fd, buf + len, USERCFG_FILE_MAX + 1 - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -1;
		}
		len += n;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

/*
 * Read and parse a user.cfg file.  A missing file is an error with errno
 * ENOENT, so that a caller can treat it as an empty file.
 */
int
usercfg_load(struct usercfg *cfg, const char *path, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		*buf;
	size_t		 len;
	int		 fd, rv, saved;

	usercfg_init(cfg);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		saved = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		errno = saved;
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (read_all(fd, &buf, &len) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	rv = usercfg_parse(cfg, path, buf, len, err, errlen);
	free(buf);
	if (rv == -1)
		errno = EINVAL;
	return rv;
}

/*
 * Check that authid (a userid or token id) may log in at time now: the
 * user exists, is enabled and has not expired, and for a token the token
 * exists and has not expired.  An expire of 0 is never; otherwise it must
 * be later than now.  The secret is the caller's to check.
 */
int
usercfg_check_login(const struct usercfg *cfg, const char *authid,
    int64_t now, char *why, size_t whylen)
{
	const struct usercfg_user	*u;
	const struct usercfg_token	*t = NULL;
	char				 user[AUTHID_MAX];
	size_t				 userlen;

	if (tokenid_split(authid, &userlen)) {
		strlcpy(user, authid, userlen + 1);
		if ((t = usercfg_token_find(cfg, authid)) == NULL) {
			snprintf(why, whylen, "token '%s' does not exist",
			    authid);
			return -1;
		}
	} else if (userid_valid(authid))
		strlcpy(user, authid, sizeof(user));
	else {
		snprintf(why, whylen, "invalid user or token id");
		return -1;
	}
	if ((u = usercfg_user_find(cfg, user)) == NULL) {
		snprintf(why, whylen, "user '%s' does not exist", user);
		return -1;
	}
	if (!u->enabled) {
		snprintf(why, whylen, "user '%s' is disabled", user);
		return -1;
	}
	if (u->expire != 0 && u->expire <= now) {
		snprintf(why, whylen, "user '%s' expired at %lld", user,
		    (long long)u->expire);
		return -1;
	}
	if (t != NULL && t->expire != 0 && t->expire <= now) {
		snprintf(why, whylen, "token '%s' expired at %lld", authid,
		    (long long)t->expire);
		return -1;
	}
	return 0;
}

/* Write free text percent-encoded, as usercfg_text_encode() does. */
static void
put_text(FILE *fp, const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p >= 0x20 && *p <= 0x7e && *p != '%' && *p != ':')
			putc(*p, fp);
		else
			fprintf(fp, "%%%02X", *p);
}

static void
section_start(FILE *fp, int *any)
{
	if (*any)
		putc('\n', fp);
	*any = 1;
}

static int
cmp_user(const void *a, const void *b)
{
	const struct usercfg_user *const	*ua = a, *const *ub = b;

	return strcmp((*ua)->userid, (*ub)->userid);
}

static int
cmp_token(const void *a, const void *b)
{
	const struct usercfg_token *const	*ta = a, *const *tb = b;

	return strcmp((*ta)->tokenid, (*tb)->tokenid);
}

static int
cmp_group(const void *a, const void *b)
{
	const struct usercfg_group *const	*ga = a, *const *gb = b;

	return strcmp((*ga)->name, (*gb)->name);
}

static int
cmp_pool(const void *a, const void *b)
{
	const struct usercfg_pool *const	*pa = a, *const *pb = b;

	return strcmp((*pa)->name, (*pb)->name);
}

static int
cmp_role(const void *a, const void *b)
{
	const struct usercfg_role *const	*ra = a, *const *rb = b;

	return strcmp((*ra)->name, (*rb)->name);
}

static int
cmp_string(const void *a, const void *b)
{
	const char *const	*sa = a, *const *sb = b;

	return strcmp(*sa, *sb);
}

/*
 * An array of pointers to the n elements of arr, sorted with cmp.  For
 * n == 0 it returns a valid pointer too.
 */
static void *
sorted_ptrs(const void *arr, size_t n, size_t size,
    int (*cmp)(const void *, const void *))
{
	const char	**v;
	size_t		  i;

	if ((v = reallocarray(NULL, n + 1, sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		v[i] = (const char *)arr + i * size;
	qsort(v, n, sizeof(*v), cmp);
	return v;
}

/* True when tokenid belongs to userid. */
static int
token_of(const char *tokenid, const char *userid)
{
	size_t	 userlen;

	return tokenid_split(tokenid, &userlen) &&
	    userlen == strlen(userid) &&
	    strncmp(tokenid, userid, userlen) == 0;
}

static void
write_user(FILE *fp, const struct usercfg_user *u,
    struct usercfg_token **tokens, size_t ntokens)
{
	size_t	 i;

	fprintf(fp, "user:%s:%d:%lld:", u->userid, u->enabled ? 1 : 0,
	    (long long)u->expire);
	put_text(fp, u->first);
	putc(':', fp);
	put_text(fp, u->last);
	fprintf(fp, ":%s:", u->email);
	put_text(fp, u->comment);
	fprintf(fp, ":%s:\n", u->keys);

	for (i = 0; i < ntokens; i++) {
		if (!token_of(tokens[i]->tokenid, u->userid))
			continue;
		fprintf(fp, "token:%s:%lld:%d:", tokens[i]->tokenid,
		    (long long)tokens[i]->expire, tokens[i]->privsep ? 1 : 0);
		put_text(fp, tokens[i]->comment);
		fputs(":\n", fp);
	}
}

static int
write_users(const struct usercfg *cfg, FILE *fp, int *any)
{
	struct usercfg_user	**users;
	struct usercfg_token	**tokens;
	size_t			  i;

	users = sorted_ptrs(cfg->users, cfg->nusers, sizeof(*cfg->users),
	    cmp_user);
	tokens = sorted_ptrs(cfg->tokens, cfg->ntokens, sizeof(*cfg->tokens),
	    cmp_token);
	if (users == NULL || tokens == NULL) {
		free(users);
		free(tokens);
		return -1;
	}
	if (cfg->nusers > 0)
		section_start(fp, any);
	for (i = 0; i < cfg->nusers; i++)
		write_user(fp, users[i], tokens, cfg->ntokens);
	free(users);
	free(tokens);
	return 0;
}

static int
write_group(FILE *fp, const struct usercfg_group *g)
{
	char	**members;
	size_t	  i;

	if ((members = reallocarray(NULL, g->nmembers + 1,
	    sizeof(*members))) == NULL)
		return -1;
	if (g->nmembers > 0)
		memcpy(members, g->members, g->nmembers * sizeof(*members));
	qsort(members, g->nmembers, sizeof(*members), cmp_string);
	fprintf(fp, "group:%s:", g->name);
	for (i = 0; i < g->nmembers; i++)
		fprintf(fp, "%s%s", i > 0 ? "," : "", members[i]);
	putc(':', fp);
	put_text(fp, g->comment);
	fputs(":\n", fp);
	free(members);
	return 0;
}

static int
write_groups(const struct usercfg *cfg, FILE *fp, int *any)
{
	struct usercfg_group	**groups;
	size_t			  i;
	int			  rv = 0;

	groups = sorted_ptrs(cfg->groups, cfg->ngroups, sizeof(*cfg->groups),
	    cmp_group);
	if (groups == NULL)
		return -1;
	if (cfg->ngroups > 0)
		section_start(fp, any);
	for (i = 0; i < cfg->ngroups && rv == 0; i++)
		rv = write_group(fp, groups[i]);
	free(groups);
	return rv;
}

static int
write_pools(const struct usercfg *cfg, FILE *fp, int *any)
{
	struct usercfg_pool	**pools;
	size_t			  i;

	pools = sorted_ptrs(cfg->pools, cfg->npools, sizeof(*cfg->pools),
	    cmp_pool);
	if (pools == NULL)
		return -1;
	if (cfg->npools > 0)
		section_start(fp, any);
	for (i = 0; i < cfg->npools; i++)
		fprintf(fp, "pool:%s:%s:%s:%s:\n", pools[i]->name,
		    pools[i]->comment, pools[i]->vmids, pools[i]->storages);
	free(pools);
	return 0;
}

static int
write_roles(const struct usercfg *cfg, FILE *fp, int *any)
{
	struct usercfg_role	**roles;
	size_t			  i;
	int			  bit, n;

	roles = sorted_ptrs(cfg->roles, cfg->nroles, sizeof(*cfg->roles),
	    cmp_role);
	if (roles == NULL)
		return -1;
	if (cfg->nroles > 0)
		section_start(fp, any);
	for (i = 0; i < cfg->nroles; i++) {
		fprintf(fp, "role:%s:", roles[i]->name);
		for (bit = 0, n = 0; bit < PRIVILEGE_COUNT; bit++)
			if (roles[i]->privs & (UINT64_C(1) << bit))
				fprintf(fp, "%s%s", n++ > 0 ? "," : "",
				    privilege_names[bit]);
		fputs(":\n", fp);
	}
	free(roles);
	return 0;
}

/*
 * Tree order: a path comes before the paths below it ('/' sorts before
 * every other character), compared case-insensitively first.
 */
static int
path_cmp(const char *a, const char *b)
{
	const unsigned char	*pa = (const unsigned char *)a;
	const unsigned char	*pb = (const unsigned char *)b;
	int			 ca, cb;

	for (;; pa++, pb++) {
		ca = *pa == '/' ? 1 : tolower(*pa);
		cb = *pb == '/' ? 1 : tolower(*pb);
		if (ca != cb)
			return ca - cb;
		if (ca == 0)
			return strcmp(a, b);
	}
}

static int
cmp_acl(const void *a, const void *b)
{
	const struct usercfg_acl *const	*pa = a, *const *pb = b;
	const struct usercfg_acl	*x = *pa, *y = *pb;
	int				 c;

	if ((c = path_cmp(x->path, y->path)) != 0)
		return c;
	if (x->propagate != y->propagate)
		return x->propagate - y->propagate;
	if ((c = strcmp(x->member, y->member)) != 0)
		return c;
	return strcmp(x->role, y->role);
}

/* One member's roles at one path and propagate value. */
struct acl_line_part {
	char		*roles;		/* sorted, joined with ',' */
	const char	*member;
};

static int
cmp_part(const void *a, const void *b)
{
	const struct acl_line_part	*x = a, *y = b;
	int				 c;

	if ((c = strcmp(x->roles, y->roles)) != 0)
		return c;
	return strcmp(x->member, y->member);
}

/* Join the roles of acl[0..n) (one member, sorted) with ','. */
static char *
join_roles(struct usercfg_acl **acl, size_t n)
{
	size_t	 i, len = 0;
	char	*s;

	for (i = 0; i < n; i++)
		len += strlen(acl[i]->role) + 1;
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strlcat(s, ",", len + 1);
		strlcat(s, acl[i]->role, len + 1);
	}
	return s;
}

/* Print the parts as lines; members with equal role lists share one. */
static void
write_acl_parts(FILE *fp, const struct usercfg_acl *first,
    struct acl_line_part *parts, size_t nparts)
{
	size_t	 i;

	qsort(parts, nparts, sizeof(*parts), cmp_part);
	for (i = 0; i < nparts; i++) {
		if (i == 0 || strcmp(parts[i].roles, parts[i - 1].roles) != 0)
			fprintf(fp, "%sacl:%d:%s:%s", i > 0 ? ":\n" : "",
			    first->propagate, first->path, parts[i].member);
		else
			fprintf(fp, ",%s", parts[i].member);
		if (i + 1 == nparts || strcmp(parts[i].roles,
		    parts[i + 1].roles) != 0)
			fprintf(fp, ":%s", parts[i].roles);
	}
	if (nparts > 0)
		fputs(":\n", fp);
}

/* Write the entries acl[0..n), which share path and propagate. */
static int
write_acl_group(FILE *fp, struct usercfg_acl **acl, size_t n)
{
	struct acl_line_part	*parts;
	size_t			 i, j, nparts = 0;
	int			 rv = 0;

	if ((parts = reallocarray(NULL, n, sizeof(*parts))) == NULL)
		return -1;
	for (i = 0; i < n; i = j) {
		for (j = i; j < n && strcmp(acl[j]->member,
		    acl[i]->member) == 0; j++)
			;
		parts[nparts].member = acl[i]->member;
		if ((parts[nparts].roles = join_roles(acl + i, j - i)) ==
		    NULL) {
			rv = -1;
			break;
		}
		nparts++;
	}
	if (rv == 0)
		write_acl_parts(fp, acl[0], parts, nparts);
	for (i = 0; i < nparts; i++)
		free(parts[i].roles);
	free(parts);
	return rv;
}

static int
write_acls(const struct usercfg *cfg, FILE *fp, int *any)
{
	struct usercfg_acl	**acl;
	size_t			  i, j;
	int			  rv = 0;

	acl = sorted_ptrs(cfg->acls, cfg->nacls, sizeof(*cfg->acls), cmp_acl);
	if (acl == NULL)
		return -1;
	if (cfg->nacls > 0)
		section_start(fp, any);
	for (i = 0; i < cfg->nacls && rv == 0; i = j) {
		for (j = i; j < cfg->nacls &&
		    strcmp(acl[j]->path, acl[i]->path) == 0 &&
		    acl[j]->propagate == acl[i]->propagate; j++)
			;
		rv = write_acl_group(fp, acl + i, j - i);
	}
	free(acl);
	return rv;
}

/*
 * Write cfg in upstream's order: users each followed by its tokens, then
 * groups, pools, custom roles and ACLs, each sorted, with a blank line
 * between sections that have entries.  Returns -1 when out of memory or
 * when the stream has an error.
 */
int
usercfg_write(const struct usercfg *cfg, FILE *fp)
{
	int	 any = 0;

	if (write_users(cfg, fp, &any) == -1 ||
	    write_groups(cfg, fp, &any) == -1 ||
	    write_pools(cfg, fp, &any) == -1 ||
	    write_roles(cfg, fp, &any) == -1 ||
	    write_acls(cfg, fp, &any) == -1)
		return -1;
	return ferror(fp) ? -1 : 0;
}

static int __attribute__((format(printf, 3, 4)))
edit_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* A copy of a comment for a new entry, checked to fit once encoded. */
static char *
edit_comment(const char *comment, char *err, size_t errlen)
{
	char	 enc[USERCFG_FIELD_MAX + 1], *copy;

	if (comment == NULL)
		comment = "";
	if (usercfg_text_encode(comment, enc, sizeof(enc)) == -1) {
		edit_error(err, errlen, "comment is longer than %d bytes once "
		    "encoded; shorten it", USERCFG_FIELD_MAX);
		return NULL;
	}
	if ((copy = strdup(comment)) == NULL)
		edit_error(err, errlen, "out of memory");
	return copy;
}

int
usercfg_user_add(struct usercfg *cfg, const char *userid, int enabled,
    int64_t expire, const char *comment, char *err, size_t errlen)
{
	struct usercfg_user	 u;

	memset(&u, 0, sizeof(u));
	if (!userid_valid(userid))
		return edit_error(err, errlen, "invalid user id '%s': expected "
		    "NAME@REALM, %d to %d characters, REALM of "
		    "[A-Za-z][A-Za-z0-9._-]+", userid, USERID_MIN, USERID_MAX);
	if (usercfg_user_find(cfg, userid) != NULL)
		return edit_error(err, errlen, "user '%s' already exists",
		    userid);
	if (expire < 0)
		return edit_error(err, errlen, "invalid expire %lld: expected "
		    "epoch seconds, or 0 for never", (long long)expire);
	if (cfg->nusers >= USERCFG_ENTRIES_MAX)
		return edit_error(err, errlen, "already %d users",
		    USERCFG_ENTRIES_MAX);
	strlcpy(u.userid, userid, sizeof(u.userid));
	u.enabled = enabled;
	u.expire = expire;
	if ((u.comment = edit_comment(comment, err, errlen)) == NULL)
		return -1;
	if ((u.first = strdup("")) == NULL || (u.last = strdup("")) == NULL ||
	    (u.email = strdup("")) == NULL || (u.keys = strdup("")) == NULL ||
	    !ARRAY_GROW(cfg->users, cfg->nusers)) {
		user_clear(&u);
		return edit_error(err, errlen, "out of memory");
	}
	cfg->users[cfg->nusers++] = u;
	return 0;
}

/* Remove the ACL entries naming member; returns how many. */
static size_t
acl_remove_member(struct usercfg *cfg, const char *member)
{
	size_t	 i, n = 0, removed = 0;

	for (i = 0; i < cfg->nacls; i++) {
		if (strcmp(cfg->acls[i].member, member) == 0) {
			removed++;
			continue;
		}
		cfg->acls[n++] = cfg->acls[i];
	}
	cfg->nacls = n;
	return removed;
}

static void
group_remove_member(struct usercfg_group *g, const char *userid)
{
	size_t	 i, n = 0;

	for (i = 0; i < g->nmembers; i++) {
		if (strcmp(g->members[i], userid) == 0) {
			free(g->members[i]);
			continue;
		}
		g->members[n++] = g->members[i];
	}
	g->nmembers = n;
}

static void
token_delete(struct usercfg *cfg, size_t i)
{
	acl_remove_member(cfg, cfg->tokens[i].tokenid);
	free(cfg->tokens[i].comment);
	memmove(&cfg->tokens[i], &cfg->tokens[i + 1],
	    (cfg->ntokens - i - 1) * sizeof(*cfg->tokens));
	cfg->ntokens--;
}

/* Remove a user with its tokens, its ACL entries and group memberships. */
int
usercfg_user_remove(struct usercfg *cfg, const char *userid, char *err,
    size_t errlen)
{
	struct usercfg_user	*u;
	size_t			 i;

	if ((u = usercfg_user_find(cfg, userid)) == NULL)
		return edit_error(err, errlen, "user '%s' does not exist",
		    userid);
	for (i = cfg->ntokens; i > 0; i--)
		if (token_of(cfg->tokens[i - 1].tokenid, userid))
			token_delete(cfg, i - 1);
	acl_remove_member(cfg, userid);
	for (i = 0; i < cfg->ngroups; i++)
		group_remove_member(&cfg->groups[i], userid);
	user_clear(u);
	i = u - cfg->users;
	memmove(u, u + 1, (cfg->nusers - i - 1) * sizeof(*u));
	cfg->nusers--;
	return 0;
}

int
usercfg_token_add(struct usercfg *cfg, const char *tokenid, int privsep,
    int64_t expire, const char *comment, char *err, size_t errlen)
{
	struct usercfg_token	 t;
	char			 user[AUTHID_MAX];
	size_t			 userlen;

	memset(&t, 0, sizeof(t));
	if (!tokenid_split(tokenid, &userlen))
		return edit_error(err, errlen, "invalid token id '%s': "
		    "expected USER@REALM!NAME, NAME of "
		    "[A-Za-z][A-Za-z0-9._-]+, at most %d characters", tokenid,
		    TOKENID_MAX);
	strlcpy(user, tokenid, userlen + 1);
	if (usercfg_user_find(cfg, user) == NULL)
		return edit_error(err, errlen, "user '%s' does not exist; "
		    "add the user first", user);
	if (usercfg_token_find(cfg, tokenid) != NULL)
		return edit_error(err, errlen, "token '%s' already exists",
		    tokenid);
	if (expire < 0)
		return edit_error(err, errlen, "invalid expire %lld: expected "
		    "epoch seconds, or 0 for never", (long long)expire);
	if (cfg->ntokens >= USERCFG_ENTRIES_MAX)
		return edit_error(err, errlen, "already %d tokens",
		    USERCFG_ENTRIES_MAX);
	strlcpy(t.tokenid, tokenid, sizeof(t.tokenid));
	t.privsep = privsep;
	t.expire = expire;
	if ((t.comment = edit_comment(comment, err, errlen)) == NULL)
		return -1;
	if (!ARRAY_GROW(cfg->tokens, cfg->ntokens)) {
		free(t.comment);
		return edit_error(err, errlen, "out of memory");
	}
	cfg->tokens[cfg->ntokens++] = t;
	return 0;
}

/* Remove a token and the ACL entries naming it. */
int
usercfg_token_remove(struct usercfg *cfg, const char *tokenid, char *err,
    size_t errlen)
{
	struct usercfg_token	*t;

	if ((t = usercfg_token_find(cfg, tokenid)) == NULL)
		return edit_error(err, errlen, "token '%s' does not exist",
		    tokenid);
	token_delete(cfg, t - cfg->tokens);
	return 0;
}

/* Check that an ACL member is valid and defined; sets *kind. */
static int
edit_acl_member(const struct usercfg *cfg, const char *member,
    enum acl_member_kind *kind, char *err, size_t errlen)
{
	if (acl_member_kind(member, kind) == -1)
		return edit_error(err, errlen, "invalid ACL member '%s': "
		    "expected USER@REALM, USER@REALM!TOKEN or @GROUP", member);
	if (strcmp(member, "root@pam") == 0)
		return edit_error(err, errlen, "root@pam has every privilege; "
		    "ACL entries for it are never stored");
	if ((*kind == ACL_MEMBER_USER && usercfg_user_find(cfg,
	    member) == NULL) || (*kind == ACL_MEMBER_TOKEN &&
	    usercfg_token_find(cfg, member) == NULL) ||
	    (*kind == ACL_MEMBER_GROUP && usercfg_group_find(cfg,
	    member + 1) == NULL))
		return edit_error(err, errlen, "%s '%s' does not exist",
		    *kind == ACL_MEMBER_USER ? "user" :
		    *kind == ACL_MEMBER_TOKEN ? "token" : "group", member);
	return 0;
}

/* Add the ACL entry (path, member, role), or set its propagate flag. */
int
usercfg_acl_set(struct usercfg *cfg, const char *path, const char *role,
    const char *member, int propagate, char *err, size_t errlen)
{
	char			 norm[USERCFG_PATH_MAX + 1];
	uint64_t		 privs;
	enum acl_member_kind	 kind;

	if (acl_path_normalize(path, norm, sizeof(norm)) == -1)
		return edit_error(err, errlen, "invalid ACL path '%s': "
		    "expected / and [A-Za-z0-9._-], at most %d characters",
		    path, USERCFG_PATH_MAX);
	if (!usercfg_name_valid(role) ||
	    usercfg_role_privs(cfg, role, &privs) == -1)
		return edit_error(err, errlen, "role '%s' does not exist; use "
		    "a built-in role such as Administrator or define it in "
		    "user.cfg", role);
	if (edit_acl_member(cfg, member, &kind, err, errlen) == -1)
		return -1;
	if (acl_put(cfg, norm, member, kind, role, propagate != 0) == -1)
		return edit_error(err, errlen, errno == E2BIG ?
		    "too many ACL entries" : "out of memory");
	return 0;
}

/* Remove member's ACL entries on path: with role, only that one. */
int
usercfg_acl_remove(struct usercfg *cfg, const char *path,
    const char *member, const char *role, char *err, size_t errlen)
{
	char	 norm[USERCFG_PATH_MAX + 1];
	size_t	 i, n = 0, removed = 0;

	if (acl_path_normalize(path, norm, sizeof(norm)) == -1)
		return edit_error(err, errlen, "invalid ACL path '%s': "
		    "expected / and [A-Za-z0-9._-]", path);
	for (i = 0; i < cfg->nacls; i++) {
		if (strcmp(cfg->acls[i].path, norm) == 0 &&
		    strcmp(cfg->acls[i].member, member) == 0 &&
		    (role == NULL || strcmp(cfg->acls[i].role, role) == 0)) {
			removed++;
			continue;
		}
		cfg->acls[n++] = cfg->acls[i];
	}
	cfg->nacls = n;
	if (removed == 0)
		return edit_error(err, errlen, "no ACL entry for '%s' on "
		    "%s%s%s", member, norm, role ? " with role " : "",
		    role ? role : "");
	return 0;
}
