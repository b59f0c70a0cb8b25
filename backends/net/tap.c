/* An existing TAP interface, by name: one frame per read()/write(). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backends/net/backend.h"

int net_tap_open(const char *ifname, struct net_backend **out, nook_error **err)
{
	*out = NULL;
	if (strlen(ifname) >= IFNAMSIZ)
		return error_set(err, EINVAL, "net tap \"%s\": interface names are at most %d bytes",
				      ifname, IFNAMSIZ - 1);
	/* TUNSETIFF would create a missing interface; nook only attaches. */
	if (if_nametoindex(ifname) == 0)
		return error_set(err, ENODEV, "net tap \"%s\": no such network interface", ifname);
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return error_set(err, errno, "net tap \"%s\": /dev/net/tun: %s", ifname,
				      strerror(errno));
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
	memcpy(ifr.ifr_name, ifname, strlen(ifname) + 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		return error_set(err, e, "net tap \"%s\": cannot attach (%s; is it a TAP "
				      "interface this user may use?)", ifname, strerror(e));
	}
	struct net_fd_backend *b = net_fd_backend_new("tap", fd, true, false);
	if (!b) {
		close(fd);
		return error_set(err, ENOMEM, "out of memory");
	}
	*out = &b->base;
	return 0;
}
