/* The VM's virtio-fs shares: which host directories and files the guest
 * gets, how nook's passthrough server exports each one, and what nook-init
 * is told to mount where. */
#ifndef NOOK_VM_SHARES_H
#define NOOK_VM_SHARES_H

#include "backends/fs/fs_server.h"
#include "vm/config.h"
#include "vm/initramfs.h"

/* The overlay work directory inside the top layer, hidden from the guest. */
#define VM_OVERLAY_WORK_NAME ".nook-overlay-work"

/* Whether the guest's root is nook's built-in rootfs: no root share and
 * no initramfs of the caller's. */
bool vm_shares_use_builtin_root(const nook_vm_config *cfg);

/* The built-in rootfs as a share: read-only, under a tmpfs overlay. */
struct vm_fs vm_shares_builtin_root(char *dir);

/* Starts the passthrough server of a VM_FS_PATH share. */
int vm_share_open_server(const struct vm_fs *fs, struct fs_server **out, nook_error **err);

/* Tells nook-init about the root and the mounts of `shares`. */
int vm_shares_encode(const struct vm_fs *const *shares, size_t n, struct initramfs_buf *buf);

#endif
