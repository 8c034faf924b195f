/*
 * The parent's side of the API: every decision the api worker requests.
 * The parent checks the token again, decides the privileges, has priv
 * create the placeholder config and the control socket, starts the
 * tunnel, mints and checks tickets, and connects the websocket sockets.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>
#include <jansson.h>

#include "audit.h"
#include "log.h"
#include "parent.h"
#include "ticket.h"
#include "upid.h"

#define WIRE_SOCKET_DIR		"/run/qemu-server/"
#define TASKS_KEPT		64	/* ended tasks remembered */

static const char *const wire_suffix[] = {
	[SOCKET_MTUNNEL] = ".mtunnel",
	[SOCKET_MIGRATE] = ".migrate",
	[SOCKET_NBD] = "_nbd.migrate",
	[SOCKET_STORAGE] = ".storage",
};

#define NSOCKET_KINDS	(sizeof(wire_suffix) / sizeof(wire_suffix[0]))

/*
 * Send an API result: status, reason and a JSON body (consumed; NULL for
 * none).  The descriptor, if any, goes with it.
 */
void
api_reply(struct child *api, uint32_t type, uint32_t reqid, int status,
    const char *reason, json_t *body, int fd)
{
	struct api_result	 res;
	struct iovec		 iov[2];
	char			*text = NULL;

	audit_api_result(api, reqid, status, reason);
	memset(&res, 0, sizeof(res));
	res.status = status;
	strlcpy(res.reason, reason, sizeof(res.reason));
	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
	}
	iov[0].iov_base = &res;
	iov[0].iov_len = sizeof(res);
	iov[1].iov_base = text;
	iov[1].iov_len = text ? strlen(text) : 0;
	if (imsg_composev(&api->ibuf, type, 0, reqid, fd, iov, 2) == -1)
		log_warnx("%s: reply: %s", api->name, imsg_error(&api->ibuf));
	free(text);
}

/* {"data": data} for a 200. */
json_t *
api_data(json_t *data)
{
	return json_pack("{s:o}", "data", data ? data : json_null());
}

/* The upstream error body: message with a newline, and errors if any. */
json_t *
api_error_body(const char *message, json_t *errors)
{
	json_t	*body;

	body = json_pack("{s:n, s:s+}", "data", "message", message, "\n");
	if (body != NULL && errors != NULL)
		json_object_set_new(body, "errors", errors);
	return body;
}

/* 400 Parameter verification failed, with one parameter's error. */
void
api_param_error(struct child *api, uint32_t type, uint32_t reqid,
    const char *param, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_reply(api, type, reqid, 400, "Parameter verification failed.",
	    api_error_body("Parameter verification failed.",
	    json_pack("{s:s}", param, msg)), -1);
}

void
api_permission_error(struct child *api, uint32_t type, uint32_t reqid,
    const char *path, const char *privilege)
{
	char	 msg[256];

	snprintf(msg, sizeof(msg), "Permission check failed (%s, %s)", path,
	    privilege);
	api_reply(api, type, reqid, 403, msg, api_error_body(msg, NULL), -1);
}

/* A field of a fixed-size struct from a child must hold its NUL. */
int
field_ok(const char *field, size_t size)
{
	return memchr(field, '\0', size) != NULL;
}

int
auth_fields_ok(const struct api_auth *auth)
{
	return field_ok(auth->tokenid, sizeof(auth->tokenid)) &&
	    field_ok(auth->secret, sizeof(auth->secret)) &&
	    field_ok(auth->remote, sizeof(auth->remote));
}

/*
 * Check the token again and the node name.  When either fails, send the
 * error reply and return -1.
 */
int
request_check_caller(struct parent *env, struct child *api, uint32_t type,
    uint32_t reqid, const struct api_auth *auth, const char *node)
{
	char	 why[256];

	if (auth_verify(env, auth, why, sizeof(why)) == -1) {
		log_warnx("%s: authentication failed for '%s': %s",
		    auth->remote, auth->tokenid, why);
		audit_auth_failed(api, reqid, auth, why);
		api_reply(api, type, reqid, 401, "Authentication failed!",
		    NULL, -1);
		return -1;
	}
	if (node != NULL && strcmp(node, "localhost") != 0 &&
	    strcmp(node, env->conf.node) != 0) {
		api_param_error(api, type, reqid, "node", "node needs to be "
		    "'localhost' or local hostname '%s'", env->conf.node);
		return -1;
	}
	return 0;
}

static struct pending *
pending_new(struct parent *env, struct child *api, uint32_t api_reqid,
    uint32_t vmid, const char *tokenid)
{
	struct pending	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->id = ++env->next_reqid;
	p->api_pid = api->pid;
	p->api_reqid = api_reqid;
	p->vmid = vmid;
	strlcpy(p->tokenid, tokenid, sizeof(p->tokenid));
	TAILQ_INSERT_TAIL(&env->pending, p, entry);
	return p;
}

static void
pending_free(struct parent *env, struct pending *p)
{
	TAILQ_REMOVE(&env->pending, p, entry);
	free(p);
}

static struct child *
api_by_pid(struct parent *env, pid_t pid)
{
	struct child	*c;

	TAILQ_FOREACH(c, &env->children, entry)
		if (c->role == PROC_API && c->pid == pid &&
		    c->state == CHILD_READY)
			return c;
	return NULL;
}

/* Ask priv for something about one VMID; the reply names pending->id. */
static int
priv_request(struct parent *env, uint32_t type, struct pending *p,
    uint32_t kind)
{
	struct priv_vmid_req	 req;
	struct child		*priv;

	if ((priv = child_find_role(env, PROC_PRIV)) == NULL ||
	    priv->state != CHILD_READY)
		return -1;
	memset(&req, 0, sizeof(req));
	req.vmid = p->vmid;
	req.kind = kind;
	return imsg_compose(&priv->ibuf, type, p->vmid, p->id, -1, &req,
	    sizeof(req));
}

/* Ask priv to remove what a migration left; see priv_cleanup(). */
void
request_cleanup(struct parent *env, uint32_t vmid, uint32_t reason)
{
	struct priv_cleanup	 req;
	struct child		*priv;

	if ((priv = child_find_role(env, PROC_PRIV)) == NULL)
		return;
	req.vmid = vmid;
	req.reason = reason;
	if (imsg_compose(&priv->ibuf, IMSG_PRIV_CLEANUP, vmid, 0, -1, &req,
	    sizeof(req)) == -1)
		log_warnx("cleanup of vmid %u: %s", vmid,
		    imsg_error(&priv->ibuf));
}

static int
mtunnel_check_privileges(struct parent *env, struct child *api,
    uint32_t reqid, const struct api_mtunnel *req)
{
	char	 path[64];

	snprintf(path, sizeof(path), "/vms/%u", req->vmid);
	if (!auth_allowed(env, req->auth.tokenid, path, "VM.Allocate")) {
		api_permission_error(api, IMSG_API_MTUNNEL_RESULT, reqid, path,
		    "VM.Allocate");
		return -1;
	}
	if (!auth_allowed(env, req->auth.tokenid, "/", "Sys.Incoming")) {
		api_permission_error(api, IMSG_API_MTUNNEL_RESULT, reqid, "/",
		    "Sys.Incoming");
		return -1;
	}
	return query_check_storages(env, api, reqid, req->auth.tokenid,
	    req->storages) == -1 ||
	    query_check_bridges(env, api, reqid, req->bridges) == -1 ? -1 : 0;
}

/* POST nodes/{node}/qemu/{vmid}/mtunnel, first step. */
static void
request_mtunnel(struct parent *env, struct child *api, struct imsg *imsg)
{
	struct api_mtunnel	 req;
	struct pending		*p;
	uint32_t		 reqid = imsg->hdr.reqid;

	if (imsg_datalen(imsg) != sizeof(req))
		fatalx("%s: mtunnel request of %zu bytes", api->name,
		    imsg_datalen(imsg));
	memcpy(&req, imsg->data, sizeof(req));
	audit_api_begin(api, reqid, "POST mtunnel", &req.auth, req.vmid);
	if (!auth_fields_ok(&req.auth) ||
	    !field_ok(req.node, sizeof(req.node)) ||
	    !field_ok(req.storages, sizeof(req.storages)) ||
	    !field_ok(req.bridges, sizeof(req.bridges))) {
		log_warnx("%s: mtunnel request with unterminated fields",
		    api->name);
		api_reply(api, IMSG_API_MTUNNEL_RESULT, reqid, 400,
		    "Bad Request", NULL, -1);
		return;
	}

	if (request_check_caller(env, api, IMSG_API_MTUNNEL_RESULT, reqid,
	    &req.auth, req.node) == -1)
		return;
	if (req.vmid < VMID_MIN || req.vmid > VMID_MAX) {
		api_param_error(api, IMSG_API_MTUNNEL_RESULT, reqid, "vmid",
		    "value must have a minimum value of %d", VMID_MIN);
		return;
	}
	if (mtunnel_check_privileges(env, api, reqid, &req) == -1) {
		log_warnx("%s: mtunnel for vmid %u by '%s' rejected",
		    req.auth.remote, req.vmid, req.auth.tokenid);
		return;
	}
	if (audit_check_mtunnel(api, reqid, req.vmid) == -1)
		return;

	if ((p = pending_new(env, api, reqid, req.vmid,
	    req.auth.tokenid)) == NULL ||
	    priv_request(env, IMSG_PRIV_CONFIG_CREATE, p, 0) == -1) {
		if (p != NULL)
			pending_free(env, p);
		api_reply(api, IMSG_API_MTUNNEL_RESULT, reqid, 500,
		    "priv is not available", NULL, -1);
		return;
	}
	p->stage = PENDING_CONFIG;
	log_info("%s: mtunnel for vmid %u by '%s'", req.auth.remote,
	    req.vmid, req.auth.tokenid);
}

static struct task *
task_new(struct parent *env, struct child *tunnel, const char *tokenid)
{
	struct task		*t, *old;
	unsigned long long	 pstart = 0;
	char			 id[16];
	size_t			 n = 0;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if (upid_pstart(tunnel->pid, &pstart) == -1)
		log_warnx("%s: no process start time; UPID uses 0",
		    tunnel->name);
	snprintf(id, sizeof(id), "%u", tunnel->vmid);
	if (upid_format(t->upid, sizeof(t->upid), env->conf.node,
	    tunnel->pid, pstart, time(NULL), "qmtunnel", id, tokenid) == -1) {
		free(t);
		return NULL;
	}
	strlcpy(t->tokenid, tokenid, sizeof(t->tokenid));
	t->vmid = tunnel->vmid;
	t->running = 1;
	TAILQ_INSERT_HEAD(&env->tasks, t, entry);

	TAILQ_FOREACH(old, &env->tasks, entry)
		n++;
	while (n-- > TASKS_KEPT && (old = TAILQ_LAST(&env->tasks,
	    tasklist)) != NULL && !old->running) {
		TAILQ_REMOVE(&env->tasks, old, entry);
		free(old);
	}
	return t;
}

/* Build the reply of a started tunnel: upid, ticket and socket. */
static json_t *
mtunnel_result(struct parent *env, struct child *tunnel, const char *tokenid)
{
	char	 socket[API_PATH_MAX], ticket[TICKET_MAX];

	snprintf(socket, sizeof(socket), WIRE_SOCKET_DIR "%u.mtunnel",
	    tunnel->vmid);
	if (ticket_mint(env->tickets, tokenid, socket, time(NULL), ticket,
	    sizeof(ticket)) == -1)
		return NULL;
	log_info("ticket minted for '%s', socket %s", tokenid, socket);
	audit_ticket("ticket-minted", tokenid, tunnel->vmid, NULL, socket,
	    NULL);
	return json_pack("{s:s, s:s, s:s}", "upid", tunnel->task->upid,
	    "ticket", ticket, "socket", socket);
}

static void
mtunnel_fail(struct parent *env, struct pending *p, struct child *api,
    const char *why)
{
	log_warnx("mtunnel for vmid %u: %s", p->vmid, why);
	request_cleanup(env, p->vmid, CLEANUP_QUIT);
	if (api != NULL)
		api_reply(api, IMSG_API_MTUNNEL_RESULT, p->api_reqid, 500, why,
		    api_error_body(why, NULL), -1);
}

/* The control socket exists: start the tunnel and reply to the source. */
static void
mtunnel_start_tunnel(struct parent *env, struct pending *p,
    struct child *api, int fd)
{
	struct child	*tunnel;
	json_t		*data;

	if ((tunnel = parent_tunnel_start(env, p->vmid)) == NULL) {
		close(fd);
		mtunnel_fail(env, p, api, "cannot start the tunnel process");
		return;
	}
	tunnel->sockets = 1U << SOCKET_MTUNNEL;
	strlcpy(tunnel->tokenid, p->tokenid, sizeof(tunnel->tokenid));
	if (imsg_compose(&tunnel->ibuf, IMSG_TUNNEL_LISTENER, p->vmid, 0, fd,
	    NULL, 0) == -1 ||
	    (tunnel->task = task_new(env, tunnel, p->tokenid)) == NULL ||
	    (data = mtunnel_result(env, tunnel, p->tokenid)) == NULL) {
		/* The tunnel exits when its channel closes; cleanup follows. */
		child_close(tunnel);
		if (api != NULL)
			api_reply(api, IMSG_API_MTUNNEL_RESULT, p->api_reqid,
			    500, "cannot set up the tunnel", NULL, -1);
		return;
	}
	log_info("tunnel for vmid %u started for '%s', pid %ld, %s",
	    p->vmid, p->tokenid, (long)tunnel->pid, tunnel->task->upid);
	audit_record("tunnel-created", "parent", p->tokenid, p->vmid, NULL,
	    json_pack("{s:I, s:s}", "pid", (json_int_t)tunnel->pid, "upid",
	    tunnel->task->upid));
	api_reply(api, IMSG_API_MTUNNEL_RESULT, p->api_reqid, 200, "OK",
	    api_data(data), -1);
}

static void
mtunnel_config_done(struct parent *env, struct pending *p,
    struct child *api, const struct priv_result *res)
{
	char	 why[512];

	if (res->error != 0) {
		if (res->error == EEXIST)
			snprintf(why, sizeof(why), "unable to create empty VM "
			    "config - %s on node '%s'", res->msg,
			    env->conf.node);
		else
			snprintf(why, sizeof(why), "unable to create empty VM "
			    "config - %s", res->msg);
		log_warnx("mtunnel for vmid %u: %s", p->vmid, why);
		if (api != NULL)
			api_param_error(api, IMSG_API_MTUNNEL_RESULT,
			    p->api_reqid, "vmid", "%s", why);
		pending_free(env, p);
		return;
	}
	if (api == NULL) {
		log_warnx("mtunnel for vmid %u: the api worker is gone",
		    p->vmid);
		request_cleanup(env, p->vmid, CLEANUP_DISCONNECT);
		pending_free(env, p);
		return;
	}
	p->stage = PENDING_SOCKET;
	if (priv_request(env, IMSG_PRIV_SOCKET_CREATE, p,
	    SOCKET_MTUNNEL) == -1) {
		mtunnel_fail(env, p, api, "priv is not available");
		pending_free(env, p);
	}
}

/* A reply from priv to one of our pending requests. */
void
request_priv_result(struct parent *env, struct imsg *imsg)
{
	struct priv_result	 res;
	struct pending		*p;
	struct child		*api;
	int			 fd = imsg->fd;

	if (imsg_datalen(imsg) < sizeof(res))
		fatalx("priv result of %zu bytes", imsg_datalen(imsg));
	memcpy(&res, imsg->data, sizeof(res));
	res.msg[sizeof(res.msg) - 1] = '\0';
	TAILQ_FOREACH(p, &env->pending, entry)
		if (p->id == imsg->hdr.reqid)
			break;
	if (p == NULL || p->vmid != imsg->hdr.peerid) {
		log_warnx("priv result for unknown request %u",
		    imsg->hdr.reqid);
		return;
	}
	if (p->kind == PENDING_TUNNEL) {
		tunnel_priv_result(env, p, &res, (char *)imsg->data +
		    sizeof(res), imsg_datalen(imsg) - sizeof(res));
		pending_free(env, p);
		return;
	}
	api = api_by_pid(env, p->api_pid);

	if (p->stage == PENDING_CONFIG) {
		mtunnel_config_done(env, p, api, &res);
		return;
	}
	imsg->fd = -1;
	if (res.error != 0 || fd == -1 || api == NULL) {
		if (fd != -1)
			close(fd);
		mtunnel_fail(env, p, api, res.error ? res.msg :
		    "the api worker is gone");
	} else
		mtunnel_start_tunnel(env, p, api, fd);
	pending_free(env, p);
}

/*
 * Return the kind of a wire socket name of vmid, such as
 * /run/qemu-server/<vmid>.mtunnel, or -1 for any other name.
 */
int
wire_socket_kind(const char *path, uint32_t vmid)
{
	char	 name[API_PATH_MAX];
	size_t	 kind;

	for (kind = 0; kind < NSOCKET_KINDS; kind++) {
		snprintf(name, sizeof(name), WIRE_SOCKET_DIR "%u%s", vmid,
		    wire_suffix[kind]);
		if (strcmp(path, name) == 0)
			return (int)kind;
	}
	return -1;
}

/* Connect to a migration's real socket without blocking. */
static int
wsconnect_socket(struct parent *env, uint32_t vmid, int kind, char *why,
    size_t whylen)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%u/%u%s",
	    env->conf.rundir, vmid, vmid, wire_suffix[kind]) >=
	    sizeof(sun.sun_path)) {
		snprintf(why, whylen, "socket path too long");
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 &&
	    errno != EINPROGRESS) {
		snprintf(why, whylen, "connect %s: %s", sun.sun_path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Checks after the ticket: the socket belongs to a live migration. */
static int
wsconnect_target(struct parent *env, const struct api_wsconnect *req,
    int *kind)
{
	struct child	*tunnel;

	if (req->vmid < VMID_MIN || req->vmid > VMID_MAX ||
	    (*kind = wire_socket_kind(req->socket, req->vmid)) == -1)
		return -1;
	if ((tunnel = child_find_vmid(env, req->vmid)) == NULL ||
	    tunnel->state == CHILD_GONE ||
	    (tunnel->sockets & (1U << *kind)) == 0)
		return -1;
	return 0;
}

/* GET .../mtunnelwebsocket: ticket, then connect, then pass the socket. */
static void
request_wsconnect(struct parent *env, struct child *api, struct imsg *imsg)
{
	struct api_wsconnect	 req;
	struct ticket_claim	 claim;
	uint32_t		 reqid = imsg->hdr.reqid;
	char			 why[256];
	int			 kind, fd;

	if (imsg_datalen(imsg) != sizeof(req))
		fatalx("%s: wsconnect request of %zu bytes", api->name,
		    imsg_datalen(imsg));
	memcpy(&req, imsg->data, sizeof(req));
	audit_api_begin(api, reqid, "GET mtunnelwebsocket", &req.auth,
	    req.vmid);
	if (!auth_fields_ok(&req.auth) ||
	    !field_ok(req.node, sizeof(req.node)) ||
	    !field_ok(req.socket, sizeof(req.socket)) ||
	    !field_ok(req.ticket, sizeof(req.ticket))) {
		api_reply(api, IMSG_API_WSCONNECT_RESULT, reqid, 400,
		    "Bad Request", NULL, -1);
		return;
	}
	if (request_check_caller(env, api, IMSG_API_WSCONNECT_RESULT, reqid,
	    &req.auth, req.node) == -1)
		return;

	if (ticket_reserve(env->tickets, req.auth.tokenid, req.socket,
	    req.ticket, time(NULL), &claim, why, sizeof(why)) == -1) {
		log_warnx("%s: ticket for '%s' socket %s rejected: %s",
		    req.auth.remote, req.auth.tokenid, req.socket, why);
		audit_ticket("ticket-refused", req.auth.tokenid, req.vmid,
		    req.auth.remote, req.socket, why);
		api_reply(api, IMSG_API_WSCONNECT_RESULT, reqid, 401,
		    "permission denied - invalid PVETUNNEL ticket", NULL, -1);
		return;
	}
	if (wsconnect_target(env, &req, &kind) == -1) {
		ticket_release(env->tickets, &claim);
		log_warnx("%s: socket %s is not part of an active migration",
		    req.auth.remote, req.socket);
		api_param_error(api, IMSG_API_WSCONNECT_RESULT, reqid,
		    "socket", "socket '%s' is not part of an active "
		    "migration", req.socket);
		return;
	}
	if ((fd = wsconnect_socket(env, req.vmid, kind, why,
	    sizeof(why))) == -1) {
		ticket_release(env->tickets, &claim);
		log_warnx("%s: %s", req.auth.remote, why);
		api_reply(api, IMSG_API_WSCONNECT_RESULT, reqid, 502,
		    "unable to connect to socket", NULL, -1);
		return;
	}
	ticket_consume(env->tickets, &claim);
	log_info("%s: ticket used by '%s', connected %s", req.auth.remote,
	    req.auth.tokenid, req.socket);
	audit_ticket("ticket-used", req.auth.tokenid, req.vmid,
	    req.auth.remote, req.socket, NULL);
	api_reply(api, IMSG_API_WSCONNECT_RESULT, reqid, 101,
	    "Switching Protocols", NULL, fd);
}

void
parent_dispatch_api(struct parent *env, struct child *c, struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_API_MTUNNEL:
		request_mtunnel(env, c, imsg);
		break;
	case IMSG_API_WSCONNECT:
		request_wsconnect(env, c, imsg);
		break;
	case IMSG_API_QUERY:
		request_query(env, c, imsg);
		break;
	default:
		child_violation(env, c, "unexpected message type");
		break;
	}
}

/*
 * A tunnel ended: its task stops, and priv cleans up its migration from
 * the journal.  After a quit without cleanup the journal is only closed:
 * the source decided to keep what the migration made.
 */
void
request_tunnel_ended(struct parent *env, struct child *c, const char *how,
    int ok)
{
	uint32_t	 reason = CLEANUP_TUNNEL_LOST;

	if (c->task != NULL) {
		c->task->running = 0;
		strlcpy(c->task->exitstatus, ok ? "OK" : how,
		    sizeof(c->task->exitstatus));
	}
	if (ok)
		reason = c->quit_keep ? CLEANUP_FINISHED : CLEANUP_QUIT;
	audit_record("tunnel-ended", "parent", c->tokenid, c->vmid, NULL,
	    json_pack("{s:s, s:b, s:b}", "status", how, "ok", ok, "cleanup",
	    reason != CLEANUP_FINISHED));
	request_cleanup(env, c->vmid, reason);
}

void
parent_dispatch_priv(struct parent *env, struct child *c, struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_PRIV_RESULT:
		request_priv_result(env, imsg);
		break;
	default:
		child_violation(env, c, "unexpected message type");
		break;
	}
}
