/*
 * Tap devices for VM network devices: TUNSETIFF, TUNSETOWNER and
 * TUNSETPERSIST on /dev/net/tun, then SIOCBRADDIF, SIOCSIFMTU and
 * SIOCSIFFLAGS on a socket.
 */

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "netdev.h"

int
netdev_tap_name(uint32_t vmid, unsigned index, char *buf, size_t len)
{
	int	 n = snprintf(buf, len, "tap%ui%u", vmid, index);

	return n < 0 || (size_t)n >= len || n >= IFNAMSIZ ? -1 : 0;
}

static int
ifreq_name(struct ifreq *ifr, const char *name, char *err, size_t errlen)
{
	memset(ifr, 0, sizeof(*ifr));
	if (strlcpy(ifr->ifr_name, name, IFNAMSIZ) >= IFNAMSIZ) {
		snprintf(err, errlen, "interface name '%s' is too long", name);
		return -1;
	}
	return 0;
}

/* Open the tap name (created if missing) and set its persist flag. */
static int
tap_persist(const char *name, int persist, uid_t owner, char *err,
    size_t errlen)
{
	struct ifreq	 ifr;
	int		 fd;

	if (ifreq_name(&ifr, name, err, errlen) == -1)
		return -1;
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "/dev/net/tun: %s", strerror(errno));
		return -1;
	}
	if (ioctl(fd, TUNSETIFF, &ifr) == -1) {
		snprintf(err, errlen, "tap %s: TUNSETIFF: %s", name,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (persist && ioctl(fd, TUNSETOWNER, (unsigned long)owner) == -1) {
		snprintf(err, errlen, "tap %s: TUNSETOWNER %u: %s", name,
		    (unsigned)owner, strerror(errno));
		close(fd);
		return -1;
	}
	if (ioctl(fd, TUNSETPERSIST, (unsigned long)persist) == -1) {
		snprintf(err, errlen, "tap %s: TUNSETPERSIST: %s", name,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Plug tap into bridge with the bridge's MTU, then set it up. */
static int
tap_plug(int sock, const char *tap, const char *bridge, char *err,
    size_t errlen)
{
	struct ifreq	 ifr;
	int		 mtu;

	if (ifreq_name(&ifr, bridge, err, errlen) == -1)
		return -1;
	if (ioctl(sock, SIOCGIFMTU, &ifr) == -1) {
		snprintf(err, errlen, "bridge %s: %s", bridge, strerror(errno));
		return -1;
	}
	mtu = ifr.ifr_mtu;
	if (ifreq_name(&ifr, tap, err, errlen) == -1)
		return -1;
	ifr.ifr_mtu = mtu;
	if (ioctl(sock, SIOCSIFMTU, &ifr) == -1) {
		snprintf(err, errlen, "tap %s: MTU %d: %s", tap, mtu,
		    strerror(errno));
		return -1;
	}
	if (ifreq_name(&ifr, bridge, err, errlen) == -1)
		return -1;
	ifr.ifr_ifindex = (int)if_nametoindex(tap);
	if (ioctl(sock, SIOCBRADDIF, &ifr) == -1 && errno != EBUSY) {
		snprintf(err, errlen, "cannot add tap %s to bridge %s: %s",
		    tap, bridge, strerror(errno));
		return -1;
	}
	if (ifreq_name(&ifr, tap, err, errlen) == -1 ||
	    ioctl(sock, SIOCGIFFLAGS, &ifr) == -1) {
		snprintf(err, errlen, "tap %s: %s", tap, strerror(errno));
		return -1;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) == -1) {
		snprintf(err, errlen, "tap %s: link up: %s", tap,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
netdev_tap_create(const char *tap, const char *bridge, uid_t owner,
    char *err, size_t errlen)
{
	char	 rmerr[NETDEV_ERR_MAX];
	int	 sock, rc;

	if (if_nametoindex(bridge) == 0) {
		snprintf(err, errlen, "bridge %s does not exist", bridge);
		return -1;
	}
	if (tap_persist(tap, 1, owner, err, errlen) == -1)
		return -1;
	if ((sock = socket(AF_LOCAL, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		rc = -1;
	} else {
		rc = tap_plug(sock, tap, bridge, err, errlen);
		close(sock);
	}
	if (rc == -1)
		(void)netdev_tap_remove(tap, rmerr, sizeof(rmerr));
	return rc;
}

int
netdev_tap_remove(const char *tap, char *err, size_t errlen)
{
	if (if_nametoindex(tap) == 0)
		return 1;
	return tap_persist(tap, 0, 0, err, errlen);
}
