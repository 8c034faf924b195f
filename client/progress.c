/*
 * Output: a timestamped line per phase on stdout, and for each transfer a
 * progress bar with bytes, rate and estimated time left when stdout is a
 * terminal, or a plain line every PLAIN_INTERVAL seconds otherwise.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "migrate.h"

#define BAR_WIDTH	24
#define TTY_INTERVAL	0.2	/* seconds between bar redraws */
#define PLAIN_INTERVAL	5.0	/* seconds between plain progress lines */
#define MIB		(1024.0 * 1024.0)

double
now_seconds(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void
say(const char *fmt, ...)
{
	va_list		 ap;
	char		 stamp[32];
	time_t		 t = time(NULL);
	struct tm	 tm;

	localtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%F %T", &tm);
	printf("%s ", stamp);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void
progress_begin(struct progress *p, const char *label, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	strlcpy(p->label, label, sizeof(p->label));
	p->total = total;
	p->start = p->last = now_seconds();
	p->tty = isatty(STDOUT_FILENO);
}

/* "1:05:03" or "5:03" for seconds. */
static void
format_eta(double seconds, char *buf, size_t len)
{
	unsigned long	 s = seconds > 0 ? (unsigned long)seconds : 0;

	if (s >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60,
		    s % 60);
	else
		snprintf(buf, len, "%lu:%02lu", s / 60, s % 60);
}

static void
progress_print(struct progress *p, double now, int final)
{
	double	 elapsed = now - p->start, rate, frac;
	char	 bar[BAR_WIDTH + 1], eta[32];
	int	 i, fill;

	rate = elapsed > 0 ? p->done / elapsed : 0;
	frac = p->total > 0 ? (double)p->done / p->total : 0;
	if (frac > 1)
		frac = 1;
	if (!p->tty) {
		say("%s: %.1f of %.1f MiB (%.0f%%), %.1f MiB/s", p->label,
		    p->done / MIB, p->total / MIB, frac * 100, rate / MIB);
		return;
	}
	fill = (int)(frac * BAR_WIDTH);
	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : ' ';
	bar[BAR_WIDTH] = '\0';
	if (final)
		format_eta(elapsed, eta, sizeof(eta));
	else if (rate > 0 && p->total > p->done)
		format_eta((p->total - p->done) / rate, eta, sizeof(eta));
	else
		strlcpy(eta, "--:--", sizeof(eta));
	printf("\r  %-10s [%s] %7.1f/%.1f MiB %3.0f%% %7.1f MiB/s %s %s\033[K",
	    p->label, bar, p->done / MIB, p->total / MIB, frac * 100,
	    rate / MIB, final ? "in" : "ETA", eta);
	if (final)
		putchar('\n');
	fflush(stdout);
}

void
progress_update(struct progress *p, uint64_t done)
{
	double	 now = now_seconds();

	p->done = done;
	if (now - p->last < (p->tty ? TTY_INTERVAL : PLAIN_INTERVAL))
		return;
	p->last = now;
	progress_print(p, now, 0);
}

void
progress_end(struct progress *p)
{
	progress_print(p, now_seconds(), 1);
}
