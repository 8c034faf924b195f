/*
 * VM config files (qemu-server/<vmid>.conf) in the syntax of Proxmox VE's
 * qemu-server (parse_vm_config and write_vm_config, read at qemu-server
 * e6352be6 with pve-common f665029): a strict parser, the writer, and
 * the property strings of drives, NICs and the other structured keys.
 *
 * File grammar, one line at a time (lines end in LF):
 *   #<text>                 description line of the current section,
 *                           percent-decoded, a newline appended
 *   description: <text>     also description, decoded, no newline
 *   <key>: <value>          key [a-z][a-z_-]*[0-9]*, value trimmed
 *   [PENDING]               pending changes (case-insensitive)
 *   [special:cloudinit]     special sections, cloudinit or fleecing
 *   [<snapname>]            a snapshot, [A-Za-z][A-Za-z0-9_-]+
 * Blank lines are skipped and do not end a section.  "delete: <list>" is
 * allowed in [PENDING] only.  "cdrom" is read as "ide2".  In the main
 * section "snapstate: prepare|delete" is dropped, elsewhere it is kept.
 *
 * Every key outside [special:cloudinit] must be in the table of supported
 * keys in vmconfig.c.  Its value must pass that key's check: a boolean,
 * an integer with a range, an enum, a string with a length and a format,
 * or a property string checked key by key.  Upstream checks enums, lengths
 * and top-level patterns only when a config is changed through its API.
 * This parser checks them when it reads the file.  Values of
 * [special:cloudinit] are kept unchecked, as upstream does, because they
 * only record what the cloud-init image was built from.
 *
 * Normalisation on read, as upstream: booleans become 1 or 0, integers
 * lose leading zeros, one pair of double quotes around an enum or
 * pattern value is removed, and ide/sata/scsi/virtio drives are
 * rewritten in canonical form (print_drive).  Other property strings,
 * efidisk0 and unusedN are kept as written.
 *
 * Warnings and errors.  These are errors in both modes: a file over
 * VMCONFIG_FILE_MAX bytes, a NUL byte, more than VMCONFIG_KEYS_MAX keys
 * in a section, more than VMCONFIG_SNAPSHOTS_MAX snapshots, and an
 * allocation failure.  Everything else the parser rejects is a warning:
 * an unknown or duplicate section header, an unsupported key, an invalid
 * value, a duplicate key, a line it cannot parse or that contains a CR,
 * and a description that is not UTF-8, contains %00 or is too long.  A
 * warning drops the line (a header: the section's lines, a description:
 * the whole description) and is counted in nwarnings.  With strict set,
 * as for a config that a migration source sends, every warning is an
 * error.
 *
 * Stricter than upstream, on purpose:
 * - Keys outside the supported table are rejected by name, including keys
 *   upstream knows (hostpciN, usbN, args, numa, ...), in every section
 *   but [special:cloudinit].  snaptime, vmstate, runningmachine,
 *   runningcpu and running-nets-host-mtu are accepted in snapshot
 *   sections only.
 * - serialN accepts only "socket": upstream refuses to migrate a VM with
 *   a host serial device.
 * - A bridge name is at most 15 bytes, the Linux interface name limit.
 * - Drive options bps, bps_rd and bps_wr are rejected: upstream replaces
 *   them with mbps*=0.000 through a conversion bug, so no writer of a
 *   real config produces them.
 * - A duplicate key in one section is a warning.  Upstream keeps the
 *   last value silently, and so does this parser when not strict.
 * - A description must be valid UTF-8 (upstream decodes it leniently,
 *   with U+FFFD for invalid sequences) and may not contain %00.
 * - Integers must fit in 64 bits, unbounded top-level counts in 32 bits,
 *   and numbers must be finite.
 * - A snapshot name is at most 40 characters, a typed value at most
 *   VMCONFIG_VALUE_MAX bytes, a name at most 255.
 * - "snapstate:" must start the line.  Upstream matches it anywhere in
 *   a line, ahead of the other keys.
 * - A digest line is accepted (40 to 64 hex digits) and never written.
 *   Upstream's schema has no digest key.
 * Upstream reads the section name of [special:CloudInit] as written and
 * then fails on every line in it.  This parser lower-cases it.
 */

#ifndef MTUNNELD_VMCONFIG_H
#define MTUNNELD_VMCONFIG_H

#include <stddef.h>
#include <stdint.h>

#define VMCONFIG_FILE_MAX	(1024 * 1024)	/* pmxcfs's file limit */
#define VMCONFIG_VALUE_MAX	4096	/* bytes of a checked value */
#define VMCONFIG_DESCRIPTION_MAX 8192	/* characters, as upstream's API */
#define VMCONFIG_NAME_MAX	255	/* bytes of "name" */
#define VMCONFIG_SNAPNAME_MAX	40
#define VMCONFIG_KEYS_MAX	1024	/* entries per section */
#define VMCONFIG_SNAPSHOTS_MAX	1024
#define VMCONFIG_ERR_MAX	512
#define VMCONFIG_WARN_LOG_MAX	100	/* logged per parse */
#define PROPSTR_KEYS_MAX	64	/* keys of the largest schema */
#define BRIDGE_NAME_MAX		15	/* IFNAMSIZ - 1 */

struct propstr_schema;

/*
 * A parsed property string: the value of each key of its schema, stored
 * in buf.  Aliases are resolved and booleans normalised to 1 or 0.  The
 * struct contains no pointers into itself, so it may be copied.
 */
struct propstr {
	const struct propstr_schema	*schema;
	uint16_t	 off[PROPSTR_KEYS_MAX];	/* 1 + offset, 0 unset */
	char		 buf[VMCONFIG_VALUE_MAX + 1];
};

/*
 * The schema of a key whose value is a property string (agent, boot, cpu,
 * machine, memory, meta, rng0, smbios1, vga), or NULL.  Drives and NICs
 * have their own functions below.
 */
const struct propstr_schema	*vmconfig_key_schema(const char *);

/*
 * Parse a property string: parts split on every ',' (there is no
 * escape), blank parts skipped, "key=value" or a bare value for the
 * schema's default key.  Rejects a part with an empty key or value, a
 * duplicate key (through an alias too), an unknown key, a bare value
 * without a default key, a missing required key and a value that fails
 * its type check.  Returns 0, or -1 with a message in err.
 */
int	propstr_parse(struct propstr *, const struct propstr_schema *,
	    const char *, char *, size_t);
/* The value of key, or NULL when it is not set. */
const char	*propstr_get(const struct propstr *, const char *);
/*
 * Print in canonical order: the default key as a bare value (a NIC as
 * "<model>=<mac>"), then the other keys sorted by name.  Sizes are
 * printed compactly (32G).  A default value that contains '=' is printed
 * as "<key>=<value>" so that it reads back the same (upstream prints it
 * bare).  Returns 0, or -1 if buf is too small.
 */
int	propstr_print(const struct propstr *, char *, size_t);

enum drive_bus {
	DRIVE_IDE,		/* ide0 to ide3 */
	DRIVE_SATA,		/* sata0 to sata5 */
	DRIVE_SCSI,		/* scsi0 to scsi30 */
	DRIVE_VIRTIO,		/* virtio0 to virtio15 */
	DRIVE_EFIDISK,		/* efidisk0 */
	DRIVE_UNUSED,		/* unused0 to unused255: a volume ID */
};

enum drive_file_kind {
	DRIVE_FILE_VOLUME,	/* <storage>:<volname> */
	DRIVE_FILE_PATH,	/* an absolute path, /dev/... on the buses */
	DRIVE_FILE_NONE,	/* "none": an empty CD-ROM drive */
	DRIVE_FILE_CDROM,	/* "cdrom": the host's physical drive */
};

struct drive {
	char			 key[12];	/* "scsi0" */
	enum drive_bus		 bus;
	unsigned		 index;
	enum drive_file_kind	 file_kind;
	int			 cdrom;		/* media=cdrom */
	int			 has_size;
	uint64_t		 size;		/* bytes, if has_size */
	struct propstr		 opts;		/* file included */
};

/*
 * Parse the value of a drive key (ideN, sataN, scsiN, virtioN, efidisk0,
 * unusedN).  file (alias volume) is the default key.  cyls, heads, secs
 * and trans are dropped.  A CD-ROM cannot be on virtio and takes no
 * snapshot or format.  Each mbps*_max needs its mbps* key, each
 * *_max_length its *_max key, and mbps (iops) excludes mbps_rd and
 * mbps_wr (iops_rd, iops_wr).  On the four buses, an absolute path must
 * be under /dev/, and a bare file name (no ':', no '/') becomes
 * local:<vmid>/<name>, or local:iso/<name> for a CD-ROM: the legacy form
 * that upstream's parse_vm_config rewrites.  NOTE: upstream checks the
 * file's format before that rewrite, so a current Proxmox VE rejects a
 * bare name.  vmid 0 rejects it too.  Returns 0, or -1 with a message.
 */
int	parse_drive(const char *, const char *, uint32_t, struct drive *,
	    char *, size_t);
/* The canonical drive string, without the key.  0, or -1 if too small. */
int	print_drive(const struct drive *, char *, size_t);
const char	*drive_get(const struct drive *, const char *);
/*
 * Set option key to value (NULL removes it) and check the drive again.
 * Returns 0, or -1 with a message in err and the drive unchanged.
 */
int	drive_set(struct drive *, const char *, const char *, char *,
	    size_t);
/* The volume ID of the drive, or NULL for a path, none or cdrom. */
const char	*drive_volid(const struct drive *);
/* Whether key names a supported drive (cdrom included, as ide2). */
int	is_drive_key(const char *);

struct net {
	unsigned	 index;		/* N of netN */
	int		 tag;		/* VLAN 1 to 4094, 0 if unset */
	int		 mtu;		/* 1 to 65520, 0 if unset */
	int		 queues;	/* 0 to 64, -1 if unset */
	int		 firewall;
	int		 link_down;
	struct propstr	 opts;
};

/*
 * Parse the value of netN (N 0 to 31).  model is the default key and
 * required.  "<model>=<mac>" sets model and macaddr.  The MAC address
 * must be unicast (the low bit of the first byte clear).  Returns 0, or
 * -1 with a message in err.
 */
int	parse_net(const char *, const char *, struct net *, char *, size_t);
/* Canonical form: "virtio=<mac>,bridge=vmbr1,...".  0, or -1. */
int	print_net(const struct net *, char *, size_t);
const char	*net_get(const struct net *, const char *);

/* Whether key may appear in the main section. */
int	vmconfig_key_supported(const char *);

/*
 * Check value for key as the parser does for the main section, and store
 * the normalised value in norm.  Returns 0, -1 for an invalid value, or
 * -2 for an unsupported key, with a message in err.
 */
int	vmconfig_check_value(const char *, const char *, uint32_t, char *,
	    size_t, char *, size_t);

struct vmconfig_entry {
	char	*key;
	char	*value;
};

enum vmconfig_section_kind {
	VMCONFIG_MAIN,
	VMCONFIG_PENDING,
	VMCONFIG_SNAPSHOT,
	VMCONFIG_SPECIAL,
};

struct vmconfig_section {
	enum vmconfig_section_kind	 kind;
	char				*name;	/* or NULL */
	char				*description;	/* or NULL */
	struct vmconfig_entry		*entries;	/* by key */
	size_t				 nentries;
};

struct vmconfig {
	struct vmconfig_section	 main;
	struct vmconfig_section	*pending;	/* or NULL */
	struct vmconfig_section	*snapshots;	/* sorted by name */
	size_t			 nsnapshots;
	struct vmconfig_section	*specials;	/* sorted by name */
	size_t			 nspecials;
	char			 digest[41];	/* SHA-1 of the file */

	size_t			 nwarnings;	/* logged or not */
	char			 warning[VMCONFIG_ERR_MAX]; /* first */
};

/* An empty config, as for a new VM. */
void	vmconfig_init(struct vmconfig *);
void	vmconfig_free(struct vmconfig *);

/*
 * Parse buf (len bytes) into cfg, which is overwritten without being
 * freed.  vmid is only used to rewrite legacy bare drive file names.
 * Returns 0, or -1 with a message in err ("line 7: unsupported config
 * key 'hostpci0'") and cfg left empty.
 */
int	vmconfig_parse(struct vmconfig *, const char *, size_t, int,
	    uint32_t, char *, size_t);

/*
 * Write cfg in upstream's layout: the main description as '#' lines,
 * keys sorted bytewise ("net10" before "net2"), then [PENDING] if it has
 * anything, the special sections sorted ([special:cloudinit] only while
 * a drive is a cloud-init volume), then the snapshots sorted.  digest is
 * never written, nor an unusedN whose volume a drive uses again.  *out
 * is allocated and NUL-terminated, *len excludes the NUL.  Returns 0, or
 * -1 with errno ENOMEM, or EFBIG when the text would exceed
 * VMCONFIG_FILE_MAX.
 */
int	vmconfig_write(const struct vmconfig *, char **, size_t *);

/* Main section access.  "description" reads and sets the description. */
const char	*vmconfig_get(const struct vmconfig *, const char *);
/*
 * Check and set key, normalised as the parser does ("cdrom" sets ide2).
 * Returns 0, or -1 with a message in err and cfg unchanged.
 */
int	vmconfig_set(struct vmconfig *, const char *, const char *, char *,
	    size_t);
/* Remove key.  Returns 0, or -1 if it was not set. */
int	vmconfig_del(struct vmconfig *, const char *);
const char	*vmconfig_section_get(const struct vmconfig_section *,
		    const char *);

/*
 * Drop what a migration target must not take over from the source: lock,
 * digest and parent, the pending changes, the snapshots and the fleecing
 * section.  vmgenid, meta and [special:cloudinit] stay.
 */
void	vmconfig_strip_for_migration(struct vmconfig *);

/*
 * Call cb for each drive of the main section (ideN, sataN, scsiN,
 * virtioN, efidisk0, unusedN) in key order, with the parsed drive.
 * drive_volid() returns its volume.  Pending changes and snapshots are not
 * visited.  Stops at the first non-zero return of cb and returns it.
 * Returns 0, or -1 when memory runs out (ENOMEM) or a stored drive fails
 * to parse (EINVAL).
 */
int	vmconfig_foreach_drive(const struct vmconfig *,
	    int (*)(const char *, const struct drive *, void *), void *);

#endif /* MTUNNELD_VMCONFIG_H */
