/*
 * Tunnel tickets: see ticket.h.
 *
 * The MAC input is "PVETUNNEL:<time>:<nonce>:<token id>", a NUL byte, then
 * the normalised path.  The NUL keeps a token id and a path apart even if
 * a token id contains ':', because a path contains neither NUL nor ':'.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "log.h"
#include "ticket.h"

#define TICKET_PREFIX		"PVETUNNEL:"
#define TICKET_PREFIX_LEN	(sizeof(TICKET_PREFIX) - 1)
#define TICKET_TIME_DIGITS	8
#define TICKET_NONCE_DIGITS	16
#define TICKET_MAC_LEN		32	/* SHA-256 */
#define TICKET_MAC_B64_LEN	44	/* base64 of 32 bytes, with padding */
#define TICKET_LIFETIME_MAX	86400

/* Offsets of the fields in the ticket text. */
#define TICKET_TIME_OFF		TICKET_PREFIX_LEN
#define TICKET_NONCE_OFF	(TICKET_TIME_OFF + TICKET_TIME_DIGITS + 1)
#define TICKET_MAC_OFF		(TICKET_NONCE_OFF + TICKET_NONCE_DIGITS + 1)

_Static_assert(TICKET_MAC_OFF + TICKET_MAC_B64_LEN == TICKET_TEXT_LEN,
    "TICKET_TEXT_LEN does not match the ticket layout");

int
ticket_init(struct ticket_ctx *ctx, int lifetime)
{
	memset(ctx, 0, sizeof(*ctx));
	if (lifetime < 1 || lifetime > TICKET_LIFETIME_MAX) {
		log_warnx("ticket lifetime %d s is out of range 1 to %d",
		    lifetime, TICKET_LIFETIME_MAX);
		return -1;
	}
	if (RAND_bytes(ctx->key, sizeof(ctx->key)) != 1) {
		log_warnx("cannot generate the ticket key: RAND_bytes failed");
		return -1;
	}
	ctx->lifetime = lifetime;
	return 0;
}

/* Wipe the key, so that no ticket verifies any more. */
void
ticket_clear(struct ticket_ctx *ctx)
{
	OPENSSL_cleanse(ctx, sizeof(*ctx));
}

static int
path_char_allowed(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Check one path component and append it to out after a '/'. */
static int
path_append(char *out, size_t outlen, size_t *used, const char *comp,
    size_t complen, char *reason, size_t reasonlen)
{
	size_t	 i;

	if (complen == 2 && comp[0] == '.' && comp[1] == '.') {
		snprintf(reason, reasonlen,
		    "invalid ticket path: '..' component");
		return -1;
	}
	for (i = 0; i < complen; i++) {
		if (!path_char_allowed((unsigned char)comp[i])) {
			snprintf(reason, reasonlen, "invalid ticket path: "
			    "character 0x%02x is not allowed",
			    (unsigned char)comp[i]);
			return -1;
		}
	}
	if (*used + 1 + complen + 1 > outlen) {
		snprintf(reason, reasonlen, "invalid ticket path: longer "
		    "than %zu bytes", outlen - 1);
		return -1;
	}
	out[(*used)++] = '/';
	memcpy(out + *used, comp, complen);
	*used += complen;
	out[*used] = '\0';
	return 0;
}

/*
 * Normalise "/socket/" + socketpath: collapse repeated '/', drop a
 * trailing '/', keep one leading '/'.  Components ".." and characters
 * outside [A-Za-z0-9._/-] are rejected.
 */
static int
path_normalize(const char *socketpath, char *out, size_t outlen, char *reason,
    size_t reasonlen)
{
	const char	*parts[2] = { "socket", socketpath };
	const char	*p, *end;
	size_t		 used = 0, i;

	if (outlen == 0) {
		snprintf(reason, reasonlen, "invalid ticket path: no room");
		return -1;
	}
	out[0] = '\0';
	if (socketpath[0] == '\0') {
		snprintf(reason, reasonlen, "invalid ticket path: empty");
		return -1;
	}
	for (i = 0; i < 2; i++) {
		for (p = parts[i]; *p != '\0'; p = end) {
			while (*p == '/')
				p++;
			end = p + strcspn(p, "/");
			if (end == p)
				continue;
			if (path_append(out, outlen, &used, p, end - p, reason,
			    reasonlen) == -1)
				return -1;
		}
	}
	return 0;
}

int
ticket_path_normalize(const char *socketpath, char *out, size_t outlen)
{
	char	 reason[TICKET_REASON_MAX];

	return path_normalize(socketpath, out, outlen, reason, sizeof(reason));
}

static int
ticket_mac(const struct ticket_ctx *ctx, const char *head,
    const char *authid, const char *path, unsigned char *mac)
{
	EVP_MAC		*alg;
	EVP_MAC_CTX	*mctx = NULL;
	OSSL_PARAM	 params[2];
	size_t		 maclen = 0;
	int		 ok = 0;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((alg = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return -1;
	if ((mctx = EVP_MAC_CTX_new(alg)) != NULL &&
	    EVP_MAC_init(mctx, ctx->key, sizeof(ctx->key), params) == 1 &&
	    EVP_MAC_update(mctx, (const unsigned char *)head,
	    strlen(head)) == 1 &&
	    EVP_MAC_update(mctx, (const unsigned char *)authid,
	    strlen(authid) + 1) == 1 &&
	    EVP_MAC_update(mctx, (const unsigned char *)path,
	    strlen(path)) == 1 &&
	    EVP_MAC_final(mctx, mac, &maclen, TICKET_MAC_LEN) == 1 &&
	    maclen == TICKET_MAC_LEN)
		ok = 1;
	EVP_MAC_CTX_free(mctx);
	EVP_MAC_free(alg);
	return ok ? 0 : -1;
}

/* Parse exactly ndigits upper-case hex digits, as the ticket is written. */
static int
parse_hex(const char *s, size_t ndigits, uint64_t *value)
{
	size_t	 i;

	*value = 0;
	for (i = 0; i < ndigits; i++) {
		*value <<= 4;
		if (s[i] >= '0' && s[i] <= '9')
			*value |= (uint64_t)(s[i] - '0');
		else if (s[i] >= 'A' && s[i] <= 'F')
			*value |= (uint64_t)(s[i] - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/* Decode the MAC field; only the canonical encoding is accepted. */
static int
parse_mac(const char *b64, unsigned char *mac)
{
	unsigned char	 raw[TICKET_MAC_LEN + 1];
	unsigned char	 again[TICKET_MAC_B64_LEN + 1];

	if (EVP_DecodeBlock(raw, (const unsigned char *)b64,
	    TICKET_MAC_B64_LEN) != TICKET_MAC_LEN + 1)
		return -1;
	EVP_EncodeBlock(again, raw, TICKET_MAC_LEN);
	if (memcmp(again, b64, TICKET_MAC_B64_LEN) != 0)
		return -1;
	memcpy(mac, raw, TICKET_MAC_LEN);
	return 0;
}

static int
ticket_parse(const char *ticket, uint64_t *issued, uint64_t *nonce,
    unsigned char *mac, char *reason, size_t reasonlen)
{
	if (strnlen(ticket, TICKET_TEXT_LEN + 1) != TICKET_TEXT_LEN) {
		snprintf(reason, reasonlen, "malformed ticket: length is not "
		    "%d", TICKET_TEXT_LEN);
		return -1;
	}
	if (strncmp(ticket, TICKET_PREFIX, TICKET_PREFIX_LEN) != 0 ||
	    ticket[TICKET_NONCE_OFF - 1] != ':' ||
	    ticket[TICKET_MAC_OFF - 1] != ':') {
		snprintf(reason, reasonlen, "malformed ticket: not in the form "
		    "PVETUNNEL:time:nonce:mac");
		return -1;
	}
	if (parse_hex(ticket + TICKET_TIME_OFF, TICKET_TIME_DIGITS,
	    issued) == -1 ||
	    parse_hex(ticket + TICKET_NONCE_OFF, TICKET_NONCE_DIGITS,
	    nonce) == -1) {
		snprintf(reason, reasonlen, "malformed ticket: time or nonce "
		    "is not upper-case hex");
		return -1;
	}
	if (parse_mac(ticket + TICKET_MAC_OFF, mac) == -1) {
		snprintf(reason, reasonlen, "malformed ticket: MAC is not "
		    "valid base64");
		return -1;
	}
	return 0;
}

/* Free the slot of every ticket that has expired by now. */
static void
cache_purge(struct ticket_ctx *ctx, time_t now)
{
	size_t	 i;

	for (i = 0; i < TICKET_CACHE_MAX; i++) {
		if (ctx->cache[i].state != TICKET_NONCE_FREE &&
		    ctx->cache[i].expiry <= (int64_t)now)
			ctx->cache[i].state = TICKET_NONCE_FREE;
	}
}

static struct ticket_nonce *
cache_find(struct ticket_ctx *ctx, uint64_t nonce)
{
	size_t	 i;

	for (i = 0; i < TICKET_CACHE_MAX; i++) {
		if (ctx->cache[i].state != TICKET_NONCE_FREE &&
		    ctx->cache[i].nonce == nonce)
			return &ctx->cache[i];
	}
	return NULL;
}

static struct ticket_nonce *
cache_free_slot(struct ticket_ctx *ctx)
{
	size_t	 i;

	for (i = 0; i < TICKET_CACHE_MAX; i++) {
		if (ctx->cache[i].state == TICKET_NONCE_FREE)
			return &ctx->cache[i];
	}
	return NULL;
}

/* Draw a nonce that no live ticket has, and remember it as issued. */
static int
cache_issue(struct ticket_ctx *ctx, time_t now, uint64_t *nonce)
{
	struct ticket_nonce	*slot;

	cache_purge(ctx, now);
	if ((slot = cache_free_slot(ctx)) == NULL) {
		log_warnx("cannot mint a ticket: replay cache full (%d "
		    "tickets not yet expired); retry within %d s",
		    TICKET_CACHE_MAX, ctx->lifetime);
		return -1;
	}
	do {
		if (RAND_bytes((unsigned char *)nonce, sizeof(*nonce)) != 1) {
			log_warnx("cannot mint a ticket: RAND_bytes failed");
			return -1;
		}
	} while (cache_find(ctx, *nonce) != NULL);
	slot->nonce = *nonce;
	slot->expiry = (int64_t)now + ctx->lifetime;
	slot->state = TICKET_NONCE_ISSUED;
	return 0;
}

/* Write a new ticket for authid and socketpath to out. */
int
ticket_mint(struct ticket_ctx *ctx, const char *authid,
    const char *socketpath, time_t now, char *out, size_t outlen)
{
	char		 path[TICKET_PATH_MAX], reason[TICKET_REASON_MAX];
	char		 head[TICKET_MAC_OFF + 1], b64[TICKET_MAC_B64_LEN + 1];
	unsigned char	 mac[TICKET_MAC_LEN];
	uint64_t	 nonce;

	if (ctx->lifetime == 0)
		fatalx("%s: ticket context not initialised", __func__);
	if (outlen < TICKET_TEXT_LEN + 1) {
		log_warnx("cannot mint a ticket: buffer of %zu bytes is too "
		    "small", outlen);
		return -1;
	}
	if (authid[0] == '\0') {
		log_warnx("cannot mint a ticket: empty token id");
		return -1;
	}
	if (path_normalize(socketpath, path, sizeof(path), reason,
	    sizeof(reason)) == -1) {
		log_warnx("cannot mint a ticket for %s: %s", authid, reason);
		return -1;
	}
	if (now < 0 || (uint64_t)now > UINT32_MAX) {
		log_warnx("cannot mint a ticket: time %lld does not fit in 8 "
		    "hex digits", (long long)now);
		return -1;
	}
	if (cache_issue(ctx, now, &nonce) == -1)
		return -1;

	snprintf(head, sizeof(head), TICKET_PREFIX "%08llX:%016llX:",
	    (unsigned long long)now, (unsigned long long)nonce);
	if (ticket_mac(ctx, head, authid, path, mac) == -1) {
		log_warnx("cannot mint a ticket: HMAC-SHA256 failed");
		cache_find(ctx, nonce)->state = TICKET_NONCE_FREE;
		return -1;
	}
	EVP_EncodeBlock((unsigned char *)b64, mac, sizeof(mac));
	snprintf(out, outlen, "%s%s", head, b64);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

/* Check the MAC and the validity window of a parsed ticket. */
static int
ticket_check(struct ticket_ctx *ctx, const char *authid, const char *path,
    const char *ticket, uint64_t issued, const unsigned char *mac,
    time_t now, char *reason, size_t reasonlen)
{
	char		 head[TICKET_MAC_OFF + 1];
	unsigned char	 expected[TICKET_MAC_LEN];
	int64_t		 age;
	int		 same;

	memcpy(head, ticket, TICKET_MAC_OFF);
	head[TICKET_MAC_OFF] = '\0';
	if (ticket_mac(ctx, head, authid, path, expected) == -1) {
		snprintf(reason, reasonlen, "HMAC-SHA256 failed");
		return -1;
	}
	same = CRYPTO_memcmp(expected, mac, TICKET_MAC_LEN) == 0;
	OPENSSL_cleanse(expected, sizeof(expected));
	if (!same) {
		snprintf(reason, reasonlen,
		    "bad MAC (wrong token id, path or key)");
		return -1;
	}

	age = (int64_t)now - (int64_t)issued;
	if (age <= -TICKET_SKEW) {
		snprintf(reason, reasonlen, "not yet valid (issued %lld s in "
		    "the future)", (long long)-age);
		return -1;
	}
	if (age >= ctx->lifetime) {
		snprintf(reason, reasonlen, "expired (issued %lld s ago, "
		    "lifetime %d s)", (long long)age, ctx->lifetime);
		return -1;
	}
	return 0;
}

/* Reserve the nonce of a valid ticket, unless it is in use or used. */
static int
ticket_claim_nonce(struct ticket_ctx *ctx, uint64_t nonce, int64_t expiry,
    time_t now, struct ticket_claim *claim, char *reason, size_t reasonlen)
{
	struct ticket_nonce	*entry;

	cache_purge(ctx, now);
	entry = cache_find(ctx, nonce);
	if (entry == NULL || entry->expiry != expiry) {
		snprintf(reason, reasonlen, "expired (nonce no longer "
		    "remembered, so the clock has stepped back)");
		return -1;
	}
	if (entry->state == TICKET_NONCE_USED) {
		snprintf(reason, reasonlen, "replayed (ticket already used)");
		return -1;
	}
	if (entry->state == TICKET_NONCE_RESERVED) {
		snprintf(reason, reasonlen, "replayed (ticket in use by "
		    "another connection)");
		return -1;
	}
	entry->state = TICKET_NONCE_RESERVED;
	claim->nonce = nonce;
	claim->expiry = expiry;
	return 0;
}

/*
 * Check a ticket presented by authid for socketpath and reserve its
 * nonce.  Returns 0 and fills claim when the ticket is valid, else -1
 * with the reason in reason.  The path is checked before anything else.
 */
int
ticket_reserve(struct ticket_ctx *ctx, const char *authid,
    const char *socketpath, const char *ticket, time_t now,
    struct ticket_claim *claim, char *reason, size_t reasonlen)
{
	char		 path[TICKET_PATH_MAX];
	unsigned char	 mac[TICKET_MAC_LEN];
	uint64_t	 issued, nonce;

	if (ctx->lifetime == 0)
		fatalx("%s: ticket context not initialised", __func__);
	memset(claim, 0, sizeof(*claim));
	if (path_normalize(socketpath, path, sizeof(path), reason,
	    reasonlen) == -1)
		return -1;
	if (ticket_parse(ticket, &issued, &nonce, mac, reason, reasonlen) == -1)
		return -1;
	if (ticket_check(ctx, authid, path, ticket, issued, mac, now, reason,
	    reasonlen) == -1)
		return -1;
	return ticket_claim_nonce(ctx, nonce, (int64_t)issued + ctx->lifetime,
	    now, claim, reason, reasonlen);
}

/* Burn a reserved nonce: the ticket has been used. */
void
ticket_consume(struct ticket_ctx *ctx, const struct ticket_claim *claim)
{
	struct ticket_nonce	*entry;

	entry = cache_find(ctx, claim->nonce);
	if (entry != NULL && entry->expiry == claim->expiry &&
	    entry->state == TICKET_NONCE_RESERVED)
		entry->state = TICKET_NONCE_USED;
}

/* Give a reserved nonce back: the ticket was not used and stays valid. */
void
ticket_release(struct ticket_ctx *ctx, const struct ticket_claim *claim)
{
	struct ticket_nonce	*entry;

	entry = cache_find(ctx, claim->nonce);
	if (entry != NULL && entry->expiry == claim->expiry &&
	    entry->state == TICKET_NONCE_RESERVED)
		entry->state = TICKET_NONCE_ISSUED;
}

/* Check a ticket and burn it at once: ticket_reserve, ticket_consume. */
int
ticket_verify(struct ticket_ctx *ctx, const char *authid,
    const char *socketpath, const char *ticket, time_t now, char *reason,
    size_t reasonlen)
{
	struct ticket_claim	 claim;

	if (ticket_reserve(ctx, authid, socketpath, ticket, now, &claim, reason,
	    reasonlen) == -1)
		return -1;
	ticket_consume(ctx, &claim);
	return 0;
}
