/*
 * The API token check against the snapshot of salted token hashes the
 * parent sends at start and on every reload.  The parent checks the
 * token again before it decides anything, so this check only keeps
 * unauthenticated requests away from the parent.
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bsd/string.h>

#include "api.h"
#include "log.h"
#include "token.h"

#define API_TOKENS_MAX		65536

struct token_set {
	struct auth_token	*v;
	size_t			 n;
	size_t			 cap;
};

static struct token_set	 tokens_live;		/* checked against */
static struct token_set	 tokens_next;		/* being received */
static int		 tokens_overflow;

static void
token_set_free(struct token_set *set)
{
	free(set->v);
	memset(set, 0, sizeof(*set));
}

static int
token_cmp(const void *a, const void *b)
{
	const struct auth_token	*ta = a, *tb = b;

	return strcmp(ta->tokenid, tb->tokenid);
}

static int
token_entry_ok(const struct auth_token *t)
{
	return memchr(t->tokenid, '\0', sizeof(t->tokenid)) != NULL &&
	    memchr(t->hash, '\0', sizeof(t->hash)) != NULL;
}

/* Append one IMSG_AUTH_TOKENS message to the snapshot being received. */
void
api_auth_tokens_add(const void *data, size_t len)
{
	const struct auth_token	*in = data;
	struct auth_token	*v;
	size_t			 i, n = len / sizeof(*in);

	if (len % sizeof(*in) != 0)
		fatalx("token snapshot part of %zu bytes is not a whole "
		    "number of entries", len);
	for (i = 0; i < n; i++) {
		if (!token_entry_ok(&in[i])) {
			log_warnx("token snapshot: skipped an entry without "
			    "its terminating NUL");
			continue;
		}
		if (tokens_next.n == API_TOKENS_MAX) {
			tokens_overflow = 1;
			break;
		}
		if (tokens_next.n == tokens_next.cap) {
			tokens_next.cap = tokens_next.cap ?
			    tokens_next.cap * 2 : 64;
			v = reallocarray(tokens_next.v, tokens_next.cap,
			    sizeof(*v));
			if (v == NULL)
				fatal("token snapshot");
			tokens_next.v = v;
		}
		tokens_next.v[tokens_next.n++] = in[i];
	}
}

/* The snapshot is complete: it replaces the one in use, all at once. */
void
api_auth_tokens_end(void)
{
	if (tokens_overflow)
		log_warnx("token snapshot: more than %d tokens; the rest are "
		    "not accepted", API_TOKENS_MAX);
	qsort(tokens_next.v, tokens_next.n, sizeof(*tokens_next.v),
	    token_cmp);
	token_set_free(&tokens_live);
	tokens_live = tokens_next;
	memset(&tokens_next, 0, sizeof(tokens_next));
	tokens_overflow = 0;
	log_debug("token snapshot of %zu tokens in use", tokens_live.n);
}

static const struct auth_token *
token_find(const char *tokenid)
{
	struct auth_token	 key;

	if (strlcpy(key.tokenid, tokenid, sizeof(key.tokenid)) >=
	    sizeof(key.tokenid))
		return NULL;
	return bsearch(&key, tokens_live.v, tokens_live.n,
	    sizeof(*tokens_live.v), token_cmp);
}

/* A client that sends a cookie ticket gets "Authentication failed!". */
static enum api_auth_result
auth_without_header(struct lws *wsi, char *why, size_t whylen)
{
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE) > 0) {
		strlcpy(why, "ticket cookies are not supported, only API "
		    "tokens", whylen);
		return API_AUTH_FAILED;
	}
	strlcpy(why, "no Authorization header", whylen);
	return API_AUTH_NONE;
}

/* Same work for an unknown token id as for a known one. */
static int
auth_verify(const struct auth_token *t, const char *secret)
{
	static const char	 dummy[] = "hmac-sha256$"
	    "00000000000000000000000000000000$"
	    "0000000000000000000000000000000000000000000000000000000000000000";

	return token_hash_verify(t != NULL ? t->hash : dummy, secret) == 1;
}

static enum api_auth_result
auth_token_check(const char *tokenid, const char *secret, char *why,
    size_t whylen)
{
	const struct auth_token	*t = token_find(tokenid);
	int			 ok = auth_verify(t, secret);

	if (t == NULL) {
		strlcpy(why, "unknown token", whylen);
		return API_AUTH_FAILED;
	}
	if (!ok) {
		strlcpy(why, "wrong secret", whylen);
		return API_AUTH_FAILED;
	}
	if (!t->enabled) {
		strlcpy(why, "user disabled", whylen);
		return API_AUTH_FAILED;
	}
	if (t->expire != 0 && t->expire <= (int64_t)time(NULL)) {
		strlcpy(why, "token expired", whylen);
		return API_AUTH_FAILED;
	}
	return API_AUTH_OK;
}

/*
 * Check the Authorization header of the request on wsi.  On success,
 * auth contains the token id and secret for the parent.  Otherwise why
 * describes the failure for the log, without the secret.
 */
enum api_auth_result
api_auth_check(struct lws *wsi, struct api_auth *auth, char *why,
    size_t whylen)
{
	char			 value[AUTH_HEADER_MAX + 64];
	char			 tokenid[AUTHID_MAX];
	char			 secret[TOKEN_SECRET_MAX];
	enum api_auth_result	 rv;
	int			 len;

	len = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
	if (len == 0)
		return auth_without_header(wsi, why, whylen);
	if (len >= (int)sizeof(value) || lws_hdr_copy(wsi, value,
	    sizeof(value), WSI_TOKEN_HTTP_AUTHORIZATION) < 0) {
		strlcpy(why, "Authorization header too long", whylen);
		return API_AUTH_FAILED;
	}
	rv = API_AUTH_FAILED;
	tokenid[0] = '\0';
	if (auth_header_parse(value, tokenid, sizeof(tokenid), secret,
	    sizeof(secret)) == -1)
		strlcpy(why, "Authorization header is not a valid "
		    "PVEAPIToken", whylen);
	else {
		rv = auth_token_check(tokenid, secret, why, whylen);
		snprintf(why + strlen(why), whylen - strlen(why),
		    " for '%s'", tokenid);
	}
	if (rv != API_AUTH_NONE && tokenid[0] != '\0')
		strlcpy(auth->tokenid, tokenid, sizeof(auth->tokenid));
	if (rv == API_AUTH_OK)
		strlcpy(auth->secret, secret, sizeof(auth->secret));
	explicit_bzero(value, sizeof(value));
	explicit_bzero(secret, sizeof(secret));
	return rv;
}
