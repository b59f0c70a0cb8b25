#include "fuzz/fake_guest.h"

#include <dirent.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "x86/layout.h"
#include "x86/machine.h"

#define RING(q) (FAKE_GUEST_RINGS + (uint64_t)(q) * 0x4000)
#define AVAIL 0x1000
#define USED 0x2000

bool fake_guest_create(struct fake_guest *g, const char *target)
{
	memset(g, 0, sizeof(*g));
	machine_init(&g->machine);
	nook_error *err = NULL;
	if (x86_machine_create(&g->machine, FAKE_GUEST_MEMORY, kvm_host_is_pvm(), &err) < 0 ||
	    event_loop_init(&g->loop) < 0) {
		fprintf(stderr, "%s: no KVM machine (%s): nothing to do\n", target,
			err ? nook_error_message(err) : "event loop");
		nook_error_free(err);
		return false;
	}
	g->base = LAYOUT_VIRTIO_MMIO_BASE;
	g->next_buffer = FAKE_GUEST_BUFFERS;
	return true;
}

void fake_guest_destroy(struct fake_guest *g)
{
	event_loop_destroy(&g->loop);
	machine_destroy(&g->machine);
}

void fake_guest_unplug(struct fake_guest *g)
{
	struct io_bus *bus = &g->machine.mmio;
	for (int i = 0; i < bus->n; i++)
		if (bus->ranges[i].base == g->base) {
			bus->ranges[i] = bus->ranges[--bus->n];
			return;
		}
}

void fake_guest_reset_memory(struct fake_guest *g)
{
	struct guest_region *ram = &g->machine.mem.regions[0];
	madvise(ram->hva, ram->size, MADV_DONTNEED);
	g->next_buffer = FAKE_GUEST_BUFFERS;
}

void fake_guest_write_reg(struct fake_guest *g, uint32_t offset, uint32_t value)
{
	uint8_t v[4];
	io_data_put(v, 4, value);
	io_bus_access(&g->machine.mmio, g->base + offset, v, 4, true);
}

void fake_guest_config(struct fake_guest *g, uint32_t offset, uint8_t *data, uint32_t len,
		       bool write)
{
	io_bus_access(&g->machine.mmio, g->base + VIRTIO_MMIO_CONFIG + offset, data, len, write);
}

void fake_guest_start(struct fake_guest *g, uint64_t features, unsigned nqueues,
		      const uint8_t *log2)
{
	features |= 1ULL << VIRTIO_F_VERSION_1;
	fake_guest_write_reg(g, VIRTIO_MMIO_STATUS, 0);
	uint32_t status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	fake_guest_write_reg(g, VIRTIO_MMIO_STATUS, status);
	for (uint32_t sel = 0; sel < 2; sel++) {
		fake_guest_write_reg(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		fake_guest_write_reg(g, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> (32 * sel)));
	}
	fake_guest_write_reg(g, VIRTIO_MMIO_STATUS, status |= VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < nqueues && q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		g->queues[q].size = (uint16_t)(1u << (log2[q] % 9));
		g->queues[q].avail_idx = g->queues[q].next_desc = 0;
		fake_guest_write_reg(g, VIRTIO_MMIO_QUEUE_SEL, q);
		fake_guest_write_reg(g, VIRTIO_MMIO_QUEUE_NUM, g->queues[q].size);
		fake_guest_write_reg(g, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)RING(q));
		fake_guest_write_reg(g, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)(RING(q) + AVAIL));
		fake_guest_write_reg(g, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(RING(q) + USED));
		fake_guest_write_reg(g, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	fake_guest_write_reg(g, VIRTIO_MMIO_STATUS, status | VIRTIO_CONFIG_S_DRIVER_OK);
}

uint64_t fake_guest_buffer(struct fake_guest *g, const void *data, size_t len)
{
	if (len > FAKE_GUEST_MEMORY - FAKE_GUEST_BUFFERS)
		len = FAKE_GUEST_MEMORY - FAKE_GUEST_BUFFERS;
	if (g->next_buffer + len > FAKE_GUEST_MEMORY)
		g->next_buffer = FAKE_GUEST_BUFFERS;
	uint64_t gpa = g->next_buffer;
	uint8_t *p = guest_memory_ptr(&g->machine.mem, gpa, len);
	if (data)
		memcpy(p, data, len);
	else
		memset(p, 0, len);
	/* 8-byte aligned, as drivers' buffers are. */
	g->next_buffer += (len + 7) & ~(size_t)7;
	return gpa;
}

void fake_guest_chain(struct fake_guest *g, unsigned q, const struct fake_desc *d, unsigned n)
{
	uint16_t size = g->queues[q].size;
	if (!size || !n)
		return;
	struct vring_desc *table = guest_memory_ptr(&g->machine.mem, RING(q), 16u * size);
	struct vring_avail *avail = guest_memory_ptr(&g->machine.mem, RING(q) + AVAIL, 6u + 2u * size);
	uint16_t head = g->queues[q].next_desc % size;
	for (unsigned i = 0; i < n; i++) {
		uint16_t at = (uint16_t)((head + i) % size);
		table[at] = (struct vring_desc){
			.addr = d[i].addr, .len = d[i].len,
			.flags = (uint16_t)(d[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)((at + 1) % size)};
	}
	g->queues[q].next_desc = (uint16_t)(head + n);
	avail->ring[g->queues[q].avail_idx % size] = head;
	__atomic_store_n(&avail->idx, ++g->queues[q].avail_idx, __ATOMIC_RELEASE);
}

void fake_guest_notify(struct fake_guest *g, unsigned q)
{
	fake_guest_write_reg(g, VIRTIO_MMIO_QUEUE_NOTIFY, q);
	fake_guest_dispatch(g);
}

void fake_guest_dispatch(struct fake_guest *g)
{
	/* Until nothing is ready; a source that stays ready for this long is
	 * one the I/O thread would spin on. */
	for (int round = 0; round < 1000; round++) {
		struct epoll_event evs[32];
		int n = epoll_wait(g->loop.epoll_fd, evs, 32, 0);
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			struct event_source *s = evs[i].data.ptr;
			if (s) /* NULL: the loop's own wake-up */
				s->fn(s->opaque, evs[i].events);
		}
	}
	fprintf(stderr, "fake guest: the event loop is still busy after 1000 rounds\n");
	abort();
}

unsigned fake_guest_open_fds(bool print)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		abort();
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char link[300], target[256];
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		ssize_t len = print ? readlink(link, target, sizeof(target) - 1) : -1;
		if (len >= 0)
			fprintf(stderr, "  fd %s: %.*s\n", e->d_name, (int)len, target);
		n++;
	}
	closedir(d);
	return n;
}
