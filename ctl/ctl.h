/*
 * Commands of mtunnelctl that live in files of their own.  Each gets the
 * loaded daemon config and the arguments after its command word
 * (argv[0] is the command word), prints its own errors and returns the
 * exit status.
 */

#ifndef MTUNNELD_CTL_H
#define MTUNNELD_CTL_H

struct mtunneld_conf;

/* ctl/vm.c: qemu-cmdline, start, stop */
int	ctl_vm_main(const struct mtunneld_conf *, int, char **);

/* ctl/audit.c: audit verify, audit show */
int	ctl_audit_main(const struct mtunneld_conf *, int, char **);

#endif /* MTUNNELD_CTL_H */
