#include "devices/virtio/console.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/clock.h"

#define CTRL_RX 2 /* host -> guest control messages */
#define CTRL_TX 3 /* guest -> host control messages */
/* The snapshot layout (struct console_state) has room for this many
 * ports; only the implicit console, which has fewer, is ever saved. */
#define STATE_PORTS 7

static uint16_t port_rx_queue(int port)
{
	return port == 0 ? 0 : (uint16_t)(2 * (port + 1));
}

static uint16_t port_tx_queue(int port)
{
	return (uint16_t)(port_rx_queue(port) + 1);
}

/* Which port a data queue belongs to; -1 for the control queues. */
static int queue_port(uint16_t q)
{
	if (q == CTRL_RX || q == CTRL_TX)
		return -1;
	return q < 2 ? 0 : q / 2 - 1;
}

static int port_index(const struct virtio_console_port *p)
{
	return (int)(p - p->console->ports);
}

static void send_pending_ctrl(struct virtio_console *c)
{
	struct virtq *q = &c->mmio.queues[CTRL_RX];
	unsigned sent = 0;
	while (sent < c->npending) {
		int r = virtq_pop(q, &c->chain);
		if (r < 0)
			virtio_mmio_fail(&c->mmio);
		if (r <= 0)
			break;
		const struct virtio_console_ctrl *m = &c->pending[sent];
		struct virtio_console_control msg = {.id = m->id, .event = m->event, .value = m->value};
		size_t n = virtq_chain_write(&c->chain, 0, &msg, sizeof(msg));
		if (m->event == VIRTIO_CONSOLE_PORT_NAME && n == sizeof(msg)) {
			const char *name = c->ports[m->id].name;
			n += virtq_chain_write(&c->chain, n, name, strlen(name));
		}
		virtq_push(q, c->chain.head, (uint32_t)n);
		sent++;
	}
	if (sent) {
		memmove(c->pending, c->pending + sent, (c->npending - sent) * sizeof(c->pending[0]));
		c->npending -= sent;
		virtio_mmio_notify_used(&c->mmio, q);
	}
}

static void queue_ctrl(struct virtio_console *c, uint32_t id, uint16_t event, uint16_t value)
{
	if (c->npending == c->max_pending)
		return; /* only a guest repeating itself can fill this */
	c->pending[c->npending++] = (struct virtio_console_ctrl){id, event, value};
}

static void watch_input(struct virtio_console_port *p, bool on)
{
	if (!p->in_pollable || p->in_watching == on || p->in_fd < 0)
		return;
	if (event_loop_modify(p->console->loop, &p->in_source, on ? EPOLLIN : 0) == 0)
		p->in_watching = on;
}

static void watch_output(struct virtio_console_port *p, bool on)
{
	if (!p->out_pollable || p->out_watching == on || p->out_fd < 0)
		return;
	if (event_loop_modify(p->console->loop, &p->out_source, on ? EPOLLOUT : 0) == 0)
		p->out_watching = on;
}

/* Moves host input into the guest's receive buffers while both last. */
static void port_fill_from_host(struct virtio_console_port *p)
{
	struct virtio_console *c = p->console;
	struct virtq *q = &c->mmio.queues[port_rx_queue(port_index(p))];
	bool pushed = false;
	/* The guest driver discards data that arrives on a port nobody has
	 * open, so input waits for the guest to open it, and for the run to
	 * begin (virtio_console_hold_input). */
	bool take = !c->input_held && p->guest_open;
	while (p->in_fd >= 0 && take && !p->in_eof && virtq_has_available(q)) {
		if (p->in_pollable) {
			struct pollfd pfd = {.fd = p->in_fd, .events = POLLIN};
			if (poll(&pfd, 1, 0) <= 0)
				break;
		}
		if (virtq_pop(q, &c->chain) <= 0)
			break;
		ssize_t n;
		do
			n = readv(p->in_fd, c->chain.in, (int)c->chain.nin);
		while (n < 0 && errno == EINTR);
		if (n > 0) {
			virtq_push(q, c->chain.head, (uint32_t)n);
			pushed = true;
			continue;
		}
		/* End of input (or an error, which ends it too). The chain is
		 * kept back: the guest reads EOF once the port is closed. */
		p->in_eof = true;
		queue_ctrl(c, (uint32_t)port_index(p), VIRTIO_CONSOLE_PORT_OPEN, 0);
		send_pending_ctrl(c);
	}
	if (pushed)
		virtio_mmio_notify_used(&c->mmio, q);
	watch_input(p, take && !p->in_eof && virtq_has_available(q));
}

static void on_input(void *opaque, uint32_t events)
{
	struct virtio_console_port *p = opaque;
	pthread_mutex_lock(&p->console->mmio.lock);
	port_fill_from_host(p);
	pthread_mutex_unlock(&p->console->mmio.lock);
}

/* Writes what `fd` takes at once: the count, -EAGAIN when it takes nothing
 * now, or another negative errno (its reader is gone). A blocking fd is
 * asked first and given at most `chunk` bytes (0: a non-blocking fd), what
 * a pipe with room (PIPE_BUF) or a terminal that polls writable (a little)
 * takes without waiting. */
static ssize_t write_some(int fd, bool socket, size_t chunk, const void *buf, size_t len)
{
	if (chunk) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		if (poll(&pfd, 1, 0) == 0)
			return -EAGAIN;
		if (len > chunk)
			len = chunk;
	}
	ssize_t w;
	do
		w = socket ? send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) : write(fd, buf, len);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return w > 0 ? w : -EIO;
}

/* The guest's chain into the copy fd, as far as it takes it at once. */
static void copy_chain(struct virtio_console *c, const struct virtq_chain *ch)
{
	for (unsigned i = 0; c->copy_fd >= 0 && i < ch->nout; i++) {
		const char *b = ch->out[i].iov_base;
		size_t left = ch->out[i].iov_len;
		while (left) {
			ssize_t w = write_some(c->copy_fd, c->copy_socket, c->copy_chunk, b, left);
			if (w < 0)
				return; /* the copy loses it, never the port */
			b += w;
			left -= (size_t)w;
		}
	}
}

/* Writes the port's chain on from out_done: true when it is all written
 * (or dropped: the reader is gone), false when the fd is full. */
static bool port_write_chain(struct virtio_console_port *p)
{
	const struct virtq_chain *ch = &p->out_chain;
	size_t start = 0;
	for (unsigned i = 0; i < ch->nout; i++) {
		size_t len = ch->out[i].iov_len;
		if (p->out_done >= start + len) {
			start += len;
			continue;
		}
		while (p->out_done < start + len) {
			size_t skip = p->out_done - start;
			ssize_t w = write_some(p->out_fd, p->out_socket, p->out_chunk,
					       (const char *)ch->out[i].iov_base + skip, len - skip);
			if (w == -EAGAIN)
				return false;
			if (w < 0)
				return true;
			p->out_done += (size_t)w;
		}
		start += len;
	}
	return true;
}

/* The host side of the port's output ends: its reader sees end of file
 * (a socket is shut down for writing; anything else, the device's own
 * copy of the fd is closed). Later output from the guest is dropped. */
static void port_end_output(struct virtio_console_port *p)
{
	p->out_ending = false;
	if (p->out_fd < 0)
		return;
	if (p->out_pollable)
		event_loop_remove(p->console->loop, &p->out_source);
	if (p->out_socket)
		shutdown(p->out_fd, SHUT_WR);
	close(p->out_fd);
	p->out_fd = -1;
	p->out_pollable = p->out_watching = false;
}

/* Takes the guest's output chains and writes them to the host fd until
 * the fd is full; the chain in progress then waits for EPOLLOUT, and the
 * guest, whose queue fills up, waits in its write. */
static void port_flush_to_host(struct virtio_console_port *p)
{
	struct virtio_console *c = p->console;
	struct virtq *q = &c->mmio.queues[port_tx_queue(port_index(p))];
	bool pushed = false;
	for (;;) {
		if (!p->out_busy) {
			int r = virtq_pop(q, &p->out_chain);
			if (r < 0)
				virtio_mmio_fail(&c->mmio);
			if (r <= 0)
				break;
			p->out_busy = true;
			p->out_done = 0;
			p->out_generation = q->generation;
			if (p->copy_output)
				copy_chain(c, &p->out_chain);
		}
		if (p->out_fd >= 0 && !port_write_chain(p))
			break;
		/* Not into rings the guest set up anew meanwhile. */
		if (p->out_generation == q->generation) {
			virtq_push(q, p->out_chain.head, 0);
			pushed = true;
		}
		p->out_busy = false;
	}
	if (pushed)
		virtio_mmio_notify_used(&c->mmio, q);
	watch_output(p, p->out_busy);
	if (p->out_ending && !p->out_busy)
		port_end_output(p);
}

static void on_output(void *opaque, uint32_t events)
{
	struct virtio_console_port *p = opaque;
	pthread_mutex_lock(&p->console->mmio.lock);
	port_flush_to_host(p);
	pthread_mutex_unlock(&p->console->mmio.lock);
}

static void handle_ctrl_message(struct virtio_console *c, const struct virtio_console_control *m)
{
	switch (m->event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		if (m->value != 1)
			return;
		for (int i = 0; i < c->nports; i++)
			queue_ctrl(c, (uint32_t)i, VIRTIO_CONSOLE_PORT_ADD, 0);
		break;
	case VIRTIO_CONSOLE_PORT_READY:
		if (m->id >= (uint32_t)c->nports || m->value != 1)
			return;
		c->ports[m->id].guest_ready = true;
		queue_ctrl(c, m->id, VIRTIO_CONSOLE_PORT_NAME, 0);
		queue_ctrl(c, m->id, VIRTIO_CONSOLE_PORT_OPEN, 1);
		if (c->ports[m->id].in_eof)
			queue_ctrl(c, m->id, VIRTIO_CONSOLE_PORT_OPEN, 0);
		break;
	case VIRTIO_CONSOLE_PORT_OPEN: {
		if (m->id >= (uint32_t)c->nports)
			return;
		struct virtio_console_port *p = &c->ports[m->id];
		bool was_open = p->guest_open;
		p->guest_open = m->value == 1;
		/* What the guest wrote before closing comes first. */
		if (was_open && !p->guest_open && p->end_on_close &&
		    c->mmio.queues[port_tx_queue((int)m->id)].ready) {
			p->out_ending = true;
			port_flush_to_host(p);
		}
		break;
	}
	default:
		break;
	}
}

static void console_queue_notify(struct virtio_mmio_device *dev, uint16_t index)
{
	struct virtio_console *c = dev->opaque;
	if (index == CTRL_TX) {
		struct virtq *q = &dev->queues[CTRL_TX];
		int r;
		while ((r = virtq_pop(q, &c->chain)) > 0) {
			struct virtio_console_control m;
			uint16_t head = c->chain.head;
			if (virtq_chain_read(&c->chain, 0, &m, sizeof(m)) == sizeof(m))
				handle_ctrl_message(c, &m);
			virtq_push(q, head, 0);
		}
		if (r < 0)
			virtio_mmio_fail(dev);
		virtio_mmio_notify_used(dev, q);
		send_pending_ctrl(c);
		for (int i = 0; i < c->nports; i++)
			port_fill_from_host(&c->ports[i]);
		return;
	}
	if (index == CTRL_RX) {
		send_pending_ctrl(c);
		return;
	}
	int port = queue_port(index);
	if (port >= c->nports)
		return;
	if (index == port_tx_queue(port))
		port_flush_to_host(&c->ports[port]);
	else
		port_fill_from_host(&c->ports[port]);
}

static void console_read_config(struct virtio_mmio_device *dev, uint32_t offset, uint8_t *data,
				uint32_t len)
{
	struct virtio_console *c = dev->opaque;
	struct virtio_console_config cfg = {.max_nr_ports = (uint32_t)c->nports};
	memcpy(data, (uint8_t *)&cfg + offset, len);
}

static void console_reset(struct virtio_mmio_device *dev)
{
	struct virtio_console *c = dev->opaque;
	c->npending = 0;
	for (int i = 0; i < c->nports; i++) {
		struct virtio_console_port *p = &c->ports[i];
		p->guest_ready = false;
		p->guest_open = false;
		/* A chain of the old rings is the guest's to forget. */
		p->out_busy = false;
		watch_input(p, false);
		watch_output(p, false);
	}
}

/* The guest-visible part of the ports, in the snapshot file's layout
 * (version 1). The host side (the fds, end of input, output in progress)
 * belongs to the run, not the guest: a chain half written at the save is
 * not possible, as the ready point comes before any output port is used. */
struct console_port_state {
	uint8_t guest_ready, guest_open;
};

struct console_state {
	uint32_t nports, npending;
	struct console_port_state ports[STATE_PORTS];
	struct virtio_console_ctrl pending[4 * STATE_PORTS + 4];
};

static int console_save(struct virtio_mmio_device *dev, struct bytes *out)
{
	struct virtio_console *c = dev->opaque;
	if (c->nports > STATE_PORTS)
		return -ENOTSUP;
	struct console_state st = {.nports = (uint32_t)c->nports, .npending = c->npending};
	for (int i = 0; i < c->nports; i++)
		st.ports[i] = (struct console_port_state){c->ports[i].guest_ready,
							  c->ports[i].guest_open};
	memcpy(st.pending, c->pending, c->npending * sizeof(c->pending[0]));
	return bytes_append(out, &st, sizeof(st));
}

static int console_restore(struct virtio_mmio_device *dev, const void *state, size_t len)
{
	struct virtio_console *c = dev->opaque;
	struct console_state st;
	if (len != sizeof(st))
		return -EINVAL;
	memcpy(&st, state, sizeof(st));
	if (st.nports != (uint32_t)c->nports || st.npending > c->max_pending)
		return -EINVAL;
	for (uint32_t i = 0; i < st.npending; i++)
		if (st.pending[i].id >= st.nports)
			return -EINVAL;
	for (int i = 0; i < c->nports; i++) {
		c->ports[i].guest_ready = st.ports[i].guest_ready;
		c->ports[i].guest_open = st.ports[i].guest_open;
	}
	c->npending = st.npending;
	memcpy(c->pending, st.pending, st.npending * sizeof(st.pending[0]));
	return 0;
}

static const struct virtio_device_ops console_ops = {
	.name = "console",
	.device_id = VIRTIO_ID_CONSOLE,
	.features = 1ULL << VIRTIO_CONSOLE_F_MULTIPORT,
	.num_queues = 0, /* set per device: depends on the port count */
	.queue_size = 0, /* likewise */
	.config_size = sizeof(struct virtio_console_config),
	.read_config = console_read_config,
	.queue_notify = console_queue_notify,
	.reset = console_reset,
	.save = console_save,
	.restore = console_restore,
};

/* The device's own copy of an output fd, which it can write without
 * blocking: regular files (which never make a writer wait for a reader)
 * and sockets (send with MSG_DONTWAIT) as they are; a pipe, FIFO or
 * terminal opened anew with O_NONBLOCK (never set on the caller's open
 * file, which others share), or failing that (no /proc, Landlock) written
 * in chunks (write_some). */
static int open_output(int fd, bool *socket, size_t *chunk)
{
	struct stat st;
	*socket = false;
	*chunk = 0;
	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode) && !S_ISSOCK(st.st_mode)) {
		char path[40];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		int own = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (own >= 0)
			return own;
		*chunk = S_ISFIFO(st.st_mode) ? PIPE_BUF : 256;
	}
	*socket = S_ISSOCK(st.st_mode);
	return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

static int init_port(struct virtio_console *c, struct virtio_console_port *p,
		     const struct virtio_console_port_config *pc, nook_error **err)
{
	snprintf(p->name, sizeof(p->name), "%s", pc->name ? pc->name : "");
	p->copy_output = pc->copy_output;
	p->end_on_close = pc->end_on_close;
	if (pc->in_fd >= 0 && (p->in_fd = fcntl(pc->in_fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return error_set(err, errno, "virtio-console port %s: input fd %d: %s", p->name,
				 pc->in_fd, strerror(errno));
	if (pc->out_fd >= 0 &&
	    (p->out_fd = open_output(pc->out_fd, &p->out_socket, &p->out_chunk)) < 0)
		return error_set(err, errno, "virtio-console port %s: output fd %d: %s", p->name,
				 pc->out_fd, strerror(errno));
	p->in_source = (struct event_source){.fd = p->in_fd, .fn = on_input, .opaque = p};
	p->out_source = (struct event_source){.fd = p->out_fd, .fn = on_output, .opaque = p};
	/* Regular files cannot be polled: they are always readable and
	 * writable. */
	if (p->in_fd >= 0) {
		p->in_pollable = event_loop_add(c->loop, &p->in_source, 0) == 0;
		if (!p->in_pollable && errno != EPERM)
			return error_set(err, errno, "virtio-console port %s: %s", p->name,
					 strerror(errno));
	}
	if (p->out_fd >= 0) {
		p->out_pollable = event_loop_add(c->loop, &p->out_source, 0) == 0;
		if (!p->out_pollable && errno != EPERM)
			return error_set(err, errno, "virtio-console port %s: %s", p->name,
					 strerror(errno));
	}
	return 0;
}

int virtio_console_init(struct virtio_console *c, struct machine *m, struct event_loop *loop,
			const struct virtio_console_port_config *ports, int nports,
			uint16_t queue_size, uint64_t base, uint32_t irq, nook_error **err)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->copy_fd = -1;
	if (nports < 1 || nports > VIRTIO_CONSOLE_MAX_PORTS)
		return error_set(err, EINVAL, "virtio-console: %d ports (1..%d)", nports,
				      VIRTIO_CONSOLE_MAX_PORTS);
	c->max_pending = 4 * (unsigned)nports + 4;
	c->ports = calloc((size_t)nports, sizeof(*c->ports));
	c->pending = calloc(c->max_pending, sizeof(*c->pending));
	if (!c->ports || !c->pending)
		return error_set(err, ENOMEM, "virtio-console: out of memory");
	for (int i = 0; i < nports; i++) {
		struct virtio_console_port *p = &c->ports[i];
		p->console = c;
		p->in_fd = p->out_fd = -1;
		c->nports = i + 1;
		int r = init_port(c, p, &ports[i], err);
		if (r < 0)
			return r;
	}
	/* The ops table is per device because the queues vary. */
	c->ops = console_ops;
	c->ops.num_queues = (uint16_t)(2 * (nports + 1));
	c->ops.queue_size = queue_size;
	return virtio_mmio_init(&c->mmio, m, loop, &c->ops, c, base, irq, err);
}

int virtio_console_copy_output(struct virtio_console *c, int fd, nook_error **err)
{
	c->copy_fd = open_output(fd, &c->copy_socket, &c->copy_chunk);
	if (c->copy_fd < 0)
		return error_set(err, errno, "virtio-console: copy fd %d: %s", fd, strerror(errno));
	return 0;
}

void virtio_console_destroy(struct virtio_console *c)
{
	for (int i = 0; i < c->nports; i++) {
		struct virtio_console_port *p = &c->ports[i];
		if (p->in_pollable)
			event_loop_remove(c->loop, &p->in_source);
		if (p->out_pollable)
			event_loop_remove(c->loop, &p->out_source);
		if (p->in_fd >= 0)
			close(p->in_fd);
		if (p->out_fd >= 0)
			close(p->out_fd);
	}
	if (c->copy_fd >= 0)
		close(c->copy_fd);
	if (c->mmio.ops)
		virtio_mmio_destroy(&c->mmio, c->loop);
	c->mmio.ops = NULL;
	free(c->ports);
	free(c->pending);
	c->ports = NULL;
	c->pending = NULL;
	c->nports = 0;
	c->copy_fd = -1;
}

void virtio_console_drain(struct virtio_console *c)
{
	if (!c->mmio.ops)
		return;
	pthread_mutex_lock(&c->mmio.lock);
	struct pollfd *pfds = calloc((size_t)c->nports, sizeof(*pfds));
	uint64_t last_progress = monotonic_ns();
	for (;;) {
		int n = 0;
		bool progress = false;
		for (int i = 0; i < c->nports; i++) {
			struct virtio_console_port *p = &c->ports[i];
			struct virtq *q = &c->mmio.queues[port_tx_queue(i)];
			if (!q->ready)
				continue;
			size_t done = p->out_done;
			uint16_t used = q->used_idx;
			port_flush_to_host(p);
			progress |= p->out_done != done || q->used_idx != used;
			if (p->out_busy && pfds)
				pfds[n++] = (struct pollfd){.fd = p->out_fd, .events = POLLOUT};
		}
		if (n == 0)
			break;
		uint64_t now = monotonic_ns();
		if (progress)
			last_progress = now;
		uint64_t waited_ms = (now - last_progress) / 1000000;
		if (waited_ms >= VIRTIO_CONSOLE_DRAIN_STALL_MS) {
			/* Nobody reads: what is left is dropped. */
			for (int i = 0; i < c->nports; i++)
				if (c->ports[i].out_busy) {
					port_end_output(&c->ports[i]);
					port_flush_to_host(&c->ports[i]);
				}
			break;
		}
		poll(pfds, (nfds_t)n, (int)(VIRTIO_CONSOLE_DRAIN_STALL_MS - waited_ms));
	}
	free(pfds);
	pthread_mutex_unlock(&c->mmio.lock);
}

void virtio_console_hold_input(struct virtio_console *c)
{
	pthread_mutex_lock(&c->mmio.lock);
	c->input_held = true;
	pthread_mutex_unlock(&c->mmio.lock);
}

void virtio_console_release_input(struct virtio_console *c)
{
	pthread_mutex_lock(&c->mmio.lock);
	c->input_held = false;
	send_pending_ctrl(c);
	for (int i = 0; i < c->nports; i++)
		port_fill_from_host(&c->ports[i]);
	pthread_mutex_unlock(&c->mmio.lock);
}
