/*
 * The tunnel role: one process per migration, the JSON-lines command
 * protocol and its state machine.
 */

#ifndef MTUNNELD_TUNNEL_H
#define MTUNNELD_TUNNEL_H

#include <sys/uio.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CONTROL_LINE_MAX	(1024 * 1024)	/* bytes, without the LF */
#define CONTROL_WBUF_SIZE	(64 * 1024)
#define CONTROL_REPLY_MAX	(16 * 1024)	/* one reply line */
#define CONTROL_DEPTH_MAX	64	/* JSON nesting of a request */
#define CONTROL_MSG_MAX		2048	/* "msg" of an error reply */
/* Bytes of a result's JSON part.  A larger one is a protocol violation. */
#define CMD_RESULT_JSON_MAX	(8 * 1024)

struct control {
	int	 fd;
	int	 exit_mode;		/* after quit */
	int	 quit_cleanup;
	int	 closing;		/* flush the replies, then end */
	size_t	 rlen;
	size_t	 wlen;
	char	 rbuf[CONTROL_LINE_MAX + 1];
	char	 wbuf[CONTROL_WBUF_SIZE];
};

extern struct control	 control;

int	tunnel_sandbox(void);

/* control.c */
void	control_process(void);
int	control_read(void);
int	control_write(void);
int	control_want_read(void);
int	control_result(uint32_t, const void *, size_t, char *, size_t);
void	control_reply_ok(json_t *);
void	control_reply_error(const char *, ...)
	    __attribute__((format(printf, 1, 2)));

/*
 * commands.c.  A cmd_send_fn queues one request to the parent (type,
 * reqid, payload) and returns 0, or -1 if it cannot.
 */
typedef int	(*cmd_send_fn)(uint32_t, uint32_t, const struct iovec *, int);

void	cmd_init(uint32_t, cmd_send_fn);
void	cmd_preload(void);
int	cmd_known(const char *);
void	cmd_dispatch(const char *, json_t *);
int	cmd_pending(void);
int	cmd_result(uint32_t, const void *, size_t, char *, size_t);
const char	*cmd_expected_lock(void);

/* schema.c */
enum schema_type {
	SCHEMA_STRING,
	SCHEMA_BOOLEAN,
	SCHEMA_INTEGER,
	SCHEMA_OBJECT,
	SCHEMA_ARRAY,
};

struct schema_prop {
	const char		 *name;
	enum schema_type	  type;
	int			  optional;	/* null counts as absent */
	/* Strings: a format check that writes upstream's problem text. */
	int			(*check)(const char *, char *, size_t);
	size_t			  max_length;	/* bytes, 0 for none */
	const char *const	 *values;	/* enum, NULL-terminated */
	/* Integers. */
	int			  has_minimum;
	json_int_t		  minimum;
	/* Arrays: the schema of every element, or NULL for none. */
	const struct schema_prop *items;
};

struct schema {
	const struct schema_prop	*props;
	size_t				 nprops;
};

extern const struct schema	schema_none;
extern const struct schema	schema_config;
extern const struct schema	schema_disk;
extern const struct schema	schema_disk_import;
extern const struct schema	schema_bwlimit;
extern const struct schema	schema_ticket;
extern const struct schema	schema_quit;
extern const struct schema	schema_start;
extern const struct schema	schema_start_params;
extern const struct schema	schema_migrate_opts;

int	schema_validate(const struct schema *, json_t *, char *, size_t);
void	text_excerpt(char *, size_t, const char *, size_t);

#endif /* MTUNNELD_TUNNEL_H */
