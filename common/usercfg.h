/*
 * user.cfg: users, API tokens, groups, custom roles, pools and ACLs in the
 * syntax of Proxmox VE's pve-access-control, plus the identifier syntax,
 * the privilege names and the built-in roles that the file refers to.
 *
 * What the parser does with each kind of bad input:
 * - Errors: usercfg_parse returns -1 and keeps nothing, and err names the
 *   file and line.  These are a file over USERCFG_FILE_MAX bytes, a NUL
 *   byte, more fields than the entry type has, a field over its size
 *   limit, a malformed or NUL %XX escape in a text field, and more than
 *   USERCFG_ENTRIES_MAX entries of one kind.
 * - Warnings, entry skipped, so that files from other Proxmox VE versions
 *   still load: unknown entry types (there is no comment syntax, so '#'
 *   lines too), invalid user, token, group or role names, a
 *   non-numeric expire, a token whose user is not defined before it, a
 *   propagate other than 0 or 1, an ACL path that normalises to nothing
 *   valid, an ACL role or token not defined before the ACL, an invalid
 *   ACL member, unknown privilege names in a role, a custom role named
 *   like a built-in one, and redefined entries (the first one is kept).
 *   Each one adds to nskipped, because writing the file back would lose
 *   it.
 * - Warnings, entry kept: a group member or ACL user or group that is not
 *   defined.  Pool lines are kept verbatim for the writer but not
 *   evaluated: roles on /pool/NAME do not extend to the pool's members.
 * ACL entries naming root@pam are dropped without a warning: root@pam has
 * every privilege and its ACLs are never stored.
 */

#ifndef MTUNNELD_USERCFG_H
#define MTUNNELD_USERCFG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mtunneld.h"

#define USERCFG_FILE_MAX	(1024 * 1024)
#define USERID_MIN		3	/* name@realm, whole */
#define USERID_MAX		64
#define REALM_MAX		32
#define TOKENID_MAX		(AUTHID_MAX - 1)	/* user@realm!name */
#define USERCFG_NAME_MAX	64	/* group and role names */
#define USERCFG_PATH_MAX	255	/* ACL path, normalised */
#define USERCFG_FIELD_MAX	4096	/* any other field, as stored */
#define USERCFG_LIST_MAX	65536	/* member, role and privilege lists */
#define USERCFG_ENTRIES_MAX	10000	/* of each kind */
#define USERCFG_ERR_MAX		512

#define PRIVILEGE_COUNT		47
#define PRIVILEGES_ALL		((UINT64_C(1) << PRIVILEGE_COUNT) - 1)

/* Text fields hold decoded bytes; the writer percent-encodes them. */
struct usercfg_user {
	char		 userid[USERID_MAX + 1];
	int		 enabled;
	int64_t		 expire;	/* epoch seconds, 0 for never */
	char		*first;
	char		*last;
	char		*email;		/* stored and written unencoded */
	char		*comment;
	char		*keys;		/* legacy TFA data, kept verbatim */
};

struct usercfg_token {
	char		 tokenid[AUTHID_MAX];
	int64_t		 expire;	/* epoch seconds, 0 for never */
	int		 privsep;
	char		*comment;
};

struct usercfg_group {
	char		 name[USERCFG_NAME_MAX + 1];
	char		**members;	/* userids */
	size_t		 nmembers;
	char		*comment;
};

struct usercfg_role {
	char		 name[USERCFG_NAME_MAX + 1];
	uint64_t	 privs;		/* 1 << privilege_bit() */
};

enum acl_member_kind {
	ACL_MEMBER_USER,
	ACL_MEMBER_GROUP,
	ACL_MEMBER_TOKEN,
};

/* One (path, member, role) triple; the file groups them into lines. */
struct usercfg_acl {
	char		 path[USERCFG_PATH_MAX + 1];
	char		 member[AUTHID_MAX];	/* "@name" for a group */
	enum acl_member_kind kind;
	char		 role[USERCFG_NAME_MAX + 1];
	int		 propagate;
};

/* A pool line, fields as stored: pool:NAME:COMMENT:VMIDS:STORAGES: */
struct usercfg_pool {
	char		*name;
	char		*comment;
	char		*vmids;
	char		*storages;
};

struct usercfg {
	struct usercfg_user	*users;
	size_t			 nusers;
	struct usercfg_token	*tokens;
	size_t			 ntokens;
	struct usercfg_group	*groups;
	size_t			 ngroups;
	struct usercfg_role	*roles;		/* custom roles only */
	size_t			 nroles;
	struct usercfg_acl	*acls;
	size_t			 nacls;
	struct usercfg_pool	*pools;
	size_t			 npools;

	size_t			 nwarnings;	/* every warning logged */
	size_t			 nskipped;	/* entries or parts dropped */
	char			 warning[USERCFG_ERR_MAX];	/* the first */
};

void	usercfg_init(struct usercfg *);
void	usercfg_free(struct usercfg *);
int	usercfg_parse(struct usercfg *, const char *, const char *, size_t,
	    char *, size_t);
int	usercfg_load(struct usercfg *, const char *, char *, size_t);
int	usercfg_write(const struct usercfg *, FILE *);

struct usercfg_user	*usercfg_user_find(const struct usercfg *,
			    const char *);
struct usercfg_token	*usercfg_token_find(const struct usercfg *,
			    const char *);
struct usercfg_group	*usercfg_group_find(const struct usercfg *,
			    const char *);
int	usercfg_group_has(const struct usercfg_group *, const char *);
int	usercfg_role_privs(const struct usercfg *, const char *, uint64_t *);
int	usercfg_check_login(const struct usercfg *, const char *, int64_t,
	    char *, size_t);

/* Edits for mtunnelctl; each returns 0, or -1 with a message in err. */
int	usercfg_user_add(struct usercfg *, const char *, int, int64_t,
	    const char *, char *, size_t);
int	usercfg_user_remove(struct usercfg *, const char *, char *, size_t);
int	usercfg_token_add(struct usercfg *, const char *, int, int64_t,
	    const char *, char *, size_t);
int	usercfg_token_remove(struct usercfg *, const char *, char *, size_t);
int	usercfg_acl_set(struct usercfg *, const char *, const char *,
	    const char *, int, char *, size_t);
int	usercfg_acl_remove(struct usercfg *, const char *, const char *,
	    const char *, char *, size_t);

/* Percent-encoding of free text (encode_text / decode_text upstream). */
int	usercfg_text_encode(const char *, char *, size_t);
int	usercfg_text_decode(const char *, char *, size_t);

/* The 47 privilege names, sorted, as bit numbers 0 to 46. */
int		 privilege_bit(const char *);
const char	*privilege_name(int);
int		 role_builtin_privs(const char *, uint64_t *);
const char	*role_builtin_name(size_t);

int	acl_path_normalize(const char *, char *, size_t);

/*
 * Identifier syntax.  These are inline so that the token code can check a
 * token id from a request header without linking the parser.
 */

/* A realm or token name: [A-Za-z][A-Za-z0-9._-]+ */
static inline int
realm_syntax_valid(const char *s, size_t len, size_t max)
{
	size_t	 i;

	if (len < 2 || len > max)
		return 0;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return 0;
	for (i = 1; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * A user name before '@' is any run of bytes except white space, ':' and
 * '/'.  NOTE: other control bytes are rejected too, which upstream allows.
 */
static inline int
username_char_valid(unsigned char c)
{
	return c > 0x20 && c != 0x7f && c != ':' && c != '/';
}

/* name@realm, USERID_MIN to USERID_MAX bytes, split at the last '@'. */
static inline int
userid_valid_len(const char *s, size_t len)
{
	size_t	 at, i;

	if (len < USERID_MIN || len > USERID_MAX)
		return 0;
	for (at = len; at > 0 && s[at - 1] != '@'; at--)
		;
	if (at < 2)
		return 0;
	for (i = 0; i < at - 1; i++)
		if (!username_char_valid((unsigned char)s[i]))
			return 0;
	return realm_syntax_valid(s + at, len - at, REALM_MAX);
}

static inline int
userid_valid(const char *s)
{
	return userid_valid_len(s, strlen(s));
}

/*
 * user@realm!name, at most TOKENID_MAX bytes.  The token name cannot
 * contain '!', so the split is at the last '!'.  On success *userlen is
 * the length of the userid part.
 */
static inline int
tokenid_split(const char *s, size_t *userlen)
{
	size_t	 len = strlen(s), bang;

	if (len > TOKENID_MAX)
		return 0;
	for (bang = len; bang > 0 && s[bang - 1] != '!'; bang--)
		;
	if (bang == 0 || !userid_valid_len(s, bang - 1) ||
	    !realm_syntax_valid(s + bang, len - bang, TOKENID_MAX))
		return 0;
	if (userlen != NULL)
		*userlen = bang - 1;
	return 1;
}

static inline int
tokenid_valid(const char *s)
{
	return tokenid_split(s, NULL);
}

/* A group or role name: [A-Za-z0-9._-]+ */
static inline int
usercfg_name_valid(const char *s)
{
	size_t	 len = strlen(s), i;

	if (len == 0 || len > USERCFG_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

#endif /* MTUNNELD_USERCFG_H */
