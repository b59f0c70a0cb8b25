/* The format-independent part of the disk interface: opening by declared
 * (or, only when asked, probed) format, and the range checks every request
 * passes before a format sees it. */
#include "backends/disk/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

/* Probing reads the first bytes; a raw image whose guest wrote a qcow2
 * header would be reopened as qcow2 (and could then name any file beside
 * it as its backing file), which is why probing happens only on request,
 * for the user's own image; the format of a file that an image names is
 * never probed. */
static int probe_format(const struct disk_path *p, enum disk_format *format, nook_error **err)
{
	struct disk_file f;
	int r = disk_file_open(&f, p, true, false, err);
	if (r < 0)
		return r;
	uint8_t head[4] = {0};
	int64_t n = disk_file_pread_upto(&f, head, sizeof(head), 0);
	disk_file_close(&f);
	if (n < 0)
		return error_set(err, (int)-n, "disk %s: %s", p->shown, strerror((int)-n));
	if (n == 4 && memcmp(head, "QFI\xfb", 4) == 0)
		*format = DISK_FORMAT_QCOW2;
	else if (n == 4 && (memcmp(head, "KDMV", 4) == 0 || memcmp(head, "# Di", 4) == 0))
		*format = DISK_FORMAT_VMDK;
	else
		*format = DISK_FORMAT_RAW;
	return 0;
}

int disk_open(const char *path, const struct disk_options *opt, struct disk **out,
	      nook_error **err)
{
	struct disk_path p = {.dir = AT_FDCWD, .name = path, .shown = path};
	return disk_open_path(&p, opt, out, err);
}

int disk_open_path(const struct disk_path *p, const struct disk_options *opt, struct disk **out,
		   nook_error **err)
{
	struct disk_options o = *opt;
	*out = NULL;
	if (o.format == DISK_FORMAT_AUTO) {
		int r = probe_format(p, &o.format, err);
		if (r < 0)
			return r;
	}
	switch (o.format) {
	case DISK_FORMAT_RAW:
		return raw_open(p, &o, out, err);
	case DISK_FORMAT_QCOW2:
		return qcow2_open(p, &o, out, err);
	case DISK_FORMAT_VMDK:
		if (!o.read_only)
			return error_set(err, EINVAL,
					      "disk %s: vmdk images are read-only: open it read-only",
					      p->shown);
		return vmdk_open(p, &o, out, err);
	default:
		return error_set(err, EINVAL, "disk %s: unknown format %d", p->shown, (int)o.format);
	}
}

void disk_close(struct disk *d)
{
	if (d)
		d->ops->close(d);
}

static int check_range(const struct disk *d, uint64_t off, uint64_t len)
{
	return off > d->size || len > d->size - off ? -EINVAL : 0;
}

int disk_preadv(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off)
{
	int r = check_range(d, off, iov_total(iov, iovcnt, NULL));
	return r < 0 ? r : d->ops->preadv(d, iov, iovcnt, off);
}

int disk_pwritev(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off)
{
	if (d->read_only)
		return -EROFS;
	int r = check_range(d, off, iov_total(iov, iovcnt, NULL));
	return r < 0 ? r : d->ops->pwritev(d, iov, iovcnt, off);
}

int disk_discard(struct disk *d, uint64_t off, uint64_t len)
{
	if (d->read_only)
		return -EROFS;
	int r = check_range(d, off, len);
	/* Discarding is advisory; an empty range is nothing to do (and
	 * fallocate would refuse it). */
	if (r < 0 || !d->ops->discard || len == 0)
		return r;
	return d->ops->discard(d, off, len);
}

int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len)
{
	if (d->read_only)
		return -EROFS;
	int r = check_range(d, off, len);
	if (r < 0 || len == 0)
		return r;
	return d->ops->write_zeroes(d, off, len);
}

int disk_flush(struct disk *d, bool data_only)
{
	return d->read_only ? 0 : d->ops->flush(d, data_only);
}

bool disk_can_discard(const struct disk *d)
{
	return !d->read_only && d->ops->discard;
}
