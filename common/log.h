/*
 * Logging in the shape of the OpenBSD daemons.  The parent writes to
 * stderr (-d) or syslog.  A child sends each record to the parent over
 * its channel once log_to_channel() is called, because a child's seccomp
 * filter forbids the socket and files that syslog() opens.
 */

#ifndef MTUNNELD_LOG_H
#define MTUNNELD_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

struct imsgbuf;

void	log_init(int, int, const char *);
void	log_setverbose(int);
int	log_getverbose(void);
void	log_setproc(const char *);
void	log_to_channel(struct imsgbuf *);
void	log_child_record(const char *, pid_t, int, const char *, size_t);
void	vlog(int, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
void	log_warn(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2)));

#endif /* MTUNNELD_LOG_H */
