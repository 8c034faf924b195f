/*
 * Users, tokens, ACLs and storages in the parent: loading, the token
 * snapshot for the api workers, and every authentication and privilege
 * decision.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bsd/string.h>

#include "acl.h"
#include "auth.h"
#include "log.h"
#include "parent.h"

static void
authdata_free(struct authdata *a)
{
	if (a == NULL)
		return;
	usercfg_free(&a->users);
	token_secrets_free(&a->secrets);
	storagecfg_free(&a->storages);
	free(a);
}

/* A missing file reads as empty; any other error is the loader's. */
static int
file_exists(const char *path)
{
	struct stat	 st;

	return lstat(path, &st) == 0 || errno != ENOENT;
}

/*
 * Load user.cfg, token.secrets and storage.cfg from the config directory.
 * A missing file reads as empty.  On any error the previous data stay.
 */
int
auth_load(struct parent *env)
{
	struct authdata	*a;
	char		 path[CONF_PATH_MAX + 32], err[512];

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		log_warn("auth data");
		return -1;
	}
	usercfg_init(&a->users);

	snprintf(path, sizeof(path), "%s/user.cfg", env->conf.confdir);
	if (file_exists(path) &&
	    usercfg_load(&a->users, path, err, sizeof(err)) == -1)
		goto fail;
	snprintf(path, sizeof(path), "%s/token.secrets", env->conf.confdir);
	if (file_exists(path) &&
	    token_secrets_load(&a->secrets, path, err, sizeof(err)) == -1)
		goto fail;
	snprintf(path, sizeof(path), "%s/storage.cfg", env->conf.confdir);
	if (storagecfg_load(&a->storages, path, err, sizeof(err)) == -1)
		goto fail;

	authdata_free(env->auth);
	env->auth = a;
	log_info("loaded %zu users, %zu tokens, %zu ACL entries, %zu "
	    "storages", a->users.nusers, a->users.ntokens, a->users.nacls,
	    a->storages.nstorages);
	return 0;

fail:
	log_warnx("%s", err);
	authdata_free(a);
	return -1;
}

/* The earlier of two expiry times, where 0 means never. */
static int64_t
expire_min(int64_t a, int64_t b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

static int
auth_fill_token(struct parent *env, size_t i, struct auth_token *t)
{
	const struct token_secret	*s = &env->auth->secrets.entries[i];
	const struct usercfg_token	*tok;
	const struct usercfg_user	*user;
	char				 userid[AUTHID_MAX];

	if ((tok = usercfg_token_find(&env->auth->users, s->tokenid)) ==
	    NULL)
		return -1;
	strlcpy(userid, s->tokenid, sizeof(userid));
	userid[strcspn(userid, "!")] = '\0';
	if ((user = usercfg_user_find(&env->auth->users, userid)) == NULL)
		return -1;

	memset(t, 0, sizeof(*t));
	strlcpy(t->tokenid, s->tokenid, sizeof(t->tokenid));
	strlcpy(t->hash, s->hash, sizeof(t->hash));
	t->expire = expire_min(tok->expire, user->expire);
	t->enabled = user->enabled ? 1 : 0;
	return 0;
}

/*
 * Send an api worker the salted hashes of the tokens that have a user,
 * in parts, then the end marker.  No secret ever leaves the parent.
 */
void
auth_send_tokens(struct parent *env, struct child *c)
{
	struct auth_token	*batch;
	size_t			 i, n = 0, max;

	max = (IMSG_MAXSIZE - IMSG_HEADER_SIZE) / sizeof(*batch);
	if ((batch = calloc(max, sizeof(*batch))) == NULL)
		fatal("token snapshot");
	for (i = 0; i < env->auth->secrets.nentries; i++) {
		if (auth_fill_token(env, i, &batch[n]) == -1)
			continue;
		if (++n == max) {
			if (imsg_compose(&c->ibuf, IMSG_AUTH_TOKENS, 0, 0, -1,
			    batch, n * sizeof(*batch)) == -1)
				fatalx("%s: %s", c->name,
				    imsg_error(&c->ibuf));
			n = 0;
		}
	}
	if ((n > 0 && imsg_compose(&c->ibuf, IMSG_AUTH_TOKENS, 0, 0, -1,
	    batch, n * sizeof(*batch)) == -1) ||
	    imsg_compose(&c->ibuf, IMSG_AUTH_TOKENS_END, 0, 0, -1, NULL,
	    0) == -1)
		fatalx("%s: %s", c->name, imsg_error(&c->ibuf));
	explicit_bzero(batch, max * sizeof(*batch));
	free(batch);
}

/*
 * Check a token id and secret as the api worker presented them: the
 * token and its user exist, the user is enabled, neither has expired,
 * and the secret matches the salted hash.
 */
int
auth_verify(struct parent *env, const struct api_auth *auth, char *why,
    size_t whylen)
{
	const char	*hash;

	if (!tokenid_valid(auth->tokenid) ||
	    usercfg_check_login(&env->auth->users, auth->tokenid, time(NULL),
	    why, whylen) == -1)
		return -1;
	if ((hash = token_secrets_find(&env->auth->secrets,
	    auth->tokenid)) == NULL) {
		snprintf(why, whylen, "no secret stored for the token");
		return -1;
	}
	if (!token_hash_verify(hash, auth->secret)) {
		snprintf(why, whylen, "invalid token secret");
		return -1;
	}
	return 0;
}

/* Return whether authid has privilege on path, by the ACL rules. */
int
auth_allowed(struct parent *env, const char *authid, const char *path,
    const char *privilege)
{
	return acl_check(&env->auth->users, authid, path, privilege) == 1;
}

const struct storage *
auth_storage_find(struct parent *env, const char *id)
{
	return storagecfg_find(&env->auth->storages, id);
}

const struct storage *
auth_storage_at(struct parent *env, size_t i)
{
	if (i >= env->auth->storages.nstorages)
		return NULL;
	return &env->auth->storages.storages[i];
}
