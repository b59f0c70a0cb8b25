/* Names in directories: LOOKUP, MKNOD, MKDIR, SYMLINK, LINK, UNLINK, RMDIR,
 * RENAME, RENAME2. Every name is one component resolved beneath its parent's
 * O_PATH descriptor, never following a symlink. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backends/fs/fs_internal.h"

bool fs_is_hidden(const struct fs_server *s, const struct fs_node *parent, const char *name)
{
	return s->hidden_name && parent->export_root && !strcmp(name, s->hidden_name);
}

/* A name may be made in `parent`: a writable host directory, not the
 * hidden name. */
int fs_check_new_name(struct fs_req *r, struct fs_node *parent, const char *name)
{
	if (parent->fd < 0 || fs_node_read_only(r->s, parent))
		return -EROFS;
	if (fs_is_hidden(r->s, parent, name))
		return -EPERM;
	return 0;
}

/* The node of `name` in `parent`, with a client reference and a ref for
 * the caller (fs_node_done), and its host stat. */
int fs_lookup_child(struct fs_server *s, struct fs_node *parent, const char *name,
		    struct fs_node **out, struct stat *st)
{
	if (parent->fd < 0) {
		for (size_t i = 0; i < s->nexports; i++) {
			if (!strcmp(s->exports[i].name, name)) {
				struct fs_node *nd = s->exports[i].root;
				int e = fs_node_host_stat(s, nd, st);
				if (e < 0)
					return e;
				fs_node_add_lookup(s, nd);
				*out = nd;
				return 0;
			}
		}
		return -ENOENT;
	}
	if (fs_is_hidden(s, parent, name))
		return -ENOENT;
	struct open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
					  RESOLVE_NO_SYMLINKS};
	int fd = (int)syscall(SYS_openat2, parent->fd, name, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int e = fs_fd_stat(fd, st);
	if (e < 0) {
		close(fd);
		return e;
	}
	return fs_node_intern(s, fd, st, parent->export, out);
}

/* The entry of a node with the guest's stat of it. */
void fs_fill_entry(const struct fs_server *s, struct fuse_entry_out *e, const struct fs_node *nd,
		   const struct stat *st)
{
	*e = (struct fuse_entry_out){.nodeid = nd->nodeid, .entry_valid = FS_ATTR_TIMEOUT,
				     .attr_valid = FS_ATTR_TIMEOUT};
	fs_fill_attr(s, &e->attr, st);
}

/* Replies with the entry of nd (a client reference from fs_lookup_child)
 * and the guest's stat of it, and ends the request's use of it. */
static int reply_node(struct fs_req *r, struct fs_node *nd, const struct stat *st)
{
	struct fuse_entry_out o;
	fs_fill_entry(r->s, &o, nd, st);
	int e = fs_reply_add(r, &o, sizeof(o));
	fs_node_done(r->s, nd, e == 0);
	return e;
}

/* Looks `name` up (LOOKUP, LINK) and replies with its entry. */
static int reply_entry(struct fs_req *r, struct fs_node *parent, const char *name)
{
	struct fs_node *nd;
	struct stat st;
	int e = fs_lookup_child(r->s, parent, name, &nd, &st);
	if (e < 0)
		return e;
	fs_node_guest_stat(nd, &st);
	return reply_node(r, nd, &st);
}

int fs_op_lookup(struct fs_req *r, struct fs_node *parent)
{
	int e = 0;
	const char *name = fs_arg_name(r, &e);
	return name ? reply_entry(r, parent, name) : e;
}

/* The guest's view of an object of type|mode (rdev: a device's number) the
 * request makes in `parent` (fs_guest_new). */
int fs_new_view(struct fs_req *r, struct fs_node *parent, mode_t mode, dev_t rdev,
		struct stat *want)
{
	struct stat pst;
	int e = fs_node_stat(r->s, parent, &pst);
	return e < 0 ? e : fs_guest_new(&r->h, &pst, mode, rdev, want);
}

/* Gives a new host object (host stat *st) the guest's view of it
 * (fs_node_set_view); *st becomes the guest's stat. A host file system
 * without user xattrs cannot keep a view: the guest then sees the host's
 * owner and mode, as long as the type is the host's. */
int fs_give_view(struct fs_node *nd, struct stat *st, const struct stat *want)
{
	int e = fs_node_set_view(nd, st, want, true);
	if ((e == -ENOTSUP || e == -EOPNOTSUPP) && (st->st_mode & S_IFMT) == (want->st_mode & S_IFMT))
		return 0;
	return e;
}

/* After `name` was made in `parent` (as the host type of `want`, or a
 * plain file for guest-only types): gives it the view `want` and replies
 * with its entry; undoes the making on failure. */
static int reply_made(struct fs_req *r, struct fs_node *parent, const char *name,
		      const struct stat *want)
{
	struct fs_node *nd;
	struct stat st;
	int e = fs_lookup_child(r->s, parent, name, &nd, &st);
	if (e == 0 && (e = fs_give_view(nd, &st, want)) < 0)
		fs_node_done(r->s, nd, false);
	if (e < 0) {
		unlinkat(parent->fd, name, S_ISDIR(want->st_mode) ? AT_REMOVEDIR : 0);
		return e;
	}
	return reply_node(r, nd, &st);
}

/* The client's 32-bit device number (new_encode_dev). */
static dev_t decode_dev(uint32_t rdev)
{
	return makedev((rdev & 0xfff00) >> 8, (rdev & 0xff) | ((rdev >> 12) & 0xfff00));
}

/* FIFOs, sockets and device nodes are plain host files typed by their view
 * (the guest's kernel serves them itself, the server never opens them), so
 * the guest cannot plant a device on the host; an overlayfs whiteout
 * (char 0/0) stays one, so the upper layer of an overlay stays valid on
 * the host. */
int fs_op_mknod(struct fs_req *r, struct fs_node *parent)
{
	const struct fuse_mknod_in *in = r->fixed;
	int e = 0;
	const char *name = fs_arg_name(r, &e);
	if (!name || (e = fs_check_new_name(r, parent, name)) < 0)
		return e;
	mode_t type = in->mode & S_IFMT;
	if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
	    type != S_IFBLK)
		return -EINVAL;
	struct stat want;
	if ((e = fs_new_view(r, parent, in->mode & (S_IFMT | 07777), decode_dev(in->rdev), &want)) < 0)
		return e;
	bool whiteout = type == S_IFCHR && in->rdev == 0;
	mode_t host = whiteout ? S_IFCHR | fs_host_mode(S_IFCHR, want.st_mode)
			       : S_IFREG | fs_host_mode(S_IFREG, want.st_mode);
	if (mknodat(parent->fd, name, host, 0) < 0)
		return -errno;
	return reply_made(r, parent, name, &want);
}

int fs_op_mkdir(struct fs_req *r, struct fs_node *parent)
{
	const struct fuse_mkdir_in *in = r->fixed;
	int e = 0;
	const char *name = fs_arg_name(r, &e);
	if (!name || (e = fs_check_new_name(r, parent, name)) < 0)
		return e;
	struct stat want;
	if ((e = fs_new_view(r, parent, S_IFDIR | (in->mode & 07777), 0, &want)) < 0)
		return e;
	if (mkdirat(parent->fd, name, fs_host_mode(S_IFDIR, want.st_mode)) < 0)
		return -errno;
	return reply_made(r, parent, name, &want);
}

int fs_op_symlink(struct fs_req *r, struct fs_node *parent)
{
	int e = 0;
	const char *name = fs_arg_name(r, &e);
	if (!name)
		return e;
	const char *target = fs_arg_string(r, PATH_MAX - 1, &e);
	if (!target)
		return e;
	if (!target[0])
		return -ENOENT;
	struct stat want;
	if ((e = fs_check_new_name(r, parent, name)) < 0 ||
	    (e = fs_new_view(r, parent, S_IFLNK | 0777, 0, &want)) < 0)
		return e;
	if (symlinkat(target, parent->fd, name) < 0)
		return -errno;
	return reply_made(r, parent, name, &want);
}

int fs_op_link(struct fs_req *r, struct fs_node *newparent)
{
	const struct fuse_link_in *in = r->fixed;
	int e = 0;
	const char *name = fs_arg_name(r, &e);
	if (!name)
		return e;
	struct fs_node *nd = fs_node_get(r->s, in->oldnodeid);
	if (!nd)
		return -ESTALE;
	char p[32];
	if ((e = fs_check_new_name(r, newparent, name)) < 0)
		goto out;
	/* A file of a read-only export must not gain a writable name. */
	if (fs_node_read_only(r->s, nd)) {
		e = -EROFS;
		goto out;
	}
	if (nd->type == S_IFDIR) {
		e = -EPERM;
		goto out;
	}
	fs_proc_path(p, nd->fd);
	if (linkat(AT_FDCWD, p, newparent->fd, name, AT_SYMLINK_FOLLOW) < 0) {
		e = -errno;
		goto out;
	}
	e = reply_entry(r, newparent, name);
out:
	fs_node_put(r->s, nd);
	return e;
}

static int unlink_name(struct fs_req *r, struct fs_node *parent, int flags)
{
	int e = 0;
	const char *name = fs_arg_name(r, &e);
	if (!name)
		return e;
	if (parent->fd < 0 || fs_node_read_only(r->s, parent))
		return -EROFS;
	if (fs_is_hidden(r->s, parent, name))
		return -ENOENT;
	return unlinkat(parent->fd, name, flags) < 0 ? -errno : 0;
}

int fs_op_unlink(struct fs_req *r, struct fs_node *parent)
{
	return unlink_name(r, parent, 0);
}

int fs_op_rmdir(struct fs_req *r, struct fs_node *parent)
{
	return unlink_name(r, parent, AT_REMOVEDIR);
}

static int rename_names(struct fs_req *r, struct fs_node *parent, uint64_t newdir,
			uint32_t flags)
{
	int e = 0;
	const char *oldname = fs_arg_name(r, &e);
	const char *newname = oldname ? fs_arg_name(r, &e) : NULL;
	if (!newname)
		return e;
	if (flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	struct fs_node *np = fs_node_get(r->s, newdir);
	if (!np)
		return -ESTALE;
	if (parent->fd < 0 || np->fd < 0 || fs_node_read_only(r->s, parent) ||
	    fs_node_read_only(r->s, np))
		e = -EROFS;
	else if (fs_is_hidden(r->s, parent, oldname) || fs_is_hidden(r->s, np, newname))
		e = fs_is_hidden(r->s, parent, oldname) ? -ENOENT : -EPERM;
	else if (syscall(SYS_renameat2, parent->fd, oldname, np->fd, newname, flags) < 0)
		e = -errno;
	fs_node_put(r->s, np);
	return e;
}

int fs_op_rename(struct fs_req *r, struct fs_node *parent)
{
	const struct fuse_rename_in *in = r->fixed;
	return rename_names(r, parent, in->newdir, 0);
}

int fs_op_rename2(struct fs_req *r, struct fs_node *parent)
{
	const struct fuse_rename2_in *in = r->fixed;
	return rename_names(r, parent, in->newdir, in->flags);
}
