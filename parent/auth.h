/*
 * The parent's view of users, tokens, ACLs and storages, loaded at start
 * and on SIGHUP.
 */

#ifndef MTUNNELD_PARENT_AUTH_H
#define MTUNNELD_PARENT_AUTH_H

#include "storagecfg.h"
#include "token.h"
#include "usercfg.h"

struct parent;

#define PATH_MAX_NET	64	/* /sys/class/net/<name>/bridge */

struct authdata {
	struct usercfg		 users;
	struct token_secrets	 secrets;
	struct storagecfg	 storages;
};

const struct storage	*auth_storage_find(struct parent *, const char *);
const struct storage	*auth_storage_at(struct parent *, size_t);

#endif /* MTUNNELD_PARENT_AUTH_H */
