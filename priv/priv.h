/*
 * The priv role: the privileged helper, and the spawner it forks.
 */

#ifndef MTUNNELD_PRIV_H
#define MTUNNELD_PRIV_H

#include <sys/types.h>

#include <jansson.h>

#include "imsg.h"
#include "mtunneld.h"
#include "storagecfg.h"

#define SPAWN_EXEC_DENIED	"binary is neither qemu-binary nor " \
				"qemu-img-binary"

#define PATH_MAX_PRIV		512	/* config, lock and journal paths */
#define VOLUME_PATH_MAX		4096	/* a volume file, storage path too */
#define VOLID_MAX		(STORAGE_ID_MAX + VOLNAME_FILE_MAX + 16)
#define VOLUMES_PER_GUEST	1024	/* disk names 0 to 1023, as upstream */
#define PRIV_MSG_MAX		256	/* sizeof(struct priv_result.msg) */

#define LOCK_TIMEOUT_MS		5000	/* waiting for a per-VMID lock */

/* qemu-img create and info, each a child of the spawner. */
#define QEMU_IMG_CREATE_TIMEOUT	3600	/* seconds; full preallocation */
#define QEMU_IMG_INFO_TIMEOUT	30	/* seconds */
#define QEMU_IMG_INFO_MEMORY	(1024ULL * 1024 * 1024)	/* RLIMIT_AS */
#define QEMU_IMG_OUTPUT_MAX	(256 * 1024)	/* bytes of JSON kept */

/* A request whose reply is sent later, when its work has finished. */
struct priv_req {
	uint32_t	 type;
	uint32_t	 peerid;	/* the VMID the parent stamped */
	uint32_t	 reqid;
};

int	priv_sandbox(void);

/* priv.c: services for the other files of the role. */
const struct proc_setup	*priv_config(void);
pid_t	priv_config_pid(void);
void	priv_req_of(const struct imsg *, struct priv_req *);
/*
 * Send the reply to req, IMSG_PRIV_RESULT: error (0 or an errno), msg,
 * then the JSON text of fields (consumed, may be NULL), and fd (-1 for
 * none).
 */
void	priv_reply(const struct priv_req *, int, const char *, json_t *,
	    int);
void	priv_reply_to(const struct imsg *, int, const char *);
void	priv_refuse(const struct imsg *, const char *);
void	priv_log_error(uint32_t, const char *, const char *);
int	priv_string_ok(const char *, size_t);
int	priv_check_stamp(const struct imsg *, uint32_t);
int	priv_check_vmid(const struct imsg *, struct priv_vmid_req *);

typedef void	(*priv_watch_fn)(int, short, void *);
/* Poll fd for events in the main loop and call fn with the revents. */
int	priv_watch(int, short, priv_watch_fn, void *);
void	priv_unwatch(int);
/* In a child of priv: close the channels and every watched descriptor. */
void	priv_child_close_fds(void);

/*
 * Work run through the spawner.  done gets error (an errno when the
 * program did not start), the wait status, and the captured output when
 * SPAWN_STDOUT_FD was asked for.
 */
typedef void	(*priv_spawn_fn)(void *, int, int, const char *, size_t);
int	priv_spawn(uint32_t, const struct spawn_exec *, const char *const *,
	    priv_spawn_fn, void *);
/* Number of spawned programs still running for vmid. */
int	priv_spawn_running(uint32_t);

/*
 * Take the per-VMID lock for the request being dispatched.  Returns 0
 * with *lockfd set, 1 when the lock is busy and the request was queued
 * to be tried again (the handler returns without a reply), or -1 with
 * msg set once LOCK_TIMEOUT_MS has passed or on an error.
 */
int	priv_lock(uint32_t, int *, char *, size_t);
/* Queue a request of priv's own behind those of its VMID. */
void	priv_queue_request(uint32_t, uint32_t, const void *, size_t);

/* config.c */
int	config_lock_try(const char *, uint32_t, int *, char *, size_t);
int	config_create(const char *, uint32_t, char *, size_t);
int	config_read(const char *, uint32_t, char **, size_t *, char *,
	    size_t);
int	config_get_lock(const char *, size_t, char *, size_t);
int	config_set_lock(const char *, size_t, const char *, char **,
	    size_t *);
int	config_replace(const char *, uint32_t, const char *, size_t, char *,
	    size_t);
int	firewall_replace(const char *, uint32_t, const char *, size_t,
	    char *, size_t);
int	config_remove(const char *, uint32_t, int, char *, size_t);
int	firewall_remove(const char *, uint32_t, char *, size_t);
void	config_path(const char *, uint32_t, char *, size_t);
void	firewall_path(const char *, uint32_t, char *, size_t);
int	valid_vm_lock(const char *);
void	priv_config_create(const struct imsg *);
void	priv_config_lock(const struct imsg *);
void	priv_config_write(const struct imsg *);

/* journal.c: what a migration created, for cleanup. */
enum journal_volume_state {
	JVOL_INTENT,		/* about to be created */
	JVOL_ALLOCATED,		/* created for the disk command */
	JVOL_RECEIVING,		/* created empty, an import fills it */
	JVOL_IMPORTED,		/* filled and checked */
	JVOL_FAILED,		/* creation failed: nothing of ours exists */
	JVOL_FREED,		/* removed again */
};

struct journal_volume {
	char				 volid[VOLID_MAX];
	char				 path[VOLUME_PATH_MAX];
	enum journal_volume_state	 state;
};

struct journal {
	int			 config_intent;
	int			 config_created;
	int			 config_write_intent;
	int			 config_written;
	int			 firewall_intent;
	int			 firewall_written;
	int			 unlocked;	/* lock removed: VM migrated */
	int			 resumed;	/* the VM runs: keep it */
	int			 qemu_started;	/* an incoming QEMU ran */
	struct journal_volume	*volumes;	/* one entry per volid */
	size_t			 nvolumes;
	size_t			 nrecords;	/* lines read */
	size_t			 nignored;	/* lines ignored */
	char			 ignored[PRIV_MSG_MAX];	/* the first, why */
};

#define JOURNAL_LINE_MAX	(2 * VOLUME_PATH_MAX + 3 * VOLID_MAX + 64)

int	journal_init(const char *, char *, size_t);
int	journal_create(uint32_t, char *, size_t);
int	journal_exists(uint32_t);
int	journal_append(uint32_t, const char *, const char *, const char *);
int	journal_read(uint32_t, struct journal *, char *, size_t);
int	journal_parse(const char *, size_t, struct journal *);
void	journal_free(struct journal *);
int	journal_remove(uint32_t);
int	journal_list(uint32_t *, size_t, size_t *);
int	journal_volume_live(const struct journal_volume *);
const struct journal_volume	*journal_find_volume(const struct journal *,
				    const char *);
int	journal_format_line(char *, size_t, long long, const char *,
	    const char *, const char *);
void	priv_cleanup(const struct imsg *);
void	cleanup_start(uint32_t, uint32_t);
void	cleanup_replay(uint32_t);
void	cleanup_spawns_done(uint32_t);

/* qemu.c and vmproc.c: the QEMU runtime. */
struct qemu_host;
extern struct qemu_host	 qemu_host_caps;
extern int		 qemu_host_probed;
void	qemu_init(void);
void	qemu_probe(void);
void	qemu_report_running(void);
int	qemu_check_config(uint32_t, const char *, size_t, char *, size_t);
void	priv_vm_start(const struct imsg *);
void	priv_vm_op(const struct imsg *);
int	qemu_kill(uint32_t);
int	qemu_running(uint32_t, pid_t *);
int	qemu_record_pid(uint32_t);
void	qemu_remove_files(uint32_t);
void	qemu_remove_taps(uint32_t);

/* volume.c: volumes on dir storages. */
struct volume {
	char			 storage[STORAGE_ID_MAX + 1];
	char			 volid[VOLID_MAX];
	char			 name[VOLNAME_FILE_MAX + 1];	/* file name */
	char			 path[VOLUME_PATH_MAX];
	enum image_format	 format;
	enum preallocation	 preallocation;
	uint64_t		 size_kib;
};

const struct storagecfg	*volume_storages(char *, size_t);
const struct storage	*volume_storage(const char *, char *, size_t);
int	volume_format_resolve(const struct storage *, const char *,
	    enum image_format *, char *, size_t);
int	volume_size_kib(uint64_t, uint64_t *);
int	volume_name_number(const char *, uint32_t);
int	volume_next_number(const unsigned char *);
int	volume_open_imagedir(const struct storage *, uint32_t, int, char *,
	    size_t, char *, size_t);
int	volume_pick_name(int, uint32_t, enum image_format, char *, size_t,
	    char *, size_t);
int	volume_reserve(uint32_t, const struct storage *, struct volume *,
	    int *, char *, size_t);
int	volume_reserve_named(uint32_t, const struct storage *,
	    struct volume *, int *, char *, size_t);
int	volume_check_path(const struct storagecfg *, uint32_t, const char *,
	    const char *, char *, size_t);
int	volume_unlink(const struct storagecfg *, uint32_t, const char *,
	    const char *, char *, size_t);
int	volume_release(uint32_t, const struct volume *, const char *);
const char	*preallocation_name(enum preallocation);
void	priv_disk_alloc(const struct imsg *);

/* import.c: the disk-import stream. */
#define IMPORT_HEADER_SIZE	8	/* little-endian u64: bytes to come */
#define IMPORT_ACCEPT_TIMEOUT_MS	30000
#define IMPORT_IDLE_TIMEOUT_MS	300000	/* no byte for this long: fail */
#define IMPORT_BLOCK		(64 * 1024)

struct import_progress {
	uint64_t	 received;	/* image bytes, header excluded */
	uint64_t	 total;		/* from the header, 0 before it */
};

int	import_target_name(const char *, uint32_t, const char *, char *,
	    size_t, char *, size_t);
int	import_pick_format(const char *, enum image_format, char *, size_t);
uint64_t	import_header_size(const unsigned char *);
int	import_copy(int, int, struct import_progress *,
	    void (*)(const struct import_progress *, void *), void *, char *,
	    size_t);
int	import_check_info(const char *, size_t, enum image_format, char *,
	    size_t);
void	priv_disk_import(const struct imsg *);
void	priv_import_query(const struct imsg *);
int	import_cancel(uint32_t);
int	import_running(uint32_t);

/* sock.c */
void	sock_init(void);
int	sock_name(uint32_t, uint32_t, char *, size_t);
int	sock_create(const char *, uint32_t, uint32_t, char *, size_t);
int	sock_open_dir(const char *, uint32_t, int, char *, size_t);
void	sock_remove(const char *, uint32_t, uint32_t);
void	sock_remove_all(const char *, uint32_t);

/* spawner.c */
pid_t	spawner_fork(const struct proc_setup *, int *);
__attribute__((noreturn)) void	spawner_main(int, const char *,
	    const char *);
int	spawner_parse_exec(const struct imsg *, const char *, const char *,
	    struct spawn_exec *, char **, size_t, char *, size_t);

#endif /* MTUNNELD_PRIV_H */
