/*
 * The check that client websocket frames are masked (RFC 6455, 5.1).
 * lws 4.1.6 accepts unmasked client frames and reports the mask bit
 * through no API.  So this file reads the plaintext lws reads: it
 * defines SSL_read(), which libwebsockets.so calls through its PLT and
 * so reaches the definition in the mtunneld executable first.  The
 * wrapper calls OpenSSL's SSL_read() and hands what it returned to a
 * parser for that connection before lws parses any of it.
 *
 * The parser follows the HTTP/1.1 request heads, skips Content-Length
 * bodies by counting, and after the head that requests an upgrade reads
 * the websocket frame headers, skipping payload by counting.  A client
 * frame without the mask bit puts the connection on a list, and ws.c
 * closes it with 1002 before relaying anything lws delivers after that
 * read (see ws_callback()).
 *
 * Frames only start where lws starts them if the parser ends each head
 * at the byte where lws 4.1.6 ends it.  lws's own head parser reads past
 * a blank line in some malformed heads, so the parser accepts only a
 * strict form of request head in which the two agree (see the NOTE at
 * wsguard_name_char()).  Any other input leaves the connection
 * untracked, and http.c rejects a websocket upgrade on it.  http.c and
 * ws.c also compare the number of heads lws passed on with the parser's
 * count, so that a disagreement ends the connection instead of letting
 * frames through unchecked.
 *
 * lws 4.1.6 reads TLS plaintext only through SSL_read().  A build that
 * used SSL_read_ex() or SSL_peek() would bypass the parser.  Every
 * websocket upgrade would then be rejected, because the parser would
 * have seen no request head.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"

#define WSG_NAMES_MAX		160	/* lws 4.1.6 on Debian 12 has 87 */
#define WSG_LENGTH_DIGITS	18	/* Content-Length below 10^18 */

typedef int	(*wsguard_read_fn)(SSL *, void *, int);

static wsguard_read_fn	 wsguard_real_read;
static int		 wsguard_index = -1;	/* SSL ex_data slot */

/* The header and method names lws's parser matches, sorted. */
static const char	*wsguard_names[WSG_NAMES_MAX];
static uint16_t		 wsguard_nnames;

/* Connections with a violation that the api has not acted on yet. */
static TAILQ_HEAD(, wsguard)	 wsguard_violations =
    TAILQ_HEAD_INITIALIZER(wsguard_violations);

static int
wsguard_name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
wsguard_name_known(const char *name)
{
	return bsearch(&name, wsguard_names, wsguard_nnames,
	    sizeof(wsguard_names[0]), wsguard_name_cmp) != NULL;
}

/*
 * Copy the strings lws's header lexer matches ("host:", "get ",
 * "put", ...).  lws builds its lexer table and this list from the same
 * source, so the copy matches the library in use.
 */
static void
wsguard_load_names(void)
{
	const char	*s;
	int		 i;

	for (i = 0; i < WSI_TOKEN_COUNT; i++) {
		s = (const char *)lws_token_to_string(i);
		if (s == NULL || s[0] == '\0')
			continue;
		if (wsguard_nnames == WSG_NAMES_MAX)
			fatalx("lws has more than %d header names; raise "
			    "WSG_NAMES_MAX", WSG_NAMES_MAX);
		wsguard_names[wsguard_nnames++] = s;
	}
	qsort(wsguard_names, wsguard_nnames, sizeof(wsguard_names[0]),
	    wsguard_name_cmp);
	if (!wsguard_name_known("upgrade:") ||
	    !wsguard_name_known("content-length:") ||
	    !wsguard_name_known("transfer-encoding:"))
		fatalx("lws header names lack upgrade:, content-length: or "
		    "transfer-encoding:");
}

/*
 * Find OpenSSL's SSL_read(), check that ours is the one the dynamic
 * linker binds, and load lws's header names.  Call once at start-up,
 * before the chroot and the seccomp filter, and before any TLS
 * connection exists.
 */
void
wsguard_init(void)
{
	wsguard_read_fn	 self = SSL_read;
	void		*bound;

	if (wsguard_real_read != NULL)
		return;
	*(void **)&wsguard_real_read = dlsym(RTLD_NEXT, "SSL_read");
	bound = dlsym(RTLD_DEFAULT, "SSL_read");
	if (wsguard_real_read == NULL || bound == NULL)
		fatalx("SSL_read not found: %s", dlerror());
	if (bound != *(void **)&self)
		fatalx("mtunneld does not export SSL_read, so lws would "
		    "bypass the websocket mask check");
	wsguard_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (wsguard_index == -1)
		fatalx("SSL_get_ex_new_index failed");
	wsguard_load_names();
}

/* Reset g for a new connection c, at the start of its first head. */
void
wsguard_start(struct wsguard *g, struct conn *c)
{
	memset(g, 0, sizeof(*g));
	g->conn = c;
	g->state = WSG_METHOD;
}

/* Follow what SSL_read() returns on ssl.  Returns 0, or -1. */
int
wsguard_attach(struct wsguard *g, SSL *ssl)
{
	if (ssl == NULL || wsguard_index == -1 ||
	    SSL_set_ex_data(ssl, wsguard_index, g) != 1)
		return -1;
	g->ssl = ssl;
	return 0;
}

/*
 * Stop following g's connection.  ssl is the connection's SSL as lws
 * has it now, which is NULL once lws has freed it: then nothing in it
 * needs clearing.
 */
void
wsguard_detach(struct wsguard *g, SSL *ssl)
{
	if (g->ssl != NULL && ssl == g->ssl)
		SSL_set_ex_data(ssl, wsguard_index, NULL);
	g->ssl = NULL;
	if (g->queued) {
		TAILQ_REMOVE(&wsguard_violations, g, entry);
		g->queued = 0;
	}
}

/* The next connection with a new violation, or NULL. */
struct conn *
wsguard_next_violation(void)
{
	struct wsguard	*g;

	if ((g = TAILQ_FIRST(&wsguard_violations)) == NULL)
		return NULL;
	TAILQ_REMOVE(&wsguard_violations, g, entry);
	g->queued = 0;
	return g->conn;
}

const char *
wsguard_violation(const struct wsguard *g)
{
	return g->state == WSG_VIOLATION ? g->why : NULL;
}

/*
 * lws passed on request head number heads as a plain HTTP request.
 * Returns NULL, or why the guard's view of the stream disagrees.
 */
const char *
wsguard_check_http(const struct wsguard *g, uint32_t heads)
{
	if (g->upgrade_head != 0 && g->upgrade_head <= heads)
		return "lws read a request where frames were expected";
	return NULL;
}

/*
 * lws passed on request head number heads as an upgrade request.
 * Returns NULL when by the guard's count frames start right after that
 * head, or the reason they may not.
 */
const char *
wsguard_check_upgrade(const struct wsguard *g, uint32_t heads)
{
	if (g->ssl == NULL)
		return "mask check not attached to the TLS connection";
	if (g->state == WSG_UNTRACKED)
		return g->why;
	if (g->upgrade_head != heads)
		return "mask check counted the requests differently";
	return NULL;
}

static void
wsguard_untrack(struct wsguard *g, const char *why)
{
	g->state = WSG_UNTRACKED;
	g->why = why;
}

static void
wsguard_violate(struct wsguard *g, const char *why)
{
	g->state = WSG_VIOLATION;
	g->why = why;
	if (!g->queued) {
		TAILQ_INSERT_TAIL(&wsguard_violations, g, entry);
		g->queued = 1;
	}
}

/* A token character of RFC 9110, 5.6.2. */
static int
wsguard_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
wsguard_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
wsguard_head_reset(struct wsguard *g)
{
	memset(g->method, 0, sizeof(g->method));
	g->pos = 0;
	g->body_default = 0;
	g->has_upgrade = 0;
	g->has_length = 0;
	g->header = WSG_HDR_OTHER;
	g->length = 0;
}

/* The methods the api routes or lws reads a body for. */
static void
wsguard_method_end(struct wsguard *g)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT",
	    "PATCH", "DELETE", "OPTIONS" };
	size_t			 i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(g->method, methods[i]) == 0)
			break;
	if (i == sizeof(methods) / sizeof(methods[0])) {
		wsguard_untrack(g, "request method not followed");
		return;
	}
	/* lws expects a body from these even without Content-Length. */
	g->body_default = strcmp(g->method, "POST") == 0 ||
	    strcmp(g->method, "PUT") == 0 || strcmp(g->method, "PATCH") == 0;
	g->state = WSG_TARGET;
	g->pos = 0;
}

/*
 * The request target: an absolute path and query of visible ASCII.  lws
 * decodes %XX before it looks for the end of the line, so an encoded CR,
 * LF or NUL would move lws's line boundaries.
 */
static void
wsguard_target_char(struct wsguard *g, unsigned char c)
{
	int	 hi, lo;

	switch (g->state) {
	case WSG_TARGET_PCT1:
		if ((hi = wsguard_hex(c)) == -1)
			wsguard_untrack(g, "invalid %-escape in the target");
		else {
			g->hex = (uint8_t)hi;
			g->state = WSG_TARGET_PCT2;
		}
		return;
	case WSG_TARGET_PCT2:
		if ((lo = wsguard_hex(c)) == -1)
			wsguard_untrack(g, "invalid %-escape in the target");
		else if ((hi = g->hex << 4 | lo) == '\0' || hi == '\n' ||
		    hi == '\r')
			wsguard_untrack(g, "encoded NUL, CR or LF in the "
			    "target");
		else
			g->state = WSG_TARGET;
		return;
	default:
		break;
	}
	if (g->pos == 0 && c != '/') {
		wsguard_untrack(g, "request target is not an absolute path");
		return;
	}
	g->pos = 1;
	if (c == ' ') {
		g->state = WSG_VERSION;
		g->pos = 0;
	} else if (c == '%')
		g->state = WSG_TARGET_PCT1;
	else if (c < 0x21 || c > 0x7e)
		wsguard_untrack(g, "invalid character in the target");
}

static void
wsguard_version_char(struct wsguard *g, unsigned char c)
{
	static const char	 prefix[] = "HTTP/1.";
	int			 ok;

	if (g->pos < sizeof(prefix) - 1)
		ok = c == prefix[g->pos];
	else if (g->pos == sizeof(prefix) - 1)
		ok = c == '0' || c == '1';
	else
		ok = c == '\r';
	if (!ok) {
		wsguard_untrack(g, "HTTP version not 1.0 or 1.1");
		return;
	}
	if (c == '\r')
		g->state = WSG_LINE_LF;
	g->pos++;
}

/*
 * Narrow [name_lo, name_hi) to the lws names whose next character is c.
 * Returns 1 when one of them ends right after c.
 */
static int
wsguard_name_narrow(struct wsguard *g, unsigned char c)
{
	uint16_t	 lo = g->name_lo, hi;
	size_t		 d = g->name_len;

	while (lo < g->name_hi && (unsigned char)wsguard_names[lo][d] < c)
		lo++;
	for (hi = lo; hi < g->name_hi &&
	    (unsigned char)wsguard_names[hi][d] == c; hi++)
		;
	g->name_lo = lo;
	g->name_hi = hi;
	g->name_len++;
	return lo < hi && wsguard_names[lo][d + 1] == '\0';
}

/*
 * NOTE: lws 4.1.6 matches a header name against its list of names one
 * character at a time.  While the name read so far is the start of a
 * name in that list, lws takes a ':' that does not complete that name as
 * part of the name.  It then reads on past the end of the line, and past
 * the blank line, up to the next ':'.  A name that completes a name
 * without ':' ("put", "patch", "delete", "uri-args") turns the rest of
 * the line into a request line.  Neither form is followed here.
 */
static void
wsguard_name_char(struct wsguard *g, unsigned char c)
{
	int	 whole;

	if (c >= 'A' && c <= 'Z')
		c += 'a' - 'A';		/* as lws does */
	if (g->name_lo == g->name_hi)
		return;			/* a name lws does not know */
	whole = wsguard_name_narrow(g, c);
	if (whole && c != ':')
		wsguard_untrack(g, "header name starting with put, patch, "
		    "delete or uri-args");
	else if (c == ':' && !whole)
		wsguard_untrack(g, "header name that is a prefix of a known "
		    "header name");
}

/* The ':' after a header name: note the headers that decide the framing. */
static void
wsguard_name_end(struct wsguard *g)
{
	const char	*name;

	g->header = WSG_HDR_OTHER;
	if (g->name_lo < g->name_hi) {
		name = wsguard_names[g->name_lo];
		if (strcmp(name, "transfer-encoding:") == 0)
			wsguard_untrack(g, "Transfer-Encoding in a request");
		else if (strcmp(name, "upgrade:") == 0)
			g->header = WSG_HDR_UPGRADE;
		else if (strcmp(name, "content-length:") == 0)
			g->header = WSG_HDR_LENGTH;
	}
	if ((g->header == WSG_HDR_UPGRADE && g->has_upgrade) ||
	    (g->header == WSG_HDR_LENGTH && g->has_length))
		wsguard_untrack(g, "repeated Upgrade or Content-Length");
	g->value_text = 0;
	g->digits = 0;
	if (g->state != WSG_UNTRACKED)
		g->state = WSG_VALUE;
}

/* lws drops the spaces before a value and stores the rest of the line. */
static void
wsguard_value_char(struct wsguard *g, unsigned char c)
{
	if (c != '\t' && (c < 0x20 || c == 0x7f)) {
		wsguard_untrack(g, "control character in a header value");
		return;
	}
	if (c != ' ')
		g->value_text = 1;
	if (g->header != WSG_HDR_LENGTH || (c == ' ' && g->digits == 0))
		return;
	if (c < '0' || c > '9' || g->digits == WSG_LENGTH_DIGITS) {
		wsguard_untrack(g, "Content-Length not a number below 10^18");
		return;
	}
	g->length = g->length * 10 + (uint64_t)(c - '0');
	g->digits++;
}

/* The CRLF after a header line.  An empty Upgrade means no upgrade. */
static void
wsguard_line_end(struct wsguard *g)
{
	if (g->header == WSG_HDR_UPGRADE) {
		if (!g->value_text)
			wsguard_untrack(g, "empty Upgrade header");
		g->has_upgrade = 1;
	} else if (g->header == WSG_HDR_LENGTH) {
		if (g->digits == 0)
			wsguard_untrack(g, "empty Content-Length");
		g->has_length = 1;
	}
	g->header = WSG_HDR_OTHER;
	if (g->state != WSG_UNTRACKED)
		g->state = WSG_LINE_START;
}

/*
 * The blank line.  lws responds to an upgrade request with 101 and
 * frames follow at once, or the api closes the connection.  Otherwise the body
 * follows, then the next head.
 */
static void
wsguard_head_end(struct wsguard *g)
{
	if (g->heads == UINT32_MAX) {
		wsguard_untrack(g, "too many requests on one connection");
		return;
	}
	g->heads++;
	if (g->has_upgrade) {
		g->upgrade_head = g->heads;
		g->state = WSG_FRAME;
	} else if (g->has_length && g->length > 0) {
		g->skip = g->length;
		g->state = WSG_BODY;
	} else if (!g->has_length && g->body_default) {
		/* lws would read the next 100 MiB as the body. */
		wsguard_untrack(g, "request body without Content-Length");
		return;
	} else
		g->state = WSG_METHOD;
	wsguard_head_reset(g);
}

static void
wsguard_line_start(struct wsguard *g, unsigned char c)
{
	if (c == '\r')
		g->state = WSG_END_LF;
	else if (wsguard_tchar(c)) {
		g->state = WSG_NAME;
		g->name_lo = 0;
		g->name_hi = wsguard_nnames;
		g->name_len = 0;
		wsguard_name_char(g, c);
	} else
		wsguard_untrack(g, "header line not of the form name: value");
}

/* One byte of a request head. */
static void
wsguard_head_char(struct wsguard *g, unsigned char c)
{
	switch (g->state) {
	case WSG_METHOD:
		if (c == ' ' && g->pos > 0)
			wsguard_method_end(g);
		else if (c >= 'A' && c <= 'Z' &&
		    g->pos < sizeof(g->method) - 1)
			g->method[g->pos++] = (char)c;
		else
			wsguard_untrack(g, "request method not followed");
		break;
	case WSG_TARGET:
	case WSG_TARGET_PCT1:
	case WSG_TARGET_PCT2:
		wsguard_target_char(g, c);
		break;
	case WSG_VERSION:
		wsguard_version_char(g, c);
		break;
	case WSG_LINE_LF:
		if (c == '\n')
			wsguard_line_end(g);
		else
			wsguard_untrack(g, "CR without LF");
		break;
	case WSG_LINE_START:
		wsguard_line_start(g, c);
		break;
	case WSG_NAME:
		if (c == ':') {
			wsguard_name_char(g, c);
			if (g->state != WSG_UNTRACKED)
				wsguard_name_end(g);
		} else if (wsguard_tchar(c))
			wsguard_name_char(g, c);
		else
			wsguard_untrack(g, "invalid character in a header "
			    "name");
		break;
	case WSG_VALUE:
		if (c == '\r')
			g->state = WSG_LINE_LF;
		else
			wsguard_value_char(g, c);
		break;
	case WSG_END_LF:
		if (c == '\n')
			wsguard_head_end(g);
		else
			wsguard_untrack(g, "CR without LF");
		break;
	default:
		break;
	}
}

/*
 * One byte of a frame header: FIN, RSV and opcode, then the mask bit and
 * a 7-bit length, 2 or 8 bytes of longer length, and the 4-byte key.
 */
static void
wsguard_frame_char(struct wsguard *g, unsigned char c)
{
	if (g->pos == 1) {
		if (!(c & 0x80)) {
			wsguard_violate(g, "client frame without mask");
			return;
		}
		c &= 0x7f;
		g->payload = 0;
		g->frame_len = 2 + 4;		/* and the key */
		if (c < 126)
			g->payload = c;
		else
			g->frame_len += c == 126 ? 2 : 8;
	} else if (g->pos >= 2 && g->pos < g->frame_len - 4) {
		if (g->frame_len == 14 && g->pos == 2 && (c & 0x80)) {
			wsguard_violate(g, "frame length of 2^63 or more");
			return;
		}
		g->payload = g->payload << 8 | c;
	}
	if (++g->pos < 2 || g->pos < g->frame_len)
		return;
	g->pos = 0;
	if (g->payload > 0) {
		g->skip = g->payload;
		g->state = WSG_PAYLOAD;
	}
}

/* Follow len more bytes of g's connection. */
void
wsguard_parse(struct wsguard *g, const unsigned char *p, size_t len)
{
	size_t	 n;

	while (len > 0) {
		switch (g->state) {
		case WSG_BODY:
		case WSG_PAYLOAD:
			n = len < g->skip ? len : (size_t)g->skip;
			g->skip -= n;
			p += n;
			len -= n;
			if (g->skip == 0 && g->state == WSG_BODY)
				g->state = WSG_METHOD;
			else if (g->skip == 0)
				g->state = WSG_FRAME;
			continue;
		case WSG_VIOLATION:
		case WSG_UNTRACKED:
			return;
		case WSG_FRAME:
			wsguard_frame_char(g, *p);
			break;
		default:
			wsguard_head_char(g, *p);
			break;
		}
		p++;
		len--;
	}
}

/*
 * OpenSSL's SSL_read(), for lws.  Only after the real call returns bytes
 * does the guard of that connection (if any) see them.  Nothing here
 * changes errno or the OpenSSL error queue, which lws reads after a
 * return of 0 or less.
 */
int
SSL_read(SSL *ssl, void *buf, int num)
{
	struct wsguard	*g;
	int		 n;

	if (wsguard_real_read == NULL)
		fatalx("SSL_read called before wsguard_init");
	n = wsguard_real_read(ssl, buf, num);
	if (n > 0 && (g = SSL_get_ex_data(ssl, wsguard_index)) != NULL)
		wsguard_parse(g, buf, (size_t)n);
	return n;
}
