/*
 * The QEMU argument generator: from a Proxmox VE VM config to the argv
 * that builds the same guest-visible machine on Debian 12's QEMU 7.2.
 *
 * Device ids, buses, PCI addresses and properties are those of Proxmox
 * VE's qemu-server (config_to_command) for a machine version of at most
 * 7.2, in the same order.  Host-side options differ: no "-id", no "+pveN"
 * machine suffix, no boot splash, no qmeventd monitor, sockets under the
 * VM's run directory, pre-created taps (script=no), an explicit accel=,
 * and the q35 chipset devices that upstream reads from pve-q35-4.0.cfg
 * given as "-device" arguments.  tests/integration/qemu-layout.sh
 * checks the resulting PCI and RAM block layout on real QEMU.
 */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "qemuargs.h"
#include "vmconfig.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define BOOTDEV_MAX	96	/* drives and NICs that can get a bootindex */
#define CPUFLAGS_MAX	64
#define OVMF_VARS_4M	540672	/* bytes of OVMF_VARS_4M.fd */
#define OVMF_VARS_2M	131072	/* bytes of OVMF_VARS.fd */

struct machine {
	char	 type[48];	/* upstream QEMU name: "pc-q35-7.2" */
	int	 q35;
	int	 major;
	int	 minor;
	int	 pve;		/* N of "+pveN", 0 when absent */
};

struct bootdev {
	char	 key[12];
	int	 index;
};

struct gen {
	const struct vmconfig	*cfg;
	const struct qemu_host	*host;
	const struct qemu_opts	*opts;
	struct qemu_argv	*av;
	size_t			 cap;
	int			 nomem;
	char			*err;
	size_t			 errlen;

	struct machine		 m;
	int			 kvm;
	int			 winver;	/* windows_version, 0 if not */
	int			 ovmf;
	const char		*scsihw;
	char			 vga[16];	/* vga type, "std" default */
	struct bootdev		 boot[BOOTDEV_MAX];
	size_t			 nboot;
	int			 scsictl[5];	/* lsi, virtio-scsi-pci done */
	int			 ahci;		/* ahci0 emitted */
};

struct cpuflag {
	char	 name[48];
	char	 text[80];	/* as printed: "+aes", "enforce", "kvm=off" */
};

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Argument vector building.  An allocation failure is reported once. */

static void
arg_push(struct gen *g, char *s)
{
	struct qemu_argv	*av = g->av;
	char			**n;

	if (s == NULL) {
		g->nomem = 1;
		return;
	}
	if (av->argc + 2 > g->cap) {
		n = reallocarray(av->argv, g->cap * 2 + 16, sizeof(*n));
		if (n == NULL) {
			free(s);
			g->nomem = 1;
			return;
		}
		av->argv = n;
		g->cap = g->cap * 2 + 16;
	}
	av->argv[av->argc++] = s;
	av->argv[av->argc] = NULL;
}

static void
arg(struct gen *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
arg(struct gen *g, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	arg_push(g, s);
}

/* An option and its value: opt2(g, "-device", "VGA,id=%s", ...). */
static void
opt2(struct gen *g, const char *opt, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
opt2(struct gen *g, const char *opt, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	arg_push(g, strdup(opt));
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	arg_push(g, s);
}

void
qemu_argv_free(struct qemu_argv *av)
{
	size_t	 i;

	if (av->argv != NULL) {
		for (i = 0; i < av->argc; i++)
			free(av->argv[i]);
		free(av->argv);
	}
	av->argv = NULL;
	av->argc = 0;
}

/* Config access helpers. */

static const char *
cfg_get(const struct gen *g, const char *key)
{
	return vmconfig_get(g->cfg, key);
}

static int
cfg_bool(const struct vmconfig *cfg, const char *key, int def)
{
	const char	*v = vmconfig_get(cfg, key);

	return v == NULL ? def : strcmp(v, "0") != 0;
}

static unsigned long
cfg_uint(const struct vmconfig *cfg, const char *key, unsigned long def)
{
	const char	*v = vmconfig_get(cfg, key);

	return v == NULL ? def : strtoul(v, NULL, 10);
}

/* Parse the property string of key, if set.  1 set, 0 unset, -1 bad. */
static int
cfg_propstr(const struct vmconfig *cfg, const char *key, struct propstr *ps,
    char *err, size_t errlen)
{
	const char	*v = vmconfig_get(cfg, key);
	char		 perr[VMCONFIG_ERR_MAX];

	if (v == NULL)
		return 0;
	if (propstr_parse(ps, vmconfig_key_schema(key), v, perr,
	    sizeof(perr)) == -1) {
		set_err(err, errlen, "invalid value for '%s': %s", key, perr);
		return -1;
	}
	return 1;
}

static unsigned long
cfg_memory(const struct vmconfig *cfg)
{
	struct propstr	 ps;
	const char	*cur;

	if (cfg_propstr(cfg, "memory", &ps, NULL, 0) != 1)
		return 512;
	cur = propstr_get(&ps, "current");
	return cur == NULL ? 512 : strtoul(cur, NULL, 10);
}

/* qemu-server's windows_version: the Windows generation of ostype. */
static int
windows_version(const char *ostype)
{
	static const struct {
		const char	*ostype;
		int		 version;
	} map[] = {
		{ "wxp", 5 }, { "w2k", 5 }, { "w2k3", 5 }, { "w2k8", 6 },
		{ "wvista", 6 }, { "win7", 7 }, { "win8", 8 },
		{ "win10", 10 }, { "win11", 11 },
	};
	size_t	 i;

	for (i = 0; ostype != NULL && i < NELEM(map); i++)
		if (strcmp(ostype, map[i].ostype) == 0)
			return map[i].version;
	return 0;
}

/*
 * Machine types.
 */

static int
machine_ge(const struct machine *m, int major, int minor, int pve)
{
	if (m->major != major)
		return m->major > major;
	if (m->minor != minor)
		return m->minor > minor;
	return m->pve >= pve;
}

/*
 * Parse "pc-i440fx-X.Y[+pveN][.pxe]", "pc-q35-X.Y...", "pc-X.Y...".
 * Returns 0, 1 for an unversioned "pc"/"q35", -1 for anything else, and
 * sets *pxe for a ".pxe" suffix.
 */
static int
machine_parse(const char *s, struct machine *m, int *pxe)
{
	const char	*p;
	char		*end;
	size_t		 n;

	memset(m, 0, sizeof(*m));
	*pxe = 0;
	if (strcmp(s, "pc") == 0 || strcmp(s, "q35") == 0) {
		m->q35 = s[0] == 'q';
		return 1;
	}
	if (strncmp(s, "pc-i440fx-", 10) == 0)
		p = s + 10;
	else if (strncmp(s, "pc-q35-", 7) == 0) {
		p = s + 7;
		m->q35 = 1;
	} else if (strncmp(s, "pc-", 3) == 0 && isdigit((unsigned char)s[3]))
		p = s + 3;
	else
		return -1;
	if (!isdigit((unsigned char)*p))
		return -1;
	m->major = (int)strtol(p, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]))
		return -1;
	m->minor = (int)strtol(end + 1, &end, 10);
	while (*end == '.' && isdigit((unsigned char)end[1]))
		(void)strtol(end + 1, &end, 10);	/* pc-q35-4.0.1 */
	n = (size_t)(end - s);
	if (strncmp(end, "+pve", 4) == 0 && isdigit((unsigned char)end[4]))
		m->pve = (int)strtol(end + 4, &end, 10);
	if (strcmp(end, ".pxe") == 0) {
		*pxe = 1;
		end += 4;
	}
	if (*end != '\0' || n >= sizeof(m->type))
		return -1;
	memcpy(m->type, s, n);
	m->type[n] = '\0';
	return 0;
}

static void
machine_refuse(const char *name, const struct qemu_host *host, char *err,
    size_t errlen)
{
	set_err(err, errlen, "source VM runs machine type %s; this target's "
	    "QEMU %d.%d supports machine versions up to %d.%d. Set "
	    "'machine: pc-i440fx-%d.%d' (or 'pc-q35-%d.%d'), restart the VM "
	    "on the source, then migrate.", name, host->major, host->minor,
	    host->major, host->minor, host->major, host->minor, host->major,
	    host->minor);
}

static int
host_has_machine(const struct qemu_host *host, const char *type)
{
	size_t	 i;

	if (host->nmachines == 0)
		return 1;
	for (i = 0; i < host->nmachines; i++)
		if (strcmp(host->machines[i], type) == 0)
			return 1;
	return 0;
}

/* Check a versioned machine against what host can run. */
static int
machine_usable(const char *name, const struct machine *m, int pxe,
    const struct qemu_host *host, char *err, size_t errlen)
{
	if (pxe || m->major > host->major || (m->major == host->major &&
	    m->minor > host->minor) || !host_has_machine(host, m->type)) {
		machine_refuse(name, host, err, errlen);
		return -1;
	}
	if (m->q35 && !machine_ge(m, 4, 0, 0)) {
		set_err(err, errlen, "machine type %s: q35 machine versions "
		    "before 4.0 are not supported; pin the VM to pc-q35-4.0 or "
		    "newer on the source", name);
		return -1;
	}
	return 0;
}

int
qemu_machine_check(const char *value, const struct qemu_host *host,
    char *err, size_t errlen)
{
	struct machine	 m;
	char		 type[64];
	const char	*comma;
	int		 pxe, rc;
	size_t		 n;

	/* The value is a property string: "[type=]<type>[,...]". */
	if (strncmp(value, "type=", 5) == 0)
		value += 5;
	comma = strchr(value, ',');
	n = comma == NULL ? strlen(value) : (size_t)(comma - value);
	if (n >= sizeof(type)) {
		set_err(err, errlen, "machine type is too long");
		return -1;
	}
	memcpy(type, value, n);
	type[n] = '\0';
	rc = machine_parse(type, &m, &pxe);
	if (rc == 1)
		return 0;
	if (rc == -1) {
		machine_refuse(type, host, err, errlen);
		return -1;
	}
	return machine_usable(type, &m, pxe, host, err, errlen);
}

/* The newest "pc-i440fx-X.Y" or "pc-q35-X.Y" of host. */
static void
machine_newest(struct machine *m, const struct qemu_host *host)
{
	struct machine	 c;
	size_t		 i;
	int		 pxe, q35 = m->q35, found = 0;

	for (i = 0; i < host->nmachines; i++) {
		if (machine_parse(host->machines[i], &c, &pxe) != 0 || pxe ||
		    c.q35 != q35 || strncmp(c.type, "pc-", 3) != 0 ||
		    (strncmp(c.type, "pc-i440fx-", 10) != 0 && !q35))
			continue;
		if (!found || machine_ge(&c, m->major, m->minor, 0)) {
			*m = c;
			found = 1;
		}
	}
	if (found)
		return;
	m->major = host->major;
	m->minor = host->minor;
	snprintf(m->type, sizeof(m->type), "%s-%d.%d",
	    q35 ? "pc-q35" : "pc-i440fx", m->major, m->minor);
}

int
qemu_machine_resolve(const struct vmconfig *cfg,
    const struct qemu_host *host, const char *forcemachine, char *out,
    size_t outlen, char *err, size_t errlen)
{
	struct propstr	 ps;
	struct machine	 cm, fm;
	const char	*type = NULL;
	int		 rc, pxe, cq35;

	if ((rc = cfg_propstr(cfg, "machine", &ps, err, errlen)) == -1)
		return -1;
	if (rc == 1)
		type = propstr_get(&ps, "type");
	if (type == NULL)
		type = "pc";
	if ((rc = machine_parse(type, &cm, &pxe)) == -1) {
		machine_refuse(type, host, err, errlen);
		return -1;
	}
	cq35 = cm.q35;
	if (forcemachine != NULL) {
		if (machine_parse(forcemachine, &fm, &pxe) != 0) {
			machine_refuse(forcemachine, host, err, errlen);
			return -1;
		}
		if (fm.q35 != cq35) {
			set_err(err, errlen, "forcemachine %s is %s but the "
			    "config's machine '%s' is %s; the config and the "
			    "running machine must be the same base type",
			    forcemachine, fm.q35 ? "q35" : "i440fx", type,
			    cq35 ? "q35" : "i440fx");
			return -1;
		}
		if (machine_usable(forcemachine, &fm, pxe, host, err,
		    errlen) == -1)
			return -1;
		cm = fm;
	} else if (rc == 0) {
		if (machine_usable(type, &cm, pxe, host, err, errlen) == -1)
			return -1;
	} else
		machine_newest(&cm, host);
	if (strlcpy(out, cm.type, outlen) >= outlen) {
		set_err(err, errlen, "machine type %s is too long", cm.type);
		return -1;
	}
	return 0;
}

static int
resolve_machine(struct gen *g)
{
	char	 type[48];
	int	 pxe;

	if (qemu_machine_resolve(g->cfg, g->host, g->opts->forcemachine,
	    type, sizeof(type), g->err, g->errlen) == -1)
		return -1;
	if (machine_parse(g->opts->forcemachine != NULL ?
	    g->opts->forcemachine : type, &g->m, &pxe) != 0)
		(void)machine_parse(type, &g->m, &pxe);
	return 0;
}

/*
 * Host description from QEMU's own output.
 */

int
qemu_host_parse_version(struct qemu_host *host, const char *buf, size_t len)
{
	const char	*key = "QEMU emulator version ";
	char		 line[256];
	size_t		 n = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
	char		*p;

	memcpy(line, buf, n);
	line[n] = '\0';
	if ((p = strstr(line, key)) == NULL ||
	    sscanf(p + strlen(key), "%d.%d", &host->major, &host->minor) != 2)
		return -1;
	return 0;
}

int
qemu_host_parse_machines(struct qemu_host *host, const char *buf,
    size_t len)
{
	const char	*p = buf, *end = buf + len, *nl;
	size_t		 n;

	host->nmachines = 0;
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		/* "pc-q35-7.2            Standard PC (Q35 + ICH9, 2009)" */
		n = strcspn(p, " \t\n");
		if (p + n > nl)
			n = (size_t)(nl - p);
		if (n == 0 || n >= sizeof(host->machines[0]) ||
		    strncmp(p, "Supported machines", 18) == 0)
			continue;
		if (host->nmachines == QEMU_MACHINES_MAX)
			return -1;
		memcpy(host->machines[host->nmachines], p, n);
		host->machines[host->nmachines++][n] = '\0';
	}
	return host->nmachines > 0 ? 0 : -1;
}

unsigned
qemu_start_timeout(const struct vmconfig *cfg)
{
	unsigned long	 gib = cfg_memory(cfg) / 1024;
	unsigned	 timeout = 30, i;
	char		 key[8];

	if (gib > 30)
		timeout = (unsigned)gib;
	for (i = 0; i < 32; i++) {
		snprintf(key, sizeof(key), "net%u", i);
		if (vmconfig_get(cfg, key) != NULL)
			timeout += 5;
	}
	return timeout;
}


/*
 * The supported subset, checked key by key.
 */

static const char *const scsihw_supported[] = {
	"lsi", "virtio-scsi-pci", "virtio-scsi-single", NULL
};
static const char *const vga_supported[] = {
	"std", "cirrus", "vmware", "virtio", "none", "serial0", "serial1",
	"serial2", "serial3", NULL
};
static const char *const nic_supported[] = {
	"virtio", "e1000", "rtl8139", NULL
};
/* Drive options that change nothing or that the generator emits. */
static const char *const drive_supported[] = {
	"file", "size", "media", "cache", "discard", "iothread", "ssd",
	"serial", "format", "backup", "replicate", "shared", "aio",
	"detect_zeroes", "ro", "snapshot", "rerror", "werror", "efitype",
	"pre-enrolled-keys", "ms-cert", "wwn", "vendor", "product", "model",
	NULL
};
/* Property string keys outside the subset, with the key they belong to. */
static const struct {
	const char	*key;
	const char	*option;
} options_unsupported[] = {
	{ "cpu", "level" },
	{ "cpu", "guest-phys-bits" }, { "cpu", "reported-model" },
	{ "machine", "viommu" }, { "machine", "aw-bits" },
	{ "vga", "clipboard" },
};

static int
in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static int
check_options(const char *key, char *err, size_t errlen,
    const struct vmconfig *cfg)
{
	struct propstr	 ps;
	size_t		 i;
	int		 rc;

	if (vmconfig_key_schema(key) == NULL)
		return 0;
	if ((rc = cfg_propstr(cfg, key, &ps, err, errlen)) <= 0)
		return rc;
	for (i = 0; i < NELEM(options_unsupported); i++) {
		if (strcmp(key, options_unsupported[i].key) != 0 ||
		    propstr_get(&ps, options_unsupported[i].option) == NULL)
			continue;
		set_err(err, errlen, "unsupported option '%s' in '%s'",
		    options_unsupported[i].option, key);
		return -1;
	}
	return 0;
}

/* A cloud-init volume: "cloudinit" after ':', '/' or '-', then a format. */
static int
is_cloudinit(const char *volid)
{
	const char	*p;

	for (p = volid; p != NULL && (p = strstr(p, "cloudinit")) != NULL;
	    p++) {
		if (p > volid && strchr(":/-", p[-1]) != NULL &&
		    (p[9] == '\0' || p[9] == '.'))
			return 1;
	}
	return 0;
}

static int
check_drive(const char *key, const char *value, char *err, size_t errlen)
{
	struct drive	 d;
	char		 perr[VMCONFIG_ERR_MAX], opt[64];
	const char	*p, *q;
	size_t		 n;

	if (strncmp(key, "unused", 6) == 0)
		return 0;
	if (parse_drive(key, value, 0, &d, perr, sizeof(perr)) == -1) {
		set_err(err, errlen, "invalid value for '%s': %s", key, perr);
		return -1;
	}
	if (d.file_kind == DRIVE_FILE_CDROM) {
		set_err(err, errlen, "unsupported value 'cdrom' for '%s': a "
		    "host CD-ROM drive cannot be migrated", key);
		return -1;
	}
	if (is_cloudinit(drive_volid(&d))) {
		set_err(err, errlen, "unsupported value for '%s': cloud-init "
		    "drives are not supported", key);
		return -1;
	}
	/* The option names, from the canonical text "file,k=v,...". */
	for (p = strchr(value, ','); p != NULL; p = strchr(p, ',')) {
		p++;
		q = strchr(p, '=');
		n = q == NULL ? strcspn(p, ",") : (size_t)(q - p);
		if (n == 0 || n >= sizeof(opt))
			continue;
		memcpy(opt, p, n);
		opt[n] = '\0';
		if (!in_list(opt, drive_supported) &&
		    drive_get(&d, opt) != NULL) {
			set_err(err, errlen, "unsupported option '%s' in "
			    "'%s'", opt, key);
			return -1;
		}
	}
	return 0;
}

static int
check_net(const char *key, const char *value, char *err, size_t errlen)
{
	struct net	 n;
	char		 perr[VMCONFIG_ERR_MAX];
	const char	*model;

	if (parse_net(key, value, &n, perr, sizeof(perr)) == -1) {
		set_err(err, errlen, "invalid value for '%s': %s", key, perr);
		return -1;
	}
	model = net_get(&n, "model");
	if (model == NULL || !in_list(model, nic_supported)) {
		set_err(err, errlen, "unsupported NIC model '%s' in '%s'",
		    model == NULL ? "" : model, key);
		return -1;
	}
	if (n.queues > 1) {
		set_err(err, errlen, "unsupported option 'queues' in '%s': "
		    "multiqueue NICs are not supported", key);
		return -1;
	}
	if (net_get(&n, "rate") != NULL || net_get(&n, "trunks") != NULL) {
		set_err(err, errlen, "unsupported option '%s' in '%s'",
		    net_get(&n, "rate") != NULL ? "rate" : "trunks", key);
		return -1;
	}
	return 0;
}

static int
check_enum_value(const char *key, const char *value, char *err,
    size_t errlen, const struct vmconfig *cfg)
{
	struct propstr	 ps;
	const char	*v = value;

	if (strcmp(key, "vga") == 0) {
		if (cfg_propstr(cfg, key, &ps, err, errlen) == -1)
			return -1;
		if ((v = propstr_get(&ps, "type")) == NULL)
			return 0;
		if (in_list(v, vga_supported))
			return 0;
	} else if (strcmp(key, "scsihw") != 0 ||
	    in_list(v, scsihw_supported))
		return 0;
	set_err(err, errlen, "unsupported value '%s' for '%s'", v, key);
	return -1;
}

static int
check_entry(const struct vmconfig *cfg, const char *key, const char *value,
    char *err, size_t errlen)
{
	if (!vmconfig_key_supported(key)) {
		set_err(err, errlen, "unsupported config key '%s'", key);
		return -1;
	}
	if (is_drive_key(key) || strcmp(key, "efidisk0") == 0 ||
	    strncmp(key, "unused", 6) == 0)
		return check_drive(key, value, err, errlen);
	if (strncmp(key, "net", 3) == 0 && isdigit((unsigned char)key[3]))
		return check_net(key, value, err, errlen);
	if (check_enum_value(key, value, err, errlen, cfg) == -1)
		return -1;
	return check_options(key, err, errlen, cfg);
}

int
qemu_config_check(const struct vmconfig *cfg, char *err, size_t errlen)
{
	const struct vmconfig_section	*s = &cfg->main;
	size_t				 i;

	for (i = 0; i < s->nentries; i++)
		if (check_entry(cfg, s->entries[i].key, s->entries[i].value,
		    err, errlen) == -1)
			return -1;
	return 0;
}

/*
 * -cpu: the model, then every flag sorted by name without its sign, as
 * qemu-server's resolve_cpu_flags does ("qemu64,+aes,enforce,+pni").
 * Later sources override earlier ones: PVE's fixed flags, Hyper-V, the
 * builtin model's flags, the config's flags, then enforce, kvm=off and
 * vendor.
 */

/* CPU models of QEMU 7.2 that a config may name. */
static const char *const cpu_models_72[] = {
	"486", "pentium", "pentium2", "pentium3", "coreduo", "core2duo",
	"Conroe", "Penryn", "Nehalem", "Nehalem-IBRS", "Westmere",
	"Westmere-IBRS", "SandyBridge", "SandyBridge-IBRS", "IvyBridge",
	"IvyBridge-IBRS", "Haswell", "Haswell-IBRS", "Haswell-noTSX",
	"Haswell-noTSX-IBRS", "Broadwell", "Broadwell-IBRS",
	"Broadwell-noTSX", "Broadwell-noTSX-IBRS", "Skylake-Client",
	"Skylake-Client-IBRS", "Skylake-Client-noTSX-IBRS",
	"Skylake-Client-v4", "Skylake-Server", "Skylake-Server-IBRS",
	"Skylake-Server-noTSX-IBRS", "Skylake-Server-v4", "Skylake-Server-v5",
	"Cascadelake-Server", "Cascadelake-Server-v2",
	"Cascadelake-Server-noTSX", "Cascadelake-Server-v4",
	"Cascadelake-Server-v5", "Cooperlake", "Cooperlake-v2", "KnightsMill",
	"Icelake-Server", "Icelake-Server-noTSX", "Icelake-Server-v3",
	"Icelake-Server-v4", "Icelake-Server-v5", "Icelake-Server-v6",
	"athlon", "phenom", "Opteron_G1", "Opteron_G2", "Opteron_G3",
	"Opteron_G4", "Opteron_G5", "EPYC", "EPYC-IBPB", "EPYC-v3",
	"EPYC-Rome", "EPYC-Rome-v2", "EPYC-Milan",
	"kvm32", "kvm64", "qemu32", "qemu64", "max", "host",
	NULL
};

/* Builtin models report qemu64 with these flags (CPUConfig.pm). */
static const struct {
	const char	*name;
	const char	*flags;
} cpu_builtin[] = {
	{ "x86-64-v2", "+popcnt;+pni;+sse4.1;+sse4.2;+ssse3" },
	{ "x86-64-v2-AES", "+aes;+popcnt;+pni;+sse4.1;+sse4.2;+ssse3" },
	{ "x86-64-v3", "+aes;+popcnt;+pni;+sse4.1;+sse4.2;+ssse3;+avx;+avx2;"
	    "+bmi1;+bmi2;+f16c;+fma;+abm;+movbe;+xsave" },
	{ "x86-64-v4", "+aes;+popcnt;+pni;+sse4.1;+sse4.2;+ssse3;+avx;+avx2;"
	    "+bmi1;+bmi2;+f16c;+fma;+abm;+movbe;+xsave;+avx512f;+avx512bw;"
	    "+avx512cd;+avx512dq;+avx512vl" },
};

struct cpuflags {
	struct cpuflag	 flag[CPUFLAGS_MAX];
	size_t		 n;
};

/* Set flag name to text ("+aes", "enforce", "kvm=off"), replacing it. */
static void
cpuflag_set(struct cpuflags *f, const char *name, const char *text)
{
	size_t	 i;

	for (i = 0; i < f->n && strcmp(f->flag[i].name, name) != 0; i++)
		;
	if (i == f->n) {
		if (f->n == CPUFLAGS_MAX)
			return;
		f->n++;
	}
	strlcpy(f->flag[i].name, name, sizeof(f->flag[i].name));
	strlcpy(f->flag[i].text, text, sizeof(f->flag[i].text));
}

/* Add a ';'-separated list of "+flag" and "-flag". */
static void
cpuflag_list(struct cpuflags *f, const char *list)
{
	char	 buf[VMCONFIG_VALUE_MAX + 1], *p, *tok, *save = NULL;

	strlcpy(buf, list, sizeof(buf));
	for (p = buf; (tok = strtok_r(p, ";", &save)) != NULL; p = NULL)
		if (tok[0] == '+' || tok[0] == '-')
			cpuflag_set(f, tok + 1, tok);
}

static int
cpuflag_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cpuflag *)a)->name,
	    ((const struct cpuflag *)b)->name);
}

/* The vendor= value of a named model, or NULL for a generic model. */
static const char *
cpu_vendor(const char *model)
{
	static const char *const generic[] = {
		"kvm32", "kvm64", "qemu32", "qemu64", "max", "host", NULL
	};

	if (in_list(model, generic))
		return NULL;
	if (strcmp(model, "athlon") == 0 || strcmp(model, "phenom") == 0 ||
	    strncmp(model, "Opteron", 7) == 0 || strncmp(model, "EPYC", 4) == 0)
		return "AuthenticAMD";
	return "GenuineIntel";
}

static void
cpu_hyperv(struct gen *g, struct cpuflags *f, const char *vendor_id)
{
	char	 text[80];

	if (!g->kvm || g->winver < 6 || (g->ovmf && g->winver < 8))
		return;
	if (vendor_id != NULL) {
		snprintf(text, sizeof(text), "hv_vendor_id=%s", vendor_id);
		cpuflag_set(f, "hv_vendor_id", text);
	}
	cpuflag_set(f, "hv_spinlocks", machine_ge(&g->m, 2, 3, 0) ?
	    "hv_spinlocks=0x1fff" : "hv_spinlocks=0xffff");
	if (machine_ge(&g->m, 2, 3, 0)) {
		cpuflag_set(f, "hv_vapic", "hv_vapic");
		cpuflag_set(f, "hv_time", "hv_time");
	}
	if (machine_ge(&g->m, 2, 6, 0)) {
		cpuflag_set(f, "hv_reset", "hv_reset");
		cpuflag_set(f, "hv_vpindex", "hv_vpindex");
		cpuflag_set(f, "hv_runtime", "hv_runtime");
	}
	if (g->winver < 7)
		return;
	cpuflag_set(f, "hv_relaxed", "hv_relaxed");
	if (machine_ge(&g->m, 2, 12, 0)) {
		cpuflag_set(f, "hv_synic", "hv_synic");
		cpuflag_set(f, "hv_stimer", "hv_stimer");
	}
	if (machine_ge(&g->m, 3, 1, 0))
		cpuflag_set(f, "hv_ipi", "hv_ipi");
}

/* PVE's fixed flags for the model (get_pve_cpu_flags). */
static void
cpu_pve_flags(struct gen *g, struct cpuflags *f, const char *model)
{
	const char	*ostype = cfg_get(g, "ostype");

	if (strcmp(model, "kvm64") == 0)
		cpuflag_set(f, "lahf_lm", "+lahf_lm");
	if (ostype != NULL && strcmp(ostype, "solaris") == 0)
		cpuflag_set(f, "x2apic", "-x2apic");
	if (strcmp(model, "kvm64") == 0 || strcmp(model, "kvm32") == 0)
		cpuflag_set(f, "sep", "+sep");
	if (strncmp(model, "Opteron", 7) == 0)
		cpuflag_set(f, "rdtscp", "-rdtscp");
	if (machine_ge(&g->m, 2, 3, 0) && g->kvm) {
		cpuflag_set(f, "kvm_pv_unhalt", "+kvm_pv_unhalt");
		cpuflag_set(f, "kvm_pv_eoi", "+kvm_pv_eoi");
	}
}

/* Resolve the config's model: builtin, deprecated alias, 7.2 check. */
static int
cpu_model(struct gen *g, const char *cputype, const char **model,
    const char **builtin)
{
	size_t	 i;

	*builtin = NULL;
	*model = cputype;
	for (i = 0; i < NELEM(cpu_builtin); i++) {
		if (strcmp(cputype, cpu_builtin[i].name) == 0) {
			*model = "qemu64";
			*builtin = cpu_builtin[i].flags;
		}
	}
	if (strcmp(cputype, "Icelake-Client") == 0)
		*model = "Icelake-Server";
	else if (strcmp(cputype, "Icelake-Client-noTSX") == 0)
		*model = "Icelake-Server-noTSX";
	if (strncmp(cputype, "custom-", 7) == 0) {
		set_err(g->err, g->errlen, "CPU model '%s' is a custom model; "
		    "start it with the source's forcecpu", cputype);
		return -1;
	}
	if (!in_list(*model, cpu_models_72)) {
		set_err(g->err, g->errlen, "CPU model '%s' is unknown to this "
		    "target's QEMU %d.%d; choose a model it has (for example "
		    "x86-64-v2-AES) on the source and restart the VM there",
		    cputype, g->host->major, g->host->minor);
		return -1;
	}
	return 0;
}

static void
cpu_print(struct gen *g, const char *model, struct cpuflags *f,
    const char *physbits)
{
	char	 buf[2048];
	size_t	 i;

	qsort(f->flag, f->n, sizeof(f->flag[0]), cpuflag_cmp);
	strlcpy(buf, model, sizeof(buf));
	for (i = 0; i < f->n; i++) {
		strlcat(buf, ",", sizeof(buf));
		strlcat(buf, f->flag[i].text, sizeof(buf));
	}
	if (physbits != NULL && strcmp(physbits, "host") == 0)
		strlcat(buf, ",host-phys-bits=true", sizeof(buf));
	else if (physbits != NULL) {
		strlcat(buf, ",phys-bits=", sizeof(buf));
		strlcat(buf, physbits, sizeof(buf));
	}
	opt2(g, "-cpu", "%s", buf);
}

static int
emit_cpu(struct gen *g)
{
	struct propstr	 ps;
	struct cpuflags	 f = { .n = 0 };
	const char	*cputype, *model, *builtin, *flags, *v;
	int		 rc;

	if (g->opts->forcecpu != NULL) {
		/* NOTE: used verbatim, flags unknown to 7.2 are not dropped. */
		opt2(g, "-cpu", "%s", g->opts->forcecpu);
		return 0;
	}
	if ((rc = cfg_propstr(g->cfg, "cpu", &ps, g->err, g->errlen)) == -1)
		return -1;
	cputype = rc == 1 ? propstr_get(&ps, "cputype") : NULL;
	if (cputype == NULL)
		cputype = g->kvm ? "kvm64" : "qemu64";
	if (cpu_model(g, cputype, &model, &builtin) == -1)
		return -1;
	flags = rc == 1 ? propstr_get(&ps, "flags") : NULL;
	if (flags != NULL && strstr(flags, "nested-virt") != NULL) {
		set_err(g->err, g->errlen, "CPU flag 'nested-virt' needs the "
		    "source's forcecpu");
		return -1;
	}
	if (strcmp(model, "host") == 0 && !g->kvm) {
		set_err(g->err, g->errlen, "CPU model 'host' needs KVM, but "
		    "the config has 'kvm: 0'");
		return -1;
	}
	cpu_pve_flags(g, &f, model);
	cpu_hyperv(g, &f, rc == 1 ? propstr_get(&ps, "hv-vendor-id") : NULL);
	if (builtin != NULL)
		cpuflag_list(&f, builtin);
	if (flags != NULL)
		cpuflag_list(&f, flags);
	if (strcmp(model, "host") != 0 && g->kvm)
		cpuflag_set(&f, "enforce", "enforce");
	if (rc == 1 && (v = propstr_get(&ps, "hidden")) != NULL &&
	    strcmp(v, "1") == 0)
		cpuflag_set(&f, "kvm", "kvm=off");
	if ((v = cpu_vendor(model)) != NULL) {
		char	 text[32];

		snprintf(text, sizeof(text), "vendor=%s", v);
		cpuflag_set(&f, "vendor", text);
	}
	cpu_print(g, model, &f, rc == 1 ? propstr_get(&ps, "phys-bits") :
	    NULL);
	return 0;
}

/*
 * Drives.  Walked in qemu-server's order: ide0-3, sata0-5, scsi0-30,
 * virtio0-15, each bus by index (not by sorted key: scsi2 before scsi10).
 */

static const struct {
	const char	*prefix;
	unsigned	 count;
} drive_buses[] = {
	{ "ide", 4 }, { "sata", 6 }, { "scsi", 31 }, { "virtio", 16 },
};

/* Parse the drive key of the config.  1 found, 0 absent, -1 invalid. */
static int
drive_load(struct gen *g, const char *key, struct drive *d)
{
	const char	*v = cfg_get(g, key);
	char		 perr[VMCONFIG_ERR_MAX];

	if (v == NULL)
		return 0;
	if (parse_drive(key, v, g->opts->vmid, d, perr, sizeof(perr)) == -1) {
		set_err(g->err, g->errlen, "invalid value for '%s': %s", key,
		    perr);
		return -1;
	}
	return 1;
}

/* Call fn for each drive in bus order; stop at a non-zero return. */
static int
drive_walk(struct gen *g, int (*fn)(struct gen *, struct drive *, void *),
    void *arg)
{
	struct drive	 d;
	char		 key[12];
	size_t		 b;
	unsigned	 i;
	int		 rc;

	for (b = 0; b < NELEM(drive_buses); b++) {
		for (i = 0; i < drive_buses[b].count; i++) {
			snprintf(key, sizeof(key), "%s%u",
			    drive_buses[b].prefix, i);
			if ((rc = drive_load(g, key, &d)) == -1)
				return -1;
			if (rc == 1 && (rc = fn(g, &d, arg)) != 0)
				return rc;
		}
	}
	return 0;
}

/* The boot order: the bootindex of each drive and NIC. */

static void
boot_add(struct gen *g, const char *key, int index)
{
	if (g->nboot == BOOTDEV_MAX)
		return;
	strlcpy(g->boot[g->nboot].key, key, sizeof(g->boot[0].key));
	g->boot[g->nboot++].index = index;
}

static int
bootindex(const struct gen *g, const char *key)
{
	size_t	 i;

	for (i = 0; i < g->nboot; i++)
		if (strcmp(g->boot[i].key, key) == 0)
			return g->boot[i].index;
	return -1;
}

struct boot_legacy {
	int	 base;
	int	 next;
};

static int
boot_cdrom(struct gen *g, struct drive *d, void *arg)
{
	struct boot_legacy	*bl = arg;

	if (d->cdrom)
		boot_add(g, d->key, bl->base + bl->next++);
	return 0;
}

/*
 * Legacy "boot: cdn" (also the default): each letter's devices get
 * (position × 100) plus a counter.  'c' boots the bootdisk key, which
 * this target does not support, so it numbers nothing.
 */
static int
boot_setup_legacy(struct gen *g, const char *letters)
{
	struct boot_legacy	 bl;
	char			 key[8];
	size_t			 i;
	unsigned		 n;

	for (i = 0; letters[i] != '\0'; i++) {
		bl.base = (int)(i + 1) * 100;
		bl.next = 0;
		if (letters[i] == 'd' &&
		    drive_walk(g, boot_cdrom, &bl) == -1)
			return -1;
		if (letters[i] != 'n')
			continue;
		for (n = 0; n < 32; n++) {
			snprintf(key, sizeof(key), "net%u", n);
			if (cfg_get(g, key) != NULL)
				boot_add(g, key, bl.base + bl.next++);
		}
	}
	return 0;
}

static int
boot_setup(struct gen *g)
{
	struct propstr	 ps;
	const char	*order = NULL, *legacy = NULL;
	char		 buf[VMCONFIG_VALUE_MAX + 1], *p, *tok, *save = NULL;
	int		 rc, i = 0;

	if ((rc = cfg_propstr(g->cfg, "boot", &ps, g->err, g->errlen)) == -1)
		return -1;
	if (rc == 1) {
		order = propstr_get(&ps, "order");
		legacy = propstr_get(&ps, "legacy");
	}
	if (order == NULL)
		return boot_setup_legacy(g, legacy != NULL ? legacy : "cdn");
	strlcpy(buf, order, sizeof(buf));
	for (p = buf; (tok = strtok_r(p, ";", &save)) != NULL; p = NULL)
		boot_add(g, tok, 100 + i++);
	return 0;
}

/* Percent-decode an urlencoded value and double its commas. */
static void
qemu_text(const char *s, char *out, size_t outlen)
{
	size_t	 o = 0;
	char	 hex[3] = "";
	int	 c;

	for (; *s != '\0' && o + 2 < outlen; s++) {
		c = (unsigned char)*s;
		if (c == '%' && isxdigit((unsigned char)s[1]) &&
		    isxdigit((unsigned char)s[2])) {
			memcpy(hex, s + 1, 2);
			c = (int)strtol(hex, NULL, 16);
			s += 2;
		}
		if (c == '\0')
			continue;
		out[o++] = (char)c;
		if (c == ',')
			out[o++] = ',';
	}
	out[o] = '\0';
}

/* The local file and format of a drive; path "" for an empty drive. */
static int
drive_file(struct gen *g, const struct drive *d, char *path, size_t pathlen,
    char *fmt, size_t fmtlen)
{
	const char	*file = drive_get(d, "file"), *f;
	char		 verr[QEMUARGS_ERR_MAX];

	path[0] = fmt[0] = '\0';
	switch (d->file_kind) {
	case DRIVE_FILE_NONE:
		return 0;
	case DRIVE_FILE_PATH:
		strlcpy(path, file, pathlen);
		f = drive_get(d, "format");
		strlcpy(fmt, f != NULL ? f : "raw", fmtlen);
		return 0;
	case DRIVE_FILE_VOLUME:
		if (g->opts->volume_path == NULL) {
			set_err(g->err, g->errlen, "%s: no storage to map "
			    "volume %s", d->key, file);
			return -1;
		}
		if (g->opts->volume_path(g->opts->arg, file, path, pathlen,
		    fmt, fmtlen, verr, sizeof(verr)) == -1) {
			set_err(g->err, g->errlen, "%s: %s", d->key, verr);
			return -1;
		}
		if ((f = drive_get(d, "format")) != NULL)
			strlcpy(fmt, f, fmtlen);
		return 0;
	default:
		set_err(g->err, g->errlen, "unsupported value 'cdrom' for "
		    "'%s': a host CD-ROM drive cannot be migrated", d->key);
		return -1;
	}
}

static void
cat_opt(char *buf, size_t len, const char *name, const char *value)
{
	if (value == NULL)
		return;
	strlcat(buf, ",", len);
	strlcat(buf, name, len);
	strlcat(buf, "=", len);
	strlcat(buf, value, len);
}

static const char *
on_off(const char *bool01)
{
	if (bool01 == NULL)
		return NULL;
	return strcmp(bool01, "0") == 0 ? "off" : "on";
}

/* -drive for a bus drive: host-side options in qemu-server's order. */
static int
emit_drive_backend(struct gen *g, const struct drive *d)
{
	char		 path[4096], fmt[16], buf[8192];
	const char	*discard = drive_get(d, "discard");
	const char	*dz = drive_get(d, "detect_zeroes");

	if (drive_file(g, d, path, sizeof(path), fmt, sizeof(fmt)) == -1)
		return -1;
	buf[0] = '\0';
	if (path[0] != '\0')
		snprintf(buf, sizeof(buf), "file=%s,", path);
	strlcat(buf, "if=none,id=drive-", sizeof(buf));
	strlcat(buf, d->key, sizeof(buf));
	cat_opt(buf, sizeof(buf), "media", drive_get(d, "media"));
	cat_opt(buf, sizeof(buf), "cache", drive_get(d, "cache"));
	cat_opt(buf, sizeof(buf), "rerror", drive_get(d, "rerror"));
	cat_opt(buf, sizeof(buf), "werror", drive_get(d, "werror"));
	cat_opt(buf, sizeof(buf), "discard", discard);
	cat_opt(buf, sizeof(buf), "snapshot", on_off(drive_get(d,
	    "snapshot")));
	cat_opt(buf, sizeof(buf), "readonly", on_off(drive_get(d, "ro")));
	if (path[0] != '\0')
		cat_opt(buf, sizeof(buf), "format", fmt);
	if (drive_get(d, "cache") == NULL && !d->cdrom)
		cat_opt(buf, sizeof(buf), "cache", "none");
	cat_opt(buf, sizeof(buf), "aio", drive_get(d, "aio") != NULL ?
	    drive_get(d, "aio") : "io_uring");
	if (!d->cdrom) {
		if (dz != NULL && strcmp(dz, "0") == 0)
			cat_opt(buf, sizeof(buf), "detect-zeroes", "off");
		else
			cat_opt(buf, sizeof(buf), "detect-zeroes",
			    discard != NULL && strcmp(discard, "on") == 0 ?
			    "unmap" : "on");
	}
	opt2(g, "-drive", "%s", buf);
	return 0;
}

/* A PCI address: ",bus=pci.N,addr=0xS". */
static void
pci_addr(char *buf, size_t len, int bus, unsigned slot)
{
	char	 a[32];

	snprintf(a, sizeof(a), ",bus=pci.%d,addr=0x%x", bus, slot);
	strlcat(buf, a, len);
}

/* Suffixes after the bus options: model, SSD, wwn, vendor, product. */
static void
drive_suffixes(const struct drive *d, char *buf, size_t len, int hd)
{
	const char	*v;
	char		 text[256];

	if (hd && (v = drive_get(d, "model")) != NULL) {
		qemu_text(v, text, sizeof(text));
		cat_opt(buf, len, "model", text);
	}
	if (hd && (v = drive_get(d, "ssd")) != NULL && strcmp(v, "1") == 0)
		cat_opt(buf, len, "rotation_rate", "1");
	cat_opt(buf, len, "wwn", drive_get(d, "wwn"));
	cat_opt(buf, len, "vendor", drive_get(d, "vendor"));
	cat_opt(buf, len, "product", drive_get(d, "product"));
}

static void
emit_drive_device(struct gen *g, const struct drive *d, char *buf,
    size_t len)
{
	const char	*serial = drive_get(d, "serial");
	char		 text[256], idx[16];
	int		 bi = bootindex(g, d->key);

	drive_suffixes(d, buf, len, !d->cdrom && d->bus != DRIVE_VIRTIO);
	if (bi >= 0) {
		snprintf(idx, sizeof(idx), "%d", bi);
		cat_opt(buf, len, "bootindex", idx);
	}
	if (serial != NULL) {
		qemu_text(serial, text, sizeof(text));
		cat_opt(buf, len, "serial", text);
	}
	opt2(g, "-device", "%s", buf);
}

static int
emit_scsi_controller(struct gen *g, const struct drive *d, char *ctl,
    size_t ctllen)
{
	char		 buf[256], io[32];
	unsigned	 n;

	if (strcmp(g->scsihw, "virtio-scsi-single") == 0) {
		snprintf(ctl, ctllen, "virtioscsi%u", d->index);
		snprintf(buf, sizeof(buf), "virtio-scsi-pci,id=%s", ctl);
		pci_addr(buf, sizeof(buf), 3, d->index + 1);
		if (drive_get(d, "iothread") != NULL &&
		    strcmp(drive_get(d, "iothread"), "1") == 0) {
			snprintf(io, sizeof(io), "iothread-virtioscsi%u",
			    d->index);
			cat_opt(buf, sizeof(buf), "iothread", io);
		}
		opt2(g, "-device", "%s", buf);
		return 0;
	}
	n = strcmp(g->scsihw, "lsi") == 0 ? d->index / 7 : 0;
	snprintf(ctl, ctllen, "scsihw%u", n);
	if (g->scsictl[n])
		return 0;
	g->scsictl[n] = 1;
	snprintf(buf, sizeof(buf), "%s,id=%s", g->scsihw, ctl);
	if (n < 2)
		pci_addr(buf, sizeof(buf), 0, 5 + n);
	else
		pci_addr(buf, sizeof(buf), 4, n - 1);
	opt2(g, "-device", "%s", buf);
	return 0;
}

static int
emit_scsi(struct gen *g, const struct drive *d)
{
	char	 ctl[16], buf[512];

	if (strcmp(g->scsihw, "lsi") == 0 && d->index > 13 &&
	    !machine_ge(&g->m, 4, 1, 2)) {
		set_err(g->err, g->errlen, "%s: SCSI indexes above 13 need "
		    "machine version 4.1+pve2 or newer", d->key);
		return -1;
	}
	emit_scsi_controller(g, d, ctl, sizeof(ctl));
	if (emit_drive_backend(g, d) == -1)
		return -1;
	if (strcmp(g->scsihw, "lsi") == 0)
		snprintf(buf, sizeof(buf), "%s,bus=%s.0,scsi-id=%u,"
		    "drive=drive-%s,id=%s", d->cdrom ? "scsi-cd" : "scsi-hd",
		    ctl, d->index % 7, d->key, d->key);
	else
		snprintf(buf, sizeof(buf), "%s,bus=%s.0,channel=0,scsi-id=0,"
		    "lun=%u,drive=drive-%s,id=%s", d->cdrom ? "scsi-cd" :
		    "scsi-hd", ctl, d->index, d->key, d->key);
	emit_drive_device(g, d, buf, sizeof(buf));
	return 0;
}

static int
emit_virtio_blk(struct gen *g, const struct drive *d)
{
	char		 buf[512], io[32];
	const char	*iothread = drive_get(d, "iothread");

	if (emit_drive_backend(g, d) == -1)
		return -1;
	snprintf(buf, sizeof(buf), "virtio-blk-pci,drive=drive-%s,id=%s",
	    d->key, d->key);
	if (d->index < 6)
		pci_addr(buf, sizeof(buf), 0, 0xa + d->index);
	else
		pci_addr(buf, sizeof(buf), 2, d->index - 5);
	if (iothread != NULL && strcmp(iothread, "1") == 0) {
		snprintf(io, sizeof(io), "iothread-%s", d->key);
		cat_opt(buf, sizeof(buf), "iothread", io);
	}
	emit_drive_device(g, d, buf, sizeof(buf));
	return 0;
}

static int
emit_ide_sata(struct gen *g, const struct drive *d)
{
	char		 buf[512];
	const char	*type = d->cdrom ? "ide-cd" : "ide-hd";
	unsigned	 c;

	if (d->bus == DRIVE_SATA && !g->ahci) {
		g->ahci = 1;
		opt2(g, "-device", "ahci,id=ahci0,multifunction=on,"
		    "bus=pci.0,addr=0x7");
	}
	if (emit_drive_backend(g, d) == -1)
		return -1;
	if (d->bus == DRIVE_SATA)
		snprintf(buf, sizeof(buf), "%s,bus=ahci0.%u,drive=drive-%s,"
		    "id=%s", type, d->index, d->key, d->key);
	else if (g->m.q35) {
		/* ICH9 AHCI ports: ide0 ide.0, ide1 ide.2, ide2 ide.1. */
		c = d->index / 2 + 2 * (d->index % 2);
		snprintf(buf, sizeof(buf), "%s,bus=ide.%u,unit=0,"
		    "drive=drive-%s,id=%s", type, c, d->key, d->key);
	} else
		snprintf(buf, sizeof(buf), "%s,bus=ide.%u,unit=%u,"
		    "drive=drive-%s,id=%s", type, d->index / 2, d->index % 2,
		    d->key, d->key);
	emit_drive_device(g, d, buf, sizeof(buf));
	return 0;
}

static int
emit_disk(struct gen *g, struct drive *d, void *arg)
{
	(void)arg;
	if (is_cloudinit(drive_volid(d))) {
		set_err(g->err, g->errlen, "unsupported value for '%s': "
		    "cloud-init drives are not supported", d->key);
		return -1;
	}
	switch (d->bus) {
	case DRIVE_SCSI:
		return emit_scsi(g, d);
	case DRIVE_VIRTIO:
		return emit_virtio_blk(g, d);
	default:
		return emit_ide_sata(g, d);
	}
}

/* Emit -object iothread for each disk with iothread=1, before devices. */
static int
emit_iothread(struct gen *g, struct drive *d, void *arg)
{
	const char	*io = drive_get(d, "iothread");

	(void)arg;
	if (io == NULL || strcmp(io, "1") != 0)
		return 0;
	if (d->bus == DRIVE_VIRTIO)
		opt2(g, "-object", "iothread,id=iothread-%s", d->key);
	else if (d->bus == DRIVE_SCSI &&
	    strcmp(g->scsihw, "virtio-scsi-single") == 0)
		opt2(g, "-object", "iothread,id=iothread-virtioscsi%u",
		    d->index);
	return 0;
}

static int
need_pci4(struct gen *g, struct drive *d, void *arg)
{
	(void)arg;
	return d->bus == DRIVE_SCSI && strcmp(g->scsihw, "lsi") == 0 &&
	    d->index >= 14;
}

/*
 * NICs: -netdev (host side, from the bridge's backend), then -device.
 */

static const char *
nic_device(const char *model)
{
	return strcmp(model, "virtio") == 0 ? "virtio-net-pci" : model;
}

/* host_mtu from the source's nets-host-mtu ("net0=1500,net1=0"). */
static int
host_mtu_listed(const char *list, const char *key, int *mtu)
{
	size_t		 n = strlen(key);
	const char	*p;

	for (p = list; p != NULL; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, key, n) == 0 && p[n] == '=') {
			*mtu = atoi(p + n + 1);
			return 1;
		}
	}
	return 0;
}

/*
 * The host_mtu property of a virtio NIC on a bridge, 0 for none.
 * Without nets-host-mtu from the source, an explicit mtu gives host_mtu,
 * as qemu-server 7.x to 8.4.1 and 9.0.0 to 9.0.2 do.
 */
static int
nic_host_mtu(struct gen *g, const char *key, const struct net *n, int *mtu)
{
	*mtu = 0;
	if (strcmp(net_get(n, "model"), "virtio") != 0 ||
	    net_get(n, "bridge") == NULL)
		return 0;
	if (g->opts->nets_host_mtu != NULL) {
		(void)host_mtu_listed(g->opts->nets_host_mtu, key, mtu);
		return 0;
	}
	/*
	 * NOTE: qemu-server 9.0.3 to 9.0.19 also set host_mtu from a bridge
	 * MTU other than 1500 and not for an explicit 1500.  Those sources
	 * send no nets-host-mtu, and this target cannot tell them apart.
	 */
	if (n->mtu == 1) {
		set_err(g->err, g->errlen, "%s: mtu=1 (the bridge MTU) needs "
		    "nets-host-mtu from the source; set an explicit mtu", key);
		return -1;
	}
	*mtu = n->mtu;
	return 0;
}

static enum qemu_netdev
nic_backend(struct gen *g, const char *bridge)
{
	if (bridge == NULL)
		return QEMU_NETDEV_USER;
	if (g->opts->bridge_backend == NULL)
		return QEMU_NETDEV_TAP;
	return g->opts->bridge_backend(g->opts->arg, bridge);
}

static void
emit_netdev(struct gen *g, const char *key, const struct net *n,
    enum qemu_netdev backend, const char *name)
{
	int	 vhost;

	switch (backend) {
	case QEMU_NETDEV_TAP:
		vhost = g->host->vhost_net &&
		    strcmp(net_get(n, "model"), "virtio") == 0;
		opt2(g, "-netdev", "type=tap,id=%s,ifname=tap%ui%u,script=no,"
		    "downscript=no%s", key, g->opts->vmid, n->index,
		    vhost ? ",vhost=on" : "");
		break;
	case QEMU_NETDEV_USER:
		opt2(g, "-netdev", "type=user,id=%s,hostname=%s", key, name);
		break;
	case QEMU_NETDEV_NONE:
		break;
	}
}

static int
emit_net(struct gen *g, unsigned index, const char *name)
{
	struct net		 n;
	enum qemu_netdev	 backend;
	char			 key[8], buf[512], num[16];
	char			 perr[VMCONFIG_ERR_MAX];
	const char		*v;
	int			 mtu, bi;

	snprintf(key, sizeof(key), "net%u", index);
	if ((v = cfg_get(g, key)) == NULL)
		return 0;
	if (parse_net(key, v, &n, perr, sizeof(perr)) == -1) {
		set_err(g->err, g->errlen, "invalid value for '%s': %s", key,
		    perr);
		return -1;
	}
	if (nic_host_mtu(g, key, &n, &mtu) == -1)
		return -1;
	backend = nic_backend(g, net_get(&n, "bridge"));
	emit_netdev(g, key, &n, backend, name);
	snprintf(buf, sizeof(buf), "%s,mac=%s", nic_device(net_get(&n,
	    "model")), net_get(&n, "macaddr"));
	if (backend != QEMU_NETDEV_NONE)
		cat_opt(buf, sizeof(buf), "netdev", key);
	if (index < 6)
		pci_addr(buf, sizeof(buf), 0, 0x12 + index);
	else
		pci_addr(buf, sizeof(buf), 1, index - 5);
	cat_opt(buf, sizeof(buf), "id", key);
	if (strcmp(net_get(&n, "model"), "virtio") == 0 &&
	    machine_ge(&g->m, 7, 1, 0))
		strlcat(buf, ",rx_queue_size=1024,tx_queue_size=256",
		    sizeof(buf));
	if ((bi = bootindex(g, key)) >= 0) {
		snprintf(num, sizeof(num), "%d", bi);
		cat_opt(buf, sizeof(buf), "bootindex", num);
	}
	if (mtu > 0) {
		snprintf(num, sizeof(num), "%d", mtu);
		cat_opt(buf, sizeof(buf), "host_mtu", num);
	}
	opt2(g, "-device", "%s", buf);
	return 0;
}

/*
 * -smbios type=1: keys sorted, base64 values decoded (uuid never is),
 * commas doubled, empty values dropped.
 */

static int
base64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	return c == '/' ? 63 : -1;
}

/* Decode base64 text into out with commas doubled; -1 on a NUL byte. */
static int
base64_text(const char *s, char *out, size_t outlen)
{
	unsigned	 acc = 0;
	int		 bits = 0, v;
	size_t		 o = 0;
	char		 c;

	for (; *s != '\0' && (v = base64_value((unsigned char)*s)) >= 0;
	    s++) {
		acc = (acc << 6) | (unsigned)v;
		if ((bits += 6) < 8)
			continue;
		bits -= 8;
		c = (char)((acc >> bits) & 0xff);
		if (c == '\0' || o + 3 > outlen)
			return -1;
		out[o++] = c;
		if (c == ',')
			out[o++] = ',';
	}
	out[o] = '\0';
	return 0;
}

static int
emit_smbios(struct gen *g)
{
	static const char *const keys[] = {
		"family", "manufacturer", "product", "serial", "sku", "uuid",
		"version",
	};
	struct propstr	 ps;
	char		 buf[2048], text[512];
	const char	*v;
	size_t		 i;
	int		 rc, b64;

	if ((rc = cfg_propstr(g->cfg, "smbios1", &ps, g->err, g->errlen)) <= 0)
		return rc;
	b64 = (v = propstr_get(&ps, "base64")) != NULL && strcmp(v, "1") == 0;
	strlcpy(buf, "type=1", sizeof(buf));
	for (i = 0; i < NELEM(keys); i++) {
		if ((v = propstr_get(&ps, keys[i])) == NULL)
			continue;
		if (b64 && strcmp(keys[i], "uuid") != 0) {
			if (base64_text(v, text, sizeof(text)) == -1) {
				set_err(g->err, g->errlen, "smbios1: %s is "
				    "not valid base64 text", keys[i]);
				return -1;
			}
			v = text;
		}
		if (*v != '\0')
			cat_opt(buf, sizeof(buf), keys[i], v);
	}
	opt2(g, "-smbios", "%s", buf);
	return 0;
}

/* OVMF: the code image read-only, then efidisk0 as the variable store. */
static int
emit_ovmf(struct gen *g)
{
	struct drive	 d;
	char		 path[4096], fmt[16], code[4200], size[32] = "";
	const char	*efitype;
	int		 rc, v4m;

	if ((rc = drive_load(g, "efidisk0", &d)) == -1)
		return -1;
	if (rc == 0) {
		set_err(g->err, g->errlen, "'bios: ovmf' needs an 'efidisk0' "
		    "drive: a VM without one keeps its EFI variables in a "
		    "temporary file that is not migrated");
		return -1;
	}
	efitype = drive_get(&d, "efitype");
	v4m = efitype != NULL && strcmp(efitype, "4m") == 0;
	snprintf(code, sizeof(code), "%s/%s", g->host->firmware_dir,
	    !v4m ? "OVMF_CODE.fd" : g->m.q35 ? "OVMF_CODE_4M.secboot.fd" :
	    "OVMF_CODE_4M.fd");
	if (g->opts->file_exists != NULL &&
	    !g->opts->file_exists(g->opts->arg, code)) {
		set_err(g->err, g->errlen, "OVMF firmware %s is missing; "
		    "install the ovmf package", code);
		return -1;
	}
	if (drive_file(g, &d, path, sizeof(path), fmt, sizeof(fmt)) == -1)
		return -1;
	if (strcmp(fmt, "raw") == 0 && machine_ge(&g->m, 4, 1, 2))
		snprintf(size, sizeof(size), ",size=%d",
		    v4m ? OVMF_VARS_4M : OVMF_VARS_2M);
	opt2(g, "-drive", "if=pflash,unit=0,format=raw,readonly=on,file=%s",
	    code);
	opt2(g, "-drive", "if=pflash,unit=1,id=drive-efidisk0,format=%s,"
	    "file=%s%s", fmt, path, size);
	return 0;
}

/*
 * The q35 chipset devices that qemu-server adds with "-readconfig
 * pve-q35-4.0.cfg" (machine 4.0 and newer): two EHCI controllers with
 * UHCI companions, HD audio, four PCIe root ports, the DMI-to-PCI bridge
 * pcidmi and the PCI bridges pci.0 to pci.3 behind it.
 * NOTE: the root ports' port and chassis numbers and the bridges' slots
 * on pcidmi are reconstructed, not read off a Proxmox VE host.  The test
 * compares "info pci" with the recorded layout only.
 */
static const char *const q35_chipset[] = {
	"ich9-usb-ehci1,id=ehci,multifunction=on,bus=pcie.0,addr=1d.7",
	"ich9-usb-uhci1,id=uhci-1,multifunction=on,bus=pcie.0,addr=1d.0,"
	    "masterbus=ehci.0,firstport=0",
	"ich9-usb-uhci2,id=uhci-2,multifunction=on,bus=pcie.0,addr=1d.1,"
	    "masterbus=ehci.0,firstport=2",
	"ich9-usb-uhci3,id=uhci-3,multifunction=on,bus=pcie.0,addr=1d.2,"
	    "masterbus=ehci.0,firstport=4",
	"ich9-usb-ehci2,id=ehci-2,multifunction=on,bus=pcie.0,addr=1a.7",
	"ich9-usb-uhci4,id=uhci-4,multifunction=on,bus=pcie.0,addr=1a.0,"
	    "masterbus=ehci-2.0,firstport=0",
	"ich9-usb-uhci5,id=uhci-5,multifunction=on,bus=pcie.0,addr=1a.1,"
	    "masterbus=ehci-2.0,firstport=2",
	"ich9-usb-uhci6,id=uhci-6,multifunction=on,bus=pcie.0,addr=1a.2,"
	    "masterbus=ehci-2.0,firstport=4",
	"ich9-intel-hda,id=audio0,bus=pcie.0,addr=1b.0",
	"pcie-root-port,id=ich9-pcie-port-1,x-speed=16,x-width=32,"
	    "multifunction=on,bus=pcie.0,addr=1c.0,port=1,chassis=1",
	"pcie-root-port,id=ich9-pcie-port-2,x-speed=16,x-width=32,"
	    "multifunction=on,bus=pcie.0,addr=1c.1,port=2,chassis=2",
	"pcie-root-port,id=ich9-pcie-port-3,x-speed=16,x-width=32,"
	    "multifunction=on,bus=pcie.0,addr=1c.2,port=3,chassis=3",
	"pcie-root-port,id=ich9-pcie-port-4,x-speed=16,x-width=32,"
	    "multifunction=on,bus=pcie.0,addr=1c.3,port=4,chassis=4",
	"i82801b11-bridge,id=pcidmi,bus=pcie.0,addr=1e.0",
	"pci-bridge,id=pci.0,chassis_nr=1,bus=pcidmi,addr=0x1",
	"pci-bridge,id=pci.1,chassis_nr=2,bus=pcidmi,addr=0x2",
	"pci-bridge,id=pci.2,chassis_nr=3,bus=pcidmi,addr=0x3",
	"pci-bridge,id=pci.3,chassis_nr=4,bus=pcidmi,addr=0x4",
};

static void
emit_bridges(struct gen *g)
{
	size_t	 i;
	int	 pci4 = drive_walk(g, need_pci4, NULL) == 1;

	if (g->m.q35) {
		for (i = 0; i < NELEM(q35_chipset); i++)
			opt2(g, "-device", "%s", q35_chipset[i]);
	} else {
		if (machine_ge(&g->m, 2, 3, 0)) {
			opt2(g, "-device", "pci-bridge,id=pci.1,chassis_nr=1,"
			    "bus=pci.0,addr=0x1e");
			opt2(g, "-device", "pci-bridge,id=pci.2,chassis_nr=2,"
			    "bus=pci.0,addr=0x1f");
		}
		if (strcmp(g->scsihw, "virtio-scsi-single") == 0)
			opt2(g, "-device", "pci-bridge,id=pci.3,chassis_nr=3,"
			    "bus=pci.0,addr=0x5");
	}
	if (pci4)
		opt2(g, "-device", "pci-bridge,id=pci.4,chassis_nr=4,"
		    "bus=pci.1,addr=0x1c");
}

static int
emit_vmgenid(struct gen *g)
{
	const char	*v = cfg_get(g, "vmgenid");

	if (v == NULL || strcmp(v, "0") == 0)
		return 0;
	if (strcmp(v, "1") == 0) {
		set_err(g->err, g->errlen, "vmgenid '1' must be replaced by "
		    "the UUID the VM runs with");
		return -1;
	}
	opt2(g, "-device", "vmgenid,guid=%s", v);
	return 0;
}

static int
vga_is_serial(const struct gen *g)
{
	return strncmp(g->vga, "serial", 6) == 0;
}

static void
emit_usb_tablet(struct gen *g)
{
	if (!g->m.q35)
		opt2(g, "-device", "piix3-usb-uhci,id=uhci,bus=pci.0,"
		    "addr=0x1.0x2");
	if (!cfg_bool(g->cfg, "tablet", !vga_is_serial(g)))
		return;
	opt2(g, "-device", "usb-tablet,id=tablet,bus=%s.0,port=1",
	    g->m.q35 ? "ehci" : "uhci");
}

static void
emit_serials(struct gen *g)
{
	char		 key[8];
	unsigned	 i;

	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "serial%u", i);
		if (cfg_get(g, key) == NULL)
			continue;
		opt2(g, "-chardev", "socket,id=%s,path=%s/%s,server=on,"
		    "wait=off", key, g->opts->vmdir, key);
		opt2(g, "-device", "isa-serial,chardev=%s", key);
	}
}

static int
emit_vga(struct gen *g)
{
	struct propstr	 ps;
	const char	*dev, *mem = NULL;
	char		 buf[256], num[32];

	if (vga_is_serial(g) || strcmp(g->vga, "none") == 0)
		return 0;
	if (cfg_propstr(g->cfg, "vga", &ps, g->err, g->errlen) == 1)
		mem = propstr_get(&ps, "memory");
	if (strcmp(g->vga, "cirrus") == 0)
		dev = "cirrus-vga";
	else if (strcmp(g->vga, "vmware") == 0)
		dev = "vmware-svga";
	else if (strcmp(g->vga, "virtio") == 0)
		dev = "virtio-vga";
	else
		dev = "VGA";
	snprintf(buf, sizeof(buf), "%s,id=vga", dev);
	if (mem != NULL && strcmp(g->vga, "virtio") == 0) {
		snprintf(num, sizeof(num), "%lu", strtoul(mem, NULL, 10) <<
		    20);
		cat_opt(buf, sizeof(buf), "max_hostmem", num);
	} else
		cat_opt(buf, sizeof(buf), "vgamem_mb", mem);
	strlcat(buf, g->m.q35 ? ",bus=pcie.0,addr=0x1" : ",bus=pci.0,addr=0x2",
	    sizeof(buf));
	if (strcmp(dev, "VGA") == 0 && g->winver > 0 && !g->ovmf)
		strlcat(buf, ",edid=off", sizeof(buf));
	opt2(g, "-device", "%s", buf);
	return 0;
}

static int
emit_agent(struct gen *g)
{
	struct propstr	 ps;
	const char	*type;
	int		 rc;

	if ((rc = cfg_propstr(g->cfg, "agent", &ps, g->err, g->errlen)) <= 0)
		return rc;
	if (strcmp(propstr_get(&ps, "enabled"), "1") != 0)
		return 0;
	type = propstr_get(&ps, "type");
	opt2(g, "-chardev", "socket,path=%s/qga,server=on,wait=off,id=qga0",
	    g->opts->vmdir);
	if (type != NULL && strcmp(type, "isa") == 0) {
		opt2(g, "-device", "isa-serial,chardev=qga0");
		return 0;
	}
	opt2(g, "-device", "virtio-serial,id=qga0,bus=pci.0,addr=0x8");
	opt2(g, "-device", "virtserialport,chardev=qga0,"
	    "name=org.qemu.guest_agent.0");
	return 0;
}

/* rng0 exists from machine 4.1+pve2 on; older machines ignore the key. */
static int
emit_rng(struct gen *g)
{
	struct propstr	 ps;
	const char	*v;
	unsigned long	 max_bytes = 1024, period = 1000;
	int		 rc;

	if ((rc = cfg_propstr(g->cfg, "rng0", &ps, g->err, g->errlen)) <= 0)
		return rc;
	if (!machine_ge(&g->m, 4, 1, 2))
		return 0;
	if ((v = propstr_get(&ps, "max_bytes")) != NULL)
		max_bytes = strtoul(v, NULL, 10);
	if ((v = propstr_get(&ps, "period")) != NULL)
		period = strtoul(v, NULL, 10);
	opt2(g, "-object", "rng-random,filename=%s,id=rng0",
	    propstr_get(&ps, "source"));
	if (max_bytes > 0)
		opt2(g, "-device", "virtio-rng-pci,rng=rng0,max-bytes=%lu,"
		    "period=%lu,bus=pci.1,addr=0x1d", max_bytes, period);
	else
		opt2(g, "-device", "virtio-rng-pci,rng=rng0,bus=pci.1,"
		    "addr=0x1d");
	return 0;
}

static void
emit_balloon(struct gen *g)
{
	opt2(g, "-device", "virtio-balloon-pci,id=balloon0,bus=pci.0,"
	    "addr=0x3%s", machine_ge(&g->m, 6, 2, 0) ?
	    ",free-page-reporting=on" : "");
}

static int
emit_devices(struct gen *g)
{
	unsigned	 i;
	const char	*name = cfg_get(g, "name");
	char		 vmname[32];

	if (name == NULL) {
		snprintf(vmname, sizeof(vmname), "vm%u", g->opts->vmid);
		name = vmname;
	}
	emit_bridges(g);
	if (emit_vmgenid(g) == -1)
		return -1;
	emit_usb_tablet(g);
	emit_serials(g);
	if (emit_vga(g) == -1 || emit_agent(g) == -1 || emit_rng(g) == -1)
		return -1;
	emit_balloon(g);
	if (drive_walk(g, emit_disk, NULL) != 0)
		return -1;
	for (i = 0; i < 32; i++)
		if (emit_net(g, i, name) == -1)
			return -1;
	return 0;
}

/*
 * Host-side options, host-side only: name, QMP, pid file, privileges.
 */
static void
emit_host(struct gen *g)
{
	const char	*name = cfg_get(g, "name");
	const char	*vmdir = g->opts->vmdir;

	if (name != NULL)
		opt2(g, "-name", "%s,debug-threads=on", name);
	else
		opt2(g, "-name", "vm%u,debug-threads=on", g->opts->vmid);
	arg(g, "-no-shutdown");
	opt2(g, "-chardev", "socket,id=qmp,path=%s/qmp,server=on,wait=off",
	    vmdir);
	opt2(g, "-mon", "chardev=qmp,mode=control");
	opt2(g, "-pidfile", "%s/pid", vmdir);
	arg(g, "-daemonize");
	if (g->opts->runas != NULL)
		opt2(g, "-runas", "%s", g->opts->runas);
	/*
	 * QEMU 7.2 with -runas and -daemonize: elevateprivileges=deny or
	 * =children blocks the setuid of -runas, and spawn=deny kills the
	 * fork of -daemonize, so neither can be set here.
	 */
	if (g->opts->sandbox)
		opt2(g, "-sandbox", "on,obsolete=deny,resourcecontrol=deny");
}

/* -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off on q35. */
static int
needs_acpi_fixup(struct gen *g)
{
	struct propstr	 ps;
	struct machine	 created;
	const char	*type = NULL, *v, *ostype = cfg_get(g, "ostype");
	char		 name[48];
	int		 pxe;

	if (!g->m.q35 || ostype == NULL || strcmp(ostype, "l26") != 0 ||
	    !machine_ge(&g->m, 6, 1, 0))
		return 0;
	if (cfg_propstr(g->cfg, "machine", &ps, NULL, 0) == 1)
		type = propstr_get(&ps, "type");
	if (type == NULL || strcmp(type, "q35") != 0)
		return 0;
	if (cfg_propstr(g->cfg, "meta", &ps, NULL, 0) != 1 ||
	    (v = propstr_get(&ps, "creation-qemu")) == NULL)
		return 1;
	snprintf(name, sizeof(name), "pc-%s", v);
	if (machine_parse(name, &created, &pxe) != 0)
		return 1;
	return !machine_ge(&created, 6, 1, 0);
}

static void
emit_globals_power(struct gen *g)
{
	struct propstr	 ps;
	const char	*pm = g->m.q35 ? "ICH9-LPC" : "PIIX4_PM";
	const char	*v;

	if (cfg_propstr(g->cfg, "machine", &ps, NULL, 0) == 1) {
		if ((v = propstr_get(&ps, "enable-s3")) != NULL &&
		    strcmp(v, "0") == 0)
			opt2(g, "-global", "%s.disable_s3=1", pm);
		if ((v = propstr_get(&ps, "enable-s4")) != NULL &&
		    strcmp(v, "0") == 0)
			opt2(g, "-global", "%s.disable_s4=1", pm);
	}
	/* Proxmox VE's QEMU keeps the 4.0 balloon config size off. */
	if (g->m.major == 4 && g->m.minor == 0)
		opt2(g, "-global", "virtio-balloon-device."
		    "qemu-4-0-config-size=false");
}

static void
emit_rtc_machine(struct gen *g)
{
	int	 acpi = cfg_bool(g->cfg, "acpi", 1);
	int	 localtime = cfg_bool(g->cfg, "localtime", g->winver > 0);
	int	 smm_off;
	char	 buf[160] = "";

	if (g->winver > 0 && acpi)
		strlcat(buf, ",driftfix=slew", sizeof(buf));
	if (localtime)
		strlcat(buf, ",base=localtime", sizeof(buf));
	if (buf[0] != '\0')
		opt2(g, "-rtc", "%s", buf + 1);
	buf[0] = '\0';
	if (!acpi)
		strlcat(buf, "acpi=off,", sizeof(buf));
	if (g->winver >= 6)
		strlcat(buf, "hpet=off,", sizeof(buf));
	/* Debian's QEMU defaults to TCG, Proxmox VE's kvm binary to KVM. */
	strlcat(buf, g->kvm ? "accel=kvm," : "accel=tcg,", sizeof(buf));
	smm_off = !g->ovmf && (vga_is_serial(g) || strcmp(g->vga, "none") == 0);
	if (smm_off)
		strlcat(buf, "smm=off,", sizeof(buf));
	opt2(g, "-machine", "%stype=%s", buf, g->m.type);
}

static void
emit_display(struct gen *g)
{
	if (vga_is_serial(g))
		arg(g, "-nographic");
	else if (strcmp(g->vga, "none") == 0) {
		opt2(g, "-vga", "none");
		arg(g, "-nographic");
	} else
		opt2(g, "-vnc", "unix:%s/vnc", g->opts->vmdir);
}

static int
emit_smp_memory(struct gen *g)
{
	unsigned long	 sockets = cfg_uint(g->cfg, "sockets", 1);
	unsigned long	 cores = cfg_uint(g->cfg, "cores", 1);
	unsigned long	 maxcpus = sockets * cores;
	unsigned long	 vcpus = cfg_uint(g->cfg, "vcpus", maxcpus);

	if (vcpus > maxcpus) {
		set_err(g->err, g->errlen, "vcpus %lu is more than sockets "
		    "times cores (%lu)", vcpus, maxcpus);
		return -1;
	}
	opt2(g, "-smp", "%lu,sockets=%lu,cores=%lu,maxcpus=%lu", vcpus,
	    sockets, cores, maxcpus);
	return 0;
}

/* Settings that several parts of the line depend on. */
static int
gen_setup(struct gen *g)
{
	struct propstr	 ps;
	const char	*v;

	if (resolve_machine(g) == -1)
		return -1;
	g->kvm = cfg_bool(g->cfg, "kvm", 1);
	if (g->kvm && !g->host->kvm) {
		set_err(g->err, g->errlen, "the config has KVM enabled "
		    "('kvm' is 1 or unset) but this host has no usable KVM; "
		    "a VM that runs under KVM on the source cannot migrate "
		    "to a target without KVM");
		return -1;
	}
	g->winver = windows_version(cfg_get(g, "ostype"));
	v = cfg_get(g, "bios");
	g->ovmf = v != NULL && strcmp(v, "ovmf") == 0;
	g->scsihw = cfg_get(g, "scsihw");
	if (g->scsihw == NULL)
		g->scsihw = "lsi";
	v = NULL;
	if (cfg_propstr(g->cfg, "vga", &ps, g->err, g->errlen) == 1)
		v = propstr_get(&ps, "type");
	if (v == NULL)
		v = !machine_ge(&g->m, 2, 9, 0) && g->winver < 6 ? "cirrus" :
		    "std";
	strlcpy(g->vga, v, sizeof(g->vga));
	return boot_setup(g);
}

static int
gen_line(struct gen *g)
{
	emit_host(g);
	if (emit_smbios(g) == -1)
		return -1;
	if (g->ovmf && emit_ovmf(g) == -1)
		return -1;
	if (needs_acpi_fixup(g))
		opt2(g, "-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-"
		    "support=off");
	if (emit_smp_memory(g) == -1)
		return -1;
	arg(g, "-nodefaults");
	opt2(g, "-boot", "menu=on,strict=on,reboot-timeout=1000");
	emit_display(g);
	if (g->winver >= 6 && g->kvm)
		opt2(g, "-global", "kvm-pit.lost_tick_policy=discard");
	if (emit_cpu(g) == -1)
		return -1;
	opt2(g, "-m", "%lu", cfg_memory(g->cfg));
	if (drive_walk(g, emit_iothread, NULL) != 0)
		return -1;
	emit_globals_power(g);
	if (emit_devices(g) == -1)
		return -1;
	emit_rtc_machine(g);
	if (g->opts->incoming != NULL) {
		opt2(g, "-incoming", "%s", g->opts->incoming);
		arg(g, "-S");
	}
	return 0;
}

int
qemu_argv_build(const struct vmconfig *cfg, const struct qemu_host *host,
    const struct qemu_opts *opts, struct qemu_argv *av, char *err,
    size_t errlen)
{
	struct gen	 g;

	memset(&g, 0, sizeof(g));
	g.cfg = cfg;
	g.host = host;
	g.opts = opts;
	g.av = av;
	g.err = err;
	g.errlen = errlen;
	av->argv = NULL;
	av->argc = 0;
	if (qemu_config_check(cfg, err, errlen) == -1)
		return -1;
	arg(&g, "qemu");
	if (gen_setup(&g) == -1 || gen_line(&g) == -1)
		goto fail;
	if (g.nomem) {
		set_err(err, errlen, "out of memory building the QEMU "
		    "arguments");
		goto fail;
	}
	return 0;
fail:
	qemu_argv_free(av);
	return -1;
}
