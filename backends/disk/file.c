/* Host file I/O for the disk formats. With O_DIRECT the kernel wants the
 * buffers, offsets and lengths aligned; the guest's buffers often are not,
 * so unaligned transfers go through an aligned bounce buffer (writes read
 * the partial edge blocks first). */
#include "backends/disk/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DIRECT_ALIGN 4096
#define BOUNCE_MAX (1u << 20)

/* `name` beneath the directory `dir`: no absolute path, no ".." above it,
 * no symlink leading out, no /proc magic link. */
static int open_beneath(int dir, const char *name, int flags)
{
	struct open_how how = {.flags = (uint64_t)flags,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	return (int)syscall(SYS_openat2, dir, name, &how, sizeof(how));
}

int disk_file_open(struct disk_file *f, const struct disk_path *p, bool read_only, bool direct,
		   nook_error **err)
{
	bool named = p->dir != AT_FDCWD; /* by an image, not by the user */
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (it is
	 * refused below). */
	int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
		    (direct ? O_DIRECT : 0);
	f->fd = named ? open_beneath(p->dir, p->name, flags) : open(p->name, flags);
	if (f->fd < 0 && direct && errno == EINVAL)
		return error_set(err, EINVAL, "disk %s: the file system does not support direct "
						   "I/O (O_DIRECT)", p->shown);
	if (f->fd < 0 && named && errno == EXDEV)
		return error_set(err, EXDEV, "disk %s: leads outside the directory of the image "
						  "that names it", p->shown);
	if (f->fd < 0)
		return error_set(err, errno, "disk %s: %s", p->shown, strerror(errno));
	struct stat st;
	int fl;
	if (fstat(f->fd, &st) < 0 || !(S_ISREG(st.st_mode) || (!named && S_ISBLK(st.st_mode)))) {
		disk_file_close(f);
		return error_set(err, EINVAL, named ? "disk %s: not a regular file (a backing "
							"file or extent must be one)"
						    : "disk %s: not a regular file or block device",
				      p->shown);
	}
	if ((fl = fcntl(f->fd, F_GETFL)) < 0 || fcntl(f->fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int e = errno;
		disk_file_close(f);
		return error_set(err, e, "disk %s: %s", p->shown, strerror(e));
	}
	f->direct = direct;
	f->align = DIRECT_ALIGN;
	return 0;
}

static bool has_dotdot(const char *name)
{
	for (const char *c = name; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return true;
		c += n;
		c += strspn(c, "/");
	}
	return false;
}

int disk_ref_resolve(struct disk_ref *ref, const struct disk_path *img, const char *name,
		     const char *what, bool allowed, nook_error **err)
{
	ref->path = (struct disk_path){.dir = -1, .name = name, .shown = ref->shown};
	if (!allowed)
		return error_set(err, EPERM, "disk %s: the image names the %s \"%s\", and the files "
						  "an image names are off; allow them with --disk "
						  "PATH,backing=on",
				      img->shown, what, name);
	if (name[0] == '/')
		return error_set(err, EPERM, "disk %s: the %s \"%s\" is an absolute path; it must "
						  "be a name beneath the image's directory",
				      img->shown, what, name);
	if (has_dotdot(name))
		return error_set(err, EPERM, "disk %s: the %s \"%s\" has a \"..\" component; it "
						  "must be a name beneath the image's directory",
				      img->shown, what, name);
	/* The image's directory: its name up to the last slash. */
	char dir[PATH_MAX];
	const char *slash = strrchr(img->name, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == img->name ? 1 : (int)(slash - img->name),
			 img->name);
	int flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
	ref->path.dir = img->dir == AT_FDCWD ? open(dir, flags) : open_beneath(img->dir, dir, flags);
	if (ref->path.dir < 0)
		return error_set(err, errno, "disk %s: its directory: %s", img->shown,
				      strerror(errno));
	slash = strrchr(img->shown, '/');
	snprintf(ref->shown, sizeof(ref->shown), "%.*s%s",
		 slash ? (int)(slash - img->shown + 1) : 0, img->shown, name);
	return 0;
}

void disk_ref_close(struct disk_ref *ref)
{
	if (ref->path.dir >= 0)
		close(ref->path.dir);
	ref->path.dir = -1;
}

void disk_file_close(struct disk_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

/* One pass of preadv/pwritev over the whole iovec, resuming short transfers.
 * Returns the bytes done (short only at end of file for reads). */
static int64_t rw_all(int fd, bool write, const struct iovec *iov, int iovcnt, uint64_t off)
{
	struct iovec local[DISK_IOV_MAX];
	size_t total = iov_total(iov, iovcnt, NULL), done = 0;
	while (done < total) {
		int n = iov_slice(iov, iovcnt, done, total - done, local, DISK_IOV_MAX);
		ssize_t r = write ? pwritev(fd, local, n, (off_t)(off + done))
				  : preadv(fd, local, n, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (int64_t)done;
}

static bool aligned(const struct disk_file *f, const struct iovec *iov, int iovcnt, uint64_t off)
{
	if (off % f->align)
		return false;
	for (int i = 0; i < iovcnt; i++)
		if ((uintptr_t)iov[i].iov_base % f->align || iov[i].iov_len % f->align)
			return false;
	return true;
}

/* O_DIRECT transfer of an unaligned request through a bounce buffer, in
 * chunks of at most BOUNCE_MAX. Returns bytes done like rw_all. */
static int64_t bounce_rw(struct disk_file *f, bool write, const struct iovec *iov, int iovcnt,
			 uint64_t off)
{
	size_t total = iov_total(iov, iovcnt, NULL), done = 0;
	uint8_t *buf = aligned_alloc(f->align, BOUNCE_MAX + f->align);
	if (!buf)
		return -ENOMEM;
	int64_t ret = 0;
	while (done < total) {
		uint64_t pos = off + done;
		uint64_t start = pos - pos % f->align;
		size_t head = (size_t)(pos - start);
		size_t chunk = total - done;
		if (chunk > BOUNCE_MAX - head)
			chunk = BOUNCE_MAX - head;
		size_t span = (head + chunk + f->align - 1) / f->align * f->align;
		struct iovec b = {buf, span};
		if (write) {
			struct stat st;
			if (fstat(f->fd, &st) < 0) {
				ret = -errno;
				break;
			}
			uint64_t old_size = (uint64_t)st.st_size;
			if (head || span != head + chunk) {
				/* Keep the bytes around the request: read the edges. */
				memset(buf, 0, span);
				int64_t r = rw_all(f->fd, false, &b, 1, start);
				if (r < 0) {
					ret = r;
					break;
				}
			}
			iov_to_buf(iov, iovcnt, done, buf + head, chunk);
			int64_t r = rw_all(f->fd, true, &b, 1, start);
			if (r < 0) {
				ret = r;
				break;
			}
			/* The padding must not make a regular file longer than
			 * the request did. */
			uint64_t end = pos + chunk > old_size ? pos + chunk : old_size;
			if (S_ISREG(st.st_mode) && start + span > end && ftruncate(f->fd, (off_t)end) < 0) {
				ret = -errno;
				break;
			}
		} else {
			int64_t r = rw_all(f->fd, false, &b, 1, start);
			if (r < 0) {
				ret = r;
				break;
			}
			size_t got = (size_t)r > head ? (size_t)r - head : 0;
			if (got > chunk)
				got = chunk;
			iov_from_buf(iov, iovcnt, done, buf + head, got);
			if (got < chunk) {
				done += got;
				break;
			}
		}
		done += chunk;
	}
	free(buf);
	return ret < 0 ? ret : (int64_t)done;
}

int disk_file_preadv(struct disk_file *f, const struct iovec *iov, int iovcnt, uint64_t off)
{
	size_t total = iov_total(iov, iovcnt, NULL);
	int64_t r = f->direct && !aligned(f, iov, iovcnt, off) ? bounce_rw(f, false, iov, iovcnt, off)
							      : rw_all(f->fd, false, iov, iovcnt, off);
	if (r < 0)
		return (int)r;
	return (size_t)r == total ? 0 : -EIO;
}

int disk_file_pwritev(struct disk_file *f, const struct iovec *iov, int iovcnt, uint64_t off)
{
	size_t total = iov_total(iov, iovcnt, NULL);
	int64_t r = f->direct && !aligned(f, iov, iovcnt, off) ? bounce_rw(f, true, iov, iovcnt, off)
							      : rw_all(f->fd, true, iov, iovcnt, off);
	if (r < 0)
		return (int)r;
	return (size_t)r == total ? 0 : -EIO;
}

int disk_file_pread(struct disk_file *f, void *buf, size_t len, uint64_t off)
{
	struct iovec v = {buf, len};
	return disk_file_preadv(f, &v, 1, off);
}

int disk_file_pwrite(struct disk_file *f, const void *buf, size_t len, uint64_t off)
{
	struct iovec v = {(void *)buf, len};
	return disk_file_pwritev(f, &v, 1, off);
}

int64_t disk_file_pread_upto(struct disk_file *f, void *buf, size_t len, uint64_t off)
{
	struct iovec v = {buf, len};
	return f->direct && !aligned(f, &v, 1, off) ? bounce_rw(f, false, &v, 1, off)
						    : rw_all(f->fd, false, &v, 1, off);
}

int disk_file_size(struct disk_file *f, uint64_t *size)
{
	struct stat st;
	if (fstat(f->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(f->fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	*size = (uint64_t)st.st_size;
	return 0;
}

int disk_file_sync(struct disk_file *f, bool data_only)
{
	return (data_only ? fdatasync(f->fd) : fsync(f->fd)) < 0 ? -errno : 0;
}

int disk_file_punch(struct disk_file *f, uint64_t off, uint64_t len)
{
	if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	return -errno;
}

int disk_file_zero(struct disk_file *f, uint64_t off, uint64_t len)
{
	if (fallocate(f->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0 ||
	    disk_file_punch(f, off, len) == 0)
		return 0;
	/* No support in the file system: write the zeroes. */
	size_t chunk = 1 << 20;
	uint8_t *zero = aligned_alloc(DIRECT_ALIGN, chunk);
	if (!zero)
		return -ENOMEM;
	memset(zero, 0, chunk);
	int r = 0;
	for (uint64_t done = 0; r == 0 && done < len; done += chunk) {
		size_t n = len - done < chunk ? (size_t)(len - done) : chunk;
		r = disk_file_pwrite(f, zero, n, off + done);
	}
	free(zero);
	return r;
}
