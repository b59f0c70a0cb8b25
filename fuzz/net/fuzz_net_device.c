/* Fuzz target for the guest-facing side of virtio-net: a driver negotiates
 * the features the input asks for (mergeable receive buffers, checksum
 * offload both ways, or ones never offered) and sets up both queues,
 * whose rings and buffers are the input's bytes in guest memory: hostile
 * descriptor chains, virtio-net headers (checksum requests, segmentation
 * it was not offered), frames through the scope filter to a backend, and
 * frames from the backend into the guest's receive buffers. The machine
 * is a real KVM VM (no vCPU runs); without /dev/kvm the target does
 * nothing. Any crash, leak or sanitizer report is a bug, and so is a
 * frame handed to the backend outside [14, NET_FRAME_MAX] bytes.
 *
 * Input: byte 0: features (bit 0 MRG_RXBUF, 1 CSUM, 2 GUEST_CSUM, 3 MAC,
 * 7 one never offered); byte 1: the filter (bits 0-1 scope, bit 2 the host
 * loopback granted, bit 3 published ports); byte 2: log2 of the transmit
 * queue's size (low nibble) and where the driver reads the config space
 * (high nibble), byte 3: log2 of the receive queue's size and how many
 * bytes it reads there (1 + bits 4-6); bytes 4-5: big-endian length of
 * the frames the backend has for the guest (each a 2-byte big-endian
 * length and the frame; length 0: the backend ends there); the rest is
 * guest memory from
 * IMAGE_GPA on: the transmit queue's rings at TX_RING, the receive
 * queue's at RX_RING (descriptor table, available ring AVAIL further,
 * used ring USED further: room for 16 entries, larger queues overlap),
 * buffers anywhere. */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/virtio/net.h"
#include "x86/layout.h"
#include "x86/machine.h"

#define MEMORY (2 << 20)
#define IMAGE_GPA 0x10000
#define IMAGE_MAX 0x10000
#define TX_RING 0x10000
#define RX_RING 0x10800
#define AVAIL 0x400
#define USED 0x600
#define RX_QUEUE 0
#define TX_QUEUE 1

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t guest_mac[6] = {0x02, 0x4e, 0x4f, 0x4f, 0x4b, 0x01};
static const struct net_filter_port ports[] = {
	{8080, NOOK_PORT_PROTOCOL_TCP},
	{5353, NOOK_PORT_PROTOCOL_UDP},
};

/* The backend's frames for the guest: what is left of the input's. */
static const uint8_t *rx_blob;
static size_t rx_left;

static int backend_send(void *opaque, const void *frame, size_t len)
{
	if (len < 14 || len > NET_FRAME_MAX)
		abort();
	return 0;
}

static ssize_t backend_recv(void *opaque, void *buf, size_t size)
{
	if (rx_left < 2)
		return -EAGAIN;
	size_t len = (size_t)(rx_blob[0] << 8 | rx_blob[1]);
	if (len == 0)
		return -EPIPE;
	if (len > rx_left - 2)
		len = rx_left - 2;
	if (len > size)
		len = size;
	memcpy(buf, rx_blob + 2, len);
	rx_blob += 2 + len;
	rx_left -= 2 + len;
	return (ssize_t)len;
}

static struct machine machine;
static struct event_loop loop;
static struct virtio_net net;

static bool set_up(void)
{
	machine_init(&machine);
	nook_error *err = NULL;
	if (x86_machine_create(&machine, MEMORY, kvm_host_is_pvm(), &err) < 0 ||
	    event_loop_init(&loop) < 0) {
		fprintf(stderr, "fuzz_net_device: no KVM machine (%s): nothing to do\n",
			err ? nook_error_message(err) : "event loop");
		nook_error_free(err);
		return false;
	}
	static const struct nook_net_backend cb = {backend_send, backend_recv, NULL};
	struct net_backend *b;
	struct net_filter f = {.network = 0x0a000200, .netmask = 0xffffff00, .gateway = 0x0a000202,
			       .dns = 0x0a000203, .guest = 0x0a00020f, .gateway_is_host_loopback = true};
	memcpy(f.mac, guest_mac, 6);
	if (net_custom_open(&cb, NULL, &b, &err) < 0 ||
	    virtio_net_init(&net, &machine, &loop, guest_mac, b, &f, LAYOUT_VIRTIO_MMIO_BASE,
			    LAYOUT_FIRST_DEVICE_IRQ, &err) < 0) {
		fprintf(stderr, "fuzz_net_device: %s\n", nook_error_message(err));
		abort();
	}
	b->checksums_valid = true;
	return true;
}

static void reg(uint32_t offset, uint32_t value)
{
	uint8_t v[4];
	io_data_put(v, 4, value);
	io_bus_access(&machine.mmio, LAYOUT_VIRTIO_MMIO_BASE + offset, v, 4, true);
}

/* The driver's side of initialisation (virtio 1.x, 3.1.1), with a read of
 * the config space where the input says. */
static void driver_init(uint8_t features, uint8_t tx, uint8_t rx)
{
	uint64_t want = 1ULL << VIRTIO_F_VERSION_1;
	static const unsigned bits[] = {VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_CSUM,
					VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_MAC};
	for (unsigned i = 0; i < 4; i++)
		if (features & (1u << i))
			want |= 1ULL << bits[i];
	if (features & 0x80)
		want |= 1ULL << VIRTIO_NET_F_GUEST_TSO4;
	reg(VIRTIO_MMIO_STATUS, 0);
	uint32_t status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	reg(VIRTIO_MMIO_STATUS, status);
	for (uint32_t sel = 0; sel < 2; sel++) {
		reg(VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		reg(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(want >> (32 * sel)));
	}
	reg(VIRTIO_MMIO_STATUS, status |= VIRTIO_CONFIG_S_FEATURES_OK);
	uint8_t config[8];
	io_bus_access(&machine.mmio, LAYOUT_VIRTIO_MMIO_BASE + VIRTIO_MMIO_CONFIG + (tx >> 4), config,
		      1 + ((rx >> 4) & 7), false);
	const struct {
		uint32_t index, ring;
		uint8_t log2;
	} queues[] = {{TX_QUEUE, TX_RING, tx & 15}, {RX_QUEUE, RX_RING, rx & 15}};
	for (unsigned i = 0; i < 2; i++) {
		reg(VIRTIO_MMIO_QUEUE_SEL, queues[i].index);
		reg(VIRTIO_MMIO_QUEUE_NUM, 1u << (queues[i].log2 % 9));
		reg(VIRTIO_MMIO_QUEUE_DESC_LOW, queues[i].ring);
		reg(VIRTIO_MMIO_QUEUE_AVAIL_LOW, queues[i].ring + AVAIL);
		reg(VIRTIO_MMIO_QUEUE_USED_LOW, queues[i].ring + USED);
		reg(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	/* DRIVER_OK processes both queues once. */
	reg(VIRTIO_MMIO_STATUS, status | VIRTIO_CONFIG_S_DRIVER_OK);
}

static void notify(uint16_t queue)
{
	pthread_mutex_lock(&net.mmio.lock);
	if (!(net.mmio.status & VIRTIO_CONFIG_S_NEEDS_RESET))
		net.mmio.ops->queue_notify(&net.mmio, queue);
	pthread_mutex_unlock(&net.mmio.lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready = -1;
	if (ready < 0)
		ready = set_up();
	if (!ready || size < 6)
		return 0;
	size_t blob = (size_t)(data[4] << 8 | data[5]);
	if (blob > size - 6)
		blob = size - 6;
	rx_blob = data + 6;
	rx_left = blob;
	const uint8_t *image = data + 6 + blob;
	size_t image_len = size - 6 - blob;
	if (image_len > IMAGE_MAX)
		image_len = IMAGE_MAX;

	/* Fresh guest memory: what the last input left is gone. */
	struct guest_region *ram = &machine.mem.regions[0];
	madvise(ram->hva, ram->size, MADV_DONTNEED);
	memcpy(guest_memory_ptr(&machine.mem, IMAGE_GPA, image_len), image, image_len);

	struct net_filter *f = &net.filter;
	f->scope = (enum nook_network_scope)(data[1] & 3);
	f->allow_host_loopback = data[1] & 4;
	f->ports = (data[1] & 8) ? ports : NULL;
	f->nports = (data[1] & 8) ? 2 : 0;
	memset(f->flows, 0, sizeof(f->flows));
	f->dhcp_guest = 0;

	driver_init(data[0], data[2], data[3]);
	notify(TX_QUEUE);
	notify(RX_QUEUE);
	return 0;
}
