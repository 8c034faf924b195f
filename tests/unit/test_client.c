/*
 * Unit tests for the input parsers of mtunnel-migrate: the --target
 * property string, the --target-storage and --target-bridge maps (the
 * syntax of qm remote-migrate), the decoding of API replies and of the
 * reply lines of the control websocket, and url_encode and ws_path.
 * Each parser gets valid forms, malformed, oversized and hostile input.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "storagecfg.h"

#include "../../client/migrate.h"

#define FP_LOWER	"ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:" \
			"ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89"
#define FP_UPPER	"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:" \
			"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
#define TOKEN		"PVEAPIToken=root@pam!mig=0d6e1c52-7f3b-4a8e-9c1d"
#define HOST_PART	"host=192.0.2.10"
#define TOKEN_PART	"apitoken=" TOKEN
#define FP_PART		"fingerprint=" FP_LOWER
#define TARGET_OK	HOST_PART "," TOKEN_PART "," FP_PART

/* Whether text has a byte below 0x20 or DEL. */
static int
has_control(const char *text)
{
	for (; *text != '\0'; text++)
		if ((unsigned char)*text < 0x20 || *text == 0x7f)
			return 1;
	return 0;
}

/* A string of n copies of ch, to be freed. */
static char *
repeat(char ch, size_t n)
{
	char	*s = malloc(n + 1);

	assert_non_null(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

static void
test_target_valid(void **state)
{
	struct target	 t;
	char		 err[ERR_MAX] = "";

	assert_int_equal(parse_target(TARGET_OK, &t, err, sizeof(err)), 0);
	assert_string_equal(t.host, "192.0.2.10");
	assert_int_equal(t.port, 8006);
	assert_string_equal(t.apitoken, TOKEN);
	assert_string_equal(t.fingerprint, FP_UPPER);
}

static void
test_target_order_port_empty_parts(void **state)
{
	struct target	 t;
	char		 err[ERR_MAX];

	assert_int_equal(parse_target(",," FP_PART ",port=8443,,"
	    TOKEN_PART ",host=::1,", &t, err, sizeof(err)), 0);
	assert_string_equal(t.host, "::1");
	assert_int_equal(t.port, 8443);
	assert_string_equal(t.fingerprint, FP_UPPER);

	/* Brackets around an IPv6 address, as in a URL, are removed. */
	assert_int_equal(parse_target(FP_PART "," TOKEN_PART ",host=[::1]",
	    &t, err, sizeof(err)), 0);
	assert_string_equal(t.host, "::1");
}

static void
test_target_port_bounds(void **state)
{
	struct target	 t;
	char		 err[ERR_MAX];

	assert_int_equal(parse_target(TARGET_OK ",port=1", &t, err,
	    sizeof(err)), 0);
	assert_int_equal(t.port, 1);
	assert_int_equal(parse_target(TARGET_OK ",port=65535", &t, err,
	    sizeof(err)), 0);
	assert_int_equal(t.port, 65535);
}

static void
test_target_apitoken_prefix(void **state)
{
	static const struct {
		const char	*value;
		const char	*header;
	} cases[] = {
		/* Without a scheme the PVEAPIToken= prefix is added. */
		{ "root@pam!mig=uuid", "PVEAPIToken=root@pam!mig=uuid" },
		{ "ops@pve!x=1", "PVEAPIToken=ops@pve!x=1" },
		{ "PVEAPIToken=a@pam!b=c", "PVEAPIToken=a@pam!b=c" },
		/* A scheme word with '=' or ' ' is kept as given. */
		{ "Bearer abc", "Bearer abc" },
		{ "scheme_1=v", "scheme_1=v" },
		{ "=x", "PVEAPIToken==x" },
	};
	struct target	 t;
	char		 text[512], err[ERR_MAX];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), HOST_PART ",apitoken=%s,"
		    FP_PART, cases[i].value);
		assert_int_equal(parse_target(text, &t, err, sizeof(err)), 0);
		assert_string_equal(t.apitoken, cases[i].header);
	}
}

static void
test_target_malformed(void **state)
{
	static const char *const cases[] = {
		"",
		",,,",
		"host",
		"192.0.2.10",
		HOST_PART "," TOKEN_PART,
		HOST_PART "," FP_PART,
		TOKEN_PART "," FP_PART,
		"host=," TOKEN_PART "," FP_PART,
		"host=[]," TOKEN_PART "," FP_PART,
		"host=[::1," TOKEN_PART "," FP_PART,
		"host=[[::1]]," TOKEN_PART "," FP_PART,
		HOST_PART ",apitoken=," FP_PART,
		HOST_PART "," TOKEN_PART ",fingerprint=",
		TARGET_OK ",=x",
		TARGET_OK ",user=root",
		TARGET_OK ",HOST=x",
		TARGET_OK ",port",
		/* Duplicate keys, even with the same value. */
		TARGET_OK ",host=192.0.2.10",
		TARGET_OK ",host=192.0.2.11",
		TARGET_OK "," TOKEN_PART,
		TARGET_OK "," FP_PART,
		TARGET_OK ",port=8006,port=8006",
		/* Port out of range or not a decimal number. */
		TARGET_OK ",port=0",
		TARGET_OK ",port=65536",
		TARGET_OK ",port=-1",
		TARGET_OK ",port=",
		TARGET_OK ",port=abc",
		TARGET_OK ",port=80x",
		TARGET_OK ",port= 80",
		TARGET_OK ",port=+80",
		TARGET_OK ",port=0x50",
		TARGET_OK ",port=99999999999999999999999",
		TARGET_OK ",port=8.5",
	};
	struct target	 t;
	char		 err[ERR_MAX];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (parse_target(cases[i], &t, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", cases[i]);
		assert_true(err[0] != '\0');
	}
}

static void
test_target_bad_fingerprints(void **state)
{
	static const char *const cases[] = {
		/* 31 and 33 pairs */
		"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
		    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67",
		FP_UPPER ":89",
		FP_UPPER ":",
		":" FP_UPPER,
		/* Not hex, other separators, none, misplaced */
		"GB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
		    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
		"AB-CD-EF-01-23-45-67-89-AB-CD-EF-01-23-45-67-89-"
		    "AB-CD-EF-01-23-45-67-89-AB-CD-EF-01-23-45-67-89",
		"ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"
		    "ABCDEF0123456789",
		"ABC:D:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
		    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
		" B:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
		    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
		"0x:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
		    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
		/* SHA-1 length */
		"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
		    "AB:CD:EF:01",
	};
	struct target	 t;
	char		 text[512], err[ERR_MAX];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), HOST_PART "," TOKEN_PART
		    ",fingerprint=%s", cases[i]);
		if (parse_target(text, &t, err, sizeof(err)) != -1)
			fail_msg("accepted fingerprint %s", cases[i]);
		assert_non_null(strstr(err, "fingerprint"));
	}
}

static void
test_target_duplicate_key_message(void **state)
{
	struct target	 t;
	char		 err[ERR_MAX];

	assert_int_equal(parse_target(TARGET_OK ",fingerprint=" FP_UPPER,
	    &t, err, sizeof(err)), -1);
	assert_string_equal(err, "--target: duplicate key 'fingerprint'");
}

static void
test_target_apitoken_not_in_error(void **state)
{
	struct target	 t;
	char		*token, *text;
	char		 err[ERR_MAX];

	/* 1024 bytes do not fit the header buffer with its NUL. */
	token = repeat('s', sizeof(t.apitoken));
	assert_true(asprintf(&text, HOST_PART ",apitoken=PVEAPIToken=%s,"
	    FP_PART, token) > 0);
	assert_int_equal(parse_target(text, &t, err, sizeof(err)), -1);
	assert_string_equal(err, "--target: invalid apitoken");
	assert_null(strstr(err, "sss"));
	free(text);
	free(token);
}

static void
test_target_oversized(void **state)
{
	struct target	 t;
	char		*value, *text;
	char		 err[ERR_MAX];

	/* A host of the maximum length fits, and one byte more fails. */
	value = repeat('h', sizeof(t.host) - 1);
	assert_true(asprintf(&text, "host=%s," TOKEN_PART "," FP_PART,
	    value) > 0);
	assert_int_equal(parse_target(text, &t, err, sizeof(err)), 0);
	assert_int_equal(strlen(t.host), sizeof(t.host) - 1);
	free(text);
	free(value);

	value = repeat('h', sizeof(t.host));
	assert_true(asprintf(&text, "host=%s," TOKEN_PART "," FP_PART,
	    value) > 0);
	assert_int_equal(parse_target(text, &t, err, sizeof(err)), -1);
	free(text);
	free(value);

	/* A token that fits only without the added prefix. */
	value = repeat('t', sizeof(t.apitoken) - 5);
	assert_true(asprintf(&text, HOST_PART ",apitoken=%s," FP_PART,
	    value) > 0);
	assert_int_equal(parse_target(text, &t, err, sizeof(err)), -1);
	free(text);
	free(value);

	/* A megabyte of one value, and of many empty parts. */
	value = repeat('x', 1024 * 1024);
	assert_true(asprintf(&text, TARGET_OK ",port=%s", value) > 0);
	assert_int_equal(parse_target(text, &t, err, sizeof(err)), -1);
	free(text);
	free(value);
	value = repeat(',', 1024 * 1024);
	assert_true(asprintf(&text, "%s" TARGET_OK "%s", value, value) > 0);
	assert_int_equal(parse_target(text, &t, err, sizeof(err)), 0);
	free(text);
	free(value);
}

static void
test_target_control_characters(void **state)
{
	static const char *const cases[] = {
		"host=a\r\nX-Injected: 1," TOKEN_PART "," FP_PART,
		"host=a\tb," TOKEN_PART "," FP_PART,
		"host=a\x7f," TOKEN_PART "," FP_PART,
		HOST_PART ",apitoken=" TOKEN "\r\nX-Injected: 1," FP_PART,
		HOST_PART ",apitoken=" TOKEN "\n," FP_PART,
		HOST_PART ",apitoken=\x1b[2J," FP_PART,
		TARGET_OK ",port=80\n",
	};
	struct target	 t;
	char		 err[ERR_MAX];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse_target(cases[i], &t, err, sizeof(err)) != -1)
			fail_msg("accepted case %zu", i);
		assert_false(has_control(err));
	}
}

static void
test_target_small_error_buffer(void **state)
{
	struct target	 t;
	char		 err[8];

	memset(err, 'z', sizeof(err));
	assert_int_equal(parse_target("host=a,nosuchkey=1", &t, err,
	    sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
}

static void
test_idmap_valid_forms(void **state)
{
	struct idmap	 map;
	char		 err[ERR_MAX];

	assert_int_equal(parse_idmap("local:tank,nfs1:tank,big:ceph",
	    "--target-storage", valid_storage_id, &map, err, sizeof(err)), 0);
	assert_int_equal(map.count, 3);
	assert_string_equal(map.default_id, "");
	assert_string_equal(map_id(&map, "local"), "tank");
	assert_string_equal(map_id(&map, "nfs1"), "tank");
	assert_string_equal(map_id(&map, "big"), "ceph");
	/* Without a default an unlisted source maps to itself. */
	assert_string_equal(map_id(&map, "other"), "other");
}

static void
test_idmap_default(void **state)
{
	struct idmap	 map;
	char		 err[ERR_MAX];

	assert_int_equal(parse_idmap("tank", "--target-storage",
	    valid_storage_id, &map, err, sizeof(err)), 0);
	assert_int_equal(map.count, 0);
	assert_string_equal(map_id(&map, "local"), "tank");

	/* A default among pairs, anywhere in the list, empty parts too. */
	assert_int_equal(parse_idmap(",local:ssd,,tank,", "--target-storage",
	    valid_storage_id, &map, err, sizeof(err)), 0);
	assert_int_equal(map.count, 1);
	assert_string_equal(map_id(&map, "local"), "ssd");
	assert_string_equal(map_id(&map, "nfs1"), "tank");
}

static void
test_idmap_bridges(void **state)
{
	struct idmap	 map;
	char		 err[ERR_MAX];

	assert_int_equal(parse_idmap("vmbr0:vmbr1,vmbr1:vmbr0,v.lan_2-x",
	    "--target-bridge", valid_bridge_id, &map, err, sizeof(err)), 0);
	assert_string_equal(map_id(&map, "vmbr0"), "vmbr1");
	assert_string_equal(map_id(&map, "vmbr1"), "vmbr0");
	assert_string_equal(map_id(&map, "vmbr9"), "v.lan_2-x");
	/* "1" is a valid bridge ID as a pair's target. */
	assert_int_equal(parse_idmap("vmbr0:1", "--target-bridge",
	    valid_bridge_id, &map, err, sizeof(err)), 0);
	assert_string_equal(map_id(&map, "vmbr0"), "1");
}

static void
test_idmap_malformed(void **state)
{
	static const char *const cases[] = {
		"",
		",",
		",,,",
		"1",
		"local:tank,1",
		":tank",
		"local:",
		":",
		"local:tank:ssd",
		"local:tank,local:ssd",
		"local:tank,local:tank",
		"tank,ssd",
		"tank,tank",
		"1local:tank",
		"local:1tank",
		"x:tank",
		"local:x",
		"local-:tank",
		"lo cal:tank",
		"local:ta/nk",
		"local:tank\n",
		"local:\x1b[31mtank",
	};
	struct idmap	 map;
	char		 err[ERR_MAX];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (parse_idmap(cases[i], "--target-storage",
		    valid_storage_id, &map, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", cases[i]);
		assert_true(strncmp(err, "--target-storage: ", 18) == 0);
	}
}

static void
test_idmap_messages(void **state)
{
	struct idmap	 map;
	char		 err[ERR_MAX];

	assert_int_equal(parse_idmap("1", "--target-bridge", valid_bridge_id,
	    &map, err, sizeof(err)), -1);
	assert_string_equal(err, "--target-bridge: remote migration "
	    "requires an explicit mapping, not '1'");
	assert_int_equal(parse_idmap("a:b,a:c", "--target-bridge",
	    valid_bridge_id, &map, err, sizeof(err)), -1);
	assert_string_equal(err, "--target-bridge: duplicate mapping for "
	    "source 'a'");
	assert_int_equal(parse_idmap("b,c", "--target-bridge",
	    valid_bridge_id, &map, err, sizeof(err)), -1);
	assert_string_equal(err, "--target-bridge: default target 'c' given "
	    "twice");
	assert_int_equal(parse_idmap("", "--target-bridge", valid_bridge_id,
	    &map, err, sizeof(err)), -1);
	assert_string_equal(err, "--target-bridge: empty mapping");
}

/* An ID of ID_MAX bytes fits.  One byte more is rejected, not truncated. */
static void
test_idmap_id_length(void **state)
{
	struct idmap	 map;
	char		*id, *text;
	char		 err[ERR_MAX];

	id = repeat('b', ID_MAX);
	assert_true(asprintf(&text, "%s:%s", id, id) > 0);
	assert_int_equal(parse_idmap(text, "--target-bridge", valid_bridge_id,
	    &map, err, sizeof(err)), 0);
	assert_string_equal(map_id(&map, id), id);
	free(text);
	free(id);

	id = repeat('b', ID_MAX + 1);
	assert_true(asprintf(&text, "vmbr0:%s", id) > 0);
	assert_int_equal(parse_idmap(text, "--target-bridge", valid_bridge_id,
	    &map, err, sizeof(err)), -1);
	free(text);
	assert_true(asprintf(&text, "%s:vmbr0", id) > 0);
	assert_int_equal(parse_idmap(text, "--target-bridge", valid_bridge_id,
	    &map, err, sizeof(err)), -1);
	free(text);
	assert_int_equal(parse_idmap(id, "--target-bridge", valid_bridge_id,
	    &map, err, sizeof(err)), -1);
	free(id);

	/* A megabyte-long ID is rejected with a bounded message. */
	id = repeat('b', 1024 * 1024);
	assert_int_equal(parse_idmap(id, "--target-bridge", valid_bridge_id,
	    &map, err, sizeof(err)), -1);
	assert_true(strlen(err) < sizeof(err));
	free(id);
}

/* Build "s0:tank,s1:tank,...": n pairs with distinct sources. */
static char *
pair_list(size_t n)
{
	char	*text = malloc(n * 16 + 1);
	size_t	 i, o = 0;

	assert_non_null(text);
	text[0] = '\0';
	for (i = 0; i < n; i++)
		o += sprintf(text + o, "%ss%zu:tank", i ? "," : "", i);
	return text;
}

static void
test_idmap_long_lists(void **state)
{
	struct idmap	 map;
	char		*text;
	char		 err[ERR_MAX];

	text = pair_list(IDMAP_MAX);
	assert_int_equal(parse_idmap(text, "--target-storage",
	    valid_storage_id, &map, err, sizeof(err)), 0);
	assert_int_equal(map.count, IDMAP_MAX);
	assert_string_equal(map_id(&map, "s63"), "tank");
	free(text);

	text = pair_list(IDMAP_MAX + 1);
	assert_int_equal(parse_idmap(text, "--target-storage",
	    valid_storage_id, &map, err, sizeof(err)), -1);
	assert_string_equal(err, "--target-storage: more than 64 mappings");
	free(text);

	text = pair_list(100000);
	assert_int_equal(parse_idmap(text, "--target-storage",
	    valid_storage_id, &map, err, sizeof(err)), -1);
	assert_int_equal(map.count, IDMAP_MAX);
	free(text);
}

static void
test_reply_success(void **state)
{
	static const char	 line[] = "{\"success\":true,\"socket\":"
	    "\"/run/x.sock\"}";
	json_t			*reply = NULL;
	char			 err[ERR_MAX];

	assert_int_equal(ctl_reply_decode(line, strlen(line), "disk-import",
	    &reply, err, sizeof(err)), 0);
	assert_non_null(reply);
	assert_string_equal(json_string_value(json_object_get(reply,
	    "socket")), "/run/x.sock");
	json_decref(reply);

	/* A Perl target may send 1 for true.  The reply pointer may be NULL. */
	assert_int_equal(ctl_reply_decode("{\"success\":1}", 13, "unlock",
	    NULL, err, sizeof(err)), 0);
	/* Leading and trailing white space is JSON white space. */
	assert_int_equal(ctl_reply_decode(" {\"success\":true}\r", 18,
	    "unlock", NULL, err, sizeof(err)), 0);
}

static void
test_reply_failure_message(void **state)
{
	static const char	 line[] = "{\"success\":false,\"msg\":"
	    "\"storage full\\nsecond line\\n\"}";
	json_t			*reply = NULL;
	char			 err[ERR_MAX];

	assert_int_equal(ctl_reply_decode(line, strlen(line), "config",
	    &reply, err, sizeof(err)), -1);
	assert_null(reply);
	assert_string_equal(err, "tunnel command 'config' failed - "
	    "storage full second line");
	assert_int_equal(ctl_reply_decode("{\"success\":0,\"msg\":5}", 21,
	    "quit", &reply, err, sizeof(err)), -1);
	assert_string_equal(err, "tunnel command 'quit' failed - "
	    "no message");
}

static void
test_reply_not_success(void **state)
{
	static const char *const cases[] = {
		"{}",
		"{\"success\":null}",
		"{\"success\":\"true\"}",
		"{\"success\":\"1\"}",
		"{\"success\":2}",
		"{\"success\":-1}",
		"{\"success\":1.0}",
		"{\"success\":[true]}",
		"{\"Success\":true}",
	};
	json_t	*reply;
	char	 err[ERR_MAX];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reply = NULL;
		if (ctl_reply_decode(cases[i], strlen(cases[i]), "version",
		    &reply, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", cases[i]);
		assert_null(reply);
		assert_non_null(strstr(err, "failed - no message"));
	}
}

static void
test_reply_not_json(void **state)
{
	static const char *const cases[] = {
		"",
		" ",
		"garbage",
		"null",
		"true",
		"1",
		"\"success\"",
		"[{\"success\":true}]",
		"{\"success\":true",
		"{\"success\":true} {}",
		"{\"success\":true}x",
		"{success:true}",
		"{'success':true}",
	};
	json_t	*reply;
	char	 err[ERR_MAX];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reply = NULL;
		if (ctl_reply_decode(cases[i], strlen(cases[i]), "version",
		    &reply, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", cases[i]);
		assert_null(reply);
		assert_string_equal(err, "failed to decode tunnel reply to "
		    "version");
	}
}

/* The length counts: a NUL byte inside the line is not an end. */
static void
test_reply_nul_bytes(void **state)
{
	static const char	 trailing[] = "{\"success\":true}\0junk";
	static const char	 inside[] = "{\"success\":true,\"a\":\"x\0y\"}";
	char			 err[ERR_MAX];

	assert_int_equal(ctl_reply_decode(trailing, sizeof(trailing) - 1,
	    "unlock", NULL, err, sizeof(err)), -1);
	assert_int_equal(ctl_reply_decode(trailing, 16, "unlock", NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(ctl_reply_decode(trailing, 15, "unlock", NULL, err,
	    sizeof(err)), -1);
	assert_int_equal(ctl_reply_decode(inside, sizeof(inside) - 1,
	    "unlock", NULL, err, sizeof(err)), -1);
	assert_int_equal(ctl_reply_decode("\0", 1, "unlock", NULL, err,
	    sizeof(err)), -1);
}

static void
test_reply_control_characters(void **state)
{
	static const char	 line[] = "{\"success\":false,\"msg\":"
	    "\"\\u001b]0;owned\\u0007\\u001b[2Jbad\\r\\tend\\u007f\"}";
	char			 err[ERR_MAX];

	assert_int_equal(ctl_reply_decode(line, strlen(line), "start", NULL,
	    err, sizeof(err)), -1);
	assert_false(has_control(err));
	assert_string_equal(err, "tunnel command 'start' failed - "
	    "?]0;owned??[2Jbad??end?");
}

static void
test_reply_oversized(void **state)
{
	json_t	*msg;
	char	*line, *big;
	char	 err[64];

	/* A 4 MiB message ends truncated in a small error buffer. */
	big = repeat('m', 4 * 1024 * 1024);
	msg = json_pack("{s:b,s:s}", "success", 0, "msg", big);
	assert_non_null(msg);
	line = json_dumps(msg, JSON_COMPACT);
	assert_non_null(line);
	assert_int_equal(ctl_reply_decode(line, strlen(line), "config", NULL,
	    err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	free(line);
	json_decref(msg);
	free(big);

	/* Nesting deeper than the jansson depth limit is an error. */
	big = repeat('[', 100000);
	assert_int_equal(ctl_reply_decode(big, strlen(big), "config", NULL,
	    err, sizeof(err)), -1);
	free(big);
}

static void
test_api_data(void **state)
{
	static const char	 body[] = "{\"data\":[{\"type\":\"node\","
	    "\"name\":\"tgt1\",\"local\":1}]}";
	json_t			*data;
	char			 err[ERR_MAX];

	data = api_reply_data("GET", "cluster/status", 200, body,
	    strlen(body), err, sizeof(err));
	assert_non_null(data);
	assert_true(json_is_array(data));
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(data, 0), "name")), "tgt1");
	json_decref(data);

	/* "data": null counts as data, as in replies that return nothing. */
	data = api_reply_data("GET", "x", 200, "{\"data\":null}", 13, err,
	    sizeof(err));
	assert_true(json_is_null(data));
	json_decref(data);
}

static void
test_api_errors(void **state)
{
	static const struct {
		int		 status;
		const char	*body;
		const char	*err;
	} cases[] = {
		{ 401, "{\"data\":1}", "GET p: authentication failed (HTTP "
		    "401): check the API token" },
		{ 401, "", "GET p: authentication failed (HTTP 401): check "
		    "the API token" },
		{ 500, "{\"message\":\"no such VM\\nat line 3\"}",
		    "GET p: HTTP 500: no such VM" },
		{ 500, "{\"message\":7}", "GET p: HTTP 500: no message" },
		{ 500, "<html>oops</html>", "GET p: HTTP 500: no message" },
		{ 302, "", "GET p: HTTP 302: no message" },
		{ 0, "", "GET p: HTTP 0: no message" },
		{ -1, "{\"data\":1}", "GET p: HTTP -1: no message" },
		{ 200, "", "GET p: reply without data" },
		{ 200, "{}", "GET p: reply without data" },
		{ 200, "[{\"data\":1}]", "GET p: reply without data" },
		{ 200, "{\"Data\":1}", "GET p: reply without data" },
		{ 200, "{\"data\":1} trailing", "GET p: reply without data" },
		{ 200, "{\"data\":", "GET p: reply without data" },
	};
	json_t	*data;
	char	 err[ERR_MAX];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		data = api_reply_data("GET", "p", cases[i].status,
		    cases[i].body, strlen(cases[i].body), err, sizeof(err));
		if (data != NULL)
			fail_msg("accepted case %zu", i);
		assert_string_equal(err, cases[i].err);
	}
}

static void
test_api_hostile_body(void **state)
{
	static const char	 nul[] = "{\"data\":1}\0{\"x\":2}";
	static const char	 esc[] = "{\"message\":\"\\u001b[2Jgone\\r\"}";
	json_t			*data;
	char			 err[ERR_MAX];

	assert_null(api_reply_data("GET", "p", 200, nul, sizeof(nul) - 1,
	    err, sizeof(err)));
	data = api_reply_data("GET", "p", 200, nul, 10, err, sizeof(err));
	assert_non_null(data);
	json_decref(data);

	assert_null(api_reply_data("GET", "p", 500, esc, strlen(esc), err,
	    sizeof(err)));
	assert_false(has_control(err));
	assert_string_equal(err, "GET p: HTTP 500: ?[2Jgone?");
}

static void
test_api_oversized_message(void **state)
{
	json_t	*body;
	char	*text, *big;
	char	 err[48];

	big = repeat('m', 4 * 1024 * 1024);
	body = json_pack("{s:s}", "message", big);
	text = json_dumps(body, JSON_COMPACT);
	assert_non_null(text);
	assert_null(api_reply_data("POST", "nodes/tgt1/qemu/100/mtunnel", 500,
	    text, strlen(text), err, sizeof(err)));
	assert_int_equal(strlen(err), sizeof(err) - 1);
	free(text);
	json_decref(body);
	free(big);
}

static void
test_url_encode(void **state)
{
	char	 out[64];

	assert_int_equal(url_encode(out, sizeof(out), "aZ09-._~"), 0);
	assert_string_equal(out, "aZ09-._~");
	assert_int_equal(url_encode(out, sizeof(out), "/run/a b&c=d?#%+"),
	    0);
	assert_string_equal(out, "%2Frun%2Fa%20b%26c%3Dd%3F%23%25%2B");
	assert_int_equal(url_encode(out, sizeof(out), "\xc3\xa4\n\x7f"), 0);
	assert_string_equal(out, "%C3%A4%0A%7F");
	assert_int_equal(url_encode(out, sizeof(out), ""), 0);
	assert_string_equal(out, "");
}

/* Every output length either fits the whole result or fails. */
static void
test_url_encode_bounds(void **state)
{
	static const char	 src[] = "a/b c";
	static const char	 want[] = "a%2Fb%20c";
	char			 out[32];
	size_t			 len;

	assert_int_equal(url_encode(out, 0, ""), -1);
	for (len = 1; len <= sizeof(out); len++) {
		memset(out, 'Z', sizeof(out));
		if (url_encode(out, len, src) == 0) {
			assert_true(len > strlen(want));
			assert_string_equal(out, want);
		}
		assert_true(len == sizeof(out) || out[len] == 'Z');
	}
}

static void
test_ws_path(void **state)
{
	char	 out[2048], *big;

	assert_int_equal(ws_path(out, sizeof(out), "tgt1", 100,
	    "/run/qemu-server/100.mtunnel", "PVETUNNEL:a+b/c=="), 0);
	assert_string_equal(out, "/api2/json/nodes/tgt1/qemu/100/"
	    "mtunnelwebsocket?socket=%2Frun%2Fqemu-server%2F100.mtunnel"
	    "&ticket=PVETUNNEL%3Aa%2Bb%2Fc%3D%3D");

	/* A socket or ticket too long for the encoding buffers. */
	big = repeat('/', 400);
	assert_int_equal(ws_path(out, sizeof(out), "n", 100, big, "t"), -1);
	assert_int_equal(ws_path(out, sizeof(out), "n", 100, "s", big), -1);
	free(big);
	/* A path too long for the output. */
	assert_int_equal(ws_path(out, 40, "tgt1", 100, "s", "t"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target_valid),
		cmocka_unit_test(test_target_order_port_empty_parts),
		cmocka_unit_test(test_target_port_bounds),
		cmocka_unit_test(test_target_apitoken_prefix),
		cmocka_unit_test(test_target_malformed),
		cmocka_unit_test(test_target_bad_fingerprints),
		cmocka_unit_test(test_target_duplicate_key_message),
		cmocka_unit_test(test_target_apitoken_not_in_error),
		cmocka_unit_test(test_target_oversized),
		cmocka_unit_test(test_target_control_characters),
		cmocka_unit_test(test_target_small_error_buffer),
		cmocka_unit_test(test_idmap_valid_forms),
		cmocka_unit_test(test_idmap_default),
		cmocka_unit_test(test_idmap_bridges),
		cmocka_unit_test(test_idmap_malformed),
		cmocka_unit_test(test_idmap_messages),
		cmocka_unit_test(test_idmap_id_length),
		cmocka_unit_test(test_idmap_long_lists),
		cmocka_unit_test(test_reply_success),
		cmocka_unit_test(test_reply_failure_message),
		cmocka_unit_test(test_reply_not_success),
		cmocka_unit_test(test_reply_not_json),
		cmocka_unit_test(test_reply_nul_bytes),
		cmocka_unit_test(test_reply_control_characters),
		cmocka_unit_test(test_reply_oversized),
		cmocka_unit_test(test_api_data),
		cmocka_unit_test(test_api_errors),
		cmocka_unit_test(test_api_hostile_body),
		cmocka_unit_test(test_api_oversized_message),
		cmocka_unit_test(test_url_encode),
		cmocka_unit_test(test_url_encode_bounds),
		cmocka_unit_test(test_ws_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
