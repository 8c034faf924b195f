/*
 * The control commands and the tunnel's state of one migration.  After
 * the schema check, every command asks the parent to check the lock the
 * VM config holds (IMSG_TUNNEL_LOCK_CHECK: "create" before a successful
 * config, "migrate" after it, none after unlock).  Then its handler
 * replies at once, or sends one request and replies when the
 * IMSG_TUNNEL_RESULT with that reqid arrives.  Only one request is
 * outstanding at a time.
 *
 * The state here (the volumes this migration allocated or imported,
 * whether an import runs) only decides which requests the tunnel sends.
 * The parent and priv check every request again, and cleanup comes from
 * priv's journal, never from this state.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>
#include <jansson.h>

#include "imsg.h"
#include "log.h"
#include "mtunneld.h"
#include "qemuargs.h"
#include "storagecfg.h"
#include "vmconfig.h"
#include "tunnel.h"

#define TUNNEL_API_VERSION	2
#define TUNNEL_API_AGE		0
#define CMD_VOLUMES_MAX		1024	/* per set, far above any VM's disks */
#define CMD_ERR_MAX		1024
#define DRIVE_KEY_MAX		16

#define NELEM(a)		(sizeof(a) / sizeof((a)[0]))

/* A command's next step, given the result fields.  -1: a violation. */
typedef int	(*cmd_done_fn)(json_t *, char *, size_t);

struct command {
	const char		*name;
	const struct schema	*schema;	/* NULL: not checked yet */
	void			(*run)(json_t *);	/* NULL: refused */
};

struct volset {
	char	**volids;
	size_t	  count;
};

/* The drive string disk returned for a volume, which start must repeat. */
struct nbd_volume {
	char	*volid;
	char	*drivestr;
};

static struct {
	uint32_t	 vmid;
	cmd_send_fn	 send;
	uint32_t	 last_reqid;
	char		 lock[LOCK_NAME_MAX];	/* the config's expected lock */
	int		 import_running;
	struct volset	 allocated;	/* by disk */
	struct volset	 imported;	/* by a complete query-disk-import */
	struct nbd_volume *nbd;		/* by disk, for start */
	size_t		 nnbd;
} state;

/* The command being handled, from its line until its reply. */
static struct {
	const struct command	*cmd;
	json_t			*params;
	uint32_t		 reqid;		/* 0: nothing outstanding */
	cmd_done_fn		 done;
	char			 drive_key[DRIVE_KEY_MAX];	/* disk */
	char			*drive_opts;			/* disk */
	int			 cleanup;			/* quit */
	char			 path[API_PATH_MAX];		/* ticket */
	json_t			*drives;			/* start */
} current;

static void	cmd_version(json_t *);
static void	cmd_config(json_t *);
static void	cmd_disk(json_t *);
static void	cmd_disk_import(json_t *);
static void	cmd_query_disk_import(json_t *);
static void	cmd_bwlimit(json_t *);
static void	cmd_ticket(json_t *);
static void	cmd_unlock(json_t *);
static void	cmd_quit(json_t *);
static void	cmd_start(json_t *);
static void	cmd_resume(json_t *);
static void	cmd_stop(json_t *);
static void	cmd_nbdstop(json_t *);
static void	cmd_fstrim(json_t *);

/*
 * Every command of the protocol.  start, fstrim, resume, stop and nbdstop
 * need the QEMU runtime and are refused until it exists.
 * TODO: start's schema (start_params, migrate_opts, nbd entries checked
 * against what disk allocated) comes with its handler.
 */
static const struct command commands[] = {
	{ "version", &schema_none, cmd_version },
	{ "config", &schema_config, cmd_config },
	{ "disk", &schema_disk, cmd_disk },
	{ "disk-import", &schema_disk_import, cmd_disk_import },
	{ "query-disk-import", &schema_none, cmd_query_disk_import },
	{ "bwlimit", &schema_bwlimit, cmd_bwlimit },
	{ "start", &schema_start, cmd_start },
	{ "fstrim", &schema_none, cmd_fstrim },
	{ "ticket", &schema_ticket, cmd_ticket },
	{ "resume", &schema_none, cmd_resume },
	{ "stop", &schema_none, cmd_stop },
	{ "nbdstop", &schema_none, cmd_nbdstop },
	{ "unlock", &schema_none, cmd_unlock },
	{ "quit", &schema_quit, cmd_quit },
};

/*
 * Load what the handlers would otherwise load on first use, before the
 * seccomp filter forbids opening files: jansson's hash seed (from
 * /dev/urandom) and OpenSSL's configuration and SHA-1, which the VM
 * config parser uses for its digest.  Without this, the first JSON object
 * or config ends the process with SIGSYS.
 */
void
cmd_preload(void)
{
	static const char	 conf[] = "memory: 512\n";
	struct vmconfig		 cfg;
	char			 err[VMCONFIG_ERR_MAX];

	json_object_seed(0);
	if (vmconfig_parse(&cfg, conf, sizeof(conf) - 1, 1, state.vmid, err,
	    sizeof(err)) == -1)
		fatalx("cannot parse a VM config: %s", err);
	vmconfig_free(&cfg);
}

static const struct command *
cmd_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < NELEM(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int
cmd_known(const char *name)
{
	return cmd_find(name) != NULL;
}

int
cmd_pending(void)
{
	return current.cmd != NULL;
}

const char *
cmd_expected_lock(void)
{
	return state.lock;
}

static int
volset_has(const struct volset *set, const char *volid)
{
	size_t	 i;

	for (i = 0; i < set->count; i++)
		if (strcmp(set->volids[i], volid) == 0)
			return 1;
	return 0;
}

static int
volset_add(struct volset *set, const char *volid)
{
	char	**list;

	if (volset_has(set, volid))
		return 0;
	if (set->count == CMD_VOLUMES_MAX)
		return -1;
	if ((list = reallocarray(set->volids, set->count + 1,
	    sizeof(*list))) == NULL)
		fatal("reallocarray");
	set->volids = list;
	if ((list[set->count] = strdup(volid)) == NULL)
		fatal("strdup");
	set->count++;
	return 0;
}

/* Drop what the finished command kept. */
static void
cmd_end(void)
{
	json_decref(current.params);
	json_decref(current.drives);
	free(current.drive_opts);
	memset(&current, 0, sizeof(current));
}

static void
volset_clear(struct volset *set)
{
	size_t	 i;

	for (i = 0; i < set->count; i++)
		free(set->volids[i]);
	free(set->volids);
	set->volids = NULL;
	set->count = 0;
}

static void
nbd_clear(void)
{
	size_t	 i;

	for (i = 0; i < state.nnbd; i++) {
		free(state.nbd[i].volid);
		free(state.nbd[i].drivestr);
	}
	free(state.nbd);
	state.nbd = NULL;
	state.nnbd = 0;
}

static const struct nbd_volume *
nbd_find(const char *volid)
{
	size_t	 i;

	for (i = 0; i < state.nnbd; i++)
		if (strcmp(state.nbd[i].volid, volid) == 0)
			return &state.nbd[i];
	return NULL;
}

static void
nbd_add(const char *volid, const char *drivestr)
{
	struct nbd_volume	*list;

	if (nbd_find(volid) != NULL)
		return;
	if ((list = reallocarray(state.nbd, state.nnbd + 1,
	    sizeof(*list))) == NULL)
		fatal("reallocarray");
	state.nbd = list;
	if ((list[state.nnbd].volid = strdup(volid)) == NULL ||
	    (list[state.nnbd].drivestr = strdup(drivestr)) == NULL)
		fatal("strdup");
	state.nnbd++;
}

/* Start the state of a new migration: nothing allocated, lock "create". */
void
cmd_init(uint32_t vmid, cmd_send_fn send)
{
	cmd_end();
	volset_clear(&state.allocated);
	volset_clear(&state.imported);
	nbd_clear();
	memset(&state, 0, sizeof(state));
	state.vmid = vmid;
	state.send = send;
	strlcpy(state.lock, "create", sizeof(state.lock));
}

/* Reply with result (consumed, NULL for none) and log detail, if any. */
static void
cmd_succeed(json_t *result, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
cmd_succeed(json_t *result, const char *fmt, ...)
{
	char	 detail[CMD_ERR_MAX];
	va_list	 ap;

	detail[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	log_info("command '%s' succeeded%s%s", current.cmd->name,
	    detail[0] != '\0' ? ": " : "", detail);
	control_reply_ok(result);
	cmd_end();
}

/*
 * Reply "failed to handle '<cmd>' command - <text>".  Like upstream's
 * errors, the text usually ends in a newline.  The log line drops that
 * newline and shows inner ones as spaces.
 */
static void
cmd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
cmd_fail(const char *fmt, ...)
{
	char	 text[CONTROL_MSG_MAX], logtext[CONTROL_MSG_MAX];
	size_t	 i, len;
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	len = strlcpy(logtext, text, sizeof(logtext));
	if (len >= sizeof(logtext))
		len = sizeof(logtext) - 1;
	while (len > 0 && logtext[len - 1] == '\n')
		logtext[--len] = '\0';
	for (i = 0; i < len; i++)
		if (logtext[i] == '\n')
			logtext[i] = ' ';
	log_warnx("command '%s' failed: %s", current.cmd->name, logtext);
	control_reply_error("failed to handle '%s' command - %s",
	    current.cmd->name, text);
	cmd_end();
}

/* Send one request.  cmd_result() passes its result fields to done. */
static void
cmd_request(uint32_t type, const struct iovec *iov, int iovcnt,
    cmd_done_fn done)
{
	if (++state.last_reqid == 0)
		state.last_reqid = 1;
	current.reqid = state.last_reqid;
	current.done = done;
	if (state.send(type, current.reqid, iov, iovcnt) == -1)
		fatalx("cannot queue request type %u to the parent", type);
}

static int
cmd_lock_done(json_t *result, char *err, size_t errlen)
{
	current.cmd->run(current.params);
	return 0;
}

/*
 * Run a known command (cmd already removed from params): validate, then
 * check the lock and run the handler.  params is kept until the reply.
 */
void
cmd_dispatch(const char *name, json_t *params)
{
	struct tunnel_lock_check	 check;
	struct iovec			 iov;
	char				 err[CONTROL_MSG_MAX];

	if (current.cmd != NULL)
		fatalx("command '%s' dispatched while '%s' waits for the "
		    "parent", name, current.cmd->name);
	if ((current.cmd = cmd_find(name)) == NULL)
		fatalx("unknown command '%s' dispatched", name);
	current.params = json_incref(params);
	log_info("received command '%s'", current.cmd->name);

	if (current.cmd->schema != NULL &&
	    schema_validate(current.cmd->schema, params, err,
	    sizeof(err)) == -1) {
		cmd_fail("%s", err);
		return;
	}
	if (current.cmd->run == NULL) {
		cmd_fail("not supported by this mtunneld version\n");
		return;
	}
	memset(&check, 0, sizeof(check));
	strlcpy(check.expected, state.lock, sizeof(check.expected));
	iov.iov_base = &check;
	iov.iov_len = sizeof(check);
	cmd_request(IMSG_TUNNEL_LOCK_CHECK, &iov, 1, cmd_lock_done);
}

/* Decode a result's JSON part: an object, or NULL with err set. */
static json_t *
cmd_result_json(const char *text, size_t len, char *err, size_t errlen)
{
	json_error_t	 jerr;
	json_t		*result;

	if (len == 0)
		return json_object();
	if (len > CMD_RESULT_JSON_MAX) {
		snprintf(err, errlen, "result JSON of %zu bytes, more than %d",
		    len, CMD_RESULT_JSON_MAX);
		return NULL;
	}
	result = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (result == NULL || !json_is_object(result)) {
		snprintf(err, errlen, "result JSON is not an object: %s",
		    result == NULL ? jerr.text : "wrong type");
		json_decref(result);
		return NULL;
	}
	return result;
}

/*
 * The parent's IMSG_TUNNEL_RESULT for the outstanding request.  Returns
 * -1 with a reason in err for a protocol violation: no request
 * outstanding, another reqid, a malformed payload or result fields.
 */
int
cmd_result(uint32_t reqid, const void *data, size_t len, char *err,
    size_t errlen)
{
	struct tunnel_result	 res;
	json_t			*result;
	cmd_done_fn		 done;
	int			 rc;

	if (current.reqid == 0 || reqid != current.reqid) {
		snprintf(err, errlen, "result for request %u, but %u is "
		    "outstanding", reqid, current.reqid);
		return -1;
	}
	if (len < sizeof(res)) {
		snprintf(err, errlen, "result of %zu bytes, shorter than %zu",
		    len, sizeof(res));
		return -1;
	}
	memcpy(&res, data, sizeof(res));
	if (memchr(res.msg, '\0', sizeof(res.msg)) == NULL) {
		snprintf(err, errlen, "result message not NUL-terminated");
		return -1;
	}
	if ((result = cmd_result_json((const char *)data + sizeof(res),
	    len - sizeof(res), err, errlen)) == NULL)
		return -1;

	done = current.done;
	current.reqid = 0;
	current.done = NULL;
	rc = 0;
	if (res.error != 0)
		cmd_fail("%s", res.msg[0] != '\0' ? res.msg :
		    strerror(res.error));
	else
		rc = done(result, err, errlen);
	json_decref(result);
	return rc;
}

static const char *
param_string(json_t *params, const char *key)
{
	json_t	*v = json_object_get(params, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
param_bool(json_t *params, const char *key)
{
	return json_is_true(json_object_get(params, key));
}

static void
cmd_version(json_t *params)
{
	cmd_succeed(json_pack("{s:i, s:i}", "api", TUNNEL_API_VERSION, "age",
	    TUNNEL_API_AGE), NULL);
}

/* A result without the fields its command needs: a protocol violation. */
static int
cmd_bad_result(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "'%s' result without a valid %s",
	    current.cmd->name, what);
	return -1;
}

struct config_check {
	char	 msg[CMD_ERR_MAX];
};

/*
 * Check one drive of the incoming config: it may use only volumes this
 * migration allocated or imported, and no host device.
 */
static int
config_check_drive(const char *key, const struct drive *d, void *arg)
{
	struct config_check	*check = arg;
	const char		*volid = drive_volid(d);

	if (d->file_kind == DRIVE_FILE_PATH ||
	    d->file_kind == DRIVE_FILE_CDROM) {
		snprintf(check->msg, sizeof(check->msg), "drive '%s' uses a "
		    "host device, which a migrated config may not use\n", key);
		return 1;
	}
	if (volid == NULL || volset_has(&state.allocated, volid) ||
	    volset_has(&state.imported, volid))
		return 0;
	snprintf(check->msg, sizeof(check->msg), "volume '%s' of drive '%s' "
	    "was not allocated or imported by this migration\n", volid, key);
	return 1;
}

static int
cmd_config_done(json_t *result, char *err, size_t errlen)
{
	strlcpy(state.lock, "migrate", sizeof(state.lock));
	cmd_succeed(NULL, "config installed, expected lock now 'migrate'");
	return 0;
}

/*
 * Send the canonical config text and the firewall text.  Returns 0, or
 * -1 with a message when both do not fit one message to the parent.
 */
static int
config_send(const char *conf, size_t conf_len, const char *fw,
    size_t fw_len, char *msg, size_t msglen)
{
	struct tunnel_config	 tc;
	struct iovec		 iov[3];
	size_t			 max;

	max = IMSG_MAXSIZE - IMSG_HEADER_SIZE - sizeof(tc);
	if (conf_len > max || fw_len > max - conf_len) {
		snprintf(msg, msglen, "config (%zu bytes) and firewall config "
		    "(%zu bytes) exceed %zu bytes together\n", conf_len,
		    fw_len, max);
		return -1;
	}
	tc.conf_len = conf_len;
	tc.fw_len = fw_len;
	iov[0].iov_base = &tc;
	iov[0].iov_len = sizeof(tc);
	iov[1].iov_base = (void *)(uintptr_t)conf;
	iov[1].iov_len = conf_len;
	iov[2].iov_base = (void *)(uintptr_t)fw;
	iov[2].iov_len = fw_len;
	cmd_request(IMSG_TUNNEL_CONFIG, iov, 3, cmd_config_done);
	return 0;
}

/*
 * Parse the config strictly, drop what a target must not take over, check
 * its volumes, and send the canonical text.  The lock is left out: priv
 * writes "lock: migrate" itself.  Returns 0, or -1 with a message.
 */
static int
config_prepare(json_t *params, char *msg, size_t msglen)
{
	struct vmconfig		 cfg;
	struct config_check	 check;
	json_t			*conf = json_object_get(params, "conf");
	const char		*fw = param_string(params, "firewall-config");
	char			*text;
	size_t			 len;
	int			 rc;

	if (vmconfig_parse(&cfg, json_string_value(conf),
	    json_string_length(conf), 1, state.vmid, msg, msglen) == -1) {
		strlcat(msg, "\n", msglen);
		return -1;
	}
	vmconfig_strip_for_migration(&cfg);
	check.msg[0] = '\0';
	if ((rc = vmconfig_foreach_drive(&cfg, config_check_drive,
	    &check)) != 0) {
		vmconfig_free(&cfg);
		snprintf(msg, msglen, "%s", rc > 0 ? check.msg :
		    "cannot read the drives of the config\n");
		return -1;
	}
	if (qemu_config_check(&cfg, msg, msglen) == -1) {
		vmconfig_free(&cfg);
		strlcat(msg, "\n", msglen);
		return -1;
	}
	rc = vmconfig_write(&cfg, &text, &len);
	vmconfig_free(&cfg);
	if (rc == -1) {
		snprintf(msg, msglen, "cannot write the config: %s\n",
		    strerror(errno));
		return -1;
	}
	rc = config_send(text, len, fw != NULL ? fw : "",
	    fw != NULL ? strlen(fw) : 0, msg, msglen);
	free(text);
	return rc;
}

static void
cmd_config(json_t *params)
{
	char	 msg[CMD_ERR_MAX];

	if (config_prepare(params, msg, sizeof(msg)) == -1)
		cmd_fail("%s", msg);
}

/* Format a drive option value as property string text. */
static int
drive_value_text(json_t *v, char *buf, size_t len)
{
	double	 d;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return strlcpy(buf, json_string_value(v), len) < len ? 0 : -1;
	case JSON_INTEGER:
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return 0;
	case JSON_REAL:
		d = json_real_value(v);
		if (!isfinite(d))
			return -1;
		if (d == floor(d) && fabs(d) < 1e18)
			snprintf(buf, len, "%.0f", d);
		else
			snprintf(buf, len, "%.15g", d);
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		strlcpy(buf, json_is_true(v) ? "1" : "0", len);
		return 0;
	default:
		return -1;
	}
}

/* Build the drive key, such as "scsi0", from interface and index. */
static int
drive_json_key(json_t *drive, char *key, size_t keylen, char *err,
    size_t errlen)
{
	json_t		*iface = json_object_get(drive, "interface");
	json_t		*index = json_object_get(drive, "index");
	char		 text[32];
	size_t		 i;

	if (!json_is_string(iface) || !(json_is_integer(index) ||
	    json_is_string(index)) ||
	    drive_value_text(index, text, sizeof(text)) == -1) {
		snprintf(err, errlen, "drive needs 'interface' and 'index'");
		return -1;
	}
	for (i = 0; text[i] != '\0'; i++)
		if (text[i] < '0' || text[i] > '9')
			break;
	if (i == 0 || text[i] != '\0' || (size_t)snprintf(key, keylen,
	    "%s%s", json_string_value(iface), text) >= keylen ||
	    !is_drive_key(key) || strcmp(key, "cdrom") == 0) {
		snprintf(err, errlen, "invalid drive interface or index");
		return -1;
	}
	return 0;
}

/* Whether a drive option name can stand in a property string. */
static int
drive_option_name_ok(const char *key)
{
	return key[0] != '\0' && strspn(key, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(key);
}

/*
 * Turn the source's parsed drive hash into "key=value,..." without file,
 * volume, format, interface and index, which the target sets or derives
 * itself.  Values are checked by parse_drive() later.
 */
static int
drive_json_options(json_t *drive, char *opts, size_t optslen, char *err,
    size_t errlen)
{
	static const char *const skip[] = {
		"file", "volume", "format", "interface", "index", NULL
	};
	const char	*key;
	json_t		*v;
	char		 text[VMCONFIG_VALUE_MAX + 1], name[64];
	size_t		 i;

	opts[0] = '\0';
	json_object_foreach(drive, key, v) {
		for (i = 0; skip[i] != NULL; i++)
			if (strcmp(skip[i], key) == 0)
				break;
		if (skip[i] != NULL || json_is_null(v))
			continue;
		if (!drive_option_name_ok(key) ||
		    drive_value_text(v, text, sizeof(text)) == -1 ||
		    strchr(text, ',') != NULL) {
			text_excerpt(name, sizeof(name), key, strlen(key));
			snprintf(err, errlen, "invalid drive option '%s'",
			    name);
			return -1;
		}
		if ((opts[0] != '\0' && strlcat(opts, ",", optslen) >=
		    optslen) || strlcat(opts, key, optslen) >= optslen ||
		    strlcat(opts, "=", optslen) >= optslen ||
		    strlcat(opts, text, optslen) >= optslen) {
			snprintf(err, errlen, "drive options exceed %zu bytes",
			    optslen - 1);
			return -1;
		}
	}
	return 0;
}

/* Parse the kept drive options with file and format set. */
static int
drive_parse_with(struct drive *d, const char *volid, const char *format,
    char *err, size_t errlen)
{
	char	 value[VMCONFIG_VALUE_MAX + 1];

	if ((size_t)snprintf(value, sizeof(value), "file=%s,format=%s%s%s",
	    volid, format, current.drive_opts[0] != '\0' ? "," : "",
	    current.drive_opts) >= sizeof(value)) {
		snprintf(err, errlen, "drive options exceed %zu bytes",
		    sizeof(value) - 1);
		return -1;
	}
	return parse_drive(current.drive_key, value, state.vmid, d, err,
	    errlen);
}

static int
cmd_disk_done(json_t *result, char *err, size_t errlen)
{
	const char	*volid = param_string(result, "volid");
	const char	*format = param_string(result, "format");
	struct drive	 d;
	char		 drivestr[VMCONFIG_VALUE_MAX + 1], msg[CMD_ERR_MAX];

	if (volid == NULL || format == NULL)
		return cmd_bad_result(err, errlen, "volid and format");
	if (volset_add(&state.allocated, volid) == -1) {
		cmd_fail("more than %d volumes allocated\n", CMD_VOLUMES_MAX);
		return 0;
	}
	if (drive_parse_with(&d, volid, format, msg, sizeof(msg)) == -1 ||
	    d.file_kind != DRIVE_FILE_VOLUME)
		return cmd_bad_result(err, errlen, "volume for the drive");
	if (print_drive(&d, drivestr, sizeof(drivestr)) == -1) {
		cmd_fail("allocated '%s', but its drive string is too long\n",
		    volid);
		return 0;
	}
	nbd_add(volid, drivestr);
	cmd_succeed(json_pack("{s:s, s:s}", "drivestr", drivestr, "volid",
	    volid), "allocated '%s' for %s", volid, current.drive_key);
	return 0;
}

/* Check the drive before anything is allocated, with a stand-in file. */
static int
disk_prepare(json_t *params, struct tunnel_disk_alloc *req, char *msg,
    size_t msglen)
{
	const char	*format = param_string(params, "format");
	const char	*storage = param_string(params, "storage");
	json_t		*drive = json_object_get(params, "drive");
	struct drive	 d;
	char		 opts[VMCONFIG_VALUE_MAX + 1], volid[128], err[512];

	if (drive_json_key(drive, current.drive_key,
	    sizeof(current.drive_key), err, sizeof(err)) == -1 ||
	    drive_json_options(drive, opts, sizeof(opts), err,
	    sizeof(err)) == -1) {
		snprintf(msg, msglen, "invalid drive: %s\n", err);
		return -1;
	}
	if ((current.drive_opts = strdup(opts)) == NULL)
		fatal("strdup");
	snprintf(volid, sizeof(volid), "%s:vm-%u-disk-0", storage,
	    state.vmid);
	if (drive_parse_with(&d, volid, format, err, sizeof(err)) == -1) {
		snprintf(msg, msglen, "invalid drive '%s': %s\n",
		    current.drive_key, err);
		return -1;
	}
	/* A CD-ROM never gets here: parse_drive() rejects its format=. */
	if (!d.has_size) {
		snprintf(msg, msglen, "drive '%s' is without a size\n",
		    current.drive_key);
		return -1;
	}
	memset(req, 0, sizeof(*req));
	strlcpy(req->storage, storage, sizeof(req->storage));
	strlcpy(req->format, format, sizeof(req->format));
	req->size = d.size;
	return 0;
}

static void
cmd_disk(json_t *params)
{
	struct tunnel_disk_alloc	 req;
	struct iovec			 iov;
	char				 msg[CMD_ERR_MAX];

	if (disk_prepare(params, &req, msg, sizeof(msg)) == -1) {
		cmd_fail("%s", msg);
		return;
	}
	iov.iov_base = &req;
	iov.iov_len = sizeof(req);
	cmd_request(IMSG_TUNNEL_DISK_ALLOC, &iov, 1, cmd_disk_done);
}

/* Copy the leading digits of s.  Returns their count, 0 if none fit. */
static size_t
vmid_prefix(const char *s, char *digits, size_t len)
{
	size_t	 n = strspn(s, "0123456789");

	if (n == 0 || n >= len)
		return 0;
	memcpy(digits, s, n);
	digits[n] = '\0';
	return n;
}

/*
 * Rewrite a volume name hint for this VMID, as a source does: drop a
 * leading "<vmid>/", and when the name is "(vm|base|subvol)-<vmid>-..."
 * with another VMID, replace every "-<that vmid>-" by "-<ours>-".
 */
static int
volname_for_vmid(const char *hint, char *out, size_t outlen)
{
	char		 owner[16], from[20], to[20];
	const char	*p, *hit;
	size_t		 n, o = 0;

	if ((n = vmid_prefix(hint, owner, sizeof(owner))) > 0 &&
	    hint[n] == '/')
		hint += n + 1;
	p = strchr(hint, '-');
	if (p == NULL || (strncmp(hint, "vm-", 3) != 0 &&
	    strncmp(hint, "base-", 5) != 0 &&
	    strncmp(hint, "subvol-", 7) != 0) ||
	    (n = vmid_prefix(p + 1, owner, sizeof(owner))) == 0 ||
	    p[n + 1] != '-') {
		return strlcpy(out, hint, outlen) < outlen ? 0 : -1;
	}
	snprintf(from, sizeof(from), "-%s-", owner);
	snprintf(to, sizeof(to), "-%u-", state.vmid);
	for (p = hint; (hit = strstr(p, from)) != NULL;
	    p = hit + strlen(from)) {
		if (o + (hit - p) + strlen(to) >= outlen)
			return -1;
		memcpy(out + o, p, hit - p);
		o += hit - p;
		memcpy(out + o, to, strlen(to));
		o += strlen(to);
	}
	return strlcpy(out + o, p, outlen - o) < outlen - o ? 0 : -1;
}

/* A volume name hint: printable ASCII, no '/', no "..", not empty. */
static int
volname_ok(const char *name)
{
	size_t	 i;

	if (name[0] == '\0' || strstr(name, "..") != NULL)
		return 0;
	for (i = 0; name[i] != '\0'; i++)
		if (name[i] <= ' ' || name[i] > '~' || name[i] == '/')
			return 0;
	return 1;
}

static int
cmd_disk_import_done(json_t *result, char *err, size_t errlen)
{
	const char	*sock = param_string(result, "socket");
	const char	*format = param_string(result, "format");
	char		 expected[API_PATH_MAX];

	snprintf(expected, sizeof(expected), "/run/qemu-server/%u.storage",
	    state.vmid);
	if (sock == NULL || strcmp(sock, expected) != 0 || format == NULL)
		return cmd_bad_result(err, errlen, "socket and format");
	state.import_running = 1;
	cmd_succeed(json_pack("{s:s, s:s}", "socket", sock, "format", format),
	    "import started on '%s' as %s", sock, format);
	return 0;
}

/*
 * NOTE: snapshot and migration_snapshot are checked but not passed on:
 * a dir storage imports raw+size, qcow2+size and vmdk+size streams, which
 * have no transfer snapshot to keep or delete.
 */
static void
cmd_disk_import(json_t *params)
{
	struct tunnel_disk_import	 req;
	struct iovec			 iov;
	const char			*hint = param_string(params, "volname");

	if (state.import_running) {
		cmd_fail("disk import already running\n");
		return;
	}
	memset(&req, 0, sizeof(req));
	if (volname_for_vmid(hint, req.volname, sizeof(req.volname)) == -1 ||
	    !volname_ok(req.volname)) {
		cmd_fail("invalid volume name '%s'\n", hint);
		return;
	}
	if (strcmp(req.volname, hint) != 0)
		log_info("volume name hint '%s' rewritten to '%s' for VMID %u",
		    hint, req.volname, state.vmid);
	strlcpy(req.storage, param_string(params, "storage"),
	    sizeof(req.storage));
	strlcpy(req.format, param_string(params, "format"),
	    sizeof(req.format));
	strlcpy(req.export_formats, param_string(params, "export_formats"),
	    sizeof(req.export_formats));
	req.allow_rename = param_bool(params, "allow_rename");
	req.with_snapshots = param_bool(params, "with_snapshots");
	iov.iov_base = &req;
	iov.iov_len = sizeof(req);
	cmd_request(IMSG_TUNNEL_DISK_IMPORT, &iov, 1, cmd_disk_import_done);
}

static int
query_complete(const char *volid, char *err, size_t errlen)
{
	char	 storeid[STORAGE_ID_MAX + 1], volname[VOLNAME_MAX];

	if (volid == NULL || parse_volid(volid, storeid, sizeof(storeid),
	    volname, sizeof(volname)) == -1)
		return cmd_bad_result(err, errlen, "volid");
	state.import_running = 0;
	if (volset_add(&state.imported, volid) == -1) {
		cmd_fail("more than %d volumes imported\n", CMD_VOLUMES_MAX);
		return 0;
	}
	cmd_succeed(json_pack("{s:s, s:s}", "status", "complete", "volid",
	    volid), "imported '%s'", volid);
	return 0;
}

/*
 * Check the import status from the parent: pending with msg (text or
 * null), error with msg, or complete with volid.
 */
static int
cmd_query_done(json_t *result, char *err, size_t errlen)
{
	const char	*status = param_string(result, "status");
	json_t		*msg = json_object_get(result, "msg");

	if (status != NULL && strcmp(status, "complete") == 0)
		return query_complete(param_string(result, "volid"), err,
		    errlen);
	if (status != NULL && strcmp(status, "pending") == 0 &&
	    (msg == NULL || json_is_null(msg) || json_is_string(msg))) {
		cmd_succeed(json_pack("{s:s, s:O}", "status", "pending", "msg",
		    msg != NULL ? msg : json_null()), NULL);
		return 0;
	}
	if (status != NULL && strcmp(status, "error") == 0 &&
	    json_is_string(msg)) {
		state.import_running = 0;
		cmd_succeed(json_pack("{s:s, s:O}", "status", "error", "msg",
		    msg), "the import failed");
		return 0;
	}
	return cmd_bad_result(err, errlen, "status");
}

static void
cmd_query_disk_import(json_t *params)
{
	if (!state.import_running) {
		cmd_fail("no disk import running\n");
		return;
	}
	cmd_request(IMSG_TUNNEL_IMPORT_QUERY, NULL, 0, cmd_query_done);
}

static int
cmd_bwlimit_done(json_t *result, char *err, size_t errlen)
{
	json_t	*limit = json_object_get(result, "bwlimit");

	if (limit == NULL || !(json_is_null(limit) ||
	    (json_is_number(limit) && json_number_value(limit) >= 0)))
		return cmd_bad_result(err, errlen, "bwlimit");
	cmd_succeed(json_pack("{s:O}", "bwlimit", limit), NULL);
	return 0;
}

/* Join the storages into a split_list text, leaving out null elements. */
static int
bwlimit_storages(json_t *list, char *out, size_t outlen)
{
	json_t	*item;
	size_t	 i;

	out[0] = '\0';
	json_array_foreach(list, i, item) {
		if (!json_is_string(item))
			continue;
		if ((out[0] != '\0' && strlcat(out, ",", outlen) >= outlen) ||
		    strlcat(out, json_string_value(item), outlen) >= outlen)
			return -1;
	}
	return 0;
}

static void
cmd_bwlimit(json_t *params)
{
	struct tunnel_bwlimit	 req;
	struct iovec		 iov;
	json_t			*limit = json_object_get(params, "bwlimit");
	const char		*op = param_string(params, "operation");

	memset(&req, 0, sizeof(req));
	if (bwlimit_storages(json_object_get(params, "storages"),
	    req.storages, sizeof(req.storages)) == -1) {
		cmd_fail("storage list longer than %zu bytes\n",
		    sizeof(req.storages) - 1);
		return;
	}
	strlcpy(req.operation, op != NULL ? op : "", sizeof(req.operation));
	req.bwlimit = limit != NULL ? json_integer_value(limit) : -1;
	iov.iov_base = &req;
	iov.iov_len = sizeof(req);
	cmd_request(IMSG_TUNNEL_BWLIMIT, &iov, 1, cmd_bwlimit_done);
}

/* The ticket is a secret: it goes to the peer and never into a log. */
static int
cmd_ticket_done(json_t *result, char *err, size_t errlen)
{
	const char	*ticket = param_string(result, "ticket");

	if (ticket == NULL || ticket[0] == '\0')
		return cmd_bad_result(err, errlen, "ticket");
	cmd_succeed(json_pack("{s:s}", "ticket", ticket),
	    "ticket issued for '%s'", current.path);
	return 0;
}

static void
cmd_ticket(json_t *params)
{
	struct tunnel_ticket	 req;
	struct iovec		 iov;

	memset(&req, 0, sizeof(req));
	strlcpy(req.path, param_string(params, "path"), sizeof(req.path));
	strlcpy(current.path, req.path, sizeof(current.path));
	iov.iov_base = &req;
	iov.iov_len = sizeof(req);
	cmd_request(IMSG_TUNNEL_TICKET, &iov, 1, cmd_ticket_done);
}

static int
cmd_unlock_done(json_t *result, char *err, size_t errlen)
{
	state.lock[0] = '\0';
	cmd_succeed(NULL, "config unlocked, no lock expected now");
	return 0;
}

static void
cmd_unlock(json_t *params)
{
	cmd_request(IMSG_TUNNEL_UNLOCK, NULL, 0, cmd_unlock_done);
}

static int
cmd_quit_done(json_t *result, char *err, size_t errlen)
{
	control.exit_mode = 1;
	control.quit_cleanup = current.cleanup;
	log_info("switching to exit-mode, waiting for client to disconnect");
	cmd_succeed(NULL, "%s", current.cleanup ? "with cleanup" :
	    "without cleanup");
	return 0;
}

static void
cmd_quit(json_t *params)
{
	struct tunnel_quit	 req;
	struct iovec		 iov;

	current.cleanup = param_bool(params, "cleanup");
	req.cleanup = current.cleanup;
	iov.iov_base = &req;
	iov.iov_len = sizeof(req);
	cmd_request(IMSG_TUNNEL_QUIT, &iov, 1, cmd_quit_done);
}

/*
 * start
 */

/* Copy an optional string parameter into a fixed field. */
static void
start_field(json_t *obj, const char *key, char *dst, size_t dstlen)
{
	const char	*v = param_string(obj, key);

	strlcpy(dst, v != NULL ? v : "", dstlen);
}

/*
 * Check one entry of migrate_opts.nbd against what disk returned: only
 * drivestr and volid (and a leftover success), a volume this migration
 * allocated, the same drive string.  Messages as upstream.
 */
static int
start_nbd_entry(const char *key, json_t *entry, struct tunnel_vm_drive *out,
    char *msg, size_t msglen)
{
	const struct nbd_volume	*nv;
	const char		*volid, *drivestr, *k;
	json_t			*v;

	if (!json_is_object(entry) || !is_drive_key(key) ||
	    strlen(key) >= sizeof(out->key)) {
		snprintf(msg, msglen, "invalid NBD entry '%s'\n", key);
		return -1;
	}
	json_object_foreach(entry, k, v) {
		if (strcmp(k, "drivestr") != 0 && strcmp(k, "volid") != 0 &&
		    strcmp(k, "success") != 0) {
			snprintf(msg, msglen, "Unknown NBD volume key for "
			    "'%s': '%s'\n", key, k);
			return -1;
		}
	}
	volid = param_string(entry, "volid");
	drivestr = param_string(entry, "drivestr");
	if (volid == NULL || drivestr == NULL ||
	    (nv = nbd_find(volid)) == NULL) {
		snprintf(msg, msglen, "Unknown NBD volume '%s:%s'\n", key,
		    volid != NULL ? volid : "");
		return -1;
	}
	if (strcmp(nv->drivestr, drivestr) != 0) {
		snprintf(msg, msglen, "NBD mismatch for '%s': got '%s', "
		    "expected '%s'\n", key, drivestr, nv->drivestr);
		return -1;
	}
	strlcpy(out->key, key, sizeof(out->key));
	strlcpy(out->volid, volid, sizeof(out->volid));
	return 0;
}

/* Fill req from the validated start parameters; drives kept for reply. */
static int
start_prepare(json_t *params, struct tunnel_vm_start *req, char *msg,
    size_t msglen)
{
	json_t		*sp = json_object_get(params, "start_params");
	json_t		*mo = json_object_get(params, "migrate_opts");
	json_t		*nbd, *entry;
	const char	*key;
	char		 err[CONTROL_MSG_MAX];

	if (schema_validate(&schema_start_params, sp, err, sizeof(err)) ==
	    -1 || schema_validate(&schema_migrate_opts, mo, err,
	    sizeof(err)) == -1) {
		strlcpy(msg, err, msglen);
		return -1;
	}
	memset(req, 0, sizeof(*req));
	start_field(sp, "forcemachine", req->forcemachine,
	    sizeof(req->forcemachine));
	start_field(sp, "forcecpu", req->forcecpu, sizeof(req->forcecpu));
	start_field(sp, "nets-host-mtu", req->nets_host_mtu,
	    sizeof(req->nets_host_mtu));

	if ((nbd = json_object_get(mo, "nbd")) == NULL)
		return 0;
	json_object_foreach(nbd, key, entry) {
		if (req->ndrives == NBD_DRIVES_MAX) {
			snprintf(msg, msglen, "more than %d NBD drives\n",
			    NBD_DRIVES_MAX);
			return -1;
		}
		if (start_nbd_entry(key, entry, &req->drives[req->ndrives],
		    msg, msglen) == -1)
			return -1;
		req->ndrives++;
	}
	return 0;
}

/* The reply of start, as section 5.3: migrate, and drives with NBD. */
static json_t *
start_reply(const struct tunnel_vm_start *req)
{
	json_t	*migrate, *drives, *reply;
	char	 addr[API_PATH_MAX], nbd[API_PATH_MAX], uri[2 * API_PATH_MAX];
	size_t	 i;

	snprintf(addr, sizeof(addr), "/run/qemu-server/%u.migrate",
	    state.vmid);
	snprintf(nbd, sizeof(nbd), "/run/qemu-server/%u_nbd.migrate",
	    state.vmid);
	snprintf(uri, sizeof(uri), "unix:%s", addr);
	migrate = json_pack("{s:s, s:s, s:s}", "proto", "unix", "addr",
	    addr, "uri", uri);
	reply = json_pack("{s:o}", "migrate", migrate);
	if (req->ndrives == 0)
		return reply;

	json_object_set_new(migrate, "unix_sockets", json_pack("[s]", nbd));
	drives = json_object();
	for (i = 0; i < req->ndrives; i++) {
		snprintf(uri, sizeof(uri), "nbd:unix:%s:exportname=drive-%s",
		    nbd, req->drives[i].key);
		json_object_set_new(drives, req->drives[i].key,
		    json_pack("{s:s, s:s, s:s}", "drivestr",
		    nbd_find(req->drives[i].volid)->drivestr, "volid",
		    req->drives[i].volid, "nbd_uri", uri));
	}
	json_object_set_new(reply, "drives", drives);
	return reply;
}

static int
cmd_start_done(json_t *result, char *err, size_t errlen)
{
	cmd_succeed(json_incref(current.drives), "VM %u started for the "
	    "incoming migration", state.vmid);
	return 0;
}

static void
cmd_start(json_t *params)
{
	struct tunnel_vm_start	*req;
	struct iovec		 iov;
	char			 msg[CMD_ERR_MAX];

	if ((req = calloc(1, sizeof(*req))) == NULL)
		fatal("calloc");
	if (strcmp(state.lock, "migrate") != 0) {
		cmd_fail("start needs an installed config\n");
		free(req);
		return;
	}
	if (start_prepare(params, req, msg, sizeof(msg)) == -1) {
		cmd_fail("%s", msg);
		free(req);
		return;
	}
	current.drives = start_reply(req);
	iov.iov_base = req;
	iov.iov_len = sizeof(*req);
	cmd_request(IMSG_TUNNEL_VM_START, &iov, 1, cmd_start_done);
	free(req);
}

static int
cmd_vm_done(json_t *result, char *err, size_t errlen)
{
	cmd_succeed(NULL, NULL);
	return 0;
}

static void
cmd_resume(json_t *params)
{
	cmd_request(IMSG_TUNNEL_VM_RESUME, NULL, 0, cmd_vm_done);
}

static void
cmd_stop(json_t *params)
{
	cmd_request(IMSG_TUNNEL_VM_STOP, NULL, 0, cmd_vm_done);
}

static void
cmd_nbdstop(json_t *params)
{
	cmd_request(IMSG_TUNNEL_NBD_STOP, NULL, 0, cmd_vm_done);
}

static void
cmd_fstrim(json_t *params)
{
	cmd_request(IMSG_TUNNEL_FSTRIM, NULL, 0, cmd_vm_done);
}
