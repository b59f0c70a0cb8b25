/* virtio-net (virtio 1.x, 5.1): one receive and one transmit queue,
 * mergeable receive buffers, checksum offload both ways. Every frame the
 * guest sends passes the scope filter (backends/net/filter.h) before its
 * backend sees it. */
#ifndef NOOK_DEVICES_VIRTIO_NET_H
#define NOOK_DEVICES_VIRTIO_NET_H

#include <stdbool.h>

#include "backends/net/backend.h"
#include "backends/net/filter.h"
#include "devices/virtio/mmio.h"

/* Room for a batch of full-size Ethernet frames and for one of the largest. */
#define VIRTIO_NET_TX_BUF (2 * NET_FRAME_MAX)

/* A receive buffer taken from the guest for the frame being delivered. */
struct virtio_net_rx_buf {
	uint16_t head;
	unsigned first_iov, niov;
};

struct virtio_net_stats {
	uint64_t tx_frames, tx_filtered, tx_dropped, rx_frames, rx_dropped;
};

struct virtio_net {
	struct virtio_mmio_device mmio;
	struct event_loop *loop;
	struct net_backend *backend; /* owned */
	struct net_filter filter;
	uint8_t mac[6];
	struct event_source rx_source;
	bool rx_pollable, rx_watching, backend_ended;
	/* A frame from the backend waiting for guest buffers. */
	uint8_t *rx_frame;
	size_t rx_len;
	bool rx_pending;
	struct virtio_net_rx_buf rx_bufs[VIRTQ_MAX_SIZE];
	unsigned nrx_bufs, nrx_iov;
	size_t rx_bufs_len;
	struct iovec rx_iov[VIRTQ_MAX_SIZE];
	/* Frames from the guest that passed the filter, handed to the backend
	 * together: tx_used bytes of tx_buf (VIRTIO_NET_TX_BUF) in ntx frames. */
	uint8_t *tx_buf;
	size_t tx_used;
	struct iovec tx_frames[NET_SEND_BATCH];
	unsigned ntx;
	struct virtq_chain chain; /* scratch, used under the device lock */
	struct virtio_net_stats stats;
};

/* Takes ownership of `backend` (also on failure). The filter's port array
 * must outlive the device. */
int virtio_net_init(struct virtio_net *n, struct machine *m, struct event_loop *loop,
		    const uint8_t mac[6], struct net_backend *backend,
		    const struct net_filter *filter, uint64_t base, uint32_t irq, nook_error **err);
void virtio_net_destroy(struct virtio_net *n);

/* Completes a partial checksum the way VIRTIO_NET_HDR_F_NEEDS_CSUM asks:
 * the ones' complement sum of frame[start..len) (whose 16-bit field at
 * start + offset holds the pseudo-header sum) stored at start + offset.
 * False when the offsets lie outside the frame. */
bool virtio_net_complete_checksum(uint8_t *frame, size_t len, size_t start, size_t offset);

#endif
