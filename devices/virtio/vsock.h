/* virtio-vsock (virtio 1.x, 5.10): stream sockets between the guest (CID 3)
 * and the host (CID 2), each guest connection bridged to a host stream
 * socket that a host side (backends/vsock/unix.h) supplies. Queues rx, tx,
 * event; stream type only (a packet of another type gets RST).
 *
 * Flow control is the spec's credit: we send the guest no more than its
 * buf_alloc - (tx_cnt - fwd_cnt) and advertise VIRTIO_VSOCK_BUF_ALLOC per
 * connection; a guest that sends more than that is reset. Bytes the host
 * socket cannot take at once wait in the connection's buffer, which credit
 * bounds to VIRTIO_VSOCK_BUF_ALLOC, and our fwd_cnt advances only when they
 * reach the socket: a slow host peer slows the guest down, never grows
 * memory. Host sockets are non-blocking on the VM's event loop.
 *
 * Every guest packet is checked: a header that does not fit the chain or a
 * `len` beyond it, a source CID other than the guest's (dropped), a
 * destination other than the host, an unknown op or type, a packet for no
 * connection, a connection past VIRTIO_VSOCK_MAX_CONNS: each gets RST
 * (except RST itself, which is never answered).
 *
 * Snapshots: with nook-init as PID 1 the device waits in a hidden slot
 * until the run's config is sent (vm/assemble.c), after the ready point
 * where snapshots are taken, so it is never in one and the guest probes it
 * fresh after every restore. Its save/restore ops exist for the transport's
 * contract (devices/virtio/mmio.h): a device the guest sees can be saved
 * while it has no connection (struct vsock_state in vsock.c, version 1);
 * with one, save fails with -EBUSY. No TRANSPORT_RESET event is then ever
 * due: no guest connection outlives a snapshot. */
#ifndef NOOK_DEVICES_VIRTIO_VSOCK_H
#define NOOK_DEVICES_VIRTIO_VSOCK_H

#include <linux/virtio_vsock.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/mmio.h"

#define VIRTIO_VSOCK_HOST_CID 2
#define VIRTIO_VSOCK_GUEST_CID 3
#define VIRTIO_VSOCK_MAX_CONNS 1024
/* What we advertise per connection, and so what we hold at most for it. */
#define VIRTIO_VSOCK_BUF_ALLOC (128 * 1024)
/* Ports the host picks for connections it opens (as Firecracker does). */
#define VIRTIO_VSOCK_HOST_PORT_FIRST (1u << 30)

/* The host side: where guest connections go, and who hears of host ones. */
struct virtio_vsock_host {
	/* The guest connects to host port `port`: a connected stream socket,
	 * non-blocking and close-on-exec, or -errno (the guest gets RST). */
	int (*connect)(void *opaque, uint32_t port);
	/* The guest accepted the connection that `fd` asked for through
	 * virtio_vsock_connect_guest(), at host port `host_port`: 0, or
	 * -errno to reset it. */
	int (*accepted)(void *opaque, int fd, uint32_t host_port);
	void *opaque;
};

enum virtio_vsock_conn_state {
	VSOCK_CONN_FREE,
	VSOCK_CONN_REQUESTED,   /* we sent (or owe) the guest a REQUEST */
	VSOCK_CONN_ESTABLISHED,
	VSOCK_CONN_DRAINING,    /* reset towards the guest; flushing to the host */
};

/* Control packets a connection owes the guest. */
enum {
	VSOCK_OWE_REQUEST = 1 << 0,
	VSOCK_OWE_RESPONSE = 1 << 1,
	VSOCK_OWE_CREDIT = 1 << 2,
	VSOCK_OWE_SHUTDOWN = 1 << 3,
	VSOCK_OWE_RST = 1 << 4,
};

struct virtio_vsock;

struct virtio_vsock_conn {
	struct virtio_vsock *dev;
	enum virtio_vsock_conn_state state;
	uint32_t guest_port, host_port;
	/* The host socket's event source; the slot outlives the connection
	 * (an event for a closed one may still be on the loop's list). */
	struct event_source source;
	unsigned owe;
	bool readable;       /* the host socket may have bytes for the guest */
	bool host_eof;       /* it has no more */
	bool guest_no_send;  /* the guest's SHUTDOWN SEND */
	bool guest_no_recv;  /* the guest's SHUTDOWN RCV */
	/* Our side of the credit: bytes received from the guest, forwarded to
	 * the host, and the fwd_cnt the guest last heard. */
	uint32_t rx_cnt, fwd_cnt, fwd_cnt_sent;
	/* The guest's side: its buffer, its fwd_cnt, what we sent it. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* Guest bytes the host socket has not taken yet: at most our
	 * VIRTIO_VSOCK_BUF_ALLOC (credit), allocated while there are any. */
	uint8_t *pending;
	size_t pending_off, pending_len;
};

/* RSTs owed for packets of no connection, until rx buffers come. */
#define VIRTIO_VSOCK_RST_BACKLOG 256

struct virtio_vsock_stats {
	uint64_t rx_packets, tx_packets, resets_sent, dropped;
};

struct virtio_vsock {
	struct virtio_mmio_device mmio;
	struct event_loop *loop;
	struct virtio_vsock_host host;
	struct virtio_vsock_conn *conns; /* VIRTIO_VSOCK_MAX_CONNS slots */
	unsigned nconns;
	unsigned rx_next; /* where the next round of rx service starts */
	uint32_t next_host_port;
	struct virtio_vsock_hdr rst_backlog[VIRTIO_VSOCK_RST_BACKLOG];
	unsigned nrst;
	/* An rx chain taken but not filled (the socket had nothing after all). */
	bool rx_held;
	uint32_t rx_generation; /* of the rx queue when it was taken */
	struct virtq_chain rx_chain, tx_chain; /* scratch, under the device lock */
	struct virtio_vsock_stats stats;
};

/* `host` may have no connect (guest connections to the host get RST). */
int virtio_vsock_init(struct virtio_vsock *v, struct machine *m, struct event_loop *loop,
		      const struct virtio_vsock_host *host, uint64_t base, uint32_t irq,
		      nook_error **err);
/* Closes every host socket. */
void virtio_vsock_destroy(struct virtio_vsock *v);

/* A host client asks for the guest's port `guest_port` over `fd` (a
 * connected stream socket, non-blocking; taken over, also on failure). The
 * guest gets a REQUEST; on RESPONSE host->accepted() is told, on RST the
 * socket is closed. 0, or -EBUSY at the connection cap, -ENOTCONN when the
 * guest driver is not up. */
int virtio_vsock_connect_guest(struct virtio_vsock *v, int fd, uint32_t guest_port);

#endif
