#include "vm/initramfs.h"

#include "guest/protocol.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CPIO_HEADER_SIZE 110 /* "070701" and 13 fields of 8 hex digits */
#define CPIO_TRAILER "TRAILER!!!"

static size_t pad4(size_t n)
{
	return (4 - (n & 3)) & 3;
}

static int add_entry(struct cpio *cpio, const char *name, uint32_t ino, uint32_t mode,
		     uint32_t nlink, const void *data, size_t len)
{
	size_t namesize = strlen(name) + 1, head = CPIO_HEADER_SIZE + namesize, total;

	if (namesize > UINT32_MAX || len > UINT32_MAX ||
	    __builtin_add_overflow(head + pad4(head), len + pad4(len), &total))
		return -E2BIG;
	int r = bytes_reserve(&cpio->buf, total);
	if (r < 0)
		return r;

	char hdr[CPIO_HEADER_SIZE + 1];
	snprintf(hdr, sizeof(hdr), "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		 ino, mode, 0u, 0u, nlink, 0u /* mtime */, (uint32_t)len,
		 0u, 0u, 0u, 0u /* dev and rdev major, minor */, (uint32_t)namesize, 0u /* check */);
	bytes_put(&cpio->buf, hdr, CPIO_HEADER_SIZE);
	bytes_put(&cpio->buf, name, namesize);
	bytes_put_zeros(&cpio->buf, pad4(head));
	bytes_put(&cpio->buf, data, len);
	bytes_put_zeros(&cpio->buf, pad4(len));
	return 0;
}

static int add_node(struct cpio *cpio, const char *name, uint32_t mode, uint32_t nlink,
		    const void *data, size_t len)
{
	if (name[0] == '\0' || name[0] == '/' || strcmp(name, CPIO_TRAILER) == 0)
		return -EINVAL;
	if (cpio->last_ino == UINT32_MAX)
		return -E2BIG;
	int r = add_entry(cpio, name, cpio->last_ino + 1, mode, nlink, data, len);
	if (r == 0)
		cpio->last_ino++;
	return r;
}

int cpio_add_dir(struct cpio *cpio, const char *name, uint32_t mode)
{
	if (mode & ~07777u)
		return -EINVAL;
	return add_node(cpio, name, S_IFDIR | mode, 2, NULL, 0);
}

int cpio_add_file(struct cpio *cpio, const char *name, uint32_t mode,
		       const void *data, size_t len)
{
	if (mode & ~07777u)
		return -EINVAL;
	return add_node(cpio, name, S_IFREG | mode, 1, data, len);
}

int cpio_add_symlink(struct cpio *cpio, const char *name, const char *target)
{
	if (target[0] == '\0')
		return -EINVAL;
	return add_node(cpio, name, S_IFLNK | 0777, 1, target, strlen(target));
}

int cpio_finish(struct cpio *cpio)
{
	return add_entry(cpio, CPIO_TRAILER, 0, 0, 1, NULL, 0);
}

int initramfs_build(struct bytes *out, const void *init, size_t init_len)
{
	struct cpio cpio = { 0 };
	int r;

	/* The names in the archive are relative to the root. */
	if ((r = cpio_add_dir(&cpio, "nook", 0755)) < 0 ||
	    (r = cpio_add_file(&cpio, &NOOK_INIT_PATH[1], 0755, init, init_len)) < 0 ||
	    (r = cpio_finish(&cpio)) < 0) {
		bytes_free(&cpio.buf);
		return r;
	}
	*out = cpio.buf;
	return 0;
}
