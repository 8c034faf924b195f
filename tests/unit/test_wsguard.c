/*
 * Unit tests for the websocket mask check (api/wsguard.c).  The parser
 * that follows request heads, bodies and frame headers gets its input
 * split at every byte boundary.  The cases cover 16- and 64-bit
 * lengths, control frames, requests before the upgrade and a table of
 * heads after which it must stop.  The last test runs the SSL_read()
 * wrapper over a TLS connection between two SSL objects in memory.
 */

#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "api.h"

#define UPGRADE_HEAD \
	"GET /api2/json/nodes/n1/qemu/100/mtunnelwebsocket?socket=" \
	"%2Frun%2Fqemu-server%2F100.mtunnel&ticket=abc HTTP/1.1\r\n" \
	"Host: 127.0.0.1:8006\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Key: bXR1bm5lbGQgdGVzdCBrZXk=\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"Authorization: PVEAPIToken=a@pve!t=secret\r\n" \
	"\r\n"

#define OP_BINARY	0x82	/* FIN and opcode 2 */
#define OP_PING		0x89
#define OP_PONG		0x8a
#define OP_CLOSE	0x88
#define HANDSHAKE_ROUNDS 100	/* bound on the in-memory TLS handshake */

/* A byte string under construction. */
struct bytes {
	unsigned char	*data;
	size_t		 len;
	size_t		 cap;
};

static struct conn	 test_conn;	/* only its address is used */
/*
 * The guard every test uses.  It is static so that a test that fails
 * half-way leaves no pointer to its stack on the list of violations:
 * the setup of the next test takes it off.
 */
static struct wsguard	 test_guard;
static SSL_CTX		*test_ctx;
static SSL		*test_ssl;	/* attached so that checks pass */

static void
put(struct bytes *b, const void *p, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->data = realloc(b->data, b->cap);
		assert_non_null(b->data);
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
}

static void
put_str(struct bytes *b, const char *s)
{
	put(b, s, strlen(s));
}

/*
 * A frame with first byte b0 and len payload bytes.  width forces the
 * length encoding (0: the shortest, 2: 16 bits, 8: 64 bits).  The
 * payload repeats 0x82 0x05, which reads as an unmasked frame header if
 * the parser loses its place.
 */
static void
put_frame(struct bytes *b, unsigned char b0, int masked, uint64_t len,
    int width)
{
	unsigned char	 hdr[14], mask = masked ? 0x80 : 0, trap[2];
	size_t		 n = 0;
	uint64_t	 i;
	int		 k;

	if (width == 0 && len >= 65536)
		width = 8;
	else if (width == 0 && len >= 126)
		width = 2;
	hdr[n++] = b0;
	if (width == 0)
		hdr[n++] = mask | (unsigned char)len;
	else {
		hdr[n++] = mask | (width == 2 ? 126 : 127);
		for (k = width - 1; k >= 0; k--)
			hdr[n++] = (unsigned char)(len >> (8 * k));
	}
	if (masked) {
		memcpy(hdr + n, "\x11\x22\x33\x44", 4);
		n += 4;
	}
	put(b, hdr, n);
	trap[0] = 0x82;
	trap[1] = 0x05;
	for (i = 0; i < len; i++)
		put(b, &trap[i & 1], 1);
}

static void
bytes_free(struct bytes *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void
guard_new(struct wsguard *g)
{
	wsguard_start(g, &test_conn);
	assert_int_equal(wsguard_attach(g, test_ssl), 0);
}

/* Detach g and check that no violation is left on the global list. */
static void
guard_end(struct wsguard *g)
{
	wsguard_detach(g, test_ssl);
	assert_null(wsguard_next_violation());
}

static void
feed(struct wsguard *g, const struct bytes *b, size_t from, size_t to)
{
	wsguard_parse(g, b->data + from, to - from);
}

static void
test_head_then_frames_one_read(void **state)
{
	struct wsguard	*g = &test_guard;
	struct bytes	 b = { 0 };

	put_str(&b, UPGRADE_HEAD);
	put_frame(&b, OP_BINARY, 1, 5, 0);
	put_frame(&b, OP_BINARY, 1, 0, 0);
	guard_new(g);
	feed(g, &b, 0, b.len);
	assert_null(wsguard_violation(g));
	assert_int_equal(g->state, WSG_FRAME);
	assert_int_equal(g->heads, 1);
	assert_int_equal(g->upgrade_head, 1);
	assert_null(wsguard_check_upgrade(g, 1));
	assert_non_null(wsguard_check_http(g, 1));
	guard_end(g);
	bytes_free(&b);
}

/* Masked frames of each length encoding, split in two at every byte. */
static void
test_masked_split_everywhere(void **state)
{
	struct wsguard	*g = &test_guard;
	struct bytes	 b = { 0 };
	size_t		 i;

	put_str(&b, UPGRADE_HEAD);
	put_frame(&b, OP_BINARY, 1, 3, 0);
	put_frame(&b, OP_BINARY, 1, 300, 0);
	put_frame(&b, OP_BINARY, 1, 70000, 0);
	/* A longer length encoding than needed. */
	put_frame(&b, OP_BINARY, 1, 4, 2);
	put_frame(&b, OP_BINARY, 1, 6, 8);
	put_frame(&b, OP_PING, 1, 0, 0);
	for (i = 0; i <= b.len; i++) {
		guard_new(g);
		feed(g, &b, 0, i);
		feed(g, &b, i, b.len);
		assert_null(wsguard_violation(g));
		assert_int_equal(g->state, WSG_FRAME);
		assert_int_equal(g->pos, 0);
		assert_int_equal(g->upgrade_head, 1);
		guard_end(g);
	}
	bytes_free(&b);
}

/*
 * Masked frames, then an unmasked one, split in two at every byte: the
 * violation shows exactly once the unmasked frame's second byte is in.
 */
static void
test_unmasked_split_everywhere(void **state)
{
	struct wsguard	*g = &test_guard;
	struct bytes	 b = { 0 };
	size_t		 i, mask_byte;

	put_str(&b, UPGRADE_HEAD);
	put_frame(&b, OP_BINARY, 1, 200, 0);
	put_frame(&b, OP_BINARY, 1, 65536, 0);
	mask_byte = b.len + 1;
	put_frame(&b, OP_BINARY, 0, 5, 0);
	put_frame(&b, OP_BINARY, 1, 5, 0);
	for (i = 0; i <= b.len; i++) {
		guard_new(g);
		feed(g, &b, 0, i);
		if (i <= mask_byte)
			assert_null(wsguard_violation(g));
		else
			assert_non_null(wsguard_violation(g));
		feed(g, &b, i, b.len);
		assert_string_equal(wsguard_violation(g),
		    "client frame without mask");
		assert_ptr_equal(wsguard_next_violation(), &test_conn);
		guard_end(g);
	}
	bytes_free(&b);
}

static void
test_byte_by_byte(void **state)
{
	struct wsguard	*g = &test_guard;
	struct bytes	 b = { 0 };
	size_t		 i, mask_byte;

	put_str(&b, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
	put_str(&b, UPGRADE_HEAD);
	put_frame(&b, OP_BINARY, 1, 126, 0);
	put_frame(&b, OP_PONG, 1, 3, 0);
	mask_byte = b.len + 1;
	put_frame(&b, OP_BINARY, 0, 0, 0);
	guard_new(g);
	for (i = 0; i < b.len; i++) {
		feed(g, &b, i, i + 1);
		if (i < mask_byte)
			assert_null(wsguard_violation(g));
		else
			assert_non_null(wsguard_violation(g));
	}
	assert_int_equal(g->heads, 2);
	assert_int_equal(g->upgrade_head, 2);
	assert_ptr_equal(wsguard_next_violation(), &test_conn);
	assert_null(wsguard_next_violation());
	guard_end(g);
	bytes_free(&b);
}

/* 16- and 64-bit lengths at their edges, each skipped exactly. */
static void
test_lengths_16_64(void **state)
{
	static const uint64_t	 lens[] = { 125, 126, 127, 65535, 65536,
	    65537, 200000 };
	struct wsguard		*g = &test_guard;
	struct bytes		 b = { 0 };
	size_t			 i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		b.len = 0;
		put_str(&b, UPGRADE_HEAD);
		put_frame(&b, OP_BINARY, 1, lens[i], 0);
		guard_new(g);
		feed(g, &b, 0, b.len - 1);
		assert_int_equal(g->state, WSG_PAYLOAD);
		assert_int_equal(g->skip, 1);
		feed(g, &b, b.len - 1, b.len);
		assert_int_equal(g->state, WSG_FRAME);
		put_frame(&b, OP_BINARY, 0, 1, 0);
		feed(g, &b, b.len - 3, b.len);
		assert_non_null(wsguard_violation(g));
		assert_ptr_equal(wsguard_next_violation(), &test_conn);
		guard_end(g);
	}
	bytes_free(&b);
}

static void
test_length_msb_set(void **state)
{
	struct wsguard	*g = &test_guard;
	struct bytes	 b = { 0 };

	put_str(&b, UPGRADE_HEAD);
	put(&b, "\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01", 10);
	guard_new(g);
	feed(g, &b, 0, b.len);
	assert_string_equal(wsguard_violation(g),
	    "frame length of 2^63 or more");
	assert_ptr_equal(wsguard_next_violation(), &test_conn);
	guard_end(g);
	bytes_free(&b);
}

/* A 2^40-byte payload is skipped by counting, read after read. */
static void
test_large_payload_skip(void **state)
{
	struct wsguard	*g = &test_guard;
	struct bytes	 b = { 0 };
	unsigned char	*chunk;
	uint64_t	 len = (uint64_t)1 << 40;
	int		 i;

	put_str(&b, UPGRADE_HEAD);
	put(&b, "\x82\xff\x00\x00\x01\x00\x00\x00\x00\x00", 10);
	put(&b, "\x01\x02\x03\x04", 4);
	guard_new(g);
	feed(g, &b, 0, b.len);
	assert_int_equal(g->state, WSG_PAYLOAD);
	assert_int_equal(g->skip, len);
	chunk = calloc(1, 1 << 20);
	assert_non_null(chunk);
	for (i = 0; i < 8; i++)
		wsguard_parse(g, chunk, 1 << 20);	/* all zero: unmasked */
	assert_null(wsguard_violation(g));
	assert_int_equal(g->skip, len - ((uint64_t)8 << 20));
	free(chunk);
	guard_end(g);
	bytes_free(&b);
}

static void
test_control_frames(void **state)
{
	static const struct {
		unsigned char	 b0;
		int		 masked;
		uint64_t	 len;
	} cases[] = {
		{ OP_PING, 1, 0 }, { OP_PING, 1, 125 }, { OP_PONG, 1, 4 },
		{ OP_CLOSE, 1, 2 }, { OP_CLOSE, 1, 0 },
		{ OP_PING, 0, 0 }, { OP_PONG, 0, 4 }, { OP_CLOSE, 0, 2 },
	};
	struct wsguard		*g = &test_guard;
	struct bytes		 b = { 0 };
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b.len = 0;
		put_str(&b, UPGRADE_HEAD);
		put_frame(&b, cases[i].b0, cases[i].masked, cases[i].len, 0);
		guard_new(g);
		feed(g, &b, 0, b.len);
		if (cases[i].masked) {
			assert_null(wsguard_violation(g));
			assert_int_equal(g->state, WSG_FRAME);
		} else {
			assert_non_null(wsguard_violation(g));
			assert_ptr_equal(wsguard_next_violation(), &test_conn);
		}
		guard_end(g);
	}
	bytes_free(&b);
}

/*
 * A POST whose body looks like an upgrade request and an unmasked
 * frame, then the upgrade, then masked frames: the body is skipped by
 * its Content-Length, split anywhere.
 */
static void
test_post_body_before_upgrade(void **state)
{
	static const char	 body[] = "GET / HTTP/1.1\r\nUpgrade: "
	    "websocket\r\n\r\n\x82\x05hello";
	struct wsguard		*g = &test_guard;
	struct bytes		 b = { 0 };
	char			 head[256];
	size_t			 i;

	snprintf(head, sizeof(head), "POST /api2/json/nodes/n1/qemu/100/"
	    "mtunnel HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n\r\n",
	    sizeof(body) - 1);
	put_str(&b, head);
	put_str(&b, body);
	put_str(&b, "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	put_str(&b, UPGRADE_HEAD);
	put_frame(&b, OP_BINARY, 1, 5, 0);
	for (i = 0; i <= b.len; i++) {
		guard_new(g);
		feed(g, &b, 0, i);
		feed(g, &b, i, b.len);
		assert_null(wsguard_violation(g));
		assert_int_equal(g->heads, 3);
		assert_int_equal(g->upgrade_head, 3);
		assert_null(wsguard_check_http(g, 1));
		assert_null(wsguard_check_http(g, 2));
		assert_null(wsguard_check_upgrade(g, 3));
		assert_non_null(wsguard_check_upgrade(g, 2));
		guard_end(g);
	}
	bytes_free(&b);
}

/* Heads the parser must agree with lws on, and keep following. */
static void
test_heads_followed(void **state)
{
	static const char	*heads[] = {
		"GET / HTTP/1.0\r\n\r\n",
		"HEAD /a?b=c&d=%2F HTTP/1.1\r\nHost:x\r\n\r\n",
		"DELETE /a HTTP/1.1\r\nX-Custom: v\r\nZZ: \r\n\r\n",
		"OPTIONS /a HTTP/1.1\r\nUpgrade-Insecure-Requests: 1\r\n\r\n",
		"GET /a HTTP/1.1\r\nAccept-Encoding: gzip,\tdeflate\r\n\r\n",
		"GET /a HTTP/1.1\r\nUser-Agent: \xc3\xa9t\xc3\xa9\r\n\r\n",
		"GET /a HTTP/1.1\r\ncontent-length:   0\r\n\r\n",
		"PUT /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nab",
		"PATCH /a HTTP/1.1\r\nCONTENT-LENGTH: 1\r\n\r\nz",
		"GET /a HTTP/1.1\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n",
	};
	struct wsguard		*g = &test_guard;
	struct bytes		 b = { 0 };
	size_t			 i;

	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		b.len = 0;
		put_str(&b, heads[i]);
		put_str(&b, "GET /ws HTTP/1.1\r\nupgrade: WebSocket\r\n\r\n");
		put_frame(&b, OP_BINARY, 1, 2, 0);
		guard_new(g);
		feed(g, &b, 0, b.len);
		if (g->state == WSG_UNTRACKED)
			fail_msg("head %zu untracked: %s", i, g->why);
		assert_int_equal(g->upgrade_head, 2);
		assert_null(wsguard_check_upgrade(g, 2));
		guard_end(g);
	}
	bytes_free(&b);
}

/*
 * Heads lws would read differently, or not at all: the parser stops,
 * reports no frame after them, and rejects an upgrade.
 */
static void
test_heads_untracked(void **state)
{
	static const char	*heads[] = {
		"\r\nGET / HTTP/1.1\r\n\r\n",		/* empty line first */
		"get / HTTP/1.1\r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"GETTING / HTTP/1.1\r\n\r\n",
		"CONNECT h:443 HTTP/1.1\r\n\r\n",
		"GET x HTTP/1.1\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET /\r\n\r\n",
		"GET / HTTP/1.1\n\n",
		"GET / HTTP/1.1\r\nHost: x\n\r\n",
		"GET / HTTP/1.1\r\nHost\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: x\r\n\r\n",	/* folded line */
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET / HTTP/1.1\r\nContent: x\r\n\r\n",	/* lws reads on */
		"GET / HTTP/1.1\r\nHos: x\r\n\r\n",
		"GET / HTTP/1.1\r\nX: y\r\n\r\n",
		"GET / HTTP/1.1\r\nX-Forwarded-Fo: y\r\n\r\n",
		"GET / HTTP/1.1\r\nPut-Thing: x\r\n\r\n",
		"GET / HTTP/1.1\r\nDeleted: x\r\n\r\n",
		"GET / HTTP/1.1\r\nUri-Args: x\r\n\r\n",
		"GET / HTTP/1.1\r\nMy-Header: 1\rb\r\n\r\n",
		"GET / HTTP/1.1\r\nMy-Header: \x01\r\n\r\n",
		"GET /%0a HTTP/1.1\r\n\r\n",
		"GET /%0D HTTP/1.1\r\n\r\n",
		"GET /%00 HTTP/1.1\r\n\r\n",
		"GET /%zz HTTP/1.1\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n"
		    "\r\n",
		"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1000000000000000000\r\n"
		    "\r\n",
		"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade:\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade:   \r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\nUpgrade: websocket\r\n"
		    "\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",	/* TLS */
	};
	struct wsguard		*g = &test_guard;
	struct bytes		 b = { 0 };
	size_t			 i;

	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		b.len = 0;
		put_str(&b, heads[i]);
		put_str(&b, UPGRADE_HEAD);
		put_frame(&b, OP_BINARY, 0, 5, 0);
		guard_new(g);
		feed(g, &b, 0, b.len);
		if (g->state != WSG_UNTRACKED)
			fail_msg("head %zu followed, state %d", i, g->state);
		assert_non_null(g->why);
		assert_null(wsguard_violation(g));
		assert_non_null(wsguard_check_upgrade(g, 1));
		assert_non_null(wsguard_check_upgrade(g, 2));
		guard_end(g);
	}
	bytes_free(&b);
}

/* Three requests on one connection, then the upgrade. */
static void
test_keepalive_then_upgrade(void **state)
{
	struct wsguard	*g = &test_guard;
	struct bytes	 b = { 0 };
	int		 i;

	for (i = 0; i < 3; i++)
		put_str(&b, "GET /api2/json/cluster/status HTTP/1.1\r\n"
		    "Host: x\r\nAuthorization: PVEAPIToken=a@pve!t=s\r\n\r\n");
	put_str(&b, UPGRADE_HEAD);
	guard_new(g);
	feed(g, &b, 0, b.len);
	assert_int_equal(g->heads, 4);
	assert_null(wsguard_check_http(g, 3));
	assert_non_null(wsguard_check_http(g, 4));
	assert_non_null(wsguard_check_upgrade(g, 3));
	assert_null(wsguard_check_upgrade(g, 4));
	guard_end(g);
	bytes_free(&b);
}

/* A guard that was never attached to an SSL refuses upgrades. */
static void
test_unattached_refuses(void **state)
{
	struct wsguard	*g = &test_guard;
	struct bytes	 b = { 0 };

	put_str(&b, UPGRADE_HEAD);
	wsguard_start(g, &test_conn);
	feed(g, &b, 0, b.len);
	assert_int_equal(g->upgrade_head, 1);
	assert_non_null(wsguard_check_upgrade(g, 1));
	wsguard_detach(g, NULL);
	bytes_free(&b);
}

/* Detaching a connection with a pending violation takes it off the list. */
static void
test_detach_drops_violation(void **state)
{
	struct wsguard	*g = &test_guard;
	struct bytes	 b = { 0 };

	put_str(&b, UPGRADE_HEAD);
	put_frame(&b, OP_BINARY, 0, 1, 0);
	put_frame(&b, OP_BINARY, 0, 1, 0);
	guard_new(g);
	feed(g, &b, 0, b.len);
	assert_non_null(wsguard_violation(g));
	guard_end(g);
	bytes_free(&b);
}

/* A self-signed P-256 certificate and key for the in-memory server. */
static SSL_CTX *
server_ctx(void)
{
	EVP_PKEY	*key;
	X509		*cert;
	X509_NAME	*name;
	SSL_CTX		*ctx;

	assert_non_null(key = EVP_EC_gen("P-256"));
	assert_non_null(cert = X509_new());
	assert_int_equal(X509_set_version(cert, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	assert_int_equal(X509_set_pubkey(cert, key), 1);
	name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"wsguard", -1, -1, 0);
	assert_int_equal(X509_set_issuer_name(cert, name), 1);
	assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
	assert_non_null(ctx = SSL_CTX_new(TLS_server_method()));
	assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ctx;
}

/* Read everything the client wrote through SSL_read(), our wrapper. */
static void
server_read_all(SSL *server, struct bytes *got, size_t want)
{
	unsigned char	 buf[4096];
	int		 n, rounds = 0;

	while (got->len < want) {
		assert_true(++rounds < 10000);
		n = SSL_read(server, buf, sizeof(buf));
		assert_true(n > 0);
		put(got, buf, (size_t)n);
	}
}

static void
test_ssl_read_wrapper(void **state)
{
	SSL_CTX		*sctx, *cctx;
	SSL		*server, *client;
	BIO		*sbio, *cbio;
	struct wsguard	*g = &test_guard;
	struct bytes	 b = { 0 }, got = { 0 };
	int		 i, cdone = 0, sdone = 0;

	sctx = server_ctx();
	assert_non_null(cctx = SSL_CTX_new(TLS_client_method()));
	assert_non_null(server = SSL_new(sctx));
	assert_non_null(client = SSL_new(cctx));
	assert_int_equal(BIO_new_bio_pair(&sbio, 0, &cbio, 0), 1);
	SSL_set_bio(server, sbio, sbio);
	SSL_set_bio(client, cbio, cbio);
	SSL_set_accept_state(server);
	SSL_set_connect_state(client);
	for (i = 0; i < HANDSHAKE_ROUNDS && !(cdone && sdone); i++) {
		cdone = cdone || SSL_do_handshake(client) == 1;
		sdone = sdone || SSL_do_handshake(server) == 1;
	}
	assert_true(cdone && sdone);

	wsguard_start(g, &test_conn);
	assert_int_equal(wsguard_attach(g, server), 0);
	put_str(&b, UPGRADE_HEAD);
	put_frame(&b, OP_BINARY, 1, 3000, 0);
	put_frame(&b, OP_BINARY, 0, 1, 0);
	assert_int_equal(SSL_write(client, b.data, (int)b.len), (int)b.len);
	server_read_all(server, &got, b.len);
	assert_int_equal(got.len, b.len);
	assert_memory_equal(got.data, b.data, b.len);
	assert_int_equal(g->upgrade_head, 1);
	assert_non_null(wsguard_violation(g));
	assert_ptr_equal(wsguard_next_violation(), &test_conn);

	/* After detaching, reads reach no guard. */
	wsguard_detach(g, server);
	wsguard_start(g, &test_conn);
	assert_int_equal(SSL_write(client, "GET", 3), 3);
	got.len = 0;
	server_read_all(server, &got, 3);
	assert_int_equal(g->state, WSG_METHOD);
	assert_int_equal(g->pos, 0);

	SSL_free(client);
	SSL_free(server);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	bytes_free(&b);
	bytes_free(&got);
}

static int
guard_reset(void **state)
{
	wsguard_detach(&test_guard, NULL);
	while (wsguard_next_violation() != NULL)
		;
	return 0;
}

static int
setup(void **state)
{
	wsguard_init();
	test_ctx = SSL_CTX_new(TLS_server_method());
	test_ssl = test_ctx != NULL ? SSL_new(test_ctx) : NULL;
	return test_ssl == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	SSL_free(test_ssl);
	SSL_CTX_free(test_ctx);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_head_then_frames_one_read,
		    guard_reset),
		cmocka_unit_test_setup(test_masked_split_everywhere, guard_reset),
		cmocka_unit_test_setup(test_unmasked_split_everywhere, guard_reset),
		cmocka_unit_test_setup(test_byte_by_byte, guard_reset),
		cmocka_unit_test_setup(test_lengths_16_64, guard_reset),
		cmocka_unit_test_setup(test_length_msb_set, guard_reset),
		cmocka_unit_test_setup(test_large_payload_skip, guard_reset),
		cmocka_unit_test_setup(test_control_frames, guard_reset),
		cmocka_unit_test_setup(test_post_body_before_upgrade, guard_reset),
		cmocka_unit_test_setup(test_heads_followed, guard_reset),
		cmocka_unit_test_setup(test_heads_untracked, guard_reset),
		cmocka_unit_test_setup(test_keepalive_then_upgrade, guard_reset),
		cmocka_unit_test_setup(test_unattached_refuses, guard_reset),
		cmocka_unit_test_setup(test_detach_drops_violation, guard_reset),
		cmocka_unit_test_setup(test_ssl_read_wrapper, guard_reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
