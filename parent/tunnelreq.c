/*
 * The tunnel's requests.  The parent checks each one, adds the VMID and
 * token id it stores for that tunnel, replies to what it decides itself
 * (bandwidth limits, tickets) and forwards the rest to priv.  priv's
 * reply goes back to the tunnel with the tunnel's request id.
 */

#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bsd/string.h>
#include <jansson.h>

#include "audit.h"
#include "auth.h"
#include "log.h"
#include "parent.h"
#include "ticket.h"

/* Send a result to a tunnel: error and message, then the JSON fields. */
static void
tunnel_reply(struct child *c, uint32_t reqid, int error, const char *msg,
    json_t *fields)
{
	struct tunnel_result	 res;
	struct iovec		 iov[2];
	char			*text = NULL;

	audit_tunnel_result(c, reqid, error, msg);
	memset(&res, 0, sizeof(res));
	res.error = error;
	strlcpy(res.msg, msg, sizeof(res.msg));
	if (fields != NULL) {
		text = json_dumps(fields, JSON_COMPACT);
		json_decref(fields);
	}
	iov[0].iov_base = &res;
	iov[0].iov_len = sizeof(res);
	iov[1].iov_base = text;
	iov[1].iov_len = text ? strlen(text) : 0;
	if (imsg_composev(&c->ibuf, IMSG_TUNNEL_RESULT, c->vmid, reqid, -1,
	    iov, 2) == -1)
		log_warnx("%s: reply: %s", c->name, imsg_error(&c->ibuf));
	free(text);
}

static struct pending *
tunnel_pending(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct pending	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->id = ++env->next_reqid;
	p->kind = PENDING_TUNNEL;
	p->api_pid = c->pid;
	p->api_reqid = imsg->hdr.reqid;
	p->request = imsg->hdr.type;
	p->vmid = c->vmid;
	strlcpy(p->tokenid, c->tokenid, sizeof(p->tokenid));
	TAILQ_INSERT_TAIL(&env->pending, p, entry);
	return p;
}

/* Forward a request to priv with the tunnel's VMID in header and body. */
static void
tunnel_forward(struct parent *env, struct child *c, struct imsg *imsg,
    uint32_t type, const struct iovec *iov, int iovcnt)
{
	struct child	*priv;
	struct pending	*p;

	if ((priv = child_find_role(env, PROC_PRIV)) == NULL ||
	    priv->state != CHILD_READY ||
	    (p = tunnel_pending(env, c, imsg)) == NULL) {
		tunnel_reply(c, imsg->hdr.reqid, EAGAIN, "priv is not "
		    "available\n", NULL);
		return;
	}
	if (imsg_composev(&priv->ibuf, type, c->vmid, p->id, -1, iov,
	    iovcnt) == -1) {
		log_warnx("%s: %s", c->name, imsg_error(&priv->ibuf));
		TAILQ_REMOVE(&env->pending, p, entry);
		free(p);
		tunnel_reply(c, imsg->hdr.reqid, EIO, "priv request failed\n",
		    NULL);
	}
}

static int
valid_lock_name(const char *lock)
{
	return strcmp(lock, "") == 0 || strcmp(lock, "create") == 0 ||
	    strcmp(lock, "migrate") == 0;
}

static void
tunnel_lock_check(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct tunnel_lock_check	 req;
	struct priv_config_lock		 out;
	struct iovec			 iov;

	memcpy(&req, imsg->data, sizeof(req));
	if (!field_ok(req.expected, sizeof(req.expected)) ||
	    !valid_lock_name(req.expected)) {
		child_violation(env, c, "invalid lock name");
		return;
	}
	memset(&out, 0, sizeof(out));
	out.vmid = c->vmid;
	out.op = LOCK_OP_CHECK;
	strlcpy(out.expected, req.expected, sizeof(out.expected));
	iov.iov_base = &out;
	iov.iov_len = sizeof(out);
	tunnel_forward(env, c, imsg, IMSG_PRIV_CONFIG_LOCK, &iov, 1);
}

static void
tunnel_unlock(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct priv_config_lock	 out;
	struct iovec		 iov;

	memset(&out, 0, sizeof(out));
	out.vmid = c->vmid;
	out.op = LOCK_OP_SET;
	strlcpy(out.expected, "migrate", sizeof(out.expected));
	iov.iov_base = &out;
	iov.iov_len = sizeof(out);
	tunnel_forward(env, c, imsg, IMSG_PRIV_CONFIG_LOCK, &iov, 1);
}

static void
tunnel_config(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct tunnel_config	 req;
	struct priv_config_write out;
	struct iovec		 iov[2];
	size_t			 len = imsg_datalen(imsg);

	memcpy(&req, imsg->data, sizeof(req));
	if (req.conf_len > CONFIG_TEXT_MAX || req.fw_len > CONFIG_TEXT_MAX ||
	    len - sizeof(req) != (size_t)req.conf_len + req.fw_len) {
		child_violation(env, c, "config request with bad lengths");
		return;
	}
	out.vmid = c->vmid;
	out.conf_len = req.conf_len;
	out.fw_len = req.fw_len;
	iov[0].iov_base = &out;
	iov[0].iov_len = sizeof(out);
	iov[1].iov_base = (char *)imsg->data + sizeof(req);
	iov[1].iov_len = len - sizeof(req);
	tunnel_forward(env, c, imsg, IMSG_PRIV_CONFIG_WRITE, iov, 2);
}

/* The token must hold Datastore.AllocateSpace on the storage. */
static int
tunnel_storage_allowed(struct parent *env, struct child *c, uint32_t reqid,
    const char *storage)
{
	char	 path[STORAGE_NAME_MAX + 16], msg[256];

	if (!valid_storage_id(storage)) {
		snprintf(msg, sizeof(msg), "invalid storage ID '%s'\n",
		    storage);
		tunnel_reply(c, reqid, EINVAL, msg, NULL);
		return 0;
	}
	snprintf(path, sizeof(path), "/storage/%s", storage);
	if (!auth_allowed(env, c->tokenid, path,
	    "Datastore.AllocateSpace")) {
		snprintf(msg, sizeof(msg), "Permission check failed (%s, "
		    "Datastore.AllocateSpace)\n", path);
		log_warnx("%s: '%s' may not allocate on %s", c->name,
		    c->tokenid, path);
		tunnel_reply(c, reqid, EPERM, msg, NULL);
		return 0;
	}
	return 1;
}

static void
tunnel_disk_alloc(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct priv_disk_alloc	 out;
	struct iovec		 iov;

	memset(&out, 0, sizeof(out));
	memcpy(&out.disk, imsg->data, sizeof(out.disk));
	if (!field_ok(out.disk.storage, sizeof(out.disk.storage)) ||
	    !field_ok(out.disk.format, sizeof(out.disk.format))) {
		child_violation(env, c, "unterminated disk request");
		return;
	}
	if (!tunnel_storage_allowed(env, c, imsg->hdr.reqid,
	    out.disk.storage))
		return;
	out.vmid = c->vmid;
	iov.iov_base = &out;
	iov.iov_len = sizeof(out);
	tunnel_forward(env, c, imsg, IMSG_PRIV_DISK_ALLOC, &iov, 1);
}

static void
tunnel_disk_import(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct priv_disk_import	 out;
	struct iovec		 iov;

	memset(&out, 0, sizeof(out));
	memcpy(&out.disk, imsg->data, sizeof(out.disk));
	if (!field_ok(out.disk.storage, sizeof(out.disk.storage)) ||
	    !field_ok(out.disk.volname, sizeof(out.disk.volname)) ||
	    !field_ok(out.disk.format, sizeof(out.disk.format)) ||
	    !field_ok(out.disk.export_formats,
	    sizeof(out.disk.export_formats))) {
		child_violation(env, c, "unterminated disk-import request");
		return;
	}
	if (!tunnel_storage_allowed(env, c, imsg->hdr.reqid,
	    out.disk.storage))
		return;
	out.vmid = c->vmid;
	iov.iov_base = &out;
	iov.iov_len = sizeof(out);
	tunnel_forward(env, c, imsg, IMSG_PRIV_DISK_IMPORT, &iov, 1);
}

static void
tunnel_import_query(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct priv_vmid_req	 out;
	struct iovec		 iov;

	memset(&out, 0, sizeof(out));
	out.vmid = c->vmid;
	iov.iov_base = &out;
	iov.iov_len = sizeof(out);
	tunnel_forward(env, c, imsg, IMSG_PRIV_IMPORT_QUERY, &iov, 1);
}

struct bwlimit_caller {
	struct parent	*env;
	const char	*tokenid;
};

static int
bwlimit_check(void *arg, const char *path, const char *privilege)
{
	struct bwlimit_caller	*caller = arg;

	return auth_allowed(caller->env, caller->tokenid, path, privilege);
}

/* bwlimit: decided here from storage.cfg, as upstream's storage layer. */
static void
tunnel_bwlimit(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct tunnel_bwlimit	 req;
	struct bwlimit_caller	 caller = { env, c->tokenid };
	struct bwlimit_access	 access = { bwlimit_check, &caller };
	struct strlist		 ids;
	struct bwlimit		 daemon, *dc = NULL;
	double			 limit;
	char			 err[256];
	json_t			*v;

	memcpy(&req, imsg->data, sizeof(req));
	if (!field_ok(req.storages, sizeof(req.storages)) ||
	    !field_ok(req.operation, sizeof(req.operation))) {
		child_violation(env, c, "unterminated bwlimit request");
		return;
	}
	if (split_list(req.storages, strlen(req.storages), &ids) == -1) {
		tunnel_reply(c, imsg->hdr.reqid, ENOMEM, "out of memory\n",
		    NULL);
		return;
	}
	/* The config check accepted it, so it parses. */
	if (env->conf.bwlimit[0] != '\0' && parse_bwlimit(env->conf.bwlimit,
	    &daemon, err, sizeof(err)) == 0)
		dc = &daemon;
	if (get_bandwidth_limit(&env->auth->storages, req.operation[0] ?
	    req.operation : NULL, (const char *const *)ids.items, ids.count,
	    dc, req.bwlimit < 0 ? BWLIMIT_UNSET : (double)req.bwlimit,
	    &access, &limit, err, sizeof(err)) == -1) {
		strlcat(err, "\n", sizeof(err));
		tunnel_reply(c, imsg->hdr.reqid, EINVAL, err, NULL);
	} else {
		v = limit == BWLIMIT_UNSET ? json_null() :
		    json_integer((json_int_t)limit);
		tunnel_reply(c, imsg->hdr.reqid, 0, "", json_pack("{s:o}",
		    "bwlimit", v));
	}
	strlist_free(&ids);
}

/* ticket: only for a socket in this migration's set. */
static void
tunnel_ticket(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct tunnel_ticket	 req;
	char			 ticket[TICKET_MAX], msg[API_PATH_MAX + 64];
	int			 kind;

	memcpy(&req, imsg->data, sizeof(req));
	if (!field_ok(req.path, sizeof(req.path))) {
		child_violation(env, c, "unterminated ticket request");
		return;
	}
	kind = wire_socket_kind(req.path, c->vmid);
	if (kind == -1 || (c->sockets & (1U << kind)) == 0) {
		snprintf(msg, sizeof(msg), "unknown socket path '%s'\n",
		    req.path);
		tunnel_reply(c, imsg->hdr.reqid, EINVAL, msg, NULL);
		return;
	}
	if (ticket_mint(env->tickets, c->tokenid, req.path, time(NULL),
	    ticket, sizeof(ticket)) == -1) {
		tunnel_reply(c, imsg->hdr.reqid, EAGAIN, "cannot mint a "
		    "ticket now\n", NULL);
		return;
	}
	log_info("%s: ticket minted for '%s', socket %s", c->name,
	    c->tokenid, req.path);
	audit_ticket("ticket-minted", c->tokenid, c->vmid, NULL, req.path,
	    NULL);
	tunnel_reply(c, imsg->hdr.reqid, 0, "", json_pack("{s:s}", "ticket",
	    ticket));
}

static void
tunnel_quit(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct tunnel_quit	 req;

	memcpy(&req, imsg->data, sizeof(req));
	c->quit_keep = !req.cleanup;
	if (req.cleanup)
		request_cleanup(env, c->vmid, CLEANUP_QUIT);
	log_info("%s: quit%s", c->name, req.cleanup ? " with cleanup" : "");
	tunnel_reply(c, imsg->hdr.reqid, 0, "", NULL);
}

/* The daemon's bridge settings as "name=backend,...". */
static void
bridge_map_text(struct parent *env, char *buf, size_t len)
{
	static const char *const names[] = {
		[CONF_BRIDGE_TAP] = "tap",
		[CONF_BRIDGE_USER] = "user",
		[CONF_BRIDGE_NONE] = "none",
	};
	const struct conf_bridge	*b;
	char				 item[64];
	size_t				 i;

	buf[0] = '\0';
	for (i = 0; i < env->conf.nbridges; i++) {
		b = &env->conf.bridges[i];
		snprintf(item, sizeof(item), "%s%s=%s", i > 0 ? "," : "",
		    b->name, names[b->backend]);
		if (strlcat(buf, item, len) >= len) {
			log_warnx("bridge settings longer than %zu bytes; "
			    "the rest is not passed on", len);
			break;
		}
	}
}

/* start: the drives as the tunnel checked them, the daemon's bridges. */
static void
tunnel_vm_start(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct priv_vm_start	*out;
	struct iovec		 iov;
	size_t			 i;

	if ((out = calloc(1, sizeof(*out))) == NULL) {
		tunnel_reply(c, imsg->hdr.reqid, ENOMEM, "out of memory\n",
		    NULL);
		return;
	}
	memcpy(&out->start, imsg->data, sizeof(out->start));
	out->vmid = c->vmid;
	for (i = 0; i < out->start.ndrives && i < NBD_DRIVES_MAX; i++)
		if (!field_ok(out->start.drives[i].key,
		    sizeof(out->start.drives[i].key)) ||
		    !field_ok(out->start.drives[i].volid,
		    sizeof(out->start.drives[i].volid)))
			break;
	if (out->start.ndrives > NBD_DRIVES_MAX ||
	    i != out->start.ndrives ||
	    !field_ok(out->start.forcemachine,
	    sizeof(out->start.forcemachine)) ||
	    !field_ok(out->start.forcecpu, sizeof(out->start.forcecpu)) ||
	    !field_ok(out->start.nets_host_mtu,
	    sizeof(out->start.nets_host_mtu))) {
		free(out);
		child_violation(env, c, "malformed start request");
		return;
	}
	bridge_map_text(env, out->bridges, sizeof(out->bridges));
	iov.iov_base = out;
	iov.iov_len = sizeof(*out);
	tunnel_forward(env, c, imsg, IMSG_PRIV_VM_START, &iov, 1);
	free(out);
}

/* resume, stop, nbdstop, fstrim: the VMID is all priv needs. */
static void
tunnel_vm_op(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct priv_vmid_req	 out;
	struct iovec		 iov;
	uint32_t		 type;

	switch (imsg->hdr.type) {
	case IMSG_TUNNEL_VM_RESUME:
		type = IMSG_PRIV_VM_RESUME;
		break;
	case IMSG_TUNNEL_VM_STOP:
		type = IMSG_PRIV_VM_STOP;
		break;
	case IMSG_TUNNEL_NBD_STOP:
		type = IMSG_PRIV_NBD_STOP;
		break;
	default:
		type = IMSG_PRIV_FSTRIM;
		break;
	}
	memset(&out, 0, sizeof(out));
	out.vmid = c->vmid;
	iov.iov_base = &out;
	iov.iov_len = sizeof(out);
	tunnel_forward(env, c, imsg, type, &iov, 1);
}

/* Each request type and the exact (or least) payload it must carry. */
static const struct {
	uint32_t	 type;
	size_t		 len;
	int		 exact;
	void		(*handler)(struct parent *, struct child *,
			    struct imsg *);
} tunnel_requests[] = {
	{ IMSG_TUNNEL_LOCK_CHECK, sizeof(struct tunnel_lock_check), 1,
	    tunnel_lock_check },
	{ IMSG_TUNNEL_CONFIG, sizeof(struct tunnel_config), 0,
	    tunnel_config },
	{ IMSG_TUNNEL_DISK_ALLOC, sizeof(struct tunnel_disk_alloc), 1,
	    tunnel_disk_alloc },
	{ IMSG_TUNNEL_DISK_IMPORT, sizeof(struct tunnel_disk_import), 1,
	    tunnel_disk_import },
	{ IMSG_TUNNEL_IMPORT_QUERY, 0, 1, tunnel_import_query },
	{ IMSG_TUNNEL_BWLIMIT, sizeof(struct tunnel_bwlimit), 1,
	    tunnel_bwlimit },
	{ IMSG_TUNNEL_TICKET, sizeof(struct tunnel_ticket), 1,
	    tunnel_ticket },
	{ IMSG_TUNNEL_UNLOCK, 0, 1, tunnel_unlock },
	{ IMSG_TUNNEL_QUIT, sizeof(struct tunnel_quit), 1, tunnel_quit },
	{ IMSG_TUNNEL_VM_START, sizeof(struct tunnel_vm_start), 1,
	    tunnel_vm_start },
	{ IMSG_TUNNEL_VM_RESUME, 0, 1, tunnel_vm_op },
	{ IMSG_TUNNEL_VM_STOP, 0, 1, tunnel_vm_op },
	{ IMSG_TUNNEL_NBD_STOP, 0, 1, tunnel_vm_op },
	{ IMSG_TUNNEL_FSTRIM, 0, 1, tunnel_vm_op },
};

void
parent_dispatch_tunnel(struct parent *env, struct child *c,
    struct imsg *imsg)
{
	size_t	 i, len = imsg_datalen(imsg);
	char	 why[64];

	for (i = 0; i < sizeof(tunnel_requests) / sizeof(tunnel_requests[0]);
	    i++) {
		if (tunnel_requests[i].type != imsg->hdr.type)
			continue;
		if (tunnel_requests[i].exact ? len != tunnel_requests[i].len :
		    len < tunnel_requests[i].len) {
			snprintf(why, sizeof(why), "message type %u of %zu "
			    "bytes", imsg->hdr.type, len);
			child_violation(env, c, why);
			return;
		}
		audit_tunnel_begin(c, imsg->hdr.reqid, imsg->hdr.type);
		tunnel_requests[i].handler(env, c, imsg);
		return;
	}
	child_violation(env, c, "unexpected message type");
}

/* Track the migration's socket set from priv's import replies. */
static void
tunnel_track_sockets(struct child *c, uint32_t request, int error,
    json_t *fields)
{
	const char	*status;

	if (error != 0 || fields == NULL)
		return;
	if (request == IMSG_TUNNEL_DISK_IMPORT)
		c->sockets |= 1U << SOCKET_STORAGE;
	if (request == IMSG_TUNNEL_VM_START) {
		c->sockets |= 1U << SOCKET_MIGRATE;
		if (json_is_true(json_object_get(fields, "nbd")))
			c->sockets |= 1U << SOCKET_NBD;
	}
	if (request == IMSG_TUNNEL_IMPORT_QUERY &&
	    (status = json_string_value(json_object_get(fields,
	    "status"))) != NULL && strcmp(status, "pending") != 0)
		c->sockets &= ~(1U << SOCKET_STORAGE);
}

/* Pass priv's reply to a tunnel's request on to that tunnel. */
void
tunnel_priv_result(struct parent *env, struct pending *p,
    const struct priv_result *res, const char *text, size_t len)
{
	struct child	*c;
	json_t		*fields = NULL;
	json_error_t	 err;

	c = child_find_vmid(env, p->vmid);
	if (c == NULL || c->pid != p->api_pid || c->state != CHILD_READY) {
		log_debug("vmid %u: result for a tunnel that has gone",
		    p->vmid);
		return;
	}
	if (len > 0 && (fields = json_loadb(text, len, 0, &err)) == NULL) {
		log_warnx("vmid %u: bad result from priv: %s", p->vmid,
		    err.text);
		tunnel_reply(c, p->api_reqid, EIO, "internal error\n", NULL);
		return;
	}
	tunnel_track_sockets(c, p->request, res->error, fields);
	tunnel_reply(c, p->api_reqid, res->error, res->msg, fields);
}
