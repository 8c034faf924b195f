/*
 * The parent's audit log: see audit.h, and auditlog.h for the format.
 */

#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bsd/string.h>
#include <jansson.h>

#define LIBBSD_OPENBSD_VIS
#include <bsd/vis.h>

#include "auditlog.h"
#include "log.h"
#include "parent.h"
#include "audit.h"

#define AUTHFAIL_WINDOW		60	/* seconds */
#define AUTHFAIL_RECORDS	10	/* per window, then counted only */
#define OPEN_SLOTS		64	/* requests waiting for their reply */
#define ENDPOINT_MAX		32

/* Events a child may send, and the role that may send each. */
static const struct {
	const char	*name;
	enum proc_role	 role;
} child_events[] = {
	{ "volume-allocated", PROC_PRIV },
	{ "volume-imported", PROC_PRIV },
	{ "volume-freed", PROC_PRIV },
	{ "import-failed", PROC_PRIV },
	{ "cleanup", PROC_PRIV },
	{ "qemu-start", PROC_PRIV },
	{ "qemu-stop", PROC_PRIV },
	{ "qemu-resume", PROC_PRIV },
	{ "auth-failure", PROC_API },	/* token, address, reason */
};

/* An API request between its arrival and its reply. */
struct api_open {
	pid_t		 pid;		/* api worker, 0 for a free slot */
	uint32_t	 reqid;
	uint32_t	 vmid;
	int		 auth_failed;
	char		 endpoint[ENDPOINT_MAX];
	char		 user[AUTHID_MAX];
	char		 remote[ADDR_TEXT_MAX];
};

/* The token that started the last migration of a VMID. */
struct vmid_user {
	uint32_t	 vmid;
	char		 user[AUTHID_MAX];
};

/* A tunnel command between its request and its result. */
struct tunnel_open {
	pid_t		 pid;
	uint32_t	 reqid;
	uint32_t	 type;
};

static struct {
	struct parent		*env;
	struct audit_writer	 w;
	int			 open;
	int			 failed;	/* the last write failed */
	unsigned long		 lost;		/* records not written */
	char			 error[512];
	time_t			 authfail_start;
	unsigned int		 authfail_count;
	unsigned long		 authfail_suppressed;
	struct api_open		 api[OPEN_SLOTS];
	size_t			 api_next;
	struct tunnel_open	 tunnel[OPEN_SLOTS];
	size_t			 tunnel_next;
	struct vmid_user	 users[OPEN_SLOTS];
	size_t			 users_next;
} audit;

/* A string from a peer, made printable ASCII so it is valid JSON text. */
static json_t *
audit_text(const char *s)
{
	char	 buf[1024];

	if (s == NULL)
		return json_null();
	strnvis(buf, s, sizeof(buf), VIS_SAFE | VIS_OCTAL);
	return json_string(buf);
}

static void
audit_set(json_t *obj, const char *key, json_t *v)
{
	if (v != NULL)
		json_object_set_new(obj, key, v);
}

/*
 * Remember who started the migration of vmid, so that records written
 * after its tunnel ended (cleanup, freed volumes) still name the user.
 */
static void
audit_remember_user(uint32_t vmid, const char *user)
{
	struct vmid_user	*u = &audit.users[audit.users_next];

	audit.users_next = (audit.users_next + 1) % OPEN_SLOTS;
	u->vmid = vmid;
	strlcpy(u->user, user, sizeof(u->user));
}

/* The user of a VMID is the token that started its migration. */
static const char *
audit_vmid_user(uint32_t vmid)
{
	struct child	*c;
	size_t		 i, slot;

	if (vmid == 0)
		return NULL;
	if (audit.env != NULL && (c = child_find_vmid(audit.env,
	    vmid)) != NULL)
		return c->tokenid;
	/* The newest entry first. */
	for (i = 1; i <= OPEN_SLOTS; i++) {
		slot = (audit.users_next + OPEN_SLOTS - i) % OPEN_SLOTS;
		if (audit.users[slot].vmid == vmid)
			return audit.users[slot].user;
	}
	return NULL;
}

/* Try the record that ends a failure; 0 once the log is writable. */
static int
audit_recover(void)
{
	json_t	*rec;
	char	 err[512];
	int	 rv;

	rec = json_pack("{s:s, s:s, s:I}", "event", "audit-log-recovered",
	    "process", "parent", "lost", (json_int_t)audit.lost);
	if (rec == NULL)
		return -1;
	rv = audit_writer_append(&audit.w, rec, err, sizeof(err));
	json_decref(rec);
	if (rv == -1)
		return -1;
	log_warnx("audit log writable again; %lu records were lost while "
	    "it was not", audit.lost);
	audit.failed = 0;
	audit.lost = 0;
	return 0;
}

static void
audit_write(json_t *rec)
{
	char	 err[512];

	if (!audit.open || (audit.failed && audit_recover() == -1)) {
		audit.lost++;
		return;
	}
	if (audit_writer_append(&audit.w, rec, err, sizeof(err)) == 0)
		return;
	if (!audit.failed)
		log_warnx("%s; new migrations are rejected until the audit "
		    "log can be written", err);
	strlcpy(audit.error, err, sizeof(audit.error));
	audit.failed = 1;
	audit.lost++;
}

/*
 * Write one record: event, then who and where, then fields (consumed).
 * user and remote may be NULL, vmid 0 for none.
 */
void
audit_record(const char *event, const char *process, const char *user,
    uint32_t vmid, const char *remote, json_t *fields)
{
	json_t		*rec, *v;
	const char	*key;

	if ((rec = json_object()) == NULL) {
		json_decref(fields);
		audit.lost++;
		return;
	}
	audit_set(rec, "event", json_string(event));
	audit_set(rec, "process", audit_text(process));
	audit_set(rec, "user", audit_text(user));
	audit_set(rec, "vmid", vmid ? json_integer(vmid) : json_null());
	audit_set(rec, "remote", audit_text(remote));
	if (fields != NULL)
		json_object_foreach(fields, key, v)
			if (!audit_reserved_key(key))
				json_object_set(rec, key, v);
	json_decref(fields);
	if (strcmp(event, "tunnel-created") == 0 && user != NULL && vmid != 0)
		audit_remember_user(vmid, user);
	audit_write(rec);
	json_decref(rec);
}

/* audit_emit() in the parent. */
static void
audit_local_event(const char *event, uint32_t vmid, json_t *fields)
{
	audit_record(event, "parent", audit_vmid_user(vmid), vmid, NULL,
	    fields);
}

/* Open the log; "daemon-start" is the first record of this run. */
int
audit_init(struct parent *env, char *err, size_t errlen)
{
	audit.env = env;
	if (audit_writer_open(&audit.w, env->conf.audit_log,
	    AUDIT_ROTATE_SIZE, err, errlen) == -1)
		return -1;
	audit.open = 1;
	audit_set_local(audit_local_event);
	log_info("audit log %s, continuing at seq %llu", env->conf.audit_log,
	    (unsigned long long)audit.w.seq + 1);
	return 0;
}

static void
audit_flush_authfail(void)
{
	if (audit.authfail_suppressed == 0)
		return;
	audit_record("auth-failures-suppressed", "parent", NULL, 0, NULL,
	    json_pack("{s:I, s:i}", "count",
	    (json_int_t)audit.authfail_suppressed, "window", AUTHFAIL_WINDOW));
	audit.authfail_suppressed = 0;
}

/* Write the last records of this run, "daemon-stop" the last of them. */
void
audit_close(int status)
{
	if (!audit.open)
		return;
	audit_flush_authfail();
	audit_record("daemon-stop", "parent", NULL, 0, NULL,
	    json_pack("{s:i}", "status", status));
	audit_set_local(NULL);
	audit_writer_close(&audit.w);
	audit.open = 0;
}

static struct api_open *
api_find(pid_t pid, uint32_t reqid)
{
	size_t	 i;

	for (i = 0; i < OPEN_SLOTS; i++)
		if (audit.api[i].pid == pid && audit.api[i].reqid == reqid)
			return &audit.api[i];
	return NULL;
}

/*
 * Record that a migration was requested, before anything is done for it.
 * When that record cannot be written, reply 503 to the api worker and
 * return -1: no migration runs without its record.
 */
int
audit_check_mtunnel(struct child *api, uint32_t reqid, uint32_t vmid)
{
	struct api_open	*o = api_find(api->pid, reqid);
	char		 msg[640];

	audit_record("mtunnel-requested", "parent", o ? o->user : NULL, vmid,
	    o ? o->remote : NULL, NULL);
	if (audit.open && !audit.failed)
		return 0;
	snprintf(msg, sizeof(msg), "audit log cannot be written (%s); new "
	    "migrations are rejected until it can", audit.error[0] ?
	    audit.error : "not open");
	log_warnx("mtunnel for vmid %u rejected: %s", vmid, msg);
	api_reply(api, IMSG_API_MTUNNEL_RESULT, reqid, 503, msg,
	    api_error_body(msg, NULL), -1);
	return -1;
}

static void
copy_field(char *dst, const char *src, size_t size)
{
	memcpy(dst, src, size - 1);
	dst[size - 1] = '\0';
}

/*
 * Record an authentication failure.  At most AUTHFAIL_RECORDS records
 * per AUTHFAIL_WINDOW seconds; the rest are counted, and the count is
 * written when the window ends or the daemon stops.
 */
static void
authfail_record(const char *process, const char *user, uint32_t vmid,
    const char *remote, const char *endpoint, const char *why)
{
	time_t	 now = time(NULL);

	if (now - audit.authfail_start >= AUTHFAIL_WINDOW) {
		audit_flush_authfail();
		audit.authfail_start = now;
		audit.authfail_count = 0;
	}
	if (audit.authfail_count >= AUTHFAIL_RECORDS) {
		audit.authfail_suppressed++;
		return;
	}
	audit.authfail_count++;
	audit_record("auth-failure", process, user, vmid, remote,
	    json_pack("{s:s, s:o}", "endpoint", endpoint ? endpoint : "",
	    "reason", audit_text(why)));
}

/* The parent's own token check failed for an API request. */
void
audit_auth_failed(struct child *api, uint32_t reqid,
    const struct api_auth *auth, const char *why)
{
	struct api_open	*o;
	char		 user[AUTHID_MAX], remote[ADDR_TEXT_MAX];

	if ((o = api_find(api->pid, reqid)) != NULL)
		o->auth_failed = 1;
	copy_field(user, auth->tokenid, sizeof(user));
	copy_field(remote, auth->remote, sizeof(remote));
	authfail_record("parent", user, o ? o->vmid : 0, remote,
	    o ? o->endpoint : NULL, why);
}

/*
 * An api worker rejected a request's token itself.  Its fields are
 * "token" (the token id claimed, may be absent), "address" and "reason".
 */
static void
audit_api_auth_failure(struct child *c, json_t *fields)
{
	const char	*token;

	token = json_string_value(json_object_get(fields, "token"));
	if (token != NULL && token[0] == '\0')
		token = NULL;
	authfail_record(c->name, token, 0, json_string_value(
	    json_object_get(fields, "address")), NULL, json_string_value(
	    json_object_get(fields, "reason")));
	json_decref(fields);
}

static int
child_event_allowed(const char *name, enum proc_role role)
{
	size_t	 i;

	for (i = 0; i < sizeof(child_events) / sizeof(child_events[0]); i++)
		if (strcmp(child_events[i].name, name) == 0)
			return child_events[i].role == role;
	return 0;
}

/* Parse and check a child's fields; NULL with why set when invalid. */
static json_t *
child_event_fields(const char *text, size_t len, char *why, size_t whylen)
{
	json_t		*fields, *v;
	json_error_t	 err;
	const char	*key;

	if (len > AUDIT_FIELDS_MAX) {
		snprintf(why, whylen, "audit event fields of %zu bytes", len);
		return NULL;
	}
	if ((fields = json_loadb(text, len, JSON_REJECT_DUPLICATES,
	    &err)) == NULL || !json_is_object(fields)) {
		snprintf(why, whylen, "audit event fields are not a JSON "
		    "object");
		json_decref(fields);
		return NULL;
	}
	json_object_foreach(fields, key, v)
		if (audit_reserved_key(key)) {
			snprintf(why, whylen, "audit event sets '%s'", key);
			json_decref(fields);
			return NULL;
		}
	return fields;
}

/* IMSG_AUDIT_EVENT from a child: check it, stamp it, write it. */
void
audit_child_event(struct parent *env, struct child *c, struct imsg *imsg)
{
	struct audit_event	 ev;
	json_t			*fields;
	size_t			 len = imsg_datalen(imsg);
	char			 why[128];
	uint32_t		 vmid;

	if (len < sizeof(ev)) {
		child_violation(env, c, "short audit event");
		return;
	}
	memcpy(&ev, imsg->data, sizeof(ev));
	if (memchr(ev.event, '\0', sizeof(ev.event)) == NULL ||
	    !child_event_allowed(ev.event, c->role)) {
		child_violation(env, c, "audit event not in the list for "
		    "its role");
		return;
	}
	vmid = c->role == PROC_TUNNEL ? c->vmid : ev.vmid;
	if (vmid != 0 && (vmid < VMID_MIN || vmid > VMID_MAX)) {
		child_violation(env, c, "audit event with an invalid VMID");
		return;
	}
	if ((fields = child_event_fields((const char *)imsg->data +
	    sizeof(ev), len - sizeof(ev), why, sizeof(why))) == NULL) {
		child_violation(env, c, why);
		return;
	}
	if (c->role == PROC_API)
		audit_api_auth_failure(c, fields);
	else
		audit_record(ev.event, c->name, audit_vmid_user(vmid), vmid,
		    NULL, fields);
}

/* Remember an API request until its reply; the oldest slot is reused. */
void
audit_api_begin(struct child *api, uint32_t reqid, const char *endpoint,
    const struct api_auth *auth, uint32_t vmid)
{
	struct api_open	*o = &audit.api[audit.api_next];

	audit.api_next = (audit.api_next + 1) % OPEN_SLOTS;
	memset(o, 0, sizeof(*o));
	o->pid = api->pid;
	o->reqid = reqid;
	o->vmid = vmid >= VMID_MIN && vmid <= VMID_MAX ? vmid : 0;
	strlcpy(o->endpoint, endpoint, sizeof(o->endpoint));
	copy_field(o->user, auth->tokenid, sizeof(o->user));
	copy_field(o->remote, auth->remote, sizeof(o->remote));
}

/* The endpoint of an API_QUERY_* kind, for the record. */
const char *
audit_query_endpoint(uint32_t kind)
{
	switch (kind) {
	case API_QUERY_CLUSTER_STATUS:	return "GET cluster/status";
	case API_QUERY_CERT_INFO:	return "GET certificates/info";
	case API_QUERY_RESOURCES:	return "GET cluster/resources";
	case API_QUERY_STORAGE:		return "GET storage";
	case API_QUERY_TASK_STATUS:	return "GET tasks/status";
	}
	return "GET unknown";
}

/* Record an API request with the status of its reply. */
void
audit_api_result(struct child *api, uint32_t reqid, int status,
    const char *reason)
{
	struct api_open	*o;

	if ((o = api_find(api->pid, reqid)) == NULL)
		return;
	if (!o->auth_failed)
		audit_record("api-request", "parent", o->user, o->vmid,
		    o->remote, json_pack("{s:s, s:i, s:o}", "endpoint",
		    o->endpoint, "status", status, "reason",
		    audit_text(reason)));
	o->pid = 0;
}

void
audit_tunnel_begin(struct child *c, uint32_t reqid, uint32_t type)
{
	struct tunnel_open	*o = &audit.tunnel[audit.tunnel_next];

	audit.tunnel_next = (audit.tunnel_next + 1) % OPEN_SLOTS;
	o->pid = c->pid;
	o->reqid = reqid;
	o->type = type;
}

static const char *
tunnel_command_name(uint32_t type)
{
	switch (type) {
	case IMSG_TUNNEL_LOCK_CHECK:	return "lock-check";
	case IMSG_TUNNEL_CONFIG:	return "config";
	case IMSG_TUNNEL_DISK_ALLOC:	return "disk";
	case IMSG_TUNNEL_DISK_IMPORT:	return "disk-import";
	case IMSG_TUNNEL_IMPORT_QUERY:	return "query-disk-import";
	case IMSG_TUNNEL_BWLIMIT:	return "bwlimit";
	case IMSG_TUNNEL_VM_START:	return "start";
	case IMSG_TUNNEL_VM_RESUME:	return "resume";
	case IMSG_TUNNEL_VM_STOP:	return "stop";
	case IMSG_TUNNEL_NBD_STOP:	return "nbdstop";
	case IMSG_TUNNEL_FSTRIM:	return "fstrim";
	case IMSG_TUNNEL_TICKET:	return "ticket";
	case IMSG_TUNNEL_UNLOCK:	return "unlock";
	case IMSG_TUNNEL_QUIT:		return "quit";
	}
	return "unknown";
}

/*
 * Record a tunnel command with its result: the errno and the message,
 * never the result fields, which may hold a ticket.
 */
void
audit_tunnel_result(struct child *c, uint32_t reqid, int error,
    const char *msg)
{
	struct tunnel_open	*o = NULL;
	json_t			*fields;
	char			 text[512];
	size_t			 i;

	for (i = 0; i < OPEN_SLOTS && o == NULL; i++)
		if (audit.tunnel[i].pid == c->pid &&
		    audit.tunnel[i].reqid == reqid)
			o = &audit.tunnel[i];
	/*
	 * The tunnel checks the lock before every command, version
	 * included: only a failed check is worth a record and an fsync.
	 */
	if (o != NULL && o->type == IMSG_TUNNEL_LOCK_CHECK && error == 0) {
		o->pid = 0;
		return;
	}
	strlcpy(text, msg, sizeof(text));
	text[strcspn(text, "\n")] = '\0';
	fields = json_pack("{s:s, s:s, s:i}", "command",
	    tunnel_command_name(o ? o->type : 0), "result", error ? "error" :
	    "ok", "errno", error);
	if (fields != NULL && text[0] != '\0')
		json_object_set_new(fields, "message", audit_text(text));
	audit_record("tunnel-command", c->name, c->tokenid, c->vmid, NULL,
	    fields);
	if (o != NULL)
		o->pid = 0;
}

/*
 * A ticket minted, used or refused (event), for socket.  The ticket
 * itself is never written.
 */
void
audit_ticket(const char *event, const char *user, uint32_t vmid,
    const char *remote, const char *socket, const char *why)
{
	json_t	*fields;

	fields = json_pack("{s:o}", "socket", audit_text(socket));
	if (fields != NULL && why != NULL)
		json_object_set_new(fields, "reason", audit_text(why));
	audit_record(event, "parent", user, vmid, remote, fields);
}

void
audit_child_lost(struct child *c, const char *why)
{
	audit_record("child-lost", "parent", c->role == PROC_TUNNEL ?
	    c->tokenid : NULL, c->vmid, NULL, json_pack("{s:s, s:s, s:I, "
	    "s:s}", "child", c->name, "role", proc_role_name(c->role), "pid",
	    (json_int_t)c->pid, "status", why));
}
