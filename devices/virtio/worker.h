/* Worker threads that serve a virtio device's requests off the I/O thread,
 * so that slow host I/O (a disk image, a FUSE operation) never stalls the
 * VM. Used by virtio-blk and virtio-fs.
 *
 * A worker takes the next chain from the device's queues (in index order:
 * virtio-fs's hiprio queue first) with the device lock held, serves it
 * without the lock, and pushes the reply back under the lock, unless the
 * queue was reset in between (by the guest's QueueReady=0 or a device
 * reset): then the reply is dropped, as the spec requires. */
#ifndef NOOK_DEVICES_VIRTIO_WORKER_H
#define NOOK_DEVICES_VIRTIO_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/mmio.h"
#include "util/thread.h"

#define VIRTIO_WORKERS_MAX 4

/* Serves one request: returns the bytes written into the chain's
 * in-buffers (for the used ring), or a negative value when the guest broke
 * the protocol (the device then needs a reset). */
typedef int64_t (*virtio_worker_handle_fn)(struct virtio_mmio_device *dev,
					   const struct virtq_chain *chain);

struct virtio_workers;

struct virtio_worker {
	struct virtio_workers *pool;
	pthread_t thread;
	bool started;
	struct virtq_chain chain;
};

struct virtio_workers {
	struct virtio_mmio_device *dev;
	virtio_worker_handle_fn handle;
	pthread_cond_t wake; /* with dev->lock */
	bool stopping;
	unsigned n;
	struct virtio_worker threads[VIRTIO_WORKERS_MAX];
};

/* Starts n (1..VIRTIO_WORKERS_MAX) threads named "<name>-<i>". */
int virtio_workers_start(struct virtio_workers *w, struct virtio_mmio_device *dev,
			 virtio_worker_handle_fn handle, unsigned n, enum thread_role role,
			 const char *name, nook_error **err);
/* The guest made chains available (device lock held). */
void virtio_workers_wake(struct virtio_workers *w);
/* Stops and joins the threads; safe on a pool that never started. */
void virtio_workers_stop(struct virtio_workers *w);

#endif
