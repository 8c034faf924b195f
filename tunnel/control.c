/*
 * The control connection: one JSON object per line in, one reply line
 * out, in strict lock-step.  Each line goes through the dispatch order
 * that sources expect: parse error, 'cmd' missing, exit mode, unknown
 * command, then the command layer (commands.c).  While a command waits
 * for the parent, and while the replies already queued would leave no
 * room for one more, no further line is read or handled.
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

#define CONTROL_NAME_MAX	64	/* bytes of a command name in errors */

struct control	 control = { .fd = -1 };

/* Queue one reply line.  The object is consumed. */
static void
control_reply(json_t *reply)
{
	char	*text;
	size_t	 len;

	if (reply == NULL)
		fatalx("cannot build a reply");
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

/* Reply {"success":false,"msg":...}, with the text made valid UTF-8. */
void
control_reply_error(const char *fmt, ...)
{
	char	 raw[CONTROL_MSG_MAX], msg[CONTROL_MSG_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	text_excerpt(msg, sizeof(msg), raw, strlen(raw));
	control_reply(json_pack("{s:b, s:s}", "success", 0, "msg", msg));
}

/* Reply with the result fields and "success":true.  Consumes result. */
void
control_reply_ok(json_t *result)
{
	if (result == NULL)
		result = json_object();
	json_object_set_new(result, "success", json_true());
	control_reply(result);
}

/*
 * Check that the JSON text nests at most CONTROL_DEPTH_MAX levels, by
 * counting brackets outside strings, before jansson builds anything.
 */
static int
control_depth_ok(const char *s, size_t len)
{
	size_t	 i;
	int	 depth = 0, in_string = 0, escaped = 0;

	for (i = 0; i < len; i++) {
		if (in_string) {
			if (escaped)
				escaped = 0;
			else if (s[i] == '\\')
				escaped = 1;
			else if (s[i] == '"')
				in_string = 0;
		} else if (s[i] == '"')
			in_string = 1;
		else if (s[i] == '{' || s[i] == '[') {
			if (++depth > CONTROL_DEPTH_MAX)
				return 0;
		} else if (s[i] == '}' || s[i] == ']')
			depth--;
	}
	return 1;
}

/* Whether a string value anywhere in v contains a NUL (\u0000). */
static int
control_has_nul(json_t *v)
{
	const char	*key;
	json_t		*item;
	size_t		 i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return memchr(json_string_value(v), '\0',
		    json_string_length(v)) != NULL;
	case JSON_OBJECT:
		json_object_foreach(v, key, item)
			if (control_has_nul(item))
				return 1;
		break;
	case JSON_ARRAY:
		json_array_foreach(v, i, item)
			if (control_has_nul(item))
				return 1;
		break;
	default:
		break;
	}
	return 0;
}

/*
 * Parse one request line.  \u0000 is let through jansson so that it can
 * be rejected here with a message that names it.  Returns the object, or
 * NULL after the error reply.
 */
static json_t *
control_parse(const char *line, size_t len)
{
	json_error_t	 err;
	json_t		*req;

	if (!control_depth_ok(line, len)) {
		log_warnx("failed to parse command: nested deeper than %d "
		    "levels", CONTROL_DEPTH_MAX);
		control_reply_error("failed to parse command - JSON nested "
		    "deeper than %d levels", CONTROL_DEPTH_MAX);
		return NULL;
	}
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	    &err);
	if (req == NULL) {
		log_warnx("failed to parse command: %s", err.text);
		control_reply_error("failed to parse command - %s", err.text);
		return NULL;
	}
	if (control_has_nul(req)) {
		json_decref(req);
		log_warnx("failed to parse command: \\u0000 in a string");
		control_reply_error("failed to parse command - a string "
		    "contains \\u0000 (NUL), which is not allowed");
		return NULL;
	}
	return req;
}

/* The command name as errors and logs show it, for any JSON type. */
static void
control_cmd_name(json_t *cmdv, char *name, size_t len)
{
	char	*text;

	if (json_is_string(cmdv)) {
		text_excerpt(name, len, json_string_value(cmdv),
		    json_string_length(cmdv));
		return;
	}
	text = json_dumps(cmdv, JSON_COMPACT | JSON_ENCODE_ANY);
	text_excerpt(name, len, text != NULL ? text : "?",
	    text != NULL ? strlen(text) : 1);
	free(text);
}

/* Handle one request line, in the dispatch order sources expect. */
static void
control_line(const char *line, size_t len)
{
	json_t	*req, *cmdv;
	char	 name[CONTROL_NAME_MAX];

	if ((req = control_parse(line, len)) == NULL)
		return;
	cmdv = json_is_object(req) ? json_object_get(req, "cmd") : NULL;
	if (cmdv == NULL || json_is_null(cmdv)) {
		log_warnx("rejected a request without 'cmd'");
		control_reply_error("'cmd' missing");
		json_decref(req);
		return;
	}
	control_cmd_name(cmdv, name, sizeof(name));
	if (control.exit_mode) {
		log_warnx("rejected command '%s': in exit mode", name);
		control_reply_error("tunnel is in exit-mode, processing '%s' "
		    "cmd not possible", name);
	} else if (!json_is_string(cmdv) ||
	    !cmd_known(json_string_value(cmdv))) {
		log_warnx("rejected unknown command '%s'", name);
		control_reply_error("unknown command '%s' given", name);
	} else {
		json_incref(cmdv);
		json_object_del(req, "cmd");
		cmd_dispatch(json_string_value(cmdv), req);
		json_decref(cmdv);
	}
	json_decref(req);
}

/* Whether queued replies leave room for one more of the largest size. */
static int
control_output_room(void)
{
	return sizeof(control.wbuf) - control.wlen >= CONTROL_REPLY_MAX;
}

/*
 * Handle the complete lines in the read buffer, until a command waits for
 * the parent or the output is full.  A line longer than CONTROL_LINE_MAX
 * gets one error reply, then the connection ends.
 */
void
control_process(void)
{
	char	*nl;
	size_t	 used;

	while (!control.closing && !cmd_pending() && control_output_room() &&
	    (nl = memchr(control.rbuf, '\n', control.rlen)) != NULL) {
		used = nl - control.rbuf + 1;
		control_line(control.rbuf, used - 1);
		memmove(control.rbuf, control.rbuf + used,
		    control.rlen - used);
		control.rlen -= used;
	}
	if (!control.closing && control.rlen == sizeof(control.rbuf) &&
	    memchr(control.rbuf, '\n', control.rlen) == NULL) {
		log_warnx("request line longer than %d bytes; closing",
		    CONTROL_LINE_MAX);
		control_reply_error("failed to parse command - line longer "
		    "than %d bytes", CONTROL_LINE_MAX);
		control.rlen = 0;
		control.closing = 1;
	}
}

/* Whether the next request bytes may be read now. */
int
control_want_read(void)
{
	return !control.closing && !cmd_pending() && control_output_room() &&
	    control.rlen < sizeof(control.rbuf);
}

/* Read what the connection holds.  Returns 0 at end of file. */
int
control_read(void)
{
	ssize_t	 n;

	if (!control_want_read())
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

/*
 * Write queued replies, then handle the lines that waited for room.
 * Returns -1 when the peer is gone.
 */
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
	control_process();
	return 0;
}

/*
 * The parent's IMSG_TUNNEL_RESULT: finish the waiting command, then go on
 * with the lines that arrived meanwhile.  Returns -1 with a reason in err
 * for a protocol violation.
 */
int
control_result(uint32_t reqid, const void *data, size_t len, char *err,
    size_t errlen)
{
	if (cmd_result(reqid, data, len, err, errlen) == -1)
		return -1;
	control_process();
	return 0;
}
