/* nook-init's network setup: loopback up before the ready point (it is the
 * same in every run, so a snapshot keeps it), then each configured
 * interface (found by MAC) given its static address, default route and
 * DNS, or configured by DHCP (busybox udhcpc). */
#ifndef NOOK_GUEST_INIT_NET_H
#define NOOK_GUEST_INIT_NET_H

#include <stddef.h>

#include "guest/init/init_config.h"

/* Both return 0, or a negative errno with a message in err; the guest runs
 * on either way (a network problem is not fatal to the program). */
int init_net_loopback(char *err, size_t errlen);
int init_net_configure(const struct init_config *cfg, char *err, size_t errlen);

#endif
