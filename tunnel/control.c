/*
 * The control connection: one JSON object per line in, one reply line
 * out, in strict lock-step.  This part answers `version` and `quit`; the
 * other commands are recognised and refused until their handlers land.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "tunnel.h"

#define TUNNEL_API_VERSION	2
#define TUNNEL_API_AGE		0

struct control	 control = { .fd = -1 };

static const char *const control_known[] = {
	"version", "config", "disk", "disk-import", "query-disk-import",
	"bwlimit", "start", "fstrim", "ticket", "resume", "stop", "nbdstop",
	"unlock", "quit",
};

static int
control_is_known(const char *cmd)
{
	size_t	 i;

	for (i = 0; i < sizeof(control_known) / sizeof(control_known[0]); i++)
		if (strcmp(control_known[i], cmd) == 0)
			return 1;
	return 0;
}

/* Queue one reply line; the object is consumed. */
static void
control_reply(json_t *reply)
{
	char	*text;
	size_t	 len;

	text = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (text == NULL)
		fatalx("cannot encode a reply");
	len = strlen(text);
	if (control.wlen + len + 1 > sizeof(control.wbuf))
		fatalx("reply of %zu bytes does not fit", len);
	memcpy(control.wbuf + control.wlen, text, len);
	control.wbuf[control.wlen + len] = '\n';
	control.wlen += len + 1;
	free(text);
}

static void
control_fail(const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	control_reply(json_pack("{s:b, s:s}", "success", 0, "msg", msg));
}

static void
control_ok(json_t *result)
{
	if (result == NULL)
		result = json_object();
	json_object_set_new(result, "success", json_true());
	control_reply(result);
}

/* A boolean as real sources send it: true/false, 1/0, "1", "0", "". */
static int
control_bool(json_t *v, int *out)
{
	const char	*s;

	if (v == NULL || json_is_null(v)) {
		*out = 0;
		return 0;
	}
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (json_is_integer(v) && (json_integer_value(v) == 0 ||
	    json_integer_value(v) == 1)) {
		*out = json_integer_value(v) == 1;
		return 0;
	}
	if (json_is_string(v)) {
		s = json_string_value(v);
		if (strcmp(s, "1") == 0 || strcmp(s, "0") == 0 ||
		    s[0] == '\0') {
			*out = strcmp(s, "1") == 0;
			return 0;
		}
	}
	return -1;
}

static void
control_cmd_quit(json_t *params)
{
	const char	*key;
	json_t		*v;
	int		 cleanup = 0;

	json_object_foreach(params, key, v) {
		if (strcmp(key, "cleanup") != 0) {
			control_fail("failed to handle 'quit' command - 400 "
			    "Parameter verification failed.\n%s: property is "
			    "not defined in schema and the schema does not "
			    "allow additional properties\n", key);
			return;
		}
		if (control_bool(v, &cleanup) == -1) {
			control_fail("failed to handle 'quit' command - 400 "
			    "Parameter verification failed.\ncleanup: type "
			    "check ('boolean') failed\n");
			return;
		}
	}
	control.exit_mode = 1;
	control.quit_cleanup = cleanup;
	log_info("quit received%s; waiting for the peer to close",
	    cleanup ? " with cleanup" : "");
	control_ok(NULL);
}

static void
control_dispatch(const char *cmd, json_t *params)
{
	log_info("received command '%s'", cmd);
	if (strcmp(cmd, "version") == 0)
		control_ok(json_pack("{s:i, s:i}", "api", TUNNEL_API_VERSION,
		    "age", TUNNEL_API_AGE));
	else if (strcmp(cmd, "quit") == 0)
		control_cmd_quit(params);
	else
		/* TODO: the handlers of the remaining commands. */
		control_fail("failed to handle '%s' command - not supported "
		    "by this mtunneld version\n", cmd);
}

/* Handle one request line, in the dispatch order sources expect. */
static void
control_line(const char *line, size_t len)
{
	json_error_t	 err;
	json_t		*req, *cmdv;
	const char	*cmd;
	char		 name[64];

	if ((req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err)) ==
	    NULL) {
		control_fail("failed to parse command - %s", err.text);
		return;
	}
	cmdv = json_is_object(req) ? json_object_get(req, "cmd") : NULL;
	if (cmdv == NULL || !json_is_string(cmdv)) {
		control_fail("'cmd' missing");
		json_decref(req);
		return;
	}
	cmd = json_string_value(cmdv);
	snprintf(name, sizeof(name), "%s", cmd);

	if (control.exit_mode)
		control_fail("tunnel is in exit-mode, processing '%s' cmd not "
		    "possible", name);
	else if (!control_is_known(name))
		control_fail("unknown command '%s' given", name);
	else {
		json_object_del(req, "cmd");
		control_dispatch(name, req);
	}
	json_decref(req);
}

/*
 * Take the complete lines out of the read buffer.  A line that would
 * exceed CONTROL_LINE_MAX gets one error reply, then the connection ends.
 */
void
control_process(void)
{
	char	*nl;
	size_t	 used;

	while ((nl = memchr(control.rbuf, '\n', control.rlen)) != NULL) {
		used = nl - control.rbuf + 1;
		control_line(control.rbuf, used - 1);
		memmove(control.rbuf, control.rbuf + used,
		    control.rlen - used);
		control.rlen -= used;
	}
	if (control.rlen >= CONTROL_LINE_MAX) {
		log_warnx("request line longer than %d bytes; closing",
		    CONTROL_LINE_MAX);
		control_fail("failed to parse command - line longer than %d "
		    "bytes", CONTROL_LINE_MAX);
		control.rlen = 0;
		control.closing = 1;
	}
}

/* Read what the connection holds.  Returns 0 at end of file. */
int
control_read(void)
{
	ssize_t	 n;

	if (control.closing)
		return 1;
	n = read(control.fd, control.rbuf + control.rlen,
	    sizeof(control.rbuf) - control.rlen);
	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? 1 : 0;
	if (n == 0)
		return 0;
	control.rlen += n;
	control_process();
	return 1;
}

/* Write queued replies.  Returns -1 when the peer is gone. */
int
control_write(void)
{
	ssize_t	 n;

	while (control.wlen > 0) {
		n = send(control.fd, control.wbuf, control.wlen,
		    MSG_NOSIGNAL);
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		memmove(control.wbuf, control.wbuf + n, control.wlen - n);
		control.wlen -= n;
	}
	return 0;
}
