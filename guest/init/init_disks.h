/* /dev/disk/by-id/virtio-<serial> links to the virtio disks, as udev would
 * make them (the guest has no udev). */
#ifndef NOOK_GUEST_INIT_DISKS_H
#define NOOK_GUEST_INIT_DISKS_H

/* Best effort: a disk without a serial, or a link that cannot be made, is
 * skipped. Needs /sys and /dev mounted. */
void init_disk_links(void);

#endif
