/* The FUSE server driven by a hostile client: raw requests built byte by
 * byte and handed to fs_server_handle(), the way a malicious guest kernel
 * would send them over a virtqueue. Checks that nothing outside the export
 * is reachable and that malformed requests get errors, never crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <limits.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/fs/fs_server.h"

#define SECRET "outside secret\n"
#define INSIDE "inside data\n"

struct fixture {
	char top[64];	  /* holds export/ and outside/ */
	char exp[96];	  /* the export */
	char outside[96]; /* a sibling of the export, never reachable */
	struct fs_server *s;
	bool proc_mounted;
};

static struct fixture F;

static void write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static char *path_in(const char *dir, const char *name)
{
	static char buf[4][PATH_MAX + NAME_MAX + 2];
	static int i;
	char *p = buf[i++ % 4];
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

/* ---- a raw FUSE client ---- */

struct reply {
	struct fuse_out_header h;
	uint8_t data[1 << 17];
};

static uint64_t next_unique = 1;

/* Sends opcode/nodeid/args as one request split into iovecs at `splits`
 * (ascending byte offsets, 0-terminated list may be NULL); the reply lands
 * in r (out capacity `outcap`). Returns fs_server_handle()'s result. */
static ssize_t send_split(struct fs_server *s, uint32_t opcode, uint64_t nodeid, const void *args,
			  size_t arglen, struct reply *r, size_t outcap, const size_t *splits,
			  size_t nsplits)
{
	size_t len = sizeof(struct fuse_in_header) + arglen;
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	struct fuse_in_header h = {.len = (uint32_t)len, .opcode = opcode,
				   .unique = next_unique++, .nodeid = nodeid};
	memcpy(buf, &h, sizeof(h));
	if (arglen)
		memcpy(buf + sizeof(h), args, arglen);
	struct iovec in[64];
	size_t nin = 0, prev = 0;
	for (size_t i = 0; i < nsplits; i++) {
		in[nin++] = (struct iovec){buf + prev, splits[i] - prev};
		prev = splits[i];
	}
	in[nin++] = (struct iovec){buf + prev, len - prev};
	memset(r, 0xa5, sizeof(r->h));
	struct iovec out = {r, outcap};
	ssize_t n = fs_server_handle(s, in, nin, &out, 1);
	free(buf);
	return n;
}

/* Sends a request and returns the reply's error (0 or -errno); data in r. */
static int call(uint32_t opcode, uint64_t nodeid, const void *args, size_t arglen,
		struct reply *r)
{
	ssize_t n = send_split(F.s, opcode, nodeid, args, arglen, r, sizeof(*r), NULL, 0);
	assert_true(n >= (ssize_t)sizeof(struct fuse_out_header));
	assert_int_equal(r->h.len, n);
	assert_int_equal(r->h.unique, next_unique - 1);
	assert_true(r->h.error <= 0);
	if (r->h.error)
		assert_int_equal(n, sizeof(struct fuse_out_header));
	return r->h.error;
}

static struct reply R;

static int do_init(struct fs_server *s)
{
	struct fuse_init_in in = {.major = 7, .minor = 38, .max_readahead = 65536,
				  .flags = 0xffffffff};
	ssize_t n = send_split(s, FUSE_INIT, 0, &in, sizeof(in), &R, sizeof(R), NULL, 0);
	assert_true(n >= (ssize_t)sizeof(struct fuse_out_header));
	return R.h.error;
}

/* LOOKUP name under parent: the node id (0 on error; error in *e). */
static uint64_t lookup(uint64_t parent, const char *name, int *e, struct fuse_attr *attr)
{
	*e = call(FUSE_LOOKUP, parent, name, strlen(name) + 1, &R);
	if (*e)
		return 0;
	struct fuse_entry_out *o = (void *)R.data;
	assert_int_equal(R.h.len, sizeof(R.h) + sizeof(*o));
	if (attr)
		*attr = o->attr;
	return o->nodeid;
}

static uint64_t must_lookup(uint64_t parent, const char *name)
{
	int e;
	uint64_t id = lookup(parent, name, &e, NULL);
	assert_int_equal(e, 0);
	return id;
}

static int open_node(uint64_t node, uint32_t flags, uint64_t *fh, uint32_t op)
{
	struct fuse_open_in in = {.flags = flags};
	*fh = 0;
	int e = call(op, node, &in, sizeof(in), &R);
	if (!e)
		*fh = ((struct fuse_open_out *)R.data)->fh;
	return e;
}

static int read_fh(uint64_t node, uint64_t fh, uint64_t off, uint32_t size, size_t *got)
{
	struct fuse_read_in in = {.fh = fh, .offset = off, .size = size};
	int e = call(FUSE_READ, node, &in, sizeof(in), &R);
	*got = R.h.len - sizeof(R.h);
	return e;
}

static void release(uint64_t node, uint64_t fh)
{
	struct fuse_release_in in = {.fh = fh};
	assert_int_equal(call(FUSE_RELEASE, node, &in, sizeof(in), &R), 0);
}

/* Whatever the node is, it must not give the outside secret. */
static void assert_not_secret(uint64_t node)
{
	uint64_t fh;
	if (open_node(node, O_RDONLY, &fh, FUSE_OPEN) != 0)
		return;
	size_t got;
	if (read_fh(node, fh, 0, 4096, &got) == 0)
		assert_false(got == strlen(SECRET) && !memcmp(R.data, SECRET, got));
	release(node, fh);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	strcpy(F.top, "/tmp/nook-fs-hostile-XXXXXX");
	if (!mkdtemp(F.top))
		return -1;
	snprintf(F.exp, sizeof(F.exp), "%s/export", F.top);
	snprintf(F.outside, sizeof(F.outside), "%s/outside", F.top);
	mkdir(F.exp, 0755);
	mkdir(F.outside, 0755);
	write_file(path_in(F.outside, "secret"), SECRET);
	write_file(path_in(F.exp, "file"), INSIDE);
	mkdir(path_in(F.exp, "dir"), 0755);
	mkdir(path_in(F.exp, "proc"), 0755);
	char abs[200];
	snprintf(abs, sizeof(abs), "%s/secret", F.outside);
	if (symlink(abs, path_in(F.exp, "abs_link")) < 0 ||
	    symlink("../outside/secret", path_in(F.exp, "rel_link")) < 0 ||
	    symlink(F.outside, path_in(F.exp, "abs_dirlink")) < 0 ||
	    symlink("../outside", path_in(F.exp, "rel_dirlink")) < 0 ||
	    symlink("/", path_in(F.exp, "rootlink")) < 0)
		return -1;
	/* /proc magic links inside the export (needs root to mount), in a
	 * mount namespace of our own so the mount goes with us however the test
	 * ends. */
	F.proc_mounted = unshare(CLONE_NEWNS) == 0 &&
			 mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
			 mount("proc", path_in(F.exp, "proc"), "proc", 0, NULL) == 0;

	struct fs_export ex = {.host_path = F.exp};
	struct fs_server_options opt = {.exports = &ex, .nexports = 1, .max_write = 65536};
	nook_error *err = NULL;
	if (fs_server_create(&opt, &F.s, &err) < 0) {
		fprintf(stderr, "%s\n", nook_error_message(err));
		nook_error_free(err);
		return -1;
	}
	if (do_init(F.s) != 0)
		return -1;
	*state = &F;
	return 0;
}

static int teardown(void **state)
{
	fs_server_destroy(F.s);
	if (F.proc_mounted)
		umount2(path_in(F.exp, "proc"), MNT_DETACH);
	/* Random requests may have chmod-ed the export. */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwX '%s' 2>/dev/null; rm -rf '%s'", F.top, F.top);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void test_create_errors(void **state)
{
	struct fs_server *s = NULL;
	nook_error *err = NULL;
	struct fs_export ex = {.host_path = "/nonexistent/nook"};
	struct fs_server_options opt = {.exports = &ex, .nexports = 1};
	assert_int_equal(fs_server_create(&opt, &s, &err), -ENOENT);
	assert_non_null(strstr(nook_error_message(err), "/nonexistent/nook"));
	nook_error_free(err);
	err = NULL;
	struct fs_export two[2] = {{.name = "a", .host_path = F.exp},
				   {.name = "a", .host_path = F.exp}};
	opt = (struct fs_server_options){.exports = two, .nexports = 2};
	assert_int_equal(fs_server_create(&opt, &s, &err), -EINVAL);
	nook_error_free(err);
	err = NULL;
	two[1].name = "../x";
	assert_int_equal(fs_server_create(&opt, &s, &err), -EINVAL);
	nook_error_free(err);
}

static void test_init(void **state)
{
	struct fs_server *s;
	struct fs_export ex = {.host_path = F.exp};
	struct fs_server_options opt = {.exports = &ex, .nexports = 1, .max_write = 131072};
	assert_int_equal(fs_server_create(&opt, &s, NULL), 0);
	/* Nothing but INIT before INIT. */
	ssize_t n = send_split(s, FUSE_GETATTR, FUSE_ROOT_ID, NULL, 0, &R, sizeof(R), NULL, 0);
	assert_int_equal(n, sizeof(R.h));
	assert_int_equal(R.h.error, -EIO);
	struct fuse_init_in old = {.major = 6, .minor = 99};
	send_split(s, FUSE_INIT, 0, &old, sizeof(old), &R, sizeof(R), NULL, 0);
	assert_int_equal(R.h.error, -EPROTO);
	/* The short (pre-7.36) fuse_init_in is accepted. */
	struct fuse_init_in in = {.major = 7, .minor = 31, .flags = 0xffffffff};
	n = send_split(s, FUSE_INIT, 0, &in, offsetof(struct fuse_init_in, flags2), &R, sizeof(R),
		       NULL, 0);
	assert_int_equal(n, sizeof(R.h) + sizeof(struct fuse_init_out));
	assert_int_equal(R.h.error, 0);
	struct fuse_init_out *o = (void *)R.data;
	assert_int_equal(o->major, 7);
	assert_int_equal(o->minor, 31);
	assert_int_equal(o->max_write, 131072);
	assert_int_equal(o->max_pages, 32);
	/* Only what is implemented is negotiated. */
	assert_false(o->flags & (FUSE_POSIX_LOCKS | FUSE_FLOCK_LOCKS | FUSE_WRITEBACK_CACHE |
				 FUSE_EXPORT_SUPPORT | FUSE_MAP_ALIGNMENT | FUSE_DONT_MASK));
	assert_true(o->flags & FUSE_BIG_WRITES);
	fs_server_destroy(s);
}

static void test_truncated_and_len_mismatch(void **state)
{
	uint8_t buf[64] = {0};
	struct fuse_in_header h = {.len = 40, .opcode = FUSE_GETATTR, .unique = 7,
				   .nodeid = FUSE_ROOT_ID};
	memcpy(buf, &h, sizeof(h));
	uint8_t out[256];
	struct iovec o = {out, sizeof(out)};
	/* Shorter than a header: no reply can be formed. */
	for (size_t n = 0; n < sizeof(h); n++) {
		struct iovec i = {buf, n};
		assert_int_equal(fs_server_handle(F.s, &i, 1, &o, 1), -EINVAL);
	}
	assert_int_equal(fs_server_handle(F.s, NULL, 0, &o, 1), -EINVAL);
	/* An out buffer smaller than a reply header. */
	struct iovec i = {buf, sizeof(h)};
	for (size_t n = 0; n < sizeof(struct fuse_out_header); n++) {
		struct iovec small = {out, n};
		assert_int_equal(fs_server_handle(F.s, &i, 1, &small, 1), -EINVAL);
	}
	assert_int_equal(fs_server_handle(F.s, &i, 1, NULL, 0), -EINVAL);
	/* len claims more than was sent, or less than a header. */
	uint32_t lens[] = {41, 64, 1000, UINT32_MAX, 0, 1, 39};
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		h.len = lens[k];
		memcpy(buf, &h, sizeof(h));
		ssize_t n = fs_server_handle(F.s, &i, 1, &o, 1);
		assert_int_equal(n, sizeof(struct fuse_out_header));
		struct fuse_out_header *oh = (void *)out;
		assert_int_equal(oh->error, -EINVAL);
		assert_int_equal(oh->unique, 7);
	}
	/* Bytes beyond len are ignored. */
	h.len = 40;
	memcpy(buf, &h, sizeof(h));
	i.iov_len = sizeof(buf);
	assert_int_equal(fs_server_handle(F.s, &i, 1, &o, 1),
			 sizeof(struct fuse_out_header) + sizeof(struct fuse_attr_out));
	/* Arguments shorter than the opcode's struct. */
	uint32_t ops[] = {FUSE_SETATTR,	 FUSE_MKNOD,  FUSE_MKDIR,  FUSE_RENAME,	  FUSE_RENAME2,
			  FUSE_LINK,	 FUSE_OPEN,   FUSE_READ,   FUSE_WRITE,	  FUSE_RELEASE,
			  FUSE_FSYNC,	 FUSE_SETXATTR, FUSE_GETXATTR, FUSE_LISTXATTR,
			  FUSE_OPENDIR, FUSE_READDIR, FUSE_READDIRPLUS, FUSE_ACCESS, FUSE_CREATE,
			  FUSE_FALLOCATE, FUSE_LSEEK, FUSE_COPY_FILE_RANGE, FUSE_INIT};
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		uint8_t args[3] = {1, 2, 3};
		assert_int_equal(call(ops[k], FUSE_ROOT_ID, args, sizeof(args), &R), -EINVAL);
	}
	/* No reply at all for these, even when malformed. */
	uint32_t silent[] = {FUSE_FORGET, FUSE_BATCH_FORGET, FUSE_INTERRUPT};
	for (size_t k = 0; k < 3; k++)
		assert_int_equal(send_split(F.s, silent[k], FUSE_ROOT_ID, "x", 1, &R, sizeof(R),
					    NULL, 0), 0);
	/* A batch claiming more entries than it carries. */
	struct {
		struct fuse_batch_forget_in in;
		struct fuse_forget_one one;
	} bf = {{.count = UINT32_MAX}, {.nodeid = 12345, .nlookup = 1}};
	assert_int_equal(send_split(F.s, FUSE_BATCH_FORGET, 0, &bf, sizeof(bf), &R, sizeof(R), NULL,
				    0), 0);
}

static void test_bogus_opcodes(void **state)
{
	uint32_t ops[] = {0, 7 /* unused */, 19 /* unused */, 99, 4096 /* CUSE_INIT */,
			  0x7fffffff, UINT32_MAX, FUSE_GETLK, FUSE_SETLK, FUSE_SETLKW,
			  FUSE_SETUPMAPPING, FUSE_REMOVEMAPPING, FUSE_IOCTL, FUSE_POLL, FUSE_BMAP,
			  FUSE_FLUSH};
	uint8_t args[128] = {0};
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		assert_int_equal(call(ops[k], FUSE_ROOT_ID, args, sizeof(args), &R), -ENOSYS);
}

static void test_forged_ids(void **state)
{
	uint64_t ids[] = {0, 2, 3, 0xffffffff, 1ull << 32, (1000ull << 32) | 2, (7ull << 32) | 5,
			  UINT64_MAX, 0x8000000000000001ull};
	for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
		assert_int_equal(call(FUSE_GETATTR, ids[k], NULL, 0, &R), -ESTALE);
		assert_int_equal(call(FUSE_LOOKUP, ids[k], "file", 5, &R), -ESTALE);
		struct fuse_link_in li = {.oldnodeid = ids[k]};
		uint8_t args[64];
		memcpy(args, &li, sizeof(li));
		memcpy(args + sizeof(li), "hl", 3);
		/* A hard link needs a node inside the export as its target. */
		assert_int_equal(call(FUSE_LINK, FUSE_ROOT_ID, args, sizeof(li) + 3, &R), -ESTALE);
		struct fuse_read_in rd = {.fh = ids[k], .size = 100};
		assert_int_equal(call(FUSE_READ, FUSE_ROOT_ID, &rd, sizeof(rd), &R), -EBADF);
		struct fuse_release_in rl = {.fh = ids[k]};
		assert_int_equal(call(FUSE_RELEASE, FUSE_ROOT_ID, &rl, sizeof(rl), &R), -EBADF);
		struct fuse_forget_in fg = {.nlookup = 1000};
		assert_int_equal(send_split(F.s, FUSE_FORGET, ids[k], &fg, sizeof(fg), &R, sizeof(R),
					    NULL, 0), 0);
	}
	struct stat st;
	assert_int_equal(lstat(path_in(F.exp, "hl"), &st), -1);

	/* A forgotten node and a released handle are gone for good. */
	uint64_t file = must_lookup(FUSE_ROOT_ID, "file");
	uint64_t fh;
	assert_int_equal(open_node(file, O_RDONLY, &fh, FUSE_OPEN), 0);
	release(file, fh);
	struct fuse_read_in rd = {.fh = fh, .size = 100};
	assert_int_equal(call(FUSE_READ, file, &rd, sizeof(rd), &R), -EBADF);
	struct fuse_forget_in fg = {.nlookup = 1};
	send_split(F.s, FUSE_FORGET, file, &fg, sizeof(fg), &R, sizeof(R), NULL, 0);
	assert_int_equal(call(FUSE_GETATTR, file, NULL, 0, &R), -ESTALE);
	/* A new lookup gets a different id, never the old one back. */
	uint64_t again = must_lookup(FUSE_ROOT_ID, "file");
	assert_true(again != file);
	assert_int_equal(call(FUSE_GETATTR, file, NULL, 0, &R), -ESTALE);

	/* A directory handle is not a file handle, and vice versa. */
	uint64_t dfh;
	assert_int_equal(open_node(FUSE_ROOT_ID, O_RDONLY, &dfh, FUSE_OPENDIR), 0);
	rd = (struct fuse_read_in){.fh = dfh, .size = 100};
	assert_int_equal(call(FUSE_READ, FUSE_ROOT_ID, &rd, sizeof(rd), &R), -EBADF);
	assert_int_equal(open_node(again, O_RDONLY, &fh, FUSE_OPEN), 0);
	rd = (struct fuse_read_in){.fh = fh, .size = 4096};
	assert_int_equal(call(FUSE_READDIR, FUSE_ROOT_ID, &rd, sizeof(rd), &R), -EBADF);
	release(again, fh);
	release(FUSE_ROOT_ID, dfh);
}

static void test_bad_names(void **state)
{
	char longname[NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname));
	longname[NAME_MAX + 1] = 0;
	struct {
		const void *name;
		size_t len;
		int err;
	} cases[] = {
		{"", 1, -EINVAL},	  {".", 2, -EINVAL},	      {"..", 3, -EINVAL},
		{"a/b", 4, -EINVAL},	  {"../outside", 11, -EINVAL}, {"/etc", 5, -EINVAL},
		{"file", 4, -EINVAL} /* unterminated */,  {"", 0, -EINVAL},
		{longname, sizeof(longname), -ENAMETOOLONG},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		assert_int_equal(call(FUSE_LOOKUP, FUSE_ROOT_ID, cases[k].name, cases[k].len, &R),
				 cases[k].err);
		uint8_t args[512] = {0};
		struct fuse_mkdir_in mi = {.mode = 0755};
		memcpy(args, &mi, sizeof(mi));
		memcpy(args + sizeof(mi), cases[k].name, cases[k].len);
		assert_int_equal(call(FUSE_MKDIR, FUSE_ROOT_ID, args, sizeof(mi) + cases[k].len, &R),
				 cases[k].err);
		struct fuse_create_in ci = {.flags = O_WRONLY, .mode = 0644};
		memcpy(args, &ci, sizeof(ci));
		memcpy(args + sizeof(ci), cases[k].name, cases[k].len);
		assert_int_equal(call(FUSE_CREATE, FUSE_ROOT_ID, args, sizeof(ci) + cases[k].len, &R),
				 cases[k].err);
		assert_int_equal(call(FUSE_UNLINK, FUSE_ROOT_ID, cases[k].name, cases[k].len, &R),
				 cases[k].err);
	}
	/* NAME_MAX itself is fine (it just does not exist). */
	longname[NAME_MAX] = 0;
	assert_int_equal(call(FUSE_LOOKUP, FUSE_ROOT_ID, longname, NAME_MAX + 1, &R), -ENOENT);
	/* Rename out of the export by name. */
	uint8_t args[64] = {0};
	struct fuse_rename2_in ri = {.newdir = FUSE_ROOT_ID};
	memcpy(args, &ri, sizeof(ri));
	memcpy(args + sizeof(ri), "file\0../escaped", 16);
	assert_int_equal(call(FUSE_RENAME2, FUSE_ROOT_ID, args, sizeof(ri) + 16, &R), -EINVAL);
	ri.flags = 1u << 20; /* unknown rename flag */
	memcpy(args, &ri, sizeof(ri));
	memcpy(args + sizeof(ri), "file\0file2", 11);
	assert_int_equal(call(FUSE_RENAME2, FUSE_ROOT_ID, args, sizeof(ri) + 11, &R), -EINVAL);
	struct stat st;
	assert_int_equal(lstat(path_in(F.top, "escaped"), &st), -1);
	assert_int_equal(lstat(path_in(F.exp, "file"), &st), 0);
	/* Odd bytes are valid names. */
	const char odd[] = "\x01\xff\n\t *?\\ \xc3\xa9";
	uint8_t margs[64] = {0};
	struct fuse_mkdir_in mi = {.mode = 0700};
	memcpy(margs, &mi, sizeof(mi));
	memcpy(margs + sizeof(mi), odd, sizeof(odd));
	assert_int_equal(call(FUSE_MKDIR, FUSE_ROOT_ID, margs, sizeof(mi) + sizeof(odd), &R), 0);
	assert_int_equal(lstat(path_in(F.exp, odd), &st), 0);
	assert_int_equal(call(FUSE_RMDIR, FUSE_ROOT_ID, odd, sizeof(odd), &R), 0);
}

static void test_symlinks_not_followed(void **state)
{
	const char *links[] = {"abs_link", "rel_link", "abs_dirlink", "rel_dirlink", "rootlink"};
	for (size_t k = 0; k < 5; k++) {
		struct fuse_attr a;
		int e;
		uint64_t id = lookup(FUSE_ROOT_ID, links[k], &e, &a);
		assert_int_equal(e, 0);
		assert_true(S_ISLNK(a.mode));
		/* Opening a symlink node never opens its target. */
		uint64_t fh;
		assert_int_equal(open_node(id, O_RDONLY, &fh, FUSE_OPEN), -ELOOP);
		assert_int_not_equal(open_node(id, O_RDONLY, &fh, FUSE_OPENDIR), 0);
		/* Nor does looking up through it. */
		assert_int_equal(call(FUSE_LOOKUP, id, "secret", 7, &R), -ENOTDIR);
		assert_int_equal(call(FUSE_LOOKUP, id, "etc", 4, &R), -ENOTDIR);
		/* Metadata operations stay on the link itself. */
		assert_int_equal(call(FUSE_GETATTR, id, NULL, 0, &R), 0);
		assert_true(S_ISLNK(((struct fuse_attr_out *)R.data)->attr.mode));
		struct fuse_getxattr_in gx = {.size = 0};
		call(FUSE_LISTXATTR, id, &gx, sizeof(gx), &R);
		/* READLINK returns the text, which only the client interprets. */
		assert_int_equal(call(FUSE_READLINK, id, NULL, 0, &R), 0);
		/* A truncating SETATTR does not reach the target. */
		struct fuse_setattr_in sa = {.valid = FATTR_SIZE, .size = 0};
		assert_int_not_equal(call(FUSE_SETATTR, id, &sa, sizeof(sa), &R), 0);
		/* chmod of a link does not change the target either. */
		sa = (struct fuse_setattr_in){.valid = FATTR_MODE, .mode = 0777};
		call(FUSE_SETATTR, id, &sa, sizeof(sa), &R);
	}
	struct stat st;
	assert_int_equal(stat(path_in(F.outside, "secret"), &st), 0);
	assert_int_equal(st.st_size, strlen(SECRET));
	assert_int_equal(st.st_mode & 07777, 0644);
	/* A symlink node cannot be the parent of new entries. */
	uint64_t dl = must_lookup(FUSE_ROOT_ID, "abs_dirlink");
	uint8_t args[64] = {0};
	struct fuse_mkdir_in mi = {.mode = 0755};
	memcpy(args, &mi, sizeof(mi));
	memcpy(args + sizeof(mi), "planted", 8);
	assert_int_not_equal(call(FUSE_MKDIR, dl, args, sizeof(mi) + 8, &R), 0);
	struct fuse_create_in ci = {.flags = O_WRONLY, .mode = 0644};
	memcpy(args, &ci, sizeof(ci));
	memcpy(args + sizeof(ci), "planted", 8);
	assert_int_not_equal(call(FUSE_CREATE, dl, args, sizeof(ci) + 8, &R), 0);
	assert_int_equal(lstat(path_in(F.outside, "planted"), &st), -1);
	/* A hard link of a symlink is a link to the symlink, not its target. */
	uint64_t al = must_lookup(FUSE_ROOT_ID, "abs_link");
	struct fuse_link_in li = {.oldnodeid = al};
	memcpy(args, &li, sizeof(li));
	memcpy(args + sizeof(li), "hl_to_link", 11);
	if (call(FUSE_LINK, FUSE_ROOT_ID, args, sizeof(li) + 11, &R) == 0) {
		assert_int_equal(lstat(path_in(F.exp, "hl_to_link"), &st), 0);
		assert_true(S_ISLNK(st.st_mode));
		unlink(path_in(F.exp, "hl_to_link"));
	}
	/* CREATE over an existing symlink does not write through it. */
	ci = (struct fuse_create_in){.flags = O_WRONLY | O_TRUNC, .mode = 0644};
	memcpy(args, &ci, sizeof(ci));
	memcpy(args + sizeof(ci), "abs_link", 9);
	assert_int_not_equal(call(FUSE_CREATE, FUSE_ROOT_ID, args, sizeof(ci) + 9, &R), 0);
	assert_int_equal(stat(path_in(F.outside, "secret"), &st), 0);
	assert_int_equal(st.st_size, strlen(SECRET));
}

struct swapper {
	atomic_bool stop;
	char link[256], name[256];
};

/* Flips export/swap between a real directory and a symlink to outside/. */
static void *swap_thread(void *arg)
{
	struct swapper *w = arg;
	while (!atomic_load(&w->stop))
		renameat2(AT_FDCWD, w->name, AT_FDCWD, w->link, RENAME_EXCHANGE);
	return NULL;
}

static void test_symlink_swap_race(void **state)
{
	static struct swapper w;
	snprintf(w.link, sizeof(w.link), "%s/swap_link", F.exp);
	snprintf(w.name, sizeof(w.name), "%s/swap", F.exp);
	mkdir(w.name, 0755);
	write_file(path_in(w.name, "secret"), INSIDE);
	assert_int_equal(symlink(F.outside, w.link), 0);
	atomic_store(&w.stop, false);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, swap_thread, &w), 0);
	int dirs = 0, links = 0;
	for (int i = 0; i < 3000; i++) {
		struct fuse_attr a;
		int e;
		uint64_t id = lookup(FUSE_ROOT_ID, "swap", &e, &a);
		if (e)
			continue;
		if (S_ISLNK(a.mode))
			links++;
		else
			dirs++;
		uint64_t child = lookup(id, "secret", &e, NULL);
		if (!e)
			assert_not_secret(child);
		struct fuse_forget_in fg = {.nlookup = 1};
		send_split(F.s, FUSE_FORGET, id, &fg, sizeof(fg), &R, sizeof(R), NULL, 0);
	}
	atomic_store(&w.stop, true);
	pthread_join(t, NULL);
	print_message("swap race: %d directory and %d symlink lookups\n", dirs, links);
	assert_true(dirs > 0 && links > 0);
}

static void test_proc_magic_links(void **state)
{
	if (!F.proc_mounted) {
		print_message("skipped: cannot mount /proc in the export (not root)\n");
		skip();
	}
	uint64_t proc = must_lookup(FUSE_ROOT_ID, "proc");
	uint64_t self = must_lookup(proc, "self"); /* the symlink "self" */
	assert_int_equal(call(FUSE_LOOKUP, self, "root", 5, &R), -ENOTDIR);
	uint64_t one = must_lookup(proc, "1");
	const char *magic[] = {"root", "cwd", "exe"};
	for (size_t k = 0; k < 3; k++) {
		struct fuse_attr a;
		int e;
		uint64_t id = lookup(one, magic[k], &e, &a);
		if (e)
			continue; /* not visible to us */
		assert_true(S_ISLNK(a.mode));
		assert_int_equal(call(FUSE_LOOKUP, id, "etc", 4, &R), -ENOTDIR);
		uint64_t fh;
		assert_int_not_equal(open_node(id, O_RDONLY, &fh, FUSE_OPEN), 0);
		assert_int_not_equal(open_node(id, O_RDONLY, &fh, FUSE_OPENDIR), 0);
	}
	/* Our own descriptors: /proc/<us>/fd/N are magic links to host files. */
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", getpid());
	uint64_t me = must_lookup(proc, pid);
	uint64_t fds = must_lookup(me, "fd");
	int secret_fd = open(path_in(F.outside, "secret"), O_RDONLY);
	assert_true(secret_fd >= 0);
	char num[16];
	snprintf(num, sizeof(num), "%d", secret_fd);
	int e;
	struct fuse_attr a;
	uint64_t link = lookup(fds, num, &e, &a);
	assert_int_equal(e, 0);
	assert_true(S_ISLNK(a.mode));
	assert_not_secret(link);
	struct fuse_setattr_in sa = {.valid = FATTR_SIZE, .size = 0};
	assert_int_not_equal(call(FUSE_SETATTR, link, &sa, sizeof(sa), &R), 0);
	close(secret_fd);
	struct stat st;
	assert_int_equal(stat(path_in(F.outside, "secret"), &st), 0);
	assert_int_equal(st.st_size, strlen(SECRET));
}

static void test_offsets_and_sizes(void **state)
{
	uint8_t args[256] = {0};
	struct fuse_create_in ci = {.flags = O_RDWR, .mode = 0644};
	memcpy(args, &ci, sizeof(ci));
	memcpy(args + sizeof(ci), "big", 4);
	assert_int_equal(call(FUSE_CREATE, FUSE_ROOT_ID, args, sizeof(ci) + 4, &R), 0);
	uint64_t node = ((struct fuse_entry_out *)R.data)->nodeid;
	uint64_t fh = ((struct fuse_open_out *)(R.data + sizeof(struct fuse_entry_out)))->fh;
	uint64_t offs[] = {INT64_MAX, INT64_MAX - 5, 1ull << 63, UINT64_MAX, (1ull << 63) + 4096};
	for (size_t k = 0; k < 5; k++) {
		size_t got;
		int e = read_fh(node, fh, offs[k], 4096, &got);
		if (offs[k] > INT64_MAX)
			assert_int_equal(e, -EINVAL);
		else
			assert_true(e == 0 && got == 0);
		struct {
			struct fuse_write_in in;
			char data[16];
		} w = {{.fh = fh, .offset = offs[k], .size = 16}, "0123456789abcdef"};
		e = call(FUSE_WRITE, node, &w, sizeof(w), &R);
		assert_true(e == -EFBIG || e == -EINVAL);
		struct fuse_fallocate_in fa = {.fh = fh, .offset = offs[k], .length = 4096};
		assert_int_not_equal(call(FUSE_FALLOCATE, node, &fa, sizeof(fa), &R), 0);
		struct fuse_lseek_in ls = {.fh = fh, .offset = offs[k], .whence = SEEK_DATA};
		assert_int_not_equal(call(FUSE_LSEEK, node, &ls, sizeof(ls), &R), 0);
	}
	/* A WRITE claiming more data than it carries. */
	struct {
		struct fuse_write_in in;
		char data[16];
	} w = {{.fh = fh, .offset = 0, .size = 17}, "0123456789abcdef"};
	assert_int_equal(call(FUSE_WRITE, node, &w, sizeof(w), &R), -EINVAL);
	w.in.size = UINT32_MAX;
	assert_int_equal(call(FUSE_WRITE, node, &w, sizeof(w), &R), -EINVAL);
	w.in.size = 16;
	assert_int_equal(call(FUSE_WRITE, node, &w, sizeof(w), &R), 0);
	assert_int_equal(((struct fuse_write_out *)R.data)->size, 16);
	/* An oversized READ is cut to the reply buffer, not overrun. */
	struct fuse_read_in rd = {.fh = fh, .offset = 0, .size = UINT32_MAX};
	ssize_t n = send_split(F.s, FUSE_READ, node, &rd, sizeof(rd), &R, sizeof(R.h) + 5, NULL, 0);
	assert_int_equal(n, sizeof(R.h) + 5);
	assert_memory_equal(R.data, "01234", 5);
	/* A sparse read far beyond 4 GiB. */
	w.in.offset = 5ull << 32;
	assert_int_equal(call(FUSE_WRITE, node, &w, sizeof(w), &R), 0);
	struct fuse_lseek_in ls = {.fh = fh, .offset = 4096, .whence = SEEK_DATA};
	assert_int_equal(call(FUSE_LSEEK, node, &ls, sizeof(ls), &R), 0);
	assert_true(((struct fuse_lseek_out *)R.data)->offset <= 5ull << 32);
	size_t got;
	assert_int_equal(read_fh(node, fh, (5ull << 32) + 10, 100, &got), 0);
	assert_int_equal(got, 6);
	assert_memory_equal(R.data, "abcdef", 6);
	/* Oversized getxattr/listxattr sizes are capped. */
	struct fuse_getxattr_in gx = {.size = UINT32_MAX};
	call(FUSE_LISTXATTR, node, &gx, sizeof(gx), &R);
	/* COPY_FILE_RANGE with forged handles. */
	struct fuse_copy_file_range_in cr = {.fh_in = fh, .fh_out = 999, .len = UINT64_MAX};
	assert_int_equal(call(FUSE_COPY_FILE_RANGE, node, &cr, sizeof(cr), &R), -EBADF);
	cr = (struct fuse_copy_file_range_in){.fh_in = fh, .fh_out = fh, .off_in = UINT64_MAX};
	assert_int_equal(call(FUSE_COPY_FILE_RANGE, node, &cr, sizeof(cr), &R), -EINVAL);
	release(node, fh);
	unlink(path_in(F.exp, "big"));
}

static void test_tiny_out_buffers(void **state)
{
	/* A reply that does not fit becomes an error reply (ERANGE). */
	write_file(path_in(F.exp, "tiny"), INSIDE);
	for (size_t cap = sizeof(R.h); cap < sizeof(R.h) + sizeof(struct fuse_entry_out); cap++) {
		ssize_t n = send_split(F.s, FUSE_LOOKUP, FUSE_ROOT_ID, "tiny", 5, &R, cap, NULL, 0);
		assert_int_equal(n, sizeof(R.h));
		assert_int_equal(R.h.error, -ERANGE);
		n = send_split(F.s, FUSE_GETATTR, FUSE_ROOT_ID, NULL, 0, &R, cap, NULL, 0);
		if (cap < sizeof(R.h) + sizeof(struct fuse_attr_out))
			assert_int_equal(R.h.error, -ERANGE);
	}
	/* The failed lookups did not leak references: one forget drops it. */
	uint64_t id = must_lookup(FUSE_ROOT_ID, "tiny");
	struct fuse_forget_in fg = {.nlookup = 1};
	send_split(F.s, FUSE_FORGET, id, &fg, sizeof(fg), &R, sizeof(R), NULL, 0);
	assert_int_equal(call(FUSE_GETATTR, id, NULL, 0, &R), -ESTALE);
	/* READDIR into a small buffer returns whole entries only. */
	uint64_t dfh;
	assert_int_equal(open_node(FUSE_ROOT_ID, O_RDONLY, &dfh, FUSE_OPENDIR), 0);
	struct fuse_read_in rd = {.fh = dfh, .size = 4096};
	ssize_t n = send_split(F.s, FUSE_READDIR, FUSE_ROOT_ID, &rd, sizeof(rd), &R,
			       sizeof(R.h) + 40, NULL, 0);
	assert_int_equal(n, sizeof(R.h) + 24 + 8); /* "." or ".." padded */
	rd.size = 7;
	assert_int_equal(call(FUSE_READDIR, FUSE_ROOT_ID, &rd, sizeof(rd), &R), 0);
	assert_int_equal(R.h.len, sizeof(R.h));
	release(FUSE_ROOT_ID, dfh);
}

static void test_iovec_splits(void **state)
{
	/* The reference reply, unsplit. */
	struct {
		struct fuse_setattr_in in;
	} sa = {{.valid = 0}};
	static struct reply ref;
	ssize_t rn = send_split(F.s, FUSE_LOOKUP, FUSE_ROOT_ID, "file", 5, &ref, sizeof(ref), NULL, 0);
	assert_int_equal(rn, sizeof(ref.h) + sizeof(struct fuse_entry_out));
	uint64_t id = ((struct fuse_entry_out *)ref.data)->nodeid;
	size_t len = sizeof(struct fuse_in_header) + 5;
	/* Split into two at every byte, and into single bytes. */
	for (size_t at = 0; at <= len; at++) {
		ssize_t n = send_split(F.s, FUSE_LOOKUP, FUSE_ROOT_ID, "file", 5, &R, sizeof(R), &at,
				       1);
		assert_int_equal(n, rn);
		assert_int_equal(R.h.error, 0);
		assert_int_equal(((struct fuse_entry_out *)R.data)->nodeid, id);
	}
	size_t all[63];
	for (size_t k = 0; k < len - 1 && k < 63; k++)
		all[k] = k + 1;
	assert_int_equal(send_split(F.s, FUSE_LOOKUP, FUSE_ROOT_ID, "file", 5, &R, sizeof(R), all,
				    len - 1 < 63 ? len - 1 : 63), rn);
	/* SETATTR (88 bytes of arguments) split everywhere too. */
	size_t slen = sizeof(struct fuse_in_header) + sizeof(sa);
	for (size_t at = 0; at <= slen; at++) {
		ssize_t n = send_split(F.s, FUSE_SETATTR, id, &sa, sizeof(sa), &R, sizeof(R), &at, 1);
		assert_int_equal(n, sizeof(R.h) + sizeof(struct fuse_attr_out));
	}
	/* Replies split at every byte of the out buffers. */
	for (size_t at = 0; at <= (size_t)rn; at++) {
		uint8_t a[256], b[256];
		uint8_t buf[64];
		struct fuse_in_header h = {.len = (uint32_t)len, .opcode = FUSE_LOOKUP,
					   .unique = 99, .nodeid = FUSE_ROOT_ID};
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), "file", 5);
		struct iovec in = {buf, len};
		struct iovec out[2] = {{a, at}, {b, sizeof(b)}};
		ssize_t n = fs_server_handle(F.s, &in, 1, out, 2);
		if (at + sizeof(b) < sizeof(struct fuse_out_header))
			continue;
		assert_int_equal(n, rn);
		uint8_t joined[512];
		memcpy(joined, a, at);
		memcpy(joined + at, b, (size_t)rn - at);
		struct fuse_out_header *oh = (void *)joined;
		assert_int_equal(oh->len, rn);
		assert_int_equal(oh->error, 0);
		assert_int_equal(((struct fuse_entry_out *)(joined + sizeof(*oh)))->nodeid, id);
	}
	/* WRITE data split across iovecs at every byte. */
	uint64_t fh;
	assert_int_equal(open_node(id, O_RDWR, &fh, FUSE_OPEN), 0);
	struct {
		struct fuse_write_in in;
		char data[12];
	} w = {{.fh = fh, .size = 12}, "inside data\n"};
	size_t wlen = sizeof(struct fuse_in_header) + sizeof(w);
	for (size_t at = 0; at <= wlen; at++) {
		size_t two[2] = {at / 2, at};
		ssize_t n = send_split(F.s, FUSE_WRITE, id, &w, sizeof(w), &R, sizeof(R), two, 2);
		assert_int_equal(n, sizeof(R.h) + sizeof(struct fuse_write_out));
		assert_int_equal(((struct fuse_write_out *)R.data)->size, 12);
	}
	release(id, fh);
	char buf[64] = {0};
	int fd = open(path_in(F.exp, "file"), O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), strlen(INSIDE));
	close(fd);
	assert_string_equal(buf, INSIDE);
}

/* A request with the caller's uid/gid in its header. */
static int call_as(uint32_t uid, uint32_t gid, uint32_t opcode, uint64_t nodeid, const void *args,
		   size_t arglen)
{
	uint8_t buf[256];
	struct fuse_in_header h = {.len = (uint32_t)(sizeof(h) + arglen), .opcode = opcode,
				   .unique = 5, .nodeid = nodeid, .uid = uid, .gid = gid};
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), args, arglen);
	struct iovec in = {buf, h.len}, out = {&R, sizeof(R)};
	assert_true(fs_server_handle(F.s, &in, 1, &out, 1) >= (ssize_t)sizeof(R.h));
	return R.h.error;
}

/* ---- the guest is not host root ---- */

/* MKDIR, MKNOD or CREATE of `name` in `parent` by uid:gid; the entry in *e
 * (and the handle of CREATE in *fh). */
static int make_as(uint32_t uid, uint32_t gid, uint32_t opcode, uint64_t parent, const char *name,
		   uint32_t mode, uint32_t rdev, struct fuse_entry_out *e, uint64_t *fh)
{
	uint8_t args[128] = {0};
	size_t fixed;
	if (opcode == FUSE_MKDIR) {
		struct fuse_mkdir_in in = {.mode = mode};
		memcpy(args, &in, fixed = sizeof(in));
	} else if (opcode == FUSE_MKNOD) {
		struct fuse_mknod_in in = {.mode = mode, .rdev = rdev};
		memcpy(args, &in, fixed = sizeof(in));
	} else {
		struct fuse_create_in in = {.flags = O_RDWR | O_EXCL, .mode = mode};
		memcpy(args, &in, fixed = sizeof(in));
	}
	memcpy(args + fixed, name, strlen(name) + 1);
	int err = call_as(uid, gid, opcode, parent, args, fixed + strlen(name) + 1);
	if (!err && e)
		*e = *(struct fuse_entry_out *)R.data;
	if (!err && fh)
		*fh = ((struct fuse_open_out *)(R.data + sizeof(struct fuse_entry_out)))->fh;
	return err;
}

static struct fuse_attr setattr_ok(uint64_t node, const struct fuse_setattr_in *sa)
{
	assert_int_equal(call(FUSE_SETATTR, node, sa, sizeof(*sa), &R), 0);
	return ((struct fuse_attr_out *)R.data)->attr;
}

static struct fuse_attr getattr_ok(uint64_t node)
{
	assert_int_equal(call(FUSE_GETATTR, node, NULL, 0, &R), 0);
	return ((struct fuse_attr_out *)R.data)->attr;
}

static int set_xattr(uint64_t node, const char *name, const void *value, uint32_t size)
{
	uint8_t args[512];
	struct fuse_setxattr_in in = {.size = size};
	memcpy(args, &in, FUSE_COMPAT_SETXATTR_IN_SIZE);
	size_t len = FUSE_COMPAT_SETXATTR_IN_SIZE;
	memcpy(args + len, name, strlen(name) + 1);
	len += strlen(name) + 1;
	memcpy(args + len, value, size);
	return call(FUSE_SETXATTR, node, args, len + size, &R);
}

/* GETXATTR (LISTXATTR when name is NULL) into R.data; the length in *len. */
static int get_xattr(uint64_t node, const char *name, size_t *len)
{
	uint8_t args[300];
	struct fuse_getxattr_in in = {.size = 4096};
	memcpy(args, &in, sizeof(in));
	size_t alen = sizeof(in);
	if (name) {
		memcpy(args + alen, name, strlen(name) + 1);
		alen += strlen(name) + 1;
	}
	int e = call(name ? FUSE_GETXATTR : FUSE_LISTXATTR, node, args, alen, &R);
	*len = R.h.len - sizeof(R.h);
	return e;
}

static bool list_has(const uint8_t *list, size_t len, const char *prefix)
{
	for (size_t i = 0; i < len; i += strlen((const char *)list + i) + 1)
		if (!strncmp((const char *)list + i, prefix, strlen(prefix)))
			return true;
	return false;
}

/* What the guest must never achieve on the host: s-bits, another owner,
 * security.* or trusted.* attributes. */
static void assert_host_harmless(const char *path, const struct stat *before)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & (S_ISUID | S_ISGID | S_ISVTX), 0);
	assert_int_equal(st.st_uid, before->st_uid);
	assert_int_equal(st.st_gid, before->st_gid);
	char list[4096];
	ssize_t n = llistxattr(path, list, sizeof(list));
	assert_true(n >= 0);
	assert_false(list_has((const uint8_t *)list, (size_t)n, "security.capability"));
	assert_false(list_has((const uint8_t *)list, (size_t)n, "trusted."));
}

/* New entries belong to the caller in the guest's view and to the server
 * on the host; the guest's kernel checks permissions (default_permissions),
 * not the server. */
static void test_guest_identity(void **state)
{
	chmod(F.exp, 0755);
	struct fuse_entry_out e;
	assert_int_equal(make_as(1000, 1001, FUSE_MKDIR, FUSE_ROOT_ID, "byuser", 0750, 0, &e, NULL),
			 0);
	assert_int_equal(e.attr.uid, 1000);
	assert_int_equal(e.attr.gid, 1001);
	assert_int_equal(e.attr.mode, S_IFDIR | 0750);
	struct stat st;
	assert_int_equal(stat(path_in(F.exp, "byuser"), &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(getattr_ok(e.nodeid).uid, 1000);
	/* Nobody is uid or gid -1. */
	assert_int_equal(make_as(UINT32_MAX, 0, FUSE_MKDIR, FUSE_ROOT_ID, "byneg", 0755, 0, NULL, NULL),
			 -EOVERFLOW);
	assert_int_equal(make_as(0, UINT32_MAX, FUSE_MKDIR, FUSE_ROOT_ID, "byneg", 0755, 0, NULL, NULL),
			 -EOVERFLOW);
	assert_int_equal(lstat(path_in(F.exp, "byneg"), &st), -1);
	/* A setgid directory (in the guest's view) hands down its group, and
	 * its setgid bit to subdirectories. */
	uint64_t dir = e.nodeid;
	struct fuse_setattr_in sa = {.valid = FATTR_MODE | FATTR_GID, .mode = 02770, .gid = 4242};
	struct fuse_attr a = setattr_ok(dir, &sa);
	assert_int_equal(a.mode, S_IFDIR | 02770);
	assert_int_equal(a.gid, 4242);
	assert_int_equal(make_as(1000, 1001, FUSE_MKDIR, dir, "sub", 0750, 0, &e, NULL), 0);
	assert_int_equal(e.attr.gid, 4242);
	assert_int_equal(e.attr.mode, S_IFDIR | 02750);
	uint64_t fh;
	assert_int_equal(make_as(1000, 1001, FUSE_CREATE, dir, "f", 0640, 0, &e, &fh), 0);
	release(e.nodeid, fh);
	assert_int_equal(e.attr.gid, 4242);
	assert_int_equal(e.attr.mode, S_IFREG | 0640);
	assert_int_equal(stat(path_in(F.exp, "byuser/sub"), &st), 0);
	assert_int_equal(st.st_mode & (S_ISUID | S_ISGID | S_ISVTX), 0);
}

/* The guest's root acting on a file: chown to another uid, chmod 04755 and
 * 02755, security.capability and trusted.* attributes. The guest sees all
 * of it; the host file keeps its owner and gets none of it. */
static void test_guest_not_host_root(void **state)
{
	struct fuse_entry_out e;
	uint64_t fh;
	assert_int_equal(make_as(0, 0, FUSE_CREATE, FUSE_ROOT_ID, "victim", 0755, 0, &e, &fh), 0);
	release(e.nodeid, fh);
	uint64_t id = e.nodeid;
	const char *host = path_in(F.exp, "victim");
	struct stat before;
	assert_int_equal(lstat(host, &before), 0);

	struct fuse_setattr_in sa = {.valid = FATTR_UID | FATTR_GID, .uid = 1234, .gid = 5678};
	struct fuse_attr a = setattr_ok(id, &sa);
	assert_int_equal(a.uid, 1234);
	assert_int_equal(a.gid, 5678);
	assert_host_harmless(host, &before);
	sa = (struct fuse_setattr_in){.valid = FATTR_MODE, .mode = 04755};
	assert_int_equal(setattr_ok(id, &sa).mode, S_IFREG | 04755);
	assert_host_harmless(host, &before);
	sa.mode = 02755;
	assert_int_equal(setattr_ok(id, &sa).mode, S_IFREG | 02755);
	assert_host_harmless(host, &before);
	sa.mode = 06711;
	assert_int_equal(setattr_ok(id, &sa).mode, S_IFREG | 06711);
	assert_host_harmless(host, &before);

	/* vfs_cap_data revision 2: CAP_SETUID, effective. */
	const uint32_t cap[5] = {0x02000001, 1u << 7, 0, 0, 0};
	assert_int_equal(set_xattr(id, "security.capability", cap, sizeof(cap)), 0);
	assert_int_equal(set_xattr(id, "trusted.foo", "bar", 3), 0);
	assert_int_equal(set_xattr(id, "user.plain", "u", 1), 0);
	assert_host_harmless(host, &before);
	char v[8];
	assert_int_equal(lgetxattr(host, "user.plain", v, sizeof(v)), 1);

	a = getattr_ok(id);
	assert_int_equal(a.uid, 1234);
	assert_int_equal(a.gid, 5678);
	assert_int_equal(a.mode, S_IFREG | 06711);
	size_t len;
	assert_int_equal(get_xattr(id, "security.capability", &len), 0);
	assert_int_equal(len, sizeof(cap));
	assert_memory_equal(R.data, cap, sizeof(cap));
	assert_int_equal(get_xattr(id, "trusted.foo", &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(R.data, "bar", 3);
	assert_int_equal(get_xattr(id, NULL, &len), 0);
	assert_true(list_has(R.data, len, "security.capability"));
	assert_true(list_has(R.data, len, "trusted.foo"));
	assert_true(list_has(R.data, len, "user.plain"));
	assert_false(list_has(R.data, len, "user.containers."));
	assert_false(list_has(R.data, len, "user.nook."));

	/* The records themselves are out of the guest's reach. */
	const char *records[] = {"user.containers.override_stat", "user.nook.security.capability",
				 "user.nook.trusted.foo", "user.nook.other"};
	for (size_t k = 0; k < 4; k++) {
		assert_int_equal(get_xattr(id, records[k], &len), -ENODATA);
		assert_int_equal(set_xattr(id, records[k], "0:0:0644", 8), -EPERM);
		assert_int_equal(call(FUSE_REMOVEXATTR, id, records[k], strlen(records[k]) + 1, &R),
				 -EPERM);
	}
	assert_int_equal(getattr_ok(id).mode, S_IFREG | 06711);

	/* Directories: sticky and setgid in the guest's view only. */
	assert_int_equal(make_as(0, 0, FUSE_MKDIR, FUSE_ROOT_ID, "shared", 0755, 0, &e, NULL), 0);
	assert_int_equal(lstat(path_in(F.exp, "shared"), &before), 0);
	sa = (struct fuse_setattr_in){.valid = FATTR_MODE, .mode = 03777};
	assert_int_equal(setattr_ok(e.nodeid, &sa).mode, S_IFDIR | 03777);
	assert_host_harmless(path_in(F.exp, "shared"), &before);

	/* Back to what the host shows: no record is left. */
	sa = (struct fuse_setattr_in){.valid = FATTR_MODE | FATTR_UID | FATTR_GID, .mode = 0755,
				      .uid = before.st_uid, .gid = before.st_gid};
	setattr_ok(e.nodeid, &sa);
	assert_int_equal(lgetxattr(path_in(F.exp, "shared"), "user.containers.override_stat", v,
				   sizeof(v)), -1);
	assert_int_equal(errno, ENODATA);
}

/* Records the host holds: the containers/storage and fuse-overlayfs forms
 * are read, anything else is ignored, and a change on the host shows at the
 * next GETATTR. */
static void test_host_records(void **state)
{
	const char *host = path_in(F.exp, "rec");
	write_file(host, INSIDE);
	uint64_t id = must_lookup(FUSE_ROOT_ID, "rec");
	struct stat st;
	assert_int_equal(lstat(host, &st), 0);
	struct {
		const char *record;
		uint32_t uid, gid, mode, rdev;
	} cases[] = {
		{"1000:1001:0755:file", 1000, 1001, S_IFREG | 0755, 0},
		{"5:6:4711", 5, 6, S_IFREG | 04711, 0},		 /* fuse-overlayfs */
		{"0:0:0100644", 0, 0, S_IFREG | 0644, 0},	 /* type bits in the mode */
		{"7:7:0600:char-4-64", 7, 7, S_IFCHR | 0600, (4 << 8) | 64},
		{"7:7:0660:block-4095-1048575", 7, 7, S_IFBLK | 0660, 0xfffff | (0xfffu << 8) |
			(0xfff00u << 12)},
		{"8:8:0644:pipe", 8, 8, S_IFIFO | 0644, 0},
		{"8:8:0644:socket", 8, 8, S_IFSOCK | 0644, 0},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		assert_int_equal(setxattr(host, "user.containers.override_stat", cases[k].record,
					  strlen(cases[k].record), 0), 0);
		struct fuse_attr a = getattr_ok(id);
		assert_int_equal(a.uid, cases[k].uid);
		assert_int_equal(a.gid, cases[k].gid);
		assert_int_equal(a.mode, cases[k].mode);
		assert_int_equal(a.rdev, cases[k].rdev);
	}
	const char *bad[] = {"", "1:2", "1:2:3:", "-1:0:0644", "4294967295:0:0644:file", "1:2:0644:dir",
			     "1:2:0644:symlink", "1:2:9:file", "1:2:0644:char-4096-0", "1:2:0644:char-1",
			     "1:2:0644:file:x", " 1:2:0644", "1:2:01000000", "99999999999:0:0"};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		assert_int_equal(setxattr(host, "user.containers.override_stat", bad[k],
					  strlen(bad[k]), 0), 0);
		struct fuse_attr a = getattr_ok(id);
		assert_int_equal(a.uid, st.st_uid);
		assert_int_equal(a.mode, st.st_mode);
	}
	/* A directory takes "dir" only. */
	assert_int_equal(setxattr(F.exp, "user.containers.override_stat", "3:3:0700:file", 13, 0), 0);
	assert_int_equal(getattr_ok(FUSE_ROOT_ID).uid, geteuid());
	assert_int_equal(setxattr(F.exp, "user.containers.override_stat", "3:3:0700:dir", 12, 0), 0);
	assert_int_equal(getattr_ok(FUSE_ROOT_ID).uid, 3);
	assert_int_equal(removexattr(F.exp, "user.containers.override_stat"), 0);
	assert_int_equal(getattr_ok(FUSE_ROOT_ID).uid, geteuid());
}

/* Device nodes, FIFOs and sockets are plain host files typed in the guest's
 * view; overlayfs whiteouts (char 0/0) stay real. */
static void test_guest_special_files(void **state)
{
	struct {
		const char *name;
		uint32_t mode, rdev;
	} cases[] = {
		{"chr", S_IFCHR | 0620, (1 << 8) | 3},
		{"blk", S_IFBLK | 0660, (8 << 8) | 1},
		/* major 0xabc, minor 0x12345 in the kernel's new_encode_dev form */
		{"bigdev", S_IFCHR | 0600, 0x45 | (0xabc << 8) | (0x123 << 20)},
		{"fifo", S_IFIFO | 0640, 0},
		{"sock", S_IFSOCK | 0755, 0},
		{"plain", S_IFREG | 0644, 0},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct fuse_entry_out e;
		assert_int_equal(make_as(0, 0, FUSE_MKNOD, FUSE_ROOT_ID, cases[k].name, cases[k].mode,
					 cases[k].rdev, &e, NULL), 0);
		assert_int_equal(e.attr.mode, cases[k].mode);
		bool dev = S_ISCHR(cases[k].mode) || S_ISBLK(cases[k].mode);
		assert_int_equal(e.attr.rdev, dev ? cases[k].rdev : 0);
		assert_int_equal(getattr_ok(e.nodeid).mode, cases[k].mode);
		struct stat st;
		assert_int_equal(lstat(path_in(F.exp, cases[k].name), &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & (S_ISUID | S_ISGID | S_ISVTX), 0);
	}
	struct fuse_entry_out e;
	assert_int_equal(make_as(0, 0, FUSE_MKNOD, FUSE_ROOT_ID, "wh", S_IFCHR, 0, &e, NULL), 0);
	assert_int_equal(e.attr.mode, S_IFCHR);
	struct stat st;
	assert_int_equal(lstat(path_in(F.exp, "wh"), &st), 0);
	assert_true(S_ISCHR(st.st_mode) && st.st_rdev == 0);
	/* Nothing else is a node type. */
	uint32_t bad[] = {S_IFDIR | 0755, S_IFLNK | 0777, 0644, 0170000 | 0644};
	for (size_t k = 0; k < 4; k++)
		assert_int_equal(make_as(0, 0, FUSE_MKNOD, FUSE_ROOT_ID, "bad", bad[k], 0, NULL, NULL),
				 -EINVAL);
	assert_int_equal(lstat(path_in(F.exp, "bad"), &st), -1);
}

/* HANDLE_KILLPRIV_V2: a write, a truncate or an O_TRUNC open flagged by the
 * client drops setuid (and setgid with group exec) and the capability. */
static void test_kill_suidgid(void **state)
{
	struct fuse_entry_out e;
	uint64_t fh;
	assert_int_equal(make_as(0, 0, FUSE_CREATE, FUSE_ROOT_ID, "killme", 0755, 0, &e, &fh), 0);
	uint64_t id = e.nodeid;
	const uint32_t cap[5] = {0x02000001, 1u << 7, 0, 0, 0};
	struct fuse_setattr_in sa = {.valid = FATTR_MODE, .mode = 06755};
	setattr_ok(id, &sa);
	assert_int_equal(set_xattr(id, "security.capability", cap, sizeof(cap)), 0);
	struct {
		struct fuse_write_in in;
		char data[4];
	} w = {{.fh = fh, .size = 4, .write_flags = FUSE_WRITE_KILL_SUIDGID}, "data"};
	assert_int_equal(call(FUSE_WRITE, id, &w, sizeof(w), &R), 0);
	assert_int_equal(getattr_ok(id).mode, S_IFREG | 0755);
	size_t len;
	assert_int_equal(get_xattr(id, "security.capability", &len), -ENODATA);
	/* Without the flag (the writer has CAP_FSETID) they stay. */
	setattr_ok(id, &sa);
	w.in.write_flags = 0;
	assert_int_equal(call(FUSE_WRITE, id, &w, sizeof(w), &R), 0);
	assert_int_equal(getattr_ok(id).mode, S_IFREG | 06755);
	/* setgid without group exec is not a privilege: it stays. */
	sa.mode = 06745;
	setattr_ok(id, &sa);
	w.in.write_flags = FUSE_WRITE_KILL_SUIDGID;
	assert_int_equal(call(FUSE_WRITE, id, &w, sizeof(w), &R), 0);
	assert_int_equal(getattr_ok(id).mode, S_IFREG | 02745);
	release(id, fh);
	/* Truncate and chown. */
	sa.mode = 06755;
	setattr_ok(id, &sa);
	sa = (struct fuse_setattr_in){.valid = FATTR_SIZE | FATTR_KILL_SUIDGID, .size = 1};
	assert_int_equal(setattr_ok(id, &sa).mode, S_IFREG | 0755);
	sa = (struct fuse_setattr_in){.valid = FATTR_MODE, .mode = 06755};
	setattr_ok(id, &sa);
	sa = (struct fuse_setattr_in){.valid = FATTR_UID | FATTR_KILL_SUIDGID, .uid = 7};
	assert_int_equal(setattr_ok(id, &sa).mode, S_IFREG | 0755);
	/* An O_TRUNC open. */
	sa = (struct fuse_setattr_in){.valid = FATTR_MODE, .mode = 06755};
	setattr_ok(id, &sa);
	struct fuse_open_in oi = {.flags = O_WRONLY | O_TRUNC, .open_flags = FUSE_OPEN_KILL_SUIDGID};
	assert_int_equal(call(FUSE_OPEN, id, &oi, sizeof(oi), &R), 0);
	release(id, ((struct fuse_open_out *)R.data)->fh);
	assert_int_equal(getattr_ok(id).mode, S_IFREG | 0755);
}

/* A file the host made setuid or setgid does not stay so on the host once
 * the guest changes its data (write, truncate, fallocate, copy_file_range,
 * an O_TRUNC open or create), even when the writer may keep the bits
 * (guest root): they move into the guest's view. */
static void test_host_setuid_disarmed(void **state)
{
	uint32_t ops[] = {FUSE_WRITE, FUSE_SETATTR, FUSE_FALLOCATE, FUSE_COPY_FILE_RANGE,
			  FUSE_OPEN, FUSE_CREATE};
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		char name[16];
		snprintf(name, sizeof(name), "hostsuid%zu", k);
		const char *host = path_in(F.exp, name);
		write_file(host, INSIDE);
		assert_int_equal(chmod(host, 06755), 0);
		uint64_t id = must_lookup(FUSE_ROOT_ID, name), fh;
		assert_int_equal(open_node(id, O_RDWR, &fh, FUSE_OPEN), 0);
		int e;
		if (ops[k] == FUSE_WRITE) {
			struct {
				struct fuse_write_in in;
				char data[4];
			} w = {{.fh = fh, .size = 4}, "evil"};
			e = call(FUSE_WRITE, id, &w, sizeof(w), &R);
		} else if (ops[k] == FUSE_SETATTR) {
			struct fuse_setattr_in sa = {.valid = FATTR_SIZE | FATTR_FH, .fh = fh, .size = 2};
			e = call(FUSE_SETATTR, id, &sa, sizeof(sa), &R);
		} else if (ops[k] == FUSE_FALLOCATE) {
			struct fuse_fallocate_in fa = {.fh = fh, .length = 4,
						       .mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE};
			e = call(FUSE_FALLOCATE, id, &fa, sizeof(fa), &R);
		} else if (ops[k] == FUSE_COPY_FILE_RANGE) {
			struct fuse_copy_file_range_in cr = {.fh_in = fh, .fh_out = fh, .off_out = 4,
							     .len = 4};
			e = call(FUSE_COPY_FILE_RANGE, id, &cr, sizeof(cr), &R);
		} else if (ops[k] == FUSE_OPEN) {
			struct fuse_open_in oi = {.flags = O_WRONLY | O_TRUNC};
			if ((e = call(FUSE_OPEN, id, &oi, sizeof(oi), &R)) == 0)
				release(id, ((struct fuse_open_out *)R.data)->fh);
		} else {
			uint8_t args[64] = {0};
			struct fuse_create_in ci = {.flags = O_WRONLY | O_TRUNC, .mode = 0644};
			memcpy(args, &ci, sizeof(ci));
			memcpy(args + sizeof(ci), name, strlen(name) + 1);
			e = call(FUSE_CREATE, FUSE_ROOT_ID, args, sizeof(ci) + strlen(name) + 1, &R);
			if (e == 0)
				release(id, ((struct fuse_open_out *)(R.data +
								     sizeof(struct fuse_entry_out)))->fh);
		}
		assert_int_equal(e, 0);
		struct stat st;
		assert_int_equal(lstat(host, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0755);
		assert_int_equal(getattr_ok(id).mode, S_IFREG | 06755);
		release(id, fh);
	}
}

/* CREATE of a name that holds a FIFO or a device node neither waits for a
 * FIFO peer nor opens the device: a worker stuck in open() would hold up
 * the share, and its shutdown, for good. The requests run in a child with
 * a deadline, so that a hang fails the test. */
static void test_create_special_existing(void **state)
{
	assert_int_equal(mkfifo(path_in(F.exp, "hostfifo"), 0666), 0);
	bool dev = mknod(path_in(F.exp, "hostnull"), S_IFCHR | 0666, makedev(1, 3)) == 0;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(10);
		const char *names[] = {"hostfifo", "hostnull"};
		uint32_t modes[] = {O_RDONLY, O_WRONLY, O_RDWR, O_WRONLY | O_TRUNC};
		for (size_t n = 0; n < (dev ? 2 : 1); n++) {
			for (size_t k = 0; k < 4; k++) {
				uint8_t args[64] = {0};
				struct fuse_create_in ci = {.flags = modes[k], .mode = 0644};
				memcpy(args, &ci, sizeof(ci));
				memcpy(args + sizeof(ci), names[n], strlen(names[n]) + 1);
				send_split(F.s, FUSE_CREATE, FUSE_ROOT_ID, args,
					   sizeof(ci) + strlen(names[n]) + 1, &R, sizeof(R), NULL, 0);
				if (R.h.error == 0 || R.h.error == -EINTR)
					_exit(1);
			}
		}
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		print_message("CREATE of an existing FIFO/device hung (signal %d)\n",
			      WTERMSIG(status));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* A regular file is still opened, and O_EXCL still refused. */
	uint8_t args[64] = {0};
	struct fuse_create_in ci = {.flags = O_RDWR, .mode = 0644};
	memcpy(args, &ci, sizeof(ci));
	memcpy(args + sizeof(ci), "file", 5);
	assert_int_equal(call(FUSE_CREATE, FUSE_ROOT_ID, args, sizeof(ci) + 5, &R), 0);
	uint64_t id = ((struct fuse_entry_out *)R.data)->nodeid;
	uint64_t fh = ((struct fuse_open_out *)(R.data + sizeof(struct fuse_entry_out)))->fh;
	size_t got;
	assert_int_equal(read_fh(id, fh, 0, 100, &got), 0);
	assert_int_equal(got, strlen(INSIDE));
	release(id, fh);
	ci.flags = O_RDWR | O_EXCL;
	memcpy(args, &ci, sizeof(ci));
	assert_int_equal(call(FUSE_CREATE, FUSE_ROOT_ID, args, sizeof(ci) + 5, &R), -EEXIST);
	unlink(path_in(F.exp, "hostfifo"));
	unlink(path_in(F.exp, "hostnull"));
}

/* A guest that looks names up and never forgets them runs out of its
 * server's budget of host descriptors (ENFILE), not the process's: open
 * files go on working, the process can still open descriptors, and FORGET
 * gives the budget back. The default budget comes from RLIMIT_NOFILE. */
static void test_fd_budget_default(void **state)
{
	struct rlimit saved, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = (struct rlimit){256, saved.rlim_max};
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	char many[128];
	snprintf(many, sizeof(many), "%s/many", F.top);
	mkdir(many, 0755);
	for (int i = 0; i < 300; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%03d", i);
		write_file(path_in(many, name), "x");
	}
	struct fs_export ex = {.host_path = many};
	struct fs_server_options opt = {.exports = &ex, .nexports = 1};
	struct fs_server *saved_s = F.s;
	assert_int_equal(fs_server_create(&opt, &F.s, NULL), 0);
	assert_int_equal(do_init(F.s), 0);
	uint64_t first = must_lookup(FUSE_ROOT_ID, "f000"), fh;
	assert_int_equal(open_node(first, O_RDONLY, &fh, FUSE_OPEN), 0);
	uint64_t ids[300] = {0};
	int ok = 0, full = 0;
	for (int i = 1; i < 300; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%03d", i);
		int e;
		ids[i] = lookup(FUSE_ROOT_ID, name, &e, NULL);
		if (e == 0)
			ok++;
		else if (e == -ENFILE || e == -EMFILE)
			full++;
		else
			fail_msg("lookup %s: %d", name, e);
	}
	print_message("%d lookups, then %d refused\n", ok, full);
	assert_int_equal(ok, 126); /* half of 256, less f000 and its open file */
	/* The process still has descriptors, and the open file works. */
	int fds[16];
	for (int i = 0; i < 16; i++)
		assert_true((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	for (int i = 0; i < 16; i++)
		close(fds[i]);
	size_t got;
	assert_int_equal(read_fh(first, fh, 0, 10, &got), 0);
	assert_int_equal(got, 1);
	/* FORGET gives the budget back. */
	for (int i = 1; i < 300; i++) {
		struct fuse_forget_in fg = {.nlookup = 1};
		if (ids[i])
			send_split(F.s, FUSE_FORGET, ids[i], &fg, sizeof(fg), &R, sizeof(R), NULL, 0);
	}
	must_lookup(FUSE_ROOT_ID, "f299");
	release(first, fh);
	fs_server_destroy(F.s);
	F.s = saved_s;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

/* An explicit budget counts nodes and open files alike; a CREATE past it
 * leaves nothing behind. */
static void test_fd_budget(void **state)
{
	struct fs_export ex = {.host_path = F.exp};
	struct fs_server_options opt = {.exports = &ex, .nexports = 1, .max_fds = 4};
	struct fs_server *saved_s = F.s;
	assert_int_equal(fs_server_create(&opt, &F.s, NULL), 0);
	assert_int_equal(do_init(F.s), 0);
	uint64_t file = must_lookup(FUSE_ROOT_ID, "file"), dir = must_lookup(FUSE_ROOT_ID, "dir");
	uint64_t fh[2];
	assert_int_equal(open_node(file, O_RDONLY, &fh[0], FUSE_OPEN), 0);
	assert_int_equal(open_node(dir, O_RDONLY, &fh[1], FUSE_OPENDIR), 0);
	int e;
	lookup(FUSE_ROOT_ID, "abs_link", &e, NULL);
	assert_int_equal(e, -ENFILE);
	uint64_t refused;
	assert_int_equal(open_node(file, O_RDONLY, &refused, FUSE_OPEN), -ENFILE);
	assert_int_equal(open_node(FUSE_ROOT_ID, O_RDONLY, &refused, FUSE_OPENDIR), -ENFILE);
	/* What is there goes on working; a known node needs nothing new. */
	size_t got;
	assert_int_equal(read_fh(file, fh[0], 0, 100, &got), 0);
	assert_int_equal(got, strlen(INSIDE));
	assert_int_equal(lookup(FUSE_ROOT_ID, "file", &e, NULL), file);
	uint8_t args[64] = {0};
	struct fuse_create_in ci = {.flags = O_RDWR, .mode = 0644};
	memcpy(args, &ci, sizeof(ci));
	memcpy(args + sizeof(ci), "new", 4);
	assert_int_equal(call(FUSE_CREATE, FUSE_ROOT_ID, args, sizeof(ci) + 4, &R), -ENFILE);
	struct stat st;
	assert_int_equal(lstat(path_in(F.exp, "new"), &st), -1);
	/* RELEASE gives back. */
	release(dir, fh[1]);
	assert_int_equal(call(FUSE_CREATE, FUSE_ROOT_ID, args, sizeof(ci) + 4, &R), -ENFILE);
	struct fuse_forget_in fg = {.nlookup = 1};
	send_split(F.s, FUSE_FORGET, dir, &fg, sizeof(fg), &R, sizeof(R), NULL, 0);
	assert_int_equal(call(FUSE_CREATE, FUSE_ROOT_ID, args, sizeof(ci) + 4, &R), 0);
	unlink(path_in(F.exp, "new"));
	release(file, fh[0]);
	fs_server_destroy(F.s);
	F.s = saved_s;
}

/* Requests whose bytes are random: any reply, never a crash. */
static void test_random_requests(void **state)
{
	srand(1234);
	uint8_t buf[512];
	uint8_t out[1024];
	for (int i = 0; i < 20000; i++) {
		size_t len = sizeof(struct fuse_in_header) + (size_t)(rand() % 200);
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rand();
		struct fuse_in_header *h = (void *)buf;
		h->len = (uint32_t)len;
		h->opcode = (uint32_t)(rand() % 52);
		if (h->opcode == FUSE_INIT || h->opcode == FUSE_DESTROY)
			h->opcode = FUSE_GETATTR;
		/* Mostly real ids so requests get past the lookup. */
		h->nodeid = rand() % 4 ? FUSE_ROOT_ID : h->nodeid;
		h->uid = 0;
		h->gid = 0;
		struct iovec in = {buf, len}, o = {out, sizeof(out)};
		ssize_t n = fs_server_handle(F.s, &in, 1, &o, 1);
		assert_true(n == 0 || (n >= (ssize_t)sizeof(struct fuse_out_header) &&
				       n <= (ssize_t)sizeof(out)));
	}
	/* The export is still intact and the outside untouched. */
	struct stat st;
	assert_int_equal(stat(path_in(F.outside, "secret"), &st), 0);
	assert_int_equal(st.st_size, strlen(SECRET));
}

struct hammer {
	int id;
};

static void *hammer_thread(void *arg)
{
	struct hammer *hm = arg;
	static _Thread_local struct reply r;
	uint8_t args[64];
	for (int i = 0; i < 2000; i++) {
		ssize_t n = send_split(F.s, FUSE_LOOKUP, FUSE_ROOT_ID, "file", 5, &r, sizeof(r),
				       NULL, 0);
		if (n <= 0 || r.h.error)
			continue;
		uint64_t id = ((struct fuse_entry_out *)r.data)->nodeid;
		send_split(F.s, FUSE_GETATTR, id, NULL, 0, &r, sizeof(r), NULL, 0);
		struct fuse_open_in oi = {.flags = O_RDONLY};
		send_split(F.s, FUSE_OPEN, id, &oi, sizeof(oi), &r, sizeof(r), NULL, 0);
		uint64_t fh = r.h.error ? 0 : ((struct fuse_open_out *)r.data)->fh;
		struct fuse_forget_in fg = {.nlookup = 1 + (uint64_t)(i % 2)};
		send_split(F.s, FUSE_FORGET, id, &fg, sizeof(fg), &r, sizeof(r), NULL, 0);
		struct fuse_read_in rd = {.fh = fh, .size = 100};
		send_split(F.s, FUSE_READ, id, &rd, sizeof(rd), &r, sizeof(r), NULL, 0);
		struct fuse_release_in rl = {.fh = fh};
		memcpy(args, &rl, sizeof(rl));
		send_split(F.s, FUSE_RELEASE, id, args, sizeof(rl), &r, sizeof(r), NULL, 0);
		send_split(F.s, FUSE_RELEASE, id, args, sizeof(rl), &r, sizeof(r), NULL, 0);
		(void)hm;
	}
	return NULL;
}

static void test_concurrent_forget(void **state)
{
	pthread_t t[4];
	struct hammer hm[4];
	for (int i = 0; i < 4; i++) {
		hm[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, hammer_thread, &hm[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
}

/* A synthetic root: a read-only and a writable export, a single-file
 * export, and the overlay layout with a hidden work dir. */
static void test_synthetic_root(void **state)
{
	char ro[128], rw[128], work[160], one[160];
	snprintf(ro, sizeof(ro), "%s/ro", F.top);
	snprintf(rw, sizeof(rw), "%s/rw", F.top);
	snprintf(work, sizeof(work), "%s/.work", rw);
	snprintf(one, sizeof(one), "%s/single", F.outside);
	mkdir(ro, 0755);
	mkdir(rw, 0755);
	mkdir(work, 0755);
	write_file(path_in(ro, "keep"), INSIDE);
	write_file(one, INSIDE);
	struct fs_export ex[] = {{.name = "lower", .host_path = ro, .read_only = true},
				 {.name = "upper", .host_path = rw},
				 {.name = "work", .host_path = work},
				 {.name = "single", .host_path = one, .read_only = true}};
	struct fs_server_options opt = {.exports = ex, .nexports = 4, .hidden_name = ".work"};
	struct fs_server *s;
	assert_int_equal(fs_server_create(&opt, &s, NULL), 0);
	struct fs_server *saved = F.s;
	F.s = s;
	assert_int_equal(do_init(s), 0);
	/* The root lists exactly the exports and cannot be changed. */
	uint64_t dfh;
	assert_int_equal(open_node(FUSE_ROOT_ID, O_RDONLY, &dfh, FUSE_OPENDIR), 0);
	struct fuse_read_in rd = {.fh = dfh, .size = 4096};
	assert_int_equal(call(FUSE_READDIR, FUSE_ROOT_ID, &rd, sizeof(rd), &R), 0);
	int names = 0;
	for (size_t off = 0; off < R.h.len - sizeof(R.h);) {
		struct fuse_dirent *d = (void *)(R.data + off);
		names++;
		off += FUSE_DIRENT_SIZE(d);
	}
	assert_int_equal(names, 6);
	release(FUSE_ROOT_ID, dfh);
	uint8_t args[128] = {0};
	struct fuse_mkdir_in mi = {.mode = 0755};
	memcpy(args, &mi, sizeof(mi));
	memcpy(args + sizeof(mi), "new", 4);
	assert_int_equal(call(FUSE_MKDIR, FUSE_ROOT_ID, args, sizeof(mi) + 4, &R), -EROFS);
	assert_int_equal(call(FUSE_UNLINK, FUSE_ROOT_ID, "upper", 6, &R), -EROFS);
	assert_int_equal(call(FUSE_LOOKUP, FUSE_ROOT_ID, "nothere", 8, &R), -ENOENT);

	/* Read-only export: every modification is EROFS. */
	uint64_t lower = must_lookup(FUSE_ROOT_ID, "lower");
	uint64_t keep = must_lookup(lower, "keep");
	assert_int_equal(call(FUSE_MKDIR, lower, args, sizeof(mi) + 4, &R), -EROFS);
	assert_int_equal(call(FUSE_UNLINK, lower, "keep", 5, &R), -EROFS);
	struct fuse_setattr_in sa = {.valid = FATTR_SIZE, .size = 0};
	assert_int_equal(call(FUSE_SETATTR, keep, &sa, sizeof(sa), &R), -EROFS);
	sa = (struct fuse_setattr_in){.valid = FATTR_MODE, .mode = 0777};
	assert_int_equal(call(FUSE_SETATTR, keep, &sa, sizeof(sa), &R), -EROFS);
	uint64_t fh;
	assert_int_equal(open_node(keep, O_RDWR, &fh, FUSE_OPEN), -EROFS);
	assert_int_equal(open_node(keep, O_RDONLY | O_TRUNC, &fh, FUSE_OPEN), -EROFS);
	assert_int_equal(open_node(keep, O_RDONLY, &fh, FUSE_OPEN), 0);
	struct {
		struct fuse_write_in in;
		char data[4];
	} w = {{.fh = fh, .size = 4}, "evil"};
	assert_int_equal(call(FUSE_WRITE, keep, &w, sizeof(w), &R), -EROFS);
	struct fuse_fallocate_in fa = {.fh = fh, .length = 1 << 20};
	assert_int_equal(call(FUSE_FALLOCATE, keep, &fa, sizeof(fa), &R), -EROFS);
	release(keep, fh);
	struct {
		struct fuse_setxattr_in in;
		char name[16];
	} sx = {{.size = 1}, "user.x\0v"};
	assert_int_equal(call(FUSE_SETXATTR, keep, &sx, 8 + 9, &R), -EROFS);
	assert_int_equal(call(FUSE_REMOVEXATTR, keep, "user.x", 7, &R), -EROFS);
	/* ...including linking a read-only file into the writable export and
	 * renaming between them. */
	uint64_t upper = must_lookup(FUSE_ROOT_ID, "upper");
	struct fuse_link_in li = {.oldnodeid = keep};
	memcpy(args, &li, sizeof(li));
	memcpy(args + sizeof(li), "stolen", 7);
	assert_int_equal(call(FUSE_LINK, upper, args, sizeof(li) + 7, &R), -EROFS);
	struct fuse_rename2_in rn = {.newdir = upper};
	memcpy(args, &rn, sizeof(rn));
	memcpy(args + sizeof(rn), "keep\0keep", 10);
	assert_int_equal(call(FUSE_RENAME2, lower, args, sizeof(rn) + 10, &R), -EROFS);
	struct stat st;
	assert_int_equal(stat(path_in(ro, "keep"), &st), 0);
	assert_int_equal(st.st_size, strlen(INSIDE));
	assert_int_equal(st.st_mode & 07777, 0644);

	/* The hidden work dir: invisible and untouchable through upper, usable
	 * through work, and renames between the two work. */
	assert_int_equal(call(FUSE_LOOKUP, upper, ".work", 6, &R), -ENOENT);
	assert_int_equal(call(FUSE_RMDIR, upper, ".work", 6, &R), -ENOENT);
	memcpy(args, &mi, sizeof(mi));
	memcpy(args + sizeof(mi), ".work", 6);
	assert_int_equal(call(FUSE_MKDIR, upper, args, sizeof(mi) + 6, &R), -EPERM);
	assert_int_equal(open_node(upper, O_RDONLY, &dfh, FUSE_OPENDIR), 0);
	rd = (struct fuse_read_in){.fh = dfh, .size = 4096};
	assert_int_equal(call(FUSE_READDIRPLUS, upper, &rd, sizeof(rd), &R), 0);
	int entries = 0;
	for (size_t off = 0; off < R.h.len - sizeof(R.h);) {
		struct fuse_direntplus *d = (void *)(R.data + off);
		assert_false(d->dirent.namelen == 5 && !memcmp(d->dirent.name, ".work", 5));
		entries++;
		off += FUSE_DIRENTPLUS_SIZE(d);
	}
	assert_int_equal(entries, 2);
	release(upper, dfh);
	uint64_t workn = must_lookup(FUSE_ROOT_ID, "work");
	struct fuse_create_in ci = {.flags = O_WRONLY, .mode = 0644};
	memcpy(args, &ci, sizeof(ci));
	memcpy(args + sizeof(ci), "tmp", 4);
	assert_int_equal(call(FUSE_CREATE, workn, args, sizeof(ci) + 4, &R), 0);
	fh = ((struct fuse_open_out *)(R.data + sizeof(struct fuse_entry_out)))->fh;
	release(0, fh);
	rn = (struct fuse_rename2_in){.newdir = upper, .flags = RENAME_NOREPLACE};
	memcpy(args, &rn, sizeof(rn));
	memcpy(args + sizeof(rn), "tmp\0moved", 10);
	assert_int_equal(call(FUSE_RENAME2, workn, args, sizeof(rn) + 10, &R), 0);
	assert_int_equal(stat(path_in(rw, "moved"), &st), 0);
	/* Renaming onto the hidden name or away from it is refused. */
	memcpy(args + sizeof(rn), "moved\0.work", 12);
	assert_int_equal(call(FUSE_RENAME2, upper, args, sizeof(rn) + 12, &R), -EPERM);
	memcpy(args + sizeof(rn), ".work\0other", 12);
	assert_int_equal(call(FUSE_RENAME2, upper, args, sizeof(rn) + 12, &R), -ENOENT);
	/* Whiteouts (char 0/0) are made as such; other device nodes are plain
	 * files on the host. */
	struct fuse_mknod_in mk = {.mode = S_IFCHR | 0600, .rdev = 0};
	memcpy(args, &mk, sizeof(mk));
	memcpy(args + sizeof(mk), "wh", 3);
	assert_int_equal(call(FUSE_MKNOD, upper, args, sizeof(mk) + 3, &R), 0);
	assert_int_equal(lstat(path_in(rw, "wh"), &st), 0);
	assert_true(S_ISCHR(st.st_mode) && st.st_rdev == 0);
	mk.rdev = (1 << 8) | 1; /* /dev/mem */
	memcpy(args, &mk, sizeof(mk));
	memcpy(args + sizeof(mk), "mem", 4);
	assert_int_equal(call(FUSE_MKNOD, upper, args, sizeof(mk) + 4, &R), 0);
	assert_int_equal(((struct fuse_entry_out *)R.data)->attr.rdev, (1 << 8) | 1);
	assert_int_equal(lstat(path_in(rw, "mem"), &st), 0);
	assert_true(S_ISREG(st.st_mode));

	/* A single-file export: the file, nothing around it. */
	struct fuse_attr a;
	int e;
	uint64_t single = lookup(FUSE_ROOT_ID, "single", &e, &a);
	assert_int_equal(e, 0);
	assert_true(S_ISREG(a.mode));
	assert_int_equal(call(FUSE_LOOKUP, single, "secret", 7, &R), -ENOTDIR);
	assert_not_secret(single);
	assert_int_equal(open_node(single, O_RDONLY, &fh, FUSE_OPEN), 0);
	size_t got;
	assert_int_equal(read_fh(single, fh, 0, 100, &got), 0);
	assert_int_equal(got, strlen(INSIDE));
	release(single, fh);

	F.s = saved;
	fs_server_destroy(s);
}


/* ---- the DAX window ---- */

#define DAX_UNIT (2u << 20)
#define DAX_WINDOW (4 * DAX_UNIT)

/* The permissions /proc/self/maps gives the mapping holding addr
 * ("r-xp", ...), or "" when none does. */
static const char *prot_at(const void *addr)
{
	static char perms[8];
	perms[0] = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	unsigned long lo, hi;
	char p[8];
	while (fscanf(f, "%lx-%lx %7s%*[^\n]", &lo, &hi, p) == 3)
		if ((unsigned long)addr >= lo && (unsigned long)addr < hi) {
			strcpy(perms, p);
			break;
		}
	fclose(f);
	return perms;
}

static int setupmapping(uint64_t node, uint64_t foffset, uint64_t len, uint64_t flags,
			uint64_t moffset)
{
	struct fuse_setupmapping_in in = {.fh = ~0ULL, .foffset = foffset, .len = len,
					  .flags = flags, .moffset = moffset};
	return call(FUSE_SETUPMAPPING, node, &in, sizeof(in), &R);
}

/* REMOVEMAPPING with `count` in its header and n entries after it. */
static int removemapping(uint32_t count, const struct fuse_removemapping_one *one, size_t n)
{
	uint8_t args[sizeof(struct fuse_removemapping_in) + 8 * sizeof(*one)];
	struct fuse_removemapping_in in = {.count = count};
	memcpy(args, &in, sizeof(in));
	memcpy(args + sizeof(in), one, n * sizeof(*one));
	return call(FUSE_REMOVEMAPPING, 0, args, sizeof(in) + n * sizeof(*one), &R);
}

static atomic_int dax_broken_calls;
static void on_dax_broken(void *opaque, int e)
{
	(void)opaque;
	(void)e;
	dax_broken_calls++;
}

/* A guest maps only regular files of its exports, whole 2 MiB units inside
 * the window, writable only where it may write, and whatever it maps out
 * (or a new session) leaves the window PROT_NONE, never a hole. */
static void test_dax_window(void **state)
{
	char rw[128], ro[128];
	snprintf(rw, sizeof(rw), "%s/daxrw", F.top);
	snprintf(ro, sizeof(ro), "%s/daxro", F.top);
	mkdir(rw, 0755);
	mkdir(ro, 0755);
	write_file(path_in(rw, "data"), INSIDE);
	write_file(path_in(rw, "suid"), INSIDE);
	assert_int_equal(chmod(path_in(rw, "suid"), 06755), 0);
	write_file(path_in(ro, "data"), INSIDE);
	char abs[200];
	snprintf(abs, sizeof(abs), "%s/secret", F.outside);
	assert_int_equal(symlink(abs, path_in(rw, "link")), 0);
	uint8_t *win = mmap(NULL, DAX_WINDOW, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			    -1, 0);
	assert_true(win != MAP_FAILED);
	struct fs_export ex[] = {{.name = "rw", .host_path = rw},
				 {.name = "ro", .host_path = ro, .read_only = true}};
	struct fs_server_options opt = {.exports = ex, .nexports = 2, .dax_window = win,
					.dax_window_size = DAX_WINDOW, .dax_broken = on_dax_broken};
	struct fs_server *s;
	assert_int_equal(fs_server_create(&opt, &s, NULL), 0);
	struct fs_server *saved = F.s;
	F.s = s;
	struct fuse_init_in init = {.major = 7, .minor = 38, .max_readahead = 65536,
				    .flags = FUSE_MAP_ALIGNMENT};
	assert_int_equal(call(FUSE_INIT, 0, &init, sizeof(init), &R), 0);
	struct fuse_init_out *io = (void *)R.data;
	assert_true(io->flags & FUSE_MAP_ALIGNMENT);
	assert_int_equal(io->map_alignment, 21);

	uint64_t rwdir = must_lookup(FUSE_ROOT_ID, "rw"), rodir = must_lookup(FUSE_ROOT_ID, "ro");
	uint64_t data = must_lookup(rwdir, "data"), rodata = must_lookup(rodir, "data");
	uint64_t suid = must_lookup(rwdir, "suid"), link = must_lookup(rwdir, "link");
	const uint64_t RD = FUSE_SETUPMAPPING_FLAG_READ, WR = RD | FUSE_SETUPMAPPING_FLAG_WRITE;

	/* Ranges: not whole units, outside the window, wrapping, bad file
	 * offsets and flags. */
	assert_int_equal(setupmapping(data, 0, DAX_UNIT, RD, DAX_WINDOW), -EINVAL);
	assert_int_equal(setupmapping(data, 0, 2 * DAX_UNIT, RD, 3 * DAX_UNIT), -EINVAL);
	assert_int_equal(setupmapping(data, 0, DAX_UNIT, RD, 4096), -EINVAL);
	assert_int_equal(setupmapping(data, 0, 4096, RD, 0), -EINVAL);
	assert_int_equal(setupmapping(data, 0, 0, RD, 0), -EINVAL);
	assert_int_equal(setupmapping(data, 0, -(uint64_t)DAX_UNIT, RD, 2 * DAX_UNIT), -EINVAL);
	assert_int_equal(setupmapping(data, 0, DAX_UNIT, RD, -(uint64_t)DAX_UNIT), -EINVAL);
	assert_int_equal(setupmapping(data, 100, DAX_UNIT, RD, 0), -EINVAL);
	assert_int_equal(setupmapping(data, INT64_MAX & ~4095ULL, DAX_UNIT, RD, 0), -EINVAL);
	assert_int_equal(setupmapping(data, 0, DAX_UNIT, RD | 8, 0), -EINVAL);
	/* What may not be mapped: directories, symlinks (the outside secret),
	 * forged nodes, read-only exports for writing. */
	assert_int_equal(setupmapping(rwdir, 0, DAX_UNIT, RD, 0), -ENODEV);
	assert_int_equal(setupmapping(link, 0, DAX_UNIT, RD, 0), -ENODEV);
	assert_int_equal(setupmapping(FUSE_ROOT_ID, 0, DAX_UNIT, RD, 0), -ENODEV);
	assert_int_equal(setupmapping(0xdead0000beefULL, 0, DAX_UNIT, RD, 0), -ESTALE);
	assert_int_equal(setupmapping(rodata, 0, DAX_UNIT, WR, 0), -EROFS);
	for (size_t off = 0; off < DAX_WINDOW; off += DAX_UNIT)
		assert_string_equal(prot_at(win + off), "---p");

	/* A read-only mapping shows the file; a writable one shares its page
	 * cache both ways. */
	assert_int_equal(setupmapping(rodata, 0, DAX_UNIT, RD, 0), 0);
	assert_string_equal(prot_at(win), "r--s");
	assert_memory_equal(win, INSIDE, strlen(INSIDE));
	assert_int_equal(setupmapping(data, 0, DAX_UNIT, WR, DAX_UNIT), 0);
	assert_string_equal(prot_at(win + DAX_UNIT), "rw-s");
	memcpy(win + DAX_UNIT, "GUEST", 5);
	char back[16] = {0};
	int fd = open(path_in(rw, "data"), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, back, 5, 0), 5);
	assert_memory_equal(back, "GUEST", 5);
	assert_int_equal(pwrite(fd, "HOST!", 5, 6), 5);
	close(fd);
	assert_memory_equal(win + DAX_UNIT + 6, "HOST!", 5);
	/* A writable mapping of a host setuid file moves the bits first. */
	assert_int_equal(setupmapping(suid, 0, DAX_UNIT, WR, 2 * DAX_UNIT), 0);
	struct stat st;
	assert_int_equal(lstat(path_in(rw, "suid"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);

	/* REMOVEMAPPING: a count beyond its entries, entries outside the
	 * window or not whole units. */
	struct fuse_removemapping_one one[2] = {{0, DAX_UNIT}, {DAX_WINDOW, DAX_UNIT}};
	assert_int_equal(removemapping(3, one, 1), -EINVAL);
	assert_int_equal(removemapping(1, &one[1], 1), -EINVAL);
	struct fuse_removemapping_one odd = {DAX_UNIT, 4096};
	assert_int_equal(removemapping(1, &odd, 1), -EINVAL);
	assert_int_equal(removemapping(1, one, 1), 0);
	assert_string_equal(prot_at(win), "---p");
	assert_string_equal(prot_at(win + DAX_UNIT), "rw-s");
	/* A new session starts with an empty window. */
	assert_int_equal(call(FUSE_INIT, 0, &init, sizeof(init), &R), 0);
	for (size_t off = 0; off < DAX_WINDOW; off += DAX_UNIT)
		assert_string_equal(prot_at(win + off), "---p");
	assert_int_equal(dax_broken_calls, 0);

	F.s = saved;
	fs_server_destroy(s);
	munmap(win, DAX_WINDOW);
}

/* INIT with flags2: `high` is what the client offers from bit 32 on. */
static int init_ext(uint32_t flags, uint32_t high, size_t len)
{
	struct fuse_init_in in = {.major = 7, .minor = 38, .max_readahead = 65536,
				  .flags = flags, .flags2 = high};
	return call(FUSE_INIT, 0, &in, len, &R);
}

/* Per-file DAX (a client mounted without dax=always, as the built-in root
 * is): agreed only with a window and only when the client asks (in
 * flags2); then regular files of 1 MiB or more carry FUSE_ATTR_DAX, and
 * nothing else does. */
static void test_dax_per_file(void **state)
{
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/daxinode", F.top);
	mkdir(dir, 0755);
	write_file(path_in(dir, "small"), INSIDE);
	write_file(path_in(dir, "big"), INSIDE);
	assert_int_equal(truncate(path_in(dir, "big"), 1 << 20), 0);
	write_file(path_in(dir, "under"), INSIDE);
	assert_int_equal(truncate(path_in(dir, "under"), (1 << 20) - 1), 0);
	char target[200];
	snprintf(target, sizeof(target), "%s/big", dir);
	assert_int_equal(symlink(target, path_in(dir, "link")), 0);
	uint8_t *win = mmap(NULL, DAX_WINDOW, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			    -1, 0);
	assert_true(win != MAP_FAILED);
	struct fs_export ex = {.host_path = dir, .read_only = true};
	struct fs_server_options plain = {.exports = &ex, .nexports = 1};
	struct fs_server_options dax = plain;
	dax.dax_window = win;
	dax.dax_window_size = DAX_WINDOW;
	dax.dax_broken = on_dax_broken;
	const uint32_t ask = FUSE_MAP_ALIGNMENT | FUSE_INIT_EXT;
	const uint32_t inode_dax = (uint32_t)(FUSE_HAS_INODE_DAX >> 32);
	struct fs_server *saved = F.s;
	struct {
		const struct fs_server_options *opt;
		uint32_t flags, high;
		size_t len;
		bool agreed;
	} cases[] = {
		{&dax, ask, inode_dax, sizeof(struct fuse_init_in), true},
		/* dax=always: the client does not ask. */
		{&dax, ask, 0, sizeof(struct fuse_init_in), false},
		/* No window: never, whatever the client asks. */
		{&plain, ask, inode_dax, sizeof(struct fuse_init_in), false},
		/* FUSE_INIT_EXT without the flags2 field: nothing read past
		 * the request. */
		{&dax, ask, inode_dax, offsetof(struct fuse_init_in, flags2), false},
		/* flags2 without FUSE_INIT_EXT is not there. */
		{&dax, FUSE_MAP_ALIGNMENT, inode_dax, sizeof(struct fuse_init_in), false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(fs_server_create(cases[i].opt, &F.s, NULL), 0);
		assert_int_equal(init_ext(cases[i].flags, cases[i].high, cases[i].len), 0);
		const struct fuse_init_out *o = (void *)R.data;
		assert_int_equal(!!(o->flags2 & inode_dax), cases[i].agreed);
		assert_int_equal(!!(o->flags & FUSE_INIT_EXT),
				 cases[i].len == sizeof(struct fuse_init_in) &&
					 (cases[i].flags & FUSE_INIT_EXT));
		int e;
		struct fuse_attr a = {0};
		uint64_t big = lookup(FUSE_ROOT_ID, "big", &e, &a);
		assert_int_equal(e, 0);
		assert_int_equal(!!(a.flags & FUSE_ATTR_DAX), cases[i].agreed);
		assert_int_equal(!!(getattr_ok(big).flags & FUSE_ATTR_DAX), cases[i].agreed);
		const char *never[] = {"small", "under", "link"};
		for (size_t j = 0; j < 3; j++) {
			lookup(FUSE_ROOT_ID, never[j], &e, &a);
			assert_int_equal(e, 0);
			assert_false(a.flags & FUSE_ATTR_DAX);
		}
		assert_false(getattr_ok(FUSE_ROOT_ID).flags & FUSE_ATTR_DAX);
		fs_server_destroy(F.s);
	}
	assert_int_equal(dax_broken_calls, 0);
	F.s = saved;
	munmap(win, DAX_WINDOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_truncated_and_len_mismatch),
		cmocka_unit_test(test_bogus_opcodes),
		cmocka_unit_test(test_forged_ids),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_symlinks_not_followed),
		cmocka_unit_test(test_symlink_swap_race),
		cmocka_unit_test(test_proc_magic_links),
		cmocka_unit_test(test_offsets_and_sizes),
		cmocka_unit_test(test_tiny_out_buffers),
		cmocka_unit_test(test_iovec_splits),
		cmocka_unit_test(test_synthetic_root),
		cmocka_unit_test(test_guest_identity),
		cmocka_unit_test(test_guest_not_host_root),
		cmocka_unit_test(test_guest_special_files),
		cmocka_unit_test(test_host_records),
		cmocka_unit_test(test_kill_suidgid),
		cmocka_unit_test(test_host_setuid_disarmed),
		cmocka_unit_test(test_create_special_existing),
		cmocka_unit_test(test_fd_budget_default),
		cmocka_unit_test(test_fd_budget),
		cmocka_unit_test(test_concurrent_forget),
		cmocka_unit_test(test_random_requests),
		cmocka_unit_test(test_dax_window),
		cmocka_unit_test(test_dax_per_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
