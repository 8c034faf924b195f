/*
 * Privileges of a user or API token on an ACL path, evaluated over a
 * parsed user.cfg as Proxmox VE does:
 *
 * - root@pam has every privilege everywhere; its ACL entries are ignored.
 * - The ACL tree is walked from / down to the path.  At each level an
 *   entry counts when its propagate flag is 1 or the level is the path
 *   itself.  The first of these that has a counting entry wins the level:
 *   entries naming the privilege-separated token itself, entries naming
 *   the user, the union of the entries naming the user's groups.  The
 *   winning roles replace what the levels above gave; a level with no
 *   counting entry changes nothing.
 * - If the final roles include NoAccess there is no privilege at all;
 *   otherwise the privileges are the union of the roles' privileges.
 * - A token with privsep 0 has exactly its user's privileges, and ACL
 *   entries naming it are ignored.  A token with privsep 1 has its own
 *   ACL privileges intersected with its user's on the same path (for a
 *   root@pam token, its own ACL privileges).
 * - NOTE: pools are not evaluated.  Roles on /pool/NAME count for that
 *   path only, not for the pool's VMs and storages.
 *
 * Not checked here: whether the user is enabled and not expired, whether
 * the token has expired, and the token secret.  The caller authenticates
 * first, with usercfg_check_login() and token_hash_verify().
 *
 * The privilege names, the built-in roles and acl_path_normalize() are
 * declared in usercfg.h, because the parser needs them too.
 */

#ifndef MTUNNELD_ACL_H
#define MTUNNELD_ACL_H

#include <stdint.h>

#include "usercfg.h"

int	acl_privileges(const struct usercfg *, const char *, const char *,
	    uint64_t *);
int	acl_check(const struct usercfg *, const char *, const char *,
	    const char *);
int	acl_check_all(const struct usercfg *, const char *, const char *,
	    uint64_t);
int	acl_check_any(const struct usercfg *, const char *, const char *,
	    uint64_t);

#endif /* MTUNNELD_ACL_H */
