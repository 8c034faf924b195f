/*
 * Unit tests for storage.cfg parsing and the storage helpers
 * (common/storagecfg.c): the SectionConfig rules one case at a time,
 * the dir options, hostile and oversized input, split_list, ID syntax,
 * size strings, volume IDs, image names and bandwidth limits.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <cmocka.h>

#include "log.h"
#include "storagecfg.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define assert_contains(s, sub) do {					\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("\"%s\" does not contain \"%s\"", (s), (sub));	\
} while (0)

#define IMAGES_ROOTDIR	(CONTENT_BIT(CONTENT_IMAGES) | \
	CONTENT_BIT(CONTENT_ROOTDIR))
#define ANY		UINT32_MAX	/* do not check this field */

/* Parse text that must load.  The caller frees cfg. */
static void
parse_ok(struct storagecfg *cfg, const char *text, size_t len)
{
	char	 err[STORAGECFG_ERR_MAX] = "";

	if (storagecfg_parse(cfg, "storage.cfg", text, len, err,
	    sizeof(err)) != 0)
		fail_msg("parse failed: %s", err);
}

static void
parse_str(struct storagecfg *cfg, const char *text)
{
	parse_ok(cfg, text, strlen(text));
}

/* The composed example of the dir plugin documentation. */
static void
test_example_composed(void **state)
{
	static const char	 text[] =
	    "dir: fast\n"
	    "\tpath /srv/vmstore\n"
	    "\tbwlimit migration=204800,default=409600\n"
	    "\tcontent images,iso\n"
	    "\tformat qcow2\n"
	    "\tnodes tgt1\n"
	    "\tpreallocation falloc\n"
	    "\n"
	    "dir: slow\n"
	    "\tdisable\n"
	    "\tpath /mnt/archive\n"
	    "\tcontent images\n"
	    "\tshared 1\n"
	    "\n";
	struct storagecfg	 cfg;
	struct storage		*fast, *slow;

	parse_str(&cfg, text);
	assert_int_equal(cfg.nwarnings, 0);
	assert_int_equal(cfg.nstorages, 2);
	assert_int_equal(strlen(cfg.digest), 40);

	fast = storagecfg_find(&cfg, "fast");
	assert_non_null(fast);
	assert_ptr_equal(fast, &cfg.storages[0]);
	assert_int_equal(fast->type, STORAGE_TYPE_DIR);
	assert_string_equal(fast->type_name, "dir");
	assert_string_equal(fast->path, "/srv/vmstore");
	assert_true(fast->bwlimit.limit[BWLIMIT_MIGRATION] == 204800);
	assert_true(fast->bwlimit.limit[BWLIMIT_DEFAULT] == 409600);
	assert_true(fast->bwlimit.limit[BWLIMIT_CLONE] == BWLIMIT_UNSET);
	assert_int_equal(fast->content, CONTENT_BIT(CONTENT_IMAGES) |
	    CONTENT_BIT(CONTENT_ISO));
	assert_int_equal(fast->format, IMAGE_FORMAT_QCOW2);
	assert_int_equal(fast->nodes_set, 1);
	assert_int_equal(fast->nodes.count, 1);
	assert_string_equal(fast->nodes.items[0], "tgt1");
	assert_int_equal(fast->preallocation, PREALLOCATION_FALLOC);
	assert_int_equal(fast->disable, 0);
	assert_int_equal(fast->shared, 0);
	assert_true(storage_enabled_on(fast, "tgt1"));
	assert_false(storage_enabled_on(fast, "tgt2"));
	assert_true(storage_has_content(fast, CONTENT_IMAGES));
	assert_false(storage_has_content(fast, CONTENT_ROOTDIR));
	assert_null(storage_unsupported_reason(fast, NULL, 0));

	slow = storagecfg_find(&cfg, "slow");
	assert_non_null(slow);
	assert_int_equal(slow->disable, 1);
	assert_string_equal(slow->path, "/mnt/archive");
	assert_int_equal(slow->content, CONTENT_BIT(CONTENT_IMAGES));
	assert_int_equal(slow->shared, 1);
	assert_int_equal(slow->format, IMAGE_FORMAT_RAW);
	assert_int_equal(slow->nodes_set, 0);
	assert_false(storage_enabled_on(slow, "tgt1"));

	assert_null(storagecfg_find(&cfg, "local"));
	storagecfg_free(&cfg);
	assert_int_equal(cfg.nstorages, 0);
	assert_null(cfg.storages);
}

/* One SectionConfig rule or dir option, checked on the storage "st". */
struct rule_case {
	const char	*name;
	const char	*text;
	int		 present;	/* storage "st" is loaded */
	size_t		 nwarnings;
	const char	*warning;	/* in the first warning, or NULL */
	const char	*path;		/* expected when present, or NULL */
	uint32_t	 content;	/* expected when present, or ANY */
	int		 disable;	/* expected when present, or -1 */
	size_t		 len;		/* of text, or 0 for strlen */
};

/* Texts with NUL bytes, so that sizeof gives their length. */
static const char nul_in_property[] =
    "dir: st\n\tpath /x\n\tcontent iso\0images\n\tdisable\n";
static const char nul_in_header[] = "dir: st\0\n\tpath /x\n";

static const struct rule_case rule_cases[] = {
	{ "comment line inside a section",
	    "dir: st\n\tpath /x\n# note\n\tcontent iso\n",
	    1, 0, NULL, "/x", CONTENT_BIT(CONTENT_ISO), 0, 0 },
	{ "indented comment inside a section",
	    "dir: st\n\tpath /x\n   \t# note\n\tcontent iso\n",
	    1, 0, NULL, "/x", CONTENT_BIT(CONTENT_ISO), 0, 0 },
	{ "comment before the header",
	    "# storages\ndir: st\n\tpath /x\n",
	    1, 0, NULL, "/x", IMAGES_ROOTDIR, 0, 0 },
	{ "blank-only line does not end a section",
	    "dir: st\n\tpath /x\n  \t \n\tcontent iso\n",
	    1, 1, "not a property line", "/x", CONTENT_BIT(CONTENT_ISO), 0, 0 },
	{ "empty line ends a section",
	    "dir: st\n\tpath /x\n\n\tcontent iso\n",
	    1, 1, "not a section header", "/x", IMAGES_ROOTDIR, 0, 0 },
	{ "line 0 ends a section",
	    "dir: st\n\tpath /x\n0\n\tcontent iso\n",
	    1, 1, "line 4: line ignored", "/x", IMAGES_ROOTDIR, 0, 0 },
	{ "header inside a section is ignored",
	    "dir: st\n\tpath /x\ndir: other\n\tcontent iso\n",
	    1, 1, "line 3: storage 'st': line ignored", "/x",
	    CONTENT_BIT(CONTENT_ISO), 0, 0 },
	{ "bare disable means 1",
	    "dir: st\n\tdisable\n\tpath /x\n",
	    1, 0, NULL, "/x", ANY, 1, 0 },
	{ "disable 1",
	    "dir: st\n\tpath /x\n\tdisable 1\n",
	    1, 0, NULL, "/x", ANY, 1, 0 },
	{ "disable 0",
	    "dir: st\n\tpath /x\n\tdisable 0\n",
	    1, 0, NULL, "/x", ANY, 0, 0 },
	{ "disable yes is rejected",
	    "dir: st\n\tpath /x\n\tdisable yes\n",
	    1, 1, "property 'disable' ignored: expected 0 or 1", "/x", ANY,
	    0, 0 },
	{ "disable true is rejected",
	    "dir: st\n\tpath /x\n\tdisable true\n",
	    1, 1, "'disable' ignored", "/x", ANY, 0, 0 },
	{ "duplicate key keeps the first",
	    "dir: st\n\tpath /x\n\tpath /y\n",
	    1, 1, "property 'path' ignored: duplicate key", "/x", ANY, 0, 0 },
	{ "duplicate after an invalid first is taken",
	    "dir: st\n\tpath relative\n\tpath /y\n",
	    1, 1, "'path' ignored: not an absolute path", "/y", ANY, 0, 0 },
	{ "unexpected property comment",
	    "dir: st\n\tpath /x\n\tcomment hello\n",
	    1, 1, "'comment' ignored: unexpected property", "/x", ANY, 0, 0 },
	{ "unexpected property of another type",
	    "dir: st\n\tpath /x\n\texport /srv\n",
	    1, 1, "'export' ignored: unexpected property", "/x", ANY, 0, 0 },
	{ "type property naming the section type",
	    "dir: st\n\ttype dir\n\tpath /x\n",
	    1, 0, NULL, "/x", ANY, 0, 0 },
	{ "type property naming another type",
	    "dir: st\n\ttype nfs\n\tpath /x\n",
	    1, 1, "'type' ignored: unexpected property", "/x", ANY, 0, 0 },
	{ "missing value",
	    "dir: st\n\tpath /x\n\tformat\n",
	    1, 1, "'format' ignored: missing value", "/x", ANY, 0, 0 },
	{ "missing path drops the section",
	    "dir: st\n\tcontent iso\n",
	    0, 1, "line 1: storage 'st' skipped: missing required property "
	    "'path'", NULL, ANY, -1, 0 },
	{ "empty section drops",
	    "dir: st\n",
	    0, 1, "missing required property 'path'", NULL, ANY, -1, 0 },
	{ "storage id too short skips",
	    "dir: s\n\tpath /x\n\ndir: st\n\tpath /y\n",
	    1, 1, "line 1: section skipped: invalid storage ID 's'", "/y",
	    ANY, 0, 0 },
	{ "storage id with a digit first skips",
	    "dir: 1st\n\tpath /x\n\tbogus\n\ndir: st\n\tpath /y\n",
	    1, 1, "invalid storage ID '1st'", "/y", ANY, 0, 0 },
	{ "storage id ending in a dash skips",
	    "dir: st-\n\tpath /x\n",
	    0, 1, "invalid storage ID 'st-'", NULL, ANY, -1, 0 },
	{ "storage id with a slash skips",
	    "dir: s/t\n\tpath /x\n",
	    0, 1, "invalid storage ID 's/t'", NULL, ANY, -1, 0 },
	{ "storage id of 65 bytes skips",
	    "dir: s1234567890123456789012345678901234567890123456789012345"
	    "678901234\n\tpath /x\n",
	    0, 1, "invalid storage ID", NULL, ANY, -1, 0 },
	{ "header without a blank after the colon",
	    "dir:st\n\tpath /x\n",
	    1, 0, NULL, "/x", ANY, 0, 0 },
	{ "header with the type in upper case",
	    "DIR: st\n\tpath /x\n",
	    1, 0, NULL, "/x", ANY, 0, 0 },
	{ "header with trailing blanks",
	    "dir: st \t\n\tpath /x\n",
	    1, 0, NULL, "/x", ANY, 0, 0 },
	{ "header with leading blank is ignored",
	    " dir: st\n\tpath /x\n",
	    0, 2, "line 1: line ignored: not a section header", NULL, ANY,
	    -1, 0 },
	{ "header with three tokens is ignored",
	    "dir: st extra\n\tpath /x\n",
	    0, 2, "not a section header", NULL, ANY, -1, 0 },
	{ "CR inside a value is rejected",
	    "dir: st\n\tpath /x\n\tcontent iso\rimages\n",
	    1, 1, "'content' ignored: value contains a CR", "/x",
	    IMAGES_ROOTDIR, 0, 0 },
	{ "CR inside the path drops the section",
	    "dir: st\n\tpath /x\ry\n",
	    0, 2, "'path' ignored: value contains a CR", NULL, ANY, -1, 0 },
	{ "CRLF line ends are trailing blanks",
	    "dir: st\r\n\tpath /x\r\n\tcontent iso\r\n",
	    1, 0, NULL, "/x", CONTENT_BIT(CONTENT_ISO), 0, 0 },
	{ "CRLF empty line does not end a section",
	    "dir: st\r\n\tpath /x\r\n\r\ndir: st2\r\n\tpath /y\r\n",
	    1, 3, "line 3: storage 'st': line ignored", "/x", ANY, 0, 0 },
	{ "trailing blanks of a value are dropped",
	    "dir: st\n\tpath   /x/y \t \n",
	    1, 0, NULL, "/x/y", ANY, 0, 0 },
	{ "default content is images and rootdir",
	    "dir: st\n\tpath /x\n",
	    1, 0, NULL, "/x", IMAGES_ROOTDIR, 0, 0 },
	{ "content none",
	    "dir: st\n\tpath /x\n\tcontent none\n",
	    1, 0, NULL, "/x", 0, 0, 0 },
	{ "content of separators only is empty",
	    "dir: st\n\tpath /x\n\tcontent ,;\n",
	    1, 0, NULL, "/x", 0, 0, 0 },
	{ "content none with images drops the section",
	    "dir: st\n\tpath /x\n\tcontent none,images\n",
	    0, 1, "storage 'st' skipped: content 'none' cannot be combined",
	    NULL, ANY, -1, 0 },
	{ "content with an unknown type drops the value",
	    "dir: st\n\tpath /x\n\tcontent images,foo\n",
	    1, 1, "unknown content type 'foo'", "/x", IMAGES_ROOTDIR, 0, 0 },
	{ "content with every type",
	    "dir: st\n\tpath /x\n\tcontent images rootdir;vztmpl,iso,backup,"
	    "snippets,import\n",
	    1, 0, NULL, "/x", (1u << CONTENT_TYPE_COUNT) - 1, 0, 0 },
	{ "path with a semicolon",
	    "dir: st\n\tpath /srv;rm -rf /\n",
	    0, 2, "'path' ignored: not an absolute path", NULL, ANY, -1, 0 },
	{ "path with a parenthesis",
	    "dir: st\n\tpath /srv/(x)\n",
	    0, 2, "'path' ignored", NULL, ANY, -1, 0 },
	{ "relative path",
	    "dir: st\n\tpath srv/x\n",
	    0, 2, "'path' ignored", NULL, ANY, -1, 0 },
	{ "root path alone",
	    "dir: st\n\tpath /\n",
	    0, 2, "'path' ignored", NULL, ANY, -1, 0 },
	{ "NUL byte in a property line", nul_in_property,
	    1, 1, "line 3: line ignored: contains a NUL byte", "/x",
	    IMAGES_ROOTDIR, 1, sizeof(nul_in_property) - 1 },
	{ "NUL byte in the header", nul_in_header,
	    0, 2, "contains a NUL byte", NULL, ANY, -1,
	    sizeof(nul_in_header) - 1 },
	{ "format qcow is not a storage format",
	    "dir: st\n\tpath /x\n\tformat qcow\n",
	    1, 1, "expected raw, qcow2, vmdk or subvol", "/x", ANY, 0, 0 },
	{ "preallocation sparse is invalid",
	    "dir: st\n\tpath /x\n\tpreallocation sparse\n",
	    1, 1, "expected off, metadata, falloc or full", "/x", ANY, 0, 0 },
	{ "shared yes is rejected",
	    "dir: st\n\tpath /x\n\tshared yes\n",
	    1, 1, "'shared' ignored", "/x", ANY, 0, 0 },
	{ "bwlimit negative",
	    "dir: st\n\tpath /x\n\tbwlimit migration=-1\n",
	    1, 1, "invalid migration limit '-1'", "/x", ANY, 0, 0 },
	{ "bwlimit with an unknown key",
	    "dir: st\n\tpath /x\n\tbwlimit speed=5\n",
	    1, 1, "unknown key 'speed'", "/x", ANY, 0, 0 },
	{ "content-dirs with dot dot",
	    "dir: st\n\tpath /x\n\tcontent-dirs images=../etc\n",
	    1, 1, "invalid override 'images=../etc'", "/x", ANY, 0, 0 },
	{ "content-dirs with an unknown type",
	    "dir: st\n\tpath /x\n\tcontent-dirs disks=img\n",
	    1, 1, "invalid override", "/x", ANY, 0, 0 },
	{ "max-protected-backups below -1",
	    "dir: st\n\tpath /x\n\tmax-protected-backups -2\n",
	    1, 1, "expected an integer >= -1", "/x", ANY, 0, 0 },
	{ "prune-backups keep-all with keep-last",
	    "dir: st\n\tpath /x\n\tprune-backups keep-all=1,keep-last=2\n",
	    1, 1, "keep-all cannot be combined", "/x", ANY, 0, 0 },
	{ "prune-backups with a bad number",
	    "dir: st\n\tpath /x\n\tprune-backups keep-last=x\n",
	    1, 1, "keep-last expects an integer", "/x", ANY, 0, 0 },
	{ "no local storage is added",
	    "",
	    0, 0, NULL, NULL, ANY, -1, 0 },
};

static void
check_rule_case(const struct rule_case *c)
{
	struct storagecfg	 cfg;
	struct storage		*st;

	parse_ok(&cfg, c->text, c->len != 0 ? c->len : strlen(c->text));
	st = storagecfg_find(&cfg, "st");
	if (c->present)
		assert_non_null(st);
	else
		assert_null(st);
	assert_int_equal(cfg.nwarnings, c->nwarnings);
	if (c->warning != NULL)
		assert_contains(cfg.warning, c->warning);
	if (st != NULL && c->path != NULL)
		assert_string_equal(st->path, c->path);
	if (st != NULL && c->content != ANY)
		assert_int_equal(st->content, c->content);
	if (st != NULL && c->disable != -1)
		assert_int_equal(st->disable, c->disable);
	assert_null(storagecfg_find(&cfg, "local"));
	storagecfg_free(&cfg);
}

static void
test_rules(void **state)
{
	size_t	 i;

	for (i = 0; i < NELEM(rule_cases); i++) {
		print_message("case: %s\n", rule_cases[i].name);
		check_rule_case(&rule_cases[i]);
	}
}

static void
test_unsupported_type(void **state)
{
	static const char	 text[] =
	    "nfs: tank\n"
	    "\tserver 10.0.0.1\n"
	    "\texport /srv/tank\n"
	    "\tpath /mnt/pve/tank\n"
	    "\tcontent images\n"
	    "\tbwlimit default=300\n"
	    "\tnoval\n"
	    "\n"
	    "SomeThing-New: odd\n"
	    "\tkey value\n";
	struct storagecfg	 cfg;
	struct storage		*tank, *odd;
	char			 buf[256];

	parse_str(&cfg, text);
	assert_int_equal(cfg.nstorages, 2);
	assert_int_equal(cfg.nwarnings, 2);
	assert_contains(cfg.warning, "type 'nfs' is not supported");

	tank = storagecfg_find(&cfg, "tank");
	assert_non_null(tank);
	assert_int_equal(tank->type, STORAGE_TYPE_UNSUPPORTED);
	assert_string_equal(tank->type_name, "nfs");
	assert_int_equal(tank->shared, 1);
	assert_int_equal(tank->nprops, 6);
	assert_string_equal(tank->props[0].key, "server");
	assert_string_equal(tank->props[0].value, "10.0.0.1");
	assert_string_equal(tank->props[5].key, "noval");
	assert_null(tank->props[5].value);
	assert_null(tank->path);
	assert_true(tank->bwlimit.limit[BWLIMIT_DEFAULT] == 300);
	assert_false(storage_enabled_on(tank, "tgt1"));
	assert_false(storage_has_content(tank, CONTENT_IMAGES));
	assert_non_null(storage_unsupported_reason(tank, buf, sizeof(buf)));
	assert_string_equal(buf,
	    "storage 'tank': type 'nfs' is not supported by mtunneld");

	odd = storagecfg_find(&cfg, "odd");
	assert_non_null(odd);
	assert_string_equal(odd->type_name, "something-new");
	assert_int_equal(odd->shared, 0);
	storagecfg_free(&cfg);
}

static void
test_nodes(void **state)
{
	struct storagecfg	 cfg;
	struct storage		*st;

	parse_str(&cfg, "dir: st\n\tpath /x\n\tnodes tgt1,bad_name,tgt2\n");
	st = storagecfg_find(&cfg, "st");
	assert_non_null(st);
	assert_int_equal(cfg.nwarnings, 1);
	assert_contains(cfg.warning, "invalid node name 'bad_name'");
	assert_int_equal(st->nodes_set, 0);
	assert_int_equal(st->nodes.count, 0);
	assert_true(storage_enabled_on(st, "tgt1"));
	assert_true(storage_enabled_on(st, "anything"));
	storagecfg_free(&cfg);

	parse_str(&cfg, "dir: st\n\tpath /x\n\tnodes tgt1;tgt2 tgt3\n");
	st = storagecfg_find(&cfg, "st");
	assert_non_null(st);
	assert_int_equal(st->nodes.count, 3);
	assert_true(storage_enabled_on(st, "tgt3"));
	assert_false(storage_enabled_on(st, "tgt4"));
	storagecfg_free(&cfg);

	/* An explicitly empty list matches no node, as upstream. */
	parse_str(&cfg, "dir: st\n\tpath /x\n\tnodes ,\n");
	st = storagecfg_find(&cfg, "st");
	assert_non_null(st);
	assert_int_equal(cfg.nwarnings, 0);
	assert_int_equal(st->nodes_set, 1);
	assert_false(storage_enabled_on(st, "tgt1"));
	storagecfg_free(&cfg);

	parse_str(&cfg, "dir: st\n\tpath /x\n\tnodes -tgt\n");
	assert_int_equal(cfg.nwarnings, 1);
	assert_int_equal(storagecfg_find(&cfg, "st")->nodes_set, 0);
	storagecfg_free(&cfg);
}

static void
test_dir_options(void **state)
{
	static const char	 text[] =
	    "dir: st\n"
	    "\tpath /srv/st\n"
	    "\tcontent-dirs images=vm-images;iso=media/iso,none=x\n"
	    "\tis_mountpoint yes\n"
	    "\tmkdir 0\n"
	    "\tcreate-base-path 1\n"
	    "\tmax-protected-backups -1\n"
	    "\tprune-backups keep-last=3,keep-daily=7\n"
	    "\tsnapshot-as-volume-chain\n"
	    "\tcontent images,iso,backup\n";
	struct storagecfg	 cfg;
	struct storage		*st;

	parse_str(&cfg, text);
	assert_int_equal(cfg.nwarnings, 0);
	st = storagecfg_find(&cfg, "st");
	assert_non_null(st);
	assert_string_equal(storage_content_dir(st, CONTENT_IMAGES),
	    "vm-images");
	assert_string_equal(storage_content_dir(st, CONTENT_ISO), "media/iso");
	assert_string_equal(storage_content_dir(st, CONTENT_BACKUP), "dump");
	assert_string_equal(storage_content_dir(st, CONTENT_VZTMPL),
	    "template/cache");
	assert_string_equal(storage_mountpoint(st), "/srv/st");
	assert_int_equal(storage_create_base_path(st), 1);
	assert_int_equal(storage_create_subdirs(st), 0);
	assert_int_equal(st->max_protected_backups_set, 1);
	assert_int_equal(st->max_protected_backups, -1);
	assert_string_equal(st->prune_backups, "keep-last=3,keep-daily=7");
	assert_int_equal(st->snapshot_as_volume_chain, 1);
	assert_int_equal(storage_preallocation(st, IMAGE_FORMAT_QCOW2),
	    PREALLOCATION_METADATA);
	assert_int_equal(storage_preallocation(st, IMAGE_FORMAT_RAW),
	    PREALLOCATION_OFF);
	assert_int_equal(storage_preallocation(st, IMAGE_FORMAT_VMDK),
	    PREALLOCATION_UNSET);
	storagecfg_free(&cfg);

	parse_str(&cfg, "dir: st\n\tpath /srv/st\n\tis_mountpoint /mnt/disk\n"
	    "\tmkdir 0\n\tpreallocation metadata\n");
	st = storagecfg_find(&cfg, "st");
	assert_non_null(st);
	assert_string_equal(storage_mountpoint(st), "/mnt/disk");
	assert_int_equal(storage_create_base_path(st), 0);
	assert_int_equal(storage_create_subdirs(st), 0);
	assert_int_equal(storage_preallocation(st, IMAGE_FORMAT_RAW),
	    PREALLOCATION_OFF);
	assert_int_equal(storage_preallocation(st, IMAGE_FORMAT_QCOW2),
	    PREALLOCATION_METADATA);
	storagecfg_free(&cfg);

	parse_str(&cfg, "dir: st\n\tpath /srv/st\n\tis_mountpoint no\n"
	    "\tpreallocation full\n");
	st = storagecfg_find(&cfg, "st");
	assert_non_null(st);
	assert_null(storage_mountpoint(st));
	assert_int_equal(storage_create_base_path(st), 1);
	assert_int_equal(storage_create_subdirs(st), 1);
	assert_int_equal(storage_preallocation(st, IMAGE_FORMAT_RAW),
	    PREALLOCATION_FULL);
	storagecfg_free(&cfg);
}

static void
test_content_dirs_hostile(void **state)
{
	static const char *const	 bad[] = {
		"images=..", "images=a/../b", "images=x.", "images=.",
		"Images=x", "images=", "=x", "images", "disks=x",
		"images=ok,iso=../up",
	};
	struct storagecfg	 cfg;
	struct storage		*st;
	char			 text[2048];
	size_t			 i;

	for (i = 0; i < NELEM(bad); i++) {
		print_message("content-dirs %s\n", bad[i]);
		snprintf(text, sizeof(text), "dir: st\n\tpath /x\n"
		    "\tcontent-dirs %s\n", bad[i]);
		parse_str(&cfg, text);
		st = storagecfg_find(&cfg, "st");
		assert_non_null(st);
		assert_int_equal(cfg.nwarnings, 1);
		assert_contains(cfg.warning, "'content-dirs' ignored");
		assert_string_equal(storage_content_dir(st, CONTENT_IMAGES),
		    "images");
		storagecfg_free(&cfg);
	}

	/* A component of 255 bytes is too long, 254 is not. */
	memset(text, 0, sizeof(text));
	strlcpy(text, "dir: st\n\tpath /x\n\tcontent-dirs images=", 64);
	memset(text + strlen(text), 'a', 254);
	strlcat(text, "\n", sizeof(text));
	parse_str(&cfg, text);
	assert_int_equal(cfg.nwarnings, 0);
	storagecfg_free(&cfg);
	text[strlen(text) - 1] = 'a';
	strlcat(text, "\n", sizeof(text));
	parse_str(&cfg, text);
	assert_int_equal(cfg.nwarnings, 1);
	storagecfg_free(&cfg);
}

static void
test_duplicate_storage_id(void **state)
{
	struct storagecfg	 cfg;
	struct storage		*st;

	parse_str(&cfg, "dir: st\n\tpath /one\n\ndir: other\n\tpath /o\n\n"
	    "dir: st\n\tpath /two\n");
	assert_int_equal(cfg.nstorages, 2);
	assert_int_equal(cfg.nwarnings, 1);
	assert_contains(cfg.warning, "replaces the section with the same ID "
	    "at line 1");
	st = storagecfg_find(&cfg, "st");
	assert_non_null(st);
	assert_string_equal(st->path, "/two");
	assert_int_equal(st->lineno, 7);
	assert_ptr_equal(st, &cfg.storages[1]);
	storagecfg_free(&cfg);

	/* A later section that is dropped takes the earlier one with it. */
	parse_str(&cfg, "dir: st\n\tpath /one\n\ndir: st\n\tcontent iso\n");
	assert_int_equal(cfg.nstorages, 0);
	assert_int_equal(cfg.nwarnings, 2);
	storagecfg_free(&cfg);

	/* A section skipped for its ID does not touch the earlier one. */
	parse_str(&cfg, "dir: st\n\tpath /one\n\ndir: s\n\tpath /x\n");
	assert_int_equal(cfg.nstorages, 1);
	storagecfg_free(&cfg);
}

static void
test_local_kept_as_written(void **state)
{
	struct storagecfg	 cfg;
	struct storage		*st;

	parse_str(&cfg, "dir: local\n\tpath /srv/local\n\tnodes tgt1\n");
	st = storagecfg_find(&cfg, "local");
	assert_non_null(st);
	assert_string_equal(st->path, "/srv/local");
	assert_int_equal(st->nodes_set, 1);
	assert_false(storage_enabled_on(st, "tgt2"));
	storagecfg_free(&cfg);
}

/* Text of n dir sections, st0 to st<n-1>.  The caller frees it. */
static char *
many_sections(size_t n, size_t *len)
{
	char	*text;
	size_t	 i, off = 0, cap = n * 40 + 1;

	text = malloc(cap);
	assert_non_null(text);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, cap - off,
		    "dir: st%zu\n\tpath /srv/%zu\n\n", i, i);
	*len = off;
	return text;
}

static void
test_storage_count_limit(void **state)
{
	struct storagecfg	 cfg;
	char			 err[STORAGECFG_ERR_MAX] = "";
	char			*text;
	size_t			 len;

	text = many_sections(STORAGECFG_STORAGES_MAX, &len);
	parse_ok(&cfg, text, len);
	assert_int_equal(cfg.nstorages, STORAGECFG_STORAGES_MAX);
	assert_non_null(storagecfg_find(&cfg, "st1023"));
	storagecfg_free(&cfg);
	free(text);

	text = many_sections(2000, &len);
	assert_int_equal(storagecfg_parse(&cfg, "storage.cfg", text, len, err,
	    sizeof(err)), -1);
	assert_contains(err, "more than 1024 storages");
	assert_contains(err, "line 3073");
	assert_int_equal(cfg.nstorages, 0);
	assert_null(cfg.storages);
	free(text);
}

static void
test_oversized_file(void **state)
{
	struct storagecfg	 cfg;
	char			 err[STORAGECFG_ERR_MAX] = "";
	char			*text;
	size_t			 off, line = 1000;

	/* Exactly the maximum, in comment lines, loads. */
	text = malloc(STORAGECFG_FILE_MAX + 1);
	assert_non_null(text);
	for (off = 0; off < STORAGECFG_FILE_MAX; off += line) {
		if (off + line > STORAGECFG_FILE_MAX)
			line = STORAGECFG_FILE_MAX - off;
		memset(text + off, ' ', line);
		text[off] = '#';
		text[off + line - 1] = '\n';
	}
	parse_ok(&cfg, text, STORAGECFG_FILE_MAX);
	assert_int_equal(cfg.nstorages, 0);
	assert_int_equal(cfg.nwarnings, 0);
	storagecfg_free(&cfg);

	text[STORAGECFG_FILE_MAX] = '\n';
	assert_int_equal(storagecfg_parse(&cfg, "storage.cfg", text,
	    STORAGECFG_FILE_MAX + 1, err, sizeof(err)), -1);
	assert_contains(err, "file larger than 1048576 bytes");
	free(text);
}

static void
test_long_line(void **state)
{
	struct storagecfg	 cfg;
	char			 err[STORAGECFG_ERR_MAX] = "";
	char			*text;
	size_t			 head, len;
	const char		*prefix =
	    "dir: st\n\tpath /x\n\tis_mountpoint /";

	/* A line of exactly STORAGECFG_LINE_MAX bytes is accepted. */
	head = strlen(prefix);
	len = head + (STORAGECFG_LINE_MAX - strlen("\tis_mountpoint /")) + 1;
	text = malloc(len + 2);
	assert_non_null(text);
	memcpy(text, prefix, head);
	memset(text + head, 'm', len - head - 1);
	text[len - 1] = '\n';
	parse_ok(&cfg, text, len);
	assert_int_equal(cfg.nwarnings, 0);
	assert_int_equal(strlen(storagecfg_find(&cfg, "st")->is_mountpoint),
	    STORAGECFG_LINE_MAX - strlen("\tis_mountpoint "));
	storagecfg_free(&cfg);

	/* One more byte is an error, even in a comment. */
	memset(text + head, 'm', len - head);
	text[len] = '\n';
	assert_int_equal(storagecfg_parse(&cfg, "storage.cfg", text, len + 1,
	    err, sizeof(err)), -1);
	assert_contains(err, "line 3: line longer than 65536 bytes");
	text[head - strlen("\tis_mountpoint /")] = '#';
	assert_int_equal(storagecfg_parse(&cfg, "storage.cfg", text, len + 1,
	    err, sizeof(err)), -1);
	free(text);
}

static void
test_warning_flood(void **state)
{
	struct storagecfg	 cfg;
	char			*text;
	size_t			 i, n = 500, off = 0;

	text = malloc(n * 8 + 1);
	assert_non_null(text);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, 9, "junk %02zu\n", i % 100);
	parse_ok(&cfg, text, off);
	assert_int_equal(cfg.nwarnings, n);
	assert_contains(cfg.warning, "line 1: line ignored");
	storagecfg_free(&cfg);
	free(text);
}

static void
test_digest(void **state)
{
	struct storagecfg	 cfg;

	parse_str(&cfg, "");
	/* SHA-1 of the empty string. */
	assert_string_equal(cfg.digest,
	    "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	storagecfg_free(&cfg);
	parse_str(&cfg, "abc");
	assert_string_equal(cfg.digest,
	    "a9993e364706816aba3e25717850c26c9cd0d89d");
	storagecfg_free(&cfg);
}

static void
write_file(const char *path, const char *text, size_t len)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_int_not_equal(fd, -1);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void
test_load(void **state)
{
	struct storagecfg	 cfg;
	char			 dir[] = "/tmp/test_storagecfg.XXXXXX";
	char			 path[256], err[STORAGECFG_ERR_MAX] = "";
	char			*big;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/storage.cfg", dir);

	assert_int_equal(storagecfg_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.nstorages, 0);
	storagecfg_free(&cfg);

	write_file(path, "dir: st\n\tpath /x\n", 17);
	assert_int_equal(storagecfg_load(&cfg, path, err, sizeof(err)), 0);
	assert_non_null(storagecfg_find(&cfg, "st"));
	storagecfg_free(&cfg);

	big = calloc(1, STORAGECFG_FILE_MAX + 10);
	assert_non_null(big);
	memset(big, '\n', STORAGECFG_FILE_MAX + 10);
	write_file(path, big, STORAGECFG_FILE_MAX + 10);
	assert_int_equal(storagecfg_load(&cfg, path, err, sizeof(err)), -1);
	assert_contains(err, "file larger than");
	free(big);

	assert_int_equal(storagecfg_load(&cfg, dir, err, sizeof(err)), -1);
	assert_contains(err, "not a regular file");

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

struct split_case {
	const char	*text;
	size_t		 len;
	size_t		 count;
	const char	*items[5];
};

static const struct split_case split_cases[] = {
	{ "a,,b;c d", 8, 4, { "a", "b", "c", "d" } },
	{ "", 0, 0, { NULL } },
	{ "  a  ", 5, 1, { "a" } },
	{ ",;, \t", 5, 0, { NULL } },
	{ "a\tb\nc\rd", 7, 4, { "a", "b", "c", "d" } },
	{ "images,iso", 10, 2, { "images", "iso" } },
	{ "a\0b", 3, 2, { "a", "b" } },
	{ "a\0\0b", 4, 3, { "a", "", "b" } },
	{ "\0a", 2, 2, { "", "a" } },
	{ "a\0\0", 3, 1, { "a" } },
	{ "a, b\0c", 6, 2, { "a, b", "c" } },
	{ "\0", 1, 0, { NULL } },
};

static void
test_split_list(void **state)
{
	struct strlist	 list;
	size_t		 i, j;

	for (i = 0; i < NELEM(split_cases); i++) {
		print_message("split case %zu\n", i);
		assert_int_equal(split_list(split_cases[i].text,
		    split_cases[i].len, &list), 0);
		assert_int_equal(list.count, split_cases[i].count);
		for (j = 0; j < list.count; j++)
			assert_string_equal(list.items[j],
			    split_cases[i].items[j]);
		strlist_free(&list);
		assert_null(list.items);
	}
}

struct id_case {
	int		(*valid)(const char *);
	const char	*id;
	int		 expected;
};

static const struct id_case id_cases[] = {
	{ valid_storage_id, "local", 1 },
	{ valid_storage_id, "a1", 1 },
	{ valid_storage_id, "my.store_2-x", 1 },
	{ valid_storage_id, "A9", 1 },
	{ valid_storage_id, "a", 0 },
	{ valid_storage_id, "", 0 },
	{ valid_storage_id, "1ab", 0 },
	{ valid_storage_id, "ab-", 0 },
	{ valid_storage_id, "ab.", 0 },
	{ valid_storage_id, "a:b", 0 },
	{ valid_storage_id, "a b", 0 },
	{ valid_storage_id, "_ab", 0 },
	{ valid_node_name, "tgt1", 1 },
	{ valid_node_name, "a", 1 },
	{ valid_node_name, "pve-node-2", 1 },
	{ valid_node_name, "1node", 1 },
	{ valid_node_name, "", 0 },
	{ valid_node_name, "-a", 0 },
	{ valid_node_name, "a-", 0 },
	{ valid_node_name, "a.b", 0 },
	{ valid_node_name, "a_b", 0 },
	{ valid_bridge_id, "vmbr0", 1 },
	{ valid_bridge_id, "br-lan.10", 1 },
	{ valid_bridge_id, "_x", 1 },
	{ valid_bridge_id, "", 0 },
	{ valid_bridge_id, "vmbr 0", 0 },
	{ valid_bridge_id, "vmbr0;", 0 },
	{ valid_bridge_id, "br\xc3\xa9", 0 },
};

static void
test_ids(void **state)
{
	size_t	 i;

	for (i = 0; i < NELEM(id_cases); i++) {
		print_message("id '%s'\n", id_cases[i].id);
		assert_int_equal(id_cases[i].valid(id_cases[i].id),
		    id_cases[i].expected);
	}
}

struct size_case {
	const char	*text;
	int		 rc;
	uint64_t	 bytes;
};

static const struct size_case size_cases[] = {
	{ "32G", 0, UINT64_C(34359738368) },
	{ "1.5G", 0, UINT64_C(1610612736) },
	{ "528K", 0, 540672 },
	{ "4096", 0, 4096 },
	{ "0", 0, 0 },
	{ "1KiB", 0, 1024 },
	{ "2MiB", 0, 2097152 },
	{ "3GiB", 0, UINT64_C(3221225472) },
	{ "1T", 0, UINT64_C(1099511627776) },
	{ "1.5TiB", 0, UINT64_C(1649267441664) },
	{ "0.5K", 0, 512 },
	{ "1.9999K", 0, 2047 },
	{ "0.0009765625K", 0, 1 },
	{ "0.00097656249999999999K", 0, 0 },
	{ "1.5", 0, 1 },
	{ "007M", 0, 7340032 },
	{ "9223372036854775807", 0, UINT64_C(9223372036854775807) },
	{ "8589934591G", 0, UINT64_C(9223372035781033984) },
	{ "8388607.999999999999T", 0, UINT64_C(9223372036854775806) },
	{ "10g", -1, 0 },
	{ "10GB", -1, 0 },
	{ "10 G", -1, 0 },
	{ "-1G", -1, 0 },
	{ "+1G", -1, 0 },
	{ "", -1, 0 },
	{ "G", -1, 0 },
	{ ".5G", -1, 0 },
	{ "1.G", -1, 0 },
	{ "1Ki", -1, 0 },
	{ "1KB", -1, 0 },
	{ "1iB", -1, 0 },
	{ "1P", -1, 0 },
	{ "32G\n", -1, 0 },
	{ " 32G", -1, 0 },
	{ "9223372036854775808", -1, 0 },
	{ "18446744073709551616", -1, 0 },
	{ "99999999999999999999999", -1, 0 },
	{ "8589934592G", -1, 0 },
	{ "8388608T", -1, 0 },
	{ "8388607.9999999999999T", 0, UINT64_C(9223372036854775807) },
};

static void
test_parse_size(void **state)
{
	uint64_t	 bytes;
	size_t		 i;

	for (i = 0; i < NELEM(size_cases); i++) {
		print_message("size '%s'\n", size_cases[i].text);
		bytes = 12345;
		assert_int_equal(parse_size(size_cases[i].text, &bytes),
		    size_cases[i].rc);
		if (size_cases[i].rc == 0)
			assert_int_equal(bytes, size_cases[i].bytes);
		else
			assert_int_equal(bytes, 12345);
	}
}

static void
test_format_size(void **state)
{
	static const struct {
		uint64_t	 bytes;
		const char	*text;
	} cases[] = {
		{ UINT64_C(1610612736), "1536M" },
		{ 1000, "1000" },
		{ 0, "0T" },
		{ 1024, "1K" },
		{ 540672, "528K" },
		{ 1048576, "1M" },
		{ UINT64_C(34359738368), "32G" },
		{ UINT64_C(1099511627776), "1T" },
		{ UINT64_C(1125899906842624), "1024T" },
		{ UINT64_C(1099511628800), "1073741825K" },
		{ UINT64_MAX, "18446744073709551615" },
	};
	char		 buf[SIZE_STR_MAX];
	uint64_t	 back;
	size_t		 i;

	for (i = 0; i < NELEM(cases); i++) {
		assert_int_equal(format_size(cases[i].bytes, buf,
		    sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].text);
		if (cases[i].bytes <= INT64_MAX) {
			assert_int_equal(parse_size(buf, &back), 0);
			assert_int_equal(back, cases[i].bytes);
		}
	}
	assert_int_equal(format_size(UINT64_C(1610612736), buf, 5), -1);
	assert_int_equal(format_size(UINT64_C(1610612736), buf, 6), 0);
}

struct volid_case {
	const char	*volid;
	int		 rc;
	const char	*storeid;
	const char	*volname;
};

static const struct volid_case volid_cases[] = {
	{ "fast:4321/vm-4321-disk-1.qcow2", 0, "fast",
	    "4321/vm-4321-disk-1.qcow2" },
	{ "fast:iso/alpine-3.20.iso", 0, "fast", "iso/alpine-3.20.iso" },
	{ "fast:a:b", 0, "fast", "a:b" },
	{ "Fast.2:x", 0, "Fast.2", "x" },
	{ "f:x", -1, NULL, NULL },
	{ "fast:", -1, NULL, NULL },
	{ ":x", -1, NULL, NULL },
	{ "fast", -1, NULL, NULL },
	{ "1fast:x", -1, NULL, NULL },
	{ "fa st:x", -1, NULL, NULL },
	{ "fast:a\nb", -1, NULL, NULL },
	{ "fast:x\n", -1, NULL, NULL },
};

static void
test_parse_volid(void **state)
{
	char	 storeid[STORAGE_ID_MAX + 1], volname[256];
	size_t	 i;

	for (i = 0; i < NELEM(volid_cases); i++) {
		print_message("volid '%s'\n", volid_cases[i].volid);
		assert_int_equal(parse_volid(volid_cases[i].volid, storeid,
		    sizeof(storeid), volname, sizeof(volname)),
		    volid_cases[i].rc);
		if (volid_cases[i].rc != 0) {
			assert_string_equal(storeid, "");
			assert_string_equal(volname, "");
			continue;
		}
		assert_string_equal(storeid, volid_cases[i].storeid);
		assert_string_equal(volname, volid_cases[i].volname);
	}
	assert_int_equal(parse_volid("fast:abcdef", storeid, sizeof(storeid),
	    volname, 6), -1);
	assert_int_equal(parse_volid("fast:abcdef", storeid, 4, volname,
	    sizeof(volname)), -1);
}

struct volname_case {
	const char		*volname;
	int			 rc;
	uint32_t		 vmid;
	enum image_format	 format;
	int			 is_base;
	const char		*err;	/* in the message when rc is -1 */
};

static const struct volname_case volname_cases[] = {
	{ "4321/vm-4321-disk-1.qcow2", 0, 4321, IMAGE_FORMAT_QCOW2, 0, NULL },
	{ "100/vm-100-disk-0.raw", 0, 100, IMAGE_FORMAT_RAW, 0, NULL },
	{ "100/base-100-disk-0.vmdk", 0, 100, IMAGE_FORMAT_VMDK, 1, NULL },
	{ "100/subvol-100-disk-0.subvol", 0, 100, IMAGE_FORMAT_SUBVOL, 0,
	    NULL },
	{ "100/vm-999-disk-0.raw", 0, 100, IMAGE_FORMAT_RAW, 0, NULL },
	{ "100/my disk.raw", -1, 0, 0, 0, "white space" },
	{ "100/mydisk.raw", 0, 100, IMAGE_FORMAT_RAW, 0, NULL },
	{ "100/base-x.qcow2", 0, 100, IMAGE_FORMAT_QCOW2, 1, NULL },
	{ "100/base-.raw", 0, 100, IMAGE_FORMAT_RAW, 0, NULL },
	{ "100/vm-100-cloudinit.qcow2", 0, 100, IMAGE_FORMAT_QCOW2, 0, NULL },
	{ "100/x.raw.qcow2", 0, 100, IMAGE_FORMAT_QCOW2, 0, NULL },
	{ "999999999/vm-1-a.raw", 0, 999999999, IMAGE_FORMAT_RAW, 0, NULL },
	{ "100/vm-100-snap-1.qcow2", 0, 100, IMAGE_FORMAT_QCOW2, 0, NULL },
	{ "100/snap-s1-vm-100-disk-0.qcow2", -1, 0, 0, 0, "snapshot" },
	{ "100/snap-s1.raw", 0, 100, IMAGE_FORMAT_RAW, 0, NULL },
	{ "100/../../etc/passwd.raw", -1, 0, 0, 0, "'/'" },
	{ "100/..raw", -1, 0, 0, 0, "\"..\"" },
	{ "100/a..b.raw", -1, 0, 0, 0, "\"..\"" },
	{ "/etc/passwd", -1, 0, 0, 0, "VMID" },
	{ "100//vm-100-disk-0.raw", -1, 0, 0, 0, "'/'" },
	{ "100/base-100-disk-0.raw/101/vm-101-disk-0.qcow2", -1, 0, 0, 0,
	    "linked clones" },
	{ "100/vm-100-disk-0.img", -1, 0, 0, 0, ".raw, .qcow2" },
	{ "100/vm-100-disk-0", -1, 0, 0, 0, ".raw, .qcow2" },
	{ "100/vm-100-disk-0.RAW", -1, 0, 0, 0, ".raw, .qcow2" },
	{ "100/.raw", -1, 0, 0, 0, ".raw, .qcow2" },
	{ "100/vm-100-disk-0.raw.", -1, 0, 0, 0, ".raw, .qcow2" },
	{ "100/", -1, 0, 0, 0, "1 to 255 bytes" },
	{ "100/vm\t.raw", -1, 0, 0, 0, "white space" },
	{ "100/vm\x01.raw", -1, 0, 0, 0, "control byte" },
	{ "100/vm-100-disk-0.raw\n", -1, 0, 0, 0, "white space" },
	{ " 100/vm-100-disk-0.raw", -1, 0, 0, 0, "VMID" },
	{ "99/vm-99-disk-0.raw", -1, 0, 0, 0, "VMID" },
	{ "0100/vm-100-disk-0.raw", -1, 0, 0, 0, "VMID" },
	{ "1000000000/x.raw", -1, 0, 0, 0, "VMID" },
	{ "vm-100-disk-0.raw", -1, 0, 0, 0, "<vmid>/<file>" },
	{ "iso/alpine.iso", -1, 0, 0, 0, "VMID" },
};

static void
test_image_volname(void **state)
{
	struct image_volname	 v;
	char			 err[STORAGECFG_ERR_MAX];
	size_t			 i;

	for (i = 0; i < NELEM(volname_cases); i++) {
		const struct volname_case	*c = &volname_cases[i];

		print_message("volname '%s'\n", c->volname);
		err[0] = '\0';
		assert_int_equal(dir_parse_image_volname(c->volname, &v, err,
		    sizeof(err)), c->rc);
		if (c->rc != 0) {
			assert_contains(err, c->err);
			assert_int_equal(v.vmid, 0);
			continue;
		}
		assert_int_equal(v.vmid, c->vmid);
		assert_int_equal(v.format, c->format);
		assert_int_equal(v.is_base, c->is_base);
		assert_string_equal(v.name, strchr(c->volname, '/') + 1);
	}
}

static void
test_image_name_length(void **state)
{
	struct image_volname	 v;
	char			 name[300], err[STORAGECFG_ERR_MAX];

	/* 4 + 251 + 4 = 255 bytes of file name. */
	memset(name, 0, sizeof(name));
	memcpy(name, "100/", 4);
	memset(name + 4, 'a', 251);
	memcpy(name + 255, ".raw", 4);
	assert_int_equal(dir_parse_image_volname(name, &v, err, sizeof(err)),
	    0);
	assert_int_equal(strlen(v.name), 255);
	memmove(name + 256, name + 255, 5);
	name[255] = 'a';
	assert_int_equal(dir_parse_image_volname(name, &v, err, sizeof(err)),
	    -1);
	assert_contains(err, "1 to 255 bytes");
}

struct bwparse_case {
	const char	*text;
	int		 rc;
	double		 limit[BWLIMIT_OP_COUNT];	/* -1 unset */
	const char	*err;
};

static const struct bwparse_case bwparse_cases[] = {
	{ "migration=51200", 0, { -1, -1, 51200, -1, -1 }, NULL },
	{ "migration=102400,default=204800", 0,
	    { 204800, -1, 102400, -1, -1 }, NULL },
	{ "default=1,clone=2,migration=3,move=4,restore=5", 0,
	    { 1, 2, 3, 4, 5 }, NULL },
	{ "default=1.5", 0, { 1.5, -1, -1, -1, -1 }, NULL },
	{ "clone=+5", 0, { -1, 5, -1, -1, -1 }, NULL },
	{ "move=1e3", 0, { -1, -1, -1, 1000, -1 }, NULL },
	{ "restore=5.", 0, { -1, -1, -1, -1, 5 }, NULL },
	{ "default=.5", 0, { 0.5, -1, -1, -1, -1 }, NULL },
	{ "migration=0", 0, { -1, -1, 0, -1, -1 }, NULL },
	{ "migration=-0", 0, { -1, -1, 0, -1, -1 }, NULL },
	{ ",,default=1,", 0, { 1, -1, -1, -1, -1 }, NULL },
	{ "default=1, \t,clone=2", 0, { 1, 2, -1, -1, -1 }, NULL },
	{ "", 0, { -1, -1, -1, -1, -1 }, NULL },
	{ "100", -1, { 0 }, "not of the form key=value" },
	{ "default=", -1, { 0 }, "empty value for key 'default'" },
	{ "=5", -1, { 0 }, "unknown key ''" },
	{ "speed=1", -1, { 0 }, "unknown key 'speed'" },
	{ "Default=1", -1, { 0 }, "unknown key 'Default'" },
	{ "default=1,default=2", -1, { 0 }, "duplicate key 'default'" },
	{ "default=1, clone=2", -1, { 0 }, "unknown key ' clone'" },
	{ "migration=-1", -1, { 0 }, "invalid migration limit '-1'" },
	{ "migration=abc", -1, { 0 }, "invalid migration limit" },
	{ "migration=1e999", -1, { 0 }, "invalid migration limit" },
	{ "migration=0x10", -1, { 0 }, "invalid migration limit" },
	{ "migration=inf", -1, { 0 }, "invalid migration limit" },
	{ "migration=1 ", -1, { 0 }, "invalid migration limit" },
	{ "migration=1.2.3", -1, { 0 }, "invalid migration limit" },
	{ "migration=e5", -1, { 0 }, "invalid migration limit" },
	{ "migration=.", -1, { 0 }, "invalid migration limit" },
	{ "migration=1e", -1, { 0 }, "invalid migration limit" },
};

static void
test_parse_bwlimit(void **state)
{
	struct bwlimit	 bw;
	char		 err[STORAGECFG_ERR_MAX];
	size_t		 i, k;

	for (i = 0; i < NELEM(bwparse_cases); i++) {
		const struct bwparse_case	*c = &bwparse_cases[i];

		print_message("bwlimit '%s'\n", c->text);
		bwlimit_init(&bw);
		bw.limit[BWLIMIT_MOVE] = 77;
		err[0] = '\0';
		assert_int_equal(parse_bwlimit(c->text, &bw, err, sizeof(err)),
		    c->rc);
		if (c->rc != 0) {
			assert_contains(err, c->err);
			assert_true(bw.limit[BWLIMIT_MOVE] == 77);
			continue;
		}
		for (k = 0; k < BWLIMIT_OP_COUNT; k++)
			assert_true(bw.limit[k] == c->limit[k]);
	}
}

/* Privileges for get_bandwidth_limit, and a log of the checks made. */
struct fake_access {
	int		 storage_root;	/* Datastore.Allocate /storage */
	const char	*storage_one;		/* ... on /storage/<this> */
	int		 sys_modify;		/* Sys.Modify on / */
	size_t		 ncalls;
	char		 calls[512];
};

static int
fake_check(void *arg, const char *path, const char *priv)
{
	struct fake_access	*fa = arg;
	char			 one[128];

	fa->ncalls++;
	strlcat(fa->calls, path, sizeof(fa->calls));
	strlcat(fa->calls, " ", sizeof(fa->calls));
	if (strcmp(priv, "Sys.Modify") == 0)
		return strcmp(path, "/") == 0 && fa->sys_modify;
	assert_string_equal(priv, "Datastore.Allocate");
	if (strcmp(path, "/storage") == 0)
		return fa->storage_root;
	if (fa->storage_one == NULL)
		return 0;
	snprintf(one, sizeof(one), "/storage/%s", fa->storage_one);
	return strcmp(path, one) == 0;
}

#define U	BWLIMIT_UNSET

struct bw_case {
	const char	*name;
	const char	*op;
	const char	*ids[4];
	size_t		 nids;
	int		 with_dc;
	double		 override;
	struct fake_access access;
	int		 rc;
	double		 expected;
	size_t		 ncalls;	/* privilege questions asked */
};

static const char bw_config[] =
    "dir: fast\n\tpath /a\n\tbwlimit migration=204800,default=409600\n\n"
    "dir: slow\n\tpath /b\n\tbwlimit default=1000\n\n"
    "dir: nolimit\n\tpath /c\n\n"
    "dir: zero\n\tpath /d\n\tbwlimit migration=0,default=500\n\n"
    "dir: clonly\n\tpath /e\n\tbwlimit clone=10\n\n"
    "dir: dec\n\tpath /f\n\tbwlimit default=1.5\n\n"
    "nfs: remote\n\tpath /g\n\tbwlimit default=700\n\n";

static const struct bw_case bw_cases[] = {
	/* For one bwlimit: the operation key, else default, else none. */
	{ "operation key wins over default", "migration", { "fast" }, 1, 1,
	    U, { 0 }, 0, 204800, 0 },
	{ "default when the operation key is unset", "restore", { "fast" },
	    1, 1, U, { 0 }, 0, 409600, 0 },
	{ "operation key alone", "clone", { "clonly" }, 1, 1, U, { 0 }, 0,
	    10, 0 },
	{ "neither key brings in the datacenter", "migration", { "clonly" },
	    1, 1, U, { 0 }, 0, 102400, 0 },
	{ "unknown operation uses default", "backup", { "fast" }, 1, 1, U,
	    { 0 }, 0, 409600, 0 },
	{ "NULL operation is migration", NULL, { "fast" }, 1, 1, U, { 0 },
	    0, 204800, 0 },
	{ "operation key 0 wins over default", "migration", { "zero" }, 1,
	    1, U, { 0 }, 0, 0, 0 },
	{ "decimal limit", "migration", { "dec" }, 1, 1, U, { 0 }, 0, 1.5,
	    0 },
	{ "unsupported type still limits", "migration", { "remote" }, 1, 1,
	    U, { 0 }, 0, 700, 0 },
	/* No override: privileges are not consulted. */
	{ "storage limit beats a lower datacenter limit", "migration",
	    { "fast" }, 1, 1, U, { 1, "fast", 1, 0, "" }, 0, 204800, 0 },
	{ "smallest storage limit", "migration", { "fast", "slow" }, 2, 1, U,
	    { 0 }, 0, 1000, 0 },
	{ "storage without limit adds the datacenter", "migration",
	    { "fast", "nolimit" }, 2, 1, U, { 0 }, 0, 102400, 0 },
	{ "storage without limit and no datacenter", "migration",
	    { "nolimit" }, 1, 0, U, { 0 }, 0, U, 0 },
	{ "empty storage list", "migration", { NULL }, 0, 1, U, { 0 }, 0,
	    102400, 0 },
	{ "null storage entries", "migration", { NULL, NULL }, 2, 1, U,
	    { 0 }, 0, 102400, 0 },
	{ "null entry beside a storage", "migration", { NULL, "slow" }, 2, 1,
	    U, { 0 }, 0, 1000, 0 },
	{ "datacenter default for another operation", "restore", { NULL },
	    1, 1, U, { 0 }, 0, 204800, 0 },
	{ "nothing at all", "migration", { NULL }, 0, 0, U, { 0 }, 0, U, 0 },
	{ "default of one storage, key of another", "move",
	    { "zero", "slow" }, 2, 1, U, { 0 }, 0, 500, 0 },
	{ "zero limit then a larger one", "migration", { "zero", "slow" }, 2,
	    1, U, { 0 }, 0, 1000, 0 },
	{ "larger limit then zero", "migration", { "slow", "zero" }, 2, 1, U,
	    { 0 }, 0, 0, 0 },
	{ "unknown storage is an error", "migration", { "nope" }, 1, 1, U,
	    { 0 }, -1, 0, 0 },
	/* Override requested. */
	{ "override below the storage limit", "migration", { "fast" }, 1, 1,
	    50, { 0 }, 0, 50, 2 },
	{ "override above the storage limit", "migration", { "fast" }, 1, 1,
	    300000, { 0 }, 0, 204800, 2 },
	{ "override 0 is replaced", "migration", { "fast" }, 1, 1, 0,
	    { 0 }, 0, 204800, 2 },
	{ "override 0 with nothing to apply", "migration", { NULL }, 1, 0,
	    0, { 0 }, 0, 0, 1 },
	{ "allocate on /storage returns the override", "migration",
	    { "fast", "nope" }, 2, 1, 300000, { 1, NULL, 0, 0, "" }, 0,
	    300000, 1 },
	{ "allocate on /storage returns override 0", "migration",
	    { "slow" }, 1, 1, 0, { 1, NULL, 0, 0, "" }, 0, 0, 1 },
	{ "allocate on one storage skips it", "migration", { "fast", "slow" },
	    2, 1, 300000, { 0, "fast", 0, 0, "" }, 0, 1000, 3 },
	{ "every storage skipped skips the datacenter", "migration",
	    { "fast" }, 1, 1, 300000, { 0, "fast", 0, 0, "" }, 0, 300000, 2 },
	{ "skipped unknown storage is no error", "migration", { "nope" }, 1,
	    1, 300000, { 0, "nope", 0, 0, "" }, 0, 300000, 2 },
	{ "checked storage without limit adds the datacenter", "migration",
	    { "nolimit" }, 1, 1, 300000, { 0 }, 0, 102400, 3 },
	{ "sys modify skips the datacenter", "migration", { "nolimit" }, 1,
	    1, 300000, { 0, NULL, 1, 0, "" }, 0, 300000, 3 },
	{ "no storages, datacenter applies", "migration", { NULL }, 0, 1,
	    300000, { 0 }, 0, 102400, 1 },
	{ "no storages, sys modify", "migration", { NULL }, 0, 1, 300000,
	    { 0, NULL, 1, 0, "" }, 0, 300000, 1 },
	{ "repeated storage is checked once", "migration",
	    { "slow", "slow", "slow" }, 3, 1, 300000, { 0 }, 0, 1000, 2 },
	{ "unknown storage checked is an error", "migration", { "nope" }, 1,
	    1, 300000, { 0 }, -1, 0, 2 },
};

static void
check_bw_case(const struct storagecfg *cfg, const struct bw_case *c)
{
	struct bwlimit		 dc;
	struct fake_access	 fa = c->access;
	struct bwlimit_access	 access = { fake_check, &fa };
	char			 err[STORAGECFG_ERR_MAX] = "";
	double			 limit = 12345;

	fa.ncalls = 0;
	fa.calls[0] = '\0';
	assert_int_equal(parse_bwlimit("migration=102400,default=204800",
	    &dc, err, sizeof(err)), 0);
	assert_int_equal(get_bandwidth_limit(cfg, c->op, c->ids, c->nids,
	    c->with_dc ? &dc : NULL, c->override, &access, &limit, err,
	    sizeof(err)), c->rc);
	if (c->rc == 0) {
		if (limit != c->expected)
			fail_msg("limit %g, expected %g", limit, c->expected);
	} else
		assert_contains(err, "storage 'nope' does not exist");
	if (fa.ncalls != c->ncalls)
		fail_msg("%zu privilege checks (%s), expected %zu", fa.ncalls,
		    fa.calls, c->ncalls);
}

static void
test_bandwidth_limit(void **state)
{
	struct storagecfg	 cfg;
	size_t			 i;

	parse_str(&cfg, bw_config);
	assert_int_equal(cfg.nstorages, 7);
	for (i = 0; i < NELEM(bw_cases); i++) {
		print_message("case: %s\n", bw_cases[i].name);
		check_bw_case(&cfg, &bw_cases[i]);
	}
	storagecfg_free(&cfg);
}

static void
test_bandwidth_no_access(void **state)
{
	struct storagecfg	 cfg;
	const char		*ids[] = { "fast" };
	char			 err[STORAGECFG_ERR_MAX];
	double			 limit;

	/* Without an access checker, an override has no privileges. */
	parse_str(&cfg, bw_config);
	assert_int_equal(get_bandwidth_limit(&cfg, "migration", ids, 1, NULL,
	    999999, NULL, &limit, err, sizeof(err)), 0);
	assert_true(limit == 204800);
	assert_int_equal(get_bandwidth_limit(&cfg, "migration", NULL, 0, NULL,
	    BWLIMIT_UNSET, NULL, &limit, err, sizeof(err)), 0);
	assert_true(limit == BWLIMIT_UNSET);
	storagecfg_free(&cfg);
}

static void
test_names(void **state)
{
	assert_string_equal(content_type_name(CONTENT_ROOTDIR), "rootdir");
	assert_null(content_type_name(CONTENT_TYPE_COUNT));
	assert_int_equal(content_type_parse("import"), CONTENT_IMPORT);
	assert_int_equal(content_type_parse("none"), -1);
	assert_string_equal(image_format_name(IMAGE_FORMAT_SUBVOL), "subvol");
	assert_int_equal(image_format_parse("qcow2"), IMAGE_FORMAT_QCOW2);
	assert_int_equal(image_format_parse("qcow"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_composed),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_unsupported_type),
		cmocka_unit_test(test_nodes),
		cmocka_unit_test(test_dir_options),
		cmocka_unit_test(test_content_dirs_hostile),
		cmocka_unit_test(test_duplicate_storage_id),
		cmocka_unit_test(test_local_kept_as_written),
		cmocka_unit_test(test_storage_count_limit),
		cmocka_unit_test(test_oversized_file),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_warning_flood),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_split_list),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_parse_volid),
		cmocka_unit_test(test_image_volname),
		cmocka_unit_test(test_image_name_length),
		cmocka_unit_test(test_parse_bwlimit),
		cmocka_unit_test(test_bandwidth_limit),
		cmocka_unit_test(test_bandwidth_no_access),
		cmocka_unit_test(test_names),
	};

	log_init(1, 0, "test_storagecfg");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
