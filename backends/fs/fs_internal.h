/* The FUSE server's internals, shared by its files (fs_server.h is the
 * interface):
 *
 *   fs_tables.c   node and handle tables: ids, reference counts, lifetimes
 *   fs_owner.c    ownership: the guest's view of host objects, xattr names
 *   fs_request.c  request decoding, replies, the opcode table, INIT/FORGET
 *   fs_entry.c    names: LOOKUP, MKNOD, MKDIR, SYMLINK, LINK, UNLINK, RMDIR,
 *                 RENAME
 *   fs_attr.c     attributes and xattrs: GETATTR, SETATTR, READLINK, STATFS,
 *                 ACCESS, *XATTR
 *   fs_file.c     file data: OPEN, CREATE, TMPFILE, READ, WRITE, RELEASE,
 *                 FSYNC, FALLOCATE, LSEEK, COPY_FILE_RANGE, SYNCFS
 *   fs_dir.c      directories: OPENDIR, READDIR, READDIRPLUS
 *   fs_dax.c      the DAX window: SETUPMAPPING, REMOVEMAPPING
 *   fs_server.c   creation and destruction
 */
#ifndef NOOK_BACKENDS_FS_INTERNAL_H
#define NOOK_BACKENDS_FS_INTERNAL_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

#include "backends/fs/fs_server.h"

#define FS_ATTR_TIMEOUT 1
/* DAX ranges are whole units of this: the Linux client's FUSE_DAX_SZ. */
#define FS_DAX_SHIFT 21
#define FS_DAX_UNIT (1ULL << FS_DAX_SHIFT)
/* Per-file DAX (a client mounted without dax=always): regular files of at
 * least this size are mapped, smaller ones copied, so that a small window
 * holds the big files (programs) without a 2 MiB unit per small one. */
#define FS_DAX_INODE_MIN (1ULL << 20)
#define FS_SYNTH_ROOT_INO 1

/* What the guest sees of a host object beyond its host stat (fs_owner.c). */
struct fs_view {
	uid_t uid;
	gid_t gid;
	mode_t mode;
	dev_t rdev;
};

struct fs_node {
	uint64_t nodeid;
	int fd;		 /* O_PATH|O_NOFOLLOW; -1 for the synthetic root */
	int export;	 /* index into exports; -1 for the synthetic root */
	bool export_root;
	bool pinned;	 /* export roots and the root stay while the server lives */
	mode_t type;
	dev_t dev;
	ino_t ino;
	uint64_t nlookup; /* the client's references */
	atomic_bool nosec;	/* nothing for fs_node_kill_privs() to drop */
	atomic_bool host_plain; /* no host s-bits for fs_node_disarm() to move */
	/* The record as last read (fs_owner.c), current while the host ctime
	 * is view_ctime. */
	pthread_mutex_t view_lock;
	bool view_known, view_recorded, view_valid;
	struct timespec view_ctime;
	struct fs_view view;
	unsigned refs;	  /* see fs_tables.c */
	struct fs_node *hash_next;
};

struct fs_handle {
	uint64_t fh;
	int fd;		      /* -1 for the synthetic root directory */
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
	pthread_mutex_t lock; /* the tables and every refs/nlookup */
	struct fs_export_state *exports;
	size_t nexports;
	char *hidden_name;
	uint32_t max_write;
	bool writeback_cache; /* fs_server_options.writeback_cache */
	atomic_uint_least64_t *op_counts; /* fs_server_options.op_counts */
	uint8_t *dax_window;		  /* fs_server_options.dax_* */
	uint64_t dax_window_size;
	void (*dax_broken)(void *opaque, int err);
	void *dax_opaque;
	atomic_bool dax_failed; /* the window may have a hole: no more mappings */
	atomic_bool dax_inode;	/* the session agreed on per-file DAX */
	atomic_bool initialized;
	struct timespec created;

	uint32_t max_fds;	  /* the descriptor budget (fs_tables.c) */
	uint32_t fds;		  /* taken from it */
	unsigned fd_reserve_from; /* descriptors from here on are the process's */

	struct fs_slots nodes;	 /* of struct fs_node */
	struct fs_slots handles; /* of struct fs_handle */
	struct fs_node **hash;
	size_t hash_size, hash_count;
	struct fs_node *root;
};

/* ---- fs_tables.c ---- */

struct fs_node *fs_node_get(struct fs_server *s, uint64_t nodeid);
void fs_node_put(struct fs_server *s, struct fs_node *nd);
int fs_node_intern(struct fs_server *s, int fd, const struct stat *st, int export,
		   struct fs_node **out);
void fs_node_add_lookup(struct fs_server *s, struct fs_node *nd);
void fs_node_done(struct fs_server *s, struct fs_node *nd, bool handed_out);
void fs_node_forget(struct fs_server *s, uint64_t nodeid, uint64_t count);
int fs_node_make_root(struct fs_server *s, int fd, const struct stat *st, int export,
		      struct fs_node **out);
int fs_tables_set_root(struct fs_server *s, bool synthetic);

int fs_handle_new(struct fs_server *s, struct fs_node *nd, int fd, uint64_t *fh);
struct fs_handle *fs_handle_get(struct fs_server *s, uint64_t fh);
void fs_handle_put(struct fs_server *s, struct fs_handle *h);
int fs_handle_release(struct fs_server *s, uint64_t fh);

void fs_tables_free(struct fs_server *s);

/* ---- fs_owner.c ---- */

int fs_thread_enter(void);
void fs_node_guest_stat(struct fs_node *nd, struct stat *st);
/* The node's stat on the host, and the guest's view of it. */
int fs_node_stat_views(struct fs_node *nd, struct stat *host, struct stat *guest);
unsigned fs_guest_dtype(int dirfd, const char *name);
int fs_guest_new(const struct fuse_in_header *h, const struct stat *parent, mode_t mode,
		 dev_t rdev, struct stat *guest);
int fs_node_set_view(struct fs_node *nd, struct stat *st, const struct stat *want, bool fresh);
int fs_node_disarm(struct fs_node *nd);
int fs_node_kill_privs(struct fs_node *nd);
size_t fs_xattr_guest_list(char *list, size_t len);
bool fs_xattr_is_priv(const char *name);

/* ---- fs_request.c ---- */

struct fs_req {
	struct fs_server *s;
	struct fuse_in_header h;
	const void *fixed;  /* the opcode's fixed argument struct (fs_request.c) */
	const uint8_t *arg; /* what follows, NUL-terminated one past the end */
	size_t arglen;
	const struct iovec *in; /* for WRITE data, consumed in place */
	size_t nin;
	size_t data_off; /* offset of WRITE data in `in` */
	const struct iovec *out;
	size_t nout;
	size_t out_cap;
	size_t out_len; /* bytes of reply data written after the header */
};

int fs_reply_add(struct fs_req *r, const void *data, size_t len);
size_t fs_reply_room(const struct fs_req *r);
const void *fs_arg_take(struct fs_req *r, size_t len);
const char *fs_arg_string(struct fs_req *r, size_t max, int *err);
const char *fs_arg_name(struct fs_req *r, int *err);

/* ---- helpers of the operations ---- */

static inline bool fs_node_read_only(const struct fs_server *s, const struct fs_node *nd)
{
	return nd->export < 0 || s->exports[nd->export].read_only;
}

/* The stat of what an O_PATH descriptor refers to (a symlink itself). */
static inline int fs_fd_stat(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* /proc/self/fd/N: the node's own inode for calls that take a path. */
static inline void fs_proc_path(char buf[32], int fd)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

/* fs_entry.c */
bool fs_is_hidden(const struct fs_server *s, const struct fs_node *parent, const char *name);
int fs_check_new_name(struct fs_req *r, struct fs_node *parent, const char *name);
int fs_lookup_child(struct fs_server *s, struct fs_node *parent, const char *name,
		    struct fs_node **out, struct stat *st);
void fs_fill_entry(const struct fs_server *s, struct fuse_entry_out *e, const struct fs_node *nd,
		   const struct stat *st);
int fs_new_view(struct fs_req *r, struct fs_node *parent, mode_t mode, dev_t rdev,
		struct stat *want);
int fs_give_view(struct fs_node *nd, struct stat *st, const struct stat *want);

/* fs_attr.c */
void fs_fill_attr(const struct fs_server *s, struct fuse_attr *a, const struct stat *st);
int fs_node_host_stat(struct fs_server *s, const struct fs_node *nd, struct stat *st);
int fs_node_stat(struct fs_server *s, struct fs_node *nd, struct stat *st);

/* fs_file.c */
int fs_node_reopen(const struct fs_node *nd, int flags);
int fs_reply_open(struct fs_req *r, struct fs_node *nd, int fd);

/* ---- the operations (handlers of the opcode table in fs_request.c) ---- */

typedef int fs_op_fn(struct fs_req *r, struct fs_node *nd);

fs_op_fn fs_op_lookup, fs_op_mknod, fs_op_mkdir, fs_op_symlink, fs_op_link, fs_op_unlink,
	fs_op_rmdir, fs_op_rename, fs_op_rename2;
fs_op_fn fs_op_getattr, fs_op_setattr, fs_op_readlink, fs_op_statfs, fs_op_access,
	fs_op_setxattr, fs_op_getxattr, fs_op_listxattr, fs_op_removexattr;
fs_op_fn fs_op_open, fs_op_create, fs_op_tmpfile, fs_op_read, fs_op_write, fs_op_release,
	fs_op_fsync, fs_op_fallocate, fs_op_lseek, fs_op_copy_file_range, fs_op_syncfs;
fs_op_fn fs_op_opendir, fs_op_readdir, fs_op_readdirplus;
fs_op_fn fs_op_setupmapping, fs_op_removemapping;

/* fs_dax.c: the window emptied (a new session, or its end). */
void fs_dax_reset(struct fs_server *s);

#endif
