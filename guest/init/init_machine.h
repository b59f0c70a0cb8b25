/* What nook-init does with the run configuration before it mounts
 * anything: the wall clock, the random pool, the host name, and the device
 * slots the VMM filled after the ready point. */
#ifndef NOOK_GUEST_INIT_MACHINE_H
#define NOOK_GUEST_INIT_MACHINE_H

#include <stddef.h>

#include "guest/init/init_config.h"

/* Each returns 0, or a negative errno with a message in `err`. */
int init_set_clock(const struct init_config *cfg, char *err, size_t errlen);
int init_add_entropy(const struct init_config *cfg, char *err, size_t errlen);
int init_set_hostname(const struct init_config *cfg, char *err, size_t errlen);
/* Binds the virtio-mmio driver to each slot of the config, in order. */
int init_bind_slots(const struct init_config *cfg, char *err, size_t errlen);

#endif
