/* virtio-rng (virtio 1.x, 5.4): the guest's entropy from the host's
 * getrandom(). */
#ifndef NOOK_DEVICES_VIRTIO_RNG_H
#define NOOK_DEVICES_VIRTIO_RNG_H

#include "devices/virtio/mmio.h"

struct virtio_rng {
	struct virtio_mmio_device mmio;
	struct event_loop *loop;
	struct virtq_chain chain; /* scratch, used under the device lock */
};

int virtio_rng_init(struct virtio_rng *rng, struct machine *m, struct event_loop *loop,
		    uint64_t base, uint32_t irq, nook_error **err);
void virtio_rng_destroy(struct virtio_rng *rng);

#endif
