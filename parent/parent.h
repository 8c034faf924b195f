/*
 * The parent: config, fork and supervision of the children, routing.
 */

#ifndef MTUNNELD_PARENT_H
#define MTUNNELD_PARENT_H

#include <sys/queue.h>
#include <sys/types.h>

#include <bsd/libutil.h>
#include <jansson.h>

#include "conf.h"
#include "imsg.h"
#include "mtunneld.h"

enum child_state {
	CHILD_STARTING,		/* hello and set-up sent */
	CHILD_HELLO,		/* its hello checked */
	CHILD_READY,		/* filter in place, serving */
	CHILD_GONE,		/* channel closed, waiting to reap */
};

struct task;

struct child {
	TAILQ_ENTRY(child)	 entry;
	enum proc_role		 role;
	enum child_state	 state;
	pid_t			 pid;
	uint32_t		 vmid;		/* tunnel only */
	uint32_t		 sockets;	/* tunnel: 1 << SOCKET_* open */
	struct task		*task;		/* tunnel: its qmtunnel task */
	char			 tokenid[AUTHID_MAX];	/* tunnel: its caller */
	int			 quit_keep;	/* tunnel: quit, no cleanup */
	char			 name[32];	/* "api", "tunnel 100" */
	struct imsgbuf		 ibuf;
};

/* A qmtunnel task, for GET nodes/{node}/tasks/{upid}/status. */
struct task {
	TAILQ_ENTRY(task)	 entry;
	char			 upid[API_PATH_MAX];
	char			 tokenid[AUTHID_MAX];
	uint32_t		 vmid;
	int			 running;
	char			 exitstatus[128];
};

TAILQ_HEAD(tasklist, task);

/* A request waiting for priv, from an api worker or a tunnel. */
enum pending_kind {
	PENDING_MTUNNEL,	/* POST .../mtunnel */
	PENDING_TUNNEL,		/* a tunnel's command step */
};

enum pending_stage {
	PENDING_CONFIG,		/* placeholder config being created */
	PENDING_SOCKET,		/* control socket being created */
};

struct pending {
	TAILQ_ENTRY(pending)	 entry;
	uint32_t		 id;		/* reqid towards priv */
	enum pending_kind	 kind;
	enum pending_stage	 stage;		/* PENDING_MTUNNEL */
	uint32_t		 request;	/* PENDING_TUNNEL: its type */
	pid_t			 api_pid;	/* the requester */
	uint32_t		 api_reqid;	/* the requester's reqid */
	uint32_t		 vmid;
	char			 tokenid[AUTHID_MAX];
};

TAILQ_HEAD(pendinglist, pending);

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

	struct authdata		*auth;		/* users, tokens, storages */
	struct ticket_ctx	*tickets;
	struct tasklist		 tasks;
	struct pendinglist	 pending;
	uint32_t		 next_reqid;
	char			 fingerprint[96];	/* of the TLS cert */
	char			*cert_pem;
	size_t			 cert_len;
	char			*key_pem;
	size_t			 key_len;
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
void		 child_violation(struct parent *, struct child *,
		    const char *);

/* auth.c */
int		 auth_load(struct parent *);
int		 auth_verify(struct parent *, const struct api_auth *, char *,
		    size_t);
int		 auth_allowed(struct parent *, const char *, const char *,
		    const char *);
void		 auth_send_tokens(struct parent *, struct child *);

/* request.c */
void		 parent_dispatch_api(struct parent *, struct child *,
		    struct imsg *);
void		 parent_dispatch_priv(struct parent *, struct child *,
		    struct imsg *);
int		 wire_socket_kind(const char *, uint32_t);
void		 parent_dispatch_tunnel(struct parent *, struct child *,
		    struct imsg *);
void		 request_priv_result(struct parent *, struct imsg *);
void		 request_cleanup(struct parent *, uint32_t, uint32_t);
void		 request_tunnel_ended(struct parent *, struct child *,
		    const char *, int);
void		 api_reply(struct child *, uint32_t, uint32_t, int,
		    const char *, json_t *, int);
json_t		*api_data(json_t *);
json_t		*api_error_body(const char *, json_t *);
void		 api_param_error(struct child *, uint32_t, uint32_t,
		    const char *, const char *, ...)
		    __attribute__((format(printf, 5, 6)));
void		 api_permission_error(struct child *, uint32_t, uint32_t,
		    const char *, const char *);
int		 field_ok(const char *, size_t);
int		 auth_fields_ok(const struct api_auth *);
int		 request_check_caller(struct parent *, struct child *,
		    uint32_t, uint32_t, const struct api_auth *, const char *);

/* tunnelreq.c */
void		 tunnel_priv_result(struct parent *, struct pending *,
		    const struct priv_result *, const char *, size_t);

/* query.c */
void		 request_query(struct parent *, struct child *, struct imsg *);
int		 query_check_storages(struct parent *, struct child *,
		    uint32_t, const char *, const char *);
int		 query_check_bridges(struct parent *, struct child *, uint32_t,
		    const char *);

/* parent.c */
void		 parent_shutdown(struct parent *, int);
void		 parent_send_config(struct parent *, struct child *);
struct child	*parent_tunnel_start(struct parent *, uint32_t);

/* setup.c */
int		 setup_users(struct parent *, char *, size_t);
int		 setup_dirs(const struct mtunneld_conf *, char *, size_t);
int		 setup_listener(const struct mtunneld_conf *, char *, size_t);
int		 setup_tls(struct parent *, char *, size_t);
struct pidfh	*pid_file_open(const struct mtunneld_conf *, char *, size_t);

#endif /* MTUNNELD_PARENT_H */
