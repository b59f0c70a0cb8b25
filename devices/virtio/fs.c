#include "devices/virtio/fs.h"

#include <errno.h>
#include <linux/fuse.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>
#include <string.h>

/* Queue 0 is hiprio (FORGET, INTERRUPT), which the workers serve first;
 * queue 1 carries the requests. */
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
	virtio_workers_wake(&fs->workers);
}

/* The guest's buffers: what the device reads holds the request, what it
 * writes receives the reply. A negative result means not even an error
 * reply fits: the guest broke the protocol. */
static int64_t fs_handle_request(struct virtio_mmio_device *dev, const struct virtq_chain *chain)
{
	struct virtio_fs *fs = dev->opaque;
	return fs->backend.request(fs->backend_opaque, chain->out, chain->nout, chain->in,
				   chain->nin);
}

/* The DAX window (VIRTIO_FS_SHMCAP_ID_CACHE), when the share has one. */
static bool fs_shm_region(struct virtio_mmio_device *dev, uint32_t id, uint64_t *gpa,
			  uint64_t *len)
{
	struct virtio_fs *fs = dev->opaque;
	if (id != VIRTIO_FS_SHMCAP_ID_CACHE || !fs->window.size)
		return false;
	*gpa = fs->window.gpa;
	*len = fs->window.size;
	return true;
}

/* No live queue has a request taken and not yet answered. */
static bool fs_idle(const struct virtio_mmio_device *dev)
{
	for (unsigned i = 0; i < NUM_QUEUES; i++)
		if (dev->queues[i].ready && dev->queues[i].last_avail != dev->queues[i].used_idx)
			return false;
	return true;
}

static int fs_save(struct virtio_mmio_device *dev, struct bytes *out)
{
	if (!fs_idle(dev))
		return -EBUSY;
	const struct virtio_fs_state st = {.version = 1};
	return bytes_append(out, &st, sizeof(st));
}

static int fs_restore(struct virtio_mmio_device *dev, const void *state, size_t len)
{
	struct virtio_fs_state st;
	if (len != sizeof(st))
		return -EINVAL;
	memcpy(&st, state, sizeof(st));
	return st.version == 1 && st.reserved == 0 && fs_idle(dev) ? 0 : -EINVAL;
}

static const struct virtio_device_ops fs_ops = {
	.name = "fs",
	.device_id = VIRTIO_ID_FS,
	.num_queues = NUM_QUEUES,
	.queue_size = QUEUE_SIZE,
	.config_size = sizeof(struct virtio_fs_config),
	.read_config = fs_read_config,
	.queue_notify = fs_queue_notify,
	.shm_region = fs_shm_region,
	.save = fs_save,
	.restore = fs_restore,
};

int virtio_fs_init(struct virtio_fs *fs, struct machine *m, struct event_loop *loop,
		   const char *tag, const struct nook_fs_backend *backend, void *opaque,
		   const struct guest_region *window, uint64_t base, uint32_t irq, nook_error **err)
{
	size_t tag_len = strlen(tag);
	if (tag_len == 0 || tag_len > NOOK_FS_TAG_MAX)
		return error_set(err, EINVAL, "fs tag \"%s\": must be 1 to %d bytes", tag,
				 NOOK_FS_TAG_MAX);
	memset(fs->tag, 0, sizeof(fs->tag));
	memcpy(fs->tag, tag, tag_len);
	fs->loop = loop;
	fs->backend = *backend;
	fs->backend_opaque = opaque;
	fs->window = window ? *window : (struct guest_region){0};
	int r = virtio_mmio_init(&fs->mmio, m, loop, &fs_ops, fs, base, irq, err);
	if (r == 0)
		r = virtio_workers_start(&fs->workers, &fs->mmio, fs_handle_request, VIRTIO_FS_WORKERS,
					 THREAD_ROLE_FS_WORKER, "fs", err);
	return r;
}

void virtio_fs_destroy(struct virtio_fs *fs)
{
	if (!fs->mmio.ops)
		return;
	virtio_workers_stop(&fs->workers);
	virtio_mmio_destroy(&fs->mmio, fs->loop);
	fs->mmio.ops = NULL;
}
