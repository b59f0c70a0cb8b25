/* Disk images: the host side of virtio-blk. One interface, one file per
 * format (raw.c, qcow2.c, vmdk.c); file.c does the host file I/O, including
 * the aligned bounce buffers that O_DIRECT needs.
 *
 * Images are hostile input: every offset read from an image is checked
 * before use; a bad image fails at open with a message, or a request fails
 * with -EIO. Nothing is ever written outside the image file. The files an
 * image names (a qcow2 backing file, vmdk extents) are opened only when the
 * user allows it, only beneath the naming image's own directory, only as
 * regular files, and only in a format the image records. A disk is used by
 * one thread at a time. */
#ifndef NOOK_BACKENDS_DISK_DISK_H
#define NOOK_BACKENDS_DISK_DISK_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "util/iov.h"

#include "util/error.h"

enum disk_format { DISK_FORMAT_RAW, DISK_FORMAT_QCOW2, DISK_FORMAT_VMDK, DISK_FORMAT_AUTO };

struct disk_options {
	enum disk_format format;
	bool read_only;
	bool direct; /* O_DIRECT on the image files */
	/* Whether the image may name other files (a qcow2 backing file, vmdk
	 * extents); even then only beneath its own directory. */
	bool allow_backing;
	/* The images above this one in a backing chain, nearest first; NULL
	 * for the caller. */
	const struct disk_chain *above;
};

/* One image of a backing chain: a loop or an overlong chain is refused. */
struct disk_chain {
	dev_t dev;
	ino_t ino;
	const struct disk_chain *above;
};

struct disk;

struct disk_ops {
	const char *name;
	/* off + total length is within the disk's size (checked by disk.c). */
	int (*preadv)(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off);
	int (*pwritev)(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off);
	/* NULL: the format has no cheaper way than writing zeroes / ignores it. */
	int (*discard)(struct disk *d, uint64_t off, uint64_t len);
	int (*write_zeroes)(struct disk *d, uint64_t off, uint64_t len);
	int (*flush)(struct disk *d, bool data_only);
	void (*close)(struct disk *d);
};

/* What every format's state starts with. */
struct disk {
	const struct disk_ops *ops;
	uint64_t size; /* bytes the guest sees */
	bool read_only;
};

/* Opens `path` as opt->format (AUTO: probed from its header). The error
 * names the path and the problem. */
int disk_open(const char *path, const struct disk_options *opt, struct disk **out,
	      nook_error **err);
void disk_close(struct disk *d);

/* 0 or a negative errno; -EROFS on a read-only disk, -EINVAL out of range. */
int disk_preadv(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off);
int disk_pwritev(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off);
int disk_discard(struct disk *d, uint64_t off, uint64_t len);
int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len);
/* data_only: fdatasync rather than fsync. */
int disk_flush(struct disk *d, bool data_only);
bool disk_can_discard(const struct disk *d);

/* ---- for the format implementations ---- */

/* An image file's name: the user's own (dir is AT_FDCWD), opened as given,
 * a regular file or a block device; or a name that another image holds,
 * resolved beneath `dir`, an O_PATH descriptor of that image's directory,
 * and only a regular file. */
struct disk_path {
	int dir;
	const char *name;
	const char *shown; /* in messages */
};

/* A file that an image names, ready to open (disk_ref_resolve). */
struct disk_ref {
	struct disk_path path;
	char shown[PATH_MAX];
};

/* Checks the name `name` that the image at `img` holds (`what` it is:
 * "backing file", "extent"): refused unless `allowed`; it must be relative
 * with no ".." component. Opens img's directory for ref->path; release it
 * with disk_ref_close. */
int disk_ref_resolve(struct disk_ref *ref, const struct disk_path *img, const char *name,
		     const char *what, bool allowed, nook_error **err);
void disk_ref_close(struct disk_ref *ref);

/* disk_open for a name that is not necessarily the user's own. */
int disk_open_path(const struct disk_path *p, const struct disk_options *opt, struct disk **out,
		   nook_error **err);

/* A host file; with `direct`, I/O that is not aligned to `align` goes
 * through an aligned bounce buffer. */
struct disk_file {
	int fd;
	bool direct;
	size_t align;
};

int disk_file_open(struct disk_file *f, const struct disk_path *p, bool read_only, bool direct,
		   nook_error **err);
void disk_file_close(struct disk_file *f);
/* Whole transfers: a read past the end of the file fails with -EIO. */
int disk_file_preadv(struct disk_file *f, const struct iovec *iov, int iovcnt, uint64_t off);
int disk_file_pwritev(struct disk_file *f, const struct iovec *iov, int iovcnt, uint64_t off);
int disk_file_pread(struct disk_file *f, void *buf, size_t len, uint64_t off);
int disk_file_pwrite(struct disk_file *f, const void *buf, size_t len, uint64_t off);
/* Reads what there is; returns the number of bytes read (short at EOF). */
int64_t disk_file_pread_upto(struct disk_file *f, void *buf, size_t len, uint64_t off);
int disk_file_size(struct disk_file *f, uint64_t *size);
int disk_file_sync(struct disk_file *f, bool data_only);
/* Deallocates (reads back as zeroes) where the file system can; 0 or -errno. */
int disk_file_punch(struct disk_file *f, uint64_t off, uint64_t len);
int disk_file_zero(struct disk_file *f, uint64_t off, uint64_t len);

/* Format openers, for disk.c. */
int raw_open(const struct disk_path *p, const struct disk_options *opt, struct disk **out,
	     nook_error **err);
int qcow2_open(const struct disk_path *p, const struct disk_options *opt, struct disk **out,
	       nook_error **err);
int vmdk_open(const struct disk_path *p, const struct disk_options *opt, struct disk **out,
	      nook_error **err);

/* Bounds on what an image may ask for. */
#define DISK_MAX_SIZE (UINT64_C(1) << 50) /* 1 PiB */
#define DISK_IOV_MAX 1024

#endif
