/*
 * mtunnel-migrate: the source side of a remote migration.  It talks to
 * a target that speaks the qm remote-migrate protocol (mtunneld or a
 * Proxmox VE node) over HTTPS and websockets.
 */

#ifndef MTUNNEL_MIGRATE_H
#define MTUNNEL_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define ID_MAX		64	/* storage and bridge IDs */
#define IDMAP_MAX	64	/* SRC:DST pairs of one map */
#define ERR_MAX		1024
#define FINGERPRINT_MAX	(32 * 3)	/* "AA:" per byte of SHA-256 */
#define FRAME_MAX	(64 * 1024)	/* payload per frame; the target
					   accepts up to 128 KiB */

/* --target-storage or --target-bridge, as pve-common's parse_idmap. */
struct idmap {
	char	 default_id[ID_MAX + 1];	/* "" when not set */
	size_t	 count;
	struct {
		char	 src[ID_MAX + 1];
		char	 dst[ID_MAX + 1];
	}	 entries[IDMAP_MAX];
};

/* --target: host=ADDR,apitoken=...,fingerprint=FP[,port=N] */
struct target {
	char	 host[256];
	int	 port;
	char	 apitoken[1024];	/* the Authorization header value */
	char	 fingerprint[FINGERPRINT_MAX + 1];	/* upper case */
};

/* args.c */
int	 parse_target(const char *, struct target *, char *, size_t);
int	 parse_idmap(const char *, const char *, int (*)(const char *),
	    struct idmap *, char *, size_t);
const char	*map_id(const struct idmap *, const char *);

/* progress.c: one transfer's progress, a bar on a terminal. */
struct progress {
	char		 label[32];
	uint64_t	 total;		/* bytes, 0 if unknown */
	uint64_t	 done;
	double		 start;		/* seconds, monotonic */
	double		 last;		/* time of the last output */
	int		 tty;
};

double	 now_seconds(void);
void	 say(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 progress_begin(struct progress *, const char *, uint64_t);
void	 progress_update(struct progress *, uint64_t);
void	 progress_end(struct progress *);

/* net.c: HTTPS requests and websockets through libwebsockets. */
struct client;

struct client	*client_new(const struct target *, char *, size_t);
void		 client_free(struct client *);
/* Set by a signal: the current step fails, cleanup still runs. */
void		 client_interrupt(void);
int		 client_interrupted(void);
void		 client_cleanup_mode(struct client *);

/*
 * One API call: method and path below /api2/json, form (or NULL) as an
 * application/x-www-form-urlencoded body.  Returns 0 with the status,
 * the body (NUL-terminated, to be freed) and its length, which counts
 * any NUL bytes inside it, or -1 with err when no HTTP response came.
 */
int	 api_call(struct client *, const char *, const char *, const char *,
	    int *, char **, size_t *, char *, size_t);
/*
 * Decode the JSON body (bodylen bytes) of an API reply with HTTP status.
 * Returns its data member (new reference), or NULL with err naming
 * method and path.
 */
json_t	*api_reply_data(const char *, const char *, int, const char *,
	    size_t, char *, size_t);
/* Join text from the target into one line without control characters. */
void	 one_line(char *);
/* The path and query of a websocket to socket with ticket. */
int	 ws_path(char *, size_t, const char *, uint32_t, const char *,
	    const char *);
int	 ctl_open(struct client *, const char *, char *, size_t);
/*
 * Send one command and wait up to timeout seconds for its reply.
 * Returns 0 with *reply (new reference) when success is true, else -1
 * with err.
 */
int	 ctl_command(struct client *, json_t *, int, json_t **, char *,
	    size_t);
/*
 * Decode one reply line (len bytes, without its LF) to command req, as
 * ctl_command does.  Returns 0 with *reply (new reference, if reply is
 * not NULL) when success is true or 1, else -1 with err.
 */
int	 ctl_reply_decode(const char *, size_t, const char *, json_t **,
	    char *, size_t);
void	 ctl_close(struct client *);
/*
 * Send hdr (hdrlen bytes), then the file fd to its end, over a new
 * websocket at path; bwlimit in KiB/s, 0 for none.  Returns 0 once the
 * close handshake is done, or -1 with err.
 */
int	 ws_send_file(struct client *, const char *, const void *, size_t,
	    int, double, struct progress *, char *, size_t);

/* Run the event loop for about ms milliseconds. */
void	 client_service(struct client *, int);

/* relay.c: local listeners whose connections go to target sockets. */
void	 client_set_tunnel(struct client *, const char *, uint32_t);
int	 relay_listen(struct client *, const char *, const char *, char *,
	    size_t);
/* Accept waiting connections and start their websockets. */
int	 relay_poll(struct client *, char *, size_t);
int	 relay_count(struct client *);
void	 relay_report(struct client *);
void	 relay_unlisten(struct client *);

/* url-encode src into dst. */
int	 url_encode(char *, size_t, const char *);

#endif /* MTUNNEL_MIGRATE_H */
