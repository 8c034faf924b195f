/*
 * Tap devices for VM network devices on a Linux bridge: created
 * persistent before QEMU starts, owned by the QEMU user, plugged into the
 * bridge with the bridge's MTU and set up.  QEMU then opens them by name
 * (-netdev type=tap,ifname=...,script=no).  Used by mtunnelctl and priv.
 */

#ifndef MTUNNELD_NETDEV_H
#define MTUNNELD_NETDEV_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#define NETDEV_ERR_MAX	256

/* The tap name of netN of a VM: "tap<vmid>i<N>".  0, or -1 if too long. */
int	netdev_tap_name(uint32_t, unsigned, char *, size_t);

/*
 * Create the persistent tap device name owned by uid, plug it into
 * bridge, copy the bridge's MTU and set the link up.  A tap left by an
 * earlier run is reused.  On error the tap is removed again.  Returns 0,
 * or -1 with a message in err.
 */
int	netdev_tap_create(const char *, const char *, uid_t, char *, size_t);

/*
 * Remove the persistent tap device name.  Returns 0, 1 when no such
 * device exists, or -1 with a message in err.
 */
int	netdev_tap_remove(const char *, char *, size_t);

#endif /* MTUNNELD_NETDEV_H */
