/*
 * The api role.  It reads its certificate, key, listening socket and
 * token snapshot from the parent, builds the libwebsockets context while
 * still root, drops to its user in an empty chroot, installs its seccomp
 * filter and then serves HTTPS on the shared listener.  Every decision
 * (authorization, tickets, sockets) is a request to the parent.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/unistd.h>
#include <jansson.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "api.h"
#include "imsg.h"
#include "log.h"
#include "mtunneld.h"
#include "privdrop.h"
#include "proc.h"

/* Descriptors a worker may hold: connections, their sockets, spare. */
#define API_NOFILE		(2 * API_MAX_CONNS + 64)

/* TCP keepalive on client connections finds a dead peer in 2 minutes. */
#define API_KEEPIDLE		60
#define API_KEEPINTVL		10
#define API_KEEPCNT		6

struct api_config {
	char		*cert;		/* PEM chain, leaf first */
	size_t		 certlen;
	char		*key;		/* PEM private key */
	size_t		 keylen;
	int		 listen_fd;
	int		 tokens;	/* an IMSG_AUTH_TOKENS_END arrived */
};

static int	api_lws_callback(struct lws *, enum lws_callback_reasons,
		    void *, void *, size_t);

static struct imsgbuf		 api_ibuf;
static struct lws_context	*api_context;
static struct lws_vhost		*api_vh;
static struct lws		*api_channel_wsi;
static struct lws		*api_listener_wsi;
static struct api_config	*api_tls_config;	/* during set-up only */
static int			 api_listen_fd = -1;
static int			 api_nconns;
static int			 api_accept_paused;
static uint32_t			 api_next_reqid;

static struct api_obj	 api_channel_obj = { API_OBJ_CHANNEL };
static struct api_obj	 api_listener_obj = { API_OBJ_LISTENER };

/* Connections waiting for the parent's reply to a request. */
static TAILQ_HEAD(, conn)	 api_waiting =
    TAILQ_HEAD_INITIALIZER(api_waiting);

/*
 * protocols[0] serves HTTP and the websockets that ask for no
 * subprotocol.  protocols[1] is named by ws_subprotocol, which the
 * upgrade check sets to the subprotocol a client requests, so that lws
 * binds the upgrade to it and echoes that name (see ws.c).
 */
static struct lws_protocols api_protocols[] = {
	{
		.name = "mtunneld",
		.callback = api_lws_callback,
		.rx_buffer_size = API_RX_BUFFER,
		.tx_packet_size = API_RX_BUFFER,
	},
	{
		.name = ws_subprotocol,
		.callback = api_lws_callback,
		.rx_buffer_size = API_RX_BUFFER,
		.tx_packet_size = API_RX_BUFFER,
	},
	{ .name = NULL, .callback = NULL }	/* end of the list */
};

struct lws_vhost *
api_vhost(void)
{
	return api_vh;
}

/* Send lws log lines to the parent: errors as warnings, the rest as debug. */
static void
api_lws_log(int level, const char *line)
{
	char	 buf[512];
	size_t	 len;

	strlcpy(buf, line, sizeof(buf));
	len = strlen(buf);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (level & LLL_ERR)
		log_warnx("lws: %s", buf);
	else
		log_debug("lws: %s", buf);
}

/*
 * Ask lws for POLLOUT on a raw descriptor from inside its own writable
 * callback.  lws 4.1.6 clears POLLOUT on a raw file after that callback
 * returns, so a request made inside it would be lost.  A timer due at
 * once makes the request on the next turn of the loop instead.
 */
void
api_raw_writable_later(struct lws *wsi)
{
	lws_set_timer_usecs(wsi, 0);
}

/* Write what the channel takes now, and ask lws to call back for more. */
static void
api_channel_flush(int in_writeable)
{
	int	 rv;

	if ((rv = imsg_flush(&api_ibuf)) == -1)
		fatalx("channel: %s", imsg_error(&api_ibuf));
	if (rv == 1 && api_channel_wsi != NULL) {
		if (in_writeable)
			api_raw_writable_later(api_channel_wsi);
		else
			lws_callback_on_writable(api_channel_wsi);
	}
}

void
api_reply_free(struct api_reply *reply)
{
	free(reply->buf);
	reply->buf = NULL;
	reply->bodylen = 0;
	if (reply->fd != -1)
		close(reply->fd);
	reply->fd = -1;
}

/*
 * Copy a *_RESULT out of its message: the status and reason checked, the
 * body behind LWS_PRE bytes of headroom so that it can be written as is.
 */
static int
api_reply_parse(struct imsg *imsg, struct api_reply *reply)
{
	struct api_result	 res;
	size_t			 len = imsg_datalen(imsg);

	memset(reply, 0, sizeof(*reply));
	reply->fd = imsg->fd;
	imsg->fd = -1;
	if (len < sizeof(res)) {
		log_warnx("parent sent a result of %zu bytes", len);
		return -1;
	}
	memcpy(&res, imsg->data, sizeof(res));
	reply->status = res.status;
	memcpy(reply->reason, res.reason, sizeof(reply->reason));
	reply->reason[sizeof(reply->reason) - 1] = '\0';
	reply->bodylen = len - sizeof(res);
	if ((reply->buf = malloc(LWS_PRE + reply->bodylen + 1)) == NULL) {
		log_warn("result of %zu bytes", len);
		return -1;
	}
	memcpy(reply->buf + LWS_PRE, (char *)imsg->data + sizeof(res),
	    reply->bodylen);
	reply->buf[LWS_PRE + reply->bodylen] = '\0';
	return 0;
}

static struct conn *
api_waiting_find(uint32_t reqid)
{
	struct conn	*c;

	TAILQ_FOREACH(c, &api_waiting, wait_entry)
		if (c->reqid == reqid)
			return c;
	return NULL;
}

/* A reply to an HTTP request: hand it to its connection, if still there. */
static void
api_result(struct imsg *imsg)
{
	struct api_reply	 reply;
	struct conn		*c;

	if ((c = api_waiting_find(imsg->hdr.reqid)) == NULL) {
		log_debug("dropped a reply to request %u: its connection "
		    "has gone", imsg->hdr.reqid);
		return;		/* the caller closes a passed descriptor */
	}
	api_request_cancel(c);
	if (imsg->hdr.type != c->reply_type) {
		log_warnx("parent replied to request %u with message type %u, "
		    "expected %u", imsg->hdr.reqid, imsg->hdr.type,
		    c->reply_type);
		memset(&reply, 0, sizeof(reply));
		reply.fd = -1;
		reply.status = 500;
	} else if (api_reply_parse(imsg, &reply) == -1) {
		api_reply_free(&reply);
		reply.status = 500;
		reply.reason[0] = '\0';
	}
	http_parent_reply(c, &reply);
}

static void
api_dispatch_parent(struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_AUTH_TOKENS:
		api_auth_tokens_add(imsg->data, imsg_datalen(imsg));
		break;
	case IMSG_AUTH_TOKENS_END:
		api_auth_tokens_end();
		break;
	case IMSG_API_MTUNNEL_RESULT:
	case IMSG_API_QUERY_RESULT:
	case IMSG_API_WSCONNECT_RESULT:
		api_result(imsg);
		break;
	default:
		fatalx("unexpected message type %u from the parent",
		    imsg->hdr.type);
	}
}

/* Handle every whole message.  End of file means the parent is gone. */
static void
api_read_parent(void)
{
	struct imsg	 imsg;
	ssize_t		 n;
	int		 rv;

	if ((n = imsg_read(&api_ibuf)) == -1 && errno == EAGAIN)
		return;
	if (n == -1)
		fatalx("channel: %s", imsg_error(&api_ibuf));

	while ((rv = imsg_get(&api_ibuf, &imsg)) == 1) {
		api_dispatch_parent(&imsg);
		if (imsg.fd != -1)
			close(imsg.fd);
		imsg_free(&imsg);
	}
	if (rv == -1)
		fatalx("channel: %s", imsg_error(&api_ibuf));
	if (n == 0) {
		log_debug("parent closed the channel; exiting");
		exit(0);
	}
}

static uint32_t
api_reqid(void)
{
	if (++api_next_reqid == 0)
		api_next_reqid = 1;
	return api_next_reqid;
}

/*
 * Send a request for connection c.  The reply goes to
 * http_parent_reply().  Returns 0, or -1 if it could not be queued.
 */
int
api_request(struct conn *c, uint32_t type, uint32_t reply_type,
    const void *data, size_t len)
{
	uint32_t	 reqid = api_reqid();

	if (imsg_compose(&api_ibuf, type, 0, reqid, -1, data, len) == -1) {
		log_warnx("request to the parent: %s", imsg_error(&api_ibuf));
		return -1;
	}
	c->reqid = reqid;
	c->reply_type = reply_type;
	TAILQ_INSERT_TAIL(&api_waiting, c, wait_entry);
	api_channel_flush(0);
	return 0;
}

/* Forget c's request: a late reply to it is dropped. */
void
api_request_cancel(struct conn *c)
{
	if (c->reqid == 0)
		return;
	TAILQ_REMOVE(&api_waiting, c, wait_entry);
	c->reqid = 0;
}

static int
api_ms_left(const struct timespec *start, int timeout_ms)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return timeout_ms - (int)((now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000);
}

/*
 * Take the whole messages read so far.  Returns 1 with the reply to
 * reqid in imsg, or 0 once the others are dispatched as usual.
 */
static int
api_sync_take(uint32_t reqid, uint32_t reply_type, struct imsg *imsg)
{
	int	 rv;

	while ((rv = imsg_get(&api_ibuf, imsg)) == 1) {
		if (imsg->hdr.reqid == reqid &&
		    imsg->hdr.type == reply_type)
			return 1;
		api_dispatch_parent(imsg);
		if (imsg->fd != -1)
			close(imsg->fd);
		imsg_free(imsg);
	}
	if (rv == -1)
		fatalx("channel: %s", imsg_error(&api_ibuf));
	return 0;
}

/*
 * Send a request and wait for its reply, for decisions lws needs inside
 * a callback.  Other messages that arrive meanwhile are handled as
 * usual.  Returns 0 with reply filled, or -1 on time-out (errno
 * ETIMEDOUT) or failure.
 */
int
api_request_sync(uint32_t type, uint32_t reply_type, const void *data,
    size_t len, struct api_reply *reply, int timeout_ms)
{
	struct timespec	 start;
	struct pollfd	 pfd;
	struct imsg	 imsg;
	uint32_t	 reqid = api_reqid();
	ssize_t		 n;
	int		 left, rv;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (imsg_compose(&api_ibuf, type, 0, reqid, -1, data, len) == -1 ||
	    imsg_flush_blocking(&api_ibuf, timeout_ms) == -1) {
		log_warnx("request to the parent: %s", imsg_error(&api_ibuf));
		return -1;
	}
	for (;;) {
		if (api_sync_take(reqid, reply_type, &imsg) == 1)
			break;
		if ((left = api_ms_left(&start, timeout_ms)) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = api_ibuf.fd;
		pfd.events = POLLIN;
		if ((rv = poll(&pfd, 1, left)) == -1 && errno != EINTR)
			fatal("poll");
		if (rv <= 0)
			continue;
		if ((n = imsg_read(&api_ibuf)) == 0) {
			log_debug("parent closed the channel; exiting");
			exit(0);
		}
		if (n == -1 && errno != EAGAIN)
			fatalx("channel: %s", imsg_error(&api_ibuf));
	}
	rv = api_reply_parse(&imsg, reply);
	imsg_free(&imsg);
	if (rv == -1)
		api_reply_free(reply);
	return rv;
}

/* "1.2.3.4" or "2001:db8::1", with IPv4-mapped addresses shown as IPv4. */
static void
api_addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const struct sockaddr_in6	*sin6;
	const struct sockaddr_in	*sin;
	struct in_addr			 v4;

	strlcpy(buf, "unknown", len);
	if (ss->ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, buf, len);
	} else if (ss->ss_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(&v4, &sin6->sin6_addr.s6_addr[12], sizeof(v4));
			inet_ntop(AF_INET, &v4, buf, len);
		} else
			inet_ntop(AF_INET6, &sin6->sin6_addr, buf, len);
	}
}

static void
api_tcp_options(int fd)
{
	int	 on = 1, idle = API_KEEPIDLE, intvl = API_KEEPINTVL;
	int	 cnt = API_KEEPCNT;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle,
	    sizeof(idle)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
	    sizeof(intvl)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) == -1)
		log_debug("TCP options on an accepted connection: %s",
		    strerror(errno));
}

/* Hand an accepted connection to lws for TLS and HTTP. */
static void
api_adopt(int fd, const struct sockaddr_storage *ss)
{
	lws_adopt_desc_t	 desc;
	struct conn		*c;
	struct lws		*wsi;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("new connection");
		close(fd);
		return;
	}
	c->obj.kind = API_OBJ_CONN;
	wsguard_start(&c->guard, c);
	api_addr_text(ss, c->remote, sizeof(c->remote));
	api_tcp_options(fd);

	memset(&desc, 0, sizeof(desc));
	desc.vh = api_vh;
	desc.type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | LWS_ADOPT_ALLOW_SSL;
	desc.fd.sockfd = fd;
	/* lws closes fd itself when adoption fails. */
	if ((wsi = lws_adopt_descriptor_vhost_via_info(&desc)) == NULL) {
		log_warnx("%s: connection not taken over by lws", c->remote);
		free(c);
		return;
	}
	c->wsi = wsi;
	lws_set_opaque_user_data(wsi, c);
	if (wsguard_attach(&c->guard, lws_get_ssl(wsi)) == -1)
		log_warnx("%s: no TLS session to follow; websocket upgrades "
		    "on this connection will be rejected", c->remote);
	api_nconns++;
	log_debug("%s: connection accepted (%d open)", c->remote,
	    api_nconns);
}

/*
 * Leave new connections in the backlog until one closes, or for a
 * second after a failed accept4() that closing would not cure.
 */
static void
api_accept_pause(const char *why, int retry)
{
	if (retry)
		lws_set_timer_usecs(api_listener_wsi, LWS_US_PER_SEC);
	if (api_accept_paused)
		return;
	api_accept_paused = 1;
	lws_rx_flow_control(api_listener_wsi, 0);
	log_warnx("stopped accepting connections: %s; new ones wait in the "
	    "backlog", why);
}

static void
api_accept_resume(void)
{
	if (!api_accept_paused || api_nconns >= API_MAX_CONNS)
		return;
	api_accept_paused = 0;
	lws_rx_flow_control(api_listener_wsi, 1);
	log_info("accepting connections again (%d open)", api_nconns);
}

/*
 * The listener is readable.  Other workers accept from it too, so
 * EAGAIN is the normal end of a burst.
 */
static void
api_accept(void)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, i;

	for (i = 0; i < API_ACCEPT_BURST; i++) {
		if (api_nconns >= API_MAX_CONNS) {
			api_accept_pause("connection limit reached", 0);
			return;
		}
		len = sizeof(ss);
		fd = accept4(api_listen_fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1) {
			api_adopt(fd, &ss);
			continue;
		}
		switch (errno) {
		case EAGAIN:
			return;
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			api_accept_pause(strerror(errno), 1);
			return;
		default:
			log_warn("accept");
			api_accept_pause(strerror(errno), 1);
			return;
		}
	}
}

static void
api_conn_destroy(struct conn *c)
{
	api_request_cancel(c);
	wsguard_detach(&c->guard, lws_get_ssl(c->wsi));
	http_txn_free(c);
	ws_upgrade_abandon(c->wsi);
	if (c->relay != NULL)
		ws_conn_gone(c);
	log_debug("%s: connection closed", c->remote);
	free(c);
	api_nconns--;
	api_accept_resume();
}

static void
api_wsi_destroy(struct lws *wsi)
{
	struct api_obj	*obj = lws_get_opaque_user_data(wsi);

	if (obj == NULL)
		return;
	lws_set_opaque_user_data(wsi, NULL);
	switch (obj->kind) {
	case API_OBJ_CONN:
		api_conn_destroy((struct conn *)obj);
		break;
	case API_OBJ_SOCKET:
		ws_socket_gone((struct relay *)obj);
		break;
	case API_OBJ_CHANNEL:
		fatalx("lws closed the channel to the parent");
	case API_OBJ_LISTENER:
		fatalx("lws closed the listening socket");
	}
}

static int
api_channel_callback(struct lws *wsi, enum lws_callback_reasons reason)
{
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		api_read_parent();
		break;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		api_channel_flush(1);
		break;
	case LWS_CALLBACK_TIMER:
		lws_callback_on_writable(wsi);
		break;
	default:
		break;
	}
	return 0;
}

static int
api_listener_callback(struct lws *wsi, enum lws_callback_reasons reason)
{
	if (reason == LWS_CALLBACK_RAW_RX_FILE)
		api_accept();
	else if (reason == LWS_CALLBACK_TIMER)
		api_accept_resume();
	return 0;
}

/* An encrypted key is a configuration error, never a prompt. */
static int
api_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

/* The leaf certificate, then the rest of the chain, from PEM text. */
static int
api_tls_chain(SSL_CTX *ctx, const char *pem, size_t len)
{
	BIO	*bio;
	X509	*x;
	int	 ok = 0;

	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return -1;
	if ((x = PEM_read_bio_X509(bio, NULL, api_no_passphrase,
	    NULL)) != NULL) {
		ok = SSL_CTX_use_certificate(ctx, x) == 1;
		X509_free(x);
	}
	while (ok && (x = PEM_read_bio_X509(bio, NULL, api_no_passphrase,
	    NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			ok = 0;
		}
	BIO_free(bio);
	ERR_clear_error();	/* reading past the last certificate fails */
	if (!ok) {
		log_warnx("TLS certificate: no PEM certificate chain that "
		    "OpenSSL accepts");
		return -1;
	}
	return 0;
}

static int
api_tls_key(SSL_CTX *ctx, const char *pem, size_t len)
{
	const char	*why;
	BIO		*bio;
	EVP_PKEY	*pkey;
	int		 ok;

	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return -1;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, api_no_passphrase, NULL);
	BIO_free(bio);
	ok = pkey != NULL && SSL_CTX_use_PrivateKey(ctx, pkey) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(pkey);
	if (!ok) {
		why = ERR_reason_error_string(ERR_get_error());
		log_warnx("TLS key: %s", why != NULL ? why :
		    "not a PEM private key that OpenSSL accepts");
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/*
 * Fill the vhost's SSL_CTX with the chain and key the parent sent.  lws
 * 4.1.6 loads only the first certificate of a PEM chain from memory, and
 * only an RSA or EC key, so the vhost gets neither from lws.
 */
static int
api_tls_load(SSL_CTX *ctx)
{
	struct api_config	*cfg = api_tls_config;

	if (cfg == NULL ||
	    api_tls_chain(ctx, cfg->cert, cfg->certlen) == -1 ||
	    api_tls_key(ctx, cfg->key, cfg->keylen) == -1 ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		return -1;
	return 0;
}

static int
api_lws_callback(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct api_obj	*obj;

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		return api_tls_load(user);
	case LWS_CALLBACK_WSI_DESTROY:
		api_wsi_destroy(wsi);
		return 0;
	case LWS_CALLBACK_PROTOCOL_INIT:
	case LWS_CALLBACK_PROTOCOL_DESTROY:
	case LWS_CALLBACK_WSI_CREATE:
		return 0;
	default:
		break;
	}

	/* NULL while lws adopts a connection, before it is ours. */
	if ((obj = lws_get_opaque_user_data(wsi)) == NULL)
		return 0;
	switch (obj->kind) {
	case API_OBJ_CHANNEL:
		return api_channel_callback(wsi, reason);
	case API_OBJ_LISTENER:
		return api_listener_callback(wsi, reason);
	case API_OBJ_CONN:
		if (((struct conn *)obj)->relay != NULL ||
		    reason == LWS_CALLBACK_ESTABLISHED)
			return ws_callback((struct conn *)obj, wsi, reason,
			    in, len);
		return http_callback((struct conn *)obj, wsi, reason, in,
		    len);
	case API_OBJ_SOCKET:
		return ws_socket_callback((struct relay *)obj, wsi, reason);
	}
	return 0;
}

static char *
api_config_copy(struct imsg *imsg, size_t *lenp, const char *what)
{
	size_t	 len = imsg_datalen(imsg);
	char	*p;

	if (len == 0)
		fatalx("parent sent an empty %s", what);
	if ((p = malloc(len)) == NULL)
		fatal("%s", what);
	memcpy(p, imsg->data, len);
	*lenp = len;
	return p;
}

/* Wipe the key from the message and from the channel's read buffer. */
static void
api_config_wipe(struct imsg *imsg)
{
	explicit_bzero(imsg->data, imsg_datalen(imsg));
	explicit_bzero(api_ibuf.rbuf + api_ibuf.rlen,
	    api_ibuf.rsize - api_ibuf.rlen);
}

static int
api_config_one(struct api_config *cfg, struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_API_TLS_CERT:
		if (cfg->cert != NULL)
			fatalx("parent sent a second certificate");
		cfg->cert = api_config_copy(imsg, &cfg->certlen,
		    "certificate");
		break;
	case IMSG_API_TLS_KEY:
		if (cfg->key != NULL)
			fatalx("parent sent a second key");
		cfg->key = api_config_copy(imsg, &cfg->keylen, "key");
		api_config_wipe(imsg);
		break;
	case IMSG_API_LISTENER:
		if (cfg->listen_fd != -1 || imsg->fd == -1)
			fatalx("unexpected listener message");
		cfg->listen_fd = imsg->fd;
		imsg->fd = -1;
		break;
	case IMSG_AUTH_TOKENS:
		api_auth_tokens_add(imsg->data, imsg_datalen(imsg));
		break;
	case IMSG_AUTH_TOKENS_END:
		api_auth_tokens_end();
		cfg->tokens = 1;
		break;
	case IMSG_API_CONFIG_DONE:
		if (cfg->cert == NULL || cfg->key == NULL ||
		    cfg->listen_fd == -1 || !cfg->tokens)
			fatalx("parent ended the configuration without a "
			    "certificate, key, listener and token snapshot");
		return 1;
	default:
		fatalx("unexpected message type %u during configuration",
		    imsg->hdr.type);
	}
	return 0;
}

/* Read what the parent sends up to IMSG_API_CONFIG_DONE. */
static void
api_read_config(struct api_config *cfg)
{
	struct imsg	 imsg;
	int		 rv, done = 0;

	while (!done) {
		rv = proc_wait_imsg(&api_ibuf, &imsg, PROC_SETUP_TIMEOUT_MS);
		if (rv == 0) {
			log_debug("parent closed the channel; exiting");
			exit(0);
		}
		if (rv == -1)
			fatalx("no configuration from the parent: %s",
			    errno == ETIMEDOUT ? "timed out" :
			    imsg_error(&api_ibuf));
		done = api_config_one(cfg, &imsg);
		if (imsg.fd != -1)
			close(imsg.fd);
		imsg_free(&imsg);
	}
}

/*
 * Room for every connection and its socket, and no more: lws sizes its
 * descriptor tables by this limit.
 */
static void
api_set_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	rl.rlim_cur = rl.rlim_max < API_NOFILE ? rl.rlim_max : API_NOFILE;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("setrlimit");
	if (rl.rlim_cur < API_NOFILE)
		log_warnx("descriptor limit is %llu, below the %d this "
		    "worker may need; raise the hard limit (ulimit -Hn)",
		    (unsigned long long)rl.rlim_cur, API_NOFILE);
}

static void
api_context_create(struct api_config *cfg)
{
	struct lws_context_creation_info	 info;

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
	    LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.uid = -1;
	info.gid = -1;
	info.count_threads = 1;
	info.pt_serv_buf_size = API_RX_BUFFER;
	info.max_http_header_data = API_HEADER_MAX;
	info.max_http_header_pool = API_MAX_CONNS;
	info.timeout_secs = API_TLS_TIMEOUT;
	info.server_string = "mtunneld/" MTUNNELD_VERSION;
	if ((api_context = lws_create_context(&info)) == NULL)
		fatalx("cannot create the libwebsockets context");

	memset(&info, 0, sizeof(info));
	info.vhost_name = "mtunneld";
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = api_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
	    LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX |
	    LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	info.alpn = "http/1.1";
	info.ssl_options_set = (long)(SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	info.keepalive_timeout = API_KEEPALIVE_TIMEOUT;
	info.timeout_secs_ah_idle = API_HEADER_TIMEOUT;
	api_tls_config = cfg;
	api_vh = lws_create_vhost(api_context, &info);
	api_tls_config = NULL;
	if (api_vh == NULL)
		fatalx("cannot create the HTTPS server with the configured "
		    "certificate and key");
}

/* Add a descriptor to the lws loop, which calls back when it is ready. */
static struct lws *
api_adopt_raw(int fd, struct api_obj *obj)
{
	lws_adopt_desc_t	 desc;
	struct lws		*wsi;

	memset(&desc, 0, sizeof(desc));
	desc.vh = api_vh;
	desc.type = LWS_ADOPT_RAW_FILE_DESC;
	desc.fd.filefd = fd;
	desc.opaque = obj;
	if ((wsi = lws_adopt_descriptor_vhost_via_info(&desc)) == NULL)
		fatalx("cannot add descriptor %d to the event loop", fd);
	return wsi;
}

/*
 * Ask for a writable callback on each websocket the guard found an
 * unmasked frame on, so that ws.c closes it even when lws delivers no
 * data from it.
 */
static void
api_guard_wake(void)
{
	struct conn	*c;

	while ((c = wsguard_next_violation()) != NULL)
		lws_callback_on_writable(c->wsi);
}

static void
api_config_free(struct api_config *cfg)
{
	explicit_bzero(cfg->key, cfg->keylen);
	free(cfg->key);
	free(cfg->cert);
	cfg->key = cfg->cert = NULL;
}

void
api_main(int debug, int verbose)
{
	struct proc_setup	 setup;
	struct api_config	 cfg;

	(void)debug;
	(void)verbose;
	proc_child_start(&api_ibuf, PROC_API, &setup);
	log_setproc("api");
	setproctitle("api");
	lws_set_log_level(LLL_ERR | LLL_WARN |
	    (log_getverbose() > 1 ? LLL_NOTICE : 0), api_lws_log);

	memset(&cfg, 0, sizeof(cfg));
	cfg.listen_fd = -1;
	api_read_config(&cfg);
	api_listen_fd = cfg.listen_fd;

	/*
	 * Everything that opens a file does it here, as root, before the
	 * chroot: OpenSSL reads its config and random sources when lws
	 * starts it, lws's daily certificate check calls mktime(), and
	 * jansson seeds its hash function from /dev/urandom on the first
	 * JSON object.  glibc reads the zone file again on every mktime()
	 * while TZ is unset, and never again once TZ is set and unchanged.
	 * The websocket mask check looks up OpenSSL's SSL_read() with
	 * dlsym().  Writes to a UNIX socket whose peer has gone must fail
	 * with EPIPE, not kill the worker.
	 */
	if (getenv("TZ") == NULL && setenv("TZ", ":/etc/localtime", 1) == -1)
		fatal("setenv TZ");
	tzset();
	json_object_seed(0);
	wsguard_init();
	signal(SIGPIPE, SIG_IGN);
	api_set_nofile();
	api_context_create(&cfg);
	api_config_free(&cfg);
	api_channel_wsi = api_adopt_raw(api_ibuf.fd, &api_channel_obj);
	api_listener_wsi = api_adopt_raw(api_listen_fd, &api_listener_obj);

	drop_privileges(setup.chroot, setup.uid, setup.gid);
	if (api_sandbox() == -1)
		fatalx("cannot install the seccomp filter");
	proc_child_ready(&api_ibuf);
	log_debug("serving, up to %d connections", API_MAX_CONNS);

	for (;;) {
		if (lws_service(api_context, 0) < 0)
			fatalx("libwebsockets service loop failed");
		api_guard_wake();
	}
}
