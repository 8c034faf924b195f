/*
 * Dropping root in a child, in the same order for every role.
 */

#ifndef MTUNNELD_PRIVDROP_H
#define MTUNNELD_PRIVDROP_H

#include <sys/types.h>

int	check_chroot_dir(const char *, char *, size_t);
void	drop_privileges(const char *, uid_t, gid_t);
void	restrict_process(void);

#endif /* MTUNNELD_PRIVDROP_H */
