/* virtio-net driven like a guest driver would, over a real KVM machine's
 * memory (no vCPU runs): crafted frames injected on the transmit queue and
 * which of them reach a backend under each scope, checksum completion,
 * mergeable receive buffers, and a hostile receive chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio/net.h"
#include "tests/net/frames.h"
#include "x86/layout.h"
#include "x86/machine.h"

#define QS 16
#define RXQ 0
#define TXQ 1
#define RING(q) (0x10000 + (q) * 0x4000)
#define BUFS 0x100000
#define HDR 12

/* The backend: records what it is sent, hands out queued frames. */
struct peer {
	int fd;
	unsigned nsent, capacity; /* frames it takes before it is full; 0: no limit */
	uint8_t sent[8][2048];    /* the first frames */
	size_t sent_len[64];
	uint8_t last_byte[64];
	uint8_t pending[8192];
	size_t pending_len;
};

static int peer_send(void *opaque, const void *frame, size_t len)
{
	struct peer *p = opaque;
	if (p->capacity && p->nsent == p->capacity)
		return -EAGAIN;
	if (p->nsent < 8 && len <= sizeof(p->sent[0]))
		memcpy(p->sent[p->nsent], frame, len);
	if (p->nsent < 64) {
		p->sent_len[p->nsent] = len;
		p->last_byte[p->nsent] = ((const uint8_t *)frame)[len - 1];
	}
	p->nsent++;
	return 0;
}

static ssize_t peer_recv(void *opaque, void *buf, size_t size)
{
	struct peer *p = opaque;
	if (!p->pending_len)
		return -EAGAIN;
	size_t len = p->pending_len;
	memcpy(buf, p->pending, len);
	p->pending_len = 0;
	return (ssize_t)len;
}

static int peer_poll_fd(void *opaque)
{
	return ((struct peer *)opaque)->fd;
}

struct fixture {
	struct machine m;
	struct event_loop loop;
	struct virtio_net net;
	struct peer peer;
	uint16_t avail_idx[2], next_desc[2];
};

static struct fixture fx;

static void *gpa(uint64_t addr, size_t len)
{
	void *p = guest_memory_ptr(&fx.m.mem, addr, len);
	assert_non_null(p);
	return p;
}

static struct vring_desc *desc(int q) { return gpa(RING(q), 16 * QS); }
static struct vring_avail *avail(int q) { return gpa(RING(q) + 0x1000, 6 + 2 * QS); }
static struct vring_used *used(int q) { return gpa(RING(q) + 0x2000, 6 + 8 * QS); }

static void start(enum nook_network_scope scope)
{
	memset(&fx, 0, sizeof(fx));
	machine_init(&fx.m);
	nook_error *err = NULL;
	if (x86_machine_create(&fx.m, 4 << 20, kvm_host_is_pvm(), &err) < 0) {
		nook_error_free(err);
		skip();
	}
	assert_int_equal(event_loop_init(&fx.loop), 0);
	fx.peer.fd = eventfd(0, EFD_CLOEXEC);
	struct nook_net_backend cb = {peer_send, peer_recv, peer_poll_fd};
	struct net_backend *b;
	assert_int_equal(net_custom_open(&cb, &fx.peer, &b, NULL), 0);
	b->checksums_valid = true;
	static const struct net_filter_port ports[] = {{8080, NOOK_PORT_PROTOCOL_TCP},
						       {5353, NOOK_PORT_PROTOCOL_UDP}};
	struct net_filter f = {.scope = scope, .network = 0x0a000200, .netmask = 0xffffff00,
			       .gateway = 0x0a000202, .dns = 0x0a000203, .ports = ports, .nports = 2};
	memcpy(f.mac, frame_guest_mac, 6);
	assert_int_equal(virtio_net_init(&fx.net, &fx.m, &fx.loop, frame_guest_mac, b, &f,
					 LAYOUT_VIRTIO_MMIO_BASE, LAYOUT_FIRST_DEVICE_IRQ, &err), 0);
	/* What a driver does: features, queues, DRIVER_OK. */
	struct virtio_mmio_device *d = &fx.net.mmio;
	d->driver_features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
			     (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM);
	for (int q = 0; q < 2; q++) {
		d->queues[q].size = QS;
		d->queues[q].desc_gpa = RING(q);
		d->queues[q].avail_gpa = RING(q) + 0x1000;
		d->queues[q].used_gpa = RING(q) + 0x2000;
		assert_int_equal(virtq_activate(&d->queues[q]), 0);
	}
	d->status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		    VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
}

static void stop(void)
{
	virtio_net_destroy(&fx.net);
	event_loop_destroy(&fx.loop);
	machine_destroy(&fx.m);
	close(fx.peer.fd);
}

static void notify(int q)
{
	pthread_mutex_lock(&fx.net.mmio.lock);
	fx.net.mmio.ops->queue_notify(&fx.net.mmio, (uint16_t)q);
	pthread_mutex_unlock(&fx.net.mmio.lock);
}

/* Makes a one-descriptor chain of len bytes at addr available on queue q. */
static void post_at(int q, uint64_t addr, const void *data, uint32_t len, bool writable)
{
	uint16_t i = fx.next_desc[q]++ % QS;
	if (data)
		memcpy(gpa(addr, len), data, len);
	desc(q)[i] = (struct vring_desc){.addr = addr, .len = len,
					 .flags = writable ? VRING_DESC_F_WRITE : 0};
	avail(q)->ring[fx.avail_idx[q] % QS] = i;
	fx.avail_idx[q]++;
	__atomic_store_n(&avail(q)->idx, fx.avail_idx[q], __ATOMIC_RELEASE);
}

/* The same in the descriptor's own 8 KiB slot. */
static void post(int q, const void *data, uint32_t len, bool writable)
{
	uint64_t addr = BUFS + (uint64_t)q * 0x40000 + (uint64_t)(fx.next_desc[q] % QS) * 0x2000;
	post_at(q, addr, data, len, writable);
}

/* A virtio-net header then an IPv4/TCP frame to dst. */
static size_t tcp_frame(uint8_t *buf, uint32_t dst, uint8_t flags)
{
	memset(buf, 0, HDR + 54);
	uint8_t *f = buf + HDR, *ip = f + 14;
	memcpy(f + 6, frame_guest_mac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[3] = 40;
	ip[9] = 6;
	ip[12] = 10, ip[15] = 15;
	ip[16] = (uint8_t)(dst >> 24), ip[17] = (uint8_t)(dst >> 16);
	ip[18] = (uint8_t)(dst >> 8), ip[19] = (uint8_t)dst;
	ip[20] = 0x9c, ip[21] = 0x40; /* port 40000 */
	ip[23] = 80;
	ip[32] = 0x50;
	ip[33] = flags;
	return HDR + 54;
}

static void test_tx_scope(void **state)
{
	static const struct {
		enum nook_network_scope scope;
		unsigned reach; /* of: gateway, 1.1.1.1, 192.168.1.1 */
	} cases[] = {
		{NOOK_NETWORK_SCOPE_NONE, 0},
		{NOOK_NETWORK_SCOPE_GROUP, 1},
		{NOOK_NETWORK_SCOPE_PUBLIC, 1},
		{NOOK_NETWORK_SCOPE_ANY, 3},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		start(cases[c].scope);
		uint8_t buf[128];
		post(TXQ, buf, (uint32_t)tcp_frame(buf, 0x0a000202, 0x02), false);
		post(TXQ, buf, (uint32_t)tcp_frame(buf, 0x01010101, 0x02), false);
		post(TXQ, buf, (uint32_t)tcp_frame(buf, 0xc0a80101, 0x02), false);
		notify(TXQ);
		assert_int_equal(fx.peer.nsent, cases[c].reach);
		assert_int_equal(fx.net.stats.tx_filtered, 3 - cases[c].reach);
		/* Every chain went back to the guest, filtered or not. */
		assert_int_equal(used(TXQ)->idx, 3);
		stop();
	}
}

static void test_tx_checksum_and_gso(void **state)
{
	start(NOOK_NETWORK_SCOPE_ANY);
	uint8_t buf[128];
	size_t len = tcp_frame(buf, 0x01010101, 0x02);
	struct virtio_net_hdr *h = (struct virtio_net_hdr *)buf;
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->csum_start = 34;
	h->csum_offset = 16;
	buf[HDR + 34 + 16] = 0x12; /* the pseudo-header sum, as Linux leaves it */
	buf[HDR + 34 + 17] = 0x34;
	post(TXQ, buf, (uint32_t)len, false);
	/* A checksum field past the end of the frame: dropped. */
	h->csum_start = 50;
	post(TXQ, buf, (uint32_t)len, false);
	/* Segmentation was not offered: dropped. */
	h->flags = 0;
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	post(TXQ, buf, (uint32_t)len, false);
	notify(TXQ);
	assert_int_equal(fx.peer.nsent, 1);
	assert_int_equal(fx.net.stats.tx_dropped, 2);
	/* A receiver's sum over the TCP part plus the pseudo-header (here the
	 * seed 0x1234) folds to 0xffff. */
	const uint8_t *f = fx.peer.sent[0];
	uint32_t sum = 0x1234;
	for (size_t i = 34; i < fx.peer.sent_len[0]; i += 2)
		sum += (uint32_t)(f[i] << 8 | f[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);
	stop();
}

/* What the guest queued goes to the backend in order, gathered; frames
 * the backend has no room for are dropped and counted. */
static void test_tx_batches(void **state)
{
	start(NOOK_NETWORK_SCOPE_ANY);
	uint8_t buf[128];
	for (uint8_t i = 0; i < QS; i++) {
		size_t len = tcp_frame(buf, 0x01010101, 0x02);
		buf[len - 1] = i;
		post(TXQ, buf, (uint32_t)len, false);
	}
	notify(TXQ);
	assert_int_equal(fx.peer.nsent, QS);
	for (uint8_t i = 0; i < QS; i++)
		assert_int_equal(fx.peer.last_byte[i], i);
	assert_int_equal(fx.net.stats.tx_frames, QS);

	/* Frames too large to gather many: three of 60000 bytes. */
	static uint8_t big[HDR + 60000];
	memcpy(big, buf, 54 + HDR);
	for (uint8_t i = 0; i < 3; i++) {
		big[sizeof(big) - 1] = (uint8_t)(100 + i);
		post_at(TXQ, 0x200000 + (uint64_t)i * 0x10000, big, sizeof(big), false);
	}
	notify(TXQ);
	assert_int_equal(fx.peer.nsent, QS + 3);
	for (uint8_t i = 0; i < 3; i++) {
		assert_int_equal(fx.peer.sent_len[QS + i], 60000);
		assert_int_equal(fx.peer.last_byte[QS + i], 100 + i);
	}

	fx.peer.capacity = fx.peer.nsent + 3;
	for (int i = 0; i < 5; i++)
		post(TXQ, buf, (uint32_t)tcp_frame(buf, 0x01010101, 0x02), false);
	notify(TXQ);
	assert_int_equal(fx.peer.nsent, QS + 6);
	assert_int_equal(fx.net.stats.tx_frames, QS + 6);
	assert_int_equal(fx.net.stats.tx_dropped, 2);
	assert_int_equal(used(TXQ)->idx, QS + 8);
	stop();
}

static void test_rx_mergeable(void **state)
{
	start(NOOK_NETWORK_SCOPE_ANY);
	fx.peer.pending_len = 3000;
	for (size_t i = 0; i < 3000; i++)
		fx.peer.pending[i] = (uint8_t)i;
	/* No buffers yet: the frame waits. */
	notify(RXQ);
	assert_int_equal(used(RXQ)->idx, 0);
	assert_true(fx.net.rx_pending);
	post(RXQ, NULL, 1500, true);
	notify(RXQ);
	assert_int_equal(used(RXQ)->idx, 0); /* still too small */
	post(RXQ, NULL, 1500, true);
	post(RXQ, NULL, 1500, true);
	post(RXQ, NULL, 1500, true);
	notify(RXQ);
	assert_int_equal(used(RXQ)->idx, 3);
	assert_int_equal(used(RXQ)->ring[0].len, 1500);
	assert_int_equal(used(RXQ)->ring[1].len, 1500);
	assert_int_equal(used(RXQ)->ring[2].len, HDR + 3000 - 3000);
	const struct virtio_net_hdr_mrg_rxbuf *h = gpa(desc(RXQ)[0].addr, HDR);
	assert_int_equal(h->num_buffers, 3);
	assert_int_equal(h->hdr.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	const uint8_t *second = gpa(desc(RXQ)[1].addr, 1500);
	assert_int_equal(second[0], (uint8_t)(1500 - HDR));
	assert_int_equal(fx.net.stats.rx_frames, 1);
	/* The fourth buffer is kept for the next frame. */
	fx.peer.pending_len = 60;
	notify(RXQ);
	assert_int_equal(used(RXQ)->idx, 4);
	assert_int_equal(used(RXQ)->ring[3].len, HDR + 60);
	stop();
}

/* The device shows the filter every frame for the guest: a datagram to a
 * published UDP port lets the guest answer its sender. */
static void test_rx_opens_published_flow(void **state)
{
	start(NOOK_NETWORK_SCOPE_NONE);
	uint8_t reply[HDR + 128] = {0};
	size_t len = HDR + frame_ipv4(reply + HDR, &(struct frame_ip){.proto = 17, .src = FRAME_GUEST,
								     .dst = FRAME_GATEWAY,
								     .sport = 5353, .dport = 50000});
	post(TXQ, reply, (uint32_t)len, false);
	notify(TXQ);
	assert_int_equal(fx.peer.nsent, 0);

	fx.peer.pending_len = frame_ipv4(fx.peer.pending,
					 &(struct frame_ip){.proto = 17, .src = FRAME_GATEWAY,
							    .dst = FRAME_GUEST, .sport = 50000,
							    .dport = 5353});
	post(RXQ, NULL, 1500, true);
	notify(RXQ);
	assert_int_equal(fx.net.stats.rx_frames, 1);
	post(TXQ, reply, (uint32_t)len, false);
	notify(TXQ);
	assert_int_equal(fx.peer.nsent, 1);
	stop();
}

static void test_rx_hostile_chain(void **state)
{
	start(NOOK_NETWORK_SCOPE_ANY);
	fx.peer.pending_len = 60;
	post(RXQ, NULL, 1500, false); /* device-readable: not a receive buffer */
	notify(RXQ);
	assert_true(fx.net.mmio.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(used(RXQ)->idx, 0);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_scope),
		cmocka_unit_test(test_tx_checksum_and_gso),
		cmocka_unit_test(test_tx_batches),
		cmocka_unit_test(test_rx_mergeable),
		cmocka_unit_test(test_rx_opens_published_flow),
		cmocka_unit_test(test_rx_hostile_chain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
