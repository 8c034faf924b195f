/*
 * Internals shared by net.c (HTTPS and websockets) and relay.c (local
 * UNIX sockets relayed over websockets).
 */

#ifndef MTUNNEL_NET_H
#define MTUNNEL_NET_H

#include <libwebsockets.h>

struct listener;
struct relay;

#define BODY_MAX	(4 * 1024 * 1024)	/* bytes of an API reply */
#define LINE_MAX_CTL	(4 * 1024 * 1024)	/* bytes of a reply line */
#define TICK_US		(100 * 1000)	/* service loop wake-up */
#define CLOSE_TIMEOUT	10		/* seconds for a close handshake */
#define CONNECT_TIMEOUT	30		/* seconds for a websocket upgrade */

enum conn_kind {
	CONN_HTTP,
	CONN_CONTROL,
	CONN_STREAM,
	CONN_RELAY,	/* websocket of a relay */
	CONN_LOCAL,	/* local socket of a relay, adopted by lws */
};

enum conn_state {
	CONN_CONNECTING,
	CONN_OPEN,
	CONN_DONE,	/* HTTP reply complete, or websocket closed */
	CONN_FAILED,
};

struct buf {
	char	*data;
	size_t	 len;
	size_t	 off;	/* bytes already consumed */
};

struct conn {
	struct client	*client;
	enum conn_kind	 kind;
	enum conn_state	 state;
	struct lws	*wsi;
	char		 err[ERR_MAX];
	int		 pin_failed;
	int		 closing;	/* send a Close frame when writeable */

	/* CONN_HTTP */
	const char	*method;
	const char	*form;
	int		 status;
	int		 body_sent;
	struct buf	 body;

	/* CONN_CONTROL: lines out and in */
	struct buf	 out;
	struct buf	 in;

	/* CONN_STREAM */
	int		 fd;
	const unsigned char	*hdr;
	size_t		 hdrlen;
	uint64_t	 sent;
	double		 bwlimit;	/* bytes per second, 0 for none */
	double		 start;
	int		 eof;
	struct progress	*progress;

	/* CONN_RELAY and CONN_LOCAL */
	struct relay	*relay;
};

struct client {
	const struct target	*target;
	struct lws_context	*ctx;
	lws_sorted_usec_list_t	 tick;
	char			 hostheader[300];
	struct conn		*control;
	int			 cleaning;

	/* Relays of local sockets: the tunnel's node and VMID, for URLs. */
	char			 node[64];
	uint32_t		 vmid;
	struct listener		*listeners;
	struct relay		*relays;
};

int	 conn_start(struct client *, struct conn *, const char *,
	    const char *);
void	 conn_fail(struct conn *, const char *);
int	 relay_ws_callback(struct conn *, enum lws_callback_reasons, void *,
	    size_t);
int	 relay_local_callback(struct conn *, enum lws_callback_reasons);
const char	*net_protocol_name(void);
void	 relays_free(struct client *);

#endif /* MTUNNEL_NET_H */
