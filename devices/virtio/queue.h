/* Split virtqueues (virtio 1.x, 2.7). The rings live in guest memory, which
 * the guest may change at any time: every index and address read from it is
 * checked before use, and each descriptor is read once. */
#ifndef NOOK_DEVICES_VIRTIO_QUEUE_H
#define NOOK_DEVICES_VIRTIO_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "kvm/memory.h"

#define VIRTQ_MAX_SIZE 256

/* What a device's queues carried, for nook_vm_get_metrics(): the chains
 * the guest made available, the bytes of their readable buffers, and the
 * bytes the device wrote back; and the guest's queue notifications and the
 * interrupts the device raised (counted by the transport), which tell a
 * device that stalled because one side stopped hearing the other. Shared by
 * the device's queues (and its worker threads), kept across resets. */
struct virtq_counters {
	atomic_uint_least64_t chains, bytes_from_guest, bytes_to_guest;
	atomic_uint_least64_t notifications, interrupts;
};

struct virtq {
	const struct guest_memory *mem;
	struct virtq_counters *counters; /* NULL: metrics off */
	uint16_t size; /* number of descriptors; a power of 2 */
	bool ready;
	bool broken; /* the guest gave a malformed chain; the queue is dead */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail; /* next avail ring entry to take */
	uint16_t used_idx;   /* next used ring entry to fill */
	/* Changes at every reset: a chain taken before it (by a worker
	 * thread, say) must not be pushed after it. */
	uint32_t generation;
};

/* A descriptor chain: the buffers the device reads (out) then writes (in). */
struct virtq_chain {
	uint16_t head;
	unsigned nout, nin;
	struct iovec out[VIRTQ_MAX_SIZE];
	struct iovec in[VIRTQ_MAX_SIZE];
	uint64_t out_len, in_len;
};

/* Validates the ring addresses for `size` and marks the queue ready; -EINVAL
 * if they do not lie in guest memory or size is not a power of 2. */
int virtq_activate(struct virtq *q);
void virtq_reset(struct virtq *q);

/* The part of a queue a snapshot keeps, in the file's layout. */
struct virtq_state {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t size, last_avail, used_idx;
	uint8_t ready, broken;
};

void virtq_save(const struct virtq *q, struct virtq_state *st);
/* Loads a saved queue; -EINVAL (the queue left reset) when a ready queue's
 * size or ring addresses would not be accepted by virtq_activate(). */
int virtq_restore(struct virtq *q, const struct virtq_state *st);

/* Takes the next available chain: 1 when one was taken, 0 when none is
 * available, -EINVAL when the guest's chain is malformed (the queue is then
 * broken and returns -EINVAL from now on). */
int virtq_pop(struct virtq *q, struct virtq_chain *chain);

/* Returns a chain to the guest with `written` bytes written into its
 * in-buffers; does nothing on a queue that is not ready (reset meanwhile). */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);

/* Whether the guest wants an interrupt for the buffers just pushed. */
bool virtq_needs_interrupt(const struct virtq *q);

/* Whether the guest has made chains available that we have not taken. */
bool virtq_has_available(const struct virtq *q);

/* Copies up to `len` bytes of the chain's out-buffers, from `offset` on,
 * into `dst`; returns the number copied. */
size_t virtq_chain_read(const struct virtq_chain *c, size_t offset, void *dst, size_t len);
/* Copies `len` bytes into the chain's in-buffers from `offset` on; returns
 * the number copied (less when they are too small). */
size_t virtq_chain_write(const struct virtq_chain *c, size_t offset, const void *src, size_t len);

#endif
