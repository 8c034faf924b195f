/*
 * Unit tests for the QEMU argument generator (common/qemuargs.c).
 *
 * Golden files are in tests/golden/qemu/ (or $GOLDEN_DIR): each
 * NAME.conf is a VM config, NAME.argv the expected argument vector, one
 * argument per line, argv[0] included.  An optional NAME.opts sets the
 * generator options, one "keyword value" per line: vmid, forcemachine,
 * forcecpu, nets-host-mtu, incoming ("none" for a plain start), host-kvm
 * (0 or 1), vhost-net (0 or 1).  The binary runs from the repository
 * root.  To regenerate the .argv files after a deliberate change, run it
 * with QEMUARGS_GOLDEN_UPDATE=1 and review the diff.
 *
 * The test callbacks map volume "<storage>:<name>" to
 * /dev/zvol/<storage>/<name> (raw), or to /var/lib/vz/images/<name> with
 * format qcow2 for a name ending in ".qcow2".  Bridges named "user*" are
 * user-mode, "none*" have no backend, and every other bridge is a tap.
 */

#include <dirent.h>
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

#include "qemuargs.h"
#include "vmconfig.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define DEFAULT_GOLDEN	"tests/golden/qemu"
#define TEXT_MAX	(64 * 1024)

#define assert_contains(s, sub) do {					\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("\"%s\" does not contain \"%s\"", (s), (sub));	\
} while (0)

struct golden_opts {
	struct qemu_opts	 opts;
	struct qemu_host	 host;
	char			 forcemachine[64];
	char			 forcecpu[256];
	char			 nets_host_mtu[256];
	char			 incoming[256];
	char			 vmdir[256];
};

static int
test_volume_path(void *arg, const char *volid, char *path, size_t pathlen,
    char *fmt, size_t fmtlen, char *err, size_t errlen)
{
	const char	*colon = strchr(volid, ':');
	size_t		 n;

	(void)arg;
	if (colon == NULL || strncmp(volid, "missing:", 8) == 0) {
		snprintf(err, errlen, "storage of volume %s not found", volid);
		return -1;
	}
	n = strlen(colon + 1);
	if (n > 6 && strcmp(colon + 1 + n - 6, ".qcow2") == 0) {
		snprintf(path, pathlen, "/var/lib/vz/images/%s", colon + 1);
		strlcpy(fmt, "qcow2", fmtlen);
		return 0;
	}
	snprintf(path, pathlen, "/dev/zvol/%.*s/%s", (int)(colon - volid),
	    volid, colon + 1);
	strlcpy(fmt, "raw", fmtlen);
	return 0;
}

static enum qemu_netdev
test_bridge_backend(void *arg, const char *bridge)
{
	(void)arg;
	if (strncmp(bridge, "user", 4) == 0)
		return QEMU_NETDEV_USER;
	if (strncmp(bridge, "none", 4) == 0)
		return QEMU_NETDEV_NONE;
	return QEMU_NETDEV_TAP;
}

static int
test_file_exists(void *arg, const char *path)
{
	(void)arg;
	return strstr(path, "/missing/") == NULL;
}

static void
golden_opts_init(struct golden_opts *go, uint32_t vmid)
{
	memset(go, 0, sizeof(*go));
	go->host.major = 7;
	go->host.minor = 2;
	go->host.kvm = 1;
	go->host.vhost_net = 1;
	go->host.firmware_dir = "/usr/share/OVMF";
	go->opts.vmid = vmid;
	snprintf(go->vmdir, sizeof(go->vmdir), "/run/mtunneld/%u", vmid);
	snprintf(go->incoming, sizeof(go->incoming),
	    "unix:/run/mtunneld/%u/migrate", vmid);
	go->opts.vmdir = go->vmdir;
	go->opts.incoming = go->incoming;
	go->opts.volume_path = test_volume_path;
	go->opts.bridge_backend = test_bridge_backend;
	go->opts.file_exists = test_file_exists;
}

static char *
read_text(const char *path)
{
	FILE	*f;
	char	*buf;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if ((buf = malloc(TEXT_MAX + 1)) == NULL)
		fail_msg("out of memory");
	n = fread(buf, 1, TEXT_MAX, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void
apply_opt(struct golden_opts *go, const char *key, const char *value)
{
	if (strcmp(key, "vmid") == 0) {
		golden_opts_init(go, (uint32_t)strtoul(value, NULL, 10));
	} else if (strcmp(key, "forcemachine") == 0) {
		strlcpy(go->forcemachine, value, sizeof(go->forcemachine));
		go->opts.forcemachine = go->forcemachine;
	} else if (strcmp(key, "forcecpu") == 0) {
		strlcpy(go->forcecpu, value, sizeof(go->forcecpu));
		go->opts.forcecpu = go->forcecpu;
	} else if (strcmp(key, "nets-host-mtu") == 0) {
		strlcpy(go->nets_host_mtu, value, sizeof(go->nets_host_mtu));
		go->opts.nets_host_mtu = go->nets_host_mtu;
	} else if (strcmp(key, "incoming") == 0) {
		go->opts.incoming = NULL;
		if (strcmp(value, "none") != 0) {
			strlcpy(go->incoming, value, sizeof(go->incoming));
			go->opts.incoming = go->incoming;
		}
	} else if (strcmp(key, "host-kvm") == 0)
		go->host.kvm = atoi(value);
	else if (strcmp(key, "vhost-net") == 0)
		go->host.vhost_net = atoi(value);
	else
		fail_msg("unknown option '%s' in a .opts file", key);
}

/* Read NAME.opts if it exists.  "vmid" must come first when present. */
static void
load_opts(const char *dir, const char *name, struct golden_opts *go)
{
	char	 path[512], *text, *line, *save = NULL, *p, *sp;

	golden_opts_init(go, 100);
	snprintf(path, sizeof(path), "%s/%s.opts", dir, name);
	if ((text = read_text(path)) == NULL)
		return;
	for (p = text; (line = strtok_r(p, "\n", &save)) != NULL; p = NULL) {
		if ((sp = strchr(line, ' ')) == NULL)
			fail_msg("%s: line without a value: %s", path, line);
		*sp = '\0';
		apply_opt(go, line, sp + 1);
	}
	free(text);
}

static void
parse_config(const char *text, uint32_t vmid, struct vmconfig *cfg)
{
	char	 err[VMCONFIG_ERR_MAX] = "";

	if (vmconfig_parse(cfg, text, strlen(text), 1, vmid, err,
	    sizeof(err)) != 0)
		fail_msg("config does not parse: %s", err);
}

static char *
join_argv(const struct qemu_argv *av)
{
	char	*out;
	size_t	 i;

	if ((out = calloc(1, TEXT_MAX)) == NULL)
		fail_msg("out of memory");
	for (i = 0; i < av->argc; i++) {
		strlcat(out, av->argv[i], TEXT_MAX);
		strlcat(out, "\n", TEXT_MAX);
	}
	return out;
}

/* Report the first line where got and want differ. */
static void
compare_lines(const char *name, const char *got, const char *want)
{
	size_t	 line = 1, g, w;

	while (*got != '\0' || *want != '\0') {
		g = strcspn(got, "\n");
		w = strcspn(want, "\n");
		if (g != w || strncmp(got, want, g) != 0)
			fail_msg("%s: line %zu is \"%.*s\", expected \"%.*s\"",
			    name, line, (int)g, got, (int)w, want);
		got += g + (got[g] == '\n');
		want += w + (want[w] == '\n');
		line++;
	}
}

static void
check_golden(const char *dir, const char *name)
{
	struct golden_opts	 go;
	struct vmconfig		 cfg;
	struct qemu_argv	 av;
	char			 path[512], err[QEMUARGS_ERR_MAX] = "";
	char			*text, *want, *got;
	FILE			*f;

	load_opts(dir, name, &go);
	snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
	if ((text = read_text(path)) == NULL)
		fail_msg("cannot read %s", path);
	parse_config(text, go.opts.vmid, &cfg);
	if (qemu_argv_build(&cfg, &go.host, &go.opts, &av, err,
	    sizeof(err)) != 0)
		fail_msg("%s: build failed: %s", name, err);
	got = join_argv(&av);
	snprintf(path, sizeof(path), "%s/%s.argv", dir, name);
	if (getenv("QEMUARGS_GOLDEN_UPDATE") != NULL) {
		if ((f = fopen(path, "w")) == NULL)
			fail_msg("cannot write %s", path);
		fputs(got, f);
		fclose(f);
	}
	if ((want = read_text(path)) == NULL)
		fail_msg("cannot read %s", path);
	compare_lines(name, got, want);
	free(want);
	free(got);
	free(text);
	qemu_argv_free(&av);
	vmconfig_free(&cfg);
}

static void
test_golden_files(void **state)
{
	const char	*dir = getenv("GOLDEN_DIR");
	DIR		*d;
	struct dirent	*de;
	char		 name[256];
	size_t		 n, count = 0;

	(void)state;
	if (dir == NULL)
		dir = DEFAULT_GOLDEN;
	if ((d = opendir(dir)) == NULL)
		fail_msg("cannot open %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".conf") != 0 ||
		    n - 5 >= sizeof(name))
			continue;
		memcpy(name, de->d_name, n - 5);
		name[n - 5] = '\0';
		check_golden(dir, name);
		count++;
	}
	closedir(d);
	/* A lost directory must not pass as "nothing to compare". */
	assert_true(count >= 10);
}

/*
 * Build a config that must be refused with errsub in the message.
 * extra_opts is a .opts-style text ("forcemachine X\n...") or NULL.
 */
static void
build_fails(const char *conf, const char *extra_opts, const char *errsub)
{
	struct golden_opts	 go;
	struct vmconfig		 cfg;
	struct qemu_argv	 av;
	char			 err[QEMUARGS_ERR_MAX] = "", buf[1024];
	char			*line, *p, *save = NULL, *sp;

	golden_opts_init(&go, 100);
	if (extra_opts != NULL) {
		strlcpy(buf, extra_opts, sizeof(buf));
		for (p = buf; (line = strtok_r(p, "\n", &save)) != NULL;
		    p = NULL) {
			sp = strchr(line, ' ');
			assert_non_null(sp);
			*sp = '\0';
			apply_opt(&go, line, sp + 1);
		}
	}
	parse_config(conf, go.opts.vmid, &cfg);
	if (qemu_argv_build(&cfg, &go.host, &go.opts, &av, err,
	    sizeof(err)) == 0) {
		qemu_argv_free(&av);
		vmconfig_free(&cfg);
		fail_msg("build of \"%s\" succeeded", conf);
	}
	assert_contains(err, errsub);
	assert_null(av.argv);
	assert_int_equal(av.argc, 0);
	vmconfig_free(&cfg);
}

/* Keys the config parser rejects by name, so no config can carry them. */
static void
test_unsupported_keys(void **state)
{
	static const char *const keys[] = {
		"hostpci0: 01:00.0", "usb0: host=1234:5678", "args: -foo",
		"numa: 1", "hugepages: 2", "hotplug: cpu", "parallel0: /dev/p",
		"audio0: device=ich9-intel-hda,driver=spice",
		"watchdog: i6300esb", "ivshmem: size=32",
		"virtiofs0: dirid=x", "tpmstate0: tank:vm-100-disk-9",
		"amd-sev: type=std", "spice_enhancements: foldersharing=1",
		"freeze: 1", "balloon: 0", "bootdisk: scsi0", "keyboard: de",
	};
	struct vmconfig	 cfg;
	char		 err[VMCONFIG_ERR_MAX], key[32];
	size_t		 i;

	(void)state;
	for (i = 0; i < NELEM(keys); i++) {
		strlcpy(key, keys[i], sizeof(key));
		*strchr(key, ':') = '\0';
		err[0] = '\0';
		if (vmconfig_parse(&cfg, keys[i], strlen(keys[i]), 1, 100, err,
		    sizeof(err)) == 0) {
			vmconfig_free(&cfg);
			fail_msg("\"%s\" parsed", keys[i]);
		}
		assert_contains(err, key);
	}
}

/* Values the parser accepts and the generator rejects, each by name. */
static void
test_unsupported_values(void **state)
{
	static const struct {
		const char	*conf;
		const char	*errsub;
	} cases[] = {
		{ "scsihw: megasas\n", "'megasas' for 'scsihw'" },
		{ "scsihw: pvscsi\n", "'pvscsi' for 'scsihw'" },
		{ "scsihw: lsi53c810\n", "'lsi53c810' for 'scsihw'" },
		{ "vga: qxl\n", "'qxl' for 'vga'" },
		{ "vga: qxl2\n", "'qxl2' for 'vga'" },
		{ "vga: qxl3\n", "'qxl3' for 'vga'" },
		{ "vga: qxl4\n", "'qxl4' for 'vga'" },
		{ "vga: virtio-gl\n", "'virtio-gl' for 'vga'" },
		{ "vga: std,clipboard=vnc\n", "'clipboard' in 'vga'" },
		{ "machine: q35,viommu=intel\n", "'viommu' in 'machine'" },
		{ "cpu: kvm64,level=5\n", "'level' in 'cpu'" },
		{ "cpu: kvm64,guest-phys-bits=40\n",
		    "'guest-phys-bits' in 'cpu'" },
		{ "scsi0: tank:vm-100-disk-0,mbps=10\n", "'mbps' in 'scsi0'" },
		{ "scsi0: tank:vm-100-disk-0,iops_rd=10\n",
		    "'iops_rd' in 'scsi0'" },
		{ "virtio0: tank:vm-100-disk-0,mbps_wr=10\n",
		    "'mbps_wr' in 'virtio0'" },
		{ "scsi0: tank:vm-100-disk-0,queues=4\n",
		    "'queues' in 'scsi0'" },
		{ "scsi0: tank:vm-100-disk-0,scsiblock=1\n",
		    "'scsiblock' in 'scsi0'" },
		{ "ide2: cdrom,media=cdrom\n", "'cdrom' for 'ide2'" },
		{ "ide2: tank:vm-100-cloudinit,media=cdrom\n",
		    "cloud-init" },
		{ "net0: e1000e=BC:24:11:00:00:01,bridge=vmbr0\n",
		    "'e1000e' in 'net0'" },
		{ "net0: vmxnet3=BC:24:11:00:00:01,bridge=vmbr0\n",
		    "'vmxnet3' in 'net0'" },
		{ "net0: virtio=BC:24:11:00:00:01,bridge=vmbr0,queues=4\n",
		    "'queues' in 'net0'" },
		{ "net0: virtio=BC:24:11:00:00:01,bridge=vmbr0,rate=10\n",
		    "'rate' in 'net0'" },
		{ "net0: virtio=BC:24:11:00:00:01,bridge=vmbr0,trunks=2;3\n",
		    "'trunks' in 'net0'" },
	};
	struct vmconfig	 cfg;
	char		 err[QEMUARGS_ERR_MAX];
	size_t		 i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		parse_config(cases[i].conf, 100, &cfg);
		err[0] = '\0';
		if (qemu_config_check(&cfg, err, sizeof(err)) == 0)
			fail_msg("check of \"%s\" passed", cases[i].conf);
		assert_contains(err, cases[i].errsub);
		vmconfig_free(&cfg);
		build_fails(cases[i].conf, NULL, cases[i].errsub);
	}
}

static void
test_machine_refusals(void **state)
{
	(void)state;
	build_fails("machine: pc-i440fx-7.2\n",
	    "forcemachine pc-i440fx-8.1+pve0\n",
	    "source VM runs machine type pc-i440fx-8.1+pve0; this target's "
	    "QEMU 7.2 supports machine versions up to 7.2. Set 'machine: "
	    "pc-i440fx-7.2' (or 'pc-q35-7.2'), restart the VM on the source, "
	    "then migrate.");
	build_fails("machine: pc-q35-9.2+pve1\n", NULL,
	    "machine type pc-q35-9.2+pve1");
	build_fails("machine: pc-i440fx-2.3.pxe\n", NULL,
	    "machine type pc-i440fx-2.3.pxe");
	build_fails("machine: pc\n", "forcemachine pc-i440fx-6.0.pxe\n",
	    "pc-i440fx-6.0.pxe");
	build_fails("machine: virt\n", NULL, "machine type virt");
	build_fails("machine: q35\n", "forcemachine pc-i440fx-7.2+pve0\n",
	    "same base type");
	build_fails("machine: pc-i440fx-7.1\n",
	    "forcemachine pc-q35-7.1+pve0\n", "same base type");
	build_fails("machine: pc-q35-3.1\n", NULL, "before 4.0");
}

static void
test_cpu_refusals(void **state)
{
	(void)state;
	build_fails("cpu: EPYC-Genoa\n", NULL, "CPU model 'EPYC-Genoa' is "
	    "unknown to this target's QEMU 7.2");
	build_fails("cpu: SapphireRapids\n", NULL, "'SapphireRapids'");
	build_fails("cpu: GraniteRapids\n", NULL, "'GraniteRapids'");
	build_fails("cpu: SierraForest\n", NULL, "'SierraForest'");
	build_fails("cpu: SapphireRapids-v2\n", NULL, "'SapphireRapids-v2'");
	build_fails("cpu: custom-mine\n", NULL, "forcecpu");
	build_fails("cpu: kvm64,flags=+nested-virt\n", NULL, "nested-virt");
	build_fails("cpu: host\nkvm: 0\n", "host-kvm 0\n", "needs KVM");
}

static void
test_kvm_refusal(void **state)
{
	(void)state;
	build_fails("memory: 512\n", "host-kvm 0\n",
	    "the config has KVM enabled ('kvm' is 1 or unset) but this "
	    "host has no usable KVM");
	build_fails("kvm: 1\n", "host-kvm 0\n", "no usable KVM");
}

static void
test_other_refusals(void **state)
{
	(void)state;
	build_fails("bios: ovmf\n", NULL, "needs an 'efidisk0'");
	build_fails("sockets: 1\ncores: 2\nvcpus: 3\n", NULL,
	    "vcpus 3 is more than sockets times cores (2)");
	build_fails("vmgenid: 1\n", NULL, "vmgenid '1'");
	build_fails("scsi0: missing:vm-100-disk-0\n", NULL,
	    "scsi0: storage of volume missing:vm-100-disk-0 not found");
	build_fails("net0: virtio=BC:24:11:00:00:01,bridge=vmbr0,mtu=1\n",
	    NULL, "mtu=1");
	build_fails("scsi14: tank:vm-100-disk-0\nmachine: pc-i440fx-4.1\n",
	    "forcemachine pc-i440fx-4.1+pve1\n", "above 13");
}

static void
test_firmware_missing(void **state)
{
	struct golden_opts	 go;
	struct vmconfig		 cfg;
	struct qemu_argv	 av;
	char			 err[QEMUARGS_ERR_MAX] = "";

	(void)state;
	golden_opts_init(&go, 100);
	go.host.firmware_dir = "/usr/share/missing/OVMF";
	parse_config("bios: ovmf\nefidisk0: tank:vm-100-disk-1,efitype=4m\n",
	    100, &cfg);
	assert_int_equal(qemu_argv_build(&cfg, &go.host, &go.opts, &av, err,
	    sizeof(err)), -1);
	assert_contains(err, "OVMF firmware /usr/share/missing/OVMF/"
	    "OVMF_CODE_4M.fd is missing");
	vmconfig_free(&cfg);
}

static void
test_machine_check(void **state)
{
	struct qemu_host	 host = { .major = 7, .minor = 2 };
	char			 err[QEMUARGS_ERR_MAX];

	(void)state;
	assert_int_equal(qemu_machine_check("pc-i440fx-7.2", &host, err,
	    sizeof(err)), 0);
	assert_int_equal(qemu_machine_check("type=pc-q35-6.2,enable-s3=0",
	    &host, err, sizeof(err)), 0);
	assert_int_equal(qemu_machine_check("q35", &host, err,
	    sizeof(err)), 0);
	assert_int_equal(qemu_machine_check("pc-q35-8.0", &host, err,
	    sizeof(err)), -1);
	assert_contains(err, "pc-q35-8.0");
	assert_int_equal(qemu_machine_check("pc-i440fx-7.2+pve0", &host,
	    err, sizeof(err)), 0);
}

static void
test_machine_list(void **state)
{
	static const char help[] =
	    "Supported machines are:\n"
	    "pc                   Standard PC (i440FX + PIIX, 1996) (alias of "
	    "pc-i440fx-7.2)\n"
	    "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) "
	    "(default)\n"
	    "pc-i440fx-7.1        Standard PC (i440FX + PIIX, 1996)\n"
	    "q35                  Standard PC (Q35 + ICH9, 2009) (alias of "
	    "pc-q35-7.2)\n"
	    "pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)\n"
	    "pc-q35-7.1           Standard PC (Q35 + ICH9, 2009)\n"
	    "none                 empty machine\n";
	static const char version[] =
	    "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)\n"
	    "Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project "
	    "developers\n";
	struct qemu_host	*host;
	char			 err[QEMUARGS_ERR_MAX];

	(void)state;
	host = calloc(1, sizeof(*host));
	assert_non_null(host);
	assert_int_equal(qemu_host_parse_version(host, version,
	    strlen(version)), 0);
	assert_int_equal(host->major, 7);
	assert_int_equal(host->minor, 2);
	assert_int_equal(qemu_host_parse_machines(host, help, strlen(help)),
	    0);
	assert_int_equal(host->nmachines, 7);
	assert_string_equal(host->machines[1], "pc-i440fx-7.2");
	assert_int_equal(qemu_machine_check("pc-q35-7.1", host, err,
	    sizeof(err)), 0);
	/* Version 7.0 is not newer than 7.2 but this QEMU lacks it. */
	assert_int_equal(qemu_machine_check("pc-q35-7.0", host, err,
	    sizeof(err)), -1);
	assert_contains(err, "pc-q35-7.0");
	assert_int_equal(qemu_host_parse_version(host, "qemu 7", 7), -1);
	free(host);
}

static void
test_start_timeout(void **state)
{
	struct vmconfig	 cfg;

	(void)state;
	parse_config("memory: 2048\n", 100, &cfg);
	assert_int_equal(qemu_start_timeout(&cfg), 30);
	vmconfig_free(&cfg);
	parse_config("memory: 65536\nnet0: virtio=BC:24:11:00:00:01\n"
	    "net3: e1000=BC:24:11:00:00:02\n", 100, &cfg);
	assert_int_equal(qemu_start_timeout(&cfg), 64 + 10);
	vmconfig_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_files),
		cmocka_unit_test(test_unsupported_keys),
		cmocka_unit_test(test_unsupported_values),
		cmocka_unit_test(test_machine_refusals),
		cmocka_unit_test(test_cpu_refusals),
		cmocka_unit_test(test_kvm_refusal),
		cmocka_unit_test(test_other_refusals),
		cmocka_unit_test(test_firmware_missing),
		cmocka_unit_test(test_machine_check),
		cmocka_unit_test(test_machine_list),
		cmocka_unit_test(test_start_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
