/*
 * A small blocking QMP client, for priv's QEMU helper children,
 * mtunnelctl and mtunnel-migrate.  Every read is bounded (QMP_LINE_MAX)
 * and every call has a deadline.  Events that arrive while a command
 * waits for its reply go to the event callback, or are dropped.
 */

#ifndef MTUNNELD_QMP_H
#define MTUNNELD_QMP_H

#include <jansson.h>

#define QMP_LINE_MAX	(1024 * 1024)
#define QMP_ERR_MAX	512

struct qmp;

/* The callback borrows data: an empty object when QEMU sent none. */
typedef void	(*qmp_event_fn)(void *, const char *, json_t *);

/*
 * Connect to the QMP socket at path, read the greeting and leave
 * capabilities negotiation mode, all within timeout_ms.  Returns the
 * connection, or NULL with a message in err.
 */
struct qmp	*qmp_open(const char *, int, char *, size_t);
void		 qmp_close(struct qmp *);
void		 qmp_set_event_cb(struct qmp *, qmp_event_fn, void *);

/*
 * Run command with arguments args (may be NULL; not stolen) and wait up
 * to timeout_ms for its reply.  fd, if not -1, goes along with the
 * command as SCM_RIGHTS (for getfd).  On success *ret (if ret is not
 * NULL) gets a new reference to the "return" value.  Returns 0, or -1
 * with QEMU's error description (or what failed) in err.  A line over
 * QMP_LINE_MAX, invalid JSON, EOF or a reply with an unknown id ends the
 * connection: every later call fails with that error.  A late reply to a
 * command that timed out is dropped.
 */
int	qmp_command(struct qmp *, const char *, json_t *, int, json_t **,
	    int, char *, size_t);

/*
 * Wait up to timeout_ms for event name.  Returns 0 with *data (if not
 * NULL) a new reference to its data, 1 on timeout, -1 on an error.
 */
int	qmp_wait_event(struct qmp *, const char *, json_t **, int, char *,
	    size_t);

/* The socket, for poll. */
int	qmp_fd(const struct qmp *);

#endif /* MTUNNELD_QMP_H */
