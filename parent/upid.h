/*
 * UPIDs, the Proxmox VE task ids that the mtunnel call returns:
 *
 *	UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:
 *
 * pid and starttime are 8 hex digits; pstart, the process start time in
 * clock ticks since boot, is 8 or 9.  The writer uses upper case, the
 * parser accepts either case.  node is a DNS label.  type and user are
 * non-empty and id may be empty, but none of the three contains ':', '/',
 * white space or a control character.
 */

#ifndef MTUNNELD_UPID_H
#define MTUNNELD_UPID_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define UPID_MAX		256	/* whole UPID, with the NUL */
#define UPID_NODE_MAX		64	/* with the NUL */
#define UPID_TYPE_MAX		32
#define UPID_ID_MAX		64
#define UPID_USER_MAX		128
#define UPID_PSTART_MAX		0xfffffffffULL	/* 9 hex digits */

struct upid {
	char			 node[UPID_NODE_MAX];
	pid_t			 pid;
	unsigned long long	 pstart;	/* clock ticks since boot */
	time_t			 starttime;	/* Unix time, seconds */
	char			 type[UPID_TYPE_MAX];
	char			 id[UPID_ID_MAX];
	char			 user[UPID_USER_MAX];
};

int	upid_format(char *, size_t, const char *, pid_t, unsigned long long,
	    time_t, const char *, const char *, const char *);
int	upid_parse(const char *, struct upid *);
int	upid_pstart(pid_t, unsigned long long *);
int	upid_pstart_from_stat(const char *, unsigned long long *);

#endif /* MTUNNELD_UPID_H */
