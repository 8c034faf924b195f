/*
 * Unit tests for ACL evaluation (common/acl.c) over configs parsed by
 * common/usercfg.c: one case per evaluation rule, the built-in roles,
 * custom roles and privilege-separated tokens.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"
#include "log.h"
#include "usercfg.h"

#define BIT(name)	(UINT64_C(1) << privilege_bit(name))

static void
parse_ok(struct usercfg *cfg, const char *text)
{
	char	 err[USERCFG_ERR_MAX];

	if (usercfg_parse(cfg, "user.cfg", text, strlen(text), err,
	    sizeof(err)) == -1)
		fail_msg("parse failed: %s", err);
}

static uint64_t
privs_of(const struct usercfg *cfg, const char *authid, const char *path)
{
	uint64_t	 privs;

	if (acl_privileges(cfg, authid, path, &privs) == -1)
		fail_msg("acl_privileges(%s, %s) failed", authid, path);
	return privs;
}

static uint64_t
role_privs(const char *role)
{
	uint64_t	 privs;

	if (!role_builtin_privs(role, &privs))
		fail_msg("no built-in role %s", role);
	return privs;
}

static int
count_bits(uint64_t v)
{
	return __builtin_popcountll(v);
}

struct role_size {
	const char	*role;
	int		 nprivs;
};

static const struct role_size role_sizes[] = {
	{ "Administrator", 47 },
	{ "NoAccess", 0 },
	{ "PVEAdmin", 40 },
	{ "PVEVMAdmin", 23 },
	{ "PVEVMUser", 10 },
	{ "PVEDatastoreAdmin", 4 },
	{ "PVEDatastoreUser", 2 },
	{ "PVEAuditor", 7 },
	{ "PVESysAdmin", 3 },
	{ "PVEUserAdmin", 3 },
	{ "PVEPoolAdmin", 2 },
	{ "PVEPoolUser", 1 },
	{ "PVESDNAdmin", 3 },
	{ "PVESDNUser", 2 },
	{ "PVEMappingAdmin", 3 },
	{ "PVEMappingUser", 2 },
	{ "PVETemplateUser", 2 },
};

static void
builtin_role_sizes(void **state)
{
	size_t	 i;

	for (i = 0; i < sizeof(role_sizes) / sizeof(role_sizes[0]); i++)
		if (count_bits(role_privs(role_sizes[i].role)) !=
		    role_sizes[i].nprivs)
			fail_msg("%s has %d privileges, expected %d",
			    role_sizes[i].role,
			    count_bits(role_privs(role_sizes[i].role)),
			    role_sizes[i].nprivs);
}

/* PVEAdmin is all admin roles together, less Mapping.Modify. */
static void
pveadmin_composition(void **state)
{
	uint64_t	 admins;

	admins = role_privs("PVEVMAdmin") | role_privs("PVEDatastoreAdmin") |
	    role_privs("PVESysAdmin") | role_privs("PVEUserAdmin") |
	    role_privs("PVEPoolAdmin") | role_privs("PVESDNAdmin") |
	    role_privs("PVEMappingAdmin") | role_privs("PVEAuditor");
	assert_true(role_privs("PVEAdmin") ==
	    (admins & ~BIT("Mapping.Modify")));
	assert_true((role_privs("PVEVMUser") & ~role_privs("PVEVMAdmin")) ==
	    0);
}

/* Only Administrator (or a custom role) grants Sys.Incoming. */
static void
sys_incoming_admin_only(void **state)
{
	struct usercfg	 cfg;
	size_t		 i;
	const char	*role;

	for (i = 0; (role = role_builtin_name(i)) != NULL; i++)
		if ((role_privs(role) & BIT("Sys.Incoming")) != 0 &&
		    strcmp(role, "Administrator") != 0)
			fail_msg("%s grants Sys.Incoming", role);

	parse_ok(&cfg, "user:admin@pve:1:0:::::\nuser:pveadmin@pve:1:0:::::\n"
	    "acl:1:/:admin@pve:Administrator:\n"
	    "acl:1:/:pveadmin@pve:PVEAdmin:\n");
	assert_int_equal(acl_check(&cfg, "admin@pve", "/", "Sys.Incoming"), 1);
	assert_int_equal(acl_check(&cfg, "pveadmin@pve", "/", "Sys.Incoming"),
	    0);
	assert_int_equal(acl_check(&cfg, "pveadmin@pve", "/vms/100",
	    "VM.Allocate"), 1);
	usercfg_free(&cfg);
}

#define USERS	"user:u@pve:1:0:::::\nuser:v@pve:1:0:::::\n"

/* An entry with propagate 1 applies to every path below it. */
static void
propagation(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, USERS "acl:1:/vms:u@pve:PVEVMUser:\n");
	assert_true(privs_of(&cfg, "u@pve", "/vms") ==
	    role_privs("PVEVMUser"));
	assert_true(privs_of(&cfg, "u@pve", "/vms/100") ==
	    role_privs("PVEVMUser"));
	assert_true(privs_of(&cfg, "u@pve", "/vms/100/x") ==
	    role_privs("PVEVMUser"));
	assert_true(privs_of(&cfg, "u@pve", "/") == 0);
	assert_true(privs_of(&cfg, "u@pve", "/vmsx") == 0);
	assert_true(privs_of(&cfg, "u@pve", "/storage") == 0);
	assert_true(privs_of(&cfg, "v@pve", "/vms/100") == 0);
	usercfg_free(&cfg);
}

/* A propagate 0 entry applies to exactly its own path. */
static void
no_propagate_exact_path(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, USERS "acl:0:/vms:u@pve:PVEVMUser:\n");
	assert_true(privs_of(&cfg, "u@pve", "/vms") ==
	    role_privs("PVEVMUser"));
	assert_true(privs_of(&cfg, "u@pve", "//vms/") ==
	    role_privs("PVEVMUser"));
	assert_true(privs_of(&cfg, "u@pve", "/vms/100") == 0);
	assert_true(privs_of(&cfg, "u@pve", "/") == 0);
	usercfg_free(&cfg);
}

/*
 * A level whose entries do not count (propagate 0, not the target) leaves
 * what came from above: it neither replaces nor clears it.
 */
static void
no_propagate_keeps_inherited(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, USERS "acl:1:/:u@pve:PVEAuditor:\n"
	    "acl:0:/vms:u@pve:Administrator:\n"
	    "acl:0:/storage:u@pve:NoAccess:\n");
	assert_true(privs_of(&cfg, "u@pve", "/vms/100") ==
	    role_privs("PVEAuditor"));
	assert_true(privs_of(&cfg, "u@pve", "/vms") ==
	    role_privs("Administrator"));
	assert_true(privs_of(&cfg, "u@pve", "/storage") == 0);
	assert_true(privs_of(&cfg, "u@pve", "/storage/local") ==
	    role_privs("PVEAuditor"));
	usercfg_free(&cfg);
}

/* At one level, an entry naming the user hides the group entries. */
static void
user_hides_groups(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, USERS "group:admins:u@pve,v@pve::\n"
	    "acl:1:/:@admins:Administrator:\n"
	    "acl:1:/:u@pve:PVEAuditor:\n");
	assert_true(privs_of(&cfg, "u@pve", "/vms/100") ==
	    role_privs("PVEAuditor"));
	assert_true(privs_of(&cfg, "v@pve", "/vms/100") ==
	    role_privs("Administrator"));
	usercfg_free(&cfg);
}

/* A user entry that does not count does not hide the groups' entries. */
static void
user_entry_not_counting(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, USERS "group:g:u@pve::\n"
	    "acl:1:/vms:@g:PVEVMUser:\n"
	    "acl:0:/vms:u@pve:PVEAuditor:\n");
	assert_true(privs_of(&cfg, "u@pve", "/vms/100") ==
	    role_privs("PVEVMUser"));
	assert_true(privs_of(&cfg, "u@pve", "/vms") ==
	    role_privs("PVEAuditor"));
	usercfg_free(&cfg);
}

/* The roles of all the user's groups at one level are joined. */
static void
groups_union(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, USERS "group:vm:u@pve::\ngroup:ds:u@pve::\n"
	    "group:other:v@pve::\n"
	    "acl:1:/:@vm:PVEVMUser:\n"
	    "acl:1:/:@ds:PVEDatastoreUser:\n"
	    "acl:1:/:@other:Administrator:\n");
	assert_true(privs_of(&cfg, "u@pve", "/vms/100") ==
	    (role_privs("PVEVMUser") | role_privs("PVEDatastoreUser")));
	usercfg_free(&cfg);
}

/* A deeper level's roles replace the inherited ones, never merge. */
static void
deeper_level_replaces(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, USERS "group:g:u@pve::\n"
	    "acl:1:/:u@pve:Administrator:\n"
	    "acl:1:/vms:@g:PVEAuditor:\n"
	    "acl:1:/vms/100:u@pve:PVEVMUser:\n");
	assert_true(privs_of(&cfg, "u@pve", "/") ==
	    role_privs("Administrator"));
	assert_true(privs_of(&cfg, "u@pve", "/vms") ==
	    role_privs("PVEAuditor"));
	assert_true(privs_of(&cfg, "u@pve", "/vms/101") ==
	    role_privs("PVEAuditor"));
	assert_false(acl_check(&cfg, "u@pve", "/vms/101", "VM.Allocate"));
	assert_true(privs_of(&cfg, "u@pve", "/vms/100") ==
	    role_privs("PVEVMUser"));
	assert_false(acl_check(&cfg, "u@pve", "/vms/100", "Sys.Audit"));
	usercfg_free(&cfg);
}

static void
noaccess(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, USERS "acl:1:/:u@pve:Administrator:\n"
	    "acl:1:/storage/slow:u@pve:NoAccess:\n"
	    "acl:1:/vms/100:u@pve:NoAccess,PVEVMAdmin:\n"
	    "acl:1:/storage/slow/ok:u@pve:PVEDatastoreUser:\n");
	assert_true(privs_of(&cfg, "u@pve", "/storage/slow") == 0);
	assert_true(privs_of(&cfg, "u@pve", "/storage/slow/x") == 0);
	assert_true(privs_of(&cfg, "u@pve", "/storage/fast") ==
	    PRIVILEGES_ALL);
	/* NoAccess beside another role at the same level still wins. */
	assert_true(privs_of(&cfg, "u@pve", "/vms/100") == 0);
	/* A deeper level replaces NoAccess like any other role. */
	assert_true(privs_of(&cfg, "u@pve", "/storage/slow/ok") ==
	    role_privs("PVEDatastoreUser"));
	usercfg_free(&cfg);
}

/* NoAccess from a group at the level the user's groups win. */
static void
noaccess_from_group(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, USERS "group:a:u@pve::\ngroup:b:u@pve::\n"
	    "acl:1:/:@a:Administrator:\n"
	    "acl:1:/:@b:NoAccess:\n");
	assert_true(privs_of(&cfg, "u@pve", "/vms/100") == 0);
	usercfg_free(&cfg);
}

#define TOKENS	"user:u@pve:1:0:::::\n"					\
		"token:u@pve!sep:0:1::\n"				\
		"token:u@pve!full:0:0::\n"				\
		"user:root@pam:1:0:::::\n"				\
		"token:root@pam!sep:0:1::\n"				\
		"token:root@pam!full:0:0::\n"

/* A privsep token gets its own ACL privileges intersected with its user's. */
static void
privsep_token_intersection(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, TOKENS "acl:1:/:u@pve:PVEVMAdmin:\n"
	    "acl:1:/:u@pve!sep:Administrator:\n"
	    "acl:1:/storage:u@pve:Administrator:\n"
	    "acl:1:/storage:u@pve!sep:PVEDatastoreUser:\n");
	assert_true(privs_of(&cfg, "u@pve!sep", "/vms/100") ==
	    role_privs("PVEVMAdmin"));
	assert_false(acl_check(&cfg, "u@pve!sep", "/", "Sys.Incoming"));
	assert_true(privs_of(&cfg, "u@pve!sep", "/storage/local") ==
	    role_privs("PVEDatastoreUser"));
	usercfg_free(&cfg);
}

/* A privsep token without ACL entries of its own has nothing. */
static void
privsep_token_without_acl(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, TOKENS "group:g:u@pve::\n"
	    "acl:1:/:u@pve:Administrator:\n"
	    "acl:1:/:@g:Administrator:\n");
	assert_true(privs_of(&cfg, "u@pve", "/vms/100") == PRIVILEGES_ALL);
	assert_true(privs_of(&cfg, "u@pve!sep", "/vms/100") == 0);
	usercfg_free(&cfg);
}

/*
 * A token's own entries are looked at alone: the user's entries at the
 * same level do not hide or add to them, and a deeper user entry does
 * not replace the token's roles (it narrows the intersection only).
 */
static void
privsep_token_levels(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, TOKENS "acl:1:/:u@pve!sep:PVEVMUser:\n"
	    "acl:1:/:u@pve:Administrator:\n"
	    "acl:1:/vms/100:u@pve:PVEAuditor:\n"
	    "acl:1:/vms/101:u@pve!sep:NoAccess:\n");
	assert_true(privs_of(&cfg, "u@pve!sep", "/vms/102") ==
	    role_privs("PVEVMUser"));
	assert_true(privs_of(&cfg, "u@pve!sep", "/vms/100") ==
	    (role_privs("PVEVMUser") & role_privs("PVEAuditor")));
	assert_true(privs_of(&cfg, "u@pve!sep", "/vms/101") == 0);
	assert_true(privs_of(&cfg, "u@pve", "/vms/101") == PRIVILEGES_ALL);
	usercfg_free(&cfg);
}

/* A privsep 0 token has its user's privileges; its own ACLs are ignored. */
static void
full_token_uses_user(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, TOKENS "group:g:u@pve::\n"
	    "acl:1:/:@g:PVEVMAdmin:\n"
	    "acl:1:/:u@pve!full:NoAccess:\n"
	    "acl:1:/storage:u@pve!full:Administrator:\n");
	assert_true(privs_of(&cfg, "u@pve!full", "/vms/100") ==
	    role_privs("PVEVMAdmin"));
	assert_true(privs_of(&cfg, "u@pve!full", "/storage/x") ==
	    role_privs("PVEVMAdmin"));
	assert_true(privs_of(&cfg, "u@pve!full", "/vms/100") ==
	    privs_of(&cfg, "u@pve", "/vms/100"));
	usercfg_free(&cfg);
}

/* root@pam has everything; its ACL entries are dropped when parsed. */
static void
root_has_everything(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, TOKENS "acl:1:/:root@pam:NoAccess:\n");
	assert_int_equal(cfg.nacls, 0);
	assert_true(privs_of(&cfg, "root@pam", "/") == PRIVILEGES_ALL);
	assert_true(privs_of(&cfg, "root@pam", "/storage/x") ==
	    PRIVILEGES_ALL);
	assert_int_equal(acl_check(&cfg, "root@pam", "/", "Sys.Incoming"), 1);
	usercfg_free(&cfg);

	/* Even with no user.cfg entry for root@pam. */
	parse_ok(&cfg, "");
	assert_true(privs_of(&cfg, "root@pam", "/vms/1") == PRIVILEGES_ALL);
	usercfg_free(&cfg);
}

/*
 * A privsep token of root@pam gets only its own ACL privileges; a
 * privsep 0 one gets everything.
 */
static void
root_tokens(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, TOKENS "acl:1:/vms:root@pam!sep:PVEVMUser:\n"
	    "acl:1:/:root@pam!full:NoAccess:\n");
	assert_true(privs_of(&cfg, "root@pam!sep", "/vms/100") ==
	    role_privs("PVEVMUser"));
	assert_true(privs_of(&cfg, "root@pam!sep", "/") == 0);
	assert_true(privs_of(&cfg, "root@pam!full", "/") == PRIVILEGES_ALL);
	usercfg_free(&cfg);
}

static void
custom_roles(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, USERS "role:Migrate:Sys.Incoming,VM.Allocate:\n"
	    "role:Empty::\n"
	    "acl:1:/:u@pve:Migrate:\n"
	    "acl:1:/:v@pve:Administrator:\n"
	    "acl:1:/vms:v@pve:Empty:\n");
	assert_true(privs_of(&cfg, "u@pve", "/") ==
	    (BIT("Sys.Incoming") | BIT("VM.Allocate")));
	assert_int_equal(acl_check(&cfg, "u@pve", "/", "Sys.Incoming"), 1);
	assert_int_equal(acl_check(&cfg, "u@pve", "/", "VM.Audit"), 0);
	/* A role without privileges still replaces what was inherited. */
	assert_true(privs_of(&cfg, "v@pve", "/vms/100") == 0);
	usercfg_free(&cfg);
}

/* Unknown privilege names in a role are dropped, known ones kept. */
static void
unknown_privileges_ignored(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg, USERS "role:Old:VM.Monitor,VM.Audit,Nonsense:\n"
	    "acl:1:/:u@pve:Old:\n");
	assert_int_equal(cfg.nskipped, 2);
	assert_true(privs_of(&cfg, "u@pve", "/vms/1") == BIT("VM.Audit"));
	assert_int_equal(acl_check(&cfg, "u@pve", "/vms/1", "VM.Audit"), 1);
	assert_int_equal(acl_check(&cfg, "u@pve", "/vms/1", "VM.Monitor"), 0);
	usercfg_free(&cfg);
}

static void
unknown_subject_or_path(void **state)
{
	struct usercfg	 cfg;
	uint64_t	 privs = 1;

	parse_ok(&cfg, TOKENS "acl:1:/:ghost@pve:Administrator:\n");
	assert_int_equal(acl_privileges(&cfg, "ghost@pve", "/", &privs), -1);
	assert_true(privs == 0);
	assert_int_equal(acl_privileges(&cfg, "u@pve!none", "/", &privs), -1);
	assert_int_equal(acl_privileges(&cfg, "junk", "/", &privs), -1);
	assert_int_equal(acl_privileges(&cfg, "u@pve", "/a b", &privs), -1);
	assert_int_equal(acl_privileges(&cfg, "u@pve", "", &privs), -1);
	assert_int_equal(acl_check(&cfg, "ghost@pve", "/", "VM.Audit"), 0);
	usercfg_free(&cfg);
}

static void
check_all_and_any(void **state)
{
	struct usercfg	 cfg;
	uint64_t	 both = BIT("VM.Audit") | BIT("VM.Allocate");

	parse_ok(&cfg, USERS "acl:1:/:u@pve:PVEVMUser:\n");
	assert_int_equal(acl_check_any(&cfg, "u@pve", "/vms/1", both), 1);
	assert_int_equal(acl_check_all(&cfg, "u@pve", "/vms/1", both), 0);
	assert_int_equal(acl_check_all(&cfg, "u@pve", "/vms/1",
	    BIT("VM.Audit")), 1);
	assert_int_equal(acl_check_any(&cfg, "v@pve", "/vms/1", both), 0);
	usercfg_free(&cfg);
}

/*
 * acl_privileges does not look at enabled or expire: the caller checks
 * the login first with usercfg_check_login().
 */
static void
disabled_and_expired_left_to_caller(void **state)
{
	struct usercfg	 cfg;
	char		 why[128];

	parse_ok(&cfg, "user:off@pve:0:0:::::\n"
	    "user:old@pve:1:1000:::::\n"
	    "token:old@pve!tok:0:0::\n"
	    "acl:1:/:off@pve,old@pve:PVEAuditor:\n");
	assert_true(privs_of(&cfg, "off@pve", "/") ==
	    role_privs("PVEAuditor"));
	assert_true(privs_of(&cfg, "old@pve!tok", "/") ==
	    role_privs("PVEAuditor"));
	assert_int_equal(usercfg_check_login(&cfg, "off@pve", 0, why,
	    sizeof(why)), -1);
	assert_int_equal(usercfg_check_login(&cfg, "old@pve!tok", 2000, why,
	    sizeof(why)), -1);
	usercfg_free(&cfg);
}

/* The example of the user.cfg format description, as a migration target. */
static void
example_migration_token(void **state)
{
	struct usercfg	 cfg;

	parse_ok(&cfg,
	    "user:ops@pve:1:0:Ops:Team:ops@example.invalid:migration "
	    "operator::\n"
	    "token:ops@pve!xmig:0:1:cross-cluster target%3A tgt1:\n"
	    "user:root@pam:1:0:::admin@example.invalid:::\n"
	    "group:migrators:ops@pve:people allowed to move VMs in:\n"
	    "role:MigrationTarget:Datastore.AllocateSpace,Datastore.Audit,"
	    "SDN.Use,Sys.Incoming,VM.Allocate,VM.Audit,VM.Config.CDROM,"
	    "VM.Config.CPU,VM.Config.Cloudinit,VM.Config.Disk,"
	    "VM.Config.HWType,VM.Config.Memory,VM.Config.Network,"
	    "VM.Config.Options,VM.PowerMgmt:\n"
	    "acl:1:/:@migrators,ops@pve!xmig:MigrationTarget:\n"
	    "acl:1:/storage/slow:ops@pve!xmig:NoAccess:\n");
	assert_int_equal(acl_check(&cfg, "ops@pve!xmig", "/", "Sys.Incoming"),
	    1);
	assert_int_equal(acl_check(&cfg, "ops@pve!xmig", "/vms/100",
	    "VM.Allocate"), 1);
	assert_int_equal(acl_check(&cfg, "ops@pve!xmig", "/storage/fast",
	    "Datastore.AllocateSpace"), 1);
	assert_int_equal(acl_check(&cfg, "ops@pve!xmig", "/storage/slow",
	    "Datastore.AllocateSpace"), 0);
	/* The user itself, through its group, keeps /storage/slow. */
	assert_int_equal(acl_check(&cfg, "ops@pve", "/storage/slow",
	    "Datastore.AllocateSpace"), 1);
	assert_int_equal(acl_check(&cfg, "ops@pve!xmig", "/vms/100",
	    "VM.Migrate"), 0);
	usercfg_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(builtin_role_sizes),
		cmocka_unit_test(pveadmin_composition),
		cmocka_unit_test(sys_incoming_admin_only),
		cmocka_unit_test(propagation),
		cmocka_unit_test(no_propagate_exact_path),
		cmocka_unit_test(no_propagate_keeps_inherited),
		cmocka_unit_test(user_hides_groups),
		cmocka_unit_test(user_entry_not_counting),
		cmocka_unit_test(groups_union),
		cmocka_unit_test(deeper_level_replaces),
		cmocka_unit_test(noaccess),
		cmocka_unit_test(noaccess_from_group),
		cmocka_unit_test(privsep_token_intersection),
		cmocka_unit_test(privsep_token_without_acl),
		cmocka_unit_test(privsep_token_levels),
		cmocka_unit_test(full_token_uses_user),
		cmocka_unit_test(root_has_everything),
		cmocka_unit_test(root_tokens),
		cmocka_unit_test(custom_roles),
		cmocka_unit_test(unknown_privileges_ignored),
		cmocka_unit_test(unknown_subject_or_path),
		cmocka_unit_test(check_all_and_any),
		cmocka_unit_test(disabled_and_expired_left_to_caller),
		cmocka_unit_test(example_migration_token),
	};

	/* Parser warnings go to stderr, not to syslog. */
	log_init(1, 0, "test_acl");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
