/* For the libFuzzer build of fuzz_blk, which compiles only the request
 * path (blk.c, queue.c, the disk backends) rather than the whole VM: the
 * transport and guest memory functions those files also reference. The
 * target never calls them; each aborts if it is ever called. (The
 * standalone build links libnook and does not use this file.) */
#include <stdlib.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/worker.h"
#include "kvm/memory.h"

int virtio_mmio_init(struct virtio_mmio_device *dev, struct machine *m, struct event_loop *loop,
		     const struct virtio_device_ops *ops, void *opaque, uint64_t base, uint32_t irq,
		     nook_error **err)
{
	abort();
}

void virtio_mmio_destroy(struct virtio_mmio_device *dev, struct event_loop *loop)
{
	abort();
}

int virtio_workers_start(struct virtio_workers *w, struct virtio_mmio_device *dev,
			 virtio_worker_handle_fn handle, unsigned n, enum thread_role role,
			 const char *name, nook_error **err)
{
	abort();
}

void virtio_workers_wake(struct virtio_workers *w)
{
	abort();
}

void virtio_workers_stop(struct virtio_workers *w)
{
	abort();
}

void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	abort();
}
