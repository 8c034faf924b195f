/*
 * UPIDs: see upid.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "upid.h"

#define UPID_PREFIX		"UPID:"
#define UPID_NFIELDS		7	/* node to user */
#define STAT_STARTTIME_FIELD	22	/* in /proc/PID/stat, from 1 */
#define STAT_BUF_SIZE		4096

static int
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* A pve-node name: a DNS label of letters, digits and inner '-'. */
static int
node_valid(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len >= UPID_NODE_MAX)
		return 0;
	if (!is_alnum((unsigned char)s[0]) ||
	    !is_alnum((unsigned char)s[len - 1]))
		return 0;
	for (i = 0; i < len; i++) {
		if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	}
	return 1;
}

/* A type, id or user field: no ':', '/', space or control character. */
static int
field_valid(const char *s, size_t len, int empty_ok, size_t size)
{
	size_t		 i;
	unsigned char	 c;

	if ((len == 0 && !empty_ok) || len >= size)
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f || c == ':' || c == '/')
			return 0;
	}
	return 1;
}

int
upid_format(char *out, size_t outlen, const char *node, pid_t pid,
    unsigned long long pstart, time_t starttime, const char *type,
    const char *id, const char *user)
{
	int	 n;

	if (!node_valid(node, strlen(node)) || pid <= 0 ||
	    pstart > UPID_PSTART_MAX || starttime < 0 ||
	    (unsigned long long)starttime > UINT32_MAX ||
	    !field_valid(type, strlen(type), 0, UPID_TYPE_MAX) ||
	    !field_valid(id, strlen(id), 1, UPID_ID_MAX) ||
	    !field_valid(user, strlen(user), 0, UPID_USER_MAX)) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(out, outlen, UPID_PREFIX "%s:%08X:%08llX:%08llX:%s:%s:%s:",
	    node, (unsigned int)pid, pstart, (unsigned long long)starttime,
	    type, id, user);
	if (n < 0 || (size_t)n >= outlen || (size_t)n >= UPID_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Parse mindigits to maxdigits hex digits of either case. */
static int
parse_hex(const char *s, size_t len, size_t mindigits, size_t maxdigits,
    unsigned long long *value)
{
	size_t	 i;
	char	 c;

	if (len < mindigits || len > maxdigits)
		return -1;
	*value = 0;
	for (i = 0; i < len; i++) {
		c = s[i];
		*value <<= 4;
		if (c >= '0' && c <= '9')
			*value |= (unsigned long long)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*value |= (unsigned long long)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*value |= (unsigned long long)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/*
 * Split the text after "UPID:" into its seven fields, each ended by ':'.
 * Nothing may follow the last ':'.
 */
static int
split_fields(const char *s, const char **start, size_t *len)
{
	const char	*colon;
	int		 i;

	for (i = 0; i < UPID_NFIELDS; i++) {
		if ((colon = strchr(s, ':')) == NULL)
			return -1;
		start[i] = s;
		len[i] = colon - s;
		s = colon + 1;
	}
	return *s == '\0' ? 0 : -1;
}

static void
copy_field(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int
parse_numbers(const char **f, const size_t *len, struct upid *u)
{
	unsigned long long	 pid, starttime;

	if (parse_hex(f[1], len[1], 8, 8, &pid) == -1 || pid == 0 ||
	    pid > INT_MAX)
		return -1;
	if (parse_hex(f[2], len[2], 8, 9, &u->pstart) == -1)
		return -1;
	if (parse_hex(f[3], len[3], 8, 8, &starttime) == -1)
		return -1;
	u->pid = (pid_t)pid;
	u->starttime = (time_t)starttime;
	return 0;
}

int
upid_parse(const char *text, struct upid *u)
{
	const char	*f[UPID_NFIELDS];
	size_t		 len[UPID_NFIELDS];

	memset(u, 0, sizeof(*u));
	if (strnlen(text, UPID_MAX) >= UPID_MAX ||
	    strncmp(text, UPID_PREFIX, strlen(UPID_PREFIX)) != 0 ||
	    split_fields(text + strlen(UPID_PREFIX), f, len) == -1)
		goto invalid;
	if (!node_valid(f[0], len[0]) ||
	    !field_valid(f[4], len[4], 0, UPID_TYPE_MAX) ||
	    !field_valid(f[5], len[5], 1, UPID_ID_MAX) ||
	    !field_valid(f[6], len[6], 0, UPID_USER_MAX))
		goto invalid;
	if (parse_numbers(f, len, u) == -1)
		goto invalid;
	copy_field(u->node, f[0], len[0]);
	copy_field(u->type, f[4], len[4]);
	copy_field(u->id, f[5], len[5]);
	copy_field(u->user, f[6], len[6]);
	return 0;

 invalid:
	memset(u, 0, sizeof(*u));
	errno = EINVAL;
	return -1;
}

/*
 * Read the start time (field 22) from a /proc/PID/stat line.  Field 2,
 * the command name in parentheses, may itself contain spaces and
 * parentheses, so counting starts after the last ')'.
 */
int
upid_pstart_from_stat(const char *line, unsigned long long *pstart)
{
	const char	*p, *end = NULL;
	int		 field;
	char		*numend;

	if ((p = strrchr(line, ')')) == NULL)
		goto invalid;
	p++;
	for (field = 3; field <= STAT_STARTTIME_FIELD; field++) {
		if (*p != ' ')
			goto invalid;
		p++;
		end = p + strcspn(p, " \n");
		if (end == p)
			goto invalid;
		if (field < STAT_STARTTIME_FIELD)
			p = end;
	}
	if (*p < '0' || *p > '9')
		goto invalid;
	errno = 0;
	*pstart = strtoull(p, &numend, 10);
	if (errno != 0 || numend != end)
		goto invalid;
	return 0;

 invalid:
	errno = EINVAL;
	return -1;
}

/* Read the start time of process pid, in clock ticks since boot. */
int
upid_pstart(pid_t pid, unsigned long long *pstart)
{
	char	 path[64], buf[STAT_BUF_SIZE];
	size_t	 used = 0;
	ssize_t	 n = 0;
	int	 fd, saved;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (used < sizeof(buf) - 1) {
		n = read(fd, buf + used, sizeof(buf) - 1 - used);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += n;
	}
	saved = errno;
	close(fd);
	if (n == -1) {
		errno = saved;
		return -1;
	}
	buf[used] = '\0';
	return upid_pstart_from_stat(buf, pstart);
}
