/* The frame ring between the device and the slirp thread: order, lengths,
 * wrapping, a full ring, the eventfd protocol, and two threads pushing and
 * draining 200,000 frames with no frame and no wakeup lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "backends/net/ring.h"

static bool signalled(const struct net_ring *r)
{
	struct pollfd p = {.fd = r->event_fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

static struct iovec frame(uint8_t *buf, size_t len, uint8_t fill)
{
	memset(buf, fill, len);
	return (struct iovec){buf, len};
}

static void test_order_and_wrap(void **state)
{
	struct net_ring r;
	assert_int_equal(net_ring_init(&r, 256), 0);
	assert_false(signalled(&r));
	uint8_t a[100], b[60], c[1];
	struct iovec two[2] = {frame(a, sizeof(a), 1), frame(b, sizeof(b), 2)};
	assert_int_equal(net_ring_push(&r, two, 2), 2); /* 112 + 72 bytes */
	assert_true(signalled(&r));
	size_t len;
	uint8_t *f = net_ring_peek(&r, &len);
	assert_non_null(f);
	assert_int_equal(len, 100);
	assert_int_equal(f[99], 1);
	net_ring_consume(&r);
	/* 72 bytes left to the end: this record does not fit there. */
	struct iovec big = frame(a, 100, 3);
	assert_int_equal(net_ring_push(&r, &big, 1), 1);
	assert_int_equal(r.head, 184 + 72 + 112);
	f = net_ring_peek(&r, &len);
	assert_int_equal(len, 60);
	assert_int_equal(f[0], 2);
	net_ring_consume(&r);
	f = net_ring_peek(&r, &len);
	assert_int_equal(len, 100);
	assert_ptr_equal(f, r.buf + 8); /* wrapped to the start */
	assert_int_equal(f[50], 3);
	net_ring_consume(&r);
	/* Empty: peek clears the signal. */
	assert_true(signalled(&r));
	assert_null(net_ring_peek(&r, &len));
	assert_false(signalled(&r));
	struct iovec one = frame(c, 1, 4);
	assert_int_equal(net_ring_push(&r, &one, 1), 1);
	assert_int_equal(net_ring_peek(&r, &len)[0], 4);
	assert_int_equal(len, 1);
	net_ring_destroy(&r);
}

static void test_full(void **state)
{
	struct net_ring r;
	assert_int_equal(net_ring_init(&r, 256), 0);
	uint8_t a[120];
	struct iovec three[3] = {frame(a, 120, 1), frame(a, 120, 1), frame(a, 120, 1)};
	/* 128-byte records: two fit, the third is dropped. */
	assert_int_equal(net_ring_push(&r, three, 3), 2);
	assert_int_equal(net_ring_push(&r, three, 1), 0);
	/* A frame larger than the ring never fits. */
	uint8_t huge[300];
	size_t len;
	net_ring_peek(&r, &len);
	net_ring_consume(&r);
	net_ring_peek(&r, &len);
	net_ring_consume(&r);
	assert_int_equal(net_ring_push(&r, &(struct iovec){huge, sizeof(huge)}, 1), 0);
	/* Pushing into a ring that is not empty does not signal again. */
	assert_null(net_ring_peek(&r, &len));
	assert_int_equal(net_ring_push(&r, three, 1), 1);
	assert_true(signalled(&r));
	uint64_t count;
	assert_int_equal(read(r.event_fd, &count, sizeof(count)), sizeof(count));
	assert_int_equal(net_ring_push(&r, three, 1), 1);
	assert_false(signalled(&r));
	net_ring_destroy(&r);
}

#define STRESS_FRAMES 200000

static void *producer(void *opaque)
{
	struct net_ring *r = opaque;
	uint8_t buf[4][300];
	for (uint32_t seq = 0; seq < STRESS_FRAMES;) {
		struct iovec batch[4];
		unsigned n = 0;
		for (; n < 4 && seq + n < STRESS_FRAMES; n++) {
			uint32_t s = seq + n;
			size_t len = 4 + s % 290;
			memcpy(buf[n], &s, 4);
			memset(buf[n] + 4, (uint8_t)s, len - 4);
			batch[n] = (struct iovec){buf[n], len};
		}
		seq += net_ring_push(r, batch, n);
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	struct net_ring r;
	assert_int_equal(net_ring_init(&r, 4096), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, producer, &r), 0);
	uint32_t next = 0;
	while (next < STRESS_FRAMES) {
		size_t len;
		uint8_t *f = net_ring_peek(&r, &len);
		if (!f) {
			/* Frames are coming: a lost wakeup would time out here. */
			struct pollfd p = {.fd = r.event_fd, .events = POLLIN};
			if (poll(&p, 1, 5000) != 1)
				fail_msg("no wakeup after frame %u", next);
			continue;
		}
		uint32_t s;
		memcpy(&s, f, 4);
		if (s != next || len != 4 + s % 290 || (len > 4 && f[len - 1] != (uint8_t)s))
			fail_msg("frame %u: got %u of %zu bytes", next, s, len);
		net_ring_consume(&r);
		next++;
	}
	pthread_join(t, NULL);
	net_ring_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_wrap),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_two_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
