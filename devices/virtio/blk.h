/* virtio-blk (virtio 1.x, 5.2): a disk image (backends/disk) as a block
 * device. Requests are served by a worker thread per device
 * (devices/virtio/worker.h); a disk is used by one thread at a time. */
#ifndef NOOK_DEVICES_VIRTIO_BLK_H
#define NOOK_DEVICES_VIRTIO_BLK_H

#include <pthread.h>
#include <stdbool.h>

#include "backends/disk/disk.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/worker.h"
#include <nook/devices.h>


/* vm.c passes the public format values through. */
_Static_assert((int)DISK_FORMAT_RAW == (int)NOOK_DISK_FORMAT_RAW &&
		       (int)DISK_FORMAT_QCOW2 == (int)NOOK_DISK_FORMAT_QCOW2 &&
		       (int)DISK_FORMAT_VMDK == (int)NOOK_DISK_FORMAT_VMDK &&
		       (int)DISK_FORMAT_AUTO == (int)NOOK_DISK_FORMAT_AUTO,
	       "disk formats match the public API");

struct virtio_blk_params {
	const char *path;
	const char *id;
	enum disk_format format;
	bool read_only;
	bool direct;
	enum nook_disk_cache cache;
	enum nook_disk_sync sync;
	bool allow_backing;
};

struct virtio_blk {
	struct virtio_mmio_device mmio;
	struct virtio_device_ops ops;
	struct event_loop *loop;
	struct disk *disk;
	char id[NOOK_DISK_ID_MAX];
	bool flush_noop, flush_data_only;
	struct virtio_workers workers;
};

/* Opens the image; errors name it. */
int virtio_blk_init(struct virtio_blk *blk, struct machine *m, struct event_loop *loop,
		    const struct virtio_blk_params *p, uint64_t base, uint32_t irq,
		    nook_error **err);
/* Stops the device and closes its disk (after virtio_blk_open alone too). */
void virtio_blk_destroy(struct virtio_blk *blk);

/* The device without its transport, for tests and fuzzing: the disk and
 * settings of virtio_blk_init (blk zeroed first), and the worker's
 * handler of one request chain: it returns the bytes written into the
 * in-buffers, the status byte included, or -1 when the chain has no header
 * or no room for the status byte (a broken driver). */
int virtio_blk_open(struct virtio_blk *blk, const struct virtio_blk_params *p, nook_error **err);
int64_t virtio_blk_serve(struct virtio_blk *blk, const struct virtq_chain *c);

#endif
