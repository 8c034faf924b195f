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

#define PATH_MAX_PRIV		512

int	priv_sandbox(void);

/* config.c */
int	config_lock(const char *, uint32_t, char *, size_t);
int	config_create(const char *, const char *, uint32_t, char *, size_t);
int	config_destroy_placeholder(const char *, const char *, uint32_t);

/* sock.c */
void	sock_init(void);
int	sock_name(uint32_t, uint32_t, char *, size_t);
int	sock_create(const char *, uint32_t, uint32_t, char *, size_t);
void	sock_remove_all(const char *, uint32_t);

/* spawner.c */
pid_t	spawner_fork(const struct proc_setup *, int *);
__attribute__((noreturn)) void	spawner_main(int, const char *,
	    const char *);
int	spawner_parse_exec(const struct imsg *, const char *, const char *,
	    struct spawn_exec *, char **, size_t, char *, size_t);

#endif /* MTUNNELD_PRIV_H */
