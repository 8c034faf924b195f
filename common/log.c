/*
 * Logging: see log.h.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define LIBBSD_OPENBSD_VIS
#include <bsd/vis.h>

#include "imsg.h"
#include "log.h"
#include "mtunneld.h"

#define LOG_FLUSH_MS	2000

static int		 log_stderr;
static int		 log_verbose;
static const char	*log_procname = "mtunneld";
static struct imsgbuf	*log_channel;

void
log_init(int to_stderr, int verbose, const char *procname)
{
	log_stderr = to_stderr;
	log_verbose = verbose;
	log_setproc(procname);

	if (!log_stderr)
		openlog("mtunneld", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

int
log_getverbose(void)
{
	return log_verbose;
}

void
log_setproc(const char *procname)
{
	log_procname = procname;
}

/* From now on, send records to the parent instead of writing them. */
void
log_to_channel(struct imsgbuf *ibuf)
{
	log_channel = ibuf;
}

static void
log_write(int pri, const char *line)
{
	if (log_stderr) {
		fprintf(stderr, "%s\n", line);
		fflush(stderr);
	} else
		syslog(pri, "%s", line);
}

static void
log_send(int pri, const char *msg)
{
	struct log_record	 rec;
	struct iovec		 iov[2];
	size_t			 len;

	len = strnlen(msg, LOG_RECORD_MAXTEXT);
	rec.priority = pri;
	iov[0].iov_base = &rec;
	iov[0].iov_len = sizeof(rec);
	iov[1].iov_base = (void *)(uintptr_t)msg;
	iov[1].iov_len = len;

	if (imsg_composev(log_channel, IMSG_LOG_RECORD, 0, 0, -1, iov,
	    2) == -1)
		return;
	/* A record the parent never gets is lost; there is nowhere else. */
	(void)imsg_flush_blocking(log_channel, LOG_FLUSH_MS);
}

/*
 * Write a record that a child sent, tagged with the name and pid the
 * parent stores for that channel.  Non-printable bytes are escaped.
 */
void
log_child_record(const char *name, pid_t pid, int pri, const char *text,
    size_t len)
{
	char	 safe[LOG_RECORD_MAXTEXT * 4 + 1];
	char	 line[sizeof(safe) + 64];

	if (len > LOG_RECORD_MAXTEXT)
		len = LOG_RECORD_MAXTEXT;
	if (pri < LOG_EMERG || pri > LOG_DEBUG)
		pri = LOG_WARNING;
	if (pri == LOG_DEBUG && log_verbose < 1)
		return;

	strvisx(safe, text, len, VIS_SAFE | VIS_OCTAL);
	snprintf(line, sizeof(line), "%s[%ld]: %s", name, (long)pid, safe);
	log_write(pri, line);
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char	 msg[LOG_RECORD_MAXTEXT];
	char	 line[LOG_RECORD_MAXTEXT + 64];

	if (pri == LOG_DEBUG && log_verbose < 1)
		return;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_channel != NULL) {
		log_send(pri, msg);
		return;
	}
	snprintf(line, sizeof(line), "%s: %s", log_procname, msg);
	log_write(pri, line);
}

void
log_warn(const char *fmt, ...)
{
	char	 buf[LOG_RECORD_MAXTEXT];
	int	 saved = errno;
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warnx("%s: %s", buf, strerror(saved));
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

static __attribute__((noreturn)) void
vfatal(int with_errno, const char *fmt, va_list ap)
{
	char	 buf[LOG_RECORD_MAXTEXT];
	int	 saved = errno;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (with_errno)
		log_warnx("fatal: %s: %s", buf, strerror(saved));
	else
		log_warnx("fatal: %s", buf);
	exit(1);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vfatal(1, fmt, ap);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vfatal(0, fmt, ap);
	va_end(ap);
}
