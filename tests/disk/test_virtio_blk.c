/* virtio-blk driven like a guest driver would, over a real KVM machine's
 * memory (no vCPU runs), backed by a raw image in a temp file: writes and
 * reads land at the right offsets, GET_ID returns the serial, a read-only
 * disk refuses writes and says so in its features, bad sectors and lengths
 * are I/O errors, unknown requests are unsupported, and a chain with no
 * room for the status byte breaks the device instead of being served. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/blk.h"
#include "x86/layout.h"
#include "x86/machine.h"

#define QS 16
#define RING 0x10000
#define BUFS 0x100000
#define DISK_SIZE (1 << 20)

struct fixture {
	struct machine m;
	struct event_loop loop;
	struct virtio_blk blk;
	char path[64];
	uint16_t avail_idx, next_desc;
	bool started; /* stop() is due: the teardown calls it, also after a failure */
};

static struct fixture fx;

static void *gpa(uint64_t addr, size_t len)
{
	void *p = guest_memory_ptr(&fx.m.mem, addr, len);
	assert_non_null(p);
	return p;
}

static struct vring_desc *desc(void) { return gpa(RING, 16 * QS); }
static struct vring_avail *avail(void) { return gpa(RING + 0x1000, 6 + 2 * QS); }
static struct vring_used *used(void) { return gpa(RING + 0x2000, 6 + 8 * QS); }

static void start(bool read_only)
{
	memset(&fx, 0, sizeof(fx));
	snprintf(fx.path, sizeof(fx.path), "/tmp/nook-blk-XXXXXX");
	int fd = mkstemp(fx.path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_SIZE), 0);
	assert_int_equal(pwrite(fd, "original", 8, 4096), 8);
	close(fd);
	machine_init(&fx.m);
	nook_error *err = NULL;
	if (x86_machine_create(&fx.m, 4 << 20, kvm_host_is_pvm(), &err) < 0) {
		nook_error_free(err);
		unlink(fx.path);
		skip();
	}
	assert_int_equal(event_loop_init(&fx.loop), 0);
	fx.started = true;
	struct virtio_blk_params p = {.path = fx.path, .id = "serial-42", .format = DISK_FORMAT_RAW,
				      .read_only = read_only};
	assert_int_equal(virtio_blk_init(&fx.blk, &fx.m, &fx.loop, &p, LAYOUT_VIRTIO_MMIO_BASE,
					 LAYOUT_FIRST_DEVICE_IRQ, &err), 0);
	struct virtio_mmio_device *d = &fx.blk.mmio;
	pthread_mutex_lock(&d->lock);
	d->driver_features = 1ULL << VIRTIO_F_VERSION_1;
	d->queues[0].size = QS;
	d->queues[0].desc_gpa = RING;
	d->queues[0].avail_gpa = RING + 0x1000;
	d->queues[0].used_gpa = RING + 0x2000;
	assert_int_equal(virtq_activate(&d->queues[0]), 0);
	d->status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		    VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
	pthread_mutex_unlock(&d->lock);
}

static int stop(void **state)
{
	if (!fx.started)
		return 0;
	fx.started = false;
	virtio_blk_destroy(&fx.blk);
	event_loop_destroy(&fx.loop);
	machine_destroy(&fx.m);
	unlink(fx.path);
	return 0;
}

/* Adds a descriptor; returns its index. */
static uint16_t add_desc(uint64_t addr, uint32_t len, bool writable, bool more)
{
	uint16_t i = fx.next_desc++;
	struct vring_desc *d = &desc()[i];
	d->addr = addr;
	d->len = len;
	d->flags = (uint16_t)((writable ? VRING_DESC_F_WRITE : 0) | (more ? VRING_DESC_F_NEXT : 0));
	d->next = (uint16_t)(i + 1);
	return i;
}

/* Makes the chain starting at `head` available and notifies the device. */
static void post(uint16_t head)
{
	struct vring_avail *a = avail();
	a->ring[fx.avail_idx % QS] = head;
	__atomic_store_n(&a->idx, ++fx.avail_idx, __ATOMIC_RELEASE);
	pthread_mutex_lock(&fx.blk.mmio.lock);
	fx.blk.mmio.ops->queue_notify(&fx.blk.mmio, 0);
	pthread_mutex_unlock(&fx.blk.mmio.lock);
}

/* Submits the chain starting at `head` and waits for the device to return
 * it; false if it never does. */
static bool submit(uint16_t head, uint32_t *written)
{
	post(head);
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(&used()->idx, __ATOMIC_ACQUIRE) == fx.avail_idx) {
			*written = used()->ring[(fx.avail_idx - 1) % QS].len;
			fx.next_desc = 0;
			return true;
		}
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	fx.next_desc = 0;
	return false;
}

/* A request: header, data (out for writes, in for reads), status. Returns
 * the status byte. */
static uint8_t request(uint32_t type, uint64_t sector, uint32_t data_len, bool data_in,
		       uint32_t *written)
{
	struct virtio_blk_outhdr *h = gpa(BUFS, sizeof(*h));
	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	uint8_t *status = gpa(BUFS + 0x10000 - 1, 1);
	*status = 0xee;
	uint16_t head = add_desc(BUFS, sizeof(*h), false, true);
	if (data_len)
		add_desc(BUFS + 0x1000, data_len, data_in, true);
	add_desc(BUFS + 0x10000 - 1, 1, true, false);
	uint32_t w = 0;
	assert_true(submit(head, &w));
	if (written)
		*written = w;
	return *status;
}

static void read_file_at(uint64_t off, void *buf, size_t len)
{
	int fd = open(fx.path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void test_read_write(void **state)
{
	start(false);
	uint8_t *data = gpa(BUFS + 0x1000, 1024);
	memset(data, 0xab, 1024);
	uint32_t w;
	assert_int_equal(request(VIRTIO_BLK_T_OUT, 3, 1024, false, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(w, 1);
	uint8_t back[1024];
	read_file_at(3 * 512, back, sizeof(back));
	assert_memory_equal(back, data, sizeof(back));
	memset(data, 0, 1024);
	assert_int_equal(request(VIRTIO_BLK_T_IN, 8, 512, true, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(w, 513);
	assert_memory_equal(data, "original", 8);
	assert_int_equal(request(VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	/* The last sector, and one past it. */
	assert_int_equal(request(VIRTIO_BLK_T_IN, DISK_SIZE / 512 - 1, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(request(VIRTIO_BLK_T_IN, DISK_SIZE / 512, 512, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_OUT, DISK_SIZE / 512 - 1, 1024, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_IN, UINT64_MAX / 256, 512, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* Not a whole sector. */
	assert_int_equal(request(VIRTIO_BLK_T_IN, 0, 100, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(42, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	/* Write zeroes over what was written. */
	struct virtio_blk_discard_write_zeroes *r = gpa(BUFS + 0x1000, sizeof(*r));
	*r = (struct virtio_blk_discard_write_zeroes){.sector = 3, .num_sectors = 2};
	assert_int_equal(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, sizeof(*r), false, NULL),
			 VIRTIO_BLK_S_OK);
	read_file_at(3 * 512, back, sizeof(back));
	static const uint8_t zero[1024];
	assert_memory_equal(back, zero, sizeof(back));
}

/* Found by fuzz_blk: an empty discard failed on a raw disk (fallocate
 * refuses a zero length) while qcow2 did nothing, as it should. */
static void test_empty_ranges(void **state)
{
	start(false);
	struct virtio_blk_discard_write_zeroes *r = gpa(BUFS + 0x1000, sizeof(*r));
	*r = (struct virtio_blk_discard_write_zeroes){.sector = 16, .num_sectors = 0};
	assert_int_equal(request(VIRTIO_BLK_T_DISCARD, 0, sizeof(*r), false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, sizeof(*r), false, NULL),
			 VIRTIO_BLK_S_OK);
	char back[8];
	read_file_at(4096, back, sizeof(back));
	assert_memory_equal(back, "original", 8);
}

static void test_get_id(void **state)
{
	start(false);
	char *id = gpa(BUFS + 0x1000, 20);
	uint32_t w;
	assert_int_equal(request(VIRTIO_BLK_T_GET_ID, 0, 20, true, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(w, strlen("serial-42") + 1);
	assert_memory_equal(id, "serial-42", strlen("serial-42"));
}

static void test_read_only(void **state)
{
	start(true);
	assert_true(fx.blk.ops.features & (1ULL << VIRTIO_BLK_F_RO));
	assert_false(fx.blk.ops.features & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	memset(gpa(BUFS + 0x1000, 512), 0xcd, 512);
	assert_int_equal(request(VIRTIO_BLK_T_OUT, 8, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	struct virtio_blk_discard_write_zeroes *r = gpa(BUFS + 0x1000, sizeof(*r));
	*r = (struct virtio_blk_discard_write_zeroes){.sector = 8, .num_sectors = 1};
	assert_int_equal(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, sizeof(*r), false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_DISCARD, 0, sizeof(*r), false, NULL),
			 VIRTIO_BLK_S_IOERR);
	char back[8];
	read_file_at(4096, back, sizeof(back));
	assert_memory_equal(back, "original", 8);
}

static void test_no_status_byte(void **state)
{
	start(false);
	struct virtio_blk_outhdr *h = gpa(BUFS, sizeof(*h));
	*h = (struct virtio_blk_outhdr){.type = VIRTIO_BLK_T_IN};
	/* Never completed: the device wants a reset instead. */
	post(add_desc(BUFS, sizeof(*h), false, false));
	bool broken = false;
	for (int i = 0; i < 2000 && !broken; i++) {
		pthread_mutex_lock(&fx.blk.mmio.lock);
		broken = fx.blk.mmio.status & VIRTIO_CONFIG_S_NEEDS_RESET;
		pthread_mutex_unlock(&fx.blk.mmio.lock);
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	assert_true(broken);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_read_write, stop),
		cmocka_unit_test_teardown(test_empty_ranges, stop),
		cmocka_unit_test_teardown(test_get_id, stop),
		cmocka_unit_test_teardown(test_read_only, stop),
		cmocka_unit_test_teardown(test_no_status_byte, stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
