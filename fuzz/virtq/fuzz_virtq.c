/* Fuzz target for split virtqueues (devices/virtio/queue.c) as a hostile
 * guest drives them: the input chooses the queue's size and ring addresses
 * (inside guest memory or not) and fills guest memory, then chains are
 * taken, read, written and returned until none is left or the queue
 * breaks. Every buffer handed out must lie inside guest memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/queue.h"

#define MEM_SIZE (256u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct header {
	uint16_t size;
	uint16_t pops;
	uint32_t desc, avail, used; /* offsets; may lie outside memory */
};

static void check_inside(const struct guest_memory *mem, const struct iovec *iov, unsigned n)
{
	const uint8_t *lo = mem->regions[0].hva, *hi = lo + MEM_SIZE;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;
		if (p < lo || p > hi || iov[i].iov_len > (size_t)(hi - p))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_memory mem;
	static struct virtq_chain chain;
	struct header h;
	if (size < sizeof(h))
		return 0;
	if (!mem.nregions && guest_memory_add(&mem, -1, 0, MEM_SIZE, NULL) < 0)
		abort();
	memcpy(&h, data, sizeof(h));
	memset(mem.regions[0].hva, 0, MEM_SIZE);
	size_t body = size - sizeof(h) < MEM_SIZE ? size - sizeof(h) : MEM_SIZE;
	memcpy(mem.regions[0].hva, data + sizeof(h), body);

	struct virtq q = {.mem = &mem, .size = h.size, .desc_gpa = h.desc, .avail_gpa = h.avail,
			  .used_gpa = h.used};
	if (virtq_activate(&q) < 0)
		return 0;
	uint8_t buf[512];
	for (unsigned i = 0; i < (h.pops & 1023); i++) {
		int r = virtq_pop(&q, &chain);
		if (r <= 0)
			break;
		check_inside(&mem, chain.out, chain.nout);
		check_inside(&mem, chain.in, chain.nin);
		size_t got = virtq_chain_read(&chain, i % 7, buf, sizeof(buf));
		size_t put = virtq_chain_write(&chain, i % 5, buf, got);
		virtq_push(&q, chain.head, (uint32_t)put);
		(void)virtq_needs_interrupt(&q);
		(void)virtq_has_available(&q);
		/* A guest may reset the queue between two requests. */
		if (i == 3 && (h.pops & 0x8000)) {
			virtq_reset(&q);
			virtq_push(&q, chain.head, 0);
		}
	}
	return 0;
}
