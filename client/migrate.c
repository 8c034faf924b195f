/*
 * mtunnel-migrate: move a VM of this host to a remote target, as
 * qm remote-migrate does.  The sequence: REST pre-checks, POST mtunnel,
 * the control websocket, version, bwlimit, each volume through
 * disk-import over its own websocket, config, unlock and quit.  On a
 * failure after POST mtunnel it sends quit with cleanup 1, so that the
 * target frees what it created, and leaves the source VM unlocked.
 * With --online, live.c runs the sequence for a running VM.
 */

#include <sys/stat.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <jansson.h>

#include "conf.h"
#include "storagecfg.h"
#include "vmconfig.h"

#include "migrate.h"
#include "source.h"

#define WS_TUNNEL_VERSION	2
#define VMID_MIN		100
#define VMID_MAX		999999999
#define BWLIMIT_ARG_MAX		(1024UL * 1024 * 1024)	/* KiB/s, 1 TiB/s */
#define IMPORT_POLL_MAX		3600	/* query-disk-import calls, 1 s apart */

/* Timeouts in seconds, those of a Proxmox VE source. */
#define T_VERSION	10
#define T_BWLIMIT	10
#define T_DISK_IMPORT	600
#define T_QUERY_IMPORT	10
#define T_CONFIG	120
#define T_UNLOCK	10
#define T_QUIT		30
#define T_TICKET	10


static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: mtunnel-migrate [-f conf] [-p prefix] "
	    "--target host=ADDR,apitoken=PVEAPIToken=...,fingerprint=FP"
	    "[,port=N]\n"
	    "           --target-vmid N --target-storage SRC:DST[,...] "
	    "--target-bridge SRC:DST[,...]\n"
	    "           [--online] [--bwlimit KiB/s] [--delete] VMID\n");
	exit(2);
}

static __attribute__((noreturn)) void
die(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "mtunnel-migrate: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint32_t
parse_vmid(const char *text, const char *what)
{
	char		*end;
	unsigned long	 n;

	errno = 0;
	n = strtoul(text, &end, 10);
	if (*text < '0' || *text > '9' || *end != '\0' || errno != 0 ||
	    n < VMID_MIN || n > VMID_MAX)
		die("%s: invalid VMID '%s' (%d to %d)", what, text, VMID_MIN,
		    VMID_MAX);
	return (uint32_t)n;
}

static double
parse_bwlimit_arg(const char *text)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (*text < '0' || *text > '9' || *end != '\0' || errno != 0 ||
	    v == 0 || v > BWLIMIT_ARG_MAX)
		die("--bwlimit: invalid limit '%s' (KiB/s, an integer from 1 "
		    "to %lu)", text, (unsigned long)BWLIMIT_ARG_MAX);
	return v;
}

static void
parse_args(struct migration *m, int argc, char **argv, const char **file,
    const char **prefix)
{
	static const struct option longopts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "target-vmid", required_argument, NULL, 'V' },
		{ "target-storage", required_argument, NULL, 'S' },
		{ "target-bridge", required_argument, NULL, 'B' },
		{ "online", no_argument, NULL, 'o' },
		{ "bwlimit", required_argument, NULL, 'b' },
		{ "delete", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char	 err[ERR_MAX];
	int	 ch, have_t = 0, have_s = 0, have_b = 0;

	while ((ch = getopt_long(argc, argv, "f:p:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			*file = optarg;
			break;
		case 'p':
			*prefix = optarg;
			break;
		case 't':
			if (parse_target(optarg, &m->target, err,
			    sizeof(err)) == -1)
				die("%s", err);
			have_t = 1;
			break;
		case 'V':
			m->target_vmid = parse_vmid(optarg, "--target-vmid");
			break;
		case 'S':
			if (parse_idmap(optarg, "--target-storage",
			    valid_storage_id, &m->storage_map, err,
			    sizeof(err)) == -1)
				die("%s", err);
			have_s = 1;
			break;
		case 'B':
			if (parse_idmap(optarg, "--target-bridge",
			    valid_bridge_id, &m->bridge_map, err,
			    sizeof(err)) == -1)
				die("%s", err);
			have_b = 1;
			break;
		case 'o':
			m->online = 1;
			break;
		case 'b':
			m->bwlimit = parse_bwlimit_arg(optarg);
			break;
		case 'D':
			m->delete = 1;
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc)
		usage();
	m->vmid = parse_vmid(argv[optind], "VMID");
	if (!have_t)
		die("missing --target");
	if (!have_s)
		die("missing --target-storage");
	if (!have_b)
		die("missing --target-bridge");
	if (m->target_vmid == 0)
		m->target_vmid = m->vmid;
}

static void
load_local(struct migration *m, const char *file, const char *prefix)
{
	char	 err[ERR_MAX], path[PATH_MAX];

	conf_defaults(&m->conf);
	if (conf_parse_file(&m->conf, file ? file : CONF_DEFAULT_FILE,
	    file == NULL, err, sizeof(err)) == -1 ||
	    conf_finish(&m->conf, prefix, err, sizeof(err)) == -1)
		die("%s", err);
	snprintf(path, sizeof(path), "%s/storage.cfg", m->conf.confdir);
	if (storagecfg_load(&m->storages, path, err, sizeof(err)) == -1)
		die("%s", err);

	m->src.vmid = m->vmid;
	m->src.target_vmid = m->target_vmid;
	m->src.storages = &m->storages;
	m->src.storage_map = &m->storage_map;
	m->src.bridge_map = &m->bridge_map;
	snprintf(m->src.confpath, sizeof(m->src.confpath),
	    "%s/qemu-server/%u.conf", m->conf.confdir, m->vmid);
	strlcpy(m->src.rundir, m->conf.rundir, sizeof(m->src.rundir));
	if (source_load_config(&m->src, err, sizeof(err)) == -1)
		die("VM %u: %s", m->vmid, err);
	if (vmconfig_get(&m->src.cfg, "lock") != NULL)
		die("VM %u is locked (%s)", m->vmid,
		    vmconfig_get(&m->src.cfg, "lock"));
	if (source_scan(&m->src, err, sizeof(err)) == -1)
		die("VM %u: %s", m->vmid, err);
}

/* The data member of an API reply, or NULL with err naming the call. */
static json_t *
api_get(struct migration *m, const char *method, const char *path,
    const char *form, char *err, size_t errlen)
{
	json_t	*data;
	char	*body;
	size_t	 bodylen;
	int	 status;

	if (api_call(m->client, method, path, form, &status, &body, &bodylen,
	    err, errlen) == -1)
		return NULL;
	data = api_reply_data(method, path, status, body, bodylen, err,
	    errlen);
	free(body);
	return data;
}

/* A Perl boolean in JSON: true, or a number other than 0. */
static int
json_truthy(const json_t *v)
{
	return json_is_true(v) || (json_is_number(v) &&
	    json_number_value(v) != 0);
}

/* The target's node name, from its cluster status. */
static int
check_node(struct migration *m, char *err, size_t errlen)
{
	json_t		*data, *e;
	const char	*type, *name;
	size_t		 i;

	if ((data = api_get(m, "GET", "cluster/status", NULL, err,
	    errlen)) == NULL)
		return -1;
	json_array_foreach(data, i, e) {
		type = json_string_value(json_object_get(e, "type"));
		name = json_string_value(json_object_get(e, "name"));
		if (type != NULL && strcmp(type, "node") == 0 &&
		    name != NULL && json_truthy(json_object_get(e, "local")))
			strlcpy(m->node, name, sizeof(m->node));
	}
	json_decref(data);
	if (m->node[0] == '\0' || !valid_node_name(m->node)) {
		snprintf(err, errlen, "the target's cluster status names no "
		    "valid local node");
		return -1;
	}
	return 0;
}

static int
check_vmid_free(struct migration *m, char *err, size_t errlen)
{
	json_t	*data, *e, *id;
	size_t	 i;
	int	 rv = 0;

	if ((data = api_get(m, "GET", "cluster/resources?type=vm", NULL, err,
	    errlen)) == NULL)
		return -1;
	json_array_foreach(data, i, e) {
		id = json_object_get(e, "vmid");
		if (json_is_integer(id) &&
		    json_integer_value(id) == m->target_vmid) {
			snprintf(err, errlen, "Guest with ID '%u' already "
			    "exists on remote cluster", m->target_vmid);
			rv = -1;
		}
	}
	json_decref(data);
	return rv;
}

static int
storage_offers_images(json_t *data, const char *id)
{
	json_t		*e;
	const char	*sid, *content;
	size_t		 i;
	struct strlist	 list;
	int		 found = 0;

	json_array_foreach(data, i, e) {
		sid = json_string_value(json_object_get(e, "storage"));
		content = json_string_value(json_object_get(e, "content"));
		if (sid == NULL || content == NULL || strcmp(sid, id) != 0)
			continue;
		if (split_list(content, strlen(content), &list) == -1)
			return 0;
		found = strlist_contains(&list, "images");
		strlist_free(&list);
	}
	return found;
}

static int
check_storages(struct migration *m, char *err, size_t errlen)
{
	json_t	*data;
	size_t	 i;
	int	 rv = 0;

	if ((data = api_get(m, "GET", "nodes/localhost/storage?enabled=1",
	    NULL, err, errlen)) == NULL)
		return -1;
	for (i = 0; i < m->src.nvolumes && rv == 0; i++) {
		if (!storage_offers_images(data,
		    m->src.volumes[i].target_storage)) {
			snprintf(err, errlen, "remote storage '%s' does not "
			    "exist, is not enabled or does not support VM "
			    "images", m->src.volumes[i].target_storage);
			rv = -1;
		}
	}
	json_decref(data);
	return rv;
}

/* "a,b": each target storage (or bridge) once, for POST mtunnel. */
static void
join_unique(char *out, size_t outlen, const char *(*get)(struct migration *,
    size_t), struct migration *m, size_t n)
{
	const char	*id;
	char		 item[ID_MAX + 3];
	size_t		 i;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		id = get(m, i);
		snprintf(item, sizeof(item), ",%s,", id);
		if (strstr(out, item) != NULL)
			continue;
		strlcat(out, ",", outlen);
		strlcat(out, id, outlen);
		strlcat(out, ",", outlen);
	}
}

static const char *
volume_storage(struct migration *m, size_t i)
{
	return m->src.volumes[i].target_storage;
}

static const char *
nic_bridge(struct migration *m, size_t i)
{
	return m->src.bridges[i].dst;
}

/* ",a,,b," as "a,b", url-encoded. */
static void
list_param(char *out, size_t outlen, const char *joined)
{
	char	 clean[4096];
	size_t	 i, o = 0;

	for (i = 0; joined[i] != '\0' && o + 1 < sizeof(clean); i++) {
		if (joined[i] == ',' && (o == 0 || clean[o - 1] == ',' ||
		    joined[i + 1] == '\0'))
			continue;
		clean[o++] = joined[i];
	}
	clean[o] = '\0';
	url_encode(out, outlen, clean);
}

static int
open_tunnel(struct migration *m, char *err, size_t errlen)
{
	char		 joined[4096], storages[4096], bridges[4096];
	char		 form[8300], path[256], wspath[2048], text[256];
	json_t		*data;
	const char	*ticket, *sock, *upid;

	join_unique(joined, sizeof(joined), volume_storage, m,
	    m->src.nvolumes);
	list_param(storages, sizeof(storages), joined);
	join_unique(joined, sizeof(joined), nic_bridge, m, m->src.nbridges);
	list_param(bridges, sizeof(bridges), joined);
	snprintf(form, sizeof(form), "storages=%s&bridges=%s", storages,
	    bridges);
	snprintf(path, sizeof(path), "nodes/%s/qemu/%u/mtunnel", m->node,
	    m->target_vmid);
	if ((data = api_get(m, "POST", path, form, err, errlen)) == NULL)
		return -1;
	m->tunnel_open = 1;
	upid = json_string_value(json_object_get(data, "upid"));
	ticket = json_string_value(json_object_get(data, "ticket"));
	sock = json_string_value(json_object_get(data, "socket"));
	if (ticket == NULL || sock == NULL || ws_path(wspath, sizeof(wspath),
	    m->node, m->target_vmid, sock, ticket) == -1) {
		snprintf(err, errlen, "POST %s: reply without a valid ticket "
		    "and socket", path);
		json_decref(data);
		return -1;
	}
	strlcpy(text, upid != NULL ? upid : "(no UPID)", sizeof(text));
	one_line(text);
	say("remote task %s", text);
	json_decref(data);
	if (ctl_open(m->client, wspath, err, errlen) == -1)
		return -1;
	say("websocket tunnel started");
	return 0;
}

/* Run a command built from a JSON text; *reply may be NULL. */
int
command(struct migration *m, json_t *req, int timeout, json_t **reply,
    char *err, size_t errlen)
{
	int	 rv;

	if (req == NULL) {
		snprintf(err, errlen, "cannot build a tunnel command");
		return -1;
	}
	rv = ctl_command(m->client, req, timeout, reply, err, errlen);
	json_decref(req);
	return rv;
}

static int
check_version(struct migration *m, char *err, size_t errlen)
{
	json_t		*reply;
	json_int_t	 api, age;

	if (command(m, json_pack("{s:s}", "cmd", "version"), T_VERSION,
	    &reply, err, errlen) == -1)
		return -1;
	api = json_integer_value(json_object_get(reply, "api"));
	age = json_integer_value(json_object_get(reply, "age"));
	json_decref(reply);
	say("local WS tunnel version: %d", WS_TUNNEL_VERSION);
	say("remote WS tunnel version: %lld", (long long)api);
	say("minimum required WS tunnel version: %lld",
	    (long long)(api - age));
	if (WS_TUNNEL_VERSION < api - age) {
		snprintf(err, errlen, "Remote tunnel endpoint not "
		    "compatible, upgrade required");
		return -1;
	}
	if (WS_TUNNEL_VERSION > api) {
		snprintf(err, errlen, "Remote tunnel endpoint too old, "
		    "upgrade required");
		return -1;
	}
	return 0;
}

/* The limit for volume v: --bwlimit or the target's, the lower one. */
int
volume_bwlimit(struct migration *m, const char *storage, double *limit,
    char *err, size_t errlen)
{
	json_t	*req, *reply, *bw;
	double	 remote;

	req = json_pack("{s:s,s:s,s:[s],s:o}", "cmd", "bwlimit", "operation",
	    "migration", "storages", storage, "bwlimit", m->bwlimit > 0 ?
	    json_integer((json_int_t)m->bwlimit) : json_null());
	if (command(m, req, T_BWLIMIT, &reply, err, errlen) == -1)
		return -1;
	bw = json_object_get(reply, "bwlimit");
	*limit = m->bwlimit;
	if (json_is_number(bw) && (remote = json_number_value(bw)) > 0 &&
	    (*limit == 0 || remote < *limit))
		*limit = remote;
	json_decref(reply);
	return 0;
}

static int
stream_volume(struct migration *m, struct volume *v, const char *sock,
    double limit, char *err, size_t errlen)
{
	json_t		*reply;
	char		 wspath[2048];
	unsigned char	 hdr[8];
	uint64_t	 size = htole64(v->file_size);
	struct progress	 p;
	int		 fd, rv;

	if (command(m, json_pack("{s:s,s:s}", "cmd", "ticket", "path",
	    sock), T_TICKET, &reply, err, errlen) == -1)
		return -1;
	rv = ws_path(wspath, sizeof(wspath), m->node, m->target_vmid, sock,
	    json_string_value(json_object_get(reply, "ticket")) ?: "");
	json_decref(reply);
	if (rv == -1) {
		snprintf(err, errlen, "ticket for %s: invalid reply", sock);
		return -1;
	}
	if ((fd = open(v->path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "cannot open %s: %s", v->path,
		    strerror(errno));
		return -1;
	}
	memcpy(hdr, &size, sizeof(hdr));
	progress_begin(&p, v->key, v->file_size);
	rv = ws_send_file(m->client, wspath, hdr, sizeof(hdr), fd, limit, &p,
	    err, errlen);
	close(fd);
	if (rv == 0)
		progress_end(&p);
	return rv;
}

/* Poll query-disk-import once a second until it is no longer pending. */
static int
wait_import(struct migration *m, struct volume *v, char *err, size_t errlen)
{
	json_t		*reply;
	const char	*status, *volid, *msg;
	int		 i, rv = -1;

	for (i = 0; i < IMPORT_POLL_MAX; i++) {
		if (command(m, json_pack("{s:s}", "cmd", "query-disk-import"),
		    T_QUERY_IMPORT, &reply, err, errlen) == -1)
			return -1;
		status = json_string_value(json_object_get(reply, "status"));
		volid = json_string_value(json_object_get(reply, "volid"));
		msg = json_string_value(json_object_get(reply, "msg"));
		if (status != NULL && strcmp(status, "pending") == 0) {
			json_decref(reply);
			if (client_interrupted()) {
				snprintf(err, errlen, "interrupted");
				return -1;
			}
			sleep(1);
			continue;
		}
		if (status != NULL && strcmp(status, "complete") == 0 &&
		    volid != NULL) {
			strlcpy(v->target_volid, volid,
			    sizeof(v->target_volid));
			rv = 0;
		} else {
			if (msg == NULL)
				msg = status != NULL ? status : "no status";
			snprintf(err, errlen, "disk import of %s failed: %s",
			    v->volid, msg);
			one_line(err);
		}
		json_decref(reply);
		return rv;
	}
	snprintf(err, errlen, "disk import of %s did not finish", v->volid);
	return -1;
}

int
import_volume(struct migration *m, struct volume *v, double limit,
    char *err, size_t errlen)
{
	json_t		*req, *reply;
	int		 qcow2 = strcmp(v->format, "qcow2") == 0, rv;
	char		 fmt[16], sock[256];

	snprintf(fmt, sizeof(fmt), "%s+size", v->format);
	say("%s: migrating %s (%s, %llu bytes) to storage %s", v->key,
	    v->volid, v->format, (unsigned long long)v->file_size,
	    v->target_storage);
	req = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:s}", "cmd",
	    "disk-import", "volname", v->target_volname, "format", v->format,
	    "storage", v->target_storage, "export_formats", fmt,
	    "with_snapshots", qcow2, "migration_snapshot", 0,
	    "allow_rename", "1");
	if (command(m, req, T_DISK_IMPORT, &reply, err, errlen) == -1)
		return -1;
	rv = strlcpy(sock, json_string_value(json_object_get(reply,
	    "socket")) ?: "", sizeof(sock)) >= sizeof(sock) || sock[0] == '\0';
	json_decref(reply);
	if (rv) {
		snprintf(err, errlen, "disk-import replied without a socket");
		return -1;
	}
	if (stream_volume(m, v, sock, limit, err, errlen) == -1 ||
	    wait_import(m, v, err, errlen) == -1)
		return -1;
	say("%s: imported as %s", v->key, v->target_volid);
	return 0;
}

int
send_config(struct migration *m, char *err, size_t errlen)
{
	char	*text;
	json_t	*req;

	if ((text = source_target_config(&m->src, err, errlen)) == NULL)
		return -1;
	req = json_pack("{s:s,s:s,s:n}", "cmd", "config", "conf", text,
	    "firewall-config");
	free(text);
	return command(m, req, T_CONFIG, NULL, err, errlen);
}

static int
migrate_offline(struct migration *m, char *err, size_t errlen)
{
	double	 limits[VOLUMES_MAX];
	size_t	 i;

	for (i = 0; i < m->src.nvolumes; i++)
		if (volume_bwlimit(m, m->src.volumes[i].target_storage,
		    &limits[i], err, errlen) == -1)
			return -1;
	for (i = 0; i < m->src.nvolumes; i++) {
		if (limits[i] > 0)
			say("%s: bandwidth limit %.0f KiB/s",
			    m->src.volumes[i].key, limits[i]);
		if (import_volume(m, &m->src.volumes[i], limits[i], err,
		    errlen) == -1)
			return -1;
	}
	if (send_config(m, err, errlen) == -1)
		return -1;
	say("config sent to the target");
	if (command(m, json_pack("{s:s}", "cmd", "unlock"), T_UNLOCK, NULL,
	    err, errlen) == -1)
		return -1;
	return command(m, json_pack("{s:s,s:i}", "cmd", "quit", "cleanup", 0),
	    T_QUIT, NULL, err, errlen);
}

/* After a failure: the target frees what it made, the source unlocks. */
static void
cleanup(struct migration *m)
{
	char	 err[ERR_MAX];

	if (m->client != NULL)
		client_cleanup_mode(m->client);
	if (m->tunnel_open && m->client != NULL) {
		say("aborting: asking the target to clean up");
		if (command(m, json_pack("{s:s,s:i}", "cmd", "quit", "cleanup",
		    1), T_QUIT, NULL, err, sizeof(err)) == -1)
			fprintf(stderr, "mtunnel-migrate: cleanup on the "
			    "target failed: %s\n", err);
		ctl_close(m->client);
	}
	if (m->locked && source_set_lock(&m->src, NULL, err, sizeof(err)) ==
	    -1)
		fprintf(stderr, "mtunnel-migrate: %s\n", err);
	m->locked = 0;
}

/* The last line: what moved, in how long, at which average rate. */
static void
summary(const struct migration *m, double seconds)
{
	double	 mib = 0;
	size_t	 i;

	for (i = 0; i < m->src.nvolumes; i++)
		mib += (m->online && m->src.volumes[i].online ?
		    m->src.volumes[i].size : m->src.volumes[i].file_size) /
		    (1024.0 * 1024.0);
	say("migration finished successfully: %zu volumes, %.1f MiB of "
	    "disk data in %.1f s (%.1f MiB/s on average)", m->src.nvolumes,
	    mib, seconds, seconds > 0 ? mib / seconds : 0);
}

static void
on_signal(int sig)
{
	client_interrupt();
}

static int
run(struct migration *m, char *err, size_t errlen)
{
	if ((m->client = client_new(&m->target, err, errlen)) == NULL ||
	    check_node(m, err, errlen) == -1 ||
	    check_vmid_free(m, err, errlen) == -1 ||
	    check_storages(m, err, errlen) == -1)
		return -1;
	if (source_set_lock(&m->src, "migrate", err, errlen) == -1)
		return -1;
	m->locked = 1;
	if (open_tunnel(m, err, errlen) == -1 ||
	    check_version(m, err, errlen) == -1)
		return -1;
	if (m->online) {
		if (migrate_live(m, err, errlen) == -1)
			return -1;
	} else if (migrate_offline(m, err, errlen) == -1)
		return -1;
	m->tunnel_open = 0;
	ctl_close(m->client);
	if (source_set_lock(&m->src, NULL, err, errlen) == -1)
		return -1;
	m->locked = 0;
	return 0;
}

int
main(int argc, char **argv)
{
	static struct migration	 m;
	const char		*file = NULL, *prefix = NULL;
	char			 err[ERR_MAX];
	double			 start = now_seconds();

	parse_args(&m, argc, argv, &file, &prefix);
	load_local(&m, file, prefix);
	if (m.online && !source_running(&m.src)) {
		say("VM %u is not running: doing an offline migration",
		    m.vmid);
		m.online = 0;
	}
	if (!m.online && source_running(&m.src))
		die("VM %u is running: use --online", m.vmid);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	say("starting migration of VM %u to VM %u on %s", m.vmid,
	    m.target_vmid, m.target.host);
	if (run(&m, err, sizeof(err)) == -1) {
		fprintf(stderr, "mtunnel-migrate: migration aborted: %s\n",
		    err);
		cleanup(&m);
		client_free(m.client);
		return 1;
	}
	if (m.delete && source_destroy(&m.src, err, sizeof(err)) == -1)
		fprintf(stderr, "mtunnel-migrate: --delete: %s\n", err);
	else if (m.delete)
		say("removed VM %u from this host", m.vmid);
	summary(&m, now_seconds() - start);
	client_free(m.client);
	return 0;
}
