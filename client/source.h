/*
 * The source VM: its config, the volumes to move and the NICs whose
 * bridges are mapped.  Needs conf.h, storagecfg.h and vmconfig.h.
 */

#ifndef MTUNNEL_SOURCE_H
#define MTUNNEL_SOURCE_H

#include <limits.h>
#include <stdint.h>

#include <jansson.h>

#define VOLUMES_MAX	64
#define VOLID_MAX	(STORAGE_ID_MAX + VOLNAME_FILE_MAX + 16)

struct volume {
	char		 key[16];		/* drive key, "scsi0" */
	int		 online;		/* mirrored over NBD */
	char		 drivestr[VMCONFIG_VALUE_MAX + 1];	/* from disk */
	char		 volid[VOLID_MAX];	/* on this host */
	char		 path[PATH_MAX];
	char		 format[8];		/* raw or qcow2 */
	uint64_t	 file_size;		/* bytes sent */
	uint64_t	 size;			/* bytes the guest sees */
	char		 target_storage[ID_MAX + 1];
	char		 target_volname[VOLNAME_FILE_MAX + 1];
	char		 target_volid[VOLID_MAX];	/* once imported */
};

struct bridge_use {
	char	 key[16];	/* "net0" */
	char	 src[ID_MAX + 1];
	char	 dst[ID_MAX + 1];
};

struct source {
	uint32_t		 vmid;
	uint32_t		 target_vmid;
	char			 confpath[PATH_MAX];
	char			 rundir[PATH_MAX];
	struct vmconfig		 cfg;
	const struct storagecfg	*storages;
	const struct idmap	*storage_map;
	const struct idmap	*bridge_map;
	struct volume		 volumes[VOLUMES_MAX];	/* sorted by volid */
	size_t			 nvolumes;
	struct bridge_use	 bridges[32];
	size_t			 nbridges;
	char			 err[ERR_MAX];
};

int	 source_load_config(struct source *, char *, size_t);
int	 source_set_lock(struct source *, const char *, char *, size_t);
int	 source_running(const struct source *);
int	 source_scan(struct source *, char *, size_t);
char	*source_target_config(struct source *, char *, size_t);
int	 source_destroy(struct source *, char *, size_t);

/* One migration: the command line, this host, the source VM, the target. */
struct migration {
	struct target		 target;
	struct idmap		 storage_map;
	struct idmap		 bridge_map;
	uint32_t		 vmid;
	uint32_t		 target_vmid;
	int			 online;
	int			 delete;
	double			 bwlimit;	/* KiB/s, 0 for none */
	struct mtunneld_conf	 conf;
	struct storagecfg	 storages;
	struct source		 src;
	struct client		*client;
	char			 node[CONF_NODE_MAX + 1];
	int			 tunnel_open;	/* POST mtunnel succeeded */
	int			 locked;	/* source config locked */
	double			 limits[VOLUMES_MAX];	/* KiB/s per volume */
};

/* migrate.c: steps that the live sequence shares. */
int	 command(struct migration *, json_t *, int, json_t **, char *, size_t);
int	 volume_bwlimit(struct migration *, const char *, double *, char *,
	    size_t);
int	 import_volume(struct migration *, struct volume *, double, char *,
	    size_t);
int	 send_config(struct migration *, char *, size_t);

/* live.c */
int	 migrate_live(struct migration *, char *, size_t);

#endif /* MTUNNEL_SOURCE_H */
