/* Fuzz target for the image parsers (header, tables, backing file name,
 * extensions, grain directories): the input is an image file. It is opened
 * read-only as FUZZ_FORMAT and read at a few places, then opened
 * read-write (qcow2) and written. Any crash, leak or sanitizer report is a
 * bug; errors are the expected outcome for most inputs. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/disk/disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const char *path, bool read_only)
{
	struct disk_options o = {.format = FUZZ_FORMAT, .read_only = read_only};
	struct disk *d;
	nook_error *err = NULL;
	if (disk_open(path, &o, &d, &err) < 0) {
		nook_error_free(err);
		return;
	}
	static uint8_t buf[256 << 10];
	uint64_t offsets[] = {0, 65536 - 512, d->size / 2, d->size > sizeof(buf) ? d->size - sizeof(buf) : 0};
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		uint64_t len = d->size - offsets[i] < sizeof(buf) ? d->size - offsets[i] : sizeof(buf);
		if (offsets[i] > d->size)
			continue;
		struct iovec v = {buf, len & ~UINT64_C(511)};
		if (read_only) {
			disk_preadv(d, &v, 1, offsets[i] & ~UINT64_C(511));
		} else {
			memset(buf, (int)i + 1, sizeof(buf));
			v.iov_len = len > 8192 ? 8192 : len & ~UINT64_C(511);
			disk_pwritev(d, &v, 1, offsets[i] & ~UINT64_C(511));
			disk_write_zeroes(d, offsets[i] & ~UINT64_C(511), v.iov_len);
			disk_discard(d, 0, d->size);
		}
	}
	disk_close(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A file of our own: the parsers read through file descriptors. */
	int fd = memfd_create("fuzz-image", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (write(fd, data, size) == (ssize_t)size) {
		exercise(path, true);
		if (FUZZ_FORMAT == DISK_FORMAT_QCOW2)
			exercise(path, false);
	}
	close(fd);
	return 0;
}
