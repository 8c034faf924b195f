/*
 * Unit tests for the user.cfg parser, writer and editor
 * (common/usercfg.c): the composed example, round trips, the writer's
 * order, identifiers, text escaping and a table of malformed lines.
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

#include <cmocka.h>

#include "log.h"
#include "usercfg.h"

#define assert_contains(s, sub) do {					\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("\"%s\" does not contain \"%s\"", (s), (sub));	\
} while (0)

/* The composed example of the user.cfg format description. */
static const char example[] =
    "user:ops@pve:1:0:Ops:Team:ops@example.invalid:migration operator::\n"
    "token:ops@pve!xmig:0:1:cross-cluster target%3A tgt1:\n"
    "user:root@pam:1:0:::admin@example.invalid:::\n"
    "\n"
    "group:migrators:ops@pve:people allowed to move VMs in:\n"
    "\n"
    "role:MigrationTarget:Datastore.AllocateSpace,Datastore.Audit,"
    "SDN.Use,Sys.Incoming,VM.Allocate,VM.Audit,VM.Config.CDROM,"
    "VM.Config.CPU,VM.Config.Cloudinit,VM.Config.Disk,VM.Config.HWType,"
    "VM.Config.Memory,VM.Config.Network,VM.Config.Options,"
    "VM.PowerMgmt:\n"
    "\n"
    "acl:1:/:@migrators,ops@pve!xmig:MigrationTarget:\n"
    "acl:1:/storage/slow:ops@pve!xmig:NoAccess:\n";

/* Parse text that must parse; fails the test otherwise. */
static void
parse_ok(struct usercfg *cfg, const char *text)
{
	char	 err[USERCFG_ERR_MAX];

	if (usercfg_parse(cfg, "user.cfg", text, strlen(text), err,
	    sizeof(err)) == -1)
		fail_msg("parse failed: %s", err);
}

/* Write cfg into a new string. */
static char *
write_string(const struct usercfg *cfg)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	assert_int_equal(usercfg_write(cfg, fp), 0);
	assert_int_equal(fclose(fp), 0);
	return buf;
}

static void
example_parses(void **state)
{
	struct usercfg		 cfg;
	struct usercfg_user	*u;
	struct usercfg_token	*t;
	struct usercfg_group	*g;
	uint64_t		 privs;

	parse_ok(&cfg, example);
	assert_int_equal(cfg.nwarnings, 0);
	assert_int_equal(cfg.nskipped, 0);
	assert_int_equal(cfg.nusers, 2);
	assert_int_equal(cfg.ntokens, 1);
	assert_int_equal(cfg.ngroups, 1);
	assert_int_equal(cfg.nroles, 1);
	assert_int_equal(cfg.nacls, 3);

	u = usercfg_user_find(&cfg, "ops@pve");
	assert_non_null(u);
	assert_int_equal(u->enabled, 1);
	assert_int_equal(u->expire, 0);
	assert_string_equal(u->first, "Ops");
	assert_string_equal(u->last, "Team");
	assert_string_equal(u->email, "ops@example.invalid");
	assert_string_equal(u->comment, "migration operator");
	assert_string_equal(u->keys, "");

	t = usercfg_token_find(&cfg, "ops@pve!xmig");
	assert_non_null(t);
	assert_int_equal(t->privsep, 1);
	assert_string_equal(t->comment, "cross-cluster target: tgt1");

	g = usercfg_group_find(&cfg, "migrators");
	assert_non_null(g);
	assert_true(usercfg_group_has(g, "ops@pve"));
	assert_false(usercfg_group_has(g, "root@pam"));

	assert_int_equal(usercfg_role_privs(&cfg, "MigrationTarget", &privs),
	    0);
	assert_true(privs & (UINT64_C(1) << privilege_bit("Sys.Incoming")));
	assert_false(privs & (UINT64_C(1) << privilege_bit("VM.Migrate")));
	usercfg_free(&cfg);
}

/* The example is in the writer's own order, so it comes back unchanged. */
static void
example_round_trip(void **state)
{
	struct usercfg	 cfg;
	char		*out;

	parse_ok(&cfg, example);
	out = write_string(&cfg);
	assert_string_equal(out, example);
	free(out);
	usercfg_free(&cfg);
}

static const char rich[] =
    "acl:0:/vms/100:@ops,bob@pve:PVEVMUser,PVEAuditor:\n"
    "user:bob@pve:0:1900000000:Bob:B%C3%B6hm::has%3A colon and 50%25::\n"
    "user:alice@pve:1::::alice@example.invalid::x:\n"
    "token:bob@pve!zz:5:0::\n"
    "token:alice@pve!t1:0:1:first%0Aline:\n"
    "token:bob@pve!aa:0:1::\n"
    "group:ops:bob@pve,alice@pve:on call:\n"
    "group:empty:::\n"
    "pool:lab:test pool:100,101:local:\n"
    "role:Zeta:VM.Audit:\n"
    "role:Alpha:Sys.Incoming,VM.Allocate:\n"
    "role:None::\n"
    "acl:1:/:alice@pve,@ops:Alpha:\n"
    "acl:1:/vms/100:alice@pve!t1:Zeta:\n"
    "acl:1:/vms:bob@pve!aa:PVEVMUser:\n"
    "acl:1:/storage:bob@pve:None:\n"
    "acl:1:/vms-old:alice@pve:Zeta:\n";

static const char rich_written[] =
    "user:alice@pve:1:0:::alice@example.invalid::x:\n"
    "token:alice@pve!t1:0:1:first%0Aline:\n"
    "user:bob@pve:0:1900000000:Bob:B%C3%B6hm::has%3A colon and 50%25::\n"
    "token:bob@pve!aa:0:1::\n"
    "token:bob@pve!zz:5:0::\n"
    "\n"
    "group:empty:::\n"
    "group:ops:alice@pve,bob@pve:on call:\n"
    "\n"
    "pool:lab:test pool:100,101:local:\n"
    "\n"
    "role:Alpha:Sys.Incoming,VM.Allocate:\n"
    "role:None::\n"
    "role:Zeta:VM.Audit:\n"
    "\n"
    "acl:1:/:@ops,alice@pve:Alpha:\n"
    "acl:1:/storage:bob@pve:None:\n"
    "acl:1:/vms:bob@pve!aa:PVEVMUser:\n"
    "acl:0:/vms/100:@ops,bob@pve:PVEAuditor,PVEVMUser:\n"
    "acl:1:/vms/100:alice@pve!t1:Zeta:\n"
    "acl:1:/vms-old:alice@pve:Zeta:\n";

/*
 * The ACL on line 1 names a group and a user before they are defined:
 * kept, with a warning each.  The pool line warns too.
 */
static void
writer_order(void **state)
{
	struct usercfg	 cfg;
	char		*out;

	parse_ok(&cfg, rich);
	assert_int_equal(cfg.nskipped, 0);
	assert_int_equal(cfg.nwarnings, 3);
	assert_contains(cfg.warning, "user.cfg:1:");
	out = write_string(&cfg);
	assert_string_equal(out, rich_written);
	free(out);
	usercfg_free(&cfg);
}

static void
assert_users_equal(const struct usercfg *a, const struct usercfg *b)
{
	const struct usercfg_user	*x, *y;
	size_t				 i;

	assert_int_equal(a->nusers, b->nusers);
	for (i = 0; i < a->nusers; i++) {
		x = &a->users[i];
		y = usercfg_user_find(b, x->userid);
		assert_non_null(y);
		assert_int_equal(x->enabled, y->enabled);
		assert_int_equal(x->expire, y->expire);
		assert_string_equal(x->first, y->first);
		assert_string_equal(x->last, y->last);
		assert_string_equal(x->email, y->email);
		assert_string_equal(x->comment, y->comment);
		assert_string_equal(x->keys, y->keys);
	}
}

static void
assert_tokens_equal(const struct usercfg *a, const struct usercfg *b)
{
	const struct usercfg_token	*x, *y;
	size_t				 i;

	assert_int_equal(a->ntokens, b->ntokens);
	for (i = 0; i < a->ntokens; i++) {
		x = &a->tokens[i];
		y = usercfg_token_find(b, x->tokenid);
		assert_non_null(y);
		assert_int_equal(x->expire, y->expire);
		assert_int_equal(x->privsep, y->privsep);
		assert_string_equal(x->comment, y->comment);
	}
}

static void
assert_acls_equal(const struct usercfg *a, const struct usercfg *b)
{
	const struct usercfg_acl	*x, *y;
	size_t				 i, j;

	assert_int_equal(a->nacls, b->nacls);
	for (i = 0; i < a->nacls; i++) {
		x = &a->acls[i];
		for (j = 0; j < b->nacls; j++) {
			y = &b->acls[j];
			if (strcmp(x->path, y->path) == 0 &&
			    strcmp(x->member, y->member) == 0 &&
			    strcmp(x->role, y->role) == 0)
				break;
		}
		if (j == b->nacls)
			fail_msg("ACL %s %s %s lost", x->path, x->member,
			    x->role);
		assert_int_equal(x->propagate, b->acls[j].propagate);
		assert_int_equal(x->kind, b->acls[j].kind);
	}
}

static void
assert_cfg_equal(const struct usercfg *a, const struct usercfg *b)
{
	uint64_t	 pa, pb;
	size_t		 i, k;

	assert_users_equal(a, b);
	assert_tokens_equal(a, b);
	assert_acls_equal(a, b);
	assert_int_equal(a->ngroups, b->ngroups);
	for (i = 0; i < a->ngroups; i++) {
		const struct usercfg_group *g = usercfg_group_find(b,
		    a->groups[i].name);

		assert_non_null(g);
		assert_int_equal(g->nmembers, a->groups[i].nmembers);
		for (k = 0; k < g->nmembers; k++)
			assert_true(usercfg_group_has(g,
			    a->groups[i].members[k]));
		assert_string_equal(g->comment, a->groups[i].comment);
	}
	assert_int_equal(a->nroles, b->nroles);
	for (i = 0; i < a->nroles; i++) {
		assert_int_equal(usercfg_role_privs(a, a->roles[i].name, &pa),
		    0);
		assert_int_equal(usercfg_role_privs(b, a->roles[i].name, &pb),
		    0);
		assert_true(pa == pb);
	}
	assert_int_equal(a->npools, b->npools);
}

static void
round_trip_equal(void **state)
{
	struct usercfg	 first, second;
	char		*out1, *out2;

	parse_ok(&first, rich);
	out1 = write_string(&first);
	parse_ok(&second, out1);
	assert_int_equal(second.nskipped, 0);
	assert_cfg_equal(&first, &second);
	out2 = write_string(&second);
	assert_string_equal(out1, out2);
	free(out1);
	free(out2);
	usercfg_free(&first);
	usercfg_free(&second);
}

/* root@pam ACLs are dropped on read; built-in roles are never written. */
static void
writer_skips_root_and_builtins(void **state)
{
	struct usercfg	 cfg;
	char		*out;

	parse_ok(&cfg, "user:root@pam:1:0:::::\n"
	    "user:a@pve:1:0:::::\n"
	    "acl:1:/:root@pam,a@pve:Administrator:\n");
	assert_int_equal(cfg.nwarnings, 0);
	assert_int_equal(cfg.nacls, 1);
	out = write_string(&cfg);
	assert_string_equal(out, "user:a@pve:1:0::::::\n"
	    "user:root@pam:1:0::::::\n\n"
	    "acl:1:/:a@pve:Administrator:\n");
	free(out);
	usercfg_free(&cfg);
}

/* A later line for the same path, member and role sets its propagate. */
static void
acl_later_line_wins(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, "user:a@pve:1:0:::::\n"
	    "acl:1:/vms:a@pve:PVEAuditor:\n"
	    "acl:0:/vms/:a@pve:PVEAuditor,PVEAuditor:\n");
	assert_int_equal(cfg.nacls, 1);
	assert_string_equal(cfg.acls[0].path, "/vms");
	assert_int_equal(cfg.acls[0].propagate, 0);
	usercfg_free(&cfg);
}

/* A token line without privsep reads as privsep 0, expire 0. */
static void
token_missing_fields(void **state)
{
	struct usercfg		 cfg;
	struct usercfg_token	*t;

	parse_ok(&cfg, "user:a@pve\ntoken:a@pve!short\n");
	assert_int_equal(cfg.nskipped, 0);
	t = usercfg_token_find(&cfg, "a@pve!short");
	assert_non_null(t);
	assert_int_equal(t->privsep, 0);
	assert_int_equal(t->expire, 0);
	assert_int_equal(usercfg_user_find(&cfg, "a@pve")->enabled, 0);
	usercfg_free(&cfg);
}

/* Perl truth for enable and privsep: only "" and "0" are false. */
static void
enable_truth(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, "user:a@pve:0:::::\nuser:b@pve:00:::::\n"
	    "user:c@pve:yes:::::\nuser:d@pve::::::\n");
	assert_int_equal(usercfg_user_find(&cfg, "a@pve")->enabled, 0);
	assert_int_equal(usercfg_user_find(&cfg, "b@pve")->enabled, 1);
	assert_int_equal(usercfg_user_find(&cfg, "c@pve")->enabled, 1);
	assert_int_equal(usercfg_user_find(&cfg, "d@pve")->enabled, 0);
	usercfg_free(&cfg);
}

static void
crlf_and_blank_lines(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, "\r\n  user:a@pve:1:0::::note :: \r\n\n\t\n"
	    "group: g1 : a@pve ; a@pve :x:\r\n");
	assert_int_equal(cfg.nwarnings, 0);
	assert_int_equal(cfg.nusers, 1);
	assert_string_equal(cfg.users[0].comment, "note");
	assert_int_equal(cfg.ngroups, 1);
	assert_string_equal(cfg.groups[0].name, "g1");
	assert_int_equal(cfg.groups[0].nmembers, 1);
	usercfg_free(&cfg);
}

enum outcome {
	PARSE_ERROR,	/* usercfg_parse returns -1 */
	SKIPPED,	/* parsed, nskipped 1, warning names the line */
	KEPT_WARNED,	/* parsed, nothing skipped, one warning */
};

struct bad_line {
	const char	*name;
	const char	*line;		/* line 3, after the base below */
	enum outcome	 outcome;
	const char	*message;	/* part of the error or warning */
};

#define BASE	"user:ops@pve:1:0:::::\ntoken:ops@pve!tok:0:1::\n"

static const struct bad_line bad_lines[] = {
	{ "user too many fields", "user:a@pve:1:0:f:l:e:c:k:extra:",
	    PARSE_ERROR, "too many fields in a 'user' entry" },
	{ "token too many fields", "token:ops@pve!t2:0:1:c:x:",
	    PARSE_ERROR, "too many fields in a 'token' entry" },
	{ "acl too many fields", "acl:1:/:ops@pve:Administrator:x:",
	    PARSE_ERROR, "too many fields in a 'acl' entry" },
	{ "role too many fields", "role:R:VM.Audit:x",
	    PARSE_ERROR, "too many fields in a 'role' entry" },
	{ "acl too few fields", "acl:1:/",
	    SKIPPED, "ignoring ACL on /: no members" },
	{ "acl without roles", "acl:1:/:ops@pve",
	    SKIPPED, "ignoring ACL on /: no roles" },
	{ "user without fields", "user",
	    SKIPPED, "ignoring user '': invalid user name" },
	{ "userid without realm", "user:nobody:1:0:::::",
	    SKIPPED, "ignoring user 'nobody': invalid user name" },
	{ "userid with space", "user:a b@pve:1:0:::::",
	    SKIPPED, "invalid user name" },
	{ "userid with slash", "user:a/b@pve:1:0:::::",
	    SKIPPED, "invalid user name" },
	{ "userid empty name", "user:@pve:1:0:::::",
	    SKIPPED, "invalid user name" },
	{ "userid control byte", "user:a\001b@pve:1:0:::::",
	    SKIPPED, "ignoring user 'a?b@pve'" },
	{ "userid 65 characters", "user:"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@pve"
	    ":1:0:::::", SKIPPED, "invalid user name" },
	{ "realm one character", "user:a@p:1:0:::::",
	    SKIPPED, "invalid user name" },
	{ "realm starts with digit", "user:a@1pve:1:0:::::",
	    SKIPPED, "invalid user name" },
	{ "realm with bang", "user:a@pv!e:1:0:::::",
	    SKIPPED, "invalid user name" },
	{ "realm 33 characters", "user:a@"
	    "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr:1:0:::::",
	    SKIPPED, "invalid user name" },
	{ "user expire not a number", "user:a@pve:1:soon:::::",
	    SKIPPED, "invalid expire 'soon'" },
	{ "user expire negative", "user:a@pve:1:-5:::::",
	    SKIPPED, "invalid expire '-5'" },
	{ "user defined twice", "user:ops@pve:0:0:::::",
	    SKIPPED, "ignoring user 'ops@pve': already defined" },
	{ "token id without name", "token:ops@pve:0:1::",
	    SKIPPED, "ignoring token 'ops@pve': invalid token id" },
	{ "token name one character", "token:ops@pve!x:0:1::",
	    SKIPPED, "invalid token id" },
	{ "token name starts with digit", "token:ops@pve!1x:0:1::",
	    SKIPPED, "invalid token id" },
	{ "token id bad realm", "token:ops@1pve!tok:0:1::",
	    SKIPPED, "invalid token id" },
	{ "token of unknown user", "token:ghost@pve!tok:0:1::",
	    SKIPPED, "user 'ghost@pve' is not defined before it" },
	{ "token expire not a number", "token:ops@pve!t2:1e9:1::",
	    SKIPPED, "invalid expire '1e9'" },
	{ "token defined twice", "token:ops@pve!tok:0:0::",
	    SKIPPED, "already defined" },
	{ "propagate 2", "acl:2:/:ops@pve:Administrator:",
	    SKIPPED, "invalid propagate '2'" },
	{ "propagate word", "acl:yes:/:ops@pve:Administrator:",
	    SKIPPED, "invalid propagate 'yes'" },
	{ "propagate empty", "acl::/:ops@pve:Administrator:",
	    SKIPPED, "invalid propagate ''" },
	{ "acl path bad character", "acl:1:/vms/10%:ops@pve:PVEAuditor:",
	    SKIPPED, "invalid path '/vms/10%'" },
	{ "acl path empty", "acl:1::ops@pve:PVEAuditor:",
	    SKIPPED, "invalid path ''" },
	{ "acl unknown role", "acl:1:/:ops@pve:Boss:",
	    SKIPPED, "ignoring ACL role 'Boss'" },
	{ "acl unknown token", "acl:1:/:ops@pve!none:PVEAuditor:",
	    SKIPPED, "ignoring ACL token 'ops@pve!none'" },
	{ "acl invalid member", "acl:1:/:nobody:PVEAuditor:",
	    SKIPPED, "ignoring ACL member 'nobody'" },
	{ "acl unknown user kept", "acl:1:/:ghost@pve:PVEAuditor:",
	    KEPT_WARNED, "ACL user 'ghost@pve' is not defined" },
	{ "acl unknown group kept", "acl:1:/:@nogroup:PVEAuditor:",
	    KEPT_WARNED, "ACL group '@nogroup' is not defined" },
	{ "group member unknown kept", "group:g:ghost@pve::",
	    KEPT_WARNED, "member 'ghost@pve' is not a defined user" },
	{ "group member invalid", "group:g:nobody::",
	    SKIPPED, "ignoring member 'nobody' of group 'g'" },
	{ "group name invalid", "group:g/1:ops@pve::",
	    SKIPPED, "ignoring group 'g/1'" },
	{ "role unknown privilege", "role:R:VM.Monitor,VM.Audit:",
	    SKIPPED, "role 'R': ignoring unknown privilege 'VM.Monitor'" },
	{ "role redefines built-in", "role:PVEAdmin:VM.Audit:",
	    SKIPPED, "a built-in role cannot be redefined" },
	{ "role name invalid", "role:R@x:VM.Audit:",
	    SKIPPED, "ignoring role 'R@x'" },
	{ "pool kept", "pool:lab:c:100::",
	    KEPT_WARNED, "pool 'lab' is kept but not evaluated" },
	{ "pool name four levels", "pool:a/b/c/d:::",
	    SKIPPED, "ignoring pool 'a/b/c/d'" },
	{ "comment line", "# users of the lab",
	    SKIPPED, "ignoring unknown entry type '# users of the lab'" },
	{ "unknown entry type", "realm:pve:x:",
	    SKIPPED, "ignoring unknown entry type 'realm'" },
	{ "escape not hex", "user:a@pve:1:0::::50%zz::",
	    PARSE_ERROR, "invalid escape in the comment of 'a@pve'" },
	{ "escape cut short", "user:a@pve:1:0::::end%4::",
	    PARSE_ERROR, "invalid escape in the comment of 'a@pve'" },
	{ "escape of NUL", "token:ops@pve!t2:0:1:a%00b:",
	    PARSE_ERROR, "invalid escape in the comment of 'ops@pve!t2'" },
	{ "escape in first name", "user:a@pve:1:0:%G1::::",
	    PARSE_ERROR, "invalid escape in the first name" },
};

static void
check_bad_line(const struct bad_line *b)
{
	struct usercfg	 cfg;
	char		 text[512], err[USERCFG_ERR_MAX];
	int		 rv;

	snprintf(text, sizeof(text), "%s%s\n", BASE, b->line);
	rv = usercfg_parse(&cfg, "user.cfg", text, strlen(text), err,
	    sizeof(err));
	if (b->outcome == PARSE_ERROR) {
		if (rv != -1)
			fail_msg("%s: parsed, expected an error", b->name);
		assert_contains(err, "user.cfg:3: ");
		assert_contains(err, b->message);
		assert_int_equal(cfg.nusers, 0);
		return;
	}
	if (rv != 0)
		fail_msg("%s: %s", b->name, err);
	if (cfg.nskipped != (b->outcome == SKIPPED ? 1u : 0u))
		fail_msg("%s: nskipped %zu", b->name, cfg.nskipped);
	assert_true(cfg.nwarnings >= 1);
	assert_contains(cfg.warning, "user.cfg:3: ");
	assert_contains(cfg.warning, b->message);
	assert_non_null(usercfg_user_find(&cfg, "ops@pve"));
	usercfg_free(&cfg);
}

static void
bad_lines_table(void **state)
{
	size_t	 i;

	for (i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++)
		check_bad_line(&bad_lines[i]);
}

/* Lower-case escapes decode; the writer uses upper case. */
static void
escape_lower_case(void **state)
{
	struct usercfg	 cfg;
	char		*out;

	parse_ok(&cfg, "user:a@pve:1:0::::x%3ay%c3%a9::\n");
	assert_string_equal(cfg.users[0].comment, "x:y\xc3\xa9");
	out = write_string(&cfg);
	assert_string_equal(out, "user:a@pve:1:0::::x%3Ay%C3%A9::\n");
	free(out);
	usercfg_free(&cfg);
}

static void
field_size_limits(void **state)
{
	struct usercfg	 cfg;
	char		*text, err[USERCFG_ERR_MAX];
	size_t		 len;

	/* A comment of exactly USERCFG_FIELD_MAX bytes is accepted. */
	text = malloc(USERCFG_LIST_MAX + 200);
	assert_non_null(text);
	len = (size_t)snprintf(text, 200, "user:a@pve:1:0::::");
	memset(text + len, 'c', USERCFG_FIELD_MAX);
	strcpy(text + len + USERCFG_FIELD_MAX, "::\n");
	assert_int_equal(usercfg_parse(&cfg, "user.cfg", text, strlen(text),
	    err, sizeof(err)), 0);
	usercfg_free(&cfg);

	/* One more byte is an error naming the line and field. */
	memset(text + len, 'c', USERCFG_FIELD_MAX + 1);
	strcpy(text + len + USERCFG_FIELD_MAX + 1, "::\n");
	assert_int_equal(usercfg_parse(&cfg, "user.cfg", text, strlen(text),
	    err, sizeof(err)), -1);
	assert_contains(err, "user.cfg:1: field 8 of a 'user' entry is "
	    "longer than 4096 bytes");

	/* A list field may be longer, up to USERCFG_LIST_MAX. */
	len = (size_t)snprintf(text, 200, "group:g:");
	memset(text + len, ',', USERCFG_LIST_MAX + 1);
	strcpy(text + len + USERCFG_LIST_MAX + 1, "::\n");
	assert_int_equal(usercfg_parse(&cfg, "user.cfg", text, strlen(text),
	    err, sizeof(err)), -1);
	assert_contains(err, "field 3 of a 'group' entry is longer than "
	    "65536 bytes");
	text[len + USERCFG_LIST_MAX] = ':';
	text[len + USERCFG_LIST_MAX + 1] = '\0';
	assert_int_equal(usercfg_parse(&cfg, "user.cfg", text, strlen(text),
	    err, sizeof(err)), 0);
	assert_int_equal(cfg.groups[0].nmembers, 0);
	usercfg_free(&cfg);
	free(text);
}

static void
file_too_large(void **state)
{
	struct usercfg	 cfg;
	char		*text, err[USERCFG_ERR_MAX];
	size_t		 len = 2 * 1024 * 1024, i;

	text = malloc(len);
	assert_non_null(text);
	for (i = 0; i < len; i++)
		text[i] = (i % 64 == 63) ? '\n' : ' ';
	assert_int_equal(usercfg_parse(&cfg, "user.cfg", text, len, err,
	    sizeof(err)), -1);
	assert_contains(err, "user.cfg: larger than 1048576 bytes");
	assert_int_equal(usercfg_parse(&cfg, "user.cfg", text,
	    USERCFG_FILE_MAX, err, sizeof(err)), 0);
	usercfg_free(&cfg);
	assert_int_equal(usercfg_parse(&cfg, "user.cfg", text,
	    USERCFG_FILE_MAX + 1, err, sizeof(err)), -1);
	free(text);
}

static void
nul_byte_rejected(void **state)
{
	static const char	 text[] = "user:a@pve:1:0:::::\n"
	    "user:b@pve:1:0::::x\0y::\n";
	struct usercfg		 cfg;
	char			 err[USERCFG_ERR_MAX];

	assert_int_equal(usercfg_parse(&cfg, "user.cfg", text,
	    sizeof(text) - 1, err, sizeof(err)), -1);
	assert_string_equal(err, "user.cfg:2: NUL byte in line");
	assert_int_equal(cfg.nusers, 0);
}

static void
entry_count_limit(void **state)
{
	struct usercfg	 cfg;
	char		*text, err[USERCFG_ERR_MAX];
	size_t		 i, off = 0, size = 40 * (USERCFG_ENTRIES_MAX + 1);

	text = malloc(size);
	assert_non_null(text);
	for (i = 0; i <= USERCFG_ENTRIES_MAX; i++)
		off += snprintf(text + off, size - off, "group:g%zu:::\n", i);
	assert_int_equal(usercfg_parse(&cfg, "user.cfg", text, off, err,
	    sizeof(err)), -1);
	assert_contains(err, "user.cfg:10001: more than 10000 group entries");
	free(text);
}

static void
load_file(void **state)
{
	struct usercfg	 cfg;
	char		 dir[] = "/tmp/test_usercfg.XXXXXX", path[128];
	char		 err[USERCFG_ERR_MAX];
	FILE		*fp;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/user.cfg", dir);
	assert_int_equal(usercfg_load(&cfg, path, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);

	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(example, fp);
	fclose(fp);
	assert_int_equal(usercfg_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.nusers, 2);
	usercfg_free(&cfg);

	assert_int_equal(truncate(path, 2 * 1024 * 1024), 0);
	assert_int_equal(usercfg_load(&cfg, path, err, sizeof(err)), -1);
	assert_contains(err, "larger than 1048576 bytes");
	unlink(path);
	assert_int_equal(usercfg_load(&cfg, dir, err, sizeof(err)), -1);
	assert_contains(err, "not a regular file");
	rmdir(dir);
}

struct id_case {
	const char	*id;
	int		 userid;
	int		 tokenid;
};

static const struct id_case id_cases[] = {
	{ "ops@pve", 1, 0 },
	{ "a@pam", 1, 0 },
	{ "x@yz", 1, 0 },
	{ "a@b", 0, 0 },		/* realm of one character */
	{ "a@b@pve", 1, 0 },		/* split at the last '@' */
	{ "a!b@pve", 1, 0 },		/* '!' may appear in the name */
	{ "a.b-c_d@Realm.1_-", 1, 0 },
	{ "@pve", 0, 0 },
	{ "pve", 0, 0 },
	{ "a:b@pve", 0, 0 },
	{ "a\tb@pve", 0, 0 },
	{ "ops@pve!xmig", 0, 1 },
	{ "ops@pve!x1._-", 0, 1 },
	{ "ops@pve!x", 0, 0 },
	{ "ops@pve!", 0, 0 },
	{ "ops@pve!-x", 0, 0 },
	{ "ops@pve!x!y", 0, 0 },
	{ "ops!tok", 0, 0 },
	{ "a!b@pve!tok", 0, 1 },
	{ "", 0, 0 },
};

static void
identifiers(void **state)
{
	char	 longid[200];
	size_t	 i;

	for (i = 0; i < sizeof(id_cases) / sizeof(id_cases[0]); i++) {
		if (userid_valid(id_cases[i].id) != id_cases[i].userid)
			fail_msg("userid_valid(\"%s\") != %d", id_cases[i].id,
			    id_cases[i].userid);
		if (tokenid_valid(id_cases[i].id) != id_cases[i].tokenid)
			fail_msg("tokenid_valid(\"%s\") != %d",
			    id_cases[i].id, id_cases[i].tokenid);
	}
	/* 64 characters: a 60-character name and "@pve". */
	memset(longid, 'n', 60);
	strcpy(longid + 60, "@pve");
	assert_true(userid_valid(longid));
	memset(longid, 'n', 61);
	strcpy(longid + 61, "@pve");
	assert_false(userid_valid(longid));

	/* A token id of TOKENID_MAX characters, then one more. */
	memset(longid, 'n', 60);
	strcpy(longid + 60, "@pve!");
	memset(longid + 65, 't', TOKENID_MAX - 65);
	longid[TOKENID_MAX] = '\0';
	assert_true(tokenid_valid(longid));
	strcat(longid, "t");
	assert_false(tokenid_valid(longid));

	assert_true(usercfg_name_valid("Group_1.x-y"));
	assert_false(usercfg_name_valid(""));
	assert_false(usercfg_name_valid("a b"));
	assert_false(usercfg_name_valid("a@b"));
}

struct path_case {
	const char	*in;
	const char	*out;		/* NULL: rejected */
};

static const struct path_case path_cases[] = {
	{ "/", "/" },
	{ "///", "/" },
	{ "vms", "/vms" },
	{ "/vms/", "/vms" },
	{ "//vms///100//", "/vms/100" },
	{ "/storage/local-lvm.x_y", "/storage/local-lvm.x_y" },
	{ "", NULL },
	{ "/vms/1 00", NULL },
	{ "/a%b", NULL },
	{ "/a:b", NULL },
	{ "/caf\xc3\xa9", NULL },
};

static void
path_normalize(void **state)
{
	char	 out[USERCFG_PATH_MAX + 1], longpath[400];
	size_t	 i;
	int	 rv;

	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		rv = acl_path_normalize(path_cases[i].in, out, sizeof(out));
		if (path_cases[i].out == NULL) {
			if (rv != -1)
				fail_msg("\"%s\" accepted as \"%s\"",
				    path_cases[i].in, out);
			continue;
		}
		if (rv != 0)
			fail_msg("\"%s\" rejected", path_cases[i].in);
		assert_string_equal(out, path_cases[i].out);
	}
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[USERCFG_PATH_MAX] = '\0';
	assert_int_equal(acl_path_normalize(longpath, out, sizeof(out)), 0);
	longpath[USERCFG_PATH_MAX] = 'a';
	longpath[USERCFG_PATH_MAX + 1] = '\0';
	assert_int_equal(acl_path_normalize(longpath, out, sizeof(out)), -1);
}

static void
text_escaping(void **state)
{
	char	 buf[64];

	assert_int_equal(usercfg_text_encode("Notes: caf\xc3\xa9 100%", buf,
	    sizeof(buf)), 25);
	assert_string_equal(buf, "Notes%3A caf%C3%A9 100%25");
	assert_int_equal(usercfg_text_decode("Notes%3A caf%C3%A9 100%25", buf,
	    sizeof(buf)), 17);
	assert_string_equal(buf, "Notes: caf\xc3\xa9 100%");
	assert_int_equal(usercfg_text_encode("a#b\tc\x7f", buf, sizeof(buf)),
	    10);
	assert_string_equal(buf, "a#b%09c%7F");
	assert_int_equal(usercfg_text_encode("::::", buf, 12), -1);
	assert_int_equal(usercfg_text_decode("%", buf, sizeof(buf)), -1);
	assert_int_equal(usercfg_text_decode("%4", buf, sizeof(buf)), -1);
	assert_int_equal(usercfg_text_decode("%g0", buf, sizeof(buf)), -1);
	assert_int_equal(usercfg_text_decode("%00", buf, sizeof(buf)), -1);
}

static void
privilege_table(void **state)
{
	uint64_t	 privs;
	int		 i;

	for (i = 0; i < PRIVILEGE_COUNT; i++) {
		assert_non_null(privilege_name(i));
		assert_int_equal(privilege_bit(privilege_name(i)), i);
		if (i > 0)
			assert_true(strcmp(privilege_name(i - 1),
			    privilege_name(i)) < 0);
	}
	assert_null(privilege_name(PRIVILEGE_COUNT));
	assert_null(privilege_name(-1));
	assert_int_equal(privilege_bit("VM.Monitor"), -1);
	assert_int_equal(privilege_bit("vm.audit"), -1);
	for (i = 0; role_builtin_name(i) != NULL; i++)
		assert_true(role_builtin_privs(role_builtin_name(i), &privs));
	assert_int_equal(i, 17);
	assert_false(role_builtin_privs("MigrationTarget", &privs));
}

static void
edit_user_and_token(void **state)
{
	struct usercfg	 cfg;
	char		 err[USERCFG_ERR_MAX], *out;

	usercfg_init(&cfg);
	assert_int_equal(usercfg_user_add(&cfg, "bad", 1, 0, NULL, err,
	    sizeof(err)), -1);
	assert_contains(err, "invalid user id 'bad'");
	assert_int_equal(usercfg_user_add(&cfg, "ops@pve", 1, 0, "a: b", err,
	    sizeof(err)), 0);
	assert_int_equal(usercfg_user_add(&cfg, "ops@pve", 1, 0, NULL, err,
	    sizeof(err)), -1);
	assert_contains(err, "user 'ops@pve' already exists");
	assert_int_equal(usercfg_user_add(&cfg, "x@pve", 1, -1, NULL, err,
	    sizeof(err)), -1);
	assert_contains(err, "invalid expire -1");

	assert_int_equal(usercfg_token_add(&cfg, "ghost@pve!tok", 1, 0, NULL,
	    err, sizeof(err)), -1);
	assert_contains(err, "user 'ghost@pve' does not exist");
	assert_int_equal(usercfg_token_add(&cfg, "ops@pve!t", 1, 0, NULL,
	    err, sizeof(err)), -1);
	assert_contains(err, "invalid token id 'ops@pve!t'");
	assert_int_equal(usercfg_token_add(&cfg, "ops@pve!tok", 1, 7, "c",
	    err, sizeof(err)), 0);
	assert_int_equal(usercfg_token_add(&cfg, "ops@pve!tok", 1, 0, NULL,
	    err, sizeof(err)), -1);
	assert_contains(err, "token 'ops@pve!tok' already exists");

	out = write_string(&cfg);
	assert_string_equal(out, "user:ops@pve:1:0::::a%3A b::\n"
	    "token:ops@pve!tok:7:1:c:\n");
	free(out);
	assert_int_equal(usercfg_token_remove(&cfg, "ops@pve!tok", err,
	    sizeof(err)), 0);
	assert_int_equal(usercfg_token_remove(&cfg, "ops@pve!tok", err,
	    sizeof(err)), -1);
	assert_contains(err, "token 'ops@pve!tok' does not exist");
	usercfg_free(&cfg);
}

static void
edit_comment_too_long(void **state)
{
	struct usercfg	 cfg;
	char		 err[USERCFG_ERR_MAX], comment[USERCFG_FIELD_MAX];

	usercfg_init(&cfg);
	/* 2000 ':' encode to 6000 bytes. */
	memset(comment, ':', 2000);
	comment[2000] = '\0';
	assert_int_equal(usercfg_user_add(&cfg, "ops@pve", 1, 0, comment,
	    err, sizeof(err)), -1);
	assert_contains(err, "comment is longer than 4096 bytes once encoded");
	assert_int_equal(cfg.nusers, 0);
	usercfg_free(&cfg);
}

static void
edit_acl(void **state)
{
	struct usercfg	 cfg;
	char		 err[USERCFG_ERR_MAX], *out;

	parse_ok(&cfg, BASE "group:ops:ops@pve::\n");
	assert_int_equal(usercfg_acl_set(&cfg, "/vms//", "PVEVMUser",
	    "ops@pve!tok", 0, err, sizeof(err)), 0);
	assert_int_equal(usercfg_acl_set(&cfg, "/", "Administrator", "@ops",
	    1, err, sizeof(err)), 0);
	assert_int_equal(usercfg_acl_set(&cfg, "/vms", "PVEVMUser",
	    "ops@pve!tok", 1, err, sizeof(err)), 0);
	assert_int_equal(cfg.nacls, 2);
	out = write_string(&cfg);
	assert_contains(out, "\nacl:1:/:@ops:Administrator:\n"
	    "acl:1:/vms:ops@pve!tok:PVEVMUser:\n");
	free(out);

	assert_int_equal(usercfg_acl_set(&cfg, "/a b", "Administrator",
	    "ops@pve", 1, err, sizeof(err)), -1);
	assert_contains(err, "invalid ACL path '/a b'");
	assert_int_equal(usercfg_acl_set(&cfg, "/", "Boss", "ops@pve", 1, err,
	    sizeof(err)), -1);
	assert_contains(err, "role 'Boss' does not exist");
	assert_int_equal(usercfg_acl_set(&cfg, "/", "Administrator",
	    "ghost@pve", 1, err, sizeof(err)), -1);
	assert_contains(err, "user 'ghost@pve' does not exist");
	assert_int_equal(usercfg_acl_set(&cfg, "/", "Administrator",
	    "ops@pve!none", 1, err, sizeof(err)), -1);
	assert_contains(err, "token 'ops@pve!none' does not exist");
	assert_int_equal(usercfg_acl_set(&cfg, "/", "Administrator",
	    "@nogroup", 1, err, sizeof(err)), -1);
	assert_contains(err, "group '@nogroup' does not exist");
	assert_int_equal(usercfg_acl_set(&cfg, "/", "Administrator",
	    "root@pam", 1, err, sizeof(err)), -1);
	assert_contains(err, "root@pam has every privilege");
	assert_int_equal(usercfg_acl_set(&cfg, "/", "Administrator", "x y",
	    1, err, sizeof(err)), -1);
	assert_contains(err, "invalid ACL member 'x y'");

	assert_int_equal(usercfg_acl_remove(&cfg, "/vms", "ops@pve!tok",
	    "PVEAuditor", err, sizeof(err)), -1);
	assert_contains(err, "no ACL entry for 'ops@pve!tok' on /vms with "
	    "role PVEAuditor");
	assert_int_equal(usercfg_acl_remove(&cfg, "/vms/", "ops@pve!tok",
	    NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg.nacls, 1);
	usercfg_free(&cfg);
}

/* Removing a user removes its tokens, their ACLs, its ACLs and groups. */
static void
edit_user_remove_cascades(void **state)
{
	struct usercfg	 cfg;
	char		 err[USERCFG_ERR_MAX], *out;

	parse_ok(&cfg, BASE "token:ops@pve!two:0:0::\n"
	    "user:other@pve:1:0:::::\n"
	    "token:other@pve!tok:0:1::\n"
	    "group:g:ops@pve,other@pve::\n"
	    "acl:1:/:ops@pve,ops@pve!tok,other@pve!tok,@g:PVEAuditor:\n"
	    "acl:0:/vms:ops@pve!two:PVEVMUser:\n");
	assert_int_equal(usercfg_user_remove(&cfg, "ghost@pve", err,
	    sizeof(err)), -1);
	assert_contains(err, "user 'ghost@pve' does not exist");
	assert_int_equal(usercfg_user_remove(&cfg, "ops@pve", err,
	    sizeof(err)), 0);
	out = write_string(&cfg);
	assert_string_equal(out, "user:other@pve:1:0::::::\n"
	    "token:other@pve!tok:0:1::\n\n"
	    "group:g:other@pve::\n\n"
	    "acl:1:/:@g,other@pve!tok:PVEAuditor:\n");
	free(out);
	usercfg_free(&cfg);
}

static void
check_login(void **state)
{
	struct usercfg	 cfg;
	char		 why[256];

	parse_ok(&cfg, "user:on@pve:1:0:::::\n"
	    "token:on@pve!tok:0:1::\n"
	    "token:on@pve!old:1000:1::\n"
	    "user:off@pve:0:0:::::\n"
	    "token:off@pve!tok:0:1::\n"
	    "user:exp@pve:1:1000:::::\n"
	    "token:exp@pve!tok:0:1::\n");
	assert_int_equal(usercfg_check_login(&cfg, "on@pve!tok", 2000, why,
	    sizeof(why)), 0);
	assert_int_equal(usercfg_check_login(&cfg, "on@pve", 2000, why,
	    sizeof(why)), 0);
	assert_int_equal(usercfg_check_login(&cfg, "on@pve!old", 999, why,
	    sizeof(why)), 0);
	assert_int_equal(usercfg_check_login(&cfg, "on@pve!old", 1000, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "token 'on@pve!old' expired at 1000");
	assert_int_equal(usercfg_check_login(&cfg, "off@pve!tok", 2000, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "user 'off@pve' is disabled");
	assert_int_equal(usercfg_check_login(&cfg, "exp@pve!tok", 2000, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "user 'exp@pve' expired at 1000");
	assert_int_equal(usercfg_check_login(&cfg, "on@pve!none", 2000, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "token 'on@pve!none' does not exist");
	assert_int_equal(usercfg_check_login(&cfg, "ghost@pve", 2000, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "user 'ghost@pve' does not exist");
	assert_int_equal(usercfg_check_login(&cfg, "junk", 2000, why,
	    sizeof(why)), -1);
	usercfg_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(example_parses),
		cmocka_unit_test(example_round_trip),
		cmocka_unit_test(writer_order),
		cmocka_unit_test(round_trip_equal),
		cmocka_unit_test(writer_skips_root_and_builtins),
		cmocka_unit_test(acl_later_line_wins),
		cmocka_unit_test(token_missing_fields),
		cmocka_unit_test(enable_truth),
		cmocka_unit_test(crlf_and_blank_lines),
		cmocka_unit_test(bad_lines_table),
		cmocka_unit_test(escape_lower_case),
		cmocka_unit_test(field_size_limits),
		cmocka_unit_test(file_too_large),
		cmocka_unit_test(nul_byte_rejected),
		cmocka_unit_test(entry_count_limit),
		cmocka_unit_test(load_file),
		cmocka_unit_test(identifiers),
		cmocka_unit_test(path_normalize),
		cmocka_unit_test(text_escaping),
		cmocka_unit_test(privilege_table),
		cmocka_unit_test(edit_user_and_token),
		cmocka_unit_test(edit_comment_too_long),
		cmocka_unit_test(edit_acl),
		cmocka_unit_test(edit_user_remove_cascades),
		cmocka_unit_test(check_login),
	};

	/* Parser warnings go to stderr, not to syslog. */
	log_init(1, 0, "test_usercfg");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
