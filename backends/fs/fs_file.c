/* File data: OPEN, CREATE, TMPFILE, READ, WRITE, RELEASE(DIR), FSYNC(DIR),
 * FALLOCATE, LSEEK, COPY_FILE_RANGE, SYNCFS. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/fs/fs_internal.h"
#include "util/iov.h"

/* Opens a host object for I/O, never waiting: O_NONBLOCK keeps open()
 * from waiting for a lease break (and for a FIFO peer, should one get
 * here); the caller's blocking mode is restored afterwards. */
static int open_nonblocking(const char *path, int flags)
{
	int fd = open(path, (flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK) &
				    ~(O_CREAT | O_EXCL | O_NOFOLLOW));
	if (fd < 0)
		return -errno;
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* Opens the node's object itself (regular files and directories only). */
int fs_node_reopen(const struct fs_node *nd, int flags)
{
	if (nd->type != S_IFREG && nd->type != S_IFDIR)
		return nd->type == S_IFLNK ? -ELOOP : -EACCES;
	char p[32];
	fs_proc_path(p, nd->fd);
	return open_nonblocking(p, flags);
}

/* Host open flags for a client's: its access mode and the flags that only
 * shape I/O on the descriptor. O_APPEND is left to the client kernel (it
 * sends the offset; a host O_APPEND would misplace mmap write-back),
 * O_DIRECT would impose the host's alignment on the client's buffers, and
 * O_PATH, O_TMPFILE, O_CREAT, O_EXCL are the server's to choose. With the
 * client's writeback cache a write-only file is opened read-write: the
 * client reads through any handle of the file to fill partial pages. */
static int host_open_flags(const struct fs_server *s, uint32_t flags)
{
	int host = (int)(flags & (uint32_t)(O_ACCMODE | O_TRUNC | O_NONBLOCK | O_SYNC | O_DSYNC |
					    O_NOATIME | O_DIRECTORY | O_LARGEFILE));
	if (s->writeback_cache && (host & O_ACCMODE) == O_WRONLY)
		host = (host & ~O_ACCMODE) | O_RDWR;
	return host;
}

static bool open_writes(uint32_t flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

int fs_reply_open(struct fs_req *r, struct fs_node *nd, int fd)
{
	/* The client keeps its page cache across opens: with AUTO_INVAL_DATA
	 * it still drops it when the host changes the file's mtime or size.
	 * Without this every exec re-reads the whole binary. */
	struct fuse_open_out o = {.open_flags = nd->type == S_IFREG ? FOPEN_KEEP_CACHE : 0};
	int e = fs_handle_new(r->s, nd, fd, &o.fh);
	if (e < 0)
		return e;
	if ((e = fs_reply_add(r, &o, sizeof(o))) < 0)
		fs_handle_release(r->s, o.fh);
	return e;
}

int fs_op_open(struct fs_req *r, struct fs_node *nd)
{
	const struct fuse_open_in *in = r->fixed;
	if (nd->type == S_IFDIR)
		return -EISDIR;
	if (open_writes(in->flags) && fs_node_read_only(r->s, nd))
		return -EROFS;
	int e = (in->flags & O_TRUNC) ? fs_node_disarm(nd) : 0;
	int fd = e < 0 ? e : fs_node_reopen(nd, host_open_flags(r->s, in->flags));
	if (fd < 0)
		return fd;
	if ((in->flags & O_TRUNC) && (in->open_flags & FUSE_OPEN_KILL_SUIDGID))
		e = fs_node_kill_privs(nd);
	if (e < 0) {
		close(fd);
		return e;
	}
	return fs_reply_open(r, nd, fd);
}

/* Opens what `name` in `parent` already is, if a regular file: neither a
 * FIFO (whose open would wait for a peer) nor a device is ever opened.
 * Returns -ENOENT when the name is gone again. */
static int open_existing(struct fs_node *parent, const char *name, int flags)
{
	int pfd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (pfd < 0 || fstat(pfd, &st) < 0) {
		int e = -errno;
		if (pfd >= 0)
			close(pfd);
		return e;
	}
	int fd;
	if (S_ISREG(st.st_mode)) {
		char p[32];
		fs_proc_path(p, pfd);
		fd = open_nonblocking(p, flags);
	} else {
		/* ESTALE: the client retries with a fresh LOOKUP and then opens
		 * a FIFO or device node itself, as it does for any it knows. */
		fd = S_ISDIR(st.st_mode) ? -EISDIR : S_ISLNK(st.st_mode) ? -ELOOP : -ESTALE;
	}
	close(pfd);
	return fd;
}

/* The new or existing regular file `name` in `parent` (O_TMPFILE: a new
 * unnamed one), opened with the client's flags; *made says which. A new
 * one has host mode `mode` (fs_host_mode). */
static int create_or_open(const struct fs_server *s, struct fs_node *parent, const char *name,
			  bool tmpfile, const struct fuse_create_in *in, mode_t mode, bool *made)
{
	int flags = host_open_flags(s, in->flags) | O_CLOEXEC | O_NOCTTY;
	*made = true;
	if (tmpfile) {
		int fd = openat(parent->fd, ".", flags | O_TMPFILE, mode);
		return fd < 0 ? -errno : fd;
	}
	/* A few rounds against a name that comes and goes meanwhile. */
	for (int round = 0; round < 8; round++) {
		int fd = openat(parent->fd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
		if (fd >= 0) {
			*made = true;
			return fd;
		}
		if (errno != EEXIST || (in->flags & O_EXCL))
			return -errno;
		*made = false;
		fd = open_existing(parent, name, flags);
		if (fd != -ENOENT)
			return fd;
	}
	return -EAGAIN;
}

/* A file made by CREATE gets the guest's view. One that was there already
 * and was truncated (O_TRUNC, an empty file meanwhile) is no longer
 * setuid on the host (fs_node_disarm), and loses its privileges in the
 * guest's view if the client asks (a caller without CAP_FSETID). *st (the
 * host's stat) becomes the guest's. */
static int settle(struct fs_req *r, struct fs_node *nd, struct stat *st, bool made,
		  const struct stat *want)
{
	const struct fuse_create_in *in = r->fixed;
	if (made)
		return fs_give_view(nd, st, want);
	int e = 0;
	if ((in->flags & O_TRUNC) &&
	    ((e = fs_node_disarm(nd)) < 0 ||
	     ((in->open_flags & FUSE_OPEN_KILL_SUIDGID) && (e = fs_node_kill_privs(nd)) < 0) ||
	     (e = fs_fd_stat(nd->fd, st)) < 0))
		return e;
	fs_node_guest_stat(nd, st);
	return 0;
}

static int create_in(struct fs_req *r, struct fs_node *parent, const char *name, bool tmpfile)
{
	const struct fuse_create_in *in = r->fixed;
	struct stat want;
	int e = fs_new_view(r, parent, S_IFREG | (in->mode & 07777), 0, &want);
	if (e < 0)
		return e;
	bool made;
	int fd = create_or_open(r->s, parent, name, tmpfile, in, fs_host_mode(S_IFREG, want.st_mode),
				&made);
	if (fd < 0)
		return fd;
	/* The node is the opened inode itself, not whatever the name holds now. */
	char p[32];
	fs_proc_path(p, fd);
	struct stat st;
	int pfd = open(p, O_PATH | O_CLOEXEC);
	if (pfd < 0 || fstat(pfd, &st) < 0) {
		e = -errno;
		if (pfd >= 0)
			close(pfd);
		goto fail;
	}
	struct fs_node *nd;
	if ((e = fs_node_intern(r->s, pfd, &st, parent->export, &nd)) < 0)
		goto fail;
	if ((e = settle(r, nd, &st, made, &want)) < 0) {
		fs_node_done(r->s, nd, false);
		goto fail;
	}
	struct {
		struct fuse_entry_out entry;
		struct fuse_open_out open;
	} o = {.open.open_flags = FOPEN_KEEP_CACHE};
	fs_fill_entry(r->s, &o.entry, nd, &st);
	if ((e = fs_handle_new(r->s, nd, fd, &o.open.fh)) == 0 &&
	    (e = fs_reply_add(r, &o, sizeof(o))) < 0)
		fs_handle_release(r->s, o.open.fh);
	fs_node_done(r->s, nd, e == 0);
	return e;
fail:
	close(fd);
	if (made && !tmpfile)
		unlinkat(parent->fd, name, 0);
	return e;
}

int fs_op_create(struct fs_req *r, struct fs_node *parent)
{
	int e = 0;
	const char *name = fs_arg_name(r, &e);
	if (!name || (e = fs_check_new_name(r, parent, name)) < 0)
		return e;
	return create_in(r, parent, name, false);
}

int fs_op_tmpfile(struct fs_req *r, struct fs_node *parent)
{
	if (parent->fd < 0 || fs_node_read_only(r->s, parent))
		return -EROFS;
	return create_in(r, parent, ".", true);
}

/* The handle `fh` for an operation on file data. */
static int file_handle(struct fs_req *r, uint64_t fh, struct fs_handle **out)
{
	struct fs_handle *h = fs_handle_get(r->s, fh);
	if (!h)
		return -EBADF;
	if (h->fd < 0 || h->node->type != S_IFREG) {
		fs_handle_put(r->s, h);
		return -EBADF;
	}
	*out = h;
	return 0;
}

/* The handle `fh` for a change of file data: writable, and its host file
 * no longer setuid or setgid (fs_node_disarm). */
static int data_handle(struct fs_req *r, uint64_t fh, struct fs_handle **out)
{
	int e = file_handle(r, fh, out);
	if (e < 0)
		return e;
	e = fs_node_read_only(r->s, (*out)->node) ? -EROFS : fs_node_disarm((*out)->node);
	if (e < 0)
		fs_handle_put(r->s, *out);
	return e;
}

/* preadv/pwritev between `fd` at `pos` and [off, off+len) of `iov`, in
 * batches; stops at a short transfer (end of file). */
static ssize_t iov_file_io(int fd, bool write, const struct iovec *iov, size_t n, size_t off,
			   size_t len, off_t pos)
{
	size_t done = 0;
	while (done < len) {
		struct iovec part[64];
		int k = iov_slice(iov, n, off + done, len - done, part, 64);
		size_t want = 0;
		for (int i = 0; i < k; i++)
			want += part[i].iov_len;
		if (!k)
			break;
		ssize_t got = write ? pwritev(fd, part, k, pos + (off_t)done)
				    : preadv(fd, part, k, pos + (off_t)done);
		if (got < 0)
			return done ? (ssize_t)done : -errno;
		done += (size_t)got;
		if ((size_t)got < want)
			break;
	}
	return (ssize_t)done;
}

int fs_op_read(struct fs_req *r, struct fs_node *unused)
{
	const struct fuse_read_in *in = r->fixed;
	if (in->offset > INT64_MAX)
		return -EINVAL;
	struct fs_handle *h;
	int e = file_handle(r, in->fh, &h);
	if (e < 0)
		return e;
	size_t size = in->size;
	if (size > fs_reply_room(r))
		size = fs_reply_room(r);
	if (size > (uint64_t)INT64_MAX - in->offset)
		size = (size_t)((uint64_t)INT64_MAX - in->offset);
	ssize_t got = iov_file_io(h->fd, false, r->out, r->nout, sizeof(struct fuse_out_header),
				  size, (off_t)in->offset);
	fs_handle_put(r->s, h);
	if (got < 0)
		return (int)got;
	r->out_len = (size_t)got;
	return 0;
}

int fs_op_write(struct fs_req *r, struct fs_node *unused)
{
	const struct fuse_write_in *in = r->fixed;
	if (in->offset > INT64_MAX || in->size > (uint64_t)INT64_MAX - in->offset)
		return -EFBIG;
	if (in->size > r->arglen)
		return -EINVAL;
	struct fs_handle *h;
	int e = data_handle(r, in->fh, &h);
	if (e < 0)
		return e;
	ssize_t done = iov_file_io(h->fd, true, r->in, r->nin, r->data_off, in->size,
				   (off_t)in->offset);
	if (done < 0)
		e = (int)done;
	/* The writer lacks CAP_FSETID. */
	if (done > 0 && (in->write_flags & FUSE_WRITE_KILL_SUIDGID))
		fs_node_kill_privs(h->node);
	fs_handle_put(r->s, h);
	if (e < 0)
		return e;
	struct fuse_write_out o = {.size = (uint32_t)done};
	return fs_reply_add(r, &o, sizeof(o));
}

int fs_op_release(struct fs_req *r, struct fs_node *unused)
{
	const struct fuse_release_in *in = r->fixed;
	return fs_handle_release(r->s, in->fh);
}

int fs_op_fsync(struct fs_req *r, struct fs_node *unused)
{
	const struct fuse_fsync_in *in = r->fixed;
	struct fs_handle *h = fs_handle_get(r->s, in->fh);
	if (!h)
		return -EBADF;
	int e = 0;
	if (h->fd >= 0 && ((in->fsync_flags & 1) ? fdatasync(h->fd) : fsync(h->fd)) < 0)
		e = -errno;
	fs_handle_put(r->s, h);
	return e;
}

int fs_op_fallocate(struct fs_req *r, struct fs_node *unused)
{
	const struct fuse_fallocate_in *in = r->fixed;
	if (in->offset > INT64_MAX || in->length > INT64_MAX)
		return -EINVAL;
	struct fs_handle *h;
	int e = data_handle(r, in->fh, &h);
	if (e < 0)
		return e;
	if (fallocate(h->fd, (int)in->mode, (off_t)in->offset, (off_t)in->length) < 0)
		e = -errno;
	fs_handle_put(r->s, h);
	return e;
}

int fs_op_lseek(struct fs_req *r, struct fs_node *unused)
{
	const struct fuse_lseek_in *in = r->fixed;
	if (in->offset > INT64_MAX || (in->whence != SEEK_DATA && in->whence != SEEK_HOLE &&
				       in->whence != SEEK_SET && in->whence != SEEK_END &&
				       in->whence != SEEK_CUR))
		return -EINVAL;
	struct fs_handle *h;
	int e = file_handle(r, in->fh, &h);
	if (e < 0)
		return e;
	/* pread/pwrite never use the host file position, so it is free here. */
	off_t off = lseek(h->fd, (off_t)in->offset, (int)in->whence);
	e = off < 0 ? -errno : 0;
	fs_handle_put(r->s, h);
	if (e < 0)
		return e;
	struct fuse_lseek_out o = {.offset = (uint64_t)off};
	return fs_reply_add(r, &o, sizeof(o));
}

int fs_op_copy_file_range(struct fs_req *r, struct fs_node *unused)
{
	const struct fuse_copy_file_range_in *in = r->fixed;
	if (in->off_in > INT64_MAX || in->off_out > INT64_MAX || in->flags)
		return -EINVAL;
	struct fs_handle *hi, *ho;
	int e = file_handle(r, in->fh_in, &hi);
	if (e < 0)
		return e;
	if ((e = data_handle(r, in->fh_out, &ho)) < 0) {
		fs_handle_put(r->s, hi);
		return e;
	}
	loff_t oi = (loff_t)in->off_in, oo = (loff_t)in->off_out;
	/* The reply counts in 32 bits. */
	size_t len = in->len > (1u << 30) ? (1u << 30) : (size_t)in->len;
	ssize_t n = copy_file_range(hi->fd, &oi, ho->fd, &oo, len, 0);
	if (n < 0)
		e = -errno;
	fs_handle_put(r->s, hi);
	fs_handle_put(r->s, ho);
	if (e < 0)
		return e;
	struct fuse_write_out o = {.size = (uint32_t)n};
	return fs_reply_add(r, &o, sizeof(o));
}

int fs_op_syncfs(struct fs_req *r, struct fs_node *unused)
{
	for (size_t i = 0; i < r->s->nexports; i++) {
		int fd = fs_node_reopen(r->s->exports[i].root, O_RDONLY);
		if (fd >= 0) {
			syncfs(fd);
			close(fd);
		}
	}
	return 0;
}
