/*
 * Local UNIX sockets relayed to the target.  QEMU connects to a listener
 * in a private directory, for the drive-mirror NBD target and for the
 * migration stream.  Each accepted connection gets a fresh ticket and
 * its own websocket to the socket the target named.
 *
 * Bytes from the local socket go out one frame at a time: the socket is
 * not read while a frame waits for the websocket.  Bytes from the
 * websocket are written to the socket at once.  What does not fit is
 * kept, and the websocket is not read until it is written.
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <jansson.h>
#include <libwebsockets.h>

#include "migrate.h"
#include "net.h"

#define DRAIN_RETRY_US	1000	/* wait before writing to a full socket */
#define PENDING_MAX	(4 * 1024 * 1024)	/* bytes kept for the socket */
#define TAIL_MAX	(64 * 1024 * 1024)	/* read after a hangup */

struct listener {
	int		 fd;
	char		 local[108];
	char		 remote[256];
	struct listener	*next;
};

struct relay {
	struct client	*client;
	struct conn	 ws;		/* CONN_RELAY */
	struct conn	 local;		/* CONN_LOCAL */
	int		 fd;
	unsigned char	 out[LWS_PRE + FRAME_MAX];	/* socket to ws */
	size_t		 outlen;
	unsigned char	*in;		/* ws to socket, not yet written */
	size_t		 inlen;
	unsigned char	*tail;		/* read after the socket hung up */
	size_t		 taillen;
	size_t		 tailoff;	/* sent to the websocket */
	int		 local_eof;	/* read 0 or the socket closed */
	int		 ws_started;
	int		 shut;		/* write side of fd shut down */
	struct relay	*next;
};

int
relay_listen(struct client *c, const char *local, const char *remote,
    char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct listener		*l;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, local, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path) || strlcpy(l->remote, remote,
	    sizeof(l->remote)) >= sizeof(l->remote)) {
		snprintf(err, errlen, "socket path %s is too long", local);
		free(l);
		return -1;
	}
	strlcpy(l->local, local, sizeof(l->local));
	if ((l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 ||
	    bind(l->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(l->fd, 8) == -1) {
		snprintf(err, errlen, "cannot listen on %s: %s", local,
		    strerror(errno));
		if (l->fd != -1)
			close(l->fd);
		free(l);
		return -1;
	}
	l->next = c->listeners;
	c->listeners = l;
	return 0;
}

void
client_set_tunnel(struct client *c, const char *node, uint32_t vmid)
{
	strlcpy(c->node, node, sizeof(c->node));
	c->vmid = vmid;
}

/* Hand the accepted socket to lws and start its websocket. */
static int
relay_start(struct client *c, int fd, const char *path, char *err,
    size_t errlen)
{
	lws_adopt_desc_t	 desc;
	struct relay		*r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->client = c;
	r->fd = fd;
	r->ws.kind = CONN_RELAY;
	r->ws.relay = r;
	r->local.kind = CONN_LOCAL;
	r->local.relay = r;
	r->local.client = c;
	r->next = c->relays;
	c->relays = r;

	memset(&desc, 0, sizeof(desc));
	desc.vh = lws_get_vhost_by_name(c->ctx, "default");
	desc.type = LWS_ADOPT_RAW_FILE_DESC;
	desc.fd.filefd = fd;
	desc.vh_prot_name = net_protocol_name();
	desc.opaque = &r->local;
	if ((r->local.wsi = lws_adopt_descriptor_vhost_via_info(&desc)) ==
	    NULL) {
		close(fd);
		r->fd = -1;
		r->local_eof = 1;
		snprintf(err, errlen, "cannot adopt a local connection");
		return -1;
	}
	r->ws_started = 1;
	if (conn_start(c, &r->ws, path, NULL) == -1) {
		snprintf(err, errlen, "relay websocket: %s", r->ws.err);
		return -1;
	}
	return 0;
}

/* Fetch a ticket for remote and relay fd over a new websocket. */
static int
relay_accepted(struct client *c, int fd, const char *remote, char *err,
    size_t errlen)
{
	json_t		*req, *reply = NULL;
	const char	*ticket;
	char		 path[2048];
	int		 rv;

	req = json_pack("{s:s,s:s}", "cmd", "ticket", "path", remote);
	rv = req == NULL ? -1 : ctl_command(c, req, 10, &reply, err, errlen);
	json_decref(req);
	if (rv == -1) {
		close(fd);
		return -1;
	}
	ticket = json_string_value(json_object_get(reply, "ticket"));
	rv = ticket == NULL ? -1 : ws_path(path, sizeof(path), c->node,
	    c->vmid, remote, ticket);
	json_decref(reply);
	if (rv == -1) {
		snprintf(err, errlen, "ticket for %s: invalid reply", remote);
		close(fd);
		return -1;
	}
	return relay_start(c, fd, path, err, errlen);
}

static int
relay_done(const struct relay *r)
{
	return r->local.wsi == NULL && (!r->ws_started || r->ws.wsi == NULL);
}

/* Free the relays whose two sides are gone. */
static void
relays_sweep(struct client *c)
{
	struct relay	**rp = &c->relays, *r;

	while ((r = *rp) != NULL) {
		if (!relay_done(r)) {
			rp = &r->next;
			continue;
		}
		*rp = r->next;
		free(r->in);
		free(r->tail);
		free(r);
	}
}

int
relay_poll(struct client *c, char *err, size_t errlen)
{
	struct listener	*l;
	int		 fd;

	relays_sweep(c);
	for (l = c->listeners; l != NULL; l = l->next) {
		while ((fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) != -1)
			if (relay_accepted(c, fd, l->remote, err, errlen) == -1)
				return -1;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(err, errlen, "accept on %s failed: %s",
			    l->local, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int
relay_count(struct client *c)
{
	struct relay	*r;
	int		 n = 0;

	relays_sweep(c);
	for (r = c->relays; r != NULL; r = r->next)
		n++;
	return n;
}

/* Log the state of each open relay, for a stream that does not end. */
void
relay_report(struct client *c)
{
	struct relay	*r;

	relays_sweep(c);
	for (r = c->relays; r != NULL; r = r->next)
		fprintf(stderr, "mtunnel-migrate: open stream: websocket %s "
		    "(state %d), local socket %s%s, %zu bytes to send, %zu to "
		    "write locally\n", r->ws.wsi != NULL ? "open" : "closed",
		    (int)r->ws.state, r->local.wsi != NULL ? "open" : "closed",
		    r->local_eof ? " at EOF" : "", r->outlen, r->inlen);
}

/* Stop listening and remove the socket files. */
void
relay_unlisten(struct client *c)
{
	struct listener	*l;

	while ((l = c->listeners) != NULL) {
		c->listeners = l->next;
		close(l->fd);
		unlink(l->local);
		free(l);
	}
}

void
relays_free(struct client *c)
{
	struct relay	*r;

	relay_unlisten(c);
	while ((r = c->relays) != NULL) {
		c->relays = r->next;
		free(r->in);
		free(r->tail);
		free(r);
	}
}

/* Write what the websocket sent; keep the rest.  Returns -1 on error. */
static int
relay_write_local(struct relay *r, const void *data, size_t len)
{
	unsigned char	*p;
	ssize_t		 n = 0;

	if (r->inlen == 0) {
		n = write(r->fd, data, len);
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n == -1)
			n = 0;
	}
	if ((size_t)n == len)
		return 0;
	if (r->inlen + len - n > PENDING_MAX ||
	    (p = realloc(r->in, r->inlen + len - n)) == NULL)
		return -1;
	memcpy(p + r->inlen, (const char *)data + n, len - n);
	r->in = p;
	r->inlen += len - n;
	lws_rx_flow_control(r->ws.wsi, 0);
	lws_set_timer_usecs(r->local.wsi, DRAIN_RETRY_US);
	return 0;
}

/* The websocket is gone: once its bytes are written, shut down writes. */
static void
relay_ws_gone(struct relay *r)
{
	if (r->inlen == 0 && !r->shut && r->local.wsi != NULL) {
		shutdown(r->fd, SHUT_WR);
		r->shut = 1;
	}
	if (r->local_eof && r->local.wsi != NULL)
		lws_set_timeout(r->local.wsi, PENDING_TIMEOUT_CLOSE_SEND,
		    LWS_TO_KILL_ASYNC);
}

static int
relay_ws_writeable(struct relay *r)
{
	size_t	 n = r->outlen;

	if (n == 0 && r->tailoff < r->taillen) {
		n = r->taillen - r->tailoff;
		if (n > FRAME_MAX)
			n = FRAME_MAX;
		memcpy(r->out + LWS_PRE, r->tail + r->tailoff, n);
		r->tailoff += n;
		r->outlen = n;
	}
	if (n > 0) {
		r->outlen = 0;
		if (lws_write(r->ws.wsi, r->out + LWS_PRE, n,
		    LWS_WRITE_BINARY) < (int)n)
			return -1;
		/*
		 * The local side may have ended while this frame waited.  No
		 * read then requests the next writeable call, so request here
		 * the one that sends the rest and the Close.
		 */
		if (r->local_eof)
			lws_callback_on_writable(r->ws.wsi);
		else if (r->local.wsi != NULL)
			lws_rx_flow_control(r->local.wsi, 1);
		return 0;
	}
	if (r->local_eof) {
		lws_close_reason(r->ws.wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	/* Nothing waits: read the socket again (paused while connecting). */
	if (r->local.wsi != NULL)
		lws_rx_flow_control(r->local.wsi, 1);
	return 0;
}

int
relay_ws_callback(struct conn *cn, enum lws_callback_reasons reason,
    void *in, size_t len)
{
	struct relay	*r = cn->relay;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		cn->state = CONN_OPEN;
		lws_callback_on_writable(cn->wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return relay_ws_writeable(r);
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (r->local.wsi == NULL || r->shut)
			return 0;	/* the local side is gone: drop */
		return relay_write_local(r, in, len);
	case LWS_CALLBACK_CLIENT_CLOSED:
		conn_fail(cn, "closed");
		cn->wsi = NULL;
		relay_ws_gone(r);
		return 0;
	default:
		return 0;
	}
}

/* The local socket is readable: one frame's worth for the websocket. */
static void
relay_local_read(struct relay *r)
{
	ssize_t	 n;

	if (r->outlen > 0 || r->ws.state != CONN_OPEN) {
		lws_rx_flow_control(r->local.wsi, 0);
		if (r->ws.state == CONN_OPEN)
			lws_callback_on_writable(r->ws.wsi);
		return;
	}
	n = read(r->fd, r->out + LWS_PRE, FRAME_MAX);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		r->local_eof = 1;
	else
		r->outlen = n;
	lws_rx_flow_control(r->local.wsi, 0);
	if (r->ws.wsi != NULL)
		lws_callback_on_writable(r->ws.wsi);
	else
		relay_ws_gone(r);
}

/*
 * lws closes a local socket that hung up while its reads were paused.
 * What the peer wrote before (the end of QEMU's migration stream) is
 * still in the socket: keep it for the websocket.
 */
static void
relay_local_hangup(struct relay *r)
{
	unsigned char	*p;
	size_t		 cap = 0;
	ssize_t		 n;

	for (;;) {
		if (r->taillen == cap) {
			if (cap == TAIL_MAX) {
				fprintf(stderr, "mtunnel-migrate: more than "
				    "%d bytes left in a closed socket; the "
				    "rest is lost\n", TAIL_MAX);
				break;
			}
			cap += FRAME_MAX;
			if ((p = realloc(r->tail, cap)) == NULL)
				break;
			r->tail = p;
		}
		n = read(r->fd, r->tail + r->taillen, cap - r->taillen);
		if (n <= 0)
			break;
		r->taillen += (size_t)n;
	}
}

/* Retry writing what the websocket sent, then read it again. */
static int
relay_local_drain(struct relay *r)
{
	ssize_t	 n;

	n = write(r->fd, r->in, r->inlen);
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		return -1;
	if (n > 0) {
		memmove(r->in, r->in + n, r->inlen - n);
		r->inlen -= n;
	}
	if (r->inlen > 0) {
		lws_set_timer_usecs(r->local.wsi, DRAIN_RETRY_US);
		return 0;
	}
	if (r->ws.wsi != NULL)
		lws_rx_flow_control(r->ws.wsi, 1);
	else
		relay_ws_gone(r);
	return 0;
}

int
relay_local_callback(struct conn *cn, enum lws_callback_reasons reason)
{
	struct relay	*r = cn->relay;

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		relay_local_read(r);
		return 0;
	case LWS_CALLBACK_TIMER:
		return relay_local_drain(r);
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (!r->local_eof)
			relay_local_hangup(r);
		cn->wsi = NULL;
		r->local_eof = 1;
		if (r->ws.wsi != NULL)
			lws_callback_on_writable(r->ws.wsi);
		return 0;
	default:
		return 0;
	}
}
