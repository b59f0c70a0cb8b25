/* Raw images: the guest's bytes at the same offsets in the file. */
#include "backends/disk/disk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct raw_disk {
	struct disk disk;
	struct disk_file file;
};

static int raw_preadv(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off)
{
	struct raw_disk *raw = (struct raw_disk *)d;
	return disk_file_preadv(&raw->file, iov, iovcnt, off);
}

static int raw_pwritev(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off)
{
	struct raw_disk *raw = (struct raw_disk *)d;
	return disk_file_pwritev(&raw->file, iov, iovcnt, off);
}

static int raw_discard(struct disk *d, uint64_t off, uint64_t len)
{
	struct raw_disk *raw = (struct raw_disk *)d;
	int r = disk_file_punch(&raw->file, off, len);
	return r == -EOPNOTSUPP ? 0 : r;
}

static int raw_write_zeroes(struct disk *d, uint64_t off, uint64_t len)
{
	struct raw_disk *raw = (struct raw_disk *)d;
	return disk_file_zero(&raw->file, off, len);
}

static int raw_flush(struct disk *d, bool data_only)
{
	struct raw_disk *raw = (struct raw_disk *)d;
	return disk_file_sync(&raw->file, data_only);
}

static void raw_close(struct disk *d)
{
	struct raw_disk *raw = (struct raw_disk *)d;
	disk_file_close(&raw->file);
	free(raw);
}

static const struct disk_ops raw_ops = {
	.name = "raw",
	.preadv = raw_preadv,
	.pwritev = raw_pwritev,
	.discard = raw_discard,
	.write_zeroes = raw_write_zeroes,
	.flush = raw_flush,
	.close = raw_close,
};

int raw_open(const struct disk_path *p, const struct disk_options *opt, struct disk **out,
	     nook_error **err)
{
	struct raw_disk *raw = calloc(1, sizeof(*raw));
	if (!raw)
		return error_set(err, ENOMEM, "disk %s: out of memory", p->shown);
	int r = disk_file_open(&raw->file, p, opt->read_only, opt->direct, err);
	if (r < 0) {
		free(raw);
		return r;
	}
	uint64_t size;
	r = disk_file_size(&raw->file, &size);
	if (r < 0) {
		disk_file_close(&raw->file);
		free(raw);
		return error_set(err, -r, "disk %s: size: %s", p->shown, strerror(-r));
	}
	raw->disk = (struct disk){.ops = &raw_ops, .size = size, .read_only = opt->read_only};
	*out = &raw->disk;
	return 0;
}
