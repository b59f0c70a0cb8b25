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
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/fs/fs_internal.h"

void fs_fill_attr(const struct fs_server *s, struct fuse_attr *a, const struct stat *st)
{
	bool dax = atomic_load(&s->dax_inode) && S_ISREG(st->st_mode) &&
		   (uint64_t)st->st_size >= FS_DAX_INODE_MIN;
	*a = (struct fuse_attr){
		.ino = st->st_ino, .size = (uint64_t)st->st_size, .blocks = (uint64_t)st->st_blocks,
		.atime = (uint64_t)st->st_atim.tv_sec, .mtime = (uint64_t)st->st_mtim.tv_sec,
		.ctime = (uint64_t)st->st_ctim.tv_sec, .atimensec = (uint32_t)st->st_atim.tv_nsec,
		.mtimensec = (uint32_t)st->st_mtim.tv_nsec, .ctimensec = (uint32_t)st->st_ctim.tv_nsec,
		.mode = st->st_mode, .nlink = (uint32_t)st->st_nlink, .uid = st->st_uid,
		.gid = st->st_gid, .blksize = (uint32_t)st->st_blksize,
		/* The client's new_decode_dev() form. */
		.rdev = (minor(st->st_rdev) & 0xff) | major(st->st_rdev) << 8 |
			(minor(st->st_rdev) & ~0xffu) << 12,
		.flags = dax ? FUSE_ATTR_DAX : 0,
	};
}

/* The host's stat of a node (the synthetic root's own). */
int fs_node_host_stat(struct fs_server *s, const struct fs_node *nd, struct stat *st)
{
	if (nd->fd < 0) {
		*st = (struct stat){.st_ino = FS_SYNTH_ROOT_INO, .st_mode = S_IFDIR | 0555,
				    .st_nlink = 2 + s->nexports, .st_blksize = 4096,
				    .st_atim = s->created, .st_mtim = s->created,
				    .st_ctim = s->created};
		return 0;
	}
	return fs_fd_stat(nd->fd, st);
}

/* The stat the guest sees of a node. */
int fs_node_stat(struct fs_server *s, struct fs_node *nd, struct stat *st)
{
	int e = fs_node_host_stat(s, nd, st);
	if (e == 0)
		fs_node_guest_stat(nd, st);
	return e;
}

static int reply_attr(struct fs_req *r, struct fs_node *nd)
{
	struct stat st;
	int e = fs_node_stat(r->s, nd, &st);
	if (e < 0)
		return e;
	struct fuse_attr_out o = {.attr_valid = FS_ATTR_TIMEOUT};
	fs_fill_attr(r->s, &o.attr, &st);
	return fs_reply_add(r, &o, sizeof(o));
}

int fs_op_getattr(struct fs_req *r, struct fs_node *nd)
{
	return reply_attr(r, nd);
}

/* chmod, chown and KILL_SUIDGID change the guest's view, never the host
 * object's owner (fs_node_set_view). */
static int set_view(struct fs_node *nd, const struct fuse_setattr_in *in)
{
	if (((in->valid & FATTR_UID) && in->uid == UINT32_MAX) ||
	    ((in->valid & FATTR_GID) && in->gid == UINT32_MAX))
		return -EINVAL;
	/* An explicit mode wins over what a kill would leave. */
	if ((in->valid & FATTR_KILL_SUIDGID) && !(in->valid & FATTR_MODE)) {
		int e = fs_node_kill_privs(nd);
		if (e < 0)
			return e;
	}
	if (!(in->valid & (FATTR_MODE | FATTR_UID | FATTR_GID)))
		return 0;
	struct stat host, guest;
	int e = fs_node_stat_views(nd, &host, &guest);
	if (e < 0)
		return e;
	if (in->valid & FATTR_MODE)
		guest.st_mode = (guest.st_mode & S_IFMT) | (in->mode & 07777);
	if (in->valid & FATTR_UID)
		guest.st_uid = in->uid;
	if (in->valid & FATTR_GID)
		guest.st_gid = in->gid;
	atomic_store(&nd->nosec, false);
	return fs_node_set_view(nd, &host, &guest, false);
}

/* Through the client's handle or, without one, a descriptor of our own
 * (truncate(2) on the path could wait for a lease break). */
static int truncate_node(struct fs_node *nd, struct fs_handle *h, off_t size)
{
	int e = fs_node_disarm(nd);
	if (e < 0)
		return e;
	int fd = h ? h->fd : fs_node_reopen(nd, O_WRONLY);
	if (fd < 0)
		return fd;
	e = ftruncate(fd, size) < 0 ? -errno : 0;
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
	int e = set_view(nd, in);
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

/* ---- extended attributes (names mapped by fs_owner.c) ---- */

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
	char host[XATTR_NAME_MAX + 1], p[32];
	if ((e = fs_xattr_host_name(name, true, host)) < 0)
		return e;
	if (fs_xattr_is_priv(name))
		atomic_store(&nd->nosec, false);
	fs_proc_path(p, nd->fd);
	return setxattr(p, host, r->arg, in->size, (int)in->flags) < 0 ? -errno : 0;
}

/* A value or list of `len` bytes in buf: its size when the client asks for
 * it (size 0), else the bytes if they fit. */
static int reply_xattr(struct fs_req *r, uint32_t size, const char *buf, size_t len)
{
	if (!size)
		return fs_reply_add(r, &(struct fuse_getxattr_out){.size = (uint32_t)len},
				    sizeof(struct fuse_getxattr_out));
	return len > size ? -ERANGE : fs_reply_add(r, buf, len);
}

int fs_op_getxattr(struct fs_req *r, struct fs_node *nd)
{
	const struct fuse_getxattr_in *in = r->fixed;
	int e = 0;
	const char *name = fs_arg_string(r, XATTR_NAME_MAX, &e);
	if (!name)
		return e;
	char host[XATTR_NAME_MAX + 1], p[32];
	if (nd->fd < 0)
		return -ENODATA;
	if ((e = fs_xattr_host_name(name, false, host)) < 0)
		return e;
	fs_proc_path(p, nd->fd);
	size_t size = in->size > XATTR_SIZE_MAX ? XATTR_SIZE_MAX : in->size;
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf)
		return -ENOMEM;
	ssize_t n = getxattr(p, host, buf, size);
	e = n < 0 ? -errno : reply_xattr(r, in->size, buf, (size_t)n);
	free(buf);
	return e;
}

int fs_op_listxattr(struct fs_req *r, struct fs_node *nd)
{
	const struct fuse_getxattr_in *in = r->fixed;
	if (nd->fd < 0)
		return reply_xattr(r, in->size, NULL, 0);
	/* The whole host list, since the guest's is a part of it. */
	char *buf = malloc(XATTR_LIST_MAX), p[32];
	if (!buf)
		return -ENOMEM;
	fs_proc_path(p, nd->fd);
	ssize_t n = listxattr(p, buf, XATTR_LIST_MAX);
	int e = n < 0 ? -errno : reply_xattr(r, in->size, buf, fs_xattr_guest_list(buf, (size_t)n));
	free(buf);
	return e;
}

int fs_op_removexattr(struct fs_req *r, struct fs_node *nd)
{
	int e = 0;
	const char *name = fs_arg_string(r, XATTR_NAME_MAX, &e);
	if (!name)
		return e;
	if (nd->fd < 0 || fs_node_read_only(r->s, nd))
		return -EROFS;
	char host[XATTR_NAME_MAX + 1], p[32];
	if ((e = fs_xattr_host_name(name, true, host)) < 0)
		return e;
	fs_proc_path(p, nd->fd);
	return removexattr(p, host) < 0 ? -errno : 0;
}
