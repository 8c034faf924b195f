/*
 * The daemon config file: one "keyword value" per line, '#' comments.
 */

#ifndef MTUNNELD_CONF_H
#define MTUNNELD_CONF_H

#include <stddef.h>
#include <stdint.h>

#define CONF_DEFAULT_FILE	"/etc/mtunneld/mtunneld.conf"
#define CONF_PATH_MAX		200	/* room left for names below it */
#define CONF_NAME_MAX		32
#define CONF_NODE_MAX		63
#define CONF_FILE_MAX		(64 * 1024)
#define CONF_LINE_MAX		1024
#define CONF_ERR_MAX		512
#define CONF_PREFORK_MAX	32
#define CONF_BRIDGES_MAX	64

/* Backend of a VM config's bridge=NAME ("bridge NAME tap|user|none"). */
enum conf_bridge_backend {
	CONF_BRIDGE_TAP,	/* a tap device plugged into the bridge */
	CONF_BRIDGE_USER,	/* QEMU user-mode networking */
	CONF_BRIDGE_NONE,	/* the NIC has no backend */
};

struct conf_bridge {
	char				 name[16];	/* IFNAMSIZ */
	enum conf_bridge_backend	 backend;
};

struct mtunneld_conf {
	char		 listen[64];	/* address, or "*" for any */
	uint16_t	 port;		/* 0 picks a free port (tests) */
	char		 node[CONF_NODE_MAX + 1];
	char		 user[CONF_NAME_MAX + 1];
	char		 tunnel_user[CONF_NAME_MAX + 1];
	char		 qemu_user[CONF_NAME_MAX + 1];
	int		 prefork;
	int		 accept_timeout;	/* seconds */
	int		 ticket_lifetime;	/* seconds */
	char		 prefix[CONF_PATH_MAX + 1];
	char		 confdir[CONF_PATH_MAX + 1];
	char		 statedir[CONF_PATH_MAX + 1];
	char		 rundir[CONF_PATH_MAX + 1];
	char		 emptydir[CONF_PATH_MAX + 1];
	char		 audit_log[CONF_PATH_MAX + 1];
	char		 tls_cert[CONF_PATH_MAX + 1];
	char		 tls_key[CONF_PATH_MAX + 1];
	char		 qemu[CONF_PATH_MAX + 1];
	char		 qemu_img[CONF_PATH_MAX + 1];
	char		 bwlimit[256];	/* daemon-wide, "migration=N,..." */
	struct conf_bridge bridges[CONF_BRIDGES_MAX];
	size_t		 nbridges;
};

void	conf_defaults(struct mtunneld_conf *);
int	conf_parse_buf(struct mtunneld_conf *, const char *, const char *,
	    size_t, char *, size_t);
int	conf_parse_file(struct mtunneld_conf *, const char *, int, char *,
	    size_t);
int	conf_finish(struct mtunneld_conf *, const char *, char *, size_t);
/* The "bridge" setting for name, or NULL when there is none. */
const struct conf_bridge *conf_bridge_find(const struct mtunneld_conf *,
	    const char *);

#endif /* MTUNNELD_CONF_H */
