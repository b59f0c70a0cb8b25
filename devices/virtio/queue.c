#include "devices/virtio/queue.h"

#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>

#include "util/iov.h"

static uint64_t desc_table_size(uint16_t size)
{
	return 16ULL * size;
}

static uint64_t avail_ring_size(uint16_t size)
{
	return 6 + 2ULL * size; /* flags, idx, ring[size], used_event */
}

static uint64_t used_ring_size(uint16_t size)
{
	return 6 + 8ULL * size; /* flags, idx, ring[size], avail_event */
}

int virtq_activate(struct virtq *q)
{
	if (q->size == 0 || q->size > VIRTQ_MAX_SIZE || (q->size & (q->size - 1)))
		return -EINVAL;
	if (!guest_memory_ptr(q->mem, q->desc_gpa, desc_table_size(q->size)) ||
	    !guest_memory_ptr(q->mem, q->avail_gpa, avail_ring_size(q->size)) ||
	    !guest_memory_ptr(q->mem, q->used_gpa, used_ring_size(q->size)) ||
	    (q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
		return -EINVAL;
	q->ready = true;
	q->broken = false;
	q->last_avail = 0;
	q->used_idx = 0;
	return 0;
}

void virtq_save(const struct virtq *q, struct virtq_state *st)
{
	*st = (struct virtq_state){.desc_gpa = q->desc_gpa, .avail_gpa = q->avail_gpa,
				   .used_gpa = q->used_gpa, .size = q->size,
				   .last_avail = q->last_avail, .used_idx = q->used_idx,
				   .ready = q->ready, .broken = q->broken};
}

int virtq_restore(struct virtq *q, const struct virtq_state *st)
{
	virtq_reset(q);
	q->size = st->size;
	q->desc_gpa = st->desc_gpa;
	q->avail_gpa = st->avail_gpa;
	q->used_gpa = st->used_gpa;
	if (!st->ready)
		return st->broken || st->last_avail || st->used_idx ? -EINVAL : 0;
	if (virtq_activate(q) < 0) {
		virtq_reset(q);
		return -EINVAL;
	}
	q->last_avail = st->last_avail;
	q->used_idx = st->used_idx;
	q->broken = st->broken != 0;
	return 0;
}

void virtq_reset(struct virtq *q)
{
	*q = (struct virtq){.mem = q->mem, .counters = q->counters, .generation = q->generation + 1};
}

static struct vring_avail *avail_ring(const struct virtq *q)
{
	return guest_memory_ptr(q->mem, q->avail_gpa, avail_ring_size(q->size));
}

static struct vring_used *used_ring(const struct virtq *q)
{
	return guest_memory_ptr(q->mem, q->used_gpa, used_ring_size(q->size));
}

bool virtq_has_available(const struct virtq *q)
{
	if (!q->ready || q->broken)
		return false;
	uint16_t idx = __atomic_load_n(&avail_ring(q)->idx, __ATOMIC_ACQUIRE);
	return idx != q->last_avail;
}

static int chain_fail(struct virtq *q)
{
	q->broken = true;
	return -EINVAL;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	if (!q->ready || q->broken)
		return q->broken ? -EINVAL : 0;
	struct vring_avail *avail = avail_ring(q);
	uint16_t avail_idx = __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE);
	if (avail_idx == q->last_avail)
		return 0;
	/* More than `size` outstanding chains cannot be right. */
	if ((uint16_t)(avail_idx - q->last_avail) > q->size)
		return chain_fail(q);
	uint16_t head = __atomic_load_n(&avail->ring[q->last_avail % q->size], __ATOMIC_RELAXED);
	if (head >= q->size)
		return chain_fail(q);

	const struct vring_desc *table = guest_memory_ptr(q->mem, q->desc_gpa, desc_table_size(q->size));
	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;
	uint16_t i = head;
	for (unsigned count = 0;; count++) {
		if (count >= q->size)
			return chain_fail(q); /* a loop */
		struct vring_desc d;
		memcpy(&d, &table[i], sizeof(d)); /* read once: the guest may change it */
		if (d.flags & VRING_DESC_F_INDIRECT)
			return chain_fail(q); /* not offered */
		void *p = guest_memory_ptr(q->mem, d.addr, d.len);
		if (!p)
			return chain_fail(q);
		if (d.flags & VRING_DESC_F_WRITE) {
			c->in[c->nin++] = (struct iovec){p, d.len};
			c->in_len += d.len;
		} else {
			if (c->nin)
				return chain_fail(q); /* readable after writable */
			c->out[c->nout++] = (struct iovec){p, d.len};
			c->out_len += d.len;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= q->size)
			return chain_fail(q);
		i = d.next;
	}
	q->last_avail++;
	if (q->counters) {
		atomic_fetch_add_explicit(&q->counters->chains, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&q->counters->bytes_from_guest, c->out_len,
					  memory_order_relaxed);
	}
	return 1;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	if (!q->ready)
		return;
	struct vring_used *used = used_ring(q);
	struct vring_used_elem *e = &used->ring[q->used_idx % q->size];
	__atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, written, __ATOMIC_RELAXED);
	q->used_idx++;
	__atomic_store_n(&used->idx, q->used_idx, __ATOMIC_RELEASE);
	if (q->counters)
		atomic_fetch_add_explicit(&q->counters->bytes_to_guest, written, memory_order_relaxed);
}

bool virtq_needs_interrupt(const struct virtq *q)
{
	/* VIRTIO_RING_F_EVENT_IDX is not offered: only the flag counts. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t flags = __atomic_load_n(&avail_ring(q)->flags, __ATOMIC_RELAXED);
	return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
}

size_t virtq_chain_read(const struct virtq_chain *c, size_t offset, void *dst, size_t len)
{
	return iov_to_buf(c->out, c->nout, offset, dst, len);
}

size_t virtq_chain_write(const struct virtq_chain *c, size_t offset, const void *src, size_t len)
{
	return iov_from_buf(c->in, c->nin, offset, src, len);
}
