/*
 * Unit tests for the TLS certificate helper (common/cert.c).  Each test
 * works in its own mkdtemp(3) directory.  Fingerprints are checked
 * against the output of the openssl command-line tool, and certificates
 * made by that tool are read as well as our own.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "log.h"

#define TEST_CN		"tgt1.example.net"
#define PEM_BEGIN	"-----BEGIN CERTIFICATE-----\n"
#define PEM_END		"-----END CERTIFICATE-----\n"

#define assert_contains(s, sub) do {					\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("\"%s\" does not contain \"%s\"", (s), (sub));	\
} while (0)

struct fixture {
	char	 dir[64];
	char	 cert[PATH_MAX];
	char	 key[PATH_MAX];
	char	 err[1024];
};

static int
setup(void **state)
{
	struct fixture	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	strcpy(f->dir, "/tmp/test_cert.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/key.pem", f->dir);
	*state = f;
	return 0;
}

/* Remove the test directory; it contains plain files and symlinks only. */
static int
teardown(void **state)
{
	struct fixture	*f = *state;
	struct dirent	*de;
	DIR		*d;
	char		 path[PATH_MAX];

	if ((d = opendir(f->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", f->dir,
			    de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
tmp_path(struct fixture *f, const char *name, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", f->dir, name);
}

static int
count_entries(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE	*fp;
	char	*buf;
	long	 size;

	assert_non_null(fp = fopen(path, "r"));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((size = ftell(fp)) >= 0);
	rewind(fp);
	assert_non_null(buf = malloc(size + 1));
	assert_int_equal(fread(buf, 1, size, fp), (size_t)size);
	buf[size] = '\0';
	fclose(fp);
	*len = size;
	return buf;
}

static void
spew(const char *path, const char *data, size_t len)
{
	FILE	*fp;

	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* The SHA-256 fingerprint as the openssl command prints it. */
static void
openssl_fingerprint(const char *path, char *out, size_t outlen)
{
	char	 cmd[PATH_MAX + 64], line[256], *eq;
	FILE	*p;

	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -fingerprint "
	    "-sha256 -in '%s'", path);
	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	line[strcspn(line, "\n")] = '\0';
	assert_non_null(eq = strchr(line, '='));
	assert_true(strlen(eq + 1) < outlen);
	strcpy(out, eq + 1);
}

static void
run(const char *cmd)
{
	int	 status;

	status = system(cmd);
	if (status != 0)
		fail_msg("\"%s\" exited with status %d", cmd, status);
}

static void
create(struct fixture *f, const char *cert, const char *key)
{
	if (cert_create_selfsigned(cert, key, TEST_CN, f->err,
	    sizeof(f->err)) != 0)
		fail_msg("cert_create_selfsigned: %s", f->err);
}

static void
assert_fingerprint_form(const char *fp)
{
	size_t	 i;

	assert_int_equal(strlen(fp), CERT_FINGERPRINT_LEN - 1);
	for (i = 0; fp[i] != '\0'; i++) {
		if (i % 3 == 2)
			assert_int_equal(fp[i], ':');
		else
			assert_non_null(strchr("0123456789ABCDEF", fp[i]));
	}
}

static void
test_create_fingerprint_matches_cli(void **state)
{
	struct fixture	*f = *state;
	char		 fp[CERT_FINGERPRINT_LEN], cli[128];

	create(f, f->cert, f->key);
	assert_int_equal(cert_fingerprint_file(f->cert, fp, sizeof(fp),
	    f->err, sizeof(f->err)), 0);
	assert_fingerprint_form(fp);
	openssl_fingerprint(f->cert, cli, sizeof(cli));
	assert_string_equal(fp, cli);
}

static void
test_cli_cert_fingerprint(void **state)
{
	struct fixture	*f = *state;
	char		 cmd[3 * PATH_MAX], fp[CERT_FINGERPRINT_LEN];
	char		 cli[128], *certpem, *keypem;
	size_t		 certlen, keylen;

	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 "
	    "-nodes -keyout '%s' -out '%s' -subj /CN=other -days 2 "
	    ">/dev/null 2>&1 </dev/null", f->key, f->cert);
	run(cmd);
	assert_int_equal(cert_fingerprint_file(f->cert, fp, sizeof(fp),
	    f->err, sizeof(f->err)), 0);
	openssl_fingerprint(f->cert, cli, sizeof(cli));
	assert_string_equal(fp, cli);
	assert_int_equal(cert_load_pair(f->cert, f->key, &certpem, &certlen,
	    &keypem, &keylen, f->err, sizeof(f->err)), 0);
	cert_pem_free(certpem, certlen);
	cert_pem_free(keypem, keylen);
}

static void
test_file_modes(void **state)
{
	struct fixture	*f = *state;
	struct stat	 st;
	mode_t		 old;

	/* A permissive umask must not widen the key's mode. */
	old = umask(0);
	create(f, f->cert, f->key);
	umask(old);
	assert_int_equal(stat(f->key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(stat(f->cert, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* No temporary file is left behind. */
	assert_int_equal(count_entries(f->dir), 2);
}

static int
has_san(GENERAL_NAMES *names, int type, const char *dns,
    const unsigned char *ip, int iplen)
{
	GENERAL_NAME	*gn;
	int		 i;

	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		gn = sk_GENERAL_NAME_value(names, i);
		if (gn->type != type)
			continue;
		if (type == GEN_DNS && ASN1_STRING_length(gn->d.dNSName) ==
		    (int)strlen(dns) && memcmp(ASN1_STRING_get0_data(
		    gn->d.dNSName), dns, strlen(dns)) == 0)
			return 1;
		if (type == GEN_IPADD && ASN1_STRING_length(gn->d.iPAddress) ==
		    iplen && memcmp(ASN1_STRING_get0_data(gn->d.iPAddress), ip,
		    iplen) == 0)
			return 1;
	}
	return 0;
}

static X509 *
load_x509(const char *path)
{
	FILE	*fp;
	X509	*x;

	assert_non_null(fp = fopen(path, "r"));
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

static void
test_certificate_contents(void **state)
{
	static const unsigned char	 loopback[4] = { 127, 0, 0, 1 };
	struct fixture			*f = *state;
	X509				*x;
	EVP_PKEY			*pub;
	GENERAL_NAMES			*san;
	BIGNUM				*serial;
	char				 cn[256];
	int				 days, secs;

	create(f, f->cert, f->key);
	x = load_x509(f->cert);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_non_null(pub = X509_get0_pubkey(x));
	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(pub), 256);
	assert_int_equal(X509_verify(x, pub), 1);
	assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, cn, sizeof(cn)), (int)strlen(TEST_CN));
	assert_string_equal(cn, TEST_CN);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x),
	    X509_get_issuer_name(x)), 0);
	assert_non_null(serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x),
	    NULL));
	assert_false(BN_is_negative(serial));
	assert_int_equal(BN_num_bytes(serial), 16);
	BN_free(serial);

	assert_non_null(san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL));
	assert_true(has_san(san, GEN_DNS, TEST_CN, NULL, 0));
	assert_true(has_san(san, GEN_IPADD, NULL, loopback, 4));
	GENERAL_NAMES_free(san);

	/* Ten years, plus the hour notBefore lies in the past. */
	assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x),
	    X509_get0_notAfter(x)), 1);
	assert_int_equal(days, CERT_VALID_DAYS);
	assert_int_equal(secs, 3600);
	assert_true(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);
	assert_true(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0) == 1);
	assert_int_equal(X509_check_ca(x), 0);
	X509_free(x);
}

static void
test_serials_differ(void **state)
{
	struct fixture	*f = *state;
	char		 cert2[PATH_MAX], key2[PATH_MAX];
	X509		*a, *b;

	tmp_path(f, "cert2.pem", cert2);
	tmp_path(f, "key2.pem", key2);
	create(f, f->cert, f->key);
	create(f, cert2, key2);
	a = load_x509(f->cert);
	b = load_x509(cert2);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a),
	    X509_get0_serialNumber(b)), 0);
	X509_free(a);
	X509_free(b);
}

static void
test_no_overwrite(void **state)
{
	struct fixture	*f = *state;
	char		*cert1, *key1, *cert2, *key2;
	size_t		 c1, k1, c2, k2;

	create(f, f->cert, f->key);
	cert1 = slurp(f->cert, &c1);
	key1 = slurp(f->key, &k1);
	assert_int_equal(cert_create_selfsigned(f->cert, f->key, TEST_CN,
	    f->err, sizeof(f->err)), -1);
	assert_contains(f->err, "already exists");
	assert_contains(f->err, f->cert);
	cert2 = slurp(f->cert, &c2);
	key2 = slurp(f->key, &k2);
	assert_int_equal(c1, c2);
	assert_memory_equal(cert1, cert2, c1);
	assert_int_equal(k1, k2);
	assert_memory_equal(key1, key2, k1);
	free(cert1);
	free(key1);
	free(cert2);
	free(key2);
	assert_int_equal(count_entries(f->dir), 2);
}

static void
test_no_overwrite_one_file(void **state)
{
	struct fixture	*f = *state;
	char		 other[PATH_MAX];

	/* Only the key exists: no certificate is created either. */
	spew(f->key, "old key\n", 8);
	assert_int_equal(cert_create_selfsigned(f->cert, f->key, TEST_CN,
	    f->err, sizeof(f->err)), -1);
	assert_contains(f->err, f->key);
	assert_int_equal(access(f->cert, F_OK), -1);
	unlink(f->key);

	/* Only the certificate exists: no key is created either. */
	spew(f->cert, "old cert\n", 9);
	assert_int_equal(cert_create_selfsigned(f->cert, f->key, TEST_CN,
	    f->err, sizeof(f->err)), -1);
	assert_int_equal(access(f->key, F_OK), -1);
	unlink(f->cert);

	/* A dangling symlink is not followed. */
	tmp_path(f, "elsewhere", other);
	assert_int_equal(symlink(other, f->key), 0);
	assert_int_equal(cert_create_selfsigned(f->cert, f->key, TEST_CN,
	    f->err, sizeof(f->err)), -1);
	assert_int_equal(access(other, F_OK), -1);
	assert_int_equal(access(f->cert, F_OK), -1);
	assert_int_equal(count_entries(f->dir), 1);
}

static void
test_missing_directory(void **state)
{
	struct fixture	*f = *state;
	char		 cert[PATH_MAX], key[PATH_MAX];

	tmp_path(f, "nodir/cert.pem", cert);
	tmp_path(f, "nodir/key.pem", key);
	assert_int_equal(cert_create_selfsigned(cert, key, TEST_CN, f->err,
	    sizeof(f->err)), -1);
	assert_contains(f->err, "nodir");
	assert_int_equal(count_entries(f->dir), 0);
}

static void
test_invalid_cn(void **state)
{
	static const char	*bad[] = {
		"", "bad,name", "a b", "-x", "x-", "x..y", "a/b", ".x", "x.",
		"DNS:x", "caf\xc3\xa9",
		/* a label of 64 characters */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct fixture		*f = *state;
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cert_create_selfsigned(f->cert, f->key,
		    bad[i], f->err, sizeof(f->err)), -1);
		assert_contains(f->err, "invalid certificate name");
	}
	assert_int_equal(count_entries(f->dir), 0);
	assert_int_equal(cert_create_selfsigned(f->cert, f->key, "localhost",
	    f->err, sizeof(f->err)), 0);
}

static void
test_load_pair_ok(void **state)
{
	struct fixture	*f = *state;
	char		*certpem, *keypem, *certfile, *keyfile;
	size_t		 certlen, keylen, cl, kl;

	create(f, f->cert, f->key);
	assert_int_equal(cert_load_pair(f->cert, f->key, &certpem, &certlen,
	    &keypem, &keylen, f->err, sizeof(f->err)), 0);
	certfile = slurp(f->cert, &cl);
	keyfile = slurp(f->key, &kl);
	assert_int_equal(certlen, cl);
	assert_string_equal(certpem, certfile);
	assert_int_equal(keylen, kl);
	assert_string_equal(keypem, keyfile);
	assert_non_null(strstr(keypem, "-----BEGIN PRIVATE KEY-----"));
	cert_pem_free(certpem, certlen);
	cert_pem_free(keypem, keylen);
	free(certfile);
	free(keyfile);
}

static void
test_load_pair_mismatch(void **state)
{
	struct fixture	*f = *state;
	char		 cert2[PATH_MAX], key2[PATH_MAX];
	char		*certpem, *keypem;
	size_t		 certlen, keylen;

	tmp_path(f, "cert2.pem", cert2);
	tmp_path(f, "key2.pem", key2);
	create(f, f->cert, f->key);
	create(f, cert2, key2);
	assert_int_equal(cert_load_pair(f->cert, key2, &certpem, &certlen,
	    &keypem, &keylen, f->err, sizeof(f->err)), -1);
	assert_contains(f->err, "does not match");
	assert_contains(f->err, f->cert);
	assert_contains(f->err, key2);
	assert_null(certpem);
	assert_null(keypem);
	assert_int_equal(cert_load_pair(cert2, key2, &certpem, &certlen,
	    &keypem, &keylen, f->err, sizeof(f->err)), 0);
	cert_pem_free(certpem, certlen);
	cert_pem_free(keypem, keylen);
}

static void
test_garbage_pem(void **state)
{
	static const char	*bad[] = {
		"",
		"garbage",
		PEM_BEGIN PEM_END,
		PEM_BEGIN "AAAA\n" PEM_END,
		PEM_BEGIN "!!!!\n" PEM_END,
		PEM_BEGIN "MIIB\n",
	};
	struct fixture		*f = *state;
	char			 fp[CERT_FINGERPRINT_LEN];
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cert_fingerprint_pem(bad[i], strlen(bad[i]),
		    fp, sizeof(fp), f->err, sizeof(f->err)), -1);
		assert_contains(f->err, "no PEM certificate found");
	}
}

static void
test_garbage_files(void **state)
{
	struct fixture	*f = *state;
	char		 junk[PATH_MAX], fp[CERT_FINGERPRINT_LEN];
	char		*certpem, *keypem;
	size_t		 certlen, keylen;

	create(f, f->cert, f->key);
	tmp_path(f, "junk.pem", junk);
	spew(junk, "not a PEM file\n", 15);

	assert_int_equal(cert_fingerprint_file(junk, fp, sizeof(fp), f->err,
	    sizeof(f->err)), -1);
	assert_contains(f->err, junk);
	/* A key file contains no certificate. */
	assert_int_equal(cert_fingerprint_file(f->key, fp, sizeof(fp),
	    f->err, sizeof(f->err)), -1);
	assert_contains(f->err, "no PEM certificate found");

	assert_int_equal(cert_load_pair(junk, f->key, &certpem, &certlen,
	    &keypem, &keylen, f->err, sizeof(f->err)), -1);
	assert_contains(f->err, junk);
	assert_int_equal(cert_load_pair(f->cert, junk, &certpem, &certlen,
	    &keypem, &keylen, f->err, sizeof(f->err)), -1);
	assert_contains(f->err, "no PEM private key found");
	assert_contains(f->err, junk);
	/* A certificate in place of the key. */
	assert_int_equal(cert_load_pair(f->cert, f->cert, &certpem, &certlen,
	    &keypem, &keylen, f->err, sizeof(f->err)), -1);
	assert_contains(f->err, "no PEM private key found");
}

static void
test_missing_files(void **state)
{
	struct fixture	*f = *state;
	char		 fp[CERT_FINGERPRINT_LEN];
	char		*certpem, *keypem;
	size_t		 certlen, keylen;

	assert_int_equal(cert_fingerprint_file(f->cert, fp, sizeof(fp),
	    f->err, sizeof(f->err)), -1);
	assert_contains(f->err, f->cert);
	assert_contains(f->err, "No such file");
	assert_int_equal(cert_fingerprint_file(f->dir, fp, sizeof(fp),
	    f->err, sizeof(f->err)), -1);
	assert_contains(f->err, "not a regular file");
	create(f, f->cert, f->key);
	unlink(f->key);
	assert_int_equal(cert_load_pair(f->cert, f->key, &certpem, &certlen,
	    &keypem, &keylen, f->err, sizeof(f->err)), -1);
	assert_contains(f->err, f->key);
}

static void
test_encrypted_key_rejected(void **state)
{
	struct fixture	*f = *state;
	char		 cmd[3 * PATH_MAX];
	char		*certpem, *keypem;
	size_t		 certlen, keylen;

	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec "
	    "-pkeyopt ec_paramgen_curve:P-256 -passout pass:secret "
	    "-keyout '%s' -out '%s' -subj /CN=enc -days 2 "
	    ">/dev/null 2>&1 </dev/null", f->key, f->cert);
	run(cmd);
	assert_int_equal(cert_load_pair(f->cert, f->key, &certpem, &certlen,
	    &keypem, &keylen, f->err, sizeof(f->err)), -1);
	assert_contains(f->err, "no PEM private key found");
}

static void
test_fingerprint_unterminated(void **state)
{
	struct fixture	*f = *state;
	char		*pem, *exact, fp1[CERT_FINGERPRINT_LEN];
	char		 fp2[CERT_FINGERPRINT_LEN];
	size_t		 len;

	create(f, f->cert, f->key);
	pem = slurp(f->cert, &len);
	assert_non_null(exact = malloc(len));
	memcpy(exact, pem, len);	/* no NUL after the PEM text */
	assert_int_equal(cert_fingerprint_pem(exact, len, fp1, sizeof(fp1),
	    f->err, sizeof(f->err)), 0);
	assert_int_equal(cert_fingerprint_file(f->cert, fp2, sizeof(fp2),
	    f->err, sizeof(f->err)), 0);
	assert_string_equal(fp1, fp2);
	/* A truncated certificate is rejected. */
	assert_int_equal(cert_fingerprint_pem(exact, len / 2, fp1,
	    sizeof(fp1), f->err, sizeof(f->err)), -1);
	/* So is a buffer too small for the fingerprint. */
	assert_int_equal(cert_fingerprint_pem(exact, len, fp1,
	    CERT_FINGERPRINT_LEN - 1, f->err, sizeof(f->err)), -1);
	free(exact);
	free(pem);
}

static void
test_chain_uses_leaf(void **state)
{
	struct fixture	*f = *state;
	char		 cert2[PATH_MAX], key2[PATH_MAX], chain[PATH_MAX];
	char		 fp[CERT_FINGERPRINT_LEN], leaf[CERT_FINGERPRINT_LEN];
	char		 cmd[4 * PATH_MAX];
	char		*certpem, *keypem;
	size_t		 certlen, keylen;

	tmp_path(f, "cert2.pem", cert2);
	tmp_path(f, "key2.pem", key2);
	tmp_path(f, "chain.pem", chain);
	create(f, f->cert, f->key);
	create(f, cert2, key2);
	snprintf(cmd, sizeof(cmd), "cat '%s' '%s' > '%s'", f->cert, cert2,
	    chain);
	run(cmd);
	assert_int_equal(cert_fingerprint_file(f->cert, leaf, sizeof(leaf),
	    f->err, sizeof(f->err)), 0);
	assert_int_equal(cert_fingerprint_file(chain, fp, sizeof(fp),
	    f->err, sizeof(f->err)), 0);
	assert_string_equal(fp, leaf);
	/* The key is checked against the first certificate of the chain. */
	assert_int_equal(cert_load_pair(chain, f->key, &certpem, &certlen,
	    &keypem, &keylen, f->err, sizeof(f->err)), 0);
	cert_pem_free(certpem, certlen);
	cert_pem_free(keypem, keylen);
	assert_int_equal(cert_load_pair(chain, key2, &certpem, &certlen,
	    &keypem, &keylen, f->err, sizeof(f->err)), -1);
}

static void
test_size_limit(void **state)
{
	struct fixture	*f = *state;
	char		*pem, *big, fp[CERT_FINGERPRINT_LEN];
	size_t		 len;

	create(f, f->cert, f->key);
	pem = slurp(f->cert, &len);

	/* A certificate padded with comments to exactly the limit. */
	assert_non_null(big = malloc(CERT_FILE_MAX + 1));
	memset(big, '#', CERT_FILE_MAX);
	memcpy(big, pem, len);
	big[len] = '\n';
	big[CERT_FILE_MAX - 1] = '\n';
	spew(f->cert, big, CERT_FILE_MAX);
	assert_int_equal(cert_fingerprint_file(f->cert, fp, sizeof(fp),
	    f->err, sizeof(f->err)), 0);

	/* One byte more is rejected. */
	big[CERT_FILE_MAX] = '\n';
	spew(f->cert, big, CERT_FILE_MAX + 1);
	assert_int_equal(cert_fingerprint_file(f->cert, fp, sizeof(fp),
	    f->err, sizeof(f->err)), -1);
	assert_contains(f->err, "at most");
	free(big);
	free(pem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_create_fingerprint_matches_cli),
		T(test_cli_cert_fingerprint),
		T(test_file_modes),
		T(test_certificate_contents),
		T(test_serials_differ),
		T(test_no_overwrite),
		T(test_no_overwrite_one_file),
		T(test_missing_directory),
		T(test_invalid_cn),
		T(test_load_pair_ok),
		T(test_load_pair_mismatch),
		T(test_garbage_pem),
		T(test_garbage_files),
		T(test_missing_files),
		T(test_encrypted_key_rejected),
		T(test_fingerprint_unterminated),
		T(test_chain_uses_leaf),
		T(test_size_limit),
#undef T
	};

	log_init(1, 0, "test_cert");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
