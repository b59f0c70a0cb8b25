/* virtio-vsock driven like a guest driver would, over a real KVM machine's
 * memory (no vCPU runs), its event loop running: a hostile guest (headers
 * too short, `len` beyond the chain, wrong CIDs, unknown types and ops,
 * packets for no connection, credit overrun, the connection cap) gets RST
 * where the spec says and never hurts the host; then well-behaved
 * connections both ways through the UNIX-socket host side
 * (backends/vsock/unix.c) against real sockets of the test's own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backends/vsock/unix.h"
#include "devices/virtio/vsock.h"
#include "x86/layout.h"
#include "x86/machine.h"

#define QS 16
#define RXQ 0
#define TXQ 1
#define RING(q) (0x10000 + (q) * 0x4000)
#define RX_BUFS 0x100000 /* QS buffers of RX_BUF_SIZE */
#define RX_BUF_SIZE 0x1000
#define TX_BUFS 0x200000 /* QS slots of TX_SLOT */
#define TX_SLOT 0x20000
#define HDR sizeof(struct virtio_vsock_hdr)
#define GUEST 3
#define HOST 2

struct fixture {
	struct machine m;
	struct event_loop loop;
	struct virtio_vsock dev;
	struct vsock_unix *unix_host;
	char dir[64];
	uint16_t avail_idx[2], next_desc[2], used_seen;
	unsigned connects; /* calls of the test's own host->connect */
	int connect_fd;    /* what it returns: -1 for a fresh eventfd */
	bool keep_rx;      /* next_rx() does not give buffers back */
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

/* The test's host side: an eventfd stands in for a socket where only the
 * connection's existence matters. */
static int test_connect(void *opaque, uint32_t port)
{
	fx.connects++;
	return fx.connect_fd >= 0 ? fx.connect_fd : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

static int test_accepted(void *opaque, int fd, uint32_t host_port)
{
	return 0;
}

static void start(bool unix_host)
{
	memset(&fx, 0, sizeof(fx));
	fx.connect_fd = -1;
	machine_init(&fx.m);
	nook_error *err = NULL;
	if (x86_machine_create(&fx.m, 8 << 20, kvm_host_is_pvm(), &err) < 0) {
		nook_error_free(err);
		skip();
	}
	assert_int_equal(event_loop_init(&fx.loop), 0);
	struct virtio_vsock_host host = {.connect = test_connect, .accepted = test_accepted};
	if (unix_host) {
		snprintf(fx.dir, sizeof(fx.dir), "/tmp/nook-vsock-test-XXXXXX");
		assert_non_null(mkdtemp(fx.dir));
		char path[96];
		snprintf(path, sizeof(path), "%s/v.sock", fx.dir);
		assert_int_equal(vsock_unix_open(path, &fx.loop, &fx.unix_host, &err), 0);
		vsock_unix_host(fx.unix_host, &host);
	}
	assert_int_equal(virtio_vsock_init(&fx.dev, &fx.m, &fx.loop, &host, LAYOUT_VIRTIO_MMIO_BASE,
					   LAYOUT_FIRST_DEVICE_IRQ, &err),
			 0);
	if (unix_host)
		assert_int_equal(vsock_unix_start(fx.unix_host, &fx.dev, &err), 0);
	/* What a driver does: features, queues, DRIVER_OK. */
	struct virtio_mmio_device *d = &fx.dev.mmio;
	d->driver_features = 1ULL << VIRTIO_F_VERSION_1;
	for (int q = 0; q < 3; q++) {
		d->queues[q].size = QS;
		d->queues[q].desc_gpa = RING(q);
		d->queues[q].avail_gpa = RING(q) + 0x1000;
		d->queues[q].used_gpa = RING(q) + 0x2000;
		assert_int_equal(virtq_activate(&d->queues[q]), 0);
	}
	d->status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		    VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
	assert_int_equal(event_loop_start(&fx.loop, false), 0);
}

static int teardown(void **state)
{
	event_loop_stop(&fx.loop);
	vsock_unix_destroy(fx.unix_host);
	virtio_vsock_destroy(&fx.dev);
	event_loop_destroy(&fx.loop);
	machine_destroy(&fx.m);
	if (fx.dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", fx.dir);
		assert_int_equal(system(cmd), 0);
	}
	return 0;
}

static void notify(int q)
{
	pthread_mutex_lock(&fx.dev.mmio.lock);
	fx.dev.mmio.ops->queue_notify(&fx.dev.mmio, (uint16_t)q);
	pthread_mutex_unlock(&fx.dev.mmio.lock);
}

static void make_available(int q, uint16_t head)
{
	avail(q)->ring[fx.avail_idx[q] % QS] = head;
	fx.avail_idx[q]++;
	__atomic_store_n(&avail(q)->idx, fx.avail_idx[q], __ATOMIC_RELEASE);
}

/* `n` receive buffers, each one writable descriptor. */
static void post_rx(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint16_t d = fx.next_desc[RXQ]++ % QS;
		desc(RXQ)[d] = (struct vring_desc){.addr = RX_BUFS + d * RX_BUF_SIZE,
						   .len = RX_BUF_SIZE, .flags = VRING_DESC_F_WRITE};
		make_available(RXQ, d);
	}
	notify(RXQ);
}

static struct virtio_vsock_hdr hdr(uint16_t op, uint32_t guest_port, uint32_t host_port,
				   uint32_t len)
{
	return (struct virtio_vsock_hdr){.src_cid = GUEST, .dst_cid = HOST,
					 .src_port = guest_port, .dst_port = host_port, .len = len,
					 .type = VIRTIO_VSOCK_TYPE_STREAM, .op = op,
					 .buf_alloc = 256 * 1024};
}

/* A packet of `chain_len` bytes: the header, then `payload`. */
static void send_raw(const struct virtio_vsock_hdr *h, const void *payload, uint32_t plen,
		     uint32_t chain_len, bool kick)
{
	uint16_t d = fx.next_desc[TXQ]++ % QS;
	uint64_t addr = TX_BUFS + (uint64_t)d * TX_SLOT;
	uint8_t *buf = gpa(addr, TX_SLOT);
	memcpy(buf, h, chain_len < HDR ? chain_len : HDR);
	if (payload)
		memcpy(buf + HDR, payload, plen);
	desc(TXQ)[d] = (struct vring_desc){.addr = addr, .len = chain_len};
	make_available(TXQ, d);
	if (kick)
		notify(TXQ);
}

static void send_pkt(const struct virtio_vsock_hdr *h, const void *payload)
{
	send_raw(h, payload, h->len, (uint32_t)HDR + h->len, true);
}

/* The next packet the device gave the guest, within 2 s: its payload
 * length, or -1 when none came. */
static int next_rx(struct virtio_vsock_hdr *h, void *payload, size_t max)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(&used(RXQ)->idx, __ATOMIC_ACQUIRE) != fx.used_seen) {
			struct vring_used_elem e = used(RXQ)->ring[fx.used_seen++ % QS];
			assert_true(e.len >= HDR && e.len <= RX_BUF_SIZE);
			const uint8_t *buf = gpa(RX_BUFS + e.id * RX_BUF_SIZE, RX_BUF_SIZE);
			memcpy(h, buf, HDR);
			assert_int_equal(h->len, e.len - HDR);
			if (payload)
				memcpy(payload, buf + HDR, h->len < max ? h->len : max);
			if (!fx.keep_rx)
				post_rx(1); /* the buffer back, as a driver does */
			return (int)h->len;
		}
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	return -1;
}

static void expect_rx(uint16_t op, uint32_t guest_port, uint32_t host_port)
{
	struct virtio_vsock_hdr h;
	assert_int_equal(next_rx(&h, NULL, 0), 0);
	assert_int_equal(h.op, op);
	assert_int_equal(h.src_cid, HOST);
	assert_int_equal(h.dst_cid, GUEST);
	assert_int_equal(h.dst_port, guest_port);
	assert_int_equal(h.src_port, host_port);
}

static void expect_no_rx(void)
{
	nanosleep(&(struct timespec){0, 50000000}, NULL);
	assert_int_equal(__atomic_load_n(&used(RXQ)->idx, __ATOMIC_ACQUIRE), fx.used_seen);
}

/* A connection from guest port `gp` to host port `hp`, accepted. */
static void open_conn(uint32_t gp, uint32_t hp)
{
	struct virtio_vsock_hdr h = hdr(VIRTIO_VSOCK_OP_REQUEST, gp, hp, 0);
	send_pkt(&h, NULL);
	expect_rx(VIRTIO_VSOCK_OP_RESPONSE, gp, hp);
}

static void test_malformed_packets(void **state)
{
	start(false);
	post_rx(8);
	/* A chain shorter than a header: dropped, nothing to answer. */
	struct virtio_vsock_hdr h = hdr(VIRTIO_VSOCK_OP_REQUEST, 1000, 80, 0);
	send_raw(&h, NULL, 0, 10, true);
	expect_no_rx();
	assert_int_equal(fx.dev.stats.dropped, 1);
	/* Not from the guest's CID (also its upper half): dropped. */
	h.src_cid = 1ULL << 32 | GUEST;
	send_pkt(&h, NULL);
	h.src_cid = HOST;
	send_pkt(&h, NULL);
	expect_no_rx();
	assert_int_equal(fx.connects, 0);
	/* Not for the host: RST. */
	h = hdr(VIRTIO_VSOCK_OP_REQUEST, 1001, 80, 0);
	h.dst_cid = 7;
	send_pkt(&h, NULL);
	expect_rx(VIRTIO_VSOCK_OP_RST, 1001, 80);
	/* `len` beyond the chain: RST. */
	h = hdr(VIRTIO_VSOCK_OP_REQUEST, 1002, 80, 1000);
	send_raw(&h, "x", 1, HDR + 1, true);
	expect_rx(VIRTIO_VSOCK_OP_RST, 1002, 80);
	h.len = UINT32_MAX;
	send_raw(&h, "x", 1, HDR + 1, true);
	expect_rx(VIRTIO_VSOCK_OP_RST, 1002, 80);
	/* Not a stream: RST of the same type. */
	h = hdr(VIRTIO_VSOCK_OP_REQUEST, 1003, 80, 0);
	h.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
	send_pkt(&h, NULL);
	struct virtio_vsock_hdr r;
	assert_int_equal(next_rx(&r, NULL, 0), 0);
	assert_int_equal(r.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(r.type, VIRTIO_VSOCK_TYPE_SEQPACKET);
	assert_int_equal(fx.connects, 0);
	/* Packets for no connection: RST, except RST itself. */
	static const uint16_t ops[] = {VIRTIO_VSOCK_OP_RESPONSE, VIRTIO_VSOCK_OP_SHUTDOWN,
				       VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_OP_CREDIT_UPDATE,
				       VIRTIO_VSOCK_OP_CREDIT_REQUEST, VIRTIO_VSOCK_OP_INVALID, 99};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		h = hdr(ops[i], 2000 + (uint32_t)i, 81, ops[i] == VIRTIO_VSOCK_OP_RW ? 3 : 0);
		send_pkt(&h, "abc");
		expect_rx(VIRTIO_VSOCK_OP_RST, 2000 + (uint32_t)i, 81);
	}
	h = hdr(VIRTIO_VSOCK_OP_RST, 3000, 81, 0);
	send_pkt(&h, NULL);
	expect_no_rx();
	assert_false(fx.dev.mmio.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(fx.dev.nconns, 0);
}

static void test_bad_packets_on_a_connection(void **state)
{
	start(false);
	post_rx(12);
	int sv[2];
	static const uint16_t bad[] = {VIRTIO_VSOCK_OP_REQUEST, VIRTIO_VSOCK_OP_RESPONSE, 99};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
		fx.connect_fd = sv[0];
		open_conn(4000, 90);
		assert_int_equal(fx.dev.nconns, 1);
		/* A second REQUEST, a RESPONSE nobody asked for, an unknown op:
		 * the connection ends with RST and its host socket closes. */
		struct virtio_vsock_hdr h = hdr(bad[i], 4000, 90, 0);
		send_pkt(&h, NULL);
		expect_rx(VIRTIO_VSOCK_OP_RST, 4000, 90);
		assert_int_equal(fx.dev.nconns, 0);
		char c;
		assert_int_equal(read(sv[1], &c, 1), 0);
		close(sv[1]);
	}
	/* RW after the guest's SHUTDOWN SEND. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	fx.connect_fd = sv[0];
	open_conn(4001, 90);
	struct virtio_vsock_hdr h = hdr(VIRTIO_VSOCK_OP_SHUTDOWN, 4001, 90, 0);
	h.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
	send_pkt(&h, NULL);
	h = hdr(VIRTIO_VSOCK_OP_RW, 4001, 90, 2);
	send_pkt(&h, "hi");
	expect_rx(VIRTIO_VSOCK_OP_RST, 4001, 90);
	char buf[4];
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 0);
	close(sv[1]);
}

static void test_credit_overrun(void **state)
{
	start(false);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	fx.connect_fd = sv[0];
	fx.keep_rx = true;
	post_rx(1);
	open_conn(5000, 91);
	/* No rx buffers: the guest hears of no forwarded bytes, so its credit
	 * is what we advertised. All of it is fine... */
	static uint8_t payload[VIRTIO_VSOCK_BUF_ALLOC / 2];
	memset(payload, 0x5a, sizeof(payload));
	for (int i = 0; i < 2; i++) {
		struct virtio_vsock_hdr h = hdr(VIRTIO_VSOCK_OP_RW, 5000, 91, sizeof(payload));
		send_pkt(&h, payload);
	}
	assert_int_equal(fx.dev.nconns, 1);
	/* ...one byte more is not. */
	struct virtio_vsock_hdr h = hdr(VIRTIO_VSOCK_OP_RW, 5000, 91, 1);
	send_pkt(&h, "x");
	assert_int_equal(fx.dev.nconns, 0);
	post_rx(1);
	expect_rx(VIRTIO_VSOCK_OP_RST, 5000, 91);
	/* What it sent within its credit reached the host, in order. */
	static uint8_t got[VIRTIO_VSOCK_BUF_ALLOC + 1];
	size_t n = 0;
	ssize_t r;
	while ((r = read(sv[1], got + n, sizeof(got) - n)) > 0)
		n += (size_t)r;
	assert_true(n <= VIRTIO_VSOCK_BUF_ALLOC);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], 0x5a);
	close(sv[1]);
}

/* Saved only without connections; restore takes only what save wrote. */
static void test_save_restore(void **state)
{
	start(false);
	const struct virtio_device_ops *ops = fx.dev.mmio.ops;
	struct bytes b = {0};
	assert_int_equal(ops->save(&fx.dev.mmio, &b), 0);
	assert_int_equal(ops->restore(&fx.dev.mmio, b.data, b.len), 0);
	assert_int_equal(ops->restore(&fx.dev.mmio, b.data, b.len - 1), -EINVAL);
	uint32_t version = 2;
	assert_int_equal(ops->restore(&fx.dev.mmio, &version, sizeof(version)), -EINVAL);
	post_rx(4);
	open_conn(1234, 5678);
	assert_int_equal(fx.dev.nconns, 1);
	struct bytes busy = {0};
	assert_int_equal(ops->save(&fx.dev.mmio, &busy), -EBUSY);
	/* A restore starts from an empty table. */
	assert_int_equal(ops->restore(&fx.dev.mmio, b.data, b.len), 0);
	assert_int_equal(fx.dev.nconns, 0);
	bytes_free(&b);
	bytes_free(&busy);
}

static void test_connection_cap(void **state)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max < VIRTIO_VSOCK_MAX_CONNS + 64)
		skip();
	rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	start(false);
	for (uint32_t i = 0; i <= VIRTIO_VSOCK_MAX_CONNS; i++) {
		struct virtio_vsock_hdr h = hdr(VIRTIO_VSOCK_OP_REQUEST, 10000 + i, 92, 0);
		send_raw(&h, NULL, 0, HDR, (i + 1) % 8 == 0 || i == VIRTIO_VSOCK_MAX_CONNS);
	}
	assert_int_equal(fx.dev.nconns, VIRTIO_VSOCK_MAX_CONNS);
	assert_int_equal(fx.connects, VIRTIO_VSOCK_MAX_CONNS);
	/* The one past the cap is refused first; the others' RESPONSEs wait
	 * for buffers, bounded by the cap. */
	post_rx(1);
	expect_rx(VIRTIO_VSOCK_OP_RST, 10000 + VIRTIO_VSOCK_MAX_CONNS, 92);
	post_rx(1);
	struct virtio_vsock_hdr r;
	assert_int_equal(next_rx(&r, NULL, 0), 0);
	assert_int_equal(r.op, VIRTIO_VSOCK_OP_RESPONSE);
	/* A guest RST frees a slot: the next connection is taken. */
	struct virtio_vsock_hdr h = hdr(VIRTIO_VSOCK_OP_RST, 10000, 92, 0);
	send_pkt(&h, NULL);
	h = hdr(VIRTIO_VSOCK_OP_REQUEST, 20000, 92, 0);
	send_pkt(&h, NULL);
	assert_int_equal(fx.dev.nconns, VIRTIO_VSOCK_MAX_CONNS);
	assert_int_equal(fx.connects, VIRTIO_VSOCK_MAX_CONNS + 1);
}

/* Reads until `n` bytes came or 2 s passed. */
static size_t read_wait(int fd, void *buf, size_t n)
{
	size_t got = 0;
	for (int i = 0; i < 2000 && got < n; i++) {
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			break;
		else
			nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	return got;
}

/* Whether the peer closed `fd` (end of file or reset) within 2 s. */
static bool closed_by_peer(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;
	if (poll(&p, 1, 2000) != 1)
		return false;
	ssize_t r = read(fd, &c, 1);
	return r == 0 || (r < 0 && errno == ECONNRESET);
}

static struct sockaddr_un unix_addr(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	assert_true(snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) < (int)sizeof(sa.sun_path));
	return sa;
}

static int unix_listen(const char *path)
{
	struct sockaddr_un sa = unix_addr(path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = unix_addr(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void test_unix_guest_to_host(void **state)
{
	start(true);
	post_rx(8);
	char path[128];
	snprintf(path, sizeof(path), "%s/v.sock_7000", fx.dir);
	int l = unix_listen(path);
	/* Nobody at PATH_7001: RST. */
	struct virtio_vsock_hdr h = hdr(VIRTIO_VSOCK_OP_REQUEST, 6001, 7001, 0);
	send_pkt(&h, NULL);
	expect_rx(VIRTIO_VSOCK_OP_RST, 6001, 7001);
	/* PATH_7000: connected, bytes both ways. */
	open_conn(6000, 7000);
	int peer = accept(l, NULL, NULL);
	assert_true(peer >= 0);
	h = hdr(VIRTIO_VSOCK_OP_RW, 6000, 7000, 5);
	send_pkt(&h, "hello");
	char buf[16] = {0};
	assert_int_equal(read_wait(peer, buf, 5), 5);
	assert_string_equal(buf, "hello");
	assert_int_equal(write(peer, "world!", 6), 6);
	struct virtio_vsock_hdr r;
	char data[RX_BUF_SIZE];
	assert_int_equal(next_rx(&r, data, sizeof(data)), 6);
	assert_int_equal(r.op, VIRTIO_VSOCK_OP_RW);
	assert_memory_equal(data, "world!", 6);
	/* The host closes: SHUTDOWN SEND; the guest closes: RST. */
	close(peer);
	assert_int_equal(next_rx(&r, NULL, 0), 0);
	assert_int_equal(r.op, VIRTIO_VSOCK_OP_SHUTDOWN);
	assert_int_equal(r.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
	h = hdr(VIRTIO_VSOCK_OP_SHUTDOWN, 6000, 7000, 0);
	h.flags = VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV;
	send_pkt(&h, NULL);
	expect_rx(VIRTIO_VSOCK_OP_RST, 6000, 7000);
	assert_int_equal(fx.dev.nconns, 0);
	close(l);
}

static void test_unix_host_to_guest(void **state)
{
	start(true);
	post_rx(8);
	char path[128];
	snprintf(path, sizeof(path), "%s/v.sock", fx.dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* A bad line: closed, the guest hears nothing. */
	int bad = unix_connect(path);
	assert_int_equal(write(bad, "CONNECT x\n", 10), 10);
	assert_true(closed_by_peer(bad));
	close(bad);
	/* A line longer than VSOCK_UNIX_LINE_MAX: closed as well. */
	bad = unix_connect(path);
	char junk[VSOCK_UNIX_LINE_MAX + 8];
	memset(junk, '7', sizeof(junk));
	assert_int_equal(write(bad, junk, sizeof(junk)), sizeof(junk));
	assert_true(closed_by_peer(bad));
	close(bad);
	expect_no_rx();
	/* CONNECT 8000: a REQUEST to the guest's port 8000. */
	int cl = unix_connect(path);
	assert_int_equal(write(cl, "CONNECT 8000\n", 13), 13);
	struct virtio_vsock_hdr r;
	assert_int_equal(next_rx(&r, NULL, 0), 0);
	assert_int_equal(r.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(r.dst_port, 8000);
	uint32_t host_port = r.src_port;
	assert_true(host_port >= VIRTIO_VSOCK_HOST_PORT_FIRST);
	struct virtio_vsock_hdr h = hdr(VIRTIO_VSOCK_OP_RESPONSE, 8000, host_port, 0);
	send_pkt(&h, NULL);
	char line[32] = {0}, want[32];
	snprintf(want, sizeof(want), "OK %u\n", host_port);
	assert_int_equal(read_wait(cl, line, strlen(want)), strlen(want));
	assert_string_equal(line, want);
	assert_int_equal(write(cl, "ping", 4), 4);
	char data[RX_BUF_SIZE];
	assert_int_equal(next_rx(&r, data, sizeof(data)), 4);
	assert_memory_equal(data, "ping", 4);
	h = hdr(VIRTIO_VSOCK_OP_RW, 8000, host_port, 4);
	send_pkt(&h, "pong");
	char buf[8] = {0};
	assert_int_equal(read_wait(cl, buf, 4), 4);
	assert_string_equal(buf, "pong");
	/* The client closes: SHUTDOWN SEND; the guest closes too. */
	close(cl);
	assert_int_equal(next_rx(&r, NULL, 0), 0);
	assert_int_equal(r.op, VIRTIO_VSOCK_OP_SHUTDOWN);
	h = hdr(VIRTIO_VSOCK_OP_SHUTDOWN, 8000, host_port, 0);
	h.flags = VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV;
	send_pkt(&h, NULL);
	expect_rx(VIRTIO_VSOCK_OP_RST, 8000, host_port);
	/* A guest that refuses: the client's socket closes. */
	cl = unix_connect(path);
	assert_int_equal(write(cl, "CONNECT 8001\n", 13), 13);
	assert_int_equal(next_rx(&r, NULL, 0), 0);
	assert_int_equal(r.op, VIRTIO_VSOCK_OP_REQUEST);
	h = hdr(VIRTIO_VSOCK_OP_RST, 8001, r.src_port, 0);
	send_pkt(&h, NULL);
	assert_true(closed_by_peer(cl));
	close(cl);
}

/* Clients that hang up in the middle of their CONNECT line free their
 * slot at once, not at their deadline: with every slot taken by such
 * clients, the next one is served within 2 s (the deadline is 5 s). */
static void test_unix_hang_up_mid_line(void **state)
{
	start(true);
	post_rx(8);
	char path[128];
	snprintf(path, sizeof(path), "%s/v.sock", fx.dir);
	for (int i = 0; i < VSOCK_UNIX_PENDING_MAX; i++) {
		int half = unix_connect(path);
		assert_int_equal(write(half, "CONNECT 9", 9), 9);
		close(half);
	}
	/* Their hang-ups reach the I/O thread before the next client does. */
	usleep(200 * 1000);
	int cl = unix_connect(path);
	assert_int_equal(write(cl, "CONNECT 8002\n", 13), 13);
	struct virtio_vsock_hdr r;
	assert_int_equal(next_rx(&r, NULL, 0), 0);
	assert_int_equal(r.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(r.dst_port, 8002);
	close(cl);
}

static void test_unix_path_checks(void **state)
{
	start(true);
	char path[128];
	nook_error *err = NULL;
	struct vsock_unix *u = NULL;
	/* PATH in use by this very VM: refused. */
	snprintf(path, sizeof(path), "%s/v.sock", fx.dir);
	assert_int_equal(vsock_unix_open(path, &fx.loop, &u, &err), -EADDRINUSE);
	assert_non_null(strstr(nook_error_message(err), path));
	nook_error_free(err);
	err = NULL;
	/* A regular file: refused. */
	snprintf(path, sizeof(path), "%s/file", fx.dir);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	assert_int_equal(vsock_unix_open(path, &fx.loop, &u, &err), -EEXIST);
	assert_non_null(strstr(nook_error_message(err), "not a socket"));
	nook_error_free(err);
	err = NULL;
	/* A stale socket: replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", fx.dir);
	close(unix_listen(path));
	assert_int_equal(vsock_unix_open(path, &fx.loop, &u, &err), 0);
	vsock_unix_destroy(u);
	static const struct {
		const char *line;
		int64_t port;
	} lines[] = {{"CONNECT 0", 0}, {"CONNECT 4294967294", 4294967294LL},
		     {"CONNECT 4294967295", -EINVAL}, {"CONNECT 99999999999", -EINVAL},
		     {"CONNECT ", -EINVAL}, {"CONNECT -1", -EINVAL}, {"connect 1", -EINVAL},
		     {"CONNECT 1 ", -EINVAL}, {"CONNECT 1\r", -EINVAL}};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		assert_int_equal(vsock_unix_parse_connect(lines[i].line, strlen(lines[i].line)),
				 lines[i].port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_malformed_packets, teardown),
		cmocka_unit_test_teardown(test_bad_packets_on_a_connection, teardown),
		cmocka_unit_test_teardown(test_credit_overrun, teardown),
		cmocka_unit_test_teardown(test_save_restore, teardown),
		cmocka_unit_test_teardown(test_connection_cap, teardown),
		cmocka_unit_test_teardown(test_unix_guest_to_host, teardown),
		cmocka_unit_test_teardown(test_unix_host_to_guest, teardown),
		cmocka_unit_test_teardown(test_unix_hang_up_mid_line, teardown),
		cmocka_unit_test_teardown(test_unix_path_checks, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
