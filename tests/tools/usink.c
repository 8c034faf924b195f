/*
 * usink: a UNIX stream socket sink for the relay tests and benchmarks.
 * It accepts COUNT connections one after the other, reads each until the
 * peer closes, and prints "BYTES SHA256-HEX" for it on stdout.  With -e
 * it echoes every byte back and shuts down its write side at EOF; with
 * -S it sleeps now and then to act as a slow reader.
 *
 * The socket is bound under a temporary name and renamed to PATH once it
 * listens, so a connect to PATH never meets a socket that is not ready.
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define MIB			(1024 * 1024)
#define DEFAULT_READSIZE	MIB
#define DEFAULT_TIMEOUT		30	/* seconds */

struct sink {
	const char	*path;
	int		 echo;		/* -e */
	int		 nohash;	/* -n */
	int		 verbose;	/* -v */
	int		 count;		/* -c */
	size_t		 readsize;	/* -r, bytes */
	long		 slow_ms;	/* -S, pause in milliseconds */
	uint64_t	 slow_every;	/* -S, bytes between pauses */
	int		 timeout;	/* -t, seconds */
	unsigned char	*buf;
	ino_t		 ino;		/* inode of the bound socket */
};

static void
usage(void)
{
	fprintf(stderr, "usage: usink [-env] [-c count] [-r readsize] "
	    "[-S delay:mib] [-t seconds] path\n"
	    "  -c count     connections to accept, one at a time "
	    "(default 1)\n"
	    "  -e           echo every byte back; shut down the write side "
	    "at EOF\n"
	    "  -n           skip the SHA-256; print '-' in its place\n"
	    "  -r readsize  bytes per read, K or M suffix for KiB or MiB "
	    "(default 1M)\n"
	    "  -S delay:mib sleep DELAY (ms or s suffix) after every MIB "
	    "MiB read, e.g. 200ms:2\n"
	    "  -t seconds   give up when no connection or no data comes "
	    "for this long (default %d)\n"
	    "  -v           log connections and totals on stderr\n",
	    DEFAULT_TIMEOUT);
	exit(2);
}

/* Parse "N", "NK" or "NM" into bytes, at least 1 and at most max. */
static int
parse_size(const char *s, uint64_t max, uint64_t *out)
{
	char			*end;
	unsigned long long	 n;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || end == s || n == 0)
		return -1;
	if (*end == 'K' || *end == 'k') {
		n *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		n *= MIB;
		end++;
	}
	if (*end != '\0' || n > max)
		return -1;
	*out = n;
	return 0;
}

/* Parse "200ms:2" or "1s:4" into a pause and the MiB read between pauses. */
static int
parse_slow(const char *s, long *ms, uint64_t *every)
{
	char		*end;
	long		 n;
	unsigned long	 mib;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || end == s || n <= 0 || n > 60000)
		return -1;
	if (strncmp(end, "ms:", 3) == 0)
		end += 3;
	else if (strncmp(end, "s:", 2) == 0 && n <= 60) {
		n *= 1000;
		end += 2;
	} else
		return -1;
	s = end;
	mib = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || mib == 0 ||
	    mib > 1024 * 1024)
		return -1;
	*ms = n;
	*every = (uint64_t)mib * MIB;
	return 0;
}

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static struct sink	*bound_sink;	/* for the exit handler */

/* Remove PATH at exit, unless something else has replaced our socket. */
static void
sink_unlink(void)
{
	struct sink	*sk = bound_sink;
	struct stat	 st;

	if (sk == NULL)
		return;
	if (lstat(sk->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_ino == sk->ino)
		unlink(sk->path);
}

/*
 * Bind a listening socket under a temporary name beside PATH, then rename
 * it over PATH.  A stale socket at PATH is replaced; any other kind of
 * file is left alone and reported.
 */
static int
sink_listen(struct sink *sk)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	char			 tmp[sizeof(sun.sun_path)];
	int			 fd, n;

	if (lstat(sk->path, &st) == 0 && !S_ISSOCK(st.st_mode))
		errx(1, "%s exists and is not a socket; remove it first",
		    sk->path);
	n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", sk->path,
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		errx(1, "%s: path too long for a UNIX socket (max %zu "
		    "bytes with the temporary suffix)", sk->path,
		    sizeof(tmp) - 1);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, tmp, n + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	unlink(tmp);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		err(1, "bind %s", tmp);
	if (listen(fd, sk->count) == -1)
		err(1, "listen %s", tmp);
	if (stat(tmp, &st) == -1)
		err(1, "stat %s", tmp);
	sk->ino = st.st_ino;
	if (rename(tmp, sk->path) == -1) {
		unlink(tmp);
		err(1, "rename %s to %s", tmp, sk->path);
	}
	bound_sink = sk;
	atexit(sink_unlink);
	if (sk->verbose)
		warnx("listening on %s", sk->path);
	return fd;
}

static int
sink_accept(const struct sink *sk, int lfd)
{
	struct pollfd	 pfd = { lfd, POLLIN, 0 };
	int		 fd, n;

	n = poll(&pfd, 1, sk->timeout * 1000);
	if (n == -1)
		err(1, "poll");
	if (n == 0)
		errx(1, "%s: no connection within %d s", sk->path,
		    sk->timeout);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd == -1)
		err(1, "accept on %s", sk->path);
	return fd;
}

/* Wait up to the timeout for fd to become ready for events. */
static void
sink_wait(const struct sink *sk, int fd, short events, const char *what,
    uint64_t total)
{
	struct pollfd	 pfd = { fd, events, 0 };
	int		 n;

	while ((n = poll(&pfd, 1, sk->timeout * 1000)) == -1 &&
	    errno == EINTR)
		;
	if (n == -1)
		err(1, "poll");
	if (n == 0)
		errx(1, "%s: %s timed out after %d s, %llu bytes read so far",
		    sk->path, what, sk->timeout, (unsigned long long)total);
}

static void
sink_echo(const struct sink *sk, int fd, const unsigned char *p,
    size_t len, uint64_t total)
{
	ssize_t	 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EAGAIN) {
			sink_wait(sk, fd, POLLOUT, "echo write", total);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(1, "%s: echo write after %llu bytes", sk->path,
			    (unsigned long long)total);
		p += n;
		len -= n;
	}
}

static void
print_result(const struct sink *sk, uint64_t total, EVP_MD_CTX *md)
{
	unsigned char	 digest[EVP_MAX_MD_SIZE];
	char		 hex[2 * EVP_MAX_MD_SIZE + 1] = "-";
	unsigned int	 dlen, i;

	if (!sk->nohash) {
		if (EVP_DigestFinal_ex(md, digest, &dlen) != 1)
			errx(1, "EVP_DigestFinal_ex failed");
		for (i = 0; i < dlen; i++)
			snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	}
	printf("%llu %s\n", (unsigned long long)total, hex);
	fflush(stdout);
}

/* Read one connection until EOF, echoing and pausing as the options set. */
static void
sink_serve(const struct sink *sk, int fd, EVP_MD_CTX *md)
{
	uint64_t	 total = 0, since_pause = 0;
	ssize_t		 n;

	if (!sk->nohash && EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		errx(1, "EVP_DigestInit_ex failed");
	for (;;) {
		n = read(fd, sk->buf, sk->readsize);
		if (n == -1 && errno == EAGAIN) {
			sink_wait(sk, fd, POLLIN, "read", total);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(1, "%s: read after %llu bytes", sk->path,
			    (unsigned long long)total);
		if (n == 0)
			break;
		if (!sk->nohash && EVP_DigestUpdate(md, sk->buf, n) != 1)
			errx(1, "EVP_DigestUpdate failed");
		if (sk->echo)
			sink_echo(sk, fd, sk->buf, n, total);
		total += n;
		since_pause += n;
		if (sk->slow_every > 0 && since_pause >= sk->slow_every) {
			since_pause -= sk->slow_every;
			sleep_ms(sk->slow_ms);
		}
	}
	if (sk->echo && shutdown(fd, SHUT_WR) == -1)
		err(1, "%s: shutdown after %llu bytes", sk->path,
		    (unsigned long long)total);
	print_result(sk, total, md);
	if (sk->verbose)
		warnx("connection closed after %llu bytes",
		    (unsigned long long)total);
}

static void
parse_options(struct sink *sk, int argc, char **argv)
{
	uint64_t	 n;
	int		 ch;

	while ((ch = getopt(argc, argv, "c:enr:S:t:v")) != -1) {
		switch (ch) {
		case 'c':
			if (parse_size(optarg, INT_MAX, &n) == -1)
				errx(2, "-c %s: not a count from 1", optarg);
			sk->count = n;
			break;
		case 'e':
			sk->echo = 1;
			break;
		case 'n':
			sk->nohash = 1;
			break;
		case 'r':
			if (parse_size(optarg, 64 * MIB, &n) == -1)
				errx(2, "-r %s: not a size from 1 to 64M",
				    optarg);
			sk->readsize = n;
			break;
		case 'S':
			if (parse_slow(optarg, &sk->slow_ms,
			    &sk->slow_every) == -1)
				errx(2, "-S %s: expected DELAY:MIB such as "
				    "200ms:2 or 1s:4", optarg);
			break;
		case 't':
			if (parse_size(optarg, 86400, &n) == -1)
				errx(2, "-t %s: not a number of seconds from "
				    "1 to 86400", optarg);
			sk->timeout = n;
			break;
		case 'v':
			sk->verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	sk->path = argv[optind];
}

int
main(int argc, char **argv)
{
	static struct sink sk = {	/* static: the exit handler reads it */
		.count = 1,
		.readsize = DEFAULT_READSIZE,
		.timeout = DEFAULT_TIMEOUT,
	};
	EVP_MD_CTX	*md;
	int		 lfd, fd, i;

	parse_options(&sk, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if ((sk.buf = malloc(sk.readsize)) == NULL)
		err(1, "malloc %zu", sk.readsize);
	if ((md = EVP_MD_CTX_new()) == NULL)
		errx(1, "EVP_MD_CTX_new failed");

	lfd = sink_listen(&sk);
	for (i = 0; i < sk.count; i++) {
		fd = sink_accept(&sk, lfd);
		if (sk.verbose)
			warnx("connection %d of %d", i + 1, sk.count);
		sink_serve(&sk, fd, md);
		close(fd);
	}
	close(lfd);
	EVP_MD_CTX_free(md);
	free(sk.buf);
	return 0;
}
