#include "devices/virtio/net.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define RX_QUEUE 0
#define TX_QUEUE 1
#define HDR_SIZE sizeof(struct virtio_net_hdr_mrg_rxbuf)
#define ETH_MIN 14

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

bool virtio_net_complete_checksum(uint8_t *frame, size_t len, size_t start, size_t offset)
{
	if (start >= len || offset > len - start || len - start - offset < 2)
		return false;
	uint32_t sum = 0;
	size_t i = start;
	for (; i + 1 < len; i += 2)
		sum += (uint32_t)(frame[i] << 8 | frame[i + 1]);
	if (i < len)
		sum += (uint32_t)frame[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t csum = (uint16_t)~sum;
	frame[start + offset] = (uint8_t)(csum >> 8);
	frame[start + offset + 1] = (uint8_t)csum;
	return true;
}

static bool negotiated(const struct virtio_net *n, unsigned feature)
{
	return n->mmio.driver_features & (1ULL << feature);
}

static void watch_backend(struct virtio_net *n, bool on)
{
	if (!n->rx_pollable || n->rx_watching == on)
		return;
	if (event_loop_modify(n->loop, &n->rx_source, on ? EPOLLIN : 0) == 0)
		n->rx_watching = on;
}

/* Copies src into the held receive buffers from byte `off` on. */
static void rx_copy(struct virtio_net *n, size_t off, const void *src, size_t len)
{
	const uint8_t *s = src;
	for (unsigned i = 0; i < n->nrx_iov && len; i++) {
		struct iovec *v = &n->rx_iov[i];
		if (off >= v->iov_len) {
			off -= v->iov_len;
			continue;
		}
		size_t take = v->iov_len - off < len ? v->iov_len - off : len;
		memcpy((uint8_t *)v->iov_base + off, s, take);
		s += take;
		len -= take;
		off = 0;
	}
}

/* Takes guest buffers until the pending frame fits: 1 when it does, 0
 * when the guest has too few, -EINVAL when it broke the protocol. */
static int rx_gather(struct virtio_net *n, size_t need)
{
	struct virtq *q = &n->mmio.queues[RX_QUEUE];
	unsigned max = negotiated(n, VIRTIO_NET_F_MRG_RXBUF) ? VIRTQ_MAX_SIZE : 1;
	while (n->rx_bufs_len < need && n->nrx_bufs < max) {
		int r = virtq_pop(q, &n->chain);
		if (r <= 0)
			return r;
		/* Receive buffers are device-writable only; a guest cannot have
		 * more buffers outstanding than descriptors unless it lies. */
		if (n->chain.nout || n->nrx_iov + n->chain.nin > VIRTQ_MAX_SIZE)
			return -EINVAL;
		n->rx_bufs[n->nrx_bufs++] = (struct virtio_net_rx_buf){
			.head = n->chain.head, .first_iov = n->nrx_iov, .niov = n->chain.nin};
		memcpy(&n->rx_iov[n->nrx_iov], n->chain.in, n->chain.nin * sizeof(struct iovec));
		n->nrx_iov += n->chain.nin;
		n->rx_bufs_len += n->chain.in_len;
	}
	return n->rx_bufs_len >= need;
}

/* Writes the pending frame into the held buffers and hands them back. */
static void rx_complete(struct virtio_net *n)
{
	struct virtq *q = &n->mmio.queues[RX_QUEUE];
	struct virtio_net_hdr_mrg_rxbuf hdr = {.num_buffers = (uint16_t)n->nrx_bufs};
	if (n->backend->checksums_valid && negotiated(n, VIRTIO_NET_F_GUEST_CSUM))
		hdr.hdr.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	rx_copy(n, 0, &hdr, HDR_SIZE);
	rx_copy(n, HDR_SIZE, n->rx_frame, n->rx_len);
	size_t left = HDR_SIZE + n->rx_len;
	for (unsigned b = 0; b < n->nrx_bufs; b++) {
		size_t cap = 0;
		for (unsigned i = 0; i < n->rx_bufs[b].niov; i++)
			cap += n->rx_iov[n->rx_bufs[b].first_iov + i].iov_len;
		size_t used = cap < left ? cap : left;
		virtq_push(q, n->rx_bufs[b].head, (uint32_t)used);
		left -= used;
	}
	n->nrx_bufs = n->nrx_iov = 0;
	n->rx_bufs_len = 0;
	n->rx_pending = false;
	n->stats.rx_frames++;
}

/* Moves frames from the backend into the guest while both have them. */
static void rx_deliver(struct virtio_net *n)
{
	if (!(n->mmio.status & VIRTIO_CONFIG_S_DRIVER_OK))
		return;
	bool pushed = false;
	for (;;) {
		if (!n->rx_pending) {
			if (n->backend_ended)
				break;
			ssize_t len = n->backend->ops->recv(n->backend, n->rx_frame, NET_FRAME_MAX);
			if (len == -EAGAIN)
				break;
			if (len < 0) {
				n->backend_ended = true;
				break;
			}
			if (len < ETH_MIN) {
				n->stats.rx_dropped++;
				continue;
			}
			net_filter_note_inbound(&n->filter, n->rx_frame, (size_t)len);
			n->rx_len = (size_t)len;
			n->rx_pending = true;
		}
		int r = rx_gather(n, HDR_SIZE + n->rx_len);
		if (r < 0) {
			virtio_mmio_fail(&n->mmio);
			return;
		}
		if (r == 0 && n->nrx_bufs && !negotiated(n, VIRTIO_NET_F_MRG_RXBUF)) {
			/* One buffer must hold a frame; this one cannot. */
			n->rx_len = 0;
			rx_complete(n);
			n->stats.rx_dropped++;
			pushed = true;
			continue;
		}
		if (r == 0)
			break;
		rx_complete(n);
		pushed = true;
	}
	if (pushed)
		virtio_mmio_notify_used(&n->mmio, &n->mmio.queues[RX_QUEUE]);
	watch_backend(n, !n->rx_pending && !n->backend_ended);
}

/* Hands the gathered frames to the backend. */
static void tx_flush(struct virtio_net *n)
{
	if (!n->ntx)
		return;
	int r = n->backend->ops->send(n->backend, n->tx_frames, n->ntx);
	unsigned sent = r < 0 ? 0 : (unsigned)r;
	n->stats.tx_frames += sent;
	n->stats.tx_dropped += n->ntx - sent;
	n->ntx = 0;
	n->tx_used = 0;
}

/* Reads the frame of the chain just taken; keeps it for the backend if it
 * is well-formed and passes the filter. */
static void tx_frame(struct virtio_net *n)
{
	const struct virtq_chain *c = &n->chain;
	uint8_t hdr[HDR_SIZE];
	if (c->out_len < HDR_SIZE + ETH_MIN || c->out_len - HDR_SIZE > NET_FRAME_MAX ||
	    virtq_chain_read(c, 0, hdr, HDR_SIZE) != HDR_SIZE) {
		n->stats.tx_dropped++;
		return;
	}
	size_t want = c->out_len - HDR_SIZE;
	if (n->ntx == NET_SEND_BATCH || want > VIRTIO_NET_TX_BUF - n->tx_used)
		tx_flush(n);
	uint8_t *frame = n->tx_buf + n->tx_used;
	size_t len = virtq_chain_read(c, HDR_SIZE, frame, want);
	const struct virtio_net_hdr *h = (const struct virtio_net_hdr *)hdr;
	/* No segmentation offload is offered, so a GSO frame is the guest's
	 * mistake. */
	if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE ||
	    ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	     !virtio_net_complete_checksum(frame, len, le16(hdr + 6), le16(hdr + 8)))) {
		n->stats.tx_dropped++;
		return;
	}
	if (!net_filter_allows(&n->filter, frame, len)) {
		n->stats.tx_filtered++;
		return;
	}
	n->tx_frames[n->ntx++] = (struct iovec){frame, len};
	n->tx_used += len;
}

static void tx_process(struct virtio_net *n)
{
	struct virtq *q = &n->mmio.queues[TX_QUEUE];
	bool pushed = false;
	int r;
	while ((r = virtq_pop(q, &n->chain)) > 0) {
		tx_frame(n);
		/* The frame is copied: the guest may have its buffer back. */
		virtq_push(q, n->chain.head, 0);
		pushed = true;
	}
	tx_flush(n);
	if (r < 0)
		virtio_mmio_fail(&n->mmio);
	if (pushed)
		virtio_mmio_notify_used(&n->mmio, q);
}

static void net_queue_notify(struct virtio_mmio_device *dev, uint16_t index)
{
	struct virtio_net *n = dev->opaque;
	if (index == TX_QUEUE)
		tx_process(n);
	else if (index == RX_QUEUE)
		rx_deliver(n);
}

static void on_backend_readable(void *opaque, uint32_t events)
{
	struct virtio_net *n = opaque;
	pthread_mutex_lock(&n->mmio.lock);
	if (n->mmio.status & VIRTIO_CONFIG_S_NEEDS_RESET)
		watch_backend(n, false);
	else
		rx_deliver(n);
	pthread_mutex_unlock(&n->mmio.lock);
}

static void net_read_config(struct virtio_mmio_device *dev, uint32_t offset, uint8_t *data,
			    uint32_t len)
{
	struct virtio_net *n = dev->opaque;
	struct virtio_net_config cfg = {0};
	memcpy(cfg.mac, n->mac, 6);
	memcpy(data, (uint8_t *)&cfg + offset, len);
}

static void net_reset(struct virtio_mmio_device *dev)
{
	struct virtio_net *n = dev->opaque;
	watch_backend(n, false);
	n->nrx_bufs = n->nrx_iov = 0;
	n->rx_bufs_len = 0;
	n->rx_pending = false;
}

static const struct virtio_device_ops net_ops = {
	.name = "net",
	.device_id = VIRTIO_ID_NET,
	.features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
		    (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM),
	.num_queues = 2,
	.queue_size = 256,
	.config_size = sizeof(struct virtio_net_config),
	.read_config = net_read_config,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
};

int virtio_net_init(struct virtio_net *n, struct machine *m, struct event_loop *loop,
		    const uint8_t mac[6], struct net_backend *backend,
		    const struct net_filter *filter, uint64_t base, uint32_t irq, nook_error **err)
{
	n->loop = loop;
	n->backend = backend;
	n->filter = *filter;
	memcpy(n->mac, mac, 6);
	n->rx_frame = malloc(NET_FRAME_MAX);
	n->tx_buf = malloc(VIRTIO_NET_TX_BUF);
	if (!n->rx_frame || !n->tx_buf)
		return error_set(err, ENOMEM, "out of memory");
	int r = virtio_mmio_init(&n->mmio, m, loop, &net_ops, n, base, irq, err);
	if (r < 0)
		return r;
	if (backend->poll_fd >= 0) {
		n->rx_source = (struct event_source){.fd = backend->poll_fd,
						     .fn = on_backend_readable, .opaque = n};
		n->rx_pollable = event_loop_add(loop, &n->rx_source, 0) == 0;
	}
	return 0;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (n->rx_pollable)
		event_loop_remove(n->loop, &n->rx_source);
	if (n->mmio.ops)
		virtio_mmio_destroy(&n->mmio, n->loop);
	n->mmio.ops = NULL;
	net_backend_destroy(n->backend);
	n->backend = NULL;
	free(n->rx_frame);
	free(n->tx_buf);
	n->rx_frame = n->tx_buf = NULL;
}
