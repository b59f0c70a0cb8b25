#include "devices/virtio/console.h"

#include <errno.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define CTRL_RX 2 /* host -> guest control messages */
#define CTRL_TX 3 /* guest -> host control messages */
#define QUEUE_SIZE 256

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
	if (c->npending == sizeof(c->pending) / sizeof(c->pending[0]))
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

/* Moves host input into the guest's receive buffers while both last. */
static void port_fill_from_host(struct virtio_console_port *p)
{
	struct virtio_console *c = p->console;
	int index = (int)(p - c->ports);
	struct virtq *q = &c->mmio.queues[port_rx_queue(index)];
	bool pushed = false;
	/* The guest driver discards data that arrives on a port nobody has
	 * open, so input waits for the guest to open it. */
	while (p->guest_open && !p->in_eof && virtq_has_available(q)) {
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
		queue_ctrl(c, (uint32_t)index, VIRTIO_CONSOLE_PORT_OPEN, 0);
		send_pending_ctrl(c);
	}
	if (pushed)
		virtio_mmio_notify_used(&c->mmio, q);
	watch_input(p, p->guest_open && !p->in_eof && virtq_has_available(q));
}

static void on_input(void *opaque, uint32_t events)
{
	struct virtio_console_port *p = opaque;
	pthread_mutex_lock(&p->console->mmio.lock);
	port_fill_from_host(p);
	pthread_mutex_unlock(&p->console->mmio.lock);
}

static void write_all(int fd, const struct iovec *iov, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const char *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;
		while (left) {
			ssize_t w = write(fd, p, left);
			if (w < 0 && errno == EAGAIN) {
				struct pollfd pfd = {.fd = fd, .events = POLLOUT};
				poll(&pfd, 1, -1);
				continue;
			}
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return; /* the reader is gone: drop the output */
			p += w;
			left -= (size_t)w;
		}
	}
}

static void port_flush_to_host(struct virtio_console *c, int index)
{
	struct virtio_console_port *p = &c->ports[index];
	struct virtq *q = &c->mmio.queues[port_tx_queue(index)];
	bool pushed = false;
	int r;
	while ((r = virtq_pop(q, &c->chain)) > 0) {
		if (p->out_fd >= 0)
			write_all(p->out_fd, c->chain.out, c->chain.nout);
		virtq_push(q, c->chain.head, 0);
		pushed = true;
	}
	if (r < 0)
		virtio_mmio_fail(&c->mmio);
	if (pushed)
		virtio_mmio_notify_used(&c->mmio, q);
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
	case VIRTIO_CONSOLE_PORT_OPEN:
		if (m->id < (uint32_t)c->nports)
			c->ports[m->id].guest_open = m->value == 1;
		break;
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
			if (virtq_chain_read(&c->chain, 0, &m, sizeof(m)) == sizeof(m))
				handle_ctrl_message(c, &m);
			virtq_push(q, c->chain.head, 0);
		}
		if (r < 0)
			virtio_mmio_fail(dev);
		virtio_mmio_notify_used(dev, q);
		send_pending_ctrl(c);
		for (int i = 0; i < c->nports; i++)
			if (c->ports[i].in_fd >= 0)
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
		port_flush_to_host(c, port);
	else if (c->ports[port].in_fd >= 0)
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
		c->ports[i].guest_ready = false;
		c->ports[i].guest_open = false;
		watch_input(&c->ports[i], false);
	}
}

/* The guest-visible part of the ports, in the snapshot file's layout. The
 * host side (the fds, end of input) belongs to the run, not the guest. */
struct console_port_state {
	uint8_t guest_ready, guest_open;
};

struct console_state {
	uint32_t nports, npending;
	struct console_port_state ports[VIRTIO_CONSOLE_MAX_PORTS];
	struct virtio_console_ctrl pending[4 * VIRTIO_CONSOLE_MAX_PORTS + 4];
};

static int console_save(struct virtio_mmio_device *dev, struct bytes *out)
{
	struct virtio_console *c = dev->opaque;
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
	if (st.nports != (uint32_t)c->nports || st.npending > sizeof(st.pending) / sizeof(st.pending[0]))
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
	.queue_size = QUEUE_SIZE,
	.config_size = sizeof(struct virtio_console_config),
	.read_config = console_read_config,
	.queue_notify = console_queue_notify,
	.reset = console_reset,
	.save = console_save,
	.restore = console_restore,
};

int virtio_console_init(struct virtio_console *c, struct machine *m, struct event_loop *loop,
			const struct virtio_console_port_config *ports, int nports, uint64_t base,
			uint32_t irq, nook_error **err)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	if (nports < 1 || nports > VIRTIO_CONSOLE_MAX_PORTS)
		return error_set(err, EINVAL, "virtio-console: %d ports (1..%d)", nports,
				      VIRTIO_CONSOLE_MAX_PORTS);
	c->nports = nports;
	for (int i = 0; i < nports; i++) {
		struct virtio_console_port *p = &c->ports[i];
		snprintf(p->name, sizeof(p->name), "%s", ports[i].name ? ports[i].name : "");
		p->in_fd = ports[i].in_fd;
		p->out_fd = ports[i].out_fd;
		p->console = c;
		p->in_source = (struct event_source){.fd = p->in_fd, .fn = on_input, .opaque = p};
		if (p->in_fd >= 0) {
			/* Regular files cannot be polled and are always readable. */
			p->in_pollable = event_loop_add(loop, &p->in_source, 0) == 0;
			if (!p->in_pollable && errno != EPERM)
				return error_set(err, errno, "virtio-console port %s: %s", p->name,
						      strerror(errno));
		}
	}
	/* The ops table is per device because the queue count varies. */
	c->ops = console_ops;
	c->ops.num_queues = (uint16_t)(2 * (nports + 1));
	return virtio_mmio_init(&c->mmio, m, loop, &c->ops, c, base, irq, err);
}

void virtio_console_destroy(struct virtio_console *c)
{
	for (int i = 0; i < c->nports; i++)
		if (c->ports[i].in_pollable)
			event_loop_remove(c->loop, &c->ports[i].in_source);
	if (c->mmio.ops)
		virtio_mmio_destroy(&c->mmio, c->loop);
	c->mmio.ops = NULL;
}

void virtio_console_drain(struct virtio_console *c)
{
	if (!c->mmio.ops)
		return;
	pthread_mutex_lock(&c->mmio.lock);
	for (int i = 0; i < c->nports; i++)
		if (c->mmio.queues[port_tx_queue(i)].ready)
			port_flush_to_host(c, i);
	pthread_mutex_unlock(&c->mmio.lock);
}

void virtio_console_resume(struct virtio_console *c)
{
	pthread_mutex_lock(&c->mmio.lock);
	send_pending_ctrl(c);
	for (int i = 0; i < c->nports; i++)
		if (c->ports[i].in_fd >= 0)
			port_fill_from_host(&c->ports[i]);
	pthread_mutex_unlock(&c->mmio.lock);
}
