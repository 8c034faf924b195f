/*
 * imsg-style framing over a SOCK_STREAM UNIX socket: a fixed header, a
 * payload and at most one descriptor passed with SCM_RIGHTS.
 */

#ifndef MTUNNELD_IMSG_H
#define MTUNNELD_IMSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

/* Largest message, header included: a 1 MiB VM config plus room. */
#define IMSG_MAXSIZE		(1024 * 1024 + 4096)

#define IMSGF_HASFD		0x0001
#define IMSG_MAXFDQ		16	/* descriptors waiting for a message */

struct imsg_hdr {
	uint32_t	 type;
	uint32_t	 len;		/* header and payload, in bytes */
	uint32_t	 flags;		/* IMSGF_* */
	uint32_t	 peerid;	/* which tunnel or migration */
	uint32_t	 reqid;		/* matches a reply to its request */
};

#define IMSG_HEADER_SIZE	sizeof(struct imsg_hdr)

struct imsg {
	struct imsg_hdr	 hdr;
	int		 fd;		/* -1 unless IMSGF_HASFD */
	void		*data;		/* hdr.len - IMSG_HEADER_SIZE bytes */
};

struct imsg_wbuf {
	TAILQ_ENTRY(imsg_wbuf)	 entry;
	unsigned char		*buf;
	size_t			 len;
	size_t			 off;		/* bytes already written */
	int			 fd;		/* sent with the first byte */
};

struct imsg_fdq {
	TAILQ_ENTRY(imsg_fdq)	 entry;
	int			 fd;
};

struct imsgbuf {
	int			 fd;
	unsigned char		*rbuf;
	size_t			 rsize;		/* allocated */
	size_t			 rlen;		/* bytes held */
	TAILQ_HEAD(, imsg_wbuf)	 wq;
	size_t			 wqlen;		/* bytes queued */
	TAILQ_HEAD(, imsg_fdq)	 fdq;		/* descriptors received */
	int			 lostfd;	/* MSG_CTRUNC seen */
	char			 errstr[160];
};

void	 imsg_init(struct imsgbuf *, int);
void	 imsg_clear(struct imsgbuf *);
ssize_t	 imsg_read(struct imsgbuf *);
int	 imsg_get(struct imsgbuf *, struct imsg *);
void	 imsg_free(struct imsg *);
int	 imsg_compose(struct imsgbuf *, uint32_t, uint32_t, uint32_t, int,
	    const void *, size_t);
int	 imsg_composev(struct imsgbuf *, uint32_t, uint32_t, uint32_t, int,
	    const struct iovec *, int);
int	 imsg_flush(struct imsgbuf *);
int	 imsg_flush_blocking(struct imsgbuf *, int);
size_t	 imsg_datalen(const struct imsg *);
const char *imsg_error(const struct imsgbuf *);

#endif /* MTUNNELD_IMSG_H */
