/* The worker threads of virtio-blk and virtio-fs (devices/virtio/worker.c)
 * against a guest that resets a queue while a request is in flight: first
 * QueueReady=0 on the request's queue (legal: Linux does it when it deletes
 * a queue), then a full device reset. The reply must be dropped, not pushed
 * into the reset queue (a zero-size ring there once divided by zero and
 * killed the VMM). Driven through the real MMIO registers of a virtio-fs
 * device whose backend holds each request until the test lets it go.
 * Also that device's snapshot ops: a request in flight cannot be saved,
 * and a saved state with one, or a broken device section, is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <linux/fuse.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/virtio/fs.h"
#include "util/state.h"
#include "x86/layout.h"
#include "x86/machine.h"

#define QS 8
#define RING 0x10000
#define BUFS 0x100000
#define REQUEST_QUEUE 1

static struct {
	struct machine m;
	struct event_loop loop;
	struct virtio_fs fs;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool entered, released;
	int served;
} fx;

/* Blocks until the test releases it, then replies with a bare header. */
static ssize_t held_request(void *opaque, const struct iovec *in, size_t nin,
			    const struct iovec *out, size_t nout)
{
	pthread_mutex_lock(&fx.lock);
	fx.entered = true;
	pthread_cond_broadcast(&fx.cond);
	while (!fx.released)
		pthread_cond_wait(&fx.cond, &fx.lock);
	fx.served++;
	pthread_mutex_unlock(&fx.lock);
	struct fuse_out_header h = {.len = sizeof(h)};
	memcpy(out[0].iov_base, &h, sizeof(h));
	return sizeof(h);
}

static void reg_write(uint64_t reg, uint32_t v)
{
	uint8_t data[4];
	io_data_put(data, 4, v);
	assert_true(io_bus_access(&fx.m.mmio, LAYOUT_VIRTIO_MMIO_BASE + reg, data, 4, true));
}

static void *gpa(uint64_t addr, size_t len)
{
	void *p = guest_memory_ptr(&fx.m.mem, addr, len);
	assert_non_null(p);
	return p;
}

/* Brings the device up the way a driver does, both queues live. */
static void driver_init(void)
{
	reg_write(VIRTIO_MMIO_STATUS, 0);
	reg_write(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	reg_write(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	reg_write(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1 */
	reg_write(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					      VIRTIO_CONFIG_S_FEATURES_OK);
	for (uint32_t q = 0; q < 2; q++) {
		uint64_t base = RING + q * 0x4000;
		memset(gpa(base, 0x3000), 0, 0x3000); /* fresh rings, as a driver makes */
		reg_write(VIRTIO_MMIO_QUEUE_SEL, q);
		reg_write(VIRTIO_MMIO_QUEUE_NUM, QS);
		reg_write(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base);
		reg_write(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)(base + 0x1000));
		reg_write(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(base + 0x2000));
		reg_write(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	reg_write(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					      VIRTIO_CONFIG_S_FEATURES_OK |
					      VIRTIO_CONFIG_S_DRIVER_OK);
}

static struct vring_used *used_ring(void)
{
	return gpa(RING + REQUEST_QUEUE * 0x4000 + 0x2000, 6 + 8 * QS);
}

/* One request (a header out, a reply buffer in) on the request queue; waits
 * until the backend holds it. */
static void post_and_hold(void)
{
	uint64_t base = RING + REQUEST_QUEUE * 0x4000;
	struct vring_desc *d = gpa(base, 16 * QS);
	struct fuse_in_header *h = gpa(BUFS, sizeof(*h));
	*h = (struct fuse_in_header){.len = sizeof(*h), .opcode = FUSE_GETATTR, .unique = 1};
	d[0] = (struct vring_desc){.addr = BUFS, .len = sizeof(*h), .flags = VRING_DESC_F_NEXT, .next = 1};
	d[1] = (struct vring_desc){.addr = BUFS + 0x1000, .len = 4096, .flags = VRING_DESC_F_WRITE};
	struct vring_avail *a = gpa(base + 0x1000, 6 + 2 * QS);
	a->ring[a->idx % QS] = 0;
	__atomic_store_n(&a->idx, (uint16_t)(a->idx + 1), __ATOMIC_RELEASE);
	pthread_mutex_lock(&fx.lock);
	fx.entered = fx.released = false;
	pthread_mutex_unlock(&fx.lock);
	reg_write(VIRTIO_MMIO_QUEUE_NOTIFY, REQUEST_QUEUE);
	pthread_mutex_lock(&fx.lock);
	while (!fx.entered)
		pthread_cond_wait(&fx.cond, &fx.lock);
	pthread_mutex_unlock(&fx.lock);
}

/* Lets the held request finish and waits until the worker is done with it:
 * it pushes (or drops) the reply under the device lock some time after the
 * backend returns, so wait for the push for up to 200 ms; a dropped reply
 * shows as no push within that time. */
static void release_and_settle(int served_before)
{
	pthread_mutex_lock(&fx.lock);
	fx.released = true;
	pthread_cond_broadcast(&fx.cond);
	pthread_mutex_unlock(&fx.lock);
	for (int i = 0; i < 1000 && __atomic_load_n(&fx.served, __ATOMIC_SEQ_CST) == served_before; i++)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&fx.fs.mmio.lock);
		uint16_t idx = __atomic_load_n(&used_ring()->idx, __ATOMIC_ACQUIRE);
		pthread_mutex_unlock(&fx.fs.mmio.lock);
		if (idx != 0)
			return;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
}

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	pthread_mutex_init(&fx.lock, NULL);
	pthread_cond_init(&fx.cond, NULL);
	machine_init(&fx.m);
	nook_error *err = NULL;
	if (x86_machine_create(&fx.m, 4 << 20, kvm_host_is_pvm(), &err) < 0) {
		nook_error_free(err);
		return -1;
	}
	assert_int_equal(event_loop_init(&fx.loop), 0);
	assert_int_equal(event_loop_start(&fx.loop, false), 0);
	const struct nook_fs_backend backend = {.request = held_request};
	assert_int_equal(virtio_fs_init(&fx.fs, &fx.m, &fx.loop, "held", &backend, NULL, NULL,
					LAYOUT_VIRTIO_MMIO_BASE, LAYOUT_FIRST_DEVICE_IRQ, &err),
			 0);
	driver_init();
	return 0;
}

static int teardown(void **state)
{
	pthread_mutex_lock(&fx.lock);
	fx.released = true;
	pthread_cond_broadcast(&fx.cond);
	pthread_mutex_unlock(&fx.lock);
	virtio_fs_destroy(&fx.fs);
	event_loop_destroy(&fx.loop);
	machine_destroy(&fx.m);
	return 0;
}

static void test_reply_reaches_a_live_queue(void **state)
{
	post_and_hold();
	release_and_settle(0);
	assert_int_equal(used_ring()->idx, 1);
}

static void test_queue_ready_0_drops_the_reply(void **state)
{
	post_and_hold();
	reg_write(VIRTIO_MMIO_QUEUE_SEL, REQUEST_QUEUE);
	reg_write(VIRTIO_MMIO_QUEUE_READY, 0);
	release_and_settle(0);
	assert_int_equal(fx.served, 1);
	assert_int_equal(used_ring()->idx, 0);
	assert_false(fx.fs.mmio.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* The driver sets the queue up again and it works. */
	driver_init();
	post_and_hold();
	release_and_settle(1);
	assert_int_equal(used_ring()->idx, 1);
}

static void test_queue_reset_and_reready_drops_the_reply(void **state)
{
	post_and_hold();
	/* Reset and re-enable the queue while the request is in flight: the
	 * old request must not land in the new ring. */
	reg_write(VIRTIO_MMIO_QUEUE_SEL, REQUEST_QUEUE);
	reg_write(VIRTIO_MMIO_QUEUE_READY, 0);
	memset(used_ring(), 0, 6 + 8 * QS);
	reg_write(VIRTIO_MMIO_QUEUE_NUM, QS);
	reg_write(VIRTIO_MMIO_QUEUE_READY, 1);
	release_and_settle(0);
	assert_int_equal(used_ring()->idx, 0);
}

static void test_device_reset_drops_the_reply(void **state)
{
	post_and_hold();
	reg_write(VIRTIO_MMIO_STATUS, 0);
	release_and_settle(0);
	assert_int_equal(used_ring()->idx, 0);
}

/* The request queue's state inside a saved section: found by its
 * descriptor table's address. */
static struct virtq_state *saved_request_queue(uint8_t *data, size_t len)
{
	uint64_t desc = RING + REQUEST_QUEUE * 0x4000;
	for (size_t off = 0; off + sizeof(struct virtq_state) <= len; off += 8)
		if (!memcmp(data + off, &desc, sizeof(desc)))
			return (struct virtq_state *)(data + off);
	fail_msg("the request queue is not in the saved section");
	return NULL;
}

static void test_save_restore(void **state)
{
	/* A request in flight: its reply would be lost with the snapshot. */
	post_and_hold();
	struct bytes saved = {0};
	assert_int_equal(virtio_mmio_save(&fx.fs.mmio, "fs", &saved), -EBUSY);
	release_and_settle(0);
	assert_int_equal(used_ring()->idx, 1);
	reg_write(VIRTIO_MMIO_SHM_SEL, 7);
	assert_int_equal(virtio_mmio_save(&fx.fs.mmio, "fs", &saved), 0);
	struct state_section sec;
	assert_int_equal(state_find(saved.data, saved.len, "fs", &sec), 0);
	assert_int_equal(sec.version, VIRTIO_MMIO_STATE_VERSION);
	reg_write(VIRTIO_MMIO_SHM_SEL, 0);
	assert_int_equal(virtio_mmio_restore(&fx.fs.mmio, sec.data, sec.len), 0);
	assert_int_equal(fx.fs.mmio.shm_sel, 7);
	assert_int_equal(fx.fs.mmio.queues[REQUEST_QUEUE].used_idx, 1);
	/* The restored device serves the next request. */
	post_and_hold();
	release_and_settle(1);
	assert_int_equal(used_ring()->idx, 2);

	uint8_t *copy = malloc(sec.len);
	assert_non_null(copy);
	struct virtio_fs_state *own = (struct virtio_fs_state *)(copy + sec.len - sizeof(*own));
	const struct {
		uint32_t version, reserved;
	} broken[] = {{2, 0}, {0, 0}, {1, 1}};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		memcpy(copy, sec.data, sec.len);
		own->version = broken[i].version;
		own->reserved = broken[i].reserved;
		assert_int_equal(virtio_mmio_restore(&fx.fs.mmio, copy, sec.len), -EINVAL);
	}
	memcpy(copy, sec.data, sec.len);
	assert_int_equal(virtio_mmio_restore(&fx.fs.mmio, copy, sec.len - 1), -EINVAL);
	/* A request taken but never answered: not a state a restore can honour. */
	struct virtq_state *q = saved_request_queue(copy, sec.len);
	q->last_avail = (uint16_t)(q->used_idx + 1);
	assert_int_equal(virtio_mmio_restore(&fx.fs.mmio, copy, sec.len), -EINVAL);
	free(copy);
	bytes_free(&saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reply_reaches_a_live_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_ready_0_drops_the_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_reset_and_reready_drops_the_reply, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_device_reset_drops_the_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_restore, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
