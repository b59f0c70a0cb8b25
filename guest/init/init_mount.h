/* The guest's file systems from the config: the root (a virtio-fs share or
 * an overlay of shares) and the shared directories and files. */
#ifndef NOOK_GUEST_INIT_MOUNT_H
#define NOOK_GUEST_INIT_MOUNT_H

#include <stddef.h>

#include "guest/init/init_config.h"

/* Mounts the config's root (if any) and its shares under it, then makes it
 * the root of the file system tree (as switch_root does). Without a root in
 * the config the shares are mounted in the initramfs. Returns 0, or -errno
 * with a message in `err`. */
int init_mount_filesystems(const struct init_config *cfg, char *err, size_t errlen);

#endif
