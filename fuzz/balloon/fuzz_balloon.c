/* Fuzz target for virtio-balloon (devices/virtio/balloon.c) as a hostile
 * guest drives it: the input is a program of steps on a fake guest
 * (fuzz/fake_guest.h): inflate and deflate arrays of PFNs (out of range,
 * duplicate, runs, counts past what the device reads, split over
 * descriptors, device-writable ones), statistics buffers (any tags and
 * lengths, partial entries), free page reporting chains (any ranges,
 * inside guest memory or not), config space reads and writes at any
 * offset, statistics ticks and new targets from the host.
 *
 * What must hold: no crash, leak or sanitizer report; every range the
 * device gives back to the host kernel (madvise, caught here) is whole
 * pages inside guest RAM; the target stays within guest RAM.
 *
 * Input: byte 0: the features the driver takes (bit 0 STATS_VQ, 1
 * REPORTING, 2 DEFLATE_ON_OOM); bytes 1-2: log2 of the four queue sizes
 * (nibbles); then steps, each a byte (low 3 bits: what) and arguments:
 *   0, 1 inflate, deflate: a count byte c and a mode byte m: 4 * c + 1
 *     PFNs, by m & 3: each 4 bytes from the input; a run from a 4-byte
 *     first PFN; one PFN (from the input) repeated; a length of 1 MiB of
 *     zeroes (PFN 0 over and over); m bit 2: in two descriptors; bit 3: a
 *     device-writable descriptor after them;
 *   2 a stats buffer: a count byte (entries of 10 bytes from the input)
 *     and a byte of extra bytes past the last entry (& 15);
 *   3 a reporting chain: a count byte (1 + (c & 3) ranges), each a
 *     4-byte address and a 4-byte length, device-writable;
 *   4 the statistics timer ticks;
 *   5 a config access: offset byte, length byte (1 + (l & 7); bit 7
 *     write) and, for a write, the bytes;
 *   6 a new target: 4 bytes of pages;
 *   7 a byte: bit 7 resets and restarts the driver, else notify queue
 *     (byte & 7). */
#include <linux/virtio_balloon.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "devices/virtio/balloon.h"
#include "fuzz/fake_guest.h"
#include "x86/layout.h"

#define PAGE 4096u
#define MAX_PFNS (4 * 255 + 1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fake_guest g;
static struct virtio_balloon dev;

/* Every madvise() of the process comes here: the device's must give back
 * whole pages of guest RAM, nothing else. */
int madvise(void *addr, size_t len, int advice)
{
	const struct guest_region *ram = &g.machine.mem.regions[0];
	const uint8_t *p = addr, *lo = ram->hva;
	if (g.machine.mem.nregions &&
	    (p < lo || len > ram->size || (size_t)(p - lo) > ram->size - len ||
	     (uintptr_t)p % PAGE || len % PAGE)) {
		fprintf(stderr, "fuzz_balloon: madvise(%p, %zu) outside guest RAM [%p, +%zu)\n",
			addr, len, (const void *)lo, (size_t)ram->size);
		abort();
	}
	return (int)syscall(SYS_madvise, addr, len, advice);
}

static uint32_t u32(struct fuzz_input *in)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)fuzz_byte(in) << (8 * i);
	return v;
}

/* The driver numbers only the queues of the features it took. */
#define STATS_QUEUE 2

static unsigned reporting_queue(uint8_t features)
{
	return features & 1 ? 3 : 2;
}

static void pfns(struct fuzz_input *in, unsigned q)
{
	static uint32_t list[MAX_PFNS];
	unsigned n = 4 * fuzz_byte(in) + 1;
	uint8_t mode = fuzz_byte(in);
	uint32_t first = (mode & 3) == 1 || (mode & 3) == 2 ? u32(in) : 0;
	for (unsigned i = 0; i < n; i++)
		list[i] = (mode & 3) == 0 ? u32(in) : (mode & 3) == 1 ? first + i : first;
	struct fake_desc d[3];
	unsigned nd = 0;
	size_t len = (mode & 3) == 3 ? 1u << 20 : n * sizeof(uint32_t);
	uint64_t addr = fake_guest_buffer(&g, (mode & 3) == 3 ? NULL : list, len);
	if (mode & 4) {
		d[nd++] = (struct fake_desc){.addr = addr, .len = (uint32_t)(len / 2)};
		d[nd++] = (struct fake_desc){.addr = addr + len / 2, .len = (uint32_t)(len - len / 2)};
	} else {
		d[nd++] = (struct fake_desc){.addr = addr, .len = (uint32_t)len};
	}
	if (mode & 8)
		d[nd++] = (struct fake_desc){.addr = fake_guest_buffer(&g, NULL, 16), .len = 16,
					     .flags = VRING_DESC_F_WRITE};
	fake_guest_chain(&g, q, d, nd);
	fake_guest_notify(&g, q);
}

static void stats(struct fuzz_input *in)
{
	uint8_t buf[255 * 10 + 15];
	size_t len = fuzz_byte(in) * 10u;
	len += fuzz_byte(in) & 15;
	for (size_t i = 0; i < len; i++)
		buf[i] = fuzz_byte(in);
	struct fake_desc d = {.addr = fake_guest_buffer(&g, buf, len), .len = (uint32_t)len};
	fake_guest_chain(&g, STATS_QUEUE, &d, 1);
	fake_guest_notify(&g, STATS_QUEUE);
}

static void report(struct fuzz_input *in, uint8_t features)
{
	struct fake_desc d[4];
	unsigned n = 1 + (fuzz_byte(in) & 3);
	for (unsigned i = 0; i < n; i++) {
		d[i].addr = u32(in);
		d[i].len = u32(in);
		d[i].flags = VRING_DESC_F_WRITE;
	}
	fake_guest_chain(&g, reporting_queue(features), d, n);
	fake_guest_notify(&g, reporting_queue(features));
}

static void config(struct fuzz_input *in)
{
	uint8_t off = fuzz_byte(in), how = fuzz_byte(in), v[8] = {0};
	uint32_t len = 1 + (how & 7);
	/* Over the whole array, so that gcc -O3 sees every index in bounds. */
	for (uint32_t i = 0; i < sizeof(v); i++)
		if ((how & 0x80) && i < len)
			v[i] = fuzz_byte(in);
	fake_guest_config(&g, off, v, len, how & 0x80);
}

static void start_driver(uint8_t features, const uint8_t *log2)
{
	uint64_t want = 0;
	if (features & 1)
		want |= 1ULL << VIRTIO_BALLOON_F_STATS_VQ;
	if (features & 2)
		want |= 1ULL << VIRTIO_BALLOON_F_REPORTING;
	if (features & 4)
		want |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	fake_guest_start(&g, want, 4, log2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready = -1;
	if (ready < 0) {
		nook_error *err = NULL;
		ready = fake_guest_create(&g, "fuzz_balloon");
		/* Statistics offered; the timer (an hour) never ticks by itself. */
		if (ready && virtio_balloon_init(&dev, &g.machine, &g.loop, 3600 * 1000, g.base,
						 LAYOUT_FIRST_DEVICE_IRQ, &err) < 0) {
			fprintf(stderr, "fuzz_balloon: %s\n", nook_error_message(err));
			abort();
		}
	}
	if (!ready || size < 3)
		return 0;
	struct fuzz_input in = {data + 3, size - 3};
	const uint8_t features = data[0];
	const uint8_t log2[4] = {data[1] & 15, data[1] >> 4, data[2] & 15, data[2] >> 4};
	fake_guest_reset_memory(&g);
	virtio_balloon_set_target(&dev, 0);
	start_driver(features, log2);
	while (in.left) {
		uint8_t step = fuzz_byte(&in);
		switch (step & 7) {
		case 0:
		case 1:
			pfns(&in, step & 1);
			break;
		case 2:
			stats(&in);
			break;
		case 3:
			report(&in, features);
			break;
		case 4:
			virtio_balloon_request_stats(&dev);
			break;
		case 5:
			config(&in);
			break;
		case 6:
			if (virtio_balloon_set_target(&dev, u32(&in)) < 0) {
				/* more than guest RAM: refused */
			}
			break;
		default: {
			uint8_t b = fuzz_byte(&in);
			if (b & 0x80)
				start_driver(features, log2);
			else
				fake_guest_notify(&g, b & 7);
			break;
		}
		}
		struct virtio_balloon_stats st;
		virtio_balloon_get_stats(&dev, &st);
		if ((uint64_t)st.num_pages * PAGE > FAKE_GUEST_MEMORY)
			abort();
	}
	fake_guest_write_reg(&g, VIRTIO_MMIO_STATUS, 0);
	return 0;
}
