/*
 * From a Proxmox VE VM config to the QEMU argument vector that builds the
 * same guest-visible machine on Debian 12's QEMU 7.2 as Proxmox VE's
 * qemu-server builds for machine versions up to 7.2.  The generator is
 * pure: config and options in, argv out.  It reads no file and runs
 * nothing.  Volume paths, bridge backends and the firmware check come
 * from callbacks, so that priv, mtunnelctl and the tests each supply
 * their own.
 */

#ifndef MTUNNELD_QEMUARGS_H
#define MTUNNELD_QEMUARGS_H

#include <stddef.h>
#include <stdint.h>

struct vmconfig;

#define QEMUARGS_ERR_MAX	512
#define QEMU_MACHINES_MAX	256

/* Capabilities of the local QEMU, read from the binary and /dev. */
struct qemu_host {
	int		 major;		/* QEMU version, e.g. 7 */
	int		 minor;		/* e.g. 2 */
	int		 kvm;		/* /dev/kvm usable by this QEMU */
	int		 vhost_net;	/* /dev/vhost-net exists */
	const char	*firmware_dir;	/* "/usr/share/OVMF" */
	/*
	 * Machine types from "-machine help" (pc-i440fx-7.2, ...), or
	 * nmachines 0 to check by version number alone.
	 */
	char		 machines[QEMU_MACHINES_MAX][40];
	size_t		 nmachines;
};

enum qemu_netdev {
	QEMU_NETDEV_TAP,	/* tap<vmid>i<N>, created and plugged by priv */
	QEMU_NETDEV_USER,	/* user-mode networking */
	QEMU_NETDEV_NONE,	/* the NIC has no backend */
};

struct qemu_opts {
	uint32_t	 vmid;
	const char	*forcemachine;	/* start_params, or NULL */
	const char	*forcecpu;	/* start_params, or NULL */
	const char	*nets_host_mtu;	/* "net0=1500,...", or NULL */
	const char	*vmdir;		/* <rundir>/<vmid>: qmp, qga, vnc */
	const char	*incoming;	/* "unix:<path>", NULL: plain start */
	const char	*runas;		/* -runas user, or NULL */
	int		 sandbox;	/* add -sandbox on,... */

	/*
	 * The local file and format of a volume ID.  Returns 0, or -1 with
	 * a message in err.
	 */
	int		(*volume_path)(void *, const char *, char *, size_t,
			    char *, size_t, char *, size_t);
	/* The backend for a NIC on bridge; NULL makes every bridge a tap. */
	enum qemu_netdev (*bridge_backend)(void *, const char *);
	/* Whether a firmware file exists; NULL skips the check. */
	int		(*file_exists)(void *, const char *);
	void		*arg;
};

struct qemu_argv {
	char		**argv;		/* NULL-terminated */
	size_t		  argc;
};

/*
 * Build the argument vector, argv[0] left as "qemu" for the caller to
 * replace.  Checks compatibility first (config keys, machine type, CPU
 * model, KVM, firmware) and rejects with a message that names the change
 * to make on the source, for example "source VM runs machine type X;
 * ... Set 'machine: pc-i440fx-7.2' ...".  Returns 0, or -1 with the
 * message in err and av empty.
 */
int	qemu_argv_build(const struct vmconfig *, const struct qemu_host *,
	    const struct qemu_opts *, struct qemu_argv *, char *, size_t);
void	qemu_argv_free(struct qemu_argv *);

/*
 * The machine type the VM runs: forcemachine without "+pveN", else the
 * config's versioned machine, else the newest of its family in host.
 * Returns 0, or -1 with a message.
 */
int	qemu_machine_resolve(const struct vmconfig *, const struct qemu_host *,
	    const char *, char *, size_t, char *, size_t);

/*
 * Check a pinned "machine:" value of a config against host, as the config
 * command does.  Returns 0, or -1 with a message.
 */
int	qemu_machine_check(const char *, const struct qemu_host *, char *,
	    size_t);

/*
 * Parse the output of "qemu-system-x86_64 -machine help" and of
 * "-version" into host.  Returns 0, or -1 with a message.
 */
int	qemu_host_parse_machines(struct qemu_host *, const char *, size_t);
int	qemu_host_parse_version(struct qemu_host *, const char *, size_t);

/*
 * The upstream start timeout for a config, in seconds (30 base, memory
 * over 30 GiB adds a second per GiB, 5 per NIC).
 */
unsigned	qemu_start_timeout(const struct vmconfig *);

/*
 * Check that the generator handles every key and value of cfg's main
 * section, as the config command does before it writes.  Returns 0, or
 * -1 with a message naming the key ("unsupported value 'qxl' for 'vga'").
 */
int	qemu_config_check(const struct vmconfig *, char *, size_t);

#endif /* MTUNNELD_QEMUARGS_H */
