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
 * the caller (fs_node_done), and its stat. */
int fs_lookup_child(struct fs_server *s, struct fs_node *parent, const char *name,
		    struct fs_node **out, struct stat *st)
{
	if (parent->fd < 0) {
		for (size_t i = 0; i < s->nexports; i++) {
			if (!strcmp(s->exports[i].name, name)) {
				struct fs_node *nd = s->exports[i].root;
				int e = fs_node_stat(s, nd, st);
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
	if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fs_node_intern(s, fd, st, parent->export, out);
}

void fs_fill_entry(struct fuse_entry_out *e, const struct fs_node *nd, const struct stat *st)
{
	*e = (struct fuse_entry_out){.nodeid = nd->nodeid, .entry_valid = FS_ATTR_TIMEOUT,
				     .attr_valid = FS_ATTR_TIMEOUT};
	fs_fill_attr(&e->attr, st);
}

/* Looks `name` up (LOOKUP, or after making it) and replies with its entry. */
static int reply_entry(struct fs_req *r, struct fs_node *parent, const char *name)
{
	struct fs_node *nd;
	struct stat st;
	int e = fs_lookup_child(r->s, parent, name, &nd, &st);
	if (e < 0)
		return e;
	struct fuse_entry_out o;
	fs_fill_entry(&o, nd, &st);
	e = fs_reply_add(r, &o, sizeof(o));
	fs_node_done(r->s, nd, e == 0);
	return e;
}

int fs_op_lookup(struct fs_req *r, struct fs_node *parent)
{
	int e = 0;
	const char *name = fs_arg_name(r, &e);
	return name ? reply_entry(r, parent, name) : e;
}

int fs_op_mknod(struct fs_req *r, struct fs_node *parent)
{
	const struct fuse_mknod_in *in = r->fixed;
	int e = 0;
	const char *name = fs_arg_name(r, &e);
	if (!name || (e = fs_check_new_name(r, parent, name)) < 0)
		return e;
	mode_t type = in->mode & S_IFMT;
	bool whiteout = type == S_IFCHR && in->rdev == 0;
	if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && !whiteout)
		return -EPERM;
	if (mknodat(parent->fd, name, in->mode, whiteout ? 0 : (dev_t)0) < 0)
		return -errno;
	return reply_entry(r, parent, name);
}

int fs_op_mkdir(struct fs_req *r, struct fs_node *parent)
{
	const struct fuse_mkdir_in *in = r->fixed;
	int e = 0;
	const char *name = fs_arg_name(r, &e);
	if (!name || (e = fs_check_new_name(r, parent, name)) < 0)
		return e;
	if (mkdirat(parent->fd, name, in->mode & 07777) < 0)
		return -errno;
	return reply_entry(r, parent, name);
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
	if ((e = fs_check_new_name(r, parent, name)) < 0)
		return e;
	if (symlinkat(target, parent->fd, name) < 0)
		return -errno;
	return reply_entry(r, parent, name);
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
