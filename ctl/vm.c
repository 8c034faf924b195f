/* mtunnelctl qemu-cmdline, start, stop: placeholder until written. */
#include <stdio.h>

#include "conf.h"
#include "ctl.h"

int
ctl_vm_main(const struct mtunneld_conf *conf, int argc, char **argv)
{
	fprintf(stderr, "mtunnelctl: %s: not written yet\n", argv[0]);
	return 1;
}
