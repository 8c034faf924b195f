/*
 * ACL evaluation: see acl.h for the rules.
 */

#include <stdint.h>
#include <string.h>

#include <bsd/string.h>

#include "acl.h"

/* Roles that one category of entries gives at one level of the tree. */
struct acl_roles {
	int		 found;		/* at least one entry counted */
	int		 noaccess;
	uint64_t	 privs;
};

/* Whose entries to look at: a privilege-separated token, or a user. */
struct acl_subject {
	const char	*tokenid;	/* NULL for a user */
	const char	*userid;
};

static void
roles_add(const struct usercfg *cfg, struct acl_roles *r, const char *role)
{
	uint64_t	 privs;

	r->found = 1;
	if (strcmp(role, "NoAccess") == 0)
		r->noaccess = 1;
	if (usercfg_role_privs(cfg, role, &privs) == 0)
		r->privs |= privs;
}

static int
entry_names(const struct usercfg *cfg, const struct usercfg_acl *a,
    enum acl_member_kind kind, const char *who)
{
	const struct usercfg_group	*g;

	if (a->kind != kind)
		return 0;
	if (kind != ACL_MEMBER_GROUP)
		return strcmp(a->member, who) == 0;
	g = usercfg_group_find(cfg, a->member + 1);
	return g != NULL && usercfg_group_has(g, who);
}

/* The counting entries of one category at exactly this level. */
static struct acl_roles
level_category(const struct usercfg *cfg, const char *level, int final,
    enum acl_member_kind kind, const char *who)
{
	struct acl_roles	 r = { 0, 0, 0 };
	size_t			 i;

	for (i = 0; i < cfg->nacls; i++) {
		const struct usercfg_acl *a = &cfg->acls[i];

		if (strcmp(a->path, level) != 0 ||
		    !(a->propagate || final) ||
		    !entry_names(cfg, a, kind, who))
			continue;
		roles_add(cfg, &r, a->role);
	}
	return r;
}

/* The roles that win one level, or found == 0 when none counts. */
static struct acl_roles
level_roles(const struct usercfg *cfg, const struct acl_subject *s,
    const char *level, int final)
{
	struct acl_roles	 r;

	if (s->tokenid != NULL)
		return level_category(cfg, level, final, ACL_MEMBER_TOKEN,
		    s->tokenid);
	r = level_category(cfg, level, final, ACL_MEMBER_USER, s->userid);
	if (r.found)
		return r;
	return level_category(cfg, level, final, ACL_MEMBER_GROUP,
	    s->userid);
}

/* Walk the normalised path from / down and apply each level's winner. */
static uint64_t
subject_privileges(const struct usercfg *cfg, const struct acl_subject *s,
    const char *path)
{
	char			 level[USERCFG_PATH_MAX + 1];
	struct acl_roles	 now = { 0, 0, 0 }, r;
	size_t			 len = strlen(path), end = 1;

	for (;;) {
		strlcpy(level, path, end + 1);
		r = level_roles(cfg, s, level, end == len);
		if (r.found)
			now = r;
		if (end >= len)
			break;
		for (end = end + 1; end < len && path[end] != '/'; end++)
			;
	}
	return now.noaccess ? 0 : now.privs;
}

static uint64_t
user_privileges(const struct usercfg *cfg, const char *userid,
    const char *path)
{
	struct acl_subject	 s = { NULL, userid };

	if (strcmp(userid, "root@pam") == 0)
		return PRIVILEGES_ALL;
	return subject_privileges(cfg, &s, path);
}

/*
 * Set *out to the privileges of authid (a userid or a token id) on path,
 * as bits 1 << privilege_bit().  Returns -1, with *out 0, for an invalid
 * path or an authid that is not a defined user or token (root@pam counts
 * as defined).
 */
int
acl_privileges(const struct usercfg *cfg, const char *authid,
    const char *path, uint64_t *out)
{
	char				 norm[USERCFG_PATH_MAX + 1];
	char				 user[AUTHID_MAX];
	const struct usercfg_token	*t;
	struct acl_subject		 s;
	size_t				 userlen;

	*out = 0;
	if (acl_path_normalize(path, norm, sizeof(norm)) == -1)
		return -1;
	if (userid_valid(authid)) {
		if (strcmp(authid, "root@pam") != 0 &&
		    usercfg_user_find(cfg, authid) == NULL)
			return -1;
		*out = user_privileges(cfg, authid, norm);
		return 0;
	}
	if (!tokenid_split(authid, &userlen) ||
	    (t = usercfg_token_find(cfg, authid)) == NULL)
		return -1;
	strlcpy(user, authid, userlen + 1);
	if (strcmp(user, "root@pam") != 0 &&
	    usercfg_user_find(cfg, user) == NULL)
		return -1;
	*out = user_privileges(cfg, user, norm);
	if (t->privsep) {
		s.tokenid = authid;
		s.userid = user;
		*out &= subject_privileges(cfg, &s, norm);
	}
	return 0;
}

/* Returns 1 when authid has every privilege in mask on path, else 0. */
int
acl_check_all(const struct usercfg *cfg, const char *authid,
    const char *path, uint64_t mask)
{
	uint64_t	 privs;

	if (acl_privileges(cfg, authid, path, &privs) == -1)
		return 0;
	return (privs & mask) == mask;
}

/* Returns 1 when authid has at least one privilege of mask on path. */
int
acl_check_any(const struct usercfg *cfg, const char *authid,
    const char *path, uint64_t mask)
{
	uint64_t	 privs;

	if (acl_privileges(cfg, authid, path, &privs) == -1)
		return 0;
	return (privs & mask) != 0;
}

/*
 * Returns 1 when authid has the named privilege on path, 0 when it has
 * not or the name is not one of the known privileges.
 */
int
acl_check(const struct usercfg *cfg, const char *authid, const char *path,
    const char *privilege)
{
	int	 bit;

	if ((bit = privilege_bit(privilege)) == -1)
		return 0;
	return acl_check_all(cfg, authid, path, UINT64_C(1) << bit);
}
