/*
 * seccomp allow-lists.  Each role keeps its own list in its folder; this
 * helper only installs one.
 */

#ifndef MTUNNELD_SANDBOX_H
#define MTUNNELD_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

struct sandbox_rule {
	int		 nr;		/* system call number */
	int		 argidx;	/* -1, or the argument compared */
	uint64_t	 argval;	/* allowed only when it equals this */
	const char	*why;
};

#define SANDBOX_ALLOW(name, why) \
	{ SCMP_SYS(name), -1, 0, why }
#define SANDBOX_ALLOW_ARG(name, idx, val, why) \
	{ SCMP_SYS(name), idx, (uint64_t)(val), why }

int	sandbox_install(const char *, const struct sandbox_rule *, size_t);

#endif /* MTUNNELD_SANDBOX_H */
