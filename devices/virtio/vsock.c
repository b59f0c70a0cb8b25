#include "devices/virtio/vsock.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/iov.h"

#define RX_QUEUE 0
#define TX_QUEUE 1
#define EVENT_QUEUE 2
#define HDR_SIZE sizeof(struct virtio_vsock_hdr)
/* The most payload we put in one packet (Linux's own limit). */
#define MAX_PAYLOAD (64 * 1024)
/* The guest hears of our fwd_cnt once it moved by this much. */
#define CREDIT_UPDATE_STEP (VIRTIO_VSOCK_BUF_ALLOC / 4)

static bool driver_ok(const struct virtio_vsock *v)
{
	return (v->mmio.status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(v->mmio.status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* What the guest still lets us send on `c`. */
static uint32_t guest_credit(const struct virtio_vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void note_peer_credit(struct virtio_vsock_conn *c, const struct virtio_vsock_hdr *h)
{
	c->peer_buf_alloc = le32toh(h->buf_alloc);
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
}

static struct virtio_vsock_conn *find_conn(struct virtio_vsock *v, uint32_t guest_port,
					   uint32_t host_port)
{
	for (unsigned i = 0; v->nconns && i < VIRTIO_VSOCK_MAX_CONNS; i++) {
		struct virtio_vsock_conn *c = &v->conns[i];
		if ((c->state == VSOCK_CONN_REQUESTED || c->state == VSOCK_CONN_ESTABLISHED) &&
		    c->guest_port == guest_port && c->host_port == host_port)
			return c;
	}
	return NULL;
}

static void on_conn_event(void *opaque, uint32_t events);

/* A free slot holding `fd`, watched edge-triggered; NULL (fd closed) at
 * the cap or when the loop refuses it. */
static struct virtio_vsock_conn *conn_new(struct virtio_vsock *v, int fd, uint32_t guest_port,
					  uint32_t host_port)
{
	struct virtio_vsock_conn *c = NULL;
	for (unsigned i = 0; v->nconns < VIRTIO_VSOCK_MAX_CONNS && i < VIRTIO_VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state == VSOCK_CONN_FREE) {
			c = &v->conns[i];
			break;
		}
	if (!c) {
		close(fd);
		return NULL;
	}
	*c = (struct virtio_vsock_conn){.dev = v, .guest_port = guest_port, .host_port = host_port,
					.source = {.fd = fd, .fn = on_conn_event, .opaque = c}};
	if (event_loop_add(v->loop, &c->source, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
		close(fd);
		c->source.fd = -1;
		return NULL;
	}
	v->nconns++;
	return c;
}

static void conn_close_host(struct virtio_vsock_conn *c)
{
	if (c->source.fd >= 0) {
		event_loop_remove(c->dev->loop, &c->source);
		close(c->source.fd);
		c->source.fd = -1;
	}
	free(c->pending);
	c->pending = NULL;
	c->pending_len = c->pending_off = 0;
}

static void conn_free(struct virtio_vsock_conn *c)
{
	conn_close_host(c);
	c->state = VSOCK_CONN_FREE;
	c->dev->nconns--;
}

/* Owes the guest an RST answering `h` (ports swapped). Without rx buffers
 * the backlog is bounded: past it the guest's own timeout cleans up. */
static void queue_rst(struct virtio_vsock *v, uint32_t guest_port, uint32_t host_port,
		      uint16_t type)
{
	if (v->nrst == VIRTIO_VSOCK_RST_BACKLOG) {
		v->stats.dropped++;
		return;
	}
	v->rst_backlog[v->nrst++] = (struct virtio_vsock_hdr){
		.src_cid = htole64(VIRTIO_VSOCK_HOST_CID), .dst_cid = htole64(VIRTIO_VSOCK_GUEST_CID),
		.src_port = htole32(host_port), .dst_port = htole32(guest_port),
		.type = htole16(type), .op = htole16(VIRTIO_VSOCK_OP_RST)};
}

/* Ends `c` with an RST to the guest. With `drain`, what the guest sent
 * still reaches the host socket before it is closed. */
static void conn_reset(struct virtio_vsock_conn *c, bool drain)
{
	queue_rst(c->dev, c->guest_port, c->host_port, VIRTIO_VSOCK_TYPE_STREAM);
	if (drain && c->pending_len && c->source.fd >= 0) {
		c->state = VSOCK_CONN_DRAINING;
		c->owe = 0;
	} else {
		conn_free(c);
	}
}

/* The guest's packet `h` gets RST; its connection, if any, ends. */
static void refuse(struct virtio_vsock *v, const struct virtio_vsock_hdr *h)
{
	uint32_t guest_port = le32toh(h->src_port), host_port = le32toh(h->dst_port);
	struct virtio_vsock_conn *c = find_conn(v, guest_port, host_port);
	if (c)
		conn_reset(c, false);
	else
		queue_rst(v, guest_port, host_port, le16toh(h->type));
}

/* Whether the guest should hear of our fwd_cnt now. */
static void note_forwarded(struct virtio_vsock_conn *c, size_t n)
{
	c->fwd_cnt += (uint32_t)n;
	if (c->fwd_cnt - c->fwd_cnt_sent >= CREDIT_UPDATE_STEP)
		c->owe |= VSOCK_OWE_CREDIT;
}

/* Moves pending guest bytes to the host socket; false when the
 * connection ended. */
static bool flush_pending(struct virtio_vsock_conn *c)
{
	if (!c->pending_len)
		return true;
	while (c->pending_len) {
		ssize_t n = send(c->source.fd, c->pending + c->pending_off, c->pending_len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0) {
			if (c->state == VSOCK_CONN_DRAINING)
				conn_free(c);
			else
				conn_reset(c, false);
			return false;
		}
		c->pending_off += (size_t)n;
		c->pending_len -= (size_t)n;
		note_forwarded(c, (size_t)n);
	}
	free(c->pending);
	c->pending = NULL;
	c->pending_off = 0;
	if (c->state == VSOCK_CONN_DRAINING) {
		conn_free(c);
		return false;
	}
	if (c->guest_no_send)
		shutdown(c->source.fd, SHUT_WR);
	return true;
}

/* The payload of an RW packet, `len` bytes of the chain after its header. */
static void forward_to_host(struct virtio_vsock_conn *c, const struct virtq_chain *chain,
			    uint32_t len)
{
	size_t done = 0;
	if (!c->pending_len) {
		struct iovec iov[VIRTQ_MAX_SIZE];
		int n = iov_slice(chain->out, chain->nout, HDR_SIZE, len, iov, VIRTQ_MAX_SIZE);
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w;
		do
			w = sendmsg(c->source.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_reset(c, false);
			return;
		}
		done = w < 0 ? 0 : (size_t)w;
		note_forwarded(c, done);
	}
	if (done == len)
		return;
	/* Credit bounds what waits: rx_cnt - fwd_cnt <= VIRTIO_VSOCK_BUF_ALLOC. */
	if (!c->pending && !(c->pending = malloc(VIRTIO_VSOCK_BUF_ALLOC))) {
		conn_reset(c, false);
		return;
	}
	if (c->pending_off + c->pending_len + (len - done) > VIRTIO_VSOCK_BUF_ALLOC) {
		memmove(c->pending, c->pending + c->pending_off, c->pending_len);
		c->pending_off = 0;
	}
	c->pending_len +=
		virtq_chain_read(chain, HDR_SIZE + done, c->pending + c->pending_off + c->pending_len,
				 len - done);
}

static void on_shutdown(struct virtio_vsock_conn *c, uint32_t flags)
{
	c->guest_no_send |= (flags & VIRTIO_VSOCK_SHUTDOWN_SEND) != 0;
	c->guest_no_recv |= (flags & VIRTIO_VSOCK_SHUTDOWN_RCV) != 0;
	if (c->guest_no_send && c->guest_no_recv) {
		/* The guest closed: it waits for our RST. */
		conn_reset(c, true);
		return;
	}
	if (c->guest_no_send && !c->pending_len)
		shutdown(c->source.fd, SHUT_WR);
}

/* A guest REQUEST for host port `h->dst_port`. */
static void open_from_guest(struct virtio_vsock *v, const struct virtio_vsock_hdr *h)
{
	uint32_t guest_port = le32toh(h->src_port), host_port = le32toh(h->dst_port);
	int fd = v->host.connect && v->nconns < VIRTIO_VSOCK_MAX_CONNS
			 ? v->host.connect(v->host.opaque, host_port)
			 : -ECONNREFUSED;
	struct virtio_vsock_conn *c = fd >= 0 ? conn_new(v, fd, guest_port, host_port) : NULL;
	if (!c) {
		queue_rst(v, guest_port, host_port, VIRTIO_VSOCK_TYPE_STREAM);
		return;
	}
	note_peer_credit(c, h);
	c->state = VSOCK_CONN_ESTABLISHED;
	c->owe = VSOCK_OWE_RESPONSE;
}

static void on_packet(struct virtio_vsock *v, const struct virtq_chain *chain)
{
	struct virtio_vsock_hdr h;
	if (chain->out_len < HDR_SIZE || virtq_chain_read(chain, 0, &h, HDR_SIZE) != HDR_SIZE ||
	    le64toh(h.src_cid) != VIRTIO_VSOCK_GUEST_CID) {
		/* Nothing to answer to. */
		v->stats.dropped++;
		return;
	}
	uint16_t op = le16toh(h.op);
	uint32_t len = le32toh(h.len);
	struct virtio_vsock_conn *c = find_conn(v, le32toh(h.src_port), le32toh(h.dst_port));
	if (op == VIRTIO_VSOCK_OP_RST) {
		if (c)
			conn_free(c);
		return;
	}
	if (le64toh(h.dst_cid) != VIRTIO_VSOCK_HOST_CID ||
	    le16toh(h.type) != VIRTIO_VSOCK_TYPE_STREAM || len > chain->out_len - HDR_SIZE ||
	    (!c && op != VIRTIO_VSOCK_OP_REQUEST)) {
		refuse(v, &h);
		return;
	}
	if (!c) {
		open_from_guest(v, &h);
		return;
	}
	note_peer_credit(c, &h);
	switch (op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state != VSOCK_CONN_REQUESTED || !v->host.accepted ||
		    v->host.accepted(v->host.opaque, c->source.fd, c->host_port) < 0) {
			conn_reset(c, false);
			break;
		}
		c->state = VSOCK_CONN_ESTABLISHED;
		c->readable = true;
		break;
	case VIRTIO_VSOCK_OP_RW:
		/* Never more than we advertised: the guest knows fwd_cnt_sent. */
		if (c->state != VSOCK_CONN_ESTABLISHED || c->guest_no_send ||
		    (uint64_t)(uint32_t)(c->rx_cnt - c->fwd_cnt_sent) + len >
			    VIRTIO_VSOCK_BUF_ALLOC) {
			conn_reset(c, false);
			break;
		}
		c->rx_cnt += len;
		forward_to_host(c, chain, len);
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break; /* noted above */
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->owe |= VSOCK_OWE_CREDIT;
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (c->state != VSOCK_CONN_ESTABLISHED)
			conn_reset(c, false);
		else
			on_shutdown(c, le32toh(h.flags));
		break;
	default: /* a second REQUEST, an unknown op */
		conn_reset(c, false);
		break;
	}
}

/* An rx chain to fill, held in v->rx_chain: 1, 0 when the guest has none,
 * -EINVAL when it broke the protocol. */
static int rx_take(struct virtio_vsock *v)
{
	struct virtq *q = &v->mmio.queues[RX_QUEUE];
	if (v->rx_held && v->rx_generation == q->generation)
		return 1;
	v->rx_held = false;
	int r = virtq_pop(q, &v->rx_chain);
	if (r <= 0)
		return r;
	/* Receive buffers are device-writable and hold at least a header. */
	if (v->rx_chain.nout || v->rx_chain.in_len < HDR_SIZE)
		return -EINVAL;
	v->rx_held = true;
	v->rx_generation = q->generation;
	return 1;
}

static void rx_put(struct virtio_vsock *v, const struct virtio_vsock_hdr *h, size_t payload)
{
	virtq_chain_write(&v->rx_chain, 0, h, HDR_SIZE);
	virtq_push(&v->mmio.queues[RX_QUEUE], v->rx_chain.head, (uint32_t)(HDR_SIZE + payload));
	v->rx_held = false;
	v->stats.rx_packets++;
}

static struct virtio_vsock_hdr conn_hdr(struct virtio_vsock_conn *c, uint16_t op, uint32_t flags,
					uint32_t len)
{
	c->fwd_cnt_sent = c->fwd_cnt;
	c->owe &= ~VSOCK_OWE_CREDIT; /* every packet carries it */
	return (struct virtio_vsock_hdr){
		.src_cid = htole64(VIRTIO_VSOCK_HOST_CID), .dst_cid = htole64(VIRTIO_VSOCK_GUEST_CID),
		.src_port = htole32(c->host_port), .dst_port = htole32(c->guest_port),
		.len = htole32(len), .type = htole16(VIRTIO_VSOCK_TYPE_STREAM), .op = htole16(op),
		.flags = htole32(flags), .buf_alloc = htole32(VIRTIO_VSOCK_BUF_ALLOC),
		.fwd_cnt = htole32(c->fwd_cnt)};
}

static bool may_read_host(const struct virtio_vsock_conn *c)
{
	return c->state == VSOCK_CONN_ESTABLISHED && c->readable && !c->host_eof &&
	       !c->guest_no_recv && guest_credit(c) > 0;
}

static bool wants_rx(const struct virtio_vsock_conn *c)
{
	return c->state != VSOCK_CONN_FREE && c->state != VSOCK_CONN_DRAINING &&
	       (c->owe || may_read_host(c));
}

/* Host bytes into the held chain: true when it was used. */
static bool rx_data(struct virtio_vsock *v, struct virtio_vsock_conn *c)
{
	size_t room = v->rx_chain.in_len - HDR_SIZE, credit = guest_credit(c);
	if (room > credit)
		room = credit;
	if (room > MAX_PAYLOAD)
		room = MAX_PAYLOAD;
	if (!room)
		return false; /* a buffer with no room past the header */
	struct iovec iov[VIRTQ_MAX_SIZE];
	int n = iov_slice(v->rx_chain.in, v->rx_chain.nin, HDR_SIZE, room, iov, VIRTQ_MAX_SIZE);
	ssize_t got;
	do
		got = readv(c->source.fd, iov, n);
	while (got < 0 && errno == EINTR);
	if (got > 0) {
		struct virtio_vsock_hdr h = conn_hdr(c, VIRTIO_VSOCK_OP_RW, 0, (uint32_t)got);
		c->tx_cnt += (uint32_t)got;
		rx_put(v, &h, (size_t)got);
		return true;
	}
	if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->readable = false;
	} else if (got == 0) {
		c->host_eof = true;
		c->owe |= VSOCK_OWE_SHUTDOWN;
	} else {
		conn_reset(c, false);
	}
	return false;
}

/* Fills the held chain with what `c` owes or has: true when used. */
static bool rx_serve(struct virtio_vsock *v, struct virtio_vsock_conn *c)
{
	struct virtio_vsock_hdr h;
	if (c->owe & VSOCK_OWE_REQUEST) {
		h = conn_hdr(c, VIRTIO_VSOCK_OP_REQUEST, 0, 0);
		c->owe &= ~VSOCK_OWE_REQUEST;
	} else if (c->owe & VSOCK_OWE_RESPONSE) {
		h = conn_hdr(c, VIRTIO_VSOCK_OP_RESPONSE, 0, 0);
		c->owe &= ~VSOCK_OWE_RESPONSE;
		c->readable = true;
	} else if (may_read_host(c) && rx_data(v, c)) {
		return true;
	} else if (c->state == VSOCK_CONN_FREE || c->state == VSOCK_CONN_DRAINING) {
		return false; /* rx_data reset it */
	} else if (c->owe & VSOCK_OWE_SHUTDOWN) {
		h = conn_hdr(c, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
		c->owe &= ~VSOCK_OWE_SHUTDOWN;
	} else if (c->owe & VSOCK_OWE_CREDIT) {
		h = conn_hdr(c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0);
	} else {
		return false;
	}
	rx_put(v, &h, 0);
	return true;
}

/* Gives the guest what it is owed and what the host sockets have, while
 * it has rx buffers; connections take turns. */
static void rx_service(struct virtio_vsock *v)
{
	if (!driver_ok(v))
		return;
	uint64_t start = v->stats.rx_packets;
	unsigned idle = 0; /* slots looked at since one was served */
	for (;;) {
		struct virtio_vsock_conn *c = NULL;
		while (!v->nrst && !c && idle < VIRTIO_VSOCK_MAX_CONNS) {
			struct virtio_vsock_conn *t = &v->conns[v->rx_next];
			v->rx_next = (v->rx_next + 1) % VIRTIO_VSOCK_MAX_CONNS;
			idle++;
			if (wants_rx(t))
				c = t;
		}
		if (!v->nrst && !c)
			break;
		int r = rx_take(v);
		if (r < 0) {
			virtio_mmio_fail(&v->mmio);
			return;
		}
		if (r == 0)
			break;
		if (!c) {
			rx_put(v, &v->rst_backlog[0], 0);
			memmove(&v->rst_backlog[0], &v->rst_backlog[1],
				--v->nrst * sizeof(v->rst_backlog[0]));
			v->stats.resets_sent++;
		} else if (rx_serve(v, c)) {
			idle = 0;
		}
	}
	if (v->stats.rx_packets != start)
		virtio_mmio_notify_used(&v->mmio, &v->mmio.queues[RX_QUEUE]);
}

static void tx_process(struct virtio_vsock *v)
{
	struct virtq *q = &v->mmio.queues[TX_QUEUE];
	bool pushed = false;
	int r;
	while ((r = virtq_pop(q, &v->tx_chain)) > 0) {
		on_packet(v, &v->tx_chain);
		/* The payload is copied or sent: the guest may have it back. */
		virtq_push(q, v->tx_chain.head, 0);
		v->stats.tx_packets++;
		pushed = true;
	}
	if (r < 0)
		virtio_mmio_fail(&v->mmio);
	if (pushed)
		virtio_mmio_notify_used(&v->mmio, q);
}

static void vsock_queue_notify(struct virtio_mmio_device *dev, uint16_t index)
{
	struct virtio_vsock *v = dev->opaque;
	if (index == TX_QUEUE)
		tx_process(v);
	/* The event queue only holds buffers for events we never send. */
	if (index != EVENT_QUEUE)
		rx_service(v);
}

static void on_conn_event(void *opaque, uint32_t events)
{
	struct virtio_vsock_conn *c = opaque;
	struct virtio_vsock *v = c->dev;
	pthread_mutex_lock(&v->mmio.lock);
	/* The slot may have been freed, or reused, since the event came. */
	if (c->state != VSOCK_CONN_FREE && c->source.fd >= 0) {
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->readable = true;
		if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			flush_pending(c);
		rx_service(v);
	}
	pthread_mutex_unlock(&v->mmio.lock);
}

static void vsock_read_config(struct virtio_mmio_device *dev, uint32_t offset, uint8_t *data,
			      uint32_t len)
{
	struct virtio_vsock_config cfg = {.guest_cid = htole64(VIRTIO_VSOCK_GUEST_CID)};
	memcpy(data, (uint8_t *)&cfg + offset, len);
}

/* The driver went away: every connection with it. */
static void vsock_reset(struct virtio_mmio_device *dev)
{
	struct virtio_vsock *v = dev->opaque;
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state != VSOCK_CONN_FREE)
			conn_free(&v->conns[i]);
	v->nrst = 0;
	v->rx_held = false;
}

/* The device's own part of a snapshot (after the transport's), version 1.
 * Connections are host sockets, which no snapshot can hold: a VM is saved
 * only while it has none (-EBUSY otherwise), so the state is the version
 * alone and a restored device starts with an empty table. */
struct vsock_state {
	uint32_t version;
};

static int vsock_save(struct virtio_mmio_device *dev, struct bytes *out)
{
	struct virtio_vsock *v = dev->opaque;
	if (v->nconns || v->nrst)
		return -EBUSY;
	const struct vsock_state st = {.version = 1};
	return bytes_append(out, &st, sizeof(st));
}

static int vsock_restore(struct virtio_mmio_device *dev, const void *state, size_t len)
{
	struct vsock_state st;
	if (len != sizeof(st))
		return -EINVAL;
	memcpy(&st, state, sizeof(st));
	if (st.version != 1)
		return -EINVAL;
	vsock_reset(dev);
	return 0;
}

static const struct virtio_device_ops vsock_ops = {
	.name = "vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.num_queues = 3,
	.queue_size = 256,
	.config_size = sizeof(struct virtio_vsock_config),
	.read_config = vsock_read_config,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
	.save = vsock_save,
	.restore = vsock_restore,
};

int virtio_vsock_init(struct virtio_vsock *v, struct machine *m, struct event_loop *loop,
		      const struct virtio_vsock_host *host, uint64_t base, uint32_t irq,
		      nook_error **err)
{
	v->loop = loop;
	v->host = *host;
	v->next_host_port = VIRTIO_VSOCK_HOST_PORT_FIRST;
	if (!(v->conns = calloc(VIRTIO_VSOCK_MAX_CONNS, sizeof(*v->conns))))
		return error_set(err, ENOMEM, "out of memory");
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++)
		v->conns[i].source.fd = -1;
	return virtio_mmio_init(&v->mmio, m, loop, &vsock_ops, v, base, irq, err);
}

void virtio_vsock_destroy(struct virtio_vsock *v)
{
	if (v->mmio.ops) {
		pthread_mutex_lock(&v->mmio.lock);
		vsock_reset(&v->mmio);
		pthread_mutex_unlock(&v->mmio.lock);
		virtio_mmio_destroy(&v->mmio, v->loop);
	}
	v->mmio.ops = NULL;
	free(v->conns);
	v->conns = NULL;
}

/* Host ports count up from VIRTIO_VSOCK_HOST_PORT_FIRST; -1 is "any". */
static uint32_t next_host_port(uint32_t port)
{
	return port + 1 >= UINT32_MAX ? VIRTIO_VSOCK_HOST_PORT_FIRST : port + 1;
}

int virtio_vsock_connect_guest(struct virtio_vsock *v, int fd, uint32_t guest_port)
{
	pthread_mutex_lock(&v->mmio.lock);
	int r = 0;
	struct virtio_vsock_conn *c = NULL;
	if (!driver_ok(v) || !v->mmio.queues[RX_QUEUE].ready) {
		close(fd);
		r = -ENOTCONN;
	} else {
		/* A host port no connection to guest_port uses. */
		uint32_t port = v->next_host_port;
		while (find_conn(v, guest_port, port))
			port = next_host_port(port);
		v->next_host_port = next_host_port(port);
		if (!(c = conn_new(v, fd, guest_port, port)))
			r = -EBUSY;
	}
	if (c) {
		c->state = VSOCK_CONN_REQUESTED;
		c->owe = VSOCK_OWE_REQUEST;
		rx_service(v);
	}
	pthread_mutex_unlock(&v->mmio.lock);
	return r;
}
