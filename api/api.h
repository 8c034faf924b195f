/*
 * The api role: the only process that reads bytes from the network.
 * HTTPS and websockets through libwebsockets 4.1, a token check against
 * the parent's snapshot, and a relay between each websocket and the
 * UNIX socket the parent connected for it.
 */

#ifndef MTUNNELD_API_H
#define MTUNNELD_API_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "mtunneld.h"

/* Connections one worker serves at once.  More wait in the backlog. */
#define API_MAX_CONNS		512
#define API_ACCEPT_BURST	64	/* accept4() calls per wakeup */

/* Seconds. */
#define API_TLS_TIMEOUT		10	/* TLS handshake */
#define API_HEADER_TIMEOUT	10	/* request head, once TLS is up */
#define API_BODY_TIMEOUT	10	/* between two parts of a body */
#define API_KEEPALIVE_TIMEOUT	30	/* idle between two requests */
#define API_PARENT_TIMEOUT	30	/* parent's reply to an HTTP request */
#define API_DRAIN_TIMEOUT	60	/* socket draining after a websocket */

#define API_WSCONNECT_TIMEOUT_MS 5000	/* the upgrade's round trip */
#define API_AUTH_DELAY_US	(3 * LWS_US_PER_SEC)	/* before any 401 */

#define API_HEADER_MAX		16384	/* request head, lws header buffer */
#define API_BODY_MAX		65536	/* POST body */

/* Websocket frame rules and relay sizes, in bytes. */
#define WS_FRAME_MAX		131072	/* payload of one client frame */
#define RELAY_CHUNK		131072	/* payload of one frame we send */
/*
 * lws service buffer and per-protocol receive buffer: a whole client
 * frame plus room, because 4096 (the default) halves relay throughput.
 */
#define API_RX_BUFFER		(RELAY_CHUNK + 4096)

/* Kind of the object a wsi's opaque user data points to, first in it. */
enum api_obj_kind {
	API_OBJ_CHANNEL = 1,	/* the channel to the parent */
	API_OBJ_LISTENER,	/* the shared listening socket */
	API_OBJ_CONN,		/* a client connection, HTTP then websocket */
	API_OBJ_SOCKET,		/* the UNIX socket side of a relay */
};

struct api_obj {
	enum api_obj_kind	 kind;
};

struct conn;
struct http_txn;
struct relay;

/* Position of a wsguard in the client's plaintext byte stream. */
enum wsguard_state {
	WSG_METHOD,		/* request line: the method */
	WSG_TARGET,		/* request line: the request target */
	WSG_TARGET_PCT1,	/* first hex digit after a '%' */
	WSG_TARGET_PCT2,	/* second hex digit after a '%' */
	WSG_VERSION,		/* request line: "HTTP/1.1" or "HTTP/1.0" */
	WSG_LINE_LF,		/* the LF after a line's CR */
	WSG_LINE_START,		/* a header name or the CR of the blank line */
	WSG_NAME,		/* a header name */
	WSG_VALUE,		/* a header value */
	WSG_END_LF,		/* the LF of the blank line */
	WSG_BODY,		/* Content-Length bytes of a body */
	WSG_FRAME,		/* a websocket frame header */
	WSG_PAYLOAD,		/* a websocket frame's payload */
	WSG_VIOLATION,		/* a frame broke the rules; nothing more */
	WSG_UNTRACKED,		/* left the grammar followed; nothing more */
};

/* Kind of the header whose value a wsguard is reading. */
enum wsguard_header {
	WSG_HDR_OTHER,
	WSG_HDR_UPGRADE,
	WSG_HDR_LENGTH,		/* Content-Length */
};

/*
 * The state wsguard.c keeps for one client connection, of fixed size:
 * bodies and frame payload are skipped by counting.
 */
struct wsguard {
	struct conn		*conn;
	SSL			*ssl;		/* NULL until attached */
	TAILQ_ENTRY(wsguard)	 entry;		/* on the list of violations */
	int			 queued;	/* on that list */
	enum wsguard_state	 state;
	const char		*why;		/* violation or untracked */
	uint64_t		 skip;		/* body or payload bytes left */
	uint32_t		 heads;		/* request heads completed */
	uint32_t		 upgrade_head;	/* frames follow it; 0: none */

	/* the request head being read */
	char			 method[8];
	uint8_t			 pos;		/* in method, version, frame */
	uint8_t			 hex;		/* first digit after '%' */
	uint8_t			 body_default;	/* POST, PUT or PATCH */
	uint8_t			 has_upgrade;
	uint8_t			 has_length;
	uint8_t			 value_text;	/* not only spaces so far */
	uint8_t			 digits;	/* of Content-Length */
	enum wsguard_header	 header;
	uint16_t		 name_lo;	/* lws header names that */
	uint16_t		 name_hi;	/* share the name's prefix */
	uint16_t		 name_len;
	uint64_t		 length;	/* Content-Length */

	/* the websocket frame header being read */
	uint8_t			 frame_len;	/* header bytes in all */
	uint64_t		 payload;
};

/* One client connection. */
struct conn {
	struct api_obj		 obj;		/* API_OBJ_CONN */
	struct lws		*wsi;
	char			 remote[ADDR_TEXT_MAX];
	TAILQ_ENTRY(conn)	 wait_entry;	/* waiting for the parent */
	uint32_t		 reqid;		/* 0 unless waiting */
	uint32_t		 reply_type;	/* *_RESULT expected */
	uint32_t		 heads;		/* request heads seen by lws */
	struct http_txn		*txn;		/* http.c */
	struct relay		*relay;		/* ws.c, after the upgrade */
	struct wsguard		 guard;		/* wsguard.c */
};

#define API_REASON_MAX	sizeof(((struct api_result *)0)->reason)

/* The parent's reply to an API request. */
struct api_reply {
	uint32_t		 status;
	char			 reason[API_REASON_MAX];
	unsigned char		*buf;		/* LWS_PRE + body, malloc'd */
	size_t			 bodylen;	/* body at buf + LWS_PRE */
	int			 fd;		/* passed descriptor, or -1 */
};

/* api.c */
int		 api_request(struct conn *, uint32_t, uint32_t, const void *,
		    size_t);
int		 api_request_sync(uint32_t, uint32_t, const void *, size_t,
		    struct api_reply *, int);
void		 api_request_cancel(struct conn *);
void		 api_reply_free(struct api_reply *);
void		 api_raw_writable_later(struct lws *);
struct lws_vhost *api_vhost(void);

/* api_auth.c */
enum api_auth_result {
	API_AUTH_OK,
	API_AUTH_NONE,		/* no credential: "No ticket" */
	API_AUTH_FAILED,	/* "Authentication failed!" */
};

void		 api_auth_tokens_add(const void *, size_t);
void		 api_auth_tokens_end(void);
enum api_auth_result api_auth_check(struct lws *, struct api_auth *,
		    char *, size_t);

/* http.c */
int		 http_callback(struct conn *, struct lws *, int, void *,
		    size_t);
void		 http_parent_reply(struct conn *, struct api_reply *);
void		 http_txn_free(struct conn *);
int		 http_respond(struct lws *, unsigned int, const char *,
		    const unsigned char *, size_t, int);
int		 http_respond_error(struct lws *, unsigned int, const char *,
		    const char *, const char *, int);
int		 http_ws_params(struct conn *, struct api_wsconnect *);

/* ws.c */
extern char	 ws_subprotocol[64];

int		 ws_confirm_upgrade(struct conn *, struct lws *);
int		 ws_callback(struct conn *, struct lws *, int, void *, size_t);
int		 ws_socket_callback(struct relay *, struct lws *, int);
void		 ws_conn_gone(struct conn *);
void		 ws_socket_gone(struct relay *);
void		 ws_upgrade_abandon(struct lws *);

/* wsguard.c */
void		 wsguard_init(void);
void		 wsguard_start(struct wsguard *, struct conn *);
int		 wsguard_attach(struct wsguard *, SSL *);
void		 wsguard_detach(struct wsguard *, SSL *);
void		 wsguard_parse(struct wsguard *, const unsigned char *, size_t);
const char	*wsguard_check_http(const struct wsguard *, uint32_t);
const char	*wsguard_check_upgrade(const struct wsguard *, uint32_t);
const char	*wsguard_violation(const struct wsguard *);
struct conn	*wsguard_next_violation(void);

/* api_sandbox.c */
int		 api_sandbox(void);

#endif /* MTUNNELD_API_H */
