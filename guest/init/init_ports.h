/* The run's named console ports, linked as udev does elsewhere. */
#ifndef NOOK_GUEST_INIT_PORTS_H
#define NOOK_GUEST_INIT_PORTS_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>

#include "guest/init/init_config.h"

/* The name of port `entry` of /sys/class/virtio-ports (`dir`), without its
 * newline; false while the kernel has not learnt it yet. */
bool init_port_name(DIR *dir, const char *entry, char *name, size_t size);

/* Waits for each of the run's ports (cfg->ports) and links it as
 * /dev/virtio-ports/<name>. Returns 0, or a negative errno with a message
 * in `err`. */
int init_port_links(const struct init_config *cfg, char *err, size_t errlen);

#endif
