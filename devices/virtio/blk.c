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
	virtio_workers_wake(&blk->workers);
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

int64_t virtio_blk_serve(struct virtio_blk *blk, const struct virtq_chain *c)
{
	struct blk_header h;
	/* The status byte is the last byte the device writes. */
	if (c->in_len < 1 ||
	    virtq_chain_read(c, 0, &h, sizeof(h)) != sizeof(h))
		return -1;
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
	return (int64_t)written + 1;
}

static int64_t blk_handle_request(struct virtio_mmio_device *dev, const struct virtq_chain *c)
{
	return virtio_blk_serve(dev->opaque, c);
}

static const struct virtio_device_ops blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.queue_size = QUEUE_SIZE,
	.config_size = sizeof(struct virtio_blk_config),
	.read_config = blk_read_config,
	.queue_notify = blk_queue_notify,
};

int virtio_blk_open(struct virtio_blk *blk, const struct virtio_blk_params *p, nook_error **err)
{
	size_t id_len = strlen(p->id);
	if (id_len == 0 || id_len > NOOK_DISK_ID_MAX)
		return error_set(err, EINVAL, "disk %s: id \"%s\" must be 1 to %d bytes", p->path,
				      p->id, NOOK_DISK_ID_MAX);
	memset(blk->id, 0, sizeof(blk->id));
	memcpy(blk->id, p->id, id_len);
	struct disk_options o = {.format = p->format, .read_only = p->read_only, .direct = p->direct,
				 .allow_backing = p->allow_backing};
	int r = disk_open(p->path, &o, &blk->disk, err);
	if (r < 0)
		return r;
	blk->flush_noop = p->cache == NOOK_DISK_CACHE_UNSAFE || p->sync == NOOK_DISK_SYNC_NONE;
	blk->flush_data_only = p->sync == NOOK_DISK_SYNC_RELAXED;
	/* The features differ per disk, so each has its own ops table. */
	blk->ops = blk_ops;
	blk->ops.features = UINT64_C(1) << VIRTIO_BLK_F_SEG_MAX | UINT64_C(1) << VIRTIO_BLK_F_BLK_SIZE |
			    UINT64_C(1) << VIRTIO_BLK_F_FLUSH;
	if (p->read_only)
		blk->ops.features |= UINT64_C(1) << VIRTIO_BLK_F_RO;
	else
		blk->ops.features |= UINT64_C(1) << VIRTIO_BLK_F_WRITE_ZEROES |
				     (disk_can_discard(blk->disk) ? UINT64_C(1) << VIRTIO_BLK_F_DISCARD : 0);
	return 0;
}

int virtio_blk_init(struct virtio_blk *blk, struct machine *m, struct event_loop *loop,
		    const struct virtio_blk_params *p, uint64_t base, uint32_t irq,
		    nook_error **err)
{
	int r = virtio_blk_open(blk, p, err);
	if (r < 0)
		return r;
	blk->loop = loop;
	r = virtio_mmio_init(&blk->mmio, m, loop, &blk->ops, blk, base, irq, err);
	if (r == 0)
		r = virtio_workers_start(&blk->workers, &blk->mmio, blk_handle_request, 1,
					 THREAD_ROLE_BLK_WORKER, "blk", err);
	return r;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (blk->mmio.ops) {
		virtio_workers_stop(&blk->workers);
		virtio_mmio_destroy(&blk->mmio, blk->loop);
		blk->mmio.ops = NULL;
	}
	disk_close(blk->disk);
	blk->disk = NULL;
}
