/*
 * Tunnel tickets: short-lived, single-use permissions to open one socket
 * through the websocket endpoint.  Text form
 *
 *	PVETUNNEL:<issue time, 8 hex>:<nonce, 16 hex>:<base64 MAC>
 *
 * where the MAC is HMAC-SHA256, under a key that only the parent holds,
 * over the issue time, the nonce, the token id and the normalised path
 * "/socket/<socket path>".  A ticket is valid while
 * -TICKET_SKEW < now - issue time < lifetime, in seconds.
 *
 * The parent remembers the nonce of every ticket it mints until the
 * ticket expires, and accepts only a nonce that it minted and that has
 * not been used.  A replayed ticket is therefore rejected even after a
 * backward step of the clock.  While TICKET_CACHE_MAX nonces are alive,
 * no further ticket is minted.
 *
 * Use: ticket_reserve() checks a ticket and reserves its nonce, so that a
 * second use is rejected while the caller connects the socket.  After a
 * successful connect, ticket_consume() burns the nonce.  After a failed
 * one, ticket_release() makes the ticket usable again.  ticket_verify()
 * does a reserve and a consume in one step.
 */

#ifndef MTUNNELD_TICKET_H
#define MTUNNELD_TICKET_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TICKET_LIFETIME_DEFAULT	40	/* seconds after issue, exclusive */
#define TICKET_SKEW		20	/* seconds before issue, exclusive */
#define TICKET_KEY_LEN		32	/* HMAC-SHA256 key, bytes */
#define TICKET_CACHE_MAX	4096	/* nonces remembered at once */
#define TICKET_TEXT_LEN		80	/* ticket text, without the NUL */
#define TICKET_PATH_MAX		264	/* "/socket/", 255 bytes of path, NUL */
#define TICKET_REASON_MAX	128	/* enough for every reason */

enum ticket_nonce_state {
	TICKET_NONCE_FREE,	/* slot unused */
	TICKET_NONCE_ISSUED,	/* minted, not yet presented */
	TICKET_NONCE_RESERVED,	/* verified, the socket is being connected */
	TICKET_NONCE_USED,	/* kept until expiry to log a replay */
};

/* The nonce of a minted ticket, kept until the ticket expires. */
struct ticket_nonce {
	uint64_t		 nonce;
	int64_t			 expiry;	/* first second it is invalid */
	enum ticket_nonce_state	 state;
};

struct ticket_ctx {
	unsigned char		 key[TICKET_KEY_LEN];
	int			 lifetime;	/* seconds */
	struct ticket_nonce	 cache[TICKET_CACHE_MAX];
};

/* A reserved nonce, from ticket_reserve() to consume or release. */
struct ticket_claim {
	uint64_t		 nonce;
	int64_t			 expiry;
};

int	ticket_init(struct ticket_ctx *, int);
void	ticket_clear(struct ticket_ctx *);
int	ticket_path_normalize(const char *, char *, size_t);
int	ticket_mint(struct ticket_ctx *, const char *, const char *, time_t,
	    char *, size_t);
int	ticket_reserve(struct ticket_ctx *, const char *, const char *,
	    const char *, time_t, struct ticket_claim *, char *, size_t);
void	ticket_consume(struct ticket_ctx *, const struct ticket_claim *);
void	ticket_release(struct ticket_ctx *, const struct ticket_claim *);
int	ticket_verify(struct ticket_ctx *, const char *, const char *,
	    const char *, time_t, char *, size_t);

#endif /* MTUNNELD_TICKET_H */
