/* virtio-mmio transport, version 2 registers (virtio 1.x, 4.2). Each device
 * describes itself with a virtio_device_ops table; the transport owns the
 * registers, the queues, the interrupt and the notification eventfds. */
#ifndef NOOK_DEVICES_VIRTIO_MMIO_H
#define NOOK_DEVICES_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "devices/virtio/queue.h"
#include "util/event_loop.h"
#include "kvm/kvm.h"

#define VIRTIO_MMIO_MAX_QUEUES 16

struct virtio_mmio_device;

struct virtio_device_ops {
	const char *name;
	uint32_t device_id;
	uint64_t features; /* device features; VIRTIO_F_VERSION_1 is added */
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t config_size;
	/* Config space access, offset and len checked against config_size. */
	void (*read_config)(struct virtio_mmio_device *dev, uint32_t offset, uint8_t *data,
			    uint32_t len);
	/* The guest notified queue `index` (I/O thread, device lock held). */
	void (*queue_notify)(struct virtio_mmio_device *dev, uint16_t index);
	/* The driver set DRIVER_OK (vCPU thread, device lock held). */
	void (*activate)(struct virtio_mmio_device *dev);
	/* The driver reset the device (vCPU thread, device lock held). */
	void (*reset)(struct virtio_mmio_device *dev);
};

struct virtio_mmio_notify {
	struct event_source source;
	struct virtio_mmio_device *dev;
	uint16_t index;
};

struct virtio_mmio_device {
	const struct virtio_device_ops *ops;
	void *opaque; /* the device's own state */
	struct machine *machine;
	uint64_t base;
	uint32_t irq;
	pthread_mutex_t lock;

	uint32_t status;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint64_t driver_features;
	uint32_t config_generation;
	atomic_uint interrupt_status;
	int irq_fd;
	struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];
	struct virtio_mmio_notify notify[VIRTIO_MMIO_MAX_QUEUES];
};

/* Registers the device's MMIO window at `base` and its interrupt `irq`; the
 * queue notifications are served by `loop`. */
int virtio_mmio_init(struct virtio_mmio_device *dev, struct machine *m, struct event_loop *loop,
		     const struct virtio_device_ops *ops, void *opaque, uint64_t base, uint32_t irq,
		     nook_error **err);
void virtio_mmio_destroy(struct virtio_mmio_device *dev, struct event_loop *loop);

/* Signals "used buffers" (if the guest wants it for queue `q`) or a config
 * change. Device lock held. */
void virtio_mmio_notify_used(struct virtio_mmio_device *dev, struct virtq *q);
void virtio_mmio_config_changed(struct virtio_mmio_device *dev);
/* The guest broke the protocol: flag DEVICE_NEEDS_RESET. Device lock held. */
void virtio_mmio_fail(struct virtio_mmio_device *dev);

/* The kernel parameter that announces the device: "virtio_mmio.device=...". */
int virtio_mmio_cmdline(const struct virtio_mmio_device *dev, char *buf, size_t len);

#endif
