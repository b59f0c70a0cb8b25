/* DAX mappings: SETUPMAPPING maps a range of a host file into the DAX
 * window (fs_server_options.dax_window), REMOVEMAPPING maps it out again.
 * The guest then reads and writes the file as memory: the host's page
 * cache pages themselves (MAP_SHARED), so each side sees the other's
 * changes at once.
 *
 * The window is guest memory, so no part of it may ever be left unmapped
 * in this process: a later mapping of the process's own (a malloc arena, a
 * thread stack) placed there would be the guest's to read and write. Where
 * nothing is mapped the window is PROT_NONE; a MAP_FIXED that fails may
 * already have unmapped its range, so it is made PROT_NONE again, and if
 * even that fails the server reports the window broken (dax_broken) and
 * maps nothing more. Ranges are whole 2 MiB units (the Linux client's
 * FUSE_DAX_SZ, announced as map_alignment), which bounds the number of
 * mappings a guest can make by the window's size.
 *
 * Checks as for READ and WRITE: regular files only; a writable mapping only
 * on a writable export, with the host file's setuid and setgid bits moved
 * out of the way first (fs_node_disarm), since its data then change
 * without any WRITE request. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/fs/fs_internal.h"

/* [off, off + len) is whole units of the window. */
static bool window_range(const struct fs_server *s, uint64_t off, uint64_t len)
{
	return len && off % FS_DAX_UNIT == 0 && len % FS_DAX_UNIT == 0 &&
	       off <= s->dax_window_size && len <= s->dax_window_size - off;
}

/* Makes [off, off + len) of the window inaccessible again. */
static int window_clear(struct fs_server *s, uint64_t off, uint64_t len)
{
	if (mmap(s->dax_window + off, len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != MAP_FAILED)
		return 0;
	int e = -errno;
	if (!atomic_exchange(&s->dax_failed, true) && s->dax_broken)
		s->dax_broken(s->dax_opaque, e);
	return e;
}

void fs_dax_reset(struct fs_server *s)
{
	if (s->dax_window && !atomic_load(&s->dax_failed))
		window_clear(s, 0, s->dax_window_size);
}

int fs_op_setupmapping(struct fs_req *r, struct fs_node *nd)
{
	const struct fuse_setupmapping_in *in = r->fixed;
	struct fs_server *s = r->s;
	if (!s->dax_window)
		return -ENOSYS;
	if (atomic_load(&s->dax_failed))
		return -EIO;
	const uint64_t known = FUSE_SETUPMAPPING_FLAG_READ | FUSE_SETUPMAPPING_FLAG_WRITE;
	bool write = in->flags & FUSE_SETUPMAPPING_FLAG_WRITE;
	if ((in->flags & ~known) || !window_range(s, in->moffset, in->len) ||
	    in->foffset % 4096 || in->foffset > (uint64_t)INT64_MAX - in->len)
		return -EINVAL;
	if (nd->type != S_IFREG)
		return -ENODEV; /* what mmap says of anything else */
	if (write && fs_node_read_only(s, nd))
		return -EROFS;
	int e = write ? fs_node_disarm(nd) : 0;
	int fd = e < 0 ? e : fs_node_reopen(nd, write ? O_RDWR : O_RDONLY);
	if (fd < 0)
		return fd;
	uint8_t *at = s->dax_window + in->moffset;
	e = mmap(at, in->len, PROT_READ | (write ? PROT_WRITE : 0), MAP_SHARED | MAP_FIXED, fd,
		 (off_t)in->foffset) == MAP_FAILED ? -errno : 0;
	close(fd);
	if (e < 0) {
		window_clear(s, in->moffset, in->len);
		return e;
	}
	/* As guest RAM: neither in a core dump nor in a child. */
	madvise(at, in->len, MADV_DONTDUMP);
	madvise(at, in->len, MADV_DONTFORK);
	return 0;
}

int fs_op_removemapping(struct fs_req *r, struct fs_node *unused)
{
	const struct fuse_removemapping_in *in = r->fixed;
	struct fs_server *s = r->s;
	if (!s->dax_window)
		return -ENOSYS;
	if (atomic_load(&s->dax_failed))
		return -EIO;
	for (uint32_t i = 0; i < in->count; i++) {
		/* The entries follow a 4-byte header: copied, not read in place. */
		const void *at = fs_arg_take(r, sizeof(struct fuse_removemapping_one));
		struct fuse_removemapping_one one;
		if (!at)
			return -EINVAL;
		memcpy(&one, at, sizeof(one));
		if (!window_range(s, one.moffset, one.len))
			return -EINVAL;
		int e = window_clear(s, one.moffset, one.len);
		if (e < 0)
			return e;
	}
	return 0;
}
