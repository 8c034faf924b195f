/*
 * The priv role: the privileged helper, and the spawner it forks.
 */

#ifndef MTUNNELD_PRIV_H
#define MTUNNELD_PRIV_H

#include <sys/types.h>

#include "imsg.h"
#include "mtunneld.h"

#define SPAWN_EXEC_DENIED	"binary is neither qemu-binary nor " \
				"qemu-img-binary"

int	priv_sandbox(void);

/* spawner.c */
pid_t	spawner_fork(const struct proc_setup *, int *);
__attribute__((noreturn)) void	spawner_main(int, const char *,
	    const char *);
int	spawner_parse_exec(const struct imsg *, const char *, const char *,
	    struct spawn_exec *, char **, size_t, char *, size_t);

#endif /* MTUNNELD_PRIV_H */
