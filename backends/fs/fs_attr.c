/* Attributes and extended attributes: GETATTR, SETATTR, READLINK, STATFS,
 * ACCESS, SETXATTR, GETXATTR, LISTXATTR, REMOVEXATTR. Calls that need a
 * path use /proc/self/fd/N, the node's own inode (a symlink node stays the
 * symlink). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/fs/fs_internal.h"

void fs_fill_attr(struct fuse_attr *a, const struct stat *st)
{
	*a = (struct fuse_attr){
		.ino = st->st_ino, .size = (uint64_t)st->st_size, .blocks = (uint64_t)st->st_blocks,
		.atime = (uint64_t)st->st_atim.tv_sec, .mtime = (uint64_t)st->st_mtim.tv_sec,
		.ctime = (uint64_t)st->st_ctim.tv_sec, .atimensec = (uint32_t)st->st_atim.tv_nsec,
		.mtimensec = (uint32_t)st->st_mtim.tv_nsec, .ctimensec = (uint32_t)st->st_ctim.tv_nsec,
		.mode = st->st_mode, .nlink = (uint32_t)st->st_nlink, .uid = st->st_uid,
		.gid = st->st_gid, .rdev = (uint32_t)st->st_rdev, .blksize = (uint32_t)st->st_blksize,
	};
}

int fs_node_stat(struct fs_server *s, const struct fs_node *nd, struct stat *st)
{
	if (nd->fd < 0) {
		*st = (struct stat){.st_ino = FS_SYNTH_ROOT_INO, .st_mode = S_IFDIR | 0555,
				    .st_nlink = 2 + s->nexports, .st_blksize = 4096,
				    .st_atim = s->created, .st_mtim = s->created,
				    .st_ctim = s->created};
		return 0;
	}
	if (fstatat(nd->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int reply_attr(struct fs_req *r, const struct fs_node *nd)
{
	struct stat st;
	int e = fs_node_stat(r->s, nd, &st);
	if (e < 0)
		return e;
	struct fuse_attr_out o = {.attr_valid = FS_ATTR_TIMEOUT};
	fs_fill_attr(&o.attr, &st);
	return fs_reply_add(r, &o, sizeof(o));
}

int fs_op_getattr(struct fs_req *r, struct fs_node *nd)
{
	return reply_attr(r, nd);
}

/* Through the client's handle or, without one, a descriptor of our own
 * (truncate(2) on the path could wait for a lease break). */
static int truncate_node(struct fs_node *nd, struct fs_handle *h, off_t size)
{
	int fd = h ? h->fd : fs_node_reopen(nd, O_WRONLY);
	if (fd < 0)
		return fd;
	int e = ftruncate(fd, size) < 0 ? -errno : 0;
	if (!h)
		close(fd);
	return e;
}

int fs_op_setattr(struct fs_req *r, struct fs_node *nd)
{
	const struct fuse_setattr_in *in = r->fixed;
	if (fs_node_read_only(r->s, nd))
		return -EROFS;
	struct fs_handle *h = NULL;
	if (in->valid & FATTR_FH) {
		if (!(h = fs_handle_get(r->s, in->fh)))
			return -EBADF;
		if (h->node != nd || h->fd < 0) {
			fs_handle_put(r->s, h);
			return -EBADF;
		}
	}
	char p[32];
	fs_proc_path(p, nd->fd);
	int e = 0;
	if (in->valid & FATTR_MODE) {
		if ((h ? fchmod(h->fd, in->mode & 07777) : chmod(p, in->mode & 07777)) < 0)
			e = -errno;
	}
	if (!e && (in->valid & (FATTR_UID | FATTR_GID))) {
		uid_t uid = in->valid & FATTR_UID ? in->uid : (uid_t)-1;
		gid_t gid = in->valid & FATTR_GID ? in->gid : (gid_t)-1;
		if (fchownat(nd->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			e = -errno;
	}
	if (!e && (in->valid & FATTR_SIZE)) {
		if (in->size > INT64_MAX)
			e = -EFBIG;
		else if (nd->type != S_IFREG)
			e = nd->type == S_IFDIR ? -EISDIR : -EINVAL;
		else
			e = truncate_node(nd, h, (off_t)in->size);
	}
	if (!e && (in->valid & (FATTR_ATIME | FATTR_MTIME))) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
		if (in->valid & FATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (in->valid & FATTR_ATIME)
			ts[0] = (struct timespec){(time_t)in->atime, in->atimensec % 1000000000};
		if (in->valid & FATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (in->valid & FATTR_MTIME)
			ts[1] = (struct timespec){(time_t)in->mtime, in->mtimensec % 1000000000};
		if (utimensat(nd->fd, "", ts, AT_EMPTY_PATH) < 0)
			e = -errno;
	}
	if (h)
		fs_handle_put(r->s, h);
	return e ? e : reply_attr(r, nd);
}

int fs_op_readlink(struct fs_req *r, struct fs_node *nd)
{
	if (nd->type != S_IFLNK)
		return -EINVAL;
	char buf[PATH_MAX];
	ssize_t n = readlinkat(nd->fd, "", buf, sizeof(buf));
	if (n < 0)
		return -errno;
	return fs_reply_add(r, buf, (size_t)n);
}

int fs_op_statfs(struct fs_req *r, struct fs_node *nd)
{
	struct fuse_statfs_out o = {.st = {.bsize = 4096, .frsize = 4096, .namelen = NAME_MAX}};
	struct statfs sf;
	if (nd->fd >= 0) {
		if (fstatfs(nd->fd, &sf) < 0)
			return -errno;
		o.st = (struct fuse_kstatfs){
			.blocks = sf.f_blocks, .bfree = sf.f_bfree, .bavail = sf.f_bavail,
			.files = sf.f_files, .ffree = sf.f_ffree, .bsize = (uint32_t)sf.f_bsize,
			.namelen = (uint32_t)sf.f_namelen, .frsize = (uint32_t)sf.f_frsize};
	}
	return fs_reply_add(r, &o, sizeof(o));
}

int fs_op_access(struct fs_req *r, struct fs_node *nd)
{
	const struct fuse_access_in *in = r->fixed;
	if (nd->fd < 0)
		return (in->mask & W_OK) ? -EROFS : 0;
	if ((in->mask & W_OK) && fs_node_read_only(r->s, nd))
		return -EROFS;
	return faccessat(nd->fd, "", (int)(in->mask & 7), AT_EMPTY_PATH | AT_EACCESS |
			 AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* ---- extended attributes ---- */

int fs_op_setxattr(struct fs_req *r, struct fs_node *nd)
{
	const struct fuse_setxattr_in *in = r->fixed;
	int e = 0;
	const char *name = fs_arg_string(r, XATTR_NAME_MAX, &e);
	if (!name)
		return e;
	if (in->size > r->arglen || in->size > XATTR_SIZE_MAX)
		return -EINVAL;
	if (nd->fd < 0 || fs_node_read_only(r->s, nd))
		return -EROFS;
	char p[32];
	fs_proc_path(p, nd->fd);
	return setxattr(p, name, r->arg, in->size, (int)in->flags) < 0 ? -errno : 0;
}

static int get_or_list_xattr(struct fs_req *r, struct fs_node *nd, bool list)
{
	const struct fuse_getxattr_in *in = r->fixed;
	int e = 0;
	const char *name = list ? "" : fs_arg_string(r, XATTR_NAME_MAX, &e);
	if (!name)
		return e;
	if (nd->fd < 0 && !list)
		return -ENODATA;
	size_t size = in->size > XATTR_SIZE_MAX ? XATTR_SIZE_MAX : in->size;
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf)
		return -ENOMEM;
	char p[32];
	fs_proc_path(p, nd->fd);
	ssize_t n = nd->fd < 0 ? 0 : list ? listxattr(p, buf, size) : getxattr(p, name, buf, size);
	if (n < 0)
		e = -errno;
	else if (size)
		e = fs_reply_add(r, buf, (size_t)n);
	else
		e = fs_reply_add(r, &(struct fuse_getxattr_out){.size = (uint32_t)n},
				 sizeof(struct fuse_getxattr_out));
	free(buf);
	return e;
}

int fs_op_getxattr(struct fs_req *r, struct fs_node *nd)
{
	return get_or_list_xattr(r, nd, false);
}

int fs_op_listxattr(struct fs_req *r, struct fs_node *nd)
{
	return get_or_list_xattr(r, nd, true);
}

int fs_op_removexattr(struct fs_req *r, struct fs_node *nd)
{
	int e = 0;
	const char *name = fs_arg_string(r, XATTR_NAME_MAX, &e);
	if (!name)
		return e;
	if (nd->fd < 0 || fs_node_read_only(r->s, nd))
		return -EROFS;
	char p[32];
	fs_proc_path(p, nd->fd);
	return removexattr(p, name) < 0 ? -errno : 0;
}
