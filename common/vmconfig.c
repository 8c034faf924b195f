/*
 * VM config files and their property strings: see vmconfig.h.  Comments
 * name the upstream rule that each check reproduces.  Upstream schemas
 * are in qemu-server (QemuServer.pm, QemuServer/Drive.pm, Network.pm,
 * CPUConfig.pm, Machine.pm, Agent.pm, Memory.pm, RNG.pm, MetaInfo.pm)
 * and pve-common (JSONSchema.pm).
 */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bsd/string.h>
#include <openssl/evp.h>

#include "log.h"
#include "storagecfg.h"
#include "vmconfig.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define REASON_MAX	256
#define KEY_MAX		63	/* a longer key is unsupported */
/* A canonical value may grow a little: "1.5G" is printed as "1536M". */
#define PRINT_MAX	(VMCONFIG_VALUE_MAX + 64)

/*
 * Characters and small parsers
 */

/* Perl's \s on byte strings. */
static int
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	    c == '\r';
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_lower(int c)
{
	return c >= 'a' && c <= 'z';
}

static int
is_alpha(int c)
{
	return is_lower(c) || (c >= 'A' && c <= 'Z');
}

static int
is_alnum(int c)
{
	return is_alpha(c) || is_digit(c);
}

static int
is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Perl's truth of a string: not undef, not "" and not "0". */
static int
perl_true(const char *s)
{
	return s != NULL && s[0] != '\0' && strcmp(s, "0") != 0;
}

static int
all_space(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!is_space((unsigned char)s[i]))
			return 0;
	return 1;
}

/* 1 on yes true (any case) and 0 off no false: 1 or 0, else -1. */
static int
parse_bool(const char *s)
{
	if (strcmp(s, "1") == 0 || strcasecmp(s, "on") == 0 ||
	    strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0)
		return 1;
	if (strcmp(s, "0") == 0 || strcasecmp(s, "off") == 0 ||
	    strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0)
		return 0;
	return -1;
}

/*
 * Decimal integer, with a leading sign if sign is set.  Returns 0, -1
 * for bad syntax, or -2 when it does not fit in 64 bits.
 */
static int
parse_int(const char *s, int sign, int64_t *v)
{
	const char	*p = s;
	uint64_t	 u = 0, limit = INT64_MAX;
	int		 neg = 0;

	if (sign && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	if (!is_digit(*p))
		return -1;
	if (neg)
		limit = (uint64_t)INT64_MAX + 1;
	for (; *p != '\0'; p++) {
		if (!is_digit(*p))
			return -1;
		if (u > (limit - (uint64_t)(*p - '0')) / 10)
			return -2;
		u = u * 10 + (uint64_t)(*p - '0');
	}
	*v = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

/* Perl's number: [+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)? */
static int
is_number(const char *s)
{
	const char	*p = s;
	size_t		 whole = 0, frac = 0;

	if (*p == '+' || *p == '-')
		p++;
	while (is_digit(*p)) {
		p++;
		whole++;
	}
	if (*p == '.') {
		p++;
		while (is_digit(*p)) {
			p++;
			frac++;
		}
	}
	if (whole == 0 && frac == 0)
		return 0;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!is_digit(*p))
			return 0;
		while (is_digit(*p))
			p++;
	}
	return *p == '\0';
}

/*
 * "<prefix><N>" with N in 0..max written without leading zeros, as
 * upstream's keys are: "net00" is not a key.
 */
static int
parse_index(const char *s, const char *prefix, unsigned max, unsigned *index)
{
	size_t		 plen = strlen(prefix);
	const char	*p;
	unsigned long	 v = 0;

	if (strncmp(s, prefix, plen) != 0)
		return -1;
	p = s + plen;
	if (!is_digit(*p) || (p[0] == '0' && p[1] != '\0'))
		return -1;
	for (; *p != '\0'; p++) {
		if (!is_digit(*p))
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > max)
			return -1;
	}
	*index = (unsigned)v;
	return 0;
}

static int
in_list(const char *s, const char *const *list)
{
	size_t	 i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/*
 * Value formats.  Each check returns NULL for a valid value, or the
 * reason it is not.
 */

/* dns-name: labels [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])? joined by '.' */
static const char *
check_dns_name(const char *s)
{
	const char	*p = s;
	size_t		 n;

	for (;;) {
		for (n = 0; is_alnum(p[n]) || p[n] == '-'; n++)
			;
		if (n == 0 || p[0] == '-' || p[n - 1] == '-')
			return "not a valid DNS name";
		p += n;
		if (*p == '\0')
			return NULL;
		if (*p++ != '.')
			return "not a valid DNS name";
	}
}

/* pve-configid: [A-Za-z][A-Za-z0-9_-]+ (snapshot names) */
static const char *
check_configid(const char *s)
{
	size_t	 i;

	if (!is_alpha(s[0]) || s[1] == '\0')
		return "not a valid name ([A-Za-z][A-Za-z0-9_-]+)";
	for (i = 1; s[i] != '\0'; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-')
			return "not a valid name ([A-Za-z][A-Za-z0-9_-]+)";
	return NULL;
}

/* pve-tag: [a-z0-9_][a-z0-9_+.-]* in any case */
static int
valid_tag(const char *s)
{
	size_t	 i;

	if (!is_alnum(s[0]) && s[0] != '_')
		return 0;
	for (i = 1; s[i] != '\0'; i++)
		if (!is_alnum(s[i]) && strchr("_+.-", s[i]) == NULL)
			return 0;
	return 1;
}

/*
 * A split_list of items that each pass valid, as the "-list" formats:
 * an empty list is valid.
 */
static const char *
check_list(const char *s, int (*valid)(const char *), const char *reason)
{
	struct strlist	 list;
	size_t		 i;
	const char	*res = NULL;

	if (split_list(s, strlen(s), &list) == -1)
		return "out of memory";
	for (i = 0; i < list.count && res == NULL; i++)
		if (!valid(list.items[i]))
			res = reason;
	strlist_free(&list);
	return res;
}

static const char *
check_tag_list(const char *s)
{
	return check_list(s, valid_tag, "invalid characters in a tag");
}

/* A run of at least one digit at *p, which is moved past it. */
static int
skip_digits(const char **p)
{
	const char	*start = *p;

	while (is_digit(**p))
		(*p)++;
	return *p > start;
}

static int
startup_part(const char *p, size_t len)
{
	const char	*end = p + len, *q;

	if (len > 6 && strncmp(p, "order=", 6) == 0)
		p += 6;
	else if (len > 3 && strncmp(p, "up=", 3) == 0)
		p += 3;
	else if (len > 5 && strncmp(p, "down=", 5) == 0)
		p += 5;
	for (q = p; q < end; q++)
		if (!is_digit(*q))
			return 0;
	return q > p;
}

/*
 * pve-startup-order: [[order=]N][,up=N][,down=N] in any order, blank
 * parts skipped, a later part winning.  Upstream rejects "0" because
 * Perl reads it as false.
 */
static const char *
check_startup(const char *s)
{
	const char	*p = s;
	size_t		 n;

	if (strcmp(s, "0") == 0)
		return "unable to parse the startup order";
	for (;;) {
		n = strcspn(p, ",");
		if (!all_space(p, n) && !startup_part(p, n))
			return "unable to parse the startup order";
		if (p[n] == '\0')
			return NULL;
		p += n + 1;
	}
}

/* n hex digits at *p, which is moved past them. */
static int
skip_hex(const char **p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!is_hex((*p)[i]))
			return 0;
	*p += n;
	return 1;
}

/* [a-fA-F0-9]{8}(-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12} */
static const char *
check_uuid(const char *s)
{
	static const size_t	 groups[] = { 8, 4, 4, 4, 12 };
	const char		*p = s;
	size_t			 i;

	for (i = 0; i < NELEM(groups); i++) {
		if (i > 0 && *p++ != '-')
			return "not a UUID";
		if (!skip_hex(&p, groups[i]))
			return "not a UUID";
	}
	return *p == '\0' ? NULL : "not a UUID";
}

/* A UUID, or 1 (generate one) or 0 (none). */
static const char *
check_vmgenid(const char *s)
{
	if (strcmp(s, "0") == 0 || strcmp(s, "1") == 0)
		return NULL;
	return check_uuid(s);
}

/* smbios1 text fields: [A-Za-z0-9+/]+={0,2} */
static const char *
check_base64(const char *s)
{
	size_t	 i = 0, pad = 0;

	while (is_alnum(s[i]) || s[i] == '+' || s[i] == '/')
		i++;
	if (i == 0)
		return "not base64 text";
	while (s[i + pad] == '=')
		pad++;
	if (pad > 2 || s[i + pad] != '\0')
		return "not base64 text";
	return NULL;
}

/* urlencoded: [-%a-zA-Z0-9_.!~*'()]* */
static const char *
check_urlencoded(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++)
		if (!is_alnum(s[i]) && strchr("-%_.!~*'()", s[i]) == NULL)
			return "not URL-encoded";
	return NULL;
}

/* 0x and 16 hex digits */
static const char *
check_wwn(const char *s)
{
	const char	*p = s + 2;

	if (strncmp(s, "0x", 2) != 0 || !skip_hex(&p, 16) || *p != '\0')
		return "not 0x and 16 hex digits";
	return NULL;
}

/* SCSI product and vendor: [A-Za-z0-9_ -] */
static const char *
check_scsi_text(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++)
		if (!is_alnum(s[i]) && strchr("_ -", s[i]) == NULL)
			return "allowed are A-Z a-z 0-9 '_' ' ' '-'";
	return NULL;
}

/* VLAN trunks: \d+(-\d+)?(;\d+(-\d+)?)* */
static const char *
check_trunks(const char *s)
{
	const char	*p = s;

	for (;;) {
		if (!skip_digits(&p))
			return "not a list of VLAN IDs (vid[-vid];...)";
		if (*p == '-') {
			p++;
			if (!skip_digits(&p))
				return "not a list of VLAN IDs (vid[-vid];...)";
		}
		if (*p == '\0')
			return NULL;
		if (*p++ != ';')
			return "not a list of VLAN IDs (vid[-vid];...)";
	}
}

/* \d+(\.\d+)+ at *p, which is moved past it. */
static int
skip_version(const char **p)
{
	int	 parts = 0;

	if (!skip_digits(p))
		return 0;
	while (**p == '.' && is_digit((*p)[1])) {
		(*p)++;
		skip_digits(p);
		parts++;
	}
	return parts > 0;
}

/* Optional "+pveN" at *p. */
static int
skip_pve_suffix(const char **p)
{
	if (strncmp(*p, "+pve", 4) != 0)
		return 1;
	*p += 4;
	return skip_digits(p);
}

/*
 * Machine types: pc, q35, pc[-i440fx]-X.Y[+pveN][.pxe],
 * pc-q35-X.Y[+pveN][.pxe], virt[-X.Y][+pveN].
 */
static const char *
check_machine_type(const char *s)
{
	const char	*p;

	if (strcmp(s, "pc") == 0 || strcmp(s, "q35") == 0)
		return NULL;
	if (strncmp(s, "virt", 4) == 0) {
		p = s + 4;
		if (*p == '-') {
			p++;
			if (!skip_version(&p))
				return "not a machine type";
		}
		if (!skip_pve_suffix(&p) || *p != '\0')
			return "not a machine type";
		return NULL;
	}
	if (strncmp(s, "pc-i440fx-", 10) == 0)
		p = s + 10;
	else if (strncmp(s, "pc-q35-", 7) == 0)
		p = s + 7;
	else if (strncmp(s, "pc-", 3) == 0)
		p = s + 3;
	else
		return "not a machine type";
	if (!skip_version(&p) || !skip_pve_suffix(&p))
		return "not a machine type";
	if (strcmp(p, ".pxe") == 0)
		p += 4;
	return *p == '\0' ? NULL : "not a machine type";
}

/*
 * x86_64 CPU models: upstream's built-in x86-64-v* models, its fallback
 * list of QEMU models (CPUConfig.pm) and host.
 */
static const char *const cpu_models[] = {
	"x86-64-v2", "x86-64-v2-AES", "x86-64-v3", "x86-64-v4", "host",
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
	"Icelake-Client", "Icelake-Client-noTSX", "Icelake-Server",
	"Icelake-Server-noTSX", "Icelake-Server-v3", "Icelake-Server-v4",
	"Icelake-Server-v5", "Icelake-Server-v6", "Icelake-Server-v7",
	"SapphireRapids", "SapphireRapids-v2", "SapphireRapids-v3",
	"SapphireRapids-v4", "GraniteRapids", "GraniteRapids-v2",
	"GraniteRapids-v3", "SierraForest", "SierraForest-v2",
	"SierraForest-v3", "ClearwaterForest",
	"athlon", "phenom", "Opteron_G1", "Opteron_G2", "Opteron_G3",
	"Opteron_G4", "Opteron_G5", "EPYC", "EPYC-IBPB", "EPYC-v3", "EPYC-v4",
	"EPYC-v5", "EPYC-Rome", "EPYC-Rome-v2", "EPYC-Rome-v3", "EPYC-Rome-v4",
	"EPYC-Rome-v5", "EPYC-Milan", "EPYC-Milan-v2", "EPYC-Milan-v3",
	"EPYC-Genoa", "EPYC-Genoa-v2", "EPYC-Turin",
	"kvm32", "kvm64", "qemu32", "qemu64", "max",
	NULL
};

/*
 * cputype: a known model, or "custom-<name>" for a model that the
 * source's cpu-models.conf defines.  Upstream looks the custom model up
 * in its own cluster's file.  mtunneld has none, and starts such a VM
 * only with the source's exact -cpu argument.
 */
static const char *
check_cpu_model(const char *s)
{
	size_t	 i;

	if (strncmp(s, "custom-", 7) == 0 && s[7] != '\0') {
		for (i = 7; s[i] != '\0'; i++)
			if (!is_alnum(s[i]) && strchr("_.-", s[i]) == NULL)
				return "not a valid custom CPU model name";
		return NULL;
	}
	if (in_list(s, cpu_models))
		return NULL;
	return "unknown CPU model";
}

/* The only CPU flags that a VM's own config may set (CPUFlags.pm). */
static const char *const cpu_vm_flags[] = {
	"aes", "amd-no-ssb", "amd-ssbd", "hv-evmcs", "hv-tlbflush", "ibpb",
	"md-clear", "nested-virt", "pcid", "pdpe1gb", "spec-ctrl", "ssbd",
	"virt-ssbd",
	NULL
};

/* flags: [+-]<flag>(;[+-]<flag>)* with each flag from cpu_vm_flags */
static const char *
check_cpu_flags(const char *s)
{
	char	 flag[32];
	size_t	 n;

	for (;;) {
		if (*s != '+' && *s != '-')
			return "each flag needs a leading + or -";
		s++;
		n = strcspn(s, ";");
		if (n == 0 || n >= sizeof(flag))
			return "not in the set of flags a VM may set";
		memcpy(flag, s, n);
		flag[n] = '\0';
		if (!in_list(flag, cpu_vm_flags))
			return "not in the set of flags a VM may set";
		s += n;
		if (*s == '\0')
			return NULL;
		s++;
	}
}

/* phys-bits: host, or 8 to 64 in one or two digits */
static const char *
check_phys_bits(const char *s)
{
	size_t	 len = strlen(s);
	int	 v;

	if (strcmp(s, "host") == 0)
		return NULL;
	if (len < 1 || len > 2 || !is_digit(s[0]) ||
	    (len == 2 && !is_digit(s[1])))
		return "must be 8 to 64 or host";
	v = atoi(s);
	return v < 8 || v > 64 ? "must be 8 to 64 or host" : NULL;
}

static const char *
check_hv_vendor_id(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++)
		if (!is_alnum(s[i]))
			return "must be 1 to 12 letters or digits";
	return i >= 1 && i <= 12 ? NULL : "must be 1 to 12 letters or digits";
}

/* meta creation-qemu: \d+(\.\d+)+ */
static const char *
check_dotted_version(const char *s)
{
	const char	*p = s;

	if (!skip_version(&p) || *p != '\0')
		return "not a version such as 9.2.0";
	return NULL;
}

/* boot legacy: [acdn]{1,4} */
static const char *
check_boot_legacy(const char *s)
{
	size_t	 n = strspn(s, "acdn");

	return n >= 1 && n <= 4 && s[n] == '\0' ? NULL :
	    "must be 1 to 4 of a, c, d, n";
}

/*
 * A boot device (verify_bootdev): a drive other than efidisk0 or
 * tpmstate0, or a NIC, USB or PCI device key, whether or not the config
 * has it.
 */
static int
valid_bootdev(const char *s)
{
	static const struct {
		const char	*prefix;
		unsigned	 max;
	} devs[] = {
		{ "ide", 3 }, { "sata", 5 }, { "scsi", 30 }, { "virtio", 15 },
		{ "net", 31 }, { "usb", 13 }, { "hostpci", 15 },
	};
	size_t		 i;
	unsigned	 index;

	for (i = 0; i < NELEM(devs); i++)
		if (parse_index(s, devs[i].prefix, devs[i].max, &index) == 0)
			return 1;
	return 0;
}

static const char *
check_boot_order(const char *s)
{
	return check_list(s, valid_bootdev, "invalid boot device");
}

/* pve-volume-id: <storage ID>:<one or more bytes> */
static const char *
check_volume_id(const char *s)
{
	char		 storeid[STORAGE_ID_MAX + 1];
	const char	*colon = strchr(s, ':');
	size_t		 n;

	if (colon == NULL || colon[1] == '\0')
		return "not a volume ID (<storage>:<volume>)";
	n = (size_t)(colon - s);
	if (n > STORAGE_ID_MAX)
		return "not a volume ID (<storage>:<volume>)";
	memcpy(storeid, s, n);
	storeid[n] = '\0';
	if (!valid_storage_id(storeid))
		return "not a volume ID (<storage>:<volume>)";
	return NULL;
}

static int
valid_volume_id(const char *s)
{
	return check_volume_id(s) == NULL;
}

static const char *
check_volume_id_list(const char *s)
{
	return check_list(s, valid_volume_id, "invalid volume ID in the list");
}

/* running-nets-host-mtu: net\d+=\d+(,net\d+=\d+)* */
static const char *
check_nets_host_mtu(const char *s)
{
	const char	*p = s;

	for (;;) {
		if (strncmp(p, "net", 3) != 0)
			return "not a list of netN=MTU";
		p += 3;
		if (!skip_digits(&p) || *p++ != '=' || !skip_digits(&p))
			return "not a list of netN=MTU";
		if (*p == '\0')
			return NULL;
		if (*p++ != ',')
			return "not a list of netN=MTU";
	}
}

static int
is_cpu_arg_char(int c)
{
	return is_alnum(c) || strchr("_-.=", c) != NULL;
}

/* runningcpu: ([+-]?[\w.=-]+,?)+, a QEMU -cpu argument */
static const char *
check_cpu_cmdline(const char *s)
{
	const char	*p = s;
	const char	*start;

	do {
		if (*p == '+' || *p == '-')
			p++;
		for (start = p; *p != '\0' && is_cpu_arg_char(*p); p++)
			;
		if (p == start)
			return "not a QEMU -cpu argument";
		if (*p == ',')
			p++;
	} while (*p != '\0');
	return NULL;
}

/*
 * mac-addr: six hex pairs joined by ':', unicast: the low bit of the
 * first byte (I/G) clear, so the second digit is even.
 */
static const char *
check_mac(const char *s)
{
	const char	*p = s;
	size_t		 i;

	for (i = 0; i < 6; i++) {
		if (i > 0 && *p++ != ':')
			return "not a MAC address";
		if (!skip_hex(&p, 2))
			return "not a MAC address";
	}
	if (*p != '\0')
		return "not a MAC address";
	if (strchr("02468aceACE", s[1]) == NULL)
		return "a multicast MAC address (I/G bit set)";
	return NULL;
}

static const char *
check_bridge(const char *s)
{
	if (!valid_bridge_id(s))
		return "not a bridge name ([-_.A-Za-z0-9]+)";
	if (strlen(s) > BRIDGE_NAME_MAX)
		return "longer than a Linux interface name (15 bytes)";
	return NULL;
}

static const char *
check_digest(const char *s)
{
	size_t	 n = 0;

	while (is_hex(s[n]))
		n++;
	return s[n] == '\0' && n >= 40 && n <= 64 ? NULL :
	    "not 40 to 64 hex digits";
}

static const char *
check_serial_port(const char *s)
{
	if (strcmp(s, "socket") == 0)
		return NULL;
	if (strncmp(s, "/dev/", 5) == 0)
		return "a host serial device cannot be migrated";
	return "must be socket";
}

/* A config key, [a-z][a-z_-]*[0-9]*; returns its length or 0. */
static size_t
key_span(const char *s, size_t len)
{
	size_t	 i = 0;

	if (len == 0 || !is_lower((unsigned char)s[0]))
		return 0;
	for (i = 1; i < len && (is_lower((unsigned char)s[i]) ||
	    s[i] == '_' || s[i] == '-'); i++)
		;
	while (i < len && is_digit((unsigned char)s[i]))
		i++;
	return i;
}

/* A pending delete item: a key, "!" first for a forced delete. */
static int
valid_delete_item(const char *s)
{
	size_t	 len;

	if (*s == '!')
		s++;
	len = strlen(s);
	return len > 0 && key_span(s, len) == len;
}

static const char *
check_delete_list(const char *s)
{
	return check_list(s, valid_delete_item, "invalid key in the list");
}

/*
 * Property-string schemas
 */

enum prop_type {
	PT_BOOL,
	PT_INT,		/* [+-]?\d+ */
	PT_NUM,		/* Perl number */
	PT_ENUM,
	PT_STRING,
	PT_SIZE,	/* disk-size */
	PT_ALIAS,	/* sets another key */
};

#define PK_DEFAULT	0x01	/* a bare value sets this key */
#define PK_REQUIRED	0x02
#define PK_DROPPED	0x04	/* obsolete: "key=value" is skipped */
#define PK_RANGE	0x08	/* min and max apply */

/* Buses of drive keys, as bits 1 << enum drive_bus. */
#define B_IDE		(1U << DRIVE_IDE)
#define B_SATA		(1U << DRIVE_SATA)
#define B_SCSI		(1U << DRIVE_SCSI)
#define B_VIRTIO	(1U << DRIVE_VIRTIO)
#define B_EFI		(1U << DRIVE_EFIDISK)
#define B_UNUSED	(1U << DRIVE_UNUSED)
#define B_DISK		(B_IDE | B_SATA | B_SCSI | B_VIRTIO)
#define B_ANY		0U

struct prop_key {
	const char		*name;
	enum prop_type		 type;
	unsigned		 flags;
	int64_t			 min;
	int64_t			 max;
	const char *const	*values;	/* PT_ENUM, NULL-terminated */
	const char		*(*check)(const char *);	/* strings */
	size_t			 maxlen;	/* bytes, 0 for none */
	const char		*alias;		/* key an alias sets */
	const char		*key_alias;	/* gets the alias's name */
	unsigned		 buses;		/* drives; B_ANY: all */
};

struct propstr_schema {
	const char		*name;
	const struct prop_key	*keys;
	size_t			 nkeys;
	const char		*(*validate)(const struct propstr *);
};

#define P_BOOL(n, b)		{ .name = (n), .type = PT_BOOL, \
	.buses = (b) }
#define P_INT(n, b)		{ .name = (n), .type = PT_INT, .buses = (b) }
#define P_RANGE(n, lo, hi, b)	{ .name = (n), .type = PT_INT, \
	.flags = PK_RANGE, .min = (lo), .max = (hi), .buses = (b) }
#define P_NUM(n, b)		{ .name = (n), .type = PT_NUM, .buses = (b) }
#define P_NUMRANGE(n, lo, hi)	{ .name = (n), .type = PT_NUM, \
	.flags = PK_RANGE, .min = (lo), .max = (hi) }
#define P_ENUM(n, v, b)		{ .name = (n), .type = PT_ENUM, \
	.values = (v), .buses = (b) }
#define P_STR(n, c, len, b)	{ .name = (n), .type = PT_STRING, \
	.check = (c), .maxlen = (len), .buses = (b) }
#define P_ALIAS(n, to, b)	{ .name = (n), .type = PT_ALIAS, \
	.alias = (to), .buses = (b) }
#define P_DROPPED(n)		{ .name = (n), .type = PT_STRING, \
	.flags = PK_DROPPED }
#define SCHEMA(n, k, v)		{ (n), (k), NELEM(k), (v) }

static const char *const agent_types[] = { "virtio", "isa", NULL };
static const char *const vga_types[] = {
	"cirrus", "qxl", "qxl2", "qxl3", "qxl4", "none", "serial0", "serial1",
	"serial2", "serial3", "std", "virtio", "virtio-gl", "vmware", NULL
};
static const char *const vga_clipboards[] = { "vnc", NULL };
static const char *const viommu_types[] = { "intel", "virtio", NULL };
static const char *const rng_sources[] = {
	"/dev/urandom", "/dev/random", "/dev/hwrng", NULL
};
static const char *const qemu_formats[] = {
	"raw", "qcow", "qed", "qcow2", "vmdk", "cloop", NULL
};
static const char *const media_types[] = { "cdrom", "disk", NULL };
static const char *const cache_modes[] = {
	"none", "writethrough", "writeback", "unsafe", "directsync", NULL
};
static const char *const rerror_actions[] = {
	"ignore", "report", "stop", NULL
};
static const char *const werror_actions[] = {
	"enospc", "ignore", "report", "stop", NULL
};
static const char *const aio_types[] = {
	"native", "threads", "io_uring", NULL
};
static const char *const discard_modes[] = { "ignore", "on", NULL };
static const char *const efi_types[] = { "2m", "4m", NULL };
static const char *const ms_certs[] = {
	"2011", "2023", "2023w", "2023k", NULL
};
static const char *const nic_models[] = {
	"e1000", "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e",
	"i82551", "i82557b", "i82559er", "ne2k_isa", "ne2k_pci", "pcnet",
	"rtl8139", "virtio", "vmxnet3", NULL
};

static const struct prop_key memory_keys[] = {
	{ .name = "current", .type = PT_INT,
	    .flags = PK_DEFAULT | PK_REQUIRED | PK_RANGE,
	    .min = 16, .max = INT64_MAX },
};

static const struct prop_key agent_keys[] = {
	{ .name = "enabled", .type = PT_BOOL,
	    .flags = PK_DEFAULT | PK_REQUIRED },
	P_BOOL("freeze-fs", B_ANY),
	P_ALIAS("freeze-fs-on-backup", "freeze-fs", B_ANY),
	P_BOOL("fstrim_cloned_disks", B_ANY),
	P_ALIAS("guest-fsfreeze", "freeze-fs", B_ANY),
	P_ENUM("type", agent_types, B_ANY),
};

static const struct prop_key boot_keys[] = {
	{ .name = "legacy", .type = PT_STRING, .flags = PK_DEFAULT,
	    .check = check_boot_legacy },
	P_STR("order", check_boot_order, 0, B_ANY),
};

/* reported-model belongs to custom CPU models only (CPUConfig.pm). */
static const char *
check_not_in_vm(const char *s)
{
	return "not allowed in a VM's CPU config";
}

static const struct prop_key cpu_keys[] = {
	{ .name = "cputype", .type = PT_STRING, .flags = PK_DEFAULT,
	    .check = check_cpu_model },
	P_STR("flags", check_cpu_flags, 0, B_ANY),
	P_RANGE("guest-phys-bits", 32, 64, B_ANY),
	P_BOOL("hidden", B_ANY),
	P_STR("hv-vendor-id", check_hv_vendor_id, 0, B_ANY),
	P_RANGE("level", 0, UINT32_MAX, B_ANY),
	P_STR("phys-bits", check_phys_bits, 0, B_ANY),
	P_STR("reported-model", check_not_in_vm, 0, B_ANY),
};

static const struct prop_key machine_keys[] = {
	P_NUMRANGE("aw-bits", 32, 64),
	P_BOOL("enable-s3", B_ANY),
	P_BOOL("enable-s4", B_ANY),
	{ .name = "type", .type = PT_STRING, .flags = PK_DEFAULT,
	    .check = check_machine_type, .maxlen = 40 },
	P_ENUM("viommu", viommu_types, B_ANY),
};

static const struct prop_key vga_keys[] = {
	P_ENUM("clipboard", vga_clipboards, B_ANY),
	P_RANGE("memory", 4, 512, B_ANY),
	{ .name = "type", .type = PT_ENUM, .flags = PK_DEFAULT,
	    .values = vga_types },
};

static const struct prop_key smbios1_keys[] = {
	P_BOOL("base64", B_ANY),
	P_STR("family", check_base64, 0, B_ANY),
	P_STR("manufacturer", check_base64, 0, B_ANY),
	P_STR("product", check_base64, 0, B_ANY),
	P_STR("serial", check_base64, 0, B_ANY),
	P_STR("sku", check_base64, 0, B_ANY),
	P_STR("uuid", check_uuid, 0, B_ANY),
	P_STR("version", check_base64, 0, B_ANY),
};

static const struct prop_key rng_keys[] = {
	P_INT("max_bytes", B_ANY),
	P_INT("period", B_ANY),
	{ .name = "source", .type = PT_ENUM,
	    .flags = PK_DEFAULT | PK_REQUIRED, .values = rng_sources },
};

static const struct prop_key meta_keys[] = {
	P_STR("creation-qemu", check_dotted_version, 0, B_ANY),
	P_RANGE("ctime", 0, INT64_MAX, B_ANY),
};

/*
 * Drive options of every bus in one schema (upstream's alldrive_fmt, used
 * to print), each marked with the buses that take it.
 */
static const struct prop_key drive_keys[] = {
	{ .name = "file", .type = PT_STRING,
	    .flags = PK_DEFAULT | PK_REQUIRED },
	P_ALIAS("volume", "file", B_ANY),
	P_BOOL("backup", B_DISK),
	P_INT("bps", B_DISK),
	P_RANGE("bps_max_length", 1, INT64_MAX, B_DISK),
	P_INT("bps_rd", B_DISK),
	P_ALIAS("bps_rd_length", "bps_rd_max_length", B_DISK),
	P_RANGE("bps_rd_max_length", 1, INT64_MAX, B_DISK),
	P_INT("bps_wr", B_DISK),
	P_ALIAS("bps_wr_length", "bps_wr_max_length", B_DISK),
	P_RANGE("bps_wr_max_length", 1, INT64_MAX, B_DISK),
	P_ENUM("aio", aio_types, B_DISK),
	P_ENUM("cache", cache_modes, B_DISK),
	P_BOOL("detect_zeroes", B_DISK),
	P_ENUM("discard", discard_modes, B_DISK),
	P_ENUM("efitype", efi_types, B_EFI),
	P_ENUM("format", qemu_formats, B_DISK | B_EFI),
	P_INT("iops", B_DISK),
	P_INT("iops_max", B_DISK),
	P_RANGE("iops_max_length", 1, INT64_MAX, B_DISK),
	P_INT("iops_rd", B_DISK),
	P_ALIAS("iops_rd_length", "iops_rd_max_length", B_DISK),
	P_INT("iops_rd_max", B_DISK),
	P_RANGE("iops_rd_max_length", 1, INT64_MAX, B_DISK),
	P_INT("iops_wr", B_DISK),
	P_ALIAS("iops_wr_length", "iops_wr_max_length", B_DISK),
	P_INT("iops_wr_max", B_DISK),
	P_RANGE("iops_wr_max_length", 1, INT64_MAX, B_DISK),
	P_BOOL("iothread", B_SCSI | B_VIRTIO),
	P_NUM("mbps", B_DISK),
	P_NUM("mbps_max", B_DISK),
	P_NUM("mbps_rd", B_DISK),
	P_NUM("mbps_rd_max", B_DISK),
	P_NUM("mbps_wr", B_DISK),
	P_NUM("mbps_wr_max", B_DISK),
	P_ENUM("media", media_types, B_DISK),
	P_STR("model", check_urlencoded, 120, B_IDE),
	P_ENUM("ms-cert", ms_certs, B_EFI),
	P_BOOL("pre-enrolled-keys", B_EFI),
	P_STR("product", check_scsi_text, 16, B_SCSI),
	P_RANGE("queues", 2, INT64_MAX, B_SCSI),
	P_BOOL("replicate", B_DISK),
	P_ENUM("rerror", rerror_actions, B_DISK),
	P_BOOL("ro", B_SCSI | B_VIRTIO),
	P_BOOL("scsiblock", B_SCSI),
	P_STR("serial", check_urlencoded, 60, B_DISK),
	P_BOOL("shared", B_DISK),
	{ .name = "size", .type = PT_SIZE, .buses = B_DISK | B_EFI },
	P_BOOL("snapshot", B_DISK),
	P_BOOL("ssd", B_IDE | B_SATA | B_SCSI),
	P_STR("vendor", check_scsi_text, 8, B_SCSI),
	P_ENUM("werror", werror_actions, B_DISK),
	P_STR("wwn", check_wwn, 0, B_IDE | B_SATA | B_SCSI),
	P_DROPPED("cyls"),
	P_DROPPED("heads"),
	P_DROPPED("secs"),
	P_DROPPED("trans"),
};

#define NIC_ALIAS(m)	{ .name = (m), .type = PT_ALIAS, \
	.alias = "macaddr", .key_alias = "model" }

static const struct prop_key net_keys[] = {
	{ .name = "model", .type = PT_ENUM,
	    .flags = PK_DEFAULT | PK_REQUIRED, .values = nic_models },
	NIC_ALIAS("e1000"), NIC_ALIAS("e1000-82540em"),
	NIC_ALIAS("e1000-82544gc"), NIC_ALIAS("e1000-82545em"),
	NIC_ALIAS("e1000e"), NIC_ALIAS("i82551"), NIC_ALIAS("i82557b"),
	NIC_ALIAS("i82559er"), NIC_ALIAS("ne2k_isa"), NIC_ALIAS("ne2k_pci"),
	NIC_ALIAS("pcnet"), NIC_ALIAS("rtl8139"), NIC_ALIAS("virtio"),
	NIC_ALIAS("vmxnet3"),
	P_STR("bridge", check_bridge, 0, B_ANY),
	P_BOOL("firewall", B_ANY),
	P_BOOL("host-tunnel", B_ANY),
	P_BOOL("link_down", B_ANY),
	P_STR("macaddr", check_mac, 0, B_ANY),
	P_RANGE("mtu", 1, 65520, B_ANY),
	P_RANGE("queues", 0, 64, B_ANY),
	{ .name = "rate", .type = PT_NUM, .flags = PK_RANGE,
	    .min = 0, .max = INT64_MAX },
	P_RANGE("tag", 1, 4094, B_ANY),
	P_STR("trunks", check_trunks, 0, B_ANY),
};

/* validate_vm_cpu_conf: cputype is optional in the schema only. */
static const char *
validate_cpu(const struct propstr *ps)
{
	return propstr_get(ps, "cputype") == NULL ?
	    "the CPU config has no cputype" : NULL;
}

static const struct propstr_schema memory_schema =
    SCHEMA("memory", memory_keys, NULL);
static const struct propstr_schema agent_schema =
    SCHEMA("agent", agent_keys, NULL);
static const struct propstr_schema boot_schema =
    SCHEMA("boot", boot_keys, NULL);
static const struct propstr_schema cpu_schema =
    SCHEMA("cpu", cpu_keys, validate_cpu);
static const struct propstr_schema machine_schema =
    SCHEMA("machine", machine_keys, NULL);
static const struct propstr_schema vga_schema =
    SCHEMA("vga", vga_keys, NULL);
static const struct propstr_schema smbios1_schema =
    SCHEMA("smbios1", smbios1_keys, NULL);
static const struct propstr_schema rng_schema =
    SCHEMA("rng", rng_keys, NULL);
static const struct propstr_schema meta_schema =
    SCHEMA("meta", meta_keys, NULL);
static const struct propstr_schema drive_schema =
    SCHEMA("drive", drive_keys, NULL);
static const struct propstr_schema net_schema =
    SCHEMA("net", net_keys, NULL);

_Static_assert(NELEM(drive_keys) <= PROPSTR_KEYS_MAX,
    "PROPSTR_KEYS_MAX is smaller than the drive schema");
_Static_assert(VMCONFIG_VALUE_MAX < UINT16_MAX,
    "propstr offsets are 16 bits");

/*
 * Property-string parser and printer (JSONSchema parse_property_string
 * and print_property_string)
 */

static int
prop_lookup(const struct propstr_schema *schema, const char *name,
    unsigned mask)
{
	size_t	 i;

	for (i = 0; i < schema->nkeys; i++) {
		if (strcmp(schema->keys[i].name, name) != 0)
			continue;
		if (schema->keys[i].buses != B_ANY &&
		    (schema->keys[i].buses & mask) == 0)
			return -1;
		return (int)i;
	}
	return -1;
}

static int
prop_default(const struct propstr_schema *schema)
{
	size_t	 i;

	for (i = 0; i < schema->nkeys; i++)
		if (schema->keys[i].flags & PK_DEFAULT)
			return (int)i;
	return -1;
}

static const char *
prop_value(const struct propstr *ps, int i)
{
	if (i < 0 || ps->off[i] == 0)
		return NULL;
	return ps->buf + ps->off[i] - 1;
}

static void
prop_store(struct propstr *ps, int i, const char *value)
{
	ps->off[i] = (uint16_t)(value - ps->buf + 1);
}

/* Booleans are normalised in place: every accepted form is >= 1 byte. */
static void
normalise_bool(const struct prop_key *key, char *value)
{
	int	 b;

	if (key->type != PT_BOOL || (b = parse_bool(value)) == -1)
		return;
	value[0] = b ? '1' : '0';
	value[1] = '\0';
}

/* Assign a bare value to the default key.  A second one is a duplicate. */
static int
assign_default(struct propstr *ps, char *part, int *bare_seen, char *err,
    size_t errlen)
{
	const struct propstr_schema	*schema = ps->schema;
	char				 safe[SAFE_BUF];
	int				 d = prop_default(schema);

	if (d == -1) {
		set_err(err, errlen, "value '%s' has no key, and %s has no "
		    "default key", safe_str(part, safe), schema->name);
		return -1;
	}
	if (*bare_seen || prop_value(ps, d) != NULL) {
		set_err(err, errlen, "duplicate key '%s'",
		    schema->keys[d].name);
		return -1;
	}
	*bare_seen = 1;
	normalise_bool(&schema->keys[d], part);
	prop_store(ps, d, part);
	return 0;
}

/*
 * Resolve an alias: its target key, and for a key alias ("virtio=<mac>")
 * also the key that takes the alias's name.  Returns the target, or -1.
 */
static int
resolve_alias(struct propstr *ps, unsigned mask, int i, char *err,
    size_t errlen)
{
	const struct prop_key	*key = &ps->schema->keys[i];
	int			 t, ka;

	if (key->key_alias != NULL) {
		ka = prop_lookup(ps->schema, key->key_alias, mask);
		if (prop_value(ps, ka) != NULL) {
			set_err(err, errlen, "key '%s' is already defined",
			    key->key_alias);
			return -1;
		}
	}
	t = prop_lookup(ps->schema, key->alias, mask);
	if (prop_value(ps, t) != NULL) {
		set_err(err, errlen, "key '%s' is already defined (through "
		    "'%s')", key->alias, key->name);
		return -1;
	}
	return t;
}

static int
assign_keyed(struct propstr *ps, unsigned mask, char *part, char *eq,
    char *err, size_t errlen)
{
	const struct prop_key	*key;
	char			 safe[SAFE_BUF];
	char			*value = eq + 1;
	int			 i, ka = -1;

	*eq = '\0';
	i = prop_lookup(ps->schema, part, ~0U);
	if (i != -1 && (ps->schema->keys[i].flags & PK_DROPPED))
		return 0;
	if ((i = prop_lookup(ps->schema, part, mask)) == -1) {
		set_err(err, errlen, "unknown key '%s'", safe_str(part, safe));
		return -1;
	}
	key = &ps->schema->keys[i];
	if (key->type == PT_ALIAS) {
		if (key->key_alias != NULL)
			ka = prop_lookup(ps->schema, key->key_alias, mask);
		if ((i = resolve_alias(ps, mask, i, err, errlen)) == -1)
			return -1;
		if (ka != -1)
			prop_store(ps, ka, part);
		key = &ps->schema->keys[i];
	} else if (prop_value(ps, i) != NULL) {
		set_err(err, errlen, "duplicate key '%s'", key->name);
		return -1;
	}
	normalise_bool(key, value);
	prop_store(ps, i, value);
	return 0;
}

static int
assign_part(struct propstr *ps, unsigned mask, char *part, int *bare_seen,
    char *err, size_t errlen)
{
	char	 safe[SAFE_BUF];
	char	*eq;

	if (all_space(part, strlen(part)))
		return 0;
	if ((eq = strchr(part, '=')) == NULL)
		return assign_default(ps, part, bare_seen, err, errlen);
	if (eq == part || eq[1] == '\0') {
		set_err(err, errlen, "missing key or value in '%s'",
		    safe_str(part, safe));
		return -1;
	}
	return assign_keyed(ps, mask, part, eq, err, errlen);
}

static int
check_int_value(const struct prop_key *key, const char *v, int sign,
    char *reason, size_t len)
{
	int64_t	 n;
	int	 rc;

	if ((rc = parse_int(v, sign, &n)) == -1) {
		strlcpy(reason, "not an integer", len);
		return -1;
	}
	if (rc == -2) {
		strlcpy(reason, "out of range", len);
		return -1;
	}
	if ((key->flags & PK_RANGE) && (n < key->min || n > key->max)) {
		snprintf(reason, len, "must be %" PRId64 " to %" PRId64,
		    key->min, key->max);
		return -1;
	}
	return 0;
}

static int
check_num_value(const struct prop_key *key, const char *v, char *reason,
    size_t len)
{
	double	 d;

	if (!is_number(v)) {
		strlcpy(reason, "not a number", len);
		return -1;
	}
	d = strtod(v, NULL);
	if (!isfinite(d)) {
		strlcpy(reason, "out of range", len);
		return -1;
	}
	if ((key->flags & PK_RANGE) && (d < (double)key->min ||
	    d > (double)key->max)) {
		snprintf(reason, len, "must be %" PRId64 " to %" PRId64,
		    key->min, key->max);
		return -1;
	}
	return 0;
}

static void
list_values(const char *const *values, char *reason, size_t len)
{
	size_t	 i;

	strlcpy(reason, "must be one of ", len);
	for (i = 0; values[i] != NULL; i++) {
		if (i > 0)
			strlcat(reason, ", ", len);
		strlcat(reason, values[i], len);
	}
}

static int
check_string_value(const struct prop_key *key, const char *v, char *reason,
    size_t len)
{
	const char	*found;

	if (key->maxlen > 0 && strlen(v) > key->maxlen) {
		snprintf(reason, len, "longer than %zu bytes", key->maxlen);
		return -1;
	}
	if (key->check != NULL && (found = key->check(v)) != NULL) {
		strlcpy(reason, found, len);
		return -1;
	}
	return 0;
}

/* The type check of one sub-value.  Returns 0, or -1 with a reason. */
static int
check_prop_value(const struct prop_key *key, const char *v, char *reason,
    size_t len)
{
	uint64_t	 bytes;

	switch (key->type) {
	case PT_BOOL:
		if (strcmp(v, "1") == 0 || strcmp(v, "0") == 0)
			return 0;
		strlcpy(reason, "not a boolean", len);
		return -1;
	case PT_INT:
		return check_int_value(key, v, 1, reason, len);
	case PT_NUM:
		return check_num_value(key, v, reason, len);
	case PT_ENUM:
		if (in_list(v, key->values))
			return 0;
		list_values(key->values, reason, len);
		return -1;
	case PT_STRING:
		return check_string_value(key, v, reason, len);
	case PT_SIZE:
		if (parse_size(v, &bytes) == 0)
			return 0;
		strlcpy(reason, "not a size such as 32G", len);
		return -1;
	case PT_ALIAS:
		break;
	}
	return 0;
}

static int
check_props(const struct propstr *ps, char *err, size_t errlen)
{
	const struct propstr_schema	*schema = ps->schema;
	const char			*v;
	char				 reason[REASON_MAX], safe[SAFE_BUF];
	size_t				 i;

	for (i = 0; i < schema->nkeys; i++) {
		v = prop_value(ps, (int)i);
		if (v == NULL && (schema->keys[i].flags & PK_REQUIRED)) {
			set_err(err, errlen, "missing key '%s'",
			    schema->keys[i].name);
			return -1;
		}
		if (v == NULL || check_prop_value(&schema->keys[i], v,
		    reason, sizeof(reason)) == 0)
			continue;
		set_err(err, errlen, "invalid value '%s' for '%s': %s",
		    safe_str(v, safe), schema->keys[i].name, reason);
		return -1;
	}
	if (schema->validate != NULL && (v = schema->validate(ps)) != NULL) {
		set_err(err, errlen, "%s", v);
		return -1;
	}
	return 0;
}

/* Parse with only the keys that mask allows (drive buses). */
static int
propstr_parse_mask(struct propstr *ps, const struct propstr_schema *schema,
    unsigned mask, const char *value, char *err, size_t errlen)
{
	size_t	 len = strlen(value);
	char	*part, *next;
	int	 bare_seen = 0;

	memset(ps, 0, sizeof(*ps));
	ps->schema = schema;
	if (len > VMCONFIG_VALUE_MAX) {
		set_err(err, errlen, "value is longer than %d bytes",
		    VMCONFIG_VALUE_MAX);
		return -1;
	}
	memcpy(ps->buf, value, len + 1);
	for (part = ps->buf; part != NULL; part = next) {
		if ((next = strchr(part, ',')) != NULL)
			*next++ = '\0';
		if (assign_part(ps, mask, part, &bare_seen, err, errlen) == -1)
			return -1;
	}
	return check_props(ps, err, errlen);
}

int
propstr_parse(struct propstr *ps, const struct propstr_schema *schema,
    const char *value, char *err, size_t errlen)
{
	return propstr_parse_mask(ps, schema, ~0U, value, err, errlen);
}

const char *
propstr_get(const struct propstr *ps, const char *key)
{
	if (ps->schema == NULL)
		return NULL;
	return prop_value(ps, prop_lookup(ps->schema, key, ~0U));
}

/* A bounded string builder: overflow is remembered, not reported. */
struct strbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 overflow;
};

static void
sb_add(struct strbuf *sb, const char *s)
{
	size_t	 n = strlen(s);

	if (sb->overflow || sb->len + n >= sb->cap) {
		sb->overflow = 1;
		return;
	}
	memcpy(sb->p + sb->len, s, n + 1);
	sb->len += n;
}

/* One value as print_property_string writes it: sizes compactly. */
static void
sb_add_value(struct strbuf *sb, const struct prop_key *key, const char *v)
{
	char		 size[SIZE_STR_MAX];
	uint64_t	 bytes;

	if (key->type == PT_SIZE && parse_size(v, &bytes) == 0 &&
	    format_size(bytes, size, sizeof(size)) == 0)
		v = size;
	sb_add(sb, v);
}

struct print_state {
	const struct propstr	*ps;
	int			 over;		/* replaced, or -1 */
	const char		*over_value;	/* NULL drops the key */
	unsigned char		 done[PROPSTR_KEYS_MAX];
};

static const char *
print_value(const struct print_state *st, int i)
{
	if (i == st->over)
		return st->over_value;
	return prop_value(st->ps, i);
}

static void
sb_sep(struct strbuf *sb)
{
	if (sb->len > 0)
		sb_add(sb, ",");
}

/*
 * The default key first, bare.  A key alias partner is joined to it
 * ("virtio=<mac>").  A value with '=' is written as "key=value" so that
 * it reads back as the same key.  NOTE: upstream writes it bare.
 */
static void
print_default(struct strbuf *sb, struct print_state *st)
{
	const struct propstr_schema	*schema = st->ps->schema;
	const char			*v, *pv;
	size_t				 i;
	int				 d = prop_default(schema), partner;

	if (d == -1 || (v = print_value(st, d)) == NULL)
		return;
	st->done[d] = 1;
	for (i = 0; i < schema->nkeys; i++) {
		if (schema->keys[i].key_alias == NULL ||
		    strcmp(schema->keys[i].key_alias, schema->keys[d].name))
			continue;
		partner = prop_lookup(schema, schema->keys[i].alias, ~0U);
		if ((pv = print_value(st, partner)) == NULL)
			break;
		sb_add(sb, v);
		sb_add(sb, "=");
		sb_add_value(sb, &schema->keys[partner], pv);
		st->done[partner] = 1;
		return;
	}
	if (strchr(v, '=') != NULL) {
		sb_add(sb, schema->keys[d].name);
		sb_add(sb, "=");
	}
	sb_add_value(sb, &schema->keys[d], v);
}

/* Sort the key indexes by name: at most PROPSTR_KEYS_MAX of them. */
static void
sort_by_name(const struct prop_key *keys, int *order, size_t n)
{
	size_t	 i, j;
	int	 t;

	for (i = 1; i < n; i++) {
		t = order[i];
		for (j = i; j > 0 &&
		    strcmp(keys[order[j - 1]].name, keys[t].name) > 0; j--)
			order[j] = order[j - 1];
		order[j] = t;
	}
}

/* Then the required keys sorted, then the others sorted. */
static void
print_sorted(struct strbuf *sb, struct print_state *st)
{
	const struct propstr_schema	*schema = st->ps->schema;
	const char			*v;
	int				 order[PROPSTR_KEYS_MAX], pass;
	size_t				 i, n = 0;

	for (i = 0; i < schema->nkeys; i++)
		if (!st->done[i] && print_value(st, (int)i) != NULL)
			order[n++] = (int)i;
	sort_by_name(schema->keys, order, n);
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			if (st->done[order[i]] || (pass == 0 &&
			    !(schema->keys[order[i]].flags & PK_REQUIRED)))
				continue;
			v = print_value(st, order[i]);
			sb_sep(sb);
			sb_add(sb, schema->keys[order[i]].name);
			sb_add(sb, "=");
			sb_add_value(sb, &schema->keys[order[i]], v);
			st->done[order[i]] = 1;
		}
	}
}

static int
propstr_print_over(const struct propstr *ps, int over, const char *over_value,
    char *buf, size_t len)
{
	struct strbuf		 sb = { buf, 0, len, 0 };
	struct print_state	 st;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	memset(&st, 0, sizeof(st));
	st.ps = ps;
	st.over = over;
	st.over_value = over_value;
	print_default(&sb, &st);
	print_sorted(&sb, &st);
	return sb.overflow ? -1 : 0;
}

int
propstr_print(const struct propstr *ps, char *buf, size_t len)
{
	if (ps->schema == NULL) {
		if (len > 0)
			buf[0] = '\0';
		return len > 0 ? 0 : -1;
	}
	return propstr_print_over(ps, -1, NULL, buf, len);
}

/*
 * Drives
 */

static const struct {
	const char	*prefix;
	unsigned	 max;
} drive_buses[] = {
	[DRIVE_IDE] = { "ide", 3 },
	[DRIVE_SATA] = { "sata", 5 },
	[DRIVE_SCSI] = { "scsi", 30 },
	[DRIVE_VIRTIO] = { "virtio", 15 },
	[DRIVE_EFIDISK] = { "efidisk", 0 },
	[DRIVE_UNUSED] = { "unused", 255 },
};

static int
drive_key_parse(const char *key, enum drive_bus *bus, unsigned *index)
{
	size_t	 i;

	for (i = 0; i < NELEM(drive_buses); i++) {
		if (parse_index(key, drive_buses[i].prefix, drive_buses[i].max,
		    index) == 0) {
			*bus = (enum drive_bus)i;
			return 0;
		}
	}
	return -1;
}

int
is_drive_key(const char *key)
{
	enum drive_bus	 bus;
	unsigned	 index;

	return strcmp(key, "cdrom") == 0 ||
	    drive_key_parse(key, &bus, &index) == 0;
}

static int
is_disk_bus(enum drive_bus bus)
{
	return bus == DRIVE_IDE || bus == DRIVE_SATA || bus == DRIVE_SCSI ||
	    bus == DRIVE_VIRTIO;
}

const char *
drive_get(const struct drive *d, const char *key)
{
	return propstr_get(&d->opts, key);
}

const char *
drive_volid(const struct drive *d)
{
	return d->file_kind == DRIVE_FILE_VOLUME ? drive_get(d, "file") :
	    NULL;
}

int
print_drive(const struct drive *d, char *buf, size_t len)
{
	return propstr_print(&d->opts, buf, len);
}

int
drive_set(struct drive *d, const char *key, const char *value, char *err,
    size_t errlen)
{
	struct drive	*tmp;
	char		 buf[PRINT_MAX], safe[SAFE_BUF];
	int		 i, rc;

	i = prop_lookup(&drive_schema, key, 1U << d->bus);
	if (i == -1 || drive_keys[i].type == PT_ALIAS ||
	    (drive_keys[i].flags & PK_DROPPED)) {
		set_err(err, errlen, "unknown key '%s' for %s",
		    safe_str(key, safe), d->key);
		return -1;
	}
	if (value != NULL && (value[0] == '\0' || strchr(value, ','))) {
		set_err(err, errlen, "invalid value '%s' for '%s': empty or "
		    "with a ','", safe_str(value, safe), key);
		return -1;
	}
	if (propstr_print_over(&d->opts, i, value, buf, sizeof(buf)) == -1) {
		set_err(err, errlen, "drive %s is too long", d->key);
		return -1;
	}
	if ((tmp = malloc(sizeof(*tmp))) == NULL) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	if ((rc = parse_drive(d->key, buf, 0, tmp, err, errlen)) == 0)
		*d = *tmp;
	free(tmp);
	return rc;
}

/* The cross-key rules of parse_drive (Drive.pm). */
static int
drive_check_throttle(const struct drive *d, char *err, size_t errlen)
{
	static const char *const obsolete[] = { "bps", "bps_rd", "bps_wr" };
	static const char *const needs[][2] = {
		{ "mbps_max", "mbps" }, { "mbps_rd_max", "mbps_rd" },
		{ "mbps_wr_max", "mbps_wr" },
		{ "bps_max_length", "mbps_max" },
		{ "bps_rd_max_length", "mbps_rd_max" },
		{ "bps_wr_max_length", "mbps_wr_max" },
		{ "iops_max_length", "iops_max" },
		{ "iops_rd_max_length", "iops_rd_max" },
		{ "iops_wr_max_length", "iops_wr_max" },
	};
	static const char *const excludes[][2] = {
		{ "mbps", "mbps_rd" }, { "mbps", "mbps_wr" },
		{ "iops", "iops_rd" }, { "iops", "iops_wr" },
	};
	size_t	 i;

	for (i = 0; i < NELEM(obsolete); i++) {
		if (drive_get(d, obsolete[i]) == NULL)
			continue;
		set_err(err, errlen, "obsolete option '%s': use m%s in MB/s",
		    obsolete[i], obsolete[i]);
		return -1;
	}
	for (i = 0; i < NELEM(needs); i++) {
		if (perl_true(drive_get(d, needs[i][0])) &&
		    !perl_true(drive_get(d, needs[i][1]))) {
			set_err(err, errlen, "option '%s' requires '%s'",
			    needs[i][0], needs[i][1]);
			return -1;
		}
	}
	for (i = 0; i < NELEM(excludes); i++) {
		if (perl_true(drive_get(d, excludes[i][0])) &&
		    perl_true(drive_get(d, excludes[i][1]))) {
			set_err(err, errlen, "options '%s' and '%s' exclude "
			    "each other", excludes[i][0], excludes[i][1]);
			return -1;
		}
	}
	return 0;
}

static int
drive_check_cdrom(struct drive *d, char *err, size_t errlen)
{
	const char	*media = drive_get(d, "media");

	d->cdrom = media != NULL && strcmp(media, "cdrom") == 0;
	if (!d->cdrom)
		return 0;
	if (d->bus == DRIVE_VIRTIO) {
		set_err(err, errlen, "a virtio drive cannot be a CD-ROM");
		return -1;
	}
	if (perl_true(drive_get(d, "snapshot")) ||
	    perl_true(drive_get(d, "format"))) {
		set_err(err, errlen, "a CD-ROM takes no snapshot or format");
		return -1;
	}
	return 0;
}

/*
 * A bare file name (filename_to_volume_id): local:<vmid>/<name>, or
 * local:iso/<name> for a CD-ROM.
 */
static int
drive_rewrite_legacy(struct drive *d, const char *file, uint32_t vmid,
    char *err, size_t errlen)
{
	char	 volid[PRINT_MAX], safe[SAFE_BUF];
	int	 n;

	if (vmid == 0) {
		set_err(err, errlen, "file '%s' names no storage",
		    safe_str(file, safe));
		return -1;
	}
	if (d->cdrom)
		n = snprintf(volid, sizeof(volid), "local:iso/%s", file);
	else
		n = snprintf(volid, sizeof(volid), "local:%u/%s", vmid, file);
	if (n < 0 || (size_t)n >= sizeof(volid)) {
		set_err(err, errlen, "file name is too long");
		return -1;
	}
	if (drive_set(d, "file", volid, err, errlen) == -1)
		return -1;
	d->file_kind = DRIVE_FILE_VOLUME;
	return 0;
}

/*
 * file: pve-volume-id-or-qm-path, then for the four buses the rules of
 * filename_to_volume_id.  unusedN takes a volume ID only.
 */
static int
drive_check_file(struct drive *d, uint32_t vmid, char *err, size_t errlen)
{
	const char	*file = drive_get(d, "file");
	char		 safe[SAFE_BUF];

	if (d->bus != DRIVE_UNUSED && strcmp(file, "none") == 0)
		d->file_kind = DRIVE_FILE_NONE;
	else if (d->bus != DRIVE_UNUSED && strcmp(file, "cdrom") == 0)
		d->file_kind = DRIVE_FILE_CDROM;
	else if (d->bus != DRIVE_UNUSED && file[0] == '/') {
		d->file_kind = DRIVE_FILE_PATH;
		if (is_disk_bus(d->bus) && (strncmp(file, "/dev/", 5) != 0 ||
		    file[5] == '\0')) {
			set_err(err, errlen, "path '%s' is not under /dev/",
			    safe_str(file, safe));
			return -1;
		}
	} else if (check_volume_id(file) == NULL)
		d->file_kind = DRIVE_FILE_VOLUME;
	else if (is_disk_bus(d->bus) && strpbrk(file, ":/") == NULL)
		return drive_rewrite_legacy(d, file, vmid, err, errlen);
	else {
		set_err(err, errlen, "invalid volume ID '%s'",
		    safe_str(file, safe));
		return -1;
	}
	return 0;
}

int
parse_drive(const char *key, const char *value, uint32_t vmid,
    struct drive *d, char *err, size_t errlen)
{
	const char	*size;
	char		 safe[SAFE_BUF];

	memset(d, 0, sizeof(*d));
	if (strcmp(key, "cdrom") == 0)
		key = "ide2";
	if (drive_key_parse(key, &d->bus, &d->index) == -1) {
		set_err(err, errlen, "'%s' is not a supported drive key",
		    safe_str(key, safe));
		return -1;
	}
	strlcpy(d->key, key, sizeof(d->key));
	if (propstr_parse_mask(&d->opts, &drive_schema, 1U << d->bus, value,
	    err, errlen) == -1)
		return -1;
	if (drive_check_throttle(d, err, errlen) == -1 ||
	    drive_check_cdrom(d, err, errlen) == -1 ||
	    drive_check_file(d, vmid, err, errlen) == -1)
		return -1;
	if ((size = drive_get(d, "size")) != NULL)
		d->has_size = parse_size(size, &d->size) == 0;
	return 0;
}

/*
 * NICs
 */

static int
net_int(const struct net *n, const char *key, int unset)
{
	const char	*v = net_get(n, key);

	return v == NULL ? unset : (int)strtol(v, NULL, 10);
}

int
parse_net(const char *key, const char *value, struct net *n, char *err,
    size_t errlen)
{
	char	 safe[SAFE_BUF];

	memset(n, 0, sizeof(*n));
	if (parse_index(key, "net", 31, &n->index) == -1) {
		set_err(err, errlen, "'%s' is not a NIC key (net0 to net31)",
		    safe_str(key, safe));
		return -1;
	}
	if (propstr_parse(&n->opts, &net_schema, value, err, errlen) == -1)
		return -1;
	n->tag = net_int(n, "tag", 0);
	n->mtu = net_int(n, "mtu", 0);
	n->queues = net_int(n, "queues", -1);
	n->firewall = perl_true(net_get(n, "firewall"));
	n->link_down = perl_true(net_get(n, "link_down"));
	return 0;
}

int
print_net(const struct net *n, char *buf, size_t len)
{
	return propstr_print(&n->opts, buf, len);
}

const char *
net_get(const struct net *n, const char *key)
{
	return propstr_get(&n->opts, key);
}

/*
 * The supported config keys: one table for the whole daemon.
 */

enum key_type {
	KT_BOOL,
	KT_INT,		/* \d+, no sign */
	KT_ENUM,
	KT_STRING,
	KT_PROPSTR,
	KT_DRIVE,
	KT_NET,
	KT_DESCRIPTION,	/* '#' lines or "description:" */
};

#define CK_UNQUOTE	0x01	/* upstream strips one pair of '"' */
#define CK_SNAPSHOT	0x02	/* snapshot sections only */

struct config_key {
	const char			*name;	/* prefix if indexed */
	int				 indexed;
	unsigned			 index_max;
	enum key_type			 type;
	unsigned			 flags;
	int64_t				 min;	/* KT_INT */
	int64_t				 max;
	const char *const		*values;	/* KT_ENUM */
	const char			*(*check)(const char *);
	size_t				 maxlen;	/* 0: none */
	const struct propstr_schema	*schema;	/* KT_PROPSTR */
};

static const char *const lock_values[] = {
	"backup", "clone", "create", "migrate", "rollback", "snapshot",
	"snapshot-delete", "suspending", "suspended", NULL
};
static const char *const ostype_values[] = {
	"other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8",
	"win10", "win11", "l24", "l26", "solaris", NULL
};
static const char *const scsihw_values[] = {
	"lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas",
	"pvscsi", NULL
};
static const char *const bios_values[] = { "seabios", "ovmf", NULL };

#define K_BOOL(n)		{ .name = (n), .type = KT_BOOL }
/* Counts without an upstream maximum are capped to fit an int. */
#define K_COUNT(n)		{ .name = (n), .type = KT_INT, .min = 1, \
	.max = INT32_MAX }
#define K_ENUM(n, v)		{ .name = (n), .type = KT_ENUM, \
	.values = (v), .flags = CK_UNQUOTE }
#define K_STR(n, c, len, f)	{ .name = (n), .type = KT_STRING, \
	.check = (c), .maxlen = (len), .flags = (f) }
#define K_PROP(n, s, len, f)	{ .name = (n), .type = KT_PROPSTR, \
	.schema = (s), .maxlen = (len), .flags = (f) }
#define K_DRIVE(n, max)		{ .name = (n), .indexed = 1, \
	.index_max = (max), .type = KT_DRIVE }

/*
 * The keys mtunneld supports, with upstream's schema for each (confdesc
 * in QemuServer.pm).  This table decides what a config may contain.  The
 * QEMU runtime decides what each key does to the guest.
 */
static const struct config_key config_keys[] = {
	K_BOOL("acpi"),
	K_PROP("agent", &agent_schema, 0, 0),
	K_ENUM("bios", bios_values),
	K_PROP("boot", &boot_schema, 0, 0),
	K_COUNT("cores"),
	K_PROP("cpu", &cpu_schema, 0, 0),
	{ .name = "description", .type = KT_DESCRIPTION },
	K_STR("digest", check_digest, 64, 0),
	{ .name = "efidisk0", .type = KT_DRIVE },
	K_DRIVE("ide", 3),
	K_BOOL("kvm"),
	K_BOOL("localtime"),
	K_ENUM("lock", lock_values),
	K_PROP("machine", &machine_schema, 0, 0),
	K_PROP("memory", &memory_schema, 0, 0),
	K_PROP("meta", &meta_schema, 0, 0),
	K_STR("name", check_dns_name, VMCONFIG_NAME_MAX, 0),
	{ .name = "net", .indexed = 1, .index_max = 31, .type = KT_NET },
	K_BOOL("onboot"),
	K_ENUM("ostype", ostype_values),
	K_STR("parent", check_configid, VMCONFIG_SNAPNAME_MAX, 0),
	K_BOOL("protection"),
	K_PROP("rng0", &rng_schema, 0, 0),
	K_DRIVE("sata", 5),
	K_DRIVE("scsi", 30),
	K_ENUM("scsihw", scsihw_values),
	{ .name = "serial", .indexed = 1, .index_max = 3, .type = KT_STRING,
	    .check = check_serial_port, .flags = CK_UNQUOTE },
	K_PROP("smbios1", &smbios1_schema, 512, 0),
	K_COUNT("sockets"),
	K_STR("startup", check_startup, 0, 0),
	K_BOOL("tablet"),
	K_STR("tags", check_tag_list, 0, 0),
	K_DRIVE("unused", 255),
	K_COUNT("vcpus"),
	K_PROP("vga", &vga_schema, 0, 0),
	K_DRIVE("virtio", 15),
	K_STR("vmgenid", check_vmgenid, 0, CK_UNQUOTE),

	/* Snapshot sections only. */
	K_STR("running-nets-host-mtu", check_nets_host_mtu, 0,
	    CK_UNQUOTE | CK_SNAPSHOT),
	K_STR("runningcpu", check_cpu_cmdline, 0, CK_UNQUOTE | CK_SNAPSHOT),
	K_PROP("runningmachine", &machine_schema, 0, CK_SNAPSHOT),
	{ .name = "snaptime", .type = KT_INT, .flags = CK_SNAPSHOT,
	    .min = 0, .max = INT64_MAX },
	K_STR("vmstate", check_volume_id, 0, CK_SNAPSHOT),
};

static const struct config_key *
config_key_lookup(const char *key)
{
	size_t		 i;
	unsigned	 index;

	for (i = 0; i < NELEM(config_keys); i++) {
		if (config_keys[i].indexed) {
			if (parse_index(key, config_keys[i].name,
			    config_keys[i].index_max, &index) == 0)
				return &config_keys[i];
		} else if (strcmp(key, config_keys[i].name) == 0)
			return &config_keys[i];
	}
	return NULL;
}

int
vmconfig_key_supported(const char *key)
{
	const struct config_key	*ck;

	if (strcmp(key, "cdrom") == 0)
		return 1;
	ck = config_key_lookup(key);
	return ck != NULL && !(ck->flags & CK_SNAPSHOT);
}

const struct propstr_schema *
vmconfig_key_schema(const char *key)
{
	const struct config_key	*ck = config_key_lookup(key);

	return ck != NULL && ck->type == KT_PROPSTR ? ck->schema : NULL;
}

/* Upstream's check_type: the result replaces the value. */
static int
check_top_bool(const char *v, char *norm, size_t normlen, char *err,
    size_t errlen)
{
	char	 safe[SAFE_BUF];
	int	 b;

	if ((b = parse_bool(v)) == -1) {
		set_err(err, errlen, "invalid value '%s': not a boolean",
		    safe_str(v, safe));
		return -1;
	}
	strlcpy(norm, b ? "1" : "0", normlen);
	return 0;
}

static int
check_top_int(const struct config_key *ck, const char *v, char *norm,
    size_t normlen, char *err, size_t errlen)
{
	struct prop_key	 key = { .name = ck->name, .type = PT_INT,
	    .flags = PK_RANGE, .min = ck->min, .max = ck->max };
	char		 reason[REASON_MAX], safe[SAFE_BUF];
	int64_t		 n;

	if (check_int_value(&key, v, 0, reason, sizeof(reason)) == -1) {
		set_err(err, errlen, "invalid value '%s': %s",
		    safe_str(v, safe), reason);
		return -1;
	}
	parse_int(v, 0, &n);
	snprintf(norm, normlen, "%" PRId64, n);
	return 0;
}

static int
check_top_string(const struct config_key *ck, const char *v, char *norm,
    size_t normlen, char *err, size_t errlen)
{
	char		 buf[REASON_MAX], safe[SAFE_BUF];
	const char	*reason = NULL;

	if (ck->type == KT_ENUM && !in_list(v, ck->values)) {
		list_values(ck->values, buf, sizeof(buf));
		reason = buf;
	} else if (ck->maxlen > 0 && strlen(v) > ck->maxlen) {
		snprintf(buf, sizeof(buf), "longer than %zu bytes",
		    ck->maxlen);
		reason = buf;
	} else if (ck->check != NULL)
		reason = ck->check(v);
	if (reason != NULL) {
		set_err(err, errlen, "invalid value '%s': %s",
		    safe_str(v, safe), reason);
		return -1;
	}
	strlcpy(norm, v, normlen);
	return 0;
}

/* Drives on the four buses are stored canonically, others as written. */
static int
check_top_drive(const char *key, const char *v, uint32_t vmid, char *norm,
    size_t normlen, char *err, size_t errlen)
{
	struct drive	*d;
	int		 rc = -1;

	if ((d = malloc(sizeof(*d))) == NULL) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	if (parse_drive(key, v, vmid, d, err, errlen) == 0) {
		if (!is_disk_bus(d->bus))
			rc = strlcpy(norm, v, normlen) < normlen ? 0 : -1;
		else
			rc = print_drive(d, norm, normlen);
		if (rc == -1)
			set_err(err, errlen, "value is too long");
	}
	free(d);
	return rc;
}

static int
check_top_propstr(const struct config_key *ck, const char *key,
    const char *v, char *norm, size_t normlen, char *err, size_t errlen)
{
	struct propstr	*ps = NULL;
	struct net	*n = NULL;
	int		 rc;

	if (ck->maxlen > 0 && strlen(v) > ck->maxlen) {
		set_err(err, errlen, "value is longer than %zu bytes",
		    ck->maxlen);
		return -1;
	}
	rc = -1;
	if (ck->type == KT_NET) {
		if ((n = malloc(sizeof(*n))) != NULL)
			rc = parse_net(key, v, n, err, errlen);
		free(n);
	} else {
		if ((ps = malloc(sizeof(*ps))) != NULL)
			rc = propstr_parse(ps, ck->schema, v, err, errlen);
		free(ps);
	}
	if (n == NULL && ps == NULL)
		set_err(err, errlen, "out of memory");
	if (rc == 0)
		strlcpy(norm, v, normlen);
	return rc;
}

/* One pair of surrounding double quotes goes, as upstream: "\"x\"". */
static const char *
unquote(const char *v, char *buf, size_t len)
{
	size_t	 n = strlen(v);

	if (n < 2 || v[0] != '"' || v[n - 1] != '"' || n - 2 >= len)
		return v;
	memcpy(buf, v + 1, n - 2);
	buf[n - 2] = '\0';
	return buf;
}

static int
check_key_value(const struct config_key *ck, const char *key, const char *v,
    uint32_t vmid, char *norm, size_t normlen, char *err, size_t errlen)
{
	char	 unquoted[VMCONFIG_VALUE_MAX + 1];

	if (strlen(v) > VMCONFIG_VALUE_MAX) {
		set_err(err, errlen, "value is longer than %d bytes",
		    VMCONFIG_VALUE_MAX);
		return -1;
	}
	if (strpbrk(v, "\r\n") != NULL) {
		set_err(err, errlen, "value contains a line break");
		return -1;
	}
	if (ck->flags & CK_UNQUOTE)
		v = unquote(v, unquoted, sizeof(unquoted));
	switch (ck->type) {
	case KT_BOOL:
		return check_top_bool(v, norm, normlen, err, errlen);
	case KT_INT:
		return check_top_int(ck, v, norm, normlen, err, errlen);
	case KT_ENUM:
	case KT_STRING:
		return check_top_string(ck, v, norm, normlen, err, errlen);
	case KT_PROPSTR:
	case KT_NET:
		return check_top_propstr(ck, key, v, norm, normlen, err,
		    errlen);
	case KT_DRIVE:
		return check_top_drive(key, v, vmid, norm, normlen, err,
		    errlen);
	case KT_DESCRIPTION:
		break;
	}
	set_err(err, errlen, "the description is written as '#' lines");
	return -1;
}

int
vmconfig_check_value(const char *key, const char *value, uint32_t vmid,
    char *norm, size_t normlen, char *err, size_t errlen)
{
	const struct config_key	*ck;
	char			 safe[SAFE_BUF];

	if (strcmp(key, "cdrom") == 0)
		key = "ide2";
	ck = config_key_lookup(key);
	if (ck == NULL || (ck->flags & CK_SNAPSHOT) ||
	    ck->type == KT_DESCRIPTION) {
		set_err(err, errlen, "unsupported config key '%s'",
		    safe_str(key, safe));
		return -2;
	}
	return check_key_value(ck, key, value, vmid, norm, normlen, err,
	    errlen);
}

/*
 * Sections: entries in an array sorted by key.
 */

static struct vmconfig_entry *
section_find(const struct vmconfig_section *sec, const char *key,
    size_t *pos)
{
	size_t	 lo = 0, hi = sec->nentries, mid;
	int	 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(key, sec->entries[mid].key);
		if (c == 0) {
			if (pos != NULL)
				*pos = mid;
			return &sec->entries[mid];
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (pos != NULL)
		*pos = lo;
	return NULL;
}

const char *
vmconfig_section_get(const struct vmconfig_section *sec, const char *key)
{
	struct vmconfig_entry	*e = section_find(sec, key, NULL);

	return e != NULL ? e->value : NULL;
}

/* Returns 0, -1 when memory ran out, -2 at VMCONFIG_KEYS_MAX. */
static int
section_set(struct vmconfig_section *sec, const char *key, const char *value)
{
	struct vmconfig_entry	*e, *entries;
	char			*v, *k;
	size_t			 pos;

	if ((v = strdup(value)) == NULL)
		return -1;
	if ((e = section_find(sec, key, &pos)) != NULL) {
		free(e->value);
		e->value = v;
		return 0;
	}
	if (sec->nentries >= VMCONFIG_KEYS_MAX) {
		free(v);
		return -2;
	}
	entries = reallocarray(sec->entries, sec->nentries + 1,
	    sizeof(*entries));
	if (entries == NULL || (k = strdup(key)) == NULL) {
		if (entries != NULL)
			sec->entries = entries;
		free(v);
		return -1;
	}
	sec->entries = entries;
	memmove(&entries[pos + 1], &entries[pos],
	    (sec->nentries - pos) * sizeof(*entries));
	entries[pos].key = k;
	entries[pos].value = v;
	sec->nentries++;
	return 0;
}

static int
section_del(struct vmconfig_section *sec, const char *key)
{
	size_t	 pos;

	if (section_find(sec, key, &pos) == NULL)
		return -1;
	free(sec->entries[pos].key);
	free(sec->entries[pos].value);
	memmove(&sec->entries[pos], &sec->entries[pos + 1],
	    (sec->nentries - pos - 1) * sizeof(sec->entries[0]));
	sec->nentries--;
	return 0;
}

/* Empty the section, keeping its kind and name. */
static void
section_clear(struct vmconfig_section *sec)
{
	size_t	 i;

	for (i = 0; i < sec->nentries; i++) {
		free(sec->entries[i].key);
		free(sec->entries[i].value);
	}
	free(sec->entries);
	free(sec->description);
	sec->entries = NULL;
	sec->nentries = 0;
	sec->description = NULL;
}

static void
section_free(struct vmconfig_section *sec)
{
	section_clear(sec);
	free(sec->name);
	sec->name = NULL;
}

static void
sections_free(struct vmconfig_section **list, size_t *n)
{
	size_t	 i;

	for (i = 0; i < *n; i++)
		section_free(&(*list)[i]);
	free(*list);
	*list = NULL;
	*n = 0;
}

/* A section of list by name, or NULL with its sorted position in *pos. */
static struct vmconfig_section *
sections_find(struct vmconfig_section *list, size_t n, const char *name,
    size_t *pos)
{
	size_t	 i;
	int	 c;

	for (i = 0; i < n; i++) {
		if ((c = strcmp(name, list[i].name)) == 0)
			break;
		if (c < 0) {
			*pos = i;
			return NULL;
		}
	}
	*pos = i;
	return i < n ? &list[i] : NULL;
}

static struct vmconfig_section *
sections_insert(struct vmconfig_section **list, size_t *n, size_t pos,
    enum vmconfig_section_kind kind, const char *name)
{
	struct vmconfig_section	*l;
	char			*copy;

	if ((copy = strdup(name)) == NULL)
		return NULL;
	if ((l = reallocarray(*list, *n + 1, sizeof(*l))) == NULL) {
		free(copy);
		return NULL;
	}
	*list = l;
	memmove(&l[pos + 1], &l[pos], (*n - pos) * sizeof(*l));
	memset(&l[pos], 0, sizeof(*l));
	l[pos].kind = kind;
	l[pos].name = copy;
	(*n)++;
	return &l[pos];
}

void
vmconfig_init(struct vmconfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->main.kind = VMCONFIG_MAIN;
}

void
vmconfig_free(struct vmconfig *cfg)
{
	section_free(&cfg->main);
	if (cfg->pending != NULL) {
		section_free(cfg->pending);
		free(cfg->pending);
	}
	sections_free(&cfg->snapshots, &cfg->nsnapshots);
	sections_free(&cfg->specials, &cfg->nspecials);
	vmconfig_init(cfg);
}

/*
 * Description text (encode_text and decode_text of pve-common)
 */

static int
hex_value(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c - 'A' + 10;
}

/* %XX in either case becomes a byte, any other '%' stays.  Returns len. */
static size_t
percent_decode(const char *s, size_t len, char *out)
{
	size_t	 i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len &&
		    is_hex((unsigned char)s[i + 1]) &&
		    is_hex((unsigned char)s[i + 2])) {
			out[o++] = (char)(hex_value(s[i + 1]) * 16 +
			    hex_value(s[i + 2]));
			i += 2;
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return o;
}

/*
 * Check UTF-8 (no overlong forms, no surrogates, at most U+10FFFF) and
 * count its characters.  Returns 0, or -1 if it is not valid.
 */
static int
utf8_count(const unsigned char *s, size_t len, size_t *nchars)
{
	size_t		 i = 0, n = 0, k, need;
	uint32_t	 cp, min;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			n++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			need = 1; cp = s[i] & 0x1f; min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			need = 2; cp = s[i] & 0x0f; min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			need = 3; cp = s[i] & 0x07; min = 0x10000;
		} else
			return -1;
		if (len - i <= need)
			return -1;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		i += need + 1;
		n++;
	}
	*nchars = n;
	return 0;
}

static size_t
rtrim_len(const char *s, size_t len)
{
	while (len > 0 && is_space((unsigned char)s[len - 1]))
		len--;
	return len;
}

/* Description text: valid UTF-8 without NUL, at most max characters. */
static const char *
check_description(const char *s, size_t len, size_t max)
{
	size_t	 nchars;

	if (memchr(s, '\0', len) != NULL)
		return "the description contains a NUL byte (%00)";
	if (utf8_count((const unsigned char *)s, len, &nchars) == -1)
		return "the description is not valid UTF-8";
	if (nchars > max)
		return "the description is longer than 8192 characters";
	return NULL;
}

/*
 * Parser (parse_vm_config)
 */

struct parser {
	struct vmconfig		*cfg;
	int			 strict;
	uint32_t		 vmid;
	size_t			 lineno;
	struct vmconfig_section	*section;	/* NULL: unknown */
	char			*descr;		/* being read */
	size_t			 descrlen;
	char			*err;
	size_t			 errlen;
};

static int
parser_warn(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
parser_fail(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A warning: the error when strict, otherwise counted, the first kept
 * and the first VMCONFIG_WARN_LOG_MAX logged.  Returns -1 when strict.
 */
static int
parser_warn(struct parser *p, const char *fmt, ...)
{
	struct vmconfig	*cfg = p->cfg;
	char		 msg[VMCONFIG_ERR_MAX];
	va_list		 ap;
	int		 n;

	n = snprintf(msg, sizeof(msg), "line %zu: ", p->lineno);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (p->strict) {
		set_err(p->err, p->errlen, "%s", msg);
		return -1;
	}
	if (cfg->nwarnings == 0)
		strlcpy(cfg->warning, msg, sizeof(cfg->warning));
	if (cfg->nwarnings < VMCONFIG_WARN_LOG_MAX)
		log_warnx("vm config: %s", msg);
	cfg->nwarnings++;
	return 0;
}

static int
parser_fail(struct parser *p, const char *fmt, ...)
{
	char	 msg[VMCONFIG_ERR_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(p->err, p->errlen, "line %zu: %s", p->lineno, msg);
	return -1;
}

/* Append decoded text to the description, with a newline for '#'. */
static int
descr_append(struct parser *p, const char *text, size_t len, int newline)
{
	const char	*reason;
	char		*dec, *d;
	size_t		 n;

	if ((dec = malloc(len + 1)) == NULL)
		return parser_fail(p, "out of memory");
	n = percent_decode(text, len, dec);
	/* The length is checked at the end of the section, once trimmed. */
	if ((reason = check_description(dec, n, SIZE_MAX)) != NULL) {
		free(dec);
		return parser_warn(p, "%s", reason);
	}
	if ((d = realloc(p->descr, p->descrlen + n + 2)) == NULL) {
		free(dec);
		return parser_fail(p, "out of memory");
	}
	memcpy(d + p->descrlen, dec, n);
	p->descrlen += n;
	if (newline)
		d[p->descrlen++] = '\n';
	d[p->descrlen] = '\0';
	p->descr = d;
	free(dec);
	return 0;
}

/* The end of a section: trailing white space goes, then the limit. */
static int
descr_finish(struct parser *p)
{
	const char	*reason;
	char		*d = p->descr;
	size_t		 len;

	if (d == NULL)
		return 0;
	p->descr = NULL;
	len = rtrim_len(d, p->descrlen);
	d[len] = '\0';
	p->descrlen = 0;
	if ((reason = check_description(d, len, VMCONFIG_DESCRIPTION_MAX)) !=
	    NULL) {
		free(d);
		return parser_warn(p, "%s", reason);
	}
	if (p->section == NULL) {
		free(d);
		return 0;
	}
	free(p->section->description);
	p->section->description = d;
	return 0;
}

static int
open_pending(struct parser *p)
{
	struct vmconfig	*cfg = p->cfg;

	if (cfg->pending != NULL) {
		if (parser_warn(p, "duplicate section [PENDING]") == -1)
			return -1;
		section_clear(cfg->pending);
	} else if ((cfg->pending = calloc(1, sizeof(*cfg->pending))) == NULL)
		return parser_fail(p, "out of memory");
	cfg->pending->kind = VMCONFIG_PENDING;
	p->section = cfg->pending;
	return 0;
}

static int
open_named(struct parser *p, enum vmconfig_section_kind kind,
    const char *name)
{
	struct vmconfig		 *cfg = p->cfg;
	struct vmconfig_section	**list = &cfg->snapshots;
	size_t			 *n = &cfg->nsnapshots, pos;
	struct vmconfig_section	 *sec;

	if (kind == VMCONFIG_SPECIAL) {
		list = &cfg->specials;
		n = &cfg->nspecials;
	}
	if ((sec = sections_find(*list, *n, name, &pos)) != NULL) {
		if (parser_warn(p, "duplicate section [%s%s]", kind ==
		    VMCONFIG_SPECIAL ? "special:" : "", name) == -1)
			return -1;
		section_clear(sec);
	} else if (*n >= VMCONFIG_SNAPSHOTS_MAX)
		return parser_fail(p, "more than %d snapshots",
		    VMCONFIG_SNAPSHOTS_MAX);
	else if ((sec = sections_insert(list, n, pos, kind, name)) == NULL)
		return parser_fail(p, "out of memory");
	p->section = sec;
	return 0;
}

/* [special:cloudinit] or [special:fleecing], in any case. */
static int
special_name(const char *name, size_t len, char *out, size_t outlen)
{
	static const char *const specials[] = { "cloudinit", "fleecing" };
	size_t			 i;

	if (len <= 8 || strncasecmp(name, "special:", 8) != 0)
		return 0;
	for (i = 0; i < NELEM(specials); i++) {
		if (len - 8 == strlen(specials[i]) &&
		    strncasecmp(name + 8, specials[i], len - 8) == 0) {
			strlcpy(out, specials[i], outlen);
			return 1;
		}
	}
	return 0;
}

/* [A-Za-z][A-Za-z0-9_-]+, the header rule of a snapshot */
static int
snapshot_syntax(const char *name, size_t len)
{
	size_t	 i;

	if (len < 2 || !is_alpha((unsigned char)name[0]))
		return 0;
	for (i = 1; i < len; i++)
		if (!is_alnum((unsigned char)name[i]) && name[i] != '_' &&
		    name[i] != '-')
			return 0;
	return 1;
}

static int
parse_header(struct parser *p, const char *name, size_t len)
{
	char	 buf[VMCONFIG_SNAPNAME_MAX + 1], safe[SAFE_BUF];

	if (descr_finish(p) == -1)
		return -1;
	p->section = NULL;
	if (len == 7 && strncasecmp(name, "PENDING", 7) == 0)
		return open_pending(p);
	if (special_name(name, len, buf, sizeof(buf)))
		return open_named(p, VMCONFIG_SPECIAL, buf);
	if (len < sizeof(buf) && snapshot_syntax(name, len)) {
		memcpy(buf, name, len);
		buf[len] = '\0';
		return open_named(p, VMCONFIG_SNAPSHOT, buf);
	}
	if (len > VMCONFIG_SNAPNAME_MAX && snapshot_syntax(name, len))
		return parser_warn(p, "snapshot name '%s' is longer than %d "
		    "characters", safe_span(name, len, safe),
		    VMCONFIG_SNAPNAME_MAX);
	return parser_warn(p, "unknown section [%s], skipped until the next "
	    "section", safe_span(name, len, safe));
}

/* "[<name>]" and optional white space: the name in *name and *len. */
static int
header_name(const char *line, size_t len, const char **name, size_t *nlen)
{
	const char	*close;

	if (len == 0 || line[0] != '[')
		return 0;
	if ((close = memchr(line, ']', len)) == NULL)
		return 0;
	if (!all_space(close + 1, len - (size_t)(close + 1 - line)))
		return 0;
	*name = line + 1;
	*nlen = (size_t)(close - line - 1);
	return 1;
}

static int
store_entry(struct parser *p, const char *key, const char *value)
{
	int	 rc;

	if (section_find(p->section, key, NULL) != NULL &&
	    parser_warn(p, "duplicate key '%s'", key) == -1)
		return -1;
	if ((rc = section_set(p->section, key, value)) == -1)
		return parser_fail(p, "out of memory");
	if (rc == -2)
		return parser_fail(p, "more than %d keys in a section",
		    VMCONFIG_KEYS_MAX);
	return 0;
}

static int
parse_special_entry(struct parser *p, const char *key, const char *value)
{
	const char	*reason;
	char		 safe[SAFE_BUF];

	/* Upstream keeps [special:cloudinit] unchecked: it only records. */
	if (strcmp(p->section->name, "cloudinit") == 0)
		return store_entry(p, key, value);
	if (strcmp(key, "fleecing-images") != 0)
		return parser_warn(p, "unsupported config key '%s' in "
		    "[special:fleecing]", key);
	if ((reason = check_volume_id_list(value)) != NULL)
		return parser_warn(p, "%s: invalid value '%s': %s", key,
		    safe_str(value, safe), reason);
	return store_entry(p, key, value);
}

static int
parse_entry(struct parser *p, const char *key, const char *value)
{
	const struct config_key	*ck;
	char			 norm[PRINT_MAX], err[VMCONFIG_ERR_MAX];

	if (p->section->kind == VMCONFIG_SPECIAL)
		return parse_special_entry(p, key, value);
	if (strcmp(key, "cdrom") == 0)
		key = "ide2";
	ck = config_key_lookup(key);
	if (ck == NULL || ck->type == KT_DESCRIPTION ||
	    ((ck->flags & CK_SNAPSHOT) &&
	    p->section->kind != VMCONFIG_SNAPSHOT))
		return parser_warn(p, "unsupported config key '%s'", key);
	if (check_key_value(ck, key, value, p->vmid, norm, sizeof(norm), err,
	    sizeof(err)) == -1)
		return parser_warn(p, "%s: %s", key, err);
	return store_entry(p, key, norm);
}

/* The lines that upstream matches before the generic key: value rule. */
static int
parse_key_line(struct parser *p, const char *key, const char *value)
{
	const char	*reason;
	char		 safe[SAFE_BUF];

	if (strcmp(key, "description") == 0)
		return descr_append(p, value, strlen(value), 0);
	if (strcmp(key, "snapstate") == 0 && (strcmp(value, "prepare") == 0 ||
	    strcmp(value, "delete") == 0)) {
		if (p->section->kind == VMCONFIG_MAIN)
			return 0;
		return store_entry(p, key, value);
	}
	if (strcmp(key, "delete") == 0) {
		if (p->section->kind != VMCONFIG_PENDING)
			return parser_warn(p, "key 'delete' is only allowed "
			    "in [PENDING]");
		if ((reason = check_delete_list(value)) != NULL)
			return parser_warn(p, "delete: invalid value '%s': "
			    "%s", safe_str(value, safe), reason);
		return store_entry(p, key, value);
	}
	return parse_entry(p, key, value);
}

/* "<key>:" then the value with white space trimmed on both ends. */
static int
parse_setting(struct parser *p, const char *line, size_t len)
{
	char		 key[KEY_MAX + 1], safe[SAFE_BUF], *value;
	size_t		 klen = key_span(line, len), vstart, vend;
	int		 rc;

	if (klen == 0 || klen >= len || line[klen] != ':')
		return parser_warn(p, "unable to parse '%s'",
		    safe_span(line, len, safe));
	for (vstart = klen + 1; vstart < len &&
	    is_space((unsigned char)line[vstart]); vstart++)
		;
	vend = rtrim_len(line, len);
	if (vstart >= vend)
		return parser_warn(p, "no value for '%s'",
		    safe_span(line, klen, safe));
	if (klen > KEY_MAX)
		return parser_warn(p, "unsupported config key '%s'",
		    safe_span(line, klen, safe));
	memcpy(key, line, klen);
	key[klen] = '\0';
	if ((value = strndup(line + vstart, vend - vstart)) == NULL)
		return parser_fail(p, "out of memory");
	rc = parse_key_line(p, key, value);
	free(value);
	return rc;
}

static int
parse_line(struct parser *p, const char *line, size_t len)
{
	const char	*name;
	size_t		 nlen;

	if (all_space(line, len))
		return 0;
	if (memchr(line, '\r', len) != NULL)
		return parser_warn(p, "carriage return in the line");
	if (header_name(line, len, &name, &nlen))
		return parse_header(p, name, nlen);
	if (p->section == NULL)
		return 0;
	if (line[0] == '#')
		return descr_append(p, line + 1, len - 1, 1);
	return parse_setting(p, line, len);
}

static void
digest_hex(const char *buf, size_t len, char *out)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;

	out[0] = '\0';
	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha1(), NULL) != 1)
		return;
	for (i = 0; i < mdlen && i < 20; i++)
		snprintf(out + i * 2, 3, "%02x", md[i]);
}

int
vmconfig_parse(struct vmconfig *cfg, const char *buf, size_t len, int strict,
    uint32_t vmid, char *err, size_t errlen)
{
	struct parser	 p;
	const char	*line = buf, *end = buf + len, *nl, *nul;

	vmconfig_init(cfg);
	if (len > VMCONFIG_FILE_MAX) {
		set_err(err, errlen, "config is larger than %d bytes",
		    VMCONFIG_FILE_MAX);
		return -1;
	}
	if ((nul = memchr(buf, '\0', len)) != NULL) {
		set_err(err, errlen, "config contains a NUL byte at offset "
		    "%zu", (size_t)(nul - buf));
		return -1;
	}
	digest_hex(buf, len, cfg->digest);
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.strict = strict;
	p.vmid = vmid;
	p.section = &cfg->main;
	p.err = err;
	p.errlen = errlen;
	for (; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		p.lineno++;
		if (parse_line(&p, line, (size_t)(nl - line)) == -1)
			goto fail;
	}
	if (descr_finish(&p) == -1)
		goto fail;
	return 0;
fail:
	free(p.descr);
	vmconfig_free(cfg);
	return -1;
}

/*
 * Writer (write_vm_config)
 */

struct obuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 error;		/* errno of the first failure */
};

static void
ob_addn(struct obuf *ob, const char *s, size_t n)
{
	size_t	 cap;
	char	*p;

	if (ob->error)
		return;
	if (ob->len + n > VMCONFIG_FILE_MAX) {
		ob->error = EFBIG;
		return;
	}
	if (ob->len + n + 1 > ob->cap) {
		cap = ob->cap == 0 ? 4096 : ob->cap;
		while (cap < ob->len + n + 1)
			cap *= 2;
		if ((p = realloc(ob->p, cap)) == NULL) {
			ob->error = ENOMEM;
			return;
		}
		ob->p = p;
		ob->cap = cap;
	}
	memcpy(ob->p + ob->len, s, n);
	ob->len += n;
	ob->p[ob->len] = '\0';
}

static void
ob_add(struct obuf *ob, const char *s)
{
	ob_addn(ob, s, strlen(s));
}

/* Bytes outside 0x20-0x7e, '%' and ':' become %XX (upper case). */
static void
ob_add_encoded(struct obuf *ob, const char *s, size_t len)
{
	char		 esc[4];
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || c == '%' || c == ':') {
			snprintf(esc, sizeof(esc), "%%%02X", c);
			ob_addn(ob, esc, 3);
		} else
			ob_addn(ob, s + i, 1);
	}
}

/*
 * One '#' line per line of the description.  Trailing empty lines are
 * dropped as Perl's split drops them.  An empty pending description is
 * a lone '#'.
 */
static void
write_description(struct obuf *ob, const char *descr, int pending)
{
	const char	*line, *nl, *end;

	if (descr == NULL)
		return;
	if (descr[0] == '\0') {
		if (pending)
			ob_add(ob, "#\n");
		return;
	}
	end = descr + strlen(descr);
	while (end > descr && end[-1] == '\n')
		end--;
	for (line = descr; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		ob_add(ob, "#");
		ob_add_encoded(ob, line, (size_t)(nl - line));
		ob_add(ob, "\n");
	}
}

/* The file of a drive of the four buses or efidisk0, or NULL. */
static const char *
entry_drive_file(const struct vmconfig_entry *e, struct drive *d)
{
	if (parse_drive(e->key, e->value, 0, d, NULL, 0) == -1 ||
	    d->bus == DRIVE_UNUSED)
		return NULL;
	return drive_get(d, "file");
}

/* Whether some drive of sec uses the volume that unused names. */
static int
volume_in_use(const struct vmconfig_section *sec, const char *volid,
    struct drive *d)
{
	const char	*file;
	size_t		 i;

	if (sec == NULL)
		return 0;
	for (i = 0; i < sec->nentries; i++) {
		if (!is_drive_key(sec->entries[i].key))
			continue;
		file = entry_drive_file(&sec->entries[i], d);
		if (file != NULL && strcmp(file, volid) == 0)
			return 1;
	}
	return 0;
}

/*
 * drive_is_cloudinit: [:/](vm-\d+-)?cloudinit(\.<qemu format>)? at the
 * end of the file.
 */
static int
file_is_cloudinit(const char *file)
{
	const char	*end = file + strlen(file), *dot, *s, *p;
	int		 pass;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			if ((dot = strrchr(file, '.')) == NULL ||
			    !in_list(dot + 1, qemu_formats))
				return 0;
			end = dot;
		}
		if (end - file < 10 || strncmp(end - 9, "cloudinit", 9) != 0)
			continue;
		s = end - 9;
		if (strchr(":/", s[-1]) != NULL)
			return 1;
		if (s[-1] != '-')
			continue;
		for (p = s - 1; p > file && is_digit(p[-1]); p--)
			;
		if (p == s - 1 || p - file < 4 || strncmp(p - 3, "vm-", 3))
			continue;
		if (strchr(":/", p[-4]) != NULL)
			return 1;
	}
	return 0;
}

static int
has_cloudinit(const struct vmconfig_section *main, struct drive *d)
{
	const char	*file;
	size_t		 i;

	for (i = 0; i < main->nentries; i++) {
		if (!is_drive_key(main->entries[i].key))
			continue;
		file = entry_drive_file(&main->entries[i], d);
		if (file != NULL && file_is_cloudinit(file))
			return 1;
	}
	return 0;
}

static int
skip_unused(const struct vmconfig *cfg, const struct vmconfig_entry *e,
    struct drive *d)
{
	unsigned	 index;

	if (parse_index(e->key, "unused", 255, &index) == -1)
		return 0;
	return volume_in_use(&cfg->main, e->value, d) ||
	    volume_in_use(cfg->pending, e->value, d);
}

static void
write_section(struct obuf *ob, const struct vmconfig *cfg,
    const struct vmconfig_section *sec, struct drive *d)
{
	const struct vmconfig_entry	*e;
	size_t				 i;

	write_description(ob, sec->description,
	    sec->kind == VMCONFIG_PENDING);
	for (i = 0; i < sec->nentries; i++) {
		e = &sec->entries[i];
		if (strcmp(e->key, "digest") == 0)
			continue;
		if (sec->kind == VMCONFIG_MAIN && skip_unused(cfg, e, d))
			continue;
		ob_add(ob, e->key);
		ob_add(ob, ": ");
		ob_add(ob, e->value);
		ob_add(ob, "\n");
	}
}

static void
write_sections(struct obuf *ob, const struct vmconfig *cfg, struct drive *d)
{
	const struct vmconfig_section	*sec;
	size_t				 i;

	write_section(ob, cfg, &cfg->main, d);
	sec = cfg->pending;
	if (sec != NULL && (sec->nentries > 0 || sec->description != NULL)) {
		ob_add(ob, "\n[PENDING]\n");
		write_section(ob, cfg, sec, d);
	}
	for (i = 0; i < cfg->nspecials; i++) {
		sec = &cfg->specials[i];
		if (strcmp(sec->name, "cloudinit") == 0 &&
		    !has_cloudinit(&cfg->main, d))
			continue;
		ob_add(ob, "\n[special:");
		ob_add(ob, sec->name);
		ob_add(ob, "]\n");
		write_section(ob, cfg, sec, d);
	}
	for (i = 0; i < cfg->nsnapshots; i++) {
		ob_add(ob, "\n[");
		ob_add(ob, cfg->snapshots[i].name);
		ob_add(ob, "]\n");
		write_section(ob, cfg, &cfg->snapshots[i], d);
	}
}

int
vmconfig_write(const struct vmconfig *cfg, char **out, size_t *len)
{
	struct obuf	 ob = { NULL, 0, 0, 0 };
	struct drive	*d;

	*out = NULL;
	*len = 0;
	if ((d = malloc(sizeof(*d))) == NULL)
		return -1;
	ob_add(&ob, "");
	write_sections(&ob, cfg, d);
	free(d);
	if (ob.error) {
		free(ob.p);
		errno = ob.error;
		return -1;
	}
	*out = ob.p;
	*len = ob.len;
	return 0;
}

/*
 * Main-section access
 */

const char *
vmconfig_get(const struct vmconfig *cfg, const char *key)
{
	if (strcmp(key, "description") == 0)
		return cfg->main.description;
	if (strcmp(key, "cdrom") == 0)
		key = "ide2";
	return vmconfig_section_get(&cfg->main, key);
}

static int
set_description(struct vmconfig *cfg, const char *text, char *err,
    size_t errlen)
{
	const char	*reason;
	size_t		 len = rtrim_len(text, strlen(text));
	char		*copy;

	if ((reason = check_description(text, len, VMCONFIG_DESCRIPTION_MAX)) !=
	    NULL) {
		set_err(err, errlen, "%s", reason);
		return -1;
	}
	if ((copy = strndup(text, len)) == NULL) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	free(cfg->main.description);
	cfg->main.description = copy;
	return 0;
}

int
vmconfig_set(struct vmconfig *cfg, const char *key, const char *value,
    char *err, size_t errlen)
{
	char	 norm[PRINT_MAX];
	int	 rc;

	if (strcmp(key, "description") == 0)
		return set_description(cfg, value, err, errlen);
	if (strcmp(key, "cdrom") == 0)
		key = "ide2";
	if (vmconfig_check_value(key, value, 0, norm, sizeof(norm), err,
	    errlen) != 0)
		return -1;
	if ((rc = section_set(&cfg->main, key, norm)) == 0)
		return 0;
	if (rc == -2)
		set_err(err, errlen, "more than %d keys", VMCONFIG_KEYS_MAX);
	else
		set_err(err, errlen, "out of memory");
	return -1;
}

int
vmconfig_del(struct vmconfig *cfg, const char *key)
{
	if (strcmp(key, "description") == 0) {
		if (cfg->main.description == NULL)
			return -1;
		free(cfg->main.description);
		cfg->main.description = NULL;
		return 0;
	}
	if (strcmp(key, "cdrom") == 0)
		key = "ide2";
	return section_del(&cfg->main, key);
}

void
vmconfig_strip_for_migration(struct vmconfig *cfg)
{
	struct vmconfig_section	*fleecing;
	size_t			 pos;

	section_del(&cfg->main, "lock");
	section_del(&cfg->main, "digest");
	section_del(&cfg->main, "parent");
	if (cfg->pending != NULL) {
		section_free(cfg->pending);
		free(cfg->pending);
		cfg->pending = NULL;
	}
	sections_free(&cfg->snapshots, &cfg->nsnapshots);
	fleecing = sections_find(cfg->specials, cfg->nspecials, "fleecing",
	    &pos);
	if (fleecing != NULL) {
		section_free(fleecing);
		memmove(fleecing, fleecing + 1,
		    (cfg->nspecials - pos - 1) * sizeof(*fleecing));
		cfg->nspecials--;
	}
}

int
vmconfig_foreach_drive(const struct vmconfig *cfg,
    int (*cb)(const char *, const struct drive *, void *), void *arg)
{
	const struct vmconfig_entry	*e;
	struct drive			*d;
	size_t				 i;
	int				 rc = 0;

	if ((d = malloc(sizeof(*d))) == NULL)
		return -1;
	for (i = 0; i < cfg->main.nentries && rc == 0; i++) {
		e = &cfg->main.entries[i];
		if (!is_drive_key(e->key))
			continue;
		if (parse_drive(e->key, e->value, 0, d, NULL, 0) == -1) {
			errno = EINVAL;
			rc = -1;
			break;
		}
		rc = cb(e->key, d, arg);
	}
	free(d);
	return rc;
}
