/*
 * wstool: a websocket client over TLS for the mtunneld tests and
 * benchmarks.  It speaks the client side of RFC 6455 on top of OpenSSL
 * directly, not through a websocket library, so that it can also send
 * frames that break the protocol on purpose.
 *
 * Modes (after the URL):
 *   pipe            stdin as masked binary frames, received payload to
 *                   stdout; Close 1000 at the end of stdin (default)
 *   lines           each stdin line as one frame, print one reply line
 *                   per request line (the JSON-lines control protocol)
 *   bad-frame KIND  send one invalid frame and expect Close 1002, then
 *                   the end of the connection
 *   raw             TLS without websocket: stdin to the server and the
 *                   server's bytes to stdout, for comparing with plain
 *                   TLS relays such as socat
 *
 * Exit status: 0 success, 1 failure after the upgrade, 2 failed
 * connection, TLS handshake or upgrade, 3 certificate fingerprint
 * mismatch, 64 usage error.
 */

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define EXIT_FAIL		1
#define EXIT_HANDSHAKE		2
#define EXIT_FINGERPRINT	3
#define EXIT_USAGE		64

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_FIN		0x80
#define WS_RSV1		0x40
#define WS_MASKED	0x80
#define OP_CONT		0x0
#define OP_TEXT		0x1
#define OP_BINARY	0x2
#define OP_CLOSE	0x8
#define OP_PING		0x9
#define OP_PONG		0xa
#define CONTROL_MAX	125	/* RFC 6455: control payload limit */
#define CLOSE_NORMAL	1000
#define CLOSE_PROTOCOL	1002
#define CLOSE_NONE	1005	/* RFC 6455: Close without a status */

#define DEFAULT_FRAME	16384
#define MAX_FRAME	(64 * 1024 * 1024)
#define INPUT_BATCH	(256 * 1024)	/* stdin bytes framed per round */
#define READ_BUF	(256 * 1024)
#define READS_PER_ROUND	64	/* TLS records read before writing again */
#define MAX_HEADERS	32
#define MAX_RESPONSE	16384	/* upgrade response header bytes */
#define MAX_BODY	65536	/* error body bytes printed */
#define DEFAULT_TIMEOUT	10	/* seconds */
#define OVERSIZE_LEN	131073	/* one byte over the relay's 128 KiB */

enum mode { MODE_PIPE, MODE_LINES, MODE_BADFRAME, MODE_RAW };

/* How the server's side of the connection ended. */
enum ending {
	END_NONE,
	END_CLOSE_NOTIFY,	/* TLS close_notify, then EOF */
	END_EOF,		/* TCP EOF without close_notify */
	END_RESET,		/* ECONNRESET */
	END_ERROR		/* any other read error */
};

struct options {
	char		 host[256];
	char		 port[8];
	char		 hostport[300];	/* Host header */
	char		*target;	/* path and query */
	const char	*headers[MAX_HEADERS];
	int		 nheaders;
	const char	*fingerprint;	/* -f */
	const char	*protocol;	/* -P */
	int		 insecure;	/* -k */
	int		 verbose;	/* -v */
	int		 echo_wait;	/* -e */
	int		 require_close;	/* -C */
	int		 binary_lines;	/* -B */
	int		 time_lines;	/* -T */
	size_t		 frame_size;	/* -s */
	int		 timeout;	/* -t, seconds */
	enum mode	 mode;
	const char	*kind;		/* bad-frame KIND */
};

/* A byte queue: data[off .. len) is pending. */
struct queue {
	unsigned char	*data;
	size_t		 off;
	size_t		 len;
	size_t		 size;
};

/* Receive state of the frame being parsed from the server. */
struct rx {
	unsigned char	 hdr[14];
	size_t		 hdrlen;
	int		 in_payload;
	int		 opcode;
	int		 masked;
	uint64_t	 left;		/* payload bytes still to come */
	unsigned char	 control[CONTROL_MAX];
	size_t		 control_len;
};

struct conn {
	struct options	*o;
	int		 fd;
	SSL_CTX		*ctx;
	SSL		*ssl;
	struct queue	 out;		/* bytes for SSL_write */
	struct queue	 in;		/* stdin bytes not yet sent */
	struct queue	 lines;		/* received bytes not yet printed */
	struct rx	 rx;
	unsigned char	*rbuf;
	int		 read_wants_write;
	int		 more_to_read;	/* stopped early; SSL may hold data */
	int		 input_eof;
	int		 input_ready;
	int		 close_sent;
	int		 close_received;
	int		 close_status;
	char		 close_reason[CONTROL_MAX];
	int		 shutdown_sent;	/* raw mode: close_notify sent */
	int		 write_failed;
	char		 write_error[128];
	enum ending	 ending;
	char		 ending_text[256];
	int		 awaiting;	/* lines mode: replies outstanding */
	uint64_t	 lines_sent;
	uint64_t	 sent;		/* payload bytes queued */
	uint64_t	 received;	/* payload bytes received */
	uint64_t	 frames;
	double		 started;
	double		 last_progress;
	double		 deadline;	/* close wait or bad-frame wait */
	double		 request_time;	/* lines mode: last line sent */
	size_t		 want;		/* response bytes to read */
	char		 events[1024];	/* bad-frame mode: what came back */
};

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
ms_until(double deadline)
{
	double	 left = deadline - now();

	if (left <= 0)
		return 0;
	return (int)(left * 1000) + 1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: wstool [-BCekTv] [-f fingerprint] [-H 'Name: value'] "
	    "[-P protocol]\n"
	    "              [-s bytes] [-t seconds] URL "
	    "[pipe | lines | raw | bad-frame KIND]\n"
	    "  URL            https://HOST:PORT/path?query\n"
	    "  -B             lines mode: send binary frames, not text\n"
	    "  -C             pipe and lines modes: fail unless the server "
	    "ends with a Close\n"
	    "                 frame (not only EOF)\n"
	    "  -e             pipe mode: send Close only once as many bytes "
	    "came back as were sent\n"
	    "  -f fingerprint pin the server certificate's SHA-256 "
	    "fingerprint (AA:BB:...)\n"
	    "  -H header      add a request header (repeatable)\n"
	    "  -k             do not verify the server certificate\n"
	    "  -P protocol    request a Sec-WebSocket-Protocol; the reply "
	    "must echo it\n"
	    "  -s bytes       pipe mode: payload bytes per frame "
	    "(default %d)\n"
	    "  -T             lines mode: print each reply's round trip "
	    "in microseconds,\n"
	    "                 one per line, to stderr\n"
	    "  -t seconds     limit for each wait (default %d)\n"
	    "  -v             report progress and throughput on stderr\n"
	    "  KIND           unmasked, fragmented, rsv, oversize, "
	    "ctrl-oversize, opcode,\n"
	    "                 continuation\n",
	    DEFAULT_FRAME, DEFAULT_TIMEOUT);
	exit(EXIT_USAGE);
}

static void
vlog_ssl(const char *fmt, va_list ap)
{
	unsigned long	 e;
	char		 buf[256];

	fprintf(stderr, "wstool: ");
	vfprintf(stderr, fmt, ap);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, ": %s", buf);
	}
	fprintf(stderr, "\n");
}

/* Print the message and the OpenSSL error queue, then exit. */
static void __attribute__((noreturn, format(printf, 2, 3)))
fatal_ssl(int status, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_ssl(fmt, ap);
	va_end(ap);
	exit(status);
}

/* Queues */

static void
queue_reserve(struct queue *q, size_t n)
{
	size_t	 want;

	if (q->off > 0 && q->off == q->len)
		q->off = q->len = 0;
	if (q->size - q->len >= n)
		return;
	if (q->off > 0) {
		memmove(q->data, q->data + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
		if (q->size - q->len >= n)
			return;
	}
	want = q->len + n;
	if (want < 2 * q->size)
		want = 2 * q->size;
	if ((q->data = realloc(q->data, want)) == NULL)
		err(EXIT_FAIL, "realloc %zu", want);
	q->size = want;
}

static size_t
queue_pending(const struct queue *q)
{
	return q->len - q->off;
}

static void
queue_add(struct queue *q, const void *p, size_t n)
{
	queue_reserve(q, n);
	memcpy(q->data + q->len, p, n);
	q->len += n;
}

/* Frames */

/* Copy src to dst XORed with the 4-byte key, 8 bytes at a time. */
static void
mask_copy(unsigned char *dst, const unsigned char *src, size_t len,
    const unsigned char key[4])
{
	unsigned char	 pattern[8];
	uint64_t	 k, v;
	size_t		 i;

	memcpy(pattern, key, 4);
	memcpy(pattern + 4, key, 4);
	memcpy(&k, pattern, 8);
	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&v, src + i, 8);
		v ^= k;
		memcpy(dst + i, &v, 8);
	}
	for (; i < len; i++)
		dst[i] = src[i] ^ key[i & 3];
}

/*
 * Queue one frame.  b0 is the first header byte (FIN, RSV, opcode).  The
 * payload is masked with a fresh random key unless masked is 0.
 */
static void
frame_queue(struct conn *c, int b0, const void *payload, size_t len,
    int masked)
{
	unsigned char	 hdr[14], key[4];
	size_t		 hlen = 2, i;

	hdr[0] = b0;
	if (len < 126)
		hdr[1] = len;
	else if (len <= 0xffff) {
		hdr[1] = 126;
		hdr[2] = len >> 8;
		hdr[3] = len;
		hlen = 4;
	} else {
		hdr[1] = 127;
		for (i = 0; i < 8; i++)
			hdr[2 + i] = (uint64_t)len >> (56 - 8 * i);
		hlen = 10;
	}
	if (masked) {
		if (RAND_bytes(key, sizeof(key)) != 1)
			fatal_ssl(EXIT_FAIL, "RAND_bytes failed");
		hdr[1] |= WS_MASKED;
		memcpy(hdr + hlen, key, 4);
		hlen += 4;
	}
	queue_reserve(&c->out, hlen + len);
	memcpy(c->out.data + c->out.len, hdr, hlen);
	c->out.len += hlen;
	if (masked)
		mask_copy(c->out.data + c->out.len, payload, len, key);
	else if (len > 0)
		memcpy(c->out.data + c->out.len, payload, len);
	c->out.len += len;
	c->frames++;
}

static void
close_queue(struct conn *c, int status)
{
	unsigned char	 p[2] = { status >> 8, status & 0xff };

	frame_queue(c, WS_FIN | OP_CLOSE, p, sizeof(p), 1);
	c->close_sent = 1;
}

static void
event_add(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Append one entry to the list of what came back (bad-frame mode). */
static void
event_add(struct conn *c, const char *fmt, ...)
{
	size_t	 len = strlen(c->events);
	va_list	 ap;

	if (len > 0 && len + 2 < sizeof(c->events)) {
		strcpy(c->events + len, ", ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(c->events + len, sizeof(c->events) - len, fmt, ap);
	va_end(ap);
}

/* Receiving */

static void
write_stdout(const unsigned char *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = write(STDOUT_FILENO, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(EXIT_FAIL, "write to stdout");
		p += n;
		len -= n;
	}
}

/* Print every complete line received (lines mode). */
static void
lines_deliver(struct conn *c, const unsigned char *p, size_t len)
{
	unsigned char	*start, *nl;

	queue_add(&c->lines, p, len);
	for (;;) {
		start = c->lines.data + c->lines.off;
		nl = memchr(start, '\n', queue_pending(&c->lines));
		if (nl == NULL)
			break;
		write_stdout(start, nl - start + 1);
		c->lines.off += nl - start + 1;
		if (c->awaiting > 0 && c->o->time_lines)
			fprintf(stderr, "%.0f\n",
			    (now() - c->request_time) * 1e6);
		if (c->awaiting > 0)
			c->awaiting--;
	}
}

static void
payload_deliver(struct conn *c, const unsigned char *p, size_t len)
{
	if (len == 0)
		return;
	c->received += len;
	switch (c->o->mode) {
	case MODE_LINES:
		lines_deliver(c, p, len);
		break;
	case MODE_BADFRAME:
		break;
	default:
		write_stdout(p, len);
	}
}

/* Store the status and the reason of the Close frame just received. */
static void
close_parse(struct conn *c, const unsigned char *p, size_t len)
{
	size_t	 reason_len = len > 2 ? len - 2 : 0;

	c->close_received = 1;
	c->close_status = len >= 2 ? p[0] << 8 | p[1] : CLOSE_NONE;
	memcpy(c->close_reason, p + 2, reason_len);
	c->close_reason[reason_len] = '\0';
	if (c->o->mode == MODE_BADFRAME)
		event_add(c, "Close %d \"%s\"", c->close_status,
		    c->close_reason);
}

static void
control_done(struct conn *c)
{
	struct rx	*rx = &c->rx;

	switch (rx->opcode) {
	case OP_CLOSE:
		close_parse(c, rx->control, rx->control_len);
		break;
	case OP_PING:
		if (!c->close_sent)
			frame_queue(c, WS_FIN | OP_PONG, rx->control,
			    rx->control_len, 1);
		break;
	default:	/* pong */
		break;
	}
}

/* Report an invalid frame from the server and give up. */
static void __attribute__((noreturn))
rx_invalid(struct conn *c, const char *why)
{
	errx(EXIT_FAIL, "invalid frame from the server (%s) after %llu "
	    "payload bytes received", why, (unsigned long long)c->received);
}

/* Decode a complete frame header and check the rules for servers. */
static void
rx_header_done(struct conn *c)
{
	struct rx	*rx = &c->rx;
	unsigned char	*h = rx->hdr;
	size_t		 i = 2;
	int		 len7 = h[1] & 0x7f;

	rx->opcode = h[0] & 0x0f;
	rx->masked = (h[1] & WS_MASKED) != 0;
	rx->left = len7;
	if (len7 == 126) {
		rx->left = h[2] << 8 | h[3];
		i = 4;
	} else if (len7 == 127) {
		for (rx->left = 0; i < 10; i++)
			rx->left = rx->left << 8 | h[i];
	}
	if (rx->masked)
		rx_invalid(c, "payload masked");
	if (h[0] & 0x70)
		rx_invalid(c, "RSV bits set");
	if (rx->opcode >= OP_CLOSE && (len7 > CONTROL_MAX || !(h[0] & WS_FIN)))
		rx_invalid(c, "control frame too long or fragmented");
	if ((rx->opcode > OP_BINARY && rx->opcode < OP_CLOSE) ||
	    rx->opcode > OP_PONG)
		rx_invalid(c, "unknown opcode");
	if (c->o->mode == MODE_BADFRAME && rx->opcode <= OP_BINARY)
		event_add(c, "data frame opcode %d of %llu bytes",
		    rx->opcode, (unsigned long long)rx->left);
	rx->control_len = 0;
	rx->in_payload = 1;
}

/* Header bytes still needed, judging by the bytes collected so far. */
static size_t
rx_header_size(const struct rx *rx)
{
	size_t	 n = 2;

	if (rx->hdrlen < 2)
		return n;
	if ((rx->hdr[1] & 0x7f) == 126)
		n += 2;
	else if ((rx->hdr[1] & 0x7f) == 127)
		n += 8;
	if (rx->hdr[1] & WS_MASKED)
		n += 4;
	return n;
}

static size_t
rx_header(struct conn *c, const unsigned char *p, size_t len)
{
	struct rx	*rx = &c->rx;
	size_t		 used = 0, n;

	while (used < len && rx->hdrlen < rx_header_size(rx)) {
		n = rx_header_size(rx) - rx->hdrlen;
		if (n > len - used)
			n = len - used;
		memcpy(rx->hdr + rx->hdrlen, p + used, n);
		rx->hdrlen += n;
		used += n;
	}
	if (rx->hdrlen == rx_header_size(rx))
		rx_header_done(c);
	return used;
}

static void
rx_payload(struct conn *c, unsigned char *p, size_t n)
{
	struct rx	*rx = &c->rx;

	if (rx->opcode >= OP_CLOSE) {
		memcpy(rx->control + rx->control_len, p, n);
		rx->control_len += n;
	} else
		payload_deliver(c, p, n);
	rx->left -= n;
}

/* Parse server frames from the bytes read and pass payload to the mode. */
static void
rx_feed(struct conn *c, unsigned char *p, size_t len)
{
	struct rx	*rx = &c->rx;
	size_t		 n;

	while (len > 0 || (rx->in_payload && rx->left == 0)) {
		if (!rx->in_payload) {
			n = rx_header(c, p, len);
			p += n;
			len -= n;
			continue;
		}
		n = len < rx->left ? len : rx->left;
		rx_payload(c, p, n);
		p += n;
		len -= n;
		if (rx->left == 0) {
			if (rx->opcode >= OP_CLOSE)
				control_done(c);
			rx->in_payload = 0;
			rx->hdrlen = 0;
		}
	}
}

/* TLS transport */

static void
ending_set(struct conn *c, enum ending e, const char *text)
{
	c->ending = e;
	snprintf(c->ending_text, sizeof(c->ending_text), "%s", text);
	if (c->o->mode == MODE_BADFRAME)
		event_add(c, "%s", text);
}

/* Classify a failed SSL_read as the end of the connection or an error. */
static void
read_failed(struct conn *c, int ret)
{
	int		 e = SSL_get_error(c->ssl, ret);
	unsigned long	 code;
	char		 detail[200], text[256];

	if (e == SSL_ERROR_ZERO_RETURN) {
		ending_set(c, END_CLOSE_NOTIFY, "EOF after TLS close_notify");
		return;
	}
	code = ERR_peek_error();
	if (e == SSL_ERROR_SSL &&
	    ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		ending_set(c, END_EOF, "EOF without TLS close_notify");
		return;
	}
	if (e == SSL_ERROR_SYSCALL && errno == ECONNRESET) {
		ending_set(c, END_RESET, "connection reset");
		return;
	}
	if (e == SSL_ERROR_SYSCALL && errno == 0) {
		ending_set(c, END_EOF, "EOF without TLS close_notify");
		return;
	}
	if (code != 0)
		ERR_error_string_n(code, detail, sizeof(detail));
	else
		snprintf(detail, sizeof(detail), "%s", strerror(errno));
	ERR_clear_error();
	snprintf(text, sizeof(text), "read error: %s", detail);
	ending_set(c, END_ERROR, text);
}

/* Read what TLS has ready and feed it to the frame parser. */
static void
conn_read(struct conn *c)
{
	int	 i, n, e;

	c->read_wants_write = 0;
	c->more_to_read = 0;
	for (i = 0; c->ending == END_NONE; i++) {
		if (i == READS_PER_ROUND) {
			c->more_to_read = 1;
			return;
		}
		n = SSL_read(c->ssl, c->rbuf, READ_BUF);
		if (n > 0) {
			c->last_progress = now();
			if (c->o->mode == MODE_RAW)
				payload_deliver(c, c->rbuf, n);
			else
				rx_feed(c, c->rbuf, n);
			continue;
		}
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ)
			return;
		if (e == SSL_ERROR_WANT_WRITE) {
			c->read_wants_write = 1;
			return;
		}
		read_failed(c, n);
	}
}

/* Write queued bytes until TLS would block. */
static void
conn_flush(struct conn *c)
{
	const char	*reason;
	int		 n, e;

	while (queue_pending(&c->out) > 0 && !c->write_failed) {
		n = SSL_write(c->ssl, c->out.data + c->out.off,
		    queue_pending(&c->out));
		if (n > 0) {
			c->out.off += n;
			c->last_progress = now();
			continue;
		}
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			return;
		c->write_failed = 1;
		reason = ERR_reason_error_string(ERR_peek_error());
		snprintf(c->write_error, sizeof(c->write_error), "%s",
		    e == SSL_ERROR_SYSCALL ? strerror(errno) :
		    reason != NULL ? reason : "TLS error");
		if (c->o->mode == MODE_BADFRAME)
			event_add(c, "write failed with %zu bytes unsent (%s)",
			    queue_pending(&c->out), c->write_error);
		ERR_clear_error();
		c->out.off = c->out.len = 0;
	}
}

/* Wait until fd is ready for events or the deadline passes. */
static int
wait_fd(int fd, short events, double deadline)
{
	struct pollfd	 pfd = { fd, events, 0 };
	int		 n;

	do {
		n = poll(&pfd, 1, ms_until(deadline));
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		err(EXIT_FAIL, "poll");
	return n;
}

static int
tcp_connect(const struct options *o, double deadline)
{
	struct addrinfo	 hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int		 fd = -1, e, one = 1;
	socklen_t	 len = sizeof(e);

	if ((e = getaddrinfo(o->host, o->port, &hints, &res)) != 0)
		errx(EXIT_HANDSHAKE, "%s port %s: %s", o->host, o->port,
		    gai_strerror(e));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno != EINPROGRESS)
			e = errno;
		else if (wait_fd(fd, POLLOUT, deadline) == 0)
			e = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
			e = errno;
		if (e == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		errx(EXIT_HANDSHAKE, "connect to %s port %s: %s", o->host,
		    o->port, strerror(e));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void
fingerprint_text(X509 *cert, char *out, size_t outlen)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 len, i;

	if (X509_digest(cert, EVP_sha256(), md, &len) != 1)
		fatal_ssl(EXIT_HANDSHAKE, "X509_digest failed");
	out[0] = '\0';
	for (i = 0; i < len && 3 * i + 3 <= outlen; i++)
		snprintf(out + 3 * i, outlen - 3 * i, "%02X%s", md[i],
		    i + 1 < len ? ":" : "");
}

/* Compare the leaf certificate with the -f pin; exit 3 on a mismatch. */
static void
fingerprint_check(struct conn *c)
{
	X509	*cert;
	char	 fp[3 * EVP_MAX_MD_SIZE + 1];

	if ((cert = SSL_get1_peer_certificate(c->ssl)) == NULL)
		errx(EXIT_HANDSHAKE, "the server sent no certificate");
	fingerprint_text(cert, fp, sizeof(fp));
	X509_free(cert);
	if (c->o->verbose)
		warnx("server certificate SHA-256 fingerprint %s", fp);
	if (c->o->fingerprint != NULL &&
	    strcasecmp(c->o->fingerprint, fp) != 0)
		errx(EXIT_FINGERPRINT, "certificate fingerprint mismatch: "
		    "expected %s, server sent %s", c->o->fingerprint, fp);
}

static SSL_CTX *
tls_context(const struct options *o)
{
	static const unsigned char	 alpn[] = "\x08http/1.1";
	SSL_CTX				*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatal_ssl(EXIT_HANDSHAKE, "SSL_CTX_new failed");
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		fatal_ssl(EXIT_HANDSHAKE, "cannot require TLS 1.2");
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (o->mode != MODE_RAW &&
	    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0)
		fatal_ssl(EXIT_HANDSHAKE, "SSL_CTX_set_alpn_protos failed");
	if (o->insecure || o->fingerprint != NULL)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	else {
		if (SSL_CTX_set_default_verify_paths(ctx) != 1)
			fatal_ssl(EXIT_HANDSHAKE, "cannot load the system "
			    "CA certificates");
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return ctx;
}

static void
tls_connect(struct conn *c, double deadline)
{
	struct options	*o = c->o;
	unsigned char	 addr[sizeof(struct in6_addr)];
	int		 n, e, numeric;

	c->ctx = tls_context(o);
	if ((c->ssl = SSL_new(c->ctx)) == NULL)
		fatal_ssl(EXIT_HANDSHAKE, "SSL_new failed");
	numeric = inet_pton(AF_INET, o->host, addr) == 1 ||
	    inet_pton(AF_INET6, o->host, addr) == 1;
	if (!numeric)
		SSL_set_tlsext_host_name(c->ssl, o->host);
	if (!o->insecure && o->fingerprint == NULL)
		SSL_set1_host(c->ssl, o->host);
	SSL_set_fd(c->ssl, c->fd);
	while ((n = SSL_connect(c->ssl)) != 1) {
		e = SSL_get_error(c->ssl, n);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			fatal_ssl(EXIT_HANDSHAKE, "TLS handshake with %s "
			    "failed", o->hostport);
		if (wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN :
		    POLLOUT, deadline) == 0)
			errx(EXIT_HANDSHAKE, "TLS handshake with %s timed "
			    "out after %d s", o->hostport, o->timeout);
	}
	fingerprint_check(c);
	if (o->verbose)
		warnx("connected to %s with %s, %s", o->hostport,
		    SSL_get_version(c->ssl), SSL_get_cipher(c->ssl));
}

/* Upgrade handshake */

static void
base64(const unsigned char *in, size_t len, char *out, size_t outlen)
{
	if (outlen < 4 * ((len + 2) / 3) + 1)
		errx(EXIT_FAIL, "base64 buffer too small");
	EVP_EncodeBlock((unsigned char *)out, in, len);
}

static void
accept_value(const char *key, char *out, size_t outlen)
{
	unsigned char	 md[SHA_DIGEST_LENGTH];
	char		 buf[128];

	snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);
	SHA1((unsigned char *)buf, strlen(buf), md);
	base64(md, sizeof(md), out, outlen);
}

static void
upgrade_request(struct conn *c, const char *key)
{
	struct options	*o = c->o;
	char		 buf[8192];
	int		 n, i;

	n = snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n", o->target, o->hostport, key);
	if (o->protocol != NULL)
		n += snprintf(buf + n, sizeof(buf) - n,
		    "Sec-WebSocket-Protocol: %s\r\n", o->protocol);
	for (i = 0; i < o->nheaders && n < (int)sizeof(buf); i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s\r\n",
		    o->headers[i]);
	if (n < (int)sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - n, "\r\n");
	if (n >= (int)sizeof(buf))
		errx(EXIT_USAGE, "request headers longer than %zu bytes",
		    sizeof(buf));
	queue_add(&c->out, buf, n);
}

/*
 * Read from TLS into c->in until the predicate returns true or the
 * deadline passes.  Returns 0 on success, -1 on EOF, error or timeout.
 */
static int
read_until(struct conn *c, double deadline, int (*enough)(struct conn *))
{
	int	 n, e;

	while (!enough(c)) {
		queue_reserve(&c->in, 16384);
		n = SSL_read(c->ssl, c->in.data + c->in.len, 16384);
		if (n > 0) {
			c->in.len += n;
			continue;
		}
		e = SSL_get_error(c->ssl, n);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			read_failed(c, n);
			return -1;
		}
		if (wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN :
		    POLLOUT, deadline) == 0) {
			ending_set(c, END_ERROR, "timed out");
			return -1;
		}
	}
	return 0;
}

static unsigned char *
header_end(const struct conn *c)
{
	return memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
}

static int
header_complete(struct conn *c)
{
	return header_end(c) != NULL || c->in.len > MAX_RESPONSE;
}

static int
body_complete(struct conn *c)
{
	return c->in.len >= c->want;
}

/*
 * Find a header's value in a NUL-terminated response head.  Returns a
 * pointer into a static copy, or NULL.
 */
static const char *
header_value(const char *head, const char *name)
{
	static char	 value[1024];
	const char	*p, *end;
	size_t		 nlen = strlen(name), vlen;

	for (p = strstr(head, "\r\n"); p != NULL; p = strstr(p, "\r\n")) {
		p += 2;
		if (strncasecmp(p, name, nlen) != 0 || p[nlen] != ':')
			continue;
		p += nlen + 1;
		p += strspn(p, " \t");
		end = strstr(p, "\r\n");
		vlen = end != NULL ? (size_t)(end - p) : strlen(p);
		while (vlen > 0 && (p[vlen - 1] == ' ' || p[vlen - 1] == '\t'))
			vlen--;
		if (vlen >= sizeof(value))
			vlen = sizeof(value) - 1;
		memcpy(value, p, vlen);
		value[vlen] = '\0';
		return value;
	}
	return NULL;
}

static long
content_length(const char *head)
{
	const char	*v = header_value(head, "Content-Length");
	char		*end;
	long		 n;

	if (v == NULL)
		return -1;
	n = strtol(v, &end, 10);
	if (end == v || *end != '\0' || n < 0)
		return -1;
	return n;
}

/* Print the status line and the body of a rejected upgrade, then exit 2. */
static void __attribute__((noreturn))
upgrade_rejected(struct conn *c, char *head, size_t headlen, double deadline)
{
	char	*eol = strstr(head, "\r\n");
	long	 clen = content_length(head);

	if (eol != NULL)
		*eol = '\0';
	fprintf(stderr, "wstool: upgrade rejected: %s\n", head);
	c->want = headlen + (clen >= 0 && clen < MAX_BODY ? clen :
	    MAX_BODY);
	read_until(c, clen >= 0 ? deadline : now() + 1, body_complete);
	if (c->in.len > headlen) {
		fwrite(c->in.data + headlen, 1, c->in.len - headlen, stderr);
		fputc('\n', stderr);
	}
	exit(EXIT_HANDSHAKE);
}

static int
token_listed(const char *list, const char *token)
{
	const char	*p = list;
	size_t		 tlen = strlen(token), n;

	while (*p != '\0') {
		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == tlen && strncasecmp(p, token, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

/* Check the headers of the 101 response and exit 2 if one is wrong. */
static void
upgrade_check(struct conn *c, const char *head, const char *key)
{
	const char	*v;
	char		 expected[64];

	v = header_value(head, "Upgrade");
	if (v == NULL || strcasecmp(v, "websocket") != 0)
		errx(EXIT_HANDSHAKE, "101 without 'Upgrade: websocket' "
		    "(got '%s')", v ? v : "");
	v = header_value(head, "Connection");
	if (v == NULL || !token_listed(v, "upgrade"))
		errx(EXIT_HANDSHAKE, "101 without 'Connection: upgrade' "
		    "(got '%s')", v ? v : "");
	accept_value(key, expected, sizeof(expected));
	v = header_value(head, "Sec-WebSocket-Accept");
	if (v == NULL || strcmp(v, expected) != 0)
		errx(EXIT_HANDSHAKE, "Sec-WebSocket-Accept is '%s', expected "
		    "'%s'", v ? v : "", expected);
	v = header_value(head, "Sec-WebSocket-Protocol");
	if (c->o->protocol == NULL && v != NULL)
		errx(EXIT_HANDSHAKE, "server chose Sec-WebSocket-Protocol "
		    "'%s' that was not requested", v);
	if (c->o->protocol != NULL && (v == NULL ||
	    strcmp(v, c->o->protocol) != 0))
		errx(EXIT_HANDSHAKE, "Sec-WebSocket-Protocol is '%s', "
		    "expected '%s'", v ? v : "(missing)", c->o->protocol);
}

/*
 * Send the upgrade request and check the 101.  Frame bytes that came in
 * the same read as the response are parsed, not dropped.
 */
static void
upgrade(struct conn *c, double deadline)
{
	unsigned char	 raw[16], *end;
	char		 key[32], *head;
	size_t		 headlen;
	int		 status;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		fatal_ssl(EXIT_HANDSHAKE, "RAND_bytes failed");
	base64(raw, sizeof(raw), key, sizeof(key));
	upgrade_request(c, key);
	while (queue_pending(&c->out) > 0 && !c->write_failed) {
		conn_flush(c);
		if (queue_pending(&c->out) > 0 &&
		    wait_fd(c->fd, POLLOUT, deadline) == 0)
			errx(EXIT_HANDSHAKE, "sending the upgrade request "
			    "timed out after %d s", c->o->timeout);
	}
	if (c->write_failed)
		errx(EXIT_HANDSHAKE, "sending the upgrade request failed");

	if (read_until(c, deadline, header_complete) == -1 &&
	    header_end(c) == NULL)
		errx(EXIT_HANDSHAKE, "no upgrade response: %s after %zu "
		    "bytes", c->ending_text, c->in.len);
	if ((end = header_end(c)) == NULL)
		errx(EXIT_HANDSHAKE, "upgrade response header longer than "
		    "%d bytes", MAX_RESPONSE);
	headlen = end + 4 - c->in.data;
	if ((head = strndup((char *)c->in.data, headlen)) == NULL)
		err(EXIT_FAIL, "strndup");
	if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
		errx(EXIT_HANDSHAKE, "invalid status line: %.*s",
		    (int)strcspn(head, "\r\n"), head);
	if (status != 101)
		upgrade_rejected(c, head, headlen, deadline);
	upgrade_check(c, head, key);
	free(head);
	c->in.off = headlen;
	if (queue_pending(&c->in) > 0)
		rx_feed(c, c->in.data + c->in.off, queue_pending(&c->in));
	c->in.off = c->in.len = 0;
	c->ending = END_NONE;
	c->events[0] = '\0';
	if (c->o->verbose)
		warnx("upgraded: %s %s", c->o->hostport, c->o->target);
}

/* Modes: input */

/* Read stdin until the batch is full, EOF, or a read would block. */
static size_t
input_read(struct conn *c, size_t want)
{
	struct pollfd	 pfd = { STDIN_FILENO, POLLIN, 0 };
	ssize_t		 n;

	queue_reserve(&c->in, want);
	while (queue_pending(&c->in) < want) {
		if (queue_pending(&c->in) > 0 && poll(&pfd, 1, 0) == 0)
			break;
		n = read(STDIN_FILENO, c->in.data + c->in.len,
		    want - queue_pending(&c->in));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(EXIT_FAIL, "read stdin");
		if (n == 0) {
			c->input_eof = 1;
			break;
		}
		c->in.len += n;
		c->last_progress = now();
	}
	return queue_pending(&c->in);
}

/* Pipe and raw modes: frame a batch of stdin once the queue is empty. */
static void
pipe_input(struct conn *c)
{
	size_t	 fs = c->o->frame_size, batch, len;

	batch = fs >= INPUT_BATCH ? fs : fs * (INPUT_BATCH / fs);
	input_read(c, batch);
	while (queue_pending(&c->in) > 0) {
		len = queue_pending(&c->in);
		if (c->o->mode == MODE_RAW)
			queue_add(&c->out, c->in.data + c->in.off, len);
		else {
			if (len > fs)
				len = fs;
			frame_queue(c, WS_FIN | OP_BINARY,
			    c->in.data + c->in.off, len, 1);
		}
		c->in.off += len;
		c->sent += len;
	}
	c->in.off = c->in.len = 0;
}

/* Lines mode: send the next stdin line once the last one got a reply. */
static void
lines_input(struct conn *c)
{
	unsigned char	*start, *nl;
	size_t		 len;

	if (c->input_ready && !c->input_eof)
		input_read(c, queue_pending(&c->in) + 4096);
	if (c->awaiting > 0 || queue_pending(&c->in) == 0)
		return;
	start = c->in.data + c->in.off;
	nl = memchr(start, '\n', queue_pending(&c->in));
	if (nl == NULL && !c->input_eof)
		return;
	len = nl != NULL ? (size_t)(nl - start + 1) : queue_pending(&c->in);
	if (nl == NULL) {
		queue_add(&c->in, "\n", 1);
		start = c->in.data + c->in.off;
		len++;
	}
	frame_queue(c, WS_FIN | (c->o->binary_lines ? OP_BINARY : OP_TEXT),
	    start, len, 1);
	c->in.off += len;
	c->sent += len;
	c->lines_sent++;
	c->awaiting = 1;
	c->request_time = now();
}

static void
badframe_queue(struct conn *c)
{
	static unsigned char	 big[OVERSIZE_LEN];
	static const char	 small[] = "wstool bad frame";
	const char		*k = c->o->kind;
	size_t			 slen = sizeof(small) - 1;

	if (strcmp(k, "unmasked") == 0)
		frame_queue(c, WS_FIN | OP_BINARY, small, slen, 0);
	else if (strcmp(k, "fragmented") == 0)
		frame_queue(c, OP_BINARY, small, slen, 1);
	else if (strcmp(k, "rsv") == 0)
		frame_queue(c, WS_FIN | WS_RSV1 | OP_BINARY, small, slen, 1);
	else if (strcmp(k, "oversize") == 0)
		frame_queue(c, WS_FIN | OP_BINARY, big, sizeof(big), 1);
	else if (strcmp(k, "ctrl-oversize") == 0)
		frame_queue(c, WS_FIN | OP_PING, big, CONTROL_MAX + 1, 1);
	else if (strcmp(k, "opcode") == 0)
		frame_queue(c, WS_FIN | 0x3, small, slen, 1);
	else if (strcmp(k, "continuation") == 0)
		frame_queue(c, WS_FIN | OP_CONT, small, slen, 1);
	else
		errx(EXIT_USAGE, "unknown bad-frame kind '%s'", k);
}

static int
badframe_kind_valid(const char *k)
{
	static const char	*kinds[] = { "unmasked", "fragmented", "rsv",
	    "oversize", "ctrl-oversize", "opcode", "continuation" };
	size_t			 i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(k, kinds[i]) == 0)
			return 1;
	return 0;
}

/* Modes: the end of a run and its exit status */

static void
report(const struct conn *c)
{
	double	 secs = now() - c->started;

	if (!c->o->verbose)
		return;
	if (secs <= 0)
		secs = 1e-9;
	warnx("sent %llu bytes in %llu websocket frames, received %llu "
	    "bytes in %.3f s: %.1f MB/s sent, %.1f MB/s received "
	    "(MB = 10^6 bytes)", (unsigned long long)c->sent,
	    (unsigned long long)c->frames, (unsigned long long)c->received,
	    secs, c->sent / secs / 1e6, c->received / secs / 1e6);
}

/* How the connection ended, for messages. */
static const char *
end_text(const struct conn *c)
{
	static char	 buf[512];

	if (c->close_received)
		snprintf(buf, sizeof(buf), "Close %d \"%s\"%s%s",
		    c->close_status, c->close_reason,
		    c->ending != END_NONE ? ", then " : "", c->ending_text);
	else
		snprintf(buf, sizeof(buf), "%s", c->ending_text);
	return buf;
}

/*
 * Whether the end was clean: a Close with status 1000 or none, or EOF
 * without a Close unless -C requires one.
 */
static int
close_status_clean(const struct conn *c)
{
	if (!c->close_received)
		return !c->o->require_close;
	return c->close_status == CLOSE_NORMAL ||
	    c->close_status == CLOSE_NONE;
}

/* Reply to a Close from the server with a Close of the same status. */
static void
close_answer(struct conn *c)
{
	if (c->close_received && !c->close_sent && !c->write_failed &&
	    c->ending == END_NONE)
		close_queue(c, c->close_status == CLOSE_NONE ? CLOSE_NORMAL :
		    c->close_status);
}

/* Return the exit status of pipe mode once the connection has ended. */
static int
pipe_result(const struct conn *c)
{
	if (!c->input_eof || queue_pending(&c->out) > 0) {
		warnx("connection ended (%s) before the end of input: %llu "
		    "bytes sent, %llu received", end_text(c),
		    (unsigned long long)c->sent,
		    (unsigned long long)c->received);
		return EXIT_FAIL;
	}
	if (c->o->echo_wait && c->received != c->sent) {
		warnx("received %llu bytes back, sent %llu; connection ended "
		    "(%s)", (unsigned long long)c->received,
		    (unsigned long long)c->sent, end_text(c));
		return EXIT_FAIL;
	}
	if (!close_status_clean(c) || (!c->close_received &&
	    (c->ending == END_RESET || c->ending == END_ERROR))) {
		warnx("connection ended uncleanly: %s%s", end_text(c),
		    c->close_received ? "" : " (no websocket Close)");
		return EXIT_FAIL;
	}
	return 0;
}

/* Step pipe mode: returns -1 to go on, else the exit status. */
static int
pipe_state(struct conn *c)
{
	int	 flushed = queue_pending(&c->out) == 0;

	if (c->close_received || c->ending != END_NONE) {
		if (c->input_eof && flushed)
			close_answer(c);
		if (c->close_sent && queue_pending(&c->out) > 0 &&
		    c->ending == END_NONE && !c->write_failed)
			return -1;
		return pipe_result(c);
	}
	if (c->input_eof && flushed && !c->close_sent &&
	    (!c->o->echo_wait || c->received >= c->sent)) {
		close_queue(c, CLOSE_NORMAL);
		c->deadline = now() + c->o->timeout;
	}
	return -1;
}

/*
 * Step raw mode: send close_notify at the end of input, then wait for
 * EOF.  Returns -1 to go on, else the exit status.
 */
static int
raw_state(struct conn *c)
{
	int	 flushed = queue_pending(&c->out) == 0, n;

	if (c->ending != END_NONE) {
		if (!c->shutdown_sent) {
			warnx("connection ended (%s) before the end of input: "
			    "%llu bytes sent, %llu received", c->ending_text,
			    (unsigned long long)c->sent,
			    (unsigned long long)c->received);
			return EXIT_FAIL;
		}
		if (c->ending == END_RESET || c->ending == END_ERROR) {
			warnx("connection ended uncleanly: %s",
			    c->ending_text);
			return EXIT_FAIL;
		}
		return 0;
	}
	if (c->input_eof && flushed && !c->shutdown_sent) {
		n = SSL_shutdown(c->ssl);
		if (n < 0 && SSL_get_error(c->ssl, n) != SSL_ERROR_WANT_WRITE)
			fatal_ssl(EXIT_FAIL, "SSL_shutdown failed");
		if (n >= 0) {
			shutdown(c->fd, SHUT_WR);
			c->shutdown_sent = 1;
			c->deadline = now() + c->o->timeout;
		}
	}
	return -1;
}

/* Step lines mode: returns -1 to go on, else the exit status. */
static int
lines_state(struct conn *c)
{
	if (c->close_received || c->ending != END_NONE) {
		if (c->awaiting > 0 || queue_pending(&c->in) > 0) {
			warnx("connection ended (%s) after %llu lines sent, "
			    "%s", end_text(c),
			    (unsigned long long)c->lines_sent, c->awaiting ?
			    "with no reply to the last one" :
			    "with input left unsent");
			return EXIT_FAIL;
		}
		close_answer(c);
		if (c->close_sent && queue_pending(&c->out) > 0 &&
		    c->ending == END_NONE && !c->write_failed)
			return -1;
		if (!close_status_clean(c)) {
			warnx("connection ended uncleanly: %s%s", end_text(c),
			    c->close_received ? "" : " (no websocket Close)");
			return EXIT_FAIL;
		}
		return 0;
	}
	if (c->awaiting == 0 && c->input_eof && queue_pending(&c->in) == 0 &&
	    !c->close_sent) {
		close_queue(c, CLOSE_NORMAL);
		c->deadline = now() + c->o->timeout;
	}
	return -1;
}

/*
 * Step bad-frame mode: wait for Close 1002 and the end of the connection,
 * then print what came back.  Returns -1 to go on, else the exit status.
 */
static int
badframe_state(struct conn *c)
{
	int	 ok;

	close_answer(c);
	if (c->ending == END_NONE && now() < c->deadline)
		return -1;
	if (c->ending == END_NONE)
		event_add(c, "nothing more within %d s", c->o->timeout);
	ok = c->close_received && c->close_status == CLOSE_PROTOCOL &&
	    c->ending != END_NONE;
	printf("bad-frame %s: %s\n", c->o->kind,
	    c->events[0] ? c->events : "nothing came back");
	fflush(stdout);
	if (!ok)
		warnx("bad-frame %s: expected Close %d, then the end of the "
		    "connection", c->o->kind, CLOSE_PROTOCOL);
	return ok ? 0 : EXIT_FAIL;
}

/*
 * Fail a run whose write failed, after reading what the server sent
 * before, so that a Close or the way the connection ended is reported.
 */
static int
write_failure(struct conn *c)
{
	conn_read(c);
	warnx("write failed (%s) after %llu payload bytes; connection "
	    "ended: %s", c->write_error, (unsigned long long)c->sent,
	    c->close_received || c->ending != END_NONE ? end_text(c) :
	    "not yet");
	return EXIT_FAIL;
}

static int
mode_state(struct conn *c)
{
	if (c->write_failed && c->o->mode != MODE_BADFRAME)
		return write_failure(c);
	switch (c->o->mode) {
	case MODE_PIPE:
		return pipe_state(c);
	case MODE_RAW:
		return raw_state(c);
	case MODE_LINES:
		return lines_state(c);
	default:
		return badframe_state(c);
	}
}

/* Whether the mode reads stdin now. */
static int
input_wanted(const struct conn *c)
{
	if (c->input_eof || c->ending != END_NONE || c->close_sent ||
	    c->close_received)
		return 0;
	switch (c->o->mode) {
	case MODE_PIPE:
	case MODE_RAW:
		return queue_pending(&c->out) == 0;
	case MODE_LINES:
		return queue_pending(&c->in) < 1024 * 1024;
	default:
		return 0;
	}
}

/* The time by which something must happen, by mode and phase. */
static double
conn_deadline(const struct conn *c)
{
	if (c->o->mode == MODE_BADFRAME || c->close_sent || c->shutdown_sent)
		return c->deadline;
	if (c->o->mode == MODE_LINES && c->awaiting > 0)
		return c->request_time + c->o->timeout;
	return c->last_progress + c->o->timeout;
}

static int
conn_timed_out(const struct conn *c)
{
	unsigned long long	 sent = c->sent, received = c->received;

	if (c->close_sent || c->shutdown_sent)
		warnx("no Close or EOF from the server within %d s of ours; "
		    "%llu bytes sent, %llu received", c->o->timeout, sent,
		    received);
	else if (c->o->mode == MODE_LINES && c->awaiting > 0)
		warnx("no reply to line %llu within %d s",
		    (unsigned long long)c->lines_sent, c->o->timeout);
	else
		warnx("nothing sent or received for %d s; %llu bytes sent, "
		    "%llu received", c->o->timeout, sent, received);
	return EXIT_FAIL;
}

static void
input_step(struct conn *c)
{
	if (c->o->mode == MODE_LINES) {
		lines_input(c);
		return;
	}
	if ((c->o->mode == MODE_PIPE || c->o->mode == MODE_RAW) &&
	    c->input_ready && input_wanted(c))
		pipe_input(c);
}

/* Move bytes both ways until the mode decides the exit status. */
static int
conn_run(struct conn *c)
{
	struct pollfd	 pfd[2];
	int		 status, nfds, timeout;

	c->started = c->last_progress = now();
	if (c->o->mode == MODE_BADFRAME) {
		badframe_queue(c);
		c->deadline = now() + c->o->timeout;
	}
	for (;;) {
		conn_read(c);
		input_step(c);
		conn_flush(c);
		if ((status = mode_state(c)) >= 0)
			return status;
		if (now() >= conn_deadline(c))
			return conn_timed_out(c);

		pfd[0].fd = c->fd;
		pfd[0].events = POLLIN;
		if (queue_pending(&c->out) > 0 || c->read_wants_write)
			pfd[0].events |= POLLOUT;
		pfd[1].fd = STDIN_FILENO;
		pfd[1].events = POLLIN;
		nfds = input_wanted(c) ? 2 : 1;
		pfd[1].revents = 0;
		timeout = c->more_to_read ? 0 : ms_until(conn_deadline(c));
		if (poll(pfd, nfds, timeout) == -1 && errno != EINTR)
			err(EXIT_FAIL, "poll");
		c->input_ready = nfds == 2 && pfd[1].revents != 0;
	}
}

/* Setup */

/* Split https://HOST:PORT/path?query into the options. */
static void
url_parse(struct options *o, const char *url)
{
	const char	*p, *end;
	size_t		 n;

	if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (strncmp(url, "wss://", 6) == 0)
		p = url + 6;
	else
		errx(EXIT_USAGE, "%s: URL must start with https:// or wss://",
		    url);
	if (*p == '[') {
		end = strchr(p, ']');
		if (end == NULL)
			errx(EXIT_USAGE, "%s: missing ']'", url);
		n = end - p - 1;
		p++;
		end++;
	} else {
		n = strcspn(p, ":/?");
		end = p + n;
	}
	if (n == 0 || n >= sizeof(o->host))
		errx(EXIT_USAGE, "%s: invalid host", url);
	memcpy(o->host, p, n);
	o->host[n] = '\0';
	snprintf(o->port, sizeof(o->port), "443");
	if (*end == ':') {
		n = strspn(end + 1, "0123456789");
		if (n == 0 || n >= sizeof(o->port) || atoi(end + 1) > 65535)
			errx(EXIT_USAGE, "%s: invalid port", url);
		memcpy(o->port, end + 1, n);
		o->port[n] = '\0';
		end += n + 1;
	}
	if (*end != '\0' && *end != '/' && *end != '?')
		errx(EXIT_USAGE, "%s: invalid URL after the host", url);
	if (asprintf(&o->target, "%s%s", *end == '/' ? "" : "/", end) == -1)
		err(EXIT_FAIL, "asprintf");
	snprintf(o->hostport, sizeof(o->hostport), strchr(o->host, ':') ?
	    "[%s]:%s" : "%s:%s", o->host, o->port);
}

static void
mode_parse(struct options *o, int argc, char **argv)
{
	const char	*m = argc > 0 ? argv[0] : "pipe";

	if (strcmp(m, "pipe") == 0 && argc <= 1)
		o->mode = MODE_PIPE;
	else if (strcmp(m, "lines") == 0 && argc == 1)
		o->mode = MODE_LINES;
	else if (strcmp(m, "raw") == 0 && argc == 1)
		o->mode = MODE_RAW;
	else if (strcmp(m, "bad-frame") == 0 && argc == 2) {
		o->mode = MODE_BADFRAME;
		o->kind = argv[1];
		if (!badframe_kind_valid(o->kind))
			errx(EXIT_USAGE, "unknown bad-frame kind '%s'",
			    o->kind);
	} else
		usage();
}

static long
number_arg(int ch, const char *arg, long min, long max)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || n < min || n > max)
		errx(EXIT_USAGE, "-%c %s: expected a number from %ld to %ld",
		    ch, arg, min, max);
	return n;
}

static void
options_parse(struct options *o, int argc, char **argv)
{
	int	 ch;

	while ((ch = getopt(argc, argv, "BCef:H:kP:s:Tt:v")) != -1) {
		switch (ch) {
		case 'B':
			o->binary_lines = 1;
			break;
		case 'C':
			o->require_close = 1;
			break;
		case 'e':
			o->echo_wait = 1;
			break;
		case 'f':
			o->fingerprint = optarg;
			break;
		case 'H':
			if (o->nheaders == MAX_HEADERS)
				errx(EXIT_USAGE, "more than %d -H options",
				    MAX_HEADERS);
			if (strchr(optarg, ':') == NULL ||
			    strpbrk(optarg, "\r\n") != NULL)
				errx(EXIT_USAGE, "-H '%s': expected "
				    "'Name: value' on one line", optarg);
			o->headers[o->nheaders++] = optarg;
			break;
		case 'k':
			o->insecure = 1;
			break;
		case 'P':
			if (strpbrk(optarg, "\r\n") != NULL)
				errx(EXIT_USAGE, "-P: protocol contains a "
				    "line break");
			o->protocol = optarg;
			break;
		case 's':
			o->frame_size = number_arg(ch, optarg, 1, MAX_FRAME);
			break;
		case 'T':
			o->time_lines = 1;
			break;
		case 't':
			o->timeout = number_arg(ch, optarg, 1, 86400);
			break;
		case 'v':
			o->verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	url_parse(o, argv[optind]);
	mode_parse(o, argc - optind - 1, argv + optind + 1);
}

/* Send close_notify if possible, without waiting, then close. */
static void
conn_close(struct conn *c)
{
	if (c->ending == END_NONE && !c->write_failed && !c->shutdown_sent)
		SSL_shutdown(c->ssl);
	ERR_clear_error();
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	close(c->fd);
}

int
main(int argc, char **argv)
{
	struct options	 o = {
		.frame_size = DEFAULT_FRAME,
		.timeout = DEFAULT_TIMEOUT,
	};
	struct conn	 c = { .o = &o };
	double		 deadline;
	int		 status;

	options_parse(&o, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if ((c.rbuf = malloc(READ_BUF)) == NULL)
		err(EXIT_FAIL, "malloc");

	deadline = now() + o.timeout;
	c.fd = tcp_connect(&o, deadline);
	tls_connect(&c, deadline);
	if (o.mode != MODE_RAW)
		upgrade(&c, deadline);
	status = conn_run(&c);
	report(&c);
	conn_close(&c);
	return status;
}
