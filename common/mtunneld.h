/*
 * Messages between mtunneld's processes, the structs they carry, and the
 * entry point of each role.  Every process includes this header and no
 * other process's.
 */

#ifndef MTUNNELD_H
#define MTUNNELD_H

#include <sys/types.h>
#include <stdint.h>

#define MTUNNELD_VERSION	"0.1"

/*
 * Raised whenever a message type or struct below changes, so that a child
 * re-executed from a newer binary is rejected instead of misread.
 */
#define IMSG_FORMAT_VERSION	4

/* The channel to the parent, in every child after exec. */
#define PROC_CHANNEL_FD		3

#define VMID_MIN		100
#define VMID_MAX		999999999U

enum proc_role {
	PROC_PARENT,
	PROC_PRIV,
	PROC_API,
	PROC_TUNNEL,
	PROC_SPAWNER,
};

/*
 * Message types.  Requests are named for their area and action; a reply
 * that can span several messages ends with *_END.  Who sends each one is
 * noted beside it; a receiver drops the channel on any type it does not
 * expect from that peer.
 */
enum imsg_type {
	IMSG_NONE,

	/* Set-up, on every channel. */
	IMSG_PROC_HELLO,		/* both ways: struct proc_hello */
	IMSG_PROC_SETUP,		/* parent -> child: struct proc_setup */
	IMSG_PROC_READY,		/* child -> parent: filter in place */

	/* Logging and audit, child -> parent. */
	IMSG_LOG_RECORD,		/* struct log_record + text */
	IMSG_AUDIT_EVENT,		/* struct audit_event + JSON */

	/* parent -> api */
	IMSG_API_LISTENER,		/* fd: the listening TCP socket */
	IMSG_API_TLS_CERT,		/* PEM certificate chain */
	IMSG_API_TLS_KEY,		/* PEM private key */
	IMSG_AUTH_TOKENS,		/* salted token hashes, in parts */
	IMSG_AUTH_TOKENS_END,
	IMSG_API_CONFIG_DONE,		/* all of the above sent */

	/* api -> parent requests, each with a *_RESULT reply */
	IMSG_API_MTUNNEL,		/* POST .../mtunnel */
	IMSG_API_MTUNNEL_RESULT,
	IMSG_API_WSCONNECT,		/* ticket check and socket connect */
	IMSG_API_WSCONNECT_RESULT,	/* fd: the connected socket */
	IMSG_API_QUERY,			/* read-only endpoints */
	IMSG_API_QUERY_RESULT,

	/* parent <-> tunnel */
	IMSG_TUNNEL_LISTENER,		/* parent -> tunnel, fd: control */
	IMSG_TUNNEL_CONFIG,		/* struct tunnel_config + texts */
	IMSG_TUNNEL_DISK_ALLOC,		/* struct tunnel_disk_alloc */
	IMSG_TUNNEL_DISK_IMPORT,	/* struct tunnel_disk_import */
	IMSG_TUNNEL_IMPORT_QUERY,	/* no payload */
	IMSG_TUNNEL_BWLIMIT,		/* struct tunnel_bwlimit */
	IMSG_TUNNEL_VM_START,
	IMSG_TUNNEL_VM_RESUME,
	IMSG_TUNNEL_VM_STOP,
	IMSG_TUNNEL_NBD_STOP,
	IMSG_TUNNEL_FSTRIM,
	IMSG_TUNNEL_TICKET,		/* struct tunnel_ticket */
	IMSG_TUNNEL_LOCK_CHECK,		/* struct tunnel_lock_check */
	IMSG_TUNNEL_UNLOCK,		/* no payload */
	IMSG_TUNNEL_QUIT,		/* struct tunnel_quit */
	IMSG_TUNNEL_RESULT,		/* parent -> tunnel, any request */

	/*
	 * parent -> priv.  Each carries the VMID and user the parent
	 * stamped, never a value the tunnel or api wrote.
	 */
	IMSG_PRIV_CONFIG_CREATE,	/* create and lock the placeholder */
	IMSG_PRIV_CONFIG_WRITE,		/* struct priv_config_write + texts */
	IMSG_PRIV_CONFIG_LOCK,		/* struct priv_config_lock */
	IMSG_PRIV_CONFIG_DESTROY,
	IMSG_PRIV_SOCKET_CREATE,	/* listening socket, fd in the reply */
	IMSG_PRIV_DISK_ALLOC,		/* struct priv_disk_alloc */
	IMSG_PRIV_DISK_IMPORT,		/* struct priv_disk_import */
	IMSG_PRIV_IMPORT_QUERY,		/* struct priv_vmid_req */
	IMSG_PRIV_BWLIMIT,
	IMSG_PRIV_VM_START,
	IMSG_PRIV_VM_RESUME,
	IMSG_PRIV_VM_STOP,
	IMSG_PRIV_NBD_STOP,
	IMSG_PRIV_FSTRIM,
	IMSG_PRIV_CLEANUP,		/* struct priv_cleanup */
	IMSG_PRIV_RESULT,		/* priv -> parent, any request */

	/* priv <-> spawner */
	IMSG_SPAWN_EXEC,		/* struct spawn_exec + argv strings */
	IMSG_SPAWN_STARTED,		/* struct spawn_result */
	IMSG_SPAWN_EXITED,		/* struct spawn_result */

	IMSG_MAX
};

struct proc_hello {
	uint32_t	 format;	/* IMSG_FORMAT_VERSION */
	uint32_t	 role;		/* enum proc_role of the sender */
};

/* The user, root directory and role data of a child, from the parent. */
struct proc_setup {
	uint32_t	 role;
	uint32_t	 uid;
	uint32_t	 gid;
	uint32_t	 vmid;		/* tunnel only, else 0 */
	uint32_t	 verbose;
	uint32_t	 accept_timeout;	/* tunnel: seconds */
	char		 chroot[256];	/* "" keeps "/" (priv) */
	char		 rundir[256];	/* priv only */
	char		 statedir[256];	/* priv only */
	char		 confdir[256];	/* priv only */
	char		 qemu[256];	/* spawner: the only binaries it runs */
	char		 qemu_img[256];
	char		 qemu_user[64];	/* priv: QEMU's -runas */
};

/* Log priorities, as in syslog.h. */
struct log_record {
	int32_t		 priority;
	/* followed by the message text, not NUL-terminated */
};

#define LOG_RECORD_MAXTEXT	2048

#define AUDIT_EVENT_NAME_LEN	32

/*
 * An audit event from a child: the VMID it concerns (0 for none), the
 * event name from the parent's fixed list, then the event's fields as a
 * JSON object.  For a tunnel, the parent uses its own VMID instead.  It
 * adds seq, time, prev, process, user and remote.
 */
struct audit_event {
	uint32_t	 vmid;
	char		 event[AUDIT_EVENT_NAME_LEN];
};

struct priv_cleanup {
	uint32_t	 vmid;
	uint32_t	 reason;	/* enum cleanup_reason */
};

enum cleanup_reason {
	CLEANUP_QUIT,
	CLEANUP_DISCONNECT,
	CLEANUP_ACCEPT_TIMEOUT,
	CLEANUP_TUNNEL_LOST,
	CLEANUP_FINISHED,	/* quit, no cleanup: keep all, drop journal */
};

/*
 * API requests.  The api worker has already checked the token against its
 * snapshot.  It passes the token id and secret as well, so that the
 * parent checks them again before it decides anything.
 */
#define AUTHID_MAX		128	/* user@realm!tokenname */
#define TOKEN_SECRET_MAX	128
#define NODE_NAME_MAX		64
#define API_LIST_MAX		1024	/* storages or bridges, as sent */
#define API_PATH_MAX		256	/* socket paths, UPIDs */
#define TICKET_MAX		256
#define ADDR_TEXT_MAX		64

struct api_auth {
	char		 tokenid[AUTHID_MAX];
	char		 secret[TOKEN_SECRET_MAX];
	char		 remote[ADDR_TEXT_MAX];	/* client address, for logs */
};

struct api_mtunnel {
	struct api_auth	 auth;
	char		 node[NODE_NAME_MAX];
	uint32_t	 vmid;
	char		 storages[API_LIST_MAX];
	char		 bridges[API_LIST_MAX];
};

struct api_wsconnect {
	struct api_auth	 auth;
	char		 node[NODE_NAME_MAX];
	uint32_t	 vmid;
	char		 socket[API_PATH_MAX];
	char		 ticket[TICKET_MAX];
};

enum api_query_kind {
	API_QUERY_CLUSTER_STATUS,	/* GET cluster/status */
	API_QUERY_CERT_INFO,		/* GET nodes/{node}/certificates/info */
	API_QUERY_RESOURCES,		/* GET cluster/resources */
	API_QUERY_STORAGE,		/* GET nodes/{node}/storage */
	API_QUERY_TASK_STATUS,		/* GET nodes/{node}/tasks/{upid}/.. */
};

struct api_query {
	struct api_auth	 auth;
	uint32_t	 kind;		/* enum api_query_kind */
	char		 node[NODE_NAME_MAX];
	char		 arg[API_PATH_MAX];	/* type=, or the UPID */
};

/*
 * The parent's reply to any API request: the HTTP status, the reason
 * phrase, then the whole JSON body (may be empty).  A successful
 * WSCONNECT carries the connected socket as the passed descriptor.
 */
struct api_result {
	uint32_t	 status;
	char		 reason[128];
	/* followed by the JSON body */
};

/* A token snapshot entry, parent -> api in IMSG_AUTH_TOKENS. */
struct auth_token {
	char		 tokenid[AUTHID_MAX];
	char		 hash[160];	/* scheme$salt$hash, never a secret */
	int64_t		 expire;	/* token's, or the user's if sooner */
	uint32_t	 enabled;	/* user enabled */
};

/* parent -> priv and back, for the placeholder config and sockets. */
struct priv_vmid_req {
	uint32_t	 vmid;
	uint32_t	 kind;		/* socket kind, for SOCKET_CREATE */
};

enum priv_socket_kind {
	SOCKET_MTUNNEL,		/* <vmid>.mtunnel, the control socket */
	SOCKET_MIGRATE,		/* <vmid>.migrate, QEMU memory */
	SOCKET_NBD,		/* <vmid>_nbd.migrate */
	SOCKET_STORAGE,		/* <vmid>.storage, disk import */
};

struct priv_result {
	int32_t		 error;		/* 0, or an errno */
	char		 msg[256];	/* what failed, for the API error */
	/*
	 * Followed by a JSON object with the result fields, or nothing.
	 * SOCKET_CREATE: the listening socket as the passed descriptor.
	 */
};

/*
 * Tunnel requests.  The tunnel sends one request per command step and
 * reads nothing from its control connection until the IMSG_TUNNEL_RESULT
 * with the same reqid arrives.  The parent adds the VMID and token id it
 * stores for that tunnel, so nothing in these structs names either.
 */
#define LOCK_NAME_MAX		16	/* "create", "migrate", "" for none */
#define STORAGE_NAME_MAX	65	/* an ID of 64, and the NUL */
#define FORMAT_NAME_MAX		16	/* raw, qcow2, vmdk */
#define VOLNAME_MAX		256
#define EXPORT_FORMATS_MAX	256	/* "raw+size,qcow2+size" */
#define CONFIG_TEXT_MAX		(1024 * 1024)

struct tunnel_lock_check {
	char		 expected[LOCK_NAME_MAX];	/* the config's lock */
};

/* IMSG_TUNNEL_CONFIG: followed by conf_len + fw_len bytes of text. */
struct tunnel_config {
	uint32_t	 conf_len;	/* canonical VM config, lock excluded */
	uint32_t	 fw_len;	/* firewall config, 0 for none */
};

struct tunnel_disk_alloc {
	char		 storage[STORAGE_NAME_MAX];
	char		 format[FORMAT_NAME_MAX];	/* requested */
	uint64_t	 size;		/* bytes */
};

struct tunnel_disk_import {
	char		 storage[STORAGE_NAME_MAX];
	char		 volname[VOLNAME_MAX];	/* hint, source VMID replaced */
	char		 format[FORMAT_NAME_MAX];	/* the volume's */
	char		 export_formats[EXPORT_FORMATS_MAX];
	uint32_t	 allow_rename;
	uint32_t	 with_snapshots;
};

struct tunnel_bwlimit {
	char		 storages[API_LIST_MAX];	/* split_list form */
	char		 operation[32];		/* "" means migration */
	int64_t		 bwlimit;	/* KiB/s override, -1 for none */
};

struct tunnel_ticket {
	char		 path[API_PATH_MAX];	/* wire name */
};

struct tunnel_quit {
	uint32_t	 cleanup;
};

/*
 * IMSG_TUNNEL_VM_START: start_params as the source sent them, and the
 * drives to export over NBD, each with the volume that disk allocated
 * for it.  Empty strings stand for absent values.
 */
#define MACHINE_NAME_MAX	64
#define CPU_ARG_MAX		1024
#define NETS_MTU_MAX		512
#define DRIVE_KEY_LEN		16	/* "efidisk0", "virtio15" */
#define NBD_DRIVES_MAX		64	/* every drive key of a VM */
#define VM_VOLID_MAX		(STORAGE_NAME_MAX + VOLNAME_MAX)

struct tunnel_vm_drive {
	char		 key[DRIVE_KEY_LEN];
	char		 volid[VM_VOLID_MAX];
};

struct tunnel_vm_start {
	char			 forcemachine[MACHINE_NAME_MAX];
	char			 forcecpu[CPU_ARG_MAX];
	char			 nets_host_mtu[NETS_MTU_MAX];
	uint32_t		 ndrives;
	struct tunnel_vm_drive	 drives[NBD_DRIVES_MAX];
};

/*
 * The parent's answer to any tunnel request: 0 or an errno, the error
 * message as the source shows it, then a JSON object with the result
 * fields (for example {"volid": ..}), or nothing.
 */
struct tunnel_result {
	int32_t		 error;
	char		 msg[512];
};

/* parent -> priv, each with the VMID the parent stamped. */
enum priv_lock_op {
	LOCK_OP_CHECK,		/* fail unless the config holds expected */
	LOCK_OP_SET,		/* expected -> newlock ("" removes it) */
};

struct priv_config_lock {
	uint32_t	 vmid;
	uint32_t	 op;
	char		 expected[LOCK_NAME_MAX];
	char		 newlock[LOCK_NAME_MAX];
};

/* Followed by conf_len + fw_len bytes, as struct tunnel_config. */
struct priv_config_write {
	uint32_t	 vmid;
	uint32_t	 conf_len;
	uint32_t	 fw_len;
};

struct priv_disk_alloc {
	uint32_t		 vmid;
	struct tunnel_disk_alloc disk;
};

struct priv_disk_import {
	uint32_t		 vmid;
	struct tunnel_disk_import disk;
};

#define BRIDGE_MAP_MAX		1024	/* "vmbr0=user,vmbr1=none" */

/* IMSG_PRIV_VM_START: the tunnel's request and the daemon's bridges. */
struct priv_vm_start {
	uint32_t		 vmid;
	char			 bridges[BRIDGE_MAP_MAX];
	struct tunnel_vm_start	 start;
};

#define SPAWN_MAXARGS		256

#define SPAWN_STDOUT_FD		0x0001	/* the passed fd becomes stdout */
#define SPAWN_STDERR_FD		0x0002	/* and stderr, with SPAWN_STDOUT_FD */

struct spawn_exec {
	uint32_t	 uid;		/* run as; 0 keeps root */
	uint32_t	 gid;
	uint32_t	 argc;
	uint32_t	 flags;		/* SPAWN_* */
	uint32_t	 timeout;	/* seconds until SIGKILL, 0 for none */
	uint32_t	 pad;
	uint64_t	 memory_limit;	/* RLIMIT_AS in bytes, 0 for none */
	/* followed by argc NUL-terminated strings */
};

struct spawn_result {
	int32_t		 pid;
	int32_t		 error;		/* errno of a failed start */
	int32_t		 status;	/* wait status, SPAWN_EXITED only */
};

/* Entry points of the roles, selected by mtunneld's -X flag. */
__attribute__((noreturn)) void	priv_main(int, int);
__attribute__((noreturn)) void	api_main(int, int);
__attribute__((noreturn)) void	tunnel_main(int, int);

const char	*proc_role_name(enum proc_role);
int		 proc_role_parse(const char *, enum proc_role *);

#endif /* MTUNNELD_H */
