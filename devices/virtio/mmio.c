#include "devices/virtio/mmio.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x4b4f4f4e /* "NOOK" */
#define VIRTIO_MMIO_WINDOW 0x1000

static struct virtq *selected_queue(struct virtio_mmio_device *dev)
{
	return dev->queue_sel < dev->ops->num_queues ? &dev->queues[dev->queue_sel] : NULL;
}

static uint64_t device_features(const struct virtio_mmio_device *dev)
{
	return dev->ops->features | (1ULL << VIRTIO_F_VERSION_1);
}

/* The line's level: an interrupt the driver has not acknowledged. Read
 * without the device lock (the user irqchip asks with its own held). */
static bool interrupt_pending(void *opaque)
{
	struct virtio_mmio_device *dev = opaque;
	return atomic_load(&dev->interrupt_status) != 0;
}

static void raise_interrupt(struct virtio_mmio_device *dev, uint32_t bits)
{
	atomic_fetch_or(&dev->interrupt_status, bits);
	if (dev->machine->metrics)
		atomic_fetch_add_explicit(&dev->counters.interrupts, 1, memory_order_relaxed);
	uint64_t one = 1;
	if (write(dev->irq_fd, &one, sizeof(one)) < 0) {
		/* An eventfd write fails only when the counter is saturated,
		 * in which case the interrupt is pending anyway. */
	}
}

void virtio_mmio_notify_used(struct virtio_mmio_device *dev, struct virtq *q)
{
	if (virtq_needs_interrupt(q))
		raise_interrupt(dev, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_config_changed(struct virtio_mmio_device *dev)
{
	dev->config_generation++;
	raise_interrupt(dev, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_fail(struct virtio_mmio_device *dev)
{
	if (dev->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	dev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	if (dev->status & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_mmio_config_changed(dev);
}

static void device_reset(struct virtio_mmio_device *dev)
{
	if (dev->ops->reset)
		dev->ops->reset(dev);
	for (int i = 0; i < dev->ops->num_queues; i++)
		virtq_reset(&dev->queues[i]);
	dev->status = 0;
	dev->driver_features = 0;
	dev->device_features_sel = dev->driver_features_sel = dev->queue_sel = dev->shm_sel = 0;
	atomic_store(&dev->interrupt_status, 0);
}

static uint32_t register_read(struct virtio_mmio_device *dev, uint64_t offset)
{
	struct virtq *q = selected_queue(dev);
	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return dev->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return dev->device_features_sel < 2
			       ? (uint32_t)(device_features(dev) >> (32 * dev->device_features_sel))
			       : 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? dev->ops->queue_size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return atomic_load(&dev->interrupt_status);
	case VIRTIO_MMIO_STATUS:
		return dev->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return dev->config_generation;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH: {
		/* Length ~0: no such region. */
		uint64_t gpa = ~0ULL, len = ~0ULL;
		if (dev->ops->shm_region && !dev->ops->shm_region(dev, dev->shm_sel, &gpa, &len))
			gpa = len = ~0ULL;
		uint64_t v = offset <= VIRTIO_MMIO_SHM_LEN_HIGH ? len : gpa;
		bool high = offset == VIRTIO_MMIO_SHM_LEN_HIGH || offset == VIRTIO_MMIO_SHM_BASE_HIGH;
		return (uint32_t)(high ? v >> 32 : v);
	}
	default:
		return 0;
	}
}

static void set_status(struct virtio_mmio_device *dev, uint32_t status)
{
	if (status == 0) {
		device_reset(dev);
		return;
	}
	/* The driver may not accept features we did not offer. */
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    (dev->driver_features & ~device_features(dev)))
		status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	bool activating = (status & VIRTIO_CONFIG_S_DRIVER_OK) &&
			  !(dev->status & VIRTIO_CONFIG_S_DRIVER_OK);
	dev->status = status | (dev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	if (!activating)
		return;
	if (dev->ops->activate)
		dev->ops->activate(dev);
	/* Notifications sent before DRIVER_OK were dropped; catch up. */
	for (uint16_t i = 0; i < dev->ops->num_queues; i++)
		if (dev->queues[i].ready && dev->ops->queue_notify)
			dev->ops->queue_notify(dev, i);
}

static void set_queue_addr(uint64_t *addr, bool high, uint32_t v)
{
	if (high)
		*addr = (*addr & 0xffffffffULL) | ((uint64_t)v << 32);
	else
		*addr = (*addr & ~0xffffffffULL) | v;
}

static void register_write(struct virtio_mmio_device *dev, uint64_t offset, uint32_t v)
{
	struct virtq *q = selected_queue(dev);
	/* Queue layout can change only while the queue is not live. */
	bool q_configurable = q && !q->ready;
	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		dev->device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		dev->driver_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (dev->driver_features_sel < 2 && !(dev->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
			unsigned shift = 32 * dev->driver_features_sel;
			dev->driver_features = (dev->driver_features & ~(0xffffffffULL << shift)) |
					       ((uint64_t)v << shift);
		}
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		dev->queue_sel = v;
		break;
	case VIRTIO_MMIO_SHM_SEL:
		dev->shm_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (q_configurable)
			q->size = v <= dev->ops->queue_size ? (uint16_t)v : 0;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (q && v == 1 && !q->ready) {
			if (virtq_activate(q) < 0)
				virtio_mmio_fail(dev);
		} else if (q && v == 0) {
			virtq_reset(q);
		}
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* Normally caught by the ioeventfd; reaches here only if that
		 * failed to register, so forward it the same way. */
		if (v < dev->ops->num_queues) {
			uint64_t one = 1;
			if (write(dev->notify[v].source.fd, &one, sizeof(one)) < 0) {
				/* saturated counter: a notification is pending */
			}
		}
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		atomic_fetch_and(&dev->interrupt_status, ~v);
		break;
	case VIRTIO_MMIO_STATUS:
		set_status(dev, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (q_configurable)
			set_queue_addr(&q->desc_gpa, offset == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if (q_configurable)
			set_queue_addr(&q->avail_gpa, offset == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (q_configurable)
			set_queue_addr(&q->used_gpa, offset == VIRTIO_MMIO_QUEUE_USED_HIGH, v);
		break;
	default:
		break;
	}
}

/* What an empty slot shows: the magic and version, device id 0. */
static uint32_t placeholder_register(uint64_t offset)
{
	return offset == VIRTIO_MMIO_MAGIC_VALUE ? VIRTIO_MMIO_MAGIC
	       : offset == VIRTIO_MMIO_VERSION	 ? 2
						 : 0;
}

static void placeholder_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
	if (len == 4 && !(offset & 3))
		io_data_put(data, 4, placeholder_register(offset));
}

int virtio_mmio_register_placeholder(struct machine *m, uint64_t base, nook_error **err)
{
	struct io_handler h = {.read = placeholder_read};
	int r = io_bus_register(&m->mmio, base, VIRTIO_MMIO_WINDOW, &h);
	if (r < 0)
		return error_set(err, -r, "virtio-mmio placeholder 0x%llx: %s",
				 (unsigned long long)base, strerror(-r));
	return 0;
}

static void mmio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_mmio_device *dev = opaque;
	memset(data, 0, len);
	pthread_mutex_lock(&dev->lock);
	if (dev->hidden) {
		placeholder_read(NULL, offset, data, len);
	} else if (offset >= VIRTIO_MMIO_CONFIG) {
		uint64_t off = offset - VIRTIO_MMIO_CONFIG;
		if (dev->ops->read_config && off <= dev->ops->config_size &&
		    len <= dev->ops->config_size - off)
			dev->ops->read_config(dev, (uint32_t)off, data, len);
	} else if (len == 4 && !(offset & 3)) {
		io_data_put(data, 4, register_read(dev, offset));
	}
	pthread_mutex_unlock(&dev->lock);
}

static void mmio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct virtio_mmio_device *dev = opaque;
	pthread_mutex_lock(&dev->lock);
	/* Registers are 32-bit, anything else is ignored as the spec allows. */
	if (dev->hidden) {
		/* an empty placeholder ignores writes */
	} else if (offset >= VIRTIO_MMIO_CONFIG) {
		uint64_t off = offset - VIRTIO_MMIO_CONFIG;
		if (dev->ops->write_config && off <= dev->ops->config_size &&
		    len <= dev->ops->config_size - off)
			dev->ops->write_config(dev, (uint32_t)off, data, len);
	} else if (len == 4 && !(offset & 3)) {
		register_write(dev, offset, (uint32_t)io_data_get(data, 4));
	}
	pthread_mutex_unlock(&dev->lock);
}

static void on_queue_notify(void *opaque, uint32_t events)
{
	struct virtio_mmio_notify *n = opaque;
	struct virtio_mmio_device *dev = n->dev;
	uint64_t count;
	if (read(n->source.fd, &count, sizeof(count)) < 0)
		return;
	if (dev->machine->metrics)
		atomic_fetch_add_explicit(&dev->counters.notifications, count, memory_order_relaxed);
	pthread_mutex_lock(&dev->lock);
	if ((dev->status & VIRTIO_CONFIG_S_DRIVER_OK) && !(dev->status & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	    dev->queues[n->index].ready && dev->ops->queue_notify)
		dev->ops->queue_notify(dev, n->index);
	pthread_mutex_unlock(&dev->lock);
}

int virtio_mmio_init(struct virtio_mmio_device *dev, struct machine *m, struct event_loop *loop,
		     const struct virtio_device_ops *ops, void *opaque, uint64_t base, uint32_t irq,
		     nook_error **err)
{
	memset(dev, 0, sizeof(*dev));
	dev->ops = ops;
	dev->opaque = opaque;
	dev->machine = m;
	dev->base = base;
	dev->irq = irq;
	dev->irq_fd = -1;
	pthread_mutex_init(&dev->lock, NULL);
	for (int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		dev->queues[i].mem = &m->mem;
		dev->queues[i].counters = m->metrics ? &dev->counters : NULL;
		dev->notify[i].source.fd = -1;
	}
	if (ops->num_queues > VIRTIO_MMIO_MAX_QUEUES)
		return error_set(err, EINVAL, "virtio-%s: too many queues", ops->name);

	dev->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->irq_fd < 0)
		return error_set(err, errno, "virtio-%s: eventfd: %s", ops->name, strerror(errno));
	const struct irq_line line = {.fd = dev->irq_fd, .asserted = interrupt_pending, .opaque = dev};
	int r = machine_connect_irq(m, irq, &line);
	if (r < 0)
		return error_set(err, -r, "virtio-%s: cannot connect IRQ %u: %s", ops->name, irq,
				 strerror(-r));
	for (uint16_t i = 0; i < ops->num_queues; i++) {
		struct virtio_mmio_notify *n = &dev->notify[i];
		n->dev = dev;
		n->index = i;
		n->source = (struct event_source){.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
						  .fn = on_queue_notify,
						  .opaque = n};
		if (n->source.fd < 0 || event_loop_add(loop, &n->source, EPOLLIN) < 0)
			return error_set(err, errno, "virtio-%s: queue %u notification: %s",
					      ops->name, i, strerror(errno));
		/* Without an ioeventfd the write exits to mmio_write instead. */
		machine_add_ioeventfd(m, n->source.fd, base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, true, i);
	}
	struct io_handler h = {.read = mmio_read, .write = mmio_write, .opaque = dev};
	r = io_bus_register(&m->mmio, base, VIRTIO_MMIO_WINDOW, &h);
	if (r < 0)
		return error_set(err, -r, "virtio-%s: MMIO window 0x%llx: %s", ops->name,
				      (unsigned long long)base, strerror(-r));
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio_device *dev, struct event_loop *loop)
{
	for (int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		if (dev->notify[i].source.fd >= 0) {
			event_loop_remove(loop, &dev->notify[i].source);
			close(dev->notify[i].source.fd);
			dev->notify[i].source.fd = -1;
		}
	}
	if (dev->irq_fd >= 0)
		close(dev->irq_fd);
	dev->irq_fd = -1;
	pthread_mutex_destroy(&dev->lock);
}

void virtio_mmio_reveal(struct virtio_mmio_device *dev)
{
	pthread_mutex_lock(&dev->lock);
	dev->hidden = false;
	pthread_mutex_unlock(&dev->lock);
}

void virtio_mmio_cmdline(uint64_t base, uint32_t irq, struct strbuf *b)
{
	strbuf_printf(b, " virtio_mmio.device=4K@0x%llx:%u", (unsigned long long)base, irq);
}

/* The transport in the snapshot file's layout (version 2 added the shared
 * memory selector), which has room for this many queues: a device
 * with more is never saved. */
#define STATE_QUEUES 16

struct virtio_mmio_state {
	uint32_t device_id;
	uint32_t status;
	uint32_t device_features_sel, driver_features_sel, queue_sel, shm_sel;
	uint32_t config_generation, interrupt_status;
	uint64_t driver_features;
	uint32_t nqueues;
	struct virtq_state queues[STATE_QUEUES];
};

int virtio_mmio_save(struct virtio_mmio_device *dev, const char *name, struct bytes *out)
{
	if (dev->hidden || !dev->ops->save || dev->ops->num_queues > STATE_QUEUES)
		return -ENOTSUP;
	struct bytes b = {0};
	struct virtio_mmio_state st = {
		.device_id = dev->ops->device_id, .status = dev->status,
		.device_features_sel = dev->device_features_sel,
		.driver_features_sel = dev->driver_features_sel, .queue_sel = dev->queue_sel,
		.shm_sel = dev->shm_sel, .config_generation = dev->config_generation,
		.interrupt_status = atomic_load(&dev->interrupt_status),
		.driver_features = dev->driver_features, .nqueues = dev->ops->num_queues,
	};
	for (uint16_t i = 0; i < dev->ops->num_queues; i++)
		virtq_save(&dev->queues[i], &st.queues[i]);
	int r = bytes_append(&b, &st, sizeof(st));
	if (r == 0)
		r = dev->ops->save(dev, &b);
	if (r == 0)
		r = state_put(out, name, VIRTIO_MMIO_STATE_VERSION, b.data, b.len);
	bytes_free(&b);
	return r;
}

int virtio_mmio_restore(struct virtio_mmio_device *dev, const void *state, size_t len)
{
	struct virtio_mmio_state st;
	if (len < sizeof(st))
		return -EINVAL;
	memcpy(&st, state, sizeof(st));
	if (dev->hidden || !dev->ops->restore || st.device_id != dev->ops->device_id ||
	    st.nqueues != dev->ops->num_queues || st.nqueues > STATE_QUEUES ||
	    (st.driver_features & ~device_features(dev)))
		return -EINVAL;
	dev->status = st.status;
	dev->device_features_sel = st.device_features_sel;
	dev->driver_features_sel = st.driver_features_sel;
	dev->queue_sel = st.queue_sel;
	dev->shm_sel = st.shm_sel;
	dev->config_generation = st.config_generation;
	atomic_store(&dev->interrupt_status, st.interrupt_status);
	dev->driver_features = st.driver_features;
	for (uint16_t i = 0; i < dev->ops->num_queues; i++)
		if (virtq_restore(&dev->queues[i], &st.queues[i]) < 0)
			return -EINVAL;
	return dev->ops->restore(dev, (const uint8_t *)state + sizeof(st), len - sizeof(st));
}
