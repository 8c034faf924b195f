/*
 * The websocket endpoint and its relay to a UNIX socket.
 *
 * The upgrade is decided inside lws's callback, in an order that keeps
 * a single-use ticket from being burnt by a malformed request.  First
 * come the upgrade headers (400), the token (401) and the parameters
 * (400).  Then one bounded round trip to the parent checks the ticket
 * and connects the socket.  Every response but 101 ends the connection.
 *
 * The socket is adopted into the lws loop without a parent wsi, so that
 * closing the websocket never drops bytes still queued for the socket.
 * The two sides find each other through struct relay.
 *
 * Frame rules for client frames: lws 4.1.6 itself closes with 1002 on
 * RSV bits, reserved opcodes, fragmented control frames and stray
 * continuations, and drops the connection without a Close on a control
 * frame over 125 bytes.  This file adds the 128 KiB payload limit and
 * rejects data frames without FIN before any of their bytes reach the
 * socket.  After its Close, lws waits up to 5 s for the client's Close
 * before it ends the TCP connection.
 *
 * lws 4.1.6 accepts unmasked client frames, so wsguard.c looks for them
 * in the plaintext before lws parses it.  Once it has found one, this
 * file closes with 1002 at the next delivery or writable callback, and
 * relays nothing lws delivers from then on.  That includes frames from
 * the same TLS read before the unmasked one, and frames lws still
 * buffered from earlier reads.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/string.h>

#include "api.h"
#include "auditlog.h"
#include "log.h"

/*
 * Bytes from the websocket wait in a ring until the socket takes them.
 * Reading from the client stops at RELAY_HIGH and resumes at RELAY_LOW.
 * lws still delivers the rest of its current read after a stop, and a
 * frame stays queued until its last byte arrived.  So the ring has room
 * for the high mark plus a frame plus two reads (648 KiB a relay).
 */
#define RELAY_HIGH		(256 * 1024)
#define RELAY_LOW		(64 * 1024)
#define RELAY_RING		(RELAY_HIGH + WS_FRAME_MAX + 2 * API_RX_BUFFER)
/* Bytes kept from a socket that hung up while unread; more is dropped. */
#define RELAY_TAIL_MAX		(4 * 1024 * 1024)

/* Maximum header value lws 4.1.6 copies when it handles the upgrade. */
#define WS_HEADER_LWS_MAX	127
#define WS_KEY_MAX		127

struct relay {
	struct api_obj	 obj;		/* API_OBJ_SOCKET */
	struct conn	*conn;		/* websocket side, NULL once gone */
	struct lws	*sock;		/* socket side, NULL once gone */
	int		 fd;
	char		 remote[ADDR_TEXT_MAX];
	char		 socket[API_PATH_MAX];	/* as the client named it */

	/* socket -> websocket: one frame's payload behind LWS_PRE */
	unsigned char	*out;
	size_t		 outlen;
	unsigned char	*tail;		/* read after the socket hung up */
	size_t		 taillen;
	size_t		 tailoff;

	/* websocket -> socket */
	unsigned char	*ring;
	size_t		 head;
	size_t		 queued;	/* bytes in the ring */
	size_t		 ready;		/* of those, from complete frames */
	int		 in_frame;	/* a frame's payload is arriving */

	int		 sock_eof;	/* socket gave no more, or hung up */
	int		 sock_paused;
	int		 ws_paused;
	uint64_t	 bytes_in;	/* websocket -> socket */
	uint64_t	 bytes_out;	/* socket -> websocket */
};

/* See api.c: protocols[1] takes this name during an upgrade. */
char	 ws_subprotocol[64] = "mtunneld-ws";

/* The socket of the upgrade lws is completing, between two callbacks. */
static struct {
	struct lws	*wsi;
	int		 fd;
	char		 socket[API_PATH_MAX];
} ws_pending = { NULL, -1, "" };

/* Drop the pending socket of wsi, or any stale one for NULL. */
void
ws_upgrade_abandon(struct lws *wsi)
{
	if (ws_pending.fd == -1 || (wsi != NULL && ws_pending.wsi != wsi))
		return;
	close(ws_pending.fd);
	ws_pending.fd = -1;
	ws_pending.wsi = NULL;
}

/* Write the error response and return 1, which lws takes as written. */
static int
ws_reject(struct conn *c, unsigned int status, const char *msg)
{
	log_warnx("%s: websocket upgrade rejected: %u, %s", c->remote, status,
	    msg);
	return http_respond_error(c->wsi, status, msg, NULL, NULL, 1) == -1 ?
	    -1 : 1;
}

static int
ws_header(struct lws *wsi, enum lws_token_indexes token, char *buf,
    size_t size)
{
	int	 len = lws_hdr_total_length(wsi, token);

	if (len <= 0 || (size_t)len >= size ||
	    lws_hdr_copy(wsi, buf, (int)size, token) < 0)
		return len <= 0 ? 0 : -1;
	return len;
}

/* "Connection" must list "upgrade", read the way lws 4.1.6 reads it. */
static int
ws_connection_ok(struct lws *wsi)
{
	struct lws_tokenize	 ts;
	lws_tokenize_elem	 e;
	char			 buf[WS_HEADER_LWS_MAX + 1];
	int			 n;

	if ((n = ws_header(wsi, WSI_TOKEN_CONNECTION, buf, sizeof(buf))) <= 0)
		return 0;
	lws_tokenize_init(&ts, buf, LWS_TOKENIZE_F_COMMA_SEP_LIST |
	    LWS_TOKENIZE_F_DOT_NONTERM | LWS_TOKENIZE_F_RFC7230_DELIMS |
	    LWS_TOKENIZE_F_MINUS_NONTERM);
	ts.len = (size_t)n;
	while ((e = lws_tokenize(&ts)) == LWS_TOKZE_TOKEN ||
	    e == LWS_TOKZE_DELIMITER)
		if (e == LWS_TOKZE_TOKEN && ts.token_len == 7 &&
		    strncasecmp(ts.token, "upgrade", 7) == 0)
			return 1;
	return 0;
}

/*
 * The first subprotocol the client lists becomes the name of
 * protocols[1], so that lws binds to it and echoes it.
 */
static int
ws_subprotocol_pick(struct lws *wsi)
{
	struct lws_tokenize	 ts;
	char			 buf[WS_HEADER_LWS_MAX + 1];
	int			 n;

	if ((n = ws_header(wsi, WSI_TOKEN_PROTOCOL, buf, sizeof(buf))) == 0)
		return 0;
	if (n < 0)
		return -1;
	lws_tokenize_init(&ts, buf, LWS_TOKENIZE_F_COMMA_SEP_LIST |
	    LWS_TOKENIZE_F_MINUS_NONTERM | LWS_TOKENIZE_F_DOT_NONTERM |
	    LWS_TOKENIZE_F_RFC7230_DELIMS);
	ts.len = (size_t)n;
	if (lws_tokenize(&ts) != LWS_TOKZE_TOKEN ||
	    lws_tokenize_cstr(&ts, ws_subprotocol, sizeof(ws_subprotocol)))
		return -1;
	return 0;
}

/* The upgrade itself: every header lws needs, in the form it needs. */
static int
ws_check_headers(struct conn *c, struct lws *wsi)
{
	char	 buf[WS_KEY_MAX + 1];
	int	 n;

	if (!ws_connection_ok(wsi))
		return ws_reject(c, 400,
		    "missing header 'Connection: Upgrade'");
	if ((n = ws_header(wsi, WSI_TOKEN_VERSION, buf, sizeof(buf))) == 0)
		return ws_reject(c, 400, "missing header "
		    "'Sec-WebSocket-Version'");
	if (n < 0 || strcmp(buf, "13") != 0)
		return ws_reject(c, 400, "unsupported websocket-version");
	if ((n = ws_header(wsi, WSI_TOKEN_KEY, buf, sizeof(buf))) == 0)
		return ws_reject(c, 400, "missing websocket-key");
	if (n < 0)
		return ws_reject(c, 400, "invalid header 'Sec-WebSocket-Key'");
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HOST) <= 0)
		return ws_reject(c, 400, "missing header 'Host'");
	if (ws_subprotocol_pick(wsi) == -1)
		return ws_reject(c, 400, "invalid header "
		    "'Sec-WebSocket-Protocol'");
	return 0;
}

static int
ws_check_token(struct conn *c, struct api_auth *auth)
{
	enum api_auth_result	 ar;
	char			 why[256];

	if ((ar = api_auth_check(c->wsi, auth, why, sizeof(why))) ==
	    API_AUTH_OK) {
		strlcpy(auth->remote, c->remote, sizeof(auth->remote));
		return 0;
	}
	log_warnx("%s: websocket upgrade rejected: 401, %s", c->remote, why);
	audit_emit("auth-failure", 0, json_pack("{s:s, s:s, s:s}", "token",
	    auth->tokenid, "address", c->remote, "reason", why));
	if (http_respond(c->wsi, 401, ar == API_AUTH_NONE ? "No ticket" :
	    "Authentication failed!", NULL, 0, 1) == -1)
		return -1;
	return 1;
}

/* The parent's reply: a connected socket, or the response to send. */
static int
ws_take_reply(struct conn *c, struct api_wsconnect *req,
    struct api_reply *reply)
{
	int	 rv;

	if ((reply->status == 101 || reply->status == 200) &&
	    reply->fd != -1) {
		ws_pending.wsi = c->wsi;
		ws_pending.fd = reply->fd;
		strlcpy(ws_pending.socket, req->socket,
		    sizeof(ws_pending.socket));
		reply->fd = -1;
		api_reply_free(reply);
		return 0;
	}
	if (reply->status == 101 || reply->status == 200) {
		reply->status = 502;
		strlcpy(reply->reason, "no socket from the daemon",
		    sizeof(reply->reason));
	}
	log_warnx("%s: websocket upgrade for %s rejected: %u, %s", c->remote,
	    req->socket, reply->status, reply->reason);
	rv = http_respond(c->wsi, reply->status, reply->reason,
	    reply->buf != NULL ? reply->buf + LWS_PRE : NULL, reply->bodylen,
	    1);
	api_reply_free(reply);
	return rv == -1 ? -1 : 1;
}

/*
 * LWS_CALLBACK_HTTP_CONFIRM_UPGRADE on the websocket endpoint.  Returns
 * 0 to let lws upgrade, 1 when a response with "Connection: close" was
 * written, -1 to hang up.
 */
int
ws_confirm_upgrade(struct conn *c, struct lws *wsi)
{
	struct api_wsconnect	 req;
	struct api_reply	 reply;
	int			 rv;

	ws_upgrade_abandon(NULL);
	if ((rv = ws_check_headers(c, wsi)) != 0)
		return rv;
	memset(&req, 0, sizeof(req));
	if ((rv = ws_check_token(c, &req.auth)) != 0)
		goto out;
	if (http_ws_params(c, &req) == -1) {
		rv = 1;
		goto out;
	}
	if (api_request_sync(IMSG_API_WSCONNECT, IMSG_API_WSCONNECT_RESULT,
	    &req, sizeof(req), &reply, API_WSCONNECT_TIMEOUT_MS) == -1) {
		if (errno == ETIMEDOUT)
			log_warnx("%s: websocket upgrade for %s: no reply from "
			    "the parent within %d ms", c->remote, req.socket,
			    API_WSCONNECT_TIMEOUT_MS);
		else
			log_warnx("%s: websocket upgrade for %s: request to "
			    "the parent failed", c->remote, req.socket);
		rv = http_respond_error(wsi, 503, "no reply from the daemon",
		    NULL, NULL, 1) == -1 ? -1 : 1;
		goto out;
	}
	rv = ws_take_reply(c, &req, &reply);
out:
	explicit_bzero(&req, sizeof(req));
	return rv;
}

static void
ws_relay_free(struct relay *r)
{
	log_info("%s: websocket for %s closed, %llu bytes in, %llu out",
	    r->remote, r->socket, (unsigned long long)r->bytes_in,
	    (unsigned long long)r->bytes_out);
	free(r->out);
	free(r->tail);
	free(r->ring);
	free(r);
}

static struct relay *
ws_relay_new(struct conn *c)
{
	struct relay	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->out = malloc(LWS_PRE + RELAY_CHUNK)) == NULL ||
	    (r->ring = malloc(RELAY_RING)) == NULL) {
		log_warn("%s: websocket relay", c->remote);
		if (r != NULL)
			free(r->out);
		free(r);
		return NULL;
	}
	r->obj.kind = API_OBJ_SOCKET;
	r->fd = -1;
	strlcpy(r->remote, c->remote, sizeof(r->remote));
	return r;
}

/* The upgrade is done: adopt the socket the parent connected. */
static int
ws_established(struct conn *c, struct lws *wsi)
{
	lws_adopt_desc_t	 desc;
	struct relay		*r;
	const char		*why;

	if ((why = wsguard_check_upgrade(&c->guard, c->heads)) != NULL) {
		log_warnx("%s: websocket: %s; closing", c->remote, why);
		return -1;
	}
	if (ws_pending.wsi != wsi || ws_pending.fd == -1) {
		log_warnx("%s: websocket without a socket", c->remote);
		return -1;
	}
	if ((r = ws_relay_new(c)) == NULL)
		return -1;
	r->fd = ws_pending.fd;
	strlcpy(r->socket, ws_pending.socket, sizeof(r->socket));
	ws_pending.fd = -1;
	ws_pending.wsi = NULL;

	memset(&desc, 0, sizeof(desc));
	desc.vh = api_vhost();
	desc.type = LWS_ADOPT_RAW_FILE_DESC;
	desc.fd.filefd = r->fd;
	desc.opaque = r;
	if ((r->sock = lws_adopt_descriptor_vhost_via_info(&desc)) == NULL) {
		log_warnx("%s: socket not taken over by lws", c->remote);
		close(r->fd);
		ws_relay_free(r);
		return -1;
	}
	r->conn = c;
	c->relay = r;
	http_txn_free(c);
	log_info("%s: websocket for %s open", c->remote, r->socket);
	if (wsguard_violation(&c->guard) != NULL)
		lws_callback_on_writable(wsi);	/* came with the upgrade */
	return 0;
}

static int
ws_violation(struct relay *r, struct lws *wsi, const char *why)
{
	log_warnx("%s: websocket for %s: %s; closing with 1002", r->remote,
	    r->socket, why);
	lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR,
	    (unsigned char *)(uintptr_t)why, strlen(why));
	return -1;
}

static void
ws_ring_put(struct relay *r, const unsigned char *p, size_t len)
{
	size_t	 tail = (r->head + r->queued) % RELAY_RING;
	size_t	 first = RELAY_RING - tail < len ? RELAY_RING - tail : len;

	memcpy(r->ring + tail, p, first);
	memcpy(r->ring, p + first, len - first);
	r->queued += len;
}

static void
ws_ring_take(struct relay *r, size_t len)
{
	r->head = (r->head + len) % RELAY_RING;
	r->queued -= len;
	r->ready -= len;
	r->bytes_in += len;
}

/*
 * Write what the socket takes now, straight from p.  Returns the bytes
 * written, or -1 when the socket failed.
 */
static ssize_t
ws_sock_write(struct relay *r, const unsigned char *p, size_t len)
{
	ssize_t	 n;

	do {
		n = write(r->fd, p, len);
	} while (n == -1 && errno == EINTR);
	if (n >= 0)
		r->bytes_in += (uint64_t)n;
	if (n == -1 && errno == EAGAIN)
		n = 0;
	return n;
}

/*
 * The socket failed: nothing more goes to it, and the websocket ends
 * once what the socket sent before is out.  The caller closes the
 * socket side.
 */
static void
ws_sock_failed(struct relay *r, const char *op)
{
	log_warnx("%s: websocket for %s: %s on the socket: %s", r->remote,
	    r->socket, op, strerror(errno));
	r->queued = r->ready = 0;
	r->sock_eof = 1;
	if (r->conn != NULL)
		lws_callback_on_writable(r->conn->wsi);
}

/* A chunk of client payload: check the frame, then queue or write it. */
static int
ws_receive(struct relay *r, struct lws *wsi, const unsigned char *in,
    size_t len)
{
	size_t	 left = lws_remaining_packet_payload(wsi);
	ssize_t	 n = 0;

	if (!r->in_frame && len + left > WS_FRAME_MAX)
		return ws_violation(r, wsi, "frame payload exceeds 131072 "
		    "bytes");
	r->in_frame = left > 0;
	if (left == 0 && !lws_is_final_fragment(wsi))
		return ws_violation(r, wsi, "fragmented frame");
	if (r->sock_eof || r->sock == NULL)
		return 0;	/* the websocket is about to close */

	if (left == 0 && r->queued == 0 &&
	    (n = ws_sock_write(r, in, len)) == -1) {
		ws_sock_failed(r, "write");
		lws_set_timeout(r->sock, PENDING_TIMEOUT_USER_OK,
		    LWS_TO_KILL_ASYNC);
		return 0;
	}
	if (len - (size_t)n > RELAY_RING - r->queued) {
		log_warnx("%s: websocket for %s: relay queue overflow",
		    r->remote, r->socket);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    NULL, 0);
		return -1;
	}
	ws_ring_put(r, in + n, len - (size_t)n);
	if (left == 0)
		r->ready = r->queued;
	if (r->ready > 0)
		lws_callback_on_writable(r->sock);
	if (!r->ws_paused && r->ready >= RELAY_HIGH) {
		r->ws_paused = 1;
		lws_rx_flow_control(wsi, 0);
	}
	return 0;
}

/* The websocket can take a frame: socket data first, then the close. */
static int
ws_writeable(struct relay *r, struct lws *wsi)
{
	size_t	 n;

	if (r->outlen == 0 && r->tailoff < r->taillen) {
		n = r->taillen - r->tailoff;
		if (n > RELAY_CHUNK)
			n = RELAY_CHUNK;
		memcpy(r->out + LWS_PRE, r->tail + r->tailoff, n);
		r->tailoff += n;
		r->outlen = n;
	}
	if (r->outlen > 0) {
		if (lws_write(wsi, r->out + LWS_PRE, r->outlen,
		    LWS_WRITE_BINARY) < (int)r->outlen)
			return -1;
		r->bytes_out += r->outlen;
		r->outlen = 0;
		if (r->tailoff < r->taillen || r->sock_eof)
			lws_callback_on_writable(wsi);
		else if (r->sock_paused) {
			r->sock_paused = 0;
			lws_rx_flow_control(r->sock, 1);
		}
		return 0;
	}
	if (r->sock_eof) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	return 0;
}

/*
 * The relay lets go of the websocket as soon as it is closing: lws may
 * wait seconds for the client's TCP close, the socket should not.
 */
int
ws_callback(struct conn *c, struct lws *wsi, int reason, void *in,
    size_t len)
{
	struct relay	*r = c->relay;
	const char	*why;
	int		 rv;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		return ws_established(c, wsi);
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if ((why = wsguard_violation(&c->guard)) != NULL)
			rv = ws_violation(r, wsi, why);
		else if (reason == LWS_CALLBACK_RECEIVE)
			rv = ws_receive(r, wsi, in, len);
		else
			rv = ws_writeable(r, wsi);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		log_debug("%s: websocket for %s: close from the client",
		    r->remote, r->socket);
		ws_conn_gone(c);
		return 0;
	default:
		return 0;
	}
	if (rv == -1)
		ws_conn_gone(c);
	return rv;
}

/* The socket is readable: one frame's worth, then wait for the client. */
static void
ws_sock_read(struct relay *r, struct lws *wsi)
{
	ssize_t	 n;

	if (r->outlen > 0 || r->conn == NULL || r->sock_eof) {
		r->sock_paused = 1;
		lws_rx_flow_control(wsi, 0);
		return;
	}
	do {
		n = read(r->fd, r->out + LWS_PRE, RELAY_CHUNK);
	} while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		return;
	if (n <= 0) {
		if (n == -1)
			log_debug("%s: websocket for %s: socket read: %s",
			    r->remote, r->socket, strerror(errno));
		r->sock_eof = 1;
	} else
		r->outlen = (size_t)n;
	r->sock_paused = 1;
	lws_rx_flow_control(wsi, 0);
	lws_callback_on_writable(r->conn->wsi);
}

static int
ws_ring_iov(struct relay *r, struct iovec *iov)
{
	size_t	 first = RELAY_RING - r->head;

	if (first >= r->ready) {
		iov[0].iov_base = r->ring + r->head;
		iov[0].iov_len = r->ready;
		return 1;
	}
	iov[0].iov_base = r->ring + r->head;
	iov[0].iov_len = first;
	iov[1].iov_base = r->ring;
	iov[1].iov_len = r->ready - first;
	return 2;
}

/* The socket is writable: drain complete frames, then maybe finish. */
static int
ws_sock_drain(struct relay *r, struct lws *wsi)
{
	struct iovec	 iov[2];
	ssize_t		 n;

	while (r->ready > 0) {
		n = writev(r->fd, iov, ws_ring_iov(r, iov));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1) {
			ws_sock_failed(r, "write");
			return -1;
		}
		ws_ring_take(r, (size_t)n);
	}
	if (r->ready > 0)
		api_raw_writable_later(wsi);
	else if (r->conn == NULL) {
		/* The websocket ended and all it sent is delivered. */
		shutdown(r->fd, SHUT_WR);
		return -1;
	}
	if (r->ws_paused && r->ready <= RELAY_LOW && r->conn != NULL) {
		r->ws_paused = 0;
		lws_rx_flow_control(r->conn->wsi, 1);
	}
	return 0;
}

/*
 * lws closes a socket that hung up while we did not read it.  What the
 * peer wrote before is still there: keep it for the websocket.
 */
static void
ws_sock_hangup(struct relay *r)
{
	unsigned char	*p;
	size_t		 cap = 0;
	ssize_t		 n;

	if (r->conn == NULL || r->sock_eof)
		return;
	r->sock_eof = 1;
	for (;;) {
		if (r->taillen == cap) {
			if (cap == RELAY_TAIL_MAX) {
				log_warnx("%s: websocket for %s: more than "
				    "%d bytes left in a closed socket; the "
				    "rest is lost", r->remote, r->socket,
				    RELAY_TAIL_MAX);
				break;
			}
			cap += RELAY_CHUNK;
			if ((p = realloc(r->tail, cap)) == NULL) {
				log_warn("%s: websocket tail", r->remote);
				break;
			}
			r->tail = p;
		}
		n = read(r->fd, r->tail + r->taillen, cap - r->taillen);
		if (n <= 0)
			break;
		r->taillen += (size_t)n;
	}
	lws_callback_on_writable(r->conn->wsi);
}

int
ws_socket_callback(struct relay *r, struct lws *wsi, int reason)
{
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		ws_sock_read(r, wsi);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		return ws_sock_drain(r, wsi);
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		ws_sock_hangup(r);
		return 0;
	case LWS_CALLBACK_TIMER:
		lws_callback_on_writable(wsi);
		return 0;
	default:
		return 0;
	}
}

/*
 * The websocket is gone (after a Close from either side, an error or a
 * violation).  Complete frames still go to the socket, then its write
 * side is shut down.  A frame cut short is dropped.
 */
void
ws_conn_gone(struct conn *c)
{
	struct relay	*r = c->relay;

	c->relay = NULL;
	r->conn = NULL;
	r->queued = r->ready;
	if (r->sock == NULL) {
		ws_relay_free(r);
		return;
	}
	if (r->sock_eof && r->ready == 0) {
		lws_set_timeout(r->sock, PENDING_TIMEOUT_USER_OK,
		    LWS_TO_KILL_ASYNC);
		return;
	}
	lws_set_timeout(r->sock, PENDING_TIMEOUT_USER_OK, API_DRAIN_TIMEOUT);
	lws_callback_on_writable(r->sock);
}

/* The socket side is closed: the websocket sends what is left, then ends. */
void
ws_socket_gone(struct relay *r)
{
	r->sock = NULL;
	r->fd = -1;		/* lws has closed it */
	if (r->conn == NULL) {
		ws_relay_free(r);
		return;
	}
	r->sock_eof = 1;
	r->queued = r->ready = 0;
	lws_callback_on_writable(r->conn->wsi);
}
