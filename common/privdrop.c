/*
 * Privilege drop: chroot, chdir, setgroups, setresgid, setresuid, then a
 * check that root cannot be regained, then no_new_privs.  The seccomp
 * filter comes after this, as the last setup step of each role.
 */

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

/*
 * A chroot directory must belong to root and be writable by no other
 * user, or the unprivileged user could plant files in its own root.
 */
int
check_chroot_dir(const char *path, char *err, size_t errlen)
{
	struct stat	 st;

	if (stat(path, &st) == -1) {
		snprintf(err, errlen, "chroot directory %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "chroot directory %s: not a directory",
		    path);
		return -1;
	}
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen, "chroot directory %s: must be owned by "
		    "root and not writable by group or others (chown root "
		    "%s; chmod 755 %s)", path, path, path);
		return -1;
	}
	return 0;
}

/* Make the process undumpable and unable to gain privileges by exec. */
void
restrict_process(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_DUMPABLE)");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
}

static void
check_ids(uid_t uid, gid_t gid)
{
	uid_t	 ruid, euid, suid;
	gid_t	 rgid, egid, sgid;

	if (getresuid(&ruid, &euid, &suid) == -1 ||
	    getresgid(&rgid, &egid, &sgid) == -1)
		fatal("getresuid");
	if (ruid != uid || euid != uid || suid != uid ||
	    rgid != gid || egid != gid || sgid != gid)
		fatalx("privilege drop left ids %u/%u/%u %u/%u/%u", ruid,
		    euid, suid, rgid, egid, sgid);

	/* Each of these must fail once root is gone for good. */
	if (setresuid(0, 0, 0) != -1 || setuid(0) != -1)
		fatalx("uid 0 could be regained after the privilege drop");
	if (gid != 0 && (setresgid(0, 0, 0) != -1 || setgid(0) != -1))
		fatalx("gid 0 could be regained after the privilege drop");
}

/*
 * Chroot to root (unless NULL or empty) and become uid/gid with no
 * supplementary groups.  Fatal on any failure: a child that cannot drop
 * must not go on.
 */
void
drop_privileges(const char *root, uid_t uid, gid_t gid)
{
	char	 err[256];

	if (uid == 0)
		fatalx("refusing to run an unprivileged role as uid 0");

	if (root != NULL && root[0] != '\0') {
		if (check_chroot_dir(root, err, sizeof(err)) == -1)
			fatalx("%s", err);
		if (chroot(root) == -1)
			fatal("chroot %s", root);
		if (chdir("/") == -1)
			fatal("chdir /");
	}

	if (setgroups(1, &gid) == -1)
		fatal("setgroups");
	if (setresgid(gid, gid, gid) == -1)
		fatal("setresgid %u", gid);
	if (setresuid(uid, uid, uid) == -1)
		fatal("setresuid %u", uid);

	check_ids(uid, gid);
	restrict_process();
}
