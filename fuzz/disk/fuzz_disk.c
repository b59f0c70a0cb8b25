/* Fuzz target for the image parsers (header, tables, extensions, backing
 * file references, grain directories, descriptors): the input is an image
 * file, written as "image" into a scratch directory that also holds files
 * it may name: base.raw, sparse.vmdk (a small vmdk sparse extent),
 * sub/base.raw, link-in (a symlink to base.raw), link-out (to /etc/passwd,
 * which must be refused), a directory and a FIFO. The image is opened as
 * FUZZ_FORMAT with backing files allowed and read at a few places; a qcow2
 * image is then opened read-write, and what is written or zeroed must read
 * back. A crash, leak, sanitizer report or failed read-back is a bug;
 * errors are the expected outcome for most inputs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/disk/disk.h"
#include "fuzz/disk/scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IO_MAX (64u << 10)

static uint8_t buf[IO_MAX], back[IO_MAX], want[IO_MAX];

/* A vmdk sparse extent of 128 sectors: grains of 8 sectors, 16 per grain
 * table; grain 0 at sector 3 holds bytes 0x5a, the others are holes. */
static void write_sparse_extent(void)
{
	uint8_t f[11 * 512] = {0};
	const uint32_t magic = 0x564d444b, version = 1, gtes = 16, gd = 2, grain0 = 3;
	const uint64_t capacity = 128, grain = 8, gd_sector = 1;
	memcpy(f, &magic, 4);
	memcpy(f + 4, &version, 4);
	memcpy(f + 12, &capacity, 8);
	memcpy(f + 20, &grain, 8);
	memcpy(f + 44, &gtes, 4);
	memcpy(f + 56, &gd_sector, 8);
	memcpy(f + 512, &gd, 4);
	memcpy(f + 1024, &grain0, 4);
	memset(f + 3 * 512, 0x5a, 8 * 512);
	scratch_write("sparse.vmdk", f, sizeof(f));
}

static void setup(void)
{
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + i / 512);
	scratch_write("base.raw", buf, sizeof(buf));
	write_sparse_extent();
	scratch_run("mkdir sub dir && cp base.raw sub/ && ln -s base.raw link-in && "
		    "ln -s /etc/passwd link-out && mkfifo fifo");
}

static struct disk *open_image(bool read_only)
{
	struct disk_options o = {.format = FUZZ_FORMAT, .read_only = read_only,
				 .allow_backing = true};
	struct disk *d;
	nook_error *err = NULL;
	if (disk_open(scratch_path("image"), &o, &d, &err) < 0) {
		nook_error_free(err);
		return NULL;
	}
	return d;
}

/* A place to read or write: the start, a cluster edge, the middle, the end. */
static void span(const struct disk *d, unsigned i, uint64_t *off, size_t *len)
{
	uint64_t at[] = {0, 65536 - 512, d->size / 2, d->size > IO_MAX ? d->size - IO_MAX : 0};
	*off = at[i] > d->size ? 0 : at[i] & ~UINT64_C(511);
	*len = d->size - *off < IO_MAX ? (size_t)(d->size - *off) : IO_MAX;
	if (i == 1 && *len > 8192)
		*len = 8192;
}

static void read_all(struct disk *d)
{
	for (unsigned i = 0; i < 4; i++) {
		uint64_t off;
		size_t len;
		span(d, i, &off, &len);
		struct iovec v = {buf, len};
		disk_preadv(d, &v, 1, off);
	}
}

/* Whatever a write or write-zeroes that succeeded put there reads back. */
static void check_read_back(struct disk *d, uint64_t off, size_t len, uint8_t value)
{
	struct iovec v = {back, len};
	if (disk_preadv(d, &v, 1, off) < 0)
		return;
	memset(want, value, len);
	if (memcmp(back, want, len) != 0) {
		fprintf(stderr, "wrote %#x at %llu+%zu, read back something else\n", value,
			(unsigned long long)off, len);
		abort();
	}
}

static void write_all(struct disk *d)
{
	for (unsigned i = 0; i < 4; i++) {
		uint64_t off;
		size_t len;
		span(d, i, &off, &len);
		uint8_t value = (uint8_t)(0x11 * (i + 1));
		memset(buf, value, len);
		struct iovec v = {buf, len};
		if (disk_pwritev(d, &v, 1, off) == 0)
			check_read_back(d, off, len, value);
		uint64_t zoff = off + len / 3 / 512 * 512;
		if (disk_write_zeroes(d, zoff, len / 3) == 0)
			check_read_back(d, zoff, len / 3, 0);
		/* Whole clusters and partial ones; not too many, each is a
		 * system call. */
		disk_discard(d, off / 2, d->size - off / 2 < (1u << 20) ? d->size - off / 2 : 1u << 20);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		setup();
		ready = true;
	}
	scratch_write("image", data, size);
	struct disk *d = open_image(true);
	if (d) {
		read_all(d);
		disk_close(d);
	}
	if (FUZZ_FORMAT == DISK_FORMAT_QCOW2 && (d = open_image(false))) {
		write_all(d);
		read_all(d);
		disk_close(d);
	}
	return 0;
}
