/*
 * API token secrets: see token.h.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "token.h"
#include "usercfg.h"

#define HASH_PREFIX	TOKEN_HASH_SCHEME "$"
#define HASH_PREFIX_LEN	(sizeof(HASH_PREFIX) - 1)

static const char	hexdigits[] = "0123456789abcdef";

static void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int
hex_nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode exactly 2 * len lower-case hex digits. */
static int
hex_decode(const char *in, unsigned char *out, size_t len)
{
	size_t	 i;
	int	 hi, lo;

	for (i = 0; i < len; i++) {
		if ((hi = hex_nibble((unsigned char)in[2 * i])) == -1 ||
		    (lo = hex_nibble((unsigned char)in[2 * i + 1])) == -1)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Write a random version 4 UUID in lower case; outlen must exceed 36. */
int
token_secret_generate(char *out, size_t outlen)
{
	unsigned char	 b[16];
	char		 hex[33];

	if (outlen <= TOKEN_UUID_LEN || RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (b[6] & 0x0f) | 0x40;		/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;		/* RFC 4122 variant */
	hex_encode(b, sizeof(b), hex);
	snprintf(out, outlen, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
	    hex + 12, hex + 16, hex + 20);
	explicit_bzero(b, sizeof(b));
	explicit_bzero(hex, sizeof(hex));
	return 0;
}

/* A secret that can be stored and sent: 1 to 127 bytes, no CR or LF. */
static int
secret_valid(const char *secret)
{
	size_t	 len = strnlen(secret, TOKEN_SECRET_MAX);

	return len > 0 && len < TOKEN_SECRET_MAX &&
	    strpbrk(secret, "\r\n") == NULL;
}

static int
mac_compute(const unsigned char *salt, const char *secret,
    unsigned char *mac)
{
	unsigned int	 maclen = 0;

	if (HMAC(EVP_sha256(), salt, TOKEN_SALT_BYTES,
	    (const unsigned char *)secret, strlen(secret), mac,
	    &maclen) == NULL || maclen != TOKEN_MAC_BYTES)
		return -1;
	return 0;
}

/* Write the salted hash of secret to out (TOKEN_HASH_MAX bytes). */
int
token_hash(const char *secret, char *out, size_t outlen)
{
	unsigned char	 salt[TOKEN_SALT_BYTES], mac[TOKEN_MAC_BYTES];
	char		 salthex[2 * TOKEN_SALT_BYTES + 1];
	char		 machex[2 * TOKEN_MAC_BYTES + 1];

	if (outlen < TOKEN_HASH_MAX || !secret_valid(secret) ||
	    RAND_bytes(salt, sizeof(salt)) != 1 ||
	    mac_compute(salt, secret, mac) == -1)
		return -1;
	hex_encode(salt, sizeof(salt), salthex);
	hex_encode(mac, sizeof(mac), machex);
	snprintf(out, outlen, "%s%s$%s", HASH_PREFIX, salthex, machex);
	explicit_bzero(mac, sizeof(mac));
	return 0;
}

/* Split a stored hash into its salt and MAC; -1 when malformed. */
static int
hash_decode(const char *hash, unsigned char *salt, unsigned char *mac)
{
	const char	*p = hash + HASH_PREFIX_LEN;

	if (strnlen(hash, TOKEN_HASH_MAX) != TOKEN_HASH_LEN ||
	    strncmp(hash, HASH_PREFIX, HASH_PREFIX_LEN) != 0 ||
	    hex_decode(p, salt, TOKEN_SALT_BYTES) == -1 ||
	    p[2 * TOKEN_SALT_BYTES] != '$' ||
	    hex_decode(p + 2 * TOKEN_SALT_BYTES + 1, mac,
	    TOKEN_MAC_BYTES) == -1)
		return -1;
	return 0;
}

int
token_hash_wellformed(const char *hash)
{
	unsigned char	 salt[TOKEN_SALT_BYTES], mac[TOKEN_MAC_BYTES];

	return hash_decode(hash, salt, mac) == 0;
}

/*
 * Returns 1 when secret matches the stored hash, else 0 (also for a
 * malformed hash).  The MACs are compared with CRYPTO_memcmp over their
 * full fixed length, so the time taken does not show how much matched.
 */
int
token_hash_verify(const char *hash, const char *secret)
{
	unsigned char	 salt[TOKEN_SALT_BYTES], want[TOKEN_MAC_BYTES];
	unsigned char	 got[TOKEN_MAC_BYTES];
	int		 ok;

	if (hash_decode(hash, salt, want) == -1 || !secret_valid(secret) ||
	    mac_compute(salt, secret, got) == -1)
		return 0;
	ok = CRYPTO_memcmp(want, got, TOKEN_MAC_BYTES) == 0;
	explicit_bzero(got, sizeof(got));
	return ok;
}

void
token_secrets_init(struct token_secrets *ts)
{
	ts->entries = NULL;
	ts->nentries = 0;
}

void
token_secrets_free(struct token_secrets *ts)
{
	free(ts->entries);
	token_secrets_init(ts);
}

const char *
token_secrets_find(const struct token_secrets *ts, const char *tokenid)
{
	size_t	 i;

	for (i = 0; i < ts->nentries; i++)
		if (strcmp(ts->entries[i].tokenid, tokenid) == 0)
			return ts->entries[i].hash;
	return NULL;
}

/* Add a token's hash or replace it.  Returns -1 for invalid input. */
int
token_secrets_set(struct token_secrets *ts, const char *tokenid,
    const char *hash)
{
	struct token_secret	*v;
	size_t			 i;

	if (!tokenid_valid(tokenid) || !token_hash_wellformed(hash)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < ts->nentries; i++)
		if (strcmp(ts->entries[i].tokenid, tokenid) == 0)
			break;
	if (i == ts->nentries) {
		if ((v = reallocarray(ts->entries, ts->nentries + 1,
		    sizeof(*v))) == NULL)
			return -1;
		ts->entries = v;
		ts->nentries++;
		strlcpy(v[i].tokenid, tokenid, sizeof(v[i].tokenid));
	}
	strlcpy(ts->entries[i].hash, hash, sizeof(ts->entries[i].hash));
	return 0;
}

/* Returns 0 when the token's line was removed, -1 when there was none. */
int
token_secrets_remove(struct token_secrets *ts, const char *tokenid)
{
	size_t	 i;

	for (i = 0; i < ts->nentries; i++)
		if (strcmp(ts->entries[i].tokenid, tokenid) == 0) {
			memmove(&ts->entries[i], &ts->entries[i + 1],
			    (ts->nentries - i - 1) * sizeof(*ts->entries));
			ts->nentries--;
			return 0;
		}
	return -1;
}

static int
secrets_line(struct token_secrets *ts, char *line, const char *name,
    int lineno, char *err, size_t errlen)
{
	char	*hash;

	if ((hash = strchr(line, ' ')) == NULL) {
		snprintf(err, errlen, "%s:%d: expected 'TOKENID HASH'", name,
		    lineno);
		return -1;
	}
	*hash++ = '\0';
	if (!tokenid_valid(line)) {
		snprintf(err, errlen, "%s:%d: invalid token id, expected "
		    "USER@REALM!NAME", name, lineno);
		return -1;
	}
	if (!token_hash_wellformed(hash)) {
		snprintf(err, errlen, "%s:%d: invalid hash for '%s', expected "
		    "%s$SALT$MAC in lower-case hex", name, lineno, line,
		    TOKEN_HASH_SCHEME);
		return -1;
	}
	if (token_secrets_find(ts, line) != NULL) {
		snprintf(err, errlen, "%s:%d: token '%s' is listed twice",
		    name, lineno, line);
		return -1;
	}
	if (token_secrets_set(ts, line, hash) == -1) {
		snprintf(err, errlen, "%s:%d: %s", name, lineno,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Parse token.secrets held in memory.  Empty lines are ignored; any other
 * line that is not "TOKENID HASH" is an error naming the line.
 */
int
token_secrets_parse(struct token_secrets *ts, const char *name,
    const char *buf, size_t len, char *err, size_t errlen)
{
	char	*copy, *p, *line;
	int	 lineno = 0, rv = 0;

	token_secrets_init(ts);
	if (len > TOKEN_SECRETS_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", name,
		    TOKEN_SECRETS_FILE_MAX);
		return -1;
	}
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: contains a NUL byte", name);
		return -1;
	}
	if ((copy = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return -1;
	}
	memcpy(copy, buf, len);
	copy[len] = '\0';
	for (p = copy; rv == 0 && (line = strsep(&p, "\n")) != NULL;) {
		lineno++;
		if (*line != '\0')
			rv = secrets_line(ts, line, name, lineno, err, errlen);
	}
	explicit_bzero(copy, len);
	free(copy);
	if (rv == -1)
		token_secrets_free(ts);
	return rv;
}

/* Reject a file that a user other than root or us could read or change. */
static int
secrets_check_mode(const struct stat *st, const char *path, char *err,
    size_t errlen)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(err, errlen, "%s: owned by uid %lu, expected root; "
		    "run chown root %s", path, (unsigned long)st->st_uid, path);
		return -1;
	}
	if ((st->st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(err, errlen, "%s: mode %04o gives group or others "
		    "access; run chmod 600 %s", path,
		    (unsigned int)(st->st_mode & 07777), path);
		return -1;
	}
	return 0;
}

static int
secrets_read(int fd, char **bufp, size_t *lenp)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 n;

	if ((buf = malloc(TOKEN_SECRETS_FILE_MAX + 1)) == NULL)
		return -1;
	while (len <= TOKEN_SECRETS_FILE_MAX && (n = read(fd, buf + len,
	    TOKEN_SECRETS_FILE_MAX + 1 - len)) != 0) {
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
 * Read and parse token.secrets.  The file must be a regular file owned by
 * root (or by the effective uid) with no group or other permission bits.
 * A missing file is an error with errno ENOENT, so that a caller can
 * treat it as empty.
 */
int
token_secrets_load(struct token_secrets *ts, const char *path, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		*buf;
	size_t		 len;
	int		 fd, rv, saved;

	token_secrets_init(ts);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
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
	if (secrets_check_mode(&st, path, err, errlen) == -1) {
		close(fd);
		errno = EACCES;
		return -1;
	}
	if (secrets_read(fd, &buf, &len) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	rv = token_secrets_parse(ts, path, buf, len, err, errlen);
	explicit_bzero(buf, len);
	free(buf);
	return rv;
}

static int
cmp_secret(const void *a, const void *b)
{
	const struct token_secret	*x = a, *y = b;

	return strcmp(x->tokenid, y->tokenid);
}

/* Write the lines sorted by token id to a new file and sync it. */
static int
secrets_write_fd(const struct token_secrets *ts, int fd)
{
	struct token_secret	*sorted;
	FILE			*fp;
	size_t			 i;
	int			 rv = 0;

	if ((sorted = reallocarray(NULL, ts->nentries + 1,
	    sizeof(*sorted))) == NULL)
		return -1;
	if (ts->nentries > 0)
		memcpy(sorted, ts->entries, ts->nentries * sizeof(*sorted));
	qsort(sorted, ts->nentries, sizeof(*sorted), cmp_secret);
	if ((fp = fdopen(fd, "w")) == NULL) {
		free(sorted);
		close(fd);
		return -1;
	}
	for (i = 0; i < ts->nentries; i++)
		fprintf(fp, "%s %s\n", sorted[i].tokenid, sorted[i].hash);
	free(sorted);
	if (fflush(fp) == EOF || ferror(fp) || fsync(fileno(fp)) == -1)
		rv = -1;
	if (fclose(fp) == EOF)
		rv = -1;
	return rv;
}

static int
dir_sync(const char *path)
{
	char	 copy[PATH_MAX];
	int	 fd, rv;

	if (strlcpy(copy, path, sizeof(copy)) >= sizeof(copy)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return -1;
	rv = fsync(fd);
	close(fd);
	return rv;
}

/*
 * Replace token.secrets atomically: write PATH.XXXXXX with mode 0600,
 * fsync it, rename it over PATH, then fsync the directory.
 */
int
token_secrets_save(const struct token_secrets *ts, const char *path,
    char *err, size_t errlen)
{
	char	 tmp[PATH_MAX];
	int	 fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0600) == -1 || secrets_write_fd(ts, fd) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) == -1) {
		snprintf(err, errlen, "rename %s to %s: %s", tmp, path,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (dir_sync(path) == -1) {
		snprintf(err, errlen, "fsync of the directory of %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
uri_hex(int c)
{
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return hex_nibble(c);
}

/*
 * URI-unescape in[0..len) into out (at least len + 1 bytes): %XX in
 * either case becomes a byte, any other '%' stays as it is.  Returns the
 * output length, or -1 for %00.
 */
static ssize_t
uri_unescape(const char *in, size_t len, char *out)
{
	size_t	 i, n = 0;
	int	 hi, lo;

	for (i = 0; i < len; i++) {
		if (in[i] == '%' && i + 2 < len &&
		    (hi = uri_hex((unsigned char)in[i + 1])) != -1 &&
		    (lo = uri_hex((unsigned char)in[i + 2])) != -1) {
			if ((out[n++] = (char)(hi << 4 | lo)) == '\0')
				return -1;
			i += 2;
			continue;
		}
		out[n++] = in[i];
	}
	out[n] = '\0';
	return (ssize_t)n;
}

/*
 * Parse an Authorization header value "PVEAPIToken=TOKENID=SECRET" (or
 * "PVEAPIToken TOKENID=SECRET"): the text up to the first ';' is
 * URI-unescaped, then split at its last '='.  The token id must be
 * USER@REALM!NAME; the secret must be non-empty without NUL, CR or LF.
 * Returns 0, or -1 for anything else.
 */
int
auth_header_parse(const char *value, char *tokenid, size_t tokenidlen,
    char *secret, size_t secretlen)
{
	char		 buf[AUTH_HEADER_MAX + 1], *eq;
	size_t		 len;
	ssize_t		 n;

	value += strspn(value, " \t");
	if (strncmp(value, "PVEAPIToken", 11) != 0 ||
	    (value[11] != '=' && value[11] != ' '))
		return -1;
	value += 12;
	if ((len = strcspn(value, ";")) > AUTH_HEADER_MAX ||
	    (n = uri_unescape(value, len, buf)) == -1 ||
	    (eq = strrchr(buf, '=')) == NULL)
		return -1;
	*eq++ = '\0';
	if (!tokenid_valid(buf) || strlen(buf) >= tokenidlen ||
	    !secret_valid(eq) || strlen(eq) >= secretlen) {
		explicit_bzero(buf, sizeof(buf));
		return -1;
	}
	strlcpy(tokenid, buf, tokenidlen);
	strlcpy(secret, eq, secretlen);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}
