/* A fake guest driver for the fuzz targets of virtio-mmio devices: a real
 * KVM machine (no vCPU runs) whose memory holds the queues' rings at fixed
 * addresses, a driver that brings the device up through its registers, and
 * descriptor chains written where the target says (inside guest memory or
 * not). The VM's event loop has no thread: fake_guest_dispatch() runs what
 * is ready, so that every run is the same. */
#ifndef NOOK_FUZZ_FAKE_GUEST_H
#define NOOK_FUZZ_FAKE_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/virtio/mmio.h"
#include "kvm/kvm.h"
#include "util/event_loop.h"

/* A fuzz input, read on: bytes past its end are zeroes. */
struct fuzz_input {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t fuzz_byte(struct fuzz_input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

#define FAKE_GUEST_MEMORY (4u << 20)
/* Queue q's descriptor table, avail and used rings: 16 KiB from here. */
#define FAKE_GUEST_RINGS 0x100000u
/* Buffers handed out by fake_guest_buffer(), up to the end of memory. */
#define FAKE_GUEST_BUFFERS 0x200000u

struct fake_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags; /* NEXT is added to all but the last */
};

struct fake_guest {
	struct machine machine;
	struct event_loop loop;
	uint64_t base;
	struct {
		uint16_t size, avail_idx, next_desc;
	} queues[VIRTIO_MMIO_MAX_QUEUES];
	uint64_t next_buffer;
};

/* The machine and its loop; false (a line on stderr) without KVM. */
bool fake_guest_create(struct fake_guest *g, const char *target);
void fake_guest_destroy(struct fake_guest *g);

/* Takes the device's MMIO window off the bus, after its destroy (which
 * leaves it: a VM's devices live as long as the VM), so that a target can
 * make a device anew on the same machine. Its KVM ioeventfds stay (a new
 * device's cannot register and its notifications take the register path,
 * as fake_guest_notify() does anyway). */
void fake_guest_unplug(struct fake_guest *g);

/* Fresh guest memory, zeroes only: what the last input left is gone. */
void fake_guest_reset_memory(struct fake_guest *g);

void fake_guest_write_reg(struct fake_guest *g, uint32_t offset, uint32_t value);
/* Config space access through the transport (any offset and length). */
void fake_guest_config(struct fake_guest *g, uint32_t offset, uint8_t *data, uint32_t len,
		       bool write);

/* The driver's initialisation (virtio 1.x, 3.1.1) from a reset: the
 * features it asks for (VERSION_1 added), `nqueues` queues of 2^(log2[i]
 * mod 9) entries, DRIVER_OK. */
void fake_guest_start(struct fake_guest *g, uint64_t features, unsigned nqueues,
		      const uint8_t *log2);

/* `len` bytes of `data` (NULL: zeroes) copied into guest memory: their
 * address. The area wraps around when full. */
uint64_t fake_guest_buffer(struct fake_guest *g, const void *data, size_t len);

/* The chain of `n` descriptors made available on queue `q` (not
 * notified). */
void fake_guest_chain(struct fake_guest *g, unsigned q, const struct fake_desc *d, unsigned n);

/* The guest's notification of queue `q` (any number): the register
 * written and the loop run, so the transport delivers it as on a VM. */
void fake_guest_notify(struct fake_guest *g, unsigned q);

/* Runs the loop's ready event sources until none is ready, without
 * waiting; aborts when they stay ready (the I/O thread would spin). */
void fake_guest_dispatch(struct fake_guest *g);

/* The process's open fds (an opendir's and the . and .. entries count
 * too); with `print`, each is listed on stderr. */
unsigned fake_guest_open_fds(bool print);

#endif
