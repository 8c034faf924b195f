/*
 * HTTP for the api role: routing under /api2/json/, the syntactic checks
 * of each call's parameters, the token check, and the request to the
 * parent whose reply becomes the response.  Responses carry the status
 * line the parent or this file chose, reason phrase included.  lws 4.1.6
 * writes its own status line through lws_add_http_header_by_name() with
 * a NULL name and keeps no other state for it on HTTP/1.1.  This file
 * writes the line the same way, with the phrase it needs.
 */

#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/string.h>
#include <jansson.h>

#include "api.h"
#include "auditlog.h"
#include "log.h"

#define HTTP_JSON		"application/json;charset=UTF-8"
#define HTTP_HEADROOM		1024	/* status line and headers */
#define HTTP_REASON_MAX		256

#define MSG_PARAM_FAILED	"Parameter verification failed."
#define MSG_NOT_IN_SCHEMA	"property is not defined in schema and the " \
				"schema does not allow additional properties"
#define MSG_MISSING		"property is missing and it is not optional"

enum http_route {
	ROUTE_NONE,
	ROUTE_MTUNNEL,		/* POST nodes/{node}/qemu/{vmid}/mtunnel */
	ROUTE_WEBSOCKET,	/* GET  .../qemu/{vmid}/mtunnelwebsocket */
	ROUTE_CLUSTER_STATUS,	/* GET  cluster/status */
	ROUTE_RESOURCES,	/* GET  cluster/resources */
	ROUTE_CERT_INFO,	/* GET  nodes/{node}/certificates/info */
	ROUTE_STORAGE,		/* GET  nodes/{node}/storage */
	ROUTE_TASK_STATUS,	/* GET  nodes/{node}/tasks/{upid}/status */
};

enum txn_state {
	TXN_BODY,		/* reading a POST body */
	TXN_DELAY,		/* holding a 401 back */
	TXN_WAITING,		/* for the parent */
	TXN_RESPOND,		/* response ready, waiting for POLLOUT */
};

/* The path of a request split into its variable parts. */
struct http_path {
	enum http_route	 route;
	int		 method;	/* LWSHUMETH_* the route takes */
	const char	*node;		/* into the split copy of the path */
	const char	*vmid;
	const char	*upid;
};

/* A parameter a call accepts, and the buffer its value is copied to. */
struct http_param {
	const char	*name;
	char		*value;
	size_t		 size;
	int		 required;
	int		 seen;
};

/* A 400 with one parameter's error, or a plain error. */
struct http_error {
	unsigned int	 status;
	char		 param[64];	/* "" unless a parameter is wrong */
	char		 msg[512];
};

struct http_txn {
	enum txn_state	 state;
	int		 method;
	char		 path[HTTP_REASON_MAX];	/* for log lines */
	char		*split;		/* the path, split at '/' */
	struct http_path hp;
	unsigned char	*body;
	size_t		 bodylen;
	size_t		 bodymax;
	unsigned int	 status;	/* TXN_RESPOND */
	char		 reason[HTTP_REASON_MAX];
	struct api_reply reply;
};

static const char *const http_methods[] = {
	[LWSHUMETH_GET] = "GET",
	[LWSHUMETH_POST] = "POST",
	[LWSHUMETH_OPTIONS] = "OPTIONS",
	[LWSHUMETH_PUT] = "PUT",
	[LWSHUMETH_PATCH] = "PATCH",
	[LWSHUMETH_DELETE] = "DELETE",
	[LWSHUMETH_CONNECT] = "CONNECT",
	[LWSHUMETH_HEAD] = "HEAD",
};

static const char *
http_method_name(int method)
{
	if (method < 0 ||
	    (size_t)method >= sizeof(http_methods) / sizeof(http_methods[0]) ||
	    http_methods[method] == NULL)
		return "UNKNOWN";
	return http_methods[method];
}

/* Replace what may not appear in a log line or status line. */
static void
http_sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static const char *
http_standard_reason(unsigned int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}

/*
 * The reason phrase as given, or the standard phrase when it is empty or
 * has a character a status line cannot carry, as pveproxy does.
 */
static const char *
http_reason(unsigned int status, const char *reason)
{
	const unsigned char	*p;

	if (reason == NULL || reason[0] == '\0')
		return http_standard_reason(status);
	for (p = (const unsigned char *)reason; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return http_standard_reason(status);
	return reason;
}

static int
http_header(struct lws *wsi, enum lws_token_indexes token, const char *value,
    unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_token(wsi, token,
	    (const unsigned char *)value, (int)strlen(value), p, end);
}

/*
 * Write a whole response now: status line with its reason phrase, the
 * headers, then the body (JSON when not empty).  With close set the
 * connection ends once it is sent.  Returns 0, or -1 when the write
 * failed.
 */
int
http_respond(struct lws *wsi, unsigned int status, const char *reason,
    const unsigned char *body, size_t bodylen, int close)
{
	unsigned char	*buf, *start, *p, *end;
	char		 line[HTTP_REASON_MAX + 32], clen[24];
	int		 n, rv = -1;

	if (status < 100 || status > 599)
		status = 500;
	if ((buf = malloc(LWS_PRE + HTTP_HEADROOM + bodylen)) == NULL)
		return -1;
	start = p = buf + LWS_PRE;
	end = start + HTTP_HEADROOM;
	n = snprintf(line, sizeof(line), "HTTP/1.1 %u %.*s", status,
	    HTTP_REASON_MAX, http_reason(status, reason));
	snprintf(clen, sizeof(clen), "%zu", bodylen);
	if (lws_add_http_header_by_name(wsi, NULL, (unsigned char *)line, n,
	    &p, end) ||
	    (bodylen > 0 && http_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
	    HTTP_JSON, &p, end)) ||
	    http_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, clen, &p, end) ||
	    http_header(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, "max-age=0", &p,
	    end) ||
	    (close && http_header(wsi, WSI_TOKEN_CONNECTION, "close", &p,
	    end)) ||
	    lws_finalize_http_header(wsi, &p, end))
		goto out;
	if (bodylen > 0)
		memcpy(p, body, bodylen);
	n = lws_ptr_diff(p, start) + (int)bodylen;
	if (lws_write(wsi, start, (size_t)n, LWS_WRITE_HTTP_HEADERS) == n)
		rv = 0;
out:
	free(buf);
	return rv;
}

/* {"data":null,"message":"...\n"} with errors.{param} when given. */
static char *
http_error_body(const char *message, const char *param, const char *error)
{
	json_t	*body;
	char	*text;

	body = json_pack("{s:n, s:s+}", "data", "message", message, "\n");
	if (body == NULL)
		return NULL;
	if (param != NULL && param[0] != '\0')
		json_object_set_new(body, "errors",
		    json_pack("{s:s}", param, error));
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return text;
}

/*
 * Write an error response now.  With param, it is a 400 "Parameter
 * verification failed." naming that parameter.  Otherwise reason is
 * also the body's message.
 */
int
http_respond_error(struct lws *wsi, unsigned int status, const char *reason,
    const char *param, const char *error, int close)
{
	char	*body;
	int	 rv;

	if (param != NULL && param[0] != '\0')
		reason = MSG_PARAM_FAILED;
	body = http_error_body(reason, param, error);
	rv = http_respond(wsi, status, reason, (unsigned char *)body,
	    body != NULL ? strlen(body) : 0, close);
	free(body);
	return rv;
}

static int
http_respond_with(struct lws *wsi, const struct http_error *err, int close)
{
	return http_respond_error(wsi, err->status, err->msg, err->param,
	    err->msg, close);
}

/* After a response written from a parse callback: keep-alive or close. */
static int
http_done(struct lws *wsi, int rv)
{
	if (rv == -1)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void
http_error_set(struct http_error *err, unsigned int status,
    const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
http_error_set(struct http_error *err, unsigned int status,
    const char *param, const char *fmt, ...)
{
	va_list	 ap;

	err->status = status;
	strlcpy(err->param, param != NULL ? param : "", sizeof(err->param));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* Split a path at '/' into at most max parts and return the count. */
static int
http_split(char *path, char **part, int max)
{
	char	*p;
	int	 n = 0;

	while ((p = strsep(&path, "/")) != NULL) {
		if (*p == '\0')
			continue;
		if (n == max)
			return max + 1;
		part[n++] = p;
	}
	return n;
}

/* The routes under nodes/{node}/: part[0] is "nodes", part[1] the node. */
static void
http_route_node(struct http_path *hp, char **part, int n)
{
	hp->node = part[1];
	if (n == 3 && strcmp(part[2], "storage") == 0)
		hp->route = ROUTE_STORAGE;
	else if (n == 4 && strcmp(part[2], "certificates") == 0 &&
	    strcmp(part[3], "info") == 0)
		hp->route = ROUTE_CERT_INFO;
	else if (n == 5 && strcmp(part[2], "tasks") == 0 &&
	    strcmp(part[4], "status") == 0) {
		hp->route = ROUTE_TASK_STATUS;
		hp->upid = part[3];
	} else if (n == 5 && strcmp(part[2], "qemu") == 0 &&
	    strcmp(part[4], "mtunnel") == 0) {
		hp->route = ROUTE_MTUNNEL;
		hp->method = LWSHUMETH_POST;
		hp->vmid = part[3];
	} else if (n == 5 && strcmp(part[2], "qemu") == 0 &&
	    strcmp(part[4], "mtunnelwebsocket") == 0) {
		hp->route = ROUTE_WEBSOCKET;
		hp->vmid = part[3];
	}
}

/* Route the part after /api2/json/ by its shape. */
static void
http_route_rest(struct http_path *hp, char **part, int n)
{
	if (n == 2 && strcmp(part[0], "cluster") == 0 &&
	    strcmp(part[1], "status") == 0)
		hp->route = ROUTE_CLUSTER_STATUS;
	else if (n == 2 && strcmp(part[0], "cluster") == 0 &&
	    strcmp(part[1], "resources") == 0)
		hp->route = ROUTE_RESOURCES;
	else if (n >= 3 && strcmp(part[0], "nodes") == 0)
		http_route_node(hp, part, n);
}

/*
 * Route a request.  Returns the route, or ROUTE_NONE for a path or a
 * method this server does not implement.
 */
static enum http_route
http_route(char *split, int method, struct http_path *hp)
{
	char	*part[8];
	int	 n;

	memset(hp, 0, sizeof(*hp));
	hp->method = LWSHUMETH_GET;
	n = http_split(split, part, 8);
	if (n < 3 || n > 7 || strcmp(part[0], "api2") != 0 ||
	    strcmp(part[1], "json") != 0)
		return ROUTE_NONE;
	http_route_rest(hp, part + 2, n - 2);
	if (hp->route != ROUTE_NONE && hp->method != method)
		hp->route = ROUTE_NONE;
	return hp->route;
}

/*
 * Respond 501.  After an upgrade request the connection ends, and the
 * caller gets -1 to pass to lws.
 */
static int
http_not_implemented(struct lws *wsi, int method, const char *path,
    int upgrade)
{
	char	 msg[HTTP_REASON_MAX];

	snprintf(msg, sizeof(msg), "Method '%s %s' not implemented",
	    http_method_name(method), path);
	if (http_respond_error(wsi, 501, msg, NULL, NULL, upgrade) == -1 ||
	    upgrade)
		return -1;
	return http_done(wsi, 0);
}

/* 100..999999999, with pveproxy's wording for each failure. */
static int
http_check_vmid(const char *s, uint32_t *vmid, struct http_error *err)
{
	const char	*d = s;
	size_t		 len;

	if (*d == '-')
		d++;
	if (*d == '\0' || strspn(d, "0123456789") != strlen(d)) {
		http_error_set(err, 400, "vmid", "type check ('integer') "
		    "failed - got '%.64s'", s);
		return -1;
	}
	if (*s == '-') {
		http_error_set(err, 400, "vmid", "value must have a minimum "
		    "value of %u", VMID_MIN);
		return -1;
	}
	d += strspn(d, "0");
	if ((len = strlen(d)) > 9 || strtoul(d, NULL, 10) > VMID_MAX) {
		http_error_set(err, 400, "vmid", "value must have a maximum "
		    "value of %u", VMID_MAX);
		return -1;
	}
	if (len == 0 || strtoul(d, NULL, 10) < VMID_MIN) {
		http_error_set(err, 400, "vmid", "value must have a minimum "
		    "value of %u", VMID_MIN);
		return -1;
	}
	*vmid = (uint32_t)strtoul(d, NULL, 10);
	return 0;
}

/* A node name: letters, digits, '-' and '.', 1 to 63 characters. */
static int
http_check_node(const char *s, char *node, size_t size,
    struct http_error *err)
{
	size_t	 len = strlen(s);

	if (len == 0 || len >= size ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-.") != len) {
		http_error_set(err, 400, "node", "invalid format - value does "
		    "not look like a valid node name");
		return -1;
	}
	strlcpy(node, s, size);
	return 0;
}

static int
http_check_printable(const char *name, const char *s,
    struct http_error *err)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) {
			http_error_set(err, 400, name, "invalid format - value "
			    "contains a character that is not printable");
			return -1;
		}
	return 0;
}

/*
 * A socket path as the source names it: absolute, of letters, digits,
 * '.', '-', '_' and '/', and without a '..' component.
 */
static int
http_check_socket(const char *s, struct http_error *err)
{
	const char	*p;

	if (s[0] != '/') {
		http_error_set(err, 400, "socket", "value must be an absolute "
		    "path");
		return -1;
	}
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-/") != strlen(s)) {
		http_error_set(err, 400, "socket", "value may only contain "
		    "letters, digits, '.', '-', '_' and '/'");
		return -1;
	}
	for (p = s; (p = strstr(p, "..")) != NULL; p++)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0')) {
			http_error_set(err, 400, "socket", "value must not "
			    "contain a '..' component");
			return -1;
		}
	return 0;
}

/* Store one name=value in the table, or describe what is wrong. */
static int
http_param_set(struct http_param *tab, const char *name, const char *value,
    struct http_error *err)
{
	struct http_param	*p;

	for (p = tab; p->name != NULL; p++)
		if (strcmp(p->name, name) == 0)
			break;
	if (p->name == NULL) {
		http_error_set(err, 400, name, MSG_NOT_IN_SCHEMA);
		return -1;
	}
	if (p->seen) {
		http_error_set(err, 400, name, "parameter given twice");
		return -1;
	}
	if (strlen(value) >= p->size) {
		http_error_set(err, 400, name, "value may only be %zu "
		    "characters long", p->size - 1);
		return -1;
	}
	strlcpy(p->value, value, p->size);
	p->seen = 1;
	return 0;
}

static int
http_params_complete(struct http_param *tab, struct http_error *err)
{
	struct http_param	*p;

	for (p = tab; p->name != NULL; p++)
		if (p->required && !p->seen) {
			http_error_set(err, 400, p->name, MSG_MISSING);
			return -1;
		}
	return 0;
}

/*
 * The query argument at idx, as lws split and decoded it: name in the
 * buffer, *value after its '='.  Returns 1, 0 past the last one.
 */
static int
http_query_arg(struct lws *wsi, int idx, char *buf, size_t size,
    const char **value)
{
	char	*eq;

	if (lws_hdr_copy_fragment(wsi, buf, (int)size, WSI_TOKEN_HTTP_URI_ARGS,
	    idx) < 0)
		return 0;
	if ((eq = strchr(buf, '=')) != NULL) {
		*eq = '\0';
		*value = eq + 1;
	} else
		*value = "";
	return 1;
}

/*
 * Fill tab from the query string.  Empty parts ("a=1&&b=2") are skipped,
 * and so is a lone "/": lws 4.1.6 turns a trailing '&' into a last
 * argument "/" (it gives an empty URI part its leading slash).
 */
static int
http_params_query(struct lws *wsi, struct http_param *tab,
    struct http_error *err)
{
	static char	 buf[API_HEADER_MAX + 1];
	const char	*value;
	int		 i;

	for (i = 0; http_query_arg(wsi, i, buf, sizeof(buf), &value); i++) {
		if ((buf[0] == '\0' || strcmp(buf, "/") == 0) &&
		    value[0] == '\0')
			continue;
		if (http_param_set(tab, buf, value, err) == -1)
			return -1;
	}
	return http_params_complete(tab, err);
}

static int
http_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode a form field in place: '+' is a space, %XX a byte, no NUL. */
static int
http_form_decode(char *s)
{
	char	*out = s;
	int	 hi, lo;

	for (; *s != '\0'; s++) {
		if (*s == '+')
			*out++ = ' ';
		else if (*s != '%')
			*out++ = *s;
		else if ((hi = http_hex((unsigned char)s[1])) == -1 ||
		    (lo = http_hex((unsigned char)s[2])) == -1 ||
		    (hi == 0 && lo == 0))
			return -1;
		else {
			*out++ = (char)(hi << 4 | lo);
			s += 2;
		}
	}
	*out = '\0';
	return 0;
}

/* Fill tab from an application/x-www-form-urlencoded body. */
static int
http_params_form(char *body, struct http_param *tab, struct http_error *err)
{
	char	*field, *value;

	while ((field = strsep(&body, "&")) != NULL) {
		if (*field == '\0')
			continue;
		if ((value = strchr(field, '=')) != NULL)
			*value++ = '\0';
		else
			value = field + strlen(field);
		if (http_form_decode(field) == -1 ||
		    http_form_decode(value) == -1) {
			http_error_set(err, 400, NULL, "invalid URL encoding "
			    "in the request body");
			return -1;
		}
		if (http_param_set(tab, field, value, err) == -1)
			return -1;
	}
	return http_params_complete(tab, err);
}

static void
http_txn_clear(struct http_txn *txn)
{
	free(txn->split);
	free(txn->body);
	api_reply_free(&txn->reply);
	explicit_bzero(txn, sizeof(*txn));
	free(txn);
}

void
http_txn_free(struct conn *c)
{
	if (c->txn == NULL)
		return;
	http_txn_clear(c->txn);
	c->txn = NULL;
}

static void
http_log_rejection(struct conn *c, unsigned int status, const char *why)
{
	log_warnx("%s: %s %s: %u, %s", c->remote,
	    http_method_name(c->txn->method), c->txn->path, status, why);
}

/* Respond once lws reports the connection writable. */
static void
http_respond_later(struct conn *c, unsigned int status, const char *reason)
{
	c->txn->state = TXN_RESPOND;
	c->txn->status = status;
	strlcpy(c->txn->reason, reason, sizeof(c->txn->reason));
	lws_rx_flow_control(c->wsi, 1);
	lws_callback_on_writable(c->wsi);
}

static int
http_mtunnel_params(struct conn *c, struct api_mtunnel *req,
    struct http_error *err)
{
	struct http_param	 tab[] = {
		{ "storages", req->storages, sizeof(req->storages), 0, 0 },
		{ "bridges", req->bridges, sizeof(req->bridges), 0, 0 },
		{ NULL, NULL, 0, 0, 0 }
	};
	struct http_txn		*txn = c->txn;

	if (txn->bodylen > 0 && memchr(txn->body, '\0', txn->bodylen)) {
		http_error_set(err, 400, NULL, "request body contains a NUL "
		    "byte");
		return -1;
	}
	if (http_check_node(txn->hp.node, req->node, sizeof(req->node),
	    err) == -1 || http_check_vmid(txn->hp.vmid, &req->vmid, err) == -1)
		return -1;
	if (txn->body == NULL)
		return 0;
	txn->body[txn->bodylen] = '\0';
	return http_params_form((char *)txn->body, tab, err);
}

/* cluster/resources?type=: the values pveproxy's schema allows. */
static int
http_check_type(const char *type, struct http_error *err)
{
	static const char *const types[] = { "vm", "storage", "node", "sdn" };
	size_t			 i;

	if (type[0] == '\0')
		return 0;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(type, types[i]) == 0)
			return 0;
	http_error_set(err, 400, "type", "value '%.64s' does not have a value "
	    "in the enumeration 'vm, storage, node, sdn'", type);
	return -1;
}

/* storage?enabled=: a boolean as pveproxy reads one, sent as 0 or 1. */
static int
http_check_boolean(char *value, struct http_error *err)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };
	size_t			 i;

	if (value[0] == '\0')
		return 0;
	for (i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			strlcpy(value, "1", 2);
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			strlcpy(value, "0", 2);
			return 0;
		}
	}
	http_error_set(err, 400, "enabled", "type check ('boolean') failed - "
	    "got '%.64s'", value);
	return -1;
}

static int
http_query_params(struct conn *c, struct api_query *req,
    struct http_error *err)
{
	struct http_param	 tab[] = {
		{ NULL, req->arg, sizeof(req->arg), 0, 0 },
		{ NULL, NULL, 0, 0, 0 }
	};
	struct http_txn		*txn = c->txn;

	if (txn->hp.route == ROUTE_RESOURCES)
		tab[0].name = "type";
	else if (txn->hp.route == ROUTE_STORAGE)
		tab[0].name = "enabled";
	if (txn->hp.route != ROUTE_CLUSTER_STATUS &&
	    txn->hp.route != ROUTE_RESOURCES &&
	    http_check_node(txn->hp.node, req->node, sizeof(req->node),
	    err) == -1)
		return -1;
	if (http_params_query(c->wsi, tab, err) == -1)
		return -1;
	if (txn->hp.route == ROUTE_RESOURCES)
		return http_check_type(req->arg, err);
	if (txn->hp.route == ROUTE_STORAGE)
		return http_check_boolean(req->arg, err);
	if (txn->hp.route != ROUTE_TASK_STATUS)
		return 0;
	if (strlcpy(req->arg, txn->hp.upid, sizeof(req->arg)) >=
	    sizeof(req->arg)) {
		http_error_set(err, 400, "upid", "value may only be %zu "
		    "characters long", sizeof(req->arg) - 1);
		return -1;
	}
	return http_check_printable("upid", req->arg, err);
}

static uint32_t
http_query_kind(enum http_route route)
{
	switch (route) {
	case ROUTE_CLUSTER_STATUS:
		return API_QUERY_CLUSTER_STATUS;
	case ROUTE_RESOURCES:
		return API_QUERY_RESOURCES;
	case ROUTE_CERT_INFO:
		return API_QUERY_CERT_INFO;
	case ROUTE_STORAGE:
		return API_QUERY_STORAGE;
	default:
		return API_QUERY_TASK_STATUS;
	}
}

/* Build the request for the parent and send it. */
static int
http_ask_parent(struct conn *c, const struct api_auth *auth,
    struct http_error *err)
{
	union {
		struct api_mtunnel	 mtunnel;
		struct api_query	 query;
	}			 req;
	int			 rv;

	memset(&req, 0, sizeof(req));
	if (c->txn->hp.route == ROUTE_MTUNNEL) {
		req.mtunnel.auth = *auth;
		if (http_mtunnel_params(c, &req.mtunnel, err) == -1)
			rv = -1;
		else
			rv = api_request(c, IMSG_API_MTUNNEL,
			    IMSG_API_MTUNNEL_RESULT, &req.mtunnel,
			    sizeof(req.mtunnel));
	} else {
		req.query.auth = *auth;
		req.query.kind = http_query_kind(c->txn->hp.route);
		if (http_query_params(c, &req.query, err) == -1)
			rv = -1;
		else
			rv = api_request(c, IMSG_API_QUERY,
			    IMSG_API_QUERY_RESULT, &req.query,
			    sizeof(req.query));
	}
	if (rv == -1 && err->status == 0)
		http_error_set(err, 503, NULL, "request to the parent failed");
	explicit_bzero(&req, sizeof(req));
	return rv;
}

/*
 * Read nothing from the client while its response waits for a timer or
 * the parent.  Otherwise lws 4.1.6 polls a connection that the client
 * reset or closed meanwhile in a busy loop without reading it.  With
 * reading stopped, a reset still ends the connection at once.
 * Reading resumes before the response is written, because lws does not
 * deliver HTTP_WRITEABLE to a connection whose reading is stopped.
 */
static void
http_hold(struct conn *c)
{
	lws_rx_flow_control(c->wsi, 0);
}

/*
 * The request is complete: check the token, then the parameters, then
 * ask the parent.  A failed token gets its 401 after a fixed delay.
 */
static int
http_begin(struct conn *c)
{
	struct http_txn		*txn = c->txn;
	struct api_auth		 auth;
	struct http_error	 err;
	enum api_auth_result	 ar;
	char			 why[256];

	memset(&auth, 0, sizeof(auth));
	memset(&err, 0, sizeof(err));
	if ((ar = api_auth_check(c->wsi, &auth, why, sizeof(why))) !=
	    API_AUTH_OK) {
		http_log_rejection(c, 401, why);
		audit_emit("auth-failure", 0, json_pack("{s:s, s:s, s:s}",
		    "token", auth.tokenid, "address", c->remote, "reason",
		    why));
		txn->state = TXN_DELAY;
		txn->status = 401;
		strlcpy(txn->reason, ar == API_AUTH_NONE ? "No ticket" :
		    "Authentication failed!", sizeof(txn->reason));
		lws_set_timer_usecs(c->wsi, API_AUTH_DELAY_US);
		http_hold(c);
		return 0;
	}
	strlcpy(auth.remote, c->remote, sizeof(auth.remote));
	if (http_ask_parent(c, &auth, &err) == -1) {
		explicit_bzero(&auth, sizeof(auth));
		http_log_rejection(c, err.status, err.msg);
		if (err.param[0] != '\0')
			log_warnx("%s: parameter '%s': %s", c->remote,
			    err.param, err.msg);
		return http_done(c->wsi, http_respond_with(c->wsi, &err, 0));
	}
	explicit_bzero(&auth, sizeof(auth));
	txn->state = TXN_WAITING;
	lws_set_timer_usecs(c->wsi, (lws_usec_t)API_PARENT_TIMEOUT *
	    LWS_US_PER_SEC);
	http_hold(c);
	return 0;
}

/* Content-Length must be there, a number, and at most API_BODY_MAX. */
static int
http_body_length(struct lws *wsi, size_t *len, struct http_error *err)
{
	char		 buf[32];
	unsigned long	 n;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		http_error_set(err, 411, NULL, "Transfer-Encoding is not "
		    "supported, send Content-Length");
		return -1;
	}
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) == 0) {
		http_error_set(err, 411, NULL, "missing Content-Length");
		return -1;
	}
	if (lws_hdr_copy(wsi, buf, sizeof(buf),
	    WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 || buf[0] == '\0' ||
	    strspn(buf, "0123456789") != strlen(buf)) {
		http_error_set(err, 400, NULL, "invalid Content-Length");
		return -1;
	}
	if (strlen(buf) > 9 || (n = strtoul(buf, NULL, 10)) > API_BODY_MAX) {
		http_error_set(err, 413, NULL, "request body of %s bytes "
		    "exceeds the limit of %d bytes", buf, API_BODY_MAX);
		return -1;
	}
	*len = n;
	return 0;
}

static int
http_start_body(struct conn *c)
{
	struct http_error	 err;
	size_t			 len;

	memset(&err, 0, sizeof(err));
	if (http_body_length(c->wsi, &len, &err) == -1) {
		http_log_rejection(c, err.status, err.msg);
		http_respond_with(c->wsi, &err, 1);
		return -1;
	}
	if ((c->txn->body = malloc(len + 1)) == NULL) {
		log_warn("request body of %zu bytes", len);
		return -1;
	}
	c->txn->bodymax = len;
	c->txn->state = TXN_BODY;
	return 0;
}

static int
http_body(struct conn *c, const void *in, size_t len)
{
	struct http_txn	*txn = c->txn;

	if (txn == NULL || txn->state != TXN_BODY)
		return -1;
	if (len > txn->bodymax - txn->bodylen) {
		http_log_rejection(c, 413,
		    "body longer than its Content-Length");
		return -1;
	}
	memcpy(txn->body + txn->bodylen, in, len);
	txn->bodylen += len;
	return 0;
}

/*
 * Start a transaction for the request on wsi and route it.  Returns the
 * route, ROUTE_NONE for what is not implemented, or -1 on failure.
 */
static int
http_txn_new(struct conn *c, struct lws *wsi)
{
	struct http_txn	*txn;
	char		*uri;
	int		 method, len;

	http_txn_free(c);
	method = lws_http_get_uri_and_method(wsi, &uri, &len);
	if (method < 0 || len < 0)
		return -1;
	if ((txn = calloc(1, sizeof(*txn))) == NULL ||
	    (txn->split = strndup(uri, (size_t)len)) == NULL) {
		log_warn("%s: request", c->remote);
		free(txn);
		return -1;
	}
	c->txn = txn;
	txn->method = method;
	txn->reply.fd = -1;
	strlcpy(txn->path, txn->split, sizeof(txn->path));
	http_sanitize(txn->path);
	return http_route(txn->split, method, &txn->hp);
}

/* LWS_CALLBACK_HTTP: a request head without an upgrade. */
static int
http_request(struct conn *c, struct lws *wsi)
{
	const char	*why;
	int		 route;

	c->heads++;
	if ((why = wsguard_check_http(&c->guard, c->heads)) != NULL) {
		log_warnx("%s: request %u on the connection: %s; closing",
		    c->remote, c->heads, why);
		return -1;
	}
	if ((route = http_txn_new(c, wsi)) == -1)
		return -1;
	if (route == ROUTE_NONE) {
		http_log_rejection(c, 501, "not implemented");
		return http_not_implemented(wsi, c->txn->method,
		    c->txn->path, 0);
	}
	if (route == ROUTE_WEBSOCKET) {
		http_log_rejection(c, 400, "no websocket upgrade");
		return http_done(wsi, http_respond_error(wsi, 400,
		    "missing header 'Upgrade: websocket'", NULL, NULL, 0));
	}
	if (route == ROUTE_MTUNNEL)
		return http_start_body(c);
	return http_begin(c);
}

/* Write the response the transaction is holding. */
static int
http_writeable(struct conn *c, struct lws *wsi)
{
	struct http_txn	*txn = c->txn;
	struct api_reply *r;
	int		 rv;

	if (txn == NULL || txn->state != TXN_RESPOND)
		return 0;
	r = &txn->reply;
	if (r->buf != NULL)
		rv = http_respond(wsi, r->status, r->reason,
		    r->buf + LWS_PRE, r->bodylen, 0);
	else if (txn->status == 401)
		rv = http_respond(wsi, 401, txn->reason, NULL, 0, 0);
	else
		rv = http_respond_error(wsi, txn->status, txn->reason, NULL,
		    NULL, 0);
	http_txn_free(c);
	return http_done(wsi, rv);
}

static int
http_timer(struct conn *c)
{
	struct http_txn	*txn = c->txn;

	if (txn == NULL)
		return 0;
	if (txn->state == TXN_DELAY) {
		http_respond_later(c, txn->status, txn->reason);
		return 0;
	}
	if (txn->state != TXN_WAITING)
		return 0;
	api_request_cancel(c);
	log_warnx("%s: %s %s: no reply from the parent within %d seconds",
	    c->remote, http_method_name(txn->method), txn->path,
	    API_PARENT_TIMEOUT);
	http_respond_later(c, 503, "no reply from the daemon");
	return 0;
}

/* The parent replied to the request of connection c. */
void
http_parent_reply(struct conn *c, struct api_reply *reply)
{
	struct http_txn	*txn = c->txn;

	if (reply->fd != -1) {
		log_warnx("%s: parent passed a descriptor with an HTTP reply",
		    c->remote);
		close(reply->fd);
		reply->fd = -1;
	}
	if (txn == NULL || txn->state != TXN_WAITING) {
		api_reply_free(reply);
		return;
	}
	lws_set_timer_usecs(c->wsi, LWS_SET_TIMER_USEC_CANCEL);
	if (reply->status != 200)
		http_log_rejection(c, reply->status, reply->reason);
	txn->reply = *reply;
	http_respond_later(c, reply->status, reply->reason);
}

/*
 * The guard in wsguard.c cannot tell where websocket frames start on
 * this connection: respond 400.
 */
static void
http_upgrade_unfollowed(struct conn *c, struct lws *wsi, const char *why)
{
	char	 msg[HTTP_REASON_MAX];

	snprintf(msg, sizeof(msg), "websocket upgrade not accepted on this "
	    "connection: %s", why);
	http_log_rejection(c, 400, msg);
	http_respond_error(wsi, 400, msg, NULL, NULL, 1);
}

/*
 * An upgrade request: only the websocket endpoint takes one.  Any
 * response but 101 ends the connection, so that no byte after a
 * rejected upgrade is read as HTTP: the guard in wsguard.c reads the
 * bytes after an upgrade request as websocket frames.
 */
static int
http_confirm_upgrade(struct conn *c, struct lws *wsi, const char *proto)
{
	const char	*why;
	int		 route;

	c->heads++;
	if ((route = http_txn_new(c, wsi)) == -1)
		return -1;
	if ((why = wsguard_check_upgrade(&c->guard, c->heads)) != NULL) {
		http_upgrade_unfollowed(c, wsi, why);
		return -1;
	}
	if (route == ROUTE_NONE) {
		http_log_rejection(c, 501, "not implemented");
		return http_not_implemented(wsi, c->txn->method,
		    c->txn->path, 1);
	}
	if (route != ROUTE_WEBSOCKET || strcasecmp(proto, "websocket") != 0) {
		http_log_rejection(c, 400, route != ROUTE_WEBSOCKET ?
		    "upgrade on an endpoint without websockets" :
		    "upgrade to other than websocket");
		http_respond_error(wsi, 400, "upgrade is not supported here",
		    NULL, NULL, 1);
		return -1;
	}
	return ws_confirm_upgrade(c, wsi) == 0 ? 0 : -1;
}

/*
 * The parameters of the websocket endpoint: node and vmid from the path,
 * socket and ticket from the query.  On failure the 400 is written with
 * "Connection: close" and logged, and -1 returned.
 */
int
http_ws_params(struct conn *c, struct api_wsconnect *req)
{
	struct http_param	 tab[] = {
		{ "socket", req->socket, sizeof(req->socket), 1, 0 },
		{ "ticket", req->ticket, sizeof(req->ticket), 1, 0 },
		{ NULL, NULL, 0, 0, 0 }
	};
	struct http_txn		*txn = c->txn;
	struct http_error	 err;

	memset(&err, 0, sizeof(err));
	if (http_check_node(txn->hp.node, req->node, sizeof(req->node),
	    &err) == -1 ||
	    http_check_vmid(txn->hp.vmid, &req->vmid, &err) == -1 ||
	    http_params_query(c->wsi, tab, &err) == -1 ||
	    http_check_socket(req->socket, &err) == -1 ||
	    http_check_printable("ticket", req->ticket, &err) == -1) {
		http_log_rejection(c, err.status, err.msg);
		if (err.param[0] != '\0')
			log_warnx("%s: parameter '%s': %s", c->remote,
			    err.param, err.msg);
		http_respond_with(c->wsi, &err, 1);
		return -1;
	}
	return 0;
}

int
http_callback(struct conn *c, struct lws *wsi, int reason, void *in,
    size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return http_request(c, wsi);
	case LWS_CALLBACK_HTTP_BODY:
		return http_body(c, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (c->txn == NULL || c->txn->state != TXN_BODY)
			return -1;
		return http_begin(c);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return http_writeable(c, wsi);
	case LWS_CALLBACK_TIMER:
		return http_timer(c);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return http_confirm_upgrade(c, wsi, in);
	case LWS_CALLBACK_CLOSED_HTTP:
		http_txn_free(c);
		return 0;
	default:
		/* lws makes a CONNECT request raw: nothing here serves it. */
		if (reason == LWS_CALLBACK_RAW_ADOPT ||
		    reason == LWS_CALLBACK_RAW_RX)
			return -1;
		return 0;
	}
}
