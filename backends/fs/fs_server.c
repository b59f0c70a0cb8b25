/* FUSE passthrough server; see fs_server.h for the model.
 *
 * Nodes: one per host inode the client has looked up (per access class:
 * the same inode reached through a read-only and a writable export is two
 * nodes), holding an
 * O_PATH|O_NOFOLLOW descriptor. Node ids and file handles are
 * (generation << 32 | slot): a forged or stale id finds an empty slot or a
 * different generation and gets EBADF/ESTALE, never memory.
 * Operations that need a path (xattrs, chmod, truncate, times, re-opening)
 * use /proc/self/fd/N, which refers to the node's own inode (a symlink
 * node stays the symlink: opening it gives ELOOP), so nothing is resolved
 * by name beyond the one component a request names.
 */
#include "backends/fs/fs_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/fuse.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "util/iov.h"

#define FS_MIN_MINOR 27
#define FS_MAX_WRITE_LIMIT (1u << 20)
/* Arguments larger than this (beyond WRITE data) are not a valid request:
 * the largest is SETXATTR with a 64 KiB value. */
#define FS_MAX_ARGS (XATTR_SIZE_MAX + XATTR_NAME_MAX + 64)
#define FS_ATTR_TIMEOUT 1
#define SYNTH_ROOT_INO 1

struct fs_node {
	uint64_t nodeid;
	int fd;		 /* O_PATH; -1 for the synthetic root */
	int export;	 /* index into exports; -1 for the synthetic root */
	bool export_root;
	bool pinned;	 /* export roots and the root stay while the server lives */
	mode_t type;
	dev_t dev;
	ino_t ino;
	uint64_t nlookup; /* the client's references */
	unsigned refs;	  /* in-flight users + 1 while in the tables */
	struct fs_node *hash_next;
};

struct fs_handle {
	uint64_t fh;
	int fd;
	struct fs_node *node; /* holds a ref */
	unsigned refs;
	pthread_mutex_t dir_lock; /* serialises seek + getdents */
};

struct fs_slots {
	void **items;
	uint32_t *gens;
	uint32_t size;
	uint32_t free_hint;
};

struct fs_export_state {
	char *name;
	bool read_only;
	struct fs_node *root;
};

struct fs_server {
	pthread_mutex_t lock;
	struct fs_export_state *exports;
	size_t nexports;
	char *hidden_name;
	uint32_t max_write;
	bool switch_creds; /* running as root: act as the caller */
	atomic_bool initialized;
	struct timespec created;

	struct fs_slots nodes; /* of struct fs_node */
	struct fs_slots handles; /* of struct fs_handle */
	struct fs_node **hash;
	size_t hash_size, hash_count;
	struct fs_node *root;
};

/* ---- id tables ---- */

static int slots_insert(struct fs_slots *t, void *item, uint64_t *id, uint32_t first)
{
	uint32_t i = t->free_hint > first ? t->free_hint : first;
	for (; i < t->size && t->items[i]; i++)
		;
	if (i >= t->size) {
		if (t->size >= UINT32_MAX / 2)
			return -ENFILE;
		uint32_t n = t->size ? t->size * 2 : 64;
		void **items = realloc(t->items, n * sizeof(*items));
		if (!items)
			return -ENOMEM;
		t->items = items;
		uint32_t *gens = realloc(t->gens, n * sizeof(*gens));
		if (!gens)
			return -ENOMEM;
		t->gens = gens;
		memset(items + t->size, 0, (n - t->size) * sizeof(*items));
		memset(gens + t->size, 0, (n - t->size) * sizeof(*gens));
		t->size = n;
	}
	t->items[i] = item;
	t->gens[i]++;
	t->free_hint = i + 1;
	*id = (uint64_t)t->gens[i] << 32 | i;
	return 0;
}

static void *slots_get(const struct fs_slots *t, uint64_t id)
{
	uint32_t i = (uint32_t)id;
	if (i >= t->size || !t->items[i] || t->gens[i] != (uint32_t)(id >> 32))
		return NULL;
	return t->items[i];
}

static void slots_remove(struct fs_slots *t, uint64_t id)
{
	uint32_t i = (uint32_t)id;
	t->items[i] = NULL;
	if (i < t->free_hint)
		t->free_hint = i;
}

/* ---- nodes ---- */

/* Nodes are shared between exports of one access class, so that an inode
 * renamed from one export into another (overlayfs moves its copy-ups from
 * the work dir into the upper dir) keeps its node id: a new id for the same
 * dentry makes the client's revalidation fail with ESTALE. */
static int node_class(const struct fs_server *s, int export)
{
	return export < 0 ? -1 : s->exports[export].read_only;
}

static size_t node_hash(dev_t dev, ino_t ino, int class, size_t size)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4full ^
		     (uint64_t)(unsigned)class;
	return (size_t)(h ^ h >> 29) & (size - 1);
}

static int hash_grow(struct fs_server *s)
{
	size_t n = s->hash_size ? s->hash_size * 2 : 256;
	struct fs_node **h = calloc(n, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < s->hash_size; i++) {
		for (struct fs_node *nd = s->hash[i], *next; nd; nd = next) {
			next = nd->hash_next;
			size_t b = node_hash(nd->dev, nd->ino, node_class(s, nd->export), n);
			nd->hash_next = h[b];
			h[b] = nd;
		}
	}
	free(s->hash);
	s->hash = h;
	s->hash_size = n;
	return 0;
}

static void hash_remove(struct fs_server *s, struct fs_node *nd)
{
	struct fs_node **p =
		&s->hash[node_hash(nd->dev, nd->ino, node_class(s, nd->export), s->hash_size)];
	for (; *p; p = &(*p)->hash_next) {
		if (*p == nd) {
			*p = nd->hash_next;
			s->hash_count--;
			return;
		}
	}
}

/* Called with s->lock held. */
static void node_unref_locked(struct fs_node *nd)
{
	if (--nd->refs == 0) {
		if (nd->fd >= 0)
			close(nd->fd);
		free(nd);
	}
}

static void node_put(struct fs_server *s, struct fs_node *nd)
{
	if (!nd)
		return;
	pthread_mutex_lock(&s->lock);
	node_unref_locked(nd);
	pthread_mutex_unlock(&s->lock);
}

static struct fs_node *node_get(struct fs_server *s, uint64_t nodeid)
{
	pthread_mutex_lock(&s->lock);
	struct fs_node *nd = nodeid == FUSE_ROOT_ID ? s->root : slots_get(&s->nodes, nodeid);
	if (nd)
		nd->refs++;
	pthread_mutex_unlock(&s->lock);
	return nd;
}

/* Drops `count` client references; the node leaves the tables at zero. */
static void node_forget_locked(struct fs_server *s, struct fs_node *nd, uint64_t count)
{
	nd->nlookup = count >= nd->nlookup ? 0 : nd->nlookup - count;
	if (nd->nlookup || nd->pinned)
		return;
	slots_remove(&s->nodes, nd->nodeid);
	hash_remove(s, nd);
	node_unref_locked(nd);
}

/* Takes ownership of fd (an O_PATH descriptor of the object with stat st):
 * returns the node for it with one more client reference, and a ref. */
static int node_intern(struct fs_server *s, int fd, const struct stat *st, int export,
		       struct fs_node **out)
{
	pthread_mutex_lock(&s->lock);
	struct fs_node *nd = NULL;
	if (s->hash_size) {
		int class = node_class(s, export);
		nd = s->hash[node_hash(st->st_dev, st->st_ino, class, s->hash_size)];
		while (nd && (nd->dev != st->st_dev || nd->ino != st->st_ino ||
			      node_class(s, nd->export) != class))
			nd = nd->hash_next;
	}
	int r = 0;
	if (nd) {
		close(fd);
		fd = -1;
	} else if (s->hash_count >= s->hash_size / 2 && (r = hash_grow(s)) < 0) {
		goto out;
	} else if (!(nd = calloc(1, sizeof(*nd)))) {
		r = -ENOMEM;
		goto out;
	} else {
		*nd = (struct fs_node){.fd = fd, .export = export, .type = st->st_mode & S_IFMT,
				       .dev = st->st_dev, .ino = st->st_ino, .refs = 1};
		if ((r = slots_insert(&s->nodes, nd, &nd->nodeid, 2)) < 0) {
			free(nd);
			nd = NULL;
			goto out;
		}
		fd = -1;
		size_t b = node_hash(nd->dev, nd->ino, node_class(s, export), s->hash_size);
		nd->hash_next = s->hash[b];
		s->hash[b] = nd;
		s->hash_count++;
	}
	nd->nlookup++;
	nd->refs++;
	*out = nd;
out:
	pthread_mutex_unlock(&s->lock);
	if (fd >= 0)
		close(fd);
	return r;
}

/* ---- handles ---- */

static int handle_new(struct fs_server *s, struct fs_node *nd, int fd, uint64_t *fh)
{
	struct fs_handle *h = calloc(1, sizeof(*h));
	if (!h) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	h->fd = fd;
	h->node = nd;
	h->refs = 1;
	pthread_mutex_init(&h->dir_lock, NULL);
	pthread_mutex_lock(&s->lock);
	int r = slots_insert(&s->handles, h, &h->fh, 1);
	if (r == 0)
		nd->refs++;
	pthread_mutex_unlock(&s->lock);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		pthread_mutex_destroy(&h->dir_lock);
		free(h);
		return r;
	}
	*fh = h->fh;
	return 0;
}

static void handle_unref_locked(struct fs_handle *h)
{
	if (--h->refs)
		return;
	if (h->fd >= 0)
		close(h->fd);
	node_unref_locked(h->node);
	pthread_mutex_destroy(&h->dir_lock);
	free(h);
}

static struct fs_handle *handle_get(struct fs_server *s, uint64_t fh)
{
	pthread_mutex_lock(&s->lock);
	struct fs_handle *h = slots_get(&s->handles, fh);
	if (h)
		h->refs++;
	pthread_mutex_unlock(&s->lock);
	return h;
}

static void handle_put(struct fs_server *s, struct fs_handle *h)
{
	pthread_mutex_lock(&s->lock);
	handle_unref_locked(h);
	pthread_mutex_unlock(&s->lock);
}

static int handle_release(struct fs_server *s, uint64_t fh)
{
	pthread_mutex_lock(&s->lock);
	struct fs_handle *h = slots_get(&s->handles, fh);
	if (h) {
		slots_remove(&s->handles, fh);
		handle_unref_locked(h);
	}
	pthread_mutex_unlock(&s->lock);
	return h ? 0 : -EBADF;
}

/* ---- requests and replies ---- */

struct fs_req {
	struct fs_server *s;
	struct fuse_in_header h;
	const uint8_t *arg; /* private copy, NUL-terminated one past the end */
	size_t arglen;
	const struct iovec *in; /* for WRITE data, consumed in place */
	size_t nin;
	size_t data_off; /* offset of WRITE data in `in` */
	const struct iovec *out;
	size_t nout;
	size_t out_cap;
	size_t out_len; /* bytes of reply data written after the header */
};

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

/* Appends reply data; -ERANGE when the client's buffers are too small. */
static int reply_add(struct fs_req *r, const void *data, size_t len)
{
	if (len > r->out_cap - sizeof(struct fuse_out_header) - r->out_len)
		return -ERANGE;
	iov_from_buf(r->out, r->nout, sizeof(struct fuse_out_header) + r->out_len, data, len);
	r->out_len += len;
	return 0;
}

static size_t reply_room(const struct fs_req *r)
{
	return r->out_cap - sizeof(struct fuse_out_header) - r->out_len;
}

static const void *arg_take(struct fs_req *r, size_t len)
{
	if (r->arglen < len)
		return NULL;
	const void *p = r->arg;
	r->arg += len;
	r->arglen -= len;
	return p;
}

/* A NUL-terminated string from the arguments (any bytes, at most max). */
static const char *arg_string(struct fs_req *r, size_t max, int *err)
{
	const uint8_t *nul = memchr(r->arg, 0, r->arglen);
	if (!nul) {
		*err = -EINVAL;
		return NULL;
	}
	size_t len = (size_t)(nul - r->arg);
	if (len > max) {
		*err = -ENAMETOOLONG;
		return NULL;
	}
	const char *str = (const char *)r->arg;
	r->arg += len + 1;
	r->arglen -= len + 1;
	return str;
}

/* One directory entry name: not empty, ".", "..", containing '/' or longer
 * than NAME_MAX. */
static const char *arg_name(struct fs_req *r, int *err)
{
	const char *name = arg_string(r, NAME_MAX, err);
	if (!name)
		return NULL;
	if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		*err = -EINVAL;
		return NULL;
	}
	return name;
}

/* ---- credentials ---- */

struct fs_creds {
	bool switched;
	gid_t groups[NGROUPS_MAX];
	int ngroups;
};

static _Thread_local bool thread_fs_unshared;

/* The caller's uid/gid as this thread's fs credentials (raw syscalls:
 * glibc's setgroups would apply to every thread of the process). */
static int creds_enter(struct fs_server *s, const struct fuse_in_header *h, struct fs_creds *c)
{
	c->switched = false;
	if (!thread_fs_unshared) {
		if (unshare(CLONE_FS) < 0)
			return -errno;
		umask(0);
		thread_fs_unshared = true;
	}
	if (!s->switch_creds || (h->uid == 0 && h->gid == 0))
		return 0;
	c->ngroups = (int)syscall(SYS_getgroups, NGROUPS_MAX, c->groups);
	if (c->ngroups < 0 || syscall(SYS_setgroups, 0, NULL) < 0)
		return -EPERM;
	setfsgid(h->gid);
	setfsuid(h->uid);
	if ((uid_t)setfsuid((uid_t)-1) != h->uid || (gid_t)setfsgid((gid_t)-1) != h->gid) {
		setfsuid(0);
		setfsgid(0);
		syscall(SYS_setgroups, c->ngroups, c->groups);
		return -EPERM;
	}
	c->switched = true;
	return 0;
}

static void creds_leave(struct fs_creds *c)
{
	if (!c->switched)
		return;
	setfsuid(0);
	setfsgid(0);
	syscall(SYS_setgroups, c->ngroups, c->groups);
}

/* ---- helpers ---- */

static bool node_read_only(const struct fs_server *s, const struct fs_node *nd)
{
	return nd->export < 0 || s->exports[nd->export].read_only;
}

static bool is_hidden(const struct fs_server *s, const struct fs_node *parent, const char *name)
{
	return s->hidden_name && parent->export_root && !strcmp(name, s->hidden_name);
}

static void proc_path(char buf[32], int fd)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

static void fill_attr(struct fuse_attr *a, const struct stat *st)
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

static void synthetic_root_stat(const struct fs_server *s, struct stat *st)
{
	*st = (struct stat){.st_ino = SYNTH_ROOT_INO, .st_mode = S_IFDIR | 0555,
			    .st_nlink = 2 + s->nexports, .st_blksize = 4096,
			    .st_atim = s->created, .st_mtim = s->created, .st_ctim = s->created};
}

static int node_stat(struct fs_server *s, const struct fs_node *nd, struct stat *st)
{
	if (nd->fd < 0) {
		synthetic_root_stat(s, st);
		return 0;
	}
	if (fstatat(nd->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int reply_attr(struct fs_req *r, const struct fs_node *nd)
{
	struct stat st;
	int e = node_stat(r->s, nd, &st);
	if (e < 0)
		return e;
	struct fuse_attr_out o = {.attr_valid = FS_ATTR_TIMEOUT};
	fill_attr(&o.attr, &st);
	return reply_add(r, &o, sizeof(o));
}

static int lookup_child(struct fs_server *s, struct fs_node *parent, const char *name,
			struct fs_node **out, struct stat *st)
{
	if (parent->fd < 0) {
		for (size_t i = 0; i < s->nexports; i++) {
			if (!strcmp(s->exports[i].name, name)) {
				struct fs_node *nd = s->exports[i].root;
				int e = node_stat(s, nd, st);
				if (e < 0)
					return e;
				pthread_mutex_lock(&s->lock);
				nd->nlookup++;
				nd->refs++;
				pthread_mutex_unlock(&s->lock);
				*out = nd;
				return 0;
			}
		}
		return -ENOENT;
	}
	if (is_hidden(s, parent, name))
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
	return node_intern(s, fd, st, parent->export, out);
}

static void fill_entry(struct fuse_entry_out *e, const struct fs_node *nd, const struct stat *st)
{
	*e = (struct fuse_entry_out){.nodeid = nd->nodeid, .entry_valid = FS_ATTR_TIMEOUT,
				     .attr_valid = FS_ATTR_TIMEOUT};
	fill_attr(&e->attr, st);
}

/* Looks `name` up (LOOKUP, or after creating it) and replies with its entry. */
static int reply_entry(struct fs_req *r, struct fs_node *parent, const char *name)
{
	struct fs_node *nd;
	struct stat st;
	int e = lookup_child(r->s, parent, name, &nd, &st);
	if (e < 0)
		return e;
	struct fuse_entry_out o;
	fill_entry(&o, nd, &st);
	e = reply_add(r, &o, sizeof(o));
	pthread_mutex_lock(&r->s->lock);
	if (e < 0)
		node_forget_locked(r->s, nd, 1);
	node_unref_locked(nd);
	pthread_mutex_unlock(&r->s->lock);
	return e;
}

/* Opens the node's object itself (regular files and directories only). */
static int node_reopen(const struct fs_node *nd, int flags)
{
	if (nd->type != S_IFREG && nd->type != S_IFDIR)
		return nd->type == S_IFLNK ? -ELOOP : -EACCES;
	char p[32];
	proc_path(p, nd->fd);
	int fd = open(p, (flags | O_CLOEXEC | O_NOCTTY) & ~(O_CREAT | O_EXCL | O_NOFOLLOW));
	return fd < 0 ? -errno : fd;
}

/* Host open flags for a client's: O_APPEND is left to the client kernel
 * (it sends the offset; a host O_APPEND would misplace mmap write-back) and
 * O_DIRECT would impose the host's alignment on the client's buffers. */
static int host_open_flags(uint32_t flags)
{
	return (int)(flags & ~(uint32_t)(O_APPEND | O_DIRECT | O_CREAT | O_EXCL | O_NOCTTY));
}

static bool open_writes(uint32_t flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* ---- operations ---- */

#define NEED(var, type)                          \
	const type *var = arg_take(r, sizeof(type)); \
	if (!var)                                    \
		return -EINVAL

static int op_init(struct fs_req *r)
{
	struct fs_server *s = r->s;
	const struct fuse_init_in *in = arg_take(r, offsetof(struct fuse_init_in, flags2));
	if (!in)
		return -EINVAL;
	struct fuse_init_out o = {.major = FUSE_KERNEL_VERSION, .minor = FUSE_KERNEL_MINOR_VERSION};
	if (in->major < FUSE_KERNEL_VERSION)
		return -EPROTO;
	if (in->major > FUSE_KERNEL_VERSION) /* the client retries with ours */
		return reply_add(r, &o, sizeof(o));
	if (in->minor < FS_MIN_MINOR)
		return -EPROTO;
	uint32_t want = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES |
			FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_PARALLEL_DIROPS |
			FUSE_HANDLE_KILLPRIV_V2 | FUSE_MAX_PAGES | FUSE_ASYNC_DIO |
			FUSE_CACHE_SYMLINKS | FUSE_AUTO_INVAL_DATA;
	o.flags = in->flags & want;
	o.minor = in->minor < FUSE_KERNEL_MINOR_VERSION ? in->minor : FUSE_KERNEL_MINOR_VERSION;
	o.max_readahead = in->max_readahead;
	o.max_write = s->max_write;
	o.max_pages = (uint16_t)(s->max_write / 4096);
	o.max_background = 64;
	o.congestion_threshold = 48;
	o.time_gran = 1;
	atomic_store(&s->initialized, true);
	return reply_add(r, &o, sizeof(o));
}

static int op_lookup(struct fs_req *r, struct fs_node *parent)
{
	int e = 0;
	const char *name = arg_name(r, &e);
	return name ? reply_entry(r, parent, name) : e;
}

static void forget_one(struct fs_server *s, uint64_t nodeid, uint64_t n)
{
	pthread_mutex_lock(&s->lock);
	struct fs_node *nd = nodeid == FUSE_ROOT_ID ? NULL : slots_get(&s->nodes, nodeid);
	if (nd)
		node_forget_locked(s, nd, n);
	pthread_mutex_unlock(&s->lock);
}

static void op_forget(struct fs_req *r)
{
	const struct fuse_forget_in *in = arg_take(r, sizeof(*in));
	if (in)
		forget_one(r->s, r->h.nodeid, in->nlookup);
}

static void op_batch_forget(struct fs_req *r)
{
	const struct fuse_batch_forget_in *in = arg_take(r, sizeof(*in));
	if (!in)
		return;
	for (uint32_t i = 0; i < in->count; i++) {
		const struct fuse_forget_one *one = arg_take(r, sizeof(*one));
		if (!one)
			return;
		forget_one(r->s, one->nodeid, one->nlookup);
	}
}

static int op_setattr(struct fs_req *r, struct fs_node *nd)
{
	NEED(in, struct fuse_setattr_in);
	if (node_read_only(r->s, nd))
		return -EROFS;
	struct fs_handle *h = NULL;
	if (in->valid & FATTR_FH) {
		if (!(h = handle_get(r->s, in->fh)))
			return -EBADF;
		if (h->node != nd || h->fd < 0) {
			handle_put(r->s, h);
			return -EBADF;
		}
	}
	char p[32];
	proc_path(p, nd->fd);
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
		else if ((h ? ftruncate(h->fd, (off_t)in->size) : truncate(p, (off_t)in->size)) < 0)
			e = -errno;
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
		handle_put(r->s, h);
	return e ? e : reply_attr(r, nd);
}

static int op_readlink(struct fs_req *r, struct fs_node *nd)
{
	if (nd->type != S_IFLNK)
		return -EINVAL;
	char buf[PATH_MAX];
	ssize_t n = readlinkat(nd->fd, "", buf, sizeof(buf));
	if (n < 0)
		return -errno;
	return reply_add(r, buf, (size_t)n);
}

static int check_new_name(struct fs_req *r, struct fs_node *parent, const char *name)
{
	if (parent->fd < 0 || node_read_only(r->s, parent))
		return -EROFS;
	if (is_hidden(r->s, parent, name))
		return -EPERM;
	return 0;
}

static int op_mknod(struct fs_req *r, struct fs_node *parent)
{
	NEED(in, struct fuse_mknod_in);
	int e = 0;
	const char *name = arg_name(r, &e);
	if (!name || (e = check_new_name(r, parent, name)) < 0)
		return e;
	mode_t type = in->mode & S_IFMT;
	bool whiteout = type == S_IFCHR && in->rdev == 0;
	if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && !whiteout)
		return -EPERM;
	if (mknodat(parent->fd, name, in->mode, whiteout ? 0 : (dev_t)0) < 0)
		return -errno;
	return reply_entry(r, parent, name);
}

static int op_mkdir(struct fs_req *r, struct fs_node *parent)
{
	NEED(in, struct fuse_mkdir_in);
	int e = 0;
	const char *name = arg_name(r, &e);
	if (!name || (e = check_new_name(r, parent, name)) < 0)
		return e;
	if (mkdirat(parent->fd, name, in->mode & 07777) < 0)
		return -errno;
	return reply_entry(r, parent, name);
}

static int op_symlink(struct fs_req *r, struct fs_node *parent)
{
	int e = 0;
	const char *name = arg_name(r, &e);
	if (!name)
		return e;
	const char *target = arg_string(r, PATH_MAX - 1, &e);
	if (!target)
		return e;
	if (!target[0])
		return -ENOENT;
	if ((e = check_new_name(r, parent, name)) < 0)
		return e;
	if (symlinkat(target, parent->fd, name) < 0)
		return -errno;
	return reply_entry(r, parent, name);
}

static int op_unlink(struct fs_req *r, struct fs_node *parent, int flags)
{
	int e = 0;
	const char *name = arg_name(r, &e);
	if (!name)
		return e;
	if (parent->fd < 0 || node_read_only(r->s, parent))
		return -EROFS;
	if (is_hidden(r->s, parent, name))
		return -ENOENT;
	return unlinkat(parent->fd, name, flags) < 0 ? -errno : 0;
}

static int op_rename(struct fs_req *r, struct fs_node *parent, bool v2)
{
	uint64_t newdir;
	uint32_t flags = 0;
	if (v2) {
		NEED(in, struct fuse_rename2_in);
		newdir = in->newdir;
		flags = in->flags;
	} else {
		NEED(in, struct fuse_rename_in);
		newdir = in->newdir;
	}
	int e = 0;
	const char *oldname = arg_name(r, &e);
	const char *newname = oldname ? arg_name(r, &e) : NULL;
	if (!newname)
		return e;
	if (flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	struct fs_node *np = node_get(r->s, newdir);
	if (!np)
		return -ESTALE;
	if (parent->fd < 0 || np->fd < 0 || node_read_only(r->s, parent) ||
	    node_read_only(r->s, np))
		e = -EROFS;
	else if (is_hidden(r->s, parent, oldname) || is_hidden(r->s, np, newname))
		e = is_hidden(r->s, parent, oldname) ? -ENOENT : -EPERM;
	else if (syscall(SYS_renameat2, parent->fd, oldname, np->fd, newname, flags) < 0)
		e = -errno;
	node_put(r->s, np);
	return e;
}

static int op_link(struct fs_req *r, struct fs_node *newparent)
{
	NEED(in, struct fuse_link_in);
	int e = 0;
	const char *name = arg_name(r, &e);
	if (!name)
		return e;
	struct fs_node *nd = node_get(r->s, in->oldnodeid);
	if (!nd)
		return -ESTALE;
	char p[32];
	if ((e = check_new_name(r, newparent, name)) < 0)
		goto out;
	/* A file of a read-only export must not gain a writable name. */
	if (node_read_only(r->s, nd)) {
		e = -EROFS;
		goto out;
	}
	if (nd->type == S_IFDIR) {
		e = -EPERM;
		goto out;
	}
	proc_path(p, nd->fd);
	if (linkat(AT_FDCWD, p, newparent->fd, name, AT_SYMLINK_FOLLOW) < 0) {
		e = -errno;
		goto out;
	}
	e = reply_entry(r, newparent, name);
out:
	node_put(r->s, nd);
	return e;
}

static int reply_open(struct fs_req *r, struct fs_node *nd, int fd)
{
	/* The client keeps its page cache across opens: with AUTO_INVAL_DATA
	 * it still drops it when the host changes the file's mtime or size.
	 * Without this every exec re-reads the whole binary. */
	struct fuse_open_out o = {.open_flags = nd->type == S_IFREG ? FOPEN_KEEP_CACHE : 0};
	int e = handle_new(r->s, nd, fd, &o.fh);
	if (e < 0)
		return e;
	if ((e = reply_add(r, &o, sizeof(o))) < 0)
		handle_release(r->s, o.fh);
	return e;
}

static int op_open(struct fs_req *r, struct fs_node *nd, bool dir)
{
	NEED(in, struct fuse_open_in);
	if (dir) {
		if (nd->type != S_IFDIR)
			return -ENOTDIR;
		if (nd->fd < 0)
			return reply_open(r, nd, -1);
		int fd = node_reopen(nd, O_RDONLY | O_DIRECTORY);
		return fd < 0 ? fd : reply_open(r, nd, fd);
	}
	if (nd->type == S_IFDIR)
		return -EISDIR;
	if (open_writes(in->flags) && node_read_only(r->s, nd))
		return -EROFS;
	int fd = node_reopen(nd, host_open_flags(in->flags));
	return fd < 0 ? fd : reply_open(r, nd, fd);
}

static int op_create(struct fs_req *r, struct fs_node *parent, bool tmpfile)
{
	NEED(in, struct fuse_create_in);
	int e = 0;
	const char *name = tmpfile ? "." : arg_name(r, &e);
	if (!name)
		return e;
	if (tmpfile && (parent->fd < 0 || node_read_only(r->s, parent)))
		return -EROFS;
	if (!tmpfile && (e = check_new_name(r, parent, name)) < 0)
		return e;
	int flags = host_open_flags(in->flags) | O_CLOEXEC | O_NOCTTY;
	flags |= tmpfile ? O_TMPFILE : O_CREAT | O_NOFOLLOW | (int)(in->flags & O_EXCL);
	int fd = openat(parent->fd, name, flags, in->mode & 07777);
	if (fd < 0)
		return -errno;
	/* The node is the created inode itself, not whatever the name holds now. */
	char p[32];
	proc_path(p, fd);
	struct stat st;
	int pfd = open(p, O_PATH | O_CLOEXEC);
	if (pfd < 0 || fstat(pfd, &st) < 0) {
		e = -errno;
		if (pfd >= 0)
			close(pfd);
		close(fd);
		return e;
	}
	struct fs_node *nd;
	if ((e = node_intern(r->s, pfd, &st, parent->export, &nd)) < 0) {
		close(fd);
		return e;
	}
	struct {
		struct fuse_entry_out entry;
		struct fuse_open_out open;
	} o = {.open.open_flags = FOPEN_KEEP_CACHE};
	fill_entry(&o.entry, nd, &st);
	if ((e = handle_new(r->s, nd, fd, &o.open.fh)) == 0 && (e = reply_add(r, &o, sizeof(o))) < 0)
		handle_release(r->s, o.open.fh);
	pthread_mutex_lock(&r->s->lock);
	if (e < 0)
		node_forget_locked(r->s, nd, 1);
	node_unref_locked(nd);
	pthread_mutex_unlock(&r->s->lock);
	return e;
}

/* The handle `fh` for an operation on file data. */
static int file_handle(struct fs_req *r, uint64_t fh, struct fs_handle **out)
{
	struct fs_handle *h = handle_get(r->s, fh);
	if (!h)
		return -EBADF;
	if (h->fd < 0 || h->node->type != S_IFREG) {
		handle_put(r->s, h);
		return -EBADF;
	}
	*out = h;
	return 0;
}

static int op_read(struct fs_req *r)
{
	NEED(in, struct fuse_read_in);
	if (in->offset > INT64_MAX)
		return -EINVAL;
	struct fs_handle *h;
	int e = file_handle(r, in->fh, &h);
	if (e < 0)
		return e;
	size_t size = in->size;
	if (size > reply_room(r))
		size = reply_room(r);
	if (size > (uint64_t)INT64_MAX - in->offset)
		size = (size_t)((uint64_t)INT64_MAX - in->offset);
	ssize_t got = iov_file_io(h->fd, false, r->out, r->nout, sizeof(struct fuse_out_header),
				  size, (off_t)in->offset);
	handle_put(r->s, h);
	if (got < 0)
		return (int)got;
	r->out_len = (size_t)got;
	return 0;
}

static int op_write(struct fs_req *r)
{
	NEED(in, struct fuse_write_in);
	if (in->offset > INT64_MAX || in->size > (uint64_t)INT64_MAX - in->offset)
		return -EFBIG;
	if (in->size > r->arglen)
		return -EINVAL;
	struct fs_handle *h;
	int e = file_handle(r, in->fh, &h);
	if (e < 0)
		return e;
	if (node_read_only(r->s, h->node)) {
		handle_put(r->s, h);
		return -EROFS;
	}
	ssize_t done = iov_file_io(h->fd, true, r->in, r->nin, r->data_off, in->size,
				   (off_t)in->offset);
	if (done < 0)
		e = (int)done;
	/* The client lacks CAP_FSETID: a write must drop setuid/setgid, which
	 * the host did not do if we act as root. */
	struct stat st;
	if (done > 0 && (in->write_flags & FUSE_WRITE_KILL_SUIDGID) && fstat(h->fd, &st) == 0 &&
	    (st.st_mode & (S_ISUID | S_ISGID)))
		fchmod(h->fd, st.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID));
	handle_put(r->s, h);
	if (e < 0)
		return e;
	struct fuse_write_out o = {.size = (uint32_t)done};
	return reply_add(r, &o, sizeof(o));
}

static int op_statfs(struct fs_req *r, struct fs_node *nd)
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
	return reply_add(r, &o, sizeof(o));
}

static int op_release(struct fs_req *r)
{
	NEED(in, struct fuse_release_in);
	return handle_release(r->s, in->fh);
}

static int op_fsync(struct fs_req *r)
{
	NEED(in, struct fuse_fsync_in);
	struct fs_handle *h = handle_get(r->s, in->fh);
	if (!h)
		return -EBADF;
	int e = 0;
	if (h->fd >= 0 && ((in->fsync_flags & 1) ? fdatasync(h->fd) : fsync(h->fd)) < 0)
		e = -errno;
	handle_put(r->s, h);
	return e;
}

static int op_setxattr(struct fs_req *r, struct fs_node *nd)
{
	/* Without FUSE_SETXATTR_EXT the client sends the short form. */
	const struct fuse_setxattr_in *in = arg_take(r, FUSE_COMPAT_SETXATTR_IN_SIZE);
	if (!in)
		return -EINVAL;
	int e = 0;
	const char *name = arg_string(r, XATTR_NAME_MAX, &e);
	if (!name)
		return e;
	if (in->size > r->arglen || in->size > XATTR_SIZE_MAX)
		return -EINVAL;
	if (nd->fd < 0 || node_read_only(r->s, nd))
		return -EROFS;
	char p[32];
	proc_path(p, nd->fd);
	return setxattr(p, name, r->arg, in->size, (int)in->flags) < 0 ? -errno : 0;
}

static int op_getxattr(struct fs_req *r, struct fs_node *nd, bool list)
{
	NEED(in, struct fuse_getxattr_in);
	int e = 0;
	const char *name = list ? "" : arg_string(r, XATTR_NAME_MAX, &e);
	if (!name)
		return e;
	if (nd->fd < 0 && !list)
		return -ENODATA;
	size_t size = in->size > XATTR_SIZE_MAX ? XATTR_SIZE_MAX : in->size;
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf)
		return -ENOMEM;
	char p[32];
	proc_path(p, nd->fd);
	ssize_t n = nd->fd < 0 ? 0 : list ? listxattr(p, buf, size) : getxattr(p, name, buf, size);
	if (n < 0)
		e = -errno;
	else if (size)
		e = reply_add(r, buf, (size_t)n);
	else
		e = reply_add(r, &(struct fuse_getxattr_out){.size = (uint32_t)n},
			      sizeof(struct fuse_getxattr_out));
	free(buf);
	return e;
}

static int op_removexattr(struct fs_req *r, struct fs_node *nd)
{
	int e = 0;
	const char *name = arg_string(r, XATTR_NAME_MAX, &e);
	if (!name)
		return e;
	if (nd->fd < 0 || node_read_only(r->s, nd))
		return -EROFS;
	char p[32];
	proc_path(p, nd->fd);
	return removexattr(p, name) < 0 ? -errno : 0;
}

static int op_access(struct fs_req *r, struct fs_node *nd)
{
	NEED(in, struct fuse_access_in);
	if (nd->fd < 0)
		return (in->mask & W_OK) ? -EROFS : 0;
	if ((in->mask & W_OK) && node_read_only(r->s, nd))
		return -EROFS;
	return faccessat(nd->fd, "", (int)(in->mask & 7), AT_EMPTY_PATH | AT_EACCESS |
			 AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* Appends one dirent (and for plus, the entry of the looked-up child);
 * returns 1 when it did not fit. */
static int dirent_add(struct fs_req *r, struct fs_node *dir, bool plus, uint64_t ino, uint64_t off,
		      unsigned type, const char *name)
{
	size_t namelen = strlen(name);
	size_t len = FUSE_DIRENT_ALIGN(offsetof(struct fuse_dirent, name) + namelen);
	if (plus)
		len += sizeof(struct fuse_entry_out);
	if (len > reply_room(r))
		return 1;
	uint8_t buf[sizeof(struct fuse_entry_out) + FUSE_NAME_OFFSET + NAME_MAX + 8] = {0};
	struct fuse_dirent *d = (void *)(buf + (plus ? sizeof(struct fuse_entry_out) : 0));
	if (plus && strcmp(name, ".") && strcmp(name, "..")) {
		struct fs_node *nd;
		struct stat st;
		if (lookup_child(r->s, dir, name, &nd, &st) == 0) {
			fill_entry((struct fuse_entry_out *)buf, nd, &st);
			node_put(r->s, nd);
		}
	}
	d->ino = ino;
	d->off = off;
	d->namelen = (uint32_t)namelen;
	d->type = type;
	memcpy(d->name, name, namelen);
	return reply_add(r, buf, len);
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int op_readdir(struct fs_req *r, struct fs_node *nd, bool plus)
{
	NEED(in, struct fuse_read_in);
	struct fs_handle *h = handle_get(r->s, in->fh);
	if (!h)
		return -EBADF;
	int e = 0;
	size_t room = reply_room(r);
	if (room > in->size)
		r->out_cap = sizeof(struct fuse_out_header) + in->size;
	if (h->node != nd || nd->type != S_IFDIR) {
		e = -EBADF;
	} else if (h->fd < 0) {
		/* Synthetic root: ".", "..", then the exports; offsets count entries. */
		for (uint64_t i = in->offset; i < 2 + r->s->nexports; i++) {
			const char *name = i == 0 ? "." : i == 1 ? ".." : r->s->exports[i - 2].name;
			if (dirent_add(r, nd, plus, i < 2 ? SYNTH_ROOT_INO : 2 + i, i + 1, DT_DIR,
				       name))
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
				if (!is_hidden(r->s, nd, d->d_name) && strlen(d->d_name) <= NAME_MAX) {
					if (dirent_add(r, nd, plus, d->d_ino, (uint64_t)d->d_off,
						       d->d_type, d->d_name)) {
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
	handle_put(r->s, h);
	return e;
}

static int op_fallocate(struct fs_req *r)
{
	NEED(in, struct fuse_fallocate_in);
	if (in->offset > INT64_MAX || in->length > INT64_MAX)
		return -EINVAL;
	struct fs_handle *h;
	int e = file_handle(r, in->fh, &h);
	if (e < 0)
		return e;
	if (node_read_only(r->s, h->node))
		e = -EROFS;
	else if (fallocate(h->fd, (int)in->mode, (off_t)in->offset, (off_t)in->length) < 0)
		e = -errno;
	handle_put(r->s, h);
	return e;
}

static int op_lseek(struct fs_req *r)
{
	NEED(in, struct fuse_lseek_in);
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
	handle_put(r->s, h);
	if (e < 0)
		return e;
	struct fuse_lseek_out o = {.offset = (uint64_t)off};
	return reply_add(r, &o, sizeof(o));
}

static int op_copy_file_range(struct fs_req *r)
{
	NEED(in, struct fuse_copy_file_range_in);
	if (in->off_in > INT64_MAX || in->off_out > INT64_MAX || in->flags)
		return -EINVAL;
	struct fs_handle *hi, *ho;
	int e = file_handle(r, in->fh_in, &hi);
	if (e < 0)
		return e;
	if ((e = file_handle(r, in->fh_out, &ho)) < 0) {
		handle_put(r->s, hi);
		return e;
	}
	ssize_t n = 0;
	if (node_read_only(r->s, ho->node)) {
		e = -EROFS;
	} else {
		loff_t oi = (loff_t)in->off_in, oo = (loff_t)in->off_out;
		/* The reply counts in 32 bits. */
		size_t len = in->len > (1u << 30) ? (1u << 30) : (size_t)in->len;
		n = copy_file_range(hi->fd, &oi, ho->fd, &oo, len, 0);
		if (n < 0)
			e = -errno;
	}
	handle_put(r->s, hi);
	handle_put(r->s, ho);
	if (e < 0)
		return e;
	struct fuse_write_out o = {.size = (uint32_t)n};
	return reply_add(r, &o, sizeof(o));
}

static int op_syncfs(struct fs_req *r)
{
	for (size_t i = 0; i < r->s->nexports; i++) {
		int fd = node_reopen(r->s->exports[i].root, O_RDONLY);
		if (fd >= 0) {
			syncfs(fd);
			close(fd);
		}
	}
	return 0;
}

/* ---- dispatch ---- */

static int dispatch(struct fs_req *r)
{
	struct fs_server *s = r->s;
	uint32_t op = r->h.opcode;
	bool init = atomic_load(&s->initialized);
	switch (op) {
	case FUSE_INIT:
		return op_init(r);
	case FUSE_FORGET:
		if (init)
			op_forget(r);
		return 1;
	case FUSE_BATCH_FORGET:
		if (init)
			op_batch_forget(r);
		return 1;
	case FUSE_INTERRUPT: /* requests are not interruptible; the reply comes */
		return 1;
	default:
		break;
	}
	if (!init)
		return -EIO;
	switch (op) {
	case FUSE_DESTROY:
		atomic_store(&s->initialized, false);
		return 0;
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
		return op_release(r);
	case FUSE_READ:
		return op_read(r);
	case FUSE_WRITE:
		return op_write(r);
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
		return op_fsync(r);
	case FUSE_FLUSH:
		/* Nothing is buffered here and locks are not served: ENOSYS makes
		 * the client stop sending FLUSH on every close(). */
		return -ENOSYS;
	case FUSE_FALLOCATE:
		return op_fallocate(r);
	case FUSE_LSEEK:
		return op_lseek(r);
	case FUSE_COPY_FILE_RANGE:
		return op_copy_file_range(r);
	case FUSE_SYNCFS:
		return op_syncfs(r);
	case FUSE_GETLK:
	case FUSE_SETLK:
	case FUSE_SETLKW:
	case FUSE_SETUPMAPPING:
	case FUSE_REMOVEMAPPING:
		return -ENOSYS;
	default:
		break;
	}
	struct fs_node *nd = node_get(s, r->h.nodeid);
	if (!nd)
		return -ESTALE;
	int e;
	switch (op) {
	case FUSE_LOOKUP: e = op_lookup(r, nd); break;
	case FUSE_GETATTR: e = reply_attr(r, nd); break;
	case FUSE_SETATTR: e = op_setattr(r, nd); break;
	case FUSE_READLINK: e = op_readlink(r, nd); break;
	case FUSE_SYMLINK: e = op_symlink(r, nd); break;
	case FUSE_MKNOD: e = op_mknod(r, nd); break;
	case FUSE_MKDIR: e = op_mkdir(r, nd); break;
	case FUSE_UNLINK: e = op_unlink(r, nd, 0); break;
	case FUSE_RMDIR: e = op_unlink(r, nd, AT_REMOVEDIR); break;
	case FUSE_RENAME: e = op_rename(r, nd, false); break;
	case FUSE_RENAME2: e = op_rename(r, nd, true); break;
	case FUSE_LINK: e = op_link(r, nd); break;
	case FUSE_OPEN: e = op_open(r, nd, false); break;
	case FUSE_OPENDIR: e = op_open(r, nd, true); break;
	case FUSE_STATFS: e = op_statfs(r, nd); break;
	case FUSE_SETXATTR: e = op_setxattr(r, nd); break;
	case FUSE_GETXATTR: e = op_getxattr(r, nd, false); break;
	case FUSE_LISTXATTR: e = op_getxattr(r, nd, true); break;
	case FUSE_REMOVEXATTR: e = op_removexattr(r, nd); break;
	case FUSE_READDIR: e = op_readdir(r, nd, false); break;
	case FUSE_READDIRPLUS: e = op_readdir(r, nd, true); break;
	case FUSE_ACCESS: e = op_access(r, nd); break;
	case FUSE_CREATE: e = op_create(r, nd, false); break;
	case FUSE_TMPFILE: e = op_create(r, nd, true); break;
	default: e = -ENOSYS; break;
	}
	node_put(s, nd);
	return e;
}

ssize_t fs_server_handle(void *server, const struct iovec *in, size_t nin,
			 const struct iovec *out, size_t nout)
{
	struct fs_server *s = server;
	bool overflow = false;
	size_t in_total = iov_total(in, nin, &overflow);
	size_t out_total = iov_total(out, nout, &overflow);
	if (overflow || in_total < sizeof(struct fuse_in_header))
		return -EINVAL;
	/* FORGET, BATCH_FORGET and INTERRUPT take no reply, and virtio-fs
	 * drivers give them no reply buffer. */
	struct fuse_in_header peek;
	iov_to_buf(in, nin, 0, &peek, sizeof(peek));
	bool no_reply = peek.opcode == FUSE_FORGET || peek.opcode == FUSE_BATCH_FORGET ||
			peek.opcode == FUSE_INTERRUPT;
	if (out_total < sizeof(struct fuse_out_header)) {
		if (!no_reply)
			return -EINVAL;
		out_total = sizeof(struct fuse_out_header); /* never written */
	}
	struct fs_req r = {.s = s, .in = in, .nin = nin, .out = out, .nout = nout,
			   .out_cap = out_total > UINT32_MAX ? UINT32_MAX : out_total,
			   .h = peek}; /* the header is read once */
	int e = 0;
	size_t arglen = r.h.len - sizeof(r.h);
	if (r.h.len < sizeof(r.h) || r.h.len > in_total) {
		e = -EINVAL;
		arglen = 0;
	} else if (r.h.opcode == FUSE_WRITE) {
		/* Only the fixed arguments are copied; the data stays in place. */
		r.data_off = sizeof(r.h) + sizeof(struct fuse_write_in);
		if (arglen > sizeof(struct fuse_write_in)) {
			r.arglen = arglen - sizeof(struct fuse_write_in);
			arglen = sizeof(struct fuse_write_in);
		}
	} else if (arglen > FS_MAX_ARGS) {
		e = -E2BIG;
		arglen = 0;
	}
	uint8_t small[4096];
	uint8_t *copy = arglen + 1 <= sizeof(small) ? small : malloc(arglen + 1);
	if (!copy) {
		e = -ENOMEM;
		copy = small;
		arglen = 0;
	}
	iov_to_buf(in, nin, sizeof(r.h), copy, arglen);
	copy[arglen] = 0;
	/* For WRITE, arglen counts the data left in place after the copy. */
	r.arglen += arglen;
	r.arg = copy;
	if (e == 0) {
		struct fs_creds c;
		if ((e = creds_enter(s, &r.h, &c)) == 0) {
			e = dispatch(&r);
			creds_leave(&c);
		}
	}
	if (copy != small)
		free(copy);
	if (e == 1 || no_reply) /* no reply, not even an error */
		return 0;
	struct fuse_out_header oh = {.error = e < 0 ? e : 0, .unique = r.h.unique};
	if (e < 0)
		r.out_len = 0;
	oh.len = (uint32_t)(sizeof(oh) + r.out_len);
	iov_from_buf(out, nout, 0, &oh, sizeof(oh));
	return oh.len;
}

/* ---- setup ---- */

static int export_open(struct fs_server *s, size_t i, const struct fs_export *ex, nook_error **err)
{
	int fd = open(ex->host_path, O_PATH | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return error_set(err, e, "%s: %s", ex->host_path, strerror(e));
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(err, EINVAL, "%s: not a directory or regular file",
				      ex->host_path);
	}
	struct fs_node *nd;
	int r = node_intern(s, fd, &st, (int)i, &nd);
	if (r < 0)
		return error_set(err, -r, "%s: %s", ex->host_path, strerror(-r));
	nd->pinned = true;
	nd->export_root = true;
	nd->nlookup = 0;
	nd->refs--;
	s->exports[i].root = nd;
	return 0;
}

int fs_server_create(const struct fs_server_options *opt, struct fs_server **out,
		     nook_error **err)
{
	if (!opt->nexports)
		return error_set(err, EINVAL, "file system server: no exports");
	bool synthetic = !(opt->nexports == 1 && !opt->exports[0].name);
	for (size_t i = 0; i < opt->nexports; i++) {
		const char *name = opt->exports[i].name;
		if (!opt->exports[i].host_path)
			return error_set(err, EINVAL, "file system export %zu: no host path", i);
		if (synthetic && (!name || !name[0] || strchr(name, '/') || !strcmp(name, ".") ||
				  !strcmp(name, "..") || strlen(name) > NAME_MAX))
			return error_set(err, EINVAL, "file system export %s: invalid name \"%s\"",
					      opt->exports[i].host_path, name ? name : "(null)");
		for (size_t j = 0; synthetic && j < i; j++)
			if (!strcmp(opt->exports[j].name, name))
				return error_set(err, EINVAL,
						      "file system export \"%s\": name used twice", name);
	}
	if (opt->hidden_name && (!opt->hidden_name[0] || strchr(opt->hidden_name, '/')))
		return error_set(err, EINVAL, "hidden name \"%s\": not a file name",
				      opt->hidden_name);

	struct fs_server *s = calloc(1, sizeof(*s));
	if (!s || !(s->exports = calloc(opt->nexports, sizeof(*s->exports))) ||
	    (opt->hidden_name && !(s->hidden_name = strdup(opt->hidden_name)))) {
		if (s)
			free(s->exports);
		free(s);
		return error_set(err, ENOMEM, "out of memory");
	}
	pthread_mutex_init(&s->lock, NULL);
	s->nexports = opt->nexports;
	s->max_write = opt->max_write ? opt->max_write : FS_MAX_WRITE_LIMIT;
	if (s->max_write > FS_MAX_WRITE_LIMIT)
		s->max_write = FS_MAX_WRITE_LIMIT;
	if (s->max_write < 4096)
		s->max_write = 4096;
	s->max_write &= ~4095u;
	s->switch_creds = geteuid() == 0;
	clock_gettime(CLOCK_REALTIME, &s->created);
	int r = 0;
	for (size_t i = 0; i < opt->nexports && r == 0; i++) {
		s->exports[i].read_only = opt->exports[i].read_only;
		if (synthetic && !(s->exports[i].name = strdup(opt->exports[i].name)))
			r = error_set(err, ENOMEM, "out of memory");
		else
			r = export_open(s, i, &opt->exports[i], err);
	}
	if (r == 0 && synthetic) {
		if (!(s->root = calloc(1, sizeof(*s->root))))
			r = error_set(err, ENOMEM, "out of memory");
		else
			*s->root = (struct fs_node){.nodeid = FUSE_ROOT_ID, .fd = -1, .export = -1,
						    .pinned = true, .type = S_IFDIR, .refs = 1};
	} else if (r == 0) {
		s->root = s->exports[0].root;
		s->root->refs++;
	}
	if (r < 0) {
		fs_server_destroy(s);
		return r;
	}
	*out = s;
	return 0;
}

void fs_server_destroy(struct fs_server *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->handles.size; i++)
		if (s->handles.items[i])
			handle_unref_locked(s->handles.items[i]);
	for (uint32_t i = 0; i < s->nodes.size; i++)
		if (s->nodes.items[i])
			node_unref_locked(s->nodes.items[i]);
	if (s->root)
		node_unref_locked(s->root);
	for (size_t i = 0; i < s->nexports; i++)
		free(s->exports[i].name);
	free(s->exports);
	free(s->nodes.items);
	free(s->nodes.gens);
	free(s->handles.items);
	free(s->handles.gens);
	free(s->hash);
	free(s->hidden_name);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
