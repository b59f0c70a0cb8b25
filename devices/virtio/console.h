/* virtio-console with multiport (virtio 1.x, 5.3): named ports, each
 * connected to host fds. nook uses one port each for the program's stdin,
 * stdout and stderr, so the streams stay separate and byte-exact (no tty
 * in between). */
#ifndef NOOK_DEVICES_VIRTIO_CONSOLE_H
#define NOOK_DEVICES_VIRTIO_CONSOLE_H

#include <stdbool.h>

#include "devices/virtio/mmio.h"

#define VIRTIO_CONSOLE_MAX_PORTS 7 /* (ports + 1) * 2 queues must fit */
#define VIRTIO_CONSOLE_NAME_MAX 64

struct virtio_console_port_config {
	const char *name;
	int in_fd;  /* host -> guest, or -1 */
	int out_fd; /* guest -> host, or -1 */
};

struct virtio_console_port {
	char name[VIRTIO_CONSOLE_NAME_MAX];
	int in_fd, out_fd;
	bool guest_ready;
	bool guest_open;    /* a guest process has the port open */
	bool in_eof;        /* the host side reached end of file */
	bool in_pollable;   /* in_fd works with epoll (not a regular file) */
	bool in_watching;
	struct event_source in_source;
	struct virtio_console *console;
};

struct virtio_console_ctrl {
	uint32_t id;
	uint16_t event, value;
};

struct virtio_console {
	struct virtio_mmio_device mmio;
	struct virtio_device_ops ops;
	struct event_loop *loop;
	int nports;
	struct virtio_console_port ports[VIRTIO_CONSOLE_MAX_PORTS];
	/* Control messages waiting for a guest buffer. */
	struct virtio_console_ctrl pending[4 * VIRTIO_CONSOLE_MAX_PORTS + 4];
	unsigned npending;
	struct virtq_chain chain; /* scratch, used under the device lock */
};

int virtio_console_init(struct virtio_console *c, struct machine *m, struct event_loop *loop,
			const struct virtio_console_port_config *ports, int nports, uint64_t base,
			uint32_t irq, nook_error **err);
void virtio_console_destroy(struct virtio_console *c);

/* Writes out whatever the guest has queued on its output ports; for the
 * end of the VM, after the vCPUs and the I/O thread have stopped. */
void virtio_console_drain(struct virtio_console *c);

/* After a restore: picks up the input waiting on the ports' host fds, as
 * the guest's own notifications would have. */
void virtio_console_resume(struct virtio_console *c);

#endif
