/* virtio-balloon driven like a hostile guest, over a guest memory of two
 * RAM regions with a hole between them, laid out inside one host mapping
 * with guard areas around and between the regions. Every byte outside
 * guest RAM is a known pattern, so any release or write outside RAM shows:
 * inflating and reporting really release host pages (mincore), PFNs beyond
 * RAM or in the hole, huge and odd-length requests, reporting ranges that
 * leave RAM, stats buffers with unknown tags and odd sizes, and config
 * writes beyond the config space change nothing outside guest RAM. The
 * device is made on a real KVM machine (for its interrupt); its queues are
 * pointed at the fake memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/virtio/balloon.h"
#include "x86/layout.h"
#include "x86/machine.h"

#define MIB (1ULL << 20)
#define PAGE 4096ULL
#define PATTERN 0xa5
/* Host mapping: guard | RAM 0 | gap | RAM 1 | guard */
#define GUARD MIB
#define R0_SIZE (4 * MIB)
#define R1_GPA (8 * MIB) /* the guest's hole: [4 MiB, 8 MiB) */
#define R1_SIZE (2 * MIB)
#define HOST_SIZE (GUARD + R0_SIZE + GUARD + R1_SIZE + GUARD)
#define R0_HOST GUARD
#define R1_HOST (GUARD + R0_SIZE + GUARD)

#define QS 16
#define RING(q) (0x10000 + (uint64_t)(q) * 0x4000)
#define BUF 0x40000 /* request buffers */
#define TARGET (2 * MIB) /* pages the tests release */

struct fixture {
	struct machine m;
	struct event_loop loop;
	struct virtio_balloon b;
	struct guest_memory mem;
	uint8_t *host;
	uint16_t avail_idx[4];
	bool started;
};

static struct fixture fx;

static void *gpa(uint64_t addr, size_t len)
{
	void *p = guest_memory_ptr(&fx.mem, addr, len);
	assert_non_null(p);
	return p;
}

static struct vring_desc *desc(int q) { return gpa(RING(q), 16 * QS); }
static struct vring_avail *avail(int q) { return gpa(RING(q) + 0x1000, 6 + 2 * QS); }
static struct vring_used *used(int q) { return gpa(RING(q) + 0x2000, 6 + 8 * QS); }

static bool resident(const void *p)
{
	unsigned char v;
	assert_int_equal(mincore((void *)p, PAGE, &v), 0);
	return v & 1;
}

/* Makes queue q live again, with empty rings (after a test broke it). */
static void queue_setup(int q)
{
	struct virtq *vq = &fx.b.mmio.queues[q];
	virtq_reset(vq);
	vq->mem = &fx.mem;
	memset(gpa(RING(q), 0x3000), 0, 0x3000);
	fx.avail_idx[q] = 0;
	vq->size = QS;
	vq->desc_gpa = RING(q);
	vq->avail_gpa = RING(q) + 0x1000;
	vq->used_gpa = RING(q) + 0x2000;
	assert_int_equal(virtq_activate(vq), 0);
}

/* The driver's side of the handshake: features, four queues, DRIVER_OK. */
static void driver_ready(uint64_t features)
{
	struct virtio_mmio_device *d = &fx.b.mmio;
	pthread_mutex_lock(&d->lock);
	d->driver_features = features | (1ULL << VIRTIO_F_VERSION_1);
	for (int q = 0; q < 4; q++)
		queue_setup(q);
	d->status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		    VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
	pthread_mutex_unlock(&d->lock);
}

#define ALL_FEATURES                                                                   \
	((1ULL << VIRTIO_BALLOON_F_STATS_VQ) | (1ULL << VIRTIO_BALLOON_F_REPORTING) | \
	 (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM))

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	machine_init(&fx.m);
	nook_error *err = NULL;
	if (x86_machine_create(&fx.m, 4 << 20, kvm_host_is_pvm(), &err) < 0) {
		nook_error_free(err);
		return 0; /* each test skips */
	}
	fx.host = mmap(NULL, HOST_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(fx.host != MAP_FAILED);
	/* No huge pages: a release is then exactly the pages asked for. */
	madvise(fx.host, HOST_SIZE, MADV_NOHUGEPAGE);
	memset(fx.host, PATTERN, HOST_SIZE);
	fx.mem = (struct guest_memory){
		.regions = {{.gpa = 0, .size = R0_SIZE, .hva = fx.host + R0_HOST},
			    {.gpa = R1_GPA, .size = R1_SIZE, .hva = fx.host + R1_HOST}},
		.nregions = 2,
		.size = R0_SIZE + R1_SIZE,
	};
	assert_int_equal(event_loop_init(&fx.loop), 0);
	fx.m.metrics = true;
	assert_int_equal(virtio_balloon_init(&fx.b, &fx.m, &fx.loop, 1000, LAYOUT_VIRTIO_MMIO_BASE,
					     LAYOUT_FIRST_DEVICE_IRQ, &err),
			 0);
	for (int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		fx.b.mmio.queues[q].mem = &fx.mem;
	fx.started = true;
	driver_ready(ALL_FEATURES);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	if (!fx.started)
		return 0;
	virtio_balloon_destroy(&fx.b);
	event_loop_destroy(&fx.loop);
	machine_destroy(&fx.m);
	munmap(fx.host, HOST_SIZE);
	fx.started = false;
	return 0;
}

#define NEED_DEVICE()             \
	do {                      \
		if (!fx.started)  \
			skip();   \
	} while (0)

/* Nothing outside guest RAM changed, and no RAM page outside
 * [keep_from, keep_to) of region 0's test area either. */
static void assert_guards_intact(void)
{
	static const uint64_t outside[][2] = {
		{0, GUARD}, {GUARD + R0_SIZE, GUARD}, {R1_HOST + R1_SIZE, GUARD}};
	for (size_t i = 0; i < 3; i++)
		for (uint64_t off = outside[i][0]; off < outside[i][0] + outside[i][1]; off++)
			if (fx.host[off] != PATTERN)
				fail_msg("host byte at +0x%llx outside guest RAM changed",
					 (unsigned long long)off);
}

/* Posts a chain of the given descriptors on queue q and notifies. */
struct d {
	uint64_t addr;
	uint32_t len;
	bool writable;
};

static void make_available(int q, const struct d *ds, int n)
{
	for (int i = 0; i < n; i++)
		desc(q)[i] = (struct vring_desc){
			.addr = ds[i].addr, .len = ds[i].len,
			.flags = (uint16_t)((ds[i].writable ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)(i + 1)};
	struct vring_avail *a = avail(q);
	a->ring[fx.avail_idx[q] % QS] = 0;
	__atomic_store_n(&a->idx, ++fx.avail_idx[q], __ATOMIC_RELEASE);
}

static void post(int q, const struct d *ds, int n)
{
	make_available(q, ds, n);
	pthread_mutex_lock(&fx.b.mmio.lock);
	fx.b.mmio.ops->queue_notify(&fx.b.mmio, (uint16_t)q);
	pthread_mutex_unlock(&fx.b.mmio.lock);
}

static uint16_t used_idx(int q)
{
	return __atomic_load_n(&used(q)->idx, __ATOMIC_ACQUIRE);
}

static struct virtio_balloon_stats stats(void)
{
	struct virtio_balloon_stats s;
	virtio_balloon_get_stats(&fx.b, &s);
	return s;
}

static void put_pfns(const uint32_t *pfns, size_t n)
{
	memcpy(gpa(BUF, n * 4), pfns, n * 4);
}

static void test_inflate_releases(void **state)
{
	NEED_DEVICE();
	const uint64_t r1_pfn = R1_GPA / PAGE;
	uint32_t pfns[] = {TARGET / PAGE, TARGET / PAGE + 1, TARGET / PAGE + 2,
			   TARGET / PAGE + 7, r1_pfn + 3};
	uint8_t *p0 = fx.host + R0_HOST + TARGET, *p1 = fx.host + R1_HOST + 3 * PAGE;
	assert_true(resident(p0) && resident(p1));
	put_pfns(pfns, 5);
	post(0, &(struct d){BUF, sizeof(pfns), false}, 1);
	assert_int_equal(used_idx(0), 1);
	for (int i = 0; i < 3; i++)
		assert_false(resident(p0 + i * PAGE));
	assert_false(resident(p0 + 7 * PAGE));
	assert_false(resident(p1));
	/* Neighbours stay. */
	assert_true(resident(p0 - PAGE));
	assert_true(resident(p0 + 3 * PAGE));
	assert_int_equal(p0[3 * PAGE], PATTERN);
	assert_true(resident(p1 - PAGE));
	assert_true(resident(p1 + PAGE));
	/* A released anonymous page reads back as zeroes. */
	assert_int_equal(p0[0], 0);
	assert_int_equal(stats().released_bytes, 5 * PAGE);
	assert_int_equal(stats().refused, 0);
	/* Deflate: returned, nothing released. */
	post(1, &(struct d){BUF, sizeof(pfns), false}, 1);
	assert_int_equal(used_idx(1), 1);
	assert_int_equal(stats().released_bytes, 5 * PAGE);
	assert_guards_intact();
}

/* After a restore guest RAM is the snapshot file mapped copy-on-write:
 * a released page reads the file's bytes again and the file (which other
 * VMs share) is not changed. */
static void test_inflate_file_backed(void **state)
{
	NEED_DEVICE();
	char path[] = "/tmp/nook-balloon-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	uint8_t *chunk = malloc(R1_SIZE);
	assert_non_null(chunk);
	memset(chunk, 0x5a, R1_SIZE);
	assert_int_equal(pwrite(fd, chunk, R1_SIZE, 0), (ssize_t)R1_SIZE);
	uint8_t *r1 = fx.host + R1_HOST;
	assert_true(mmap(r1, R1_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0) == r1);
	memset(r1 + 5 * PAGE, 0x11, PAGE); /* the guest's own copy */
	uint32_t pfn = (uint32_t)(R1_GPA / PAGE + 5);
	put_pfns(&pfn, 1);
	post(0, &(struct d){BUF, 4, false}, 1);
	assert_int_equal(r1[5 * PAGE], 0x5a);
	assert_int_equal(pread(fd, chunk, R1_SIZE, 0), (ssize_t)R1_SIZE);
	for (uint64_t i = 0; i < R1_SIZE; i++)
		if (chunk[i] != 0x5a)
			fail_msg("the memory file changed at %llu", (unsigned long long)i);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 >= R1_SIZE); /* no hole punched */
	free(chunk);
	close(fd);
	assert_guards_intact();
}

static void test_inflate_hostile(void **state)
{
	NEED_DEVICE();
	uint32_t bad[] = {
		0xffffffffu,                         /* far beyond RAM */
		(uint32_t)(R0_SIZE / PAGE),          /* first page of the hole */
		(uint32_t)(R1_GPA / PAGE - 1),       /* last page of the hole */
		(uint32_t)((R1_GPA + R1_SIZE) / PAGE), /* just past RAM */
	};
	put_pfns(bad, 4);
	post(0, &(struct d){BUF, sizeof(bad), false}, 1);
	assert_int_equal(used_idx(0), 1);
	assert_int_equal(stats().refused, 4);
	assert_int_equal(stats().released_bytes, 0);
	/* A huge request: 1 MiB of PFNs, all beyond RAM; only the first 4096
	 * are looked at. */
	memset(gpa(0x100000, MIB), 0xff, MIB);
	post(0, &(struct d){0x100000, MIB, false}, 1);
	assert_int_equal(used_idx(0), 2);
	assert_int_equal(stats().refused, 4 + 4096);
	/* Odd lengths: a trailing partial PFN is ignored; an empty buffer and
	 * a writable buffer give nothing. */
	uint32_t one = (uint32_t)(TARGET / PAGE);
	put_pfns(&one, 1);
	post(0, &(struct d){BUF, 3, false}, 1);
	assert_int_equal(stats().released_bytes, 0);
	post(0, (struct d[]){{BUF, 0, false}, {BUF, 4, true}}, 2);
	assert_int_equal(stats().released_bytes, 0);
	post(0, &(struct d){BUF, 5, false}, 1);
	assert_int_equal(stats().released_bytes, PAGE);
	assert_int_equal(used_idx(0), 5);
	/* A buffer that leaves RAM breaks the queue: nothing is read from it. */
	post(0, &(struct d){R0_SIZE - 2, 8, false}, 1);
	assert_true(fx.b.mmio.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(used_idx(0), 5);
	assert_guards_intact();
}

/* Kicks queue q the way the guest does, through its QueueNotify register,
 * and waits (up to 10 s) until the I/O thread has served it. */
static void kick(int q, bool (*served)(void))
{
	uint8_t data[4];
	io_data_put(data, 4, (uint64_t)q);
	assert_true(io_bus_access(&fx.m.mmio, LAYOUT_VIRTIO_MMIO_BASE + VIRTIO_MMIO_QUEUE_NOTIFY,
				  data, 4, true));
	for (int i = 0; i < 10000 && !served(); i++)
		usleep(1000);
	assert_true(served());
}

static uint64_t counted(atomic_uint_least64_t *c)
{
	return atomic_load(c);
}

static bool inflate_returned(void) { return used_idx(0) == 1; }
static bool device_broken(void)
{
	pthread_mutex_lock(&fx.b.mmio.lock);
	bool broken = fx.b.mmio.status & VIRTIO_CONFIG_S_NEEDS_RESET;
	pthread_mutex_unlock(&fx.b.mmio.lock);
	return broken;
}

/* The metrics' counts: the guest's kicks as the I/O thread serves them, the
 * interrupts the device raises (a used buffer, a config change, a broken
 * queue's DEVICE_NEEDS_RESET). */
static void test_counts_kicks_and_interrupts(void **state)
{
	NEED_DEVICE();
	struct virtq_counters *c = &fx.b.mmio.counters;
	assert_int_equal(event_loop_start(&fx.loop, false), 0);
	uint32_t pfn = (uint32_t)(TARGET / PAGE);
	put_pfns(&pfn, 1);
	make_available(0, &(struct d){BUF, 4, false}, 1);
	kick(0, inflate_returned);
	assert_int_equal(counted(&c->notifications), 1);
	assert_int_equal(counted(&c->chains), 1);
	assert_int_equal(counted(&c->interrupts), 1);
	assert_int_equal(virtio_balloon_set_target(&fx.b, 1), 0);
	assert_int_equal(counted(&c->interrupts), 2);
	/* A buffer that leaves RAM: the device needs a reset and says so. */
	make_available(0, &(struct d){R0_SIZE - 2, 8, false}, 1);
	kick(0, device_broken);
	event_loop_stop(&fx.loop);
	assert_int_equal(counted(&c->notifications), 2);
	assert_int_equal(counted(&c->chains), 1);
	assert_int_equal(counted(&c->interrupts), 3);
	assert_int_equal(used_idx(0), 1);
}

static void test_reporting(void **state)
{
	NEED_DEVICE();
	uint8_t *r0 = fx.host + R0_HOST;
	/* An aligned 1 MiB range, and an unaligned one of which only the
	 * two whole pages inside are released. */
	post(3, (struct d[]){{TARGET, MIB, true}, {TARGET + MIB + 0x800, 0x3000, true}}, 2);
	assert_int_equal(used_idx(3), 1);
	assert_int_equal(stats().released_bytes, MIB + 2 * PAGE);
	assert_false(resident(r0 + TARGET));
	assert_false(resident(r0 + TARGET + MIB - PAGE));
	assert_true(resident(r0 + TARGET + MIB));
	assert_int_equal(r0[TARGET + MIB + 0x800], PATTERN);
	assert_false(resident(r0 + TARGET + MIB + PAGE));
	assert_false(resident(r0 + TARGET + MIB + 2 * PAGE));
	assert_true(resident(r0 + TARGET + MIB + 3 * PAGE));
	/* Less than a page: nothing. */
	post(3, &(struct d){TARGET + MIB + 0x4100, 0x800, true}, 1);
	assert_int_equal(stats().released_bytes, MIB + 2 * PAGE);
	assert_int_equal(stats().refused, 1);
	assert_guards_intact();
}

/* Each of these ranges is not guest RAM: the chain is refused whole, the
 * device needs a reset, and nothing is released. */
static void test_reporting_hostile(void **state)
{
	NEED_DEVICE();
	static const struct d cases[] = {
		{R0_SIZE - MIB, 2 * MIB, true},      /* runs into the hole */
		{R0_SIZE, MIB, true},                /* in the hole */
		{R1_GPA + R1_SIZE - PAGE, 2 * PAGE, true}, /* past the end */
		{UINT64_MAX - PAGE + 1, 2 * PAGE, true}, /* wraps around */
		{R1_GPA - PAGE, 0xffffffffu, true},  /* huge */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		driver_ready(ALL_FEATURES);
		post(3, (struct d[]){{TARGET, MIB, true}, cases[i]}, 2);
		assert_true(fx.b.mmio.status & VIRTIO_CONFIG_S_NEEDS_RESET);
		assert_int_equal(used_idx(3), 0);
		assert_int_equal(stats().released_bytes, 0);
		assert_true(resident(fx.host + R0_HOST + TARGET));
	}
	assert_guards_intact();
}

/* Without the stats feature the reporting queue is the third. */
static void test_queue_numbering(void **state)
{
	NEED_DEVICE();
	driver_ready(1ULL << VIRTIO_BALLOON_F_REPORTING);
	post(2, &(struct d){TARGET, 2 * PAGE, true}, 1);
	assert_int_equal(used_idx(2), 1);
	assert_int_equal(stats().released_bytes, 2 * PAGE);
	/* Queue 3 is no queue now: ignored. */
	post(3, &(struct d){TARGET + MIB, 2 * PAGE, true}, 1);
	assert_int_equal(used_idx(3), 0);
	assert_int_equal(stats().released_bytes, 2 * PAGE);
	assert_guards_intact();
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
	struct virtio_balloon_stat s = {.tag = htole16(tag), .val = htole64(val)};
	memcpy(p, &s, sizeof(s));
}

static void test_stats(void **state)
{
	NEED_DEVICE();
	assert_int_equal(stats().updated_ns, 0);
	assert_true(stats().values[BALLOON_STAT_MEMFREE] == UINT64_MAX);
	uint8_t *p = gpa(BUF, 64);
	put_stat(p, VIRTIO_BALLOON_S_MEMFREE, 123 * MIB);
	put_stat(p + 10, 0x7777, 1); /* unknown */
	put_stat(p + 20, VIRTIO_BALLOON_S_MEMTOT, 456 * MIB);
	put_stat(p + 30, VIRTIO_BALLOON_S_HTLB_PGFAIL, 7);
	put_stat(p + 40, VIRTIO_BALLOON_S_CACHES, 99); /* cut short below */
	post(2, &(struct d){BUF, 43, false}, 1);
	/* Held, not returned, until the host wants fresh numbers. */
	assert_int_equal(used_idx(2), 0);
	struct virtio_balloon_stats s = stats();
	assert_int_equal(s.values[BALLOON_STAT_MEMFREE], 123 * MIB);
	assert_int_equal(s.values[BALLOON_STAT_MEMTOT], 456 * MIB);
	assert_int_equal(s.values[BALLOON_STAT_HTLB_PGFAIL], 7);
	assert_true(s.values[BALLOON_STAT_CACHES] == UINT64_MAX);
	assert_true(s.values[BALLOON_STAT_AVAIL] == UINT64_MAX);
	assert_true(s.updated_ns > 0);
	virtio_balloon_request_stats(&fx.b);
	assert_int_equal(used_idx(2), 1);
	assert_int_equal(used(2)->ring[0].len, 0);
	virtio_balloon_request_stats(&fx.b); /* nothing held: nothing to do */
	assert_int_equal(used_idx(2), 1);
	/* A huge buffer of garbage: only the first entries are read; an
	 * empty one changes nothing. */
	memset(gpa(0x100000, MIB), 0xee, MIB);
	post(2, &(struct d){0x100000, MIB, false}, 1);
	post(2, &(struct d){BUF, 0, false}, 1);
	assert_int_equal(used_idx(2), 2); /* the first went back when the second came */
	assert_int_equal(stats().values[BALLOON_STAT_MEMFREE], 123 * MIB);
	/* A held buffer is not handed back into a queue reset meanwhile. */
	driver_ready(ALL_FEATURES);
	virtio_balloon_request_stats(&fx.b);
	assert_int_equal(used_idx(2), 0);
	assert_guards_intact();
}

static uint32_t config_read(uint32_t off, uint32_t len)
{
	uint8_t data[8] = {0};
	assert_true(io_bus_access(&fx.m.mmio, LAYOUT_VIRTIO_MMIO_BASE + VIRTIO_MMIO_CONFIG + off,
				  data, len, false));
	return (uint32_t)io_data_get(data, len);
}

static void config_write(uint64_t off, uint32_t len, uint64_t v)
{
	uint8_t data[8];
	io_data_put(data, len, v);
	io_bus_access(&fx.m.mmio, LAYOUT_VIRTIO_MMIO_BASE + VIRTIO_MMIO_CONFIG + off, data, len,
		      true);
}

static void test_config(void **state)
{
	NEED_DEVICE();
	assert_int_equal(virtio_balloon_set_target(&fx.b, fx.mem.size / PAGE + 1), -EINVAL);
	assert_int_equal(virtio_balloon_set_target(&fx.b, 300), 0);
	assert_int_equal(config_read(0, 4), 300);
	config_write(4, 4, 123); /* actual: the driver's */
	assert_int_equal(config_read(4, 4), 123);
	assert_int_equal(stats().actual, 123);
	config_write(0, 4, 9999); /* num_pages: the host's */
	config_write(4, 2, 0x10001); /* half of actual */
	assert_int_equal(config_read(4, 4), 1);
	config_write(6, 1, 2);
	assert_int_equal(config_read(4, 4), 0x20001);
	/* Out of the config space: ignored whole. */
	config_write(14, 4, 0xffffffff);
	config_write(16, 4, 0xffffffff);
	config_write(0x1000 - 0x100 - 8, 8, UINT64_MAX);
	config_write(2, 8, UINT64_MAX); /* partly actual: its bytes only */
	assert_int_equal(config_read(0, 4), 300);
	assert_int_equal(config_read(4, 4), 0xffffffff);
	assert_int_equal(config_read(12, 4), 0);
	/* A read past the end is zeroes. */
	assert_int_equal(config_read(14, 4), 0);
	assert_int_equal(stats().num_pages, 300);
	assert_guards_intact();
}

static void test_save_restore(void **state)
{
	NEED_DEVICE();
	assert_int_equal(virtio_balloon_set_target(&fx.b, 64), 0);
	config_write(4, 4, 32);
	put_stat(gpa(BUF, 10), VIRTIO_BALLOON_S_MEMFREE, 1);
	post(2, &(struct d){BUF, 10, false}, 1);
	struct bytes saved = {0};
	assert_int_equal(virtio_mmio_save(&fx.b.mmio, "balloon", &saved), 0);
	struct state_section sec;
	assert_int_equal(state_find(saved.data, saved.len, "balloon", &sec), 0);
	assert_int_equal(sec.version, VIRTIO_MMIO_STATE_VERSION);
	/* Restored into the same device: the held buffer goes back on request. */
	fx.b.stats_held = false;
	assert_int_equal(virtio_mmio_restore(&fx.b.mmio, sec.data, sec.len), 0);
	assert_int_equal(stats().num_pages, 64);
	assert_int_equal(stats().actual, 32);
	virtio_balloon_request_stats(&fx.b);
	assert_int_equal(used_idx(2), 1);
	/* Broken device sections are refused. */
	size_t own = sec.len - sizeof(struct virtio_balloon_state);
	uint8_t *copy = malloc(sec.len);
	assert_non_null(copy);
	struct virtio_balloon_state *st = (struct virtio_balloon_state *)(copy + own);
	struct virtio_balloon_state good;
	memcpy(copy, sec.data, sec.len);
	memcpy(&good, st, sizeof(good));
	st->stats_head = QS;
	assert_int_equal(virtio_mmio_restore(&fx.b.mmio, copy, sec.len), -EINVAL);
	*st = good;
	st->version = 2;
	assert_int_equal(virtio_mmio_restore(&fx.b.mmio, copy, sec.len), -EINVAL);
	*st = good;
	st->num_pages = (uint32_t)(fx.mem.size / PAGE + 1);
	assert_int_equal(virtio_mmio_restore(&fx.b.mmio, copy, sec.len), -EINVAL);
	*st = good;
	st->stats_held = 2;
	assert_int_equal(virtio_mmio_restore(&fx.b.mmio, copy, sec.len), -EINVAL);
	*st = good;
	assert_int_equal(virtio_mmio_restore(&fx.b.mmio, copy, sec.len - 1), -EINVAL);
	assert_int_equal(virtio_mmio_restore(&fx.b.mmio, copy, sec.len), 0);
	free(copy);
	bytes_free(&saved);
}

static uint32_t features_word(uint64_t base, uint32_t sel)
{
	uint8_t data[4];
	io_data_put(data, 4, sel);
	assert_true(io_bus_access(&fx.m.mmio, base + VIRTIO_MMIO_DEVICE_FEATURES_SEL, data, 4, true));
	assert_true(io_bus_access(&fx.m.mmio, base + VIRTIO_MMIO_DEVICE_FEATURES, data, 4, false));
	return (uint32_t)io_data_get(data, 4);
}

/* Interval 0: no statistics queue offered, no timer; the rest is there. */
static void test_no_stats(void **state)
{
	NEED_DEVICE();
	assert_true(features_word(LAYOUT_VIRTIO_MMIO_BASE, 0) & (1u << VIRTIO_BALLOON_F_STATS_VQ));
	struct virtio_balloon quiet;
	nook_error *err = NULL;
	const uint64_t base = LAYOUT_VIRTIO_MMIO_BASE + 0x1000;
	assert_int_equal(virtio_balloon_init(&quiet, &fx.m, &fx.loop, 0, base,
					     LAYOUT_FIRST_DEVICE_IRQ + 1, &err),
			 0);
	uint32_t f = features_word(base, 0);
	assert_false(f & (1u << VIRTIO_BALLOON_F_STATS_VQ));
	assert_true(f & (1u << VIRTIO_BALLOON_F_REPORTING));
	assert_true(f & (1u << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
	assert_int_equal(features_word(base, 1), 1); /* VIRTIO_F_VERSION_1 */
	assert_int_equal(quiet.stats_timer.fd, -1);
	virtio_balloon_destroy(&quiet);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inflate_releases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflate_file_backed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflate_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts_kicks_and_interrupts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reporting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reporting_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_numbering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_stats, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
