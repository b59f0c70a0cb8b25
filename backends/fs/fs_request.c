/* Requests: decoding (the header and arguments are copied once out of
 * memory the client may change), the opcode table, replies; and the
 * session's own opcodes (INIT, DESTROY, FORGET, BATCH_FORGET, INTERRUPT).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "backends/fs/fs_internal.h"
#include "util/iov.h"

#define FS_MIN_MINOR 27
/* Arguments larger than this (beyond WRITE data) are not a valid request:
 * the largest is SETXATTR with a 64 KiB value. */
#define FS_MAX_ARGS (XATTR_SIZE_MAX + XATTR_NAME_MAX + 64)

/* ---- arguments and replies ---- */

/* Appends reply data; -ERANGE when the client's buffers are too small. */
int fs_reply_add(struct fs_req *r, const void *data, size_t len)
{
	if (len > fs_reply_room(r))
		return -ERANGE;
	iov_from_buf(r->out, r->nout, sizeof(struct fuse_out_header) + r->out_len, data, len);
	r->out_len += len;
	return 0;
}

size_t fs_reply_room(const struct fs_req *r)
{
	return r->out_cap - sizeof(struct fuse_out_header) - r->out_len;
}

const void *fs_arg_take(struct fs_req *r, size_t len)
{
	if (r->arglen < len)
		return NULL;
	const void *p = r->arg;
	r->arg += len;
	r->arglen -= len;
	return p;
}

/* A NUL-terminated string from the arguments (any bytes, at most max). */
const char *fs_arg_string(struct fs_req *r, size_t max, int *err)
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
const char *fs_arg_name(struct fs_req *r, int *err)
{
	const char *name = fs_arg_string(r, NAME_MAX, err);
	if (!name)
		return NULL;
	if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		*err = -EINVAL;
		return NULL;
	}
	return name;
}

/* ---- the session ---- */

static int op_init(struct fs_req *r, struct fs_node *unused)
{
	struct fs_server *s = r->s;
	const struct fuse_init_in *in = r->fixed;
	struct fuse_init_out o = {.major = FUSE_KERNEL_VERSION, .minor = FUSE_KERNEL_MINOR_VERSION};
	if (in->major < FUSE_KERNEL_VERSION)
		return -EPROTO;
	if (in->major > FUSE_KERNEL_VERSION) /* the client retries with ours */
		return fs_reply_add(r, &o, sizeof(o));
	if (in->minor < FS_MIN_MINOR)
		return -EPROTO;
	/* Flags from bit 32 on come in flags2, after the short form; without
	 * it FUSE_INIT_EXT is not what the client sent. */
	uint64_t offered = in->flags & ~(uint64_t)FUSE_INIT_EXT;
	const void *flags2 = (in->flags & FUSE_INIT_EXT) ? fs_arg_take(r, sizeof(uint32_t)) : NULL;
	if (flags2) {
		offered |= FUSE_INIT_EXT;
		uint32_t high;
		memcpy(&high, flags2, sizeof(high));
		offered |= (uint64_t)high << 32;
	}
	uint64_t want = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES |
			FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_PARALLEL_DIROPS |
			FUSE_HANDLE_KILLPRIV_V2 | FUSE_MAX_PAGES | FUSE_ASYNC_DIO |
			FUSE_CACHE_SYMLINKS | FUSE_AUTO_INVAL_DATA | FUSE_INIT_EXT;
	if (s->writeback_cache)
		want |= FUSE_WRITEBACK_CACHE;
	if (s->dax_window) {
		/* A client that asks for per-file DAX (mounted without
		 * dax=always) gets it for big files (FS_DAX_INODE_MIN). */
		want |= FUSE_MAP_ALIGNMENT | FUSE_HAS_INODE_DAX;
		o.map_alignment = FS_DAX_SHIFT;
		fs_dax_reset(s);
	}
	uint64_t agreed = offered & want;
	atomic_store(&s->dax_inode, (agreed & FUSE_HAS_INODE_DAX) != 0);
	o.flags = (uint32_t)agreed;
	o.flags2 = (uint32_t)(agreed >> 32);
	o.minor = in->minor < FUSE_KERNEL_MINOR_VERSION ? in->minor : FUSE_KERNEL_MINOR_VERSION;
	o.max_readahead = in->max_readahead;
	o.max_write = s->max_write;
	o.max_pages = (uint16_t)(s->max_write / 4096);
	o.max_background = 64;
	o.congestion_threshold = 48;
	o.time_gran = 1;
	atomic_store(&s->initialized, true);
	return fs_reply_add(r, &o, sizeof(o));
}

static int op_destroy(struct fs_req *r, struct fs_node *unused)
{
	atomic_store(&r->s->initialized, false);
	fs_dax_reset(r->s);
	return 0;
}

static int op_forget(struct fs_req *r, struct fs_node *unused)
{
	const struct fuse_forget_in *in = r->fixed;
	fs_node_forget(r->s, r->h.nodeid, in->nlookup);
	return 0;
}

static int op_batch_forget(struct fs_req *r, struct fs_node *unused)
{
	const struct fuse_batch_forget_in *in = r->fixed;
	for (uint32_t i = 0; i < in->count; i++) {
		const struct fuse_forget_one *one = fs_arg_take(r, sizeof(*one));
		if (!one)
			break;
		fs_node_forget(r->s, one->nodeid, one->nlookup);
	}
	return 0;
}

/* Requests are not interruptible: the reply comes when they are done. */
static int op_interrupt(struct fs_req *r, struct fs_node *unused)
{
	return 0;
}

/* ---- the opcode table ---- */

enum {
	OP_NODE = 1,	 /* h.nodeid must name a node, which the handler gets */
	OP_NO_REPLY = 2, /* never answered, not even with an error */
	OP_BEFORE_INIT = 4,
};

struct fs_op {
	fs_op_fn *handler;
	uint16_t fixed; /* bytes of fixed arguments (r->fixed); fewer: EINVAL */
	uint8_t flags;
	const char *name; /* without "FUSE_", for metrics */
};

#define OP(code, fn, type, fl) [code] = {fn, sizeof(type), fl, &#code[5]}
#define OP_NOARGS(code, fn, fl) [code] = {fn, 0, fl, &#code[5]}

/* Opcodes not listed get ENOSYS: POSIX/BSD locks (not negotiated, so the
 * client keeps them local), IOCTL, POLL, BMAP, NOTIFY_REPLY,
 * and FLUSH (nothing is buffered and locks are not served: ENOSYS makes the
 * client stop sending it on every close()). */
static const struct fs_op fs_ops[] = {
	/* Without the 7.36 flags2 field: older clients send the short form. */
	[FUSE_INIT] = {op_init, offsetof(struct fuse_init_in, flags2), OP_BEFORE_INIT, "INIT"},
	OP_NOARGS(FUSE_DESTROY, op_destroy, 0),
	OP(FUSE_FORGET, op_forget, struct fuse_forget_in, OP_NO_REPLY),
	OP(FUSE_BATCH_FORGET, op_batch_forget, struct fuse_batch_forget_in, OP_NO_REPLY),
	OP_NOARGS(FUSE_INTERRUPT, op_interrupt, OP_NO_REPLY | OP_BEFORE_INIT),

	OP_NOARGS(FUSE_LOOKUP, fs_op_lookup, OP_NODE),
	OP(FUSE_MKNOD, fs_op_mknod, struct fuse_mknod_in, OP_NODE),
	OP(FUSE_MKDIR, fs_op_mkdir, struct fuse_mkdir_in, OP_NODE),
	OP_NOARGS(FUSE_SYMLINK, fs_op_symlink, OP_NODE),
	OP(FUSE_LINK, fs_op_link, struct fuse_link_in, OP_NODE),
	OP_NOARGS(FUSE_UNLINK, fs_op_unlink, OP_NODE),
	OP_NOARGS(FUSE_RMDIR, fs_op_rmdir, OP_NODE),
	OP(FUSE_RENAME, fs_op_rename, struct fuse_rename_in, OP_NODE),
	OP(FUSE_RENAME2, fs_op_rename2, struct fuse_rename2_in, OP_NODE),

	OP_NOARGS(FUSE_GETATTR, fs_op_getattr, OP_NODE),
	OP(FUSE_SETATTR, fs_op_setattr, struct fuse_setattr_in, OP_NODE),
	OP_NOARGS(FUSE_READLINK, fs_op_readlink, OP_NODE),
	OP_NOARGS(FUSE_STATFS, fs_op_statfs, OP_NODE),
	OP(FUSE_ACCESS, fs_op_access, struct fuse_access_in, OP_NODE),
	/* Without FUSE_SETXATTR_EXT the client sends the short form. */
	[FUSE_SETXATTR] = {fs_op_setxattr, FUSE_COMPAT_SETXATTR_IN_SIZE, OP_NODE, "SETXATTR"},
	OP(FUSE_GETXATTR, fs_op_getxattr, struct fuse_getxattr_in, OP_NODE),
	OP(FUSE_LISTXATTR, fs_op_listxattr, struct fuse_getxattr_in, OP_NODE),
	OP_NOARGS(FUSE_REMOVEXATTR, fs_op_removexattr, OP_NODE),

	OP(FUSE_OPEN, fs_op_open, struct fuse_open_in, OP_NODE),
	OP(FUSE_CREATE, fs_op_create, struct fuse_create_in, OP_NODE),
	OP(FUSE_TMPFILE, fs_op_tmpfile, struct fuse_create_in, OP_NODE),
	OP(FUSE_READ, fs_op_read, struct fuse_read_in, 0),
	OP(FUSE_WRITE, fs_op_write, struct fuse_write_in, 0),
	OP(FUSE_RELEASE, fs_op_release, struct fuse_release_in, 0),
	OP(FUSE_FSYNC, fs_op_fsync, struct fuse_fsync_in, 0),
	OP(FUSE_FALLOCATE, fs_op_fallocate, struct fuse_fallocate_in, 0),
	OP(FUSE_LSEEK, fs_op_lseek, struct fuse_lseek_in, 0),
	OP(FUSE_COPY_FILE_RANGE, fs_op_copy_file_range, struct fuse_copy_file_range_in, 0),
	OP_NOARGS(FUSE_SYNCFS, fs_op_syncfs, 0),

	OP(FUSE_OPENDIR, fs_op_opendir, struct fuse_open_in, OP_NODE),
	OP(FUSE_READDIR, fs_op_readdir, struct fuse_read_in, OP_NODE),
	OP(FUSE_READDIRPLUS, fs_op_readdirplus, struct fuse_read_in, OP_NODE),
	OP(FUSE_RELEASEDIR, fs_op_release, struct fuse_release_in, 0),
	OP(FUSE_FSYNCDIR, fs_op_fsync, struct fuse_fsync_in, 0),
	OP(FUSE_SETUPMAPPING, fs_op_setupmapping, struct fuse_setupmapping_in, OP_NODE),
	OP(FUSE_REMOVEMAPPING, fs_op_removemapping, struct fuse_removemapping_in, 0),
};

static const struct fs_op *op_find(uint32_t opcode)
{
	if (opcode >= sizeof(fs_ops) / sizeof(fs_ops[0]) || !fs_ops[opcode].handler)
		return NULL;
	return &fs_ops[opcode];
}

const char *fs_server_opcode_name(uint32_t opcode)
{
	const struct fs_op *op = op_find(opcode);
	return op ? op->name : NULL;
}

static int dispatch(struct fs_req *r, const struct fs_op *op)
{
	if (!(op && (op->flags & OP_BEFORE_INIT)) && !atomic_load(&r->s->initialized))
		return -EIO;
	if (!op)
		return -ENOSYS;
	if (!(r->fixed = fs_arg_take(r, op->fixed)))
		return -EINVAL;
	struct fs_node *nd = NULL;
	if ((op->flags & OP_NODE) && !(nd = fs_node_get(r->s, r->h.nodeid)))
		return -ESTALE;
	int e = op->handler(r, nd);
	fs_node_put(r->s, nd);
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
	struct fuse_in_header h; /* read once */
	iov_to_buf(in, nin, 0, &h, sizeof(h));
	if (s->op_counts)
		atomic_fetch_add_explicit(&s->op_counts[h.opcode < FS_SERVER_OPCODE_SLOTS ? h.opcode : 0],
					  1, memory_order_relaxed);
	const struct fs_op *op = op_find(h.opcode);
	/* virtio-fs drivers give requests without a reply no reply buffer. */
	bool no_reply = op && (op->flags & OP_NO_REPLY);
	if (out_total < sizeof(struct fuse_out_header)) {
		if (!no_reply)
			return -EINVAL;
		out_total = sizeof(struct fuse_out_header); /* never written */
	}
	struct fs_req r = {.s = s, .h = h, .in = in, .nin = nin, .out = out, .nout = nout,
			   .out_cap = out_total > UINT32_MAX ? UINT32_MAX : out_total};
	int e = 0;
	size_t arglen = h.len - sizeof(h);
	if (h.len < sizeof(h) || h.len > in_total) {
		e = -EINVAL;
		arglen = 0;
	} else if (h.opcode == FUSE_WRITE) {
		/* Only the fixed arguments are copied; the data stays in place. */
		r.data_off = sizeof(h) + sizeof(struct fuse_write_in);
		if (arglen > sizeof(struct fuse_write_in)) {
			r.arglen = arglen - sizeof(struct fuse_write_in);
			arglen = sizeof(struct fuse_write_in);
		}
	} else if (arglen > FS_MAX_ARGS) {
		e = -E2BIG;
		arglen = 0;
	}
	_Alignas(8) uint8_t small[4096];
	uint8_t *copy = arglen + 1 <= sizeof(small) ? small : malloc(arglen + 1);
	if (!copy) {
		e = -ENOMEM;
		copy = small;
		arglen = 0;
	}
	iov_to_buf(in, nin, sizeof(h), copy, arglen);
	copy[arglen] = 0;
	/* For WRITE, arglen counts the data left in place after the copy. */
	r.arglen += arglen;
	r.arg = copy;
	if (e == 0 && (e = fs_thread_enter()) == 0)
		e = dispatch(&r, op);
	if (copy != small)
		free(copy);
	if (no_reply)
		return 0;
	struct fuse_out_header oh = {.error = e < 0 ? e : 0, .unique = h.unique};
	if (e < 0)
		r.out_len = 0;
	oh.len = (uint32_t)(sizeof(oh) + r.out_len);
	iov_from_buf(out, nout, 0, &oh, sizeof(oh));
	return oh.len;
}
