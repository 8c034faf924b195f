/*
 * The daemon's TLS certificate: the SHA-256 fingerprint that migration
 * sources pin, a self-signed certificate for first start, and loading of
 * the certificate and key files before privileges are dropped.
 *
 * A fingerprint is the SHA-256 of the DER form of the leaf (first)
 * certificate in upper-case hex pairs joined by ':', as Proxmox VE
 * sources expect in "fingerprint=".
 */

#ifndef MTUNNELD_CERT_H
#define MTUNNELD_CERT_H

#include <stddef.h>

#define CERT_FINGERPRINT_LEN	96	/* 32 hex pairs, 31 ':', NUL */
#define CERT_FILE_MAX		(1024 * 1024)	/* bytes, per PEM file */
#define CERT_VALID_DAYS		3650
#define CERT_CN_MAX		253	/* a DNS name */

int	cert_fingerprint_pem(const char *, size_t, char *, size_t, char *,
	    size_t);
int	cert_fingerprint_file(const char *, char *, size_t, char *, size_t);
int	cert_create_selfsigned(const char *, const char *, const char *,
	    char *, size_t);
int	cert_load_pair(const char *, const char *, char **, size_t *,
	    char **, size_t *, char *, size_t);
void	cert_pem_free(char *, size_t);

#endif /* MTUNNELD_CERT_H */
