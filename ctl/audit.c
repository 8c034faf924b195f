/* mtunnelctl audit: placeholder until written. */
#include <stdio.h>

#include "conf.h"
#include "ctl.h"

int
ctl_audit_main(const struct mtunneld_conf *conf, int argc, char **argv)
{
	fprintf(stderr, "mtunnelctl: audit: not written yet\n");
	return 1;
}
