/* The guest's file systems from the config: the root (a virtio-fs share or
 * an overlay of shares) and the shared directories and files. */
#ifndef NOOK_GUEST_INIT_MOUNT_H
#define NOOK_GUEST_INIT_MOUNT_H

#include <stddef.h>

#include "guest/init/init_config.h"

/* Where the new root is assembled, in the initramfs. */
#define INIT_NEW_ROOT "/nook/root"

/* Mounts the config's root, if it has one, on INIT_NEW_ROOT. Returns 1 when
 * it did, 0 without a root in the config, or -errno with a message in `err`. */
int init_mount_root(const struct init_config *cfg, char *err, size_t errlen);

/* Mounts the shares under the new root (in the initramfs without one), then
 * makes the new root the root of the file system tree (as switch_root does).
 * Returns 0, or -errno with a message in `err`. */
int init_mount_shares(const struct init_config *cfg, char *err, size_t errlen);

#endif
