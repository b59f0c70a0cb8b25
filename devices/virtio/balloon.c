#include "devices/virtio/balloon.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_ids.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/clock.h"

#define BALLOON_PAGE 4096u /* VIRTIO_BALLOON_PFN_SHIFT */
/* Linux sends at most 256 PFNs a request; more is ignored, so that one
 * request cannot keep the I/O thread busy for long. */
#define BALLOON_MAX_PFNS 4096
/* Linux's stats buffer has 10 entries (6.1) to 16 (6.12). */
#define BALLOON_MAX_STATS 64

enum queue_role { QUEUE_INFLATE, QUEUE_DEFLATE, QUEUE_STATS, QUEUE_REPORTING, QUEUE_NONE };

static bool negotiated(const struct virtio_mmio_device *dev, unsigned feature)
{
	return dev->driver_features & (1ULL << feature);
}

/* The driver numbers only the queues whose feature it accepted. */
static enum queue_role queue_role(const struct virtio_mmio_device *dev, uint16_t index)
{
	if (index < 2)
		return index == 0 ? QUEUE_INFLATE : QUEUE_DEFLATE;
	uint16_t next = 2;
	if (negotiated(dev, VIRTIO_BALLOON_F_STATS_VQ) && index == next++)
		return QUEUE_STATS;
	if (negotiated(dev, VIRTIO_BALLOON_F_REPORTING) && index == next)
		return QUEUE_REPORTING;
	return QUEUE_NONE;
}

static struct virtq *stats_queue(struct virtio_mmio_device *dev)
{
	return negotiated(dev, VIRTIO_BALLOON_F_STATS_VQ) ? &dev->queues[2] : NULL;
}

/* Gives host pages of guest RAM back to the host kernel. Guest RAM is a
 * private mapping (kvm/memory.c): anonymous after a cold boot, in part the
 * kernel's and nook-init's files mapped copy-on-write, and after a restore
 * the snapshot's memory file mapped copy-on-write. MADV_DONTNEED is right
 * for all three: it frees the private pages (anonymous ones read back as
 * zeroes, file-backed ones as the file's bytes, which the guest had
 * already), and it never writes the file. MADV_REMOVE and fallocate
 * (PUNCH_HOLE) are for shared mappings: on the snapshot's file they would
 * punch holes into memory other VMs share, and guest RAM is never a shared
 * mapping. The guest gets no promise about the contents (no PAGE_POISON). */
static void release(struct virtio_balloon *b, uint8_t *hva, uint64_t len)
{
	if (len && madvise(hva, len, MADV_DONTNEED) == 0)
		b->stats.released_bytes += len;
}

/* Inflate: the chain's out-buffers are little-endian 32-bit PFNs of 4 KiB
 * pages. Each page is looked up in guest RAM on its own (a PFN beyond RAM
 * or in a hole is refused); runs of pages adjacent on the host are
 * released together. */
static void inflate(struct virtio_balloon *b, const struct virtq_chain *c)
{
	const struct guest_memory *mem = b->mmio.queues[0].mem;
	uint64_t count = c->out_len / sizeof(uint32_t);
	if (count > BALLOON_MAX_PFNS)
		count = BALLOON_MAX_PFNS;
	uint32_t pfns[256];
	uint8_t *run = NULL;
	uint64_t run_len = 0;
	for (uint64_t done = 0; done < count;) {
		uint64_t want = count - done < 256 ? count - done : 256;
		size_t got = virtq_chain_read(c, done * sizeof(uint32_t), pfns,
					      want * sizeof(uint32_t)) / sizeof(uint32_t);
		if (got == 0)
			break;
		for (size_t i = 0; i < got; i++) {
			uint64_t gpa = (uint64_t)le32toh(pfns[i]) * BALLOON_PAGE;
			uint8_t *hva = guest_memory_ptr(mem, gpa, BALLOON_PAGE);
			if (!hva) {
				b->stats.refused++;
			} else if (run && hva == run + run_len) {
				run_len += BALLOON_PAGE;
			} else {
				release(b, run, run_len);
				run = hva;
				run_len = BALLOON_PAGE;
			}
		}
		done += got;
	}
	release(b, run, run_len);
}

/* Free page reporting: each in-buffer is a free range of guest RAM (the
 * queue checked it lies in RAM when it took the chain); only the whole
 * host pages inside it are released. */
static void report_free(struct virtio_balloon *b, const struct virtq_chain *c)
{
	for (unsigned i = 0; i < c->nin; i++) {
		uintptr_t start = (uintptr_t)c->in[i].iov_base;
		uintptr_t end = start + c->in[i].iov_len;
		uintptr_t first = (start + BALLOON_PAGE - 1) & ~(uintptr_t)(BALLOON_PAGE - 1);
		uintptr_t last = end & ~(uintptr_t)(BALLOON_PAGE - 1);
		if (last > first)
			release(b, (uint8_t *)first, last - first);
		else if (c->in[i].iov_len)
			b->stats.refused++;
	}
}

/* A stats buffer: 10-byte entries of a little-endian 16-bit tag and 64-bit
 * value. Unknown tags and a trailing partial entry are ignored. */
static void parse_stats(struct virtio_balloon *b, const struct virtq_chain *c)
{
	uint8_t buf[BALLOON_MAX_STATS * sizeof(struct virtio_balloon_stat)];
	size_t len = virtq_chain_read(c, 0, buf, sizeof(buf));
	for (size_t off = 0; off + sizeof(struct virtio_balloon_stat) <= len;
	     off += sizeof(struct virtio_balloon_stat)) {
		struct virtio_balloon_stat s;
		memcpy(&s, buf + off, sizeof(s));
		uint16_t tag = le16toh(s.tag);
		if (tag < BALLOON_STATS)
			b->stats.values[tag] = le64toh(s.val);
	}
	b->stats.updated_ns = monotonic_ns();
}

static void stats_hand_back(struct virtio_balloon *b)
{
	struct virtq *q = stats_queue(&b->mmio);
	if (!b->stats_held || !q || q->generation != b->stats_generation)
		return;
	b->stats_held = false;
	virtq_push(q, b->stats_head, 0);
	virtio_mmio_notify_used(&b->mmio, q);
}

static void balloon_queue_notify(struct virtio_mmio_device *dev, uint16_t index)
{
	struct virtio_balloon *b = dev->opaque;
	enum queue_role role = queue_role(dev, index);
	if (role == QUEUE_NONE)
		return;
	struct virtq *q = &dev->queues[index];
	bool pushed = false;
	int r;
	while ((r = virtq_pop(q, &b->chain)) > 0) {
		if (role == QUEUE_STATS) {
			parse_stats(b, &b->chain);
			/* One buffer is held; an extra one goes back at once. */
			stats_hand_back(b);
			b->stats_held = true;
			b->stats_head = b->chain.head;
			b->stats_generation = q->generation;
			continue;
		}
		if (role == QUEUE_INFLATE)
			inflate(b, &b->chain);
		else if (role == QUEUE_REPORTING)
			report_free(b, &b->chain);
		/* Deflate: the guest takes its pages back by touching them. */
		virtq_push(q, b->chain.head, 0);
		pushed = true;
	}
	if (r < 0)
		virtio_mmio_fail(dev);
	if (pushed)
		virtio_mmio_notify_used(dev, q);
}

void virtio_balloon_request_stats(struct virtio_balloon *b)
{
	pthread_mutex_lock(&b->mmio.lock);
	struct virtio_mmio_device *dev = &b->mmio;
	if (!dev->hidden && (dev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    !(dev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		stats_hand_back(b);
	pthread_mutex_unlock(&b->mmio.lock);
}

static void on_stats_timer(void *opaque, uint32_t events)
{
	struct virtio_balloon *b = opaque;
	uint64_t expirations;
	if (read(b->stats_timer.fd, &expirations, sizeof(expirations)) == sizeof(expirations))
		virtio_balloon_request_stats(b);
}

static void balloon_read_config(struct virtio_mmio_device *dev, uint32_t offset, uint8_t *data,
				uint32_t len)
{
	struct virtio_balloon *b = dev->opaque;
	struct virtio_balloon_config cfg = {
		.num_pages = htole32(b->stats.num_pages),
		.actual = htole32(b->stats.actual),
	};
	memcpy(data, (const uint8_t *)&cfg + offset, len);
}

/* Only `actual` is the driver's to write; the bytes of it that the write
 * covers are taken, the rest of the write is ignored. */
static void balloon_write_config(struct virtio_mmio_device *dev, uint32_t offset,
				 const uint8_t *data, uint32_t len)
{
	struct virtio_balloon *b = dev->opaque;
	const uint32_t at = offsetof(struct virtio_balloon_config, actual);
	uint32_t actual = htole32(b->stats.actual);
	uint8_t *bytes = (uint8_t *)&actual;
	for (uint32_t i = 0; i < len; i++)
		if (offset + i >= at && offset + i < at + sizeof(actual))
			bytes[offset + i - at] = data[i];
	b->stats.actual = le32toh(actual);
}

static void balloon_reset(struct virtio_mmio_device *dev)
{
	struct virtio_balloon *b = dev->opaque;
	b->stats_held = false;
	b->stats.actual = 0; /* a driver that goes away takes its pages back */
}

static int balloon_save(struct virtio_mmio_device *dev, struct bytes *out)
{
	struct virtio_balloon *b = dev->opaque;
	struct virtq *q = stats_queue(dev);
	struct virtio_balloon_state st = {
		.version = 1,
		.num_pages = b->stats.num_pages,
		.actual = b->stats.actual,
		.stats_held = b->stats_held && q && q->generation == b->stats_generation,
		.stats_head = b->stats_head,
	};
	return bytes_append(out, &st, sizeof(st));
}

/* Runs after the transport restored the queues: a held stats buffer must
 * name a descriptor of a live stats queue. */
static int balloon_restore(struct virtio_mmio_device *dev, const void *state, size_t len)
{
	struct virtio_balloon *b = dev->opaque;
	struct virtio_balloon_state st;
	if (len != sizeof(st))
		return -EINVAL;
	memcpy(&st, state, sizeof(st));
	struct virtq *q = stats_queue(dev);
	if (st.version != 1 || st.pad || st.stats_held > 1 ||
	    (uint64_t)st.num_pages * BALLOON_PAGE > dev->queues[0].mem->size)
		return -EINVAL;
	if (st.stats_held && (!q || !q->ready || st.stats_head >= q->size))
		return -EINVAL;
	b->stats.num_pages = st.num_pages;
	b->stats.actual = st.actual;
	b->stats_held = st.stats_held;
	b->stats_head = st.stats_head;
	b->stats_generation = q ? q->generation : 0;
	return 0;
}

int virtio_balloon_set_target(struct virtio_balloon *b, uint64_t pages)
{
	struct virtio_mmio_device *dev = &b->mmio;
	if (pages > dev->queues[0].mem->size / BALLOON_PAGE)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	b->stats.num_pages = (uint32_t)pages;
	/* A hidden device's driver reads it when it probes. */
	if (!dev->hidden && (dev->status & VIRTIO_CONFIG_S_DRIVER_OK))
		virtio_mmio_config_changed(dev);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *out)
{
	pthread_mutex_lock(&b->mmio.lock);
	*out = b->stats;
	pthread_mutex_unlock(&b->mmio.lock);
}

int virtio_balloon_init(struct virtio_balloon *b, struct machine *m, struct event_loop *loop,
			uint64_t stats_interval_ms, uint64_t base, uint32_t irq, nook_error **err)
{
	b->loop = loop;
	b->stats_timer = (struct event_source){.fd = -1, .fn = on_stats_timer, .opaque = b};
	for (int i = 0; i < BALLOON_STATS; i++)
		b->stats.values[i] = UINT64_MAX;
	b->ops = (struct virtio_device_ops){
		.name = "balloon",
		.device_id = VIRTIO_ID_BALLOON,
		.features = (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
			    (1ULL << VIRTIO_BALLOON_F_REPORTING) |
			    (stats_interval_ms ? 1ULL << VIRTIO_BALLOON_F_STATS_VQ : 0),
		.num_queues = 4,
		.queue_size = 128,
		.config_size = sizeof(struct virtio_balloon_config),
		.read_config = balloon_read_config,
		.write_config = balloon_write_config,
		.queue_notify = balloon_queue_notify,
		.reset = balloon_reset,
		.save = balloon_save,
		.restore = balloon_restore,
	};
	int r = virtio_mmio_init(&b->mmio, m, loop, &b->ops, b, base, irq, err);
	if (r < 0 || !stats_interval_ms)
		return r;
	/* The timer ticks from the start: without a held buffer (a hidden
	 * device, a driver not there yet) a tick does nothing. */
	struct itimerspec every = {
		.it_interval = {.tv_sec = (time_t)(stats_interval_ms / 1000),
				.tv_nsec = (long)(stats_interval_ms % 1000) * 1000000},
	};
	every.it_value = every.it_interval;
	b->stats_timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (b->stats_timer.fd < 0 || timerfd_settime(b->stats_timer.fd, 0, &every, NULL) < 0 ||
	    event_loop_add(loop, &b->stats_timer, EPOLLIN) < 0)
		return error_set(err, errno, "virtio-balloon: statistics timer: %s", strerror(errno));
	return 0;
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
	if (b->stats_timer.fd >= 0) {
		event_loop_remove(b->loop, &b->stats_timer);
		close(b->stats_timer.fd);
		b->stats_timer.fd = -1;
	}
	if (b->mmio.ops)
		virtio_mmio_destroy(&b->mmio, b->loop);
	b->mmio.ops = NULL;
}
