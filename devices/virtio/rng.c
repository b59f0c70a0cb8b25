#include "devices/virtio/rng.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <sys/random.h>

static void rng_queue_notify(struct virtio_mmio_device *dev, uint16_t index)
{
	struct virtio_rng *rng = dev->opaque;
	struct virtq *q = &dev->queues[0];
	int r;
	bool pushed = false;
	while ((r = virtq_pop(q, &rng->chain)) > 0) {
		uint32_t written = 0;
		for (unsigned i = 0; i < rng->chain.nin; i++) {
			ssize_t n;
			do
				n = getrandom(rng->chain.in[i].iov_base, rng->chain.in[i].iov_len, 0);
			while (n < 0 && errno == EINTR);
			if (n <= 0)
				break;
			written += (uint32_t)n;
			if ((size_t)n < rng->chain.in[i].iov_len)
				break;
		}
		virtq_push(q, rng->chain.head, written);
		pushed = true;
	}
	if (r < 0)
		virtio_mmio_fail(dev);
	if (pushed)
		virtio_mmio_notify_used(dev, q);
}

/* virtio-rng has no state beyond its queue. */
static int rng_save(struct virtio_mmio_device *dev, struct bytes *out)
{
	return 0;
}

static int rng_restore(struct virtio_mmio_device *dev, const void *state, size_t len)
{
	return len == 0 ? 0 : -EINVAL;
}

static const struct virtio_device_ops rng_ops = {
	.name = "rng",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.queue_size = 64,
	.queue_notify = rng_queue_notify,
	.save = rng_save,
	.restore = rng_restore,
};

int virtio_rng_init(struct virtio_rng *rng, struct machine *m, struct event_loop *loop,
		    uint64_t base, uint32_t irq, nook_error **err)
{
	rng->loop = loop;
	return virtio_mmio_init(&rng->mmio, m, loop, &rng_ops, rng, base, irq, err);
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	if (rng->mmio.ops)
		virtio_mmio_destroy(&rng->mmio, rng->loop);
	rng->mmio.ops = NULL;
}
