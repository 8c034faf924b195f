/*
 * Unit tests for VM config files and property strings
 * (common/vmconfig.c): golden files, the line grammar one rule at a
 * time, every supported key, property strings, drives, NICs, hostile
 * input and the main-section API.
 *
 * Golden files are in tests/unit/vmconfig/: each <name>.conf is parsed
 * in strict mode and written, and the text must equal <name>.out byte
 * for byte.  The binary runs from the repository root.  To regenerate
 * the .out files after a deliberate change, run it with
 * VMCONFIG_GOLDEN_UPDATE=1 and review the diff.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>
#include <cmocka.h>

#include "log.h"
#include "storagecfg.h"
#include "vmconfig.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define GOLDEN_DIR	"tests/unit/vmconfig/"
#define VMID		4321

#define assert_contains(s, sub) do {					\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("\"%s\" does not contain \"%s\"", (s), (sub));	\
} while (0)

static int
parse_text(struct vmconfig *cfg, const char *text, int strict, char *err,
    size_t errlen)
{
	return vmconfig_parse(cfg, text, strlen(text), strict, VMID, err,
	    errlen);
}

/* Parse text that must load.  The caller frees cfg. */
static void
parse_ok(struct vmconfig *cfg, const char *text, int strict)
{
	char	 err[VMCONFIG_ERR_MAX] = "";

	if (parse_text(cfg, text, strict, err, sizeof(err)) != 0)
		fail_msg("parse of \"%s\" failed: %s", text, err);
}

/* Parse text that must fail in strict mode with errsub in the error. */
static void
parse_fails(const char *text, const char *errsub)
{
	struct vmconfig	 cfg;
	char		 err[VMCONFIG_ERR_MAX] = "";

	if (parse_text(&cfg, text, 1, err, sizeof(err)) == 0) {
		vmconfig_free(&cfg);
		fail_msg("parse of \"%s\" succeeded", text);
	}
	assert_contains(err, errsub);
	assert_int_equal(cfg.main.nentries, 0);
	assert_null(cfg.pending);
	assert_int_equal(cfg.nsnapshots, 0);
}

/* Write cfg.  The caller frees the text. */
static char *
write_text(const struct vmconfig *cfg)
{
	char	*out;
	size_t	 len;

	if (vmconfig_write(cfg, &out, &len) != 0)
		fail_msg("write failed: %s", strerror(errno));
	assert_int_equal(strlen(out), len);
	return out;
}

static void
assert_writes(const struct vmconfig *cfg, const char *expected)
{
	char	*out = write_text(cfg);

	assert_string_equal(out, expected);
	free(out);
}

static char *
read_golden(const char *name, size_t *len)
{
	char	 path[256];
	FILE	*f;
	char	*buf;
	long	 n;

	snprintf(path, sizeof(path), GOLDEN_DIR "%s", name);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("%s: %s (run from the repository root)", path,
		    strerror(errno));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void
update_golden(const char *name, const char *text)
{
	char	 path[256];
	FILE	*f;

	snprintf(path, sizeof(path), GOLDEN_DIR "%s", name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static void
compare_golden(const char *outname, const char *out)
{
	char	*expected;
	size_t	 len;

	if (getenv("VMCONFIG_GOLDEN_UPDATE") != NULL)
		update_golden(outname, out);
	expected = read_golden(outname, &len);
	assert_int_equal(strlen(out), len);
	assert_memory_equal(out, expected, len);
	free(expected);
}

/* Parse in strict mode and write again: the text must not change. */
static void
assert_stable(const char *text)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, text, 1);
	assert_int_equal(cfg.nwarnings, 0);
	assert_writes(&cfg, text);
	vmconfig_free(&cfg);
}

/*
 * Golden files
 */

static void
test_golden_example(void **state)
{
	struct vmconfig	 cfg;
	char		*in, *out;
	size_t		 len;

	in = read_golden("example.conf", &len);
	parse_ok(&cfg, in, 1);
	assert_int_equal(cfg.nwarnings, 0);
	assert_int_equal(strlen(cfg.digest), 40);
	assert_string_equal(cfg.main.description,
	    "Shop frontend: staging copy\nowner ops-team");
	assert_string_equal(vmconfig_get(&cfg, "memory"), "6144");
	assert_string_equal(vmconfig_get(&cfg, "parent"), "pre-patch");
	assert_non_null(cfg.pending);
	assert_string_equal(vmconfig_section_get(cfg.pending, "delete"),
	    "!tablet");
	assert_string_equal(vmconfig_section_get(cfg.pending, "memory"),
	    "8192");
	assert_int_equal(cfg.nsnapshots, 1);
	assert_string_equal(cfg.snapshots[0].name, "pre-patch");
	assert_int_equal(cfg.snapshots[0].kind, VMCONFIG_SNAPSHOT);
	assert_string_equal(vmconfig_section_get(&cfg.snapshots[0],
	    "snaptime"), "1722950000");
	assert_int_equal(cfg.nspecials, 0);

	out = write_text(&cfg);
	compare_golden("example.out", out);
	assert_string_equal(out, in);
	free(out);
	vmconfig_free(&cfg);
	free(in);
}

static void
test_golden_normalise(void **state)
{
	struct vmconfig	 cfg;
	char		*in, *out;
	size_t		 len;

	in = read_golden("normalise.conf", &len);
	parse_ok(&cfg, in, 1);
	assert_int_equal(cfg.nwarnings, 0);
	assert_string_equal(vmconfig_get(&cfg, "sata1"),
	    "local:4321/disk-a.raw,size=4K");
	assert_string_equal(vmconfig_get(&cfg, "cdrom"), "none,media=cdrom");
	assert_null(vmconfig_get(&cfg, "snapstate"));
	assert_string_equal(cfg.pending->description, "");
	assert_int_equal(cfg.nspecials, 2);
	assert_string_equal(cfg.specials[0].name, "cloudinit");
	assert_string_equal(cfg.specials[1].name, "fleecing");
	assert_string_equal(cfg.snapshots[0].name, "alpha");
	assert_string_equal(cfg.snapshots[1].name, "zeta");
	assert_string_equal(vmconfig_section_get(&cfg.snapshots[1],
	    "snapstate"), "delete");

	out = write_text(&cfg);
	compare_golden("normalise.out", out);
	assert_stable(out);
	free(out);
	vmconfig_free(&cfg);
	free(in);
}

static void
test_golden_strip(void **state)
{
	struct vmconfig	 cfg;
	char		*in, *out;
	size_t		 len;

	in = read_golden("example.conf", &len);
	parse_ok(&cfg, in, 1);
	vmconfig_strip_for_migration(&cfg);
	assert_null(cfg.pending);
	assert_int_equal(cfg.nsnapshots, 0);
	assert_null(vmconfig_get(&cfg, "parent"));
	assert_non_null(vmconfig_get(&cfg, "vmgenid"));
	assert_non_null(vmconfig_get(&cfg, "meta"));
	out = write_text(&cfg);
	compare_golden("strip.out", out);
	assert_stable(out);
	free(out);
	vmconfig_free(&cfg);
	free(in);
}

/* Strip keeps [special:cloudinit] and drops lock, digest and fleecing. */
static void
test_strip_sections(void **state)
{
	struct vmconfig	 cfg;
	char		*in;
	size_t		 len;

	in = read_golden("normalise.conf", &len);
	parse_ok(&cfg, in, 1);
	assert_non_null(vmconfig_get(&cfg, "lock"));
	assert_non_null(vmconfig_get(&cfg, "digest"));
	vmconfig_strip_for_migration(&cfg);
	assert_null(vmconfig_get(&cfg, "lock"));
	assert_null(vmconfig_get(&cfg, "digest"));
	assert_null(cfg.pending);
	assert_int_equal(cfg.nsnapshots, 0);
	assert_int_equal(cfg.nspecials, 1);
	assert_string_equal(cfg.specials[0].name, "cloudinit");
	assert_string_equal(vmconfig_section_get(&cfg.specials[0], "ciuser"),
	    "admin");
	vmconfig_free(&cfg);
	free(in);
}

static void
test_round_trip_after_edits(void **state)
{
	struct vmconfig	 cfg;
	char		 err[VMCONFIG_ERR_MAX] = "";
	char		*in, *out, *again;
	size_t		 len;

	in = read_golden("example.conf", &len);
	parse_ok(&cfg, in, 1);
	assert_int_equal(vmconfig_set(&cfg, "lock", "migrate", err,
	    sizeof(err)), 0);
	assert_int_equal(vmconfig_set(&cfg, "net10", "e1000=BC:24:11:00:00:10",
	    err, sizeof(err)), 0);
	assert_int_equal(vmconfig_set(&cfg, "description", "a:b\n\nc%d  \n",
	    err, sizeof(err)), 0);
	out = write_text(&cfg);
	assert_contains(out, "#a%3Ab\n#\n#c%25d\n");
	assert_contains(out, "lock: migrate\n");
	/* Bytewise order: net0, net10, then ostype. */
	assert_non_null(strstr(out, "net10: "));
	assert_true(strstr(out, "net0: ") < strstr(out, "net10: "));
	assert_true(strstr(out, "net10: ") < strstr(out, "ostype: "));
	vmconfig_free(&cfg);

	parse_ok(&cfg, out, 1);
	assert_string_equal(cfg.main.description, "a:b\n\nc%d");
	again = write_text(&cfg);
	assert_string_equal(again, out);
	free(again);
	free(out);
	vmconfig_free(&cfg);
	free(in);
}

/*
 * Line grammar
 */

static void
test_blank_lines_in_sections(void **state)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, "cores: 1\n\n   \n\t\n[PENDING]\n\nmemory: 512\n \n"
	    "cores: 2\n", 1);
	assert_string_equal(vmconfig_get(&cfg, "cores"), "1");
	assert_non_null(cfg.pending);
	assert_string_equal(vmconfig_section_get(cfg.pending, "memory"),
	    "512");
	assert_string_equal(vmconfig_section_get(cfg.pending, "cores"), "2");
	assert_null(vmconfig_get(&cfg, "memory"));
	vmconfig_free(&cfg);
}

static void
test_pending_any_case(void **state)
{
	static const char *const headers[] = {
		"[PENDING]", "[pending]", "[Pending]  ", "[pEnDiNg]\t",
	};
	struct vmconfig		 cfg;
	char			 text[128];
	size_t			 i;

	for (i = 0; i < NELEM(headers); i++) {
		snprintf(text, sizeof(text), "%s\nmemory: 512\n", headers[i]);
		parse_ok(&cfg, text, 1);
		assert_non_null(cfg.pending);
		assert_int_equal(cfg.nsnapshots, 0);
		assert_writes(&cfg, "\n[PENDING]\nmemory: 512\n");
		vmconfig_free(&cfg);
	}
}

static void
test_empty_pending_not_written(void **state)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, "cores: 1\n[PENDING]\n", 1);
	assert_non_null(cfg.pending);
	assert_writes(&cfg, "cores: 1\n");
	vmconfig_free(&cfg);
}

/* [special:cloudinit] values are kept unchecked and written back. */
static void
test_special_cloudinit(void **state)
{
	static const char	 with_drive[] =
	    "ide2: fast:4321/vm-4321-cloudinit.qcow2,media=cdrom\n"
	    "\n[special:cloudinit]\n"
	    "cipassword: $5$x$y\n"
	    "hostpci0: anything at all, even !!\n";
	struct vmconfig		 cfg;

	assert_stable(with_drive);

	/* Without a cloud-init drive, the section is not written. */
	parse_ok(&cfg, "cores: 1\n[special:cloudinit]\nciuser: admin\n", 1);
	assert_int_equal(cfg.nspecials, 1);
	assert_writes(&cfg, "cores: 1\n");
	vmconfig_free(&cfg);

	/* Each form of cloud-init volume name counts. */
	assert_stable("scsi1: fast:vm-4321-cloudinit,media=cdrom\n\n"
	    "[special:cloudinit]\nciuser: a\n");
	assert_stable("sata0: fast:4321/cloudinit.raw,media=cdrom\n\n"
	    "[special:cloudinit]\nciuser: a\n");
	parse_ok(&cfg, "sata0: fast:4321/mycloudinit.raw,media=cdrom\n"
	    "[special:cloudinit]\nciuser: a\n", 1);
	assert_writes(&cfg, "sata0: fast:4321/mycloudinit.raw,media=cdrom\n");
	vmconfig_free(&cfg);
}

static void
test_special_fleecing(void **state)
{
	assert_stable("cores: 1\n\n[special:fleecing]\n"
	    "fleecing-images: fast:4321/a.qcow2,fast:4321/b.qcow2\n");
	parse_fails("[special:fleecing]\nmemory: 512\n",
	    "unsupported config key 'memory' in [special:fleecing]");
	parse_fails("[special:fleecing]\nfleecing-images: nostorage\n",
	    "invalid value 'nostorage'");
	parse_fails("[special:other]\n", "unknown section [special:other]");
}

static void
test_snapshot_headers(void **state)
{
	struct vmconfig	 cfg;
	char		 name[64], text[128];

	parse_ok(&cfg, "[snap_B]\ncores: 2\n[Snap-a]\ncores: 1\n"
	    "[s1]\nparent: Snap-a\n", 1);
	assert_int_equal(cfg.nsnapshots, 3);
	/* Bytewise: upper case sorts before lower case. */
	assert_string_equal(cfg.snapshots[0].name, "Snap-a");
	assert_string_equal(cfg.snapshots[1].name, "s1");
	assert_string_equal(cfg.snapshots[2].name, "snap_B");
	assert_writes(&cfg, "\n[Snap-a]\ncores: 1\n\n[s1]\nparent: Snap-a\n"
	    "\n[snap_B]\ncores: 2\n");
	vmconfig_free(&cfg);

	/* 40 characters are allowed, 41 are not. */
	memset(name, 'a', 40);
	name[40] = '\0';
	snprintf(text, sizeof(text), "[%s]\ncores: 1\n", name);
	parse_ok(&cfg, text, 1);
	assert_int_equal(cfg.nsnapshots, 1);
	vmconfig_free(&cfg);
	snprintf(text, sizeof(text), "[%sb]\ncores: 1\n", name);
	parse_fails(text, "longer than 40 characters");
	parse_fails("[1snap]\n", "unknown section [1snap]");
	parse_fails("[a]\n", "unknown section [a]");
	parse_fails("[snap shot]\n", "unknown section [snap shot]");
}

static void
test_unknown_section(void **state)
{
	static const char	 text[] =
	    "cores: 1\n[no such section]\nmemory: 512\nbogus line\n"
	    "#not a description\n[snap]\ncores: 2\n";
	struct vmconfig		 cfg;

	parse_fails(text, "line 2: unknown section [no such section]");

	/* Not strict: a warning, and the section's lines are skipped. */
	parse_ok(&cfg, text, 0);
	assert_int_equal(cfg.nwarnings, 1);
	assert_contains(cfg.warning, "unknown section");
	assert_null(vmconfig_get(&cfg, "memory"));
	assert_null(cfg.main.description);
	assert_int_equal(cfg.nsnapshots, 1);
	assert_string_equal(vmconfig_section_get(&cfg.snapshots[0], "cores"),
	    "2");
	vmconfig_free(&cfg);

	/* A line that only starts like a header is not one. */
	parse_fails("[snap]x\n", "unable to parse '[snap]x'");
}

static void
test_duplicate_header(void **state)
{
	static const char *const texts[] = {
		"[PENDING]\nmemory: 1024\n[pending]\ncores: 2\n",
		"[snap]\nmemory: 1024\n[snap]\ncores: 2\n",
		"[special:cloudinit]\nmemory: 1024\n[special:cloudinit]\n"
		    "cores: 2\n",
	};
	struct vmconfig		 cfg;
	struct vmconfig_section	*sec;
	size_t			 i;

	for (i = 0; i < NELEM(texts); i++) {
		parse_fails(texts[i], "line 3: duplicate section");

		/* Not strict: the later section replaces the earlier. */
		parse_ok(&cfg, texts[i], 0);
		assert_int_equal(cfg.nwarnings, 1);
		sec = cfg.pending != NULL ? cfg.pending : cfg.nsnapshots > 0 ?
		    &cfg.snapshots[0] : &cfg.specials[0];
		assert_int_equal(sec->nentries, 1);
		assert_string_equal(vmconfig_section_get(sec, "cores"), "2");
		vmconfig_free(&cfg);
	}
}

static void
test_description_decoding(void **state)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, "#a%3Ab %c3%A9 100% %zz %4\n#\n#  x  \n"
	    "cores: 1\n#late line\n\n[snap]\n#snap text\ncores: 1\n", 1);
	assert_string_equal(cfg.main.description,
	    "a:b \xc3\xa9 100% %zz %4\n\n  x  \nlate line");
	assert_string_equal(cfg.snapshots[0].description, "snap text");
	/* Only the end of the whole description is trimmed. */
	assert_writes(&cfg, "#a%3Ab %C3%A9 100%25 %25zz %254\n#\n#  x  \n"
	    "#late line\ncores: 1\n\n[snap]\n#snap text\ncores: 1\n");
	vmconfig_free(&cfg);

	/* Raw UTF-8 is accepted and written encoded. */
	parse_ok(&cfg, "#caf\xc3\xa9\n", 1);
	assert_string_equal(cfg.main.description, "caf\xc3\xa9");
	assert_writes(&cfg, "#caf%C3%A9\n");
	vmconfig_free(&cfg);

	/* A description of only blank '#' lines is empty, not written. */
	parse_ok(&cfg, "#\n#   \ncores: 1\n", 1);
	assert_string_equal(cfg.main.description, "");
	assert_writes(&cfg, "cores: 1\n");
	vmconfig_free(&cfg);
}

static void
test_description_key(void **state)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, "#one\ndescription: two%3A  \ndescription:three\n"
	    "#four\n", 1);
	assert_string_equal(cfg.main.description, "one\ntwo:threefour");
	assert_null(vmconfig_section_get(&cfg.main, "description"));
	assert_writes(&cfg, "#one\n#two%3Athreefour\n");
	vmconfig_free(&cfg);

	parse_fails("description:   \n", "no value for 'description'");
}

static void
test_snapstate(void **state)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, "snapstate: prepare\ncores: 1\n[snap]\n"
	    "snapstate: delete\n[PENDING]\nsnapstate: prepare\n", 1);
	assert_null(vmconfig_get(&cfg, "snapstate"));
	assert_string_equal(vmconfig_section_get(&cfg.snapshots[0],
	    "snapstate"), "delete");
	assert_string_equal(vmconfig_section_get(cfg.pending, "snapstate"),
	    "prepare");
	vmconfig_free(&cfg);

	parse_fails("snapstate: running\n", "unsupported config key "
	    "'snapstate'");
	parse_fails("cores: 1 snapstate: delete\n", "cores: invalid value");
}

static void
test_args_rejected(void **state)
{
	parse_fails("args: -no-reboot -smbios type=0\n",
	    "line 1: unsupported config key 'args'");
	parse_fails("[snap]\nargs: -S\n", "unsupported config key 'args'");
}

static void
test_delete_only_in_pending(void **state)
{
	struct vmconfig	 cfg;

	parse_fails("delete: memory\n",
	    "key 'delete' is only allowed in [PENDING]");
	parse_fails("[snap]\ndelete: memory\n", "only allowed in [PENDING]");
	parse_fails("[special:cloudinit]\ndelete: memory\n",
	    "only allowed in [PENDING]");
	parse_fails("[PENDING]\ndelete: memory,Bad\n",
	    "invalid key in the list");
	parse_fails("[PENDING]\ndelete: !\n", "invalid key in the list");

	parse_ok(&cfg, "[PENDING]\ndelete: !vga; balloon,,tablet\n", 1);
	assert_string_equal(vmconfig_section_get(cfg.pending, "delete"),
	    "!vga; balloon,,tablet");
	vmconfig_free(&cfg);
}

static void
test_cdrom_is_ide2(void **state)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, "cdrom: none,media=cdrom\n", 1);
	assert_string_equal(vmconfig_get(&cfg, "ide2"), "none,media=cdrom");
	assert_writes(&cfg, "ide2: none,media=cdrom\n");
	vmconfig_free(&cfg);

	parse_fails("ide2: none,media=cdrom\ncdrom: none,media=cdrom\n",
	    "duplicate key 'ide2'");

	/* Not strict: the later value wins, as upstream. */
	parse_ok(&cfg, "cores: 1\ncores: 2\n", 0);
	assert_int_equal(cfg.nwarnings, 1);
	assert_string_equal(vmconfig_get(&cfg, "cores"), "2");
	vmconfig_free(&cfg);
}

static void
test_quoted_values(void **state)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, "ostype: \"l26\"\nlock: \"migrate\"\n"
	    "vmgenid: \"0f1e2d3c-4b5a-4697-8877-665544332211\"\n"
	    "serial0: \"socket\"\n", 1);
	assert_string_equal(vmconfig_get(&cfg, "ostype"), "l26");
	assert_string_equal(vmconfig_get(&cfg, "lock"), "migrate");
	assert_string_equal(vmconfig_get(&cfg, "serial0"), "socket");
	vmconfig_free(&cfg);

	/* Only one pair, and only for values without a format. */
	parse_fails("ostype: \"\"l26\"\"\n", "ostype: invalid value");
	parse_fails("name: \"web\"\n", "name: invalid value '\"web\"'");
	parse_fails("cores: \"2\"\n", "cores: invalid value");
	parse_fails("ostype: \"l26\n", "ostype: invalid value");
}

static void
test_carriage_return(void **state)
{
	struct vmconfig	 cfg;

	parse_fails("cores: 1\r\n", "line 1: carriage return");
	parse_fails("#note\r\n", "carriage return");
	parse_fails("[PENDING]\r\n", "carriage return");
	parse_fails("cores: 1\nname: a\rb\n", "line 2: carriage return");

	parse_ok(&cfg, "cores: 1\r\nsockets: 2\n", 0);
	assert_int_equal(cfg.nwarnings, 1);
	assert_null(vmconfig_get(&cfg, "cores"));
	assert_string_equal(vmconfig_get(&cfg, "sockets"), "2");
	vmconfig_free(&cfg);
}

static void
test_bad_key_syntax(void **state)
{
	static const struct {
		const char	*text;
		const char	*err;
	} cases[] = {
		{ "Memory: 512\n", "unable to parse 'Memory: 512'" },
		{ "net0a: virtio\n", "unable to parse" },
		{ " memory: 512\n", "unable to parse" },
		{ "\tmemory: 512\n", "unable to parse" },
		{ "memory 512\n", "unable to parse" },
		{ "memory : 512\n", "unable to parse" },
		{ "0net: x\n", "unable to parse" },
		{ "memory:\n", "no value for 'memory'" },
		{ "memory:    \n", "no value for 'memory'" },
		{ "  #indented comment\n", "unable to parse" },
		{ "just words\n", "unable to parse" },
		{ "net00: virtio\n", "unsupported config key 'net00'" },
	};
	size_t	 i;

	for (i = 0; i < NELEM(cases); i++)
		parse_fails(cases[i].text, cases[i].err);
}

static void
test_value_whitespace(void **state)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, "cores:4\nsockets:\t 2 \t\nname: a  \n", 1);
	assert_string_equal(vmconfig_get(&cfg, "cores"), "4");
	assert_string_equal(vmconfig_get(&cfg, "sockets"), "2");
	assert_string_equal(vmconfig_get(&cfg, "name"), "a");
	vmconfig_free(&cfg);
}

static void
test_no_final_newline(void **state)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, "cores: 1\nsockets: 2", 1);
	assert_string_equal(vmconfig_get(&cfg, "sockets"), "2");
	vmconfig_free(&cfg);

	parse_ok(&cfg, "", 1);
	assert_int_equal(cfg.main.nentries, 0);
	assert_writes(&cfg, "");
	vmconfig_free(&cfg);
}

static void
test_warning_count(void **state)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, "hostpci0: 01:00.0\ncores: x\nbogus\ncores: 2\n", 0);
	assert_int_equal(cfg.nwarnings, 3);
	assert_string_equal(cfg.warning,
	    "line 1: unsupported config key 'hostpci0'");
	assert_int_equal(cfg.main.nentries, 1);
	assert_string_equal(vmconfig_get(&cfg, "cores"), "2");
	vmconfig_free(&cfg);
}

/*
 * Supported keys: one valid and one invalid value each
 */

static const struct key_case {
	const char	*key;
	const char	*valid;
	const char	*stored;	/* NULL: as valid */
	const char	*invalid;
	const char	*why;		/* in the error for invalid */
} key_cases[] = {
	{ "acpi", "off", "0", "maybe", "not a boolean" },
	{ "agent", "1,type=isa", NULL, "type=isa", "missing key 'enabled'" },
	{ "agent", "enabled=yes,freeze-fs-on-backup=0", NULL,
	    "1,freeze-fs=1,guest-fsfreeze=0", "already defined" },
	{ "bios", "ovmf", NULL, "uefi", "must be one of seabios, ovmf" },
	{ "boot", "order=scsi0;ide2;net0", NULL, "order=scsi0;efidisk0",
	    "invalid boot device" },
	{ "boot", "cdn", NULL, "cdnx", "must be 1 to 4 of" },
	{ "cores", "0016", "16", "0", "must be 1 to 2147483647" },
	{ "cores", "2", NULL, "-1", "not an integer" },
	{ "cpu", "host,flags=+pcid;-md-clear", NULL, "host,flags=+avx512f",
	    "set of flags a VM may set" },
	{ "cpu", "custom-my.model,hidden=1", NULL, "Zen9",
	    "unknown CPU model" },
	{ "cpu", "kvm64,phys-bits=host,guest-phys-bits=40", NULL,
	    "kvm64,reported-model=kvm64", "not allowed in a VM" },
	{ "cpu", "cputype=x86-64-v3,level=30,hv-vendor-id=proxmox", NULL,
	    "flags=+pcid", "no cputype" },
	{ "cpu", "Icelake-Server", NULL, "kvm64,phys-bits=7", "8 to 64" },
	{ "description", NULL, NULL, NULL, NULL },
	{ "digest", "0123456789abcdef0123456789abcdef01234567", NULL, "abc",
	    "hex digits" },
	{ "efidisk0", "fast:4321/vm-4321-disk-0.raw,efitype=4m,size=528K",
	    NULL, "fast:4321/vm-4321-disk-0.raw,efitype=8m", "efitype" },
	{ "ide0", "fast:4321/vm-4321-disk-0.raw,model=QEMU%20HARDDISK", NULL,
	    "fast:4321/vm-4321-disk-0.raw,iothread=1",
	    "unknown key 'iothread'" },
	{ "kvm", "0", NULL, "2", "not a boolean" },
	{ "localtime", "TRUE", "1", "yes please", "not a boolean" },
	{ "lock", "migrate", NULL, "frozen", "must be one of" },
	{ "machine", "pc-i440fx-7.2+pve0", NULL, "pc-i440fx-7",
	    "not a machine type" },
	{ "machine", "type=q35,viommu=virtio,aw-bits=48", NULL,
	    "q35,viommu=amd", "must be one of intel, virtio" },
	{ "machine", "pc-q35-4.0.1+pve2.pxe", NULL, "q35,aw-bits=65",
	    "must be 32 to 64" },
	{ "memory", "2048", NULL, "8", "must be 16 to" },
	{ "memory", "current=2048", NULL, "current=2048,max=4096",
	    "unknown key 'max'" },
	{ "meta", "creation-qemu=9.2.0,ctime=1722860000", NULL,
	    "creation-qemu=9", "not a version" },
	{ "name", "web-1.example", NULL, "-web", "not a valid DNS name" },
	{ "net31", "virtio=BC:24:11:0D:9E:41,bridge=vmbr0", NULL,
	    "virtio=01:24:11:0D:9E:41", "multicast" },
	{ "onboot", "1", NULL, "10", "not a boolean" },
	{ "ostype", "win11", NULL, "win12", "must be one of" },
	{ "parent", "pre-patch", NULL, "1snap", "not a valid name" },
	{ "protection", "No", "0", "nope", "not a boolean" },
	{ "rng0", "source=/dev/urandom,max_bytes=1024,period=1000", NULL,
	    "/dev/zero", "must be one of /dev/urandom" },
	{ "rng0", "/dev/hwrng,max_bytes=-1", NULL, "period=1000",
	    "missing key 'source'" },
	{ "sata5", "fast:4321/vm-4321-disk-0.raw,ssd=1", NULL,
	    "fast:4321/vm-4321-disk-0.raw,ro=1", "unknown key 'ro'" },
	{ "scsi30", "fast:4321/vm-4321-disk-0.raw,product=QEMU HDD,vendor=PVE",
	    NULL, "fast:4321/vm-4321-disk-0.raw,vendor=LONGVENDOR",
	    "longer than 8 bytes" },
	{ "scsihw", "virtio-scsi-pci", NULL, "ahci", "must be one of" },
	{ "serial3", "socket", NULL, "/dev/ttyS0", "cannot be migrated" },
	{ "smbios1", "uuid=6a1f2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b,"
	    "manufacturer=UFZF,base64=1", NULL, "uuid=not-a-uuid",
	    "not a UUID" },
	{ "smbios1", "serial=QUJD,family=Rk9P==", NULL, "serial=a b",
	    "not base64" },
	{ "sockets", "2", NULL, "1.5", "not an integer" },
	{ "startup", "order=1,up=30,down=60", NULL, "order=first",
	    "startup order" },
	{ "startup", "3", NULL, "0", "startup order" },
	{ "tablet", "0", NULL, "off!", "not a boolean" },
	{ "tags", "shop;staging web", NULL, "shop;st@ging", "tag" },
	{ "unused255", "fast:4321/vm-4321-disk-3.raw", NULL, "none",
	    "invalid volume ID" },
	{ "vcpus", "2", NULL, "0", "must be 1 to" },
	{ "vga", "std,memory=32", NULL, "std,memory=1024", "must be 4 to 512" },
	{ "vga", "serial0", NULL, "type=vnc", "must be one of" },
	{ "virtio15", "fast:4321/vm-4321-disk-0.raw,iothread=1,ro=1", NULL,
	    "none,media=cdrom", "cannot be a CD-ROM" },
	{ "vmgenid", "0F1E2D3C-4B5A-4697-8877-665544332211", NULL,
	    "0f1e2d3c", "not a UUID" },
	{ "vmgenid", "1", NULL, "2", "not a UUID" },
};

static void
check_key_case(const struct key_case *kc)
{
	struct vmconfig	 cfg;
	char		 text[1024], err[VMCONFIG_ERR_MAX] = "";
	const char	*stored = kc->stored != NULL ? kc->stored : kc->valid;

	snprintf(text, sizeof(text), "%s: %s\n", kc->key, kc->valid);
	parse_ok(&cfg, text, 1);
	assert_string_equal(vmconfig_get(&cfg, kc->key), stored);
	vmconfig_free(&cfg);

	snprintf(text, sizeof(text), "%s: %s\n", kc->key, kc->invalid);
	if (parse_text(&cfg, text, 1, err, sizeof(err)) == 0)
		fail_msg("\"%s\" was accepted", text);
	assert_contains(err, kc->key);
	assert_contains(err, kc->why);

	/* vmconfig_set applies the same checks. */
	vmconfig_init(&cfg);
	if (vmconfig_set(&cfg, kc->key, kc->valid, err, sizeof(err)) != 0)
		fail_msg("set %s: %s", kc->key, err);
	assert_string_equal(vmconfig_get(&cfg, kc->key), stored);
	assert_int_equal(vmconfig_set(&cfg, kc->key, kc->invalid, err,
	    sizeof(err)), -1);
	assert_contains(err, kc->why);
	assert_string_equal(vmconfig_get(&cfg, kc->key), stored);
	vmconfig_free(&cfg);
}

static void
test_supported_keys(void **state)
{
	size_t	 i;

	for (i = 0; i < NELEM(key_cases); i++) {
		if (key_cases[i].valid == NULL)
			continue;
		print_message("key %s: %s / %s\n", key_cases[i].key,
		    key_cases[i].valid, key_cases[i].invalid);
		check_key_case(&key_cases[i]);
	}
}

/* Every key the QEMU runtime supports has a case above. */
static void
test_supported_keys_covered(void **state)
{
	static const char *const keys[] = {
		"name", "memory", "cores", "sockets", "vcpus", "cpu",
		"machine", "bios", "efidisk0", "boot", "ostype", "agent",
		"scsihw", "scsi30", "virtio15", "sata5", "ide0", "net31",
		"serial3", "vga", "smbios1", "vmgenid", "kvm", "acpi",
		"tablet", "localtime", "rng0", "description", "tags", "meta",
		"onboot", "protection", "startup", "lock", "digest", "parent",
		"unused255",
	};
	size_t	 i, j;

	for (i = 0; i < NELEM(keys); i++) {
		assert_true(vmconfig_key_supported(keys[i]));
		for (j = 0; j < NELEM(key_cases); j++)
			if (strcmp(key_cases[j].key, keys[i]) == 0)
				break;
		if (j == NELEM(key_cases))
			fail_msg("no test case for key %s", keys[i]);
	}
	assert_true(vmconfig_key_supported("cdrom"));
	assert_false(vmconfig_key_supported("snaptime"));
	assert_false(vmconfig_key_supported("hostpci0"));
}

static void
test_integer_limits(void **state)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, "cores: 2147483647\n", 1);
	vmconfig_free(&cfg);
	parse_fails("cores: 2147483648\n", "must be 1 to 2147483647");
	parse_fails("cores: 99999999999999999999\n", "out of range");
	parse_fails("memory: 99999999999999999999\n", "out of range");
	parse_fails("memory: +\n", "not an integer");
	parse_ok(&cfg, "memory: +2048\n", 1);
	assert_string_equal(vmconfig_get(&cfg, "memory"), "+2048");
	vmconfig_free(&cfg);
	parse_ok(&cfg, "[s1]\nsnaptime: 9223372036854775807\n", 1);
	vmconfig_free(&cfg);
	parse_fails("[s1]\nsnaptime: 9223372036854775808\n", "out of range");
	parse_fails("net0: virtio,rate=1e999\n", "out of range");
	parse_ok(&cfg, "net0: virtio,rate=1.5e1\n", 1);
	vmconfig_free(&cfg);
}

static void
test_snapshot_only_keys(void **state)
{
	static const char *const lines[] = {
		"snaptime: 1722950000",
		"vmstate: fast:4321/vm-4321-state-s1.raw",
		"runningmachine: pc-q35-7.2+pve0",
		"runningcpu: kvm64,enforce,+kvm_pv_eoi,-kvm_pv_unhalt,"
		    "vendor=GenuineIntel",
		"running-nets-host-mtu: net0=1500,net1=0",
	};
	struct vmconfig		 cfg;
	char			 text[256], key[64];
	size_t			 i;

	for (i = 0; i < NELEM(lines); i++) {
		snprintf(text, sizeof(text), "[s1]\n%s\n", lines[i]);
		parse_ok(&cfg, text, 1);
		assert_int_equal(cfg.snapshots[0].nentries, 1);
		vmconfig_free(&cfg);

		snprintf(key, sizeof(key), "%.*s", (int)strcspn(lines[i],
		    ":"), lines[i]);
		snprintf(text, sizeof(text), "%s\n", lines[i]);
		parse_fails(text, "unsupported config key");
		parse_fails(text, key);
		snprintf(text, sizeof(text), "[PENDING]\n%s\n", lines[i]);
		parse_fails(text, "unsupported config key");
	}
	parse_fails("[s1]\nrunningcpu: kvm64,,enforce\n", "QEMU -cpu");
	parse_fails("[s1]\nrunning-nets-host-mtu: net0=\n", "netN=MTU");
	parse_fails("[s1]\nvmstate: /dev/sda\n", "not a volume ID");
}

static void
test_unsupported_keys(void **state)
{
	static const char *const keys[] = {
		"hostpci0", "usb0", "args", "numa", "numa0", "hugepages",
		"tpmstate0", "parallel0", "audio0", "watchdog", "ivshmem",
		"virtiofs0", "balloon", "hotplug", "cicustom", "ipconfig0",
		"foo", "ide4", "sata6", "scsi31", "virtio16", "efidisk1",
		"unused256", "net32", "serial4", "rng1", "smp", "arch",
		"template", "bootdisk", "amd-sev", "spice_enhancements",
	};
	struct vmconfig		 cfg;
	char			 text[128], want[128];
	char			 err[VMCONFIG_ERR_MAX];
	size_t			 i;

	for (i = 0; i < NELEM(keys); i++) {
		snprintf(text, sizeof(text), "cores: 1\n%s: 1\n", keys[i]);
		snprintf(want, sizeof(want),
		    "line 2: unsupported config key '%s'", keys[i]);
		parse_fails(text, want);
		vmconfig_init(&cfg);
		assert_int_equal(vmconfig_set(&cfg, keys[i], "1", err,
		    sizeof(err)), -1);
		assert_contains(err, "unsupported config key");
		assert_false(vmconfig_key_supported(keys[i]));
		vmconfig_free(&cfg);
	}
}

/*
 * Property strings
 */

static void
test_propstr_grammar(void **state)
{
	static const struct {
		const char	*value;
		const char	*err;	/* NULL: valid */
	} cases[] = {
		{ "enabled=1,enabled=0", "duplicate key 'enabled'" },
		{ "1,enabled=0", "duplicate key 'enabled'" },
		{ "enabled=0,1", "duplicate key 'enabled'" },
		{ "1,0", "duplicate key 'enabled'" },
		{ "1,color=red", "unknown key 'color'" },
		{ "1, type=isa", "unknown key ' type'" },
		{ "1,type=", "missing key or value in 'type='" },
		{ "1,=isa", "missing key or value in '=isa'" },
		{ "1,=", "missing key or value" },
		{ "maybe", "invalid value 'maybe' for 'enabled': not a "
		    "boolean" },
		{ "1,fstrim_cloned_disks=2", "not a boolean" },
		{ "1,type=ISA", "must be one of virtio, isa" },
		{ "freeze-fs=1", "missing key 'enabled'" },
		{ "1,,, ,type=isa,", NULL },
		{ "on,fstrim_cloned_disks=TRUE", NULL },
		{ "freeze-fs=0,0", NULL },
	};
	const struct propstr_schema	*schema;
	struct propstr			 ps;
	char				 err[VMCONFIG_ERR_MAX];
	size_t				 i;
	int				 rc;

	schema = vmconfig_key_schema("agent");
	assert_non_null(schema);
	for (i = 0; i < NELEM(cases); i++) {
		err[0] = '\0';
		rc = propstr_parse(&ps, schema, cases[i].value, err,
		    sizeof(err));
		if (cases[i].err == NULL) {
			if (rc != 0)
				fail_msg("\"%s\": %s", cases[i].value, err);
			continue;
		}
		if (rc == 0)
			fail_msg("\"%s\" was accepted", cases[i].value);
		assert_contains(err, cases[i].err);
	}
}

static void
test_propstr_normalise(void **state)
{
	struct propstr	 ps, copy;
	char		 err[VMCONFIG_ERR_MAX], out[256];

	assert_int_equal(propstr_parse(&ps, vmconfig_key_schema("agent"),
	    "type=isa,YES,guest-fsfreeze=off", err, sizeof(err)), 0);
	assert_string_equal(propstr_get(&ps, "enabled"), "1");
	assert_string_equal(propstr_get(&ps, "freeze-fs"), "0");
	assert_null(propstr_get(&ps, "guest-fsfreeze"));
	assert_null(propstr_get(&ps, "fstrim_cloned_disks"));
	/* The struct contains offsets, so a copy reads the same. */
	copy = ps;
	memset(&ps, 0xa5, sizeof(ps));
	assert_int_equal(propstr_print(&copy, out, sizeof(out)), 0);
	assert_string_equal(out, "1,freeze-fs=0,type=isa");
	assert_int_equal(propstr_print(&copy, out, 5), -1);

	/* A value may contain '='. */
	assert_int_equal(propstr_parse(&ps, vmconfig_key_schema("smbios1"),
	    "family=Rk9P==,base64=1", err, sizeof(err)), 0);
	assert_string_equal(propstr_get(&ps, "family"), "Rk9P==");
	assert_int_equal(propstr_print(&ps, out, sizeof(out)), 0);
	assert_string_equal(out, "base64=1,family=Rk9P==");

	/* No default key: a bare value is an error. */
	assert_int_equal(propstr_parse(&ps, vmconfig_key_schema("smbios1"),
	    "abc", err, sizeof(err)), -1);
	assert_contains(err, "has no default key");
	assert_null(vmconfig_key_schema("cores"));
	assert_null(vmconfig_key_schema("scsi0"));
	assert_null(vmconfig_key_schema("nokey"));
}

/* Attempts at nesting are plain values that fail their checks. */
static void
test_propstr_nesting(void **state)
{
	static const struct {
		const char	*line;
		const char	*err;
	} cases[] = {
		{ "boot: order=order=order=scsi0", "invalid boot device" },
		{ "boot: order=(scsi0;(net0))", "invalid boot device" },
		{ "memory: current=current=2048", "not an integer" },
		{ "smbios1: uuid=uuid=6a1f2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
		    "not a UUID" },
		{ "agent: 1,type=virtio=isa", "must be one of virtio, isa" },
		{ "cpu: host,flags=+pcid;flags=+aes", "leading + or -" },
		{ "machine: type=type=q35", "not a machine type" },
		{ "scsi0: file=file=fast:4321/a.raw",
		    "invalid volume ID 'file=fast:4321/a.raw'" },
		{ "net0: virtio=virtio=BC:24:11:0D:9E:41", "not a MAC" },
		{ "vga: std,memory={memory=32}", "not an integer" },
		{ "rng0: source=[/dev/urandom]", "must be one of" },
		{ "agent: {1}", "not a boolean" },
	};
	char	 text[256];
	size_t	 i;

	for (i = 0; i < NELEM(cases); i++) {
		snprintf(text, sizeof(text), "%s\n", cases[i].line);
		parse_fails(text, cases[i].err);
	}
}

/*
 * Drives
 */

static void
drive_ok(const char *key, const char *value, const char *canonical)
{
	struct drive	 d;
	char		 err[VMCONFIG_ERR_MAX] = "";
	char		 out[VMCONFIG_VALUE_MAX + 64];

	if (parse_drive(key, value, VMID, &d, err, sizeof(err)) != 0)
		fail_msg("%s: %s: %s", key, value, err);
	assert_int_equal(print_drive(&d, out, sizeof(out)), 0);
	assert_string_equal(out, canonical);
}

static void
drive_fails(const char *key, const char *value, const char *errsub)
{
	struct drive	 d;
	char		 err[VMCONFIG_ERR_MAX] = "";

	if (parse_drive(key, value, VMID, &d, err, sizeof(err)) == 0)
		fail_msg("%s: %s was accepted", key, value);
	assert_contains(err, errsub);
}

static void
test_drive_buses(void **state)
{
	static const struct {
		const char	*key;
		enum drive_bus	 bus;
		unsigned	 index;
	} keys[] = {
		{ "ide0", DRIVE_IDE, 0 }, { "ide3", DRIVE_IDE, 3 },
		{ "sata0", DRIVE_SATA, 0 }, { "sata5", DRIVE_SATA, 5 },
		{ "scsi0", DRIVE_SCSI, 0 }, { "scsi30", DRIVE_SCSI, 30 },
		{ "virtio0", DRIVE_VIRTIO, 0 },
		{ "virtio15", DRIVE_VIRTIO, 15 },
		{ "efidisk0", DRIVE_EFIDISK, 0 },
		{ "unused0", DRIVE_UNUSED, 0 },
		{ "unused255", DRIVE_UNUSED, 255 },
		{ "cdrom", DRIVE_IDE, 2 },
	};
	static const char *const bad[] = {
		"ide4", "sata6", "scsi31", "virtio16", "efidisk1", "unused256",
		"tpmstate0", "ide01", "scsi", "net0", "ide-1",
	};
	struct drive	 d;
	char		 err[VMCONFIG_ERR_MAX];
	size_t		 i;

	for (i = 0; i < NELEM(keys); i++) {
		if (parse_drive(keys[i].key, "fast:4321/vm-4321-disk-0.raw",
		    VMID, &d, err, sizeof(err)) != 0)
			fail_msg("%s: %s", keys[i].key, err);
		assert_int_equal(d.bus, keys[i].bus);
		assert_int_equal(d.index, keys[i].index);
		assert_int_equal(d.file_kind, DRIVE_FILE_VOLUME);
		assert_string_equal(drive_volid(&d),
		    "fast:4321/vm-4321-disk-0.raw");
		assert_true(is_drive_key(keys[i].key));
	}
	for (i = 0; i < NELEM(bad); i++) {
		drive_fails(bad[i], "fast:4321/vm-4321-disk-0.raw",
		    "not a supported drive key");
		assert_false(is_drive_key(bad[i]));
	}
}

/* Options by bus, from upstream's ide/sata/scsi/virtio formats. */
static void
test_drive_bus_options(void **state)
{
	static const struct {
		const char	*option;
		const char	*buses;		/* i s c v e u */
	} options[] = {
		{ "model=QEMU", "i" }, { "ssd=1", "isc" },
		{ "wwn=0x0123456789abcdef", "isc" }, { "iothread=1", "cv" },
		{ "ro=1", "cv" }, { "product=P", "c" }, { "vendor=V", "c" },
		{ "queues=2", "c" }, { "scsiblock=1", "c" },
		{ "cache=none", "iscv" }, { "serial=ABC", "iscv" },
		{ "backup=0", "iscv" }, { "format=raw", "iscve" },
		{ "size=1G", "iscve" }, { "efitype=4m", "e" },
		{ "pre-enrolled-keys=1", "e" }, { "ms-cert=2023k", "e" },
		{ "aio=io_uring", "iscv" }, { "discard=on", "iscv" },
	};
	static const struct {
		const char	*key;
		char		 bus;
	} keys[] = {
		{ "ide1", 'i' }, { "sata1", 's' }, { "scsi1", 'c' },
		{ "virtio1", 'v' }, { "efidisk0", 'e' }, { "unused1", 'u' },
	};
	struct drive	 d;
	char		 value[256], err[VMCONFIG_ERR_MAX];
	size_t		 i, j;
	int		 ok;

	for (i = 0; i < NELEM(options); i++) {
		for (j = 0; j < NELEM(keys); j++) {
			snprintf(value, sizeof(value), "fast:4321/a.raw,%s",
			    options[i].option);
			ok = parse_drive(keys[j].key, value, VMID, &d, err,
			    sizeof(err)) == 0;
			if (ok != (strchr(options[i].buses, keys[j].bus) !=
			    NULL))
				fail_msg("%s: %s: %s", keys[j].key, value,
				    ok ? "accepted" : err);
		}
	}
}

static void
test_drive_canonical(void **state)
{
	/* file first, then the other options sorted.  Booleans: 1 or 0. */
	drive_ok("scsi0", "ssd=on,volume=fast:4321/a.raw,discard=on,"
	    "iothread=yes,cache=writeback,backup=no",
	    "fast:4321/a.raw,backup=0,cache=writeback,discard=on,"
	    "iothread=1,ssd=1");
	drive_ok("scsi0", "file=fast:4321/a.raw", "fast:4321/a.raw");
	drive_ok("sata0", "werror=stop,backup=1,fast:4321/a.raw,aio=native,"
	    "rerror=report,detect_zeroes=0,replicate=0,shared=1,snapshot=0,"
	    "format=qcow2",
	    "fast:4321/a.raw,aio=native,backup=1,detect_zeroes=0,"
	    "format=qcow2,replicate=0,rerror=report,shared=1,snapshot=0,"
	    "werror=stop");
	/* Dropped options, and legacy aliases of *_max_length. */
	drive_ok("ide0", "fast:4321/a.raw,cyls=1,heads=2,secs=3,trans=lba",
	    "fast:4321/a.raw");
	drive_ok("sata0", "fast:4321/a.raw,iops_rd=10,iops_rd_max=20,"
	    "iops_rd_length=5", "fast:4321/a.raw,iops_rd=10,iops_rd_max=20,"
	    "iops_rd_max_length=5");
	drive_ok("virtio0", "fast:4321/a.raw,mbps_rd=1.5,mbps_rd_max=3,"
	    "bps_rd_max_length=2", "fast:4321/a.raw,bps_rd_max_length=2,"
	    "mbps_rd=1.5,mbps_rd_max=3");
	drive_ok("scsi0", "fast:4321/a.raw,product=QEMU HDD,vendor=VENDOR_1",
	    "fast:4321/a.raw,product=QEMU HDD,vendor=VENDOR_1");
	drive_ok("efidisk0", "volume=fast:4321/a.raw,format=raw,size=540672",
	    "fast:4321/a.raw,format=raw,size=528K");
}

static void
test_drive_size(void **state)
{
	static const struct {
		const char	*size;
		const char	*canonical;
		uint64_t	 bytes;
	} cases[] = {
		{ "1.5G", "1536M", 1610612736ULL },
		{ "540672", "528K", 540672 },
		{ "4096", "4K", 4096 },
		{ "1000", "1000", 1000 },
		{ "32GiB", "32G", 34359738368ULL },
		{ "2T", "2T", 2199023255552ULL },
		{ "1048576K", "1G", 1073741824ULL },
		{ "0", "0T", 0 },
	};
	struct drive	 d;
	char		 value[128], want[128], err[VMCONFIG_ERR_MAX];
	size_t		 i;

	for (i = 0; i < NELEM(cases); i++) {
		snprintf(value, sizeof(value), "fast:4321/a.raw,size=%s",
		    cases[i].size);
		snprintf(want, sizeof(want), "fast:4321/a.raw,size=%s",
		    cases[i].canonical);
		drive_ok("scsi0", value, want);
		assert_int_equal(parse_drive("scsi0", value, VMID, &d, err,
		    sizeof(err)), 0);
		assert_true(d.has_size);
		assert_true(d.size == cases[i].bytes);
	}
	drive_fails("scsi0", "fast:4321/a.raw,size=10g", "not a size");
	drive_fails("scsi0", "fast:4321/a.raw,size=10GB", "not a size");
	drive_fails("scsi0", "fast:4321/a.raw,size=-1G", "not a size");
	drive_fails("scsi0", "fast:4321/a.raw,size=1.G", "not a size");
	drive_fails("scsi0", "fast:4321/a.raw,size=", "missing key or value");
	drive_fails("scsi0", "fast:4321/a.raw,size=99999999999T",
	    "not a size");
	assert_int_equal(parse_drive("scsi0", "fast:4321/a.raw", VMID, &d,
	    err, sizeof(err)), 0);
	assert_false(d.has_size);
}

static void
test_drive_cdrom(void **state)
{
	struct drive	 d;
	char		 err[VMCONFIG_ERR_MAX];

	assert_int_equal(parse_drive("ide2", "none,media=cdrom", VMID, &d,
	    err, sizeof(err)), 0);
	assert_true(d.cdrom);
	assert_int_equal(d.file_kind, DRIVE_FILE_NONE);
	assert_null(drive_volid(&d));
	assert_int_equal(parse_drive("sata0", "cdrom,media=cdrom", VMID, &d,
	    err, sizeof(err)), 0);
	assert_int_equal(d.file_kind, DRIVE_FILE_CDROM);
	assert_int_equal(parse_drive("scsi2", "fast:iso/alpine.iso,"
	    "media=cdrom,size=60M", VMID, &d, err, sizeof(err)), 0);
	assert_true(d.cdrom);
	assert_string_equal(drive_volid(&d), "fast:iso/alpine.iso");
	drive_ok("ide2", "media=cdrom,file=none", "none,media=cdrom");
	drive_ok("ide2", "none", "none");

	drive_fails("virtio0", "none,media=cdrom", "cannot be a CD-ROM");
	drive_fails("ide2", "none,media=cdrom,format=raw",
	    "takes no snapshot or format");
	drive_fails("ide2", "none,media=cdrom,snapshot=1",
	    "takes no snapshot or format");
	drive_ok("ide2", "none,media=cdrom,snapshot=0",
	    "none,media=cdrom,snapshot=0");
	drive_fails("ide2", "none,media=dvd", "must be one of cdrom, disk");
}

static void
test_drive_files(void **state)
{
	struct drive	 d;
	char		 err[VMCONFIG_ERR_MAX];

	/* Legacy bare names: local:<vmid>/ or, for a CD-ROM, local:iso/. */
	drive_ok("scsi0", "vm-4321-disk-0.raw,size=4G",
	    "local:4321/vm-4321-disk-0.raw,size=4G");
	drive_ok("ide2", "debian.iso,media=cdrom",
	    "local:iso/debian.iso,media=cdrom");
	drive_ok("sata0", "media=cdrom,file=x.iso",
	    "local:iso/x.iso,media=cdrom");
	assert_int_equal(parse_drive("scsi0", "disk.raw", 0, &d, err,
	    sizeof(err)), -1);
	assert_contains(err, "names no storage");
	drive_fails("efidisk0", "vars.raw", "invalid volume ID 'vars.raw'");
	drive_fails("unused0", "disk.raw", "invalid volume ID");

	/* Paths: /dev/ on the buses, any absolute path for efidisk0. */
	assert_int_equal(parse_drive("virtio0", "/dev/vg0/data", VMID, &d,
	    err, sizeof(err)), 0);
	assert_int_equal(d.file_kind, DRIVE_FILE_PATH);
	assert_null(drive_volid(&d));
	drive_fails("virtio0", "/srv/disk.raw", "not under /dev/");
	drive_fails("virtio0", "/dev/", "not under /dev/");
	drive_ok("efidisk0", "/srv/vars.fd,efitype=4m",
	    "/srv/vars.fd,efitype=4m");
	drive_fails("unused0", "/dev/sdb", "invalid volume ID");

	drive_fails("scsi0", "1fast:4321/a.raw", "invalid volume ID");
	drive_fails("scsi0", "fast:", "invalid volume ID");
	drive_fails("scsi0", "a/b.raw", "invalid volume ID");
	drive_fails("scsi0", "size=4G", "missing key 'file'");
	drive_fails("scsi0", "fast:4321/a.raw,fast:4321/b.raw",
	    "duplicate key 'file'");
	drive_fails("scsi0", "file=fast:4321/a.raw,volume=fast:4321/b.raw",
	    "already defined (through 'volume')");
	/* A bare part with '=' is a key, so such a file needs "file=". */
	drive_fails("scsi0", "fast:4321/a=b.raw", "unknown key 'fast:4321/a'");
	drive_ok("scsi0", "file=fast:4321/a=b.raw", "file=fast:4321/a=b.raw");
}

static void
test_drive_options(void **state)
{
	char	 serial[80], model[160], value[256];

	memset(serial, 'S', 60);
	serial[60] = '\0';
	snprintf(value, sizeof(value), "fast:4321/a.raw,serial=%s", serial);
	drive_ok("scsi0", value, value);
	snprintf(value, sizeof(value), "fast:4321/a.raw,serial=%sS", serial);
	drive_fails("scsi0", value, "longer than 60 bytes");
	drive_fails("scsi0", "fast:4321/a.raw,serial=A B", "not URL-encoded");
	drive_ok("scsi0", "fast:4321/a.raw,serial=DATA%2D01",
	    "fast:4321/a.raw,serial=DATA%2D01");
	memset(model, 'M', 120);
	model[120] = '\0';
	snprintf(value, sizeof(value), "fast:4321/a.raw,model=%s", model);
	drive_ok("ide0", value, value);
	snprintf(value, sizeof(value), "fast:4321/a.raw,model=%sM", model);
	drive_fails("ide0", value, "longer than 120 bytes");
	drive_fails("scsi0", "fast:4321/a.raw,product=12345678901234567",
	    "longer than 16 bytes");
	drive_fails("scsi0", "fast:4321/a.raw,vendor=a.b", "allowed are");
	drive_fails("scsi0", "fast:4321/a.raw,wwn=0X0123456789abcdef",
	    "0x and 16 hex digits");
	drive_fails("scsi0", "fast:4321/a.raw,wwn=0x0123456789abcde",
	    "0x and 16 hex digits");
	drive_fails("scsi0", "fast:4321/a.raw,queues=1", "must be 2 to");
	drive_fails("scsi0", "fast:4321/a.raw,cache=fast", "must be one of");
	drive_fails("scsi0", "fast:4321/a.raw,ssd=2", "not a boolean");
	drive_fails("scsi0", "fast:4321/a.raw,iops=1.5", "not an integer");
	drive_fails("scsi0", "fast:4321/a.raw,mbps=fast", "not a number");
	drive_fails("scsi0", "fast:4321/a.raw,format=qcow3", "must be one of");

	/* Throttling rules of parse_drive. */
	drive_fails("scsi0", "fast:4321/a.raw,bps=1048576",
	    "obsolete option 'bps'");
	drive_fails("scsi0", "fast:4321/a.raw,bps_wr=1", "obsolete option");
	drive_fails("scsi0", "fast:4321/a.raw,mbps_max=10",
	    "'mbps_max' requires 'mbps'");
	drive_fails("scsi0", "fast:4321/a.raw,mbps_wr=10,bps_wr_max_length=5",
	    "'bps_wr_max_length' requires 'mbps_wr_max'");
	drive_fails("scsi0", "fast:4321/a.raw,iops_max=10,iops_max_length=0",
	    "must be 1 to");
	drive_fails("scsi0", "fast:4321/a.raw,iops_wr_length=3",
	    "requires 'iops_wr_max'");
	drive_fails("scsi0", "fast:4321/a.raw,mbps=10,mbps_rd=5",
	    "'mbps' and 'mbps_rd' exclude each other");
	drive_fails("scsi0", "fast:4321/a.raw,iops=10,iops_wr=5",
	    "exclude each other");
	/* Upstream's check of iops*_max names the wrong keys: no rule. */
	drive_ok("scsi0", "fast:4321/a.raw,iops_max=100",
	    "fast:4321/a.raw,iops_max=100");
	/* Perl truth: 0 counts as not set. */
	drive_ok("scsi0", "fast:4321/a.raw,mbps=0,mbps_rd=5",
	    "fast:4321/a.raw,mbps=0,mbps_rd=5");
}

static void
test_drive_set(void **state)
{
	struct drive	 d;
	char		 err[VMCONFIG_ERR_MAX], out[512];

	assert_int_equal(parse_drive("scsi1", "fast:4321/vm-4321-disk-1.qcow2,"
	    "cache=writeback,size=80G,format=qcow2", VMID, &d, err,
	    sizeof(err)), 0);
	assert_int_equal(drive_set(&d, "file", "tgt:4321/vm-4321-disk-1.raw",
	    err, sizeof(err)), 0);
	assert_int_equal(drive_set(&d, "format", "raw", err, sizeof(err)), 0);
	assert_int_equal(drive_set(&d, "cache", NULL, err, sizeof(err)), 0);
	assert_int_equal(print_drive(&d, out, sizeof(out)), 0);
	assert_string_equal(out, "tgt:4321/vm-4321-disk-1.raw,format=raw,"
	    "size=80G");
	assert_true(d.size == 85899345920ULL);

	assert_int_equal(drive_set(&d, "cache", "bogus", err, sizeof(err)),
	    -1);
	assert_contains(err, "must be one of");
	assert_int_equal(drive_set(&d, "file", "x,cache=unsafe", err,
	    sizeof(err)), -1);
	assert_contains(err, "with a ','");
	assert_int_equal(drive_set(&d, "efitype", "4m", err, sizeof(err)), -1);
	assert_contains(err, "unknown key 'efitype'");
	assert_int_equal(drive_set(&d, "volume", "a:b", err, sizeof(err)), -1);
	assert_int_equal(drive_set(&d, "file", NULL, err, sizeof(err)), -1);
	assert_contains(err, "missing key 'file'");
	assert_int_equal(print_drive(&d, out, sizeof(out)), 0);
	assert_string_equal(out, "tgt:4321/vm-4321-disk-1.raw,format=raw,"
	    "size=80G");
}

/*
 * NICs
 */

static void
test_net_models(void **state)
{
	static const char *const models[] = {
		"e1000", "e1000-82540em", "e1000-82544gc", "e1000-82545em",
		"e1000e", "i82551", "i82557b", "i82559er", "ne2k_isa",
		"ne2k_pci", "pcnet", "rtl8139", "virtio", "vmxnet3",
	};
	struct net	 n;
	char		 value[128], want[128], out[256];
	char		 err[VMCONFIG_ERR_MAX];
	size_t		 i;

	for (i = 0; i < NELEM(models); i++) {
		snprintf(value, sizeof(value), "%s=BC:24:11:0D:9E:41,"
		    "bridge=vmbr0", models[i]);
		if (parse_net("net0", value, &n, err, sizeof(err)) != 0)
			fail_msg("%s: %s", value, err);
		assert_string_equal(net_get(&n, "model"), models[i]);
		assert_string_equal(net_get(&n, "macaddr"),
		    "BC:24:11:0D:9E:41");
		assert_int_equal(print_net(&n, out, sizeof(out)), 0);
		assert_string_equal(out, value);

		/* The long form prints as the short one. */
		snprintf(want, sizeof(want), "bridge=vmbr0,model=%s,"
		    "macaddr=BC:24:11:0D:9E:41", models[i]);
		assert_int_equal(parse_net("net1", want, &n, err,
		    sizeof(err)), 0);
		assert_int_equal(print_net(&n, out, sizeof(out)), 0);
		assert_string_equal(out, value);
	}
	assert_int_equal(parse_net("net0", "virtio", &n, err, sizeof(err)), 0);
	assert_null(net_get(&n, "macaddr"));
	assert_int_equal(parse_net("net0", "model=ne2000", &n, err,
	    sizeof(err)), -1);
	assert_contains(err, "must be one of");
	assert_int_equal(parse_net("net0", "ne2000=BC:24:11:0D:9E:41", &n,
	    err, sizeof(err)), -1);
	assert_contains(err, "unknown key 'ne2000'");
	assert_int_equal(parse_net("net0", "bridge=vmbr0", &n, err,
	    sizeof(err)), -1);
	assert_contains(err, "missing key 'model'");
	assert_int_equal(parse_net("net0", "virtio=BC:24:11:0D:9E:41,"
	    "e1000=BC:24:11:0D:9E:42", &n, err, sizeof(err)), -1);
	assert_contains(err, "key 'model' is already defined");
	assert_int_equal(parse_net("net0", "virtio=BC:24:11:0D:9E:41,"
	    "macaddr=BC:24:11:0D:9E:42", &n, err, sizeof(err)), -1);
	assert_contains(err, "duplicate key 'macaddr'");
	assert_int_equal(parse_net("net0", "macaddr=BC:24:11:0D:9E:42,"
	    "virtio=BC:24:11:0D:9E:41", &n, err, sizeof(err)), -1);
	assert_contains(err, "'macaddr' is already defined (through "
	    "'virtio')");
	assert_int_equal(parse_net("net0", "e1000=BC:24:11:0D:9E:41,virtio",
	    &n, err, sizeof(err)), -1);
	assert_contains(err, "duplicate key 'model'");
	assert_int_equal(parse_net("net32", "virtio", &n, err, sizeof(err)),
	    -1);
	assert_contains(err, "net0 to net31");
}

static void
test_net_mac(void **state)
{
	static const struct {
		const char	*mac;
		const char	*err;
	} cases[] = {
		{ "bc:24:11:0d:9e:41", NULL },
		{ "02:00:00:00:00:00", NULL },
		{ "FE:FF:FF:FF:FF:FF", NULL },
		{ "00:00:00:00:00:00", NULL },
		{ "01:00:5E:00:00:01", "multicast" },
		{ "FF:FF:FF:FF:FF:FF", "multicast" },
		{ "BD:24:11:0D:9E:41", "multicast" },
		{ "BC:24:11:0D:9E", "not a MAC address" },
		{ "BC:24:11:0D:9E:41:00", "not a MAC address" },
		{ "BC-24-11-0D-9E-41", "not a MAC address" },
		{ "BC:24:11:0D:9E:4G", "not a MAC address" },
		{ "BC:24:11:0D:9E:4", "not a MAC address" },
		{ "BC24110D9E41", "not a MAC address" },
	};
	struct net	 n;
	char		 value[128], err[VMCONFIG_ERR_MAX];
	size_t		 i;
	int		 rc;

	for (i = 0; i < NELEM(cases); i++) {
		snprintf(value, sizeof(value), "virtio,macaddr=%s",
		    cases[i].mac);
		rc = parse_net("net0", value, &n, err, sizeof(err));
		if (cases[i].err == NULL) {
			if (rc != 0)
				fail_msg("%s: %s", value, err);
			continue;
		}
		if (rc == 0)
			fail_msg("%s was accepted", value);
		assert_contains(err, cases[i].err);
	}
}

static void
test_net_ranges(void **state)
{
	static const struct {
		const char	*option;
		const char	*err;
	} cases[] = {
		{ "tag=1", NULL }, { "tag=4094", NULL },
		{ "tag=0", "must be 1 to 4094" },
		{ "tag=4095", "must be 1 to 4094" }, { "tag=x", "integer" },
		{ "mtu=1", NULL }, { "mtu=65520", NULL },
		{ "mtu=0", "must be 1 to 65520" },
		{ "mtu=65521", "must be 1 to 65520" },
		{ "queues=0", NULL }, { "queues=64", NULL },
		{ "queues=65", "must be 0 to 64" },
		{ "rate=0", NULL }, { "rate=12.5", NULL },
		{ "rate=-1", "must be 0 to" }, { "rate=fast", "not a number" },
		{ "trunks=10;20-30", NULL },
		{ "trunks=10,20", "duplicate key 'model'" },
		{ "trunks=10;", "VLAN IDs" }, { "trunks=a-b", "VLAN IDs" },
		{ "firewall=yes", NULL }, { "link_down=2", "not a boolean" },
		{ "host-tunnel=1", NULL },
		{ "bridge=vmbr0", NULL }, { "bridge=vmbr0.100", NULL },
		{ "bridge=a_b-c.d", NULL },
		{ "bridge=br-0123456789ab", NULL },
		{ "bridge=br-0123456789abc", "15 bytes" },
		{ "bridge=vmbr 0", "not a bridge name" },
		{ "bridge=vmbr0;rm", "not a bridge name" },
		{ "bridge=vmbr\xc3\xa9", "not a bridge name" },
	};
	struct net	 n;
	char		 value[128], err[VMCONFIG_ERR_MAX];
	size_t		 i;
	int		 rc;

	for (i = 0; i < NELEM(cases); i++) {
		snprintf(value, sizeof(value), "virtio,%s", cases[i].option);
		rc = parse_net("net5", value, &n, err, sizeof(err));
		if (cases[i].err == NULL) {
			if (rc != 0)
				fail_msg("%s: %s", value, err);
			continue;
		}
		if (rc == 0)
			fail_msg("%s was accepted", value);
		assert_contains(err, cases[i].err);
	}

	assert_int_equal(parse_net("net5", "e1000=BC:24:11:0D:9E:41,tag=42,"
	    "mtu=9000,queues=4,firewall=on,link_down=0", &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n.index, 5);
	assert_int_equal(n.tag, 42);
	assert_int_equal(n.mtu, 9000);
	assert_int_equal(n.queues, 4);
	assert_int_equal(n.firewall, 1);
	assert_int_equal(n.link_down, 0);
	assert_int_equal(parse_net("net5", "virtio", &n, err, sizeof(err)), 0);
	assert_int_equal(n.tag, 0);
	assert_int_equal(n.mtu, 0);
	assert_int_equal(n.queues, -1);
}

static void
test_net_print(void **state)
{
	struct vmconfig	 cfg;
	struct net	 n;
	char		 err[VMCONFIG_ERR_MAX], out[256];

	assert_int_equal(parse_net("net0", "tag=42,rate=50,queues=4,mtu=1,"
	    "firewall=1,bridge=vmbr1,macaddr=BC:24:11:0D:9E:41,model=virtio",
	    &n, err, sizeof(err)), 0);
	assert_int_equal(print_net(&n, out, sizeof(out)), 0);
	assert_string_equal(out, "virtio=BC:24:11:0D:9E:41,bridge=vmbr1,"
	    "firewall=1,mtu=1,queues=4,rate=50,tag=42");

	/* The config keeps a NIC as written, as upstream does. */
	parse_ok(&cfg, "net0: bridge=vmbr1,model=virtio\n", 1);
	assert_string_equal(vmconfig_get(&cfg, "net0"),
	    "bridge=vmbr1,model=virtio");
	vmconfig_free(&cfg);
}

/*
 * Hostile input
 */

static char *
repeat_line(const char *line, size_t count, size_t *len)
{
	size_t	 n = strlen(line), i;
	char	*buf = malloc(n * count + 1);

	assert_non_null(buf);
	for (i = 0; i < count; i++)
		memcpy(buf + i * n, line, n);
	buf[n * count] = '\0';
	*len = n * count;
	return buf;
}

static void
test_hostile_sizes(void **state)
{
	struct vmconfig	 cfg;
	char		 err[VMCONFIG_ERR_MAX];
	char		*buf;
	size_t		 len;

	/* 2 MiB of valid lines: over the file limit. */
	buf = repeat_line("cores: 1\n", 2 * 1024 * 1024 / 9 + 1, &len);
	assert_true(len > 2 * 1024 * 1024);
	assert_int_equal(vmconfig_parse(&cfg, buf, len, 0, VMID, err,
	    sizeof(err)), -1);
	assert_contains(err, "larger than 1048576 bytes");
	free(buf);

	/* A 10 MB single line. */
	len = 10 * 1000 * 1000;
	buf = malloc(len);
	assert_non_null(buf);
	memcpy(buf, "name: ", 6);
	memset(buf + 6, 'a', len - 6);
	assert_int_equal(vmconfig_parse(&cfg, buf, len, 0, VMID, err,
	    sizeof(err)), -1);
	assert_contains(err, "larger than 1048576 bytes");

	/* Just under the file limit: one long value, rejected by length. */
	len = VMCONFIG_FILE_MAX;
	assert_int_equal(vmconfig_parse(&cfg, buf, len, 1, VMID, err,
	    sizeof(err)), -1);
	assert_contains(err, "line 1: name: value is longer than 4096 bytes");
	assert_int_equal(vmconfig_parse(&cfg, buf, len, 0, VMID, err,
	    sizeof(err)), 0);
	assert_int_equal(cfg.nwarnings, 1);
	assert_int_equal(cfg.main.nentries, 0);
	vmconfig_free(&cfg);
	memcpy(buf, "#", 1);
	assert_int_equal(vmconfig_parse(&cfg, buf, len, 1, VMID, err,
	    sizeof(err)), -1);
	assert_contains(err, "longer than 8192 characters");
	free(buf);
}

static void
test_hostile_nul(void **state)
{
	static const char	 text[] = "cores: 1\nname: a\0b\n";
	struct vmconfig		 cfg;
	char			 err[VMCONFIG_ERR_MAX];

	assert_int_equal(vmconfig_parse(&cfg, text, sizeof(text) - 1, 0, VMID,
	    err, sizeof(err)), -1);
	assert_contains(err, "NUL byte at offset 16");
	parse_fails("#a%00b\n", "NUL byte (%00)");
}

/*
 * Decision: a description must be valid UTF-8.  Strict mode rejects the
 * config, otherwise the line is skipped with a warning.
 */
static void
test_hostile_utf8(void **state)
{
	static const char *const bad[] = {
		"#caf\xe9\n", "#%E9t%E9\n", "#\xc3\n", "#%C3\n#%A9\n",
		"#\xc0\xaf\n", "#%ED%A0%80\n", "#\xf4\x90\x80\x80\n",
		"#\xff\n", "description: %80\n",
	};
	struct vmconfig		 cfg;
	size_t			 i;

	for (i = 0; i < NELEM(bad); i++) {
		parse_fails(bad[i], "not valid UTF-8");
		parse_ok(&cfg, bad[i], 0);
		assert_true(cfg.nwarnings >= 1);
		assert_true(cfg.main.description == NULL ||
		    cfg.main.description[0] == '\0');
		vmconfig_free(&cfg);
	}
	parse_ok(&cfg, "#%F0%9F%98%80 \xf0\x9f\x98\x80\n", 1);
	assert_string_equal(cfg.main.description,
	    "\xf0\x9f\x98\x80 \xf0\x9f\x98\x80");
	vmconfig_free(&cfg);
}

/* Key names of letters only, so that each one is a distinct key. */
static void
letter_key(size_t n, char *out)
{
	size_t	 i;

	for (i = 0; i < 5; i++) {
		out[4 - i] = (char)('a' + n % 26);
		n /= 26;
	}
	out[5] = '\0';
}

static void
test_hostile_many_keys(void **state)
{
	struct vmconfig	 cfg;
	char		 err[VMCONFIG_ERR_MAX], key[8];
	char		*buf, *p;
	size_t		 len, i;

	/* 100000 times one key: strict stops at the second. */
	buf = repeat_line("cores: 1\n", 100000, &len);
	assert_int_equal(vmconfig_parse(&cfg, buf, len, 1, VMID, err,
	    sizeof(err)), -1);
	assert_contains(err, "line 2: duplicate key 'cores'");
	assert_int_equal(vmconfig_parse(&cfg, buf, len, 0, VMID, err,
	    sizeof(err)), 0);
	assert_int_equal(cfg.nwarnings, 99999);
	assert_int_equal(cfg.main.nentries, 1);
	vmconfig_free(&cfg);
	free(buf);

	/* 100000 different keys (900 kB): each one unsupported. */
	buf = malloc(100000 * 16);
	assert_non_null(buf);
	for (p = buf, i = 0; i < 100000; i++) {
		letter_key(i, key);
		p += sprintf(p, "%s: v\n", key);
	}
	len = (size_t)(p - buf);
	assert_true(len <= VMCONFIG_FILE_MAX);
	assert_int_equal(vmconfig_parse(&cfg, buf, len, 1, VMID, err,
	    sizeof(err)), -1);
	assert_contains(err, "line 1: unsupported config key 'aaaaa'");
	assert_int_equal(vmconfig_parse(&cfg, buf, len, 0, VMID, err,
	    sizeof(err)), 0);
	assert_int_equal(cfg.nwarnings, 100000);
	vmconfig_free(&cfg);
	free(buf);
}

static void
test_hostile_section_limits(void **state)
{
	struct vmconfig	 cfg;
	char		 err[VMCONFIG_ERR_MAX], key[8];
	char		*buf, *p;
	size_t		 len, i;

	/* [special:cloudinit] keeps any key, up to VMCONFIG_KEYS_MAX. */
	buf = malloc(32 + 100000 * 12);
	assert_non_null(buf);
	p = buf + sprintf(buf, "[special:cloudinit]\n");
	for (i = 0; i < 100000; i++) {
		letter_key(i, key);
		p += sprintf(p, "%s: v\n", key);
	}
	len = (size_t)(p - buf);
	assert_int_equal(vmconfig_parse(&cfg, buf, len, 0, VMID, err,
	    sizeof(err)), -1);
	assert_contains(err, "line 1026: more than 1024 keys in a section");
	free(buf);

	/* Snapshots: VMCONFIG_SNAPSHOTS_MAX. */
	buf = malloc(2000 * 32);
	assert_non_null(buf);
	for (p = buf, i = 0; i < VMCONFIG_SNAPSHOTS_MAX; i++) {
		letter_key(i, key);
		p += sprintf(p, "[s%s]\ncores: 1\n", key);
	}
	len = (size_t)(p - buf);
	parse_ok(&cfg, buf, 1);
	assert_int_equal(cfg.nsnapshots, VMCONFIG_SNAPSHOTS_MAX);
	vmconfig_free(&cfg);
	p += sprintf(p, "[zzz]\n");
	assert_int_equal(vmconfig_parse(&cfg, buf, (size_t)(p - buf), 0,
	    VMID, err, sizeof(err)), -1);
	assert_contains(err, "more than 1024 snapshots");
	free(buf);
}

static void
test_hostile_description_limit(void **state)
{
	struct vmconfig	 cfg;
	char		*buf;
	size_t		 i;

	/* 8192 characters, some of them two bytes: accepted. */
	buf = malloc(8192 * 2 + 16);
	assert_non_null(buf);
	buf[0] = '#';
	for (i = 0; i < 4096; i++)
		memcpy(buf + 1 + i * 2, "\xc3\xa9", 2);
	memset(buf + 1 + 8192, 'x', 4096);
	strcpy(buf + 1 + 8192 + 4096, "\n");
	parse_ok(&cfg, buf, 1);
	vmconfig_free(&cfg);
	strcpy(buf + 1 + 8192 + 4096, "y\n");
	parse_fails(buf, "longer than 8192 characters");
	parse_ok(&cfg, buf, 0);
	assert_int_equal(cfg.nwarnings, 1);
	assert_null(cfg.main.description);
	vmconfig_free(&cfg);
	free(buf);
}

/* "<prefix><count times fill>\n" in buf, which has LONG_BUF bytes. */
#define LONG_BUF	8192
static char *
long_line(char *buf, const char *prefix, char fill, size_t count)
{
	size_t	 n = strlen(prefix);

	assert_true(n + count + 2 <= LONG_BUF);
	memcpy(buf, prefix, n);
	memset(buf + n, fill, count);
	memcpy(buf + n + count, "\n", 2);
	return buf;
}

static void
test_hostile_long_values(void **state)
{
	struct vmconfig	 cfg;
	char		*buf;

	buf = malloc(LONG_BUF);
	assert_non_null(buf);

	/* Property strings over VMCONFIG_VALUE_MAX, and smbios1 over 512. */
	parse_fails(long_line(buf, "boot: order=", ';', 5000),
	    "longer than 4096 bytes");
	parse_ok(&cfg, long_line(buf, "boot: order=", ';', 4000), 1);
	vmconfig_free(&cfg);
	parse_fails(long_line(buf, "smbios1: base64=1,family=", 'A', 500),
	    "smbios1: value is longer than 512 bytes");
	parse_fails(long_line(buf, "scsi0: fast:4321/a.raw", ',', 4200),
	    "longer than 4096 bytes");
	free(buf);
}

/*
 * Writer and main-section API
 */

static void
test_write_unused_dropped(void **state)
{
	struct vmconfig	 cfg;

	parse_ok(&cfg, "scsi0: fast:4321/a.raw,size=1G\n"
	    "unused0: fast:4321/a.raw\nunused1: fast:4321/b.raw\n"
	    "unused2: fast:4321/c.raw\n[PENDING]\nvirtio1: fast:4321/c.raw\n",
	    1);
	assert_writes(&cfg, "scsi0: fast:4321/a.raw,size=1G\n"
	    "unused1: fast:4321/b.raw\n\n[PENDING]\n"
	    "virtio1: fast:4321/c.raw\n");
	vmconfig_free(&cfg);
}

static void
test_write_too_large(void **state)
{
	struct vmconfig	 cfg;
	char		 key[16], err[VMCONFIG_ERR_MAX];
	char		*value, sentinel[1], *out = sentinel;
	size_t		 i, len = 99;

	/* 256 unused volumes of 4090 bytes each: over 1 MiB together. */
	value = malloc(4091);
	assert_non_null(value);
	memcpy(value, "fast:4321/", 10);
	memset(value + 10, 'x', 4080);
	value[4090] = '\0';
	vmconfig_init(&cfg);
	for (i = 0; i < 256; i++) {
		snprintf(key, sizeof(key), "unused%zu", i);
		value[10] = (char)('a' + i % 26);
		value[11] = (char)('a' + i / 26);
		if (vmconfig_set(&cfg, key, value, err, sizeof(err)) != 0)
			fail_msg("%s: %s", key, err);
	}
	errno = 0;
	assert_int_equal(vmconfig_write(&cfg, &out, &len), -1);
	assert_int_equal(errno, EFBIG);
	assert_null(out);
	assert_int_equal(len, 0);
	vmconfig_free(&cfg);
	free(value);
}

static void
test_get_set_del(void **state)
{
	struct vmconfig	 cfg;
	char		 err[VMCONFIG_ERR_MAX];

	vmconfig_init(&cfg);
	assert_null(vmconfig_get(&cfg, "cores"));
	assert_int_equal(vmconfig_set(&cfg, "cores", "02", err, sizeof(err)),
	    0);
	assert_string_equal(vmconfig_get(&cfg, "cores"), "2");
	assert_int_equal(vmconfig_set(&cfg, "cores", "3", err, sizeof(err)),
	    0);
	assert_int_equal(cfg.main.nentries, 1);
	assert_int_equal(vmconfig_set(&cfg, "cdrom", "debian.iso,media=cdrom",
	    err, sizeof(err)), -1);
	assert_contains(err, "names no storage");
	assert_int_equal(vmconfig_set(&cfg, "cdrom", "none,media=cdrom", err,
	    sizeof(err)), 0);
	assert_string_equal(vmconfig_get(&cfg, "ide2"), "none,media=cdrom");
	assert_int_equal(vmconfig_set(&cfg, "scsi0", "volume=fast:4321/a.raw,"
	    "ssd=yes", err, sizeof(err)), 0);
	assert_string_equal(vmconfig_get(&cfg, "scsi0"),
	    "fast:4321/a.raw,ssd=1");
	assert_int_equal(vmconfig_set(&cfg, "snaptime", "1", err,
	    sizeof(err)), -1);
	assert_contains(err, "unsupported config key 'snaptime'");
	assert_int_equal(vmconfig_set(&cfg, "name", "a\nb", err, sizeof(err)),
	    -1);
	assert_contains(err, "line break");

	assert_int_equal(vmconfig_set(&cfg, "description", "caf\xc3\xa9 \n",
	    err, sizeof(err)), 0);
	assert_string_equal(vmconfig_get(&cfg, "description"), "caf\xc3\xa9");
	assert_int_equal(vmconfig_set(&cfg, "description", "\xff", err,
	    sizeof(err)), -1);
	assert_contains(err, "not valid UTF-8");
	assert_writes(&cfg, "#caf%C3%A9\ncores: 3\nide2: none,media=cdrom\n"
	    "scsi0: fast:4321/a.raw,ssd=1\n");

	assert_int_equal(vmconfig_del(&cfg, "cdrom"), 0);
	assert_int_equal(vmconfig_del(&cfg, "ide2"), -1);
	assert_int_equal(vmconfig_del(&cfg, "description"), 0);
	assert_int_equal(vmconfig_del(&cfg, "description"), -1);
	assert_int_equal(vmconfig_del(&cfg, "scsi0"), 0);
	assert_writes(&cfg, "cores: 3\n");
	vmconfig_free(&cfg);
}

struct volumes {
	char	 keys[16][16];
	char	 volids[16][64];
	size_t	 n;
	int	 stop_at;
};

static int
collect_volume(const char *key, const struct drive *d, void *arg)
{
	struct volumes	*v = arg;
	const char	*volid = drive_volid(d);

	strlcpy(v->keys[v->n], key, sizeof(v->keys[0]));
	strlcpy(v->volids[v->n], volid != NULL ? volid : "-",
	    sizeof(v->volids[0]));
	v->n++;
	return (int)v->n == v->stop_at ? 7 : 0;
}

static void
test_foreach_drive(void **state)
{
	struct vmconfig	 cfg;
	struct volumes	 v;
	char		*in;
	size_t		 len;

	in = read_golden("normalise.conf", &len);
	parse_ok(&cfg, in, 1);
	memset(&v, 0, sizeof(v));
	assert_int_equal(vmconfig_foreach_drive(&cfg, collect_volume, &v), 0);
	assert_int_equal(v.n, 7);
	assert_string_equal(v.keys[0], "ide0");
	assert_string_equal(v.volids[0],
	    "fast:4321/vm-4321-cloudinit.qcow2");
	assert_string_equal(v.keys[1], "ide2");
	assert_string_equal(v.volids[1], "-");
	assert_string_equal(v.keys[2], "sata1");
	assert_string_equal(v.volids[2], "local:4321/disk-a.raw");
	assert_string_equal(v.keys[3], "scsi0");
	assert_string_equal(v.keys[4], "unused0");
	assert_string_equal(v.volids[4], "fast:4321/vm-4321-disk-1.qcow2");
	assert_string_equal(v.keys[5], "unused1");
	assert_string_equal(v.keys[6], "virtio0");
	assert_string_equal(v.volids[6], "-");

	memset(&v, 0, sizeof(v));
	v.stop_at = 2;
	assert_int_equal(vmconfig_foreach_drive(&cfg, collect_volume, &v), 7);
	assert_int_equal(v.n, 2);
	vmconfig_free(&cfg);
	free(in);
}

static void
test_check_value(void **state)
{
	char	 norm[VMCONFIG_VALUE_MAX + 64], err[VMCONFIG_ERR_MAX];

	assert_int_equal(vmconfig_check_value("scsi0", "disk.raw,ssd=on",
	    VMID, norm, sizeof(norm), err, sizeof(err)), 0);
	assert_string_equal(norm, "local:4321/disk.raw,ssd=1");
	assert_int_equal(vmconfig_check_value("tablet", "yes", 0, norm,
	    sizeof(norm), err, sizeof(err)), 0);
	assert_string_equal(norm, "1");
	assert_int_equal(vmconfig_check_value("hostpci0", "01:00.0", 0, norm,
	    sizeof(norm), err, sizeof(err)), -2);
	assert_string_equal(err, "unsupported config key 'hostpci0'");
	assert_int_equal(vmconfig_check_value("description", "x", 0, norm,
	    sizeof(norm), err, sizeof(err)), -2);
	assert_int_equal(vmconfig_check_value("tablet", "maybe", 0, norm,
	    sizeof(norm), err, sizeof(err)), -1);
	assert_string_equal(err, "invalid value 'maybe': not a boolean");
}

static void
test_messages_quote_bytes(void **state)
{
	struct vmconfig	 cfg;
	char		 err[VMCONFIG_ERR_MAX];

	assert_int_equal(parse_text(&cfg, "name: a\x1b[2Jb\n", 1, err,
	    sizeof(err)), -1);
	assert_contains(err, "'a\\x1b[2Jb'");
	assert_int_equal(parse_text(&cfg, "[\x1b]\n", 1, err, sizeof(err)),
	    -1);
	assert_contains(err, "[\\x1b]");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_example),
		cmocka_unit_test(test_golden_normalise),
		cmocka_unit_test(test_golden_strip),
		cmocka_unit_test(test_strip_sections),
		cmocka_unit_test(test_round_trip_after_edits),
		cmocka_unit_test(test_blank_lines_in_sections),
		cmocka_unit_test(test_pending_any_case),
		cmocka_unit_test(test_empty_pending_not_written),
		cmocka_unit_test(test_special_cloudinit),
		cmocka_unit_test(test_special_fleecing),
		cmocka_unit_test(test_snapshot_headers),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_duplicate_header),
		cmocka_unit_test(test_description_decoding),
		cmocka_unit_test(test_description_key),
		cmocka_unit_test(test_snapstate),
		cmocka_unit_test(test_args_rejected),
		cmocka_unit_test(test_delete_only_in_pending),
		cmocka_unit_test(test_cdrom_is_ide2),
		cmocka_unit_test(test_quoted_values),
		cmocka_unit_test(test_carriage_return),
		cmocka_unit_test(test_bad_key_syntax),
		cmocka_unit_test(test_value_whitespace),
		cmocka_unit_test(test_no_final_newline),
		cmocka_unit_test(test_warning_count),
		cmocka_unit_test(test_supported_keys),
		cmocka_unit_test(test_supported_keys_covered),
		cmocka_unit_test(test_integer_limits),
		cmocka_unit_test(test_snapshot_only_keys),
		cmocka_unit_test(test_unsupported_keys),
		cmocka_unit_test(test_propstr_grammar),
		cmocka_unit_test(test_propstr_normalise),
		cmocka_unit_test(test_propstr_nesting),
		cmocka_unit_test(test_drive_buses),
		cmocka_unit_test(test_drive_bus_options),
		cmocka_unit_test(test_drive_canonical),
		cmocka_unit_test(test_drive_size),
		cmocka_unit_test(test_drive_cdrom),
		cmocka_unit_test(test_drive_files),
		cmocka_unit_test(test_drive_options),
		cmocka_unit_test(test_drive_set),
		cmocka_unit_test(test_net_models),
		cmocka_unit_test(test_net_mac),
		cmocka_unit_test(test_net_ranges),
		cmocka_unit_test(test_net_print),
		cmocka_unit_test(test_hostile_sizes),
		cmocka_unit_test(test_hostile_nul),
		cmocka_unit_test(test_hostile_utf8),
		cmocka_unit_test(test_hostile_many_keys),
		cmocka_unit_test(test_hostile_section_limits),
		cmocka_unit_test(test_hostile_description_limit),
		cmocka_unit_test(test_hostile_long_values),
		cmocka_unit_test(test_write_unused_dropped),
		cmocka_unit_test(test_write_too_large),
		cmocka_unit_test(test_get_set_del),
		cmocka_unit_test(test_foreach_drive),
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_messages_quote_bytes),
	};

	log_init(1, 0, "test_vmconfig");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
