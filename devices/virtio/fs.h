/* virtio-fs (virtio 1.x, 5.11): FUSE requests from the guest's queues are
 * handed to a file system backend (the passthrough server of backends/fs, or
 * one the caller supplies). Requests are served by worker threads so that a
 * slow file system operation never stalls the VM's I/O thread.
 *
 * Snapshots: the root's shares are probed before the ready point and saved
 * with it (vm/assemble.c), before the guest mounts them. The device keeps
 * nothing of its own beyond the transport's queues, and a FUSE session
 * does not survive a snapshot (the backend behind a restored device is a
 * fresh one), so save refuses a device with requests in flight. Its state
 * after the transport's (version 1): struct virtio_fs_state below. */
#ifndef NOOK_DEVICES_VIRTIO_FS_H
#define NOOK_DEVICES_VIRTIO_FS_H

#include <pthread.h>
#include <stdbool.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/worker.h"
#include <nook/devices.h>

#define VIRTIO_FS_WORKERS 2

struct virtio_fs {
	struct virtio_mmio_device mmio;
	struct event_loop *loop;
	char tag[NOOK_FS_TAG_MAX];
	struct nook_fs_backend backend;
	void *backend_opaque;
	struct virtio_workers workers;
	struct guest_region window; /* the DAX window; size 0: none */
};

struct virtio_fs_state {
	uint32_t version; /* 1 */
	uint32_t reserved; /* 0 */
};

/* `tag` is what the guest mounts ("mount -t virtiofs TAG DIR"), at most
 * NOOK_FS_TAG_MAX bytes. `window` (or NULL) is the device memory the guest
 * finds as the device's DAX window; the backend maps files into it
 * (FUSE_SETUPMAPPING). */
int virtio_fs_init(struct virtio_fs *fs, struct machine *m, struct event_loop *loop,
		   const char *tag, const struct nook_fs_backend *backend, void *opaque,
		   const struct guest_region *window, uint64_t base, uint32_t irq,
		   nook_error **err);
void virtio_fs_destroy(struct virtio_fs *fs);

#endif
