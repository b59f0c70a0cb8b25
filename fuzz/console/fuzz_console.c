/* Fuzz target for the multiport virtio-console (devices/virtio/console.c)
 * as a hostile guest drives it: the input is a program of steps on a fake
 * guest (fuzz/fake_guest.h): control messages (any event, id, value and
 * length, names after them), control receive buffers of any size and
 * direction, port data and receive buffers on any queue, notifications of
 * any queue, resets; and the host's side of the ports: input written and
 * ended, output read or left to fill up. Three ports, made anew for every
 * input: port 0 on pipes (input and output, its output copied to a third
 * pipe when the input says), port 1 on a socket both ways (ending its
 * output when the guest closes it, when the input says), port 2 writing
 * to /dev/null (a regular file: never polled).
 *
 * What must hold: no crash, leak or sanitizer report; the pending control
 * messages stay within their bound; after the device is destroyed the
 * process has the fds it had before the input.
 *
 * Input: byte 0: bit 0 port 1 ends on close, bit 1 port 0's output is
 * copied; bytes 1-4: log2 of the eight queue sizes (nibbles); then steps,
 * each a byte (low 3 bits: what) and arguments:
 *   0 a control message: id, event, value bytes and a length byte (the
 *     message's 8 bytes cut to it, or followed by its bytes past 8 from
 *     the input);
 *   1 control receive buffers: a count byte (1 + (c & 7)) and a size
 *     byte (bit 7: device-readable; the rest, the size);
 *   2 port data: a queue byte (& 7), a 2-byte length (its first CONTENT
 *     bytes from the input, then zeroes) and a split byte (1 + (s & 3)
 *     descriptors; bit 2: one device-writable);
 *   3 receive buffers: a queue byte (& 7), a count byte (1 + (c & 7)) and
 *     a size byte (bit 7: device-readable; the rest times 16);
 *   4 the host writes to a port's input: port byte, length byte, bytes;
 *   5 the host reads what a port's output and the copy have;
 *   6 the host ends a port's input: port byte;
 *   7 a byte: bit 7 resets and restarts the driver, bit 6 resumes the
 *     ports (as after a restore), else notify queue (byte & 7). */
#include <fcntl.h>
#include <linux/virtio_console.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/virtio/console.h"
#include "fuzz/fake_guest.h"
#include "x86/layout.h"

#define PORTS 3
#define QUEUES (2 * (PORTS + 1))
#define CTRL_RX 2
#define CTRL_TX 3
#define CONTENT 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fake_guest g;
static struct virtio_console dev;
/* The host's ends: where it writes each port's input and reads its
 * output (-1: none), and the copy's read end. */
static int host_in[PORTS], host_out[PORTS], copy_read;

static void nonblocking(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void make_console(uint8_t how)
{
	int in0[2], out0[2], sock[2], copy[2];
	if (pipe2(in0, O_CLOEXEC) < 0 || pipe2(out0, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) < 0 ||
	    pipe2(copy, O_CLOEXEC) < 0)
		abort();
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	const struct virtio_console_port_config ports[PORTS] = {
		{.name = "stdio", .in_fd = in0[0], .out_fd = out0[1], .copy_output = how & 2},
		{.name = "socket", .in_fd = sock[0], .out_fd = sock[0], .end_on_close = how & 1},
		{.name = "a-name-of-sixty-three-bytes-which-is-as-long-as-a-name-may-be-x",
		 .in_fd = -1, .out_fd = null},
	};
	nook_error *err = NULL;
	if (null < 0 ||
	    virtio_console_init(&dev, &g.machine, &g.loop, ports, PORTS, 64, g.base,
				LAYOUT_FIRST_DEVICE_IRQ, &err) < 0 ||
	    virtio_console_copy_output(&dev, copy[1], &err) < 0) {
		fprintf(stderr, "fuzz_console: %s\n", err ? nook_error_message(err) : "fds");
		abort();
	}
	/* The device works on copies of its own. */
	close(in0[0]);
	close(out0[1]);
	close(sock[0]);
	close(copy[1]);
	close(null);
	host_in[0] = in0[1];
	host_out[0] = out0[0];
	host_in[1] = host_out[1] = sock[1];
	host_in[2] = host_out[2] = -1;
	copy_read = copy[0];
	nonblocking(in0[1]);
	nonblocking(out0[0]);
	nonblocking(sock[1]);
	nonblocking(copy[0]);
}

static void end_console(void)
{
	virtio_console_destroy(&dev);
	close(host_in[0]);
	close(host_out[0]);
	close(host_in[1]);
	close(copy_read);
}

static void ctrl_message(struct fuzz_input *in)
{
	uint8_t msg[8 + 255] = {0};
	struct virtio_console_control m = {.id = fuzz_byte(in), .event = fuzz_byte(in), .value = fuzz_byte(in)};
	memcpy(msg, &m, sizeof(m));
	size_t len = fuzz_byte(in);
	for (size_t i = sizeof(m); i < len; i++)
		msg[i] = fuzz_byte(in);
	struct fake_desc d = {.addr = fake_guest_buffer(&g, msg, len), .len = (uint32_t)len};
	fake_guest_chain(&g, CTRL_TX, &d, 1);
	fake_guest_notify(&g, CTRL_TX);
}

static void buffers(unsigned q, unsigned count, uint8_t shape, uint32_t scale)
{
	uint32_t len = (shape & 0x7f) * scale;
	for (unsigned i = 0; i < count; i++) {
		struct fake_desc d = {.addr = fake_guest_buffer(&g, NULL, len), .len = len,
				      .flags = shape & 0x80 ? 0 : VRING_DESC_F_WRITE};
		fake_guest_chain(&g, q, &d, 1);
	}
	fake_guest_notify(&g, q);
}

static void port_data(struct fuzz_input *in)
{
	static uint8_t buf[65535];
	unsigned q = fuzz_byte(in) & 7;
	size_t len = fuzz_byte(in);
	len |= (size_t)fuzz_byte(in) << 8;
	uint8_t split = fuzz_byte(in);
	memset(buf, 0, len);
	for (size_t i = 0; i < len && i < CONTENT; i++)
		buf[i] = fuzz_byte(in);
	unsigned n = 1 + (split & 3);
	struct fake_desc d[4];
	size_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t part = i + 1 == n ? len - off : (len - off) / (n - i);
		d[i] = (struct fake_desc){.addr = fake_guest_buffer(&g, buf + off, part),
					  .len = (uint32_t)part};
		off += part;
	}
	if (split & 4)
		d[n / 2].flags = VRING_DESC_F_WRITE;
	fake_guest_chain(&g, q, d, n);
	fake_guest_notify(&g, q);
}

static void host_write(struct fuzz_input *in)
{
	uint8_t buf[255];
	int port = fuzz_byte(in) % PORTS, fd = host_in[port];
	size_t len = fuzz_byte(in);
	for (size_t i = 0; i < len; i++)
		buf[i] = fuzz_byte(in);
	/* Port 1's socket may be shut down for writing (step 6). */
	if (fd >= 0 && (port == 1 ? send(fd, buf, len, MSG_NOSIGNAL) : write(fd, buf, len)) < 0) {
		/* full, or ended: as a host program may find it */
	}
	fake_guest_dispatch(&g);
}

static void host_read(void)
{
	static uint8_t buf[65536];
	for (int i = 0; i < PORTS; i++)
		while (host_out[i] >= 0 && read(host_out[i], buf, sizeof(buf)) > 0)
			;
	while (read(copy_read, buf, sizeof(buf)) > 0)
		;
	fake_guest_dispatch(&g);
}

static void host_end(struct fuzz_input *in)
{
	int port = fuzz_byte(in) % PORTS;
	if (port == 0 && host_in[0] >= 0) {
		close(host_in[0]);
		host_in[0] = -1;
	} else if (port == 1) {
		shutdown(host_in[1], SHUT_WR);
	}
	fake_guest_dispatch(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready = -1;
	if (ready < 0)
		ready = fake_guest_create(&g, "fuzz_console");
	if (!ready || size < 5)
		return 0;
	struct fuzz_input in = {data + 5, size - 5};
	const uint8_t log2[QUEUES] = {data[1] & 15, data[1] >> 4, data[2] & 15, data[2] >> 4,
				      data[3] & 15, data[3] >> 4, data[4] & 15, data[4] >> 4};
	/* Counted per input: libFuzzer's symbolizer opens fds of its own between
	 * inputs. */
	unsigned base_fds = fake_guest_open_fds(false);
	fake_guest_reset_memory(&g);
	make_console(data[0]);
	fake_guest_start(&g, 1ULL << VIRTIO_CONSOLE_F_MULTIPORT, QUEUES, log2);
	while (in.left) {
		uint8_t step = fuzz_byte(&in);
		switch (step & 7) {
		case 0:
			ctrl_message(&in);
			break;
		case 1: {
			unsigned count = 1 + (fuzz_byte(&in) & 7);
			buffers(CTRL_RX, count, fuzz_byte(&in), 1);
			break;
		}
		case 2:
			port_data(&in);
			break;
		case 3: {
			unsigned q = fuzz_byte(&in) & 7, count = 1 + (fuzz_byte(&in) & 7);
			buffers(q, count, fuzz_byte(&in), 16);
			break;
		}
		case 4:
			host_write(&in);
			break;
		case 5:
			host_read();
			break;
		case 6:
			host_end(&in);
			break;
		default: {
			uint8_t b = fuzz_byte(&in);
			if (b & 0x80)
				fake_guest_start(&g, 1ULL << VIRTIO_CONSOLE_F_MULTIPORT, QUEUES, log2);
			else if (b & 0x40)
				(b & 1 ? virtio_console_hold_input : virtio_console_release_input)(&dev);
			else
				fake_guest_notify(&g, b & 7);
			break;
		}
		}
		if (dev.npending > dev.max_pending)
			abort();
	}
	fake_guest_write_reg(&g, VIRTIO_MMIO_STATUS, 0);
	end_console();
	fake_guest_unplug(&g);
	if (fake_guest_open_fds(false) != base_fds) {
		fprintf(stderr, "fuzz_console: fds left (%u before):\n", base_fds);
		fake_guest_open_fds(true);
		abort();
	}
	return 0;
}
