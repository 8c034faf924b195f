/*
 * The audit log: record format, hash chain, writer and verifier.
 *
 * The file contains one JSON object per line, written only by the parent:
 *
 *   {"seq":7,"time":"2026-12-04T18:50:04.123Z","prev":"<64 hex>",
 *    "event":"tunnel-created","process":"parent","user":"u@pve!t",
 *    "vmid":100,"remote":"127.0.0.1", ...the event's own fields}
 *
 * seq counts records from 1 and continues across rotated files.  prev is
 * the lowercase hex SHA-256 of the previous record's line: the exact
 * bytes between the start of the line and its newline, newline excluded.
 * The first record of a new log has 64 zeros as prev.  Lines are
 * compact JSON with only ASCII bytes (jansson's JSON_ENSURE_ASCII), so
 * the bytes hashed are the bytes a reader reads.
 *
 * The hash of the last record has no successor to cover it, so the writer
 * also keeps "<log>.head": one line "<seq> <hex SHA-256 of the last
 * line>", rewritten after every record.  Without it a verifier could not
 * tell a log whose last records were deleted from a shorter log.
 *
 * Rotation: when the current file reaches its size limit after a record,
 * the writer renames it to "<log>.<N>" (N one more than the highest
 * rotated file, starting at 1) and starts a new "<log>" whose first
 * record, "audit-log-rotated", continues seq and whose prev links the
 * last record of the renamed file.
 */

#ifndef MTUNNELD_AUDITLOG_H
#define MTUNNELD_AUDITLOG_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define AUDIT_HASH_HEX		64	/* hex digits of a SHA-256 */
#define AUDIT_FIELDS_MAX	8192	/* JSON text a child may send */
#define AUDIT_LINE_MAX		65536	/* longest record a verifier reads */
#define AUDIT_ROTATE_SIZE	(16 * 1024 * 1024)	/* bytes */
#define AUDIT_ROTATED_MAX	100000	/* highest N of "<log>.<N>" */

struct imsgbuf;

/* Names the parent adds to every record; no event's fields may use them. */
int	 audit_reserved_key(const char *);

/*
 * Child side.  audit_emit() records an event about vmid (0 for none)
 * with the event's own fields (a JSON object or NULL) and steals the
 * fields reference.  In a child it sends IMSG_AUDIT_EVENT over the
 * channel given to audit_to_channel(); in the parent it calls the
 * function given to audit_set_local().  With neither, it drops the event
 * and logs a warning.
 */
typedef void	(*audit_local_fn)(const char *, uint32_t, json_t *);

void	 audit_emit(const char *, uint32_t, json_t *);
void	 audit_to_channel(struct imsgbuf *);
void	 audit_set_local(audit_local_fn);

/* SHA-256 of buf as lowercase hex into hex[AUDIT_HASH_HEX + 1]. */
void	 audit_hash_hex(const void *, size_t, char *);

/* The writer: one log file, its rotated files and its head file. */
struct audit_writer {
	int		 fd;		/* the log, O_APPEND */
	int		 headfd;	/* "<log>.head" */
	char		 path[4096];
	uint64_t	 seq;		/* of the last record written */
	char		 last[AUDIT_HASH_HEX + 1];	/* its hash */
	off_t		 size;		/* of the current file */
	off_t		 rotate_size;	/* 0: never rotate */
};

int	 audit_writer_open(struct audit_writer *, const char *, off_t,
	    char *, size_t);
int	 audit_writer_append(struct audit_writer *, json_t *, char *,
	    size_t);
void	 audit_writer_close(struct audit_writer *);
int	 audit_rotated_list(const char *, unsigned int **, size_t *);

/* The verifier: feed the files of one chain in order. */
struct audit_verify {
	int		 later_start;	/* set: the chain may start past 1 */
	uint64_t	 first_seq;	/* first record read, 0 before any */
	uint64_t	 seq;		/* last good record, 0 before any */
	char		 last[AUDIT_HASH_HEX + 1];	/* its hash */
	unsigned long	 records;	/* good records read */
	int		 failed;
	uint64_t	 bad_seq;	/* the record the failure names */
	char		 file[256];	/* where it was found */
	unsigned long	 line;
	char		 error[512];	/* what is wrong, for people */
};

void	 audit_verify_init(struct audit_verify *);
int	 audit_verify_stream(struct audit_verify *, FILE *, const char *);
int	 audit_verify_file(struct audit_verify *, const char *);
int	 audit_verify_head(struct audit_verify *, const char *);

#endif /* MTUNNELD_AUDITLOG_H */
