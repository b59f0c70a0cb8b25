/* virtio-fs (virtio 1.x, 5.11): FUSE requests from the guest's queues are
 * handed to a file system backend (the passthrough server of backends/fs, or
 * one the caller supplies). Requests are served by worker threads so that a
 * slow file system operation never stalls the VM's I/O thread. */
#ifndef NOOK_DEVICES_VIRTIO_FS_H
#define NOOK_DEVICES_VIRTIO_FS_H

#include <pthread.h>
#include <stdbool.h>

#include "devices/virtio/mmio.h"
#include "nook/vm.h"

#define VIRTIO_FS_TAG_MAX 36
#define VIRTIO_FS_WORKERS 2

struct virtio_fs;

struct virtio_fs_worker {
	struct virtio_fs *fs;
	pthread_t thread;
	bool started;
	struct virtq_chain chain;
};

struct virtio_fs {
	struct virtio_mmio_device mmio;
	struct event_loop *loop;
	char tag[VIRTIO_FS_TAG_MAX];
	struct nook_fs_backend backend;
	void *backend_opaque;
	/* Under mmio.lock: workers wait on `wake`; `generation` changes on a
	 * device reset so that a reply to a request of the old queues is
	 * dropped instead of being pushed to the new ones. */
	pthread_cond_t wake;
	bool stopping;
	uint64_t generation;
	struct virtio_fs_worker workers[VIRTIO_FS_WORKERS];
};

/* `tag` is what the guest mounts ("mount -t virtiofs TAG DIR"), at most
 * 36 bytes. */
int virtio_fs_init(struct virtio_fs *fs, struct machine *m, struct event_loop *loop,
		   const char *tag, const struct nook_fs_backend *backend, void *opaque,
		   uint64_t base, uint32_t irq, nook_error **err);
void virtio_fs_destroy(struct virtio_fs *fs);

#endif
