#include "backends/net/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Each frame is a record: its length (4 bytes), 4 bytes of padding, the
 * frame, padding to 8 bytes. A record never wraps: where the next one
 * does not fit before the end, a SKIP length sends the consumer to the
 * start. */
#define RECORD_HEADER 8
#define SKIP UINT32_MAX

static size_t record_size(size_t len)
{
	return RECORD_HEADER + ((len + 7) & ~(size_t)7);
}

int net_ring_init(struct net_ring *r, size_t size)
{
	*r = (struct net_ring){.size = size, .event_fd = -1};
	r->buf = malloc(size);
	if (!r->buf)
		return -ENOMEM;
	r->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->event_fd < 0) {
		int e = errno;
		free(r->buf);
		r->buf = NULL;
		return -e;
	}
	return 0;
}

void net_ring_destroy(struct net_ring *r)
{
	free(r->buf);
	if (r->event_fd >= 0)
		close(r->event_fd);
	*r = (struct net_ring){.event_fd = -1};
}

static void put_length(struct net_ring *r, uint64_t at, uint32_t len)
{
	memcpy(r->buf + (at & (r->size - 1)), &len, sizeof(len));
}

unsigned net_ring_push(struct net_ring *r, const struct iovec *frames, unsigned n)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed), start = head;
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	unsigned i = 0;
	for (; i < n; i++) {
		size_t need = record_size(frames[i].iov_len);
		size_t to_end = r->size - (head & (r->size - 1));
		size_t skip = need > to_end ? to_end : 0;
		/* Full as far as the tail last seen tells: look again. */
		if (head + skip + need - tail > r->size)
			tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (frames[i].iov_len >= SKIP || head + skip + need - tail > r->size)
			break;
		if (skip) {
			put_length(r, head, SKIP);
			head += skip;
		}
		put_length(r, head, (uint32_t)frames[i].iov_len);
		memcpy(r->buf + (head & (r->size - 1)) + RECORD_HEADER, frames[i].iov_base,
		       frames[i].iov_len);
		head += need;
	}
	if (head == start)
		return 0;
	/* Publish, then look whether the consumer had emptied the ring: it
	 * stores its tail before it reads the head again, so one of the two
	 * sees the other (both sequentially consistent). */
	atomic_store_explicit(&r->head, head, memory_order_seq_cst);
	if (atomic_load_explicit(&r->tail, memory_order_seq_cst) == start) {
		uint64_t one = 1;
		ssize_t w = write(r->event_fd, &one, sizeof(one));
		(void)w; /* only fails when the counter is full: it is readable then */
	}
	return i;
}

uint8_t *net_ring_peek(struct net_ring *r, size_t *len)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	for (int cleared = 0;; cleared++) {
		uint64_t head = atomic_load_explicit(&r->head, memory_order_seq_cst);
		if (tail != head) {
			uint32_t l;
			memcpy(&l, r->buf + (tail & (r->size - 1)), sizeof(l));
			if (l == SKIP) {
				tail += r->size - (tail & (r->size - 1));
				atomic_store_explicit(&r->tail, tail, memory_order_seq_cst);
				continue;
			}
			*len = l;
			r->peeked = tail + record_size(l);
			return r->buf + (tail & (r->size - 1)) + RECORD_HEADER;
		}
		if (cleared)
			return NULL;
		/* Empty: clear the signal, then look once more, so that a frame
		 * pushed meanwhile is either seen now or signalled again. */
		uint64_t count;
		ssize_t rd = read(r->event_fd, &count, sizeof(count));
		(void)rd;
	}
}

void net_ring_consume(struct net_ring *r)
{
	atomic_store_explicit(&r->tail, r->peeked, memory_order_seq_cst);
}
