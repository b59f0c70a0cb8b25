/* virtio-mmio transport, version 2 registers (virtio 1.x, 4.2). Each device
 * describes itself with a virtio_device_ops table; the transport owns the
 * registers, the queues, the interrupt and the notification eventfds.
 *
 * Slots: the VMM declares a fixed set of MMIO windows on the kernel command
 * line. A window may hold a device that is present from boot, a device that
 * stays hidden (it reads as device id 0, which Linux takes for an empty
 * placeholder) until the VMM reveals it after the ready point, or nothing
 * but a placeholder. */
#ifndef NOOK_DEVICES_VIRTIO_MMIO_H
#define NOOK_DEVICES_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "devices/virtio/queue.h"
#include "kvm/kvm.h"
#include "util/event_loop.h"
#include "util/state.h"
#include "util/strbuf.h"

/* A virtio-console of 31 ports has 64 queues. */
#define VIRTIO_MMIO_MAX_QUEUES 64

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
	/* Config space writes by the driver, checked the same way (vCPU
	 * thread, device lock held); NULL: the config space is read-only. */
	void (*write_config)(struct virtio_mmio_device *dev, uint32_t offset, const uint8_t *data,
			     uint32_t len);
	/* The guest notified queue `index` (I/O thread, device lock held). */
	void (*queue_notify)(struct virtio_mmio_device *dev, uint16_t index);
	/* The driver set DRIVER_OK (vCPU thread, device lock held). */
	void (*activate)(struct virtio_mmio_device *dev);
	/* The driver reset the device (vCPU thread, device lock held). */
	void (*reset)(struct virtio_mmio_device *dev);
	/* Shared memory region `id` (virtio 1.2, 2.10): false when the device
	 * has none of that id; NULL: it has none at all. */
	bool (*shm_region)(struct virtio_mmio_device *dev, uint32_t id, uint64_t *gpa,
			   uint64_t *len);
	/* Snapshot of the device's own state (device lock held, the VM
	 * paused): save appends it, restore checks and loads what save wrote.
	 * A device without them cannot be saved while the guest sees it. */
	int (*save)(struct virtio_mmio_device *dev, struct bytes *out);
	int (*restore)(struct virtio_mmio_device *dev, const void *state, size_t len);
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
	bool hidden; /* reads as an empty placeholder (see above) */

	uint32_t status;
	uint32_t device_features_sel, driver_features_sel, queue_sel, shm_sel;
	uint64_t driver_features;
	uint32_t config_generation;
	atomic_uint interrupt_status;
	int irq_fd;
	struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];
	struct virtq_counters counters; /* its queues', when the machine counts */
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

/* Makes a hidden device visible to the guest's next probe. */
void virtio_mmio_reveal(struct virtio_mmio_device *dev);

/* An MMIO window with no device: it reads as a placeholder. */
int virtio_mmio_register_placeholder(struct machine *m, uint64_t base, nook_error **err);

/* The kernel parameter that declares the window at `base` with `irq`:
 * "virtio_mmio.device=...". */
void virtio_mmio_cmdline(uint64_t base, uint32_t irq, struct strbuf *b);

#define VIRTIO_MMIO_STATE_VERSION 2

/* Snapshot: the transport's registers and queues, then the device's own
 * state, as section `name` (version VIRTIO_MMIO_STATE_VERSION). Only a
 * device the guest sees and whose ops can save it (-ENOTSUP otherwise). Restore checks the section
 * against the device (its id, its queues against guest memory) and fails
 * with -EINVAL on any mismatch. */
int virtio_mmio_save(struct virtio_mmio_device *dev, const char *name, struct bytes *out);
int virtio_mmio_restore(struct virtio_mmio_device *dev, const void *state, size_t len);

#endif
