/* A queue of frames in memory from one thread to another (one producer,
 * one consumer), so that a backend on a thread of its own costs a copy per
 * frame rather than system calls: the producer signals an eventfd only
 * when the queue was empty, and a consumer that finds it empty clears the
 * eventfd before it sleeps on it. A full queue takes no more frames, as a
 * full NIC would drop them. */
#ifndef NOOK_BACKENDS_NET_RING_H
#define NOOK_BACKENDS_NET_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct net_ring {
	uint8_t *buf;
	size_t size;                /* a power of 2 */
	_Atomic uint64_t head;      /* bytes ever written: the producer's */
	_Atomic uint64_t tail;      /* bytes ever consumed: the consumer's */
	uint64_t peeked;            /* where the frame being looked at ends */
	int event_fd;               /* readable when frames may be waiting */
};

/* A ring of `size` bytes (a power of 2 that holds two of the largest
 * frames): 0 or a negative errno. */
int net_ring_init(struct net_ring *r, size_t size);
void net_ring_destroy(struct net_ring *r);

/* Producer: appends frames in order; how many fitted, from the first on. */
unsigned net_ring_push(struct net_ring *r, const struct iovec *frames, unsigned n);

/* Consumer: the oldest frame, in place (the consumer may change it) until
 * net_ring_consume(); NULL when there is none, after clearing event_fd. */
uint8_t *net_ring_peek(struct net_ring *r, size_t *len);
void net_ring_consume(struct net_ring *r);

#endif
