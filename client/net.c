/*
 * HTTPS requests and websockets to the target through libwebsockets 4.1,
 * one connection per request or websocket, all driven from one service
 * loop with a deadline per wait.
 *
 * The target's certificate is pinned: the TLS verify callback accepts
 * the chain only when the leaf's SHA-256 fingerprint matches, and the
 * fingerprint is checked again right before the request headers (and so
 * the API token) are written.  Websocket frames are binary, masked (lws
 * masks every client frame) and at most FRAME_MAX bytes.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "migrate.h"
#include "net.h"

static volatile sig_atomic_t	 interrupted;

static int	client_callback(struct lws *, enum lws_callback_reasons, void *,
		    void *, size_t);

static const struct lws_protocols protocols[] = {
	{ "mtunnel-migrate", client_callback, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

const char *
net_protocol_name(void)
{
	return protocols[0].name;
}

void
client_interrupt(void)
{
	interrupted = 1;
}

int
client_interrupted(void)
{
	return interrupted;
}

/* From now on an interrupt no longer cuts the waits short. */
void
client_cleanup_mode(struct client *c)
{
	c->cleaning = 1;
}

static int
buf_append(struct buf *b, const void *data, size_t len, size_t max)
{
	char	*p;

	if (b->len + len > max)
		return -1;
	if ((p = realloc(b->data, b->len + len + 1)) == NULL)
		return -1;
	memcpy(p + b->len, data, len);
	b->len += len;
	p[b->len] = '\0';
	b->data = p;
	return 0;
}

static void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int
url_encode(char *dst, size_t dstlen, const char *src)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 o = 0;
	unsigned char		 ch;

	if (dstlen == 0)
		return -1;
	for (; *src != '\0'; src++) {
		ch = (unsigned char)*src;
		if (o + 4 > dstlen)
			return -1;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL)
			dst[o++] = ch;
		else {
			dst[o++] = '%';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		}
	}
	dst[o] = '\0';
	return 0;
}

static void
fingerprint_of(X509 *cert, char *out, size_t outlen)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 len = 0, i;
	size_t		 o = 0;

	out[0] = '\0';
	if (X509_digest(cert, EVP_sha256(), md, &len) != 1)
		return;
	for (i = 0; i < len && o + 4 <= outlen; i++)
		o += snprintf(out + o, outlen - o, "%s%02X", i ? ":" : "",
		    md[i]);
}

/*
 * TLS verify callback: only the leaf's fingerprint counts, chain and
 * host name errors are overruled, as the Proxmox VE client does with a
 * pinned fingerprint.  Returns 0 to accept, 1 to fail the handshake.
 */
static int
verify_cert(struct conn *cn, X509_STORE_CTX *store)
{
	char	 fp[FINGERPRINT_MAX + 8];

	if (cn == NULL)
		return 1;
	if (X509_STORE_CTX_get_error_depth(store) == 0) {
		fingerprint_of(X509_STORE_CTX_get_current_cert(store), fp,
		    sizeof(fp));
		if (strcmp(fp, cn->client->target->fingerprint) != 0) {
			snprintf(cn->err, sizeof(cn->err), "certificate "
			    "fingerprint mismatch: expected %s, server sent "
			    "%s", cn->client->target->fingerprint, fp);
			cn->pin_failed = 1;
			return 1;
		}
	}
	X509_STORE_CTX_set_error(store, X509_V_OK);
	return 0;
}

/* Check the pin on the established TLS session before any header. */
static int
pin_ok(struct conn *cn)
{
	SSL	*ssl = lws_get_ssl(cn->wsi);
	X509	*cert;
	char	 fp[FINGERPRINT_MAX + 8];

	if (ssl == NULL || (cert = SSL_get1_peer_certificate(ssl)) == NULL) {
		snprintf(cn->err, sizeof(cn->err), "no server certificate");
		cn->pin_failed = 1;
		return 0;
	}
	fingerprint_of(cert, fp, sizeof(fp));
	X509_free(cert);
	if (strcmp(fp, cn->client->target->fingerprint) != 0) {
		snprintf(cn->err, sizeof(cn->err), "certificate fingerprint "
		    "mismatch: expected %s, server sent %s",
		    cn->client->target->fingerprint, fp);
		cn->pin_failed = 1;
		return 0;
	}
	return 1;
}

static int
add_headers(struct conn *cn, unsigned char **p, size_t len)
{
	unsigned char	*end = *p + len;
	const char	*auth = cn->client->target->apitoken;
	char		 num[32];

	if (!pin_ok(cn))
		return -1;
	if (lws_add_http_header_by_name(cn->wsi,
	    (const unsigned char *)"Authorization:",
	    (const unsigned char *)auth, (int)strlen(auth), p, end))
		return -1;
	if (cn->kind != CONN_HTTP || cn->form == NULL)
		return 0;
	snprintf(num, sizeof(num), "%zu", strlen(cn->form));
	if (lws_add_http_header_by_name(cn->wsi,
	    (const unsigned char *)"Content-Type:",
	    (const unsigned char *)"application/x-www-form-urlencoded", 33,
	    p, end) ||
	    lws_add_http_header_by_name(cn->wsi,
	    (const unsigned char *)"Content-Length:",
	    (const unsigned char *)num, (int)strlen(num), p, end))
		return -1;
	lws_client_http_body_pending(cn->wsi, 1);
	lws_callback_on_writable(cn->wsi);
	return 0;
}

static int
http_write_body(struct conn *cn)
{
	size_t		 len = strlen(cn->form);
	unsigned char	*buf;
	int		 rv = 0;

	if (cn->body_sent)
		return 0;
	if ((buf = malloc(LWS_PRE + len + 1)) == NULL)
		return -1;
	memcpy(buf + LWS_PRE, cn->form, len);
	if (lws_write(cn->wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) !=
	    (int)len)
		rv = -1;
	free(buf);
	cn->body_sent = 1;
	lws_client_http_body_pending(cn->wsi, 0);
	return rv;
}

static int
http_read(struct conn *cn)
{
	char	 buffer[LWS_PRE + 16384], *px = buffer + LWS_PRE;
	int	 lenx = sizeof(buffer) - LWS_PRE;

	if (lws_http_client_read(cn->wsi, &px, &lenx) < 0)
		return -1;
	return 0;
}

/* Write the next part of the control connection's output. */
static int
control_writeable(struct conn *cn)
{
	unsigned char	*buf;
	size_t		 n = cn->out.len - cn->out.off;
	int		 rv = 0;

	if (cn->closing) {
		lws_close_reason(cn->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	if (n == 0)
		return 0;
	if (n > FRAME_MAX)
		n = FRAME_MAX;
	if ((buf = malloc(LWS_PRE + n)) == NULL)
		return -1;
	memcpy(buf + LWS_PRE, cn->out.data + cn->out.off, n);
	if (lws_write(cn->wsi, buf + LWS_PRE, n, LWS_WRITE_BINARY) < (int)n)
		rv = -1;
	free(buf);
	cn->out.off += n;
	if (cn->out.off == cn->out.len)
		buf_free(&cn->out);
	else
		lws_callback_on_writable(cn->wsi);
	return rv;
}

/* Microseconds to wait before the next frame keeps the stream in limit. */
static long
stream_delay(struct conn *cn)
{
	double	 due;

	if (cn->bwlimit <= 0)
		return 0;
	due = cn->start + cn->sent / cn->bwlimit;
	if (due <= now_seconds())
		return 0;
	return (long)((due - now_seconds()) * 1e6) + 1;
}

static int
stream_writeable(struct conn *cn)
{
	static unsigned char	 buf[LWS_PRE + FRAME_MAX];
	unsigned char		*p = buf + LWS_PRE;
	size_t			 n = 0;
	ssize_t			 r;
	long			 delay;

	if (cn->eof || cn->closing) {
		lws_close_reason(cn->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	if ((delay = stream_delay(cn)) > 0) {
		lws_set_timer_usecs(cn->wsi, delay);
		return 0;
	}
	if (cn->hdrlen > 0) {
		memcpy(p, cn->hdr, cn->hdrlen);
		n = cn->hdrlen;
		cn->hdrlen = 0;
	}
	r = read(cn->fd, p + n, FRAME_MAX - n);
	if (r == -1) {
		snprintf(cn->err, sizeof(cn->err), "read failed: %s",
		    strerror(errno));
		return -1;
	}
	if (r == 0)
		cn->eof = 1;
	n += r;
	if (n > 0 && lws_write(cn->wsi, p, n, LWS_WRITE_BINARY) < (int)n) {
		snprintf(cn->err, sizeof(cn->err), "websocket write failed");
		return -1;
	}
	cn->sent += r;
	if (cn->progress != NULL)
		progress_update(cn->progress, cn->sent);
	lws_callback_on_writable(cn->wsi);
	return 0;
}

void
conn_fail(struct conn *cn, const char *why)
{
	if (cn->state == CONN_DONE || cn->state == CONN_FAILED)
		return;
	cn->state = CONN_FAILED;
	if (cn->err[0] == '\0')
		snprintf(cn->err, sizeof(cn->err), "%s", why);
}

static int
callback_http(struct conn *cn, enum lws_callback_reasons reason, void *in,
    size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
		return http_write_body(cn);
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		cn->status = (int)lws_http_client_http_response(cn->wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
		return http_read(cn);
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		if (buf_append(&cn->body, in, len, BODY_MAX) == -1) {
			conn_fail(cn, "reply too large");
			return -1;
		}
		return 0;
	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
		if (cn->state == CONN_CONNECTING)
			cn->state = CONN_DONE;
		return -1;
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		if (cn->status != 0 && cn->state == CONN_CONNECTING)
			cn->state = CONN_DONE;
		conn_fail(cn, "connection closed before the reply");
		cn->wsi = NULL;
		return 0;
	default:
		return 0;
	}
}

static int
callback_ws(struct conn *cn, enum lws_callback_reasons reason, void *in,
    size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		cn->state = CONN_OPEN;
		cn->start = now_seconds();
		lws_callback_on_writable(cn->wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (cn->kind == CONN_CONTROL)
			return control_writeable(cn);
		return stream_writeable(cn);
	case LWS_CALLBACK_TIMER:
		lws_callback_on_writable(cn->wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (cn->kind == CONN_CONTROL &&
		    buf_append(&cn->in, in, len, LINE_MAX_CTL) == -1) {
			conn_fail(cn, "reply line too long");
			return -1;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (cn->kind == CONN_STREAM && cn->eof && cn->err[0] == '\0')
			cn->state = CONN_DONE;
		conn_fail(cn, "connection closed by the target");
		cn->wsi = NULL;
		return 0;
	default:
		return 0;
	}
}

static int
client_callback(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct conn	*cn = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	if (reason == LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION)
		return verify_cert(cn, user);
	if (cn == NULL)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return add_headers(cn, in, len);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		conn_fail(cn, in != NULL ? (const char *)in :
		    "connection failed");
		cn->wsi = NULL;
		return 0;
	default:
		break;
	}
	switch (cn->kind) {
	case CONN_HTTP:
		return callback_http(cn, reason, in, len);
	case CONN_RELAY:
		return relay_ws_callback(cn, reason, in, len);
	case CONN_LOCAL:
		return relay_local_callback(cn, reason);
	default:
		return callback_ws(cn, reason, in, len);
	}
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	struct client	*c = lws_container_of(sul, struct client, tick);

	lws_sul_schedule(c->ctx, 0, &c->tick, tick, TICK_US);
}

static void
lws_log_emit(int level, const char *line)
{
	fprintf(stderr, "mtunnel-migrate: lws: %s", line);
}

struct client *
client_new(const struct target *t, char *err, size_t errlen)
{
	struct lws_context_creation_info	 info;
	struct client				*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->target = t;
	if (strchr(t->host, ':') != NULL)
		snprintf(c->hostheader, sizeof(c->hostheader), "[%s]:%d",
		    t->host, t->port);
	else
		snprintf(c->hostheader, sizeof(c->hostheader), "%s:%d",
		    t->host, t->port);
	lws_set_log_level(LLL_ERR, lws_log_emit);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.pt_serv_buf_size = 32 * 1024;
	info.gid = -1;
	info.uid = -1;
	if ((c->ctx = lws_create_context(&info)) == NULL) {
		snprintf(err, errlen, "cannot create the libwebsockets "
		    "context");
		free(c);
		return NULL;
	}
	lws_sul_schedule(c->ctx, 0, &c->tick, tick, TICK_US);
	return c;
}

static void
conn_free(struct conn *cn)
{
	buf_free(&cn->body);
	buf_free(&cn->in);
	buf_free(&cn->out);
	free(cn);
}

void
client_free(struct client *c)
{
	if (c == NULL)
		return;
	lws_sul_cancel(&c->tick);
	lws_context_destroy(c->ctx);
	relays_free(c);
	if (c->control != NULL)
		conn_free(c->control);
	free(c);
}

/* Start a connection; cn->wsi is set while it exists. */
int
conn_start(struct client *c, struct conn *cn, const char *path,
    const char *method)
{
	struct lws_client_connect_info	 ci;

	cn->client = c;
	memset(&ci, 0, sizeof(ci));
	ci.context = c->ctx;
	ci.address = c->target->host;
	ci.port = c->target->port;
	ci.ssl_connection = LCCSCF_USE_SSL | LCCSCF_ALLOW_SELFSIGNED |
	    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK | LCCSCF_ALLOW_EXPIRED |
	    LCCSCF_ALLOW_INSECURE | LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
	ci.path = path;
	ci.host = c->hostheader;
	ci.origin = c->hostheader;
	ci.method = method;
	ci.alpn = "http/1.1";
	ci.local_protocol_name = protocols[0].name;
	ci.opaque_user_data = cn;
	ci.pwsi = &cn->wsi;
	if (lws_client_connect_via_info(&ci) == NULL && cn->state ==
	    CONN_CONNECTING) {
		conn_fail(cn, "cannot start the connection");
		return -1;
	}
	return cn->state == CONN_FAILED ? -1 : 0;
}

/*
 * Run the event loop until done(cn) or timeout seconds.  Returns 0, or
 * -1 with cn->err on failure, timeout or interrupt.
 */
static int
service_until(struct client *c, struct conn *cn, int (*done)(struct conn *),
    int timeout, const char *what)
{
	double	 deadline = now_seconds() + timeout;

	while (!done(cn)) {
		if (cn->state == CONN_FAILED)
			return -1;
		if (interrupted && !c->cleaning) {
			snprintf(cn->err, sizeof(cn->err), "interrupted");
			return -1;
		}
		if (now_seconds() > deadline) {
			snprintf(cn->err, sizeof(cn->err), "%s timed out "
			    "after %d s", what, timeout);
			return -1;
		}
		if (lws_service(c->ctx, 0) < 0) {
			snprintf(cn->err, sizeof(cn->err), "event loop failed");
			return -1;
		}
	}
	return 0;
}

void
client_service(struct client *c, int ms)
{
	double	 end = now_seconds() + ms / 1000.0;

	while (now_seconds() < end)
		if (lws_service(c->ctx, 0) < 0)
			return;
}

static int
http_done(struct conn *cn)
{
	return cn->state == CONN_DONE;
}

static int
gone(struct conn *cn)
{
	return cn->wsi == NULL;
}

/* Close cn's connection if it still exists and wait for it to go. */
static void
conn_close(struct client *c, struct conn *cn)
{
	int	 cleaning = c->cleaning;

	if (cn->wsi == NULL)
		return;
	if (cn->kind != CONN_HTTP && cn->state == CONN_OPEN) {
		cn->closing = 1;
		lws_callback_on_writable(cn->wsi);
	} else
		lws_set_timeout(cn->wsi, PENDING_TIMEOUT_CLOSE_SEND,
		    LWS_TO_KILL_ASYNC);
	c->cleaning = 1;
	service_until(c, cn, gone, CLOSE_TIMEOUT, "close");
	c->cleaning = cleaning;
	/* The caller frees cn: later callbacks of the wsi must not see it. */
	if (cn->wsi != NULL)
		lws_set_opaque_user_data(cn->wsi, NULL);
}

int
api_call(struct client *c, const char *method, const char *path,
    const char *form, int *status, char **body, size_t *bodylen, char *err,
    size_t errlen)
{
	struct conn	*cn;
	char		 full[2048];
	int		 rv = 0;

	*body = NULL;
	*bodylen = 0;
	if ((cn = calloc(1, sizeof(*cn))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(full, sizeof(full), "/api2/json/%s", path);
	cn->kind = CONN_HTTP;
	cn->method = method;
	cn->form = form;
	if (conn_start(c, cn, full, method) == -1 ||
	    service_until(c, cn, http_done, 60, "API request") == -1) {
		snprintf(err, errlen, "%s %s: %s", method, path, cn->err);
		rv = -1;
	} else {
		*status = cn->status;
		*body = cn->body.data ? cn->body.data : strdup("");
		*bodylen = cn->body.len;
		cn->body.data = NULL;
	}
	conn_close(c, cn);
	conn_free(cn);
	return rv;
}

/*
 * Join the lines of a message with spaces and drop a trailing LF.  Other
 * control characters from the target become '?', so that its text
 * cannot send escape sequences to the terminal.
 */
void
one_line(char *msg)
{
	size_t	 len = strlen(msg);

	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	for (; *msg != '\0'; msg++)
		if (*msg == '\n')
			*msg = ' ';
		else if ((unsigned char)*msg < 0x20 || *msg == 0x7f)
			*msg = '?';
}

json_t *
api_reply_data(const char *method, const char *path, int status,
    const char *body, size_t bodylen, char *err, size_t errlen)
{
	json_t	*root, *data, *msg;

	root = json_loadb(body, bodylen, 0, NULL);
	msg = json_object_get(root, "message");
	if (status == 401)
		snprintf(err, errlen, "%s %s: authentication failed (HTTP "
		    "401): check the API token", method, path);
	else if (status != 200)
		snprintf(err, errlen, "%s %s: HTTP %d: %s", method, path,
		    status, json_is_string(msg) ? json_string_value(msg) :
		    "no message");
	else if ((data = json_object_get(root, "data")) == NULL)
		snprintf(err, errlen, "%s %s: reply without data", method,
		    path);
	else {
		json_incref(data);
		json_decref(root);
		return data;
	}
	err[strcspn(err, "\n")] = '\0';
	one_line(err);
	json_decref(root);
	return NULL;
}

int
ws_path(char *out, size_t outlen, const char *node, uint32_t vmid,
    const char *socket, const char *ticket)
{
	char	 esock[1024], eticket[1024];

	if (url_encode(esock, sizeof(esock), socket) == -1 ||
	    url_encode(eticket, sizeof(eticket), ticket) == -1)
		return -1;
	if ((size_t)snprintf(out, outlen, "/api2/json/nodes/%s/qemu/%u/"
	    "mtunnelwebsocket?socket=%s&ticket=%s", node, vmid, esock,
	    eticket) >= outlen)
		return -1;
	return 0;
}

static int
ws_open(struct conn *cn)
{
	return cn->state != CONN_CONNECTING;
}

int
ctl_open(struct client *c, const char *path, char *err, size_t errlen)
{
	struct conn	*cn;

	if ((cn = calloc(1, sizeof(*cn))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cn->kind = CONN_CONTROL;
	c->control = cn;
	if (conn_start(c, cn, path, NULL) == -1 ||
	    service_until(c, cn, ws_open, CONNECT_TIMEOUT, "websocket "
	    "upgrade") == -1 || cn->state != CONN_OPEN) {
		snprintf(err, errlen, "control websocket: %s", cn->err);
		return -1;
	}
	return 0;
}

static int
line_ready(struct conn *cn)
{
	return cn->in.data != NULL && memchr(cn->in.data, '\n', cn->in.len);
}

/* The length of the first line of the control input, without its LF. */
static size_t
line_length(const struct conn *cn)
{
	return (const char *)memchr(cn->in.data, '\n', cn->in.len) -
	    cn->in.data;
}

/* Drop the first line of the control input and its LF. */
static void
drop_line(struct conn *cn)
{
	size_t	 n = line_length(cn);

	memmove(cn->in.data, cn->in.data + n + 1, cn->in.len - n - 1);
	cn->in.len -= n + 1;
}

static int
reply_check(json_t *reply, const char *req, json_t **out, char *err,
    size_t errlen)
{
	json_t	*success = json_object_get(reply, "success");
	json_t	*msg = json_object_get(reply, "msg");

	if (!json_is_object(reply)) {
		snprintf(err, errlen, "failed to decode tunnel reply to %s",
		    req);
		json_decref(reply);
		return -1;
	}
	if (!json_is_true(success) && !(json_is_integer(success) &&
	    json_integer_value(success) == 1)) {
		snprintf(err, errlen, "tunnel command '%s' failed - %s", req,
		    json_is_string(msg) ? json_string_value(msg) :
		    "no message");
		one_line(err);
		json_decref(reply);
		return -1;
	}
	if (out != NULL)
		*out = reply;
	else
		json_decref(reply);
	return 0;
}

int
ctl_reply_decode(const char *line, size_t len, const char *req,
    json_t **reply, char *err, size_t errlen)
{
	return reply_check(json_loadb(line, len, 0, NULL), req, reply, err,
	    errlen);
}

int
ctl_command(struct client *c, json_t *req, int timeout, json_t **reply,
    char *err, size_t errlen)
{
	struct conn	*cn = c->control;
	char		*text;
	int		 rv;

	if (cn == NULL || cn->state != CONN_OPEN) {
		snprintf(err, errlen, "control websocket is not open");
		return -1;
	}
	if ((text = json_dumps(req, JSON_COMPACT)) == NULL ||
	    buf_append(&cn->out, text, strlen(text), LINE_MAX_CTL) == -1 ||
	    buf_append(&cn->out, "\n", 1, LINE_MAX_CTL + 1) == -1) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	lws_callback_on_writable(cn->wsi);
	if (service_until(c, cn, line_ready, timeout, "tunnel reply") == -1) {
		snprintf(err, errlen, "tunnel command '%s' failed - %s", text,
		    cn->err);
		free(text);
		return -1;
	}
	rv = ctl_reply_decode(cn->in.data, line_length(cn), text, reply, err,
	    errlen);
	drop_line(cn);
	free(text);
	return rv;
}

/* Send a Close frame on the control websocket and wait for the end. */
void
ctl_close(struct client *c)
{
	struct conn	*cn = c->control;

	if (cn == NULL || cn->wsi == NULL)
		return;
	conn_close(c, cn);
}

static int
stream_done(struct conn *cn)
{
	return cn->state == CONN_DONE;
}

int
ws_send_file(struct client *c, const char *path, const void *hdr,
    size_t hdrlen, int fd, double bwlimit, struct progress *p, char *err,
    size_t errlen)
{
	struct conn	*cn;
	int		 rv = 0;

	if ((cn = calloc(1, sizeof(*cn))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cn->kind = CONN_STREAM;
	cn->fd = fd;
	cn->hdr = hdr;
	cn->hdrlen = hdrlen;
	cn->bwlimit = bwlimit * 1024;
	cn->progress = p;
	if (conn_start(c, cn, path, NULL) == -1 ||
	    service_until(c, cn, ws_open, CONNECT_TIMEOUT, "websocket "
	    "upgrade") == -1 ||
	    service_until(c, cn, stream_done, 24 * 3600, "transfer") == -1) {
		snprintf(err, errlen, "%s", cn->err);
		rv = -1;
	}
	conn_close(c, cn);
	conn_free(cn);
	return rv;
}
