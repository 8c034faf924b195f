/*
 * Start-up of a child on its channel to the parent.
 */

#ifndef MTUNNELD_PROC_H
#define MTUNNELD_PROC_H

#include "imsg.h"
#include "mtunneld.h"

#define PROC_SETUP_TIMEOUT_MS	10000

void	proc_child_start(struct imsgbuf *, enum proc_role,
	    struct proc_setup *);
void	proc_child_ready(struct imsgbuf *);
int	proc_wait_imsg(struct imsgbuf *, struct imsg *, int);
int	proc_check_hello(const struct imsg *, enum proc_role, char *, size_t);
int	proc_set_nonblock(int);

#endif /* MTUNNELD_PROC_H */
