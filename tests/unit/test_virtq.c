/* Split virtqueue over plain (non-KVM) guest memory, driven the way a
 * hostile guest would drive it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>

#include "devices/virtio/queue.h"

#define MEM_SIZE (1 << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define QSIZE 8

struct fixture {
	struct guest_memory mem;
	struct virtq q;
	struct virtq_chain chain;
};

static struct vring_desc *desc(struct fixture *f)
{
	return guest_memory_ptr(&f->mem, DESC, 16 * QSIZE);
}

static struct vring_avail *avail(struct fixture *f)
{
	return guest_memory_ptr(&f->mem, AVAIL, 6 + 2 * QSIZE);
}

static struct vring_used *used(struct fixture *f)
{
	return guest_memory_ptr(&f->mem, USED, 6 + 8 * QSIZE);
}

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	if (guest_memory_add(&f.mem, -1, 0, MEM_SIZE, NULL) < 0)
		return -1;
	f.q.mem = &f.mem;
	f.q.size = QSIZE;
	f.q.desc_gpa = DESC;
	f.q.avail_gpa = AVAIL;
	f.q.used_gpa = USED;
	if (virtq_activate(&f.q) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	guest_memory_destroy(&f->mem);
	return 0;
}

static void offer(struct fixture *f, uint16_t head)
{
	struct vring_avail *a = avail(f);
	a->ring[a->idx % QSIZE] = head;
	a->idx++;
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	memcpy(guest_memory_ptr(&f->mem, 0x10000, 5), "hello", 5);
	desc(f)[0] = (struct vring_desc){.addr = 0x10000, .len = 5, .flags = VRING_DESC_F_NEXT, .next = 3};
	desc(f)[3] = (struct vring_desc){.addr = 0x20000, .len = 100, .flags = VRING_DESC_F_WRITE};
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
	offer(f, 0);
	assert_true(virtq_has_available(&f->q));
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(f->chain.nout, 1);
	assert_int_equal(f->chain.nin, 1);
	assert_int_equal(f->chain.out_len, 5);
	assert_int_equal(f->chain.in_len, 100);
	char buf[8] = {0};
	assert_int_equal(virtq_chain_read(&f->chain, 1, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "ello");
	assert_int_equal(virtq_chain_write(&f->chain, 0, "world", 5), 5);
	assert_memory_equal(guest_memory_ptr(&f->mem, 0x20000, 5), "world", 5);
	virtq_push(&f->q, f->chain.head, 5);
	assert_int_equal(used(f)->idx, 1);
	assert_int_equal(used(f)->ring[0].id, 0);
	assert_int_equal(used(f)->ring[0].len, 5);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
	assert_true(virtq_needs_interrupt(&f->q));
	avail(f)->flags = VRING_AVAIL_F_NO_INTERRUPT;
	assert_false(virtq_needs_interrupt(&f->q));
}

/* Each of these chains is malformed; the queue must refuse it and stay
 * refused, without touching memory outside the guest's. */
static void expect_broken(struct fixture *f)
{
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->chain), -EINVAL);
	assert_true(f->q.broken);
	assert_int_equal(virtq_pop(&f->q, &f->chain), -EINVAL);
}

static void test_descriptor_loop(void **state)
{
	struct fixture *f = *state;
	desc(f)[0] = (struct vring_desc){.addr = 0x10000, .len = 1, .flags = VRING_DESC_F_NEXT, .next = 1};
	desc(f)[1] = (struct vring_desc){.addr = 0x10000, .len = 1, .flags = VRING_DESC_F_NEXT, .next = 0};
	expect_broken(f);
}

static void test_buffer_outside_memory(void **state)
{
	struct fixture *f = *state;
	desc(f)[0] = (struct vring_desc){.addr = MEM_SIZE - 4, .len = 8};
	expect_broken(f);
}

static void test_buffer_length_wraps(void **state)
{
	struct fixture *f = *state;
	desc(f)[0] = (struct vring_desc){.addr = 0xfffffffffffff000ULL, .len = 0x2000};
	expect_broken(f);
}

static void test_next_out_of_range(void **state)
{
	struct fixture *f = *state;
	desc(f)[0] = (struct vring_desc){.addr = 0x10000, .len = 1, .flags = VRING_DESC_F_NEXT, .next = QSIZE};
	expect_broken(f);
}

static void test_head_out_of_range(void **state)
{
	struct fixture *f = *state;
	struct vring_avail *a = avail(f);
	a->ring[0] = QSIZE + 3;
	a->idx = 1;
	assert_int_equal(virtq_pop(&f->q, &f->chain), -EINVAL);
}

static void test_avail_index_jump(void **state)
{
	struct fixture *f = *state;
	avail(f)->idx = QSIZE + 1; /* more chains than descriptors */
	assert_int_equal(virtq_pop(&f->q, &f->chain), -EINVAL);
}

static void test_readable_after_writable(void **state)
{
	struct fixture *f = *state;
	desc(f)[0] = (struct vring_desc){.addr = 0x10000, .len = 1,
					 .flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, .next = 1};
	desc(f)[1] = (struct vring_desc){.addr = 0x10000, .len = 1};
	expect_broken(f);
}

static void test_indirect_refused(void **state)
{
	struct fixture *f = *state;
	desc(f)[0] = (struct vring_desc){.addr = 0x10000, .len = 16, .flags = VRING_DESC_F_INDIRECT};
	expect_broken(f);
}

static void test_activate_checks_rings(void **state)
{
	struct fixture *f = *state;
	struct virtq q = {.mem = &f->mem, .size = QSIZE, .desc_gpa = MEM_SIZE - 16,
			  .avail_gpa = AVAIL, .used_gpa = USED};
	assert_int_equal(virtq_activate(&q), -EINVAL);
	q.desc_gpa = DESC;
	q.size = 6; /* not a power of 2 */
	assert_int_equal(virtq_activate(&q), -EINVAL);
	q.size = VIRTQ_MAX_SIZE * 2;
	assert_int_equal(virtq_activate(&q), -EINVAL);
	q.size = QSIZE;
	assert_int_equal(virtq_activate(&q), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_descriptor_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffer_outside_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffer_length_wraps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_avail_index_jump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_after_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activate_checks_rings, setup, teardown),
	};
	return cmocka_run_group_tests_name("virtq", tests, NULL, NULL);
}
