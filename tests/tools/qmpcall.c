/*
 * qmpcall: run one QMP command against a QEMU monitor socket, for the
 * shell tests.
 *
 *   qmpcall [-v] [-t seconds] [-F path] socket command [args-json]
 *	prints the "return" value as compact JSON on stdout.  When QEMU
 *	returns an error, it prints the description on stderr and exits 1.
 *   qmpcall [-v] [-t seconds] -H socket hmp-command
 *	runs human-monitor-command and prints its text output.
 *   qmpcall [-v] [-t seconds] -e event socket [command [args-json]]
 *	runs the command, if any, then waits for the event on the same
 *	connection and prints its data as compact JSON.  An event that
 *	arrives before the command's reply counts.
 *
 * With -F the tool binds and listens on the UNIX socket path and passes
 * the listening descriptor with the command (for getfd).  Exit status 1
 * means a QMP or connection error, 2 a usage error.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <jansson.h>

#include "log.h"
#include "qmp.h"

#define DEFAULT_TIMEOUT	10	/* seconds */

struct call {
	const char	*socket;
	const char	*command;
	const char	*args;
	const char	*event;		/* -e */
	const char	*listen_path;	/* -F */
	int		 hmp;		/* -H */
	int		 verbose;	/* -v */
	int		 timeout_ms;	/* -t */
	json_t		*cmd_args;	/* the command's arguments, parsed */
	json_t		*event_data;	/* data of the -e event */
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: qmpcall [-v] [-t seconds] [-F path] socket "
	    "command [args-json]\n"
	    "       qmpcall [-v] [-t seconds] -H socket hmp-command\n"
	    "       qmpcall [-v] [-t seconds] -e event socket [command "
	    "[args-json]]\n"
	    "  -e event    wait for this event, after the command if one is "
	    "given,\n"
	    "              and print its data\n"
	    "  -F path     bind and listen on UNIX socket path and pass the "
	    "listening\n"
	    "              descriptor with the command (for getfd)\n"
	    "  -H          run human-monitor-command and print its output\n"
	    "  -t seconds  limit for connecting, for the reply and for the "
	    "event, each\n"
	    "              (default %d)\n"
	    "  -v          print the events that arrive on stderr\n",
	    DEFAULT_TIMEOUT);
	exit(2);
}

/* Keep the -e event if it comes while a command waits for its reply. */
static void
take_event(void *arg, const char *name, json_t *data)
{
	struct call	*c = arg;
	char		*text;

	if (c->verbose) {
		text = json_dumps(data, JSON_COMPACT);
		fprintf(stderr, "event %s %s\n", name,
		    text != NULL ? text : "?");
		free(text);
	}
	if (c->event != NULL && c->event_data == NULL &&
	    strcmp(name, c->event) == 0)
		c->event_data = json_incref(data);
}

static int
listen_unix(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		errx(1, "%s: socket path too long", path);
	strcpy(sun.sun_path, path);

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		err(1, "bind %s", path);
	if (listen(fd, 16) == -1)
		err(1, "listen %s", path);
	return fd;
}

static json_t *
build_args(const struct call *c)
{
	json_error_t	 jerr;
	json_t		*args;

	if (c->hmp)
		return json_pack("{s:s}", "command-line", c->args);
	if (c->args == NULL)
		return NULL;
	if ((args = json_loads(c->args, 0, &jerr)) == NULL)
		errx(2, "invalid arguments JSON: %s", jerr.text);
	if (!json_is_object(args))
		errx(2, "arguments must be a JSON object");
	return args;
}

static void
print_json(json_t *value)
{
	char	*text;

	if (value == NULL) {
		printf("null\n");
		return;
	}
	text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	if (text == NULL)
		errx(1, "cannot print the result");
	printf("%s\n", text);
	free(text);
}

static int
run_command(struct qmp *q, const struct call *c, char *msg, size_t len)
{
	json_t	*ret;
	int	 fd = -1, rv;

	if (c->listen_path != NULL)
		fd = listen_unix(c->listen_path);
	rv = qmp_command(q, c->hmp ? "human-monitor-command" : c->command,
	    c->cmd_args, fd, &ret, c->timeout_ms, msg, len);
	if (fd != -1)
		close(fd);
	if (rv == -1)
		return 1;

	if (c->hmp && json_is_string(ret))
		fputs(json_string_value(ret), stdout);
	else
		print_json(ret);
	json_decref(ret);
	return 0;
}

static int
wait_event(struct qmp *q, struct call *c, char *msg, size_t len)
{
	if (c->event_data == NULL &&
	    qmp_wait_event(q, c->event, &c->event_data, c->timeout_ms, msg,
	    len) != 0)
		return 1;
	print_json(c->event_data);
	json_decref(c->event_data);
	c->event_data = NULL;
	return 0;
}

static void
parse_args(struct call *c, int argc, char *argv[])
{
	const char	*errstr;
	long long	 seconds;
	int		 ch;

	c->timeout_ms = DEFAULT_TIMEOUT * 1000;
	while ((ch = getopt(argc, argv, "e:F:Ht:v")) != -1) {
		switch (ch) {
		case 'e':
			c->event = optarg;
			break;
		case 'F':
			c->listen_path = optarg;
			break;
		case 'H':
			c->hmp = 1;
			break;
		case 't':
			errstr = NULL;
			seconds = strtonum(optarg, 1, INT_MAX / 1000, &errstr);
			if (errstr != NULL)
				errx(2, "-t %s: %s", optarg, errstr);
			c->timeout_ms = seconds * 1000;
			break;
		case 'v':
			c->verbose = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;

	if (c->event != NULL && argc == 1 && !c->hmp &&
	    c->listen_path == NULL) {
		c->socket = argv[0];
		return;
	}
	if (argc < 2 || argc > 3 || (c->hmp && argc != 2))
		usage();
	c->socket = argv[0];
	if (c->hmp)
		c->args = argv[1];
	else {
		c->command = argv[1];
		c->args = argc == 3 ? argv[2] : NULL;
	}
}

int
main(int argc, char *argv[])
{
	struct call	 c;
	struct qmp	*q;
	char		 msg[QMP_ERR_MAX];
	int		 rv;

	memset(&c, 0, sizeof(c));
	parse_args(&c, argc, argv);
	c.cmd_args = build_args(&c);
	log_init(1, c.verbose, "qmpcall");

	if ((q = qmp_open(c.socket, c.timeout_ms, msg, sizeof(msg))) == NULL)
		errx(1, "%s: %s", c.socket, msg);
	qmp_set_event_cb(q, take_event, &c);

	rv = 0;
	if (c.command != NULL || c.hmp)
		rv = run_command(q, &c, msg, sizeof(msg));
	if (rv == 0 && c.event != NULL)
		rv = wait_event(q, &c, msg, sizeof(msg));
	json_decref(c.cmd_args);
	json_decref(c.event_data);
	if (rv != 0)
		fprintf(stderr, "qmpcall: %s\n", msg);
	qmp_close(q);
	return rv;
}
