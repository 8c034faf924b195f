/*
 * Unit tests for token secrets (common/token.c): generation, salted
 * hashes, the token.secrets file and the Authorization header parser.
 *
 * CRYPTO_memcmp is defined here so that token.o's call binds to it: it
 * counts the calls and their length, then runs OpenSSL's own.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include <cmocka.h>

#include <openssl/crypto.h>

#include "log.h"
#include "token.h"

#define assert_contains(s, sub) do {					\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("\"%s\" does not contain \"%s\"", (s), (sub));	\
} while (0)

#define ERR_MAX		512

static int	memcmp_calls;
static size_t	memcmp_last_len;

int
CRYPTO_memcmp(const void *a, const void *b, size_t len)
{
	static int	(*real)(const void *, const void *, size_t);

	if (real == NULL) {
		*(void **)&real = dlsym(RTLD_NEXT, "CRYPTO_memcmp");
		if (real == NULL)
			abort();
	}
	memcmp_calls++;
	memcmp_last_len = len;
	return real(a, b, len);
}

static int
is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void
secret_is_uuid4(void **state)
{
	char	 a[TOKEN_UUID_LEN + 1], b[TOKEN_UUID_LEN + 1];
	size_t	 i;

	assert_int_equal(token_secret_generate(a, sizeof(a)), 0);
	assert_int_equal(token_secret_generate(b, sizeof(b)), 0);
	assert_int_equal(strlen(a), 36);
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(a[i], '-');
		else if (!is_lower_hex(a[i]))
			fail_msg("'%s': byte %zu is not lower-case hex", a, i);
	}
	assert_int_equal(a[14], '4');
	assert_non_null(strchr("89ab", a[19]));
	assert_string_not_equal(a, b);
	assert_int_equal(token_secret_generate(a, TOKEN_UUID_LEN), -1);
}

static void
hash_round_trip(void **state)
{
	char	 secret[TOKEN_UUID_LEN + 1];
	char	 h1[TOKEN_HASH_MAX], h2[TOKEN_HASH_MAX];
	size_t	 i;

	assert_int_equal(token_secret_generate(secret, sizeof(secret)), 0);
	assert_int_equal(token_hash(secret, h1, sizeof(h1)), 0);
	assert_int_equal(token_hash(secret, h2, sizeof(h2)), 0);
	assert_int_equal(strlen(h1), TOKEN_HASH_LEN);
	assert_int_equal(strlen(h1), 109);
	assert_memory_equal(h1, "hmac-sha256$", 12);
	assert_int_equal(h1[44], '$');
	for (i = 12; i < TOKEN_HASH_LEN; i++)
		if (i != 44 && !is_lower_hex(h1[i]))
			fail_msg("'%s': byte %zu is not lower-case hex", h1, i);
	assert_null(strstr(h1, secret));
	/* A fresh salt each time. */
	assert_string_not_equal(h1, h2);
	assert_int_equal(token_hash_verify(h1, secret), 1);
	assert_int_equal(token_hash_verify(h2, secret), 1);
	assert_true(token_hash_wellformed(h1));
	assert_int_equal(token_hash(secret, h1, TOKEN_HASH_LEN), -1);
}

/*
 * Hashes made elsewhere verify: the MACs were computed with Python's
 * hmac module and checked with "openssl dgst -sha256 -mac HMAC".
 */
static void
hash_known_values(void **state)
{
	static const char	 zero_salt[] = "hmac-sha256$"
	    "00000000000000000000000000000000$"
	    "1810e8d341b9e61e88895fba0b1aa2bd03cb6c8fff2b368e666ef8efdef5b4fb";
	static const char	 count_salt[] = "hmac-sha256$"
	    "000102030405060708090a0b0c0d0e0f$"
	    "9e65a93839243d8ed499b871b0bcd025cf990eca6b828857d1715e45f8e6b642";

	assert_int_equal(token_hash_verify(zero_salt, "secret"), 1);
	assert_int_equal(token_hash_verify(zero_salt, "secreT"), 0);
	assert_int_equal(token_hash_verify(count_salt,
	    "3b0e8c52-91f4-4d7a-a6c3-5e2f0b9d7e14"), 1);
	assert_int_equal(token_hash_verify(count_salt, "secret"), 0);
}

static void
wrong_secret(void **state)
{
	char	 hash[TOKEN_HASH_MAX];

	assert_int_equal(token_hash("3b0e8c52-91f4-4d7a-a6c3-5e2f0b9d7e14",
	    hash, sizeof(hash)), 0);
	assert_int_equal(token_hash_verify(hash,
	    "3b0e8c52-91f4-4d7a-a6c3-5e2f0b9d7e15"), 0);
	assert_int_equal(token_hash_verify(hash,
	    "3b0e8c52-91f4-4d7a-a6c3-5e2f0b9d7e1"), 0);
	assert_int_equal(token_hash_verify(hash,
	    "3b0e8c52-91f4-4d7a-a6c3-5e2f0b9d7e144"), 0);
	assert_int_equal(token_hash_verify(hash,
	    "3B0E8C52-91F4-4D7A-A6C3-5E2F0B9D7E14"), 0);
	assert_int_equal(token_hash_verify(hash, ""), 0);
	assert_int_equal(token_hash_verify(hash,
	    "3b0e8c52-91f4-4d7a-a6c3-5e2f0b9d7e14\n"), 0);
}

static void
hash_rejects_bad_secrets(void **state)
{
	char	 hash[TOKEN_HASH_MAX], longsecret[TOKEN_SECRET_MAX + 1];

	assert_int_equal(token_hash("", hash, sizeof(hash)), -1);
	assert_int_equal(token_hash("a\nb", hash, sizeof(hash)), -1);
	assert_int_equal(token_hash("a\rb", hash, sizeof(hash)), -1);
	memset(longsecret, 's', TOKEN_SECRET_MAX - 1);
	longsecret[TOKEN_SECRET_MAX - 1] = '\0';
	assert_int_equal(token_hash(longsecret, hash, sizeof(hash)), 0);
	assert_int_equal(token_hash_verify(hash, longsecret), 1);
	longsecret[TOKEN_SECRET_MAX - 1] = 's';
	longsecret[TOKEN_SECRET_MAX] = '\0';
	assert_int_equal(token_hash(longsecret, hash, sizeof(hash)), -1);
}

/* Stored hashes that are cut, padded or altered never verify. */
static void
garbled_hashes(void **state)
{
	char		 good[TOKEN_HASH_MAX], bad[TOKEN_HASH_MAX + 8];
	const char	*secret = "3b0e8c52-91f4-4d7a-a6c3-5e2f0b9d7e14";
	size_t		 i;

	assert_int_equal(token_hash(secret, good, sizeof(good)), 0);
	for (i = 0; i < TOKEN_HASH_LEN; i++) {
		/* Truncated to i bytes. */
		memcpy(bad, good, i);
		bad[i] = '\0';
		assert_int_equal(token_hash_verify(bad, secret), 0);
		assert_false(token_hash_wellformed(bad));
		/* Byte i changed. */
		strcpy(bad, good);
		bad[i] = bad[i] == 'f' ? 'e' : (bad[i] == '$' ? '%' : 'f');
		if (token_hash_verify(bad, secret) != 0)
			fail_msg("'%s' verified", bad);
	}
	snprintf(bad, sizeof(bad), "%s0", good);
	assert_int_equal(token_hash_verify(bad, secret), 0);
	snprintf(bad, sizeof(bad), "hmac-sha1%s", good + 11);
	assert_int_equal(token_hash_verify(bad, secret), 0);
	strcpy(bad, good);
	for (i = 12; i < TOKEN_HASH_LEN; i++)
		if (bad[i] >= 'a' && bad[i] <= 'f')
			bad[i] -= 'a' - 'A';
	assert_int_equal(token_hash_verify(bad, secret), 0);
	assert_int_equal(token_hash_verify("", secret), 0);
	assert_int_equal(token_hash_verify(secret, secret), 0);
}

/* Every verification compares full-length MACs with CRYPTO_memcmp. */
static void
constant_time_compare(void **state)
{
	char		 hash[TOKEN_HASH_MAX];
	const char	*secret = "3b0e8c52-91f4-4d7a-a6c3-5e2f0b9d7e14";

	assert_int_equal(token_hash(secret, hash, sizeof(hash)), 0);
	memcmp_calls = 0;
	memcmp_last_len = 0;
	assert_int_equal(token_hash_verify(hash, secret), 1);
	assert_true(memcmp_calls >= 1);
	assert_int_equal(memcmp_last_len, TOKEN_MAC_BYTES);

	memcmp_calls = 0;
	memcmp_last_len = 0;
	assert_int_equal(token_hash_verify(hash, "x"), 0);
	assert_true(memcmp_calls >= 1);
	assert_int_equal(memcmp_last_len, TOKEN_MAC_BYTES);
}

struct header_case {
	const char	*name;
	const char	*value;
	const char	*tokenid;	/* NULL: rejected */
	const char	*secret;
};

static const struct header_case header_cases[] = {
	{ "equals prefix", "PVEAPIToken=ops@pve!xmig=3b0e8c52-91f4",
	    "ops@pve!xmig", "3b0e8c52-91f4" },
	{ "space prefix", "PVEAPIToken ops@pve!xmig=abc",
	    "ops@pve!xmig", "abc" },
	{ "leading white space", " \tPVEAPIToken=ops@pve!xmig=abc",
	    "ops@pve!xmig", "abc" },
	{ "uri escapes", "PVEAPIToken=ops%40pve%21xmig=abc%2ddef%2D",
	    "ops@pve!xmig", "abc-def-" },
	{ "escaped separator", "PVEAPIToken=ops@pve!xmig%3Dabc",
	    "ops@pve!xmig", "abc" },
	{ "semicolon ends value", "PVEAPIToken=ops@pve!xmig=abc;x=y",
	    "ops@pve!xmig", "abc" },
	{ "escaped semicolon kept", "PVEAPIToken=ops@pve!xmig=a%3Bb",
	    "ops@pve!xmig", "a;b" },
	{ "split at last equals", "PVEAPIToken=a=b@pve!tok=abc",
	    "a=b@pve!tok", "abc" },
	{ "secret with equals", "PVEAPIToken=ops@pve!xmig=a=b", NULL, NULL },
	{ "malformed escape kept", "PVEAPIToken=ops@pve!xmig=ab%zz%4",
	    "ops@pve!xmig", "ab%zz%4" },
	{ "plus not a space", "PVEAPIToken=ops@pve!xmig=a+b",
	    "ops@pve!xmig", "a+b" },
	{ "prefix only", "PVEAPIToken=", NULL, NULL },
	{ "prefix without separator", "PVEAPIToken", NULL, NULL },
	{ "no secret", "PVEAPIToken=ops@pve!xmig", NULL, NULL },
	{ "empty secret", "PVEAPIToken=ops@pve!xmig=", NULL, NULL },
	{ "empty secret before semicolon", "PVEAPIToken=ops@pve!xmig=;abc",
	    NULL, NULL },
	{ "no token id", "PVEAPIToken==abc", NULL, NULL },
	{ "empty value", "", NULL, NULL },
	{ "other scheme", "Bearer ops@pve!xmig=abc", NULL, NULL },
	{ "cookie", "PVEAuthCookie=PVE:ops@pve:1234", NULL, NULL },
	{ "prefix lower case", "pveapitoken=ops@pve!xmig=abc", NULL, NULL },
	{ "prefix with suffix", "PVEAPITokenX=ops@pve!xmig=abc", NULL, NULL },
	{ "prefix not first", "x PVEAPIToken=ops@pve!xmig=abc", NULL, NULL },
	{ "NUL escape", "PVEAPIToken=ops@pve!xmig=ab%00cd", NULL, NULL },
	{ "NUL escape in id", "PVEAPIToken=ops%00@pve!xmig=abc", NULL, NULL },
	{ "newline escape", "PVEAPIToken=ops@pve!xmig=ab%0Acd", NULL, NULL },
	{ "carriage return escape", "PVEAPIToken=ops@pve!xmig=ab%0d",
	    NULL, NULL },
	{ "user id not token id", "PVEAPIToken=ops@pve=abc", NULL, NULL },
	{ "no realm", "PVEAPIToken=ops!xmig=abc", NULL, NULL },
	{ "token name one character", "PVEAPIToken=ops@pve!x=abc",
	    NULL, NULL },
	{ "token name starts with digit", "PVEAPIToken=ops@pve!1x=abc",
	    NULL, NULL },
	{ "bad realm", "PVEAPIToken=ops@p!xmig=abc", NULL, NULL },
	{ "space in user", "PVEAPIToken=o ps@pve!xmig=abc", NULL, NULL },
};

static void
check_header(const struct header_case *c)
{
	char	 tokenid[AUTHID_MAX], secret[TOKEN_SECRET_MAX];
	int	 rv;

	rv = auth_header_parse(c->value, tokenid, sizeof(tokenid), secret,
	    sizeof(secret));
	if (c->tokenid == NULL) {
		if (rv != -1)
			fail_msg("%s: accepted as '%s' '%s'", c->name, tokenid,
			    secret);
		return;
	}
	if (rv != 0)
		fail_msg("%s: rejected", c->name);
	if (strcmp(tokenid, c->tokenid) != 0 || strcmp(secret,
	    c->secret) != 0)
		fail_msg("%s: got '%s' '%s'", c->name, tokenid, secret);
}

static void
header_table(void **state)
{
	size_t	 i;

	for (i = 0; i < sizeof(header_cases) / sizeof(header_cases[0]); i++)
		check_header(&header_cases[i]);
}

static void
header_sizes(void **state)
{
	char	 value[4096], tokenid[AUTHID_MAX], secret[TOKEN_SECRET_MAX];
	int	 n;

	/* A secret of TOKEN_SECRET_MAX - 1 bytes fits, one more does not. */
	n = snprintf(value, sizeof(value), "PVEAPIToken=ops@pve!xmig=");
	memset(value + n, 's', TOKEN_SECRET_MAX - 1);
	value[n + TOKEN_SECRET_MAX - 1] = '\0';
	assert_int_equal(auth_header_parse(value, tokenid, sizeof(tokenid),
	    secret, sizeof(secret)), 0);
	assert_int_equal(strlen(secret), TOKEN_SECRET_MAX - 1);
	strcat(value, "s");
	assert_int_equal(auth_header_parse(value, tokenid, sizeof(tokenid),
	    secret, sizeof(secret)), -1);

	/* A token id of AUTHID_MAX bytes does not fit. */
	n = snprintf(value, sizeof(value), "PVEAPIToken=ops@pve!");
	memset(value + n, 't', AUTHID_MAX - 8);
	strcpy(value + n + AUTHID_MAX - 8, "=abc");
	assert_int_equal(auth_header_parse(value, tokenid, sizeof(tokenid),
	    secret, sizeof(secret)), -1);

	/* Escapes shrink: 3 * 127 escaped bytes are one valid secret. */
	n = snprintf(value, sizeof(value), "PVEAPIToken=ops@pve!xmig=");
	for (int i = 0; i < TOKEN_SECRET_MAX - 1; i++)
		n += snprintf(value + n, sizeof(value) - n, "%%41");
	assert_int_equal(auth_header_parse(value, tokenid, sizeof(tokenid),
	    secret, sizeof(secret)), 0);
	assert_int_equal(secret[0], 'A');

	/* A value over AUTH_HEADER_MAX bytes is rejected unread. */
	n = snprintf(value, sizeof(value), "PVEAPIToken=ops@pve!xmig=");
	memset(value + n, 'x', AUTH_HEADER_MAX);
	value[n + AUTH_HEADER_MAX] = '\0';
	assert_int_equal(auth_header_parse(value, tokenid, sizeof(tokenid),
	    secret, sizeof(secret)), -1);
	/* Unless a ';' ends the value first. */
	value[n + 3] = ';';
	assert_int_equal(auth_header_parse(value, tokenid, sizeof(tokenid),
	    secret, sizeof(secret)), 0);
	assert_string_equal(secret, "xxx");

	/* Output buffers that are too small. */
	assert_int_equal(auth_header_parse("PVEAPIToken=ops@pve!xmig=abc",
	    tokenid, 12, secret, sizeof(secret)), -1);
	assert_int_equal(auth_header_parse("PVEAPIToken=ops@pve!xmig=abc",
	    tokenid, sizeof(tokenid), secret, 3), -1);
}

static char	tmpdir[64];

static int
make_tmpdir(void **state)
{
	strlcpy(tmpdir, "/tmp/test_token.XXXXXX", sizeof(tmpdir));
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
remove_tmpdir(void **state)
{
	char		 path[512];
	DIR		*d;
	struct dirent	*e;

	if ((d = opendir(tmpdir)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	closedir(d);
	return rmdir(tmpdir);
}

static int
count_dir_entries(const char *dir)
{
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
secrets_round_trip(void **state)
{
	struct token_secrets	 ts, back;
	char			 path[128], err[ERR_MAX], h1[TOKEN_HASH_MAX];
	char			 h2[TOKEN_HASH_MAX], text[512];
	struct stat		 st;
	FILE			*fp;

	snprintf(path, sizeof(path), "%s/token.secrets", tmpdir);
	token_secrets_init(&ts);
	assert_int_equal(token_hash("one", h1, sizeof(h1)), 0);
	assert_int_equal(token_hash("two", h2, sizeof(h2)), 0);
	assert_int_equal(token_secrets_set(&ts, "z@pve!tok", h1), 0);
	assert_int_equal(token_secrets_set(&ts, "a@pve!tok", h2), 0);
	assert_int_equal(token_secrets_set(&ts, "bad", h2), -1);
	assert_int_equal(token_secrets_set(&ts, "a@pve!tok2", "x"), -1);
	assert_int_equal(token_secrets_save(&ts, path, err, sizeof(err)), 0);

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(count_dir_entries(tmpdir), 1);
	fp = fopen(path, "r");
	assert_non_null(fp);
	text[fread(text, 1, sizeof(text) - 1, fp)] = '\0';
	fclose(fp);
	assert_memory_equal(text, "a@pve!tok hmac-sha256$", 22);
	assert_non_null(strstr(text, "\nz@pve!tok hmac-sha256$"));

	assert_int_equal(token_secrets_load(&back, path, err, sizeof(err)),
	    0);
	assert_int_equal(back.nentries, 2);
	assert_int_equal(token_hash_verify(token_secrets_find(&back,
	    "z@pve!tok"), "one"), 1);
	assert_int_equal(token_hash_verify(token_secrets_find(&back,
	    "a@pve!tok"), "two"), 1);
	assert_null(token_secrets_find(&back, "b@pve!tok"));

	assert_int_equal(token_secrets_remove(&back, "z@pve!tok"), 0);
	assert_int_equal(token_secrets_remove(&back, "z@pve!tok"), -1);
	assert_int_equal(token_secrets_save(&back, path, err, sizeof(err)),
	    0);
	token_secrets_free(&back);
	assert_int_equal(token_secrets_load(&back, path, err, sizeof(err)),
	    0);
	assert_int_equal(back.nentries, 1);
	token_secrets_free(&back);
	token_secrets_free(&ts);
}

struct mode_case {
	mode_t		 mode;
	int		 ok;
};

static const struct mode_case mode_cases[] = {
	{ 0600, 1 },
	{ 0400, 1 },
	{ 0640, 0 },
	{ 0644, 0 },
	{ 0604, 0 },
	{ 0620, 0 },
	{ 0602, 0 },
	{ 0610, 0 },
};

static void
secrets_mode_refused(void **state)
{
	struct token_secrets	 ts;
	char			 path[128], err[ERR_MAX];
	size_t			 i;

	snprintf(path, sizeof(path), "%s/token.secrets", tmpdir);
	for (i = 0; i < sizeof(mode_cases) / sizeof(mode_cases[0]); i++) {
		write_file(path, "", mode_cases[i].mode);
		err[0] = '\0';
		if (token_secrets_load(&ts, path, err, sizeof(err)) !=
		    (mode_cases[i].ok ? 0 : -1))
			fail_msg("mode %04o: '%s'", mode_cases[i].mode, err);
		if (!mode_cases[i].ok) {
			assert_contains(err, "gives group or others access");
			assert_contains(err, "run chmod 600 ");
			assert_contains(err, path);
		}
		token_secrets_free(&ts);
	}
}

static void
secrets_owner_refused(void **state)
{
	struct token_secrets	 ts;
	char			 path[128], err[ERR_MAX];

	if (geteuid() != 0)
		skip();
	snprintf(path, sizeof(path), "%s/token.secrets", tmpdir);
	write_file(path, "", 0600);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(token_secrets_load(&ts, path, err, sizeof(err)), -1);
	assert_contains(err, "owned by uid 65534, expected root");
	assert_contains(err, "run chown root ");
}

static void
secrets_missing_or_not_file(void **state)
{
	struct token_secrets	 ts;
	char			 path[128], err[ERR_MAX];

	snprintf(path, sizeof(path), "%s/none", tmpdir);
	assert_int_equal(token_secrets_load(&ts, path, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(chmod(tmpdir, 0700), 0);
	assert_int_equal(token_secrets_load(&ts, tmpdir, err, sizeof(err)),
	    -1);
	assert_contains(err, "not a regular file");
}

struct secrets_case {
	const char	*name;
	const char	*line;		/* %s: a well-formed hash */
	const char	*message;
};

static const struct secrets_case secrets_cases[] = {
	{ "no space", "a@pve!tok", "x:2: expected 'TOKENID HASH'" },
	{ "bad token id", "a@pve %s", "x:2: invalid token id" },
	{ "bad hash", "b@pve!tok hmac-sha256$00", "x:2: invalid hash for "
	    "'b@pve!tok'" },
	{ "two spaces", "b@pve!tok  %s", "x:2: invalid hash" },
	{ "trailing space", "b@pve!tok %s ", "x:2: invalid hash" },
	{ "carriage return", "b@pve!tok %s\r", "x:2: invalid hash" },
	{ "listed twice", "a@pve!tok %s", "x:2: token 'a@pve!tok' is listed "
	    "twice" },
};

static void
secrets_malformed(void **state)
{
	struct token_secrets	 ts;
	char			 hash[TOKEN_HASH_MAX], text[512], line[300];
	char			 err[ERR_MAX];
	size_t			 i;

	assert_int_equal(token_hash("s", hash, sizeof(hash)), 0);
	for (i = 0; i < sizeof(secrets_cases) / sizeof(secrets_cases[0]);
	    i++) {
		snprintf(line, sizeof(line), secrets_cases[i].line, hash);
		snprintf(text, sizeof(text), "a@pve!tok %s\n%s\n", hash,
		    line);
		if (token_secrets_parse(&ts, "x", text, strlen(text), err,
		    sizeof(err)) != -1)
			fail_msg("%s: accepted", secrets_cases[i].name);
		assert_contains(err, secrets_cases[i].message);
		assert_int_equal(ts.nentries, 0);
	}
	snprintf(text, sizeof(text), "\na@pve!tok %s\n\n", hash);
	assert_int_equal(token_secrets_parse(&ts, "x", text, strlen(text), err,
	    sizeof(err)), 0);
	assert_int_equal(ts.nentries, 1);
	token_secrets_free(&ts);
	assert_int_equal(token_secrets_parse(&ts, "x", "a\0b", 3, err,
	    sizeof(err)), -1);
	assert_contains(err, "NUL byte");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(secret_is_uuid4),
		cmocka_unit_test(hash_round_trip),
		cmocka_unit_test(hash_known_values),
		cmocka_unit_test(wrong_secret),
		cmocka_unit_test(hash_rejects_bad_secrets),
		cmocka_unit_test(garbled_hashes),
		cmocka_unit_test(constant_time_compare),
		cmocka_unit_test(header_table),
		cmocka_unit_test(header_sizes),
		cmocka_unit_test_setup_teardown(secrets_round_trip,
		    make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(secrets_mode_refused,
		    make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(secrets_owner_refused,
		    make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(secrets_missing_or_not_file,
		    make_tmpdir, remove_tmpdir),
		cmocka_unit_test(secrets_malformed),
	};

	log_init(1, 0, "test_token");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
