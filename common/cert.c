/*
 * The daemon's TLS certificate: see cert.h.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "log.h"

#define CERT_SERIAL_BYTES	16
/* notBefore lies this far back, for sources whose clock is behind. */
#define CERT_BACKDATE		3600	/* seconds */

/* Write what, and the latest OpenSSL error if there is one, to err. */
static void
ssl_error(char *err, size_t errlen, const char *what)
{
	unsigned long	 code;
	char		 reason[256];

	code = ERR_peek_last_error();
	if (code != 0) {
		ERR_error_string_n(code, reason, sizeof(reason));
		snprintf(err, errlen, "%s: %s", what, reason);
	} else
		snprintf(err, errlen, "%s", what);
	ERR_clear_error();
}

/* Never prompt for a passphrase: an encrypted key fails to load. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

static X509 *
pem_to_x509(const char *pem, size_t len)
{
	BIO	*bio;
	X509	*x;

	if (len > INT_MAX)
		return NULL;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return NULL;
	x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	return x;
}

static EVP_PKEY *
pem_to_key(const char *pem, size_t len)
{
	BIO		*bio;
	EVP_PKEY	*key;

	if (len > INT_MAX)
		return NULL;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	return key;
}

static int
x509_fingerprint(X509 *x, char *out, size_t outlen)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen, i;

	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)
		return -1;
	if (outlen < CERT_FINGERPRINT_LEN)
		return -1;
	for (i = 0; i < mdlen; i++) {
		if (i > 0)
			*out++ = ':';
		snprintf(out, 3, "%02X", md[i]);
		out += 2;
	}
	return 0;
}

int
cert_fingerprint_pem(const char *pem, size_t len, char *out, size_t outlen,
    char *err, size_t errlen)
{
	X509	*x;
	int	 rc;

	ERR_clear_error();
	if (outlen < CERT_FINGERPRINT_LEN) {
		snprintf(err, errlen, "fingerprint buffer of %zu bytes is too "
		    "small", outlen);
		return -1;
	}
	if ((x = pem_to_x509(pem, len)) == NULL) {
		ssl_error(err, errlen, "no PEM certificate found");
		return -1;
	}
	rc = x509_fingerprint(x, out, outlen);
	if (rc == -1)
		ssl_error(err, errlen, "SHA-256 of the certificate failed");
	X509_free(x);
	return rc;
}

/*
 * Read a regular file of at most CERT_FILE_MAX bytes into a new buffer,
 * NUL-terminated.  The caller frees it with cert_pem_free().
 */
static int
read_pem_file(const char *path, char **buf, size_t *len, mode_t *mode,
    char *err, size_t errlen)
{
	struct stat	 st;
	size_t		 used = 0;
	ssize_t		 n = 0;
	int		 fd;

	*buf = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CERT_FILE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most %d "
		    "bytes", path, CERT_FILE_MAX);
		close(fd);
		return -1;
	}
	*mode = st.st_mode;
	if ((*buf = malloc((size_t)st.st_size + 2)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	while (used < (size_t)st.st_size + 1) {
		n = read(fd, *buf + used, (size_t)st.st_size + 1 - used);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		used += n;
	}
	close(fd);
	if (used > (size_t)st.st_size)
		snprintf(err, errlen, "%s: file grew while being read", path);
	if (n == -1 || used > (size_t)st.st_size) {
		cert_pem_free(*buf, (size_t)st.st_size + 2);
		*buf = NULL;
		return -1;
	}
	(*buf)[used] = '\0';
	*len = used;
	return 0;
}

/* Wipe and free a buffer from cert_load_pair(); it may hold a key. */
void
cert_pem_free(char *buf, size_t len)
{
	if (buf == NULL)
		return;
	OPENSSL_cleanse(buf, len);
	free(buf);
}

int
cert_fingerprint_file(const char *path, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char	*pem, what[512];
	size_t	 len;
	mode_t	 mode;
	int	 rc;

	if (read_pem_file(path, &pem, &len, &mode, err, errlen) == -1)
		return -1;
	rc = cert_fingerprint_pem(pem, len, out, outlen, what, sizeof(what));
	if (rc == -1)
		snprintf(err, errlen, "%s: %s", path, what);
	cert_pem_free(pem, len);
	return rc;
}

/* A host name: dot-separated labels of letters, digits and inner '-'. */
static int
hostname_valid(const char *name)
{
	size_t		 len, label = 0, i;
	unsigned char	 c, prev = '.';

	len = strlen(name);
	if (len == 0 || len > CERT_CN_MAX || name[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0 || prev == '-')
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			if (++label > 63)
				return 0;
		} else
			return 0;
		prev = c;
	}
	return prev != '-';
}

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	int		 rc;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	rc = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return rc == 1 ? 0 : -1;
}

/* A random positive serial number. */
static int
set_serial(X509 *x)
{
	unsigned char	 raw[CERT_SERIAL_BYTES];
	BIGNUM		*bn;
	int		 rc = -1;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	raw[0] &= 0x7f;
	raw[0] |= 0x40;		/* keep the full length, never zero */
	if ((bn = BN_bin2bn(raw, sizeof(raw), NULL)) == NULL)
		return -1;
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
		rc = 0;
	BN_free(bn);
	return rc;
}

static int
set_name_and_validity(X509 *x, const char *cn)
{
	X509_NAME	*name;
	time_t		 now;

	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0) != 1)
		return -1;
	if (X509_set_issuer_name(x, name) != 1)
		return -1;
	now = time(NULL);
	if (X509_time_adj_ex(X509_getm_notBefore(x), 0, -CERT_BACKDATE,
	    &now) == NULL)
		return -1;
	if (X509_time_adj_ex(X509_getm_notAfter(x), CERT_VALID_DAYS, 0,
	    &now) == NULL)
		return -1;
	return 0;
}

static int
set_extensions(X509 *x, const char *cn)
{
	char	 san[CERT_CN_MAX + 32];

	snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1", cn);
	if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") == -1 ||
	    add_ext(x, NID_key_usage, "critical,digitalSignature") == -1 ||
	    add_ext(x, NID_ext_key_usage, "serverAuth") == -1 ||
	    add_ext(x, NID_subject_key_identifier, "hash") == -1 ||
	    add_ext(x, NID_subject_alt_name, san) == -1)
		return -1;
	return 0;
}

/* Build a self-signed X.509v3 server certificate for key. */
static X509 *
make_selfsigned(EVP_PKEY *key, const char *cn)
{
	X509	*x;

	if ((x = X509_new()) == NULL)
		return NULL;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    set_serial(x) == -1 ||
	    set_name_and_validity(x, cn) == -1 ||
	    X509_set_pubkey(x, key) != 1 ||
	    set_extensions(x, cn) == -1 ||
	    X509_sign(x, key, EVP_sha256()) == 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Create path with the given contents and mode, never replacing an
 * existing file: write a temporary file in the same directory, then
 * link(2) it to path, which fails with EEXIST if path exists.
 */
static int
write_new_file(const char *path, const char *data, size_t len, mode_t mode,
    char *err, size_t errlen)
{
	char	 tmp[PATH_MAX];
	int	 fd, rc = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "cannot create a temporary file for "
		    "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) == -1 || write_all(fd, data, len) == -1 ||
	    fsync(fd) == -1)
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
	else if (link(tmp, path) == -1)
		snprintf(err, errlen, "%s: %s", path, errno == EEXIST ?
		    "already exists; remove it or choose another path" :
		    strerror(errno));
	else
		rc = 0;
	close(fd);
	unlink(tmp);
	return rc;
}

/* Write the PEM form of the key, or of the certificate, to a new file. */
static int
write_pem(const char *path, EVP_PKEY *key, X509 *x, char *err,
    size_t errlen)
{
	BIO	*bio;
	char	*data = NULL;
	long	 len = 0;
	int	 rc = -1;

	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		ssl_error(err, errlen, "BIO_new failed");
		return -1;
	}
	if ((key != NULL && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0,
	    NULL, NULL) != 1) ||
	    (x != NULL && PEM_write_bio_X509(bio, x) != 1))
		ssl_error(err, errlen, "PEM encoding failed");
	else if ((len = BIO_get_mem_data(bio, &data)) <= 0)
		ssl_error(err, errlen, "PEM encoding is empty");
	else
		rc = write_new_file(path, data, (size_t)len,
		    key != NULL ? 0600 : 0644, err, errlen);
	if (len > 0)
		OPENSSL_cleanse(data, (size_t)len);
	BIO_free(bio);
	return rc;
}

static int
check_absent(const char *path, char *err, size_t errlen)
{
	struct stat	 st;

	if (lstat(path, &st) == 0) {
		snprintf(err, errlen, "%s: already exists; remove it or "
		    "choose another path", path);
		return -1;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Create an EC P-256 key and a self-signed certificate for cn, valid for
 * CERT_VALID_DAYS.  The key file gets mode 0600, the certificate 0644.
 * Neither file may exist beforehand, and neither is left behind on error.
 */
int
cert_create_selfsigned(const char *certpath, const char *keypath,
    const char *cn, char *err, size_t errlen)
{
	EVP_PKEY	*key;
	X509		*x;
	int		 rc = -1;

	ERR_clear_error();
	if (!hostname_valid(cn)) {
		snprintf(err, errlen, "invalid certificate name '%s': expected "
		    "a host name of letters, digits, '-' and '.'", cn);
		return -1;
	}
	if (check_absent(certpath, err, errlen) == -1 ||
	    check_absent(keypath, err, errlen) == -1)
		return -1;
	if ((key = EVP_EC_gen("P-256")) == NULL) {
		ssl_error(err, errlen, "EC P-256 key generation failed");
		return -1;
	}
	if ((x = make_selfsigned(key, cn)) == NULL)
		ssl_error(err, errlen, "building the certificate failed");
	else if (write_pem(keypath, key, NULL, err, errlen) == 0) {
		if (write_pem(certpath, NULL, x, err, errlen) == 0)
			rc = 0;
		else
			unlink(keypath);
	}
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

/* Parse both PEM texts and check that the key belongs to the certificate. */
static int
check_pair(const char *certpath, const char *certpem, size_t certlen,
    const char *keypath, const char *keypem, size_t keylen, char *err,
    size_t errlen)
{
	X509		*x = NULL;
	EVP_PKEY	*key = NULL;
	char		 what[PATH_MAX + 128];
	int		 rc = -1;

	if ((x = pem_to_x509(certpem, certlen)) == NULL) {
		snprintf(what, sizeof(what), "%s: no PEM certificate found",
		    certpath);
		ssl_error(err, errlen, what);
	} else if ((key = pem_to_key(keypem, keylen)) == NULL) {
		snprintf(what, sizeof(what), "%s: no PEM private key found "
		    "(encrypted keys are not supported)", keypath);
		ssl_error(err, errlen, what);
	} else if (X509_check_private_key(x, key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "private key %s does not match "
		    "certificate %s", keypath, certpath);
	} else
		rc = 0;
	if (rc == 0 && X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		log_warnx("certificate %s has expired; sources that do not "
		    "pin its fingerprint will reject it", certpath);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

/*
 * Read the certificate (chain) and the key file, and check that the key
 * matches the first certificate.  On success the caller owns both
 * buffers, NUL-terminated, and frees them with cert_pem_free().
 */
int
cert_load_pair(const char *certpath, const char *keypath, char **certpem,
    size_t *certlen, char **keypem, size_t *keylen, char *err, size_t errlen)
{
	mode_t	 certmode, keymode;

	ERR_clear_error();
	*certpem = *keypem = NULL;
	if (read_pem_file(certpath, certpem, certlen, &certmode, err,
	    errlen) == -1)
		return -1;
	if (read_pem_file(keypath, keypem, keylen, &keymode, err,
	    errlen) == -1)
		goto fail;
	if (check_pair(certpath, *certpem, *certlen, keypath, *keypem,
	    *keylen, err, errlen) == -1)
		goto fail;
	if (keymode & (S_IROTH | S_IWOTH))
		log_warnx("private key %s is accessible to all users; run "
		    "chmod 600 %s", keypath, keypath);
	return 0;

 fail:
	cert_pem_free(*certpem, *certlen);
	if (*keypem != NULL)
		cert_pem_free(*keypem, *keylen);
	*certpem = *keypem = NULL;
	return -1;
}
