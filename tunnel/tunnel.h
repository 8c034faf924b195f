/*
 * The tunnel role: one process per migration, the JSON-lines command
 * protocol and its state machine.
 */

#ifndef MTUNNELD_TUNNEL_H
#define MTUNNELD_TUNNEL_H

#include <stddef.h>

#define CONTROL_LINE_MAX	(1024 * 1024)
#define CONTROL_WBUF_SIZE	(64 * 1024)

struct control {
	int	 fd;
	int	 exit_mode;		/* after quit */
	int	 quit_cleanup;
	int	 closing;		/* flush the replies, then end */
	size_t	 rlen;
	size_t	 wlen;
	char	 rbuf[CONTROL_LINE_MAX + 1];
	char	 wbuf[CONTROL_WBUF_SIZE];
};

extern struct control	 control;

int	tunnel_sandbox(void);

/* control.c */
void	control_process(void);
int	control_read(void);
int	control_write(void);

#endif /* MTUNNELD_TUNNEL_H */
