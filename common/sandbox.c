/*
 * seccomp filter installation with libseccomp.  The default action is
 * SCMP_ACT_KILL_PROCESS: in libseccomp 2.5, SCMP_ACT_KILL ends only the
 * offending thread.  A call from another architecture (the i386 or x32
 * entry points on x86_64) also ends the process.  An argument is
 * compared on its low 32 bits, since the int arguments this project
 * checks may carry any upper half in the register.
 */

#include <errno.h>
#include <string.h>

#include <seccomp.h>

#include "log.h"
#include "sandbox.h"

int
sandbox_install(const char *role, const struct sandbox_rule *rules,
    size_t nrules)
{
	scmp_filter_ctx	 ctx;
	size_t		 i;
	int		 rc;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		log_warnx("%s: seccomp_init failed", role);
		return -1;
	}
	/* libseccomp 2.5.4 kills only the thread on a foreign arch. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) < 0) {
		log_warnx("%s: seccomp bad-arch action: %s", role,
		    strerror(-rc));
		seccomp_release(ctx);
		return -1;
	}

	for (i = 0; i < nrules; i++) {
		if (rules[i].argidx < 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
			    rules[i].nr, 0);
		else
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
			    rules[i].nr, 1, SCMP_CMP(rules[i].argidx,
			    SCMP_CMP_MASKED_EQ, 0xffffffffULL,
			    rules[i].argval));
		if (rc < 0) {
			log_warnx("%s: seccomp rule for system call %d (%s): "
			    "%s", role, rules[i].nr, rules[i].why,
			    strerror(-rc));
			seccomp_release(ctx);
			return -1;
		}
	}

	if ((rc = seccomp_load(ctx)) < 0) {
		log_warnx("%s: seccomp_load: %s", role, strerror(-rc));
		seccomp_release(ctx);
		return -1;
	}
	seccomp_release(ctx);
	return 0;
}
