#include "vm/initramfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CPIO_HEADER_SIZE 110 /* "070701" and 13 fields of 8 hex digits */
#define CPIO_TRAILER "TRAILER!!!"

void initramfs_buf_free(struct initramfs_buf *buf)
{
	free(buf->data);
	*buf = (struct initramfs_buf){ 0 };
}

/* Makes room for `n` more bytes. */
static int reserve(struct initramfs_buf *buf, size_t n)
{
	size_t need, cap = buf->cap ? buf->cap : 4096;

	if (__builtin_add_overflow(buf->len, n, &need))
		return -ENOMEM;
	if (need <= buf->cap)
		return 0;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *data = realloc(buf->data, cap);
	if (!data)
		return -ENOMEM;
	buf->data = data;
	buf->cap = cap;
	return 0;
}

/* put*() write into room made by reserve(). */
static void put(struct initramfs_buf *buf, const void *data, size_t len)
{
	if (len)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
}

static void put_zeros(struct initramfs_buf *buf, size_t len)
{
	memset(buf->data + buf->len, 0, len);
	buf->len += len;
}

static void put_le(struct initramfs_buf *buf, uint64_t v, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++)
		buf->data[buf->len++] = (uint8_t)(v >> (8 * i));
}

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
	int r = reserve(&cpio->buf, total);
	if (r < 0)
		return r;

	char hdr[CPIO_HEADER_SIZE + 1];
	snprintf(hdr, sizeof(hdr), "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		 ino, mode, 0u, 0u, nlink, 0u /* mtime */, (uint32_t)len,
		 0u, 0u, 0u, 0u /* dev and rdev major, minor */, (uint32_t)namesize, 0u /* check */);
	put(&cpio->buf, hdr, CPIO_HEADER_SIZE);
	put(&cpio->buf, name, namesize);
	put_zeros(&cpio->buf, pad4(head));
	put(&cpio->buf, data, len);
	put_zeros(&cpio->buf, pad4(len));
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

static int add_record(struct initramfs_buf *buf, uint32_t tag, const void *value, size_t len)
{
	size_t total;

	if (len > UINT32_MAX || __builtin_add_overflow(len, (size_t)8, &total))
		return -E2BIG;
	int r = reserve(buf, total);
	if (r < 0)
		return r;
	put_le(buf, tag, 4);
	put_le(buf, len, 4);
	put(buf, value, len);
	return 0;
}

int init_config_add_string(struct initramfs_buf *buf, enum nook_init_tag tag,
				const char *value)
{
	switch (tag) {
	case NOOK_TAG_EXEC_PATH:
	case NOOK_TAG_WORKDIR:
	case NOOK_TAG_ROOT:
	case NOOK_TAG_ROOT_LOWER:
	case NOOK_TAG_ROOT_UPPER:
		if (value[0] == '\0')
			return -EINVAL;
		break;
	case NOOK_TAG_ENV:
		if (value[0] == '=' || !strchr(value, '='))
			return -EINVAL;
		break;
	case NOOK_TAG_ARG:
		break;
	default:
		return -EINVAL;
	}
	return add_record(buf, tag, value, strlen(value));
}

int init_config_add_mount(struct initramfs_buf *buf, uint32_t flags, const char *tag,
				const char *path)
{
	size_t tag_len = strlen(tag), path_len = strlen(path);
	if (tag_len == 0 || tag_len > UINT32_MAX || path[0] != '/' || path_len > UINT32_MAX - 8 - tag_len)
		return -EINVAL;
	struct initramfs_buf v = { 0 };
	int r = reserve(&v, 8 + tag_len + path_len);
	if (r == 0) {
		put_le(&v, flags, 4);
		put_le(&v, tag_len, 4);
		put(&v, tag, tag_len);
		put(&v, path, path_len);
		r = add_record(buf, NOOK_TAG_MOUNT, v.data, v.len);
	}
	initramfs_buf_free(&v);
	return r;
}

int init_config_add_rlimit(struct initramfs_buf *buf, uint32_t resource,
				uint64_t soft, uint64_t hard)
{
	uint8_t value[20];
	struct initramfs_buf v = { .data = value, .cap = sizeof(value) };

	put_le(&v, resource, 4);
	put_le(&v, soft, 8);
	put_le(&v, hard, 8);
	return add_record(buf, NOOK_TAG_RLIMIT, value, sizeof(value));
}

int init_config_add_net(struct initramfs_buf *buf,
			     const uint8_t value[NOOK_NET_RECORD_SIZE])
{
	return add_record(buf, NOOK_TAG_NET, value, NOOK_NET_RECORD_SIZE);
}

int initramfs_build(struct initramfs_buf *out, const void *init, size_t init_len,
			 const void *config, size_t config_len)
{
	struct cpio cpio = { 0 };
	int r;

	/* The names in the archive are relative to the root. */
	if ((r = cpio_add_dir(&cpio, "nook", 0755)) < 0 ||
	    (r = cpio_add_file(&cpio, NOOK_INIT_PATH + 1, 0755, init, init_len)) < 0 ||
	    (r = cpio_add_file(&cpio, NOOK_INIT_CONFIG_PATH + 1, 0600, config, config_len)) < 0 ||
	    (r = cpio_finish(&cpio)) < 0) {
		initramfs_buf_free(&cpio.buf);
		return r;
	}
	*out = cpio.buf;
	return 0;
}
