/*
 * API token secrets: generation, salted hashes, the token.secrets file and
 * the Authorization header that carries a token.
 *
 * A secret is a random (version 4) UUID in lower case.  Only a salted
 * hash of it is stored: "hmac-sha256$SALT$MAC", SALT 16 random bytes and
 * MAC the HMAC-SHA256 of the secret keyed with those 16 bytes, both in
 * lower-case hex.  token.secrets contains one "TOKENID HASH" line per token,
 * sorted by token id, and must be owned by root with mode 0600.
 */

#ifndef MTUNNELD_TOKEN_H
#define MTUNNELD_TOKEN_H

#include <stddef.h>

#include "mtunneld.h"

#define TOKEN_HASH_SCHEME	"hmac-sha256"
#define TOKEN_SALT_BYTES	16
#define TOKEN_MAC_BYTES		32
/* sizeof(TOKEN_HASH_SCHEME) counts the "$" that follows the scheme. */
#define TOKEN_HASH_LEN		(sizeof(TOKEN_HASH_SCHEME) + \
				    2 * TOKEN_SALT_BYTES + 1 + \
				    2 * TOKEN_MAC_BYTES)
#define TOKEN_HASH_MAX		(TOKEN_HASH_LEN + 1)	/* with the NUL */
#define TOKEN_UUID_LEN		36
#define TOKEN_SECRETS_FILE_MAX	(1024 * 1024)
#define AUTH_HEADER_MAX		1024	/* value after "PVEAPIToken=" */

struct token_secret {
	char		 tokenid[AUTHID_MAX];
	char		 hash[TOKEN_HASH_MAX];
};

struct token_secrets {
	struct token_secret	*entries;
	size_t			 nentries;
};

int	token_secret_generate(char *, size_t);
int	token_hash(const char *, char *, size_t);
int	token_hash_verify(const char *, const char *);
int	token_hash_wellformed(const char *);

void	token_secrets_init(struct token_secrets *);
void	token_secrets_free(struct token_secrets *);
int	token_secrets_parse(struct token_secrets *, const char *,
	    const char *, size_t, char *, size_t);
int	token_secrets_load(struct token_secrets *, const char *, char *,
	    size_t);
int	token_secrets_save(const struct token_secrets *, const char *, char *,
	    size_t);
const char	*token_secrets_find(const struct token_secrets *,
		    const char *);
int	token_secrets_set(struct token_secrets *, const char *, const char *);
int	token_secrets_remove(struct token_secrets *, const char *);

int	auth_header_parse(const char *, char *, size_t, char *, size_t);

#endif /* MTUNNELD_TOKEN_H */
