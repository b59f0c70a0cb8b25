#include "devices/virtio/blk.h"

#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <string.h>

#define QUEUE_SIZE 256
#define SECTOR 512
/* Header and status take one descriptor each. */
#define SEG_MAX (QUEUE_SIZE - 2)
/* A discard or write-zeroes request covers at most this many sectors. */
#define MAX_RANGE_SECTORS (UINT32_C(1) << 22)

struct blk_header {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_range {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static void blk_read_config(struct virtio_mmio_device *dev, uint32_t offset, uint8_t *data,
			    uint32_t len)
{
	struct virtio_blk *blk = dev->opaque;
	struct virtio_blk_config config = {
		.capacity = blk->disk->size / SECTOR,
		.seg_max = SEG_MAX,
		.blk_size = SECTOR,
		.num_queues = 1,
		.max_discard_sectors = MAX_RANGE_SECTORS,
		.max_discard_seg = 1,
		.discard_sector_alignment = 1,
		.max_write_zeroes_sectors = MAX_RANGE_SECTORS,
		.max_write_zeroes_seg = 1,
	};
	memcpy(data, (const uint8_t *)&config + offset, len);
}

static void blk_queue_notify(struct virtio_mmio_device *dev, uint16_t index)
{
	struct virtio_blk *blk = dev->opaque;
	pthread_cond_signal(&blk->wake);
}

static void blk_reset(struct virtio_mmio_device *dev)
{
	struct virtio_blk *blk = dev->opaque;
	blk->generation++;
}

/* Discard / write zeroes: one range (max_discard_seg = 1). */
static uint8_t blk_range_request(struct virtio_blk *blk, const struct virtq_chain *c, uint32_t type)
{
	struct blk_range range;
	if (virtq_chain_read(c, sizeof(struct blk_header), &range, sizeof(range)) != sizeof(range))
		return VIRTIO_BLK_S_IOERR;
	if (range.num_sectors > MAX_RANGE_SECTORS || range.sector > blk->disk->size / SECTOR)
		return VIRTIO_BLK_S_IOERR;
	uint64_t off = range.sector * SECTOR, len = (uint64_t)range.num_sectors * SECTOR;
	int r = type == VIRTIO_BLK_T_DISCARD ? disk_discard(blk->disk, off, len)
					     : disk_write_zeroes(blk->disk, off, len);
	return r < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

/* Serves one request; returns the bytes written into the guest's
 * in-buffers (the status byte included). */
static uint32_t blk_handle_request(struct virtio_blk *blk, const struct virtq_chain *c)
{
	struct blk_header h;
	/* The status byte is the last byte the device writes. */
	if (c->in_len < 1 ||
	    virtq_chain_read(c, 0, &h, sizeof(h)) != sizeof(h))
		return 0;
	uint64_t data_in = c->in_len - 1;
	uint64_t data_out = c->out_len - sizeof(h);
	uint8_t status = VIRTIO_BLK_S_OK;
	uint32_t written = 0;
	struct iovec iov[VIRTQ_MAX_SIZE];
	int n, r;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
		n = iov_slice(c->in, (int)c->nin, 0, data_in, iov, VIRTQ_MAX_SIZE);
		r = data_in % SECTOR || h.sector > blk->disk->size / SECTOR
			    ? -EINVAL
			    : disk_preadv(blk->disk, iov, n, h.sector * SECTOR);
		if (r < 0)
			status = VIRTIO_BLK_S_IOERR;
		else
			written = (uint32_t)data_in;
		break;
	case VIRTIO_BLK_T_OUT:
		n = iov_slice(c->out, (int)c->nout, sizeof(h), data_out, iov, VIRTQ_MAX_SIZE);
		r = data_out % SECTOR || h.sector > blk->disk->size / SECTOR
			    ? -EINVAL
			    : disk_pwritev(blk->disk, iov, n, h.sector * SECTOR);
		if (r < 0)
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (!blk->flush_noop && disk_flush(blk->disk, blk->flush_data_only) < 0)
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		size_t len = strnlen(blk->id, sizeof(blk->id));
		if (data_in < len)
			len = data_in;
		written = (uint32_t)virtq_chain_write(c, 0, blk->id, len);
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		status = blk->disk->read_only ? VIRTIO_BLK_S_IOERR
					      : blk_range_request(blk, c, h.type);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	virtq_chain_write(c, c->in_len - 1, &status, 1);
	return written + 1;
}

static void *blk_worker_main(void *arg)
{
	struct virtio_blk *blk = arg;
	struct virtio_mmio_device *dev = &blk->mmio;
	struct virtq *q = &dev->queues[0];
	pthread_mutex_lock(&dev->lock);
	while (!blk->stopping) {
		int r = 0;
		if ((dev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		    !(dev->status & VIRTIO_CONFIG_S_NEEDS_RESET) && q->ready)
			r = virtq_pop(q, &blk->chain);
		if (r < 0)
			virtio_mmio_fail(dev);
		if (r <= 0) {
			pthread_cond_wait(&blk->wake, &dev->lock);
			continue;
		}
		uint64_t generation = blk->generation;
		pthread_mutex_unlock(&dev->lock);
		uint32_t written = blk_handle_request(blk, &blk->chain);
		pthread_mutex_lock(&dev->lock);
		if (generation != blk->generation)
			continue;
		if (written == 0) {
			/* No room for even the status byte: a broken driver. */
			virtio_mmio_fail(dev);
			continue;
		}
		virtq_push(q, blk->chain.head, written);
		virtio_mmio_notify_used(dev, q);
	}
	pthread_mutex_unlock(&dev->lock);
	return NULL;
}

static const struct virtio_device_ops blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.queue_size = QUEUE_SIZE,
	.config_size = sizeof(struct virtio_blk_config),
	.read_config = blk_read_config,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
};

int virtio_blk_init(struct virtio_blk *blk, struct machine *m, struct event_loop *loop,
		    const struct virtio_blk_params *p, uint64_t base, uint32_t irq,
		    nook_error **err)
{
	size_t id_len = strlen(p->id);
	if (id_len == 0 || id_len > VIRTIO_BLK_ID_MAX)
		return nook_error_set(err, EINVAL, "disk %s: id \"%s\" must be 1 to %d bytes", p->path,
				      p->id, VIRTIO_BLK_ID_MAX);
	memset(blk->id, 0, sizeof(blk->id));
	memcpy(blk->id, p->id, id_len);
	struct disk_options o = {.format = p->format, .read_only = p->read_only, .direct = p->direct};
	int r = disk_open(p->path, &o, &blk->disk, err);
	if (r < 0)
		return r;
	blk->loop = loop;
	blk->flush_noop = p->cache == NOOK_DISK_CACHE_UNSAFE || p->sync == NOOK_DISK_SYNC_NONE;
	blk->flush_data_only = p->sync == NOOK_DISK_SYNC_RELAXED;
	blk->stopping = false;
	blk->generation = 0;
	/* The features differ per disk, so each has its own ops table. */
	blk->ops = blk_ops;
	blk->ops.features = UINT64_C(1) << VIRTIO_BLK_F_SEG_MAX | UINT64_C(1) << VIRTIO_BLK_F_BLK_SIZE |
			    UINT64_C(1) << VIRTIO_BLK_F_FLUSH;
	if (p->read_only)
		blk->ops.features |= UINT64_C(1) << VIRTIO_BLK_F_RO;
	else
		blk->ops.features |= UINT64_C(1) << VIRTIO_BLK_F_WRITE_ZEROES |
				     (disk_can_discard(blk->disk) ? UINT64_C(1) << VIRTIO_BLK_F_DISCARD : 0);
	pthread_cond_init(&blk->wake, NULL);
	r = virtio_mmio_init(&blk->mmio, m, loop, &blk->ops, blk, base, irq, err);
	if (r < 0)
		return r;
	r = -pthread_create(&blk->worker, NULL, blk_worker_main, blk);
	if (r < 0)
		return nook_error_set(err, -r, "disk %s: worker thread: %s", p->path, strerror(-r));
	blk->worker_started = true;
	return 0;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (blk->mmio.ops) {
		pthread_mutex_lock(&blk->mmio.lock);
		blk->stopping = true;
		pthread_cond_broadcast(&blk->wake);
		pthread_mutex_unlock(&blk->mmio.lock);
		if (blk->worker_started)
			pthread_join(blk->worker, NULL);
		blk->worker_started = false;
		pthread_cond_destroy(&blk->wake);
		virtio_mmio_destroy(&blk->mmio, blk->loop);
		blk->mmio.ops = NULL;
	}
	disk_close(blk->disk);
	blk->disk = NULL;
}
