/*
 * The read-only calls a source makes before `mtunnel`, served from the
 * parent's own state, and the storage and bridge checks of `mtunnel`.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>
#include <jansson.h>

#include "audit.h"
#include "auth.h"
#include "log.h"
#include "parent.h"

static void
query_reply(struct child *api, uint32_t reqid, json_t *data)
{
	api_reply(api, IMSG_API_QUERY_RESULT, reqid, 200, "OK",
	    api_data(data), -1);
}

static void
query_fail(struct child *api, uint32_t reqid, int status, const char *msg)
{
	api_reply(api, IMSG_API_QUERY_RESULT, reqid, status, msg,
	    api_error_body(msg, NULL), -1);
}

/* GET cluster/status: this node, alone and local. */
static json_t *
query_cluster_status(struct parent *env)
{
	char	 id[NODE_NAME_MAX + 8];

	snprintf(id, sizeof(id), "node/%s", env->conf.node);
	return json_pack("[{s:s, s:s, s:s, s:i, s:i, s:i, s:s}]", "type",
	    "node", "id", id, "name", env->conf.node, "local", 1, "online", 1,
	    "nodeid", 1, "level", "");
}

/* GET nodes/{node}/certificates/info: the daemon's certificate. */
static json_t *
query_cert_info(struct parent *env)
{
	return json_pack("[{s:s, s:s}]", "filename", "pveproxy-ssl.pem",
	    "fingerprint", env->fingerprint);
}

static int
vmid_from_conf_name(const char *name, uint32_t *vmid)
{
	char		*end;
	unsigned long	 n;

	if (!isdigit((unsigned char)name[0]) || name[0] == '0')
		return -1;
	errno = 0;
	n = strtoul(name, &end, 10);
	if (errno != 0 || strcmp(end, ".conf") != 0 || n < VMID_MIN ||
	    n > VMID_MAX)
		return -1;
	*vmid = (uint32_t)n;
	return 0;
}

/* GET cluster/resources: the VMs this token may see. */
static json_t *
query_resources(struct parent *env, const char *tokenid, const char *type)
{
	char		 dir[CONF_PATH_MAX + 16], path[32], id[32];
	struct dirent	*de;
	DIR		*d;
	json_t		*list = json_array();
	uint32_t	 vmid;

	if (type[0] != '\0' && strcmp(type, "vm") != 0)
		return list;
	snprintf(dir, sizeof(dir), "%s/qemu-server", env->conf.confdir);
	if ((d = opendir(dir)) == NULL)
		return list;
	while ((de = readdir(d)) != NULL) {
		if (vmid_from_conf_name(de->d_name, &vmid) == -1)
			continue;
		snprintf(path, sizeof(path), "/vms/%u", vmid);
		if (!auth_allowed(env, tokenid, path, "VM.Audit"))
			continue;
		snprintf(id, sizeof(id), "qemu/%u", vmid);
		json_array_append_new(list, json_pack("{s:s, s:i, s:s, s:s, "
		    "s:s}", "id", id, "vmid", vmid, "type", "qemu", "node",
		    env->conf.node, "status", "unknown"));
	}
	closedir(d);
	return list;
}

static void
query_content_string(const struct storage *s, char *out, size_t outlen)
{
	int	 c;

	out[0] = '\0';
	for (c = 0; c < CONTENT_TYPE_COUNT; c++) {
		if ((s->content & CONTENT_BIT(c)) == 0)
			continue;
		if (out[0] != '\0')
			strlcat(out, ",", outlen);
		strlcat(out, content_type_name(c), outlen);
	}
}

/* GET nodes/{node}/storage: the storages this token may see. */
static json_t *
query_storage(struct parent *env, const char *tokenid, const char *enabled)
{
	const struct storage	*s;
	json_t			*list = json_array();
	char			 path[STORAGE_ID_MAX + 16], content[256];
	size_t			 i;
	int			 on;

	for (i = 0; (s = auth_storage_at(env, i)) != NULL; i++) {
		snprintf(path, sizeof(path), "/storage/%s", s->id);
		if (!auth_allowed(env, tokenid, path, "Datastore.Audit") &&
		    !auth_allowed(env, tokenid, path,
		    "Datastore.AllocateSpace"))
			continue;
		on = storage_enabled_on(s, env->conf.node);
		if (strcmp(enabled, "1") == 0 && !on)
			continue;
		query_content_string(s, content, sizeof(content));
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:i, "
		    "s:i, s:i}", "storage", s->id, "type", s->type_name,
		    "content", content, "enabled", on, "active",
		    on && s->type == STORAGE_TYPE_DIR, "shared",
		    s->shared ? 1 : 0));
	}
	return list;
}

/* GET nodes/{node}/tasks/{upid}/status, for a tunnel's task. */
static void
query_task_status(struct parent *env, struct child *api, uint32_t reqid,
    const char *tokenid, const char *upid)
{
	struct task	*t;
	char		 path[NODE_NAME_MAX + 16];
	json_t		*data;

	TAILQ_FOREACH(t, &env->tasks, entry)
		if (strcmp(t->upid, upid) == 0)
			break;
	if (t == NULL) {
		query_fail(api, reqid, 500, "no such task");
		return;
	}
	snprintf(path, sizeof(path), "/nodes/%s", env->conf.node);
	if (strcmp(t->tokenid, tokenid) != 0 &&
	    !auth_allowed(env, tokenid, path, "Sys.Audit")) {
		api_permission_error(api, IMSG_API_QUERY_RESULT, reqid, path,
		    "Sys.Audit");
		return;
	}
	data = json_pack("{s:s, s:s, s:s, s:s, s:i}", "upid", t->upid,
	    "node", env->conf.node, "type", "qmtunnel", "user", t->tokenid,
	    "id", (int)t->vmid);
	json_object_set_new(data, "id", json_sprintf("%u", t->vmid));
	json_object_set_new(data, "status", json_string(t->running ?
	    "running" : "stopped"));
	if (!t->running)
		json_object_set_new(data, "exitstatus",
		    json_string(t->exitstatus));
	query_reply(api, reqid, data);
}

void
request_query(struct parent *env, struct child *api, struct imsg *imsg)
{
	struct api_query	 req;
	uint32_t		 reqid = imsg->hdr.reqid;
	const char		*node = NULL;

	if (imsg_datalen(imsg) != sizeof(req))
		fatalx("%s: query of %zu bytes", api->name,
		    imsg_datalen(imsg));
	memcpy(&req, imsg->data, sizeof(req));
	audit_api_begin(api, reqid, audit_query_endpoint(req.kind), &req.auth,
	    0);
	if (!auth_fields_ok(&req.auth) || !field_ok(req.node,
	    sizeof(req.node)) || !field_ok(req.arg, sizeof(req.arg))) {
		query_fail(api, reqid, 400, "Bad Request");
		return;
	}
	if (req.kind != API_QUERY_CLUSTER_STATUS &&
	    req.kind != API_QUERY_RESOURCES)
		node = req.node;
	if (request_check_caller(env, api, IMSG_API_QUERY_RESULT, reqid,
	    &req.auth, node) == -1)
		return;

	switch (req.kind) {
	case API_QUERY_CLUSTER_STATUS:
		query_reply(api, reqid, query_cluster_status(env));
		break;
	case API_QUERY_CERT_INFO:
		query_reply(api, reqid, query_cert_info(env));
		break;
	case API_QUERY_RESOURCES:
		query_reply(api, reqid, query_resources(env,
		    req.auth.tokenid, req.arg));
		break;
	case API_QUERY_STORAGE:
		query_reply(api, reqid, query_storage(env, req.auth.tokenid,
		    req.arg));
		break;
	case API_QUERY_TASK_STATUS:
		query_task_status(env, api, reqid, req.auth.tokenid, req.arg);
		break;
	default:
		child_violation(env, api, "unknown query kind");
		break;
	}
}

static int
storage_error(struct child *api, uint32_t reqid, const char *fmt,
    const char *id)
{
	char	 msg[256];

	snprintf(msg, sizeof(msg), fmt, id);
	api_reply(api, IMSG_API_MTUNNEL_RESULT, reqid, 500, msg,
	    api_error_body(msg, NULL), -1);
	return -1;
}

/*
 * Each storage the source maps volumes to must exist, be enabled on this
 * node, hold VM images, and allow Datastore.AllocateSpace.
 */
int
query_check_storages(struct parent *env, struct child *api, uint32_t reqid,
    const char *tokenid, const char *list)
{
	const struct storage	*s;
	struct strlist		 l;
	char			**ids, path[STORAGE_ID_MAX + 16];
	size_t			 n, i;
	int			 rv = 0;

	if (split_list(list, strlen(list), &l) == -1)
		return storage_error(api, reqid, "%s", "out of memory");
	ids = l.items;
	n = l.count;
	for (i = 0; i < n && rv == 0; i++) {
		if (!valid_storage_id(ids[i])) {
			api_param_error(api, IMSG_API_MTUNNEL_RESULT, reqid,
			    "storages", "invalid format - storage ID '%s' "
			    "contains illegal characters", ids[i]);
			rv = -1;
		} else if ((s = auth_storage_find(env, ids[i])) == NULL)
			rv = storage_error(api, reqid, "storage '%s' does not "
			    "exist", ids[i]);
		else if (!storage_enabled_on(s, env->conf.node))
			rv = storage_error(api, reqid, "storage '%s' is not "
			    "available on node", ids[i]);
		else if (!storage_has_content(s, CONTENT_IMAGES))
			rv = storage_error(api, reqid, "storage '%s' does not "
			    "support vm images", ids[i]);
		else {
			snprintf(path, sizeof(path), "/storage/%s", ids[i]);
			if (!auth_allowed(env, tokenid, path,
			    "Datastore.AllocateSpace")) {
				api_permission_error(api,
				    IMSG_API_MTUNNEL_RESULT, reqid, path,
				    "Datastore.AllocateSpace");
				rv = -1;
			}
		}
	}
	strlist_free(&l);
	return rv;
}

/*
 * Each bridge must have a valid name and exist on this host.
 * TODO: honour the bridge mappings of the daemon config once the QEMU
 * runtime brings them.
 */
int
query_check_bridges(struct parent *env, struct child *api, uint32_t reqid,
    const char *list)
{
	struct stat	 st;
	struct strlist	 l;
	char		**ids, path[PATH_MAX_NET];
	size_t		 n, i;
	int		 rv = 0;

	(void)env;
	if (split_list(list, strlen(list), &l) == -1)
		return storage_error(api, reqid, "%s", "out of memory");
	ids = l.items;
	n = l.count;
	for (i = 0; i < n && rv == 0; i++) {
		if (!valid_bridge_id(ids[i]) || strlen(ids[i]) > 15) {
			api_param_error(api, IMSG_API_MTUNNEL_RESULT, reqid,
			    "bridges", "invalid format - bridge ID '%s' is "
			    "not valid", ids[i]);
			rv = -1;
			continue;
		}
		snprintf(path, sizeof(path), "/sys/class/net/%s/bridge",
		    ids[i]);
		if (stat(path, &st) == -1)
			rv = storage_error(api, reqid, "bridge '%s' does not "
			    "exist", ids[i]);
	}
	strlist_free(&l);
	return rv;
}
