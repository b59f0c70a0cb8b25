/* Directories: OPENDIR, READDIR, READDIRPLUS (RELEASEDIR and FSYNCDIR are
 * the file ones). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backends/fs/fs_internal.h"

int fs_op_opendir(struct fs_req *r, struct fs_node *nd)
{
	if (nd->type != S_IFDIR)
		return -ENOTDIR;
	if (nd->fd < 0)
		return fs_reply_open(r, nd, -1);
	int fd = fs_node_reopen(nd, O_RDONLY | O_DIRECTORY);
	return fd < 0 ? fd : fs_reply_open(r, nd, fd);
}

/* Appends one dirent of `dir` (open as hfd; -1: the synthetic root) and
 * for plus, the entry of the looked-up child; its type is the guest's.
 * Returns 1 when it did not fit. */
static int dirent_add(struct fs_req *r, struct fs_node *dir, int hfd, bool plus, uint64_t ino,
		      uint64_t off, unsigned type, const char *name)
{
	size_t namelen = strlen(name);
	size_t len = FUSE_DIRENT_ALIGN(offsetof(struct fuse_dirent, name) + namelen);
	if (plus)
		len += sizeof(struct fuse_entry_out);
	if (len > fs_reply_room(r))
		return 1;
	uint8_t buf[sizeof(struct fuse_entry_out) + FUSE_NAME_OFFSET + NAME_MAX + 8] = {0};
	struct fuse_dirent *d = (void *)(buf + (plus ? sizeof(struct fuse_entry_out) : 0));
	struct fuse_entry_out *entry = (void *)buf;
	struct fs_node *nd;
	struct stat st;
	if (plus && strcmp(name, ".") && strcmp(name, "..") &&
	    fs_lookup_child(r->s, dir, name, &nd, &st) == 0) {
		fs_node_guest_stat(nd, &st);
		fs_fill_entry(r->s, entry, nd, &st);
		fs_node_put(r->s, nd);
		type = IFTODT(entry->attr.mode);
	} else if (type == DT_REG && hfd >= 0) {
		type = fs_guest_dtype(hfd, name);
	}
	d->ino = ino;
	d->off = off;
	d->namelen = (uint32_t)namelen;
	d->type = type;
	memcpy(d->name, name, namelen);
	return fs_reply_add(r, buf, len);
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int read_dir(struct fs_req *r, struct fs_node *nd, bool plus)
{
	const struct fuse_read_in *in = r->fixed;
	struct fs_handle *h = fs_handle_get(r->s, in->fh);
	if (!h)
		return -EBADF;
	int e = 0;
	size_t room = fs_reply_room(r);
	if (room > in->size)
		r->out_cap = sizeof(struct fuse_out_header) + in->size;
	if (h->node != nd || nd->type != S_IFDIR) {
		e = -EBADF;
	} else if (h->fd < 0) {
		/* Synthetic root: ".", "..", then the exports; offsets count entries. */
		for (uint64_t i = in->offset; i < 2 + r->s->nexports; i++) {
			const char *name = i == 0 ? "." : i == 1 ? ".." : r->s->exports[i - 2].name;
			if (dirent_add(r, nd, -1, plus, i < 2 ? FS_SYNTH_ROOT_INO : 2 + i, i + 1,
				       DT_DIR, name))
				break;
		}
	} else {
		char buf[32768] __attribute__((aligned(8)));
		pthread_mutex_lock(&h->dir_lock);
		off_t off = (off_t)in->offset;
		bool full = false;
		while (!full) {
			if (lseek(h->fd, off, SEEK_SET) < 0) {
				e = -errno;
				break;
			}
			long n = syscall(SYS_getdents64, h->fd, buf, sizeof(buf));
			if (n <= 0) {
				e = n < 0 ? -errno : 0;
				break;
			}
			for (long pos = 0; pos < n;) {
				struct linux_dirent64 *d = (void *)(buf + pos);
				pos += d->d_reclen;
				/* Some file systems (inside an export) have longer names
				 * than a client can take. */
				if (!fs_is_hidden(r->s, nd, d->d_name) && strlen(d->d_name) <= NAME_MAX) {
					if (dirent_add(r, nd, h->fd, plus, d->d_ino,
						       (uint64_t)d->d_off, d->d_type, d->d_name)) {
						full = true;
						break;
					}
				}
				off = d->d_off;
			}
		}
		pthread_mutex_unlock(&h->dir_lock);
		/* Entries already sent stand even if a later read failed. */
		if (r->out_len)
			e = 0;
	}
	fs_handle_put(r->s, h);
	return e;
}

int fs_op_readdir(struct fs_req *r, struct fs_node *nd)
{
	return read_dir(r, nd, false);
}

int fs_op_readdirplus(struct fs_req *r, struct fs_node *nd)
{
	return read_dir(r, nd, true);
}
