/*
 * storage.cfg: storage definitions in the SectionConfig syntax of Proxmox
 * VE (pve-common SectionConfig.pm with the pve-storage Plugin.pm rules,
 * read at pve-common f665029 and pve-storage 0c56bad), with the "dir"
 * type implemented fully.  Also the small formats that go with storages:
 * split_list, storage, node and bridge IDs, size strings, volume IDs,
 * dir image names and bandwidth limits.
 *
 * Grammar:
 *   dir: fast
 *   <TAB>path /srv/vmstore
 *   <TAB>content images,iso
 *   <empty line>
 * A header "<type>: <id>" has no leading white space, and the type is
 * lower-cased.  A property line starts with white space, then the key and
 * an optional value.  A section ends at the first empty line (a line of
 * only spaces does not end it).  Lines whose first non-blank character is
 * '#' are skipped everywhere.
 *
 * Differences from a Proxmox VE node, on purpose:
 * - No storage "local" (dir at /var/lib/vz) is added.  mtunneld is not a
 *   Proxmox VE node and offers only the storages its storage.cfg defines.
 *   A "local" section in the file is used as written, node restrictions
 *   included, where upstream replaces it unless it is dir at /var/lib/vz.
 * - Types other than dir (nfs, lvm, zfspool, rbd, any other token) are
 *   kept, marked unsupported, with their properties unchecked in props[].
 *   Upstream parses the types it has plugins for and skips the others.
 *   storage_unsupported_reason() returns the message for a caller to show.
 * - The writer is not implemented.  A "comment" line in a dir section is
 *   an unexpected property, because pve-storage defines no comment option.
 *
 * What the parser does with bad input:
 * - Errors (storagecfg_parse returns -1, err names the file and the line,
 *   and cfg is left empty): a file over STORAGECFG_FILE_MAX bytes, a line
 *   over STORAGECFG_LINE_MAX bytes, more than STORAGECFG_STORAGES_MAX
 *   storages, an allocation failure.
 * - Warnings, section skipped: an invalid storage ID in the header, a dir
 *   section left without path, content "none" combined with other types.
 * - Warnings, property dropped and the section kept: a duplicate key, a
 *   key the type does not allow, a missing or invalid value, a CR inside
 *   the value.  Each list value (content, nodes, content-dirs) is
 *   checked as a whole: one bad item drops the whole value.  A dir
 *   section without content gets images,rootdir afterwards.
 * - Warnings, line ignored: a line that is neither a header nor, inside a
 *   section, a property line (a line of only spaces, too), and a line
 *   that contains a NUL byte.
 * - A later section with an ID already defined replaces the earlier one.
 *   It does so even if the later section is then dropped, so that both are
 *   lost, as upstream.
 * Upstream also ends a section at a line "0" (Perl treats it as false),
 * and so does this parser.  A CR before the LF is trailing white space,
 * but a line of only CR does not end a section.  So in a CRLF file every
 * section after the first is lost, as upstream.
 */

#ifndef MTUNNELD_STORAGECFG_H
#define MTUNNELD_STORAGECFG_H

#include <stddef.h>
#include <stdint.h>

#define STORAGECFG_FILE_MAX	(1024 * 1024)
#define STORAGECFG_LINE_MAX	(64 * 1024)	/* bytes, without the LF */
#define STORAGECFG_STORAGES_MAX	1024
#define STORAGECFG_ERR_MAX	512
#define STORAGECFG_WARN_LOG_MAX	100	/* logged per parse, all counted */
#define STORAGE_ID_MAX		64	/* upstream has no maximum */
#define STORAGE_PATH_MAX	4095	/* dir path, bytes */
#define SIZE_STR_MAX		22	/* format_size output with NUL */
#define VOLNAME_FILE_MAX	255	/* dir image file name, bytes */

/* A list of NUL-terminated items that split_list() allocates. */
struct strlist {
	char	**items;
	size_t	  count;
};

enum storage_type {
	STORAGE_TYPE_DIR,
	STORAGE_TYPE_UNSUPPORTED,	/* any other type, see type_name */
};

/* Content types of a storage, as bits 1 << type in storage.content. */
enum storage_content {
	CONTENT_IMAGES,
	CONTENT_ROOTDIR,
	CONTENT_VZTMPL,
	CONTENT_ISO,
	CONTENT_BACKUP,
	CONTENT_SNIPPETS,
	CONTENT_IMPORT,
	CONTENT_TYPE_COUNT
};

#define CONTENT_BIT(c)		(UINT32_C(1) << (c))

/* pve-storage-image-format: the dir default format and image extension. */
enum image_format {
	IMAGE_FORMAT_RAW,
	IMAGE_FORMAT_QCOW2,
	IMAGE_FORMAT_VMDK,
	IMAGE_FORMAT_SUBVOL,
};

enum preallocation {
	PREALLOCATION_UNSET,	/* qcow2 then uses metadata, raw uses off */
	PREALLOCATION_OFF,
	PREALLOCATION_METADATA,
	PREALLOCATION_FALLOC,
	PREALLOCATION_FULL,
};

/* The keys of a bwlimit property string, as indexes of bwlimit.limit. */
enum bwlimit_op {
	BWLIMIT_DEFAULT,
	BWLIMIT_CLONE,
	BWLIMIT_MIGRATION,
	BWLIMIT_MOVE,
	BWLIMIT_RESTORE,
	BWLIMIT_OP_COUNT
};

#define BWLIMIT_UNSET		(-1.0)

/*
 * A bwlimit property string, such as "migration=51200,default=102400".
 * Each value is in KiB/s, a finite number >= 0 (decimals allowed), or
 * BWLIMIT_UNSET.
 */
struct bwlimit {
	double	 limit[BWLIMIT_OP_COUNT];
};

/* One property line of an unsupported type, unchecked. */
struct storage_property {
	char	*key;
	char	*value;		/* NULL for a bare key */
};

struct storage {
	char			 id[STORAGE_ID_MAX + 1];
	enum storage_type	 type;
	char			*type_name;	/* lower-cased header type */
	size_t			 lineno;	/* of the header */

	/* Fields of dir only.  An unsupported type leaves them at defaults. */
	char			*path;
	uint32_t		 content;	/* CONTENT_BIT()s, 0 for none */
	enum image_format	 format;	/* default raw */
	enum preallocation	 preallocation;
	struct strlist		 nodes;
	int			 nodes_set;	/* 1 even for an empty list */
	int			 disable;
	char			*is_mountpoint;	/* yes, no, a path, or NULL */
	int			 create_base_path;	/* 0, 1, -1 unset */
	int			 create_subdirs;	/* 0, 1, -1 unset */
	int			 mkdir;			/* 0, 1, -1 unset */
	char			*content_dirs[CONTENT_TYPE_COUNT];
	char			*prune_backups;	/* checked, kept as written */
	int64_t			 max_protected_backups;	/* -1 unlimited */
	int			 max_protected_backups_set;
	int			 snapshot_as_volume_chain;

	/* Every type. */
	int			 shared;	/* 1 for network types too */
	struct bwlimit		 bwlimit;

	/* Unsupported types only: each property line as written. */
	struct storage_property	*props;
	size_t			 nprops;
};

struct storagecfg {
	struct storage	*storages;	/* in file order, replaced ones last */
	size_t		 nstorages;
	char		 digest[41];	/* SHA-1 hex of the raw file */

	size_t		 nwarnings;	/* every warning, logged or not */
	size_t		 ndropped;	/* properties and sections dropped */
	char		 warning[STORAGECFG_ERR_MAX];	/* the first */
};

/*
 * Parse buf (len bytes, NUL bytes allowed) into cfg, which is overwritten
 * without being freed.  name labels messages.  Returns 0, or -1 with a
 * message in err for the errors listed at the top of this file.
 */
int	storagecfg_parse(struct storagecfg *, const char *, const char *,
	    size_t, char *, size_t);
/* Read and parse a file.  A missing file gives an empty config. */
int	storagecfg_load(struct storagecfg *, const char *, char *, size_t);
void	storagecfg_free(struct storagecfg *);
struct storage	*storagecfg_find(const struct storagecfg *, const char *);

/*
 * Check whether a storage may be used on node: a dir storage that is not
 * disabled and either has no nodes property or lists node.  An explicitly
 * empty list (as in "nodes ,") matches no node, as upstream.  An
 * unsupported type is never enabled.
 */
int	storage_enabled_on(const struct storage *, const char *);
int	storage_has_content(const struct storage *, enum storage_content);
/* Returns NULL for dir, or a message in buf for an unsupported type. */
const char	*storage_unsupported_reason(const struct storage *, char *,
		    size_t);
/* Sub-directory of path for a content type, content-dirs applied. */
const char	*storage_content_dir(const struct storage *,
		    enum storage_content);
/* Path that must be a mount point for the storage to be online, or NULL. */
const char	*storage_mountpoint(const struct storage *);
int	storage_create_base_path(const struct storage *);
int	storage_create_subdirs(const struct storage *);
/*
 * Preallocation for a new image: qcow2 defaults to metadata, raw to off,
 * and raw turns metadata into off.  Returns PREALLOCATION_UNSET for vmdk
 * and subvol, which take no preallocation option.
 */
enum preallocation	storage_preallocation(const struct storage *,
			    enum image_format);

const char	*content_type_name(enum storage_content);
int		 content_type_parse(const char *);	/* -1 unknown */
const char	*image_format_name(enum image_format);
int		 image_format_parse(const char *);	/* -1 unknown */

/*
 * split_list: the generic list splitter of pve-common (ParseUtils.pm).
 * If text (len bytes) contains a NUL byte, it is split on NUL only: empty
 * items inside are kept and trailing empty items dropped, as Perl's split
 * does.  Otherwise ',' and ';' count as white space and the items are the
 * runs of other bytes, so "a,,b;c d" gives a, b, c, d and "" gives an
 * empty list.  Returns 0, or -1 if memory ran out.
 */
#define SAFE_MAX	64	/* bytes of a value quoted in a message */
#define SAFE_BUF	(SAFE_MAX * 4 + 4)

/* A value quoted for a message: escaped, cut to SAFE_MAX bytes. */
const char	*safe_span(const char *, size_t, char *);
const char	*safe_str(const char *, char *);

int	split_list(const char *, size_t, struct strlist *);
void	strlist_free(struct strlist *);
int	strlist_contains(const struct strlist *, const char *);

/* pve-storage-id: [A-Za-z][A-Za-z0-9._-]*[A-Za-z0-9], 2 to 64 bytes. */
int	valid_storage_id(const char *);
/* pve-node: a DNS label, [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])? */
int	valid_node_name(const char *);
/* pve-bridge-id: [-_.A-Za-z0-9]+ (upstream's \w, kept to ASCII). */
int	valid_bridge_id(const char *);

/*
 * Size strings (disk-size): [0-9]+(\.[0-9]+)? then an optional unit K, M,
 * G or T, each optionally followed by "iB", in powers of 1024.  No unit
 * means bytes, and the result is truncated to whole bytes: "1.5G" is
 * 1610612736.  Units are case-sensitive.  Returns 0, or -1 for invalid
 * syntax, more than 128 bytes, or a result over INT64_MAX (so that it
 * fits an off_t).  NOTE: upstream computes with doubles, so a value with
 * more than about 15 significant digits can round differently there.
 */
int	parse_size(const char *, uint64_t *);
/* The largest of K M G T that divides bytes exactly: 1536M, 1000, 0T. */
int	format_size(uint64_t, char *, size_t);

/*
 * Split a volume ID "<storeid>:<volname>" at the first ':'.  storeid must
 * be a valid storage ID and volname not empty and free of LF.  Returns 0,
 * or -1 if it is invalid or a buffer is too small.
 */
int	parse_volid(const char *, char *, size_t, char *, size_t);

/* A dir volume name of the images form "<vmid>/<file>". */
struct image_volname {
	uint32_t		 vmid;	/* owner: the folder, not the file */
	char			 name[VOLNAME_FILE_MAX + 1];
	enum image_format	 format;	/* from the extension */
	int			 is_base;	/* name starts with base- */
};

/*
 * Parse an images volume name.  The vmid is a pve-vmid (100 to
 * 999999999).  The file name is "(vm|base|subvol)-<vmid>-<rest>.<fmt>" or
 * "[base-]<name>.<fmt>", fmt one of raw qcow2 vmdk subvol, with no '/',
 * no white space or other control bytes and no "..".  "snap-*.qcow2" is
 * rejected because volume-chain snapshots use such names.  The linked
 * clone form "<basevmid>/<basefile>/<vmid>/<file>" is rejected too.
 * Stricter than upstream, which takes any digits as vmid and allows "..".
 * Returns 0, or -1 with a message in err.
 */
int	dir_parse_image_volname(const char *, struct image_volname *, char *,
	    size_t);

/*
 * The file and format of an images volume on a dir storage of cfg:
 * <path>/<images dir>/<vmid>/<file>.  Returns 0, or -1 with a message
 * naming the volume ID in err.
 */
int	storage_volume_path(const struct storagecfg *, const char *, char *,
	    size_t, char *, size_t, char *, size_t);

/*
 * Parse a bwlimit property string into bw.  Parts are split on ',', and
 * empty parts are skipped.  Each part must be "<key>=<value>" with one of
 * the five keys at most once.  A value must be a number >= 0 in Perl
 * syntax ([+-]?, digits with an optional '.', an optional exponent).
 * Unlike upstream, a value that overflows a double (1e999) is rejected.
 * Returns 0, or -1 with a message in err.
 */
int	parse_bwlimit(const char *, struct bwlimit *, char *, size_t);
void	bwlimit_init(struct bwlimit *);

/*
 * Privilege check for get_bandwidth_limit: check returns 1 when the
 * caller has privilege priv ("Datastore.Allocate", "Sys.Modify") on the
 * ACL path path ("/storage", "/storage/<id>", "/").
 */
struct bwlimit_access {
	int	(*check)(void *, const char *, const char *);
	void	 *arg;
};

/*
 * Compute the bandwidth limit in KiB/s for operation (NULL means
 * "migration") over the storages named in ids (NULL entries are skipped,
 * a repeated ID counts once), as PVE::Storage::get_bandwidth_limit.
 *
 * For one bwlimit, the limit is its operation key if set, otherwise its
 * default key, otherwise there is none.  An operation other than the five
 * keys uses only default.  Limits are applied one at a time, in order: a
 * limit replaces the running value when that value is unset or 0, or
 * when the limit is smaller.  The running value starts at override, so an
 * override of 0 works as "none" there.
 *
 * override BWLIMIT_UNSET (not requested): access is not consulted.  Every
 * listed storage's limit applies.  The datacenter limit applies as well
 * if any listed storage has none, or if no non-NULL storage is listed.
 *
 * override set: access decides which limits the caller may bypass.
 *  1. Datastore.Allocate on /storage: return override as is.
 *  2. For each storage, Datastore.Allocate on /storage/<id> skips its
 *     limit.  A storage checked without a limit brings in the datacenter.
 *  3. If no checked storage lacked a limit, return now: storage limits
 *     take precedence.  This also happens when every storage was skipped
 *     in step 2.
 *  4. Sys.Modify on / skips the datacenter limit.  Otherwise it applies.
 * A NULL access means no privileges.  A NULL datacenter means no limit.
 *
 * Stores the result in *limit: KiB/s, or BWLIMIT_UNSET for no limit.  0
 * can come back too (an override or a configured 0).  NOTE: whether the
 * consumers read 0 as "unlimited" is not confirmed upstream.  Returns 0,
 * or -1 with a message in err when a storage that had to be checked does
 * not exist.
 */
int	get_bandwidth_limit(const struct storagecfg *, const char *,
	    const char *const *, size_t, const struct bwlimit *, double,
	    const struct bwlimit_access *, double *, char *, size_t);

#endif /* MTUNNELD_STORAGECFG_H */
