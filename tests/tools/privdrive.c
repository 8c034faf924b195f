/*
 * privdrive: play the parent for one "mtunneld -X priv" process, for the
 * integration tests of priv.  It starts priv with its channel on fd 3,
 * sends the hello and the set-up message, waits for IMSG_PROC_READY and
 * then reads one command per line on stdin and prints one line per
 * command on stdout:
 *   ok <JSON or nothing>          the request succeeded
 *   error <errno> <message>       priv answered with an error
 *   fd <n>                        SOCKET_CREATE passed a descriptor
 * priv's log records go to stderr.  Every wait is bounded by WAIT_MS.
 *
 * usage: privdrive MTUNNELD CONFDIR STATEDIR RUNDIR QEMU QEMU_IMG USER
 *
 * Commands (VMID is the payload's; "stamp N" sets the header's VMID of
 * the next request, which is the payload's otherwise):
 *   create VMID                   IMSG_PRIV_CONFIG_CREATE
 *   lock VMID check EXPECTED      IMSG_PRIV_CONFIG_LOCK
 *   lock VMID set EXPECTED NEW    NEW "-" means remove the lock
 *   write VMID CONFFILE [FWFILE]  IMSG_PRIV_CONFIG_WRITE
 *   alloc VMID STORAGE FMT BYTES  IMSG_PRIV_DISK_ALLOC
 *   import VMID STORAGE VOLNAME FMT EXPORTFORMATS ALLOWRENAME
 *   query VMID                    IMSG_PRIV_IMPORT_QUERY
 *   socket VMID KIND              IMSG_PRIV_SOCKET_CREATE
 *   cleanup VMID REASON           IMSG_PRIV_CLEANUP (no reply from priv:
 *                                 prints "ok" once sent)
 *   send PATH FILE [SIZE]         connect to PATH, send the 8-byte size
 *                                 header (SIZE, default the file's size)
 *                                 and the file, half-close, wait for the
 *                                 peer to close; prints "ok <bytes>"
 *   wait-import VMID SECONDS      query until not pending; prints the
 *                                 last answer
 *   async CMD...                  send CMD's request, print "sent <reqid>"
 *   collect                       print the next answer to an async
 *                                 request as "reply <reqid>: <answer>"
 *   kill                          SIGKILL priv (and so its children)
 *   pids                          "ok <priv pid>"
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imsg.h"
#include "mtunneld.h"
#include "proc.h"

#define WAIT_MS		20000

static struct imsgbuf	 ibuf;
static pid_t		 priv_pid;
static uint32_t		 next_reqid;
static uint32_t		 stamp;		/* 0: use the payload's VMID */
static int		 async;		/* send without waiting */

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
die(const char *what)
{
	fprintf(stderr, "privdrive: %s\n", what);
	if (priv_pid > 0)
		kill(priv_pid, SIGKILL);
	exit(2);
}

static void
flush(void)
{
	if (imsg_flush_blocking(&ibuf, WAIT_MS) == -1)
		die(imsg_error(&ibuf));
}

/* Wait for one message that is not a log record; prints the logs. */
static int
wait_msg(struct imsg *imsg)
{
	int64_t	 end = now_ms() + WAIT_MS;
	int	 rv;

	for (;;) {
		rv = proc_wait_imsg(&ibuf, imsg, (int)(end - now_ms()));
		if (rv != 1)
			return rv;
		if (imsg->hdr.type != IMSG_LOG_RECORD)
			return 1;
		fprintf(stderr, "log: %.*s\n",
		    (int)(imsg_datalen(imsg) - sizeof(struct log_record)),
		    (char *)imsg->data + sizeof(struct log_record));
		imsg_free(imsg);
		if (now_ms() >= end)
			return -1;
	}
}

static void
start_priv(char **argv)
{
	struct proc_hello	 hello = { IMSG_FORMAT_VERSION, PROC_PARENT };
	struct proc_setup	 setup;
	struct passwd		*pw;
	struct imsg		 imsg;
	int			 sp[2];

	if ((pw = getpwnam(argv[7])) == NULL)
		die("no such user");
	memset(&setup, 0, sizeof(setup));
	setup.role = PROC_PRIV;
	setup.uid = pw->pw_uid;
	setup.gid = pw->pw_gid;
	setup.verbose = 1;
	snprintf(setup.confdir, sizeof(setup.confdir), "%s", argv[2]);
	snprintf(setup.statedir, sizeof(setup.statedir), "%s", argv[3]);
	snprintf(setup.rundir, sizeof(setup.rundir), "%s", argv[4]);
	snprintf(setup.qemu, sizeof(setup.qemu), "%s", argv[5]);
	snprintf(setup.qemu_img, sizeof(setup.qemu_img), "%s", argv[6]);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		die("socketpair");
	if ((priv_pid = fork()) == 0) {
		close(sp[0]);
		if (dup2(sp[1], PROC_CHANNEL_FD) == -1)
			_exit(126);
		execl(argv[1], argv[1], "-X", "priv", "-d", (char *)NULL);
		_exit(127);
	}
	close(sp[1]);
	if (proc_set_nonblock(sp[0]) == -1)
		die("nonblock");
	imsg_init(&ibuf, sp[0]);
	if (imsg_compose(&ibuf, IMSG_PROC_HELLO, 0, 0, -1, &hello,
	    sizeof(hello)) == -1 || imsg_compose(&ibuf, IMSG_PROC_SETUP, 0, 0,
	    -1, &setup, sizeof(setup)) == -1)
		die("compose");
	flush();
	for (;;) {
		if (wait_msg(&imsg) != 1)
			die("no ready from priv");
		if (imsg.hdr.type == IMSG_PROC_READY) {
			imsg_free(&imsg);
			return;
		}
		imsg_free(&imsg);
	}
}

static void
request(uint32_t type, uint32_t vmid, const void *data, size_t len)
{
	if (imsg_compose(&ibuf, type, stamp ? stamp : vmid, ++next_reqid, -1,
	    data, len) == -1)
		die(imsg_error(&ibuf));
	stamp = 0;
	flush();
}

/* priv's answer as one line, without its newline. */
static void
format_result(struct imsg *imsg, char *line, size_t len)
{
	struct priv_result	 res;
	size_t			 n = imsg_datalen(imsg);

	memcpy(&res, imsg->data, sizeof(res));
	res.msg[sizeof(res.msg) - 1] = '\0';
	if (res.msg[0] != '\0' && res.msg[strlen(res.msg) - 1] == '\n')
		res.msg[strlen(res.msg) - 1] = '\0';
	if (res.error != 0)
		snprintf(line, len, "error %d %s", res.error, res.msg);
	else if (imsg->fd != -1)
		snprintf(line, len, "fd %d", imsg->fd);
	else
		snprintf(line, len, "ok %.*s", (int)(n - sizeof(res)),
		    (char *)imsg->data + sizeof(res));
	if (imsg->fd != -1)
		close(imsg->fd);
}

/* Answers to "async" requests that came while waiting for another. */
static char	*early[64];
static size_t	 nearly;

/*
 * Print priv's answer to the last request as one line.  Answers to
 * earlier async requests that arrive meanwhile are kept for "collect".
 */
static void
answer(void)
{
	struct imsg	 imsg;
	char		 line[8192];

	if (async) {
		printf("sent %u\n", next_reqid);
		fflush(stdout);
		return;
	}
	for (;;) {
		if (wait_msg(&imsg) != 1) {
			printf("timeout\n");
			fflush(stdout);
			return;
		}
		if (imsg.hdr.type != IMSG_PRIV_RESULT) {
			imsg_free(&imsg);
			continue;
		}
		format_result(&imsg, line, sizeof(line));
		if (imsg.hdr.reqid == next_reqid)
			break;
		if (nearly < sizeof(early) / sizeof(early[0]) &&
		    asprintf(&early[nearly], "reply %u: %s", imsg.hdr.reqid,
		    line) != -1)
			nearly++;
		imsg_free(&imsg);
	}
	imsg_free(&imsg);
	printf("%s\n", line);
	fflush(stdout);
}

/* Print the next answer to an async request: kept, or the next to come. */
static void
collect(void)
{
	struct imsg	 imsg;
	char		 line[8192];

	if (nearly > 0) {
		printf("%s\n", early[0]);
		free(early[0]);
		memmove(early, early + 1, --nearly * sizeof(early[0]));
		fflush(stdout);
		return;
	}
	do {
		if (wait_msg(&imsg) != 1) {
			printf("timeout\n");
			fflush(stdout);
			return;
		}
		if (imsg.hdr.type == IMSG_PRIV_RESULT)
			break;
		imsg_free(&imsg);
	} while (1);
	format_result(&imsg, line, sizeof(line));
	printf("reply %u: %s\n", imsg.hdr.reqid, line);
	imsg_free(&imsg);
	fflush(stdout);
}

static char *
slurp(const char *path, size_t *len)
{
	struct stat	 st;
	char		*buf;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		die("open");
	if ((buf = malloc(st.st_size + 1)) == NULL ||
	    read(fd, buf, st.st_size) != st.st_size)
		die("read");
	close(fd);
	*len = st.st_size;
	return buf;
}

static void
cmd_write(char **av, int ac)
{
	struct priv_config_write w;
	char			*conf, *fw = NULL, *buf;
	size_t			 clen, flen = 0;

	conf = slurp(av[2], &clen);
	if (ac > 3)
		fw = slurp(av[3], &flen);
	w.vmid = strtoul(av[1], NULL, 10);
	w.conf_len = clen;
	w.fw_len = flen;
	if ((buf = malloc(sizeof(w) + clen + flen)) == NULL)
		die("malloc");
	memcpy(buf, &w, sizeof(w));
	memcpy(buf + sizeof(w), conf, clen);
	if (flen)
		memcpy(buf + sizeof(w) + clen, fw, flen);
	request(IMSG_PRIV_CONFIG_WRITE, w.vmid, buf, sizeof(w) + clen + flen);
	free(buf);
	free(conf);
	free(fw);
	answer();
}

static void
cmd_send(char **av, int ac)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	struct pollfd		 pfd;
	uint64_t		 size, le;
	char			 buf[65536];
	ssize_t			 n;
	long long		 sent = 0;
	int			 s, fd;

	if ((fd = open(av[2], O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		die("send: open");
	size = ac > 3 ? strtoull(av[3], NULL, 10) : (uint64_t)st.st_size;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", av[1]);
	if ((s = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		printf("error %d connect\n", errno);
		fflush(stdout);
		close(fd);
		if (s != -1)
			close(s);
		return;
	}
	le = htole64(size);
	if (write(s, &le, sizeof(le)) != sizeof(le))
		die("send: header");
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (write(s, buf, n) != n)
			break;
		sent += n;
	}
	shutdown(s, SHUT_WR);
	pfd.fd = s;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, WAIT_MS) == 1 && read(s, buf, sizeof(buf)) > 0)
		;
	close(s);
	close(fd);
	printf("ok %lld\n", sent);
	fflush(stdout);
}

static void
cmd_wait_import(char **av)
{
	struct priv_vmid_req	 q;
	struct imsg		 imsg;
	int64_t			 end = now_ms() + atoi(av[2]) * 1000LL;
	char			 line[8192];

	memset(&q, 0, sizeof(q));
	q.vmid = strtoul(av[1], NULL, 10);
	for (;;) {
		request(IMSG_PRIV_IMPORT_QUERY, q.vmid, &q, sizeof(q));
		for (;;) {
			if (wait_msg(&imsg) != 1)
				die("no answer to a query");
			if (imsg.hdr.type == IMSG_PRIV_RESULT &&
			    imsg.hdr.reqid == next_reqid)
				break;
			imsg_free(&imsg);
		}
		format_result(&imsg, line, sizeof(line));
		imsg_free(&imsg);
		if (strncmp(line, "ok ", 3) != 0 ||
		    strstr(line, "\"pending\"") == NULL || now_ms() >= end)
			break;
		usleep(100000);
	}
	printf("%s\n", line);
	fflush(stdout);
}

static void
cmd_lock(char **av, int ac)
{
	struct priv_config_lock	 l;

	memset(&l, 0, sizeof(l));
	l.vmid = strtoul(av[1], NULL, 10);
	l.op = strcmp(av[2], "set") == 0 ? LOCK_OP_SET : LOCK_OP_CHECK;
	if (ac > 3 && strcmp(av[3], "-") != 0)
		snprintf(l.expected, sizeof(l.expected), "%s", av[3]);
	if (ac > 4 && strcmp(av[4], "-") != 0)
		snprintf(l.newlock, sizeof(l.newlock), "%s", av[4]);
	request(IMSG_PRIV_CONFIG_LOCK, l.vmid, &l, sizeof(l));
	answer();
}

static void
cmd_import(char **av)
{
	struct priv_disk_import	 d;

	memset(&d, 0, sizeof(d));
	d.vmid = strtoul(av[1], NULL, 10);
	snprintf(d.disk.storage, sizeof(d.disk.storage), "%s", av[2]);
	snprintf(d.disk.volname, sizeof(d.disk.volname), "%s", av[3]);
	snprintf(d.disk.format, sizeof(d.disk.format), "%s", av[4]);
	snprintf(d.disk.export_formats, sizeof(d.disk.export_formats), "%s",
	    av[5]);
	d.disk.allow_rename = atoi(av[6]);
	request(IMSG_PRIV_DISK_IMPORT, d.vmid, &d, sizeof(d));
	answer();
}

static void
cmd_alloc(char **av)
{
	struct priv_disk_alloc	 a;

	memset(&a, 0, sizeof(a));
	a.vmid = strtoul(av[1], NULL, 10);
	snprintf(a.disk.storage, sizeof(a.disk.storage), "%s", av[2]);
	snprintf(a.disk.format, sizeof(a.disk.format), "%s", av[3]);
	a.disk.size = strtoull(av[4], NULL, 10);
	request(IMSG_PRIV_DISK_ALLOC, a.vmid, &a, sizeof(a));
	answer();
}

static void
cmd_vmid(uint32_t type, char **av, int ac)
{
	struct priv_vmid_req	 r;

	memset(&r, 0, sizeof(r));
	r.vmid = strtoul(av[1], NULL, 10);
	r.kind = ac > 2 ? strtoul(av[2], NULL, 10) : 0;
	request(type, r.vmid, &r, sizeof(r));
	answer();
}

static void	command(char **, int);

static void
command(char **av, int ac)
{
	struct priv_cleanup	 c;

	if (strcmp(av[0], "create") == 0 && ac == 2)
		cmd_vmid(IMSG_PRIV_CONFIG_CREATE, av, ac);
	else if (strcmp(av[0], "query") == 0 && ac == 2)
		cmd_vmid(IMSG_PRIV_IMPORT_QUERY, av, ac);
	else if (strcmp(av[0], "socket") == 0 && ac == 3)
		cmd_vmid(IMSG_PRIV_SOCKET_CREATE, av, ac);
	else if (strcmp(av[0], "lock") == 0 && ac >= 4)
		cmd_lock(av, ac);
	else if (strcmp(av[0], "write") == 0 && ac >= 3)
		cmd_write(av, ac);
	else if (strcmp(av[0], "alloc") == 0 && ac == 5)
		cmd_alloc(av);
	else if (strcmp(av[0], "import") == 0 && ac == 7)
		cmd_import(av);
	else if (strcmp(av[0], "send") == 0 && ac >= 3)
		cmd_send(av, ac);
	else if (strcmp(av[0], "wait-import") == 0 && ac == 3)
		cmd_wait_import(av);
	else if (strcmp(av[0], "async") == 0 && ac > 1) {
		async = 1;
		command(av + 1, ac - 1);
		async = 0;
	} else if (strcmp(av[0], "collect") == 0) {
		collect();
	} else if (strcmp(av[0], "stamp") == 0 && ac == 2) {
		stamp = strtoul(av[1], NULL, 10);
		printf("ok\n");
	} else if (strcmp(av[0], "cleanup") == 0 && ac == 3) {
		c.vmid = strtoul(av[1], NULL, 10);
		c.reason = strtoul(av[2], NULL, 10);
		request(IMSG_PRIV_CLEANUP, c.vmid, &c, sizeof(c));
		printf("ok\n");
	} else if (strcmp(av[0], "kill") == 0) {
		kill(priv_pid, SIGKILL);
		waitpid(priv_pid, NULL, 0);
		priv_pid = 0;
		printf("ok\n");
	} else if (strcmp(av[0], "pids") == 0)
		printf("ok %ld\n", (long)priv_pid);
	else
		printf("usage error: %s\n", av[0]);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	char	 line[4096], *av[16], *p;
	int	 ac, status;

	if (argc != 8) {
		fprintf(stderr, "usage: privdrive MTUNNELD CONFDIR STATEDIR "
		    "RUNDIR QEMU QEMU_IMG USER\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	start_priv(argv);
	printf("ready %ld\n", (long)priv_pid);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		for (ac = 0, p = line; ac < 15 &&
		    (av[ac] = strsep(&p, " ")) != NULL;)
			if (av[ac][0] != '\0')
				ac++;
		if (ac == 0)
			continue;
		command(av, ac);
		if (priv_pid == 0)
			return 0;
	}
	close(ibuf.fd);
	if (waitpid(priv_pid, &status, 0) == -1)
		return 2;
	fprintf(stderr, "priv exit status %d\n", WIFEXITED(status) ?
	    WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
