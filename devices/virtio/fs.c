#include "devices/virtio/fs.h"

#include <errno.h>
#include <linux/fuse.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>
#include <string.h>

#define HIPRIO_QUEUE 0
#define REQUEST_QUEUE 1
#define NUM_QUEUES 2
#define QUEUE_SIZE 256

static void fs_read_config(struct virtio_mmio_device *dev, uint32_t offset, uint8_t *data,
			   uint32_t len)
{
	struct virtio_fs *fs = dev->opaque;
	struct virtio_fs_config config = {.num_request_queues = NUM_QUEUES - 1};
	memcpy(config.tag, fs->tag, strnlen(fs->tag, sizeof(config.tag)));
	memcpy(data, (const uint8_t *)&config + offset, len);
}

static void fs_queue_notify(struct virtio_mmio_device *dev, uint16_t index)
{
	struct virtio_fs *fs = dev->opaque;
	pthread_cond_broadcast(&fs->wake);
}

static void fs_reset(struct virtio_mmio_device *dev)
{
	struct virtio_fs *fs = dev->opaque;
	fs->generation++;
}

/* Takes the next request, hiprio (FORGET, INTERRUPT) first. Lock held. */
static int fs_pop(struct virtio_fs *fs, struct virtq_chain *chain, struct virtq **from)
{
	struct virtio_mmio_device *dev = &fs->mmio;
	if (!(dev->status & VIRTIO_CONFIG_S_DRIVER_OK) || (dev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		return 0;
	for (int i = HIPRIO_QUEUE; i < NUM_QUEUES; i++) {
		struct virtq *q = &dev->queues[i];
		if (!q->ready)
			continue;
		int r = virtq_pop(q, chain);
		if (r < 0) {
			virtio_mmio_fail(dev);
			return 0;
		}
		if (r > 0) {
			*from = q;
			return 1;
		}
	}
	return 0;
}

static void *fs_worker_main(void *arg)
{
	struct virtio_fs_worker *w = arg;
	struct virtio_fs *fs = w->fs;
	struct virtio_mmio_device *dev = &fs->mmio;
	pthread_mutex_lock(&dev->lock);
	while (!fs->stopping) {
		struct virtq *q;
		if (!fs_pop(fs, &w->chain, &q)) {
			pthread_cond_wait(&fs->wake, &dev->lock);
			continue;
		}
		uint64_t generation = fs->generation;
		pthread_mutex_unlock(&dev->lock);

		/* The guest's buffers: what the device reads holds the request,
		 * what it writes receives the reply. */
		ssize_t n = fs->backend.request(fs->backend_opaque, w->chain.out, w->chain.nout,
						w->chain.in, w->chain.nin);

		pthread_mutex_lock(&dev->lock);
		if (generation != fs->generation)
			continue;
		if (n < 0) {
			/* Not even an error reply fits: the guest broke the protocol. */
			virtio_mmio_fail(dev);
			continue;
		}
		virtq_push(q, w->chain.head, (uint32_t)n);
		virtio_mmio_notify_used(dev, q);
	}
	pthread_mutex_unlock(&dev->lock);
	return NULL;
}

static const struct virtio_device_ops fs_ops = {
	.name = "fs",
	.device_id = VIRTIO_ID_FS,
	.num_queues = NUM_QUEUES,
	.queue_size = QUEUE_SIZE,
	.config_size = sizeof(struct virtio_fs_config),
	.read_config = fs_read_config,
	.queue_notify = fs_queue_notify,
	.reset = fs_reset,
};

int virtio_fs_init(struct virtio_fs *fs, struct machine *m, struct event_loop *loop,
		   const char *tag, const struct nook_fs_backend *backend, void *opaque,
		   uint64_t base, uint32_t irq, nook_error **err)
{
	size_t tag_len = strlen(tag);
	if (tag_len == 0 || tag_len > VIRTIO_FS_TAG_MAX)
		return nook_error_set(err, EINVAL, "fs tag \"%s\": must be 1 to %d bytes", tag,
				      VIRTIO_FS_TAG_MAX);
	memset(fs->tag, 0, sizeof(fs->tag));
	memcpy(fs->tag, tag, tag_len);
	fs->loop = loop;
	fs->backend = *backend;
	fs->backend_opaque = opaque;
	fs->stopping = false;
	fs->generation = 0;
	pthread_cond_init(&fs->wake, NULL);
	int r = virtio_mmio_init(&fs->mmio, m, loop, &fs_ops, fs, base, irq, err);
	if (r < 0)
		return r;
	for (int i = 0; i < VIRTIO_FS_WORKERS; i++) {
		struct virtio_fs_worker *w = &fs->workers[i];
		w->fs = fs;
		r = -pthread_create(&w->thread, NULL, fs_worker_main, w);
		if (r < 0)
			return nook_error_set(err, -r, "fs tag \"%s\": worker thread: %s", tag,
					      strerror(-r));
		w->started = true;
	}
	return 0;
}

void virtio_fs_destroy(struct virtio_fs *fs)
{
	if (!fs->mmio.ops)
		return;
	pthread_mutex_lock(&fs->mmio.lock);
	fs->stopping = true;
	pthread_cond_broadcast(&fs->wake);
	pthread_mutex_unlock(&fs->mmio.lock);
	for (int i = 0; i < VIRTIO_FS_WORKERS; i++) {
		if (fs->workers[i].started)
			pthread_join(fs->workers[i].thread, NULL);
		fs->workers[i].started = false;
	}
	pthread_cond_destroy(&fs->wake);
	virtio_mmio_destroy(&fs->mmio, fs->loop);
	fs->mmio.ops = NULL;
}
