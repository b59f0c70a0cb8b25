/* Fuzz target for virtio-vsock (devices/virtio/vsock.c) with its UNIX-socket
 * host side (backends/vsock/unix.c) as a hostile guest drives them: the
 * input is a program of guest and host steps, run on a fake guest
 * (fuzz/fake_guest.h) whose transmit packets have any header (op, type,
 * ports, CIDs, length, flags, credit), payload and split over descriptors,
 * and whose receive and event buffers have any size and direction. The
 * host side is real: listening sockets at PATH_1..PATH_4 for the guest's
 * connections (their accepted peers write and close as the input says),
 * and clients of PATH that ask for guest ports, in a temporary directory.
 *
 * What must hold: no crash, leak or sanitizer report; the connection count
 * matches the table and stays at most VIRTIO_VSOCK_MAX_CONNS, the RST
 * backlog at most VIRTIO_VSOCK_RST_BACKLOG, what waits for a host socket
 * at most VIRTIO_VSOCK_BUF_ALLOC per connection; after the driver's reset
 * the process has the fds it had before the input.
 *
 * Input: byte 0: log2 of the rx (low nibble) and tx queue sizes; byte 1:
 * log2 of the event queue's; then steps, each a byte (low 3 bits: what)
 * and its arguments:
 *   0 TX: a byte of fix-ups (bit 0: source CID the guest's, 1: destination
 *     the host, 2: type STREAM, 3: op = (op & 7), 4: guest port 1000 +
 *     (port & 3), host port 1 + (port & 3) or, with dst_port bit 2, the
 *     first ports the host picks, 5: len = the payload's, 6: buf_alloc
 *     256 KiB, 7: a split byte follows), the 44-byte header, a 2-byte
 *     payload length (its first CONTENT bytes from the input, then
 *     zeroes) and the split byte (descriptors 1 + (s & 7); bit 3: one lies outside memory;
 *     bit 4: the last is device-writable; bits 5-7: the first is that many
 *     times 7 bytes);
 *   1 RX buffers: a count byte (1 + (c & 15)) and a shape byte (size from
 *     a table by bits 0-2; bit 3 device-readable; bit 4 in two
 *     descriptors);
 *   2 an event buffer;
 *   3 a host peer: a peer byte; bit 7: it reads all it has, else it
 *     writes a 2-byte length of bytes (CONTENT from the input, zeroes);
 *   4 a host peer ends: a peer byte (bit 7: shutdown for writing, else
 *     close);
 *   5 a host client of PATH: a byte (bit 7: a line of the input's next 16
 *     bytes; else "CONNECT 100x\n");
 *   6 the host's turn: accept the guest's connections, run the loop;
 *   7 a byte: bit 7 resets and restarts the driver, else notify queue
 *     (byte & 7). */
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/vsock/unix.h"
#include "devices/virtio/vsock.h"
#include "fuzz/fake_guest.h"
#include "x86/layout.h"

#define HDR sizeof(struct virtio_vsock_hdr)
#define HOST_PORTS 4
#define MAX_PEERS 64
/* Payload bytes taken from the input; the rest of a longer one is zeroes. */
#define CONTENT 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fake_guest g;
static struct virtio_vsock dev;
static struct vsock_unix *unix_host;
static char dir[64], path[96];
static int listeners[HOST_PORTS];
/* The host's ends: peers of guest connections and clients of PATH. */
static int peers[MAX_PEERS], npeers;

static void remove_dir(void)
{
	char p[160];
	for (int i = 0; i < HOST_PORTS; i++) {
		snprintf(p, sizeof(p), "%s_%d", path, i + 1);
		unlink(p);
	}
	unlink(path);
	rmdir(dir);
}

static bool set_up(void)
{
	if (!fake_guest_create(&g, "fuzz_vsock"))
		return false;
	snprintf(dir, sizeof(dir), "/tmp/nook-fuzz-vsock-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	atexit(remove_dir);
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	nook_error *err = NULL;
	struct virtio_vsock_host host;
	if (vsock_unix_open(path, &g.loop, &unix_host, &err) < 0)
		abort();
	vsock_unix_host(unix_host, &host);
	if (virtio_vsock_init(&dev, &g.machine, &g.loop, &host, g.base, LAYOUT_FIRST_DEVICE_IRQ,
			      &err) < 0 ||
	    vsock_unix_start(unix_host, &dev, &err) < 0) {
		fprintf(stderr, "fuzz_vsock: %s\n", nook_error_message(err));
		abort();
	}
	for (int i = 0; i < HOST_PORTS; i++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%d", path, i + 1);
		listeners[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (listeners[i] < 0 || bind(listeners[i], (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(listeners[i], 16) < 0)
			abort();
	}
	return true;
}

static size_t take(struct fuzz_input *in, void *dst, size_t len)
{
	size_t n = len < in->left ? len : in->left;
	memcpy(dst, in->p, n);
	memset((uint8_t *)dst + n, 0, len - n);
	in->p += n;
	in->left -= n;
	return n;
}

static void add_peer(int fd)
{
	if (npeers < MAX_PEERS)
		peers[npeers++] = fd;
	else
		close(fd);
}

static void check(void)
{
	unsigned live = 0;
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++) {
		const struct virtio_vsock_conn *c = &dev.conns[i];
		if (c->state == VSOCK_CONN_FREE)
			continue;
		live++;
		if (c->pending_len > VIRTIO_VSOCK_BUF_ALLOC ||
		    c->pending_off + c->pending_len > VIRTIO_VSOCK_BUF_ALLOC)
			abort();
	}
	if (live != dev.nconns || dev.nconns > VIRTIO_VSOCK_MAX_CONNS ||
	    dev.nrst > VIRTIO_VSOCK_RST_BACKLOG)
		abort();
}

static void host_turn(void)
{
	for (int i = 0; i < HOST_PORTS; i++) {
		int fd;
		while ((fd = accept4(listeners[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
			add_peer(fd);
	}
	fake_guest_dispatch(&g);
}

static void tx_packet(struct fuzz_input *in)
{
	static const uint16_t ops[] = {
		VIRTIO_VSOCK_OP_REQUEST, VIRTIO_VSOCK_OP_RESPONSE, VIRTIO_VSOCK_OP_RST,
		VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_OP_CREDIT_UPDATE,
		VIRTIO_VSOCK_OP_CREDIT_REQUEST, VIRTIO_VSOCK_OP_INVALID};
	static uint8_t packet[HDR + 65535];
	uint8_t fix = fuzz_byte(in);
	struct virtio_vsock_hdr h;
	take(in, &h, HDR);
	size_t plen = fuzz_byte(in);
	plen |= (size_t)fuzz_byte(in) << 8;
	memset(packet + HDR + take(in, packet + HDR, plen < CONTENT ? plen : CONTENT), 0,
	       plen < CONTENT ? 0 : plen - CONTENT);
	uint8_t split = fix & 0x80 ? fuzz_byte(in) : 0;
	if (fix & 1)
		h.src_cid = VIRTIO_VSOCK_GUEST_CID;
	if (fix & 2)
		h.dst_cid = VIRTIO_VSOCK_HOST_CID;
	if (fix & 4)
		h.type = VIRTIO_VSOCK_TYPE_STREAM;
	if (fix & 8)
		h.op = ops[h.op & 7];
	if (fix & 16) {
		uint32_t first = h.dst_port & 4 ? VIRTIO_VSOCK_HOST_PORT_FIRST : 1;
		h.src_port = 1000 + (h.src_port & 3);
		h.dst_port = first + (h.dst_port & 3);
	}
	if (fix & 32)
		h.len = (uint32_t)plen;
	if (fix & 64)
		h.buf_alloc = 256 * 1024;
	memcpy(packet, &h, HDR);

	/* The packet over 1 + (split & 7) descriptors. */
	size_t total = HDR + plen, off = 0;
	unsigned n = 1 + (split & 7);
	struct fake_desc d[8];
	for (unsigned i = 0; i < n; i++) {
		size_t len = i + 1 == n ? total - off : (total - off) / (n - i);
		if (i == 0 && (split >> 5))
			len = (size_t)(split >> 5) * 7 < total ? (size_t)(split >> 5) * 7 : total;
		d[i] = (struct fake_desc){.addr = fake_guest_buffer(&g, packet + off, len),
					  .len = (uint32_t)len};
		off += len;
	}
	if (split & 8)
		d[n / 2].addr = FAKE_GUEST_MEMORY - 8;
	if (split & 16)
		d[n - 1].flags = VRING_DESC_F_WRITE;
	fake_guest_chain(&g, 1, d, n);
	fake_guest_notify(&g, 1);
}

static void rx_buffers(struct fuzz_input *in)
{
	static const uint32_t sizes[] = {0, 16, HDR - 1, HDR, HDR + 1, 256, 4096, HDR + 65536};
	unsigned count = 1 + (fuzz_byte(in) & 15);
	uint8_t shape = fuzz_byte(in);
	uint32_t len = sizes[shape & 7];
	uint16_t flags = shape & 8 ? 0 : VRING_DESC_F_WRITE;
	for (unsigned i = 0; i < count; i++) {
		struct fake_desc d[2] = {
			{.addr = fake_guest_buffer(&g, NULL, len), .len = len, .flags = flags}};
		if (shape & 16) {
			d[0].len = len / 2;
			d[1] = (struct fake_desc){.addr = d[0].addr + len / 2, .len = len - len / 2,
						  .flags = flags};
		}
		fake_guest_chain(&g, 0, d, shape & 16 ? 2 : 1);
	}
	fake_guest_notify(&g, 0);
}

static void peer_io(struct fuzz_input *in)
{
	static uint8_t buf[65535];
	uint8_t k = fuzz_byte(in);
	if (k & 0x80) {
		/* The peer reads what it has, as a host program would. */
		while (npeers && recv(peers[k % npeers], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		fake_guest_dispatch(&g);
		return;
	}
	size_t len = fuzz_byte(in);
	len |= (size_t)fuzz_byte(in) << 8;
	take(in, buf, len < CONTENT ? len : CONTENT);
	if (npeers && send(peers[k % npeers], buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* full or gone: as a host peer may be */
	}
	fake_guest_dispatch(&g);
}

static void peer_end(struct fuzz_input *in)
{
	uint8_t k = fuzz_byte(in);
	if (!npeers)
		return;
	int *fd = &peers[k % npeers];
	if (k & 0x80) {
		shutdown(*fd, SHUT_WR);
	} else {
		close(*fd);
		*fd = peers[--npeers];
	}
	fake_guest_dispatch(&g);
}

static void host_client(struct fuzz_input *in)
{
	uint8_t how = fuzz_byte(in);
	char line[32];
	size_t len;
	if (how & 0x80) {
		len = take(in, line, 16);
	} else {
		len = (size_t)snprintf(line, sizeof(line), "CONNECT %u\n", 1000 + (how & 3));
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		abort();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		close(fd);
		return;
	}
	add_peer(fd);
	fake_guest_dispatch(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready = -1;
	if (ready < 0)
		ready = set_up();
	if (!ready || size < 2)
		return 0;
	struct fuzz_input in = {data + 2, size - 2};
	const uint8_t log2[3] = {data[0] & 15, data[0] >> 4, data[1] & 15};
	/* Counted per input: libFuzzer's symbolizer opens fds of its own between
	 * inputs. */
	unsigned base_fds = fake_guest_open_fds(false);
	fake_guest_reset_memory(&g);
	dev.next_host_port = VIRTIO_VSOCK_HOST_PORT_FIRST;
	fake_guest_start(&g, 0, 3, log2);
	while (in.left) {
		uint8_t step = fuzz_byte(&in);
		switch (step & 7) {
		case 0:
			tx_packet(&in);
			break;
		case 1:
			rx_buffers(&in);
			break;
		case 2: {
			struct fake_desc d = {.addr = fake_guest_buffer(&g, NULL, 8), .len = 8,
					      .flags = VRING_DESC_F_WRITE};
			fake_guest_chain(&g, 2, &d, 1);
			fake_guest_notify(&g, 2);
			break;
		}
		case 3:
			peer_io(&in);
			break;
		case 4:
			peer_end(&in);
			break;
		case 5:
			host_client(&in);
			break;
		case 6:
			host_turn();
			break;
		default: {
			uint8_t b = fuzz_byte(&in);
			if (b & 0x80)
				fake_guest_start(&g, 0, 3, log2);
			else
				fake_guest_notify(&g, b & 7);
			break;
		}
		}
		check();
	}
	/* The driver goes away: every connection with it. */
	fake_guest_write_reg(&g, VIRTIO_MMIO_STATUS, 0);
	host_turn();
	while (npeers)
		close(peers[--npeers]);
	/* The backend sees its clients' end and closes them. */
	fake_guest_dispatch(&g);
	check();
	if (dev.nconns || fake_guest_open_fds(false) != base_fds) {
		fprintf(stderr, "fuzz_vsock: %u connections, fds (%u before):\n", dev.nconns, base_fds);
		fake_guest_open_fds(true);
		abort();
	}
	return 0;
}
