/* virtio-console with multiport (virtio 1.x, 5.3): named ports, each
 * connected to host fds. nook has two of them:
 *   - the implicit console, probed at boot and part of a snapshot: one port
 *     each for the program's stdin, stdout and stderr (separate streams,
 *     byte-exact, no tty in between) and nook-init's control port;
 *   - the user's named ports (nook_vm_config_add_console_*), run-specific:
 *     hidden in its slot until after the ready point like shares and disks,
 *     so it is never in a snapshot and does not change the snapshot's key.
 *
 * The device never blocks the I/O thread: output that does not fit the
 * host fd stays in the guest's chain (the port takes no more chains until
 * the fd is writable again, so the guest's write blocks: back-pressure),
 * and input is read only when the fd is readable. */
#ifndef NOOK_DEVICES_VIRTIO_CONSOLE_H
#define NOOK_DEVICES_VIRTIO_CONSOLE_H

#include <stdbool.h>

#include "devices/virtio/mmio.h"

/* (ports + 1) * 2 queues must fit VIRTIO_MMIO_MAX_QUEUES. */
#define VIRTIO_CONSOLE_MAX_PORTS (VIRTIO_MMIO_MAX_QUEUES / 2 - 1)
#define VIRTIO_CONSOLE_NAME_MAX 64
/* At the VM's end, queued output is dropped once a port's fd took nothing
 * for this long (a reader that stopped reading). */
#define VIRTIO_CONSOLE_DRAIN_STALL_MS 5000

struct virtio_console_port_config {
	const char *name;
	int in_fd;  /* host -> guest, or -1; the device reads its own copy */
	int out_fd; /* guest -> host, or -1; the device writes its own copy */
	bool copy_output;  /* the output also goes to the device's copy fd */
	bool end_on_close; /* the guest closing the port ends the output */
};

struct virtio_console_port {
	char name[VIRTIO_CONSOLE_NAME_MAX];
	int in_fd, out_fd;  /* the device's own copies, or -1 */
	bool out_socket;    /* written with send(MSG_DONTWAIT) */
	size_t out_chunk;   /* a blocking fd: poll, then this many bytes at most */
	bool copy_output, end_on_close;
	bool guest_ready;
	bool guest_open;    /* a guest process has the port open */
	bool in_eof;        /* the host side reached end of file */
	bool in_pollable;   /* in_fd works with epoll (not a regular file) */
	bool in_watching;
	bool out_pollable, out_watching;
	/* A chain taken from the guest whose bytes the fd has not all taken
	 * yet: the port takes no other chain before it is done. */
	bool out_busy;
	bool out_ending;    /* the guest closed the port: end after out_busy */
	size_t out_done;
	uint32_t out_generation; /* of the queue when the chain was taken */
	struct virtq_chain out_chain;
	struct event_source in_source, out_source;
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
	struct virtio_console_port *ports;
	int copy_fd; /* virtio_console_copy_output(), or -1 */
	bool copy_socket;
	size_t copy_chunk;
	/* Control messages waiting for a guest buffer. */
	struct virtio_console_ctrl *pending;
	unsigned npending, max_pending;
	struct virtq_chain chain; /* scratch, used under the device lock */
	bool input_held; /* virtio_console_hold_input() */
};

/* Queues of `queue_size` entries (the guest keeps that many receive
 * buffers of a page per port). The fds are not taken: the device works on
 * copies of its own (an output that is a pipe, FIFO or terminal is opened
 * anew, non-blocking, through /proc/self/fd when it can be), so the caller
 * may close its fds after this. */
int virtio_console_init(struct virtio_console *c, struct machine *m, struct event_loop *loop,
			const struct virtio_console_port_config *ports, int nports,
			uint16_t queue_size, uint64_t base, uint32_t irq, nook_error **err);
void virtio_console_destroy(struct virtio_console *c);

/* The ports with copy_output also write what the guest sends to a copy of
 * `fd`, in the order the device takes it from the guest; bytes the copy
 * cannot take at once are dropped from the copy (never from the port). */
int virtio_console_copy_output(struct virtio_console *c, int fd, nook_error **err);

/* Writes out whatever the guest has queued on its output ports; for the
 * end of the VM, after the vCPUs and the I/O thread have stopped. Waits
 * for slow fds, but drops a port's output once its fd has taken nothing
 * for VIRTIO_CONSOLE_DRAIN_STALL_MS. */
void virtio_console_drain(struct virtio_console *c);

/* Input from the host fds waits until released: a snapshot taken before
 * must not hold the state of one run's input (say, the end of a snapshot-
 * making run's empty stdin, which the guest would then see as a closed
 * port in every restored run). Release picks up the input waiting, as the
 * guest's own notifications would have (after a restore, too). */
void virtio_console_hold_input(struct virtio_console *c);
void virtio_console_release_input(struct virtio_console *c);

#endif
