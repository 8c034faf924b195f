/*
 * The parent's audit log writer: it stamps time, process, user, VMID and
 * remote address on each event, checks what children send, and rejects
 * new migrations while the log cannot be written.  The record format and
 * the hash chain are described in common/auditlog.h.
 */

#ifndef MTUNNELD_PARENT_AUDIT_H
#define MTUNNELD_PARENT_AUDIT_H

#include <stdint.h>

#include <jansson.h>

#include "mtunneld.h"

struct parent;
struct child;
struct imsg;

int	 audit_init(struct parent *, char *, size_t);
void	 audit_close(int);
void	 audit_record(const char *, const char *, const char *, uint32_t,
	    const char *, json_t *);
void	 audit_child_event(struct parent *, struct child *, struct imsg *);
int	 audit_check_mtunnel(struct child *, uint32_t, uint32_t);

/* API requests: begin when the request arrives, result with the reply. */
void	 audit_api_begin(struct child *, uint32_t, const char *,
	    const struct api_auth *, uint32_t);
const char *audit_query_endpoint(uint32_t);
void	 audit_api_result(struct child *, uint32_t, int, const char *);
void	 audit_auth_failed(struct child *, uint32_t, const struct api_auth *,
	    const char *);

/* Tunnel commands: begin on the request, result with the reply. */
void	 audit_tunnel_begin(struct child *, uint32_t, uint32_t);
void	 audit_tunnel_result(struct child *, uint32_t, int, const char *);

void	 audit_ticket(const char *, const char *, uint32_t, const char *,
	    const char *, const char *);
void	 audit_child_lost(struct child *, const char *);

#endif /* MTUNNELD_PARENT_AUDIT_H */
