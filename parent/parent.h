/*
 * The parent: config, fork and supervision of the children, routing.
 */

#ifndef MTUNNELD_PARENT_H
#define MTUNNELD_PARENT_H

#include <sys/queue.h>
#include <sys/types.h>

#include <bsd/libutil.h>

#include "conf.h"
#include "imsg.h"
#include "mtunneld.h"

enum child_state {
	CHILD_STARTING,		/* hello and set-up sent */
	CHILD_HELLO,		/* its hello checked */
	CHILD_READY,		/* filter in place, serving */
	CHILD_GONE,		/* channel closed, waiting to reap */
};

struct child {
	TAILQ_ENTRY(child)	 entry;
	enum proc_role		 role;
	enum child_state	 state;
	pid_t			 pid;
	uint32_t		 vmid;		/* tunnel only */
	char			 name[32];	/* "api", "tunnel 100" */
	struct imsgbuf		 ibuf;
};

TAILQ_HEAD(childlist, child);

struct ids {
	uid_t	 uid;
	gid_t	 gid;
};

struct parent {
	struct mtunneld_conf	 conf;
	struct childlist	 children;
	struct ids		 api_ids;
	struct ids		 tunnel_ids;
	struct ids		 qemu_ids;
	int			 listen_fd;
	struct pidfh		*pidfh;
	int			 debug;		/* -d: foreground, stderr */
	int			 verbose;
	int			 shutting_down;
	int			 exit_status;
};

/* child.c */
struct child	*child_start(struct parent *, enum proc_role, uint32_t);
void		 child_dispatch(struct parent *, struct child *);
void		 child_reap(struct parent *);
void		 child_close(struct child *);
void		 child_free(struct parent *, struct child *);
struct child	*child_find_role(struct parent *, enum proc_role);
struct child	*child_find_vmid(struct parent *, uint32_t);
void		 child_describe_exit(int, char *, size_t);

/* parent.c */
void		 parent_shutdown(struct parent *, int);
void		 parent_child_ready(struct parent *, struct child *);
struct child	*parent_tunnel_start(struct parent *, uint32_t);

/* setup.c */
int		 setup_users(struct parent *, char *, size_t);
int		 setup_dirs(const struct mtunneld_conf *, char *, size_t);
int		 setup_listener(const struct mtunneld_conf *, char *, size_t);
struct pidfh	*pid_file_open(const struct mtunneld_conf *, char *, size_t);

#endif /* MTUNNELD_PARENT_H */
